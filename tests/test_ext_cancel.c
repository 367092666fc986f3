/* test_ext_cancel.c - vdm_cancel on every mover and on a user-written one:
 * cancel before start (0, VDM_ERROR_CANCELLED, nothing written, every
 * operation type), after completion and on futures born complete
 * (EALREADY), after one poll (0 or EINPROGRESS, consistent with what gets
 * written), NULL (EINVAL); on the threads mover deterministically: a
 * running operation (EINPROGRESS, runs to completion), a queued one behind
 * it (0, the worker skips it), one blocked on a full queue (0, its place in
 * the wait list is released; the queue filled by operations queued behind
 * the held worker and the entries of two their poller ran). There the
 * mover is also at its bound (ringbuf_size operations in flight): a
 * creation is refused (born COMPLETE with VDM_ERROR_OUT_OF_MEMORY, EALREADY
 * to vdm_cancel, nothing written), and cancelling the blocked one gives
 * its slot back at once. Written / untouched buffers are checked after
 * the movers were deleted, when nothing can write any more. */
#define _GNU_SOURCE
#include "test_impl.h"
#include "test_ext_util.h"

#define N (16 * 1024)

static unsigned char src[N];
static unsigned char a[N], b[N], c[N], d[N];

/* buffers whose final contents are checked after the movers are gone */
#define MAX_LATER 256
static struct later {
	unsigned char *buf;
	int written; /* 1: must equal src, 0: must be all zero */
} later[MAX_LATER];
static size_t nlater;

static unsigned char *
later_buf(void)
{
	unsigned char *p = (unsigned char *)calloc(1, N);

	CHECK(p != NULL && nlater < MAX_LATER);
	later[nlater].buf = p;
	later[nlater].written = -1;
	nlater++;
	return p;
}

static void
later_expect(unsigned char *p, int written)
{
	size_t i;

	for (i = 0; i < nlater; i++)
		if (later[i].buf == p)
			later[i].written = written;
}

static void
later_check(void)
{
	size_t i;

	for (i = 0; i < nlater; i++) {
		CHECK(later[i].written >= 0);
		if (later[i].written)
			CHECK(memcmp(later[i].buf, src, N) == 0);
		else
			CHECK(te_all(later[i].buf, 0, N));
		free(later[i].buf);
	}
}

static void
check_cancelled(struct vdm_operation_future *f, enum vdm_operation_type t)
{
	CHECK(f->base.context.state == FUTURE_STATE_COMPLETE);
	CHECK(f->output.result == VDM_ERROR_CANCELLED);
	CHECK(f->output.type == t);
	CHECK(f->output.output.memcpy.dest == NULL);
	CHECK(f->data.data == NULL);
	CHECK(vdm_cancel(f) == EALREADY);
	CHECK(f->output.result == VDM_ERROR_CANCELLED);
}

