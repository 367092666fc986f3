/* test_threads_api.c - constructor arguments, the vdm interface, custom
 * operation functions, and how large operations are split.
 *
 * - data_mover_threads_new rejects nthreads > 1024, ringbuf 0 or huge,
 *   and unknown notifiers with NULL + EINVAL; nthreads 0
 *   (DATA_MOVER_THREADS_DEFAULT_NTHREADS) starts one worker per online
 *   CPU, at most 16; get_vdm / set_*_fn
 *   given NULL set errno EINVAL, delete accepts NULL; the default mover
 *   works.
 * - capabilities and FUTURE_PROPERTY_ASYNC; invalid operation arguments
 *   give a future born complete with VDM_ERROR_INVALID_ARGUMENT.
 * - custom memcpy / memmove / memset functions are called with the
 *   operation's flags and produce the result; NULL restores the built-in
 *   ones; flush never calls them.
 * - a 64 MiB copy on 2 workers is split into chunks that run at the same
 *   time on two threads; a 64 KiB copy is one call.
 * - the split of a range up to the last byte of the address space (not a
 *   wrap: accepted) has chunks that cover it (its count once wrapped to
 *   0: no chunk ran and the future never completed). Planned only: the
 *   memory is not there. */
#define MASYNC__TEST_HOOKS 1 /* masync__test_thr_cpus */
#include "test_threads_util.h"

static void
test_bad_args(void)
{
	struct vdm_operation_future f;
	char buf[16];

	errno = 0;
	CHECK(data_mover_threads_new(0, 0, FUTURE_NOTIFIER_NONE) == NULL);
	CHECK(errno == EINVAL);
	errno = 0;
	CHECK(data_mover_threads_new(1, 0, FUTURE_NOTIFIER_NONE) == NULL);
	CHECK(errno == EINVAL);
	errno = 0;
	CHECK(data_mover_threads_new(1, SIZE_MAX, FUTURE_NOTIFIER_NONE) ==
		NULL);
	CHECK(errno == EINVAL);
	errno = 0;
	CHECK(data_mover_threads_new(1, SIZE_MAX / 2 + 1,
		FUTURE_NOTIFIER_WAKER) == NULL); /* 2^63 (2^31): too big */
	CHECK(errno == EINVAL);
	errno = 0;
	CHECK(data_mover_threads_new(SIZE_MAX, 16, FUTURE_NOTIFIER_NONE) ==
		NULL);
	CHECK(errno == EINVAL);
	errno = 0;
	CHECK(data_mover_threads_new(100000, 16, FUTURE_NOTIFIER_NONE) ==
		NULL);
	CHECK(errno == EINVAL);
	errno = 0;
	CHECK(data_mover_threads_new(1, 16, (enum future_notifier_type)7) ==
		NULL);
	CHECK(errno == EINVAL);
	{
		/* the default count the macro names */
		struct data_mover_threads *d = data_mover_threads_new(
			DATA_MOVER_THREADS_DEFAULT_NTHREADS, 16,
			FUTURE_NOTIFIER_WAKER);
		size_t want = masync__ncpus() > 16 ? 16 : masync__ncpus();

		CHECK(d != NULL);
		CHECK(d->nthreads == want);
		f = vdm_memcpy(data_mover_threads_get_vdm(d), buf, buf + 8, 8,
			0);
		tt_busy_wait(&f, 20000);
		CHECK(tt_result(&f) == VDM_SUCCESS);
		data_mover_threads_delete(d);
	}

	errno = 0;
	CHECK(data_mover_threads_get_vdm(NULL) == NULL);
	CHECK(errno == EINVAL);
	data_mover_threads_delete(NULL);
	errno = 0;
	data_mover_threads_set_memcpy_fn(NULL, NULL);
	CHECK(errno == EINVAL);
	errno = 0;
	data_mover_threads_set_memmove_fn(NULL, NULL);
	CHECK(errno == EINVAL);
	errno = 0;
	data_mover_threads_set_memset_fn(NULL, NULL);
	CHECK(errno == EINVAL);

	/* a NULL mover: the future is born complete with the error */
	f = vdm_memcpy(NULL, buf, buf + 8, 8, 0);
	CHECK(FUTURE_STATE(&f) == FUTURE_STATE_COMPLETE);
	CHECK(tt_result(&f) == VDM_ERROR_INVALID_ARGUMENT);
	tt_log("bad arguments ok\n");
}

