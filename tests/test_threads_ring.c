/* test_threads_ring.c - the threads mover's ring across the wrap of its
 * positions.
 *
 * The ring's positions and sequence numbers are size_t and wrap at
 * SIZE_MAX: after 2^32 operations on a 32-bit target (half an hour at full
 * speed), never in practice on a 64-bit one. With a ring whose size is not
 * a power of two the cell of a position was pos % cap, which jumps at the
 * wrap: the pop of position p freed its cell for p + cap, and the push of
 * p + cap, past the wrap, looked at another cell, found it "full" for good,
 * and the mover hung. Here the positions start just below the wrap (set by
 * hand on a new, idle mover: the test includes the implementation), on
 * every target, and operations go through it. ringbuf_size (cap) also
 * bounds the operations in flight, so live operations alone never fill
 * the ring; a cancelled one gives its slot of the bound back at once but
 * its entry stays queued until a worker pops and skips it:
 * - gated: a user copy function holds the only worker; each round makes
 *   cap operations (one more is born VDM_ERROR_OUT_OF_MEMORY, nothing
 *   written), the first held, cap - 1 queued (their count is checked);
 *   the last queued is cancelled and a new one takes its slot of the
 *   bound, so the ring is full (cap entries, one of them cancelled); the
 *   new one is cancelled too, and one more made then waits on the list
 *   (cap >= 3: a live entry heads the ring). Then all run, in order: the
 *   cancelled ones never (the gate counts the calls), and none wrote.
 *   Cap 2: the ring full, no wait (its head would be a cancelled entry).
 *   Cap 1: the one held cannot be cancelled (EINPROGRESS), and the bound
 *   holds until it completes;
 * - free: the library's own copies, 2 workers and a polling runtime
 *   (pollers claim and run operations, trims drop their entries), batches
 *   of 1 to cap futures; at cap one more is born VDM_ERROR_OUT_OF_MEMORY.
 * Each round (free: each batch) starts with the bound reached in the one
 * before: creation works again once the poll that saw one complete
 * returned. Ring sizes 1 to 7. A hang is the failure: every
 * wait has a limit (tt_busy_wait, runtime_wait_multiple_for), and a
 * watchdog. */
#include "test_threads_util.h"

enum { SZ = 64, MAXCAP = 7 };

/* the lap of the ring's positions: the power of two >= cap */
static size_t
lap_of(size_t cap)
{
	size_t l = 1;

	while (l < cap)
		l *= 2;
	return l;
}

/* A start position a few laps below the wrap. A multiple of cap and of
 * its lap: the cell of start + i (i < cap) is i, and its sequence number
 * 2 * (start + i) means "free for that position", both with pos % cap
 * (before) and with a lap's low bits. */
static size_t
start_of(size_t cap)
{
	size_t m = cap * lap_of(cap);

	return SIZE_MAX / m * m - m;
}

/* on a new mover with nothing queued (workers may spin on the empty ring:
 * they only read) */
static void
seed(struct data_mover_threads *d, size_t start)
{
	size_t i;

	CHECK(MASYNC__LOAD(&d->enq_pos, seq_cst) ==
		MASYNC__LOAD(&d->deq_pos, seq_cst));
	for (i = 0; i < d->cap; i++)
		MASYNC__STORE(&d->cells[i].seq, 2 * (start + i), seq_cst);
	MASYNC__STORE(&d->deq_pos, start, seq_cst);
	MASYNC__STORE(&d->enq_pos, start, seq_cst);
}

/* positions past the wrap (from start, a few laps below it) */
static int
wrapped(struct data_mover_threads *d, size_t start)
{
	return MASYNC__LOAD(&d->enq_pos, relaxed) < start &&
		MASYNC__LOAD(&d->deq_pos, relaxed) < start;
}

/* ops enough to go from start_of(cap) past the wrap, and a few laps on */
static unsigned
ops_for(size_t cap)
{
	return (unsigned)(4 * cap * lap_of(cap) + 8);
}

/* A creation past the bound: born complete, VDM_ERROR_OUT_OF_MEMORY,
 * nothing written (dst stays zero) */
