/* test_vdm.c - the virtual data mover layer of miniasync.h (API.md
 * sections 4 and 5, sync mover): vdm_memcpy / memmove / memset / flush on
 * the sync mover with content and guard checks for sizes 0 .. several MiB,
 * overlapping memmove in both directions, both flags on every operation,
 * the output members, the struct layout and enum values, vdm_is_supported,
 * vdm_result_str; bad input (NULL vdm, NULL buffers, bad flags, wrapping
 * ranges); a user-written mover filling struct vdm; futures moved in memory
 * between polls on the sync and threads movers; the sync mover allocating
 * nothing per operation; every member of a new future written (built over
 * a dirtied stack); a sync mover whose callbacks a program replaced still
 * calls them; the data_mover_dsa_* stubs without MINIASYNC_DSA.
 * Prints one line per check group; exits 0 (pass) or 1 (fail). */

/* This translation unit tests the "compiled without DSA" stubs, whatever
 * the build system passes. */
#undef MINIASYNC_DSA
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* nanosleep (musl declares it only so) */
#endif

#include <stdatomic.h>
#include <stddef.h>

/* count the library's allocations (MINIASYNC_MALLOC / MINIASYNC_FREE) */
static void *count_malloc(size_t size);
static void count_free(void *p);
#define MINIASYNC_MALLOC(sz) count_malloc(sz)
#define MINIASYNC_FREE(p) count_free(p)
#define MINIASYNC_IMPLEMENTATION
#include "miniasync.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_long n_mallocs, n_frees;

static void *
count_malloc(size_t size)
{
	atomic_fetch_add(&n_mallocs, 1);
	return malloc(size);
}

static void
count_free(void *p)
{
	if (p != NULL)
		atomic_fetch_add(&n_frees, 1);
	free(p);
}

#include "test_core_util.h"

/* CHECK that stops reporting after a few failures inside loops */
#define CHECKQ(cond, ...)                                                      \
	do {                                                                   \
		if (!(cond)) {                                                 \
			if (failures < 20) {                                   \
				fprintf(stderr, "  %s:%d: check failed: %s: ",  \
					__FILE__, __LINE__, #cond);            \
				fprintf(stderr, __VA_ARGS__);                  \
				fputc('\n', stderr);                           \
			}                                                      \
			failures++;                                            \
		}                                                              \
	} while (0)

static struct data_mover_sync *dms;
static struct vdm *sync_vdm;
/* the CPU movers write cache lines back (MASYNC__WB): without that they
 * refuse durable operations and flushes (set in main) */
static int durable_ok;

static const uint64_t all_flags[] = {0, VDM_F_MEM_DURABLE, VDM_F_NO_CACHE_HINT,
	VDM_F_MEM_DURABLE | VDM_F_NO_CACHE_HINT};
#define NFLAGS (sizeof(all_flags) / sizeof(all_flags[0]))

#define GUARD 64
#define BIG (3u << 20)
static unsigned char *pattern; /* BIG + 256 bytes of pseudo-random data */

static void
make_pattern(void)
{
	uint32_t x = 12345;
	size_t i;

	pattern = (unsigned char *)malloc(BIG + 256);
	if (pattern == NULL) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	/* xorshift32, four bytes per step: no short period */
	for (i = 0; i + 4 <= BIG + 256; i += 4) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		memcpy(pattern + i, &x, 4);
	}
}

static int
all_bytes(const unsigned char *p, size_t n, unsigned char v)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != v)
			return 0;
	return 1;
}

/* What a built-in CPU mover ends a well-formed operation with: without
 * cache write-back, durable operations and flushes are refused (nothing
 * written). */
static enum vdm_operation_result
cpu_result(enum vdm_operation_type type, uint64_t flags)
{
	if (!durable_ok && (type == VDM_OPERATION_FLUSH ||
			(flags & VDM_F_MEM_DURABLE)))
		return VDM_ERROR_NOT_SUPPORTED;
	return VDM_SUCCESS;
}

/* ======================================================================== */

static void
group_layout(void)
{
	CHECK(sizeof(struct vdm_operation_data) ==
		2 * sizeof(void *) + VDM_OPERATION_DATA_MAX_SIZE + 8); /* 64 */
	CHECK(VDM_OPERATION_MEMCPY == 0 && VDM_OPERATION_MEMMOVE == 1 &&
		VDM_OPERATION_MEMSET == 2 && VDM_OPERATION_FLUSH == 3);
	CHECK(VDM_SUCCESS == 0 && VDM_ERROR_OUT_OF_MEMORY == 1 &&
		VDM_ERROR_JOB_CORRUPTED == 2);
	CHECK(VDM_ERROR_INVALID_ARGUMENT > VDM_ERROR_JOB_CORRUPTED);
	CHECK((VDM_F_VALID_FLAGS & VDM_F_MEM_DURABLE) != 0);
	CHECK((VDM_F_VALID_FLAGS & VDM_F_NO_CACHE_HINT) != 0);
	CHECK((VDM_F_MEM_DURABLE & VDM_F_NO_CACHE_HINT) == 0);

	/* the members programs touch */
	struct vdm_operation_data d;
	memset(&d, 0, sizeof(d));
	d.data = &d;
	d.vdm = sync_vdm;
	d.operation.type = VDM_OPERATION_MEMSET;
	d.operation.data.memcpy.dest = &d;
	d.operation.data.memcpy.src = &d;
	d.operation.data.memcpy.n = 1;
	d.operation.data.memcpy.flags = 0;
	d.operation.data.memmove.dest = &d;
	d.operation.data.memmove.src = &d;
	d.operation.data.memmove.n = 2;
	d.operation.data.memmove.flags = 0;
	d.operation.data.memset.str = &d;
	d.operation.data.memset.c = 3;
	d.operation.data.memset.n = 4;
	d.operation.data.memset.flags = 0;
	d.operation.data.flush.dest = &d;
	d.operation.data.flush.n = 5;
	d.operation.data.flush.flags = VDM_F_MEM_DURABLE;
	CHECK(sizeof(d.operation.data.data) >=
		sizeof(struct vdm_operation_data_memcpy));
	CHECK(d.operation.data.flush.flags == VDM_F_MEM_DURABLE);

	struct vdm_operation_output o;
	memset(&o, 0, sizeof(o));
	o.type = VDM_OPERATION_FLUSH;
	o.result = VDM_SUCCESS;
	o.output.memcpy.dest = &o;
	CHECK(o.output.memmove.dest == (void *)&o);
	o.output.memset.str = NULL;
	o.output.flush.unused = 0;

	struct vdm_operation_future f;
	CHECK(sizeof(f.data) == sizeof(struct vdm_operation_data));
	CHECK(sizeof(f.output) == sizeof(struct vdm_operation_output));
	CHECK((void *)&f.base == (void *)&f);

	/* older names */
	struct vdm_memcpy_future *cf = &f;
	struct vdm_flush_future *ff = cf;
	CHECK(ff == &f);

	/* the mover interface types */
	vdm_operation_new on = NULL;
	vdm_operation_start os = NULL;
	vdm_operation_check oc = NULL;
	vdm_operation_delete od = NULL;
	struct vdm v;
	v.op_new = on;
	v.op_start = os;
	v.op_check = oc;
	v.op_delete = od;
	v.capabilities = 0;
	v.has_property = NULL;
	CHECK(v.op_new == NULL && v.capabilities == 0);
}

/* Runs one operation on the sync mover and checks its future. */
static void
run_sync(struct vdm_operation_future *f, enum vdm_operation_type type,
	void *dest, int first_poll)
{
	struct future_notifier n;
	enum vdm_operation_result want =
		cpu_result(type, masync__args(&f->data.operation).flags);

	CHECKQ(f->base.context.state == FUTURE_STATE_IDLE, "type %d", type);
	if (first_poll) {
		memset(&n, 0xFF, sizeof(n));
		/* the sync mover completes on the first poll */
		CHECKQ(future_poll(FUTURE_AS_RUNNABLE(f), &n) ==
			FUTURE_STATE_COMPLETE, "type %d", type);
		/* (also a refused one: nothing to wait for) */
		CHECKQ(n.notifier_used == FUTURE_NOTIFIER_NONE, "type %d",
			type);
	} else {
		FUTURE_BUSY_POLL(f);
	}
	CHECKQ(FUTURE_OUTPUT(f)->type == type, "type %d", type);
	CHECKQ(FUTURE_OUTPUT(f)->result == want, "result %d",
		FUTURE_OUTPUT(f)->result);
	if (want != VDM_SUCCESS) {
		/* refused: no destination, as after a bad argument */
		CHECKQ(FUTURE_OUTPUT(f)->output.memcpy.dest == NULL, "type %d",
			type);
		CHECKQ(f->data.data == NULL, "type %d", type);
		return;
	}
	switch (type) {
	case VDM_OPERATION_MEMCPY:
		CHECKQ(FUTURE_OUTPUT(f)->output.memcpy.dest == dest, "dest");
		break;
	case VDM_OPERATION_MEMMOVE:
		CHECKQ(FUTURE_OUTPUT(f)->output.memmove.dest == dest, "dest");
		break;
	case VDM_OPERATION_MEMSET:
		CHECKQ(FUTURE_OUTPUT(f)->output.memset.str == dest, "str");
		break;
	case VDM_OPERATION_FLUSH:
		break;
	}
}

/* 16 KiB: the streaming copy's four-page block (its edges and remainders) */
static const size_t small_sizes[] = {0, 1, 2, 3, 7, 8, 15, 16, 31, 32, 63, 64,
	65, 127, 128, 129, 255, 256, 1000, 4095, 4096, 4097, 16383, 16384,
	16385, 16384 + 64 + 17, 32768 + 211};
static const size_t big_sizes[] = {65536 + 5, (1u << 20) + 3, BIG};
static const size_t offsets[] = {0, 1, 13, 63};

