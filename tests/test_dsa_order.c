/* test_dsa_order.c - batch members run out of list order, as a device may
 * run them (it processes a batch's descriptors in any order and at once;
 * only a fenced one waits for those before it). The emulator runs them in
 * reverse and in a shuffled order (dsa_emu_config.batch_order), and
 * records the order (dsa_emu_batch_order): every case checks that its
 * batch really ran out of order, so a test against an emulator that
 * ignores the order fails.
 * - the emulator alone (raw descriptors): the members ran in the order it
 *   recorded, fences split the list into runs (the fenced member after
 *   every one before it), a fence after a failed member abandons the
 *   rest, a list fault runs only the members it could read, a halt stops
 *   a batch where it is;
 * - the mover coalescing small operations (batch_max 32), each future
 *   checked, with its destination, as soon as it is seen complete (the
 *   rest of its batch may still be running): memcpy / memset / memmove /
 *   flush mixes; a page fault (read side, write side) in one member; a
 *   member failing with invalid flags (it alone fails); futures cancelled
 *   while pending (not written, the rest of the batch goes); the device
 *   halting before the batch's last member ran: the mover's timeout (the
 *   test clock) fails every member, none of them reports success for
 *   bytes the device did not write.
 * The test clock stands still unless the halt case moves it, the device
 * is paused while a batch is built: no verdict depends on timing.
 * Usage: test_dsa_order [reverse|shuffle [CASE]] (default: both orders,
 * every case; CASE: a prefix of a case's name). */
#include "test_dsa_util.h"

#ifndef IDXD_OP_FLAG_ADDR3_TCS
#define IDXD_OP_FLAG_ADDR3_TCS 0x0800
#endif

static struct runtime *rt;
static int order;              /* DSA_EMU_BATCH_REVERSE / _SHUFFLE */
static const char *only;       /* run the cases whose name starts so */
static unsigned ran_cases;

#define SEED 0x5eed1234u       /* batch_seed: the same orders every run */
#define SLOT 16384             /* bytes of buffer per operation */
#define NMAX 24                /* operations per case */
#define MAXIDX 64

static int
want_case(const char *name)
{
	if (only != NULL && strncmp(name, only, strlen(only)) != 0)
		return 0;
	td_begin(name);
	ran_cases++;
	return 1;
}

static const char *
order_name(void)
{
	return order == DSA_EMU_BATCH_REVERSE ? "reverse" : "shuffle";
}

/* ---- the order recorded by the emulator -------------------------------- */

/* The last batch ran n members, `idx` in the order they ran: distinct
 * list indices below cnt; a fenced member (fenced[i]) after every member
 * listed before it and before every member listed after it. With `full`
 * (every member of a run with two to reorder ran): not list order, and
 * in reverse exactly the runs reversed. */
static void
check_order(struct dsa_emu *emu, unsigned cnt, unsigned n, const int *fenced,
	int full)
{
	unsigned idx[MAXIDX], pos[MAXIDX], k, i, j;
	int seen[MAXIDX] = {0}, inorder = 1;
	struct dsa_emu_stats s;

	CHECK(cnt <= MAXIDX);
	CHECK_EQ(dsa_emu_batch_order(emu, -1, idx, MAXIDX), n);
	td_log("   ran:");
	for (k = 0; k < n; k++)
		td_log(" %u", idx[k]);
	td_log(" (of %u)\n", cnt);
	for (k = 0; k < n; k++) {
		CHECK(idx[k] < cnt);
		CHECK(!seen[idx[k]]);
		seen[idx[k]] = 1;
		pos[idx[k]] = k;
		inorder &= idx[k] == k;
	}
	for (i = 0; fenced != NULL && i < cnt; i++) {
		if (!fenced[i] || !seen[i])
			continue;
		for (j = 0; j < cnt; j++)
			if (seen[j] && j != i)
				CHECK(j < i ? pos[j] < pos[i] : pos[j] > pos[i]);
	}
	if (!full)
		return;
	/* the emulator took the order asked for */
	CHECK(!inorder);
	dsa_emu_get_stats(emu, -1, &s);
	CHECK(s.batch_reordered >= 1);
	if (order == DSA_EMU_BATCH_REVERSE) {
		/* the plan over the cnt members: each run (a fence starts
		 * one, its fenced member first) reversed; n of it ran */
		unsigned plan[MAXIDX], st = 0, e, a;

		while (st < cnt) {
			for (e = st + 1; e < cnt && !(fenced != NULL &&
					fenced[e]); e++)
				;
			a = fenced != NULL && fenced[st] ? st + 1 : st;
			if (a > st)
				plan[st] = st;
			for (k = a; k < e; k++)
				plan[k] = a + e - 1 - k;
			st = e;
		}
		for (k = 0; k < n; k++)
			CHECK_EQ(idx[k], plan[k]);
	}
}

