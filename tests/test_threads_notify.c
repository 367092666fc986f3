/* test_threads_notify.c - the three notifier types of the threads mover.
 *
 * WAKER: the waker is called exactly once per registration, from a worker,
 * after the destination holds the result; its data may live on the
 * waiting thread's stack (the wait returns as soon as it is woken, the
 * frame is reused at once, and a late call would find a dead magic
 * number); a later registration replaces an earlier one and a poll with
 * no notifier drops it. POLLER: the poll hands out a 64-bit word that
 * changes when the operation completes. NONE: nothing is registered and
 * busy polling / the runtime still complete every operation.
 * The mover is told (test hook) that the caller may use two CPUs: in a
 * process that may use one CPU only, the polls run small operations
 * themselves and the waker is called at the first poll ("polling again
 * makes progress"), not from a worker (test_threads_place). */
#define MASYNC__TEST_HOOKS 1
#include "test_threads_util.h"

/* ---- a waker whose data sits on the waiting thread's stack ------------ */
struct stack_waiter {
	atomic_uint magic;
	atomic_uint calls;
	atomic_int woken;
	const unsigned char *dst, *expect;
	size_t n;
	atomic_int content_ok;
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

static void
stack_wake(void *data)
{
	struct stack_waiter *w = (struct stack_waiter *)data;

	if (atomic_load(&w->magic) != TT_WAKER_MAGIC) {
		fprintf(stderr, "waker called on a dead stack frame\n");
		abort();
	}
	/* the result must already be there */
	atomic_store(&w->content_ok, memcmp(w->dst, w->expect, w->n) == 0);
	atomic_fetch_add(&w->calls, 1);
	pthread_mutex_lock(&w->lock);
	atomic_store(&w->woken, 1);
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

/* One operation waited with a waker on this frame; returns the number of
 * polls it took. */
static unsigned
stack_round(struct vdm *vdm, unsigned char *dst, const unsigned char *src,
	size_t n)
{
	struct stack_waiter w;
	struct future_notifier nt;
	struct vdm_operation_future f =
		vdm_memcpy(vdm, dst, (void *)src, n, 0);
	enum future_state st;
	unsigned polls = 0;

	atomic_init(&w.magic, TT_WAKER_MAGIC);
	atomic_init(&w.calls, 0);
	atomic_init(&w.woken, 0);
	atomic_init(&w.content_ok, 0);
	w.dst = dst;
	w.expect = src;
	w.n = n;
	CHECK(pthread_mutex_init(&w.lock, NULL) == 0);
	CHECK(pthread_cond_init(&w.cond, NULL) == 0);
	memset(&nt, 0, sizeof(nt));
	nt.waker.data = &w;
	nt.waker.wake = stack_wake;

	for (;;) {
		st = future_poll(FUTURE_AS_RUNNABLE(&f), &nt);
		polls++;
		if (st == FUTURE_STATE_COMPLETE)
			break;
		CHECK(nt.notifier_used == FUTURE_NOTIFIER_WAKER);
		pthread_mutex_lock(&w.lock);
		while (!atomic_load(&w.woken))
			pthread_cond_wait(&w.cond, &w.lock);
		atomic_store(&w.woken, 0);
		pthread_mutex_unlock(&w.lock);
	}
	CHECK(tt_result(&f) == VDM_SUCCESS);
	/* each registration is called once: every poll but the last
	 * registered (the last one too if the copy finished during it).
	 * Woken means complete, though a poll that races with the end of the
	 * wake call may see it running and register again (called at its
	 * end) */
	CHECK(atomic_load(&w.calls) + 1 >= polls &&
		atomic_load(&w.calls) <= polls);
	CHECK(atomic_load(&w.content_ok) == 1);
	atomic_store(&w.magic, 0); /* the frame dies */
	pthread_cond_destroy(&w.cond);
	pthread_mutex_destroy(&w.lock);
	return polls;
}

/* Scribbles over the stack region the previous frame used. */
static void
clobber_stack(void)
{
	volatile unsigned char junk[512];
	size_t i;

	for (i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)i;
}

static void
test_stack_waker(void)
{
	struct data_mover_threads *dmt =
		data_mover_threads_new(2, 16, FUTURE_NOTIFIER_WAKER);
	struct vdm *vdm = data_mover_threads_get_vdm(dmt);
	unsigned char src[4096], dst[4096];
	unsigned i, rounds = 4000 / tt_slowdown(), two = 0;

	CHECK(dmt != NULL);
	tt_fill(src, sizeof(src), 77);
	for (i = 0; i < rounds; i++) {
		size_t n = 1 + (i * 131u) % sizeof(src);

		memset(dst, 0, sizeof(dst));
		two += stack_round(vdm, dst, src, n) >= 2;
		clobber_stack();
	}
	data_mover_threads_delete(dmt);
	tt_log("stack waker: %u rounds, %u needed a wake\n", rounds, two);
}

/* ---- registration replaced / dropped ---------------------------------- */
static void
test_reregister(void)
{
	struct data_mover_threads *dmt =
		data_mover_threads_new(1, 4, FUTURE_NOTIFIER_WAKER);
	struct vdm *vdm = data_mover_threads_get_vdm(dmt);
	struct tt_waker a, b, c;
	struct future_notifier na, nb, nc;
	unsigned char src[256], dst[256];
	struct vdm_operation_future f;

	CHECK(dmt != NULL);
	tt_gate_install(dmt);
	tt_waker_init(&a);
	tt_waker_init(&b);
	tt_waker_init(&c);
	na = tt_notifier(&a);
	nb = tt_notifier(&b);
	nc = tt_notifier(&c);
	tt_fill(src, sizeof(src), 1);

	/* a, then b: only b is called */
	tt_gate_reset(0);
	f = vdm_memcpy(vdm, dst, src, sizeof(src), 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), &na) ==
		FUTURE_STATE_RUNNING);
	CHECK(na.notifier_used == FUTURE_NOTIFIER_WAKER);
	tt_wait_uint(&tt_the_gate.entered, 1, 10000);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), &nb) ==
		FUTURE_STATE_RUNNING);
	CHECK(nb.notifier_used == FUTURE_NOTIFIER_WAKER);
	atomic_store(&tt_the_gate.open, 1);
	tt_wait_uint(&b.calls, 1, 10000);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), NULL) ==
		FUTURE_STATE_COMPLETE);
	CHECK(memcmp(src, dst, sizeof(src)) == 0);
	tt_sleep_us(20000);
	CHECK(atomic_load(&a.calls) == 0);
	CHECK(atomic_load(&b.calls) == 1);

	/* c, then a poll with no notifier: nobody is called */
	tt_gate_reset(0);
	f = vdm_memset(vdm, dst, 3, sizeof(dst), 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), &nc) ==
		FUTURE_STATE_RUNNING);
	tt_wait_uint(&tt_the_gate.entered, 1, 10000);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), NULL) ==
		FUTURE_STATE_RUNNING);
	atomic_store(&tt_the_gate.open, 1);
	tt_busy_wait(&f, 10000);
	CHECK(tt_verify_byte(dst, sizeof(dst), 3) == SIZE_MAX);
	tt_sleep_us(20000);
	CHECK(atomic_load(&c.calls) == 0);
	data_mover_threads_delete(dmt);
	tt_log("waker replaced / dropped ok\n");
}

