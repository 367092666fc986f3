/* test_dsa_wake.c - what a coalesced batch costs the waiting side: one
 * wake-up per batch, and one lock for a batch's worth of completions.
 * The emulator runs with a trapped portal (each MOVDIR64B goes to it
 * through the mover's test hook, so this runs the same natively and under
 * valgrind, whatever the CPU), a slow device (bytes_per_us) so the
 * members of a batch complete far apart, and a test clock that does not
 * move (no timeout, no monitor flush); no outcome depends on timing.
 * Proves:
 * - the waker of a batch member is called only once the whole batch is
 *   done (the emulator has disposed of every descriptor when it runs),
 *   not at its own record: one wake-up per batch; each member then
 *   completes on its first poll; also when one member fails (its waker
 *   comes with the others', its own result is the error);
 * - the first member polled to completion detaches the others whose
 *   records were written (they complete with no lock on the WQ);
 * - a member waiting in a batch in flight is polled, and re-armed, without
 *   taking the WQ's lock or the monitor's (white box: both held by the
 *   test's main thread while another polls);
 * - members sharing one waker (a runtime's) get one call for the batch,
 *   not one each; another waker seen in the same scan gets its own (the
 *   monitor is held on its lock until every record is written, so one
 *   scan sees them all);
 * - a device that stopped answering: a waker-driven owner is told once
 *   the timeout passed (the next poll fails it with VDM_ERROR_TIMEOUT),
 *   also for an operation in a pending batch that can never be sent
 *   (every entry of the WQ held by lost descriptors);
 * - an executor that polls under its own mutex, which its waker takes:
 *   the poll that meets the completion while the monitor's call of that
 *   waker runs (blocked on the mutex) does not wait for the call (which
 *   deadlocked): it reports RUNNING with the poller's waker registered,
 *   the end of the running call calls it, and the next poll completes;
 * - the same executor's poll that finds no room for the operation's next
 *   part (another operation took the WQ's only entry) while the monitor's
 *   call of its waker is blocked on the mutex does not wait for that call
 *   either (it deadlocked): RUNNING, notifier_used NONE (poll again), and
 *   the operation then completes; so does its poll of a copy split with
 *   the CPU whose device part completed while the CPU part (held at a
 *   gate on cpu_vdm) still runs: RUNNING, its waker handed to the CPU
 *   part, whose end calls it. */
#include "test_dsa_util.h"

#define OPSZ 4096
#define NOPS 8

static struct dsa_emu *emu;

struct slot {
	atomic_int calls;
	atomic_int first;
	atomic_int all_done; /* at its first call, every descriptor was done */
	uint64_t received, processed; /* the emulator's, at the first call */
};

static struct slot slots[NOPS];
/* 1: members 1.. all get slots[1]'s waker; 2: share_rt's runtime waker */
static int share;
static struct runtime *share_rt;

static void
on_wake(void *data)
{
	struct slot *s = (struct slot *)data;
	struct dsa_emu_stats st;

	/* the emulator counts a descriptor before writing its record: a
	 * batch whose record was written is counted in processed */
	dsa_emu_get_stats(emu, -1, &st);
	/* calls counts last: the test reads all_done once calls moved (a
	 * count before the store let it read a 0 the call was about to
	 * overwrite: CI, once, under TSan) */
	if (atomic_exchange(&s->first, 1) == 0) {
		s->received = st.received;
		s->processed = st.processed;
		atomic_store(&s->all_done, st.processed == st.received);
	}
	atomic_fetch_add(&s->calls, 1);
}

static void
notifier(struct future_notifier *n, int i)
{
	memset(n, 0, sizeof(*n));
	n->waker.data = &slots[share && i > 0 ? 1 : i];
	n->waker.wake = on_wake;
	if (share == 2 && i > 0) {
		n->waker.data = share_rt;
		n->waker.wake = masync__runtime_wake;
	}
}

static struct masync__dsa_op *
state_of(struct vdm_operation_future *f)
{
	return (struct masync__dsa_op *)f->data.data;
}

/* op 0 alone, ops 1..NOPS-1 as one batch, each armed with its waker; the
 * device paused until both descriptors are in */
static void
start(struct data_mover_dsa *d, struct vdm_operation_future *f,
	unsigned char *dst, const unsigned char *src)
{
	struct future_notifier n;
	int i;

	memset(slots, 0, sizeof(slots));
	dsa_emu_pause(emu, -1, 1);
	for (i = 0; i < NOPS; i++) {
		f[i] = vdm_memcpy(data_mover_dsa_get_vdm(d),
			dst + (size_t)i * OPSZ,
			(void *)(src + (size_t)i * OPSZ), OPSZ, 0);
		notifier(&n, i);
		CHECK(future_poll(FUTURE_AS_RUNNABLE(&f[i]), &n) ==
			FUTURE_STATE_RUNNING);
		CHECK(n.notifier_used == FUTURE_NOTIFIER_WAKER);
	}
	CHECK_EQ(td_npend(d), NOPS - 1);
	notifier(&n, 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f[0]), &n) ==
		FUTURE_STATE_RUNNING); /* flushes the pending batch */
	CHECK_EQ(td_npend(d), 0);
	td_wait_received(emu, 2);
}

/* every member completes on this poll, successfully, its bytes copied
 * (the pattern `seed` of start()'s source) */
