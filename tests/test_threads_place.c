/* test_threads_place.c - which sleeping worker a push wakes, and that a
 * wake-up the mover skipped is tried again.
 *
 * CPU numbers come from a test hook (masync__test_thr_cpu), one made-up
 * CPU per thread: nothing depends on the machine's CPUs, their count or
 * the scheduler. Proves:
 * - masync__thr_pick: the latest sleeper that went to sleep on a CPU
 *   other than the waker's; the latest when all slept on the waker's CPU
 *   or the waker's CPU is unknown;
 * - through the public API, with two workers asleep on made-up CPUs 10
 *   and 11 (a user memcpy_fn, which only workers run, records who ran
 *   each operation): an operation pushed from "CPU 10" is run by the
 *   worker that slept on 11 and one pushed from "CPU 11" by the one that
 *   slept on 10, every time;
 * - a worker woken for a split operation is told to move off the
 *   pusher's CPU when it slept there (all threads on made-up CPU 7), and
 *   not when the push chose one that slept elsewhere (CPUs 10 and 11);
 * - an idle worker that may use one CPU only sleeps without spinning
 *   when the pushes come from its CPU, and spins when they come from
 *   another or it may use two (a spin counter hook);
 * - a caller and workers that may use one and the same CPU only (hooks:
 *   one CPU, the workers' CPU set to the caller's): the first poll of a
 *   4 MiB copy wakes no worker (both still asleep after it) and the
 *   second runs it on the calling thread; with the workers' CPU another
 *   one, or the caller on two CPUs, it is not left to the caller;
 * - masync__thr_wake_pays: with a measured wake-up far above the copy's
 *   time it says no, but each no ages the figure, so a wake-up (which
 *   measures it again) comes after a bounded number of skips; the copy
 *   rate it uses is the one of the operation's kind of stores (cached or
 *   streaming), not the other's; the poller's own time in the wake-up call
 *   and a worker slower than the poller count against the wake-up, and a
 *   skip brings the worker's rate closer to the poller's;
 * - a split copy (cached stores) pushed with both workers asleep and no
 *   wake-up (figures set) is copied by the poller in one call (one block
 *   claimed, a trace hook counts them) and nobody wakes; one that wakes
 *   a worker is claimed a chunk at a time;
 * - the same through a program's copy of the mover's vdm (a wrapper,
 *   whose later polls reach op_check): a busy poll and runtime_wait
 *   complete, run by the caller;
 * - a split copy's push wakes no sleeping worker while a spinning one is
 *   counted (set by the test), one when none spins, and one although a
 *   spinner is counted when polled with a program's waker or on a POLLER
 *   mover; the count is 0 once both workers sleep;
 * - a 4 KiB copy polled with no waker (busy polling), both workers asleep
 *   on the caller's made-up CPU, wakes nobody (a wake counter hook) and
 *   the next poll runs it; polled with a waker it wakes one, and so does
 *   a busy poll from another CPU than theirs;
 * - a poll of an operation a worker runs (a user memcpy_fn that holds it)
 *   yields the CPU (a yield counter hook) when that worker's CPU is the
 *   poller's, and never when it is another;
 * - an idle worker whose yield took long (a hook stands in for the thread
 *   that had the CPU) stops spinning only when that thread busy-polled an
 *   operation of the same mover on its CPU, not for another program or a
 *   caller polling with a notifier (a spin counter hook). */
#define MASYNC__TEST_HOOKS 1
#include <stdatomic.h>
#include <stddef.h>
static atomic_uint blocks; /* chunk blocks claimed (MASYNC__THR_TRACE_CHUNK) */
#define MASYNC__THR_TRACE_CHUNK(i) ((void)(i), atomic_fetch_add(&blocks, 1))
/* 4 MiB copies keep cached stores on any CPU (a streamed one is claimed
 * a chunk at a time however it was pushed) */
#define MINIASYNC_STREAM_MIN ((size_t)1 << 30)
#include "test_threads_util.h"

static _Thread_local int fake_cpu = -1;
static atomic_int next_cpu, same_cpu;
static _Atomic int ran_on;

/* the hook: a thread's made-up CPU, 10, 11, ... in order of first use */
static int
cpu_hook(void)
{
	if (atomic_load(&same_cpu) != 0)
		return atomic_load(&same_cpu);
	if (fake_cpu < 0)
		fake_cpu = 10 + atomic_fetch_add(&next_cpu, 1);
	return fake_cpu;
}

static void *
recording_memcpy(void *dst, const void *src, size_t n, unsigned flags)
{
	(void)flags;
	atomic_store(&ran_on, cpu_hook());
	return memcpy(dst, src, n);
}

static void
test_pick(void)
{
	struct masync__thr_wk w[20], *sl[20];
	size_t i;

	for (i = 0; i < 20; i++) {
		w[i].cpu = (int)(i % 2);
		sl[i] = &w[i];
	}
	CHECK(masync__thr_pick(sl, 2, 1) == 0);
	CHECK(masync__thr_pick(sl, 2, 0) == 1);
	CHECK(masync__thr_pick(sl, 3, 0) == 1);
	CHECK(masync__thr_pick(sl, 3, 1) == 2);
	CHECK(masync__thr_pick(sl, 1, 0) == 0); /* only one: the same CPU */
	CHECK(masync__thr_pick(sl, 2, -1) == 1); /* unknown: the latest */
	for (i = 0; i < 20; i++)
		w[i].cpu = 3;
	CHECK(masync__thr_pick(sl, 20, 3) == 19);
	w[5].cpu = 4;
	CHECK(masync__thr_pick(sl, 20, 3) == 5);
	w[5].cpu = -1; /* slept where the CPU was unknown: another CPU */
	CHECK(masync__thr_pick(sl, 20, 3) == 5);
	tt_log("pick: another CPU's latest sleeper ok\n");
}

/* workers asleep now (white box) */
static size_t
sleepers(struct data_mover_threads *d)
{
	size_t n;

	masync__mtx_lock(&d->lock);
	n = d->nsleep;
	masync__mtx_unlock(&d->lock);
	return n;
}