/* ---- many operations, each with its own waker ------------------------- */
static void
test_many_wakers(void)
{
	enum { N = 200 };
	struct data_mover_threads *dmt =
		data_mover_threads_new(2, 256, FUTURE_NOTIFIER_WAKER);
	struct vdm *vdm = data_mover_threads_get_vdm(dmt);
	static struct tt_waker w[N];
	static struct vdm_operation_future f[N];
	static unsigned char src[N][512], dst[N][512];
	unsigned i;

	CHECK(dmt != NULL);
	for (i = 0; i < N; i++) {
		struct future_notifier nt;

		tt_waker_init(&w[i]);
		nt = tt_notifier(&w[i]);
		tt_fill(src[i], sizeof(src[i]), i);
		f[i] = vdm_memcpy(vdm, dst[i], src[i], sizeof(src[i]), 0);
		CHECK(future_poll(FUTURE_AS_RUNNABLE(&f[i]), &nt) !=
			FUTURE_STATE_IDLE);
	}
	for (i = 0; i < N; i++) {
		tt_wait_uint(&w[i].calls, 1, 10000);
		/* woken: the next poll completes */
		CHECK(future_poll(FUTURE_AS_RUNNABLE(&f[i]), NULL) ==
			FUTURE_STATE_COMPLETE);
		CHECK(tt_result(&f[i]) == VDM_SUCCESS);
		CHECK(tt_verify(dst[i], sizeof(dst[i]), i) == SIZE_MAX);
	}
	tt_sleep_us(20000);
	for (i = 0; i < N; i++)
		CHECK(atomic_load(&w[i].calls) == 1);
	data_mover_threads_delete(dmt);
	tt_log("%d wakers, each called once ok\n", N);
}