static void
check_all_done(struct vdm_operation_future *f, const unsigned char *dst,
	unsigned seed)
{
	int i;

	for (i = 0; i < NOPS; i++) {
		CHECK(future_poll(FUTURE_AS_RUNNABLE(&f[i]), NULL) ==
			FUTURE_STATE_COMPLETE);
		CHECK_RES(FUTURE_OUTPUT(&f[i])->result, VDM_SUCCESS);
	}
	CHECK_PATTERN(dst, OPSZ * NOPS, 0, seed);
}

/* until the wakers of slots [0, n) were called (a lost wake-up fails here) */
static void
wait_wakers(int n)
{
	uint64_t t0 = td_now_ns();
	int i, all;

	do {
		for (i = 0, all = 1; i < n; i++)
			if (atomic_load(&slots[i].calls) == 0)
				all = 0;
		if (all)
			return;
		if (td_now_ns() - t0 > td_hang_ns())
			td_fail(__FILE__, __LINE__, "every waker called",
				NULL);
		td_sleep_us(500);
	} while (1);
}

static void
test_one_wake(struct data_mover_dsa *d, int fail_member)
{
	struct vdm_operation_future f[NOPS];
	unsigned char *src = td_alloc(OPSZ * NOPS), *dst = td_alloc(OPSZ * NOPS);
	struct dsa_emu_stats s;
	int i;

	td_pattern(src, OPSZ * NOPS, 11);
	memset(dst, 0, OPSZ * NOPS);
	dsa_emu_reset_stats(emu);
	if (fail_member > 0) {
		struct dsa_emu_fault flt;

		memset(&flt, 0, sizeof(flt));
		flt.kind = DSA_EMU_FAULT_STATUS;
		flt.op_mask = DSA_EMU_OP(DSA_OPCODE_MEMMOVE);
		flt.skip = (unsigned)fail_member; /* op 0, then members as run */
		flt.status = DSA_COMP_HW_ERR1;
		td_inject(emu, &flt);
	}
	start(d, f, dst, src);
	/* members complete ~4 ms apart: a waker called at its own record
	 * would run while later members are still to come */
	dsa_emu_pause(emu, -1, 0);
	wait_wakers(NOPS);
	for (i = 1; i < NOPS; i++) {
		if (!atomic_load(&slots[i].all_done))
			td_log("   member %d woken before its batch ended "
				"(received %llu, processed %llu)\n", i,
				(unsigned long long)slots[i].received,
				(unsigned long long)slots[i].processed);
		CHECK(atomic_load(&slots[i].all_done));
	}
	if (fail_member > 0) {
		/* the fail_member-th member to run (members may run in any
		 * order: DSA_EMU_BATCH_ORDER); list index k is op k + 1 */
		unsigned ran[NOPS];

		CHECK_EQ(dsa_emu_batch_order(emu, -1, ran, NOPS), NOPS - 1);
		fail_member = (int)ran[fail_member - 1] + 1;
	}
	/* each member completes on its first poll, with its own result */
	for (i = 0; i < NOPS; i++) {
		CHECK(future_poll(FUTURE_AS_RUNNABLE(&f[i]), NULL) ==
			FUTURE_STATE_COMPLETE);
		CHECK_RES(FUTURE_OUTPUT(&f[i])->result, i == fail_member ?
			VDM_ERROR_DSA_HARDWARE : VDM_SUCCESS);
		if (i != fail_member)
			CHECK_PATTERN(dst + (size_t)i * OPSZ, OPSZ,
				(size_t)i * OPSZ, 11);
	}
	s = td_stats(emu);
	CHECK_EQ(s.received, 2);
	CHECK_EQ(s.batch_members, NOPS - 1);
	dsa_emu_clear_faults(emu);
	td_free(src);
	td_free(dst);
}

/* Runs fn(arg) on another thread while this one holds the WQ's lock
 * (and the monitor's, with mlock): fn must finish without either; a
 * regression that takes one fails here instead of hanging. */
struct locked_run {
	void (*fn)(void *);
	void *arg;
	atomic_int done;
};

static void *
locked_thread(void *p)
{
	struct locked_run *r = (struct locked_run *)p;

	r->fn(r->arg);
	atomic_store(&r->done, 1);
	return NULL;
}

static void
run_locked(struct data_mover_dsa *d, int mlock, void (*fn)(void *),
	void *arg)
{
	struct locked_run r;
	pthread_t t;
	uint64_t t0 = td_now_ns();

	r.fn = fn;
	r.arg = arg;
	atomic_init(&r.done, 0);
	masync__qlock_take(&d->q[0].qlock);
	if (mlock)
		masync__mtx_lock(&d->mlock);
	CHECK(pthread_create(&t, NULL, locked_thread, &r) == 0);
	while (!atomic_load(&r.done)) {
		if (td_now_ns() - t0 > td_hang_ns())
			td_fail(__FILE__, __LINE__, "done without the locks",
				"it waits for a lock this thread holds");
		td_sleep_us(200);
	}
	if (mlock)
		masync__mtx_unlock(&d->mlock);
	masync__qlock_give(&d->q[0].qlock);
	CHECK(pthread_join(t, NULL) == 0);
}

static void
complete_middle(void *p)
{
	struct vdm_operation_future *f = (struct vdm_operation_future *)p;
	int i;

	for (i = 1; i < NOPS - 1; i++) {
		CHECK(future_poll(FUTURE_AS_RUNNABLE(&f[i]), NULL) ==
			FUTURE_STATE_COMPLETE);
		CHECK_RES(FUTURE_OUTPUT(&f[i])->result, VDM_SUCCESS);
	}
}

