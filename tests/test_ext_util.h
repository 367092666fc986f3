/* test_ext_util.h - helpers shared by the extension tests (test_ext_*.c):
 * checks, clocks, a table of every mover (sync; threads with each notifier;
 * DSA when a device - or, in builds with TE_DSA_EMU, the test emulator - is
 * there), a "gate" future that completes when the test opens it, and a slow
 * threads mover whose copies sleep first.
 *
 * A test includes test_impl.h (one that sets MINIASYNC_* overrides defines
 * MINIASYNC_IMPLEMENTATION and includes "miniasync.h"), then this file. Exit 0 pass, 1 fail, 77 skip. */
#ifndef TEST_EXT_UTIL_H
#define TEST_EXT_UTIL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef TE_DSA_EMU
#include "dsa_emu.h"
#endif

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define TE_ON_VALGRIND() (RUNNING_ON_VALGRIND != 0)
#endif
#endif
#ifndef TE_ON_VALGRIND
#define TE_ON_VALGRIND() 0
#endif

#if defined(__SANITIZE_THREAD__)
#define TE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TE_TSAN 1
#endif
#endif
#ifndef TE_TSAN
#define TE_TSAN 0
#endif
#if defined(__SANITIZE_ADDRESS__)
#define TE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TE_ASAN 1
#endif
#endif
#ifndef TE_ASAN
#define TE_ASAN 0
#endif

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			te_fail(__FILE__, __LINE__, #cond);                    \
	} while (0)

static void
te_fail(const char *file, int line, const char *what)
{
	fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
	fflush(stderr);
	exit(1);
}

static inline void
te_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
}

/* monotonic wall clock and process CPU time, ns */
static inline uint64_t
te_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t
te_cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CPU time of the calling thread (the DSA emulator's thread polls busily,
 * so with it running only this one says whether the waiter slept) */
static inline uint64_t
te_thread_cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#define TE_MS 1000000ull

static inline void
te_sleep_ms(unsigned ms)
{
	struct timespec ts;

	ts.tv_sec = ms / 1000u;
	ts.tv_nsec = (long)(ms % 1000u) * 1000000L;
	while (nanosleep(&ts, &ts) == -1)
		;
}

/* how much slower than native this run is (timeouts scale with it) */
static inline unsigned
te_slow(void)
{
	if (TE_ON_VALGRIND())
		return 20;
	return TE_TSAN ? 4 : 1;
}

static inline void
te_fill(void *p, size_t n, unsigned seed)
{
	unsigned char *b = (unsigned char *)p;
	size_t i;

	for (i = 0; i < n; i++)
		b[i] = (unsigned char)(seed * 131u + i * 7u + (i >> 8) + 1u);
}

static inline int
te_all(const void *p, int c, size_t n)
{
	const unsigned char *b = (const unsigned char *)p;
	size_t i;

	for (i = 0; i < n; i++)
		if (b[i] != (unsigned char)c)
			return 0;
	return 1;
}

/* ---- every mover ---------------------------------------------------- */
enum te_kind {
	TE_SYNC,
	TE_THREADS,
	TE_DSA,
};

struct te_mover {
	char name[32];
	enum te_kind kind;
	struct vdm *vdm;
	void *obj;
};

#define TE_MAX_MOVERS 6

/* A flush's result on m: refused by a CPU mover of a target without cache
 * write-back (not x86 or AArch64; it then lists no VDM_F_MEM_DURABLE) */
static inline enum vdm_operation_result
te_flush_result(const struct te_mover *m)
{
	return vdm_is_supported(m->vdm, VDM_F_MEM_DURABLE) ? VDM_SUCCESS :
		VDM_ERROR_NOT_SUPPORTED;
}

#ifdef TE_DSA_EMU
static struct dsa_emu *te_emu;
#endif

/* when set (e.g. from argv[1]), only movers whose name starts with it */
static const char *te_filter;

static inline int
te_want(const char *name)
{
	return te_filter == NULL ||
		strncmp(name, te_filter, strlen(te_filter)) == 0;
}

/* Call first in main, while single-threaded (the DSA emulator needs that).
 * Returns the number of movers put in m[]. */
