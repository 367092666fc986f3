/* test_dsa_discovery.c - finding and opening a work queue: missing and
 * disabled devices and WQs, WQs of other types, no PASID, selection by
 * device / WQ / mode / NUMA node and the preference order, invalid
 * configurations; data_mover_dsa_last_error() / _str() (per thread, reset
 * by a success); open() failing with EBUSY / EACCES / EPERM (forced with a
 * seccomp filter on the calling thread, since the emulator's regular file
 * cannot refuse a second open of a dedicated WQ as the kernel does); and
 * malformed sysfs: garbage in size, max_transfer_size, max_batch_size,
 * block_on_fault, gen_cap, pasid_enabled, state, numa_node, and missing or
 * empty type / mode files, on which libaccel-config 3.5.3 crashes: the
 * mover must never get there. Each malformed case either fails cleanly
 * with a sensible error or gives a mover that works (content checked).
 * A WQ directory named past a 128-byte buffer (140, 200 bytes) without
 * type / mode fails cleanly naming it (libaccel-config crashed); with both
 * files a mover is made. A sysfs read that fails for a reason of the
 * process (EMFILE, ENFILE, ENOMEM, EACCES), not of the device, fails with
 * DATA_MOVER_DSA_E_SYSTEM, that errno, and a message naming the file (it
 * was read as "no PASID" / "no type or mode file" before). */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>

/* The implementation (emitted in this file) reads sysfs through these:
 * test_sys_errors fails the open of one file, or of a device's directory,
 * with an errno of its choice. */
static int dd_open(const char *path, int flags, ...);
static DIR *dd_opendir(const char *path);
#define open(...) dd_open(__VA_ARGS__)
#define opendir(p) dd_opendir(p)

#include "test_dsa_util.h"

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <fcntl.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static struct runtime *rt;

static const char *dd_suffix; /* a path ending so fails, with dd_errno */
static int dd_errno;

static int
dd_match(const char *path)
{
	size_t n, k;

	if (dd_suffix == NULL)
		return 0;
	n = strlen(path);
	k = strlen(dd_suffix);
	return n >= k && strcmp(path + n - k, dd_suffix) == 0;
}

static int
dd_open(const char *path, int flags, ...)
{
	int mode = 0;

	if (flags & O_CREAT) {
		va_list ap;

		va_start(ap, flags);
		mode = va_arg(ap, int);
		va_end(ap);
	}
	if (dd_match(path)) {
		errno = dd_errno;
		return -1;
	}
	return (open)(path, flags, mode);
}

static DIR *
dd_opendir(const char *path)
{
	if (dd_match(path)) {
		errno = dd_errno;
		return NULL;
	}
	return (opendir)(path);
}

static const char *
err_name(enum data_mover_dsa_error e)
{
	static const char *const names[] = { "OK", "NOT_BUILT", "NO_DEVICE",
		"NO_WQ", "PERMISSION", "NO_PASID", "WQ_BUSY", "NO_MEMORY",
		"INVALID", "LIBRARY", "SYSTEM" };

	return (unsigned)e < sizeof(names) / sizeof(names[0]) ? names[e] : "?";
}

/* data_mover_dsa_new must fail with `want` */
static void
expect_fail(const struct data_mover_dsa_config *mc,
	enum data_mover_dsa_error want, int want_errno)
{
	struct data_mover_dsa *d;

	errno = 0;
	d = data_mover_dsa_new(mc);
	if (d != NULL || data_mover_dsa_last_error() != want) {
		fprintf(stderr, "[%s] want %s, got %p / %s (%s)\n", td_case,
			err_name(want), (void *)d,
			err_name(data_mover_dsa_last_error()),
			data_mover_dsa_last_error_str());
		exit(1);
	}
	if (want_errno != 0)
		CHECK_EQ(errno, want_errno);
	else
		CHECK(errno != 0);
	CHECK(data_mover_dsa_last_error_str() != NULL);
	CHECK(strcmp(data_mover_dsa_last_error_str(), "no error") != 0);
	td_log("   %s: %s\n", err_name(want), data_mover_dsa_last_error_str());
}

