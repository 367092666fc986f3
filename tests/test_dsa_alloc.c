/* test_dsa_alloc.c - data_mover_dsa_new with each of its allocations
 * failing in turn, on emulated devices (2 devices x 2 dedicated WQs, and a
 * mover that splits large copies with a threads mover): for k = 1, 2, ...
 * until it is made with nothing failed, it either is made (and then
 * copies correctly) or returns NULL with errno ENOMEM and
 * DATA_MOVER_DSA_E_NO_MEMORY, and once deleted every allocation it made
 * is freed (counted; LSan), every file it opened closed and every thread
 * it started joined (/proc/self/fd, /task): nothing leaks, nothing
 * crashes. Then
 * creation past the states memory allows: VDM_ERROR_OUT_OF_MEMORY, and
 * working again once memory is back. (libaccel-config's own allocations
 * are not the library's: not failed here.) */
#define _GNU_SOURCE /* as test_dsa_util.h: before any system header */
#include "test_alloc_util.h"
#include "test_dsa_util.h"

static void
copies(struct runtime *rt, struct vdm *vdm, size_t n, unsigned seed)
{
	unsigned char *a = td_alloc(n), *b = td_alloc(n);
	struct vdm_operation_future f;

	td_pattern(a, n, seed);
	memset(b, 0, n);
	f = vdm_memcpy(vdm, b, a, n, 0);
	CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
	CHECK_PATTERN(b, n, 0, seed);
	td_free(a);
	td_free(b);
}

/* with allocations failing from the k-th: 1 when made (then checked and
 * deleted), 0 when it failed cleanly */
static int
attempt(struct runtime *rt, const struct data_mover_dsa_config *cfg, long k,
	size_t big)
{
	struct data_mover_dsa *d;

	errno = 0;
	af_mark(k);
	d = data_mover_dsa_new(cfg);
	af_mark(0);
	if (d == NULL) {
		CHECK(errno == ENOMEM);
		CHECK_EQ(data_mover_dsa_last_error(),
			DATA_MOVER_DSA_E_NO_MEMORY);
	} else {
		copies(rt, data_mover_dsa_get_vdm(d), 4096, (unsigned)k);
		if (big != 0)
			copies(rt, data_mover_dsa_get_vdm(d), big,
				(unsigned)k + 1);
		data_mover_dsa_delete(d);
	}
	return d != NULL;
}

/* attempt(), and nothing of it left: allocations, files, threads */
static int
build(struct runtime *rt, const struct data_mover_dsa_config *cfg, long k,
	size_t big)
{
	long live0 = atomic_load(&n_live), fds0 = af_proc_count("fd");
	long threads0 = af_proc_count("task");
	int made = attempt(rt, cfg, k, big);

	CHECK_EQ(atomic_load(&n_live), live0);
	CHECK_EQ(af_proc_count("fd"), fds0);
	CHECK_EQ(af_threads_settle(threads0), threads0); /* the monitor */
	return made;
}

static void
sweep(struct runtime *rt, const char *what,
	const struct data_mover_dsa_config *cfg, size_t big)
{
	long k;
	int fails = 0;

	td_begin(what);
	/* once first, outside the counts: what a first use leaves for good
	 * (the emulator's /proc/self/maps, open from its first descriptor
	 * on; the states of a cpu_vdm, which that mover keeps) */
	CHECK(attempt(rt, cfg, 0, big));
	for (k = 1; k < 100000 && !build(rt, cfg, k, big); k++)
		fails++;
	CHECK(k < 100000);
	CHECK(fails > 0); /* it allocates: each of those failed once */
	td_log("  %s: made after failing each of its %d allocations\n",
		what, fails);
}

static void
states(struct runtime *rt, const struct data_mover_dsa_config *cfg)
{
	enum { M = 600 };
	struct data_mover_dsa *d = data_mover_dsa_new(cfg);
	struct vdm_operation_future *f = (struct vdm_operation_future *)
		malloc(M * sizeof(*f));
	unsigned char *a = td_alloc(64), *b = td_alloc((size_t)M * 64);
	struct vdm *vdm;
	int i, oom = 0, ok = 0;

	td_begin("states past memory, then back");
	CHECK(d != NULL && f != NULL);
	if (d == NULL || f == NULL)
		return;
	vdm = data_mover_dsa_get_vdm(d);
	td_pattern(a, 64, 5);
	af_mark(2); /* its states grow once */
	for (i = 0; i < M; i++) {
		f[i] = vdm_memcpy(vdm, b + (size_t)i * 64, a, 64, 0);
		if (FUTURE_STATE(&f[i]) == FUTURE_STATE_COMPLETE) {
			CHECK_RES(FUTURE_OUTPUT(&f[i])->result,
				VDM_ERROR_OUT_OF_MEMORY);
			oom++;
		}
	}
	af_mark(0);
	for (i = 0; i < M; i++) {
		if (FUTURE_STATE(&f[i]) == FUTURE_STATE_COMPLETE)
			continue;
		CHECK_RES(td_wait(rt, &f[i]), VDM_SUCCESS);
		CHECK_PATTERN(b + (size_t)i * 64, 64, 0, 5);
		ok++;
	}
	CHECK(oom > 0 && ok > 0);
	CHECK_EQ(oom + ok, M);
	copies(rt, vdm, 64, 6); /* memory is back */
	td_log("  %d of %d refused with out of memory, %d ran\n", oom, M, ok);
	data_mover_dsa_delete(d);
	free(f);
	td_free(a);
	td_free(b);
}

