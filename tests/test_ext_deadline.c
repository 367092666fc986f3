/* test_ext_deadline.c - runtime_wait_for / runtime_wait_multiple_for on
 * every mover: deadlines that do not expire (0, contents written),
 * deadlines that expire (ETIMEDOUT, futures keep their state, the runtime's
 * waker is dropped so the runtime may be deleted, a later wait finishes the
 * work), timeout 0 (poll once), UINT64_MAX (no limit), and no busy core
 * while waiting (process CPU time well below wall time). */
#define _GNU_SOURCE
#include "test_impl.h"
#include "test_ext_util.h"

#define N (64 * 1024)

static unsigned char src[N], dst[N];

/* the mover's operation completes; a gate keeps the wait from finishing */
static void
expiring_with_gate(struct te_mover *m)
{
	struct runtime *r = runtime_new();
	struct te_gate g;
	struct te_gate_future gf;
	struct vdm_operation_future f;
	struct future *futs[2];
	struct te_opener op;
	uint64_t t0, el;
	int ret;

	CHECK(r != NULL);
	te_gate_init(&g);
	gf = te_gate_future(&g);
	te_fill(src, N, 3);
	memset(dst, 0, N);
	f = vdm_memcpy(m->vdm, dst, src, N, 0);
	futs[0] = FUTURE_AS_RUNNABLE(&f);
	futs[1] = FUTURE_AS_RUNNABLE(&gf);
	t0 = te_now();
	ret = runtime_wait_multiple_for(r, futs, 2, 50 * TE_MS);
	el = te_now() - t0;
	CHECK(ret == ETIMEDOUT);
	CHECK(el >= 50 * TE_MS);
	CHECK(el < 50 * TE_MS + 2000 * TE_MS * te_slow());
	CHECK(gf.base.context.state != FUTURE_STATE_COMPLETE);
	CHECK(!te_gate_registered(&g)); /* the runtime's waker was dropped */
	/* the runtime may go: nothing holds its waker any more */
	runtime_delete(r);
	r = runtime_new();
	CHECK(r != NULL);
	te_open_later(&op, &g, 20);
	ret = runtime_wait_multiple_for(r, futs, 2, 10000 * TE_MS * te_slow());
	te_opener_join(&op);
	CHECK(ret == 0);
	CHECK(f.base.context.state == FUTURE_STATE_COMPLETE);
	CHECK(f.output.result == VDM_SUCCESS);
	CHECK(f.output.output.memcpy.dest == dst);
	CHECK(memcmp(dst, src, N) == 0);
	CHECK(gf.output.opened == 1);
	te_gate_fini(&g);
	runtime_delete(r);
}

static void
not_expiring(struct te_mover *m)
{
	struct runtime *r = runtime_new();
	struct vdm_operation_future f[4];
	struct future *futs[4];
	uint64_t t0;
	int i;

	CHECK(r != NULL);
	/* one future, generous deadline */
	te_fill(src, N, 5);
	memset(dst, 0, N);
	f[0] = vdm_memcpy(m->vdm, dst, src, N, 0);
	t0 = te_now();
	CHECK(runtime_wait_for(r, FUTURE_AS_RUNNABLE(&f[0]),
		10000 * TE_MS * te_slow()) == 0);
	CHECK(te_now() - t0 < 10000 * TE_MS * te_slow());
	CHECK(f[0].output.result == VDM_SUCCESS);
	CHECK(memcmp(dst, src, N) == 0);
	/* already complete: returns 0 at once, also with timeout 0 */
	CHECK(runtime_wait_for(r, FUTURE_AS_RUNNABLE(&f[0]), 0) == 0);

	/* several futures, every operation type */
	memset(dst, 0, N);
	f[0] = vdm_memcpy(m->vdm, dst, src, N / 4, 0);
	f[1] = vdm_memmove(m->vdm, dst + N / 4, src + N / 4, N / 4, 0);
	f[2] = vdm_memset(m->vdm, dst + N / 2, 0x5a, N / 4, 0);
	f[3] = vdm_flush(m->vdm, dst, N / 4, 0);
	for (i = 0; i < 4; i++)
		futs[i] = FUTURE_AS_RUNNABLE(&f[i]);
	CHECK(runtime_wait_multiple_for(r, futs, 4,
		10000 * TE_MS * te_slow()) == 0);
	for (i = 0; i < 4; i++) {
		CHECK(f[i].base.context.state == FUTURE_STATE_COMPLETE);
		CHECK(f[i].output.result ==
			(i == 3 ? te_flush_result(m) : VDM_SUCCESS));
	}
	CHECK(memcmp(dst, src, N / 2) == 0);
	CHECK(te_all(dst + N / 2, 0x5a, N / 4));
	CHECK(te_all(dst + 3 * N / 4, 0, N / 4));

	/* UINT64_MAX: no limit */
	memset(dst, 0, N);
	f[0] = vdm_memcpy(m->vdm, dst, src, N, 0);
	CHECK(runtime_wait_for(r, FUTURE_AS_RUNNABLE(&f[0]), UINT64_MAX) == 0);
	CHECK(memcmp(dst, src, N) == 0);

	/* nothing to wait for */
	CHECK(runtime_wait_multiple_for(r, futs, 0, 0) == 0);
	runtime_delete(r);
}

