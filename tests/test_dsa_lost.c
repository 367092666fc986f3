/* test_dsa_lost.c - the DSA mover's lost descriptors (past timeout_ns,
 * maybe still in the device) and the shared WQ that refuses, on the
 * emulated device. Time is the test's clock; where a descriptor must
 * complete after a later one (two engines, one of them slowed down) the
 * test checks that it did, and runs the case again with a longer delay
 * when the machine was too slow for it, so no outcome depends on timing.
 * Proves:
 * - a descriptor a reaper took for lost (dedicated WQ full) that went to
 *   limbo when a later one completed first, and whose owner then saw its
 *   record, leaves limbo when its state goes back to the pool: the next
 *   operation in that memory is on one list only (before: a healthy
 *   device's operation timed out, counts leaked, a state was recycled
 *   twice), and afterwards the WQ holds nothing and has all its room;
 * - a WQ filled while a lost descriptor still runs on an engine (a
 *   later one completed) takes every descriptor: the emulator counts its
 *   slot free, as DSA.md §8 says, and the mover does not overfill it;
 * - released operations that timed out give their states back once the
 *   device wrote their records: with capacity 1, creation works again;
 *   one in limbo does not keep its state (capacity 2: two at once), both
 *   when new work is submitted first and when creation finds none free;
 * - coalesced operations waited for by runtime_wait_multiple whose shared
 *   WQ refuses every ENQCMD go to the dedicated WQ beside it, which has
 *   room, instead of failing with VDM_ERROR_BUSY after timeout_ns;
 * - a mover deleted while a lost descriptor is still on the device
 *   returns once the device is done with its memory (the close drains
 *   the WQ, as the kernel's release does), never to be written again. */
#include "test_dsa_util.h"

static struct runtime *rt;

#define SZ 4096
#define SEC 1000000000ull
#define DELAY_US 150000u /* the slow descriptor's extra time (first try) */

static enum future_state
poll1(struct vdm_operation_future *f)
{
	return future_poll(FUTURE_AS_RUNNABLE(f), NULL);
}

/* white box: an operation's state, and whether the device wrote the
 * record of its own descriptor */
static struct masync__dsa_op *
state(struct vdm_operation_future *f)
{
	return (struct masync__dsa_op *)f->data.data;
}

static int
written(struct masync__dsa_op *o)
{
	return masync__dsa_status(masync__dsa_own(o)) != 0;
}

/* everything completed and seen: the WQ holds nothing, every state is
 * back in the pool */
static void
check_whole(struct data_mover_dsa *d)
{
	struct masync__dsa_wq *w = &d->q[0];
	unsigned inflight, nlost;
	void *qhead, *qtail, *limbo;

	masync__qlock_take(&w->qlock);
	inflight = w->inflight;
	nlost = w->nlost;
	qhead = w->qhead;
	qtail = w->qtail;
	limbo = w->limbo;
	masync__qlock_give(&w->qlock);
	CHECK_EQ(inflight, 0);
	CHECK_EQ(nlost, 0);
	CHECK(limbo == NULL);
	CHECK(qhead == NULL && qtail == NULL);
	CHECK(td_pool_live(d) != SIZE_MAX); /* no state recycled twice */
	CHECK_EQ(td_pool_live(d), 0);
}

/* a device with nothing left to do, a mover with nothing in flight:
 * two operations go at once (a WQ of 2 entries, paused so both are in
 * it together) and complete */
static void
check_two_at_once(struct dsa_emu *emu, struct data_mover_dsa *d,
	unsigned char *dst, unsigned char *src, size_t off, unsigned seed)
{
	struct vdm *vdm = data_mover_dsa_get_vdm(d);
	struct vdm_operation_future p[2];
	uint64_t n = td_stats(emu).received;
	int i;

	dsa_emu_pause(emu, -1, 1);
	for (i = 0; i < 2; i++) {
		p[i] = vdm_memcpy(vdm, dst + off + i * SZ, src + off + i * SZ,
			SZ, 0);
		CHECK(poll1(&p[i]) == FUTURE_STATE_RUNNING);
	}
	td_wait_received(emu, n + 2);
	dsa_emu_pause(emu, -1, 0);
	for (i = 0; i < 2; i++)
		CHECK_RES(td_busy(&p[i]), VDM_SUCCESS);
	CHECK_PATTERN(dst + off, 2 * SZ, off, seed);
}

