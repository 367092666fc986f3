/* test_chain.c - chained futures of miniasync.h (API.md section 2):
 * a vdm future followed by user futures, a chain inside a chain,
 * FUTURE_CHAIN_ENTRY_LAZY_INIT using an earlier entry's result,
 * FUTURE_CHAIN_ENTRY_IS_INITIALIZED, FUTURE_CHAIN_ENTRY_LAST followed by
 * members that must not be touched, map onto the chain's own output,
 * FUTURE_PROPERTY_ASYNC following the current entry, each poll advancing as
 * far as it can, notifier pass-through, a chain moved between polls, an
 * entry born complete, and the chain macros inside if/else.
 * Prints one line per check group; exits 0 (pass) or 1 (fail). */
#include "test_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_core_util.h"

static struct vdm *sync_vdm;

/* ---- a step future: completes after `needed` polls, logs every poll ---- */

#define LOG_MAX 64
static int poll_log[LOG_MAX];
static int poll_log_n;

struct step_data {
	int id;
	int needed;
	int polls;
	int async;
	int use_waker;
	long value_in;
};

struct step_output {
	long value_out;
};

FUTURE(step_future, struct step_data, struct step_output);

static enum future_state
step_task(struct future_context *ctx, struct future_notifier *n)
{
	struct step_data *d = (struct step_data *)future_context_get_data(ctx);
	struct step_output *o =
		(struct step_output *)future_context_get_output(ctx);

	if (poll_log_n < LOG_MAX)
		poll_log[poll_log_n++] = d->id;
	d->polls++;
	if (d->use_waker && n != NULL)
		n->notifier_used = FUTURE_NOTIFIER_WAKER;
	if (d->polls < d->needed)
		return FUTURE_STATE_RUNNING;
	o->value_out = d->value_in + 1;
	return FUTURE_STATE_COMPLETE;
}

static int
step_has_property(void *future, enum future_property property)
{
	struct future *f = (struct future *)future;
	struct step_data *d =
		(struct step_data *)future_context_get_data(&f->context);

	return property == FUTURE_PROPERTY_ASYNC && d->async;
}

static struct step_future
step_new(int id, int needed, int async, long value_in)
{
	struct step_future f;

	memset(&f, 0, sizeof(f));
	FUTURE_INIT_EXT(&f, step_task, step_has_property);
	f.data.id = id;
	f.data.needed = needed;
	f.data.async = async;
	f.data.value_in = value_in;
	return f;
}

/* ---- a sum future: adds up the bytes of a buffer ------------------------ */

struct sum_data {
	const unsigned char *buf;
	size_t n;
};

struct sum_output {
	unsigned long sum;
};

FUTURE(sum_future, struct sum_data, struct sum_output);

static enum future_state
sum_task(struct future_context *ctx, struct future_notifier *n)
{
	struct sum_data *d = (struct sum_data *)future_context_get_data(ctx);
	struct sum_output *o =
		(struct sum_output *)future_context_get_output(ctx);
	size_t i;

	(void)n;
	o->sum = 0;
	for (i = 0; d->buf != NULL && i < d->n; i++)
		o->sum += d->buf[i];
	return FUTURE_STATE_COMPLETE;
}

static struct sum_future
sum_new(void)
{
	struct sum_future f;

	memset(&f, 0, sizeof(f));
	FUTURE_INIT(&f, sum_task);
	return f;
}

/* ---- map bookkeeping ------------------------------------------------------ */

struct map_rec {
	int calls;
	struct future_context *lhs, *rhs;
};

/* ======================================================================== */
/* 1. vdm future followed by user futures, map onto the chain's output      */
/* ======================================================================== */

struct copy_sum_data {
	FUTURE_CHAIN_ENTRY(struct vdm_operation_future, copy);
	FUTURE_CHAIN_ENTRY(struct sum_future, sum);
	FUTURE_CHAIN_ENTRY(struct step_future, step);
};

struct copy_sum_output {
	unsigned long sum_plus_one;
	int mapped;
};

FUTURE(copy_sum_future, struct copy_sum_data, struct copy_sum_output);

struct copy_sum_args {
	size_t n;
	struct map_rec rec[3];
	int copy_result; /* result seen by the first map */
};

static void
map_copy_to_sum(struct future_context *lhs, struct future_context *rhs,
	void *arg)
{
	struct copy_sum_args *a = (struct copy_sum_args *)arg;
	struct vdm_operation_output *out =
		(struct vdm_operation_output *)future_context_get_output(lhs);
	struct sum_data *sd = (struct sum_data *)future_context_get_data(rhs);

	a->rec[0].calls++;
	a->rec[0].lhs = lhs;
	a->rec[0].rhs = rhs;
	a->copy_result = (int)out->result;
	sd->buf = out->result == VDM_SUCCESS ?
		(const unsigned char *)out->output.memcpy.dest : NULL;
	sd->n = a->n;
}

