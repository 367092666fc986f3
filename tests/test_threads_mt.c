/* test_threads_mt.c - futures and threads.
 *
 * ringbuf_size bounds the operations in flight (creation past it is born
 * VDM_ERROR_OUT_OF_MEMORY), so each part keeps within it:
 * - Futures created on a thread that exits before they are polled, and
 *   futures first polled on a thread that exits before they complete, are
 *   finished on another thread (no thread-local per-operation state).
 * - Several submitter threads create and wait on one mover at once, with
 *   their own runtimes and with a shared one, each keeping a batch of
 *   ringbuf_size / submitters in flight: together exactly the bound, so
 *   the ring may fill to its last slot, and every creation must succeed
 *   (the poll that sees an operation complete gives its slot back before
 *   it returns).
 * - data_mover_threads_delete with work in flight (held at a gate, split
 *   operations, operations waiting for queue room) completes all of it,
 *   calling each waker once, before it returns. Live operations alone
 *   never fill the ring now; cancelled ones do (their entries stay until
 *   a worker pops them), so with both workers held the ring is filled
 *   with cancelled entries and what is polled next waits for room. There,
 *   with the bound reached, one more creation is born
 *   VDM_ERROR_OUT_OF_MEMORY: nothing written, its waker never called. */
#include "test_threads_util.h"

#define SZ 512

/* ---- created on a thread that exits ------------------------------------ */
struct maker {
	struct vdm *vdm;
	struct vdm_operation_future *f;
	unsigned char (*src)[SZ], (*dst)[SZ];
	unsigned n;
	int poll_once;
};

static int
maker_main(void *arg)
{
	struct maker *m = (struct maker *)arg;
	unsigned i;

	for (i = 0; i < m->n; i++) {
		tt_fill(m->src[i], SZ, i + 100);
		m->f[i] = vdm_memcpy(m->vdm, m->dst[i], m->src[i], SZ, 0);
		if (m->poll_once)
			future_poll(FUTURE_AS_RUNNABLE(&m->f[i]), NULL);
	}
	return 0; /* the thread ends with the futures pending */
}

/* a thread that polls each future once with its own runtime's waker
 * dropped again, then exits */
static int
poll_once_main(void *arg)
{
	struct maker *m = (struct maker *)arg;
	unsigned i;

	for (i = 0; i < m->n; i++)
		future_poll(FUTURE_AS_RUNNABLE(&m->f[i]), NULL);
	return 0;
}

static void
test_thread_exits(struct runtime *rt, enum future_notifier_type type)
{
	enum { N = 64 };
	/* all N are in flight at once (made before any is waited on) */
	struct data_mover_threads *dmt = data_mover_threads_new(2, N, type);
	static struct vdm_operation_future f[N];
	static unsigned char src[N][SZ], dst[N][SZ];
	struct future *fp[N];
	struct maker m;
	int round;
	unsigned i;
	tt_thread t;

	CHECK(dmt != NULL);
	for (round = 0; round < 3; round++) {
		memset(dst, 0, sizeof(dst));
		m.vdm = data_mover_threads_get_vdm(dmt);
		m.f = f;
		m.src = src;
		m.dst = dst;
		m.n = N;
		m.poll_once = round == 1;
		CHECK(tt_thread_start(&t, maker_main, &m) == 0);
		CHECK(tt_thread_join(t) == 0);
		if (round == 2) {
			/* made here, first polled by a thread that exits */
			CHECK(tt_thread_start(&t, poll_once_main, &m) == 0);
			CHECK(tt_thread_join(t) == 0);
		}
		for (i = 0; i < N; i++)
			fp[i] = FUTURE_AS_RUNNABLE(&f[i]);
		runtime_wait_multiple(rt, fp, N);
		for (i = 0; i < N; i++) {
			CHECK(tt_result(&f[i]) == VDM_SUCCESS);
			CHECK(tt_verify(dst[i], SZ, i + 100) == SIZE_MAX);
		}
	}
	data_mover_threads_delete(dmt);
	tt_log("futures outliving their thread, notifier %d ok\n", (int)type);
}

