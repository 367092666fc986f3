/* sync_ab.c - two versions of miniasync.h in one process, the sync path's
 * figures interleaved round by round (A then B, B then A), for an A/B that
 * a machine's changing speed moves on both sides. Each round is also
 * classed by an empty loop's time (one taken branch per iteration: ~1 cycle
 * when the core is ours, ~2 when it is shared), so that the medians are
 * given per mode. Not built by meson (it needs two headers):
 *
 *   F="-O2 -g -falign-functions=64 -falign-loops=64"
 *   cc $F -I<old dir> '-DSYNC_AB_NAME(x)=a_##x' -c bench/sync_ab_loops.c -o a.o
 *   cc $F -I<new dir> '-DSYNC_AB_NAME(x)=b_##x' -c bench/sync_ab_loops.c -o b.o
 *   cc $F bench/sync_ab.c a.o b.o -o sync_ab && taskset -c 1 ./sync_ab 31
 *
 * Per figure: each side's median ns, its median over the plain libc call
 * of the same round (single operations), and the median of B - A.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"

double a_op(int kind, unsigned char *a, unsigned char *b, unsigned char *c,
	size_t n, unsigned iters);
double b_op(int kind, unsigned char *a, unsigned char *b, unsigned char *c,
	size_t n, unsigned iters);

#define MAXR 1001
#define NK 9

static void *(*volatile p_memcpy)(void *, const void *, size_t) = memcpy;
static void *(*volatile p_memmove)(void *, const void *, size_t) = memmove;
static void *(*volatile p_memset)(void *, int, size_t) = memset;

static __attribute__((noinline)) double
empty_ns(unsigned iters)
{
	uint64_t t0 = now_ns();
	unsigned i;

	for (i = 0; i < iters; i++)
		__asm__ volatile("" ::: "memory");
	return (double)(now_ns() - t0) / iters;
}

static __attribute__((noinline)) double
plain_ns(int kind, unsigned char *a, unsigned char *b, size_t n,
	unsigned iters)
{
	uint64_t t0 = now_ns();
	unsigned i;

	for (i = 0; i < iters; i++) {
		if (kind == 0)
			p_memcpy(b, a, n);
		else if (kind == 1)
			p_memmove(b, a, n);
		else
			p_memset(b, 0x5a, n);
	}
	return (double)(now_ns() - t0) / iters;
}

int
main(int argc, char **argv)
{
	static const char *const names[NK] = {"memcpy_64B", "memmove_64B",
		"memset_64B", "memcpy_4KiB", "memmove_4KiB", "memset_4KiB",
		"two_64B", "chain2_64B", "runtime_wait_64B"};
	static double ta[NK][MAXR], tb[NK][MAXR], tp[NK][MAXR], te[MAXR];
	int rounds = argc > 1 ? atoi(argv[1]) : 31, r, k, mode;
	unsigned char *buf = aligned_alloc(64, 3 * 8192);
	unsigned char *a = buf, *b = buf + 8192 + 64, *c = buf + 2 * 8192 + 128;

	if (buf == NULL || rounds < 1 || rounds > MAXR)
		return 1;
	memset(buf, 1, 3 * 8192);
	for (r = 0; r < rounds; r++) {
		te[r] = empty_ns(20000);
		for (k = 0; k < NK; k++) {
			int kind = k < 6 ? k % 3 : k - 3;
			size_t n = k >= 3 && k < 6 ? 4096 : 64;
			unsigned iters = n == 64 ? 20000 : 4000, o;

			for (o = 0; o < 2; o++) {
				if ((int)o == (r & 1))
					ta[k][r] = a_op(kind, a, b, c, n, iters);
				else
					tb[k][r] = b_op(kind, a, b, c, n, iters);
			}
			tp[k][r] = k < 6 ? plain_ns(kind, a, b, n, iters) : 0;
		}
	}
	for (mode = 0; mode < 3; mode++) {
		static const char *const mname[] = {"fast (empty loop < 0.4 ns)",
			"slow", "all"};
		int m = 0;

		for (r = 0; r < rounds; r++)
			m += mode == 2 || (mode == 0) == (te[r] < 0.4);
		printf("== %s: %d rounds\n", mname[mode], m);
		if (m == 0)
			continue;
		for (k = 0; k < NK; k++) {
			double va[MAXR], vb[MAXR], oa[MAXR], ob[MAXR], d[MAXR];
			int j = 0;

			for (r = 0; r < rounds; r++) {
				if (!(mode == 2 || (mode == 0) == (te[r] < 0.4)))
					continue;
				va[j] = ta[k][r];
				vb[j] = tb[k][r];
				oa[j] = ta[k][r] - tp[k][r];
				ob[j] = tb[k][r] - tp[k][r];
				d[j] = tb[k][r] - ta[k][r];
				j++;
			}
			printf("%-17s A %7.2f B %7.2f ns", names[k],
				median(va, (size_t)m), median(vb, (size_t)m));
			if (k < 6)
				printf(" | over plain A %5.2f B %5.2f",
					median(oa, (size_t)m), median(ob, (size_t)m));
			printf(" | B-A %6.2f\n", median(d, (size_t)m));
		}
	}
	free(buf);
	return 0;
}
