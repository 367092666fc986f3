/* bench_dsa.c - the DSA mover on the test emulator (tests/dsa_emu.c): the
 * CPU it costs per descriptor and per operation, batch coalescing, spreading
 * over devices, the CPU+DSA hybrid split. The emulator is software, so only
 * what the mover costs the submitting thread, and how it shares work out,
 * mean something here; bandwidths are the emulator's (see bench/RESULTS.md,
 * "DSA at node scale", for what hardware should reach).
 *
 * Sections (all by default; name some to run only those):
 *   desc      CPU ns of one 4 KiB descriptor: submit (create + first poll,
 *             device paused, 32 at a time) and reap (the poll that finds the
 *             record written), portal (MOVDIR64B) and write() paths
 *   cost      CPU ns per operation, 64 B .. 64 KiB, 32 in flight through
 *             runtime_wait_multiple, submitted one by one (batch_max = 1)
 *             or coalesced (batch_max = 0, the default); descriptors per
 *             operation from the emulator's counts. dsa_cpu_* include the
 *             waiting (runtime passes that poll while the emulator works,
 *             sleeps and wake-ups: they follow the emulator's speed);
 *             dsa_mover_* are the mover's own CPU: the 32 starts, then,
 *             once the device is done, the polls that reap them (the
 *             timer's own cost taken off, see dsa_timer_phase; *_raw
 *             leave it in);
 *             dsa_naps_* how often runtime_wait_multiple went to sleep
 *             (futex) per operation: each is a wake-up to come, a spin
 *             before it and a pass over the futures after it
 *   spread    256 KiB copies, 32 in flight, over 1, 2 and 4 emulated
 *             devices of 250 MB/s each: throughput and each device's share
 *   hybrid    one 4 / 16 / 64 MiB copy on a 2 GB/s device, hybrid split
 *             on (the defaults) and off: time and the CPU's share
 *   latency   one 4 KiB copy at a time through runtime_wait, the device
 *             taking 0, 5, 20, 50, 200 us per descriptor: wall time per
 *             operation (how long after the device is done the caller
 *             goes on), the caller's CPU and the mover's monitor's CPU;
 *             BENCH_DSA_PIN=1 keeps the emulator's threads off the CPU of
 *             the caller and the monitor
 *
 * CPU time is CLOCK_THREAD_CPUTIME_ID of the submitting thread (the
 * emulator's threads and the mover's monitor are not counted). The
 * emulator runs with no_record_check: like hardware, it never reads a
 * completion record (since 2026-12-03; free DSA figures from before paid a
 * miss per coalesced member for that read, see bench/RESULTS.md). For
 * `cost` it also runs with no_cache_fill: its copies fill no CPU's private
 * caches, as a device's do not (since 2026-12-03; pinned to one CPU, its
 * copies of 16 / 64 KiB evicted the caller's state before;
 * BENCH_DSA_CACHE_FILL=1 runs it the old way). Every value
 * is the median of BENCH_DSA_REPS runs (default 5) inside one run of the
 * program. Line format: `name value unit ratio what`, where `what` says
 * what the ratio is:
 *   x_memcpy      plain memcpy of the same buffers in this run / value for
 *                 costs (CPU ns, time), value / memcpy for throughput: above
 *                 1 is better than memcpy
 *   of_onebyone   value / the same figure submitted one by one (coalescing
 *                 target: CPU per operation <= 0.3)
 *   x_1dev        value / the same with one device
 *   x_even        a device's share of the bytes x number of devices
 *                 (1 = evenly spread)
 *   of_off        value / the same with the hybrid split off
 *   of_delay      wall time / the device's time per descriptor
 *   of_wall       CPU time / wall time (1 = a core busy throughout)
 *   of_ideal      the CPU's share of a split copy / the share in proportion
 *                 to throughput (memcpy alone vs device alone, this run)
 *   subtracted    dsa_timer_phase: what one timed phase counts of the CPU
 *                 clock's own system call (median of empty phases, this
 *                 run); dsa_desc_* and dsa_mover_* (32 operations a phase)
 *                 have it taken off
 * Needs root (a private mount namespace for the emulated devices): exits
 * 77 otherwise. Built by meson when the DSA mover is (bench/meson.build);
 * by hand, from the repository root:
 *   cc -O2 -std=gnu11 -DMINIASYNC_DSA=1 -I. -Itests bench/bench_dsa.c \
 *      tests/dsa_emu.c -o bench_dsa -laccel-config -pthread
 * Usage: bench_dsa [desc] [cost] [spread] [hybrid] [latency] */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
/* the runtime's sleeps (its test hook): cost counts them per operation */
static unsigned long bench_naps;
#define MASYNC__RT_ON_NAP(ns) ((void)(ns), bench_naps++)
/* the MOVDIR64B hook: a stand-in where the CPU lacks the instruction (a
 * NULL check where it has it) */
