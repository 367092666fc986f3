/* test_threads_fork.c - a threads mover in a child forked after it was
 * made (a daemon that made its mover before daemonising, a child that
 * exits through an atexit handler that deletes it). The child has none of
 * the mover's workers, and its locks may be held by threads that do not
 * exist there; before, the child's runtime_wait and its
 * data_mover_threads_delete waited for those workers forever.
 *
 * In the parent: one worker, a queue of 6 (ringbuf_size: also at most 6
 * operations in flight); F is done (its waker called) but not polled
 * again; the worker is held inside a user memcpy_fn (A), two operations
 * are queued behind it (B, C), four memsets their poller ran (a second
 * poll runs a queued one) leave their entries behind them, which fill
 * the queue, so a fourth operation waits for queue room (D); E is made
 * and never polled. F, A-E are six in flight (G, made and never polled,
 * stands in for F where F's first poll saw it done already): a seventh
 * is refused (born COMPLETE with VDM_ERROR_OUT_OF_MEMORY, nothing
 * written). Then:
 * - child 1: F completes with its bytes; A-D complete at their next poll
 *   with VDM_ERROR_NOT_SUPPORTED, without a call of their wakers (and
 *   with nothing written); E and new operations (every type,
 *   flags, a split-sized one, overlapping moves, a user function) run on
 *   the polling thread, through runtime_wait / _multiple and busy polls;
 *   an unstarted one can be cancelled; delete returns; a new mover works
 *   (not under TSan: it does not support threads made after a fork of a
 *   process with threads);
 * - child 2: only deletes the mover;
 * - child 3: the bound counts what the child makes, from 0: with the
 *   parent's six in flight (its other threads' futures, which a child may
 *   never poll), the child makes six, a seventh is refused; they complete,
 *   and the polls of the parent's ones there give back nothing of the
 *   child's (six again, then a refusal);
 * - the parent: the poll that sees F complete (or G's cancellation) gives
 *   its slot back (an operation can be made again), and, its worker let
 *   go, A-F and that one succeed with the right bytes.
 * With the argument "stress" (suite slow): 100 movers, each forked twice
 * at varying moments (the first soon after it starts) while two threads
 * run batches on it (one through
 * runtime_wait_multiple, one busy polling; a queue of 16 with up to 16
 * in flight keeps the ring and the pool busy); each child copies 50
 * times through the parent's mover and deletes it, and must be done
 * within 60 s (a lock a parent's thread held at the fork made such a
 * child wait forever).
 * The children report through a shared page (under valgrind their exit
 * status also counts the leak report of what they inherit).
 * First, atfork_fails: when the fork handler cannot be registered
 * (pthread_atfork: ENOMEM), no mover is made (ENOMEM): a child could not
 * tell it was one. Before, the mover was made, and a child's
 * data_mover_threads_delete waited for the parent's workers forever. */
#define _GNU_SOURCE
/* the implementation (emitted in this file) registers through this */
static int tf_atfork(void (*prepare)(void), void (*parent)(void),
	void (*child)(void));
#define MASYNC__PTHREAD_ATFORK tf_atfork
#include "test_threads_util.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define N 4096
#define BIG (4u << 20) /* a size the parent splits between threads */

static atomic_int gate;     /* 1: held_memcpy returns */
static atomic_int entered;  /* held_memcpy calls */
static _Thread_local char here;    /* its address names a thread */
static _Atomic(uintptr_t) fn_thread; /* held_memcpy's last caller */
static atomic_int wakes;    /* the test waker's calls */

static void *
held_memcpy(void *dst, const void *src, size_t n, unsigned flags)
{
	(void)flags;
	atomic_store(&fn_thread, (uintptr_t)&here);
	atomic_fetch_add(&entered, 1);
	while (!atomic_load(&gate))
		tt_sleep_us(100);
	return memcpy(dst, src, n);
}

static void
count_wake(void *data)
{
	(void)data;
	atomic_fetch_add(&wakes, 1);
}