static void
map_sum_to_step(struct future_context *lhs, struct future_context *rhs,
	void *arg)
{
	struct copy_sum_args *a = (struct copy_sum_args *)arg;
	struct sum_output *so = (struct sum_output *)future_context_get_output(lhs);
	struct step_data *st = (struct step_data *)future_context_get_data(rhs);

	a->rec[1].calls++;
	a->rec[1].lhs = lhs;
	a->rec[1].rhs = rhs;
	st->value_in = (long)so->sum;
}

static void
map_step_to_chain(struct future_context *lhs, struct future_context *rhs,
	void *arg)
{
	struct copy_sum_args *a = (struct copy_sum_args *)arg;
	struct step_output *so =
		(struct step_output *)future_context_get_output(lhs);
	struct copy_sum_output *co =
		(struct copy_sum_output *)future_context_get_output(rhs);

	a->rec[2].calls++;
	a->rec[2].lhs = lhs;
	a->rec[2].rhs = rhs;
	co->sum_plus_one = (unsigned long)so->value_out;
	co->mapped++;
}

static struct copy_sum_future
copy_sum_new(struct vdm *vdm, void *dst, void *src, size_t n,
	struct copy_sum_args *args)
{
	struct copy_sum_future c;

	memset(&c, 0, sizeof(c));
	args->n = n;
	FUTURE_CHAIN_ENTRY_INIT(&c.data.copy, vdm_memcpy(vdm, dst, src, n, 0),
		map_copy_to_sum, args);
	FUTURE_CHAIN_ENTRY_INIT(&c.data.sum, sum_new(), map_sum_to_step, args);
	FUTURE_CHAIN_ENTRY_INIT(&c.data.step, step_new(30, 2, 0, 0),
		map_step_to_chain, args);
	FUTURE_CHAIN_INIT(&c);
	return c;
}

static void
group_vdm_then_user(void)
{
	unsigned char src[300], dst[300];
	unsigned long expect = 0;
	struct copy_sum_args args;
	size_t i;

	for (i = 0; i < sizeof(src); i++) {
		src[i] = (unsigned char)(i * 7 + 3);
		expect += src[i];
	}
	memset(dst, 0, sizeof(dst));
	memset(&args, 0, sizeof(args));
	struct copy_sum_future c = copy_sum_new(sync_vdm, dst, src,
		sizeof(src), &args);

	CHECK(FUTURE_CHAIN_ENTRY_IS_INITIALIZED(&c.data.copy));
	CHECK(FUTURE_CHAIN_ENTRY_IS_INITIALIZED(&c.data.sum));
	CHECK(FUTURE_CHAIN_ENTRY_IS_INITIALIZED(&c.data.step));
	CHECK(c.base.context.state == FUTURE_STATE_IDLE);
	/* poll 1: copy + sum complete, step needs a second poll */
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&c), NULL) == FUTURE_STATE_RUNNING);
	CHECK(memcmp(dst, src, sizeof(src)) == 0);
	CHECK(args.rec[0].calls == 1 && args.rec[1].calls == 1);
	CHECK(args.rec[2].calls == 0);
	CHECK(c.data.step.fut.data.polls == 1);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&c), NULL) ==
		FUTURE_STATE_COMPLETE);
	CHECK(args.rec[0].calls == 1 && args.rec[1].calls == 1);
	CHECK(args.rec[2].calls == 1);
	/* map got the right contexts: entry -> next entry -> chain */
	CHECK(args.rec[0].lhs == &c.data.copy.fut.base.context);
	CHECK(args.rec[0].rhs == &c.data.sum.fut.base.context);
	CHECK(args.rec[1].lhs == &c.data.sum.fut.base.context);
	CHECK(args.rec[1].rhs == &c.data.step.fut.base.context);
	CHECK(args.rec[2].lhs == &c.data.step.fut.base.context);
	CHECK(args.rec[2].rhs == &c.base.context);
	CHECK(args.copy_result == VDM_SUCCESS);
	CHECK(c.data.copy.fut.output.output.memcpy.dest == (void *)dst);
	CHECK(c.data.sum.fut.output.sum == expect);
	CHECK(FUTURE_OUTPUT(&c)->sum_plus_one == expect + 1);
	CHECK(FUTURE_OUTPUT(&c)->mapped == 1);
	/* complete: polling again maps nothing again */
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&c), NULL) ==
		FUTURE_STATE_COMPLETE);
	CHECK(args.rec[2].calls == 1);
	CHECK(c.data.step.fut.data.polls == 2);
}

/* ======================================================================== */
/* 2. a chain inside a chain                                                */
/* ======================================================================== */

