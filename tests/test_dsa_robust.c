/* test_dsa_robust.c - the DSA mover where a real device and a real machine
 * differ from the happy path. Time is the test's clock (the private hook
 * masync__test_clock), so no outcome depends on timing:
 * - waiting for room in a full dedicated WQ has no deadline of its own:
 *   however often it is polled within one clock tick (even or odd
 *   reading), it stays idle, and nothing is dropped;
 * - a descriptor that timed out keeps its WQ entry until it or a later
 *   descriptor completes: nothing is submitted into a queue it may still
 *   fill (no drop), and the room comes back afterwards;
 * - completions are reaped by whoever needs room: futures never polled
 *   again do not starve the others;
 * - data_mover_dsa_delete waits at most one timeout in all;
 * - ENQCMD only when the kernel says so (cpuinfo flag); one ENQCMD per
 *   poll, BUSY only after timeout_ns of refusals, also where a dedicated
 *   WQ beside the shared one is held by lost descriptors (no wait for
 *   good);
 * - a forked child using the parent's mover: new operations on the CPU,
 *   the parent's operation fails with a result, no crash;
 * - cpu_threshold: default 4096, 1 sends everything to the device;
 * - a cold 2 MiB part completes on the device in a few round trips. */
#include "test_dsa_util.h"

#include <sys/wait.h>

static struct runtime *rt;

#define SZ 4096
#define SEC 1000000000ull

static enum future_state
poll1(struct vdm_operation_future *f)
{
	return future_poll(FUTURE_AS_RUNNABLE(f), NULL);
}

static size_t
queued(struct data_mover_dsa *d, unsigned *lost)
{
	size_t n;

	masync__qlock_take(&d->q[0].qlock);
	n = d->q[0].inflight;
	if (lost != NULL)
		*lost = d->q[0].nlost;
	masync__qlock_give(&d->q[0].qlock);
	return n;
}

/* ---- 1. waiting for room -------------------------------------------------- */

static void
test_wait_for_room(void)
{
	struct dsa_emu_config ec = {0};
	unsigned char *src = td_alloc(3 * SZ), *dst = td_alloc(3 * SZ);
	int parity, i;

	for (parity = 0; parity < 2; parity++) {
		struct dsa_emu *emu;
		struct data_mover_dsa *d;
		struct vdm *vdm;
		struct vdm_operation_future f[3];
		struct future *ff[3];
		struct dsa_emu_stats s;

		td_begin(parity ? "full WQ, clock reads odd: waits, no BUSY" :
			"full WQ, clock reads even: waits, no BUSY");
		ec.wq_size = 2;
		emu = td_emu(&ec);
		d = td_mover(NULL);
		vdm = data_mover_dsa_get_vdm(d);
		td_pattern(src, 3 * SZ, 7);
		memset(dst, 0, 3 * SZ);
		td_clock_fake(4000000000ull + (uint64_t)parity, 0); /* one tick */
		dsa_emu_pause(emu, -1, 1);
		for (i = 0; i < 3; i++) {
			f[i] = vdm_memcpy(vdm, dst + i * SZ, src + i * SZ, SZ, 0);
			ff[i] = FUTURE_AS_RUNNABLE(&f[i]);
		}
		CHECK(poll1(&f[0]) == FUTURE_STATE_RUNNING);
		CHECK(poll1(&f[1]) == FUTURE_STATE_RUNNING);
		td_wait_received(emu, 2);
		for (i = 0; i < 1000; i++)
			CHECK(poll1(&f[2]) == FUTURE_STATE_IDLE);
		td_clock_advance(d->timeout_ns / 2); /* still within a timeout */
		for (i = 0; i < 1000; i++)
			CHECK(poll1(&f[2]) == FUTURE_STATE_IDLE);
		dsa_emu_pause(emu, -1, 0);
		CHECK_EQ(runtime_wait_multiple_for(rt, ff, 3, 60 * SEC), 0);
		for (i = 0; i < 3; i++)
			CHECK_RES(FUTURE_OUTPUT(&f[i])->result, VDM_SUCCESS);
		CHECK_PATTERN(dst, 3 * SZ, 0, 7);
		s = td_stats(emu);
		CHECK_EQ(s.received, 3);
		CHECK_EQ(s.dropped, 0);
		td_clock_real();
		data_mover_dsa_delete(d);
		dsa_emu_stop(emu);
	}
	td_free(src);
	td_free(dst);
}

/* ---- 2. lost descriptors hold their room ---------------------------------- */