static enum future_state
poll_waker(struct vdm_operation_future *f)
{
	struct future_notifier n;

	memset(&n, 0, sizeof(n));
	n.waker.wake = count_wake;
	n.notifier_used = FUTURE_NOTIFIER_NONE;
	return future_poll(FUTURE_AS_RUNNABLE(f), &n);
}

static void
busy(struct vdm_operation_future *f)
{
	while (future_poll(FUTURE_AS_RUNNABLE(f), NULL) !=
			FUTURE_STATE_COMPLETE)
		;
}

static int
valgrind_run(void)
{
	const char *p = getenv("LD_PRELOAD");

	return p != NULL && strstr(p, "vgpreload") != NULL;
}

static void
fill(unsigned char *p, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 131u + seed);
}

static int
is_fill(const unsigned char *p, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != (unsigned char)(i * 131u + seed))
			return 0;
	return 1;
}

static int
all_are(const unsigned char *p, size_t n, unsigned char c)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != c)
			return 0;
	return 1;
}

struct bufs {
	unsigned char *src, *a, *b, *c, *d, *e, *f; /* N each */
	unsigned char *x;                       /* N: the refused one's */
	unsigned char *big;                     /* BIG */
};

/* the parent's operations, made and left as the header says */
struct ops {
	struct vdm_operation_future a, b, c, d, e, f;
};

static void
child_uses(struct data_mover_threads *dmt, struct runtime *rt,
	struct bufs *m, struct ops *o)
{
	struct vdm *vdm = data_mover_threads_get_vdm(dmt);
	struct vdm_operation_future f, g, h;
	struct future *fs[3];
	int w0 = atomic_load(&wakes);

	/* finished by the parent's worker before the fork */
	CHECK(poll_waker(&o->f) == FUTURE_STATE_COMPLETE);
	CHECK(FUTURE_OUTPUT(&o->f)->result == VDM_SUCCESS);
	CHECK(is_fill(m->f, N, 1));
	/* what the parent's threads had: lost with them */
	CHECK(poll_waker(&o->a) == FUTURE_STATE_COMPLETE);
	CHECK(FUTURE_OUTPUT(&o->a)->result == VDM_ERROR_NOT_SUPPORTED);
	CHECK(poll_waker(&o->b) == FUTURE_STATE_COMPLETE);
	CHECK(FUTURE_OUTPUT(&o->b)->result == VDM_ERROR_NOT_SUPPORTED);
	/* through the runtime: its wait ends (it did not, before) */
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&o->c));
	CHECK(FUTURE_OUTPUT(&o->c)->result == VDM_ERROR_NOT_SUPPORTED);
	CHECK(FUTURE_STATE(&o->d) == FUTURE_STATE_IDLE); /* waits for room */
	CHECK(poll_waker(&o->d) == FUTURE_STATE_COMPLETE);
	CHECK(FUTURE_OUTPUT(&o->d)->result == VDM_ERROR_NOT_SUPPORTED);
	CHECK(atomic_load(&wakes) == w0);
	CHECK(all_are(m->b, N, 0) && all_are(m->c, N, 0) &&
		all_are(m->d, N, 0));

	/* made by the parent, first polled here: runs here */
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&o->e));
	CHECK(FUTURE_OUTPUT(&o->e)->result == VDM_SUCCESS);
	CHECK(FUTURE_OUTPUT(&o->e)->output.memset.str == m->e);
	CHECK(all_are(m->e, N, 0x33));

	/* new ones, on this thread; the user function once, whole */
	atomic_store(&gate, 1); /* this process's copy of the gate */
	atomic_store(&entered, 0);
	memset(m->a, 0, N);
	f = vdm_memcpy(vdm, m->a, m->src, N, VDM_F_MEM_DURABLE);
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&f));
	CHECK(FUTURE_OUTPUT(&f)->result == VDM_SUCCESS);
	CHECK(FUTURE_OUTPUT(&f)->output.memcpy.dest == m->a);
	CHECK(is_fill(m->a, N, 1));
	CHECK(atomic_load(&entered) == 1);
	CHECK(atomic_load(&fn_thread) == (uintptr_t)&here);

	/* the built-in kernels, busy polled; a split-sized memset */
	memset(m->big, 0, BIG);
	fill(m->e, N, 9);
	f = vdm_memmove(vdm, m->big, m->e, N, VDM_F_NO_CACHE_HINT);
	busy(&f);
	CHECK(FUTURE_OUTPUT(&f)->result == VDM_SUCCESS);
	CHECK(is_fill(m->big, N, 9));
	f = vdm_memset(vdm, m->big, 0x5a, BIG, 0);
	busy(&f);
	CHECK(FUTURE_OUTPUT(&f)->result == VDM_SUCCESS);
	CHECK(all_are(m->big, BIG, 0x5a));

	/* overlapping moves, a flush, an empty one: runtime_wait_multiple */
	fill(m->b, N, 5);
	fill(m->c, N, 6);
	f = vdm_memmove(vdm, m->b + 16, m->b, N - 16, 0);
	g = vdm_memmove(vdm, m->c, m->c + 16, N - 16, 0);
	h = vdm_flush(vdm, m->d, N, VDM_F_MEM_DURABLE);
	fs[0] = FUTURE_AS_RUNNABLE(&f);
	fs[1] = FUTURE_AS_RUNNABLE(&g);
	fs[2] = FUTURE_AS_RUNNABLE(&h);
	runtime_wait_multiple(rt, fs, 3);
	CHECK(FUTURE_OUTPUT(&f)->result == VDM_SUCCESS);
	CHECK(FUTURE_OUTPUT(&g)->result == VDM_SUCCESS);
	CHECK(FUTURE_OUTPUT(&h)->result == VDM_SUCCESS);
	CHECK(is_fill(m->b + 16, N - 16, 5));
	{
		size_t i;

		for (i = 0; i + 16 < N; i++)
			CHECK(m->c[i] == (unsigned char)((i + 16) * 131u + 6));
	}
	f = vdm_memset(vdm, m->d, 1, 0, 0);
	busy(&f);
	CHECK(FUTURE_OUTPUT(&f)->result == VDM_SUCCESS);

	/* bad input is still refused; an unstarted one still cancels */
	f = vdm_memset(vdm, m->d, 1, N, (uint64_t)1 << 40);
	busy(&f);
	CHECK(FUTURE_OUTPUT(&f)->result == VDM_ERROR_INVALID_ARGUMENT);
	f = vdm_memset(vdm, m->d, 1, N, 0);
	CHECK(vdm_cancel(&f) == 0);
	CHECK(FUTURE_OUTPUT(&f)->result == VDM_ERROR_CANCELLED);
	CHECK(all_are(m->d, N, 0));

	data_mover_threads_delete(dmt);
}

