/* polling.c - callers that busy-poll while the workers share their CPUs.
 *
 * pmemstream's pattern: 2 x CPUs threads (at least 4), each making 16
 * memcpy futures of 4 KiB on the default threads mover and polling them in
 * order with a NULL notifier until each completes; more threads than
 * cores. The same program runs on the mover as shipped ("spin") and on a
 * copy of the library whose workers never spin ("nospin"), in turns, and
 * against the same threads doing plain memcpy ("plain", the reference).
 * Prints `name seconds s ratio x_memcpy`, medians of REPS, and
 * polling_spin_vs_nospin (median of the per-turn ratios). Try it pinned to
 * one CPU too: taskset -c 0 build/bench/polling
 *
 * Run: meson test -C build --benchmark -v polling */
#define _POSIX_C_SOURCE 200809L
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>
#include <unistd.h>

#include "bench_util.h"
#include "polling.h"

#define REPS 5
#define ROUNDS 500

struct plain_arg {
	unsigned char *src, *dst;
	atomic_int *go;
};

static int
plain_thread(void *arg)
{
	struct plain_arg *a = (struct plain_arg *)arg;
	unsigned r, k;

	while (!atomic_load(a->go))
		thrd_yield();
	for (r = 0; r < ROUNDS; r++)
		for (k = 0; k < POLL_FUTURES; k++)
			memcpy(a->dst + k * POLL_SIZE, a->src + (size_t)(r % 2) *
				POLL_FUTURES * POLL_SIZE + k * POLL_SIZE,
				POLL_SIZE);
	return 0;
}

static double
plain_run(unsigned nthreads, unsigned char *const *src,
	unsigned char *const *dst)
{
	struct plain_arg a[POLL_MAX_THREADS];
	thrd_t th[POLL_MAX_THREADS];
	atomic_int go;
	uint64_t t0;
	unsigned i;

	atomic_init(&go, 0);
	for (i = 0; i < nthreads; i++) {
		a[i].src = src[i];
		a[i].dst = dst[i];
		a[i].go = &go;
		if (thrd_create(&th[i], plain_thread, &a[i]) != thrd_success)
			return -1;
	}
	t0 = now_ns();
	atomic_store(&go, 1);
	for (i = 0; i < nthreads; i++)
		thrd_join(th[i], NULL);
	return (double)(now_ns() - t0) / 1e9;
}

int
main(void)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned n = ncpu < 2 ? 4 : (unsigned)(2 * ncpu);
	unsigned char *src[POLL_MAX_THREADS], *dst[POLL_MAX_THREADS];
	double plain[REPS], spin[REPS], nospin[REPS];
	double rspin[REPS], rnospin[REPS], ratio[REPS];
	unsigned i, r;
	size_t k;

	if (n > POLL_MAX_THREADS)
		n = POLL_MAX_THREADS;
	for (i = 0; i < n; i++) {
		src[i] = (unsigned char *)malloc(2 * POLL_FUTURES * POLL_SIZE);
		dst[i] = (unsigned char *)malloc(POLL_FUTURES * POLL_SIZE);
		if (src[i] == NULL || dst[i] == NULL)
			return 1;
		for (k = 0; k < 2 * POLL_FUTURES * POLL_SIZE; k++)
			src[i][k] = (unsigned char)(k * 131 + i);
	}
	for (r = 0; r < REPS; r++) {
		plain[r] = plain_run(n, src, dst);
		if (r % 2) {
			nospin[r] = polling_nospin_run(n, ROUNDS, src, dst);
			spin[r] = polling_spin_run(n, ROUNDS, src, dst);
		} else {
			spin[r] = polling_spin_run(n, ROUNDS, src, dst);
			nospin[r] = polling_nospin_run(n, ROUNDS, src, dst);
		}
		if (plain[r] < 0 || spin[r] < 0 || nospin[r] < 0) {
			fprintf(stderr, "polling: a run failed or copied wrong\n");
			return 1;
		}
		/* throughput ratios against plain memcpy: time_plain / time */
		rspin[r] = plain[r] / spin[r];
		rnospin[r] = plain[r] / nospin[r];
		ratio[r] = spin[r] / nospin[r];
	}
	printf("# %u threads, %d rounds of %d x %u B each\n", n, ROUNDS,
		POLL_FUTURES, POLL_SIZE);
	printf("%-34s %12.4f s %8.3f x_memcpy\n", "polling_plain",
		median(plain, REPS), 1.0);
	printf("%-34s %12.4f s %8.3f x_memcpy\n", "polling_spin",
		median(spin, REPS), median(rspin, REPS));
	printf("%-34s %12.4f s %8.3f x_memcpy\n", "polling_nospin",
		median(nospin, REPS), median(rnospin, REPS));
	printf("%-34s %12.3f x\n", "polling_spin_vs_nospin",
		median(ratio, REPS));
	for (i = 0; i < n; i++) {
		free(src[i]);
		free(dst[i]);
	}
	return 0;
}
