/* A program that wraps a built-in mover, as a libminiasync user adds
 * counting or tracing to one: its own struct vdm is a copy of the mover's
 * (capabilities included), with op_new handing the mover's own vdm on
 * (the mover finds itself from that pointer) and op_start / op_check
 * counting, then calling the mover's. Nothing of the mover follows the
 * copy in memory: the library must not read past it (under ASan a read
 * past it is a stack-buffer-overflow), and must call the copy's callbacks,
 * not the mover's behind them. Sync and threads movers; runtime_wait,
 * runtime_wait_multiple, a busy poll, a cancelled idle future. And on a
 * threads mover with one worker and a three-slot ring (ringbuf_size: also
 * at most three operations in flight): the idle future of an operation
 * that waited for room (the ring full of an operation queued behind the
 * held worker and the entries of two its poller ran) and that the worker
 * has moved into the ring since, cancelled through the copy (which keeps
 * the mover's op_delete, or wraps it too): cancelled, and never run after
 * (it was: the copy's cancel only released the future's reference). With
 * three in flight, a creation through the copy is refused as through the
 * mover's own vdm (born COMPLETE with VDM_ERROR_OUT_OF_MEMORY, nothing
 * written), and the cancellation through the copy gives the slot back.
 * And a running future whose operation still waits in the ring, cancelled
 * through the copy. */
#include "miniasync.h"
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <threads.h>
#include "compat_util.h"

#define N 64
#define OPS 16

static struct vdm *inner; /* the wrapped mover's own vdm */
static int news, starts, checks;

static void *
wrap_new(struct vdm *vdm, const enum vdm_operation_type type)
{
	(void)vdm;
	news++;
	return inner->op_new(inner, type);
}

static int
wrap_start(void *data, const struct vdm_operation *op,
	struct future_notifier *n)
{
	starts++;
	return inner->op_start(data, op, n);
}

static enum future_state
wrap_check(void *data, const struct vdm_operation *op)
{
	checks++;
	return inner->op_check(data, op);
}

static void
run(const char *name, struct vdm *mover, struct runtime *r)
{
	/* on the stack, with nothing after it that belongs to the mover */
	struct vdm wrapped = *mover;
	char src[OPS][N], dst[OPS][N];
	struct vdm_operation_future f[OPS];
	struct future *fs[OPS];
	int i;

	inner = mover;
	wrapped.op_new = wrap_new;
	wrapped.op_start = wrap_start;
	wrapped.op_check = wrap_check;
	news = starts = checks = 0;
	for (i = 0; i < OPS; i++) {
		memset(src[i], 'a' + i, N);
		memset(dst[i], 0, N);
	}

	/* one at a time through runtime_wait */
	for (i = 0; i < OPS / 2; i++) {
		f[i] = vdm_memcpy(&wrapped, dst[i], src[i], N, 0);
		runtime_wait(r, FUTURE_AS_RUNNABLE(&f[i]));
		CHECK(FUTURE_OUTPUT(&f[i])->result == VDM_SUCCESS);
		CHECK(FUTURE_OUTPUT(&f[i])->output.memcpy.dest == dst[i]);
	}
	/* the rest at once */
	for (i = OPS / 2; i < OPS; i++) {
		f[i] = vdm_memcpy(&wrapped, dst[i], src[i], N, 0);
		fs[i - OPS / 2] = FUTURE_AS_RUNNABLE(&f[i]);
	}
	runtime_wait_multiple(r, fs, OPS / 2);
	for (i = 0; i < OPS; i++) {
		CHECK(FUTURE_OUTPUT(&f[i])->result == VDM_SUCCESS);
		CHECK(memcmp(dst[i], src[i], N) == 0);
	}
	CHECK(news == OPS);
	CHECK(starts == OPS);
	CHECK(checks >= OPS); /* the copy's check decides completion */

	/* busy polled, a memset */
	f[0] = vdm_memset(&wrapped, dst[0], 0x5a, N, 0);
	FUTURE_BUSY_POLL(&f[0]);
	CHECK(FUTURE_OUTPUT(&f[0])->result == VDM_SUCCESS);
	CHECK(compat_all(dst[0], 0x5a, N));

	/* made, never started, given up: nothing written */
	memset(dst[1], 0, N);
	f[1] = vdm_memcpy(&wrapped, dst[1], src[1], N, 0);
	CHECK(vdm_cancel(&f[1]) == 0);
	CHECK(FUTURE_OUTPUT(&f[1])->result == VDM_ERROR_CANCELLED);
	CHECK(compat_all(dst[1], 0, N));

	/* the copy keeps the mover's answers */
	CHECK(vdm_is_supported(&wrapped, VDM_F_NO_CACHE_HINT | 1u << 5) == 0);
	CHECK(vdm_is_supported(&wrapped, VDM_F_MEM_DURABLE) ==
		vdm_is_supported(mover, VDM_F_MEM_DURABLE));
#ifdef MASYNC__WB /* (elsewhere a CPU mover lists neither flag) */
	CHECK(vdm_is_supported(&wrapped, VDM_F_MEM_DURABLE));
#endif
	printf("%s: %d ops, %d starts, %d checks\n", name, news, starts,
		checks);
}

