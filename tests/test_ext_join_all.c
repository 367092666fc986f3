/* test_ext_join_all.c - future_join_all on every mover: children of every
 * operation type plus a gate opened from another thread, a join-all inside
 * a chain (with a lazily initialised entry after it), join-alls of such
 * chains, FUTURE_PROPERTY_ASYNC, how the caller's notifier is reported
 * (WAKER / POLLER / NONE), NULL-notifier polls dropping wakers, deadlines
 * and wait-any over join-alls, empty and born-complete children. */
#define _GNU_SOURCE
#include "test_impl.h"
#include "test_ext_util.h"

#define N (16 * 1024)

static unsigned char src[N], a[N], b[N], c[N], fin[N];

static atomic_uint wakes;

static void
count_wake(void *data)
{
	(void)data;
	atomic_fetch_add(&wakes, 1);
}

static struct future_notifier
counting_notifier(void)
{
	struct future_notifier n;

	memset(&n, 0, sizeof(n));
	n.waker.wake = count_wake;
	n.waker.data = &wakes;
	return n;
}

/* four operations and a gate */
static void
basic(struct te_mover *m)
{
	struct runtime *r = runtime_new();
	struct vdm_operation_future f[4];
	struct te_gate g;
	struct te_gate_future gf;
	struct future *kids[5];
	struct future_join_all_future j;
	struct te_opener op;
	int i;

	CHECK(r != NULL);
	te_gate_init(&g);
	gf = te_gate_future(&g);
	te_fill(src, N, 1);
	memset(a, 0, N);
	memset(b, 0, N);
	memset(c, 0, N);
	f[0] = vdm_memcpy(m->vdm, a, src, N, 0);
	f[1] = vdm_memmove(m->vdm, b, src, N, 0);
	f[2] = vdm_memset(m->vdm, c, 0x42, N, 0);
	f[3] = vdm_flush(m->vdm, a, N, 0);
	kids[0] = FUTURE_AS_RUNNABLE(&gf);
	for (i = 0; i < 4; i++)
		kids[i + 1] = FUTURE_AS_RUNNABLE(&f[i]);
	j = future_join_all(kids, 5);
	CHECK(j.base.context.state == FUTURE_STATE_IDLE);
	CHECK(j.output.ncomplete == 0);
	CHECK(future_has_property(FUTURE_AS_RUNNABLE(&j),
		FUTURE_PROPERTY_ASYNC) == (m->kind != TE_SYNC));
	te_open_later(&op, &g, 20);
	runtime_wait(r, FUTURE_AS_RUNNABLE(&j));
	te_opener_join(&op);
	CHECK(j.base.context.state == FUTURE_STATE_COMPLETE);
	CHECK(j.output.ncomplete == 5);
	CHECK(gf.output.opened == 1);
	for (i = 0; i < 4; i++) {
		CHECK(f[i].base.context.state == FUTURE_STATE_COMPLETE);
		CHECK(f[i].output.result ==
			(i == 3 ? te_flush_result(m) : VDM_SUCCESS));
	}
	CHECK(memcmp(a, src, N) == 0);
	CHECK(memcmp(b, src, N) == 0);
	CHECK(te_all(c, 0x42, N));
	CHECK(!future_has_property(FUTURE_AS_RUNNABLE(&j),
		FUTURE_PROPERTY_ASYNC));
	te_gate_fini(&g);
	runtime_delete(r);
}

/* ---- a join-all inside a chain ------------------------------------------
 * entry 1: join-all of three operations; entry 2 (lazy): copy a -> fin,
 * initialised from what entry 1 left; the last map reports to the chain. */
struct jchain_data {
	FUTURE_CHAIN_ENTRY(struct future_join_all_future, join);
	FUTURE_CHAIN_ENTRY_LAST(struct vdm_operation_future, copy);
	struct vdm *vdm;
	unsigned char *from, *to;
};

struct jchain_output {
	size_t joined;
	void *dest;
	unsigned maps;
};

FUTURE(jchain_future, struct jchain_data, struct jchain_output);

static void
jchain_init_copy(void *future, struct future_context *chain, void *arg)
{
	struct jchain_data *d = (struct jchain_data *)
		future_context_get_data(chain);
	struct jchain_output *o = (struct jchain_output *)
		future_context_get_output(chain);

	(void)arg;
	CHECK(d->join.fut.base.context.state == FUTURE_STATE_COMPLETE);
	o->joined = d->join.fut.output.ncomplete;
	*(struct vdm_operation_future *)future =
		vdm_memcpy(d->vdm, d->to, d->from, N, 0);
}