static void
one_size(size_t n, size_t off, size_t fi, unsigned char *dst_area,
	unsigned char *ref, int *poll_mode)
{
	uint64_t flags = all_flags[fi];
	unsigned char *dst = dst_area + GUARD + off;
	const unsigned char *src = pattern + 7 + fi;
	struct vdm_operation_future f;
	int c = (int)(0x100 | (n & 0xFF)) + (int)fi; /* fill byte, > 255 */
	/* refused (no write-back): the destination keeps its 0xEE */
	int ok = cpu_result(VDM_OPERATION_MEMCPY, flags) == VDM_SUCCESS;

	/* memcpy */
	memset(dst_area, 0xEE, n + 2 * GUARD + off);
	f = vdm_memcpy(sync_vdm, dst, (void *)(uintptr_t)src, n, flags);
	run_sync(&f, VDM_OPERATION_MEMCPY, dst, (*poll_mode ^= 1));
	CHECKQ(ok ? memcmp(dst, src, n) == 0 : all_bytes(dst, n, 0xEE),
		"memcpy n=%zu off=%zu fl=%zu", n, off, fi);
	CHECKQ(all_bytes(dst_area, GUARD + off, 0xEE) &&
		all_bytes(dst + n, GUARD, 0xEE), "memcpy guard n=%zu", n);

	/* memmove, no overlap */
	memset(dst_area, 0xEE, n + 2 * GUARD + off);
	f = vdm_memmove(sync_vdm, dst, (void *)(uintptr_t)(src + 3), n, flags);
	run_sync(&f, VDM_OPERATION_MEMMOVE, dst, (*poll_mode ^= 1));
	CHECKQ(ok ? memcmp(dst, src + 3, n) == 0 : all_bytes(dst, n, 0xEE),
		"memmove n=%zu off=%zu fl=%zu", n, off, fi);
	CHECKQ(all_bytes(dst_area, GUARD + off, 0xEE) &&
		all_bytes(dst + n, GUARD, 0xEE), "memmove guard n=%zu", n);

	/* memset: c is converted to unsigned char */
	memset(dst_area, 0xEE, n + 2 * GUARD + off);
	f = vdm_memset(sync_vdm, dst, c, n, flags);
	run_sync(&f, VDM_OPERATION_MEMSET, dst, (*poll_mode ^= 1));
	memset(ref, ok ? (unsigned char)c : 0xEE, n);
	CHECKQ(memcmp(dst, ref, n) == 0, "memset n=%zu off=%zu fl=%zu", n, off,
		fi);
	CHECKQ(all_bytes(dst_area, GUARD + off, 0xEE) &&
		all_bytes(dst + n, GUARD, 0xEE), "memset guard n=%zu", n);

	/* flush: contents unchanged */
	memcpy(dst, src, n);
	f = vdm_flush(sync_vdm, dst, n, flags);
	run_sync(&f, VDM_OPERATION_FLUSH, dst, (*poll_mode ^= 1));
	CHECKQ(memcmp(dst, src, n) == 0, "flush n=%zu off=%zu fl=%zu", n, off,
		fi);
}

static void
group_sync_ops(void)
{
	unsigned char *dst_area = (unsigned char *)malloc(BIG + 4 * GUARD);
	unsigned char *ref = (unsigned char *)malloc(BIG);
	size_t si, oi, fi;
	int poll_mode = 0;

	if (dst_area == NULL || ref == NULL) {
		CHECK(!"out of memory");
		free(dst_area);
		free(ref);
		return;
	}
	for (fi = 0; fi < NFLAGS; fi++) {
		for (si = 0; si < sizeof(small_sizes) / sizeof(small_sizes[0]);
				si++)
			for (oi = 0; oi < sizeof(offsets) / sizeof(offsets[0]);
					oi++)
				one_size(small_sizes[si], offsets[oi], fi,
					dst_area, ref, &poll_mode);
		for (si = 0; si < sizeof(big_sizes) / sizeof(big_sizes[0]);
				si++) {
			if (big_sizes[si] == BIG && fi % 3 != 0)
				continue; /* the biggest: flags 0 and both */
			one_size(big_sizes[si], si == 1 ? 5 : 0, fi, dst_area,
				ref, &poll_mode);
		}
	}
	free(dst_area);
	free(ref);
}

static void
group_overlap(void)
{
	static const size_t sizes[] = {1, 2, 100, 4097, (1u << 20) + 5};
	static const size_t shifts[] = {1, 7, 64, 4096, 300000};
	size_t max = (1u << 20) + 5 + 300000 + 64;
	unsigned char *buf = (unsigned char *)malloc(max);
	unsigned char *ref = (unsigned char *)malloc(max);
	size_t si, hi, fi;
	int dir, poll_mode = 0;

	if (buf == NULL || ref == NULL) {
		CHECK(!"out of memory");
		free(buf);
		free(ref);
		return;
	}
	for (fi = 0; fi < NFLAGS; fi++)
		for (si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++)
			for (hi = 0; hi < sizeof(shifts) / sizeof(shifts[0]);
					hi++)
				for (dir = 0; dir < 2; dir++) {
					size_t n = sizes[si], k = shifts[hi];
					size_t total = n + k + 32;
					unsigned char *s = buf + 16 +
						(dir ? k : 0);
					unsigned char *d = buf + 16 +
						(dir ? 0 : k);
					struct vdm_operation_future f;

					if (k > n && n > 2)
						continue; /* no overlap */
					if (n > 4097 && (k == 7 || k == 64))
						continue; /* keep it short */
					memcpy(buf, pattern + si + hi, total);
					memcpy(ref, buf, total);
					/* (refused: buf as it was) */
					if (cpu_result(VDM_OPERATION_MEMMOVE,
							all_flags[fi]) ==
							VDM_SUCCESS)
						memmove(ref + (d - buf),
							ref + (s - buf), n);
					f = vdm_memmove(sync_vdm, d, s, n,
						all_flags[fi]);
					run_sync(&f, VDM_OPERATION_MEMMOVE, d,
						(poll_mode ^= 1));
					CHECKQ(memcmp(buf, ref, total) == 0,
						"overlap n=%zu k=%zu dir=%d "
						"fl=%zu", n, k, dir, fi);
				}
	free(buf);
	free(ref);
}

/* The sync mover copies 16 .. 64 bytes itself (every byte loaded before
 * the first store): every size around that range, every overlap of the
 * two ranges in both directions, memset of every size; the bytes around
 * the destination stay untouched. */
static void
group_small_inline(void)
{
	unsigned char buf[256], ref[256];
	size_t n, k;
	int dir, poll_mode = 0;

	for (n = 0; n <= 80; n++) {
		for (k = 0; k <= 80; k++)
			for (dir = 0; dir < 2; dir++) {
				unsigned char *s = buf + 32 + (dir ? k : 0);
				unsigned char *d = buf + 32 + (dir ? 0 : k);
				struct vdm_operation_future f;

				memcpy(buf, pattern + n + k, sizeof(buf));
				memcpy(ref, buf, sizeof(buf));
				memmove(ref + (d - buf), ref + (s - buf), n);
				if (dir)
					f = vdm_memcpy(sync_vdm, d, s, n, 0);
				else
					f = vdm_memmove(sync_vdm, d, s, n, 0);
				run_sync(&f, dir ? VDM_OPERATION_MEMCPY :
					VDM_OPERATION_MEMMOVE, d,
					(poll_mode ^= 1));
				CHECKQ(memcmp(buf, ref, sizeof(buf)) == 0,
					"small n=%zu k=%zu dir=%d", n, k, dir);
			}
		for (k = 0; k < 16; k++) {
			struct vdm_operation_future f;

			memcpy(buf, pattern + n, sizeof(buf));
			memcpy(ref, buf, sizeof(buf));
			memset(ref + 32 + k, 0xA5, n);
			f = vdm_memset(sync_vdm, buf + 32 + k, 0x7A5, n, 0);
			run_sync(&f, VDM_OPERATION_MEMSET, buf + 32 + k,
				(poll_mode ^= 1));
			CHECKQ(memcmp(buf, ref, sizeof(buf)) == 0,
				"small memset n=%zu k=%zu", n, k);
		}
	}
}

/* A program may write into the operation before the first poll. */
static void
group_write_members(void)
{
	unsigned char src[64], dst[64];
	struct vdm_operation_future f;

	memset(src, 0x42, sizeof(src));
	memset(dst, 0, sizeof(dst));
	f = vdm_memcpy(sync_vdm, dst, src, 8, 0);
	f.data.operation.data.memcpy.n = 40;
	f.data.operation.data.memcpy.dest = dst + 4;
	FUTURE_BUSY_POLL(&f);
	CHECK(f.output.result == VDM_SUCCESS);
	CHECK(f.output.output.memcpy.dest == (void *)(dst + 4));
	CHECK(all_bytes(dst, 4, 0) && all_bytes(dst + 4, 40, 0x42) &&
		all_bytes(dst + 44, 20, 0));
}

static void
group_no_allocation(void)
{
	unsigned char a[256], b[256];
	long m0 = atomic_load(&n_mallocs), f0 = atomic_load(&n_frees);
	int i;

	memset(a, 1, sizeof(a));
	for (i = 0; i < 100; i++) {
		struct vdm_operation_future f =
			vdm_memcpy(sync_vdm, b, a, sizeof(a), 0);
		FUTURE_BUSY_POLL(&f);
		CHECKQ(f.output.result == VDM_SUCCESS, "i=%d", i);
		f = vdm_memset(sync_vdm, b, i, sizeof(b), VDM_F_MEM_DURABLE);
		FUTURE_BUSY_POLL(&f);
		CHECKQ(f.output.result == cpu_result(VDM_OPERATION_MEMSET,
			VDM_F_MEM_DURABLE), "i=%d", i);
	}
	CHECK(atomic_load(&n_mallocs) == m0);
	CHECK(atomic_load(&n_frees) == f0);
	/* refused (no write-back): the copy's bytes are left */
	CHECK(all_bytes(b, sizeof(b), durable_ok ? 99 : 1));
}

