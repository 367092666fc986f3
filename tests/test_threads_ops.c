/* test_threads_ops.c - every operation and flag on the threads mover,
 * sizes 0 B to 64 MiB, content-checked, on movers of several shapes.
 *
 * For each (mover, operation, flags, size): the destination is laid out
 * between guard bytes at a varying misalignment, the future is waited with
 * a runtime (or busy-polled), then the output (result, type, destination)
 * and every byte of the destination and both guards are compared with what
 * plain libc produced. memmove is also run on overlapping ranges in both
 * directions. Without cache write-back (MASYNC__WB undefined) durable
 * operations and flushes are refused instead: the output and the untouched
 * destination are checked the same way. */
#include "test_threads_util.h"

#define GUARD 64
#define GUARD_BYTE 0xA5

static const uint64_t flag_sets[] = {
	0, VDM_F_MEM_DURABLE, VDM_F_NO_CACHE_HINT,
	VDM_F_MEM_DURABLE | VDM_F_NO_CACHE_HINT,
};

static const enum vdm_operation_type op_types[] = {
	VDM_OPERATION_MEMCPY, VDM_OPERATION_MEMMOVE, VDM_OPERATION_MEMSET,
	VDM_OPERATION_FLUSH,
};

static size_t sizes[] = {
	0, 1, 7, 63, 64, 65, 4095, 4096, 4097, 65536 + 3, 1u << 20,
	(2u << 20) - 1, 2u << 20, (2u << 20) + 5, (8u << 20) + 13,
	64u << 20,
};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

static unsigned char *src_buf, *dst_buf, *ref_buf;
static size_t max_size, small_limit;
static struct runtime *rt;
static unsigned long nops;
/* the mover writes cache lines back (set in main); user functions are
 * set for memcpy, memmove and memset (run_user_fns) */
static int durable_ok, user_fns;

/* Without cache write-back the mover refuses durable operations (but
 * those of a user function) and flushes, writing nothing. */
static int
refused(enum vdm_operation_type t, uint64_t flags)
{
	if (durable_ok)
		return 0;
	if (t == VDM_OPERATION_FLUSH)
		return 1; /* there is no user flush function */
	return (flags & VDM_F_MEM_DURABLE) && !user_fns;
}

static struct vdm_operation_future
make_op(struct vdm *vdm, enum vdm_operation_type t, void *dst, void *src,
	int c, size_t n, uint64_t flags)
{
	switch (t) {
	case VDM_OPERATION_MEMCPY:
		return vdm_memcpy(vdm, dst, src, n, flags);
	case VDM_OPERATION_MEMMOVE:
		return vdm_memmove(vdm, dst, src, n, flags);
	case VDM_OPERATION_MEMSET:
		return vdm_memset(vdm, dst, c, n, flags);
	case VDM_OPERATION_FLUSH:
		break;
	}
	return vdm_flush(vdm, dst, n, flags);
}

static void
wait_op(struct vdm_operation_future *f, int how)
{
	if (how == 0)
		runtime_wait(rt, FUTURE_AS_RUNNABLE(f));
	else
		tt_busy_wait(f, 20000);
	CHECK(FUTURE_STATE(f) == FUTURE_STATE_COMPLETE);
	nops++;
}

static void
check_output(struct vdm_operation_future *f, enum vdm_operation_type t,
	void *dst, uint64_t flags)
{
	struct vdm_operation_output *o = FUTURE_OUTPUT(f);

	CHECK(o->type == t);
	if (refused(t, flags)) {
		CHECK(o->result == VDM_ERROR_NOT_SUPPORTED);
		CHECK(o->output.memcpy.dest == NULL);
		return;
	}
	CHECK(o->result == VDM_SUCCESS);
	switch (t) {
	case VDM_OPERATION_MEMCPY:
		CHECK(o->output.memcpy.dest == dst);
		break;
	case VDM_OPERATION_MEMMOVE:
		CHECK(o->output.memmove.dest == dst);
		break;
	case VDM_OPERATION_MEMSET:
		CHECK(o->output.memset.str == dst);
		break;
	case VDM_OPERATION_FLUSH:
		break;
	}
}