static void
jchain_map_join(struct future_context *lhs, struct future_context *rhs,
	void *arg)
{
	(void)lhs;
	(void)rhs;
	((struct jchain_output *)arg)->maps++;
}

static void
jchain_map_copy(struct future_context *lhs, struct future_context *rhs,
	void *arg)
{
	struct vdm_operation_output *out = (struct vdm_operation_output *)
		future_context_get_output(lhs);
	struct jchain_output *o = (struct jchain_output *)
		future_context_get_output(rhs);

	(void)arg;
	o->dest = out->output.memcpy.dest;
	o->maps++;
}

static void
jchain_make(struct jchain_future *ch, struct vdm *vdm, struct future **kids,
	size_t nkids, unsigned char *from, unsigned char *to)
{
	memset(ch, 0, sizeof(*ch));
	ch->data.vdm = vdm;
	ch->data.from = from;
	ch->data.to = to;
	/* the map's argument must be the chain's final address: patched by
	 * the caller when the chain moves; here it stays put */
	FUTURE_CHAIN_ENTRY_INIT(&ch->data.join, future_join_all(kids, nkids),
		jchain_map_join, &ch->output);
	FUTURE_CHAIN_ENTRY_LAZY_INIT(&ch->data.copy, jchain_init_copy, NULL,
		jchain_map_copy, NULL);
	FUTURE_CHAIN_INIT(ch);
}

static void
in_chain(struct te_mover *m)
{
	struct runtime *r = runtime_new();
	struct vdm_operation_future f[3], g[2];
	struct future *kids[3], *kids2[2], *outer_kids[2];
	struct jchain_future ch[2];
	struct future_join_all_future outer;
	static unsigned char fin2[N];
	int i;

	CHECK(r != NULL);
	te_fill(src, N, 7);
	memset(a, 0, N);
	memset(b, 0, N);
	memset(c, 0, N);
	memset(fin, 0, N);
	f[0] = vdm_memcpy(m->vdm, a, src, N, 0);
	f[1] = vdm_memset(m->vdm, b, 0x11, N, 0);
	f[2] = vdm_memmove(m->vdm, c, src, N, 0);
	for (i = 0; i < 3; i++)
		kids[i] = FUTURE_AS_RUNNABLE(&f[i]);
	jchain_make(&ch[0], m->vdm, kids, 3, a, fin);
	runtime_wait(r, FUTURE_AS_RUNNABLE(&ch[0]));
	CHECK(ch[0].base.context.state == FUTURE_STATE_COMPLETE);
	CHECK(ch[0].output.joined == 3);
	CHECK(ch[0].output.maps == 2);
	CHECK(ch[0].output.dest == fin);
	CHECK(ch[0].data.copy.fut.output.result == VDM_SUCCESS);
	CHECK(memcmp(fin, src, N) == 0);
	CHECK(te_all(b, 0x11, N));
	CHECK(memcmp(c, src, N) == 0);

	/* a join-all of two such chains (join-alls nested in join-all) */
	memset(a, 0, N);
	memset(b, 0, N);
	memset(fin, 0, N);
	memset(fin2, 0, N);
	f[0] = vdm_memcpy(m->vdm, a, src, N, 0);
	f[1] = vdm_memset(m->vdm, c, 0x22, N, 0);
	kids[0] = FUTURE_AS_RUNNABLE(&f[0]);
	kids[1] = FUTURE_AS_RUNNABLE(&f[1]);
	g[0] = vdm_memmove(m->vdm, b, src, N, 0);
	g[1] = vdm_flush(m->vdm, b, N, 0);
	kids2[0] = FUTURE_AS_RUNNABLE(&g[0]);
	kids2[1] = FUTURE_AS_RUNNABLE(&g[1]);
	jchain_make(&ch[0], m->vdm, kids, 2, a, fin);
	jchain_make(&ch[1], m->vdm, kids2, 2, b, fin2);
	outer_kids[0] = FUTURE_AS_RUNNABLE(&ch[0]);
	outer_kids[1] = FUTURE_AS_RUNNABLE(&ch[1]);
	outer = future_join_all(outer_kids, 2);
	CHECK(runtime_wait_for(r, FUTURE_AS_RUNNABLE(&outer),
		10000 * TE_MS * te_slow()) == 0);
	CHECK(outer.output.ncomplete == 2);
	for (i = 0; i < 2; i++) {
		CHECK(ch[i].output.joined == 2);
		CHECK(ch[i].output.maps == 2);
	}
	CHECK(memcmp(fin, src, N) == 0);
	CHECK(memcmp(fin2, src, N) == 0);
	CHECK(te_all(c, 0x22, N));
	runtime_delete(r);
}