static void
every_mover(struct te_mover *m)
{
	struct runtime *r = runtime_new();
	struct vdm_operation_future f;
	unsigned char *p;
	int i, ret;

	CHECK(r != NULL);
	te_fill(src, N, 1);
	/* before start: every operation type */
	memset(a, 0, N);
	f = vdm_memcpy(m->vdm, a, src, N, 0);
	CHECK(vdm_cancel(&f) == 0);
	check_cancelled(&f, VDM_OPERATION_MEMCPY);
	runtime_wait(r, FUTURE_AS_RUNNABLE(&f)); /* complete: returns */
	CHECK(f.output.result == VDM_ERROR_CANCELLED);
	f = vdm_memmove(m->vdm, a, src, N, VDM_F_MEM_DURABLE);
	CHECK(vdm_cancel(&f) == 0);
	check_cancelled(&f, VDM_OPERATION_MEMMOVE);
	f = vdm_memset(m->vdm, a, 0x13, N, VDM_F_NO_CACHE_HINT);
	CHECK(vdm_cancel(&f) == 0);
	check_cancelled(&f, VDM_OPERATION_MEMSET);
	f = vdm_flush(m->vdm, a, N, 0);
	CHECK(vdm_cancel(&f) == 0);
	check_cancelled(&f, VDM_OPERATION_FLUSH);
	CHECK(te_all(a, 0, N));
	/* a cancelled future moved in memory stays cancelled */
	{
		struct vdm_operation_future g = vdm_memcpy(m->vdm, a, src, N,
			0);
		struct vdm_operation_future h = g;

		CHECK(vdm_cancel(&h) == 0);
		check_cancelled(&h, VDM_OPERATION_MEMCPY);
	}

	/* complete by an error (arguments are checked at the first poll;
	 * before it, the operation can be cancelled like any other) */
	f = vdm_memcpy(m->vdm, a, src, N, 0x100); /* flag outside VALID */
	FUTURE_BUSY_POLL(&f);
	CHECK(f.output.result == VDM_ERROR_INVALID_ARGUMENT);
	CHECK(vdm_cancel(&f) == EALREADY);
	CHECK(f.output.result == VDM_ERROR_INVALID_ARGUMENT);
	f = vdm_memset(m->vdm, NULL, 0, N, 0);
	CHECK(vdm_cancel(&f) == 0);
	check_cancelled(&f, VDM_OPERATION_MEMSET);
	f = vdm_memset(NULL, a, 0, N, 0); /* born complete */
	CHECK(vdm_cancel(&f) == EALREADY);
	errno = 0;
	CHECK(vdm_cancel(NULL) == EINVAL);
	CHECK(errno == EINVAL);
	memset(&f, 0, sizeof(f)); /* no mover: an error, not a crash */
	errno = 0;
	CHECK(vdm_cancel(&f) == EINVAL);
	CHECK(errno == EINVAL);
	CHECK(FUTURE_STATE(&f) == FUTURE_STATE_IDLE);

	/* after completion */
	f = vdm_memcpy(m->vdm, a, src, N, 0);
	runtime_wait(r, FUTURE_AS_RUNNABLE(&f));
	CHECK(vdm_cancel(&f) == EALREADY);
	CHECK(f.output.result == VDM_SUCCESS);
	CHECK(memcmp(a, src, N) == 0);

	/* after one poll, with and without a notifier */
	for (i = 0; i < 4; i++) {
		p = later_buf();
		f = vdm_memcpy(m->vdm, p, src, N, 0);
		if (i & 1) {
			CHECK(runtime_wait_for(r, FUTURE_AS_RUNNABLE(&f), 0)
				== 0 || m->kind != TE_SYNC);
		} else {
			future_poll(FUTURE_AS_RUNNABLE(&f), NULL);
		}
		ret = vdm_cancel(&f);
		if (m->kind == TE_SYNC)
			CHECK(ret == EALREADY);
		CHECK(ret == 0 || ret == EINPROGRESS || ret == EALREADY);
		if (ret == 0) {
			check_cancelled(&f, VDM_OPERATION_MEMCPY);
			later_expect(p, 0);
		} else {
			runtime_wait(r, FUTURE_AS_RUNNABLE(&f));
			CHECK(f.output.result == VDM_SUCCESS);
			CHECK(memcmp(p, src, N) == 0);
			later_expect(p, 1);
		}
	}
	/* the mover still works, and a cancelled future's place is free */
	for (i = 0; i < 200; i++) {
		f = vdm_memset(m->vdm, a, 0, N, 0);
		CHECK(vdm_cancel(&f) == 0);
	}
	memset(a, 0, N);
	f = vdm_memcpy(m->vdm, a, src, N, 0);
	runtime_wait(r, FUTURE_AS_RUNNABLE(&f));
	CHECK(f.output.result == VDM_SUCCESS);
	CHECK(memcmp(a, src, N) == 0);
	runtime_delete(r);
}

