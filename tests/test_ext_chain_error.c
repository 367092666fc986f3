/* test_ext_chain_error.c - error-aware chains (FUTURE_CHAIN_INIT_STOP_ON_
 * ERROR, future_chain_result). With a user-written mover that fails on
 * demand (asynchronously, after a few polls): the chain stops at the failed
 * entry with its result, earlier entries' work and maps are done, later
 * entries are neither initialised nor run (those made already are given
 * up: cancelled, their mover capacity back), the failed entry's map is not
 * called; a plain chain runs everything as libminiasync did. Nesting: an
 * error-aware chain that stopped stops an error-aware outer chain, not a
 * plain one; a plain inner chain never stops an outer one. On every
 * built-in mover: an entry born failed (invalid flags) and an entry
 * cancelled with vdm_cancel stop the chain; a chain that succeeds reports
 * VDM_SUCCESS. Several chains at once on a runtime, with deadlines. */
#define _GNU_SOURCE
#include "test_impl.h"
#include "test_ext_util.h"

#define N 4096

static unsigned char src[N], a[N], b[N], c[N];

/* ---- a chain of three copies; the third is lazily initialised -------- */
struct ch3_data {
	FUTURE_CHAIN_ENTRY(struct vdm_operation_future, e1);
	FUTURE_CHAIN_ENTRY(struct vdm_operation_future, e2);
	FUTURE_CHAIN_ENTRY_LAST(struct vdm_operation_future, e3);
	struct vdm *vdm3;
};

struct ch3_output {
	unsigned maps; /* bit i: map of entry i+1 ran */
	void *last_dest;
};

FUTURE(ch3_future, struct ch3_data, struct ch3_output);

static void
map_bit(struct future_context *lhs, struct future_context *rhs, void *arg)
{
	(void)lhs;
	(void)rhs;
	((struct ch3_output *)((void **)arg)[0])->maps |=
		(unsigned)(uintptr_t)((void **)arg)[1];
}

static void
map_last(struct future_context *lhs, struct future_context *rhs, void *arg)
{
	struct ch3_output *o = (struct ch3_output *)
		future_context_get_output(rhs);
	struct vdm_operation_output *out = (struct vdm_operation_output *)
		future_context_get_output(lhs);

	(void)arg;
	o->maps |= 4u;
	o->last_dest = out->output.memcpy.dest;
}

static void
init_e3(void *future, struct future_context *chain, void *arg)
{
	struct ch3_data *d = (struct ch3_data *)future_context_get_data(chain);

	(void)arg;
	*(struct vdm_operation_future *)future =
		vdm_memcpy(d->vdm3, c, src, N, 0);
}

static void *map_args[2][2];

/* e1: a <- src, e2: b <- src (or what the caller gives), e3 (lazy):
 * c <- src. The chain must stay where it is (the maps point at it). */
static void
ch3_make(struct ch3_future *ch, struct vdm *vdm,
	struct vdm_operation_future e2, int stop)
{
	memset(ch, 0, sizeof(*ch));
	ch->data.vdm3 = vdm;
	map_args[0][0] = &ch->output;
	map_args[0][1] = (void *)(uintptr_t)1u;
	map_args[1][0] = &ch->output;
	map_args[1][1] = (void *)(uintptr_t)2u;
	FUTURE_CHAIN_ENTRY_INIT(&ch->data.e1, vdm_memcpy(vdm, a, src, N, 0),
		map_bit, map_args[0]);
	FUTURE_CHAIN_ENTRY_INIT(&ch->data.e2, e2, map_bit, map_args[1]);
	FUTURE_CHAIN_ENTRY_LAZY_INIT(&ch->data.e3, init_e3, NULL, map_last,
		NULL);
	if (stop)
		FUTURE_CHAIN_INIT_STOP_ON_ERROR(ch);
	else
		FUTURE_CHAIN_INIT(ch);
}

/* an entry an error-aware chain skipped after a failed one: given up as
 * vdm_cancel does (its mover state released, nothing written) */