/* until n workers sleep (they spin first) */
static void
asleep(struct data_mover_threads *d, size_t n)
{
	uint64_t t0 = tt_now_ns();

	for (;;) {
		if (sleepers(d) == n)
			return;
		CHECK(tt_now_ns() - t0 < 60ull * 1000000000u);
		tt_sleep_us(200);
	}
}

static void
test_wake_other_cpu(void)
{
	struct data_mover_threads *d =
		data_mover_threads_new(2, 8, FUTURE_NOTIFIER_WAKER);
	struct vdm *vdm;
	struct runtime *rt = tt_runtime_new();
	unsigned char src[256], dst[256];
	int r;

	CHECK(d != NULL && rt != NULL);
	vdm = data_mover_threads_get_vdm(d);
	data_mover_threads_set_memcpy_fn(d, recording_memcpy);
	asleep(d, 2);
	/* the workers took 10 and 11 when they went to sleep; this thread
	 * is given one of them in turn */
	CHECK(atomic_load(&next_cpu) == 2);
	for (r = 0; r < 8; r++) {
		struct vdm_operation_future f;

		fake_cpu = 10 + r % 2;
		tt_fill(src, sizeof(src), (unsigned)r);
		asleep(d, 2);
		atomic_store(&ran_on, -1);
		f = vdm_memcpy(vdm, dst, src, sizeof(src), 0);
		runtime_wait(rt, FUTURE_AS_RUNNABLE(&f));
		CHECK(tt_result(&f) == VDM_SUCCESS);
		CHECK(tt_verify(dst, sizeof(src), (unsigned)r) == SIZE_MAX);
		CHECK(atomic_load(&ran_on) == 10 + (r + 1) % 2);
	}
	data_mover_threads_delete(d);
	runtime_delete(rt);
	tt_log("a push wakes the worker that slept on another CPU ok\n");
}

/* workers told to move off CPU `cpu` when they woke last */
static int
told_off(struct data_mover_threads *d, int cpu)
{
	int k = 0;
	size_t i;

	masync__mtx_lock(&d->lock);
	for (i = 0; i < d->nthreads; i++)
		k += d->wk[i].off == cpu;
	masync__mtx_unlock(&d->lock);
	return k;
}

/* a split 4 MiB copy from this thread, both workers asleep first */
static void
split_copy(struct data_mover_threads *d, unsigned char *src,
	unsigned char *dst, unsigned seed)
{
	const size_t n = (size_t)4 << 20;
	struct vdm_operation_future f;

	asleep(d, 2);
	tt_fill(src, n, seed);
	f = vdm_memcpy(data_mover_threads_get_vdm(d), dst, src, n, 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), NULL) !=
		FUTURE_STATE_IDLE);
	tt_busy_wait(&f, 20000);
	CHECK(tt_result(&f) == VDM_SUCCESS);
	CHECK(tt_verify(dst, n, seed) == SIZE_MAX);
}

static void
test_move_off(void)
{
	const size_t n = (size_t)4 << 20;
	unsigned char *src = malloc(n), *dst = malloc(n);
	struct data_mover_threads *d;

	CHECK(src != NULL && dst != NULL);
	MASYNC__STORE(&masync__test_thr_cpus, 2u, relaxed); /* split */
	/* every thread on CPU 7: the woken worker slept on the pusher's */
	atomic_store(&same_cpu, 7);
	d = data_mover_threads_new(2, 8, FUTURE_NOTIFIER_WAKER);
	CHECK(d != NULL);
	split_copy(d, src, dst, 21);
	CHECK(told_off(d, 7) == 1);
	data_mover_threads_delete(d);
	/* workers on 10 and 11, this thread on 10: the one on 11 wakes */
	atomic_store(&same_cpu, 0);
	atomic_store(&next_cpu, 0);
	fake_cpu = -1;
	d = data_mover_threads_new(2, 8, FUTURE_NOTIFIER_WAKER);
	CHECK(d != NULL);
	asleep(d, 2);
	fake_cpu = 10;
	split_copy(d, src, dst, 22);
	CHECK(told_off(d, 10) == 0);
	data_mover_threads_delete(d);
	MASYNC__STORE(&masync__test_thr_cpus, 0u, relaxed);
	fake_cpu = -1;
	free(src);
	free(dst);
	tt_log("a worker woken beside the pusher moves off ok\n");
}

static void
test_solo(void)
{
	struct data_mover_threads *d =
		data_mover_threads_new(2, 8, FUTURE_NOTIFIER_WAKER);
	const size_t n = (size_t)4 << 20;
	unsigned char *src = malloc(n), *dst = malloc(n);
	struct vdm_operation_future f;

	CHECK(d != NULL && src != NULL && dst != NULL);
	asleep(d, 2);
	fake_cpu = 10;
	MASYNC__STORE(&masync__test_thr_cpus, 1u, relaxed);
	MASYNC__STORE(&d->solo_cpu, 10, relaxed);
	CHECK(masync__thr_solo(d));
	tt_fill(src, n, 5);
	memset(dst, 0, n);
	f = vdm_memcpy(data_mover_threads_get_vdm(d), dst, src, n, 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), NULL) ==
		FUTURE_STATE_RUNNING);
	CHECK(sleepers(d) == 2);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), NULL) ==
		FUTURE_STATE_COMPLETE);
	CHECK(tt_result(&f) == VDM_SUCCESS);
	CHECK(tt_verify(dst, n, 5) == SIZE_MAX);
	MASYNC__STORE(&d->solo_cpu, 11, relaxed);
	CHECK(!masync__thr_solo(d));
	MASYNC__STORE(&d->solo_cpu, -1, relaxed);
	CHECK(!masync__thr_solo(d));
	MASYNC__STORE(&d->solo_cpu, 10, relaxed);
	MASYNC__STORE(&masync__test_thr_cpus, 2u, relaxed);
	CHECK(!masync__thr_solo(d));
	MASYNC__STORE(&masync__test_thr_cpus, 0u, relaxed);
	data_mover_threads_delete(d);
	free(src);
	free(dst);
	tt_log("one CPU for caller and workers: left to the caller ok\n");
}

/* Small operations on one CPU for caller and workers (hooks as in
 * test_solo): no push wakes a worker; the second poll of the last one
 * runs every queued entry in order (the queue is left empty, nothing
 * waits for a worker to drop claimed entries); a user memcpy_fn, which
 * only workers run, still wakes one. */
