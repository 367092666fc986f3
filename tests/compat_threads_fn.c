/* A threads mover with its copy function replaced, as libpmem2 does:
 * the function receives every flag bit the program passed (its own ones
 * too) and is called once with the whole range, also for a 4 MiB copy
 * that the built-in kernels would split across the workers, and for 0
 * bytes. */
#include "miniasync.h"
#include <stdatomic.h>
#include <stdlib.h>
#include "compat_util.h"

#define PMEM_LIKE_F_NONTEMPORAL (1U << 8) /* not a VDM_F_* bit */
#define BIG ((size_t)4 << 20)

static atomic_uint calls;
static atomic_size_t last_n;
static atomic_uint last_flags;

static void *
my_memcpy(void *dst, const void *src, size_t n, unsigned flags)
{
	atomic_fetch_add(&calls, 1);
	atomic_store(&last_n, n);
	atomic_store(&last_flags, flags);
	return memcpy(dst, src, n);
}

static void *
my_memset(void *str, int c, size_t n, unsigned flags)
{
	atomic_fetch_add(&calls, 1);
	atomic_store(&last_n, n);
	atomic_store(&last_flags, flags);
	return memset(str, c, n);
}

int
main(void)
{
	struct data_mover_threads *dmt = data_mover_threads_new(2, 16,
		FUTURE_NOTIFIER_WAKER);
	struct runtime *r = runtime_new();
	unsigned char *a = malloc(BIG), *b = malloc(BIG);
	struct vdm *vdm;
	struct vdm_operation_future f;

	if (dmt == NULL || r == NULL || a == NULL || b == NULL)
		return 1;
	vdm = data_mover_threads_get_vdm(dmt);
	data_mover_threads_set_memcpy_fn(dmt, my_memcpy);
	data_mover_threads_set_memset_fn(dmt, my_memset);
	memset(a, 0x42, BIG);
	memset(b, 0, BIG);

	f = vdm_memcpy(vdm, b, a, BIG,
		PMEM_LIKE_F_NONTEMPORAL | VDM_F_MEM_DURABLE);
	runtime_wait(r, FUTURE_AS_RUNNABLE(&f));
	CHECK(f.output.result == VDM_SUCCESS);
	CHECK(atomic_load(&calls) == 1);
	CHECK(atomic_load(&last_n) == BIG);
	CHECK(atomic_load(&last_flags) ==
		(PMEM_LIKE_F_NONTEMPORAL | VDM_F_MEM_DURABLE));
	CHECK(memcmp(a, b, BIG) == 0);

	f = vdm_memset(vdm, b, 0x17, BIG, PMEM_LIKE_F_NONTEMPORAL);
	runtime_wait(r, FUTURE_AS_RUNNABLE(&f));
	CHECK(f.output.result == VDM_SUCCESS);
	CHECK(atomic_load(&calls) == 2);
	CHECK(atomic_load(&last_flags) == PMEM_LIKE_F_NONTEMPORAL);
	CHECK(compat_all(b, 0x17, BIG));

	/* no user memmove: the built-in kernel refuses the unknown flag */
	f = vdm_memmove(vdm, b, a, 64, PMEM_LIKE_F_NONTEMPORAL);
	runtime_wait(r, FUTURE_AS_RUNNABLE(&f));
	CHECK(f.output.result == VDM_ERROR_INVALID_ARGUMENT);
	CHECK(compat_all(b, 0x17, BIG));
	CHECK(atomic_load(&calls) == 2);

	/* once per operation, also for 0 bytes (as libminiasync called it);
	 * the built-in kernel (memmove here) has nothing to do then */
	f = vdm_memcpy(vdm, b, a, 0, PMEM_LIKE_F_NONTEMPORAL);
	runtime_wait(r, FUTURE_AS_RUNNABLE(&f));
	CHECK(f.output.result == VDM_SUCCESS);
	CHECK(atomic_load(&calls) == 3);
	CHECK(atomic_load(&last_n) == 0);
	CHECK(atomic_load(&last_flags) == PMEM_LIKE_F_NONTEMPORAL);
	f = vdm_memset(vdm, b, 0x55, 0, 0);
	runtime_wait(r, FUTURE_AS_RUNNABLE(&f));
	CHECK(f.output.result == VDM_SUCCESS);
	CHECK(atomic_load(&calls) == 4);
	CHECK(atomic_load(&last_n) == 0);
	f = vdm_memmove(vdm, b, a, 0, 0);
	runtime_wait(r, FUTURE_AS_RUNNABLE(&f));
	CHECK(f.output.result == VDM_SUCCESS);
	CHECK(atomic_load(&calls) == 4);
	CHECK(compat_all(b, 0x17, BIG));

	data_mover_threads_delete(dmt);
	runtime_delete(r);
	free(a);
	free(b);
	if (compat_failures == 0)
		printf("compat_threads_fn ok\n");
	return compat_failures != 0;
}
