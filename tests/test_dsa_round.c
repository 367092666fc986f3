/* test_dsa_round.c - a runtime's poll round and the DSA mover's batches.
 * Inside a pass of a runtime wait (masync__round) every small operation
 * started waits in its WQ's pending batch, even on an idle WQ, and the
 * runtime sends what the pass held back at the pass's end, before it
 * sleeps or returns. The coarse clock is a test clock that does not move
 * (the monitor's 1 ms flush never fires), and the device is paused where
 * the order matters, so every count below is exact whatever the timing.
 * Proves, from the emulator's counts (received = top-level descriptors):
 * - round: a runtime_wait_multiple of N small operations on an idle WQ
 *   sends exactly one descriptor, a batch of N (N = 5, 20, 32; 1: a plain
 *   descriptor); while its first pass runs (a plain future polled after
 *   the operations looks) nothing has been sent and all N are pending;
 * - by hand: polling without a runtime keeps today's behaviour: the first
 *   operation goes alone at once, the others wait for the next poll;
 * - nested: a future whose poll runs its own runtime_wait_multiple; the
 *   inner wait's pass sends the outer pass's operations too (one batch);
 *   everything completes and the round's list is empty afterwards;
 * - early returns: runtime_wait_multiple_for (timeout 0),
 *   runtime_wait_any (a future later in the array completes in the
 *   probing pass) and runtime_wait_any_for (timeout) return with nothing
 *   left pending in the WQ; the operations complete afterwards;
 * - a mover deleted while its flush is registered: the flush is dropped;
 * - arms at the pass's end: the operations a pass starts go on the
 *   monitor's list only at its end (none while it runs, all after); a
 *   member cancelled between its start and the end never goes on it, and
 *   a new operation started in the same pass (maybe in the cancelled one's
 *   recycled state) goes on it once; right after the end a member cannot
 *   be cancelled (EINPROGRESS) and a NULL-notifier poll takes it off. */
#include "test_dsa_util.h"

#define OPSZ 4096
#define NOPS 32

static struct runtime *rt;
static struct dsa_emu *emu;

/* a mover on WQ wq (two movers may not share a dedicated WQ: the second
 * open is refused with EBUSY) */
static struct data_mover_dsa *
mover_on(const char *wq)
{
	struct data_mover_dsa_config mc = {0};

	mc.batch_max = NOPS;
	mc.wq = wq;
	return td_mover(&mc);
}

static struct data_mover_dsa *
mover(void)
{
	return mover_on("wq0.0");
}

struct ops {
	struct vdm_operation_future f[NOPS];
	unsigned char *src, *dst;
	int n;
};

static void
ops_make(struct ops *s, struct data_mover_dsa *d, int n, unsigned seed)
{
	int i;

	s->n = n;
	s->src = td_alloc(OPSZ * NOPS);
	s->dst = td_alloc(OPSZ * NOPS);
	td_pattern(s->src, OPSZ * NOPS, seed);
	memset(s->dst, 0, OPSZ * NOPS);
	for (i = 0; i < n; i++)
		s->f[i] = vdm_memcpy(data_mover_dsa_get_vdm(d),
			s->dst + (size_t)i * OPSZ, s->src + (size_t)i * OPSZ,
			OPSZ, 0);
}

/* every operation succeeded and wrote its bytes once */
static void
ops_check(struct ops *s, unsigned seed)
{
	int i;

	for (i = 0; i < s->n; i++) {
		CHECK(FUTURE_STATE(&s->f[i]) == FUTURE_STATE_COMPLETE);
		CHECK_RES(FUTURE_OUTPUT(&s->f[i])->result, VDM_SUCCESS);
	}
	CHECK_PATTERN(s->dst, OPSZ * (size_t)s->n, 0, seed);
	CHECK(td_guards_ok(s->dst, OPSZ * NOPS));
}

static void
ops_free(struct ops *s)
{
	td_free(s->src);
	td_free(s->dst);
}

static void
ops_futs(struct ops *s, struct future **ff)
{
	int i;

	for (i = 0; i < s->n; i++)
		ff[i] = FUTURE_AS_RUNNABLE(&s->f[i]);
}

/* ---- a plain future (polled after the operations in a pass) that looks
 * at the mover, or runs a nested wait ---- */
