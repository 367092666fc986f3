/* test_threads_capacity.c - back-pressure, exhaustion and recovery.
 *
 * - A full queue: a polled future stays idle (nothing lost) while its
 *   operation waits on the mover's list; a worker moves it into the queue
 *   when a slot frees, its waker is called / its poller word changes when
 *   it completes. Checked step by step with a gate that holds the worker.
 * - runtime_wait_multiple on 300 futures with a queue of 4 (and of 1)
 *   completes them all, for every notifier; a runtime waiting on blocked
 *   futures sleeps instead of spinning.
 * - Per-operation state: when memory runs out, creation reports
 *   VDM_ERROR_OUT_OF_MEMORY; when memory is back (or states are released)
 *   creation works again.
 * - Abandoned futures (never polled, polled once, left blocked) do not
 *   break the mover for the 200k operations that follow. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* clock_gettime, CLOCK_THREAD_CPUTIME_ID (musl) */
#endif
#include <stdatomic.h>
#include <stdlib.h>

static atomic_int fail_malloc;
static atomic_uint malloc_calls;

static void *
failing_malloc(size_t n)
{
	atomic_fetch_add(&malloc_calls, 1);
	return atomic_load(&fail_malloc) ? NULL : malloc(n);
}

#define MINIASYNC_MALLOC(sz) failing_malloc(sz)
#define MINIASYNC_FREE(p) free(p)
#include "test_threads_util.h"

static struct runtime *rt;

static void
check_copy(struct vdm_operation_future *f, const void *dst, size_t n,
	unsigned seed)
{
	CHECK(FUTURE_STATE(f) == FUTURE_STATE_COMPLETE);
	CHECK(tt_result(f) == VDM_SUCCESS);
	CHECK(tt_verify(dst, n, seed) == SIZE_MAX);
}

/* ---- step by step, with the worker held at a gate --------------------- */
static void
test_full_queue(enum future_notifier_type type)
{
	enum { N = 6, SZ = 256 };
	struct data_mover_threads *dmt = data_mover_threads_new(1, 2, type);
	struct vdm *vdm = data_mover_threads_get_vdm(dmt);
	struct vdm_operation_future f[N];
	struct tt_waker w[N];
	struct future_notifier nt[N];
	unsigned char src[N][SZ], dst[N][SZ];
	uint64_t seen4 = 0;
	unsigned i;

	CHECK(dmt != NULL);
	tt_gate_install(dmt);
	tt_gate_reset(0);
	for (i = 0; i < N; i++) {
		tt_waker_init(&w[i]);
		nt[i] = tt_notifier(&w[i]);
		tt_fill(src[i], SZ, i + 10);
		f[i] = vdm_memcpy(vdm, dst[i], src[i], SZ, 0);
	}
	/* f0 runs (held at the gate), f1 and f2 fill the queue of 2 */
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f[0]), &nt[0]) ==
		FUTURE_STATE_RUNNING);
	tt_wait_uint(&tt_the_gate.entered, 1, 10000);
	for (i = 1; i < 3; i++)
		CHECK(future_poll(FUTURE_AS_RUNNABLE(&f[i]), &nt[i]) ==
			FUTURE_STATE_RUNNING);
	/* f3, f4, f5: the queue is full, they stay idle */
	for (i = 3; i < N; i++) {
		CHECK(future_poll(FUTURE_AS_RUNNABLE(&f[i]), &nt[i]) ==
			FUTURE_STATE_IDLE);
		CHECK(nt[i].notifier_used == type);
		if (type == FUTURE_NOTIFIER_POLLER)
			CHECK(nt[i].poller.ptr_to_monitor != NULL);
	}
	if (type == FUTURE_NOTIFIER_POLLER)
		seen4 = atomic_load((_Atomic uint64_t *)(void *)
			nt[4].poller.ptr_to_monitor);
	/* polled again while full: still idle, and nobody was woken */
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f[4]), &nt[4]) ==
		FUTURE_STATE_IDLE);
	tt_sleep_us(5000);
	for (i = 0; i < N; i++)
		CHECK(atomic_load(&w[i].calls) == 0);

	/* open: f1 and f2 leave the queue, f3 and f4 (then f5) move in and
	 * complete, which calls their wakers */
	atomic_store(&tt_the_gate.open, 1);
	if (type == FUTURE_NOTIFIER_WAKER) {
		tt_wait_uint(&w[3].calls, 1, 10000);
		tt_wait_uint(&w[4].calls, 1, 10000);
	} else if (type == FUTURE_NOTIFIER_POLLER) {
		tt_wait_word(nt[4].poller.ptr_to_monitor, seen4, 10000);
	}
	/* f0..f2 complete; f5 may still be waiting for its turn */
	for (i = 0; i < 3; i++) {
		tt_busy_wait(&f[i], 10000);
		check_copy(&f[i], dst[i], SZ, i + 10);
	}
	/* a later poll finds them running or done; everything completes */
	for (i = 3; i < N; i++) {
		struct future *fu = FUTURE_AS_RUNNABLE(&f[i]);

		runtime_wait(rt, fu);
		check_copy(&f[i], dst[i], SZ, i + 10);
	}
	/* f3 and f4 were woken above. The others' first wakers may have been
	 * replaced by a later poll (busy polling passes no notifier, the
	 * runtime its own): the latest poll's notifier is the one kept. No
	 * waker is ever called twice. */
	if (type == FUTURE_NOTIFIER_WAKER) {
		CHECK(atomic_load(&w[3].calls) == 1);
		CHECK(atomic_load(&w[4].calls) == 1);
		for (i = 0; i < N; i++)
			CHECK(atomic_load(&w[i].calls) <= 1);
	}
	data_mover_threads_delete(dmt);
	tt_log("full queue, notifier %d ok\n", (int)type);
}

