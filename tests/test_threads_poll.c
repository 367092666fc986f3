/* test_threads_poll.c - callers that poll while the workers run.
 *
 * - Batches of operations busy-polled with a NULL notifier, waited with
 *   runtime_wait_multiple and polled in order (pmemstream's pattern) from
 *   more threads than the mover has workers, all complete with the right
 *   content (a ring of as many slots as the threads keep in flight:
 *   ringbuf_size bounds the operations in flight, and none may be
 *   refused here). Built a second time with the workers' idle spinning
 *   compiled out (MASYNC__THR_WORKER_SPINS 0): every push must then wake
 *   a sleeping worker, so a lost wake-up hangs the test (meson's
 *   timeout).
 * - Split operations (4 MiB) polled after the first poll are helped by the
 *   polling thread, and come out right for memcpy, memmove and memset,
 *   busy-polled or waited, also cancelled right after their first poll.
 * - A user memcpy_fn is never run by a polling thread, only by workers
 *   (it may rely on that), also for split operations.
 * - An unsplit operation still queued when polled again is run by its
 *   poller: with the only worker held in a user memcpy_fn, memsets queued
 *   behind it complete when busy-polled; the worker later skips their
 *   queue entries (their states were reused meanwhile) and what follows
 *   runs right.
 * - Entries their pollers ran do not fill the ring while the workers are
 *   busy or asleep: with the only worker held, five rings' worth of
 *   memsets each complete at their second busy poll (a push that finds
 *   the ring full, or half full, drops those entries first); a queued
 *   memset ahead of such a push is run by the pusher (in order) before
 *   its own second poll; a user function's entry ahead stops that (it is
 *   a worker's), so the ring then fills and the next push waits for room
 *   until the worker is free (3 operations in flight of 8: entries their
 *   pollers ran fill a ring, not the mover's bound), and everything
 *   completes right. */
#include "test_threads_util.h"

#define BSZ 4096
#define NB 16
#define BIG ((size_t)4 << 20)

/* ---- batches from several threads ---------------------------------------- */
struct poller {
	struct vdm *vdm;
	struct runtime *rt;
	unsigned seed, rounds;
	int how; /* 0 busy, 1 runtime_wait_multiple, 2 in order */
};

static int
poller_main(void *arg)
{
	struct poller *p = (struct poller *)arg;
	unsigned char *src = (unsigned char *)tt_xmalloc((size_t)NB * BSZ);
	unsigned char *dst = (unsigned char *)tt_xmalloc((size_t)NB * BSZ);
	struct vdm_operation_future f[NB];
	struct future *fp[NB];
	unsigned r, k;

	for (r = 0; r < p->rounds; r++) {
		tt_fill(src, (size_t)NB * BSZ, p->seed + r);
		memset(dst, 0, (size_t)NB * BSZ);
		for (k = 0; k < NB; k++) {
			f[k] = vdm_memcpy(p->vdm, dst + (size_t)k * BSZ,
				src + (size_t)k * BSZ, BSZ, 0);
			fp[k] = FUTURE_AS_RUNNABLE(&f[k]);
		}
		if (p->how == 1) {
			runtime_wait_multiple(p->rt, fp, NB);
		} else if (p->how == 2) {
			for (k = 0; k < NB; k++)
				tt_busy_wait(&f[k], 20000);
		} else {
			unsigned left = NB;

			while (left > 0) {
				left = 0;
				for (k = 0; k < NB; k++)
					left += future_poll(fp[k], NULL) !=
						FUTURE_STATE_COMPLETE;
			}
		}
		for (k = 0; k < NB; k++)
			CHECK(tt_result(&f[k]) == VDM_SUCCESS);
		CHECK(tt_verify(dst, (size_t)NB * BSZ, p->seed + r) ==
			SIZE_MAX);
	}
	free(src);
	free(dst);
	return 0;
}

