/* sync_ab_loops.c - the sync path's loops for bench/sync_ab.c, built once
 * per header under test with MINIASYNC_STATIC (two private copies of the
 * library in one program) and SYNC_AB_NAME(x) naming its functions; see
 * the top of sync_ab.c. Public API only. */
#define MINIASYNC_STATIC
#define MINIASYNC_IMPLEMENTATION
#include "miniasync.h"

#include <stdlib.h>
#include <time.h>

#define NAME(x) SYNC_AB_NAME(x)

static uint64_t
now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void
busy_poll(struct future *f)
{
	while (future_poll(f, NULL) != FUTURE_STATE_COMPLETE)
		;
}

struct chain2_data {
	FUTURE_CHAIN_ENTRY(struct vdm_operation_future, first);
	FUTURE_CHAIN_ENTRY(struct vdm_operation_future, second);
};

struct chain2_output {
	void *dest;
};

FUTURE(chain2_fut, struct chain2_data, struct chain2_output);

static void
chain2_map(struct future_context *lhs, struct future_context *rhs, void *arg)
{
	struct vdm_operation_output *o = (struct vdm_operation_output *)
		future_context_get_output(lhs);
	struct chain2_output *out = (struct chain2_output *)
		future_context_get_output(rhs);

	(void)arg;
	out->dest = o->output.memcpy.dest;
}

static struct vdm *vdm;
static struct runtime *rt;

double NAME(op)(int kind, unsigned char *a, unsigned char *b,
	unsigned char *c, size_t n, unsigned iters);

/* ns per operation: kind 0 memcpy, 1 memmove, 2 memset (n bytes, a -> b),
 * 3 two 64 B memcpy futures a -> b -> c, 4 the same as a chain, 5 a 64 B
 * memcpy through runtime_wait */
double
NAME(op)(int kind, unsigned char *a, unsigned char *b, unsigned char *c,
	size_t n, unsigned iters)
{
	uint64_t t0;
	unsigned i;

	if (vdm == NULL) {
		vdm = data_mover_sync_get_vdm(data_mover_sync_new());
		rt = runtime_new();
		if (vdm == NULL || rt == NULL)
			abort();
	}
	t0 = now_ns();
	for (i = 0; i < iters; i++) {
		struct vdm_operation_future f, g;
		struct chain2_fut ch;

		switch (kind) {
		case 0:
			f = vdm_memcpy(vdm, b, a, n, 0);
			busy_poll(&f.base);
			break;
		case 1:
			f = vdm_memmove(vdm, b, a, n, 0);
			busy_poll(&f.base);
			break;
		case 2:
			f = vdm_memset(vdm, b, 0x5a, n, 0);
			busy_poll(&f.base);
			break;
		case 3:
			f = vdm_memcpy(vdm, b, a, 64, 0);
			busy_poll(&f.base);
			g = vdm_memcpy(vdm, c, b, 64, 0);
			busy_poll(&g.base);
			if (g.output.result != VDM_SUCCESS)
				abort();
			break;
		case 4:
			FUTURE_CHAIN_ENTRY_INIT(&ch.data.first,
				vdm_memcpy(vdm, b, a, 64, 0), NULL, NULL);
			FUTURE_CHAIN_ENTRY_INIT(&ch.data.second,
				vdm_memcpy(vdm, c, b, 64, 0), chain2_map, NULL);
			FUTURE_CHAIN_INIT(&ch);
			busy_poll(&ch.base);
			if (ch.output.dest != c)
				abort();
			f.output.result = VDM_SUCCESS;
			break;
		default:
			f = vdm_memcpy(vdm, b, a, 64, 0);
			runtime_wait(rt, &f.base);
			break;
		}
		if (f.output.result != VDM_SUCCESS)
			abort();
	}
	return (double)(now_ns() - t0) / iters;
}