static void
expect_given_up(struct vdm_operation_future *f)
{
	CHECK(f->base.context.state == FUTURE_STATE_COMPLETE);
	CHECK(f->output.result == VDM_ERROR_CANCELLED);
	CHECK(f->data.data == NULL);
	CHECK(vdm_cancel(f) == EALREADY);
}

static void
clear(void)
{
	memset(a, 0, N);
	memset(b, 0, N);
	memset(c, 0, N);
}

/* the fake mover fails the copy into b */
static void
fake_stop(void)
{
	struct te_fake fk;
	struct runtime *r = runtime_new();
	struct ch3_future ch;

	CHECK(r != NULL);
	te_fake_init(&fk, 3); /* each operation takes three polls */
	fk.fail_dest = b;
	fk.fail_result = VDM_ERROR_JOB_CORRUPTED;
	te_fill(src, N, 1);

	/* error-aware: stops at e2 */
	clear();
	ch3_make(&ch, &fk.vdm, vdm_memcpy(&fk.vdm, b, src, N, 0), 1);
	CHECK(future_chain_result(FUTURE_AS_RUNNABLE(&ch)) == VDM_SUCCESS);
	runtime_wait(r, FUTURE_AS_RUNNABLE(&ch));
	CHECK(ch.base.context.state == FUTURE_STATE_COMPLETE);
	CHECK(future_chain_result(FUTURE_AS_RUNNABLE(&ch)) ==
		VDM_ERROR_JOB_CORRUPTED);
	CHECK(ch.data.e2.fut.output.result == VDM_ERROR_JOB_CORRUPTED);
	CHECK(ch.output.maps == 1u); /* e1's map only */
	CHECK(!FUTURE_CHAIN_ENTRY_IS_INITIALIZED(&ch.data.e3));
	CHECK(memcmp(a, src, N) == 0);
	CHECK(te_all(b, 0, N));
	CHECK(te_all(c, 0, N));
	CHECK(atomic_load(&fk.live) == 0); /* e3 was never created */
	CHECK(atomic_load(&fk.created) == 2);

	/* plain chain: runs everything, as in libminiasync */
	clear();
	ch3_make(&ch, &fk.vdm, vdm_memcpy(&fk.vdm, b, src, N, 0), 0);
	runtime_wait(r, FUTURE_AS_RUNNABLE(&ch));
	CHECK(future_chain_result(FUTURE_AS_RUNNABLE(&ch)) == VDM_SUCCESS);
	CHECK(ch.data.e2.fut.output.result == VDM_ERROR_JOB_CORRUPTED);
	CHECK(ch.data.e3.fut.output.result == VDM_SUCCESS);
	CHECK(ch.output.maps == 7u);
	CHECK(ch.output.last_dest == c);
	CHECK(memcmp(a, src, N) == 0);
	CHECK(te_all(b, 0, N));
	CHECK(memcmp(c, src, N) == 0);

	/* error-aware and all good: runs to the end */
	clear();
	ch3_make(&ch, &fk.vdm, vdm_memset(&fk.vdm, a, 0, 1, 0), 1);
	runtime_wait(r, FUTURE_AS_RUNNABLE(&ch));
	CHECK(future_chain_result(FUTURE_AS_RUNNABLE(&ch)) == VDM_SUCCESS);
	CHECK(ch.output.maps == 7u);
	CHECK(memcmp(c, src, N) == 0);

	/* the first entry fails: nothing else runs */
	clear();
	fk.fail_dest = a;
	fk.fail_result = VDM_ERROR_BUSY;
	ch3_make(&ch, &fk.vdm, vdm_memcpy(&fk.vdm, b, src, N, 0), 1);
	runtime_wait(r, FUTURE_AS_RUNNABLE(&ch));
	CHECK(future_chain_result(FUTURE_AS_RUNNABLE(&ch)) == VDM_ERROR_BUSY);
	CHECK(ch.output.maps == 0u);
	/* the chain gave up the second entry it skipped: no leak */
	expect_given_up(&ch.data.e2.fut);
	CHECK(atomic_load(&fk.live) == 0);
	CHECK(te_all(a, 0, N) && te_all(b, 0, N) && te_all(c, 0, N));
	runtime_delete(r);
}