/* many threads on one sync mover at once */
static void *
sync_worker(void *arg)
{
	int id = (int)(intptr_t)arg, i, ok = 1;
	unsigned char src[512], dst[512];

	for (i = 0; i < 300; i++) {
		memset(src, id * 16 + (i & 15), sizeof(src));
		struct vdm_operation_future f = vdm_memcpy(sync_vdm, dst, src,
			sizeof(src), i % 2 ? VDM_F_NO_CACHE_HINT : 0);
		FUTURE_BUSY_POLL(&f);
		if (f.output.result != VDM_SUCCESS ||
				memcmp(src, dst, sizeof(src)) != 0)
			ok = 0;
	}
	return ok ? arg : NULL;
}

static void
group_sync_threads(void)
{
	pthread_t th[4];
	int i, started[4];

	for (i = 0; i < 4; i++)
		started[i] = pthread_create(&th[i], NULL, sync_worker,
			(void *)(intptr_t)(i + 1)) == 0;
	for (i = 0; i < 4; i++) {
		void *ret = NULL;

		CHECK(started[i]);
		if (started[i])
			pthread_join(th[i], &ret);
		CHECK(ret == (void *)(intptr_t)(i + 1));
	}
}

/* ======================================================================== */
/* a user-written mover                                                     */
/* ======================================================================== */

struct my_mover {
	struct vdm base;
	int fail_new;      /* op_new returns NULL */
	int refuse_starts; /* op_start refuses this many times */
	int checks_needed; /* op_check calls until complete */
	int news, starts, refused, checks, deletes, live;
	const struct vdm_operation *last_op; /* op pointer seen last */
	struct future_notifier *last_notifier;
	void *last_prop_future;
};

struct my_state {
	struct my_mover *m;
	enum vdm_operation_type type;
	int checks;
	int magic;
};

static void *
my_new(struct vdm *vdm, const enum vdm_operation_type type)
{
	struct my_mover *m = (struct my_mover *)vdm;
	struct my_state *s;

	m->news++;
	if (m->fail_new)
		return NULL;
	s = (struct my_state *)malloc(sizeof(*s));
	if (s == NULL)
		return NULL;
	s->m = m;
	s->type = type;
	s->checks = 0;
	s->magic = 0x5EED;
	m->live++;
	return s;
}

static int
my_start(void *data, const struct vdm_operation *op, struct future_notifier *n)
{
	struct my_state *s = (struct my_state *)data;

	s->m->last_op = op;
	s->m->last_notifier = n;
	if (s->m->refuse_starts > 0) {
		s->m->refuse_starts--;
		s->m->refused++;
		return 1; /* not now: stay idle */
	}
	s->m->starts++;
	if (s->magic != 0x5EED || op->type != s->type)
		s->magic = 0; /* corrupted: noticed in delete */
	return 0;
}

static enum future_state
my_check(void *data, const struct vdm_operation *op)
{
	struct my_state *s = (struct my_state *)data;

	s->m->checks++;
	s->m->last_op = op;
	if (++s->checks < s->m->checks_needed)
		return FUTURE_STATE_RUNNING;
	/* do the work at the end, from the operation as it is now */
	switch (op->data.memcpy.n == 0 && op->type != VDM_OPERATION_MEMSET ?
			VDM_OPERATION_FLUSH : op->type) {
	case VDM_OPERATION_MEMCPY:
		memcpy(op->data.memcpy.dest, op->data.memcpy.src,
			op->data.memcpy.n);
		break;
	case VDM_OPERATION_MEMMOVE:
		memmove(op->data.memmove.dest, op->data.memmove.src,
			op->data.memmove.n);
		break;
	case VDM_OPERATION_MEMSET:
		if (op->data.memset.n != 0)
			memset(op->data.memset.str, op->data.memset.c,
				op->data.memset.n);
		break;
	case VDM_OPERATION_FLUSH:
		break;
	}
	return FUTURE_STATE_COMPLETE;
}

static void
my_delete(void *data, const struct vdm_operation *op,
	struct vdm_operation_output *out)
{
	struct my_state *s = (struct my_state *)data;

	s->m->deletes++;
	s->m->live--;
	out->type = op->type;
	out->result = s->magic == 0x5EED ? VDM_SUCCESS :
		VDM_ERROR_JOB_CORRUPTED;
	switch (op->type) {
	case VDM_OPERATION_MEMCPY:
		out->output.memcpy.dest = op->data.memcpy.dest;
		break;
	case VDM_OPERATION_MEMMOVE:
		out->output.memmove.dest = op->data.memmove.dest;
		break;
	case VDM_OPERATION_MEMSET:
		out->output.memset.str = op->data.memset.str;
		break;
	case VDM_OPERATION_FLUSH:
		out->output.flush.unused = 0;
		break;
	}
	free(s);
}

static int
my_prop(void *future, enum future_property p)
{
	struct future *f = (struct future *)future;
	struct vdm_operation_data *d =
		(struct vdm_operation_data *)future_context_get_data(
			&f->context);

	((struct my_mover *)d->vdm)->last_prop_future = future;
	return p == FUTURE_PROPERTY_ASYNC;
}

static void
my_init(struct my_mover *m, unsigned caps)
{
	memset(m, 0, sizeof(*m));
	m->base.op_new = my_new;
	m->base.op_start = my_start;
	m->base.op_check = my_check;
	m->base.op_delete = my_delete;
	m->base.capabilities = caps;
	m->base.has_property = my_prop;
	m->checks_needed = 3;
}

static void
group_user_mover(void)
{
	struct my_mover m;
	unsigned char src[100], dst[100];
	struct vdm_operation_future *a, *b;
	struct future_notifier n;

	my_init(&m, VDM_F_MEM_DURABLE);
	memset(src, 0x77, sizeof(src));
	memset(dst, 0, sizeof(dst));
	m.refuse_starts = 1;
	a = (struct vdm_operation_future *)malloc(sizeof(*a));
	b = (struct vdm_operation_future *)malloc(sizeof(*b));
	if (a == NULL || b == NULL) {
		CHECK(!"out of memory");
		free(a);
		free(b);
		return;
	}
	*a = vdm_memcpy(&m.base, dst, src, sizeof(src), VDM_F_MEM_DURABLE);
	CHECK(m.news == 1 && m.live == 1);
	CHECK(a->base.context.state == FUTURE_STATE_IDLE);
	CHECK(a->data.vdm == &m.base);
	CHECK(a->data.data != NULL);
	CHECK(a->data.operation.type == VDM_OPERATION_MEMCPY);
	CHECK(a->data.operation.data.memcpy.n == sizeof(src));
	CHECK(future_has_property(FUTURE_AS_RUNNABLE(a),
		FUTURE_PROPERTY_ASYNC) == 1);
	CHECK(m.last_prop_future == (void *)FUTURE_AS_RUNNABLE(a));

	/* poll 1: start refused, the future stays idle */
	memset(&n, 0, sizeof(n));
	CHECK(future_poll(FUTURE_AS_RUNNABLE(a), &n) == FUTURE_STATE_IDLE);
	CHECK(m.refused == 1 && m.starts == 0 && m.checks == 0);
	CHECK(m.last_notifier == &n);

	/* move it */
	memcpy(b, a, sizeof(*a));
	memset(a, 0xDB, sizeof(*a));
	free(a);

	/* poll 2: started, checked once */
	CHECK(future_poll(FUTURE_AS_RUNNABLE(b), NULL) ==
		FUTURE_STATE_RUNNING);
	CHECK(m.starts == 1 && m.checks == 1);
	CHECK(m.last_op == &b->data.operation);
	CHECK(m.last_notifier == NULL);

	/* move again between checks */
	a = (struct vdm_operation_future *)malloc(sizeof(*a));
	if (a == NULL) {
		CHECK(!"out of memory");
		free(b);
		return;
	}
	memcpy(a, b, sizeof(*b));
	free(b);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(a), &n) == FUTURE_STATE_RUNNING);
	CHECK(m.last_op == &a->data.operation);
	CHECK(dst[0] == 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(a), &n) ==
		FUTURE_STATE_COMPLETE);
	CHECK(m.checks == 3 && m.deletes == 1 && m.live == 0);
	CHECK(a->output.type == VDM_OPERATION_MEMCPY);
	CHECK(a->output.result == VDM_SUCCESS);
	CHECK(a->output.output.memcpy.dest == (void *)dst);
	CHECK(a->data.data == NULL);
	CHECK(memcmp(dst, src, sizeof(src)) == 0);
	/* complete: the mover is not called again */
	CHECK(future_poll(FUTURE_AS_RUNNABLE(a), &n) ==
		FUTURE_STATE_COMPLETE);
	CHECK(m.checks == 3 && m.deletes == 1 && m.starts == 1);
	free(a);

	/* every operation type, through the runtime */
	struct runtime *rt = runtime_new();
	CHECK(rt != NULL);
	if (rt != NULL) {
		unsigned char buf[64];
		struct vdm_operation_future f[4];
		struct future *futs[4];
		int i;

		memset(buf, 0, sizeof(buf));
		memset(dst, 0, sizeof(dst));
		m.refuse_starts = 2;
		f[0] = vdm_memcpy(&m.base, dst, src, 10, 0);
		f[1] = vdm_memmove(&m.base, dst + 20, src, 10, 0);
		f[2] = vdm_memset(&m.base, buf, 0x3C, 30, VDM_F_MEM_DURABLE);
		f[3] = vdm_flush(&m.base, buf, 30, 0);
		for (i = 0; i < 4; i++)
			futs[i] = FUTURE_AS_RUNNABLE(&f[i]);
		runtime_wait_multiple(rt, futs, 4);
		CHECK(m.deletes == 5 && m.live == 0);
		for (i = 0; i < 4; i++) {
			CHECK(f[i].output.result == VDM_SUCCESS);
			CHECK(f[i].output.type == (enum vdm_operation_type)i);
		}
		CHECK(f[1].output.output.memmove.dest == (void *)(dst + 20));
		CHECK(f[2].output.output.memset.str == (void *)buf);
		CHECK(all_bytes(dst, 10, 0x77) && all_bytes(dst + 20, 10, 0x77));
		CHECK(all_bytes(buf, 30, 0x3C) && all_bytes(buf + 30, 34, 0));
		runtime_delete(rt);
	}

	/* has_property NULL in a user-written mover */
	m.base.has_property = NULL;
	struct vdm_operation_future g = vdm_memset(&m.base, dst, 1, 5, 0);
	CHECK(future_has_property(FUTURE_AS_RUNNABLE(&g),
		FUTURE_PROPERTY_ASYNC) == 0);
	FUTURE_BUSY_POLL(&g);
	CHECK(all_bytes(dst, 5, 1));
	CHECK(m.live == 0);
}

