/* fuzz_vdm.c - the vdm operations against a model, driven by bytes.
 *
 * An input is a program: batches of up to 8 operations (memcpy, memmove,
 * memset, flush) on a guarded arena, each in its own 8 KiB slice (so the
 * operations of a batch never race: overlap happens inside one operation,
 * where memcpy must give memmove's result), with random offsets, sizes,
 * flags (also unknown bits), NULL buffers and ranges that wrap. A batch
 * runs on one mover: sync; three threads movers, the third running the
 * program's memcpy / memmove / memset functions (byte loops that check
 * each call is a whole operation of the batch, with its flags, unknown
 * bits too: a user function gets every bit of an unsigned int); with
 * FUZZ_DSA three DSA movers on two emulated devices on two NUMA nodes
 * (as test hooks tell the movers: the arena's slices on either): one on
 * a portal (coalescing; the CPU part of split operations on the poller),
 * one on write() (the CPU part on a threads mover), one spread over the
 * portals of two small dedicated WQs of one device and a shared WQ of
 * the other, driven by ENQCMD (a test hook into the emulator: "retry"
 * when full; the portals are trapped on any CPU)
 * (placement by the destination's node, room running out, crossing
 * nodes; the CPU part on the user functions' mover). The DSA movers cut
 * operations into parts and split them with the CPU, with a paused
 * device, page faults, delays and size / overlap errors they must
 * recover from, errors that fail the operation of the descriptor they
 * hit, and now and then a device that never answers (descriptors
 * swallowed or dropped, devices halted): the movers' clock (a test hook)
 * then runs fast, every operation that waits for the device fails with
 * VDM_ERROR_TIMEOUT (or, refused by the shared WQ, VDM_ERROR_BUSY)
 * whatever the timing, and the mover is made anew with the devices
 * restored. A batch is waited for in one of nine ways:
 * runtime_wait_multiple, polls in a random order (NULL notifier, a
 * waker, a poller word), runtime_wait one by one, cancellations before or
 * after the first poll, as chains of two (the second made lazily;
 * error-aware chains must not run it after the first failed), through
 * runtime_wait_any(_for) until none is left, or a join-all future. Every
 * result must be the one API.md gives for the arguments (or, where the
 * device was made to fail, a DSA error, no more of them than descriptors
 * hit, or a timeout where it never answered), every output the
 * destination, and afterwards the arena must equal the model byte for
 * byte, guards included: nothing lost, written outside its range or
 * written when it was refused or cancelled; on the emulator nothing
 * written twice. Only an operation the device failed may leave its own
 * range anything.
 * A threads mover's ringbuf_size bounds the operations it has in flight
 * (API.md), from their creation to the poll that sees them complete or
 * their cancellation; past it a creation is refused: a future born
 * COMPLETE with VDM_ERROR_OUT_OF_MEMORY, nothing done (batches of 8 go
 * past the bounds of 2 and 4, also with lazily made chain entries). All
 * of a batch's polls are made by this thread, so the model knows, at each
 * creation, how many of the batch's futures are made and not yet
 * complete: the creation must be refused exactly when that is the bound,
 * whatever the timing; and after each batch nothing may be in flight on
 * any threads mover (those that run a DSA mover's CPU parts too).
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
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
	FZ_THREADS_SMALL, /* 1 worker, ring 2: creations refused past 2 */
	FZ_THREADS_USER,  /* 2 workers, ring 4, POLLER, the user functions */
#ifdef FUZZ_DSA
	FZ_DSA,  /* wq0.0: the portal, batches, CPU part on the poller */
	FZ_DSA2, /* wq0.1: write(), CPU part on the threads mover */
	FZ_DSA_NODE, /* wq1.0, wq1.1 (node 0), wq0.2 shared (node 1) */
#endif
	FZ_NMOVERS
};

static const char *const fz_mover_name[] = {
	"sync", "threads", "threads_small", "threads_user",
#ifdef FUZZ_DSA
	"dsa", "dsa_write", "dsa_node",
#endif
};

/* ringbuf_size of the threads movers: the operations each may have in
 * flight (0: no bound the model knows of; a DSA mover's capacity is more
 * than a batch) */
