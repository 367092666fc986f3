/* test_future.c - the future API of miniasync.h (API.md section 2):
 * types, enum values, FUTURE / FUTURE_INIT* / FUTURE_AS_RUNNABLE /
 * FUTURE_OUTPUT / FUTURE_DATA / FUTURE_STATE / FUTURE_BUSY_POLL /
 * FUTURE_WAKER_WAKE, future_poll, future_has_property(_default),
 * future_context_get_data/output/size (also with an output after padded
 * data, alone and in a chain), statement macros inside if/else, futures
 * moved in memory,
 * a NULL future polled and zeroed futures waited on (EINVAL, no crash).
 * Prints one line per check group; exits 0 (pass) or 1 (fail). */
#include "test_impl.h"

#include <errno.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_core_util.h"

/* ---- a counting future ------------------------------------------------- */

struct count_data {
	int polls_needed;
	int polls;
	int use_waker;
	struct future_notifier *seen_notifier;
	int used_on_entry; /* notifier_used the task saw, -1 for NULL */
	struct future_waker saved;
	void *seen_data_ptr, *seen_output_ptr;
};

struct count_output {
	int result;
};

FUTURE(count_future, struct count_data, struct count_output);

static enum future_state
count_task(struct future_context *ctx, struct future_notifier *n)
{
	struct count_data *d = (struct count_data *)future_context_get_data(ctx);
	struct count_output *o =
		(struct count_output *)future_context_get_output(ctx);

	d->polls++;
	d->seen_notifier = n;
	d->used_on_entry = n == NULL ? -1 : (int)n->notifier_used;
	d->seen_data_ptr = d;
	d->seen_output_ptr = o;
	if (d->use_waker && n != NULL) {
		d->saved = n->waker;
		n->notifier_used = FUTURE_NOTIFIER_WAKER;
	}
	if (d->polls >= d->polls_needed) {
		o->result = d->polls * 10;
		return FUTURE_STATE_COMPLETE;
	}
	return FUTURE_STATE_RUNNING;
}

static void *prop_seen_future;

static int
async_prop(void *future, enum future_property property)
{
	prop_seen_future = future;
	return property == FUTURE_PROPERTY_ASYNC;
}

static struct count_future
count_future_new(int polls_needed)
{
	struct count_future f;

	memset(&f, 0, sizeof(f));
	FUTURE_INIT(&f, count_task);
	f.data.polls_needed = polls_needed;
	return f;
}

/* ---- data that the output follows after padding ------------------------
 * An int of data before a pointer (or uint64_t) output: the struct pads
 * between them, and libminiasync's future_context_get_output, which adds
 * the data's size, found the output 4 bytes early. data_size counts the
 * padding here, so the task's output is the program's. */
struct small_data {
	int x;
};

struct ptr_output {
	void *p;
	uint64_t v;
};

FUTURE(small_future, struct small_data, struct ptr_output);
FUTURE(int_u64_future, int, uint64_t);

static enum future_state
small_task(struct future_context *ctx, struct future_notifier *n)
{
	struct small_data *d = (struct small_data *)future_context_get_data(ctx);
	struct ptr_output *o =
		(struct ptr_output *)future_context_get_output(ctx);

	(void)n;
	o->p = d;
	o->v = (uint64_t)d->x * 3;
	return FUTURE_STATE_COMPLETE;
}

static enum future_state
int_u64_task(struct future_context *ctx, struct future_notifier *n)
{
	int *d = (int *)future_context_get_data(ctx);

	(void)n;
	*(uint64_t *)future_context_get_output(ctx) =
		((uint64_t)1 << 40) + (uint64_t)*d;
	return FUTURE_STATE_COMPLETE;
}

struct small_chain_data {
	FUTURE_CHAIN_ENTRY(struct small_future, a);
	FUTURE_CHAIN_ENTRY_LAST(struct int_u64_future, b);
};

FUTURE(small_chain_future, struct small_chain_data, struct ptr_output);

static void
small_map(struct future_context *lhs, struct future_context *rhs, void *arg)
{
	struct ptr_output *o = (struct ptr_output *)
		future_context_get_output(lhs);

	(void)arg;
	*(int *)future_context_get_data(rhs) = (int)o->v;
}

