// coroutines.cpp - C++20 coroutines that co_await vdm futures.
//
// A small single-threaded scheduler: tasks are coroutines, and a task that
// awaits a future is resumed only when that future's waker says so. There
// is no polling loop and no built-in runtime: the scheduler thread sleeps
// on a condition variable (no timeout) until a waker, called from one of
// the mover's worker threads, puts a task on its ready queue. A lost
// wake-up would hang it. The copies go through threads movers of 1 and 2
// workers whose capacity (ringbuf_size: operations in flight) is just what
// the tasks hold at once, two each; one more would be born failed with
// VDM_ERROR_OUT_OF_MEMORY.
//
// What the waker contract (see the top of miniasync.h) gives this design:
// a waker may take the scheduler's lock; it is called at most once per
// poll that registered it (possibly during that poll, when the operation
// finishes at once), and never after the poll that saw the future
// complete returned, so the awaiter (in the coroutine frame) may die
// right after; the scheduler only drops a wake-up that came during it.
#define MINIASYNC_IMPLEMENTATION
#include "miniasync.h"

#include <condition_variable>
#include <coroutine>
#include <cstdio>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <vector>

class scheduler;

// Awaits one vdm future: polls it with a waker that queues this awaiter.
struct op_awaiter {
	scheduler *sched;
	vdm_operation_future *fut;
	std::coroutine_handle<> handle;
	bool queued = false; // on the ready queue (under the scheduler lock)

	bool await_ready() const noexcept
	{
		return FUTURE_STATE(fut) ==
			FUTURE_STATE_COMPLETE;
	}
	bool await_suspend(std::coroutine_handle<> h);
	vdm_operation_result await_resume() const noexcept
	{
		return FUTURE_OUTPUT(fut)->result;
	}
	bool poll(); // true once complete
	static void wake(void *data);
};

class scheduler {
public:
	struct task {
		struct promise_type {
			task get_return_object()
			{
				return task{std::coroutine_handle<
					promise_type>::from_promise(*this)};
			}
			std::suspend_always initial_suspend() noexcept
			{
				return {};
			}
			std::suspend_always final_suspend() noexcept
			{
				return {};
			}
			void return_void() {}
			void unhandled_exception() { std::terminate(); }
		};
		std::coroutine_handle<promise_type> h;
	};

	void spawn(task t) { tasks_.push_back(t.h); }

	// Runs until every task finished; wakes only for wakers.
	void run()
	{
		size_t live = tasks_.size();

		for (auto h : tasks_) // each runs to its first co_await
			if (step(h))
				live--;
		while (live > 0) {
			op_awaiter *a;
			{
				std::unique_lock<std::mutex> lk(lock_);
				ready_cv_.wait(lk, [&] { return !ready_.empty(); });
				a = ready_.front();
				ready_.pop_front();
				a->queued = false;
			}
			wakeups_++;
			if (!a->poll())
				continue; // woken early: the waker stays registered
			if (step(a->handle))
				live--;
		}
		for (auto h : tasks_)
			h.destroy();
	}

	void make_ready(op_awaiter *a)
	{
		std::lock_guard<std::mutex> lk(lock_);
		if (!a->queued) {
			a->queued = true;
			ready_.push_back(a);
		}
		ready_cv_.notify_one();
	}

	// The future completed: a wake-up that came during the poll that saw
	// it (the operation finished at once) must not outlive the awaiter.
	void forget(op_awaiter *a)
	{
		std::lock_guard<std::mutex> lk(lock_);
		if (a->queued) {
			for (auto it = ready_.begin(); it != ready_.end(); ++it)
				if (*it == a) {
					ready_.erase(it);
					break;
				}
			a->queued = false;
		}
	}

	unsigned long wakeups() const { return wakeups_; }

private:
	// Resumes h; true when its task is finished.
	static bool step(std::coroutine_handle<> h)
	{
		h.resume();
		return h.done();
	}

	std::mutex lock_;
	std::condition_variable ready_cv_;
	std::deque<op_awaiter *> ready_;
	std::vector<std::coroutine_handle<>> tasks_;
	unsigned long wakeups_ = 0;
};

void
op_awaiter::wake(void *data)
{
	op_awaiter *a = static_cast<op_awaiter *>(data);

	a->sched->make_ready(a);
}

bool
op_awaiter::poll()
{
	future_notifier n;

	std::memset(&n, 0, sizeof(n));
	n.waker.data = this;
	n.waker.wake = &op_awaiter::wake;
	if (future_poll(FUTURE_AS_RUNNABLE(fut), &n) != FUTURE_STATE_COMPLETE) {
		// A poll that took no waker (notifier_used not WAKER: e.g. a
		// DSA work queue with no room yet) will call none: the
		// contract is "poll again", so the task goes back in line.
		if (n.notifier_used != FUTURE_NOTIFIER_WAKER)
			sched->make_ready(this);
		return false;
	}
	sched->forget(this);
	return true;
}

bool
op_awaiter::await_suspend(std::coroutine_handle<> h)
{
	handle = h;
	return !poll(); // complete already: go on without suspending
}

// co_await vdm(sched, future): the operation's result once it completed
static op_awaiter
vdm(scheduler &s, vdm_operation_future &f)
{
	return op_awaiter{&s, &f, {}};
}

// One task: `rounds` copies through the mover, each checked, with a fill
// of the destination in between.
static scheduler::task
copier(scheduler &s, struct vdm *mover, unsigned id, unsigned rounds,
	unsigned long *done, unsigned *errors)
{
	unsigned char src[256], dst[256];

	for (unsigned r = 0; r < rounds; r++) {
		size_t n = 1 + (id * 31 + r * 17) % sizeof(src);

		for (size_t i = 0; i < n; i++)
			src[i] = (unsigned char)(id + r + i);
		vdm_operation_future fill =
			vdm_memset(mover, dst, 0, sizeof(dst), 0);
		vdm_operation_future copy = vdm_memcpy(mover, dst, src, n, 0);

		if (co_await vdm(s, fill) != VDM_SUCCESS ||
				co_await vdm(s, copy) != VDM_SUCCESS ||
				std::memcmp(dst, src, n) != 0)
			(*errors)++;
		(*done)++;
	}
}

int
main()
{
	const size_t workers[] = {1, 2};
	const unsigned ntasks = 8, rounds = 250;
	const size_t q = 2 * ntasks; // a fill and a copy per task
	unsigned errors = 0;

	for (size_t w : workers) {
		struct data_mover_threads *dmt = data_mover_threads_new(
			w, q, FUTURE_NOTIFIER_WAKER);
		if (dmt == nullptr) {
			std::perror("data_mover_threads_new");
			return 1;
		}
		struct vdm *mover = data_mover_threads_get_vdm(dmt);
		scheduler s;
		unsigned long done = 0;

		for (unsigned id = 0; id < ntasks; id++)
			s.spawn(copier(s, mover, id, rounds, &done,
				&errors));
		s.run();
		data_mover_threads_delete(dmt);
		std::printf("%zu worker(s), %zu in flight: %lu copies "
			"by %u tasks, %lu wake-ups, %u errors\n", w, q,
			done, ntasks, s.wakeups(), errors);
		if (done != (unsigned long)ntasks * rounds)
			errors++;
	}
	return errors != 0;
}