/* ---- POLLER ------------------------------------------------------------ */
static void
test_poller(struct runtime *rt)
{
	struct data_mover_threads *dmt =
		data_mover_threads_new(1, 4, FUTURE_NOTIFIER_POLLER);
	struct vdm *vdm = data_mover_threads_get_vdm(dmt);
	unsigned char src[1000], dst[1000];
	struct future_notifier nt;
	struct vdm_operation_future f;
	_Atomic uint64_t *word;
	uint64_t v0;
	unsigned i;

	CHECK(dmt != NULL);
	tt_gate_install(dmt);
	tt_gate_reset(0);
	tt_fill(src, sizeof(src), 4);
	f = vdm_memcpy(vdm, dst, src, sizeof(src), 0);
	memset(&nt, 0, sizeof(nt));
	nt.waker.wake = tt_waker_fn; /* must not be used */
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), &nt) ==
		FUTURE_STATE_RUNNING);
	CHECK(nt.notifier_used == FUTURE_NOTIFIER_POLLER);
	CHECK(nt.poller.ptr_to_monitor != NULL);
	word = (_Atomic uint64_t *)(void *)nt.poller.ptr_to_monitor;
	v0 = atomic_load(word);
	tt_wait_uint(&tt_the_gate.entered, 1, 10000);
	tt_sleep_us(2000);
	CHECK(atomic_load(word) == v0); /* not done yet: unchanged */
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), &nt) ==
		FUTURE_STATE_RUNNING);
	CHECK(nt.notifier_used == FUTURE_NOTIFIER_POLLER);
	atomic_store(&tt_the_gate.open, 1);
	tt_wait_word(nt.poller.ptr_to_monitor, v0, 10000);
	/* 0 while pending, 1 once done, as libminiasync's threads mover
	 * (its coroutine example waits for the word to read 1) */
	CHECK(v0 == 0 && atomic_load(word) == 1);
	/* changed: the next poll completes */
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), &nt) ==
		FUTURE_STATE_COMPLETE);
	CHECK(memcmp(src, dst, sizeof(src)) == 0);
	/* a poll that completes leaves POLLER and a word that reads 1 for
	 * good, as libminiasync's did (its coroutine example asserts
	 * POLLER after a first poll that may have completed, then reads the
	 * word): an empty operation, done in its first poll, and one polled
	 * until done, its state's word reused by later operations since */
	memset(&nt, 0, sizeof(nt));
	/* (empty and the library's kernel: done in the first poll; a user
	 * function, as the gate, is called for it on a worker) */
	data_mover_threads_set_memcpy_fn(dmt, NULL);
	f = vdm_memcpy(vdm, dst, src, 0, 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), &nt) ==
		FUTURE_STATE_COMPLETE);
	CHECK(nt.notifier_used == FUTURE_NOTIFIER_POLLER);
	CHECK(*nt.poller.ptr_to_monitor == 1);
	data_mover_threads_set_memcpy_fn(dmt, tt_gate_memcpy);
	atomic_store(&tt_the_gate.open, 1);
	f = vdm_memcpy(vdm, dst, src, sizeof(src), 0);
	memset(&nt, 0, sizeof(nt));
	while (future_poll(FUTURE_AS_RUNNABLE(&f), &nt) !=
			FUTURE_STATE_COMPLETE)
		tt_sleep_us(50);
	CHECK(nt.notifier_used == FUTURE_NOTIFIER_POLLER);
	for (i = 0; i < 8; i++) {
		struct vdm_operation_future g =
			vdm_memcpy(vdm, dst, src, sizeof(src), 0);

		tt_busy_wait(&g, 20000);
	}
	CHECK(*nt.poller.ptr_to_monitor == 1);

	/* the runtime waits on the word */
	data_mover_threads_set_memcpy_fn(dmt, NULL);
	for (i = 0; i < 500 / tt_slowdown() + 10; i++) {
		tt_fill(src, sizeof(src), i);
		f = vdm_memcpy(vdm, dst, src, sizeof(src), 0);
		runtime_wait(rt, FUTURE_AS_RUNNABLE(&f));
		CHECK(tt_result(&f) == VDM_SUCCESS);
		CHECK(memcmp(src, dst, sizeof(src)) == 0);
	}
	data_mover_threads_delete(dmt);
	tt_log("poller ok\n");
}