/* ---- every member of a new future has its value ------------------------
 * The futures are built where a stack frame full of 0xa5 was just left, so
 * a member the constructor did not write would most likely read 0xa5. */
#define NEW_FUT_KINDS 4

#if defined(__GNUC__) || defined(__clang__)
#define TV_NOINLINE __attribute__((noinline))
#else
#define TV_NOINLINE
#endif

static TV_NOINLINE void
dirty_stack(void)
{
	volatile unsigned char junk[4096];
	size_t i;

	for (i = 0; i < sizeof(junk); i++)
		junk[i] = 0xa5;
}

static TV_NOINLINE void
make_future(struct vdm *vdm, int kind, void *dst, void *src,
	struct vdm_operation_future *out)
{
	struct vdm_operation_future f;

	switch (kind) {
	case 0:
		f = vdm_memcpy(vdm, dst, src, 48, VDM_F_MEM_DURABLE);
		break;
	case 1:
		f = vdm_memmove(vdm, dst, src, 48, 0);
		break;
	case 2:
		f = vdm_memset(vdm, dst, 0x17, 48, VDM_F_NO_CACHE_HINT);
		break;
	default:
		f = vdm_flush(vdm, dst, 48, 0);
		break;
	}
	memcpy(out, &f, sizeof(f));
}

/* `state`: IDLE for a mover that took it, COMPLETE with `result` else */
static void
check_new_future(const struct vdm_operation_future *f, struct vdm *vdm,
	int kind, void *dst, void *src, enum vdm_operation_result result)
{
	const struct vdm_operation *op = &f->data.operation;
	const uint8_t *bytes = op->data.data;
	size_t args = 0, i;

	CHECKQ(f->base.task != NULL, "kind %d", kind);
	CHECKQ(f->base.context.data_size == sizeof(f->data), "kind %d", kind);
	CHECKQ(f->base.context.output_size == sizeof(f->output), "kind %d",
		kind);
	CHECKQ(f->base.context.padding == 0, "kind %d", kind);
	CHECKQ(f->data.vdm == vdm, "kind %d", kind);
	CHECKQ(op->type == (enum vdm_operation_type)kind, "kind %d", kind);
	CHECKQ(op->padding == 0, "kind %d", kind);
	CHECKQ(f->output.type == (enum vdm_operation_type)kind, "kind %d", kind);
	CHECKQ(f->output.result == result, "kind %d: %d", kind,
		(int)f->output.result);
	CHECKQ(f->output.output.flush.unused == 0, "kind %d", kind);
	if (result == VDM_SUCCESS) {
		CHECKQ(f->base.context.state == FUTURE_STATE_IDLE, "kind %d",
			kind);
		CHECKQ(f->base.has_property == (vdm->has_property != NULL ?
			vdm->has_property : future_has_property_default),
			"kind %d", kind);
		CHECKQ(f->data.data != NULL, "kind %d", kind);
	} else {
		CHECKQ(f->base.context.state == FUTURE_STATE_COMPLETE,
			"kind %d", kind);
		/* the mover's, as libminiasync left it on such a future */
		CHECKQ(f->base.has_property == (vdm == NULL ? NULL :
			vdm->has_property), "kind %d", kind);
		CHECKQ(f->data.data == NULL, "kind %d", kind);
	}
	switch (kind) {
	case 0:
		CHECKQ(op->data.memcpy.dest == dst && op->data.memcpy.src == src &&
			op->data.memcpy.n == 48 &&
			op->data.memcpy.flags == VDM_F_MEM_DURABLE, "memcpy");
		args = sizeof(op->data.memcpy);
		break;
	case 1:
		CHECKQ(op->data.memmove.dest == dst &&
			op->data.memmove.src == src &&
			op->data.memmove.n == 48 && op->data.memmove.flags == 0,
			"memmove");
		args = sizeof(op->data.memmove);
		break;
	case 2:
		CHECKQ(op->data.memset.str == dst && op->data.memset.c == 0x17 &&
			op->data.memset.n == 48 &&
			op->data.memset.flags == VDM_F_NO_CACHE_HINT, "memset");
		args = sizeof(op->data.memset);
		/* the bytes between c and n */
		for (i = offsetof(struct vdm_operation_data_memset, c) +
				sizeof(int);
				i < offsetof(struct vdm_operation_data_memset, n);
				i++)
			CHECKQ(bytes[i] == 0, "memset: byte %zu", i);
		break;
	default:
		CHECKQ(op->data.flush.dest == dst && op->data.flush.n == 48 &&
			op->data.flush.flags == 0, "flush");
		args = sizeof(op->data.flush);
		break;
	}
	/* the union's bytes past the arguments */
	for (i = args; i < VDM_OPERATION_DATA_MAX_SIZE; i++)
		CHECKQ(bytes[i] == 0, "kind %d: byte %zu", kind, i);
}

static void
group_new_future_members(void)
{
	static unsigned char src[48], dst[48];
	struct data_mover_threads *dmt =
		data_mover_threads_new(1, 8, FUTURE_NOTIFIER_WAKER);
	struct my_mover m;
	int kind;

	CHECK(dmt != NULL);
	if (dmt == NULL)
		return;
	my_init(&m, VDM_F_VALID_FLAGS);
	for (kind = 0; kind < NEW_FUT_KINDS; kind++) {
		struct vdm *tv = data_mover_threads_get_vdm(dmt);
		struct vdm_operation_future f;

		dirty_stack();
		make_future(sync_vdm, kind, dst, src, &f);
		check_new_future(&f, sync_vdm, kind, dst, src, VDM_SUCCESS);
		memset(dst, 0x5A, sizeof(dst)); /* src is all 0 */
		FUTURE_BUSY_POLL(&f);
		CHECK(f.output.result == cpu_result(f.data.operation.type,
			masync__args(&f.data.operation).flags));
		/* refused (no write-back): nothing written, no destination */
		if (f.output.result != VDM_SUCCESS)
			CHECK(all_bytes(dst, sizeof(dst), 0x5A) &&
				f.output.output.memcpy.dest == NULL);

		dirty_stack();
		make_future(tv, kind, dst, src, &f);
		check_new_future(&f, tv, kind, dst, src, VDM_SUCCESS);
		CHECK(vdm_cancel(&f) == 0);

		dirty_stack();
		make_future(NULL, kind, dst, src, &f);
		check_new_future(&f, NULL, kind, dst, src,
			VDM_ERROR_INVALID_ARGUMENT);

		m.fail_new = 1;
		dirty_stack();
		make_future(&m.base, kind, dst, src, &f);
		check_new_future(&f, &m.base, kind, dst, src,
			VDM_ERROR_OUT_OF_MEMORY);
		m.fail_new = 0;
		dirty_stack();
		make_future(&m.base, kind, dst, src, &f);
		check_new_future(&f, &m.base, kind, dst, src, VDM_SUCCESS);
		FUTURE_BUSY_POLL(&f);
	}
	data_mover_threads_delete(dmt);
}

/* ---- a sync mover whose callbacks a program replaced ---------------------
 * The sync mover's first poll skips its start/check/delete calls only
 * while they are its own: a replaced one is called. */
static vdm_operation_delete wrapped_delete;
static vdm_operation_start wrapped_start;
static int n_wrapped_deletes, n_wrapped_starts;

static void
counting_delete(void *data, const struct vdm_operation *op,
	struct vdm_operation_output *out)
{
	n_wrapped_deletes++;
	wrapped_delete(data, op, out);
}

static int
counting_start(void *data, const struct vdm_operation *op,
	struct future_notifier *n)
{
	n_wrapped_starts++;
	return wrapped_start(data, op, n);
}

static void
group_sync_wrapped(void)
{
	struct data_mover_sync *d = data_mover_sync_new();
	struct vdm *v = data_mover_sync_get_vdm(d);
	unsigned char src[32], dst[32];
	struct vdm_operation_future f;

	CHECK(d != NULL);
	if (d == NULL)
		return;
	memcpy(src, pattern, sizeof(src));
	wrapped_delete = v->op_delete;
	v->op_delete = counting_delete;
	memset(dst, 0, sizeof(dst));
	f = vdm_memcpy(v, dst, src, sizeof(src), 0);
	FUTURE_BUSY_POLL(&f);
	CHECK(f.output.result == VDM_SUCCESS);
	CHECK(f.output.output.memcpy.dest == dst);
	CHECK(memcmp(dst, src, sizeof(src)) == 0);
	CHECK(n_wrapped_deletes == 1);
	v->op_delete = wrapped_delete;

	wrapped_start = v->op_start;
	v->op_start = counting_start;
	memset(dst, 0, sizeof(dst));
	f = vdm_memset(v, dst, 0x33, sizeof(dst), 0);
	FUTURE_BUSY_POLL(&f);
	CHECK(f.output.result == VDM_SUCCESS);
	CHECK(all_bytes(dst, sizeof(dst), 0x33));
	CHECK(n_wrapped_starts == 1);
	v->op_start = wrapped_start;

	/* restored: the short path again, the counters stay */
	f = vdm_memcpy(v, dst, src, sizeof(src), 0);
	FUTURE_BUSY_POLL(&f);
	CHECK(memcmp(dst, src, sizeof(src)) == 0);
	CHECK(n_wrapped_deletes == 1 && n_wrapped_starts == 1);
	data_mover_sync_delete(d);
}

/* ---- a program's copy of the sync mover's callbacks -----------------------
 * A struct vdm filled with the sync mover's callbacks but not its private
 * capability bit is a user-written mover: every flag bit reaches its
 * start. A replaced op_new alone keeps the short path's results. */