#define MASYNC__TEST_HOOKS 1
#define MINIASYNC_IMPLEMENTATION
#include "miniasync.h"

#include "bench_util.h"
#include "dsa_emu.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define QD 32
#define MAXREPS 15

/* libaccel-config's leaks are suppressed in dsa_emu.c: no LSan summary */
const char *__lsan_default_options(void);
const char *
__lsan_default_options(void)
{
	return "print_suppressions=0";
}

static int reps = 5;

/* A thread's CPU clock is a system call, not a vDSO read: a timed phase
 * counts about one call of it (1.4-1.6 us on the project's VM, ~45 ns an
 * operation when a phase is 32 operations). The per-phase figures
 * (dsa_desc_*, dsa_mover_*) take it off: the median of empty phases,
 * measured in the same run (printed as dsa_timer_phase). */
static double timer_phase;

static void
measure_timer_phase(void)
{
	double v[101];
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint64_t c0 = bench_cpu_ns();

		v[i] = (double)(bench_cpu_ns() - c0);
	}
	timer_phase = median(v, sizeof(v) / sizeof(v[0]));
}

static void
die(const char *what)
{
	fprintf(stderr, "bench_dsa: %s\n", what);
	exit(1);
}

static void *
xalloc(size_t n)
{
	void *p = page_alloc(n);

	if (p == NULL)
		die("out of memory");
	return p;
}

/* Under ThreadSanitizer (a run that checks, not measures; the header's
 * MASYNC__TSAN says) the emulator keeps its check of a record's status:
 * TSan's only happens-before edge from the client's writes to the
 * device's reads (see dsa_emu.h) */
#ifdef MASYNC__TSAN
#define BENCH_TSAN 1
#else
#define BENCH_TSAN 0
#endif

static struct dsa_emu *
emu_start(struct dsa_emu_config *ec)
{
	struct dsa_emu *emu;

	/* hardware never reads a completion record: neither does the
	 * emulator here (its check of a record's status would cost the mover
	 * a cache miss per batch member that hardware does not) */
	ec->no_record_check = !BENCH_TSAN;
	emu = dsa_emu_start(ec);

	if (emu == NULL)
		die("cannot start the emulator");
	if (!dsa_emu_cpu_movdir64b()) {
		/* without it the mover would use write(), which takes no
		 * batches and no regular-file portal: 64-byte stores stand in
		 * for it (the emulator reads the slot as it reads MOVDIR64B) */
		static int said;

		if (!said++)
			printf("# this CPU has no MOVDIR64B: 64-byte stores "
				"stand in for it\n");
		MASYNC__STORE(&masync__cpu_bits,
			masync__cpu() | MASYNC__CPU_MOVDIR64B, relaxed);
		MASYNC__STORE(&masync__test_movdir64b, dsa_emu_portal_store,
			release);
	}
	return emu;
}

static struct data_mover_dsa *
mover(struct data_mover_dsa_config *mc)
{
	struct data_mover_dsa *d;

	/* the emulator shares the CPUs with this program (and valgrind runs
	 * one thread at a time): an emulator kept off the CPU for the default
	 * 5 s is not a lost descriptor */
	if (mc->timeout_ns == 0)
		mc->timeout_ns = 600000000000ull;
	d = data_mover_dsa_new(mc);

	if (d == NULL)
		die(data_mover_dsa_last_error_str());
	return d;
}

/* CPU ns per memcpy of n bytes over the qd slots of src / dst */
static double
memcpy_cpu(unsigned char *dst, const unsigned char *src, size_t n, int qd,
	int rounds)
{
	double v[MAXREPS];
	int r, k, i;

	for (r = 0; r < reps; r++) {
		uint64_t c0 = bench_cpu_ns();

		for (k = 0; k < rounds; k++)
			for (i = 0; i < qd; i++)
				memcpy(dst + (size_t)i * n, src + (size_t)i * n, n);
		v[r] = (double)(bench_cpu_ns() - c0) / ((double)rounds * qd);
	}
	return median(v, (size_t)reps);
}

/* wall ns of one memcpy of n bytes */
static double
memcpy_wall(unsigned char *dst, const unsigned char *src, size_t n)
{
	double v[MAXREPS];
	int r;

	memcpy(dst, src, n); /* fault the pages in */
	for (r = 0; r < reps; r++) {
		uint64_t t0 = now_ns();

		memcpy(dst, src, n);
		v[r] = (double)(now_ns() - t0);
	}
	return median(v, (size_t)reps);
}

static void
check_ok(struct vdm_operation_future *f, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (FUTURE_OUTPUT(&f[i])->result != VDM_SUCCESS) {
			fprintf(stderr, "bench_dsa: an operation failed: %s\n",
				vdm_result_str(FUTURE_OUTPUT(&f[i])->result));
			exit(1);
		}
}

