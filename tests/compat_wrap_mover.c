/* A program that wraps a built-in mover, as a libminiasync user adds
 * counting or tracing to one: its own struct vdm is a copy of the mover's
 * (capabilities included), with op_new handing the mover's own vdm on
 * (the mover finds itself from that pointer) and op_start / op_check
 * counting, then calling the mover's. Nothing of the mover follows the
 * copy in memory: the library must not read past it (under ASan a read
 * past it is a stack-buffer-overflow), and must call the copy's callbacks,
 * not the mover's behind them. Sync and threads movers; runtime_wait,
 * runtime_wait_multiple, a busy poll, a cancelled idle future. */
#define MINIASYNC_IMPLEMENTATION
#include "miniasync.h"
#include <stdio.h>
#include <string.h>
#include "compat_util.h"

#define N 64
#define OPS 16

static struct vdm *inner; /* the wrapped mover's own vdm */
static int news, starts, checks;

static void *
wrap_new(struct vdm *vdm, const enum vdm_operation_type type)
{
	(void)vdm;
	news++;
	return inner->op_new(inner, type);
}

static int
wrap_start(void *data, const struct vdm_operation *op,
	struct future_notifier *n)
{
	starts++;
	return inner->op_start(data, op, n);
}

static enum future_state
wrap_check(void *data, const struct vdm_operation *op)
{
	checks++;
	return inner->op_check(data, op);
}

static void
run(const char *name, struct vdm *mover, struct runtime *r)
{
	/* on the stack, with nothing after it that belongs to the mover */
	struct vdm wrapped = *mover;
	char src[OPS][N], dst[OPS][N];
	struct vdm_operation_future f[OPS];
	struct future *fs[OPS];
	int i;

	inner = mover;
	wrapped.op_new = wrap_new;
	wrapped.op_start = wrap_start;
	wrapped.op_check = wrap_check;
	news = starts = checks = 0;
	for (i = 0; i < OPS; i++) {
		memset(src[i], 'a' + i, N);
		memset(dst[i], 0, N);
	}

	/* one at a time through runtime_wait */
	for (i = 0; i < OPS / 2; i++) {
		f[i] = vdm_memcpy(&wrapped, dst[i], src[i], N, 0);
		runtime_wait(r, FUTURE_AS_RUNNABLE(&f[i]));
		CHECK(FUTURE_OUTPUT(&f[i])->result == VDM_SUCCESS);
		CHECK(FUTURE_OUTPUT(&f[i])->output.memcpy.dest == dst[i]);
	}
	/* the rest at once */
	for (i = OPS / 2; i < OPS; i++) {
		f[i] = vdm_memcpy(&wrapped, dst[i], src[i], N, 0);
		fs[i - OPS / 2] = FUTURE_AS_RUNNABLE(&f[i]);
	}
	runtime_wait_multiple(r, fs, OPS / 2);
	for (i = 0; i < OPS; i++) {
		CHECK(FUTURE_OUTPUT(&f[i])->result == VDM_SUCCESS);
		CHECK(memcmp(dst[i], src[i], N) == 0);
	}
	CHECK(news == OPS);
	CHECK(starts == OPS);
	CHECK(checks >= OPS); /* the copy's check decides completion */

	/* busy polled, a memset */
	f[0] = vdm_memset(&wrapped, dst[0], 0x5a, N, 0);
	FUTURE_BUSY_POLL(&f[0]);
	CHECK(FUTURE_OUTPUT(&f[0])->result == VDM_SUCCESS);
	CHECK(compat_all(dst[0], 0x5a, N));

	/* made, never started, given up: nothing written */
	memset(dst[1], 0, N);
	f[1] = vdm_memcpy(&wrapped, dst[1], src[1], N, 0);
	CHECK(vdm_cancel(&f[1]) == 0);
	CHECK(FUTURE_OUTPUT(&f[1])->result == VDM_ERROR_CANCELLED);
	CHECK(compat_all(dst[1], 0, N));

	/* the copy keeps the mover's answers */
	CHECK(vdm_is_supported(&wrapped, VDM_F_NO_CACHE_HINT | 1u << 5) == 0);
	CHECK(vdm_is_supported(&wrapped, VDM_F_MEM_DURABLE) ==
		vdm_is_supported(mover, VDM_F_MEM_DURABLE));
#ifdef MASYNC__WB /* (elsewhere a CPU mover lists neither flag) */
	CHECK(vdm_is_supported(&wrapped, VDM_F_MEM_DURABLE));
#endif
	printf("%s: %d ops, %d starts, %d checks\n", name, news, starts,
		checks);
}

int
main(void)
{
	struct runtime *r = runtime_new();
	struct data_mover_sync *dms = data_mover_sync_new();
	struct data_mover_threads *dmt = data_mover_threads_new(2, 64,
		FUTURE_NOTIFIER_WAKER);

	if (r == NULL || dms == NULL || dmt == NULL) {
		fprintf(stderr, "setup failed\n");
		return 1;
	}
	run("sync", data_mover_sync_get_vdm(dms), r);
	run("threads", data_mover_threads_get_vdm(dmt), r);
	data_mover_threads_delete(dmt);
	data_mover_sync_delete(dms);
	runtime_delete(r);
	return compat_failures != 0;
}
