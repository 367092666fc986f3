/* bench.c - miniasync benchmarks, public API only.
 *
 * Prints one line per scenario: `name value unit ratio x_memcpy`, each
 * value the median of REPS repetitions, and checks the content of what it
 * copies (exit 1 on a mismatch). `ratio` compares with plain memcpy of the
 * same bytes on the calling thread, measured in the same run: its time
 * divided by this scenario's time (above 1: faster than memcpy; for an
 * overhead line, the overhead over memcpy's cost). Uses only the public API of libminiasync, so the same file
 * measures the original library too: build it with -DBENCH_LIBMINIASYNC
 * and link -lminiasync.
 *
 * Run: meson test -C build --benchmark -v   (or build/bench/bench)
 *
 * Scenarios
 *   sync_<op>_<size>          create + poll to completion of a sync-mover
 *                             memcpy / memmove / memset future, 64B / 4KiB;
 *                             _plain: the plain call of the same bytes,
 *                             _overhead: future - plain (medians of the
 *                             per-round differences; each round runs both)
 *   sync_chain2_64B           a chain of two 64 B sync copies; _plain: two
 *                             plain memcpy calls, _two_futures: the same
 *                             two futures unchained; sync_chain2_overhead:
 *                             chain - two futures
 *   sync_busy_poll_64B        a 64 B sync copy polled in a loop, and with
 *   sync_runtime_wait_64B     runtime_wait; runtime_wait_overhead is the
 *                             difference. BENCH_SYNC_ONLY=1: only these
 *                             sync lines (and plain_memcpy_*), then exit
 *   threads_batch_*           64 x 4 KiB memcpy per batch on a 2-worker
 *                             mover and on the default mover (measured in
 *                             turns), waited with runtime_wait_multiple or
 *                             by busy polling
 *   batch_default_vs_2w_*     default / 2-worker throughput (median of the
 *                             per-turn ratios)
 *   batch_busy_vs_wait_2w     busy-polling / waiting throughput on the
 *   batch_busy_vs_wait_2w_min 2-worker mover, measured in turns: median and
 *                             lowest of the per-turn ratios
 *   memcpy_64MiB_plain        plain memcpy of 64 MiB, single thread
 *   memcpy_64MiB_threads      the same buffers on the default mover
 *   memcpy_64MiB_speedup      threads GB/s / plain GB/s
 *   memcpy_2MiB_* .. _16MiB_* the same at sizes the caches still hold
 *   roundtrip_64B_p50 / _p99  create + runtime_wait of one 64 B copy on an
 *                             otherwise idle default mover
 *   sweep_<mover>_<bytes>     one copy after another (create + runtime_wait)
 *                             from 64 B to 64 MiB: plain memcpy, the sync
 *                             mover, threads movers of 1, 2 and the default
 *                             number of workers; bench/plot.py draws them
 */
#define _POSIX_C_SOURCE 200809L
#ifdef BENCH_LIBMINIASYNC
#include <libminiasync.h>
#else
#define MINIASYNC_IMPLEMENTATION
#include "miniasync.h"
#endif

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "bench_chain.h"
#include "bench_util.h"

#define REPS 7

static void
die(const char *what)
{
	fprintf(stderr, "bench: %s\n", what);
	exit(1);
}

static void *
xmalloc(size_t n)
{
	void *p = malloc(n);

	if (p == NULL)
		die("out of memory");
	return p;
}

/* page-aligned: the sync figures then do not depend on where earlier
 * allocations left the heap (a 4 KiB copy's cost moved by 3-7 ns with
 * the buffers' offset within their pages, the same code in both builds) */
static void *
xmalloc_page(size_t n)
{
	void *p = page_alloc(n);

	if (p == NULL)
		die("out of memory");
	return p;
}

static double
percentile(double *v, size_t n, double p)
{
	size_t i;

	qsort(v, n, sizeof(*v), cmp_double);
	i = (size_t)(p * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

/* `ratio`: against plain memcpy in this run (see the top) */
static void
report(const char *name, double value, const char *unit, double ratio)
{
	printf("%-34s %12.3f %-6s %8.3f x_memcpy\n", name, value, unit, ratio);
	fflush(stdout);
}

/* report() under a printf-formatted name */
static void
reportf(double value, const char *unit, double ratio, const char *fmt, ...)
{
	char name[64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	report(name, value, unit, ratio);
}

static void
fill(unsigned char *p, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 131u + seed * 7u + (i >> 9));
}

static void
check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "bench: content check failed: %s\n", what);
		exit(1);
	}
}

