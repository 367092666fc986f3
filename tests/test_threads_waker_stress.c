/* test_threads_waker_stress.c - executors that only ever run when a waker
 * says so (no built-in runtime, no polling loop, no timeout) over 1-, 2-
 * and 8-slot queues, with cancels and hand-offs: a lost wake-up hangs them.
 *
 * Two executor threads each own tasks; a task runs operations one after
 * the other (memcpy / memset, 1..512 bytes). An executor sleeps on its
 * condition variable without a timeout until a waker queues one of its
 * tasks, then polls that task's future with the task's waker. Now and
 * then a task cancels its operation before or after the first poll or
 * when it is woken while still waiting for queue room, or
 * hands its pending future to the other executor (a NULL poll drops the
 * waker, the future is moved in memory, the other executor polls it with
 * its own waker). Every result and every byte is checked.
 * ringbuf_size bounds the operations in flight (creation past it is born
 * VDM_ERROR_OUT_OF_MEMORY): the tasks and the busy poller below keep
 * within it as a program that waits for room would, each taking one of
 * ringbuf_size slots (struct slots) before it creates an operation and
 * giving it back after the poll that saw it complete or its cancellation;
 * a task that finds none is queued by the one that gives a slot back, as
 * by a waker, first come first served (no timeout there either). So every
 * creation must succeed: the mover frees an operation's slot of the bound
 * in that poll or cancellation, never later. Live operations alone never
 * fill the ring now, but dead entries do: one cancelled after the first
 * poll, or claimed by a poller that ran it, stays queued until a worker
 * pops it (or a trim drops it), so operations may still find the ring
 * full and wait for room (the executors' are counted in the log). The
 * 8-slot phases keep up to 8 of the 13 operations wanted in flight, so
 * several can wait on the list at once: the hand-off below needs that
 * (with its old shared link put back and MASYNC_TEST_CHAOS, 8 runs in 10
 * hung; with the 1- and 2-slot phases alone, none in 10; without chaos
 * none either way, as before the bound).
 * A watchdog thread samples progress every 50 ms: it logs the longest
 * stall and fails the test only when nothing happened for a long time
 * (60 s, or TT_WATCHDOG_S; a lost wake-up never recovers), so a slow or
 * busy machine cannot fail it. Arguments: the number of operations (default 24000, divided
 * by the tools' slowdown); "full" runs 10^6 (suite 'slow').
 * Beside the executors a thread busy-polls its own operations (a NULL
 * notifier): its first polls run queued operations of the executors
 * (trim, one CPU: pop_until), whose wakers a worker must then call; that
 * hand-off once shared a link with the wait list for queue room and lost
 * the operations waiting there (a hang). With 2 slots one of them can be
 * an executor's while the busy poller holds the other. */
#include "test_threads_util.h"

#define SZ 512
#define NEXEC 2
#define NTASK 6
#define SENTINEL 0xEE

struct exec;

struct task {
	struct exec *exec;           /* owner (changed only at a hand-off) */
	struct task *next;           /* in the owner's ready list */
	int queued;                  /* under the owner's lock */
	struct vdm_operation_future f[2]; /* the future moves between them */
	int cur, waiting, polls, kind, finished;
	/* under slots.lock: holds a slot of the bound, waits for one */
	int has_slot, parked;
	struct task *snext;          /* in slots' waiting list */
	size_t n;
	unsigned long left;
	uint64_t rng;
	unsigned char dst[SZ];
	unsigned char src[SZ];
};

struct exec {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct task *head, *tail;
	struct exec *other;
	struct vdm *vdm;
	unsigned long done, cancelled, handoffs, waited;
};

static atomic_ulong progress;  /* operations finished, all executors */
static atomic_ulong busy_progress; /* the busy poller's */
static atomic_int busy_stop;