/* main's runtime and threads mover, reachable from here for valgrind's
 * leak check at a child's _exit (a pointer main keeps in a register is
 * not found: "definitely lost"; volatile, so the stores stay) */
static struct runtime *volatile keep_rt;
static struct data_mover_threads *volatile keep_t;

/* In a forked child whose parent's futures hold every state (capacity
 * 4), the child's operations get states of their own: reused once given
 * back, and freed by the child's delete, also those its futures still
 * hold (counted), and in a grandchild the child's too. */
static void
child_ops(struct vdm *vdm, struct vdm_operation_future *f, int n,
	unsigned char *dst, unsigned char *src)
{
	int i;

	for (i = 0; i < n; i++) {
		f[i] = vdm_memcpy(vdm, dst, src, 64, 0);
		CHECK(FUTURE_STATE(&f[i]) == FUTURE_STATE_IDLE);
	}
}

static void
child_states(const struct data_mover_dsa_config *cfg_in)
{
	struct data_mover_dsa_config cfg = *cfg_in;
	struct vdm_operation_future held[4], f[4], g[4];
	unsigned char src[64], dst[64];
	long live0 = atomic_load(&n_live), live1;
	struct data_mover_dsa *d;
	struct vdm *vdm;
	_Atomic int *verdict = td_verdict_new();
	pid_t pid;
	int i;

	td_begin("a forked child's own states: reused, freed by its delete");
	memset(src, 7, sizeof(src));
	cfg.capacity = 4;
	d = td_mover(&cfg);
	vdm = data_mover_dsa_get_vdm(d);
	child_ops(vdm, held, 4, dst, src); /* every state of the pool */
	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		td_case = "child";
		child_ops(vdm, f, 4, dst, src);
		live1 = atomic_load(&n_live);
		for (i = 0; i < 2; i++)
			CHECK_RES(td_busy(&f[i]), VDM_SUCCESS);
		child_ops(vdm, f, 2, dst, src); /* the two given back */
		CHECK_EQ(atomic_load(&n_live), live1);
		fflush(NULL);
		pid = fork(); /* f[0..3] stay with the child */
		CHECK(pid >= 0);
		if (pid == 0) {
			td_case = "grandchild";
			child_ops(vdm, g, 4, dst, src);
			CHECK_RES(td_busy(&g[0]), VDM_SUCCESS);
			data_mover_dsa_delete(d);
			CHECK_EQ(atomic_load(&n_live), live0);
			_exit(0);
		}
		{
			int st;

			CHECK(waitpid(pid, &st, 0) == pid);
			CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		}
		CHECK_RES(td_busy(&f[3]), VDM_SUCCESS);
		data_mover_dsa_delete(d); /* f[0..2] abandoned */
		CHECK_EQ(atomic_load(&n_live), live0);
		atomic_store(verdict, 1);
		_exit(0);
	}
	CHECK_CHILD(pid, verdict);
	for (i = 0; i < 4; i++)
		CHECK_RES(td_busy(&held[i]), VDM_SUCCESS);
	data_mover_dsa_delete(d);
	CHECK_EQ(atomic_load(&n_live), live0);
}

int
main(void)
{
	struct dsa_emu_config ec;
	struct data_mover_dsa_config mc;
	struct data_mover_threads *t;
	struct dsa_emu *emu;
	struct runtime *rt;

	td_enter("test_dsa_alloc");
	rt = runtime_new();
	CHECK(rt != NULL);
	keep_rt = rt;
	memset(&ec, 0, sizeof(ec));
	ec.ndevices = 2;
	ec.nwqs = 2;
	emu = td_emu(&ec);

	memset(&mc, 0, sizeof(mc));
	mc.cpu_threshold = 1;
	mc.hybrid_threshold = SIZE_MAX;
	sweep(rt, "every WQ of 2 devices", &mc, 0);

	t = data_mover_threads_new(1, 64, FUTURE_NOTIFIER_WAKER);
	CHECK(t != NULL);
	keep_t = t;
	mc.hybrid_threshold = 256 * 1024; /* split with the threads mover */
	mc.cpu_vdm = data_mover_threads_get_vdm(t);
	sweep(rt, "hybrid with a threads mover", &mc, 1024 * 1024);

	mc.hybrid_threshold = SIZE_MAX;
	mc.cpu_vdm = NULL;
	mc.capacity = 4096;
	states(rt, &mc);
	child_states(&mc);

	data_mover_threads_delete(t);
	dsa_emu_stop(emu);
	runtime_delete(rt);
	CHECK_EQ(atomic_load(&n_live), 0);
	td_log("test_dsa_alloc: all passed\n");
	return 0;
}