/* ---- the emulator alone: raw descriptors through its trapped portal ---- */

#define RFLAGS (IDXD_OP_FLAG_CRAV | IDXD_OP_FLAG_RCR)

struct raw {
	struct dsa_emu *emu;
	struct dsa_hw_desc *list;             /* MAXIDX, 64-byte aligned */
	struct dsa_completion_record *recs;   /* MAXIDX + 1, the batch's last */
	unsigned char *src, *dst;             /* MAXIDX * 4096 */
	uint64_t sent;
};

static void
raw_desc(struct dsa_hw_desc *d, unsigned op, uint32_t flags,
	struct dsa_completion_record *rec, void *dst, const void *src,
	uint32_t n, uint64_t pattern)
{
	memset(d, 0, sizeof(*d));
	d->opcode = (uint8_t)op;
	d->flags = flags;
	d->completion_addr = (uint64_t)(uintptr_t)rec;
	d->dst_addr = (uint64_t)(uintptr_t)dst;
	if (op == DSA_OPCODE_MEMMOVE)
		d->src_addr = (uint64_t)(uintptr_t)src;
	else
		d->pattern = pattern;
	d->xfer_size = n;
	/* the emulator's happens-before edge (dsa_emu.h, ThreadSanitizer) */
	__atomic_store_n(&rec->status, 0, __ATOMIC_RELEASE);
}

static uint8_t
raw_status(const struct dsa_completion_record *r)
{
	return __atomic_load_n(&r->status, __ATOMIC_ACQUIRE);
}

/* submits a batch of the first cnt descriptors of the list, waits until
 * the emulator disposed of it; returns the batch's status (0: none) */
static uint8_t
raw_batch(struct raw *r, unsigned cnt)
{
	struct dsa_hw_desc b __attribute__((aligned(64)));
	struct dsa_completion_record *br = &r->recs[MAXIDX];

	memset(&b, 0, sizeof(b));
	b.opcode = DSA_OPCODE_BATCH;
	b.flags = RFLAGS;
	b.desc_list_addr = (uint64_t)(uintptr_t)r->list;
	b.desc_count = cnt;
	b.completion_addr = (uint64_t)(uintptr_t)br;
	__atomic_store_n(&br->status, 0, __ATOMIC_RELEASE);
	CHECK(dsa_emu_portal_write(r->emu, 0, &b, 0) == 0);
	r->sent++;
	td_wait_processed(r->emu, r->sent);
	return raw_status(br);
}

/* MEMMOVE i: 4 KiB from src slot i to dst slot i */
static void
raw_moves(struct raw *r, unsigned cnt, unsigned seed)
{
	unsigned i;

	td_pattern(r->src, (size_t)cnt * 4096, seed);
	memset(r->dst, 0, (size_t)cnt * 4096);
	for (i = 0; i < cnt; i++)
		raw_desc(&r->list[i], DSA_OPCODE_MEMMOVE, RFLAGS, &r->recs[i],
			r->dst + (size_t)i * 4096, r->src + (size_t)i * 4096,
			4096, 0);
}

static void
raw_check_moved(struct raw *r, unsigned i, int ran, unsigned seed)
{
	if (ran) {
		CHECK_EQ(raw_status(&r->recs[i]), DSA_COMP_SUCCESS);
		CHECK_PATTERN(r->dst + (size_t)i * 4096, 4096,
			(size_t)i * 4096, seed);
	} else {
		CHECK_EQ(raw_status(&r->recs[i]), 0);
		CHECK_BYTES(r->dst + (size_t)i * 4096, 4096, 0);
		CHECK_EQ(dsa_emu_written(r->emu, r->dst + (size_t)i * 4096,
			4096), 0);
	}
}