static void
test_lost_room(void)
{
	struct dsa_emu_config ec = {0};
	struct data_mover_dsa_config mc = {0};
	struct dsa_emu *emu;
	struct data_mover_dsa *d;
	struct vdm *vdm;
	unsigned char *src = td_alloc(8 * SZ), *dst = td_alloc(8 * SZ);
	struct vdm_operation_future f[8];
	struct future *ff[8];
	struct dsa_emu_stats s;
	struct dsa_emu_fault fl;
	unsigned lost;
	int i;

	td_begin("timed-out descriptors keep their WQ entries (no drop)");
	ec.wq_size = 2;
	emu = td_emu(&ec);
	mc.timeout_ns = SEC;
	d = td_mover(&mc);
	vdm = data_mover_dsa_get_vdm(d);
	td_pattern(src, 8 * SZ, 9);
	memset(dst, 0, 8 * SZ);
	td_clock_fake(10 * SEC, 0);
	dsa_emu_pause(emu, -1, 1);
	f[0] = vdm_memcpy(vdm, dst, src, SZ, 0);
	f[1] = vdm_memcpy(vdm, dst + SZ, src + SZ, SZ, 0);
	CHECK(poll1(&f[0]) == FUTURE_STATE_RUNNING);
	CHECK(poll1(&f[1]) == FUTURE_STATE_RUNNING);
	td_clock_advance(SEC + 1);
	CHECK(poll1(&f[0]) == FUTURE_STATE_COMPLETE);
	CHECK(poll1(&f[1]) == FUTURE_STATE_COMPLETE);
	CHECK_RES(FUTURE_OUTPUT(&f[0])->result, VDM_ERROR_TIMEOUT);
	CHECK_RES(FUTURE_OUTPUT(&f[1])->result, VDM_ERROR_TIMEOUT);
	CHECK_EQ(queued(d, &lost), 2);
	CHECK_EQ(lost, 2);
	/* the device holds both: nothing may be submitted, and nothing
	 * ever could be: the operation fails at once */
	td_wait_received(emu, 2);
	f[2] = vdm_memcpy(vdm, dst + 2 * SZ, src + 2 * SZ, SZ, 0);
	CHECK(poll1(&f[2]) == FUTURE_STATE_COMPLETE);
	CHECK_RES(FUTURE_OUTPUT(&f[2])->result, VDM_ERROR_TIMEOUT);
	dsa_emu_get_stats(emu, -1, &s);
	CHECK_EQ(s.received, 2);
	CHECK_EQ(s.dropped, 0);
	CHECK_BYTES(dst + 2 * SZ, SZ, 0);

	td_begin("the device answers late: the entries come back");
	dsa_emu_pause(emu, -1, 0);
	td_settle(emu);
	/* the manual's warning: written after the TIMEOUT */
	CHECK_PATTERN(dst, 2 * SZ, 0, 9);
	f[3] = vdm_memcpy(vdm, dst + 3 * SZ, src + 3 * SZ, SZ, 0);
	CHECK_RES(td_wait(rt, &f[3]), VDM_SUCCESS);
	CHECK_PATTERN(dst + 3 * SZ, SZ, 3 * SZ, 9);
	CHECK_EQ(queued(d, &lost), 0);
	CHECK_EQ(lost, 0);
	CHECK_EQ(td_pool_live(d), 0); /* recycled */

	td_begin("a swallowed descriptor's entry comes back when a later "
		"one completes");
	memset(dst, 0, 8 * SZ);
	dsa_emu_reset_stats(emu);
	memset(&fl, 0, sizeof(fl));
	fl.kind = DSA_EMU_FAULT_NO_COMPLETION;
	td_inject(emu, &fl);
	f[0] = vdm_memcpy(vdm, dst, src, SZ, 0);
	CHECK(poll1(&f[0]) == FUTURE_STATE_RUNNING);
	td_wait_received(emu, 1);
	td_settle(emu);
	td_clock_advance(SEC + 1);
	CHECK(poll1(&f[0]) == FUTURE_STATE_COMPLETE);
	CHECK_RES(FUTURE_OUTPUT(&f[0])->result, VDM_ERROR_TIMEOUT);
	CHECK_EQ(queued(d, &lost), 1);
	CHECK_EQ(lost, 1);
	CHECK_EQ(td_pool_live(d), 1); /* kept: orphan */
	f[1] = vdm_memcpy(vdm, dst + SZ, src + SZ, SZ, 0);
	CHECK_RES(td_wait(rt, &f[1]), VDM_SUCCESS);
	CHECK_EQ(queued(d, &lost), 0); /* its room is back ... */
	/* ... but an engine might still run it: its memory is not reused
	 * before the mover is deleted */
	CHECK_EQ(td_pool_live(d), 1);
	CHECK(d->q[0].limbo != NULL);
	for (i = 0; i < 8; i++) {
		f[i] = vdm_memcpy(vdm, dst + i * SZ, src + i * SZ, SZ, 0);
		ff[i] = FUTURE_AS_RUNNABLE(&f[i]);
	}
	CHECK_EQ(runtime_wait_multiple_for(rt, ff, 8, 60 * SEC), 0);
	for (i = 0; i < 8; i++)
		CHECK_RES(FUTURE_OUTPUT(&f[i])->result, VDM_SUCCESS);
	CHECK_PATTERN(dst, 8 * SZ, 0, 9);
	s = td_stats(emu);
	CHECK_EQ(s.dropped, 0);
	CHECK_EQ(s.swallowed, 1);
	td_clock_real();
	data_mover_dsa_delete(d);
	dsa_emu_stop(emu);
	td_free(src);
	td_free(dst);
}