static void
test_invalid_ops(struct data_mover_threads *dmt, struct runtime *rt)
{
	struct vdm *vdm = data_mover_threads_get_vdm(dmt);
	char a[64], b[64];
	struct vdm_operation_future fs[7];
	size_t i;

	fs[0] = vdm_memcpy(vdm, NULL, b, 8, 0);
	fs[1] = vdm_memcpy(vdm, a, NULL, 8, 0);
	fs[2] = vdm_memmove(vdm, a, b, 8, 1u << 7);
	fs[3] = vdm_memset(vdm, NULL, 0, 1, 0);
	fs[4] = vdm_flush(vdm, a, 8, ~(uint64_t)0);
	fs[5] = vdm_memcpy(vdm, (void *)(UINTPTR_MAX - 4), b, 8, 0);
	fs[6] = vdm_memset(vdm, a, 0, 8, (uint64_t)1 << 40);
	for (i = 0; i < 7; i++) {
		struct future *f = FUTURE_AS_RUNNABLE(&fs[i]);

		/* checked at the first poll, which completes it */
		CHECK(f->context.state == FUTURE_STATE_IDLE);
		CHECK(future_poll(f, NULL) == FUTURE_STATE_COMPLETE);
		CHECK(tt_result(&fs[i]) == VDM_ERROR_INVALID_ARGUMENT);
		runtime_wait(rt, f); /* returns at once */
		CHECK(future_poll(f, NULL) == FUTURE_STATE_COMPLETE);
	}
	/* n == 0 needs no buffers at all */
	fs[0] = vdm_memcpy(vdm, NULL, NULL, 0, 0);
	fs[1] = vdm_memset(vdm, NULL, 1, 0, VDM_F_MEM_DURABLE);
	for (i = 0; i < 2; i++) {
		runtime_wait(rt, FUTURE_AS_RUNNABLE(&fs[i]));
		CHECK(tt_result(&fs[i]) ==
			(i == 0 ? VDM_SUCCESS : TT_DURABLE_RESULT));
	}
	tt_log("invalid operation arguments ok\n");
}

static void
test_interface(struct data_mover_threads *dmt)
{
	struct vdm *vdm = data_mover_threads_get_vdm(dmt);
	char a[8] = "abcdefg", b[8];
	struct vdm_operation_future f;

	CHECK(vdm != NULL);
	CHECK(vdm_is_supported(vdm, VDM_F_MEM_DURABLE) == TT_WB);
	CHECK(vdm_is_supported(vdm, VDM_F_NO_CACHE_HINT) == TT_WB);
	CHECK(vdm_is_supported(vdm, VDM_F_VALID_FLAGS) == TT_WB);
	CHECK(!vdm_is_supported(vdm, VDM_F_VALID_FLAGS | (1u << 5)));
	f = vdm_memcpy(vdm, b, a, sizeof(a), 0);
	CHECK(FUTURE_STATE(&f) == FUTURE_STATE_IDLE);
	CHECK(future_has_property(FUTURE_AS_RUNNABLE(&f),
		FUTURE_PROPERTY_ASYNC));
	CHECK(FUTURE_DATA(&f)->vdm == vdm);
	CHECK(FUTURE_DATA(&f)->operation.type == VDM_OPERATION_MEMCPY);
	CHECK(FUTURE_DATA(&f)->operation.data.memcpy.n == sizeof(a));
	tt_busy_wait(&f, 10000);
	CHECK(tt_result(&f) == VDM_SUCCESS);
	CHECK(memcmp(a, b, sizeof(a)) == 0);
	/* complete futures stay complete */
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), NULL) ==
		FUTURE_STATE_COMPLETE);
	tt_log("vdm interface ok\n");
}