static const size_t fz_cap[FZ_NMOVERS] = {
	[FZ_THREADS] = 64, [FZ_THREADS_SMALL] = 2, [FZ_THREADS_USER] = 4
};

static struct data_mover_sync *fz_sync;
static struct data_mover_threads *fz_thr[3];
static struct vdm *fz_vdm[FZ_NMOVERS];
static struct runtime *fz_rt;
static unsigned char *fz_arena, *fz_model;
#ifdef FUZZ_DSA
#define FZ_NDSA (FZ_NMOVERS - FZ_DSA)
/* no injected fault but a dead device leaves a descriptor unanswered: a
 * timeout could only come from a slow run (valgrind, load) */
#define FZ_TIMEOUT (3600ull * 1000000000u)
static struct dsa_emu *fz_emu;
static struct data_mover_dsa *fz_dsa[FZ_NDSA];
/* their configurations: a mover whose device went dead is made anew */
static struct data_mover_dsa_config fz_mc[FZ_NDSA];
/* the fault armed for this batch, for a failure's report */
static char fz_fault[128];
/* what the device saw: top-level descriptors, batch members, page faults */
static unsigned long long fz_dsa_desc, fz_dsa_members, fz_dsa_faults;
/* the node mover's descriptors per device, on its shared WQ (those for
 * node 0's slices: crossing); batches the device never answered */
static unsigned long long fz_node_dev[2], fz_node_shared, fz_node_cross;
static unsigned long long fz_dead_batches;
#endif
/* the user functions' calls per mover */
static unsigned long fz_ucount[FZ_NMOVERS];

static void
fz_die(const char *what)
{
	fprintf(stderr, "fuzz_vdm: %s\n", what);
	exit(1);
}

/* ---- the user functions (FZ_THREADS_USER, and the CPU part of
 * FZ_DSA_NODE's split operations) -----------------------------------------
 * Byte loops, memcpy too with memmove's result (a user function gets the
 * ranges as they are, and the model wants memmove's). Each call must be
 * a range of an operation of the batch being run (fz_cur, written before
 * its futures are made) of the same type, with its source, byte and flags
 * (an unsigned int of them); the calls and bytes per slice are counted
 * (README: a user function is called once with the whole range). A worker
 * cannot fail the test itself: the first bad call is kept for fz_batch. */
static const struct fz_op *fz_cur;
static unsigned fz_cur_n;
static atomic_uint fz_ucalls[FZ_NSLICE], fz_ubytes[FZ_NSLICE];
static atomic_int fz_ubad; /* 1: being written, 2: fz_ubad_why holds it */
static char fz_ubad_why[200];

static void
fz_user_bad(const char *fmt, unsigned s, size_t n)
{
	int no = 0;

	if (atomic_compare_exchange_strong(&fz_ubad, &no, 1)) {
		snprintf(fz_ubad_why, sizeof(fz_ubad_why), fmt, s, n);
		atomic_store(&fz_ubad, 2);
	}
}

static void
fz_user_check(enum vdm_operation_type t, const void *dst, const void *src,
	size_t n, int c, unsigned flags);

static void
fz_user_copy(void *dst, const void *src, size_t n)
{
	unsigned char *d = (unsigned char *)dst;
	const unsigned char *s = (const unsigned char *)src;
	size_t i;

	if ((uintptr_t)d <= (uintptr_t)s) {
		for (i = 0; i < n; i++)
			d[i] = s[i];
	} else {
		for (i = n; i-- > 0;)
			d[i] = s[i];
	}
}

static void *
fz_user_memcpy(void *dst, const void *src, size_t n, unsigned flags)
{
	fz_user_check(VDM_OPERATION_MEMCPY, dst, src, n, 0, flags);
	fz_user_copy(dst, src, n);
	return dst;
}

static void *
fz_user_memmove(void *dst, const void *src, size_t n, unsigned flags)
{
	fz_user_check(VDM_OPERATION_MEMMOVE, dst, src, n, 0, flags);
	fz_user_copy(dst, src, n);
	return dst;
}

static void *
fz_user_memset(void *str, int c, size_t n, unsigned flags)
{
	unsigned char *d = (unsigned char *)str;
	size_t i;

	fz_user_check(VDM_OPERATION_MEMSET, str, str, n, c, flags);
	for (i = 0; i < n; i++)
		d[i] = (unsigned char)c;
	return str;
}

