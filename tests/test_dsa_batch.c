/* test_dsa_batch.c - coalescing small operations into batch descriptors
 * (config batch_max >= 2) on the emulated device. The WQ is paused so that
 * the first operation stays in flight ("the WQ is busy") and the clock is
 * a test clock that only moves when told, so no outcome depends on timing.
 * Proves, from the emulator's counts (received = top-level descriptors,
 * batch_members = descriptors run inside batches, bytes = bytes written):
 * - the operations started in one poll round of runtime_wait_multiple go
 *   as one batch: 32 operations cost 2 descriptors;
 * - batch_max bounds a batch (a full pending batch goes at once);
 * - each member completes and fails on its own: a page fault in one is
 *   resolved for that one alone, a hard error fails only that one, a batch
 *   whose list faults part-way has its unexecuted members resubmitted;
 *   every byte is written exactly once (bytes == the sum of the sizes);
 * - members go without RCR: the device writes a member's record only when
 *   it fails, a successful batch completes all its members from the
 *   batch's record (member_records counts what the device wrote);
 * - a member completed by another member's poll (swept) completes on its
 *   next poll, which still sends a pending batch;
 * - cancelling a pending member removes it (nothing written), and a lone
 *   member goes as a plain descriptor;
 * - a pending batch nobody polls is sent by the monitor thread once it
 *   waited MASYNC__DSA_PEND_NS (td_pend_ns; test clock), so a WAKER never
 *   waits forever; polled with no notifier (nothing armed, the monitor
 *   asleep) the batch goes at the next poll;
 * - on the write() path (DSA 1.0 takes no batches that way) nothing is
 *   coalesced;
 * - threads sharing the mover, each waiting for groups of operations of
 *   mixed sizes: every byte right, each written once, nothing dropped. */
#include "test_dsa_util.h"

static struct runtime *rt;

#define OPSZ 4096
#define NOPS 32

struct ops {
	struct vdm_operation_future f[NOPS];
	unsigned char *src, *dst;
};

static void
ops_make(struct ops *s, struct data_mover_dsa *d, int n, unsigned seed)
{
	int i;

	s->src = td_alloc(OPSZ * NOPS);
	s->dst = td_alloc(OPSZ * NOPS);
	td_pattern(s->src, OPSZ * NOPS, seed);
	memset(s->dst, 0, OPSZ * NOPS);
	for (i = 0; i < n; i++)
		s->f[i] = vdm_memcpy(data_mover_dsa_get_vdm(d),
			s->dst + (size_t)i * OPSZ, s->src + (size_t)i * OPSZ,
			OPSZ, 0);
}

static void
ops_free(struct ops *s)
{
	td_free(s->src);
	td_free(s->dst);
}

static enum future_state
poll1(struct vdm_operation_future *f)
{
	return future_poll(FUTURE_AS_RUNNABLE(f), NULL);
}

static void
wait_n(struct ops *s, int from, int n)
{
	struct future *ff[NOPS];
	int i;

	for (i = 0; i < n; i++)
		ff[i] = FUTURE_AS_RUNNABLE(&s->f[from + i]);
	runtime_wait_multiple(rt, ff, (size_t)n);
}

struct unpause_arg {
	struct dsa_emu *emu;
	uint64_t n;
};

/* resumes the device once it has received n descriptors (pthreads:
 * ThreadSanitizer does not see glibc's thrd_create) */
static void *
unpause_at(void *p)
{
	struct unpause_arg *a = (struct unpause_arg *)p;

	td_wait_received(a->emu, a->n);
	dsa_emu_pause(a->emu, -1, 0);
	return NULL;
}

static struct data_mover_dsa *
mover(unsigned batch_max)
{
	struct data_mover_dsa_config mc = {0};

	mc.batch_max = batch_max;
	return td_mover(&mc);
}

