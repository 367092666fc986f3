/* Layouts a libminiasync 0.2.1 program can see, byte for byte (in terms
 * of the ABI's pointer and size_t; the x86-64 figures below), and what depends on them at run time: a future built field
 * by field in uninitialised memory (padding left as garbage), and a chain
 * entry reached through (struct future_chain_entry *). */
#include "miniasync.h"
#include <stdlib.h>
#include "compat_util.h"

#define SA(c) _Static_assert(c, #c)

SA(sizeof(struct future_context) == 2 * sizeof(size_t) + 8);
SA(offsetof(struct future_context, data_size) == 0);
SA(offsetof(struct future_context, output_size) == sizeof(size_t));
SA(offsetof(struct future_context, state) == 2 * sizeof(size_t));
SA(offsetof(struct future_context, padding) == 2 * sizeof(size_t) + 4);
SA(sizeof(((struct future_context *)0)->padding) == 4);
SA(offsetof(struct future, task) == 0);
SA(offsetof(struct future, has_property) == sizeof(void *));
SA(offsetof(struct future, context) == 2 * sizeof(void *));
SA(offsetof(struct future_notifier, waker) == 0);
SA(offsetof(struct future_notifier, poller) == 2 * sizeof(void *));
SA(offsetof(struct future_notifier, notifier_used) == 3 * sizeof(void *));
SA(offsetof(struct future_notifier, padding) == 3 * sizeof(void *) + 4);
SA(offsetof(struct future_chain_entry, map) == 0);
SA(offsetof(struct future_chain_entry, map_arg) == sizeof(void *));
SA(offsetof(struct future_chain_entry, init) == 2 * sizeof(void *));
SA(offsetof(struct future_chain_entry, init_arg) == 3 * sizeof(void *));
SA(offsetof(struct future_chain_entry, flags) == 4 * sizeof(void *));
SA(sizeof(((struct future_chain_entry *)0)->flags) == 8);
SA(offsetof(struct future_chain_entry, future) == 4 * sizeof(void *) + 8);
SA(sizeof(struct future_chain_entry) ==
	4 * sizeof(void *) + 8 + sizeof(struct future));
SA(FUTURE_CHAIN_FLAG_ENTRY_LAST == 1);
SA(FUTURE_CHAIN_FLAG_ENTRY_PROCESSED == 2);
SA(FUTURE_CHAIN_VALID_FLAGS == 3);
SA(FUTURE_CHAIN_ENTRY_REGULAR == 1 && FUTURE_CHAIN_ENTRY_LAST == 2);
SA(sizeof(_future_entry_type_regular) == 1);
SA(sizeof(_future_entry_type_last) == 2);
SA(VDM_OPERATION_DATA_MAX_SIZE == 40);
SA(sizeof(struct vdm_operation_data) ==
	2 * sizeof(void *) + VDM_OPERATION_DATA_MAX_SIZE + 8);
SA(offsetof(struct vdm_operation_data, operation) == 2 * sizeof(void *));
SA(offsetof(struct vdm_operation, type) == VDM_OPERATION_DATA_MAX_SIZE);
SA(offsetof(struct vdm_operation_output, output) == 8);
SA(offsetof(struct vdm, capabilities) == 4 * sizeof(void *));
SA(offsetof(struct vdm, has_property) == 5 * sizeof(void *));
#if UINTPTR_MAX == 0xffffffffffffffffu
/* the x86-64 figures of the issue */
SA(sizeof(struct future_context) == 24);
SA(offsetof(struct future_context, padding) == 20);
SA(sizeof(struct future) == 40);
SA(offsetof(struct future_chain_entry, flags) == 32);
SA(offsetof(struct future_chain_entry, future) == 40);
SA(sizeof(struct future_chain_entry) == 80);
SA(sizeof(struct future_notifier) == 32);
SA(sizeof(struct vdm_operation_data) == 64);
SA(sizeof(struct vdm_operation_future) == 40 + 64 + 16);
#endif

struct sq_data {
	uint64_t in;
	uint32_t polls;
	uint32_t unused;
};
struct sq_output {
	uint64_t out;
};
FUTURE(sq_future, struct sq_data, struct sq_output);

static enum future_state
sq_task(struct future_context *ctx, struct future_notifier *n)
{
	struct sq_data *d = (struct sq_data *)future_context_get_data(ctx);
	struct sq_output *o = (struct sq_output *)future_context_get_output(ctx);

	(void)n;
	if (++d->polls < 2)
		return FUTURE_STATE_RUNNING;
	o->out = d->in * d->in;
	return FUTURE_STATE_COMPLETE;
}

struct two_data {
	FUTURE_CHAIN_ENTRY(struct sq_future, a);
	FUTURE_CHAIN_ENTRY_LAST(struct sq_future, b);
	uint64_t after_last[5]; /* members after the last entry */
};
struct two_output {
	uint64_t result;
};
FUTURE(two_future, struct two_data, struct two_output);

