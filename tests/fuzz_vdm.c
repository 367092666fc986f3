/* fuzz_vdm.c - the vdm operations against a model, driven by bytes.
 *
 * An input is a program: batches of up to 8 operations (memcpy, memmove,
 * memset, flush) on a guarded arena, each in its own 8 KiB slice (so the
 * operations of a batch never race: overlap happens inside one operation,
 * where memcpy must give memmove's result), with random offsets, sizes,
 * flags (also unknown bits), NULL buffers and ranges that wrap. A batch
 * runs on one mover (sync, two threads movers, and with FUZZ_DSA two DSA
 * movers on the emulated device, one on a portal (coalescing; the CPU part
 * of split operations on the poller), one on write() (the CPU part on a
 * threads mover), both cutting operations into parts and splitting them
 * with the CPU, with a paused device, page faults, delays and
 * size / overlap errors it must recover from, and errors that fail the
 * operation of the descriptor they hit) and is waited for in one of nine
 * ways: runtime_wait_multiple, polls in a random order (NULL notifier, a
 * waker, a poller word), runtime_wait one by one, cancellations before or
 * after the first poll, as chains of two (the second made lazily;
 * error-aware chains must not run it after the first failed), through
 * runtime_wait_any(_for) until none is left, or a join-all future. Every result must be the one API.md gives for the
 * arguments (or, where the device was made to fail, a DSA error, no more
 * of them than descriptors hit), every output the destination, and
 * afterwards the arena must equal the model byte for byte, guards
 * included: nothing lost, written outside its range or written when it
 * was refused or cancelled; on the emulator nothing written twice. Only
 * an operation the device failed may leave its own range anything.
 *
 * Built two ways:
 *  - a test (meson: fuzz_vdm, fuzz_vdm_dsa): main() runs FUZZ_VDM_RUNS
 *    inputs (default 1500, 150 under valgrind) of pseudo-random bytes from FUZZ_VDM_SEED
 *    (default 1), then the files named on the command line; the outcome
 *    does not depend on timing (a hang is caught by meson's timeout);
 *  - a libFuzzer target (clang -fsanitize=fuzzer: FUZZ_LIBFUZZER, see
 *    tests/meson.build's fuzz_vdm_libfuzzer and README "Fuzzing").
 * A failure prints the operation, what was expected and what happened. */
#ifdef FUZZ_DSA
#include "test_dsa_util.h" /* the implementation, the emulator's helpers */
#else
/* the implementation, --setup chaos, valgrind's view of the workers */
#include "test_threads_util.h"
#define td_valgrind() TT_ON_VALGRIND()
#endif

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FZ_SLICE 8192u
#define FZ_NSLICE 8u
#define FZ_GUARD 256u
#define FZ_ARENA (FZ_NSLICE * FZ_SLICE + 2u * FZ_GUARD)
#define FZ_MAXOPS 8u

/* ---- input ---------------------------------------------------------------- */

struct fz_in {
	const uint8_t *p;
	size_t n;
};

/* the next byte; 0 once the input is used up (every program ends) */
static unsigned
fz_byte(struct fz_in *in)
{
	if (in->n == 0)
		return 0;
	in->n--;
	return *in->p++;
}

static unsigned
fz_u16(struct fz_in *in)
{
	unsigned lo = fz_byte(in);

	return lo | fz_byte(in) << 8;
}

/* a size up to max, mostly small, sometimes all of it */
static size_t
fz_size(struct fz_in *in, size_t max)
{
	unsigned k = fz_byte(in);
	size_t n;

	switch (k % 8) {
	case 0:
		n = k / 8 % 4; /* 0 .. 3 */
		break;
	case 1:
	case 2:
		n = fz_byte(in) % 129; /* around a cache line or two */
		break;
	case 3:
		n = max;
		break;
	default:
		n = fz_u16(in);
		break;
	}
	return n > max ? n % (max + 1) : n;
}

/* ---- movers ------------------------------------------------------------- */

enum fz_mover {
	FZ_SYNC,
	FZ_THREADS,       /* 2 workers, ring 64, WAKER */
	FZ_THREADS_SMALL, /* 1 worker, ring 2: operations wait for room */
#ifdef FUZZ_DSA
	FZ_DSA,  /* wq0.0: the portal, batches, CPU part on the poller */
	FZ_DSA2, /* wq0.1: write(), CPU part on the threads mover */
#endif
	FZ_NMOVERS
};

