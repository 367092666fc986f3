/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_dsa_emu.c -- self-test of the DSA emulator (tests/dsa_emu.[ch]),
 * without miniasync.h: discovery with libaccel-config, submission through the
 * mmap portal (MOVDIR64B) and through write() on a FIFO, completion records,
 * memory contents, every fault injection, sysfs overrides.
 *
 * gcc -std=gnu11 -O2 -g -Wall -Wextra -pthread tests/test_dsa_emu.c tests/dsa_emu.c \
 *     -laccel-config -o /tmp/t && /tmp/t
 * Exit: 0 pass, 1 fail, 77 skip (no private mount namespace: not root...).
 * -v: verbose; -t NAME: only the tests whose name contains NAME;
 * --measure: how many descriptors an always-offset-0 client loses.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "dsa_emu.h"

#include <accel-config/libaccel_config.h>
#include <linux/idxd.h>

#include <errno.h>
#include <fcntl.h>
#include <immintrin.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* see dsa_emu.c: libaccel-config's leaks are suppressed there; no summary */
const char *__lsan_default_options(void);
const char *
__lsan_default_options(void)
{
	return "print_suppressions=0";
}

static int verbose;
static int test_failed;
static int n_pass, n_fail;

#define CHECK(c)                                                                      \
	do {                                                                          \
		if (!(c)) {                                                           \
			fprintf(stderr, "%s:%d: %s: check failed: %s\n", __FILE__,    \
				__LINE__, __func__, #c);                              \
			test_failed = 1;                                              \
		}                                                                     \
	} while (0)

#define CHECK_EQ(a, b)                                                                \
	do {                                                                          \
		unsigned long long va_ = (unsigned long long)(a);                     \
		unsigned long long vb_ = (unsigned long long)(b);                     \
		if (va_ != vb_) {                                                     \
			fprintf(stderr, "%s:%d: %s: %s == %s failed: 0x%llx != 0x%llx\n", \
				__FILE__, __LINE__, __func__, #a, #b, va_, vb_);      \
			test_failed = 1;                                              \
		}                                                                     \
	} while (0)

#define REQUIRE(c)                                                                    \
	do {                                                                          \
		if (!(c)) {                                                           \
			fprintf(stderr, "%s:%d: %s: requirement failed: %s\n", __FILE__, \
				__LINE__, __func__, #c);                              \
			test_failed = 1;                                              \
			goto out;                                                     \
		}                                                                     \
	} while (0)

static void
vlog(const char *fmt, ...)
{
	if (!verbose)
		return;
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------------ */
/* client side helpers */

static int have_movdir64b;
/* file system types of /dev/pts and /dev/shm before entering the namespace */
static long devpts_type = -1, devshm_type = -1;

__attribute__((target("movdir64b"))) static void
movdir64b(void *portal, const void *desc)
{
	_movdir64b(portal, desc);
}

struct client {
	int fd;
	int fifo;
	void *portal;
	unsigned off; /* rotating 64-byte offset */
	int fixed_offset;
};

static int
client_open(struct client *c, const char *path, int fifo)
{
	memset(c, 0, sizeof(*c));
	c->fifo = fifo;
	c->fd = open(path, O_RDWR | O_CLOEXEC);
	if (c->fd < 0)
		return -1;
	if (fifo)
		return 0;
	c->portal = mmap(NULL, 4096, PROT_WRITE, MAP_SHARED | MAP_POPULATE, c->fd, 0);
	if (c->portal == MAP_FAILED) {
		close(c->fd);
		return -1;
	}
	return 0;
}

static void
client_close(struct client *c)
{
	if (c->portal && c->portal != MAP_FAILED)
		munmap(c->portal, 4096);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->portal = NULL;
}

static void
reset_record(struct dsa_completion_record *cr)
{
	__atomic_store_n(&cr->status, 0, __ATOMIC_RELEASE);
}

/* submit one descriptor; the caller has reset the completion record */
static int
client_submit(struct client *c, const struct dsa_hw_desc *d)
{
	_mm_sfence();
	if (c->fifo) {
		ssize_t r = write(c->fd, d, sizeof(*d));
		return r == (ssize_t)sizeof(*d) ? 0 : -1;
	}
	char *p = (char *)c->portal + c->off;
	if (!c->fixed_offset)
		c->off = (c->off + 64) % 4096;
	if (have_movdir64b)
		movdir64b(p, d);
	else
		dsa_emu_portal_store(p, d);
	return 0;
}

/* poll_status's bound: a hang guard only, no check waits on it running
 * out (under valgrind a spinning poller can keep the emulator's thread
 * off the CPU for seconds: 5 s did run out once under memcheck) */
#define POLL_GUARD_MS 30000

static uint8_t
poll_status(struct dsa_completion_record *cr, unsigned timeout_ms)
{
	uint64_t t0 = 0;
	for (unsigned long i = 0;; i++) {
		uint8_t s = __atomic_load_n(&cr->status, __ATOMIC_ACQUIRE);
		if (s)
			return s;
		if ((i & 255) == 255) {
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			uint64_t t = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
			if (!t0)
				t0 = t;
			else if (t - t0 > timeout_ms)
				return 0;
			if (i < 65536) {
				sched_yield();
			} else {
				/* blocked, not runnable: the emulator's thread
				 * gets the CPU (and valgrind's lock) */
				struct timespec nap = { 0, 20000 };
				nanosleep(&nap, NULL);
			}
		} else {
			_mm_pause();
		}
	}
}

static uint64_t
mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* the emulator's counts (all WQs) once it has taken n descriptors in, or
 * when the guard ran out (the caller's checks then fail) */
static struct dsa_emu_stats
wait_received(struct dsa_emu *emu, uint64_t n)
{
	struct dsa_emu_stats st;
	uint64_t t0 = mono_ns();
	for (;;) {
		dsa_emu_get_stats(emu, -1, &st);
		if (st.received >= n || mono_ns() - t0 >= POLL_GUARD_MS * 1000000ULL)
			return st;
		usleep(1000);
	}
}

static uint8_t
peek_status(struct dsa_completion_record *cr)
{
	return __atomic_load_n(&cr->status, __ATOMIC_ACQUIRE);
}

#define FLAGS_STD (IDXD_OP_FLAG_CRAV | IDXD_OP_FLAG_RCR)

static void
desc_memmove(struct dsa_hw_desc *d, struct dsa_completion_record *cr, void *dst, const void *src,
	     uint32_t n, uint32_t extra_flags)
{
	memset(d, 0, sizeof(*d));
	d->opcode = DSA_OPCODE_MEMMOVE;
	d->flags = FLAGS_STD | extra_flags;
	d->completion_addr = (uintptr_t)cr;
	d->src_addr = (uintptr_t)src;
	d->dst_addr = (uintptr_t)dst;
	d->xfer_size = n;
}

static void
desc_fill(struct dsa_hw_desc *d, struct dsa_completion_record *cr, void *dst, uint64_t pattern,
	  uint32_t n, uint32_t extra_flags)
{
	memset(d, 0, sizeof(*d));
	d->opcode = DSA_OPCODE_MEMFILL;
	d->flags = FLAGS_STD | extra_flags;
	d->completion_addr = (uintptr_t)cr;
	d->pattern = pattern;
	d->dst_addr = (uintptr_t)dst;
	d->xfer_size = n;
}

static void
desc_simple(struct dsa_hw_desc *d, struct dsa_completion_record *cr, unsigned op, uint32_t flags)
{
	memset(d, 0, sizeof(*d));
	d->opcode = op & 0xff;
	d->flags = flags;
	d->completion_addr = (uintptr_t)cr;
}

/* submit, wait, return the status (0 = timeout) */
static uint8_t
run_one(struct client *c, struct dsa_hw_desc *d, struct dsa_completion_record *cr)
{
	reset_record(cr);
	if (client_submit(c, d))
		return 0;
	return poll_status(cr, POLL_GUARD_MS);
}

static struct dsa_completion_record *
alloc_records(size_t n)
{
	struct dsa_completion_record *r = aligned_alloc(64, n * 64);
	if (r)
		memset(r, 0, n * 64);
	return r;
}
/* records 64 bytes apart (rec(i)) */
#define REC(base, i) ((struct dsa_completion_record *)((char *)(base) + (size_t)(i) * 64))

static void
fill_random(void *p, size_t n, unsigned seed)
{
	unsigned char *b = p;
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		b[i] = (unsigned char)x;
	}
}

/* ------------------------------------------------------------------ */
/* discovery with libaccel-config, as a client does it */

struct wqinfo {
	char devname[32];
	int dev_type, dev_state, numa;
	uint64_t gen_cap;
	unsigned version;
	char wqname[32];
	int state, type, mode;
	uint64_t size, mts;
	unsigned mbs;
	int bof;
	int path_rc;
	char path[128];
};

static void
quiet_log(struct accfg_ctx *ctx, int prio, const char *file, int line, const char *fn,
	  const char *fmt, va_list args)
{
	(void)ctx;
	(void)prio;
	(void)file;
	(void)line;
	(void)fn;
	(void)fmt;
	(void)args;
}

static int
discover(struct wqinfo *v, int max, int *ndev)
{
	struct accfg_ctx *ctx;
	if (accfg_new(&ctx))
		return -1;
	accfg_set_log_fn(ctx, quiet_log);
	struct accfg_device *dev;
	struct accfg_wq *wq;
	int n = 0;
	*ndev = 0;
	accfg_device_foreach(ctx, dev) {
		(*ndev)++;
		accfg_wq_foreach(dev, wq) {
			if (n >= max)
				break;
			struct wqinfo *w = &v[n++];
			memset(w, 0, sizeof(*w));
			snprintf(w->devname, sizeof(w->devname), "%s", accfg_device_get_devname(dev));
			w->dev_type = accfg_device_get_type(dev);
			w->dev_state = accfg_device_get_state(dev);
			w->numa = accfg_device_get_numa_node(dev);
			w->gen_cap = accfg_device_get_gen_cap(dev);
			w->version = accfg_device_get_version(dev);
			snprintf(w->wqname, sizeof(w->wqname), "%s", accfg_wq_get_devname(wq));
			w->state = accfg_wq_get_state(wq);
			w->type = accfg_wq_get_type(wq);
			w->mode = accfg_wq_get_mode(wq);
			w->size = accfg_wq_get_size(wq);
			w->mts = accfg_wq_get_max_transfer_size(wq);
			w->mbs = accfg_wq_get_max_batch_size(wq);
			w->bof = accfg_wq_get_block_on_fault(wq);
			w->path_rc = accfg_wq_get_user_dev_path(wq, w->path, sizeof(w->path));
		}
	}
	accfg_unref(ctx);
	return n;
}

static int
read_int_file(const char *path, long *v)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	int r = fscanf(f, "%li", v) == 1 ? 0 : -1;
	fclose(f);
	return r;
}

/* ------------------------------------------------------------------ */
/* tests */

static void
test_discovery_default(void)
{
	struct dsa_emu_config cfg = { 0 };
	struct dsa_emu *emu = dsa_emu_start(&cfg);
	struct wqinfo v[8];
	int ndev = 0;
	REQUIRE(emu);
	CHECK_EQ(dsa_emu_nwqs(emu), 1);
	CHECK(strcmp(dsa_emu_wq_path(emu, 0), "/dev/dsa/wq0.0") == 0);
	int n = discover(v, 8, &ndev);
	CHECK_EQ(ndev, 1);
	REQUIRE(n == 1);
	CHECK(strcmp(v[0].devname, "dsa0") == 0);
	CHECK_EQ(v[0].dev_type, ACCFG_DEVICE_DSA);
	CHECK_EQ(v[0].dev_state, ACCFG_DEVICE_ENABLED);
	CHECK_EQ(v[0].numa, 0);
	CHECK_EQ(v[0].gen_cap, 0x40915f0107ULL);
	CHECK_EQ(v[0].version, 0x100);
	CHECK(strcmp(v[0].wqname, "wq0.0") == 0);
	CHECK_EQ(v[0].state, ACCFG_WQ_ENABLED);
	CHECK_EQ(v[0].type, ACCFG_WQT_USER);
	CHECK_EQ(v[0].mode, ACCFG_WQ_DEDICATED);
	CHECK_EQ(v[0].size, 32);
	CHECK_EQ(v[0].mts, 2u << 20);
	CHECK_EQ(v[0].mbs, 32);
	CHECK_EQ(v[0].bof, 0);
	CHECK_EQ(v[0].path_rc, 0);
	CHECK(strcmp(v[0].path, "/dev/dsa/wq0.0") == 0);
	long pasid = -1;
	CHECK(read_int_file("/sys/bus/dsa/devices/dsa0/pasid_enabled", &pasid) == 0);
	CHECK_EQ(pasid, 1);
	struct stat st;
	CHECK(stat("/dev/dsa/wq0.0", &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 4096);
	/* the real devices are hidden, the rest of /dev still works */
	CHECK(access("/sys/bus/pci", F_OK) != 0);
	struct statfs sfs;
	/* submounts of /dev keep their file system (whatever it was: /dev/shm
	 * need not be a tmpfs, e.g. in a chroot) */
	CHECK(statfs("/dev/pts", &sfs) != 0 || (long)sfs.f_type == devpts_type);
	CHECK(statfs("/dev/shm", &sfs) != 0 || (long)sfs.f_type == devshm_type);
	int nullfd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	CHECK(nullfd >= 0 && write(nullfd, "x", 1) == 1);
	if (nullfd >= 0)
		close(nullfd);
out:
	dsa_emu_stop(emu);
	/* the tree is gone */
	CHECK(access("/sys/bus/dsa", F_OK) != 0);
	CHECK(access("/dev/dsa", F_OK) != 0);
}

static void
test_discovery_multi(void)
{
	struct dsa_emu_wq_config wqc[6] = {
		[1] = { .shared = 1, .wq_size = 16 },
		[2] = { .disabled = 1 },
		[3] = { .type = "kernel", .max_transfer_size = 1u << 16, .max_batch_size = 8 },
		[5] = { .block_on_fault = 1, .fifo = 1 },
	};
	int numa[2] = { 0, 1 };
	struct dsa_emu_config cfg = { .ndevices = 2, .nwqs = 3, .wqs = wqc, .numa_nodes = numa,
				      .gen_cap = 0x40915f0106ULL, .version = 0x200 };
	struct dsa_emu *emu = dsa_emu_start(&cfg);
	struct wqinfo v[16];
	int ndev = 0;
	REQUIRE(emu);
	CHECK_EQ(dsa_emu_nwqs(emu), 6);
	int n = discover(v, 16, &ndev);
	CHECK_EQ(ndev, 2);
	REQUIRE(n == 6);
	for (int i = 0; i < 6; i++) {
		char name[32], path[64];
		snprintf(name, sizeof(name), "wq%d.%d", i / 3, i % 3);
		snprintf(path, sizeof(path), "/dev/dsa/wq%d.%d", i / 3, i % 3);
		CHECK(strcmp(v[i].wqname, name) == 0);
		CHECK(strcmp(v[i].path, path) == 0);
		CHECK(strcmp(dsa_emu_wq_path(emu, (unsigned)i), path) == 0);
		CHECK_EQ(v[i].numa, i / 3);
		CHECK_EQ(v[i].gen_cap, 0x40915f0106ULL);
		CHECK_EQ(v[i].version, 0x200);
		CHECK_EQ(v[i].state, i == 2 ? ACCFG_WQ_DISABLED : ACCFG_WQ_ENABLED);
		CHECK_EQ(v[i].mode, i == 1 ? ACCFG_WQ_SHARED : ACCFG_WQ_DEDICATED);
		CHECK_EQ(v[i].type, i == 3 ? ACCFG_WQT_KERNEL : ACCFG_WQT_USER);
		CHECK_EQ(v[i].size, i == 1 ? 16 : 32);
		CHECK_EQ(v[i].mts, i == 3 ? 1u << 16 : 2u << 20);
		CHECK_EQ(v[i].mbs, i == 3 ? 8 : 32);
		CHECK_EQ(v[i].bof, i == 5);
		struct stat st;
		CHECK(stat(path, &st) == 0);
		CHECK((i == 1 || i == 5) ? S_ISFIFO(st.st_mode) : S_ISREG(st.st_mode));
	}
out:
	dsa_emu_stop(emu);
}

static void
test_device_states(void)
{
	struct dsa_emu_config cfg = { .device_disabled = 1, .wq_disabled = 1, .pasid_disabled = 1,
				      .wq_type = "mdev", .numa_node = -1, .shared = 1 };
	struct dsa_emu *emu = dsa_emu_start(&cfg);
	struct wqinfo v[4];
	int ndev;
	REQUIRE(emu);
	REQUIRE(discover(v, 4, &ndev) == 1);
	CHECK_EQ(v[0].dev_state, ACCFG_DEVICE_DISABLED);
	CHECK_EQ(v[0].state, ACCFG_WQ_DISABLED);
	CHECK_EQ(v[0].numa, -1);
	CHECK_EQ(v[0].mode, ACCFG_WQ_SHARED);
	CHECK(v[0].type != ACCFG_WQT_USER);
	long pasid = -1;
	CHECK(read_int_file("/sys/bus/dsa/devices/dsa0/pasid_enabled", &pasid) == 0);
	CHECK_EQ(pasid, 0);
	struct stat st;
	CHECK(stat("/dev/dsa/wq0.0", &st) == 0 && S_ISFIFO(st.st_mode)); /* shared: FIFO */
out:
	dsa_emu_stop(emu);
}

/* libaccel-config in a child (it may crash on the malformed tree) */
static int
discover_in_child(int *nwq_out)
{
	int pfd[2];
	if (pipe(pfd))
		return -1;
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		signal(SIGSEGV, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
		signal(SIGABRT, SIG_DFL);
		int nfd = open("/dev/null", O_WRONLY);
		if (nfd >= 0)
			dup2(nfd, 2);
		struct wqinfo v[4];
		int ndev;
		int n = discover(v, 4, &ndev);
		if (write(pfd[1], &n, sizeof(n)) < 0)
			_exit(2);
		_exit(0);
	}
	close(pfd[1]);
	int n = -100;
	if (read(pfd[0], &n, sizeof(n)) != (ssize_t)sizeof(n))
		n = -100;
	close(pfd[0]);
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	*nwq_out = n;
	if (WIFSIGNALED(st))
		return WTERMSIG(st);
	return 0;
}

static void
test_sysfs_overrides(void)
{
	/* config-time: a malformed value */
	struct dsa_emu_sysfs_override ov[] = {
		{ "dsa0/wq0.0/max_transfer_size", "garbage\n" },
		{ "dsa0/wq0.0/block_on_fault", NULL },
	};
	struct dsa_emu_config cfg = { .overrides = ov, .noverrides = 2,
				      .override_file = "/sys/bus/dsa/devices/dsa0/wq0.0/size",
				      .override_value = "" };
	struct dsa_emu *emu = dsa_emu_start(&cfg);
	struct wqinfo v[4];
	int ndev, n;
	REQUIRE(emu);
	REQUIRE(discover(v, 4, &ndev) == 1);
	CHECK_EQ(v[0].mts, 0); /* strtoull("garbage") */
	CHECK(v[0].bof < 0);   /* -errno: missing file */
	CHECK(access("/sys/bus/dsa/devices/dsa0/wq0.0/block_on_fault", F_OK) != 0);

	/* run time */
	CHECK(dsa_emu_sysfs_set(emu, "dsa0/wq0.0/state", "disabled\n") == 0);
	CHECK(dsa_emu_sysfs_set(emu, "dsa0/pasid_enabled", "0\n") == 0);
	REQUIRE(discover(v, 4, &ndev) == 1);
	CHECK_EQ(v[0].state, ACCFG_WQ_DISABLED);
	long pasid = -1;
	CHECK(read_int_file("/sys/bus/dsa/devices/dsa0/pasid_enabled", &pasid) == 0);
	CHECK_EQ(pasid, 0);
	CHECK(dsa_emu_sysfs_set(emu, "dsa0/no_such_dir/x", "1") != 0);

	/* the situations that crash libaccel-config 3.5.3: missing type, empty mode */
	CHECK(dsa_emu_sysfs_set(emu, "dsa0/wq0.0/type", NULL) == 0);
	CHECK(access("/sys/bus/dsa/devices/dsa0/wq0.0/type", F_OK) != 0);
	int sig = discover_in_child(&n);
	vlog("  missing wq type: child signal %d, wqs %d\n", sig, n);
	CHECK(dsa_emu_sysfs_set(emu, "dsa0/wq0.0/type", "user\n") == 0);
	CHECK(dsa_emu_sysfs_set(emu, "dsa0/wq0.0/mode", "") == 0);
	sig = discover_in_child(&n);
	vlog("  empty wq mode: child signal %d, wqs %d\n", sig, n);
	CHECK(dsa_emu_sysfs_set(emu, "dsa0/wq0.0/mode", "dedicated\n") == 0);
	sig = discover_in_child(&n);
	CHECK_EQ(sig, 0);
	CHECK_EQ(n, 1);
	/* a missing cmd_status makes it skip the device */
	CHECK(dsa_emu_sysfs_set(emu, "dsa0/cmd_status", NULL) == 0);
	sig = discover_in_child(&n);
	CHECK_EQ(sig, 0);
	CHECK_EQ(n, 0);
out:
	dsa_emu_stop(emu);
}

static void
test_basic_ops(int fifo, int fixed_offset)
{
	struct dsa_emu_config cfg = { .fifo = fifo ? 1 : 0 };
	struct dsa_emu *emu = dsa_emu_start(&cfg);
	struct client c = { .fd = -1 };
	const size_t N = 1 << 20;
	unsigned char *src = malloc(N), *dst = malloc(N), *ref = malloc(N);
	struct dsa_completion_record *recs = alloc_records(16);
	struct dsa_hw_desc d __attribute__((aligned(64)));
	REQUIRE(emu && src && dst && ref && recs);
	REQUIRE(client_open(&c, "/dev/dsa/wq0.0", fifo) == 0);
	c.fixed_offset = fixed_offset;
	if (fifo) {
		void *p = mmap(NULL, 4096, PROT_WRITE, MAP_SHARED, c.fd, 0);
		CHECK(p == MAP_FAILED);
		if (p != MAP_FAILED)
			munmap(p, 4096);
	}

	static const uint32_t sizes[] = { 1, 7, 64, 4095, 4096, 4097, 65536, 1000003, 1 << 20 };
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint32_t n = sizes[i];
		fill_random(src, n, i + 1);
		memset(dst, 0xee, N);
		desc_memmove(&d, REC(recs, 0), dst, src, n, IDXD_OP_FLAG_CC);
		CHECK_EQ(run_one(&c, &d, REC(recs, 0)), DSA_COMP_SUCCESS);
		CHECK(memcmp(dst, src, n) == 0);
		CHECK(n == N || dst[n] == 0xee);
		CHECK_EQ(REC(recs, 0)->result, 0);
	}

	/* memfill: 8-byte pattern, trailing partial pattern, odd alignment */
	uint64_t pat = 0x0807060504030201ULL;
	memset(dst, 0, N);
	desc_fill(&d, REC(recs, 1), dst + 3, pat, 8 * 1000 + 5, 0);
	CHECK_EQ(run_one(&c, &d, REC(recs, 1)), DSA_COMP_SUCCESS);
	int fill_ok = dst[2] == 0 && dst[3 + 8005] == 0;
	for (unsigned k = 0; k < 8005; k++)
		fill_ok &= dst[3 + k] == (unsigned char)(k % 8 + 1);
	CHECK(fill_ok);
	desc_fill(&d, REC(recs, 1), dst, 0x5a5a5a5a5a5a5a5aULL, 100000, 0);
	CHECK_EQ(run_one(&c, &d, REC(recs, 1)), DSA_COMP_SUCCESS);
	fill_ok = 1;
	for (unsigned k = 0; k < 100000; k++)
		fill_ok &= dst[k] == 0x5a;
	CHECK(fill_ok && dst[100000] == 0);

	/* cflush, noop, drain */
	memset(&d, 0, sizeof(d));
	d.opcode = DSA_OPCODE_CFLUSH;
	d.flags = FLAGS_STD;
	d.completion_addr = (uintptr_t)REC(recs, 2);
	d.dst_addr = (uintptr_t)dst;
	d.xfer_size = 65536;
	CHECK_EQ(run_one(&c, &d, REC(recs, 2)), DSA_COMP_SUCCESS);
	desc_simple(&d, REC(recs, 3), DSA_OPCODE_NOOP, FLAGS_STD);
	CHECK_EQ(run_one(&c, &d, REC(recs, 3)), DSA_COMP_SUCCESS);
	desc_simple(&d, REC(recs, 4), DSA_OPCODE_DRAIN, FLAGS_STD);
	CHECK_EQ(run_one(&c, &d, REC(recs, 4)), DSA_COMP_SUCCESS);

	struct dsa_emu_stats st;
	dsa_emu_get_stats(emu, -1, &st);
	CHECK_EQ(st.ops[DSA_OPCODE_MEMMOVE], 9);
	CHECK_EQ(st.ops[DSA_OPCODE_MEMFILL], 2);
	CHECK_EQ(st.ops[DSA_OPCODE_CFLUSH], 1);
	CHECK_EQ(st.ops[DSA_OPCODE_NOOP], 1);
	CHECK_EQ(st.ops[DSA_OPCODE_DRAIN], 1);
	CHECK_EQ(st.received, 14);
	CHECK_EQ(st.processed, 14);
	CHECK_EQ(st.completed, 14);
	CHECK_EQ(st.errors, 0);
	CHECK_EQ(st.flag_cc, 9);
	CHECK_EQ(st.last_opcode, DSA_OPCODE_DRAIN);
	CHECK_EQ(st.last_flags, FLAGS_STD);
	CHECK_EQ(st.last_status, DSA_COMP_SUCCESS);
	CHECK_EQ(st.cr_not_zero, 0);
	CHECK_EQ(st.inflight, 0);
	CHECK(st.max_inflight >= 1);
	CHECK_EQ(dsa_emu_wait_processed(emu, 14, POLL_GUARD_MS), 0);
	CHECK_EQ(dsa_emu_wait_processed(emu, 15, 50), -1);
	dsa_emu_reset_stats(emu);
	dsa_emu_get_stats(emu, 0, &st);
	CHECK_EQ(st.received, 0);
out:
	client_close(&c);
	dsa_emu_stop(emu);
	free(src);
	free(dst);
	free(ref);
	free(recs);
}

/* a shared WQ with a regular portal file: MOVDIR64B to it is discarded */
static void
test_shared_mmap(void)
{
	struct dsa_emu_config cfg = { .shared = 1, .fifo = -1 };
	struct dsa_emu *emu = dsa_emu_start(&cfg);
	struct client c = { .fd = -1 };
	struct dsa_completion_record *cr = alloc_records(1);
	struct dsa_hw_desc d __attribute__((aligned(64)));
	struct dsa_emu_stats st;
	REQUIRE(emu && cr);
	REQUIRE(client_open(&c, "/dev/dsa/wq0.0", 0) == 0);
	desc_simple(&d, cr, DSA_OPCODE_NOOP, FLAGS_STD);
	reset_record(cr);
	CHECK(client_submit(&c, &d) == 0);
	CHECK_EQ(dsa_emu_wait_processed(emu, 1, POLL_GUARD_MS), 0);
	dsa_emu_get_stats(emu, -1, &st);
	CHECK_EQ(st.rejected, 1);
	CHECK_EQ(peek_status(cr), 0);
out:
	client_close(&c);
	dsa_emu_stop(emu);
	free(cr);
}

static void
test_overlap(void)
{
	for (int cap = 0; cap < 2; cap++) {
		struct dsa_emu_config cfg = { .gen_cap = cap ? 0 : (DSA_EMU_GEN_CAP_SPR & ~2ULL) };
		struct dsa_emu *emu = dsa_emu_start(&cfg);
		struct client c = { .fd = -1 };
		const size_t N = 256 * 1024;
		unsigned char *buf = malloc(N), *ref = malloc(N);
		struct dsa_completion_record *recs = alloc_records(2);
		struct dsa_hw_desc d __attribute__((aligned(64)));
		REQUIRE(emu && buf && ref && recs);
		REQUIRE(client_open(&c, "/dev/dsa/wq0.0", 0) == 0);
		/* descending: dst above src */
		fill_random(buf, N, 77);
		memcpy(ref, buf, N);
		memmove(ref + 1000, ref, 100000);
		desc_memmove(&d, REC(recs, 0), buf + 1000, buf, 100000, 0);
		uint8_t s = run_one(&c, &d, REC(recs, 0));
		if (cap) {
			CHECK_EQ(s, DSA_COMP_SUCCESS);
			CHECK_EQ(REC(recs, 0)->result, 1);
			CHECK(memcmp(buf, ref, N) == 0);
		} else {
			CHECK_EQ(s, DSA_COMP_OVERLAP_BUFFERS);
		}
		/* ascending: dst below src */
		fill_random(buf, N, 78);
		memcpy(ref, buf, N);
		memmove(ref, ref + 4096, 200000);
		desc_memmove(&d, REC(recs, 1), buf, buf + 4096, 200000, 0);
		s = run_one(&c, &d, REC(recs, 1));
		if (cap) {
			CHECK_EQ(s, DSA_COMP_SUCCESS);
			CHECK_EQ(REC(recs, 1)->result, 0);
			CHECK(memcmp(buf, ref, N) == 0);
		} else {
			CHECK_EQ(s, DSA_COMP_OVERLAP_BUFFERS);
		}
	out:
		client_close(&c);
		dsa_emu_stop(emu);
		free(buf);
		free(ref);
		free(recs);
	}
}

/* a NOOP whose record still holds a status (0x33) from before: it runs
 * and its record says SUCCESS; *st gets the stats of that one descriptor */
static void
run_unreset_noop(struct dsa_emu *emu, struct client *c,
		 struct dsa_completion_record *rec, struct dsa_emu_stats *st)
{
	struct dsa_hw_desc d __attribute__((aligned(64)));
	dsa_emu_reset_stats(emu);
	desc_simple(&d, rec, DSA_OPCODE_NOOP, FLAGS_STD);
	__atomic_store_n(&rec->status, 0x33, __ATOMIC_RELEASE);
	CHECK(client_submit(c, &d) == 0);
	CHECK_EQ(dsa_emu_wait_processed(emu, 1, POLL_GUARD_MS), 0);
	dsa_emu_get_stats(emu, -1, st);
	CHECK_EQ(peek_status(rec), DSA_COMP_SUCCESS);
}

static void
test_validation(void)
{
	struct dsa_emu_config cfg = { .max_transfer_size = 65536 };
	struct dsa_emu *emu = dsa_emu_start(&cfg);
	struct client c = { .fd = -1 };
	unsigned char *src = malloc(1 << 20), *dst = malloc(1 << 20);
	struct dsa_completion_record *recs = alloc_records(32);
	struct dsa_hw_desc d __attribute__((aligned(64)));
	struct dsa_emu_stats st;
	REQUIRE(emu && src && dst && recs);
	REQUIRE(client_open(&c, "/dev/dsa/wq0.0", 0) == 0);
	memset(src, 1, 1 << 20);

	/* transfer size */
	desc_memmove(&d, REC(recs, 0), dst, src, 65537, 0);
	CHECK_EQ(run_one(&c, &d, REC(recs, 0)), DSA_COMP_XFER_ERANGE);
	desc_memmove(&d, REC(recs, 0), dst, src, 0, 0);
	CHECK_EQ(run_one(&c, &d, REC(recs, 0)), DSA_COMP_XFER_ERANGE);
	desc_memmove(&d, REC(recs, 0), dst, src, 65536, 0);
	CHECK_EQ(run_one(&c, &d, REC(recs, 0)), DSA_COMP_SUCCESS);

	/* unknown opcode (compare is not emulated), reserved bits */
	desc_memmove(&d, REC(recs, 1), dst, src, 64, 0);
	d.opcode = DSA_OPCODE_COMPARE;
	CHECK_EQ(run_one(&c, &d, REC(recs, 1)), DSA_COMP_BAD_OPCODE);
	d.opcode = 0x7f;
	CHECK_EQ(run_one(&c, &d, REC(recs, 1)), DSA_COMP_BAD_OPCODE);
	desc_memmove(&d, REC(recs, 1), dst, src, 64, 0);
	((unsigned char *)&d)[50] = 1;
	CHECK_EQ(run_one(&c, &d, REC(recs, 1)), DSA_COMP_NOZERO_RESERVE);

	/* invalid flags: reserved bit, CR on memmove, BOF without WQ support */
	desc_memmove(&d, REC(recs, 2), dst, src, 64, 0x40);
	CHECK_EQ(run_one(&c, &d, REC(recs, 2)), DSA_COMP_INVALID_FLAGS);
	CHECK_EQ(REC(recs, 2)->invalid_flags, 0x40);
	desc_memmove(&d, REC(recs, 2), dst, src, 64, IDXD_OP_FLAG_CR);
	CHECK_EQ(run_one(&c, &d, REC(recs, 2)), DSA_COMP_INVALID_FLAGS);
	desc_memmove(&d, REC(recs, 2), dst, src, 64, IDXD_OP_FLAG_BOF);
	CHECK_EQ(run_one(&c, &d, REC(recs, 2)), DSA_COMP_INVALID_FLAGS);
	CHECK_EQ(REC(recs, 2)->invalid_flags, IDXD_OP_FLAG_BOF);
	desc_memmove(&d, REC(recs, 2), dst, src, 64, 1u << 16);
	CHECK_EQ(run_one(&c, &d, REC(recs, 2)), DSA_COMP_INVALID_FLAGS);
	/* CC and DRDBK are supported by the default GENCAP */
	desc_memmove(&d, REC(recs, 2), dst, src, 64, IDXD_OP_FLAG_CC);
	CHECK_EQ(run_one(&c, &d, REC(recs, 2)), DSA_COMP_SUCCESS);
	desc_memmove(&d, REC(recs, 2), dst, src, 64, IDXD_OP_FLAG_DRDBK);
	CHECK_EQ(run_one(&c, &d, REC(recs, 2)), DSA_COMP_SUCCESS);
	desc_fill(&d, REC(recs, 2), dst, 0, 64, IDXD_OP_FLAG_DRDBK | IDXD_OP_FLAG_CC);
	CHECK_EQ(run_one(&c, &d, REC(recs, 2)), DSA_COMP_SUCCESS);
	/* CC is not valid on a batch descriptor */
	desc_simple(&d, REC(recs, 2), DSA_OPCODE_BATCH, FLAGS_STD | IDXD_OP_FLAG_CC);
	CHECK_EQ(run_one(&c, &d, REC(recs, 2)), DSA_COMP_INVALID_FLAGS);

	dsa_emu_get_stats(emu, -1, &st);
	CHECK_EQ(st.flag_cc, 3); /* incl. the batch */
	CHECK_EQ(st.flag_drdbk, 2);
	CHECK_EQ(st.flag_bof, 1);
	CHECK_EQ(st.last_flags, FLAGS_STD | IDXD_OP_FLAG_CC);
	CHECK(st.flags_or & IDXD_OP_FLAG_DRDBK);

	/* RCR clear: no record on success, a record on error */
	dsa_emu_reset_stats(emu);
	desc_memmove(&d, REC(recs, 3), dst, src, 64, 0);
	d.flags = IDXD_OP_FLAG_CRAV;
	reset_record(REC(recs, 3));
	CHECK(client_submit(&c, &d) == 0);
	CHECK_EQ(dsa_emu_wait_processed(emu, 1, POLL_GUARD_MS), 0);
	CHECK_EQ(peek_status(REC(recs, 3)), 0);
	d.xfer_size = 1 << 20;
	CHECK_EQ(run_one(&c, &d, REC(recs, 3)), DSA_COMP_XFER_ERANGE);

	/* no CRAV, misaligned or unmapped record: dropped, nothing written */
	dsa_emu_reset_stats(emu);
	unsigned char *raw = (unsigned char *)REC(recs, 4);
	memset(raw, 0x11, 64);
	desc_memmove(&d, (struct dsa_completion_record *)(raw + 8), dst, src, 64, 0);
	CHECK(client_submit(&c, &d) == 0);
	desc_memmove(&d, REC(recs, 5), dst, src, 64, 0);
	d.flags = IDXD_OP_FLAG_RCR;
	reset_record(REC(recs, 5));
	CHECK(client_submit(&c, &d) == 0);
	void *hole = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	REQUIRE(hole != MAP_FAILED);
	munmap(hole, 4096);
	desc_memmove(&d, (struct dsa_completion_record *)hole, dst, src, 64, 0);
	CHECK(client_submit(&c, &d) == 0);
	CHECK_EQ(dsa_emu_wait_processed(emu, 3, POLL_GUARD_MS), 0);
	dsa_emu_get_stats(emu, -1, &st);
	CHECK_EQ(st.rejected, 3);
	CHECK_EQ(st.completed, 0);
	int untouched = 1;
	for (int k = 0; k < 64; k++)
		untouched &= raw[k] == 0x11;
	CHECK(untouched);
	CHECK_EQ(peek_status(REC(recs, 5)), 0);

	/* a record whose status was not reset */
	run_unreset_noop(emu, &c, REC(recs, 6), &st);
	CHECK_EQ(st.cr_not_zero, 1);
out:
	client_close(&c);
	dsa_emu_stop(emu);
	free(src);
	free(dst);
	free(recs);
}

/* no_record_check: the record is never read (a status left over is not
 * counted), but still written as the flags say */
static void
test_no_record_check(void)
{
	struct dsa_emu_config cfg = { .no_record_check = 1 };
	struct dsa_emu *emu = dsa_emu_start(&cfg);
	struct client c = { .fd = -1 };
	struct dsa_completion_record *recs = alloc_records(2);
	struct dsa_emu_stats st;
	REQUIRE(emu && recs);
	REQUIRE(client_open(&c, "/dev/dsa/wq0.0", 0) == 0);
	run_unreset_noop(emu, &c, REC(recs, 0), &st);
	CHECK_EQ(st.cr_not_zero, 0);
	CHECK_EQ(st.records, 1);
out:
	client_close(&c);
	dsa_emu_stop(emu);
	free(recs);
}

/* no_cache_fill: copies of every alignment of source and destination and
 * of lengths around the 16-byte stores come out whole, the bytes around
 * the destination untouched (the cache behaviour itself no test can see) */
static void
test_no_cache_fill(void)
{
	struct dsa_emu_config cfg = { .no_cache_fill = 1 };
	struct dsa_emu *emu = dsa_emu_start(&cfg);
	struct client c = { .fd = -1 };
	struct dsa_completion_record *recs = alloc_records(1);
	struct dsa_hw_desc d __attribute__((aligned(64)));
	static const size_t lens[] = { 1, 15, 16, 17, 31, 64, 100, 4096, 5000 };
	unsigned char *src = malloc(8192), *dst = malloc(8192 + 64);
	REQUIRE(emu && recs && src && dst);
	REQUIRE(client_open(&c, "/dev/dsa/wq0.0", 0) == 0);
	for (size_t i = 0; i < 8192; i++)
		src[i] = (unsigned char)(i * 7 + 1);
	for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++)
		for (size_t so = 0; so < 3; so++)
			for (size_t od = 0; od < 17; od += 8) {
				size_t n = lens[l];
				unsigned char *t = dst + 32 + od;
				memset(dst, 0xee, 8192 + 64);
				desc_memmove(&d, recs, t, src + so, (uint32_t)n, 0);
				CHECK_EQ(run_one(&c, &d, recs), DSA_COMP_SUCCESS);
				CHECK(memcmp(t, src + so, n) == 0);
				CHECK_EQ(t[-1], 0xee);
				CHECK_EQ(t[n], 0xee);
			}
out:
	client_close(&c);
	dsa_emu_stop(emu);
	free(recs);
	free(src);
	free(dst);
}

/*
 * A writer stopped half-way through the stand-in MOVDIR64B (as valgrind
 * stops threads between any two stores): the emulator must not take the
 * half-written slot, which would be a NOOP without its record address.
 */
static void
test_portal_store_stopped(void)
{
	struct dsa_emu *emu = dsa_emu_start(NULL);
	struct client c = { .fd = -1 };
	struct dsa_completion_record *recs = alloc_records(1);
	struct dsa_hw_desc d __attribute__((aligned(64)));
	struct dsa_emu_stats st;
	REQUIRE(emu && recs);
	REQUIRE(client_open(&c, "/dev/dsa/wq0.0", 0) == 0);
	desc_simple(&d, REC(recs, 0), DSA_OPCODE_NOOP, FLAGS_STD);
	reset_record(REC(recs, 0));
	dsa_emu_portal_store_begin(c.portal, &d, 4); /* the record address not yet */
	/* the emulator's intake meets the slot at least 3 times (guard: 30 s) */
	uint64_t t0 = mono_ns();
	do {
		usleep(1000);
		dsa_emu_get_stats(emu, -1, &st);
	} while (st.portal_waits < 3 && st.received == 0 &&
		 mono_ns() - t0 < POLL_GUARD_MS * 1000000ULL);
	CHECK(st.portal_waits >= 3);
	CHECK_EQ(st.received, 0);
	CHECK_EQ(peek_status(REC(recs, 0)), 0);
	dsa_emu_portal_store_end(c.portal, &d, 4);
	CHECK_EQ(poll_status(REC(recs, 0), POLL_GUARD_MS), DSA_COMP_SUCCESS);
	dsa_emu_get_stats(emu, -1, &st);
	CHECK_EQ(st.received, 1);
	CHECK_EQ(st.rejected, 0);
	CHECK_EQ(st.lost, 0);
out:
	client_close(&c);
	dsa_emu_stop(emu);
	free(recs);
}

static void
test_gencap_flags(void)
{
	/* no CC, no DRDBK, no BOF in GENCAP, but the WQ has block_on_fault */
	struct dsa_emu_config cfg = { .gen_cap = DSA_EMU_GEN_CAP_SPR & ~0x10dULL,
				      .block_on_fault = 1 };
	struct dsa_emu *emu = dsa_emu_start(&cfg);
	struct client c = { .fd = -1 };
	unsigned char src[256], dst[256];
	struct dsa_completion_record *recs = alloc_records(1);
	struct dsa_hw_desc d __attribute__((aligned(64)));
	REQUIRE(emu && recs);
	REQUIRE(client_open(&c, "/dev/dsa/wq0.0", 0) == 0);
	memset(src, 3, sizeof(src));
	desc_memmove(&d, recs, dst, src, 256, IDXD_OP_FLAG_CC);
	CHECK_EQ(run_one(&c, &d, recs), DSA_COMP_INVALID_FLAGS);
	CHECK_EQ(recs->invalid_flags, IDXD_OP_FLAG_CC);
	desc_memmove(&d, recs, dst, src, 256, IDXD_OP_FLAG_DRDBK);
	CHECK_EQ(run_one(&c, &d, recs), DSA_COMP_INVALID_FLAGS);
	desc_memmove(&d, recs, dst, src, 256, IDXD_OP_FLAG_BOF);
	CHECK_EQ(run_one(&c, &d, recs), DSA_COMP_INVALID_FLAGS);
	desc_memmove(&d, recs, dst, src, 256, 0);
	CHECK_EQ(run_one(&c, &d, recs), DSA_COMP_SUCCESS);
	CHECK(memcmp(src, dst, 256) == 0);
	dsa_emu_stop(emu);
	emu = NULL;
	client_close(&c);
	/* GENCAP "really 0" */
	struct dsa_emu_config cfg0 = { .gen_cap = DSA_EMU_GEN_CAP_NONE };
	emu = dsa_emu_start(&cfg0);
	REQUIRE(emu);
	long v = -1;
	FILE *f = fopen("/sys/bus/dsa/devices/dsa0/gen_cap", "re");
	CHECK(f && fscanf(f, "%li", &v) == 1 && v == 0);
	if (f)
		fclose(f);
	/* BOF allowed with GENCAP bit 0 and the WQ attribute */
	dsa_emu_stop(emu);
	struct dsa_emu_config cfg1 = { .block_on_fault = 1 };
	emu = dsa_emu_start(&cfg1);
	REQUIRE(emu);
	REQUIRE(client_open(&c, "/dev/dsa/wq0.0", 0) == 0);
	desc_memmove(&d, recs, dst, src, 256, IDXD_OP_FLAG_BOF);
	CHECK_EQ(run_one(&c, &d, recs), DSA_COMP_SUCCESS);
out:
	client_close(&c);
	dsa_emu_stop(emu);
	free(recs);
}

static void
test_batch(int fifo)
{
	struct dsa_emu_config cfg = { .max_batch_size = 8, .fifo = fifo };
	struct dsa_emu *emu = dsa_emu_start(&cfg);
	struct client c = { .fd = -1 };
	unsigned char *src = malloc(65536), *dst = malloc(65536);
	struct dsa_hw_desc *list = aligned_alloc(64, 16 * 64);
	struct dsa_completion_record *recs = alloc_records(17);
	struct dsa_completion_record *brec = REC(recs, 16);
	struct dsa_hw_desc d __attribute__((aligned(64)));
	struct dsa_emu_stats st;
	REQUIRE(emu && src && dst && list && recs);
	REQUIRE(client_open(&c, "/dev/dsa/wq0.0", fifo) == 0);
	fill_random(src, 65536, 5);
	memset(dst, 0, 65536);
	desc_memmove(&list[0], REC(recs, 0), dst, src, 4096, 0);
	desc_fill(&list[1], REC(recs, 1), dst + 4096, 0x4242424242424242ULL, 4096, 0);
	desc_simple(&list[2], REC(recs, 2), DSA_OPCODE_NOOP, FLAGS_STD);
	desc_memmove(&list[3], REC(recs, 3), dst + 8192, src + 8192, 8192, IDXD_OP_FLAG_FENCE);
	for (int i = 0; i < 4; i++)
		reset_record(REC(recs, i));
	memset(&d, 0, sizeof(d));
	d.opcode = DSA_OPCODE_BATCH;
	d.flags = FLAGS_STD;
	d.completion_addr = (uintptr_t)brec;
	d.desc_list_addr = (uintptr_t)list;
	d.desc_count = 4;
	if (fifo) {
		/* the kernel's write() refuses batch descriptors on DSA 1.0 */
		reset_record(brec);
		CHECK(client_submit(&c, &d) == 0);
		CHECK_EQ(dsa_emu_wait_processed(emu, 1, POLL_GUARD_MS), 0);
		dsa_emu_get_stats(emu, -1, &st);
		CHECK_EQ(st.rejected, 1);
		CHECK_EQ(peek_status(brec), 0);
		CHECK_EQ(peek_status(REC(recs, 0)), 0);
		goto out;
	}
	CHECK_EQ(run_one(&c, &d, brec), DSA_COMP_SUCCESS);
	CHECK_EQ(brec->bytes_completed, 4);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(peek_status(REC(recs, i)), DSA_COMP_SUCCESS);
	CHECK(memcmp(dst, src, 4096) == 0);
	CHECK(dst[4096] == 0x42 && dst[8191] == 0x42);
	CHECK(memcmp(dst + 8192, src + 8192, 8192) == 0);
	dsa_emu_get_stats(emu, -1, &st);
	CHECK_EQ(st.ops[DSA_OPCODE_BATCH], 1);
	CHECK_EQ(st.ops[DSA_OPCODE_MEMMOVE], 2);
	CHECK_EQ(st.batch_members, 4);
	CHECK_EQ(st.received, 1);

	/* one member fails: batch fail, bytes_completed = successful members */
	for (int i = 0; i < 4; i++)
		reset_record(REC(recs, i));
	list[1].opcode = DSA_OPCODE_COMPARE;
	list[3].flags &= ~(uint32_t)IDXD_OP_FLAG_FENCE;
	CHECK_EQ(run_one(&c, &d, brec), DSA_COMP_BATCH_FAIL);
	CHECK_EQ(brec->bytes_completed, 3);
	CHECK_EQ(peek_status(REC(recs, 1)), DSA_COMP_BAD_OPCODE);
	CHECK_EQ(peek_status(REC(recs, 3)), DSA_COMP_SUCCESS);

	/* fence after a failure: the rest is abandoned */
	for (int i = 0; i < 4; i++)
		reset_record(REC(recs, i));
	list[2].flags |= IDXD_OP_FLAG_FENCE;
	CHECK_EQ(run_one(&c, &d, brec), DSA_COMP_BATCH_FAIL);
	CHECK_EQ(brec->bytes_completed, 1);
	CHECK_EQ(peek_status(REC(recs, 0)), DSA_COMP_SUCCESS);
	CHECK_EQ(peek_status(REC(recs, 2)), 0);
	CHECK_EQ(peek_status(REC(recs, 3)), 0);

	/* batch in batch, drain in batch */
	for (int i = 0; i < 4; i++)
		reset_record(REC(recs, i));
	desc_simple(&list[0], REC(recs, 0), DSA_OPCODE_BATCH, FLAGS_STD);
	desc_simple(&list[1], REC(recs, 1), DSA_OPCODE_DRAIN, FLAGS_STD);
	d.desc_count = 2;
	CHECK_EQ(run_one(&c, &d, brec), DSA_COMP_BATCH_FAIL);
	CHECK_EQ(brec->bytes_completed, 0);
	CHECK_EQ(peek_status(REC(recs, 0)), DSA_COMP_BAD_OPCODE);
	CHECK_EQ(peek_status(REC(recs, 1)), DSA_COMP_BAD_OPCODE);

	/* count out of range, misaligned list */
	d.desc_count = 1;
	CHECK_EQ(run_one(&c, &d, brec), DSA_COMP_DESC_CNT_ERANGE);
	d.desc_count = 9;
	CHECK_EQ(run_one(&c, &d, brec), DSA_COMP_DESC_CNT_ERANGE);
	d.desc_count = 8;
	for (int i = 0; i < 8; i++)
		desc_simple(&list[i], REC(recs, i), DSA_OPCODE_NOOP, FLAGS_STD);
	CHECK_EQ(run_one(&c, &d, brec), DSA_COMP_SUCCESS);
	CHECK_EQ(brec->bytes_completed, 8);
	d.desc_list_addr += 32;
	CHECK_EQ(run_one(&c, &d, brec), DSA_COMP_DESCLIST_ALIGN);
out:
	client_close(&c);
	dsa_emu_stop(emu);
	free(src);
	free(dst);
	free(list);
	free(recs);
}

static void
test_page_faults(void)
{
	struct dsa_emu_config cfg = { .block_on_fault = 1 };
	struct dsa_emu *emu = dsa_emu_start(&cfg);
	struct client c = { .fd = -1 };
	const size_t N = 64 * 1024;
	unsigned char *src = aligned_alloc(4096, N), *dst = aligned_alloc(4096, N);
	unsigned char *ref = malloc(N);
	struct dsa_completion_record *recs = alloc_records(4);
	struct dsa_completion_record *cr = recs;
	struct dsa_hw_desc d __attribute__((aligned(64)));
	struct dsa_emu_stats st;
	REQUIRE(emu && src && dst && ref && recs);
	REQUIRE(client_open(&c, "/dev/dsa/wq0.0", 0) == 0);

	/* read fault, moved down to a page boundary of the source */
	fill_random(src, N, 9);
	memset(dst, 0, N);
	struct dsa_emu_fault f = { .kind = DSA_EMU_FAULT_PAGE_READ, .bytes_done = 5000 };
	REQUIRE(dsa_emu_inject(emu, &f) == 0);
	desc_memmove(&d, cr, dst, src + 100, 16384, 0);
	CHECK_EQ(run_one(&c, &d, cr), DSA_COMP_PAGE_FAULT_NOBOF);
	CHECK_EQ(cr->bytes_completed, 4096 - 100);
	CHECK_EQ(cr->fault_addr, (uintptr_t)src + 4096);
	CHECK_EQ(cr->result, 0);
	CHECK(memcmp(dst, src + 100, 3996) == 0 && dst[3996] == 0);
	/* recovery: resubmit the rest */
	uint32_t done = cr->bytes_completed;
	desc_memmove(&d, cr, dst + done, src + 100 + done, 16384 - done, 0);
	CHECK_EQ(run_one(&c, &d, cr), DSA_COMP_SUCCESS);
	CHECK(memcmp(dst, src + 100, 16384) == 0);
	CHECK_EQ(dsa_emu_faults_pending(emu), 0);

	/* write fault, exact */
	memset(dst, 0, N);
	struct dsa_emu_fault fw = { .kind = DSA_EMU_FAULT_PAGE_WRITE, .bytes_done = 100, .exact = 1 };
	REQUIRE(dsa_emu_inject(emu, &fw) == 0);
	desc_memmove(&d, cr, dst + 4000, src, 8192, 0);
	CHECK_EQ(run_one(&c, &d, cr), DSA_COMP_PAGE_FAULT_NOBOF | DSA_COMP_STATUS_WRITE);
	CHECK_EQ(cr->bytes_completed, 100);
	CHECK_EQ(cr->fault_addr, (uintptr_t)dst + 4096); /* page of dst + 4100 */
	CHECK(memcmp(dst + 4000, src, 100) == 0 && dst[4100] == 0);

	/* write fault at a page boundary of the destination */
	REQUIRE(dsa_emu_inject(emu, &(struct dsa_emu_fault){ .kind = DSA_EMU_FAULT_PAGE_WRITE,
							       .bytes_done = 10000 }) == 0);
	desc_memmove(&d, cr, dst + 4000, src, 16384, 0);
	CHECK_EQ(run_one(&c, &d, cr), DSA_COMP_PAGE_FAULT_NOBOF | DSA_COMP_STATUS_WRITE);
	CHECK_EQ(cr->bytes_completed, 12288 - 4000);
	CHECK_EQ(cr->fault_addr, (uintptr_t)dst + 12288);

	/* descending overlapping memmove: the top part is done first */
	fill_random(dst, N, 10);
	memcpy(ref, dst, N);
	memmove(ref + 4096 + 1000, ref + 4096, 20000);
	REQUIRE(dsa_emu_inject(emu, &(struct dsa_emu_fault){ .kind = DSA_EMU_FAULT_PAGE_READ,
							       .bytes_done = 6000 }) == 0);
	desc_memmove(&d, cr, dst + 4096 + 1000, dst + 4096, 20000, 0);
	CHECK_EQ(run_one(&c, &d, cr), DSA_COMP_PAGE_FAULT_NOBOF);
	CHECK_EQ(cr->result, 1);
	/* src top = dst + 24096: done region starts at the page boundary 20480 */
	CHECK_EQ(cr->bytes_completed, 24096 - 20480);
	CHECK_EQ(cr->fault_addr, (uintptr_t)dst + 16384);
	CHECK(memcmp(dst + 4096 + 1000 + 20000 - cr->bytes_completed,
		     ref + 4096 + 1000 + 20000 - cr->bytes_completed, cr->bytes_completed) == 0);
	/* recovery: only the size shrinks */
	desc_memmove(&d, cr, dst + 4096 + 1000, dst + 4096, 20000 - cr->bytes_completed, 0);
	CHECK_EQ(run_one(&c, &d, cr), DSA_COMP_SUCCESS);
	CHECK_EQ(cr->result, 1);
	CHECK(memcmp(dst, ref, N) == 0);

	/* memfill: always a write fault */
	memset(dst, 0, N);
	REQUIRE(dsa_emu_inject(emu, &(struct dsa_emu_fault){ .kind = DSA_EMU_FAULT_PAGE_READ,
							       .bytes_done = 8192 }) == 0);
	desc_fill(&d, cr, dst, 0x7777777777777777ULL, 16384, 0);
	CHECK_EQ(run_one(&c, &d, cr), DSA_COMP_PAGE_FAULT_NOBOF | DSA_COMP_STATUS_WRITE);
	CHECK_EQ(cr->bytes_completed, 8192);
	CHECK_EQ(cr->fault_addr, (uintptr_t)dst + 8192);
	CHECK(dst[8191] == 0x77 && dst[8192] == 0);

	/* cflush: read fault on the destination, no write bit */
	REQUIRE(dsa_emu_inject(emu, &(struct dsa_emu_fault){ .kind = DSA_EMU_FAULT_PAGE_READ,
							       .bytes_done = 4096 }) == 0);
	memset(&d, 0, sizeof(d));
	d.opcode = DSA_OPCODE_CFLUSH;
	d.flags = FLAGS_STD;
	d.completion_addr = (uintptr_t)cr;
	d.dst_addr = (uintptr_t)dst;
	d.xfer_size = 16384;
	CHECK_EQ(run_one(&c, &d, cr), DSA_COMP_PAGE_FAULT_NOBOF);
	CHECK_EQ(cr->bytes_completed, 4096);
	CHECK_EQ(cr->fault_addr, (uintptr_t)dst + 4096);

	/* BOF: the fault is resolved, the copy completes */
	dsa_emu_reset_stats(emu);
	REQUIRE(dsa_emu_inject(emu, &(struct dsa_emu_fault){ .kind = DSA_EMU_FAULT_PAGE_READ,
							       .bytes_done = 4096 }) == 0);
	memset(dst, 0, N);
	desc_memmove(&d, cr, dst, src, 16384, IDXD_OP_FLAG_BOF);
	CHECK_EQ(run_one(&c, &d, cr), DSA_COMP_SUCCESS);
	CHECK(memcmp(dst, src, 16384) == 0);
	dsa_emu_get_stats(emu, -1, &st);
	CHECK_EQ(st.faults_blocked, 1);
	CHECK_EQ(st.faults_injected, 1);

	/* op_mask, skip and count */
	dsa_emu_reset_stats(emu);
	REQUIRE(dsa_emu_inject(emu, &(struct dsa_emu_fault){ .kind = DSA_EMU_FAULT_PAGE_WRITE,
							       .op_mask = DSA_EMU_OP(DSA_OPCODE_MEMFILL),
							       .skip = 1, .count = 2 }) == 0);
	desc_memmove(&d, cr, dst, src, 8192, 0);
	CHECK_EQ(run_one(&c, &d, cr), DSA_COMP_SUCCESS);
	desc_fill(&d, cr, dst, 0, 8192, 0);
	CHECK_EQ(run_one(&c, &d, cr), DSA_COMP_SUCCESS); /* skipped */
	CHECK_EQ(run_one(&c, &d, cr), DSA_COMP_PAGE_FAULT_NOBOF | DSA_COMP_STATUS_WRITE);
	CHECK_EQ(cr->bytes_completed, 0);
	CHECK_EQ(cr->fault_addr, (uintptr_t)dst);
	CHECK_EQ(run_one(&c, &d, cr), DSA_COMP_PAGE_FAULT_NOBOF | DSA_COMP_STATUS_WRITE);
	CHECK_EQ(run_one(&c, &d, cr), DSA_COMP_SUCCESS);
	dsa_emu_get_stats(emu, -1, &st);
	CHECK_EQ(st.faults_injected, 2);
	CHECK_EQ(st.page_faults, 2);
	CHECK_EQ(st.errors, 2);

	/* unlimited until cleared, wq_mask not matching */
	REQUIRE(dsa_emu_inject(emu, &(struct dsa_emu_fault){ .kind = DSA_EMU_FAULT_PAGE_READ,
							       .wq_mask = 2 }) == 0);
	desc_memmove(&d, cr, dst, src, 8192, 0);
	CHECK_EQ(run_one(&c, &d, cr), DSA_COMP_SUCCESS);
	dsa_emu_clear_faults(emu);
	REQUIRE(dsa_emu_inject(emu, &(struct dsa_emu_fault){ .kind = DSA_EMU_FAULT_PAGE_READ,
							       .count = -1 }) == 0);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(run_one(&c, &d, cr), DSA_COMP_PAGE_FAULT_NOBOF);
	CHECK_EQ(dsa_emu_faults_pending(emu), 1);
	dsa_emu_clear_faults(emu);
	CHECK_EQ(run_one(&c, &d, cr), DSA_COMP_SUCCESS);

	/* a real fault: unmapped destination page */
	unsigned char *m = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
				-1, 0);
	REQUIRE(m != MAP_FAILED);
	munmap(m + 4096, 4096);
	desc_memmove(&d, cr, m, src, 3 * 4096, 0);
	CHECK_EQ(run_one(&c, &d, cr), DSA_COMP_PAGE_FAULT_NOBOF | DSA_COMP_STATUS_WRITE);
	CHECK_EQ(cr->bytes_completed, 4096);
	CHECK_EQ(cr->fault_addr, (uintptr_t)m + 4096);
	CHECK(memcmp(m, src, 4096) == 0);
	desc_memmove(&d, cr, src, m + 8192 - 10, 20, 0); /* source: read fault */
	CHECK_EQ(run_one(&c, &d, cr), DSA_COMP_PAGE_FAULT_NOBOF);
	CHECK_EQ(cr->bytes_completed, 0);
	CHECK_EQ(cr->fault_addr, (uintptr_t)m + 4096);
	munmap(m, 4096);
	munmap(m + 8192, 4096);
out:
	client_close(&c);
	dsa_emu_stop(emu);
	free(src);
	free(dst);
	free(ref);
	free(recs);
}

static void
test_nonresident(void)
{
	struct dsa_emu_config cfg = { .fault_nonresident = 1 };
	struct dsa_emu *emu = dsa_emu_start(&cfg);
	struct client c = { .fd = -1 };
	unsigned char src[8192];
	struct dsa_completion_record *cr = alloc_records(1);
	struct dsa_hw_desc d __attribute__((aligned(64)));
	unsigned char *m = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
				-1, 0);
	REQUIRE(emu && cr && m != MAP_FAILED);
	REQUIRE(client_open(&c, "/dev/dsa/wq0.0", 0) == 0);
	memset(src, 0x5c, sizeof(src));
	m[0] = 1; /* page 0 resident, pages 1.. not */
	desc_memmove(&d, cr, m, src, 8192, 0);
	CHECK_EQ(run_one(&c, &d, cr), DSA_COMP_PAGE_FAULT_NOBOF | DSA_COMP_STATUS_WRITE);
	CHECK_EQ(cr->bytes_completed, 4096);
	CHECK_EQ(cr->fault_addr, (uintptr_t)m + 4096);
	/* the client touches the page (a write that does not change data) and
	 * resubmits; volatile: clang turns an atomic add of 0 into a load,
	 * which maps the zero page, not a page of its own */
	*(volatile unsigned char *)&m[4096] = *(volatile unsigned char *)&m[4096];
	desc_memmove(&d, cr, m + 4096, src + 4096, 4096, 0);
	CHECK_EQ(run_one(&c, &d, cr), DSA_COMP_SUCCESS);
	CHECK(m[8191] == 0x5c && m[4095] == 0x5c);
out:
	client_close(&c);
	dsa_emu_stop(emu);
	if (m != MAP_FAILED)
		munmap(m, 4 * 4096);
	free(cr);
}