static void
test_wrapped(struct dsa_emu *emu)
{
	struct data_mover_dsa *d = mover(NOPS);
	struct vdm wrapped = td_wrap(data_mover_dsa_get_vdm(d));
	struct future *ff[8];
	struct dsa_emu_stats s;
	struct ops o;
	int i;

	td_begin("a wrapped mover (td_wrap): its coalesced operations "
		"complete");
	dsa_emu_reset_stats(emu);
	ops_make(&o, d, 0, 31);
	for (i = 0; i < 8; i++) {
		o.f[i] = vdm_memcpy(&wrapped, o.dst + (size_t)i * OPSZ,
			o.src + (size_t)i * OPSZ, OPSZ, 0);
		ff[i] = FUTURE_AS_RUNNABLE(&o.f[i]);
	}
	/* hung before: a member's op_check never looked at its batch */
	runtime_wait_multiple(rt, ff, 8);
	for (i = 0; i < 8; i++)
		CHECK_RES(FUTURE_OUTPUT(&o.f[i])->result, VDM_SUCCESS);
	CHECK_PATTERN(o.dst, OPSZ * 8, 0, 31);
	s = td_stats(emu);
	CHECK_EQ(s.ops[DSA_OPCODE_BATCH], 1); /* they were members */
	CHECK_EQ(s.batch_members, 8);
	/* by hand: one started while the WQ is busy joins its batch */
	o.f[0] = vdm_memcpy(data_mover_dsa_get_vdm(d), o.dst, o.src, OPSZ, 0);
	o.f[1] = vdm_memcpy(&wrapped, o.dst + OPSZ, o.src + OPSZ, OPSZ, 0);
	dsa_emu_pause(emu, -1, 1);
	CHECK(poll1(&o.f[0]) == FUTURE_STATE_RUNNING);
	CHECK(poll1(&o.f[1]) == FUTURE_STATE_RUNNING);
	CHECK(td_joined(&o.f[1]));
	dsa_emu_pause(emu, -1, 0);
	CHECK_RES(td_busy(&o.f[0]), VDM_SUCCESS);
	CHECK_RES(td_busy(&o.f[1]), VDM_SUCCESS);
	ops_free(&o);
	data_mover_dsa_delete(d);
}

static void
test_round(struct dsa_emu *emu)
{
	struct data_mover_dsa *d = mover(0 + NOPS);
	struct unpause_arg ua;
	struct dsa_emu_stats s;
	struct td_wq_sum was;
	struct ops o;
	pthread_t t;
	int i;

	td_begin("one poll round of runtime_wait_multiple: one batch");
	dsa_emu_reset_stats(emu);
	was = td_wq_sum(d);
	ops_make(&o, d, NOPS, 1);
	dsa_emu_pause(emu, -1, 1);
	CHECK(poll1(&o.f[0]) == FUTURE_STATE_RUNNING); /* the WQ is busy */
	td_wait_received(emu, 1);
	ua.emu = emu;
	ua.n = 2;
	CHECK(pthread_create(&t, NULL, unpause_at, &ua) == 0);
	wait_n(&o, 0, NOPS);
	CHECK(pthread_join(t, NULL) == 0);
	for (i = 0; i < NOPS; i++)
		CHECK_RES(FUTURE_OUTPUT(&o.f[i])->result, VDM_SUCCESS);
	CHECK_PATTERN(o.dst, OPSZ * NOPS, 0, 1);
	s = td_stats(emu);
	td_log("   %d operations: %llu descriptors, %llu batch members\n",
		NOPS, (unsigned long long)s.received,
		(unsigned long long)s.batch_members);
	CHECK_EQ(s.received, 2);
	CHECK_EQ(s.batch_members, NOPS - 1);
	CHECK_EQ(s.ops[DSA_OPCODE_BATCH], 1);
	CHECK_EQ(s.ops[DSA_OPCODE_MEMMOVE], NOPS);
	CHECK_EQ(s.bytes, (uint64_t)OPSZ * NOPS);
	CHECK_EQ(s.errors, 0);
	/* the mover counted the same (data_mover_dsa_get_wq_info) */
	td_check_wq_sum(d, was, &s);
	CHECK_EQ(td_wq_sum(d).batches - was.batches, 1);
	ops_free(&o);
	data_mover_dsa_delete(d);
}