static inline size_t
te_movers(struct te_mover *m)
{
	static const enum future_notifier_type nt[3] = {
		FUTURE_NOTIFIER_WAKER, FUTURE_NOTIFIER_POLLER,
		FUTURE_NOTIFIER_NONE,
	};
	static const char *const ntn[3] = { "waker", "poller", "none" };
	struct data_mover_sync *dms = data_mover_sync_new();
	struct data_mover_dsa *dmd;
	size_t n = 0, i;

#ifdef TE_DSA_EMU
	if (te_want("dsa")) {
		char why[256];

		/* without MOVDIR64B the mover uses write(): a FIFO takes it */
		struct dsa_emu_config ec = { 0 };

		ec.fifo = dsa_emu_cpu_movdir64b() ? 0 : 1;
		if (dsa_emu_enter_namespace(why, sizeof(why)) == 0)
			te_emu = dsa_emu_start(&ec);
		else
			te_log("dsa emulator: not used: %s\n", why);
	}
#endif
	CHECK(dms != NULL);
	if (te_want("sync")) {
		m[n].kind = TE_SYNC;
		m[n].obj = dms;
		m[n].vdm = data_mover_sync_get_vdm(dms);
		snprintf(m[n].name, sizeof(m[n].name), "sync");
		n++;
	} else {
		data_mover_sync_delete(dms);
	}
	for (i = 0; i < 3; i++) {
		struct data_mover_threads *dmt;

		snprintf(m[n].name, sizeof(m[n].name), "threads/%s", ntn[i]);
		if (!te_want(m[n].name))
			continue;
		dmt = data_mover_threads_new(2, 64, nt[i]);
		CHECK(dmt != NULL);
		m[n].kind = TE_THREADS;
		m[n].obj = dmt;
		m[n].vdm = data_mover_threads_get_vdm(dmt);
		n++;
	}
	if (!te_want("dsa"))
		return n;
	{
		/* every operation on the device, also the small ones */
		struct data_mover_dsa_config dc;

		memset(&dc, 0, sizeof(dc));
		dc.cpu_threshold = 1;
		dmd = data_mover_dsa_new(&dc);
	}
	if (dmd != NULL) {
		m[n].kind = TE_DSA;
		m[n].obj = dmd;
		m[n].vdm = data_mover_dsa_get_vdm(dmd);
		snprintf(m[n].name, sizeof(m[n].name), "dsa");
		n++;
	} else {
		te_log("dsa mover: not tested: %s\n",
			data_mover_dsa_last_error_str());
	}
	return n;
}

/* DSA: each descriptor takes `us` microseconds from now on. Returns 0
 * when there is no emulator to slow down. */
static inline int
te_dsa_delay(unsigned us)
{
#ifdef TE_DSA_EMU
	if (te_emu != NULL) {
		dsa_emu_set_delay(te_emu, -1, us);
		return 1;
	}
#endif
	(void)us;
	return 0;
}

/* DSA: pause (1) / resume (0) the emulated device. Returns 0 when there is
 * no emulator. */
static inline int
te_dsa_pause(int on)
{
#ifdef TE_DSA_EMU
	if (te_emu != NULL) {
		dsa_emu_pause(te_emu, -1, on);
		return 1;
	}
#endif
	(void)on;
	return 0;
}

static inline void
te_movers_delete(struct te_mover *m, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		switch (m[i].kind) {
		case TE_SYNC:
			data_mover_sync_delete(
				(struct data_mover_sync *)m[i].obj);
			break;
		case TE_THREADS:
			data_mover_threads_delete(
				(struct data_mover_threads *)m[i].obj);
			break;
		case TE_DSA:
			data_mover_dsa_delete((struct data_mover_dsa *)m[i].obj);
			break;
		}
	}
#ifdef TE_DSA_EMU
	dsa_emu_stop(te_emu);
	te_emu = NULL;
#endif
}

/* ---- a gate: a user future completed by te_gate_open ------------------
 * WAKER based; a poll with a NULL notifier drops the registered waker (as
 * the built-in movers do), so `registered` shows whether a runtime's waker
 * is still held. */
struct te_gate {
	pthread_mutex_t lock;
	int open;
	int registered;
	struct future_waker waker;
	atomic_uint polls;
};

struct te_gate_data {
	struct te_gate *g;
};

struct te_gate_output {
	int opened;
};

FUTURE(te_gate_future, struct te_gate_data, struct te_gate_output);

