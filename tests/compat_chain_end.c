/* A chain that ends itself at run time: a map sets
 * FUTURE_CHAIN_FLAG_ENTRY_LAST on the next entry (reached through
 * struct future_chain_entry), which then maps into the chain's output; the
 * entries after it are never touched (they are left as garbage bytes).
 * Also the flag set by the program on an entry before the first poll. */
#include "miniasync.h"
#include "compat_util.h"

struct inc_data {
	int value;
};
struct inc_output {
	int value;
};
FUTURE(inc_fut, struct inc_data, struct inc_output);

static enum future_state
inc_impl(struct future_context *ctx, struct future_notifier *notifier)
{
	struct inc_data *d = future_context_get_data(ctx);
	struct inc_output *o = future_context_get_output(ctx);

	(void)notifier;
	o->value = d->value + 1;
	return FUTURE_STATE_COMPLETE;
}

static struct inc_fut
inc(int v)
{
	struct inc_fut f = {0};

	f.data.value = v;
	FUTURE_INIT(&f, inc_impl);
	return f;
}

struct three_data {
	FUTURE_CHAIN_ENTRY(struct inc_fut, a);
	FUTURE_CHAIN_ENTRY(struct inc_fut, b);
	FUTURE_CHAIN_ENTRY(struct inc_fut, c);
};
struct three_output {
	int value;
	int maps;
};
FUTURE(three_fut, struct three_data, struct three_output);

static int stop_after_b;

/* maps a's output into b; may make b the last entry */
static void
a_to_b(struct future_context *lhs, struct future_context *rhs, void *arg)
{
	struct future_chain_entry *next = (struct future_chain_entry *)
		((char *)rhs - offsetof(struct future_chain_entry,
		future.context));

	(void)arg;
	((struct inc_data *)future_context_get_data(rhs))->value =
		((struct inc_output *)future_context_get_output(lhs))->value;
	if (stop_after_b)
		next->flags |= FUTURE_CHAIN_FLAG_ENTRY_LAST;
}

static void
to_chain(struct future_context *lhs, struct future_context *rhs, void *arg)
{
	struct three_output *o = future_context_get_output(rhs);

	(void)arg;
	o->value = ((struct inc_output *)future_context_get_output(lhs))->value;
	o->maps++;
}

static void
b_to_c(struct future_context *lhs, struct future_context *rhs, void *arg)
{
	/* rhs is the chain itself once b is the last entry */
	if (rhs->data_size == sizeof(struct three_data)) {
		to_chain(lhs, rhs, arg);
		return;
	}
	((struct inc_data *)future_context_get_data(rhs))->value =
		((struct inc_output *)future_context_get_output(lhs))->value;
}

int
main(void)
{
	struct three_fut ch;
	struct future_chain_entry *eb;

	/* all three entries */
	memset(&ch, 0, sizeof(ch));
	stop_after_b = 0;
	FUTURE_CHAIN_ENTRY_INIT(&ch.data.a, inc(10), a_to_b, NULL);
	FUTURE_CHAIN_ENTRY_INIT(&ch.data.b, inc(0), b_to_c, NULL);
	FUTURE_CHAIN_ENTRY_INIT(&ch.data.c, inc(0), to_chain, NULL);
	FUTURE_CHAIN_INIT(&ch);
	FUTURE_BUSY_POLL(&ch);
	CHECK(FUTURE_OUTPUT(&ch)->value == 13);
	CHECK(FUTURE_OUTPUT(&ch)->maps == 1);

	/* a's map ends the chain after b; c is garbage and stays so */
	memset(&ch, 0, sizeof(ch));
	stop_after_b = 1;
	FUTURE_CHAIN_ENTRY_INIT(&ch.data.a, inc(10), a_to_b, NULL);
	FUTURE_CHAIN_ENTRY_INIT(&ch.data.b, inc(0), b_to_c, NULL);
	memset(&ch.data.c, 0xEE, sizeof(ch.data.c));
	FUTURE_CHAIN_INIT(&ch);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&ch), NULL) ==
		FUTURE_STATE_COMPLETE);
	CHECK(FUTURE_OUTPUT(&ch)->value == 12);
	CHECK(FUTURE_OUTPUT(&ch)->maps == 1);
	eb = (struct future_chain_entry *)(void *)&ch.data.b;
	CHECK(FUTURE_CHAIN_ENTRY_IS_LAST(eb));
	CHECK(compat_all(&ch.data.c, 0xEE, sizeof(ch.data.c)));

	/* the program flags the first entry last before polling */
	memset(&ch, 0, sizeof(ch));
	stop_after_b = 0;
	FUTURE_CHAIN_ENTRY_INIT(&ch.data.a, inc(40), to_chain, NULL);
	memset(&ch.data.b, 0xEE, sizeof(ch.data.b));
	memset(&ch.data.c, 0xEE, sizeof(ch.data.c));
	ch.data.a.flags |= FUTURE_CHAIN_FLAG_ENTRY_LAST;
	FUTURE_CHAIN_INIT(&ch);
	CHECK(future_chain_has_property(&ch.base, FUTURE_PROPERTY_ASYNC) == 0);
	FUTURE_BUSY_POLL(&ch);
	CHECK(FUTURE_OUTPUT(&ch)->value == 41);
	CHECK(compat_all(&ch.data.b, 0xEE, sizeof(ch.data.b)));
	CHECK(compat_all(&ch.data.c, 0xEE, sizeof(ch.data.c)));
	if (compat_failures == 0)
		printf("compat_chain_end ok\n");
	return compat_failures != 0;
}