/* ---- many more futures than slots ------------------------------------- */
static void
test_many_on_small_queue(size_t nthreads, size_t ring,
	enum future_notifier_type type, unsigned nfuts)
{
	enum { SZ = 1024 };
	struct data_mover_threads *dmt =
		data_mover_threads_new(nthreads, ring, type);
	struct vdm *vdm = data_mover_threads_get_vdm(dmt);
	struct vdm_operation_future *f = (struct vdm_operation_future *)
		tt_xmalloc(nfuts * sizeof(*f));
	struct future **fp = (struct future **)tt_xmalloc(nfuts * sizeof(*fp));
	unsigned char *src = (unsigned char *)tt_xmalloc((size_t)nfuts * SZ);
	unsigned char *dst = (unsigned char *)tt_xmalloc((size_t)nfuts * SZ);
	uint64_t t0;
	unsigned i;

	CHECK(dmt != NULL);
	memset(dst, 0, (size_t)nfuts * SZ);
	for (i = 0; i < nfuts; i++) {
		tt_fill(src + (size_t)i * SZ, SZ, i);
		if (i % 3 == 2)
			f[i] = vdm_memset(vdm, dst + (size_t)i * SZ, (int)i,
				SZ, 0);
		else
			f[i] = vdm_memcpy(vdm, dst + (size_t)i * SZ,
				src + (size_t)i * SZ, SZ, 0);
		fp[i] = FUTURE_AS_RUNNABLE(&f[i]);
	}
	t0 = tt_now_ns();
	runtime_wait_multiple(rt, fp, nfuts);
	for (i = 0; i < nfuts; i++) {
		CHECK(fp[i]->context.state == FUTURE_STATE_COMPLETE);
		CHECK(tt_result(&f[i]) == VDM_SUCCESS);
		if (i % 3 == 2)
			CHECK(tt_verify_byte(dst + (size_t)i * SZ, SZ,
				(int)(i & 0xff)) == SIZE_MAX);
		else
			CHECK(tt_verify(dst + (size_t)i * SZ, SZ, i) ==
				SIZE_MAX);
	}
	tt_log("%u futures, %zu workers, queue %zu, notifier %d: %.1f ms\n",
		nfuts, nthreads, ring, (int)type, (tt_now_ns() - t0) / 1e6);
	data_mover_threads_delete(dmt);
	free(f);
	free(fp);
	free(src);
	free(dst);
}

/* ---- a runtime waiting on blocked futures sleeps ---------------------- */
struct sleeper {
	struct future **fp;
	size_t n;
	double cpu_ms, wall_ms;
};

