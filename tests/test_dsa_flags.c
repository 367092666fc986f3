/* test_dsa_flags.c - how the vdm flags become descriptor flags (DSA.md §3):
 * by default a memmove / fill carries cache control (CC) when GENCAP bit 2
 * says it is supported; VDM_F_NO_CACHE_HINT clears CC; VDM_F_MEM_DURABLE
 * sets destination readback (DRDBK, GENCAP bit 8) and clears CC; a flush
 * carries CC (write back, keep the lines) only with GENCAP bit 3 and no
 * VDM_F_NO_CACHE_HINT; with a GENCAP lacking these bits no such flag is
 * ever sent (the emulator would reject it as invalid flags). Block on
 * fault only when both the WQ and GENCAP bit 0 allow it. Batch members
 * carry the same flags. Content is checked after every operation. */
#include "test_dsa_util.h"

#define BASE (IDXD_OP_FLAG_CRAV | IDXD_OP_FLAG_RCR)
#define CC IDXD_OP_FLAG_CC
#define DRDBK IDXD_OP_FLAG_DRDBK
#define BOF IDXD_OP_FLAG_BOF

#define N 8192

static struct runtime *rt;
static unsigned char *src, *dst;

/* runs one operation of `type` with `flags` and returns the flags of the
 * (single) descriptor the device saw */
static uint32_t
flags_of(struct dsa_emu *emu, struct vdm *vdm, enum vdm_operation_type type,
	uint64_t flags)
{
	struct vdm_operation_future f;
	struct dsa_emu_stats s;
	static unsigned seed = 1;

	seed++;
	td_pattern(src, N, seed);
	memset(dst, 0, N);
	dsa_emu_reset_stats(emu);
	switch (type) {
	case VDM_OPERATION_MEMCPY:
		f = vdm_memcpy(vdm, dst, src, N, flags);
		break;
	case VDM_OPERATION_MEMMOVE:
		f = vdm_memmove(vdm, dst, src, N, flags);
		break;
	case VDM_OPERATION_MEMSET:
		f = vdm_memset(vdm, dst, 0x5c, N, flags);
		break;
	default:
		memcpy(dst, src, N);
		f = vdm_flush(vdm, dst, N, flags);
		break;
	}
	CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
	if (type == VDM_OPERATION_MEMSET)
		CHECK_BYTES(dst, N, 0x5c);
	else
		CHECK_PATTERN(dst, N, 0, seed);
	s = td_stats(emu);
	CHECK_EQ(s.received, 1);
	CHECK_EQ(s.errors, 0);
	CHECK_EQ(s.last_opcode, type == VDM_OPERATION_MEMSET ?
		DSA_OPCODE_MEMFILL : type == VDM_OPERATION_FLUSH ?
		DSA_OPCODE_CFLUSH : DSA_OPCODE_MEMMOVE);
	CHECK_EQ(s.flag_cc, (s.last_flags & CC) != 0);
	CHECK_EQ(s.flag_drdbk, (s.last_flags & DRDBK) != 0);
	return s.last_flags;
}

static const enum vdm_operation_type writes[] = { VDM_OPERATION_MEMCPY,
	VDM_OPERATION_MEMMOVE, VDM_OPERATION_MEMSET };