static const char *const fz_mover_name[] = {
	"sync", "threads", "threads_small",
#ifdef FUZZ_DSA
	"dsa", "dsa_write",
#endif
};

static struct data_mover_sync *fz_sync;
static struct data_mover_threads *fz_thr[2];
static struct vdm *fz_vdm[FZ_NMOVERS];
static struct runtime *fz_rt;
static unsigned char *fz_arena, *fz_model;
#ifdef FUZZ_DSA
static struct dsa_emu *fz_emu;
static struct data_mover_dsa *fz_dsa, *fz_dsa2;
/* the fault armed for this batch, for a failure's report */
static char fz_fault[128];
/* what the device saw: top-level descriptors, batch members, page faults */
static unsigned long long fz_dsa_desc, fz_dsa_members, fz_dsa_faults;
#endif

static void
fz_die(const char *what)
{
	fprintf(stderr, "fuzz_vdm: %s\n", what);
	exit(1);
}

/* once, before any thread exists (libFuzzer's initialisation or main) */
static void
fz_setup(void)
{
#ifdef FUZZ_DSA
	td_enter("fuzz_vdm_dsa"); /* the emulator's mount namespace */
	fz_rt = runtime_new();
#else
	tt_valgrind_setup();
	fz_rt = tt_runtime_new();
#endif
	fz_sync = data_mover_sync_new();
	fz_thr[0] = data_mover_threads_new(2, 64, FUTURE_NOTIFIER_WAKER);
	fz_thr[1] = data_mover_threads_new(1, 2, FUTURE_NOTIFIER_NONE);
	fz_arena = (unsigned char *)malloc(FZ_ARENA);
	fz_model = (unsigned char *)malloc(FZ_ARENA);
	if (fz_rt == NULL || fz_sync == NULL || fz_thr[0] == NULL ||
			fz_thr[1] == NULL || fz_arena == NULL ||
			fz_model == NULL)
		fz_die("setup: out of memory or threads");
	fz_vdm[FZ_SYNC] = data_mover_sync_get_vdm(fz_sync);
	fz_vdm[FZ_THREADS] = data_mover_threads_get_vdm(fz_thr[0]);
	fz_vdm[FZ_THREADS_SMALL] = data_mover_threads_get_vdm(fz_thr[1]);
#ifdef FUZZ_DSA
	{
		struct dsa_emu_config ec;
		struct data_mover_dsa_config mc;
		struct dsa_emu_wq_config wq[2];

		/* two dedicated WQs: wq0.0 a portal (trapped where the CPU
		 * has no MOVDIR64B), wq0.1 a FIFO (the write() path) */
		memset(&ec, 0, sizeof(ec));
		memset(wq, 0, sizeof(wq));
		ec.nwqs = 2;
		ec.wqs = wq;
		wq[0].fifo = -1;
		wq[1].fifo = 1;
		wq[1].trap = -1;
		ec.trap_portal = !dsa_emu_cpu_movdir64b();
		ec.wq_size = 8;              /* credits run out */
		ec.max_transfer_size = 4096; /* operations cut into parts */
		ec.max_batch_size = 4;
		ec.track_writes = 1;         /* nothing written twice */
		fz_emu = td_emu(&ec);
		memset(&mc, 0, sizeof(mc));
		mc.wq = "wq0.0";
		mc.cpu_threshold = 1;       /* every size to the device */
		mc.batch_max = 4;           /* coalesced (portal) */
		mc.hybrid_threshold = 6144; /* and split with the CPU */
		/* no injected fault here leaves a descriptor unanswered: a
		 * timeout could only come from a slow run (valgrind, load) */
		mc.timeout_ns = 3600ull * 1000000000u;
		fz_dsa = td_mover(&mc);
		if (td_portal(fz_dsa) == 0)
			fz_die("wq0.0 is not driven through its portal");
		mc.wq = "wq0.1";
		mc.cpu_vdm = fz_vdm[FZ_THREADS];
		mc.hybrid_cpu_permille = 500;
		fz_dsa2 = td_mover(&mc);
		if (td_portal(fz_dsa2) != 0)
			fz_die("wq0.1 is not driven through write()");
		fz_vdm[FZ_DSA] = data_mover_dsa_get_vdm(fz_dsa);
		fz_vdm[FZ_DSA2] = data_mover_dsa_get_vdm(fz_dsa2);
	}
#endif
}