/* One operation on distinct buffers: dst = dst_buf + GUARD + mis. */
static void
run_one(struct vdm *vdm, enum vdm_operation_type t, uint64_t flags,
	size_t n, unsigned seed, int how)
{
	size_t mis = (n + seed) % 61;
	size_t smis = (n + 3 * seed) % 59;
	unsigned char *dst = dst_buf + GUARD + mis;
	unsigned char *src = src_buf + smis;
	int c = (int)(seed * 37u + 11u) & 0xff;
	size_t span = n + 2 * GUARD + 64, bad;
	int written = !refused(t, flags);
	struct vdm_operation_future f;

	/* reference: guards, then what libc would write (refused: nothing,
	 * the destination keeps GUARD_BYTE) */
	memset(dst_buf, GUARD_BYTE, span);
	memset(ref_buf, GUARD_BYTE, span);
	tt_fill(src, n, seed);
	switch (t) {
	case VDM_OPERATION_MEMCPY:
	case VDM_OPERATION_MEMMOVE:
		if (written)
			memcpy(ref_buf + GUARD + mis, src, n);
		break;
	case VDM_OPERATION_MEMSET:
		if (written)
			memset(ref_buf + GUARD + mis, c, n);
		break;
	case VDM_OPERATION_FLUSH:
		/* flush leaves the content as it is */
		tt_fill(dst, n, seed + 1);
		tt_fill(ref_buf + GUARD + mis, n, seed + 1);
		break;
	}
	f = make_op(vdm, t, dst, src, c, n, flags);
	wait_op(&f, how);
	check_output(&f, t, dst, flags);
	bad = memcmp(dst_buf, ref_buf, span) == 0 ? SIZE_MAX : 0;
	if (bad != SIZE_MAX) {
		size_t i;

		for (i = 0; i < span && dst_buf[i] == ref_buf[i]; i++)
			;
		fprintf(stderr, "op %d flags %llu size %zu: first bad byte "
			"%ld from dst\n", (int)t, (unsigned long long)flags,
			n, (long)i - (long)(GUARD + mis));
	}
	CHECK(bad == SIZE_MAX);
	/* the source is never written */
	if (t != VDM_OPERATION_MEMSET && t != VDM_OPERATION_FLUSH)
		CHECK(tt_verify(src, n, seed) == SIZE_MAX);
}

/* memmove within one buffer, dst after src and before it. */
static void
run_overlap(struct vdm *vdm, uint64_t flags, size_t n, size_t shift,
	unsigned seed)
{
	int dir;

	for (dir = 0; dir < 2; dir++) {
		unsigned char *base = dst_buf + GUARD;
		unsigned char *src = dir ? base + shift : base;
		unsigned char *dst = dir ? base : base + shift;
		size_t span = n + shift + 2 * GUARD;
		struct vdm_operation_future f;

		memset(dst_buf, GUARD_BYTE, span);
		tt_fill(src, n, seed);
		memcpy(ref_buf, dst_buf, span);
		if (!refused(VDM_OPERATION_MEMMOVE, flags))
			memmove(ref_buf + (dst - dst_buf),
				ref_buf + (src - dst_buf), n);
		f = vdm_memmove(vdm, dst, src, n, flags);
		wait_op(&f, 0);
		check_output(&f, VDM_OPERATION_MEMMOVE, dst, flags);
		CHECK(memcmp(dst_buf, ref_buf, span) == 0);
	}
}

static void
run_mover(const char *name, struct data_mover_threads *dmt, size_t limit,
	int how)
{
	struct vdm *vdm = data_mover_threads_get_vdm(dmt);
	size_t s, o, fl;
	unsigned seed = 1;
	uint64_t t0 = tt_now_ns();

	CHECK(vdm != NULL);
	/* both flags with cache write-back, else neither */
	CHECK(vdm_is_supported(vdm, VDM_F_MEM_DURABLE) == durable_ok);
	CHECK(vdm_is_supported(vdm, VDM_F_NO_CACHE_HINT) == durable_ok);
	for (s = 0; s < NSIZES; s++) {
		if (sizes[s] > limit)
			continue;
		/* valgrind: sizes up to 64 KiB and the largest, and of the
		 * flags only none and both */
		if (TT_ON_VALGRIND() && sizes[s] > 65536 + 3 &&
				sizes[s] != max_size)
			continue;
		for (o = 0; o < 4; o++)
			for (fl = 0; fl < 4; fl++)
				if (!TT_ON_VALGRIND() || fl % 3 == 0)
					run_one(vdm, op_types[o],
						flag_sets[fl], sizes[s],
						seed++, how);
	}
	for (fl = 0; fl < 4; fl++) {
		run_overlap(vdm, flag_sets[fl], 1000, 3, seed++);
		run_overlap(vdm, flag_sets[fl], 100000, 4096, seed++);
		if (limit >= (8u << 20))
			run_overlap(vdm, flag_sets[fl], 8u << 20, 1u << 20,
				seed++);
	}
	tt_log("%-28s ok (%.0f ms)\n", name, (tt_now_ns() - t0) / 1e6);
}

#ifndef MASYNC__WB
static atomic_uint fn_calls, fn_flags;

static void *
user_memcpy(void *dst, const void *src, size_t n, unsigned flags)
{
	atomic_fetch_add(&fn_calls, 1);
	atomic_store(&fn_flags, flags);
	return memcpy(dst, src, n);
}

