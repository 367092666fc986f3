/* test_dsa_notify.c - the DSA mover's notifiers, polled by hand with a
 * struct future_notifier and through the runtime: WAKER (the default, also
 * for desired_notifier NONE): notifier_used says WAKER and the waker is
 * called once the device wrote the completion record, also after a page
 * fault made the mover resubmit; a poll with a NULL notifier drops it.
 * POLLER (config.desired_notifier): notifier_used says POLLER and
 * ptr_to_monitor points at a word that changes when the device completes.
 * No notifier at all (FUTURE_BUSY_POLL). Then chains of DSA futures: an
 * error-aware chain (FUTURE_CHAIN_INIT_STOP_ON_ERROR) stops at an injected
 * DSA failure (invalid flags: VDM_ERROR_DSA_INVALID) and later entries do
 * not run; a plain chain runs them all. A first poll that finds no room
 * (IDLE) says notifier_used NONE: nothing was registered, nothing will
 * call (a notifier reused from a poll that registered one said WAKER, or
 * POLLER). On a POLLER mover, the first poll of an operation in several
 * descriptors that saw its first one done and submitted the next hands
 * out that next one's record (the word changes when it completes), not
 * the finished one's (which never changes again). */
#include "test_dsa_util.h"

static struct runtime *rt;

#define N 16384

struct counter {
	atomic_int calls;
};

static void
count_wake(void *data)
{
	atomic_fetch_add(&((struct counter *)data)->calls, 1);
}

static int
wait_calls(struct counter *c, int n)
{
	uint64_t t0 = td_now_ns();

	while (atomic_load(&c->calls) < n) {
		if (td_now_ns() - t0 > td_hang_ns())
			return 0;
		td_sleep_us(100);
	}
	return 1;
}