static void
test_solo_small(void)
{
	enum { N = 8, SZ = 4096 };
	struct data_mover_threads *d =
		data_mover_threads_new(2, 16, FUTURE_NOTIFIER_WAKER);
	unsigned char *src = malloc(N * SZ), *dst = malloc(N * SZ);
	struct vdm_operation_future f[N];
	size_t k;

	CHECK(d != NULL && src != NULL && dst != NULL);
	asleep(d, 2);
	fake_cpu = 10;
	MASYNC__STORE(&masync__test_thr_cpus, 1u, relaxed);
	MASYNC__STORE(&d->solo_cpu, 10, relaxed);
	tt_fill(src, N * SZ, 6);
	memset(dst, 0, N * SZ);
	for (k = 0; k < N; k++) {
		f[k] = vdm_memcpy(data_mover_threads_get_vdm(d),
			dst + k * SZ, src + k * SZ, SZ, 0);
		CHECK(future_poll(FUTURE_AS_RUNNABLE(&f[k]), NULL) ==
			FUTURE_STATE_RUNNING);
	}
	CHECK(sleepers(d) == 2);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f[N - 1]), NULL) ==
		FUTURE_STATE_COMPLETE);
	CHECK(MASYNC__LOAD(&d->enq_pos, relaxed) ==
		MASYNC__LOAD(&d->deq_pos, relaxed));
	for (k = 0; k < N; k++) {
		/* (the last one's future completed, its state went back) */
		CHECK(k == N - 1 || masync__signal_done(&((struct
			masync__thr_op *)FUTURE_DATA(&f[k])->data)->sig));
		CHECK(future_poll(FUTURE_AS_RUNNABLE(&f[k]), NULL) ==
			FUTURE_STATE_COMPLETE);
		CHECK(tt_result(&f[k]) == VDM_SUCCESS);
	}
	CHECK(tt_verify(dst, N * SZ, 6) == SIZE_MAX);
	/* a user function: the push wakes a worker. Only a worker runs it,
	 * and both slept: it completes only if one was woken (no count of
	 * sleepers after the push: pinned to one CPU, the woken worker may
	 * run it and sleep again before this thread looks) */
	data_mover_threads_set_memcpy_fn(d, recording_memcpy);
	atomic_store(&ran_on, -1);
	f[0] = vdm_memcpy(data_mover_threads_get_vdm(d), dst, src, SZ, 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f[0]), NULL) !=
		FUTURE_STATE_IDLE);
	tt_busy_wait(&f[0], 20000);
	CHECK(tt_result(&f[0]) == VDM_SUCCESS);
	CHECK(atomic_load(&ran_on) != -1);
	MASYNC__STORE(&masync__test_thr_cpus, 0u, relaxed);
	data_mover_threads_delete(d);
	fake_cpu = -1;
	free(src);
	free(dst);
	tt_log("one CPU: small operations run by the polls, in order ok\n");
}

/* A program's copy of the mover's vdm, its calls passed on (as
 * tests/compat_wrap_mover.c): polls after the first reach op_check, not
 * the mover's own check. */
static struct vdm *wrapped_inner;

static void *
wrap_new(struct vdm *vdm, const enum vdm_operation_type type)
{
	(void)vdm;
	return wrapped_inner->op_new(wrapped_inner, type);
}

static int
wrap_start(void *data, const struct vdm_operation *op,
	struct future_notifier *n)
{
	return wrapped_inner->op_start(data, op, n);
}

static enum future_state
wrap_check(void *data, const struct vdm_operation *op)
{
	return wrapped_inner->op_check(data, op);
}

/* Through a wrapped mover on one CPU for caller and workers (hooks as in
 * test_solo_small): no push wakes a worker, so a later poll must run the
 * operation, also through op_check; a busy poll and runtime_wait (whose
 * first poll has no waker either). Before, both waited for good. */
static void
test_solo_wrapped(void)
{
	enum { SZ = 4096 };
	struct data_mover_threads *d =
		data_mover_threads_new(2, 16, FUTURE_NOTIFIER_WAKER);
	struct runtime *rt = tt_runtime_new();
	unsigned char *src = malloc(SZ), *dst = malloc(SZ);
	struct vdm wrapped;
	struct vdm_operation_future f;
	int k, polls;

	CHECK(d != NULL && rt != NULL && src != NULL && dst != NULL);
	wrapped_inner = data_mover_threads_get_vdm(d);
	wrapped = *wrapped_inner;
	wrapped.op_new = wrap_new;
	wrapped.op_start = wrap_start;
	wrapped.op_check = wrap_check;
	asleep(d, 2);
	fake_cpu = 10;
	MASYNC__STORE(&masync__test_thr_cpus, 1u, relaxed);
	MASYNC__STORE(&d->solo_cpu, 10, relaxed);
	for (k = 0; k < 2; k++) {
		tt_fill(src, SZ, 50 + k);
		memset(dst, 0, SZ);
		f = vdm_memcpy(&wrapped, dst, src, SZ, 0);
		if (k == 0) {
			CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), NULL) ==
				FUTURE_STATE_RUNNING);
			CHECK(sleepers(d) == 2); /* nobody was woken */
			/* bounded: the workers sleep until someone wakes them */
			for (polls = 0; polls < 1000 && future_poll(
					FUTURE_AS_RUNNABLE(&f), NULL) !=
					FUTURE_STATE_COMPLETE; polls++)
				;
			CHECK(FUTURE_STATE(&f) == FUTURE_STATE_COMPLETE);
		} else {
			runtime_wait(rt, FUTURE_AS_RUNNABLE(&f));
		}
		CHECK(tt_result(&f) == VDM_SUCCESS);
		CHECK(tt_verify(dst, SZ, 50 + k) == SIZE_MAX);
	}
	MASYNC__STORE(&masync__test_thr_cpus, 0u, relaxed);
	data_mover_threads_delete(d);
	runtime_delete(rt);
	fake_cpu = -1;
	free(src);
	free(dst);
	tt_log("one CPU, a wrapped mover: later polls run the operation ok\n");
}

/* a user memcpy_fn (run by the worker) on a 1-worker mover, the worker
 * back asleep after it: the idle spins it took on the way */
