/* VDM_F_MEM_DURABLE is reported as supported by the built-in movers, so
 * libpmem2 hands durability to them and skips its own drain: a durable
 * operation must write back every cache line of its range (or write it
 * with streaming stores) and then fence, on the thread that did it.
 * The implementation's private test hooks count each line written back,
 * each streamed range and each fence; this checks every line of every
 * durable operation was made durable before a later fence of the same
 * thread. x86, AArch64 and 64-bit POWER (elsewhere the movers refuse
 * durable operations, which test_vdm_portable checks: 77). */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define LINE 64u
#define AREA ((size_t)8 << 20)

static unsigned char *area; /* the buffer the operations write */
/* per line: (thread index + 1) << 40 | that thread's write-back number */
static _Atomic uint64_t *mark;
static _Atomic uint64_t fenced[64]; /* per thread: marks before its fence */
static atomic_int nthreads_seen;
static _Thread_local int my_index = -1;
static _Thread_local uint64_t my_count;

static int
thread_index(void)
{
	if (my_index < 0)
		my_index = atomic_fetch_add(&nthreads_seen, 1) % 64;
	return my_index;
}

static void
hook_line(uintptr_t line)
{
	if (line >= (uintptr_t)area && line < (uintptr_t)area + AREA)
		atomic_store(&mark[(line - (uintptr_t)area) / LINE],
			((uint64_t)thread_index() + 1) << 40 | ++my_count);
}

static void
hook_streamed(const void *p, size_t n)
{
	uintptr_t a = (uintptr_t)p, e = a + n;

	for (a &= ~(uintptr_t)(LINE - 1); a < e; a += LINE)
		hook_line(a);
}

static void
hook_fence(void)
{
	atomic_store(&fenced[thread_index()], my_count);
}

#define MASYNC__TEST_WRITEBACK(line) hook_line(line)
#define MASYNC__TEST_STREAMED(p, n) hook_streamed(p, n)
#define MASYNC__TEST_FENCE() hook_fence()
#define MINIASYNC_IMPLEMENTATION
#include "miniasync.h"
#include "compat_util.h"

static void
clear_marks(void)
{
	size_t i;

	for (i = 0; i < AREA / LINE; i++)
		atomic_store(&mark[i], 0);
}

/* every line of [off, off + n) written back / streamed, then fenced */
static int
all_durable(size_t off, size_t n)
{
	size_t i;

	for (i = off / LINE; i < (off + n + LINE - 1) / LINE; i++) {
		uint64_t m = atomic_load(&mark[i]);
		int t = (int)(m >> 40) - 1;

		if (m == 0 || t < 0 ||
				atomic_load(&fenced[t]) < (m & ((1ull << 40) - 1))) {
			fprintf(stderr, "line %zu: mark %#llx\n", i,
				(unsigned long long)m);
			return 0;
		}
	}
	return 1;
}

static int
none_marked(void)
{
	size_t i;

	for (i = 0; i < AREA / LINE; i++)
		if (atomic_load(&mark[i]) != 0)
			return 0;
	return 1;
}

static void
run(struct vdm *vdm, struct runtime *r, const char *name)
{
	static const uint64_t flag_sets[] = {VDM_F_MEM_DURABLE,
		VDM_F_MEM_DURABLE | VDM_F_NO_CACHE_HINT};
	unsigned char *src = malloc(AREA);
	/* odd offsets and sizes: partial first and last lines */
	static const size_t offs[] = {0, 7, 100}, lens[] = {1, 200, 65536 + 9,
		((size_t)4 << 20) + 3};
	size_t i, j, k;

	CHECK(src != NULL);
	if (src == NULL)
		return;
	memset(src, 0x3C, AREA);
	CHECK(vdm_is_supported(vdm, VDM_F_MEM_DURABLE));
	for (k = 0; k < 2; k++)
		for (i = 0; i < 3; i++)
			for (j = 0; j < 4; j++) {
				struct vdm_operation_future f;
				size_t off = offs[i], n = lens[j];
				int t;

				for (t = 0; t < 3; t++) {
					clear_marks();
					f = t == 0 ? vdm_memcpy(vdm, area + off,
						src, n, flag_sets[k]) :
						t == 1 ? vdm_memset(vdm,
						area + off, 7, n, flag_sets[k]) :
						vdm_flush(vdm, area + off, n,
						flag_sets[k]);
					runtime_wait(r, FUTURE_AS_RUNNABLE(&f));
					CHECK(f.output.result == VDM_SUCCESS);
					if (!all_durable(off, n))
						fprintf(stderr, "%s: op %d "
							"flags %llu off %zu "
							"n %zu\n", name, t,
							(unsigned long long)
							flag_sets[k], off, n);
					CHECK(all_durable(off, n));
				}
			}
	/* a plain copy makes nothing durable (the hooks do see that) */
	clear_marks();
	{
		struct vdm_operation_future f = vdm_memcpy(vdm, area, src,
			4096, 0);

		runtime_wait(r, FUTURE_AS_RUNNABLE(&f));
		CHECK(none_marked());
	}
	free(src);
}

int
main(void)
{
	/* (not called where nothing streams, or nothing is written back) */
	(void)hook_streamed;
	(void)hook_fence;
#ifndef MASYNC__WB
	(void)run;
	printf("SKIP: the movers have no cache write-back on this target\n");
	return 77;
#else
	struct runtime *r = runtime_new();
	struct data_mover_sync *dms = data_mover_sync_new();
	struct data_mover_threads *dmt = data_mover_threads_new(2, 16,
		FUTURE_NOTIFIER_WAKER);

	area = aligned_alloc(LINE, AREA);
	mark = calloc(AREA / LINE, sizeof(*mark));
	if (r == NULL || dms == NULL || dmt == NULL || area == NULL ||
			mark == NULL)
		return 1;
	run(data_mover_sync_get_vdm(dms), r, "sync");
	run(data_mover_threads_get_vdm(dmt), r, "threads");
	data_mover_threads_delete(dmt);
	data_mover_sync_delete(dms);
	runtime_delete(r);
	free(area);
	free(mark);
	if (compat_failures == 0)
		printf("compat_durable ok\n");
	return compat_failures != 0;
#endif
}