/* a mover made in the child has workers of its own */
static void
child_new_mover(struct runtime *rt, struct bufs *m)
{
	struct data_mover_threads *d2 =
		data_mover_threads_new(2, 8, FUTURE_NOTIFIER_WAKER);
	struct vdm_operation_future f;

	CHECK(d2 != NULL);
	memset(m->a, 0, N);
	f = vdm_memcpy(data_mover_threads_get_vdm(d2), m->a, m->src, N, 0);
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&f));
	CHECK(FUTURE_OUTPUT(&f)->result == VDM_SUCCESS);
	CHECK(is_fill(m->a, N, 1));
	data_mover_threads_delete(d2);
}

/* the child's own bound: RING made here at once, whatever the parent had
 * in flight; the parent's, polled here, do not count */
#define RING 6
static void
child_bound(struct data_mover_threads *dmt, struct bufs *m, struct ops *o)
{
	struct vdm *vdm = data_mover_threads_get_vdm(dmt);
	struct vdm_operation_future f[RING + 1];
	int round, i;

	for (round = 0; round < 2; round++) {
		memset(m->big, 0, (size_t)(RING + 1) * N);
		for (i = 0; i <= RING; i++)
			f[i] = vdm_memset(vdm, m->big + (size_t)i * N,
				0x60 + i, N, 0);
		for (i = 0; i < RING; i++)
			CHECK(FUTURE_STATE(&f[i]) == FUTURE_STATE_IDLE);
		CHECK(FUTURE_STATE(&f[RING]) == FUTURE_STATE_COMPLETE);
		CHECK(FUTURE_OUTPUT(&f[RING])->result ==
			VDM_ERROR_OUT_OF_MEMORY);
		for (i = 0; i < RING; i++) {
			busy(&f[i]);
			CHECK(FUTURE_OUTPUT(&f[i])->result == VDM_SUCCESS);
			CHECK(all_are(m->big + (size_t)i * N, N,
				(unsigned char)(0x60 + i)));
		}
		CHECK(all_are(m->big + (size_t)RING * N, N, 0));
		if (round == 0) { /* the parent's, polled to their end here */
			(void)poll_waker(&o->f);
			(void)poll_waker(&o->a);
			(void)poll_waker(&o->b);
			(void)poll_waker(&o->c);
			(void)poll_waker(&o->d);
			busy(&o->e);
		}
	}
	data_mover_threads_delete(dmt);
}

