/* test_dsa_faults.c - every fault the emulator injects, with content checks:
 * partial completion with a page fault on the read and on the write side,
 * ascending (memcpy, memset, flush) and descending (overlapping memmove
 * with dst above src), at page boundaries and at exact byte counts;
 * faults inside a batch and while reading the batch list; a part that
 * keeps faulting (finished on the CPU); real faults on never touched pages
 * (fault_nonresident); transfer-size errors (once, and always); invalid
 * flags (the future fails with VDM_ERROR_DSA_INVALID, nothing written);
 * other completion statuses (hardware error, page fault with an invalid
 * address, overlapping buffers); a device that stops answering (no
 * completion, a dropped descriptor, a paused device): the future completes
 * with VDM_ERROR_TIMEOUT when config.timeout_ns is short, and a device that
 * never answers: every later operation completes with TIMEOUT once its
 * lost descriptors hold the whole WQ (nothing is submitted into a queue
 * they may still fill), and a new mover works when the device does. */
#include "test_dsa_util.h"

static struct runtime *rt;

#define N 65536 /* one descriptor (WQ max 2 MiB) */

static struct dsa_emu_fault
fault(enum dsa_emu_fault_kind kind, uint32_t bytes_done, int exact)
{
	struct dsa_emu_fault f;

	memset(&f, 0, sizeof(f));
	f.kind = kind;
	f.bytes_done = bytes_done;
	f.exact = exact;
	return f;
}

static void
test_page_faults(void)
{
	struct dsa_emu *emu = td_emu(NULL);
	struct data_mover_dsa *d = td_mover(NULL);
	struct vdm *vdm = data_mover_dsa_get_vdm(d);
	unsigned char *a = td_alloc(2 * N), *b = td_alloc(2 * N);
	struct vdm_operation_future f;
	struct dsa_emu_fault fl;
	struct dsa_emu_stats s;
	struct td_wq_sum was;
	int side, exact;

	for (side = 0; side < 2; side++) {
		for (exact = 0; exact < 2; exact++) {
			/* not exact: moved down to the faulting side's page
			 * boundary, as hardware does */
			uint32_t want = exact ? 12345 : 8192;

			td_begin(side ? "ascending memcpy, write-side fault" :
				"ascending memcpy, read-side fault");
			td_pattern(a, N, 10u + (unsigned)side);
			memset(b, 0, N);
			fl = fault(side ? DSA_EMU_FAULT_PAGE_WRITE :
				DSA_EMU_FAULT_PAGE_READ, exact ? 12345 : 10000,
				exact);
			dsa_emu_reset_stats(emu);
			was = td_wq_sum(d);
			td_inject(emu, &fl);
			f = vdm_memcpy(vdm, b, a, N, 0);
			CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
			CHECK_PATTERN(b, N, 0, 10u + (unsigned)side);
			s = td_stats(emu);
			td_check_wq_sum(d, was, &s); /* the mover's counts */
			CHECK_EQ(s.page_faults, 1);
			CHECK_EQ(s.faults_injected, 1);
			/* the rest was resubmitted, from where it stopped */
			CHECK_EQ(s.received, 2);
			CHECK_EQ(s.errors, 1);
			CHECK_EQ(s.last_xfer_size, N - want);
			CHECK_EQ(s.bytes, N);
		}
	}

	td_begin("memset and flush: write-side / destination faults");
	fl = fault(DSA_EMU_FAULT_PAGE_WRITE, 3 * 4096 + 100, 0);
	dsa_emu_reset_stats(emu);
	td_inject(emu, &fl);
	f = vdm_memset(vdm, b, 0x3c, N, 0);
	CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
	CHECK_BYTES(b, N, 0x3c);
	s = td_stats(emu);
	CHECK_EQ(s.page_faults, 1);
	CHECK_EQ(s.received, 2);
	CHECK_EQ(s.last_xfer_size, N - 3 * 4096);
	fl = fault(DSA_EMU_FAULT_PAGE_READ, 5000, 1); /* flush: dst side */
	dsa_emu_reset_stats(emu);
	td_inject(emu, &fl);
	f = vdm_flush(vdm, b, N, 0);
	CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
	CHECK_BYTES(b, N, 0x3c);
	s = td_stats(emu);
	CHECK_EQ(s.page_faults, 1);
	CHECK_EQ(s.received, 2);
	CHECK_EQ(s.last_opcode, DSA_OPCODE_CFLUSH);
	CHECK_EQ(s.last_xfer_size, N - 5000);

	for (side = 0; side < 2; side++) {
		for (exact = 0; exact < 2; exact++) {
			/* overlapping, dst above src: the device copies from
			 * the top; bytes_done counts from the top */
			unsigned char *ref = td_alloc(N + 1000);

			td_begin(side ? "descending memmove, write-side fault" :
				"descending memmove, read-side fault");
			td_pattern(a, N + 1000, 20u + (unsigned)side);
			memcpy(ref, a, N + 1000);
			memmove(ref + 1000, ref, N);
			fl = fault(side ? DSA_EMU_FAULT_PAGE_WRITE :
				DSA_EMU_FAULT_PAGE_READ, exact ? 20001 : 20000,
				exact);
			dsa_emu_reset_stats(emu);
			td_inject(emu, &fl);
			f = vdm_memmove(vdm, a + 1000, a, N, 0);
			CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
			CHECK(memcmp(a, ref, N + 1000) == 0);
			s = td_stats(emu);
			CHECK_EQ(s.page_faults, 1);
			CHECK_EQ(s.received, 2);
			/* only the size shrank: the rest is the bottom */
			CHECK(s.last_xfer_size < N);
			CHECK(s.last_xfer_size >= N - 20001);
			CHECK_EQ(s.bytes, N);
			td_free(ref);
		}
	}

	td_begin("ascending overlapping memmove (dst below src), read fault");
	{
		unsigned char *ref = td_alloc(N + 300);

		td_pattern(a, N + 300, 31);
		memcpy(ref, a, N + 300);
		memmove(ref, ref + 300, N);
		fl = fault(DSA_EMU_FAULT_PAGE_READ, 30000, 1);
		dsa_emu_reset_stats(emu);
		td_inject(emu, &fl);
		f = vdm_memmove(vdm, a, a + 300, N, 0);
		CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
		CHECK(memcmp(a, ref, N + 300) == 0);
		s = td_stats(emu);
		CHECK_EQ(s.received, 2);
		CHECK_EQ(s.last_xfer_size, N - 30000);
		td_free(ref);
	}

	td_begin("a part that keeps faulting is finished on the CPU");
	fl = fault(DSA_EMU_FAULT_PAGE_READ, 0, 1); /* no progress at all */
	fl.count = -1;
	td_pattern(a, 8192, 40);
	memset(b, 0, 8192);
	dsa_emu_reset_stats(emu);
	td_inject(emu, &fl);
	f = vdm_memcpy(vdm, b, a, 8192, 0);
	CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
	CHECK_PATTERN(b, 8192, 0, 40);
	dsa_emu_clear_faults(emu);
	s = td_stats(emu);
	CHECK_EQ(s.received, 64); /* the header's "faults 64 times" */
	CHECK_EQ(s.page_faults, s.received);
	td_log("   gave up after %llu descriptors\n",
		(unsigned long long)s.received);

	td_free(a);
	td_free(b);
	data_mover_dsa_delete(d);
	dsa_emu_stop(emu);
}