static int
succeeded(struct vdm_operation_future *f)
{
	return FUTURE_OUTPUT(f)->result == VDM_SUCCESS;
}

/* ---- plain memcpy, the reference ------------------------------------------ */
static void *(*volatile plain_memcpy)(void *, const void *, size_t) = memcpy;

/* ns per memcpy of n bytes, called through a volatile pointer so the
 * compiler keeps every call */
static double
plain_copy_ns(size_t n, unsigned iters)
{
	unsigned char *src = xmalloc(n), *dst = xmalloc(n);
	double v[REPS];
	unsigned r, i;

	fill(src, n, 1);
	memset(dst, 0, n);
	for (r = 0; r < REPS; r++) {
		uint64_t t0 = now_ns();

		for (i = 0; i < iters; i++)
			plain_memcpy(dst, src, n);
		v[r] = (double)(now_ns() - t0) / iters;
		check(memcmp(dst, src, n) == 0, "plain memcpy");
	}
	free(src);
	free(dst);
	return median(v, REPS);
}

/* ---- the sync mover ------------------------------------------------------ */
/* Each figure pairs a reference and the scenario in every round (their
 * order alternating), SYNC_ROUNDS rounds; an overhead is the median of the
 * per-round differences, so that a noisy machine moves both sides. */
#define SYNC_ROUNDS 21

enum sync_op { SYNC_MEMCPY, SYNC_MEMMOVE, SYNC_MEMSET };

static const char *const sync_op_name[] = {"memcpy", "memmove", "memset"};

static void *(*volatile plain_memmove)(void *, const void *, size_t) = memmove;
static void *(*volatile plain_memset)(void *, int, size_t) = memset;

/* ns per plain call */
static double
plain_op_ns(enum sync_op op, unsigned char *dst, unsigned char *src,
	size_t n, unsigned iters)
{
	uint64_t t0 = now_ns();
	unsigned i;

	switch (op) {
	case SYNC_MEMCPY:
		for (i = 0; i < iters; i++)
			plain_memcpy(dst, src, n);
		break;
	case SYNC_MEMMOVE:
		for (i = 0; i < iters; i++)
			plain_memmove(dst, src, n);
		break;
	case SYNC_MEMSET:
		for (i = 0; i < iters; i++)
			plain_memset(dst, 0x5a, n);
		break;
	}
	return (double)(now_ns() - t0) / iters;
}

#define SYNC_LOOP(make)                                                        \
	for (i = 0; i < iters; i++) {                                          \
		struct vdm_operation_future f = (make);                        \
                                                                               \
		busy_poll(FUTURE_AS_RUNNABLE(&f));                             \
		if (!succeeded(&f))                                            \
			die("sync operation failed");                          \
	}

/* ns per future: create, poll to completion, read the result */
static double
sync_op_ns(struct vdm *vdm, enum sync_op op, unsigned char *dst,
	unsigned char *src, size_t n, unsigned iters)
{
	uint64_t t0 = now_ns();
	unsigned i;

	switch (op) {
	case SYNC_MEMCPY:
		SYNC_LOOP(vdm_memcpy(vdm, dst, src, n, 0));
		break;
	case SYNC_MEMMOVE:
		SYNC_LOOP(vdm_memmove(vdm, dst, src, n, 0));
		break;
	case SYNC_MEMSET:
		SYNC_LOOP(vdm_memset(vdm, dst, 0x5a, n, 0));
		break;
	}
	return (double)(now_ns() - t0) / iters;
}

static void
sync_op_check(enum sync_op op, unsigned char *dst, unsigned char *src,
	size_t n)
{
	size_t i;

	if (op != SYNC_MEMSET) {
		check(memcmp(dst, src, n) == 0, sync_op_name[op]);
		return;
	}
	for (i = 0; i < n; i++)
		check(dst[i] == 0x5a, "memset");
}

/* plain call against sync-mover future, n bytes: both, their difference
 * and plain / future */
