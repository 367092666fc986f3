/* test_dsa_place.c - where the DSA mover places an operation, on emulated
 * devices whose WQs are paused and filled so that no outcome depends on
 * timing (the emulator counts where each descriptor went):
 *  - full_hand, full_round: a small (coalescable) operation whose best WQ
 *    (the destination's node) is a full dedicated WQ goes to a WQ with room
 *    on the other node, by hand and in a runtime's pass, instead of
 *    joining the full WQ's pending batch and waiting for it;
 *  - refused: members that joined a dedicated WQ's pending batch while it
 *    had room, whose flush then finds it full (a large operation took the
 *    last entry), go alone to another WQ with room;
 *  - stale_wqs, stale_devs: placement reads a WQ's load with what
 *    completed but was not reaped yet (owners that did not poll again)
 *    taken off: the next operation goes to the WQ with nothing in flight,
 *    not to a paused one (two WQs of a device; two devices of a node);
 *  - cap: with more WQs than MASYNC__DSA_MAX_CANDS (8 here, for the whole
 *    program; the other cases use 2 WQs), the mover opens exactly that
 *    many and keeps the caller's node's WQs;
 *  - capacity: config capacity 2^40 + 1 (64-bit) lets 300 operations
 *    exist at once;
 *  - cancel_kicked: vdm_cancel of a member that the flush of its pending
 *    batch left unsubmitted ("kicked": its dedicated WQ full, another with
 *    room) cancels it (0): nothing of it reached a device, nothing is
 *    written, its state goes back (before: EINPROGRESS, and it ran);
 *  - cancel_in_call: the same member with an executor's waker that takes
 *    the executor's mutex, cancelled under that mutex while the monitor's
 *    call of the waker (the kick) waits for it: vdm_cancel returns 0 at
 *    once (before: it waited for the call, a deadlock, which the waker's
 *    timed lock turns into a failure), and the state goes back to the
 *    pool only when the call ended;
 *  - cancel_noroom: the same member polled once by its owner while no WQ
 *    has room (left unsent) is still cancelled, nothing of it written
 *    (before: EINPROGRESS, and it ran later).
 * Arguments: the names of the cases to run (default: all). NUMA nodes come
 * from the test hooks masync__test_page_node / masync__test_cpu_node; the
 * pending batches need mmap portals, written where the CPU lacks MOVDIR64B
 * by the emulator's stand-in (masync__test_movdir64b). */
#define MASYNC__DSA_MAX_CANDS 8
#include "test_dsa_util.h"

static struct runtime *rt;

#define SMALL 4096u           /* coalescable (<= 64 KiB) */
#define BIG (128u * 1024u)    /* never coalesced: goes alone */
#define NSMALL 8u
#define WQSZ 2u

/* "node 0" memory: the destinations of cases full_* and refused */
static unsigned char *node0;
#define NODE0_LEN (2u * BIG + NSMALL * SMALL)
#define N0_BIG(i) (node0 + (size_t)(i) * BIG)
#define N0_SMALL(i) (node0 + 2u * BIG + (size_t)(i) * SMALL)
static unsigned char *src;
#define SRC_LEN (2u * BIG + NSMALL * SMALL)
static atomic_int cpu_node;

static int
page_node(const void *addr)
{
	uintptr_t a = (uintptr_t)addr;

	return a >= (uintptr_t)node0 && a < (uintptr_t)node0 + NODE0_LEN ?
		0 : -1;
}

static int
my_node(const void *addr)
{
	(void)addr;
	return atomic_load(&cpu_node);
}

static struct dsa_emu_stats
wq_stats(struct dsa_emu *emu, int wq)
{
	struct dsa_emu_stats s;

	dsa_emu_get_stats(emu, wq, &s);
	return s;
}

static uint64_t
received(struct dsa_emu *emu, int wq)
{
	return wq_stats(emu, wq).received;
}

/* td_settle for one WQ (another may hold descriptors, paused): its
 * statistics are updated just after the completion record is written */
static void
settle_wq(struct dsa_emu *emu, int wq)
{
	uint64_t t0 = td_now_ns();
	struct dsa_emu_stats s;

	for (;;) {
		s = wq_stats(emu, wq);
		if (s.processed >= s.received)
			return;
		if (td_now_ns() - t0 > td_hang_ns())
			td_fail(__FILE__, __LINE__, "WQ settles", NULL);
		td_sleep_us(100);
	}
}

/* the mover's WQ of emulated device `dev` (one WQ per device) */
static struct masync__dsa_wq *
wq_of(struct data_mover_dsa *d, const char *dev)
{
	unsigned i;

	for (i = 0; i < d->nq; i++)
		if (strcmp(d->q[i].dev, dev) == 0)
			return &d->q[i];
	td_fail(__FILE__, __LINE__, "the mover has the device", dev);
	return NULL;
}

/* white box: members in w's pending batch (and this thread's stage) */
static unsigned
npend(struct masync__dsa_wq *w)
{
	unsigned n;

	masync__qlock_take(&w->qlock);
	n = w->npend;
	masync__qlock_give(&w->qlock);
	if (masync__dsa_stage.w == w)
		n += masync__dsa_stage.n;
	return n;
}

static struct vdm_operation_future
copy(struct data_mover_dsa *d, unsigned char *dst, size_t off, size_t n)
{
	return vdm_memcpy(data_mover_dsa_get_vdm(d), dst, src + off, n, 0);
}

