// SPDX-License-Identifier: GPL-2.0

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

