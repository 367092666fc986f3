/* test_threads_wake.c - wake-ups that are never lost, wakers that may do
 * anything (the waker contract), overlapping copies.
 *
 * Each scenario is held step by step with a gate (a user copy function
 * that blocks until the test opens it), so it is deterministic; a hang is
 * the failure, caught by a generous watchdog (it never fires on a run that
 * works, however slow the machine).
 * ringbuf_size bounds the operations in flight, so live operations alone
 * never fill the ring: where a scenario needs operations waiting for room,
 * cancelled entries fill the ring (push_cancelled: they give their slots
 * of the bound back, their entries stay until the worker pops them), and
 * each ring is as large as what the scenario keeps in flight.
 * - lost_dropped: 1 worker, ring 4; s and three cancelled entries behind
 *   it fill it, D waits for room, then its owner drops the waker (a NULL poll, as
 *   runtime_wait_for does on timeout, or a hand-off); Q waits behind it
 *   with a waker. When slots free, Q's waker must be called although D
 *   could not use a wake-up. With g, s, D and Q the bound is reached: a
 *   fifth is born VDM_ERROR_OUT_OF_MEMORY (the cancelled entries do not
 *   count, the waiting operations do).
 * - lost_cancelled: the same, but D is cancelled after its waker fired.
 * - sleep_check: a queue whose head is claimed but not yet published is
 *   not empty to a worker about to sleep.
 * - waker_locks (a): the executor polls under its own mutex while the
 *   waker, called on completion, waits for that mutex.
 * - waker_polls_self (b): the waker polls its own future inline.
 * - waker_polls_other (c): the waker of an operation that waited for room
 *   polls another future that waited for room, of the same mover, and
 *   creates and polls a new operation, which waits for room (the test
 *   filled the ring again meanwhile) and takes the last slot of the
 *   bound.
 * - waker_not_in_poll (d): a split copy polled under the executor's lock
 *   never has its waker called inside that poll.
 * - waker_waits_room (e): 1 worker, ring 3; A's waker, on the worker,
 *   makes X and waits for it by polling; X waits for room behind Y and
 *   two cancelled entries, and Y's owner then runs Y by polling it (Y's
 *   entry stays queued until a pop). X's next polls must make the room
 *   (drop Y's entry) themselves: the only worker that would pop is the
 *   one waiting.
 * - overlap: vdm_memcpy with overlapping ranges gives memmove's result,
 *   also for operations large enough to be split between the workers. */
#define _GNU_SOURCE
/* (runtime_in_waker: holds a call of a runtime's waker before it starts) */
static void before_wake(const void *k);
#define MASYNC__TEST_BEFORE_WAKE(k) before_wake(k)
#include "test_threads_util.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

/* the watchdog's message (tests/test_threads_util.h) */
static void
watchdog(const char *step)
{
	tt_watchdog_msg = "watchdog: no progress for a long time (a lost wake-up or a deadlock)\n";
	tt_watchdog(step);
}

/* waits for `*v >= want` with no time limit of its own (the watchdog) */
static void
wait_calls(atomic_uint *v, unsigned want)
{
	while (atomic_load(v) < want)
		tt_sleep_us(100);
}

/* A flag handed between threads under a pthread mutex, which helgrind
 * and drd see (they do not see C11 atomics or glibc's C11 mtx_t). */
struct flag {
	pthread_mutex_t m;
	int v;
};

static void
flag_init(struct flag *f)
{
	CHECK(pthread_mutex_init(&f->m, NULL) == 0);
	f->v = 0;
}

static void
flag_set(struct flag *f, int v)
{
	pthread_mutex_lock(&f->m);
	f->v = v;
	pthread_mutex_unlock(&f->m);
}

static int
flag_get(struct flag *f)
{
	int v;

	pthread_mutex_lock(&f->m);
	v = f->v;
	pthread_mutex_unlock(&f->m);
	return v;
}

/* waits (no time limit of its own: the watchdog) for a non-zero flag */
static int
flag_wait(struct flag *f)
{
	int v;

	while ((v = flag_get(f)) == 0)
		tt_sleep_us(100);
	return v;
}

/* gate only the operations whose destination is `gated_dst` */
static void *gated_dst;

/* the gate's flag is a C11 atomic; this mutex shows helgrind and drd
 * that what the test did before opening happened before the copy */
static pthread_mutex_t gate_m = PTHREAD_MUTEX_INITIALIZER;

static void *
gate_some_memcpy(void *dst, const void *src, size_t n, unsigned flags)
{
	(void)flags;
	if (dst == gated_dst) {
		tt_gate_pass();
		pthread_mutex_lock(&gate_m);
		pthread_mutex_unlock(&gate_m);
	}
	return memcpy(dst, src, n);
}

static void
open_gate(void)
{
	pthread_mutex_lock(&gate_m);
	atomic_store(&tt_the_gate.open, 1);
	pthread_mutex_unlock(&gate_m);
}

enum { SZ = 512 };

/* ---- a ring full of cancelled entries -------------------------------------
 * ringbuf_size bounds the operations in flight, so live operations alone
 * never fill the ring. A cancelled queued one gives its slot of the bound
 * back at once, but its entry stays in the ring until a worker pops (and
 * skips) it or a poller's trim drops it, and a trim stops at a queued
 * operation of a user function (those are the workers'). So while the
 * only worker is held, one such operation and `k` cancelled memmoves
 * behind it (with plain_memmove set as the mover's memmove_fn) fill k + 1
 * slots with one more operation in flight at most, and what is polled
 * next waits for room. They never write filler_dst. */
