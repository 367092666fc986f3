/* test_runtime_spin.c - the runtime's adaptive spin before a sleep, and its
 * poll round (the flushes a mover registers for the end of a pass).
 * No clock: the spin's pauses are counted by a hook
 * (MASYNC__RT_SPIN_PAUSE), which can also fire the waiting future's waker
 * at a chosen pause ("the event comes while spinning"); the nap hook
 * (MASYNC__RT_ON_NAP) fires it when the runtime goes to sleep ("the event
 * comes while asleep"), so the nap returns at once.
 * - rules: the budget starts at MASYNC__RT_SPINS; a spin that ends in a
 *   sleep shrinks it by 1/8, down to MASYNC__RT_SPIN_MIN; an event caught
 *   after i pauses grows it to 2 i + MIN (at most MASYNC__RT_SPINS), never
 *   shrinks it; every MASYNC__RT_PROBE-th miss in a row spins the whole
 *   MASYNC__RT_SPINS;
 * - waits: the pauses a runtime_wait spends follow those rules (events
 *   that always come asleep shrink the spin to MIN; an event caught by a
 *   probe after 40 pauses makes the next spins last up to 96);
 * - round: a flush registered during a pass runs at the pass's end, before
 *   the runtime sleeps, once per registration, also for a wait-any that
 *   returns in its first pass and for a timeout; the depth is 0 outside a
 *   wait and 2 inside a nested one.
 * - starts: a pass whose only change was starts (IDLE -> RUNNING), every
 *   future holding the runtime's waker, is followed by the spin, not by
 *   another pass (counted by MASYNC__RT_ON_PASS): 2 passes for a
 *   runtime_wait_multiple whose event comes asleep (3 when one future
 *   hands out no notifier); an event during that pass (a waker called
 *   before the spin) is not lost: no nap, no pause; a completion in the
 *   pass still gets its pass.
 * - countup: a future that takes no notifier (RUNNING until polled n
 *   times) is polled again at once, MASYNC__RT_REPOLLS passes in a row
 *   before the first nap, MASYNC__RT_REPOLLS_NAPPED between naps (their
 *   time limit, MASYNC__RT_REPOLL_NS, is off here: no clock). */
#include <stdatomic.h>
#include <stdint.h>

static unsigned long pauses;    /* counted by the spin hook */
static unsigned long fire_at;   /* 0: never while spinning */
static unsigned long naps;
static unsigned long passes;    /* counted by the pass hook */
static void test_event(void);
#define MASYNC__RT_ON_PASS() (passes++)
#define MASYNC__RT_SPIN_PAUSE()                                                \
	do {                                                                   \
		if (++pauses == fire_at)                                       \
			test_event();                                          \
	} while (0)
#define MASYNC__RT_ON_NAP(ns) ((void)(ns), naps++, test_event())
/* the re-polls of a notifier-less future go by count only, not by time */
#define MASYNC__RT_REPOLL_NS 0u
#define MINIASYNC_IMPLEMENTATION
#include "test_chaos.h" /* MASYNC__TEST_PREEMPT */
#include "miniasync.h"
#include "test_core_util.h"

#include <string.h>

/* ---- a future that waits for one event (its waker) ---- */
struct ev_data {
	struct future_waker waker; /* the last one handed over */
	int fired;
	int flushed_before_nap;    /* round test: see below */
};
struct ev_output {
	int unused;
};
FUTURE(ev_fut, struct ev_data, struct ev_output);

static struct ev_data *armed;  /* the future the next event completes */

/* ---- a group of futures completed by one event (the starts test) ---- */
#define GRP 4
static int grp_on, grp_fired;
static struct future_waker grp_w[GRP];
static void grp_event(void);

struct grp_data {
	int idx;
	int no_notifier; /* hands out nothing */
	int fire;        /* its first poll fires the event itself */
	int done_now;    /* completes at its first poll */
};
struct grp_output {
	int unused;
};
FUTURE(grp_fut, struct grp_data, struct grp_output);