/* ---- many submitters ---------------------------------------------------- */
struct submitter {
	struct vdm *vdm;
	struct runtime *shared; /* NULL: own runtime */
	unsigned id, nops, batch; /* batch: at most B */
	unsigned long done;
};

static int
submitter_main(void *arg)
{
	enum { B = 16 };
	struct submitter *s = (struct submitter *)arg;
	struct runtime *rt = s->shared ? s->shared : tt_runtime_new();
	struct vdm_operation_future f[B];
	struct future *fp[B];
	unsigned char src[B][SZ], dst[B][SZ];
	unsigned i, k, round = 0;

	CHECK(rt != NULL);
	for (k = 0; k < B; k++)
		tt_fill(src[k], SZ, s->id * 1000 + k);
	for (i = 0; i < s->nops; round++) {
		unsigned nb = s->nops - i < s->batch ? s->nops - i : s->batch;

		for (k = 0; k < nb; k++) {
			size_t n = 1 + (i + k) * 37u % SZ;

			memset(dst[k], 0, n);
			/* (within the bound: a refusal fails the check below,
			 * VDM_ERROR_OUT_OF_MEMORY, nothing written) */
			if ((i + k) % 5 == 4)
				f[k] = vdm_memset(s->vdm, dst[k], (int)k, n, 0);
			else if ((i + k) % 5 == 3)
				f[k] = vdm_memmove(s->vdm, dst[k], src[k], n,
					0);
			else
				f[k] = vdm_memcpy(s->vdm, dst[k], src[k], n, 0);
			fp[k] = FUTURE_AS_RUNNABLE(&f[k]);
		}
		switch (round % 3) {
		case 0:
			runtime_wait_multiple(rt, fp, nb);
			break;
		case 1:
			for (k = 0; k < nb; k++)
				runtime_wait(rt, fp[k]);
			break;
		default:
			for (k = 0; k < nb; k++)
				tt_busy_wait(&f[k], 20000);
			break;
		}
		for (k = 0; k < nb; k++) {
			size_t n = 1 + (i + k) * 37u % SZ;

			CHECK(tt_result(&f[k]) == VDM_SUCCESS);
			if ((i + k) % 5 == 4)
				CHECK(tt_verify_byte(dst[k], n, (int)k) ==
					SIZE_MAX);
			else
				CHECK(memcmp(dst[k], src[k], n) == 0);
		}
		i += nb;
		s->done += nb;
	}
	if (s->shared == NULL)
		runtime_delete(rt);
	return 0;
}

/* nsub submitters with `batch` operations in flight each: a ring of
 * exactly nsub * batch, the bound, which they may fill to its last slot */
static void
test_submitters(size_t nthreads, unsigned batch,
	enum future_notifier_type type, unsigned nsub, unsigned per,
	int shared_rt)
{
	size_t ring = (size_t)nsub * batch;
	struct data_mover_threads *dmt =
		data_mover_threads_new(nthreads, ring, type);
	struct runtime *shared = shared_rt ? tt_runtime_new() : NULL;
	struct submitter s[8];
	tt_thread t[8];
	unsigned i;
	unsigned long total = 0;
	uint64_t t0 = tt_now_ns();

	CHECK(dmt != NULL && nsub <= 8 && batch >= 1 && batch <= 16);
	for (i = 0; i < nsub; i++) {
		s[i].vdm = data_mover_threads_get_vdm(dmt);
		s[i].shared = shared;
		s[i].id = i;
		s[i].nops = per;
		s[i].batch = batch;
		s[i].done = 0;
		CHECK(tt_thread_start(&t[i], submitter_main, &s[i]) == 0);
	}
	for (i = 0; i < nsub; i++) {
		CHECK(tt_thread_join(t[i]) == 0);
		total += s[i].done;
	}
	CHECK(total == (unsigned long)nsub * per);
	data_mover_threads_delete(dmt);
	if (shared)
		runtime_delete(shared);
	tt_log("%u submitters x %zu workers, queue %zu, notifier %d%s: "
		"%lu ops in %.0f ms\n", nsub, nthreads, ring, (int)type,
		shared_rt ? ", shared runtime" : "", total,
		(tt_now_ns() - t0) / 1e6);
}