static void
test_pollers(size_t workers)
{
	enum { T = 4 };
	/* a slot for each operation the T threads keep in flight (NB each):
	 * past ringbuf_size creation is refused, which is not what this
	 * tests; the ring still fills with the entries the busy pollers ran
	 * themselves (they stay until a worker pops them) */
	struct data_mover_threads *dmt =
		data_mover_threads_new(workers, T * NB, FUTURE_NOTIFIER_WAKER);
	struct runtime *rt[T];
	struct poller p[T];
	tt_thread t[T];
	unsigned i, rounds = TT_ON_VALGRIND() ? 4 : 200 / tt_slowdown();

	CHECK(dmt != NULL);
	for (i = 0; i < T; i++) {
		rt[i] = tt_runtime_new();
		CHECK(rt[i] != NULL);
		p[i].vdm = data_mover_threads_get_vdm(dmt);
		p[i].rt = rt[i];
		p[i].seed = 1000 * i;
		p[i].rounds = rounds ? rounds : 1;
		p[i].how = (int)(i % 3);
		CHECK(tt_thread_start(&t[i], poller_main, &p[i]) == 0);
	}
	for (i = 0; i < T; i++) {
		CHECK(tt_thread_join(t[i]) == 0);
		runtime_delete(rt[i]);
	}
	data_mover_threads_delete(dmt);
	tt_log("%u polling threads on %zu worker(s) ok\n", T, workers);
}

/* ---- split operations helped by the poller ------------------------------- */
static void
test_split(struct runtime *rt, int how)
{
	struct data_mover_threads *dmt =
		data_mover_threads_new(2, 16, FUTURE_NOTIFIER_WAKER);
	struct vdm *vdm = data_mover_threads_get_vdm(dmt);
	unsigned char *a = (unsigned char *)tt_xmalloc(BIG + 4096);
	unsigned char *b = (unsigned char *)tt_xmalloc(BIG);
	struct vdm_operation_future f;
	int kind;

	CHECK(dmt != NULL);
	for (kind = 0; kind < 3; kind++) {
		tt_fill(a, BIG + 4096, 7u + (unsigned)kind);
		memset(b, 0, BIG);
		if (kind == 0)
			f = vdm_memcpy(vdm, b, a, BIG, 0);
		else if (kind == 1) /* overlapping: never split */
			f = vdm_memmove(vdm, a + 4096, a, BIG, 0);
		else
			f = vdm_memset(vdm, b, 0x5c, BIG, 0);
		if (how)
			runtime_wait(rt, FUTURE_AS_RUNNABLE(&f));
		else
			tt_busy_wait(&f, 20000);
		CHECK(tt_result(&f) == VDM_SUCCESS);
		if (kind == 0)
			CHECK(tt_verify(b, BIG, 7) == SIZE_MAX);
		else if (kind == 1)
			CHECK(tt_verify(a + 4096, BIG, 8) == SIZE_MAX);
		else
			CHECK(tt_verify_byte(b, BIG, 0x5c) == SIZE_MAX);
	}
	/* cancelled after the first poll: either it was not started, or it
	 * ran completely (the helper and the workers race for it) */
	{
		enum { R = 16 };
		unsigned r, cancelled = 0;

		for (r = 0; r < R; r++) {
			tt_fill(a, BIG, 40 + r);
			memset(b, 0, BIG);
			f = vdm_memcpy(vdm, b, a, BIG, 0);
			/* IDLE: the ring is full (entries the pollers ran
			 * stay queued until a woken worker pops them), which
			 * is back-pressure: poll again until it starts */
			{
				unsigned tries = 0;

				while (future_poll(FUTURE_AS_RUNNABLE(&f),
						NULL) == FUTURE_STATE_IDLE) {
					CHECK(++tries < 10000000u);
					thrd_yield();
				}
			}
			if (vdm_cancel(&f) == 0) {
				/* cancelled: nothing written, ever */
				CHECK(tt_result(&f) == VDM_ERROR_CANCELLED);
				CHECK(tt_verify_byte(b, BIG, 0) == SIZE_MAX);
				cancelled++;
				continue;
			}
			tt_busy_wait(&f, 20000);
			CHECK(tt_result(&f) == VDM_SUCCESS);
			CHECK(tt_verify(b, BIG, 40 + r) == SIZE_MAX);
		}
		tt_log("split: %u of %u cancelled in time\n", cancelled, R);
	}
	data_mover_threads_delete(dmt);
	free(a);
	free(b);
	tt_log("split operations, %s ok\n", how ? "waited" : "busy-polled");
}

/* ---- user functions run on workers only ---------------------------------- */
static thrd_t caller_thread;
static atomic_uint user_calls, user_on_caller;

static void *
user_memcpy(void *dst, const void *src, size_t n, unsigned flags)
{
	(void)flags;
	atomic_fetch_add(&user_calls, 1);
	if (thrd_equal(thrd_current(), caller_thread))
		atomic_fetch_add(&user_on_caller, 1);
	return memcpy(dst, src, n);
}