static void
poll_members_armed(void *p)
{
	struct vdm_operation_future *f = (struct vdm_operation_future *)p;
	struct future_notifier n;
	int i;

	for (i = 1; i < NOPS; i++) {
		notifier(&n, i);
		CHECK(future_poll(FUTURE_AS_RUNNABLE(&f[i]), &n) ==
			FUTURE_STATE_RUNNING);
		CHECK(n.notifier_used == FUTURE_NOTIFIER_WAKER);
	}
}

static void
test_sweep(struct data_mover_dsa *d)
{
	struct vdm_operation_future f[NOPS];
	unsigned char *src = td_alloc(OPSZ * NOPS), *dst = td_alloc(OPSZ * NOPS);
	int i;

	td_begin("the first member polled done detaches the others");
	td_pattern(src, OPSZ * NOPS, 12);
	memset(dst, 0, OPSZ * NOPS);
	dsa_emu_reset_stats(emu);
	start(d, f, dst, src);
	dsa_emu_pause(emu, -1, 0);
	wait_wakers(NOPS); /* the batch is done */
	for (i = 1; i < NOPS; i++)
		CHECK(!MASYNC__LOAD(&state_of(&f[i])->swept, relaxed));
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f[NOPS - 1]), NULL) ==
		FUTURE_STATE_COMPLETE);
	for (i = 1; i < NOPS - 1; i++) {
		CHECK(MASYNC__LOAD(&state_of(&f[i])->swept, relaxed));
		CHECK(state_of(&f[i])->bat == NULL);
	}
	/* the rest complete without the WQ's lock */
	run_locked(d, 0, complete_middle, f);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f[0]), NULL) ==
		FUTURE_STATE_COMPLETE);
	CHECK_PATTERN(dst, OPSZ * NOPS, 0, 12);
	td_settle(emu);
	td_free(src);
	td_free(dst);
}

static void
test_no_lock_waiting(struct data_mover_dsa *d)
{
	struct vdm_operation_future f[NOPS];
	unsigned char *src = td_alloc(OPSZ * NOPS), *dst = td_alloc(OPSZ * NOPS);

	td_begin("a waiting member: polled and re-armed with no lock");
	td_pattern(src, OPSZ * NOPS, 13);
	memset(dst, 0, OPSZ * NOPS);
	dsa_emu_reset_stats(emu);
	start(d, f, dst, src); /* the device stays paused */
	run_locked(d, 1, poll_members_armed, f);
	dsa_emu_pause(emu, -1, 0);
	wait_wakers(NOPS);
	check_all_done(f, dst, 13);
	td_settle(emu);
	td_free(src);
	td_free(dst);
}

/* the monitor has taken (called or merged) every registered waker and no
 * call runs: nothing it does later can change the counts */
static int
kicks_over(struct data_mover_dsa *d, struct vdm_operation_future *f)
{
	int i, quiet;

	masync__mtx_lock(&d->mlock);
	quiet = d->armed == NULL;
	masync__mtx_unlock(&d->mlock);
	for (i = 0; i < NOPS; i++)
		if (MASYNC__LOAD(&state_of(&f[i])->sig.word, acquire) &
				(MASYNC__S_WAKER | MASYNC__S_CALLS |
				MASYNC__S_LOCK))
			quiet = 0;
	return quiet;
}

static void
test_one_call(struct data_mover_dsa *d, int how)
{
	struct vdm_operation_future f[NOPS];
	unsigned char *src = td_alloc(OPSZ * NOPS), *dst = td_alloc(OPSZ * NOPS);
	uint64_t t0, gen0 = 0;
	int i, done;

	td_begin(how == 2 ? "members sharing a runtime's waker: one call for "
		"the batch" : "members sharing a user's waker: one call each");
	share_rt = runtime_new();
	CHECK(share_rt != NULL);
	td_pattern(src, OPSZ * NOPS, 14);
	memset(dst, 0, OPSZ * NOPS);
	dsa_emu_reset_stats(emu);
	share = how;
	start(d, f, dst, src);
	share = 0;
	gen0 = MASYNC__LOAD(&share_rt->gen, acquire);
	/* the monitor waits on its lock until both records are written */
	masync__mtx_lock(&d->mlock);
	dsa_emu_pause(emu, -1, 0);
	t0 = td_now_ns();
	do {
		if (td_now_ns() - t0 > td_hang_ns())
			td_fail(__FILE__, __LINE__, "both records written",
				NULL);
		td_sleep_us(500);
		done = masync__dsa_status(MASYNC__LOAD(
			&state_of(&f[0])->watch, acquire)) != 0;
		for (i = 1; i < NOPS; i++)
			if (masync__dsa_status(MASYNC__LOAD(
					&state_of(&f[i])->watch, acquire)) == 0)
				done = 0;
	} while (!done);
	masync__mtx_unlock(&d->mlock);
	t0 = td_now_ns();
	while (!kicks_over(d, f)) {
		if (td_now_ns() - t0 > td_hang_ns())
			td_fail(__FILE__, __LINE__, "every waker taken", NULL);
		td_sleep_us(500);
	}
	CHECK_EQ(atomic_load(&slots[0].calls), 1);
	if (how == 2) {
		/* one "poll again" for the runtime, not NOPS - 1 */
		CHECK_EQ(MASYNC__LOAD(&share_rt->gen, acquire) - gen0, 1);
		CHECK_EQ(atomic_load(&slots[1].calls), 0);
	} else {
		/* API.md: each future's task calls its waker */
		CHECK_EQ(atomic_load(&slots[1].calls), NOPS - 1);
		CHECK(atomic_load(&slots[1].all_done));
	}
	check_all_done(f, dst, 14);
	td_settle(emu);
	runtime_delete(share_rt);
	share_rt = NULL;
	td_free(src);
	td_free(dst);
}

