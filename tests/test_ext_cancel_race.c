/* test_ext_cancel_race.c - vdm_cancel racing with the mover's workers
 * picking the operation up. Many iterations of: create, poll once (no
 * notifier / a runtime's waker taken back by a timed-out wait / a counting
 * waker left registered), wait a varying few hundred cycles, cancel. Either
 * the cancel wins (0: VDM_ERROR_CANCELLED, and the buffer must never be
 * written) or the operation started (EINPROGRESS / EALREADY: it runs to
 * completion and the buffer holds the data). Two client threads at once on
 * one mover, on the threads mover with each notifier and on DSA. Buffers
 * of cancelled operations are checked again after the mover was deleted
 * (nothing can write any more). Meant to be run under ThreadSanitizer. */
#define _GNU_SOURCE
#include "test_impl.h"
#include "test_ext_util.h"

#define SZ 64
#define NCLIENTS 2

enum { OUT_NONE, OUT_CANCELLED, OUT_RAN };

struct race {
	struct vdm *vdm;
	size_t iters;      /* per client */
	unsigned char *buf; /* NCLIENTS * iters * SZ */
	unsigned char *outcome;
	atomic_uint *slot_wakes;
	unsigned char *wakes_at_cancel;
	atomic_size_t cancelled, ran, wakes;
};

struct client {
	struct race *rc;
	unsigned id;
	te_thread thr;
};

static unsigned char
pattern(size_t i)
{
	return (unsigned char)(i * 37u % 255u + 1u);
}

static void
count_wake(void *data)
{
	atomic_fetch_add((atomic_uint *)data, 1);
}

static void
spin(unsigned k)
{
	volatile unsigned x = 0;

	while (k-- > 0) {
		x++;
		MASYNC__PAUSE();
	}
}

static void *
client_main(void *arg)
{
	struct client *c = (struct client *)arg;
	struct race *rc = c->rc;
	struct runtime *r = runtime_new();
	uint64_t rnd = 0x9e3779b97f4a7c15ull * (c->id + 1);
	size_t i;

	CHECK(r != NULL);
	for (i = 0; i < rc->iters; i++) {
		size_t slot = c->id * rc->iters + i;
		unsigned char *p = rc->buf + slot * SZ;
		struct vdm_operation_future f;
		struct future_notifier nt;
		unsigned mode;
		int ret;

		rnd ^= rnd << 13;
		rnd ^= rnd >> 7;
		rnd ^= rnd << 17;
		mode = (unsigned)(rnd % 3);
		f = vdm_memset(rc->vdm, p, pattern(slot), SZ, 0);
		CHECK(f.base.context.state == FUTURE_STATE_IDLE);
		switch (mode) {
		case 0:
			future_poll(FUTURE_AS_RUNNABLE(&f), NULL);
			break;
		case 1:
			(void)runtime_wait_for(r, FUTURE_AS_RUNNABLE(&f), 0);
			break;
		default:
			memset(&nt, 0, sizeof(nt));
			nt.waker.wake = count_wake;
			nt.waker.data = &rc->slot_wakes[slot];
			future_poll(FUTURE_AS_RUNNABLE(&f), &nt);
			break;
		}
		spin((unsigned)((rnd >> 20) % 4 == 0 ? 0 : (rnd >> 24) % 600));
		/* now and then let it run (polling again: with a full queue
		 * it waits on the blocked list until a poll queues it), so
		 * both outcomes occur however slow the build or the wake-ups */
		if (i % 64 == 63) {
			unsigned t;

			for (t = 0; t < 2000 && future_poll(
					FUTURE_AS_RUNNABLE(&f), NULL) !=
					FUTURE_STATE_COMPLETE; t++)
				te_sleep_ms(1);
		}
		ret = vdm_cancel(&f);
		if (ret == 0) {
			CHECK(f.base.context.state == FUTURE_STATE_COMPLETE);
			CHECK(f.output.result == VDM_ERROR_CANCELLED);
			rc->outcome[slot] = OUT_CANCELLED;
			rc->wakes_at_cancel[slot] = (unsigned char)
				atomic_load(&rc->slot_wakes[slot]);
			atomic_fetch_add(&rc->cancelled, 1);
			continue;
		}
		CHECK(ret == EINPROGRESS || ret == EALREADY);
		runtime_wait(r, FUTURE_AS_RUNNABLE(&f));
		if (f.output.result != VDM_SUCCESS)
			te_log("slot %zu: %s\n", slot,
				vdm_result_str(f.output.result));
		CHECK(f.output.result == VDM_SUCCESS);
		CHECK(te_all(p, pattern(slot), SZ));
		rc->outcome[slot] = OUT_RAN;
		atomic_fetch_add(&rc->ran, 1);
	}
	runtime_delete(r);
	return NULL;
}

/* runs the race on `vdm`, then `destroy(obj)` (which must drain the mover),
 * then checks every buffer */
