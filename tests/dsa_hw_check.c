/* dsa_hw_check.c - the DSA mover on the machine's real DSA devices: what a
 * systems engineer runs first on a node with DSA (root, or a user the WQ
 * files let in):
 *
 *   sudo ./build/tests/dsa_hw_check          # exit 0 passed, 1 failed,
 *                                            # 77 no usable device (why)
 *
 * It uses only the public API, as a program would. It lists the enabled
 * user WQs sysfs shows, then, on three movers over all of them (the
 * defaults; every byte to the device, hybrid split off; coalescing off),
 * checks every operation against a CPU reference: copies of 1 B .. 9 MiB
 * at odd offsets (above the WQ's max_transfer_size too), overlapping
 * moves both ways, fills, flushes, both flags; destinations and sources
 * on pages never touched (device page faults, which the mover resolves);
 * a read-only destination and an unmapped source (VDM_ERROR_DSA_PAGE_FAULT,
 * nothing written); 256 operations in flight at once, waited for and
 * busy-polled; cancellation before the first poll; two threads on one
 * mover. It prints what each mover did on each WQ (descriptors, batches,
 * page faults, refusals: data_mover_dsa_get_wq_info) and fails when the
 * device took nothing, or no batch where operations could be coalesced.
 * Any wrong byte or result fails it, saying which.
 *
 * The test suite runs it against the emulated device (tests/dsa_emu_run,
 * dedicated and shared WQ), which proves the program, not the hardware:
 * what only a real device can show (its page-fault handling through the
 * IOMMU, ENQCMD on a shared WQ, batch descriptors in silicon) shows when
 * it is run on one. bench/bench_dsa_hw gives that machine's figures. */
#define _GNU_SOURCE
#define MINIASYNC_IMPLEMENTATION
#include "miniasync.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <pthread.h>
#include <unistd.h>
#define HC_LOG(...) (getenv("HC_V") ? (void)printf(__VA_ARGS__) : (void)0)

static const char *hc_case = "start";

#define CHECK(x) do { if (!(x)) { \
	fprintf(stderr, "FAIL dsa_hw_check [%s] %s:%d: %s\n", hc_case, \
		__FILE__, __LINE__, #x); exit(1); } } while (0)
#define CHECK_RES(r, want) do { enum vdm_operation_result r_ = (r); \
	if (r_ != (want)) { fprintf(stderr, "FAIL dsa_hw_check [%s] " \
		"%s:%d: result %s, expected %s\n", hc_case, __FILE__, \
		__LINE__, vdm_result_str(r_), vdm_result_str(want)); \
		exit(1); } } while (0)

#define MIB ((size_t)1 << 20)
#define ARENA (32 * MIB)

static struct runtime *hc_rt;

static void
pattern(unsigned char *p, size_t n, unsigned seed)
{
	uint32_t x = seed * 2654435761u + 1;

	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = (unsigned char)(x >> 16);
	}
}

static void *
map(size_t n, int prot)
{
	void *p = mmap(NULL, n, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CHECK(p != MAP_FAILED);
	return p;
}

/* ---- what sysfs shows ---------------------------------------------- */

static int
sysfs_read(const char *dir, const char *name, char *buf, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "/sys/bus/dsa/devices/%s/%s", dir, name);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	if (fgets(buf, (int)len, f) == NULL)
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/* prints the enabled user WQs; returns how many */
static int
list_wqs(void)
{
	DIR *d = opendir("/sys/bus/dsa/devices");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		char st[64], ty[64], mode[64], size[64], xfer[64], bat[64];

		const char *wq = e->d_name;

		if (strncmp(wq, "wq", 2) != 0 ||
				sysfs_read(wq, "state", st, sizeof(st)) ||
				sysfs_read(wq, "type", ty, sizeof(ty)) ||
				strcmp(st, "enabled") != 0 ||
				strcmp(ty, "user") != 0)
			continue;
		if (sysfs_read(e->d_name, "mode", mode, sizeof(mode)))
			strcpy(mode, "?");
		if (sysfs_read(e->d_name, "size", size, sizeof(size)))
			strcpy(size, "?");
		if (sysfs_read(e->d_name, "max_transfer_size", xfer,
				sizeof(xfer)))
			strcpy(xfer, "?");
		if (sysfs_read(e->d_name, "max_batch_size", bat, sizeof(bat)))
			strcpy(bat, "?");
		printf("   %s: %s, %s entries, max_transfer_size %s, "
			"max_batch_size %s\n", wq, mode, size, xfer, bat);
		n++;
	}
	closedir(d);
	return n;
}