SA(offsetof(struct two_data, a.fut) ==
	offsetof(struct future_chain_entry, future));
#if UINTPTR_MAX == 0xffffffffffffffffu
SA(offsetof(struct two_data, a.fut) == 40);
#endif
SA(offsetof(struct two_data, a.flags) == 4 * sizeof(void *));
SA(sizeof(((struct two_data *)0)->a) ==
	sizeof(struct future_chain_entry) + sizeof(struct sq_data) +
	sizeof(struct sq_output));
SA(offsetof(struct two_data, b) == sizeof(((struct two_data *)0)->a));

static void
a_to_b(struct future_context *lhs, struct future_context *rhs, void *arg)
{
	(void)arg;
	((struct sq_data *)future_context_get_data(rhs))->in =
		((struct sq_output *)future_context_get_output(lhs))->out;
}

static void
b_to_chain(struct future_context *lhs, struct future_context *rhs, void *arg)
{
	(void)arg;
	((struct two_output *)future_context_get_output(rhs))->result =
		((struct sq_output *)future_context_get_output(lhs))->out;
}

static struct sq_future
sq(uint64_t in)
{
	struct sq_future f;

	memset(&f, 0, sizeof(f));
	f.data.in = in;
	FUTURE_INIT(&f, sq_task);
	return f;
}

int
main(void)
{
	/* a future laid out by hand in uninitialised memory */
	size_t bytes = sizeof(struct future) + sizeof(struct sq_data) +
		sizeof(struct sq_output);
	struct future *f = (struct future *)malloc(bytes);
	struct two_future ch;
	struct future_chain_entry *e;
	int pad;

	CHECK(f != NULL);
	if (f == NULL)
		return 1;
	for (pad = 0; pad < 2; pad++) {
		struct sq_data *d;

		memset(f, pad ? 0xFF : 0xA5, bytes); /* padding: garbage */
		f->task = sq_task;
		f->has_property = future_has_property_default;
		f->context.state = FUTURE_STATE_IDLE;
		f->context.data_size = sizeof(struct sq_data);
		f->context.output_size = sizeof(struct sq_output);
		CHECK(f->context.padding != 0);
		d = (struct sq_data *)future_context_get_data(&f->context);
		CHECK((char *)d == (char *)f + sizeof(struct future));
		CHECK((char *)future_context_get_output(&f->context) ==
			(char *)d + sizeof(struct sq_data));
		d->in = 12;
		d->polls = 0;
		while (future_poll(f, NULL) != FUTURE_STATE_COMPLETE)
			;
		CHECK(((struct sq_output *)future_context_get_output(
			&f->context))->out == 144);
		CHECK(future_context_get_size(&f->context) == 24);
		CHECK(f->has_property(f, FUTURE_PROPERTY_ASYNC) == 0);
	}
	free(f);

	/* entries through struct future_chain_entry */
	memset(&ch, 0, sizeof(ch));
	memset(ch.data.after_last, 0x77, sizeof(ch.data.after_last));
	FUTURE_CHAIN_ENTRY_INIT(&ch.data.a, sq(3), a_to_b, NULL);
	FUTURE_CHAIN_ENTRY_INIT(&ch.data.b, sq(0), b_to_chain, NULL);
	FUTURE_CHAIN_INIT(&ch);
	CHECK(ch.data.a.flags == 0);
	CHECK(ch.data.b.flags == FUTURE_CHAIN_FLAG_ENTRY_LAST);
	CHECK(FUTURE_CHAIN_ENTRY_IS_LAST(&ch.data.b));
	CHECK(!FUTURE_CHAIN_ENTRY_IS_LAST(&ch.data.a));
	CHECK(FUTURE_CHAIN_ENTRY_IS_INITIALIZED(&ch.data.a));
	e = (struct future_chain_entry *)&ch.data.a;
	CHECK(&e->future == &ch.data.a.fut.base);
	CHECK(e->future.context.data_size == sizeof(struct sq_data));
	CHECK(e->map == a_to_b);
	e = (struct future_chain_entry *)&ch.data.b;
	CHECK(FUTURE_CHAIN_ENTRY_IS_LAST(e));
	CHECK(&e->future == &ch.data.b.fut.base);
	CHECK(ch.base.task == async_chain_impl);
	CHECK(ch.base.has_property == future_chain_has_property);
	FUTURE_BUSY_POLL(&ch);
	CHECK(FUTURE_OUTPUT(&ch)->result == 81);
	CHECK(FUTURE_CHAIN_ENTRY_IS_PROCESSED(&ch.data.a));
	CHECK(FUTURE_CHAIN_ENTRY_IS_PROCESSED(e));
	CHECK(compat_all(ch.data.after_last, 0x77,
		sizeof(ch.data.after_last)));
	if (compat_failures == 0)
		printf("compat_layout ok\n");
	return compat_failures != 0;
}