static void
refused(struct vdm *vdm, unsigned char *dst, unsigned char *src)
{
	struct vdm_operation_future r;

	memset(dst, 0, SZ);
	r = vdm_memcpy(vdm, dst, src, SZ, 0);
	CHECK(FUTURE_STATE(&r) == FUTURE_STATE_COMPLETE);
	CHECK(tt_result(&r) == VDM_ERROR_OUT_OF_MEMORY);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&r), NULL) ==
		FUTURE_STATE_COMPLETE);
	CHECK(vdm_cancel(&r) == EALREADY);
	CHECK(tt_verify_byte(dst, SZ, 0) == SIZE_MAX);
}

static void
gated(size_t cap)
{
	struct data_mover_threads *d =
		data_mover_threads_new(1, cap, FUTURE_NOTIFIER_WAKER);
	struct vdm *vdm = data_mover_threads_get_vdm(d);
	/* [cap + 2]: the refused ones' */
	static unsigned char src[MAXCAP + 3][SZ], dst[MAXCAP + 3][SZ];
	/* f[0] held, f[1 .. cap - 1] queued, f[cap] the one made after a
	 * cancel, f[cap + 1] the one that waits for room */
	struct vdm_operation_future f[MAXCAP + 2];
	int cancelled[MAXCAP + 2];
	size_t start = start_of(cap), i, n, live;
	unsigned done = 0, round;

	CHECK(d != NULL);
	seed(d, start);
	data_mover_threads_set_memcpy_fn(d, tt_gate_memcpy);
	for (round = 0; done < ops_for(cap); round++) {
		tt_gate_reset(0);
		memset(cancelled, 0, sizeof(cancelled));
		for (i = 0; i < cap + 2; i++) {
			tt_fill(src[i], SZ, round * 16 + (unsigned)i);
			memset(dst[i], 0, SZ);
		}
		/* the bound: cap in flight (all done in the round before) */
		for (i = 0; i < cap; i++) {
			f[i] = vdm_memcpy(vdm, dst[i], src[i], SZ, 0);
			CHECK(FUTURE_STATE(&f[i]) == FUTURE_STATE_IDLE);
		}
		refused(vdm, dst[cap + 2], src[0]);
		/* f[0] popped: held at the gate, the ring empty */
		CHECK(future_poll(FUTURE_AS_RUNNABLE(&f[0]), NULL) !=
			FUTURE_STATE_COMPLETE);
		tt_wait_uint(&tt_the_gate.entered, 1, 10000);
		for (i = 1; i < cap; i++)
			CHECK(future_poll(FUTURE_AS_RUNNABLE(&f[i]), NULL) !=
				FUTURE_STATE_COMPLETE);
		CHECK(masync__thr_fill(d) == cap - 1);
		n = cap;
		if (cap == 1) {
			/* running: it keeps its slot until it completes */
			CHECK(vdm_cancel(&f[0]) == EINPROGRESS);
			refused(vdm, dst[cap + 2], src[0]);
		} else {
			/* the last queued gives its slot back; its entry stays
			 * (only the held worker pops) */
			CHECK(vdm_cancel(&f[cap - 1]) == 0);
			CHECK(tt_result(&f[cap - 1]) == VDM_ERROR_CANCELLED);
			cancelled[cap - 1] = 1;
			f[cap] = vdm_memcpy(vdm, dst[cap], src[cap], SZ, 0);
			CHECK(FUTURE_STATE(&f[cap]) == FUTURE_STATE_IDLE);
			CHECK(future_poll(FUTURE_AS_RUNNABLE(&f[cap]), NULL) !=
				FUTURE_STATE_COMPLETE);
			CHECK(masync__thr_fill(d) == cap); /* full */
			refused(vdm, dst[cap + 2], src[0]);
			n = cap + 1;
		}
		if (cap >= 3) {
			/* again, and the next one finds the ring full: it
			 * waits on the list (the head, f[1], is live, so no
			 * trim makes room) */
			CHECK(vdm_cancel(&f[cap]) == 0);
			CHECK(tt_result(&f[cap]) == VDM_ERROR_CANCELLED);
			cancelled[cap] = 1;
			f[cap + 1] = vdm_memcpy(vdm, dst[cap + 1], src[cap + 1],
				SZ, 0);
			CHECK(FUTURE_STATE(&f[cap + 1]) == FUTURE_STATE_IDLE);
			CHECK(future_poll(FUTURE_AS_RUNNABLE(&f[cap + 1]),
				NULL) == FUTURE_STATE_IDLE);
			CHECK(MASYNC__LOAD(&d->nblocked, relaxed) == 1);
			CHECK(masync__thr_fill(d) == cap);
			refused(vdm, dst[cap + 2], src[0]);
			n = cap + 2;
		}
		atomic_store(&tt_the_gate.open, 1);
		for (i = 0, live = 0; i < n; i++) {
			if (cancelled[i])
				continue;
			tt_busy_wait(&f[i], 10000);
			CHECK(tt_result(&f[i]) == VDM_SUCCESS);
			CHECK(tt_verify(dst[i], SZ, round * 16 + (unsigned)i) ==
				SIZE_MAX);
			live++;
		}
		/* the worker popped each before it ran it (the cancelled ones
		 * before the last live one: it ran none of them) */
		CHECK(masync__thr_fill(d) == 0);
		CHECK(MASYNC__LOAD(&d->nblocked, relaxed) == 0);
		CHECK(atomic_load(&tt_the_gate.calls) == live);
		for (i = 0; i < n; i++)
			if (cancelled[i])
				CHECK(tt_verify_byte(dst[i], SZ, 0) ==
					SIZE_MAX);
		done += (unsigned)n; /* positions pushed */
	}
	CHECK(wrapped(d, start));
	data_mover_threads_delete(d);
}

