/* sync_ab_loops.c - the sync path's loops for bench/sync_ab.c, built once
 * per header under test with MINIASYNC_STATIC (two private copies of the
 * library in one program) and SYNC_AB_NAME(x) naming its functions; see
 * the top of sync_ab.c. Public API only. */
#define MINIASYNC_STATIC
#define MINIASYNC_IMPLEMENTATION
#include "miniasync.h"

#include "bench_chain.h"
#include "bench_util.h"

#define NAME(x) SYNC_AB_NAME(x)

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
			chain2_init(&ch, vdm, a, b, c);
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