static void
test_other_faults(int fifo)
{
	struct dsa_emu_config cfg = { .fifo = fifo };
	struct dsa_emu *emu = dsa_emu_start(&cfg);
	struct client c = { .fd = -1 };
	unsigned char src[4096], dst[4096];
	struct dsa_completion_record *recs = alloc_records(17);
	struct dsa_hw_desc *list = aligned_alloc(64, 4 * 64);
	struct dsa_hw_desc d __attribute__((aligned(64)));
	struct dsa_emu_stats st;
	REQUIRE(emu && recs && list);
	REQUIRE(client_open(&c, "/dev/dsa/wq0.0", fifo) == 0);
	memset(src, 1, sizeof(src));
	struct dsa_completion_record *cr = recs;

	REQUIRE(dsa_emu_inject(emu, &(struct dsa_emu_fault){ .kind = DSA_EMU_FAULT_XFER_SIZE }) == 0);
	desc_memmove(&d, cr, dst, src, 4096, 0);
	CHECK_EQ(run_one(&c, &d, cr), DSA_COMP_XFER_ERANGE);
	REQUIRE(dsa_emu_inject(emu, &(struct dsa_emu_fault){ .kind = DSA_EMU_FAULT_INVALID_FLAGS,
							       .invalid_flags = 0x100 }) == 0);
	CHECK_EQ(run_one(&c, &d, cr), DSA_COMP_INVALID_FLAGS);
	CHECK_EQ(cr->invalid_flags, 0x100);
	REQUIRE(dsa_emu_inject(emu, &(struct dsa_emu_fault){ .kind = DSA_EMU_FAULT_INVALID_FLAGS })
		== 0);
	CHECK_EQ(run_one(&c, &d, cr), DSA_COMP_INVALID_FLAGS);
	CHECK_EQ(cr->invalid_flags, FLAGS_STD);
	REQUIRE(dsa_emu_inject(emu, &(struct dsa_emu_fault){ .kind = DSA_EMU_FAULT_STATUS,
							       .status = DSA_COMP_HW_ERR1,
							       .bytes_done = 12,
							       .fault_addr = 0x1000 }) == 0);
	CHECK_EQ(run_one(&c, &d, cr), DSA_COMP_HW_ERR1);
	CHECK_EQ(cr->bytes_completed, 12);
	CHECK_EQ(cr->fault_addr, 0x1000);
	CHECK_EQ(run_one(&c, &d, cr), DSA_COMP_SUCCESS);

	/* device stops answering: consumed, never completed */
	dsa_emu_reset_stats(emu);
	REQUIRE(dsa_emu_inject(emu, &(struct dsa_emu_fault){ .kind = DSA_EMU_FAULT_NO_COMPLETION,
							       .count = 2 }) == 0);
	reset_record(REC(recs, 1));
	reset_record(REC(recs, 2));
	desc_memmove(&d, REC(recs, 1), dst, src, 4096, 0);
	CHECK(client_submit(&c, &d) == 0);
	desc_simple(&d, REC(recs, 2), DSA_OPCODE_NOOP, FLAGS_STD);
	CHECK(client_submit(&c, &d) == 0);
	CHECK_EQ(dsa_emu_wait_processed(emu, 2, POLL_GUARD_MS), 0);
	CHECK_EQ(peek_status(REC(recs, 1)), 0);
	CHECK_EQ(peek_status(REC(recs, 2)), 0);
	dsa_emu_get_stats(emu, -1, &st);
	CHECK_EQ(st.swallowed, 2);
	CHECK_EQ(st.completed, 0);
	CHECK_EQ(st.faults_injected, 2);

	/* dropped at the portal */
	dsa_emu_reset_stats(emu);
	REQUIRE(dsa_emu_inject(emu, &(struct dsa_emu_fault){ .kind = DSA_EMU_FAULT_DROP }) == 0);
	reset_record(REC(recs, 3));
	desc_simple(&d, REC(recs, 3), DSA_OPCODE_NOOP, FLAGS_STD);
	CHECK(client_submit(&c, &d) == 0);
	CHECK_EQ(dsa_emu_wait_processed(emu, 1, POLL_GUARD_MS), 0);
	CHECK_EQ(peek_status(REC(recs, 3)), 0);
	CHECK_EQ(run_one(&c, &d, REC(recs, 3)), DSA_COMP_SUCCESS);
	dsa_emu_get_stats(emu, -1, &st);
	CHECK_EQ(st.dropped, 1);
	CHECK_EQ(st.completed, 1);

	/*
	 * delay: no record before the delay has passed. The emulator reads
	 * the same monotonic clock: accepted after t0, written at or after
	 * acceptance + delay, seen before t1, so t1 - t0 >= delay however
	 * coarse the clock or slow the scheduling.
	 */
	REQUIRE(dsa_emu_inject(emu, &(struct dsa_emu_fault){ .kind = DSA_EMU_FAULT_DELAY,
							       .delay_us = 100000 }) == 0);
	reset_record(REC(recs, 4));
	desc_simple(&d, REC(recs, 4), DSA_OPCODE_NOOP, FLAGS_STD);
	uint64_t t0 = mono_ns();
	CHECK(client_submit(&c, &d) == 0);
	CHECK_EQ(poll_status(REC(recs, 4), POLL_GUARD_MS), DSA_COMP_SUCCESS);
	CHECK(mono_ns() - t0 >= 100000ULL * 1000);
	dsa_emu_set_delay(emu, -1, 30000);
	reset_record(REC(recs, 4));
	t0 = mono_ns();
	CHECK(client_submit(&c, &d) == 0);
	CHECK_EQ(poll_status(REC(recs, 4), POLL_GUARD_MS), DSA_COMP_SUCCESS);
	CHECK(mono_ns() - t0 >= 30000ULL * 1000);
	dsa_emu_set_delay(emu, -1, 0);

	/* batch list page fault (not via write() on DSA 1.0) */
	if (!fifo) {
		for (int i = 0; i < 4; i++) {
			desc_simple(&list[i], REC(recs, 5 + i), DSA_OPCODE_NOOP, FLAGS_STD);
			reset_record(REC(recs, 5 + i));
		}
		REQUIRE(dsa_emu_inject(emu, &(struct dsa_emu_fault){ .kind = DSA_EMU_FAULT_BATCH_LIST,
								       .bytes_done = 2 }) == 0);
		memset(&d, 0, sizeof(d));
		d.opcode = DSA_OPCODE_BATCH;
		d.flags = FLAGS_STD;
		d.completion_addr = (uintptr_t)REC(recs, 16);
		d.desc_list_addr = (uintptr_t)list;
		d.desc_count = 4;
		CHECK_EQ(run_one(&c, &d, REC(recs, 16)), DSA_COMP_BATCH_PAGE_FAULT);
		CHECK_EQ(REC(recs, 16)->bytes_completed, 2);
		CHECK_EQ(REC(recs, 16)->fault_addr, ((uintptr_t)&list[2]) & ~4095UL);
		CHECK_EQ(peek_status(REC(recs, 6)), DSA_COMP_SUCCESS);
		CHECK_EQ(peek_status(REC(recs, 7)), 0);
		/* a page fault inside a member */
		for (int i = 0; i < 4; i++)
			reset_record(REC(recs, 5 + i));
		desc_memmove(&list[1], REC(recs, 6), dst, src, 4096, 0);
		REQUIRE(dsa_emu_inject(emu, &(struct dsa_emu_fault){ .kind = DSA_EMU_FAULT_PAGE_WRITE,
								       .exact = 1, .bytes_done = 10 }) == 0);
		CHECK_EQ(run_one(&c, &d, REC(recs, 16)), DSA_COMP_BATCH_FAIL);
		CHECK_EQ(REC(recs, 16)->bytes_completed, 3);
		CHECK_EQ(peek_status(REC(recs, 6)), DSA_COMP_PAGE_FAULT_NOBOF | DSA_COMP_STATUS_WRITE);
		CHECK_EQ(REC(recs, 6)->bytes_completed, 10);
	}
out:
	client_close(&c);
	dsa_emu_stop(emu);
	free(recs);
	free(list);
}

