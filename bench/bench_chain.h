/* bench_chain.h - what the sync-path benchmarks (bench.c, sync_insns.c,
 * sync_ab_loops.c) poll and chain: busy polling with no notifier, and a
 * two-entry chain of 64 B copies a -> b -> c whose output is the last
 * destination. Public API only (bench.c also builds against the original
 * library); include it after the library's header. */
#ifndef BENCH_CHAIN_H
#define BENCH_CHAIN_H

static inline void
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

static inline void
chain2_map(struct future_context *lhs, struct future_context *rhs, void *arg)
{
	struct vdm_operation_output *o =
		(struct vdm_operation_output *)future_context_get_output(lhs);
	struct chain2_output *out =
		(struct chain2_output *)future_context_get_output(rhs);

	(void)arg;
	out->dest = o->output.memcpy.dest;
}

/* a -> b, then b -> c, 64 B each */
static inline void
chain2_init(struct chain2_fut *f, struct vdm *vdm, unsigned char *a,
	unsigned char *b, unsigned char *c)
{
	FUTURE_CHAIN_ENTRY_INIT(&f->data.first, vdm_memcpy(vdm, b, a, 64, 0),
		NULL, NULL);
	FUTURE_CHAIN_ENTRY_INIT(&f->data.second, vdm_memcpy(vdm, c, b, 64, 0),
		chain2_map, NULL);
	FUTURE_CHAIN_INIT(f);
}

#endif
