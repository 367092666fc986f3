/* test_dsa_queue.c - the dedicated WQ's credit counter, capacity and
 * cancellation on the emulated device: with many operations in flight and
 * a paused or slow device nothing is ever dropped (emulator stats.dropped
 * == 0, max_inflight <= WQ size), on the MOVDIR64B portal and on the
 * write() path of a dedicated WQ (fifo > 0); operations beyond the WQ size
 * stay idle until there is room; config.capacity bounds the operations
 * that exist (VDM_ERROR_OUT_OF_MEMORY beyond it, room again after others
 * complete or are cancelled); vdm_cancel before start (VDM_ERROR_CANCELLED,
 * nothing written, nothing submitted), while waiting for room in the
 * queue, and after start (EINPROGRESS, the operation completes); deleting
 * the mover with descriptors in flight waits for them. */
#include "test_dsa_util.h"

static struct runtime *rt;

#define OPSZ 4096

static void
test_full_queue(int fifo)
{
	enum { WQ = 8, NOPS = 64 };
	struct dsa_emu_config ec = {0};
	struct dsa_emu *emu;
	struct data_mover_dsa *d;
	struct vdm *vdm;
	struct vdm_operation_future fs[NOPS];
	struct future *ff[NOPS];
	unsigned char *src = td_alloc(OPSZ * NOPS), *dst = td_alloc(OPSZ * NOPS);
	struct dsa_emu_stats s;
	int i;

	td_begin(fifo ? "full dedicated WQ, write() path: nothing dropped" :
		"full dedicated WQ, portal: nothing dropped");
	ec.wq_size = WQ;
	ec.fifo = fifo ? 1 : 0;
	emu = td_emu(&ec);
	d = td_mover(NULL);
	vdm = data_mover_dsa_get_vdm(d);
	td_pattern(src, OPSZ * NOPS, 3);
	memset(dst, 0, OPSZ * NOPS);
	dsa_emu_pause(emu, -1, 1);
	for (i = 0; i < NOPS; i++) {
		fs[i] = vdm_memcpy(vdm, dst + (size_t)i * OPSZ,
			src + (size_t)i * OPSZ, OPSZ, 0);
		ff[i] = FUTURE_AS_RUNNABLE(&fs[i]);
	}
	/* the first WQ-size ones start, the others find no room and stay
	 * idle; polling again changes nothing */
	CHECK_EQ(td_poll_all(fs, NOPS), WQ);
	td_wait_received(emu, WQ);
	for (i = 0; i < 3; i++) {
		td_sleep_us(5000);
		CHECK_EQ(td_poll_all(fs, NOPS), WQ);
	}
	for (i = WQ; i < NOPS; i++)
		CHECK(FUTURE_STATE(&fs[i]) == FUTURE_STATE_IDLE);
	dsa_emu_get_stats(emu, -1, &s);
	CHECK_EQ(s.received, WQ);
	CHECK_EQ(s.dropped, 0);
	CHECK_EQ(s.inflight, WQ);
	CHECK_BYTES(dst, OPSZ * NOPS, 0);
	dsa_emu_pause(emu, -1, 0);
	runtime_wait_multiple(rt, ff, NOPS);
	for (i = 0; i < NOPS; i++)
		CHECK_RES(FUTURE_OUTPUT(&fs[i])->result, VDM_SUCCESS);
	CHECK_PATTERN(dst, OPSZ * NOPS, 0, 3);
	s = td_stats(emu);
	CHECK_EQ(s.received, NOPS);
	CHECK_EQ(s.dropped, 0);
	CHECK_EQ(s.errors, 0);
	CHECK(s.max_inflight <= WQ);

	td_begin(fifo ? "slow dedicated WQ, many in flight, write() path" :
		"slow dedicated WQ, many in flight, portal");
	{
		enum { MANY = 256 };
		struct vdm_operation_future *m = (struct vdm_operation_future *)
			calloc(MANY, sizeof(*m));
		struct future **mf = (struct future **)calloc(MANY,
			sizeof(*mf));
		unsigned char *big = td_alloc((size_t)MANY * 1024);

		CHECK(m != NULL && mf != NULL);
		dsa_emu_reset_stats(emu);
		dsa_emu_set_delay(emu, -1, 50 / td_slow());
		for (i = 0; i < MANY; i++) {
			m[i] = i % 3 == 2 ?
				vdm_memset(vdm, big + (size_t)i * 1024, i, 1024,
					0) :
				vdm_memcpy(vdm, big + (size_t)i * 1024,
					src + (size_t)(i % NOPS) * OPSZ, 1024,
					0);
			mf[i] = FUTURE_AS_RUNNABLE(&m[i]);
		}
		runtime_wait_multiple(rt, mf, MANY);
		for (i = 0; i < MANY; i++) {
			CHECK_RES(FUTURE_OUTPUT(&m[i])->result, VDM_SUCCESS);
			if (i % 3 == 2)
				CHECK_BYTES(big + (size_t)i * 1024, 1024,
					(unsigned char)i);
			else
				CHECK_PATTERN(big + (size_t)i * 1024, 1024,
					(size_t)(i % NOPS) * OPSZ, 3);
		}
		s = td_stats(emu);
		CHECK_EQ(s.received, MANY);
		CHECK_EQ(s.dropped, 0);
		CHECK(s.max_inflight <= WQ);
		td_log("   %d operations, max %u in flight of %d\n", MANY,
			s.max_inflight, WQ);
		dsa_emu_set_delay(emu, -1, 0);
		free(m);
		free(mf);
		td_free(big);
	}
	data_mover_dsa_delete(d);
	dsa_emu_stop(emu);
	td_free(src);
	td_free(dst);
}

