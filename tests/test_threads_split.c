/* test_threads_split.c - the polling thread's share of a split operation.
 *
 * A split operation is shared between the thread that polls it and the
 * workers. Here the only worker is held in a user memset_fn (a gate), so
 * the poller runs every chunk of a split memcpy itself: deterministic,
 * whatever the CPU, its cores or the timing. The private test hooks count
 * each cache line written back or streamed, and each fence, per thread.
 * Proves, for the caller's share:
 * - the copy is split (more than one chunk) and its bytes are right, at an
 *   odd offset and size, while the worker never left the gate;
 * - VDM_F_MEM_DURABLE: every line of the destination is written back (or
 *   streamed) by the polling thread, and fenced after; exactly once where
 *   the chunks start on line boundaries;
 * - VDM_F_NO_CACHE_HINT, or a share at or above the streaming threshold
 *   (MINIASYNC_STREAM_MIN, 3 MiB here): the middle of every chunk is
 *   written with streaming stores; below it, a plain copy writes back
 *   nothing;
 * - each chunk runs exactly once: once the worker is let go and the mover
 *   is deleted (the worker popped the operations' queue entries), no line
 *   was written again;
 * - an operation cancelled after its first poll is never run, by the
 *   worker either;
 * - the participants: caller + workers at most the caller's CPUs (a test
 *   hook sets that count): one CPU, not split; the extra workers asked for
 *   are the CPUs minus the caller and the queue entry's worker, at most
 *   the mover's workers minus that one;
 * - an unsplit operation, run by the poller or by a worker, writes
 *   nothing past the first two lines of its state;
 * - split operations pushed without waking a worker (the mover's measured
 *   wake-up and copy rate say the poller alone is faster; set by the
 *   test) complete when polled, 48 of them on a 16-slot ring, and one
 *   polled only until it was handed over (queued, or waiting for room
 *   while the workers woken to empty the ring have not run yet) is run
 *   by data_mover_threads_delete;
 * - polls drop the queue entries of split operations they ran whole, with
 *   every worker busy: the ring never fills with them. */
#if defined(MINIASYNC_VALGRIND) && MINIASYNC_VALGRIND
#define _GNU_SOURCE /* as test_threads_util.h: before any header */
#endif
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define LINE 64u
#define AREA (((size_t)8 << 20) + 4096)

static unsigned char *area;
static atomic_uint *wrote;     /* per line: write-backs and streams */
static _Atomic uint64_t *mark; /* per line: (thread + 1) << 40 | count */
static _Atomic uint64_t fenced[64];
static atomic_int nthreads_seen;
static _Thread_local int my_index = -1;
static _Thread_local uint64_t my_count;

static int
thread_index(void)
{
	if (my_index < 0)
		my_index = atomic_fetch_add(&nthreads_seen, 1) % 64;
	return my_index;
}

static void
hook_line(uintptr_t line)
{
	if (area != NULL && line >= (uintptr_t)area &&
			line < (uintptr_t)area + AREA) {
		size_t i = (line - (uintptr_t)area) / LINE;

		atomic_fetch_add(&wrote[i], 1);
		atomic_store(&mark[i],
			((uint64_t)thread_index() + 1) << 40 | ++my_count);
	}
}

static void
hook_streamed(const void *p, size_t n)
{
	uintptr_t a = (uintptr_t)p, e = a + n;

	if (n == 0)
		return; /* (an empty middle: nothing streamed) */
	for (a &= ~(uintptr_t)(LINE - 1); a < e; a += LINE)
		hook_line(a);
}

static void
hook_fence(void)
{
	atomic_store(&fenced[thread_index()], my_count);
}

#define MASYNC__TEST_HOOKS 1
#define MASYNC__TEST_WRITEBACK(line) hook_line(line)
#define MASYNC__TEST_STREAMED(p, n) hook_streamed(p, n)
#define MASYNC__TEST_FENCE() hook_fence()
#define MINIASYNC_STREAM_MIN ((size_t)3 << 20)
#include "test_threads_util.h"

