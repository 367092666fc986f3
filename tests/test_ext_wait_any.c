/* test_ext_wait_any.c - runtime_wait_any / runtime_wait_any_for on every
 * mover: one fast and one slow future (the fast one's index comes back, the
 * slow one keeps its state and is waited on later, also on another runtime
 * after the first was deleted), a future complete on entry (others are not
 * touched), a first pass that completes a sync future (later futures are
 * not run), timeouts (SIZE_MAX, wakers dropped), n == 0, and little CPU
 * while waiting. */
#define _GNU_SOURCE
#include "test_impl.h"
#include "test_ext_util.h"

#define N (32 * 1024)

static unsigned char src[N], dst[N], dst2[N];

/* fast = the mover's operation, slow = a gate opened much later */
static void
fast_and_gate(struct te_mover *m)
{
	struct runtime *r = runtime_new();
	struct te_gate g;
	struct te_gate_future gf;
	struct vdm_operation_future f;
	struct future *futs[2];
	size_t idx;

	CHECK(r != NULL);
	te_gate_init(&g);
	gf = te_gate_future(&g);
	te_fill(src, N, 1);
	memset(dst, 0, N);
	f = vdm_memcpy(m->vdm, dst, src, N, 0);
	futs[0] = FUTURE_AS_RUNNABLE(&gf); /* slow first in the array */
	futs[1] = FUTURE_AS_RUNNABLE(&f);
	idx = runtime_wait_any(r, futs, 2);
	CHECK(idx == 1);
	CHECK(f.base.context.state == FUTURE_STATE_COMPLETE);
	CHECK(f.output.result == VDM_SUCCESS);
	CHECK(memcmp(dst, src, N) == 0);
	/* the op (polled first when asynchronous) may have completed before
	 * the gate was ever polled */
	CHECK(gf.base.context.state != FUTURE_STATE_COMPLETE);
	CHECK(!te_gate_registered(&g)); /* the runtime's waker was dropped */
	runtime_delete(r);

	/* the slow one is waited on later, on another runtime */
	r = runtime_new();
	CHECK(r != NULL);
	/* complete on entry: its index, nothing polled */
	{
		unsigned polls = atomic_load(&g.polls);

		CHECK(runtime_wait_any(r, futs, 2) == 1);
		CHECK(atomic_load(&g.polls) == polls);
	}
	te_gate_open(&g);
	runtime_wait(r, FUTURE_AS_RUNNABLE(&gf));
	CHECK(gf.output.opened == 1);
	te_gate_fini(&g);
	runtime_delete(r);
}

/* two operations of the mover: the returned one is complete; the other is
 * finished later. On the sync mover the first pass stops at the first
 * future, so the second is not even run. */
static void
two_ops(struct te_mover *m)
{
	struct runtime *r = runtime_new();
	struct vdm_operation_future f[2];
	struct future *futs[2];
	size_t idx, other;

	CHECK(r != NULL);
	te_fill(src, N, 2);
	memset(dst, 0, N);
	memset(dst2, 0, N);
	f[0] = vdm_memcpy(m->vdm, dst, src, N, 0);
	f[1] = vdm_memset(m->vdm, dst2, 0x77, N, 0);
	futs[0] = FUTURE_AS_RUNNABLE(&f[0]);
	futs[1] = FUTURE_AS_RUNNABLE(&f[1]);
	idx = runtime_wait_any(r, futs, 2);
	CHECK(idx < 2);
	CHECK(f[idx].base.context.state == FUTURE_STATE_COMPLETE);
	CHECK(f[idx].output.result == VDM_SUCCESS);
	if (idx == 0)
		CHECK(memcmp(dst, src, N) == 0);
	else
		CHECK(te_all(dst2, 0x77, N));
	other = 1 - idx;
	if (m->kind == TE_SYNC) {
		CHECK(idx == 0);
		CHECK(f[1].base.context.state == FUTURE_STATE_IDLE);
		CHECK(te_all(dst2, 0, N));
	}
	runtime_wait(r, futs[other]);
	CHECK(f[other].output.result == VDM_SUCCESS);
	CHECK(memcmp(dst, src, N) == 0);
	CHECK(te_all(dst2, 0x77, N));
	runtime_delete(r);
}

