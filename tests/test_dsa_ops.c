/* test_dsa_ops.c - the DSA mover's four operations on the emulated device,
 * with content checks: memcpy, memmove, memset and flush from 1 byte to
 * above the WQ's maximum transfer size (split into batches, into single
 * descriptors when the WQ takes no batches, and on a shared WQ through
 * write()), unaligned buffers, guard bytes around every destination;
 * overlapping memmove both ways on a device that supports it (done on the
 * device, part by part, never in a batch) and on one that does not (done
 * on the CPU); cpu_threshold; empty operations; invalid arguments;
 * vdm_is_supported; a program's wrapped copy of the mover's struct vdm. */
#include "test_dsa_util.h"

static struct runtime *rt;

/* one operation of every kind on fresh buffers of n bytes; the buffers
 * start `mis` bytes into a page */
static void
run_all_ops(struct dsa_emu *emu, struct vdm *vdm, size_t n, size_t mis,
	unsigned seed)
{
	unsigned char *sb = td_alloc(n + 64), *db = td_alloc(n + 64);
	unsigned char *src = sb + mis, *dst = db + (mis * 7 + 3) % 64;
	struct vdm_operation_future f;
	int c = (int)(seed * 37u) - 300; /* negative and > 255 values too */

	(void)emu;
	td_pattern(src, n, seed);
	memset(dst, 0, n);

	/* memcpy */
	f = vdm_memcpy(vdm, dst, src, n, 0);
	CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
	CHECK(FUTURE_OUTPUT(&f)->type == VDM_OPERATION_MEMCPY);
	CHECK(FUTURE_OUTPUT(&f)->output.memcpy.dest == dst);
	CHECK_PATTERN(dst, n, 0, seed);
	CHECK_PATTERN(src, n, 0, seed);

	/* memset (the byte is (unsigned char)c) */
	f = vdm_memset(vdm, dst, c, n, 0);
	CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
	CHECK(FUTURE_OUTPUT(&f)->output.memset.str == dst);
	CHECK_BYTES(dst, n, (unsigned char)c);

	/* memmove, not overlapping */
	f = vdm_memmove(vdm, dst, src, n, 0);
	CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
	CHECK(FUTURE_OUTPUT(&f)->output.memmove.dest == dst);
	CHECK_PATTERN(dst, n, 0, seed);

	/* flush: nothing changes */
	f = vdm_flush(vdm, dst, n, 0);
	CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
	CHECK(FUTURE_OUTPUT(&f)->type == VDM_OPERATION_FLUSH);
	CHECK_PATTERN(dst, n, 0, seed);

	/* the same with busy polling and the flags */
	f = vdm_memset(vdm, dst, 0, n, VDM_F_NO_CACHE_HINT);
	CHECK_RES(td_busy(&f), VDM_SUCCESS);
	CHECK_BYTES(dst, n, 0);
	f = vdm_memcpy(vdm, dst, src, n, VDM_F_MEM_DURABLE);
	CHECK_RES(td_busy(&f), VDM_SUCCESS);
	CHECK_PATTERN(dst, n, 0, seed);
	f = vdm_flush(vdm, dst, n, VDM_F_NO_CACHE_HINT);
	CHECK_RES(td_busy(&f), VDM_SUCCESS);
	CHECK_PATTERN(dst, n, 0, seed);

	/* nothing written outside the destinations */
	CHECK(td_guards_ok(sb, n + 64));
	CHECK(td_guards_ok(db, n + 64));
	CHECK_BYTES(db, (size_t)(dst - db), 0xee);
	CHECK_BYTES(dst + n, 64 - (size_t)(dst - db), 0xee);
	td_free(sb);
	td_free(db);
}