static unsigned char filler_src[SZ], filler_dst[SZ];

static void *
plain_memmove(void *dst, const void *src, size_t n, unsigned flags)
{
	(void)flags;
	return memmove(dst, src, n);
}

/* (tt_push_cancelled with the fillers' buffers and memmove function) */
static void
push_cancelled(struct vdm *vdm, unsigned k)
{
	tt_fill(filler_src, SZ, 99);
	tt_push_cancelled(vdm, k, filler_dst, filler_src, SZ, 1);
}

/* ---- 1. lost wake-ups on the wait list ---------------------------------- */
static void
lost_wakeup(int cancel_d)
{
	/* the bound: g, s, d and q */
	struct data_mover_threads *dmt =
		data_mover_threads_new(1, 4, FUTURE_NOTIFIER_WAKER);
	struct vdm *vdm = data_mover_threads_get_vdm(dmt);
	static unsigned char src[5][SZ], dst[5][SZ];
	struct vdm_operation_future g, s, d, q, r;
	struct tt_waker wd, wq;
	struct future_notifier nd, nq;
	int ret;
	unsigned i;

	CHECK(dmt != NULL);
	watchdog(cancel_d ? "lost wake-up: waiter cancelled after its wake-up"
		: "lost wake-up: waiter dropped its waker");
	for (i = 0; i < 5; i++) {
		tt_fill(src[i], SZ, 40 + i);
		memset(dst[i], 0, SZ);
	}
	memset(filler_dst, 0, SZ);
	tt_gate_reset(0);
	gated_dst = dst[0];
	data_mover_threads_set_memcpy_fn(dmt, gate_some_memcpy);
	data_mover_threads_set_memmove_fn(dmt, plain_memmove);
	tt_waker_init(&wd);
	tt_waker_init(&wq);
	nd = tt_notifier(&wd);
	nq = tt_notifier(&wq);
	/* g runs, held at the gate; s (which a poll may not run: a user
	 * function's) and three cancelled entries behind it fill the ring */
	g = vdm_memcpy(vdm, dst[0], src[0], SZ, 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&g), NULL) != FUTURE_STATE_COMPLETE);
	tt_wait_uint(&tt_the_gate.entered, 1, 10000);
	s = vdm_memcpy(vdm, dst[1], src[1], SZ, 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&s), NULL) != FUTURE_STATE_COMPLETE);
	push_cancelled(vdm, 3);
	d = vdm_memcpy(vdm, dst[2], src[2], SZ, 0);
	q = vdm_memcpy(vdm, dst[3], src[3], SZ, 0);
	/* the bound counts d and q, which will wait for room, and not the
	 * cancelled entries: a fifth is born failed, nothing written */
	r = vdm_memcpy(vdm, dst[4], src[4], SZ, 0);
	CHECK(FUTURE_STATE(&r) == FUTURE_STATE_COMPLETE);
	CHECK(tt_result(&r) == VDM_ERROR_OUT_OF_MEMORY);
	CHECK(masync__thr_fill(dmt) == 4);
	/* d and q wait for room, in that order */
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&d), &nd) == FUTURE_STATE_IDLE);
	if (!cancel_d) /* d's owner drops its waker (NULL poll) */
		CHECK(future_poll(FUTURE_AS_RUNNABLE(&d), NULL) ==
			FUTURE_STATE_IDLE);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&q), &nq) == FUTURE_STATE_IDLE);
	CHECK(MASYNC__LOAD(&dmt->nblocked, relaxed) == 2);
	CHECK(atomic_load(&wq.calls) == 0);
	open_gate();
	if (cancel_d) {
		/* d got the wake-up; its owner cancels instead of polling */
		wait_calls(&wd.calls, 1);
		ret = vdm_cancel(&d);
		CHECK(ret == 0 || ret == EINPROGRESS);
	}
	/* q is never polled until its waker says so */
	wait_calls(&wq.calls, 1);
	tt_busy_wait(&q, 10000);
	CHECK(tt_result(&q) == VDM_SUCCESS);
	CHECK(tt_verify(dst[3], SZ, 43) == SIZE_MAX);
	tt_busy_wait(&g, 10000);
	tt_busy_wait(&s, 10000);
	tt_busy_wait(&d, 10000);
	CHECK(tt_verify(dst[0], SZ, 40) == SIZE_MAX);
	CHECK(tt_verify(dst[1], SZ, 41) == SIZE_MAX);
	if (tt_result(&d) == VDM_ERROR_CANCELLED)
		CHECK(tt_verify_byte(dst[2], SZ, 0) == SIZE_MAX);
	else
		CHECK(tt_verify(dst[2], SZ, 42) == SIZE_MAX);
	CHECK(atomic_load(&wq.calls) == 1);
	CHECK(tt_verify_byte(dst[4], SZ, 0) == SIZE_MAX);
	data_mover_threads_delete(dmt);
	/* the worker popped and skipped the cancelled entries */
	CHECK(tt_verify_byte(filler_dst, SZ, 0) == SIZE_MAX);
	alarm(0);
}

/* ---- 1b. a worker sleeps only on an empty queue -------------------------- */
/* A push claims its slot (enq_pos) before it publishes the entry. A worker
 * that read only the head cell took a queue whose head was still being
 * pushed for empty, and slept with entries published behind it (their
 * pushers saw it busy, the head's may wake nobody): a hang, once in 40
 * runs of test_threads_fork's stress under TSan. The claim is made by
 * hand here, while the only worker is held at the gate and nothing else
 * pushes; the check is the worker's own, masync__ring_nonempty. */