/* the mover moves data correctly (above the WQ max when it is 64 KiB) */
static void
check_works(struct data_mover_dsa *d)
{
	const size_t n = 3 * 65536 + 4099; /* above a 64 KiB WQ max */
	unsigned char *a = td_alloc(n), *b = td_alloc(n);
	struct vdm *vdm = data_mover_dsa_get_vdm(d);
	struct vdm_operation_future f;

	td_pattern(a, n, 9);
	f = vdm_memcpy(vdm, b, a, n, 0);
	CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
	CHECK_PATTERN(b, n, 0, 9);
	f = vdm_memset(vdm, b, 0x5a, n, VDM_F_MEM_DURABLE);
	CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
	CHECK_BYTES(b, n, 0x5a);
	f = vdm_memmove(vdm, b + 3, b, n - 3, 0);
	CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
	CHECK_BYTES(b, n, 0x5a);
	CHECK(td_guards_ok(b, n));
	td_free(a);
	td_free(b);
}

/* index of the WQ that took the descriptors of one operation */
static int
used_wq(struct dsa_emu *emu, struct data_mover_dsa *d)
{
	unsigned char a[256], b[256];
	struct vdm_operation_future f;
	struct dsa_emu_stats s;
	unsigned i;
	int which = -1;

	memset(a, 1, sizeof(a));
	dsa_emu_reset_stats(emu);
	f = vdm_memcpy(data_mover_dsa_get_vdm(d), b, a, sizeof(a), 0);
	CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
	td_settle(emu);
	for (i = 0; i < dsa_emu_nwqs(emu); i++) {
		dsa_emu_get_stats(emu, (int)i, &s);
		if (s.received != 0) {
			CHECK(which < 0);
			which = (int)i;
		}
	}
	CHECK(which >= 0);
	return which;
}

