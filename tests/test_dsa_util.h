/* test_dsa_util.h - helpers shared by the DSA mover tests (test_dsa_*.c).
 *
 * Each test is one translation unit that includes this file (which emits
 * the implementation, or with TEST_IMPL_LINKED declares it: see "white
 * box" below) and is linked with dsa_emu.c, the test-only DSA
 * emulator. main() must call td_enter() first, before any thread exists:
 * it enters a private mount namespace or exits 77 (skip) saying why.
 * CHECK() fails the test with file:line; exit 0 pass, 1 fail, 77 skip. */
#ifndef TEST_DSA_UTIL_H
#define TEST_DSA_UTIL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

/* the private test hooks: clock, ENQCMD (see the >>dsa section) */
#define MASYNC__TEST_HOOKS 1
#include "test_impl.h"

#include "dsa_emu.h"

#include <errno.h>
#include <linux/idxd.h> /* descriptors and opcodes, as the mover's */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <threads.h>
#include <time.h>
#include <unistd.h>

#ifndef MINIASYNC_DSA
#error "the DSA tests need MINIASYNC_DSA (meson -Ddsa=enabled)"
#endif

/* White box: the helpers that look inside the implementation (its test
 * hooks, a mover's WQs) are compiled with it. That is here, or, for a test
 * built with TEST_IMPL_LINKED (meson lists them), once in test_dsa_impl.c
 * (TD_IMPL_EXPORTS), which the test links: this file then only declares
 * them, and td_case. */
#if defined(TEST_IMPL_LINKED) || defined(TD_IMPL_EXPORTS)
extern const char *td_case; /* the group of checks, named on failure */
void td_enter(const char *prog);
void td_clock_fake(uint64_t start, uint64_t step);
void td_clock_advance(uint64_t ns);
void td_clock_real(void);
uint64_t td_coarse_ns(void);
void td_cpuinfo(int enqcmd);
void td_enqcmd_begin(void);
void td_enqcmd_end(void);
struct dsa_emu *td_emu(const struct dsa_emu_config *cfg_in);
struct data_mover_dsa *td_mover(const struct data_mover_dsa_config *cfg_in);
int td_portal(struct data_mover_dsa *d);
unsigned td_nwqs(struct data_mover_dsa *d);
int td_dedicated(struct data_mover_dsa *d, unsigned wq);
unsigned td_npend(struct data_mover_dsa *d);
unsigned td_nstaged(struct data_mover_dsa *d);
int td_joined(struct vdm_operation_future *f);
uint64_t td_pend_ns(void);
size_t td_pool_live(struct data_mover_dsa *d);
#endif
#ifdef TD_IMPL_EXPORTS
#define TD_WB
#else
#define TD_WB static inline
#endif

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			td_fail(__FILE__, __LINE__, #cond, NULL);              \
	} while (0)

/* compares two unsigned values and prints both on failure */
#define CHECK_EQ(a, b)                                                         \
	do {                                                                   \
		unsigned long long td_a_ = (unsigned long long)(a);            \
		unsigned long long td_b_ = (unsigned long long)(b);            \
		if (td_a_ != td_b_) {                                          \
			char td_m_[96];                                        \
			snprintf(td_m_, sizeof(td_m_),                         \
				"%llu (0x%llx) != %llu (0x%llx)", td_a_,       \
				td_a_, td_b_, td_b_);                          \
			td_fail(__FILE__, __LINE__, #a " == " #b, td_m_);      \
		}                                                              \
	} while (0)

/* a vdm result, printed by name on failure */
#define CHECK_RES(res, want)                                                   \
	do {                                                                   \
		enum vdm_operation_result td_r_ = (res);                       \
		if (td_r_ != (want))                                           \
			td_fail(__FILE__, __LINE__, #res " == " #want,         \
				vdm_result_str(td_r_));                        \
	} while (0)

#ifndef TEST_IMPL_LINKED
#ifdef TD_IMPL_EXPORTS
const char *td_case = "";
#else
static const char *td_case = "";
#endif
#endif

static inline void
td_fail(const char *file, int line, const char *what, const char *extra)
{
	fprintf(stderr, "%s:%d: [%s] check failed: %s%s%s\n", file, line,
		td_case, what, extra ? ": " : "", extra ? extra : "");
	fflush(stderr);
	exit(1);
}

static inline void
td_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
}