static void
sleep_check(void)
{
	struct data_mover_threads *dmt =
		data_mover_threads_new(1, 4, FUTURE_NOTIFIER_WAKER);
	struct vdm *vdm = data_mover_threads_get_vdm(dmt);
	static unsigned char src[SZ], dst[SZ];
	struct vdm_operation_future g;
	size_t pos;

	CHECK(dmt != NULL);
	watchdog("a worker's check for an empty queue");
	tt_fill(src, SZ, 7);
	tt_gate_reset(0);
	gated_dst = dst;
	data_mover_threads_set_memcpy_fn(dmt, gate_some_memcpy);
	g = vdm_memcpy(vdm, dst, src, SZ, 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&g), NULL) != FUTURE_STATE_COMPLETE);
	tt_wait_uint(&tt_the_gate.entered, 1, 10000); /* popped, running */
	CHECK(!masync__ring_nonempty(dmt));
	pos = MASYNC__LOAD(&dmt->enq_pos, relaxed);
	MASYNC__STORE(&dmt->enq_pos, pos + 1, relaxed); /* claimed */
	CHECK(masync__ring_nonempty(dmt));
	MASYNC__STORE(&dmt->enq_pos, pos, relaxed); /* given back */
	CHECK(!masync__ring_nonempty(dmt));
	open_gate();
	tt_busy_wait(&g, 10000);
	CHECK(tt_result(&g) == VDM_SUCCESS);
	CHECK(tt_verify(dst, SZ, 7) == SIZE_MAX);
	data_mover_threads_delete(dmt);
	alarm(0);
}

/* ---- 2a. the waker takes the executor's mutex ---------------------------- */
struct exec_a {
	pthread_mutex_t m;
	atomic_uint entered, calls;
	int queued; /* under m */
};

static void
exec_a_wake(void *data)
{
	struct exec_a *e = (struct exec_a *)data;

	atomic_fetch_add(&e->entered, 1);
	pthread_mutex_lock(&e->m);
	e->queued = 1;
	atomic_fetch_add(&e->calls, 1);
	pthread_mutex_unlock(&e->m);
}

static void
waker_locks(void)
{
	struct data_mover_threads *dmt =
		data_mover_threads_new(1, 4, FUTURE_NOTIFIER_WAKER);
	struct vdm *vdm = data_mover_threads_get_vdm(dmt);
	static unsigned char src[SZ], dst[SZ];
	struct vdm_operation_future f;
	struct future_notifier n;
	struct exec_a e;
	enum future_state st;
	unsigned seen;

	CHECK(dmt != NULL);
	watchdog("(a) the waker waits for the mutex the executor polls under");
	tt_fill(src, SZ, 7);
	CHECK(pthread_mutex_init(&e.m, NULL) == 0);
	atomic_init(&e.entered, 0);
	atomic_init(&e.calls, 0);
	e.queued = 0;
	memset(&n, 0, sizeof(n));
	n.waker.data = &e;
	n.waker.wake = exec_a_wake;
	tt_gate_reset(0);
	gated_dst = dst;
	data_mover_threads_set_memcpy_fn(dmt, gate_some_memcpy);
	f = vdm_memcpy(vdm, dst, src, SZ, 0);
	pthread_mutex_lock(&e.m);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), &n) == FUTURE_STATE_RUNNING);
	tt_wait_uint(&tt_the_gate.entered, 1, 10000);
	open_gate();
	/* the worker completed f and is in the waker, waiting for m */
	wait_calls(&e.entered, 1);
	/* the executor polls under m: must not wait for the waker */
	st = future_poll(FUTURE_AS_RUNNABLE(&f), &n);
	pthread_mutex_unlock(&e.m);
	/* then it goes on as executors do: poll when woken */
	while (st != FUTURE_STATE_COMPLETE) {
		seen = atomic_load(&e.calls);
		pthread_mutex_lock(&e.m);
		st = future_poll(FUTURE_AS_RUNNABLE(&f), &n);
		pthread_mutex_unlock(&e.m);
		if (st != FUTURE_STATE_COMPLETE)
			wait_calls(&e.calls, seen + 1);
	}
	CHECK(tt_result(&f) == VDM_SUCCESS);
	CHECK(tt_verify(dst, SZ, 7) == SIZE_MAX);
	CHECK(atomic_load(&e.calls) >= 1);
	data_mover_threads_delete(dmt);
	pthread_mutex_destroy(&e.m);
	alarm(0);
}

/* ---- 2b. the waker polls its own future ---------------------------------- */
struct self_poller {
	struct vdm_operation_future *f;
	atomic_uint calls;
	struct flag saw; /* the state the inline poll returned, + 1 */
};

static void
self_poll_wake(void *data)
{
	struct self_poller *p = (struct self_poller *)data;
	struct future_notifier n;
	enum future_state st;

	memset(&n, 0, sizeof(n));
	n.waker.data = p;
	n.waker.wake = self_poll_wake;
	st = future_poll(FUTURE_AS_RUNNABLE(p->f), &n);
	atomic_fetch_add(&p->calls, 1);
	if (st == FUTURE_STATE_COMPLETE)
		flag_set(&p->saw, (int)st + 1);
}