static void
test_missing(void)
{
	struct data_mover_dsa_config mc = {0};
	struct dsa_emu_config ec = {0};
	struct dsa_emu *emu;

	td_begin("no DSA device at all");
	expect_fail(NULL, DATA_MOVER_DSA_E_NO_DEVICE, 0);
	CHECK(data_mover_dsa_default() == NULL);
	CHECK_EQ(data_mover_dsa_last_error(), DATA_MOVER_DSA_E_NO_DEVICE);

	td_begin("device disabled");
	ec.device_disabled = 1;
	emu = td_emu(&ec);
	expect_fail(NULL, DATA_MOVER_DSA_E_NO_DEVICE, 0);
	dsa_emu_stop(emu);

	td_begin("WQ disabled");
	memset(&ec, 0, sizeof(ec));
	ec.wq_disabled = 1;
	emu = td_emu(&ec);
	expect_fail(NULL, DATA_MOVER_DSA_E_NO_WQ, 0);
	dsa_emu_stop(emu);

	td_begin("WQ of type kernel / mdev");
	memset(&ec, 0, sizeof(ec));
	ec.wq_type = "kernel";
	emu = td_emu(&ec);
	expect_fail(NULL, DATA_MOVER_DSA_E_NO_WQ, 0);
	dsa_emu_stop(emu);
	ec.wq_type = "mdev";
	emu = td_emu(&ec);
	expect_fail(NULL, DATA_MOVER_DSA_E_NO_WQ, 0);
	dsa_emu_stop(emu);

	td_begin("no PASID");
	memset(&ec, 0, sizeof(ec));
	ec.pasid_disabled = 1;
	emu = td_emu(&ec);
	expect_fail(NULL, DATA_MOVER_DSA_E_NO_PASID, ENOTSUP);
	dsa_emu_stop(emu);

	td_begin("no /dev/dsa node for the WQ");
	emu = td_emu(NULL);
	CHECK(unlink(dsa_emu_wq_path(emu, 0)) == 0);
	expect_fail(NULL, DATA_MOVER_DSA_E_NO_WQ, 0);
	dsa_emu_stop(emu);

	td_begin("asking for what is not there");
	emu = td_emu(NULL); /* dsa0 / wq0.0, dedicated */
	mc.device = "dsa7";
	expect_fail(&mc, DATA_MOVER_DSA_E_NO_DEVICE, 0);
	mc.device = "dsa0";
	mc.wq = "wq0.5";
	expect_fail(&mc, DATA_MOVER_DSA_E_NO_WQ, 0);
	mc.wq = NULL;
	mc.mode = DATA_MOVER_DSA_WQ_SHARED;
	expect_fail(&mc, DATA_MOVER_DSA_E_NO_WQ, 0);
	mc.mode = DATA_MOVER_DSA_WQ_DEDICATED;
	{
		struct data_mover_dsa *d = td_mover(&mc);

		CHECK_EQ(data_mover_dsa_last_error(), DATA_MOVER_DSA_OK);
		CHECK(strcmp(data_mover_dsa_last_error_str(), "no error") == 0);
		data_mover_dsa_delete(d);
	}
	dsa_emu_stop(emu);
	memset(&ec, 0, sizeof(ec));
	ec.shared = 1;
	emu = td_emu(&ec);
	expect_fail(&mc, DATA_MOVER_DSA_E_NO_WQ, 0);
	dsa_emu_stop(emu);

	td_begin("invalid configurations: INVALID, the message names the "
		"field");
	emu = td_emu(NULL);
	memset(&mc, 0, sizeof(mc));
	mc.mode = (enum data_mover_dsa_wq_mode)7;
	expect_fail(&mc, DATA_MOVER_DSA_E_INVALID, EINVAL);
	CHECK(strstr(data_mover_dsa_last_error_str(), "mode 7") != NULL);
	memset(&mc, 0, sizeof(mc));
	mc.desired_notifier = (enum future_notifier_type)9;
	expect_fail(&mc, DATA_MOVER_DSA_E_INVALID, EINVAL);
	CHECK(strstr(data_mover_dsa_last_error_str(), "desired_notifier 9") !=
		NULL);
	memset(&mc, 0, sizeof(mc));
	mc.numa_node = -1;
	expect_fail(&mc, DATA_MOVER_DSA_E_INVALID, EINVAL);
	CHECK(strstr(data_mover_dsa_last_error_str(), "numa_node -1") != NULL);
	memset(&mc, 0, sizeof(mc));
	mc.hybrid_cpu_permille = 1000;
	expect_fail(&mc, DATA_MOVER_DSA_E_INVALID, EINVAL);
	CHECK(strstr(data_mover_dsa_last_error_str(),
		"hybrid_cpu_permille 1000") != NULL);
	memset(&mc, 0, sizeof(mc));
	mc.device = "";
	expect_fail(&mc, DATA_MOVER_DSA_E_INVALID, EINVAL);
	CHECK(strstr(data_mover_dsa_last_error_str(), "device \"\"") != NULL);
	memset(&mc, 0, sizeof(mc));
	mc.wq = "wq0.0-a-name-much-longer-than-any-wq-has";
	expect_fail(&mc, DATA_MOVER_DSA_E_INVALID, EINVAL);
	CHECK(strstr(data_mover_dsa_last_error_str(),
		"wq \"wq0.0-a-name-much-longer-than-any-wq-has\"") != NULL);
	dsa_emu_stop(emu);

	/* deleting NULL is fine, get_vdm(NULL) is NULL with EINVAL */
	data_mover_dsa_delete(NULL);
	errno = 0;
	CHECK(data_mover_dsa_get_vdm(NULL) == NULL);
	CHECK(errno == EINVAL);
}

/* ---- last error is per thread ---- */

static void *
other_thread(void *arg)
{
	*(int *)arg = (int)data_mover_dsa_last_error();
	return NULL;
}

static void
test_thread_local(void)
{
	pthread_t t;
	int r = -1;

	td_begin("last error is per thread");
	expect_fail(NULL, DATA_MOVER_DSA_E_NO_DEVICE, 0);
	CHECK(pthread_create(&t, NULL, other_thread, &r) == 0);
	CHECK(pthread_join(t, NULL) == 0);
	CHECK_EQ(r, DATA_MOVER_DSA_OK);
	CHECK_EQ(data_mover_dsa_last_error(), DATA_MOVER_DSA_E_NO_DEVICE);
}

/* ---- open() failing: a seccomp filter on one thread ---- */

struct open_fail {
	int err;      /* errno for open(..., O_RDWR | O_CLOEXEC) */
	int filtered; /* the filter could be installed */
	enum data_mover_dsa_error got;
	int got_errno;
	char msg[256];
};

