/* basic_async.c - two copies on the threads mover, waited together.
 *
 * Two vdm_memcpy futures are created on the default threads mover and
 * handed to runtime_wait_multiple, which queues both on their first poll
 * (the mover's workers copy them in parallel) and sleeps until the
 * workers' wakers say they are done. */
#define MINIASYNC_IMPLEMENTATION
#include "miniasync.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
main(void)
{
	enum { SIZE = 1 << 20 };
	char *src1 = malloc(SIZE), *dst1 = malloc(SIZE);
	char *src2 = malloc(SIZE), *dst2 = malloc(SIZE);
	struct runtime *r = runtime_new();
	struct data_mover_threads *dmt = data_mover_threads_default();

	if (!src1 || !dst1 || !src2 || !dst2 || !r || !dmt) {
		fprintf(stderr, "basic_async: cannot start: %s\n",
			strerror(errno));
		return 1;
	}
	memset(src1, 'a', SIZE);
	memset(src2, 'b', SIZE);
	memset(dst1, 0, SIZE);
	memset(dst2, 0, SIZE);

	struct vdm *vdm = data_mover_threads_get_vdm(dmt);
	struct vdm_operation_future a = vdm_memcpy(vdm, dst1, src1, SIZE, 0);
	struct vdm_operation_future b = vdm_memcpy(vdm, dst2, src2, SIZE, 0);
	struct future *futs[] = {FUTURE_AS_RUNNABLE(&a),
		FUTURE_AS_RUNNABLE(&b)};

	runtime_wait_multiple(r, futs, 2);

	int ok = FUTURE_OUTPUT(&a)->result == VDM_SUCCESS &&
		FUTURE_OUTPUT(&b)->result == VDM_SUCCESS &&
		FUTURE_OUTPUT(&a)->output.memcpy.dest == dst1 &&
		memcmp(dst1, src1, SIZE) == 0 && memcmp(dst2, src2, SIZE) == 0;
	printf("copied 2 x %d bytes: %s\n", SIZE, ok ? "ok" : "MISMATCH");

	data_mover_threads_delete(dmt);
	runtime_delete(r);
	free(src1);
	free(dst1);
	free(src2);
	free(dst2);
	return ok ? 0 : 1;
}