static void
test_gencap(uint64_t gencap, int wq_bof)
{
	struct dsa_emu_config ec = {0};
	struct dsa_emu *emu;
	struct data_mover_dsa *d;
	struct vdm *vdm;
	uint64_t g = gencap == DSA_EMU_GEN_CAP_NONE ? 0 : gencap;
	uint32_t cc = (g & (1u << 2)) ? CC : 0;
	uint32_t drdbk = (g & (1u << 8)) ? DRDBK : 0;
	uint32_t fcc = (g & (1u << 3)) ? CC : 0;
	uint32_t bof = (wq_bof && (g & 1)) ? BOF : 0;
	char name[96];
	size_t i;

	snprintf(name, sizeof(name), "flags with gen_cap 0x%llx, WQ "
		"block_on_fault %d", (unsigned long long)g, wq_bof);
	td_begin(name);
	ec.gen_cap = gencap;
	ec.block_on_fault = wq_bof;
	emu = td_emu(&ec);
	d = td_mover(NULL);
	vdm = data_mover_dsa_get_vdm(d);
	for (i = 0; i < sizeof(writes) / sizeof(writes[0]); i++) {
		CHECK_EQ(flags_of(emu, vdm, writes[i], 0), BASE | bof | cc);
		CHECK_EQ(flags_of(emu, vdm, writes[i], VDM_F_NO_CACHE_HINT),
			BASE | bof);
		CHECK_EQ(flags_of(emu, vdm, writes[i], VDM_F_MEM_DURABLE),
			BASE | bof | drdbk);
		CHECK_EQ(flags_of(emu, vdm, writes[i], VDM_F_MEM_DURABLE |
			VDM_F_NO_CACHE_HINT), BASE | bof | drdbk);
	}
	CHECK_EQ(flags_of(emu, vdm, VDM_OPERATION_FLUSH, 0), BASE | bof | fcc);
	CHECK_EQ(flags_of(emu, vdm, VDM_OPERATION_FLUSH, VDM_F_NO_CACHE_HINT),
		BASE | bof);
	CHECK_EQ(flags_of(emu, vdm, VDM_OPERATION_FLUSH, VDM_F_MEM_DURABLE),
		BASE | bof | fcc);
	/* whatever the device lacks, both flags are supported (on the CPU) */
	CHECK(vdm_is_supported(vdm, VDM_F_VALID_FLAGS));

	if (bof) {
		/* a page fault on a block-on-fault descriptor is resolved
		 * by the device: one descriptor, no partial completion */
		struct dsa_emu_fault fl = {0};
		struct vdm_operation_future f;
		struct dsa_emu_stats s;

		fl.kind = DSA_EMU_FAULT_PAGE_WRITE;
		fl.bytes_done = 4096;
		td_inject(emu, &fl);
		td_pattern(src, N, 77);
		dsa_emu_reset_stats(emu);
		f = vdm_memcpy(vdm, dst, src, N, 0);
		CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
		CHECK_PATTERN(dst, N, 0, 77);
		s = td_stats(emu);
		CHECK_EQ(s.received, 1);
		CHECK_EQ(s.faults_blocked, 1);
		CHECK_EQ(s.page_faults, 0);
	}
	data_mover_dsa_delete(d);
	dsa_emu_stop(emu);
}

/* a batch: every member carries the operation's flags */
static void
test_batch_members(void)
{
	struct dsa_emu_config ec = {0};
	struct dsa_emu *emu;
	struct data_mover_dsa *d;
	struct vdm_operation_future f;
	struct dsa_emu_stats s;
	const size_t n = 4 * 65536;
	unsigned char *a = td_alloc(n), *b = td_alloc(n);
	int k;

	td_begin("flags of batch members");
	ec.max_transfer_size = 65536;
	emu = td_emu(&ec);
	d = td_mover(NULL);
	td_pattern(a, n, 8);
	for (k = 0; k < 3; k++) {
		uint64_t fl = k == 0 ? 0 : k == 1 ? VDM_F_NO_CACHE_HINT :
			VDM_F_MEM_DURABLE;

		memset(b, 0, n);
		dsa_emu_reset_stats(emu);
		f = vdm_memcpy(data_mover_dsa_get_vdm(d), b, a, n, fl);
		CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
		CHECK_PATTERN(b, n, 0, 8);
		s = td_stats(emu);
		CHECK_EQ(s.errors, 0);
		CHECK_EQ(s.ops[DSA_OPCODE_MEMMOVE], 4);
		if (td_portal(d)) {
			CHECK_EQ(s.ops[DSA_OPCODE_BATCH], 1);
			CHECK_EQ(s.batch_members, 4);
		}
		CHECK_EQ(s.flag_cc, k == 0 ? 4 : 0);
		CHECK_EQ(s.flag_drdbk, k == 2 ? 4 : 0);
	}
	data_mover_dsa_delete(d);
	dsa_emu_stop(emu);
	td_free(a);
	td_free(b);
}

int
main(void)
{
	td_enter("test_dsa_flags");
	rt = runtime_new();
	src = td_alloc(N);
	dst = td_alloc(N);
	test_gencap(DSA_EMU_GEN_CAP_SPR, 0);          /* bits 0, 1, 2, 8 */
	test_gencap(DSA_EMU_GEN_CAP_SPR | 8, 1);      /* + CC for flush, BOF */
	test_gencap(DSA_EMU_GEN_CAP_SPR & ~1ull, 1);  /* WQ BOF, device not */
	test_gencap(DSA_EMU_GEN_CAP_SPR & ~0x100ull, 0); /* no DRDBK */
	test_gencap(DSA_EMU_GEN_CAP_SPR & ~0x104ull, 0); /* no CC, no DRDBK */
	test_gencap(DSA_EMU_GEN_CAP_NONE, 0);
	test_batch_members();
	td_free(src);
	td_free(dst);
	runtime_delete(rt);
	td_log("test_dsa_flags: all passed\n");
	return 0;
}