static void
test_batch_max(struct dsa_emu *emu)
{
	struct data_mover_dsa *d = mover(4);
	struct dsa_emu_stats s;
	struct ops o;
	int i;

	td_begin("batch_max 4: a full pending batch goes at once");
	dsa_emu_reset_stats(emu);
	ops_make(&o, d, 13, 2);
	dsa_emu_pause(emu, -1, 1);
	for (i = 0; i < 13; i++)
		CHECK(poll1(&o.f[i]) == FUTURE_STATE_RUNNING);
	CHECK_EQ(td_npend(d), 0);
	td_wait_received(emu, 4); /* 1 + 3 batches of 4 */
	dsa_emu_pause(emu, -1, 0);
	wait_n(&o, 0, 13);
	for (i = 0; i < 13; i++)
		CHECK_RES(FUTURE_OUTPUT(&o.f[i])->result, VDM_SUCCESS);
	CHECK_PATTERN(o.dst, OPSZ * 13, 0, 2);
	s = td_stats(emu);
	CHECK_EQ(s.received, 4);
	CHECK_EQ(s.batch_members, 12);
	CHECK_EQ(s.bytes, (uint64_t)OPSZ * 13);
	ops_free(&o);
	data_mover_dsa_delete(d);
}

/* op 0 alone, ops 1..n-1 as one batch (flushed by polling op 0) */
static void
start_batch(struct dsa_emu *emu, struct data_mover_dsa *d, struct ops *o,
	int n)
{
	int i;

	dsa_emu_pause(emu, -1, 1);
	for (i = 0; i < n; i++)
		CHECK(poll1(&o->f[i]) == FUTURE_STATE_RUNNING);
	CHECK_EQ(td_npend(d), n - 1);
	CHECK(poll1(&o->f[0]) == FUTURE_STATE_RUNNING); /* flushes */
	CHECK_EQ(td_npend(d), 0);
	td_wait_received(emu, 2);
	dsa_emu_pause(emu, -1, 0);
}

static void
test_member_faults(struct dsa_emu *emu)
{
	struct data_mover_dsa *d = mover(NOPS);
	struct dsa_emu_fault f;
	struct dsa_emu_stats s;
	struct td_wq_sum was;
	struct ops o;
	int i;

	td_begin("a page fault in one member: that one resubmitted alone");
	dsa_emu_reset_stats(emu);
	ops_make(&o, d, 8, 3);
	memset(&f, 0, sizeof(f));
	f.kind = DSA_EMU_FAULT_PAGE_WRITE;
	f.op_mask = DSA_EMU_OP(DSA_OPCODE_MEMMOVE);
	f.skip = 1 + 3; /* op 0, then the batch's 4th member */
	f.bytes_done = 0;
	f.exact = 1;
	td_inject(emu, &f);
	start_batch(emu, d, &o, 8);
	wait_n(&o, 0, 8);
	for (i = 0; i < 8; i++)
		CHECK_RES(FUTURE_OUTPUT(&o.f[i])->result, VDM_SUCCESS);
	CHECK_PATTERN(o.dst, OPSZ * 8, 0, 3);
	s = td_stats(emu);
	CHECK_EQ(s.page_faults, 1);
	CHECK_EQ(s.received, 3); /* op 0, the batch, the one again */
	CHECK_EQ(s.batch_members, 7);
	CHECK_EQ(s.bytes, (uint64_t)OPSZ * 8); /* nothing written twice */
	/* members go without RCR: only the faulting one has a record */
	CHECK_EQ(s.member_records, 1);
	ops_free(&o);
	dsa_emu_clear_faults(emu);

	td_begin("a hard error in one member fails that one only");
	dsa_emu_reset_stats(emu);
	ops_make(&o, d, 8, 4);
	memset(&f, 0, sizeof(f));
	f.kind = DSA_EMU_FAULT_STATUS;
	f.op_mask = DSA_EMU_OP(DSA_OPCODE_MEMMOVE);
	f.skip = 1 + 5; /* op 0 alone, then the batch's 6th member to run */
	f.status = DSA_COMP_HW_ERR1;
	td_inject(emu, &f);
	start_batch(emu, d, &o, 8);
	wait_n(&o, 0, 8);
	{
		/* the 6th member to run (members may run in any order:
		 * DSA_EMU_BATCH_ORDER); list index k is op k + 1 */
		unsigned ran[8], bad;

		CHECK_EQ(dsa_emu_batch_order(emu, -1, ran, 8), 7);
		bad = ran[5] + 1;
		for (i = 0; i < 8; i++) {
			CHECK_RES(FUTURE_OUTPUT(&o.f[i])->result,
				(unsigned)i == bad ? VDM_ERROR_DSA_HARDWARE :
				VDM_SUCCESS);
			if ((unsigned)i != bad)
				CHECK_PATTERN(o.dst + (size_t)i * OPSZ, OPSZ,
					(size_t)i * OPSZ, 4);
		}
	}
	s = td_stats(emu);
	CHECK_EQ(s.received, 2);
	CHECK_EQ(s.batch_members, 7);
	CHECK_EQ(s.member_records, 1);
	CHECK_EQ(s.bytes, (uint64_t)OPSZ * 7);
	ops_free(&o);
	dsa_emu_clear_faults(emu);

	td_begin("the batch's list faults part-way: the rest go alone");
	dsa_emu_reset_stats(emu);
	was = td_wq_sum(d);
	ops_make(&o, d, 8, 5);
	memset(&f, 0, sizeof(f));
	f.kind = DSA_EMU_FAULT_BATCH_LIST;
	f.bytes_done = 3; /* 3 members ran, 4 did not */
	td_inject(emu, &f);
	start_batch(emu, d, &o, 8);
	wait_n(&o, 0, 8);
	for (i = 0; i < 8; i++)
		CHECK_RES(FUTURE_OUTPUT(&o.f[i])->result, VDM_SUCCESS);
	CHECK_PATTERN(o.dst, OPSZ * 8, 0, 5);
	s = td_stats(emu);
	CHECK_EQ(s.faults_injected, 1);
	CHECK_EQ(s.batch_members, 3);
	CHECK_EQ(s.received, 2 + 4);
	CHECK_EQ(s.bytes, (uint64_t)OPSZ * 8);
	/* the 3 that ran (below the batch's count) wrote no record and
	 * were not sent again */
	CHECK_EQ(s.member_records, 0);
	/* the batch's record reported the fault: a page fault for the WQ */
	CHECK_EQ(s.page_faults, 1);
	CHECK_EQ(td_wq_sum(d).faults - was.faults, 1);
	ops_free(&o);
	dsa_emu_clear_faults(emu);
	data_mover_dsa_delete(d);
}