static void
test_capacity(void)
{
	enum { CAP = 4 };
	struct data_mover_dsa_config mc = {0};
	struct dsa_emu *emu;
	struct data_mover_dsa *d;
	struct vdm *vdm;
	struct vdm_operation_future fs[CAP], extra;
	unsigned char *src = td_alloc(OPSZ), *dst = td_alloc(OPSZ * (CAP + 2));
	int i, round;

	td_begin("capacity 4: the 5th operation is VDM_ERROR_OUT_OF_MEMORY");
	emu = td_emu(NULL);
	mc.capacity = CAP;
	d = td_mover(&mc);
	vdm = data_mover_dsa_get_vdm(d);
	td_pattern(src, OPSZ, 4);
	memset(dst, 0, OPSZ * (CAP + 2));
	for (round = 0; round < 3; round++) {
		for (i = 0; i < CAP; i++) {
			fs[i] = vdm_memcpy(vdm, dst + (size_t)i * OPSZ, src,
				OPSZ, 0);
			CHECK(FUTURE_STATE(&fs[i]) == FUTURE_STATE_IDLE);
		}
		extra = vdm_memcpy(vdm, dst + CAP * OPSZ, src, OPSZ, 0);
		CHECK(FUTURE_STATE(&extra) == FUTURE_STATE_COMPLETE);
		CHECK_RES(FUTURE_OUTPUT(&extra)->result,
			VDM_ERROR_OUT_OF_MEMORY);
		runtime_wait(rt, FUTURE_AS_RUNNABLE(&extra)); /* returns */
		CHECK_EQ(vdm_cancel(&extra), EALREADY);
		/* no room either for a memset or a flush */
		extra = vdm_flush(vdm, dst, OPSZ, 0);
		CHECK_RES(FUTURE_OUTPUT(&extra)->result,
			VDM_ERROR_OUT_OF_MEMORY);
		/* one completes: room for one more */
		CHECK_RES(td_wait(rt, &fs[0]), VDM_SUCCESS);
		CHECK_PATTERN(dst, OPSZ, 0, 4);
		fs[0] = vdm_memset(vdm, dst + (CAP + 1) * OPSZ, 0x66, OPSZ, 0);
		CHECK(FUTURE_STATE(&fs[0]) == FUTURE_STATE_IDLE);
		extra = vdm_memcpy(vdm, dst, src, OPSZ, 0);
		CHECK_RES(FUTURE_OUTPUT(&extra)->result,
			VDM_ERROR_OUT_OF_MEMORY);
		/* one is cancelled: room again */
		CHECK_EQ(vdm_cancel(&fs[1]), 0);
		fs[1] = vdm_memcpy(vdm, dst + OPSZ, src, OPSZ, 0);
		CHECK(FUTURE_STATE(&fs[1]) == FUTURE_STATE_IDLE);
		for (i = 0; i < CAP; i++)
			CHECK_RES(td_wait(rt, &fs[i]), VDM_SUCCESS);
		CHECK_BYTES(dst + (CAP + 1) * OPSZ, OPSZ, 0x66);
		for (i = 1; i < CAP; i++)
			CHECK_PATTERN(dst + (size_t)i * OPSZ, OPSZ, 0, 4);
		memset(dst, 0, OPSZ * (CAP + 2));
	}
	/* a CPU-only operation (empty) takes capacity while it exists too */
	for (i = 0; i < CAP; i++)
		fs[i] = vdm_memcpy(vdm, dst, src, 0, 0);
	extra = vdm_memcpy(vdm, dst, src, 0, 0);
	CHECK_RES(FUTURE_OUTPUT(&extra)->result, VDM_ERROR_OUT_OF_MEMORY);
	for (i = 0; i < CAP; i++)
		CHECK_RES(td_wait(rt, &fs[i]), VDM_SUCCESS);
	data_mover_dsa_delete(d);
	dsa_emu_stop(emu);
	td_free(src);
	td_free(dst);
}

