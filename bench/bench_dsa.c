/* bench_dsa.c - CPU cost of the DSA mover per descriptor and per operation,
 * measured on the test emulator (tests/dsa_emu.c), so only the mover's own
 * cost in the submitting thread means something here: the device's speed
 * is the emulator's.
 *
 *   submit   CPU ns per vdm_memcpy() create + first poll (= the descriptor
 *            is written to the portal / the FIFO) of 4 KiB, device paused,
 *            32 at a time (the emulator's portal has 64 slots)
 *   reap     CPU ns of the poll that finds the completion record written
 *            and completes the future (the device has finished them all);
 *            submit + reap is the least CPU an operation costs
 *   qd1      per completed 4 KiB memcpy, one at a time: FUTURE_BUSY_POLL,
 *            runtime_wait with WAKER (the default), runtime_wait with POLLER
 *   qd32     the same with 32 operations in flight (runtime_wait_multiple)
 *
 * CPU time is CLOCK_THREAD_CPUTIME_ID of the submitting thread (the
 * emulator's and the mover's monitor threads are not counted; the monitor
 * only runs for WAKER). Needs root for the private mount namespace: exits 77
 * otherwise. Build (from the repository root):
 *   cc -O2 -std=c11 -DMINIASYNC_DSA=1 -I. -Itests bench/bench_dsa.c \
 *      tests/dsa_emu.c -o bench_dsa -laccel-config -pthread
 * Usage: bench_dsa [ops]   (default 100000 for the qd tests)
 * Output: one "name value unit" line per measurement. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#define MINIASYNC_IMPLEMENTATION
#include "miniasync.h"

#include "dsa_emu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define OPSZ 4096
#define QD 32

static uint64_t
ns_of(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
die(const char *what)
{
	fprintf(stderr, "bench_dsa: %s\n", what);
	exit(1);
}

static unsigned char *src, *dst;

static void
bench_submit(struct dsa_emu *emu, struct vdm *vdm, const char *name,
	int rounds)
{
	struct vdm_operation_future f[QD];
	struct future *ff[QD];
	struct runtime *rt = runtime_new();
	uint64_t cpu = 0, wall = 0, reap = 0;
	int r, i;

	for (r = 0; r < rounds; r++) {
		uint64_t c0, w0;

		dsa_emu_reset_stats(emu);
		dsa_emu_pause(emu, -1, 1);
		c0 = ns_of(CLOCK_THREAD_CPUTIME_ID);
		w0 = ns_of(CLOCK_MONOTONIC);
		for (i = 0; i < QD; i++) {
			f[i] = vdm_memcpy(vdm, dst + (size_t)i * OPSZ,
				src + (size_t)i * OPSZ, OPSZ, 0);
			if (future_poll(FUTURE_AS_RUNNABLE(&f[i]), NULL) !=
					FUTURE_STATE_RUNNING)
				die("a descriptor was not submitted");
		}
		cpu += ns_of(CLOCK_THREAD_CPUTIME_ID) - c0;
		wall += ns_of(CLOCK_MONOTONIC) - w0;
		dsa_emu_pause(emu, -1, 0);
		if (dsa_emu_wait_processed(emu, QD, 10000) != 0)
			die("the emulator did not finish");
		c0 = ns_of(CLOCK_THREAD_CPUTIME_ID);
		for (i = 0; i < QD; i++)
			if (future_poll(FUTURE_AS_RUNNABLE(&f[i]), NULL) !=
					FUTURE_STATE_COMPLETE)
				break;
		reap += ns_of(CLOCK_THREAD_CPUTIME_ID) - c0;
		for (i = 0; i < QD; i++)
			ff[i] = FUTURE_AS_RUNNABLE(&f[i]);
		runtime_wait_multiple(rt, ff, QD);
		for (i = 0; i < QD; i++)
			if (FUTURE_OUTPUT(&f[i])->result != VDM_SUCCESS)
				die("an operation failed");
	}
	printf("submit_%s_cpu %.0f ns\n", name,
		(double)cpu / ((double)rounds * QD));
	printf("submit_%s_wall %.0f ns\n", name,
		(double)wall / ((double)rounds * QD));
	printf("reap_%s_cpu %.0f ns\n", name,
		(double)reap / ((double)rounds * QD));
	runtime_delete(rt);
}

enum how { BUSY, WAIT };

static void
bench_ops(struct vdm *vdm, const char *name, enum how how, int qd, long ops)
{
	struct vdm_operation_future f[QD];
	struct future *ff[QD];
	struct runtime *rt = runtime_new();
	uint64_t c0, w0;
	long done = 0;
	int i;

	c0 = ns_of(CLOCK_THREAD_CPUTIME_ID);
	w0 = ns_of(CLOCK_MONOTONIC);
	while (done < ops) {
		for (i = 0; i < qd; i++) {
			f[i] = vdm_memcpy(vdm, dst + (size_t)i * OPSZ,
				src + (size_t)i * OPSZ, OPSZ, 0);
			ff[i] = FUTURE_AS_RUNNABLE(&f[i]);
		}
		if (how == BUSY) {
			for (i = 0; i < qd; i++)
				future_poll(ff[i], NULL); /* start them all */
			for (i = 0; i < qd; i++)
				FUTURE_BUSY_POLL(&f[i]);
		} else if (qd == 1) {
			runtime_wait(rt, ff[0]);
		} else {
			runtime_wait_multiple(rt, ff, (size_t)qd);
		}
		for (i = 0; i < qd; i++)
			if (FUTURE_OUTPUT(&f[i])->result != VDM_SUCCESS)
				die("an operation failed");
		done += qd;
	}
	printf("%s_cpu %.0f ns/op\n", name,
		(double)(ns_of(CLOCK_THREAD_CPUTIME_ID) - c0) / (double)done);
	printf("%s_wall %.0f ns/op\n", name,
		(double)(ns_of(CLOCK_MONOTONIC) - w0) / (double)done);
	fflush(stdout);
	runtime_delete(rt);
}

