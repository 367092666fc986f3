/* test_dsa_impl.c - the implementation with the DSA tests' hooks, compiled
 * once for the DSA tests that link it (meson lists them: those that set no
 * hook of their own and look inside only through test_dsa_util.h), with
 * that file's white-box helpers. */
#define TD_IMPL_EXPORTS
#include "test_dsa_util.h"