/* ---- the slots of the bound ------------------------------------------ */
/* ringbuf_size of them; a task or the busy poller holds one from before it
 * creates an operation until the poll that saw it complete or its cancel
 * returned. Waiting tasks, oldest first; busy_waiter stands for the busy
 * poller there (it sleeps on `cond`). Lock order: slots.lock, then an
 * executor's lock. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	size_t free;
	struct task *head, *tail;
} slots;
static struct task busy_waiter;

static void task_wake(void *data);

/* under slots.lock */
static void
slot_wait_locked(struct task *t)
{
	t->parked = 1;
	t->snext = NULL;
	if (slots.tail != NULL)
		slots.tail->snext = t;
	else
		slots.head = t;
	slots.tail = t;
}

/* Non-zero: t holds a slot. Else it waits: the one who gives a slot back
 * queues t on its executor (t->has_slot set). A wake-up of t meanwhile
 * (a late waker of its last operation) finds it still waiting. */
static int
slot_take(struct task *t)
{
	int got = 1;

	pthread_mutex_lock(&slots.lock);
	if (!t->has_slot) {
		if (t->parked) {
			got = 0;
		} else if (slots.free > 0 && slots.head == NULL) {
			slots.free--;
			t->has_slot = 1;
		} else {
			slot_wait_locked(t);
			got = 0;
		}
	}
	pthread_mutex_unlock(&slots.lock);
	return got;
}

/* t (NULL: the busy poller) gives its slot back: to the oldest waiter */
static void
slot_give(struct task *t)
{
	struct task *w;

	pthread_mutex_lock(&slots.lock);
	if (t != NULL)
		t->has_slot = 0;
	w = slots.head;
	if (w == NULL) {
		slots.free++;
	} else {
		slots.head = w->snext;
		if (slots.head == NULL)
			slots.tail = NULL;
		w->parked = 0;
		w->has_slot = 1;
		if (w == &busy_waiter)
			pthread_cond_signal(&slots.cond);
		else /* before the task can see its slot (slots.lock) */
			task_wake(w);
	}
	pthread_mutex_unlock(&slots.lock);
}

/* the busy poller: non-zero with a slot, 0 when told to stop */
static int
busy_slot_take(void)
{
	int got = 1;

	pthread_mutex_lock(&slots.lock);
	if (slots.free > 0 && slots.head == NULL) {
		slots.free--;
	} else {
		slot_wait_locked(&busy_waiter);
		while (busy_waiter.parked && !atomic_load(&busy_stop))
			pthread_cond_wait(&slots.cond, &slots.lock);
		if (busy_waiter.parked) { /* stopped: leave the list */
			struct task **pp = &slots.head, *prev = NULL;

			while (*pp != &busy_waiter) {
				prev = *pp;
				pp = &(*pp)->snext;
			}
			*pp = busy_waiter.snext;
			if (slots.tail == &busy_waiter)
				slots.tail = prev;
			busy_waiter.parked = 0;
			got = 0;
		}
		busy_waiter.has_slot = 0;
	}
	pthread_mutex_unlock(&slots.lock);
	return got;
}

/* creates, busy-polls and checks small copies until told to stop */
static int
busy_main(void *arg)
{
	struct vdm *vdm = (struct vdm *)arg;
	unsigned char src[128], dst[128];
	unsigned long i;

	for (i = 0; !atomic_load(&busy_stop) && busy_slot_take(); i++) {
		struct vdm_operation_future f;
		size_t n = 1 + i % sizeof(src);

		memset(src, (int)(i & 0x7f), n);
		f = vdm_memcpy(vdm, dst, src, n, 0);
		CHECK(tt_result(&f) == VDM_SUCCESS); /* within the bound */
		while (future_poll(FUTURE_AS_RUNNABLE(&f), NULL) !=
				FUTURE_STATE_COMPLETE)
			;
		CHECK(tt_result(&f) == VDM_SUCCESS);
		CHECK(memcmp(dst, src, n) == 0);
		slot_give(NULL);
		atomic_fetch_add(&busy_progress, 1);
	}
	return 0;
}
static atomic_uint tasks_left;
static atomic_int all_done;
static struct exec execs[NEXEC];

static unsigned
rnd(struct task *t, unsigned mod)
{
	t->rng = t->rng * 6364136223846793005u + 1442695040888963407u;
	return (unsigned)(t->rng >> 33) % mod;
}

