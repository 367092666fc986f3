/* test_impl.h - the implementation for a test that sets no hook of its own.
 * Built by meson with TEST_IMPL_LINKED, the test links tests/test_impl.c,
 * which compiles it once for all such tests (each full compile of the
 * header costs seconds, and CI builds every test in eleven
 * configurations); built alone, the test emits it here. Either way with
 * the chaos points of test_chaos.h. Include it where the test would
 * include miniasync.h. */
#ifndef TEST_IMPL_H
#define TEST_IMPL_H

#ifndef TEST_IMPL_LINKED
#define MINIASYNC_IMPLEMENTATION
#include "test_chaos.h" /* MASYNC__TEST_PREEMPT */
#endif
#include "miniasync.h"

#endif