static enum future_state
grp_impl(struct future_context *ctx, struct future_notifier *n)
{
	struct grp_data *d = (struct grp_data *)future_context_get_data(ctx);

	if (grp_fired || d->done_now)
		return FUTURE_STATE_COMPLETE;
	if (n != NULL && !d->no_notifier) {
		grp_w[d->idx] = n->waker;
		n->notifier_used = FUTURE_NOTIFIER_WAKER;
	}
	if (d->fire)
		grp_event();
	return FUTURE_STATE_RUNNING;
}

static void
grp_event(void)
{
	int i;

	if (!grp_on || grp_fired)
		return;
	grp_fired = 1;
	for (i = 0; i < GRP; i++)
		if (grp_w[i].wake != NULL)
			grp_w[i].wake(grp_w[i].data);
}

static void
test_event(void)
{
	struct ev_data *d = armed;

	grp_event();

	if (d == NULL || d->fired)
		return;
	d->fired = 1;
	if (d->waker.wake != NULL)
		d->waker.wake(d->waker.data);
}

static enum future_state
ev_impl(struct future_context *ctx, struct future_notifier *n)
{
	struct ev_data *d = (struct ev_data *)future_context_get_data(ctx);

	if (d->fired)
		return FUTURE_STATE_COMPLETE;
	if (n != NULL) {
		d->waker = n->waker;
		n->notifier_used = FUTURE_NOTIFIER_WAKER;
	}
	return FUTURE_STATE_RUNNING;
}

static void
ev_init(struct ev_fut *f)
{
	memset(f, 0, sizeof(*f));
	FUTURE_INIT(f, ev_impl);
}

/* one runtime_wait whose event comes at pause `at` (0: asleep); returns
 * the pauses it spent */
static unsigned long
wait_one(struct runtime *rt, unsigned long at)
{
	struct ev_fut f;
	unsigned long before = pauses;

	ev_init(&f);
	armed = &f.data;
	fire_at = at == 0 ? 0 : pauses + at;
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&f));
	armed = NULL;
	fire_at = 0;
	CHECK(f.data.fired);
	return pauses - before;
}

static uint32_t
budget(struct runtime *rt)
{
	return MASYNC__LOAD(&rt->spin, relaxed);
}

static void
test_rules(void)
{
	struct runtime *rt = runtime_new();
	unsigned i;

	CHECK(rt != NULL);
	CHECK(masync__rt_spin_limit(rt) == MASYNC__RT_SPINS);
	masync__rt_spin_missed(rt);
	CHECK(budget(rt) == MASYNC__RT_SPINS - MASYNC__RT_SPINS / 8);
	for (i = 1; i < 40; i++)
		masync__rt_spin_missed(rt);
	CHECK(budget(rt) == MASYNC__RT_SPIN_MIN); /* the floor */
	CHECK(masync__rt_spin_limit(rt) == MASYNC__RT_SPIN_MIN);
	for (; i < MASYNC__RT_PROBE; i++)
		masync__rt_spin_missed(rt);
	CHECK(masync__rt_spin_limit(rt) == MASYNC__RT_SPINS); /* a probe */
	masync__rt_spin_missed(rt);
	CHECK(masync__rt_spin_limit(rt) == MASYNC__RT_SPIN_MIN);
	masync__rt_spin_caught(rt, 50);
	CHECK(budget(rt) == 2 * 50 + MASYNC__RT_SPIN_MIN);
	CHECK(MASYNC__LOAD(&rt->misses, relaxed) == 0);
	masync__rt_spin_caught(rt, 3); /* early: keeps the budget */
	CHECK(budget(rt) == 2 * 50 + MASYNC__RT_SPIN_MIN);
	masync__rt_spin_caught(rt, 1000);
	CHECK(budget(rt) == MASYNC__RT_SPINS);
	runtime_delete(rt);
}