#ifndef FUZZ_LIBFUZZER
/* libFuzzer never returns; the test driver tears down (leak checks) */
static void
fz_teardown(void)
{
#ifdef FUZZ_DSA
	data_mover_dsa_delete(fz_dsa);
	data_mover_dsa_delete(fz_dsa2);
	dsa_emu_stop(fz_emu);
#endif
	data_mover_threads_delete(fz_thr[0]);
	data_mover_threads_delete(fz_thr[1]);
	data_mover_sync_delete(fz_sync);
	runtime_delete(fz_rt);
	free(fz_arena);
	free(fz_model);
}
#endif

/* ---- operations and the model -------------------------------------------- */

struct fz_op {
	enum vdm_operation_type type;
	unsigned char *dst, *src; /* as passed (may be NULL or wild) */
	size_t n;
	uint64_t flags;
	int c;             /* memset's byte */
	int real;          /* dst / src point into the arena */
	enum vdm_operation_result want;
};

static const char *const fz_type_name[] = {
	"memcpy", "memmove", "memset", "flush"
};

static void
fz_print_op(const struct fz_op *o, unsigned i)
{
	fprintf(stderr, "  op %u: %s dst %s+%ld src %s+%ld n %zu flags 0x%llx"
		" c 0x%02x\n", i, fz_type_name[o->type],
		o->real ? "arena" : "wild",
		o->real ? (long)(o->dst - fz_arena) : (long)(uintptr_t)o->dst,
		o->real ? "arena" : "wild",
		o->real ? (long)(o->src - fz_arena) : (long)(uintptr_t)o->src,
		o->n, (unsigned long long)o->flags, (unsigned)o->c);
}

/* what API.md gives for these arguments on a built-in mover */
static enum vdm_operation_result
fz_expect(struct vdm *vdm, const struct fz_op *o)
{
	if (o->flags & ~(uint64_t)VDM_F_VALID_FLAGS)
		return VDM_ERROR_INVALID_ARGUMENT;
	if (o->n != 0 && (o->dst == NULL || o->src == NULL ||
			(uintptr_t)o->dst + o->n < (uintptr_t)o->dst ||
			(uintptr_t)o->src + o->n < (uintptr_t)o->src))
		return VDM_ERROR_INVALID_ARGUMENT;
	/* without cache write-back (not x86 or AArch64): refused */
	if (((o->flags & VDM_F_MEM_DURABLE) || o->type == VDM_OPERATION_FLUSH)
			&& !vdm_is_supported(vdm, VDM_F_MEM_DURABLE))
		return VDM_ERROR_NOT_SUPPORTED;
	return VDM_SUCCESS;
}

/* one operation inside slice s */
static void
fz_gen(struct fz_in *in, unsigned s, struct fz_op *o)
{
	unsigned char *base = fz_arena + FZ_GUARD + (size_t)s * FZ_SLICE;
	unsigned k = fz_byte(in);
	size_t a, b;
	int two; /* memcpy, memmove: a source apart from dest */

	memset(o, 0, sizeof(*o));
	o->type = (enum vdm_operation_type)(k % 4);
	two = o->type == VDM_OPERATION_MEMCPY ||
		o->type == VDM_OPERATION_MEMMOVE;
	o->n = fz_size(in, FZ_SLICE);
	a = FZ_SLICE - o->n == 0 ? 0 : fz_u16(in) % (FZ_SLICE - o->n + 1);
	b = FZ_SLICE - o->n == 0 ? 0 : fz_u16(in) % (FZ_SLICE - o->n + 1);
	if (k & 0x40) { /* near each other: the overlapping cases */
		long near = (long)a + (long)(fz_byte(in) % 17) - 8;

		b = near < 0 || (size_t)near > FZ_SLICE - o->n ? a :
			(size_t)near;
	}
	o->dst = base + a;
	o->src = two ? base + b : o->dst;
	o->c = (int)fz_byte(in);
	o->flags = (k >> 2) % 4 == 0 ? 0 : (uint64_t)((k >> 4) & 3u);
	o->real = 1;
	/* bad arguments, now and then */
	switch (k & 0x80 ? fz_byte(in) % 8 : 8) {
	case 0:
		o->flags |= (uint64_t)1 << (2 + fz_byte(in) % 62);
		break;
	case 1:
		o->dst = NULL;
		o->n += o->n == 0;
		o->real = 0;
		break;
	case 2:
		if (two) {
			o->src = NULL;
			o->n += o->n == 0;
			o->real = 0;
		}
		break;
	case 3: /* a range that wraps around the address space */
		o->dst = (unsigned char *)(UINTPTR_MAX - fz_byte(in) % 64);
		if (!two)
			o->src = o->dst;
		o->n = 65 + fz_byte(in);
		o->real = 0;
		break;
	case 4: /* nothing to do, NULL buffers: fine */
		o->n = 0;
		o->dst = NULL;
		o->src = NULL;
		o->real = 0;
		break;
	default:
		break;
	}
}

