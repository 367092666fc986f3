/* test_threads_capacity.c - the bound on operations in flight, exhaustion
 * and recovery (API.md: "ringbuf_size bounds the operations in flight;
 * past it, creating an operation reports VDM_ERROR_OUT_OF_MEMORY (never
 * blocks forever, never crashes)").
 *
 * - An operation is in flight from its creation until the poll that sees
 *   it complete or its cancellation: with ringbuf_size of them, the next
 *   is born COMPLETE with VDM_ERROR_OUT_OF_MEMORY (nothing written, no
 *   waker called); a cancellation, and the poll that sees one complete,
 *   give the slot back at once (no retry: a worker still holding the
 *   state a moment does not count). Checked step by step with a gate that
 *   holds the worker, for every notifier.
 * - More futures than slots at once: the excess is born failed, the
 *   runtime's wait returns (no hang), the rest are right; a program that
 *   keeps within the bound runs any number of operations.
 * - A runtime waiting on futures queued behind a held worker sleeps
 *   instead of spinning.
 * - Per-operation state: when memory runs out, creation reports
 *   VDM_ERROR_OUT_OF_MEMORY; when memory is back (or states are released)
 *   creation works again.
 * - Abandoned futures hold their slots (as the contract says) until they
 *   are cancelled; then the mover runs the 200k operations that follow. */
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
test_bound(enum future_notifier_type type)
{
	enum { N = 6, SZ = 256 };
	struct data_mover_threads *dmt = data_mover_threads_new(1, 2, type);
	struct vdm *vdm = data_mover_threads_get_vdm(dmt);
	struct vdm_operation_future f[N];
	struct tt_waker w[N];
	struct future_notifier nt[N];
	unsigned char src[N][SZ], dst[N][SZ];
	uint64_t seen0 = 0;
	unsigned i;

	CHECK(dmt != NULL);
	tt_gate_install(dmt);
	tt_gate_reset(0);
	for (i = 0; i < N; i++) {
		tt_waker_init(&w[i]);
		nt[i] = tt_notifier(&w[i]);
		tt_fill(src[i], SZ, i + 10);
		memset(dst[i], 0, SZ);
	}
	/* two in flight: f0 runs (held at the gate), f1 is queued */
	f[0] = vdm_memcpy(vdm, dst[0], src[0], SZ, 0);
	f[1] = vdm_memcpy(vdm, dst[1], src[1], SZ, 0);
	CHECK(FUTURE_STATE(&f[0]) == FUTURE_STATE_IDLE);
	CHECK(FUTURE_STATE(&f[1]) == FUTURE_STATE_IDLE);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f[0]), &nt[0]) ==
		FUTURE_STATE_RUNNING);
	tt_wait_uint(&tt_the_gate.entered, 1, 10000);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f[1]), &nt[1]) ==
		FUTURE_STATE_RUNNING);
	if (type == FUTURE_NOTIFIER_POLLER)
		seen0 = atomic_load((_Atomic uint64_t *)(void *)
			nt[0].poller.ptr_to_monitor);

	/* the third is born failed: complete, nothing written, no call */
	f[2] = vdm_memcpy(vdm, dst[2], src[2], SZ, 0);
	CHECK(FUTURE_STATE(&f[2]) == FUTURE_STATE_COMPLETE);
	CHECK(tt_result(&f[2]) == VDM_ERROR_OUT_OF_MEMORY);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f[2]), &nt[2]) ==
		FUTURE_STATE_COMPLETE);
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&f[2])); /* returns at once */
	f[2] = vdm_memset(vdm, dst[2], 7, SZ, 0); /* every kind */
	CHECK(tt_result(&f[2]) == VDM_ERROR_OUT_OF_MEMORY);
	f[2] = vdm_flush(vdm, dst[2], SZ, 0);
	CHECK(tt_result(&f[2]) == VDM_ERROR_OUT_OF_MEMORY);
	CHECK(tt_verify_byte(dst[2], SZ, 0) == SIZE_MAX);

	/* cancelling the queued f1 gives its slot back at once */
	CHECK(vdm_cancel(&f[1]) == 0);
	CHECK(tt_result(&f[1]) == VDM_ERROR_CANCELLED);
	f[3] = vdm_memcpy(vdm, dst[3], src[3], SZ, 0);
	CHECK(FUTURE_STATE(&f[3]) == FUTURE_STATE_IDLE);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f[3]), &nt[3]) ==
		FUTURE_STATE_RUNNING);
	f[4] = vdm_memcpy(vdm, dst[4], src[4], SZ, 0);
	CHECK(tt_result(&f[4]) == VDM_ERROR_OUT_OF_MEMORY);
	for (i = 0; i < N; i++)
		CHECK(atomic_load(&w[i].calls) == 0);

	/* open: f0 and f3 complete and notify */
	atomic_store(&tt_the_gate.open, 1);
	if (type == FUTURE_NOTIFIER_WAKER) {
		tt_wait_uint(&w[0].calls, 1, 10000);
		tt_wait_uint(&w[3].calls, 1, 10000);
	} else if (type == FUTURE_NOTIFIER_POLLER) {
		tt_wait_word(nt[0].poller.ptr_to_monitor, seen0, 10000);
	}
	/* the poll that sees f0 complete gives its slot back: the next
	 * creation succeeds at once, although the worker that ran f0 may
	 * still hold its state for a moment */
	tt_busy_wait(&f[0], 10000);
	check_copy(&f[0], dst[0], SZ, 10);
	f[4] = vdm_memcpy(vdm, dst[4], src[4], SZ, 0);
	CHECK(FUTURE_STATE(&f[4]) == FUTURE_STATE_IDLE);
	f[5] = vdm_memcpy(vdm, dst[5], src[5], SZ, 0);
	CHECK(tt_result(&f[5]) == VDM_ERROR_OUT_OF_MEMORY); /* f3, f4 */
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&f[3]));
	check_copy(&f[3], dst[3], SZ, 13);
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&f[4]));
	check_copy(&f[4], dst[4], SZ, 14);
	/* neither the cancelled nor the refused ones wrote anything */
	CHECK(tt_verify_byte(dst[1], SZ, 0) == SIZE_MAX);
	CHECK(tt_verify_byte(dst[2], SZ, 0) == SIZE_MAX);
	CHECK(tt_verify_byte(dst[5], SZ, 0) == SIZE_MAX);
	/* no waker called twice; the refused and cancelled ones never */
	if (type == FUTURE_NOTIFIER_WAKER) {
		CHECK(atomic_load(&w[0].calls) == 1);
		CHECK(atomic_load(&w[3].calls) == 1);
		CHECK(atomic_load(&w[1].calls) == 0);
		CHECK(atomic_load(&w[2].calls) == 0);
		for (i = 0; i < N; i++)
			CHECK(atomic_load(&w[i].calls) <= 1);
	}
	/* empty again: two in flight once more */
	f[0] = vdm_memcpy(vdm, dst[0], src[0], SZ, 0);
	f[1] = vdm_memcpy(vdm, dst[1], src[1], SZ, 0);
	CHECK(FUTURE_STATE(&f[0]) == FUTURE_STATE_IDLE);
	CHECK(FUTURE_STATE(&f[1]) == FUTURE_STATE_IDLE);
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&f[0]));
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&f[1]));
	check_copy(&f[0], dst[0], SZ, 10);
	check_copy(&f[1], dst[1], SZ, 11);
	data_mover_threads_delete(dmt);
	tt_log("bound of 2 in flight, notifier %d ok\n", (int)type);
}