static double
thread_cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int
sleeper_main(void *arg)
{
	struct sleeper *s = (struct sleeper *)arg;
	struct runtime *r = tt_runtime_new();
	double c0 = thread_cpu_ms();
	uint64_t t0 = tt_now_ns();

	CHECK(r != NULL);
	runtime_wait_multiple(r, s->fp, s->n);
	s->cpu_ms = thread_cpu_ms() - c0;
	s->wall_ms = (tt_now_ns() - t0) / 1e6;
	runtime_delete(r);
	return 0;
}

static void
test_blocked_waiter_sleeps(enum future_notifier_type type)
{
	enum { N = 4, SZ = 64 };
	struct data_mover_threads *dmt = data_mover_threads_new(1, 1, type);
	struct vdm *vdm = data_mover_threads_get_vdm(dmt);
	struct vdm_operation_future f[N];
	struct future *fp[N];
	unsigned char src[N][SZ], dst[N][SZ];
	struct sleeper s;
	tt_thread t;
	unsigned i;

	CHECK(dmt != NULL);
	tt_gate_install(dmt);
	tt_gate_reset(0);
	for (i = 0; i < N; i++) {
		tt_fill(src[i], SZ, i);
		f[i] = vdm_memcpy(vdm, dst[i], src[i], SZ, 0);
		fp[i] = FUTURE_AS_RUNNABLE(&f[i]);
	}
	s.fp = fp;
	s.n = N;
	CHECK(tt_thread_start(&t, sleeper_main, &s) == 0);
	/* one op at the gate, one queued, two blocked: hold for 300 ms */
	tt_wait_uint(&tt_the_gate.entered, 1, 10000);
	tt_sleep_us(300000);
	atomic_store(&tt_the_gate.open, 1);
	CHECK(tt_thread_join(t) == 0);
	for (i = 0; i < N; i++)
		check_copy(&f[i], dst[i], SZ, i);
	tt_log("blocked waiter, notifier %d: %.1f ms CPU in %.1f ms\n",
		(int)type, s.cpu_ms, s.wall_ms);
	CHECK(s.wall_ms >= 250);
	if (!TT_ON_VALGRIND())
		CHECK(s.cpu_ms < s.wall_ms / 2);
	data_mover_threads_delete(dmt);
}

