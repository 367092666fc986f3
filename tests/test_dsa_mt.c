/* test_dsa_mt.c - many threads sharing one DSA mover, with content checks,
 * on a dedicated WQ (MOVDIR64B portal), a dedicated WQ through write()
 * (fifo > 0), and a shared WQ (the write() path, as when ENQCMD is not
 * available); the WQs are small, so the threads compete for room in them.
 * Operations of every kind and of sizes from 1 byte to above the WQ
 * maximum; each thread waits with its own runtime, a shared runtime, or
 * by busy polling. Nothing may be dropped on a dedicated WQ. Then two
 * devices with two WQs each and one mover per WQ, used at once. */
#include "test_dsa_util.h"

enum { NTHREADS = 4, BATCH = 6 };

struct worker {
	struct vdm *vdm;
	struct runtime *shared_rt; /* NULL: own runtime */
	int id, iters, busy;
	pthread_t thr;
	int failed;
};

static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static size_t
rnd_size(uint64_t *s)
{
	switch (rnd(s) % 8) {
	case 0:
		return 1 + rnd(s) % 64;
	case 1:
	case 2:
		return 1 + rnd(s) % 4096;
	case 3:
	case 4:
		return 4096 + rnd(s) % 60000;
	case 5:
		return 65536 * (1 + rnd(s) % 3) + rnd(s) % 100;
	default:
		return 1 + rnd(s) % 20000;
	}
}

#define MAXSZ (3 * 65536 + 100)

static void *
worker_main(void *arg)
{
	struct worker *w = (struct worker *)arg;
	struct runtime *rt = w->shared_rt ? w->shared_rt : runtime_new();
	uint64_t seed = 0x9e3779b97f4a7c15ull * (uint64_t)(w->id + 1);
	unsigned char *src[BATCH], *dst[BATCH], *ref[BATCH];
	struct vdm_operation_future fs[BATCH];
	struct future *ff[BATCH];
	size_t ns[BATCH];
	int it, i;

	if (rt == NULL) {
		w->failed = 1;
		return NULL;
	}
	for (i = 0; i < BATCH; i++) {
		src[i] = td_alloc(MAXSZ);
		dst[i] = td_alloc(MAXSZ);
		ref[i] = td_alloc(MAXSZ);
		td_pattern(src[i], MAXSZ, (unsigned)(w->id * 100 + i));
	}
	for (it = 0; it < w->iters && !w->failed; it++) {
		for (i = 0; i < BATCH; i++) {
			size_t n = rnd_size(&seed);
			int c = (int)(rnd(&seed) & 0xff);

			ns[i] = n;
			memset(dst[i], 0, n + 1);
			switch (rnd(&seed) % 5) {
			case 0:
			case 1:
				memcpy(ref[i], src[i], n);
				fs[i] = vdm_memcpy(w->vdm, dst[i], src[i], n,
					rnd(&seed) & VDM_F_VALID_FLAGS);
				break;
			case 2: /* overlapping, either way */
				memcpy(dst[i], src[i], n + 1);
				memcpy(ref[i], src[i], n + 1);
				if (rnd(&seed) & 1) {
					memmove(ref[i] + 1, ref[i], n);
					fs[i] = vdm_memmove(w->vdm, dst[i] + 1,
						dst[i], n, 0);
				} else {
					memmove(ref[i], ref[i] + 1, n);
					fs[i] = vdm_memmove(w->vdm, dst[i],
						dst[i] + 1, n, 0);
				}
				ns[i] = n + 1;
				break;
			case 3:
				memset(ref[i], c, n);
				fs[i] = vdm_memset(w->vdm, dst[i], c, n,
					rnd(&seed) & VDM_F_VALID_FLAGS);
				break;
			default:
				memcpy(dst[i], src[i], n);
				memcpy(ref[i], src[i], n);
				fs[i] = vdm_flush(w->vdm, dst[i], n,
					rnd(&seed) & VDM_F_VALID_FLAGS);
				break;
			}
			ff[i] = FUTURE_AS_RUNNABLE(&fs[i]);
		}
		if (w->busy) {
			for (i = 0; i < BATCH; i++)
				FUTURE_BUSY_POLL(&fs[i]);
		} else {
			runtime_wait_multiple(rt, ff, BATCH);
		}
		for (i = 0; i < BATCH; i++) {
			if (FUTURE_OUTPUT(&fs[i])->result != VDM_SUCCESS ||
					memcmp(dst[i], ref[i], ns[i]) != 0 ||
					!td_guards_ok(dst[i], MAXSZ)) {
				fprintf(stderr, "[%s] thread %d iteration %d "
					"op %d (%zu bytes, type %d): %s\n",
					td_case, w->id, it, i, ns[i],
					(int)fs[i].data.operation.type,
					vdm_result_str(FUTURE_OUTPUT(
					&fs[i])->result));
				w->failed = 1;
			}
		}
	}
	for (i = 0; i < BATCH; i++) {
		td_free(src[i]);
		td_free(dst[i]);
		td_free(ref[i]);
	}
	if (w->shared_rt == NULL)
		runtime_delete(rt);
	return NULL;
}