/* no future completes in time */
static void
timeout_gates(struct te_mover *m)
{
	struct runtime *r = runtime_new();
	struct te_gate g[2];
	struct te_gate_future gf[2];
	struct future *futs[3];
	struct vdm_operation_future f;
	uint64_t t0, el;
	size_t idx;
	int i;

	CHECK(r != NULL);
	for (i = 0; i < 2; i++) {
		te_gate_init(&g[i]);
		gf[i] = te_gate_future(&g[i]);
		futs[i] = FUTURE_AS_RUNNABLE(&gf[i]);
	}
	t0 = te_now();
	idx = runtime_wait_any_for(r, futs, 2, 40 * TE_MS);
	el = te_now() - t0;
	CHECK(idx == SIZE_MAX);
	CHECK(el >= 40 * TE_MS);
	for (i = 0; i < 2; i++) {
		CHECK(gf[i].base.context.state == FUTURE_STATE_RUNNING);
		CHECK(!te_gate_registered(&g[i]));
	}
	/* timeout 0: one pass */
	CHECK(runtime_wait_any_for(r, futs, 2, 0) == SIZE_MAX);
	CHECK(!te_gate_registered(&g[0]) && !te_gate_registered(&g[1]));

	/* with the mover's operation third in line it comes back in time */
	te_fill(src, N, 4);
	memset(dst, 0, N);
	f = vdm_memcpy(m->vdm, dst, src, N, 0);
	futs[2] = FUTURE_AS_RUNNABLE(&f);
	idx = runtime_wait_any_for(r, futs, 3, 10000 * TE_MS * te_slow());
	CHECK(idx == 2);
	CHECK(memcmp(dst, src, N) == 0);
	CHECK(!te_gate_registered(&g[0]) && !te_gate_registered(&g[1]));

	/* a gate opened from another thread wins */
	{
		struct te_opener op;

		te_open_later(&op, &g[1], 30);
		idx = runtime_wait_any_for(r, futs, 2,
			10000 * TE_MS * te_slow());
		te_opener_join(&op);
		CHECK(idx == 1);
		CHECK(gf[1].output.opened == 1);
		CHECK(!te_gate_registered(&g[0]));
	}
	te_gate_open(&g[0]);
	CHECK(runtime_wait_any(r, futs, 1) == 0);
	for (i = 0; i < 2; i++)
		te_gate_fini(&g[i]);
	CHECK(runtime_wait_any(r, futs, 0) == SIZE_MAX);
	CHECK(runtime_wait_any_for(r, futs, 0, 1000) == SIZE_MAX);
	/* a NULL runtime is an error (errno) also with no futures */
	errno = 0;
	CHECK(runtime_wait_any(NULL, futs, 0) == SIZE_MAX);
	CHECK(errno == EINVAL);
	errno = 0;
	CHECK(runtime_wait_any_for(NULL, NULL, 0, 1000) == SIZE_MAX);
	CHECK(errno == EINVAL);
	runtime_delete(r);
}

