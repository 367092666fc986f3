/* polling.h - shared by the parts of bench/polling.c */
#ifndef POLLING_H
#define POLLING_H

#include <stdint.h>
#include <time.h>

#define POLL_FUTURES 16       /* futures per round and thread */
#define POLL_SIZE 4096u       /* bytes per future */
#define POLL_MAX_THREADS 64

static inline uint64_t
poll_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* seconds for `rounds` rounds on `nthreads` threads, -1 on failure */
double polling_spin_run(unsigned nthreads, unsigned rounds,
	unsigned char *const *src, unsigned char *const *dst);
double polling_nospin_run(unsigned nthreads, unsigned rounds,
	unsigned char *const *src, unsigned char *const *dst);

#endif
