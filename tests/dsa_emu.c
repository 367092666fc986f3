/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dsa_emu.c -- test-only Intel DSA device emulator, see dsa_emu.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "dsa_emu.h"

#include <linux/idxd.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <cpuid.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dlfcn.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define EMU_SYSFS_BUS "/sys/bus/dsa"
#define EMU_SYSFS_DEVICES "/sys/bus/dsa/devices"
#define EMU_DEV_DIR "/dev/dsa"
#define PORTAL_SIZE 4096u
#define NSLOTS (PORTAL_SIZE / 64u)
#define PAGE 4096ULL
#define MAX_FAULTS 32
#define MAX_DEVICES 64
#define MAX_WQS_PER_DEV 64
#define MAX_ENGINES 16

/* busy polling of the portal for this long after the last activity */
#define ACTIVE_WINDOW_NS (100ULL * 1000 * 1000)
#define IDLE_SLEEP_NS (50ULL * 1000)

#ifndef IDXD_OP_FLAG_CRSTS
#define IDXD_OP_FLAG_CRSTS 0x0020
#endif
#ifndef IDXD_OP_FLAG_DSTS
#define IDXD_OP_FLAG_DSTS 0x8000
#endif

_Static_assert(sizeof(struct dsa_hw_desc) == 64, "descriptor size");
_Static_assert(sizeof(struct dsa_completion_record) == 32, "completion record size");

struct qent {
	struct dsa_hw_desc d;
	uint64_t ready_ns;
	uint64_t seq;		/* submission order on its WQ, from 1 */
	int swallow;
};

struct emu_wq {
	struct dsa_emu *emu;
	unsigned index, dev, id;
	char path[64];
	char sysfs[128];
	int shared, fifo, bof, disabled, no_write;
	unsigned size, max_batch;
	uint32_t max_xfer;
	const char *type, *name;

	int fd;
	uint64_t *portal;	/* emulator's own mapping of the portal file */
	pthread_t thr;
	int thr_started;
	unsigned delay_us;	/* __atomic */
	int paused;		/* __atomic */
	uint64_t resumed_ns;	/* __atomic: when last un-paused */
	uint64_t cur_ready;	/* WQ thread: ready time of the top-level descriptor running */

	/* owned by the WQ thread */
	struct qent *q;		/* ring of qcap = size + MAX_ENGINES */
	unsigned qhead, qcount, qcap;
	/* DSA.md §8: an entry's slot is free once one submitted after it
	 * completed (it is on an engine then), though it may still run */
	uint64_t qseq, done_seq;
	uint64_t last_ready;
	unsigned nengines;
	uint64_t efree[MAX_ENGINES];	/* when each engine is free (engines > 1) */
	unsigned next_slot;
	unsigned char fbuf[64];
	size_t fhave;

	/* trap_portal: records from dsa_emu_portal_write(), kind byte + descriptor */
	int trap;
	int tpipe_w;
	unsigned tpending;	/* under emu->lock: accepted ENQCMDs still in the pipe */
	unsigned char tbuf[65];
	size_t thave;

	struct dsa_emu_stats st; /* under emu->lock */
	uint64_t last_seq;	/* under emu->lock: when last_* were set */
	/* batch_order: the WQ thread's permutation state (SHUFFLE) */
	uint64_t order_rng;
	/* under emu->lock: list indices of the last batch's members in the
	 * order they ran (dsa_emu_batch_order), and when it ran (emu->seq) */
	unsigned *bord;		/* max_batch entries */
	unsigned nbord;
	/* exec_batch's copy of a list and its order (max_batch members), made
	 * with the WQ: the WQ thread never allocates while it runs work, so a
	 * fork (test_dsa_fork) never finds it holding an allocator's lock */
	unsigned char *blist;
	uint64_t bord_seq;
	int publishing;		/* under emu->lock: counted, record not yet written */
	/* catch_up / close_drain: requests (__atomic, under emu->lock) and
	 * the last one answered (under emu->lock; read unlocked by the WQ
	 * thread, their only writer) */
	unsigned sync_req, sync_ack, drain_req, drain_ack;
	/* the WQ file a client opens, as fstat shows it (close_drain) */
	dev_t fdev;
	ino_t fino;
};

struct emu_fault {
	struct dsa_emu_fault f;
	int remaining; /* < 0: unlimited */
	unsigned skip;
	int active;
};

struct dsa_emu {
	unsigned ndev, nwq_per, nwq;
	uint64_t gen_cap;
	unsigned version;
	int fault_nonresident;
	struct emu_wq *wqs;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct emu_fault faults[MAX_FAULTS];
	int stop; /* __atomic */
	uint64_t seq; /* under lock */
	int pid; /* __atomic: process whose memory descriptors address, 0 = this one */
	uint64_t (*swerr)[4]; /* under lock: per device, the SWERR register */
	int *halted;	/* __atomic, per device */
	pid_t owner;	/* the process running the WQ threads */
	int lost_ok;
	int no_record_check;
	int no_cache_fill;
	int batch_order;	/* DSA_EMU_BATCH_*, 0 = list order */
	uint64_t batch_seed;
	unsigned *speed;	/* __atomic, per device: bytes per µs, 0 = unlimited */
	uint64_t *dev_busy;	/* under lock, per device: its pipe is busy until then */
	/* track_writes: sorted, disjoint destination ranges written (under lock) */
	int track;
	struct wrange { uint64_t lo, hi; } *wr;
	size_t nwr, capwr;
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_running;
/* under g_lock: the running emulator as close() sees it, and the closes
 * draining one of its WQs (dsa_emu_stop waits for them: g_cond) */
static struct dsa_emu *g_emu;
static unsigned g_closers;
static pthread_cond_t g_cond = PTHREAD_COND_INITIALIZER;
static pid_t g_emu_owner; /* __atomic: the process running it, 0 none */
static int g_ns_entered;

/*
 * A dedicated WQ admits one opener (DSA.md §2: the driver says EBUSY to a
 * second open while the first file is open).  This process' open() comes
 * here: on a dedicated WQ of the running emulator it takes an exclusive
 * flock, which lives with the open file description (shared by fork and
 * dup, gone at its last close) as the driver's count does.  The
 * emulator's own opens of the files come before they are listed.
 */
static pthread_mutex_t g_ded_lock = PTHREAD_MUTEX_INITIALIZER;
/* the running emulator's WQ files that open() treats specially, under
 * g_ded_lock */
static struct ded_path {
	char path[64];
	int dedicated, no_write;
} *g_ded;
static unsigned g_nded;

/* 1: a dedicated WQ's file, 2: one without write() (no_write), else 0 */
static int
special_path(const char *path)
{
	int r = 0;
	pthread_mutex_lock(&g_ded_lock);
	for (unsigned i = 0; i < g_nded && !r; i++)
		if (strcmp(g_ded[i].path, path) == 0)
			r = g_ded[i].no_write ? 2 : g_ded[i].dedicated;
	pthread_mutex_unlock(&g_ded_lock);
	return r;
}

/* libc's `name`, which this file stands in for: looked up once into
 * *cache; NULL (errno ENOSYS) if there is none */
static void *
libc_fn(const char *name, void **cache)
{
	void *sym = __atomic_load_n(cache, __ATOMIC_ACQUIRE);
	if (!sym) {
		sym = dlsym(RTLD_NEXT, name);
		if (!sym) {
			errno = ENOSYS;
			return NULL;
		}
		__atomic_store_n(cache, sym, __ATOMIC_RELEASE);
	}
	return sym;
}

int
open(const char *path, int flags, ...)
{
	static void *real;
	int (*fn)(const char *, int, ...);
	mode_t mode = 0;
	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	void *sym = libc_fn("open", &real);
	if (!sym)
		return -1;
	memcpy(&fn, &sym, sizeof(fn)); /* POSIX: a function's address */
	int special = special_path(path);
	if (special == 2) /* write() and mmap fail, as on an old kernel */
		return eventfd(0, (flags & O_CLOEXEC) ? EFD_CLOEXEC : 0);
	int fd = fn(path, flags, mode);
	if (fd >= 0 && special == 1 && flock(fd, LOCK_EX | LOCK_NB)) {
		close(fd);
		errno = EBUSY;
		return -1;
	}
	return fd;
}

static void close_drain(struct dsa_emu *emu, struct emu_wq *w);

/*
 * The kernel drains a WQ when a client's file of it is released
 * (idxd_cdev_release, DSA.md §8): memory a descriptor points at may be
 * freed once close() returned. This process' close() of a WQ file of the
 * running emulator does that too (on every close, not only the last: it
 * waits longer than the kernel, never less). A forked child's close
 * drains nothing: the emulator's threads are not in it.
 */
int
close(int fd)
{
	static void *real;
	int (*fn)(int);
	void *sym = libc_fn("close", &real);
	if (!sym)
		return -1;
	memcpy(&fn, &sym, sizeof(fn));
	struct dsa_emu *emu = NULL;
	struct emu_wq *w = NULL;
	struct stat sb;
	if (__atomic_load_n(&g_emu_owner, __ATOMIC_ACQUIRE) == getpid() &&
	    fstat(fd, &sb) == 0) {
		pthread_mutex_lock(&g_lock);
		for (unsigned i = 0; g_emu && i < g_emu->nwq && !w; i++)
			if (g_emu->wqs[i].fino == sb.st_ino && g_emu->wqs[i].fdev == sb.st_dev &&
			    g_emu->wqs[i].fd != fd)
				w = &g_emu->wqs[i];
		if (w) {
			emu = g_emu;
			g_closers++;
		}
		pthread_mutex_unlock(&g_lock);
	}
	int r = fn(fd);
	if (emu) {
		int e = errno;
		close_drain(emu, w);
		pthread_mutex_lock(&g_lock);
		if (--g_closers == 0)
			pthread_cond_broadcast(&g_cond);
		pthread_mutex_unlock(&g_lock);
		errno = e;
	}
	return r;
}
/*
 * dsa_emu_portal_store's qword stores in progress (g_store_busy) and done
 * (g_store_gen): intake_portal takes no slot while one is in progress or
 * if one ran while it read, so a writer stopped between its stores (as
 * valgrind stops threads) is never seen torn.  In-process clients only.
 */
static unsigned g_store_busy, g_store_gen;

/* ------------------------------------------------------------------ */
/* helpers */

static void emu_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void
emu_err(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("dsa_emu: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void
set_why(char *why, size_t whylen, const char *fmt, ...)
{
	if (!why || !whylen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

static uint64_t
now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void
sleep_ns(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000ULL), (long)(ns % 1000000000ULL) };
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static inline void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/*
 * DSA_EMU_CHAOS=<seed> (stress runs: meson test --setup chaos): each WQ
 * thread gives up its CPU at random points (between portal slots, between
 * taking and running descriptors, between batch members, between counting
 * a completion and writing its record), for a yield or a sleep of up to
 * ~200 us, as a loaded machine preempts it. A test whose outcome depends
 * on the emulator's timing, or an emulator that depends on its own, shows
 * it there instead of once in a while in CI. 0 or unset: off; the seed is
 * mixed with the process id, so that repeated runs differ.
 */
static uint64_t g_chaos_seed;
static __thread uint64_t t_chaos; /* the WQ thread's xorshift state, 0 = off */

/* one time in `one_in` a sleep, four times a yield */
static void
chaos(unsigned one_in)
{
	uint64_t x = t_chaos;
	if (!x)
		return;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	t_chaos = x;
	unsigned r = (unsigned)(x >> 40) % one_in;
	if (r == 0)
		sleep_ns(1000 + (x & 0xffff) * 3);
	else if (r <= 4)
		sched_yield();
}

static int
write_file(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	size_t off = 0;
	while (off < len) {
		ssize_t r = write(fd, data + off, len - off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		off += (size_t)r;
	}
	return close(fd);
}

static int attr(const char *dir, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int
attr(const char *dir, const char *name, const char *fmt, ...)
{
	char path[PATH_MAX], buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf) - 1) {
		errno = EOVERFLOW;
		return -1;
	}
	buf[n++] = '\n';
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (write_file(path, buf, (size_t)n)) {
		emu_err("cannot write %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int
mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(tmp, mode) && errno != EEXIST)
		return -1;
	return 0;
}

static int
rm_cb(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (type == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

static void
rm_rf(const char *path)
{
	struct stat st;
	if (lstat(path, &st))
		return;
	if (S_ISDIR(st.st_mode))
		nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	else
		unlink(path);
}

/*
 * libaccel-config 3.5.3 leaks (scandir() lists, strdup()ed strings) on every
 * accfg_new()/accfg_unref(): keep LeakSanitizer quiet about them.  Weak, so a
 * test program may define its own.  With clang's static sanitizer runtime a
 * weak __lsan_default_options may lose against the runtime's own: then LSan
 * prints a "Suppressions used" summary; a strong definition in the test
 * program (or LSAN_OPTIONS=print_suppressions=0) silences it.
 */
__attribute__((weak, used)) const char *__lsan_default_suppressions(void);
__attribute__((weak, used)) const char *
__lsan_default_suppressions(void)
{
	return "leak:libaccel-config.so\nleak:__scandir64_tail\nleak:scandir\n";
}
__attribute__((weak, used)) const char *__lsan_default_options(void);
__attribute__((weak, used)) const char *
__lsan_default_options(void)
{
	return "print_suppressions=0";
}

/* ------------------------------------------------------------------ */
/* namespace */

struct submount {
	char path[PATH_MAX];
	int fd;
};

/* unescape the octal escapes of /proc/self/mountinfo in place */
static void
unescape_mnt(char *s)
{
	char *d = s;
	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '7' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*d++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 4;
		} else {
			*d++ = *s++;
		}
	}
	*d = '\0';
}

/* the mount points below /dev that are not below another one */
static int
dev_submounts(struct submount **out, size_t *nout)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -1;
	struct submount *v = NULL;
	size_t n = 0;
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, f) > 0) {
		char mp[PATH_MAX];
		/* id parent major:minor root mountpoint ... */
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1)
			continue;
		unescape_mnt(mp);
		if (strncmp(mp, "/dev/", 5) != 0)
			continue;
		int skip = 0;
		for (size_t i = 0; i < n && !skip; i++) {
			size_t l = strlen(v[i].path);
			if (strcmp(v[i].path, mp) == 0 ||
			    (strncmp(v[i].path, mp, l) == 0 && mp[l] == '/'))
				skip = 1;
		}
		if (skip)
			continue;
		/* drop entries below the new one */
		size_t l = strlen(mp);
		for (size_t i = 0; i < n;) {
			if (strncmp(v[i].path, mp, l) == 0 && v[i].path[l] == '/')
				v[i] = v[--n];
			else
				i++;
		}
		struct submount *nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv) {
			free(v);
			free(line);
			fclose(f);
			errno = ENOMEM;
			return -1;
		}
		v = nv;
		snprintf(v[n].path, sizeof(v[n].path), "%s", mp);
		v[n].fd = -1;
		n++;
	}
	free(line);
	fclose(f);
	*out = v;
	*nout = n;
	return 0;
}

/*
 * The mount point of the visible mount that holds path (longest mount
 * point that is path or a parent of it), "" if none is visible: in a
 * chroot, the mount holding "/" is not listed when "/" is no mount point.
 */
static int
containing_mount(const char *path, char *out, size_t outlen)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -1;
	char *line = NULL;
	size_t cap = 0, best = 0;
	int found = 0;
	out[0] = '\0';
	while (getline(&line, &cap, f) > 0) {
		char mp[PATH_MAX];
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1)
			continue;
		unescape_mnt(mp);
		size_t l = strlen(mp);
		int under = strcmp(mp, "/") == 0 ||
			    (strncmp(path, mp, l) == 0 && (path[l] == '\0' || path[l] == '/'));
		if (!under || (found && l < best))
			continue;
		found = 1;
		best = l;
		snprintf(out, outlen, "%s", mp);
	}
	free(line);
	fclose(f);
	return 0;
}

