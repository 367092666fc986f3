/* test_dsa_hybrid.c - large operations split between the device and the
 * CPU (config hybrid_threshold, hybrid_cpu_permille, cpu_vdm) on the
 * emulated device, which counts the bytes it moved. Proves:
 * - with a fixed share the device moves exactly n - cpu bytes, cpu being
 *   the share of n rounded down to whole pages, for memcpy, memset and a
 *   non-overlapping memmove; an overlapping memmove, a flush and anything
 *   below the threshold are not split; every byte of the destination is
 *   right (and the bytes around it untouched), with no flags,
 *   VDM_F_NO_CACHE_HINT, VDM_F_MEM_DURABLE and both;
 * - the CPU part runs on cpu_vdm when given (a threads mover, a sync one);
 * - the measured share (hybrid_cpu_permille 0) starts at 300 permille and
 *   grows by 16 per split while the device is slower (the emulator is
 *   paused while the CPU does its part), up to 900;
 * - a page fault in the device's part is resolved as for any operation;
 * - invalid shares (>= 1000) are refused;
 * - data_mover_dsa_delete with a CPU part still running on cpu_vdm waits
 *   for it: the destination is complete when it returns, unchanged after. */
#include "test_dsa_util.h"

static struct runtime *rt;

#define BIG ((size_t)1 << 20)

static size_t
cpu_share(size_t n, unsigned pm)
{
	return ((n / 1000) * pm + (n % 1000) * pm / 1000) & ~(size_t)4095;
}

static struct data_mover_dsa *
mover(unsigned pm, struct vdm *cpu_vdm)
{
	struct data_mover_dsa_config mc = {0};

	mc.hybrid_threshold = 64 << 10;
	mc.hybrid_cpu_permille = pm;
	mc.cpu_vdm = cpu_vdm;
	return td_mover(&mc);
}

static uint64_t
dev_bytes(struct dsa_emu *emu)
{
	return td_stats(emu).bytes;
}

/* one operation of n bytes; checks the data and returns the device's bytes */
static uint64_t
run_one(struct dsa_emu *emu, struct data_mover_dsa *d,
	enum vdm_operation_type type, size_t n, uint64_t flags, unsigned seed)
{
	struct vdm *vdm = data_mover_dsa_get_vdm(d);
	unsigned char *src = td_alloc(2 * n), *dst = td_alloc(2 * n);
	struct vdm_operation_future f;

	dsa_emu_reset_stats(emu);
	td_pattern(src, 2 * n, seed);
	memset(dst, 0, 2 * n);
	switch (type) {
	case VDM_OPERATION_MEMCPY:
		f = vdm_memcpy(vdm, dst, src, n, flags);
		break;
	case VDM_OPERATION_MEMMOVE:
		f = vdm_memmove(vdm, dst, src, n, flags);
		break;
	case VDM_OPERATION_MEMSET:
		f = vdm_memset(vdm, dst, 0x3c, n, flags);
		break;
	default:
		f = vdm_flush(vdm, dst, n, flags);
		break;
	}
	CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
	if (type == VDM_OPERATION_MEMSET)
		CHECK_BYTES(dst, n, 0x3c);
	else if (type != VDM_OPERATION_FLUSH)
		CHECK_PATTERN(dst, n, 0, seed);
	CHECK_BYTES(dst + n, n, 0);
	CHECK(td_guards_ok(dst, 2 * n));
	td_free(src);
	td_free(dst);
	return dev_bytes(emu);
}