#ifdef MASYNC__X86 /* (elsewhere main says SKIP) */
static void
clear_marks(void)
{
	size_t i;

	for (i = 0; i < AREA / LINE; i++) {
		atomic_store(&wrote[i], 0);
		atomic_store(&mark[i], 0);
	}
}

static size_t
lines_of(size_t off, size_t n, size_t *first)
{
	*first = off / LINE;
	return (off + n + LINE - 1) / LINE - *first;
}

/* every line of [off, off + n) written back or streamed by thread `t`,
 * then fenced; once, but for at most `twice` lines written twice (a line
 * two chunks share, each writing back its part) */
static int
durable_by(size_t off, size_t n, int t, size_t twice)
{
	size_t first, k, cnt = lines_of(off, n, &first);

	for (k = first; k < first + cnt; k++) {
		uint64_t m = atomic_load(&mark[k]);
		unsigned w = atomic_load(&wrote[k]);

		if (w == 2 && twice > 0)
			twice--;
		else if (w != 1)
			m = 0;
		if ((int)(m >> 40) - 1 != t || atomic_load(&fenced[t]) <
				(m & ((1ull << 40) - 1))) {
			fprintf(stderr, "line %zu of %zu..%zu: %u writes, mark %#llx\n", k, first, first + cnt,
				atomic_load(&wrote[k]), (unsigned long long)m);
			return 0;
		}
	}
	return 1;
}

/* lines streamed (or written back) in [off, off + n), none twice */
static size_t
lines_written(size_t off, size_t n)
{
	size_t first, k, cnt = lines_of(off, n, &first), w = 0;

	for (k = first; k < first + cnt; k++) {
		unsigned c = atomic_load(&wrote[k]);

		CHECK(c <= 1);
		w += c;
	}
	return w;
}

static size_t
lines_written_anywhere(void)
{
	size_t k, w = 0;

	for (k = 0; k < AREA / LINE; k++)
		w += atomic_load(&wrote[k]);
	return w;
}

static struct masync__thr_op *
state_of(struct vdm_operation_future *f)
{
	return (struct masync__thr_op *)f->data.data;
}

#define MAXW 4

/* a mover of `workers` workers, each waiting in the gate; g[i] are the
 * gate's memsets, polled once */
static struct data_mover_threads *
held_mover_of(size_t workers, struct vdm_operation_future *g,
	unsigned char (*gbuf)[64])
{
	struct data_mover_threads *dmt =
		data_mover_threads_new(workers, 16, FUTURE_NOTIFIER_WAKER);
	size_t i;

	CHECK(dmt != NULL && workers <= MAXW);
	tt_gate_reset(0);
	data_mover_threads_set_memset_fn(dmt, tt_gate_memset);
	for (i = 0; i < workers; i++) {
		g[i] = vdm_memset(data_mover_threads_get_vdm(dmt), gbuf[i], 1,
			64, 0);
		CHECK(future_poll(FUTURE_AS_RUNNABLE(&g[i]), NULL) !=
			FUTURE_STATE_IDLE);
	}
	tt_wait_uint(&tt_the_gate.entered, (unsigned)workers, 20000);
	return dmt;
}

static void
let_go_of(size_t workers, struct data_mover_threads *dmt,
	struct vdm_operation_future *g)
{
	size_t i;

	atomic_store(&tt_the_gate.open, 1);
	for (i = 0; i < workers; i++) {
		tt_busy_wait(&g[i], 20000);
		CHECK(tt_result(&g[i]) == VDM_SUCCESS);
	}
	data_mover_threads_delete(dmt); /* joins the workers */
}

/* the same with one worker */
static struct data_mover_threads *
held_mover(struct vdm_operation_future *g, unsigned char *gbuf)
{
	return held_mover_of(1, g, (unsigned char (*)[64])(void *)gbuf);
}

static void
let_go(struct data_mover_threads *dmt, struct vdm_operation_future *g)
{
	let_go_of(1, dmt, g);
}