/* ---- out of memory for per-operation state ---------------------------- */
static void
test_oom(void)
{
	enum { HOLD = 20000 };
	unsigned more = TT_ON_VALGRIND() ? 300 : 2000;
	struct data_mover_threads *dmt;
	struct vdm *vdm;
	struct vdm_operation_future *f = (struct vdm_operation_future *)
		tt_xmalloc((HOLD + more) * sizeof(*f));
	struct future **fp = (struct future **)tt_xmalloc((HOLD + more) *
		sizeof(*fp));
	/* one destination per operation: a poll may run an operation while
	 * a worker runs another, so two pending ones never share one */
	static unsigned char src[64][64];
	unsigned char (*dst)[64] = (unsigned char (*)[64])tt_xmalloc(
		(HOLD + more) * sizeof(*dst));
	struct vdm_operation_future g;
	unsigned i, held = 0;

	for (i = 0; i < 64; i++)
		tt_fill(src[i], 64, i);
	atomic_store(&fail_malloc, 1);
	errno = 0;
	CHECK(data_mover_threads_new(1, 4, FUTURE_NOTIFIER_WAKER) == NULL);
	CHECK(errno == ENOMEM);
	atomic_store(&fail_malloc, 0);

	dmt = data_mover_threads_new(1, 1024, FUTURE_NOTIFIER_WAKER);
	CHECK(dmt != NULL);
	vdm = data_mover_threads_get_vdm(dmt);
	/* no memory: creation fails cleanly, with a future born complete */
	atomic_store(&fail_malloc, 1);
	g = vdm_memcpy(vdm, dst[0], src[0], 64, 0);
	CHECK(FUTURE_STATE(&g) == FUTURE_STATE_COMPLETE);
	CHECK(tt_result(&g) == VDM_ERROR_OUT_OF_MEMORY);
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&g)); /* returns at once */
	atomic_store(&fail_malloc, 0);
	g = vdm_memcpy(vdm, dst[0], src[0], 64, 0);
	tt_busy_wait(&g, 10000);
	check_copy(&g, dst[0], 64, 0);

	/* memory cut again: pending futures use up what the mover has */
	atomic_store(&fail_malloc, 1);
	for (held = 0; held < HOLD; held++) {
		f[held] = vdm_memcpy(vdm, dst[held], src[held % 64], 64,
			0);
		if (tt_result(&f[held]) == VDM_ERROR_OUT_OF_MEMORY)
			break;
		CHECK(FUTURE_STATE(&f[held]) ==
			FUTURE_STATE_IDLE);
	}
	CHECK(held > 0 && held < HOLD);
	CHECK(FUTURE_STATE(&f[held]) ==
		FUTURE_STATE_COMPLETE);
	/* one completes: its state is reused, no memory needed. The worker
	 * that ran it holds a reference until just after the completion it
	 * stores: until it drops that, creation still finds no state (seen
	 * under ASan on a loaded machine), so try again, with a hang guard */
	tt_busy_wait(&f[0], 10000);
	check_copy(&f[0], dst[0], 64, 0);
	{
		uint64_t end = tt_deadline(10000);

		for (;;) {
			f[0] = vdm_memcpy(vdm, dst[0], src[0], 64, 0);
			if (tt_result(&f[0]) != VDM_ERROR_OUT_OF_MEMORY)
				break;
			CHECK(tt_now_ns() < end);
			thrd_yield();
		}
	}
	CHECK(tt_result(&f[0]) == VDM_SUCCESS);
	CHECK(FUTURE_STATE(&f[0]) == FUTURE_STATE_IDLE);
	g = vdm_memcpy(vdm, dst[0], src[0], 64, 0);
	CHECK(tt_result(&g) == VDM_ERROR_OUT_OF_MEMORY);

	/* memory back: more states, and everything completes */
	atomic_store(&fail_malloc, 0);
	for (i = held; i < held + more; i++) {
		f[i] = vdm_memcpy(vdm, dst[i], src[i % 64], 64, 0);
		CHECK(tt_result(&f[i]) == VDM_SUCCESS);
	}
	for (i = 0; i < held + more; i++)
		fp[i] = FUTURE_AS_RUNNABLE(&f[i]);
	runtime_wait_multiple(rt, fp, held + more);
	for (i = 0; i < held + more; i++)
		check_copy(&f[i], dst[i], 64, i % 64);
	data_mover_threads_delete(dmt);
	free(f);
	free(fp);
	free(dst);
	tt_log("out of memory after %u pending operations, recovery ok\n",
		held);
}

/* ---- abandoned futures -------------------------------------------------- */
/* Runs `total` copies in batches of 32 and checks them. */
static void
run_copies(struct vdm *vdm, unsigned long total)
{
	enum { K = 32, SZ = 256 };
	static unsigned char src[K][SZ], dst[K][SZ];
	struct vdm_operation_future f[K];
	struct future *fp[K];
	unsigned long i;
	unsigned k;

	for (k = 0; k < K; k++)
		tt_fill(src[k], SZ, k);
	for (i = 0; i < total; i += K) {
		for (k = 0; k < K; k++) {
			size_t n = 64 + (k + i) % (SZ - 64);

			memset(dst[k], 0, SZ);
			f[k] = vdm_memcpy(vdm, dst[k], src[k], n, 0);
			CHECK(tt_result(&f[k]) == VDM_SUCCESS);
			fp[k] = FUTURE_AS_RUNNABLE(&f[k]);
		}
		runtime_wait_multiple(rt, fp, K);
		for (k = 0; k < K; k++) {
			size_t n = 64 + (k + i) % (SZ - 64);

			CHECK(tt_result(&f[k]) == VDM_SUCCESS);
			CHECK(tt_verify(dst[k], n, k) == SIZE_MAX);
			CHECK(tt_verify_byte(dst[k] + n, SZ - n, 0) ==
				SIZE_MAX);
		}
	}
}