static void
test_fixed(struct dsa_emu *emu)
{
	static const uint64_t flags[] = { 0, VDM_F_NO_CACHE_HINT,
		VDM_F_MEM_DURABLE, VDM_F_NO_CACHE_HINT | VDM_F_MEM_DURABLE };
	static const size_t sizes[] = { BIG, BIG + 12345, (64 << 10) };
	struct data_mover_dsa *d = mover(250, NULL);
	size_t i, j;

	td_begin("fixed share: the device moves n - cpu bytes, all right");
	for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		for (j = 0; j < sizeof(sizes) / sizeof(sizes[0]); j++) {
			size_t n = sizes[j], c = cpu_share(n, 250);

			CHECK_EQ(run_one(emu, d, VDM_OPERATION_MEMCPY, n,
				flags[i], 1), n - c);
			CHECK_EQ(run_one(emu, d, VDM_OPERATION_MEMSET, n,
				flags[i], 2), n - c);
			CHECK_EQ(run_one(emu, d, VDM_OPERATION_MEMMOVE, n,
				flags[i], 3), n - c);
		}
	}
	CHECK(cpu_share(BIG, 250) == BIG / 4); /* the test's own arithmetic */

	td_begin("not split: below the threshold, flush, overlap");
	CHECK_EQ(run_one(emu, d, VDM_OPERATION_MEMCPY, (64 << 10) - 1, 0, 4),
		(64 << 10) - 1);
	CHECK_EQ(run_one(emu, d, VDM_OPERATION_FLUSH, BIG, 0, 0), BIG);
	{
		unsigned char *b = td_alloc(2 * BIG);
		struct vdm_operation_future f;

		td_pattern(b, 2 * BIG, 5);
		dsa_emu_reset_stats(emu);
		f = vdm_memmove(data_mover_dsa_get_vdm(d), b + 4096, b, BIG, 0);
		CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
		CHECK_PATTERN(b + 4096, BIG, 0, 5);
		CHECK_EQ(dev_bytes(emu), BIG);
		td_free(b);
	}
	data_mover_dsa_delete(d);

	td_begin("hybrid_threshold SIZE_MAX: never split");
	{
		struct data_mover_dsa_config mc = {0};

		mc.hybrid_threshold = SIZE_MAX;
		mc.hybrid_cpu_permille = 500;
		d = td_mover(&mc);
		CHECK_EQ(run_one(emu, d, VDM_OPERATION_MEMCPY, BIG, 0, 6), BIG);
		data_mover_dsa_delete(d);
	}
}

static void
test_cpu_vdm(struct dsa_emu *emu)
{
	struct data_mover_threads *dmt = data_mover_threads_new(2, 64,
		FUTURE_NOTIFIER_WAKER);
	struct data_mover_sync *dms = data_mover_sync_new();
	struct data_mover_dsa *d;

	CHECK(dmt != NULL && dms != NULL);
	td_begin("the CPU part on a threads mover");
	d = mover(500, data_mover_threads_get_vdm(dmt));
	CHECK_EQ(run_one(emu, d, VDM_OPERATION_MEMCPY, 4 * BIG, 0, 7),
		2 * BIG);
	CHECK_EQ(run_one(emu, d, VDM_OPERATION_MEMSET, 4 * BIG,
		VDM_F_MEM_DURABLE, 8), 2 * BIG);
	data_mover_dsa_delete(d);
	td_begin("the CPU part on a sync mover");
	d = mover(500, data_mover_sync_get_vdm(dms));
	CHECK_EQ(run_one(emu, d, VDM_OPERATION_MEMMOVE, 4 * BIG, 0, 9),
		2 * BIG);
	data_mover_dsa_delete(d);
	data_mover_sync_delete(dms);
	data_mover_threads_delete(dmt);
}

/* ---- the waker of a split whose device part ends in its first poll ---- */

static pthread_mutex_t hw_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hw_cv = PTHREAD_COND_INITIALIZER;
static int hw_woken, hw_open;

/* the CPU part's copy, held until the test opens the gate */
static void *
gate_memcpy(void *dst, const void *src, size_t n, unsigned flags)
{
	(void)flags;
	pthread_mutex_lock(&hw_mu);
	while (!hw_open)
		pthread_cond_wait(&hw_cv, &hw_mu);
	pthread_mutex_unlock(&hw_mu);
	return memcpy(dst, src, n);
}

static void
hw_wake(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&hw_mu);
	hw_woken = 1;
	pthread_cond_broadcast(&hw_cv);
	pthread_mutex_unlock(&hw_mu);
}

/* 1 once hw_wake was called (and resets it); 0 after 60 s: a hang guard,
 * not a measure */