/* masync__signal_kick_all (white box): one call per distinct waker; each
 * signal with it holds a CALL across that call, and a registration made
 * during the call is left for a later kick */
static struct masync__signal ka[4];
static int ka_calls[2], ka_held, ka_rearm;

static void
ka_wake(void *data)
{
	int w = (int)(intptr_t)data, i;

	ka_calls[w]++;
	for (i = 0; i < 3; i++) /* ka[0..2] share waker 0 */
		if (w == 0 && (MASYNC__LOAD(&ka[i].word, relaxed) &
				MASYNC__S_CALLS) != 0)
			ka_held++;
	if (w == 0 && ka_rearm) {
		struct future_notifier n;

		memset(&n, 0, sizeof(n));
		n.waker.wake = ka_wake;
		n.waker.data = (void *)(intptr_t)0;
		CHECK_EQ(masync__signal_register(&ka[1], &n,
			FUTURE_NOTIFIER_WAKER, NULL), 0);
	}
}

static void
test_kick_all(void)
{
	struct masync__signal *s[5];
	int i, rearm;

	td_begin("kick_all: one call per distinct mergeable waker");
	MASYNC__STORE(&masync__test_merge_wake, ka_wake, release);
	for (rearm = 0; rearm < 2; rearm++) {
		for (i = 0; i < 4; i++) {
			struct future_notifier n;

			masync__signal_reset(&ka[i]);
			memset(&n, 0, sizeof(n));
			n.waker.wake = ka_wake;
			n.waker.data = (void *)(intptr_t)(i == 2 ? 1 : 0);
			if (i == 1)
				n.waker.data = (void *)(intptr_t)0;
			if (i == 3)
				continue; /* nothing registered */
			CHECK_EQ(masync__signal_register(&ka[i], &n,
				FUTURE_NOTIFIER_WAKER, NULL), 0);
		}
		/* ka[0], ka[1]: waker 0; ka[2]: waker 1; ka[3]: none */
		memset(ka_calls, 0, sizeof(ka_calls));
		ka_held = 0;
		ka_rearm = rearm;
		s[0] = &ka[3];
		s[1] = &ka[0];
		s[2] = &ka[2];
		s[3] = &ka[1];
		masync__signal_kick_all(s, 4);
		CHECK_EQ(ka_calls[0], 1);
		CHECK_EQ(ka_calls[1], 1);
		CHECK_EQ(ka_held, 2); /* ka[0] and ka[1] during the call */
		for (i = 0; i < 4; i++) {
			uint64_t w = MASYNC__LOAD(&ka[i].word, relaxed);

			CHECK_EQ(w & (MASYNC__S_CALLS | MASYNC__S_LOCK), 0);
			/* only the registration made during the call stays */
			CHECK_EQ((w & MASYNC__S_WAKER) != 0, rearm && i == 1);
		}
		/* ... and the next kick calls it */
		masync__signal_kick_all(s, 4);
		CHECK_EQ(ka_calls[0], 1 + rearm);
		CHECK_EQ(ka_calls[1], 1);
	}
	/* a user's waker is not merged: one call per signal */
	MASYNC__STORE(&masync__test_merge_wake, (future_waker_wake_fn)NULL,
		release);
	for (i = 0; i < 3; i++) {
		struct future_notifier n;

		masync__signal_reset(&ka[i]);
		memset(&n, 0, sizeof(n));
		n.waker.wake = ka_wake;
		n.waker.data = (void *)(intptr_t)1;
		CHECK_EQ(masync__signal_register(&ka[i], &n,
			FUTURE_NOTIFIER_WAKER, NULL), 0);
		s[i] = &ka[i];
	}
	memset(ka_calls, 0, sizeof(ka_calls));
	ka_rearm = 0;
	masync__signal_kick_all(s, 3);
	CHECK_EQ(ka_calls[1], 3);
}

/* A device that stopped answering (no record is ever written), with a
 * waker-driven owner that polls only when told: the waker is called once
 * the timeout passed, and the poll then fails the operation with
 * VDM_ERROR_TIMEOUT (before, nothing told it: it waited for good).
 * Then, every entry of the dedicated WQ held by lost descriptors: a
 * small operation waiting in the pending batch, which the monitor's flush
 * can never send, has its waker called too, and times out. The mover's
 * clock is the test's (it moves only when the test says). */