/* ---- 3. central reaping --------------------------------------------------- */

static void
test_reaping(void)
{
	enum { N = 16 };
	struct dsa_emu_config ec = {0};
	struct dsa_emu *emu;
	struct data_mover_dsa *d;
	struct vdm *vdm;
	unsigned char *src = td_alloc((N + 2) * SZ), *dst = td_alloc((N + 2) * SZ);
	struct vdm_operation_future idle[2], f[N];
	struct future *ff[N];
	int i;

	td_begin("futures never polled again do not starve the others");
	ec.wq_size = 2;
	emu = td_emu(&ec);
	d = td_mover(NULL);
	vdm = data_mover_dsa_get_vdm(d);
	td_pattern(src, (N + 2) * SZ, 11);
	memset(dst, 0, (N + 2) * SZ);
	dsa_emu_pause(emu, -1, 1); /* so that they are running */
	for (i = 0; i < 2; i++) {
		idle[i] = vdm_memcpy(vdm, dst + (N + i) * SZ,
			src + (N + i) * SZ, SZ, 0);
		CHECK(poll1(&idle[i]) == FUTURE_STATE_RUNNING);
	}
	/* both WQ entries are taken by futures nobody polls now */
	for (i = 0; i < N; i++) {
		f[i] = vdm_memcpy(vdm, dst + i * SZ, src + i * SZ, SZ, 0);
		ff[i] = FUTURE_AS_RUNNABLE(&f[i]);
	}
	dsa_emu_pause(emu, -1, 0);
	CHECK_EQ(runtime_wait_multiple_for(rt, ff, N, 60 * SEC), 0);
	for (i = 0; i < N; i++)
		CHECK_RES(FUTURE_OUTPUT(&f[i])->result, VDM_SUCCESS);
	CHECK_PATTERN(dst, N * SZ, 0, 11);
	for (i = 0; i < 2; i++)
		CHECK_RES(td_wait(rt, &idle[i]), VDM_SUCCESS);
	CHECK_PATTERN(dst + N * SZ, 2 * SZ, N * SZ, 11);
	CHECK_EQ(td_stats(emu).dropped, 0);
	data_mover_dsa_delete(d);
	dsa_emu_stop(emu);
	td_free(src);
	td_free(dst);
}

/* ---- 4. delete is bounded as a whole -------------------------------------- */

static void
test_delete_bound(void)
{
	enum { N = 4 };
	const uint64_t tmo = 1000 * SEC, step = SEC;
	struct dsa_emu_config ec = {0};
	struct data_mover_dsa_config mc = {0};
	struct dsa_emu *emu;
	struct data_mover_dsa *d;
	struct vdm *vdm;
	struct vdm_operation_future f[N];
	struct dsa_emu_fault fl;
	unsigned char *src = td_alloc(N * SZ), *dst = td_alloc(N * SZ);
	uint64_t t0, dt;
	int i;

	td_begin("delete with a dead device waits one timeout in all");
	ec.wq_size = N;
	emu = td_emu(&ec);
	mc.timeout_ns = tmo;
	d = td_mover(&mc);
	vdm = data_mover_dsa_get_vdm(d);
	memset(&fl, 0, sizeof(fl));
	fl.kind = DSA_EMU_FAULT_NO_COMPLETION;
	fl.count = -1;
	td_inject(emu, &fl);
	td_clock_fake(SEC, 0);
	for (i = 0; i < N; i++) {
		f[i] = vdm_memcpy(vdm, dst + i * SZ, src, SZ, 0);
		CHECK(poll1(&f[i]) == FUTURE_STATE_RUNNING);
	}
	td_wait_received(emu, N);
	td_settle(emu);
	/* 1 s of the test's clock per reading: 1000 s of it pass in
	 * about a thousand readings, whatever the real time */
	atomic_store(&td_fake_step, step);
	t0 = atomic_load(&td_fake_now);
	data_mover_dsa_delete(d); /* the futures are dead now */
	dt = atomic_load(&td_fake_now) - t0;
	td_log("   delete took %llu s of the test's clock (timeout %llu s, "
		"%d descriptors)\n", (unsigned long long)(dt / SEC),
		(unsigned long long)(tmo / SEC), N);
	CHECK(dt >= tmo);
	CHECK(dt <= tmo + 4 * step);
	td_clock_real();
	CHECK_EQ(td_stats(emu).swallowed, N);
	dsa_emu_stop(emu);
	td_free(src);
	td_free(dst);
}

/* ---- 5. ENQCMD ------------------------------------------------------------ */

static _Atomic unsigned enq_calls, enq_accept, enq_batches;

