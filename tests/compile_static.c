/* compile_static.c - MINIASYNC_STATIC with user overrides of
 * MINIASYNC_MALLOC / MINIASYNC_FREE / MINIASYNC_ASSERT. tests/meson.build
 * compiles this file twice into one program (once with
 * -DCOMPILE_STATIC_SECOND, into a static library, that copy made private
 * with `#define MINIASYNC_API static` instead; both with -Werror, so the
 * functions a copy does not call must be no warning): two private copies of
 * the library must link together (a non-static public function would be
 * defined twice) and each must allocate only through its own allocator.
 * <stdlib.h> and <assert.h> are not included before the header: with the
 * overrides the implementation must not need them. Exits 0 / 1. */
#include <stddef.h>

#ifdef COMPILE_STATIC_SECOND
#define ALLOC second_alloc
#define FREE_ second_free
#define RUN second_run
#define COUNTS second_counts
#else
#define ALLOC first_alloc
#define FREE_ first_free
#define RUN first_run
#define COUNTS first_counts
#endif

void *ALLOC(size_t size);
void FREE_(void *p);
void COUNTS(long *allocs, long *frees, long *asserts);
int RUN(void);

static long n_asserts;

#ifdef COMPILE_STATIC_SECOND
#define MINIASYNC_API static /* the other way to a private copy */
#else
#define MINIASYNC_STATIC
#endif
#define MINIASYNC_MALLOC(sz) ALLOC(sz)
#define MINIASYNC_FREE(p) FREE_(p)
#define MINIASYNC_ASSERT(x) ((void)((x) ? 0 : (n_asserts++, 0)))
#define MINIASYNC_IMPLEMENTATION
#include "miniasync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long n_allocs, n_frees;

void *
ALLOC(size_t size)
{
	n_allocs++;
	return malloc(size);
}

void
FREE_(void *p)
{
	if (p != NULL)
		n_frees++;
	free(p);
}

void
COUNTS(long *allocs, long *frees, long *asserts)
{
	*allocs = n_allocs;
	*frees = n_frees;
	*asserts = n_asserts;
}

/* Returns 0 when the private copy works. */
int
RUN(void)
{
	char src[] = "private copy", dst[sizeof(src)];
	struct data_mover_sync *dms = data_mover_sync_new();
	struct runtime *rt = runtime_new();
	int bad = 0;

	if (dms == NULL || rt == NULL)
		return 1;
	memset(dst, 0, sizeof(dst));
	struct vdm_operation_future f = vdm_memcpy(data_mover_sync_get_vdm(dms),
		dst, src, sizeof(src), VDM_F_NO_CACHE_HINT);
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&f));
	bad |= f.output.result != VDM_SUCCESS || strcmp(dst, src) != 0;
	/* a wait for two, inlined here (gcc -O2 once warned in it) */
	struct vdm_operation_future g[2] = {
		vdm_memset(data_mover_sync_get_vdm(dms), dst, 'x', 4, 0),
		vdm_memset(data_mover_sync_get_vdm(dms), dst + 4, 'y', 4, 0)};
	struct future *gs[2] = {FUTURE_AS_RUNNABLE(&g[0]),
		FUTURE_AS_RUNNABLE(&g[1])};
	runtime_wait_multiple(rt, gs, 2);
	bad |= g[0].output.result != VDM_SUCCESS ||
		g[1].output.result != VDM_SUCCESS ||
		memcmp(dst, "xxxxyyyy", 8) != 0;
	runtime_delete(rt);
	data_mover_sync_delete(dms);
	return bad;
}

#ifndef COMPILE_STATIC_SECOND
void second_counts(long *allocs, long *frees, long *asserts);
int second_run(void);

int
main(void)
{
	long a1, f1, s1, a2, f2, s2;
	int bad = 0;

	bad |= first_run();
	first_counts(&a1, &f1, &s1);
	second_counts(&a2, &f2, &s2);
	/* the second copy has not run yet: its allocator is untouched */
	bad |= a1 < 2 || a1 != f1 || a2 != 0 || f2 != 0;
	bad |= second_run();
	second_counts(&a2, &f2, &s2);
	first_counts(&a1, &f1, &s1);
	bad |= a2 < 2 || a2 != f2 || a2 != a1;
	bad |= s1 != 0 || s2 != 0; /* no assertion failed */
	printf("MINIASYNC_STATIC, two private copies, overrides: %s "
		"(%ld + %ld allocations)\n", bad ? "FAIL" : "ok", a1, a2);
	return bad ? 1 : 0;
}
#endif