static void
test_raw(void)
{
	struct dsa_emu_config ec = {0};
	struct dsa_emu_fault fl;
	struct dsa_emu_stats s;
	unsigned idx[MAXIDX], i, n;
	int fenced[MAXIDX];
	struct raw r;
	unsigned char *shared;

	/* descriptors handed to the emulator directly (trap_portal): any CPU */
	ec.trap_portal = 1;
	ec.wq_size = 64;
	ec.track_writes = 1;
	ec.batch_order = order;
	ec.batch_seed = SEED;
	r.emu = dsa_emu_start(&ec);
	CHECK(r.emu != NULL);
	r.list = (struct dsa_hw_desc *)aligned_alloc(64, MAXIDX * 64);
	/* (a multiple of the alignment, as aligned_alloc wants) */
	r.recs = (struct dsa_completion_record *)aligned_alloc(64,
		(MAXIDX + 2) * 32);
	CHECK(r.list != NULL && r.recs != NULL);
	r.src = td_alloc(MAXIDX * 4096);
	r.dst = td_alloc(MAXIDX * 4096);
	shared = td_alloc(64);
	r.sent = 0;

	if (want_case("raw: fills of one range, the last to run wins")) {
		dsa_emu_reset_stats(r.emu);
		r.sent = 0;
		memset(shared, 0, 64);
		for (i = 0; i < 8; i++)
			raw_desc(&r.list[i], DSA_OPCODE_MEMFILL, RFLAGS,
				&r.recs[i], shared, NULL, 64,
				0x0101010101010101ull * (0x10 + i));
		CHECK_EQ(raw_batch(&r, 8), DSA_COMP_SUCCESS);
		CHECK_EQ(r.recs[MAXIDX].bytes_completed, 8);
		for (i = 0; i < 8; i++)
			CHECK_EQ(raw_status(&r.recs[i]), DSA_COMP_SUCCESS);
		check_order(r.emu, 8, 8, NULL, 1);
		n = dsa_emu_batch_order(r.emu, -1, idx, MAXIDX);
		/* the order recorded is the order they ran */
		CHECK_BYTES(shared, 64, 0x10 + idx[n - 1]);
		s = td_stats(r.emu);
		CHECK_EQ(s.batch_members, 8);
		CHECK_EQ(s.member_records, 8);
		CHECK_EQ(s.rewrites, 7);
	}

	if (want_case("raw: fences split the batch into runs")) {
		dsa_emu_reset_stats(r.emu);
		r.sent = 0;
		memset(shared, 0, 64);
		memset(fenced, 0, sizeof(fenced));
		fenced[3] = fenced[6] = 1;
		for (i = 0; i < 8; i++)
			raw_desc(&r.list[i], DSA_OPCODE_MEMFILL, RFLAGS |
				(fenced[i] ? IDXD_OP_FLAG_FENCE : 0),
				&r.recs[i], shared, NULL, 64,
				0x0101010101010101ull * (0x20 + i));
		CHECK_EQ(raw_batch(&r, 8), DSA_COMP_SUCCESS);
		check_order(r.emu, 8, 8, fenced, 1);
		n = dsa_emu_batch_order(r.emu, -1, idx, MAXIDX);
		CHECK_EQ(idx[n - 1], 7); /* the last run: 6 (fenced), then 7 */
		CHECK_BYTES(shared, 64, 0x27);
		s = td_stats(r.emu);
		CHECK_EQ(s.flag_fence, 2);
		CHECK_EQ(s.batch_members, 8);
	}

	if (want_case("raw: a fence after a failed member abandons the rest")) {
		dsa_emu_reset_stats(r.emu);
		r.sent = 0;
		memset(fenced, 0, sizeof(fenced));
		fenced[4] = 1;
		raw_moves(&r, 6, 71);
		r.list[1].flags |= IDXD_OP_FLAG_ADDR3_TCS; /* invalid */
		r.list[4].flags |= IDXD_OP_FLAG_FENCE;
		CHECK_EQ(raw_batch(&r, 6), DSA_COMP_BATCH_FAIL);
		CHECK_EQ(r.recs[MAXIDX].bytes_completed, 3);
		check_order(r.emu, 6, 4, fenced, 1);
		CHECK_EQ(raw_status(&r.recs[1]), DSA_COMP_INVALID_FLAGS);
		CHECK_EQ(r.recs[1].invalid_flags, IDXD_OP_FLAG_ADDR3_TCS);
		CHECK_BYTES(r.dst + 4096, 4096, 0);
		for (i = 0; i < 6; i++)
			if (i != 1)
				raw_check_moved(&r, i, i < 4, 71);
		s = td_stats(r.emu);
		CHECK_EQ(s.batch_members, 4);
		CHECK_EQ(s.halted_members, 0);
	}

	if (want_case("raw: a list fault: only the members read ran")) {
		dsa_emu_reset_stats(r.emu);
		r.sent = 0;
		raw_moves(&r, 6, 72);
		memset(&fl, 0, sizeof(fl));
		fl.kind = DSA_EMU_FAULT_BATCH_LIST;
		fl.bytes_done = 3;
		td_inject(r.emu, &fl);
		CHECK_EQ(raw_batch(&r, 6), DSA_COMP_BATCH_PAGE_FAULT);
		CHECK_EQ(r.recs[MAXIDX].bytes_completed, 3);
		/* the plan: the 3 read */
		check_order(r.emu, 3, 3, NULL, 1);
		for (i = 0; i < 6; i++)
			raw_check_moved(&r, i, i < 3, 72);
		dsa_emu_clear_faults(r.emu);
	}

	if (want_case("raw: a halt before the last member to run")) {
		dsa_emu_reset_stats(r.emu);
		r.sent = 0;
		raw_moves(&r, 6, 73);
		memset(&fl, 0, sizeof(fl));
		fl.kind = DSA_EMU_FAULT_HALT;
		fl.op_mask = DSA_EMU_OP(DSA_OPCODE_MEMMOVE);
		fl.skip = 5;
		td_inject(r.emu, &fl);
		CHECK_EQ(raw_batch(&r, 6), 0); /* never completes */
		/* 5 ran: a prefix of an order other than the list's is
		 * never the list's */
		check_order(r.emu, 6, 5, NULL, 1);
		n = dsa_emu_batch_order(r.emu, -1, idx, MAXIDX);
		memset(fenced, 0, sizeof(fenced)); /* here: which ran */
		for (i = 0; i < n; i++)
			fenced[idx[i]] = 1;
		for (i = 0; i < 6; i++)
			raw_check_moved(&r, i, fenced[i], 73);
		if (order == DSA_EMU_BATCH_REVERSE)
			CHECK(!fenced[0]);
		s = td_stats(r.emu);
		CHECK_EQ(s.batch_members, 5);
		CHECK_EQ(s.halted_members, 1);
		CHECK_EQ(s.member_records, 5);
		CHECK_EQ(s.swallowed, 1);
		CHECK_EQ(s.rewrites, 0);
		CHECK_EQ(dsa_emu_faults_pending(r.emu), 0);
		CHECK_EQ(dsa_emu_device_halt(r.emu, 0, 0), 0);
	}

	dsa_emu_stop(r.emu);
	free(r.list);
	free(r.recs);
	td_free(r.src);
	td_free(r.dst);
	td_free(shared);
}

