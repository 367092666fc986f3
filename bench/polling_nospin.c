/* bench/polling.c's pattern with the workers' idle spinning compiled out */
#define MASYNC__THR_WORKER_SPINS 0u
#define POLL_NAME(x) polling_nospin##x
#include "polling_impl.h"
