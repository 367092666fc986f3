/* test_runtime_wake.c - the runtime's naps and arguments.
 *
 * This program defines clock_gettime() and timespec_get() itself, so every
 * clock the library reads can be stepped: the wall clock is put an hour
 * ahead, as if it had been stepped back by an hour right after a deadline
 * was computed from it. A nap measured on the wall clock then lasts an
 * hour (the watchdog fails the test); naps on the monotonic clock are not
 * affected. A private hook (MASYNC__RT_ON_NAP) counts the runtime's naps.
 * - clock_step: runtime_wait_for on futures that never complete (waker
 *   never called; no notifier) times out after its 20 ms; runtime_wait on
 *   a future that needs many polls completes.
 * - poller_word: two POLLER futures change their word during the poll
 *   that returns "running", and complete at a later poll: the runtime
 *   reads the word before the poll, so it polls again without a nap.
 * - null_args: a NULL runtime, array or future is an error (EINVAL),
 *   nothing is polled, nothing crashes. */
#define _GNU_SOURCE
#include <stdatomic.h>
static atomic_uint naps;
#define MASYNC__RT_ON_NAP(ns) ((void)(ns), (void)atomic_fetch_add(&naps, 1))
#include "test_threads_util.h"

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- the clocks: real time plus a step ---------------------------------- */
static _Atomic long long wall_step_ns;

static void
add_ns(struct timespec *ts, long long ns)
{
	long long t = (long long)ts->tv_sec * 1000000000LL + ts->tv_nsec + ns;

	ts->tv_sec = (time_t)(t / 1000000000LL);
	ts->tv_nsec = (long)(t % 1000000000LL);
}

int
clock_gettime(clockid_t id, struct timespec *ts)
{
	long r = syscall(SYS_clock_gettime, (long)id, ts);

	if (r == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE))
		add_ns(ts, atomic_load(&wall_step_ns));
	return (int)r;
}

int
timespec_get(struct timespec *ts, int base)
{
	if (base != TIME_UTC || clock_gettime(CLOCK_REALTIME, ts) != 0)
		return 0;
	return base;
}

/* the watchdog's message (tests/test_threads_util.h) */
static void
watchdog(const char *step)
{
	tt_watchdog_msg = "watchdog: a nap that should have been short did not end (clock step or missed poller change)\n";
	tt_watchdog(step);
}

/* ---- user futures -------------------------------------------------------- */
struct test_data {
	unsigned polls, complete_at; /* 0: never */
	enum future_notifier_type use;
	uint64_t word;
	int bump; /* change the word during a poll that says "running" */
};

struct test_output {
	unsigned polls;
};

FUTURE(test_future, struct test_data, struct test_output);

static enum future_state
test_task(struct future_context *ctx, struct future_notifier *n)
{
	struct test_data *d = (struct test_data *)future_context_get_data(ctx);
	struct test_output *o =
		(struct test_output *)future_context_get_output(ctx);

	d->polls++;
	o->polls = d->polls;
	if (d->complete_at != 0 && d->polls >= d->complete_at)
		return FUTURE_STATE_COMPLETE;
	if (n != NULL) {
		n->notifier_used = d->use;
		if (d->use == FUTURE_NOTIFIER_POLLER)
			n->poller.ptr_to_monitor = &d->word;
	}
	if (d->bump) /* as if it completed right after it looked */
		atomic_fetch_add((_Atomic uint64_t *)(void *)&d->word, 1);
	return FUTURE_STATE_RUNNING;
}

static struct test_future
test_future_make(enum future_notifier_type use, unsigned complete_at,
	int bump)
{
	struct test_future f;

	memset(&f, 0, sizeof(f));
	f.data.use = use;
	f.data.complete_at = complete_at;
	f.data.bump = bump;
	FUTURE_INIT(&f, test_task);
	return f;
}