/* single-worker threads mover with slow copies: a runs, b and c queue */
static void
threads_queue(void)
{
	struct data_mover_threads *dmt = te_slow_mover(1, 8, 150,
		FUTURE_NOTIFIER_WAKER);
	struct vdm *vdm = data_mover_threads_get_vdm(dmt);
	struct runtime *r = runtime_new();
	struct vdm_operation_future fa, fb, fc;
	struct future *futs[2];
	unsigned s0 = atomic_load(&te_slow_started);

	CHECK(r != NULL);
	memset(a, 0, N);
	memset(b, 0, N);
	memset(c, 0, N);
	atomic_store(&te_slow_hold, 1); /* a runs until b is cancelled */
	fa = vdm_memcpy(vdm, a, src, N, 0);
	CHECK(runtime_wait_for(r, FUTURE_AS_RUNNABLE(&fa), 0) == ETIMEDOUT);
	te_wait_slow_started(s0 + 1);
	CHECK(vdm_cancel(&fa) == EINPROGRESS); /* running */
	fb = vdm_memcpy(vdm, b, src, N, 0);
	CHECK(runtime_wait_for(r, FUTURE_AS_RUNNABLE(&fb), 0) == ETIMEDOUT);
	fc = vdm_memcpy(vdm, c, src, N, 0);
	future_poll(FUTURE_AS_RUNNABLE(&fc), NULL);
	CHECK(fc.base.context.state == FUTURE_STATE_RUNNING);
	CHECK(vdm_cancel(&fb) == 0); /* queued behind a: cancelled */
	check_cancelled(&fb, VDM_OPERATION_MEMCPY);
	CHECK(vdm_cancel(&fa) == EINPROGRESS);
	atomic_store(&te_slow_hold, 0);
	futs[0] = FUTURE_AS_RUNNABLE(&fa);
	futs[1] = FUTURE_AS_RUNNABLE(&fc);
	runtime_wait_multiple(r, futs, 2);
	CHECK(fa.output.result == VDM_SUCCESS);
	CHECK(fc.output.result == VDM_SUCCESS);
	CHECK(vdm_cancel(&fa) == EALREADY);
	/* one worker, FIFO: c done means b's entry was taken and skipped */
	CHECK(memcmp(a, src, N) == 0);
	CHECK(memcmp(c, src, N) == 0);
	CHECK(te_all(b, 0, N));
	CHECK(atomic_load(&te_slow_started) == s0 + 2);
	runtime_delete(r);
	data_mover_threads_delete(dmt);
	CHECK(te_all(b, 0, N));
}

/* queue of four slots, so at most four operations in flight: a runs, b
 * and e are queued, the entries of two memsets their poller ran fill the
 * queue, c waits for room; a, b, e and c are four: x is refused; c
 * cancelled, d can be made and may wait for room. */