/* ---- a cancel after the wait for room ---- */

static atomic_int gate_open[2], gate_in[2], gated_calls;

/* the worker's memcpy: the first two calls wait at a gate */
static void *
gated_memcpy(void *dst, const void *src, size_t n, unsigned flags)
{
	int k = atomic_fetch_add(&gated_calls, 1);

	(void)flags;
	if (k < 2) {
		atomic_store(&gate_in[k], 1);
		while (!atomic_load(&gate_open[k]))
			thrd_yield();
	}
	return memcpy(dst, src, n);
}

static void
wait_for(atomic_int *flag)
{
	while (!atomic_load(flag))
		thrd_yield();
}

static void
wrap_delete(void *data, const struct vdm_operation *op,
	struct vdm_operation_output *out)
{
	inner->op_delete(data, op, out);
}

/* A threads mover with one worker running gated_memcpy (gates closed),
 * and *wrapped a copy of its vdm with op_new (and op_delete) wrapped */
static struct data_mover_threads *
gated_mover(size_t ring, int wrap_del, struct vdm *wrapped)
{
	struct data_mover_threads *d = data_mover_threads_new(1, ring,
		FUTURE_NOTIFIER_WAKER);
	int i;

	CHECK(d != NULL);
	if (d == NULL)
		return NULL;
	inner = data_mover_threads_get_vdm(d);
	*wrapped = *inner;
	wrapped->op_new = wrap_new;
	if (wrap_del)
		wrapped->op_delete = wrap_delete;
	for (i = 0; i < 2; i++) {
		atomic_store(&gate_open[i], 0);
		atomic_store(&gate_in[i], 0);
	}
	atomic_store(&gated_calls, 0);
	data_mover_threads_set_memcpy_fn(d, gated_memcpy);
	return d;
}

static void
cancel_after_room(int wrap_del, struct runtime *r)
{
	struct vdm wrapped;
	struct data_mover_threads *d = gated_mover(3, wrap_del, &wrapped);
	struct vdm *v = inner;
	char a_src[N], a_dst[N], b_src[N], b_dst[N];
	unsigned char c_dst[4096], d_dst[N], s_dst[2][N], x_dst[N];
	struct vdm_operation_future fa, fb, fc, fd, fs, fx;
	int failed = compat_failures, i;

	if (d == NULL)
		return;
	memset(a_src, 'A', N);
	memset(b_src, 'B', N);
	memset(c_dst, 0xee, sizeof(c_dst));
	memset(x_dst, 0xee, sizeof(x_dst));
	/* A holds the worker, B is queued */
	fa = vdm_memcpy(v, a_dst, a_src, N, 0);
	(void)future_poll(FUTURE_AS_RUNNABLE(&fa), NULL);
	wait_for(&gate_in[0]);
	fb = vdm_memcpy(v, b_dst, b_src, N, 0);
	(void)future_poll(FUTURE_AS_RUNNABLE(&fb), NULL);
	/* two memsets through the copy, each queued by its first poll and
	 * run by its second (the worker is held): done, their slots given
	 * back, their entries stay behind B (a push drops such entries only
	 * from the ring's head, and B's, a user function's, stays until
	 * the worker pops it) and fill the ring */
	for (i = 0; i < 2; i++) {
		fs = vdm_memset(&wrapped, s_dst[i], 0x30 + i, N, 0);
		CHECK(future_poll(FUTURE_AS_RUNNABLE(&fs), NULL) ==
			FUTURE_STATE_RUNNING);
		CHECK(future_poll(FUTURE_AS_RUNNABLE(&fs), NULL) ==
			FUTURE_STATE_COMPLETE);
		CHECK(FUTURE_OUTPUT(&fs)->result == VDM_SUCCESS);
		CHECK(compat_all(s_dst[i], 0x30 + i, N));
	}
	/* C waits for room */
	fc = vdm_memset(&wrapped, c_dst, 0x11, sizeof(c_dst), 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&fc), NULL) ==
		FUTURE_STATE_IDLE);
	/* A, B, C in flight: the copy's next creation is refused */
	fx = vdm_memset(&wrapped, x_dst, 0x33, N, 0);
	CHECK(FUTURE_STATE(&fx) == FUTURE_STATE_COMPLETE);
	CHECK(FUTURE_OUTPUT(&fx)->result == VDM_ERROR_OUT_OF_MEMORY);
	CHECK(fx.data.data == NULL);
	CHECK(vdm_cancel(&fx) == EALREADY);
	/* the worker ends A, pops B (C goes into the ring), runs B */
	atomic_store(&gate_open[0], 1);
	wait_for(&gate_in[1]);
	CHECK(FUTURE_STATE(&fc) == FUTURE_STATE_IDLE);
	CHECK(vdm_cancel(&fc) == 0);
	CHECK(FUTURE_STATE(&fc) == FUTURE_STATE_COMPLETE);
	CHECK(FUTURE_OUTPUT(&fc)->result == VDM_ERROR_CANCELLED);
	/* C's slot is back (A and B are still in flight): D is made; it
	 * goes after C: once D is done, the worker has passed C */
	fd = vdm_memset(v, d_dst, 0x22, N, 0);
	CHECK(FUTURE_STATE(&fd) == FUTURE_STATE_IDLE);
	(void)future_poll(FUTURE_AS_RUNNABLE(&fd), NULL);
	atomic_store(&gate_open[1], 1);
	runtime_wait(r, FUTURE_AS_RUNNABLE(&fa));
	runtime_wait(r, FUTURE_AS_RUNNABLE(&fb));
	runtime_wait(r, FUTURE_AS_RUNNABLE(&fd));
	CHECK(FUTURE_OUTPUT(&fd)->result == VDM_SUCCESS);
	CHECK(compat_all(d_dst, 0x22, N));
	CHECK(memcmp(a_dst, a_src, N) == 0 && memcmp(b_dst, b_src, N) == 0);
	CHECK(compat_all(c_dst, 0xee, sizeof(c_dst))); /* never written */
	CHECK(compat_all(x_dst, 0xee, sizeof(x_dst))); /* refused */
	data_mover_threads_delete(d);
	printf("threads, cancel after the wait for room%s: %s\n",
		wrap_del ? " (op_delete wrapped)" : "",
		compat_failures == failed ? "ok" : "FAILED");
}