static void
test_sizes(void)
{
	/* a 64 KiB WQ maximum and batches of at most 4 keep this quick while
	 * covering every split: one descriptor, one batch, several batches */
	static const size_t sizes[] = { 1, 2, 3, 7, 8, 63, 64, 65, 255, 4095,
		4096, 4097, 65535, 65536, 65537, 4 * 65536, 4 * 65536 + 1,
		9 * 65536 + 13, 300001 };
	struct dsa_emu_config ec = {0};
	struct dsa_emu *emu;
	struct data_mover_dsa *d;
	struct dsa_emu_stats s;
	size_t i;

	td_begin("sizes 1 B .. 9 x WQ max (64 KiB), batches of 4");
	ec.max_transfer_size = 65536;
	ec.max_batch_size = 4;
	ec.wq_size = 16;
	emu = td_emu(&ec);
	d = td_mover(NULL);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		dsa_emu_reset_stats(emu);
		run_all_ops(emu, data_mover_dsa_get_vdm(d), sizes[i],
			(i * 13) % 64, (unsigned)i + 1);
		s = td_stats(emu);
		/* every descriptor fit the WQ (else XFER_ERANGE errors) */
		CHECK_EQ(s.errors, 0);
		CHECK_EQ(s.dropped, 0);
		CHECK_EQ(s.rejected, 0);
		CHECK(s.received >= 7);
		if (sizes[i] > 65536 && td_portal(d))
			CHECK(s.ops[DSA_OPCODE_BATCH] >= 7);
		if (sizes[i] <= 65536)
			CHECK_EQ(s.ops[DSA_OPCODE_BATCH], 0);
		if (sizes[i] > 5 * 65536 && td_portal(d))
			CHECK(s.ops[DSA_OPCODE_BATCH] >= 14);
		CHECK(s.bytes >= 7 * (uint64_t)sizes[i]);
	}
	td_log("   %zu sizes x 7 operations ok (%s)\n",
		sizeof(sizes) / sizeof(sizes[0]),
		td_portal(d) ? "MOVDIR64B portal" : "write()");
	data_mover_dsa_delete(d);
	dsa_emu_stop(emu);

	td_begin("sizes above the default WQ max (2 MiB, batches of 32)");
	emu = td_emu(NULL);
	d = td_mover(NULL);
	run_all_ops(emu, data_mover_dsa_get_vdm(d), (5u << 20) + 7, 5, 99);
	s = td_stats(emu);
	CHECK_EQ(s.errors, 0);
	CHECK_EQ(s.dropped, 0);
	if (td_portal(d))
		CHECK(s.ops[DSA_OPCODE_BATCH] >= 7);
	data_mover_dsa_delete(d);
	dsa_emu_stop(emu);

	td_begin("a shared WQ (write()), sizes 1 B .. 5 x WQ max");
	memset(&ec, 0, sizeof(ec));
	ec.max_transfer_size = 65536;
	ec.shared = 1;
	emu = td_emu(&ec);
	d = td_mover(NULL);
	CHECK(!td_dedicated(d, 0) && !td_portal(d));
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i += 3) {
		dsa_emu_reset_stats(emu);
		run_all_ops(emu, data_mover_dsa_get_vdm(d), sizes[i],
			(i * 5) % 64, (unsigned)i + 40);
		s = td_stats(emu);
		CHECK_EQ(s.errors, 0);
		CHECK_EQ(s.dropped, 0);
		CHECK_EQ(s.rejected, 0);
		CHECK_EQ(s.ops[DSA_OPCODE_BATCH], 0);
		CHECK(s.received >= 7);
	}
	data_mover_dsa_delete(d);
	dsa_emu_stop(emu);

	td_begin("a WQ without batches (max_batch_size 1)");
	memset(&ec, 0, sizeof(ec));
	ec.max_transfer_size = 65536;
	ec.max_batch_size = 1;
	emu = td_emu(&ec);
	d = td_mover(NULL);
	dsa_emu_reset_stats(emu);
	run_all_ops(emu, data_mover_dsa_get_vdm(d), 300001, 1, 7);
	s = td_stats(emu);
	CHECK_EQ(s.errors, 0);
	CHECK_EQ(s.ops[DSA_OPCODE_BATCH], 0);
	/* 7 operations of ceil(300001 / 65536) = 5 descriptors each */
	CHECK_EQ(s.received, 7 * 5);
	data_mover_dsa_delete(d);
	dsa_emu_stop(emu);
}

/* memmove(buf + to, buf + from, n) on the mover vs on the CPU */
static void
overlap_case(struct dsa_emu *emu, struct vdm *vdm, size_t n, size_t to,
	size_t from, int on_device, unsigned seed)
{
	size_t len = n + (to > from ? to : from);
	unsigned char *buf = td_alloc(len), *ref = td_alloc(len);
	struct vdm_operation_future f;
	struct dsa_emu_stats s;

	td_pattern(buf, len, seed);
	memcpy(ref, buf, len);
	memmove(ref + to, ref + from, n);
	dsa_emu_reset_stats(emu);
	f = vdm_memmove(vdm, buf + to, buf + from, n, 0);
	CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
	CHECK(memcmp(buf, ref, len) == 0);
	CHECK(td_guards_ok(buf, len));
	s = td_stats(emu);
	CHECK_EQ(s.errors, 0);
	if (on_device) {
		CHECK(s.received >= 1);
		/* batch members may run at once: never for an overlap */
		CHECK_EQ(s.ops[DSA_OPCODE_BATCH], 0);
	} else {
		CHECK_EQ(s.received, 0);
	}
	/* memcpy with overlapping buffers is treated as a memmove */
	memcpy(ref, buf, len);
	memmove(ref + to, ref + from, n);
	f = vdm_memcpy(vdm, buf + to, buf + from, n, 0);
	CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
	CHECK(memcmp(buf, ref, len) == 0);
	td_free(buf);
	td_free(ref);
}