static inline enum future_state
te_gate_task(struct future_context *ctx, struct future_notifier *n)
{
	struct te_gate_data *d = (struct te_gate_data *)
		future_context_get_data(ctx);
	struct te_gate_output *o = (struct te_gate_output *)
		future_context_get_output(ctx);
	struct te_gate *g = d->g;
	enum future_state st = FUTURE_STATE_RUNNING;

	atomic_fetch_add(&g->polls, 1);
	pthread_mutex_lock(&g->lock);
	if (g->open) {
		g->registered = 0;
		o->opened = 1;
		st = FUTURE_STATE_COMPLETE;
	} else if (n != NULL) {
		g->waker = n->waker;
		g->registered = 1;
		n->notifier_used = FUTURE_NOTIFIER_WAKER;
	} else {
		g->registered = 0;
	}
	pthread_mutex_unlock(&g->lock);
	return st;
}

static inline void
te_gate_init(struct te_gate *g)
{
	CHECK(pthread_mutex_init(&g->lock, NULL) == 0);
	g->open = 0;
	g->registered = 0;
	g->waker.wake = NULL;
	g->waker.data = NULL;
	atomic_init(&g->polls, 0);
}

static inline void
te_gate_fini(struct te_gate *g)
{
	pthread_mutex_destroy(&g->lock);
}

static inline struct te_gate_future
te_gate_future(struct te_gate *g)
{
	struct te_gate_future f;

	memset(&f, 0, sizeof(f));
	f.data.g = g;
	FUTURE_INIT(&f, te_gate_task);
	return f;
}

static inline int
te_gate_registered(struct te_gate *g)
{
	int r;

	pthread_mutex_lock(&g->lock);
	r = g->registered;
	pthread_mutex_unlock(&g->lock);
	return r;
}

static inline void
te_gate_open(struct te_gate *g)
{
	pthread_mutex_lock(&g->lock);
	g->open = 1;
	if (g->registered) {
		g->registered = 0;
		g->waker.wake(g->waker.data);
	}
	pthread_mutex_unlock(&g->lock);
}

/* Test threads use pthreads: glibc's C11 threads bypass ThreadSanitizer's
 * interceptors (the header has its own workaround for its threads). */
typedef pthread_t te_thread;

static inline void
te_thread_start(te_thread *t, void *(*fn)(void *), void *arg)
{
	CHECK(pthread_create(t, NULL, fn, arg) == 0);
}

static inline void
te_thread_join(te_thread t)
{
	CHECK(pthread_join(t, NULL) == 0);
}

struct te_opener {
	struct te_gate *g;
	unsigned ms;
	te_thread thr;
};

static inline void *
te_opener_main(void *arg)
{
	struct te_opener *o = (struct te_opener *)arg;

	te_sleep_ms(o->ms);
	te_gate_open(o->g);
	return NULL;
}

/* opens `g` from another thread after `ms` milliseconds */
static inline void
te_open_later(struct te_opener *o, struct te_gate *g, unsigned ms)
{
	o->g = g;
	o->ms = ms;
	te_thread_start(&o->thr, te_opener_main, o);
}

static inline void
te_opener_join(struct te_opener *o)
{
	te_thread_join(o->thr);
}

/* ---- a slow threads mover: each memcpy sleeps te_slow_ms first ------- */
static atomic_uint te_slow_ms;
static atomic_uint te_slow_started;
/* while set, a slow copy also waits for it to be cleared: a test that
 * needs "not finished yet" must not rely on te_slow_ms being long enough
 * on a loaded machine */
static atomic_uint te_slow_hold;

static inline void *
te_slow_memcpy(void *dst, const void *src, size_t n, unsigned flags)
{
	(void)flags;
	atomic_fetch_add(&te_slow_started, 1);
	te_sleep_ms(atomic_load(&te_slow_ms));
	while (atomic_load(&te_slow_hold))
		te_sleep_ms(1);
	memcpy(dst, src, n);
	return dst;
}

static inline struct data_mover_threads *
te_slow_mover(size_t nthreads, size_t ring, unsigned ms,
	enum future_notifier_type nt)
{
	struct data_mover_threads *d =
		data_mover_threads_new(nthreads, ring, nt);

	CHECK(d != NULL);
	atomic_store(&te_slow_ms, ms);
	data_mover_threads_set_memcpy_fn(d, te_slow_memcpy);
	return d;
}

/* waits (sleeping) until `n` slow copies have started */
static inline void
te_wait_slow_started(unsigned n)
{
	while (atomic_load(&te_slow_started) < n)
		te_sleep_ms(1);
}

/* ---- a user-written mover that fails on demand ------------------------
 * Fills a plain struct vdm (no built-in extension hooks), so vdm_cancel and
 * error-aware chains take their generic paths. An operation completes on
 * its `polls_needed`-th check; one whose destination is `fail_dest` then
 * fails with `fail_result` and writes nothing. op_start refuses (the future
 * stays idle) while `refuse` > 0. */