static void
sync_op(struct vdm *vdm, enum sync_op op, size_t n, const char *size)
{
	unsigned char *src = xmalloc_page(n), *dst = xmalloc_page(n);
	unsigned iters = n <= 64 ? 20000 : 4000;
	double plain[SYNC_ROUNDS], fut[SYNC_ROUNDS], diff[SYNC_ROUNDS];
	double p, f;
	unsigned r;

	fill(src, n, 1);
	sync_op_ns(vdm, op, dst, src, n, iters); /* warm-up */
	for (r = 0; r < SYNC_ROUNDS; r++) {
		memset(dst, 0, n);
		if (r % 2) {
			fut[r] = sync_op_ns(vdm, op, dst, src, n, iters);
			sync_op_check(op, dst, src, n);
			plain[r] = plain_op_ns(op, dst, src, n, iters);
		} else {
			plain[r] = plain_op_ns(op, dst, src, n, iters);
			memset(dst, 0, n);
			fut[r] = sync_op_ns(vdm, op, dst, src, n, iters);
			sync_op_check(op, dst, src, n);
		}
		diff[r] = fut[r] - plain[r];
	}
	p = median(plain, SYNC_ROUNDS);
	f = median(fut, SYNC_ROUNDS);
	reportf(p, "ns/op", 1.0, "sync_%s_%s_plain", sync_op_name[op], size);
	reportf(f, "ns/op", p / f, "sync_%s_%s", sync_op_name[op], size);
	reportf(median(diff, SYNC_ROUNDS), "ns", median(diff, SYNC_ROUNDS) / p,
		"sync_%s_%s_overhead", sync_op_name[op], size);
	free(src);
	free(dst);
}

/* a -> b, then b -> c: as a chain, or as two futures one after the other */
static double
sync_chain2_ns(struct vdm *vdm, int chain, unsigned char *a,
	unsigned char *b, unsigned char *c, unsigned iters)
{
	uint64_t t0 = now_ns();
	unsigned i;

	for (i = 0; i < iters; i++) {
		if (chain) {
			struct chain2_fut f;

			chain2_init(&f, vdm, a, b, c);
			busy_poll(FUTURE_AS_RUNNABLE(&f));
			if (FUTURE_OUTPUT(&f)->dest != c)
				die("chain output");
		} else {
			struct vdm_operation_future f =
				vdm_memcpy(vdm, b, a, 64, 0);
			struct vdm_operation_future g;

			busy_poll(FUTURE_AS_RUNNABLE(&f));
			g = vdm_memcpy(vdm, c, b, 64, 0);
			busy_poll(FUTURE_AS_RUNNABLE(&g));
			if (!succeeded(&f) || !succeeded(&g))
				die("sync memcpy failed");
		}
	}
	return (double)(now_ns() - t0) / iters;
}

/* the same two copies with plain memcpy */
static double
plain_pair_ns(unsigned char *a, unsigned char *b, unsigned char *c,
	unsigned iters)
{
	uint64_t t0 = now_ns();
	unsigned i;

	for (i = 0; i < iters; i++) {
		plain_memcpy(b, a, 64);
		plain_memcpy(c, b, 64);
	}
	return (double)(now_ns() - t0) / iters;
}

static void
sync_chain2(struct vdm *vdm)
{
	unsigned char *a = xmalloc(3 * 64), *b = a + 64, *c = a + 128;
	double pair[SYNC_ROUNDS], two[SYNC_ROUNDS], ch[SYNC_ROUNDS];
	double diff[SYNC_ROUNDS], p;
	const unsigned iters = 10000;
	unsigned r;

	fill(a, 64, 3);
	sync_chain2_ns(vdm, 1, a, b, c, iters); /* warm-up */
	for (r = 0; r < SYNC_ROUNDS; r++) {
		memset(c, 0, 64);
		if (r % 2) {
			ch[r] = sync_chain2_ns(vdm, 1, a, b, c, iters);
			two[r] = sync_chain2_ns(vdm, 0, a, b, c, iters);
		} else {
			two[r] = sync_chain2_ns(vdm, 0, a, b, c, iters);
			ch[r] = sync_chain2_ns(vdm, 1, a, b, c, iters);
		}
		check(memcmp(a, c, 64) == 0, "chain");
		pair[r] = plain_pair_ns(a, b, c, iters);
		diff[r] = ch[r] - two[r];
	}
	p = median(pair, SYNC_ROUNDS);
	report("sync_chain2_64B_plain", p, "ns", 1.0);
	report("sync_chain2_64B_two_futures", median(two, SYNC_ROUNDS), "ns",
		p / median(two, SYNC_ROUNDS));
	report("sync_chain2_64B", median(ch, SYNC_ROUNDS), "ns",
		p / median(ch, SYNC_ROUNDS));
	report("sync_chain2_overhead", median(diff, SYNC_ROUNDS), "ns",
		median(diff, SYNC_ROUNDS) / p);
	free(a);
}

