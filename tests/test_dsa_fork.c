/* test_dsa_fork.c - forks while threads use a DSA mover (emulated device).
 * Each of 30 rounds makes a mover (cpu_threshold 1: every operation goes
 * to the device) and two threads that run batches of 1-8 copies on it (one
 * through runtime_wait_multiple, one busy polling; 4 KiB .. 64 KiB), then
 * forks twice at varying moments, the first soon after the threads start.
 * Each child copies 30 times through the parent's mover (on the CPU: the
 * device is the parent's) and deletes it, within half the hang guard (an
 * alarm ends a child that waits forever on a lock a parent's thread held
 * at the fork, before meson's timeout does, so the failure is named).
 * test_dsa_robust checks the child's results one by one; this is the
 * same with the parent busy at the moment of the fork.
 * Under clang 14's ASan and TSan, whose allocators are not fork-safe (a
 * child's malloc waits for a lock a parent's thread held in malloc: seen
 * under TSan in LargeMmapAllocator, about 1 run in 30 on a loaded
 * machine), a round forks only once both threads have run a batch of
 * every count and size (WARM batches): by then their buffers, the mover's
 * pool and the emulator's are allocated, and the threads, the mover and
 * the emulator run without allocating. The other builds also fork while
 * the threads start. Suite slow: not under valgrind.
 * First, test_new_fork: a fork while another thread's data_mover_dsa_new
 * holds the DSA lock (discovery) or has just opened the WQ's file leaves a
 * child whose own data_mover_dsa_new does not hang, without that file.
 * Before that, test_atfork_fails: when the fork handlers cannot be
 * registered (pthread_atfork: ENOMEM), data_mover_dsa_new fails with
 * ENOMEM and a message naming pthread_atfork; before, a mover was made
 * whose portal a child would have taken for its own. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>

/* The implementation (emitted in this file) opens files and allocates
 * through these: a thread of test_new_fork is held just after an open()
 * and, once let go, at its next allocation until the fork is done. */
static int fk_open(const char *path, int flags, ...);
static void *fk_malloc(size_t n);
static int fk_atfork(void (*prepare)(void), void (*parent)(void),
	void (*child)(void));
#define open(...) fk_open(__VA_ARGS__)
#define MASYNC__PTHREAD_ATFORK fk_atfork
#define MINIASYNC_MALLOC(sz) fk_malloc(sz)
#define MINIASYNC_FREE(p) free(p)

#include "test_dsa_util.h"

#include <signal.h>
#include <sys/wait.h>

#define ROUNDS 30
#define MAXN 65536


/* batches of every count (1 + k % 8) and size class (k % 3): lcm 24 */
#define WARM 24

static struct data_mover_dsa *dm;
static atomic_int stop_;
static atomic_int warm_; /* threads past their first WARM batches */

static void *
hammer(void *arg)
{
	struct runtime *r = runtime_new();
	unsigned char *a = td_alloc(8 * MAXN), *b = td_alloc(8 * MAXN);
	unsigned k = 0;

	CHECK(r != NULL);
	td_pattern(a, 8 * MAXN, 3);
	while (!atomic_load(&stop_)) {
		struct vdm_operation_future f[8];
		struct future *fs[8];
		int i, n = 1 + (int)(k % 8);
		size_t sz = k % 3 == 0 ? MAXN : 4096 + 64 * (k % 50);

		k++;
		for (i = 0; i < n; i++) {
			f[i] = vdm_memcpy(data_mover_dsa_get_vdm(dm),
				b + (size_t)i * MAXN, a + (size_t)i * MAXN, sz,
				0);
			fs[i] = FUTURE_AS_RUNNABLE(&f[i]);
		}
		if (arg != NULL)
			runtime_wait_multiple(r, fs, (size_t)n);
		else
			for (i = 0; i < n; i++)
				td_busy(&f[i]);
		for (i = 0; i < n; i++) {
			CHECK_RES(FUTURE_OUTPUT(&f[i])->result, VDM_SUCCESS);
			CHECK(memcmp(b + (size_t)i * MAXN,
				a + (size_t)i * MAXN, sz) == 0);
		}
		if (k == WARM)
			atomic_fetch_add(&warm_, 1);
	}
	runtime_delete(r);
	td_free(a);
	td_free(b);
	return NULL;
}