/* runs fn in a child; its verdict through a shared page */
static void
in_child_as(const char *what, void (*fn)(void *), void *arg)
{
	atomic_int *verdict = (atomic_int *)mmap(NULL, 4096,
		PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t pid;
	int status;

	CHECK(verdict != MAP_FAILED);
	atomic_store(verdict, 0);
	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		fn(arg);
		atomic_store(verdict, 1);
		fflush(NULL);
		_exit(0);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	if (!WIFEXITED(status) || atomic_load(verdict) != 1 ||
			(WEXITSTATUS(status) != 0 && !valgrind_run())) {
		fprintf(stderr, "%s: %s %d\n", what, WIFSIGNALED(status) ?
			"killed by signal" : "exit status",
			WIFSIGNALED(status) ? WTERMSIG(status) :
			WEXITSTATUS(status));
		CHECK(!"a child failed");
	}
	munmap((void *)verdict, 4096);
}

static void
in_child(const char *what, void (*fn)(void *), void *arg)
{
	in_child_as(what, fn, arg);
	tt_log("ok: %s\n", what);
}

static void
in_child_quiet(void (*fn)(void *), void *arg)
{
	in_child_as("stress child", fn, arg);
}

struct world {
	struct data_mover_threads *dmt;
	struct runtime *rt;
	struct bufs *m;
	struct ops *o;
};

static void
child1(void *arg)
{
	struct world *w = (struct world *)arg;

	child_uses(w->dmt, w->rt, w->m, w->o);
	/* TSan ends a child that makes threads after a fork of a process
	 * with threads */
	if (!TT_TSAN)
		child_new_mover(w->rt, w->m);
	runtime_delete(w->rt);
}

static void
child2(void *arg)
{
	struct world *w = (struct world *)arg;

	data_mover_threads_delete(w->dmt);
}

static void
child3(void *arg)
{
	struct world *w = (struct world *)arg;

	child_bound(w->dmt, w->m, w->o);
	runtime_delete(w->rt);
}

/* ---- stress: forks while other threads use the mover ---- */

static struct data_mover_threads *s_dmt;
static atomic_int s_stop;
static atomic_int s_warm; /* hammers past their first batch */

/* clang 14's ASan and TSan allocators are not fork-safe: a child's malloc
 * or free waits forever for a lock a parent's thread held in the allocator
 * at the fork (TSan: the child's free of a pool chunk, in the size class's
 * region lock, while a hammer's calloc grew the parent's pool; 1 run in 40
 * on a loaded machine, seen with gdb). Under them, rounds fork only once
 * the hammers' (and the pool's) allocations are done; the other builds
 * also fork while the mover starts up. */
#define FORK_WHILE_ALLOCATING (!TT_SANITIZED)

static void *
hammer(void *arg)
{
	struct runtime *rt = tt_runtime_new();
	unsigned char *a = (unsigned char *)malloc(8 * N);
	unsigned char *b = (unsigned char *)malloc(8 * N);
	unsigned k = 0;

	CHECK(rt != NULL && a != NULL && b != NULL);
	fill(a, 8 * N, 2);
	while (!atomic_load(&s_stop)) {
		struct vdm_operation_future f[8];
		struct future *fs[8];
		int i, n = 1 + (int)(k++ % 8);

		for (i = 0; i < n; i++) {
			f[i] = vdm_memcpy(data_mover_threads_get_vdm(s_dmt),
				b + i * N, a + i * N, N, 0);
			fs[i] = FUTURE_AS_RUNNABLE(&f[i]);
		}
		if (arg != NULL)
			runtime_wait_multiple(rt, fs, (size_t)n);
		else
			for (i = 0; i < n; i++)
				busy(&f[i]);
		for (i = 0; i < n; i++)
			CHECK(FUTURE_OUTPUT(&f[i])->result == VDM_SUCCESS);
		if (k == 8) /* (one batch of each size done) */
			atomic_fetch_add(&s_warm, 1);
	}
	runtime_delete(rt);
	free(a);
	free(b);
	return NULL;
}

static void
stress_child(void *arg)
{
	struct runtime *rt = runtime_new();
	unsigned char *a = (unsigned char *)malloc(N);
	unsigned char *b = (unsigned char *)malloc(N);
	int j;

	(void)arg;
	alarm(60); /* a child that waits forever is killed: the check fails */
	CHECK(rt != NULL && a != NULL && b != NULL);
	fill(a, N, 4);
	for (j = 0; j < 50; j++) {
		struct vdm_operation_future f = vdm_memcpy(
			data_mover_threads_get_vdm(s_dmt), b, a, N, 0);

		memset(b, 0, N);
		runtime_wait(rt, FUTURE_AS_RUNNABLE(&f));
		CHECK(FUTURE_OUTPUT(&f)->result == VDM_SUCCESS);
		CHECK(is_fill(b, N, 4));
	}
	data_mover_threads_delete(s_dmt);
	runtime_delete(rt);
	free(a);
	free(b);
}

/* A new mover each round: its first operations grow its pool, which is
 * where a lock was held at some forks. Its ring of 16: the hammers keep
 * up to 8 in flight each (no creation here may be refused); a child
 * counts its own from 0 (child 3). */
static int
stress(void)
{
	unsigned seed = 12345;
	int i, j;

	for (i = 0; i < 100; i++) {
		pthread_t t[2];

		s_dmt = data_mover_threads_new(2, 2 * 8,
			FUTURE_NOTIFIER_WAKER);
		CHECK(s_dmt != NULL);
		atomic_store(&s_stop, 0);
		atomic_store(&s_warm, 0);
		CHECK(pthread_create(&t[0], NULL, hammer, NULL) == 0);
		CHECK(pthread_create(&t[1], NULL, hammer, &s_stop) == 0);
		while (!FORK_WHILE_ALLOCATING && atomic_load(&s_warm) < 2)
			tt_sleep_us(100);
		for (j = 0; j < 2; j++) {
			seed = seed * 1103515245u + 12345u;
			tt_sleep_us(j == 0 ? (seed >> 16) % 200 :
				(seed >> 16) % 2000);
			in_child_quiet(stress_child, NULL);
		}
		atomic_store(&s_stop, 1);
		CHECK(pthread_join(t[0], NULL) == 0);
		CHECK(pthread_join(t[1], NULL) == 0);
		data_mover_threads_delete(s_dmt);
	}
	tt_log("ok: 200 forks while two threads use the mover\n");
	return 0;
}

static int tf_atfork_fail; /* tf_atfork says ENOMEM */

static int
tf_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void))
{
	return tf_atfork_fail ? ENOMEM :
		pthread_atfork(prepare, parent, child);
}