/* ---- delete with work in flight --------------------------------------- */
struct deleter {
	struct data_mover_threads *dmt;
	atomic_int done;
};

static int
deleter_main(void *arg)
{
	struct deleter *d = (struct deleter *)arg;

	data_mover_threads_delete(d->dmt);
	atomic_store(&d->done, 1);
	return 0;
}

/* `ring - 1` small copies (at most N) and one big one: the bound. With
 * `wait` (and the gate), the two workers are held by the first two, the
 * third and cancelled entries behind it fill the ring, and the rest wait
 * for room. */
static void
test_delete_in_flight(int gate, size_t ring, int wait)
{
	enum { N = 40 };
	size_t big = TT_ON_VALGRIND() ? (4u << 20) : (16u << 20);
	unsigned n = ring - 1 < N ? (unsigned)ring - 1 : N;
	struct data_mover_threads *dmt =
		data_mover_threads_new(2, ring, FUTURE_NOTIFIER_WAKER);
	struct vdm *vdm = data_mover_threads_get_vdm(dmt);
	static struct vdm_operation_future f[N + 1];
	static struct tt_waker w[N + 1];
	static unsigned char src[N][SZ], dst[N][SZ], cdst[SZ], rdst[SZ];
	unsigned char *bsrc = (unsigned char *)tt_xmalloc(big);
	unsigned char *bdst = (unsigned char *)tt_xmalloc(big);
	struct vdm_operation_future r;
	struct tt_waker wr;
	struct future_notifier nr;
	struct deleter d;
	unsigned i, queued = 0;
	int refuse;
	tt_thread t;

	CHECK(dmt != NULL && n >= 1);
	CHECK(!wait || (gate && n >= 3 && ring >= 3));
	if (gate) {
		tt_gate_install(dmt);
		tt_gate_reset(0);
	}
	memset(dst, 0, sizeof(dst));
	memset(cdst, 0, sizeof(cdst));
	memset(rdst, 0, sizeof(rdst));
	memset(bdst, 0, big);
	tt_fill(bsrc, big, 7);
	/* the big one last: f[n] */
	for (i = 0; i <= n; i++) {
		struct future_notifier nt;
		enum future_state st;

		tt_waker_init(&w[i]);
		nt = tt_notifier(&w[i]);
		if (i == n) {
			f[i] = vdm_memcpy(vdm, bdst, bsrc, big, 0);
		} else {
			tt_fill(src[i], SZ, i);
			f[i] = vdm_memcpy(vdm, dst[i], src[i], SZ, 0);
		}
		CHECK(tt_result(&f[i]) == VDM_SUCCESS); /* within the bound */
		/* polled once: queued, or waiting for queue room */
		st = future_poll(FUTURE_AS_RUNNABLE(&f[i]), &nt);
		queued += st != FUTURE_STATE_IDLE;
		if (wait && i < 2) {
			/* each worker pops one and is held at the gate */
			CHECK(st != FUTURE_STATE_COMPLETE);
			tt_wait_uint(&tt_the_gate.entered, i + 1, 10000);
		} else if (wait && i == 2) {
			/* queued, and a poll may not run it (a user
			 * function's): cancelled entries behind it stay (4 in
			 * flight while these are made) */
			CHECK(st == FUTURE_STATE_RUNNING);
			tt_push_cancelled(vdm, (unsigned)ring - 1, cdst,
				src[0], SZ, 0);
		} else if (wait) {
			/* the ring is full (the workers hold the only ones
			 * who pop): this one waits */
			CHECK(st == FUTURE_STATE_IDLE);
		}
	}
	/* gated, all are in flight still (ungated, a first poll may have
	 * seen one complete, which frees its slot) */
	refuse = gate && n + 1 == ring;
	if (refuse) {
		/* the bound is reached (waiting operations count): the next
		 * one is born failed, nothing done, no waker call */
		tt_waker_init(&wr);
		nr = tt_notifier(&wr);
		r = vdm_memcpy(vdm, rdst, src[0], SZ, 0);
		CHECK(FUTURE_STATE(&r) == FUTURE_STATE_COMPLETE);
		CHECK(tt_result(&r) == VDM_ERROR_OUT_OF_MEMORY);
		CHECK(future_poll(FUTURE_AS_RUNNABLE(&r), &nr) ==
			FUTURE_STATE_COMPLETE);
	}
	d.dmt = dmt;
	atomic_init(&d.done, 0);
	CHECK(tt_thread_start(&t, deleter_main, &d) == 0);
	if (gate) {
		tt_sleep_us(50000);
		CHECK(atomic_load(&d.done) == 0); /* still waiting for work */
		atomic_store(&tt_the_gate.open, 1);
	}
	CHECK(tt_thread_join(t) == 0);
	CHECK(atomic_load(&d.done) == 1);
	/* after delete: every operation ran, each waker was called once */
	for (i = 0; i < n; i++) {
		CHECK(tt_verify(dst[i], SZ, i) == SIZE_MAX);
		CHECK(atomic_load(&w[i].calls) == 1);
	}
	CHECK(memcmp(bsrc, bdst, big) == 0);
	CHECK(atomic_load(&w[n].calls) == 1);
	/* neither the cancelled nor the refused ones wrote anything */
	CHECK(tt_verify_byte(cdst, SZ, 0) == SIZE_MAX);
	CHECK(tt_verify_byte(rdst, SZ, 0) == SIZE_MAX);
	if (refuse)
		CHECK(atomic_load(&wr.calls) == 0);
	if (gate) /* each live one through the gate once, no cancelled one */
		CHECK(atomic_load(&tt_the_gate.calls) == n + 1);
	free(bsrc);
	free(bdst);
	tt_log("delete with work in flight (gate %d, queue %zu, %u + 1 "
		"operations, %u queued%s) ok\n", gate, ring, n, queued,
		wait ? ", the rest waiting for room" : "");
}