static void
small_last(struct future_context *lhs, struct future_context *rhs, void *arg)
{
	struct ptr_output *o = (struct ptr_output *)
		future_context_get_output(rhs);

	(void)arg;
	o->v = *(uint64_t *)future_context_get_output(lhs);
	o->p = NULL;
}

static void
group_padded(void)
{
	struct small_future f;
	struct int_u64_future g;
	struct small_chain_future c;

	memset(&f, 0xA5, sizeof(f));
	FUTURE_INIT(&f, small_task);
	f.data.x = 14;
	CHECK(future_context_get_data(&f.base.context) == (void *)&f.data);
	CHECK(future_context_get_output(&f.base.context) == (void *)&f.output);
	CHECK(future_context_get_size(&f.base.context) ==
		sizeof(f) - sizeof(f.base));
	FUTURE_BUSY_POLL(&f);
	CHECK(f.output.p == (void *)&f.data && f.output.v == 42);
	CHECK(f.data.x == 14);

	memset(&g, 0x5A, sizeof(g));
	FUTURE_INIT(&g, int_u64_task);
	g.data = 5;
	FUTURE_BUSY_POLL(&g);
	CHECK(g.output == ((uint64_t)1 << 40) + 5 && g.data == 5);
	FUTURE_INIT_COMPLETE(&g);
	CHECK(future_context_get_output(&g.base.context) == (void *)&g.output);

	/* in a chain: the entries step over the padding too */
	memset(&c, 0, sizeof(c));
	memset(&f, 0, sizeof(f));
	FUTURE_INIT(&f, small_task);
	f.data.x = 7;
	FUTURE_INIT(&g, int_u64_task);
	g.data = 0;
	FUTURE_CHAIN_ENTRY_INIT(&c.data.a, f, small_map, NULL);
	FUTURE_CHAIN_ENTRY_INIT(&c.data.b, g, small_last, NULL);
	FUTURE_CHAIN_INIT(&c);
	FUTURE_BUSY_POLL(&c);
	CHECK(c.data.b.fut.data == 21);
	CHECK(c.output.v == ((uint64_t)1 << 40) + 21 && c.output.p == NULL);
}

/* ---- groups ------------------------------------------------------------ */

static int wake_calls;
static void *wake_data_seen;

static void
test_wake(void *data)
{
	wake_calls++;
	wake_data_seen = data;
}

static void
group_types(void)
{
	/* enum values fixed by the API (libminiasync's numbering) */
	CHECK(FUTURE_STATE_IDLE == 0);
	CHECK(FUTURE_STATE_COMPLETE == 1);
	CHECK(FUTURE_STATE_RUNNING == 2);
	CHECK(FUTURE_NOTIFIER_NONE == 0);
	CHECK(FUTURE_NOTIFIER_WAKER == 1);
	CHECK(FUTURE_NOTIFIER_POLLER == 2);
	CHECK(FUTURE_PROPERTY_ASYNC == 0);

	/* every member and typedef programs use */
	struct future_context ctx;
	memset(&ctx, 0, sizeof(ctx));
	ctx.data_size = 1;
	ctx.output_size = 2;
	ctx.state = FUTURE_STATE_RUNNING;
	CHECK(future_context_get_size(&ctx) == 3);

	future_waker_wake_fn wf = test_wake;
	struct future_waker w;
	w.data = &ctx;
	w.wake = wf;
	uint64_t word = 0;
	struct future_poller p;
	p.ptr_to_monitor = &word;
	struct future_notifier n;
	memset(&n, 0, sizeof(n));
	n.waker = w;
	n.poller = p;
	n.notifier_used = FUTURE_NOTIFIER_POLLER;
	CHECK(n.poller.ptr_to_monitor == &word);
	CHECK(n.waker.data == &ctx);

	future_task_fn tf = count_task;
	future_has_property_fn hf = future_has_property_default;
	future_map_fn mf = NULL;
	future_init_fn inf = NULL;
	struct future fut;
	memset(&fut, 0, sizeof(fut));
	fut.task = tf;
	fut.has_property = hf;
	fut.context = ctx;
	CHECK(fut.context.state == FUTURE_STATE_RUNNING);
	CHECK(mf == NULL && inf == NULL);

	/* FUTURE(): members base, data, output in that order */
	struct count_future cf;
	CHECK((void *)&cf == (void *)&cf.base);
	CHECK((char *)&cf.data > (char *)&cf.base);
	CHECK((char *)&cf.output > (char *)&cf.data);
	CHECK(sizeof(cf.data) == sizeof(struct count_data));
	CHECK(sizeof(cf.output) == sizeof(struct count_output));
}