static unsigned
spins_after_one_op(struct data_mover_threads *d)
{
	unsigned char src[64], dst[64];
	struct vdm_operation_future f;

	memset(src, 7, sizeof(src));
	MASYNC__STORE(&masync__test_thr_spins, 0u, relaxed);
	f = vdm_memcpy(data_mover_threads_get_vdm(d), dst, src, 64, 0);
	tt_busy_wait(&f, 20000);
	CHECK(tt_result(&f) == VDM_SUCCESS && dst[63] == 7);
	asleep(d, 1);
	return MASYNC__LOAD(&masync__test_thr_spins, relaxed);
}

/* A worker that may use one CPU only sleeps at once when the queue is
 * empty and the threads that push run on that CPU: its spin could only
 * take the CPU from them (4 pollers pinned to one CPU took 1.3-1.5x as
 * long with it, bench/polling). When they push from another CPU (the
 * caller pinned elsewhere), or it may use two CPUs, it spins first.
 * Without the quiet period (hook), which a slow yield starts (valgrind:
 * the two-CPU check saw no spin), so that the count does not depend on
 * timing. */
static void
test_solo_no_spin(void)
{
	struct data_mover_threads *d;
	unsigned spun, elsewhere;

	MASYNC__STORE(&masync__test_thr_no_quiet, 1, relaxed);
	d = data_mover_threads_new(1, 8, FUTURE_NOTIFIER_WAKER);
	CHECK(d != NULL);
	data_mover_threads_set_memcpy_fn(d, recording_memcpy);
	MASYNC__STORE(&masync__test_thr_cpus, 1u, relaxed);
	atomic_store(&same_cpu, 7);
	(void)spins_after_one_op(d); /* the first sleep was before the hooks */
	CHECK(spins_after_one_op(d) == 0);
	/* one CPU each, the caller's another than the worker's */
	atomic_store(&same_cpu, 0);
	(void)spins_after_one_op(d); /* the last push was seen on CPU 7 */
	elsewhere = spins_after_one_op(d);
	CHECK(elsewhere > 0);
	MASYNC__STORE(&masync__test_thr_cpus, 2u, relaxed);
	spun = spins_after_one_op(d);
	CHECK(spun > 0);
	MASYNC__STORE(&masync__test_thr_cpus, 0u, relaxed);
	data_mover_threads_delete(d);
	MASYNC__STORE(&masync__test_thr_no_quiet, 0, relaxed);
	tt_log("one CPU: the idle worker sleeps without spinning ok "
		"(pushes from another CPU: %u spins, two CPUs: %u)\n",
		elsewhere, spun);
}

/* figures as the mover measures them (cached [0] or streaming [1]) */
static void
figures(struct data_mover_threads *d, int stream, uint64_t wake,
	uint64_t call, uint64_t rc, uint64_t rw)
{
	MASYNC__STORE(&d->wake_ns, wake, relaxed);
	MASYNC__STORE(&d->wake_call_ns, call, relaxed);
	MASYNC__STORE(&d->ps_per_byte[stream], rc, relaxed);
	MASYNC__STORE(&d->ps_worker[stream], rw, relaxed);
}

static void
test_wake_retried(void)
{
	struct data_mover_threads *d =
		data_mover_threads_new(1, 8, FUTURE_NOTIFIER_WAKER);
	const size_t n = (size_t)64 << 20, mib4 = (size_t)4 << 20;
	const size_t chunk = (size_t)512 << 10, c128 = (size_t)128 << 10;
	unsigned k;

	CHECK(d != NULL);
	/* 1 s to wake, 100 ps a byte: 6.7 ms of copy, no wake-up */
	figures(d, 1, 1000000000u, 0, 100, 100);
	CHECK(!masync__thr_wake_pays(d, n, chunk, 1));
	CHECK(MASYNC__LOAD(&d->wake_ns, relaxed) < 1000000000u);
	for (k = 1; k < 100 && !masync__thr_wake_pays(d, n, chunk, 1); k++)
		;
	CHECK(k < 100);
	/* a small copy still does not pay for the aged figure */
	CHECK(!masync__thr_wake_pays(d, 4096, 4096, 1));
	/* cached and streaming rates apart: 2 MiB that stays in the caches
	 * at 20 ps a byte (42 us) does not pay a 100 us wake-up, though
	 * streaming copies ran at 1000 ps a byte; one streamed does */
	figures(d, 0, 100000u, 0, 20, 20);
	figures(d, 1, 100000u, 0, 1000, 1000);
	CHECK(!masync__thr_wake_pays(d, (size_t)2 << 20, c128, 0));
	CHECK(masync__thr_wake_pays(d, (size_t)2 << 20, c128, 1));
	/* unmeasured: wake (the wake-up measures every figure) */
	figures(d, 0, 100000u, 0, 0, 20);
	CHECK(masync__thr_wake_pays(d, (size_t)2 << 20, c128, 0));
	figures(d, 0, 100000u, 0, 20, 0);
	CHECK(masync__thr_wake_pays(d, (size_t)2 << 20, c128, 0));
	/* 4 MiB at 20 ps a byte (84 us alone), a worker as fast that
	 * arrives after 30 us: pays with 10 us in the call, not with 60 */
	figures(d, 0, 30000u, 10000u, 20, 20);
	CHECK(masync__thr_wake_pays(d, mib4, c128, 0));
	figures(d, 0, 30000u, 60000u, 20, 20);
	CHECK(!masync__thr_wake_pays(d, mib4, c128, 0));
	/* a worker 5x slower than the poller (the data in the poller's
	 * caches) does not pay with 10 us in the call; each skip brings its
	 * rate closer to the poller's (never below), so one is tried again */
	figures(d, 0, 30000u, 10000u, 20, 100);
	CHECK(!masync__thr_wake_pays(d, mib4, c128, 0));
	CHECK(MASYNC__LOAD(&d->ps_worker[0], relaxed) == 90);
	for (k = 1; k < 100 && !masync__thr_wake_pays(d, mib4, c128, 0); k++)
		CHECK(MASYNC__LOAD(&d->ps_worker[0], relaxed) >= 20);
	CHECK(k < 100);
	/* 4 MiB, a worker at 46 ps a byte that arrives after 28 us, 15 us
	 * in the call: pays against the poller at 19 (80 us), not at 17
	 * (71 us). A skip leaves the poller's rate as it measured it (every
	 * copy measures it again) and brings the worker's and the wake-up
	 * closer, so one is tried again */
	figures(d, 0, 28000u, 15000u, 19, 46);
	CHECK(masync__thr_wake_pays(d, mib4, c128, 0));
	figures(d, 0, 28000u, 15000u, 17, 46);
	CHECK(!masync__thr_wake_pays(d, mib4, c128, 0));
	CHECK(MASYNC__LOAD(&d->ps_per_byte[0], relaxed) == 17);
	CHECK(MASYNC__LOAD(&d->ps_worker[0], relaxed) < 46);
	for (k = 1; k < 100 && !masync__thr_wake_pays(d, mib4, c128, 0); k++)
		CHECK(MASYNC__LOAD(&d->ps_per_byte[0], relaxed) == 17);
	CHECK(k < 100);
	data_mover_threads_delete(d);
	tt_log("a skipped wake-up is tried again after %u skips ok\n", k);
}