/* a shared WQ behind a fake ENQCMD: refuses, or runs a memmove at once */
static int
fake_enqcmd(void *portal, const void *desc)
{
	const struct dsa_hw_desc *dd = (const struct dsa_hw_desc *)desc;
	struct dsa_completion_record *c;

	(void)portal;
	atomic_fetch_add(&enq_calls, 1);
	if (dd->opcode == DSA_OPCODE_BATCH)
		atomic_fetch_add(&enq_batches, 1);
	if (!atomic_load(&enq_accept))
		return 1;
	CHECK_EQ(dd->opcode, DSA_OPCODE_MEMMOVE);
	c = (struct dsa_completion_record *)(uintptr_t)dd->completion_addr;
	memmove((void *)(uintptr_t)dd->dst_addr,
		(const void *)(uintptr_t)dd->src_addr, dd->xfer_size);
	c->bytes_completed = dd->xfer_size;
	atomic_store_explicit((_Atomic uint8_t *)(void *)&c->status,
		DSA_COMP_SUCCESS, memory_order_release);
	return 0;
}

/* once ENQCMD has refused a batch, the clock passes the deadline */
static void *
enq_deadline(void *arg)
{
	unsigned b0 = *(unsigned *)arg;

	while (atomic_load(&enq_batches) == b0) {
		struct timespec ts = {0, 100000};

		thrd_sleep(&ts, NULL);
	}
	td_clock_advance(SEC + 1);
	return NULL;
}

static void
test_enqcmd(void)
{
	struct dsa_emu_config ec = {0};
	struct data_mover_dsa_config mc = {0};
	struct dsa_emu *emu;
	struct data_mover_dsa *d;
	struct vdm *vdm;
	struct vdm_operation_future f;
	unsigned char *src = td_alloc(SZ), *dst = td_alloc(SZ);
	int i;

	td_enqcmd_begin();
	ec.shared = 1;
	ec.fifo = -1; /* a mappable portal */
	emu = td_emu(&ec);
	mc.timeout_ns = SEC;

	td_begin("CPUID has ENQCMD, the kernel does not: write() path");
	td_cpuinfo(0);
	d = td_mover(&mc);
	CHECK(d->q[0].portal == NULL);
	CHECK(!d->q[0].use_enqcmd);
	data_mover_dsa_delete(d);

	td_begin("threshold 0: ENQCMD would be refused, so write()");
	td_cpuinfo(1);
	CHECK(dsa_emu_sysfs_set(emu, "dsa0/wq0.0/threshold", "0\n") == 0);
	d = td_mover(&mc);
	CHECK(d->q[0].portal == NULL);
	CHECK(!d->q[0].use_enqcmd);
	data_mover_dsa_delete(d);
	CHECK(dsa_emu_sysfs_set(emu, "dsa0/wq0.0/threshold", "8\n") == 0);
	d = td_mover(&mc);
	CHECK(d->q[0].use_enqcmd);
	data_mover_dsa_delete(d);

	td_begin("no cpuinfo: no ENQCMD");
	masync__dsa_cpuinfo = "/nonexistent/cpuinfo";
	d = td_mover(&mc);
	CHECK(!d->q[0].use_enqcmd);
	data_mover_dsa_delete(d);
	masync__dsa_cpuinfo = TD_CPUINFO;

	td_begin("kernel and CPU have ENQCMD: one per poll, BUSY after "
		"timeout_ns of refusals");
	td_cpuinfo(1);
	d = td_mover(&mc);
	CHECK(d->q[0].portal != NULL);
	CHECK(d->q[0].use_enqcmd);
	vdm = data_mover_dsa_get_vdm(d);
	MASYNC__STORE(&masync__test_enqcmd, fake_enqcmd, release);
	td_clock_fake(5 * SEC, 0);
	f = vdm_memcpy(vdm, dst, src, SZ, 0);
	for (i = 1; i <= 100; i++) {
		CHECK(poll1(&f) == FUTURE_STATE_IDLE);
		CHECK_EQ(atomic_load(&enq_calls), i);
	}
	td_clock_advance(SEC);
	CHECK(poll1(&f) == FUTURE_STATE_IDLE);
	td_clock_advance(1);
	CHECK(poll1(&f) == FUTURE_STATE_COMPLETE);
	CHECK_RES(FUTURE_OUTPUT(&f)->result, VDM_ERROR_BUSY);
	CHECK_EQ(atomic_load(&enq_calls), 102);

	td_begin("the same for operations coalesced in a runtime's pass: "
		"their pending batch fails with BUSY, it does not wait");
	{
		struct data_mover_dsa_config mb = mc;
		struct data_mover_dsa *db;
		struct vdm_operation_future fb[3];
		struct future *fs[3];
		unsigned b0 = atomic_load(&enq_batches);
		pthread_t t;

		mb.batch_max = 32;
		db = td_mover(&mb);
		for (i = 0; i < 3; i++) {
			fb[i] = vdm_memcpy(data_mover_dsa_get_vdm(db),
				dst + i * 64, src + i * 64, 64, 0);
			fs[i] = FUTURE_AS_RUNNABLE(&fb[i]);
		}
		CHECK(pthread_create(&t, NULL, enq_deadline, &b0) == 0);
		/* hung before: the refused batch was retried for good */
		runtime_wait_multiple(rt, fs, 3);
		CHECK(pthread_join(t, NULL) == 0);
		CHECK(atomic_load(&enq_batches) > b0); /* they were a batch */
		for (i = 0; i < 3; i++)
			CHECK_RES(FUTURE_OUTPUT(&fb[i])->result,
				VDM_ERROR_BUSY);
		data_mover_dsa_delete(db);
	}

	td_begin("ENQCMD accepted: the operation completes");
	td_pattern(src, SZ, 13);
	memset(dst, 0, SZ);
	atomic_store(&enq_accept, 1);
	f = vdm_memcpy(vdm, dst, src, SZ, 0);
	CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
	CHECK_PATTERN(dst, SZ, 0, 13);
	CHECK_EQ(queued(d, NULL), 0);
	MASYNC__STORE(&masync__test_enqcmd, (masync__enqcmd_fn)NULL, release);
	td_clock_real();
	data_mover_dsa_delete(d);
	dsa_emu_stop(emu);
	td_enqcmd_end();
	td_free(src);
	td_free(dst);
}

