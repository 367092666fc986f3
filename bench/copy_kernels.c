/* copy_kernels.c - why the threads mover copies the way it does.
 *
 * Copies 64 MiB in 2 MiB chunks (the threads mover's split) with several
 * kernels, on one thread and on two (this one plus a spinning helper, so
 * no wake-up cost is measured), and prints each against glibc memcpy of
 * the whole buffer in the same run: `kernel threads GB/s ratio`, medians
 * of REPS. Every copy is content-checked.
 *
 * Kernels: glibc memcpy per chunk, a linear SSE2 streaming loop, the
 * header's four interleaved 4 KiB streams (masync__nt_copy_4x), the
 * header's masync__nt_copy (the kernel the threads mover picks for this
 * CPU: linear on AMD, interleaved elsewhere), and rep movsb. The first
 * line says what CPUID reports. Then the threads mover itself, through
 * the public API (vdm_memcpy of the whole 64 MiB + runtime_wait, 1 and 2
 * workers; the waiting thread copies chunks too, and caller and workers
 * are at most as many as its CPUs, so on 2 CPUs both are the caller and
 * one worker), and threads_mover_2t_vs_best_kernel: its 2-worker GB/s over the
 * best two-thread kernel's, per run (median). The mover's copy includes
 * waking its worker (the kernels' helper already spins); the helper
 * sleeps while the movers run, so that they have the same CPUs as the
 * kernels (a third thread spinning on 2 CPUs left caller and worker one
 * CPU between them in some runs). x86-64 only.
 *
 * Run: meson test -C build --benchmark -v copy_kernels
 *      (or build/bench/copy_kernels) */
#define _POSIX_C_SOURCE 200809L
#define MINIASYNC_IMPLEMENTATION
#include "miniasync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

#define N ((size_t)64 << 20)
#define CHUNK ((size_t)2 << 20)
#define REPS 7

typedef void (*kernel_fn)(unsigned char *, const unsigned char *, size_t);

static unsigned char *src, *dst;
static kernel_fn kernel;
static atomic_size_t next_chunk;
static atomic_int turn, helper_done;
/* parked: the helper sleeps (the movers' passes) */
static atomic_int parked;
static mtx_t park_lock;
static cnd_t park_cond;

static void
park(int on)
{
	mtx_lock(&park_lock);
	atomic_store(&parked, on);
	cnd_broadcast(&park_cond);
	mtx_unlock(&park_lock);
}

static void
k_glibc(unsigned char *d, const unsigned char *s, size_t n)
{
	memcpy(d, s, n);
}

static void
k_linear(unsigned char *d, const unsigned char *s, size_t n)
{
	size_t i; /* d is 64-byte aligned, n a multiple of 64 */

	for (i = 0; i < n; i += 64)
		masync__nt_line(d + i, s + i);
	_mm_sfence();
}

static void
k_interleaved(unsigned char *d, const unsigned char *s, size_t n)
{
	size_t i = masync__nt_copy_4x(d, s, 0, n); /* n: 16 KiB multiple */

	(void)i;
	_mm_sfence();
}

static void
k_mover(unsigned char *d, const unsigned char *s, size_t n)
{
	size_t lo, hi;

	masync__nt_copy(d, s, n, &lo, &hi);
}

static void
k_movsb(unsigned char *d, const unsigned char *s, size_t n)
{
	__asm__ __volatile__("rep movsb"
			     : "+D"(d), "+S"(s), "+c"(n)
			     :
			     : "memory");
}

static void
run_chunks(void)
{
	size_t i;

	while ((i = atomic_fetch_add(&next_chunk, 1)) * CHUNK < N)
		kernel(dst + i * CHUNK, src + i * CHUNK, CHUNK);
}

static int
helper(void *arg)
{
	int seen = 0;

	(void)arg;
	for (;;) {
		int t;

		while ((t = atomic_load(&turn)) == seen) {
			if (atomic_load(&parked)) {
				mtx_lock(&park_lock);
				while (atomic_load(&parked))
					cnd_wait(&park_cond, &park_lock);
				mtx_unlock(&park_lock);
			}
			MASYNC__PAUSE();
		}
		if (t < 0)
			return 0;
		seen = t;
		run_chunks();
		atomic_store(&helper_done, 1);
	}
}

static struct runtime *rt;
static struct vdm *movers[2];

/* GB/s of one copy on a threads mover of `threads` workers (public API) */
static double
mover_pass(int threads)
{
	struct vdm_operation_future f;
	uint64_t t0;

	memset(dst, 0, N);
	t0 = now_ns();
	f = vdm_memcpy(movers[threads - 1], dst, src, N, 0);
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&f));
	t0 = now_ns() - t0;
	if (FUTURE_OUTPUT(&f)->result != VDM_SUCCESS ||
			memcmp(dst, src, N) != 0) {
		fprintf(stderr, "copy_kernels: wrong copy on the mover\n");
		exit(1);
	}
	return (double)N / (double)t0;
}