/* ---- the mover --------------------------------------------------------- */

enum kind { K_COPY = 'C', K_SET = 'S', K_MOVE = 'M', K_FLUSH = 'F' };

/* A case: operations 0 .. n-1 of the kinds in `kinds`; op 0 goes alone
 * (the WQ is busy with it), the others wait in the pending batch and go
 * as one batch descriptor (list index = op - 1 minus the cancelled ones
 * before it). */
struct set {
	struct data_mover_dsa *d;
	int n;
	char kind[NMAX];
	size_t len[NMAX];
	enum vdm_operation_result want[NMAX];
	int cancel[NMAX];
	int checked[NMAX];
	struct vdm_operation_future f[NMAX];
	unsigned char *src, *dst;
	unsigned seed;
	uint64_t bytes; /* the device moves / fills / flushes (want SUCCESS) */
};

static unsigned char
set_byte(const struct set *s, int i)
{
	return (unsigned char)(0x40 + s->seed + (unsigned)i);
}

static void
set_make(struct set *s, struct data_mover_dsa *d, const char *kinds,
	unsigned seed)
{
	int i;

	memset(s, 0, sizeof(*s));
	s->d = d;
	s->n = (int)strlen(kinds);
	CHECK(s->n >= 3 && s->n <= NMAX);
	s->seed = seed;
	s->src = td_alloc((size_t)NMAX * SLOT);
	s->dst = td_alloc((size_t)NMAX * SLOT);
	td_pattern(s->src, (size_t)NMAX * SLOT, seed);
	for (i = 0; i < s->n; i++) {
		s->kind[i] = kinds[i];
		/* 1 B .. 3 pages and a bit, odd sizes */
		s->len[i] = 1 + ((size_t)i * 2741u + seed * 13u) % (3 * 4096);
		s->want[i] = VDM_SUCCESS;
		if (kinds[i] == K_FLUSH) /* a flush leaves the bytes */
			td_pattern(s->dst + (size_t)i * SLOT, SLOT, seed + 1);
		else
			memset(s->dst + (size_t)i * SLOT, 0, SLOT);
	}
}