static void
test_dead_device(void)
{
	struct dsa_emu_config ec = {0};
	struct data_mover_dsa_config mc = {0};
	struct dsa_emu_fault fl;
	struct data_mover_dsa *d;
	struct vdm_operation_future big[2], f;
	struct future_notifier n;
	unsigned char *src = td_alloc(1 << 20), *dst = td_alloc(1 << 20);
	const uint64_t tmo = 100000000; /* 100 ms of the test's clock */
	int i;

	td_begin("a dead device: the waker is told when the timeout passed");
	td_clock_fake(1000000000ull, 0);
	ec.wq_size = 2;
	emu = td_emu(&ec);
	mc.timeout_ns = tmo;
	mc.batch_max = NOPS;
	d = td_mover(&mc);
	memset(&fl, 0, sizeof(fl));
	fl.kind = DSA_EMU_FAULT_NO_COMPLETION;
	fl.count = -1;
	td_inject(emu, &fl);
	memset(slots, 0, sizeof(slots));
	f = vdm_memcpy(data_mover_dsa_get_vdm(d), dst, src, OPSZ, 0);
	notifier(&n, 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), &n) ==
		FUTURE_STATE_RUNNING);
	CHECK(n.notifier_used == FUTURE_NOTIFIER_WAKER);
	td_wait_received(emu, 1);
	td_clock_advance(tmo + 1000000);
	wait_wakers(1);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), NULL) ==
		FUTURE_STATE_COMPLETE);
	CHECK_RES(FUTURE_OUTPUT(&f)->result, VDM_ERROR_TIMEOUT);

	td_begin("... and when a pending batch can never be sent");
	for (i = 0; i < 2; i++) { /* the other entry; each goes alone */
		big[i] = vdm_memcpy(data_mover_dsa_get_vdm(d),
			dst + 65536 + (size_t)i * 262144,
			src + 65536 + (size_t)i * 262144, 262144, 0);
		(void)future_poll(FUTURE_AS_RUNNABLE(&big[i]), NULL);
	}
	td_clock_advance(tmo + 1000000);
	for (i = 0; i < 2; i++) {
		if (FUTURE_STATE(&big[i]) != FUTURE_STATE_COMPLETE)
			CHECK(future_poll(FUTURE_AS_RUNNABLE(&big[i]), NULL) ==
				FUTURE_STATE_COMPLETE);
		CHECK_RES(FUTURE_OUTPUT(&big[i])->result, VDM_ERROR_TIMEOUT);
	}
	/* both entries held by lost descriptors: a small one waits in the
	 * pending batch (the WQ is busy) */
	memset(slots, 0, sizeof(slots));
	f = vdm_memcpy(data_mover_dsa_get_vdm(d), dst + 4 * OPSZ,
		src + 4 * OPSZ, OPSZ, 0);
	notifier(&n, 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), &n) ==
		FUTURE_STATE_RUNNING);
	CHECK(n.notifier_used == FUTURE_NOTIFIER_WAKER);
	CHECK_EQ(td_npend(d), 1);
	/* old enough for the monitor's flush, which finds no room ever */
	td_clock_advance(2 * MASYNC__DSA_PEND_NS);
	wait_wakers(1);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), NULL) ==
		FUTURE_STATE_COMPLETE);
	CHECK_RES(FUTURE_OUTPUT(&f)->result, VDM_ERROR_TIMEOUT);
	data_mover_dsa_delete(d);
	dsa_emu_stop(emu);
	td_clock_real();
	td_free(src);
	td_free(dst);
}

/* An executor that polls while holding its own mutex, and whose waker
 * takes that mutex (miniasync.h, WAKERS: a waker may take locks, also one
 * its executor holds while polling; a poll that meets a completion whose
 * wake call still runs reports "not complete" rather than wait for it,
 * and its waker is called again when that call returns). Events are
 * ordered by the device's pause and by flags, never by sleeping: the
 * monitor's call of the waker is known to run (it said so), and it
 * cannot end without the mutex, when the executor polls under it. The
 * waker's lock is timed (EXEC_LOCK_S, far beyond anything the passing
 * run waits for) only so that a poll which waits for the call (the
 * deadlock) makes the test fail instead of hang: the verdict is that the
 * lock never timed out and that the poll returned while the call was
 * still blocked. */
#define EXEC_LOCK_S (10 * (int)td_slow())

struct exec_lock {
	pthread_mutex_t m;
	atomic_int entered;   /* calls of the waker begun */
	atomic_int calls;     /* ... and ended */
	atomic_int timedout;  /* a call gave up on the mutex */
	atomic_int polled;    /* the poll under the mutex returned */
	atomic_int polled_at_first_end; /* `polled` when the first call ended */
};

static void exec_wake(void *data);

/* e's mutex and counts, and a notifier n whose waker is exec_wake(e) */
static void
exec_lock_init(struct exec_lock *e, struct future_notifier *n)
{
	CHECK(pthread_mutex_init(&e->m, NULL) == 0);
	atomic_init(&e->entered, 0);
	atomic_init(&e->calls, 0);
	atomic_init(&e->timedout, 0);
	atomic_init(&e->polled, 0);
	atomic_init(&e->polled_at_first_end, 0);
	memset(n, 0, sizeof(*n));
	n->waker.data = e;
	n->waker.wake = exec_wake;
}

static void
exec_wake(void *data)
{
	struct exec_lock *e = (struct exec_lock *)data;
	struct timespec ts;

	atomic_fetch_add(&e->entered, 1);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += EXEC_LOCK_S;
	if (pthread_mutex_timedlock(&e->m, &ts) == 0)
		pthread_mutex_unlock(&e->m);
	else
		atomic_store(&e->timedout, 1);
	if (atomic_load(&e->calls) == 0)
		atomic_store(&e->polled_at_first_end,
			atomic_load(&e->polled));
	atomic_fetch_add(&e->calls, 1); /* last: the test reads the rest */
}