/* the device did all it took, its records written (td_settle is done
 * a moment earlier: its counts come first) */
static void
settle(struct dsa_emu *emu)
{
	td_wait_processed(emu, td_stats(emu).received);
}

/* one case: an emulator, a mover (timeout_ns 1 s) on the test's clock,
 * len bytes of source (pattern seed) and zeroed destination, and a fault
 * that slows one descriptor by delay_us (for the case to inject) */
struct lost_case {
	struct dsa_emu *emu;
	struct data_mover_dsa *d;
	struct vdm *vdm;
	unsigned char *src, *dst;
	struct dsa_emu_fault slow;
	unsigned delay_us;
};

static void
case_begin(struct lost_case *c, const struct dsa_emu_config *ec,
	struct data_mover_dsa_config *mc, size_t len, unsigned seed,
	unsigned delay_us)
{
	c->emu = td_emu(ec);
	mc->timeout_ns = SEC;
	c->d = td_mover(mc);
	c->vdm = data_mover_dsa_get_vdm(c->d);
	td_clock_fake(10 * SEC, 0);
	c->src = td_alloc(len);
	c->dst = td_alloc(len);
	td_pattern(c->src, len, seed);
	memset(c->dst, 0, len);
	memset(&c->slow, 0, sizeof(c->slow));
	c->slow.kind = DSA_EMU_FAULT_DELAY;
	c->slow.delay_us = delay_us;
	c->delay_us = delay_us;
}

/* Ends the case; returns ok. Not ok: it ran out of time for its race,
 * what it made completes first (the caller tries again, slower). */
static int
case_end(struct lost_case *c, struct vdm_operation_future *f, int n, int ok)
{
	int i;

	if (!ok) {
		td_log("   the device was not slow enough (%u us): again\n",
			c->delay_us);
		settle(c->emu);
		for (i = 0; i < n; i++)
			if (f[i].data.data != NULL)
				(void)td_busy(&f[i]);
	}
	td_clock_real();
	data_mover_dsa_delete(c->d);
	dsa_emu_stop(c->emu);
	td_free(c->src);
	td_free(c->dst);
	return ok;
}

/* runs fn(delay, arg) with a longer delay while the machine was too slow
 * for its race */
static void
retry(int (*fn)(unsigned, int), int arg, const char *name)
{
	unsigned delay = DELAY_US * td_slow();
	int k;

	for (k = 0; k < 3; k++, delay *= 4)
		if (fn(delay, arg))
			return;
	td_fail(__FILE__, __LINE__, name, "the machine stalled 3 times");
}

/* ---- 1. limbo ----------------------------------------------------------- */

/* A (slow) and B fill a WQ of 2 entries, B completes; past timeout_ns C
 * needs room: the reap takes A for lost and B's completion. C completes
 * before A, so A leaves the queue for limbo; then A's owner sees its
 * record. X gets the state A left and times out, released: alone (before
 * the fix it was queued while still the head of limbo) or behind H, a
 * slow one (X was then "unlinked" from limbo while queued, so Z, with a
 * healthy device, timed out). 0: the machine was too slow for the order
 * of completions (again). */