static vdm_operation_new copied_new;
static int n_copied_news;

static void *
counting_new(struct vdm *vdm, const enum vdm_operation_type type)
{
	n_copied_news++;
	return copied_new(vdm, type);
}

static void
group_sync_copied(void)
{
	struct data_mover_sync *d = data_mover_sync_new();
	struct vdm *v = data_mover_sync_get_vdm(d);
	unsigned char src[32], dst[32];
	struct vdm_operation_future f;
	struct vdm c;

	CHECK(d != NULL);
	if (d == NULL)
		return;
	memcpy(src, pattern, sizeof(src));
	c = *v;
	c.capabilities = VDM_F_VALID_FLAGS;
	memset(dst, 0, sizeof(dst));
	f = vdm_memcpy(&c, dst, src, sizeof(src), 0);
	FUTURE_BUSY_POLL(&f);
	CHECK(f.output.result == VDM_SUCCESS);
	CHECK(f.output.type == VDM_OPERATION_MEMCPY);
	CHECK(f.output.output.memcpy.dest == dst);
	CHECK(f.data.data == NULL);
	CHECK(memcmp(dst, src, sizeof(src)) == 0);
	memset(dst, 0, sizeof(dst));
	f = vdm_memmove(&c, dst, src, sizeof(src), (uint64_t)1 << 40);
	FUTURE_BUSY_POLL(&f);
	CHECK(f.output.result == VDM_SUCCESS);
	CHECK(memcmp(dst, src, sizeof(src)) == 0);
	f = vdm_memset(&c, dst, 0x44, sizeof(dst), 0);
	FUTURE_BUSY_POLL(&f);
	CHECK(f.output.result == VDM_SUCCESS);
	CHECK(f.output.output.memset.str == dst);
	CHECK(all_bytes(dst, sizeof(dst), 0x44));
	f = vdm_memcpy(&c, NULL, src, 8, 0);
	FUTURE_BUSY_POLL(&f);
	CHECK(f.output.result == VDM_ERROR_INVALID_ARGUMENT);

	copied_new = v->op_new;
	v->op_new = counting_new;
	memset(dst, 0, sizeof(dst));
	f = vdm_memcpy(v, dst, src, sizeof(src), 0);
	FUTURE_BUSY_POLL(&f);
	CHECK(n_copied_news == 1);
	CHECK(f.output.result == VDM_SUCCESS);
	CHECK(f.output.output.memcpy.dest == dst);
	CHECK(memcmp(dst, src, sizeof(src)) == 0);
	f = vdm_memset(v, dst, 0, sizeof(dst), (uint64_t)1 << 40);
	FUTURE_BUSY_POLL(&f);
	CHECK(f.output.result == VDM_ERROR_INVALID_ARGUMENT);
	CHECK(memcmp(dst, src, sizeof(src)) == 0);
	v->op_new = copied_new;
	data_mover_sync_delete(d);
}

static void
group_user_mover_oom(void)
{
	struct my_mover m;
	unsigned char src[8] = {1, 2, 3, 4, 5, 6, 7, 8}, dst[8] = {0};
	struct vdm_operation_future f;
	int i;

	my_init(&m, VDM_F_VALID_FLAGS);
	m.fail_new = 1;
	for (i = 0; i < 4; i++) {
		switch (i) {
		case 0:
			f = vdm_memcpy(&m.base, dst, src, 8, 0);
			break;
		case 1:
			f = vdm_memmove(&m.base, dst, src, 8, 0);
			break;
		case 2:
			f = vdm_memset(&m.base, dst, 9, 8, 0);
			break;
		default:
			f = vdm_flush(&m.base, dst, 8, 0);
			break;
		}
		CHECK(f.base.context.state == FUTURE_STATE_COMPLETE);
		CHECK(f.output.result == VDM_ERROR_OUT_OF_MEMORY);
		CHECK(f.output.type == (enum vdm_operation_type)i);
		CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), NULL) ==
			FUTURE_STATE_COMPLETE);
		/* the mover's has_property, as libminiasync's set it */
		CHECK(f.base.has_property == m.base.has_property);
		CHECK(future_has_property(FUTURE_AS_RUNNABLE(&f),
			FUTURE_PROPERTY_ASYNC) == my_prop(&f,
			FUTURE_PROPERTY_ASYNC));
	}
	CHECK(m.news == 4);
	CHECK(m.starts == 0 && m.checks == 0 && m.deletes == 0);
	CHECK(all_bytes(dst, 8, 0));
}

static void
group_is_supported(void)
{
	struct my_mover m;

	/* both flags with cache write-back, else neither (durable_ok is
	 * checked against MASYNC__WB in main) */
	CHECK(vdm_is_supported(sync_vdm, VDM_F_MEM_DURABLE) == durable_ok);
	CHECK(vdm_is_supported(sync_vdm, VDM_F_NO_CACHE_HINT) == durable_ok);
	CHECK(vdm_is_supported(sync_vdm, VDM_F_VALID_FLAGS) == durable_ok);
	CHECK(!vdm_is_supported(sync_vdm, 1u << 5));
	CHECK(!vdm_is_supported(sync_vdm, VDM_F_MEM_DURABLE | (1u << 5)));
	CHECK(!vdm_is_supported(sync_vdm, 1u << 31));
	CHECK(!vdm_is_supported(sync_vdm, ~0u));
	errno = 0;
	CHECK(!vdm_is_supported(NULL, VDM_F_MEM_DURABLE)); /* no crash */
	CHECK(errno == EINVAL);

	my_init(&m, VDM_F_MEM_DURABLE);
	CHECK(vdm_is_supported(&m.base, VDM_F_MEM_DURABLE));
	CHECK(!vdm_is_supported(&m.base, VDM_F_NO_CACHE_HINT));
	/* every bit must be supported, not just any */
	CHECK(!vdm_is_supported(&m.base,
		VDM_F_MEM_DURABLE | VDM_F_NO_CACHE_HINT));
	my_init(&m, VDM_F_NO_CACHE_HINT);
	CHECK(!vdm_is_supported(&m.base, VDM_F_MEM_DURABLE));
	CHECK(vdm_is_supported(&m.base, VDM_F_NO_CACHE_HINT));
	CHECK(!vdm_is_supported(&m.base, VDM_F_VALID_FLAGS));
	my_init(&m, 0);
	CHECK(!vdm_is_supported(&m.base, VDM_F_MEM_DURABLE));
	CHECK(!vdm_is_supported(&m.base, 1u << 31));
	CHECK(!vdm_is_supported(&m.base, VDM_F_NO_CACHE_HINT));
	my_init(&m, VDM_F_VALID_FLAGS | (1u << 7));
	CHECK(vdm_is_supported(&m.base, VDM_F_VALID_FLAGS));
	CHECK(vdm_is_supported(&m.base, 1u << 7));
	CHECK(!vdm_is_supported(&m.base, 1u << 8));
}

static void
group_result_str(void)
{
	const char *s[VDM_ERROR_DSA_INVALID + 1];
	const char *unknown;
	int i, j;

	for (i = 0; i <= VDM_ERROR_DSA_INVALID; i++) {
		s[i] = vdm_result_str((enum vdm_operation_result)i);
		CHECKQ(s[i] != NULL && s[i][0] != '\0', "result %d", i);
		if (s[i] == NULL)
			s[i] = "";
	}
	for (i = 0; i <= VDM_ERROR_DSA_INVALID; i++)
		for (j = 0; j < i; j++)
			CHECKQ(strcmp(s[i], s[j]) != 0, "%d and %d: %s", i, j,
				s[i]);
	CHECK(strstr(s[VDM_SUCCESS], "success") != NULL);
	CHECK(strstr(s[VDM_ERROR_OUT_OF_MEMORY], "memory") != NULL);
	CHECK(strstr(s[VDM_ERROR_INVALID_ARGUMENT], "invalid") != NULL);
	unknown = vdm_result_str((enum vdm_operation_result)1000);
	CHECK(unknown != NULL && unknown[0] != '\0');
	if (unknown != NULL)
		for (i = 0; i <= VDM_ERROR_DSA_INVALID; i++)
			CHECK(strcmp(unknown, s[i]) != 0);
	unknown = vdm_result_str((enum vdm_operation_result)-1);
	CHECK(unknown != NULL && unknown[0] != '\0');
}

/* ======================================================================== */
/* bad input                                                                */
/* ======================================================================== */

static void
expect_failed(struct vdm_operation_future *f, enum vdm_operation_type type,
	enum vdm_operation_result result, const char *what)
{
	struct runtime *rt;
	struct future_notifier n;

	/* a NULL mover: complete at once; else checked at the first poll,
	 * which leaves nothing to wait for (NONE) */
	if (f->data.vdm != NULL) {
		memset(&n, 0xFF, sizeof(n));
		n.notifier_used = FUTURE_NOTIFIER_WAKER;
		CHECKQ(f->base.context.state == FUTURE_STATE_IDLE, "%s", what);
		CHECKQ(future_poll(FUTURE_AS_RUNNABLE(f), &n) ==
			FUTURE_STATE_COMPLETE, "%s", what);
		CHECKQ(n.notifier_used == FUTURE_NOTIFIER_NONE, "%s", what);
		CHECKQ(f->data.data == NULL, "%s", what);
	}
	CHECKQ(f->base.context.state == FUTURE_STATE_COMPLETE, "%s", what);
	CHECKQ(f->output.result == result, "%s: %d", what, f->output.result);
	CHECKQ(f->output.type == type, "%s", what);
	CHECKQ(future_poll(FUTURE_AS_RUNNABLE(f), NULL) ==
		FUTURE_STATE_COMPLETE, "%s", what);
	/* born complete: no property (else the mover's) */
	CHECKQ(f->data.vdm != NULL || future_has_property(FUTURE_AS_RUNNABLE(f),
		FUTURE_PROPERTY_ASYNC) == 0, "%s", what);
	FUTURE_BUSY_POLL(f);
	rt = runtime_new();
	if (rt != NULL) {
		runtime_wait(rt, FUTURE_AS_RUNNABLE(f));
		runtime_delete(rt);
	}
	CHECKQ(f->output.result == result, "%s", what);
}

