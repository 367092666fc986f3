/* bench_dsa_hw.c - the DSA mover on real Intel DSA hardware, through the
 * public API only (no test hooks, no emulator): the figures that bench_dsa.c,
 * which runs on the test emulator, cannot give.
 *
 * Sections (all by default; name some to run only those):
 *   bw        one copy at a time, 4 KiB .. 64 MiB (BENCH_DSA_HW_MAX caps it,
 *             K / M / G suffixes), each waited with runtime_wait: wall time
 *             per copy and GB/s of the device alone (cpu_threshold 1, hybrid
 *             split off), of the defaults (CPU+DSA hybrid split from 2 MiB)
 *             and of plain memcpy. Below 1 MiB a sample is up to 64 copies
 *             to consecutive slots. The destination is cleared before a
 *             sample (small ones start warm in the caches) and checked after.
 *             Untimed copies first (16 from 2 MiB: the split's measured CPU
 *             share settles)
 *   cost      CPU time per operation of the submitting thread (its
 *             CLOCK_THREAD_CPUTIME_ID, waiting included; not the mover's
 *             monitor), 64 B .. 64 KiB, 32 in flight through
 *             runtime_wait_multiple, cpu_threshold 1, one by one (batch_max
 *             1) or coalesced (batch_max 0, the default); and ops/s
 *             (wall); then each mover's descriptors and batches per WQ
 *             (data_mover_dsa_get_wq_info: were they coalesced?)
 *   spread    256 KiB copies, 32 in flight, on the mover's first WQ alone
 *             (config wqs) and on all it opens (wqs NULL): GB/s, and each
 *             WQ's descriptors (data_mover_dsa_get_wq_info); skipped with
 *             fewer than two
 *   latency   one 4 KiB copy at a time through runtime_wait (cpu_threshold
 *             1), 1000 times: p50 and p99 wall time; the same for the sync
 *             mover's memcpy
 *
 * Every copy is content-checked and must give VDM_SUCCESS (else exit 1).
 * Every value is the median of BENCH_DSA_REPS runs (default 5, at most 15).
 * Line format: `name value unit ratio what`, `what` saying what ratio is:
 *   x_memcpy      plain memcpy of the same buffers in this run / value for
 *                 costs (CPU ns, time), value / memcpy for throughput: above
 *                 1 is better than memcpy
 *   of_onebyone   value / the same submitted one by one (CPU: the coalescing
 *                 target is <= 0.3; ops/s: above 1 is better)
 *   x_1wq         value / the same on the first WQ alone
 *   x_sync        the sync mover's figure (runtime_wait around a CPU
 *                 memcpy) / value: above 1 is faster than it
 *
 * Issue 14 on hardware: bw gives a device's bandwidth for one stream (and
 * what the hybrid split adds), cost the CPU per operation coalesced vs one
 * by one (target <= 0.3) and, in dsa_hw_ops_onebyone_*, the descriptors per
 * second one thread submits, spread the scaling over WQs (over devices when
 * they are on several: a device's WQs share its engines), latency a lone
 * small copy's wall time. Under the emulator (tests/dsa_emu_run) it runs
 * unchanged, but the figures mean nothing: that only proves it works.
 *
 * Needs a DSA WQ the caller may open (usually root); exits 77 with a SKIP
 * line otherwise. Built by meson with the DSA mover; by hand:
 *   cc -O2 -std=c11 -DMINIASYNC_DSA=1 -I. bench/bench_dsa_hw.c \
 *      -o bench_dsa_hw -laccel-config -pthread
 * Usage: sudo ./build/bench/bench_dsa_hw [bw] [cost] [spread] [latency]
 * Emulated: sudo BENCH_DSA_HW_MAX=4M build/tests/dsa_emu_run -v
 * build/bench/bench_dsa_hw (-m, the untraced portal, needs a CPU with
 * MOVDIR64B: without it the mover uses write(), see bench/meson.build). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* the thread CPU clock under -std=c11 */
#endif
#define MINIASYNC_IMPLEMENTATION
#include "miniasync.h"

#include "bench_util.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define QD 32
#define MAXREPS 15
#define LAT_N 1000
#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define TIMEOUT_NS 60000000000ull /* 60 s: only a broken device needs it */

static int reps = 5;
static size_t max_bytes = 64 * MiB;
static struct runtime *rt;

static void
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "bench_dsa_hw: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

/* src: a never-zero pattern (a cleared destination never matches it);
 * both faulted in */