static int
limbo_round(unsigned delay_us, int behind)
{
	enum { A, B, C, H, X, Z, N };
	struct dsa_emu_config ec = {0};
	struct data_mover_dsa_config mc = {0};
	struct lost_case c;
	struct dsa_emu *emu;
	struct data_mover_dsa *d;
	struct vdm *vdm;
	struct vdm_operation_future f[N];
	struct masync__dsa_op *sa;
	unsigned char *src, *dst;
	int i, ok = 0;

	memset(f, 0, sizeof(f));
	ec.engines = 2; /* completions out of order */
	ec.wq_size = 2;
	case_begin(&c, &ec, &mc, 8 * SZ, 21, delay_us);
	emu = c.emu;
	d = c.d;
	vdm = c.vdm;
	src = c.src;
	dst = c.dst;

	td_begin("limbo: the owner of a lost descriptor sees its record "
		"after a later one completed");
	td_inject(emu, &c.slow);
	dsa_emu_pause(emu, -1, 1);
	for (i = A; i <= B; i++) {
		f[i] = vdm_memcpy(vdm, dst + i * SZ, src + i * SZ, SZ, 0);
		CHECK(poll1(&f[i]) == FUTURE_STATE_RUNNING);
	}
	sa = state(&f[A]);
	td_wait_received(emu, 2);
	dsa_emu_pause(emu, -1, 0); /* B (engine 1) at once, A (0) later */
	td_wait_processed(emu, 1);
	if (!written(state(&f[B])) || written(sa))
		goto slow;
	/* A's owner does not look; C needs room in the full WQ */
	td_clock_advance(SEC + 1);
	f[C] = vdm_memcpy(vdm, dst + C * SZ, src + C * SZ, SZ, 0);
	CHECK_RES(td_busy(&f[C]), VDM_SUCCESS);
	if (written(sa)) /* A must still run when C's completion is seen */
		goto slow;
	td_wait_processed(emu, 3); /* A's record */
	CHECK_RES(td_busy(&f[B]), VDM_SUCCESS);
	/* A's state goes back to the pool last: the next operation's */
	CHECK_RES(td_busy(&f[A]), VDM_SUCCESS);
	CHECK_PATTERN(dst, 3 * SZ, 0, 21);

	if (!behind) {
		td_begin("limbo: the next operation in that memory is lost "
			"alone");
		dsa_emu_pause(emu, -1, 1);
		f[X] = vdm_memcpy(vdm, dst + X * SZ, src + X * SZ, SZ, 0);
		CHECK(state(&f[X]) == sa);
		CHECK(poll1(&f[X]) == FUTURE_STATE_RUNNING);
		td_wait_received(emu, 4);
		td_clock_advance(SEC + 1);
		/* released: its state waits for its record */
		CHECK(poll1(&f[X]) == FUTURE_STATE_COMPLETE);
		CHECK_RES(FUTURE_OUTPUT(&f[X])->result, VDM_ERROR_TIMEOUT);
		dsa_emu_pause(emu, -1, 0);
		td_wait_processed(emu, 4);
		/* Z's submission takes X's state back (once) */
		f[Z] = vdm_memcpy(vdm, dst + Z * SZ, src + Z * SZ, SZ, 0);
		CHECK_RES(td_busy(&f[Z]), VDM_SUCCESS);
		/* X's bytes too: the device wrote them after its TIMEOUT */
		CHECK_PATTERN(dst + X * SZ, 2 * SZ, X * SZ, 21);
	} else {
		td_begin("limbo: the next operation in that memory is lost "
			"behind a slow one");
		dsa_emu_pause(emu, -1, 1);
		f[X] = vdm_memcpy(vdm, dst + X * SZ, src + X * SZ, SZ, 0);
		CHECK(state(&f[X]) == sa);
		f[H] = vdm_memcpy(vdm, dst + H * SZ, src + H * SZ, SZ, 0);
		td_inject(emu, &c.slow);
		CHECK(poll1(&f[H]) == FUTURE_STATE_RUNNING); /* slow */
		CHECK(poll1(&f[X]) == FUTURE_STATE_RUNNING);
		td_wait_received(emu, 5);
		td_clock_advance(SEC + 1);
		CHECK(poll1(&f[X]) == FUTURE_STATE_COMPLETE);
		CHECK_RES(FUTURE_OUTPUT(&f[X])->result, VDM_ERROR_TIMEOUT);
		dsa_emu_pause(emu, -1, 0);
		td_wait_processed(emu, 4);
		if (!written(sa)) /* X completes before H */
			goto slow;
		/* the WQ is full (H, X), the device healthy: Z gets X's
		 * room (before the fix: TIMEOUT, both taken for lost) */
		f[Z] = vdm_memcpy(vdm, dst + Z * SZ, src + Z * SZ, SZ, 0);
		(void)poll1(&f[Z]);
		if (written(state(&f[H]))) /* H still runs at Z's reap */
			goto slow;
		settle(emu); /* H's record, past its timeout */
		CHECK_RES(td_busy(&f[H]), VDM_SUCCESS);
		CHECK_RES(td_busy(&f[Z]), VDM_SUCCESS);
		CHECK_PATTERN(dst + H * SZ, 3 * SZ, H * SZ, 21);
	}
	CHECK_EQ(td_stats(emu).dropped, 0);

	td_begin(behind ? "limbo (behind): afterwards the WQ holds nothing "
		"and has its room" : "limbo (first): afterwards the WQ holds "
		"nothing and has its room");
	check_whole(d);
	check_two_at_once(emu, d, dst, src, 6 * SZ, 21);
	check_whole(d);
	ok = 1;
slow:
	return case_end(&c, f, N, ok);
}