#ifdef FUZZ_DSA
/* ---- the movers' clock (white box: masync__test_clock) -------------------
 * The real coarse clock plus an offset. While a batch's device never
 * answers (fz_dead) each real millisecond counts as a timeout more: every
 * descriptor in flight then times out within a few milliseconds, however
 * the threads run; the offset keeps what passed, so the clock never goes
 * back. */
#define FZ_WARP (FZ_TIMEOUT / 1000000u) /* per real ns */
static _Atomic uint64_t fz_clock_off, fz_dead_t0, fz_clock_last;
static atomic_int fz_dead;

static uint64_t
fz_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t
fz_clock(void)
{
	uint64_t t = fz_ns(CLOCK_MONOTONIC_COARSE) + atomic_load(&fz_clock_off);
	uint64_t last = atomic_load(&fz_clock_last);

	if (atomic_load(&fz_dead))
		t += (fz_ns(CLOCK_MONOTONIC) - atomic_load(&fz_dead_t0)) *
			FZ_WARP;
	/* a reading racing with fz_dead_end may see the warp and the new
	 * offset both: never below a reading before (the movers subtract
	 * their timestamps unsigned) */
	while (t > last && !atomic_compare_exchange_weak(&fz_clock_last,
			&last, t))
		;
	return t > last ? t : last;
}

static void
fz_dead_begin(void)
{
	atomic_store(&fz_dead_t0, fz_ns(CLOCK_MONOTONIC));
	atomic_store(&fz_dead, 1);
}

static void
fz_dead_end(void)
{
	uint64_t el = fz_ns(CLOCK_MONOTONIC) - atomic_load(&fz_dead_t0);

	/* (ten timeouts more: a reading racing with this one stays below) */
	atomic_fetch_add(&fz_clock_off, (el + 10000000u) * FZ_WARP);
	atomic_store(&fz_dead, 0);
}

/* The NUMA nodes the movers see (white box: masync__test_page_node,
 * masync__test_cpu_node), whatever the machine's: this thread and the
 * arena's slices 0-5 on node 0 (dsa1's), slices 6 and 7 on node 1
 * (dsa0's), where the node mover's shared WQ is the local one */
static int
fz_page_node(const void *p)
{
	uintptr_t a = (uintptr_t)p, lo = (uintptr_t)(fz_arena + FZ_GUARD);

	if (a < lo || a - lo >= (size_t)FZ_NSLICE * FZ_SLICE)
		return -1;
	return (a - lo) / FZ_SLICE >= 6;
}

static int
fz_cpu_node(const void *p)
{
	(void)p;
	return 0;
}

/* the DSA mover i (anew) */
static void
fz_dsa_make(unsigned i)
{
	unsigned j;

	fz_dsa[i] = td_mover(&fz_mc[i]);
	fz_vdm[FZ_DSA + i] = data_mover_dsa_get_vdm(fz_dsa[i]);
	for (j = 0; j < fz_dsa[i]->nq; j++)
		if ((fz_dsa[i]->q[j].portal != NULL) != (FZ_DSA + i != FZ_DSA2))
			fz_die(FZ_DSA + i == FZ_DSA2 ? "wq0.1 is not driven "
				"through write()" : "a WQ is not driven "
				"through its portal");
}
#endif