static void
set_start(struct set *s)
{
	struct vdm *vdm = data_mover_dsa_get_vdm(s->d);
	int i;

	s->bytes = 0;
	for (i = 0; i < s->n; i++) {
		unsigned char *dst = s->dst + (size_t)i * SLOT;
		unsigned char *src = s->src + (size_t)i * SLOT;

		switch (s->kind[i]) {
		case K_COPY:
			s->f[i] = vdm_memcpy(vdm, dst, src, s->len[i], 0);
			break;
		case K_MOVE: /* no overlap: a batch member too */
			s->f[i] = vdm_memmove(vdm, dst, src, s->len[i], 0);
			break;
		case K_SET:
			s->f[i] = vdm_memset(vdm, dst, set_byte(s, i),
				s->len[i], 0);
			break;
		default:
			s->f[i] = vdm_flush(vdm, dst, s->len[i], 0);
			break;
		}
		if (s->want[i] == VDM_SUCCESS)
			s->bytes += s->len[i];
	}
}

/* op i's destination holds what it would after the operation (done) or
 * before it (!done) */
static void
set_check_dst(const struct set *s, int i, int done)
{
	const unsigned char *p = s->dst + (size_t)i * SLOT;
	size_t n = s->len[i];

	if (s->kind[i] == K_FLUSH) {
		CHECK_PATTERN(p, SLOT, 0, s->seed + 1);
	} else if (!done) {
		CHECK_BYTES(p, SLOT, 0);
	} else {
		if (s->kind[i] == K_SET)
			CHECK_BYTES(p, n, set_byte(s, i));
		else
			CHECK_PATTERN(p, n, (size_t)i * SLOT, s->seed);
		CHECK_BYTES(p + n, SLOT - n, 0);
	}
	CHECK(td_guards_ok(s->dst, (size_t)NMAX * SLOT));
}

/* a future seen complete: its result, its destination, right now (its
 * batch may still be running) */
static void
set_check(struct set *s, int i)
{
	char what[64];

	snprintf(what, sizeof(what), "op %d (%c) result", i, s->kind[i]);
	if (FUTURE_OUTPUT(&s->f[i])->result != s->want[i])
		td_fail(__FILE__, __LINE__, what,
			vdm_result_str(FUTURE_OUTPUT(&s->f[i])->result));
	set_check_dst(s, i, s->want[i] == VDM_SUCCESS);
	s->checked[i] = 1;
}

/* Polls the futures not yet checked until each completes, checking each
 * when first seen complete; advance_ns: the test clock moves this much
 * per round (the halt case's timeout), else it stands still. */
static void
set_wait(struct set *s, uint64_t advance_ns)
{
	uint64_t t0 = td_now_ns();
	int left, i;

	for (;;) {
		left = 0;
		for (i = 0; i < s->n; i++) {
			if (s->checked[i])
				continue;
			if (future_poll(FUTURE_AS_RUNNABLE(&s->f[i]), NULL) ==
					FUTURE_STATE_COMPLETE)
				set_check(s, i);
			else
				left++;
		}
		if (left == 0)
			return;
		if (td_now_ns() - t0 > td_hang_ns()) {
			fprintf(stderr, "[%s] %d operation(s) never completed\n",
				td_case, left);
			exit(1);
		}
		if (advance_ns != 0)
			td_clock_advance(advance_ns);
		td_sleep_us(100);
	}
}