static void
free_run(size_t cap, struct runtime *rt)
{
	struct data_mover_threads *d =
		data_mover_threads_new(2, cap, FUTURE_NOTIFIER_WAKER);
	struct vdm *vdm = data_mover_threads_get_vdm(d);
	/* [cap]: the refused one's */
	static unsigned char src[MAXCAP + 1][SZ], dst[MAXCAP + 1][SZ];
	struct vdm_operation_future f[MAXCAP];
	struct future *fs[MAXCAP];
	size_t start = start_of(cap), i, k;
	unsigned done = 0, round;

	CHECK(d != NULL);
	seed(d, start);
	for (round = 0; done < ops_for(cap); round++) {
		k = 1 + round % cap;
		for (i = 0; i < k; i++) {
			tt_fill(src[i], SZ, round * 16 + (unsigned)i);
			memset(dst[i], 0, SZ);
			f[i] = vdm_memcpy(vdm, dst[i], src[i], SZ, 0);
			CHECK(tt_result(&f[i]) == VDM_SUCCESS);
			fs[i] = FUTURE_AS_RUNNABLE(&f[i]);
		}
		/* none is released before the wait below polls it */
		if (k == cap)
			refused(vdm, dst[cap], src[0]);
		CHECK(runtime_wait_multiple_for(rt, fs, k,
			(uint64_t)10000000000u * (TT_ON_VALGRIND() ? 10 : 1)) ==
			0);
		for (i = 0; i < k; i++) {
			CHECK(tt_result(&f[i]) == VDM_SUCCESS);
			CHECK(tt_verify(dst[i], SZ, round * 16 + (unsigned)i) ==
				SIZE_MAX);
		}
		done += (unsigned)k;
	}
	/* (entries that pollers ran may still wait for a pop) */
	CHECK(MASYNC__LOAD(&d->enq_pos, relaxed) < start);
	data_mover_threads_delete(d);
}

int
main(void)
{
	static const size_t caps[] = {3, 5, 6, 7, 1, 4, 2};
	struct runtime *rt;
	size_t c;

	tt_valgrind_setup();
	rt = tt_runtime_new();
	CHECK(rt != NULL);
	tt_watchdog("the ring across the wrap of its positions");
	for (c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
		tt_log("ring %zu: start %#zx (%zu positions below the wrap)\n",
			caps[c], start_of(caps[c]), (size_t)0 - start_of(caps[c]));
		gated(caps[c]);
		free_run(caps[c], rt);
	}
	alarm(0);
	runtime_delete(rt);
	tt_log("ok\n");
	return 0;
}