static void
test_queue_full(void)
{
	struct dsa_emu_config cfg = { .wq_size = 8 };
	struct dsa_emu *emu = dsa_emu_start(&cfg);
	struct client c = { .fd = -1 };
	struct dsa_completion_record *recs = alloc_records(64);
	struct dsa_hw_desc d __attribute__((aligned(64)));
	struct dsa_emu_stats st;
	REQUIRE(emu && recs);
	REQUIRE(client_open(&c, "/dev/dsa/wq0.0", 0) == 0);

	/* deterministic: paused WQ */
	dsa_emu_pause(emu, -1, 1);
	for (int i = 0; i < 12; i++) {
		desc_simple(&d, REC(recs, i), DSA_OPCODE_NOOP, FLAGS_STD);
		reset_record(REC(recs, i));
		CHECK(client_submit(&c, &d) == 0);
	}
	CHECK_EQ(dsa_emu_wait_processed(emu, 4, POLL_GUARD_MS), 0);
	dsa_emu_get_stats(emu, 0, &st);
	CHECK_EQ(st.dropped, 4);
	CHECK_EQ(st.inflight, 8);
	CHECK_EQ(st.max_inflight, 8);
	CHECK_EQ(st.received, 12);
	usleep(10000);
	CHECK_EQ(peek_status(REC(recs, 0)), 0);
	dsa_emu_pause(emu, -1, 0);
	CHECK_EQ(dsa_emu_wait_processed(emu, 12, POLL_GUARD_MS), 0);
	int ok = 0, lost = 0;
	for (int i = 0; i < 12; i++) {
		uint8_t s = peek_status(REC(recs, i));
		ok += s == DSA_COMP_SUCCESS;
		lost += s == 0;
	}
	CHECK_EQ(ok, 8);
	CHECK_EQ(lost, 4);
	dsa_emu_get_stats(emu, 0, &st);
	CHECK_EQ(st.inflight, 0);

	/* with a processing delay, a burst larger than the WQ overflows it */
	dsa_emu_reset_stats(emu);
	dsa_emu_set_delay(emu, 0, 2000);
	for (int i = 0; i < 40; i++) {
		desc_simple(&d, REC(recs, i), DSA_OPCODE_NOOP, FLAGS_STD);
		reset_record(REC(recs, i));
		CHECK(client_submit(&c, &d) == 0);
	}
	CHECK_EQ(dsa_emu_wait_processed(emu, 40, POLL_GUARD_MS), 0);
	dsa_emu_get_stats(emu, 0, &st);
	CHECK_EQ(st.received, 40);
	CHECK_EQ(st.dropped + st.completed, 40);
	CHECK(st.dropped > 0);
	CHECK_EQ(st.max_inflight, 8);
	vlog("  burst of 40 into 8 slots, 2 ms each: %llu dropped\n", (unsigned long long)st.dropped);
out:
	client_close(&c);
	dsa_emu_stop(emu);
	free(recs);
}

