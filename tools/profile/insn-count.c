// SPDX-License-Identifier: GPL-2.0
/*
 * insn-count: a QEMU TCG plugin that counts the guest instructions executed per translation
 * block and, at exit, writes "<start vaddr> <instructions> <executions>" lines for every block
 * to the file given as outfile=PATH. With mark=VADDR (a kernel function the guest calls only
 * to mark the window, such as the sync system call), the counts are those between the first
 * and the second execution of that address. tools/profile/insn-profile.py maps them to kernel and
 * module symbols. Instruction counts do not depend on how busy the host is, so two drivers
 * can be compared per I/O where wall-clock figures under TCG are noisy.
 *
 * With io=1 it also counts, in the same window, the guest's accesses to device memory (MMIO
 * and port I/O regions, the accesses QEMU's device models emulate; each one leaves translated
 * code) and writes "io <instruction vaddr> <reads> <writes> <region>" lines, the region named
 * as QEMU's memory region is (megasas-mmio, virtio-pci-notify, ...). Every guest memory access
 * in kernel code then goes through a callback: the guest runs several times slower, and its
 * instruction counts do not change.
 *
 * Written against QEMU 7.2's plugin API (QEMU_PLUGIN_VERSION 1, the one Debian 12 ships);
 * only the few entry points used are declared here.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
typedef struct qemu_info_t qemu_info_t;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };

extern void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id,
	void (*cb)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb));
extern void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb,
	enum qemu_plugin_op op, void *ptr, uint64_t imm);
extern void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id,
	void (*cb)(qemu_plugin_id_t id, void *userdata), void *userdata);
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS };
extern void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb,
	void (*cb)(unsigned int vcpu_index, void *userdata), enum qemu_plugin_cb_flags flags,
	void *userdata);
extern size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
extern uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn;
struct qemu_plugin_hwaddr;
typedef uint32_t qemu_plugin_meminfo_t;
enum qemu_plugin_mem_rw { QEMU_PLUGIN_MEM_R = 1, QEMU_PLUGIN_MEM_W, QEMU_PLUGIN_MEM_RW };
extern struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb,
	size_t idx);
extern uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
extern void qemu_plugin_register_vcpu_mem_cb(struct qemu_plugin_insn *insn,
	void (*cb)(unsigned int vcpu_index, qemu_plugin_meminfo_t info, uint64_t vaddr,
		   void *userdata),
	enum qemu_plugin_cb_flags flags, enum qemu_plugin_mem_rw rw, void *userdata);
extern _Bool qemu_plugin_mem_is_store(qemu_plugin_meminfo_t info);
extern struct qemu_plugin_hwaddr *qemu_plugin_get_hwaddr(qemu_plugin_meminfo_t info,
	uint64_t vaddr);
extern _Bool qemu_plugin_hwaddr_is_io(const struct qemu_plugin_hwaddr *haddr);
extern const char *qemu_plugin_hwaddr_device_name(const struct qemu_plugin_hwaddr *h);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

/* One per translation; a block translated again (after a flush) gets a new record. */
struct block {
	uint64_t vaddr;
	uint64_t insns;
	uint64_t execs;
	uint64_t snap;
	struct block *next;
};

static struct block *blocks;

/* Accesses to device memory by one instruction to one region (io=1). */
struct io_site {
	uint64_t vaddr;
	const char *region;	/* interned by QEMU: equal names, equal pointers */
	uint64_t reads;
	uint64_t writes;
	struct io_site *next;
};

#define IO_BUCKETS 1024
static struct io_site *io_sites[IO_BUCKETS];
static int count_io;
static char *outfile;
static uint64_t min_vaddr;
static uint64_t mark;
static int marks;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* The guest reached the mark: the first time, start the window; the second, end it. */
static void on_mark(unsigned int vcpu, void *userdata)
{
	struct block *b;

	(void)vcpu;
	(void)userdata;
	pthread_mutex_lock(&lock);
	/* Atomic: on_mem reads it without the lock. */
	__atomic_add_fetch(&marks, 1, __ATOMIC_RELAXED);
	for (b = blocks; b; b = b->next) {
		if (marks == 1)
			b->execs = 0;
		else if (marks == 2)
			b->snap = b->execs;
	}
	pthread_mutex_unlock(&lock);
}