static struct vdm_operation_future
fz_make(struct vdm *vdm, const struct fz_op *o)
{
	switch (o->type) {
	case VDM_OPERATION_MEMCPY:
		return vdm_memcpy(vdm, o->dst, o->src, o->n, o->flags);
	case VDM_OPERATION_MEMMOVE:
		return vdm_memmove(vdm, o->dst, o->src, o->n, o->flags);
	case VDM_OPERATION_MEMSET:
		return vdm_memset(vdm, o->dst, o->c, o->n, o->flags);
	default:
		return vdm_flush(vdm, o->dst, o->n, o->flags);
	}
}

static void
fz_apply(const struct fz_op *o)
{
	unsigned char *d, *s;

	if (!o->real || o->n == 0)
		return;
	d = fz_model + (o->dst - fz_arena);
	s = fz_model + (o->src - fz_arena);
	if (o->type == VDM_OPERATION_MEMSET)
		memset(d, o->c, o->n);
	else if (o->type != VDM_OPERATION_FLUSH)
		memmove(d, s, o->n);
}

/* ---- one batch ---------------------------------------------------------- */

static atomic_uint fz_wakes;
/* what the runs did: operations per mover, per result */
static unsigned long fz_count[FZ_NMOVERS][VDM_ERROR_DSA_INVALID + 1];

static void
fz_waker(void *data)
{
	(void)data;
	atomic_fetch_add(&fz_wakes, 1);
}

static const char *const fz_wait_name[] = {
	"runtime_wait_multiple", "polls (NULL notifier)", "runtime_wait each",
	"polls (waker) then cancels", "cancel before the first poll",
	"polls (poller word)", "chains of two",
	"runtime_wait_any(_for) until all are done", "a join-all future"
};

/* ---- chains of two operations (how == 6) ------------------------------- */

struct fz_pair_data {
	FUTURE_CHAIN_ENTRY(struct vdm_operation_future, first);
	FUTURE_CHAIN_ENTRY(struct vdm_operation_future, second);
};

struct fz_pair_output {
	uint64_t unused;
};

FUTURE(fz_pair_future, struct fz_pair_data, struct fz_pair_output);

/* the second operation is made when the first is done (lazy entry) */
struct fz_lazy {
	struct vdm *vdm;
	const struct fz_op *op;
	int made;
};

static void
fz_pair_init(void *future, struct future_context *chain_fut, void *arg)
{
	struct fz_lazy *l = (struct fz_lazy *)arg;

	(void)chain_fut;
	*(struct vdm_operation_future *)future = fz_make(l->vdm, l->op);
	l->made = 1;
}

static void
fz_fail(const char *why, enum fz_mover m, unsigned how,
	const struct fz_op *ops, unsigned nops, unsigned bad)
{
	unsigned i;

	fprintf(stderr, "fuzz_vdm: %s (mover %s, %s)\n", why,
		fz_mover_name[m], fz_wait_name[how]);
#ifdef FUZZ_DSA
	if (m >= FZ_DSA && fz_fault[0] != '\0')
		fprintf(stderr, "  device: %s\n", fz_fault);
#endif
	for (i = 0; i < nops; i++) {
		fz_print_op(&ops[i], i);
		if (i == bad)
			fprintf(stderr, "    ^ this one\n");
	}
	exit(1);
}

/* a notifier of kind nk for a poll (a WAKER's counts its calls) */
static struct future_notifier
fz_notifier(enum future_notifier_type nk)
{
	struct future_notifier nt;

	memset(&nt, 0, sizeof(nt));
	nt.notifier_used = nk;
	if (nk == FUTURE_NOTIFIER_WAKER)
		nt.waker.wake = fz_waker;
	return nt;
}

/* polls every future until all are complete, in the order perm gives,
 * with notifier kind nk (NONE, WAKER, POLLER) */