/* many descriptors with a credit counter, several client threads on several WQs */
struct stress_arg {
	const char *path;
	int fifo;
	int fixed_offset;
	unsigned n;
	unsigned credits;
	unsigned seed;
	int ok;
	unsigned timeouts;
};

static void *
stress_thread(void *p)
{
	struct stress_arg *a = p;
	struct client c;
	const unsigned SZ = 2048;
	unsigned char *src = malloc((size_t)a->credits * SZ), *dst = malloc((size_t)a->credits * SZ);
	struct dsa_completion_record *recs = alloc_records(a->credits);
	struct dsa_hw_desc d __attribute__((aligned(64)));
	unsigned *pending = calloc(a->credits, sizeof(unsigned));
	a->ok = 0;
	if (!src || !dst || !recs || !pending || client_open(&c, a->path, a->fifo))
		goto out;
	c.fixed_offset = a->fixed_offset;
	a->ok = 1;
	unsigned submitted = 0, completed = 0;
	/* slot i is in flight when pending[i] != 0 */
	while (completed < a->n) {
		for (unsigned i = 0; i < a->credits; i++) {
			if (pending[i]) {
				uint8_t s = peek_status(REC(recs, i));
				if (!s)
					continue;
				if (s != DSA_COMP_SUCCESS ||
				    memcmp(dst + (size_t)i * SZ, src + (size_t)i * SZ, SZ) != 0)
					a->ok = 0;
				pending[i] = 0;
				completed++;
			}
			if (submitted < a->n) {
				fill_random(src + (size_t)i * SZ, SZ, a->seed + submitted);
				desc_memmove(&d, REC(recs, i), dst + (size_t)i * SZ, src + (size_t)i * SZ,
					     SZ, 0);
				reset_record(REC(recs, i));
				if (client_submit(&c, &d)) {
					a->ok = 0;
					goto out_close;
				}
				pending[i] = 1;
				submitted++;
			}
		}
		/* descriptors that never complete (offset-0 overwrite) */
		static __thread unsigned idle;
		if (completed < submitted && ++idle > 2000000) {
			a->timeouts = submitted - completed;
			break;
		}
		sched_yield();
	}
out_close:
	client_close(&c);
out:
	free(src);
	free(dst);
	free(recs);
	free(pending);
	return NULL;
}