struct outer_data {
	FUTURE_CHAIN_ENTRY(struct step_future, before);
	FUTURE_CHAIN_ENTRY(struct copy_sum_future, inner);
	FUTURE_CHAIN_ENTRY(struct step_future, after);
};

struct outer_output {
	long result;
};

FUTURE(outer_future, struct outer_data, struct outer_output);

static void
map_inner_to_after(struct future_context *lhs, struct future_context *rhs,
	void *arg)
{
	struct copy_sum_output *co =
		(struct copy_sum_output *)future_context_get_output(lhs);
	struct step_data *st = (struct step_data *)future_context_get_data(rhs);

	(void)arg;
	st->value_in = (long)co->sum_plus_one * 1000;
}

static void
map_after_to_outer(struct future_context *lhs, struct future_context *rhs,
	void *arg)
{
	struct step_output *so =
		(struct step_output *)future_context_get_output(lhs);
	struct outer_output *oo =
		(struct outer_output *)future_context_get_output(rhs);

	*(int *)arg += 1;
	oo->result = so->value_out;
}

static void
group_chain_in_chain(void)
{
	unsigned char src[64], dst[64];
	struct copy_sum_args args;
	struct outer_future o;
	int outer_maps = 0, polls = 0;
	unsigned long expect = 0;
	size_t i;

	for (i = 0; i < sizeof(src); i++) {
		src[i] = (unsigned char)(200 - i);
		expect += src[i];
	}
	memset(dst, 0, sizeof(dst));
	memset(&args, 0, sizeof(args));
	memset(&o, 0, sizeof(o));
	FUTURE_CHAIN_ENTRY_INIT(&o.data.before, step_new(1, 2, 0, 0), NULL,
		NULL);
	FUTURE_CHAIN_ENTRY_INIT(&o.data.inner,
		copy_sum_new(sync_vdm, dst, src, sizeof(src), &args),
		map_inner_to_after, NULL);
	FUTURE_CHAIN_ENTRY_INIT(&o.data.after, step_new(2, 1, 0, 0),
		map_after_to_outer, &outer_maps);
	FUTURE_CHAIN_INIT(&o);

	while (future_poll(FUTURE_AS_RUNNABLE(&o), NULL) !=
			FUTURE_STATE_COMPLETE && polls < 100)
		polls++;
	CHECK(polls == 2); /* before: 2 polls, inner step: 2 polls */
	CHECK(memcmp(dst, src, sizeof(src)) == 0);
	CHECK(o.data.inner.fut.output.sum_plus_one == expect + 1);
	CHECK(o.data.inner.fut.base.context.state == FUTURE_STATE_COMPLETE);
	CHECK(args.rec[0].calls == 1 && args.rec[2].calls == 1);
	CHECK(outer_maps == 1);
	CHECK(FUTURE_OUTPUT(&o)->result == (long)(expect + 1) * 1000 + 1);
}

/* ======================================================================== */
/* 3. lazy init from an earlier result; ENTRY_LAST + untouched members      */
/* ======================================================================== */

static int bomb_polled, bomb_mapped;

struct bomb_data {
	int x;
};
struct bomb_output {
	int y;
};
FUTURE(bomb_future, struct bomb_data, struct bomb_output);

static enum future_state
bomb_task(struct future_context *ctx, struct future_notifier *n)
{
	(void)ctx;
	(void)n;
	bomb_polled++;
	return FUTURE_STATE_COMPLETE;
}

static void
bomb_map(struct future_context *lhs, struct future_context *rhs, void *arg)
{
	(void)lhs;
	(void)rhs;
	(void)arg;
	bomb_mapped++;
}

#define FILL_N 777

struct lazy_data {
	FUTURE_CHAIN_ENTRY(struct step_future, first);
	FUTURE_CHAIN_ENTRY(struct vdm_operation_future, fill);
	FUTURE_CHAIN_ENTRY_LAST(struct step_future, last);
	/* extra members after the last entry: never touched by the chain */
	int extra_count;
	FUTURE_CHAIN_ENTRY(struct bomb_future, bomb);
	unsigned char canary[40];
};

struct lazy_output {
	long last_value;
};

FUTURE(lazy_future, struct lazy_data, struct lazy_output);

struct lazy_args {
	unsigned char *buf;
	int fill_inits, last_inits;
	void *fill_future_seen;
	struct future_context *chain_seen;
};

static void
init_fill(void *future, struct future_context *chain_ctx, void *arg)
{
	struct lazy_args *a = (struct lazy_args *)arg;
	struct lazy_data *d =
		(struct lazy_data *)future_context_get_data(chain_ctx);
	/* the first entry's result decides the fill byte */
	int c = (int)d->first.fut.output.value_out;

	a->fill_inits++;
	a->fill_future_seen = future;
	a->chain_seen = chain_ctx;
	*(struct vdm_operation_future *)future =
		vdm_memset(sync_vdm, a->buf, c, FILL_N, 0);
}