/* ---- desc: one descriptor's submit and reap ---- */

static void
bench_desc_path(int fifo, unsigned char *src, unsigned char *dst,
	double memcpy_ns)
{
	const size_t n = 4096;
	struct dsa_emu_config ec;
	struct data_mover_dsa_config mc;
	struct vdm_operation_future f[QD];
	struct future *ff[QD];
	struct dsa_emu *emu;
	struct data_mover_dsa *d;
	struct vdm *vdm;
	struct runtime *rt = runtime_new();
	const char *path = fifo ? "write" : "portal";
	double vs[MAXREPS], vr[MAXREPS];
	char name[64];
	int r, k, i;

	memset(&ec, 0, sizeof(ec));
	ec.fifo = fifo ? 1 : -1;
	emu = emu_start(&ec);
	memset(&mc, 0, sizeof(mc));
	mc.cpu_threshold = 1;
	mc.batch_max = 1; /* one descriptor per operation */
	d = mover(&mc);
	vdm = data_mover_dsa_get_vdm(d);
	for (r = 0; r < reps; r++) {
		uint64_t sub = 0, reap = 0;

		for (k = 0; k < 20; k++) {
			uint64_t c0;

			dsa_emu_reset_stats(emu);
			dsa_emu_pause(emu, -1, 1);
			c0 = bench_cpu_ns();
			for (i = 0; i < QD; i++) {
				f[i] = vdm_memcpy(vdm, dst + (size_t)i * n,
					src + (size_t)i * n, n, 0);
				if (future_poll(FUTURE_AS_RUNNABLE(&f[i]),
						NULL) != FUTURE_STATE_RUNNING)
					die("a descriptor was not submitted");
			}
			sub += bench_cpu_ns() - c0;
			dsa_emu_pause(emu, -1, 0);
			if (dsa_emu_wait_processed(emu, QD, 10000) != 0)
				die("the emulator did not finish");
			c0 = bench_cpu_ns();
			for (i = 0; i < QD; i++)
				if (future_poll(FUTURE_AS_RUNNABLE(&f[i]), NULL) !=
						FUTURE_STATE_COMPLETE)
					break;
			reap += bench_cpu_ns() - c0;
			for (i = 0; i < QD; i++)
				ff[i] = FUTURE_AS_RUNNABLE(&f[i]);
			runtime_wait_multiple(rt, ff, QD);
			check_ok(f, QD);
		}
		vs[r] = ((double)sub - 20.0 * timer_phase) / (20.0 * QD);
		vr[r] = ((double)reap - 20.0 * timer_phase) / (20.0 * QD);
	}
	snprintf(name, sizeof(name), "dsa_desc_submit_%s_4K", path);
	double s = median(vs, (size_t)reps);
	bench_line(name, s, "ns_cpu", memcpy_ns / s, "x_memcpy");
	snprintf(name, sizeof(name), "dsa_desc_reap_%s_4K", path);
	s = median(vr, (size_t)reps);
	bench_line(name, s, "ns_cpu", memcpy_ns / s, "x_memcpy");
	data_mover_dsa_delete(d);
	dsa_emu_stop(emu);
	runtime_delete(rt);
}

static void
bench_desc(void)
{
	unsigned char *src = xalloc((size_t)QD * 4096);
	unsigned char *dst = xalloc((size_t)QD * 4096);
	double m;

	memset(src, 1, (size_t)QD * 4096);
	memset(dst, 0, (size_t)QD * 4096);
	m = memcpy_cpu(dst, src, 4096, QD, 200);
	bench_line("dsa_desc_memcpy_4K", m, "ns_cpu", 1.0, "x_memcpy");
	bench_desc_path(0, src, dst, m);
	bench_desc_path(1, src, dst, m);
	free(src);
	free(dst);
}

/* ---- cost: CPU per operation, one by one vs coalesced ---- */

/* rounds of QD operations of n bytes through runtime_wait_multiple:
 * CPU ns per operation; *desc = top-level descriptors per operation,
 * *naps = the runtime's sleeps per operation */
