/* compile_c99.c - a program built as C99 (-std=gnu99 as PMDK builds, and
 * -std=c99), with -Wpedantic -Werror, includes the declarations and uses
 * the macros as libminiasync's programs did; the implementation is built
 * as C11 in compile_c99_impl.c. Runs a user future, a chain of a memcpy
 * and that future on the sync mover, and a memcpy on the threads mover.
 * Exits 0 / 1. */
#include "miniasync.h"

#include <stdio.h>
#include <string.h>

struct count_data {
	int n, max;
};

struct count_output {
	int done;
};

FUTURE(count_future, struct count_data, struct count_output);

/* the original's countup: RUNNING until polled max times, no notifier */
static enum future_state
count_task(struct future_context *ctx, struct future_notifier *notifier)
{
	struct count_data *d = future_context_get_data(ctx);
	struct count_output *o = future_context_get_output(ctx);

	(void)notifier;
	if (++d->n < d->max)
		return FUTURE_STATE_RUNNING;
	o->done = d->n;
	return FUTURE_STATE_COMPLETE;
}

struct copy_count_data {
	FUTURE_CHAIN_ENTRY(struct vdm_operation_future, copy);
	FUTURE_CHAIN_ENTRY_LAST(struct count_future, count);
	int extra; /* members may follow the last entry */
};

FUTURE(copy_count_future, struct copy_count_data, struct count_output);

static void
count_to_chain(struct future_context *lhs, struct future_context *rhs,
	void *arg)
{
	struct count_output *o = future_context_get_output(rhs);

	(void)arg;
	o->done = ((struct count_output *)future_context_get_output(lhs))->done;
}

int
main(void)
{
	char src[] = "from C99", dst[sizeof(src)];
	char src2[] = "threads", dst2[sizeof(src2)];
	struct data_mover_sync *dms = data_mover_sync_new();
	struct data_mover_threads *dmt =
		data_mover_threads_new(1, 4, FUTURE_NOTIFIER_WAKER);
	struct runtime *rt = runtime_new();
	struct copy_count_future c;
	struct count_future cf;
	struct vdm_operation_future f;
	int bad = 0;

	if (dms == NULL || dmt == NULL || rt == NULL)
		return 1;
	memset(&c, 0, sizeof(c));
	memset(dst, 0, sizeof(dst));
	FUTURE_CHAIN_ENTRY_INIT(&c.data.copy,
		vdm_memcpy(data_mover_sync_get_vdm(dms), dst, src, sizeof(src),
		0), NULL, NULL);
	memset(&cf, 0, sizeof(cf));
	cf.data.max = 20;
	FUTURE_INIT(&cf, count_task);
	FUTURE_CHAIN_ENTRY_INIT(&c.data.count, cf, count_to_chain, NULL);
	c.data.extra = 7;
	FUTURE_CHAIN_INIT(&c);
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&c));
	bad |= FUTURE_OUTPUT(&c)->done != 20;
	bad |= strcmp(dst, src) != 0 || c.data.extra != 7;

	f = vdm_memcpy(data_mover_threads_get_vdm(dmt), dst2, src2,
		sizeof(src2), 0);
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&f));
	bad |= FUTURE_OUTPUT(&f)->result != VDM_SUCCESS;
	bad |= strcmp(dst2, src2) != 0;

	printf("C99 build (__STDC_VERSION__ %ld): %s\n",
		(long)__STDC_VERSION__, bad ? "FAIL" : "ok");
	runtime_delete(rt);
	data_mover_threads_delete(dmt);
	data_mover_sync_delete(dms);
	return bad;
}
