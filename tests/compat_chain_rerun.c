/* A chain that runs earlier entries again, as libminiasync's hashmap
 * example does: its last entry's task clears
 * FUTURE_CHAIN_FLAG_ENTRY_PROCESSED on earlier entries, sets their state
 * and returns RUNNING; the chain's next poll runs them again. */
#include "miniasync.h"
#include "compat_util.h"

static int attempts, resource_ready_at = 3;

/* tries to take a resource: output.ok once attempts reach the limit */
struct try_data {
	int unused;
};
struct try_output {
	int ok;
};
FUTURE(try_fut, struct try_data, struct try_output);

static enum future_state
try_impl(struct future_context *ctx, struct future_notifier *notifier)
{
	struct try_output *o = future_context_get_output(ctx);

	(void)notifier;
	o->ok = ++attempts >= resource_ready_at;
	return FUTURE_STATE_COMPLETE;
}

/* runs the listed entries again (those that are not NULL) */
struct rerun_data {
	struct future_chain_entry **entries;
	size_t n_entries;
};
struct rerun_output {
	int reruns;
};
FUTURE(rerun_fut, struct rerun_data, struct rerun_output);

static enum future_state
rerun_impl(struct future_context *ctx, struct future_notifier *notifier)
{
	struct rerun_data *d = future_context_get_data(ctx);
	struct rerun_output *o = future_context_get_output(ctx);
	int again = 0;
	size_t i;

	(void)notifier;
	for (i = 0; i < d->n_entries; i++) {
		struct future_chain_entry *e = d->entries[i];

		if (e != NULL) {
			e->flags &= ~FUTURE_CHAIN_FLAG_ENTRY_PROCESSED;
			e->future.context.state = FUTURE_STATE_RUNNING;
			again = 1;
		}
	}
	if (again) {
		o->reruns++;
		return FUTURE_STATE_RUNNING;
	}
	return FUTURE_STATE_COMPLETE;
}

struct job_data {
	FUTURE_CHAIN_ENTRY(struct try_fut, try_take);
	FUTURE_CHAIN_ENTRY(struct rerun_fut, rerun);
	FUTURE_CHAIN_ENTRY_LAST(struct vdm_operation_future, copy);
	struct future_chain_entry *again[1];
	char *dst;
};
struct job_output {
	int reruns;
};
FUTURE(job_fut, struct job_data, struct job_output);

/* not taken yet: have the rerun entry run try_take again */
static void
try_to_rerun(struct future_context *lhs, struct future_context *rhs,
	void *arg)
{
	struct job_fut *job = arg;
	struct try_output *t = future_context_get_output(lhs);

	(void)rhs;
	job->data.again[0] = t->ok ? NULL :
		(struct future_chain_entry *)&job->data.try_take;
}

/* taken: the copy's destination is filled in now */
static void
rerun_to_copy(struct future_context *lhs, struct future_context *rhs,
	void *arg)
{
	struct job_fut *job = arg;
	struct vdm_operation_data *copy = future_context_get_data(rhs);

	((struct job_output *)future_context_get_output(&job->base.context))
		->reruns = ((struct rerun_output *)
		future_context_get_output(lhs))->reruns;
	copy->operation.data.memcpy.dest = job->data.dst;
}

int
main(void)
{
	struct data_mover_sync *dms = data_mover_sync_new();
	struct vdm *vdm = data_mover_sync_get_vdm(dms);
	char src[8] = "hello", dst[8] = "";
	struct job_fut job;
	struct try_fut t = {0};
	struct rerun_fut r = {0};

	CHECK(dms != NULL);
	memset(&job, 0, sizeof(job));
	job.data.dst = dst;
	FUTURE_INIT(&t, try_impl);
	r.data.entries = job.data.again;
	r.data.n_entries = 1;
	FUTURE_INIT(&r, rerun_impl);
	FUTURE_CHAIN_ENTRY_INIT(&job.data.try_take, t, try_to_rerun, &job);
	FUTURE_CHAIN_ENTRY_INIT(&job.data.rerun, r, rerun_to_copy, &job);
	/* the copy's destination is filled in by the map before it */
	FUTURE_CHAIN_ENTRY_INIT(&job.data.copy,
		vdm_memcpy(vdm, NULL, src, 6, 0), NULL, NULL);
	FUTURE_CHAIN_INIT(&job);
	FUTURE_BUSY_POLL(&job);
	CHECK(attempts == resource_ready_at);
	CHECK(FUTURE_OUTPUT(&job)->reruns == resource_ready_at - 1);
	CHECK(strcmp(dst, "hello") == 0);
	CHECK(FUTURE_OUTPUT(&job.data.copy.fut)->result == VDM_SUCCESS);
	data_mover_sync_delete(dms);
	if (compat_failures == 0)
		printf("compat_chain_rerun ok\n");
	return compat_failures != 0;
}
