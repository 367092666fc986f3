/* compile_two_tu_a.c - the implementation translation unit of a program
 * made of two: compile_two_tu_b.c includes the declarations only. Both are
 * built with strict warnings; a symbol defined twice or missing fails the
 * link. Exits 0 / 1. */
#define MINIASYNC_IMPLEMENTATION
#include "miniasync.h"

#include <stdio.h>

int two_tu_b_run(void);

int
main(void)
{
	struct data_mover_sync *dms = data_mover_sync_new();
	char buf[8];
	int bad;

	if (dms == NULL)
		return 1;
	struct vdm_operation_future f =
		vdm_memset(data_mover_sync_get_vdm(dms), buf, 'x', sizeof(buf), 0);
	FUTURE_BUSY_POLL(&f);
	bad = f.output.result != VDM_SUCCESS || buf[7] != 'x';
	data_mover_sync_delete(dms);
	bad |= two_tu_b_run();
	printf("two translation units: %s\n", bad ? "FAIL" : "ok");
	return bad ? 1 : 0;
}