static void
test_limbo(void)
{
	retry(limbo_round, 1, "limbo_behind");
	retry(limbo_round, 0, "limbo_first");
}

/* A (slow) and B fill a WQ of 2 entries; B completes on the other
 * engine, so A is on an engine and its slot is free (DSA.md §8). Past
 * timeout_ns C needs room: the reap takes A for lost, C completes, and
 * A goes to limbo. D and E then fill the WQ while A still runs: the WQ
 * takes both (before, the emulator counted A against the size and
 * dropped E, which never completed). 0: A ended too soon (again). A
 * pause holds A and D while E comes. */
static int
fill_round(unsigned delay_us, int unused)
{
	enum { A, B, C, D, E, N };
	struct dsa_emu_config ec = {0};
	struct data_mover_dsa_config mc = {0};
	struct lost_case c;
	struct vdm_operation_future f[N];
	struct masync__dsa_op *sa;
	uint64_t dropped;
	int i, ok = 0;

	(void)unused;
	memset(f, 0, sizeof(f));
	ec.engines = 2;
	ec.wq_size = 2;
	mc.batch_max = 1; /* D and E one descriptor each */
	case_begin(&c, &ec, &mc, N * SZ, 23, delay_us);
	td_begin("a WQ filled while a lost descriptor still runs on an "
		"engine takes every descriptor");
	td_inject(c.emu, &c.slow);
	dsa_emu_pause(c.emu, -1, 1);
	for (i = A; i <= B; i++) {
		f[i] = vdm_memcpy(c.vdm, c.dst + i * SZ, c.src + i * SZ, SZ,
			0);
		CHECK(poll1(&f[i]) == FUTURE_STATE_RUNNING);
	}
	sa = state(&f[A]);
	td_wait_received(c.emu, 2);
	dsa_emu_pause(c.emu, -1, 0);
	td_wait_processed(c.emu, 1); /* B */
	if (!written(state(&f[B])) || written(sa))
		goto slow;
	td_clock_advance(SEC + 1);
	f[C] = vdm_memcpy(c.vdm, c.dst + C * SZ, c.src + C * SZ, SZ, 0);
	CHECK_RES(td_busy(&f[C]), VDM_SUCCESS);
	if (written(sa))
		goto slow;
	CHECK(sa->q.in_limbo); /* the mover counts A free */
	dsa_emu_pause(c.emu, -1, 1); /* nothing ends, A neither */
	for (i = D; i <= E; i++) {
		f[i] = vdm_memcpy(c.vdm, c.dst + i * SZ, c.src + i * SZ, SZ,
			0);
		CHECK(poll1(&f[i]) == FUTURE_STATE_RUNNING);
	}
	td_wait_received(c.emu, 5);
	dsa_emu_pause(c.emu, -1, 0);
	dropped = td_stats(c.emu).dropped;
	CHECK_EQ(dropped, 0);
	if (dropped != 0) /* E never completes: let it time out */
		td_clock_advance(SEC + 1);
	for (i = D; i <= E; i++)
		CHECK_RES(td_busy(&f[i]), VDM_SUCCESS);
	settle(c.emu);
	for (i = A; i <= B; i++)
		CHECK_RES(td_busy(&f[i]), VDM_SUCCESS);
	CHECK_PATTERN(c.dst, N * SZ, 0, 23);
	check_whole(c.d);
	ok = 1;
slow:
	return case_end(&c, f, N, ok);
}

static void
test_fill_past_lost(void)
{
	retry(fill_round, 0, "fill_past_lost");
}

/* ---- 2. orphans --------------------------------------------------------- */

/* capacity 1, held by a released operation whose descriptor the device
 * completes later: creation fails while the device may write to it, and
 * works again once it did (no other reaper: nothing can be submitted) */