static int
install_filter(int err)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 7),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_openat, 0, 2),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			offsetof(struct seccomp_data, args[2])),
		BPF_STMT(BPF_JMP | BPF_JA | BPF_K, 2),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_open, 0, 2),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			offsetof(struct seccomp_data, args[1])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, O_RDWR | O_CLOEXEC, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO |
			((unsigned)err & SECCOMP_RET_DATA)),
	};
	struct sock_fprog prog;

	prog.len = (unsigned short)(sizeof(code) / sizeof(code[0]));
	prog.filter = code;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return -1;
	/* no SECCOMP_FILTER_FLAG_TSYNC: only this thread */
	return (int)syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

static void *
open_fail_thread(void *arg)
{
	struct open_fail *o = (struct open_fail *)arg;
	struct data_mover_dsa *d;

	if (install_filter(o->err) != 0)
		return NULL;
	o->filtered = 1;
	errno = 0;
	d = data_mover_dsa_new(NULL);
	o->got_errno = errno;
	o->got = data_mover_dsa_last_error();
	snprintf(o->msg, sizeof(o->msg), "%s", data_mover_dsa_last_error_str());
	if (d != NULL) {
		o->got = DATA_MOVER_DSA_OK;
		data_mover_dsa_delete(d);
	}
	return NULL;
}

static void
test_open_errors(void)
{
	static const struct {
		int err;
		enum data_mover_dsa_error want;
	} cases[] = {
		{ EBUSY, DATA_MOVER_DSA_E_WQ_BUSY },
		{ EACCES, DATA_MOVER_DSA_E_PERMISSION },
		{ EPERM, DATA_MOVER_DSA_E_PERMISSION },
		{ ENODEV, DATA_MOVER_DSA_E_NO_WQ },
	};
	struct dsa_emu *emu;
	struct data_mover_dsa *d1, *d2;
	size_t i;

	emu = td_emu(NULL);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct open_fail o;
		pthread_t t;

		td_begin(cases[i].err == EBUSY ? "open() says EBUSY: WQ_BUSY" :
			"open() fails: PERMISSION / NO_WQ");
		memset(&o, 0, sizeof(o));
		o.err = cases[i].err;
		CHECK(pthread_create(&t, NULL, open_fail_thread, &o) == 0);
		pthread_join(t, NULL);
		if (!o.filtered) {
			/* valgrind does not run seccomp filters */
			CHECK(td_valgrind());
			td_log("   cannot install a seccomp filter here: not "
				"checked\n");
			break;
		}
		if (o.got != cases[i].want) {
			fprintf(stderr, "[%s] want %s, got %s (%s)\n", td_case,
				err_name(cases[i].want), err_name(o.got),
				o.msg);
			exit(1);
		}
		CHECK_EQ(o.got_errno, cases[i].err);
		CHECK(strstr(o.msg, dsa_emu_wq_path(emu, 0)) != NULL);
		td_log("   %s: %s\n", err_name(o.got), o.msg);
	}

	td_begin("a dedicated WQ opened twice: WQ_BUSY, free again after "
		"the delete");
	d1 = td_mover(NULL);
	errno = 0;
	d2 = data_mover_dsa_new(NULL);
	CHECK(d2 == NULL);
	CHECK_EQ(errno, EBUSY);
	CHECK_EQ(data_mover_dsa_last_error(), DATA_MOVER_DSA_E_WQ_BUSY);
	CHECK(strstr(data_mover_dsa_last_error_str(),
		dsa_emu_wq_path(emu, 0)) != NULL);
	td_log("   %s\n", data_mover_dsa_last_error_str());
	if (d2 != NULL)
		data_mover_dsa_delete(d2);
	check_works(d1);
	data_mover_dsa_delete(d1);
	d2 = td_mover(NULL);
	check_works(d2);
	data_mover_dsa_delete(d2);
	dsa_emu_stop(emu);
}

/* A kernel before the INTEL-SA-01084 fix has no write() submission: a WQ
 * the mover has no portal for (here: none, the emulator's file of such a
 * WQ cannot be mapped) cannot take a descriptor. It must be passed over,
 * saying why, not taken and every operation failed. */