/* ---- many more futures than slots ------------------------------------- */
/* Makes operation i (a copy, or every third a fill) of nfuts. */
static struct vdm_operation_future
many_op(struct vdm *vdm, unsigned char *src, unsigned char *dst, unsigned i,
	size_t sz)
{
	if (i % 3 == 2)
		return vdm_memset(vdm, dst + (size_t)i * sz, (int)i, sz, 0);
	return vdm_memcpy(vdm, dst + (size_t)i * sz, src + (size_t)i * sz, sz,
		0);
}

static void
many_check(struct vdm_operation_future *f, unsigned char *dst, unsigned i,
	size_t sz)
{
	CHECK(FUTURE_STATE(f) == FUTURE_STATE_COMPLETE);
	CHECK(tt_result(f) == VDM_SUCCESS);
	if (i % 3 == 2)
		CHECK(tt_verify_byte(dst + (size_t)i * sz, sz,
			(int)(i & 0xff)) == SIZE_MAX);
	else
		CHECK(tt_verify(dst + (size_t)i * sz, sz, i) == SIZE_MAX);
}

/* All nfuts made at once: the first `ring` are taken, the others born
 * failed, and one wait on all of them returns. Then the same number again
 * in waves of `ring`, each waited for: every one is taken and right. */
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
	unsigned i, k;

	CHECK(dmt != NULL);
	memset(dst, 0, (size_t)nfuts * SZ);
	for (i = 0; i < nfuts; i++) {
		tt_fill(src + (size_t)i * SZ, SZ, i);
		f[i] = many_op(vdm, src, dst, i, SZ);
		fp[i] = FUTURE_AS_RUNNABLE(&f[i]);
		CHECK(FUTURE_STATE(&f[i]) == (i < ring ?
			FUTURE_STATE_IDLE : FUTURE_STATE_COMPLETE));
	}
	runtime_wait_multiple(rt, fp, nfuts);
	for (i = 0; i < nfuts; i++) {
		if (i < ring) {
			many_check(&f[i], dst, i, SZ);
			continue;
		}
		CHECK(tt_result(&f[i]) == VDM_ERROR_OUT_OF_MEMORY);
		CHECK(tt_verify_byte(dst + (size_t)i * SZ, SZ, 0) == SIZE_MAX);
	}

	t0 = tt_now_ns();
	memset(dst, 0, (size_t)nfuts * SZ);
	for (i = 0; i < nfuts; i += k) {
		for (k = 0; k < ring && i + k < nfuts; k++) {
			f[i + k] = many_op(vdm, src, dst, i + k, SZ);
			CHECK(tt_result(&f[i + k]) == VDM_SUCCESS);
		}
		runtime_wait_multiple(rt, fp + i, k);
	}
	for (i = 0; i < nfuts; i++)
		many_check(&f[i], dst, i, SZ);
	tt_log("%u futures, %zu workers, bound %zu, notifier %d: %.1f ms\n",
		nfuts, nthreads, ring, (int)type, (tt_now_ns() - t0) / 1e6);
	data_mover_threads_delete(dmt);
	free(f);
	free(fp);
	free(src);
	free(dst);
}