static void
test_waits(void)
{
	struct runtime *rt = runtime_new();
	unsigned long p;
	unsigned i;

	CHECK(rt != NULL);
	/* caught after 10 pauses: 10 spent, the budget stays */
	CHECK(wait_one(rt, 10) == 10);
	CHECK(budget(rt) == MASYNC__RT_SPINS);
	/* always asleep: the whole budget, shrinking to the floor */
	CHECK(wait_one(rt, 0) == MASYNC__RT_SPINS);
	CHECK(budget(rt) == MASYNC__RT_SPINS - MASYNC__RT_SPINS / 8);
	CHECK(naps == 1);
	for (i = 0; i < 30; i++)
		wait_one(rt, 0);
	CHECK(budget(rt) == MASYNC__RT_SPIN_MIN);
	CHECK(wait_one(rt, 0) == MASYNC__RT_SPIN_MIN);
	/* an event after 40 pauses is not caught by 16 ... */
	while (MASYNC__LOAD(&rt->misses, relaxed) % MASYNC__RT_PROBE != 0)
		CHECK(wait_one(rt, 40) == MASYNC__RT_SPIN_MIN);
	/* ... until the probe: caught, the next spins last up to 96 */
	p = wait_one(rt, 40);
	CHECK(p == 40);
	CHECK(budget(rt) == 2 * 40 + MASYNC__RT_SPIN_MIN);
	CHECK(wait_one(rt, 90) == 90);
	CHECK(budget(rt) == 2 * 90 + MASYNC__RT_SPIN_MIN);
	CHECK(naps == 1 + 30 + 1 + (MASYNC__RT_PROBE - 32));
	runtime_delete(rt);
}

/* ---- the poll round ---- */
static int flushes;
static unsigned depth_seen;

static void
count_flush(void *arg)
{
	(void)arg;
	flushes++;
}

/* registers a flush (twice: one registration) at each poll; completes at
 * its `polls`-th poll; records whether the flushes ran before a nap */
struct reg_data {
	int polls, left;
	int flushes_at_nap;
};
struct reg_output {
	int unused;
};
FUTURE(reg_fut, struct reg_data, struct reg_output);

static enum future_state
reg_impl(struct future_context *ctx, struct future_notifier *n)
{
	struct reg_data *d = (struct reg_data *)future_context_get_data(ctx);

	(void)n;
	depth_seen = masync__round.depth;
	if (masync__round.depth != 0) {
		CHECK(masync__round_defer(count_flush, &flushes));
		CHECK(masync__round_defer(count_flush, &flushes));
		CHECK(masync__round.n == 1);
	} else {
		CHECK(!masync__round_defer(count_flush, &flushes));
	}
	d->polls++;
	return --d->left <= 0 ? FUTURE_STATE_COMPLETE : FUTURE_STATE_RUNNING;
}

static struct reg_fut
reg(int left)
{
	struct reg_fut f;

	memset(&f, 0, sizeof(f));
	f.data.left = left;
	FUTURE_INIT(&f, reg_impl);
	return f;
}

/* a future whose poll runs a nested wait of a reg future */
struct nest_data {
	unsigned inner_depth;
};
FUTURE(nest_fut, struct nest_data, struct reg_output);

static struct runtime *nest_rt;

static enum future_state
nest_impl(struct future_context *ctx, struct future_notifier *n)
{
	struct nest_data *d = (struct nest_data *)future_context_get_data(ctx);
	struct reg_fut r = reg(1);
	struct future *f = FUTURE_AS_RUNNABLE(&r);

	(void)n;
	runtime_wait_multiple(nest_rt, &f, 1);
	d->inner_depth = depth_seen;
	return FUTURE_STATE_COMPLETE;
}