static void
group_init(void)
{
	struct count_future f;

	memset(&f, 0xA5, sizeof(f));
	FUTURE_INIT(&f, count_task);
	CHECK(f.base.task == count_task);
	CHECK(f.base.has_property == future_has_property_default);
	CHECK(f.base.context.state == FUTURE_STATE_IDLE);
	CHECK(f.base.context.data_size == sizeof(struct count_data));
	CHECK(f.base.context.output_size == sizeof(struct count_output));
	CHECK(future_context_get_data(&f.base.context) == (void *)&f.data);
	CHECK(future_context_get_output(&f.base.context) == (void *)&f.output);
	CHECK(future_context_get_size(&f.base.context) ==
		sizeof(struct count_data) + sizeof(struct count_output));

	memset(&f, 0x5A, sizeof(f));
	FUTURE_INIT_EXT(&f, count_task, async_prop);
	CHECK(f.base.task == count_task);
	CHECK(f.base.has_property == async_prop);
	CHECK(f.base.context.state == FUTURE_STATE_IDLE);
	CHECK(future_context_get_data(&f.base.context) == (void *)&f.data);
	CHECK(future_context_get_output(&f.base.context) == (void *)&f.output);

	memset(&f, 0x33, sizeof(f));
	FUTURE_INIT_COMPLETE(&f);
	CHECK(f.base.context.state == FUTURE_STATE_COMPLETE);
	CHECK(f.base.context.data_size == sizeof(struct count_data));
	CHECK(f.base.context.output_size == sizeof(struct count_output));
	CHECK(future_context_get_data(&f.base.context) == (void *)&f.data);
	CHECK(future_context_get_output(&f.base.context) == (void *)&f.output);
	/* born complete: polling never calls a task, no property */
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), NULL) ==
		FUTURE_STATE_COMPLETE);
	CHECK(future_has_property(FUTURE_AS_RUNNABLE(&f),
		FUTURE_PROPERTY_ASYNC) == 0);
	FUTURE_BUSY_POLL(&f);
	CHECK(FUTURE_STATE(&f) == FUTURE_STATE_COMPLETE);
}

static void
group_accessors(void)
{
	struct count_future f = count_future_new(1);

	CHECK(FUTURE_AS_RUNNABLE(&f) == &f.base);
	CHECK(FUTURE_DATA(&f) == &f.data);
	CHECK(FUTURE_OUTPUT(&f) == &f.output);
	CHECK(FUTURE_STATE(&f) == FUTURE_STATE_IDLE);
	FUTURE_DATA(&f)->polls_needed = 2;
	CHECK(f.data.polls_needed == 2);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), NULL) ==
		FUTURE_STATE_RUNNING);
	CHECK(FUTURE_STATE(&f) == FUTURE_STATE_RUNNING);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), NULL) ==
		FUTURE_STATE_COMPLETE);
	CHECK(FUTURE_STATE(&f) == FUTURE_STATE_COMPLETE);
	CHECK(FUTURE_OUTPUT(&f)->result == 20);
	/* the task saw exactly this future's data and output */
	CHECK(f.data.seen_data_ptr == (void *)&f.data);
	CHECK(f.data.seen_output_ptr == (void *)&f.output);
}

static void
group_poll(void)
{
	struct count_future f = count_future_new(3);
	struct future_notifier n;

	/* NULL notifier reaches the task as NULL */
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), NULL) ==
		FUTURE_STATE_RUNNING);
	CHECK(f.data.polls == 1);
	CHECK(f.data.seen_notifier == NULL);
	CHECK(f.data.used_on_entry == -1);

	/* a notifier is passed through untouched: only the task writes it */
	memset(&n, 0, sizeof(n));
	n.notifier_used = FUTURE_NOTIFIER_POLLER;
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), &n) == FUTURE_STATE_RUNNING);
	CHECK(f.data.polls == 2);
	CHECK(f.data.seen_notifier == &n);
	CHECK(f.data.used_on_entry == FUTURE_NOTIFIER_POLLER);
	CHECK(n.notifier_used == FUTURE_NOTIFIER_POLLER);

	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), &n) ==
		FUTURE_STATE_COMPLETE);
	CHECK(f.data.polls == 3);
	CHECK(f.output.result == 30);

	/* complete stays complete; the task is not called again */
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), &n) ==
		FUTURE_STATE_COMPLETE);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), NULL) ==
		FUTURE_STATE_COMPLETE);
	CHECK(f.data.polls == 3);
	CHECK(f.output.result == 30);
}