/* timeout 0 polls once: a sync future completes in that poll */
static void
zero_timeout(struct te_mover *m)
{
	struct runtime *r = runtime_new();
	struct vdm_operation_future f;
	int ret;

	CHECK(r != NULL);
	te_fill(src, N, 9);
	memset(dst, 0, N);
	f = vdm_memcpy(m->vdm, dst, src, N, 0);
	ret = runtime_wait_for(r, FUTURE_AS_RUNNABLE(&f), 0);
	if (m->kind == TE_SYNC)
		CHECK(ret == 0);
	CHECK(ret == 0 || ret == ETIMEDOUT);
	CHECK((ret == 0) == (f.base.context.state == FUTURE_STATE_COMPLETE));
	CHECK(f.base.context.state != FUTURE_STATE_IDLE); /* it was polled */
	runtime_wait(r, FUTURE_AS_RUNNABLE(&f));
	CHECK(f.output.result == VDM_SUCCESS);
	CHECK(memcmp(dst, src, N) == 0);
	runtime_delete(r);
}

/* a slow threads operation outlives the deadline */
static void
slow_expiring(enum future_notifier_type nt)
{
	struct data_mover_threads *d = te_slow_mover(1, 4, 300, nt);
	struct vdm *vdm = data_mover_threads_get_vdm(d);
	struct runtime *r = runtime_new();
	struct vdm_operation_future f;
	uint64_t t0, el;
	unsigned started = atomic_load(&te_slow_started);

	CHECK(r != NULL);
	te_fill(src, N, 11);
	memset(dst, 0, N);
	/* held: it cannot finish within the deadline on a loaded machine */
	atomic_store(&te_slow_hold, 1);
	f = vdm_memcpy(vdm, dst, src, N, 0);
	t0 = te_now();
	CHECK(runtime_wait_for(r, FUTURE_AS_RUNNABLE(&f), 50 * TE_MS) ==
		ETIMEDOUT);
	el = te_now() - t0;
	CHECK(el >= 50 * TE_MS);
	CHECK(f.base.context.state == FUTURE_STATE_RUNNING);
	te_wait_slow_started(started + 1);
	/* (dst is not read while the copy is in flight: a data race) */
	/* the waker was dropped: deleting the runtime before the operation
	 * completes is safe (ASan/TSan would see a use after free) */
	runtime_delete(r);
	te_sleep_ms(20);
	atomic_store(&te_slow_hold, 0);
	r = runtime_new();
	CHECK(r != NULL);
	CHECK(runtime_wait_for(r, FUTURE_AS_RUNNABLE(&f),
		10000 * TE_MS * te_slow()) == 0);
	CHECK(f.output.result == VDM_SUCCESS);
	CHECK(memcmp(dst, src, N) == 0);
	runtime_delete(r);
	data_mover_threads_delete(d);
}

