/* test_runtime.c - the runtime of miniasync.h (API.md section 3):
 * runtime_new/delete, runtime_wait, runtime_wait_multiple; ASYNC futures
 * polled first in each pass and the caller's array never reordered;
 * futures complete on entry (also born complete, has_property NULL);
 * wakes during a poll are not lost; WAKER, POLLER and NONE futures finished
 * by another thread after 200 ms do not make the waiting thread burn a
 * core (process CPU time measured against wall time); several threads with
 * their own runtimes; one runtime shared by several threads.
 * Prints one line per check group; exits 0 (pass) or 1 (fail). */
#define _POSIX_C_SOURCE 200809L
#include "test_impl.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Valgrind runs every thread on one core and each poll costs ~50x more:
 * the CPU-time bounds are relaxed there (a spinning waiter is ~100%). */
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define ON_VALGRIND() (RUNNING_ON_VALGRIND != 0)
#endif
#endif
#ifndef ON_VALGRIND
#define ON_VALGRIND() 0
#endif

#include "test_core_util.h"

static double
now_s(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void
sleep_ms(unsigned ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0)
		;
}

/* ---- an ordered future: logs its polls, completes after `needed` ------- */

#define LOG_MAX 256
static int order_log[LOG_MAX];
static int order_n;

struct ord_data {
	int id;
	int async;
	int needed;
	int polls;
};
struct ord_output {
	int done;
};
FUTURE(ord_future, struct ord_data, struct ord_output);

static enum future_state
ord_task(struct future_context *ctx, struct future_notifier *n)
{
	struct ord_data *d = (struct ord_data *)future_context_get_data(ctx);

	(void)n;
	if (order_n < LOG_MAX)
		order_log[order_n++] = d->id;
	if (++d->polls < d->needed)
		return FUTURE_STATE_RUNNING;
	((struct ord_output *)future_context_get_output(ctx))->done = 1;
	return FUTURE_STATE_COMPLETE;
}

static int
ord_prop(void *future, enum future_property p)
{
	struct ord_data *d = (struct ord_data *)future_context_get_data(
		&((struct future *)future)->context);

	return p == FUTURE_PROPERTY_ASYNC && d->async;
}

static struct ord_future
ord_new(int id, int async, int needed)
{
	struct ord_future f;

	memset(&f, 0, sizeof(f));
	FUTURE_INIT_EXT(&f, ord_task, ord_prop);
	f.data.id = id;
	f.data.async = async;
	f.data.needed = needed;
	return f;
}

static void
group_basic(void)
{
	struct runtime *rt = runtime_new();
	struct ord_future f = ord_new(1, 0, 5);

	CHECK(rt != NULL);
	if (rt == NULL)
		return;
	order_n = 0;
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&f));
	CHECK(f.data.polls == 5);
	CHECK(f.output.done == 1);
	CHECK(FUTURE_STATE(&f) == FUTURE_STATE_COMPLETE);
	/* again on a complete future: returns, no poll */
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&f));
	CHECK(f.data.polls == 5);
	runtime_delete(rt);
	runtime_delete(NULL);
}

static void
group_order(void)
{
	struct runtime *rt = runtime_new();
	struct ord_future f[5];
	struct future *futs[5], *copy[5];
	int i;

	if (rt == NULL) {
		CHECK(!"runtime_new");
		return;
	}
	f[0] = ord_new(0, 0, 2);
	f[1] = ord_new(1, 1, 2);
	f[2] = ord_new(2, 0, 2);
	f[3] = ord_new(3, 1, 3);
	f[4] = ord_new(4, 0, 1);
	for (i = 0; i < 5; i++)
		copy[i] = futs[i] = FUTURE_AS_RUNNABLE(&f[i]);
	order_n = 0;
	runtime_wait_multiple(rt, futs, 5);
	/* pass 1: async 1, 3 then sync 0, 2, 4 (4 completes); pass 2: 1, 3,
	 * 0, 2 (1, 0, 2 complete); pass 3: 3 */
	static const int expect[] = {1, 3, 0, 2, 4, 1, 3, 0, 2, 3};
	CHECK(order_n == (int)(sizeof(expect) / sizeof(expect[0])));
	for (i = 0; i < order_n && i < 10; i++)
		CHECK(order_log[i] == expect[i]);
	for (i = 0; i < 5; i++) {
		CHECK(futs[i] == copy[i]); /* never reordered */
		CHECK(f[i].output.done == 1);
	}
	CHECK(f[3].data.polls == 3 && f[4].data.polls == 1);
	runtime_delete(rt);
}