static double
run_qd(struct dsa_emu *emu, struct runtime *rt, struct vdm *vdm,
	unsigned char *dst, const unsigned char *src, size_t n, int rounds,
	double *desc, double *naps)
{
	struct vdm_operation_future f[QD];
	struct future *ff[QD];
	double v;
	int k, i;

	{
		struct dsa_emu_stats st;
		uint64_t c0;

		memset(dst, 0, (size_t)QD * n);
		dsa_emu_reset_stats(emu);
		bench_naps = 0;
		c0 = bench_cpu_ns();
		for (k = 0; k < rounds; k++) {
			for (i = 0; i < QD; i++) {
				f[i] = vdm_memcpy(vdm, dst + (size_t)i * n,
					(void *)(src + (size_t)i * n), n, 0);
				ff[i] = FUTURE_AS_RUNNABLE(&f[i]);
			}
			runtime_wait_multiple(rt, ff, QD);
			check_ok(f, QD);
		}
		v = (double)(bench_cpu_ns() - c0) / ((double)rounds * QD);
		*naps = (double)bench_naps / ((double)rounds * QD);
		if (memcmp(dst, src, (size_t)QD * n) != 0)
			die("content check failed");
		/* every descriptor was processed before its future completed */
		dsa_emu_get_stats(emu, -1, &st);
		*desc = (double)st.received / ((double)rounds * QD);
	}
	return v;
}

/* the mover's own CPU per operation, apart from any waiting: QD starts
 * (create + first poll, then one more poll of the first, which submits a
 * pending batch) and, once the device has written every record, the polls
 * that reap them (the device paused while they are submitted) */
static double
run_mover(struct dsa_emu *emu, struct vdm *vdm, unsigned char *dst,
	const unsigned char *src, size_t n, int rounds, double *raw)
{
	struct vdm_operation_future f[QD];
	uint64_t cpu = 0;
	int k, i;

	for (k = 0; k < rounds; k++) {
		struct dsa_emu_stats a, b;
		uint64_t c0;
		int left = QD;

		/* paused, as in bench_desc: the emulator's thread does not
		 * race the submissions for the portal and the records */
		dsa_emu_pause(emu, -1, 1);
		c0 = bench_cpu_ns();
		for (i = 0; i < QD; i++) {
			f[i] = vdm_memcpy(vdm, dst + (size_t)i * n,
				(void *)(src + (size_t)i * n), n, 0);
			future_poll(FUTURE_AS_RUNNABLE(&f[i]), NULL);
		}
		future_poll(FUTURE_AS_RUNNABLE(&f[0]), NULL);
		cpu += bench_cpu_ns() - c0;
		dsa_emu_pause(emu, -1, 0);
		/* not counted: until the device is quiet (all it received
		 * completed, twice in a row 100 us apart) */
		dsa_emu_get_stats(emu, -1, &a);
		for (;;) {
			struct timespec ts = { 0, 100000 };

			nanosleep(&ts, NULL);
			dsa_emu_get_stats(emu, -1, &b);
			if (b.processed == b.received &&
					b.received == a.received)
				break;
			a = b;
		}
		/* the counts lead the records: give them 1 ms, then one timed
		 * pass (clock_gettime of the thread's CPU time is a system
		 * call: never once per poll); a future still running then is
		 * polled untimed until done (it was waiting, not working) */
		{
			struct timespec ts = { 0, 1000000 };

			nanosleep(&ts, NULL);
		}
		c0 = bench_cpu_ns();
		for (i = 0; i < QD; i++)
			future_poll(FUTURE_AS_RUNNABLE(&f[i]), NULL);
		cpu += bench_cpu_ns() - c0;
		while (left > 0)
			for (i = 0, left = 0; i < QD; i++)
				if (future_poll(FUTURE_AS_RUNNABLE(&f[i]),
						NULL) != FUTURE_STATE_COMPLETE)
					left++;
		check_ok(f, QD);
	}
	if (memcmp(dst, src, (size_t)QD * n) != 0)
		die("content check failed");
	*raw = (double)cpu / ((double)rounds * QD);
	/* two timed phases a round */
	return ((double)cpu - 2.0 * rounds * timer_phase) /
		((double)rounds * QD);
}