/* polls f once by hand (no notifier): it must have started */
static void
poll_started(struct vdm_operation_future *f)
{
	enum future_state s = future_poll(FUTURE_AS_RUNNABLE(f), NULL);

	CHECK(s == FUTURE_STATE_RUNNING || s == FUTURE_STATE_COMPLETE);
}

/* all of fs complete (a bounded wait, then a failure naming `why`) */
static void
wait_all(struct vdm_operation_future *fs, unsigned n, const char *why)
{
	struct future *ff[NSMALL + 4];
	unsigned i;

	CHECK(n <= NSMALL + 4);
	for (i = 0; i < n; i++)
		ff[i] = FUTURE_AS_RUNNABLE(&fs[i]);
	if (runtime_wait_multiple_for(rt, ff, n, td_hang_ns()) != 0)
		td_fail(__FILE__, __LINE__, "runtime_wait_multiple_for == 0",
			why);
	for (i = 0; i < n; i++)
		CHECK_RES(FUTURE_OUTPUT(&fs[i])->result, VDM_SUCCESS);
}

/* ---- two devices: dsa0 on node 0 (paused, filled), dsa1 on node 1 -------- */

static unsigned portal_bits; /* the CPU bits before portal_begin */

/* mmap portals (a pending batch needs one): MOVDIR64B, or where the CPU
 * lacks it the emulator's stand-in */
static void
portal_begin(void)
{
	portal_bits = masync__cpu();
	if (!dsa_emu_cpu_movdir64b()) {
		MASYNC__STORE(&masync__cpu_bits,
			portal_bits | MASYNC__CPU_MOVDIR64B, release);
		MASYNC__STORE(&masync__test_movdir64b, dsa_emu_portal_store,
			release);
	}
}

static void
portal_end(void)
{
	MASYNC__STORE(&masync__test_movdir64b, (masync__movdir64b_fn)NULL,
		release);
	MASYNC__STORE(&masync__cpu_bits, portal_bits, release);
}

static struct dsa_emu *
emu_two_nodes(void)
{
	static const int nodes[] = { 0, 1 };
	struct dsa_emu_config ec = {0};
	struct dsa_emu *emu;

	ec.ndevices = 2;
	ec.numa_nodes = nodes;
	ec.wq_size = WQSZ;
	ec.fifo = -1; /* mmap portals */
	emu = td_emu(&ec);
	portal_begin();
	return emu;
}

/* a mover with the default batch settings (td_mover's 0 means 1) */
static struct data_mover_dsa *
mover_batching(void)
{
	struct data_mover_dsa_config mc = {0};
	struct data_mover_dsa *d;

	mc.batch_max = 32; /* the default (0) */
	/* dsa0's paused descriptors never time out while the test waits:
	 * what waits for them waits until the test gives up */
	mc.timeout_ns = 10 * td_hang_ns();
	d = td_mover(&mc);
	CHECK_EQ(td_nwqs(d), 2);
	CHECK(d->multi_node);
	CHECK(d->batch_max >= 2);
	CHECK(wq_of(d, "dsa0")->portal != NULL);
	CHECK(wq_of(d, "dsa1")->portal != NULL);
	CHECK_EQ(wq_of(d, "dsa0")->numa, 0);
	CHECK_EQ(wq_of(d, "dsa1")->numa, 1);
	return d;
}

/* dsa0 paused and full: two large copies into node 0's memory (each
 * alone, to the destination's node, which has room for both) */
static void
fill_dsa0(struct dsa_emu *emu, struct data_mover_dsa *d,
	struct vdm_operation_future *big)
{
	int i;

	dsa_emu_pause(emu, 0, 1);
	for (i = 0; i < 2; i++) {
		big[i] = copy(d, N0_BIG(i), (size_t)i * BIG, BIG);
		CHECK(future_poll(FUTURE_AS_RUNNABLE(&big[i]), NULL) ==
			FUTURE_STATE_RUNNING);
	}
	td_wait_received(emu, 2);
	CHECK_EQ(received(emu, 0), 2);
	CHECK_EQ(received(emu, 1), 0);
	CHECK_EQ(MASYNC__LOAD(&wq_of(d, "dsa0")->load, relaxed), WQSZ);
}

/* dsa0 resumes: the large copies complete; everything is checked */
static void
finish_dsa0(struct dsa_emu *emu, struct data_mover_dsa *d,
	struct vdm_operation_future *big, unsigned nsmall)
{
	struct dsa_emu_stats s;

	/* still paused: the large copies have not completed */
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&big[0]), NULL) ==
		FUTURE_STATE_RUNNING);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&big[1]), NULL) ==
		FUTURE_STATE_RUNNING);
	dsa_emu_pause(emu, 0, 0);
	wait_all(big, 2, "the large copies on dsa0, resumed");
	CHECK_PATTERN(N0_BIG(0), 2u * BIG, 0, 3);
	CHECK_PATTERN(N0_SMALL(0), nsmall * SMALL, 2u * BIG, 3);
	CHECK(td_guards_ok(node0, NODE0_LEN));
	s = td_stats(emu);
	CHECK_EQ(s.dropped, 0);
	CHECK_EQ(s.errors, 0);
	CHECK_EQ(s.bytes, 2ull * BIG + (uint64_t)nsmall * SMALL);
	CHECK_EQ(td_pool_live(d), 0);
	data_mover_dsa_delete(d);
	dsa_emu_stop(emu);
	portal_end();
}