static void
expect_invalid(struct vdm_operation_future *f, enum vdm_operation_type type,
	const char *what)
{
	expect_failed(f, type, VDM_ERROR_INVALID_ARGUMENT, what);
}

/* strict_flags: a built-in mover (refuses unknown flags); a user-written
 * one gets every flag bit */
static void
bad_inputs_on(struct vdm *vdm, int strict_flags)
{
	unsigned char src[32], dst[32];
	void *wrap = (void *)(UINTPTR_MAX - 15);
	static const uint64_t bad_flags[] = {1u << 2, 1u << 31,
		(uint64_t)1 << 63, VDM_F_VALID_FLAGS | (1u << 3)};
	struct vdm_operation_future f;
	size_t i;

	memset(src, 0x11, sizeof(src));
	memset(dst, 0x22, sizeof(dst));

	/* NULL buffers with n > 0 */
	f = vdm_memcpy(vdm, NULL, src, 8, 0);
	expect_invalid(&f, VDM_OPERATION_MEMCPY, "memcpy NULL dest");
	f = vdm_memcpy(vdm, dst, NULL, 8, 0);
	expect_invalid(&f, VDM_OPERATION_MEMCPY, "memcpy NULL src");
	f = vdm_memmove(vdm, NULL, src, 8, 0);
	expect_invalid(&f, VDM_OPERATION_MEMMOVE, "memmove NULL dest");
	f = vdm_memmove(vdm, dst, NULL, 8, 0);
	expect_invalid(&f, VDM_OPERATION_MEMMOVE, "memmove NULL src");
	f = vdm_memset(vdm, NULL, 1, 8, 0);
	expect_invalid(&f, VDM_OPERATION_MEMSET, "memset NULL");
	f = vdm_flush(vdm, NULL, 8, 0);
	expect_invalid(&f, VDM_OPERATION_FLUSH, "flush NULL");

	/* flags outside VDM_F_VALID_FLAGS, also with n == 0 */
	for (i = 0; strict_flags &&
			i < sizeof(bad_flags) / sizeof(bad_flags[0]); i++) {
		f = vdm_memcpy(vdm, dst, src, 8, bad_flags[i]);
		expect_invalid(&f, VDM_OPERATION_MEMCPY, "memcpy flags");
		f = vdm_memmove(vdm, dst, src, 8, bad_flags[i]);
		expect_invalid(&f, VDM_OPERATION_MEMMOVE, "memmove flags");
		f = vdm_memset(vdm, dst, 0, 8, bad_flags[i]);
		expect_invalid(&f, VDM_OPERATION_MEMSET, "memset flags");
		f = vdm_flush(vdm, dst, 8, bad_flags[i]);
		expect_invalid(&f, VDM_OPERATION_FLUSH, "flush flags");
		f = vdm_memset(vdm, dst, 0, 0, bad_flags[i]);
		expect_invalid(&f, VDM_OPERATION_MEMSET, "memset flags n=0");
	}

	/* ranges that wrap around the address space */
	f = vdm_memcpy(vdm, wrap, src, 64, 0);
	expect_invalid(&f, VDM_OPERATION_MEMCPY, "memcpy wrapping dest");
	f = vdm_memcpy(vdm, dst, wrap, 64, 0);
	expect_invalid(&f, VDM_OPERATION_MEMCPY, "memcpy wrapping src");
	f = vdm_memmove(vdm, wrap, src, 64, 0);
	expect_invalid(&f, VDM_OPERATION_MEMMOVE, "memmove wrapping dest");
	f = vdm_memmove(vdm, dst, wrap, 64, 0);
	expect_invalid(&f, VDM_OPERATION_MEMMOVE, "memmove wrapping src");
	f = vdm_memset(vdm, wrap, 0, 64, 0);
	expect_invalid(&f, VDM_OPERATION_MEMSET, "memset wrapping");
	f = vdm_flush(vdm, wrap, 64, 0);
	expect_invalid(&f, VDM_OPERATION_FLUSH, "flush wrapping");
	f = vdm_memset(vdm, dst, 0, SIZE_MAX, 0);
	expect_invalid(&f, VDM_OPERATION_MEMSET, "memset SIZE_MAX");
	f = vdm_memcpy(vdm, dst, src, SIZE_MAX, VDM_F_NO_CACHE_HINT);
	expect_invalid(&f, VDM_OPERATION_MEMCPY, "memcpy SIZE_MAX");
	/* the last byte one past the top of the address space */
	f = vdm_memcpy(vdm, (void *)(UINTPTR_MAX - 63), src, 64, 0);
	expect_invalid(&f, VDM_OPERATION_MEMCPY, "memcpy dest wraps by 1");
	f = vdm_memmove(vdm, dst, (void *)(UINTPTR_MAX - 31), 33, 0);
	expect_invalid(&f, VDM_OPERATION_MEMMOVE, "memmove src wraps by 1");

	CHECK(all_bytes(src, sizeof(src), 0x11));
	CHECK(all_bytes(dst, sizeof(dst), 0x22));

	/* NULL buffers with n == 0 are fine and write nothing (a built-in
	 * mover without write-back refuses the durable memset and the
	 * flush) */
	f = vdm_memcpy(vdm, NULL, NULL, 0, 0);
	FUTURE_BUSY_POLL(&f);
	CHECK(f.output.result == VDM_SUCCESS);
	f = vdm_memset(vdm, NULL, 0, 0, VDM_F_VALID_FLAGS);
	FUTURE_BUSY_POLL(&f);
	CHECK(f.output.result == (strict_flags ? cpu_result(
		VDM_OPERATION_MEMSET, VDM_F_VALID_FLAGS) : VDM_SUCCESS));
	f = vdm_flush(vdm, NULL, 0, 0);
	FUTURE_BUSY_POLL(&f);
	CHECK(f.output.result == (strict_flags ? cpu_result(
		VDM_OPERATION_FLUSH, 0) : VDM_SUCCESS));
	/* so is one NULL buffer beside a real one */
	f = vdm_memcpy(vdm, dst, NULL, 0, 0);
	FUTURE_BUSY_POLL(&f);
	CHECK(f.output.result == VDM_SUCCESS);
	CHECK(f.output.output.memcpy.dest == dst);
	f = vdm_memmove(vdm, NULL, src, 0, 0);
	FUTURE_BUSY_POLL(&f);
	CHECK(f.output.result == VDM_SUCCESS);
	CHECK(f.output.output.memmove.dest == NULL);
	CHECK(all_bytes(src, sizeof(src), 0x11));
	CHECK(all_bytes(dst, sizeof(dst), 0x22));
}

/* f: complete, VDM_ERROR_INVALID_ARGUMENT, errno EINVAL, nothing written */
static void
expect_no_mover(struct vdm_operation_future *f, const unsigned char *buf,
	const char *what)
{
	CHECKQ(FUTURE_STATE(f) == FUTURE_STATE_COMPLETE, "%s", what);
	CHECKQ(f->output.result == VDM_ERROR_INVALID_ARGUMENT, "%s: %d", what,
		f->output.result);
	CHECKQ(errno == EINVAL, "%s: errno %d", what, errno);
	CHECKQ(all_bytes(buf, 16, 0x5a), "%s", what);
}

/* a NULL mover, or one with no op_new (a zeroed struct vdm), through the
 * other ways of making a vdm future: an error, not a crash (SIGSEGV
 * before) */
static void
group_bad_mover(unsigned char *buf)
{
	struct vdm_operation_future f;
	struct vdm zero;
	int k;

	memset(&zero, 0, sizeof(zero));
	memset(buf, 0x5a, 16);
	errno = 0;
	f = vdm_memcpy(&zero, buf, buf + 8, 8, 0);
	expect_no_mover(&f, buf, "memcpy, a mover without op_new");
	errno = 0;
	f = vdm_memset(&zero, buf, 0, 8, 0);
	expect_no_mover(&f, buf, "memset, a mover without op_new");
	for (k = 0; k < 4; k++) {
		memset(&f, 0, sizeof(f));
		f.data.operation.type = VDM_OPERATION_MEMSET;
		f.data.operation.data.memset.str = buf;
		f.data.operation.data.memset.n = 16;
		f.output.type = VDM_OPERATION_MEMSET;
		errno = 0;
		if (k < 2) {
			vdm_generic_operation(k == 0 ? NULL : &zero, &f);
			expect_no_mover(&f, buf, k == 0 ?
				"vdm_generic_operation, a NULL mover" :
				"vdm_generic_operation, no op_new");
			CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), NULL) ==
				FUTURE_STATE_COMPLETE);
		} else {
			/* built by hand: data.vdm NULL, or a mover with no
			 * callbacks */
			f.data.vdm = k == 2 ? NULL : &zero;
			FUTURE_INIT(&f, vdm_operation_impl);
			CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), NULL) ==
				FUTURE_STATE_COMPLETE);
			expect_no_mover(&f, buf, k == 2 ?
				"vdm_operation_impl, a NULL mover" :
				"vdm_operation_impl, no callbacks");
		}
	}
}

static void
group_bad_input(void)
{
	struct vdm_operation_future f;
	unsigned char buf[16];
	struct my_mover m;

	/* NULL vdm */
	f = vdm_memcpy(NULL, buf, buf + 8, 8, 0);
	expect_invalid(&f, VDM_OPERATION_MEMCPY, "memcpy NULL vdm");
	f = vdm_memmove(NULL, buf, buf + 4, 8, 0);
	expect_invalid(&f, VDM_OPERATION_MEMMOVE, "memmove NULL vdm");
	f = vdm_memset(NULL, buf, 0, 8, 0);
	expect_invalid(&f, VDM_OPERATION_MEMSET, "memset NULL vdm");
	f = vdm_flush(NULL, buf, 8, 0);
	expect_invalid(&f, VDM_OPERATION_FLUSH, "flush NULL vdm");
	f = vdm_memcpy(NULL, NULL, NULL, 0, 0);
	expect_invalid(&f, VDM_OPERATION_MEMCPY, "memcpy NULL vdm, n=0");
	group_bad_mover(buf);

	bad_inputs_on(sync_vdm, 1);
	/* checked before a user-written mover is asked to start: its state
	 * is released with op_delete */
	my_init(&m, VDM_F_VALID_FLAGS);
	bad_inputs_on(&m.base, 0);
	CHECK(m.live == 0);
	CHECK(m.news == m.deletes);
	CHECK(m.news == 21);
	CHECK(m.starts == 5); /* only the n == 0 ones ran */
}

