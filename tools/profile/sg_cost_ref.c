// SPDX-License-Identifier: GPL-2.0
/*
 * The C loop the SG cursor is measured against, on the host: megasas_make_sgl_skinny()
 * (drivers/scsi/megaraid/megaraid_sas_base.c) over scsi_for_each_sg() and sg_next()
 * (include/linux/scatterlist.h), on a list laid out as the kernel's, as
 * tools/hosttest/examples/sg_cost.rs lays it out. Usage: sg_cost_ref SEGS ITERS.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

struct scatterlist {
	unsigned long page_link;
	unsigned int offset, length;
	uint64_t dma_address;
	unsigned int dma_length, dma_flags;
};

#define SG_CHAIN 0x01UL
#define SG_END 0x02UL
#define SG_PAGE_LINK_MASK (SG_CHAIN | SG_END)

static inline struct scatterlist *sg_next(struct scatterlist *sg)
{
	if (sg->page_link & SG_END)
		return NULL;
	sg++;
	if (sg->page_link & SG_CHAIN)
		sg = (struct scatterlist *)(sg->page_link & ~SG_PAGE_LINK_MASK);
	return sg;
}

struct megasas_sge_skinny {
	uint64_t phys_addr;
	uint32_t length;
	uint32_t flag;
} __attribute__((packed));

__attribute__((noinline)) int make_sgl_skinny(struct scatterlist *sgl, int sge_count,
					      struct megasas_sge_skinny *out)
{
	struct scatterlist *os_sgl;
	int i;

	for (i = 0, os_sgl = sgl; i < sge_count; i++, os_sgl = sg_next(os_sgl)) {
		out[i].length = os_sgl->dma_length;
		out[i].phys_addr = os_sgl->dma_address;
		out[i].flag = 0;
	}
	return sge_count;
}

int main(int argc, char **argv)
{
	int segs = atoi(argv[1]), iters = atoi(argv[2]);
	int first = segs < 8 ? segs : 8, i;
	int nb = segs - first > 1 ? segs - first : 1;
	struct scatterlist *a = calloc(first + 1, sizeof(*a)), *b = calloc(nb, sizeof(*b));
	struct megasas_sge_skinny *out = calloc(128, sizeof(*out));
	long total = 0;

	for (i = 0; i < segs; i++) {
		struct scatterlist *e = i < first ? &a[i] : &b[i - first];

		e->dma_address = 0x100000000ULL + (uint64_t)i * 0x2000;
		e->dma_length = e->length = 4096;
	}
	a[first].page_link = (unsigned long)b | SG_CHAIN;
	if (segs <= first)
		a[segs - 1].page_link = SG_END;
	else
		b[nb - 1].page_link = SG_END;
	for (i = 0; i < iters; i++) {
		__asm__ volatile("" : : "r"(a) : "memory");
		total += make_sgl_skinny(a, segs, out);
	}
	printf("%d segments x %d: %ld\n", segs, iters, total);
	return 0;
}