/* ---- one operation at a time ------------------------------------------ */

static enum vdm_operation_result
wait_one(struct vdm_operation_future f)
{
	runtime_wait(hc_rt, FUTURE_AS_RUNNABLE(&f));
	CHECK(f.base.context.state == FUTURE_STATE_COMPLETE);
	return FUTURE_OUTPUT(&f)->result;
}

/* memcpy, memmove (both directions, overlapping) and memset of n bytes at
 * odd offsets in a (ARENA bytes), checked against the same on ref */
static void
ops_of_size(struct vdm *vdm, unsigned char *a, unsigned char *ref, size_t n,
	unsigned seed)
{
	size_t half = ARENA / 2, so = 3 + seed % 61, dof = half + 5 + seed % 59;

	CHECK(so + n / 3 + 1 + n <= half && dof + n / 3 + 1 + n <= ARENA);
	pattern(a, ARENA, seed);
	memcpy(ref, a, ARENA);
	CHECK_RES(wait_one(vdm_memcpy(vdm, a + dof, a + so, n, 0)),
		VDM_SUCCESS);
	memcpy(ref + dof, ref + so, n);
	CHECK(memcmp(a, ref, ARENA) == 0);

	/* overlapping, destination above and below the source */
	CHECK_RES(wait_one(vdm_memmove(vdm, a + so + n / 3 + 1, a + so, n,
		0)), VDM_SUCCESS);
	memmove(ref + so + n / 3 + 1, ref + so, n);
	CHECK(memcmp(a, ref, ARENA) == 0);
	CHECK_RES(wait_one(vdm_memmove(vdm, a + dof, a + dof + n / 3 + 1, n,
		0)), VDM_SUCCESS);
	memmove(ref + dof, ref + dof + n / 3 + 1, n);
	CHECK(memcmp(a, ref, ARENA) == 0);

	CHECK_RES(wait_one(vdm_memset(vdm, a + dof + 1, 0x5a + (int)seed, n,
		0)), VDM_SUCCESS);
	memset(ref + dof + 1, 0x5a + (int)seed, n);
	CHECK(memcmp(a, ref, ARENA) == 0);
}

static void
check_sizes(struct vdm *vdm, unsigned char *a, unsigned char *ref)
{
	static const size_t sizes[] = { 1, 63, 64, 65, 4095, 4096, 4097,
		65536 + 3, 2 * 1024 * 1024, 2 * 1024 * 1024 + 1,
		9 * 1024 * 1024 + 7 };

	hc_case = "sizes";
	HC_LOG("   %s\n", hc_case);
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		ops_of_size(vdm, a, ref, sizes[i], i + 1);
}

static void
check_flags(struct vdm *vdm, unsigned char *a, unsigned char *ref)
{
	static const uint64_t flags[] = { VDM_F_MEM_DURABLE,
		VDM_F_NO_CACHE_HINT, VDM_F_MEM_DURABLE | VDM_F_NO_CACHE_HINT };
	size_t n = 3 * MIB + 11;

	hc_case = "flags and flush";
	HC_LOG("   %s\n", hc_case);
	pattern(a, ARENA, 77);
	memcpy(ref, a, ARENA);
	for (unsigned i = 0; i < 3; i++) {
		if (!vdm_is_supported(vdm, (unsigned)flags[i])) {
			printf("   flags %#x: not supported by this mover\n",
				(unsigned)flags[i]);
			continue;
		}
		CHECK_RES(wait_one(vdm_memcpy(vdm, a + ARENA / 2 + i, a + i,
			n, flags[i])), VDM_SUCCESS);
		memcpy(ref + ARENA / 2 + i, ref + i, n);
		CHECK_RES(wait_one(vdm_memset(vdm, a + 4096 * i, (int)i, 8191,
			flags[i])), VDM_SUCCESS);
		memset(ref + 4096 * i, (int)i, 8191);
		CHECK(memcmp(a, ref, ARENA) == 0);
	}
	CHECK_RES(wait_one(vdm_flush(vdm, a + 1, 5 * MIB, 0)), VDM_SUCCESS);
	CHECK(memcmp(a, ref, ARENA) == 0);
}