/* A mover on a dedicated WQ and a shared one: the dedicated WQ's only
 * entry is held by a lost descriptor (it never has room again), the
 * shared WQ refuses every ENQCMD. The operation fails with BUSY after
 * timeout_ns of refusals; it used to wait for good, taking the dedicated
 * WQ beside the shared one for "room comes back". */
static void
test_enqcmd_beside_lost(void)
{
	const uint64_t tmo = SEC / 10;
	struct dsa_emu_config ec = {0};
	struct dsa_emu_wq_config wq[2];
	struct data_mover_dsa_config mc = {0};
	struct dsa_emu *emu;
	struct data_mover_dsa *d;
	struct vdm *vdm;
	struct vdm_operation_future f;
	unsigned char *src = td_alloc(SZ), *dst = td_alloc(SZ);
	unsigned calls;
	int i;

	td_enqcmd_begin();
	td_cpuinfo(1);
	memset(wq, 0, sizeof(wq));
	ec.nwqs = 2;
	ec.wqs = wq;
	wq[0].fifo = 1;      /* wq0.0: dedicated, write(), one entry */
	wq[0].wq_size = 1;
	wq[1].shared = 1;    /* wq0.1: shared, a portal: ENQCMD */
	wq[1].fifo = -1;
	emu = td_emu(&ec);
	/* every descriptor the device takes is dropped: never completes */
	CHECK(dsa_emu_inject(emu, &(struct dsa_emu_fault){
		.kind = DSA_EMU_FAULT_DROP, .count = -1 }) == 0);
	mc.wqs = "wq0.0,wq0.1";
	mc.timeout_ns = tmo;
	d = td_mover(&mc);
	CHECK_EQ(td_nwqs(d), 2);
	vdm = data_mover_dsa_get_vdm(d);
	atomic_store(&enq_accept, 0);
	MASYNC__STORE(&masync__test_enqcmd, fake_enqcmd, release);
	td_clock_fake(5 * SEC, 0);

	td_begin("the shared WQ refuses, the dedicated one takes it; lost");
	f = vdm_memcpy(vdm, dst, src, SZ, 0);
	CHECK(poll1(&f) == FUTURE_STATE_RUNNING);
	td_clock_advance(tmo + 1);
	CHECK(poll1(&f) == FUTURE_STATE_COMPLETE);
	CHECK_RES(FUTURE_OUTPUT(&f)->result, VDM_ERROR_TIMEOUT);

	td_begin("the dedicated WQ held by it, the shared one refusing: "
		"BUSY after timeout_ns of refusals");
	calls = atomic_load(&enq_calls);
	f = vdm_memcpy(vdm, dst, src, SZ, 0);
	for (i = 0; i < 10; i++)
		CHECK(poll1(&f) == FUTURE_STATE_IDLE);
	CHECK_EQ(atomic_load(&enq_calls) - calls, 10);
	td_clock_advance(tmo);
	CHECK(poll1(&f) == FUTURE_STATE_IDLE);
	td_clock_advance(1);
	CHECK(poll1(&f) == FUTURE_STATE_COMPLETE);
	CHECK_RES(FUTURE_OUTPUT(&f)->result, VDM_ERROR_BUSY);
	/* (the device takes A from its FIFO when it gets to it) */
	td_wait_processed(emu, 1);
	CHECK_EQ(td_stats(emu).dropped, 1); /* A only: B was never sent */

	MASYNC__STORE(&masync__test_enqcmd, (masync__enqcmd_fn)NULL, release);
	td_clock_real();
	data_mover_dsa_delete(d); /* waits up to tmo for A's descriptor */
	dsa_emu_stop(emu);
	td_enqcmd_end();
	td_free(src);
	td_free(dst);
}