/* DSA (emulated, each descriptor delayed): its own operation outlives a
 * deadline; the waiting thread sleeps while a longer one does not expire */
static void
dsa_slow(struct te_mover *m)
{
	struct runtime *r = runtime_new();
	struct vdm_operation_future f;
	uint64_t t0, el, c0, w0, cpu, wall;

	CHECK(r != NULL);
	if (!te_dsa_delay(300000)) {
		te_log("  (no emulator: skipped)\n");
		runtime_delete(r);
		return;
	}
	te_fill(src, N, 17);
	memset(dst, 0, N);
	f = vdm_memcpy(m->vdm, dst, src, N, 0);
	t0 = te_now();
	CHECK(runtime_wait_for(r, FUTURE_AS_RUNNABLE(&f), 50 * TE_MS) ==
		ETIMEDOUT);
	el = te_now() - t0;
	CHECK(el >= 50 * TE_MS);
	CHECK(f.base.context.state == FUTURE_STATE_RUNNING);
	runtime_delete(r); /* the mover dropped the runtime's waker */
	r = runtime_new();
	CHECK(r != NULL);
	w0 = te_now();
	c0 = te_thread_cpu();
	CHECK(runtime_wait_for(r, FUTURE_AS_RUNNABLE(&f),
		10000 * TE_MS * te_slow()) == 0);
	cpu = te_thread_cpu() - c0;
	wall = te_now() - w0;
	te_log("  waiting thread: %.1f ms cpu / %.1f ms wall\n",
		(double)cpu / 1e6, (double)wall / 1e6);
	if (!TE_ON_VALGRIND() && wall > 100 * TE_MS)
		CHECK(cpu * 4 < wall);
	CHECK(f.output.result == VDM_SUCCESS);
	CHECK(memcmp(dst, src, N) == 0);
	te_dsa_delay(0);
	runtime_delete(r);
}

/* While a wait sleeps, the process must not burn a core. */
static void
cpu_idle(const char *what, struct future **futs, size_t n, uint64_t timeout,
	int expect)
{
	struct runtime *r = runtime_new();
	uint64_t w0, c0, wall, cpu;
	int ret;

	CHECK(r != NULL);
	w0 = te_now();
	c0 = te_cpu();
	ret = runtime_wait_multiple_for(r, futs, n, timeout);
	cpu = te_cpu() - c0;
	wall = te_now() - w0;
	te_log("  cpu while waiting (%s): %.1f ms cpu / %.1f ms wall\n", what,
		(double)cpu / 1e6, (double)wall / 1e6);
	CHECK(ret == expect);
	if (!TE_ON_VALGRIND())
		CHECK(cpu * 4 < wall); /* < 25% of one core */
	runtime_delete(r);
}

static void
cpu_checks(void)
{
	static const enum future_notifier_type nts[3] = {
		FUTURE_NOTIFIER_WAKER, FUTURE_NOTIFIER_POLLER,
		FUTURE_NOTIFIER_NONE,
	};
	static const char *const names[3] = {
		"slow threads op, waker", "slow threads op, poller",
		"slow threads op, no notifier",
	};
	struct te_gate g;
	struct te_gate_future gf;
	struct future *fp;
	int i;

	/* a deadline that expires: nothing ever wakes the runtime */
	te_gate_init(&g);
	gf = te_gate_future(&g);
	fp = FUTURE_AS_RUNNABLE(&gf);
	cpu_idle("gate, expires", &fp, 1, 300 * TE_MS, ETIMEDOUT);
	CHECK(!te_gate_registered(&g));
	te_gate_open(&g);
	te_gate_fini(&g);

	/* deadlines that do not expire, each notifier */
	for (i = 0; i < 3; i++) {
		struct data_mover_threads *d = te_slow_mover(1, 4, 300,
			nts[i]);
		struct vdm_operation_future f;

		te_fill(src, N, 13 + (unsigned)i);
		memset(dst, 0, N);
		f = vdm_memcpy(data_mover_threads_get_vdm(d), dst, src, N, 0);
		fp = FUTURE_AS_RUNNABLE(&f);
		cpu_idle(names[i], &fp, 1, 10000 * TE_MS * te_slow(), 0);
		CHECK(f.output.result == VDM_SUCCESS);
		CHECK(memcmp(dst, src, N) == 0);
		data_mover_threads_delete(d);
	}
}