/* ---- tests --------------------------------------------------------------- */
static void
clock_step(struct runtime *rt)
{
	struct test_future f;
	uint64_t t0;

	watchdog("wall clock stepped by an hour: naps and deadlines");
	atomic_store(&wall_step_ns, 3600LL * 1000000000LL);
	atomic_store(&naps, 0);
	f = test_future_make(FUTURE_NOTIFIER_WAKER, 0, 0);
	t0 = tt_now_ns();
	CHECK(runtime_wait_for(rt, FUTURE_AS_RUNNABLE(&f), 20000000u) ==
		ETIMEDOUT);
	CHECK(tt_now_ns() - t0 >= 20000000u);
	/* (it naps unless polling alone took the 20 ms, as under valgrind) */
	tt_log("%u naps\n", atomic_load(&naps));
	f = test_future_make(FUTURE_NOTIFIER_NONE, 0, 0);
	CHECK(runtime_wait_for(rt, FUTURE_AS_RUNNABLE(&f), 20000000u) ==
		ETIMEDOUT);
	f = test_future_make(FUTURE_NOTIFIER_NONE, 40, 0);
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&f));
	CHECK(FUTURE_OUTPUT(&f)->polls == 40);
	atomic_store(&wall_step_ns, 0);
	alarm(0);
}

static void
poller_word(struct runtime *rt)
{
	struct test_future f[2];
	struct future *fp[2];
	unsigned i;

	/* the wall step makes a nap of today's kind last an hour */
	watchdog("poller words read before the poll");
	atomic_store(&wall_step_ns, 3600LL * 1000000000LL);
	for (i = 0; i < 2; i++) {
		f[i] = test_future_make(FUTURE_NOTIFIER_POLLER, 3 + i, 1);
		fp[i] = FUTURE_AS_RUNNABLE(&f[i]);
	}
	atomic_store(&naps, 0);
	runtime_wait_multiple(rt, fp, 2);
	CHECK(FUTURE_OUTPUT(&f[0])->polls == 3);
	CHECK(FUTURE_OUTPUT(&f[1])->polls == 4);
	/* every change happened during a poll: nothing to nap for */
	CHECK(atomic_load(&naps) == 0);
	atomic_store(&wall_step_ns, 0);
	alarm(0);
}

static void
null_args(struct runtime *rt)
{
	struct test_future f = test_future_make(FUTURE_NOTIFIER_NONE, 1, 0);
	struct future *fp[2];

	watchdog("NULL runtime, array or future");
	fp[0] = FUTURE_AS_RUNNABLE(&f);
	fp[1] = NULL;
	errno = 0;
	runtime_wait(rt, NULL);
	CHECK(errno == EINVAL);
	errno = 0;
	runtime_wait(NULL, fp[0]);
	CHECK(errno == EINVAL);
	errno = 0;
	runtime_wait_multiple(rt, NULL, 2);
	CHECK(errno == EINVAL);
	errno = 0;
	runtime_wait_multiple(rt, fp, 2); /* fp[1] is NULL */
	CHECK(errno == EINVAL);
	CHECK(runtime_wait_for(rt, NULL, 1000) == EINVAL);
	CHECK(runtime_wait_for(NULL, fp[0], 1000) == EINVAL);
	CHECK(runtime_wait_multiple_for(rt, fp, 2, 1000) == EINVAL);
	CHECK(runtime_wait_multiple_for(rt, NULL, 1, 1000) == EINVAL);
	errno = 0;
	CHECK(runtime_wait_any(rt, fp, 2) == SIZE_MAX);
	CHECK(errno == EINVAL);
	errno = 0;
	CHECK(runtime_wait_any(NULL, fp, 1) == SIZE_MAX);
	CHECK(errno == EINVAL);
	errno = 0;
	CHECK(runtime_wait_any_for(rt, NULL, 1, 1000) == SIZE_MAX);
	CHECK(errno == EINVAL);
	/* nothing was polled */
	CHECK(FUTURE_OUTPUT(&f)->polls == 0);
	CHECK(FUTURE_STATE(&f) == FUTURE_STATE_IDLE);
	/* empty arrays stay fine */
	runtime_wait_multiple(rt, NULL, 0);
	CHECK(runtime_wait_multiple_for(rt, NULL, 0, 1000) == 0);
	runtime_wait(rt, fp[0]);
	CHECK(FUTURE_STATE(&f) == FUTURE_STATE_COMPLETE);
	alarm(0);
}

int
main(int argc, char **argv)
{
	struct runtime *rt;

	tt_valgrind_setup();
	rt = tt_runtime_new();
	CHECK(rt != NULL);
	if (argc < 2 || strcmp(argv[1], "clock_step") == 0)
		clock_step(rt);
	if (argc < 2 || strcmp(argv[1], "poller_word") == 0)
		poller_word(rt);
	if (argc < 2 || strcmp(argv[1], "null_args") == 0)
		null_args(rt);
	runtime_delete(rt);
	tt_log("ok\n");
	return 0;
}