static void
reset_buffers(void)
{
	memset(node0, 0, NODE0_LEN);
	td_pattern(src, SRC_LEN, 3);
}

/* fix 1, by hand: small copies into node 0's memory while dsa0 is full */
static void
case_full_hand(void)
{
	struct vdm_operation_future big[2], f[2];
	struct data_mover_dsa *d;
	struct dsa_emu *emu;
	struct dsa_emu_stats s1;
	int i;

	td_begin("full_hand: a small operation passes over a full dedicated "
		"WQ (by hand)");
	reset_buffers();
	atomic_store(&cpu_node, 0);
	emu = emu_two_nodes();
	d = mover_batching();
	fill_dsa0(emu, d, big);
	/* the first goes alone to dsa1 at once; the second too, or joins
	 * dsa1's pending batch (dsa1 busy): dsa1 either way, never dsa0 */
	for (i = 0; i < 2; i++) {
		f[i] = copy(d, N0_SMALL(i), 2u * BIG + (size_t)i * SMALL,
			SMALL);
		poll_started(&f[i]);
		CHECK_EQ(npend(wq_of(d, "dsa0")), 0);
	}
	wait_all(f, 2, "small copies while dsa0 (their node's WQ) is full "
		"and paused: they waited for it");
	settle_wq(emu, 1);
	s1 = wq_stats(emu, 1);
	CHECK_EQ(s1.ops[DSA_OPCODE_MEMMOVE], 2);
	CHECK_EQ(received(emu, 0), 2);
	td_log("   dsa0 received %llu (full, paused), dsa1 received %llu "
		"(%llu copies)\n", (unsigned long long)received(emu, 0),
		(unsigned long long)s1.received,
		(unsigned long long)s1.ops[DSA_OPCODE_MEMMOVE]);
	finish_dsa0(emu, d, big, 2);
}

/* fix 1, in a runtime's pass: the pass's batch goes to dsa1 */
static void
case_full_round(void)
{
	struct vdm_operation_future big[2], f[3];
	struct data_mover_dsa *d;
	struct dsa_emu *emu;
	struct dsa_emu_stats s1;
	int i;

	td_begin("full_round: small operations pass over a full dedicated "
		"WQ (a runtime's pass)");
	reset_buffers();
	atomic_store(&cpu_node, 0);
	emu = emu_two_nodes();
	d = mover_batching();
	fill_dsa0(emu, d, big);
	for (i = 0; i < 3; i++)
		f[i] = copy(d, N0_SMALL(i), 2u * BIG + (size_t)i * SMALL,
			SMALL);
	wait_all(f, 3, "a runtime pass's small copies while dsa0 (their "
		"node's WQ) is full and paused: they waited for it");
	settle_wq(emu, 1);
	s1 = wq_stats(emu, 1);
	CHECK_EQ(s1.ops[DSA_OPCODE_MEMMOVE], 3);
	CHECK_EQ(received(emu, 0), 2);
	CHECK_EQ(npend(wq_of(d, "dsa0")), 0);
	td_log("   dsa0 received %llu (full, paused), dsa1 received %llu "
		"(%llu copies, %llu as batch members)\n",
		(unsigned long long)received(emu, 0),
		(unsigned long long)s1.received,
		(unsigned long long)s1.ops[DSA_OPCODE_MEMMOVE],
		(unsigned long long)s1.batch_members);
	finish_dsa0(emu, d, big, 3);
}

/* fix 2: a pending batch whose flush finds its dedicated WQ full */
static void
case_refused(void)
{
	struct vdm_operation_future a[3], big[2], m[2];
	struct masync__dsa_wq *w0;
	struct data_mover_dsa *d;
	struct dsa_emu *emu;
	struct dsa_emu_stats s0, s1;
	int i;

	td_begin("refused: members of a pending batch its full dedicated WQ "
		"refused go alone elsewhere");
	reset_buffers();
	atomic_store(&cpu_node, 0);
	emu = emu_two_nodes();
	d = mover_batching();
	w0 = wq_of(d, "dsa0");
	dsa_emu_pause(emu, 0, 1);
	/* the mover's clock stands still: the monitor's flush of a pending
	 * batch (after MASYNC__DSA_PEND_NS) does not come between */
	td_clock_fake(td_coarse_ns(), 0);
	/* one small copy alone on dsa0 (idle: no wait for company) */
	a[0] = copy(d, N0_SMALL(0), 2u * BIG, SMALL);
	poll_started(&a[0]);
	td_wait_received(emu, 1);
	CHECK_EQ(received(emu, 0), 1);
	/* two more join dsa0's pending batch: it is busy and has room */
	for (i = 0; i < 2; i++) {
		m[i] = copy(d, N0_SMALL(1 + i), 2u * BIG + (size_t)(1 + i) *
			SMALL, SMALL);
		poll_started(&m[i]);
	}
	CHECK_EQ(npend(w0), 2);
	/* a large copy (alone) takes dsa0's last entry */
	big[0] = copy(d, N0_BIG(0), 0, BIG);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&big[0]), NULL) ==
		FUTURE_STATE_RUNNING);
	td_wait_received(emu, 2);
	CHECK_EQ(received(emu, 0), 2);
	CHECK_EQ(received(emu, 1), 0);
	CHECK_EQ(MASYNC__LOAD(&w0->load, relaxed), WQSZ);
	CHECK_EQ(npend(w0), 2);
	/* their polls flush the batch: dsa0 has no room, dsa1 has */
	poll_started(&m[0]);
	poll_started(&m[1]);
	td_clock_real();
	wait_all(m, 2, "members of dsa0's refused batch while dsa0 stays "
		"paused: they waited for dsa0");
	CHECK_EQ(npend(w0), 0);
	s0 = wq_stats(emu, 0);
	settle_wq(emu, 1);
	s1 = wq_stats(emu, 1);
	CHECK_EQ(s0.received, 2); /* a[0] and the large copy only */
	CHECK_EQ(s1.received, 2); /* each member alone */
	CHECK_EQ(s1.ops[DSA_OPCODE_MEMMOVE], 2);
	CHECK_EQ(s1.batch_members, 0);
	td_log("   dsa0 received %llu (paused), dsa1 received %llu "
		"(%llu copies)\n", (unsigned long long)s0.received,
		(unsigned long long)s1.received,
		(unsigned long long)s1.ops[DSA_OPCODE_MEMMOVE]);
	/* finish_dsa0 waits for big[0..1]: a[0] and the large copy */
	big[1] = big[0];
	big[0] = a[0];
	dsa_emu_pause(emu, 0, 0);
	wait_all(big, 2, "dsa0's copies, resumed");
	CHECK_PATTERN(N0_SMALL(0), 3u * SMALL, 2u * BIG, 3);
	CHECK_PATTERN(N0_BIG(0), BIG, 0, 3);
	CHECK(td_guards_ok(node0, NODE0_LEN));
	s0 = td_stats(emu);
	CHECK_EQ(s0.dropped, 0);
	CHECK_EQ(s0.errors, 0);
	CHECK_EQ(s0.bytes, (uint64_t)BIG + 3u * SMALL);
	CHECK_EQ(td_pool_live(d), 0);
	data_mover_dsa_delete(d);
	dsa_emu_stop(emu);
	portal_end();
}