static void
buffers(unsigned char **dst, unsigned char **src, size_t n)
{
	size_t i;

	*dst = page_alloc(n);
	*src = page_alloc(n);
	if (*dst == NULL || *src == NULL)
		die("out of memory (2 x %zu bytes)", n);
	for (i = 0; i < n; i++)
		(*src)[i] = (unsigned char)(i % 251 + 1);
	memset(*dst, 0, n);
}

static void
verify(const unsigned char *dst, const unsigned char *src, size_t n,
	const char *what)
{
	if (memcmp(dst, src, n) != 0)
		die("%s: the destination does not match the source (%zu bytes)",
			what, n);
}

static void
check(struct vdm_operation_future *f, int n, const char *what)
{
	int i;

	for (i = 0; i < n; i++)
		if (FUTURE_OUTPUT(&f[i])->result != VDM_SUCCESS)
			die("%s: an operation failed: %s", what,
				vdm_result_str(FUTURE_OUTPUT(&f[i])->result));
}

/* every usable WQ (mode ANY), or only those of wqs; 0 thresholds are the
 * defaults. NULL (the reason in data_mover_dsa_last_error_str()) unless
 * `must`, which exits then. */
static struct data_mover_dsa *
mover(size_t cpu_threshold, size_t hybrid_threshold, unsigned batch_max,
	const char *wqs, int must)
{
	struct data_mover_dsa_config cfg;
	struct data_mover_dsa *d;

	memset(&cfg, 0, sizeof(cfg));
	cfg.cpu_threshold = cpu_threshold;
	cfg.hybrid_threshold = hybrid_threshold;
	cfg.batch_max = batch_max;
	cfg.wqs = wqs;
	cfg.timeout_ns = TIMEOUT_NS;
	if ((d = data_mover_dsa_new(&cfg)) == NULL && must)
		die("data_mover_dsa_new: %s", data_mover_dsa_last_error_str());
	return d;
}

/* the mover's WQs (data_mover_dsa_get_wq_info), with what it did on each */
static void
print_wqs(struct data_mover_dsa *d, const char *what)
{
	static const char *const how[] = { "MOVDIR64B", "ENQCMD", "write()" };
	size_t i, n = data_mover_dsa_wq_count(d);

	for (i = 0; i < n; i++) {
		struct data_mover_dsa_wq_info in;

		if (data_mover_dsa_get_wq_info(d, i, &in) != 0)
			die("data_mover_dsa_get_wq_info failed");
		printf("# %s: %s/%s, %s, node %d, %s, %u entries, %llu "
			"descriptors (%llu batches), %llu MiB, %llu page "
			"faults\n", what,
			in.device, in.wq, in.dedicated ? "dedicated" : "shared",
			in.numa_node, how[in.submit], in.size,
			(unsigned long long)in.descriptors,
			(unsigned long long)in.batches,
			(unsigned long long)(in.bytes >> 20),
			(unsigned long long)in.page_faults);
	}
}

/* one copy through runtime_wait (vdm NULL: plain memcpy) */
static void
copy1(struct vdm *vdm, unsigned char *dst, unsigned char *src, size_t n)
{
	struct vdm_operation_future f;

	if (vdm == NULL) {
		memcpy(dst, src, n);
		return;
	}
	f = vdm_memcpy(vdm, dst, src, n, 0);
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&f));
	check(&f, 1, "a copy");
}

/* QD copies of n bytes to consecutive slots, waited together (vdm NULL:
 * plain memcpy) */
static void
copy_qd(struct vdm *vdm, unsigned char *dst, unsigned char *src, size_t n)
{
	struct vdm_operation_future f[QD];
	struct future *ff[QD];
	int i;

	for (i = 0; i < QD; i++) {
		if (vdm == NULL) {
			memcpy(dst + i * n, src + i * n, n);
			continue;
		}
		f[i] = vdm_memcpy(vdm, dst + i * n, src + i * n, n, 0);
		ff[i] = FUTURE_AS_RUNNABLE(&f[i]);
	}
	if (vdm != NULL) {
		runtime_wait_multiple(rt, ff, QD);
		check(f, QD, "32 in flight");
	}
}

/* ---- bw: one copy at a time ---- */

static const size_t bw_sizes[] = { 4 * KiB, 64 * KiB, 1 * MiB, 4 * MiB,
	16 * MiB, 64 * MiB };
#define NBW (sizeof(bw_sizes) / sizeof(bw_sizes[0]))