/* ---- complete on entry ------------------------------------------------- */

static void
group_complete_on_entry(void)
{
	struct runtime *rt = runtime_new();
	struct data_mover_sync *dms = data_mover_sync_new();
	struct ord_future born, pending = ord_new(7, 0, 2);
	char buf[8];

	if (rt == NULL || dms == NULL) {
		CHECK(!"runtime_new / data_mover_sync_new");
		runtime_delete(rt);
		data_mover_sync_delete(dms);
		return;
	}
	memset(&born, 0, sizeof(born));
	FUTURE_INIT_COMPLETE(&born); /* task NULL, has_property NULL */
	/* born complete by an error: a NULL mover */
	struct vdm_operation_future bad = vdm_memcpy(NULL, buf, buf + 4, 4, 0);
	CHECK(bad.base.context.state == FUTURE_STATE_COMPLETE);

	double t0 = now_s(CLOCK_MONOTONIC);
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&born));
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&bad));
	struct future *both[] = {FUTURE_AS_RUNNABLE(&born),
		FUTURE_AS_RUNNABLE(&bad)};
	runtime_wait_multiple(rt, both, 2);
	runtime_wait_multiple(rt, both, 0);
	CHECK(now_s(CLOCK_MONOTONIC) - t0 < 0.5);
	CHECK(bad.output.result == VDM_ERROR_INVALID_ARGUMENT);

	/* mixed with a pending one: only the pending one is polled */
	struct future *mixed[] = {FUTURE_AS_RUNNABLE(&born),
		FUTURE_AS_RUNNABLE(&pending), FUTURE_AS_RUNNABLE(&bad)};
	order_n = 0;
	runtime_wait_multiple(rt, mixed, 3);
	CHECK(pending.data.polls == 2);
	CHECK(order_n == 2);
	CHECK(born.base.context.state == FUTURE_STATE_COMPLETE);
	data_mover_sync_delete(dms);
	runtime_delete(rt);
}

/* ---- a future that wakes the runtime from inside its own poll ---------- */

struct selfwake_data {
	int polls;
	int needed;
};
struct selfwake_output {
	int x;
};
FUTURE(selfwake_future, struct selfwake_data, struct selfwake_output);

static enum future_state
selfwake_task(struct future_context *ctx, struct future_notifier *n)
{
	struct selfwake_data *d =
		(struct selfwake_data *)future_context_get_data(ctx);

	if (++d->polls >= d->needed)
		return FUTURE_STATE_COMPLETE;
	if (n != NULL) {
		n->notifier_used = FUTURE_NOTIFIER_WAKER;
		/* "poll me again" before even returning */
		FUTURE_WAKER_WAKE(&n->waker);
	}
	return FUTURE_STATE_RUNNING;
}

static void
group_wake_during_poll(void)
{
	struct runtime *rt = runtime_new();
	struct selfwake_future f;

	if (rt == NULL) {
		CHECK(!"runtime_new");
		return;
	}
	memset(&f, 0, sizeof(f));
	FUTURE_INIT(&f, selfwake_task);
	f.data.needed = 2000;
	double t0 = now_s(CLOCK_MONOTONIC);
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&f));
	double dt = now_s(CLOCK_MONOTONIC) - t0;
	CHECK(f.data.polls == 2000);
	/* a lost wake costs the 1 ms safety timeout: 2000 of them take 2 s */
	CHECK(dt < 1.0);
	if (dt >= 1.0)
		fprintf(stderr, "  2000 self-woken polls took %.3f s\n", dt);
	runtime_delete(rt);
}