static void
test_stress(void)
{
	struct dsa_emu_wq_config wqc[3] = { [2] = { .fifo = 1 } };
	struct dsa_emu_config cfg = { .nwqs = 3, .wqs = wqc };
	struct dsa_emu *emu = dsa_emu_start(&cfg);
	struct stress_arg a[3] = {
		{ .path = "/dev/dsa/wq0.0", .n = 3000, .credits = 32, .seed = 1 },
		{ .path = "/dev/dsa/wq0.1", .n = 3000, .credits = 16, .seed = 2 },
		{ .path = "/dev/dsa/wq0.2", .fifo = 1, .n = 3000, .credits = 32, .seed = 3 },
	};
	pthread_t t[3];
	struct dsa_emu_stats st;
	REQUIRE(emu);
	for (int i = 0; i < 3; i++)
		REQUIRE(pthread_create(&t[i], NULL, stress_thread, &a[i]) == 0);
	for (int i = 0; i < 3; i++) {
		pthread_join(t[i], NULL);
		CHECK(a[i].ok);
		CHECK_EQ(a[i].timeouts, 0);
	}
	dsa_emu_get_stats(emu, -1, &st);
	CHECK_EQ(st.received, 9000);
	CHECK_EQ(st.completed, 9000);
	CHECK_EQ(st.dropped, 0);
	CHECK_EQ(st.errors, 0);
	dsa_emu_get_stats(emu, 1, &st);
	CHECK(st.max_inflight <= 16);
out:
	dsa_emu_stop(emu);
}

/* ------------------------------------------------------------------ */
/* the portal without client requirements, read-only pages, other processes */

/*
 * Descriptors at any portal offset, the same offset again and again (one at
 * a time), and without completion_addr are all seen.
 */
static void
test_portal_any_offset(void)
{
	struct dsa_emu_config cfg = { 0 };
	struct dsa_emu *emu = dsa_emu_start(&cfg);
	struct client c = { .fd = -1 };
	struct dsa_completion_record *recs = alloc_records(4);
	struct dsa_hw_desc d __attribute__((aligned(64)));
	struct dsa_emu_stats st;
	REQUIRE(emu && recs);
	REQUIRE(client_open(&c, "/dev/dsa/wq0.0", 0) == 0);
	c.fixed_offset = 1;
	static const unsigned offs[] = { 0, 0, 0, 17 * 64, 17 * 64, 4032, 64 };
	for (unsigned i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		c.off = offs[i];
		desc_simple(&d, recs, DSA_OPCODE_NOOP, FLAGS_STD);
		CHECK_EQ(run_one(&c, &d, recs), DSA_COMP_SUCCESS);
	}
	/* no completion record asked for: still a descriptor (executed, no record) */
	dsa_emu_reset_stats(emu);
	c.off = 128;
	desc_simple(&d, NULL, DSA_OPCODE_NOOP, 0);
	d.pattern = 1; /* any non-zero byte */
	reset_record(recs);
	CHECK(client_submit(&c, &d) == 0);
	CHECK_EQ(dsa_emu_wait_processed(emu, 1, POLL_GUARD_MS), 0);
	dsa_emu_get_stats(emu, -1, &st);
	CHECK_EQ(st.received, 1);
	CHECK_EQ(st.lost, 0);
out:
	client_close(&c);
	free(recs);
	dsa_emu_stop(emu);
}

/* Two descriptors made while the emulator's intake is held (stand-in
 * stores in progress), the second at the offset its scan starts from: a
 * device takes them in the order they were made, so two fills of one
 * buffer leave the second's byte. `first` is the offset after the one
 * taken last (the scan's start), so `first - 64` gets the first fill. */
static void
portal_order_pair(struct dsa_emu *emu, struct client *c, struct dsa_completion_record *recs,
		  unsigned char *buf, unsigned first)
{
	struct dsa_hw_desc a __attribute__((aligned(64))), b __attribute__((aligned(64)));
	struct dsa_emu_stats st;
	char *pa = (char *)c->portal + (first + 4096 - 64) % 4096;
	char *pb = (char *)c->portal + first;

	vlog("  descriptors at offsets %u and %u\n", (unsigned)(pa - (char *)c->portal), first);
	/* one taken just before `first`: the scan starts there */
	c->off = (first + 4096 - 64) % 4096;
	desc_simple(&a, REC(recs, 0), DSA_OPCODE_NOOP, FLAGS_STD);
	CHECK_EQ(run_one(c, &a, REC(recs, 0)), DSA_COMP_SUCCESS);
	memset(buf, 0, 64);
	desc_fill(&a, REC(recs, 1), buf, 0xaaaaaaaaaaaaaaaaULL, 64, 0);
	desc_fill(&b, REC(recs, 2), buf, 0xbbbbbbbbbbbbbbbbULL, 64, 0);
	reset_record(REC(recs, 1));
	reset_record(REC(recs, 2));
	dsa_emu_reset_stats(emu);
	dsa_emu_portal_store_begin(pa, &a, 8);
	dsa_emu_portal_store_begin(pb, &b, 8);
	/* a scan has met them held, so the next one starts afresh at `first` */
	uint64_t t0 = mono_ns();
	do {
		usleep(1000);
		dsa_emu_get_stats(emu, -1, &st);
	} while (st.portal_waits < 1 && mono_ns() - t0 < POLL_GUARD_MS * 1000000ULL);
	CHECK(st.portal_waits >= 1);
	CHECK_EQ(st.received, 0);
	dsa_emu_portal_store_end(pa, &a, 8);
	dsa_emu_portal_store_end(pb, &b, 8);
	CHECK_EQ(poll_status(REC(recs, 1), POLL_GUARD_MS), DSA_COMP_SUCCESS);
	CHECK_EQ(poll_status(REC(recs, 2), POLL_GUARD_MS), DSA_COMP_SUCCESS);
	CHECK_EQ(buf[0], 0xbb);
	CHECK_EQ(buf[63], 0xbb);
	dsa_emu_get_stats(emu, -1, &st);
	CHECK_EQ(st.received, 2);
	CHECK_EQ(st.lost, 0);
}

static void
test_portal_order(void)
{
	struct dsa_emu *emu = dsa_emu_start(NULL);
	struct client c = { .fd = -1 };
	struct dsa_completion_record *recs = alloc_records(3);
	unsigned char *buf = aligned_alloc(64, 64);
	REQUIRE(emu && recs && buf);
	REQUIRE(client_open(&c, "/dev/dsa/wq0.0", 0) == 0);
	c.fixed_offset = 1;
	portal_order_pair(emu, &c, recs, buf, 192); /* offsets 128, 192 */
	portal_order_pair(emu, &c, recs, buf, 0);   /* 4032, then 0 */
	portal_order_pair(emu, &c, recs, buf, 2048);
out:
	client_close(&c);
	free(recs);
	free(buf);
	dsa_emu_stop(emu);
}

/* a write into a present read-only page is a write fault, not a crash;
 * so is a read of a PROT_NONE page */
static void
test_readonly_write_fault(void)
{
	struct dsa_emu_config cfg = { 0 };
	struct dsa_emu *emu = dsa_emu_start(&cfg);
	struct client c = { .fd = -1 };
	struct dsa_completion_record *cr = alloc_records(1);
	struct dsa_hw_desc d __attribute__((aligned(64)));
	unsigned char *src = aligned_alloc(4096, 8192);
	unsigned char *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	REQUIRE(emu && cr && src && m != MAP_FAILED);
	REQUIRE(client_open(&c, "/dev/dsa/wq0.0", 0) == 0);
	fill_random(src, 8192, 3);
	memset(m, 0, 8192);
	REQUIRE(mprotect(m + 4096, 4096, PROT_READ) == 0);
	desc_memmove(&d, cr, m, src, 8192, 0);
	CHECK_EQ(run_one(&c, &d, cr), DSA_COMP_PAGE_FAULT_NOBOF | DSA_COMP_STATUS_WRITE);
	CHECK_EQ(cr->bytes_completed, 4096);
	CHECK_EQ(cr->fault_addr, (uintptr_t)m + 4096);
	CHECK(memcmp(m, src, 4096) == 0);
	desc_fill(&d, cr, m + 4000, 0x0101010101010101ULL, 200, 0);
	CHECK_EQ(run_one(&c, &d, cr), DSA_COMP_PAGE_FAULT_NOBOF | DSA_COMP_STATUS_WRITE);
	CHECK_EQ(cr->bytes_completed, 96);
	CHECK_EQ(cr->fault_addr, (uintptr_t)m + 4096);
	/* the read side of a read-only page is fine */
	desc_memmove(&d, cr, src, m + 4096, 4096, 0);
	CHECK_EQ(run_one(&c, &d, cr), DSA_COMP_SUCCESS);
	/* a PROT_NONE (guard) page faults on either side, read side too */
	REQUIRE(mprotect(m + 4096, 4096, PROT_NONE) == 0);
	desc_memmove(&d, cr, src, m + 2048, 4096, 0);
	CHECK_EQ(run_one(&c, &d, cr), DSA_COMP_PAGE_FAULT_NOBOF);
	CHECK_EQ(cr->bytes_completed, 2048);
	CHECK_EQ(cr->fault_addr, (uintptr_t)m + 4096);
	desc_memmove(&d, cr, m + 2048, src, 4096, 0);
	CHECK_EQ(run_one(&c, &d, cr), DSA_COMP_PAGE_FAULT_NOBOF | DSA_COMP_STATUS_WRITE);
	CHECK_EQ(cr->bytes_completed, 2048);
out:
	client_close(&c);
	free(cr);
	free(src);
	if (m != MAP_FAILED)
		munmap(m, 8192);
	dsa_emu_stop(emu);
}

/*
 * fault_nonresident: a page shared copy-on-write with a child (present,
 * read-only in the page table) faults on a write until the client touches it
 */
static void
test_cow_write_fault(void)
{
	struct dsa_emu_config cfg = { .fault_nonresident = 1 };
	struct dsa_emu *emu = NULL;
	struct client c = { .fd = -1 };
	struct dsa_completion_record *cr = NULL;
	struct dsa_hw_desc d __attribute__((aligned(64)));
	unsigned char *src = NULL;
	int go[2] = { -1, -1 };
	pid_t pid = -1;
	unsigned char *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	REQUIRE(m != MAP_FAILED && pipe(go) == 0);
	m[4096] = 1; /* page 1 is shared with the child from now on */
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		char ch;
		close(go[1]);
		_exit(read(go[0], &ch, 1) < 0);
	}
	m[0] = 1; /* page 0: our own */
	emu = dsa_emu_start(&cfg);
	cr = alloc_records(1);
	src = aligned_alloc(4096, 8192);
	REQUIRE(emu && cr && src);
	REQUIRE(client_open(&c, "/dev/dsa/wq0.0", 0) == 0);
	fill_random(src, 8192, 5);
	desc_memmove(&d, cr, m, src, 8192, 0);
	CHECK_EQ(run_one(&c, &d, cr), DSA_COMP_PAGE_FAULT_NOBOF | DSA_COMP_STATUS_WRITE);
	CHECK_EQ(cr->bytes_completed, 4096);
	CHECK_EQ(cr->fault_addr, (uintptr_t)m + 4096);
	/*
	 * as a client resolves it: write-touch the page, resubmit the rest
	 * (not an atomic add of 0: clang turns that into a fenced load)
	 */
	{
		volatile unsigned char *t = m + 4096;
		*t = *t;
	}
	desc_memmove(&d, cr, m + 4096, src + 4096, 4096, 0);
	CHECK_EQ(run_one(&c, &d, cr), DSA_COMP_SUCCESS);
	CHECK(memcmp(m, src, 8192) == 0);
out:
	client_close(&c);
	free(cr);
	free(src);
	dsa_emu_stop(emu);
	if (go[1] >= 0)
		close(go[1]);
	if (go[0] >= 0)
		close(go[0]);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	if (m != MAP_FAILED)
		munmap(m, 8192);
}

/* pages of the region the child sets up (test_other_process) */
enum { RP_SRC = 0, RP_DST = 2, RP_RO = 4, RP_HOLE = 5, RP_COW = 6, RP_UNTOUCHED = 7,
       RP_REC = 8, RP_LIST = 9, RP_N = 10 };

static int
rread(pid_t pid, uint64_t a, void *buf, size_t n)
{
	struct iovec l = { buf, n }, r = { (void *)(uintptr_t)a, n };
	return process_vm_readv(pid, &l, 1, &r, 1, 0) == (ssize_t)n ? 0 : -1;
}

static int
rwrite(pid_t pid, uint64_t a, const void *buf, size_t n)
{
	struct iovec l = { (void *)(uintptr_t)buf, n }, r = { (void *)(uintptr_t)a, n };
	return process_vm_writev(pid, &l, 1, &r, 1, 0) == (ssize_t)n ? 0 : -1;
}

/* submit d, whose completion record is at ca in pid; wait; read the record */
static uint8_t
run_remote(struct client *c, pid_t pid, struct dsa_hw_desc *d, uint64_t ca,
	   struct dsa_completion_record *out)
{
	struct dsa_completion_record z;
	memset(&z, 0, sizeof(z));
	memset(out, 0, sizeof(*out));
	if (rwrite(pid, ca, &z, sizeof(z)) || client_submit(c, d))
		return 0;
	for (int i = 0; i < 5000; i++) {
		if (rread(pid, ca, out, sizeof(*out)))
			return 0;
		if (out->status)
			return out->status;
		usleep(1000);
	}
	return 0;
}

/*
 * Descriptors addressing another process' memory (dsa_emu_set_pid): data
 * moves there and not here; unmapped, read-only, copy-on-write and (with
 * fault_nonresident) never-touched pages fault as on the device.
 */