/* under e->lock */
static void
push_locked(struct exec *e, struct task *t)
{
	if (t->queued)
		return;
	t->queued = 1;
	t->next = NULL;
	if (e->tail != NULL)
		e->tail->next = t;
	else
		e->head = t;
	e->tail = t;
	pthread_cond_signal(&e->cond);
}

static void
task_wake(void *data)
{
	struct task *t = (struct task *)data;
	struct exec *e = t->exec;

	pthread_mutex_lock(&e->lock);
	push_locked(e, t);
	pthread_mutex_unlock(&e->lock);
}

/* under e->lock: take t out of the ready list if it is there */
static void
unqueue_locked(struct exec *e, struct task *t)
{
	struct task **pp = &e->head, *prev = NULL;

	if (!t->queued)
		return;
	while (*pp != t) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	*pp = t->next;
	if (e->tail == t)
		e->tail = prev;
	t->queued = 0;
}

static void
check_done(struct task *t, int cancelled)
{
	struct vdm_operation_future *f = &t->f[t->cur];

	if (cancelled) {
		CHECK(tt_result(f) == VDM_ERROR_CANCELLED);
		CHECK(tt_verify_byte(t->dst, SZ, SENTINEL) == SIZE_MAX);
	} else {
		CHECK(tt_result(f) == VDM_SUCCESS);
		if (t->kind == 0)
			CHECK(memcmp(t->dst, t->src, t->n) == 0);
		else
			CHECK(tt_verify_byte(t->dst, t->n, t->kind) ==
				SIZE_MAX);
		CHECK(tt_verify_byte(t->dst + t->n, SZ - t->n, SENTINEL) ==
			SIZE_MAX);
	}
	t->waiting = 0;
	slot_give(t); /* its slot of the bound is free again */
	atomic_fetch_add(&progress, 1);
}

static void
task_finish(void)
{
	unsigned i;

	if (atomic_fetch_sub(&tasks_left, 1) != 1)
		return;
	atomic_store(&all_done, 1);
	for (i = 0; i < NEXEC; i++) {
		pthread_mutex_lock(&execs[i].lock);
		pthread_cond_broadcast(&execs[i].cond);
		pthread_mutex_unlock(&execs[i].lock);
	}
}

/* Runs t until it waits for a waker, is handed off or is finished. */
static void
task_step(struct exec *e, struct task *t)
{
	struct future_notifier n;

	if (t->finished)
		return; /* queued by a wake-up of its last operation */
	memset(&n, 0, sizeof(n));
	n.waker.data = t;
	n.waker.wake = task_wake;
	for (;;) {
		struct vdm_operation_future *f;
		enum future_state st;

		if (!t->waiting) {
			if (t->left == 0) {
				t->finished = 1;
				task_finish();
				return;
			}
			if (!slot_take(t))
				return; /* until a slot is handed to it */
			t->left--;
			memset(t->dst, SENTINEL, SZ);
			t->n = 1 + rnd(t, SZ);
			t->kind = (int)rnd(t, 3); /* 0: copy, 1 / 2: fill */
			t->cur = 0;
			t->polls = 0;
			t->f[0] = t->kind == 0 ?
				vdm_memcpy(e->vdm, t->dst, t->src, t->n, 0) :
				vdm_memset(e->vdm, t->dst, t->kind, t->n, 0);
			/* within the bound: never refused */
			CHECK(tt_result(&t->f[0]) == VDM_SUCCESS);
			t->waiting = 1;
			if (rnd(t, 16) == 0) { /* given up before it started */
				CHECK(vdm_cancel(&t->f[0]) == 0);
				e->cancelled++;
				check_done(t, 1);
				continue;
			}
		}
		f = &t->f[t->cur];
		if (t->polls > 0 && FUTURE_STATE(f) ==
				FUTURE_STATE_IDLE && rnd(t, 4) == 0) {
			/* woken while it waited for room: give it up now */
			int r = vdm_cancel(f);

			CHECK(r == 0 || r == EINPROGRESS);
			if (r == 0) {
				e->cancelled++;
				check_done(t, 1);
				continue;
			}
		}
		st = future_poll(FUTURE_AS_RUNNABLE(f), &n);
		if (st == FUTURE_STATE_COMPLETE) {
			e->done++;
			check_done(t, 0);
			continue;
		}
		CHECK(n.notifier_used == FUTURE_NOTIFIER_WAKER);
		if (t->polls == 0 && st == FUTURE_STATE_IDLE)
			e->waited++; /* found the ring full */
		if (t->polls++ == 0 && rnd(t, 8) == 0) {
			int r = vdm_cancel(f);

			CHECK(r == 0 || r == EINPROGRESS);
			if (r == 0) {
				e->cancelled++;
				check_done(t, 1);
				continue;
			}
			return; /* it runs: the waker is still registered */
		}
		if (rnd(t, 8) == 0) {
			struct exec *o = e->other;

			/* hand-off: drop the waker, move the future, give
			 * the task to the other executor */
			if (future_poll(FUTURE_AS_RUNNABLE(f), NULL) ==
					FUTURE_STATE_COMPLETE) {
				e->done++;
				check_done(t, 0);
				continue;
			}
			pthread_mutex_lock(&e->lock);
			unqueue_locked(e, t); /* a wake before the drop */
			pthread_mutex_unlock(&e->lock);
			t->f[1 - t->cur] = *f;
			memset(f, 0xA5, sizeof(*f));
			t->cur = 1 - t->cur;
			e->handoffs++;
			pthread_mutex_lock(&o->lock);
			t->exec = o;
			push_locked(o, t);
			pthread_mutex_unlock(&o->lock);
			return;
		}
		return; /* until the waker queues it */
	}
}