static void
init_last(void *future, struct future_context *chain_ctx, void *arg)
{
	struct lazy_args *a = (struct lazy_args *)arg;
	struct lazy_data *d =
		(struct lazy_data *)future_context_get_data(chain_ctx);
	struct vdm_operation_output *fo = FUTURE_OUTPUT(&d->fill.fut);

	a->last_inits++;
	/* uses the memset's output: its result and destination */
	*(struct step_future *)future = step_new(9, 2, 0,
		fo->result == VDM_SUCCESS ?
		((unsigned char *)fo->output.memset.str)[FILL_N - 1] : -1000);
}

static void
map_last_to_chain(struct future_context *lhs, struct future_context *rhs,
	void *arg)
{
	struct step_output *so =
		(struct step_output *)future_context_get_output(lhs);
	struct lazy_output *lo =
		(struct lazy_output *)future_context_get_output(rhs);

	(void)arg;
	lo->last_value = so->value_out;
}

static void
lazy_setup(struct lazy_future *c, struct lazy_args *args)
{
	memset(c, 0, sizeof(*c));
	FUTURE_CHAIN_ENTRY_INIT(&c->data.first, step_new(1, 3, 0, 0x5A - 1),
		NULL, NULL);
	FUTURE_CHAIN_ENTRY_LAZY_INIT(&c->data.fill, init_fill, args, NULL,
		NULL);
	FUTURE_CHAIN_ENTRY_LAZY_INIT(&c->data.last, init_last, args,
		map_last_to_chain, NULL);
	FUTURE_CHAIN_INIT(c);
	/* a valid-looking entry after the last one: a walker that ran past
	 * the LAST entry would poll and map it */
	struct bomb_future b;
	memset(&b, 0, sizeof(b));
	FUTURE_INIT(&b, bomb_task);
	FUTURE_CHAIN_ENTRY_INIT(&c->data.bomb, b, bomb_map, NULL);
	c->data.extra_count = 12345;
	memset(c->data.canary, 0xC3, sizeof(c->data.canary));
}

static void
group_lazy_and_last(void)
{
	unsigned char *buf = (unsigned char *)malloc(FILL_N + 2);
	struct lazy_args args;
	struct lazy_future c, *moved;
	unsigned char tail_before[sizeof(struct lazy_data)];
	size_t tail_off = offsetof(struct lazy_data, extra_count);
	size_t tail_len = sizeof(struct lazy_data) - tail_off;
	int i;

	if (buf == NULL) {
		CHECK(!"out of memory");
		return;
	}
	memset(buf, 0, FILL_N + 2);
	memset(&args, 0, sizeof(args));
	args.buf = buf;
	bomb_polled = bomb_mapped = 0;
	lazy_setup(&c, &args);
	memcpy(tail_before, (unsigned char *)&c.data + tail_off, tail_len);

	CHECK(FUTURE_CHAIN_ENTRY_IS_INITIALIZED(&c.data.first));
	CHECK(!FUTURE_CHAIN_ENTRY_IS_INITIALIZED(&c.data.fill));
	CHECK(!FUTURE_CHAIN_ENTRY_IS_INITIALIZED(&c.data.fill));
	CHECK(!FUTURE_CHAIN_ENTRY_IS_INITIALIZED(&c.data.last));
	CHECK(!FUTURE_CHAIN_ENTRY_IS_INITIALIZED(&c.data.last));

	/* polls 1, 2: the first entry runs; nothing lazy happens yet */
	for (i = 0; i < 2; i++) {
		CHECK(future_poll(FUTURE_AS_RUNNABLE(&c), NULL) ==
			FUTURE_STATE_RUNNING);
		CHECK(!FUTURE_CHAIN_ENTRY_IS_INITIALIZED(&c.data.fill));
		CHECK(args.fill_inits == 0);
	}
	CHECK(buf[0] == 0);

	/* move the chain before the poll that initialises the lazy entries */
	moved = (struct lazy_future *)malloc(sizeof(*moved));
	if (moved == NULL) {
		CHECK(!"out of memory");
		free(buf);
		return;
	}
	memcpy(moved, &c, sizeof(c));
	memset(&c, 0xEE, sizeof(c));

	/* poll 3: first completes (value 0x5A), fill is initialised from it
	 * and runs, last is initialised from fill's output and polled once */
	CHECK(future_poll(FUTURE_AS_RUNNABLE(moved), NULL) ==
		FUTURE_STATE_RUNNING);
	CHECK(moved->data.first.fut.output.value_out == 0x5A);
	CHECK(FUTURE_CHAIN_ENTRY_IS_INITIALIZED(&moved->data.fill));
	CHECK(FUTURE_CHAIN_ENTRY_IS_INITIALIZED(&moved->data.fill));
	CHECK(FUTURE_CHAIN_ENTRY_IS_INITIALIZED(&moved->data.last));
	CHECK(args.fill_inits == 1);
	CHECK(args.last_inits == 1);
	CHECK(args.fill_future_seen == (void *)&moved->data.fill.fut);
	CHECK(args.chain_seen == &moved->base.context);
	CHECK(buf[0] == 0x5A && buf[FILL_N - 1] == 0x5A);
	CHECK(buf[FILL_N] == 0 && buf[FILL_N + 1] == 0);
	CHECK(moved->data.fill.fut.output.type == VDM_OPERATION_MEMSET);
	CHECK(moved->data.fill.fut.output.output.memset.str == (void *)buf);
	CHECK(moved->data.last.fut.data.value_in == 0x5A);

	/* poll 4: last completes and maps onto the chain's output */
	CHECK(future_poll(FUTURE_AS_RUNNABLE(moved), NULL) ==
		FUTURE_STATE_COMPLETE);
	CHECK(FUTURE_OUTPUT(moved)->last_value == 0x5A + 1);
	CHECK(args.fill_inits == 1 && args.last_inits == 1);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(moved), NULL) ==
		FUTURE_STATE_COMPLETE);

	/* the members after the LAST entry were never touched */
	CHECK(bomb_polled == 0);
	CHECK(bomb_mapped == 0);
	CHECK(moved->data.extra_count == 12345);
	CHECK(memcmp(tail_before, (unsigned char *)&moved->data + tail_off,
		tail_len) == 0);
	free(moved);
	free(buf);
}