/* ---- 6. fork -------------------------------------------------------------- */

static void
test_fork(void)
{
	const size_t n = 65536;
	struct dsa_emu *emu;
	struct data_mover_dsa *d;
	struct vdm *vdm;
	struct vdm_operation_future f, p;
	unsigned char *src = td_alloc(n), *dst = td_alloc(n);
	unsigned char *pd = td_alloc(SZ), *portal;
	struct dsa_emu_stats s;
	pid_t pid;
	_Atomic int *verdict = td_verdict_new();

	td_begin("a forked child uses the parent's mover");
	emu = td_emu(NULL);
	d = td_mover(NULL);
	vdm = data_mover_dsa_get_vdm(d);
	td_pattern(src, n, 17);
	memset(dst, 0, n);
	memset(pd, 0, SZ);
	f = vdm_memcpy(vdm, dst, src, n, 0);
	CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
	dsa_emu_pause(emu, -1, 1);
	p = vdm_memcpy(vdm, pd, src, SZ, 0);
	CHECK(poll1(&p) == FUTURE_STATE_RUNNING);
	td_wait_received(emu, 2);
	/* as the kernel's portal mapping (VM_DONTCOPY): not in the child
	 * (valgrind's fork copies the mapping all the same) */
	portal = td_valgrind() ? NULL : d->q[0].portal;
	if (portal != NULL)
		CHECK(madvise(portal, 4096, MADV_DONTFORK) == 0);
	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		td_case = "child";
		/* the WQ's file was closed at the fork, so the parent's close
		 * drains the WQ and frees it for a new open */
		CHECK(fcntl(d->q[0].fd, F_GETFD) == -1 && errno == EBADF);
		{
			/* a file of the child's own under that number stays
			 * open in a grandchild */
			int nfd = open("/dev/null", O_RDONLY), gst;
			pid_t g;

			CHECK(nfd >= 0);
			CHECK(dup2(nfd, d->q[0].fd) == d->q[0].fd);
			fflush(NULL);
			g = fork();
			CHECK(g >= 0);
			if (g == 0)
				_exit(fcntl(d->q[0].fd, F_GETFD) == -1);
			CHECK(waitpid(g, &gst, 0) == g);
			CHECK(WIFEXITED(gst) && WEXITSTATUS(gst) == 0);
			close(nfd);
		}
		/* the parent's operation: its device does not serve us */
		CHECK(poll1(&p) == FUTURE_STATE_COMPLETE);
		CHECK_RES(FUTURE_OUTPUT(&p)->result, VDM_ERROR_NOT_SUPPORTED);
		CHECK_BYTES(pd, SZ, 0);
		/* new ones run on the CPU */
		memset(dst, 0, n);
		f = vdm_memcpy(vdm, dst, src, n, 0);
		CHECK_RES(td_busy(&f), VDM_SUCCESS);
		CHECK_PATTERN(dst, n, 0, 17);
		f = vdm_memset(vdm, dst, 0x5a, n, 0);
		CHECK_RES(td_busy(&f), VDM_SUCCESS);
		CHECK_BYTES(dst, n, 0x5a);
		if (portal != NULL) {
			/* the child's own page where the portal was: the
			 * parent's mover, deleted here, leaves it alone */
			unsigned char *mine = (unsigned char *)mmap(portal,
				4096, PROT_READ | PROT_WRITE, MAP_PRIVATE |
				MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
			unsigned char v;

			CHECK(mine == portal);
			memset(mine, 0x6b, 4096);
			data_mover_dsa_delete(d);
			CHECK(mincore(mine, 4096, &v) == 0); /* was unmapped */
			CHECK_BYTES(mine, 4096, 0x6b);
		} else {
			data_mover_dsa_delete(d);
		}
		atomic_store(verdict, 1);
		_exit(0);
	}
	CHECK_CHILD(pid, verdict);
	dsa_emu_get_stats(emu, -1, &s);
	CHECK_EQ(s.received, 2); /* nothing from the child */
	CHECK_PATTERN(dst, n, 0, 17); /* the parent's memory */
	dsa_emu_pause(emu, -1, 0);
	CHECK_RES(td_wait(rt, &p), VDM_SUCCESS);
	CHECK_PATTERN(pd, SZ, 0, 17);
	data_mover_dsa_delete(d);
	dsa_emu_stop(emu);
	td_free(src);
	td_free(dst);
	td_free(pd);
}

/* The parent's futures hold every state of a mover of capacity CAP at the
 * fork (other threads' futures the child may never poll): the child still
 * has its own CAP, counted from 0, and gets them back as before. */
#define CAP 4