struct look_data {
	struct data_mover_dsa *d;
	struct ops *inner; /* non-NULL: runtime_wait_multiple on it */
	struct vdm_operation_future *again; /* non-NULL: polled once more */
	unsigned npend;    /* what it saw at its first poll */
	unsigned nstaged;  /* ... of them staged: no WQ lock taken yet */
	unsigned npend_after, nstaged_after; /* after polling `again` */
	uint64_t received;
	unsigned depth;
	int polls;
};
struct look_output {
	int unused;
};
FUTURE(look_fut, struct look_data, struct look_output);

static enum future_state
look_impl(struct future_context *ctx, struct future_notifier *n)
{
	struct look_data *l = (struct look_data *)future_context_get_data(ctx);
	struct dsa_emu_stats s;

	(void)n;
	if (l->polls++ == 0) {
		l->npend = td_npend(l->d);
		l->nstaged = td_nstaged(l->d);
		dsa_emu_get_stats(emu, -1, &s);
		l->received = s.received;
		l->depth = masync__round.depth;
		if (l->again != NULL) {
			CHECK(future_poll(FUTURE_AS_RUNNABLE(l->again),
				NULL) == FUTURE_STATE_RUNNING);
			l->npend_after = td_npend(l->d);
			l->nstaged_after = td_nstaged(l->d);
			dsa_emu_pause(emu, -1, 0);
		}
	}
	if (l->inner != NULL) {
		struct future *ff[NOPS];

		ops_futs(l->inner, ff);
		runtime_wait_multiple(rt, ff, (size_t)l->inner->n);
	}
	return FUTURE_STATE_COMPLETE;
}

static struct look_fut
look(struct data_mover_dsa *d, struct ops *inner)
{
	struct look_fut f;

	memset(&f, 0, sizeof(f));
	f.data.d = d;
	f.data.inner = inner;
	FUTURE_INIT(&f, look_impl);
	return f;
}

static void
test_round(void)
{
	struct data_mover_dsa *d = mover();
	struct future *ff[NOPS + 1];
	struct look_fut lk = look(d, NULL);
	struct dsa_emu_stats s;
	struct ops o;

	td_begin("runtime_wait_multiple of N on an idle WQ: one batch");
	dsa_emu_reset_stats(emu);
	ops_make(&o, d, 20, 1);
	ops_futs(&o, ff);
	ff[20] = FUTURE_AS_RUNNABLE(&lk);
	runtime_wait_multiple(rt, ff, 21);
	ops_check(&o, 1);
	CHECK_EQ(lk.data.depth, 1);
	CHECK_EQ(lk.data.npend, 20);   /* all held back during the pass */
	CHECK_EQ(lk.data.nstaged, 20); /* ... without the WQ's lock */
	CHECK_EQ(lk.data.received, 0); /* ... the first one too */
	s = td_stats(emu);
	td_log("   20 operations: %llu descriptors, %llu batch members\n",
		(unsigned long long)s.received,
		(unsigned long long)s.batch_members);
	CHECK_EQ(s.received, 1);
	CHECK_EQ(s.batch_members, 20);
	CHECK_EQ(s.ops[DSA_OPCODE_BATCH], 1);
	CHECK_EQ(s.bytes, (uint64_t)OPSZ * 20);
	CHECK_EQ(masync__round.depth, 0);
	CHECK_EQ(masync__round.n, 0);
	ops_free(&o);

	td_begin("a round of 32 (batch_max): the full batch goes at once");
	dsa_emu_reset_stats(emu);
	ops_make(&o, d, NOPS, 11);
	ops_futs(&o, ff);
	runtime_wait_multiple(rt, ff, NOPS);
	ops_check(&o, 11);
	s = td_stats(emu);
	CHECK_EQ(s.received, 1);
	CHECK_EQ(s.batch_members, NOPS);
	ops_free(&o);

	td_begin("a round of 5: one batch of 5; a round of 1: one descriptor");
	dsa_emu_reset_stats(emu);
	ops_make(&o, d, 5, 2);
	ops_futs(&o, ff);
	runtime_wait_multiple(rt, ff, 5);
	ops_check(&o, 2);
	s = td_stats(emu);
	CHECK_EQ(s.received, 1);
	CHECK_EQ(s.batch_members, 5);
	ops_free(&o);
	dsa_emu_reset_stats(emu);
	ops_make(&o, d, 1, 3);
	ops_futs(&o, ff);
	runtime_wait_multiple(rt, ff, 1);
	ops_check(&o, 3);
	s = td_stats(emu);
	CHECK_EQ(s.received, 1);
	CHECK_EQ(s.batch_members, 0); /* a lone member goes as itself */
	ops_free(&o);
	data_mover_dsa_delete(d);
}