static void
waker_polls_self(void)
{
	struct data_mover_threads *dmt =
		data_mover_threads_new(1, 4, FUTURE_NOTIFIER_WAKER);
	struct vdm *vdm = data_mover_threads_get_vdm(dmt);
	static unsigned char src[SZ], dst[SZ];
	struct vdm_operation_future f;
	struct self_poller p;
	struct future_notifier n;

	CHECK(dmt != NULL);
	watchdog("(b) the waker polls its own future");
	tt_fill(src, SZ, 8);
	p.f = &f;
	atomic_init(&p.calls, 0);
	flag_init(&p.saw);
	memset(&n, 0, sizeof(n));
	n.waker.data = &p;
	n.waker.wake = self_poll_wake;
	tt_gate_reset(0);
	gated_dst = dst;
	data_mover_threads_set_memcpy_fn(dmt, gate_some_memcpy);
	f = vdm_memcpy(vdm, dst, src, SZ, 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), &n) == FUTURE_STATE_RUNNING);
	tt_wait_uint(&tt_the_gate.entered, 1, 10000);
	/* from here on only the waker polls f */
	open_gate();
	CHECK(flag_wait(&p.saw) == FUTURE_STATE_COMPLETE + 1);
	CHECK(FUTURE_STATE(&f) == FUTURE_STATE_COMPLETE);
	CHECK(tt_result(&f) == VDM_SUCCESS);
	CHECK(tt_verify(dst, SZ, 8) == SIZE_MAX);
	data_mover_threads_delete(dmt);
	CHECK(atomic_load(&p.calls) == 1);
	alarm(0);
}

/* ---- 2c. the waker polls other futures of the same mover ----------------
 * 1 worker, ring 5: the bound is g, s, b, x and the waker's y. s and
 * cancelled entries behind it fill the ring (a user function's s, which a
 * poll may not run, keeps a poll from dropping them), and b (with the
 * waker) and x wait for room. Once the worker is in b's waker (x was moved into the ring
 * meanwhile), the test fills the ring again behind x, so the y the waker
 * makes and polls waits for room too, as x did. */
struct other_poller {
	struct vdm *vdm;
	struct data_mover_threads *dmt;
	struct vdm_operation_future *x, y;
	unsigned char *ydst, *ysrc;
	struct flag in_waker, filled, done;
	int y_blocked; /* seen by the waker */
};

static void
other_poll_wake(void *data)
{
	struct other_poller *p = (struct other_poller *)data;

	if (flag_get(&p->done))
		return; /* woken again: nothing more to do */
	flag_set(&p->in_waker, 1);
	flag_wait(&p->filled);
	/* poll the other waiting future, and make and poll a new one */
	(void)future_poll(FUTURE_AS_RUNNABLE(p->x), NULL);
	p->y = vdm_memcpy(p->vdm, p->ydst, p->ysrc, SZ, 0);
	CHECK(tt_result(&p->y) == VDM_SUCCESS); /* within the bound */
	if (future_poll(FUTURE_AS_RUNNABLE(&p->y), NULL) ==
			FUTURE_STATE_IDLE)
		p->y_blocked = (int)MASYNC__LOAD(&p->dmt->nblocked, relaxed);
	flag_set(&p->done, 1);
}

static void
waker_polls_other(void)
{
	struct data_mover_threads *dmt =
		data_mover_threads_new(1, 5, FUTURE_NOTIFIER_WAKER);
	struct vdm *vdm = data_mover_threads_get_vdm(dmt);
	static unsigned char src[5][SZ], dst[5][SZ];
	struct vdm_operation_future g, s, b, x;
	struct other_poller p;
	struct future_notifier n;
	unsigned i;

	CHECK(dmt != NULL);
	watchdog("(c) the waker of a waiting operation polls others");
	for (i = 0; i < 5; i++) {
		tt_fill(src[i], SZ, 20 + i);
		memset(dst[i], 0, SZ);
	}
	memset(filler_dst, 0, SZ);
	p.vdm = vdm;
	p.dmt = dmt;
	p.x = &x;
	p.ydst = dst[4];
	p.ysrc = src[4];
	p.y_blocked = 0;
	flag_init(&p.in_waker);
	flag_init(&p.filled);
	flag_init(&p.done);
	memset(&n, 0, sizeof(n));
	n.waker.data = &p;
	n.waker.wake = other_poll_wake;
	tt_gate_reset(0);
	gated_dst = dst[0];
	data_mover_threads_set_memcpy_fn(dmt, gate_some_memcpy);
	data_mover_threads_set_memmove_fn(dmt, plain_memmove);
	g = vdm_memcpy(vdm, dst[0], src[0], SZ, 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&g), NULL) != FUTURE_STATE_COMPLETE);
	tt_wait_uint(&tt_the_gate.entered, 1, 10000);
	s = vdm_memcpy(vdm, dst[1], src[1], SZ, 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&s), NULL) == FUTURE_STATE_RUNNING);
	push_cancelled(vdm, 4);
	CHECK(masync__thr_fill(dmt) == 5);
	b = vdm_memcpy(vdm, dst[2], src[2], SZ, 0);
	x = vdm_memcpy(vdm, dst[3], src[3], SZ, 0);
	/* b with the waker, then x wait for room */
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&b), &n) == FUTURE_STATE_IDLE);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&x), NULL) == FUTURE_STATE_IDLE);
	CHECK(MASYNC__LOAD(&dmt->nblocked, relaxed) == 2);
	/* from here on x is the waker's until it says it is done */
	open_gate();
	/* the worker ran s, popped the cancelled entries (moving b and x
	 * in), ran b, and is in b's waker: x alone is queued */
	flag_wait(&p.in_waker);
	CHECK(masync__thr_fill(dmt) == 1);
	CHECK(MASYNC__LOAD(&dmt->nblocked, relaxed) == 0);
	push_cancelled(vdm, 4);
	CHECK(masync__thr_fill(dmt) == 5);
	flag_set(&p.filled, 1);
	flag_wait(&p.done);
	CHECK(p.y_blocked == 1); /* y waited for room */
	tt_busy_wait(&b, 10000);
	tt_busy_wait(&x, 10000);
	tt_busy_wait(&p.y, 10000);
	tt_busy_wait(&g, 10000);
	tt_busy_wait(&s, 10000);
	for (i = 0; i < 5; i++)
		CHECK(tt_verify(dst[i], SZ, 20 + i) == SIZE_MAX);
	data_mover_threads_delete(dmt);
	CHECK(tt_verify_byte(filler_dst, SZ, 0) == SIZE_MAX);
	alarm(0);
}

