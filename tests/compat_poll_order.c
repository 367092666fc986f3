/* runtime_wait_multiple's order within a pass: each pass re-reads every
 * pending future's property, polls the FUTURE_PROPERTY_ASYNC ones first,
 * then the rest, each in array order and each once; a chain that
 * completes an entry polls the next entry in the same poll. Countdown
 * futures complete on their 20th poll; chains A = (sync 3, async 4),
 * B = (async 5, sync 6), C = (sync 7, async 8) waited as [A, B, C]
 * complete in the order 5, 3, 7, 4, 8, 6. Also: a wait on futures that
 * are already complete returns, and the array is not reordered; a pass
 * asks every pending future for its property before it polls any, a
 * wait for one future asks none (lazy chain entries are built in that
 * order, and see themselves not yet built while they are). */
#include "miniasync.h"
#include "compat_util.h"

#define POLLS 20

static int order[16], norder;
/* first polls and lazy inits of futures with id >= 10: 'A' + id - 10 and
 * 'a' + id - 10; has_property calls */
static char events[16];
static int nevents, nprops;

struct cd_data {
	int id, async, polls;
};
struct cd_output {
	int id;
};
FUTURE(cd_fut, struct cd_data, struct cd_output);

static enum future_state
cd_impl(struct future_context *ctx, struct future_notifier *notifier)
{
	struct cd_data *d = future_context_get_data(ctx);

	(void)notifier;
	if (d->id >= 10 && d->polls == 0 && nevents < 15)
		events[nevents++] = (char)('A' + d->id - 10);
	if (++d->polls < POLLS)
		return FUTURE_STATE_RUNNING;
	((struct cd_output *)future_context_get_output(ctx))->id = d->id;
	order[norder++] = d->id;
	return FUTURE_STATE_COMPLETE;
}

static int
cd_property(void *future, enum future_property property)
{
	struct cd_fut *f = future;

	nprops++;
	return property == FUTURE_PROPERTY_ASYNC && f->data.async;
}

static struct cd_fut
countdown(int id, int async)
{
	struct cd_fut f = {0};

	f.data.id = id;
	f.data.async = async;
	FUTURE_INIT_EXT(&f, cd_impl, cd_property);
	return f;
}

struct two_data {
	FUTURE_CHAIN_ENTRY(struct cd_fut, first);
	FUTURE_CHAIN_ENTRY(struct cd_fut, second);
};
struct two_output {
	int last_id;
};
FUTURE(two_fut, struct two_data, struct two_output);

static void
to_chain(struct future_context *lhs, struct future_context *rhs, void *arg)
{
	(void)arg;
	((struct two_output *)future_context_get_output(rhs))->last_id =
		((struct cd_output *)future_context_get_output(lhs))->id;
}

static void
chain(struct two_fut *c, int id1, int async1, int id2, int async2)
{
	memset(c, 0, sizeof(*c));
	FUTURE_CHAIN_ENTRY_INIT(&c->data.first, countdown(id1, async1), NULL,
		NULL);
	FUTURE_CHAIN_ENTRY_INIT(&c->data.second, countdown(id2, async2),
		to_chain, NULL);
	FUTURE_CHAIN_INIT(c);
}

/* a chain of one lazily built countdown */
struct lazy_data {
	FUTURE_CHAIN_ENTRY_LAST(struct cd_fut, only);
};
struct lazy_output {
	int unused;
};
FUTURE(lazy_fut, struct lazy_data, struct lazy_output);

static void
lazy_build(void *future, struct future_context *chain_ctx, void *arg)
{
	struct lazy_data *d = future_context_get_data(chain_ctx);
	int id = (int)(intptr_t)arg;

	/* as in libminiasync, the entry counts as built once this returns */
	CHECK(!FUTURE_CHAIN_ENTRY_IS_INITIALIZED(&d->only));
	if (nevents < 15)
		events[nevents++] = (char)('a' + id - 10);
	*(struct cd_fut *)future = countdown(id, 1); /* asynchronous */
}

