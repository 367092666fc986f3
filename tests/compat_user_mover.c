/* A mover written by the program, as libpmem2 writes one: has_property
 * left NULL (its futures then get future_has_property_default, callable
 * directly through base.has_property), and its own flag bits, which reach
 * op_start unchanged. Waited on with the runtime. */
#include "miniasync.h"
#include <limits.h>
#include <stdlib.h>
#include "compat_util.h"

#define MY_F_FANCY (1ULL << 5) /* a flag only this mover knows */

struct my_op {
	int started, checks;
};

static uint64_t seen_flags;
static int news, deletes;
static int eager; /* op_start takes the waker, the first check completes */
static int start_waker; /* op_start was given a waker */

static void *
my_new(struct vdm *vdm, const enum vdm_operation_type type)
{
	(void)vdm;
	(void)type;
	news++;
	return calloc(1, sizeof(struct my_op));
}

static int
my_start(void *data, const struct vdm_operation *op,
	struct future_notifier *n)
{
	struct my_op *o = data;

	start_waker = n != NULL && n->waker.wake != NULL;
	if (n != NULL)
		n->notifier_used = eager ? FUTURE_NOTIFIER_WAKER :
			FUTURE_NOTIFIER_NONE;
	seen_flags = op->data.memcpy.flags;
	memcpy(op->data.memcpy.dest, op->data.memcpy.src, op->data.memcpy.n);
	o->started = 1;
	return 0;
}

static enum future_state
my_check(void *data, const struct vdm_operation *op)
{
	struct my_op *o = data;

	(void)op;
	return ++o->checks >= 2 - eager ? FUTURE_STATE_COMPLETE :
		FUTURE_STATE_RUNNING;
}

static void
my_delete(void *data, const struct vdm_operation *op,
	struct vdm_operation_output *out)
{
	deletes++;
	out->type = op->type;
	out->result = VDM_SUCCESS;
	out->output.memcpy.dest = op->data.memcpy.dest;
	free(data);
}

static void
no_wake(void *data)
{
	(void)data;
}

int
main(void)
{
	struct vdm mover = {0};
	struct runtime *r = runtime_new();
	char src[16] = "user mover", dst[16] = "";
	struct vdm_operation_future f;
	struct future *futs[1];

	mover.op_new = my_new;
	mover.op_start = my_start;
	mover.op_check = my_check;
	mover.op_delete = my_delete;
	mover.capabilities = 0;
	mover.has_property = NULL; /* as libpmem2 leaves it */
	CHECK(r != NULL);

	f = vdm_memcpy(&mover, dst, src, sizeof(src),
		MY_F_FANCY | VDM_F_MEM_DURABLE);
	CHECK(f.base.has_property == future_has_property_default);
	CHECK(f.base.has_property(&f.base, FUTURE_PROPERTY_ASYNC) == 0);
	CHECK(future_has_property(FUTURE_AS_RUNNABLE(&f),
		FUTURE_PROPERTY_ASYNC) == 0);
	futs[0] = FUTURE_AS_RUNNABLE(&f);
	runtime_wait_multiple(r, futs, 1);
	CHECK(f.output.result == VDM_SUCCESS);
	CHECK(f.output.output.memcpy.dest == dst);
	CHECK(strcmp(dst, src) == 0);
	CHECK(seen_flags == (MY_F_FANCY | VDM_F_MEM_DURABLE));
	CHECK(!vdm_is_supported(&mover, VDM_F_MEM_DURABLE));
	CHECK(news == 1 && deletes == 1);
	CHECK(start_waker);

	/* a mover that says it supports everything (every capability bit,
	 * bit 31 too) is still the program's: its flags reach op_start */
	mover.capabilities = UINT_MAX;
	seen_flags = 0;
	f = vdm_memcpy(&mover, dst, src, sizeof(src), MY_F_FANCY);
	runtime_wait(r, FUTURE_AS_RUNNABLE(&f));
	CHECK(f.output.result == VDM_SUCCESS);
	CHECK(seen_flags == MY_F_FANCY);
	CHECK(vdm_is_supported(&mover, UINT_MAX));
	CHECK(vdm_is_supported(&mover, 1u << 31));
	mover.capabilities = 0;
	CHECK(news == 2 && deletes == 2);
	news = deletes = 1; /* the counts below go on from the first one */

	/* runtime_wait too hands the waker to the poll that starts it (the
	 * only one a user mover's op_start sees) */
	f = vdm_memcpy(&mover, dst, src, sizeof(src), 0);
	start_waker = 0;
	runtime_wait(r, FUTURE_AS_RUNNABLE(&f));
	CHECK(f.output.result == VDM_SUCCESS);
	CHECK(start_waker);
	CHECK(news == 2 && deletes == 2);

	/* done in the poll that started it: whatever op_start kept, nothing
	 * is left to wait for (a chain polls its next entry with the same
	 * notifier, and a runtime would wait for a waker never called) */
	{
		struct future_notifier nt;

		eager = 1;
		memset(&nt, 0, sizeof(nt));
		nt.waker.data = r;
		nt.waker.wake = no_wake;
		f = vdm_memcpy(&mover, dst, src, sizeof(src), 0);
		CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), &nt) ==
			FUTURE_STATE_COMPLETE);
		CHECK(nt.notifier_used == FUTURE_NOTIFIER_NONE);
		CHECK(news == 3 && deletes == 3);
	}
	runtime_delete(r);
	if (compat_failures == 0)
		printf("compat_user_mover ok\n");
	return compat_failures != 0;
}
