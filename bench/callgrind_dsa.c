/* callgrind_dsa.c - instructions the DSA mover costs per operation, one by
 * one against coalesced, counted by callgrind (repeatable whatever the
 * load, unlike bench_dsa's CPU times). The same path as bench_dsa's
 * dsa_mover_*: rounds of 32 memcpy futures of SIZE bytes, created and
 * polled once with the emulated device paused (one more poll of the first
 * sends a pending batch), then, once the device is quiet, one poll of each
 * (the reap). Valgrind does not know MOVDIR64B: the emulator runs with a
 * trapped portal and the mover's test hook hands each descriptor to it;
 * that hook's own instructions are not counted (callgrind client request),
 * so the one-by-one figure is the mover's without the 1-instruction
 * doorbell. Run (root; exits 77 otherwise):
 *   valgrind --tool=callgrind --separate-threads=yes \
 *     --toggle-collect=cgd_starts --toggle-collect=cgd_reaps \
 *     --callgrind-out-file=cg.out ./build/bench/callgrind_dsa 4096 1 10
 * (SIZE, batch_max: 1 one by one, 0 coalesced, ROUNDS); instructions per
 * operation = "Collected" / the "ops" it prints; callgrind_annotate
 * cg.out-01 shows where they go. Natively it runs the same rounds.
 * With a 4th argument "rt", each round is instead bench_dsa's dsa_cpu_*
 * path: 32 futures created and waited for with runtime_wait_multiple, the
 * device running (--toggle-collect=cgd_round): the runtime's passes, its
 * spins and sleeps (their system calls' user side only) and the mover;
 * it also prints the runtime's naps. Under valgrind the emulator runs
 * only while the runtime's thread is blocked, so a round sleeps about
 * once per operation in both modes (natively: ~7 one by one, ~1
 * coalesced): this mode shows where a pass's instructions go, not the
 * coalesced / one-by-one ratio (bench_dsa's dsa_cpu_* give that).
 * With "pass" instead, the 32 starts are made as in one pass of a
 * runtime's wait (masync__round.depth raised, the pass's end flush called
 * after them: the path of runtime_wait_multiple's first pass, without its
 * wakers), the reaps as above: the mover's own instructions for what
 * dsa_cpu_* runs. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#define MASYNC__TEST_HOOKS 1 /* the MOVDIR64B hook */
static unsigned long cgd_naps; /* the runtime's sleeps (its test hook) */
#define MASYNC__RT_ON_NAP(ns) ((void)(ns), cgd_naps++)
#define MINIASYNC_IMPLEMENTATION
#include "miniasync.h"

#include "dsa_emu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#endif
#endif
#ifndef CALLGRIND_TOGGLE_COLLECT
#define CALLGRIND_TOGGLE_COLLECT
#endif

#define QD 32

/* libaccel-config's leaks are suppressed in dsa_emu.c: no LSan summary */
const char *__lsan_default_options(void);
const char *
__lsan_default_options(void)
{
	return "print_suppressions=0";
}

static struct dsa_emu *emu;
static int cgd_pass; /* "pass": the starts as in one runtime pass */

static void
die(const char *what)
{
	fprintf(stderr, "callgrind_dsa: %s\n", what);
	exit(1);
}

static void
trap_movdir64b(void *portal, const void *desc)
{
	(void)portal;
	CALLGRIND_TOGGLE_COLLECT; /* not the mover's */
	if (dsa_emu_portal_write(emu, 0, desc, 0) != 0)
		die("dsa_emu_portal_write failed");
	CALLGRIND_TOGGLE_COLLECT;
}

#if defined(__GNUC__) || defined(__clang__)
#define CGD_NOINLINE __attribute__((noinline))
#else
#define CGD_NOINLINE
#endif

CGD_NOINLINE void cgd_starts(struct vdm *vdm,
	struct vdm_operation_future *f, unsigned char *dst,
	const unsigned char *src, size_t n);
CGD_NOINLINE void cgd_reaps(struct vdm_operation_future *f);
CGD_NOINLINE void cgd_round(struct runtime *rt, struct vdm *vdm,
	struct vdm_operation_future *f, unsigned char *dst,
	const unsigned char *src, size_t n);

CGD_NOINLINE void
cgd_round(struct runtime *rt, struct vdm *vdm, struct vdm_operation_future *f,
	unsigned char *dst, const unsigned char *src, size_t n)
{
	struct future *ff[QD];
	int i;

	for (i = 0; i < QD; i++) {
		f[i] = vdm_memcpy(vdm, dst + (size_t)i * n,
			(void *)(src + (size_t)i * n), n, 0);
		ff[i] = FUTURE_AS_RUNNABLE(&f[i]);
	}
	runtime_wait_multiple(rt, ff, QD);
}

CGD_NOINLINE void
cgd_starts(struct vdm *vdm, struct vdm_operation_future *f,
	unsigned char *dst, const unsigned char *src, size_t n)
{
	int i;

	if (cgd_pass)
		masync__round.depth++; /* as in a runtime's pass */
	for (i = 0; i < QD; i++) {
		f[i] = vdm_memcpy(vdm, dst + (size_t)i * n,
			(void *)(src + (size_t)i * n), n, 0);
		future_poll(FUTURE_AS_RUNNABLE(&f[i]), NULL);
	}
	if (cgd_pass) {
		masync__round_flush(); /* the pass's end sends the batch */
		masync__round.depth--;
		return;
	}
	future_poll(FUTURE_AS_RUNNABLE(&f[0]), NULL);
}