/* ---- 2d. a program's waker is never called inside a poll ---------------
 * An executor that polls under its queue's lock, with a waker that takes
 * that lock: a 4 MiB copy (split between the poller and the workers),
 * polled under the lock. The waker must not run on the polling thread
 * while the poll is in progress (before, the first poll called it there,
 * "poll again": a self-deadlock on a plain mutex). */
static _Thread_local int in_poll;

struct exec_d {
	pthread_mutex_t m;
	atomic_uint calls, inside;
};

static void
exec_d_wake(void *data)
{
	struct exec_d *e = (struct exec_d *)data;

	if (in_poll)
		atomic_fetch_add(&e->inside, 1);
	else
		pthread_mutex_lock(&e->m);
	atomic_fetch_add(&e->calls, 1);
	if (!in_poll)
		pthread_mutex_unlock(&e->m);
}

static void
waker_not_in_poll(void)
{
	const size_t n = (size_t)4 << 20;
	struct data_mover_threads *dmt =
		data_mover_threads_new(2, 8, FUTURE_NOTIFIER_WAKER);
	struct vdm *vdm = data_mover_threads_get_vdm(dmt);
	unsigned char *src = (unsigned char *)tt_xmalloc(n);
	unsigned char *dst = (unsigned char *)tt_xmalloc(n);
	struct vdm_operation_future f;
	struct future_notifier nt;
	struct exec_d e;
	enum future_state st = FUTURE_STATE_IDLE;
	unsigned seen;
	int round;

	CHECK(dmt != NULL);
	watchdog("(d) a waker called inside the poll of an executor's lock");
	CHECK(pthread_mutex_init(&e.m, NULL) == 0);
	atomic_init(&e.calls, 0);
	atomic_init(&e.inside, 0);
	memset(&nt, 0, sizeof(nt));
	nt.waker.data = &e;
	nt.waker.wake = exec_d_wake;
	for (round = 0; round < 4; round++) {
		tt_fill(src, n, 20 + round);
		f = vdm_memcpy(vdm, dst, src, n, 0);
		do {
			seen = atomic_load(&e.calls);
			pthread_mutex_lock(&e.m);
			in_poll = 1;
			st = future_poll(FUTURE_AS_RUNNABLE(&f), &nt);
			in_poll = 0;
			pthread_mutex_unlock(&e.m);
			if (st != FUTURE_STATE_COMPLETE)
				wait_calls(&e.calls, seen + 1);
		} while (st != FUTURE_STATE_COMPLETE);
		CHECK(tt_result(&f) == VDM_SUCCESS);
		CHECK(tt_verify(dst, n, 20 + round) == SIZE_MAX);
	}
	CHECK(atomic_load(&e.inside) == 0);
	data_mover_threads_delete(dmt);
	pthread_mutex_destroy(&e.m);
	free(src);
	free(dst);
	alarm(0);
}

/* ---- 2e. a waker waits for an operation that waits for room ------------
 * The ring (3 slots, the bound: A, Y and X) holds Y's entry, after Y's
 * owner claimed and ran it (masync__thr_help), ahead of two cancelled
 * entries: only a pop frees a slot, and the only worker is in A's waker,
 * polling X, which waits on the list. X's polls found it still waiting
 * and returned: X never ran (the worker waited for good). Each step is
 * held by a flag; the waker polls X a bounded number of times. */
enum { WAITS_POLLS = 1000000 };

struct waits_room {
	struct vdm *vdm;
	struct data_mover_threads *dmt;
	struct flag in_waker, y_queued, x_waits, y_done, done;
	struct tt_waker xw;
	struct vdm_operation_future x; /* the waker's */
	int x_blocked; /* seen by the waker */
};

static unsigned char wr_src[3][SZ], wr_dst[3][SZ];

