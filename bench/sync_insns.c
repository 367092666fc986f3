/* sync_insns.c - the sync path's operations, one kind N times, for
 * counting instructions with callgrind (repeatable on a loaded machine,
 * unlike timings). Public API only. Each operation is one non-inlined
 * op_<kind> function, shaped like the loops of bench.c; its inclusive
 * cost divided by N is the cost per operation:
 *
 *   valgrind --tool=callgrind --callgrind-out-file=cg.out \
 *       ./build/bench/sync_insns memcpy 100000
 *   callgrind_annotate --inclusive=yes cg.out | grep ':op_'
 *
 * Kinds: chain (two 64 B copies as a two-entry chain with a map), two
 * (the same two futures one after the other), memcpy, memmove, memset
 * (64 B), memcpy4k, memmove4k, memset4k, plain (a plain 64 B memcpy
 * call), rw (a 64 B memcpy future through runtime_wait). Subtract the
 * libc copy routine's own count (its self cost in the same profile) to
 * get the library's instructions alone.
 */
#define MINIASYNC_IMPLEMENTATION
#include "miniasync.h"

#include <stdlib.h>
#include <string.h>

#include "bench_chain.h"

static void *(*volatile plain_memcpy)(void *, const void *, size_t) = memcpy;

#define NOINLINE __attribute__((noinline))

static NOINLINE void
op_chain(struct vdm *vdm, unsigned char *a, unsigned char *b,
	unsigned char *c)
{
	struct chain2_fut f;

	chain2_init(&f, vdm, a, b, c);
	busy_poll(FUTURE_AS_RUNNABLE(&f));
	if (FUTURE_OUTPUT(&f)->dest != c)
		abort();
}

static NOINLINE void
op_two(struct vdm *vdm, unsigned char *a, unsigned char *b, unsigned char *c)
{
	struct vdm_operation_future f = vdm_memcpy(vdm, b, a, 64, 0);
	struct vdm_operation_future g;

	busy_poll(FUTURE_AS_RUNNABLE(&f));
	g = vdm_memcpy(vdm, c, b, 64, 0);
	busy_poll(FUTURE_AS_RUNNABLE(&g));
	if (FUTURE_OUTPUT(&f)->result != VDM_SUCCESS ||
			FUTURE_OUTPUT(&g)->result != VDM_SUCCESS)
		abort();
}

#define OP1(name, make)                                                        \
	static NOINLINE void                                                   \
	op_##name(struct vdm *vdm, unsigned char *dst, unsigned char *src)    \
	{                                                                      \
		struct vdm_operation_future f = (make);                        \
                                                                               \
		(void)src;                                                     \
		busy_poll(FUTURE_AS_RUNNABLE(&f));                             \
		if (FUTURE_OUTPUT(&f)->result != VDM_SUCCESS)                  \
			abort();                                               \
	}

OP1(memcpy, vdm_memcpy(vdm, dst, src, 64, 0))
OP1(memmove, vdm_memmove(vdm, dst, src, 64, 0))
OP1(memset, vdm_memset(vdm, dst, 0x5a, 64, 0))
OP1(memcpy4k, vdm_memcpy(vdm, dst, src, 4096, 0))
OP1(memmove4k, vdm_memmove(vdm, dst, src, 4096, 0))
OP1(memset4k, vdm_memset(vdm, dst, 0x5a, 4096, 0))

static NOINLINE void
op_plain(unsigned char *dst, unsigned char *src)
{
	plain_memcpy(dst, src, 64);
}

static NOINLINE void
op_rw(struct runtime *rt, struct vdm *vdm, unsigned char *dst,
	unsigned char *src)
{
	struct vdm_operation_future f = vdm_memcpy(vdm, dst, src, 64, 0);

	runtime_wait(rt, FUTURE_AS_RUNNABLE(&f));
	if (FUTURE_OUTPUT(&f)->result != VDM_SUCCESS)
		abort();
}

int
main(int argc, char **argv)
{
	static const char *const kinds[] = {"chain", "two", "memcpy",
		"memmove", "memset", "memcpy4k", "memmove4k", "memset4k",
		"plain", "rw"};
	static unsigned char buf[3 * 4096];
	unsigned char *a = buf, *b = buf + 4096, *c = buf + 8192;
	const char *what = argc > 1 ? argv[1] : "chain";
	unsigned long n = argc > 2 ? strtoul(argv[2], NULL, 10) : 100000, i;
	struct data_mover_sync *dms = data_mover_sync_new();
	struct runtime *rt = runtime_new();
	struct vdm *vdm = data_mover_sync_get_vdm(dms);
	size_t k;

	if (dms == NULL || rt == NULL)
		return 1;
	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
		if (strcmp(what, kinds[k]) == 0)
			break;
	if (k == sizeof(kinds) / sizeof(kinds[0]))
		return 2; /* unknown kind */
	for (i = 0; i < n; i++) {
		switch (k) {
		case 0: op_chain(vdm, a, b, c); break;
		case 1: op_two(vdm, a, b, c); break;
		case 2: op_memcpy(vdm, b, a); break;
		case 3: op_memmove(vdm, b, a); break;
		case 4: op_memset(vdm, b, a); break;
		case 5: op_memcpy4k(vdm, b, a); break;
		case 6: op_memmove4k(vdm, b, a); break;
		case 7: op_memset4k(vdm, b, a); break;
		case 8: op_plain(b, a); break;
		default: op_rw(rt, vdm, b, a); break;
		}
	}
	runtime_delete(rt);
	data_mover_sync_delete(dms);
	return 0;
}
