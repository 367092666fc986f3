/* test_dsa_multi.c - one mover on many work queues (2 emulated devices x 2
 * dedicated WQs): with device and wq NULL it opens all four; operations go
 * to the least-loaded WQ that has room, so with every WQ paused each one
 * holds exactly its size (none more: emulator dropped == 0) and the next
 * operation waits idle; with one WQ paused and full, all new work goes to
 * the others (its received count does not move). config.wqs and the
 * MINIASYNC_DSA_WQS environment variable restrict the WQs (work reaches
 * only those); bad lists fail with DATA_MOVER_DSA_E_INVALID / E_NO_WQ and
 * a message naming the culprit; a WQ that cannot be opened is passed over.
 * No outcome depends on timing: the emulator is paused and counted. */
#include "test_dsa_util.h"

#include <sys/stat.h>

static struct runtime *rt;

#define OPSZ 4096
#define WQSZ 4
#define NWQ 4

static struct dsa_emu *
emu_2x2(void)
{
	struct dsa_emu_config ec = {0};

	ec.ndevices = 2;
	ec.nwqs = 2;
	ec.wq_size = WQSZ;
	return td_emu(&ec);
}

static uint64_t
received(struct dsa_emu *emu, int wq)
{
	struct dsa_emu_stats s;

	dsa_emu_get_stats(emu, wq, &s);
	return s.received;
}

static void
wait_all(struct vdm_operation_future *fs, int n)
{
	struct future *ff[64];
	int i;

	for (i = 0; i < n; i++)
		ff[i] = FUTURE_AS_RUNNABLE(&fs[i]);
	runtime_wait_multiple(rt, ff, (size_t)n);
	for (i = 0; i < n; i++)
		CHECK_RES(FUTURE_OUTPUT(&fs[i])->result, VDM_SUCCESS);
}

/* data_mover_dsa_get_wq_info: the mover's WQs are the emulator's four,
 * named and sized as sysfs says, each with the emulator's counts */
static void
check_wq_info(struct dsa_emu *emu, struct data_mover_dsa *d)
{
	struct data_mover_dsa_wq_info in;
	unsigned seen = 0, w;
	size_t i;

	CHECK_EQ(data_mover_dsa_wq_count(d), NWQ);
	for (i = 0; i < NWQ; i++) {
		struct dsa_emu_stats s;
		char path[96], dev[48];

		CHECK_EQ(data_mover_dsa_get_wq_info(d, i, &in), 0);
		snprintf(path, sizeof(path), "/dev/dsa/%s", in.wq);
		snprintf(dev, sizeof(dev), "/%s/", in.device);
		for (w = 0; w < NWQ; w++)
			if (strcmp(dsa_emu_wq_path(emu, w), path) == 0)
				break;
		CHECK(w < NWQ && !(seen & 1u << w));
		seen |= 1u << w;
		CHECK(strstr(dsa_emu_wq_sysfs(emu, w), dev) != NULL);
		CHECK_EQ(in.numa_node, 0);
		CHECK_EQ(in.dedicated, 1);
		CHECK_EQ(in.size, WQSZ);
		CHECK_EQ(in.max_batch, 32);
		CHECK_EQ(in.max_transfer, 2u << 20);
		/* several WQs: the tests' movers write() (test_dsa_util.h) */
		CHECK_EQ(in.submit, DATA_MOVER_DSA_SUBMIT_WRITE);
		dsa_emu_get_stats(emu, (int)w, &s);
		CHECK_EQ(in.descriptors, s.received);
		CHECK(in.descriptors >= WQSZ);
		CHECK_EQ(in.batches, 0); /* write() takes no batches */
		CHECK_EQ(in.batch_members, 0);
		CHECK_EQ(in.page_faults, 0);
		CHECK_EQ(in.bytes, s.bytes);
		CHECK_EQ(in.bytes, in.descriptors * OPSZ);
	}
	errno = 0;
	CHECK_EQ(data_mover_dsa_get_wq_info(d, NWQ, &in), EINVAL);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(data_mover_dsa_get_wq_info(d, 0, NULL), EINVAL);
	CHECK_EQ(data_mover_dsa_get_wq_info(NULL, 0, &in), EINVAL);
	errno = 0;
	CHECK_EQ(data_mover_dsa_wq_count(NULL), 0);
	CHECK_EQ(errno, EINVAL);
}