static void
waits_room_wake(void *data)
{
	struct waits_room *p = (struct waits_room *)data;
	struct future_notifier n = tt_notifier(&p->xw);
	struct vdm_operation_future *x = &p->x;
	int i;

	flag_set(&p->in_waker, 1);
	flag_wait(&p->y_queued);
	*x = vdm_memcpy(p->vdm, wr_dst[2], wr_src[2], SZ, 0);
	CHECK(tt_result(x) == VDM_SUCCESS); /* A, Y, X: the bound */
	/* (a program's waker: no trim that runs Y at this first poll) */
	if (future_poll(FUTURE_AS_RUNNABLE(x), &n) != FUTURE_STATE_COMPLETE)
		p->x_blocked = (int)MASYNC__LOAD(&p->dmt->nblocked, relaxed);
	flag_set(&p->x_waits, 1);
	flag_wait(&p->y_done);
	for (i = 1; i <= WAITS_POLLS; i++) {
		if (future_poll(FUTURE_AS_RUNNABLE(x), &n) ==
				FUTURE_STATE_COMPLETE)
			break;
		if (i % 1024 == 0)
			thrd_yield();
	}
	if (i > WAITS_POLLS) {
		/* failed: leave it to this worker once the waker returns */
		fprintf(stderr, "(e) X still waits for room after %d polls: "
			"ring entries %zu, operations waiting %u\n",
			WAITS_POLLS, masync__thr_fill(p->dmt),
			(unsigned)MASYNC__LOAD(&p->dmt->nblocked, relaxed));
		flag_set(&p->done, 2);
		return;
	}
	CHECK(tt_result(x) == VDM_SUCCESS);
	flag_set(&p->done, 1);
}

static void
waker_waits_room(void)
{
	struct data_mover_threads *dmt =
		data_mover_threads_new(1, 3, FUTURE_NOTIFIER_WAKER);
	struct vdm *vdm = data_mover_threads_get_vdm(dmt);
	struct vdm_operation_future a, y;
	struct future_notifier n;
	static struct waits_room p;
	unsigned i;

	CHECK(dmt != NULL);
	watchdog("(e) a waker on the only worker waits for an operation that "
		"waits for room");
	for (i = 0; i < 3; i++) {
		tt_fill(wr_src[i], SZ, 40 + i);
		memset(wr_dst[i], 0, SZ);
	}
	memset(filler_dst, 0, SZ);
	/* (the fillers' only: A, Y and X use the library's copy) */
	data_mover_threads_set_memmove_fn(dmt, plain_memmove);
	p.vdm = vdm;
	p.dmt = dmt;
	flag_init(&p.in_waker);
	flag_init(&p.y_queued);
	flag_init(&p.x_waits);
	flag_init(&p.y_done);
	flag_init(&p.done);
	tt_waker_init(&p.xw);
	memset(&n, 0, sizeof(n));
	n.waker.data = &p;
	n.waker.wake = waits_room_wake;
	a = vdm_memcpy(vdm, wr_dst[0], wr_src[0], SZ, 0);
	y = vdm_memcpy(vdm, wr_dst[1], wr_src[1], SZ, 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&a), &n) != FUTURE_STATE_COMPLETE);
	flag_wait(&p.in_waker); /* A ran: the worker is in its waker */
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&y), NULL) != FUTURE_STATE_COMPLETE);
	CHECK(masync__thr_fill(dmt) == 1); /* Y heads the ring */
	push_cancelled(vdm, 2);
	CHECK(masync__thr_fill(dmt) == 3); /* full */
	flag_set(&p.y_queued, 1);
	flag_wait(&p.x_waits);
	CHECK(p.x_blocked == 1); /* X waits for room */
	tt_busy_wait(&y, 10000); /* claimed and run here */
	CHECK(tt_result(&y) == VDM_SUCCESS);
	flag_set(&p.y_done, 1);
	CHECK(flag_wait(&p.done) == 1);
	tt_busy_wait(&a, 10000);
	CHECK(tt_result(&a) == VDM_SUCCESS);
	for (i = 0; i < 3; i++)
		CHECK(tt_verify(wr_dst[i], SZ, 40 + i) == SIZE_MAX);
	data_mover_threads_delete(dmt);
	CHECK(tt_verify_byte(filler_dst, SZ, 0) == SIZE_MAX);
	alarm(0);
}

/* ---- 3. overlapping vdm_memcpy = memmove, split or not ------------------ */
static void
overlap(size_t n, ptrdiff_t shift, int memmove_op)
{
	struct data_mover_threads *dmt =
		data_mover_threads_new(2, 8, FUTURE_NOTIFIER_WAKER);
	struct vdm *vdm = data_mover_threads_get_vdm(dmt);
	struct runtime *rt = tt_runtime_new();
	size_t total = n + (size_t)(shift < 0 ? -shift : shift);
	unsigned char *buf = (unsigned char *)tt_xmalloc(total);
	unsigned char *want = (unsigned char *)tt_xmalloc(total);
	unsigned char *src = shift < 0 ? buf - shift : buf;
	unsigned char *dst = src + shift;
	struct vdm_operation_future f;

	CHECK(dmt != NULL && rt != NULL);
	tt_fill(buf, total, 99);
	memcpy(want, buf, total);
	memmove(want + (src - buf) + shift, want + (src - buf), n);
	f = memmove_op ? vdm_memmove(vdm, dst, src, n, 0) :
		vdm_memcpy(vdm, dst, src, n, 0);
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&f));
	CHECK(tt_result(&f) == VDM_SUCCESS);
	if (memcmp(buf, want, total) != 0) {
		size_t i = 0;

		while (buf[i] == want[i])
			i++;
		fprintf(stderr, "%s of %zu bytes shifted by %td: not memmove's "
			"result from byte %zu\n", memmove_op ? "memmove" :
			"memcpy", n, shift, i);
		CHECK(0);
	}
	runtime_delete(rt);
	data_mover_threads_delete(dmt);
	free(buf);
	free(want);
}