static void
test_overlap(void)
{
	static const size_t sizes[] = { 2, 100, 4101, 65536, 3 * 65536 + 100 };
	static const size_t deltas[] = { 1, 7, 4096, 65539 };
	struct dsa_emu_config ec = {0};
	struct dsa_emu *emu;
	struct data_mover_dsa *d;
	unsigned seed = 1;
	size_t i, j;
	int pass;

	for (pass = 0; pass < 2; pass++) {
		td_begin(pass == 0 ? "overlapping memmove, device supports it" :
			"overlapping memmove, gen_cap without bit 1: CPU");
		memset(&ec, 0, sizeof(ec));
		ec.max_transfer_size = 65536;
		ec.max_batch_size = 4;
		if (pass == 1)
			ec.gen_cap = DSA_EMU_GEN_CAP_SPR & ~2ull;
		emu = td_emu(&ec);
		d = td_mover(NULL);
		for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			for (j = 0; j < sizeof(deltas) / sizeof(deltas[0]);
					j++) {
				if (deltas[j] >= sizes[i])
					continue;
				/* descending (dst above src), ascending */
				overlap_case(emu, data_mover_dsa_get_vdm(d),
					sizes[i], deltas[j], 0, pass == 0,
					seed++);
				overlap_case(emu, data_mover_dsa_get_vdm(d),
					sizes[i], 0, deltas[j], pass == 0,
					seed++);
			}
		}
		if (pass == 1) {
			/* not overlapping: still on the device */
			unsigned char *a = td_alloc(8192), *b = td_alloc(8192);
			struct vdm_operation_future f;

			td_pattern(a, 8192, 5);
			dsa_emu_reset_stats(emu);
			f = vdm_memmove(data_mover_dsa_get_vdm(d), b, a, 8192,
				0);
			CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
			CHECK_PATTERN(b, 8192, 0, 5);
			CHECK_EQ(td_stats(emu).received, 1);
			td_free(a);
			td_free(b);
		}
		data_mover_dsa_delete(d);
		dsa_emu_stop(emu);
	}
}

/* through a program's wrapper of the mover (td_wrap): nothing of the
 * mover follows the copy (on the stack), so the library must read nothing
 * past it (ASan) and call the copy's callbacks */
static void
test_wrapped(struct dsa_emu *emu, struct vdm *vdm, unsigned char *a,
	unsigned char *b)
{
	struct vdm wrapped = td_wrap(vdm);
	struct vdm_operation_future f[4];
	struct future *fs[4];
	int i;

	dsa_emu_reset_stats(emu);
	td_pattern(a, 8192, 9);
	memset(b, 0, 8192);
	f[0] = vdm_memcpy(&wrapped, b, a, 4096, 0);
	CHECK_RES(td_wait(rt, &f[0]), VDM_SUCCESS);
	for (i = 0; i < 4; i++) {
		f[i] = vdm_memcpy(&wrapped, b + 1024 * i, a + 1024 * i, 1024,
			0);
		fs[i] = FUTURE_AS_RUNNABLE(&f[i]);
	}
	runtime_wait_multiple(rt, fs, 4);
	for (i = 0; i < 4; i++)
		CHECK_RES(FUTURE_OUTPUT(&f[i])->result, VDM_SUCCESS);
	CHECK_PATTERN(b, 4096, 0, 9);
	f[0] = vdm_memset(&wrapped, b, 0x33, 4096, 0);
	CHECK_RES(td_busy(&f[0]), VDM_SUCCESS);
	CHECK_BYTES(b, 4096, 0x33);
	CHECK_EQ(td_wrap_starts, 6);
	CHECK(td_wrap_checks >= 6);
	CHECK(td_stats(emu).received >= 1); /* the device did the work */
	f[0] = vdm_memcpy(&wrapped, b, a, 64, 0); /* never started */
	CHECK(vdm_cancel(&f[0]) == 0);
	CHECK_RES(FUTURE_OUTPUT(&f[0])->result, VDM_ERROR_CANCELLED);
	CHECK_BYTES(b, 64, 0x33);
}