static void
test_fork_bound(void)
{
	struct data_mover_dsa_config cfg;
	struct data_mover_dsa *d;
	struct vdm *vdm;
	struct vdm_operation_future held[CAP], f[CAP + 1];
	unsigned char *src = td_alloc(SZ), *dst = td_alloc((CAP + 1) * SZ);
	struct dsa_emu *emu;
	pid_t pid;
	_Atomic int *verdict = td_verdict_new();
	int i;

	td_begin("a forked child has its own capacity");
	emu = td_emu(NULL);
	memset(&cfg, 0, sizeof(cfg));
	cfg.capacity = CAP;
	d = td_mover(&cfg);
	vdm = data_mover_dsa_get_vdm(d);
	td_pattern(src, SZ, 29);
	for (i = 0; i < CAP; i++)
		held[i] = vdm_memcpy(vdm, dst, src, SZ, 0);
	f[0] = vdm_memcpy(vdm, dst, src, SZ, 0);
	CHECK(FUTURE_STATE(&f[0]) == FUTURE_STATE_COMPLETE);
	CHECK_RES(FUTURE_OUTPUT(&f[0])->result, VDM_ERROR_OUT_OF_MEMORY);
	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		td_case = "child";
		memset(dst, 0, (CAP + 1) * SZ);
		for (i = 0; i < CAP; i++) {
			f[i] = vdm_memcpy(vdm, dst + i * SZ, src, SZ, 0);
			CHECK(FUTURE_STATE(&f[i]) == FUTURE_STATE_IDLE);
		}
		/* its bound is the mover's, as in the parent */
		f[CAP] = vdm_memcpy(vdm, dst + CAP * SZ, src, SZ, 0);
		CHECK(FUTURE_STATE(&f[CAP]) == FUTURE_STATE_COMPLETE);
		CHECK_RES(FUTURE_OUTPUT(&f[CAP])->result,
			VDM_ERROR_OUT_OF_MEMORY);
		/* the completing poll gives a slot back */
		CHECK_RES(td_busy(&f[0]), VDM_SUCCESS);
		f[CAP] = vdm_memcpy(vdm, dst + CAP * SZ, src, SZ, 0);
		CHECK(FUTURE_STATE(&f[CAP]) == FUTURE_STATE_IDLE);
		for (i = 1; i <= CAP; i++)
			CHECK_RES(td_busy(&f[i]), VDM_SUCCESS);
		for (i = 0; i <= CAP; i++)
			CHECK_PATTERN(dst + i * SZ, SZ, 0, 29);
		/* the parent's futures given up here do not count either */
		for (i = 0; i < CAP; i++)
			CHECK(vdm_cancel(&held[i]) == 0);
		for (i = 0; i < CAP; i++) {
			f[i] = vdm_memcpy(vdm, dst + i * SZ, src, SZ, 0);
			CHECK(FUTURE_STATE(&f[i]) == FUTURE_STATE_IDLE);
		}
		f[CAP] = vdm_memset(vdm, dst, 0, SZ, 0);
		CHECK(FUTURE_STATE(&f[CAP]) == FUTURE_STATE_COMPLETE);
		for (i = 0; i < CAP; i++)
			CHECK(vdm_cancel(&f[i]) == 0);
		data_mover_dsa_delete(d);
		atomic_store(verdict, 1);
		_exit(0);
	}
	CHECK_CHILD(pid, verdict);
	for (i = 0; i < CAP; i++) {
		memset(dst, 0, SZ);
		CHECK_RES(td_wait(rt, &held[i]), VDM_SUCCESS);
		CHECK_PATTERN(dst, SZ, 0, 29);
	}
	data_mover_dsa_delete(d);
	dsa_emu_stop(emu);
	td_free(src);
	td_free(dst);
}

/* ---- 7. cpu_threshold ----------------------------------------------------- */

static void
test_threshold(void)
{
	struct dsa_emu *emu;
	struct data_mover_dsa_config mc = {0};
	struct data_mover_dsa *d;
	struct vdm *vdm;
	struct vdm_operation_future f;
	unsigned char *src = td_alloc(SZ), *dst = td_alloc(SZ);

	td_begin("cpu_threshold 0 = 4096: smaller ones on the CPU");
	emu = td_emu(NULL);
	d = data_mover_dsa_new(&mc);
	CHECK(d != NULL);
	vdm = data_mover_dsa_get_vdm(d);
	CHECK_EQ(d->cpu_threshold, 4096);
	td_pattern(src, SZ, 19);
	memset(dst, 0, SZ);
	f = vdm_memcpy(vdm, dst, src, 1, 0);
	CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
	f = vdm_memcpy(vdm, dst, src, SZ - 1, 0);
	CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
	CHECK_PATTERN(dst, SZ - 1, 0, 19);
	CHECK_EQ(td_stats(emu).received, 0);
	f = vdm_memcpy(vdm, dst, src, SZ, 0);
	CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
	CHECK_PATTERN(dst, SZ, 0, 19);
	CHECK_EQ(td_stats(emu).received, 1);
	data_mover_dsa_delete(d);

	td_begin("cpu_threshold 1: a 1-byte copy goes to the device");
	dsa_emu_reset_stats(emu);
	mc.cpu_threshold = 1;
	d = data_mover_dsa_new(&mc);
	CHECK(d != NULL);
	vdm = data_mover_dsa_get_vdm(d);
	f = vdm_memset(vdm, dst, 0x42, 1, 0);
	CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
	CHECK_EQ(dst[0], 0x42);
	f = vdm_memset(vdm, dst, 0x43, 0, 0); /* empty: never */
	CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
	CHECK_EQ(td_stats(emu).received, 1);
	data_mover_dsa_delete(d);
	dsa_emu_stop(emu);
	td_free(src);
	td_free(dst);
}

