/* test_dsa_fork.c - forks while threads use a DSA mover (emulated device).
 * Each of 30 rounds makes a mover (cpu_threshold 1: every operation goes
 * to the device) and two threads that run batches of 1-8 copies on it (one
 * through runtime_wait_multiple, one busy polling; 4 KiB .. 64 KiB), then
 * forks twice at varying moments, the first soon after the threads start.
 * Each child copies 30 times through the parent's mover (on the CPU: the
 * device is the parent's) and deletes it, within 60 s (an alarm ends a
 * child that waits forever on a lock a parent's thread held at the fork).
 * test_dsa_robust checks the child's results one by one; this is the
 * same with the parent busy at the moment of the fork.
 * Under clang 14's ASan, whose allocator is not fork-safe (a child's
 * malloc waits for a lock a parent's thread held in malloc), the threads
 * (and the emulator, idle then) stop before each fork. Suite slow: not
 * under valgrind. */
#include "test_dsa_util.h"

#include <signal.h>
#include <sys/wait.h>

#define ROUNDS 30
#define MAXN 65536

#if defined(__SANITIZE_ADDRESS__)
#define ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ASAN 1
#endif
#endif
#ifndef ASAN
#define ASAN 0
#endif

static struct data_mover_dsa *dm;
static atomic_int stop_;

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

	alarm(60);
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
stop_hammers(pthread_t *t, int *running)
{
	if (!*running)
		return;
	atomic_store(&stop_, 1);
	CHECK(pthread_join(t[0], NULL) == 0);
	CHECK(pthread_join(t[1], NULL) == 0);
	*running = 0;
}

int
main(void)
{
	struct dsa_emu *emu;
	unsigned seed = 7;
	int i, j;

	td_enter("test_dsa_fork");
	td_begin("forks while two threads use the mover");
	emu = td_emu(NULL);
	for (i = 0; i < ROUNDS; i++) {
		struct data_mover_dsa_config mc;
		pthread_t t[2];
		int running = 1;

		memset(&mc, 0, sizeof(mc));
		mc.cpu_threshold = 1;
		dm = td_mover(&mc);
		atomic_store(&stop_, 0);
		CHECK(pthread_create(&t[0], NULL, hammer, NULL) == 0);
		CHECK(pthread_create(&t[1], NULL, hammer, &stop_) == 0);
		for (j = 0; j < 2; j++) {
			struct timespec ts;
			pid_t pid;
			int st;

			seed = seed * 1103515245u + 12345u;
			ts.tv_sec = 0;
			ts.tv_nsec = 1000L * (long)(j == 0 ?
				(seed >> 16) % 300 : (seed >> 16) % 3000);
			nanosleep(&ts, NULL);
			if (ASAN)
				stop_hammers(t, &running);
			fflush(NULL);
			pid = fork();
			CHECK(pid >= 0);
			if (pid == 0) {
				td_case = "child";
				child();
				fflush(NULL);
				_exit(0);
			}
			CHECK(waitpid(pid, &st, 0) == pid);
			if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
				fprintf(stderr, "round %d fork %d: child %s %d\n",
					i, j, WIFSIGNALED(st) ? "killed by signal" :
					"exit status", WIFSIGNALED(st) ?
					WTERMSIG(st) : WEXITSTATUS(st));
				CHECK(!"a child failed");
			}
		}
		stop_hammers(t, &running);
		data_mover_dsa_delete(dm);
	}
	dsa_emu_stop(emu);
	td_log("test_dsa_fork: %d rounds, %d forks, all passed\n", ROUNDS,
		2 * ROUNDS);
	return 0;
}