static void *
user_memmove(void *dst, const void *src, size_t n, unsigned flags)
{
	atomic_fetch_add(&fn_calls, 1);
	atomic_store(&fn_flags, flags);
	return memmove(dst, src, n);
}

static void *
user_memset(void *str, int c, size_t n, unsigned flags)
{
	atomic_fetch_add(&fn_calls, 1);
	atomic_store(&fn_flags, flags);
	return memset(str, c, n);
}

/* No cache write-back: a user function gets its type's durable
 * operations with every flag bit (it may have a way to write back);
 * flush has none and stays refused. */
static void
run_user_fns(void)
{
	static const size_t n[] = {1, 4097, 65536 + 3};
	struct data_mover_threads *dmt =
		data_mover_threads_new(2, 8, FUTURE_NOTIFIER_WAKER);
	struct vdm *vdm;
	size_t s, o, fl;
	unsigned seed = 5000, before;
	uint64_t t0 = tt_now_ns();

	CHECK(dmt != NULL);
	data_mover_threads_set_memcpy_fn(dmt, user_memcpy);
	data_mover_threads_set_memmove_fn(dmt, user_memmove);
	data_mover_threads_set_memset_fn(dmt, user_memset);
	vdm = data_mover_threads_get_vdm(dmt);
	CHECK(!vdm_is_supported(vdm, VDM_F_MEM_DURABLE));
	user_fns = 1;
	for (s = 0; s < sizeof(n) / sizeof(n[0]); s++)
		for (o = 0; o < 4; o++)
			for (fl = 1; fl < 4; fl += 2) { /* both durable */
				before = atomic_load(&fn_calls);
				run_one(vdm, op_types[o], flag_sets[fl], n[s],
					seed++, 0);
				if (op_types[o] == VDM_OPERATION_FLUSH) {
					CHECK(atomic_load(&fn_calls) == before);
					continue;
				}
				CHECK(atomic_load(&fn_calls) > before);
				CHECK(atomic_load(&fn_flags) == flag_sets[fl]);
			}
	user_fns = 0;
	data_mover_threads_delete(dmt);
	tt_log("%-28s ok (%.0f ms)\n", "no write-back, user fns",
		(tt_now_ns() - t0) / 1e6);
}
#endif

int
main(void)
{
	struct data_mover_threads *dmt;
	size_t big;

	tt_valgrind_setup();
	/* 64 MiB natively and under ASan; ThreadSanitizer tracks every
	 * byte copied, so 8 MiB there, and just over 2 MiB (still split)
	 * under valgrind */
	max_size = TT_ON_VALGRIND() ? (2u << 20) + 17 :
		TT_TSAN ? (8u << 20) + 5 : 64u << 20;
	small_limit = TT_ON_VALGRIND() ? 65536 + 64 :
		TT_TSAN ? (4u << 20) + 64 : (8u << 20) + 64;
	sizes[NSIZES - 1] = max_size;
	big = max_size + 2 * GUARD + (2u << 20);
	src_buf = (unsigned char *)tt_xmalloc(big);
	dst_buf = (unsigned char *)tt_xmalloc(big);
	ref_buf = (unsigned char *)tt_xmalloc(big);
	rt = tt_runtime_new();
	CHECK(rt != NULL);

	dmt = data_mover_threads_new(1, 16, FUTURE_NOTIFIER_WAKER);
	CHECK(dmt != NULL);
	durable_ok = vdm_is_supported(data_mover_threads_get_vdm(dmt),
		VDM_F_MEM_DURABLE);
	CHECK(durable_ok == TT_WB);
	run_mover("1 worker, ring 16, waker", dmt, small_limit, 0);
	data_mover_threads_delete(dmt);

	dmt = data_mover_threads_new(2, 128, FUTURE_NOTIFIER_NONE);
	CHECK(dmt != NULL);
	run_mover("2 workers, ring 128, none", dmt, max_size, 0);
	data_mover_threads_delete(dmt);

	dmt = data_mover_threads_new(4, 7, FUTURE_NOTIFIER_POLLER);
	CHECK(dmt != NULL);
	run_mover("4 workers, ring 7, poller", dmt, small_limit, 0);
	data_mover_threads_delete(dmt);

	dmt = data_mover_threads_default();
	CHECK(dmt != NULL);
	run_mover("default, busy poll", dmt, small_limit, 1);
	data_mover_threads_delete(dmt);
#ifndef MASYNC__WB
	run_user_fns();
#endif

	runtime_delete(rt);
	free(src_buf);
	free(dst_buf);
	free(ref_buf);
	tt_log("%lu operations checked\n", nops);
	return 0;
}