/* ---- NONE --------------------------------------------------------------- */
static void
test_none(struct runtime *rt)
{
	struct data_mover_threads *dmt =
		data_mover_threads_new(2, 8, FUTURE_NOTIFIER_NONE);
	struct vdm *vdm = data_mover_threads_get_vdm(dmt);
	unsigned char src[2000], dst[2000];
	struct tt_waker w;
	struct future_notifier nt;
	struct vdm_operation_future f;
	unsigned i;

	CHECK(dmt != NULL);
	tt_waker_init(&w);
	for (i = 0; i < 300 / tt_slowdown() + 10; i++) {
		tt_fill(src, sizeof(src), i);
		f = vdm_memcpy(vdm, dst, src, sizeof(src), 0);
		nt = tt_notifier(&w);
		/* the task says what it kept: nothing (as the original's) */
		nt.notifier_used = FUTURE_NOTIFIER_WAKER;
		while (future_poll(FUTURE_AS_RUNNABLE(&f), &nt) !=
				FUTURE_STATE_COMPLETE) {
			CHECK(nt.notifier_used == FUTURE_NOTIFIER_NONE);
			nt.notifier_used = FUTURE_NOTIFIER_WAKER;
			thrd_yield(); /* valgrind runs one thread at a time */
		}
		CHECK(memcmp(src, dst, sizeof(src)) == 0);
		f = vdm_memset(vdm, dst, (int)i, sizeof(dst), 0);
		runtime_wait(rt, FUTURE_AS_RUNNABLE(&f));
		CHECK(tt_verify_byte(dst, sizeof(dst), (int)(i & 0xff)) ==
			SIZE_MAX);
	}
	CHECK(atomic_load(&w.calls) == 0);
	data_mover_threads_delete(dmt);
	tt_log("none ok\n");
}

/* A WAKER mover polled with no notifier at all still completes; one with
 * no wake function is not kept (notifier_used NONE: poll again). */
static void
test_waker_mover_busy(void)
{
	struct data_mover_threads *dmt =
		data_mover_threads_new(1, 2, FUTURE_NOTIFIER_WAKER);
	struct vdm *vdm = data_mover_threads_get_vdm(dmt);
	unsigned char src[100], dst[100];
	struct vdm_operation_future f;
	unsigned i;

	CHECK(dmt != NULL);
	for (i = 0; i < 1000 / tt_slowdown(); i++) {
		tt_fill(src, sizeof(src), i);
		f = vdm_memmove(vdm, dst, src, sizeof(src), 0);
		if (i % 2) {
			struct future_notifier nt;

			memset(&nt, 0, sizeof(nt));
			nt.notifier_used = FUTURE_NOTIFIER_WAKER;
			if (future_poll(FUTURE_AS_RUNNABLE(&f), &nt) !=
					FUTURE_STATE_COMPLETE)
				CHECK(nt.notifier_used ==
					FUTURE_NOTIFIER_NONE);
		}
		tt_busy_wait(&f, 10000);
		CHECK(memcmp(src, dst, sizeof(src)) == 0);
	}
	data_mover_threads_delete(dmt);
	tt_log("waker mover, busy poll ok\n");
}