/* a slow threads operation and a fast one of the same kind */
static void
slow_and_fast(enum future_notifier_type nt)
{
	struct data_mover_threads *slow = te_slow_mover(1, 8, 600, nt);
	struct data_mover_threads *fast = data_mover_threads_new(1, 8, nt);
	struct runtime *r = runtime_new();
	struct vdm_operation_future fs, ff;
	struct future *futs[2];
	uint64_t w0, c0, wall, cpu;
	size_t idx;

	CHECK(fast != NULL && r != NULL);
	te_fill(src, N, 6);
	memset(dst, 0, N);
	memset(dst2, 0, N);
	fs = vdm_memcpy(data_mover_threads_get_vdm(slow), dst, src, N, 0);
	ff = vdm_memset(data_mover_threads_get_vdm(fast), dst2, 0x33, N, 0);
	futs[0] = FUTURE_AS_RUNNABLE(&fs);
	futs[1] = FUTURE_AS_RUNNABLE(&ff);
	/* the slow copy cannot finish before the fast one is seen, however
	 * loaded the machine is */
	atomic_store(&te_slow_hold, 1);
	idx = runtime_wait_any(r, futs, 2);
	CHECK(idx == 1);
	CHECK(te_all(dst2, 0x33, N));
	/* (dst is not read while the copy is in flight: a data race) */
	CHECK(fs.base.context.state == FUTURE_STATE_RUNNING);
	atomic_store(&te_slow_hold, 0);
	/* the slow operation still runs; its worker must not wake the
	 * deleted runtime when it completes */
	runtime_delete(r);
	r = runtime_new();
	CHECK(r != NULL);
	/* wait for it with wait-any alone; little CPU meanwhile */
	w0 = te_now();
	c0 = te_cpu();
	CHECK(runtime_wait_any(r, futs, 1) == 0);
	cpu = te_cpu() - c0;
	wall = te_now() - w0;
	te_log("  cpu while waiting: %.1f ms cpu / %.1f ms wall\n",
		(double)cpu / 1e6, (double)wall / 1e6);
	if (!TE_ON_VALGRIND() && wall > 100 * TE_MS)
		CHECK(cpu * 4 < wall);
	CHECK(fs.output.result == VDM_SUCCESS);
	CHECK(memcmp(dst, src, N) == 0);

	/* wait_any_for expiring on the slow one, then finished later */
	memset(dst, 0, N);
	atomic_store(&te_slow_hold, 1);
	fs = vdm_memcpy(data_mover_threads_get_vdm(slow), dst, src, N, 0);
	CHECK(runtime_wait_any_for(r, futs, 1, 30 * TE_MS) == SIZE_MAX);
	CHECK(fs.base.context.state == FUTURE_STATE_RUNNING);
	atomic_store(&te_slow_hold, 0);
	runtime_delete(r);
	r = runtime_new();
	CHECK(r != NULL);
	CHECK(runtime_wait_for(r, futs[0], 10000 * TE_MS * te_slow()) == 0);
	CHECK(memcmp(dst, src, N) == 0);
	runtime_delete(r);
	data_mover_threads_delete(fast);
	data_mover_threads_delete(slow);
}

/* DSA (emulated, delayed): a gate opened meanwhile wins over the device;
 * the device's operation is finished later on another runtime */
static void
dsa_slow_vs_gate(struct te_mover *m)
{
	struct runtime *r = runtime_new();
	struct vdm_operation_future f;
	struct te_gate g;
	struct te_gate_future gf;
	struct te_opener op;
	struct future *futs[2];

	CHECK(r != NULL);
	if (!te_dsa_delay(300000)) {
		te_log("  (no emulator: skipped)\n");
		runtime_delete(r);
		return;
	}
	te_gate_init(&g);
	gf = te_gate_future(&g);
	te_fill(src, N, 8);
	memset(dst, 0, N);
	f = vdm_memcpy(m->vdm, dst, src, N, 0);
	futs[0] = FUTURE_AS_RUNNABLE(&f);
	futs[1] = FUTURE_AS_RUNNABLE(&gf);
	te_open_later(&op, &g, 30);
	CHECK(runtime_wait_any(r, futs, 2) == 1);
	te_opener_join(&op);
	CHECK(gf.output.opened == 1);
	if (!TE_ON_VALGRIND())
		CHECK(f.base.context.state == FUTURE_STATE_RUNNING);
	runtime_delete(r); /* the mover dropped the runtime's waker */
	r = runtime_new();
	CHECK(r != NULL);
	CHECK(runtime_wait_any(r, futs, 1) == 0);
	CHECK(f.output.result == VDM_SUCCESS);
	CHECK(memcmp(dst, src, N) == 0);
	te_dsa_delay(0);
	te_gate_fini(&g);
	runtime_delete(r);
}

int
main(void)
{
	struct te_mover m[TE_MAX_MOVERS];
	size_t n = te_movers(m), i;

	for (i = 0; i < n; i++) {
		te_log("%s: fast operation vs gate\n", m[i].name);
		fast_and_gate(&m[i]);
		te_log("%s: two operations\n", m[i].name);
		two_ops(&m[i]);
		te_log("%s: timeouts\n", m[i].name);
		timeout_gates(&m[i]);
		if (m[i].kind == TE_DSA) {
			te_log("%s: slow device vs gate\n", m[i].name);
			dsa_slow_vs_gate(&m[i]);
		}
	}
	/* CPU time is measured with no DSA emulator thread running */
	te_movers_delete(m, n);
	te_log("threads: slow and fast operation (waker)\n");
	slow_and_fast(FUTURE_NOTIFIER_WAKER);
	te_log("threads: slow and fast operation (poller)\n");
	slow_and_fast(FUTURE_NOTIFIER_POLLER);
	te_log("threads: slow and fast operation (no notifier)\n");
	slow_and_fast(FUTURE_NOTIFIER_NONE);
	te_log("ok\n");
	return 0;
}