/* in a child, as the registration is tried once per process (none was
 * tried here yet: no mover was made) */
static void
atfork_fails(void)
{
	pid_t pid = fork();
	int st = 0;

	CHECK(pid >= 0);
	if (pid == 0) {
		struct vdm *sync;
		struct vdm_operation_future f;
		char a[8] = "1234567", b[8] = "";

		tf_atfork_fail = 1;
		errno = 0;
		if (data_mover_threads_new(1, 2, FUTURE_NOTIFIER_WAKER) !=
				NULL || errno != ENOMEM)
			_exit(1);
		/* for good: a fork could come between two registrations */
		tf_atfork_fail = 0;
		errno = 0;
		if (data_mover_threads_default() != NULL || errno != ENOMEM)
			_exit(2);
		/* the sync mover needs no fork handler */
		sync = data_mover_sync_get_vdm(data_mover_sync_new());
		if (sync == NULL)
			_exit(3);
		f = vdm_memcpy(sync, b, a, sizeof(a), 0);
		while (future_poll(FUTURE_AS_RUNNABLE(&f), NULL) !=
				FUTURE_STATE_COMPLETE)
			;
		_exit(f.output.result == VDM_SUCCESS &&
			memcmp(a, b, sizeof(a)) == 0 ? 0 : 4);
	}
	CHECK(waitpid(pid, &st, 0) == pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "atfork_fails: child status %#x\n",
			(unsigned)st);
		exit(1);
	}
}