/* Members go without RCR: a successful batch writes one record (its own)
 * and every member completes from it, none sent again; a member cancelled
 * while its batch is in flight cannot be taken back and completes too. */
static void
test_no_member_records(struct dsa_emu *emu)
{
	struct data_mover_dsa *d = mover(NOPS);
	struct dsa_emu_stats s;
	struct ops o;
	int i;

	td_begin("a successful batch: no member record written, all done");
	dsa_emu_reset_stats(emu);
	ops_make(&o, d, NOPS, 9);
	dsa_emu_pause(emu, -1, 1);
	for (i = 0; i < NOPS; i++)
		CHECK(poll1(&o.f[i]) == FUTURE_STATE_RUNNING);
	CHECK(poll1(&o.f[0]) == FUTURE_STATE_RUNNING); /* flushes */
	CHECK_EQ(td_npend(d), 0);
	td_wait_received(emu, 2);
	CHECK_EQ(vdm_cancel(&o.f[5]), EINPROGRESS); /* in the batch */
	dsa_emu_pause(emu, -1, 0);
	wait_n(&o, 0, NOPS);
	for (i = 0; i < NOPS; i++)
		CHECK_RES(FUTURE_OUTPUT(&o.f[i])->result, VDM_SUCCESS);
	CHECK_PATTERN(o.dst, OPSZ * NOPS, 0, 9);
	s = td_stats(emu);
	CHECK_EQ(s.received, 2); /* op 0, the batch of 31 */
	CHECK_EQ(s.batch_members, NOPS - 1);
	CHECK_EQ(s.member_records, 0);
	CHECK_EQ(s.records, 2);
	CHECK_EQ(s.bytes, (uint64_t)OPSZ * NOPS);
	CHECK_EQ(s.cr_not_zero, 0);
	ops_free(&o);
	data_mover_dsa_delete(d);
}

/* A member that another member's poll found done (swept) completes on a
 * short path; a poll of it still sends a pending batch, as any poll of a
 * running operation does. */