static void
test_waker(enum future_notifier_type desired)
{
	struct data_mover_dsa_config mc = {0};
	struct dsa_emu *emu;
	struct data_mover_dsa *d;
	struct vdm *vdm;
	unsigned char *a = td_alloc(N), *b = td_alloc(N);
	struct vdm_operation_future f;
	struct future_notifier nt;
	struct counter cnt;
	struct dsa_emu_fault fl;
	int k;

	td_begin(desired == FUTURE_NOTIFIER_NONE ?
		"WAKER for desired_notifier NONE (the default)" :
		"WAKER (desired_notifier WAKER)");
	emu = td_emu(NULL);
	mc.desired_notifier = desired;
	d = td_mover(&mc);
	vdm = data_mover_dsa_get_vdm(d);
	td_pattern(a, N, 1);
	for (k = 0; k < 3; k++) {
		/* k = 1: a page fault in between; k = 2: a NULL poll */
		memset(b, 0, N);
		atomic_init(&cnt.calls, 0);
		memset(&nt, 0, sizeof(nt));
		nt.waker.data = &cnt;
		nt.waker.wake = count_wake;
		dsa_emu_set_delay(emu, -1, 20000 * td_slow());
		if (k == 1) {
			memset(&fl, 0, sizeof(fl));
			fl.kind = DSA_EMU_FAULT_PAGE_WRITE;
			fl.bytes_done = 4096;
			td_inject(emu, &fl);
		}
		f = vdm_memcpy(vdm, b, a, N, 0);
		/* paused: RUNNING whatever the scheduling (the delay alone
		 * did not hold under TSan on a loaded machine) */
		dsa_emu_pause(emu, -1, 1);
		CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), &nt) ==
			FUTURE_STATE_RUNNING);
		CHECK(nt.notifier_used == FUTURE_NOTIFIER_WAKER);
		if (k == 2) {
			/* drop the waker: it is not called any more */
			CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), NULL) ==
				FUTURE_STATE_RUNNING);
			dsa_emu_pause(emu, -1, 0);
			td_wait_processed(emu, 1);
			td_sleep_us(20000);
			CHECK_EQ(atomic_load(&cnt.calls), 0);
			CHECK_RES(td_busy(&f), VDM_SUCCESS);
			CHECK_EQ(atomic_load(&cnt.calls), 0);
			CHECK_PATTERN(b, N, 0, 1);
			break;
		}
		dsa_emu_pause(emu, -1, 0);
		CHECK(wait_calls(&cnt, 1));
		if (k == 1) {
			/* it resubmitted the rest: poll, wait for the waker */
			for (;;) {
				int seen = atomic_load(&cnt.calls);

				if (future_poll(FUTURE_AS_RUNNABLE(&f), &nt) ==
						FUTURE_STATE_COMPLETE)
					break;
				CHECK(nt.notifier_used ==
					FUTURE_NOTIFIER_WAKER);
				CHECK(wait_calls(&cnt, seen + 1));
			}
		} else {
			CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), &nt) ==
				FUTURE_STATE_COMPLETE);
		}
		CHECK_RES(FUTURE_OUTPUT(&f)->result, VDM_SUCCESS);
		CHECK_PATTERN(b, N, 0, 1);
		td_sleep_us(5000);
		CHECK(atomic_load(&cnt.calls) <= 3);
		td_settle(emu);
		dsa_emu_reset_stats(emu);
	}
	dsa_emu_set_delay(emu, -1, 0);

	/* and through the runtime, many at once */
	{
		enum { M = 32 };
		struct vdm_operation_future fs[M];
		struct future *ff[M];
		int i;

		memset(b, 0, N);
		for (i = 0; i < M; i++) {
			fs[i] = vdm_memset(vdm, b + i * (N / M), i, N / M, 0);
			ff[i] = FUTURE_AS_RUNNABLE(&fs[i]);
		}
		dsa_emu_set_delay(emu, -1, 100);
		runtime_wait_multiple(rt, ff, M);
		for (i = 0; i < M; i++) {
			CHECK_RES(FUTURE_OUTPUT(&fs[i])->result, VDM_SUCCESS);
			CHECK_BYTES(b + i * (N / M), N / M, i);
		}
		dsa_emu_set_delay(emu, -1, 0);
	}
	data_mover_dsa_delete(d);
	dsa_emu_stop(emu);
	td_free(a);
	td_free(b);
}