int
main(void)
{
	struct runtime *rt;
	unsigned per = 20000 / tt_slowdown();

	tt_valgrind_setup();
	rt = tt_runtime_new();
	CHECK(rt != NULL);
	test_thread_exits(rt, FUTURE_NOTIFIER_WAKER);
	test_thread_exits(rt, FUTURE_NOTIFIER_POLLER);
	test_thread_exits(rt, FUTURE_NOTIFIER_NONE);
	/* rings of 64, 6 (not a power of two), 8 and 16 */
	test_submitters(2, 16, FUTURE_NOTIFIER_WAKER, 4, per, 0);
	test_submitters(3, 2, FUTURE_NOTIFIER_POLLER, 3, per / 2, 0);
	test_submitters(2, 4, FUTURE_NOTIFIER_NONE, 2, per / 2, 0);
	test_submitters(2, 4, FUTURE_NOTIFIER_WAKER, 4, per / 2, 1);
	test_delete_in_flight(1, 64, 0);
	test_delete_in_flight(0, 64, 0);
	test_delete_in_flight(1, 64, 1); /* 39 wait for room */
	test_delete_in_flight(1, 4, 1);  /* 2 wait; the bound reached */
	test_delete_in_flight(0, 2, 0);  /* a small and a split one */
	runtime_delete(rt);
	return 0;
}