static void
child(void)
{
	struct runtime *r = runtime_new();
	unsigned char a[4096], b[4096];
	int q;

	alarm((unsigned)(td_hang_ns() / 2000000000u));
	CHECK(r != NULL);
	td_pattern(a, sizeof(a), 11);
	for (q = 0; q < 30; q++) {
		struct vdm_operation_future f = vdm_memcpy(
			data_mover_dsa_get_vdm(dm), b, a, sizeof(a), 0);

		memset(b, 0, sizeof(b));
		runtime_wait(r, FUTURE_AS_RUNNABLE(&f));
		CHECK_RES(FUTURE_OUTPUT(&f)->result, VDM_SUCCESS);
		CHECK(memcmp(a, b, sizeof(a)) == 0);
	}
	data_mover_dsa_delete(dm);
	runtime_delete(r);
}

static void
stop_hammers(pthread_t *t)
{
	atomic_store(&stop_, 1);
	CHECK(pthread_join(t[0], NULL) == 0);
	CHECK(pthread_join(t[1], NULL) == 0);
}

/* ---- a fork while another thread is in data_mover_dsa_new ------------- */

static pthread_mutex_t fk_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fk_cv;       /* on CLOCK_MONOTONIC */
static const char *fk_at;          /* the open() (path ending) to hold at */
static int fk_held, fk_fd = -1;    /* the maker is held; that open's fd */
static uint64_t fk_fork_ns;        /* main is about to fork (0: not yet) */
static int fk_forked;              /* fork() has returned in the parent */
static _Thread_local int fk_maker; /* this thread is held at fk_at */
static _Thread_local int fk_after; /* ... and was: its next allocation */
/* the maker's latest allocations: a child has no maker whose stack points
 * at them, and its valgrind would report them lost (volatile: stores to a
 * never read array stay) */
static void *volatile fk_kept[16];
static _Thread_local unsigned fk_nkept;

/* With fk_mu held: waits until fork() has returned in the parent or,
 * `timed` (the maker is held where it may hold the DSA lock), 50 ms after
 * main called fork(). The old header's fork() waits for nothing: the
 * maker goes on after the child has inherited what it holds. The fixed
 * one's waits for the lock (a pthread_atfork handler): the 50 ms are how
 * long it waits, not what the child gets. */
static void
fk_wait_locked(int timed)
{
	uint64_t hold = 50000000ull * td_slow(), t0 = td_now_ns();

	while (!fk_forked) {
		uint64_t until = timed && fk_fork_ns != 0 ?
			fk_fork_ns + hold : td_now_ns() + 1000000000ull;
		struct timespec ts;

		if (timed && fk_fork_ns != 0 && td_now_ns() >= until)
			break;
		/* a hang guard (nothing here holds what fork() waits for) */
		if (!timed && td_now_ns() - t0 > td_hang_ns())
			td_fail(__FILE__, __LINE__, "the fork never returned",
				NULL);
		ts.tv_sec = (time_t)(until / 1000000000u);
		ts.tv_nsec = (long)(until % 1000000000u);
		pthread_cond_timedwait(&fk_cv, &fk_mu, &ts);
	}
}

static int
fk_open(const char *path, int flags, ...)
{
	int mode = 0, fd;

	if (flags & O_CREAT) {
		va_list ap;

		va_start(ap, flags);
		mode = va_arg(ap, int);
		va_end(ap);
	}
	fd = (open)(path, flags, mode);
	if (fk_maker && strstr(path, fk_at) != NULL) {
		fk_maker = 0;
		pthread_mutex_lock(&fk_mu);
		fk_held = 1;
		fk_fd = fd;
		pthread_cond_broadcast(&fk_cv);
		fk_wait_locked(1);
		pthread_mutex_unlock(&fk_mu);
		fk_after = 1;
	}
	return fd;
}