static void
group_waker(void)
{
	struct count_future f = count_future_new(2);
	struct future_notifier n;
	int token = 0;

	f.data.use_waker = 1;
	memset(&n, 0, sizeof(n));
	n.waker.data = &token;
	n.waker.wake = test_wake;
	wake_calls = 0;
	wake_data_seen = NULL;
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), &n) == FUTURE_STATE_RUNNING);
	CHECK(n.notifier_used == FUTURE_NOTIFIER_WAKER);
	CHECK(f.data.saved.wake == test_wake);
	CHECK(f.data.saved.data == &token);
	CHECK(wake_calls == 0);
	FUTURE_WAKER_WAKE(&f.data.saved);
	CHECK(wake_calls == 1);
	CHECK(wake_data_seen == &token);
	FUTURE_WAKER_WAKE(&n.waker);
	CHECK(wake_calls == 2);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), &n) ==
		FUTURE_STATE_COMPLETE);
}

static void
group_busy_poll(void)
{
	struct count_future f = count_future_new(7);

	FUTURE_BUSY_POLL(&f);
	CHECK(f.data.polls == 7);
	CHECK(f.data.seen_notifier == NULL);
	CHECK(FUTURE_STATE(&f) == FUTURE_STATE_COMPLETE);
	CHECK(f.output.result == 70);
	/* on a complete future: no poll */
	FUTURE_BUSY_POLL(&f);
	CHECK(f.data.polls == 7);
}

static void
group_property(void)
{
	struct count_future f = count_future_new(1), g = count_future_new(1);
	int dummy = 0;

	CHECK(future_has_property(FUTURE_AS_RUNNABLE(&f),
		FUTURE_PROPERTY_ASYNC) == 0);
	CHECK(future_has_property_default(&f, FUTURE_PROPERTY_ASYNC) == 0);
	CHECK(future_has_property_default(&dummy, FUTURE_PROPERTY_ASYNC) == 0);
	CHECK(future_has_property_default(NULL, FUTURE_PROPERTY_ASYNC) == 0);

	FUTURE_INIT_EXT(&g, count_task, async_prop);
	g.data.polls_needed = 1;
	prop_seen_future = NULL;
	CHECK(future_has_property(FUTURE_AS_RUNNABLE(&g),
		FUTURE_PROPERTY_ASYNC) != 0);
	/* the property function receives the struct future pointer */
	CHECK(prop_seen_future == (void *)FUTURE_AS_RUNNABLE(&g));
	CHECK(future_has_property(FUTURE_AS_RUNNABLE(&g),
		(enum future_property)1) == 0);

	g.base.has_property = NULL; /* like a future born complete */
	CHECK(future_has_property(FUTURE_AS_RUNNABLE(&g),
		FUTURE_PROPERTY_ASYNC) == 0);
}

static void
group_statement_macros(void)
{
	struct count_future f;
	struct future_waker w;
	int flag, token = 0;

	memset(&f, 0, sizeof(f));
	w.data = &token;
	w.wake = test_wake;
	/* each statement-like macro is one statement under if / else */
	for (flag = 0; flag < 2; flag++) {
		wake_calls = 0;
		if (flag)
			FUTURE_INIT(&f, count_task);
		else
			FUTURE_INIT_COMPLETE(&f);
		CHECK(f.base.context.state ==
			(flag ? FUTURE_STATE_IDLE : FUTURE_STATE_COMPLETE));
		CHECK(f.base.task == (flag ? count_task : NULL));

		if (!flag)
			FUTURE_INIT_EXT(&f, count_task, async_prop);
		else
			FUTURE_INIT_EXT(&f, count_task, NULL);
		CHECK(f.base.has_property == (flag ? NULL : async_prop));
		CHECK(f.base.context.state == FUTURE_STATE_IDLE);

		f.data.polls = 0;
		f.data.polls_needed = 2;
		if (flag)
			FUTURE_BUSY_POLL(&f);
		else
			FUTURE_WAKER_WAKE(&w);
		CHECK(f.data.polls == (flag ? 2 : 0));
		CHECK(wake_calls == !flag);

		if (flag)
			FUTURE_WAKER_WAKE(&w);
		else
			FUTURE_BUSY_POLL(&f);
		CHECK(f.data.polls == 2);
		CHECK(wake_calls == 1);
	}
}