/* ---- 3. a runtime deleted by a waker's wait while its waker is called ----
 * A program's waker, on one worker, waits for a copy X and a future Y
 * with a runtime of its own (runtime_wait_any), then deletes the runtime
 * (allowed: the wait's last poll dropped the runtime's waker from X). The
 * other worker completed X and is about to call that runtime's waker: the
 * hook holds it there, and wakes the runtime through Y's waker, which
 * then completes. A drop inside a waker does not wait for such a call
 * (two wakers that drop each other's would wait for each other), so
 * before, runtime_delete freed the runtime at once and the held call then
 * wrote into freed memory (a review's reproducer, ASan: heap-use-after-free
 * in masync__runtime_wake). Now runtime_delete waits for the call: it must
 * not return while the hook holds it. No clock decides the order: X runs
 * a user function, held at a gate until the runtime's pass that polls Y
 * with its waker (X, polled just before, has the waker then). */
struct rt_in_waker {
	struct vdm *vdm;
	pthread_t waker_thread;
	struct flag in_waker, waited, deleted, x_go;
	size_t wait_ret;
};

static struct rt_in_waker *riw;
static _Atomic(struct runtime *) hold_rt;
/* (initialised once: drd reports a mutex initialised again) */
static struct flag held = {PTHREAD_MUTEX_INITIALIZER, 0};
static struct flag hold_open = {PTHREAD_MUTEX_INITIALIZER, 0};
static pthread_mutex_t y_m = PTHREAD_MUTEX_INITIALIZER;
static struct future_waker y_waker;
static unsigned char riw_xs[SZ], riw_xd[SZ];

static void
before_wake(const void *k)
{
	const struct future_waker *w = (const struct future_waker *)k;
	struct runtime *rt = atomic_load(&hold_rt);
	struct future_waker yw;

	if (rt == NULL || w->wake != masync__runtime_wake || w->data != rt ||
			pthread_equal(pthread_self(), riw->waker_thread))
		return;
	atomic_store(&hold_rt, NULL); /* once */
	flag_set(&held, 1);
	pthread_mutex_lock(&y_m);
	yw = y_waker;
	pthread_mutex_unlock(&y_m);
	if (yw.wake != NULL) /* (runtime_in_waker) */
		yw.wake(yw.data); /* Y completes at the runtime's next poll */
	flag_wait(&hold_open);
}

/* X's copy waits for x_go; the others run at once */
static void *
x_gated_memcpy(void *dst, const void *src, size_t n, unsigned flags)
{
	(void)flags;
	if (dst == riw_xd)
		flag_wait(&riw->x_go);
	return memcpy(dst, src, n);
}

struct y_data {
	int unused;
};
struct y_output {
	int unused;
};
FUTURE(y_fut, struct y_data, struct y_output);

static enum future_state
y_task(struct future_context *ctx, struct future_notifier *n)
{
	(void)ctx;
	if (flag_get(&held))
		return FUTURE_STATE_COMPLETE;
	if (n != NULL && n->waker.wake != NULL) {
		pthread_mutex_lock(&y_m);
		y_waker = n->waker;
		pthread_mutex_unlock(&y_m);
		n->notifier_used = FUTURE_NOTIFIER_WAKER;
		flag_set(&riw->x_go, 1); /* X has the runtime's waker */
	}
	return FUTURE_STATE_RUNNING;
}

static void
rt_in_waker_wake(void *data)
{
	struct rt_in_waker *p = (struct rt_in_waker *)data;
	struct runtime *rt;
	struct vdm_operation_future x;
	struct y_fut y;
	struct future *futs[2];

	if (flag_get(&p->in_waker))
		return;
	p->waker_thread = pthread_self();
	flag_set(&p->in_waker, 1);
	rt = runtime_new();
	CHECK(rt != NULL);
	tt_fill(riw_xs, SZ, 77);
	x = vdm_memcpy(p->vdm, riw_xd, riw_xs, SZ, 0);
	memset(&y, 0, sizeof(y));
	FUTURE_INIT(&y, y_task);
	atomic_store(&hold_rt, rt);
	futs[0] = FUTURE_AS_RUNNABLE(&x);
	futs[1] = FUTURE_AS_RUNNABLE(&y);
	/* X is done, but its completion's call of the runtime's waker is
	 * held: "not done" while it runs; Y completes */
	p->wait_ret = runtime_wait_any(rt, futs, 2);
	flag_set(&p->waited, 1);
	runtime_delete(rt);
	flag_set(&p->deleted, 1);
	tt_busy_wait(&x, 10000);
	CHECK(tt_result(&x) == VDM_SUCCESS);
	CHECK(tt_verify(riw_xd, SZ, 77) == SIZE_MAX);
}

