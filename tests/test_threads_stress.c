/* test_threads_stress.c - 10^6 operations from many threads, none lost.
 * (suite 'slow': left out of the valgrind runs)
 *
 * Phases with different movers (workers, queue length, notifier); in each,
 * several submitter threads create batches of memcpy / memmove / memset of
 * 1..1024 bytes on one mover and wait for them with runtime_wait_multiple,
 * runtime_wait or busy polling, sometimes moving a future to another slot
 * between polls. Every operation's result and every destination byte is
 * checked, and the operations completed are counted. Under the sanitizers
 * the count is cut by 4 (their slowdown) to stay within the time limit. */
#include "test_threads_util.h"

#define SZ 1024
#define B 32

struct phase {
	size_t nthreads, ring;
	enum future_notifier_type type;
	unsigned nsub;
	unsigned long ops; /* for the whole phase */
};

struct sub {
	struct vdm *vdm;
	unsigned id;
	unsigned long nops, done;
};

static int
sub_main(void *arg)
{
	struct sub *s = (struct sub *)arg;
	struct runtime *rt = tt_runtime_new();
	struct vdm_operation_future f[B], moved;
	struct future *fp[B];
	unsigned char src[B][SZ], dst[B][SZ];
	unsigned long i = 0, round = 0;
	unsigned k;

	CHECK(rt != NULL);
	for (k = 0; k < B; k++)
		tt_fill(src[k], SZ, s->id * 977 + k);
	while (i < s->nops) {
		unsigned nb = s->nops - i < B ? (unsigned)(s->nops - i) : B;

		for (k = 0; k < nb; k++) {
			size_t n = 1 + (size_t)((i + k) * 7919u % SZ);

			switch ((i + k) % 4) {
			case 0:
				f[k] = vdm_memset(s->vdm, dst[k],
					(int)(k + round), n, 0);
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
		for (k = 0; k < nb; k++) {
			size_t n = 1 + (size_t)((i + k) * 7919u % SZ);

			CHECK(tt_result(&f[k]) == VDM_SUCCESS);
			if ((i + k) % 4 == 0)
				CHECK(tt_verify_byte(dst[k], n,
					(int)((k + round) & 0xff)) ==
					SIZE_MAX);
			else
				CHECK(memcmp(dst[k], src[k], n) == 0);
		}
		i += nb;
		s->done += nb;
		round++;
	}
	runtime_delete(rt);
	return 0;
}

static unsigned long
run_phase(const struct phase *p)
{
	struct data_mover_threads *dmt =
		data_mover_threads_new(p->nthreads, p->ring, p->type);
	struct sub s[8];
	tt_thread t[8];
	unsigned i;
	unsigned long total = 0;
	uint64_t t0 = tt_now_ns();

	CHECK(dmt != NULL && p->nsub <= 8);
	for (i = 0; i < p->nsub; i++) {
		s[i].vdm = data_mover_threads_get_vdm(dmt);
		s[i].id = i;
		s[i].nops = p->ops / p->nsub + (i < p->ops % p->nsub);
		s[i].done = 0;
		CHECK(tt_thread_start(&t[i], sub_main, &s[i]) == 0);
	}
	for (i = 0; i < p->nsub; i++) {
		CHECK(tt_thread_join(t[i]) == 0);
		total += s[i].done;
	}
	data_mover_threads_delete(dmt);
	CHECK(total == p->ops);
	tt_log("%u submitters, %zu workers, queue %zu, notifier %d: %lu ops "
		"in %.0f ms\n", p->nsub, p->nthreads, p->ring, (int)p->type,
		total, (tt_now_ns() - t0) / 1e6);
	return total;
}

int
main(void)
{
	unsigned long scale = tt_slowdown(), total = 0;
	const struct phase phases[] = {
		{2, 64, FUTURE_NOTIFIER_WAKER, 4, 400000},
		{4, 8, FUTURE_NOTIFIER_WAKER, 8, 200000},
		{2, 4, FUTURE_NOTIFIER_POLLER, 4, 200000},
		{3, 128, FUTURE_NOTIFIER_NONE, 6, 200000},
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