static void
run(int fifo, long ops)
{
	struct dsa_emu_config ec;
	struct dsa_emu *emu;
	const char *path = fifo ? "write" : "portal";
	char name[64];
	int notifier;

	memset(&ec, 0, sizeof(ec));
	ec.wq_size = 128;
	ec.fifo = fifo ? 1 : -1;
	emu = dsa_emu_start(&ec);
	if (emu == NULL)
		die("cannot start the emulator");
	for (notifier = 0; notifier < 2; notifier++) {
		struct data_mover_dsa_config mc;
		struct data_mover_dsa *d;
		struct vdm *vdm;
		const char *nn = notifier ? "poller" : "waker";

		memset(&mc, 0, sizeof(mc));
		mc.desired_notifier = notifier ? FUTURE_NOTIFIER_POLLER :
			FUTURE_NOTIFIER_WAKER;
		d = data_mover_dsa_new(&mc);
		if (d == NULL)
			die(data_mover_dsa_last_error_str());
		vdm = data_mover_dsa_get_vdm(d);
		if (notifier == 0) {
			snprintf(name, sizeof(name), "%s", path);
			bench_submit(emu, vdm, name, 300);
			snprintf(name, sizeof(name), "qd1_busy_poll_%s", path);
			bench_ops(vdm, name, BUSY, 1, ops);
			snprintf(name, sizeof(name), "qd32_busy_poll_%s", path);
			bench_ops(vdm, name, BUSY, QD, ops);
		}
		snprintf(name, sizeof(name), "qd1_runtime_%s_%s", nn, path);
		bench_ops(vdm, name, WAIT, 1, ops / (notifier ? 1 : 4));
		snprintf(name, sizeof(name), "qd32_runtime_%s_%s", nn, path);
		bench_ops(vdm, name, WAIT, QD, ops);
		data_mover_dsa_delete(d);
	}
	dsa_emu_stop(emu);
}

int
main(int argc, char **argv)
{
	char why[256];
	long ops = argc > 1 ? atol(argv[1]) : 100000;

	if (dsa_emu_enter_namespace(why, sizeof(why)) != 0) {
		printf("SKIP bench_dsa: %s\n", why);
		return 77;
	}
	if (ops < QD)
		ops = QD;
	src = (unsigned char *)aligned_alloc(4096, (size_t)QD * OPSZ);
	dst = (unsigned char *)aligned_alloc(4096, (size_t)QD * OPSZ);
	if (src == NULL || dst == NULL)
		die("out of memory");
	memset(src, 1, (size_t)QD * OPSZ);
	memset(dst, 0, (size_t)QD * OPSZ);
	run(0, ops);
	run(1, ops / 4);
	free(src);
	free(dst);
	return 0;
}