/* runtime_wait (rt) or busy polling (rt NULL) of a 64 B sync memcpy */
static double
sync_wait_ns(struct vdm *vdm, struct runtime *rt, unsigned char *dst,
	unsigned char *src, unsigned iters)
{
	uint64_t t0 = now_ns();
	unsigned i;

	for (i = 0; i < iters; i++) {
		struct vdm_operation_future f =
			vdm_memcpy(vdm, dst, src, 64, 0);

		if (rt != NULL)
			runtime_wait(rt, FUTURE_AS_RUNNABLE(&f));
		else
			busy_poll(FUTURE_AS_RUNNABLE(&f));
		if (!succeeded(&f))
			die("sync memcpy failed");
	}
	return (double)(now_ns() - t0) / iters;
}

static void
sync_runtime_wait(struct vdm *vdm, struct runtime *rt)
{
	unsigned char *src = xmalloc(64), *dst = xmalloc(64);
	double plain[SYNC_ROUNDS], busy[SYNC_ROUNDS], rw[SYNC_ROUNDS];
	double diff[SYNC_ROUNDS], p;
	const unsigned iters = 20000;
	unsigned r;

	fill(src, 64, 5);
	sync_wait_ns(vdm, rt, dst, src, iters); /* warm-up */
	for (r = 0; r < SYNC_ROUNDS; r++) {
		memset(dst, 0, 64);
		if (r % 2) {
			rw[r] = sync_wait_ns(vdm, rt, dst, src, iters);
			busy[r] = sync_wait_ns(vdm, NULL, dst, src, iters);
		} else {
			busy[r] = sync_wait_ns(vdm, NULL, dst, src, iters);
			rw[r] = sync_wait_ns(vdm, rt, dst, src, iters);
		}
		check(memcmp(dst, src, 64) == 0, "runtime_wait");
		plain[r] = plain_op_ns(SYNC_MEMCPY, dst, src, 64, iters);
		diff[r] = rw[r] - busy[r];
	}
	p = median(plain, SYNC_ROUNDS);
	report("sync_busy_poll_64B", median(busy, SYNC_ROUNDS), "ns/op",
		p / median(busy, SYNC_ROUNDS));
	report("sync_runtime_wait_64B", median(rw, SYNC_ROUNDS), "ns/op",
		p / median(rw, SYNC_ROUNDS));
	report("runtime_wait_overhead", median(diff, SYNC_ROUNDS), "ns",
		median(diff, SYNC_ROUNDS) / p);
	free(src);
	free(dst);
}

/* every sync-mover figure */
static void
sync_section(struct vdm *vdm, struct runtime *rt)
{
	static const size_t sizes[] = {64, 4096};
	static const char *const size_names[] = {"64B", "4KiB"};
	unsigned k, op;

	for (k = 0; k < 2; k++)
		for (op = SYNC_MEMCPY; op <= SYNC_MEMSET; op++)
			sync_op(vdm, (enum sync_op)op, sizes[k],
				size_names[k]);
	sync_chain2(vdm);
	sync_runtime_wait(vdm, rt);
}

/* ---- batches on the threads mover --------------------------------------- */
#define BATCH 64
#define BSIZE 4096

/* Seconds for `nbatches` batches of 64 x 4 KiB; wait = runtime_wait_multiple,
 * else busy polling of every future until all are complete. */
static double
batch_seconds(struct vdm *vdm, struct runtime *rt, int wait,
	unsigned char *src, unsigned char *dst, unsigned nbatches)
{
	struct vdm_operation_future f[BATCH];
	struct future *fp[BATCH];
	uint64_t spent = 0;
	unsigned k, b;

	for (b = 0; b < nbatches; b++) {
		unsigned char *s = src + (size_t)(b % 2) * BATCH * BSIZE;
		uint64_t t0 = now_ns();

		for (k = 0; k < BATCH; k++) {
			f[k] = vdm_memcpy(vdm, dst + (size_t)k * BSIZE,
				s + (size_t)k * BSIZE, BSIZE, 0);
			fp[k] = FUTURE_AS_RUNNABLE(&f[k]);
		}
		if (wait) {
			runtime_wait_multiple(rt, fp, BATCH);
		} else {
			unsigned left = BATCH;

			while (left > 0) {
				left = 0;
				for (k = 0; k < BATCH; k++)
					left += future_poll(fp[k], NULL) !=
						FUTURE_STATE_COMPLETE;
			}
		}
		spent += now_ns() - t0;
		for (k = 0; k < BATCH; k++)
			if (!succeeded(&f[k]))
				die("threads memcpy failed");
		check(memcmp(dst, s, BATCH * BSIZE) == 0, "batch");
	}
	return (double)spent / 1e9;
}