/* pages never touched: the device faults on them (a source reads zeros) */
static void
check_fresh_pages(struct vdm *vdm, unsigned char *src)
{
	size_t n = 4 * MIB + 4096 * 3;
	unsigned char *dst = map(n, PROT_READ | PROT_WRITE);
	unsigned char *zero = map(n, PROT_READ | PROT_WRITE);

	hc_case = "pages never touched";
	HC_LOG("   %s\n", hc_case);
	pattern(src, n, 9);
	CHECK_RES(wait_one(vdm_memcpy(vdm, dst + 100, src, n - 100, 0)),
		VDM_SUCCESS);
	CHECK(memcmp(dst + 100, src, n - 100) == 0);
	CHECK_RES(wait_one(vdm_memcpy(vdm, src, zero, n, 0)), VDM_SUCCESS);
	for (size_t i = 0; i < n; i++)
		CHECK(src[i] == 0);
	munmap(dst, n);
	munmap(zero, n);
}

/* what the kernel cannot fault in fails the operation, nothing written */
static void
check_bad_pages(struct vdm *vdm, unsigned char *src)
{
	size_t n = 64 * 1024;
	unsigned char *ro = map(n, PROT_READ | PROT_WRITE);
	unsigned char *none = map(n, PROT_NONE);

	hc_case = "read-only destination, unmapped source";
	HC_LOG("   %s\n", hc_case);
	memset(ro, 0x11, n);
	CHECK(mprotect(ro, n, PROT_READ) == 0);
	pattern(src, n, 5);
	CHECK_RES(wait_one(vdm_memcpy(vdm, ro, src, n, 0)),
		VDM_ERROR_DSA_PAGE_FAULT);
	for (size_t i = 0; i < n; i++)
		CHECK(ro[i] == 0x11);
	CHECK_RES(wait_one(vdm_memcpy(vdm, src, none, n, 0)),
		VDM_ERROR_DSA_PAGE_FAULT);
	munmap(ro, n);
	munmap(none, n);
}

/* ---- many at once --------------------------------------------------- */

#define MANY 256
#define SLOT (64 * 1024)

static size_t
many_size(unsigned i)
{
	static const size_t sz[] = { 64, 200, 1024, 4096, 4099, 16384,
		SLOT - 1, SLOT };

	return sz[i % 8];
}

/* MANY copies of up to 64 KiB in flight: coalesced into batches where the
 * mover does that, more than the WQs hold */
static void
check_many(struct vdm *vdm, unsigned char *a, int busy)
{
	static struct vdm_operation_future f[MANY];
	struct future *fs[MANY];
	unsigned char *src = a, *dst = a + (size_t)MANY * SLOT;

	hc_case = busy ? "256 in flight, busy polling" :
		"256 in flight, runtime_wait_multiple";
	HC_LOG("   %s\n", hc_case);
	CHECK((size_t)2 * MANY * SLOT <= ARENA);
	pattern(src, (size_t)MANY * SLOT, busy + 40);
	memset(dst, 0, (size_t)MANY * SLOT);
	for (unsigned i = 0; i < MANY; i++) {
		f[i] = vdm_memcpy(vdm, dst + (size_t)i * SLOT,
			src + (size_t)i * SLOT, many_size(i), 0);
		fs[i] = FUTURE_AS_RUNNABLE(&f[i]);
	}
	if (busy) {
		unsigned left = MANY;

		while (left > 0)
			for (unsigned i = 0; i < MANY; i++)
				if (fs[i]->context.state !=
						FUTURE_STATE_COMPLETE &&
						future_poll(fs[i], NULL) ==
						FUTURE_STATE_COMPLETE)
					left--;
	} else {
		runtime_wait_multiple(hc_rt, fs, MANY);
	}
	for (unsigned i = 0; i < MANY; i++) {
		size_t off = (size_t)i * SLOT, n = many_size(i);

		CHECK_RES(FUTURE_OUTPUT(&f[i])->result, VDM_SUCCESS);
		CHECK(memcmp(dst + off, src + off, n) == 0);
		for (size_t k = n; k < SLOT; k++)
			CHECK(dst[off + k] == 0);
	}
}