static void
test_orphan_capacity(void)
{
	struct dsa_emu_config ec = {0};
	struct data_mover_dsa_config mc = {0};
	struct lost_case c;
	struct dsa_emu *emu;
	struct data_mover_dsa *d;
	struct vdm *vdm;
	struct vdm_operation_future a, b;
	unsigned char *src, *dst;

	td_begin("orphan: capacity 1 comes back when the lost descriptor "
		"completes");
	mc.capacity = 1;
	case_begin(&c, &ec, &mc, 2 * SZ, 22, 0); /* no slow descriptor */
	emu = c.emu;
	d = c.d;
	vdm = c.vdm;
	src = c.src;
	dst = c.dst;
	dsa_emu_pause(emu, -1, 1);
	a = vdm_memcpy(vdm, dst, src, SZ, 0);
	CHECK(poll1(&a) == FUTURE_STATE_RUNNING);
	td_wait_received(emu, 1);
	td_clock_advance(SEC + 1);
	CHECK(poll1(&a) == FUTURE_STATE_COMPLETE);
	CHECK_RES(FUTURE_OUTPUT(&a)->result, VDM_ERROR_TIMEOUT);
	/* the device may still write A's record: its state stays taken */
	b = vdm_memcpy(vdm, dst + SZ, src + SZ, SZ, 0);
	CHECK(FUTURE_STATE(&b) == FUTURE_STATE_COMPLETE);
	CHECK_RES(FUTURE_OUTPUT(&b)->result, VDM_ERROR_OUT_OF_MEMORY);
	dsa_emu_pause(emu, -1, 0);
	td_wait_processed(emu, 1);
	CHECK_PATTERN(dst, SZ, 0, 22); /* written after its TIMEOUT */
	/* before the fix: OUT_OF_MEMORY for good */
	b = vdm_memcpy(vdm, dst + SZ, src + SZ, SZ, 0);
	CHECK_RES(td_busy(&b), VDM_SUCCESS);
	CHECK_PATTERN(dst + SZ, SZ, SZ, 22);
	check_whole(d);
	(void)case_end(&c, NULL, 0, 1);
}

/* capacity 2: a released, lost operation goes to limbo when a later
 * descriptor completes first; once its record is written its state comes
 * back, at the next submission (work_first) or when creation finds no
 * state free. 0: the machine was too slow for the race (again) */
static int
orphan_limbo_round(unsigned delay_us, int work_first)
{
	enum { A, B, C, E, N };
	struct dsa_emu_config ec = {0};
	struct data_mover_dsa_config mc = {0};
	struct lost_case c;
	struct dsa_emu *emu;
	struct data_mover_dsa *d;
	struct vdm *vdm;
	struct vdm_operation_future f[N];
	struct masync__dsa_op *sa;
	unsigned char *src, *dst;
	int ok = 0;

	td_begin(work_first ? "orphan in limbo: its state comes back at the "
		"next submission" : "orphan in limbo: creation takes its "
		"state back");
	memset(f, 0, sizeof(f));
	ec.engines = 2;
	mc.capacity = 2;
	case_begin(&c, &ec, &mc, N * SZ, 23, delay_us);
	emu = c.emu;
	d = c.d;
	vdm = c.vdm;
	src = c.src;
	dst = c.dst;
	td_inject(emu, &c.slow);
	dsa_emu_pause(emu, -1, 1);
	f[A] = vdm_memcpy(vdm, dst, src, SZ, 0);
	CHECK(poll1(&f[A]) == FUTURE_STATE_RUNNING);
	sa = state(&f[A]);
	td_wait_received(emu, 1);
	td_clock_advance(SEC + 1);
	CHECK(poll1(&f[A]) == FUTURE_STATE_COMPLETE);
	CHECK_RES(FUTURE_OUTPUT(&f[A])->result, VDM_ERROR_TIMEOUT);
	f[B] = vdm_memcpy(vdm, dst + B * SZ, src + B * SZ, SZ, 0);
	CHECK(poll1(&f[B]) == FUTURE_STATE_RUNNING);
	td_wait_received(emu, 2);
	dsa_emu_pause(emu, -1, 0);
	CHECK_RES(td_busy(&f[B]), VDM_SUCCESS);
	/* B completed first: A (lost, before it) left the queue for limbo */
	if (written(sa))
		goto slow;
	td_wait_processed(emu, 2); /* A's record */
	CHECK_PATTERN(dst, 2 * SZ, 0, 23);
	if (work_first) {
		f[C] = vdm_memcpy(vdm, dst + C * SZ, src + C * SZ, SZ, 0);
		CHECK_RES(td_busy(&f[C]), VDM_SUCCESS);
		CHECK_EQ(td_pool_live(d), 0); /* A's state too */
	}
	/* nothing in flight, capacity 2: two at once (before the fix the
	 * second failed with OUT_OF_MEMORY, however much work came first) */
	f[C] = vdm_memcpy(vdm, dst + C * SZ, src + C * SZ, SZ, 0);
	f[E] = vdm_memcpy(vdm, dst + E * SZ, src + E * SZ, SZ, 0);
	CHECK(FUTURE_STATE(&f[C]) == FUTURE_STATE_IDLE);
	CHECK(FUTURE_STATE(&f[E]) == FUTURE_STATE_IDLE);
	CHECK_RES(td_busy(&f[C]), VDM_SUCCESS);
	CHECK_RES(td_busy(&f[E]), VDM_SUCCESS);
	CHECK_PATTERN(dst + C * SZ, 2 * SZ, C * SZ, 23);
	check_whole(d);
	ok = 1;
slow:
	return case_end(&c, f, N, ok);
}

