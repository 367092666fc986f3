/* test_runtime_nap.c - the runtime's nap sleeps for as long as asked.
 *
 * Built with _TIME_BITS=64 (and _FILE_OFFSET_BITS=64, which glibc needs
 * with it): on a 32-bit CPU that makes libc's struct timespec wider than
 * the one the futex system call reads, and a nap that passed libc's
 * struct returned at once (the kernel read a zero timeout), so runtime
 * waits spun instead of sleeping. On 64-bit CPUs the macros change
 * nothing and the test still checks the nap.
 * A nap of 40 ms, with nothing to wake it, must last at least 20 ms on the
 * monotonic clock in one of three tries (a futex may wake spuriously; a
 * coarse clock reads at most a tick short). A wake-up before the nap ends
 * it at once (gen moved on), in every try. */
#define _TIME_BITS 64
#define _FILE_OFFSET_BITS 64
#define MINIASYNC_IMPLEMENTATION
#include "miniasync.h"

#include <stdio.h>

static int failures;

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c)) {                                                    \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
				__LINE__, #c);                                 \
			failures++;                                            \
		}                                                              \
	} while (0)

int
main(void)
{
	struct runtime *rt = runtime_new();
	uint64_t longest = 0;
	int i;

	CHECK(rt != NULL);
	if (rt == NULL)
		return 1;
	for (i = 0; i < 3 && longest < 20000000u; i++) {
		uint64_t t0 = masync__now_ns(), t;

		masync__runtime_nap(rt, MASYNC__LOAD(&rt->gen, seq_cst),
			40000000u);
		t = masync__now_ns() - t0;
		if (t > longest)
			longest = t;
	}
	printf("time_t of %u bytes, long of %u: longest nap of 40 ms took "
		"%.1f ms\n", (unsigned)sizeof(time_t), (unsigned)sizeof(long),
		(double)longest / 1e6);
	CHECK(longest >= 20000000u);
	for (i = 0; i < 3; i++) {
		uint32_t gen = MASYNC__LOAD(&rt->gen, seq_cst);
		uint64_t t0 = masync__now_ns();

		masync__runtime_wake(rt); /* gen moves on: no sleep */
		masync__runtime_nap(rt, gen, (uint64_t)3600 * 1000000000u);
		/* (a hang guard, not a timing: a missed wake sleeps an hour,
		 * which the test's timeout ends; a slow machine stays far
		 * below the minute) */
		CHECK(masync__now_ns() - t0 < (uint64_t)60 * 1000000000u);
	}
	runtime_delete(rt);
	if (failures == 0)
		printf("test_runtime_nap ok\n");
	return failures != 0;
}