/* A split 4 MiB copy with both workers asleep: figures that say the
 * wake-up does not pay leave it to the poller, which wakes nobody and
 * copies it chunk by chunk as it would beside a worker (4 MiB over two
 * participants: chunks of 1/16 of 2 MiB, 32 of them); unmeasured
 * figures wake one, and the copy is chunked too. */
static void
test_alone_chunks(void)
{
	const size_t n = (size_t)4 << 20;
	unsigned char *src = malloc(n), *dst = malloc(n);
	struct data_mover_threads *d;
	struct vdm_operation_future f;

	CHECK(src != NULL && dst != NULL);
	MASYNC__STORE(&masync__test_thr_cpus, 2u, relaxed); /* split */
	d = data_mover_threads_new(2, 8, FUTURE_NOTIFIER_WAKER);
	CHECK(d != NULL);
	asleep(d, 2);
	figures(d, 0, (uint64_t)1 << 40, 0, 1, 1);
	tt_fill(src, n, 31);
	atomic_store(&blocks, 0);
	f = vdm_memcpy(data_mover_threads_get_vdm(d), dst, src, n, 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), NULL) !=
		FUTURE_STATE_IDLE);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), NULL) ==
		FUTURE_STATE_COMPLETE);
	CHECK(tt_result(&f) == VDM_SUCCESS);
	CHECK(tt_verify(dst, n, 31) == SIZE_MAX);
	CHECK(atomic_load(&blocks) == 32);
	CHECK(sleepers(d) == 2);
	data_mover_threads_delete(d);
	d = data_mover_threads_new(2, 8, FUTURE_NOTIFIER_WAKER);
	CHECK(d != NULL);
	asleep(d, 2);
	tt_fill(src, n, 32);
	atomic_store(&blocks, 0);
	f = vdm_memcpy(data_mover_threads_get_vdm(d), dst, src, n, 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), NULL) !=
		FUTURE_STATE_IDLE);
	tt_busy_wait(&f, 20000);
	CHECK(tt_result(&f) == VDM_SUCCESS);
	CHECK(tt_verify(dst, n, 32) == SIZE_MAX);
	CHECK(atomic_load(&blocks) > 1);
	data_mover_threads_delete(d);
	MASYNC__STORE(&masync__test_thr_cpus, 0u, relaxed);
	free(src);
	free(dst);
	tt_log("a split copy nobody helps: the poller's 32 chunks; helped: "
		"chunks ok\n");
}

static void
noop_wake(void *data)
{
	(void)data;
}

/* A split copy's entry wakes no sleeping worker while a spinning one is
 * counted for it (the count set by the test: a real spinner's window is
 * timing), and wakes one when none spins; the count is back at 0 once
 * every worker sleeps. Polled with a program's waker, or on a POLLER
 * mover, it wakes one although a spinner is counted. Hooks: two CPUs; figures unmeasured (so a wake-up
 * pays, masync__thr_wake_pays). */
static void
test_spinner_split(void)
{
	const size_t n = (size_t)4 << 20;
	unsigned char *src = malloc(n), *dst = malloc(n);
	struct data_mover_threads *d;
	struct vdm_operation_future f;
	int k;

	CHECK(src != NULL && dst != NULL);
	MASYNC__STORE(&masync__test_thr_cpus, 2u, relaxed);
	d = data_mover_threads_new(2, 8, FUTURE_NOTIFIER_WAKER);
	CHECK(d != NULL);
	/* k: 0 a spinner counted, a busy poll; 1 none; 2 a spinner counted,
	 * a program's waker; 3 the same with a POLLER mover and no waker */
	for (k = 0; k < 4; k++) {
		struct future_notifier nt;

		if (k == 3) {
			data_mover_threads_delete(d);
			d = data_mover_threads_new(2, 8,
				FUTURE_NOTIFIER_POLLER);
			CHECK(d != NULL);
		}
		memset(&nt, 0, sizeof(nt));
		nt.waker.wake = k == 2 ? noop_wake : NULL;
		asleep(d, 2);
		CHECK(MASYNC__LOAD(&d->spinning, relaxed) == 0);
		MASYNC__STORE(&d->spinning, (uint32_t)(k != 1), relaxed);
		MASYNC__STORE(&masync__test_thr_wakes, 0u, relaxed);
		tt_fill(src, n, 40 + k);
		atomic_store(&blocks, 0);
		f = vdm_memcpy(data_mover_threads_get_vdm(d), dst, src, n, 0);
		CHECK(future_poll(FUTURE_AS_RUNNABLE(&f),
			k < 2 ? NULL : &nt) != FUTURE_STATE_IDLE);
		/* a poller that polls again only when told is not left to
		 * the spinner: it may have popped another entry meanwhile
		 * and be running that */
		CHECK(MASYNC__LOAD(&masync__test_thr_wakes, relaxed) ==
			(unsigned)(k != 0));
		if (k == 0) /* nobody came: the poller runs every chunk */
			CHECK(sleepers(d) == 2);
		tt_busy_wait(&f, 20000);
		CHECK(tt_result(&f) == VDM_SUCCESS);
		CHECK(tt_verify(dst, n, 40 + k) == SIZE_MAX);
		CHECK(atomic_load(&blocks) > 1); /* chunked, not alone */
		/* (once the woken worker sleeps again: its own count is
		 * back out) */
		asleep(d, 2);
		MASYNC__STORE(&d->spinning, 0u, relaxed);
	}
	data_mover_threads_delete(d);
	MASYNC__STORE(&masync__test_thr_cpus, 0u, relaxed);
	free(src);
	free(dst);
	tt_log("a split copy wakes nobody for a spinning worker ok\n");
}

