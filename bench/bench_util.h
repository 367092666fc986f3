/* bench_util.h - timing and statistics shared by the benchmark programs
 * (plain libc: bench.c also builds against the original library). */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline uint64_t
bench_clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t
now_ns(void)
{
	return bench_clock_ns(CLOCK_MONOTONIC);
}

/* CPU time of the calling thread */
static inline uint64_t
bench_cpu_ns(void)
{
	return bench_clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

/* one line of output: `name value unit ratio what` */
static inline void
bench_line(const char *name, double value, const char *unit, double ratio,
	const char *what)
{
	printf("%-34s %12.3f %-8s %8.3f %s\n", name, value, unit, ratio, what);
	fflush(stdout);
}

/* "64", "4K", "2M" */
static inline const char *
bench_size_name(size_t n, char *buf, size_t len)
{
	if (n >= ((size_t)1 << 20))
		snprintf(buf, len, "%zuM", n >> 20);
	else if (n >= 1024)
		snprintf(buf, len, "%zuK", n >> 10);
	else
		snprintf(buf, len, "%zu", n);
	return buf;
}

static inline int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* sorts v */
static inline double
median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* n bytes on whole pages (aligned_alloc wants a multiple of the
 * alignment); NULL when out of memory */
static inline void *
page_alloc(size_t n)
{
	return aligned_alloc(4096, (n + 4095) & ~(size_t)4095);
}

#endif