/* op 0 alone, the others (but the cancelled ones) one batch */
static void
set_run_batch(struct dsa_emu *emu, struct set *s)
{
	int i, ncancel = 0;

	dsa_emu_pause(emu, -1, 1);
	set_start(s);
	for (i = 0; i < s->n; i++)
		CHECK(future_poll(FUTURE_AS_RUNNABLE(&s->f[i]), NULL) ==
			FUTURE_STATE_RUNNING);
	CHECK_EQ(td_npend(s->d), s->n - 1);
	for (i = 1; i < s->n; i++) {
		if (!s->cancel[i])
			continue;
		CHECK_EQ(vdm_cancel(&s->f[i]), 0); /* still pending */
		CHECK(FUTURE_STATE(&s->f[i]) == FUTURE_STATE_COMPLETE);
		set_check(s, i);
		ncancel++;
	}
	CHECK_EQ(td_npend(s->d), s->n - 1 - ncancel);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&s->f[0]), NULL) ==
		FUTURE_STATE_RUNNING); /* sends the pending batch */
	CHECK_EQ(td_npend(s->d), 0);
	td_wait_received(emu, 2);
	dsa_emu_pause(emu, -1, 0);
}

/* one batch of `members` went, it really ran out of order */
static struct dsa_emu_stats
set_stats(struct dsa_emu *emu, const struct set *s, unsigned members)
{
	struct dsa_emu_stats st = td_stats(emu);

	CHECK_EQ(st.ops[DSA_OPCODE_BATCH], 1);
	CHECK_EQ(st.batch_members, members);
	CHECK(st.batch_members > 0);
	CHECK_EQ(st.cr_not_zero, 0);
	check_order(emu, members, members, NULL, 1);
	(void)s;
	return st;
}

static void
set_free(struct set *s)
{
	td_free(s->src);
	td_free(s->dst);
}

/* The halt case: polls members 1.. until each completes, the test clock
 * moving `step` per round; checks each as seen complete (ran[i]: op i's
 * member ran before the halt) */
static void
halt_wait(struct set *s, const int *ran, uint64_t step)
{
	uint64_t t0 = td_now_ns();
	int left, i;

	do {
		left = 0;
		for (i = 1; i < s->n; i++) {
			if (s->checked[i])
				continue;
			if (future_poll(FUTURE_AS_RUNNABLE(&s->f[i]), NULL) !=
					FUTURE_STATE_COMPLETE) {
				left++;
				continue;
			}
			if (ran[i] && s->kind[i] != K_FLUSH) {
				/* its bytes are there, whatever it says */
				if (FUTURE_OUTPUT(&s->f[i])->result !=
						VDM_SUCCESS)
					CHECK_RES(FUTURE_OUTPUT(&s->f[i])->
						result, VDM_ERROR_TIMEOUT);
				set_check_dst(s, i, 1);
				s->checked[i] = 1;
			} else {
				set_check(s, i);
			}
		}
		CHECK(td_now_ns() - t0 < td_hang_ns());
		td_clock_advance(step);
		td_sleep_us(100);
	} while (left != 0);
}