/* noinline: named in test_dsa_tsan.supp */
static __attribute__((noinline)) uint64_t
td_poll_word(uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void
test_poller(void)
{
	struct data_mover_dsa_config mc = {0};
	struct dsa_emu *emu;
	struct data_mover_dsa *d;
	struct vdm *vdm;
	unsigned char *a = td_alloc(N), *b = td_alloc(N);
	struct vdm_operation_future f;
	struct future_notifier nt;
	int k;

	td_begin("POLLER (desired_notifier POLLER), polled by hand");
	emu = td_emu(NULL);
	mc.desired_notifier = FUTURE_NOTIFIER_POLLER;
	d = td_mover(&mc);
	vdm = data_mover_dsa_get_vdm(d);
	td_pattern(a, N, 2);
	for (k = 0; k < 4; k++) {
		uint64_t seen, t0, *word;
		int polls = 0, words = 0;

		memset(b, 0, N);
		dsa_emu_set_delay(emu, -1, 10000 * td_slow());
		if (k == 1) { /* a page fault: the same word is watched */
			struct dsa_emu_fault fl;

			memset(&fl, 0, sizeof(fl));
			fl.kind = DSA_EMU_FAULT_PAGE_READ;
			fl.bytes_done = 8192;
			td_inject(emu, &fl);
		}
		f = k == 2 ? vdm_memset(vdm, b, 0x42, N, 0) :
			vdm_memcpy(vdm, b, a, N, 0);
		word = NULL;
		seen = 0;
		for (;;) {
			/* read before the poll: a change after it is a
			 * change the next poll has to act on */
			if (word != NULL)
				seen = td_poll_word(word);
			memset(&nt, 0, sizeof(nt));
			nt.waker.wake = count_wake; /* must not be used */
			if (future_poll(FUTURE_AS_RUNNABLE(&f), &nt) ==
					FUTURE_STATE_COMPLETE)
				break;
			polls++;
			CHECK(nt.notifier_used == FUTURE_NOTIFIER_POLLER);
			CHECK(nt.poller.ptr_to_monitor != NULL);
			CHECK(((uintptr_t)nt.poller.ptr_to_monitor & 7) == 0);
			if (nt.poller.ptr_to_monitor != word) {
				/* read after the poll, which the device may
				 * have beaten: poll once more, as a runtime
				 * (a new descriptor may get a new word) */
				word = nt.poller.ptr_to_monitor;
				words++;
				continue;
			}
			/* the word changes when polling again helps (the
			 * limit only ends a hang; the device takes ms) */
			t0 = td_now_ns();
			while (td_poll_word(word) == seen) {
				CHECK(td_now_ns() - t0 < td_hang_ns());
				__builtin_ia32_pause();
			}
		}
		dsa_emu_set_delay(emu, -1, 0);
		CHECK(polls >= 1);
		/* one per descriptor (the fault's resubmission is a second),
		 * one more each when the word is seen between the emulator's
		 * stores of bytes_completed and status (hardware writes the
		 * record at once), and one more per word handed out (read
		 * after its poll): at most 2 + 2 + 2 */
		CHECK(words == (k == 1 ? 2 : 1));
		CHECK(polls <= 6);
		CHECK_RES(FUTURE_OUTPUT(&f)->result, VDM_SUCCESS);
		if (k == 2)
			CHECK_BYTES(b, N, 0x42);
		else
			CHECK_PATTERN(b, N, 0, 2);
		if (k == 3) { /* runtime_wait watches the word itself */
			memset(b, 0, N);
			dsa_emu_set_delay(emu, -1, 5000);
			f = vdm_memcpy(vdm, b, a, N, 0);
			CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
			CHECK_PATTERN(b, N, 0, 2);
		}
	}
	dsa_emu_set_delay(emu, -1, 0);
	td_begin("POLLER: many at once through the runtime");
	{
		enum { M = 24 };
		struct vdm_operation_future fs[M];
		struct future *ff[M];
		int i;

		dsa_emu_set_delay(emu, -1, 200);
		for (i = 0; i < M; i++) {
			fs[i] = vdm_memset(vdm, b + i * 512, i + 1, 512, 0);
			ff[i] = FUTURE_AS_RUNNABLE(&fs[i]);
		}
		runtime_wait_multiple(rt, ff, M);
		for (i = 0; i < M; i++)
			CHECK_BYTES(b + i * 512, 512, i + 1);
		dsa_emu_set_delay(emu, -1, 0);
	}
	data_mover_dsa_delete(d);
	dsa_emu_stop(emu);
	td_free(a);
	td_free(b);
}

/* An operation of several descriptors on a POLLER mover: an executor that
 * reads the word before each poll (a change during the poll is seen) sees
 * a change when the part that poll sent is done, also when it finished
 * before the executor looked. A record used again for the next part would
 * go X, 0, X: the change is missed and the executor waits for nothing. */
static void
test_poller_parts(void)
{
	struct data_mover_dsa_config mc = {0};
	struct dsa_emu_config ec;
	struct dsa_emu *emu;
	struct data_mover_dsa *d;
	struct vdm *vdm;
	unsigned char *a = td_alloc(N), *b = td_alloc(N);
	int k;

	memset(&ec, 0, sizeof(ec));
	ec.max_transfer_size = 4096;
	ec.max_batch_size = 2;
	emu = td_emu(&ec);
	mc.desired_notifier = FUTURE_NOTIFIER_POLLER;
	d = td_mover(&mc);
	vdm = data_mover_dsa_get_vdm(d);
	for (k = 0; k < 2; k++) {
		struct vdm_operation_future f;
		struct future_notifier nt;
		uint64_t *word = NULL, seen = 0;
		uint64_t done = 0;
		int parts = 0;

		/* k = 0: batches of two parts; k = 1: an overlapping move,
		 * top part first, one part per descriptor */
		td_begin(k == 0 ? "POLLER: a copy in two batches of parts" :
			"POLLER: an overlapping move in three parts");
		td_pattern(a, N, 3);
		memset(b, 0, N);
		dsa_emu_reset_stats(emu);
		dsa_emu_pause(emu, -1, 1);
		f = k == 0 ? vdm_memcpy(vdm, b, a, N, 0) :
			vdm_memmove(vdm, a + 4096, a, N - 4096, 0);
		for (;;) {
			if (word != NULL)
				seen = td_poll_word(word);
			memset(&nt, 0, sizeof(nt));
			if (future_poll(FUTURE_AS_RUNNABLE(&f), &nt) ==
					FUTURE_STATE_COMPLETE)
				break;
			CHECK(nt.notifier_used == FUTURE_NOTIFIER_POLLER);
			CHECK(nt.poller.ptr_to_monitor != NULL);
			/* the device runs what the poll sent before the
			 * executor looks at the word */
			dsa_emu_pause(emu, -1, 0);
			td_wait_processed(emu, ++done);
			dsa_emu_pause(emu, -1, 1);
			CHECK(nt.poller.ptr_to_monitor != word ||
				td_poll_word(word) != seen);
			word = nt.poller.ptr_to_monitor;
			parts++;
			CHECK(parts <= 8);
		}
		dsa_emu_pause(emu, -1, 0);
		CHECK_RES(FUTURE_OUTPUT(&f)->result, VDM_SUCCESS);
		CHECK_EQ(parts, k == 0 ? 2 : 3);
		if (k == 0)
			CHECK_PATTERN(b, N, 0, 3);
		else
			CHECK_PATTERN(a + 4096, N - 4096, 0, 3);
	}
	data_mover_dsa_delete(d);
	dsa_emu_stop(emu);
	td_free(a);
	td_free(b);
}

static void
test_no_notifier(void)
{
	static const enum future_notifier_type kinds[] = {
		FUTURE_NOTIFIER_NONE, FUTURE_NOTIFIER_WAKER,
		FUTURE_NOTIFIER_POLLER };
	struct dsa_emu *emu = td_emu(NULL);
	unsigned char *a = td_alloc(N), *b = td_alloc(N);
	size_t i;

	td_begin("no notifier: FUTURE_BUSY_POLL on every kind of mover");
	td_pattern(a, N, 3);
	dsa_emu_set_delay(emu, -1, 2000);
	for (i = 0; i < 3; i++) {
		struct data_mover_dsa_config mc = {0};
		struct data_mover_dsa *d;
		struct vdm_operation_future f;

		mc.desired_notifier = kinds[i];
		d = td_mover(&mc);
		memset(b, 0, N);
		f = vdm_memcpy(data_mover_dsa_get_vdm(d), b, a, N, 0);
		CHECK_RES(td_busy(&f), VDM_SUCCESS);
		CHECK_PATTERN(b, N, 0, 3);
		data_mover_dsa_delete(d);
	}
	dsa_emu_stop(emu);
	td_free(a);
	td_free(b);
}

/* A first poll that finds no room: the operation stays IDLE (the caller
 * polls again: nothing wakes anyone for room) and notifier_used says
 * NONE, also when the caller's notifier came from a poll that registered
 * a waker (WAKER) or handed out a word (POLLER). An executor that trusts
 * notifier_used would otherwise wait for a call, or a word, that is not
 * about this operation. The WQ has one entry, held by a paused device. */
static void
test_start_noroom(enum future_notifier_type desired)
{
	struct dsa_emu_config ec = {0};
	struct data_mover_dsa_config mc = {0};
	struct dsa_emu *emu;
	struct data_mover_dsa *d;
	struct vdm *vdm;
	unsigned char *a = td_alloc(2 * N), *b = td_alloc(2 * N);
	struct vdm_operation_future f1, f2;
	struct future_notifier nt;
	struct masync__dsa_op *o2;
	struct counter cnt;

	td_begin(desired == FUTURE_NOTIFIER_POLLER ?
		"no room at the first poll: IDLE, notifier_used NONE (POLLER)" :
		"no room at the first poll: IDLE, notifier_used NONE (WAKER)");
	ec.wq_size = 1;
	emu = td_emu(&ec);
	mc.desired_notifier = desired;
	/* the paused descriptor never times out while the test runs */
	mc.timeout_ns = 600000000000ull;
	d = td_mover(&mc);
	vdm = data_mover_dsa_get_vdm(d);
	td_pattern(a, 2 * N, 8);
	memset(b, 0, 2 * N);
	atomic_init(&cnt.calls, 0);
	memset(&nt, 0, sizeof(nt));
	nt.waker.data = &cnt;
	nt.waker.wake = count_wake;
	dsa_emu_pause(emu, -1, 1);
	f1 = vdm_memcpy(vdm, b, a, N, 0);
	/* takes the only entry */
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f1), &nt) ==
		FUTURE_STATE_RUNNING);
	CHECK(nt.notifier_used == desired);
	td_wait_received(emu, 1);
	/* the executor polls the next one with the same notifier */
	f2 = vdm_memcpy(vdm, b + N, a + N, N, 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f2), &nt) ==
		FUTURE_STATE_IDLE);
	o2 = (struct masync__dsa_op *)f2.data.data;
	td_log("   IDLE; notifier_used %d (NONE %d)\n", (int)nt.notifier_used,
		(int)FUTURE_NOTIFIER_NONE);
	CHECK_EQ(nt.notifier_used, FUTURE_NOTIFIER_NONE);
	/* indeed nothing kept: no waker, not on the monitor's list */
	CHECK_EQ(MASYNC__LOAD(&o2->sig.word, acquire) & MASYNC__S_WAKER, 0);
	CHECK_EQ(MASYNC__LOAD(&o2->armed, acquire), 0);
	{
		struct dsa_emu_stats es;

		dsa_emu_get_stats(emu, -1, &es);
		CHECK_EQ(es.received, 1);
	}
	dsa_emu_pause(emu, -1, 0);
	{
		struct future *ff[2];

		ff[0] = FUTURE_AS_RUNNABLE(&f1);
		ff[1] = FUTURE_AS_RUNNABLE(&f2);
		CHECK_EQ(runtime_wait_multiple_for(rt, ff, 2, td_hang_ns()), 0);
	}
	CHECK_RES(FUTURE_OUTPUT(&f1)->result, VDM_SUCCESS);
	CHECK_RES(FUTURE_OUTPUT(&f2)->result, VDM_SUCCESS);
	CHECK_PATTERN(b, 2 * N, 0, 8);
	td_settle(emu);
	data_mover_dsa_delete(d);
	dsa_emu_stop(emu);
	td_free(a);
	td_free(b);
}