static void
test_caller_share(unsigned char *src)
{
	static const uint64_t flag_sets[] = {0, VDM_F_MEM_DURABLE,
		VDM_F_NO_CACHE_HINT, VDM_F_MEM_DURABLE | VDM_F_NO_CACHE_HINT};
	/* below and above the streaming threshold for 2 participants */
	const size_t sizes[] = {((size_t)4 << 20) + 3, ((size_t)8 << 20) + 3};
	int me = thread_index();
	size_t i;

	MASYNC__STORE(&masync__test_thr_cpus, 2u, relaxed);
	for (i = 0; i < 16; i++) {
		{
			/* chunk edges on line edges, or inside lines */
			const size_t off = i < 8 ? 0 : 7;
			const size_t s = i / 4 % 2, k = i % 4;
			unsigned char gbuf[64];
			struct vdm_operation_future g, f;
			struct data_mover_threads *dmt = held_mover(&g, gbuf);
			size_t n = sizes[s], nchunks, before;
			uint64_t fl = flag_sets[k];
			int streams = s == 1 || (fl & VDM_F_NO_CACHE_HINT);

			memset(area, 0, AREA);
			tt_fill(src, n, 30u + (unsigned)(s * 4 + k));
			clear_marks();
			f = vdm_memcpy(data_mover_threads_get_vdm(dmt),
				area + off, src, n, fl);
			CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), NULL) ==
				FUTURE_STATE_RUNNING);
			nchunks = state_of(&f)->nchunks;
			CHECK(nchunks > 1);
			CHECK(state_of(&f)->extra == 0);
			CHECK(state_of(&f)->stream == (s == 1));
			tt_busy_wait(&f, 20000);
			CHECK(tt_result(&f) == VDM_SUCCESS);
			/* the worker is still in the gate: all ours */
			CHECK(atomic_load(&tt_the_gate.calls) == 0);
			CHECK(tt_verify(area + off, n, 30u +
				(unsigned)(s * 4 + k)) == SIZE_MAX);
			CHECK(tt_verify_byte(area, off, 0) == SIZE_MAX);
			CHECK(tt_verify_byte(area + off + n, 64, 0) ==
				SIZE_MAX);
			if (fl & VDM_F_MEM_DURABLE) {
				CHECK(durable_by(off, n, me,
					off == 0 ? 0 : nchunks - 1));
			} else if (streams) {
				/* each chunk's unaligned edges are cached */
				size_t first, all = lines_of(off, n, &first);

				CHECK(lines_written(off, n) + 2 * nchunks >=
					all);
			} else {
				CHECK(lines_written(off, n) == 0);
			}
			before = lines_written_anywhere();
			let_go(dmt, &g);
			/* the worker skipped the operation's queue entry */
			CHECK(lines_written_anywhere() == before);
			CHECK(tt_verify(area + off, n, 30u +
				(unsigned)(s * 4 + k)) == SIZE_MAX);
		}
	}
	MASYNC__STORE(&masync__test_thr_cpus, 0u, relaxed);
	tt_log("caller's share: bytes, durability, streaming, once ok\n");
}

static void
test_cancel(unsigned char *src)
{
	unsigned char gbuf[64];
	struct vdm_operation_future g, f;
	struct data_mover_threads *dmt;
	const size_t n = (size_t)4 << 20;

	MASYNC__STORE(&masync__test_thr_cpus, 2u, relaxed);
	dmt = held_mover(&g, gbuf);
	memset(area, 0, AREA);
	tt_fill(src, n, 77);
	f = vdm_memcpy(data_mover_threads_get_vdm(dmt), area, src, n, 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), NULL) ==
		FUTURE_STATE_RUNNING);
	CHECK(state_of(&f)->nchunks > 1);
	CHECK(vdm_cancel(&f) == 0);
	CHECK(tt_result(&f) == VDM_ERROR_CANCELLED);
	let_go(dmt, &g);
	CHECK(tt_verify_byte(area, n, 0) == SIZE_MAX);
	MASYNC__STORE(&masync__test_thr_cpus, 0u, relaxed);
	tt_log("cancelled after the first poll: never run ok\n");
}