/* ---- a runtime waiting on futures that cannot run yet sleeps --------- */
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
test_held_waiter_sleeps(enum future_notifier_type type)
{
	enum { N = 4, SZ = 64 };
	struct data_mover_threads *dmt = data_mover_threads_new(1, N, type);
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
	/* one op at the gate, three queued behind it (a program's function:
	 * only the worker runs them, not the polls): hold for 300 ms */
	tt_wait_uint(&tt_the_gate.entered, 1, 10000);
	tt_sleep_us(300000);
	atomic_store(&tt_the_gate.open, 1);
	CHECK(tt_thread_join(t) == 0);
	for (i = 0; i < N; i++)
		check_copy(&f[i], dst[i], SZ, i);
	tt_log("held waiter, notifier %d: %.1f ms CPU in %.1f ms\n",
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

	/* a bound above all this test holds in flight: memory, not the
	 * bound, is what runs out below */
	dmt = data_mover_threads_new(1, HOLD + more, FUTURE_NOTIFIER_WAKER);
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

/* Abandoned futures hold their slots: one dropped after it started keeps
 * its slot for good (no poll will see it complete), the never-polled ones
 * until they are cancelled; then the mover runs `total` more. */
static void
test_abandoned(void)
{
	enum { RING = 64 };
	struct data_mover_threads *dmt =
		data_mover_threads_new(2, RING, FUTURE_NOTIFIER_WAKER);
	struct vdm *vdm = data_mover_threads_get_vdm(dmt);
	static unsigned char junk[4][256];
	struct vdm_operation_future a[RING], g;
	unsigned long total = 200000 / tt_slowdown();
	uint64_t t0 = tt_now_ns();
	unsigned i, round, first;

	CHECK(dmt != NULL);
	a[0] = vdm_memcpy(vdm, junk[0], junk[1], 256, 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&a[0]), NULL) !=
		FUTURE_STATE_IDLE);
	/* a first poll that saw it complete gave its slot back */
	first = FUTURE_STATE(&a[0]) == FUTURE_STATE_COMPLETE ? 0 : 1;
	for (round = 0; round < 2; round++) {
		for (i = first; i < RING; i++) {
			a[i] = vdm_memcpy(vdm, junk[2], junk[3], 16, 0);
			CHECK(FUTURE_STATE(&a[i]) == FUTURE_STATE_IDLE);
		}
		g = vdm_memcpy(vdm, junk[2], junk[3], 16, 0);
		CHECK(tt_result(&g) == VDM_ERROR_OUT_OF_MEMORY);
		for (i = first; i < RING; i++)
			CHECK(vdm_cancel(&a[i]) == 0);
		run_copies(vdm, round == 0 ? total : 64);
	}
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
	test_bound(FUTURE_NOTIFIER_WAKER);
	test_bound(FUTURE_NOTIFIER_POLLER);
	test_bound(FUTURE_NOTIFIER_NONE);
	test_many_on_small_queue(1, 4, FUTURE_NOTIFIER_WAKER, big);
	test_many_on_small_queue(2, 4, FUTURE_NOTIFIER_WAKER, big);
	test_many_on_small_queue(2, 4, FUTURE_NOTIFIER_POLLER, big);
	test_many_on_small_queue(2, 4, FUTURE_NOTIFIER_NONE, big);
	test_many_on_small_queue(2, 1, FUTURE_NOTIFIER_WAKER, big);
	test_many_on_small_queue(3, 5, FUTURE_NOTIFIER_WAKER, 3000 /
		tt_slowdown() + 50);
	test_held_waiter_sleeps(FUTURE_NOTIFIER_WAKER);
	test_held_waiter_sleeps(FUTURE_NOTIFIER_POLLER);
	test_held_waiter_sleeps(FUTURE_NOTIFIER_NONE);
	test_oom();
	test_abandoned();
	runtime_delete(rt);
	return 0;
}