static void
test_user_fn_on_workers(struct runtime *rt)
{
	struct data_mover_threads *dmt =
		data_mover_threads_new(2, 16, FUTURE_NOTIFIER_WAKER);
	struct vdm *vdm = data_mover_threads_get_vdm(dmt);
	unsigned char *a = (unsigned char *)tt_xmalloc(BIG);
	unsigned char *b = (unsigned char *)tt_xmalloc(BIG);
	struct vdm_operation_future f;
	int i;

	CHECK(dmt != NULL);
	caller_thread = thrd_current();
	data_mover_threads_set_memcpy_fn(dmt, user_memcpy);
	for (i = 0; i < 4; i++) {
		tt_fill(a, BIG, 60u + (unsigned)i);
		memset(b, 0, BIG);
		f = vdm_memcpy(vdm, b, a, BIG, 0);
		if (i % 2)
			runtime_wait(rt, FUTURE_AS_RUNNABLE(&f));
		else
			tt_busy_wait(&f, 20000);
		CHECK(tt_result(&f) == VDM_SUCCESS);
		CHECK(tt_verify(b, BIG, 60u + (unsigned)i) == SIZE_MAX);
	}
	CHECK(atomic_load(&user_calls) == 4); /* whole range, never split */
	CHECK(atomic_load(&user_on_caller) == 0);
	data_mover_threads_delete(dmt);
	free(a);
	free(b);
	tt_log("user memcpy_fn ran on workers only (%u calls)\n",
		atomic_load(&user_calls));
}

/* ---- queued operations run by their poller ------------------------------ */
static atomic_int gate_entered, gate_open;

static void *
gate_memcpy(void *dst, const void *src, size_t n, unsigned flags)
{
	(void)flags;
	atomic_fetch_add(&gate_entered, 1); /* calls that reached it */
	while (!atomic_load(&gate_open))
		thrd_yield();
	return memcpy(dst, src, n);
}

/* a mover of one worker and a ring of `cap`, the worker held in
 * gate_memcpy by *g (64 bytes a -> b) */
static struct data_mover_threads *
gate_mover(size_t cap, struct vdm_operation_future *g, unsigned char *a,
	unsigned char *b)
{
	struct data_mover_threads *dmt =
		data_mover_threads_new(1, cap, FUTURE_NOTIFIER_WAKER);

	CHECK(dmt != NULL);
	atomic_store(&gate_entered, 0);
	atomic_store(&gate_open, 0);
	data_mover_threads_set_memcpy_fn(dmt, gate_memcpy);
	*g = vdm_memcpy(data_mover_threads_get_vdm(dmt), b, a, 64, 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(g), NULL) ==
		FUTURE_STATE_RUNNING);
	while (!atomic_load(&gate_entered))
		thrd_yield();
	return dmt;
}

static void
test_help_unsplit(struct runtime *rt)
{
	enum { R = 12, SZ = 4096 };
	static unsigned char a[64], b[64], buf[R][SZ];
	struct vdm_operation_future g, f;
	struct data_mover_threads *dmt;
	struct vdm *vdm;
	unsigned r;

	tt_fill(a, sizeof(a), 3);
	dmt = gate_mover(64, &g, a, b);
	vdm = data_mover_threads_get_vdm(dmt);
	/* the worker is held: only the poller can run these */
	for (r = 0; r < R; r++) {
		f = vdm_memset(vdm, buf[r], (int)r + 1, SZ, 0);
		tt_busy_wait(&f, 20000);
		CHECK(tt_result(&f) == VDM_SUCCESS);
		CHECK(tt_verify_byte(buf[r], SZ, (int)r + 1) == SIZE_MAX);
	}
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&g), NULL) ==
		FUTURE_STATE_RUNNING);
	atomic_store(&gate_open, 1);
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&g));
	CHECK(tt_result(&g) == VDM_SUCCESS);
	CHECK(memcmp(a, b, sizeof(a)) == 0);
	/* the stale entries were skipped: later operations run right */
	for (r = 0; r < R; r++) {
		f = vdm_memset(vdm, buf[r], (int)r + 100, SZ, 0);
		runtime_wait(rt, FUTURE_AS_RUNNABLE(&f));
		CHECK(tt_result(&f) == VDM_SUCCESS);
		CHECK(tt_verify_byte(buf[r], SZ, (int)r + 100) == SIZE_MAX);
	}
	data_mover_threads_delete(dmt);
	tt_log("queued operations run by their poller ok\n");
}

/* ---- the ring trimmed by busy pollers ---------------------------------- */
enum { TRIM_CAP = 8, TRIM_SZ = 256 };