/* A running future whose operation still waits in the ring (the one
 * worker is held in A), cancelled through the copy: cancelled (0) as
 * through the mover's own vdm, and never run after (it said EINPROGRESS:
 * only an idle future went to the mover). */
static void
cancel_queued(struct runtime *r)
{
	struct vdm wrapped;
	struct data_mover_threads *d = gated_mover(8, 0, &wrapped);
	struct vdm *v = inner;
	char a_src[N], a_dst[N];
	unsigned char b_dst[N], d_dst[N];
	struct vdm_operation_future fa, fb, fd;
	int failed = compat_failures;

	if (d == NULL)
		return;
	atomic_store(&gate_open[1], 1); /* only A waits */
	memset(a_src, 'A', N);
	memset(b_dst, 0xee, N);
	fa = vdm_memcpy(v, a_dst, a_src, N, 0);
	(void)future_poll(FUTURE_AS_RUNNABLE(&fa), NULL);
	wait_for(&gate_in[0]);
	fb = vdm_memset(&wrapped, b_dst, 0x11, N, 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&fb), NULL) ==
		FUTURE_STATE_RUNNING);
	CHECK(vdm_cancel(&fb) == 0);
	CHECK(FUTURE_STATE(&fb) == FUTURE_STATE_COMPLETE);
	CHECK(FUTURE_OUTPUT(&fb)->result == VDM_ERROR_CANCELLED);
	/* D goes after B: once D is done, the worker has passed B */
	fd = vdm_memset(v, d_dst, 0x22, N, 0);
	(void)future_poll(FUTURE_AS_RUNNABLE(&fd), NULL);
	atomic_store(&gate_open[0], 1);
	runtime_wait(r, FUTURE_AS_RUNNABLE(&fa));
	runtime_wait(r, FUTURE_AS_RUNNABLE(&fd));
	CHECK(FUTURE_OUTPUT(&fd)->result == VDM_SUCCESS);
	CHECK(compat_all(d_dst, 0x22, N));
	CHECK(memcmp(a_dst, a_src, N) == 0);
	CHECK(compat_all(b_dst, 0xee, N)); /* never written */
	data_mover_threads_delete(d);
	printf("threads, cancel of a queued running future through the copy: "
		"%s\n", compat_failures == failed ? "ok" : "FAILED");
}

int
main(void)
{
	struct runtime *r = runtime_new();
	struct data_mover_sync *dms = data_mover_sync_new();
	struct data_mover_threads *dmt = data_mover_threads_new(2, 64,
		FUTURE_NOTIFIER_WAKER);

	if (r == NULL || dms == NULL || dmt == NULL) {
		fprintf(stderr, "setup failed\n");
		return 1;
	}
	run("sync", data_mover_sync_get_vdm(dms), r);
	run("threads", data_mover_threads_get_vdm(dmt), r);
	cancel_after_room(0, r);
	cancel_after_room(1, r);
	cancel_queued(r);
	data_mover_threads_delete(dmt);
	data_mover_sync_delete(dms);
	runtime_delete(r);
	return compat_failures != 0;
}