/* names the group of checks that follows (shown on failure) */
static inline void
td_begin(const char *name)
{
	td_case = name;
	td_log("-- %s\n", name);
}

static inline uint64_t
td_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void
td_sleep_us(unsigned us)
{
	struct timespec ts;

	ts.tv_sec = us / 1000000u;
	ts.tv_nsec = (long)(us % 1000000u) * 1000;
	thrd_sleep(&ts, NULL);
}

/* ---- the mover's clock (white box: masync__test_clock) ------------------ */
#ifndef TEST_IMPL_LINKED
/* With it set, every reading of the mover's coarse clock returns
 * td_fake_now, then td_fake_step more than the last one: timeouts and
 * batch ages follow the test, not how fast a thread gets to run. */
static _Atomic uint64_t td_fake_now, td_fake_step;

static inline uint64_t
td_fake_clock(void)
{
	return atomic_fetch_add(&td_fake_now, atomic_load(&td_fake_step));
}

TD_WB void
td_clock_fake(uint64_t start, uint64_t step)
{
	atomic_store(&td_fake_now, start);
	atomic_store(&td_fake_step, step);
	MASYNC__STORE(&masync__test_clock, td_fake_clock, release);
}

TD_WB void
td_clock_advance(uint64_t ns)
{
	atomic_fetch_add(&td_fake_now, ns);
}

/* the real clock again */
TD_WB void
td_clock_real(void)
{
	MASYNC__STORE(&masync__test_clock, (masync__clock_fn)NULL, release);
}

/* what the mover's coarse clock reads now */
TD_WB uint64_t
td_coarse_ns(void)
{
	return masync__coarse_ns();
}
#endif /* TEST_IMPL_LINKED */

/* ---- how slow is this run? -------------------------------------------- */
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define TD_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define TD_SANITIZED 1
#endif
#endif
#ifndef TD_SANITIZED
#define TD_SANITIZED 0
#endif

/* under valgrind (LD_PRELOAD holds its vgpreload objects) */
static inline int
td_valgrind(void)
{
	const char *p = getenv("LD_PRELOAD");

	return p != NULL && strstr(p, "vgpreload") != NULL;
}

/* 1 normally, larger when every instruction is slow */
static inline unsigned
td_slow(void)
{
	return td_valgrind() ? 8 : TD_SANITIZED ? 2 : 1;
}

/* How long a wait that should end may take before the test calls it a
 * hang: a guard only, never a speed. Under valgrind a spinning thread can
 * keep the emulator's thread off the CPU for seconds (5 s ran out once
 * under memcheck on a loaded machine), so it is long and scaled. */
static inline uint64_t
td_hang_ns(void)
{
	return 60000000000ull * td_slow();
}

/* A forked child's verdict: a shared word it sets to 1 once its checks
 * passed. Its exit status alone cannot say: under valgrind it also counts
 * the leak report of what the child inherited and does not free. */