/* ---- fix 3: a stale load ------------------------------------------------- */

/* Two WQs on one node (ndev devices of nwq WQs): X holds two completed
 * descriptors whose futures were not polled again, Y (paused) one; the
 * next operation goes to X, which has nothing in flight. POLLER: no
 * monitor thread reaps anything. */
static void
stale_load(unsigned ndev, unsigned nwq)
{
	struct dsa_emu_config ec = {0};
	struct data_mover_dsa_config mc = {0};
	struct vdm_operation_future f[4], onx[3];
	unsigned char *dst = td_alloc(4u * SMALL);
	struct data_mover_dsa *d;
	struct dsa_emu *emu;
	int x, y, i;

	ec.ndevices = ndev;
	ec.nwqs = nwq;
	ec.wq_size = 4;
	ec.fifo = 1;
	emu = td_emu(&ec);
	mc.desired_notifier = FUTURE_NOTIFIER_POLLER;
	mc.timeout_ns = 10 * td_hang_ns();
	d = td_mover(&mc); /* batch_max 1: one descriptor per operation */
	CHECK_EQ(td_nwqs(d), 2);
	CHECK(!d->multi_node);
	td_pattern(src, 4u * SMALL, 11);
	memset(dst, 0, 4u * SMALL);
	/* both paused: the first three go by load alone (ties: the mover's
	 * first WQ), X, Y, X */
	dsa_emu_pause(emu, -1, 1);
	f[0] = copy(d, dst, 0, SMALL);
	poll_started(&f[0]);
	td_wait_received(emu, 1);
	x = received(emu, 0) == 1 ? 0 : 1;
	y = 1 - x;
	for (i = 1; i < 3; i++) {
		f[i] = copy(d, dst + (size_t)i * SMALL, (size_t)i * SMALL,
			SMALL);
		poll_started(&f[i]);
	}
	td_wait_received(emu, 3);
	CHECK_EQ(received(emu, x), 2);
	CHECK_EQ(received(emu, y), 1);
	/* X completes its two (records written); nobody polls them */
	dsa_emu_pause(emu, x, 0);
	td_wait_processed(emu, 2);
	CHECK_EQ(wq_stats(emu, x).completed, 2);
	f[3] = copy(d, dst + 3u * SMALL, 3u * SMALL, SMALL);
	poll_started(&f[3]);
	td_wait_received(emu, 4);
	td_log("   4th operation: WQ %d (0 in flight) received %llu, "
		"WQ %d (1 in flight, paused) received %llu\n", x,
		(unsigned long long)received(emu, x), y,
		(unsigned long long)received(emu, y));
	CHECK_EQ(received(emu, y), 1);
	CHECK_EQ(received(emu, x), 3);
	/* X's three complete while Y stays paused */
	onx[0] = f[0];
	onx[1] = f[2];
	onx[2] = f[3];
	wait_all(onx, 3, "the copies on the WQ that runs");
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f[1]), NULL) ==
		FUTURE_STATE_RUNNING); /* Y's, paused */
	dsa_emu_pause(emu, y, 0);
	wait_all(&f[1], 1, "the copy on the resumed WQ");
	CHECK_PATTERN(dst, 4u * SMALL, 0, 11);
	CHECK(td_guards_ok(dst, 4u * SMALL));
	CHECK_EQ(td_stats(emu).dropped, 0);
	CHECK_EQ(td_pool_live(d), 0);
	data_mover_dsa_delete(d);
	dsa_emu_stop(emu);
	td_free(dst);
}