/* a memset that runs until the test lets it go */
static atomic_int held_go, held_in;

static void *
held_memset(void *str, int c, size_t n, unsigned flags)
{
	(void)flags;
	atomic_store(&held_in, 1);
	while (!atomic_load(&held_go))
		te_sleep_ms(1);
	return memset(str, c, n);
}

/* A wait that gives up (deadline passed; wait-any's other futures share
 * the path) returns without running the threads mover's queued copies on
 * its own thread: they stay for the workers. The only worker is held in a
 * user memset, so a copy done before the wait returns ran here. */
static void
release_leaves_queued(void)
{
	struct data_mover_threads *d = data_mover_threads_new(1, 8,
		FUTURE_NOTIFIER_WAKER);
	struct vdm *v;
	struct runtime *r = runtime_new();
	struct vdm_operation_future hold, f;
	struct future *futs[1];
	unsigned char byte = 0;

	CHECK(d != NULL && r != NULL);
	v = data_mover_threads_get_vdm(d);
	data_mover_threads_set_memset_fn(d, held_memset);
	atomic_store(&held_go, 0);
	atomic_store(&held_in, 0);
	hold = vdm_memset(v, &byte, 7, 1, 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&hold), NULL) !=
		FUTURE_STATE_COMPLETE);
	while (!atomic_load(&held_in))
		te_sleep_ms(1);
	te_fill(src, N, 21);
	memset(dst, 0, N);
	/* timeout 0: polled once (started), then released; a longer wait's
	 * passes run it here (polling again makes progress) */
	f = vdm_memcpy(v, dst, src, N, 0);
	futs[0] = FUTURE_AS_RUNNABLE(&f);
	CHECK(runtime_wait_for(r, futs[0], 0) == ETIMEDOUT);
	CHECK(FUTURE_STATE(&f) != FUTURE_STATE_COMPLETE);
	atomic_store(&held_go, 1);
	runtime_wait(r, FUTURE_AS_RUNNABLE(&hold));
	runtime_wait(r, futs[0]);
	CHECK(f.output.result == VDM_SUCCESS && byte == 7);
	CHECK(memcmp(dst, src, N) == 0);
	runtime_delete(r);
	data_mover_threads_delete(d);
}

int
main(void)
{
	struct te_mover m[TE_MAX_MOVERS];
	size_t n = te_movers(m), i;

	for (i = 0; i < n; i++) {
		te_log("%s: not expiring\n", m[i].name);
		not_expiring(&m[i]);
		te_log("%s: expiring (gate)\n", m[i].name);
		expiring_with_gate(&m[i]);
		te_log("%s: timeout 0\n", m[i].name);
		zero_timeout(&m[i]);
		if (m[i].kind == TE_DSA) {
			te_log("%s: slow device, deadline expires\n",
				m[i].name);
			dsa_slow(&m[i]);
		}
	}
	te_log("threads: slow operation, deadline expires (waker)\n");
	slow_expiring(FUTURE_NOTIFIER_WAKER);
	te_log("threads: slow operation, deadline expires (poller)\n");
	slow_expiring(FUTURE_NOTIFIER_POLLER);
	te_log("threads: slow operation, deadline expires (no notifier)\n");
	slow_expiring(FUTURE_NOTIFIER_NONE);
	/* CPU time is measured with no DSA emulator thread running */
	te_movers_delete(m, n);
	te_log("cpu time while waiting\n");
	cpu_checks();
	te_log("threads: a wait that gives up leaves queued copies\n");
	release_leaves_queued();
	te_log("ok\n");
	return 0;
}