static void
test_cancel(void)
{
	struct dsa_emu_config ec = {0};
	struct dsa_emu *emu;
	struct data_mover_dsa *d;
	struct vdm *vdm;
	struct vdm_operation_future f, g[3];
	unsigned char *src = td_alloc(OPSZ), *dst = td_alloc(4 * OPSZ);
	struct dsa_emu_stats s;
	int i;

	ec.wq_size = 2;
	emu = td_emu(&ec);
	d = td_mover(NULL);
	vdm = data_mover_dsa_get_vdm(d);
	td_pattern(src, OPSZ, 5);
	memset(dst, 0x77, 4 * OPSZ);

	td_begin("cancel before start: VDM_ERROR_CANCELLED, nothing written");
	f = vdm_memcpy(vdm, dst, src, OPSZ, 0);
	CHECK_EQ(vdm_cancel(&f), 0);
	CHECK(FUTURE_STATE(&f) == FUTURE_STATE_COMPLETE);
	CHECK_RES(FUTURE_OUTPUT(&f)->result, VDM_ERROR_CANCELLED);
	CHECK(FUTURE_OUTPUT(&f)->output.memcpy.dest == NULL);
	CHECK_EQ(vdm_cancel(&f), EALREADY);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), NULL) ==
		FUTURE_STATE_COMPLETE);
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&f));
	CHECK_RES(FUTURE_OUTPUT(&f)->result, VDM_ERROR_CANCELLED);
	f = vdm_memset(vdm, dst, 0, OPSZ, 0);
	CHECK_EQ(vdm_cancel(&f), 0);
	f = vdm_flush(vdm, dst, OPSZ, 0);
	CHECK_EQ(vdm_cancel(&f), 0);
	CHECK_EQ(vdm_cancel(NULL), EINVAL);
	s = td_stats(emu);
	CHECK_EQ(s.received, 0);
	CHECK_BYTES(dst, 4 * OPSZ, 0x77);

	td_begin("cancel while waiting for room in the WQ: cancelled");
	dsa_emu_pause(emu, -1, 1);
	for (i = 0; i < 3; i++)
		g[i] = vdm_memcpy(vdm, dst + (size_t)i * OPSZ, src, OPSZ, 0);
	CHECK_EQ(td_poll_all(g, 3), 2);
	CHECK(FUTURE_STATE(&g[2]) == FUTURE_STATE_IDLE);
	CHECK_EQ(vdm_cancel(&g[2]), 0);
	CHECK_RES(FUTURE_OUTPUT(&g[2])->result, VDM_ERROR_CANCELLED);

	td_begin("cancel after start: EINPROGRESS, the operation completes");
	CHECK_EQ(vdm_cancel(&g[0]), EINPROGRESS);
	CHECK_EQ(vdm_cancel(&g[1]), EINPROGRESS);
	CHECK(FUTURE_STATE(&g[0]) == FUTURE_STATE_RUNNING);
	dsa_emu_pause(emu, -1, 0);
	CHECK_RES(td_wait(rt, &g[0]), VDM_SUCCESS);
	CHECK_RES(td_busy(&g[1]), VDM_SUCCESS);
	CHECK_EQ(vdm_cancel(&g[1]), EALREADY);
	CHECK_PATTERN(dst, OPSZ, 0, 5);
	CHECK_PATTERN(dst + OPSZ, OPSZ, 0, 5);
	s = td_stats(emu);
	CHECK_EQ(s.received, 2);
	CHECK_BYTES(dst + 2 * OPSZ, 2 * OPSZ, 0x77); /* the cancelled one */
	data_mover_dsa_delete(d);

	td_begin("delete with descriptors in flight waits for them");
	{
		struct data_mover_dsa_config mc = {0};

		d = td_mover(&mc);
		vdm = data_mover_dsa_get_vdm(d);
		memset(dst, 0, 4 * OPSZ);
		dsa_emu_reset_stats(emu);
		dsa_emu_set_delay(emu, -1, 30000);
		g[0] = vdm_memcpy(vdm, dst, src, OPSZ, 0);
		g[1] = vdm_memset(vdm, dst + OPSZ, 0x12, OPSZ, 0);
		CHECK_EQ(td_poll_all(g, 2), 2);
		/* delete returns only when both are done (no timing: the
		 * 30 ms may have begun before any clock read here) */
		data_mover_dsa_delete(d); /* the futures are dead now */
		s = td_stats(emu);
		CHECK_EQ(s.completed, 2);
		CHECK_PATTERN(dst, OPSZ, 0, 5);
		CHECK_BYTES(dst + OPSZ, OPSZ, 0x12);
		dsa_emu_set_delay(emu, -1, 0);
	}
	dsa_emu_stop(emu);
	td_free(src);
	td_free(dst);
}

int
main(void)
{
	td_enter("test_dsa_queue");
	rt = runtime_new();
	CHECK(rt != NULL);
	test_full_queue(0); /* a portal, trapped where the CPU has no MOVDIR64B */
	test_full_queue(1);
	test_capacity();
	test_cancel();
	runtime_delete(rt);
	td_log("test_dsa_queue: all passed\n");
	return 0;
}