/* ---- two wakers that drop each other's future's waker ----------------
 * Wakers may poll futures. Each of these, called on its own worker, polls
 * the other future with no notifier while the other's waker runs: a drop
 * that waited for a running call would wait for good on both sides. The
 * copies meet in a user memcpy so that two workers run them at once, and
 * each waker waits for the other to be called before it polls. The
 * counters are under a mutex (helgrind sees no order in C11 atomics). */
static pthread_mutex_t xd_lock = PTHREAD_MUTEX_INITIALIZER;
static int xd_in_copy, xd_in_wake, xd_done, xd_registered;
static struct vdm_operation_future xd_f[2];

/* adds `add` to *p, then waits until *p >= at_least and, with `reg`,
 * until the test registered both wakers */
static void
xd_count(int *p, int add, int at_least, int reg)
{
	int ok;

	pthread_mutex_lock(&xd_lock);
	*p += add;
	pthread_mutex_unlock(&xd_lock);
	do {
		pthread_mutex_lock(&xd_lock);
		ok = *p >= at_least && (!reg || xd_registered);
		pthread_mutex_unlock(&xd_lock);
		if (!ok)
			thrd_yield();
	} while (!ok);
}

static void *
xd_memcpy(void *dst, const void *src, size_t n, unsigned flags)
{
	(void)flags;
	xd_count(&xd_in_copy, 1, 2, 0);
	return memcpy(dst, src, n);
}

static void
xd_wake(void *data)
{
	int me = (int)(intptr_t)data;

	/* (and not before the registering polls returned: the contract) */
	xd_count(&xd_in_wake, 1, 2, 1);
	/* the other's waker runs: not complete yet, or complete */
	(void)future_poll(FUTURE_AS_RUNNABLE(&xd_f[1 - me]), NULL);
	xd_count(&xd_done, 1, 0, 0);
}

static void
test_cross_drop(void)
{
	struct data_mover_threads *dmt =
		data_mover_threads_new(2, 8, FUTURE_NOTIFIER_WAKER);
	unsigned char src[2][64], dst[2][64];
	struct future_notifier nt;
	int i;

	CHECK(dmt != NULL);
	data_mover_threads_set_memcpy_fn(dmt, xd_memcpy);
	for (i = 0; i < 2; i++) {
		tt_fill(src[i], sizeof(src[i]), (unsigned)i + 5);
		xd_f[i] = vdm_memcpy(data_mover_threads_get_vdm(dmt), dst[i],
			src[i], sizeof(src[i]), 0);
		memset(&nt, 0, sizeof(nt));
		nt.waker.data = (void *)(intptr_t)i;
		nt.waker.wake = xd_wake;
		CHECK(future_poll(FUTURE_AS_RUNNABLE(&xd_f[i]), &nt) !=
			FUTURE_STATE_COMPLETE);
		CHECK(nt.notifier_used == FUTURE_NOTIFIER_WAKER);
	}
	xd_count(&xd_registered, 1, 0, 0);
	{
		/* (the limit only ends a deadlock) */
		uint64_t end = tt_now_ns() + 60000000000ull;
		int done;

		do {
			CHECK(tt_now_ns() < end);
			thrd_yield();
			pthread_mutex_lock(&xd_lock);
			done = xd_done;
			pthread_mutex_unlock(&xd_lock);
		} while (done < 2);
	}
	for (i = 0; i < 2; i++) {
		tt_busy_wait(&xd_f[i], 10000);
		CHECK(memcmp(src[i], dst[i], sizeof(src[i])) == 0);
	}
	data_mover_threads_delete(dmt);
	tt_log("wakers dropping each other's ok\n");
}

int
main(void)
{
	struct runtime *rt;

	tt_valgrind_setup();
	MASYNC__STORE(&masync__test_thr_cpus, 2u, relaxed);
	rt = tt_runtime_new();
	CHECK(rt != NULL);
	test_stack_waker();
	test_reregister();
	test_many_wakers();
	test_poller(rt);
	test_none(rt);
	test_waker_mover_busy();
	test_cross_drop();
	runtime_delete(rt);
	return 0;
}
