/* compile_two_tu_b.c - declarations only (no MINIASYNC_IMPLEMENTATION),
 * included twice; linked with compile_two_tu_a.c, which has the
 * implementation. Uses the inline helpers, the macros and the extern
 * functions from this side. */
#include "miniasync.h"
#include "miniasync.h" /* the include guard holds */

#include <string.h>

int two_tu_b_run(void);

struct twice_data {
	int v;
};

struct twice_output {
	int v2;
};

FUTURE(twice_future, struct twice_data, struct twice_output);

static enum future_state
twice_task(struct future_context *ctx, struct future_notifier *n)
{
	struct twice_data *d = (struct twice_data *)future_context_get_data(ctx);

	(void)n;
	((struct twice_output *)future_context_get_output(ctx))->v2 = 2 * d->v;
	return FUTURE_STATE_COMPLETE;
}

/* Returns 0 when everything worked. */
int
two_tu_b_run(void)
{
	char src[32] = "declared in b", dst[32];
	struct data_mover_sync *dms = data_mover_sync_new();
	struct runtime *rt = runtime_new();
	struct twice_future t;
	int bad = 0;

	if (dms == NULL || rt == NULL)
		return 1;
	memset(dst, 0, sizeof(dst));
	struct vdm_operation_future f = vdm_memcpy(data_mover_sync_get_vdm(dms),
		dst, src, sizeof(src), 0);
	memset(&t, 0, sizeof(t));
	FUTURE_INIT(&t, twice_task);
	t.data.v = 21;
	struct future *futs[] = {FUTURE_AS_RUNNABLE(&f), FUTURE_AS_RUNNABLE(&t)};
	runtime_wait_multiple(rt, futs, 2);
	bad |= f.output.result != VDM_SUCCESS;
	bad |= strcmp(dst, src) != 0;
	bad |= t.output.v2 != 42;
	bad |= vdm_result_str(VDM_SUCCESS) == NULL;
	runtime_delete(rt);
	data_mover_sync_delete(dms);
	return bad;
}