static void
bench_cost(void)
{
	static const size_t sizes[] = { 64, 256, 1024, 4096, 16384, 65536 };
	const size_t maxn = 65536;
	unsigned char *src = xalloc((size_t)QD * maxn);
	unsigned char *dst = xalloc((size_t)QD * maxn);
	struct dsa_emu_config ec;
	struct data_mover_dsa_config mc;
	struct data_mover_dsa *one, *co;
	struct dsa_emu *emu;
	struct runtime *rt = runtime_new();
	size_t s, i;

	for (i = 0; i < (size_t)QD * maxn; i++)
		src[i] = (unsigned char)(i * 131u + (i >> 12));
	memset(&ec, 0, sizeof(ec));
	ec.fifo = -1;
	/* the emulator's copies leave the caches as a device's do: pinned,
	 * it shares the caller's L1 / L2, which hardware never touches */
	ec.no_cache_fill = getenv("BENCH_DSA_CACHE_FILL") == NULL;
	ec.nwqs = 2; /* a dedicated WQ has one opener: one for each mover */
	emu = emu_start(&ec);
	memset(&mc, 0, sizeof(mc));
	mc.cpu_threshold = 1;      /* every size goes to the device */
	mc.hybrid_threshold = SIZE_MAX;
	mc.batch_max = 1;
	mc.wq = "wq0.0";
	one = mover(&mc);
	mc.batch_max = 0;          /* the default: the WQ's max_batch_size */
	mc.wq = "wq0.1";
	co = mover(&mc);
	for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		size_t n = sizes[s];
		int rounds = n >= 16384 ? 40 : 100;
		double m, c1, c2, d1, d2, v1[MAXREPS], v2[MAXREPS];
		double w1[MAXREPS], w2[MAXREPS], u1[MAXREPS], u2[MAXREPS];
		double x1[MAXREPS], x2[MAXREPS];
		double z1[MAXREPS], z2[MAXREPS];
		double m1, m2, n1, n2;
		char nm[16], name[64];
		int r;

		bench_size_name(n, nm, sizeof(nm));
		m = memcpy_cpu(dst, src, n, QD, rounds * 4);
		/* interleaved, alternating which goes first: same noise */
		for (r = 0; r < reps; r++) {
			if (r % 2 == 0)
				v1[r] = run_qd(emu, rt, data_mover_dsa_get_vdm(one),
					dst, src, n, rounds, &w1[r], &z1[r]);
			v2[r] = run_qd(emu, rt, data_mover_dsa_get_vdm(co), dst,
				src, n, rounds, &w2[r], &z2[r]);
			if (r % 2 == 1)
				v1[r] = run_qd(emu, rt, data_mover_dsa_get_vdm(one),
					dst, src, n, rounds, &w1[r], &z1[r]);
			u1[r] = run_mover(emu, data_mover_dsa_get_vdm(one),
				dst, src, n, rounds / 4, &x1[r]);
			u2[r] = run_mover(emu, data_mover_dsa_get_vdm(co),
				dst, src, n, rounds / 4, &x2[r]);
		}
		m1 = median(u1, (size_t)reps);
		m2 = median(u2, (size_t)reps);
		c1 = median(v1, (size_t)reps);
		c2 = median(v2, (size_t)reps);
		d1 = median(w1, (size_t)reps);
		d2 = median(w2, (size_t)reps);
		n1 = median(z1, (size_t)reps);
		n2 = median(z2, (size_t)reps);
		snprintf(name, sizeof(name), "dsa_cpu_memcpy_%s", nm);
		bench_line(name, m, "ns/op", 1.0, "x_memcpy");
		snprintf(name, sizeof(name), "dsa_cpu_onebyone_%s", nm);
		bench_line(name, c1, "ns/op", m / c1, "x_memcpy");
		snprintf(name, sizeof(name), "dsa_cpu_coalesced_%s", nm);
		bench_line(name, c2, "ns/op", c2 / c1, "of_onebyone");
		snprintf(name, sizeof(name), "dsa_mover_onebyone_%s", nm);
		bench_line(name, m1, "ns/op", m / m1, "x_memcpy");
		snprintf(name, sizeof(name), "dsa_mover_coalesced_%s", nm);
		bench_line(name, m2, "ns/op", m2 / m1, "of_onebyone");
		/* the same with the timer's cost left in */
		m1 = median(x1, (size_t)reps);
		m2 = median(x2, (size_t)reps);
		snprintf(name, sizeof(name), "dsa_mover_onebyone_%s_raw", nm);
		bench_line(name, m1, "ns/op", m / m1, "x_memcpy");
		snprintf(name, sizeof(name), "dsa_mover_coalesced_%s_raw", nm);
		bench_line(name, m2, "ns/op", m2 / m1, "of_onebyone");
		snprintf(name, sizeof(name), "dsa_desc_onebyone_%s", nm);
		bench_line(name, d1, "desc/op", 1.0, "of_onebyone");
		snprintf(name, sizeof(name), "dsa_desc_coalesced_%s", nm);
		bench_line(name, d2, "desc/op", d2 / d1, "of_onebyone");
		snprintf(name, sizeof(name), "dsa_naps_onebyone_%s", nm);
		bench_line(name, n1, "naps/op", 1.0, "of_onebyone");
		snprintf(name, sizeof(name), "dsa_naps_coalesced_%s", nm);
		bench_line(name, n2, "naps/op", n1 > 0 ? n2 / n1 : 0.0,
			"of_onebyone");
	}
	data_mover_dsa_delete(one);
	data_mover_dsa_delete(co);
	dsa_emu_stop(emu);
	runtime_delete(rt);
	free(src);
	free(dst);
}

/* ---- spread: 1, 2, 4 devices ---- */

#define SPREAD_OP (256u << 10)
#define SPREAD_SPEED 250u /* bytes per µs per device: 250 MB/s, slow enough
			   * for the emulator threads of 4 devices on 2 cores */