/* A guest memory access by the instruction at `userdata`: counted if it reached a device. */
static void on_mem(unsigned int vcpu, qemu_plugin_meminfo_t info, uint64_t vaddr,
		   void *userdata)
{
	struct qemu_plugin_hwaddr *hw;
	uint64_t insn = (uint64_t)(uintptr_t)userdata;
	const char *region;
	struct io_site *s, **head;

	(void)vcpu;
	if (__atomic_load_n(&marks, __ATOMIC_RELAXED) != (mark ? 1 : 0))
		return;
	hw = qemu_plugin_get_hwaddr(info, vaddr);
	if (!hw || !qemu_plugin_hwaddr_is_io(hw))
		return;
	region = qemu_plugin_hwaddr_device_name(hw);
	head = &io_sites[(insn >> 2) % IO_BUCKETS];
	pthread_mutex_lock(&lock);
	for (s = *head; s; s = s->next)
		if (s->vaddr == insn && s->region == region)
			break;
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (s) {
			s->vaddr = insn;
			s->region = region;
			s->next = *head;
			*head = s;
		}
	}
	if (s) {
		if (qemu_plugin_mem_is_store(info))
			s->writes++;
		else
			s->reads++;
	}
	pthread_mutex_unlock(&lock);
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	uint64_t va = qemu_plugin_tb_vaddr(tb);
	struct block *b;

	(void)id;
	if (va < min_vaddr)
		return;
	b = calloc(1, sizeof(*b));
	if (!b)
		return;
	b->vaddr = va;
	b->insns = qemu_plugin_tb_n_insns(tb);
	pthread_mutex_lock(&lock);
	b->next = blocks;
	blocks = b;
	pthread_mutex_unlock(&lock);
	qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &b->execs, 1);
	if (mark && va == mark)
		qemu_plugin_register_vcpu_tb_exec_cb(tb, on_mark, QEMU_PLUGIN_CB_NO_REGS, NULL);
	for (size_t i = 0; count_io && i < b->insns; i++) {
		struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);

		qemu_plugin_register_vcpu_mem_cb(insn, on_mem, QEMU_PLUGIN_CB_NO_REGS,
			QEMU_PLUGIN_MEM_RW,
			(void *)(uintptr_t)qemu_plugin_insn_vaddr(insn));
	}
}

static void at_exit(qemu_plugin_id_t id, void *userdata)
{
	FILE *f = fopen(outfile, "w");
	struct block *b;

	(void)id;
	(void)userdata;
	if (!f)
		return;
	fprintf(f, "# marks %d\n", marks);
	for (b = blocks; b; b = b->next) {
		uint64_t n = mark ? b->snap : b->execs;

		if (n)
			fprintf(f, "%" PRIx64 " %" PRIu64 " %" PRIu64 "\n", b->vaddr, b->insns, n);
	}
	for (int i = 0; i < IO_BUCKETS; i++)
		for (struct io_site *s = io_sites[i]; s; s = s->next)
			fprintf(f, "io %" PRIx64 " %" PRIu64 " %" PRIu64 " %s\n", s->vaddr,
				s->reads, s->writes, s->region ? s->region : "?");
	fclose(f);
}

__attribute__((visibility("default")))
int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
	(void)info;
	for (int i = 0; i < argc; i++) {
		if (!strncmp(argv[i], "outfile=", 8))
			outfile = strdup(argv[i] + 8);
		else if (!strncmp(argv[i], "mark=", 5))
			mark = strtoull(argv[i] + 5, NULL, 16);
		else if (!strncmp(argv[i], "min=", 4))
			min_vaddr = strtoull(argv[i] + 4, NULL, 16);
		else if (!strcmp(argv[i], "io=1"))
			count_io = 1;
	}
	if (!outfile)
		return -1;
	qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
	qemu_plugin_register_atexit_cb(id, at_exit, NULL);
	return 0;
}