/* A POLLER mover, an operation in three descriptors (no batches). The
 * first poll submits the first; a MOVDIR64B hook waits (bounded) until
 * its record is written, then pauses the device, so the same poll sees
 * it done and submits the second (on the other record), held by the
 * paused device. The word that poll hands out must be the second's
 * record: it changes when the second completes. (Before, it was the
 * first's, written already and never again: an executor watching it
 * waited for good.) Ordered by the hook and the pause, not by time. */
static struct dsa_emu *stale_emu;
static int stale_nsub;

static void
stale_hook(void *portal, const void *desc)
{
	const struct dsa_hw_desc *dd = (const struct dsa_hw_desc *)desc;
	const uint8_t *st = (const uint8_t *)(uintptr_t)dd->completion_addr;
	uint64_t t0;

	td_trap_movdir64b(portal, desc);
	if (stale_nsub++ != 0)
		return;
	t0 = td_now_ns();
	while (__atomic_load_n(st, __ATOMIC_ACQUIRE) == 0) {
		if (td_now_ns() - t0 > td_hang_ns())
			td_fail(__FILE__, __LINE__, "the first record written",
				NULL);
		td_sleep_us(50);
	}
	dsa_emu_pause(stale_emu, -1, 1); /* the next descriptors wait */
}

static void
test_poller_first_parts(void)
{
	struct dsa_emu_config ec = {0};
	struct data_mover_dsa_config mc = {0};
	struct data_mover_dsa *d;
	struct vdm_operation_future f;
	struct future_notifier nt;
	struct masync__dsa_op *o;
	const size_t len = 3 * 65536;
	unsigned char *a = td_alloc(len), *b = td_alloc(len);
	uint64_t *word, seen;
	const void *inflight;
	size_t done;
	int polls;

	td_begin("POLLER: the first poll hands out the record of the part "
		"it sent");
	ec.trap_portal = 1;
	ec.max_transfer_size = 65536;
	ec.max_batch_size = 1;
	stale_emu = td_emu(&ec);
	stale_nsub = 0;
	MASYNC__STORE(&masync__test_movdir64b, stale_hook, release);
	mc.desired_notifier = FUTURE_NOTIFIER_POLLER;
	mc.timeout_ns = 600000000000ull; /* the paused part never times out */
	d = td_mover(&mc);
	td_pattern(a, len, 9);
	memset(b, 0, len);
	f = vdm_memcpy(data_mover_dsa_get_vdm(d), b, a, len, 0);
	memset(&nt, 0, sizeof(nt));
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), &nt) ==
		FUTURE_STATE_RUNNING);
	CHECK(nt.notifier_used == FUTURE_NOTIFIER_POLLER);
	CHECK(nt.poller.ptr_to_monitor != NULL);
	o = (struct masync__dsa_op *)f.data.data;
	done = o->done;
	word = nt.poller.ptr_to_monitor;
	seen = td_poll_word(word);
	inflight = masync__dsa_own(o);
	/* the first part done, the second sent (paused) */
	CHECK_EQ(done, 65536);
	CHECK_EQ(stale_nsub, 2);
	td_wait_received(stale_emu, 2);
	/* the second completes: the word handed out changes */
	dsa_emu_pause(stale_emu, -1, 0);
	td_wait_processed(stale_emu, 2);
	td_log("   handed out: %s record (status %#x then %#x)\n",
		(const void *)word == inflight ? "the in-flight" :
		"a finished",
		(unsigned)(seen & 0xff),
		(unsigned)(td_poll_word(word) & 0xff));
	CHECK(td_poll_word(word) != seen);
	/* white box: it was the record of the part in flight, not written
	 * yet when handed out */
	CHECK((const void *)word == inflight);
	CHECK_EQ(seen & 0xff, 0);
	/* the rest, and the word of the last part */
	for (polls = 0;; polls++) {
		enum future_state st;

		CHECK(polls < 2);
		memset(&nt, 0, sizeof(nt));
		st = future_poll(FUTURE_AS_RUNNABLE(&f), &nt);
		if (st == FUTURE_STATE_COMPLETE)
			break;
		CHECK(nt.notifier_used == FUTURE_NOTIFIER_POLLER);
		CHECK((const void *)nt.poller.ptr_to_monitor ==
			(const void *)masync__dsa_own(o));
		td_wait_processed(stale_emu, 3);
		CHECK_EQ(stale_nsub, 3);
	}
	CHECK_RES(FUTURE_OUTPUT(&f)->result, VDM_SUCCESS);
	CHECK_PATTERN(b, len, 0, 9);
	CHECK_EQ(td_stats(stale_emu).received, 3);
	data_mover_dsa_delete(d);
	dsa_emu_stop(stale_emu);
	MASYNC__STORE(&masync__test_movdir64b, (masync__movdir64b_fn)NULL,
		release);
	td_free(a);
	td_free(b);
}

