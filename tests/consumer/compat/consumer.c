/* A libminiasync program as it was written for the original library:
 * <libminiasync.h> and a sub-header, no MINIASYNC_IMPLEMENTATION, linked
 * with -lminiasync (found through pkg-config libminiasync). */
#include <libminiasync.h>
#include <libminiasync/data_mover_threads.h>
#include <string.h>

struct copy_twice_data {
	FUTURE_CHAIN_ENTRY(struct vdm_operation_future, first);
	FUTURE_CHAIN_ENTRY(struct vdm_operation_future, second);
};
struct copy_twice_output {
	void *dest;
};
FUTURE(copy_twice_fut, struct copy_twice_data, struct copy_twice_output);

static void
first_to_second(struct future_context *lhs, struct future_context *rhs,
	void *arg)
{
	struct vdm_operation_output *out = future_context_get_output(lhs);
	struct vdm_operation_data *next = future_context_get_data(rhs);

	(void)arg;
	next->operation.data.memcpy.src = out->output.memcpy.dest;
}

static void
second_to_chain(struct future_context *lhs, struct future_context *rhs,
	void *arg)
{
	struct vdm_operation_output *out = future_context_get_output(lhs);
	struct copy_twice_output *chain = future_context_get_output(rhs);

	(void)arg;
	chain->dest = out->output.memcpy.dest;
}

int
main(void)
{
	char a[32] = "through -lminiasync", b[32] = "", c[32] = "";
	struct runtime *r = runtime_new();
	struct data_mover_threads *dmt = data_mover_threads_default();
	struct vdm *vdm;
	struct copy_twice_fut fut;

	if (r == NULL || dmt == NULL) {
		fprintf(stderr, "runtime_new / data_mover_threads_default\n");
		return 1;
	}
	vdm = data_mover_threads_get_vdm(dmt);
	memset(&fut, 0, sizeof(fut));
	FUTURE_CHAIN_ENTRY_INIT(&fut.data.first,
		vdm_memcpy(vdm, b, a, sizeof(a), 0), first_to_second, NULL);
	/* the source is filled in by the map: read when the copy starts */
	FUTURE_CHAIN_ENTRY_INIT(&fut.data.second,
		vdm_memcpy(vdm, c, NULL, sizeof(a), 0), second_to_chain, NULL);
	FUTURE_CHAIN_INIT(&fut);
	runtime_wait(r, FUTURE_AS_RUNNABLE(&fut));
	printf("%s (%s)\n", (char *)FUTURE_OUTPUT(&fut)->dest, c);
	data_mover_threads_delete(dmt);
	runtime_delete(r);
	return FUTURE_OUTPUT(&fut)->dest == c && strcmp(c, a) == 0 ? 0 : 1;
}
