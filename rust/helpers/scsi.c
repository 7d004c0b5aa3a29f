// SPDX-License-Identifier: GPL-2.0

#include <linux/dma-direct.h>
#include <linux/dma-map-ops.h>
#include <linux/iommu-dma.h>
#include <scsi/scsi_cmnd.h>
#include <scsi/scsi_host.h>
#include <scsi/scsi_tcq.h>

__rust_helper void *rust_helper_shost_priv(struct Scsi_Host *shost)
{
	return shost_priv(shost);
}

__rust_helper int rust_helper_scsi_add_host(struct Scsi_Host *host, struct device *dev)
{
	return scsi_add_host(host, dev);
}

/* For the tests that keep kernel::scsi's own `scsi_cmd_priv()` equal to this one. */
__rust_helper void *rust_helper_scsi_cmd_priv(struct scsi_cmnd *cmd)
{
	return scsi_cmd_priv(cmd);
}

__rust_helper struct request *rust_helper_scsi_cmd_to_rq(struct scsi_cmnd *scmd)
{
	return scsi_cmd_to_rq(scmd);
}

__rust_helper unsigned int rust_helper_scsi_sg_count(struct scsi_cmnd *cmd)
{
	return scsi_sg_count(cmd);
}

__rust_helper struct scatterlist *rust_helper_scsi_sglist(struct scsi_cmnd *cmd)
{
	return scsi_sglist(cmd);
}

__rust_helper void rust_helper_scsi_set_resid(struct scsi_cmnd *cmd, unsigned int resid)
{
	scsi_set_resid(cmd, resid);
}


/* The guest-physical address of a scatterlist entry, for devices that bypass the DMA API. */
__rust_helper phys_addr_t rust_helper_sg_phys(struct scatterlist *sg)
{
	return sg_phys(sg);
}

/*
 * Whether the DMA API gives @dev the CPU's physical addresses unchanged: dma-direct (no
 * dma_map_ops, no IOMMU), no bus offset, no memory encryption. A virtio device without
 * VIRTIO_F_ACCESS_PLATFORM takes physical addresses; a driver that gives it the DMA addresses
 * of coherent memory needs this to hold.
 */
__rust_helper bool rust_helper_scsi_dma_is_phys(struct device *dev)
{
	return !get_dma_ops(dev) && !use_dma_iommu(dev) && !dev->dma_range_map &&
	       !force_dma_unencrypted(dev);
}