/* empty, born complete, failed children, deadlines and wait-any */
static void
edges(struct te_mover *m)
{
	struct runtime *r = runtime_new();
	struct future_join_all_future j, j2;
	struct vdm_operation_future f[2];
	struct future *kids[2], *top[2], *kid2[1];
	struct te_gate g;
	struct te_gate_future gf;
	struct future_notifier nt = counting_notifier();

	CHECK(r != NULL);
	j = future_join_all(NULL, 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&j), &nt) ==
		FUTURE_STATE_COMPLETE);
	CHECK(j.output.ncomplete == 0);
	CHECK(!future_has_property(FUTURE_AS_RUNNABLE(&j),
		FUTURE_PROPERTY_ASYNC));

	/* a failed child is complete like any other */
	memset(a, 0, N);
	f[0] = vdm_memcpy(m->vdm, a, NULL, N, 0); /* bad source */
	FUTURE_BUSY_POLL(&f[0]);
	CHECK(f[0].base.context.state == FUTURE_STATE_COMPLETE);
	CHECK(f[0].output.result == VDM_ERROR_INVALID_ARGUMENT);
	f[1] = vdm_memset(m->vdm, b, 0x99, N, 0);
	kids[0] = FUTURE_AS_RUNNABLE(&f[0]);
	kids[1] = FUTURE_AS_RUNNABLE(&f[1]);
	j = future_join_all(kids, 2);
	runtime_wait(r, FUTURE_AS_RUNNABLE(&j));
	CHECK(j.output.ncomplete == 2);
	CHECK(te_all(a, 0, N));
	CHECK(te_all(b, 0x99, N));

	/* a deadline over a join-all that cannot finish: the gate's waker is
	 * dropped through the join-all */
	te_gate_init(&g);
	gf = te_gate_future(&g);
	memset(c, 0, N);
	f[0] = vdm_memset(m->vdm, c, 0x5c, N, 0);
	kids[0] = FUTURE_AS_RUNNABLE(&gf);
	kids[1] = FUTURE_AS_RUNNABLE(&f[0]);
	j = future_join_all(kids, 2);
	CHECK(runtime_wait_for(r, FUTURE_AS_RUNNABLE(&j), 30 * TE_MS) ==
		ETIMEDOUT);
	CHECK(j.base.context.state == FUTURE_STATE_RUNNING);
	CHECK(!te_gate_registered(&g));
	/* wait-any: a join-all that cannot finish vs. one that can */
	memset(a, 0, N);
	f[1] = vdm_memcpy(m->vdm, a, src, N, 0);
	kid2[0] = FUTURE_AS_RUNNABLE(&f[1]);
	j2 = future_join_all(kid2, 1);
	top[0] = FUTURE_AS_RUNNABLE(&j);
	top[1] = FUTURE_AS_RUNNABLE(&j2);
	CHECK(runtime_wait_any(r, top, 2) == 1);
	CHECK(memcmp(a, src, N) == 0);
	CHECK(j.base.context.state == FUTURE_STATE_RUNNING);
	CHECK(!te_gate_registered(&g));
	te_gate_open(&g);
	runtime_wait(r, top[0]);
	CHECK(j.output.ncomplete == 2);
	CHECK(te_all(c, 0x5c, N));
	te_gate_fini(&g);
	runtime_delete(r);
}