static void
test_no_write(void)
{
	struct dsa_emu_config ec = {0};
	struct dsa_emu_wq_config wc[2];
	struct data_mover_dsa *d;
	struct dsa_emu *emu;
	const char *msg;

	td_begin("no portal, no write(): the WQ is passed over");
	memset(wc, 0, sizeof(wc));
	ec.nwqs = 2;
	ec.wqs = wc;
	wc[0].shared = 1;
	wc[0].no_write = 1;
	wc[1].shared = 1;
	emu = td_emu(&ec);
	d = td_mover(NULL);
	CHECK_EQ(td_nwqs(d), 1u);
	CHECK(strcmp(d->q[0].wq, "wq0.1") == 0);
	CHECK_EQ(used_wq(emu, d), 1);
	check_works(d);
	data_mover_dsa_delete(d);
	dsa_emu_stop(emu);

	td_begin("no portal, no write() on the only WQ: NO_WQ, saying why");
	for (int shared = 0; shared < 2; shared++) {
		memset(&ec, 0, sizeof(ec));
		memset(wc, 0, sizeof(wc));
		ec.wqs = wc;
		wc[0].shared = shared ? 1 : -1;
		wc[0].no_write = 1;
		emu = td_emu(&ec);
		expect_fail(NULL, DATA_MOVER_DSA_E_NO_WQ, EINVAL);
		msg = data_mover_dsa_last_error_str();
		CHECK(strstr(msg, dsa_emu_wq_path(emu, 0)) != NULL);
		CHECK(strstr(msg, "write()") != NULL);
		dsa_emu_stop(emu);
	}
}

/* ---- selection and preference ---- */

static int
no_node(const void *addr)
{
	(void)addr;
	return -1;
}

static void
test_selection(void)
{
	struct dsa_emu_config ec = {0};
	struct dsa_emu_wq_config wc[4];
	struct data_mover_dsa_config mc = {0};
	struct data_mover_dsa *d;
	struct dsa_emu *emu;
	static const int nodes[] = { 1, 0 };

	td_begin("the preferred NUMA node first");
	ec.ndevices = 2;
	ec.numa_nodes = nodes;
	emu = td_emu(&ec);
	/* the destination's node would come first (test_dsa_numa): here
	 * the kernel "does not know" it, so the configured node decides */
	MASYNC__STORE(&masync__test_page_node, no_node, release);
	mc.numa_node = 1 + 1; /* node 1: dsa0 */
	d = td_mover(&mc);
	CHECK_EQ(used_wq(emu, d), 0);
	data_mover_dsa_delete(d);
	mc.numa_node = 0 + 1; /* node 0: dsa1 */
	d = td_mover(&mc);
	CHECK_EQ(used_wq(emu, d), 1);
	data_mover_dsa_delete(d);
	mc.numa_node = 0;
	mc.device = "dsa0";
	d = td_mover(&mc);
	CHECK_EQ(used_wq(emu, d), 0);
	data_mover_dsa_delete(d);
	MASYNC__STORE(&masync__test_page_node, (masync__node_fn)NULL, release);
	dsa_emu_stop(emu);

	td_begin("dedicated before shared, then the larger WQ");
	memset(&ec, 0, sizeof(ec));
	memset(wc, 0, sizeof(wc));
	ec.nwqs = 4;
	ec.wqs = wc;
	wc[0].shared = 1;
	wc[0].wq_size = 64;
	wc[1].shared = -1;
	wc[1].wq_size = 8;
	wc[2].shared = -1;
	wc[2].wq_size = 32;
	wc[3].shared = 1;
	wc[3].wq_size = 16;
	emu = td_emu(&ec);
	memset(&mc, 0, sizeof(mc));
	d = td_mover(&mc);
	CHECK_EQ(used_wq(emu, d), 2);
	CHECK(td_dedicated(d, 0));
	check_works(d);
	data_mover_dsa_delete(d);
	mc.mode = DATA_MOVER_DSA_WQ_SHARED;
	d = td_mover(&mc);
	CHECK_EQ(used_wq(emu, d), 0);
	CHECK(!td_dedicated(d, 0));
	check_works(d);
	data_mover_dsa_delete(d);
	mc.mode = DATA_MOVER_DSA_WQ_ANY;
	mc.wq = "wq0.3";
	d = td_mover(&mc);
	CHECK_EQ(used_wq(emu, d), 3);
	data_mover_dsa_delete(d);
	mc.wq = "wq0.1";
	mc.mode = DATA_MOVER_DSA_WQ_SHARED;
	expect_fail(&mc, DATA_MOVER_DSA_E_NO_WQ, 0);
	dsa_emu_stop(emu);

	td_begin("disabled / kernel WQs are passed over");
	memset(wc, 0, sizeof(wc));
	memset(&ec, 0, sizeof(ec));
	ec.nwqs = 3;
	ec.wqs = wc;
	wc[0].disabled = 1;
	wc[0].wq_size = 64;
	wc[1].type = "kernel";
	wc[1].wq_size = 64;
	wc[2].wq_size = 4;
	emu = td_emu(&ec);
	memset(&mc, 0, sizeof(mc));
	d = td_mover(&mc);
	CHECK_EQ(used_wq(emu, d), 2);
	data_mover_dsa_delete(d);
	mc.wq = "wq0.0";
	expect_fail(&mc, DATA_MOVER_DSA_E_NO_WQ, 0);
	dsa_emu_stop(emu);
}