/* wall ns per copy: `iters` copies of n bytes, one at a time, checked */
static double
bw_sample(struct vdm *vdm, unsigned char *dst, unsigned char *src, size_t n,
	size_t iters)
{
	uint64_t t0, t;
	size_t i;

	memset(dst, 0, n * iters);
	t0 = now_ns();
	for (i = 0; i < iters; i++)
		copy1(vdm, dst + i * n, src + i * n, n);
	t = now_ns() - t0;
	verify(dst, src, n * iters, vdm ? "bw" : "bw memcpy");
	return (double)t / (double)iters;
}

static void
bench_bw(void)
{
	static const char *const kind[3] = { "dev", "hybrid", "memcpy" };
	double t[3][NBW], v[MAXREPS];
	size_t nsz = 0, len = MiB, s, k;
	unsigned char *src, *dst;

	while (nsz < NBW && bw_sizes[nsz] <= max_bytes)
		nsz++;
	if (nsz == 0) {
		printf("# bw: BENCH_DSA_HW_MAX is below 4 KiB, skipped\n");
		return;
	}
	if (bw_sizes[nsz - 1] > len)
		len = bw_sizes[nsz - 1];
	buffers(&dst, &src, len);
	for (k = 0; k < 3; k++) {
		/* one mover at a time: a dedicated WQ has one opener */
		struct data_mover_dsa *d = k == 2 ? NULL : k == 0 ?
			mover(1, SIZE_MAX, 0, NULL, 1) :
			mover(0, 0, 0, NULL, 1);
		struct vdm *vdm = d ? data_mover_dsa_get_vdm(d) : NULL;

		for (s = 0; s < nsz; s++) {
			size_t n = bw_sizes[s], it = n < MiB ? MiB / n : 1;
			int r, warm = n >= 2 * MiB ? 16 : 2;

			it = it > 64 ? 64 : it;
			while (warm-- > 0)
				bw_sample(vdm, dst, src, n, 1);
			for (r = 0; r < reps; r++)
				v[r] = bw_sample(vdm, dst, src, n, it);
			t[k][s] = median(v, (size_t)reps);
		}
		data_mover_dsa_delete(d);
	}
	for (s = 0; s < nsz; s++) {
		char nm[16], name[64];

		bench_size_name(bw_sizes[s], nm, sizeof(nm));
		for (k = 0; k < 6; k++) {
			double x = t[k % 3][s];

			snprintf(name, sizeof(name), "dsa_hw_%s_%s_%s",
				k < 3 ? "bw" : "time", kind[k % 3], nm);
			bench_line(name,
				k < 3 ? (double)bw_sizes[s] / x : x / 1e3,
				k < 3 ? "GB/s" : "us", t[2][s] / x, "x_memcpy");
		}
	}
	free(src);
	free(dst);
}

/* ---- cost: CPU per operation, one by one vs coalesced ---- */

static const size_t cost_sizes[] = { 64, 256, 1 * KiB, 4 * KiB, 16 * KiB,
	64 * KiB };
#define NCOST (sizeof(cost_sizes) / sizeof(cost_sizes[0]))

/* `rounds` of QD copies of n bytes: CPU ns and wall ns per operation */
static void
cost_sample(struct vdm *vdm, unsigned char *dst, unsigned char *src,
	size_t n, int rounds, double *cpu, double *wall)
{
	uint64_t c0, t0;
	int k;

	memset(dst, 0, QD * n);
	c0 = bench_cpu_ns();
	t0 = now_ns();
	for (k = 0; k < rounds; k++)
		copy_qd(vdm, dst, src, n);
	*wall = (double)(now_ns() - t0) / ((double)rounds * QD);
	*cpu = (double)(bench_cpu_ns() - c0) / ((double)rounds * QD);
	verify(dst, src, QD * n, vdm ? "cost" : "cost memcpy");
}