/* An unsplit operation that finds ring room writes nothing past the first
 * two lines of its state (the split-only fields and the wait list's
 * links), run by the polling thread (the worker held in the gate) or by a
 * worker (the gate's memcpy_fn, open: a user function is the workers'
 * only): a third line moved between the caller and
 * the worker per operation cost the 64 x 4 KiB batch 6-10 %. */
static void
test_unsplit_lines(unsigned char *src)
{
	const size_t cold = offsetof(struct masync__thr_op, chunk);
	const size_t n = 4096;
	unsigned char before[sizeof(struct masync__thr_op)];
	int by_worker;

	CHECK(cold >= 2 * LINE || sizeof(void *) != 8);
	for (by_worker = 0; by_worker < 2; by_worker++) {
		unsigned char gbuf[64];
		struct vdm_operation_future g, f;
		struct data_mover_threads *dmt;
		unsigned char *op;

		if (by_worker) {
			dmt = data_mover_threads_new(1, 16,
				FUTURE_NOTIFIER_WAKER);
			CHECK(dmt != NULL);
			tt_gate_reset(1);
			data_mover_threads_set_memcpy_fn(dmt, tt_gate_memcpy);
		} else {
			dmt = held_mover(&g, gbuf);
		}
		memset(area, 0, n);
		tt_fill(src, n, 90u + (unsigned)by_worker);
		f = vdm_memcpy(data_mover_threads_get_vdm(dmt), area, src, n,
			0);
		op = (unsigned char *)state_of(&f);
		CHECK(op != NULL);
		memset(op + cold, 0xa5, sizeof(before) - cold);
		memcpy(before, op, sizeof(before));
		tt_busy_wait(&f, 20000);
		CHECK(tt_result(&f) == VDM_SUCCESS);
		CHECK(tt_verify(area, n, 90u + (unsigned)by_worker) ==
			SIZE_MAX);
		if (by_worker)
			CHECK(atomic_load(&tt_the_gate.calls) == 1);
		/* (the state is back in the pool; its memory stays) */
		CHECK(memcmp(op + cold, before + cold, sizeof(before) - cold)
			== 0);
		if (by_worker)
			data_mover_threads_delete(dmt);
		else
			let_go(dmt, &g);
	}
	tt_log("unsplit: two lines of its state ok\n");
}

/* Split operations pushed without waking a worker (the measured figures
 * say the poller alone is faster: set here) complete when polled on,
 * however many (the ring never fills with their entries for good), and
 * one polled only until it was handed over is run by
 * data_mover_threads_delete. Their entries stay queued until a worker
 * pops them (a trim stops at a split one's); from half full on a push
 * wakes the workers for that, but until they run (a loaded machine may
 * keep them off the CPUs for the next 8 operations) the ring may fill,
 * and a first poll then finds no room: IDLE, on the wait list, as
 * data_mover_threads_new says. That is timing, not asserted. */