/* a memset pushed by its first busy poll and run by its second */
static void
trim_memset(struct vdm *vdm, unsigned char *p, int c)
{
	struct vdm_operation_future f = vdm_memset(vdm, p, c, TRIM_SZ, 0);

	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), NULL) ==
		FUTURE_STATE_RUNNING);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), NULL) ==
		FUTURE_STATE_COMPLETE);
	CHECK(tt_result(&f) == VDM_SUCCESS);
	CHECK(tt_verify_byte(p, TRIM_SZ, c) == SIZE_MAX);
}

static void
trim_release(struct runtime *rt, struct data_mover_threads *dmt,
	struct vdm_operation_future *g, const unsigned char *a,
	const unsigned char *b)
{
	atomic_store(&gate_open, 1);
	runtime_wait(rt, FUTURE_AS_RUNNABLE(g));
	CHECK(tt_result(g) == VDM_SUCCESS);
	CHECK(memcmp(a, b, 64) == 0);
	data_mover_threads_delete(dmt);
}

static void
test_trim(struct runtime *rt)
{
	static unsigned char a[64], b[64], c[64];
	static unsigned char buf[5 * TRIM_CAP][TRIM_SZ], live[TRIM_SZ];
	struct vdm_operation_future g, l, g2, f;
	struct data_mover_threads *dmt;
	struct vdm *vdm;
	unsigned r;

	tt_fill(a, sizeof(a), 9);
	/* claimed entries dropped: five rings' worth, none waits for room */
	dmt = gate_mover(TRIM_CAP, &g, a, b);
	vdm = data_mover_threads_get_vdm(dmt);
	for (r = 0; r < 5 * TRIM_CAP; r++)
		trim_memset(vdm, buf[r], (int)r + 1);
	trim_release(rt, dmt, &g, a, b);

	/* a queued memset ahead is run by a push into the half-full ring */
	dmt = gate_mover(TRIM_CAP, &g, a, b);
	vdm = data_mover_threads_get_vdm(dmt);
	memset(live, 0, sizeof(live));
	l = vdm_memset(vdm, live, 0x5a, TRIM_SZ, 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&l), NULL) ==
		FUTURE_STATE_RUNNING);
	for (r = 0; r < TRIM_CAP; r++)
		trim_memset(vdm, buf[r], (int)r + 50);
	CHECK(tt_verify_byte(live, TRIM_SZ, 0x5a) == SIZE_MAX);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&l), NULL) ==
		FUTURE_STATE_COMPLETE);
	CHECK(tt_result(&l) == VDM_SUCCESS);
	trim_release(rt, dmt, &g, a, b);

	/* a user function's entry ahead stops the trim: behind it 7
	 * entries fill the ring (8 with it), the 8th memset waits for room */
	dmt = gate_mover(TRIM_CAP, &g, a, b);
	vdm = data_mover_threads_get_vdm(dmt);
	memset(c, 0, sizeof(c));
	g2 = vdm_memcpy(vdm, c, a, sizeof(a), 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&g2), NULL) ==
		FUTURE_STATE_RUNNING);
	for (r = 0; r < TRIM_CAP - 1; r++)
		trim_memset(vdm, buf[r], (int)r + 80);
	memset(buf[TRIM_CAP], 0, TRIM_SZ);
	f = vdm_memset(vdm, buf[TRIM_CAP], 0x77, TRIM_SZ, 0);
	/* (left idle while it waits for room) */
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), NULL) ==
		FUTURE_STATE_IDLE);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), NULL) ==
		FUTURE_STATE_IDLE);
	/* g2 was run by nobody (a poller would hang in the gate); its
	 * buffers are read only after runtime_wait (helgrind) */
	CHECK(atomic_load(&gate_entered) == 1);
	atomic_store(&gate_open, 1);
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&g2));
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&f));
	CHECK(tt_result(&g2) == VDM_SUCCESS && tt_result(&f) == VDM_SUCCESS);
	CHECK(memcmp(c, a, sizeof(c)) == 0);
	CHECK(tt_verify_byte(buf[TRIM_CAP], TRIM_SZ, 0x77) == SIZE_MAX);
	trim_release(rt, dmt, &g, a, b);
	tt_log("claimed entries trimmed by busy pollers ok\n");
}

int
main(void)
{
	struct runtime *rt;

	tt_valgrind_setup();
	rt = tt_runtime_new();
	CHECK(rt != NULL);
	test_pollers(1);
	test_pollers(2);
	test_split(rt, 0);
	test_split(rt, 1);
	test_user_fn_on_workers(rt);
	test_help_unsplit(rt);
	test_trim(rt);
	runtime_delete(rt);
	return 0;
}