/* ---- nesting ------------------------------------------------------------ */
struct inner_data {
	FUTURE_CHAIN_ENTRY(struct vdm_operation_future, x);
	FUTURE_CHAIN_ENTRY_LAST(struct vdm_operation_future, y);
};

struct inner_output {
	int unused;
};

FUTURE(inner_future, struct inner_data, struct inner_output);

struct outer_data {
	FUTURE_CHAIN_ENTRY(struct inner_future, in);
	FUTURE_CHAIN_ENTRY_LAST(struct vdm_operation_future, z);
};

struct outer_output {
	int unused;
};

FUTURE(outer_future, struct outer_data, struct outer_output);

static void
nest_case(struct te_fake *fk, int inner_stop, int outer_stop,
	int expect_z, enum vdm_operation_result outer_res)
{
	struct runtime *r = runtime_new();
	struct inner_future in;
	struct outer_future out;

	CHECK(r != NULL);
	clear();
	memset(&in, 0, sizeof(in));
	memset(&out, 0, sizeof(out));
	/* x: a <- src, y: b <- src (fails), z: c <- src */
	FUTURE_CHAIN_ENTRY_INIT(&in.data.x, vdm_memcpy(&fk->vdm, a, src, N, 0),
		NULL, NULL);
	FUTURE_CHAIN_ENTRY_INIT(&in.data.y, vdm_memcpy(&fk->vdm, b, src, N, 0),
		NULL, NULL);
	if (inner_stop)
		FUTURE_CHAIN_INIT_STOP_ON_ERROR(&in);
	else
		FUTURE_CHAIN_INIT(&in);
	FUTURE_CHAIN_ENTRY_INIT(&out.data.in, in, NULL, NULL);
	FUTURE_CHAIN_ENTRY_INIT(&out.data.z, vdm_memcpy(&fk->vdm, c, src, N, 0),
		NULL, NULL);
	if (outer_stop)
		FUTURE_CHAIN_INIT_STOP_ON_ERROR(&out);
	else
		FUTURE_CHAIN_INIT(&out);
	CHECK(runtime_wait_for(r, FUTURE_AS_RUNNABLE(&out),
		10000 * TE_MS * te_slow()) == 0);
	CHECK(future_chain_result(FUTURE_AS_RUNNABLE(&out)) == outer_res);
	CHECK(future_chain_result(FUTURE_AS_RUNNABLE(&out.data.in.fut)) ==
		(inner_stop ? VDM_ERROR_JOB_CORRUPTED : VDM_SUCCESS));
	CHECK(memcmp(a, src, N) == 0);
	CHECK(te_all(b, 0, N));
	if (expect_z) {
		CHECK(out.data.z.fut.output.result == VDM_SUCCESS);
		CHECK(memcmp(c, src, N) == 0);
	} else {
		CHECK(te_all(c, 0, N));
		expect_given_up(&out.data.z.fut);
	}
	CHECK(atomic_load(&fk->live) == 0);
	runtime_delete(r);
}

/* Entries after the failed one hold a threads mover's capacity (2 in
 * flight) until the chain gives them up, also those of a nested
 * error-aware chain:
 * chain after chain stops and the mover never runs out. */
struct gu_data {
	FUTURE_CHAIN_ENTRY(struct vdm_operation_future, first);
	FUTURE_CHAIN_ENTRY(struct inner_future, in);
	FUTURE_CHAIN_ENTRY_LAST(struct vdm_operation_future, z);
};

FUTURE(gu_future, struct gu_data, struct inner_output);