/* ---- a slow future finished by another thread -------------------------- */

struct slow_shared {
	enum future_notifier_type mode;
	unsigned delay_ms;
	atomic_int done;
	_Atomic uint64_t word; /* the POLLER word */
	pthread_mutex_t lock;  /* guards waker, have_waker */
	struct future_waker waker;
	int have_waker;
	atomic_int polls;
	atomic_int wakes_sent;
	pthread_t th;
};

struct slow_data {
	struct slow_shared *s;
};
struct slow_output {
	int value;
};
FUTURE(slow_future, struct slow_data, struct slow_output);

static enum future_state
slow_task(struct future_context *ctx, struct future_notifier *n)
{
	struct slow_shared *s =
		((struct slow_data *)future_context_get_data(ctx))->s;
	struct slow_output *o =
		(struct slow_output *)future_context_get_output(ctx);

	atomic_fetch_add(&s->polls, 1);
	if (atomic_load(&s->done)) {
		o->value = 42;
		return FUTURE_STATE_COMPLETE;
	}
	if (n == NULL)
		return FUTURE_STATE_RUNNING;
	switch (s->mode) {
	case FUTURE_NOTIFIER_WAKER:
		pthread_mutex_lock(&s->lock);
		if (atomic_load(&s->done)) {
			pthread_mutex_unlock(&s->lock);
			o->value = 42;
			return FUTURE_STATE_COMPLETE;
		}
		s->waker = n->waker;
		s->have_waker = 1;
		pthread_mutex_unlock(&s->lock);
		n->notifier_used = FUTURE_NOTIFIER_WAKER;
		break;
	case FUTURE_NOTIFIER_POLLER:
		n->poller.ptr_to_monitor = (uint64_t *)(void *)&s->word;
		n->notifier_used = FUTURE_NOTIFIER_POLLER;
		break;
	case FUTURE_NOTIFIER_NONE:
		break;
	}
	return FUTURE_STATE_RUNNING;
}

static void *
slow_finisher(void *arg)
{
	struct slow_shared *s = (struct slow_shared *)arg;
	struct future_waker w;
	int have;

	sleep_ms(s->delay_ms);
	pthread_mutex_lock(&s->lock);
	atomic_store(&s->done, 1);
	w = s->waker;
	have = s->have_waker;
	s->have_waker = 0;
	pthread_mutex_unlock(&s->lock);
	atomic_fetch_add(&s->word, 1);
	if (have) {
		atomic_fetch_add(&s->wakes_sent, 1);
		FUTURE_WAKER_WAKE(&w);
	}
	return NULL;
}

static int
slow_start(struct slow_shared *s, enum future_notifier_type mode,
	unsigned delay_ms)
{
	memset(s, 0, sizeof(*s));
	s->mode = mode;
	s->delay_ms = delay_ms;
	atomic_init(&s->done, 0);
	atomic_init(&s->word, 0);
	atomic_init(&s->polls, 0);
	atomic_init(&s->wakes_sent, 0);
	pthread_mutex_init(&s->lock, NULL);
	return pthread_create(&s->th, NULL, slow_finisher, s);
}

static void
slow_join(struct slow_shared *s)
{
	pthread_join(s->th, NULL);
	pthread_mutex_destroy(&s->lock);
}

static struct slow_future
slow_new(struct slow_shared *s)
{
	struct slow_future f;

	memset(&f, 0, sizeof(f));
	FUTURE_INIT(&f, slow_task);
	f.data.s = s;
	return f;
}

/* Waits for one slow future of `mode`; requires CPU time < max_ratio of
 * the wall time. */