static void
check_cancel(struct vdm *vdm, unsigned char *a)
{
	struct vdm_operation_future f[64];
	struct future *fs[64];
	unsigned char *src = a, *dst = a + 64 * SLOT;
	unsigned cancelled = 0;

	hc_case = "cancellation before the first poll";
	HC_LOG("   %s\n", hc_case);
	pattern(src, 64 * SLOT, 3);
	memset(dst, 0, 64 * SLOT);
	for (unsigned i = 0; i < 64; i++) {
		f[i] = vdm_memcpy(vdm, dst + (size_t)i * SLOT,
			src + (size_t)i * SLOT, SLOT, 0);
		fs[i] = FUTURE_AS_RUNNABLE(&f[i]);
	}
	for (unsigned i = 0; i < 64; i += 2)
		if (vdm_cancel(&f[i]) == 0)
			cancelled++;
	CHECK(cancelled == 32); /* none was polled: none started */
	runtime_wait_multiple(hc_rt, fs, 64);
	for (unsigned i = 0; i < 64; i++) {
		size_t off = (size_t)i * SLOT;

		if (i % 2 == 0) {
			CHECK_RES(FUTURE_OUTPUT(&f[i])->result,
				VDM_ERROR_CANCELLED);
			for (size_t k = 0; k < SLOT; k++)
				CHECK(dst[off + k] == 0);
		} else {
			CHECK_RES(FUTURE_OUTPUT(&f[i])->result, VDM_SUCCESS);
			CHECK(memcmp(dst + off, src + off, SLOT) == 0);
		}
	}
}

/* ---- two threads on one mover ----------------------------------------- */

struct hc_thread {
	struct vdm *vdm;
	unsigned char *buf; /* 2 * 4 MiB */
	unsigned seed;
	int failed;
};

/* pthreads, not C11 threads: glibc's thrd_create bypasses ThreadSanitizer's
 * interceptors (see miniasync.h, >>cthreads) */
static void *
thread_main(void *arg)
{
	struct hc_thread *t = (struct hc_thread *)arg;
	struct runtime *rt = runtime_new();
	unsigned char *src = t->buf, *dst = t->buf + 4 * MIB;

	if (rt == NULL) {
		t->failed = 1;
		return NULL;
	}
	pattern(src, 4 * MIB, t->seed);
	for (unsigned k = 0; k < 200 && !t->failed; k++) {
		size_t n = (size_t)1 << (6 + k % 16), off = k % 7;
		struct vdm_operation_future f;

		if (off + n > 4 * MIB)
			n = 4 * MIB - off;
		f = vdm_memcpy(t->vdm, dst + off, src + off, n, 0);
		runtime_wait(rt, FUTURE_AS_RUNNABLE(&f));
		if (FUTURE_OUTPUT(&f)->result != VDM_SUCCESS ||
				memcmp(dst + off, src + off, n) != 0) {
			fprintf(stderr, "thread %u, copy %u of %zu bytes: "
				"%s\n", t->seed, k, n, vdm_result_str(
				FUTURE_OUTPUT(&f)->result));
			t->failed = 1;
		}
	}
	runtime_delete(rt);
	return NULL;
}

static void
check_threads(struct vdm *vdm, unsigned char *a)
{
	struct hc_thread t[2];
	pthread_t th[2];

	hc_case = "two threads on one mover";
	HC_LOG("   %s\n", hc_case);
	for (unsigned i = 0; i < 2; i++) {
		t[i] = (struct hc_thread){ vdm, a + i * 8 * MIB, i + 1, 0 };
		CHECK(pthread_create(&th[i], NULL, thread_main, &t[i]) == 0);
	}
	for (unsigned i = 0; i < 2; i++)
		CHECK(pthread_join(th[i], NULL) == 0 && !t[i].failed);
}