/* the same batches copied with plain memcpy on this thread */
static double
plain_batch_seconds(unsigned char *src, unsigned char *dst, unsigned nbatches)
{
	uint64_t t0 = now_ns();
	unsigned k, b;

	for (b = 0; b < nbatches; b++) {
		unsigned char *s = src + (size_t)(b % 2) * BATCH * BSIZE;

		for (k = 0; k < BATCH; k++)
			plain_memcpy(dst + (size_t)k * BSIZE,
				s + (size_t)k * BSIZE, BSIZE);
	}
	t0 = now_ns() - t0;
	check(memcmp(dst, src + (size_t)((nbatches - 1) % 2) * BATCH * BSIZE,
		BATCH * BSIZE) == 0, "plain batch");
	return (double)t0 / 1e9;
}

/* ops/s of the two movers, measured in turns (so that both see the same
 * machine), and the median of their per-turn ratio b / a */
static void
batches(const char *how, struct vdm *a, struct vdm *b, struct runtime *rt,
	int wait)
{
	unsigned char *src = xmalloc(2 * BATCH * BSIZE);
	unsigned char *dst = xmalloc(BATCH * BSIZE);
	double va[REPS], vb[REPS], ratio[REPS], vp[REPS], ra[REPS], rb[REPS];
	const unsigned nb = 300;
	unsigned r;

	fill(src, 2 * BATCH * BSIZE, 7);
	memset(dst, 0, BATCH * BSIZE);
	batch_seconds(a, rt, wait, src, dst, 50); /* warm-up */
	batch_seconds(b, rt, wait, src, dst, 50);
	for (r = 0; r < REPS; r++) {
		double ta, tb;

		if (r % 2) {
			tb = batch_seconds(b, rt, wait, src, dst, nb);
			ta = batch_seconds(a, rt, wait, src, dst, nb);
		} else {
			ta = batch_seconds(a, rt, wait, src, dst, nb);
			tb = batch_seconds(b, rt, wait, src, dst, nb);
		}
		va[r] = nb * BATCH / ta;
		vb[r] = nb * BATCH / tb;
		ratio[r] = ta / tb;
		vp[r] = nb * BATCH / plain_batch_seconds(src, dst, nb);
		ra[r] = va[r] / vp[r];
		rb[r] = vb[r] / vp[r];
	}
	reportf(median(vp, REPS), "ops/s", 1.0, "plain_batch_%s", how);
	reportf(median(va, REPS), "ops/s", median(ra, REPS),
		"threads_batch_2w_%s", how);
	reportf(median(vb, REPS), "ops/s", median(rb, REPS),
		"threads_batch_default_%s", how);
	reportf(median(ratio, REPS), "x", median(rb, REPS) / median(ra, REPS),
		"batch_default_vs_2w_%s", how);
	free(src);
	free(dst);
}

/* busy polling against waiting on one mover, in turns: the per-turn ratio
 * of their throughputs (median and lowest) */
static void
busy_vs_wait(struct vdm *vdm, struct runtime *rt)
{
	unsigned char *src = xmalloc(2 * BATCH * BSIZE);
	unsigned char *dst = xmalloc(BATCH * BSIZE);
	double ratio[REPS], vp[REPS], vb[REPS];
	const unsigned nb = 300;
	unsigned r;

	fill(src, 2 * BATCH * BSIZE, 9);
	memset(dst, 0, BATCH * BSIZE);
	batch_seconds(vdm, rt, 0, src, dst, 50); /* warm-up */
	for (r = 0; r < REPS; r++) {
		double tw, tb;

		if (r % 2) {
			tb = batch_seconds(vdm, rt, 0, src, dst, nb);
			tw = batch_seconds(vdm, rt, 1, src, dst, nb);
		} else {
			tw = batch_seconds(vdm, rt, 1, src, dst, nb);
			tb = batch_seconds(vdm, rt, 0, src, dst, nb);
		}
		ratio[r] = tw / tb;
		vb[r] = nb * BATCH / tb;
		vp[r] = vb[r] / (nb * BATCH /
			plain_batch_seconds(src, dst, nb));
	}
	reportf(median(ratio, REPS), "x", median(vp, REPS),
		"batch_busy_vs_wait_2w");
	qsort(ratio, REPS, sizeof(ratio[0]), cmp_double);
	reportf(ratio[0], "x", median(vp, REPS), "batch_busy_vs_wait_2w_min");
	free(src);
	free(dst);
}

