/* test_ext_abandon.c - an abandoned future (created, never polled, then
 * given up with vdm_cancel) does not leak the mover's capacity: on every
 * mover, after it, 10^6 more operations run (in batches, contents checked),
 * with more abandoned futures and polled-then-cancelled ones mixed in.
 * The library's allocations are counted (MINIASYNC_MALLOC): once warm, the
 * movers must not allocate any more, so leaked per-operation state would
 * show as pool growth; a mover with bounded capacity (DSA) would run out.
 * Suites ext and slow. */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stdlib.h>

static atomic_ulong te_allocs;

static void *
te_counted_malloc(size_t n)
{
	atomic_fetch_add(&te_allocs, 1);
	return malloc(n);
}

#define MINIASYNC_MALLOC(sz) te_counted_malloc(sz)
#define MINIASYNC_FREE(p) free(p)
#define MINIASYNC_IMPLEMENTATION
#include "test_chaos.h" /* MASYNC__TEST_PREEMPT */
#include "miniasync.h"
#include "test_ext_util.h"

#define OPS 1000000u
#define BATCH 64u
#define SZ 64u

static unsigned char src[BATCH][SZ], dst[BATCH][SZ], gone[SZ];

static void
abandon_one(struct vdm *vdm)
{
	struct vdm_operation_future f = vdm_memcpy(vdm, gone, src[0], SZ, 0);

	CHECK(f.base.context.state == FUTURE_STATE_IDLE);
	CHECK(vdm_cancel(&f) == 0);
	CHECK(f.output.result == VDM_ERROR_CANCELLED);
}

static void
run(struct te_mover *m, unsigned ops)
{
	struct runtime *r = runtime_new();
	struct vdm_operation_future f[BATCH];
	struct future *futs[BATCH];
	unsigned long a0 = 0;
	unsigned done = 0, batch = 0, abandoned = 0, late = 0, i;
	uint64_t t0 = te_now();

	CHECK(r != NULL);
	memset(gone, 0, sizeof(gone));
	abandon_one(m->vdm);
	abandoned++;
	for (i = 0; i < BATCH; i++)
		futs[i] = FUTURE_AS_RUNNABLE(&f[i]);
	while (done < ops) {
		for (i = 0; i < BATCH; i++) {
			uint64_t stamp = ((uint64_t)batch << 8) | i;

			memcpy(src[i], &stamp, sizeof(stamp));
			f[i] = vdm_memcpy(m->vdm, dst[i], src[i], SZ, 0);
		}
		runtime_wait_multiple(r, futs, BATCH);
		for (i = 0; i < BATCH; i++) {
			CHECK(f[i].output.result == VDM_SUCCESS);
			CHECK(memcmp(dst[i], src[i], SZ) == 0);
		}
		done += BATCH;
		batch++;
		if (batch % 4 == 0) {
			abandon_one(m->vdm);
			abandoned++;
		}
		if (batch % 16 == 8) {
			/* polled once, then given up */
			struct vdm_operation_future g = vdm_memcpy(m->vdm,
				gone, src[0], SZ, 0);
			int ret;

			future_poll(FUTURE_AS_RUNNABLE(&g), NULL);
			ret = vdm_cancel(&g);
			if (ret != 0) {
				CHECK(ret == EINPROGRESS || ret == EALREADY);
				runtime_wait(r, FUTURE_AS_RUNNABLE(&g));
				CHECK(g.output.result == VDM_SUCCESS);
				memset(gone, 0, sizeof(gone));
				late++;
			} else {
				abandoned++;
			}
		}
		if (batch == 64)
			a0 = atomic_load(&te_allocs); /* warm */
	}
	te_log("%s: %u operations, %u abandoned, %u ran before the cancel, "
		"%lu allocations after warm-up, %.2f s\n", m->name, done,
		abandoned, late, atomic_load(&te_allocs) - a0,
		(double)(te_now() - t0) / 1e9);
	CHECK(atomic_load(&te_allocs) == a0);
	runtime_delete(r);
}

/* argv[1]: only the movers whose name starts with it (meson runs one
 * test per mover kind, so each stays short) */
int
main(int argc, char **argv)
{
	struct te_mover m[TE_MAX_MOVERS];
	size_t n, i;

	te_filter = argc > 1 ? argv[1] : NULL;
	n = te_movers(m);
	if (n == 0) {
		te_log("no mover to test: skipped\n");
		return 77;
	}
	for (i = 0; i < n; i++) {
		/* 10^6 on each mover. To stay within ~20 s: under ASan the
		 * emulated DSA device and the threads movers without a waker
		 * (the same paths as with one) get 10^5; under TSan and
		 * valgrind every mover but sync does */
		unsigned ops = OPS;

		if ((TE_TSAN || TE_ON_VALGRIND()) && m[i].kind != TE_SYNC)
			ops = OPS / 10;
		if (TE_ASAN && (m[i].kind == TE_DSA ||
				(m[i].kind == TE_THREADS &&
				strcmp(m[i].name, "threads/waker") != 0)))
			ops = OPS / 10;
		run(&m[i], ops);
	}
	te_movers_delete(m, n);
	CHECK(te_all(gone, 0, SZ)); /* no abandoned copy ever ran */
	te_log("ok\n");
	return 0;
}
