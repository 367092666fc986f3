/* placement.c - where the participants of a split copy run.
 *
 * A debug build of the threads mover (MASYNC__THR_TRACE_CHUNK: a hook the
 * header calls after each chunk, absent from normal builds) records the
 * CPU (sched_getcpu) and the thread of every chunk of a 64 MiB copy on
 * the default mover, waited with runtime_wait after a memset of the
 * destination (as bench/bench.c's large copies). Each copy is classed by
 * where the chunks ran:
 *   apart   the workers' chunks on CPUs other than the caller's
 *   shared  the workers' chunks mostly on the CPU where the caller ran
 *           its own (or, if it ran none, where it started the copy): the
 *           two took turns on one CPU
 *   alone   the caller ran every chunk (no worker came)
 * and the summary gives each class's count and median GB/s, with plain
 * memcpy of the same bytes in the same runs. PLACEMENT_RUNS (default 40)
 * copies; PLACEMENT_BATCHES=1: before each, 20 batches of 64 x 4 KiB on
 * the same mover, waited with runtime_wait_multiple (as bench/bench.c
 * runs batches before its large copies). Linux only (sched_getcpu).
 *
 * Run: build/bench/placement */
#define _GNU_SOURCE
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXCH 4096
static _Thread_local int is_caller;
static atomic_int ch_cpu[MAXCH], ch_caller[MAXCH];

static void
trace_chunk(size_t i)
{
	if (i < MAXCH) {
		atomic_store(&ch_cpu[i], sched_getcpu());
		atomic_store(&ch_caller[i], is_caller);
	}
}

#define MASYNC__THR_TRACE_CHUNK(i) trace_chunk(i)
#define MINIASYNC_IMPLEMENTATION
#include "miniasync.h"

#include "bench_util.h"

#define N ((size_t)64 << 20)
#define NCPU 1024

enum { APART, SHARED, ALONE, NCLASS };
static const char *const class_name[] = {"apart", "shared", "alone"};

/* the CPU that ran most of the chunks whose ch_caller == caller, or -1 */
static int
main_cpu(int caller, size_t nch, int *count)
{
	static int per[NCPU];
	size_t i;
	int best = -1;

	memset(per, 0, sizeof(per));
	*count = 0;
	for (i = 0; i < nch; i++) {
		int c = atomic_load(&ch_cpu[i]);

		if (atomic_load(&ch_caller[i]) != caller || c < 0 || c >= NCPU)
			continue;
		(*count)++;
		if (best < 0 || ++per[c] > per[best])
			best = c;
	}
	return best;
}

/* 20 batches of 64 x 4 KiB copies, each waited for as a whole */
static void
batches(struct vdm *vdm, struct runtime *rt, unsigned char *src,
	unsigned char *dst)
{
	struct vdm_operation_future f[64];
	struct future *fp[64];
	int b, k;

	for (b = 0; b < 20; b++) {
		for (k = 0; k < 64; k++) {
			f[k] = vdm_memcpy(vdm, dst + (size_t)k * 4096,
				src + (size_t)k * 4096, 4096, 0);
			fp[k] = FUTURE_AS_RUNNABLE(&f[k]);
		}
		runtime_wait_multiple(rt, fp, 64);
	}
}

int
main(void)
{
	const char *e = getenv("PLACEMENT_RUNS");
	int with_batches = getenv("PLACEMENT_BATCHES") != NULL &&
		atoi(getenv("PLACEMENT_BATCHES")) != 0;
	int runs = e != NULL && atoi(e) > 0 ? atoi(e) : 40;
	unsigned char *src = aligned_alloc(4096, N), *dst = aligned_alloc(4096, N);
	struct data_mover_threads *m = data_mover_threads_default();
	struct runtime *rt = runtime_new();
	double *gbs[NCLASS], *plain;
	int n[NCLASS] = {0, 0, 0}, r, k;

	if (src == NULL || dst == NULL || m == NULL || rt == NULL)
		return 1;
	plain = calloc((size_t)runs, sizeof(double));
	for (k = 0; k < NCLASS; k++)
		gbs[k] = calloc((size_t)runs, sizeof(double));
	memset(src, 0x5a, N);
	memset(dst, 0, N);
	is_caller = 1;
	for (r = 0; r < runs; r++) {
		struct vdm_operation_future f;
		uint64_t t0;
		int cc, wc, ccpu, wcpu, cls, start;
		size_t i;
		double g;

		memset(dst, 0, N);
		t0 = now_ns();
		memcpy(dst, src, N);
		plain[r] = (double)N / (double)(now_ns() - t0);
		if (with_batches)
			batches(data_mover_threads_get_vdm(m), rt, src, dst);
		for (i = 0; i < MAXCH; i++)
			atomic_store(&ch_cpu[i], -1);
		memset(dst, 0, N);
		start = sched_getcpu();
		t0 = now_ns();
		f = vdm_memcpy(data_mover_threads_get_vdm(m), dst, src, N, 0);
		runtime_wait(rt, FUTURE_AS_RUNNABLE(&f));
		g = (double)N / (double)(now_ns() - t0);
		if (FUTURE_OUTPUT(&f)->result != VDM_SUCCESS ||
				memcmp(dst, src, N) != 0) {
			fprintf(stderr, "placement: wrong copy\n");
			return 1;
		}
		ccpu = main_cpu(1, MAXCH, &cc);
		wcpu = main_cpu(0, MAXCH, &wc);
		if (cc == 0)
			ccpu = start;
		cls = wc == 0 ? ALONE : wcpu == ccpu ? SHARED : APART;
		gbs[cls][n[cls]++] = g;
		printf("copy %2d %7.2f GB/s (plain %6.2f) caller cpu %d %3d "
			"chunks, workers cpu %d %3d chunks: %s\n", r, g,
			plain[r], ccpu, cc, wcpu, wc, class_name[cls]);
	}
	printf("%-24s %3d copies %8.2f GB/s\n", "placement_plain_memcpy",
		runs, median(plain, (size_t)runs));
	for (k = 0; k < NCLASS; k++)
		printf("placement_%-14s %3d copies %8.2f GB/s\n",
			class_name[k], n[k],
			n[k] ? median(gbs[k], (size_t)n[k]) : 0.0);
	data_mover_threads_delete(m);
	runtime_delete(rt);
	free(src);
	free(dst);
	return 0;
}
