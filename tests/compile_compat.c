/* What libminiasync.h pulled in is there with the header alone: printf
 * (<stdio.h>), _mm_pause (<emmintrin.h> on x86-64, else sched_yield from
 * <sched.h>), and FUTURE_STATE takes a FUTURE() struct pointer. */
#define MINIASYNC_IMPLEMENTATION
#include "miniasync.h"

struct counter_data {
	int polls;
};
struct counter_output {
	int done;
};
FUTURE(counter_future, struct counter_data, struct counter_output);

static enum future_state
counter_task(struct future_context *ctx, struct future_notifier *n)
{
	struct counter_data *d =
		(struct counter_data *)future_context_get_data(ctx);

	(void)n;
	return ++d->polls == 3 ? FUTURE_STATE_COMPLETE : FUTURE_STATE_RUNNING;
}

int
main(void)
{
	struct counter_future fut;

	fut.data.polls = 0;
	fut.output.done = 0;
	FUTURE_INIT(&fut, counter_task);
	if (FUTURE_STATE(&fut) != FUTURE_STATE_IDLE)
		return 1;
	while (future_poll(FUTURE_AS_RUNNABLE(&fut), NULL) !=
			FUTURE_STATE_COMPLETE) {
#if defined(__x86_64__) || defined(__amd64__)
		_mm_pause();
#else
		sched_yield();
#endif
	}
	printf("state %d after %d polls\n", (int)FUTURE_STATE(&fut),
		FUTURE_DATA(&fut)->polls);
	fprintf(stderr, "compile_compat ok\n");
	return FUTURE_STATE(&fut) == FUTURE_STATE_COMPLETE &&
		fut.data.polls == 3 ? 0 : 1;
}