/* The executor's poll of f with a fresh notifier n whose waker is
 * exec_wake(e), under e's mutex (held by the caller) while the monitor's
 * call of that waker waits for it; then the mutex is let go. A poll that
 * waited for the call fails the test (the waker's timed lock ended the
 * deadlock). *calls (if not NULL): the calls ended when it returned. */
static enum future_state
exec_poll_held(struct exec_lock *e, struct future_notifier *n,
	struct future *f, int *calls)
{
	enum future_state st;
	int timedout;

	memset(n, 0, sizeof(*n));
	n->waker.data = e;
	n->waker.wake = exec_wake;
	st = future_poll(f, n);
	atomic_store(&e->polled, 1);
	timedout = atomic_load(&e->timedout);
	if (calls != NULL)
		*calls = atomic_load(&e->calls);
	CHECK(pthread_mutex_unlock(&e->m) == 0);
	if (timedout)
		td_fail(__FILE__, __LINE__, "the poll returned while the "
			"waker's call was blocked on the executor's mutex",
			"it waited for the call (a deadlock, ended by the "
			"waker's timed lock)");
	return st;
}

/* until *v >= n (a bounded wait: a lost call fails here) */
static void
wait_count(atomic_int *v, int n, const char *what)
{
	uint64_t t0 = td_now_ns();

	while (atomic_load(v) < n) {
		if (td_now_ns() - t0 > td_hang_ns())
			td_fail(__FILE__, __LINE__, what, "never happened");
		td_sleep_us(200);
	}
}

static void
test_waker_takes_executor_lock(void)
{
	struct data_mover_dsa *d;
	struct vdm_operation_future f;
	struct future_notifier n;
	struct exec_lock e;
	enum future_state st;
	unsigned char *src = td_alloc(OPSZ), *dst = td_alloc(OPSZ);

	td_begin("a waker that takes the executor's lock: a poll under it "
		"does not wait for the running call");
	/* the mover's clock stands still: no timeout kick comes between */
	td_clock_fake(1000000000ull, 0);
	emu = td_emu(NULL);
	d = td_mover(NULL);
	td_pattern(src, OPSZ, 15);
	memset(dst, 0, OPSZ);
	exec_lock_init(&e, &n);

	dsa_emu_pause(emu, -1, 1);
	f = vdm_memcpy(data_mover_dsa_get_vdm(d), dst, src, OPSZ, 0);
	/* the executor polls under its mutex, always */
	CHECK(pthread_mutex_lock(&e.m) == 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), &n) ==
		FUTURE_STATE_RUNNING);
	CHECK(n.notifier_used == FUTURE_NOTIFIER_WAKER);
	dsa_emu_pause(emu, -1, 0);
	/* the record is written: the monitor calls the waker, which
	 * waits for the mutex this thread holds */
	wait_count(&e.entered, 1, "the monitor called the waker");
	CHECK_EQ(atomic_load(&e.calls), 0);
	st = exec_poll_held(&e, &n, FUTURE_AS_RUNNABLE(&f), NULL);
	/* not complete yet: the call runs; its end calls the waker the
	 * poll registered (the record is written: no other call) */
	CHECK(st == FUTURE_STATE_RUNNING);
	CHECK(n.notifier_used == FUTURE_NOTIFIER_WAKER);
	wait_count(&e.calls, 2, "the waker registered during the call "
		"called at its end");
	CHECK_EQ(atomic_load(&e.polled_at_first_end), 1);
	CHECK_EQ(atomic_load(&e.timedout), 0);
	/* then the poll completes it */
	CHECK(pthread_mutex_lock(&e.m) == 0);
	st = future_poll(FUTURE_AS_RUNNABLE(&f), &n);
	CHECK(pthread_mutex_unlock(&e.m) == 0);
	CHECK(st == FUTURE_STATE_COMPLETE);
	CHECK_RES(FUTURE_OUTPUT(&f)->result, VDM_SUCCESS);
	CHECK_PATTERN(dst, OPSZ, 0, 15);
	CHECK(td_guards_ok(dst, OPSZ));
	/* reported complete with no call running: no call comes later */
	CHECK_EQ(atomic_load(&e.entered), 2);
	CHECK_EQ(atomic_load(&e.calls), 2);
	CHECK_EQ(td_stats(emu).received, 1);
	CHECK_EQ(td_pool_live(d), 0);
	data_mover_dsa_delete(d);
	dsa_emu_stop(emu);
	td_clock_real();
	CHECK_EQ(atomic_load(&e.calls), 2);
	pthread_mutex_destroy(&e.m);
	td_free(src);
	td_free(dst);
}

/* The same executor, and an operation of two parts on a WQ of one entry
 * (write() submission: one part at a time). The first part completes and
 * the monitor's call of the waker blocks on the executor's mutex; another
 * operation takes the WQ's only entry. The executor's poll, under its
 * mutex with its waker, finds no room for the second part: it returns at
 * once, RUNNING with notifier_used NONE (nothing wakes for room: poll
 * again), and does not wait for the running call (which deadlocked, as
 * the completion's poll did before e0d94d5). */