/* a chain whose only entry is LAST, and extra members are big */
struct solo_data {
	FUTURE_CHAIN_ENTRY_LAST(struct step_future, only);
	FUTURE_CHAIN_ENTRY(struct bomb_future, bomb1);
	FUTURE_CHAIN_ENTRY(struct bomb_future, bomb2);
};
struct solo_output {
	long v;
};
FUTURE(solo_future, struct solo_data, struct solo_output);

static void
map_solo(struct future_context *lhs, struct future_context *rhs, void *arg)
{
	(void)arg;
	((struct solo_output *)future_context_get_output(rhs))->v =
		((struct step_output *)future_context_get_output(lhs))
		->value_out;
}

static void
group_last_only(void)
{
	struct solo_future s;
	struct bomb_future b;

	memset(&s, 0, sizeof(s));
	memset(&b, 0, sizeof(b));
	FUTURE_INIT(&b, bomb_task);
	bomb_polled = bomb_mapped = 0;
	FUTURE_CHAIN_ENTRY_INIT(&s.data.only, step_new(4, 1, 0, 41), map_solo,
		NULL);
	FUTURE_CHAIN_ENTRY_INIT(&s.data.bomb1, b, bomb_map, NULL);
	FUTURE_CHAIN_ENTRY_INIT(&s.data.bomb2, b, bomb_map, NULL);
	FUTURE_CHAIN_INIT(&s);
	FUTURE_BUSY_POLL(&s);
	CHECK(FUTURE_OUTPUT(&s)->v == 42);
	CHECK(bomb_polled == 0 && bomb_mapped == 0);
	CHECK(s.data.bomb1.fut.base.context.state == FUTURE_STATE_IDLE);
	CHECK(s.data.bomb2.fut.base.context.state == FUTURE_STATE_IDLE);
}

/* An entry's own init makes it the last one: the chain reads the flag
 * after the init (as libminiasync), so the entry maps onto the chain and
 * the lazy entries after it are never built, polled nor mapped. The
 * init runs when the chain reaches the entry (the first entry) or before
 * the map of the entry before it (the second). */
struct self_last_data {
	FUTURE_CHAIN_ENTRY(struct step_future, first);
	FUTURE_CHAIN_ENTRY(struct step_future, second);
	FUTURE_CHAIN_ENTRY(struct bomb_future, bomb);
};
FUTURE(self_last_future, struct self_last_data, struct solo_output);

static int bomb_inits;

static void
init_self_last(void *future, struct future_context *chain_ctx, void *arg)
{
	struct future_chain_entry *e = (struct future_chain_entry *)(void *)
		((char *)future - offsetof(struct future_chain_entry, future));

	(void)chain_ctx;
	*(struct step_future *)future = step_new(2, 1, 0, *(long *)arg);
	e->flags |= FUTURE_CHAIN_FLAG_ENTRY_LAST;
}

static void
init_bomb(void *future, struct future_context *chain_ctx, void *arg)
{
	(void)future;
	(void)chain_ctx;
	(void)arg;
	bomb_inits++;
}