static void *
fk_malloc(size_t n)
{
	void *p;

	if (fk_after) {
		/* out of malloc while the fork runs: a child of clang 14's
		 * ASan would wait for its allocator's lock */
		fk_after = 0;
		pthread_mutex_lock(&fk_mu);
		fk_wait_locked(0);
		pthread_mutex_unlock(&fk_mu);
	}
	p = malloc(n);
	if (fk_nkept != 0) /* the maker */
		fk_kept[fk_nkept++ % 16] = p;
	return p;
}

static void *
fk_make(void *arg)
{
	struct data_mover_dsa *d;

	fk_maker = 1;
	fk_nkept = 1;
	d = data_mover_dsa_new(NULL);
	*(int *)arg = d != NULL;
	/* its WQ file stays open until the fork is done */
	pthread_mutex_lock(&fk_mu);
	fk_wait_locked(0);
	pthread_mutex_unlock(&fk_mu);
	if (d != NULL)
		data_mover_dsa_delete(d);
	return NULL;
}

/* forks while a thread's data_mover_dsa_new is held just after it opened
 * a file whose path ends in `at` */
static void
fork_during_new(const char *at, int wq_file)
{
	_Atomic int *verdict = td_verdict_new();
	pthread_t t;
	uint64_t t0;
	pid_t pid;
	int made = 0, fd;

	fk_at = at;
	fk_held = fk_forked = 0;
	fk_fork_ns = 0;
	CHECK(pthread_create(&t, NULL, fk_make, &made) == 0);
	pthread_mutex_lock(&fk_mu);
	t0 = td_now_ns();
	while (!fk_held) {
		struct timespec ts;
		uint64_t until = td_now_ns() + 100000000ull;

		/* a hang guard */
		CHECK(td_now_ns() - t0 < td_hang_ns());
		ts.tv_sec = (time_t)(until / 1000000000u);
		ts.tv_nsec = (long)(until % 1000000000u);
		pthread_cond_timedwait(&fk_cv, &fk_mu, &ts);
	}
	fd = fk_fd;
	fk_fork_ns = td_now_ns();
	pthread_cond_broadcast(&fk_cv);
	pthread_mutex_unlock(&fk_mu);
	CHECK(fd >= 0);
	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct data_mover_dsa_config mc;
		struct data_mover_dsa *d;

		td_case = "child";
		/* ends a child that waits forever */
		alarm((unsigned)(td_hang_ns() / 2000000000u));
		/* the WQ file opened at the fork was closed at it (the maker
		 * entered it in the table before the fork went on) */
		if (wq_file)
			CHECK(fcntl(fd, F_GETFD) == -1 && errno == EBADF);
		/* no monitor thread: ThreadSanitizer ends a child that starts
		 * threads after a fork of a process that had several */
		memset(&mc, 0, sizeof(mc));
		mc.desired_notifier = FUTURE_NOTIFIER_POLLER;
		/* the shared WQ: the parent's file of the dedicated one
		 * lives on, which refuses a second opener (EBUSY) */
		mc.wq = "wq0.1";
		d = data_mover_dsa_new(&mc);
		CHECK(d != NULL);
		data_mover_dsa_delete(d);
		atomic_store(verdict, 1);
		fflush(NULL);
		_exit(0);
	}
	pthread_mutex_lock(&fk_mu);
	fk_forked = 1;
	pthread_cond_broadcast(&fk_cv);
	pthread_mutex_unlock(&fk_mu);
	CHECK_CHILD(pid, verdict); /* SIGALRM: hung in data_mover_dsa_new */
	CHECK(pthread_join(t, NULL) == 0);
	CHECK(made); /* and the parent's thread made its mover */
}

static void
test_new_fork(void)
{
	pthread_condattr_t ca;
	struct dsa_emu *emu;
	struct dsa_emu_config ec;
	struct dsa_emu_wq_config wqs[2];

	CHECK(pthread_condattr_init(&ca) == 0);
	CHECK(pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0);
	CHECK(pthread_cond_init(&fk_cv, &ca) == 0);
	pthread_condattr_destroy(&ca);
	/* the parent's thread opens both WQs, the child the shared one */
	memset(&ec, 0, sizeof(ec));
	memset(wqs, 0, sizeof(wqs));
	wqs[1].shared = 1;
	ec.nwqs = 2;
	ec.wqs = wqs;
	emu = td_emu(&ec);
	td_begin("fork while a thread's data_mover_dsa_new is in discovery");
	/* read under the DSA lock, by the old header and the fixed one */
	fork_during_new("/dsa0/pasid_enabled", 0);
	td_begin("fork while a thread's data_mover_dsa_new opened the WQ");
	fork_during_new(dsa_emu_wq_path(emu, 0), 1);
	dsa_emu_stop(emu);
	pthread_cond_destroy(&fk_cv);
}

