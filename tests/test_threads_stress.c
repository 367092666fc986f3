/* test_threads_stress.c - 10^6 operations from many threads, none lost.
 * (suite 'slow': left out of the valgrind runs)
 *
 * Phases with different movers (workers, queue length, notifier); in each,
 * several submitter threads create batches of memcpy / memmove / memset of
 * 1..1024 bytes on one mover and wait for them with runtime_wait_multiple,
 * runtime_wait or busy polling, sometimes moving a future to another slot
 * between polls. Every operation's result and every destination byte is
 * checked (each destination is poisoned before its operation is made),
 * and the operations completed are counted. ringbuf_size bounds the
 * operations in flight: in two phases the queue has a slot for each
 * operation the submitters keep in flight, and no creation may be
 * refused; in the two with small queues (8 and 4 slots, 8 and 4
 * submitters of 32) they keep more than that, and a creation may be
 * refused (any one, as the timing goes): born COMPLETE with
 * VDM_ERROR_OUT_OF_MEMORY, its destination untouched; it is made again
 * later, so every operation still completes once. After each phase,
 * whatever the timing, every slot is back: ringbuf_size operations can
 * be made at once and one more is refused (a slot lost or given back
 * twice under contention shows there). Under the sanitizers the count is
 * cut by 4 (their slowdown) to stay within the time limit. */
#include "test_threads_util.h"

#define SZ 1024
#define B 32

struct phase {
	size_t nthreads, ring;
	enum future_notifier_type type;
	unsigned nsub, batch; /* batch: operations a submitter keeps */
	unsigned long ops; /* for the whole phase */
};

struct sub {
	struct vdm *vdm;
	unsigned id, batch;
	int may_refuse; /* the submitters keep more than the ring's slots */
	unsigned long nops, done, refused;
};

/* the length of the phase's j-th operation of a submitter */
static size_t
op_len(unsigned long j)
{
	return 1 + (size_t)(j * 7919u % SZ);
}

/* A byte no operation writes at dst[k]'s start: not src[k]'s first byte
 * (a memcpy's, a memmove's), with the top bit set (a memset's never has
 * it) */
static unsigned char
poison(const unsigned char *src)
{
	return (unsigned char)(~src[0] | 0x80);
}

static int
sub_main(void *arg)
{
	struct sub *s = (struct sub *)arg;
	struct runtime *rt = tt_runtime_new();
	struct vdm_operation_future f[B], moved;
	struct future *fp[B];
	unsigned char src[B][SZ], dst[B][SZ];
	/* the operations of this round; refused ones go again next round */
	unsigned long idx[B], retry[B], next = 0, round = 0;
	unsigned k, nretry = 0;

	CHECK(rt != NULL && s->batch <= B);
	for (k = 0; k < B; k++)
		tt_fill(src[k], SZ, s->id * 977 + k);
	while (next < s->nops || nretry > 0) {
		unsigned nb = 0, refused = 0;

		for (k = 0; k < nretry; k++)
			idx[nb++] = retry[k];
		while (nb < s->batch && next < s->nops)
			idx[nb++] = next++;
		for (k = 0; k < nb; k++) {
			size_t n = op_len(idx[k]);

			memset(dst[k], poison(src[k]), n);
			switch (idx[k] % 4) {
			case 0:
				f[k] = vdm_memset(s->vdm, dst[k],
					(int)((k + round) & 0x7f), n, 0);
				break;
			case 1:
				f[k] = vdm_memmove(s->vdm, dst[k], src[k], n,
					0);
				break;
			default:
				f[k] = vdm_memcpy(s->vdm, dst[k], src[k], n, 0);
				break;
			}
			fp[k] = FUTURE_AS_RUNNABLE(&f[k]);
		}
		switch (round % 4) {
		case 0:
		case 1:
			runtime_wait_multiple(rt, fp, nb);
			break;
		case 2:
			for (k = 0; k < nb; k++)
				runtime_wait(rt, fp[k]);
			break;
		default:
			/* poll once, move the future, finish the copy */
			for (k = 0; k < nb; k++)
				future_poll(fp[k], NULL);
			for (k = 0; k < nb; k++) {
				moved = f[k];
				memset(&f[k], 0xEE, sizeof(f[k]));
				tt_busy_wait(&moved, 30000);
				f[k] = moved;
			}
			break;
		}
		nretry = 0;
		for (k = 0; k < nb; k++) {
			size_t n = op_len(idx[k]);

			if (tt_result(&f[k]) == VDM_ERROR_OUT_OF_MEMORY) {
				/* refused at creation: nothing done */
				CHECK(s->may_refuse);
				CHECK(FUTURE_STATE(&f[k]) ==
					FUTURE_STATE_COMPLETE);
				CHECK(f[k].data.data == NULL);
				CHECK(tt_verify_byte(dst[k], n,
					poison(src[k])) == SIZE_MAX);
				retry[nretry++] = idx[k];
				refused++;
				continue;
			}
			CHECK(tt_result(&f[k]) == VDM_SUCCESS);
			if (idx[k] % 4 == 0)
				CHECK(tt_verify_byte(dst[k], n,
					(int)((k + round) & 0x7f)) ==
					SIZE_MAX);
			else
				CHECK(memcmp(dst[k], src[k], n) == 0);
			s->done++;
		}
		s->refused += refused;
		/* all refused: the others hold the slots; they give them back
		 * as their operations complete, and once they are done this
		 * one has them all */
		if (refused == nb)
			thrd_yield();
		round++;
	}
	runtime_delete(rt);
	return 0;
}

