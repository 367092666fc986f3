/* test_dsa_numa.c - NUMA-aware placement on emulated devices on two nodes
 * (dsa0 on node 0, dsa1 on node 1, one dedicated WQ each). This machine
 * has one node, so the kernel's answers are injected through the test
 * hooks: masync__test_page_node (the node of a destination page, as
 * get_mempolicy(MPOL_F_NODE | MPOL_F_ADDR) reports it) and
 * masync__test_cpu_node (the calling thread's, as getcpu). Proves: the
 * destination's node wins over the caller's; the caller's decides when the
 * destination's is unknown; config numa_node overrides the caller's; work
 * crosses to the other node only when the local WQ is full (paused and
 * filled: the emulator counts where each descriptor went). */
#include "test_dsa_util.h"

static struct runtime *rt;

#define OPSZ 4096
#define WQSZ 4
#define NOPS (2 * WQSZ)

/* buffers "on" node 0 and node 1 */
static unsigned char *buf_node[2];
static atomic_int cpu_node = 0;

static int
page_node(const void *addr)
{
	uintptr_t a = (uintptr_t)addr;
	int n;

	for (n = 0; n < 2; n++)
		if (a >= (uintptr_t)buf_node[n] &&
				a < (uintptr_t)buf_node[n] + OPSZ * NOPS)
			return n;
	return -1; /* e.g. a page the kernel does not know */
}

static int
my_node(const void *addr)
{
	(void)addr;
	return atomic_load(&cpu_node);
}

static uint64_t
received(struct dsa_emu *emu, int wq)
{
	struct dsa_emu_stats s;

	dsa_emu_get_stats(emu, wq, &s);
	return s.received;
}

/* one memcpy into dst; the index of the WQ (= device) that received it */
static int
where(struct dsa_emu *emu, struct data_mover_dsa *d, unsigned char *dst)
{
	unsigned char src[OPSZ];
	struct vdm_operation_future f;
	uint64_t r0, r1;

	td_settle(emu);
	r0 = received(emu, 0);
	r1 = received(emu, 1);
	memset(src, 7, sizeof(src));
	f = vdm_memcpy(data_mover_dsa_get_vdm(d), dst, src, OPSZ, 0);
	CHECK_RES(td_wait(rt, &f), VDM_SUCCESS);
	CHECK_BYTES(dst, OPSZ, 7);
	td_settle(emu);
	CHECK_EQ(received(emu, 0) - r0 + received(emu, 1) - r1, 1);
	return received(emu, 1) != r1;
}

/* the cache in front of the page lookup, with a counting lookup */
static int lookups;

static int
count_lookup(const void *arg)
{
	lookups++;
	return arg == NULL ? -1 : *(const int *)arg;
}

static void
test_node_cache(void)
{
	struct masync__dsa_node_cache c = {0};
	int one = 1, zero = 0, i;

	lookups = 0;
	CHECK_EQ(masync__dsa_node_cached(&c, 7, count_lookup, &one), 1);
	CHECK_EQ(lookups, 1);
	/* the same key: from the cache, even when the answer would change */
	for (i = 0; i < MASYNC__DSA_NODE_REFRESH; i++)
		CHECK_EQ(masync__dsa_node_cached(&c, 7, count_lookup, &zero), 1);
	CHECK_EQ(lookups, 1);
	/* ... until it is asked again: the page may have moved */
	CHECK_EQ(masync__dsa_node_cached(&c, 7, count_lookup, &zero), 0);
	CHECK_EQ(lookups, 2);
	/* another key: asked */
	CHECK_EQ(masync__dsa_node_cached(&c, 8, count_lookup, &one), 1);
	CHECK_EQ(lookups, 3);
	/* a failure is kept too: a refused call is not repeated each time */
	CHECK_EQ(masync__dsa_node_cached(&c, 9, count_lookup, NULL), -1);
	CHECK_EQ(masync__dsa_node_cached(&c, 9, count_lookup, &one), -1);
	CHECK_EQ(lookups, 4);
}

/* A runtime pass whose starts alternate between the two nodes' WQs: each
 * start picks the other WQ than the one before, so this thread's stage
 * goes on one WQ's pending list and the next start fills on the other;
 * each WQ's batch goes at the pass's end. Batches need a portal: a
 * regular-file one, written with MOVDIR64B or, where the CPU lacks it,
 * 64-byte stores the emulator reads as it would read MOVDIR64B. */