static void
test_mover(void)
{
	struct dsa_emu_config ec = {0};
	struct data_mover_dsa_config mc = {0};
	struct data_mover_dsa *d;
	struct dsa_emu *emu;
	struct dsa_emu_fault fl;
	struct dsa_emu_stats st;
	struct set s;
	int i;

	ec.wq_size = 64;
	ec.track_writes = 1;
	ec.batch_order = order;
	ec.batch_seed = SEED;
	emu = td_emu(&ec);
	mc.batch_max = 32;
	mc.timeout_ns = 1000000000ull; /* on the test clock */
	d = td_mover(&mc);
	CHECK(td_portal(d)); /* batches go through a portal only */

	if (want_case("mover: memcpy / memset / memmove / flush mixed")) {
		dsa_emu_reset_stats(emu);
		set_make(&s, d, "CSMFCCSMFSMCFSCMSC", 1);
		set_run_batch(emu, &s);
		set_wait(&s, 0);
		st = set_stats(emu, &s, (unsigned)s.n - 1);
		CHECK_EQ(st.received, 2);
		CHECK_EQ(st.bytes, s.bytes);
		CHECK_EQ(st.errors, 0);
		CHECK_EQ(st.member_records, 0); /* members go without RCR */
		CHECK_EQ(st.rewrites, 0);
		set_free(&s);
	}

	if (want_case("mover: a read page fault in the one memcpy")) {
		dsa_emu_reset_stats(emu);
		set_make(&s, d, "SSFSSSCSSFSS", 2);
		s.len[6] = 3 * 4096 + 100;
		memset(&fl, 0, sizeof(fl));
		fl.kind = DSA_EMU_FAULT_PAGE_READ;
		fl.op_mask = DSA_EMU_OP(DSA_OPCODE_MEMMOVE);
		fl.bytes_done = 5000; /* down to the page: 4096 */
		td_inject(emu, &fl);
		set_run_batch(emu, &s);
		set_wait(&s, 0);
		st = set_stats(emu, &s, (unsigned)s.n - 1);
		CHECK_EQ(st.faults_injected, 1);
		CHECK_EQ(st.page_faults, 1);
		CHECK_EQ(st.member_records, 1); /* the faulting one's */
		CHECK_EQ(st.received, 3); /* op 0, the batch, the rest of 6 */
		CHECK_EQ(st.bytes, s.bytes); /* nothing moved twice */
		CHECK_EQ(st.rewrites, 0);
		CHECK_EQ(dsa_emu_faults_pending(emu), 0);
		dsa_emu_clear_faults(emu);
		set_free(&s);
	}

	if (want_case("mover: a write page fault in the one memset")) {
		dsa_emu_reset_stats(emu);
		set_make(&s, d, "CCMFCCCMCSCFCM", 3);
		s.len[9] = 3 * 4096 + 7;
		memset(&fl, 0, sizeof(fl));
		fl.kind = DSA_EMU_FAULT_PAGE_WRITE;
		fl.op_mask = DSA_EMU_OP(DSA_OPCODE_MEMFILL);
		fl.bytes_done = 2 * 4096 + 1;
		td_inject(emu, &fl);
		set_run_batch(emu, &s);
		set_wait(&s, 0);
		st = set_stats(emu, &s, (unsigned)s.n - 1);
		CHECK_EQ(st.page_faults, 1);
		CHECK_EQ(st.member_records, 1);
		CHECK_EQ(st.received, 3);
		CHECK_EQ(st.bytes, s.bytes);
		CHECK_EQ(st.rewrites, 0);
		dsa_emu_clear_faults(emu);
		set_free(&s);
	}

	if (want_case("mover: a member failing with invalid flags")) {
		dsa_emu_reset_stats(emu);
		set_make(&s, d, "CSCCMSCCSMCC", 4);
		/* the memsets: ops 1, 5, 8 */
		memset(&fl, 0, sizeof(fl));
		fl.kind = DSA_EMU_FAULT_INVALID_FLAGS;
		fl.op_mask = DSA_EMU_OP(DSA_OPCODE_MEMFILL);
		fl.count = -1; /* each memset in the batch */
		td_inject(emu, &fl);
		for (i = 0; i < s.n; i++)
			if (s.kind[i] == K_SET)
				s.want[i] = VDM_ERROR_DSA_INVALID;
		set_run_batch(emu, &s);
		set_wait(&s, 0);
		st = set_stats(emu, &s, (unsigned)s.n - 1);
		CHECK_EQ(st.member_records, 3); /* the memsets' own */
		CHECK_EQ(st.errors, 1); /* the batch: BATCH_FAIL */
		CHECK_EQ(st.received, 2); /* none sent again */
		CHECK_EQ(st.bytes, s.bytes);
		CHECK_EQ(st.rewrites, 0);
		dsa_emu_clear_faults(emu);
		set_free(&s);
	}

	if (want_case("mover: futures cancelled before they were sent")) {
		dsa_emu_reset_stats(emu);
		set_make(&s, d, "CCSMFCCSCMCSCCFC", 5);
		s.cancel[2] = s.cancel[3] = s.cancel[7] = s.cancel[15] = 1;
		for (i = 0; i < s.n; i++)
			if (s.cancel[i])
				s.want[i] = VDM_ERROR_CANCELLED;
		set_run_batch(emu, &s);
		set_wait(&s, 0);
		st = set_stats(emu, &s, (unsigned)s.n - 1 - 4);
		CHECK_EQ(st.received, 2);
		CHECK_EQ(st.bytes, s.bytes);
		CHECK_EQ(st.rewrites, 0);
		set_free(&s);
	}

	if (want_case("mover: the device halts before the last member")) {
		unsigned idx[MAXIDX], n, members;
		int ran[NMAX] = {0};

		dsa_emu_reset_stats(emu);
		/* op 0 a memset (not counted by the halt's mask); the flush,
		 * listed last, faults (its record written: it failed): a
		 * mover taking the members listed before a written record
		 * for done (true in list order) says success for bytes the
		 * device never wrote */
		set_make(&s, d, "SCCCCCCCCCCCF", 6);
		members = (unsigned)s.n - 1;
		memset(&fl, 0, sizeof(fl));
		fl.kind = DSA_EMU_FAULT_PAGE_WRITE;
		fl.op_mask = DSA_EMU_OP(DSA_OPCODE_CFLUSH);
		td_inject(emu, &fl);
		memset(&fl, 0, sizeof(fl));
		fl.kind = DSA_EMU_FAULT_HALT;
		fl.op_mask = DSA_EMU_OP(DSA_OPCODE_MEMMOVE) |
			DSA_EMU_OP(DSA_OPCODE_CFLUSH);
		fl.skip = members - 1; /* about to run the last one */
		td_inject(emu, &fl);
		for (i = 1; i < s.n; i++)
			s.want[i] = VDM_ERROR_TIMEOUT;
		set_run_batch(emu, &s);
		st = td_stats(emu); /* the batch was swallowed */
		CHECK_EQ(st.halted_members, 1);
		CHECK_EQ(st.batch_members, members - 1);
		CHECK_EQ(st.swallowed, 1);
		check_order(emu, members, members - 1, NULL, 1);
		n = dsa_emu_batch_order(emu, -1, idx, MAXIDX);
		for (i = 0; i < (int)n; i++)
			ran[idx[i] + 1] = 1; /* op = list index + 1 */
		/* the flush (op 12) faulted if it ran */
		CHECK_EQ(st.page_faults, ran[12]);
		/* the device wrote the members that ran, and no other */
		for (i = 1; i < s.n; i++)
			if (s.kind[i] != K_FLUSH)
				CHECK_EQ(dsa_emu_written(emu, s.dst +
					(size_t)i * SLOT, SLOT),
					ran[i] ? s.len[i] : 0);
		/* op 0 went before the batch; the members never complete:
		 * each one times out on the test clock. None may say success
		 * for bytes the device did not write: one that did not run
		 * times out, its destination as before; one that ran may
		 * only time out (nothing tells the mover it ran) or succeed
		 * with its bytes there */
		CHECK_RES(td_busy(&s.f[0]), VDM_SUCCESS);
		set_check(&s, 0);
		halt_wait(&s, ran, mc.timeout_ns / 4);
		dsa_emu_clear_faults(emu);
		CHECK_EQ(dsa_emu_device_halt(emu, 0, 0), 0);
		/* the lost descriptors hold their WQ entries: a new mover */
		data_mover_dsa_delete(d);
		d = td_mover(&mc);
		set_free(&s);
	}

	data_mover_dsa_delete(d);
	dsa_emu_stop(emu);
}

int
main(int argc, char **argv)
{
	static const int orders[] = { DSA_EMU_BATCH_REVERSE,
		DSA_EMU_BATCH_SHUFFLE };
	unsigned k;

	td_enter("test_dsa_order");
	if (argc > 1 && strcmp(argv[1], "reverse") != 0 &&
			strcmp(argv[1], "shuffle") != 0) {
		fprintf(stderr, "usage: %s [reverse|shuffle [CASE]]\n",
			argv[0]);
		return 2;
	}
	only = argc > 2 ? argv[2] : NULL;
	rt = runtime_new();
	CHECK(rt != NULL);
	td_clock_fake(1000000000ull, 0);
	for (k = 0; k < 2; k++) {
		order = orders[k];
		if (argc > 1 && strcmp(argv[1], order_name()) != 0)
			continue;
		td_log("== batch members in %s order\n", order_name());
		test_raw();
		test_mover();
	}
	td_clock_real();
	runtime_delete(rt);
	if (ran_cases == 0) {
		fprintf(stderr, "test_dsa_order: no case named %s\n", only);
		return 1;
	}
	td_log("test_dsa_order: all passed\n");
	return 0;
}
