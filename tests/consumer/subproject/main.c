/* A consumer of miniasync built through dependency('miniasync') from a
 * meson subproject. Copies on the sync and threads movers, asks for the
 * DSA mover (which reports why it is not available on a machine without a
 * DSA work queue). Exits 0 / 1. */
#define MINIASYNC_IMPLEMENTATION
#include "miniasync.h"

#include <stdio.h>
#include <string.h>

int
main(void)
{
	char src[] = "consumer", a[sizeof(src)] = {0}, b[sizeof(src)] = {0};
	struct runtime *rt = runtime_new();
	struct data_mover_sync *dms = data_mover_sync_new();
	struct data_mover_threads *dmt = data_mover_threads_new(1, 4,
		FUTURE_NOTIFIER_WAKER);
	struct data_mover_dsa *dsa;
	int bad = 0;

	if (rt == NULL || dms == NULL || dmt == NULL)
		return 1;
	struct vdm_operation_future f1 = vdm_memcpy(
		data_mover_sync_get_vdm(dms), a, src, sizeof(src), 0);
	struct vdm_operation_future f2 = vdm_memcpy(
		data_mover_threads_get_vdm(dmt), b, src, sizeof(src), 0);
	struct future *futs[] = {FUTURE_AS_RUNNABLE(&f1),
		FUTURE_AS_RUNNABLE(&f2)};
	runtime_wait_multiple(rt, futs, 2);
	bad |= strcmp(a, src) != 0 || strcmp(b, src) != 0;
	bad |= f1.output.result != VDM_SUCCESS;
	bad |= f2.output.result != VDM_SUCCESS;

	dsa = data_mover_dsa_default();
	if (dsa != NULL) {
		printf("DSA mover available\n");
		data_mover_dsa_delete(dsa);
	} else {
		const char *why = data_mover_dsa_last_error_str();

		bad |= why == NULL || why[0] == '\0';
		bad |= data_mover_dsa_last_error() == DATA_MOVER_DSA_OK;
		printf("DSA mover not available: %s\n", why ? why : "(null)");
	}
	data_mover_threads_delete(dmt);
	data_mover_sync_delete(dms);
	runtime_delete(rt);
	printf("consumer: %s\n", bad ? "FAIL" : "ok");
	return bad;
}