static void
test_other_process(void)
{
	struct dsa_emu_config cfg = { .fault_nonresident = 1 };
	struct dsa_emu *emu = NULL;
	struct client c = { .fd = -1 };
	struct dsa_hw_desc d __attribute__((aligned(64)));
	struct dsa_completion_record r;
	const size_t P = 4096;
	int go[2] = { -1, -1 }, ready[2] = { -1, -1 };
	pid_t pid = -1;
	unsigned char *m = mmap(NULL, RP_N * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
				-1, 0);
	unsigned char *buf = malloc(2 * P);
	REQUIRE(m != MAP_FAILED && buf);
	uint64_t a = (uintptr_t)m;
#define RPA(p) (a + (uint64_t)(p) * P)
	fill_random(m + RP_SRC * P, 2 * P, 11);
	m[RP_COW * P] = 1; /* present, shared with the child after fork */
	m[RP_RO * P] = 1;
	REQUIRE(pipe(go) == 0 && pipe(ready) == 0);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		/* the child: own its dst / records / list pages, read-only and
		 * unmapped pages, then wait to be told to exit */
		char ch = 0;
		close(go[1]);
		memset(m + RP_DST * P, 0, 2 * P);
		memset(m + RP_REC * P, 0, 2 * P);
		mprotect(m + RP_RO * P, P, PROT_READ);
		munmap(m + RP_HOLE * P, P);
		free(buf); /* valgrind checks the child's leaks too */
		if (write(ready[1], &ch, 1) != 1 || read(go[0], &ch, 1) < 0)
			_exit(1);
		_exit(0);
	}
	char ch;
	REQUIRE(read(ready[0], &ch, 1) == 1);
	emu = dsa_emu_start(&cfg);
	REQUIRE(emu);
	REQUIRE(dsa_emu_set_pid(emu, pid) == 0);
	REQUIRE(client_open(&c, "/dev/dsa/wq0.0", 0) == 0);
	uint64_t ca = RPA(RP_REC);

	/* memmove in the child: its dst gets the data, ours stays zero */
	memset(&d, 0, sizeof(d));
	d.opcode = DSA_OPCODE_MEMMOVE;
	d.flags = FLAGS_STD;
	d.completion_addr = ca;
	d.src_addr = RPA(RP_SRC);
	d.dst_addr = RPA(RP_DST);
	d.xfer_size = (uint32_t)(2 * P);
	CHECK_EQ(run_remote(&c, pid, &d, ca, &r), DSA_COMP_SUCCESS);
	CHECK(rread(pid, RPA(RP_DST), buf, 2 * P) == 0 && memcmp(buf, m + RP_SRC * P, 2 * P) == 0);
	CHECK_EQ(m[RP_DST * P], 0);
	CHECK_EQ(m[RP_DST * P + 2 * P - 1], 0);

	/* write into read-only, then unmapped: write fault at the read-only page */
	d.dst_addr = RPA(RP_RO);
	CHECK_EQ(run_remote(&c, pid, &d, ca, &r), DSA_COMP_PAGE_FAULT_NOBOF | DSA_COMP_STATUS_WRITE);
	CHECK_EQ(r.bytes_completed, 0);
	CHECK_EQ(r.fault_addr, RPA(RP_RO));
	/* read from the read-only page (fine), then the hole: read fault */
	d.src_addr = RPA(RP_RO);
	d.dst_addr = RPA(RP_DST);
	CHECK_EQ(run_remote(&c, pid, &d, ca, &r), DSA_COMP_PAGE_FAULT_NOBOF);
	CHECK_EQ(r.bytes_completed, P);
	CHECK_EQ(r.fault_addr, RPA(RP_HOLE));
	/* fill across dst into read-only: done up to the page */
	memset(&d, 0, sizeof(d));
	d.opcode = DSA_OPCODE_MEMFILL;
	d.flags = FLAGS_STD;
	d.completion_addr = ca;
	d.pattern = 0x0706050403020100ULL;
	d.dst_addr = RPA(RP_DST + 1) + 8;
	d.xfer_size = (uint32_t)(2 * P);
	CHECK_EQ(run_remote(&c, pid, &d, ca, &r), DSA_COMP_PAGE_FAULT_NOBOF | DSA_COMP_STATUS_WRITE);
	CHECK_EQ(r.bytes_completed, P - 8);
	CHECK_EQ(r.fault_addr, RPA(RP_RO));
	CHECK(rread(pid, RPA(RP_DST + 1) + 8, buf, 16) == 0 && buf[0] == 0 && buf[9] == 1 &&
	      buf[15] == 7);
	/* copy-on-write page shared with us: present, but a write faults */
	d.dst_addr = RPA(RP_COW);
	d.xfer_size = 64;
	CHECK_EQ(run_remote(&c, pid, &d, ca, &r), DSA_COMP_PAGE_FAULT_NOBOF | DSA_COMP_STATUS_WRITE);
	CHECK_EQ(r.fault_addr, RPA(RP_COW));
	/* ... and reading it does not */
	memset(&d, 0, sizeof(d));
	d.opcode = DSA_OPCODE_MEMMOVE;
	d.flags = FLAGS_STD;
	d.completion_addr = ca;
	d.src_addr = RPA(RP_COW);
	d.dst_addr = RPA(RP_DST);
	d.xfer_size = 64;
	CHECK_EQ(run_remote(&c, pid, &d, ca, &r), DSA_COMP_SUCCESS);
	/* never touched: not present, a read fault (fault_nonresident) */
	d.src_addr = RPA(RP_UNTOUCHED);
	CHECK_EQ(run_remote(&c, pid, &d, ca, &r), DSA_COMP_PAGE_FAULT_NOBOF);
	CHECK_EQ(r.fault_addr, RPA(RP_UNTOUCHED));

	/* a batch whose list and records are in the child */
	{
		struct dsa_hw_desc list[2];
		memset(list, 0, sizeof(list));
		for (int i = 0; i < 2; i++) {
			list[i].opcode = DSA_OPCODE_MEMFILL;
			list[i].flags = FLAGS_STD;
			list[i].completion_addr = ca + 64 + 32 * (uint64_t)i;
			list[i].dst_addr = RPA(RP_DST) + P * (uint64_t)i;
			list[i].xfer_size = (uint32_t)P;
		}
		list[0].pattern = 0x1111111111111111ULL;
		list[1].pattern = 0x2222222222222222ULL;
		REQUIRE(rwrite(pid, RPA(RP_LIST), list, sizeof(list)) == 0);
		struct dsa_completion_record z[2];
		memset(z, 0, sizeof(z));
		REQUIRE(rwrite(pid, ca + 64, z, sizeof(z)) == 0);
		memset(&d, 0, sizeof(d));
		d.opcode = DSA_OPCODE_BATCH;
		d.flags = FLAGS_STD;
		d.completion_addr = ca;
		d.desc_list_addr = RPA(RP_LIST);
		d.desc_count = 2;
		CHECK_EQ(run_remote(&c, pid, &d, ca, &r), DSA_COMP_SUCCESS);
		CHECK(rread(pid, ca + 64, z, sizeof(z)) == 0 && z[0].status == DSA_COMP_SUCCESS &&
		      z[1].status == DSA_COMP_SUCCESS);
		CHECK(rread(pid, RPA(RP_DST), buf, 2 * P) == 0 && buf[0] == 0x11 &&
		      buf[P - 1] == 0x11 && buf[P] == 0x22 && buf[2 * P - 1] == 0x22);
	}
	/* a process that is gone */
	CHECK(dsa_emu_set_pid(emu, -5) == -1);
out:
	client_close(&c);
	dsa_emu_stop(emu);
	if (pid > 0) {
		int st = 0;
		if (go[1] >= 0)
			close(go[1]);
		go[1] = -1;
		waitpid(pid, &st, 0);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	for (int i = 0; i < 2; i++) {
		if (go[i] >= 0)
			close(go[i]);
		if (ready[i] >= 0)
			close(ready[i]);
	}
	free(buf);
	if (m != MAP_FAILED)
		munmap(m, RP_N * P);
#undef RPA
}

/*
 * trap_portal: the portal file is empty, dsa_emu_portal_write() is each
 * MOVDIR64B / ENQCMD: posted writes, ENQCMD retry on a full shared WQ and on
 * a dedicated WQ, MOVDIR64B to a shared WQ discarded.
 */
static void
test_trap_portal(void)
{
	struct dsa_emu_wq_config wqs[2] = { { .shared = -1 }, { .shared = 1, .wq_size = 2 } };
	struct dsa_emu_config cfg = { .trap_portal = 1, .nwqs = 2, .wqs = wqs };
	struct dsa_emu *emu = dsa_emu_start(&cfg);
	struct dsa_completion_record *recs = alloc_records(8);
	struct dsa_hw_desc d __attribute__((aligned(64)));
	struct dsa_emu_stats st;
	struct stat sb;
	REQUIRE(emu && recs);
	CHECK(stat("/dev/dsa/wq0.0", &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size == 0);
	/* dedicated: posted */
	for (int i = 0; i < 3; i++) {
		desc_simple(&d, REC(recs, i), DSA_OPCODE_NOOP, FLAGS_STD);
		reset_record(REC(recs, i));
		CHECK_EQ(dsa_emu_portal_write(emu, 0, &d, 0), 0);
	}
	for (int i = 0; i < 3; i++)
		CHECK_EQ(poll_status(REC(recs, i), POLL_GUARD_MS), DSA_COMP_SUCCESS);
	/* ENQCMD to a dedicated WQ: retry, nothing queued */
	CHECK_EQ(dsa_emu_portal_write(emu, 0, &d, 1), 1);
	/* shared, size 2, paused: 2 accepted, the 3rd retries */
	dsa_emu_pause(emu, 1, 1);
	for (int i = 0; i < 3; i++) {
		desc_simple(&d, REC(recs, 3 + i), DSA_OPCODE_NOOP, FLAGS_STD);
		reset_record(REC(recs, 3 + i));
		CHECK_EQ(dsa_emu_portal_write(emu, 1, &d, 1), i < 2 ? 0 : 1);
	}
	/* MOVDIR64B to a shared WQ: discarded */
	desc_simple(&d, REC(recs, 6), DSA_OPCODE_NOOP, FLAGS_STD);
	reset_record(REC(recs, 6));
	CHECK_EQ(dsa_emu_portal_write(emu, 1, &d, 0), 0);
	dsa_emu_pause(emu, 1, 0);
	CHECK_EQ(poll_status(REC(recs, 3), POLL_GUARD_MS), DSA_COMP_SUCCESS);
	CHECK_EQ(poll_status(REC(recs, 4), POLL_GUARD_MS), DSA_COMP_SUCCESS);
	CHECK_EQ(dsa_emu_wait_processed(emu, 6, POLL_GUARD_MS), 0);
	CHECK_EQ(peek_status(REC(recs, 5)), 0);
	CHECK_EQ(peek_status(REC(recs, 6)), 0);
	dsa_emu_get_stats(emu, 1, &st);
	CHECK_EQ(st.received, 3);
	CHECK_EQ(st.rejected, 1);
	CHECK_EQ(st.enqcmd_retries, 1);
	dsa_emu_get_stats(emu, 0, &st);
	CHECK_EQ(st.enqcmd_retries, 1);
	/* room again: accepted */
	CHECK_EQ(dsa_emu_portal_write(emu, 1, &d, 1), 0);
	CHECK_EQ(poll_status(REC(recs, 6), POLL_GUARD_MS), DSA_COMP_SUCCESS);
	/* not a trap_portal emulator / bad WQ */
	CHECK_EQ(dsa_emu_portal_write(emu, 2, &d, 0), -1);
out:
	free(recs);
	dsa_emu_stop(emu);
}

static int
read_errors(unsigned long long v[4])
{
	FILE *f = fopen("/sys/bus/dsa/devices/dsa0/errors", "re");
	if (!f)
		return -1;
	int n = fscanf(f, "%llx %llx %llx %llx", &v[0], &v[1], &v[2], &v[3]);
	fclose(f);
	return n == 4 ? 0 : -1;
}

static int
read_str_file(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	int r = fgets(buf, (int)len, f) ? 0 : -1;
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return r;
}

/* several engines: a slow descriptor does not hold back later ones */
static void
test_engines_out_of_order(void)
{
	struct dsa_emu_config cfg = { .engines = 4 };
	struct dsa_emu *emu = dsa_emu_start(&cfg);
	struct client c = { .fd = -1 };
	struct dsa_completion_record *recs = alloc_records(8);
	struct dsa_hw_desc d __attribute__((aligned(64)));
	REQUIRE(emu && recs);
	REQUIRE(client_open(&c, "/dev/dsa/wq0.0", 0) == 0);
	/* the first descriptor takes 300 ms more */
	struct dsa_emu_fault f = { .kind = DSA_EMU_FAULT_DELAY, .delay_us = 300000 };
	REQUIRE(dsa_emu_inject(emu, &f) == 0);
	dsa_emu_pause(emu, 0, 1);
	for (int i = 0; i < 4; i++) {
		desc_simple(&d, REC(recs, i), DSA_OPCODE_NOOP, FLAGS_STD);
		reset_record(REC(recs, i));
		CHECK(client_submit(&c, &d) == 0);
	}
	dsa_emu_pause(emu, 0, 0);
	CHECK_EQ(poll_status(REC(recs, 3), POLL_GUARD_MS), DSA_COMP_SUCCESS);
	CHECK_EQ(poll_status(REC(recs, 1), POLL_GUARD_MS), DSA_COMP_SUCCESS);
	CHECK_EQ(peek_status(REC(recs, 0)), 0); /* still on its engine */
	/* a drain waits for every engine */
	desc_simple(&d, REC(recs, 4), DSA_OPCODE_DRAIN, FLAGS_STD);
	reset_record(REC(recs, 4));
	CHECK(client_submit(&c, &d) == 0);
	CHECK_EQ(poll_status(REC(recs, 4), POLL_GUARD_MS), DSA_COMP_SUCCESS);
	CHECK_EQ(peek_status(REC(recs, 0)), DSA_COMP_SUCCESS);
out:
	client_close(&c);
	free(recs);
	dsa_emu_stop(emu);
}

/* DSA.md §2: a dedicated WQ admits one opener (EBUSY while its file is
 * open, also in a child that shares it), a shared WQ any number */
static void
test_dedicated_one_opener(void)
{
	struct dsa_emu_wq_config wqs[2] = { { .shared = -1, .fifo = 1 },
					    { .shared = 1 } };
	struct dsa_emu_config cfg = { .nwqs = 2, .wqs = wqs };
	struct dsa_emu *emu = dsa_emu_start(&cfg);
	int a = -1, b = -1, s1 = -1, s2 = -1;
	REQUIRE(emu);
	a = open("/dev/dsa/wq0.0", O_RDWR | O_CLOEXEC);
	CHECK(a >= 0);
	errno = 0;
	b = open("/dev/dsa/wq0.0", O_RDWR | O_CLOEXEC);
	CHECK(b < 0 && errno == EBUSY);
	/* a child shares the file: its close frees nothing */
	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		close(a);
		_exit(0);
	}
	int st;
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	errno = 0;
	b = open("/dev/dsa/wq0.0", O_RDWR | O_CLOEXEC);
	CHECK(b < 0 && errno == EBUSY);
	close(a);
	a = -1;
	b = open("/dev/dsa/wq0.0", O_RDWR | O_CLOEXEC);
	CHECK(b >= 0);
	s1 = open("/dev/dsa/wq0.1", O_RDWR | O_CLOEXEC);
	s2 = open("/dev/dsa/wq0.1", O_RDWR | O_CLOEXEC);
	CHECK(s1 >= 0 && s2 >= 0);
out:
	if (a >= 0)
		close(a);
	if (b >= 0)
		close(b);
	if (s1 >= 0)
		close(s1);
	if (s2 >= 0)
		close(s2);
	dsa_emu_stop(emu);
}

/* DSA.md §8: a descriptor's slot of a dedicated WQ is free once a later
 * one completed (it is on an engine), though it still runs: a WQ of 2
 * then takes 2 more, and drops the next. The slow one never ends here
 * (60 s; the emulator stops with it on its engine), so no outcome
 * depends on how fast the machine is. */
static void
test_engines_room(void)
{
	struct dsa_emu_config cfg = { .engines = 2, .wq_size = 2 };
	struct dsa_emu *emu = dsa_emu_start(&cfg);
	struct client c = { .fd = -1 };
	struct dsa_completion_record *recs = alloc_records(8);
	struct dsa_hw_desc d __attribute__((aligned(64)));
	struct dsa_emu_stats st;
	REQUIRE(emu && recs);
	REQUIRE(client_open(&c, "/dev/dsa/wq0.0", 0) == 0);
	struct dsa_emu_fault f = { .kind = DSA_EMU_FAULT_DELAY, .delay_us = 60000000 };
	REQUIRE(dsa_emu_inject(emu, &f) == 0);
	for (int i = 0; i < 2; i++) {
		desc_simple(&d, REC(recs, i), DSA_OPCODE_NOOP, FLAGS_STD);
		reset_record(REC(recs, i));
		CHECK(client_submit(&c, &d) == 0);
	}
	CHECK_EQ(poll_status(REC(recs, 1), POLL_GUARD_MS), DSA_COMP_SUCCESS);
	CHECK_EQ(peek_status(REC(recs, 0)), 0); /* on its engine, 60 s */
	dsa_emu_pause(emu, 0, 1); /* nothing more ends */
	for (int i = 2; i < 5; i++) {
		desc_simple(&d, REC(recs, i), DSA_OPCODE_NOOP, FLAGS_STD);
		reset_record(REC(recs, i));
		CHECK(client_submit(&c, &d) == 0);
	}
	st = wait_received(emu, 5);
	CHECK_EQ(st.received, 5);
	CHECK_EQ(st.dropped, 1); /* the fifth: 2 and 3 fill the WQ */
	CHECK_EQ(st.inflight, 3); /* the slow one still counts in flight */
	dsa_emu_pause(emu, 0, 0);
	CHECK_EQ(poll_status(REC(recs, 2), POLL_GUARD_MS), DSA_COMP_SUCCESS);
	CHECK_EQ(poll_status(REC(recs, 3), POLL_GUARD_MS), DSA_COMP_SUCCESS);
	CHECK_EQ(peek_status(REC(recs, 4)), 0);
	CHECK_EQ(peek_status(REC(recs, 0)), 0);
out:
	/* stopped first: a close would wait the 60 s (it drains) */
	dsa_emu_stop(emu);
	client_close(&c);
	free(recs);
}

/*
 * Software errors in sysfs "errors"; a disabled WQ drains what it holds and
 * drops the rest; a halted device completes nothing, a reset clears it.
 */
static void
test_device_errors(void)
{
	struct dsa_emu_config cfg = { .wq_size = 4 };
	struct dsa_emu *emu = dsa_emu_start(&cfg);
	struct client c = { .fd = -1 };
	struct dsa_completion_record *recs = alloc_records(16);
	struct dsa_hw_desc d __attribute__((aligned(64)));
	struct dsa_emu_stats st;
	unsigned long long e[4];
	char s[64];
	REQUIRE(emu && recs);
	REQUIRE(client_open(&c, "/dev/dsa/wq0.0", 0) == 0);
	CHECK(read_errors(e) == 0 && e[0] == 0);

	/* a full dedicated WQ drops a portal write: SWERR */
	dsa_emu_pause(emu, 0, 1);
	for (int i = 0; i < 5; i++) {
		desc_simple(&d, REC(recs, i), DSA_OPCODE_NOOP, FLAGS_STD);
		reset_record(REC(recs, i));
		CHECK(client_submit(&c, &d) == 0);
	}
	CHECK_EQ(dsa_emu_wait_processed(emu, 1, POLL_GUARD_MS), 0);
	CHECK(read_errors(e) == 0);
	CHECK_EQ(e[0] & 0xff, 1 | 4 | 8); /* valid, descriptor and WQ index valid */
	CHECK_EQ((e[0] >> 32) & 0xff, DSA_OPCODE_NOOP);
	CHECK_EQ((e[0] >> 16) & 0xff, 0);
	/* disable with 4 in the queue: they complete, new writes are dropped */
	CHECK_EQ(dsa_emu_wq_enable(emu, 0, 0), 0);
	CHECK(read_str_file("/sys/bus/dsa/devices/dsa0/wq0.0/state", s, sizeof(s)) == 0 &&
	      strcmp(s, "disabled") == 0);
	dsa_emu_pause(emu, 0, 0);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(poll_status(REC(recs, i), POLL_GUARD_MS), DSA_COMP_SUCCESS);
	desc_simple(&d, REC(recs, 5), DSA_OPCODE_NOOP, FLAGS_STD);
	reset_record(REC(recs, 5));
	CHECK(client_submit(&c, &d) == 0);
	CHECK_EQ(dsa_emu_wait_processed(emu, 6, POLL_GUARD_MS), 0);
	CHECK_EQ(peek_status(REC(recs, 5)), 0);
	CHECK(read_errors(e) == 0 && (e[0] & 3) == 3); /* a second error: overflow */
	dsa_emu_get_stats(emu, 0, &st);
	CHECK_EQ(st.dropped, 2);
	CHECK_EQ(st.swerrs, 2);
	CHECK_EQ(dsa_emu_wq_enable(emu, 0, 1), 0);

	/* halt with descriptors queued: they never complete */
	dsa_emu_reset_stats(emu);
	dsa_emu_pause(emu, 0, 1);
	for (int i = 0; i < 3; i++) {
		desc_simple(&d, REC(recs, 6 + i), DSA_OPCODE_NOOP, FLAGS_STD);
		reset_record(REC(recs, 6 + i));
		CHECK(client_submit(&c, &d) == 0);
	}
	wait_received(emu, 3); /* all taken from the portal */
	CHECK_EQ(dsa_emu_device_halt(emu, 0, 1), 0);
	CHECK(read_str_file("/sys/bus/dsa/devices/dsa0/state", s, sizeof(s)) == 0 &&
	      strcmp(s, "halted") == 0);
	CHECK_EQ(dsa_emu_wait_processed(emu, 3, POLL_GUARD_MS), 0);
	usleep(20000);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(peek_status(REC(recs, 6 + i)), 0);
	dsa_emu_get_stats(emu, 0, &st);
	CHECK_EQ(st.swallowed, 3);
	dsa_emu_pause(emu, 0, 0);
	/* reset: enabled, errors cleared, works again */
	CHECK_EQ(dsa_emu_device_halt(emu, 0, 0), 0);
	CHECK(read_errors(e) == 0 && e[0] == 0);
	desc_simple(&d, REC(recs, 9), DSA_OPCODE_NOOP, FLAGS_STD);
	CHECK_EQ(run_one(&c, &d, REC(recs, 9)), DSA_COMP_SUCCESS);
	/* a completion record the device cannot write: SWERR, nothing else */
	desc_simple(&d, NULL, DSA_OPCODE_NOOP, FLAGS_STD);
	d.completion_addr = 0x10; /* unmapped */
	reset_record(REC(recs, 10));
	CHECK(client_submit(&c, &d) == 0);
	CHECK_EQ(dsa_emu_wait_processed(emu, 5, POLL_GUARD_MS), 0);
	CHECK(read_errors(e) == 0 && (e[0] & 1) == 1);
	CHECK_EQ(dsa_emu_wq_enable(emu, 9, 0), -1);
	CHECK_EQ(dsa_emu_device_halt(emu, 3, 1), -1);
out:
	client_close(&c);
	free(recs);
	dsa_emu_stop(emu);
}