/* ---- chains ---------------------------------------------------------- */

struct three_ops_data {
	FUTURE_CHAIN_ENTRY(struct vdm_operation_future, first);
	FUTURE_CHAIN_ENTRY(struct vdm_operation_future, second);
	FUTURE_CHAIN_ENTRY(struct vdm_operation_future, third);
};

struct three_ops_output {
	int unused;
};

FUTURE(three_ops_future, struct three_ops_data, struct three_ops_output);

static void
test_chain(void)
{
	struct dsa_emu *emu = td_emu(NULL);
	struct data_mover_dsa *d = td_mover(NULL);
	struct vdm *vdm = data_mover_dsa_get_vdm(d);
	unsigned char *a = td_alloc(N), *b = td_alloc(N), *c = td_alloc(N);
	struct three_ops_future ch;
	struct dsa_emu_fault fl;
	struct dsa_emu_stats s;
	int stop;

	for (stop = 1; stop >= 0; stop--) {
		td_begin(stop ? "error-aware chain stops at a DSA failure" :
			"a plain chain runs every entry");
		td_pattern(a, N, 4);
		memset(b, 0, N);
		memset(c, 0x33, N);
		memset(&fl, 0, sizeof(fl));
		fl.kind = DSA_EMU_FAULT_INVALID_FLAGS;
		fl.skip = 1; /* the second descriptor */
		dsa_emu_reset_stats(emu);
		td_inject(emu, &fl);
		memset(&ch, 0, sizeof(ch));
		FUTURE_CHAIN_ENTRY_INIT(&ch.data.first,
			vdm_memcpy(vdm, b, a, N / 2, 0), NULL, NULL);
		FUTURE_CHAIN_ENTRY_INIT(&ch.data.second,
			vdm_memcpy(vdm, b + N / 2, a + N / 2, N / 2, 0), NULL,
			NULL);
		FUTURE_CHAIN_ENTRY_INIT(&ch.data.third,
			vdm_memset(vdm, c, 0, N, 0), NULL, NULL);
		if (stop)
			FUTURE_CHAIN_INIT_STOP_ON_ERROR(&ch);
		else
			FUTURE_CHAIN_INIT(&ch);
		runtime_wait(rt, FUTURE_AS_RUNNABLE(&ch));
		CHECK(FUTURE_STATE(&ch) == FUTURE_STATE_COMPLETE);
		CHECK_RES(FUTURE_OUTPUT(&ch.data.first.fut)->result,
			VDM_SUCCESS);
		CHECK_PATTERN(b, N / 2, 0, 4);
		CHECK_RES(FUTURE_OUTPUT(&ch.data.second.fut)->result,
			VDM_ERROR_DSA_INVALID);
		CHECK_BYTES(b + N / 2, N / 2, 0);
		s = td_stats(emu);
		if (stop) {
			CHECK_RES(future_chain_result(FUTURE_AS_RUNNABLE(&ch)),
				VDM_ERROR_DSA_INVALID);
			/* the entry that never ran was given up: its
			 * state is back in the mover */
			CHECK(FUTURE_STATE(&ch.data.third.fut) ==
				FUTURE_STATE_COMPLETE);
			CHECK_RES(FUTURE_OUTPUT(&ch.data.third.fut)->result,
				VDM_ERROR_CANCELLED);
			CHECK(ch.data.third.fut.data.data == NULL);
			CHECK_BYTES(c, N, 0x33);
			CHECK_EQ(s.received, 2);
			CHECK_EQ(vdm_cancel(&ch.data.third.fut), EALREADY);
		} else {
			CHECK_RES(future_chain_result(FUTURE_AS_RUNNABLE(&ch)),
				VDM_SUCCESS);
			CHECK_RES(FUTURE_OUTPUT(&ch.data.third.fut)->result,
				VDM_SUCCESS);
			CHECK_BYTES(c, N, 0);
			CHECK_EQ(s.received, 3);
		}
	}
	data_mover_dsa_delete(d);
	dsa_emu_stop(emu);
	td_free(a);
	td_free(b);
	td_free(c);
}