static void
bench_spread(void)
{
	static const unsigned ndevs[] = { 1, 2, 4 };
	const int rounds = 8; /* 8 x 32 x 256 KiB = 64 MiB per run */
	unsigned char *src = xalloc((size_t)QD * SPREAD_OP);
	unsigned char *dst = xalloc((size_t)QD * SPREAD_OP);
	double gbs1 = 0, mgbs;
	size_t k, i;

	for (i = 0; i < (size_t)QD * SPREAD_OP; i++)
		src[i] = (unsigned char)(i * 7u + (i >> 16));
	memset(dst, 0, (size_t)QD * SPREAD_OP);
	{
		double v[MAXREPS];
		int r;

		for (r = 0; r < reps; r++) {
			uint64_t t0 = now_ns();

			memcpy(dst, src, (size_t)QD * SPREAD_OP);
			v[r] = (double)(now_ns() - t0);
		}
		mgbs = (double)QD * SPREAD_OP / median(v, (size_t)reps);
		bench_line("dsa_spread_memcpy", mgbs, "GB/s", 1.0, "x_memcpy");
	}
	for (k = 0; k < sizeof(ndevs) / sizeof(ndevs[0]); k++) {
		struct dsa_emu_config ec;
		struct data_mover_dsa_config mc;
		struct data_mover_dsa *d;
		struct dsa_emu *emu;
		struct vdm_operation_future f[QD];
		struct future *ff[QD];
		struct runtime *rt = runtime_new();
		double v[MAXREPS], share[4][MAXREPS], gbs;
		char name[64];
		unsigned dv;
		int r, rd;

		memset(&ec, 0, sizeof(ec));
		ec.ndevices = ndevs[k];
		ec.fifo = -1;
		ec.bytes_per_us = SPREAD_SPEED;
		emu = emu_start(&ec);
		memset(&mc, 0, sizeof(mc)); /* device, wq, wqs NULL: every WQ */
		mc.cpu_threshold = 1;
		mc.hybrid_threshold = SIZE_MAX;
		d = mover(&mc);
		for (r = 0; r < reps; r++) {
			uint64_t t0, total = 0;

			dsa_emu_reset_stats(emu);
			t0 = now_ns();
			for (rd = 0; rd < rounds; rd++) {
				for (i = 0; i < QD; i++) {
					f[i] = vdm_memcpy(data_mover_dsa_get_vdm(d),
						dst + i * SPREAD_OP,
						src + i * SPREAD_OP, SPREAD_OP, 0);
					ff[i] = FUTURE_AS_RUNNABLE(&f[i]);
				}
				runtime_wait_multiple(rt, ff, QD);
				check_ok(f, QD);
			}
			v[r] = (double)(now_ns() - t0);
			for (dv = 0; dv < ndevs[k]; dv++) {
				struct dsa_emu_stats st;

				dsa_emu_get_device_stats(emu, dv, &st);
				share[dv][r] = (double)st.bytes;
				total += st.bytes;
			}
			for (dv = 0; dv < ndevs[k]; dv++)
				share[dv][r] = total ? share[dv][r] / (double)total : 0;
		}
		if (memcmp(dst, src, (size_t)QD * SPREAD_OP) != 0)
			die("content check failed");
		gbs = (double)rounds * QD * SPREAD_OP / median(v, (size_t)reps);
		if (k == 0)
			gbs1 = gbs;
		snprintf(name, sizeof(name), "dsa_spread_%udev", ndevs[k]);
		bench_line(name, gbs, "GB/s", gbs / mgbs, "x_memcpy");
		snprintf(name, sizeof(name), "dsa_spread_%udev_scaling", ndevs[k]);
		bench_line(name, gbs / gbs1, "x", gbs / gbs1, "x_1dev");
		for (dv = 0; dv < ndevs[k]; dv++) {
			double sh = median(share[dv], (size_t)reps);

			snprintf(name, sizeof(name), "dsa_spread_%udev_share_dsa%u",
				ndevs[k], dv);
			bench_line(name, sh, "fraction", sh * ndevs[k],
				"x_even");
		}
		data_mover_dsa_delete(d);
		dsa_emu_stop(emu);
		runtime_delete(rt);
	}
	free(src);
	free(dst);
}

/* ---- latency: one operation at a time, waited for ---- */