static inline _Atomic int *
td_verdict_new(void)
{
	_Atomic int *v = (_Atomic int *)mmap(NULL, 4096,
		PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (v == MAP_FAILED)
		td_fail(__FILE__, __LINE__, "mmap (a verdict)", strerror(errno));
	atomic_store(v, 0);
	return v;
}

/* Waits for the child: NULL when it set its verdict and exited (with
 * status 0, but under valgrind), else what happened. Frees the verdict. */
static inline const char *
td_child_result(pid_t pid, _Atomic int *v)
{
	static char why[96];
	int st = 0, ok;

	if (waitpid(pid, &st, 0) != pid) {
		snprintf(why, sizeof(why), "waitpid: %s", strerror(errno));
		munmap((void *)v, 4096);
		return why;
	}
	ok = WIFEXITED(st) && atomic_load(v) == 1 &&
		(WEXITSTATUS(st) == 0 || td_valgrind());
	munmap((void *)v, 4096);
	if (ok)
		return NULL;
	snprintf(why, sizeof(why), "child %s %d%s", WIFSIGNALED(st) ?
		"killed by signal" : "exit status", WIFSIGNALED(st) ?
		WTERMSIG(st) : WEXITSTATUS(st), WIFSIGNALED(st) &&
		WTERMSIG(st) == SIGALRM ? " (hung: its alarm)" : "");
	return why;
}

/* the forked child `pid` passed (td_child_result) */
#define CHECK_CHILD(pid, verdict)                                              \
	do {                                                                   \
		const char *td_w_ = td_child_result(pid, verdict);             \
		if (td_w_ != NULL)                                             \
			td_fail(__FILE__, __LINE__, "the child " #pid         \
				" passed", td_w_);                             \
	} while (0)

/* ---- namespace, emulator, mover (white box) ------------------------------ */
#ifndef TEST_IMPL_LINKED

/* Must be the first call of main(): no thread may exist yet. */
TD_WB void
td_enter(const char *prog)
{
	char why[256];
	const char *clk = getenv("MASYNC_TEST_CLOCK");

	if (dsa_emu_enter_namespace(why, sizeof(why)) != 0) {
		printf("SKIP %s: cannot emulate a DSA device: %s\n", prog, why);
		fflush(stdout);
		exit(77);
	}
	/* MASYNC_TEST_CLOCK=STEP:ODD: the mover's coarse clock read in STEP
	 * ns steps, always even (ODD 0) or odd (1), as on a machine whose
	 * clock does that: no outcome may depend on it */
	if (clk != NULL && *clk != '\0') {
		unsigned long long step, odd;
		uint64_t t;

		if (sscanf(clk, "%llu:%llu", &step, &odd) != 2 || step < 2 ||
				odd > 1)
			td_fail(__FILE__, __LINE__, "MASYNC_TEST_CLOCK is STEP:ODD",
				clk);
		masync__test_clock_step = step;
		masync__test_clock_odd = odd;
		t = masync__coarse_ns();
		CHECK_EQ(t % step, odd);
		printf("%s: the coarse clock in %llu ns steps, always %s\n",
			prog, step, odd ? "odd" : "even");
	}
}

/* MOVDIR64B through the emulator's trapped portal, for CPUs without the
 * instruction: td_emu installs it as the mover's MOVDIR64B test hook for an
 * emulator started with trap_portal. It goes to the WQ whose file is
 * mapped at the portal (read from /proc/self/maps where there are several
 * WQs: a mover made anew may map another WQ at the same address) */
static struct dsa_emu *td_trap_emu;
static int td_faked_movdir64b; /* the mover was told the CPU has it */

static inline int
td_trap_wq(const void *portal)
{
	if (td_trap_emu == NULL)
		return -1; /* no trap_portal */
	return dsa_emu_nwqs(td_trap_emu) == 1 ? 0 :
		dsa_emu_portal_wq(td_trap_emu, 0, portal);
}

static inline void
td_trap_movdir64b(void *portal, const void *desc)
{
	int wq = td_trap_wq(portal);

	if (wq < 0 || dsa_emu_portal_write(td_trap_emu, (unsigned)wq, desc,
			0) != 0)
		td_fail(__FILE__, __LINE__, "dsa_emu_portal_write", NULL);
}

/* ENQCMD through the emulator's trapped portal, as the instruction does:
 * non-posted, 1 ("retry") when the shared WQ is full, disabled or its
 * device halted. A test installs it as masync__test_enqcmd (white box)
 * after td_enqcmd_begin. */
static inline int
td_trap_enqcmd(void *portal, const void *desc)
{
	int wq = td_trap_wq(portal);
	int r = wq < 0 ? -1 : dsa_emu_portal_write(td_trap_emu, (unsigned)wq,
		desc, 1);

	if (r < 0)
		td_fail(__FILE__, __LINE__, "dsa_emu_portal_write (ENQCMD)",
			NULL);
	return r;
}

/* The mover uses ENQCMD where CPUID and the kernel (the enqcmd flag in
 * cpuinfo) say user ENQCMD works (white box: masync__cpu_bits,
 * masync__dsa_cpuinfo). td_enqcmd_begin makes CPUID say so and points
 * the kernel's word at a file in the emulator's private /dev, which
 * td_cpuinfo writes with or without the flag (decoys around it: the
 * mover must match the word); td_enqcmd_end undoes both. */
#define TD_CPUINFO "/dev/td_cpuinfo"

TD_WB void
td_cpuinfo(int enqcmd)
{
	FILE *fp = fopen(TD_CPUINFO, "w");

	if (fp == NULL)
		td_fail(__FILE__, __LINE__, "fopen(" TD_CPUINFO ")",
			strerror(errno));
	fprintf(fp, "processor\t: 0\nvendor_id\t: Test\n"
		"flags\t\t: fpu sse2 movdir64b%s waitpkg_no\n"
		"bugs\t\t:\n\nprocessor\t: 1\nflags\t\t: enqcmd\n",
		enqcmd ? " enqcmd" : " enqcmdx xenqcmd");
	if (fclose(fp) != 0)
		td_fail(__FILE__, __LINE__, "writing " TD_CPUINFO,
			strerror(errno));
}

TD_WB void
td_enqcmd_begin(void)
{
	MASYNC__STORE(&masync__cpu_bits, masync__cpu() | MASYNC__CPU_ENQCMD,
		release);
	masync__dsa_cpuinfo = TD_CPUINFO;
}

TD_WB void
td_enqcmd_end(void)
{
	masync__dsa_cpuinfo = "/proc/cpuinfo";
	MASYNC__STORE(&masync__cpu_bits, 0u, release); /* CPUID again */
	unlink(TD_CPUINFO);
}

/* Starts the emulator. Without MOVDIR64B (valgrind's CPUID hides it; some
 * CPUs and VMs lack it) the mover falls back to write(), which on the
 * emulator's regular-file portal would land past its 4 KiB after 64
 * descriptors. There a test that leaves the portal's kind to this (fifo
 * == 0) with one dedicated WQ gets a trapped portal: the mover is told the
 * CPU has MOVDIR64B and each one goes through the test hook to the
 * emulator, so the portal path runs on any CPU. Other dedicated WQs get a
 * FIFO (the write() path); a test asking for a regular file (fifo < 0)
 * checks td_portal() or asks for trap_portal itself. */
TD_WB struct dsa_emu *
td_emu(const struct dsa_emu_config *cfg_in)
{
	struct dsa_emu_config cfg;
	struct dsa_emu *emu;
	unsigned bits;

	if (cfg_in != NULL)
		cfg = *cfg_in;
	else
		memset(&cfg, 0, sizeof(cfg));
	if (!dsa_emu_cpu_movdir64b() && cfg.fifo == 0 && !cfg.trap_portal) {
		if (cfg.ndevices <= 1 && cfg.nwqs <= 1 && !cfg.shared &&
				cfg.wqs == NULL)
			cfg.trap_portal = 1;
		else
			cfg.fifo = 1;
	}
	emu = dsa_emu_start(&cfg);

	if (emu == NULL) {
		fprintf(stderr, "[%s] dsa_emu_start failed: %s\n", td_case,
			strerror(errno));
		exit(1);
	}
	/* white box: other bits a test set (ENQCMD) stay */
	bits = masync__cpu();
	td_trap_emu = cfg.trap_portal ? emu : NULL;
	if (cfg.trap_portal) {
		if (!(bits & MASYNC__CPU_MOVDIR64B))
			td_faked_movdir64b = 1;
		bits |= MASYNC__CPU_MOVDIR64B;
		MASYNC__STORE(&masync__test_movdir64b, td_trap_movdir64b,
			release);
	} else {
		if (td_faked_movdir64b)
			bits &= ~MASYNC__CPU_MOVDIR64B;
		td_faked_movdir64b = 0;
		MASYNC__STORE(&masync__test_movdir64b,
			(masync__movdir64b_fn)NULL, release);
	}
	MASYNC__STORE(&masync__cpu_bits, bits, release);
	return emu;
}

/* A mover; cpu_threshold 0 becomes 1 here, so that the tests' small
 * operations go to the device (the default keeps them on the CPU), and
 * batch_max 0 becomes 1: one descriptor per operation, which the tests
 * count (test_dsa_batch asks for coalescing with batch_max >= 2), and
 * hybrid_threshold 0 becomes SIZE_MAX: the device does all of every
 * operation (test_dsa_hybrid asks for splits), and timeout_ns 0 becomes
 * td_hang_ns(): an emulator kept off the CPU is not a lost descriptor
 * (the tests of timeouts set theirs). */
TD_WB struct data_mover_dsa *
td_mover(const struct data_mover_dsa_config *cfg_in)
{
	struct data_mover_dsa_config cfg;
	struct data_mover_dsa *d;

	if (cfg_in != NULL)
		cfg = *cfg_in;
	else
		memset(&cfg, 0, sizeof(cfg));
	if (cfg.cpu_threshold == 0)
		cfg.cpu_threshold = 1;
	if (cfg.batch_max == 0)
		cfg.batch_max = 1;
	if (cfg.hybrid_threshold == 0)
		cfg.hybrid_threshold = SIZE_MAX;
	if (cfg.timeout_ns == 0)
		cfg.timeout_ns = td_hang_ns();
	d = data_mover_dsa_new(&cfg);

	if (d == NULL) {
		fprintf(stderr, "[%s] data_mover_dsa_new failed: %d: %s\n",
			td_case, (int)data_mover_dsa_last_error(),
			data_mover_dsa_last_error_str());
		exit(1);
	}
	return d;
}

/* white box: does the mover submit through a mapped portal (MOVDIR64B)
 * rather than write()? Batches are only used then. */
TD_WB int
td_portal(struct data_mover_dsa *d)
{
	return d->q[0].portal != NULL; /* the first (here: only) WQ */
}

/* white box: how many WQs the mover uses */
TD_WB unsigned
td_nwqs(struct data_mover_dsa *d)
{
	return d->nq;
}

/* white box: is the mover's WQ `wq` (of td_nwqs) a dedicated one? */
TD_WB int
td_dedicated(struct data_mover_dsa *d, unsigned wq)
{
	return d->q[wq].dedicated;
}

/* white box: operations waiting in the first WQ's pending batch, or
 * staged for it by this thread's runtime pass (masync__dsa_stage) */
TD_WB unsigned
td_npend(struct data_mover_dsa *d)
{
	unsigned n;

	masync__qlock_take(&d->q[0].qlock);
	n = d->q[0].npend;
	masync__qlock_give(&d->q[0].qlock);
	if (masync__dsa_stage.w == &d->q[0])
		n += masync__dsa_stage.n;
	return n;
}

/* white box: of those, the ones staged (no WQ lock taken for them yet) */
TD_WB unsigned
td_nstaged(struct data_mover_dsa *d)
{
	return masync__dsa_stage.w == &d->q[0] ? masync__dsa_stage.n : 0;
}

/* white box: f's operation (this thread's) joined a WQ's pending batch */
TD_WB int
td_joined(struct vdm_operation_future *f)
{
	return ((struct masync__dsa_op *)f->data.data)->pend_w != NULL;
}

/* how long a pending batch nobody polls waits for the monitor's flush */
TD_WB uint64_t
td_pend_ns(void)
{
	return MASYNC__DSA_PEND_NS;
}
#endif /* TEST_IMPL_LINKED */

/* Waits until the emulator has disposed of every descriptor it took (its
 * statistics are updated just after the completion record is written). */
static inline void
td_settle(struct dsa_emu *emu)
{
	uint64_t t0 = td_now_ns();
	struct dsa_emu_stats s;

	for (;;) {
		dsa_emu_get_stats(emu, -1, &s);
		if (s.processed >= s.received)
			return;
		if (td_now_ns() - t0 > td_hang_ns()) {
			fprintf(stderr, "[%s] emulator does not settle: "
				"received %" PRIu64 " processed %" PRIu64 "\n",
				td_case, s.received, s.processed);
			exit(1);
		}
		td_sleep_us(100);
	}
}

static inline struct dsa_emu_stats
td_stats(struct dsa_emu *emu)
{
	struct dsa_emu_stats s;

	td_settle(emu);
	dsa_emu_get_stats(emu, -1, &s);
	return s;
}

/* data_mover_dsa_get_wq_info's counts, summed over the mover's WQs */
struct td_wq_sum {
	uint64_t desc, batches, members, faults, bytes;
};

static inline struct td_wq_sum
td_wq_sum(struct data_mover_dsa *d)
{
	struct td_wq_sum t = { 0, 0, 0, 0, 0 };
	size_t i, n = data_mover_dsa_wq_count(d);

	for (i = 0; i < n; i++) {
		struct data_mover_dsa_wq_info in;

		CHECK_EQ(data_mover_dsa_get_wq_info(d, i, &in), 0);
		t.desc += in.descriptors;
		t.batches += in.batches;
		t.members += in.batch_members;
		t.faults += in.page_faults;
		t.bytes += in.bytes;
	}
	return t;
}

/* What the mover counted since `was` is what the emulator counted since
 * its stats were reset (s: td_stats): descriptors it received, batch
 * descriptors and their members it ran, page faults it reported, and,
 * when no descriptor failed (none went again), the bytes. */
static inline void
td_check_wq_sum(struct data_mover_dsa *d, struct td_wq_sum was,
	const struct dsa_emu_stats *s)
{
	struct td_wq_sum now = td_wq_sum(d);

	CHECK_EQ(now.desc - was.desc, s->received);
	CHECK_EQ(now.batches - was.batches, s->ops[DSA_OPCODE_BATCH]);
	CHECK_EQ(now.members - was.members, s->batch_members);
	CHECK_EQ(now.faults - was.faults, s->page_faults);
	if (s->errors == 0)
		CHECK_EQ(now.bytes - was.bytes, s->bytes);
}

/* Waits until the emulator has taken `n` descriptors in and queued them
 * (a paused device takes them from the portal and holds them); fails the
 * test after td_hang_ns(). */
static inline void
td_wait_received(struct dsa_emu *emu, uint64_t n)
{
	uint64_t t0 = td_now_ns();
	struct dsa_emu_stats s;

	for (;;) {
		dsa_emu_get_stats(emu, -1, &s);
		if (s.received >= n && s.inflight + s.processed >= n)
			return;
		if (td_now_ns() - t0 > td_hang_ns()) {
			fprintf(stderr, "[%s] emulator took %llu of %llu\n",
				td_case, (unsigned long long)s.received,
				(unsigned long long)n);
			exit(1);
		}
		td_sleep_us(200);
	}
}

/* Waits until the emulator has processed `n` descriptors in all (records
 * written: dsa_emu_wait_processed); fails the test after td_hang_ns(). */
static inline void
td_wait_processed(struct dsa_emu *emu, uint64_t n)
{
	struct dsa_emu_stats s;

	if (dsa_emu_wait_processed(emu, n,
			(unsigned)(td_hang_ns() / 1000000u)) == 0)
		return;
	dsa_emu_get_stats(emu, -1, &s);
	fprintf(stderr, "[%s] emulator processed %llu of %llu\n", td_case,
		(unsigned long long)s.processed, (unsigned long long)n);
	exit(1);
}

static inline void
td_inject(struct dsa_emu *emu, const struct dsa_emu_fault *f)
{
	if (dsa_emu_inject(emu, f) != 0) {
		fprintf(stderr, "[%s] dsa_emu_inject failed\n", td_case);
		exit(1);
	}
}

/* ---- buffers -------------------------------------------------------------- */

/* Page-aligned, with `guard` extra bytes before and after the returned
 * range (filled with 0xee, see td_guards_ok). Free with td_free. */
#define TD_GUARD 4096u

static inline unsigned char *
td_alloc(size_t n)
{
	size_t total = n + 2 * TD_GUARD;
	unsigned char *p = (unsigned char *)aligned_alloc(4096,
		(total + 4095) & ~(size_t)4095);

	if (p == NULL) {
		fprintf(stderr, "[%s] out of memory (%zu)\n", td_case, n);
		exit(1);
	}
	memset(p, 0xee, total);
	return p + TD_GUARD;
}

static inline void
td_free(unsigned char *p)
{
	if (p != NULL)
		free(p - TD_GUARD);
}

static inline int
td_guards_ok(const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 1; i <= TD_GUARD; i++)
		if (p[-(ptrdiff_t)i] != 0xee)
			return 0;
	for (i = 0; i < TD_GUARD; i++)
		if (p[n + i] != 0xee)
			return 0;
	return 1;
}