/* A busy poller (no waker) does not wake a worker that went to sleep on
 * its CPU (the next poll runs the operation); one with a waker, or on
 * another CPU, does. Hooks: every thread on made-up CPU 7, two CPUs. */
static void
test_busy_spare(void)
{
	struct data_mover_threads *d;
	struct vdm *vdm;
	unsigned char src[4096], dst[4096];
	struct vdm_operation_future f;
	struct future_notifier nt;
	struct masync__thr_op *op;
	enum future_state st;
	uint64_t t0;

	MASYNC__STORE(&masync__test_thr_cpus, 2u, relaxed);
	atomic_store(&same_cpu, 7);
	d = data_mover_threads_new(2, 16, FUTURE_NOTIFIER_WAKER);
	CHECK(d != NULL);
	vdm = data_mover_threads_get_vdm(d);
	asleep(d, 2);
	tt_fill(src, sizeof(src), 3);
	MASYNC__STORE(&masync__test_thr_wakes, 0u, relaxed);
	f = vdm_memcpy(vdm, dst, src, sizeof(src), 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), NULL) ==
		FUTURE_STATE_RUNNING);
	CHECK(MASYNC__LOAD(&masync__test_thr_wakes, relaxed) == 0);
	CHECK(sleepers(d) == 2);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), NULL) ==
		FUTURE_STATE_COMPLETE);
	CHECK(tt_result(&f) == VDM_SUCCESS);
	CHECK(tt_verify(dst, sizeof(src), 3) == SIZE_MAX);
	CHECK(MASYNC__LOAD(&masync__test_thr_wakes, relaxed) == 0);
	/* with a waker: one wakes, and it runs the copy though this thread
	 * does not poll again */
	memset(&nt, 0, sizeof(nt));
	nt.waker.wake = noop_wake;
	tt_fill(src, sizeof(src), 4);
	f = vdm_memcpy(vdm, dst, src, sizeof(src), 0);
	st = future_poll(FUTURE_AS_RUNNABLE(&f), &nt);
	CHECK(st != FUTURE_STATE_IDLE);
	CHECK(MASYNC__LOAD(&masync__test_thr_wakes, relaxed) == 1);
	if (st != FUTURE_STATE_COMPLETE) { /* (the worker may be done) */
		op = (struct masync__thr_op *)FUTURE_DATA(&f)->data;
		for (t0 = tt_now_ns(); !masync__signal_done(&op->sig);
				tt_sleep_us(100))
			CHECK(tt_now_ns() - t0 < 60ull * 1000000000u);
		CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), NULL) ==
			FUTURE_STATE_COMPLETE);
	}
	CHECK(tt_result(&f) == VDM_SUCCESS);
	CHECK(tt_verify(dst, sizeof(src), 4) == SIZE_MAX);
	/* a busy poller on another CPU than the sleepers' wakes one */
	asleep(d, 2);
	atomic_store(&same_cpu, 0);
	fake_cpu = 8;
	f = vdm_memcpy(vdm, dst, src, sizeof(src), 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), NULL) != FUTURE_STATE_IDLE);
	CHECK(MASYNC__LOAD(&masync__test_thr_wakes, relaxed) == 2);
	tt_busy_wait(&f, 20000);
	CHECK(tt_result(&f) == VDM_SUCCESS);
	data_mover_threads_delete(d);
	fake_cpu = -1;
	MASYNC__STORE(&masync__test_thr_cpus, 0u, relaxed);
	tt_log("a busy poller wakes no worker beside it ok\n");
}

/* A program's waker is called by workers only, never inside a poll: a
 * thread that polls one future may hold a lock that waker takes (an
 * executor polling under its queue's lock). Caller and workers on one
 * made-up CPU, where polls run queued operations themselves:
 * - four copies queued by busy polls (no worker woken), each then with a
 *   program's waker registered (white box: as an owner's poll in between
 *   would), and a fifth busy-polled to completion: its second poll runs
 *   the queue from the first, and the four wakers are called by a worker
 *   (the test's `in_poll` flag is never seen set on the polling thread);
 * - a copy first polled with a program's waker: a worker is woken and
 *   calls it (before: the poll called it itself, "poll again");
 * - a POLLER mover, polled once with a notifier that has no waker: the
 *   word changes with no further poll (before: the push woke nobody, the
 *   next poll was to run it, and an executor that only watches the word
 *   waited forever). */
static _Thread_local int in_poll;
static atomic_uint uw_calls, uw_inside, uw_on_main;
static thrd_t main_thread;

static void
user_wake(void *data)
{
	(void)data;
	if (in_poll)
		atomic_fetch_add(&uw_inside, 1);
	if (thrd_equal(thrd_current(), main_thread))
		atomic_fetch_add(&uw_on_main, 1);
	atomic_fetch_add(&uw_calls, 1);
}

static void
poll_until_done(struct vdm_operation_future *f, struct future_notifier *n)
{
	uint64_t t0 = tt_now_ns();

	while (future_poll(FUTURE_AS_RUNNABLE(f), n) != FUTURE_STATE_COMPLETE) {
		CHECK(tt_now_ns() - t0 < 60ull * 1000000000u);
		tt_sleep_us(100);
	}
}