static void
slow_cpu_check(enum future_notifier_type mode, double max_ratio)
{
	struct runtime *rt = runtime_new();
	struct slow_shared s;
	struct slow_future f;

	if (rt == NULL || slow_start(&s, mode, 200) != 0) {
		CHECK(!"runtime_new / pthread_create");
		runtime_delete(rt);
		return;
	}
	f = slow_new(&s);
	double w0 = now_s(CLOCK_MONOTONIC);
	double c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&f));
	double c1 = now_s(CLOCK_PROCESS_CPUTIME_ID);
	double w1 = now_s(CLOCK_MONOTONIC);
	slow_join(&s);

	double wall = w1 - w0, cpu = c1 - c0;
	if (ON_VALGRIND())
		max_ratio = 0.8;
	CHECK(f.output.value == 42);
	CHECK(wall >= 0.15);     /* it really waited for the other thread */
	CHECK(wall < 5.0);
	CHECK(cpu < max_ratio * wall);
	if (mode == FUTURE_NOTIFIER_WAKER)
		CHECK(atomic_load(&s.wakes_sent) == 1);
	printf("     %s: wall %.3f s, cpu %.3f s (%.0f%%), %d polls\n",
		mode == FUTURE_NOTIFIER_WAKER ? "WAKER" :
		mode == FUTURE_NOTIFIER_POLLER ? "POLLER" : "NONE",
		wall, cpu, 100.0 * cpu / wall, atomic_load(&s.polls));
	runtime_delete(rt);
}

static void
group_waker_idle(void)
{
	slow_cpu_check(FUTURE_NOTIFIER_WAKER, 0.25);
}

static void
group_poller_idle(void)
{
	slow_cpu_check(FUTURE_NOTIFIER_POLLER, 0.5);
}

static void
group_none_idle(void)
{
	slow_cpu_check(FUTURE_NOTIFIER_NONE, 0.5);
}

/* ---- several threads ---------------------------------------------------- */

#define NTHREADS 4

struct worker_arg {
	struct runtime *rt; /* shared, or NULL: make an own one */
	struct vdm *vdm;
	int index;
	int ok;
};

static void *
worker(void *p)
{
	struct worker_arg *a = (struct worker_arg *)p;
	struct runtime *rt = a->rt != NULL ? a->rt : runtime_new();
	struct slow_shared s1, s2;
	unsigned char src[1000], dst[1000];
	int i;

	a->ok = 0;
	if (rt == NULL)
		return NULL;
	for (i = 0; i < (int)sizeof(src); i++)
		src[i] = (unsigned char)(i + a->index);
	memset(dst, 0, sizeof(dst));
	if (slow_start(&s1, FUTURE_NOTIFIER_WAKER,
			(unsigned)(30 + 20 * a->index)) != 0)
		return NULL;
	if (slow_start(&s2, a->index % 2 ? FUTURE_NOTIFIER_POLLER :
			FUTURE_NOTIFIER_NONE, 60) != 0) {
		slow_join(&s1);
		return NULL;
	}
	struct slow_future f1 = slow_new(&s1), f2 = slow_new(&s2);
	struct vdm_operation_future cp =
		vdm_memcpy(a->vdm, dst, src, sizeof(src), 0);
	struct future *futs[] = {FUTURE_AS_RUNNABLE(&f1),
		FUTURE_AS_RUNNABLE(&cp), FUTURE_AS_RUNNABLE(&f2)};
	runtime_wait_multiple(rt, futs, 3);
	slow_join(&s1);
	slow_join(&s2);
	a->ok = f1.output.value == 42 && f2.output.value == 42 &&
		cp.output.result == VDM_SUCCESS &&
		memcmp(src, dst, sizeof(src)) == 0;
	/* and a plain runtime_wait on a fresh slow future */
	if (slow_start(&s1, FUTURE_NOTIFIER_WAKER, 20) == 0) {
		struct slow_future f4 = slow_new(&s1);
		runtime_wait(rt, FUTURE_AS_RUNNABLE(&f4));
		slow_join(&s1);
		a->ok = a->ok && f4.output.value == 42;
	} else {
		a->ok = 0;
	}
	if (a->rt == NULL)
		runtime_delete(rt);
	return NULL;
}

