/* test_ext_result_str.c - vdm_result_str: a short, distinct, non-empty
 * description for every result, a fixed one for unknown values, and the
 * result names the extensions rely on (cancelled). Also checks the
 * extension names exist with their documented signatures. */
#define _GNU_SOURCE
#include "test_impl.h"
#include "test_ext_util.h"

static const enum vdm_operation_result all[] = {
	VDM_SUCCESS, VDM_ERROR_OUT_OF_MEMORY, VDM_ERROR_JOB_CORRUPTED,
	VDM_ERROR_INVALID_ARGUMENT, VDM_ERROR_NOT_SUPPORTED, VDM_ERROR_BUSY,
	VDM_ERROR_CANCELLED, VDM_ERROR_TIMEOUT, VDM_ERROR_SHUTDOWN,
	VDM_ERROR_DSA_PAGE_FAULT, VDM_ERROR_DSA_HARDWARE,
	VDM_ERROR_DSA_INVALID,
};

int
main(void)
{
	size_t n = sizeof(all) / sizeof(all[0]), i, j;
	const char *unknown = vdm_result_str((enum vdm_operation_result)9999);
	int (*wait_for)(struct runtime *, struct future *, uint64_t) =
		runtime_wait_for;
	int (*wait_multiple_for)(struct runtime *, struct future **, size_t,
		uint64_t) = runtime_wait_multiple_for;
	size_t (*wait_any)(struct runtime *, struct future **, size_t) =
		runtime_wait_any;
	size_t (*wait_any_for)(struct runtime *, struct future **, size_t,
		uint64_t) = runtime_wait_any_for;
	int (*cancel)(struct vdm_operation_future *) = vdm_cancel;
	struct future_join_all_future (*join)(struct future **, size_t) =
		future_join_all;
	enum vdm_operation_result (*chain_result)(struct future *) =
		future_chain_result;

	CHECK(wait_for && wait_multiple_for && wait_any && wait_any_for &&
		cancel && join && chain_result);
	/* the original three keep their values */
	CHECK(VDM_SUCCESS == 0 && VDM_ERROR_OUT_OF_MEMORY == 1 &&
		VDM_ERROR_JOB_CORRUPTED == 2);
	CHECK(unknown != NULL && unknown[0] != '\0');
	for (i = 0; i < n; i++) {
		const char *s = vdm_result_str(all[i]);

		CHECK(s != NULL);
		CHECK(s[0] != '\0' && strlen(s) < 64);
		CHECK(strcmp(s, unknown) != 0);
		for (j = 0; j < i; j++)
			CHECK(strcmp(s, vdm_result_str(all[j])) != 0);
		te_log("%2d: %s\n", (int)all[i], s);
	}
	CHECK(strcmp(vdm_result_str(VDM_SUCCESS), "success") == 0);
	CHECK(strstr(vdm_result_str(VDM_ERROR_CANCELLED), "cancel") != NULL);
	te_log("unknown: %s\nok\n", unknown);
	return 0;
}