/*
 * A portal write to a halted device or a disabled WQ is dropped when it is
 * made, though the emulator's thread, busy with a long copy, reads the
 * page only after the reset / enable: the write must not run then (its
 * buffers and record may be gone: a mover deleted after the reset freed
 * them, and the emulator wrote into the freed memory). One made before a
 * disable runs, though read after it. The 1 ms sleep only makes the late
 * read likely (the checks hold either way).
 */
static void
test_reset_drops_late_writes(void)
{
	enum { BIG = 32 << 20 };
	struct dsa_emu_config cfg = { .wq_size = 4, .max_transfer_size = BIG };
	struct dsa_emu *emu = dsa_emu_start(&cfg);
	struct client c = { .fd = -1 };
	struct dsa_completion_record *recs = alloc_records(4);
	struct dsa_hw_desc d __attribute__((aligned(64)));
	struct dsa_emu_stats st;
	unsigned char *src = malloc(BIG), *dst = malloc(BIG), small[64];
	REQUIRE(emu && recs && src && dst);
	REQUIRE(client_open(&c, "/dev/dsa/wq0.0", 0) == 0);
	memset(src, 0x5a, BIG);
	for (int k = 0; k < 3; k++) {
		/* written to a halted device, to a disabled WQ (dropped), and
		 * before the WQ was disabled (it runs) */
		static const char *const what[] = { "halted device", "disabled WQ",
						    "written, then WQ disabled" };
		memset(small, 0, sizeof(small));
		dsa_emu_reset_stats(emu);
		desc_memmove(&d, REC(recs, 0), dst, src, BIG, 0);
		reset_record(REC(recs, 0));
		CHECK(client_submit(&c, &d) == 0);
		wait_received(emu, 1);
		usleep(1000); /* the copy is likely under way */
		if (k == 0)
			CHECK_EQ(dsa_emu_device_halt(emu, 0, 1), 0);
		else if (k == 1)
			CHECK_EQ(dsa_emu_wq_enable(emu, 0, 0), 0);
		desc_fill(&d, REC(recs, 1), small, 0x1111111111111111ull, sizeof(small), 0);
		reset_record(REC(recs, 1));
		CHECK(client_submit(&c, &d) == 0);
		if (k == 2)
			CHECK_EQ(dsa_emu_wq_enable(emu, 0, 0), 0);
		if (k == 0)
			CHECK_EQ(dsa_emu_device_halt(emu, 0, 0), 0);
		else
			CHECK_EQ(dsa_emu_wq_enable(emu, 0, 1), 0);
		CHECK_EQ(dsa_emu_wait_processed(emu, 2, POLL_GUARD_MS), 0);
		/* the guard for a record written late: the check below must
		 * see it if it comes */
		usleep(20000);
		vlog("%s: fill record %u, copy record %u\n", what[k],
		     peek_status(REC(recs, 1)), peek_status(REC(recs, 0)));
		dsa_emu_get_stats(emu, 0, &st);
		if (k < 2) {
			CHECK_EQ(peek_status(REC(recs, 1)), 0);
			CHECK_EQ(small[0], 0);
			CHECK_EQ(st.dropped, 1);
			CHECK_EQ(st.completed + st.swallowed, 1); /* the copy */
		} else {
			CHECK_EQ(peek_status(REC(recs, 1)), DSA_COMP_SUCCESS);
			CHECK_EQ(small[0], 0x11);
			CHECK_EQ(st.dropped, 0);
			CHECK_EQ(st.completed, 2);
		}
		if (k) /* a WQ disabled drains: the copy completes */
			CHECK_EQ(peek_status(REC(recs, 0)), DSA_COMP_SUCCESS);
		/* works again */
		desc_simple(&d, REC(recs, 2), DSA_OPCODE_NOOP, FLAGS_STD);
		CHECK_EQ(run_one(&c, &d, REC(recs, 2)), DSA_COMP_SUCCESS);
	}
out:
	client_close(&c);
	free(recs);
	free(src);
	free(dst);
	dsa_emu_stop(emu);
}

/*
 * close() of the WQ file drains it, as the kernel's release does: a
 * descriptor slowed down by 200 ms (one still in the portal too) has its
 * record written when close returns, whatever the timing.
 */
static void
test_close_drains(void)
{
	for (int fifo = 0; fifo < 2; fifo++) {
		struct dsa_emu_config cfg = { .wq_size = 4, .fifo = fifo };
		struct dsa_emu *emu = dsa_emu_start(&cfg);
		struct client c = { .fd = -1 };
		struct dsa_completion_record *recs = alloc_records(2);
		struct dsa_hw_desc d __attribute__((aligned(64)));
		struct dsa_emu_fault f = { .kind = DSA_EMU_FAULT_DELAY, .delay_us = 200000 };
		REQUIRE(emu && recs);
		REQUIRE(client_open(&c, "/dev/dsa/wq0.0", fifo) == 0);
		REQUIRE(dsa_emu_inject(emu, &f) == 0);
		for (int i = 0; i < 2; i++) {
			desc_simple(&d, REC(recs, i), DSA_OPCODE_NOOP, FLAGS_STD);
			reset_record(REC(recs, i));
			CHECK(client_submit(&c, &d) == 0);
		}
		client_close(&c);
		CHECK_EQ(peek_status(REC(recs, 0)), DSA_COMP_SUCCESS);
		CHECK_EQ(peek_status(REC(recs, 1)), DSA_COMP_SUCCESS);
	out:
		client_close(&c);
		dsa_emu_stop(emu);
		free(recs);
	}
}

/* two clients of a shared WQ close at once while a slow descriptor holds
 * it: both closes return once the WQ is empty (a waiter whose request a
 * later one answered waited for ever) */
struct closer {
	struct client c;
	pthread_barrier_t *bar;
};

static void *
closer_thread(void *p)
{
	struct closer *cl = p;
	pthread_barrier_wait(cl->bar);
	client_close(&cl->c);
	return NULL;
}