static int
hw_wait_woken(void)
{
	struct timespec ts;
	int rc = 0, got;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 60;
	pthread_mutex_lock(&hw_mu);
	while (!hw_woken && rc == 0)
		rc = pthread_cond_timedwait(&hw_cv, &hw_mu, &ts);
	got = hw_woken;
	hw_woken = 0;
	pthread_mutex_unlock(&hw_mu);
	return got;
}

/* a device that has finished each descriptor when its doorbell returns */
static void
sync_trap(void *portal, const void *desc)
{
	const struct dsa_hw_desc *dd = (const struct dsa_hw_desc *)desc;

	td_trap_movdir64b(portal, desc);
	while (atomic_load_explicit((_Atomic uint8_t *)(uintptr_t)
			dd->completion_addr, memory_order_acquire) == 0)
		sched_yield();
}

static void
test_wake_cpu_part(void)
{
	struct dsa_emu_config ec = {0};
	struct dsa_emu *emu;
	struct data_mover_threads *dmt = data_mover_threads_new(1, 8,
		FUTURE_NOTIFIER_WAKER);
	struct data_mover_dsa *d;
	struct future_notifier nt;
	struct vdm_operation_future f;
	const size_t n = 4 * BIG;
	unsigned char *src = td_alloc(n), *dst = td_alloc(n);
	enum future_state st;

	td_begin("the device part done in the first poll, the CPU part not: "
		"the waker that poll took is called");
	CHECK(dmt != NULL);
	data_mover_threads_set_memcpy_fn(dmt, gate_memcpy);
	ec.trap_portal = 1;
	emu = td_emu(&ec);
	MASYNC__STORE(&masync__test_movdir64b, sync_trap, release);
	d = mover(300, data_mover_threads_get_vdm(dmt));
	td_pattern(src, n, 21);
	memset(dst, 0, n);
	memset(&nt, 0, sizeof(nt));
	nt.waker.wake = hw_wake;
	f = vdm_memcpy(data_mover_dsa_get_vdm(d), dst, src, n, 0);
	/* white box: the polling thread leaves the CPU part to the worker
	 * (else it could run it, gated, itself) */
	masync__rt_releasing = 1;
	st = future_poll(FUTURE_AS_RUNNABLE(&f), &nt);
	masync__rt_releasing = 0;
	CHECK(st == FUTURE_STATE_RUNNING);
	CHECK(((struct masync__dsa_op *)f.data.data)->hy_active);
	CHECK(MASYNC__LOAD(&((struct masync__dsa_op *)f.data.data)->phase,
		relaxed) == MASYNC__DSA_DONE); /* the device's part */
	CHECK_EQ(nt.notifier_used, FUTURE_NOTIFIER_WAKER);
	/* the old header dropped that waker: nobody called it */
	CHECK(hw_wait_woken());
	pthread_mutex_lock(&hw_mu);
	hw_open = 1;
	pthread_cond_broadcast(&hw_cv);
	pthread_mutex_unlock(&hw_mu);
	/* a waker-only executor from here on */
	while ((st = future_poll(FUTURE_AS_RUNNABLE(&f), &nt)) !=
			FUTURE_STATE_COMPLETE)
		if (nt.notifier_used == FUTURE_NOTIFIER_WAKER)
			CHECK(hw_wait_woken());
	CHECK_RES(FUTURE_OUTPUT(&f)->result, VDM_SUCCESS);
	CHECK_PATTERN(dst, n, 0, 21);
	data_mover_dsa_delete(d);
	data_mover_threads_delete(dmt);
	dsa_emu_stop(emu);
	td_free(src);
	td_free(dst);
}

