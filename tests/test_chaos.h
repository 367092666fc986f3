/* test_chaos.h - with MASYNC_TEST_CHAOS=seed in the environment (meson
 * test --setup chaos), the library's MASYNC__TEST_PREEMPT() points make
 * the thread there yield (4 times in 64) or sleep 1-200 us (once in 64),
 * as a loaded machine would preempt it between the two halves of a
 * hand-off. Include before miniasync.h (the test util headers do). Unset
 * or 0: the points cost one load of a cached flag. */
#ifndef TEST_CHAOS_H
#define TEST_CHAOS_H

/* C11 only: a test's own feature macros stay as they are */
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>
#include <time.h>

static void tc_preempt(void);
#define MASYNC__TEST_PREEMPT() tc_preempt()

static uint64_t
tc_seed_get(void)
{
	/* 0 not yet read, 1 off, else the seed (never 0 or 1) */
	static _Atomic uint64_t seed;
	uint64_t s = seed;

	if (s == 0) {
		const char *e = getenv("MASYNC_TEST_CHAOS");
		uint64_t v = e ? strtoull(e, NULL, 0) : 0;

		struct timespec now;

		/* mixed with the time: repeated runs differ */
		timespec_get(&now, TIME_UTC);
		s = v ? (v ^ ((uint64_t)now.tv_nsec << 20)) | 2 : 1;
		seed = s;
	}
	return s;
}

static void
tc_preempt(void)
{
	static _Thread_local uint64_t x;
	static _Atomic uint64_t threads;
	unsigned r;

	if (x == 0) {
		uint64_t s = tc_seed_get();

		if (s == 1)
			return;
		x = s * 0x9e3779b97f4a7c15ULL + ++threads;
		if (x == 0)
			x = 1;
	}
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	r = (unsigned)(x >> 40) % 64u;
	if (r == 0) {
		struct timespec ts = { 0, (long)(1000 + (x & 0xffff) * 3) };

		thrd_sleep(&ts, NULL);
	} else if (r <= 4) {
		thrd_yield();
	}
}

#endif