static void
test_swept_member(struct dsa_emu *emu)
{
	struct data_mover_dsa *d = mover(NOPS);
	struct dsa_emu_stats s;
	struct ops o;
	int i;

	td_begin("a swept member's poll sends the pending batch");
	dsa_emu_reset_stats(emu);
	ops_make(&o, d, 8, 12);
	start_batch(emu, d, &o, 4); /* op 0 alone, a batch of 3 */
	CHECK_RES(td_busy(&o.f[1]), VDM_SUCCESS); /* sweeps 2 and 3 */
	dsa_emu_pause(emu, -1, 1);
	for (i = 4; i < 8; i++)
		CHECK(poll1(&o.f[i]) == FUTURE_STATE_RUNNING);
	CHECK_EQ(td_npend(d), 3); /* op 4 alone, 5..7 pending */
	CHECK(poll1(&o.f[2]) == FUTURE_STATE_COMPLETE);
	CHECK_EQ(td_npend(d), 0); /* sent by that poll */
	td_wait_received(emu, 4);
	dsa_emu_pause(emu, -1, 0);
	CHECK(poll1(&o.f[3]) == FUTURE_STATE_COMPLETE);
	CHECK_RES(td_busy(&o.f[0]), VDM_SUCCESS);
	wait_n(&o, 4, 4);
	for (i = 0; i < 8; i++)
		CHECK_RES(FUTURE_OUTPUT(&o.f[i])->result, VDM_SUCCESS);
	CHECK_PATTERN(o.dst, OPSZ * 8, 0, 12);
	s = td_stats(emu);
	CHECK_EQ(s.received, 4);
	CHECK_EQ(s.batch_members, 6);
	CHECK_EQ(s.bytes, (uint64_t)OPSZ * 8);
	ops_free(&o);
	data_mover_dsa_delete(d);
}

static void
test_cancel_lone(struct dsa_emu *emu)
{
	struct data_mover_dsa *d = mover(NOPS);
	struct dsa_emu_stats s;
	struct ops o;

	td_begin("cancel a pending member; a lone member goes alone");
	dsa_emu_reset_stats(emu);
	ops_make(&o, d, 3, 6);
	dsa_emu_pause(emu, -1, 1);
	CHECK(poll1(&o.f[0]) == FUTURE_STATE_RUNNING);
	CHECK(poll1(&o.f[1]) == FUTURE_STATE_RUNNING);
	CHECK(poll1(&o.f[2]) == FUTURE_STATE_RUNNING);
	CHECK_EQ(td_npend(d), 2);
	CHECK_EQ(vdm_cancel(&o.f[1]), 0);
	CHECK(FUTURE_STATE(&o.f[1]) == FUTURE_STATE_COMPLETE);
	CHECK_RES(FUTURE_OUTPUT(&o.f[1])->result, VDM_ERROR_CANCELLED);
	CHECK_EQ(td_npend(d), 1);
	CHECK(poll1(&o.f[2]) == FUTURE_STATE_RUNNING); /* flushes: alone */
	CHECK_EQ(td_npend(d), 0);
	CHECK_EQ(vdm_cancel(&o.f[2]), EINPROGRESS);
	td_wait_received(emu, 2);
	dsa_emu_pause(emu, -1, 0);
	CHECK_RES(td_wait(rt, &o.f[0]), VDM_SUCCESS);
	CHECK_RES(td_wait(rt, &o.f[2]), VDM_SUCCESS);
	CHECK_PATTERN(o.dst, OPSZ, 0, 6);
	CHECK_BYTES(o.dst + OPSZ, OPSZ, 0); /* cancelled: not written */
	CHECK_PATTERN(o.dst + 2 * OPSZ, OPSZ, 2 * OPSZ, 6);
	s = td_stats(emu);
	CHECK_EQ(s.received, 2);
	CHECK_EQ(s.batch_members, 0);
	CHECK_EQ(s.bytes, (uint64_t)OPSZ * 2);
	ops_free(&o);
	data_mover_dsa_delete(d);
}

/* A POLLER executor may only watch the record it was given: an operation
 * started with a POLLER notifier must reach the device at once, never
 * wait in a pending batch that nothing would flush. */