static void
run_threads(struct vdm *const *vdms, int nvdms, int iters)
{
	struct worker w[NTHREADS];
	struct runtime *shared = runtime_new();
	int i;

	CHECK(shared != NULL);
	for (i = 0; i < NTHREADS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].vdm = vdms[i % nvdms];
		w[i].id = i;
		w[i].iters = iters;
		w[i].shared_rt = i % 4 == 1 || i % 4 == 2 ? shared : NULL;
		w[i].busy = i % 4 == 3;
		/* pthreads: the sanitizers of clang 14 miss C11 threads */
		CHECK(pthread_create(&w[i].thr, NULL, worker_main, &w[i]) ==
			0);
	}
	for (i = 0; i < NTHREADS; i++)
		pthread_join(w[i].thr, NULL);
	for (i = 0; i < NTHREADS; i++)
		CHECK(!w[i].failed);
	runtime_delete(shared);
}

static int
iters(void)
{
	return td_valgrind() ? 6 : TD_SANITIZED ? 25 : 60;
}

static void
test_one_wq(int shared, int fifo)
{
	struct dsa_emu_config ec = {0};
	struct data_mover_dsa_config mc = {0};
	struct dsa_emu *emu;
	struct data_mover_dsa *d;
	struct vdm *vdm;
	struct dsa_emu_stats s;

	td_begin(shared ? "threads on a shared WQ (write())" : fifo ?
		"threads on a dedicated WQ through write()" :
		"threads on a dedicated WQ (portal)");
	ec.wq_size = shared ? 32 : 16;
	ec.max_transfer_size = 65536;
	ec.max_batch_size = 4;
	ec.shared = shared;
	ec.fifo = fifo;
	ec.delay_us = 20; /* a slow device: the WQ fills up */
	emu = td_emu(&ec);
	/* a shared WQ has no credit counter: ENQCMD (or the kernel's
	 * write()) says when it is full, but the emulator's FIFO cannot
	 * refuse a write, it drops: keep the operations (one descriptor in
	 * flight each) within the WQ */
	if (shared)
		mc.capacity = NTHREADS * BATCH;
	d = td_mover(&mc);
	vdm = data_mover_dsa_get_vdm(d);
	CHECK_EQ(td_dedicated(d, 0), !shared);
	CHECK(!shared || !td_portal(d));
	run_threads(&vdm, 1, iters());
	s = td_stats(emu);
	CHECK_EQ(s.dropped, 0);
	CHECK_EQ(s.rejected, 0);
	CHECK(s.max_inflight <= ec.wq_size);
	CHECK(s.received > 0);
	td_log("   %llu descriptors, %llu batches, max %u in flight\n",
		(unsigned long long)s.received,
		(unsigned long long)s.ops[DSA_OPCODE_BATCH], s.max_inflight);
	data_mover_dsa_delete(d);
	dsa_emu_stop(emu);
}

static void
test_many_wqs(void)
{
	struct dsa_emu_config ec = {0};
	struct data_mover_dsa_config mc = {0};
	struct dsa_emu *emu;
	struct data_mover_dsa *d[4];
	struct vdm *v[4];
	static const char *const devs[] = { "dsa0", "dsa0", "dsa1", "dsa1" };
	static const char *const wqs[] = { "wq0.0", "wq0.1", "wq1.0", "wq1.1" };
	struct dsa_emu_stats s;
	int i;

	td_begin("2 devices x 2 WQs, one mover per WQ, threads on all");
	ec.ndevices = 2;
	ec.nwqs = 2;
	ec.wq_size = 8;
	ec.max_transfer_size = 65536;
	emu = td_emu(&ec);
	for (i = 0; i < 4; i++) {
		mc.device = devs[i];
		mc.wq = wqs[i];
		d[i] = td_mover(&mc);
		v[i] = data_mover_dsa_get_vdm(d[i]);
	}
	run_threads(v, 4, iters() / 2);
	td_settle(emu);
	for (i = 0; i < 4; i++) {
		dsa_emu_get_stats(emu, i, &s);
		CHECK(s.received > 0);
		CHECK_EQ(s.dropped, 0);
		CHECK(s.max_inflight <= 8);
		data_mover_dsa_delete(d[i]);
	}
	dsa_emu_stop(emu);
}

int
main(void)
{
	td_enter("test_dsa_mt");
	test_one_wq(0, 0);
	test_one_wq(0, 1);
	test_one_wq(1, 0);
	test_many_wqs();
	td_log("test_dsa_mt: all passed\n");
	return 0;
}