/* ======================================================================== */
/* futures moved in memory between polls                                    */
/* ======================================================================== */

static void
group_moved_sync(void)
{
	unsigned char src[300], dst[300];
	struct vdm_operation_future *a, *b;

	memset(src, 0x5C, sizeof(src));
	memset(dst, 0, sizeof(dst));
	a = (struct vdm_operation_future *)malloc(sizeof(*a));
	b = (struct vdm_operation_future *)malloc(sizeof(*b));
	if (a == NULL || b == NULL) {
		CHECK(!"out of memory");
		free(a);
		free(b);
		return;
	}
	*a = vdm_memcpy(sync_vdm, dst, src, sizeof(src), VDM_F_MEM_DURABLE);
	memcpy(b, a, sizeof(*a));
	memset(a, 0xAB, sizeof(*a));
	free(a);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(b), NULL) ==
		FUTURE_STATE_COMPLETE);
	if (durable_ok) {
		CHECK(b->output.result == VDM_SUCCESS);
		CHECK(b->output.output.memcpy.dest == (void *)dst);
		CHECK(memcmp(src, dst, sizeof(src)) == 0);
	} else {
		/* refused, nothing written */
		CHECK(b->output.result == VDM_ERROR_NOT_SUPPORTED);
		CHECK(b->output.output.memcpy.dest == NULL);
		CHECK(all_bytes(dst, sizeof(dst), 0));
	}
	free(b);
}

static atomic_int moved_wakes;

static void
moved_wake(void *data)
{
	(void)data;
	atomic_fetch_add(&moved_wakes, 1);
}

static void
group_moved_threads(void)
{
	struct data_mover_threads *dmt =
		data_mover_threads_new(2, 16, FUTURE_NOTIFIER_WAKER);
	enum { NF = 12 };
	size_t sz = 2u << 20;
	unsigned char *src = (unsigned char *)malloc(sz);
	unsigned char *dst = (unsigned char *)malloc((size_t)NF * sz);
	struct vdm_operation_future *f[NF];
	struct future_notifier n;
	int i, pending, rounds = 0, moves = 0;

	for (i = 0; i < NF; i++)
		f[i] = NULL;
	if (dmt == NULL || src == NULL || dst == NULL) {
		CHECK(!"setup");
		goto out;
	}
	memcpy(src, pattern, sz);
	memset(dst, 0, (size_t)NF * sz);
	for (i = 0; i < NF; i++) {
		f[i] = (struct vdm_operation_future *)malloc(sizeof(*f[i]));
		if (f[i] == NULL) {
			CHECK(!"out of memory");
			goto out;
		}
		switch (i % 3) {
		case 0:
			*f[i] = vdm_memcpy(data_mover_threads_get_vdm(dmt),
				dst + (size_t)i * sz, src, sz, 0);
			break;
		case 1:
			*f[i] = vdm_memmove(data_mover_threads_get_vdm(dmt),
				dst + (size_t)i * sz, src, sz,
				VDM_F_NO_CACHE_HINT);
			break;
		default:
			*f[i] = vdm_memset(data_mover_threads_get_vdm(dmt),
				dst + (size_t)i * sz, i, sz, VDM_F_MEM_DURABLE);
			break;
		}
		CHECK(future_has_property(FUTURE_AS_RUNNABLE(f[i]),
			FUTURE_PROPERTY_ASYNC));
	}
	atomic_store(&moved_wakes, 0);
	do {
		pending = 0;
		for (i = 0; i < NF; i++) {
			struct vdm_operation_future *nf;

			memset(&n, 0, sizeof(n));
			n.waker.wake = moved_wake;
			n.waker.data = &n;
			if (future_poll(FUTURE_AS_RUNNABLE(f[i]), &n) ==
					FUTURE_STATE_COMPLETE)
				continue;
			pending++;
			/* move the pending future to a new address; the old
			 * one is freed (ASan / memcheck catch a stale use) */
			nf = (struct vdm_operation_future *)malloc(
				sizeof(*nf));
			if (nf == NULL)
				continue;
			memcpy(nf, f[i], sizeof(*nf));
			memset(f[i], 0xA5, sizeof(*nf));
			free(f[i]);
			f[i] = nf;
			moves++;
		}
		if (pending) {
			struct timespec ts = {0, 200000};
			nanosleep(&ts, NULL);
		}
	} while (pending && ++rounds < 200000);
	CHECK(pending == 0);
	printf("     %d moves of pending threads-mover futures\n", moves);
	for (i = 0; i < NF; i++) {
		unsigned char *d = dst + (size_t)i * sz;

		CHECK(f[i]->output.type == (enum vdm_operation_type)(i % 3));
		if (i % 3 == 2 && !durable_ok) {
			/* the durable memset, refused: nothing written */
			CHECK(f[i]->output.result == VDM_ERROR_NOT_SUPPORTED);
			CHECK(f[i]->output.output.memset.str == NULL);
			CHECK(all_bytes(d, sz, 0));
			continue;
		}
		CHECK(f[i]->output.result == VDM_SUCCESS);
		CHECK(f[i]->output.output.memcpy.dest == (void *)d);
		if (i % 3 == 2)
			CHECK(all_bytes(d, sz, (unsigned char)i));
		else
			CHECK(memcmp(d, src, sz) == 0);
	}
out:
	for (i = 0; i < NF; i++)
		free(f[i]);
	/* a waker registered by a moved future must not be called with
	 * garbage: moved_wake only counts */
	data_mover_threads_delete(dmt);
	free(src);
	free(dst);
}

/* ======================================================================== */
/* no cache write-back (MASYNC__WB undefined: not x86 or AArch64)           */
/* ======================================================================== */

#ifndef MASYNC__WB
static atomic_uint nwb_calls, nwb_flags;

static void *
nwb_memcpy(void *dst, const void *src, size_t n, unsigned flags)
{
	atomic_fetch_add(&nwb_calls, 1);
	atomic_store(&nwb_flags, flags);
	return memcpy(dst, src, n);
}

struct nwb_chain_data {
	FUTURE_CHAIN_ENTRY(struct vdm_operation_future, durable);
	FUTURE_CHAIN_ENTRY_LAST(struct vdm_operation_future, plain);
};

struct nwb_chain_output {
	int unused;
};

FUTURE(nwb_chain_future, struct nwb_chain_data, struct nwb_chain_output);

/* c: a durable memcpy of src to dst, then a memset of src's first 8 */
static void
nwb_chain(struct nwb_chain_future *c, struct vdm *vdm, unsigned char *dst,
	unsigned char *src)
{
	memset(c, 0, sizeof(*c));
	FUTURE_CHAIN_ENTRY_INIT(&c->data.durable, vdm_memcpy(vdm, dst, src, 64,
		VDM_F_MEM_DURABLE), NULL, NULL);
	FUTURE_CHAIN_ENTRY_INIT(&c->data.plain, vdm_memset(vdm, src, 0x44, 8,
		0), NULL, NULL);
}

/* refused at the first poll, as a bad argument is; dst keeps its 0xEE */
static void
nwb_refused(struct vdm_operation_future *f, enum vdm_operation_type type,
	const unsigned char *dst, const char *what)
{
	expect_failed(f, type, VDM_ERROR_NOT_SUPPORTED, what);
	CHECKQ(f->output.output.memcpy.dest == NULL, "%s", what);
	CHECKQ(all_bytes(dst, 64, 0xEE), "%s", what);
}

/* (a threads-mover operation a worker runs needs a waker to wait on) */
static void
nwb_wait(struct runtime *rt, void *future)
{
	runtime_wait(rt, (struct future *)future);
}