static void
group_init_makes_last(void)
{
	int first;

	for (first = 0; first < 2; first++) {
		struct self_last_future s;
		long in = 9;

		memset(&s, 0xA5, sizeof(s));
		bomb_polled = bomb_mapped = bomb_inits = 0;
		if (first) {
			FUTURE_CHAIN_ENTRY_LAZY_INIT(&s.data.first,
				init_self_last, &in, map_solo, NULL);
			FUTURE_CHAIN_ENTRY_LAZY_INIT(&s.data.second,
				init_bomb, NULL, bomb_map, NULL);
		} else {
			FUTURE_CHAIN_ENTRY_INIT(&s.data.first,
				step_new(1, 1, 0, 0), NULL, NULL);
			FUTURE_CHAIN_ENTRY_LAZY_INIT(&s.data.second,
				init_self_last, &in, map_solo, NULL);
		}
		FUTURE_CHAIN_ENTRY_LAZY_INIT(&s.data.bomb, init_bomb, NULL,
			bomb_map, NULL);
		FUTURE_CHAIN_INIT(&s);
		poll_log_n = 0;
		/* one poll: the self-made last entry completes at once */
		CHECK(future_poll(FUTURE_AS_RUNNABLE(&s), NULL) ==
			FUTURE_STATE_COMPLETE);
		CHECK(poll_log_n == 2 - first);
		CHECK(poll_log[0] == 2 - !first);
		CHECK(poll_log[1 - first] == 2);
		CHECK(FUTURE_OUTPUT(&s)->v == 10);
		CHECK(bomb_inits == 0 && bomb_polled == 0 &&
			bomb_mapped == 0);
		CHECK(!FUTURE_CHAIN_ENTRY_IS_INITIALIZED(&s.data.bomb));
		CHECK(FUTURE_CHAIN_ENTRY_IS_INITIALIZED(&s.data.second) ==
			!first);
		CHECK(FUTURE_CHAIN_ENTRY_IS_PROCESSED(&s.data.first));
	}
}

/* ======================================================================== */
/* 4. ASYNC follows the current entry; each poll advances as far as it can  */
/* ======================================================================== */

struct prop_data {
	FUTURE_CHAIN_ENTRY(struct step_future, a); /* sync, 2 polls */
	FUTURE_CHAIN_ENTRY(struct step_future, b); /* async, 2 polls */
	FUTURE_CHAIN_ENTRY(struct step_future, c); /* sync, 1 poll */
	FUTURE_CHAIN_ENTRY(struct step_future, d); /* async, lazy, 1 poll */
	FUTURE_CHAIN_ENTRY(struct step_future, e); /* sync, 2 polls, waker */
};
struct prop_output {
	int unused;
};
FUTURE(prop_future, struct prop_data, struct prop_output);

static void
init_d(void *future, struct future_context *chain_ctx, void *arg)
{
	(void)chain_ctx;
	(void)arg;
	*(struct step_future *)future = step_new(4, 1, 1, 0);
}

static int
chain_async(struct prop_future *p)
{
	return future_has_property(FUTURE_AS_RUNNABLE(p),
		FUTURE_PROPERTY_ASYNC);
}