/* The stage: a pass's starts wait on this thread without the WQ's lock;
 * the batch goes when it is full (batch_max), when one of them is polled
 * again in the pass, or at the pass's end. */
static void
test_stage(void)
{
	struct data_mover_dsa_config mc = {0};
	struct data_mover_dsa *d;
	struct future *ff[NOPS + 1];
	struct look_fut lk;
	struct dsa_emu_stats s;
	struct ops o;

	td_begin("a pass of 20 with batch_max 8: batches of 8, 8 and 4");
	mc.batch_max = 8;
	d = td_mover(&mc);
	dsa_emu_reset_stats(emu);
	ops_make(&o, d, 20, 21);
	ops_futs(&o, ff);
	lk = look(d, NULL);
	ff[20] = FUTURE_AS_RUNNABLE(&lk);
	runtime_wait_multiple(rt, ff, 21);
	ops_check(&o, 21);
	CHECK_EQ(lk.data.npend, 4);  /* two full batches went in the pass */
	CHECK_EQ(lk.data.nstaged, 4);
	s = td_stats(emu);
	CHECK_EQ(s.received, 3);
	CHECK_EQ(s.ops[DSA_OPCODE_BATCH], 3);
	CHECK_EQ(s.batch_members, 20);
	CHECK_EQ(s.bytes, (uint64_t)OPSZ * 20);
	CHECK_EQ(td_nstaged(d), 0);
	ops_free(&o);
	data_mover_dsa_delete(d);

	td_begin("a staged member polled again in its pass: the batch goes");
	d = mover();
	dsa_emu_reset_stats(emu);
	ops_make(&o, d, 6, 22);
	ops_futs(&o, ff);
	lk = look(d, NULL);
	lk.data.again = &o.f[2];
	ff[6] = FUTURE_AS_RUNNABLE(&lk);
	dsa_emu_pause(emu, -1, 1); /* the poll finds it running */
	runtime_wait_multiple(rt, ff, 7);
	ops_check(&o, 22);
	CHECK_EQ(lk.data.nstaged, 6);
	CHECK_EQ(lk.data.nstaged_after, 0);
	CHECK_EQ(lk.data.npend_after, 0); /* sent, not only published */
	s = td_stats(emu);
	CHECK_EQ(s.received, 1);
	CHECK_EQ(s.batch_members, 6);
	CHECK_EQ(s.bytes, (uint64_t)OPSZ * 6);
	ops_free(&o);
	data_mover_dsa_delete(d);
}

static void
test_by_hand(void)
{
	struct data_mover_dsa *d = mover();
	struct future *ff[NOPS];
	struct dsa_emu_stats s;
	struct ops o;
	int i;

	td_begin("polled by hand: the first goes alone, the rest batch");
	dsa_emu_reset_stats(emu);
	ops_make(&o, d, 8, 4);
	dsa_emu_pause(emu, -1, 1); /* the first stays in flight */
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&o.f[0]), NULL) ==
		FUTURE_STATE_RUNNING);
	CHECK_EQ(td_npend(d), 0); /* idle WQ: sent at once */
	td_wait_received(emu, 1);
	for (i = 1; i < 8; i++)
		CHECK(future_poll(FUTURE_AS_RUNNABLE(&o.f[i]), NULL) ==
			FUTURE_STATE_RUNNING);
	CHECK_EQ(td_npend(d), 7);
	CHECK_EQ(masync__round.n, 0); /* no round: nothing registered */
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&o.f[0]), NULL) ==
		FUTURE_STATE_RUNNING); /* sends the batch */
	CHECK_EQ(td_npend(d), 0);
	td_wait_received(emu, 2);
	dsa_emu_pause(emu, -1, 0);
	ops_futs(&o, ff);
	runtime_wait_multiple(rt, ff, 8);
	ops_check(&o, 4);
	s = td_stats(emu);
	CHECK_EQ(s.received, 2);
	CHECK_EQ(s.batch_members, 7);
	ops_free(&o);

	td_begin("runtime_wait: its first poll is outside a round");
	dsa_emu_reset_stats(emu);
	ops_make(&o, d, 1, 5);
	dsa_emu_pause(emu, -1, 1);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&o.f[0]), NULL) ==
		FUTURE_STATE_RUNNING);
	CHECK_EQ(td_npend(d), 0);
	dsa_emu_pause(emu, -1, 0);
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&o.f[0]));
	ops_check(&o, 5);
	s = td_stats(emu);
	CHECK_EQ(s.received, 1);
	ops_free(&o);
	data_mover_dsa_delete(d);
}

