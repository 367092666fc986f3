/* bench/polling.c's pattern on the threads mover as shipped */
#define POLL_NAME(x) polling_spin##x
#include "polling_impl.h"