static void
lazy_chain(struct lazy_fut *c, int id)
{
	memset(c, 0, sizeof(*c));
	FUTURE_CHAIN_ENTRY_LAZY_INIT(&c->data.only, lazy_build,
		(void *)(intptr_t)id, NULL, NULL);
	FUTURE_CHAIN_INIT(c);
}

/* libminiasync's runtime sorted the array by property at every pass: it
 * asked every future before it polled any (a chain asked builds its lazy
 * entry), and a wait for one future asked none */
static void
test_property_calls(struct runtime *r)
{
	struct lazy_fut x, y;
	struct future *futs[2];

	lazy_chain(&x, 10);
	lazy_chain(&y, 11);
	futs[0] = FUTURE_AS_RUNNABLE(&x);
	futs[1] = FUTURE_AS_RUNNABLE(&y);
	nevents = 0;
	runtime_wait_multiple(r, futs, 2);
	events[nevents] = '\0';
	if (strcmp(events, "abAB") != 0)
		fprintf(stderr, "lazy inits and first polls: %s, want abAB\n",
			events);
	CHECK(strcmp(events, "abAB") == 0);
	CHECK(FUTURE_CHAIN_ENTRY_IS_INITIALIZED(&x.data.only));

	lazy_chain(&x, 10);
	nprops = 0;
	nevents = 0;
	runtime_wait(r, FUTURE_AS_RUNNABLE(&x));
	CHECK(nprops == 0);
	CHECK(nevents == 2 && events[0] == 'a' && events[1] == 'A');
	CHECK(x.data.only.fut.data.polls == POLLS);
}

int
main(void)
{
	static const int want[] = {5, 3, 7, 4, 8, 6};
	struct runtime *r = runtime_new();
	struct two_fut a, b, c;
	struct future *futs[3];
	int i;

	if (r == NULL)
		return 1;
	chain(&a, 3, 0, 4, 1);
	chain(&b, 5, 1, 6, 0);
	chain(&c, 7, 0, 8, 1);
	futs[0] = FUTURE_AS_RUNNABLE(&a);
	futs[1] = FUTURE_AS_RUNNABLE(&b);
	futs[2] = FUTURE_AS_RUNNABLE(&c);
	runtime_wait_multiple(r, futs, 3);
	CHECK(norder == 6);
	for (i = 0; i < 6 && i < norder; i++) {
		if (order[i] != want[i])
			fprintf(stderr, "completion %d: id %d, want %d\n", i,
				order[i], want[i]);
		CHECK(order[i] == want[i]);
	}
	CHECK(futs[0] == FUTURE_AS_RUNNABLE(&a));
	CHECK(futs[1] == FUTURE_AS_RUNNABLE(&b));
	CHECK(futs[2] == FUTURE_AS_RUNNABLE(&c));
	CHECK(a.output.last_id == 4 && b.output.last_id == 6 &&
		c.output.last_id == 8);
	/* every entry polled exactly POLLS times */
	CHECK(a.data.first.fut.data.polls == POLLS &&
		a.data.second.fut.data.polls == POLLS);
	CHECK(b.data.first.fut.data.polls == POLLS &&
		b.data.second.fut.data.polls == POLLS);
	CHECK(c.data.first.fut.data.polls == POLLS &&
		c.data.second.fut.data.polls == POLLS);

	/* all complete: returns at once, polls nothing */
	runtime_wait_multiple(r, futs, 3);
	runtime_wait(r, futs[0]);
	CHECK(norder == 6);

	/* the join-all extension polls its children in the same order */
	{
		struct future_join_all_future j;

		norder = 0;
		chain(&a, 3, 0, 4, 1);
		chain(&b, 5, 1, 6, 0);
		chain(&c, 7, 0, 8, 1);
		j = future_join_all(futs, 3);
		runtime_wait(r, FUTURE_AS_RUNNABLE(&j));
		CHECK(norder == 6);
		for (i = 0; i < 6 && i < norder; i++)
			CHECK(order[i] == want[i]);
		CHECK(b.data.second.fut.data.polls == POLLS);
	}
	test_property_calls(r);
	runtime_delete(r);
	if (compat_failures == 0)
		printf("compat_poll_order ok\n");
	return compat_failures != 0;
}
