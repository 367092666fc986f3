/* test_alloc_fail.c - every allocation of the library failing in turn.
 *
 * MINIASYNC_MALLOC is a counting allocator that fails its k-th call from
 * a mark on. For k = 1, 2, ... until a call succeeds with nothing failed,
 * each constructor (runtime_new, data_mover_sync_new, data_mover_threads_new
 * with each notifier, data_mover_threads_default) either succeeds, and its
 * mover then copies correctly, or returns NULL with errno ENOMEM; either
 * way, once deleted, every allocation it made is freed and every thread
 * it started joined (and no crash, no hang, nothing left for LSan). Then,
 * on working movers: creation past the per-operation states that memory
 * allows completes the future with VDM_ERROR_OUT_OF_MEMORY (and works
 * again once memory is back), and runtime_wait_multiple on more futures
 * than its stack bitmap holds still waits for them all when its own
 * allocation fails, a future whose property changes between the two
 * halves of a pass included. The movers' pool of per-operation states
 * (private, grown without a lock): its exact limit, a growth that fails
 * and then works, two threads that find it empty at once (neither may
 * report no room while the other fills the last chunk: 500 rounds), and a
 * forked child whose pool was being grown by a parent's thread at the fork
 * (no room, at once: that thread is not there to finish). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nanosleep, fork (musl declares them only so) */
#endif
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_alloc_util.h"
#include "test_chaos.h" /* MASYNC__TEST_PREEMPT: the pool's growers */
#define MINIASYNC_IMPLEMENTATION
#include "miniasync.h"

#include "test_core_util.h"

static int
copies(struct vdm *vdm, struct runtime *rt)
{
	char src[256], dst[256];
	struct vdm_operation_future f;
	int i;

	for (i = 0; i < 256; i++)
		src[i] = (char)(i * 7 + 1);
	memset(dst, 0, sizeof(dst));
	f = vdm_memcpy(vdm, dst, src, sizeof(src), 0);
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&f));
	return FUTURE_OUTPUT(&f)->result == VDM_SUCCESS &&
		memcmp(dst, src, sizeof(dst)) == 0;
}

enum which { W_RUNTIME, W_SYNC, W_THREADS_NONE, W_THREADS_WAKER,
	W_THREADS_POLLER, W_THREADS_DEFAULT, W_COUNT };

static const char *const names[W_COUNT] = { "runtime_new",
	"data_mover_sync_new", "data_mover_threads_new (NONE)",
	"data_mover_threads_new (WAKER)", "data_mover_threads_new (POLLER)",
	"data_mover_threads_default" };

/* builds one with allocations failing from the k-th; 1 when it was made
 * (and then checked and deleted), 0 when it failed cleanly */
static int
build(enum which w, long k, struct runtime *rt)
{
	struct runtime *r = NULL;
	struct data_mover_sync *s = NULL;
	struct data_mover_threads *t = NULL;
	long live0 = atomic_load(&n_live);
	long threads0 = af_proc_count("task");
	int made;

	errno = 0;
	af_mark(k);
	switch (w) {
	case W_RUNTIME: r = runtime_new(); made = r != NULL; break;
	case W_SYNC: s = data_mover_sync_new(); made = s != NULL; break;
	case W_THREADS_NONE:
		t = data_mover_threads_new(2, 16, FUTURE_NOTIFIER_NONE);
		made = t != NULL;
		break;
	case W_THREADS_WAKER:
		t = data_mover_threads_new(2, 16, FUTURE_NOTIFIER_WAKER);
		made = t != NULL;
		break;
	case W_THREADS_POLLER:
		t = data_mover_threads_new(3, 100, FUTURE_NOTIFIER_POLLER);
		made = t != NULL;
		break;
	default:
		t = data_mover_threads_default();
		made = t != NULL;
		break;
	}
	if (!made && errno != ENOMEM) {
		CHECK(errno == ENOMEM);
		fprintf(stderr, "  %s, allocation %ld failed: errno %d\n",
			names[w], k, errno);
	}
	af_mark(0); /* memory is back: what was made must work */
	if (r != NULL) {
		struct data_mover_sync *s2 = data_mover_sync_new();

		CHECK(s2 != NULL);
		if (s2 != NULL) {
			CHECK(copies(data_mover_sync_get_vdm(s2), r));
			data_mover_sync_delete(s2);
		}
		runtime_delete(r);
	}
	if (s != NULL) {
		CHECK(copies(data_mover_sync_get_vdm(s), rt));
		data_mover_sync_delete(s);
	}
	if (t != NULL) {
		CHECK(copies(data_mover_threads_get_vdm(t), rt));
		data_mover_threads_delete(t);
	}
	CHECK(atomic_load(&n_live) == live0); /* nothing kept */
	CHECK(af_threads_settle(threads0) == threads0); /* all joined */
	return made;
}