/* ---- malformed sysfs ---- */

struct bad_case {
	const char *file;  /* relative to /sys/bus/dsa/devices */
	const char *value; /* NULL: delete */
	int may_work;      /* a working mover is a fine answer */
	enum data_mover_dsa_error err; /* else (or when it fails) this */
};

static void
test_malformed(void)
{
	static const char *const garbage[] = { "garbage\n", "", "-1\n",
		"99999999999999999999999\n", "\n" };
	static const struct bad_case cases[] = {
		{ "dsa0/wq0.0/size", NULL, 0, DATA_MOVER_DSA_E_NO_WQ },
		{ "dsa0/wq0.0/max_transfer_size", NULL, 1,
			DATA_MOVER_DSA_E_NO_WQ },
		{ "dsa0/wq0.0/max_batch_size", NULL, 1,
			DATA_MOVER_DSA_E_NO_WQ },
		{ "dsa0/wq0.0/block_on_fault", NULL, 1,
			DATA_MOVER_DSA_E_NO_WQ },
		{ "dsa0/gen_cap", NULL, 1, DATA_MOVER_DSA_E_NO_WQ },
		{ "dsa0/pasid_enabled", NULL, 0, DATA_MOVER_DSA_E_NO_PASID },
		{ "dsa0/wq0.0/state", NULL, 0, DATA_MOVER_DSA_E_NO_WQ },
		{ "dsa0/state", NULL, 0, DATA_MOVER_DSA_E_NO_DEVICE },
		{ "dsa0/numa_node", NULL, 1, DATA_MOVER_DSA_E_NO_WQ },
		{ "dsa0/version", NULL, 1, DATA_MOVER_DSA_E_NO_WQ },
		{ "dsa0/max_transfer_size", NULL, 1, DATA_MOVER_DSA_E_NO_WQ },
		/* libaccel-config 3.5.3 crashes on these (missing / empty) */
		{ "dsa0/wq0.0/type", NULL, 0, DATA_MOVER_DSA_E_NO_WQ },
		/* libaccel-config takes any other mode text for dedicated */
		{ "dsa0/wq0.0/mode", NULL, 1, DATA_MOVER_DSA_E_NO_WQ },
	};
	size_t i, j;
	int crashers = 0;

	td_begin("malformed sysfs attributes");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int is_crasher = strstr(cases[i].file, "/type") != NULL ||
			strstr(cases[i].file, "/mode") != NULL;

		/* j == count: delete the file */
		for (j = 0; j <= sizeof(garbage) / sizeof(garbage[0]); j++) {
			const char *v = j < sizeof(garbage) /
				sizeof(garbage[0]) ? garbage[j] : NULL;
			struct dsa_emu_config ec = {0};
			struct dsa_emu *emu;
			struct data_mover_dsa *d;
			char name[160];

			/* type / mode: only missing and empty matter (other
			 * values are just not "user" / a known mode) */
			if (is_crasher && v != NULL && v[0] != '\0' &&
					strcmp(v, "\n") != 0 &&
					strcmp(v, "garbage\n") != 0)
				continue;
			snprintf(name, sizeof(name), "%s = %s", cases[i].file,
				v == NULL ? "(missing)" : v[0] == '\0' ?
				"(empty)" : v);
			if (name[strlen(name) - 1] == '\n')
				name[strlen(name) - 1] = '\0';
			td_case = name;
			ec.max_transfer_size = 65536;
			ec.override_file = cases[i].file;
			ec.override_value = v;
			emu = td_emu(&ec);
			d = data_mover_dsa_new(NULL);
			if (d != NULL) {
				if (!cases[i].may_work || (is_crasher &&
						(v == NULL || v[0] == '\0'))) {
					fprintf(stderr, "[%s] a mover on a "
						"broken WQ\n", td_case);
					exit(1);
				}
				check_works(d);
				td_log("   %-45s works\n", name);
				data_mover_dsa_delete(d);
			} else {
				enum data_mover_dsa_error e =
					data_mover_dsa_last_error();

				CHECK(e == cases[i].err ||
					e == DATA_MOVER_DSA_E_NO_WQ);
				td_log("   %-45s %s: %s\n", name, err_name(e),
					data_mover_dsa_last_error_str());
			}
			crashers += is_crasher;
			dsa_emu_stop(emu);
		}
	}
	CHECK(crashers >= 4);

	td_begin("a broken WQ on dsa0 does not hide dsa1");
	{
		struct dsa_emu_config ec = {0};
		struct dsa_emu *emu;
		struct data_mover_dsa *d;

		ec.ndevices = 2;
		ec.override_file = "dsa0/wq0.0/type";
		ec.override_value = NULL;
		emu = td_emu(&ec);
		d = td_mover(NULL);
		CHECK_EQ(used_wq(emu, d), 1);
		data_mover_dsa_delete(d);
		/* broken after the start too (sysfs changes under us) */
		CHECK(dsa_emu_sysfs_set(emu, "dsa1/wq1.0/mode", "") == 0);
		expect_fail(NULL, DATA_MOVER_DSA_E_NO_WQ, 0);
		dsa_emu_stop(emu);
	}
}