/* A waker that polls another future of the same mover (which registers
 * a waker of its own): the mover must not hold a lock of its own across
 * the wake call, or the monitor thread deadlocks on itself. */
struct poll_other {
	atomic_int calls;
	struct vdm_operation_future *other;
	struct counter other_cnt;
	enum future_state other_state;
};

static void
wake_polls_other(void *data)
{
	struct poll_other *po = (struct poll_other *)data;
	struct future_notifier nt;

	memset(&nt, 0, sizeof(nt));
	nt.waker.data = &po->other_cnt;
	nt.waker.wake = count_wake;
	po->other_state = future_poll(FUTURE_AS_RUNNABLE(po->other), &nt);
	atomic_fetch_add(&po->calls, 1);
}

static void
test_waker_polls_other(void)
{
	struct data_mover_dsa_config mc = {0};
	struct dsa_emu *emu;
	struct data_mover_dsa *d;
	struct vdm *vdm;
	unsigned char *a = td_alloc(N), *b = td_alloc(N), *c = td_alloc(N);
	struct vdm_operation_future f1, f2;
	struct future_notifier nt;
	struct poll_other po;
	uint64_t t0;

	td_begin("WAKER that polls another future of the mover");
	emu = td_emu(NULL);
	mc.desired_notifier = FUTURE_NOTIFIER_WAKER;
	d = td_mover(&mc);
	vdm = data_mover_dsa_get_vdm(d);
	td_pattern(a, N, 7);
	memset(b, 0, N);
	memset(c, 0, N);
	memset(&po, 0, sizeof(po));
	atomic_init(&po.calls, 0);
	atomic_init(&po.other_cnt.calls, 0);
	po.other = &f2;
	dsa_emu_set_delay(emu, -1, 20000 * td_slow());
	f1 = vdm_memcpy(vdm, b, a, N, 0);
	f2 = vdm_memcpy(vdm, c, a, N, 0);
	memset(&nt, 0, sizeof(nt));
	nt.waker.data = &po;
	nt.waker.wake = wake_polls_other;
	dsa_emu_pause(emu, -1, 1); /* RUNNING whatever the scheduling */
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f1), &nt) ==
		FUTURE_STATE_RUNNING);
	CHECK(nt.notifier_used == FUTURE_NOTIFIER_WAKER);
	dsa_emu_pause(emu, -1, 0);
	/* a deadlocked monitor never finishes the call: bounded wait */
	t0 = td_now_ns();
	while (atomic_load(&po.calls) == 0) {
		if (td_now_ns() - t0 > td_hang_ns()) {
			fprintf(stderr, "[%s] the waker never returned\n",
				td_case);
			exit(1);
		}
		td_sleep_us(100);
	}
	CHECK_RES(td_busy(&f1), VDM_SUCCESS);
	CHECK_RES(td_busy(&f2), VDM_SUCCESS);
	CHECK_PATTERN(b, N, 0, 7);
	CHECK_PATTERN(c, N, 0, 7);
	dsa_emu_set_delay(emu, -1, 0);
	td_settle(emu);
	data_mover_dsa_delete(d);
	dsa_emu_stop(emu);
	td_free(a);
	td_free(b);
	td_free(c);
}

int
main(void)
{
	td_enter("test_dsa_notify");
	rt = runtime_new();
	CHECK(rt != NULL);
	test_waker(FUTURE_NOTIFIER_NONE);
	test_waker(FUTURE_NOTIFIER_WAKER);
	test_waker_polls_other();
	test_poller();
	test_poller_parts();
	test_no_notifier();
	test_chain();
	test_start_noroom(FUTURE_NOTIFIER_WAKER);
	test_start_noroom(FUTURE_NOTIFIER_POLLER);
	test_poller_first_parts();
	runtime_delete(rt);
	td_log("test_dsa_notify: all passed\n");
	return 0;
}