static void
test_solo_user_wakers(void)
{
	enum { N = 4, SZ = 4096 };
	struct data_mover_threads *d;
	struct vdm *vdm;
	unsigned char *src = malloc((N + 2) * SZ), *dst = malloc((N + 2) * SZ);
	struct vdm_operation_future f[N + 2];
	struct future_notifier nw, np;
	uint64_t *word, seen;
	size_t k;

	CHECK(src != NULL && dst != NULL);
	main_thread = thrd_current();
	memset(&nw, 0, sizeof(nw));
	nw.waker.wake = user_wake;
	MASYNC__STORE(&masync__test_thr_cpus, 1u, relaxed);
	atomic_store(&same_cpu, 7);
	d = data_mover_threads_new(2, 16, FUTURE_NOTIFIER_WAKER);
	CHECK(d != NULL);
	vdm = data_mover_threads_get_vdm(d);
	asleep(d, 2);
	MASYNC__STORE(&d->solo_cpu, 7, relaxed);
	tt_fill(src, (N + 2) * SZ, 9);
	memset(dst, 0, (N + 2) * SZ);
	for (k = 0; k < N; k++) {
		f[k] = vdm_memcpy(vdm, dst + k * SZ, src + k * SZ, SZ, 0);
		CHECK(future_poll(FUTURE_AS_RUNNABLE(&f[k]), NULL) ==
			FUTURE_STATE_RUNNING);
		CHECK(!masync__signal_register(&((struct masync__thr_op *)
			FUTURE_DATA(&f[k])->data)->sig, &nw,
			FUTURE_NOTIFIER_WAKER, NULL));
	}
	CHECK(sleepers(d) == 2);
	f[N] = vdm_memcpy(vdm, dst + N * SZ, src + N * SZ, SZ, 0);
	in_poll = 1;
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f[N]), NULL) ==
		FUTURE_STATE_RUNNING);
	/* the second poll runs the queue from its head (the first entry,
	 * at least, is another's: handed to a worker, which is woken and
	 * may take the rest, its own one too) */
	poll_until_done(&f[N], NULL);
	in_poll = 0;
	CHECK(atomic_load(&uw_inside) == 0);
	tt_wait_uint(&uw_calls, N, 60000);
	/* (a poll during a wake call's last instructions says "not yet") */
	for (k = 0; k < N; k++)
		poll_until_done(&f[k], NULL);
	/* the one a program polls with its waker: a worker is woken */
	asleep(d, 2);
	f[N + 1] = vdm_memcpy(vdm, dst + (N + 1) * SZ, src + (N + 1) * SZ,
		SZ, 0);
	in_poll = 1;
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f[N + 1]), &nw) !=
		FUTURE_STATE_IDLE);
	in_poll = 0;
	tt_wait_uint(&uw_calls, N + 1, 60000);
	poll_until_done(&f[N + 1], NULL);
	for (k = 0; k < N + 2; k++)
		CHECK(tt_result(&f[k]) == VDM_SUCCESS);
	CHECK(tt_verify(dst, (N + 2) * SZ, 9) == SIZE_MAX);
	CHECK(atomic_load(&uw_calls) == N + 1);
	CHECK(atomic_load(&uw_inside) == 0);
	CHECK(atomic_load(&uw_on_main) == 0);
	data_mover_threads_delete(d);

	/* POLLER: the word is all its executor watches */
	d = data_mover_threads_new(2, 16, FUTURE_NOTIFIER_POLLER);
	CHECK(d != NULL);
	vdm = data_mover_threads_get_vdm(d);
	asleep(d, 2);
	MASYNC__STORE(&d->solo_cpu, 7, relaxed);
	tt_fill(src, SZ, 10);
	memset(&np, 0, sizeof(np));
	f[0] = vdm_memcpy(vdm, dst, src, SZ, 0);
	/* (the woken worker may be done before the poll returns) */
	if (future_poll(FUTURE_AS_RUNNABLE(&f[0]), &np) !=
			FUTURE_STATE_COMPLETE) {
		CHECK(np.notifier_used == FUTURE_NOTIFIER_POLLER);
		word = np.poller.ptr_to_monitor;
		seen = 0;
		tt_wait_word(word, seen, 60000);
		CHECK(future_poll(FUTURE_AS_RUNNABLE(&f[0]), &np) ==
			FUTURE_STATE_COMPLETE);
	}
	CHECK(tt_result(&f[0]) == VDM_SUCCESS);
	CHECK(tt_verify(dst, SZ, 10) == SIZE_MAX);
	data_mover_threads_delete(d);
	atomic_store(&same_cpu, 0);
	MASYNC__STORE(&masync__test_thr_cpus, 0u, relaxed);
	free(src);
	free(dst);
	tt_log("one CPU: programs' wakers called by workers only, a POLLER "
		"word changes unpolled ok\n");
}

/* a user memcpy_fn that holds its worker until `release` */
static atomic_int held, release;

static void *
holding_memcpy(void *dst, const void *src, size_t n, unsigned flags)
{
	(void)flags;
	atomic_store(&held, 1);
	while (!atomic_load(&release))
		tt_sleep_us(50);
	return memcpy(dst, src, n);
}

/* until a worker is in holding_memcpy */
static void
until_held(void)
{
	uint64_t t0;

	for (t0 = tt_now_ns(); !atomic_load(&held); tt_sleep_us(100))
		CHECK(tt_now_ns() - t0 < 60ull * 1000000000u);
}

/* polls of an operation a worker holds, from made-up CPU `cpu` (-1: the
 * worker's): the yields they gave */
static unsigned
yields_while_held(struct data_mover_threads *d, int cpu)
{
	unsigned char src[64], dst[64];
	struct vdm_operation_future f;
	struct masync__thr_op *op;
	unsigned k, y;

	memset(src, 5, sizeof(src));
	atomic_store(&held, 0);
	atomic_store(&release, 0);
	f = vdm_memcpy(data_mover_threads_get_vdm(d), dst, src, 64, 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), NULL) ==
		FUTURE_STATE_RUNNING);
	until_held();
	op = (struct masync__thr_op *)FUTURE_DATA(&f)->data;
	CHECK(MASYNC__LOAD(&op->cpu, relaxed) >= 10);
	fake_cpu = cpu >= 0 ? cpu : MASYNC__LOAD(&op->cpu, relaxed);
	/* a record a deleted mover's operation at this address left behind
	 * (same use, long stalled) is not this one's */
	masync__thr_stalled.op = op;
	masync__thr_stalled.gen = d->gen - 1;
	masync__thr_stalled.use = op->use;
	masync__thr_stalled.since = 0;
	MASYNC__STORE(&masync__test_thr_yields, 0u, relaxed);
	for (k = 0; k < 2 * MASYNC__THR_POLL_YIELD; k++)
		CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), NULL) ==
			FUTURE_STATE_RUNNING);
	y = MASYNC__LOAD(&masync__test_thr_yields, relaxed);
	atomic_store(&release, 1);
	tt_busy_wait(&f, 20000);
	CHECK(tt_result(&f) == VDM_SUCCESS && dst[63] == 5);
	fake_cpu = -1;
	return y;
}