static void
test_batch_faults(void)
{
	struct dsa_emu_config ec = {0};
	struct dsa_emu *emu;
	struct data_mover_dsa *d;
	struct vdm *vdm;
	const size_t n = 8 * 65536 + 999;
	unsigned char *a = td_alloc(n), *b = td_alloc(n);
	struct vdm_operation_future f;
	struct dsa_emu_fault fl;
	struct dsa_emu_stats s;
	struct td_wq_sum was;
	int k;

	ec.max_transfer_size = 65536;
	emu = td_emu(&ec);
	d = td_mover(NULL);
	vdm = data_mover_dsa_get_vdm(d);
	for (k = 0; k < 5; k++) {
		static const char *const names[] = {
			"page fault (read) in the 3rd batch member",
			"page fault (write) in the 1st batch member",
			"page fault in the last member of a memset batch",
			"page fault reading the batch list",
			"batch descriptor rejected (invalid flags): singles",
		};
		td_begin(names[k]);
		td_pattern(a, n, 50u + (unsigned)k);
		memset(b, 0, n);
		switch (k) {
		case 0:
			fl = fault(DSA_EMU_FAULT_PAGE_READ, 7000, 0);
			fl.op_mask = DSA_EMU_OP(DSA_OPCODE_MEMMOVE);
			fl.skip = 2;
			break;
		case 1:
			fl = fault(DSA_EMU_FAULT_PAGE_WRITE, 40000, 1);
			fl.op_mask = DSA_EMU_OP(DSA_OPCODE_MEMMOVE);
			break;
		case 2:
			fl = fault(DSA_EMU_FAULT_PAGE_WRITE, 100, 1);
			fl.op_mask = DSA_EMU_OP(DSA_OPCODE_MEMFILL);
			fl.skip = 7;
			break;
		case 3:
			fl = fault(DSA_EMU_FAULT_BATCH_LIST, 2, 0);
			break;
		default:
			fl = fault(DSA_EMU_FAULT_INVALID_FLAGS, 0, 0);
			fl.op_mask = DSA_EMU_OP(DSA_OPCODE_BATCH);
			break;
		}
		dsa_emu_reset_stats(emu);
		was = td_wq_sum(d);
		td_inject(emu, &fl);
		if (k == 2) {
			f = vdm_memset(vdm, b, 0xa5, n, 0);
			CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
			CHECK_BYTES(b, n, 0xa5);
		} else {
			f = vdm_memcpy(vdm, b, a, n, 0);
			CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
			CHECK_PATTERN(b, n, 0, 50u + (unsigned)k);
		}
		CHECK(td_guards_ok(b, n));
		s = td_stats(emu);
		if (td_portal(d) || k < 3) { /* write(): no batches */
			CHECK_EQ(s.faults_injected, 1);
			CHECK_EQ(dsa_emu_faults_pending(emu), 0);
		}
		/* a fault on the batch's list is one too (its record; the
		 * members the mover counts are those it sent) */
		CHECK_EQ(td_wq_sum(d).faults - was.faults, s.page_faults);
		dsa_emu_clear_faults(emu);
	}
	data_mover_dsa_delete(d);
	dsa_emu_stop(emu);
	td_free(a);
	td_free(b);
}

