#define MINIASYNC_IMPLEMENTATION
#include "miniasync.h"
#include <stdio.h>

int main(void)
{
    char src[64] = "hello, mover", dst[64] = {0};
    struct runtime *r = runtime_new();
    struct data_mover_threads *dmt = data_mover_threads_default();
    if (r == NULL || dmt == NULL) return 1;
    struct vdm *vdm = data_mover_threads_get_vdm(dmt);
    struct vdm_operation_future f = vdm_memcpy(vdm, dst, src, sizeof src, 0);
    runtime_wait(r, FUTURE_AS_RUNNABLE(&f));
    printf("%s (%s)\n", dst, vdm_result_str(FUTURE_OUTPUT(&f)->result));
    data_mover_threads_delete(dmt);
    runtime_delete(r);
    return FUTURE_OUTPUT(&f)->result != VDM_SUCCESS;
}