/* a byte pattern that differs at every offset and per seed */
static inline unsigned char
td_byte(size_t i, unsigned seed)
{
	uint64_t x = (uint64_t)i * 0x9e3779b97f4a7c15ull + seed * 0x632be5abu;

	x ^= x >> 29;
	return (unsigned char)(x ^ (x >> 13) ^ (i >> 12));
}

/* polls each future once with no notifier; returns how many are running */
static inline int
td_poll_all(struct vdm_operation_future *fs, int n)
{
	int i, running = 0;

	for (i = 0; i < n; i++)
		running += future_poll(FUTURE_AS_RUNNABLE(&fs[i]), NULL) ==
			FUTURE_STATE_RUNNING;
	return running;
}

static inline void
td_pattern(unsigned char *p, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = td_byte(i, seed);
}

/* index of the first byte of p that is not pattern(seed) at base+i; n if ok */
static inline size_t
td_pattern_diff(const unsigned char *p, size_t n, size_t base, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != td_byte(base + i, seed))
			return i;
	return n;
}

static inline size_t
td_byte_diff(const unsigned char *p, size_t n, unsigned char c)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != c)
			return i;
	return n;
}

#define CHECK_PATTERN(p, n, base, seed)                                        \
	do {                                                                   \
		size_t td_d_ = td_pattern_diff((p), (n), (base), (seed));      \
		if (td_d_ != (size_t)(n)) {                                    \
			char td_m_[64];                                        \
			snprintf(td_m_, sizeof(td_m_),                         \
				"first bad byte at %zu of %zu", td_d_,         \
				(size_t)(n));                                  \
			td_fail(__FILE__, __LINE__, "pattern of " #p, td_m_);  \
		}                                                              \
	} while (0)

#define CHECK_BYTES(p, n, c)                                                   \
	do {                                                                   \
		size_t td_d_ = td_byte_diff((p), (n), (unsigned char)(c));     \
		if (td_d_ != (size_t)(n)) {                                    \
			char td_m_[64];                                        \
			snprintf(td_m_, sizeof(td_m_),                         \
				"first bad byte at %zu of %zu", td_d_,         \
				(size_t)(n));                                  \
			td_fail(__FILE__, __LINE__, #p " == " #c, td_m_);      \
		}                                                              \
	} while (0)

/* ---- running futures ------------------------------------------------------ */

static inline enum vdm_operation_result
td_wait(struct runtime *r, struct vdm_operation_future *f)
{
	runtime_wait(r, FUTURE_AS_RUNNABLE(f));
	CHECK(FUTURE_STATE(f) == FUTURE_STATE_COMPLETE);
	return FUTURE_OUTPUT(f)->result;
}

static inline enum vdm_operation_result
td_busy(struct vdm_operation_future *f)
{
	FUTURE_BUSY_POLL(f);
	return FUTURE_OUTPUT(f)->result;
}

/* A program wraps the mover as libminiasync allowed: its struct vdm is a
 * copy of the mover's, op_new hands the mover's own vdm on, op_start and
 * op_check count and call the mover's. The library then polls through
 * the copy's op_check (no extension of its own). */
static struct vdm *td_wrap_inner;
static int td_wrap_starts, td_wrap_checks;

static inline void *
td_wrap_new(struct vdm *vdm, const enum vdm_operation_type type)
{
	(void)vdm;
	return td_wrap_inner->op_new(td_wrap_inner, type);
}

static inline int
td_wrap_start(void *data, const struct vdm_operation *op,
	struct future_notifier *n)
{
	td_wrap_starts++;
	return td_wrap_inner->op_start(data, op, n);
}

static inline enum future_state
td_wrap_check(void *data, const struct vdm_operation *op)
{
	td_wrap_checks++;
	return td_wrap_inner->op_check(data, op);
}

/* the wrapper of `inner` (one at a time), its counts reset */
static inline struct vdm
td_wrap(struct vdm *inner)
{
	struct vdm w = *inner;

	td_wrap_inner = inner;
	w.op_new = td_wrap_new;
	w.op_start = td_wrap_start;
	w.op_check = td_wrap_check;
	td_wrap_starts = td_wrap_checks = 0;
	return w;
}

/* white box: operation states taken from the mover's pool, not given back
 * (a quiescent mover only); SIZE_MAX when a state is on its free list
 * twice (a cycle) */
#ifndef TEST_IMPL_LINKED
TD_WB size_t
td_pool_live(struct data_mover_dsa *d)
{
	struct masync__pool *p = &d->pool;
	size_t made = (size_t)MASYNC__LOAD(&p->nchunks, acquire) *
		MASYNC__POOL_CHUNK;
	uint32_t idx = (uint32_t)MASYNC__LOAD(&p->head, acquire);
	size_t free_n = 0;

	if (p->max_elems != 0 && made > p->max_elems)
		made = p->max_elems;
	while (idx != 0) {
		if (++free_n > made)
			return SIZE_MAX;
		idx = MASYNC__LOAD(&masync__pool_elem(p, idx - 1)->next,
			relaxed);
	}
	return made - free_n;
}
#endif

#endif /* TEST_DSA_UTIL_H */