static int
exec_main(void *arg)
{
	struct exec *e = (struct exec *)arg;

	for (;;) {
		struct task *t;

		pthread_mutex_lock(&e->lock);
		while (e->head == NULL && !atomic_load(&all_done))
			pthread_cond_wait(&e->cond, &e->lock); /* no timeout */
		t = e->head;
		if (t == NULL) {
			pthread_mutex_unlock(&e->lock);
			return 0;
		}
		e->head = t->next;
		if (e->head == NULL)
			e->tail = NULL;
		t->queued = 0;
		pthread_mutex_unlock(&e->lock);
		task_step(e, t);
	}
}

/* ---- the watchdog ---------------------------------------------------- */
static atomic_int phase_over;

struct dog {
	uint64_t max_stall_ns;
	unsigned stalls_100ms;
};

static int
dog_main(void *arg)
{
	struct dog *d = (struct dog *)arg;
	const char *env = getenv("TT_WATCHDOG_S");
	uint64_t hang = (uint64_t)(env != NULL && atoi(env) > 0 ? atoi(env) :
		TT_ON_VALGRIND() ? 600 : 60) * 1000000000u;
	uint64_t last = tt_now_ns();
	unsigned long seen = atomic_load(&progress) +
		atomic_load(&busy_progress);
	int stalled = 0;

	while (!atomic_load(&phase_over)) {
		unsigned long p;
		uint64_t now;

		tt_sleep_us(50000);
		p = atomic_load(&progress) + atomic_load(&busy_progress);
		now = tt_now_ns();
		if (p != seen) {
			seen = p;
			last = now;
			stalled = 0;
			continue;
		}
		if (now - last > d->max_stall_ns)
			d->max_stall_ns = now - last;
		if (now - last > 100000000u && !stalled) {
			stalled = 1;
			d->stalls_100ms++;
		}
		if (now - last > hang) {
			fprintf(stderr, "no operation finished for %.0f s: a "
				"lost wake-up (progress %lu)\n",
				(now - last) / 1e9, p);
			exit(1);
		}
	}
	return 0;
}