static void
test_nested(void)
{
	struct data_mover_dsa *d = mover();
	struct future *ff[NOPS + 1];
	struct dsa_emu_stats s;
	struct ops outer, inner;
	struct look_fut lk;

	td_begin("a nested wait sends the outer pass's operations too");
	dsa_emu_reset_stats(emu);
	ops_make(&outer, d, 10, 6);
	ops_make(&inner, d, 12, 7);
	lk = look(d, &inner);
	ops_futs(&outer, ff);
	ff[10] = FUTURE_AS_RUNNABLE(&lk);
	runtime_wait_multiple(rt, ff, 11);
	ops_check(&outer, 6);
	ops_check(&inner, 7);
	CHECK_EQ(lk.data.npend, 10); /* the outer ones, held back */
	CHECK_EQ(lk.data.received, 0);
	s = td_stats(emu);
	CHECK_EQ(s.received, 1); /* the inner pass sent all 22 */
	CHECK_EQ(s.batch_members, 22);
	CHECK_EQ(s.bytes, (uint64_t)OPSZ * 22);
	CHECK_EQ(masync__round.depth, 0);
	CHECK_EQ(masync__round.n, 0);
	ops_free(&outer);
	ops_free(&inner);
	data_mover_dsa_delete(d);
}

/* a future that completes at its first poll (polled after the async ones) */
static enum future_state
done_impl(struct future_context *ctx, struct future_notifier *n)
{
	(void)ctx, (void)n;
	return FUTURE_STATE_COMPLETE;
}

static void
test_early_returns(void)
{
	struct data_mover_dsa *d = mover();
	struct future *ff[NOPS + 1];
	struct dsa_emu_stats s;
	struct look_fut done;
	struct ops o;
	size_t r;

	td_begin("runtime_wait_multiple_for, timeout 0: nothing left pending");
	dsa_emu_reset_stats(emu);
	ops_make(&o, d, 6, 8);
	ops_futs(&o, ff);
	dsa_emu_pause(emu, -1, 1); /* none can complete in time */
	CHECK_EQ(runtime_wait_multiple_for(rt, ff, 6, 0), ETIMEDOUT);
	CHECK_EQ(td_npend(d), 0);
	CHECK_EQ(masync__round.n, 0);
	td_wait_received(emu, 1);
	dsa_emu_pause(emu, -1, 0);
	runtime_wait_multiple(rt, ff, 6);
	ops_check(&o, 8);
	s = td_stats(emu);
	CHECK_EQ(s.received, 1);
	CHECK_EQ(s.batch_members, 6);
	ops_free(&o);

	td_begin("runtime_wait_any returns in its probing pass: sent");
	dsa_emu_reset_stats(emu);
	ops_make(&o, d, 6, 9);
	ops_futs(&o, ff);
	memset(&done, 0, sizeof(done));
	FUTURE_INIT(&done, done_impl);
	ff[6] = FUTURE_AS_RUNNABLE(&done);
	dsa_emu_pause(emu, -1, 1);
	r = runtime_wait_any(rt, ff, 7);
	CHECK_EQ(r, 6);
	CHECK_EQ(td_npend(d), 0); /* the 6 started before it went */
	CHECK_EQ(masync__round.n, 0);
	td_wait_received(emu, 1);
	dsa_emu_pause(emu, -1, 0);
	runtime_wait_multiple(rt, ff, 6);
	ops_check(&o, 9);
	s = td_stats(emu);
	CHECK_EQ(s.received, 1);
	CHECK_EQ(s.batch_members, 6);
	ops_free(&o);

	td_begin("runtime_wait_any_for times out: nothing left pending");
	dsa_emu_reset_stats(emu);
	ops_make(&o, d, 4, 10);
	ops_futs(&o, ff);
	dsa_emu_pause(emu, -1, 1);
	CHECK_EQ(runtime_wait_any_for(rt, ff, 4, 0), SIZE_MAX);
	CHECK_EQ(td_npend(d), 0);
	CHECK_EQ(masync__round.n, 0);
	td_wait_received(emu, 1);
	dsa_emu_pause(emu, -1, 0);
	runtime_wait_multiple(rt, ff, 4);
	ops_check(&o, 10);
	s = td_stats(emu);
	CHECK_EQ(s.received, 1);
	CHECK_EQ(s.batch_members, 4);
	ops_free(&o);
	data_mover_dsa_delete(d);
}

