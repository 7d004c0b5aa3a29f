# SPDX-License-Identifier: GPL-2.0
#
# rscsi: Rust SCSI host drivers for Linux.
#
#   make run       the main job: build what is missing, boot QEMU with both HBA kinds and disks,
#                  load the drivers and show what they found
#   make check     every test: host tests, the debug kernel and modules, every guest plan
#   make shell     the main job's VM with an interactive shell (poweroff -f to leave)
#   make bench     all four drivers and two ceilings, side by side, on the perf kernel (a report
#                  with plots; BENCH_ROUNDS, BENCH_SECONDS)
#   make modules   build the out-of-tree modules against the debug kernel
#   make soak      the seeded soak (SOAK_SECONDS, SOAK_SEED; FLAVOUR=race for KCSAN and UBSAN)
#   make kernel    build a kernel flavour (FLAVOUR=debug|perf|race)
#   make hosttest  only the host tests (harness and pure Rust logic)
#
# The kernel build tree lives in the cache (~/.cache/rscsi, or $RSCSI_CACHE). To build the
# modules the usual way against it: make -C <build dir> M=$PWD LLVM=-19 RUSTC=/usr/bin/rustc

FLAVOUR ?= debug
HARNESS := tools/harness

.PHONY: run check shell bench soak modules kernel hosttest setup
run:
	$(HARNESS) run --flavour $(FLAVOUR)

check:
	$(HARNESS) check

shell:
	$(HARNESS) shell --flavour $(FLAVOUR)

# Rounds of 5-second jobs: the spread between rounds (the host's drift) is what makes the
# intervals wide, not the length of a job (a 5-second job at 5,000 IOPS is 25,000 I/Os), so
# time is better spent on rounds. 3 x 5 s took 41 minutes alone on the 2-core machine.
BENCH_ROUNDS ?= 3
BENCH_SECONDS ?= 5
bench:
	$(HARNESS) bench --all --rounds $(BENCH_ROUNDS) --seconds $(BENCH_SECONDS)

# The seeded soak: SOAK_SECONDS of events (1800 by default), from SOAK_SEED (by default a new
# one, printed in the log; the same seed replays the same events), on the debug kernel or, with
# FLAVOUR=race, on the race detector's (KCSAN and UBSAN; any report fails it).
SOAK_SECONDS ?= 1800
soak:
	RSCSI_SOAK_SECONDS=$(SOAK_SECONDS) RSCSI_SOAK_SEED=$(SOAK_SEED) $(HARNESS) check --only soak-long --rerun --flavour $(FLAVOUR)

setup:
	tools/setup.sh

kernel: setup
	tools/build-kernel.sh $(FLAVOUR)

modules: setup
	tools/build-modules.sh $(FLAVOUR)

hosttest:
	python3 -m unittest discover -s tools/tests -t tools
	cd tools/hosttest && CARGO_TARGET_DIR=$${RSCSI_CACHE:-$$HOME/.cache/rscsi}/hosttest-target-$$(printf '%s' "$(CURDIR)" | sha1sum | cut -c1-8) \
		cargo test --offline --workspace