CGD_NOINLINE void
cgd_reaps(struct vdm_operation_future *f)
{
	int i;

	for (i = 0; i < QD; i++)
		future_poll(FUTURE_AS_RUNNABLE(&f[i]), NULL);
}

/* until everything the device received was processed, twice in a row */
static void
quiet(void)
{
	struct dsa_emu_stats a, b;
	struct timespec ts = { 0, 2000000 };

	dsa_emu_get_stats(emu, -1, &a);
	for (;;) {
		nanosleep(&ts, NULL);
		dsa_emu_get_stats(emu, -1, &b);
		if (b.processed == b.received && b.received == a.received)
			break;
		a = b;
	}
	nanosleep(&ts, NULL); /* the counts lead the records */
}

static void
rounds_of(struct vdm *vdm, unsigned char *dst, const unsigned char *src,
	size_t n, int rounds)
{
	struct vdm_operation_future f[QD];
	int k, i, left;

	for (k = 0; k < rounds; k++) {
		dsa_emu_pause(emu, -1, 1);
		cgd_starts(vdm, f, dst, src, n);
		dsa_emu_pause(emu, -1, 0);
		quiet();
		cgd_reaps(f);
		do {
			for (i = 0, left = 0; i < QD; i++)
				if (future_poll(FUTURE_AS_RUNNABLE(&f[i]),
						NULL) != FUTURE_STATE_COMPLETE)
					left++;
		} while (left != 0);
		for (i = 0; i < QD; i++)
			if (FUTURE_OUTPUT(&f[i])->result != VDM_SUCCESS)
				die("an operation failed");
	}
}

static void
rt_rounds_of(struct runtime *rt, struct vdm *vdm, unsigned char *dst,
	const unsigned char *src, size_t n, int rounds)
{
	struct vdm_operation_future f[QD];
	int k, i;

	for (k = 0; k < rounds; k++) {
		cgd_round(rt, vdm, f, dst, src, n);
		for (i = 0; i < QD; i++)
			if (FUTURE_OUTPUT(&f[i])->result != VDM_SUCCESS)
				die("an operation failed");
	}
}

int
main(int argc, char **argv)
{
	char why[256];
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 0) : 4096;
	int batch = argc > 2 ? atoi(argv[2]) : 0;
	int rounds = argc > 3 ? atoi(argv[3]) : 10;
	int rt_mode = argc > 4 && strcmp(argv[4], "rt") == 0;
	int pass_mode = argc > 4 && strcmp(argv[4], "pass") == 0;
	struct runtime *rt = NULL;
	struct dsa_emu_config ec;
	struct data_mover_dsa_config mc;
	struct data_mover_dsa *d;
	unsigned char *src, *dst;

	if (n == 0 || n > (1u << 20) || batch < 0 || rounds < 1 ||
			(argc > 4 && !rt_mode && !pass_mode)) {
		fprintf(stderr, "usage: callgrind_dsa [SIZE (1..1M)] "
			"[BATCH_MAX] [ROUNDS] [rt|pass]\n");
		return 2;
	}
	if (dsa_emu_enter_namespace(why, sizeof(why)) != 0) {
		printf("SKIP callgrind_dsa: %s\n", why);
		return 77;
	}
	src = (unsigned char *)aligned_alloc(4096, QD * n + 4096);
	dst = (unsigned char *)aligned_alloc(4096, QD * n + 4096);
	if (src == NULL || dst == NULL)
		die("out of memory");
	memset(src, 7, QD * n);
	memset(dst, 0, QD * n);
	memset(&ec, 0, sizeof(ec));
	ec.trap_portal = 1;
	ec.fifo = -1;
	ec.wq_size = 64;
	emu = dsa_emu_start(&ec);
	if (emu == NULL)
		die("cannot start the emulator");
	MASYNC__STORE(&masync__cpu_bits, masync__cpu() | MASYNC__CPU_MOVDIR64B,
		relaxed);
	MASYNC__STORE(&masync__test_movdir64b, trap_movdir64b, release);
	memset(&mc, 0, sizeof(mc));
	mc.cpu_threshold = 1;
	mc.hybrid_threshold = SIZE_MAX;
	mc.batch_max = (unsigned)batch;
	d = data_mover_dsa_new(&mc);
	if (d == NULL)
		die(data_mover_dsa_last_error_str());
	if (rt_mode) {
		rt = runtime_new();
		if (rt == NULL)
			die("runtime_new failed");
		rt_rounds_of(rt, data_mover_dsa_get_vdm(d), dst, src, n, 2);
		rt_rounds_of(rt, data_mover_dsa_get_vdm(d), dst, src, n,
			rounds);
	} else {
		cgd_pass = pass_mode;
		rounds_of(data_mover_dsa_get_vdm(d), dst, src, n, 2); /* warm */
		rounds_of(data_mover_dsa_get_vdm(d), dst, src, n, rounds);
	}
	if (memcmp(dst, src, QD * n) != 0)
		die("content check failed");
	data_mover_dsa_delete(d);
	dsa_emu_stop(emu);
	/* the warm-up rounds are counted too (same functions) */
	printf("ops %d size %zu batch_max %d%s naps %lu\n", (rounds + 2) * QD,
		n, batch, rt_mode ? " rt" : pass_mode ? " pass" : "", cgd_naps);
	runtime_delete(rt);
	free(src);
	free(dst);
	return 0;
}