static void
bench_cost(void)
{
	static const char *const kind[3] = { "memcpy", "onebyone",
		"coalesced" };
	double c[3][NCOST], w[3][NCOST], vc[MAXREPS], vw[MAXREPS];
	unsigned char *src, *dst;
	size_t s, k;

	buffers(&dst, &src, QD * 64 * KiB);
	for (k = 0; k < 3; k++) {
		struct data_mover_dsa *d = k == 0 ? NULL :
			mover(1, SIZE_MAX, k == 1 ? 1 : 0, NULL, 1);
		struct vdm *vdm = d ? data_mover_dsa_get_vdm(d) : NULL;

		for (s = 0; s < NCOST; s++) {
			size_t n = cost_sizes[s];
			int r, rounds = n >= 16 * KiB ? 40 : 100;

			/* warm */
			cost_sample(vdm, dst, src, n, 1, &vc[0], &vw[0]);
			for (r = 0; r < reps; r++)
				cost_sample(vdm, dst, src, n, rounds, &vc[r],
					&vw[r]);
			c[k][s] = median(vc, (size_t)reps);
			w[k][s] = median(vw, (size_t)reps);
		}
		if (d != NULL) /* did they go as batches? */
			print_wqs(d, kind[k]);
		data_mover_dsa_delete(d);
	}
	for (s = 0; s < NCOST; s++) {
		char nm[16], name[64];

		bench_size_name(cost_sizes[s], nm, sizeof(nm));
		for (k = 0; k < 3; k++) {
			snprintf(name, sizeof(name), "dsa_hw_cpu_%s_%s",
				kind[k], nm);
			bench_line(name, c[k][s], "ns_cpu",
				k < 2 ? c[0][s] / c[k][s] : c[2][s] / c[1][s],
				k < 2 ? "x_memcpy" : "of_onebyone");
		}
		for (k = 0; k < 3; k++) {
			snprintf(name, sizeof(name), "dsa_hw_ops_%s_%s",
				kind[k], nm);
			bench_line(name, 1e3 / w[k][s], "M_ops/s", k < 2 ?
				w[0][s] / w[k][s] : w[1][s] / w[2][s],
				k < 2 ? "x_memcpy" : "of_onebyone");
		}
	}
	free(src);
	free(dst);
}

/* ---- spread: one WQ vs all ---- */

#define SPREAD_OP (256 * KiB)
#define SPREAD_ROUNDS 8 /* 8 x 32 x 256 KiB = 64 MiB a sample */

static double
spread_gbs(const char *wqs, unsigned char *dst, unsigned char *src)
{
	struct data_mover_dsa *d = mover(1, SIZE_MAX, 0, wqs, 1);
	struct vdm *vdm = data_mover_dsa_get_vdm(d);
	double v[MAXREPS];
	int r, k;

	copy_qd(vdm, dst, src, SPREAD_OP); /* warm */
	for (r = 0; r < reps; r++) {
		uint64_t t0;

		memset(dst, 0, QD * SPREAD_OP);
		t0 = now_ns();
		for (k = 0; k < SPREAD_ROUNDS; k++)
			copy_qd(vdm, dst, src, SPREAD_OP);
		v[r] = (double)(now_ns() - t0);
		verify(dst, src, QD * SPREAD_OP, "spread");
	}
	print_wqs(d, wqs == NULL ? "spread, all" : "spread, one");
	data_mover_dsa_delete(d);
	return (double)SPREAD_ROUNDS * QD * SPREAD_OP / median(v, (size_t)reps);
}

static void
bench_spread(void)
{
	struct data_mover_dsa *d = mover(1, SIZE_MAX, 0, NULL, 1);
	struct data_mover_dsa_wq_info first;
	unsigned char *src, *dst;
	size_t n = data_mover_dsa_wq_count(d);
	double g1, gall;
	char name[64];

	if (data_mover_dsa_get_wq_info(d, 0, &first) != 0)
		die("data_mover_dsa_get_wq_info failed");
	data_mover_dsa_delete(d);
	if (n < 2) {
		printf("# spread: one WQ only, skipped\n");
		return;
	}
	buffers(&dst, &src, QD * SPREAD_OP);
	g1 = spread_gbs(first.wq, dst, src);
	gall = spread_gbs(NULL, dst, src);
	printf("# spread: 1 WQ = %s, all = %zu WQs (the mover prefers "
		"those on the destination's node, then the caller's)\n",
		first.wq, n);
	bench_line("dsa_hw_spread_1wq", g1, "GB/s", 1.0, "x_1wq");
	snprintf(name, sizeof(name), "dsa_hw_spread_%zuwq", n);
	bench_line(name, gall, "GB/s", gall / g1, "x_1wq");
	free(src);
	free(dst);
}

/* ---- latency: one 4 KiB copy at a time ---- */