static void
test_waker_takes_executor_lock_noroom(void)
{
	struct dsa_emu_config ec = {0};
	struct data_mover_dsa_config mc = {0};
	struct data_mover_dsa *d;
	struct vdm_operation_future f[2];
	struct future *ff[2];
	struct future_notifier n;
	struct exec_lock e;
	struct runtime *r;
	struct dsa_emu_stats es;
	enum future_state st;
	unsigned char *src = td_alloc(3 * OPSZ), *dst = td_alloc(3 * OPSZ);
	int calls;

	td_begin("a waker that takes the executor's lock: a poll under it "
		"that finds no room does not wait for the running call");
	td_clock_fake(td_coarse_ns(), 0); /* no timeout kick between */
	ec.wq_size = 1;
	ec.max_transfer_size = OPSZ; /* f[0] (2 * OPSZ) goes in two parts */
	ec.fifo = 1; /* write(): no batch of parts */
	emu = td_emu(&ec);
	d = td_mover(&mc);
	CHECK(d->have_monitor);
	CHECK(!td_portal(d));
	td_pattern(src, 3 * OPSZ, 16);
	memset(dst, 0, 3 * OPSZ);
	exec_lock_init(&e, &n);

	dsa_emu_pause(emu, -1, 1);
	f[0] = vdm_memcpy(data_mover_dsa_get_vdm(d), dst, src, 2 * OPSZ, 0);
	CHECK(pthread_mutex_lock(&e.m) == 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f[0]), &n) ==
		FUTURE_STATE_RUNNING);
	CHECK(n.notifier_used == FUTURE_NOTIFIER_WAKER);
	td_wait_received(emu, 1);
	/* the first part completes, the device pauses again */
	dsa_emu_pause(emu, -1, 0);
	td_wait_processed(emu, 1);
	dsa_emu_pause(emu, -1, 1);
	/* the monitor calls the waker, which waits for the mutex */
	wait_count(&e.entered, 1, "the monitor called the waker");
	/* f[1] takes the only entry (its start reaps f[0]'s first part) */
	f[1] = vdm_memcpy(data_mover_dsa_get_vdm(d), dst + 2 * OPSZ,
		src + 2 * OPSZ, OPSZ, 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f[1]), NULL) ==
		FUTURE_STATE_RUNNING);
	td_wait_received(emu, 2);
	st = exec_poll_held(&e, &n, FUTURE_AS_RUNNABLE(&f[0]), &calls);
	CHECK_EQ(calls, 0);
	CHECK(st == FUTURE_STATE_RUNNING);
	CHECK(n.notifier_used == FUTURE_NOTIFIER_NONE); /* poll again */
	dsa_emu_get_stats(emu, -1, &es);
	CHECK_EQ(es.received, 2); /* the second part waits */
	wait_count(&e.calls, 1, "the waker's call ended");
	CHECK_EQ(atomic_load(&e.polled_at_first_end), 1);
	/* the rest runs: both complete, every byte copied */
	td_clock_real();
	dsa_emu_pause(emu, -1, 0);
	ff[0] = FUTURE_AS_RUNNABLE(&f[0]);
	ff[1] = FUTURE_AS_RUNNABLE(&f[1]);
	r = runtime_new();
	CHECK(r != NULL);
	CHECK(runtime_wait_multiple_for(r, ff, 2, td_hang_ns()) == 0);
	runtime_delete(r);
	CHECK_RES(FUTURE_OUTPUT(&f[0])->result, VDM_SUCCESS);
	CHECK_RES(FUTURE_OUTPUT(&f[1])->result, VDM_SUCCESS);
	CHECK_PATTERN(dst, 3 * OPSZ, 0, 16);
	CHECK(td_guards_ok(dst, 3 * OPSZ));
	CHECK_EQ(td_stats(emu).received, 3);
	CHECK_EQ(td_pool_live(d), 0);
	data_mover_dsa_delete(d);
	dsa_emu_stop(emu);
	/* n was not kept: the one call is of the first registration */
	CHECK_EQ(atomic_load(&e.entered), 1);
	CHECK_EQ(atomic_load(&e.calls), 1);
	pthread_mutex_destroy(&e.m);
	td_free(src);
	td_free(dst);
}

/* The CPU part of a split copy (hybrid), held at a gate on cpu_vdm's
 * worker until the test opens it. */
static pthread_mutex_t hy_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hy_cv = PTHREAD_COND_INITIALIZER;
static int hy_at_gate, hy_open;

static void *
hy_gate_memcpy(void *dst, const void *src, size_t n, unsigned flags)
{
	(void)flags;
	pthread_mutex_lock(&hy_mu);
	hy_at_gate = 1;
	pthread_cond_broadcast(&hy_cv);
	while (!hy_open)
		pthread_cond_wait(&hy_cv, &hy_mu);
	pthread_mutex_unlock(&hy_mu);
	return memcpy(dst, src, n);
}

/* The same executor and a copy split between the device and the CPU: the
 * device's part completes, the monitor's call of the waker blocks on the
 * executor's mutex, the CPU part is still held on cpu_vdm. The poll under
 * the mutex hands its waker to the CPU part and does not wait for the
 * running call (which deadlocked): RUNNING, notifier_used WAKER; the CPU
 * part's end calls it and the copy completes. */
