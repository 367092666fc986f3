/* compile_c99_impl.c - the implementation for compile_c99.c, built as C11
 * (the declarations build as C99 with GNU extensions; the implementation
 * needs C11) */
#define MINIASYNC_IMPLEMENTATION
#include "miniasync.h"