/* ---- sysfs reads that fail for a reason of the process ---- */

static void
test_sys_errors(void)
{
	static const struct {
		const char *suffix; /* of the path whose open fails */
		int err;
		int shared;         /* the WQ is shared (threshold is read) */
		enum data_mover_dsa_error want;
		const char *names;  /* the message names it */
	} cases[] = {
		{ "/dsa0/pasid_enabled", EMFILE, 0, DATA_MOVER_DSA_E_SYSTEM,
			"dsa0/pasid_enabled" },
		{ "/dsa0/pasid_enabled", EACCES, 0, DATA_MOVER_DSA_E_SYSTEM,
			"dsa0/pasid_enabled" },
		{ "/dsa0/gen_cap", ENFILE, 0, DATA_MOVER_DSA_E_SYSTEM,
			"dsa0/gen_cap" },
		{ "/dsa0/wq0.0/type", EMFILE, 0, DATA_MOVER_DSA_E_SYSTEM,
			"dsa0/wq0.0/type" },
		{ "/dsa0/wq0.0/mode", ENOMEM, 0, DATA_MOVER_DSA_E_SYSTEM,
			"dsa0/wq0.0/mode" },
		{ "/wq0.0/threshold", EMFILE, 1, DATA_MOVER_DSA_E_SYSTEM,
			"wq0.0/threshold" },
		{ "/devices/dsa0", EMFILE, 0, DATA_MOVER_DSA_E_SYSTEM,
			"devices/dsa0:" },
		/* an error of the device's own: read as before */
		{ "/dsa0/pasid_enabled", EIO, 0, DATA_MOVER_DSA_E_NO_PASID,
			"pasid_enabled != 1" },
		{ "/dsa0/wq0.0/type", ENODEV, 0, DATA_MOVER_DSA_E_NO_WQ,
			"no readable type or mode" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dsa_emu_config ec = {0};
		struct dsa_emu *emu;
		struct data_mover_dsa *d;
		char name[96];

		snprintf(name, sizeof(name), "open of ...%s fails: %s",
			cases[i].suffix, strerror(cases[i].err));
		td_begin(name);
		ec.shared = cases[i].shared;
		emu = td_emu(&ec);
		dd_suffix = cases[i].suffix;
		dd_errno = cases[i].err;
		expect_fail(NULL, cases[i].want,
			cases[i].want == DATA_MOVER_DSA_E_SYSTEM ?
			cases[i].err : 0);
		dd_suffix = NULL;
		if (strstr(data_mover_dsa_last_error_str(), cases[i].names) ==
				NULL) {
			fprintf(stderr, "[%s] the message does not name %s: "
				"%s\n", td_case, cases[i].names,
				data_mover_dsa_last_error_str());
			exit(1);
		}
		if (cases[i].want == DATA_MOVER_DSA_E_SYSTEM)
			CHECK(strstr(data_mover_dsa_last_error_str(),
				strerror(cases[i].err)) != NULL);
		/* nothing was left behind: the WQ opens and works now */
		d = td_mover(NULL);
		check_works(d);
		data_mover_dsa_delete(d);
		dsa_emu_stop(emu);
	}
}

/* ---- a WQ directory with a long name ---- */

static void
test_long_wq_name(void)
{
	static const size_t lens[] = { 140, 200 };
	size_t i, k;

	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		static char what[96];
		char name[256], dir[600], file[620], want[128];
		struct dsa_emu *emu;
		struct data_mover_dsa *d;
		pid_t pid;
		_Atomic int *verdict = td_verdict_new();

		/* "wq0.1" and letters: longer than 128 bytes with "dsa0/",
		 * where the sanity check used to pass it over unchecked */
		memcpy(name, "wq0.1", 5);
		for (k = 5; k < lens[i]; k++)
			name[k] = (char)('a' + k % 26);
		name[lens[i]] = '\0';
		/* the reason names it (its first 100 bytes: the message is
		 * cut at 200) */
		snprintf(want, sizeof(want), "dsa0/%.100s", name);

		snprintf(what, sizeof(what), "a WQ directory of %zu bytes "
			"without type / mode: a clean failure naming it",
			lens[i]);
		td_begin(what);
		emu = td_emu(NULL);
		snprintf(dir, sizeof(dir), "/sys/bus/dsa/devices/dsa0/%s",
			name);
		CHECK(mkdir(dir, 0755) == 0);
		/* in a child: the old header crashed (libaccel-config's
		 * strdup(NULL)), which must show as a failed check here */
		fflush(NULL);
		pid = fork();
		CHECK(pid >= 0);
		if (pid == 0) {
			d = data_mover_dsa_new(NULL);
			CHECK(d == NULL);
			CHECK_EQ(data_mover_dsa_last_error(),
				DATA_MOVER_DSA_E_NO_WQ);
			td_log("   %s\n", data_mover_dsa_last_error_str());
			CHECK(strstr(data_mover_dsa_last_error_str(), want) !=
				NULL);
			atomic_store(verdict, 1);
			fflush(NULL);
			_exit(0);
		}
		CHECK_CHILD(pid, verdict); /* data_mover_dsa_new failed
					    * cleanly (the old header crashed) */

		td_begin("the same directory with type and mode: a mover");
		snprintf(file, sizeof(file), "%s/type", dir);
		CHECK(dsa_emu_sysfs_set(emu, file, "user\n") == 0);
		snprintf(file, sizeof(file), "%s/mode", dir);
		CHECK(dsa_emu_sysfs_set(emu, file, "dedicated\n") == 0);
		d = data_mover_dsa_new(NULL);
		if (d == NULL) {
			fprintf(stderr, "[%s] no mover: %s\n", td_case,
				data_mover_dsa_last_error_str());
			exit(1);
		}
		check_works(d);
		data_mover_dsa_delete(d);
		dsa_emu_stop(emu);
	}
}

int
main(void)
{
	td_enter("test_dsa_discovery");
	rt = runtime_new();
	CHECK(rt != NULL);
	test_missing();
	test_thread_local();
	test_open_errors();
	test_no_write();
	test_selection();
	test_malformed();
	test_sys_errors();
	test_long_wq_name();
	runtime_delete(rt);
	td_log("test_dsa_discovery: all passed\n");
	return 0;
}
