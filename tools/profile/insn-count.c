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
	marks++;
	for (b = blocks; b; b = b->next) {
		if (marks == 1)
			b->execs = 0;
		else if (marks == 2)
			b->snap = b->execs;
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
	}
	if (!outfile)
		return -1;
	qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
	qemu_plugin_register_atexit_cb(id, at_exit, NULL);
	return 0;
}