static int
cases(void)
{
	/* six in flight (F, A-E): the bound, and the ring's length */
	struct data_mover_threads *dmt =
		data_mover_threads_new(1, RING, FUTURE_NOTIFIER_WAKER);
	struct runtime *rt = tt_runtime_new();
	struct vdm *vdm;
	struct bufs m;
	struct ops o;
	struct world w;
	struct vdm_operation_future x, g, s[4];
	int i, with_g;

	CHECK(dmt != NULL);
	vdm = data_mover_threads_get_vdm(dmt);
	m.src = (unsigned char *)malloc(N);
	m.a = (unsigned char *)calloc(1, N);
	m.b = (unsigned char *)calloc(1, N);
	m.c = (unsigned char *)calloc(1, N);
	m.d = (unsigned char *)calloc(1, N);
	m.e = (unsigned char *)calloc(1, N);
	m.f = (unsigned char *)calloc(1, N);
	m.x = (unsigned char *)calloc(1, N);
	m.big = (unsigned char *)calloc(1, BIG);
	CHECK(m.src && m.a && m.b && m.c && m.d && m.e && m.f && m.x &&
		m.big);
	fill(m.src, N, 1);
	data_mover_threads_set_memcpy_fn(dmt, held_memcpy);

	/* F done, not polled again; A holds the one worker; B and C are
	 * queued, the entries of four memsets behind them fill the queue; D
	 * waits */
	o.f = vdm_memmove(vdm, m.f, m.src, N, 0);
	CHECK(poll_waker(&o.f) == FUTURE_STATE_RUNNING ||
		FUTURE_STATE(&o.f) == FUTURE_STATE_COMPLETE);
	if (FUTURE_STATE(&o.f) != FUTURE_STATE_COMPLETE)
		while (atomic_load(&wakes) == 0)
			tt_sleep_us(100);
	o.a = vdm_memcpy(vdm, m.a, m.src, N, 0);
	CHECK(poll_waker(&o.a) == FUTURE_STATE_RUNNING);
	while (atomic_load(&entered) == 0)
		tt_sleep_us(100);
	o.b = vdm_memmove(vdm, m.b, m.src, N, 0);
	o.c = vdm_memmove(vdm, m.c, m.src, N, 0);
	CHECK(poll_waker(&o.b) == FUTURE_STATE_RUNNING);
	CHECK(poll_waker(&o.c) == FUTURE_STATE_RUNNING);
	/* Entries that stay: each memset is queued by its first poll and
	 * run by its second (the worker is held), whose completion gives
	 * its slot back; its entry stays until a worker pops it, and a push
	 * drops such entries only from the queue's head, where B waits. (A
	 * waker on the first poll: a first poll without a notifier could
	 * run B, as a worker would, to make room.) */
	for (i = 0; i < 4; i++) {
		s[i] = vdm_memset(vdm, m.big + (size_t)i * N, 0x40 + i, N, 0);
		CHECK(poll_waker(&s[i]) == FUTURE_STATE_RUNNING);
		CHECK(future_poll(FUTURE_AS_RUNNABLE(&s[i]), NULL) ==
			FUTURE_STATE_COMPLETE);
		CHECK(FUTURE_OUTPUT(&s[i])->result == VDM_SUCCESS);
		CHECK(all_are(m.big + (size_t)i * N, N,
			(unsigned char)(0x40 + i)));
	}
	o.d = vdm_memmove(vdm, m.d, m.src, N, 0);
	CHECK(poll_waker(&o.d) == FUTURE_STATE_IDLE);
	o.e = vdm_memset(vdm, m.e, 0x33, N, 0);
	/* F is in flight until a poll sees it complete: where its first
	 * poll did, G holds its slot instead (made, never polled) */
	with_g = FUTURE_STATE(&o.f) == FUTURE_STATE_COMPLETE;
	if (with_g) {
		g = vdm_memset(vdm, m.x, 0x55, N, 0);
		CHECK(FUTURE_STATE(&g) == FUTURE_STATE_IDLE);
	}
	/* F (or G), A-E: six in flight, the bound; a seventh is refused */
	x = vdm_memset(vdm, m.x, 0x44, N, 0);
	CHECK(FUTURE_STATE(&x) == FUTURE_STATE_COMPLETE);
	CHECK(FUTURE_OUTPUT(&x)->result == VDM_ERROR_OUT_OF_MEMORY);
	CHECK(vdm_cancel(&x) == EALREADY);
	CHECK(all_are(m.x, N, 0));

	w.dmt = dmt;
	w.rt = rt;
	w.m = &m;
	w.o = &o;
	in_child("child: the parent's mover, used, then deleted", child1, &w);
	in_child("child: the parent's mover, deleted at once", child2, &w);
	in_child("child: its own bound, from 0", child3, &w);

	/* the parent's own are untouched by its children */
	CHECK(atomic_load(&entered) == 1);
	CHECK(FUTURE_STATE(&o.d) == FUTURE_STATE_IDLE);
	/* the poll that sees F complete gives its slot back, or G's
	 * cancellation does: one more can be made (it waits for room behind
	 * D until the worker is let go) */
	if (with_g)
		CHECK(vdm_cancel(&g) == 0);
	CHECK(poll_waker(&o.f) == FUTURE_STATE_COMPLETE);
	x = vdm_memset(vdm, m.x, 0x44, N, 0);
	CHECK(FUTURE_STATE(&x) == FUTURE_STATE_IDLE);
	atomic_store(&gate, 1);
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&x));
	CHECK(FUTURE_OUTPUT(&x)->result == VDM_SUCCESS);
	CHECK(all_are(m.x, N, 0x44));
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&o.a));
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&o.b));
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&o.c));
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&o.d));
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&o.e));
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&o.f));
	CHECK(FUTURE_OUTPUT(&o.f)->result == VDM_SUCCESS);
	CHECK(FUTURE_OUTPUT(&o.a)->result == VDM_SUCCESS);
	CHECK(FUTURE_OUTPUT(&o.b)->result == VDM_SUCCESS);
	CHECK(FUTURE_OUTPUT(&o.c)->result == VDM_SUCCESS);
	CHECK(FUTURE_OUTPUT(&o.d)->result == VDM_SUCCESS);
	CHECK(FUTURE_OUTPUT(&o.e)->result == VDM_SUCCESS);
	CHECK(is_fill(m.a, N, 1) && is_fill(m.b, N, 1) &&
		is_fill(m.c, N, 1) && is_fill(m.d, N, 1) &&
		is_fill(m.f, N, 1));
	CHECK(all_are(m.e, N, 0x33));
	tt_log("ok: the parent's operations, after its children\n");

	data_mover_threads_delete(dmt);
	runtime_delete(rt);
	free(m.src);
	free(m.a);
	free(m.b);
	free(m.c);
	free(m.d);
	free(m.e);
	free(m.f);
	free(m.x);
	free(m.big);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *qemu = getenv("MASYNC_TEST_QEMU");

	/* meson sets it when the tests run in qemu-user (cross builds) */
	if (qemu != NULL && strcmp(qemu, "1") == 0) {
		printf("SKIP: qemu-user itself crashes in the child of a "
			"threaded program's fork() (qemu 7.2: cpu_exec "
			"assertion)\n");
		return 77;
	}
	atfork_fails();
	return argc > 1 && strcmp(argv[1], "stress") == 0 ? stress() :
		cases();
}
