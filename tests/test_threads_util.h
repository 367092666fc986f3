/* test_threads_util.h - helpers shared by the threads mover tests.
 *
 * Each test is one translation unit that includes this file, which emits
 * the implementation (test_impl.h), or with TEST_IMPL_LINKED declares it
 * and the helpers that need its insides, compiled in tests/test_impl.c.
 * CHECK() fails the test with file:line; tests exit 0 on success, 1 on
 * failure, 77 to skip. */
#ifndef TEST_THREADS_UTIL_H
#define TEST_THREADS_UTIL_H

#if defined(MINIASYNC_VALGRIND) && MINIASYNC_VALGRIND
#define _GNU_SOURCE /* RTLD_NEXT */
#endif

#include "test_impl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>
#include <time.h>

#define CHECK(cond)                                                           \
	do {                                                                   \
		if (!(cond))                                                   \
			tt_fail(__FILE__, __LINE__, #cond);                    \
	} while (0)

static inline void
tt_fail(const char *file, int line, const char *what)
{
	fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
	fflush(stderr);
	exit(1);
}

static inline void
tt_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
}

static inline uint64_t
tt_now_ns(void)
{
	struct timespec ts;

	timespec_get(&ts, TIME_UTC);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void
tt_sleep_us(unsigned us)
{
	struct timespec ts;

	ts.tv_sec = us / 1000000u;
	ts.tv_nsec = (long)(us % 1000000u) * 1000;
	thrd_sleep(&ts, NULL);
}

/* ---- how slow is this run? -------------------------------------------- */
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define TT_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define TT_SANITIZED 1
#endif
#endif
#ifndef TT_SANITIZED
#define TT_SANITIZED 0
#endif
#if defined(__SANITIZE_THREAD__)
#define TT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TT_TSAN 1
#endif
#endif
#ifndef TT_TSAN
#define TT_TSAN 0
#endif

/* Test threads are pthreads: ThreadSanitizer (and valgrind's drd) do not
 * follow glibc's C11 thrd_create / thrd_join / mtx_lock, whose internal
 * calls bypass their interceptors. */
#include <pthread.h>

typedef pthread_t tt_thread;

struct tt_thread_box {
	int (*fn)(void *);
	void *arg;
};

static inline void *
tt_thread_tramp(void *p)
{
	struct tt_thread_box b = *(struct tt_thread_box *)p;

	free(p);
	return (void *)(intptr_t)b.fn(b.arg);
}

/* 0 on success */
static inline int
tt_thread_start(tt_thread *t, int (*fn)(void *), void *arg)
{
	struct tt_thread_box *b =
		(struct tt_thread_box *)malloc(sizeof(*b));
	int err;

	if (b == NULL)
		return ENOMEM;
	b->fn = fn;
	b->arg = arg;
	err = pthread_create(t, NULL, tt_thread_tramp, b);
	if (err != 0)
		free(b);
	return err;
}

static inline int
tt_thread_join(tt_thread t)
{
	return pthread_join(t, NULL);
}

#if defined(MINIASYNC_VALGRIND) && MINIASYNC_VALGRIND
#include <valgrind/helgrind.h>
#include <valgrind/valgrind.h>
#define TT_ON_VALGRIND() (RUNNING_ON_VALGRIND != 0)

/* The runtime and the CPU-feature cache keep their flags in C11 atomics,
 * which helgrind and drd cannot see as synchronisation: do not track
 * those words (inside the implementation: compiled in test_impl.c for
 * the tests that link it). */
#if defined(TEST_IMPL_LINKED) || defined(TT_IMPL_EXPORTS)
struct runtime *tt_runtime_new(void);
void tt_valgrind_setup(void);
#endif
#ifndef TEST_IMPL_LINKED
#ifdef TT_IMPL_EXPORTS
#define TT_IMPL_FN
#else
#define TT_IMPL_FN static inline
#endif
TT_IMPL_FN struct runtime *
tt_runtime_new(void)
{
	struct runtime *rt = runtime_new();

	if (rt != NULL && TT_ON_VALGRIND()) {
		VALGRIND_HG_DISABLE_CHECKING(&rt->gen, sizeof(rt->gen));
		VALGRIND_HG_DISABLE_CHECKING(&rt->waiters,
			sizeof(rt->waiters));
	}
	return rt;
}

TT_IMPL_FN void
tt_valgrind_setup(void)
{
#if defined(MASYNC__X86) || defined(MINIASYNC_DSA)
	if (TT_ON_VALGRIND())
		VALGRIND_HG_DISABLE_CHECKING(&masync__cpu_bits,
			sizeof(masync__cpu_bits));
#endif
}
#endif /* TEST_IMPL_LINKED */
#else
#define TT_ON_VALGRIND() 0
#define tt_runtime_new() runtime_new()
#define tt_valgrind_setup() ((void)0)
#endif

/* Non-zero under valgrind's drd, which is much slower than the other
 * valgrind tools with this many synchronisation events. */
static inline int
tt_on_drd(void)
{
	const char *pre = getenv("LD_PRELOAD");

	return TT_ON_VALGRIND() && pre != NULL &&
		strstr(pre, "vgpreload_drd") != NULL;
}

/* Divide iteration counts by this: 1 natively, more under the tools. */
static inline unsigned
tt_slowdown(void)
{
	if (TT_ON_VALGRIND())
		return tt_on_drd() ? 400 : 50;
	return TT_SANITIZED ? 4 : 1;
}

/* The movers write cache lines back on this target (x86, AArch64): else
 * they refuse durable operations and flushes (VDM_ERROR_NOT_SUPPORTED). */
#ifdef MASYNC__WB
#define TT_WB 1
#else
#define TT_WB 0
#endif
#define TT_DURABLE_RESULT (TT_WB ? VDM_SUCCESS : VDM_ERROR_NOT_SUPPORTED)

/* ---- content ----------------------------------------------------------- */
/* A pseudo-random pattern of splitmix64 words: tt_fill writes whole words
 * where it can and tt_verify compares them the same way; tt_pattern gives
 * the bytes of a tail. */
static inline uint64_t
tt_word(size_t k, unsigned seed)
{
	uint64_t z = (uint64_t)k + ((uint64_t)seed << 32) +
		0x9e3779b97f4a7c15u;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static inline unsigned char
tt_pattern(size_t i, unsigned seed)
{
	uint64_t w = tt_word(i / 8, seed);
	unsigned char b[8];

	memcpy(b, &w, 8); /* the word's bytes as tt_fill stores them */
	return b[i % 8];
}

static inline void
tt_fill(void *p, size_t n, unsigned seed)
{
	unsigned char *c = (unsigned char *)p;
	size_t k;

	for (k = 0; k + 8 <= n; k += 8) {
		uint64_t w = tt_word(k / 8, seed);

		memcpy(c + k, &w, 8);
	}
	for (; k < n; k++)
		c[k] = tt_pattern(k, seed);
}

/* index of the first byte that is not the pattern, or SIZE_MAX */
static inline size_t
tt_verify(const void *p, size_t n, unsigned seed)
{
	const unsigned char *c = (const unsigned char *)p;
	size_t k;

	for (k = 0; k + 8 <= n; k += 8) {
		uint64_t w = tt_word(k / 8, seed);

		if (memcmp(c + k, &w, 8) != 0)
			break;
	}
	for (; k < n; k++)
		if (c[k] != tt_pattern(k, seed))
			return k;
	return SIZE_MAX;
}

static inline size_t
tt_verify_byte(const void *p, size_t n, int byte)
{
	const unsigned char *c = (const unsigned char *)p;
	size_t i;

	for (i = 0; i < n; i++)
		if (c[i] != (unsigned char)byte)
			return i;
	return SIZE_MAX;
}

static inline void *
tt_xmalloc(size_t n)
{
	void *p = malloc(n == 0 ? 1 : n);

	if (p == NULL) {
		fprintf(stderr, "out of memory (%zu bytes)\n", n);
		exit(1);
	}
	return p;
}

/* ---- futures ----------------------------------------------------------- */
static inline enum vdm_operation_result
tt_result(struct vdm_operation_future *f)
{
	return FUTURE_OUTPUT(f)->result;
}

/* A cancelled queued operation gives its slot of the bound back at once,
 * but its entry stays in the ring until a worker pops (and skips) it or a
 * poller's trim drops it; the trim stops at a queued operation it may not
 * run (a user function's, e.g. a gate's). So with the workers held, one
 * such operation followed by k of these fills the ring while only one
 * operation is in flight. Each moves n bytes from src to dst (memmove
 * with `move`, else memcpy), which it must never write. */
static inline void
tt_push_cancelled(struct vdm *vdm, unsigned k, void *dst, void *src,
	size_t n, int move)
{
	struct vdm_operation_future c;
	unsigned i;

	for (i = 0; i < k; i++) {
		c = move ? vdm_memmove(vdm, dst, src, n, 0) :
			vdm_memcpy(vdm, dst, src, n, 0);
		CHECK(FUTURE_STATE(&c) == FUTURE_STATE_IDLE);
		CHECK(future_poll(FUTURE_AS_RUNNABLE(&c), NULL) !=
			FUTURE_STATE_COMPLETE);
		CHECK(vdm_cancel(&c) == 0);
		CHECK(tt_result(&c) == VDM_ERROR_CANCELLED);
	}
}

/* A hang guard's end: `ms` milliseconds from now (ten times that under
 * valgrind, which runs one thread at a time). */
static inline uint64_t
tt_deadline(unsigned ms)
{
	return tt_now_ns() + (uint64_t)ms * 1000000u *
		(TT_ON_VALGRIND() ? 10 : 1);
}

/* Polls with no notifier until complete; fails after `ms` milliseconds. */
static inline void
tt_busy_wait(struct vdm_operation_future *f, unsigned ms)
{
	uint64_t end = tt_deadline(ms);
	unsigned n = 0, mask = TT_ON_VALGRIND() ? 0 : 1023;

	/* valgrind runs one thread at a time: yield at every poll there */
	while (future_poll(FUTURE_AS_RUNNABLE(f), NULL) !=
			FUTURE_STATE_COMPLETE) {
		if ((++n & mask) == 0) {
			CHECK(tt_now_ns() < end);
			thrd_yield();
		}
	}
}

/* A counting waker: the count, plus the expected magic so a late call on
 * a dead object is caught. */
#define TT_WAKER_MAGIC 0x5a17c0deu

struct tt_waker {
	atomic_uint magic;
	atomic_uint calls;
};

static inline void
tt_waker_fn(void *data)
{
	struct tt_waker *w = (struct tt_waker *)data;

	if (atomic_load(&w->magic) != TT_WAKER_MAGIC) {
		fprintf(stderr, "waker called on a dead object\n");
		abort();
	}
	atomic_fetch_add(&w->calls, 1);
}

static inline void
tt_waker_init(struct tt_waker *w)
{
	atomic_init(&w->magic, TT_WAKER_MAGIC);
	atomic_init(&w->calls, 0);
}

static inline struct future_notifier
tt_notifier(struct tt_waker *w)
{
	struct future_notifier n;

	memset(&n, 0, sizeof(n));
	n.waker.data = w;
	n.waker.wake = tt_waker_fn;
	return n;
}

/* Waits until `*v` reaches `want`; fails after `ms` milliseconds. */
static inline void
tt_wait_uint(atomic_uint *v, unsigned want, unsigned ms)
{
	uint64_t end = tt_deadline(ms);

	while (atomic_load(v) < want) {
		CHECK(tt_now_ns() < end);
		tt_sleep_us(50);
	}
}

/* Waits until the 64-bit word at `p` differs from `seen`; fails after `ms`
 * milliseconds (ten times that under valgrind). */
static inline void
tt_wait_word(uint64_t *p, uint64_t seen, unsigned ms)
{
	uint64_t end = tt_deadline(ms);

	while (atomic_load((_Atomic uint64_t *)(void *)p) == seen) {
		CHECK(tt_now_ns() < end);
		thrd_yield();
	}
}

/* ---- a gate: custom op functions that block until opened -------------- */
struct tt_gate {
	atomic_int open;
	atomic_uint entered; /* calls that reached the gate */
	atomic_uint calls;
};

static struct tt_gate tt_the_gate;

static inline void
tt_gate_reset(int open)
{
	atomic_store(&tt_the_gate.open, open);
	atomic_store(&tt_the_gate.entered, 0);
	atomic_store(&tt_the_gate.calls, 0);
}

static inline void
tt_gate_pass(void)
{
	atomic_fetch_add(&tt_the_gate.entered, 1);
	while (!atomic_load(&tt_the_gate.open))
		tt_sleep_us(100);
	atomic_fetch_add(&tt_the_gate.calls, 1);
}

static inline void *
tt_gate_memcpy(void *dst, const void *src, size_t n, unsigned flags)
{
	(void)flags;
	tt_gate_pass();
	return memcpy(dst, src, n);
}

static inline void *
tt_gate_memmove(void *dst, const void *src, size_t n, unsigned flags)
{
	(void)flags;
	tt_gate_pass();
	return memmove(dst, src, n);
}

static inline void *
tt_gate_memset(void *dst, int c, size_t n, unsigned flags)
{
	(void)flags;
	tt_gate_pass();
	return memset(dst, c, n);
}

static inline void
tt_gate_install(struct data_mover_threads *dmt)
{
	data_mover_threads_set_memcpy_fn(dmt, tt_gate_memcpy);
	data_mover_threads_set_memmove_fn(dmt, tt_gate_memmove);
	data_mover_threads_set_memset_fn(dmt, tt_gate_memset);
}

/* ---- watchdog: only a real hang trips it -------------------------------- */
/* SIGALRM after 60 s (600 s under valgrind; TT_WATCHDOG_S overrides) with
 * no new tt_watchdog() call: prints the message and exits 1. No outcome
 * depends on timing otherwise: a run that hangs never recovers. */
#include <signal.h>
#include <unistd.h>

static const char *tt_watchdog_msg = "watchdog: no progress for a long time\n";

static void
tt_watchdog_fired(int sig)
{
	(void)sig;
	if (write(2, tt_watchdog_msg, strlen(tt_watchdog_msg)) < 0)
		_exit(2);
	_exit(1);
}

static inline void
tt_watchdog(const char *step)
{
	unsigned s = TT_ON_VALGRIND() ? 600 : 60;
	const char *env = getenv("TT_WATCHDOG_S");

	if (env != NULL && atoi(env) > 0)
		s = (unsigned)atoi(env);
	signal(SIGALRM, tt_watchdog_fired);
	alarm(s);
	tt_log("%s\n", step);
}

#endif /* TEST_THREADS_UTIL_H */