/* CPU ns a thread of this process has used (the mover's monitor) */
static uint64_t
thread_cpu_ns(thrd_t t)
{
	clockid_t id;
	struct timespec ts;

	if (pthread_getcpuclockid((pthread_t)t, &id) != 0 ||
			clock_gettime(id, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
pin_to(int cpu)
{
	cpu_set_t cs;

	CPU_ZERO(&cs);
	CPU_SET(cpu, &cs);
	if (pthread_setaffinity_np(pthread_self(), sizeof(cs), &cs) != 0)
		die("cannot pin the thread (BENCH_DSA_PIN)");
}

static void
bench_latency(void)
{
	static const unsigned delays[] = { 0, 5, 20, 50, 200 };
	const size_t n = 4096;
	unsigned char *src = xalloc(n), *dst = xalloc(n);
	struct dsa_emu_config ec;
	struct data_mover_dsa_config mc;
	struct data_mover_dsa *d;
	struct dsa_emu *emu;
	struct runtime *rt = runtime_new();
	cpu_set_t was; /* this thread's CPUs before pinning */
	double m;
	size_t k;
	int pin;

	memset(src, 7, n);
	m = memcpy_wall(dst, src, n) / 1000.0;
	bench_line("dsa_lat_memcpy_4K", m, "us", 1.0, "x_memcpy");
	memset(&ec, 0, sizeof(ec));
	ec.fifo = -1;
	ec.no_cache_fill = 1;
	/* BENCH_DSA_PIN=1: the emulator's threads on CPU 1, this thread and
	 * the mover's monitor on CPU 0 (threads keep their creator's CPUs), so
	 * the "device" does not take the CPU its waiters need, as hardware
	 * does not */
	pin = getenv("BENCH_DSA_PIN") != NULL && sysconf(_SC_NPROCESSORS_ONLN) > 1;
	if (pin && pthread_getaffinity_np(pthread_self(), sizeof(was), &was))
		die("cannot read the thread's CPUs (BENCH_DSA_PIN)");
	if (pin)
		pin_to(1);
	emu = emu_start(&ec);
	if (pin)
		pin_to(0);
	memset(&mc, 0, sizeof(mc));
	mc.cpu_threshold = 1;
	mc.hybrid_threshold = SIZE_MAX;
	d = mover(&mc);
	printf("# latency: %s\n", pin ? "emulator on CPU 1, caller and "
		"monitor on CPU 0" : "threads unpinned (BENCH_DSA_PIN=1 pins)");
	for (k = 0; k < sizeof(delays) / sizeof(delays[0]); k++) {
		const int iters = delays[k] >= 200 ? 50 : 200;
		double v[MAXREPS], c[MAXREPS], mon[MAXREPS], w, cm, mm;
		char name[64];
		int r, i;

		dsa_emu_set_delay(emu, -1, delays[k]);
		for (r = 0; r < reps; r++) {
			uint64_t t0 = now_ns(), c0 = bench_cpu_ns();
			uint64_t m0 = thread_cpu_ns(d->monitor);

			for (i = 0; i < iters; i++) {
				struct vdm_operation_future f = vdm_memcpy(
					data_mover_dsa_get_vdm(d), dst, src, n, 0);

				runtime_wait(rt, FUTURE_AS_RUNNABLE(&f));
				check_ok(&f, 1);
			}
			v[r] = (double)(now_ns() - t0) / iters / 1000.0;
			c[r] = (double)(bench_cpu_ns() - c0) / iters / 1000.0;
			mon[r] = (double)(thread_cpu_ns(d->monitor) - m0) /
				iters / 1000.0;
		}
		w = median(v, (size_t)reps);
		cm = median(c, (size_t)reps);
		mm = median(mon, (size_t)reps);
		snprintf(name, sizeof(name), "dsa_lat_%uus", delays[k]);
		if (delays[k] == 0)
			bench_line(name, w, "us/op", m / w, "x_memcpy");
		else
			bench_line(name, w, "us/op", w / delays[k], "of_delay");
		snprintf(name, sizeof(name), "dsa_lat_%uus_cpu", delays[k]);
		bench_line(name, cm, "us/op", cm / w, "of_wall");
		snprintf(name, sizeof(name), "dsa_lat_%uus_monitor", delays[k]);
		bench_line(name, mm, "us/op", mm / w, "of_wall");
	}
	data_mover_dsa_delete(d);
	dsa_emu_stop(emu);
	runtime_delete(rt);
	if (pin)
		pthread_setaffinity_np(pthread_self(), sizeof(was), &was);
	free(src);
	free(dst);
}

/* ---- hybrid: CPU + device on one large copy ---- */

#define HYBRID_SPEED 2000u /* bytes per µs: 2 GB/s */

static void
bench_hybrid(void)
{
	static const size_t sizes[] = { 4u << 20, 16u << 20, 64u << 20 };
	const size_t maxn = 64u << 20;
	unsigned char *src = xalloc(maxn), *dst = xalloc(maxn);
	struct dsa_emu_config ec;
	struct dsa_emu *emu;
	struct data_mover_dsa_config mc;
	struct data_mover_dsa *on, *off;
	struct runtime *rt = runtime_new();
	size_t s, i;

	for (i = 0; i < maxn; i++)
		src[i] = (unsigned char)(i * 13u + (i >> 20));
	memset(dst, 0, maxn);
	memset(&ec, 0, sizeof(ec));
	ec.fifo = -1;
	ec.bytes_per_us = HYBRID_SPEED;
	ec.nwqs = 2; /* one dedicated WQ for each mover (one at a time) */
	emu = emu_start(&ec);
	memset(&mc, 0, sizeof(mc));
	mc.cpu_threshold = 1;
	mc.wq = "wq0.0";
	on = mover(&mc);                 /* hybrid: the defaults */
	mc.hybrid_threshold = SIZE_MAX;  /* never split */
	mc.wq = "wq0.1";
	off = mover(&mc);
	for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		size_t n = sizes[s];
		double m = memcpy_wall(dst, src, n), t[2], share[2];
		char nm[16], name[64];
		int w;

		double v[2][MAXREPS], sh[2][MAXREPS];
		int r;

		bench_size_name(n, nm, sizeof(nm));
		/* interleaved, alternating which goes first: same noise */
		for (r = 0; r < reps; r++) {
			int k;

			for (k = 0; k < 2; k++) {
				struct vdm_operation_future f;
				struct dsa_emu_stats st;
				uint64_t t0;

				w = (k + r) % 2;
				dsa_emu_reset_stats(emu);
				memset(dst, 0, n);
				t0 = now_ns();
				f = vdm_memcpy(data_mover_dsa_get_vdm(w ? off : on), dst,
					src, n, 0);
				runtime_wait(rt, FUTURE_AS_RUNNABLE(&f));
				v[w][r] = (double)(now_ns() - t0);
				check_ok(&f, 1);
				if (memcmp(dst, src, n) != 0)
					die("content check failed");
				dsa_emu_get_stats(emu, -1, &st);
				/* the device's bytes from its counts, the rest the CPU's */
				sh[w][r] = 1.0 - (double)(st.bytes < n ? st.bytes : n) /
					(double)n;
			}
		}
		for (w = 0; w < 2; w++) {
			t[w] = median(v[w], (size_t)reps);
			share[w] = median(sh[w], (size_t)reps);
		}
		snprintf(name, sizeof(name), "dsa_hybrid_memcpy_%s", nm);
		bench_line(name, m / 1e6, "ms", 1.0, "x_memcpy");
		snprintf(name, sizeof(name), "dsa_hybrid_off_%s", nm);
		bench_line(name, t[1] / 1e6, "ms", m / t[1], "x_memcpy");
		snprintf(name, sizeof(name), "dsa_hybrid_on_%s", nm);
		bench_line(name, t[0] / 1e6, "ms", m / t[0], "x_memcpy");
		snprintf(name, sizeof(name), "dsa_hybrid_on_vs_off_%s", nm);
		bench_line(name, t[0] / t[1], "x", t[0] / t[1], "of_off");
		/* in proportion to throughput, the CPU's share would be
		 * cpu / (cpu + device) = t_off / (t_memcpy + t_off) */
		snprintf(name, sizeof(name), "dsa_hybrid_cpu_share_%s", nm);
		bench_line(name, share[0], "fraction",
			share[0] / (t[1] / (m + t[1])), "of_ideal");
	}
	data_mover_dsa_delete(on);
	data_mover_dsa_delete(off);
	dsa_emu_stop(emu);
	runtime_delete(rt);
	free(src);
	free(dst);
}

static int
wanted(int argc, char **argv, const char *s)
{
	int i;

	if (argc < 2)
		return 1;
	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], s) == 0)
			return 1;
	return 0;
}

