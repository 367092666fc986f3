/* test_impl.c - the implementation compiled once for the tests that link
 * it (see test_impl.h; meson lists them) and for the compat programs, which
 * include only the declarations as libminiasync's users did. Built as the
 * threads tests are (MINIASYNC_VALGRIND where valgrind's headers are), with
 * the threads tests' helpers that need to see inside it. */
#define TT_IMPL_EXPORTS
#include "test_threads_util.h"