static void
threads_full(void)
{
	struct data_mover_threads *dmt = te_slow_mover(1, 4, 100,
		FUTURE_NOTIFIER_WAKER);
	struct vdm *vdm = data_mover_threads_get_vdm(dmt);
	struct runtime *r = runtime_new();
	struct vdm_operation_future fa, fb, fc, fd, fe, fs, fx;
	struct future *futs[3];
	static unsigned char e[N], s[2][N], x[N];
	unsigned s0 = atomic_load(&te_slow_started);
	int i;

	CHECK(r != NULL);
	memset(a, 0, N);
	memset(b, 0, N);
	memset(c, 0, N);
	memset(d, 0, N);
	memset(e, 0, N);
	memset(x, 0, N);
	/* a holds the only worker until c and b are cancelled: with 100 ms
	 * alone a loaded machine (TSan) could finish a first, and b's pop
	 * would give c room */
	atomic_store(&te_slow_hold, 1);
	fa = vdm_memcpy(vdm, a, src, N, 0);
	future_poll(FUTURE_AS_RUNNABLE(&fa), NULL);
	te_wait_slow_started(s0 + 1); /* a left the queue */
	fb = vdm_memcpy(vdm, b, src, N, 0);
	future_poll(FUTURE_AS_RUNNABLE(&fb), NULL);
	CHECK(fb.base.context.state == FUTURE_STATE_RUNNING);
	fe = vdm_memcpy(vdm, e, src, N, 0);
	future_poll(FUTURE_AS_RUNNABLE(&fe), NULL);
	CHECK(fe.base.context.state == FUTURE_STATE_RUNNING);
	/* memsets (no user function: a poller may run them) queued by
	 * their first poll, run by their second: done, their slots given
	 * back, their entries stay behind b until the worker pops them (a
	 * push drops such entries only from the queue's head, where b's, a
	 * user function's, stays) */
	for (i = 0; i < 2; i++) {
		memset(s[i], 0, N);
		fs = vdm_memset(vdm, s[i], 0x5a + i, N, 0);
		CHECK(future_poll(FUTURE_AS_RUNNABLE(&fs), NULL) ==
			FUTURE_STATE_RUNNING);
		CHECK(future_poll(FUTURE_AS_RUNNABLE(&fs), NULL) ==
			FUTURE_STATE_COMPLETE);
		CHECK(fs.output.result == VDM_SUCCESS);
		CHECK(te_all(s[i], 0x5a + i, N));
	}
	fc = vdm_memcpy(vdm, c, src, N, 0);
	/* no room: c stays idle, waiting with the runtime's waker, which the
	 * timed-out wait takes back */
	CHECK(runtime_wait_for(r, FUTURE_AS_RUNNABLE(&fc), 10 * TE_MS) ==
		ETIMEDOUT);
	CHECK(fc.base.context.state == FUTURE_STATE_IDLE);
	/* a, b, e, c: four in flight, the bound: x is refused */
	fx = vdm_memcpy(vdm, x, src, N, 0);
	CHECK(fx.base.context.state == FUTURE_STATE_COMPLETE);
	CHECK(fx.output.result == VDM_ERROR_OUT_OF_MEMORY);
	CHECK(fx.data.data == NULL);
	CHECK(vdm_cancel(&fx) == EALREADY);
	CHECK(fx.output.result == VDM_ERROR_OUT_OF_MEMORY);
	CHECK(vdm_cancel(&fc) == 0);
	check_cancelled(&fc, VDM_OPERATION_MEMCPY);
	/* c's slot is back: d is made (a, b, e still in flight) */
	fd = vdm_memcpy(vdm, d, src, N, 0);
	CHECK(fd.base.context.state == FUTURE_STATE_IDLE);
	CHECK(vdm_cancel(&fb) == 0); /* still queued */
	check_cancelled(&fb, VDM_OPERATION_MEMCPY);
	atomic_store(&te_slow_hold, 0);
	/* d may wait for a slot (b's cancelled entry still holds one) */
	futs[0] = FUTURE_AS_RUNNABLE(&fa);
	futs[1] = FUTURE_AS_RUNNABLE(&fd);
	futs[2] = FUTURE_AS_RUNNABLE(&fe);
	CHECK(runtime_wait_multiple_for(r, futs, 3,
		10000 * TE_MS * te_slow()) == 0);
	CHECK(fa.output.result == VDM_SUCCESS);
	CHECK(fd.output.result == VDM_SUCCESS);
	CHECK(fe.output.result == VDM_SUCCESS);
	CHECK(memcmp(a, src, N) == 0);
	CHECK(memcmp(d, src, N) == 0);
	CHECK(memcmp(e, src, N) == 0);
	CHECK(te_all(b, 0, N));
	CHECK(te_all(c, 0, N));
	CHECK(atomic_load(&te_slow_started) == s0 + 3);
	runtime_delete(r);
	data_mover_threads_delete(dmt);
	CHECK(te_all(b, 0, N) && te_all(c, 0, N) && te_all(x, 0, N));
}

/* DSA (emulated device paused): operations the device took cannot be
 * cancelled (EINPROGRESS), those still waiting for room in the work queue
 * or in a batch not yet submitted can (0), and are never written */