static void
test_measured(struct dsa_emu *emu)
{
	struct data_mover_dsa *d = mover(0, NULL);
	unsigned char *src = td_alloc(BIG), *dst = td_alloc(BIG);
	unsigned pm = 300;
	int i;

	td_begin("measured share: grows while the device is slower");
	td_pattern(src, BIG, 10);
	for (i = 0; i < 45; i++) {
		struct vdm_operation_future f;

		dsa_emu_reset_stats(emu);
		memset(dst, 0, BIG);
		dsa_emu_pause(emu, -1, 1); /* the CPU's part ends first */
		f = vdm_memcpy(data_mover_dsa_get_vdm(d), dst, src, BIG, 0);
		CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), NULL) ==
			FUTURE_STATE_RUNNING);
		dsa_emu_pause(emu, -1, 0);
		CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
		CHECK_PATTERN(dst, BIG, 0, 10);
		CHECK_EQ(dev_bytes(emu), BIG - cpu_share(BIG, pm));
		pm = pm + 16 > 900 ? 900 : pm + 16;
	}
	CHECK_EQ(MASYNC__LOAD(&d->hy_share, relaxed), 900);
	data_mover_dsa_delete(d);
	td_free(src);
	td_free(dst);
}

static void
test_fault(struct dsa_emu *emu)
{
	struct data_mover_dsa *d = mover(250, NULL);
	struct dsa_emu_fault f;
	struct dsa_emu_stats s;

	td_begin("a page fault in the device's part");
	memset(&f, 0, sizeof(f));
	f.kind = DSA_EMU_FAULT_PAGE_READ;
	f.bytes_done = 64 << 10;
	f.exact = 1;
	td_inject(emu, &f);
	CHECK_EQ(run_one(emu, d, VDM_OPERATION_MEMCPY, BIG, 0, 11),
		BIG - BIG / 4);
	s = td_stats(emu);
	CHECK_EQ(s.page_faults, 1);
	CHECK_EQ(s.received, 2);
	dsa_emu_clear_faults(emu);
	data_mover_dsa_delete(d);

	td_begin("a share of 1000 or more is refused");
	{
		struct data_mover_dsa_config mc = {0};

		mc.hybrid_cpu_permille = 1000;
		CHECK(data_mover_dsa_new(&mc) == NULL);
		CHECK_EQ(data_mover_dsa_last_error(), DATA_MOVER_DSA_E_INVALID);
		CHECK_EQ(errno, EINVAL);
	}
}

/* ---- delete while a split's CPU part still runs on cpu_vdm ---- */

static pthread_mutex_t hd_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hd_cv = PTHREAD_COND_INITIALIZER;
/* the CPU part is at the gate / let through; delete polled it / returned
 * (and whether the gate was open then) */
static int hd_entered, hd_open, hd_polled, hd_returned, hd_returned_open;
static struct vdm *hd_inner;
static _Thread_local int hd_deleting;

/* with hd_mu held: until *flag or `other` (NULL: none) is set; 60 s is a
 * hang guard, not a measure */
static void
hd_wait(const int *flag, const int *other)
{
	uint64_t t0 = td_now_ns();

	while (!*flag && (other == NULL || !*other)) {
		struct timespec ts;

		CHECK(td_now_ns() - t0 < td_hang_ns());
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&hd_cv, &hd_mu, &ts);
	}
}

static void
hd_set(int *flag)
{
	pthread_mutex_lock(&hd_mu);
	*flag = 1;
	pthread_cond_broadcast(&hd_cv);
	pthread_mutex_unlock(&hd_mu);
}

/* the CPU part's copy, held until the test opens the gate */
static void *
hd_memcpy(void *dst, const void *src, size_t n, unsigned flags)
{
	(void)flags;
	hd_set(&hd_entered);
	pthread_mutex_lock(&hd_mu);
	hd_wait(&hd_open, NULL);
	pthread_mutex_unlock(&hd_mu);
	return memcpy(dst, src, n);
}

/* cpu_vdm is the threads mover seen through these, which tell when the
 * deleting thread polls the CPU part */
static void *
hd_op_new(struct vdm *vdm, const enum vdm_operation_type type)
{
	(void)vdm;
	return hd_inner->op_new(hd_inner, type);
}

static enum future_state
hd_op_check(void *data, const struct vdm_operation *op)
{
	if (hd_deleting)
		hd_set(&hd_polled);
	return hd_inner->op_check(data, op);
}

struct hd_del {
	struct data_mover_dsa *d;
	unsigned char *dst;
	size_t n, good; /* good: the bytes right when delete returned */
};

