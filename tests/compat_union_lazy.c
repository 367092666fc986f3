/* A lazily initialised chain entry whose future type is a union of
 * futures, as libpmem2's is: FUTURE_CHAIN_ENTRY_LAZY_INIT must not touch
 * it (left as garbage until its init picks a member), and while it is the
 * current entry the chain reports the property of the future its init
 * builds. */
#include "miniasync.h"
#include "compat_util.h"

struct nop_data {
	uint64_t polls;
};
struct nop_output {
	uint64_t unused;
};
FUTURE(nop_fut, struct nop_data, struct nop_output);

static enum future_state
nop_impl(struct future_context *ctx, struct future_notifier *notifier)
{
	struct nop_data *d = future_context_get_data(ctx);

	(void)notifier;
	d->polls++;
	return FUTURE_STATE_COMPLETE;
}

union op_fut {
	struct vdm_operation_future copy;
	struct nop_fut nop;
};

struct job_data {
	FUTURE_CHAIN_ENTRY(struct nop_fut, first);
	FUTURE_CHAIN_ENTRY_LAST(union op_fut, op);
	struct vdm *vdm;
	char *src, *dst;
	int use_copy;
	int inits;
};
struct job_output {
	int done;
};
FUTURE(job_fut, struct job_data, struct job_output);

static void
op_init(void *future, struct future_context *chain_ctx, void *arg)
{
	union op_fut *u = future;
	struct job_data *d = future_context_get_data(chain_ctx);

	(void)arg;
	d->inits++;
	if (d->use_copy) {
		u->copy = vdm_memcpy(d->vdm, d->dst, d->src, 4, 0);
	} else {
		u->nop.data.polls = 0;
		FUTURE_INIT(&u->nop, nop_impl);
	}
}

static void
op_done(struct future_context *lhs, struct future_context *rhs, void *arg)
{
	(void)lhs;
	(void)arg;
	((struct job_output *)future_context_get_output(rhs))->done = 1;
}

int
main(void)
{
	struct data_mover_threads *dmt = data_mover_threads_default();
	struct runtime *r = runtime_new();
	char src[4] = "abc", dst[4] = "";
	int use_copy;

	if (dmt == NULL || r == NULL)
		return 1;
	for (use_copy = 0; use_copy < 2; use_copy++) {
		struct job_fut job;
		struct nop_fut first = {0};

		memset(&job, 0x5A, sizeof(job)); /* not zeroed, like the heap */
		job.data.vdm = data_mover_threads_get_vdm(dmt);
		job.data.src = src;
		job.data.dst = dst;
		job.data.use_copy = use_copy;
		job.data.inits = 0;
		job.output.done = 0;
		FUTURE_INIT(&first, nop_impl);
		FUTURE_CHAIN_ENTRY_INIT(&job.data.first, first, NULL, NULL);
		FUTURE_CHAIN_ENTRY_LAZY_INIT(&job.data.op, op_init, NULL,
			op_done, NULL);
		FUTURE_CHAIN_INIT(&job);
		CHECK(compat_all(&job.data.op.fut, 0x5A,
			sizeof(job.data.op.fut)));
		CHECK(!FUTURE_CHAIN_ENTRY_IS_INITIALIZED(&job.data.op));
		CHECK(FUTURE_CHAIN_ENTRY_IS_LAST(&job.data.op));
		/* the first entry is the current one: not async */
		CHECK(future_has_property(FUTURE_AS_RUNNABLE(&job),
			FUTURE_PROPERTY_ASYNC) == 0);
		CHECK(job.data.inits == 0);
		/* past it, the lazy entry is current: built to answer */
		job.data.first.flags |= FUTURE_CHAIN_FLAG_ENTRY_PROCESSED;
		CHECK(future_has_property(FUTURE_AS_RUNNABLE(&job),
			FUTURE_PROPERTY_ASYNC) == use_copy);
		CHECK(job.data.inits == 1);
		CHECK(FUTURE_CHAIN_ENTRY_IS_INITIALIZED(&job.data.op));
		runtime_wait(r, FUTURE_AS_RUNNABLE(&job));
		CHECK(job.data.inits == 1);
		CHECK(job.output.done == 1);
		if (use_copy) {
			CHECK(job.data.op.fut.copy.output.result ==
				VDM_SUCCESS);
			CHECK(strcmp(dst, "abc") == 0);
		} else {
			CHECK(job.data.op.fut.nop.data.polls == 1);
		}
	}
	data_mover_threads_delete(dmt);
	runtime_delete(r);
	if (compat_failures == 0)
		printf("compat_union_lazy ok\n");
	return compat_failures != 0;
}