/* the yields of polls of an operation held by a worker: on the worker's
 * CPU at least one per MASYNC__THR_POLL_YIELD polls, on another none */
static void
test_yield_where(void)
{
	struct data_mover_threads *d =
		data_mover_threads_new(1, 8, FUTURE_NOTIFIER_WAKER);

	CHECK(d != NULL);
	MASYNC__STORE(&masync__test_thr_cpus, 2u, relaxed);
	data_mover_threads_set_memcpy_fn(d, holding_memcpy);
	CHECK(yields_while_held(d, -1) >= 1);
	CHECK(yields_while_held(d, 3) == 0);
	MASYNC__STORE(&masync__test_thr_cpus, 0u, relaxed);
	data_mover_threads_delete(d);
	tt_log("a poll yields only where its worker runs ok\n");
}

/* An idle worker's yield that took long (hook: every yield counts as
 * long; the hook's function stands for whoever had the CPU meanwhile):
 * only a busy poller of the same mover on that CPU makes it stop
 * spinning. Another program, or a caller polling with a notifier (it
 * sleeps soon: runtime_wait), leaves it spinning. 2 workers, every
 * thread on made-up CPU 7: one holds `fh` (its dst picks the holding
 * path), the other runs `fr` and then spins; the stand-in polls `fh`. */
static unsigned char *hold_dst;
static struct vdm_operation_future *steal_fut;
static struct future_notifier *steal_notifier;

static void *
some_holding_memcpy(void *dst, const void *src, size_t n, unsigned flags)
{
	return dst == hold_dst ? holding_memcpy(dst, src, n, flags) :
		memcpy(dst, src, n);
}

static void
steal_nothing(void)
{
}

static void
steal_polling(void)
{
	unsigned k;

	for (k = 0; k < MASYNC__THR_POLL_MARK; k++)
		CHECK(future_poll(FUTURE_AS_RUNNABLE(steal_fut),
			steal_notifier) != FUTURE_STATE_COMPLETE);
}

/* the spins of the worker that ran `fr` until it slept */
static unsigned
spins_when_stolen(masync__yield_fn stand_in, int with_notifier)
{
	struct data_mover_threads *d =
		data_mover_threads_new(2, 8, FUTURE_NOTIFIER_WAKER);
	unsigned char src[64], hdst[64], rdst[64];
	struct vdm_operation_future fh, fr;
	struct future_notifier waker;
	unsigned spun;

	CHECK(d != NULL);
	memset(src, 5, sizeof(src));
	memset(&waker, 0, sizeof(waker));
	waker.notifier_used = FUTURE_NOTIFIER_WAKER;
	waker.waker.wake = noop_wake;
	data_mover_threads_set_memcpy_fn(d, some_holding_memcpy);
	asleep(d, 2);
	hold_dst = hdst;
	atomic_store(&held, 0);
	atomic_store(&release, 0);
	fh = vdm_memcpy(data_mover_threads_get_vdm(d), hdst, src, 64, 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&fh), NULL) !=
		FUTURE_STATE_COMPLETE);
	until_held();
	asleep(d, 1); /* the other one */
	steal_fut = &fh;
	steal_notifier = with_notifier ? &waker : NULL;
	MASYNC__STORE(&masync__test_thr_yield, stand_in, release);
	MASYNC__STORE(&masync__test_thr_spins, 0u, relaxed);
	/* no busy poll here while it spins: this thread is on CPU 7 too */
	fr = vdm_memcpy(data_mover_threads_get_vdm(d), rdst, src, 64, 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&fr), NULL) !=
		FUTURE_STATE_IDLE); /* the push took the sleeper off the list */
	asleep(d, 1);
	spun = MASYNC__LOAD(&masync__test_thr_spins, relaxed);
	tt_busy_wait(&fr, 20000);
	CHECK(tt_result(&fr) == VDM_SUCCESS && rdst[63] == 5);
	MASYNC__STORE(&masync__test_thr_yield, (masync__yield_fn)NULL,
		release);
	atomic_store(&release, 1);
	tt_busy_wait(&fh, 20000);
	CHECK(tt_result(&fh) == VDM_SUCCESS && hdst[63] == 5);
	data_mover_threads_delete(d);
	return spun;
}

static void
test_stolen_yield(void)
{
	unsigned other, waiter, poller;

	MASYNC__STORE(&masync__test_thr_cpus, 2u, relaxed);
	atomic_store(&same_cpu, 7);
	other = spins_when_stolen(steal_nothing, 0);
	waiter = spins_when_stolen(steal_polling, 1);
	poller = spins_when_stolen(steal_polling, 0);
	CHECK(other == MASYNC__THR_WORKER_SPINS - 1);
	CHECK(waiter == MASYNC__THR_WORKER_SPINS - 1);
	CHECK(poller == MASYNC__THR_YIELD_EVERY);
	atomic_store(&same_cpu, 0);
	MASYNC__STORE(&masync__test_thr_cpus, 0u, relaxed);
	tt_log("a long yield stops the spin only for a busy poller of the "
		"mover (spins: other program %u, waiting caller %u, busy "
		"poller %u) ok\n", other, waiter, poller);
}

int
main(void)
{
	test_pick();
	test_wake_retried();
	MASYNC__STORE(&masync__test_thr_cpu, cpu_hook, release);
	test_wake_other_cpu();
	test_solo();
	test_solo_small();
	test_solo_wrapped();
	test_solo_no_spin();
	test_move_off();
	test_alone_chunks();
	test_spinner_split();
	test_busy_spare();
	test_solo_user_wakers();
	test_yield_where();
	test_stolen_yield();
	MASYNC__STORE(&masync__test_thr_cpu, (masync__cpu_fn)NULL, release);
	return 0;
}