static void *
hd_delete(void *arg)
{
	struct hd_del *a = (struct hd_del *)arg;

	hd_deleting = 1;
	data_mover_dsa_delete(a->d);
	hd_deleting = 0;
	/* the destination as delete left it, then a mark that nothing may
	 * overwrite from here on */
	a->good = td_pattern_diff(a->dst, a->n, 0, 31);
	memset(a->dst, 0x5a, a->n);
	pthread_mutex_lock(&hd_mu);
	hd_returned = 1;
	hd_returned_open = hd_open;
	pthread_cond_broadcast(&hd_cv);
	pthread_mutex_unlock(&hd_mu);
	return NULL;
}

static void
test_delete_cpu_part(struct dsa_emu *emu)
{
	struct data_mover_threads *dmt = data_mover_threads_new(1, 16,
		FUTURE_NOTIFIER_WAKER);
	const size_t n = BIG;
	unsigned char *src = td_alloc(n), *dst = td_alloc(n);
	struct vdm_operation_future f;
	struct hd_del a;
	struct vdm wrap;
	pthread_t t;

	td_begin("delete while the CPU part runs on cpu_vdm: it waits for it");
	CHECK(dmt != NULL);
	data_mover_threads_set_memcpy_fn(dmt, hd_memcpy);
	hd_inner = data_mover_threads_get_vdm(dmt);
	wrap = *hd_inner;
	wrap.op_new = hd_op_new;
	wrap.op_check = hd_op_check;
	memset(&a, 0, sizeof(a));
	a.d = mover(500, &wrap);
	a.dst = dst;
	a.n = n;
	td_pattern(src, n, 31);
	memset(dst, 0, n);
	dsa_emu_reset_stats(emu);
	f = vdm_memcpy(data_mover_dsa_get_vdm(a.d), dst, src, n, 0);
	/* white box: the worker runs the CPU part (this thread would run it,
	 * gated, itself) */
	masync__rt_releasing = 1;
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), NULL) ==
		FUTURE_STATE_RUNNING);
	masync__rt_releasing = 0;
	CHECK(((struct masync__dsa_op *)f.data.data)->hy_active);
	/* the device's part is done: only the CPU's is left */
	td_wait_received(emu, 1);
	CHECK_EQ(dev_bytes(emu), n - cpu_share(n, 500));
	pthread_mutex_lock(&hd_mu);
	hd_wait(&hd_entered, NULL);
	pthread_mutex_unlock(&hd_mu);
	CHECK(pthread_create(&t, NULL, hd_delete, &a) == 0);
	/* the gate opens when delete polls the CPU part: the old header
	 * returned first, leaving the part to write the destination later */
	pthread_mutex_lock(&hd_mu);
	hd_wait(&hd_polled, &hd_returned);
	if (hd_returned) {
		fprintf(stderr, "[%s] data_mover_dsa_delete returned while the "
			"CPU part was held\n", td_case);
		exit(1);
	}
	hd_open = 1;
	pthread_cond_broadcast(&hd_cv);
	pthread_mutex_unlock(&hd_mu);
	CHECK(pthread_join(t, NULL) == 0);
	CHECK(hd_returned && hd_returned_open);
	CHECK_EQ(a.good, n); /* complete when delete returned */
	data_mover_threads_delete(dmt); /* its worker is done with all */
	CHECK_BYTES(dst, n, 0x5a); /* and nothing wrote it after */
	CHECK(td_guards_ok(dst, n));
	td_free(src);
	td_free(dst);
}

int
main(void)
{
	struct dsa_emu *emu;

	td_enter("test_dsa_hybrid");
	rt = runtime_new();
	CHECK(rt != NULL);
	emu = td_emu(NULL);
	test_fixed(emu);
	test_cpu_vdm(emu);
	test_measured(emu);
	test_fault(emu);
	test_delete_cpu_part(emu);
	dsa_emu_stop(emu);
	test_wake_cpu_part();
	runtime_delete(rt);
	td_log("test_dsa_hybrid: all passed\n");
	return 0;
}