static void
run_phase(size_t nthreads, size_t ring, unsigned long ops)
{
	struct data_mover_threads *dmt =
		data_mover_threads_new(nthreads, ring, FUTURE_NOTIFIER_WAKER);
	static struct task tasks[NEXEC][NTASK];
	unsigned long per = ops / (NEXEC * NTASK) + 1, done = 0, canc = 0,
		hand = 0, waited = 0;
	tt_thread th[NEXEC], dt, bt;
	struct dog dog = {0, 0};
	uint64_t t0 = tt_now_ns();
	unsigned i, k;

	CHECK(dmt != NULL);
	CHECK(pthread_mutex_init(&slots.lock, NULL) == 0);
	CHECK(pthread_cond_init(&slots.cond, NULL) == 0);
	slots.free = ring;
	slots.head = slots.tail = NULL;
	memset(&busy_waiter, 0, sizeof(busy_waiter));
	atomic_store(&progress, 0);
	atomic_store(&tasks_left, NEXEC * NTASK);
	atomic_store(&all_done, 0);
	atomic_store(&phase_over, 0);
	atomic_store(&busy_stop, 0);
	for (i = 0; i < NEXEC; i++) {
		struct exec *e = &execs[i];

		CHECK(pthread_mutex_init(&e->lock, NULL) == 0);
		CHECK(pthread_cond_init(&e->cond, NULL) == 0);
		e->head = e->tail = NULL;
		e->other = &execs[(i + 1) % NEXEC];
		e->vdm = data_mover_threads_get_vdm(dmt);
		e->done = e->cancelled = e->handoffs = e->waited = 0;
		for (k = 0; k < NTASK; k++) {
			struct task *t = &tasks[i][k];

			memset(t, 0, sizeof(*t));
			t->exec = e;
			t->left = per;
			t->rng = (uint64_t)(i * NTASK + k + 1) * 0x9e3779b97f4a7c15u;
			tt_fill(t->src, SZ, i * NTASK + k);
			push_locked(e, t);
		}
	}
	CHECK(tt_thread_start(&dt, dog_main, &dog) == 0);
	for (i = 0; i < NEXEC; i++)
		CHECK(tt_thread_start(&th[i], exec_main, &execs[i]) == 0);
	CHECK(tt_thread_start(&bt, busy_main,
		data_mover_threads_get_vdm(dmt)) == 0);
	for (i = 0; i < NEXEC; i++)
		CHECK(tt_thread_join(th[i]) == 0);
	atomic_store(&busy_stop, 1);
	pthread_mutex_lock(&slots.lock); /* (it may wait for a slot) */
	pthread_cond_broadcast(&slots.cond);
	pthread_mutex_unlock(&slots.lock);
	CHECK(tt_thread_join(bt) == 0);
	atomic_store(&phase_over, 1);
	CHECK(tt_thread_join(dt) == 0);
	for (i = 0; i < NEXEC; i++) {
		done += execs[i].done;
		canc += execs[i].cancelled;
		hand += execs[i].handoffs;
		waited += execs[i].waited;
		pthread_cond_destroy(&execs[i].cond);
		pthread_mutex_destroy(&execs[i].lock);
	}
	CHECK(done + canc == per * NEXEC * NTASK);
	CHECK(atomic_load(&progress) == done + canc);
	/* every slot given back, nobody left waiting */
	CHECK(slots.free == ring && slots.head == NULL);
	data_mover_threads_delete(dmt);
	pthread_cond_destroy(&slots.cond);
	pthread_mutex_destroy(&slots.lock);
	tt_log("%zu worker(s), %zu slot(s): %lu ops (%lu cancelled, %lu "
		"hand-offs, %lu waited for room) in %.0f ms; longest stall "
		"%.1f ms, %u over 100 ms\n",
		nthreads, ring, done + canc, canc, hand, waited,
		(tt_now_ns() - t0) / 1e6, dog.max_stall_ns / 1e6,
		dog.stalls_100ms);
}

int
main(int argc, char **argv)
{
	unsigned long ops = 24000 / tt_slowdown();

	tt_valgrind_setup();
	if (argc > 1 && strcmp(argv[1], "full") == 0)
		ops = 1000000 / (TT_SANITIZED ? 4 : 1);
	else if (argc > 1)
		ops = strtoul(argv[1], NULL, 10);
	if (ops < 6 * NEXEC * NTASK)
		ops = 6 * NEXEC * NTASK;
	run_phase(1, 1, ops / 6);
	run_phase(2, 1, ops / 6);
	run_phase(1, 2, ops / 6);
	run_phase(2, 2, ops / 6);
	run_phase(1, 8, ops / 6);
	run_phase(2, 8, ops / 6);
	tt_log("ok\n");
	return 0;
}