static void
test_poller(struct dsa_emu *emu)
{
	struct data_mover_dsa_config mc = {0};
	struct future_notifier n;
	struct data_mover_dsa *d;
	struct dsa_emu_stats s;
	struct ops o;
	int i;

	td_begin("POLLER: no pending batch its executor cannot flush");
	mc.batch_max = NOPS;
	mc.desired_notifier = FUTURE_NOTIFIER_POLLER;
	d = td_mover(&mc);
	dsa_emu_reset_stats(emu);
	ops_make(&o, d, 3, 8);
	dsa_emu_pause(emu, -1, 1);
	for (i = 0; i < 3; i++) {
		memset(&n, 0, sizeof(n));
		CHECK(future_poll(FUTURE_AS_RUNNABLE(&o.f[i]), &n) ==
			FUTURE_STATE_RUNNING);
		CHECK(n.notifier_used == FUTURE_NOTIFIER_POLLER);
		CHECK(n.poller.ptr_to_monitor != NULL);
		CHECK_EQ(td_npend(d), 0);
	}
	/* all three are in the device although the WQ was busy */
	td_wait_received(emu, 3);
	dsa_emu_pause(emu, -1, 0);
	for (i = 0; i < 3; i++)
		CHECK_RES(td_wait(rt, &o.f[i]), VDM_SUCCESS);
	CHECK_PATTERN(o.dst, OPSZ * 3, 0, 8);
	s = td_stats(emu);
	CHECK_EQ(s.received, 3);
	CHECK_EQ(s.batch_members, 0);
	ops_free(&o);

	/* first polled with no notifier, then with a POLLER one: the
	 * word handed out then must be one the device writes (a batch
	 * member's own record is written only when it fails) */
	td_begin("POLLER mover: no batch either for a poll with no notifier");
	dsa_emu_reset_stats(emu);
	ops_make(&o, d, 3, 9);
	dsa_emu_pause(emu, -1, 1);
	for (i = 0; i < 3; i++) {
		CHECK(future_poll(FUTURE_AS_RUNNABLE(&o.f[i]), NULL) ==
			FUTURE_STATE_RUNNING);
		CHECK_EQ(td_npend(d), 0);
	}
	td_wait_received(emu, 3);
	{
		uint64_t *w[3], was[3];
		uint64_t t0;
		int changed = 0;

		for (i = 0; i < 3; i++) {
			memset(&n, 0, sizeof(n));
			CHECK(future_poll(FUTURE_AS_RUNNABLE(&o.f[i]), &n) ==
				FUTURE_STATE_RUNNING);
			CHECK(n.notifier_used == FUTURE_NOTIFIER_POLLER);
			w[i] = n.poller.ptr_to_monitor;
			was[i] = __atomic_load_n(w[i], __ATOMIC_ACQUIRE);
		}
		dsa_emu_pause(emu, -1, 0);
		/* an executor watching the words sees each one change */
		for (t0 = td_now_ns(); changed < 3 && td_now_ns() - t0 <
				td_hang_ns();) {
			for (changed = 0, i = 0; i < 3; i++)
				changed += __atomic_load_n(w[i], __ATOMIC_ACQUIRE) !=
					was[i];
			if (changed < 3)
				td_sleep_us(100);
		}
		CHECK_EQ(changed, 3);
	}
	for (i = 0; i < 3; i++)
		CHECK_RES(td_wait(rt, &o.f[i]), VDM_SUCCESS);
	CHECK_PATTERN(o.dst, OPSZ * 3, 0, 9);
	s = td_stats(emu);
	CHECK_EQ(s.received, 3);
	CHECK_EQ(s.batch_members, 0);
	ops_free(&o);
	data_mover_dsa_delete(d);
}

static atomic_int woken;

static void
wake(void *data)
{
	(void)data;
	atomic_fetch_add(&woken, 1);
}

/* armed: the members are polled with a waker (the monitor is awake for
 * them) and the monitor sends the batch; else with no notifier: nothing
 * is armed, the monitor sleeps (by design: a wake-up per batch cost the
 * caller a system call), and the next poll sends the batch */