static void
group_moved(void)
{
	/* a future may be moved in memory between polls */
	struct count_future *a = (struct count_future *)malloc(sizeof(*a));
	struct count_future *b = (struct count_future *)malloc(sizeof(*b));

	if (!a || !b) {
		CHECK(!"out of memory");
		free(a);
		free(b);
		return;
	}
	*a = count_future_new(3);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(a), NULL) == FUTURE_STATE_RUNNING);
	memcpy(b, a, sizeof(*a));
	memset(a, 0xDD, sizeof(*a));
	free(a);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(b), NULL) == FUTURE_STATE_RUNNING);
	CHECK(b->data.seen_data_ptr == (void *)&b->data);
	FUTURE_BUSY_POLL(b);
	CHECK(b->data.polls == 3);
	CHECK(b->output.result == 30);
	CHECK(b->data.seen_output_ptr == (void *)&b->output);
	free(b);
}

/* bad input is an error, never a crash: a NULL future polls COMPLETE with
 * errno EINVAL; waits refuse a zeroed (never made) future with EINVAL */
static void
group_bad_input(void)
{
	struct count_future z;
	struct future *fs[2];
	struct runtime *rt = runtime_new();

	errno = 0;
	CHECK(future_poll(NULL, NULL) == FUTURE_STATE_COMPLETE);
	CHECK(errno == EINVAL);
	errno = 0;
	CHECK(future_has_property(NULL, FUTURE_PROPERTY_ASYNC) == 0);
	CHECK(errno == EINVAL);
	CHECK(rt != NULL);
	if (rt == NULL)
		return;
	memset(&z, 0, sizeof(z));
	errno = 0;
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&z));
	CHECK(errno == EINVAL);
	CHECK(FUTURE_STATE(&z) == FUTURE_STATE_IDLE);
	errno = 0;
	CHECK(runtime_wait_for(rt, FUTURE_AS_RUNNABLE(&z), 1000) == EINVAL);
	fs[0] = FUTURE_AS_RUNNABLE(&z);
	fs[1] = FUTURE_AS_RUNNABLE(&z);
	errno = 0;
	runtime_wait_multiple(rt, fs, 2);
	CHECK(errno == EINVAL);
	errno = 0;
	CHECK(runtime_wait_any(rt, fs, 2) == SIZE_MAX);
	CHECK(errno == EINVAL);
	/* zeroed but complete (no task needed): a wait returns at once */
	z.base.context.state = FUTURE_STATE_COMPLETE;
	errno = 0;
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&z));
	runtime_wait_multiple(rt, fs, 2);
	CHECK(errno == 0);
	CHECK(runtime_wait_any(rt, fs, 2) == 0);
	runtime_delete(rt);
}

int
main(void)
{
	run_group("future types and enum values", group_types);
	run_group("FUTURE_INIT / _EXT / _COMPLETE", group_init);
	run_group("FUTURE_AS_RUNNABLE / DATA / OUTPUT / STATE", group_accessors);
	run_group("future_poll and notifier pass-through", group_poll);
	run_group("WAKER and FUTURE_WAKER_WAKE", group_waker);
	run_group("FUTURE_BUSY_POLL", group_busy_poll);
	run_group("future_has_property(_default)", group_property);
	run_group("statement macros inside if/else", group_statement_macros);
	run_group("futures moved in memory between polls", group_moved);
	run_group("NULL and zeroed futures: errors, no crash", group_bad_input);
	run_group("data padded before its output (int, then a pointer)",
		group_padded);
	return failures != 0;
}