struct te_fake {
	struct vdm vdm; /* first */
	unsigned polls_needed;
	void *fail_dest;
	enum vdm_operation_result fail_result;
	atomic_int refuse;
	atomic_uint live, created, deleted, started, executed;
};

struct te_fake_op {
	struct te_fake *f;
	unsigned polls;
	int done;
	enum vdm_operation_result result;
};

static inline void *
te_fake_new(struct vdm *vdm, const enum vdm_operation_type type)
{
	struct te_fake_op *op = (struct te_fake_op *)malloc(sizeof(*op));

	(void)type;
	if (op == NULL)
		return NULL;
	op->f = (struct te_fake *)(void *)vdm;
	op->polls = 0;
	op->done = 0;
	op->result = VDM_SUCCESS;
	atomic_fetch_add(&op->f->live, 1);
	atomic_fetch_add(&op->f->created, 1);
	return op;
}

static inline int
te_fake_start(void *data, const struct vdm_operation *operation,
	struct future_notifier *n)
{
	struct te_fake_op *op = (struct te_fake_op *)data;

	(void)operation;
	if (n != NULL)
		n->notifier_used = FUTURE_NOTIFIER_NONE;
	if (atomic_load(&op->f->refuse) > 0) {
		atomic_fetch_sub(&op->f->refuse, 1);
		return -1;
	}
	atomic_fetch_add(&op->f->started, 1);
	return 0;
}

static inline enum future_state
te_fake_check(void *data, const struct vdm_operation *o)
{
	struct te_fake_op *op = (struct te_fake_op *)data;
	struct te_fake *f = op->f;
	void *dest = NULL;

	if (op->done)
		return FUTURE_STATE_COMPLETE;
	if (++op->polls < f->polls_needed)
		return FUTURE_STATE_RUNNING;
	switch (o->type) {
	case VDM_OPERATION_MEMCPY: dest = o->data.memcpy.dest; break;
	case VDM_OPERATION_MEMMOVE: dest = o->data.memmove.dest; break;
	case VDM_OPERATION_MEMSET: dest = o->data.memset.str; break;
	case VDM_OPERATION_FLUSH: dest = o->data.flush.dest; break;
	}
	if (f->fail_dest != NULL && dest == f->fail_dest) {
		op->result = f->fail_result;
	} else {
		switch (o->type) {
		case VDM_OPERATION_MEMCPY:
			memcpy(o->data.memcpy.dest, o->data.memcpy.src,
				o->data.memcpy.n);
			break;
		case VDM_OPERATION_MEMMOVE:
			memmove(o->data.memmove.dest, o->data.memmove.src,
				o->data.memmove.n);
			break;
		case VDM_OPERATION_MEMSET:
			memset(o->data.memset.str, o->data.memset.c,
				o->data.memset.n);
			break;
		case VDM_OPERATION_FLUSH:
			break;
		}
		atomic_fetch_add(&f->executed, 1);
	}
	op->done = 1;
	return FUTURE_STATE_COMPLETE;
}

static inline void
te_fake_delete(void *data, const struct vdm_operation *o,
	struct vdm_operation_output *out)
{
	struct te_fake_op *op = (struct te_fake_op *)data;
	struct te_fake *f = op->f;

	memset(out, 0, sizeof(*out));
	out->type = o->type;
	out->result = op->result;
	if (op->result == VDM_SUCCESS && o->type == VDM_OPERATION_MEMCPY)
		out->output.memcpy.dest = o->data.memcpy.dest;
	free(op);
	atomic_fetch_sub(&f->live, 1);
	atomic_fetch_add(&f->deleted, 1);
}

static inline void
te_fake_init(struct te_fake *f, unsigned polls_needed)
{
	memset(f, 0, sizeof(*f));
	f->vdm.op_new = te_fake_new;
	f->vdm.op_delete = te_fake_delete;
	f->vdm.op_start = te_fake_start;
	f->vdm.op_check = te_fake_check;
	f->vdm.capabilities = VDM_F_VALID_FLAGS;
	f->vdm.has_property = future_has_property_default;
	f->polls_needed = polls_needed;
	atomic_init(&f->refuse, 0);
	atomic_init(&f->live, 0);
	atomic_init(&f->created, 0);
	atomic_init(&f->deleted, 0);
	atomic_init(&f->started, 0);
	atomic_init(&f->executed, 0);
}

#endif /* TEST_EXT_UTIL_H */