/* ---- custom functions -------------------------------------------------- */
static atomic_uint cpy_calls, mov_calls, set_calls;
static atomic_uint last_flags;

static void *
my_memcpy(void *d, const void *s, size_t n, unsigned flags)
{
	atomic_fetch_add(&cpy_calls, 1);
	atomic_store(&last_flags, flags);
	return memcpy(d, s, n);
}

static void *
my_memmove(void *d, const void *s, size_t n, unsigned flags)
{
	atomic_fetch_add(&mov_calls, 1);
	atomic_store(&last_flags, flags);
	return memmove(d, s, n);
}

static void *
my_memset(void *d, int c, size_t n, unsigned flags)
{
	atomic_fetch_add(&set_calls, 1);
	atomic_store(&last_flags, flags);
	/* a visible mark: fill with c ^ 0xff instead */
	return memset(d, c ^ 0xff, n);
}

static void
test_custom_fns(struct runtime *rt)
{
	struct data_mover_threads *dmt =
		data_mover_threads_new(2, 8, FUTURE_NOTIFIER_WAKER);
	struct vdm *vdm = data_mover_threads_get_vdm(dmt);
	unsigned char a[300], b[300];
	struct vdm_operation_future f;

	CHECK(dmt != NULL);
	data_mover_threads_set_memcpy_fn(dmt, my_memcpy);
	data_mover_threads_set_memmove_fn(dmt, my_memmove);
	data_mover_threads_set_memset_fn(dmt, my_memset);

	tt_fill(a, sizeof(a), 5);
	f = vdm_memcpy(vdm, b, a, sizeof(a), VDM_F_MEM_DURABLE);
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&f));
	CHECK(tt_result(&f) == VDM_SUCCESS);
	CHECK(atomic_load(&cpy_calls) == 1);
	CHECK(atomic_load(&last_flags) == VDM_F_MEM_DURABLE);
	CHECK(memcmp(a, b, sizeof(a)) == 0);

	f = vdm_memmove(vdm, a + 10, a, 200, VDM_F_NO_CACHE_HINT);
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&f));
	CHECK(atomic_load(&mov_calls) == 1);
	CHECK(atomic_load(&last_flags) == VDM_F_NO_CACHE_HINT);
	CHECK(memcmp(a + 10, b, 200) == 0);

	f = vdm_memset(vdm, b, 0x0f, 100, VDM_F_VALID_FLAGS);
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&f));
	CHECK(atomic_load(&set_calls) == 1);
	CHECK(atomic_load(&last_flags) == VDM_F_VALID_FLAGS);
	CHECK(tt_verify_byte(b, 100, 0xf0) == SIZE_MAX);

	/* flag bits past an unsigned int, which a user function cannot be
	 * given: an error, the function not called, nothing written */
	memset(b, 0, sizeof(b));
	f = vdm_memcpy(vdm, b, a, sizeof(a),
		((uint64_t)1 << 33) | VDM_F_MEM_DURABLE);
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&f));
	CHECK(tt_result(&f) == VDM_ERROR_INVALID_ARGUMENT);
	CHECK(atomic_load(&cpy_calls) == 1);
	CHECK(tt_verify_byte(b, sizeof(b), 0) == SIZE_MAX);
	f = vdm_memset(vdm, b, 0x0f, 100, 0);
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&f));
	CHECK(atomic_load(&set_calls) == 2);

	/* flush has no custom function (the user functions' durability
	 * does not make the mover's) */
	f = vdm_flush(vdm, b, sizeof(b), 0);
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&f));
	CHECK(tt_result(&f) == TT_DURABLE_RESULT);
	CHECK(atomic_load(&cpy_calls) + atomic_load(&mov_calls) +
		atomic_load(&set_calls) == 4);

	/* NULL puts the built-in functions back */
	data_mover_threads_set_memset_fn(dmt, NULL);
	f = vdm_memset(vdm, b, 0x0f, 100, 0);
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&f));
	CHECK(atomic_load(&set_calls) == 2);
	CHECK(tt_verify_byte(b, 100, 0x0f) == SIZE_MAX);
	data_mover_threads_delete(dmt);
	tt_log("custom functions ok\n");
}