/* ---- the movers ------------------------------------------------------- */

/* prints what the mover did on each of its WQs (data_mover_dsa_get_wq_info)
 * and checks that the device took work: descriptors on some WQ, and
 * batches where 256 operations in flight could be coalesced */
static void
check_counts(struct data_mover_dsa *dmd, int coalescing)
{
	static const char *const how[] = { "MOVDIR64B", "ENQCMD", "write()" };
	size_t n = data_mover_dsa_wq_count(dmd);
	uint64_t desc = 0, members = 0;
	int can_batch = 0;

	hc_case = "the mover's counts";
	CHECK(n >= 1);
	for (size_t i = 0; i < n; i++) {
		struct data_mover_dsa_wq_info in;

		CHECK(data_mover_dsa_get_wq_info(dmd, i, &in) == 0);
		printf("   %s/%s (%s, node %d, %s): %llu descriptors, %llu "
			"MiB, %llu batches of %llu, %llu page faults, %llu "
			"refused\n",
			in.device, in.wq, in.dedicated ? "dedicated" : "shared",
			in.numa_node, how[in.submit],
			(unsigned long long)in.descriptors,
			(unsigned long long)(in.bytes >> 20),
			(unsigned long long)in.batches,
			(unsigned long long)in.batch_members,
			(unsigned long long)in.page_faults,
			(unsigned long long)in.refused);
		desc += in.descriptors;
		members += in.batch_members;
		can_batch |= in.submit != DATA_MOVER_DSA_SUBMIT_WRITE &&
			in.max_batch >= 2;
	}
	CHECK(desc > 0);
	if (coalescing && can_batch)
		CHECK(members > 0);
}

int
main(void)
{
	static const char *const names[] = { "the defaults",
		"every byte to the device (cpu_threshold 1, no hybrid split)",
		"coalescing off (batch_max 1)" };
	unsigned char *a = map(ARENA, PROT_READ | PROT_WRITE);
	unsigned char *ref = map(ARENA, PROT_READ | PROT_WRITE);
	int nwq;

	setvbuf(stdout, NULL, _IOLBF, 0);
	hc_rt = runtime_new();
	CHECK(hc_rt != NULL);
	printf("dsa_hw_check: enabled user WQs in sysfs:\n");
	nwq = list_wqs();
	for (int m = 0; m < 3; m++) {
		struct data_mover_dsa_config cfg;
		struct data_mover_dsa *dmd;
		struct vdm *vdm;

		memset(&cfg, 0, sizeof(cfg));
		cfg.timeout_ns = 60ull * 1000000000u; /* only when broken */
		if (m == 1) {
			cfg.cpu_threshold = 1;
			cfg.hybrid_threshold = SIZE_MAX;
		} else if (m == 2) {
			cfg.cpu_threshold = 1;
			cfg.batch_max = 1;
		}
		dmd = data_mover_dsa_new(&cfg);
		if (dmd == NULL && m == 0) {
			printf("SKIP dsa_hw_check: no usable DSA device (%d "
				"enabled user WQs in sysfs): %s\n", nwq,
				data_mover_dsa_last_error_str());
			return 77;
		}
		hc_case = names[m];
		CHECK(dmd != NULL);
		vdm = data_mover_dsa_get_vdm(dmd);
		printf("-- mover %d: %s\n", m + 1, names[m]);
		check_sizes(vdm, a, ref);
		check_flags(vdm, a, ref);
		check_fresh_pages(vdm, a);
		check_bad_pages(vdm, a);
		check_many(vdm, a, 0);
		check_many(vdm, a, 1);
		check_cancel(vdm, a);
		check_threads(vdm, a);
		check_counts(dmd, m != 2);
		data_mover_dsa_delete(dmd);
		printf("   ok\n");
	}
	runtime_delete(hc_rt);
	munmap(a, ARENA);
	munmap(ref, ARENA);
	printf("dsa_hw_check: all passed\n");
	return 0;
}
