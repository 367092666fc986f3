/* The strdup idiom of libminiasync's documentation: a chain whose first
 * future allocates the buffer and whose second is a vdm_memcpy created
 * with a NULL destination that the first entry's map fills in. The copy's
 * arguments are read when it starts, so this works; once with the memcpy
 * entry initialised eagerly, once lazily (its init runs before the map,
 * so the destination the map writes is kept). Both movers. */
#include "miniasync.h"
#include <stdlib.h>
#include "compat_util.h"

struct alloc_data {
	size_t n;
};
struct alloc_output {
	void *ptr;
};
FUTURE(alloc_fut, struct alloc_data, struct alloc_output);

static enum future_state
alloc_impl(struct future_context *ctx, struct future_notifier *notifier)
{
	struct alloc_data *data = future_context_get_data(ctx);
	struct alloc_output *output = future_context_get_output(ctx);

	(void)notifier;
	output->ptr = malloc(data->n);
	return FUTURE_STATE_COMPLETE;
}

static struct alloc_fut
async_alloc(size_t n)
{
	struct alloc_fut fut = {0};

	fut.data.n = n;
	FUTURE_INIT(&fut, alloc_impl);
	return fut;
}

struct strdup_data {
	FUTURE_CHAIN_ENTRY(struct alloc_fut, alloc);
	FUTURE_CHAIN_ENTRY(struct vdm_operation_future, copy);
	size_t length;
	struct vdm *vdm;
	char *src;
};
struct strdup_output {
	char *dup;
	size_t length;
};
FUTURE(strdup_fut, struct strdup_data, struct strdup_output);

static void
alloc_to_copy(struct future_context *lhs, struct future_context *rhs,
	void *arg)
{
	struct alloc_output *a = future_context_get_output(lhs);
	struct vdm_operation_data *copy = future_context_get_data(rhs);

	(void)arg;
	copy->operation.data.memcpy.dest = a->ptr;
}

static void
copy_to_output(struct future_context *lhs, struct future_context *rhs,
	void *arg)
{
	struct vdm_operation_output *copy = future_context_get_output(lhs);
	struct strdup_output *out = future_context_get_output(rhs);
	struct strdup_data *data = future_context_get_data(rhs);

	(void)arg;
	out->dup = copy->output.memcpy.dest;
	out->length = data->length;
}

static int lazy_inits;

static void
copy_init(void *future, struct future_context *chain_ctx, void *arg)
{
	struct vdm_operation_future *fut = future;
	struct strdup_data *data = future_context_get_data(chain_ctx);

	(void)arg;
	lazy_inits++;
	*fut = vdm_memcpy(data->vdm, NULL, data->src, data->length, 0);
}

static struct strdup_fut
async_strdup(struct vdm *vdm, char *s, int lazy)
{
	struct strdup_fut fut = {0};

	fut.data.length = strlen(s) + 1;
	fut.data.vdm = vdm;
	fut.data.src = s;
	FUTURE_CHAIN_ENTRY_INIT(&fut.data.alloc,
		async_alloc(fut.data.length), alloc_to_copy, NULL);
	if (lazy)
		FUTURE_CHAIN_ENTRY_LAZY_INIT(&fut.data.copy, copy_init, NULL,
			copy_to_output, NULL);
	else
		FUTURE_CHAIN_ENTRY_INIT(&fut.data.copy,
			vdm_memcpy(vdm, NULL, s, fut.data.length, 0),
			copy_to_output, NULL);
	FUTURE_CHAIN_INIT(&fut);
	return fut;
}

static void
run(struct vdm *vdm, struct runtime *r)
{
	char hello[] = "Hello, the strdup example of libminiasync";
	int lazy;

	for (lazy = 0; lazy < 2; lazy++) {
		struct strdup_fut fut = async_strdup(vdm, hello, lazy);
		int before = lazy_inits;

		CHECK(FUTURE_CHAIN_ENTRY_IS_INITIALIZED(&fut.data.copy) ==
			!lazy);
		runtime_wait(r, FUTURE_AS_RUNNABLE(&fut));
		CHECK(lazy_inits == before + lazy);
		CHECK(FUTURE_OUTPUT(&fut.data.copy.fut)->result ==
			VDM_SUCCESS);
		CHECK(FUTURE_OUTPUT(&fut)->dup != NULL);
		CHECK(FUTURE_OUTPUT(&fut)->length == sizeof(hello));
		if (FUTURE_OUTPUT(&fut)->dup != NULL)
			CHECK(strcmp(FUTURE_OUTPUT(&fut)->dup, hello) == 0);
		free(FUTURE_OUTPUT(&fut)->dup);
	}
}

int
main(void)
{
	struct runtime *r = runtime_new();
	struct data_mover_sync *dms = data_mover_sync_new();
	struct data_mover_threads *dmt = data_mover_threads_default();

	if (r == NULL || dms == NULL || dmt == NULL) {
		fprintf(stderr, "setup failed\n");
		return 1;
	}
	run(data_mover_sync_get_vdm(dms), r);
	run(data_mover_threads_get_vdm(dmt), r);
	data_mover_threads_delete(dmt);
	data_mover_sync_delete(dms);
	runtime_delete(r);
	if (compat_failures == 0)
		printf("compat_strdup ok\n");
	return compat_failures != 0;
}