/* ---- delete from the mover's own worker -------------------------------- */
/* A waker (called on a worker) that deletes the mover would join its own
 * thread and free memory still in use: it does nothing but set errno
 * EDEADLK; the owner deletes it afterwards as usual. */
static atomic_int del_errno;
static struct data_mover_threads *del_dmt;

static void
deleting_wake(void *data)
{
	(void)data;
	errno = 0;
	data_mover_threads_delete(del_dmt);
	atomic_store(&del_errno, errno == 0 ? -1 : errno);
}

static void
test_delete_in_worker(void)
{
	struct vdm_operation_future f;
	struct future_notifier nt;
	unsigned char a[64], b[64];

	del_dmt = data_mover_threads_new(1, 8, FUTURE_NOTIFIER_WAKER);
	CHECK(del_dmt != NULL);
	atomic_store(&del_errno, 0);
	memset(&nt, 0, sizeof(nt));
	nt.waker.wake = deleting_wake;
	/* a user function: only the worker runs it and calls the waker */
	data_mover_threads_set_memcpy_fn(del_dmt, my_memcpy);
	tt_fill(a, sizeof(a), 3);
	f = vdm_memcpy(data_mover_threads_get_vdm(del_dmt), b, a, sizeof(a),
		0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), &nt) != FUTURE_STATE_IDLE);
	{
		uint64_t t0 = tt_now_ns();

		while (atomic_load(&del_errno) == 0) {
			CHECK(tt_now_ns() - t0 < 60ull * 1000000000u);
			tt_sleep_us(50);
		}
	}
	tt_busy_wait(&f, 20000);
	CHECK(tt_result(&f) == VDM_SUCCESS);
	CHECK(memcmp(a, b, sizeof(a)) == 0);
	CHECK(atomic_load(&del_errno) == EDEADLK);
	data_mover_threads_delete(del_dmt);
	atomic_store(&cpy_calls, 0);
	tt_log("delete from the mover's own worker refused ok\n");
}

/* ---- splitting --------------------------------------------------------- */
static atomic_uint split_calls;
static atomic_size_t split_n;

/* Counts calls and records the size of the last one. */
static void *
split_memcpy(void *d, const void *s, size_t n, unsigned flags)
{
	(void)flags;
	atomic_fetch_add(&split_calls, 1);
	atomic_store(&split_n, n);
	memcpy(d, s, n);
	return d;
}

static void
test_split(struct runtime *rt)
{
	size_t big = TT_ON_VALGRIND() ? (8u << 20) : (64u << 20);
	unsigned char *a = (unsigned char *)tt_xmalloc(big);
	unsigned char *b = (unsigned char *)tt_xmalloc(big);
	struct data_mover_threads *dmt =
		data_mover_threads_new(2, 16, FUTURE_NOTIFIER_WAKER);
	struct vdm *vdm = data_mover_threads_get_vdm(dmt);
	struct vdm_operation_future f;

	CHECK(dmt != NULL);
	data_mover_threads_set_memcpy_fn(dmt, split_memcpy);
	tt_fill(a, big, 9);
	memset(b, 0, big);
	f = vdm_memcpy(vdm, b, a, big, 0);
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&f));
	CHECK(tt_result(&f) == VDM_SUCCESS);
	CHECK(memcmp(a, b, big) == 0);
	/* a user function gets the whole range in one call: splitting is
	 * for the built-in kernels only */
	tt_log("%zu MiB copy: %u calls\n", big >> 20,
		atomic_load(&split_calls));
	CHECK(atomic_load(&split_calls) == 1);
	CHECK(atomic_load(&split_n) == big);

	/* small operations are one call */
	atomic_store(&split_calls, 0);
	f = vdm_memcpy(vdm, b, a, 65536, 0);
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&f));
	CHECK(atomic_load(&split_calls) == 1);
	CHECK(memcmp(a, b, 65536) == 0);
	data_mover_threads_delete(dmt);

	/* one worker: never split */
	dmt = data_mover_threads_new(1, 16, FUTURE_NOTIFIER_WAKER);
	CHECK(dmt != NULL);
	vdm = data_mover_threads_get_vdm(dmt);
	data_mover_threads_set_memcpy_fn(dmt, my_memcpy);
	atomic_store(&cpy_calls, 0);
	f = vdm_memcpy(vdm, a, b, big, 0);
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&f));
	CHECK(atomic_load(&cpy_calls) == 1);
	data_mover_threads_delete(dmt);
	free(a);
	free(b);
	tt_log("splitting ok\n");
}