static int
threads_of_self(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	if (!f)
		return -1;
	char line[256];
	int n = -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Threads: %d", &n) == 1)
			break;
	fclose(f);
	return n;
}

int
dsa_emu_enter_namespace(char *why, size_t whylen)
{
	if (why && whylen)
		why[0] = '\0';
	if (g_ns_entered)
		return 0;

	if (unshare(CLONE_NEWNS)) {
		int e = errno;
		int thr = threads_of_self();
		set_why(why, whylen, "unshare(CLONE_NEWNS): %s%s", strerror(e),
			e == EPERM ? " (needs root / CAP_SYS_ADMIN)"
			: (e == EINVAL && thr > 1) ? " (process already has several threads)" : "");
		return -1;
	}
	/*
	 * Only the mounts we mount on (the ones holding /sys/bus and /dev)
	 * become private, in this namespace: "/" need not be a mount point
	 * (a chroot), and nothing we mount propagates to the host.
	 */
	static const char *const targets[] = { "/sys/bus", "/dev" };
	for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
		char mp[PATH_MAX];
		if (containing_mount(targets[i], mp, sizeof(mp))) {
			set_why(why, whylen, "reading /proc/self/mountinfo: %s", strerror(errno));
			return -1;
		}
		if (!mp[0]) {
			set_why(why, whylen,
				"%s is on no mount visible here (a chroot whose / is not a mount point, "
				"without its own %s mount): mounting there would show on the host; "
				"mount sysfs on /sys and bind /dev into the chroot",
				targets[i], i ? "/dev" : "/sys");
			return -1;
		}
		if (mount("none", mp, "none", MS_REC | MS_PRIVATE, NULL)) {
			set_why(why, whylen, "making the mount on %s private: %s", mp, strerror(errno));
			return -1;
		}
	}
	if (mount("dsa_emu_sys", "/sys/bus", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  "mode=0755,size=16m")) {
		set_why(why, whylen, "mounting tmpfs on /sys/bus: %s", strerror(errno));
		return -1;
	}

	/*
	 * /dev: overlay with lower = the current /dev, upper and work dirs on a
	 * tmpfs stacked on /dev itself (reached through /proc/self/fd, so no
	 * directory outside is needed).  The overlay does not show submounts
	 * of the lower /dev (pts, shm, mqueue...): bind them again.
	 */
	struct submount *subs = NULL;
	size_t nsubs = 0;
	int olddev = -1, tmpdev = -1, ret = -1;
	if (dev_submounts(&subs, &nsubs)) {
		set_why(why, whylen, "reading /proc/self/mountinfo: %s", strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < nsubs; i++)
		subs[i].fd = open(subs[i].path, O_PATH | O_CLOEXEC | O_NOFOLLOW);
	olddev = open("/dev", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (olddev < 0) {
		set_why(why, whylen, "open /dev: %s", strerror(errno));
		goto out;
	}
	if (mount("dsa_emu_dev", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=16m")) {
		set_why(why, whylen, "mounting tmpfs on /dev: %s", strerror(errno));
		goto out;
	}
	if (mkdir("/dev/upper", 0755) || mkdir("/dev/work", 0755)) {
		set_why(why, whylen, "mkdir in the /dev tmpfs: %s", strerror(errno));
		goto out;
	}
	tmpdev = open("/dev", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (tmpdev < 0) {
		set_why(why, whylen, "open /dev tmpfs: %s", strerror(errno));
		goto out;
	}
	char opts[256];
	snprintf(opts, sizeof(opts),
		 "lowerdir=/proc/self/fd/%d,upperdir=/proc/self/fd/%d/upper,workdir=/proc/self/fd/%d/work",
		 olddev, tmpdev, tmpdev);
	if (mount("dsa_emu_overlay", "/dev", "overlay", MS_NOSUID, opts)) {
		set_why(why, whylen, "mounting an overlay on /dev: %s", strerror(errno));
		goto out;
	}
	for (size_t i = 0; i < nsubs; i++) {
		char src[64];
		if (subs[i].fd < 0)
			continue;
		snprintf(src, sizeof(src), "/proc/self/fd/%d", subs[i].fd);
		if (mount(src, subs[i].path, "none", MS_BIND | MS_REC, NULL)) {
			set_why(why, whylen, "re-binding %s on the /dev overlay: %s", subs[i].path,
				strerror(errno));
			goto out;
		}
	}
	g_ns_entered = 1;
	ret = 0;
out:
	for (size_t i = 0; i < nsubs; i++)
		if (subs[i].fd >= 0)
			close(subs[i].fd);
	free(subs);
	if (olddev >= 0)
		close(olddev);
	if (tmpdev >= 0)
		close(tmpdev);
	return ret;
}

/* ------------------------------------------------------------------ */
/* memory checks */

/*
 * Scan [a, a + n) page by page: *first = offset (from a, >= 0) of the first
 * byte of the first bad page (n if none), *last_end = offset just past the
 * last bad page (0 if none).  Bad = unmapped, or not resident if nonres.
 */
static void
scan_range(uint64_t a, uint64_t n, int nonres, uint64_t *first, uint64_t *last_end)
{
	*first = n;
	*last_end = 0;
	if (n == 0)
		return;
	uint64_t n_all = n;
	if (a + n < a) { /* wraps: everything from the wrap point on is bad */
		n = 0 - a;
		*first = n;
		*last_end = n_all;
	}
	uint64_t start = a & ~(PAGE - 1);
	uint64_t end = a + n;
	unsigned char vec[512];
	for (uint64_t p = start; p < end;) {
		uint64_t chunk = end - p;
		if (chunk > sizeof(vec) * PAGE)
			chunk = sizeof(vec) * PAGE;
		uint64_t npages = (chunk + PAGE - 1) / PAGE;
		int r = mincore((void *)(uintptr_t)p, (size_t)(npages * PAGE), vec);
		for (uint64_t i = 0; i < npages; i++) {
			uint64_t pg = p + i * PAGE;
			int bad;
			if (r == 0) {
				bad = nonres && !(vec[i] & 1);
			} else {
				unsigned char v1;
				int r1 = mincore((void *)(uintptr_t)pg, (size_t)PAGE, &v1);
				bad = r1 != 0 || (nonres && !(v1 & 1));
			}
			if (!bad)
				continue;
			uint64_t off0 = pg > a ? pg - a : 0;
			uint64_t off1 = pg + PAGE - a;
			if (off1 > n)
				off1 = n;
			if (off0 < *first)
				*first = off0;
			if (off1 > *last_end)
				*last_end = off1;
		}
		p += npages * PAGE;
	}
}

/*
 * Linux >= 6.11 answers "which mapping covers or follows this address" with
 * an ioctl on /proc/self/maps (PROCMAP_QUERY, declared here for older
 * headers): one call per mapping of the range instead of reading the whole
 * file, which took tens of us per descriptor and made a round of 32 last
 * over 1 ms (the waiting runtime then woke on its timeout, not on the
 * completion).  Not under valgrind, which does not know the ioctl.
 */
struct emu_procmap_query {
	uint64_t size, query_flags, query_addr;
	uint64_t vma_start, vma_end, vma_flags, vma_page_size, vma_offset;
	uint64_t inode;
	uint32_t dev_major, dev_minor, vma_name_size, build_id_size;
	uint64_t vma_name_addr, build_id_addr;
};
#define EMU_PROCMAP_QUERY _IOWR('f', 17, struct emu_procmap_query)
#define EMU_PROCMAP_READABLE 0x01ULL
#define EMU_PROCMAP_WRITABLE 0x02ULL
#define EMU_PROCMAP_COVERING_OR_NEXT 0x10ULL

static int emu_maps_fd = -2; /* -2: not tried; -1: no ioctl */
static pthread_mutex_t emu_maps_lock = PTHREAD_MUTEX_INITIALIZER;

/* 1: done by the ioctl, 0: use the file */
static int
scan_noperm_query(uint64_t a, uint64_t n, uint64_t need, uint64_t *first, uint64_t *last_end)
{
	int ok = 1;

	pthread_mutex_lock(&emu_maps_lock);
	if (emu_maps_fd == -2) {
		const char *pre = getenv("LD_PRELOAD");
		emu_maps_fd = pre != NULL && strstr(pre, "vgpreload") != NULL ? -1 :
			open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	}
	for (uint64_t at = a; ok && emu_maps_fd >= 0 && at < a + n;) {
		struct emu_procmap_query q;
		memset(&q, 0, sizeof(q));
		q.size = sizeof(q);
		q.query_flags = EMU_PROCMAP_COVERING_OR_NEXT;
		q.query_addr = at;
		if (ioctl(emu_maps_fd, EMU_PROCMAP_QUERY, &q) != 0) {
			if (errno == ENOENT)
				break; /* no mapping at or after at */
			if (at == a) { /* no ioctl here: the file from now on */
				close(emu_maps_fd);
				emu_maps_fd = -1;
			}
			ok = 0;
			break;
		}
		if (q.vma_start >= a + n || q.vma_end <= at) {
			break;
		}
		if (!(q.vma_flags & need)) {
			uint64_t o0 = q.vma_start > a ? q.vma_start - a : 0;
			uint64_t o1 = q.vma_end - a < n ? q.vma_end - a : n;
			if (o0 < *first)
				*first = o0;
			if (o1 > *last_end)
				*last_end = o1;
		}
		at = q.vma_end;
	}
	if (emu_maps_fd < 0)
		ok = 0;
	pthread_mutex_unlock(&emu_maps_lock);
	return ok;
}

/*
 * This process: pages of [a, a + n) in mappings without the permission a
 * side needs (need: EMU_PROCMAP_READABLE or _WRITABLE) fault like unmapped
 * ones (a device write to a read-only page, a read of a PROT_NONE guard
 * page faults; the emulator must not crash on it).  Same outputs as
 * scan_range.
 */
static void
scan_noperm_self(uint64_t a, uint64_t n, uint64_t need, uint64_t *first, uint64_t *last_end)
{
	*first = n;
	*last_end = 0;
	if (n == 0 || a + n < a)
		return;
	if (scan_noperm_query(a, n, need, first, last_end))
		return;
	*first = n;
	*last_end = 0;
	FILE *f = fopen("/proc/self/maps", "re");
	if (!f)
		return;
	int col = need == EMU_PROCMAP_WRITABLE; /* of "rwxp": 'r' or 'w' */
	char line[512];
	while (fgets(line, sizeof(line), f)) {
		unsigned long long lo, hi;
		char perms[8];
		if (sscanf(line, "%llx-%llx %7s", &lo, &hi, perms) != 3)
			continue;
		if (lo >= a + n)
			break; /* sorted */
		if (hi <= a || perms[col] == "rw"[col]) /* it has the permission */
			continue;
		uint64_t o0 = lo > a ? lo - a : 0, o1 = hi - a < n ? hi - a : n;
		if (o0 < *first)
			*first = o0;
		if (o1 > *last_end)
			*last_end = o1;
	}
	fclose(f);
}

/* ---- another process' memory (dsa_emu_set_pid) ---- */

#define PM_PRESENT (1ULL << 63)
#define PM_SWAP (1ULL << 62)
#define PM_FILE_OR_SHARED (1ULL << 61)
#define PM_EXCLUSIVE (1ULL << 56)

/*
 * Remote pages the device would fault on, from /proc/PID/pagemap: not
 * present (if nonres), and for the write side (wside) private anonymous
 * pages mapped more than once or the zero page (present but read-only in
 * the page table: copy-on-write).  Unmapped pages show up when copying.
 */
static void
scan_remote(int pid, uint64_t a, uint64_t n, int nonres, int wside, uint64_t *first,
	    uint64_t *last_end)
{
	*first = n;
	*last_end = 0;
	if (n == 0 || !nonres || a + n < a)
		return;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	uint64_t start = a & ~(PAGE - 1), end = a + n;
	uint64_t ent[512];
	for (uint64_t p = start; p < end;) {
		uint64_t np = (end - p + PAGE - 1) / PAGE;
		if (np > 512)
			np = 512;
		ssize_t r = pread(fd, ent, (size_t)(np * 8), (off_t)(p / PAGE * 8));
		if (r <= 0)
			break;
		np = (uint64_t)r / 8;
		for (uint64_t i = 0; i < np; i++) {
			uint64_t e = ent[i], pg = p + i * PAGE;
			int bad = !(e & PM_PRESENT) ||
				  (wside && !(e & PM_FILE_OR_SHARED) && !(e & PM_EXCLUSIVE));
			if (!bad)
				continue;
			uint64_t o0 = pg > a ? pg - a : 0, o1 = pg + PAGE - a < n ? pg + PAGE - a : n;
			if (o0 < *first)
				*first = o0;
			if (o1 > *last_end)
				*last_end = o1;
		}
		p += np * PAGE;
	}
	close(fd);
}

/*
 * Copy between a local buffer and [ra, ra + n) of process pid; the remote
 * side is split at page boundaries, so a short count is where the first
 * page that could not be accessed starts.  Returns the bytes copied.
 */
static uint64_t
rcopy(int pid, int wr, uint64_t ra, void *buf, uint64_t n)
{
	uint64_t done = 0;
	while (done < n) {
		struct iovec loc, rem[64];
		int k = 0;
		uint64_t len = 0;
		while (k < 64 && done + len < n) {
			uint64_t a = ra + done + len;
			uint64_t c = PAGE - (a & (PAGE - 1));
			if (c > n - done - len)
				c = n - done - len;
			rem[k].iov_base = (void *)(uintptr_t)a;
			rem[k].iov_len = (size_t)c;
			k++;
			len += c;
		}
		loc.iov_base = (unsigned char *)buf + done;
		loc.iov_len = (size_t)len;
		ssize_t r = wr ? process_vm_writev(pid, &loc, 1, rem, (unsigned long)k, 0)
			       : process_vm_readv(pid, &loc, 1, rem, (unsigned long)k, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return done;
		}
		done += (uint64_t)r;
		if ((uint64_t)r < len)
			return done;
	}
	return done;
}

#define RCHUNK (64u * 1024)

/*
 * MEMMOVE in process pid, at most n bytes (ascending, or from the top if
 * desc).  Returns the bytes done; when < n, *wr / *faddr say where it faulted.
 */
static uint64_t
rmove(int pid, uint64_t src, uint64_t dst, uint64_t n, int desc, int *wr, uint64_t *faddr)
{
	static __thread unsigned char buf[RCHUNK];
	if (!desc) {
		for (uint64_t off = 0; off < n;) {
			uint64_t c = n - off < RCHUNK ? n - off : RCHUNK;
			uint64_t r = rcopy(pid, 0, src + off, buf, c);
			uint64_t wn = r ? rcopy(pid, 1, dst + off, buf, r) : 0;
			if (wn < c) {
				*wr = wn < r;
				*faddr = (*wr ? dst + off + wn : src + off + r) & ~(PAGE - 1);
				return off + wn;
			}
			off += c;
		}
		return n;
	}
	/* descending: pieces within one page of each side, from the top */
	uint64_t top = n;
	while (top > 0) {
		uint64_t lo_s = (src + top - 1) & ~(PAGE - 1), lo_d = (dst + top - 1) & ~(PAGE - 1);
		uint64_t b = 0;
		if (lo_s > src && lo_s - src > b)
			b = lo_s - src;
		if (lo_d > dst && lo_d - dst > b)
			b = lo_d - dst;
		uint64_t c = top - b;
		if (rcopy(pid, 0, src + b, buf, c) < c) {
			*wr = 0;
			*faddr = lo_s;
			return n - top;
		}
		if (rcopy(pid, 1, dst + b, buf, c) < c) {
			*wr = 1;
			*faddr = lo_d;
			return n - top;
		}
		top = b;
	}
	return n;
}

/* MEMFILL in process pid (wr = 1) or CFLUSH (only reads, wr = 0) */
static uint64_t
rfill(int pid, uint64_t dst, uint64_t n, uint64_t pattern, int fill, uint64_t *faddr)
{
	static __thread unsigned char buf[RCHUNK];
	if (fill)
		for (unsigned i = 0; i < RCHUNK; i += 8)
			memcpy(buf + i, &pattern, 8);
	for (uint64_t off = 0; off < n;) {
		uint64_t c = n - off < RCHUNK ? n - off : RCHUNK;
		uint64_t k = rcopy(pid, fill, dst + off, buf, c);
		if (k < c) {
			*faddr = (dst + off + k) & ~(PAGE - 1);
			return off + k;
		}
		off += c;
	}
	return n;
}

static int
emu_pid(const struct dsa_emu *emu)
{
	return __atomic_load_n(&emu->pid, __ATOMIC_ACQUIRE);
}

/* the device's view of the pages on one side of a descriptor */
static void
scan_side(struct emu_wq *w, uint64_t a, uint64_t n, int nonres, int wside, uint64_t *first,
	  uint64_t *last_end)
{
	int pid = emu_pid(w->emu);
	if (pid) {
		scan_remote(pid, a, n, nonres, wside, first, last_end);
		return;
	}
	scan_range(a, n, nonres, first, last_end);
	uint64_t f2, l2;
	scan_noperm_self(a, n, wside ? EMU_PROCMAP_WRITABLE : EMU_PROCMAP_READABLE, &f2, &l2);
	if (f2 < *first)
		*first = f2;
	if (l2 > *last_end)
		*last_end = l2;
	if (wside) {
		/* the zero page, copy-on-write pages shared with a child */
		if (nonres) {
			scan_remote(getpid(), a, n, nonres, 1, &f2, &l2);
			if (f2 < *first)
				*first = f2;
			if (l2 > *last_end)
				*last_end = l2;
		}
	}
}

static int
mapped(uint64_t a, uint64_t n)
{
	uint64_t f, l;
	scan_range(a, n, 0, &f, &l);
	return f == n;
}

/* ------------------------------------------------------------------ */
/* faults and stats */

enum stage { STAGE_INTAKE, STAGE_EXEC, STAGE_HALT };

static int
fault_applies(const struct dsa_hw_desc *d, enum dsa_emu_fault_kind k, enum stage stage)
{
	switch (k) {
	case DSA_EMU_FAULT_DROP:
	case DSA_EMU_FAULT_NO_COMPLETION:
	case DSA_EMU_FAULT_DELAY:
		return stage == STAGE_INTAKE;
	case DSA_EMU_FAULT_XFER_SIZE:
	case DSA_EMU_FAULT_INVALID_FLAGS:
	case DSA_EMU_FAULT_STATUS:
		return stage == STAGE_EXEC;
	case DSA_EMU_FAULT_PAGE_READ:
	case DSA_EMU_FAULT_PAGE_WRITE:
		return stage == STAGE_EXEC && d->xfer_size > 0 &&
		       (d->opcode == DSA_OPCODE_MEMMOVE || d->opcode == DSA_OPCODE_MEMFILL ||
			d->opcode == DSA_OPCODE_CFLUSH);
	case DSA_EMU_FAULT_BATCH_LIST:
		return stage == STAGE_EXEC && d->opcode == DSA_OPCODE_BATCH;
	case DSA_EMU_FAULT_HALT:
		return stage == STAGE_HALT;
	default:
		return 0;
	}
}

/* called with emu->lock held */
static int
fault_take_locked(struct emu_wq *w, const struct dsa_hw_desc *d, enum stage stage,
		  struct dsa_emu_fault *out)
{
	struct dsa_emu *emu = w->emu;
	for (int i = 0; i < MAX_FAULTS; i++) {
		struct emu_fault *f = &emu->faults[i];
		if (!f->active || !fault_applies(d, f->f.kind, stage))
			continue;
		if (f->f.op_mask && (d->opcode >= 64 || !(f->f.op_mask & (1ULL << d->opcode))))
			continue;
		if (f->f.wq_mask && (w->index >= 32 || !(f->f.wq_mask & (1u << w->index))))
			continue;
		if (f->skip) {
			f->skip--;
			continue;
		}
		*out = f->f;
		if (f->remaining > 0 && --f->remaining == 0)
			f->active = 0;
		w->st.faults_injected++;
		return 1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* execution */

struct rec {
	int aborted;	/* the device halted before it ran (no record, ever) */
	uint8_t status;
	uint8_t result;
	uint32_t bytes;
	uint64_t fault_addr;
	uint32_t invalid_flags;
};

static uint32_t
invalid_flag_bits(const struct emu_wq *w, unsigned op, uint32_t flags)
{
	uint64_t gc = w->emu->gen_cap;
	int v2 = w->emu->version >= 0x200;
	uint32_t ok = IDXD_OP_FLAG_CRAV | IDXD_OP_FLAG_RCR | IDXD_OP_FLAG_RCI | IDXD_OP_FLAG_CR_TCS;
	uint32_t bof = ((gc & 1) && w->bof) ? IDXD_OP_FLAG_BOF : 0;
	if (v2)
		ok |= IDXD_OP_FLAG_CRSTS;
	switch (op) {
	case DSA_OPCODE_NOOP:
		ok |= IDXD_OP_FLAG_FENCE | bof;
		break;
	case DSA_OPCODE_DRAIN:
		ok |= bof | 0x30000; /* readback address 1 / 2 valid */
		break;
	case DSA_OPCODE_BATCH:
		ok |= bof | IDXD_OP_FLAG_ADDR1_TCS;
		break;
	case DSA_OPCODE_MEMMOVE:
	case DSA_OPCODE_MEMFILL:
		ok |= IDXD_OP_FLAG_FENCE | bof | IDXD_OP_FLAG_ADDR1_TCS | IDXD_OP_FLAG_ADDR2_TCS |
		      IDXD_OP_FLAG_STORD;
		if (gc & (1u << 2))
			ok |= IDXD_OP_FLAG_CC;
		if (gc & (1u << 8))
			ok |= IDXD_OP_FLAG_DRDBK;
		if (v2)
			ok |= IDXD_OP_FLAG_DSTS;
		break;
	case DSA_OPCODE_CFLUSH:
		ok |= IDXD_OP_FLAG_FENCE | bof | IDXD_OP_FLAG_ADDR1_TCS | IDXD_OP_FLAG_ADDR2_TCS;
		if (gc & (1u << 3))
			ok |= IDXD_OP_FLAG_CC;
		break;
	default:
		break;
	}
	return flags & ~ok;
}

/* bytes 38..63 of these descriptors are reserved */
static int
reserved_nonzero(const struct dsa_hw_desc *d)
{
	const unsigned char *b = (const unsigned char *)d;
	for (int i = 38; i < 64; i++)
		if (b[i])
			return 1;
	return 0;
}

/* bytes done before an injected fault on the side starting at b */
static uint64_t
inj_done(const struct dsa_emu_fault *f, uint64_t b, uint64_t n, int desc)
{
	uint64_t want = f->bytes_done;
	if (want >= n)
		want = n - 1;
	if (f->exact)
		return want;
	if (!desc) {
		uint64_t pa = (b + want) & ~(PAGE - 1);
		return pa > b ? pa - b : 0;
	}
	uint64_t s = (b + n - want + PAGE - 1) & ~(PAGE - 1);
	return s < b + n ? b + n - s : 0;
}

/* ---- track_writes: destination ranges written since reset ---- */

/* first range with hi >= a (touching counts), in the sorted disjoint set */
static size_t
wr_find(const struct dsa_emu *emu, uint64_t a)
{
	size_t lo = 0, hi = emu->nwr;
	while (lo < hi) {
		size_t m = lo + (hi - lo) / 2;
		if (emu->wr[m].hi < a)
			lo = m + 1;
		else
			hi = m;
	}
	return lo;
}

/* bytes of [a, b) already in the set; called with emu->lock held */
static uint64_t
wr_overlap_locked(const struct dsa_emu *emu, uint64_t a, uint64_t b)
{
	uint64_t n = 0;
	for (size_t i = wr_find(emu, a); i < emu->nwr && emu->wr[i].lo < b; i++) {
		uint64_t lo = emu->wr[i].lo > a ? emu->wr[i].lo : a;
		uint64_t hi = emu->wr[i].hi < b ? emu->wr[i].hi : b;
		if (hi > lo)
			n += hi - lo;
	}
	return n;
}

/* the device wrote [a, a + n): count a rewrite, add it to the set */
static void
track_write(struct emu_wq *w, uint64_t a, uint64_t n)
{
	struct dsa_emu *emu = w->emu;
	if (!n || !__atomic_load_n(&emu->track, __ATOMIC_RELAXED))
		return;
	uint64_t b = a + n < a ? UINT64_MAX : a + n;
	pthread_mutex_lock(&emu->lock);
	uint64_t again = wr_overlap_locked(emu, a, b);
	if (again) {
		w->st.rewrites++;
		w->st.rewrite_bytes += again;
	}
	/* replace the ranges touching [a, b) by their union */
	size_t i0 = wr_find(emu, a), i1 = i0;
	while (i1 < emu->nwr && emu->wr[i1].lo <= b)
		i1++;
	if (i1 > i0) {
		if (emu->wr[i0].lo < a)
			a = emu->wr[i0].lo;
		if (emu->wr[i1 - 1].hi > b)
			b = emu->wr[i1 - 1].hi;
	} else if (emu->nwr == emu->capwr) {
		size_t cap = emu->capwr ? emu->capwr * 2 : 256;
		struct wrange *nw = realloc(emu->wr, cap * sizeof(*nw));
		if (!nw) {
			emu_err("track_writes: out of memory, range not recorded");
			pthread_mutex_unlock(&emu->lock);
			return;
		}
		emu->wr = nw;
		emu->capwr = cap;
	}
	if (i1 != i0 + 1)
		memmove(&emu->wr[i0 + 1], &emu->wr[i1], (emu->nwr - i1) * sizeof(*emu->wr));
	emu->nwr = emu->nwr + 1 - (i1 - i0);
	emu->wr[i0].lo = a;
	emu->wr[i0].hi = b;
	pthread_mutex_unlock(&emu->lock);
}

static int
dev_halted(const struct emu_wq *w)
{
	return __atomic_load_n(&w->emu->halted[w->dev], __ATOMIC_ACQUIRE);
}

static int halt_device(struct dsa_emu *emu, unsigned dev, int halt);
static void catch_up_locked(struct dsa_emu *emu, struct emu_wq *w);

static int intake(struct emu_wq *w);

/*
 * Sleep while far (timer slack is 1 µs on WQ threads), then spin; -1 if
 * the device halts meanwhile (halt_too) or the emulator stops.  Meanwhile
 * the WQ keeps taking descriptors, so they are queued (and ready) when
 * they were written, not when this thread is done.  The caller holds no
 * queue entry: process_ready() copied the one that runs.
 */
static int
wait_until(struct emu_wq *w, uint64_t end, int halt_too)
{
	for (;;) {
		if ((halt_too && dev_halted(w)) || __atomic_load_n(&w->emu->stop, __ATOMIC_ACQUIRE))
			return -1;
		intake(w);
		uint64_t now = now_ns();
		if (now >= end)
			return 0;
		if (end - now > 30000)
			sleep_ns(end - now - 20000 < 50000 ? end - now - 20000 : 50000);
		else
			cpu_relax();
	}
}

/*
 * Before a descriptor runs: a HALT fault halts the device; then it waits
 * for its turn on the device's pipe (bytes_per_us).  Returns -1 when the
 * device is halted (or the emulator stops) before it could start: it never
 * runs.  *end = when its transfer is over (0: no speed limit): the caller
 * runs it, then waits until then (pace_end), so the emulator's own copy
 * time is part of the transfer time, and a descriptor that started ends.
 */
static int
pace(struct emu_wq *w, const struct dsa_hw_desc *d, uint64_t *end_out)
{
	struct dsa_emu *emu = w->emu;
	struct dsa_emu_fault f;
	pthread_mutex_lock(&emu->lock);
	int hit = fault_take_locked(w, d, STAGE_HALT, &f);
	pthread_mutex_unlock(&emu->lock);
	if (hit)
		halt_device(emu, w->dev, 1);
	*end_out = 0;
	if (dev_halted(w))
		return -1;
	unsigned bpus = __atomic_load_n(&emu->speed[w->dev], __ATOMIC_RELAXED);
	if (!bpus || d->xfer_size == 0 ||
	    (d->opcode != DSA_OPCODE_MEMMOVE && d->opcode != DSA_OPCODE_MEMFILL &&
	     d->opcode != DSA_OPCODE_CFLUSH))
		return 0;
	/*
	 * The device starts it when its pipe is free and the descriptor was
	 * ready (queued, delay_us over, WQ not paused), not when this thread
	 * got to it: a thread woken late catches up instead of slowing the
	 * device down.
	 */
	uint64_t t = (uint64_t)d->xfer_size * 1000 / bpus;
	uint64_t from = w->cur_ready, res = __atomic_load_n(&w->resumed_ns, __ATOMIC_ACQUIRE);
	if (res > from)
		from = res;
	pthread_mutex_lock(&emu->lock);
	uint64_t start = emu->dev_busy[w->dev] > from ? emu->dev_busy[w->dev] : from;
	emu->dev_busy[w->dev] = start + t;
	pthread_mutex_unlock(&emu->lock);
	*end_out = start + t;
	return wait_until(w, start, 1);
}

static void
stat_add_bytes(struct emu_wq *w, uint64_t n, int blocked, int pf)
{
	pthread_mutex_lock(&w->emu->lock);
	w->st.bytes += n;
	w->st.faults_blocked += (uint64_t)blocked;
	w->st.page_faults += (uint64_t)pf;
	pthread_mutex_unlock(&w->emu->lock);
}

/*
 * Common part of MEMMOVE / MEMFILL / CFLUSH: find the first page fault
 * (natural or injected).  The read side is src (MEMMOVE only, has_src), the
 * other side is dst (a write side unless CFLUSH).  Returns the bytes done
 * (from the start, or from the top if desc); when < n, *wr says whether the
 * fault is on the write side and *faddr is the page of the next byte.
 */
static uint64_t
fault_point(struct emu_wq *w, const struct dsa_hw_desc *d, const struct dsa_emu_fault *inj,
	    int has_src, uint64_t src, uint64_t dst, uint64_t n, int desc, int dst_is_write,
	    int *wr, uint64_t *faddr, int *blocked)
{
	int nonres = w->emu->fault_nonresident && !(d->flags & IDXD_OP_FLAG_BOF);
	uint64_t done = n, base = dst, f1, l1, t;
	*blocked = 0;
	*wr = 0;
	if (has_src) {
		scan_side(w, src, n, nonres, 0, &f1, &l1);
		t = desc ? n - l1 : f1;
		if (t < done) {
			done = t;
			base = src;
			*wr = 0;
		}
	}
	scan_side(w, dst, n, nonres, dst_is_write, &f1, &l1);
	t = desc ? n - l1 : f1;
	if (t < done) {
		done = t;
		base = dst;
		*wr = dst_is_write;
	}
	if (inj && (inj->kind == DSA_EMU_FAULT_PAGE_READ || inj->kind == DSA_EMU_FAULT_PAGE_WRITE)) {
		if (d->flags & IDXD_OP_FLAG_BOF) {
			*blocked = 1; /* the device waits for the fault to be resolved */
		} else {
			int rd = inj->kind == DSA_EMU_FAULT_PAGE_READ && has_src;
			uint64_t b = rd ? src : dst;
			t = inj_done(inj, b, n, desc);
			if (t < done) {
				done = t;
				base = b;
				*wr = rd ? 0 : d->opcode == DSA_OPCODE_MEMFILL ? 1
					: inj->kind == DSA_EMU_FAULT_PAGE_WRITE;
			}
		}
	}
	if (done < n)
		*faddr = desc ? ((base + n - done - 1) & ~(PAGE - 1)) : ((base + done) & ~(PAGE - 1));
	return done;
}

/* bit `bit` of CPUID.(7,0):EBX (ebx != 0) or ECX */
static int
cpuid7_bit(int ebx, unsigned bit)
{
	unsigned a, b, c, d;

	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
		return 0;
	return ((ebx ? b : c) >> bit) & 1;
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("clflushopt"))) static void
flush_lines_opt(const unsigned char *p, size_t n)
{
	for (uintptr_t a = (uintptr_t)p & ~(uintptr_t)63; a < (uintptr_t)p + n; a += 64)
		_mm_clflushopt((void *)a);
}
#endif

/* no_cache_fill: n bytes from src to dst (not overlapping), leaving neither
 * in this CPU's caches (non-temporal stores, the source flushed) */
static void
copy_uncached(unsigned char *dst, const unsigned char *src, size_t n)
{
#if defined(__x86_64__) || defined(__i386__)
	static int opt = -1;
	size_t i = (size_t)(-(uintptr_t)dst & 15);

	if (i > n)
		i = n;
	memcpy(dst, src, i);
	for (; i + 16 <= n; i += 16)
		_mm_stream_si128((__m128i *)(void *)(dst + i),
				 _mm_loadu_si128((const __m128i *)(const void *)(src + i)));
	memcpy(dst + i, src + i, n - i);
	_mm_sfence();
	if (__atomic_load_n(&opt, __ATOMIC_RELAXED) < 0)
		__atomic_store_n(&opt, cpuid7_bit(1, 23), __ATOMIC_RELAXED);
	if (__atomic_load_n(&opt, __ATOMIC_RELAXED))
		flush_lines_opt(src, n);
	else
		for (uintptr_t a = (uintptr_t)src & ~(uintptr_t)63; a < (uintptr_t)src + n; a += 64)
			_mm_clflush((const void *)a);
#else
	memcpy(dst, src, n);
#endif
}

static void
exec_memmove(struct emu_wq *w, const struct dsa_hw_desc *d, const struct dsa_emu_fault *inj,
	     struct rec *r)
{
	uint64_t src = d->src_addr, dst = d->dst_addr, n = d->xfer_size;
	int overlap = src < dst + n && dst < src + n;
	if (overlap && !(w->emu->gen_cap & 2)) {
		r->status = DSA_COMP_OVERLAP_BUFFERS;
		return;
	}
	int desc = overlap && dst > src;
	int wr = 0, blocked;
	uint64_t faddr = 0;
	uint64_t done = fault_point(w, d, inj, 1, src, dst, n, desc, 1, &wr, &faddr, &blocked);
	int pid = emu_pid(w->emu);
	if (pid) {
		int wr2 = 0;
		uint64_t fa2 = 0, d2 = rmove(pid, src, dst, done, desc, &wr2, &fa2);
		if (d2 < done) {
			done = d2;
			wr = wr2;
			faddr = fa2;
		}
	} else if (done) {
		if (!overlap && w->emu->no_cache_fill)
			copy_uncached((unsigned char *)(uintptr_t)dst,
				      (const unsigned char *)(uintptr_t)src, (size_t)done);
		else if (!desc)
			memmove((void *)(uintptr_t)dst, (const void *)(uintptr_t)src, (size_t)done);
		else
			memmove((void *)(uintptr_t)(dst + n - done),
				(const void *)(uintptr_t)(src + n - done), (size_t)done);
	}
	r->result = (uint8_t)desc;
	track_write(w, desc ? dst + n - done : dst, done);
	if (done < n) {
		r->status = DSA_COMP_PAGE_FAULT_NOBOF | (wr ? DSA_COMP_STATUS_WRITE : 0);
		r->bytes = (uint32_t)done;
		r->fault_addr = faddr;
	} else {
		r->status = DSA_COMP_SUCCESS;
	}
	stat_add_bytes(w, done, blocked, done < n);
}

static void
fill_pattern(unsigned char *dst, uint64_t n, uint64_t pattern)
{
	unsigned char pat[8];
	memcpy(pat, &pattern, 8);
	int same = 1;
	for (int i = 1; i < 8; i++)
		same &= pat[i] == pat[0];
	if (same) {
		memset(dst, pat[0], (size_t)n);
		return;
	}
	uint64_t k = n < 8 ? n : 8;
	memcpy(dst, pat, (size_t)k);
	while (k < n) {
		uint64_t c = k < n - k ? k : n - k;
		memcpy(dst + k, dst, (size_t)c);
		k += c;
	}
}

static void
exec_memfill(struct emu_wq *w, const struct dsa_hw_desc *d, const struct dsa_emu_fault *inj,
	     struct rec *r)
{
	uint64_t dst = d->dst_addr, n = d->xfer_size;
	int wr = 1, blocked;
	uint64_t faddr = 0;
	uint64_t done = fault_point(w, d, inj, 0, 0, dst, n, 0, 1, &wr, &faddr, &blocked);
	(void)wr;
	int pid = emu_pid(w->emu);
	if (pid) {
		uint64_t fa2 = 0, d2 = rfill(pid, dst, done, d->pattern, 1, &fa2);
		if (d2 < done) {
			done = d2;
			faddr = fa2;
		}
	} else if (done) {
		fill_pattern((unsigned char *)(uintptr_t)dst, done, d->pattern);
	}
	track_write(w, dst, done);
	if (done < n) {
		r->status = DSA_COMP_PAGE_FAULT_NOBOF | DSA_COMP_STATUS_WRITE;
		r->bytes = (uint32_t)done;
		r->fault_addr = faddr;
	} else {
		r->status = DSA_COMP_SUCCESS;
	}
	stat_add_bytes(w, done, blocked, done < n);
}

static void
exec_cflush(struct emu_wq *w, const struct dsa_hw_desc *d, const struct dsa_emu_fault *inj,
	    struct rec *r)
{
	uint64_t dst = d->dst_addr, n = d->xfer_size;
	int wr = 0, blocked;
	uint64_t faddr = 0;
	uint64_t done = fault_point(w, d, inj, 0, 0, dst, n, 0, 0, &wr, &faddr, &blocked);
	int pid = emu_pid(w->emu);
	if (pid) {
		uint64_t fa2 = 0, d2 = rfill(pid, dst, done, 0, 0, &fa2);
		if (d2 < done) {
			done = d2;
			wr = 0;
			faddr = fa2;
		}
	}
	if (done < n) {
		r->status = DSA_COMP_PAGE_FAULT_NOBOF | (wr ? DSA_COMP_STATUS_WRITE : 0);
		r->bytes = (uint32_t)done;
		r->fault_addr = faddr;
	} else {
		r->status = DSA_COMP_SUCCESS;
	}
	stat_add_bytes(w, done, blocked, done < n);
}

static int exec_with_record(struct emu_wq *w, const struct dsa_hw_desc *d, int in_batch,
			    int *rejected);
static void swerr_locked(struct emu_wq *w, const struct dsa_hw_desc *d);

/* the WQ thread's next pseudo-random number (splitmix64) */
static uint64_t
order_next(struct emu_wq *w)
{
	uint64_t z = (w->order_rng += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/*
 * The order the n members of list run in (batch_order): ord[k] = the list
 * index of the k-th to run.  A fenced member waits for every member
 * before it, and none after it starts before it (the device dispatches
 * in list order): a fence starts a run that runs after the one before
 * it, the fenced member first; the others of a run are reordered, and
 * a shuffle that left them in list order swaps two (any prefix of the
 * plan that holds a whole run is then out of order: a halt cannot hide
 * the order).
 */
static void
batch_plan(struct emu_wq *w, const struct dsa_hw_desc *list, uint32_t n, uint32_t *ord)
{
	int how = w->emu->batch_order;

	for (uint32_t i = 0; i < n; i++)
		ord[i] = i;
	if (how != DSA_EMU_BATCH_REVERSE && how != DSA_EMU_BATCH_SHUFFLE)
		return;
	for (uint32_t s = 0; s < n;) {
		uint32_t e = s + 1;
		while (e < n && !(list[e].flags & IDXD_OP_FLAG_FENCE))
			e++;
		/* [a, e) may be reordered */
		uint32_t a = (list[s].flags & IDXD_OP_FLAG_FENCE) ? s + 1 : s;
		if (e - a >= 2) {
			int moved = 0;
			if (how == DSA_EMU_BATCH_REVERSE) {
				for (uint32_t i = a, j = e - 1; i < j; i++, j--) {
					uint32_t t = ord[i];
					ord[i] = ord[j];
					ord[j] = t;
				}
			} else {
				for (uint32_t i = e - 1; i > a; i--) {
					uint32_t j = a + (uint32_t)(order_next(w) % (i - a + 1));
					uint32_t t = ord[i];
					ord[i] = ord[j];
					ord[j] = t;
				}
				for (uint32_t i = a; i < e; i++)
					moved |= ord[i] != i;
				if (!moved) {
					ord[a] = a + 1;
					ord[a + 1] = a;
				}
			}
		}
		s = e;
	}
}

/* the last batch ran the members ord[0 .. ran) of its list: record it */
static void
batch_record(struct emu_wq *w, const uint32_t *ord, uint32_t ran)
{
	struct dsa_emu *emu = w->emu;
	int reordered = 0;

	for (uint32_t k = 0; k < ran; k++)
		reordered |= ord[k] != k;
	pthread_mutex_lock(&emu->lock);
	for (uint32_t k = 0; k < ran; k++)
		w->bord[k] = ord[k];
	w->nbord = ran;
	w->bord_seq = ++emu->seq;
	w->st.batch_reordered += (uint64_t)reordered;
	pthread_mutex_unlock(&emu->lock);
}

static void
exec_batch(struct emu_wq *w, const struct dsa_hw_desc *d, const struct dsa_emu_fault *inj,
	   struct rec *r)
{
	uint32_t cnt = d->desc_count;
	uint64_t list = d->desc_list_addr;
	if (cnt < 2 || cnt > w->max_batch) {
		r->status = DSA_COMP_DESC_CNT_ERANGE;
		return;
	}
	if (list & 63) {
		r->status = DSA_COMP_DESCLIST_ALIGN;
		return;
	}
	/*
	 * The list read at once, as far as it can be (the device fetches it
	 * before it dispatches), then its members in the order batch_plan
	 * picks.
	 */
	uint64_t first_bad, l;
	int pid = emu_pid(w->emu);
	struct dsa_hw_desc *rlist = (struct dsa_hw_desc *)(void *)w->blist;
	uint32_t *ord = (uint32_t *)(void *)(rlist + w->max_batch);
	if (pid) {
		first_bad = rcopy(pid, 0, list, rlist, (uint64_t)cnt * 64);
		first_bad -= first_bad % 64;
	} else {
		scan_range(list, (uint64_t)cnt * 64, 0, &first_bad, &l);
	}
	uint32_t stop_at = cnt;
	uint64_t faddr = 0;
	if (first_bad < (uint64_t)cnt * 64) {
		stop_at = (uint32_t)(first_bad / 64);
		faddr = (list + first_bad) & ~(PAGE - 1);
	}
	if (inj && inj->kind == DSA_EMU_FAULT_BATCH_LIST) {
		uint32_t at = inj->bytes_done < cnt ? inj->bytes_done : cnt - 1;
		if (at < stop_at) {
			stop_at = at;
			faddr = (list + (uint64_t)at * 64) & ~(PAGE - 1);
		}
	}
	if (!pid && stop_at)
		memcpy(rlist, (const void *)(uintptr_t)list, (size_t)stop_at * 64);
	batch_plan(w, rlist, stop_at, ord);
	uint32_t ok = 0;
	int failed = 0;
	uint32_t k;
	for (k = 0; k < stop_at; k++) {
		const struct dsa_hw_desc *sub = &rlist[ord[k]];
		/* a fenced member runs after all before it: if one of them
		 * failed, it and the rest (all after it in the list) are
		 * abandoned */
		if ((sub->flags & IDXD_OP_FLAG_FENCE) && failed)
			break;
		chaos(16);
		int rej = 0;
		int st = exec_with_record(w, sub, 1, &rej);
		if (st < 0) {
			/* the device halted: this member and the rest never run */
			batch_record(w, ord, k);
			pthread_mutex_lock(&w->emu->lock);
			w->st.halted_members += cnt - k;
			pthread_mutex_unlock(&w->emu->lock);
			r->aborted = 1;
			return;
		}
		if (st == DSA_COMP_SUCCESS || st == DSA_COMP_SUCCESS_PRED)
			ok++;
		else
			failed = 1;
	}
	batch_record(w, ord, k);
	r->bytes = ok;
	if (stop_at < cnt && k == stop_at) {
		r->status = DSA_COMP_BATCH_PAGE_FAULT;
		r->fault_addr = faddr;
		pthread_mutex_lock(&w->emu->lock);
		w->st.page_faults++;
		pthread_mutex_unlock(&w->emu->lock);
	} else {
		r->status = failed ? DSA_COMP_BATCH_FAIL : DSA_COMP_SUCCESS;
	}
}

static void
execute(struct emu_wq *w, const struct dsa_hw_desc *d, int in_batch, struct rec *r)
{
	unsigned op = d->opcode;
	uint32_t flags = d->flags;
	memset(r, 0, sizeof(*r));

	pthread_mutex_lock(&w->emu->lock);
	w->st.ops[op & 0xff]++;
	if (in_batch)
		w->st.batch_members++;
	w->st.last_flags = flags;
	w->last_seq = ++w->emu->seq;
	w->st.last_opcode = (uint8_t)op;
	w->st.last_xfer_size = d->xfer_size;
	w->st.flags_or |= flags;
	w->st.flag_cc += !!(flags & IDXD_OP_FLAG_CC);
	w->st.flag_drdbk += !!(flags & IDXD_OP_FLAG_DRDBK);
	w->st.flag_bof += !!(flags & IDXD_OP_FLAG_BOF);
	w->st.flag_fence += !!(flags & IDXD_OP_FLAG_FENCE);
	struct dsa_emu_fault inj;
	int have_inj = fault_take_locked(w, d, STAGE_EXEC, &inj);
	pthread_mutex_unlock(&w->emu->lock);

	if (have_inj) {
		switch (inj.kind) {
		case DSA_EMU_FAULT_XFER_SIZE:
			r->status = DSA_COMP_XFER_ERANGE;
			return;
		case DSA_EMU_FAULT_INVALID_FLAGS:
			r->status = DSA_COMP_INVALID_FLAGS;
			r->invalid_flags = (inj.invalid_flags ? inj.invalid_flags : flags) & 0xffffff;
			return;
		case DSA_EMU_FAULT_STATUS:
			r->status = inj.status;
			r->bytes = inj.bytes_done;
			r->fault_addr = inj.fault_addr;
			return;
		default:
			break;
		}
	}

	switch (op) {
	case DSA_OPCODE_NOOP:
	case DSA_OPCODE_DRAIN:
	case DSA_OPCODE_MEMMOVE:
	case DSA_OPCODE_MEMFILL:
	case DSA_OPCODE_CFLUSH:
	case DSA_OPCODE_BATCH:
		break;
	default:
		r->status = DSA_COMP_BAD_OPCODE;
		return;
	}
	if (in_batch && (op == DSA_OPCODE_BATCH || op == DSA_OPCODE_DRAIN)) {
		r->status = DSA_COMP_BAD_OPCODE;
		return;
	}
	uint32_t bad = invalid_flag_bits(w, op, flags);
	if (bad) {
		r->status = DSA_COMP_INVALID_FLAGS;
		r->invalid_flags = bad & 0xffffff;
		return;
	}
	if (op != DSA_OPCODE_DRAIN && reserved_nonzero(d)) {
		r->status = DSA_COMP_NOZERO_RESERVE;
		return;
	}
	const struct dsa_emu_fault *pinj = have_inj ? &inj : NULL;
	switch (op) {
	case DSA_OPCODE_NOOP:
	case DSA_OPCODE_DRAIN:
		/* in-order single engine: everything before is complete */
		r->status = DSA_COMP_SUCCESS;
		return;
	case DSA_OPCODE_BATCH:
		exec_batch(w, d, pinj, r);
		return;
	default:
		break;
	}
	if (d->xfer_size == 0 || d->xfer_size > w->max_xfer) {
		r->status = DSA_COMP_XFER_ERANGE;
		return;
	}
	if (op == DSA_OPCODE_MEMMOVE)
		exec_memmove(w, d, pinj, r);
	else if (op == DSA_OPCODE_MEMFILL)
		exec_memfill(w, d, pinj, r);
	else
		exec_cflush(w, d, pinj, r);
}

static void
write_record(int pid, uint64_t ca, const struct rec *r)
{
	if (pid) {
		/* another process: the fields, then the status byte alone */
		struct dsa_completion_record c;
		memset(&c, 0, sizeof(c));
		if (rcopy(pid, 0, ca, &c, sizeof(c)) != sizeof(c))
			return;
		c.result = r->result;
		c.bytes_completed = r->bytes;
		c.fault_addr = r->fault_addr;
		if ((r->status & DSA_COMP_STATUS_MASK) == DSA_COMP_INVALID_FLAGS)
			c.invalid_flags = r->invalid_flags;
		rcopy(pid, 1, ca + 1, (unsigned char *)&c + 1, sizeof(c) - 1);
		c.status = r->status;
		rcopy(pid, 1, ca, &c, 1);
		return;
	}
	struct dsa_completion_record *cr = (struct dsa_completion_record *)(uintptr_t)ca;
	/* a POLLER watches the record's first 8 bytes with one atomic load:
	 * store its fields atomically too */
	__atomic_store_n(&cr->result, r->result, __ATOMIC_RELAXED);
	/* the struct is packed, but the record is 32-byte aligned */
	__atomic_store_n((uint32_t *)(void *)((unsigned char *)cr +
		offsetof(struct dsa_completion_record, bytes_completed)),
		r->bytes, __ATOMIC_RELAXED);
	cr->fault_addr = r->fault_addr;
	if ((r->status & DSA_COMP_STATUS_MASK) == DSA_COMP_INVALID_FLAGS)
		cr->invalid_flags = r->invalid_flags;
	/* status last, release: the client polls it with acquire loads */
	__atomic_store_n(&cr->status, r->status, __ATOMIC_RELEASE);
}

/*
 * Validate the completion record address, execute, write the record.  The
 * statistics are updated before the status store, so a client that saw its
 * completion also sees it counted.  Returns the status (0 if the descriptor
 * could not be executed: *rejected; -1 if the device halted before it
 * ran).  Top-level descriptors are counted as
 * processed here.
 */
static int
exec_with_record(struct emu_wq *w, const struct dsa_hw_desc *d, int in_batch, int *rejected)
{
	struct dsa_emu *emu = w->emu;
	uint64_t ca = d->completion_addr;
	int pid = emu_pid(emu);
	uint8_t rbuf[32];
	*rejected = 0;
	if (!(d->flags & IDXD_OP_FLAG_CRAV) || ca == 0 || (ca & 31) ||
	    (pid ? rcopy(pid, 0, ca, rbuf, 32) != 32 : !mapped(ca, 32))) {
		/* hardware would report a software error: nothing to complete */
		*rejected = 1;
		pthread_mutex_lock(&emu->lock);
		swerr_locked(w, d);
		w->st.last_flags = d->flags;
		w->last_seq = ++emu->seq;
		w->st.last_opcode = (uint8_t)d->opcode;
		w->st.flags_or |= d->flags;
		if (!in_batch) {
			w->st.rejected++;
			w->st.processed++;
			w->st.inflight = w->qcount;
			pthread_cond_broadcast(&emu->cond);
		}
		pthread_mutex_unlock(&emu->lock);
		return 0;
	}
	/* pairs with the client's release store of status = 0 before submission */
	uint8_t before = pid ? rbuf[0] : emu->no_record_check ? 0
			 : __atomic_load_n(&((struct dsa_completion_record *)(uintptr_t)ca)->status,
					   __ATOMIC_ACQUIRE);
	struct rec r;
	uint64_t end;
	memset(&r, 0, sizeof(r));
	if (pace(w, d, &end) == 0) {
		execute(w, d, in_batch, &r);
		if (end)
			wait_until(w, end, 0);
	} else {
		r.aborted = 1;
	}
	if (r.aborted) {
		/* halted before (or, a batch, while) it ran: no record, ever */
		if (in_batch)
			return -1;
		pthread_mutex_lock(&emu->lock);
		w->st.swallowed++;
		w->st.processed++;
		w->st.inflight = w->qcount;
		pthread_cond_broadcast(&emu->cond);
		pthread_mutex_unlock(&emu->lock);
		return -1;
	}
	int write = (d->flags & IDXD_OP_FLAG_RCR) || r.status != DSA_COMP_SUCCESS;
	pthread_mutex_lock(&emu->lock);
	if (before)
		w->st.cr_not_zero++;
	if (write) {
		w->st.last_status = r.status;
		w->st.records++;
		if (in_batch)
			w->st.member_records++;
	}
	if (!in_batch) {
		w->st.completed++;
		if (r.status != DSA_COMP_SUCCESS && r.status != DSA_COMP_SUCCESS_PRED)
			w->st.errors++;
		w->st.processed++;
		w->st.inflight = w->qcount;
		w->publishing = write;
		if (!write)
			pthread_cond_broadcast(&emu->cond);
	}
	pthread_mutex_unlock(&emu->lock);
	if (write) {
		chaos(16);
		write_record(pid, ca, &r);
		if (!in_batch) {
			pthread_mutex_lock(&emu->lock);
			w->publishing = 0;
			pthread_cond_broadcast(&emu->cond);
			pthread_mutex_unlock(&emu->lock);
		}
	}
	return r.status;
}

static void
execute_top(struct emu_wq *w, const struct qent *e)
{
	struct dsa_emu *emu = w->emu;
	if (e->swallow) {
		pthread_mutex_lock(&emu->lock);
		w->st.swallowed++;
		w->st.processed++;
		w->st.inflight = w->qcount;
		pthread_cond_broadcast(&emu->cond);
		pthread_mutex_unlock(&emu->lock);
		return;
	}
	int rej;
	w->cur_ready = e->ready_ns;
	exec_with_record(w, &e->d, 0, &rej);
}

/*
 * Record a software error in the device's SWERR register, shown by the
 * kernel as sysfs "errors" (4 qwords): valid (bit 0), overflow (bit 1, an
 * error while one was pending), desc_valid (2), wq_idx_valid (3), the WQ in
 * bits 23:16, the descriptor's opcode in bits 39:32; the error code (bits
 * 15:8) is not modelled (0).  Called with emu->lock held.
 */
static void
swerr_locked(struct emu_wq *w, const struct dsa_hw_desc *d)
{
	struct dsa_emu *emu = w->emu;
	uint64_t *r = emu->swerr[w->dev];
	w->st.swerrs++;
	if (r[0] & 1) {
		r[0] |= 2;
	} else {
		r[0] = 1 | 8 | ((uint64_t)w->id << 16);
		if (d)
			r[0] |= 4 | ((uint64_t)d->opcode << 32);
		r[1] = r[2] = r[3] = 0;
	}
	char dir[128];
	snprintf(dir, sizeof(dir), EMU_SYSFS_DEVICES "/dsa%u", w->dev);
	attr(dir, "errors", "0x%016llx 0x%016llx 0x%016llx 0x%016llx", (unsigned long long)r[0],
	     (unsigned long long)r[1], (unsigned long long)r[2], (unsigned long long)r[3]);
}

/* how a descriptor arrives */
enum via { VIA_PORTAL = 0, VIA_WRITE = 1, VIA_ENQCMD = 2 };

/* entries holding a slot of the WQ: those no later one overtook */
static unsigned
occupied(const struct emu_wq *w)
{
	unsigned i, n = 0;

	for (i = 0; i < w->qcount; i++)
		if (w->q[(w->qhead + i) % w->qcap].seq > w->done_seq)
			n++;
	return n;
}

/* a descriptor arrives at the WQ */
static void
accept_desc(struct emu_wq *w, const struct dsa_hw_desc *d, int via_write)
{
	struct dsa_emu *emu = w->emu;
	struct dsa_emu_fault f;
	uint64_t *disp = NULL;

	pthread_mutex_lock(&emu->lock);
	w->st.received++;
	/*
	 * Its entry was reserved when ENQCMD was answered: the reservation
	 * ends only where the entry is counted in inflight (or dropped), so
	 * that inflight + tpending never undercounts for a racing ENQCMD.
	 */
	int reserved = via_write == VIA_ENQCMD && w->tpending;
	int have = fault_take_locked(w, d, STAGE_INTAKE, &f);
	if (have && f.kind == DSA_EMU_FAULT_DROP)
		disp = &w->st.dropped;
	else if (via_write == VIA_WRITE && d->opcode == DSA_OPCODE_BATCH && emu->version < 0x200)
		disp = &w->st.rejected; /* the kernel's write() refuses batches on DSA 1.0 */
	else if (via_write == VIA_PORTAL && w->shared)
		disp = &w->st.rejected; /* MOVDIR64B to a shared WQ: discarded (SWERR) */
	else if (occupied(w) >= w->size || w->qcount >= w->qcap)
		disp = &w->st.dropped; /* queue full: the portal write is lost */
	else if (__atomic_load_n(&w->disabled, __ATOMIC_ACQUIRE) ||
		 __atomic_load_n(&emu->halted[w->dev], __ATOMIC_ACQUIRE))
		disp = &w->st.dropped; /* WQ disabled / device halted */
	if (disp) {
		if (reserved)
			w->tpending--;
		(*disp)++;
		w->st.processed++;
		if (via_write != VIA_WRITE)
			swerr_locked(w, d);
		pthread_cond_broadcast(&emu->cond);
		pthread_mutex_unlock(&emu->lock);
		return;
	}
	pthread_mutex_unlock(&emu->lock);

	uint64_t now = now_ns();
	uint64_t delay = (uint64_t)__atomic_load_n(&w->delay_us, __ATOMIC_RELAXED);
	if (have && f.kind == DSA_EMU_FAULT_DELAY)
		delay += f.delay_us;
	uint64_t start = w->last_ready > now ? w->last_ready : now;
	unsigned eng = 0;
	if (w->nengines > 1) {
		/* dispatched in order to the engine free first; a drain waits for all */
		uint64_t all = 0;
		for (unsigned k = 0; k < w->nengines; k++) {
			if (w->efree[k] < w->efree[eng])
				eng = k;
			if (w->efree[k] > all)
				all = w->efree[k];
		}
		start = d->opcode == DSA_OPCODE_DRAIN ? all : w->efree[eng];
		if (start < now)
			start = now;
	}
	struct qent *e = &w->q[(w->qhead + w->qcount) % w->qcap];
	e->d = *d;
	e->seq = ++w->qseq;
	e->ready_ns = start + delay * 1000;
	if (w->nengines > 1)
		w->efree[eng] = e->ready_ns;
	e->swallow = have && f.kind == DSA_EMU_FAULT_NO_COMPLETION;
	w->last_ready = e->ready_ns;
	w->qcount++;

	pthread_mutex_lock(&emu->lock);
	if (reserved)
		w->tpending--;
	w->st.inflight = w->qcount;
	if (w->qcount > w->st.max_inflight)
		w->st.max_inflight = w->qcount;
	pthread_mutex_unlock(&emu->lock);
}

/* the queue entry (offset from qhead) that finishes first */
static unsigned
next_done(const struct emu_wq *w)
{
	unsigned best = 0;
	for (unsigned i = 1; w->nengines > 1 && i < w->qcount; i++)
		if (w->q[(w->qhead + i) % w->qcap].ready_ns <
		    w->q[(w->qhead + best) % w->qcap].ready_ns)
			best = i;
	return best;
}

static int
process_ready(struct emu_wq *w)
{
	int n = 0;
	if (__atomic_load_n(&w->emu->halted[w->dev], __ATOMIC_ACQUIRE)) {
		/* a halted device aborts what it holds: no completion, ever */
		while (w->qcount) {
			w->q[w->qhead].swallow = 1;
			struct qent cur = w->q[w->qhead];
			w->qhead = (w->qhead + 1) % w->qcap;
			w->qcount--;
			execute_top(w, &cur);
			n++;
		}
		return n;
	}
	if (__atomic_load_n(&w->paused, __ATOMIC_ACQUIRE))
		return 0;
	while (w->qcount) {
		unsigned k = next_done(w);
		struct qent *e = &w->q[(w->qhead + k) % w->qcap];
		if (e->ready_ns > now_ns())
			break;
		chaos(16);
		struct qent cur = *e;
		/* completions out of order (engines > 1): close the gap */
		for (unsigned i = k; i > 0; i--)
			w->q[(w->qhead + i) % w->qcap] = w->q[(w->qhead + i - 1) % w->qcap];
		w->qhead = (w->qhead + 1) % w->qcap;
		w->qcount--;
		if (cur.seq > w->done_seq)
			w->done_seq = cur.seq;
		execute_top(w, &cur);
		n++;
		if (__atomic_load_n(&w->emu->stop, __ATOMIC_ACQUIRE))
			break;
	}
	return n;
}

/* ------------------------------------------------------------------ */
/* intake */

static void
read_slot(uint64_t *slot, uint64_t v[8])
{
	for (int i = 0; i < 8; i++)
		v[i] = __atomic_load_n(&slot[i], __ATOMIC_RELAXED);
}

static int
slot_full(const uint64_t *portal, unsigned s)
{
	uint64_t any = 0;
	for (int k = 0; k < 8; k++)
		any |= __atomic_load_n(&portal[(size_t)s * 8 + k], __ATOMIC_ACQUIRE);
	return any != 0;
}

/* the slots holding something, one bit each */
static uint64_t
full_slots(const uint64_t *portal)
{
	uint64_t m = 0;
	for (unsigned s = 0; s < NSLOTS; s++) {
		if (slot_full(portal, s))
			m |= 1ULL << s;
		chaos(64);
	}
	return m;
}

/* Takes slot s: 1 taken, 0 nothing there, -1 a stand-in store is under
 * way (take nothing more this round). */
static int
take_slot(struct emu_wq *w, unsigned s)
{
	uint64_t *slot = w->portal + (size_t)s * 8;
	uint64_t a[8], b[8], any = 0;
	unsigned gen = __atomic_load_n(&g_store_gen, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&g_store_busy, __ATOMIC_SEQ_CST)) {
		pthread_mutex_lock(&w->emu->lock);
		w->st.portal_waits++;
		pthread_mutex_unlock(&w->emu->lock);
		return -1;
	}
	read_slot(slot, a);
	/* re-read until two reads agree (a MOVDIR64B in progress) */
	for (int k = 0; k < 1000; k++) {
		cpu_relax();
		read_slot(slot, b);
		if (memcmp(a, b, sizeof(a)) == 0)
			break;
		memcpy(a, b, sizeof(a));
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&g_store_busy, __ATOMIC_SEQ_CST) ||
	    __atomic_load_n(&g_store_gen, __ATOMIC_SEQ_CST) != gen)
		return -1; /* a stand-in store ran meanwhile: read it again */
	for (int k = 0; k < 8; k++)
		any |= a[k];
	if (!any)
		return 0;
	int changed = 0;
	for (int k = 0; k < 8; k++) {
		uint64_t exp = a[k];
		if (exp == 0)
			changed |= __atomic_load_n(&slot[k], __ATOMIC_ACQUIRE) != 0;
		else if (!__atomic_compare_exchange_n(&slot[k], &exp, 0, 0, __ATOMIC_ACQ_REL,
						      __ATOMIC_ACQUIRE))
			changed = 1;
	}
	struct dsa_hw_desc d;
	memcpy(&d, a, sizeof(d));
	chaos(16);
	accept_desc(w, &d, VIA_PORTAL);
	if (changed) {
		/* rewritten while being taken: what is left is not a whole descriptor */
		for (int k = 0; k < 8; k++)
			__atomic_store_n(&slot[k], 0, __ATOMIC_RELEASE);
		pthread_mutex_lock(&w->emu->lock);
		w->st.lost++;
		pthread_mutex_unlock(&w->emu->lock);
		emu_err("%s: a descriptor was written over another one not yet read "
			"(portal offset %u): lost", w->path, s * 64);
	}
	return 1;
}

/*
 * A MOVDIR64B lands as 64 bytes at any 64-byte offset of the page.  A slot
 * holding anything non-zero is a descriptor (an all-zero descriptor is a
 * NOOP without a completion record: nothing to see); taking it zeroes the
 * slot again, qword by qword and only where it still holds what was read.
 * A client may write any offset, rotating or not; a slot written twice
 * before the emulator read it holds only the second descriptor (a real
 * portal queues both): the emulator counts what it can see of that (the
 * slot changed between reading and taking it) as lost.
 *
 * A device takes MOVDIR64Bs in the order they were made, whatever their
 * offsets; the page keeps no order, so the emulator takes that of a
 * writer rotating through the offsets (as the mover does): the oldest
 * descriptor is the one after an empty slot. A single scan cannot see that
 * (it may read slot 5 empty, then slot 6 full, while a writer fills 5 and
 * then 6), so it looks twice: what the first look saw full is taken, in the
 * order the second look shows, where every store made before those is
 * visible (each MOVDIR64B is fenced; the stand-in's stores are ordered).
 */
_Static_assert(NSLOTS == 64, "one bit per portal slot");

static int
intake_portal(struct emu_wq *w)
{
	uint64_t seen = full_slots(w->portal);
	if (!seen)
		return 0;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	uint64_t now = full_slots(w->portal) | seen;
	unsigned start = w->next_slot; /* every slot full: the rotation's next */
	if (~now) {
		unsigned i;
		for (i = 0; i < NSLOTS; i++) {
			start = (w->next_slot + i) % NSLOTS;
			if (((seen >> start) & 1) && !((now >> ((start + NSLOTS - 1) % NSLOTS)) & 1))
				break;
		}
		if (i == NSLOTS)
			return 0; /* those seen follow ones just written: next round */
	}
	int got = 0;
	for (unsigned i = 0; i < NSLOTS; i++) {
		unsigned s = (start + i) % NSLOTS;
		if (!((seen >> s) & 1))
			break; /* the rest (written after the gap) next round */
		int r = take_slot(w, s);
		if (r < 0)
			break;
		w->next_slot = (s + 1) % NSLOTS;
		got += r;
	}
	return got;
}

/* Reads from a non-blocking fd until a whole record of `size` bytes is in
 * buf (1; *have starts again at 0) or there is nothing more to read (0). */
static int
read_record(int fd, unsigned char *buf, size_t size, size_t *have)
{
	for (;;) {
		ssize_t r = read(fd, buf + *have, size - *have);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return 0; /* EAGAIN */
		}
		if (r == 0)
			return 0;
		*have += (size_t)r;
		if (*have == size) {
			*have = 0;
			return 1;
		}
	}
}

static int
intake_fifo(struct emu_wq *w)
{
	int got = 0;
	while (read_record(w->fd, w->fbuf, sizeof(w->fbuf), &w->fhave)) {
		struct dsa_hw_desc d;
		memcpy(&d, w->fbuf, sizeof(d));
		chaos(16);
		accept_desc(w, &d, VIA_WRITE);
		got++;
	}
	return got;
}

/* trap records: one byte (1: ENQCMD, 0: MOVDIR64B), then the descriptor */
static int
intake_trap(struct emu_wq *w)
{
	int got = 0;
	while (read_record(w->fd, w->tbuf, sizeof(w->tbuf), &w->thave)) {
		struct dsa_hw_desc d;
		memcpy(&d, w->tbuf + 1, sizeof(d));
		chaos(16);
		accept_desc(w, &d, w->tbuf[0] ? VIA_ENQCMD : VIA_PORTAL);
		got++;
	}
	return got;
}

int
dsa_emu_portal_write(struct dsa_emu *emu, unsigned wq, const void *desc, int enqcmd)
{
	if (!emu || wq >= emu->nwq || !desc || !emu->wqs[wq].trap) {
		errno = EINVAL;
		return -1;
	}
	struct emu_wq *w = &emu->wqs[wq];
	unsigned char rec[65];
	rec[0] = enqcmd ? 1 : 0;
	memcpy(rec + 1, desc, 64);
	if (enqcmd) {
		/*
		 * ENQCMD is non-posted: the WQ answers "retry" when it is a
		 * dedicated or disabled WQ, or holds threshold (= size) entries.
		 */
		int retry;
		pthread_mutex_lock(&emu->lock);
		retry = !w->shared || __atomic_load_n(&w->disabled, __ATOMIC_ACQUIRE) ||
			__atomic_load_n(&emu->halted[w->dev], __ATOMIC_ACQUIRE) ||
			w->st.inflight + w->tpending >= w->size;
		if (retry)
			w->st.enqcmd_retries++;
		else
			w->tpending++;
		pthread_mutex_unlock(&emu->lock);
		if (retry)
			return 1;
	}
	/* a pipe write of <= PIPE_BUF bytes is atomic */
	ssize_t r;
	while ((r = write(w->tpipe_w, rec, sizeof(rec))) < 0 && errno == EINTR)
		;
	if (r != (ssize_t)sizeof(rec)) {
		if (r >= 0)
			errno = EIO;
		return -1;
	}
	return 0;
}

int
dsa_emu_write_desc(struct dsa_emu *emu, unsigned wq, const void *desc)
{
	if (!emu || wq >= emu->nwq || !desc || !emu->wqs[wq].trap)
		return EINVAL;
	struct emu_wq *w = &emu->wqs[wq];
	const struct dsa_hw_desc *d = desc;
	if (d->opcode == DSA_OPCODE_BATCH && emu->version < 0x200)
		return EINVAL; /* the kernel refuses batches through write() on DSA 1.0 */
	/* shared WQ: the kernel's ENQCMDS retries, then EAGAIN; dedicated: MOVDIR64B */
	int rc = dsa_emu_portal_write(emu, wq, desc, w->shared);
	return rc < 0 ? errno : rc ? EAGAIN : 0;
}

int
dsa_emu_cpu_movdir64b(void)
{
	return cpuid7_bit(0, 28);
}

__attribute__((target("avx512f"))) static void
store64_avx512(void *portal, const void *desc)
{
	__asm__ __volatile__("vmovdqu64 (%1), %%zmm0\n\tvmovdqu64 %%zmm0, (%0)\n\tvzeroupper"
			     : : "r"(portal), "r"(desc) : "xmm0", "memory");
}

/* the stand-in's store order: the completion address (qword 1) last */
static const unsigned char store_order[8] = { 0, 2, 3, 4, 5, 6, 7, 1 };

void
dsa_emu_portal_store_begin(void *portal, const void *desc, unsigned nqwords)
{
	uint64_t *p = portal;
	const uint64_t *s = desc;

	__atomic_fetch_add(&g_store_busy, 1, __ATOMIC_SEQ_CST);
	for (unsigned i = 0; i < nqwords && i < 8; i++)
		__atomic_store_n(&p[store_order[i]], s[store_order[i]], __ATOMIC_RELAXED);
}

void
dsa_emu_portal_store_end(void *portal, const void *desc, unsigned nqwords)
{
	uint64_t *p = portal;
	const uint64_t *s = desc;

	for (unsigned i = nqwords; i < 8; i++)
		__atomic_store_n(&p[store_order[i]], s[store_order[i]], __ATOMIC_RELEASE);
	__atomic_fetch_add(&g_store_gen, 1, __ATOMIC_SEQ_CST);
	__atomic_fetch_sub(&g_store_busy, 1, __ATOMIC_SEQ_CST);
}

void
dsa_emu_portal_store(void *portal, const void *desc)
{
	if (__builtin_cpu_supports("avx512f")) {
		store64_avx512(portal, desc);
		return;
	}
	dsa_emu_portal_store_begin(portal, desc, 0);
	dsa_emu_portal_store_end(portal, desc, 0);
}

static int
intake(struct emu_wq *w)
{
	return w->trap ? intake_trap(w) : w->fifo ? intake_fifo(w) : intake_portal(w);
}

static void *
wq_thread(void *arg)
{
	struct emu_wq *w = arg;
	struct dsa_emu *emu = w->emu;
	uint64_t last_activity = now_ns();
	unsigned spins = 0;

	prctl(PR_SET_TIMERSLACK, 1000UL); /* bytes_per_us: sleep to the µs */
	if (g_chaos_seed)
		t_chaos = g_chaos_seed * 0x9e3779b97f4a7c15ULL + w->index + 1;

	while (!__atomic_load_n(&emu->stop, __ATOMIC_ACQUIRE)) {
		unsigned req = __atomic_load_n(&w->sync_req, __ATOMIC_ACQUIRE);
		unsigned dreq = __atomic_load_n(&w->drain_req, __ATOMIC_ACQUIRE);
		int got = intake(w);
		int done = process_ready(w);
		uint64_t now = now_ns();
		if (!got && (req != w->sync_ack || (dreq != w->drain_ack && !w->qcount))) {
			/* all written before the request was taken in, in the
			 * state of then (catch_up); and, queue empty, run
			 * (close_drain) */
			pthread_mutex_lock(&emu->lock);
			w->sync_ack = req;
			if (!w->qcount)
				w->drain_ack = dreq;
			pthread_cond_broadcast(&emu->cond);
			pthread_mutex_unlock(&emu->lock);
		}
		if (got || done) {
			last_activity = now;
			spins = 0;
			continue;
		}
		int waiting = w->qcount && !__atomic_load_n(&w->paused, __ATOMIC_ACQUIRE);
		uint64_t wait_ns = 0;
		if (waiting) {
			uint64_t ready = w->q[(w->qhead + next_done(w)) % w->qcap].ready_ns;
			wait_ns = ready > now ? ready - now : 0;
		}
		if (w->fifo || w->trap) {
			struct pollfd pfd = { .fd = w->fd, .events = POLLIN };
			/* paused with work queued: look again soon, a resume
			 * (dsa_emu_pause) writes nothing to the fd */
			uint64_t t = waiting ? wait_ns :
				w->qcount ? 1000ULL * 1000 : 20ULL * 1000 * 1000;
			struct timespec ts = { (time_t)(t / 1000000000ULL), (long)(t % 1000000000ULL) };
			ppoll(&pfd, 1, &ts, NULL);
			continue;
		}
		/* mmap portal: poll busily while active, the client gives no signal */
		if (waiting && wait_ns > 100000) {
			sleep_ns(wait_ns - 50000 < 50000 ? wait_ns - 50000 : 50000);
		} else if (++spins < 64 || waiting) {
			cpu_relax();
		} else if (now - last_activity < ACTIVE_WINDOW_NS) {
			sched_yield();
		} else {
			sleep_ns(IDLE_SLEEP_NS);
		}
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* sysfs tree */

static int
tri(int v, int dflt)
{
	return v > 0 ? 1 : v < 0 ? 0 : dflt;
}

static int
build_device(struct dsa_emu *emu, const struct dsa_emu_config *cfg, unsigned dev)
{
	char dir[128], sub[PATH_MAX];
	snprintf(dir, sizeof(dir), EMU_SYSFS_DEVICES "/dsa%u", dev);
	if (mkdir_p(dir, 0755)) {
		emu_err("mkdir %s: %s", dir, strerror(errno));
		return -1;
	}
	unsigned total_size = 0;
	for (unsigned i = 0; i < emu->nwq_per; i++)
		total_size += emu->wqs[dev * emu->nwq_per + i].size;
	unsigned max_wqs = emu->nwq_per > 8 ? emu->nwq_per : 8;
	unsigned max_wq_size = total_size > 128 ? total_size : 128;
	int numa = cfg->numa_nodes ? cfg->numa_nodes[dev] : cfg->numa_node;
	uint64_t gc = emu->gen_cap;
	int rc = 0;
	rc |= attr(dir, "cmd_status", "0");
	rc |= attr(dir, "state", "%s", cfg->device_disabled ? "disabled" : "enabled");
	rc |= attr(dir, "max_groups", "4");
	rc |= attr(dir, "max_work_queues", "%u", max_wqs);
	rc |= attr(dir, "max_engines", "4");
	rc |= attr(dir, "max_work_queues_size", "%u", max_wq_size);
	rc |= attr(dir, "numa_node", "%d", numa);
	rc |= attr(dir, "ims_size", "2048");
	rc |= attr(dir, "max_batch_size", "1024");
	rc |= attr(dir, "max_transfer_size", "2147483648");
	rc |= attr(dir, "gen_cap", "0x%llx", (unsigned long long)gc);
	rc |= attr(dir, "configurable", "1");
	rc |= attr(dir, "pasid_enabled", "%d", cfg->pasid_disabled ? 0 : 1);
	rc |= attr(dir, "max_read_buffers", "96");
	rc |= attr(dir, "read_buffer_limit", "0");
	rc |= attr(dir, "cdev_major", "239");
	rc |= attr(dir, "version", "0x%x", emu->version);
	rc |= attr(dir, "clients", "0");
	/* what the emulator implements: NOOP BATCH DRAIN MEMMOVE MEMFILL, CFLUSH (0x20) */
	rc |= attr(dir, "op_cap",
		   "00000000,00000000,00000000,00000000,00000000,00000000,00000001,0000001f");
	rc |= attr(dir, "errors",
		   "0x0000000000000000 0x0000000000000000 0x0000000000000000 0x0000000000000000");
	if (rc)
		return -1;

	/* one group with all WQs and 4 engines */
	snprintf(sub, sizeof(sub), "%s/group%u.0", dir, dev);
	if (mkdir_p(sub, 0755))
		return -1;
	char wql[4096] = "", engl[256] = "";
	size_t off = 0;
	for (unsigned i = 0; i < emu->nwq_per && off < sizeof(wql) - 32; i++)
		off += (size_t)snprintf(wql + off, sizeof(wql) - off, "%swq%u.%u", i ? " " : "", dev, i);
	snprintf(engl, sizeof(engl), "engine%u.0 engine%u.1 engine%u.2 engine%u.3", dev, dev, dev,
		 dev);
	rc |= attr(sub, "work_queues", "%s", wql);
	rc |= attr(sub, "engines", "%s", engl);
	rc |= attr(sub, "read_buffers_reserved", "0");
	rc |= attr(sub, "read_buffers_allowed", "96");
	rc |= attr(sub, "use_read_buffer_limit", "0");
	rc |= attr(sub, "traffic_class_a", "1");
	rc |= attr(sub, "traffic_class_b", "1");
	for (unsigned e = 0; e < 4; e++) {
		snprintf(sub, sizeof(sub), "%s/engine%u.%u", dir, dev, e);
		if (mkdir_p(sub, 0755))
			return -1;
		rc |= attr(sub, "group_id", "0");
	}
	if (rc)
		return -1;

	for (unsigned i = 0; i < emu->nwq_per; i++) {
		struct emu_wq *w = &emu->wqs[dev * emu->nwq_per + i];
		if (mkdir_p(w->sysfs, 0755))
			return -1;
		rc |= attr(w->sysfs, "group_id", "0");
		rc |= attr(w->sysfs, "size", "%u", w->size);
		rc |= attr(w->sysfs, "priority", "10");
		rc |= attr(w->sysfs, "block_on_fault", "%d", w->bof);
		rc |= attr(w->sysfs, "mode", "%s", w->shared ? "shared" : "dedicated");
		rc |= attr(w->sysfs, "state", "%s", w->disabled ? "disabled" : "enabled");
		rc |= attr(w->sysfs, "cdev_minor", "%u", w->index);
		rc |= attr(w->sysfs, "type", "%s", w->type);
		rc |= attr(w->sysfs, "name", "%s", w->name);
		rc |= attr(w->sysfs, "driver_name", "%s", strcmp(w->type, "kernel") ? "user" : "dmaengine");
		rc |= attr(w->sysfs, "threshold", "%u", w->shared ? w->size : 0);
		rc |= attr(w->sysfs, "max_batch_size", "%u", w->max_batch);
		rc |= attr(w->sysfs, "max_transfer_size", "%u", w->max_xfer);
		rc |= attr(w->sysfs, "ats_disable", "0");
		rc |= attr(w->sysfs, "prs_disable", "0");
		rc |= attr(w->sysfs, "clients", "0");
		rc |= attr(w->sysfs, "occupancy", "0");
		rc |= attr(w->sysfs, "enqcmds_retries", "0");
		if (rc)
			return -1;
	}

	/* the bus lists WQs, groups and engines too (as links) */
	for (unsigned i = 0; i < emu->nwq_per; i++) {
		char l[PATH_MAX], t[128];
		snprintf(l, sizeof(l), EMU_SYSFS_DEVICES "/wq%u.%u", dev, i);
		snprintf(t, sizeof(t), "dsa%u/wq%u.%u", dev, dev, i);
		if (symlink(t, l))
			return -1;
	}
	return 0;
}

static int
apply_override(const char *file, const char *value)
{
	char path[PATH_MAX];
	if (!file || !*file) {
		errno = EINVAL;
		return -1;
	}
	if (file[0] == '/')
		snprintf(path, sizeof(path), "%s", file);
	else
		snprintf(path, sizeof(path), EMU_SYSFS_DEVICES "/%s", file);
	if (!value) {
		struct stat st;
		if (lstat(path, &st))
			return -1;
		rm_rf(path);
		return 0;
	}
	return write_file(path, value, strlen(value));
}

int
dsa_emu_sysfs_set(struct dsa_emu *emu, const char *file, const char *value)
{
	(void)emu;
	return apply_override(file, value);
}

static int
create_portal(struct emu_wq *w)
{
	if (w->trap) {
		/*
		 * An empty file: every store into a mapping of it raises SIGBUS,
		 * so a tracer sees each MOVDIR64B / ENQCMD (dsa_emu_portal_write).
		 */
		int fd = open(w->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		int p[2];
		if (fd < 0 || close(fd) || pipe2(p, O_CLOEXEC)) {
			emu_err("create %s: %s", w->path, strerror(errno));
			return -1;
		}
		w->fd = p[0];
		w->tpipe_w = p[1];
		return fcntl(w->fd, F_SETFL, O_NONBLOCK);
	}
	if (w->fifo) {
		if (mkfifo(w->path, 0666)) {
			emu_err("mkfifo %s: %s", w->path, strerror(errno));
			return -1;
		}
		/* O_RDWR: never blocks, never sees EOF when clients close */
		w->fd = open(w->path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
		if (w->fd < 0) {
			emu_err("open %s: %s", w->path, strerror(errno));
			return -1;
		}
		return 0;
	}
	w->fd = open(w->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (w->fd < 0) {
		emu_err("create %s: %s", w->path, strerror(errno));
		return -1;
	}
	if (ftruncate(w->fd, PORTAL_SIZE)) {
		emu_err("ftruncate %s: %s", w->path, strerror(errno));
		return -1;
	}
	void *p = mmap(NULL, PORTAL_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, w->fd, 0);
	if (p == MAP_FAILED) {
		emu_err("mmap %s: %s", w->path, strerror(errno));
		return -1;
	}
	w->portal = p;
	return 0;
}

static int
file_id(struct emu_wq *w)
{
	struct stat sb;
	if (stat(w->path, &sb)) {
		emu_err("stat %s: %s", w->path, strerror(errno));
		return -1;
	}
	w->fdev = sb.st_dev;
	w->fino = sb.st_ino;
	return 0;
}

static void
teardown(struct dsa_emu *emu)
{
	__atomic_store_n(&emu->stop, 1, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < emu->nwq; i++) {
		struct emu_wq *w = &emu->wqs[i];
		if (w->thr_started)
			pthread_join(w->thr, NULL);
	}
	for (unsigned i = 0; i < emu->nwq; i++) {
		struct emu_wq *w = &emu->wqs[i];
		if (w->portal)
			munmap(w->portal, PORTAL_SIZE);
		if (w->fd >= 0)
			close(w->fd);
		if (w->tpipe_w >= 0)
			close(w->tpipe_w);
		free(w->q);
		free(w->bord);
		free(w->blist);
	}
	rm_rf(EMU_SYSFS_BUS);
	rm_rf(EMU_DEV_DIR);
	pthread_cond_destroy(&emu->cond);
	pthread_mutex_destroy(&emu->lock);
	free(emu->wqs);
	free(emu->swerr);
	free(emu->halted);
	free(emu->speed);
	free(emu->dev_busy);
	free(emu->wr);
	free(emu);
}

/*
 * batch_order and batch_seed from the config, or where it leaves the order
 * 0 from DSA_EMU_BATCH_ORDER = list | reverse | shuffle[:SEED].  0, or -1
 * (a value it does not know: said on stderr).
 */
static int
batch_order_setup(struct dsa_emu *emu, const struct dsa_emu_config *cfg)
{
	int how = cfg->batch_order;
	uint64_t seed = cfg->batch_seed;
	const char *env = getenv("DSA_EMU_BATCH_ORDER");

	if (how == 0 && env && *env) {
		const char *colon = strchr(env, ':');
		size_t len = colon ? (size_t)(colon - env) : strlen(env);
		if (len == 4 && !strncmp(env, "list", 4) && !colon) {
			how = DSA_EMU_BATCH_LIST;
		} else if (len == 7 && !strncmp(env, "reverse", 7) && !colon) {
			how = DSA_EMU_BATCH_REVERSE;
		} else if (len == 7 && !strncmp(env, "shuffle", 7)) {
			how = DSA_EMU_BATCH_SHUFFLE;
			if (colon) {
				char *end;
				errno = 0;
				unsigned long long v = strtoull(colon + 1, &end, 0);
				if (errno || end == colon + 1 || *end || v == 0 || v > UINT_MAX) {
					emu_err("DSA_EMU_BATCH_ORDER=%s: the seed must be a "
						"number from 1 to %u", env, UINT_MAX);
					return -1;
				}
				seed = v;
			}
		} else {
			emu_err("DSA_EMU_BATCH_ORDER=%s: not list, reverse or shuffle[:SEED]",
				env);
			return -1;
		}
	}
	if (how != 0 && how != DSA_EMU_BATCH_LIST && how != DSA_EMU_BATCH_REVERSE &&
	    how != DSA_EMU_BATCH_SHUFFLE) {
		emu_err("batch_order %d: not one of DSA_EMU_BATCH_*", how);
		return -1;
	}
	if (how == DSA_EMU_BATCH_SHUFFLE && !seed) {
		seed = (now_ns() ^ ((uint64_t)getpid() << 16)) % UINT_MAX + 1;
		emu_err("batch members shuffled with seed %llu (DSA_EMU_BATCH_ORDER="
			"shuffle:%llu repeats it)", (unsigned long long)seed,
			(unsigned long long)seed);
	}
	emu->batch_order = how;
	emu->batch_seed = seed;
	return 0;
}

struct dsa_emu *
dsa_emu_start(const struct dsa_emu_config *cfg_in)
{
	static const struct dsa_emu_config zero;
	const struct dsa_emu_config *cfg = cfg_in ? cfg_in : &zero;

	if (!g_ns_entered) {
		emu_err("dsa_emu_enter_namespace() was not called");
		errno = EPERM;
		return NULL;
	}
	pthread_mutex_lock(&g_lock);
	if (g_running) {
		pthread_mutex_unlock(&g_lock);
		emu_err("an emulator is already running");
		errno = EBUSY;
		return NULL;
	}
	g_running = 1;
	pthread_mutex_unlock(&g_lock);

	const char *ch = getenv("DSA_EMU_CHAOS");
	uint64_t seed = ch ? strtoull(ch, NULL, 0) : 0;
	g_chaos_seed = seed ? seed ^ ((uint64_t)getpid() << 20) : 0;
	struct dsa_emu *emu = calloc(1, sizeof(*emu));
	if (!emu)
		goto fail_nomem;
	pthread_mutex_init(&emu->lock, NULL);
	pthread_cond_init(&emu->cond, NULL);
	emu->owner = getpid();
	emu->ndev = cfg->ndevices ? cfg->ndevices : 1;
	emu->nwq_per = cfg->nwqs ? cfg->nwqs : 1;
	if (emu->ndev > MAX_DEVICES || emu->nwq_per > MAX_WQS_PER_DEV) {
		emu_err("too many devices / WQs");
		free(emu);
		errno = EINVAL;
		goto fail_unlock;
	}
	emu->nwq = emu->ndev * emu->nwq_per;
	emu->gen_cap = cfg->gen_cap == DSA_EMU_GEN_CAP_NONE ? 0
		       : cfg->gen_cap ? cfg->gen_cap : DSA_EMU_GEN_CAP_SPR;
	emu->version = cfg->version ? cfg->version : 0x100;
	emu->fault_nonresident = cfg->fault_nonresident;
	emu->lost_ok = cfg->lost_ok;
	emu->no_record_check = cfg->no_record_check;
	emu->no_cache_fill = cfg->no_cache_fill;
	if (batch_order_setup(emu, cfg)) {
		free(emu);
		errno = EINVAL;
		goto fail_unlock;
	}
	emu->wqs = calloc(emu->nwq, sizeof(*emu->wqs));
	emu->swerr = calloc(emu->ndev, sizeof(*emu->swerr));
	emu->halted = calloc(emu->ndev, sizeof(*emu->halted));
	emu->speed = calloc(emu->ndev, sizeof(*emu->speed));
	emu->dev_busy = calloc(emu->ndev, sizeof(*emu->dev_busy));
	if (!emu->wqs || !emu->swerr || !emu->halted || !emu->speed || !emu->dev_busy) {
		free(emu->wqs);
		free(emu->swerr);
		free(emu->halted);
		free(emu->speed);
		free(emu->dev_busy);
		free(emu);
		goto fail_nomem;
	}
	for (unsigned d = 0; d < emu->ndev; d++)
		emu->speed[d] = cfg->dev_bytes_per_us && cfg->dev_bytes_per_us[d]
					? cfg->dev_bytes_per_us[d] : cfg->bytes_per_us;
	emu->track = !!cfg->track_writes;
	for (unsigned i = 0; i < emu->nwq; i++) {
		struct emu_wq *w = &emu->wqs[i];
		const struct dsa_emu_wq_config *wc = cfg->wqs ? &cfg->wqs[i] : NULL;
		static const struct dsa_emu_wq_config wzero;
		if (!wc)
			wc = &wzero;
		w->emu = emu;
		w->fd = -1;
		w->tpipe_w = -1;
		w->trap = tri(wc->trap, !!cfg->trap_portal);
		w->index = i;
		w->dev = i / emu->nwq_per;
		w->id = i % emu->nwq_per;
		w->shared = tri(wc->shared, !!cfg->shared);
		w->fifo = w->trap ? 0 : tri(wc->fifo, cfg->fifo > 0 ? 1 : cfg->fifo < 0 ? 0 : w->shared);
		w->size = wc->wq_size ? wc->wq_size : cfg->wq_size ? cfg->wq_size : 32;
		w->max_xfer = wc->max_transfer_size ? wc->max_transfer_size
			      : cfg->max_transfer_size ? cfg->max_transfer_size : 2u << 20;
		w->max_batch = wc->max_batch_size ? wc->max_batch_size
			       : cfg->max_batch_size ? cfg->max_batch_size : 32;
		w->bof = tri(wc->block_on_fault, !!cfg->block_on_fault);
		w->disabled = tri(wc->disabled, !!cfg->wq_disabled);
		w->no_write = wc->no_write > 0;
		w->type = wc->type ? wc->type : cfg->wq_type ? cfg->wq_type : "user";
		w->name = wc->name ? wc->name : cfg->wq_name ? cfg->wq_name : "dsa_emu";
		w->delay_us = cfg->delay_us;
		w->order_rng = emu->batch_seed * 0x9e3779b97f4a7c15ULL + i + 1;
		w->nengines = cfg->engines ? cfg->engines : 1;
		if (w->nengines > MAX_ENGINES) {
			errno = EINVAL;
			emu_err("at most %d engines", MAX_ENGINES);
			goto fail;
		}
		snprintf(w->path, sizeof(w->path), EMU_DEV_DIR "/wq%u.%u", w->dev, w->id);
		snprintf(w->sysfs, sizeof(w->sysfs), EMU_SYSFS_DEVICES "/dsa%u/wq%u.%u", w->dev,
			 w->dev, w->id);
		w->qcap = w->size + MAX_ENGINES;
		w->q = calloc(w->qcap, sizeof(*w->q));
		w->bord = calloc(w->max_batch, sizeof(*w->bord));
		w->blist = malloc((size_t)w->max_batch * (64 + sizeof(uint32_t)));
		if (!w->q || !w->bord || !w->blist) {
			errno = ENOMEM;
			goto fail;
		}
	}

	/* a previous run may have left something behind */
	rm_rf(EMU_SYSFS_BUS);
	rm_rf(EMU_DEV_DIR);
	if (mkdir_p(EMU_SYSFS_DEVICES, 0755) || mkdir_p(EMU_SYSFS_BUS "/drivers/idxd", 0755) ||
	    mkdir_p(EMU_SYSFS_BUS "/drivers/user", 0755) || mkdir_p(EMU_DEV_DIR, 0755)) {
		emu_err("creating the tree: %s", strerror(errno));
		goto fail;
	}
	for (unsigned d = 0; d < emu->ndev; d++)
		if (build_device(emu, cfg, d))
			goto fail;
	for (unsigned i = 0; i < emu->nwq; i++)
		if (create_portal(&emu->wqs[i]) || file_id(&emu->wqs[i]))
			goto fail;
	if (cfg->override_file && apply_override(cfg->override_file, cfg->override_value)) {
		emu_err("override %s: %s", cfg->override_file, strerror(errno));
		goto fail;
	}
	for (unsigned i = 0; i < cfg->noverrides; i++) {
		if (apply_override(cfg->overrides[i].file, cfg->overrides[i].value)) {
			emu_err("override %s: %s", cfg->overrides[i].file, strerror(errno));
			goto fail;
		}
	}
	for (unsigned i = 0; i < emu->nwq; i++) {
		struct emu_wq *w = &emu->wqs[i];
		int e = pthread_create(&w->thr, NULL, wq_thread, w);
		if (e) {
			errno = e;
			emu_err("pthread_create: %s", strerror(e));
			goto fail;
		}
		w->thr_started = 1;
	}
	pthread_mutex_lock(&g_ded_lock);
	g_ded = calloc(emu->nwq, sizeof(*g_ded));
	for (unsigned i = 0; g_ded && i < emu->nwq; i++) {
		if (emu->wqs[i].shared && !emu->wqs[i].no_write)
			continue;
		snprintf(g_ded[g_nded].path, sizeof(g_ded->path), "%s",
			 emu->wqs[i].path);
		g_ded[g_nded].dedicated = !emu->wqs[i].shared;
		g_ded[g_nded++].no_write = emu->wqs[i].no_write;
	}
	pthread_mutex_unlock(&g_ded_lock);
	pthread_mutex_lock(&g_lock);
	g_emu = emu;
	__atomic_store_n(&g_emu_owner, getpid(), __ATOMIC_RELEASE);
	pthread_mutex_unlock(&g_lock);
	return emu;

fail: {
	int e = errno;
	teardown(emu);
	errno = e;
	goto fail_unlock;
}
fail_nomem:
	errno = ENOMEM;
fail_unlock: {
	int e = errno;
	pthread_mutex_lock(&g_lock);
	g_running = 0;
	pthread_mutex_unlock(&g_lock);
	errno = e;
	return NULL;
}
}

/* a descriptor lost in the portal fails the test program that lost it */
static void
fail_at_exit(void)
{
	fprintf(stderr, "dsa_emu: descriptors were lost in the portal (see above): failing\n");
	fflush(NULL);
	_exit(1);
}

void
dsa_emu_stop(struct dsa_emu *emu)
{
	if (!emu)
		return;
	pthread_mutex_lock(&g_ded_lock);
	free(g_ded);
	g_ded = NULL;
	g_nded = 0;
	pthread_mutex_unlock(&g_ded_lock);
	uint64_t lost = 0;
	pthread_mutex_lock(&emu->lock);
	for (unsigned i = 0; i < emu->nwq; i++)
		lost += emu->wqs[i].st.lost;
	pthread_mutex_unlock(&emu->lock);
	if (lost && !emu->lost_ok) {
		static int registered;
		emu_err("%llu descriptor(s) written over before the emulator read them: the "
			"process will exit with status 1", (unsigned long long)lost);
		if (!registered++)
			atexit(fail_at_exit);
	}
	/* no close drains any more; those draining give up (emu->stop).
	 * Never g_lock, then emu->lock: the emulator's own close() of a
	 * sysfs file, under emu->lock, takes g_lock */
	pthread_mutex_lock(&g_lock);
	if (g_emu == emu) {
		g_emu = NULL;
		__atomic_store_n(&g_emu_owner, 0, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&g_lock);
	pthread_mutex_lock(&emu->lock);
	__atomic_store_n(&emu->stop, 1, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&emu->cond);
	pthread_mutex_unlock(&emu->lock);
	pthread_mutex_lock(&g_lock);
	while (g_closers)
		pthread_cond_wait(&g_cond, &g_lock);
	pthread_mutex_unlock(&g_lock);
	teardown(emu);
	pthread_mutex_lock(&g_lock);
	g_running = 0;
	pthread_mutex_unlock(&g_lock);
}

int
dsa_emu_wq_enable(struct dsa_emu *emu, unsigned wq, int on)
{
	if (!emu || wq >= emu->nwq) {
		errno = EINVAL;
		return -1;
	}
	struct emu_wq *w = &emu->wqs[wq];
	pthread_mutex_lock(&emu->lock);
	if ((on ? 0 : 1) != __atomic_load_n(&w->disabled, __ATOMIC_ACQUIRE))
		catch_up_locked(emu, w);
	__atomic_store_n(&w->disabled, on ? 0 : 1, __ATOMIC_RELEASE);
	int rc = attr(w->sysfs, "state", "%s", on ? "enabled" : "disabled");
	pthread_mutex_unlock(&emu->lock);
	return rc;
}

int
dsa_emu_device_halt(struct dsa_emu *emu, unsigned dev, int halt)
{
	if (!emu || dev >= emu->ndev) {
		errno = EINVAL;
		return -1;
	}
	return halt_device(emu, dev, halt);
}

/* Asks w's thread for a pass (*req) and waits for its answer (*ack, which
 * a later request's answer reaches too). Under emu->lock; nothing to ask
 * where the thread is not running, in this process, or is the caller. */
static void
ask_wq_locked(struct dsa_emu *emu, struct emu_wq *w, unsigned *req, const unsigned *ack)
{
	if (!w->thr_started || emu->owner != getpid() || pthread_equal(w->thr, pthread_self()))
		return;
	unsigned gen = __atomic_add_fetch(req, 1, __ATOMIC_ACQ_REL);
	int said = 0;
	while ((int)(*ack - gen) < 0 && !__atomic_load_n(&emu->stop, __ATOMIC_ACQUIRE)) {
		if (ack == &w->drain_ack && __atomic_load_n(&w->paused, __ATOMIC_ACQUIRE) &&
		    w->st.inflight && !said++)
			emu_err("close of %s waits for the %u descriptor(s) queued there: the "
				"WQ is paused (dsa_emu_pause)", w->path, w->st.inflight);
		pthread_cond_wait(&emu->cond, &emu->lock);
	}
}

/*
 * A portal write is judged when it is made, the emulator's thread sees it
 * later: before a WQ is enabled or disabled, or a halted device reset,
 * its thread takes in what was written before the call, in the state of
 * then, and a halted device aborts what it queued. Else one written to a
 * halted device would run after the reset, its buffers and record perhaps
 * freed by then, and one written before a disable would be dropped. Under
 * emu->lock.
 */
static void
catch_up_locked(struct dsa_emu *emu, struct emu_wq *w)
{
	ask_wq_locked(emu, w, &w->sync_req, &w->sync_ack);
}

/* A client closed w's file: what was written to it runs (or a halted
 * device aborts it) before close returns. On a paused WQ that waits for
 * dsa_emu_pause(emu, wq, 0): it says so. */
static void
close_drain(struct dsa_emu *emu, struct emu_wq *w)
{
	pthread_mutex_lock(&emu->lock);
	ask_wq_locked(emu, w, &w->drain_req, &w->drain_ack);
	pthread_mutex_unlock(&emu->lock);
}

static int
halt_device(struct dsa_emu *emu, unsigned dev, int halt)
{
	char dir[128];
	snprintf(dir, sizeof(dir), EMU_SYSFS_DEVICES "/dsa%u", dev);
	pthread_mutex_lock(&emu->lock);
	if (!halt && __atomic_load_n(&emu->halted[dev], __ATOMIC_ACQUIRE))
		for (unsigned i = 0; i < emu->nwq; i++)
			if (emu->wqs[i].dev == dev)
				catch_up_locked(emu, &emu->wqs[i]);
	__atomic_store_n(&emu->halted[dev], halt ? 1 : 0, __ATOMIC_RELEASE);
	int rc = attr(dir, "state", "%s", halt ? "halted" : "enabled");
	if (!halt) { /* a reset clears the error register */
		memset(emu->swerr[dev], 0, sizeof(emu->swerr[dev]));
		rc |= attr(dir, "errors", "0x%016llx 0x%016llx 0x%016llx 0x%016llx", 0ULL, 0ULL,
			   0ULL, 0ULL);
	}
	pthread_mutex_unlock(&emu->lock);
	return rc;
}

int
dsa_emu_set_pid(struct dsa_emu *emu, int pid)
{
	if (!emu || pid < 0) {
		errno = EINVAL;
		return -1;
	}
	if (pid && pid != getpid() && kill(pid, 0) && errno == ESRCH)
		return -1;
	__atomic_store_n(&emu->pid, pid == getpid() ? 0 : pid, __ATOMIC_RELEASE);
	return 0;
}

unsigned
dsa_emu_nwqs(const struct dsa_emu *emu)
{
	return emu ? emu->nwq : 0;
}

const char *
dsa_emu_wq_path(const struct dsa_emu *emu, unsigned wq)
{
	return emu && wq < emu->nwq ? emu->wqs[wq].path : NULL;
}

int
dsa_emu_portal_wq(const struct dsa_emu *emu, int pid, const void *addr)
{
	char path[64], line[512];
	uint64_t a = (uint64_t)(uintptr_t)addr;
	int wq = -1;

	if (pid == 0)
		snprintf(path, sizeof(path), "/proc/self/maps");
	else
		snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long lo, hi;
		int off = 0;
		if (sscanf(line, "%llx-%llx %*s %*s %*s %*s %n", &lo, &hi, &off) < 2 || !off)
			continue;
		if (a < lo || a >= hi)
			continue;
		line[strcspn(line, "\n")] = '\0';
		for (unsigned i = 0; i < dsa_emu_nwqs(emu); i++)
			if (strcmp(line + off, dsa_emu_wq_path(emu, i)) == 0)
				wq = (int)i;
		break;
	}
	fclose(f);
	return wq;
}

const char *
dsa_emu_wq_sysfs(const struct dsa_emu *emu, unsigned wq)
{
	return emu && wq < emu->nwq ? emu->wqs[wq].sysfs : NULL;
}

/* ------------------------------------------------------------------ */
/* control */

int
dsa_emu_inject(struct dsa_emu *emu, const struct dsa_emu_fault *f)
{
	if (!emu || !f || f->kind == DSA_EMU_FAULT_NONE) {
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&emu->lock);
	for (int i = 0; i < MAX_FAULTS; i++) {
		struct emu_fault *s = &emu->faults[i];
		if (s->active)
			continue;
		s->f = *f;
		s->remaining = f->count == 0 ? 1 : f->count;
		s->skip = f->skip;
		s->active = 1;
		pthread_mutex_unlock(&emu->lock);
		return 0;
	}
	pthread_mutex_unlock(&emu->lock);
	errno = ENOSPC;
	return -1;
}

void
dsa_emu_clear_faults(struct dsa_emu *emu)
{
	if (!emu)
		return;
	pthread_mutex_lock(&emu->lock);
	for (int i = 0; i < MAX_FAULTS; i++)
		emu->faults[i].active = 0;
	pthread_mutex_unlock(&emu->lock);
}

unsigned
dsa_emu_faults_pending(struct dsa_emu *emu)
{
	unsigned n = 0;
	if (!emu)
		return 0;
	pthread_mutex_lock(&emu->lock);
	for (int i = 0; i < MAX_FAULTS; i++)
		n += emu->faults[i].active ? 1u : 0u;
	pthread_mutex_unlock(&emu->lock);
	return n;
}

void
dsa_emu_set_delay(struct dsa_emu *emu, int wq, unsigned delay_us)
{
	if (!emu)
		return;
	for (unsigned i = 0; i < emu->nwq; i++)
		if (wq < 0 || (unsigned)wq == i)
			__atomic_store_n(&emu->wqs[i].delay_us, delay_us, __ATOMIC_RELAXED);
}

void
dsa_emu_pause(struct dsa_emu *emu, int wq, int on)
{
	if (!emu)
		return;
	uint64_t now = now_ns();
	for (unsigned i = 0; i < emu->nwq; i++)
		if (wq < 0 || (unsigned)wq == i) {
			if (!on)
				__atomic_store_n(&emu->wqs[i].resumed_ns, now, __ATOMIC_RELEASE);
			__atomic_store_n(&emu->wqs[i].paused, on ? 1 : 0, __ATOMIC_RELEASE);
		}
}

/* sum of WQs [lo, hi) (max_inflight: max; last_*: most recent); lock held */
static void
sum_stats_locked(struct dsa_emu *emu, unsigned lo, unsigned hi, struct dsa_emu_stats *out)
{
	uint64_t best = 0;
	for (unsigned i = lo; i < hi; i++) {
		const struct dsa_emu_stats *s = &emu->wqs[i].st;
		out->received += s->received;
		out->processed += s->processed;
		out->completed += s->completed;
		out->errors += s->errors;
		out->dropped += s->dropped;
		out->swallowed += s->swallowed;
		out->rejected += s->rejected;
		out->faults_injected += s->faults_injected;
		out->faults_blocked += s->faults_blocked;
		out->page_faults += s->page_faults;
		out->cr_not_zero += s->cr_not_zero;
		out->lost += s->lost;
		out->portal_waits += s->portal_waits;
		out->enqcmd_retries += s->enqcmd_retries;
		out->swerrs += s->swerrs;
		for (int k = 0; k < 256; k++)
			out->ops[k] += s->ops[k];
		out->batch_members += s->batch_members;
		out->bytes += s->bytes;
		out->flag_cc += s->flag_cc;
		out->flag_drdbk += s->flag_drdbk;
		out->flag_bof += s->flag_bof;
		out->flag_fence += s->flag_fence;
		out->flags_or |= s->flags_or;
		out->rewrites += s->rewrites;
		out->rewrite_bytes += s->rewrite_bytes;
		out->halted_members += s->halted_members;
		out->records += s->records;
		out->member_records += s->member_records;
		out->batch_reordered += s->batch_reordered;
		out->inflight += s->inflight;
		if (s->max_inflight > out->max_inflight)
			out->max_inflight = s->max_inflight;
		if (emu->wqs[i].last_seq > best) {
			best = emu->wqs[i].last_seq;
			out->last_flags = s->last_flags;
			out->last_opcode = s->last_opcode;
			out->last_status = s->last_status;
			out->last_xfer_size = s->last_xfer_size;
		}
	}
}

void
dsa_emu_get_stats(struct dsa_emu *emu, int wq, struct dsa_emu_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!emu)
		return;
	pthread_mutex_lock(&emu->lock);
	if (wq >= 0) {
		if ((unsigned)wq < emu->nwq)
			*out = emu->wqs[wq].st;
		pthread_mutex_unlock(&emu->lock);
		return;
	}
	sum_stats_locked(emu, 0, emu->nwq, out);
	pthread_mutex_unlock(&emu->lock);
}

void
dsa_emu_get_device_stats(struct dsa_emu *emu, unsigned dev, struct dsa_emu_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!emu || dev >= emu->ndev)
		return;
	pthread_mutex_lock(&emu->lock);
	sum_stats_locked(emu, dev * emu->nwq_per, (dev + 1) * emu->nwq_per, out);
	pthread_mutex_unlock(&emu->lock);
}

unsigned
dsa_emu_ndevices(const struct dsa_emu *emu)
{
	return emu ? emu->ndev : 0;
}

void
dsa_emu_set_speed(struct dsa_emu *emu, int dev, unsigned bytes_per_us)
{
	if (!emu)
		return;
	for (unsigned i = 0; i < emu->ndev; i++)
		if (dev < 0 || (unsigned)dev == i)
			__atomic_store_n(&emu->speed[i], bytes_per_us, __ATOMIC_RELAXED);
}

uint64_t
dsa_emu_written(struct dsa_emu *emu, const void *addr, size_t len)
{
	if (!emu || !len)
		return 0;
	uint64_t a = (uintptr_t)addr, b = a + len < a ? UINT64_MAX : a + len;
	pthread_mutex_lock(&emu->lock);
	uint64_t n = wr_overlap_locked(emu, a, b);
	pthread_mutex_unlock(&emu->lock);
	return n;
}

void
dsa_emu_reset_stats(struct dsa_emu *emu)
{
	if (!emu)
		return;
	pthread_mutex_lock(&emu->lock);
	for (unsigned i = 0; i < emu->nwq; i++) {
		struct dsa_emu_stats *s = &emu->wqs[i].st;
		unsigned inflight = s->inflight;
		memset(s, 0, sizeof(*s));
		s->inflight = inflight;
		emu->wqs[i].last_seq = 0;
		emu->wqs[i].nbord = 0;
		emu->wqs[i].bord_seq = 0;
	}
	emu->nwr = 0;
	pthread_mutex_unlock(&emu->lock);
}

unsigned
dsa_emu_batch_order(struct dsa_emu *emu, int wq, unsigned *idx, unsigned max)
{
	if (!emu)
		return 0;
	pthread_mutex_lock(&emu->lock);
	const struct emu_wq *best = NULL;
	for (unsigned i = 0; i < emu->nwq; i++) {
		const struct emu_wq *w = &emu->wqs[i];
		if ((wq < 0 || (unsigned)wq == i) && w->bord_seq &&
		    (!best || w->bord_seq > best->bord_seq))
			best = w;
	}
	unsigned n = best ? best->nbord : 0;
	for (unsigned k = 0; k < n && k < max; k++)
		idx[k] = best->bord[k];
	pthread_mutex_unlock(&emu->lock);
	return n;
}

int
dsa_emu_wait_processed(struct dsa_emu *emu, uint64_t n, unsigned timeout_ms)
{
	if (!emu)
		return -1;
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += timeout_ms / 1000;
	dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	int ret = 0;
	pthread_mutex_lock(&emu->lock);
	for (;;) {
		uint64_t sum = 0;
		int busy = 0;
		for (unsigned i = 0; i < emu->nwq; i++) {
			sum += emu->wqs[i].st.processed;
			busy |= emu->wqs[i].publishing;
		}
		if (sum >= n && !busy)
			break;
		if (pthread_cond_timedwait(&emu->cond, &emu->lock, &dl) == ETIMEDOUT) {
			ret = -1;
			break;
		}
	}
	pthread_mutex_unlock(&emu->lock);
	return ret;
}