static void
given_up_capacity(void)
{
	struct data_mover_sync *dms = data_mover_sync_new();
	struct data_mover_threads *dmt = data_mover_threads_new(1, 2,
		FUTURE_NOTIFIER_WAKER);
	struct vdm *sv, *tv;
	int k;

	CHECK(dms != NULL && dmt != NULL);
	sv = data_mover_sync_get_vdm(dms);
	tv = data_mover_threads_get_vdm(dmt);
	for (k = 0; k < 8; k++) {
		struct inner_future in;
		struct gu_future ch;

		clear();
		memset(&in, 0, sizeof(in));
		memset(&ch, 0, sizeof(ch));
		FUTURE_CHAIN_ENTRY_INIT(&in.data.x, vdm_memcpy(tv, a, src, N,
			0), NULL, NULL);
		FUTURE_CHAIN_ENTRY_INIT(&in.data.y, vdm_memcpy(tv, b, src, N,
			0), NULL, NULL);
		CHECK(in.data.x.fut.base.context.state == FUTURE_STATE_IDLE);
		CHECK(in.data.y.fut.base.context.state == FUTURE_STATE_IDLE);
		FUTURE_CHAIN_INIT_STOP_ON_ERROR(&in);
		/* fails at its first poll: a NULL source */
		FUTURE_CHAIN_ENTRY_INIT(&ch.data.first, vdm_memcpy(sv, c, NULL,
			N, 0), NULL, NULL);
		FUTURE_CHAIN_ENTRY_INIT(&ch.data.in, in, NULL, NULL);
		/* the mover is full: born failed, nothing to give up */
		FUTURE_CHAIN_ENTRY_INIT(&ch.data.z, vdm_memcpy(tv, c, src, N,
			0), NULL, NULL);
		CHECK(ch.data.z.fut.output.result == VDM_ERROR_OUT_OF_MEMORY);
		FUTURE_CHAIN_INIT_STOP_ON_ERROR(&ch);
		FUTURE_BUSY_POLL(&ch);
		CHECK(future_chain_result(FUTURE_AS_RUNNABLE(&ch)) ==
			VDM_ERROR_INVALID_ARGUMENT);
		expect_given_up(&ch.data.in.fut.data.x.fut);
		expect_given_up(&ch.data.in.fut.data.y.fut);
		CHECK(ch.data.in.fut.base.context.state == FUTURE_STATE_IDLE);
		CHECK(ch.data.z.fut.output.result == VDM_ERROR_OUT_OF_MEMORY);
		CHECK(te_all(a, 0, N) && te_all(b, 0, N) && te_all(c, 0, N));
	}
	data_mover_threads_delete(dmt);
	data_mover_sync_delete(dms);
}

static void
nesting(void)
{
	struct te_fake fk;

	te_fake_init(&fk, 2);
	fk.fail_dest = b;
	fk.fail_result = VDM_ERROR_JOB_CORRUPTED;
	te_fill(src, N, 2);
	/* inner stops, outer error-aware: outer stops with inner's result */
	nest_case(&fk, 1, 1, 0, VDM_ERROR_JOB_CORRUPTED);
	/* inner stops, outer plain: outer goes on */
	nest_case(&fk, 1, 0, 1, VDM_SUCCESS);
	/* inner plain (no result of its own), outer error-aware: goes on */
	nest_case(&fk, 0, 1, 1, VDM_SUCCESS);
	/* both plain */
	nest_case(&fk, 0, 0, 1, VDM_SUCCESS);
}