static void
test_round(void)
{
	struct runtime *rt = runtime_new();
	struct reg_fut a = reg(3), b;
	struct future *ff[2];
	struct nest_fut nf;
	struct ev_fut never;

	CHECK(rt != NULL);
	nest_rt = rt;
	/* by hand: no round, nothing registered */
	b = reg(1);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&b), NULL) ==
		FUTURE_STATE_COMPLETE);
	CHECK(depth_seen == 0);
	/* three passes (no notifier: backoff naps in between), each one
	 * flushed once at its end */
	flushes = 0;
	ff[0] = FUTURE_AS_RUNNABLE(&a);
	runtime_wait_multiple(rt, ff, 1);
	CHECK(a.data.polls == 3);
	CHECK(flushes == 3);
	CHECK(depth_seen == 1);
	CHECK(masync__round.depth == 0 && masync__round.n == 0);
	/* wait-any: returns in its first (probing) pass at ff[1]; the flush
	 * registered by ff[0]'s poll ran */
	ev_init(&never);
	a = reg(1);
	ff[0] = FUTURE_AS_RUNNABLE(&never);
	ff[1] = FUTURE_AS_RUNNABLE(&a);
	flushes = 0;
	CHECK(runtime_wait_any(rt, ff, 2) == 1);
	CHECK(flushes == 1);
	CHECK(masync__round.n == 0);
	/* a timeout: the flush ran before it returned */
	a = reg(1000);
	ff[0] = FUTURE_AS_RUNNABLE(&a);
	flushes = 0;
	CHECK(runtime_wait_multiple_for(rt, ff, 1, 0) == ETIMEDOUT);
	CHECK(flushes >= 1);
	CHECK(masync__round.n == 0 && masync__round.depth == 0);
	/* nested: depth 2 inside, the inner pass flushes, 0 afterwards */
	memset(&nf, 0, sizeof(nf));
	FUTURE_INIT(&nf, nest_impl);
	ff[0] = FUTURE_AS_RUNNABLE(&nf);
	flushes = 0;
	runtime_wait_multiple(rt, ff, 1);
	CHECK(nf.data.inner_depth == 2);
	CHECK(flushes == 1);
	CHECK(masync__round.n == 0 && masync__round.depth == 0);
	/* a full list: defer says "do it now" */
	masync__round.depth++;
	{
		int keys[MASYNC__ROUND_MAX + 1];
		unsigned i;

		for (i = 0; i < MASYNC__ROUND_MAX; i++)
			CHECK(masync__round_defer(count_flush, &keys[i]));
		CHECK(!masync__round_defer(count_flush, &keys[i]));
		flushes = 0;
		masync__round_flush();
		CHECK(flushes == (int)MASYNC__ROUND_MAX);
	}
	masync__round.depth--;
	runtime_delete(rt);
}

/* runtime_wait_multiple of GRP fresh futures, the event asleep unless
 * one fires it; how many passes / naps / pauses it took */
static void
grp_wait(struct runtime *rt, int no_notifier_at, int fire_at_idx,
	int done_at, unsigned long *np, unsigned long *nn, unsigned long *npz)
{
	struct grp_fut f[GRP];
	struct future *ff[GRP];
	unsigned long p0 = passes, n0 = naps, z0 = pauses;
	int i;

	memset(grp_w, 0, sizeof(grp_w));
	for (i = 0; i < GRP; i++) {
		memset(&f[i], 0, sizeof(f[i]));
		FUTURE_INIT(&f[i], grp_impl);
		f[i].data.idx = i;
		f[i].data.no_notifier = i == no_notifier_at;
		f[i].data.fire = i == fire_at_idx;
		f[i].data.done_now = i == done_at;
		ff[i] = FUTURE_AS_RUNNABLE(&f[i]);
	}
	grp_on = 1;
	grp_fired = 0;
	runtime_wait_multiple(rt, ff, GRP);
	grp_on = 0;
	for (i = 0; i < GRP; i++)
		CHECK(FUTURE_STATE(&f[i]) == FUTURE_STATE_COMPLETE);
	*np = passes - p0;
	*nn = naps - n0;
	*npz = pauses - z0;
}