static void
test_no_wake(unsigned char *src)
{
	struct data_mover_threads *dmt =
		data_mover_threads_new(2, 16, FUTURE_NOTIFIER_WAKER);
	struct vdm *vdm = data_mover_threads_get_vdm(dmt);
	const size_t n = (size_t)2 << 20;
	struct vdm_operation_future f;
	enum future_state s;
	uint64_t end;
	unsigned r;

	CHECK(dmt != NULL);
	MASYNC__STORE(&masync__test_thr_cpus, 2u, relaxed);
	MASYNC__STORE(&dmt->wake_ns, (uint64_t)1 << 40, relaxed);
	MASYNC__STORE(&dmt->ps_per_byte[0], 1, relaxed);
	MASYNC__STORE(&dmt->ps_per_byte[1], 1, relaxed);
	MASYNC__STORE(&dmt->ps_worker[0], 1, relaxed);
	MASYNC__STORE(&dmt->ps_worker[1], 1, relaxed);
	CHECK(!masync__thr_wake_pays(dmt, n, (size_t)64 << 10, 0));
	for (r = 0; r < 3 * 16; r++) {
		tt_fill(src, n, 90 + r);
		f = vdm_memcpy(vdm, area, src, n, 0);
		tt_busy_wait(&f, 20000);
		CHECK(tt_result(&f) == VDM_SUCCESS);
		CHECK(tt_verify(area, n, 90 + r) == SIZE_MAX);
		/* (the workers would measure these again) */
		MASYNC__STORE(&dmt->wake_ns, (uint64_t)1 << 40, relaxed);
		MASYNC__STORE(&dmt->ps_per_byte[0], 1, relaxed);
		MASYNC__STORE(&dmt->ps_per_byte[1], 1, relaxed);
	MASYNC__STORE(&dmt->ps_worker[0], 1, relaxed);
	MASYNC__STORE(&dmt->ps_worker[1], 1, relaxed);
	}
	tt_fill(src, n, 200);
	memset(area, 0, n);
	f = vdm_memcpy(vdm, area, src, n, 0);
	/* Handed over: queued (RUNNING, or COMPLETE if a worker ran it
	 * already), or waiting for room (IDLE) while the ring is full of the
	 * entries above; a worker's pop moves it in (no poll helps a waiting
	 * one, and none here helps a queued one: a first poll after the wait
	 * only checks), so it leaves IDLE unless the ring stays full for
	 * good. */
	end = tt_deadline(20000);
	while ((s = future_poll(FUTURE_AS_RUNNABLE(&f), NULL)) ==
			FUTURE_STATE_IDLE) {
		CHECK(tt_now_ns() < end);
		thrd_yield();
	}
	CHECK(s == FUTURE_STATE_RUNNING || s == FUTURE_STATE_COMPLETE);
	data_mover_threads_delete(dmt);
	CHECK(tt_verify(area, n, 200) == SIZE_MAX);
	MASYNC__STORE(&masync__test_thr_cpus, 0u, relaxed);
	tt_log("split operations nobody woke a worker for ok\n");
}

/* the state's plan after the first poll, with `cpus` CPUs and `workers` */
static void
plan_of(unsigned cpus, size_t workers, unsigned char *src, size_t *nchunks,
	size_t *extra, int *stream)
{
	struct vdm_operation_future g[MAXW], f;
	unsigned char gbuf[MAXW][64];
	/* workers held: the first poll cannot see it done (and drop it) */
	struct data_mover_threads *dmt = held_mover_of(workers, g, gbuf);
	const size_t n = (size_t)4 << 20;

	MASYNC__STORE(&masync__test_thr_cpus, cpus, relaxed);
	tt_fill(src, n, cpus);
	f = vdm_memcpy(data_mover_threads_get_vdm(dmt), area, src, n, 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), NULL) ==
		FUTURE_STATE_RUNNING);
	*nchunks = state_of(&f)->nchunks;
	*extra = state_of(&f)->extra;
	*stream = state_of(&f)->stream;
	tt_busy_wait(&f, 20000);
	CHECK(tt_result(&f) == VDM_SUCCESS);
	CHECK(tt_verify(area, n, cpus) == SIZE_MAX);
	let_go_of(workers, dmt, g);
	MASYNC__STORE(&masync__test_thr_cpus, 0u, relaxed);
}

static void
test_participants(unsigned char *src)
{
	const size_t n = (size_t)4 << 20;
	size_t nchunks, extra;
	int stream;

	/* one CPU: whole, streamed from twice a share's threshold */
	plan_of(1, 2, src, &nchunks, &extra, &stream);
	CHECK(nchunks == 1);
	CHECK(stream == (n >= 2 * masync__stream_min()));
	plan_of(2, 1, src, &nchunks, &extra, &stream); /* caller + 1 worker */
	CHECK(nchunks > 1 && extra == 0);
	CHECK(stream == (n / 2 >= masync__stream_min()));
	plan_of(3, 4, src, &nchunks, &extra, &stream); /* caller + 2 of 4 */
	CHECK(nchunks > 1 && extra == 1);
	plan_of(64, 2, src, &nchunks, &extra, &stream); /* caller + both */
	CHECK(nchunks > 1 && extra == 1);
	tt_log("participants ok\n");
}