static void
group_property_and_progress(void)
{
	struct prop_future p;
	struct future_notifier n;
	struct step_future e = step_new(5, 2, 0, 0);

	e.data.use_waker = 1;
	memset(&p, 0, sizeof(p));
	FUTURE_CHAIN_ENTRY_INIT(&p.data.a, step_new(1, 2, 0, 0), NULL, NULL);
	FUTURE_CHAIN_ENTRY_INIT(&p.data.b, step_new(2, 2, 1, 0), NULL, NULL);
	FUTURE_CHAIN_ENTRY_INIT(&p.data.c, step_new(3, 1, 0, 0), NULL, NULL);
	FUTURE_CHAIN_ENTRY_LAZY_INIT(&p.data.d, init_d, NULL, NULL, NULL);
	FUTURE_CHAIN_ENTRY_INIT(&p.data.e, e, NULL, NULL);
	FUTURE_CHAIN_INIT(&p);
	poll_log_n = 0;
	memset(&n, 0, sizeof(n));

	CHECK(chain_async(&p) == 0); /* a is current */
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&p), &n) == FUTURE_STATE_RUNNING);
	CHECK(poll_log_n == 1 && poll_log[0] == 1);
	CHECK(chain_async(&p) == 0);
	CHECK(n.notifier_used == FUTURE_NOTIFIER_NONE);

	CHECK(future_poll(FUTURE_AS_RUNNABLE(&p), &n) == FUTURE_STATE_RUNNING);
	/* a completed, b started in the same poll */
	CHECK(poll_log_n == 3 && poll_log[1] == 1 && poll_log[2] == 2);
	CHECK(chain_async(&p) == 1); /* b is current */

	CHECK(future_poll(FUTURE_AS_RUNNABLE(&p), &n) == FUTURE_STATE_RUNNING);
	/* b completed, then c and d completed and e polled, all in one poll */
	CHECK(poll_log_n == 7);
	CHECK(poll_log[3] == 2 && poll_log[4] == 3 && poll_log[5] == 4 &&
		poll_log[6] == 5);
	CHECK(chain_async(&p) == 0); /* e is current */
	/* e took the waker: the chain hands the notifier through */
	CHECK(n.notifier_used == FUTURE_NOTIFIER_WAKER);

	CHECK(future_poll(FUTURE_AS_RUNNABLE(&p), &n) ==
		FUTURE_STATE_COMPLETE);
	CHECK(poll_log_n == 8 && poll_log[7] == 5);
	CHECK(p.data.a.fut.data.polls == 2 && p.data.b.fut.data.polls == 2);
	CHECK(p.data.c.fut.data.polls == 1 && p.data.d.fut.data.polls == 1);
	CHECK(p.data.e.fut.data.polls == 2);
	CHECK(chain_async(&p) == 0);

	/* a chain whose first entry is a threads-mover future is ASYNC */
	struct data_mover_threads *dmt =
		data_mover_threads_new(2, 16, FUTURE_NOTIFIER_WAKER);
	struct runtime *rt = runtime_new();
	unsigned char src[4096], dst[4096];
	struct copy_sum_args args;

	CHECK(dmt != NULL && rt != NULL);
	if (dmt == NULL || rt == NULL) {
		data_mover_threads_delete(dmt);
		runtime_delete(rt);
		return;
	}
	memset(src, 0x11, sizeof(src));
	memset(dst, 0, sizeof(dst));
	memset(&args, 0, sizeof(args));
	struct copy_sum_future cs = copy_sum_new(
		data_mover_threads_get_vdm(dmt), dst, src, sizeof(src), &args);
	CHECK(future_has_property(FUTURE_AS_RUNNABLE(&cs),
		FUTURE_PROPERTY_ASYNC) != 0);
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&cs));
	CHECK(FUTURE_OUTPUT(&cs)->sum_plus_one == 0x11ul * sizeof(src) + 1);
	CHECK(memcmp(dst, src, sizeof(src)) == 0);
	CHECK(future_has_property(FUTURE_AS_RUNNABLE(&cs),
		FUTURE_PROPERTY_ASYNC) == 0);
	data_mover_threads_delete(dmt);
	runtime_delete(rt);
}

/* libminiasync's own tests poll chains with a made-up notifier pointer that
 * their tasks only compare: the chain hands it on and never writes it */
static void
group_notifier_untouched(void)
{
	struct prop_future p;
	struct future_notifier n, canary;
	int polls = 0;

	memset(&p, 0, sizeof(p));
	FUTURE_CHAIN_ENTRY_INIT(&p.data.a, step_new(1, 2, 0, 0), NULL, NULL);
	FUTURE_CHAIN_ENTRY_INIT(&p.data.b, step_new(2, 1, 0, 0), NULL, NULL);
	FUTURE_CHAIN_ENTRY_INIT(&p.data.c, step_new(3, 2, 0, 0), NULL, NULL);
	FUTURE_CHAIN_ENTRY_LAZY_INIT(&p.data.d, init_d, NULL, NULL, NULL);
	FUTURE_CHAIN_ENTRY_INIT(&p.data.e, step_new(5, 1, 0, 0), NULL, NULL);
	FUTURE_CHAIN_INIT(&p);
	memset(&n, 0xa5, sizeof(n));
	canary = n;
	while (future_poll(FUTURE_AS_RUNNABLE(&p), &n) !=
			FUTURE_STATE_COMPLETE && polls < 10)
		polls++;
	CHECK(polls == 2); /* a and c take two polls; the rest ride along */
	CHECK(memcmp(&n, &canary, sizeof(n)) == 0);
}

/* ======================================================================== */
/* 5. an entry born complete (bad vdm arguments) and macros in if/else      */
/* ======================================================================== */

static void
group_born_complete_entry(void)
{
	struct copy_sum_args args;
	struct copy_sum_future c;

	memset(&args, 0, sizeof(args));
	c = copy_sum_new(sync_vdm, NULL, NULL, 16, &args);
	/* arguments are checked when the copy starts: idle until then */
	CHECK(c.data.copy.fut.base.context.state == FUTURE_STATE_IDLE);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&c), NULL) == FUTURE_STATE_RUNNING);
	CHECK(args.rec[0].calls == 1);
	CHECK(args.copy_result == VDM_ERROR_INVALID_ARGUMENT);
	FUTURE_BUSY_POLL(&c);
	CHECK(FUTURE_OUTPUT(&c)->sum_plus_one == 1); /* sum of nothing + 1 */
	CHECK(args.rec[2].calls == 1);
}

