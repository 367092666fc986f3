/* The implementation for the compat tests (tests/compat_*.c): as
 * libminiasync's users linked the library, they link this translation
 * unit, each program including only the declarations. */
#define MINIASYNC_IMPLEMENTATION
#include "miniasync.h"
