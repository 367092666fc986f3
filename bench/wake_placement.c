/* wake_placement.c - where Linux puts a thread woken by a busy thread.
 *
 * Plain libc, no miniasync. A helper sleeps on a condition variable; the
 * main thread, on one CPU (it moves to CPU 0 or 1 in turn, by a brief
 * affinity change), wakes it and stays busy until the helper reports the
 * CPU it woke on. Counts, by whether the helper went to sleep on the main
 * thread's CPU, how often it woke beside it. The threads mover's
 * masync__thr_pick (wake the worker that slept on another CPU) rests on
 * what this shows. Needs 2 CPUs; argument: rounds (400).
 *
 * Run: build/bench/wake_placement */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static int go, asleep, prev_cpu;
static atomic_int woke_cpu = -1;

static unsigned long long
now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (unsigned long long)t.tv_sec * 1000000000ull +
		(unsigned long long)t.tv_nsec;
}

static void *
helper(void *a)
{
	(void)a;
	for (;;) {
		unsigned long long t;

		pthread_mutex_lock(&m);
		prev_cpu = sched_getcpu();
		asleep = 1;
		while (!go)
			pthread_cond_wait(&c, &m);
		go = 0;
		asleep = 0;
		pthread_mutex_unlock(&m);
		atomic_store(&woke_cpu, sched_getcpu());
		t = now();
		while (now() - t < 100000)
			; /* 100 us of work */
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 400, cnt[2][2] = {{0, 0}, {0, 0}};
	pthread_t t;
	int i;

	pthread_create(&t, NULL, helper, NULL);
	for (i = 0; i < n; i++) {
		struct timespec ts = {0, 300000};
		unsigned long long t0;
		cpu_set_t s;
		int me, pc, z, a;

		do {
			struct timespec nap = {0, 200000};

			nanosleep(&nap, NULL);
			pthread_mutex_lock(&m);
			a = asleep;
			pthread_mutex_unlock(&m);
		} while (!a);
		nanosleep(&ts, NULL);
		CPU_ZERO(&s);
		CPU_SET((i / 2) % 2, &s);
		sched_setaffinity(0, sizeof(s), &s);
		CPU_SET(0, &s);
		CPU_SET(1, &s);
		sched_setaffinity(0, sizeof(s), &s);
		me = sched_getcpu();
		atomic_store(&woke_cpu, -1);
		pthread_mutex_lock(&m);
		pc = prev_cpu;
		go = 1;
		pthread_cond_signal(&c);
		pthread_mutex_unlock(&m);
		t0 = now();
		while (atomic_load(&woke_cpu) < 0 && now() - t0 < 20000000)
			; /* busy, as a caller copying its share */
		z = atomic_load(&woke_cpu);
		if (z < 0 || sched_getcpu() != me)
			continue; /* the main thread moved: not counted */
		cnt[pc == me][z == me]++;
	}
	printf("slept on another CPU:      woke beside the waker %3d, elsewhere %3d\n",
		cnt[0][1], cnt[0][0]);
	printf("slept on the waker's CPU:  woke beside the waker %3d, elsewhere %3d\n",
		cnt[1][1], cnt[1][0]);
	return 0;
}