static void
test_alternating(unsigned char *src)
{
	static const int nodes[] = { 0, 1 };
	struct dsa_emu_config ec = {0};
	struct data_mover_dsa_config mc = {0};
	struct vdm_operation_future fs[NOPS];
	struct future *ff[NOPS];
	struct data_mover_dsa *d;
	struct dsa_emu *emu;
	struct dsa_emu_stats s;
	unsigned bits = masync__cpu();
	int i;

	td_begin("a runtime pass alternating nodes: one batch per node");
	ec.ndevices = 2;
	ec.numa_nodes = nodes;
	ec.wq_size = WQSZ;
	ec.fifo = -1;
	emu = td_emu(&ec);
	if (!dsa_emu_cpu_movdir64b()) {
		MASYNC__STORE(&masync__cpu_bits, bits | MASYNC__CPU_MOVDIR64B,
			release);
		MASYNC__STORE(&masync__test_movdir64b, dsa_emu_portal_store,
			release);
	}
	mc.batch_max = NOPS;
	d = td_mover(&mc);
	CHECK_EQ(td_nwqs(d), 2);
	CHECK(d->q[0].portal != NULL && d->q[1].portal != NULL);
	atomic_store(&cpu_node, 0);
	td_pattern(src, OPSZ * NOPS, 9);
	memset(buf_node[0], 0, OPSZ * NOPS);
	memset(buf_node[1], 0, OPSZ * NOPS);
	for (i = 0; i < NOPS; i++) {
		fs[i] = vdm_memcpy(data_mover_dsa_get_vdm(d),
			buf_node[i % 2] + (size_t)(i / 2) * OPSZ,
			src + (size_t)i * OPSZ, OPSZ, 0);
		ff[i] = FUTURE_AS_RUNNABLE(&fs[i]);
	}
	runtime_wait_multiple(rt, ff, NOPS);
	for (i = 0; i < NOPS; i++) {
		CHECK_RES(FUTURE_OUTPUT(&fs[i])->result, VDM_SUCCESS);
		CHECK_PATTERN(buf_node[i % 2] + (size_t)(i / 2) * OPSZ, OPSZ,
			(size_t)i * OPSZ, 9);
	}
	td_settle(emu);
	CHECK_EQ(received(emu, 0), 1);
	CHECK_EQ(received(emu, 1), 1);
	s = td_stats(emu);
	CHECK_EQ(s.batch_members, NOPS);
	CHECK_EQ(s.bytes, (uint64_t)OPSZ * NOPS);
	data_mover_dsa_delete(d);
	dsa_emu_stop(emu);
	MASYNC__STORE(&masync__test_movdir64b, (masync__movdir64b_fn)NULL,
		release);
	MASYNC__STORE(&masync__cpu_bits, bits, release);
}