static void
test_monitor_flush(struct dsa_emu *emu, int armed)
{
	struct data_mover_dsa *d = mover(NOPS);
	struct future_notifier n, *np = armed ? &n : NULL;
	struct dsa_emu_stats s;
	struct ops o;
	uint64_t t0;

	td_begin(armed ? "a pending batch nobody polls: the monitor sends it" :
		"the same, polled with no notifier: the next poll sends it");
	atomic_store(&woken, 0);
	dsa_emu_reset_stats(emu);
	ops_make(&o, d, 3, 7);
	dsa_emu_pause(emu, -1, 1);
	CHECK(poll1(&o.f[0]) == FUTURE_STATE_RUNNING);
	memset(&n, 0, sizeof(n));
	n.waker.wake = wake;
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&o.f[1]), np) ==
		FUTURE_STATE_RUNNING);
	CHECK(n.notifier_used ==
		(armed ? FUTURE_NOTIFIER_WAKER : FUTURE_NOTIFIER_NONE));
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&o.f[2]), np) ==
		FUTURE_STATE_RUNNING);
	CHECK_EQ(td_npend(d), 2);
	/* the clock stands still: the monitor keeps them for company */
	td_sleep_us(20000);
	CHECK_EQ(td_npend(d), 2);
	td_clock_advance(td_pend_ns());
	if (!armed) {
		td_sleep_us(20000);
		CHECK_EQ(td_npend(d), 2);
		CHECK(poll1(&o.f[0]) == FUTURE_STATE_RUNNING);
	}
	td_wait_received(emu, 2);
	CHECK_EQ(td_npend(d), 0);
	dsa_emu_pause(emu, -1, 0);
	/* the wakers of both members are called on their completion */
	t0 = td_now_ns();
	while (armed && atomic_load(&woken) < 2) {
		CHECK(td_now_ns() - t0 < td_hang_ns());
		td_sleep_us(100);
	}
	CHECK_RES(td_wait(rt, &o.f[0]), VDM_SUCCESS);
	CHECK_RES(td_wait(rt, &o.f[1]), VDM_SUCCESS);
	CHECK_RES(td_wait(rt, &o.f[2]), VDM_SUCCESS);
	CHECK_PATTERN(o.dst, OPSZ * 3, 0, 7);
	s = td_stats(emu);
	CHECK_EQ(s.received, 2);
	CHECK_EQ(s.batch_members, 2);
	ops_free(&o);
	data_mover_dsa_delete(d);
}

#define MT_THREADS 3
#define MT_GROUPS 24
#define MT_GROUP 12
#define MT_MAX 3000

struct mt_arg {
	struct data_mover_dsa *d;
	unsigned seed;
	uint64_t bytes;
};

static void *
mt_thread(void *p)
{
	struct mt_arg *a = (struct mt_arg *)p;
	struct runtime *r = runtime_new();
	unsigned char *src = td_alloc(MT_GROUP * MT_MAX);
	unsigned char *dst = td_alloc(MT_GROUP * MT_MAX);
	struct vdm_operation_future f[MT_GROUP];
	struct future *ff[MT_GROUP];
	size_t len[MT_GROUP];
	int g, i;

	CHECK(r != NULL);
	for (g = 0; g < MT_GROUPS; g++) {
		unsigned seed = a->seed * 1000 + (unsigned)g;

		td_pattern(src, MT_GROUP * MT_MAX, seed);
		memset(dst, 0, MT_GROUP * MT_MAX);
		for (i = 0; i < MT_GROUP; i++) {
			len[i] = 1 + (seed * 7919u + (unsigned)i * 104729u) %
				MT_MAX;
			f[i] = (i % 3 == 2) ?
				vdm_memset(data_mover_dsa_get_vdm(a->d),
				dst + (size_t)i * MT_MAX, 0x5a, len[i], 0) :
				vdm_memcpy(data_mover_dsa_get_vdm(a->d),
				dst + (size_t)i * MT_MAX,
				src + (size_t)i * MT_MAX, len[i], 0);
			ff[i] = FUTURE_AS_RUNNABLE(&f[i]);
			a->bytes += len[i];
		}
		runtime_wait_multiple(r, ff, MT_GROUP);
		for (i = 0; i < MT_GROUP; i++) {
			CHECK_RES(FUTURE_OUTPUT(&f[i])->result, VDM_SUCCESS);
			if (i % 3 == 2)
				CHECK_BYTES(dst + (size_t)i * MT_MAX, len[i],
					0x5a);
			else
				CHECK_PATTERN(dst + (size_t)i * MT_MAX, len[i],
					(size_t)i * MT_MAX, seed);
			CHECK_BYTES(dst + (size_t)i * MT_MAX + len[i],
				MT_MAX - len[i], 0);
		}
	}
	td_free(src);
	td_free(dst);
	runtime_delete(r);
	return NULL;
}