static void
test_close_drains_concurrent(void)
{
	struct dsa_emu_config cfg = { .shared = 1, .wq_size = 4 };
	struct dsa_emu *emu = dsa_emu_start(&cfg);
	struct dsa_completion_record *recs = alloc_records(2);
	struct dsa_hw_desc d __attribute__((aligned(64)));
	struct dsa_emu_fault f = { .kind = DSA_EMU_FAULT_DELAY, .delay_us = 200000 };
	struct closer cl[2] = { { .c = { .fd = -1 } }, { .c = { .fd = -1 } } };
	pthread_barrier_t bar;
	pthread_t t[2];
	REQUIRE(emu && recs);
	REQUIRE(dsa_emu_inject(emu, &f) == 0);
	REQUIRE(pthread_barrier_init(&bar, NULL, 2) == 0);
	for (int i = 0; i < 2; i++) {
		REQUIRE(client_open(&cl[i].c, "/dev/dsa/wq0.0", 1) == 0);
		cl[i].bar = &bar;
		desc_simple(&d, REC(recs, i), DSA_OPCODE_NOOP, FLAGS_STD);
		reset_record(REC(recs, i));
		CHECK(client_submit(&cl[i].c, &d) == 0);
	}
	for (int i = 0; i < 2; i++)
		REQUIRE(pthread_create(&t[i], NULL, closer_thread, &cl[i]) == 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	CHECK_EQ(peek_status(REC(recs, 0)), DSA_COMP_SUCCESS);
	CHECK_EQ(peek_status(REC(recs, 1)), DSA_COMP_SUCCESS);
	pthread_barrier_destroy(&bar);
out:
	for (int i = 0; i < 2; i++)
		client_close(&cl[i].c);
	dsa_emu_stop(emu);
	free(recs);
}

/* ------------------------------------------------------------------ */
/* node scale: per-device statistics and speed, rewrites, halts mid-batch */

/* a batch descriptor over list[0 .. n) */
static void
desc_batch(struct dsa_hw_desc *d, struct dsa_completion_record *cr, struct dsa_hw_desc *list,
	   uint32_t n)
{
	memset(d, 0, sizeof(*d));
	d->opcode = DSA_OPCODE_BATCH;
	d->flags = FLAGS_STD;
	d->completion_addr = (uintptr_t)cr;
	d->desc_list_addr = (uintptr_t)list;
	d->desc_count = n;
}

/* device statistics are the sums of their WQs' */
static void
test_device_stats(void)
{
	struct dsa_emu_config cfg = { .ndevices = 2, .nwqs = 2 };
	struct dsa_emu *emu = dsa_emu_start(&cfg);
	struct client c[3] = { { .fd = -1 }, { .fd = -1 }, { .fd = -1 } };
	static const char *const path[3] = { "/dev/dsa/wq0.0", "/dev/dsa/wq0.1", "/dev/dsa/wq1.1" };
	static const unsigned nops[3] = { 3, 5, 7 };
	unsigned char *src = malloc(65536), *dst = malloc(65536);
	struct dsa_completion_record *recs = alloc_records(1);
	struct dsa_hw_desc d __attribute__((aligned(64)));
	struct dsa_emu_stats st, w0, w1;
	REQUIRE(emu && src && dst && recs);
	CHECK_EQ(dsa_emu_ndevices(emu), 2);
	CHECK_EQ(dsa_emu_ndevices(NULL), 0);
	fill_random(src, 65536, 11);
	for (int k = 0; k < 3; k++) {
		REQUIRE(client_open(&c[k], path[k], 0) == 0);
		for (unsigned i = 0; i < nops[k]; i++) {
			desc_memmove(&d, recs, dst, src, 1024 * (k + 1), 0);
			CHECK_EQ(run_one(&c[k], &d, recs), DSA_COMP_SUCCESS);
		}
	}
	dsa_emu_get_device_stats(emu, 0, &st);
	dsa_emu_get_stats(emu, 0, &w0);
	dsa_emu_get_stats(emu, 1, &w1);
	CHECK_EQ(st.received, 8);
	CHECK_EQ(st.completed, w0.completed + w1.completed);
	CHECK_EQ(st.ops[DSA_OPCODE_MEMMOVE], 8);
	CHECK_EQ(st.bytes, 3 * 1024 + 5 * 2048);
	CHECK_EQ(st.bytes, w0.bytes + w1.bytes);
	dsa_emu_get_device_stats(emu, 1, &st);
	CHECK_EQ(st.received, 7);
	CHECK_EQ(st.bytes, 7 * 3072);
	dsa_emu_get_stats(emu, 2, &w0); /* wq1.0: nothing */
	CHECK_EQ(w0.received, 0);
	dsa_emu_get_device_stats(emu, 2, &st); /* no such device */
	CHECK_EQ(st.received, 0);
	dsa_emu_reset_stats(emu);
	dsa_emu_get_device_stats(emu, 1, &st);
	CHECK_EQ(st.bytes, 0);
out:
	for (int k = 0; k < 3; k++)
		client_close(&c[k]);
	dsa_emu_stop(emu);
	free(src);
	free(dst);
	free(recs);
}

/*
 * Speed: a descriptor never completes before its transfer time, and the
 * WQs of one device share its pipe (lower bounds only: no outcome may
 * depend on how fast this machine is).
 */
static void
test_speed(void)
{
	static const unsigned speed[2] = { 0, 1000 }; /* dsa1: 1000 B/µs = 1 GB/s */
	struct dsa_emu_config cfg = { .ndevices = 2, .nwqs = 2, .dev_bytes_per_us = speed,
				      .max_transfer_size = 4u << 20 };
	struct dsa_emu *emu = dsa_emu_start(&cfg);
	struct client c[2] = { { .fd = -1 }, { .fd = -1 } };
	const uint32_t N = 2u << 20;
	unsigned char *src = malloc(N), *dst = malloc(2 * (size_t)N);
	struct dsa_completion_record *recs = alloc_records(2);
	struct dsa_hw_desc d __attribute__((aligned(64)));
	REQUIRE(emu && src && dst && recs);
	fill_random(src, N, 12);
	memset(dst, 0, 2 * (size_t)N);
	REQUIRE(client_open(&c[0], "/dev/dsa/wq1.0", 0) == 0);
	REQUIRE(client_open(&c[1], "/dev/dsa/wq1.1", 0) == 0);
	/* one 2 MiB copy: at least 2.097 ms */
	uint64_t t0 = mono_ns();
	desc_memmove(&d, REC(recs, 0), dst, src, N, 0);
	CHECK_EQ(run_one(&c[0], &d, REC(recs, 0)), DSA_COMP_SUCCESS);
	uint64_t t1 = mono_ns();
	CHECK(t1 - t0 >= (uint64_t)N * 1000 / 1000);
	CHECK(memcmp(dst, src, N) == 0);
	/* one on each WQ of the device: together at least twice that */
	t0 = mono_ns();
	for (int k = 0; k < 2; k++) {
		desc_memmove(&d, REC(recs, k), dst + (size_t)k * N, src, N, 0);
		reset_record(REC(recs, k));
		CHECK(client_submit(&c[k], &d) == 0);
	}
	CHECK_EQ(poll_status(REC(recs, 0), POLL_GUARD_MS), DSA_COMP_SUCCESS);
	CHECK_EQ(poll_status(REC(recs, 1), POLL_GUARD_MS), DSA_COMP_SUCCESS);
	t1 = mono_ns();
	CHECK(t1 - t0 >= 2 * (uint64_t)N);
	/* dsa_emu_set_speed: a fill of 64 KiB at 16 B/µs takes 4 ms or more */
	dsa_emu_set_speed(emu, 1, 16);
	t0 = mono_ns();
	desc_fill(&d, REC(recs, 0), dst, 0x0101010101010101ULL, 65536, 0);
	CHECK_EQ(run_one(&c[0], &d, REC(recs, 0)), DSA_COMP_SUCCESS);
	CHECK(mono_ns() - t0 >= 65536ULL * 1000 / 16);
	CHECK(dst[0] == 1 && dst[65535] == 1);
	dsa_emu_set_speed(emu, -1, 0);
	desc_memmove(&d, REC(recs, 0), dst, src, N, 0);
	CHECK_EQ(run_one(&c[0], &d, REC(recs, 0)), DSA_COMP_SUCCESS);
	dsa_emu_set_speed(NULL, 0, 1); /* no crash */
out:
	client_close(&c[0]);
	client_close(&c[1]);
	dsa_emu_stop(emu);
	free(src);
	free(dst);
	free(recs);
}

/* track_writes: what the device wrote, and what it wrote twice */
static void
test_rewrites(void)
{
	struct dsa_emu_config cfg = { .track_writes = 1 };
	struct dsa_emu *emu = dsa_emu_start(&cfg);
	struct client c = { .fd = -1 };
	enum { SZ = 16384 };
	unsigned char *src = aligned_alloc(4096, 4 * SZ), *dst = aligned_alloc(4096, 4 * SZ);
	struct dsa_hw_desc *list = aligned_alloc(64, 4 * 64);
	struct dsa_completion_record *recs = alloc_records(5);
	struct dsa_hw_desc d __attribute__((aligned(64)));
	struct dsa_emu_stats st;
	REQUIRE(emu && src && dst && list && recs);
	REQUIRE(client_open(&c, "/dev/dsa/wq0.0", 0) == 0);
	fill_random(src, 4 * SZ, 13);
	memset(dst, 0, 4 * SZ);

	desc_memmove(&d, recs, dst, src, SZ, 0);
	CHECK_EQ(run_one(&c, &d, recs), DSA_COMP_SUCCESS);
	CHECK_EQ(dsa_emu_written(emu, dst, SZ), SZ);
	CHECK_EQ(dsa_emu_written(emu, dst + SZ, SZ), 0);
	CHECK_EQ(dsa_emu_written(emu, dst + SZ / 2, SZ), SZ / 2);
	dsa_emu_get_stats(emu, -1, &st);
	CHECK_EQ(st.rewrites, 0);
	/* the same destination again */
	CHECK_EQ(run_one(&c, &d, recs), DSA_COMP_SUCCESS);
	dsa_emu_get_stats(emu, -1, &st);
	CHECK_EQ(st.rewrites, 1);
	CHECK_EQ(st.rewrite_bytes, SZ);
	dsa_emu_reset_stats(emu);
	CHECK_EQ(dsa_emu_written(emu, dst, SZ), 0);

	/* a page fault half way, then the rest: nothing twice */
	REQUIRE(dsa_emu_inject(emu, &(struct dsa_emu_fault){ .kind = DSA_EMU_FAULT_PAGE_WRITE,
							      .bytes_done = 8192 }) == 0);
	desc_memmove(&d, recs, dst, src, SZ, 0);
	CHECK_EQ(run_one(&c, &d, recs), DSA_COMP_PAGE_FAULT_NOBOF | DSA_COMP_STATUS_WRITE);
	CHECK_EQ(recs->bytes_completed, 8192);
	CHECK_EQ(dsa_emu_written(emu, dst, SZ), 8192);
	desc_memmove(&d, recs, dst + 8192, src + 8192, SZ - 8192, 0);
	CHECK_EQ(run_one(&c, &d, recs), DSA_COMP_SUCCESS);
	CHECK(memcmp(dst, src, SZ) == 0);
	CHECK_EQ(dsa_emu_written(emu, dst, SZ), SZ);
	dsa_emu_get_stats(emu, -1, &st);
	CHECK_EQ(st.rewrites, 0);
	/* a client that resubmits the whole operation is caught */
	desc_memmove(&d, recs, dst, src, SZ, 0);
	CHECK_EQ(run_one(&c, &d, recs), DSA_COMP_SUCCESS);
	dsa_emu_get_stats(emu, -1, &st);
	CHECK_EQ(st.rewrites, 1);
	CHECK_EQ(st.rewrite_bytes, SZ);

	/* descending memmove (overlap, dst above src) faulting: its top was written */
	dsa_emu_reset_stats(emu);
	REQUIRE(dsa_emu_inject(emu, &(struct dsa_emu_fault){ .kind = DSA_EMU_FAULT_PAGE_READ,
							      .bytes_done = 4096 }) == 0);
	desc_memmove(&d, recs, dst + 2 * SZ + 4096, dst + 2 * SZ, SZ, 0);
	CHECK_EQ(run_one(&c, &d, recs), DSA_COMP_PAGE_FAULT_NOBOF);
	CHECK_EQ(recs->result, 1);
	CHECK_EQ(recs->bytes_completed, 4096);
	CHECK_EQ(dsa_emu_written(emu, dst + 2 * SZ + SZ, 4096), 4096);
	CHECK_EQ(dsa_emu_written(emu, dst + 2 * SZ, SZ), 0);
	desc_memmove(&d, recs, dst + 2 * SZ + 4096, dst + 2 * SZ, SZ - 4096, 0);
	CHECK_EQ(run_one(&c, &d, recs), DSA_COMP_SUCCESS);
	dsa_emu_get_stats(emu, -1, &st);
	CHECK_EQ(st.rewrites, 0);
	CHECK_EQ(dsa_emu_written(emu, dst + 2 * SZ, 2 * SZ), SZ);

	/* ranges out of order, touching and merged; fills and batch members count */
	dsa_emu_reset_stats(emu);
	desc_fill(&d, recs, dst + 8192, 0, 4096, 0);
	CHECK_EQ(run_one(&c, &d, recs), DSA_COMP_SUCCESS);
	desc_fill(&d, recs, dst, 0, 4096, 0);
	CHECK_EQ(run_one(&c, &d, recs), DSA_COMP_SUCCESS);
	desc_fill(&d, recs, dst + 16384, 0, 100, 0);
	CHECK_EQ(run_one(&c, &d, recs), DSA_COMP_SUCCESS);
	desc_fill(&d, recs, dst + 4096, 0, 4096, 0);
	CHECK_EQ(run_one(&c, &d, recs), DSA_COMP_SUCCESS);
	dsa_emu_get_stats(emu, -1, &st);
	CHECK_EQ(st.rewrites, 0);
	CHECK_EQ(dsa_emu_written(emu, dst, 4 * SZ), 12288 + 100);
	desc_memmove(&list[0], REC(recs, 0), dst + 12288, src, 4096, 0); /* new */
	desc_memmove(&list[1], REC(recs, 1), dst + 2048, src, 8192, 0);  /* again */
	desc_batch(&d, REC(recs, 4), list, 2);
	reset_record(REC(recs, 0));
	reset_record(REC(recs, 1));
	CHECK_EQ(run_one(&c, &d, REC(recs, 4)), DSA_COMP_SUCCESS);
	dsa_emu_get_stats(emu, -1, &st);
	CHECK_EQ(st.rewrites, 1);
	CHECK_EQ(st.rewrite_bytes, 8192);
	CHECK_EQ(dsa_emu_written(emu, dst, 4 * SZ), 16384 + 100);
	/* a range spanning all of them */
	desc_fill(&d, recs, dst, 0, 4 * SZ, 0);
	CHECK_EQ(run_one(&c, &d, recs), DSA_COMP_SUCCESS);
	dsa_emu_get_stats(emu, -1, &st);
	CHECK_EQ(st.rewrites, 2);
	CHECK_EQ(st.rewrite_bytes, 8192 + 16384 + 100);
	CHECK_EQ(dsa_emu_written(emu, dst, 4 * SZ), 4 * SZ);
	CHECK_EQ(dsa_emu_written(NULL, dst, 1), 0);
out:
	client_close(&c);
	dsa_emu_stop(emu);
	free(src);
	free(dst);
	free(list);
	free(recs);
}

/* without track_writes nothing is recorded */
static void
test_rewrites_off(void)
{
	struct dsa_emu_config cfg = { 0 };
	struct dsa_emu *emu = dsa_emu_start(&cfg);
	struct client c = { .fd = -1 };
	unsigned char *buf = malloc(8192);
	struct dsa_completion_record *recs = alloc_records(1);
	struct dsa_hw_desc d __attribute__((aligned(64)));
	struct dsa_emu_stats st;
	REQUIRE(emu && buf && recs);
	REQUIRE(client_open(&c, "/dev/dsa/wq0.0", 0) == 0);
	for (int i = 0; i < 2; i++) {
		desc_fill(&d, recs, buf, 0, 8192, 0);
		CHECK_EQ(run_one(&c, &d, recs), DSA_COMP_SUCCESS);
	}
	dsa_emu_get_stats(emu, -1, &st);
	CHECK_EQ(st.rewrites, 0);
	CHECK_EQ(dsa_emu_written(emu, buf, 8192), 0);
out:
	client_close(&c);
	dsa_emu_stop(emu);
	free(buf);
	free(recs);
}

/*
 * HALT fault on the 4th member of a batch of 6: members 0-2 done with their
 * records, 3-5 never run, no batch record, nothing queued completes, new
 * descriptors are dropped; after a reset the rest is resubmitted and no
 * byte is written twice.
 */
static void
test_halt_mid_batch(void)
{
	/* (a prefix of the list ran: list order, whatever the environment) */
	struct dsa_emu_config cfg = { .ndevices = 2, .track_writes = 1,
		.batch_order = DSA_EMU_BATCH_LIST };
	struct dsa_emu *emu = dsa_emu_start(&cfg);
	struct client c = { .fd = -1 }, c1 = { .fd = -1 };
	enum { N = 6, SZ = 8192 };
	unsigned char *src = aligned_alloc(4096, N * SZ), *dst = aligned_alloc(4096, N * SZ);
	struct dsa_hw_desc *list = aligned_alloc(64, N * 64);
	struct dsa_completion_record *recs = alloc_records(N + 4);
	struct dsa_hw_desc d __attribute__((aligned(64)));
	struct dsa_emu_stats st;
	char s[64];
	REQUIRE(emu && src && dst && list && recs);
	REQUIRE(client_open(&c, "/dev/dsa/wq0.0", 0) == 0);
	REQUIRE(client_open(&c1, "/dev/dsa/wq1.0", 0) == 0);
	fill_random(src, N * SZ, 14);
	memset(dst, 0, N * SZ);
	for (int i = 0; i < N; i++) {
		desc_memmove(&list[i], REC(recs, i), dst + i * SZ, src + i * SZ, SZ, 0);
		reset_record(REC(recs, i));
	}
	REQUIRE(dsa_emu_inject(emu, &(struct dsa_emu_fault){ .kind = DSA_EMU_FAULT_HALT,
		.op_mask = DSA_EMU_OP(DSA_OPCODE_MEMMOVE), .wq_mask = 1, .skip = 3 }) == 0);
	/* the batch and a NOOP behind it, queued while the WQ is paused */
	dsa_emu_pause(emu, 0, 1);
	desc_batch(&d, REC(recs, N), list, N);
	reset_record(REC(recs, N));
	CHECK(client_submit(&c, &d) == 0);
	desc_simple(&d, REC(recs, N + 1), DSA_OPCODE_NOOP, FLAGS_STD);
	reset_record(REC(recs, N + 1));
	CHECK(client_submit(&c, &d) == 0);
	for (int i = 0; i < 2000; i++) { /* both taken from the portal */
		dsa_emu_get_stats(emu, 0, &st);
		if (st.received == 2)
			break;
		usleep(1000);
	}
	CHECK_EQ(st.received, 2);
	dsa_emu_pause(emu, 0, 0);
	CHECK_EQ(dsa_emu_wait_processed(emu, 2, POLL_GUARD_MS), 0);
	CHECK(read_str_file("/sys/bus/dsa/devices/dsa0/state", s, sizeof(s)) == 0 &&
	      strcmp(s, "halted") == 0);
	for (int i = 0; i < N; i++) {
		CHECK_EQ(peek_status(REC(recs, i)), i < 3 ? DSA_COMP_SUCCESS : 0);
		if (i < 3)
			CHECK(memcmp(dst + i * SZ, src + i * SZ, SZ) == 0);
		else
			CHECK(dst[i * SZ] == 0 && dst[i * SZ + SZ - 1] == 0 &&
			      dsa_emu_written(emu, dst + i * SZ, SZ) == 0);
	}
	CHECK_EQ(peek_status(REC(recs, N)), 0);
	CHECK_EQ(peek_status(REC(recs, N + 1)), 0);
	dsa_emu_get_stats(emu, 0, &st);
	CHECK_EQ(st.halted_members, 3);
	CHECK_EQ(st.batch_members, 3);
	CHECK_EQ(st.swallowed, 2);
	CHECK_EQ(st.completed, 0);
	CHECK_EQ(dsa_emu_faults_pending(emu), 0);
	/* the other device works on */
	desc_simple(&d, REC(recs, N + 2), DSA_OPCODE_NOOP, FLAGS_STD);
	CHECK_EQ(run_one(&c1, &d, REC(recs, N + 2)), DSA_COMP_SUCCESS);
	/* a new descriptor to the halted device: dropped */
	desc_simple(&d, REC(recs, N + 3), DSA_OPCODE_NOOP, FLAGS_STD);
	reset_record(REC(recs, N + 3));
	CHECK(client_submit(&c, &d) == 0);
	CHECK_EQ(dsa_emu_wait_processed(emu, 4, POLL_GUARD_MS), 0);
	dsa_emu_get_stats(emu, 0, &st);
	CHECK_EQ(st.dropped, 1);
	/* reset the device, resubmit members 3-5 as a new batch */
	CHECK_EQ(dsa_emu_device_halt(emu, 0, 0), 0);
	for (int i = 3; i < N; i++)
		reset_record(REC(recs, i));
	desc_batch(&d, REC(recs, N), list + 3, 3);
	CHECK_EQ(run_one(&c, &d, REC(recs, N)), DSA_COMP_SUCCESS);
	CHECK_EQ(REC(recs, N)->bytes_completed, 3);
	CHECK(memcmp(dst, src, N * SZ) == 0);
	dsa_emu_get_stats(emu, -1, &st);
	CHECK_EQ(st.rewrites, 0);
	CHECK_EQ(dsa_emu_written(emu, dst, N * SZ), N * SZ);
	/* a top-level descriptor that halts the device: no record, ever */
	REQUIRE(dsa_emu_inject(emu, &(struct dsa_emu_fault){ .kind = DSA_EMU_FAULT_HALT }) == 0);
	desc_fill(&d, REC(recs, 0), dst, 0, SZ, 0);
	reset_record(REC(recs, 0));
	CHECK(client_submit(&c, &d) == 0);
	CHECK_EQ(dsa_emu_wait_processed(emu, 6, POLL_GUARD_MS), 0);
	CHECK_EQ(peek_status(REC(recs, 0)), 0);
	CHECK(memcmp(dst, src, SZ) == 0);
	CHECK_EQ(dsa_emu_device_halt(emu, 0, 0), 0);
out:
	client_close(&c);
	client_close(&c1);
	dsa_emu_stop(emu);
	free(src);
	free(dst);
	free(list);
	free(recs);
}

/*
 * dsa_emu_device_halt() from another thread while slow batch members run:
 * wherever the halt lands, what ran is complete with its record, what did
 * not run wrote nothing, and they form a prefix of the batch; the batch
 * record is written only if every member ran before the halt.
 */
static void
test_halt_async_batch(void)
{
	enum { N = 6, SZ = 16384 };
	/* 16 B/µs: about 1 ms per member; a prefix of the list runs */
	struct dsa_emu_config cfg = { .bytes_per_us = 16, .track_writes = 1,
		.batch_order = DSA_EMU_BATCH_LIST };
	struct dsa_emu *emu = dsa_emu_start(&cfg);
	struct client c = { .fd = -1 };
	unsigned char *src = aligned_alloc(4096, N * SZ), *dst = aligned_alloc(4096, N * SZ);
	struct dsa_hw_desc *list = aligned_alloc(64, N * 64);
	struct dsa_completion_record *recs = alloc_records(N + 1);
	struct dsa_hw_desc d __attribute__((aligned(64)));
	struct dsa_emu_stats st;
	REQUIRE(emu && src && dst && list && recs);
	REQUIRE(client_open(&c, "/dev/dsa/wq0.0", 0) == 0);
	fill_random(src, N * SZ, 15);
	memset(dst, 0, N * SZ);
	for (int i = 0; i < N; i++) {
		desc_memmove(&list[i], REC(recs, i), dst + i * SZ, src + i * SZ, SZ, 0);
		reset_record(REC(recs, i));
	}
	desc_batch(&d, REC(recs, N), list, N);
	reset_record(REC(recs, N));
	CHECK(client_submit(&c, &d) == 0);
	/* wait for the second member to finish, then halt */
	CHECK_EQ(poll_status(REC(recs, 1), POLL_GUARD_MS), DSA_COMP_SUCCESS);
	CHECK_EQ(dsa_emu_device_halt(emu, 0, 1), 0);
	CHECK_EQ(dsa_emu_wait_processed(emu, 1, POLL_GUARD_MS), 0);
	dsa_emu_get_stats(emu, 0, &st);
	int ran = 0;
	for (int i = 0; i < N; i++) {
		uint8_t s = peek_status(REC(recs, i));
		if (s) {
			CHECK_EQ(s, DSA_COMP_SUCCESS);
			CHECK_EQ(ran, i); /* a prefix */
			CHECK(memcmp(dst + i * SZ, src + i * SZ, SZ) == 0);
			ran++;
		} else {
			CHECK_EQ(dsa_emu_written(emu, dst + i * SZ, SZ), 0);
			CHECK(dst[i * SZ] == 0);
		}
	}
	CHECK(ran >= 2);
	CHECK_EQ(st.batch_members, ran);
	CHECK_EQ(st.halted_members, N - ran);
	CHECK_EQ(peek_status(REC(recs, N)) != 0, ran == N);
	CHECK_EQ(st.rewrites, 0);
	vlog("  halted after %d of %d members\n", ran, N);
	CHECK_EQ(dsa_emu_device_halt(emu, 0, 0), 0);
out:
	client_close(&c);
	dsa_emu_stop(emu);
	free(src);
	free(dst);
	free(list);
	free(recs);
}

/* informational: how often an always-offset-0 client loses a descriptor */
static void
measure_offset0(void)
{
	struct dsa_emu_config cfg = { .lost_ok = 1 };
	struct dsa_emu *emu = dsa_emu_start(&cfg);
	struct stress_arg a = { .path = "/dev/dsa/wq0.0", .fixed_offset = 1, .n = 20000,
				.credits = 32, .seed = 4 };
	struct dsa_emu_stats st;
	if (!emu)
		return;
	stress_thread(&a);
	dsa_emu_get_stats(emu, -1, &st);
	printf("  offset-0 client, 32 credits: submitted %u, received %llu, lost %llu\n", a.n,
	       (unsigned long long)st.received, (unsigned long long)(a.n - st.received));
	dsa_emu_stop(emu);
}

/* ------------------------------------------------------------------ */

static const char *only;

#define RUN(call)                                                                     \
	do {                                                                          \
		if (only && !strstr(#call, only))                                     \
			break;                                                        \
		test_failed = 0;                                                      \
		call;                                                                 \
		if (test_failed)                                                      \
			n_fail++;                                                     \
		else                                                                  \
			n_pass++;                                                     \
		if (verbose || test_failed)                                           \
			printf("%s - %s\n", test_failed ? "FAIL" : "ok", #call);      \
	} while (0)

int
main(int argc, char **argv)
{
	int measure = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-v"))
			verbose = 1;
		else if (!strcmp(argv[i], "--measure"))
			measure = 1;
		else if (!strcmp(argv[i], "-t") && i + 1 < argc)
			only = argv[++i];
	}
	setvbuf(stdout, NULL, _IOLBF, 0);

	struct statfs sfs;
	if (statfs("/dev/pts", &sfs) == 0)
		devpts_type = (long)sfs.f_type;
	if (statfs("/dev/shm", &sfs) == 0)
		devshm_type = (long)sfs.f_type;
	char why[512];
	if (dsa_emu_enter_namespace(why, sizeof(why))) {
		printf("SKIP: cannot emulate DSA: %s\n", why);
		return 77;
	}
	have_movdir64b = dsa_emu_cpu_movdir64b();
	vlog("portal writes with %s\n", have_movdir64b ? "MOVDIR64B" : "atomic stores (no MOVDIR64B)");

	if (measure) {
		verbose = 1;
		measure_offset0();
		return 0;
	}

	RUN(test_discovery_default());
	RUN(test_discovery_multi());
	RUN(test_device_states());
	RUN(test_sysfs_overrides());
	RUN(test_basic_ops(0, 0));
	RUN(test_basic_ops(0, 1));
	RUN(test_basic_ops(1, 0));
	RUN(test_shared_mmap());
	RUN(test_overlap());
	RUN(test_validation());
	RUN(test_no_record_check());
	RUN(test_no_cache_fill());
	RUN(test_portal_store_stopped());
	RUN(test_gencap_flags());
	RUN(test_batch(0));
	RUN(test_batch(1));
	RUN(test_page_faults());
	RUN(test_nonresident());
	RUN(test_other_faults(0));
	RUN(test_other_faults(1));
	RUN(test_queue_full());
	RUN(test_stress());
	RUN(test_portal_any_offset());
	RUN(test_portal_order());
	RUN(test_readonly_write_fault());
	RUN(test_cow_write_fault());
	RUN(test_other_process());
	RUN(test_trap_portal());
	RUN(test_engines_out_of_order());
	RUN(test_engines_room());
	RUN(test_dedicated_one_opener());
	RUN(test_device_errors());
	RUN(test_reset_drops_late_writes());
	RUN(test_close_drains());
	RUN(test_close_drains_concurrent());
	RUN(test_device_stats());
	RUN(test_speed());
	RUN(test_rewrites());
	RUN(test_rewrites_off());
	RUN(test_halt_mid_batch());
	RUN(test_halt_async_batch());

	printf("%d passed, %d failed\n", n_pass, n_fail);
	return n_fail ? 1 : 0;
}