/* ---- every built-in mover ------------------------------------------------ */
static void
movers(struct te_mover *m)
{
	struct runtime *r = runtime_new();
	struct ch3_future ch[3];
	struct future *futs[3];
	struct vdm_operation_future bad, e2;
	int i;

	CHECK(r != NULL);
	te_fill(src, N, 3);

	/* fails at its first poll: invalid flags */
	clear();
	bad = vdm_memcpy(m->vdm, b, src, N, 0x40);
	CHECK(bad.base.context.state == FUTURE_STATE_IDLE);
	ch3_make(&ch[0], m->vdm, bad, 1);
	runtime_wait(r, FUTURE_AS_RUNNABLE(&ch[0]));
	CHECK(future_chain_result(FUTURE_AS_RUNNABLE(&ch[0])) ==
		VDM_ERROR_INVALID_ARGUMENT);
	CHECK(ch[0].output.maps == 1u);
	CHECK(!FUTURE_CHAIN_ENTRY_IS_INITIALIZED(&ch[0].data.e3));
	CHECK(memcmp(a, src, N) == 0);
	CHECK(te_all(b, 0, N) && te_all(c, 0, N));

	/* cancelled entry */
	clear();
	e2 = vdm_memcpy(m->vdm, b, src, N, 0);
	ch3_make(&ch[0], m->vdm, e2, 1);
	CHECK(vdm_cancel(&ch[0].data.e2.fut) == 0);
	runtime_wait(r, FUTURE_AS_RUNNABLE(&ch[0]));
	CHECK(future_chain_result(FUTURE_AS_RUNNABLE(&ch[0])) ==
		VDM_ERROR_CANCELLED);
	CHECK(ch[0].output.maps == 1u);
	CHECK(memcmp(a, src, N) == 0);
	CHECK(te_all(b, 0, N) && te_all(c, 0, N));

	/* success, and the same with a plain chain over the failure */
	clear();
	ch3_make(&ch[0], m->vdm, vdm_memcpy(m->vdm, b, src, N, 0), 1);
	runtime_wait(r, FUTURE_AS_RUNNABLE(&ch[0]));
	CHECK(future_chain_result(FUTURE_AS_RUNNABLE(&ch[0])) == VDM_SUCCESS);
	CHECK(ch[0].output.maps == 7u);
	CHECK(ch[0].output.last_dest == c);
	CHECK(memcmp(a, src, N) == 0 && memcmp(b, src, N) == 0 &&
		memcmp(c, src, N) == 0);
	clear();
	ch3_make(&ch[0], m->vdm, vdm_memcpy(m->vdm, b, src, N, 0x40), 0);
	runtime_wait(r, FUTURE_AS_RUNNABLE(&ch[0]));
	CHECK(future_chain_result(FUTURE_AS_RUNNABLE(&ch[0])) == VDM_SUCCESS);
	CHECK(ch[0].output.maps == 7u);
	CHECK(memcmp(c, src, N) == 0);
	CHECK(te_all(b, 0, N));

	/* three chains at once (each writes its own buffers: only the first
	 * uses a/b/c; the others copy within src-sized scratch) */
	{
		static unsigned char x[2][3][N];
		int k;

		clear();
		memset(x, 0, sizeof(x));
		for (i = 0; i < 3; i++) {
			memset(&ch[i], 0, sizeof(ch[i]));
			futs[i] = FUTURE_AS_RUNNABLE(&ch[i]);
		}
		ch3_make(&ch[0], m->vdm, vdm_memcpy(m->vdm, b, src, N, 0), 1);
		for (k = 0; k < 2; k++) {
			struct ch3_future *p = &ch[k + 1];

			p->data.vdm3 = m->vdm;
			FUTURE_CHAIN_ENTRY_INIT(&p->data.e1, vdm_memcpy(m->vdm,
				x[k][0], src, N, 0), NULL, NULL);
			/* the second chain's middle entry fails */
			FUTURE_CHAIN_ENTRY_INIT(&p->data.e2, vdm_memcpy(m->vdm,
				x[k][1], src, N, k == 0 ? 0x40u : 0u), NULL,
				NULL);
			FUTURE_CHAIN_ENTRY_INIT(&p->data.e3, vdm_memcpy(m->vdm,
				x[k][2], src, N, 0), NULL, NULL);
			FUTURE_CHAIN_INIT_STOP_ON_ERROR(p);
		}
		CHECK(runtime_wait_multiple_for(r, futs, 3,
			10000 * TE_MS * te_slow()) == 0);
		CHECK(future_chain_result(futs[0]) == VDM_SUCCESS);
		CHECK(future_chain_result(futs[1]) ==
			VDM_ERROR_INVALID_ARGUMENT);
		CHECK(future_chain_result(futs[2]) == VDM_SUCCESS);
		CHECK(memcmp(c, src, N) == 0);
		CHECK(memcmp(x[0][0], src, N) == 0);
		CHECK(te_all(x[0][1], 0, N) && te_all(x[0][2], 0, N));
		/* its third entry, created eagerly, was given up */
		expect_given_up(&ch[1].data.e3.fut);
		for (i = 0; i < 3; i++)
			CHECK(memcmp(x[1][i], src, N) == 0);
	}
	runtime_delete(r);
}

/* An error-aware chain after it stopped has no property and builds
 * nothing (a lazy entry after the failed one stays unbuilt); run again
 * (entries' PROCESSED cleared, futures and state reset), its result is
 * the entry that failed this time. */