/* the emulator of every case but one: a WQ with a portal (trapped where
 * the CPU has no MOVDIR64B) */
static struct dsa_emu *
main_emu(void)
{
	struct dsa_emu_config ec = {0};

	ec.wq_size = 64;
	return td_emu(&ec);
}

/* a flush that must not run: its mover was deleted */
static int stale_ran;

static void
stale_flush(void *arg)
{
	(void)arg;
	stale_ran++;
}

static void
test_delete_forgets(void)
{
	struct dsa_emu_config ec = {0};
	struct data_mover_dsa *d, *d2;
	int keep;

	/* two movers need two WQs: a dedicated WQ refuses a second opener
	 * (EBUSY); the WQs' kind does not matter here */
	dsa_emu_stop(emu);
	ec.nwqs = 2;
	emu = td_emu(&ec);
	d = mover();
	d2 = mover_on("wq0.1");

	td_begin("deleting a mover drops its registered flushes");
	masync__round.depth++; /* as inside a pass */
	CHECK(masync__round_defer(masync__dsa_round_all, d));
	CHECK(masync__round_defer(masync__dsa_round_wq, &d->q[0]));
	CHECK(masync__round_defer(stale_flush, &keep));
	CHECK(masync__round_defer(masync__dsa_round_all, d2));
	CHECK_EQ(masync__round.n, 4);
	data_mover_dsa_delete(d);
	CHECK_EQ(masync__round.n, 2); /* d's two are gone, in order */
	CHECK(masync__round.arg[0] == (void *)&keep);
	CHECK(masync__round.arg[1] == (void *)d2);
	masync__round_flush();
	CHECK_EQ(stale_ran, 1);
	CHECK_EQ(masync__round.n, 0);
	masync__round.depth--;
	data_mover_dsa_delete(d2);
	dsa_emu_stop(emu);
	emu = main_emu();
}

/* operations of d on the monitor's list */
static unsigned
count_armed(struct data_mover_dsa *d)
{
	struct masync__dsa_op *o;
	unsigned n = 0;

	masync__mtx_lock(&d->mlock);
	for (o = d->armed; o != NULL; o = o->anext)
		n++;
	masync__mtx_unlock(&d->mlock);
	return n;
}

static int
is_armed(struct vdm_operation_future *f)
{
	return MASYNC__LOAD(&((struct masync__dsa_op *)f->data.data)->armed,
		relaxed) != 0;
}

/* a plain future, polled after the operations in each pass */
#define LNOPS 8
struct later_data {
	struct data_mover_dsa *d;
	struct ops *o;
	struct vdm_operation_future x; /* started in the first pass */
	unsigned later0, armed0, later1, later2; /* in the first pass */
	int cancel3, cancel5, x_later;
	unsigned armed_after, later_after, armed_off; /* second pass */
	int cancel0, armed1_off;
	int polls;
};
struct later_output {
	int unused;
};
FUTURE(later_fut, struct later_data, struct later_output);

static enum future_state
later_impl(struct future_context *ctx, struct future_notifier *n)
{
	struct later_data *l =
		(struct later_data *)future_context_get_data(ctx);
	struct future *x = FUTURE_AS_RUNNABLE(&l->x);

	if (l->polls++ == 0) {
		/* between the starts and the pass's end */
		l->later0 = masync__dsa_later.n;
		l->armed0 = count_armed(l->d);
		l->cancel3 = vdm_cancel(&l->o->f[3]);
		l->cancel5 = vdm_cancel(&l->o->f[5]);
		l->later1 = masync__dsa_later.n;
		CHECK(future_poll(x, n) == FUTURE_STATE_RUNNING);
		l->x_later = ((struct masync__dsa_op *)l->x.data.data)->
			arm_later;
		l->later2 = masync__dsa_later.n;
		return FUTURE_STATE_RUNNING;
	}
	if (l->polls == 2) {
		/* the next pass: right after the end of the first */
		l->later_after = masync__dsa_later.n;
		l->armed_after = count_armed(l->d);
		l->cancel0 = vdm_cancel(&l->o->f[0]);
		CHECK(future_poll(FUTURE_AS_RUNNABLE(&l->o->f[1]), NULL) ==
			FUTURE_STATE_RUNNING);
		l->armed1_off = !is_armed(&l->o->f[1]);
		l->armed_off = count_armed(l->d);
		dsa_emu_pause(emu, -1, 0);
	}
	return future_poll(x, n);
}