static void
fz_poll_all(struct vdm_operation_future *f, const unsigned *perm,
	unsigned nops, enum future_notifier_type nk)
{
	unsigned left = nops, rounds = 0;

	while (left > 0) {
		unsigned i;

		if (rounds++ > 0)
			thrd_yield(); /* the emulator's threads need a CPU */
		left = 0;
		for (i = 0; i < nops; i++) {
			struct future *ff = FUTURE_AS_RUNNABLE(&f[perm[i]]);
			struct future_notifier nt = fz_notifier(nk);

			if (future_poll(ff, nk == FUTURE_NOTIFIER_NONE ?
					NULL : &nt) != FUTURE_STATE_COMPLETE)
				left++;
		}
	}
}

/* a byte saying what the device does to a batch of mover m (0: nothing) */
static unsigned
fz_device_byte(struct fz_in *in, enum fz_mover m)
{
#ifdef FUZZ_DSA
	if (m >= FZ_DSA)
		return fz_byte(in);
#else
	(void)in;
	(void)m;
#endif
	return 0;
}

/* the device, paused for a batch of mover m (fault & 0x40), goes on */
static void
fz_resume(enum fz_mover m, unsigned fault)
{
#ifdef FUZZ_DSA
	if (m >= FZ_DSA && (fault & 0x40))
		dsa_emu_pause(fz_emu, -1, 0);
#else
	(void)m;
	(void)fault;
#endif
}