static void
test_waker_takes_executor_lock_hybrid(void)
{
	struct data_mover_threads *dmt = data_mover_threads_new(1, 8,
		FUTURE_NOTIFIER_WAKER);
	struct data_mover_dsa_config mc = {0};
	struct data_mover_dsa *d;
	struct vdm_operation_future f;
	struct future *ff;
	struct future_notifier n;
	struct exec_lock e;
	struct masync__dsa_op *o;
	struct runtime *r;
	struct timespec ts;
	enum future_state st;
	const size_t sz = 256u << 10;
	unsigned char *src = td_alloc(sz), *dst = td_alloc(sz);
	int calls, rc = 0;

	td_begin("a waker that takes the executor's lock: a poll under it "
		"while a split copy's CPU part runs does not wait for the "
		"running call");
	CHECK(dmt != NULL);
	data_mover_threads_set_memcpy_fn(dmt, hy_gate_memcpy);
	td_clock_fake(td_coarse_ns(), 0); /* no timeout kick between */
	emu = td_emu(NULL);
	mc.hybrid_threshold = 64u << 10;
	mc.hybrid_cpu_permille = 300;
	mc.cpu_vdm = data_mover_threads_get_vdm(dmt);
	d = td_mover(&mc);
	CHECK(d->have_monitor);
	td_pattern(src, sz, 17);
	memset(dst, 0, sz);
	exec_lock_init(&e, &n);

	dsa_emu_pause(emu, -1, 1);
	f = vdm_memcpy(data_mover_dsa_get_vdm(d), dst, src, sz, 0);
	CHECK(pthread_mutex_lock(&e.m) == 0);
	/* white box: the polling thread leaves the CPU part to the worker
	 * (else it could run it, gated, itself) */
	masync__rt_releasing = 1;
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), &n) ==
		FUTURE_STATE_RUNNING);
	masync__rt_releasing = 0;
	CHECK(n.notifier_used == FUTURE_NOTIFIER_WAKER);
	o = state_of(&f);
	CHECK(o->hy_len != 0 && o->hy_active);
	/* the worker holds the CPU part at the gate */
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 60 * (int)td_slow();
	pthread_mutex_lock(&hy_mu);
	while (!hy_at_gate && rc == 0)
		rc = pthread_cond_timedwait(&hy_cv, &hy_mu, &ts);
	pthread_mutex_unlock(&hy_mu);
	CHECK(rc == 0);
	/* the device's part completes: the monitor calls the waker, which
	 * waits for the mutex */
	dsa_emu_pause(emu, -1, 0);
	wait_count(&e.entered, 1, "the monitor called the waker");
	masync__rt_releasing = 1;
	st = exec_poll_held(&e, &n, FUTURE_AS_RUNNABLE(&f), &calls);
	masync__rt_releasing = 0;
	CHECK_EQ(calls, 0);
	CHECK(st == FUTURE_STATE_RUNNING);
	CHECK(MASYNC__LOAD(&o->phase, relaxed) == MASYNC__DSA_DONE);
	CHECK(o->hy_active);
	CHECK(n.notifier_used == FUTURE_NOTIFIER_WAKER); /* the CPU part's */
	wait_count(&e.calls, 1, "the monitor's call ended");
	CHECK_EQ(atomic_load(&e.polled_at_first_end), 1);
	/* the CPU part ends: its mover calls the waker the poll handed it */
	pthread_mutex_lock(&hy_mu);
	hy_open = 1;
	pthread_cond_broadcast(&hy_cv);
	pthread_mutex_unlock(&hy_mu);
	wait_count(&e.calls, 2, "the waker called at the CPU part's end");
	td_clock_real();
	r = runtime_new();
	CHECK(r != NULL);
	ff = FUTURE_AS_RUNNABLE(&f);
	CHECK(runtime_wait_multiple_for(r, &ff, 1, td_hang_ns()) == 0);
	runtime_delete(r);
	CHECK_RES(FUTURE_OUTPUT(&f)->result, VDM_SUCCESS);
	CHECK_PATTERN(dst, sz, 0, 17);
	CHECK(td_guards_ok(dst, sz));
	CHECK_EQ(td_pool_live(d), 0);
	data_mover_dsa_delete(d);
	data_mover_threads_delete(dmt);
	dsa_emu_stop(emu);
	CHECK_EQ(atomic_load(&e.entered), 2);
	CHECK_EQ(atomic_load(&e.calls), 2);
	CHECK_EQ(atomic_load(&e.timedout), 0);
	pthread_mutex_destroy(&e.m);
	td_free(src);
	td_free(dst);
}

int
main(void)
{
	struct dsa_emu_config ec = {0};
	struct data_mover_dsa_config mc = {0};
	struct data_mover_dsa *d;

	td_enter("test_dsa_wake");
	test_kick_all();
	td_clock_fake(1000000000ull, 0); /* never moves */
	ec.trap_portal = 1;
	ec.fifo = -1;
	ec.wq_size = 64;
	ec.bytes_per_us = 1; /* 4 KiB in ~4 ms */
	emu = td_emu(&ec); /* installs the MOVDIR64B hook */
	mc.batch_max = NOPS;
	d = td_mover(&mc);
	CHECK(td_portal(d));
	td_begin("a member's waker: once its whole batch is done");
	test_one_wake(d, -1);
	td_begin("... also when one member fails");
	test_one_wake(d, 4);
	test_sweep(d);
	test_no_lock_waiting(d);
	test_one_call(d, 1);
	test_one_call(d, 2);
	data_mover_dsa_delete(d);
	dsa_emu_stop(emu);
	MASYNC__STORE(&masync__test_movdir64b, (masync__movdir64b_fn)NULL,
		release);
	td_clock_real();
	test_dead_device();
	test_waker_takes_executor_lock();
	test_waker_takes_executor_lock_noroom();
	test_waker_takes_executor_lock_hybrid();
	td_log("test_dsa_wake: all passed\n");
	return 0;
}