static void
test_arm_later(void)
{
	struct data_mover_dsa *d = mover();
	struct future *ff[LNOPS + 1];
	struct later_fut lf;
	struct dsa_emu_stats s;
	struct ops o;
	unsigned char *xs = td_alloc(OPSZ), *xd = td_alloc(OPSZ);
	int i;

	td_begin("arms at the pass's end; cancel between start and end");
	dsa_emu_reset_stats(emu);
	ops_make(&o, d, LNOPS, 12);
	td_pattern(xs, OPSZ, 13);
	memset(xd, 0, OPSZ);
	memset(&lf, 0, sizeof(lf));
	lf.data.d = d;
	lf.data.o = &o;
	lf.data.x = vdm_memcpy(data_mover_dsa_get_vdm(d), xd, xs, OPSZ, 0);
	FUTURE_INIT(&lf, later_impl);
	ops_futs(&o, ff);
	ff[LNOPS] = FUTURE_AS_RUNNABLE(&lf);
	dsa_emu_pause(emu, -1, 1); /* nothing completes in the first passes */
	runtime_wait_multiple(rt, ff, LNOPS + 1);
	CHECK_EQ(lf.data.later0, LNOPS); /* all waiting for the end */
	CHECK_EQ(lf.data.armed0, 0);     /* none on the list yet */
	CHECK_EQ(lf.data.cancel3, 0);    /* pending: cancelled */
	CHECK_EQ(lf.data.cancel5, 0);
	CHECK_EQ(lf.data.later1, LNOPS - 2); /* ... and off the later list */
	CHECK_EQ(lf.data.x_later, 1);
	CHECK_EQ(lf.data.later2, LNOPS - 1);
	CHECK_EQ(lf.data.later_after, 0);
	CHECK_EQ(lf.data.armed_after, LNOPS - 1); /* 6 and x, once each */
	CHECK_EQ(lf.data.cancel0, EINPROGRESS);  /* in the batch: too late */
	CHECK_EQ(lf.data.armed1_off, 1);
	CHECK_EQ(lf.data.armed_off, LNOPS - 2);
	for (i = 0; i < LNOPS; i++) {
		CHECK(FUTURE_STATE(&o.f[i]) == FUTURE_STATE_COMPLETE);
		if (i == 3 || i == 5) {
			CHECK_RES(FUTURE_OUTPUT(&o.f[i])->result,
				VDM_ERROR_CANCELLED);
			CHECK_BYTES(o.dst + (size_t)i * OPSZ, OPSZ, 0);
		} else {
			CHECK_RES(FUTURE_OUTPUT(&o.f[i])->result,
				VDM_SUCCESS);
		}
	}
	CHECK_PATTERN(o.dst, OPSZ * 3, 0, 12);
	CHECK_PATTERN(o.dst + OPSZ * 4, OPSZ, 4 * OPSZ, 12);
	CHECK_PATTERN(o.dst + OPSZ * 6, OPSZ * 2, 6 * OPSZ, 12);
	CHECK(FUTURE_STATE(&lf.data.x) == FUTURE_STATE_COMPLETE);
	CHECK_RES(FUTURE_OUTPUT(&lf.data.x)->result, VDM_SUCCESS);
	CHECK_PATTERN(xd, OPSZ, 0, 13);
	CHECK_EQ(count_armed(d), 0);
	CHECK_EQ(masync__dsa_later.n, 0);
	CHECK_EQ(masync__round.n, 0);
	s = td_stats(emu);
	CHECK_EQ(s.received, 1); /* x joined the pass's batch */
	CHECK_EQ(s.batch_members, LNOPS - 1);
	CHECK_EQ(s.bytes, (uint64_t)OPSZ * (LNOPS - 1));
	ops_free(&o);
	td_free(xs);
	td_free(xd);
	data_mover_dsa_delete(d);
}

int
main(void)
{
	struct data_mover_dsa *d;

	td_enter("test_dsa_round");
	rt = runtime_new();
	CHECK(rt != NULL);
	td_clock_fake(1000000000ull, 0); /* never moves */
	emu = main_emu();
	d = mover();
	CHECK(td_portal(d));
	data_mover_dsa_delete(d);
	test_round();
	test_stage();
	test_by_hand();
	test_nested();
	test_early_returns();
	test_delete_forgets();
	test_arm_later();
	dsa_emu_stop(emu);
	MASYNC__STORE(&masync__test_movdir64b, (masync__movdir64b_fn)NULL,
		release);
	td_clock_real();
	runtime_delete(rt);
	td_log("test_dsa_round: all passed\n");
	return 0;
}
