/* test_alloc_util.h - a counting MINIASYNC_MALLOC that fails its k-th call
 * and every one after it (af_mark(k); 0: none), and counts what is not
 * freed (n_live); af_proc_count counts open files and threads. Include
 * before the library. */
#ifndef TEST_ALLOC_UTIL_H
#define TEST_ALLOC_UTIL_H

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static atomic_long n_calls;   /* MINIASYNC_MALLOC calls since the mark */
static atomic_long fail_from; /* the call that fails first (0: none) */
static atomic_long n_live;    /* allocations not freed */

static void *
af_malloc(size_t n)
{
	long k = atomic_fetch_add(&n_calls, 1) + 1;
	long f = atomic_load(&fail_from);
	void *p;

	if (f != 0 && k >= f)
		return NULL;
	p = malloc(n);
	if (p != NULL)
		atomic_fetch_add(&n_live, 1);
	return p;
}

static void
af_free(void *p)
{
	if (p != NULL)
		atomic_fetch_sub(&n_live, 1);
	free(p);
}

/* fail every call from the k-th on (k = 0: none) */
static void
af_mark(long k)
{
	atomic_store(&fail_from, 0);
	atomic_store(&n_calls, 0);
	atomic_store(&fail_from, k);
}

/* entries of a /proc/self directory ("fd": open files, "task": threads),
 * -1 when it cannot be read; counted before and after an attempt */
#include <dirent.h>
static long
af_proc_count(const char *what)
{
	char path[64];
	DIR *d;
	long n = 0;

	snprintf(path, sizeof(path), "/proc/self/%s", what);
	d = opendir(path);
	if (d == NULL)
		return -1;
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

/* The threads of the process once they are `want` (30 s at most, else
 * what they are then): a joined thread may stay listed for a moment after
 * its join returned (the kernel wakes the joiner as the thread exits,
 * before it is reaped). One that runs on is never reaped. */
static long
af_threads_settle(long want)
{
	long n;
	int i;
	const char *qemu = getenv("MASYNC_TEST_QEMU");

	/* meson sets it when the tests run in qemu-user (cross builds) */
	if (qemu != NULL && strcmp(qemu, "1") == 0) {
		static int said;

		if (!said++)
			printf("  threads joined, counted: not tested: "
				"qemu-user lists threads of its own in "
				"/proc/self/task\n");
		return want;
	}
	n = af_proc_count("task");

	for (i = 0; i < 30000 && n != want; i++) {
		struct timespec ts = {0, 1000000};

		nanosleep(&ts, NULL);
		n = af_proc_count("task");
	}
	return n;
}

#define MINIASYNC_MALLOC(sz) af_malloc(sz)
#define MINIASYNC_FREE(p) af_free(p)

#endif