/* once, before any thread exists (libFuzzer's initialisation or main) */
static void
fz_setup(void)
{
#ifdef FUZZ_DSA
	td_enter("fuzz_vdm_dsa"); /* the emulator's mount namespace */
	MASYNC__STORE(&masync__test_clock, fz_clock, release);
	MASYNC__STORE(&masync__test_page_node, fz_page_node, release);
	MASYNC__STORE(&masync__test_cpu_node, fz_cpu_node, release);
	fz_rt = runtime_new();
#else
	tt_valgrind_setup();
	fz_rt = tt_runtime_new();
#endif
	fz_sync = data_mover_sync_new();
	fz_thr[0] = data_mover_threads_new(2, fz_cap[FZ_THREADS],
		FUTURE_NOTIFIER_WAKER);
	fz_thr[1] = data_mover_threads_new(1, fz_cap[FZ_THREADS_SMALL],
		FUTURE_NOTIFIER_NONE);
	fz_thr[2] = data_mover_threads_new(2, fz_cap[FZ_THREADS_USER],
		FUTURE_NOTIFIER_POLLER);
	fz_arena = (unsigned char *)malloc(FZ_ARENA);
	fz_model = (unsigned char *)malloc(FZ_ARENA);
	if (fz_rt == NULL || fz_sync == NULL || fz_thr[0] == NULL ||
			fz_thr[1] == NULL || fz_thr[2] == NULL ||
			fz_arena == NULL || fz_model == NULL)
		fz_die("setup: out of memory or threads");
	/* (before any operation: set later, they may never run) */
	data_mover_threads_set_memcpy_fn(fz_thr[2], fz_user_memcpy);
	data_mover_threads_set_memmove_fn(fz_thr[2], fz_user_memmove);
	data_mover_threads_set_memset_fn(fz_thr[2], fz_user_memset);
	fz_vdm[FZ_SYNC] = data_mover_sync_get_vdm(fz_sync);
	fz_vdm[FZ_THREADS] = data_mover_threads_get_vdm(fz_thr[0]);
	fz_vdm[FZ_THREADS_SMALL] = data_mover_threads_get_vdm(fz_thr[1]);
	fz_vdm[FZ_THREADS_USER] = data_mover_threads_get_vdm(fz_thr[2]);
#ifdef FUZZ_DSA
	{
		struct dsa_emu_config ec;
		struct data_mover_dsa_config mc;
		struct dsa_emu_wq_config wq[6];
		/* (see fz_page_node) */
		static const int nodes[2] = { 1, 0 };
		unsigned i;

		/* two devices of three WQs, on any CPU: portals trapped
		 * (each MOVDIR64B goes through td_trap_movdir64b to the WQ
		 * mapped there), the shared wq0.2 through ENQCMD (each to
		 * td_trap_enqcmd), wq0.1 a FIFO (the write() path) */
		memset(&ec, 0, sizeof(ec));
		memset(wq, 0, sizeof(wq));
		ec.ndevices = 2;
		ec.nwqs = 3;
		ec.numa_nodes = nodes;
		ec.wqs = wq;
		for (i = 0; i < 6; i++)
			wq[i].fifo = -1;
		wq[1].fifo = 1;
		wq[1].trap = -1;
		/* wq0.2: shared, smaller than the node mover's capacity:
		 * ENQCMD answers "retry" when it is full */
		wq[2].shared = 1;
		wq[2].fifo = -1;
		wq[2].trap = 1;
		wq[2].wq_size = 4;
		/* wq1.0, wq1.1: portals whose local room runs out */
		wq[3].wq_size = 2;
		wq[4].wq_size = 2;
		wq[4].max_transfer_size = 1024; /* its own part size */
		wq[5].disabled = 1; /* wq1.2: unused */
		ec.trap_portal = 1;
		ec.wq_size = 8;              /* credits run out */
		ec.max_transfer_size = 4096; /* operations cut into parts */
		ec.max_batch_size = 4;
		ec.track_writes = 1;         /* nothing written twice */
		fz_emu = td_emu(&ec);
		/* the mover uses ENQCMD on wq0.2, whatever the CPU */
		td_enqcmd_begin();
		td_cpuinfo(1);
		MASYNC__STORE(&masync__test_enqcmd, td_trap_enqcmd, release);
		memset(&mc, 0, sizeof(mc));
		mc.wq = "wq0.0";
		mc.cpu_threshold = 1;       /* every size to the device */
		mc.batch_max = 4;           /* coalesced (portal) */
		mc.hybrid_threshold = 6144; /* and split with the CPU */
		mc.timeout_ns = FZ_TIMEOUT;
		fz_mc[0] = mc;
		mc.wq = "wq0.1";
		mc.cpu_vdm = fz_vdm[FZ_THREADS];
		mc.hybrid_cpu_permille = 500;
		fz_mc[1] = mc;
		/* node scale: the least loaded WQ of the destination's node,
		 * the other node's when it has none with room: slices 0-5
		 * fill wq1.0 and wq1.1, then cross to wq0.2; slices 6-7 go
		 * to wq0.2 */
		mc.wq = NULL;
		mc.wqs = "wq1.0,wq0.2,wq1.1";
		mc.capacity = 16;
		mc.cpu_vdm = fz_vdm[FZ_THREADS_USER];
		mc.hybrid_cpu_permille = 700; /* (4 KiB of 6-8 KiB) */
		fz_mc[2] = mc;
		for (i = 0; i < FZ_NDSA; i++)
			fz_dsa_make(i);
	}
#endif
}