static void
test_abandoned(void)
{
	struct data_mover_threads *dmt =
		data_mover_threads_new(1, 1, FUTURE_NOTIFIER_WAKER);
	struct vdm *vdm = data_mover_threads_get_vdm(dmt);
	static unsigned char junk[4][256];
	struct vdm_operation_future f0, f1, a, b;
	unsigned long i, total = 200000 / tt_slowdown();
	uint64_t t0 = tt_now_ns();

	CHECK(dmt != NULL);
	/* one worker, one slot: f0 at the gate, f1 queued, `a` polled while
	 * the queue is full and then abandoned */
	tt_gate_install(dmt);
	tt_gate_reset(0);
	f0 = vdm_memcpy(vdm, junk[2], junk[3], 256, 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f0), NULL) !=
		FUTURE_STATE_IDLE);
	tt_wait_uint(&tt_the_gate.entered, 1, 10000);
	f1 = vdm_memcpy(vdm, junk[1], junk[2], 256, 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f1), NULL) ==
		FUTURE_STATE_RUNNING);
	a = vdm_memset(vdm, junk[3], 1, 256, 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&a), NULL) ==
		FUTURE_STATE_IDLE);
	atomic_store(&tt_the_gate.open, 1);
	tt_busy_wait(&f0, 10000);
	tt_busy_wait(&f1, 10000);
	/* `a` waited for room on the mover's list: it runs once there is
	 * room, with no further poll. `b` queues behind it on the one
	 * worker: once b is done, so is a, before the functions change. */
	b = vdm_memset(vdm, junk[0], 2, 256, 0);
	tt_busy_wait(&b, 10000);
	CHECK(atomic_load(&tt_the_gate.calls) == 4);
	data_mover_threads_set_memcpy_fn(dmt, NULL);
	data_mover_threads_set_memmove_fn(dmt, NULL);
	data_mover_threads_set_memset_fn(dmt, NULL);
	run_copies(vdm, 2000 / tt_slowdown() + 64);
	data_mover_threads_delete(dmt);

	/* abandoned before the first poll, and after it; then many more */
	dmt = data_mover_threads_new(2, 64, FUTURE_NOTIFIER_WAKER);
	CHECK(dmt != NULL);
	vdm = data_mover_threads_get_vdm(dmt);
	a = vdm_memcpy(vdm, junk[0], junk[1], 256, 0);
	a = vdm_memcpy(vdm, junk[0], junk[1], 256, 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&a), NULL) != FUTURE_STATE_IDLE);
	for (i = 0; i < 1000; i++)
		a = vdm_memcpy(vdm, junk[0], junk[1], 16, 0);
	(void)a;
	run_copies(vdm, total);
	data_mover_threads_delete(dmt);
	tt_log("abandoned futures, then %lu operations: ok (%.0f ms)\n",
		total, (tt_now_ns() - t0) / 1e6);
}

int
main(void)
{
	unsigned big = TT_ON_VALGRIND() ? 40 : 300;

	tt_valgrind_setup();
	rt = tt_runtime_new();
	CHECK(rt != NULL);
	test_full_queue(FUTURE_NOTIFIER_WAKER);
	test_full_queue(FUTURE_NOTIFIER_POLLER);
	test_full_queue(FUTURE_NOTIFIER_NONE);
	test_many_on_small_queue(1, 4, FUTURE_NOTIFIER_WAKER, big);
	test_many_on_small_queue(2, 4, FUTURE_NOTIFIER_WAKER, big);
	test_many_on_small_queue(2, 4, FUTURE_NOTIFIER_POLLER, big);
	test_many_on_small_queue(2, 4, FUTURE_NOTIFIER_NONE, big);
	test_many_on_small_queue(2, 1, FUTURE_NOTIFIER_WAKER, big);
	test_many_on_small_queue(3, 5, FUTURE_NOTIFIER_WAKER, 3000 /
		tt_slowdown() + 50);
	test_blocked_waiter_sleeps(FUTURE_NOTIFIER_WAKER);
	test_blocked_waiter_sleeps(FUTURE_NOTIFIER_POLLER);
	test_blocked_waiter_sleeps(FUTURE_NOTIFIER_NONE);
	test_oom();
	test_abandoned();
	runtime_delete(rt);
	return 0;
}