static void
case_stale_wqs(void)
{
	td_begin("stale_wqs: no stale load, two WQs of one device");
	stale_load(1, 2);
}

static void
case_stale_devs(void)
{
	td_begin("stale_devs: no stale load, two devices on one node");
	stale_load(2, 1);
}

/* ---- fix 4: more WQs than MASYNC__DSA_MAX_CANDS -------------------------- */

#define CAP_DEVS 3u
#define CAP_WQS 4u

/* a mover on the emulated 3 x 4 WQs, the caller on node `caller`: how
 * many WQs it opened; of them on node 1 and of dsa2 (node 1's device) */
static unsigned
cap_mover(int caller, int cfg_node, unsigned *on_node1, unsigned *dsa2)
{
	struct data_mover_dsa_config mc = {0};
	struct data_mover_dsa *d;
	unsigned i, n1 = 0, d2 = 0, nq;

	atomic_store(&cpu_node, caller);
	mc.numa_node = cfg_node;
	d = td_mover(&mc);
	nq = d->nq;
	for (i = 0; i < nq; i++) {
		n1 += d->q[i].numa == 1;
		d2 += strcmp(d->q[i].dev, "dsa2") == 0;
		CHECK(d->q[i].numa == 0 || d->q[i].numa == 1);
	}
	td_log("   caller on node %d, config numa_node %d: %u WQs opened, "
		"%u of them on node 1\n", caller, cfg_node, nq, n1);
	*on_node1 = n1;
	*dsa2 = d2;
	data_mover_dsa_delete(d);
	return nq;
}

static void
case_cap(void)
{
	static const int nodes[CAP_DEVS] = { 0, 0, 1 };
	struct dsa_emu_config ec = {0};
	struct dsa_emu *emu;
	unsigned n1, d2;

	td_begin("cap: more WQs than MASYNC__DSA_MAX_CANDS, the caller's "
		"node keeps its WQs");
	CHECK_EQ(MASYNC__DSA_MAX_CANDS, 8); /* the header takes the test's */
	ec.ndevices = CAP_DEVS;
	ec.nwqs = CAP_WQS;
	ec.numa_nodes = nodes;
	ec.fifo = 1; /* the emulator's threads sleep */
	emu = td_emu(&ec);
	CHECK_EQ(dsa_emu_nwqs(emu), CAP_DEVS * CAP_WQS);
	/* the caller on node 1 (dsa2, enumerated last) */
	CHECK_EQ(cap_mover(1, 0, &n1, &d2), 8);
	CHECK_EQ(n1, CAP_WQS);
	CHECK_EQ(d2, CAP_WQS);
	/* config numa_node says node 1 */
	CHECK_EQ(cap_mover(0, 1 + 1, &n1, &d2), 8);
	CHECK_EQ(n1, CAP_WQS);
	CHECK_EQ(d2, CAP_WQS);
	/* the caller on node 0: 8 of node 0's (none on node 1) */
	CHECK_EQ(cap_mover(0, 0, &n1, &d2), 8);
	CHECK_EQ(n1, 0);
	dsa_emu_stop(emu);
}

/* ---- fix 5: capacity 2^40 + 1 -------------------------------------------- */

#define NCAP 300

static void
case_capacity(void)
{
#if SIZE_MAX > 0xffffffffu
	static struct vdm_operation_future f[NCAP];
	static unsigned char cdst[NCAP][64];
	struct data_mover_dsa_config mc = {0};
	struct data_mover_dsa *d;
	struct dsa_emu *emu;
	int i;

	td_begin("capacity: 2^40 + 1 lets 300 operations exist at once");
	emu = td_emu(NULL);
	mc.capacity = ((size_t)1 << 40) + 1;
	d = td_mover(&mc);
	for (i = 0; i < NCAP; i++) {
		f[i] = vdm_memcpy(data_mover_dsa_get_vdm(d), cdst[i], src, 64,
			0);
		if (FUTURE_STATE(&f[i]) == FUTURE_STATE_COMPLETE &&
				FUTURE_OUTPUT(&f[i])->result ==
				VDM_ERROR_OUT_OF_MEMORY) {
			char m[64];

			snprintf(m, sizeof(m), "operation %d of %d", i + 1,
				NCAP);
			td_fail(__FILE__, __LINE__,
				"not born VDM_ERROR_OUT_OF_MEMORY", m);
		}
		CHECK(FUTURE_STATE(&f[i]) == FUTURE_STATE_IDLE);
	}
	CHECK_EQ(td_pool_live(d), NCAP);
	for (i = 0; i < NCAP; i++) {
		CHECK_EQ(vdm_cancel(&f[i]), 0);
		CHECK(FUTURE_STATE(&f[i]) == FUTURE_STATE_COMPLETE);
		CHECK_RES(FUTURE_OUTPUT(&f[i])->result, VDM_ERROR_CANCELLED);
	}
	CHECK_EQ(td_pool_live(d), 0);
	data_mover_dsa_delete(d);
	CHECK_EQ(td_stats(emu).received, 0);
	dsa_emu_stop(emu);
#else
	td_begin("capacity");
	td_log("   skipped: capacity 2^40 + 1 needs a 64-bit size_t\n");
#endif
}

/* ---- fix 6: cancel of a kicked member ----------------------------------- */

