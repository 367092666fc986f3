/* polling_impl.h - the body of bench/polling.c, built twice (polling_spin.c,
 * polling_nospin.c) as two private copies of the library (MINIASYNC_STATIC):
 * once as shipped and once with the workers' idle spinning compiled out
 * (MASYNC__THR_WORKER_SPINS 0, a private knob for this comparison). The
 * code uses the public API only. */
#define _POSIX_C_SOURCE 200809L
#define MINIASYNC_STATIC
#define MINIASYNC_IMPLEMENTATION
#include "miniasync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "polling.h"

struct poll_thread {
	struct vdm *vdm;
	unsigned rounds;
	unsigned char *src, *dst;
	atomic_int *go;
	int bad;
};

/* pmemstream's pattern: make a few futures, then poll each in order until
 * it completes, with a NULL notifier */
static int
POLL_NAME(_thread)(void *arg)
{
	struct poll_thread *t = (struct poll_thread *)arg;
	struct vdm_operation_future f[POLL_FUTURES];
	unsigned r, k;

	while (!atomic_load(t->go))
		thrd_yield();
	for (r = 0; r < t->rounds; r++) {
		for (k = 0; k < POLL_FUTURES; k++)
			f[k] = vdm_memcpy(t->vdm, t->dst + k * POLL_SIZE,
				t->src + (size_t)(r % 2) * POLL_FUTURES *
				POLL_SIZE + k * POLL_SIZE, POLL_SIZE, 0);
		for (k = 0; k < POLL_FUTURES; k++) {
			while (future_poll(FUTURE_AS_RUNNABLE(&f[k]), NULL) !=
					FUTURE_STATE_COMPLETE)
				;
			if (FUTURE_OUTPUT(&f[k])->result != VDM_SUCCESS)
				t->bad = 1;
		}
		if (memcmp(t->dst, t->src + (size_t)(r % 2) * POLL_FUTURES *
				POLL_SIZE, POLL_FUTURES * POLL_SIZE) != 0)
			t->bad = 1;
	}
	return 0;
}

double
POLL_NAME(_run)(unsigned nthreads, unsigned rounds,
	unsigned char *const *src, unsigned char *const *dst)
{
	struct data_mover_threads *dmt = data_mover_threads_default();
	struct poll_thread t[POLL_MAX_THREADS];
	thrd_t th[POLL_MAX_THREADS];
	atomic_int go;
	uint64_t t0;
	unsigned i;
	int bad = 0;

	if (dmt == NULL || nthreads > POLL_MAX_THREADS)
		return -1;
	atomic_init(&go, 0);
	for (i = 0; i < nthreads; i++) {
		t[i].vdm = data_mover_threads_get_vdm(dmt);
		t[i].rounds = rounds;
		t[i].src = src[i];
		t[i].dst = dst[i];
		t[i].go = &go;
		t[i].bad = 0;
		if (thrd_create(&th[i], POLL_NAME(_thread), &t[i]) !=
				thrd_success)
			return -1;
	}
	t0 = poll_now_ns();
	atomic_store(&go, 1);
	for (i = 0; i < nthreads; i++) {
		thrd_join(th[i], NULL);
		bad |= t[i].bad;
	}
	t0 = poll_now_ns() - t0;
	data_mover_threads_delete(dmt);
	return bad ? -1 : (double)t0 / 1e9;
}