static void
dsa_full(struct te_mover *m)
{
	enum { NOPS = 48 };
	struct runtime *r = runtime_new();
	struct vdm_operation_future f[NOPS];
	unsigned char *p[NOPS];
	int idle = 0, running = 0, i;

	CHECK(r != NULL);
	if (!te_dsa_pause(1)) {
		te_log("  (no emulator: skipped)\n");
		runtime_delete(r);
		return;
	}
	for (i = 0; i < NOPS; i++) {
		p[i] = later_buf();
		f[i] = vdm_memcpy(m->vdm, p[i], src, N, 0);
		CHECK(f[i].output.result == VDM_SUCCESS);
		future_poll(FUTURE_AS_RUNNABLE(&f[i]), NULL);
	}
	for (i = 0; i < NOPS; i++) {
		int st = (int)f[i].base.context.state;
		int ret = vdm_cancel(&f[i]);

		if (st == FUTURE_STATE_IDLE || ret == 0) {
			/* waiting for room, or (running) still in a batch
			 * not yet submitted: the device never saw it */
			CHECK(ret == 0);
			check_cancelled(&f[i], VDM_OPERATION_MEMCPY);
			later_expect(p[i], 0);
			idle++;
		} else {
			CHECK(ret == EINPROGRESS);
			later_expect(p[i], 1);
			running++;
		}
	}
	te_log("  %d taken by the device, %d waiting for room (cancelled)\n",
		running, idle);
	CHECK(running > 0 && idle > 0);
	te_dsa_pause(0);
	for (i = 0; i < NOPS; i++) {
		runtime_wait(r, FUTURE_AS_RUNNABLE(&f[i]));
		if (f[i].output.result != VDM_ERROR_CANCELLED) {
			CHECK(f[i].output.result == VDM_SUCCESS);
			CHECK(memcmp(p[i], src, N) == 0);
		}
	}
	runtime_delete(r);
}

/* a user-written mover: op_delete releases an idle operation */
static void
user_mover(void)
{
	struct te_fake fk;
	struct runtime *r = runtime_new();
	struct vdm_operation_future f;

	CHECK(r != NULL);
	te_fake_init(&fk, 3);
	memset(a, 0, N);
	f = vdm_memcpy(&fk.vdm, a, src, N, 0);
	CHECK(atomic_load(&fk.live) == 1);
	CHECK(vdm_cancel(&f) == 0);
	check_cancelled(&f, VDM_OPERATION_MEMCPY);
	CHECK(atomic_load(&fk.live) == 0);
	CHECK(atomic_load(&fk.deleted) == 1);
	CHECK(atomic_load(&fk.started) == 0);

	/* refused start: still idle, so cancellable */
	atomic_store(&fk.refuse, 1);
	f = vdm_memcpy(&fk.vdm, a, src, N, 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), NULL) == FUTURE_STATE_IDLE);
	CHECK(vdm_cancel(&f) == 0);
	check_cancelled(&f, VDM_OPERATION_MEMCPY);
	CHECK(atomic_load(&fk.live) == 0);

	/* running: EINPROGRESS, then it completes as usual */
	f = vdm_memcpy(&fk.vdm, a, src, N, 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), NULL) ==
		FUTURE_STATE_RUNNING);
	CHECK(vdm_cancel(&f) == EINPROGRESS);
	CHECK(f.base.context.state == FUTURE_STATE_RUNNING);
	runtime_wait(r, FUTURE_AS_RUNNABLE(&f));
	CHECK(f.output.result == VDM_SUCCESS);
	CHECK(memcmp(a, src, N) == 0);
	CHECK(vdm_cancel(&f) == EALREADY);
	CHECK(atomic_load(&fk.live) == 0);
	CHECK(atomic_load(&fk.executed) == 1);
	runtime_delete(r);
}

int
main(void)
{
	struct te_mover m[TE_MAX_MOVERS];
	size_t n = te_movers(m), i;

	for (i = 0; i < n; i++) {
		te_log("%s: cancel before start, after poll, after end\n",
			m[i].name);
		every_mover(&m[i]);
		if (m[i].kind == TE_DSA) {
			te_log("%s: full work queue\n", m[i].name);
			dsa_full(&m[i]);
		}
	}
	te_log("threads: running / queued operations\n");
	threads_queue();
	te_log("threads: full queue\n");
	threads_full();
	te_log("user-written mover\n");
	user_mover();
	te_movers_delete(m, n);
	te_log("buffers after the movers are gone\n");
	later_check();
	te_log("ok\n");
	return 0;
}