static void
nwb_on(struct runtime *rt, struct vdm *vdm)
{
	static const uint64_t durable[] = {VDM_F_MEM_DURABLE,
		VDM_F_MEM_DURABLE | VDM_F_NO_CACHE_HINT};
	unsigned char src[64], dst[64];
	struct vdm_operation_future f;
	struct nwb_chain_future c;
	size_t i;

	CHECK(!vdm_is_supported(vdm, VDM_F_MEM_DURABLE));
	CHECK(!vdm_is_supported(vdm, VDM_F_NO_CACHE_HINT));
	memset(src, 0x11, sizeof(src));
	memset(dst, 0xEE, sizeof(dst));
	for (i = 0; i < sizeof(durable) / sizeof(durable[0]); i++) {
		f = vdm_memcpy(vdm, dst, src, sizeof(dst), durable[i]);
		nwb_refused(&f, VDM_OPERATION_MEMCPY, dst, "memcpy");
		f = vdm_memmove(vdm, dst, src, sizeof(dst), durable[i]);
		nwb_refused(&f, VDM_OPERATION_MEMMOVE, dst, "memmove");
		f = vdm_memset(vdm, dst, 0x33, sizeof(dst), durable[i]);
		nwb_refused(&f, VDM_OPERATION_MEMSET, dst, "memset");
	}
	f = vdm_flush(vdm, dst, sizeof(dst), 0);
	nwb_refused(&f, VDM_OPERATION_FLUSH, dst, "flush");
	f = vdm_flush(vdm, dst, 0, 0);
	nwb_refused(&f, VDM_OPERATION_FLUSH, dst, "flush n=0");

	/* bad arguments are reported first */
	f = vdm_memcpy(vdm, NULL, src, 8, VDM_F_MEM_DURABLE);
	expect_invalid(&f, VDM_OPERATION_MEMCPY, "durable NULL dest");
	f = vdm_memcpy(vdm, (void *)(UINTPTR_MAX - 15), src, 64,
		VDM_F_MEM_DURABLE);
	expect_invalid(&f, VDM_OPERATION_MEMCPY, "durable wrapping dest");
	f = vdm_flush(vdm, NULL, 8, 0);
	expect_invalid(&f, VDM_OPERATION_FLUSH, "flush NULL");
	CHECK(all_bytes(dst, sizeof(dst), 0xEE));

	/* the hint alone is taken */
	f = vdm_memcpy(vdm, dst, src, sizeof(dst), VDM_F_NO_CACHE_HINT);
	nwb_wait(rt, &f);
	CHECK(f.output.result == VDM_SUCCESS);
	CHECK(f.output.output.memcpy.dest == dst);
	CHECK(all_bytes(dst, sizeof(dst), 0x11));
	f = vdm_memset(vdm, dst, 0x22, 32, VDM_F_NO_CACHE_HINT);
	nwb_wait(rt, &f);
	CHECK(f.output.result == VDM_SUCCESS);
	CHECK(f.output.output.memset.str == dst);
	f = vdm_memmove(vdm, dst + 40, dst + 8, 16, VDM_F_NO_CACHE_HINT);
	nwb_wait(rt, &f);
	CHECK(f.output.result == VDM_SUCCESS);
	CHECK(f.output.output.memmove.dest == dst + 40);
	CHECK(all_bytes(dst, 32, 0x22) && all_bytes(dst + 32, 8, 0x11) &&
		all_bytes(dst + 40, 16, 0x22) && all_bytes(dst + 56, 8, 0x11));

	/* a chain entry: a plain chain goes on, the error stays in it */
	memset(dst, 0xEE, sizeof(dst));
	nwb_chain(&c, vdm, dst, src);
	FUTURE_CHAIN_INIT(&c);
	nwb_wait(rt, &c);
	CHECK(c.data.durable.fut.output.result == VDM_ERROR_NOT_SUPPORTED);
	CHECK(c.data.durable.fut.output.type == VDM_OPERATION_MEMCPY);
	CHECK(c.data.durable.fut.output.output.memcpy.dest == NULL);
	CHECK(all_bytes(dst, sizeof(dst), 0xEE));
	CHECK(c.data.plain.fut.output.result == VDM_SUCCESS);
	CHECK(all_bytes(src, 8, 0x44) && all_bytes(src + 8, 56, 0x11));
	/* an error-aware one stops at it */
	memset(src, 0x11, sizeof(src));
	nwb_chain(&c, vdm, dst, src);
	FUTURE_CHAIN_INIT_STOP_ON_ERROR(&c);
	nwb_wait(rt, &c);
	CHECK(future_chain_result(&c.base) == VDM_ERROR_NOT_SUPPORTED);
	CHECK(c.data.durable.fut.output.result == VDM_ERROR_NOT_SUPPORTED);
	CHECK(c.data.durable.fut.output.output.memcpy.dest == NULL);
	CHECK(all_bytes(dst, sizeof(dst), 0xEE));
	CHECK(all_bytes(src, sizeof(src), 0x11));
	/* the chain gave up the entry it never ran (its state back) */
	CHECK(c.data.plain.fut.output.result == VDM_ERROR_CANCELLED);
	CHECK(vdm_cancel(&c.data.plain.fut) == EALREADY);
}

static void
group_no_write_back(void)
{
	struct runtime *rt = runtime_new();
	struct data_mover_threads *dmt =
		data_mover_threads_new(1, 8, FUTURE_NOTIFIER_WAKER);
	unsigned char src[64], dst[64];
	struct vdm_operation_future f;
	struct vdm *tv;

	CHECK(rt != NULL && dmt != NULL);
	if (rt == NULL || dmt == NULL)
		goto out;
	nwb_on(rt, sync_vdm);
	tv = data_mover_threads_get_vdm(dmt);
	nwb_on(rt, tv);

	/* a user memcpy_fn gets every flag bit, and may write back */
	data_mover_threads_set_memcpy_fn(dmt, nwb_memcpy);
	memset(src, 0x11, sizeof(src));
	memset(dst, 0xEE, sizeof(dst));
	f = vdm_memcpy(tv, dst, src, sizeof(dst),
		VDM_F_MEM_DURABLE | VDM_F_NO_CACHE_HINT);
	nwb_wait(rt, &f);
	CHECK(f.output.result == VDM_SUCCESS);
	CHECK(f.output.output.memcpy.dest == dst);
	CHECK(all_bytes(dst, sizeof(dst), 0x11));
	CHECK(atomic_load(&nwb_calls) == 1);
	CHECK(atomic_load(&nwb_flags) ==
		(VDM_F_MEM_DURABLE | VDM_F_NO_CACHE_HINT));
	/* memmove and flush have none here: still refused */
	memset(dst, 0xEE, sizeof(dst));
	f = vdm_memmove(tv, dst, src, sizeof(dst), VDM_F_MEM_DURABLE);
	nwb_refused(&f, VDM_OPERATION_MEMMOVE, dst, "memmove, memcpy_fn");
	f = vdm_flush(tv, dst, sizeof(dst), 0);
	nwb_refused(&f, VDM_OPERATION_FLUSH, dst, "flush, memcpy_fn");
	CHECK(atomic_load(&nwb_calls) == 1);
out:
	data_mover_threads_delete(dmt);
	if (rt != NULL)
		runtime_delete(rt);
}
#endif

/* ======================================================================== */
/* DSA stubs (this TU is compiled without MINIASYNC_DSA)                    */
/* ======================================================================== */

static int dsa_thread_token;

static void *
dsa_thread(void *arg)
{
	(void)arg;
	/* the last error is per thread: nothing failed here yet */
	return data_mover_dsa_last_error() == DATA_MOVER_DSA_OK ? arg : NULL;
}

static void
group_dsa_stub(void)
{
	struct data_mover_dsa_config cfg;
	pthread_t th;
	void *ret = NULL;
	const char *why;

	memset(&cfg, 0, sizeof(cfg));
	errno = 0;
	CHECK(data_mover_dsa_default() == NULL);
	CHECK(errno != 0);
	CHECK(data_mover_dsa_last_error() == DATA_MOVER_DSA_E_NOT_BUILT);
	errno = 0;
	CHECK(data_mover_dsa_new(&cfg) == NULL);
	CHECK(errno != 0);
	CHECK(data_mover_dsa_new(NULL) == NULL);
	CHECK(data_mover_dsa_last_error() == DATA_MOVER_DSA_E_NOT_BUILT);
	why = data_mover_dsa_last_error_str();
	CHECK(why != NULL && why[0] != '\0');
	if (why != NULL) {
		CHECK(strstr(why, "DSA") != NULL);
		CHECK(strstr(why, "not") != NULL);
	}
	errno = 0;
	CHECK(data_mover_dsa_get_vdm(NULL) == NULL);
	CHECK(errno == EINVAL);
	data_mover_dsa_delete(NULL);
	CHECK(pthread_create(&th, NULL, dsa_thread, &dsa_thread_token) == 0);
	pthread_join(th, &ret);
	CHECK(ret == (void *)&dsa_thread_token);
}

static void
group_leaks(void)
{
	/* every allocation of the library so far was freed, except the sync
	 * mover still in use */
	long m = atomic_load(&n_mallocs), f = atomic_load(&n_frees);

	CHECK(m > 0);
	data_mover_sync_delete(dms);
	dms = NULL;
	CHECK(atomic_load(&n_frees) == f + 1);
	CHECK(atomic_load(&n_frees) == m);
}

int
main(void)
{
	make_pattern();
	dms = data_mover_sync_new();
	if (dms == NULL) {
		fprintf(stderr, "data_mover_sync_new failed\n");
		return 1;
	}
	sync_vdm = data_mover_sync_get_vdm(dms);
	CHECK(sync_vdm != NULL);
	durable_ok = vdm_is_supported(sync_vdm, VDM_F_MEM_DURABLE);
#ifdef MASYNC__WB
	CHECK(durable_ok);
#else
	CHECK(!durable_ok);
#endif
	errno = 0;
	CHECK(data_mover_sync_get_vdm(NULL) == NULL);
	CHECK(errno == EINVAL);
	run_group("layout, members and enum values", group_layout);
	run_group("sync mover: memcpy/memmove/memset/flush, sizes 0..3 MiB, "
		"all flags", group_sync_ops);
	run_group("sync mover: overlapping memmove both ways, all flags",
		group_overlap);
	run_group("sync mover, 0 .. 80 bytes: every overlap, memset",
		group_small_inline);
	run_group("operation members written before the first poll",
		group_write_members);
	run_group("sync mover: no allocation per operation",
		group_no_allocation);
	run_group("sync mover shared by 4 threads", group_sync_threads);
	run_group("user-written mover (refused start, moved, all ops)",
		group_user_mover);
	run_group("user-written mover: op_new NULL -> out of memory",
		group_user_mover_oom);
	run_group("every member of a new future set (sync, threads, NULL "
		"vdm, user mover, out of memory)", group_new_future_members);
	run_group("sync mover with a replaced callback calls it",
		group_sync_wrapped);
	run_group("sync mover's callbacks copied into a program's vdm; "
		"a replaced op_new", group_sync_copied);
	run_group("vdm_is_supported: every bit asked for", group_is_supported);
	run_group("vdm_result_str", group_result_str);
	run_group("bad input: NULL vdm / buffers, flags, wrapping ranges",
		group_bad_input);
	run_group("sync future moved before its poll", group_moved_sync);
	run_group("threads-mover futures moved between polls",
		group_moved_threads);
#ifndef MASYNC__WB
	run_group("no cache write-back: durable and flush refused (sync, "
		"threads, memcpy_fn, chain)", group_no_write_back);
#endif
	run_group("data_mover_dsa_* without MINIASYNC_DSA", group_dsa_stub);
	run_group("library allocations balanced", group_leaks);
	free(pattern);
	return failures != 0;
}
