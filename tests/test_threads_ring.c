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
 * every target, and operations go through it:
 * - gated: a user copy function holds the only worker, so each round
 *   fills the ring (its count is checked: cap entries) and puts one more
 *   operation on the wait list, then lets them all run, in order;
 * - free: the library's own copies, 2 workers and a polling runtime
 *   (pollers claim and run operations, trims drop their entries), batches
 *   of 1 to cap + 1 futures.
 * Ring sizes 1, 3, 4, 5, 6 and 7. A hang is the failure: every wait has a
 * limit (tt_busy_wait, runtime_wait_multiple_for), and a watchdog. */
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

static void
gated(size_t cap)
{
	struct data_mover_threads *d =
		data_mover_threads_new(1, cap, FUTURE_NOTIFIER_WAKER);
	struct vdm *vdm = data_mover_threads_get_vdm(d);
	static unsigned char src[MAXCAP + 2][SZ], dst[MAXCAP + 2][SZ];
	struct vdm_operation_future f[MAXCAP + 2];
	size_t start = start_of(cap), i, n = cap + 2;
	unsigned done = 0, round;

	CHECK(d != NULL);
	seed(d, start);
	data_mover_threads_set_memcpy_fn(d, tt_gate_memcpy);
	for (round = 0; done < ops_for(cap); round++) {
		tt_gate_reset(0);
		for (i = 0; i < n; i++) {
			tt_fill(src[i], SZ, round * 16 + (unsigned)i);
			memset(dst[i], 0, SZ);
			f[i] = vdm_memcpy(vdm, dst[i], src[i], SZ, 0);
		}
		/* f[0] popped: held at the gate, the ring empty */
		CHECK(future_poll(FUTURE_AS_RUNNABLE(&f[0]), NULL) !=
			FUTURE_STATE_COMPLETE);
		tt_wait_uint(&tt_the_gate.entered, 1, 10000);
		for (i = 1; i <= cap; i++)
			CHECK(future_poll(FUTURE_AS_RUNNABLE(&f[i]), NULL) !=
				FUTURE_STATE_COMPLETE);
		CHECK(masync__thr_fill(d) == cap);
		/* no room: it waits on the list */
		CHECK(future_poll(FUTURE_AS_RUNNABLE(&f[cap + 1]), NULL) !=
			FUTURE_STATE_COMPLETE);
		CHECK(MASYNC__LOAD(&d->nblocked, relaxed) == 1);
		atomic_store(&tt_the_gate.open, 1);
		for (i = 0; i < n; i++) {
			tt_busy_wait(&f[i], 10000);
			CHECK(tt_result(&f[i]) == VDM_SUCCESS);
			CHECK(tt_verify(dst[i], SZ, round * 16 + (unsigned)i) ==
				SIZE_MAX);
		}
		/* the worker popped each before it ran it */
		CHECK(masync__thr_fill(d) == 0);
		done += (unsigned)n;
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
	static unsigned char src[MAXCAP + 1][SZ], dst[MAXCAP + 1][SZ];
	struct vdm_operation_future f[MAXCAP + 1];
	struct future *fs[MAXCAP + 1];
	size_t start = start_of(cap), i, k;
	unsigned done = 0, round;

	CHECK(d != NULL);
	seed(d, start);
	for (round = 0; done < ops_for(cap); round++) {
		k = 1 + round % (cap + 1);
		for (i = 0; i < k; i++) {
			tt_fill(src[i], SZ, round * 16 + (unsigned)i);
			memset(dst[i], 0, SZ);
			f[i] = vdm_memcpy(vdm, dst[i], src[i], SZ, 0);
			fs[i] = FUTURE_AS_RUNNABLE(&f[i]);
		}
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
	static const size_t caps[] = {3, 5, 6, 7, 1, 4};
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
