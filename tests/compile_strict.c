/* compile_strict.c - the whole header (declarations + implementation) in
 * one C translation unit under strict warnings (-Werror, see
 * tests/meson.build: C11 and C17, gcc or clang). With STRICT_NO_DSA the DSA
 * mover is left out (for the -Wconversion build). The program runs a small
 * chain on the sync mover so the build is also exercised; exits 0 / 1.
 * Built with MINIASYNC_NO_THREADS too, also with MINIASYNC_STATIC. */
#ifdef STRICT_NO_DSA
#undef MINIASYNC_DSA
#endif
#define MINIASYNC_IMPLEMENTATION
#include "miniasync.h"

#include <stdio.h>
#include <string.h>

struct add_data {
	int a, b;
};

struct add_output {
	int sum;
};

FUTURE(add_future, struct add_data, struct add_output);

static enum future_state
add_task(struct future_context *ctx, struct future_notifier *n)
{
	struct add_data *d = (struct add_data *)future_context_get_data(ctx);
	struct add_output *o = (struct add_output *)future_context_get_output(ctx);

	(void)n;
	o->sum = d->a + d->b;
	return FUTURE_STATE_COMPLETE;
}

struct chain_data {
	FUTURE_CHAIN_ENTRY(struct vdm_operation_future, copy);
	FUTURE_CHAIN_ENTRY_LAST(struct add_future, add);
	int extra;
};

FUTURE(chain_future, struct chain_data, struct add_output);

static void
copy_to_add(struct future_context *lhs, struct future_context *rhs, void *arg)
{
	struct vdm_operation_output *o =
		(struct vdm_operation_output *)future_context_get_output(lhs);
	struct add_data *d = (struct add_data *)future_context_get_data(rhs);

	(void)arg;
	if (o->result != VDM_SUCCESS) {
		d->a = d->b = -1000; /* the sum says it failed */
		return;
	}
	d->a = ((const unsigned char *)o->output.memcpy.dest)[0];
	d->b = ((const unsigned char *)o->output.memcpy.dest)[1];
}

/* durable where the CPU movers can be (not in the portable builds: the
 * header's MASYNC__TEST_GENERIC stands for a CPU it has no write-back for) */
#ifdef MASYNC__WB
#define COPY_FLAGS VDM_F_MEM_DURABLE
#define HAVE_WB 1
#else
#define COPY_FLAGS VDM_F_NO_CACHE_HINT
#define HAVE_WB 0
#endif

static void
add_to_chain(struct future_context *lhs, struct future_context *rhs, void *arg)
{
	(void)arg;
	((struct add_output *)future_context_get_output(rhs))->sum =
		((struct add_output *)future_context_get_output(lhs))->sum;
}

int
main(void)
{
	unsigned char src[2] = {40, 2}, dst[2] = {0, 0};
	struct data_mover_sync *dms = data_mover_sync_new();
	struct runtime *rt = runtime_new();
	struct chain_future c;
	struct add_future af;
	int ok;

	if (dms == NULL || rt == NULL)
		return 1;
	memset(&af, 0, sizeof(af));
	FUTURE_INIT(&af, add_task);
	FUTURE_CHAIN_ENTRY_INIT(&c.data.copy,
		vdm_memcpy(data_mover_sync_get_vdm(dms), dst, src, sizeof(src),
			COPY_FLAGS), copy_to_add, NULL);
	FUTURE_CHAIN_ENTRY_INIT(&c.data.add, af, add_to_chain, NULL);
	c.data.extra = 7;
	FUTURE_CHAIN_INIT(&c);
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&c));
	ok = FUTURE_OUTPUT(&c)->sum == 42 && c.data.extra == 7 &&
		vdm_is_supported(data_mover_sync_get_vdm(dms),
			VDM_F_VALID_FLAGS) == HAVE_WB;
	{
		/* vdm_cancel names the threads mover's private functions:
		 * they must exist without it too (MINIASYNC_NO_THREADS) */
		struct vdm_operation_future f = vdm_memset(
			data_mover_sync_get_vdm(dms), dst, 0, sizeof(dst), 0);

		ok = ok && vdm_cancel(&f) == 0 && dst[0] == 40;
	}
	printf("%s strict build: %s\n",
#if __STDC_VERSION__ >= 201710L
		"C17",
#else
		"C11",
#endif
		ok ? "ok" : "FAIL");
	runtime_delete(rt);
	data_mover_sync_delete(dms);
	return ok ? 0 : 1;
}