static void
fz_batch(struct fz_in *in)
{
	struct fz_op ops[FZ_MAXOPS];
	struct vdm_operation_future f[FZ_MAXOPS];
	struct future *ff[FZ_MAXOPS];
	unsigned perm[FZ_MAXOPS], cancelled[FZ_MAXOPS];
	/* how == 6: ops 2i and 2i + 1 as a chain; an error-aware one
	 * (stop) does not run the second after the first failed */
	struct fz_pair_future pair[FZ_MAXOPS / 2];
	struct fz_lazy lazy[FZ_MAXOPS / 2];
	const struct vdm_operation_output *outp[FZ_MAXOPS];
	unsigned stop = 0;
	unsigned k = fz_byte(in);
	enum fz_mover m = (enum fz_mover)(k % FZ_NMOVERS);
	unsigned how = (k / FZ_NMOVERS) % 9;
	unsigned nops = 1 + fz_byte(in) % FZ_MAXOPS;
	struct vdm *vdm = fz_vdm[m];
	unsigned npairs = how == 6 ? nops / 2 : 0;
	unsigned nfut = nops - npairs; /* in ff: the chains, then the rest */
	unsigned i, j;
	/* the DSA device's part: faults, paused (0x40) */
	unsigned fault = fz_device_byte(in, m);
#ifdef FUZZ_DSA
	/* an error was injected: an operation the device failed has an
	 * unknown destination range (what the device wrote before) */
	int lenient = 0;
	unsigned failed = 0;
#endif

	for (i = 0; i < nops; i++) {
		fz_gen(in, i, &ops[i]);
		ops[i].want = fz_expect(vdm, &ops[i]);
		perm[i] = i;
		cancelled[i] = 0;
	}
	for (i = nops; i > 1; i--) { /* a random polling order */
		unsigned t;

		j = fz_byte(in) % i;
		t = perm[i - 1];
		perm[i - 1] = perm[j];
		perm[j] = t;
	}
#ifdef FUZZ_DSA
	/* what the device does to this batch */
	fz_fault[0] = '\0';
	if (m >= FZ_DSA && fault % 8 > 1) {
		static const uint8_t errs[] = {
			/* recovered from: re-planned smaller / on the CPU */
			DSA_COMP_XFER_ERANGE, DSA_COMP_OVERLAP_BUFFERS,
			/* failures: only the descriptor's operation fails */
			DSA_COMP_BAD_OPCODE, DSA_COMP_HW_ERR1,
			DSA_COMP_TRANSLATION_FAIL,
			/* (not BATCH_FAIL: the emulator would report it
			 * without running the members, and a member without
			 * a record then looks successful, as the spec says) */
		};
		/* size errors are a data descriptor's, overlap a move's */
		const uint64_t data_ops = DSA_EMU_OP(DSA_OPCODE_MEMMOVE) |
			DSA_EMU_OP(DSA_OPCODE_MEMFILL) |
			DSA_EMU_OP(DSA_OPCODE_CFLUSH);
		unsigned p = fz_byte(in);
		struct dsa_emu_fault fl;

		memset(&fl, 0, sizeof(fl));
		fl.skip = p % 4;
		fl.count = 1 + (int)(p / 4 % 2);
		fl.exact = (p >> 3) & 1;
		fl.bytes_done = (uint32_t)fz_u16(in) % 4096;
		fl.delay_us = 50;
		switch (fault % 8) {
		case 2:
			fl.kind = DSA_EMU_FAULT_PAGE_READ;
			break;
		case 3:
			fl.kind = DSA_EMU_FAULT_PAGE_WRITE;
			break;
		case 4:
			fl.kind = DSA_EMU_FAULT_DELAY;
			break;
		case 5:
			fl.kind = DSA_EMU_FAULT_XFER_SIZE;
			fl.op_mask = data_ops;
			break;
		case 6:
			fl.kind = DSA_EMU_FAULT_INVALID_FLAGS;
			lenient = 1;
			break;
		default:
			fl.kind = DSA_EMU_FAULT_STATUS;
			fl.status = errs[(p >> 4) % sizeof(errs)];
			if (fl.status == DSA_COMP_XFER_ERANGE)
				fl.op_mask = data_ops;
			else if (fl.status == DSA_COMP_OVERLAP_BUFFERS)
				fl.op_mask = DSA_EMU_OP(DSA_OPCODE_MEMMOVE);
			else
				lenient = 1;
			break;
		}
		if (dsa_emu_inject(fz_emu, &fl) != 0)
			fz_die("dsa_emu_inject");
		snprintf(fz_fault, sizeof(fz_fault), "fault kind %d status "
			"0x%02x skip %u count %d bytes_done %u%s",
			(int)fl.kind, (unsigned)fl.status, fl.skip, fl.count,
			(unsigned)fl.bytes_done, fl.exact ? " exact" : "");
	}
	if (m >= FZ_DSA && (fault & 0x40))
		dsa_emu_pause(fz_emu, -1, 1); /* the queue fills; resumed below */
#endif
	for (i = 0; i < npairs; i++) {
		struct fz_pair_future *c = &pair[i];

		stop |= (fz_byte(in) & 1u) << i;
		lazy[i].vdm = vdm;
		lazy[i].op = &ops[2 * i + 1];
		lazy[i].made = 0;
		FUTURE_CHAIN_ENTRY_INIT(&c->data.first,
			fz_make(vdm, &ops[2 * i]), NULL, NULL);
		FUTURE_CHAIN_ENTRY_LAZY_INIT(&c->data.second, fz_pair_init,
			&lazy[i], NULL, NULL);
		if (stop & (1u << i))
			FUTURE_CHAIN_INIT_STOP_ON_ERROR(c);
		else
			FUTURE_CHAIN_INIT(c);
		ff[i] = FUTURE_AS_RUNNABLE(c);
		outp[2 * i] = &c->data.first.fut.output;
		outp[2 * i + 1] = &c->data.second.fut.output;
	}
	for (i = 2 * npairs; i < nops; i++) {
		f[i] = fz_make(vdm, &ops[i]);
		ff[i - npairs] = FUTURE_AS_RUNNABLE(&f[i]);
		outp[i] = &f[i].output;
	}
	switch (how) {
	case 0:
	case 6:
		fz_resume(m, fault);
		runtime_wait_multiple(fz_rt, ff, nfut);
		break;
	case 1:
	case 5:
		if (fault & 0x40) {
			/* one pass while the device holds everything */
			for (i = 0; i < nops; i++)
				future_poll(ff[perm[i]], NULL);
			fz_resume(m, fault);
		}
		fz_poll_all(f, perm, nops, how == 1 ? FUTURE_NOTIFIER_NONE :
			FUTURE_NOTIFIER_POLLER);
		break;
	case 2:
		fz_resume(m, fault);
		for (i = 0; i < nops; i++)
			runtime_wait(fz_rt, ff[perm[i]]);
		break;
	case 3:
	case 4:
		/* 3: one poll each (started, or waiting for room) with a
		 * waker; 4: none. Then cancel those a byte picks, in poll
		 * order: 0 = cancelled (nothing written), EINPROGRESS =
		 * it runs to the end, EALREADY = it had completed */
		if (how == 3) {
			for (i = 0; i < nops; i++) {
				struct future_notifier nt =
					fz_notifier(FUTURE_NOTIFIER_WAKER);

				future_poll(ff[perm[i]], &nt);
			}
		}
		for (i = 0; i < nops; i++) {
			unsigned x = perm[i];
			int was = ff[x]->context.state == FUTURE_STATE_COMPLETE;
			int r;

			if (fz_byte(in) % 2 == 0)
				continue;
			r = vdm_cancel(&f[x]);
			if (r == 0) {
				cancelled[x] = 1;
			} else if (r == EALREADY) {
				if (!was)
					fz_fail("vdm_cancel said EALREADY of a "
						"future that was not complete",
						m, how, ops, nops, x);
			} else if (r != EINPROGRESS) {
				fz_fail("vdm_cancel returned neither 0, "
					"EINPROGRESS nor EALREADY", m, how,
					ops, nops, x);
			} else if (how == 4) {
				/* never polled: always cancelled */
				fz_fail("vdm_cancel of a never-polled future"
					" said EINPROGRESS", m, how, ops, nops,
					x);
			}
			if (r == 0 && was)
				fz_fail("vdm_cancel cancelled a complete "
					"future", m, how, ops, nops, x);
		}
		fz_resume(m, fault);
		runtime_wait_multiple(fz_rt, ff, nops);
		break;
	case 7: {
		/* the pending ones, ever fewer: each wait returns a complete
		 * one, or (with a deadline) SIZE_MAX */
		struct future *left[FZ_MAXOPS];
		size_t nl = nops;
		/* (read once: how often a deadline passes is timing, the
		 * bytes an input uses must not be) */
		int timed = fz_byte(in) & 1;

		memcpy(left, ff, sizeof(left));
		fz_resume(m, fault);
		while (nl > 0) {
			size_t x = timed ? runtime_wait_any_for(fz_rt, left,
				nl, 200000) : runtime_wait_any(fz_rt, left, nl);

			if (x == SIZE_MAX && timed) {
				thrd_yield(); /* (valgrind runs one thread) */
				continue;
			}
			if (x >= nl || left[x]->context.state !=
					FUTURE_STATE_COMPLETE)
				fz_fail("runtime_wait_any returned no complete "
					"future", m, how, ops, nops, nops);
			left[x] = left[--nl];
		}
		break;
	}
	case 8: {
		struct future_join_all_future j = future_join_all(ff, nops);

		fz_resume(m, fault);
		runtime_wait(fz_rt, FUTURE_AS_RUNNABLE(&j));
		if (j.output.ncomplete != nops)
			fz_fail("a complete join-all counts children not "
				"complete", m, how, ops, nops, nops);
		break;
	}
	}
	for (i = 0; i < nfut; i++)
		if (ff[i]->context.state != FUTURE_STATE_COMPLETE)
			fz_fail("a waited-for future is not complete", m, how,
				ops, nops, i < npairs ? 2 * i : i + npairs);
	for (i = 0; i < nops; i++) {
		const struct vdm_operation_output *out = outp[i];
		const struct fz_op *o = &ops[i];
		enum vdm_operation_result want = cancelled[i] ?
			VDM_ERROR_CANCELLED : o->want;

		if (i < 2 * npairs && i % 2 == 1) {
			/* an error-aware chain whose first failed stops */
			enum vdm_operation_result r1 = outp[i - 1]->result;
			int stopped = (stop & (1u << (i / 2))) &&
				r1 != VDM_SUCCESS;
			enum vdm_operation_result cr =
				future_chain_result(ff[i / 2]);

			if (stopped ? lazy[i / 2].made : !lazy[i / 2].made)
				fz_fail(stopped ? "a stopped chain ran its "
					"second entry" : "a chain did not run "
					"its second entry", m, how, ops, nops,
					i);
			if ((stop & (1u << (i / 2))) && cr != (stopped ? r1 :
					out->result))
				fz_fail("future_chain_result is not the "
					"failed entry's result", m, how, ops,
					nops, i);
			if (stopped)
				continue; /* nothing written */
		}
		fz_count[m][out->result]++;
#ifdef FUZZ_DSA
		if (lenient && want == VDM_SUCCESS &&
				(out->result == VDM_ERROR_DSA_INVALID ||
				out->result == VDM_ERROR_DSA_HARDWARE ||
				out->result == VDM_ERROR_DSA_PAGE_FAULT)) {
			/* its range may hold anything; outside it, nothing */
			if (o->real && o->type != VDM_OPERATION_FLUSH)
				memcpy(fz_model + (o->dst - fz_arena), o->dst,
					o->n);
			failed++;
			continue;
		}
#endif
		if (out->result != want) {
			char why[160];

			snprintf(why, sizeof(why), "result %s, expected %s",
				vdm_result_str(out->result),
				vdm_result_str(want));
			fz_fail(why, m, how, ops, nops, i);
		}
		if (want == VDM_SUCCESS) {
			if (out->type != o->type)
				fz_fail("output.type is not the operation's",
					m, how, ops, nops, i);
			if (o->type != VDM_OPERATION_FLUSH &&
					out->output.memcpy.dest != o->dst)
				fz_fail("output's destination is not dest",
					m, how, ops, nops, i);
			fz_apply(o);
		}
	}
#ifdef FUZZ_DSA
	if (m >= FZ_DSA) {
		struct dsa_emu_stats st;

		dsa_emu_clear_faults(fz_emu);
		/* the batch's destinations are disjoint: a byte the device
		 * wrote twice was resubmitted after it was done */
		dsa_emu_get_stats(fz_emu, -1, &st);
		if (st.rewrites != 0)
			fz_fail("the device wrote bytes twice", m, how, ops,
				nops, nops);
		/* an error fails the operation of the descriptor it hit,
		 * never its neighbours in a batch */
		if (failed > st.faults_injected)
			fz_fail("more operations failed than errors hit "
				"descriptors", m, how, ops, nops, nops);
		fz_dsa_desc += st.received;
		fz_dsa_members += st.batch_members;
		fz_dsa_faults += st.page_faults;
		dsa_emu_reset_stats(fz_emu);
	}
#endif
	if (memcmp(fz_arena, fz_model, FZ_ARENA) != 0) {
		size_t at = 0;
		char why[160];

		while (fz_arena[at] == fz_model[at])
			at++;
		snprintf(why, sizeof(why), "arena differs from the model at "
			"offset %zu (slice %ld): 0x%02x, expected 0x%02x", at,
			((long)at - (long)FZ_GUARD) / (long)FZ_SLICE,
			fz_arena[at], fz_model[at]);
		fz_fail(why, m, how, ops, nops, nops);
	}
}