static void
group_constructors(void)
{
	struct runtime *rt = runtime_new();
	int w;

	CHECK(rt != NULL);
	if (rt == NULL)
		return;
	/* a thread first, outside the counts: a sanitizer starts its own
	 * background thread at the program's first (TSan does) */
	data_mover_threads_delete(data_mover_threads_new(1, 8,
		FUTURE_NOTIFIER_WAKER));
	for (w = 0; w < W_COUNT; w++) {
		long k;
		int fails = 0;

		/* the first k with which it is made has failed nothing:
		 * every allocation it makes was failed once before */
		for (k = 1; k < 100000 && !build((enum which)w, k, rt); k++)
			fails++;
		CHECK(k < 100000);
		printf("  %s: made after failing each of its %d allocations\n",
			names[w], fails);
	}
	runtime_delete(rt);
}

/* per-operation states: creation fails with OUT_OF_MEMORY, then works */
static void
group_states(void)
{
	struct runtime *rt = runtime_new();
	struct data_mover_threads *t = data_mover_threads_new(1, 4096,
		FUTURE_NOTIFIER_WAKER);
	enum { M = 3000 };
	struct vdm_operation_future *f = (struct vdm_operation_future *)
		malloc(M * sizeof(*f));
	static char src[64] = "states", dst[M][64];
	struct vdm *vdm;
	int i, oom = 0, ok = 0;

	CHECK(rt != NULL && t != NULL && f != NULL);
	if (rt == NULL || t == NULL || f == NULL)
		return;
	vdm = data_mover_threads_get_vdm(t);
	af_mark(2); /* one more allocation: the pool grows once */
	for (i = 0; i < M; i++) {
		f[i] = vdm_memcpy(vdm, dst[i], src, sizeof(src), 0);
		if (FUTURE_STATE(&f[i]) == FUTURE_STATE_COMPLETE) {
			CHECK(FUTURE_OUTPUT(&f[i])->result ==
				VDM_ERROR_OUT_OF_MEMORY);
			oom++;
		}
	}
	af_mark(0);
	for (i = 0; i < M; i++) {
		runtime_wait(rt, FUTURE_AS_RUNNABLE(&f[i]));
		if (FUTURE_OUTPUT(&f[i])->result == VDM_SUCCESS) {
			CHECK(memcmp(dst[i], src, sizeof(src)) == 0);
			ok++;
		}
	}
	CHECK(oom > 0 && ok > 0); /* it grew once, not to M */
	CHECK(oom + ok == M);     /* every other one ran */
	/* memory is back: creation works again */
	f[0] = vdm_memcpy(vdm, dst[0], src, sizeof(src), 0);
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&f[0]));
	CHECK(FUTURE_OUTPUT(&f[0])->result == VDM_SUCCESS);
	printf("  %d of %d refused with out of memory, %d ran\n", oom, M, ok);
	free(f);
	data_mover_threads_delete(t);
	runtime_delete(rt);
}

/* runtime_wait_multiple on more futures than its stack bitmap: its own
 * allocation fails, it waits for all of them anyway */
static void
group_wait_many(void)
{
	enum { M = 2000 };
	struct runtime *rt = runtime_new();
	struct data_mover_sync *s = data_mover_sync_new();
	struct vdm_operation_future *f = (struct vdm_operation_future *)
		malloc(M * sizeof(*f));
	struct future **fs = (struct future **)malloc(M * sizeof(*fs));
	static char src[M], dst[M];
	int i, done = 0;

	CHECK(rt != NULL && s != NULL && f != NULL && fs != NULL);
	if (rt == NULL || s == NULL || f == NULL || fs == NULL)
		return;
	for (i = 0; i < M; i++) {
		src[i] = (char)(i + 1);
		f[i] = vdm_memcpy(data_mover_sync_get_vdm(s), &dst[i],
			&src[i], 1, 0);
		fs[i] = FUTURE_AS_RUNNABLE(&f[i]);
	}
	af_mark(1);
	runtime_wait_multiple(rt, fs, M);
	af_mark(0);
	for (i = 0; i < M; i++)
		done += FUTURE_STATE(&f[i]) == FUTURE_STATE_COMPLETE &&
			FUTURE_OUTPUT(&f[i])->result == VDM_SUCCESS;
	CHECK(done == M);
	CHECK(memcmp(dst, src, M) == 0);
	free(fs);
	free(f);
	data_mover_sync_delete(s);
	runtime_delete(rt);
}

/* a future whose FUTURE_PROPERTY_ASYNC answer alternates at each query (a
 * property may change while it is waited for), complete on its first poll */
struct flip_data {
	int asked, polls;
};
struct flip_output {
	int unused;
};
FUTURE(flip_future, struct flip_data, struct flip_output);

static enum future_state
flip_task(struct future_context *ctx, struct future_notifier *nt)
{
	struct flip_data *d = (struct flip_data *)future_context_get_data(ctx);

	(void)nt;
	d->polls++;
	return FUTURE_STATE_COMPLETE;
}

static int
flip_property(void *fut, enum future_property property)
{
	struct flip_future *f = (struct flip_future *)fut;

	(void)property;
	return f->data.asked++ & 1;
}

/* the same without the bitmap, past its stack part: a future that is not
 * asynchronous in the first half of a pass and is in the second is still
 * polled (it was polled in neither, and the wait returned without it) */