/* the mover's WQ named `name` (wqD.W) */
static struct masync__dsa_wq *
wq_named(struct data_mover_dsa *d, const char *name)
{
	unsigned i;

	for (i = 0; i < d->nq; i++)
		if (strcmp(d->q[i].wq, name) == 0)
			return &d->q[i];
	td_fail(__FILE__, __LINE__, "the mover has the WQ", name);
	return NULL;
}

static struct masync__dsa_op *
op_of(struct vdm_operation_future *f)
{
	return (struct masync__dsa_op *)f->data.data;
}

/* The emulator of the kick scenes: wq0.0 (Q) of 1 entry, wq0.1 (P) of 2,
 * mmap portals (batches) */
static struct dsa_emu *
qp_emu(void)
{
	struct dsa_emu_config ec = {0};
	struct dsa_emu_wq_config wc[2];
	struct dsa_emu *emu;

	memset(wc, 0, sizeof(wc));
	wc[0].wq_size = 1; /* emulator WQ 0: wq0.0, Q */
	wc[1].wq_size = 2; /* emulator WQ 1: wq0.1, P */
	ec.nwqs = 2;
	ec.wqs = wc;
	ec.fifo = -1; /* mmap portals: batches */
	emu = td_emu(&ec);
	portal_begin();
	return emu;
}

/* One device, two dedicated WQs: P (wq0.1, 2 entries) and Q (wq0.0, 1),
 * both paused. a goes alone to P, b alone to Q, the small s (polled once
 * with `sn`, which may be NULL) joins P's pending batch (P busy, with
 * room), c alone takes P's last entry. Q resumes and b is polled by hand
 * until it completes: each of those polls flushes P's batch before it
 * reaps b, while b still holds Q, so s stays pending. (A runtime's wait
 * would flush at its pass's end, after the reap, and kick s there.) The
 * mover's clock stands still: no monitor flush, no timeout comes between.
 * e's range (the rest of dst) is for the caller. */
#define K_LEN (4u * BIG + SMALL)
#define K_S_OFF (4u * BIG)

struct kscene {
	struct dsa_emu *emu;
	struct data_mover_dsa *d;
	struct masync__dsa_wq *wp, *wq;
	struct vdm_operation_future a, b, c, s;
	struct masync__dsa_op *so;
	unsigned char *dst, *src;
};

static void
kicked_scene(struct kscene *k, struct future_notifier *sn)
{
	struct data_mover_dsa_config mc = {0};
	struct vdm *v;
	uint64_t t0;

	k->dst = td_alloc(K_LEN);
	k->src = td_alloc(K_LEN);
	td_pattern(k->src, K_LEN, 5);
	memset(k->dst, 0, K_LEN);
	k->emu = qp_emu();
	mc.batch_max = 8;
	mc.timeout_ns = 10 * td_hang_ns();
	k->d = td_mover(&mc); /* WAKER (the default): a monitor thread */
	CHECK_EQ(td_nwqs(k->d), 2);
	CHECK(k->d->have_monitor);
	k->wp = wq_named(k->d, "wq0.1");
	k->wq = wq_named(k->d, "wq0.0");
	CHECK(k->wp->portal != NULL && k->wq->portal != NULL);
	CHECK_EQ(k->wp->wq_size, 2);
	CHECK_EQ(k->wq->wq_size, 1);
	td_clock_fake(td_coarse_ns(), 0);
	dsa_emu_pause(k->emu, -1, 1);
	v = data_mover_dsa_get_vdm(k->d);
	k->a = vdm_memcpy(v, k->dst, k->src, BIG, 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&k->a), NULL) ==
		FUTURE_STATE_RUNNING);
	k->b = vdm_memcpy(v, k->dst + BIG, k->src + BIG, BIG, 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&k->b), NULL) ==
		FUTURE_STATE_RUNNING);
	CHECK(op_of(&k->a)->w == k->wp);
	CHECK(op_of(&k->b)->w == k->wq);
	k->s = vdm_memcpy(v, k->dst + K_S_OFF, k->src + K_S_OFF, SMALL, 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&k->s), sn) ==
		FUTURE_STATE_RUNNING);
	if (sn != NULL)
		CHECK(sn->notifier_used == FUTURE_NOTIFIER_WAKER);
	k->so = op_of(&k->s);
	CHECK(k->so->in_pend && k->so->pend_w == k->wp);
	k->c = vdm_memcpy(v, k->dst + 2u * BIG, k->src + 2u * BIG, BIG, 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&k->c), NULL) ==
		FUTURE_STATE_RUNNING);
	CHECK(op_of(&k->c)->w == k->wp);
	td_wait_received(k->emu, 3);
	CHECK_EQ(received(k->emu, 1), 2); /* a, c on P: full */
	CHECK_EQ(received(k->emu, 0), 1); /* b on Q */
	/* Q's b completes: room on Q, none on P */
	dsa_emu_pause(k->emu, 0, 0);
	t0 = td_now_ns();
	while (future_poll(FUTURE_AS_RUNNABLE(&k->b), NULL) !=
			FUTURE_STATE_COMPLETE) {
		if (td_now_ns() - t0 > td_hang_ns())
			td_fail(__FILE__, __LINE__, "the copy on the resumed "
				"WQ completes", NULL);
		td_sleep_us(100);
	}
	CHECK_RES(FUTURE_OUTPUT(&k->b)->result, VDM_SUCCESS);
	CHECK(k->so->in_pend && k->so->kicked == 0);
	CHECK_EQ(npend(k->wp), 1);
}