static void
test_default(struct runtime *rt)
{
	struct data_mover_threads *dmt = data_mover_threads_default();
	char a[100], b[100];
	struct vdm_operation_future f;

	CHECK(dmt != NULL);
	tt_fill(a, sizeof(a), 3);
	f = vdm_memcpy(data_mover_threads_get_vdm(dmt), b, a, sizeof(a), 0);
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&f));
	CHECK(tt_result(&f) == VDM_SUCCESS);
	CHECK(memcmp(a, b, sizeof(a)) == 0);
	data_mover_threads_delete(dmt);
	/* the compat names of older releases */
	CHECK(sizeof(struct vdm_memcpy_future) == sizeof(f));
	CHECK(sizeof(struct vdm_operation_data) ==
		2 * sizeof(void *) + VDM_OPERATION_DATA_MAX_SIZE + 8); /* 64 */
	tt_log("default mover ok\n");
}

static void
test_plan_huge(void)
{
	struct data_mover_threads *dmt =
		data_mover_threads_new(2, 4, FUTURE_NOTIFIER_WAKER);
	static struct masync__thr_op op; /* planned only, never run */
	size_t n = SIZE_MAX - 0x1000, last;

	CHECK(dmt != NULL);
	if (dmt == NULL)
		return;
	MASYNC__STORE(&masync__test_thr_cpus, 2u, relaxed); /* split */
	memset(&op, 0, sizeof(op));
	op.op.type = VDM_OPERATION_MEMSET;
	op.op.data.memset.str = (void *)(uintptr_t)0x1000;
	op.op.data.memset.n = n; /* ends at SIZE_MAX: no wrap */
	masync__thr_plan(dmt, &op);
	MASYNC__STORE(&masync__test_thr_cpus, 0u, relaxed);
	CHECK(op.nchunks > 1 && op.chunk != 0);
	if (op.nchunks > 1 && op.chunk != 0) {
		/* chunks 0 .. nchunks - 2 are whole, the last one not empty */
		CHECK(op.nchunks - 1 <= n / op.chunk);
		last = n - (op.nchunks - 1) * op.chunk;
		CHECK(last > 0 && last <= op.chunk);
	}
	data_mover_threads_delete(dmt);
}

int
main(void)
{
	struct runtime *rt;
	struct data_mover_threads *dmt;

	tt_valgrind_setup();
	rt = tt_runtime_new();
	CHECK(rt != NULL);
	test_bad_args();
	/* 8: test_invalid_ops holds its 7 futures in flight at once */
	dmt = data_mover_threads_new(2, 8, FUTURE_NOTIFIER_WAKER);
	CHECK(dmt != NULL);
	test_interface(dmt);
	test_invalid_ops(dmt, rt);
	data_mover_threads_delete(dmt);
	test_custom_fns(rt);
	test_delete_in_worker();
	test_split(rt);
	test_plan_huge();
	test_default(rt);
	runtime_delete(rt);
	return 0;
}