static void
runtime_in_waker(void)
{
	struct data_mover_threads *dmt =
		data_mover_threads_new(2, 8, FUTURE_NOTIFIER_WAKER);
	struct vdm *vdm = data_mover_threads_get_vdm(dmt);
	static unsigned char src[SZ], dst[SZ];
	struct rt_in_waker p;
	struct future_notifier n;
	struct vdm_operation_future a;

	CHECK(dmt != NULL);
	watchdog("(3) a runtime deleted by a waker's wait while its waker is "
		"called");
	p.vdm = vdm;
	flag_init(&p.in_waker);
	flag_init(&p.waited);
	flag_init(&p.deleted);
	flag_init(&p.x_go);
	flag_set(&held, 0);
	flag_set(&hold_open, 0);
	riw = &p;
	data_mover_threads_set_memcpy_fn(dmt, x_gated_memcpy);
	memset(&n, 0, sizeof(n));
	n.waker.data = &p;
	n.waker.wake = rt_in_waker_wake;
	tt_fill(src, SZ, 76);
	a = vdm_memcpy(vdm, dst, src, SZ, 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&a), &n) !=
		FUTURE_STATE_COMPLETE || flag_get(&p.in_waker));
	flag_wait(&held);
	flag_wait(&p.waited);
	CHECK(p.wait_ret == 1); /* Y */
	/* a runtime_delete that does not wait returns in microseconds */
	tt_sleep_us(100000);
	CHECK(flag_get(&p.deleted) == 0);
	flag_set(&hold_open, 1);
	flag_wait(&p.deleted);
	tt_busy_wait(&a, 10000);
	CHECK(tt_result(&a) == VDM_SUCCESS);
	CHECK(tt_verify(dst, SZ, 76) == SIZE_MAX);
	data_mover_threads_delete(dmt);
	riw = NULL;
	alarm(0);
}

/* ---- 4. a child deletes a runtime whose waker a parent's worker calls ---
 * The count runtime_delete waits on is the parent's: a child forked while
 * a worker of the parent is in a call of the runtime's waker (held by the
 * hook) inherits it, and nobody there ends that call. Before, the child's
 * runtime_delete spun for good (a review's reproducer: 3 of 7 children);
 * now a child does not wait for the parent's calls. */
struct fork_waiter {
	struct runtime *rt;
	struct vdm *vdm;
};

static void *
fork_waiter_main(void *arg)
{
	static unsigned char s[SZ], d[SZ];
	struct fork_waiter *fw = (struct fork_waiter *)arg;
	struct vdm_operation_future x;

	tt_fill(s, SZ, 78);
	x = vdm_memcpy(fw->vdm, d, s, SZ, 0);
	runtime_wait(fw->rt, FUTURE_AS_RUNNABLE(&x));
	CHECK(tt_result(&x) == VDM_SUCCESS);
	CHECK(tt_verify(d, SZ, 78) == SIZE_MAX);
	return NULL;
}

static void
runtime_fork(void)
{
	struct data_mover_threads *dmt =
		data_mover_threads_new(1, 8, FUTURE_NOTIFIER_WAKER);
	struct rt_in_waker p;
	struct fork_waiter fw;
	pthread_t t;
	pid_t pid;
	int status = 0;

	CHECK(dmt != NULL);
	watchdog("(4) a child deletes a runtime whose waker a parent's "
		"worker calls");
	/* only a worker runs the copy (a user function's) */
	data_mover_threads_set_memcpy_fn(dmt, x_gated_memcpy);
	memset(&p, 0, sizeof(p));
	p.waker_thread = pthread_self(); /* the hook holds other threads */
	riw = &p;
	flag_set(&held, 0);
	flag_set(&hold_open, 0);
	pthread_mutex_lock(&y_m);
	memset(&y_waker, 0, sizeof(y_waker));
	pthread_mutex_unlock(&y_m);
	fw.rt = runtime_new();
	fw.vdm = data_mover_threads_get_vdm(dmt);
	CHECK(fw.rt != NULL);
	atomic_store(&hold_rt, fw.rt);
	CHECK(pthread_create(&t, NULL, fork_waiter_main, &fw) == 0);
	flag_wait(&held); /* the worker is in the runtime's waker's call */
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		alarm(20);
		runtime_delete(fw.rt); /* the child's copy */
		_exit(0);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fprintf(stderr, "the child's runtime_delete did not return "
			"(status %#x)\n", (unsigned)status);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	flag_set(&hold_open, 1);
	CHECK(pthread_join(t, NULL) == 0);
	runtime_delete(fw.rt);
	data_mover_threads_delete(dmt);
	riw = NULL;
	alarm(0);
}

/* no argument: every scenario; else only the one named */
static int
want(int argc, char **argv, const char *name)
{
	return argc < 2 || strcmp(argv[1], name) == 0;
}

int
main(int argc, char **argv)
{
	size_t big = (size_t)6 << 20; /* split between the two workers */

	tt_valgrind_setup();
	if (want(argc, argv, "lost_dropped"))
		lost_wakeup(0);
	if (want(argc, argv, "lost_cancelled"))
		lost_wakeup(1);
	if (want(argc, argv, "sleep_check"))
		sleep_check();
	if (want(argc, argv, "waker_locks"))
		waker_locks();
	if (want(argc, argv, "waker_polls_self"))
		waker_polls_self();
	if (want(argc, argv, "waker_polls_other"))
		waker_polls_other();
	if (want(argc, argv, "waker_not_in_poll"))
		waker_not_in_poll();
	if (want(argc, argv, "waker_waits_room"))
		waker_waits_room();
	if (want(argc, argv, "runtime_in_waker"))
		runtime_in_waker();
	if (want(argc, argv, "runtime_fork"))
		runtime_fork();
	if (want(argc, argv, "overlap")) {
		watchdog("overlapping copies");
		overlap(4096, 100, 0);
		overlap(4096, -100, 0);
		overlap(big, 4104, 0);
		overlap(big, -4104, 0);
		overlap(big, 4104, 1);
		overlap(big, (ptrdiff_t)(big / 2), 0);
		overlap(big, -(ptrdiff_t)(big / 2), 0);
		alarm(0);
	}
	tt_log("ok\n");
	return 0;
}