static void
run_threads(struct runtime *shared)
{
	struct data_mover_sync *dms = data_mover_sync_new();
	pthread_t th[NTHREADS];
	struct worker_arg args[NTHREADS];
	int i, started[NTHREADS];

	if (dms == NULL) {
		CHECK(!"data_mover_sync_new");
		return;
	}
	for (i = 0; i < NTHREADS; i++) {
		args[i].rt = shared;
		args[i].vdm = data_mover_sync_get_vdm(dms);
		args[i].index = i;
		args[i].ok = 0;
		started[i] = pthread_create(&th[i], NULL, worker, &args[i]) == 0;
		CHECK(started[i]);
	}
	for (i = 0; i < NTHREADS; i++) {
		if (started[i])
			pthread_join(th[i], NULL);
		CHECK(args[i].ok);
	}
	data_mover_sync_delete(dms);
}

static void
group_own_runtimes(void)
{
	run_threads(NULL);
}

static void
group_shared_runtime(void)
{
	struct runtime *rt = runtime_new();

	if (rt == NULL) {
		CHECK(!"runtime_new");
		return;
	}
	run_threads(rt);
	runtime_delete(rt);
}

/* ---- the threads mover under the runtime ------------------------------- */

static void
group_threads_mover(void)
{
	struct runtime *rt = runtime_new();
	struct data_mover_threads *dmt =
		data_mover_threads_new(2, 16, FUTURE_NOTIFIER_WAKER);
	enum { N = 12, SZ = 256 * 1024 };
	unsigned char *src = (unsigned char *)malloc((size_t)N * SZ);
	unsigned char *dst = (unsigned char *)calloc((size_t)N, SZ);
	struct vdm_operation_future f[N];
	struct future *futs[N + 1];
	struct ord_future sync = ord_new(99, 0, 3);
	int i;

	if (rt == NULL || dmt == NULL || src == NULL || dst == NULL) {
		CHECK(!"setup");
		goto out;
	}
	for (i = 0; i < N * SZ; i++)
		src[i] = (unsigned char)(i * 131 + 7);
	for (i = 0; i < N; i++) {
		f[i] = vdm_memcpy(data_mover_threads_get_vdm(dmt),
			dst + (size_t)i * SZ, src + (size_t)i * SZ, SZ, 0);
		futs[i] = FUTURE_AS_RUNNABLE(&f[i]);
		CHECK(future_has_property(futs[i], FUTURE_PROPERTY_ASYNC));
	}
	futs[N] = FUTURE_AS_RUNNABLE(&sync);
	runtime_wait_multiple(rt, futs, N + 1);
	for (i = 0; i < N; i++) {
		CHECK(f[i].output.result == VDM_SUCCESS);
		CHECK(f[i].output.output.memcpy.dest ==
			(void *)(dst + (size_t)i * SZ));
	}
	CHECK(memcmp(src, dst, (size_t)N * SZ) == 0);
	CHECK(sync.output.done == 1);
out:
	free(src);
	free(dst);
	data_mover_threads_delete(dmt);
	runtime_delete(rt);
}

int
main(void)
{
	run_group("runtime_new / runtime_wait / runtime_delete", group_basic);
	run_group("ASYNC first in each pass, array never reordered",
		group_order);
	run_group("futures complete on entry (born complete, NULL property)",
		group_complete_on_entry);
	run_group("a wake during the poll is not lost", group_wake_during_poll);
	run_group("WAKER future finished by another thread: no busy wait",
		group_waker_idle);
	run_group("POLLER future finished by another thread: no busy wait",
		group_poller_idle);
	run_group("NONE future finished by another thread: no busy wait",
		group_none_idle);
	run_group("several threads, each with its own runtime",
		group_own_runtimes);
	run_group("one runtime shared by several threads",
		group_shared_runtime);
	run_group("threads-mover futures under runtime_wait_multiple",
		group_threads_mover);
	return failures != 0;
}
