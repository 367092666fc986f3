/* basic.c - an async "print" future chained after a memcpy future.
 *
 * The same program as libminiasync's basic example: each chain copies a
 * buffer on the threads mover, then a second future prints the copy. The
 * map function hands the memcpy's destination to the print future. */
#define MINIASYNC_IMPLEMENTATION
#include "miniasync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct async_print_data {
	void *value;
};

struct async_print_output {
	uintptr_t unused; /* C forbids empty structs */
};

FUTURE(async_print_fut, struct async_print_data, struct async_print_output);

static enum future_state
async_print_impl(struct future_context *ctx, struct future_notifier *notifier)
{
	struct async_print_data *data = future_context_get_data(ctx);

	(void)notifier;
	printf("async print: %s\n", (const char *)data->value);
	return FUTURE_STATE_COMPLETE;
}

static struct async_print_fut
async_print(void *value)
{
	struct async_print_fut future;

	FUTURE_INIT(&future, async_print_impl);
	future.data.value = value;
	return future;
}

struct async_memcpy_print_data {
	FUTURE_CHAIN_ENTRY(struct vdm_operation_future, memcpy);
	FUTURE_CHAIN_ENTRY(struct async_print_fut, print);
};

struct async_memcpy_print_output {
	uintptr_t unused;
};

FUTURE(async_memcpy_print_fut, struct async_memcpy_print_data,
	struct async_memcpy_print_output);

/* Runs when the memcpy completes: print what was copied. */
static void
memcpy_to_print_map(struct future_context *lhs, struct future_context *rhs,
	void *arg)
{
	struct vdm_operation_output *output = future_context_get_output(lhs);
	struct async_print_data *print = future_context_get_data(rhs);

	(void)arg;
	print->value = output->output.memcpy.dest;
}

static struct async_memcpy_print_fut
async_memcpy_print(struct vdm *vdm, void *dest, void *src, size_t n)
{
	struct async_memcpy_print_fut chain;

	FUTURE_CHAIN_ENTRY_INIT(&chain.data.memcpy,
		vdm_memcpy(vdm, dest, src, n, 0), memcpy_to_print_map, NULL);
	FUTURE_CHAIN_ENTRY_INIT(&chain.data.print, async_print(NULL), NULL,
		NULL);
	FUTURE_CHAIN_INIT(&chain);
	return chain;
}

int
main(void)
{
	char buf_a[] = "testbuf", buf_b[] = "otherbuf";
	char copy_a[sizeof(buf_a)], copy_b[sizeof(buf_b)];
	struct runtime *r = runtime_new();
	struct data_mover_threads *dmt = data_mover_threads_default();

	if (r == NULL || dmt == NULL) {
		fprintf(stderr, "basic: cannot start: %s\n", strerror(errno));
		return 1;
	}
	struct vdm *vdm = data_mover_threads_get_vdm(dmt);
	struct async_memcpy_print_fut a1 =
		async_memcpy_print(vdm, copy_a, buf_a, sizeof(buf_a));
	struct async_memcpy_print_fut a2 =
		async_memcpy_print(vdm, copy_b, buf_b, sizeof(buf_b));
	struct future *futs[] = {FUTURE_AS_RUNNABLE(&a1),
		FUTURE_AS_RUNNABLE(&a2)};

	runtime_wait_multiple(r, futs, 2);

	int ok = strcmp(copy_a, buf_a) == 0 && strcmp(copy_b, buf_b) == 0;
	printf("%s\n", ok ? "both copies match" : "COPY MISMATCH");
	data_mover_threads_delete(dmt);
	runtime_delete(r);
	return ok ? 0 : 1;
}