struct rerun_data {
	FUTURE_CHAIN_ENTRY(struct vdm_operation_future, a);
	FUTURE_CHAIN_ENTRY_LAST(struct vdm_operation_future, b);
};
struct rerun_output {
	int unused;
};
FUTURE(rerun_fut, struct rerun_data, struct rerun_output);

static int lazy_inits;
static struct vdm *lazy_vdm;
static unsigned char rsrc[64], rdst[64];

static void
init_b(void *fut, struct future_context *ctx, void *arg)
{
	(void)ctx;
	(void)arg;
	lazy_inits++;
	*(struct vdm_operation_future *)fut = vdm_memcpy(lazy_vdm, rdst,
		rsrc, 8, 0);
}

static void
rerun(void)
{
	struct data_mover_sync *dms = data_mover_sync_new();
	struct vdm *v = data_mover_sync_get_vdm(dms);
	const uint64_t bad = (uint64_t)1 << 7; /* not a valid flag */
	struct rerun_fut ch;

	CHECK(dms != NULL);
	lazy_vdm = v;
	FUTURE_CHAIN_ENTRY_INIT(&ch.data.a, vdm_memcpy(v, rdst, rsrc, 8, bad),
		NULL, NULL);
	FUTURE_CHAIN_ENTRY_LAZY_INIT(&ch.data.b, init_b, NULL, NULL, NULL);
	FUTURE_CHAIN_INIT_STOP_ON_ERROR(&ch);
	FUTURE_BUSY_POLL(&ch);
	CHECK(future_chain_result(&ch.base) == VDM_ERROR_INVALID_ARGUMENT);
	CHECK(!future_has_property(FUTURE_AS_RUNNABLE(&ch),
		FUTURE_PROPERTY_ASYNC));
	CHECK(lazy_inits == 0);
	/* run again: a succeeds, b fails */
	ch.data.a.fut = vdm_memcpy(v, rdst, rsrc, 8, 0);
	ch.data.a.flags &= ~FUTURE_CHAIN_FLAG_ENTRY_PROCESSED;
	FUTURE_CHAIN_ENTRY_INIT(&ch.data.b, vdm_memcpy(v, rdst, NULL, 8, 0),
		NULL, NULL);
	ch.base.context.state = FUTURE_STATE_IDLE;
	FUTURE_BUSY_POLL(&ch);
	CHECK(FUTURE_OUTPUT(&ch.data.a.fut)->result == VDM_SUCCESS);
	CHECK(FUTURE_OUTPUT(&ch.data.b.fut)->result ==
		VDM_ERROR_INVALID_ARGUMENT);
	CHECK(future_chain_result(&ch.base) == VDM_ERROR_INVALID_ARGUMENT);
	/* and again, both succeed */
	ch.data.a.fut = vdm_memcpy(v, rdst, rsrc, 8, 0);
	ch.data.a.flags &= ~FUTURE_CHAIN_FLAG_ENTRY_PROCESSED;
	FUTURE_CHAIN_ENTRY_INIT(&ch.data.b, vdm_memcpy(v, rdst, rsrc, 8, 0),
		NULL, NULL);
	ch.base.context.state = FUTURE_STATE_IDLE;
	FUTURE_BUSY_POLL(&ch);
	CHECK(future_chain_result(&ch.base) == VDM_SUCCESS);
	data_mover_sync_delete(dms);
}

int
main(void)
{
	struct te_mover m[TE_MAX_MOVERS];
	size_t n = te_movers(m), i;

	te_log("a stopped chain: no property, nothing built; run again\n");
	rerun();

	errno = 0; /* a NULL chain: an error result, no crash */
	CHECK(future_chain_result(NULL) == VDM_ERROR_INVALID_ARGUMENT);
	CHECK(errno == EINVAL);
	te_log("user-written mover failing on demand\n");
	fake_stop();
	te_log("nested chains\n");
	nesting();
	te_log("skipped entries give the mover's capacity back\n");
	given_up_capacity();
	for (i = 0; i < n; i++) {
		te_log("%s: failed and cancelled entries\n", m[i].name);
		movers(&m[i]);
	}
	te_movers_delete(m, n);
	te_log("ok\n");
	return 0;
}