static void
lat_sample(struct vdm *vdm, unsigned char *dst, unsigned char *src,
	double *p50, double *p99)
{
	static double v[LAT_N];
	int i;

	for (i = 0; i < LAT_N; i++) {
		size_t off = (size_t)(i % 64) * 4 * KiB; /* 64 slots */
		uint64_t t0;

		memset(dst + off, 0, 4 * KiB);
		t0 = now_ns();
		copy1(vdm, dst + off, src + off, 4 * KiB);
		v[i] = (double)(now_ns() - t0);
		verify(dst + off, src + off, 4 * KiB, "latency");
	}
	*p50 = median(v, LAT_N) / 1e3; /* (sorts v) */
	*p99 = v[LAT_N * 99 / 100] / 1e3;
}

static void
bench_latency(void)
{
	struct data_mover_dsa *d = mover(1, SIZE_MAX, 0, NULL, 1);
	struct data_mover_sync *sy = data_mover_sync_new();
	double p[2][2], v50[MAXREPS], v99[MAXREPS];
	unsigned char *src, *dst;
	int k, r;

	if (sy == NULL)
		die("data_mover_sync_new failed");
	buffers(&dst, &src, 64 * 4 * KiB);
	for (k = 0; k < 2; k++) {
		struct vdm *vdm = k == 0 ? data_mover_dsa_get_vdm(d) :
			data_mover_sync_get_vdm(sy);

		copy1(vdm, dst, src, 4 * KiB); /* warm */
		for (r = 0; r < reps; r++)
			lat_sample(vdm, dst, src, &v50[r], &v99[r]);
		p[k][0] = median(v50, (size_t)reps);
		p[k][1] = median(v99, (size_t)reps);
	}
	bench_line("dsa_hw_lat_p50_4K", p[0][0], "us", p[1][0] / p[0][0],
		"x_sync");
	bench_line("dsa_hw_lat_p99_4K", p[0][1], "us", p[1][1] / p[0][1],
		"x_sync");
	bench_line("dsa_hw_lat_sync_p50_4K", p[1][0], "us", 1.0, "x_sync");
	bench_line("dsa_hw_lat_sync_p99_4K", p[1][1], "us", 1.0, "x_sync");
	data_mover_dsa_delete(d);
	data_mover_sync_delete(sy);
	free(src);
	free(dst);
}

/* ---- main ---- */

static const struct {
	const char *name;
	void (*run)(void);
} sections[] = {
	{ "bw", bench_bw }, { "cost", bench_cost },
	{ "spread", bench_spread }, { "latency", bench_latency },
};
#define NSECT (sizeof(sections) / sizeof(sections[0]))

int
main(int argc, char **argv)
{
	const char *e = getenv("BENCH_DSA_REPS");
	struct data_mover_dsa *d;
	int want[NSECT], i;
	size_t k;

	for (k = 0; k < NSECT; k++)
		want[k] = argc < 2;
	for (i = 1; i < argc; i++) {
		for (k = 0; k < NSECT && strcmp(argv[i], sections[k].name); k++)
			;
		if (k == NSECT) {
			fprintf(stderr, "usage: %s [bw] [cost] [spread] "
				"[latency]\n", argv[0]);
			return 2;
		}
		want[k] = 1;
	}
	if (e != NULL) {
		reps = atoi(e);
		reps = reps < 1 ? 1 : reps > MAXREPS ? MAXREPS : reps;
	}
	if ((e = getenv("BENCH_DSA_HW_MAX")) != NULL) {
		char *end;
		unsigned long long v = strtoull(e, &end, 0);
		int sh = *end == 'K' || *end == 'k' ? 10 : *end == 'M' ||
			*end == 'm' ? 20 : *end == 'G' || *end == 'g' ? 30 : 0;

		if (end == e || end[sh != 0] != '\0')
			die("BENCH_DSA_HW_MAX: not a size: \"%s\"", e);
		max_bytes = (size_t)(v << sh);
	}

	d = mover(0, 0, 0, NULL, 0); /* the defaults on every WQ */
	if (d == NULL) {
		fprintf(stderr, "SKIP bench_dsa_hw: no DSA device: %s\n",
			data_mover_dsa_last_error_str());
		return 77;
	}
	printf("# bench_dsa_hw: medians of %d runs, bw up to %zu bytes; "
		"the WQs a mover opens:\n", reps, max_bytes);
	print_wqs(d, "WQ");
	data_mover_dsa_delete(d);
	if ((rt = runtime_new()) == NULL)
		die("runtime_new failed");
	for (k = 0; k < NSECT; k++)
		if (want[k])
			sections[k].run();
	runtime_delete(rt);
	return 0;
}
