/* Futures and chains put together by hand: a chain initialised with
 * FUTURE_INIT_EXT(&chain, async_chain_impl, future_chain_has_property),
 * a program walking a chain's entries with get_next_future_chain_entry,
 * and future_poll handing the notifier to the task untouched. */
#include "miniasync.h"
#include "compat_util.h"

struct add_data {
	int a, b;
	struct future_notifier *seen;
	int used_on_entry;
};
struct add_output {
	int sum;
};
FUTURE(add_fut, struct add_data, struct add_output);

static enum future_state
add_impl(struct future_context *ctx, struct future_notifier *notifier)
{
	struct add_data *d = future_context_get_data(ctx);
	struct add_output *o = future_context_get_output(ctx);

	d->seen = notifier;
	d->used_on_entry = notifier ? (int)notifier->notifier_used : -1;
	o->sum = d->a + d->b;
	return FUTURE_STATE_COMPLETE;
}

static struct add_fut
add(int a, int b)
{
	struct add_fut f = {0};

	f.data.a = a;
	f.data.b = b;
	FUTURE_INIT(&f, add_impl);
	return f;
}

struct pair_data {
	FUTURE_CHAIN_ENTRY(struct add_fut, x);
	FUTURE_CHAIN_ENTRY(struct add_fut, y);
};
struct pair_output {
	int result;
};
FUTURE(pair_fut, struct pair_data, struct pair_output);

static void
x_to_y(struct future_context *lhs, struct future_context *rhs, void *arg)
{
	(void)arg;
	((struct add_data *)future_context_get_data(rhs))->a =
		((struct add_output *)future_context_get_output(lhs))->sum;
}

static void
y_to_pair(struct future_context *lhs, struct future_context *rhs, void *arg)
{
	(void)arg;
	((struct pair_output *)future_context_get_output(rhs))->result =
		((struct add_output *)future_context_get_output(lhs))->sum;
}

int
main(void)
{
	struct pair_fut p;
	struct future_notifier n;
	struct future_chain_entry *e;
	uint8_t *data;
	size_t used = 0;
	int count = 0;

	memset(&p, 0, sizeof(p));
	FUTURE_CHAIN_ENTRY_INIT(&p.data.x, add(1, 2), x_to_y, NULL);
	FUTURE_CHAIN_ENTRY_INIT(&p.data.y, add(0, 10), y_to_pair, NULL);
	FUTURE_INIT_EXT(&p, async_chain_impl, future_chain_has_property);

	/* the entries, the way the chain task finds them */
	data = future_context_get_data(&p.base.context);
	for (e = (struct future_chain_entry *)data; e != NULL;
			e = get_next_future_chain_entry(&p.base.context, e,
			data, &used)) {
		CHECK(e->future.task == add_impl);
		count++;
	}
	CHECK(count == 2);
	CHECK(used == sizeof(p.data));
	CHECK(future_chain_has_property(&p.base, FUTURE_PROPERTY_ASYNC) == 0);

	/* the notifier reaches the task as the caller left it */
	memset(&n, 0, sizeof(n));
	n.notifier_used = FUTURE_NOTIFIER_POLLER;
	n.padding = 0xC0FFEEu;
	{
		struct add_fut lone = add(2, 2);

		CHECK(future_poll(FUTURE_AS_RUNNABLE(&lone), &n) ==
			FUTURE_STATE_COMPLETE);
		CHECK(lone.data.seen == &n);
		CHECK(lone.data.used_on_entry == FUTURE_NOTIFIER_POLLER);
		CHECK(n.notifier_used == FUTURE_NOTIFIER_POLLER);
		CHECK(n.padding == 0xC0FFEEu);
		/* complete: the task is not called again */
		lone.data.seen = NULL;
		CHECK(future_poll(FUTURE_AS_RUNNABLE(&lone), &n) ==
			FUTURE_STATE_COMPLETE);
		CHECK(lone.data.seen == NULL);
	}

	CHECK(future_poll(FUTURE_AS_RUNNABLE(&p), NULL) ==
		FUTURE_STATE_COMPLETE);
	CHECK(FUTURE_OUTPUT(&p)->result == 13);
	CHECK(FUTURE_CHAIN_ENTRY_IS_PROCESSED(&p.data.x));
	CHECK(FUTURE_CHAIN_ENTRY_IS_PROCESSED(&p.data.y));
	CHECK(FUTURE_STATE(&p) == FUTURE_STATE_COMPLETE);
	if (compat_failures == 0)
		printf("compat_hand_future ok\n");
	return compat_failures != 0;
}