/* which notifier a join-all reports */
static void
notifiers(void)
{
	struct te_gate g[2];
	struct te_gate_future gf[2];
	struct future *kids[2];
	struct future_join_all_future j;
	struct future_notifier nt;
	struct data_mover_threads *dp = te_slow_mover(1, 4, 100,
		FUTURE_NOTIFIER_POLLER);
	struct data_mover_threads *dn = data_mover_threads_new(1, 4,
		FUTURE_NOTIFIER_NONE);
	struct vdm_operation_future f;
	struct runtime *r = runtime_new();
	int i;

	CHECK(dn != NULL && r != NULL);
	for (i = 0; i < 2; i++) {
		te_gate_init(&g[i]);
		gf[i] = te_gate_future(&g[i]);
		kids[i] = FUTURE_AS_RUNNABLE(&gf[i]);
	}
	/* every pending child took the waker: WAKER */
	atomic_store(&wakes, 0);
	j = future_join_all(kids, 2);
	nt = counting_notifier();
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&j), &nt) ==
		FUTURE_STATE_RUNNING);
	CHECK(nt.notifier_used == FUTURE_NOTIFIER_WAKER);
	CHECK(te_gate_registered(&g[0]) && te_gate_registered(&g[1]));
	te_gate_open(&g[0]);
	CHECK(atomic_load(&wakes) == 1);
	nt = counting_notifier();
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&j), &nt) ==
		FUTURE_STATE_RUNNING);
	CHECK(nt.notifier_used == FUTURE_NOTIFIER_WAKER);
	CHECK(j.output.ncomplete == 1);
	/* a NULL notifier is passed on: the child drops the waker */
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&j), NULL) ==
		FUTURE_STATE_RUNNING);
	CHECK(!te_gate_registered(&g[1]));
	te_gate_open(&g[1]);
	CHECK(atomic_load(&wakes) == 1);
	nt = counting_notifier();
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&j), &nt) ==
		FUTURE_STATE_COMPLETE);
	CHECK(j.output.ncomplete == 2);

	/* one pending child with a poller: POLLER, its word */
	te_fill(src, N, 3);
	memset(a, 0, N);
	f = vdm_memcpy(data_mover_threads_get_vdm(dp), a, src, N, 0);
	kids[0] = FUTURE_AS_RUNNABLE(&f);
	j = future_join_all(kids, 1);
	CHECK(future_has_property(FUTURE_AS_RUNNABLE(&j),
		FUTURE_PROPERTY_ASYNC));
	nt = counting_notifier();
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&j), &nt) ==
		FUTURE_STATE_RUNNING);
	CHECK(nt.notifier_used == FUTURE_NOTIFIER_POLLER);
	CHECK(nt.poller.ptr_to_monitor != NULL);
	/* a poller child and a waker child: NONE (poll again yourself) */
	te_gate_init(&g[0]);
	gf[0] = te_gate_future(&g[0]);
	kids[1] = FUTURE_AS_RUNNABLE(&gf[0]);
	j = future_join_all(kids, 2);
	nt = counting_notifier();
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&j), &nt) ==
		FUTURE_STATE_RUNNING);
	CHECK(nt.notifier_used == FUTURE_NOTIFIER_NONE);
	CHECK(te_gate_registered(&g[0]));
	te_gate_open(&g[0]);
	runtime_wait(r, FUTURE_AS_RUNNABLE(&j));
	CHECK(memcmp(a, src, N) == 0);

	/* one pending child with no notifier: NONE */
	memset(b, 0, N);
	f = vdm_memset(data_mover_threads_get_vdm(dn), b, 0x66, N, 0);
	kids[0] = FUTURE_AS_RUNNABLE(&f);
	j = future_join_all(kids, 1);
	nt = counting_notifier();
	if (future_poll(FUTURE_AS_RUNNABLE(&j), &nt) != FUTURE_STATE_COMPLETE)
		CHECK(nt.notifier_used == FUTURE_NOTIFIER_NONE);
	runtime_wait(r, FUTURE_AS_RUNNABLE(&j));
	CHECK(te_all(b, 0x66, N));
	for (i = 0; i < 2; i++)
		te_gate_fini(&g[i]);
	runtime_delete(r);
	data_mover_threads_delete(dn);
	data_mover_threads_delete(dp);
}

/* Bad children are an error, not a crash: a NULL array (nfuts > 0), a
 * NULL child, a zeroed child (never made). The join-all completes at
 * once with errno EINVAL and polls no child. A join-all that is its own
 * descendant completes with errno EINVAL at the poll that reaches it
 * again. */
static int bad_polls;

struct bad_data {
	int unused;
};
FUTURE(bad_fut, struct bad_data, struct bad_data);

static enum future_state
counted_task(struct future_context *ctx, struct future_notifier *n)
{
	(void)ctx;
	(void)n;
	bad_polls++;
	return FUTURE_STATE_RUNNING;
}

/* x's ASYNC property turns on while y (polled first, as asynchronous)
 * runs: x must still be polled in the same poll of the join-all */