/* After a phase (its submitters joined) nothing holds a slot, whatever the
 * timing: ring operations can be made at once, and one more is refused
 * (born COMPLETE with VDM_ERROR_OUT_OF_MEMORY); all cancelled, nothing
 * written. */
static void
check_capacity(struct data_mover_threads *dmt, size_t ring)
{
	struct vdm *vdm = data_mover_threads_get_vdm(dmt);
	struct vdm_operation_future *f = (struct vdm_operation_future *)
		tt_xmalloc((ring + 1) * sizeof(*f));
	static unsigned char buf[64];
	size_t k;

	memset(buf, 0, sizeof(buf));
	for (k = 0; k <= ring; k++)
		f[k] = vdm_memset(vdm, buf, 1, sizeof(buf), 0);
	for (k = 0; k < ring; k++)
		CHECK(FUTURE_STATE(&f[k]) == FUTURE_STATE_IDLE);
	CHECK(FUTURE_STATE(&f[ring]) == FUTURE_STATE_COMPLETE);
	CHECK(tt_result(&f[ring]) == VDM_ERROR_OUT_OF_MEMORY);
	for (k = 0; k < ring; k++)
		CHECK(vdm_cancel(&f[k]) == 0);
	CHECK(tt_verify_byte(buf, sizeof(buf), 0) == SIZE_MAX);
	free(f);
}

static unsigned long
run_phase(const struct phase *p)
{
	struct data_mover_threads *dmt =
		data_mover_threads_new(p->nthreads, p->ring, p->type);
	struct sub s[8];
	tt_thread t[8];
	unsigned i;
	unsigned long total = 0, refused = 0;
	uint64_t t0 = tt_now_ns();

	CHECK(dmt != NULL && p->nsub <= 8);
	for (i = 0; i < p->nsub; i++) {
		s[i].vdm = data_mover_threads_get_vdm(dmt);
		s[i].id = i;
		s[i].batch = p->batch;
		s[i].may_refuse = (size_t)p->nsub * p->batch > p->ring;
		s[i].nops = p->ops / p->nsub + (i < p->ops % p->nsub);
		s[i].done = 0;
		s[i].refused = 0;
		CHECK(tt_thread_start(&t[i], sub_main, &s[i]) == 0);
	}
	for (i = 0; i < p->nsub; i++) {
		CHECK(tt_thread_join(t[i]) == 0);
		total += s[i].done;
		refused += s[i].refused;
	}
	check_capacity(dmt, p->ring);
	data_mover_threads_delete(dmt);
	CHECK(total == p->ops);
	tt_log("%u submitters of %u, %zu workers, queue %zu, notifier %d: "
		"%lu ops (%lu creations refused) in %.0f ms\n", p->nsub,
		p->batch, p->nthreads, p->ring, (int)p->type, total, refused,
		(tt_now_ns() - t0) / 1e6);
	return total;
}

int
main(void)
{
	unsigned long scale = tt_slowdown(), total = 0;
	/* in flight: nsub * batch; past ring, creations may be refused */
	const struct phase phases[] = {
		{2, 64, FUTURE_NOTIFIER_WAKER, 4, 16, 400000},
		{4, 8, FUTURE_NOTIFIER_WAKER, 8, B, 200000},
		{2, 4, FUTURE_NOTIFIER_POLLER, 4, B, 200000},
		{3, 6 * B, FUTURE_NOTIFIER_NONE, 6, B, 200000},
	};
	size_t i;

	tt_valgrind_setup();
	for (i = 0; i < sizeof(phases) / sizeof(phases[0]); i++) {
		struct phase p = phases[i];

		p.ops /= scale;
		total += run_phase(&p);
	}
	tt_log("%lu operations, all complete and checked\n", total);
	return 0;
}