#ifndef FUZZ_LIBFUZZER
/* libFuzzer never returns; the test driver tears down (leak checks) */
static void
fz_teardown(void)
{
#ifdef FUZZ_DSA
	unsigned i;

	for (i = 0; i < FZ_NDSA; i++)
		data_mover_dsa_delete(fz_dsa[i]);
	dsa_emu_stop(fz_emu);
#endif
	data_mover_threads_delete(fz_thr[0]);
	data_mover_threads_delete(fz_thr[1]);
	data_mover_threads_delete(fz_thr[2]);
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

/* a call of a user function (see fz_user_copy) */
static void
fz_user_check(enum vdm_operation_type t, const void *dst, const void *src,
	size_t n, int c, unsigned flags)
{
	uintptr_t d = (uintptr_t)dst, lo = (uintptr_t)(fz_arena + FZ_GUARD);
	const struct fz_op *o;
	unsigned s;

	if (n == 0)
		return; /* nothing to do: any pointers */
	if (d < lo || d - lo >= (size_t)FZ_NSLICE * FZ_SLICE) {
		fz_user_bad("a user function was called outside the arena "
			"(%u, n %zu)", 0, n);
		return;
	}
	s = (unsigned)((d - lo) / FZ_SLICE);
	o = s < fz_cur_n ? &fz_cur[s] : NULL;
	if (o == NULL || !o->real || o->type != t) {
		fz_user_bad("a user function was called for slice %u (n %zu), "
			"which has no operation of its type", s, n);
		return;
	}
	if (d < (uintptr_t)o->dst || d - (uintptr_t)o->dst > o->n ||
			n > o->n - (d - (uintptr_t)o->dst) ||
			(uintptr_t)src - (uintptr_t)o->src !=
			d - (uintptr_t)o->dst || (t == VDM_OPERATION_MEMSET &&
			c != o->c) || flags != (unsigned)o->flags) {
		fz_user_bad("a user function's call for op %u (n %zu) is not "
			"(part of) the operation: range, source, byte or "
			"flags", s, n);
		return;
	}
	atomic_fetch_add(&fz_ubytes[s], (unsigned)n);
	atomic_fetch_add(&fz_ucalls[s], 1);
}

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

/* what API.md gives for these arguments on mover m */
static enum vdm_operation_result
fz_expect(enum fz_mover m, const struct fz_op *o)
{
	/* a user function runs it: it gets every flag bit (those of an
	 * unsigned int, its parameter) and does its own write-back */
	int user = m == FZ_THREADS_USER && o->type != VDM_OPERATION_FLUSH;

	if ((o->flags & ~(uint64_t)VDM_F_VALID_FLAGS) &&
			(!user || o->flags > UINT_MAX))
		return VDM_ERROR_INVALID_ARGUMENT;
	if (o->n != 0 && (o->dst == NULL || o->src == NULL ||
			(uintptr_t)o->dst + o->n < (uintptr_t)o->dst ||
			(uintptr_t)o->src + o->n < (uintptr_t)o->src))
		return VDM_ERROR_INVALID_ARGUMENT;
	/* without cache write-back (not x86 or AArch64): refused */
	if (((o->flags & VDM_F_MEM_DURABLE) || o->type == VDM_OPERATION_FLUSH)
			&& !user && !vdm_is_supported(fz_vdm[m],
			VDM_F_MEM_DURABLE))
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

/* The batch's operations, its mover and how it waits (for fz_fail), and
 * each operation's future once made (NULL before: a lazy chain entry's
 * when its init made it); see fz_made. */
static struct fz_op *fz_bops;
static unsigned fz_bn, fz_bhow;
static enum fz_mover fz_bm;
static const struct vdm_operation_future *fz_bfut[FZ_MAXOPS];

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
	unsigned i; /* its index in the batch */
	int made;
};

static unsigned fz_in_flight(void);
static void fz_made(unsigned i, const struct vdm_operation_future *f,
	unsigned live);

static void
fz_pair_init(void *future, struct future_context *chain_fut, void *arg)
{
	struct fz_lazy *l = (struct fz_lazy *)arg;
	unsigned live = fz_in_flight();

	(void)chain_fut;
	*(struct vdm_operation_future *)future = fz_make(l->vdm,
		&fz_bops[l->i]);
	fz_made(l->i, (const struct vdm_operation_future *)future, live);
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

/* ---- the threads movers' bound: their operations in flight ------------- */

/* The batch's operations in flight now: made, not born complete, not yet
 * seen complete by a poll nor cancelled (this thread makes every poll,
 * so no state changes under the count) */
static unsigned
fz_in_flight(void)
{
	unsigned i, n = 0;

	for (i = 0; i < fz_bn; i++)
		n += fz_bfut[i] != NULL && fz_bfut[i]->base.context.state !=
			FUTURE_STATE_COMPLETE;
	return n;
}

/* Operation i was made as *f with `live` in flight before: refused (born
 * COMPLETE with VDM_ERROR_OUT_OF_MEMORY, no state) exactly when that was
 * the mover's bound; then the model expects that result. */
static void
fz_made(unsigned i, const struct vdm_operation_future *f, unsigned live)
{
	size_t cap = fz_cap[fz_bm];
	int full = cap != 0 && live >= cap;
	int born = f->base.context.state == FUTURE_STATE_COMPLETE;
	char why[160];

	fz_bfut[i] = f;
	if (born == full && (!born ||
			(f->output.result == VDM_ERROR_OUT_OF_MEMORY &&
			f->data.data == NULL))) {
		if (full)
			fz_bops[i].want = VDM_ERROR_OUT_OF_MEMORY;
		return;
	}
	if (born)
		snprintf(why, sizeof(why), "creation refused (%s) with %u "
			"operations of the bound %zu in flight",
			vdm_result_str(f->output.result), live, cap);
	else
		snprintf(why, sizeof(why), "creation not refused with %u "
			"operations of the bound %zu in flight", live, cap);
	fz_fail(why, fz_bm, fz_bhow, fz_bops, fz_bn, i);
}

/* After a batch every future is complete: nothing may be in flight on a
 * threads mover (white box: its count), a DSA mover's CPU parts included */
static void
fz_none_in_flight(void)
{
	static const enum fz_mover tm[3] = {
		FZ_THREADS, FZ_THREADS_SMALL, FZ_THREADS_USER
	};
	unsigned t;

	for (t = 0; t < 3; t++) {
		size_t n = MASYNC__LOAD(&fz_thr[t]->inflight, relaxed);
		char why[160];

		if (n == 0)
			continue;
		snprintf(why, sizeof(why), "%zu operations in flight on the "
			"threads mover %s after the batch", n,
			fz_mover_name[tm[t]]);
		fz_fail(why, fz_bm, fz_bhow, fz_bops, fz_bn, fz_bn);
	}
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

/* does mover m call the user functions? */
static int
fz_user_mover(enum fz_mover m)
{
#ifdef FUZZ_DSA
	if (m == FZ_DSA_NODE)
		return 1;
#endif
	return m == FZ_THREADS_USER;
}

#ifdef FUZZ_DSA
/* descriptors DSA mover m has submitted (white box: its WQs' counts) */
static uint64_t
fz_sent(enum fz_mover m)
{
	struct data_mover_dsa *d = fz_dsa[m - FZ_DSA];
	uint64_t n = 0;
	unsigned j;

	for (j = 0; j < d->nq; j++) {
		masync__qlock_take(&d->q[j].qlock);
		n += d->q[j].seq;
		masync__qlock_give(&d->q[j].qlock);
	}
	return n;
}

/* A device that never answers this batch's descriptors (kind p % 4):
 * swallowed, dropped, devices halted before, or each halting its device
 * when it is about to run. None runs, so nothing is written by the
 * device, and the warped clock (fz_dead) fails every operation that
 * waits for it with VDM_ERROR_TIMEOUT in a few milliseconds (or
 * VDM_ERROR_BUSY, refused by the shared WQ: full or halted). 0: not
 * armed, the clock has run too far (a libFuzzer run of days) */
static int
fz_kill(unsigned p)
{
	struct dsa_emu_fault fl;
	static const char *const what[] = {
		"descriptors swallowed", "descriptors dropped",
		"devices halted", "devices halt at a descriptor"
	};

	if (atomic_load(&fz_clock_off) > (uint64_t)1 << 62)
		return 0;
	memset(&fl, 0, sizeof(fl));
	fl.count = -1;
	switch (p % 4) {
	case 0:
		fl.kind = DSA_EMU_FAULT_NO_COMPLETION;
		break;
	case 1:
		fl.kind = DSA_EMU_FAULT_DROP;
		break;
	case 2:
		if (dsa_emu_device_halt(fz_emu, 0, 1) != 0 ||
				dsa_emu_device_halt(fz_emu, 1, 1) != 0)
			fz_die("dsa_emu_device_halt");
		break;
	default:
		/* (every one: a device's other WQ may be about to run one
		 * when the first halts it) */
		fl.kind = DSA_EMU_FAULT_HALT;
		break;
	}
	if (fl.kind != DSA_EMU_FAULT_NONE && dsa_emu_inject(fz_emu, &fl) != 0)
		fz_die("dsa_emu_inject");
	snprintf(fz_fault, sizeof(fz_fault), "never answers: %s",
		what[p % 4]);
	fz_dead_begin();
	return 1;
}

/* Waits until the emulator has disposed of every descriptor mover m
 * submitted since `sent` (stats reset at the last batch's end): one still
 * in its FIFO would run once the fault is cleared, writing a range the
 * model has taken as it was */
static void
fz_dead_settle(enum fz_mover m, uint64_t sent)
{
	if (dsa_emu_wait_processed(fz_emu, fz_sent(m) - sent, 60000) != 0)
		fz_die("the emulator does not take the descriptors in");
}

/* After such a batch: the mover's WQ entries are held by descriptors that
 * never complete, the memory of their operations until it is deleted; it
 * is made anew (the delete waits a timeout for them, on the warped clock),
 * the devices restored */
static void
fz_revive(enum fz_mover m)
{
	unsigned i = (unsigned)(m - FZ_DSA);

	data_mover_dsa_delete(fz_dsa[i]);
	dsa_emu_clear_faults(fz_emu);
	if (dsa_emu_device_halt(fz_emu, 0, 0) != 0 ||
			dsa_emu_device_halt(fz_emu, 1, 0) != 0)
		fz_die("dsa_emu_device_halt");
	fz_dead_end();
	fz_dsa_make(i);
	fz_dead_batches++;
}
#endif

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
	/* the device never answers (1 in 16 batches): see fz_kill */
	int dead = m >= FZ_DSA && (fault & 0xb8) == 0x98;
	/* descriptors the mover submitted before the batch */
	uint64_t sent = 0;
#endif

	for (i = 0; i < nops; i++) {
		fz_gen(in, i, &ops[i]);
		ops[i].want = fz_expect(m, &ops[i]); /* (fz_made: or refused) */
		perm[i] = i;
		cancelled[i] = 0;
		fz_bfut[i] = NULL;
	}
	fz_bops = ops;
	fz_bn = nops;
	fz_bm = m;
	fz_bhow = how;
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
	if (dead) {
		sent = fz_sent(m);
		dead = fz_kill(fz_byte(in));
	} else if (m >= FZ_DSA && fault % 8 > 1) {
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
	/* what the user functions may be asked for */
	fz_cur = ops;
	fz_cur_n = nops;
	for (i = 0; i < FZ_NSLICE; i++) {
		atomic_store(&fz_ucalls[i], 0);
		atomic_store(&fz_ubytes[i], 0);
	}
	for (i = 0; i < npairs; i++) {
		struct fz_pair_future *c = &pair[i];
		unsigned live = fz_in_flight();

		stop |= (fz_byte(in) & 1u) << i;
		lazy[i].vdm = vdm;
		lazy[i].i = 2 * i + 1;
		lazy[i].made = 0;
		FUTURE_CHAIN_ENTRY_INIT(&c->data.first,
			fz_make(vdm, &ops[2 * i]), NULL, NULL);
		fz_made(2 * i, &c->data.first.fut, live);
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
		unsigned live = fz_in_flight();

		f[i] = fz_make(vdm, &ops[i]);
		fz_made(i, &f[i], live);
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
	if (atomic_load(&fz_ubad) != 0) {
		while (atomic_load(&fz_ubad) != 2)
			thrd_yield();
		fz_fail(fz_ubad_why, m, how, ops, nops, nops);
	}
	for (i = 0; i < nops; i++) {
		const struct vdm_operation_output *out = outp[i];
		const struct fz_op *o = &ops[i];
		enum vdm_operation_result want = cancelled[i] ?
			VDM_ERROR_CANCELLED : o->want;
		unsigned calls = atomic_load(&fz_ucalls[i]);

		fz_ucount[m] += calls;
		/* user functions run the operations of the user threads
		 * mover and the CPU parts of the node mover: never one
		 * refused, cancelled, or of another mover */
		if (calls != 0 && (want != VDM_SUCCESS || !fz_user_mover(m)))
			fz_fail("a user function ran an operation it was not "
				"given", m, how, ops, nops, i);

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
			if (stopped && calls != 0)
				fz_fail("a user function ran a stopped chain's "
					"second entry", m, how, ops, nops, i);
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
		if (dead && want == VDM_SUCCESS &&
				(out->result == VDM_ERROR_TIMEOUT ||
				(m == FZ_DSA_NODE &&
				out->result == VDM_ERROR_BUSY))) {
			/* nothing came from the device (or its shared WQ
			 * refused it until the timeout); a CPU part may
			 * have been written */
			if (o->real && o->type != VDM_OPERATION_FLUSH)
				memcpy(fz_model + (o->dst - fz_arena), o->dst,
					o->n);
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
		/* the user threads mover: one call for the whole range */
		if (m == FZ_THREADS_USER && calls != (want == VDM_SUCCESS &&
				o->real && o->n != 0 &&
				o->type != VDM_OPERATION_FLUSH))
			fz_fail(calls == 0 ? "the user function did not run the"
				" operation" : "the user function ran the "
				"operation twice", m, how, ops, nops, i);
		if (m == FZ_THREADS_USER && calls != 0 &&
				atomic_load(&fz_ubytes[i]) != o->n)
			fz_fail("the user function was not given the whole "
				"range", m, how, ops, nops, i);
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

		if (dead) /* all it was given: none may run after the batch */
			fz_dead_settle(m, sent);
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
		if (m == FZ_DSA_NODE) {
			for (i = 0; i < 2; i++) {
				dsa_emu_get_device_stats(fz_emu, i, &st);
				fz_node_dev[i] += st.received;
			}
			dsa_emu_get_stats(fz_emu, 2, &st); /* wq0.2 */
			fz_node_shared += st.received;
			if (nops <= 6)
				fz_node_cross += st.received;
		}
		dsa_emu_reset_stats(fz_emu);
		if (dead)
			fz_revive(m);
	}
#endif
	fz_none_in_flight();
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
		if (fz_ucount[a] != 0)
			printf(" (%lu user function calls)", fz_ucount[a]);
		printf("\n");
	}
#ifdef FUZZ_DSA
	printf("  device: %llu descriptors, %llu of them batch members, "
		"%llu page faults; %llu batches it never answered\n",
		fz_dsa_desc, fz_dsa_members, fz_dsa_faults, fz_dead_batches);
	printf("  dsa_node: %llu descriptors on dsa1 (node 0), %llu on dsa0 "
		"(node 1), %llu of them on the shared wq0.2, %llu of those "
		"from node 0\n", fz_node_dev[1], fz_node_dev[0],
		fz_node_shared, fz_node_cross);
	/* what the inputs make happen (crossing nodes is printed, not
	 * required: whether a paused batch fills the local WQs depends on
	 * how its operations were coalesced, which depends on timing) */
	if (runs >= 1000 && (fz_node_dev[1] == 0 || fz_dead_batches == 0))
		fz_die("the node mover never used its local device, or no "
			"device went dead");
#endif
	printf("fuzz_vdm: %lu random inputs and %d files: every result, "
		"output and byte as the model says (%u waker calls)\n", runs,
		argc - 1, atomic_load(&fz_wakes));
	fz_teardown();
	return 0;
}
#endif