static void
race(const char *name, struct vdm *vdm, size_t iters,
	void (*destroy)(void *), void *obj, int both)
{
	struct race rc;
	struct client cl[NCLIENTS];
	size_t i, total = NCLIENTS * iters;
	unsigned k;

	memset(&rc, 0, sizeof(rc));
	rc.vdm = vdm;
	rc.iters = iters;
	rc.buf = (unsigned char *)calloc(total, SZ);
	rc.outcome = (unsigned char *)calloc(total, 1);
	rc.slot_wakes = (atomic_uint *)calloc(total, sizeof(atomic_uint));
	rc.wakes_at_cancel = (unsigned char *)calloc(total, 1);
	CHECK(rc.buf != NULL && rc.outcome != NULL && rc.slot_wakes != NULL &&
		rc.wakes_at_cancel != NULL);
	atomic_init(&rc.cancelled, 0);
	atomic_init(&rc.ran, 0);
	atomic_init(&rc.wakes, 0);
	for (k = 0; k < NCLIENTS; k++) {
		cl[k].rc = &rc;
		cl[k].id = k;
		te_thread_start(&cl[k].thr, client_main, &cl[k]);
	}
	for (k = 0; k < NCLIENTS; k++)
		te_thread_join(cl[k].thr);
	destroy(obj); /* drains: nothing may write after this */
	for (i = 0; i < total; i++) {
		CHECK(rc.outcome[i] != OUT_NONE);
		/* a waker is called at most once per registration (once it
		 * may mean "room in the queue, poll again"), and never after
		 * the cancel that released its operation returned */
		CHECK(atomic_load(&rc.slot_wakes[i]) <= 1);
		if (rc.outcome[i] == OUT_CANCELLED)
			CHECK(atomic_load(&rc.slot_wakes[i]) ==
				rc.wakes_at_cancel[i]);
		atomic_fetch_add(&rc.wakes, atomic_load(&rc.slot_wakes[i]));
		if (rc.outcome[i] == OUT_CANCELLED)
			CHECK(te_all(rc.buf + i * SZ, 0, SZ));
		else
			CHECK(te_all(rc.buf + i * SZ, pattern(i), SZ));
	}
	te_log("%s: %zu iterations: %zu cancelled, %zu ran; %zu wakes\n",
		name, total, atomic_load(&rc.cancelled), atomic_load(&rc.ran),
		atomic_load(&rc.wakes));
	CHECK(atomic_load(&rc.cancelled) + atomic_load(&rc.ran) == total);
	/* the race really happened: both sides won sometimes */
	if (both && !TE_ON_VALGRIND())
		CHECK(atomic_load(&rc.cancelled) > 0 &&
			atomic_load(&rc.ran) > 0);
	free(rc.buf);
	free(rc.outcome);
	free(rc.slot_wakes);
	free(rc.wakes_at_cancel);
}

static void
destroy_threads(void *p)
{
	data_mover_threads_delete((struct data_mover_threads *)p);
}

static void
destroy_dsa(void *p)
{
	data_mover_dsa_delete((struct data_mover_dsa *)p);
}

static void
destroy_nothing(void *p)
{
	(void)p;
}

int
main(void)
{
	static const enum future_notifier_type nts[3] = {
		FUTURE_NOTIFIER_WAKER, FUTURE_NOTIFIER_POLLER,
		FUTURE_NOTIFIER_NONE,
	};
	static const char *const names[3] = {
		"threads/waker", "threads/poller", "threads/none",
	};
	struct te_mover m[TE_MAX_MOVERS];
	size_t n = te_movers(m), i, iters;
	int k;

	iters = TE_ON_VALGRIND() ? 1000 : TE_TSAN ? 25000 : TE_ASAN ? 20000 :
		50000;
	/* the movers of the table stay for the DSA part; fresh threads
	 * movers for the race so deleting them drains them */
	for (k = 0; k < 3; k++) {
		struct data_mover_threads *d = data_mover_threads_new(2, 64,
			nts[k]);

		CHECK(d != NULL);
		race(names[k], data_mover_threads_get_vdm(d), iters,
			destroy_threads, d, 1);
	}
	/* one worker, tiny queue: the cancel also meets the blocked list */
	{
		struct data_mover_threads *d = data_mover_threads_new(1, 2,
			FUTURE_NOTIFIER_WAKER);

		CHECK(d != NULL);
		race("threads/1 worker, 2 slots", data_mover_threads_get_vdm(d),
			iters / 2, destroy_threads, d, 1);
	}
	for (i = 0; i < n; i++) {
		if (m[i].kind == TE_DSA && TE_ON_VALGRIND()) {
			/* valgrind runs one thread at a time: with two
			 * submitters the emulator loses portal writes and the
			 * operations time out (an emulator limit) */
			te_log("%s: not raced under valgrind\n", m[i].name);
		} else if (m[i].kind == TE_DSA) {
			race(m[i].name, m[i].vdm, iters / 10, destroy_dsa,
				m[i].obj, 0);
			m[i].kind = TE_SYNC; /* deleted already */
			m[i].obj = NULL;
		} else if (m[i].kind == TE_SYNC && m[i].obj != NULL) {
			/* the sync mover: always EALREADY after a poll */
			race(m[i].name, m[i].vdm, iters / 10, destroy_nothing,
				NULL, 0);
		}
	}
	te_movers_delete(m, n);
	te_log("ok\n");
	return 0;
}