static void
test_spread(void)
{
	enum { NOPS = NWQ * WQSZ + 8 };
	struct dsa_emu *emu = emu_2x2();
	struct data_mover_dsa *d;
	struct vdm *vdm;
	struct vdm_operation_future fs[NOPS];
	unsigned char *src = td_alloc(OPSZ * NOPS), *dst = td_alloc(OPSZ * NOPS);
	struct dsa_emu_stats s;
	int i, w;

	td_begin("every WQ of every device, each filled to its size");
	d = td_mover(NULL);
	CHECK_EQ(td_nwqs(d), NWQ);
	vdm = data_mover_dsa_get_vdm(d);
	td_pattern(src, OPSZ * NOPS, 1);
	memset(dst, 0, OPSZ * NOPS);
	dsa_emu_pause(emu, -1, 1);
	for (i = 0; i < NOPS; i++)
		fs[i] = vdm_memcpy(vdm, dst + (size_t)i * OPSZ,
			src + (size_t)i * OPSZ, OPSZ, 0);
	/* least-loaded first: 4 x 4 start, the rest find every WQ full */
	CHECK_EQ(td_poll_all(fs, NOPS), NWQ * WQSZ);
	td_wait_received(emu, NWQ * WQSZ);
	CHECK_EQ(td_poll_all(fs, NOPS), NWQ * WQSZ);
	for (w = 0; w < NWQ; w++)
		CHECK_EQ(received(emu, w), WQSZ);
	for (i = NWQ * WQSZ; i < NOPS; i++)
		CHECK(FUTURE_STATE(&fs[i]) == FUTURE_STATE_IDLE);

	td_begin("one WQ paused and full: the others take the work");
	/* WQ 0 stays paused with its 4; the others finish theirs */
	for (w = 1; w < NWQ; w++)
		dsa_emu_pause(emu, w, 0);
	td_wait_processed(emu, (NWQ - 1) * WQSZ);
	/* the 8 waiting ones start now, none on WQ 0 */
	for (i = NWQ * WQSZ; i < NOPS; i++)
		while (future_poll(FUTURE_AS_RUNNABLE(&fs[i]), NULL) ==
				FUTURE_STATE_IDLE)
			;
	td_wait_received(emu, NOPS);
	CHECK_EQ(received(emu, 0), WQSZ);
	CHECK_EQ(received(emu, 1) + received(emu, 2) + received(emu, 3),
		NOPS - WQSZ);
	dsa_emu_get_stats(emu, 0, &s);
	CHECK_EQ(s.inflight, WQSZ);
	CHECK_EQ(s.processed, 0);
	dsa_emu_pause(emu, 0, 0);
	wait_all(fs, NOPS);
	CHECK_PATTERN(dst, OPSZ * NOPS, 0, 1);
	s = td_stats(emu);
	CHECK_EQ(s.received, NOPS);
	CHECK_EQ(s.dropped, 0);
	CHECK_EQ(s.lost, 0);
	CHECK_EQ(s.bytes, (uint64_t)OPSZ * NOPS); /* each byte once */
	CHECK(s.max_inflight <= WQSZ);
	td_begin("data_mover_dsa_get_wq_info: the four WQs and their counts");
	check_wq_info(emu, d);
	data_mover_dsa_delete(d);
	dsa_emu_stop(emu);
	td_free(src);
	td_free(dst);
}

/* a memcpy on a mover: which WQs received it */
static unsigned
used_mask(struct dsa_emu *emu, struct data_mover_dsa *d, int nops)
{
	struct vdm_operation_future fs[16];
	unsigned char *src = td_alloc(OPSZ * 16), *dst = td_alloc(OPSZ * 16);
	unsigned mask = 0;
	int i, w;

	dsa_emu_reset_stats(emu);
	td_pattern(src, OPSZ * 16, 2);
	dsa_emu_pause(emu, -1, 1); /* so that they spread, not reuse one */
	for (i = 0; i < nops; i++) {
		fs[i] = vdm_memcpy(data_mover_dsa_get_vdm(d),
			dst + (size_t)i * OPSZ, src + (size_t)i * OPSZ, OPSZ, 0);
		CHECK(future_poll(FUTURE_AS_RUNNABLE(&fs[i]), NULL) ==
			FUTURE_STATE_RUNNING);
	}
	dsa_emu_pause(emu, -1, 0);
	wait_all(fs, nops);
	CHECK_PATTERN(dst, OPSZ * (size_t)nops, 0, 2);
	td_settle(emu);
	for (w = 0; w < NWQ; w++)
		if (received(emu, w) != 0)
			mask |= 1u << w;
	td_free(src);
	td_free(dst);
	return mask;
}

static void
expect_fail(const struct data_mover_dsa_config *mc,
	enum data_mover_dsa_error want, const char *in_msg)
{
	struct data_mover_dsa *d = data_mover_dsa_new(mc);

	if (d != NULL) {
		data_mover_dsa_delete(d);
		td_fail(__FILE__, __LINE__, "data_mover_dsa_new fails", NULL);
	}
	td_log("   %s\n", data_mover_dsa_last_error_str());
	CHECK_EQ(data_mover_dsa_last_error(), want);
	CHECK(errno != 0);
	CHECK(strstr(data_mover_dsa_last_error_str(), in_msg) != NULL);
}