/* a's poll flushes P's pending batch: P full, Q with room, so s is left
 * unsubmitted for its owner to send alone (kicked) */
static void
kicked_flush(struct kscene *k)
{
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&k->a), NULL) ==
		FUTURE_STATE_RUNNING);
	CHECK(k->so->kicked != 0 && !k->so->in_pend && k->so->bat == NULL);
	CHECK_EQ(npend(k->wp), 0);
}

/* s, never sent, is cancelled at once (0); its state goes back to the
 * pool, where `live` states were */
static void
kicked_cancel(struct kscene *k, size_t live)
{
	CHECK_EQ(td_pool_live(k->d), live);
	CHECK_EQ(vdm_cancel(&k->s), 0);
	CHECK(FUTURE_STATE(&k->s) == FUTURE_STATE_COMPLETE);
	CHECK_RES(FUTURE_OUTPUT(&k->s)->result, VDM_ERROR_CANCELLED);
	CHECK_EQ(td_pool_live(k->d), live - 1);
}

/* the rest (nf futures) runs; s, cancelled, wrote nothing */
static void
kicked_end(struct kscene *k, struct vdm_operation_future *rest, unsigned nf)
{
	struct dsa_emu_stats st;

	td_clock_real();
	dsa_emu_pause(k->emu, -1, 0);
	wait_all(rest, nf, "the copies, resumed");
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&k->s), NULL) ==
		FUTURE_STATE_COMPLETE);
	CHECK_RES(FUTURE_OUTPUT(&k->s)->result, VDM_ERROR_CANCELLED);
	st = td_stats(k->emu);
	td_log("   emulator received %llu, %llu bytes; s: cancelled\n",
		(unsigned long long)st.received, (unsigned long long)st.bytes);
	CHECK_EQ(st.received, nf + 1); /* with b */
	CHECK_EQ(st.batch_members, 0);
	CHECK_EQ(st.bytes, (nf + 1) * (uint64_t)BIG);
	CHECK_EQ(st.dropped, 0);
	CHECK_EQ(st.errors, 0);
	CHECK_PATTERN(k->dst, (nf + 1) * BIG, 0, 5);
	CHECK_BYTES(k->dst + K_S_OFF, SMALL, 0);
	CHECK(td_guards_ok(k->dst, K_LEN));
	CHECK_EQ(td_pool_live(k->d), 0);
	data_mover_dsa_delete(k->d);
	dsa_emu_stop(k->emu);
	portal_end();
	td_free(k->dst);
	td_free(k->src);
}

/* s, kicked, has not started: cancelling it must cancel it (it never
 * reached a device) */
static void
case_cancel_kicked(void)
{
	struct kscene k;
	struct vdm_operation_future ac[2];

	td_begin("cancel_kicked: a member its flush left unsubmitted is "
		"cancelled");
	kicked_scene(&k, NULL);
	kicked_flush(&k);
	kicked_cancel(&k, 3); /* a, c, s */
	ac[0] = k.a;
	ac[1] = k.c;
	kicked_end(&k, ac, 2);
}

/* ---- cancel while the monitor calls the waker; cancel after no room ----- */

/* An executor's waker that takes the executor's mutex (a waker may take
 * locks, also one its executor holds while polling or cancelling). The
 * lock is timed (EXEC_LOCK_S, far beyond anything a passing run waits
 * for) only so that a cancel that waits for the call (the deadlock)
 * fails the test instead of hanging it. */
#define EXEC_LOCK_S (10 * (int)td_slow())
static pthread_mutex_t exec_m = PTHREAD_MUTEX_INITIALIZER;
static atomic_int exec_entered, exec_calls, exec_timedout;

static void
exec_wake(void *data)
{
	struct timespec ts;

	(void)data;
	atomic_fetch_add(&exec_entered, 1);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += EXEC_LOCK_S;
	if (pthread_mutex_timedlock(&exec_m, &ts) == 0)
		pthread_mutex_unlock(&exec_m);
	else
		atomic_store(&exec_timedout, 1);
	atomic_fetch_add(&exec_calls, 1); /* last: the test reads the rest */
}

/* until *v >= n, or until td_pool_live(d) == n (bounded: waits for an
 * event, the verdict never depends on how long it took) */
static void
wait_event(atomic_int *v, struct data_mover_dsa *d, int n, const char *what)
{
	uint64_t t0 = td_now_ns();

	while (v != NULL ? atomic_load(v) < n : td_pool_live(d) != (size_t)n) {
		if (td_now_ns() - t0 > td_hang_ns())
			td_fail(__FILE__, __LINE__, what, "never happened");
		td_sleep_us(200);
	}
}

/* case_cancel_kicked, with s's waker (an executor's, which takes its
 * mutex) registered: the executor, holding its mutex, cancels s while the
 * monitor's call of that waker (s's kick) is blocked on the mutex. The
 * cancel returns at once, 0 (before: it waited for the call, which waited
 * for the mutex: a deadlock); s's state stays out of the pool while the
 * call runs and goes back when it ended. */