static void
test_threshold_and_args(void)
{
	struct data_mover_dsa_config mc = {0};
	struct dsa_emu *emu;
	struct data_mover_dsa *d;
	struct vdm *vdm;
	struct vdm_operation_future f;
	unsigned char *a = td_alloc(8192), *b = td_alloc(8192);
	struct dsa_emu_stats s;

	td_begin("cpu_threshold 4096");
	emu = td_emu(NULL);
	mc.cpu_threshold = 4096;
	d = td_mover(&mc);
	vdm = data_mover_dsa_get_vdm(d);
	td_pattern(a, 8192, 3);
	dsa_emu_reset_stats(emu);
	f = vdm_memcpy(vdm, b, a, 4095, 0);
	CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
	CHECK_PATTERN(b, 4095, 0, 3);
	f = vdm_memset(vdm, b, 0x11, 100, 0);
	CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
	CHECK_BYTES(b, 100, 0x11);
	f = vdm_memmove(vdm, b + 1, b, 4000, 0);
	CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
	f = vdm_flush(vdm, b, 4095, 0);
	CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
	CHECK_EQ(td_stats(emu).received, 0);
	f = vdm_memcpy(vdm, b, a, 4096, 0);
	CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
	CHECK_PATTERN(b, 4096, 0, 3);
	f = vdm_memset(vdm, b, 0x22, 8192, 0);
	CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
	CHECK_BYTES(b, 8192, 0x22);
	CHECK_EQ(td_stats(emu).received, 2);
	data_mover_dsa_delete(d);

	td_begin("empty operations and invalid arguments");
	d = td_mover(NULL);
	vdm = data_mover_dsa_get_vdm(d);
	dsa_emu_reset_stats(emu);
	f = vdm_memcpy(vdm, b, a, 0, 0);
	CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
	f = vdm_memset(vdm, NULL, 0, 0, 0);
	CHECK_RES(td_busy(&f), VDM_SUCCESS);
	f = vdm_flush(vdm, b, 0, 0);
	CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
	/* arguments are checked at the first poll, which completes it */
	f = vdm_memcpy(vdm, b, a, 64, 1u << 2);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), NULL) ==
		FUTURE_STATE_COMPLETE);
	CHECK_RES(FUTURE_OUTPUT(&f)->result, VDM_ERROR_INVALID_ARGUMENT);
	f = vdm_memmove(vdm, b, NULL, 64, 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&f), NULL) ==
		FUTURE_STATE_COMPLETE);
	CHECK_RES(FUTURE_OUTPUT(&f)->result, VDM_ERROR_INVALID_ARGUMENT);
	f = vdm_memset(vdm, (void *)(uintptr_t)(UINTPTR_MAX - 10), 0, 64, 0);
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&f));
	CHECK_RES(FUTURE_OUTPUT(&f)->result, VDM_ERROR_INVALID_ARGUMENT);
	s = td_stats(emu);
	CHECK_EQ(s.received, 0);

	td_begin("vdm_is_supported");
	CHECK(vdm_is_supported(vdm, 0));
	CHECK(vdm_is_supported(vdm, VDM_F_MEM_DURABLE));
	CHECK(vdm_is_supported(vdm, VDM_F_NO_CACHE_HINT));
	CHECK(vdm_is_supported(vdm, VDM_F_VALID_FLAGS));
	CHECK(!vdm_is_supported(vdm, 1u << 2));
	CHECK(!vdm_is_supported(vdm, VDM_F_VALID_FLAGS | (1u << 5)));
	f = vdm_memcpy(NULL, b, a, 64, 0);
	CHECK(future_has_property(FUTURE_AS_RUNNABLE(&f),
		FUTURE_PROPERTY_ASYNC) == 0); /* born complete */
	f = vdm_memcpy(vdm, b, a, 64, 0);
	CHECK(future_has_property(FUTURE_AS_RUNNABLE(&f),
		FUTURE_PROPERTY_ASYNC));
	CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);

	td_begin("a program's wrapped copy of the mover's struct vdm");
	test_wrapped(emu, vdm, a, b);
	data_mover_dsa_delete(d);
	dsa_emu_stop(emu);
	td_free(a);
	td_free(b);
}

int
main(void)
{
	td_enter("test_dsa_ops");
	rt = runtime_new();
	CHECK(rt != NULL);
	test_sizes();
	test_overlap();
	test_threshold_and_args();
	runtime_delete(rt);
	td_log("test_dsa_ops: all passed\n");
	return 0;
}