/* ---- 8. a cold 2 MiB part ------------------------------------------------- */

static void
test_cold_part(void)
{
	const size_t n = 2u << 20; /* the WQ's max transfer: one part */
	struct dsa_emu_config ec = {0};
	struct dsa_emu *emu;
	struct data_mover_dsa *d;
	struct vdm *vdm;
	struct vdm_operation_future f;
	struct dsa_emu_stats s;
	unsigned char *src, *dst;
	int k;

	for (k = 0; k < 2; k++) {
		td_begin(k == 0 ? "memcpy into 2 MiB never touched: on the device" :
			"memset of 2 MiB never touched: on the device");
		ec.fault_nonresident = 1;
		emu = td_emu(&ec);
		d = td_mover(NULL);
		vdm = data_mover_dsa_get_vdm(d);
		src = (unsigned char *)mmap(NULL, n, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		dst = (unsigned char *)mmap(NULL, n, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		CHECK(src != MAP_FAILED && dst != MAP_FAILED);
		td_pattern(src, n, 23);
		f = k == 0 ? vdm_memcpy(vdm, dst, src, n, 0) :
			vdm_memset(vdm, dst, 0x3c, n, 0);
		CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
		if (k == 0)
			CHECK_PATTERN(dst, n, 0, 23);
		else
			CHECK_BYTES(dst, n, 0x3c);
		s = td_stats(emu);
		td_log("   %llu descriptors, %llu page faults, %llu bytes on "
			"the device\n", (unsigned long long)s.received,
			(unsigned long long)s.page_faults,
			(unsigned long long)s.bytes);
		CHECK(s.page_faults >= 1); /* it was cold */
		CHECK(s.received <= 3);    /* not one round trip per page */
		CHECK_EQ(s.bytes, n);      /* all of it on the device */
		munmap(src, n);
		munmap(dst, n);
		data_mover_dsa_delete(d);
		dsa_emu_stop(emu);
	}
}

/* white box: a WQ lock held long makes its waiter sleep (a yield would
 * let no lower-priority holder run under a real-time policy), and the
 * waiter still takes it once it is given back */
static struct masync__qlock tq;
static atomic_int tq_got;

/* pthreads: glibc's thrd_create bypasses ThreadSanitizer's interceptors */
static void *
tq_waiter(void *arg)
{
	(void)arg;
	masync__qlock_take(&tq);
	atomic_store(&tq_got, 1);
	masync__qlock_give(&tq);
	return NULL;
}

static void
test_qlock_long_wait(void)
{
	unsigned long naps = MASYNC__LOAD(&masync__test_qlock_naps, relaxed);
	struct timespec t0, t1;
	pthread_t t;

	td_begin("a long wait for a WQ lock sleeps, then takes the lock");
	masync__qlock_take(&tq);
	CHECK(pthread_create(&t, NULL, tq_waiter, NULL) == 0);
	/* the waiter spins, yields, then sleeps (hang guard: 60 s) */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		struct timespec ts = {0, 200000};

		thrd_sleep(&ts, NULL);
		clock_gettime(CLOCK_MONOTONIC, &t1);
	} while (MASYNC__LOAD(&masync__test_qlock_naps, relaxed) == naps &&
		t1.tv_sec - t0.tv_sec < 60);
	CHECK(MASYNC__LOAD(&masync__test_qlock_naps, relaxed) > naps);
	CHECK(atomic_load(&tq_got) == 0);
	masync__qlock_give(&tq);
	CHECK(pthread_join(t, NULL) == 0);
	CHECK(atomic_load(&tq_got) == 1);
}

int
main(void)
{
	td_enter("test_dsa_robust");
	rt = runtime_new();
	CHECK(rt != NULL);
	/* valgrind hides MOVDIR64B: the portal paths are tested elsewhere */
	if (!td_valgrind()) {
		test_wait_for_room();
		test_lost_room();
	}
	test_reaping();
	test_delete_bound();
	if (!td_valgrind()) {
		test_enqcmd();
		test_enqcmd_beside_lost();
	}
	test_fork();
	test_fork_bound();
	test_threshold();
	test_cold_part();
	test_qlock_long_wait();
	runtime_delete(rt);
	td_log("test_dsa_robust: all passed\n");
	return 0;
}
