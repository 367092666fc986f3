/* test_core_util.h - the check harness shared by the core tests: CHECK
 * records a failure and goes on; run_group prints one line per group. */
#ifndef TEST_CORE_UTIL_H
#define TEST_CORE_UTIL_H

#include <stdio.h>

static int failures;

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "  %s:%d: check failed: %s\n",         \
				__FILE__, __LINE__, #cond);                    \
			failures++;                                            \
		}                                                              \
	} while (0)

static void
run_group(const char *name, void (*fn)(void))
{
	int before = failures;

	fn();
	printf("%s %s\n", failures == before ? "ok  " : "FAIL", name);
	fflush(stdout);
}

#endif