/* ---- 64 MiB -------------------------------------------------------------- */
static void
big_copy(struct vdm *vdm, struct runtime *rt, unsigned mib)
{
	const size_t n = (size_t)mib << 20;
	unsigned char *src = xmalloc(n), *dst = xmalloc(n);
	double plain[REPS], thr[REPS], ratio[REPS];
	unsigned r;

	fill(src, n, 11);
	memset(dst, 0, n); /* fault the pages in */
	memcpy(dst, src, n);
	for (r = 0; r < REPS + 1; r++) {
		struct vdm_operation_future f;
		uint64_t t0, t1, t2;

		/* the same start for both: dst zeroed, src just read */
		memset(dst, 0, n);
		t0 = now_ns();
		memcpy(dst, src, n);
		t1 = now_ns();
		check(memcmp(dst, src, n) == 0, "plain memcpy");
		memset(dst, 0, n);
		f = vdm_memcpy(vdm, dst, src, n, 0);
		t2 = now_ns();
		runtime_wait(rt, FUTURE_AS_RUNNABLE(&f));
		t2 = now_ns() - t2;
		if (!succeeded(&f))
			die("large memcpy failed");
		check(memcmp(dst, src, n) == 0, "large memcpy on the mover");
		if (r == 0)
			continue; /* warm-up */
		plain[r - 1] = (double)n / (double)(t1 - t0);
		thr[r - 1] = (double)n / (double)t2;
		ratio[r - 1] = thr[r - 1] / plain[r - 1];
	}
	reportf(median(plain, REPS), "GB/s", 1.0, "memcpy_%uMiB_plain", mib);
	reportf(median(thr, REPS), "GB/s", median(ratio, REPS),
		"memcpy_%uMiB_threads", mib);
	reportf(median(ratio, REPS), "x", median(ratio, REPS),
		"memcpy_%uMiB_speedup", mib);
	free(src);
	free(dst);
}

/* ---- sizes 64 B .. 64 MiB ------------------------------------------------- */
#define SWEEP_MAX ((size_t)64 << 20)

/* ns per copy of n bytes, one after another; vdm NULL: plain memcpy */
static double
sweep_ns(struct vdm *vdm, struct runtime *rt, unsigned char *src,
	unsigned char *dst, size_t n)
{
	unsigned iters = n >= ((size_t)16 << 20) ? 2 :
		(unsigned)(((size_t)32 << 20) / n);
	double v[5];
	unsigned r, i;

	if (iters > 2000)
		iters = 2000;
	for (r = 0; r < 5; r++) {
		uint64_t t0;

		dst[0] = dst[n - 1] = (unsigned char)~src[0];
		t0 = now_ns();
		for (i = 0; i < iters; i++) {
			if (vdm == NULL) {
				plain_memcpy(dst, src, n);
			} else {
				struct vdm_operation_future f =
					vdm_memcpy(vdm, dst, src, n, 0);

				runtime_wait(rt, FUTURE_AS_RUNNABLE(&f));
				if (!succeeded(&f))
					die("sweep memcpy failed");
			}
		}
		v[r] = (double)(now_ns() - t0) / iters;
		check(dst[0] == src[0] && dst[n - 1] == src[n - 1], "sweep");
	}
	return median(v, 5);
}