/* entries c, d and e: plain steps 3, 4 and 5 of one poll each */
static void
prop_plain_cde(struct prop_future *p)
{
	FUTURE_CHAIN_ENTRY_INIT(&p->data.c, step_new(3, 1, 0, 0), NULL, NULL);
	FUTURE_CHAIN_ENTRY_INIT(&p->data.d, step_new(4, 1, 0, 0), NULL, NULL);
	FUTURE_CHAIN_ENTRY_INIT(&p->data.e, step_new(5, 1, 0, 0), NULL, NULL);
}

/* An entry the program never made (zeroed, no task): the chain completes
 * there with errno EINVAL, as the runtime refuses such a future, instead
 * of calling a NULL task; the entries before it ran, those after did not. */
static void
group_zeroed_entry(void)
{
	struct runtime *rt = runtime_new();
	struct prop_future p;
	int stop;

	CHECK(rt != NULL);
	for (stop = 0; stop < 2 && rt != NULL; stop++) {
		memset(&p, 0, sizeof(p));
		FUTURE_CHAIN_ENTRY_INIT(&p.data.a, step_new(1, 1, 0, 0), NULL,
			NULL);
		/* b left zeroed */
		prop_plain_cde(&p);
		if (stop)
			FUTURE_CHAIN_INIT_STOP_ON_ERROR(&p);
		else
			FUTURE_CHAIN_INIT(&p);
		poll_log_n = 0;
		errno = 0;
		runtime_wait(rt, FUTURE_AS_RUNNABLE(&p));
		CHECK(errno == EINVAL);
		CHECK(FUTURE_STATE(&p) == FUTURE_STATE_COMPLETE);
		CHECK(poll_log_n == 1 && poll_log[0] == 1);
		errno = 0;
		CHECK(future_poll(FUTURE_AS_RUNNABLE(&p), NULL) ==
			FUTURE_STATE_COMPLETE);
		CHECK(poll_log_n == 1);
	}
	runtime_delete(rt);
}

static void
group_macros_if_else(void)
{
	struct prop_future p;
	int flag;

	for (flag = 0; flag < 2; flag++) {
		memset(&p, 0, sizeof(p));
		if (flag)
			FUTURE_CHAIN_ENTRY_INIT(&p.data.a, step_new(1, 1, 0, 0),
				NULL, NULL);
		else
			FUTURE_CHAIN_ENTRY_LAZY_INIT(&p.data.a, init_d, NULL,
				NULL, NULL);
		CHECK(FUTURE_CHAIN_ENTRY_IS_INITIALIZED(&p.data.a) == flag);
		if (!flag)
			FUTURE_CHAIN_ENTRY_INIT(&p.data.b, step_new(2, 1, 0, 0),
				NULL, NULL);
		else
			FUTURE_CHAIN_ENTRY_LAZY_INIT(&p.data.b, init_d, NULL,
				NULL, NULL);
		prop_plain_cde(&p);
		if (flag)
			FUTURE_CHAIN_INIT(&p);
		else
			FUTURE_CHAIN_INIT(&p);
		CHECK(p.base.context.state == FUTURE_STATE_IDLE);
		poll_log_n = 0;
		CHECK(future_poll(FUTURE_AS_RUNNABLE(&p), NULL) ==
			FUTURE_STATE_COMPLETE);
		CHECK(poll_log_n == 5);
		CHECK(poll_log[0] == (flag ? 1 : 4));
		CHECK(poll_log[1] == (flag ? 4 : 2));
		CHECK(poll_log[4] == 5);
	}
}

int
main(void)
{
	struct data_mover_sync *dms = data_mover_sync_new();

	if (dms == NULL) {
		fprintf(stderr, "data_mover_sync_new failed\n");
		return 1;
	}
	sync_vdm = data_mover_sync_get_vdm(dms);
	run_group("vdm future followed by user futures, map to chain output",
		group_vdm_then_user);
	run_group("chain inside a chain", group_chain_in_chain);
	run_group("lazy init from an earlier result, ENTRY_LAST, IS_INITIALIZED,"
		" moved chain", group_lazy_and_last);
	run_group("ENTRY_LAST as the only entry, members after it untouched",
		group_last_only);
	run_group("an entry's init makes it the last one",
		group_init_makes_last);
	run_group("ASYNC follows the current entry, polls advance fully",
		group_property_and_progress);
	run_group("the caller's notifier is passed on, never written",
		group_notifier_untouched);
	run_group("entry born complete (bad vdm arguments)",
		group_born_complete_entry);
	run_group("chain macros inside if/else", group_macros_if_else);
	run_group("an entry never made (zeroed): EINVAL, no crash",
		group_zeroed_entry);
	data_mover_sync_delete(dms);
	return failures != 0;
}