/* Split operations that their poller ran whole leave their queue entries
 * (and their helpers') for the workers. With every worker busy (here in
 * the gate; in the report that found it, a program's waker on the only
 * worker, copying), ringbuf_size of them filled the ring and the next
 * operation waited for room for good: only a worker's pop dropped them.
 * Now a poll drops the entries of done operations. Bounded polls, no
 * clock: before the fix operation 17 (16 with helpers: 9) never ran. */
static void
done_entries(unsigned cpus, size_t workers, unsigned char *src)
{
	struct vdm_operation_future g[MAXW], f;
	unsigned char gbuf[MAXW][64];
	struct data_mover_threads *dmt = held_mover_of(workers, g, gbuf);
	const size_t n = (size_t)4 << 20;
	unsigned i, k, split = 0;

	MASYNC__STORE(&masync__test_thr_cpus, cpus, relaxed);
	for (i = 0; i < 16 + 2; i++) {
		tt_fill(src, n, 50u + i);
		f = vdm_memcpy(data_mover_threads_get_vdm(dmt), area, src,
			n, 0);
		/* (the state is the mover's again once complete; a first
		 * poll that found no room leaves the future idle) */
		if (future_poll(FUTURE_AS_RUNNABLE(&f), NULL) ==
				FUTURE_STATE_RUNNING) {
			CHECK(state_of(&f)->nchunks > 1);
			CHECK(state_of(&f)->extra == (size_t)(cpus - 2));
			split++;
		}
		for (k = 0; k < 10000 && future_poll(FUTURE_AS_RUNNABLE(&f),
				NULL) != FUTURE_STATE_COMPLETE; k++)
			;
		if (k == 10000)
			fprintf(stderr, "operation %u of %zu-worker mover: "
				"not done after %u polls\n", i, workers, k);
		CHECK(k < 10000);
		CHECK(tt_result(&f) == VDM_SUCCESS);
		CHECK(tt_verify(area, n, 50u + i) == SIZE_MAX);
	}
	CHECK(split == 16 + 2);
	CHECK(atomic_load(&tt_the_gate.calls) == 0); /* all the poller's */
	MASYNC__STORE(&masync__test_thr_cpus, 0u, relaxed);
	let_go_of(workers, dmt, g);
}

static void
test_done_entries(unsigned char *src)
{
	done_entries(2, 1, src); /* the operation's own entries */
	done_entries(3, 2, src); /* and a helper's each */
	tt_log("done operations' entries dropped by polls ok\n");
}

#endif

int
main(void)
{
#ifndef MASYNC__X86
	(void)hook_streamed;
	(void)hook_fence;
	printf("SKIP: the split kernels stream (and this test counts it) "
		"on x86 only\n");
	return 77;
#else
	unsigned char *src = (unsigned char *)tt_xmalloc(AREA);

	tt_valgrind_setup();
	tt_watchdog("split");
	area = (unsigned char *)aligned_alloc(LINE, AREA);
	wrote = (atomic_uint *)calloc(AREA / LINE, sizeof(*wrote));
	mark = (_Atomic uint64_t *)calloc(AREA / LINE, sizeof(*mark));
	CHECK(area != NULL && wrote != NULL && mark != NULL);
	test_caller_share(src);
	test_cancel(src);
	test_participants(src);
	test_unsplit_lines(src);
	test_no_wake(src);
	test_done_entries(src);
	free(area);
	free(wrote);
	free(mark);
	free(src);
	printf("test_threads_split ok\n");
	return 0;
#endif
}