int
main(void)
{
	static const int nodes[] = { 0, 1 };
	struct dsa_emu_config ec = {0};
	struct data_mover_dsa_config mc = {0};
	struct data_mover_dsa *d;
	struct dsa_emu *emu;
	struct vdm_operation_future fs[NOPS + 1];
	unsigned char *other, *src;
	struct dsa_emu_stats s;
	int i;

	td_enter("test_dsa_numa");
	rt = runtime_new();
	CHECK(rt != NULL);
	buf_node[0] = td_alloc(OPSZ * NOPS);
	buf_node[1] = td_alloc(OPSZ * NOPS);
	other = td_alloc(OPSZ);
	src = td_alloc(OPSZ * (NOPS + 1));
	MASYNC__STORE(&masync__test_page_node, page_node, release);
	MASYNC__STORE(&masync__test_cpu_node, my_node, release);
	ec.ndevices = 2;
	ec.numa_nodes = nodes;
	ec.wq_size = WQSZ;
	emu = td_emu(&ec);
	d = td_mover(NULL);
	CHECK_EQ(td_nwqs(d), 2);

	td_begin("the destination's node first");
	atomic_store(&cpu_node, 0);
	CHECK_EQ(where(emu, d, buf_node[1]), 1);
	CHECK_EQ(where(emu, d, buf_node[0]), 0);
	atomic_store(&cpu_node, 1);
	CHECK_EQ(where(emu, d, buf_node[0]), 0);
	CHECK_EQ(where(emu, d, buf_node[1]), 1);

	td_begin("then the caller's node");
	atomic_store(&cpu_node, 1);
	CHECK_EQ(where(emu, d, other), 1);
	atomic_store(&cpu_node, 0);
	CHECK_EQ(where(emu, d, other), 0);
	data_mover_dsa_delete(d);

	td_begin("config numa_node overrides the caller's node");
	mc.numa_node = 1 + 1;
	d = td_mover(&mc);
	atomic_store(&cpu_node, 0);
	CHECK_EQ(where(emu, d, other), 1);
	CHECK_EQ(where(emu, d, buf_node[0]), 0); /* the destination's still */
	data_mover_dsa_delete(d);

	td_begin("across nodes only when the local WQ is full");
	d = td_mover(NULL);
	atomic_store(&cpu_node, 0);
	td_settle(emu);
	dsa_emu_reset_stats(emu);
	td_pattern(src, OPSZ * (NOPS + 1), 5);
	memset(buf_node[1], 0, OPSZ * NOPS);
	dsa_emu_pause(emu, -1, 1);
	/* into node 1's memory: dsa1 takes them while it has room */
	for (i = 0; i < WQSZ; i++) {
		fs[i] = vdm_memcpy(data_mover_dsa_get_vdm(d),
			buf_node[1] + (size_t)i * OPSZ, src + (size_t)i * OPSZ,
			OPSZ, 0);
		CHECK(future_poll(FUTURE_AS_RUNNABLE(&fs[i]), NULL) ==
			FUTURE_STATE_RUNNING);
	}
	td_wait_received(emu, WQSZ);
	CHECK_EQ(received(emu, 1), WQSZ);
	CHECK_EQ(received(emu, 0), 0);
	/* dsa1 is full: the rest cross to node 0 */
	for (i = WQSZ; i < NOPS; i++) {
		fs[i] = vdm_memcpy(data_mover_dsa_get_vdm(d),
			buf_node[1] + (size_t)i * OPSZ, src + (size_t)i * OPSZ,
			OPSZ, 0);
		CHECK(future_poll(FUTURE_AS_RUNNABLE(&fs[i]), NULL) ==
			FUTURE_STATE_RUNNING);
	}
	td_wait_received(emu, NOPS);
	CHECK_EQ(received(emu, 1), WQSZ);
	CHECK_EQ(received(emu, 0), NOPS - WQSZ);
	/* both full: the next one waits (idle), dropped nowhere */
	fs[NOPS] = vdm_memcpy(data_mover_dsa_get_vdm(d), other,
		src + (size_t)NOPS * OPSZ, OPSZ, 0);
	CHECK(future_poll(FUTURE_AS_RUNNABLE(&fs[NOPS]), NULL) ==
		FUTURE_STATE_IDLE);
	dsa_emu_pause(emu, -1, 0);
	for (i = 0; i <= NOPS; i++)
		CHECK_RES(td_wait(rt, &fs[i]), VDM_SUCCESS);
	CHECK_PATTERN(buf_node[1], OPSZ * NOPS, 0, 5);
	CHECK_PATTERN(other, OPSZ, OPSZ * NOPS, 5);
	s = td_stats(emu);
	CHECK_EQ(s.received, NOPS + 1);
	CHECK_EQ(s.dropped, 0);
	CHECK_EQ(s.bytes, (uint64_t)OPSZ * (NOPS + 1));
	data_mover_dsa_delete(d);

	dsa_emu_stop(emu);
	test_alternating(src);
	MASYNC__STORE(&masync__test_page_node, (masync__node_fn)NULL, release);
	MASYNC__STORE(&masync__test_cpu_node, (masync__node_fn)NULL, release);

	td_begin("the lookups are cached: no system call per operation");
	test_node_cache();
	/* the real lookups (no hooks): a node, or -1 where refused */
	CHECK(masync__dsa_cpu_node() >= -1);
	CHECK(masync__dsa_cpu_node() >= -1); /* the cached answer */
	CHECK(masync__dsa_page_node(other) >= -1);
	CHECK_EQ(masync__dsa_page_node(NULL), -1);
	td_free(buf_node[0]);
	td_free(buf_node[1]);
	td_free(other);
	td_free(src);
	runtime_delete(rt);
	td_log("test_dsa_numa: all passed\n");
	return 0;
}