static void
test_orphans(void)
{
	test_orphan_capacity();
	retry(orphan_limbo_round, 0, "orphan_limbo_at_once");
	retry(orphan_limbo_round, 1, "orphan_limbo_work_first");
}

/* ---- 3. a refusing shared WQ beside a dedicated one with room ---------- */

/* The fixed mover tries the shared WQ once for the batch and at most once
 * per member: past that many refusals the operations wait for that WQ, and
 * the test's clock passes their BUSY deadline (else they waited for good). */
#define BUSY_REFUSALS 64

static struct dsa_emu *busy_emu;
static _Atomic int busy_stop, busy_advanced;

static void *
busy_deadline(void *arg)
{
	(void)arg;
	int resumed = 0;

	while (!atomic_load(&busy_stop)) {
		struct dsa_emu_stats s;

		dsa_emu_get_stats(busy_emu, 1, &s);
		/* the shared WQ was asked (the dedicated one was busier):
		 * now the dedicated one may run what goes there */
		if (s.enqcmd_retries >= 1 && !resumed) {
			dsa_emu_pause(busy_emu, 0, 0);
			resumed = 1;
		}
		if (s.enqcmd_retries >= BUSY_REFUSALS) {
			td_clock_advance(SEC + 1);
			atomic_store(&busy_advanced, 1);
			return NULL;
		}
		td_sleep_us(100);
	}
	return NULL;
}

static void
test_busy_placement(void)
{
	enum { N = 4 };
	struct dsa_emu_config ec = {0};
	struct dsa_emu_wq_config wq[2];
	struct data_mover_dsa_config mc = {0};
	struct dsa_emu *emu;
	struct data_mover_dsa *d;
	struct vdm *vdm;
	struct vdm_operation_future l, f[N];
	struct future *ff[N];
	struct dsa_emu_stats s0, s1;
	unsigned char *src = td_alloc((N + 1) * SZ);
	unsigned char *dst = td_alloc((N + 1) * SZ);
	pthread_t t;
	int i;

	td_begin("coalesced operations refused by a shared WQ go to the "
		"dedicated one beside it");
	td_enqcmd_begin();
	td_cpuinfo(1);
	memset(wq, 0, sizeof(wq));
	ec.nwqs = 2;
	ec.wqs = wq;
	ec.trap_portal = 1; /* any CPU: MOVDIR64B and ENQCMD trapped */
	wq[0].fifo = -1;    /* wq0.0: dedicated, room for 32 */
	wq[1].fifo = -1;    /* wq0.1: shared, ENQCMD */
	wq[1].shared = 1;
	emu = td_emu(&ec);
	MASYNC__STORE(&masync__test_enqcmd, td_trap_enqcmd, release);
	mc.batch_max = 32;
	mc.timeout_ns = SEC;
	d = td_mover(&mc);
	CHECK_EQ(td_nwqs(d), 2);
	CHECK(td_dedicated(d, 0));
	CHECK(!d->q[1].dedicated && d->q[1].use_enqcmd);
	vdm = data_mover_dsa_get_vdm(d);
	td_clock_fake(10 * SEC, 0);
	td_pattern(src, (N + 1) * SZ, 24);
	memset(dst, 0, (N + 1) * SZ);
	/* the shared WQ refuses every ENQCMD (disabled; as one full of
	 * other clients' work does) */
	CHECK(dsa_emu_wq_enable(emu, 1, 0) == 0);
	/* one descriptor in flight on the dedicated WQ (paused until the
	 * shared WQ was asked): the round's batch goes to the shared WQ */
	dsa_emu_pause(emu, 0, 1);
	l = vdm_memcpy(vdm, dst + N * SZ, src + N * SZ, SZ, 0);
	CHECK(poll1(&l) == FUTURE_STATE_RUNNING);
	td_wait_received(emu, 1);
	for (i = 0; i < N; i++) {
		f[i] = vdm_memcpy(vdm, dst + i * SZ, src + i * SZ, SZ, 0);
		ff[i] = FUTURE_AS_RUNNABLE(&f[i]);
	}
	busy_emu = emu;
	atomic_store(&busy_stop, 0);
	atomic_store(&busy_advanced, 0);
	CHECK(pthread_create(&t, NULL, busy_deadline, NULL) == 0);
	runtime_wait_multiple(rt, ff, N);
	atomic_store(&busy_stop, 1);
	CHECK(pthread_join(t, NULL) == 0);
	dsa_emu_get_stats(emu, 1, &s1);
	CHECK(s1.enqcmd_retries >= 1); /* the shared WQ was asked first */
	CHECK_EQ(s1.received, 0);
	/* before the fix: VDM_ERROR_BUSY, the dedicated WQ idle */
	for (i = 0; i < N; i++)
		CHECK_RES(FUTURE_OUTPUT(&f[i])->result, VDM_SUCCESS);
	CHECK_PATTERN(dst, N * SZ, 0, 24);
	CHECK(!atomic_load(&busy_advanced)); /* they did not wait for it */
	CHECK_RES(td_busy(&l), VDM_SUCCESS);
	CHECK_PATTERN(dst + N * SZ, SZ, N * SZ, 24);
	dsa_emu_get_stats(emu, 0, &s0);
	CHECK_EQ(s0.dropped, 0);
	MASYNC__STORE(&masync__test_enqcmd, (masync__enqcmd_fn)NULL, release);
	td_clock_real();
	data_mover_dsa_delete(d);
	dsa_emu_stop(emu);
	td_enqcmd_end();
	td_free(src);
	td_free(dst);
}