int
main(int argc, char **argv)
{
	char why[256];
	const char *e = getenv("BENCH_DSA_REPS");
	int i;

	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "desc") && strcmp(argv[i], "cost") &&
				strcmp(argv[i], "spread") &&
				strcmp(argv[i], "hybrid") &&
				strcmp(argv[i], "latency")) {
			fprintf(stderr, "usage: bench_dsa [desc] [cost] "
				"[spread] [hybrid] [latency]\n");
			return 2;
		}
	if (e != NULL && atoi(e) > 0)
		reps = atoi(e) > MAXREPS ? MAXREPS : atoi(e);
	/* before any thread exists */
	if (dsa_emu_enter_namespace(why, sizeof(why)) != 0) {
		printf("SKIP bench_dsa: %s\n", why);
		return 77;
	}
	printf("# bench_dsa: emulated devices, medians of %d runs; "
		"name value unit ratio what\n", reps);
	measure_timer_phase();
	bench_line("dsa_timer_phase", timer_phase, "ns_cpu", 1.0, "subtracted");
	if (wanted(argc, argv, "desc"))
		bench_desc();
	if (wanted(argc, argv, "cost"))
		bench_cost();
	if (wanted(argc, argv, "spread"))
		bench_spread();
	if (wanted(argc, argv, "hybrid"))
		bench_hybrid();
	if (wanted(argc, argv, "latency"))
		bench_latency();
	return 0;
}