static void
group_wait_many_flip(void)
{
	enum { M = 1100 };
	struct runtime *rt = runtime_new();
	struct vdm_operation_future *f = (struct vdm_operation_future *)
		malloc(M * sizeof(*f));
	struct future **fs = (struct future **)malloc(M * sizeof(*fs));
	struct flip_future flip;
	int i;

	CHECK(rt != NULL && f != NULL && fs != NULL);
	if (rt == NULL || f == NULL || fs == NULL)
		return;
	for (i = 0; i < M; i++) {
		FUTURE_INIT_COMPLETE(&f[i]);
		fs[i] = FUTURE_AS_RUNNABLE(&f[i]);
	}
	memset(&flip, 0, sizeof(flip));
	FUTURE_INIT_EXT(&flip, flip_task, flip_property);
	fs[M - 1] = FUTURE_AS_RUNNABLE(&flip);
	af_mark(1);
	runtime_wait_multiple(rt, fs, M);
	af_mark(0);
	CHECK(FUTURE_STATE(&flip) == FUTURE_STATE_COMPLETE);
	CHECK(flip.data.polls == 1);
	free(fs);
	free(f);
	runtime_delete(rt);
}

/* ---- the pool ---------------------------------------------------------- */

#define POOL_RACE 32 /* elements each racer takes; 2 x that is the limit */

static struct masync__pool race_pool;
static atomic_int race_go, race_ready;

static void *
racer(void *arg)
{
	void **got = (void **)arg;
	int i;

	atomic_fetch_add(&race_ready, 1);
	while (!atomic_load(&race_go))
		sched_yield();
	for (i = 0; i < POOL_RACE; i++)
		got[i] = masync__pool_get(&race_pool);
	return NULL;
}

static void
group_pool(void)
{
	struct masync__pool p;
	void *e[300], *got[2][POOL_RACE];
	long live0 = atomic_load(&n_live);
	int i, r, j, ok = 1;

	/* the limit is exact, also past one chunk */
	CHECK(masync__pool_init(&p, 64, 300) == 0);
	for (i = 0; i < 300; i++)
		CHECK((e[i] = masync__pool_get(&p)) != NULL);
	CHECK(masync__pool_get(&p) == NULL);
	masync__pool_put(&p, e[7]);
	CHECK(masync__pool_get(&p) == e[7]);
	masync__pool_fini(&p);
	CHECK(atomic_load(&n_live) == live0);

	/* a growth that fails gives its slot back: the limit still holds */
	CHECK(masync__pool_init(&p, 64, 256) == 0);
	af_mark(1);
	CHECK(masync__pool_get(&p) == NULL);
	af_mark(0);
	for (i = 0; i < 256; i++)
		CHECK(masync__pool_get(&p) != NULL);
	CHECK(masync__pool_get(&p) == NULL);
	masync__pool_fini(&p);
	CHECK(atomic_load(&n_live) == live0);

	/* two threads find a one-chunk pool empty at once */
	for (r = 0; r < 500 && ok; r++) {
		pthread_t t[2];

		CHECK(masync__pool_init(&race_pool, 64, 2 * POOL_RACE) == 0);
		atomic_store(&race_go, 0);
		atomic_store(&race_ready, 0);
		for (j = 0; j < 2; j++)
			CHECK(pthread_create(&t[j], NULL, racer, got[j]) == 0);
		while (atomic_load(&race_ready) < 2)
			sched_yield();
		atomic_store(&race_go, 1);
		for (j = 0; j < 2; j++)
			CHECK(pthread_join(t[j], NULL) == 0);
		for (j = 0; j < 2; j++)
			for (i = 0; i < POOL_RACE; i++)
				ok &= got[j][i] != NULL;
		CHECK(masync__pool_get(&race_pool) == NULL);
		masync__pool_fini(&race_pool);
	}
	CHECK(ok); /* no racer was told "no room" */
	CHECK(atomic_load(&n_live) == live0);

	/* a forked child: a slot claimed by a thread it does not have */
	CHECK(masync__pool_init(&p, 64, 256) == 0);
	MASYNC__STORE(&p.nchunks, 1, relaxed); /* claimed, never settled */
	fflush(NULL);
	{
		pid_t pid = fork();
		int st;

		CHECK(pid >= 0);
		if (pid == 0) {
			alarm(60);
			_exit(masync__pool_get(&p) == NULL ? 0 : 1);
		}
		CHECK(waitpid(pid, &st, 0) == pid);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	MASYNC__STORE(&p.nchunks, 0, relaxed);
	masync__pool_fini(&p);
}

int
main(void)
{
	run_group("constructors with each allocation failing in turn",
		group_constructors);
	run_group("threads mover: states past memory, then back",
		group_states);
	run_group("runtime_wait_multiple, its bitmap not allocated",
		group_wait_many);
	run_group("runtime_wait_multiple, no bitmap, a property that changes",
		group_wait_many_flip);
	run_group("the pool: limit, failed growth, racing growers, fork",
		group_pool);
	CHECK(atomic_load(&n_live) == 0);
	return failures != 0;
}