static void
sweep(struct vdm *sync_vdm, struct vdm *def_vdm, struct runtime *rt)
{
	struct data_mover_threads *one =
		data_mover_threads_new(1, 128, FUTURE_NOTIFIER_WAKER);
	struct data_mover_threads *two =
		data_mover_threads_new(2, 128, FUTURE_NOTIFIER_WAKER);
	unsigned char *src = xmalloc(SWEEP_MAX), *dst = xmalloc(SWEEP_MAX);
	size_t n;

	if (one == NULL || two == NULL)
		die("cannot create the sweep's movers");
	fill(src, SWEEP_MAX, 17);
	memset(dst, 0, SWEEP_MAX);
	for (n = 64; n <= SWEEP_MAX; n *= 4) {
		struct {
			const char *name;
			struct vdm *vdm;
		} m[] = {
			{"sync", sync_vdm},
			{"threads1", data_mover_threads_get_vdm(one)},
			{"threads2", data_mover_threads_get_vdm(two)},
			{"threadsdef", def_vdm},
		};
		double plain = sweep_ns(NULL, rt, src, dst, n);
		size_t k;

		reportf(plain, "ns/op", 1.0, "sweep_plain_%zu", n);
		for (k = 0; k < sizeof(m) / sizeof(m[0]); k++) {
			double t = sweep_ns(m[k].vdm, rt, src, dst, n);

			reportf(t, "ns/op", plain / t, "sweep_%s_%zu",
				m[k].name, n);
		}
	}
	check(memcmp(dst, src, SWEEP_MAX) == 0, "sweep content");
	data_mover_threads_delete(one);
	data_mover_threads_delete(two);
	free(src);
	free(dst);
}

/* ---- round trip ---------------------------------------------------------- */
static void
round_trip(struct vdm *vdm, struct runtime *rt, double plain64)
{
	enum { N = 5000 };
	static double lat[N];
	double p50[REPS], p99[REPS];
	unsigned char src[64], dst[64];
	unsigned r, i;

	fill(src, sizeof(src), 13);
	for (r = 0; r < REPS + 1; r++) {
		for (i = 0; i < N; i++) {
			struct vdm_operation_future f;
			uint64_t t0;

			dst[0] = dst[63] = (unsigned char)~src[0];
			t0 = now_ns();
			f = vdm_memcpy(vdm, dst, src, sizeof(src), 0);
			runtime_wait(rt, FUTURE_AS_RUNNABLE(&f));
			lat[i] = (double)(now_ns() - t0) / 1e3;
			if (!succeeded(&f) || dst[0] != src[0] ||
					dst[63] != src[63])
				die("round trip content");
		}
		if (r == 0)
			continue;
		p50[r - 1] = percentile(lat, N, 0.5);
		p99[r - 1] = percentile(lat, N, 0.99);
	}
	{
		double a = median(p50, REPS), b = median(p99, REPS);

		report("roundtrip_64B_p50", a, "us", plain64 / (a * 1e3));
		report("roundtrip_64B_p99", b, "us", plain64 / (b * 1e3));
	}
}

int
main(void)
{
	struct runtime *rt = runtime_new();
	struct data_mover_sync *dms = data_mover_sync_new();
	struct data_mover_threads *two =
		data_mover_threads_new(2, 128, FUTURE_NOTIFIER_WAKER);
	struct data_mover_threads *def = data_mover_threads_default();
	struct vdm *sync_vdm, *two_vdm, *def_vdm;
	double p64, p4k;

	if (rt == NULL || dms == NULL || two == NULL || def == NULL)
		die("cannot create the runtime or the movers");
	sync_vdm = data_mover_sync_get_vdm(dms);
	two_vdm = data_mover_threads_get_vdm(two);
	def_vdm = data_mover_threads_get_vdm(def);

	p64 = plain_copy_ns(64, 200000);
	p4k = plain_copy_ns(4096, 100000);
	report("plain_memcpy_64B", p64, "ns/op", 1.0);
	report("plain_memcpy_4KiB", p4k, "ns/op", 1.0);
	sync_section(sync_vdm, rt);
	if (getenv("BENCH_SYNC_ONLY") != NULL) {
		data_mover_threads_delete(two);
		data_mover_threads_delete(def);
		data_mover_sync_delete(dms);
		runtime_delete(rt);
		return 0;
	}

	batches("wait", two_vdm, def_vdm, rt, 1);
	batches("busy", two_vdm, def_vdm, rt, 0);
	busy_vs_wait(two_vdm, rt);
	data_mover_threads_delete(two);

	big_copy(def_vdm, rt, 2);
	big_copy(def_vdm, rt, 4);
	big_copy(def_vdm, rt, 16);
	big_copy(def_vdm, rt, 64);
	round_trip(def_vdm, rt, p64);
	if (getenv("BENCH_NO_SWEEP") == NULL)
		sweep(sync_vdm, def_vdm, rt);

	data_mover_threads_delete(def);
	data_mover_sync_delete(dms);
	runtime_delete(rt);
	return 0;
}