static void
test_threads(struct dsa_emu *emu)
{
	struct data_mover_dsa *d = mover(8);
	struct mt_arg a[MT_THREADS];
	pthread_t t[MT_THREADS];
	struct dsa_emu_stats s;
	uint64_t total = 0;
	int i;

	td_begin("threads sharing a coalescing mover");
	dsa_emu_reset_stats(emu);
	for (i = 0; i < MT_THREADS; i++) {
		a[i].d = d;
		a[i].seed = (unsigned)i + 1;
		a[i].bytes = 0;
		CHECK(pthread_create(&t[i], NULL, mt_thread, &a[i]) == 0);
	}
	for (i = 0; i < MT_THREADS; i++) {
		CHECK(pthread_join(t[i], NULL) == 0);
		total += a[i].bytes;
	}
	s = td_stats(emu);
	td_log("   %d operations: %llu descriptors, %llu batch members\n",
		MT_THREADS * MT_GROUPS * MT_GROUP,
		(unsigned long long)s.received,
		(unsigned long long)s.batch_members);
	CHECK_EQ(s.bytes, total);
	CHECK_EQ(s.dropped, 0);
	CHECK_EQ(s.errors, 0);
	CHECK_EQ(s.ops[DSA_OPCODE_MEMMOVE] + s.ops[DSA_OPCODE_MEMFILL],
		MT_THREADS * MT_GROUPS * MT_GROUP);
	data_mover_dsa_delete(d);
}

static void
test_write_path(void)
{
	struct dsa_emu_config ec = {0};
	struct dsa_emu *emu;
	struct data_mover_dsa *d;
	struct dsa_emu_stats s;
	struct ops o;
	int i;

	td_begin("write() path: no batches");
	ec.fifo = 1;
	emu = td_emu(&ec);
	d = mover(NOPS);
	CHECK(!td_portal(d));
	ops_make(&o, d, 8, 8);
	dsa_emu_pause(emu, -1, 1);
	for (i = 0; i < 8; i++)
		CHECK(poll1(&o.f[i]) == FUTURE_STATE_RUNNING);
	CHECK_EQ(td_npend(d), 0);
	dsa_emu_pause(emu, -1, 0);
	wait_n(&o, 0, 8);
	CHECK_PATTERN(o.dst, OPSZ * 8, 0, 8);
	s = td_stats(emu);
	CHECK_EQ(s.received, 8);
	CHECK_EQ(s.batch_members, 0);
	CHECK_EQ(s.rejected, 0);
	ops_free(&o);
	data_mover_dsa_delete(d);
	dsa_emu_stop(emu);
}

int
main(void)
{
	struct dsa_emu_config ec = {0};
	struct dsa_emu *emu;
	struct data_mover_dsa *d;

	td_enter("test_dsa_batch");
	rt = runtime_new();
	CHECK(rt != NULL);
	td_clock_fake(1000000000ull, 0);
	ec.wq_size = 64; /* a portal; trapped where the CPU has no MOVDIR64B */
	emu = td_emu(&ec);
	d = mover(NOPS);
	CHECK(td_portal(d));
	data_mover_dsa_delete(d);
	test_round(emu);
	test_wrapped(emu);
	test_batch_max(emu);
	test_member_faults(emu);
	test_no_member_records(emu);
	test_swept_member(emu);
	test_cancel_lone(emu);
	test_poller(emu);
	test_monitor_flush(emu, 1);
	test_monitor_flush(emu, 0);
	test_threads(emu);
	dsa_emu_stop(emu);
	test_write_path();
	td_clock_real();
	runtime_delete(rt);
	td_log("test_dsa_batch: all passed\n");
	return 0;
}