static int fk_atfork_fail; /* fk_atfork says ENOMEM */

static int
fk_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void))
{
	return fk_atfork_fail ? ENOMEM :
		pthread_atfork(prepare, parent, child);
}

/* in a child, as the registration is tried once per process (none was
 * tried here yet: no mover was made); the emulator runs in the child */
static void
test_atfork_fails(void)
{
	pid_t pid;
	int st = 0;

	td_begin("the fork handlers cannot be registered: NO_MEMORY");
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct dsa_emu *emu = td_emu(NULL);
		struct data_mover_dsa *d;
		int bad = 0;

		fk_atfork_fail = 1;
		errno = 0;
		d = data_mover_dsa_new(NULL);
		bad |= d != NULL || errno != ENOMEM ||
			data_mover_dsa_last_error() !=
			DATA_MOVER_DSA_E_NO_MEMORY ||
			strstr(data_mover_dsa_last_error_str(),
			"pthread_atfork") == NULL;
		td_log("   %s\n", data_mover_dsa_last_error_str());
		/* for good: a fork could come between two registrations */
		fk_atfork_fail = 0;
		errno = 0;
		bad |= (data_mover_dsa_new(NULL) != NULL || errno != ENOMEM) << 1;
#ifndef MINIASYNC_NO_THREADS
		errno = 0;
		bad |= (data_mover_threads_default() != NULL ||
			errno != ENOMEM) << 2;
#endif
		dsa_emu_stop(emu);
		_exit(bad);
	}
	CHECK(waitpid(pid, &st, 0) == pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "[%s] child status %#x\n", td_case,
			(unsigned)st);
		exit(1);
	}
}

int
main(void)
{
	struct dsa_emu *emu;
	unsigned seed = 7;
	int i, j;

	td_enter("test_dsa_fork");
	test_atfork_fails();
	test_new_fork();
	td_begin("forks while two threads use the mover");
	emu = td_emu(NULL);
	for (i = 0; i < ROUNDS; i++) {
		struct data_mover_dsa_config mc;
		pthread_t t[2];

		memset(&mc, 0, sizeof(mc));
		mc.cpu_threshold = 1;
		dm = td_mover(&mc);
		atomic_store(&stop_, 0);
		atomic_store(&warm_, 0);
		CHECK(pthread_create(&t[0], NULL, hammer, NULL) == 0);
		CHECK(pthread_create(&t[1], NULL, hammer, &stop_) == 0);
		while (TD_SANITIZED && atomic_load(&warm_) < 2)
			td_sleep_us(100); /* (the allocators: see above) */
		for (j = 0; j < 2; j++) {
			_Atomic int *verdict;
			struct timespec ts;
			const char *why;
			pid_t pid;

			seed = seed * 1103515245u + 12345u;
			ts.tv_sec = 0;
			ts.tv_nsec = 1000L * (long)(j == 0 ?
				(seed >> 16) % 300 : (seed >> 16) % 3000);
			nanosleep(&ts, NULL);
			verdict = td_verdict_new();
			fflush(NULL);
			pid = fork();
			CHECK(pid >= 0);
			if (pid == 0) {
				td_case = "child";
				child();
				atomic_store(verdict, 1);
				fflush(NULL);
				_exit(0);
			}
			why = td_child_result(pid, verdict);
			if (why != NULL) {
				fprintf(stderr, "round %d fork %d: %s\n", i, j,
					why);
				CHECK(!"a child failed");
			}
		}
		stop_hammers(t);
		data_mover_dsa_delete(dm);
	}
	dsa_emu_stop(emu);
	td_log("test_dsa_fork: %d rounds, %d forks, all passed\n", ROUNDS,
		2 * ROUNDS);
	return 0;
}