/* one input: the arena's pattern, then batches until the bytes run out */
static void
fz_run(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	unsigned seed = fz_byte(&in);
	size_t i;
	unsigned nb = 0;

	for (i = 0; i < FZ_ARENA; i++)
		fz_arena[i] = (unsigned char)(i * 7u + seed + (i >> 8));
	memcpy(fz_model, fz_arena, FZ_ARENA);
	do
		fz_batch(&in);
	while (in.n > 0 && ++nb < 64);
}

#ifdef FUZZ_LIBFUZZER
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_setup();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_run(data, size);
	return 0;
}
#else
static uint64_t
fz_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

int
main(int argc, char **argv)
{
	const char *e = getenv("FUZZ_VDM_RUNS");
	/* fewer under valgrind, where each is ~50x slower */
	unsigned long runs = e != NULL ? strtoul(e, NULL, 10) :
		td_valgrind() ? 150 : 1500;
	uint64_t s = 0x9e3779b97f4a7c15ull;
	uint8_t buf[512];
	unsigned long r;
	int a;

	e = getenv("FUZZ_VDM_SEED");
	s ^= e != NULL ? strtoull(e, NULL, 10) : 1;
	fz_setup();
	for (r = 0; r < runs; r++) {
		size_t n = 16 + fz_rand(&s) % (sizeof(buf) - 16), i;

		for (i = 0; i < n; i++)
			buf[i] = (uint8_t)(fz_rand(&s) >> 24);
		fz_run(buf, n);
	}
	/* inputs libFuzzer found, replayed */
	for (a = 1; a < argc; a++) {
		FILE *fp = fopen(argv[a], "rb");
		static uint8_t file[1 << 16];
		size_t n;

		if (fp == NULL) {
			fprintf(stderr, "fuzz_vdm: %s: %s\n", argv[a],
				strerror(errno));
			return 1;
		}
		n = fread(file, 1, sizeof(file), fp);
		fclose(fp);
		fz_run(file, n);
	}
	for (a = 0; a < FZ_NMOVERS; a++) {
		int res;

		printf("  %-13s", fz_mover_name[a]);
		for (res = 0; res <= VDM_ERROR_DSA_INVALID; res++)
			if (fz_count[a][res] != 0)
				printf(" %s %lu,", vdm_result_str(
					(enum vdm_operation_result)res),
					fz_count[a][res]);
		printf("\n");
	}
#ifdef FUZZ_DSA
	printf("  device: %llu descriptors, %llu of them batch members, "
		"%llu page faults\n", fz_dsa_desc, fz_dsa_members,
		fz_dsa_faults);
#endif
	printf("fuzz_vdm: %lu random inputs and %d files: every result, "
		"output and byte as the model says (%u waker calls)\n", runs,
		argc - 1, atomic_load(&fz_wakes));
	fz_teardown();
	return 0;
}
#endif