static void
test_starts(void)
{
	struct runtime *rt = runtime_new();
	unsigned long np, nn, npz;

	CHECK(rt != NULL);
	/* all wakers, the event asleep: start pass, spin, nap, last pass */
	grp_wait(rt, -1, -1, -1, &np, &nn, &npz);
	CHECK(np == 2);
	CHECK(nn == 1);
	CHECK(npz == MASYNC__RT_SPINS);
	/* one hands out no notifier: polled again at once, REPOLLS passes
	 * in a row, before any sleep */
	grp_wait(rt, 2, -1, -1, &np, &nn, &npz);
	CHECK(np == 2 + MASYNC__RT_REPOLLS);
	CHECK(nn == 1);
	/* the last one's start fires the event (the others' wakers are
	 * called during the pass): seen at once, no pause, no nap */
	grp_wait(rt, -1, GRP - 1, -1, &np, &nn, &npz);
	CHECK(np == 2);
	CHECK(nn == 0);
	CHECK(npz == 0);
	/* ... also when it is the first, before the others hold a waker */
	grp_wait(rt, -1, 0, -1, &np, &nn, &npz);
	CHECK(np == 2);
	CHECK(nn == 0);
	/* a completion in the pass: the next pass follows at once (it polls
	 * all, no pause), then the spin */
	grp_wait(rt, -1, -1, 1, &np, &nn, &npz);
	CHECK(np == 3);
	CHECK(nn == 1);
	runtime_delete(rt);
}

/* ---- libminiasync's countup: RUNNING until polled `max` times, no
 * notifier ---- */
struct count_data {
	unsigned n, max;
};
struct count_output {
	unsigned polls;
};
FUTURE(count_fut, struct count_data, struct count_output);

static enum future_state
count_impl(struct future_context *ctx, struct future_notifier *n)
{
	struct count_data *d = (struct count_data *)future_context_get_data(ctx);

	(void)n;
	if (++d->n < d->max)
		return FUTURE_STATE_RUNNING;
	((struct count_output *)future_context_get_output(ctx))->polls = d->n;
	return FUTURE_STATE_COMPLETE;
}

/* naps a runtime_wait takes for a countup of max polls */
static unsigned long
count_naps(struct runtime *rt, unsigned max)
{
	struct count_fut f;
	unsigned long n0 = naps;

	memset(&f, 0, sizeof(f));
	FUTURE_INIT(&f, count_impl);
	f.data.max = max;
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&f));
	CHECK(FUTURE_STATE(&f) == FUTURE_STATE_COMPLETE);
	CHECK(FUTURE_OUTPUT(&f)->polls == max);
	return naps - n0;
}

/* a future with no notifier is polled again at once: REPOLLS passes in a
 * row with no change before the first nap, REPOLLS_NAPPED between naps
 * (before: a nap after every poll, 20 polls took ~5 ms) */
static void
test_countup(void)
{
	struct runtime *rt = runtime_new();
	unsigned extra = 3 * MASYNC__RT_REPOLLS_NAPPED;

	CHECK(rt != NULL);
	/* the first poll starts it, REPOLLS more follow at once */
	CHECK(count_naps(rt, 20) == 0);
	CHECK(count_naps(rt, 1 + MASYNC__RT_REPOLLS) == 0);
	CHECK(count_naps(rt, 2 + MASYNC__RT_REPOLLS) == 1);
	/* then a nap and NAPPED more, three times over */
	CHECK(count_naps(rt, 1 + MASYNC__RT_REPOLLS + extra) == 3);
	CHECK(count_naps(rt, 2 + MASYNC__RT_REPOLLS + extra) == 4);
	runtime_delete(rt);
}

int
main(void)
{
	run_group("adaptive spin: rules", test_rules);
	run_group("adaptive spin: waits", test_waits);
	run_group("poll round: flush at each pass's end", test_round);
	run_group("no extra pass after starts only", test_starts);
	run_group("a notifier-less future polled again at once", test_countup);
	return failures != 0;
}