/* GB/s of one pass of `k` on `threads` threads */
static double
pass(kernel_fn k, int threads)
{
	uint64_t t0;

	memset(dst, 0, N);
	kernel = k;
	atomic_store(&next_chunk, 0);
	atomic_store(&helper_done, 0);
	t0 = now_ns();
	if (threads == 2)
		atomic_fetch_add(&turn, 1);
	run_chunks();
	while (threads == 2 && !atomic_load(&helper_done))
		MASYNC__PAUSE();
	t0 = now_ns() - t0;
	if (memcmp(dst, src, N) != 0) {
		fprintf(stderr, "copy_kernels: wrong copy\n");
		exit(1);
	}
	return (double)N / (double)t0;
}

int
main(void)
{
	static const struct {
		const char *name;
		kernel_fn fn;
	} ks[] = {
		{"glibc_per_chunk", k_glibc},
		{"linear_stream", k_linear},
		{"interleaved_stream", k_interleaved},
		{"rep_movsb", k_movsb},
		{"mover_stream", k_mover},
	};
	enum { NK = sizeof(ks) / sizeof(ks[0]) };
	double base[REPS], gbs[NK + 1][2][REPS], ratio[NK + 1][2][REPS];
	double vs_best[REPS];
	struct data_mover_threads *m1 =
		data_mover_threads_new(1, 128, FUTURE_NOTIFIER_WAKER);
	struct data_mover_threads *m2 =
		data_mover_threads_new(2, 128, FUTURE_NOTIFIER_WAKER);
	thrd_t th;
	size_t k, i;
	int r, t;

	src = (unsigned char *)aligned_alloc(4096, N);
	dst = (unsigned char *)aligned_alloc(4096, N);
	rt = runtime_new();
	if (mtx_init(&park_lock, mtx_plain) != thrd_success ||
			cnd_init(&park_cond) != thrd_success) {
		fprintf(stderr, "copy_kernels: cannot set up\n");
		return 1;
	}
	if (src == NULL || dst == NULL || m1 == NULL || m2 == NULL ||
			rt == NULL ||
			thrd_create(&th, helper, NULL) != thrd_success) {
		fprintf(stderr, "copy_kernels: cannot set up\n");
		return 1;
	}
	movers[0] = data_mover_threads_get_vdm(m1);
	movers[1] = data_mover_threads_get_vdm(m2);
	for (i = 0; i < N; i++)
		src[i] = (unsigned char)(i * 131 + (i >> 12));
	{
		unsigned cpu = masync__cpu();

		printf("# cpu: %s, L2 %zu KiB, erms %d, fsrm %d; the mover "
			"streams from %zu KiB per worker\n",
			(cpu & MASYNC__CPU_AMD) ? "AMD" : "not AMD",
			masync__cpu_l2() >> 10, !!(cpu & MASYNC__CPU_ERMS),
			!!(cpu & MASYNC__CPU_FSRM), masync__stream_min() >> 10);
	}
	for (r = 0; r < REPS; r++) {
		memset(dst, 0, N);
		{
			uint64_t t0 = now_ns();

			memcpy(dst, src, N);
			base[r] = (double)N / (double)(now_ns() - t0);
		}
		for (k = 0; k < NK; k++)
			for (t = 0; t < 2; t++) {
				gbs[k][t][r] = pass(ks[k].fn, t + 1);
				ratio[k][t][r] = gbs[k][t][r] / base[r];
			}
		vs_best[r] = 0;
		park(1);
		for (t = 0; t < 2; t++) {
			gbs[NK][t][r] = mover_pass(t + 1);
			ratio[NK][t][r] = gbs[NK][t][r] / base[r];
		}
		park(0);
		for (k = 0; k < NK; k++)
			if (gbs[k][1][r] > vs_best[r])
				vs_best[r] = gbs[k][1][r];
		vs_best[r] = gbs[NK][1][r] / vs_best[r];
	}
	printf("%-32s %10.3f GB/s %6.2f x_memcpy\n", "glibc_memcpy_64MiB",
		median(base, REPS), 1.0);
	for (k = 0; k < NK + 1; k++)
		for (t = 0; t < 2; t++) {
			char name[64];

			snprintf(name, sizeof(name), "%s_%dt",
				k < NK ? ks[k].name : "threads_mover_api", t + 1);
			printf("%-32s %10.3f GB/s %6.2f x_memcpy\n", name,
				median(gbs[k][t], REPS),
				median(ratio[k][t], REPS));
		}
	printf("%-32s %10.3f x\n", "threads_mover_2t_vs_best_kernel",
		median(vs_best, REPS));
	atomic_store(&turn, -1);
	thrd_join(th, NULL);
	cnd_destroy(&park_cond);
	mtx_destroy(&park_lock);
	data_mover_threads_delete(m1);
	data_mover_threads_delete(m2);
	runtime_delete(rt);
	free(src);
	free(dst);
	return 0;
}