static int x_async, x_polls;

static enum future_state
x_task(struct future_context *ctx, struct future_notifier *n)
{
	(void)ctx;
	x_polls++;
	if (n != NULL)
		n->notifier_used = FUTURE_NOTIFIER_NONE;
	return FUTURE_STATE_RUNNING;
}

static int
x_prop(void *f, enum future_property p)
{
	(void)f;
	(void)p;
	return x_async;
}

static enum future_state
y_task(struct future_context *ctx, struct future_notifier *n)
{
	(void)ctx;
	(void)n;
	x_async = 1;
	return FUTURE_STATE_COMPLETE;
}

static int
y_prop(void *f, enum future_property p)
{
	(void)f;
	(void)p;
	return 1;
}

static void
bad_children(void)
{
	struct bad_fut ok, zero, x, y;
	struct future *k[3];
	struct future_join_all_future j;
	struct future_notifier nt = counting_notifier();
	int round;

	FUTURE_INIT(&ok, counted_task);
	memset(&zero, 0, sizeof(zero));
	for (round = 0; round < 3; round++) {
		bad_polls = 0;
		k[0] = &ok.base;
		k[1] = round == 1 ? &zero.base : NULL;
		k[2] = &ok.base;
		j = future_join_all(round == 0 ? NULL : k, 3);
		errno = 0;
		CHECK(future_poll(FUTURE_AS_RUNNABLE(&j), &nt) ==
			FUTURE_STATE_COMPLETE);
		CHECK(errno == EINVAL);
		CHECK(bad_polls == 0);
		CHECK(FUTURE_OUTPUT(&j)->ncomplete == 0);
		CHECK(!future_has_property(FUTURE_AS_RUNNABLE(&j),
			FUTURE_PROPERTY_ASYNC));
	}
	/* its own descendant: it could never complete (the polls and the
	 * property questions recursed without end) */
	for (round = 0; round < 2; round++) {
		struct future_join_all_future j2;
		struct future *k2[2];

		bad_polls = 0;
		k[0] = &ok.base;
		k[1] = FUTURE_AS_RUNNABLE(round == 0 ? &j : &j2);
		k2[0] = FUTURE_AS_RUNNABLE(&j);
		k2[1] = &ok.base;
		j = future_join_all(k, 2);
		j2 = future_join_all(k2, 2);
		CHECK(!future_has_property(FUTURE_AS_RUNNABLE(&j),
			FUTURE_PROPERTY_ASYNC));
		errno = 0;
		CHECK(future_poll(FUTURE_AS_RUNNABLE(&j), &nt) ==
			FUTURE_STATE_COMPLETE);
		CHECK(errno == EINVAL);
		CHECK(bad_polls == 1 + round);
		if (round == 1) { /* j is complete now: j2 can be */
			CHECK(FUTURE_STATE(&j2) == FUTURE_STATE_RUNNING);
			ok.base.context.state = FUTURE_STATE_COMPLETE;
			errno = 0;
			CHECK(future_poll(FUTURE_AS_RUNNABLE(&j2), &nt) ==
				FUTURE_STATE_COMPLETE);
			CHECK(errno == 0);
			FUTURE_INIT(&ok, counted_task);
		}
	}
	/* a property changed by a sibling's poll skips no child */
	FUTURE_INIT_EXT(&x, x_task, x_prop);
	FUTURE_INIT_EXT(&y, y_task, y_prop);
	k[0] = &x.base;
	k[1] = &y.base;
	j = future_join_all(k, 2);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&j), &nt) ==
		FUTURE_STATE_RUNNING);
	CHECK(x_polls == 1);
	CHECK(nt.notifier_used != FUTURE_NOTIFIER_WAKER);
}

int
main(void)
{
	struct te_mover m[TE_MAX_MOVERS];
	size_t n = te_movers(m), i;

	te_log("bad children, a property that changes\n");
	bad_children();

	for (i = 0; i < n; i++) {
		te_log("%s: join-all of operations and a gate\n", m[i].name);
		basic(&m[i]);
		te_log("%s: join-all inside chains\n", m[i].name);
		in_chain(&m[i]);
		te_log("%s: edge cases, deadlines, wait-any\n", m[i].name);
		edges(&m[i]);
	}
	te_log("notifiers reported by a join-all\n");
	notifiers();
	te_movers_delete(m, n);
	te_log("ok\n");
	return 0;
}
