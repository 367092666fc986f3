/* vdm futures built by hand the ways libminiasync allowed: the operation
 * filled in field by field and FUTURE_INIT(&f, vdm_operation_impl) with
 * the mover's op_new, or vdm_generic_operation(vdm, &f); the task runs
 * op_start / op_check / op_delete, and vdm_set_has_property_fn sets the
 * property function. On the sync and threads movers. */
#include "miniasync.h"
#include "compat_util.h"

static int
always_async(void *future, enum future_property property)
{
	(void)future;
	return property == FUTURE_PROPERTY_ASYNC;
}

static void
run(struct vdm *vdm, struct runtime *r)
{
	char src[32] = "built by hand", dst[32];
	struct vdm_operation_future f;

	/* by hand */
	memset(dst, 0, sizeof(dst));
	f.data.operation.type = VDM_OPERATION_MEMCPY;
	f.data.operation.padding = 0;
	f.data.operation.data.memcpy.dest = dst;
	f.data.operation.data.memcpy.src = src;
	f.data.operation.data.memcpy.n = sizeof(src);
	f.data.operation.data.memcpy.flags = 0;
	f.output.type = VDM_OPERATION_MEMCPY;
	f.output.result = VDM_SUCCESS;
	f.data.vdm = vdm;
	f.data.data = vdm->op_new(vdm, VDM_OPERATION_MEMCPY);
	CHECK(f.data.data != NULL);
	FUTURE_INIT(&f, vdm_operation_impl);
	CHECK(f.base.has_property == future_has_property_default);
	vdm_set_has_property_fn(&f, always_async);
	CHECK(f.base.has_property == always_async);
	vdm_set_has_property_fn(&f, NULL); /* NULL keeps it */
	CHECK(f.base.has_property == always_async);
	runtime_wait(r, FUTURE_AS_RUNNABLE(&f));
	CHECK(f.output.result == VDM_SUCCESS);
	CHECK(f.output.output.memcpy.dest == dst);
	CHECK(strcmp(dst, src) == 0);

	/* with vdm_generic_operation */
	memset(&f, 0, sizeof(f));
	f.data.operation.type = VDM_OPERATION_MEMSET;
	f.data.operation.data.memset.str = dst;
	f.data.operation.data.memset.c = 'z';
	f.data.operation.data.memset.n = 8;
	f.output.type = VDM_OPERATION_MEMSET;
	vdm_generic_operation(vdm, &f);
	CHECK(f.data.vdm == vdm);
	CHECK(f.base.task == vdm_operation_impl);
	CHECK(f.base.has_property == vdm->has_property);
	CHECK(FUTURE_STATE(&f) == FUTURE_STATE_IDLE);
	FUTURE_BUSY_POLL(&f);
	CHECK(f.output.result == VDM_SUCCESS);
	CHECK(f.output.output.memset.str == dst);
	CHECK(compat_all(dst, 'z', 8) && dst[8] == ' ');

	/* bad arguments: reported by the first poll, nothing written */
	memset(&f, 0, sizeof(f));
	f.data.operation.type = VDM_OPERATION_MEMCPY;
	f.data.operation.data.memcpy.dest = dst;
	f.data.operation.data.memcpy.src = NULL;
	f.data.operation.data.memcpy.n = 4;
	vdm_generic_operation(vdm, &f);
	CHECK(FUTURE_STATE(&f) == FUTURE_STATE_IDLE);
	FUTURE_BUSY_POLL(&f);
	CHECK(f.output.result == VDM_ERROR_INVALID_ARGUMENT);
	CHECK(compat_all(dst, 'z', 8));
}

int
main(void)
{
	struct runtime *r = runtime_new();
	struct data_mover_sync *dms = data_mover_sync_new();
	struct data_mover_threads *dmt = data_mover_threads_default();

	if (r == NULL || dms == NULL || dmt == NULL)
		return 1;
	run(data_mover_sync_get_vdm(dms), r);
	run(data_mover_threads_get_vdm(dmt), r);
	data_mover_threads_delete(dmt);
	data_mover_sync_delete(dms);
	runtime_delete(r);
	if (compat_failures == 0)
		printf("compat_hand_vdm ok\n");
	return compat_failures != 0;
}