/* ---- 5. delete with a lost descriptor still on the device -------------- */

/* A (slow) times out; the mover is deleted while the device still holds
 * it. Its close drains the WQ (the kernel's release, DSA.md section 8), so
 * when delete returns A ran, its bytes are there, and the memory delete
 * freed (A's record in the pool) is never written afterwards (ASan). 0:
 * A completed before its timeout was seen (again, slower). */
static int
delete_round(unsigned delay_us, int unused)
{
	struct dsa_emu_config ec = {0};
	struct data_mover_dsa_config mc = {0};
	struct lost_case c;
	struct vdm_operation_future f;
	struct dsa_emu_stats st;
	int ok = 0;

	(void)unused;
	case_begin(&c, &ec, &mc, SZ, 23, delay_us);
	td_inject(c.emu, &c.slow);
	f = vdm_memcpy(c.vdm, c.dst, c.src, SZ, 0);
	CHECK(poll1(&f) == FUTURE_STATE_RUNNING);
	td_wait_received(c.emu, 1);
	td_clock_advance(SEC + 1);
	CHECK(poll1(&f) == FUTURE_STATE_COMPLETE);
	if (FUTURE_OUTPUT(&f)->result == VDM_SUCCESS)
		goto out; /* the device was quicker than this thread */
	CHECK_RES(FUTURE_OUTPUT(&f)->result, VDM_ERROR_TIMEOUT);
	dsa_emu_get_stats(c.emu, -1, &st); /* as it is: no td_settle */
	if (st.processed != 0)
		goto out;
	data_mover_dsa_delete(c.d);
	c.d = NULL; /* case_end deletes none */
	dsa_emu_get_stats(c.emu, -1, &st);
	CHECK_EQ(st.processed, 1);
	CHECK_EQ(st.completed, 1);
	CHECK_PATTERN(c.dst, SZ, 0, 23);
	ok = 1;
out:
	return case_end(&c, &f, 1, ok);
}

static void
test_delete_drains(void)
{
	td_begin("delete: a lost descriptor still on the device has run "
		"when delete returns");
	retry(delete_round, 0, "delete_round");
}

int
main(void)
{
	td_enter("test_dsa_lost");
	rt = runtime_new();
	CHECK(rt != NULL);
	test_limbo();
	test_fill_past_lost();
	test_orphans();
	test_busy_placement();
	test_delete_drains();
	runtime_delete(rt);
	td_log("test_dsa_lost: all passed\n");
	return 0;
}