static void
test_lists(void)
{
	struct dsa_emu *emu = emu_2x2();
	struct data_mover_dsa_config mc = {0};
	struct data_mover_dsa *d;

	td_begin("config wqs: only the named WQs");
	mc.wqs = "wq0.1,wq1.0";
	d = td_mover(&mc);
	CHECK_EQ(td_nwqs(d), 2);
	CHECK_EQ(used_mask(emu, d, 8), (1u << 1) | (1u << 2));
	data_mover_dsa_delete(d);

	td_begin("MINIASYNC_DSA_WQS restricts further");
	CHECK(setenv("MINIASYNC_DSA_WQS", " wq1.0 , wq1.1", 1) == 0);
	d = td_mover(&mc);
	CHECK_EQ(td_nwqs(d), 1);
	CHECK_EQ(used_mask(emu, d, WQSZ), 1u << 2);
	data_mover_dsa_delete(d);
	mc.wqs = NULL;
	d = td_mover(&mc); /* the environment alone */
	CHECK_EQ(td_nwqs(d), 2);
	CHECK_EQ(used_mask(emu, d, 8), (1u << 2) | (1u << 3));
	data_mover_dsa_delete(d);

	td_begin("bad lists: a clear error");
	mc.wqs = "wq0.1";
	expect_fail(&mc, DATA_MOVER_DSA_E_NO_WQ, "no WQ is named by both");
	CHECK(setenv("MINIASYNC_DSA_WQS", "wq0.0;wq1.0", 1) == 0);
	expect_fail(&mc, DATA_MOVER_DSA_E_INVALID, "MINIASYNC_DSA_WQS");
	/* what follows a name and spaces must be a comma or the end */
	CHECK(setenv("MINIASYNC_DSA_WQS", "wq0.0 Xwq1.0", 1) == 0);
	expect_fail(&mc, DATA_MOVER_DSA_E_INVALID, "bad character 'X'");
	CHECK(setenv("MINIASYNC_DSA_WQS", "wq1.0 wq1.1", 1) == 0);
	expect_fail(&mc, DATA_MOVER_DSA_E_INVALID, "separated by commas");
	CHECK(setenv("MINIASYNC_DSA_WQS", "", 1) == 0);
	expect_fail(&mc, DATA_MOVER_DSA_E_INVALID, "empty WQ name");
	CHECK(unsetenv("MINIASYNC_DSA_WQS") == 0);
	mc.wqs = "wq0.0,,wq1.0";
	expect_fail(&mc, DATA_MOVER_DSA_E_INVALID, "config wqs");
	mc.wqs = "wq0.0,wq9.9";
	expect_fail(&mc, DATA_MOVER_DSA_E_NO_WQ, "wq9.9");
	mc.wqs = "wq0.0,wq1.1";
	mc.device = "dsa0"; /* wq1.1 is not on dsa0 */
	expect_fail(&mc, DATA_MOVER_DSA_E_NO_WQ, "wq1.1");
	mc.device = NULL;
	mc.wqs = NULL;
	mc.wq = "wq1.1"; /* wq: that one, as before */
	d = td_mover(&mc);
	CHECK_EQ(td_nwqs(d), 1);
	CHECK_EQ(used_mask(emu, d, WQSZ), 1u << 3);
	data_mover_dsa_delete(d);
	mc.wq = NULL;
	mc.wqs = NULL;

	td_begin("a WQ that cannot be opened is passed over");
	/* a directory in its place: open(O_RDWR) fails with EISDIR */
	CHECK(unlink(dsa_emu_wq_path(emu, 1)) == 0);
	CHECK(mkdir(dsa_emu_wq_path(emu, 1), 0700) == 0);
	d = td_mover(&mc);
	CHECK_EQ(td_nwqs(d), NWQ - 1);
	CHECK_EQ(used_mask(emu, d, 12), (1u << 0) | (1u << 2) | (1u << 3));
	data_mover_dsa_delete(d);
	mc.wq = "wq0.1"; /* that one alone: the open error */
	expect_fail(&mc, DATA_MOVER_DSA_E_NO_WQ, dsa_emu_wq_path(emu, 1));
	CHECK(rmdir(dsa_emu_wq_path(emu, 1)) == 0);
	dsa_emu_stop(emu);
}

int
main(void)
{
	td_enter("test_dsa_multi");
	rt = runtime_new();
	CHECK(rt != NULL);
	test_spread();
	test_lists();
	runtime_delete(rt);
	td_log("test_dsa_multi: all passed\n");
	return 0;
}
