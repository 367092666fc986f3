/* dsa.c - copy with Intel DSA when a device is there, else say why and
 * fall back to the threads mover. The rest of the program does not care
 * which mover it got: both are a struct vdm. */
#define MINIASYNC_IMPLEMENTATION
#include "miniasync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
main(void)
{
	const size_t n = 8 << 20; /* above a typical WQ's 2 MiB maximum */
	unsigned char *src = malloc(n), *dst = malloc(n);
	struct data_mover_threads *dmt = NULL;
	struct data_mover_dsa *dmd = data_mover_dsa_default();
	struct runtime *r = runtime_new();
	struct vdm *vdm;

	if (src == NULL || dst == NULL || r == NULL)
		return 1;
	if (dmd != NULL) {
		vdm = data_mover_dsa_get_vdm(dmd);
		printf("using DSA\n");
	} else {
		printf("no DSA: %s; using the threads mover\n",
			data_mover_dsa_last_error_str());
		dmt = data_mover_threads_default();
		if (dmt == NULL)
			return 1;
		vdm = data_mover_threads_get_vdm(dmt);
	}
	for (size_t i = 0; i < n; i++)
		src[i] = (unsigned char)(i * 31 + 7);

	struct vdm_operation_future copy = vdm_memcpy(vdm, dst, src, n, 0);
	struct vdm_operation_future fill = vdm_memset(vdm, src, 0, n / 2, 0);
	runtime_wait(r, FUTURE_AS_RUNNABLE(&copy)); /* copy before the fill */
	runtime_wait(r, FUTURE_AS_RUNNABLE(&fill));

	int ok = FUTURE_OUTPUT(&copy)->result == VDM_SUCCESS &&
		FUTURE_OUTPUT(&fill)->result == VDM_SUCCESS;
	for (size_t i = 0; ok && i < n; i++)
		ok = dst[i] == (unsigned char)(i * 31 + 7) &&
			(i >= n / 2 || src[i] == 0);
	printf("copied and filled %zu bytes: %s\n", n, ok ? "ok" : "MISMATCH");
	/* which work queues the DSA mover used, and what it sent them */
	size_t nwq = dmd != NULL ? data_mover_dsa_wq_count(dmd) : 0;
	for (size_t i = 0; i < nwq; i++) {
		struct data_mover_dsa_wq_info wi;

		if (data_mover_dsa_get_wq_info(dmd, i, &wi) == 0)
			printf("%s/%s (%s): %llu descriptors\n", wi.device,
				wi.wq, wi.dedicated ? "dedicated" : "shared",
				(unsigned long long)wi.descriptors);
	}

	data_mover_dsa_delete(dmd);
	data_mover_threads_delete(dmt);
	runtime_delete(r);
	free(src);
	free(dst);
	return ok ? 0 : 1;
}