/* real faults: pages never touched are not resident; without block on
 * fault the device reports them and the mover touches them */
static void
test_nonresident(void)
{
	struct dsa_emu_config ec = {0};
	struct dsa_emu *emu;
	struct data_mover_dsa *d;
	struct vdm *vdm;
	const size_t n = 32 * 4096;
	unsigned char *a = td_alloc(n), *m;
	struct vdm_operation_future f;
	struct dsa_emu_stats s;

	td_begin("never touched pages (fault_nonresident)");
	ec.fault_nonresident = 1;
	emu = td_emu(&ec);
	d = td_mover(NULL);
	vdm = data_mover_dsa_get_vdm(d);
	m = (unsigned char *)mmap(NULL, 3 * n, PROT_READ | PROT_WRITE,
		MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(m != MAP_FAILED);
	td_pattern(a, n, 60);

	/* destination untouched: write-side faults */
	dsa_emu_reset_stats(emu);
	f = vdm_memcpy(vdm, m, a, n, 0);
	CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
	CHECK_PATTERN(m, n, 0, 60);
	s = td_stats(emu);
	CHECK(s.page_faults >= 1);
	CHECK_EQ(s.faults_injected, 0);
	td_log("   memcpy to %zu untouched pages: %llu page faults\n",
		n / 4096, (unsigned long long)s.page_faults);

	/* source untouched (reads as zeros): read-side faults */
	dsa_emu_reset_stats(emu);
	f = vdm_memcpy(vdm, a, m + n, n, 0);
	CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
	CHECK_BYTES(a, n, 0);
	s = td_stats(emu);
	CHECK(s.page_faults >= 1);

	/* memset onto untouched pages */
	dsa_emu_reset_stats(emu);
	f = vdm_memset(vdm, m + 2 * n, 0x71, n, 0);
	CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
	CHECK_BYTES(m + 2 * n, n, 0x71);
	s = td_stats(emu);
	CHECK(s.page_faults >= 1);

	munmap(m, 3 * n);
	td_free(a);
	data_mover_dsa_delete(d);
	dsa_emu_stop(emu);
}

/* pages no touch can fault in: a touch would kill the process with
 * SIGSEGV; the future fails with VDM_ERROR_DSA_PAGE_FAULT instead */
static void
test_bad_pages(void)
{
	struct dsa_emu_config ec = {0};
	struct dsa_emu *emu;
	struct data_mover_dsa *d;
	struct vdm *vdm;
	const size_t n = 3 * 65536;
	unsigned char *a = td_alloc(n), *m;
	struct vdm_operation_future f;
	int k;

	ec.max_transfer_size = 65536; /* 3 parts: a batch of them */
	emu = td_emu(&ec);
	d = td_mover(NULL);
	vdm = data_mover_dsa_get_vdm(d);
	td_pattern(a, n, 61);
	for (k = 0; k < 8; k++) {
		static const char *const names[] = {
			"memcpy from an unmapped page: DSA page fault",
			"memcpy into a read-only page: DSA page fault",
			"memset onto an unmapped page: DSA page fault",
			"memcpy in parts, a read-only page in the 2nd",
			"memcpy in parts, an unmapped source page in the 3rd",
			"flush of a range with an unmapped page",
			"memcpy from a PROT_NONE (guard) page: DSA page fault",
			"memcpy into a PROT_NONE (guard) page: DSA page fault",
		};
		int parts = k == 3 || k == 4, ro = k == 1 || k == 3;
		int guard = k >= 6; /* madvise says EINVAL, as for I/O maps */
		size_t len = parts ? n : 3 * 4096;
		/* the bad page: the middle one, or in the 2nd / 3rd part */
		size_t bad = k == 3 ? 65536 + 8192 : k == 4 ? 2 * 65536 :
			4096;

		td_begin(names[k]);
		m = (unsigned char *)mmap(NULL, n, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		CHECK(m != MAP_FAILED);
		memset(m, 0x3e, n);
		if (ro || guard)
			CHECK(mprotect(m + bad, 4096, guard ? PROT_NONE :
				PROT_READ) == 0);
		else
			CHECK(munmap(m + bad, 4096) == 0);
		switch (k) {
		case 0:
		case 4:
		case 6:
			f = vdm_memcpy(vdm, a, m, len, 0);
			break;
		case 2:
			f = vdm_memset(vdm, m, 0x12, len, 0);
			break;
		case 5:
			f = vdm_flush(vdm, m, len, 0);
			break;
		default:
			f = vdm_memcpy(vdm, m, a, len, 0);
			break;
		}
		CHECK_RES(td_wait(rt, &f), VDM_ERROR_DSA_PAGE_FAULT);
		if (guard)
			CHECK(mprotect(m + bad, 4096, PROT_READ) == 0);
		if (ro || guard)
			CHECK_BYTES(m + bad, 4096, 0x3e); /* not written */
		munmap(m, n); /* the hole in it is no error */
		td_pattern(a, n, 61);
	}
	/* the mover still works */
	m = (unsigned char *)td_alloc(n);
	f = vdm_memcpy(vdm, m, a, n, 0);
	CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
	CHECK_PATTERN(m, n, 0, 61);
	td_free(m);
	td_free(a);
	data_mover_dsa_delete(d);
	dsa_emu_stop(emu);
}

static void
test_errors(void)
{
	struct dsa_emu *emu = td_emu(NULL);
	struct data_mover_dsa *d = td_mover(NULL);
	struct vdm *vdm = data_mover_dsa_get_vdm(d);
	unsigned char *a = td_alloc(N), *b = td_alloc(N);
	struct vdm_operation_future f;
	struct dsa_emu_fault fl;
	struct dsa_emu_stats s;
	int k;

	td_begin("transfer size error once: split and retried");
	td_pattern(a, N, 70);
	memset(b, 0, N);
	fl = fault(DSA_EMU_FAULT_XFER_SIZE, 0, 0);
	/* what has a transfer size: not the batch descriptor itself */
	fl.op_mask = DSA_EMU_OP(DSA_OPCODE_MEMMOVE) |
		DSA_EMU_OP(DSA_OPCODE_MEMFILL) | DSA_EMU_OP(DSA_OPCODE_CFLUSH);
	dsa_emu_reset_stats(emu);
	td_inject(emu, &fl);
	f = vdm_memcpy(vdm, b, a, N, 0);
	CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
	CHECK_PATTERN(b, N, 0, 70);
	s = td_stats(emu);
	CHECK_EQ(s.errors, 1);
	CHECK(s.received >= 2);

	td_begin("transfer size error always: finished on the CPU");
	td_pattern(a, N, 71);
	memset(b, 0, N);
	fl.count = -1;
	dsa_emu_reset_stats(emu);
	td_inject(emu, &fl);
	f = vdm_memcpy(vdm, b, a, N, 0);
	CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
	CHECK_PATTERN(b, N, 0, 71);
	f = vdm_memset(vdm, b, 9, N, 0);
	CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
	CHECK_BYTES(b, N, 9);
	dsa_emu_clear_faults(emu);
	s = td_stats(emu);
	CHECK_EQ(s.errors, s.received);
	td_log("   %llu descriptors refused\n", (unsigned long long)s.received);

	for (k = 0; k < 3; k++) {
		td_begin(k == 0 ? "invalid flags: memcpy fails, nothing written" :
			k == 1 ? "invalid flags: memset fails, nothing written" :
			"invalid flags: flush fails");
		td_pattern(a, N, 72);
		memset(b, 0x44, N);
		fl = fault(DSA_EMU_FAULT_INVALID_FLAGS, 0, 0);
		dsa_emu_reset_stats(emu);
		td_inject(emu, &fl);
		if (k == 0)
			f = vdm_memcpy(vdm, b, a, N, 0);
		else if (k == 1)
			f = vdm_memset(vdm, b, 0, N, 0);
		else
			f = vdm_flush(vdm, b, N, 0);
		CHECK_RES(td_wait(rt, &f), VDM_ERROR_DSA_INVALID);
		CHECK_BYTES(b, N, 0x44);
		s = td_stats(emu);
		CHECK_EQ(s.received, 1);
		CHECK_EQ(s.last_status, DSA_COMP_INVALID_FLAGS);
	}
	/* the mover goes on working */
	f = vdm_memcpy(vdm, b, a, N, 0);
	CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
	CHECK_PATTERN(b, N, 0, 72);

	td_begin("other completion statuses");
	{
		static const struct {
			uint8_t status;
			enum vdm_operation_result want;
		} cases[] = {
			{ DSA_COMP_HW_ERR1, VDM_ERROR_DSA_HARDWARE },
			{ DSA_COMP_HW_ERR_DRB, VDM_ERROR_DSA_HARDWARE },
			{ DSA_COMP_PAGE_FAULT_IR, VDM_ERROR_DSA_PAGE_FAULT },
			{ DSA_COMP_TRANSLATION_FAIL, VDM_ERROR_DSA_PAGE_FAULT },
			{ DSA_COMP_BAD_OPCODE, VDM_ERROR_DSA_INVALID },
			{ DSA_COMP_NOZERO_RESERVE, VDM_ERROR_DSA_INVALID },
			{ DSA_COMP_ADDR_ALIGN, VDM_ERROR_DSA_INVALID },
			{ DSA_COMP_OVERLAP_BUFFERS, VDM_SUCCESS }, /* CPU */
			{ DSA_COMP_SUCCESS_PRED, VDM_SUCCESS },
		};
		size_t i;

		for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			td_pattern(a, N, 80u + (unsigned)i);
			memset(b, 0, N);
			fl = fault(DSA_EMU_FAULT_STATUS, 0, 0);
			fl.status = cases[i].status;
			td_inject(emu, &fl);
			f = vdm_memcpy(vdm, b, a, N, 0);
			CHECK_RES(td_wait(rt, &f), cases[i].want);
			if (cases[i].status == DSA_COMP_OVERLAP_BUFFERS)
				CHECK_PATTERN(b, N, 0, 80u + (unsigned)i);
		}
	}
	td_free(a);
	td_free(b);
	data_mover_dsa_delete(d);
	dsa_emu_stop(emu);
}

/* an operation that must succeed on a mover with a short timeout: the
 * mover's clock stands still meanwhile, so however long the emulator's
 * thread waits for a CPU (a loaded machine), it cannot time out; a wedged
 * mover would hang here (the test's timeout) instead */
static void
must_succeed(struct vdm *vdm, unsigned char *b, size_t n, int c)
{
	struct vdm_operation_future f;

	td_clock_fake(td_coarse_ns(), 0);
	f = vdm_memset(vdm, b, c, n, 0);
	CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
	td_clock_real();
	CHECK_BYTES(b, n, c);
}

static void
test_timeouts(void)
{
	struct dsa_emu_config ec = {0};
	struct data_mover_dsa_config mc = {0};
	struct dsa_emu *emu;
	struct data_mover_dsa *d;
	struct vdm *vdm;
	unsigned char *a = td_alloc(N), *b = td_alloc(N);
	struct vdm_operation_future f;
	struct dsa_emu_fault fl;
	struct dsa_emu_stats s;
	uint64_t t0, ct0, dt;
	const uint64_t tmo = 100000000; /* 100 ms */
	int k;

	ec.wq_size = 4;
	emu = td_emu(&ec);
	mc.timeout_ns = tmo;
	d = td_mover(&mc);
	vdm = data_mover_dsa_get_vdm(d);
	td_pattern(a, N, 90);
	for (k = 0; k < 4; k++) {
		static const char *const names[] = {
			"no completion (runtime_wait): VDM_ERROR_TIMEOUT",
			"no completion (busy poll): VDM_ERROR_TIMEOUT",
			"descriptor dropped: VDM_ERROR_TIMEOUT",
			"device paused: VDM_ERROR_TIMEOUT",
		};
		td_begin(names[k]);
		dsa_emu_reset_stats(emu);
		if (k == 3) {
			dsa_emu_pause(emu, -1, 1);
		} else {
			fl = fault(k == 2 ? DSA_EMU_FAULT_DROP :
				DSA_EMU_FAULT_NO_COMPLETION, 0, 0);
			td_inject(emu, &fl);
		}
		/* the mover's own clock (white box): a coarse one lags the
		 * fine one by up to a tick, so only it bounds the wait below */
		t0 = td_coarse_ns();
		ct0 = td_now_ns();
		f = vdm_memcpy(vdm, b, a, N, 0);
		if (k == 1)
			CHECK_RES(td_busy(&f), VDM_ERROR_TIMEOUT);
		else
			CHECK_RES(td_wait(rt, &f), VDM_ERROR_TIMEOUT);
		dt = td_coarse_ns() - t0;
		CHECK(dt > tmo);
		/* a bound on the wait, not a speed: the runtime must see the
		 * timeout with nothing to wake it */
		CHECK(td_now_ns() - ct0 < td_hang_ns());
		if (k == 3) {
			/* it runs when the device resumes; b must live on */
			dsa_emu_pause(emu, -1, 0);
			td_settle(emu);
		}
		/* the emulator may take the descriptor after the timeout
		 * (a loaded machine): wait for it, bounded */
		for (t0 = td_now_ns(); td_stats(emu).received == 0 &&
				td_now_ns() - t0 < td_hang_ns();)
			td_sleep_us(100);
		s = td_stats(emu);
		CHECK_EQ(s.received, 1);
		CHECK_EQ(s.swallowed, k < 2);
		CHECK_EQ(s.dropped, k == 2);
		must_succeed(vdm, b, N, 1 + k);
	}

	td_begin("a device that never answers: every operation times out");
	{
		enum { NOPS = 12 };
		struct vdm_operation_future fs[NOPS];
		struct future *ff[NOPS];
		int i;

		dsa_emu_reset_stats(emu);
		fl = fault(DSA_EMU_FAULT_NO_COMPLETION, 0, 0);
		fl.count = -1;
		td_inject(emu, &fl);
		for (i = 0; i < NOPS; i++) {
			fs[i] = vdm_memcpy(vdm, b, a, 4096, 0);
			ff[i] = FUTURE_AS_RUNNABLE(&fs[i]);
		}
		CHECK_EQ(runtime_wait_multiple_for(rt, ff, NOPS,
			td_hang_ns()), 0);
		/* the first 4 (WQ size) time out and keep their entries:
		 * the device may still hold them; then no room is left */
		for (i = 0; i < NOPS; i++)
			CHECK_RES(FUTURE_OUTPUT(&fs[i])->result,
				VDM_ERROR_TIMEOUT);
		s = td_stats(emu);
		CHECK_EQ(s.received, 4);
		CHECK_EQ(s.dropped, 0);
		/* later ones too, at once */
		for (i = 0; i < 6; i++) {
			f = vdm_memcpy(vdm, b, a, 4096, 0);
			CHECK_EQ(runtime_wait_for(rt, FUTURE_AS_RUNNABLE(&f),
				td_hang_ns()), 0);
			CHECK_RES(FUTURE_OUTPUT(&f)->result, VDM_ERROR_TIMEOUT);
		}
		CHECK_EQ(td_stats(emu).received, 4);
		dsa_emu_clear_faults(emu);
		/* the device answers again: a new mover works (closing the
		 * WQ is what drains a real device) */
		data_mover_dsa_delete(d);
		d = td_mover(&mc);
		vdm = data_mover_dsa_get_vdm(d);
		must_succeed(vdm, b, N, 0x99);
	}
	data_mover_dsa_delete(d);
	dsa_emu_stop(emu);
	td_free(a);
	td_free(b);
}

int
main(void)
{
	td_enter("test_dsa_faults");
	rt = runtime_new();
	CHECK(rt != NULL);
	test_page_faults();
	test_batch_faults();
	test_nonresident();
	test_bad_pages();
	test_errors();
	test_timeouts();
	runtime_delete(rt);
	td_log("test_dsa_faults: all passed\n");
	return 0;
}