static void
case_cancel_in_call(void)
{
	struct kscene k;
	struct future_notifier sn;
	struct vdm_operation_future ac[2];
	int r, timedout, calls;
	size_t live;

	td_begin("cancel_in_call: a kicked member cancelled under the "
		"executor's mutex while the monitor's call of its waker waits "
		"for that mutex");
	atomic_store(&exec_entered, 0);
	atomic_store(&exec_calls, 0);
	atomic_store(&exec_timedout, 0);
	memset(&sn, 0, sizeof(sn));
	sn.waker.wake = exec_wake;
	kicked_scene(&k, &sn);
	/* the executor holds its mutex from before the kick (s not kicked
	 * yet: no call of its waker so far) */
	CHECK(pthread_mutex_lock(&exec_m) == 0);
	CHECK_EQ(atomic_load(&exec_entered), 0);
	kicked_flush(&k);
	/* s's record says kicked: the monitor calls its waker, which
	 * waits for the mutex */
	wait_event(&exec_entered, NULL, 1, "the monitor called s's waker");
	r = vdm_cancel(&k.s);
	timedout = atomic_load(&exec_timedout);
	calls = atomic_load(&exec_calls);
	live = td_pool_live(k.d); /* the monitor is held in the call */
	CHECK(pthread_mutex_unlock(&exec_m) == 0);
	if (timedout)
		td_fail(__FILE__, __LINE__, "vdm_cancel returned while the "
			"waker's call was blocked on the executor's mutex",
			"it waited for the call (a deadlock, ended by the "
			"waker's timed lock)");
	CHECK_EQ(r, 0);
	CHECK_EQ(calls, 0);
	CHECK(FUTURE_STATE(&k.s) == FUTURE_STATE_COMPLETE);
	CHECK_RES(FUTURE_OUTPUT(&k.s)->result, VDM_ERROR_CANCELLED);
	/* a, c, and s's state, which the running call may still touch */
	CHECK_EQ(live, 3);
	/* the call ends; the monitor then puts s's state back */
	wait_event(&exec_calls, NULL, 1, "the waker's call ended");
	wait_event(NULL, k.d, 2, "s's state back in the pool after the call");
	CHECK_EQ(atomic_load(&exec_timedout), 0);
	ac[0] = k.a;
	ac[1] = k.c;
	kicked_end(&k, ac, 2);
	/* one call: the kick's (the cancel calls no waker) */
	CHECK_EQ(atomic_load(&exec_entered), 1);
	CHECK_EQ(atomic_load(&exec_calls), 1);
}

/* case_cancel_kicked, but s's owner polls it once before the cancel,
 * while neither WQ has room (Q paused again, its only entry taken by a
 * large copy e): that poll leaves s unsent (need_submit), and the cancel
 * must still cancel it, 0 (before: EINPROGRESS, and s ran later). */
static void
case_cancel_noroom(void)
{
	struct kscene k;
	struct vdm_operation_future e, ace[3];

	td_begin("cancel_noroom: a kicked member polled once without room "
		"is cancelled");
	kicked_scene(&k, NULL);
	kicked_flush(&k);
	dsa_emu_pause(k.emu, 0, 1);
	e = vdm_memcpy(data_mover_dsa_get_vdm(k.d), k.dst + 3u * BIG,
		k.src + 3u * BIG, BIG, 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&e), NULL) ==
		FUTURE_STATE_RUNNING);
	CHECK(op_of(&e)->w == k.wq);
	td_wait_received(k.emu, 4);
	/* the poll finds no room for s on P nor Q: nothing sent */
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&k.s), NULL) ==
		FUTURE_STATE_RUNNING);
	CHECK(k.so->pend_w == NULL && !k.so->submitted &&
		k.so->need_submit);
	CHECK_EQ(received(k.emu, -1), 4);
	kicked_cancel(&k, 4); /* a, c, e, s */
	ace[0] = k.a;
	ace[1] = k.c;
	ace[2] = e;
	kicked_end(&k, ace, 3);
}

static const struct {
	const char *name;
	void (*fn)(void);
} cases[] = {
	{ "full_hand", case_full_hand },
	{ "full_round", case_full_round },
	{ "refused", case_refused },
	{ "stale_wqs", case_stale_wqs },
	{ "stale_devs", case_stale_devs },
	{ "cap", case_cap },
	{ "capacity", case_capacity },
	{ "cancel_kicked", case_cancel_kicked },
	{ "cancel_in_call", case_cancel_in_call },
	{ "cancel_noroom", case_cancel_noroom },
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

int
main(int argc, char **argv)
{
	size_t c;
	int a;

	td_enter("test_dsa_place");
	for (a = 1; a < argc; a++) {
		for (c = 0; c < NCASES; c++)
			if (strcmp(argv[a], cases[c].name) == 0)
				break;
		if (c == NCASES) {
			fprintf(stderr, "test_dsa_place: no case %s\n",
				argv[a]);
			return 1;
		}
	}
	rt = runtime_new();
	CHECK(rt != NULL);
	node0 = td_alloc(NODE0_LEN);
	src = td_alloc(SRC_LEN);
	MASYNC__STORE(&masync__test_page_node, page_node, release);
	MASYNC__STORE(&masync__test_cpu_node, my_node, release);
	for (c = 0; c < NCASES; c++) {
		if (argc > 1) {
			for (a = 1; a < argc; a++)
				if (strcmp(argv[a], cases[c].name) == 0)
					break;
			if (a == argc)
				continue;
		}
		cases[c].fn();
	}
	MASYNC__STORE(&masync__test_page_node, (masync__node_fn)NULL, release);
	MASYNC__STORE(&masync__test_cpu_node, (masync__node_fn)NULL, release);
	td_free(node0);
	td_free(src);
	runtime_delete(rt);
	td_log("test_dsa_place: all passed\n");
	return 0;
}
