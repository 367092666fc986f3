/* miniasync.h - v0.1.0 - asynchronous memory operations in one C11 header.
   The maintained successor of libminiasync: poll-based futures, chained
   futures, a small runtime, and a virtual data mover (vdm) that runs
   memcpy / memmove / memset / cache flush synchronously, on a pool of C11
   threads, or on Intel DSA work queues through libaccel-config.

   USAGE
   Do this in exactly one C (or C++) file before you include this header:

       #define MINIASYNC_IMPLEMENTATION
       #include "miniasync.h"

   Every other file just includes "miniasync.h". Link with -pthread.
   A program written for libminiasync builds by replacing
   `#include <libminiasync.h>` with `#include "miniasync.h"`.

   QUICK START (compiled and run by the test suite as tests/quickstart.c)

       #define MINIASYNC_IMPLEMENTATION
       #include "miniasync.h"
       #include <stdio.h>

       int main(void)
       {
           char src[64] = "hello, mover", dst[64] = {0};
           struct runtime *r = runtime_new();
           struct data_mover_threads *dmt = data_mover_threads_default();
           if (r == NULL || dmt == NULL) return 1;
           struct vdm *vdm = data_mover_threads_get_vdm(dmt);
           struct vdm_operation_future f = vdm_memcpy(vdm, dst, src, sizeof src, 0);
           runtime_wait(r, FUTURE_AS_RUNNABLE(&f));
           printf("%s (%s)\n", dst, vdm_result_str(FUTURE_OUTPUT(&f)->result));
           data_mover_threads_delete(dmt);
           runtime_delete(r);
           return FUTURE_OUTPUT(&f)->result != VDM_SUCCESS;
       }

   COMPILE-TIME OPTIONS (define before including the header)

   | macro                     | effect                                                    |
   |---------------------------|-----------------------------------------------------------|
   | MINIASYNC_IMPLEMENTATION  | emit the implementation in this translation unit          |
   | MINIASYNC_STATIC          | make every non-inline function static (private copy)      |
   | MINIASYNC_API             | linkage of the non-inline functions (default: extern)     |
   | MINIASYNC_ASSERT(x)       | assertion used by the implementation (default: assert)    |
   | MINIASYNC_MALLOC(sz)      | allocator; define together with MINIASYNC_FREE            |
   | MINIASYNC_FREE(p)         | deallocator; define together with MINIASYNC_MALLOC        |
   | MINIASYNC_NO_THREADS      | leave out the threads mover (no <threads.h> mover)        |
   | MINIASYNC_DSA             | compile the DSA mover (needs <linux/idxd.h> and           |
   |                           | libaccel-config: link -laccel-config). Without it the DSA |
   |                           | constructors exist and report DATA_MOVER_DSA_E_NOT_BUILT. |
   | MINIASYNC_NO_COMPAT_NAMES | leave out the old type aliases (struct vdm_memcpy_future) |

   None of the options changes the layout of a public struct, so translation
   units built with different options can be linked together.

   WHAT IT DOES NOT DO
   - It is not an event loop for I/O: futures are polled, nothing is
     scheduled behind your back except the movers' own worker threads.
   - A future must not be polled by two threads at the same time (it may be
     polled by different threads one after another, and it may be moved in
     memory between polls).
   - Movers must outlive the futures created on them.

   LICENSE: MIT, see the end of this file.
*/
#ifndef MINIASYNC_H
#define MINIASYNC_H

#define MINIASYNC_VERSION_MAJOR 0
#define MINIASYNC_VERSION_MINOR 1
#define MINIASYNC_VERSION_PATCH 0

#ifndef MINIASYNC_API
#ifdef MINIASYNC_STATIC
#define MINIASYNC_API static
#else
#define MINIASYNC_API extern
#endif
#endif

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
#define MASYNC__ALIGNAS(n) alignas(n)
extern "C" {
#else
#define MASYNC__ALIGNAS(n) _Alignas(n)
#endif

#if defined(__x86_64__) || defined(__i386__)
#define MASYNC__PAUSE() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define MASYNC__PAUSE() __asm__ __volatile__("yield" ::: "memory")
#else
#define MASYNC__PAUSE() ((void)0)
#endif

/* ======================================================================== */
/* >>future — poll-based futures (API of libminiasync's future.h)            */
/* ======================================================================== */

enum future_state {
	FUTURE_STATE_IDLE,
	FUTURE_STATE_COMPLETE,
	FUTURE_STATE_RUNNING,
};

/* The context sits at the end of struct future; the future's data and
 * output follow it. The two gap bytes record padding the compiler put
 * before data and output (non-zero only for over-aligned types). */
struct future_context {
	size_t data_size;
	size_t output_size;
	enum future_state state;
	uint8_t masync__data_gap;
	uint8_t masync__output_gap;
	uint16_t masync__flags;
};

typedef void (*future_waker_wake_fn)(void *data);

struct future_waker {
	void *data;
	future_waker_wake_fn wake;
};

struct future_poller {
	uint64_t *ptr_to_monitor;
};

enum future_notifier_type {
	FUTURE_NOTIFIER_NONE,
	FUTURE_NOTIFIER_WAKER,
	FUTURE_NOTIFIER_POLLER,
};

/* Passed to a task by whoever polls. The task sets notifier_used:
 * WAKER  - it keeps `waker` and calls it (from any thread, exactly once per
 *          registration) when polling again would make progress;
 * POLLER - it set poller.ptr_to_monitor to a 64-bit word whose change
 *          means "poll again";
 * NONE   - the poller has to poll again on its own. */
struct future_notifier {
	struct future_waker waker;
	struct future_poller poller;
	enum future_notifier_type notifier_used;
	uint32_t padding;
};

enum future_property {
	FUTURE_PROPERTY_ASYNC,
};

typedef enum future_state (*future_task_fn)(struct future_context *context,
	struct future_notifier *notifier);
typedef int (*future_has_property_fn)(void *future,
	enum future_property property);

struct future {
	future_task_fn task;
	future_has_property_fn has_property;
	struct future_context context;
};

typedef void (*future_map_fn)(struct future_context *lhs,
	struct future_context *rhs, void *arg);
typedef void (*future_init_fn)(void *future,
	struct future_context *chain_fut, void *arg);

/* Returns the data / output block of the future owning `context`. */
static inline void *
future_context_get_data(struct future_context *context)
{
	return (char *)context + sizeof(struct future_context) +
		context->masync__data_gap;
}

static inline void *
future_context_get_output(struct future_context *context)
{
	return (char *)future_context_get_data(context) + context->data_size +
		context->masync__output_gap;
}

/* Returns data_size + output_size. */
static inline size_t
future_context_get_size(struct future_context *context)
{
	return context->data_size + context->output_size;
}

/* Polls once. A complete future stays complete and its task is not called.
 * Thread safety: one poller at a time per future. */
static inline enum future_state
future_poll(struct future *fut, struct future_notifier *notifier)
{
	if (fut->context.state != FUTURE_STATE_COMPLETE) {
		if (notifier != NULL)
			notifier->notifier_used = FUTURE_NOTIFIER_NONE;
		fut->context.state = fut->task(&fut->context, notifier);
	}
	return fut->context.state;
}

static inline int
future_has_property_default(void *future, enum future_property property)
{
	(void)future;
	(void)property;
	return 0;
}

/* Non-zero when the future has the property; a future born complete may
 * have no has_property function: then it has none. */
static inline int
future_has_property(struct future *fut, enum future_property property)
{
	return fut->has_property != NULL && fut->has_property(fut, property);
}

#define FUTURE(name, data_type, output_type)                                  \
	struct name {                                                          \
		struct future base;                                            \
		data_type data;                                                \
		output_type output;                                            \
	}

/* private: record sizes and padding of a FUTURE()-declared struct */
#define MASYNC__FUTURE_LAYOUT(futp)                                            \
	((futp)->base.context.data_size = sizeof((futp)->data),                \
	(futp)->base.context.output_size = sizeof((futp)->output),             \
	(futp)->base.context.masync__data_gap = (uint8_t)((char *)&(futp)->data \
		- ((char *)&(futp)->base.context +                             \
		sizeof(struct future_context))),                               \
	(futp)->base.context.masync__output_gap = (uint8_t)                    \
		((char *)&(futp)->output - ((char *)&(futp)->data +            \
		sizeof((futp)->data))),                                        \
	(futp)->base.context.masync__flags = 0)

#define FUTURE_INIT_EXT(futurep, taskfn, propertyfn)                          \
	do {                                                                   \
		(futurep)->base.task = (taskfn);                               \
		(futurep)->base.has_property = (propertyfn);                   \
		(futurep)->base.context.state = FUTURE_STATE_IDLE;             \
		MASYNC__FUTURE_LAYOUT(futurep);                                \
	} while (0)

#define FUTURE_INIT(futurep, taskfn)                                          \
	FUTURE_INIT_EXT(futurep, taskfn, future_has_property_default)

/* A future that is complete from birth (e.g. creation failed). */
#define FUTURE_INIT_COMPLETE(futurep)                                         \
	do {                                                                   \
		(futurep)->base.task = NULL;                                   \
		(futurep)->base.has_property = NULL;                           \
		(futurep)->base.context.state = FUTURE_STATE_COMPLETE;         \
		MASYNC__FUTURE_LAYOUT(futurep);                                \
	} while (0)

#define FUTURE_AS_RUNNABLE(futurep) (&(futurep)->base)
#define FUTURE_OUTPUT(futurep) (&(futurep)->output)
#define FUTURE_DATA(futurep) (&(futurep)->data)
#define FUTURE_STATE(futurep) ((futurep)->context.state)

/* Polls with no notifier until complete, pausing the CPU between polls. */
#define FUTURE_BUSY_POLL(futurep)                                             \
	do {                                                                   \
		while (future_poll(FUTURE_AS_RUNNABLE(futurep), NULL) !=       \
				FUTURE_STATE_COMPLETE)                         \
			MASYNC__PAUSE();                                       \
	} while (0)

#define FUTURE_WAKER_WAKE(wakerp) ((wakerp)->wake((wakerp)->data))

/* ---- chained futures ----------------------------------------------------
 * A chain's data struct is a sequence of FUTURE_CHAIN_ENTRY members. Each
 * entry is a header followed by a future; the header records where the
 * future starts and how big the entry is, so the chain task can walk the
 * entries without knowing their types. */
#define MASYNC__CHAIN_LAST 0x1u
#define MASYNC__CHAIN_PROCESSED 0x2u
#define MASYNC__CHAIN_INITIALIZED 0x4u
#define MASYNC__CHAIN_FAILED 0x8u

struct future_chain_entry {
	MASYNC__ALIGNAS(16) future_map_fn map;
	void *map_arg;
	future_init_fn init;
	void *init_arg;
	uint32_t flags;
	uint32_t masync__fut_offset;
	uint64_t masync__size;
};

#define FUTURE_CHAIN_ENTRY(future_type, name)                                 \
	struct {                                                               \
		struct future_chain_entry entry;                               \
		future_type fut;                                               \
	} name

/* The last entry; the chain's data struct may have members after it. */
#define FUTURE_CHAIN_ENTRY_LAST(future_type, name)                            \
	struct {                                                               \
		struct future_chain_entry entry;                               \
		future_type fut;                                               \
		uint8_t masync__last[16];                                      \
	} name

/* private: entries are 16-byte aligned, so a plain entry ends in less than
 * 16 bytes of padding; an entry declared with _LAST carries a 16-byte
 * marker after its future. */
#define MASYNC__CHAIN_ENTRY_SETUP(entryp, iflag)                               \
	((entryp)->entry.masync__fut_offset = (uint32_t)((char *)&(entryp)->fut \
		- (char *)(entryp)),                                           \
	(entryp)->entry.masync__size = sizeof(*(entryp)),                      \
	(entryp)->entry.flags = (iflag) | (sizeof(*(entryp)) >=                \
		(size_t)((char *)&(entryp)->fut - (char *)(entryp)) +          \
		sizeof((entryp)->fut) + 16 ? MASYNC__CHAIN_LAST : 0u))

#define FUTURE_CHAIN_ENTRY_INIT(entry_ptr, future_value, map_fn, map_arg_v)   \
	do {                                                                   \
		(entry_ptr)->fut = (future_value);                             \
		(entry_ptr)->entry.map = (map_fn);                             \
		(entry_ptr)->entry.map_arg = (map_arg_v);                      \
		(entry_ptr)->entry.init = NULL;                                \
		(entry_ptr)->entry.init_arg = NULL;                            \
		MASYNC__CHAIN_ENTRY_SETUP(entry_ptr,                           \
			MASYNC__CHAIN_INITIALIZED);                            \
	} while (0)

/* The future is built by init_fn(&entry->fut, chain context, init_arg)
 * right before the chain first needs it. */
#define FUTURE_CHAIN_ENTRY_LAZY_INIT(entry_ptr, init_fn, init_arg_v, map_fn,  \
		map_arg_v)                                                     \
	do {                                                                   \
		(entry_ptr)->entry.map = (map_fn);                             \
		(entry_ptr)->entry.map_arg = (map_arg_v);                      \
		(entry_ptr)->entry.init = (init_fn);                           \
		(entry_ptr)->entry.init_arg = (init_arg_v);                    \
		(entry_ptr)->fut.base.context.state = FUTURE_STATE_IDLE;       \
		MASYNC__FUTURE_LAYOUT(&(entry_ptr)->fut);                      \
		MASYNC__CHAIN_ENTRY_SETUP(entry_ptr, 0u);                      \
	} while (0)

/* Accepts a pointer to an entry member or to its struct future_chain_entry. */
#define FUTURE_CHAIN_ENTRY_IS_INITIALIZED(entry_ptr)                          \
	((((const struct future_chain_entry *)(const void *)(entry_ptr))      \
		->flags & MASYNC__CHAIN_INITIALIZED) != 0)

struct masync__chain_pos {
	struct future_chain_entry *entry;
	struct future *fut;
	struct future_context *next; /* where map() writes */
};

/* Finds entry number `i` of a chain; returns 0 past the end. */
static inline int
masync__chain_at(struct future_context *ctx, struct masync__chain_pos *pos,
	size_t *offset)
{
	uint8_t *data = (uint8_t *)future_context_get_data(ctx);
	struct future_chain_entry *e;
	size_t next;

	if (*offset + sizeof(struct future_chain_entry) > ctx->data_size)
		return 0;
	e = (struct future_chain_entry *)(void *)(data + *offset);
	pos->entry = e;
	pos->fut = (struct future *)(void *)((uint8_t *)e +
		e->masync__fut_offset);
	next = *offset + (size_t)e->masync__size;
	if ((e->flags & MASYNC__CHAIN_LAST) || e->masync__size == 0 ||
			next + sizeof(struct future_chain_entry) >
			ctx->data_size) {
		pos->next = ctx;
		*offset = SIZE_MAX - sizeof(struct future_chain_entry);
	} else {
		struct future_chain_entry *n =
			(struct future_chain_entry *)(void *)(data + next);
		pos->next = &((struct future *)(void *)((uint8_t *)n +
			n->masync__fut_offset))->context;
		*offset = next;
	}
	return 1;
}

static inline void
masync__chain_lazy_init(struct future_context *ctx,
	struct masync__chain_pos *pos)
{
	if (!(pos->entry->flags & MASYNC__CHAIN_INITIALIZED)) {
		if (pos->entry->init != NULL)
			pos->entry->init(pos->fut, ctx, pos->entry->init_arg);
		pos->entry->flags |= MASYNC__CHAIN_INITIALIZED;
	}
}

/* vdm futures mark their context so error-aware chains can read results */
#define MASYNC__CTX_VDM 0x1u
#define MASYNC__CTX_STOP_ON_ERROR 0x2u
static inline int masync__vdm_context_result(struct future_context *ctx);

static inline enum future_state
masync__chain_task(struct future_context *ctx, struct future_notifier *n)
{
	struct masync__chain_pos pos;
	size_t off = 0;

	while (masync__chain_at(ctx, &pos, &off)) {
		struct future_chain_entry *e = pos.entry;

		if (e->flags & MASYNC__CHAIN_PROCESSED)
			continue;
		masync__chain_lazy_init(ctx, &pos);
		if (future_poll(pos.fut, n) != FUTURE_STATE_COMPLETE)
			return FUTURE_STATE_RUNNING;
		e->flags |= MASYNC__CHAIN_PROCESSED;
		if ((ctx->masync__flags & MASYNC__CTX_STOP_ON_ERROR) &&
				masync__vdm_context_result(&pos.fut->context)) {
			e->flags |= MASYNC__CHAIN_FAILED;
			return FUTURE_STATE_COMPLETE;
		}
		if (e->map != NULL)
			e->map(&pos.fut->context, pos.next, e->map_arg);
	}
	return FUTURE_STATE_COMPLETE;
}

/* A chain has a property when the entry it is running has it. */
static inline int
masync__chain_has_property(void *future, enum future_property property)
{
	struct future *chain = (struct future *)future;
	struct masync__chain_pos pos;
	size_t off = 0;

	while (masync__chain_at(&chain->context, &pos, &off)) {
		if (pos.entry->flags & MASYNC__CHAIN_PROCESSED)
			continue;
		if (!(pos.entry->flags & MASYNC__CHAIN_INITIALIZED))
			return 0;
		return future_has_property(pos.fut, property);
	}
	return 0;
}

#define FUTURE_CHAIN_INIT(futurep)                                            \
	FUTURE_INIT_EXT(futurep, masync__chain_task, masync__chain_has_property)

/* ======================================================================== */
/* >>runtime — waits for futures in the calling thread                      */
/* ======================================================================== */

struct runtime;

/* Returns a new runtime, or NULL with errno set (ENOMEM).
 * Thread safety: any thread. */
MINIASYNC_API struct runtime *runtime_new(void);

/* Frees the runtime. Nobody may be waiting on it, and no pending future may
 * still hold its waker (futures waited to completion never do).
 * Thread safety: not with any other call on the same runtime. */
MINIASYNC_API void runtime_delete(struct runtime *runtime);

/* Polls `fut` in the calling thread until it is complete. Between polls
 * that make no progress it sleeps until a waker fires (bounded by a 1 ms
 * safety timeout), waits on a poller word, or backs off with growing sleeps
 * for futures that use no notifier; it never spins a core for long.
 * Thread safety: many threads may wait on one runtime at once. */
MINIASYNC_API void runtime_wait(struct runtime *runtime, struct future *fut);

/* Like runtime_wait for all `nfuts` futures. Each pass polls the futures
 * that have FUTURE_PROPERTY_ASYNC first, then the rest, in array order;
 * `futs` is never reordered. Futures complete on entry count as done. */
MINIASYNC_API void runtime_wait_multiple(struct runtime *runtime,
	struct future *futs[], size_t nfuts);

/* ======================================================================== */
/* >>vdm — the virtual data mover interface (libminiasync's vdm.h)          */
/* ======================================================================== */

/* Flags of an operation; the same bits are the movers' capabilities. */
#define VDM_F_MEM_DURABLE (1U << 0)  /* done = range reached persistence */
#define VDM_F_NO_CACHE_HINT (1U << 1) /* write around the CPU caches */
#define VDM_F_VALID_FLAGS (VDM_F_MEM_DURABLE | VDM_F_NO_CACHE_HINT)

enum vdm_operation_type {
	VDM_OPERATION_MEMCPY,
	VDM_OPERATION_MEMMOVE,
	VDM_OPERATION_MEMSET,
	VDM_OPERATION_FLUSH,
};

/* New results are only ever appended. */
enum vdm_operation_result {
	VDM_SUCCESS,
	VDM_ERROR_OUT_OF_MEMORY,
	VDM_ERROR_JOB_CORRUPTED,
	VDM_ERROR_INVALID_ARGUMENT, /* bad pointer, size or flags */
	VDM_ERROR_NOT_SUPPORTED,    /* the mover cannot do this operation */
	VDM_ERROR_BUSY,             /* the device refused the work; retry */
	VDM_ERROR_CANCELLED,        /* cancelled before it started */
	VDM_ERROR_TIMEOUT,          /* the device did not answer in time */
	VDM_ERROR_SHUTDOWN,         /* the mover was deleted first */
	VDM_ERROR_DSA_PAGE_FAULT,   /* DSA: a page fault could not be resolved */
	VDM_ERROR_DSA_HARDWARE,     /* DSA: the device reported an error */
	VDM_ERROR_DSA_INVALID,      /* DSA: descriptor rejected (flags, opcode) */
};

struct vdm_operation_data_memcpy {
	void *dest;
	void *src;
	size_t n;
	uint64_t flags;
};

struct vdm_operation_data_memmove {
	void *dest;
	void *src;
	size_t n;
	uint64_t flags;
};

struct vdm_operation_data_memset {
	void *str;
	int c;
	size_t n;
	uint64_t flags;
};

struct vdm_operation_data_flush {
	void *dest;
	size_t n;
	uint64_t flags;
};

struct vdm_operation {
	union {
		struct vdm_operation_data_memcpy memcpy;
		struct vdm_operation_data_memmove memmove;
		struct vdm_operation_data_memset memset;
		struct vdm_operation_data_flush flush;
		uint8_t data[40];
	} data;
	enum vdm_operation_type type;
	uint32_t padding;
};

struct vdm;

struct vdm_operation_data {
	void *data;      /* the mover's per-operation state (from op_new) */
	struct vdm *vdm;
	struct vdm_operation operation;
};

struct vdm_operation_output_memcpy {
	void *dest;
};

struct vdm_operation_output_memmove {
	void *dest;
};

struct vdm_operation_output_memset {
	void *str;
};

struct vdm_operation_output_flush {
	uint64_t unused;
};

struct vdm_operation_output {
	enum vdm_operation_type type;
	enum vdm_operation_result result;
	union {
		struct vdm_operation_output_memcpy memcpy;
		struct vdm_operation_output_memmove memmove;
		struct vdm_operation_output_memset memset;
		struct vdm_operation_output_flush flush;
	} output;
};

FUTURE(vdm_operation_future, struct vdm_operation_data,
	struct vdm_operation_output);

#ifndef MINIASYNC_NO_COMPAT_NAMES
/* names used by older libminiasync releases and man pages */
#define vdm_memcpy_future vdm_operation_future
#define vdm_memmove_future vdm_operation_future
#define vdm_memset_future vdm_operation_future
#define vdm_flush_future vdm_operation_future
#endif

/* The mover interface. op_new returns per-operation state or NULL (then the
 * future completes with VDM_ERROR_OUT_OF_MEMORY); op_start returns 0 once
 * the operation is started, non-zero to stay idle and be started on a later
 * poll; op_check reports progress; op_delete fills `output` and releases the
 * state. `operation` lives in the future, which may move between calls. */
typedef void *(*vdm_operation_new)(struct vdm *vdm,
	const enum vdm_operation_type type);
typedef int (*vdm_operation_start)(void *data,
	const struct vdm_operation *operation, struct future_notifier *n);
typedef enum future_state (*vdm_operation_check)(void *data,
	const struct vdm_operation *operation);
typedef void (*vdm_operation_delete)(void *data,
	const struct vdm_operation *operation,
	struct vdm_operation_output *output);

struct vdm {
	vdm_operation_new op_new;
	vdm_operation_delete op_delete;
	vdm_operation_start op_start;
	vdm_operation_check op_check;
	unsigned capabilities;
	future_has_property_fn has_property;
};

/* private: the built-in movers embed a struct vdm in this and set
 * MASYNC__CAP_EXT, which lets a poll hand over its notifier every time
 * (re-registering or dropping a waker) and lets an operation be cancelled. */
#define MASYNC__CAP_EXT (1U << 31)
struct masync__vdm_ext {
	struct vdm base;
	enum future_state (*check)(void *data,
		const struct vdm_operation *operation,
		struct future_notifier *n);
	/* 0: released, the operation never ran; non-zero: it has started */
	int (*cancel)(void *data, const struct vdm_operation *operation);
};

/* Non-zero only when the mover supports every bit of `capability`. */
static inline int
vdm_is_supported(struct vdm *vdm, unsigned capability)
{
	capability &= ~MASYNC__CAP_EXT;
	return (vdm->capabilities & capability) == capability;
}

static inline enum future_state
masync__vdm_task(struct future_context *context, struct future_notifier *n)
{
	struct vdm_operation_data *data =
		(struct vdm_operation_data *)future_context_get_data(context);
	struct vdm_operation_output *output = (struct vdm_operation_output *)
		future_context_get_output(context);
	struct vdm *vdm = data->vdm;
	enum future_state state;

	if (context->state == FUTURE_STATE_IDLE) {
		if (vdm->op_start(data->data, &data->operation, n) != 0)
			return FUTURE_STATE_IDLE;
		state = vdm->op_check(data->data, &data->operation);
	} else if (vdm->capabilities & MASYNC__CAP_EXT) {
		state = ((struct masync__vdm_ext *)(void *)vdm)->check(
			data->data, &data->operation, n);
	} else {
		state = vdm->op_check(data->data, &data->operation);
	}
	if (state == FUTURE_STATE_COMPLETE) {
		vdm->op_delete(data->data, &data->operation, output);
		data->data = NULL; /* the state is gone */
	}
	return state;
}

/* private: 0 when the vdm future succeeded (or is not a vdm future) */
static inline int
masync__vdm_context_result(struct future_context *ctx)
{
	if (!(ctx->masync__flags & MASYNC__CTX_VDM))
		return 0;
	return (int)((struct vdm_operation_output *)
		future_context_get_output(ctx))->result;
}

/* private: argument checks shared by every mover, user-written ones too */
static inline enum vdm_operation_result
masync__vdm_validate(const struct vdm *vdm, const void *dest, const void *src,
	size_t n, uint64_t flags, int needs_src)
{
	if (vdm == NULL || (flags & ~(uint64_t)VDM_F_VALID_FLAGS) != 0)
		return VDM_ERROR_INVALID_ARGUMENT;
	if (n == 0)
		return VDM_SUCCESS;
	if (dest == NULL || (needs_src && src == NULL))
		return VDM_ERROR_INVALID_ARGUMENT;
	if ((uintptr_t)dest + n < (uintptr_t)dest ||
			(needs_src && (uintptr_t)src + n < (uintptr_t)src))
		return VDM_ERROR_INVALID_ARGUMENT; /* wraps around */
	return VDM_SUCCESS;
}

static inline struct vdm_operation_future
masync__vdm_make(struct vdm *vdm, const struct vdm_operation *op,
	enum vdm_operation_result result)
{
	struct vdm_operation_future f;

	memset(&f, 0, sizeof(f));
	f.data.vdm = vdm;
	f.data.operation = *op;
	f.output.type = op->type;
	if (result == VDM_SUCCESS) {
		f.data.data = vdm->op_new(vdm, op->type);
		if (f.data.data == NULL)
			result = VDM_ERROR_OUT_OF_MEMORY;
	}
	if (result != VDM_SUCCESS) {
		f.output.result = result;
		FUTURE_INIT_COMPLETE(&f);
	} else {
		FUTURE_INIT_EXT(&f, masync__vdm_task, vdm->has_property);
	}
	f.base.context.masync__flags = MASYNC__CTX_VDM;
	return f;
}

/* The four operations. Each returns a future by value; it is idle and does
 * nothing until polled. If the operation cannot be created the future is
 * already complete with the reason in output.result: VDM_ERROR_INVALID_
 * ARGUMENT for a NULL mover, NULL buffers with n > 0, a range that wraps or
 * flags outside VDM_F_VALID_FLAGS; VDM_ERROR_OUT_OF_MEMORY when the mover
 * has no room. On success output.output.memcpy.dest (memmove.dest,
 * memset.str) is the destination. Thread safety: any thread. */
static inline struct vdm_operation_future
vdm_memcpy(struct vdm *vdm, void *dest, void *src, size_t n, uint64_t flags)
{
	struct vdm_operation op;

	memset(&op, 0, sizeof(op));
	op.type = VDM_OPERATION_MEMCPY;
	op.data.memcpy.dest = dest;
	op.data.memcpy.src = src;
	op.data.memcpy.n = n;
	op.data.memcpy.flags = flags;
	return masync__vdm_make(vdm, &op,
		masync__vdm_validate(vdm, dest, src, n, flags, 1));
}

static inline struct vdm_operation_future
vdm_memmove(struct vdm *vdm, void *dest, void *src, size_t n, uint64_t flags)
{
	struct vdm_operation op;

	memset(&op, 0, sizeof(op));
	op.type = VDM_OPERATION_MEMMOVE;
	op.data.memmove.dest = dest;
	op.data.memmove.src = src;
	op.data.memmove.n = n;
	op.data.memmove.flags = flags;
	return masync__vdm_make(vdm, &op,
		masync__vdm_validate(vdm, dest, src, n, flags, 1));
}

static inline struct vdm_operation_future
vdm_memset(struct vdm *vdm, void *str, int c, size_t n, uint64_t flags)
{
	struct vdm_operation op;

	memset(&op, 0, sizeof(op));
	op.type = VDM_OPERATION_MEMSET;
	op.data.memset.str = str;
	op.data.memset.c = c;
	op.data.memset.n = n;
	op.data.memset.flags = flags;
	return masync__vdm_make(vdm, &op,
		masync__vdm_validate(vdm, str, NULL, n, flags, 0));
}

/* Writes the range back from the CPU caches to memory (to the persistence
 * domain); with VDM_F_NO_CACHE_HINT the lines are also evicted. */
static inline struct vdm_operation_future
vdm_flush(struct vdm *vdm, void *dest, size_t n, uint64_t flags)
{
	struct vdm_operation op;

	memset(&op, 0, sizeof(op));
	op.type = VDM_OPERATION_FLUSH;
	op.data.flush.dest = dest;
	op.data.flush.n = n;
	op.data.flush.flags = flags;
	return masync__vdm_make(vdm, &op,
		masync__vdm_validate(vdm, dest, NULL, n, flags, 0));
}

/* A short description of a result ("success", "out of memory", ...);
 * never NULL, also for values this version does not know. */
MINIASYNC_API const char *vdm_result_str(enum vdm_operation_result result);

/* ======================================================================== */
/* >>sync — the synchronous mover                                           */
/* ======================================================================== */

struct data_mover_sync;

/* The operation runs in the thread that first polls its future. No
 * per-operation state: creating an operation never fails for lack of memory.
 * Supports both flags and flush. Notifier: none needed (completes on the
 * first poll). Returns NULL with errno ENOMEM. Thread safety: any thread;
 * one mover may be used by many threads at once. */
MINIASYNC_API struct data_mover_sync *data_mover_sync_new(void);
MINIASYNC_API struct vdm *data_mover_sync_get_vdm(struct data_mover_sync *dms);
MINIASYNC_API void data_mover_sync_delete(struct data_mover_sync *dms);

/* ======================================================================== */
/* >>threads — the thread-pool mover                                        */
/* ======================================================================== */

struct data_mover_threads;

typedef void *(*memcpy_fn)(void *dst, const void *src, size_t n,
	unsigned flags);
typedef void *(*memmove_fn)(void *dst, const void *src, size_t n,
	unsigned flags);
typedef void *(*memset_fn)(void *str, int c, size_t n, unsigned flags);

/* Default worker count: the number of online CPUs (at most 16). */
#define DATA_MOVER_THREADS_DEFAULT_NTHREADS 0
/* Default queue length, in operations. */
#define DATA_MOVER_THREADS_DEFAULT_RINGBUF_SIZE 128

/* Starts `nthreads` workers (1..1024) and a queue of `ringbuf_size`
 * operations (1..2^24; it need not be a power of two). Operations are
 * queued when first polled; while the queue is full a polled future stays
 * idle and its waker / poller fires when room frees. Large operations are
 * split between the workers. desired_notifier: NONE, WAKER or POLLER.
 * Returns NULL with errno EINVAL (bad argument), ENOMEM, or EAGAIN (a thread
 * could not be started). Thread safety: any thread. */
MINIASYNC_API struct data_mover_threads *data_mover_threads_new(
	size_t nthreads, size_t ringbuf_size,
	enum future_notifier_type desired_notifier);

/* One worker per online CPU (at most 16), 128 queue slots, WAKER. */
MINIASYNC_API struct data_mover_threads *data_mover_threads_default(void);

MINIASYNC_API struct vdm *data_mover_threads_get_vdm(
	struct data_mover_threads *dmt);

/* Runs every queued operation to completion (calling its waker), stops the
 * workers and frees the mover. Futures of this mover must not be polled
 * afterwards. Thread safety: not concurrently with other calls on dmt. */
MINIASYNC_API void data_mover_threads_delete(struct data_mover_threads *dmt);

/* Replace the functions the workers use. They receive the operation's
 * flags and are responsible for them. Set before submitting work. */
MINIASYNC_API void data_mover_threads_set_memcpy_fn(
	struct data_mover_threads *dmt, memcpy_fn op_memcpy);
MINIASYNC_API void data_mover_threads_set_memmove_fn(
	struct data_mover_threads *dmt, memmove_fn op_memmove);
MINIASYNC_API void data_mover_threads_set_memset_fn(
	struct data_mover_threads *dmt, memset_fn op_memset);

/* ======================================================================== */
/* >>dsa — the Intel DSA mover                                              */
/* ======================================================================== */

struct data_mover_dsa;

enum data_mover_dsa_wq_mode {
	DATA_MOVER_DSA_WQ_ANY,
	DATA_MOVER_DSA_WQ_DEDICATED,
	DATA_MOVER_DSA_WQ_SHARED,
};

/* Zero-initialised = defaults. */
struct data_mover_dsa_config {
	const char *device;  /* "dsa0"; NULL = any device */
	const char *wq;      /* "wq0.0"; NULL = any enabled user WQ */
	enum data_mover_dsa_wq_mode mode;
	int numa_node;       /* preferred node + 1; 0 = the caller's node */
	size_t capacity;     /* operations in flight; 0 = from the WQ size */
	enum future_notifier_type desired_notifier; /* NONE(0) = WAKER */
	size_t cpu_threshold; /* smaller operations run on the CPU; 0 = none */
	uint64_t reserved[4];
};

/* Why the last data_mover_dsa_new() in this thread failed. */
enum data_mover_dsa_error {
	DATA_MOVER_DSA_OK,
	DATA_MOVER_DSA_E_NOT_BUILT,   /* compiled without MINIASYNC_DSA */
	DATA_MOVER_DSA_E_NO_DEVICE,   /* no enabled DSA device */
	DATA_MOVER_DSA_E_NO_WQ,       /* no enabled user work queue fits */
	DATA_MOVER_DSA_E_PERMISSION,  /* cannot open the work queue */
	DATA_MOVER_DSA_E_NO_PASID,    /* no shared virtual addressing */
	DATA_MOVER_DSA_E_WQ_BUSY,     /* dedicated WQ already opened */
	DATA_MOVER_DSA_E_NO_MEMORY,
	DATA_MOVER_DSA_E_INVALID,     /* bad configuration */
	DATA_MOVER_DSA_E_LIBRARY,     /* libaccel-config failed */
};

/* Returns a mover on an enabled user WQ, or NULL with errno set and the
 * reason in data_mover_dsa_last_error(). Thread safety: any thread. */
MINIASYNC_API struct data_mover_dsa *data_mover_dsa_new(
	const struct data_mover_dsa_config *config);
MINIASYNC_API struct data_mover_dsa *data_mover_dsa_default(void);
MINIASYNC_API struct vdm *data_mover_dsa_get_vdm(struct data_mover_dsa *dmd);
MINIASYNC_API void data_mover_dsa_delete(struct data_mover_dsa *dmd);
MINIASYNC_API enum data_mover_dsa_error data_mover_dsa_last_error(void);
/* A one-line explanation of the last failure in this thread. */
MINIASYNC_API const char *data_mover_dsa_last_error_str(void);

#ifdef __cplusplus
}
#endif
#endif /* MINIASYNC_H */

/* ======================================================================== */
/* IMPLEMENTATION                                                            */
/* ======================================================================== */
#ifdef MINIASYNC_IMPLEMENTATION
#ifndef MINIASYNC_IMPLEMENTATION_DONE
#define MINIASYNC_IMPLEMENTATION_DONE

#if defined(MINIASYNC_MALLOC) != defined(MINIASYNC_FREE)
#error "define both MINIASYNC_MALLOC and MINIASYNC_FREE, or neither"
#endif
#ifndef MINIASYNC_MALLOC
#include <stdlib.h>
#define MINIASYNC_MALLOC(sz) malloc(sz)
#define MINIASYNC_FREE(p) free(p)
#endif
#ifndef MINIASYNC_ASSERT
#include <assert.h>
#define MINIASYNC_ASSERT(x) assert(x)
#endif

#include <errno.h>
#include <time.h>
#include <threads.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#define MASYNC__X86 1
#include <cpuid.h>
#include <emmintrin.h>
#endif

#ifdef __cplusplus
#include <atomic>
#define MASYNC__A(T) std::atomic<T>
#define MASYNC__MO(mo) std::memory_order_##mo
#define MASYNC__NS std::
#else
#include <stdatomic.h>
#define MASYNC__A(T) _Atomic(T)
#define MASYNC__MO(mo) memory_order_##mo
#define MASYNC__NS
#endif
#define MASYNC__INIT(p, v) MASYNC__NS atomic_init(p, v)
#define MASYNC__LOAD(p, mo) MASYNC__NS atomic_load_explicit(p, MASYNC__MO(mo))
#define MASYNC__STORE(p, v, mo)                                                \
	MASYNC__NS atomic_store_explicit(p, v, MASYNC__MO(mo))
#define MASYNC__FADD(p, v, mo)                                                 \
	MASYNC__NS atomic_fetch_add_explicit(p, v, MASYNC__MO(mo))
#define MASYNC__FSUB(p, v, mo)                                                 \
	MASYNC__NS atomic_fetch_sub_explicit(p, v, MASYNC__MO(mo))
#define MASYNC__FAND(p, v, mo)                                                 \
	MASYNC__NS atomic_fetch_and_explicit(p, v, MASYNC__MO(mo))
#define MASYNC__XCHG(p, v, mo)                                                 \
	MASYNC__NS atomic_exchange_explicit(p, v, MASYNC__MO(mo))
#define MASYNC__CAS(p, expp, v, mo)                                            \
	MASYNC__NS atomic_compare_exchange_weak_explicit(p, expp, v,           \
		MASYNC__MO(mo), MASYNC__MO(relaxed))
#define MASYNC__FENCE(mo) MASYNC__NS atomic_thread_fence(MASYNC__MO(mo))

#ifdef __cplusplus
#define MASYNC__THREAD_LOCAL thread_local
extern "C" {
#else
#define MASYNC__THREAD_LOCAL _Thread_local
#endif

/* ======================================================================== */
/* >>common — allocation, time, CPU features, cache-aware copies             */
/* ======================================================================== */

#define MASYNC__CACHELINE 64

static void *
masync__zalloc(size_t size)
{
	void *p = MINIASYNC_MALLOC(size);

	if (p != NULL)
		memset(p, 0, size);
	else
		errno = ENOMEM;
	return p;
}

/* cache-line aligned allocation on top of MINIASYNC_MALLOC */
static void *
masync__zalloc_aligned(size_t size)
{
	unsigned char *raw = (unsigned char *)masync__zalloc(
		size + MASYNC__CACHELINE + sizeof(void *));
	unsigned char *p;

	if (raw == NULL)
		return NULL;
	p = (unsigned char *)(((uintptr_t)raw + sizeof(void *) +
		MASYNC__CACHELINE - 1) & ~(uintptr_t)(MASYNC__CACHELINE - 1));
	memcpy(p - sizeof(void *), &raw, sizeof(void *));
	return p;
}

static void
masync__free_aligned(void *p)
{
	void *raw;

	if (p == NULL)
		return;
	memcpy(&raw, (unsigned char *)p - sizeof(void *), sizeof(void *));
	MINIASYNC_FREE(raw);
}

static uint64_t
masync__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* absolute TIME_UTC deadline `ns` from now, for cnd_timedwait */
static struct timespec
masync__utc_after(uint64_t ns)
{
	struct timespec ts;

	timespec_get(&ts, TIME_UTC);
	ns += (uint64_t)ts.tv_nsec;
	ts.tv_sec += (time_t)(ns / 1000000000u);
	ts.tv_nsec = (long)(ns % 1000000000u);
	return ts;
}

static size_t
masync__ncpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : (size_t)n;
}

/* CPU features, read once with CPUID */
#define MASYNC__CPU_KNOWN 0x1u
#define MASYNC__CPU_CLFLUSHOPT 0x2u
#define MASYNC__CPU_CLWB 0x4u
#define MASYNC__CPU_MOVDIR64B 0x8u
#define MASYNC__CPU_ENQCMD 0x10u
#define MASYNC__CPU_WAITPKG 0x20u
#define MASYNC__CPU_SSE2 0x40u

static MASYNC__A(unsigned) masync__cpu_bits;

static unsigned
masync__cpu(void)
{
	unsigned bits = MASYNC__LOAD(&masync__cpu_bits, relaxed);

	if (bits == 0) {
		bits = MASYNC__CPU_KNOWN;
#ifdef MASYNC__X86
		{
			unsigned a, b, c, d;

			if (__get_cpuid(1, &a, &b, &c, &d) && (d & (1u << 26)))
				bits |= MASYNC__CPU_SSE2;
			if (__get_cpuid_max(0, NULL) >= 7) {
				__cpuid_count(7, 0, a, b, c, d);
				if (b & (1u << 23))
					bits |= MASYNC__CPU_CLFLUSHOPT;
				if (b & (1u << 24))
					bits |= MASYNC__CPU_CLWB;
				if (c & (1u << 5))
					bits |= MASYNC__CPU_WAITPKG;
				if (c & (1u << 28))
					bits |= MASYNC__CPU_MOVDIR64B;
				if (c & (1u << 29))
					bits |= MASYNC__CPU_ENQCMD;
			}
		}
#endif
		/* racing first calls compute the same value */
		MASYNC__STORE(&masync__cpu_bits, bits, relaxed);
	}
	return bits;
}

/* Write back [p, p+n) with the best instruction the CPU has; `evict`
 * prefers an instruction that also drops the lines. Ends with a fence. */
static void
masync__flush(const void *p, size_t n, int evict)
{
#ifdef MASYNC__X86
	uintptr_t a = (uintptr_t)p & ~(uintptr_t)(MASYNC__CACHELINE - 1);
	uintptr_t end = (uintptr_t)p + n;
	unsigned cpu = masync__cpu();

	if (n == 0)
		return;
	if ((cpu & MASYNC__CPU_CLWB) && !evict) {
		for (; a < end; a += MASYNC__CACHELINE)
			__asm__ __volatile__("clwb %0"
				: "+m"(*(volatile char *)a));
	} else if (cpu & MASYNC__CPU_CLFLUSHOPT) {
		for (; a < end; a += MASYNC__CACHELINE)
			__asm__ __volatile__("clflushopt %0"
				: "+m"(*(volatile char *)a));
	} else {
		for (; a < end; a += MASYNC__CACHELINE)
			__asm__ __volatile__("clflush %0"
				: "+m"(*(volatile char *)a));
	}
	__asm__ __volatile__("sfence" ::: "memory");
#else
	(void)p;
	(void)n;
	(void)evict;
	MASYNC__FENCE(seq_cst);
#endif
}

#ifdef MASYNC__X86
/* Streaming (non-temporal) stores for the 64-byte-aligned middle; the
 * unaligned head and tail go through the cache. Returns the middle's
 * bounds so a durable caller only has to flush head and tail. */
static void
masync__nt_copy(unsigned char *d, const unsigned char *s, size_t n,
	size_t *mid_lo, size_t *mid_hi)
{
	size_t head = (size_t)(-(uintptr_t)d & (MASYNC__CACHELINE - 1));
	size_t i;

	if (head > n)
		head = n;
	memcpy(d, s, head);
	for (i = head; i + MASYNC__CACHELINE <= n; i += MASYNC__CACHELINE) {
		__m128i x0 = _mm_loadu_si128((const __m128i *)(s + i));
		__m128i x1 = _mm_loadu_si128((const __m128i *)(s + i + 16));
		__m128i x2 = _mm_loadu_si128((const __m128i *)(s + i + 32));
		__m128i x3 = _mm_loadu_si128((const __m128i *)(s + i + 48));
		_mm_stream_si128((__m128i *)(void *)(d + i), x0);
		_mm_stream_si128((__m128i *)(void *)(d + i + 16), x1);
		_mm_stream_si128((__m128i *)(void *)(d + i + 32), x2);
		_mm_stream_si128((__m128i *)(void *)(d + i + 48), x3);
	}
	*mid_lo = head;
	*mid_hi = i;
	memcpy(d + i, s + i, n - i);
	_mm_sfence();
}

static void
masync__nt_set(unsigned char *d, int c, size_t n, size_t *mid_lo,
	size_t *mid_hi)
{
	size_t head = (size_t)(-(uintptr_t)d & (MASYNC__CACHELINE - 1));
	__m128i v = _mm_set1_epi8((char)c);
	size_t i;

	if (head > n)
		head = n;
	memset(d, c, head);
	for (i = head; i + MASYNC__CACHELINE <= n; i += MASYNC__CACHELINE) {
		_mm_stream_si128((__m128i *)(void *)(d + i), v);
		_mm_stream_si128((__m128i *)(void *)(d + i + 16), v);
		_mm_stream_si128((__m128i *)(void *)(d + i + 32), v);
		_mm_stream_si128((__m128i *)(void *)(d + i + 48), v);
	}
	*mid_lo = head;
	*mid_hi = i;
	memset(d + i, c, n - i);
	_mm_sfence();
}
#endif

/* After a streaming write, only the cached head and tail need flushing. */
static void
masync__durable_edges(unsigned char *d, size_t n, size_t lo, size_t hi)
{
	if (hi <= lo) {
		masync__flush(d, n, 0);
		return;
	}
	masync__flush(d, lo, 0);
	masync__flush(d + hi, n - hi, 0);
}

static int
masync__overlaps(const void *a, const void *b, size_t n)
{
	uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;

	return x < y + n && y < x + n;
}

/* The CPU implementation of every operation and flag; used by the sync and
 * threads movers and by the DSA mover's fallbacks. */
static void
masync__cpu_op(enum vdm_operation_type type, void *dst, const void *src,
	int c, size_t n, uint64_t flags)
{
	unsigned char *d = (unsigned char *)dst;
	int durable = (flags & VDM_F_MEM_DURABLE) != 0;
	int nt = (flags & VDM_F_NO_CACHE_HINT) != 0;

	if (n == 0)
		return;
	switch (type) {
	case VDM_OPERATION_MEMCPY:
	case VDM_OPERATION_MEMMOVE:
#ifdef MASYNC__X86
		if (nt && !masync__overlaps(dst, src, n)) {
			size_t lo, hi;

			masync__nt_copy(d, (const unsigned char *)src, n, &lo,
				&hi);
			if (durable)
				masync__durable_edges(d, n, lo, hi);
			return;
		}
#endif
		memmove(dst, src, n);
		break;
	case VDM_OPERATION_MEMSET:
#ifdef MASYNC__X86
		if (nt) {
			size_t lo, hi;

			masync__nt_set(d, c, n, &lo, &hi);
			if (durable)
				masync__durable_edges(d, n, lo, hi);
			return;
		}
#endif
		memset(dst, c, n);
		break;
	case VDM_OPERATION_FLUSH:
		masync__flush(dst, n, nt);
		return;
	}
	if (durable || nt)
		masync__flush(dst, n, nt);
}

/* Unpacks an operation: destination, source, fill byte, size, flags. */
struct masync__op_args {
	void *dst;
	const void *src;
	int c;
	size_t n;
	uint64_t flags;
};

static struct masync__op_args
masync__args(const struct vdm_operation *op)
{
	struct masync__op_args a;

	memset(&a, 0, sizeof(a));
	switch (op->type) {
	case VDM_OPERATION_MEMCPY:
		a.dst = op->data.memcpy.dest;
		a.src = op->data.memcpy.src;
		a.n = op->data.memcpy.n;
		a.flags = op->data.memcpy.flags;
		break;
	case VDM_OPERATION_MEMMOVE:
		a.dst = op->data.memmove.dest;
		a.src = op->data.memmove.src;
		a.n = op->data.memmove.n;
		a.flags = op->data.memmove.flags;
		break;
	case VDM_OPERATION_MEMSET:
		a.dst = op->data.memset.str;
		a.c = op->data.memset.c;
		a.n = op->data.memset.n;
		a.flags = op->data.memset.flags;
		break;
	case VDM_OPERATION_FLUSH:
		a.dst = op->data.flush.dest;
		a.n = op->data.flush.n;
		a.flags = op->data.flush.flags;
		break;
	}
	return a;
}

/* Fills a successful operation's output. */
static void
masync__output(const struct vdm_operation *op, enum vdm_operation_result r,
	struct vdm_operation_output *out)
{
	out->type = op->type;
	out->result = r;
	switch (op->type) {
	case VDM_OPERATION_MEMCPY:
		out->output.memcpy.dest = op->data.memcpy.dest;
		break;
	case VDM_OPERATION_MEMMOVE:
		out->output.memmove.dest = op->data.memmove.dest;
		break;
	case VDM_OPERATION_MEMSET:
		out->output.memset.str = op->data.memset.str;
		break;
	case VDM_OPERATION_FLUSH:
		out->output.flush.unused = 0;
		break;
	}
}

MINIASYNC_API const char *
vdm_result_str(enum vdm_operation_result result)
{
	switch (result) {
	case VDM_SUCCESS: return "success";
	case VDM_ERROR_OUT_OF_MEMORY: return "out of memory";
	case VDM_ERROR_JOB_CORRUPTED: return "job corrupted";
	case VDM_ERROR_INVALID_ARGUMENT: return "invalid argument";
	case VDM_ERROR_NOT_SUPPORTED: return "operation not supported";
	case VDM_ERROR_BUSY: return "device busy";
	case VDM_ERROR_CANCELLED: return "cancelled";
	case VDM_ERROR_TIMEOUT: return "timed out";
	case VDM_ERROR_SHUTDOWN: return "mover shut down";
	case VDM_ERROR_DSA_PAGE_FAULT: return "DSA page fault not resolved";
	case VDM_ERROR_DSA_HARDWARE: return "DSA hardware error";
	case VDM_ERROR_DSA_INVALID: return "DSA rejected the descriptor";
	}
	return "unknown result";
}

/* ======================================================================== */
/* >>signal — completion word + waker hand-off shared by the async movers   */
/* ======================================================================== */
/* `word` is 0 while pending and MASYNC__S_DONE once complete; it is the
 * word a POLLER watches. The waker is guarded by the LOCK bit. Completion
 * sets DONE|LOCK, calls the waker while still holding the lock, then clears
 * LOCK: a poller that sees DONE with LOCK waits the few cycles until the
 * wake call returned, so the waker's data (which may be on the waiting
 * thread's stack) is never touched after the waiter went on. A waker that
 * was registered before completion is always called: registration and
 * completion are serialised by the lock, and registration sees DONE. */
#define MASYNC__S_LOCK 1u
#define MASYNC__S_DONE 2u

struct masync__signal {
	MASYNC__A(uint64_t) word;
	struct future_waker waker;
};

static void
masync__signal_reset(struct masync__signal *s)
{
	MASYNC__STORE(&s->word, 0, relaxed);
	s->waker.wake = NULL;
	s->waker.data = NULL;
}

static void
masync__spin_pause(unsigned *spins)
{
	if (++*spins < 64)
		MASYNC__PAUSE();
	else
		thrd_yield();
}

static uint64_t
masync__signal_lock(struct masync__signal *s)
{
	unsigned spins = 0;
	uint64_t w = MASYNC__LOAD(&s->word, relaxed);

	for (;;) {
		if (!(w & MASYNC__S_LOCK)) {
			if (MASYNC__CAS(&s->word, &w, w | MASYNC__S_LOCK,
					acquire))
				return w;
		} else {
			masync__spin_pause(&spins);
			w = MASYNC__LOAD(&s->word, relaxed);
		}
	}
}

/* Non-zero once complete and no wake call is in progress. */
static int
masync__signal_done(struct masync__signal *s)
{
	unsigned spins = 0;
	uint64_t w = MASYNC__LOAD(&s->word, acquire);

	if (!(w & MASYNC__S_DONE))
		return 0;
	while (w & MASYNC__S_LOCK) {
		masync__spin_pause(&spins);
		w = MASYNC__LOAD(&s->word, acquire);
	}
	return 1;
}

/* Hands the poller's notifier to the operation. Returns non-zero when the
 * operation is already complete (nothing registered). A NULL notifier
 * drops an earlier waker. */
static int
masync__signal_register(struct masync__signal *s, struct future_notifier *n,
	enum future_notifier_type mode, uint64_t *poll_word)
{
	uint64_t w;
	int done;

	if (n != NULL && mode == FUTURE_NOTIFIER_POLLER) {
		n->poller.ptr_to_monitor = poll_word;
		n->notifier_used = FUTURE_NOTIFIER_POLLER;
		return masync__signal_done(s);
	}
	if (n != NULL && mode == FUTURE_NOTIFIER_NONE)
		return masync__signal_done(s);
	w = masync__signal_lock(s);
	done = (w & MASYNC__S_DONE) != 0;
	if (n == NULL || done) {
		s->waker.wake = NULL;
	} else {
		s->waker = n->waker;
		n->notifier_used = FUTURE_NOTIFIER_WAKER;
	}
	MASYNC__STORE(&s->word, w, release);
	return done;
}

/* Calls the registered waker, if any, without completing (e.g. "room in
 * the queue"). */
static void
masync__signal_kick(struct masync__signal *s)
{
	uint64_t w = masync__signal_lock(s);
	struct future_waker wk = s->waker;

	s->waker.wake = NULL;
	if (wk.wake != NULL)
		wk.wake(wk.data);
	MASYNC__STORE(&s->word, w, release);
}

static void
masync__signal_complete(struct masync__signal *s)
{
	struct future_waker wk;

	masync__signal_lock(s);
	wk = s->waker;
	s->waker.wake = NULL;
	MASYNC__STORE(&s->word, MASYNC__S_DONE | MASYNC__S_LOCK, release);
	if (wk.wake != NULL)
		wk.wake(wk.data);
	MASYNC__STORE(&s->word, MASYNC__S_DONE, release);
}

/* ======================================================================== */
/* >>pool — per-mover pool of per-operation states                           */
/* ======================================================================== */
/* Fixed-size elements in chunks that are never freed before the mover, so
 * a stale index read by a racing thread always points at valid memory.
 * The free list is a Treiber stack of indices with a tag against ABA. */
#define MASYNC__POOL_CHUNK_SHIFT 8u
#define MASYNC__POOL_CHUNK (1u << MASYNC__POOL_CHUNK_SHIFT)
#define MASYNC__POOL_MAX_CHUNKS 4096u

struct masync__pool_link {
	MASYNC__A(uint32_t) next; /* index + 1 of the next free element */
	uint32_t index;
};

struct masync__pool {
	MASYNC__A(uint64_t) head; /* tag << 32 | (index + 1) */
	size_t elem_size;
	mtx_t grow_lock;
	MASYNC__A(uint32_t) nchunks;
	uint32_t max_chunks;
	unsigned char *chunks[MASYNC__POOL_MAX_CHUNKS];
};

static int
masync__pool_init(struct masync__pool *p, size_t elem_size, size_t max_elems)
{
	p->elem_size = (elem_size + MASYNC__CACHELINE - 1) &
		~(size_t)(MASYNC__CACHELINE - 1);
	MASYNC__INIT(&p->head, 0);
	MASYNC__INIT(&p->nchunks, 0);
	p->max_chunks = (uint32_t)((max_elems + MASYNC__POOL_CHUNK - 1) /
		MASYNC__POOL_CHUNK);
	if (p->max_chunks == 0 || p->max_chunks > MASYNC__POOL_MAX_CHUNKS)
		p->max_chunks = MASYNC__POOL_MAX_CHUNKS;
	return mtx_init(&p->grow_lock, mtx_plain) == thrd_success ? 0 : -1;
}

static void
masync__pool_fini(struct masync__pool *p)
{
	uint32_t i, n = MASYNC__LOAD(&p->nchunks, acquire);

	for (i = 0; i < n; i++)
		masync__free_aligned(p->chunks[i]);
	mtx_destroy(&p->grow_lock);
}

static struct masync__pool_link *
masync__pool_elem(struct masync__pool *p, uint32_t index)
{
	return (struct masync__pool_link *)(void *)(
		p->chunks[index >> MASYNC__POOL_CHUNK_SHIFT] +
		(size_t)(index & (MASYNC__POOL_CHUNK - 1)) * p->elem_size);
}

static void
masync__pool_put(struct masync__pool *p, void *elem)
{
	struct masync__pool_link *l = (struct masync__pool_link *)elem;
	uint64_t h = MASYNC__LOAD(&p->head, relaxed), nh;

	do {
		MASYNC__STORE(&l->next, (uint32_t)h, relaxed);
		nh = ((h >> 32) + 1) << 32 | (uint64_t)(l->index + 1);
	} while (!MASYNC__CAS(&p->head, &h, nh, release));
}

static int
masync__pool_grow(struct masync__pool *p)
{
	uint32_t n, i;
	unsigned char *chunk;
	int ret = 0;

	mtx_lock(&p->grow_lock);
	n = MASYNC__LOAD(&p->nchunks, relaxed);
	if ((uint32_t)MASYNC__LOAD(&p->head, acquire) != 0)
		goto out; /* another thread refilled it */
	if (n >= p->max_chunks) {
		ret = -1;
		goto out;
	}
	chunk = (unsigned char *)masync__zalloc_aligned(
		p->elem_size * MASYNC__POOL_CHUNK);
	if (chunk == NULL) {
		ret = -1;
		goto out;
	}
	p->chunks[n] = chunk;
	MASYNC__STORE(&p->nchunks, n + 1, release);
	for (i = MASYNC__POOL_CHUNK; i-- > 0;) {
		struct masync__pool_link *l = (struct masync__pool_link *)
			(void *)(chunk + (size_t)i * p->elem_size);
		MASYNC__INIT(&l->next, 0);
		l->index = (n << MASYNC__POOL_CHUNK_SHIFT) | i;
		masync__pool_put(p, l);
	}
out:
	mtx_unlock(&p->grow_lock);
	return ret;
}

/* Returns an element (its contents are stale) or NULL when the pool is at
 * its limit or memory ran out. */
static void *
masync__pool_get(struct masync__pool *p)
{
	uint64_t h = MASYNC__LOAD(&p->head, acquire);

	for (;;) {
		uint32_t idx = (uint32_t)h;

		if (idx == 0) {
			if (masync__pool_grow(p) != 0)
				return NULL;
			h = MASYNC__LOAD(&p->head, acquire);
			continue;
		}
		{
			struct masync__pool_link *l =
				masync__pool_elem(p, idx - 1);
			uint64_t nh = ((h >> 32) + 1) << 32 |
				MASYNC__LOAD(&l->next, relaxed);

			if (MASYNC__NS atomic_compare_exchange_weak_explicit(
					&p->head, &h, nh, MASYNC__MO(acquire),
					MASYNC__MO(acquire)))
				return l;
		}
	}
}

/* ======================================================================== */
/* >>runtime                                                                 */
/* ======================================================================== */

struct runtime {
	MASYNC__A(uint64_t) gen;     /* bumped by every wake */
	MASYNC__A(uint32_t) waiters; /* threads inside cnd_timedwait */
	mtx_t lock;
	cnd_t cond;
};

#define MASYNC__RT_SAFETY_NS 1000000u /* re-poll at least every 1 ms */
#define MASYNC__RT_SPINS 256u         /* pause-polls before sleeping */
#define MASYNC__RT_MAX_POLLERS 16u

static void
masync__runtime_wake(void *data)
{
	struct runtime *rt = (struct runtime *)data;

	MASYNC__FADD(&rt->gen, 1, seq_cst);
	if (MASYNC__LOAD(&rt->waiters, seq_cst) != 0) {
		mtx_lock(&rt->lock);
		cnd_broadcast(&rt->cond);
		mtx_unlock(&rt->lock);
	}
}

MINIASYNC_API struct runtime *
runtime_new(void)
{
	struct runtime *rt = (struct runtime *)masync__zalloc(sizeof(*rt));

	if (rt == NULL)
		return NULL;
	MASYNC__INIT(&rt->gen, 0);
	MASYNC__INIT(&rt->waiters, 0);
	if (mtx_init(&rt->lock, mtx_plain) != thrd_success) {
		MINIASYNC_FREE(rt);
		errno = ENOMEM;
		return NULL;
	}
	if (cnd_init(&rt->cond) != thrd_success) {
		mtx_destroy(&rt->lock);
		MINIASYNC_FREE(rt);
		errno = ENOMEM;
		return NULL;
	}
	return rt;
}

MINIASYNC_API void
runtime_delete(struct runtime *runtime)
{
	if (runtime == NULL)
		return;
	cnd_destroy(&runtime->cond);
	mtx_destroy(&runtime->lock);
	MINIASYNC_FREE(runtime);
}

struct masync__watch {
	size_t npollers;
	int all_wakers;   /* every pending future will call our waker */
	uint64_t *ptr[MASYNC__RT_MAX_POLLERS];
	uint64_t seen[MASYNC__RT_MAX_POLLERS];
};

static uint64_t
masync__load_word(uint64_t *p)
{
	/* the monitored word is written by other threads or by a device */
	return MASYNC__LOAD((MASYNC__A(uint64_t) *)(void *)p, acquire);
}

static int
masync__watch_fired(struct runtime *rt, uint64_t gen,
	const struct masync__watch *w)
{
	size_t i;

	if (MASYNC__LOAD(&rt->gen, acquire) != gen)
		return 1;
	for (i = 0; i < w->npollers; i++)
		if (masync__load_word(w->ptr[i]) != w->seen[i])
			return 1;
	return 0;
}

/* Waits until a waker fires, a watched word changes, `deadline` (monotonic
 * ns, 0 = none) passes, or a backoff step ends. */
static void
masync__runtime_idle(struct runtime *rt, uint64_t gen,
	const struct masync__watch *w, unsigned *backoff, uint64_t deadline)
{
	uint64_t ns, now;
	unsigned i;
	struct timespec ts;

	for (i = 0; i < MASYNC__RT_SPINS; i++) {
		if (masync__watch_fired(rt, gen, w))
			return;
		MASYNC__PAUSE();
	}
	if (w->all_wakers && w->npollers == 0) {
		ns = MASYNC__RT_SAFETY_NS;
	} else {
		/* pollers and notifier-less futures: 1 us doubling to 256 us */
		ns = 1000u << (*backoff < 8 ? *backoff : 8);
		++*backoff;
	}
	if (deadline != 0) {
		now = masync__now_ns();
		if (now >= deadline)
			return;
		if (deadline - now < ns)
			ns = deadline - now;
	}
	MASYNC__FADD(&rt->waiters, 1, seq_cst);
	ts = masync__utc_after(ns);
	mtx_lock(&rt->lock);
	if (!masync__watch_fired(rt, gen, w))
		cnd_timedwait(&rt->cond, &rt->lock, &ts);
	mtx_unlock(&rt->lock);
	MASYNC__FSUB(&rt->waiters, 1, seq_cst);
}

/* Polls until all (or, with `any`, one) of the futures are complete, or the
 * monotonic `deadline` passes. Returns the index of a completed future for
 * `any`, else 0; SIZE_MAX on timeout. */
static size_t
masync__runtime_run(struct runtime *rt, struct future **futs, size_t n,
	int any, uint64_t deadline)
{
	unsigned backoff = 0;
	size_t i;

	if (any)
		for (i = 0; i < n; i++)
			if (futs[i]->context.state == FUTURE_STATE_COMPLETE)
				return i;
	for (;;) {
		uint64_t gen = MASYNC__LOAD(&rt->gen, seq_cst);
		struct masync__watch w;
		size_t pending = 0;
		int progress = 0, pass;

		w.npollers = 0;
		w.all_wakers = 1;
		for (pass = 0; pass < 2; pass++) {
			for (i = 0; i < n; i++) {
				struct future *f = futs[i];
				struct future_notifier nt;
				enum future_state before, after;

				if (f->context.state == FUTURE_STATE_COMPLETE)
					continue;
				if (future_has_property(f,
						FUTURE_PROPERTY_ASYNC) != !pass)
					continue;
				memset(&nt, 0, sizeof(nt));
				nt.waker.data = rt;
				nt.waker.wake = masync__runtime_wake;
				before = f->context.state;
				after = future_poll(f, &nt);
				if (after == FUTURE_STATE_COMPLETE) {
					if (any)
						return i;
					progress = 1;
					continue;
				}
				if (after != before)
					progress = 1;
				pending++;
				if (nt.notifier_used == FUTURE_NOTIFIER_POLLER &&
						nt.poller.ptr_to_monitor != NULL &&
						w.npollers <
						MASYNC__RT_MAX_POLLERS) {
					w.ptr[w.npollers] =
						nt.poller.ptr_to_monitor;
					w.seen[w.npollers++] = masync__load_word(
						nt.poller.ptr_to_monitor);
				} else if (nt.notifier_used !=
						FUTURE_NOTIFIER_WAKER) {
					w.all_wakers = 0;
				}
			}
		}
		if (pending == 0)
			return 0;
		if (progress) {
			backoff = 0;
			continue;
		}
		if (deadline != 0 && masync__now_ns() >= deadline)
			return SIZE_MAX;
		masync__runtime_idle(rt, gen, &w, &backoff, deadline);
	}
}

MINIASYNC_API void
runtime_wait_multiple(struct runtime *runtime, struct future *futs[],
	size_t nfuts)
{
	masync__runtime_run(runtime, futs, nfuts, 0, 0);
}

MINIASYNC_API void
runtime_wait(struct runtime *runtime, struct future *fut)
{
	masync__runtime_run(runtime, &fut, 1, 0, 0);
}

/* ======================================================================== */
/* >>sync — the synchronous mover                                           */
/* ======================================================================== */

struct data_mover_sync {
	struct masync__vdm_ext ext;
};

static void *
masync__sync_new(struct vdm *vdm, const enum vdm_operation_type type)
{
	(void)type;
	return vdm; /* no per-operation state: any non-NULL token will do */
}

static int
masync__sync_start(void *data, const struct vdm_operation *op,
	struct future_notifier *n)
{
	struct masync__op_args a = masync__args(op);

	(void)data;
	if (n != NULL)
		n->notifier_used = FUTURE_NOTIFIER_NONE;
	masync__cpu_op(op->type, a.dst, a.src, a.c, a.n, a.flags);
	return 0;
}

static enum future_state
masync__sync_check(void *data, const struct vdm_operation *op)
{
	(void)data;
	(void)op;
	return FUTURE_STATE_COMPLETE;
}

static enum future_state
masync__sync_check_ext(void *data, const struct vdm_operation *op,
	struct future_notifier *n)
{
	(void)n;
	return masync__sync_check(data, op);
}

static int
masync__sync_cancel(void *data, const struct vdm_operation *op)
{
	(void)data;
	(void)op;
	return 0;
}

static void
masync__sync_delete(void *data, const struct vdm_operation *op,
	struct vdm_operation_output *out)
{
	(void)data;
	masync__output(op, VDM_SUCCESS, out);
}

MINIASYNC_API struct data_mover_sync *
data_mover_sync_new(void)
{
	struct data_mover_sync *dms =
		(struct data_mover_sync *)masync__zalloc(sizeof(*dms));

	if (dms == NULL)
		return NULL;
	dms->ext.base.op_new = masync__sync_new;
	dms->ext.base.op_delete = masync__sync_delete;
	dms->ext.base.op_start = masync__sync_start;
	dms->ext.base.op_check = masync__sync_check;
	dms->ext.base.capabilities = VDM_F_VALID_FLAGS | MASYNC__CAP_EXT;
	dms->ext.base.has_property = future_has_property_default;
	dms->ext.check = masync__sync_check_ext;
	dms->ext.cancel = masync__sync_cancel;
	return dms;
}

MINIASYNC_API struct vdm *
data_mover_sync_get_vdm(struct data_mover_sync *dms)
{
	return dms == NULL ? NULL : &dms->ext.base;
}

MINIASYNC_API void
data_mover_sync_delete(struct data_mover_sync *dms)
{
	MINIASYNC_FREE(dms);
}

/* ======================================================================== */
/* >>threads — the thread-pool mover                                        */
/* ======================================================================== */
#ifndef MINIASYNC_NO_THREADS

#define MASYNC__THR_MAX_THREADS 1024u
#define MASYNC__THR_MAX_RING (1u << 24)
#define MASYNC__THR_SPLIT_MIN (1u << 20) /* smallest chunk of a split op */
#define MASYNC__THR_WORKER_SPINS 2000u   /* empty-queue polls before sleep */

enum masync__thr_phase {
	MASYNC__PH_NEW,     /* created, not queued */
	MASYNC__PH_QUEUED,
	MASYNC__PH_RUNNING,
	MASYNC__PH_DONE,
};

struct masync__thr_op {
	struct masync__pool_link link; /* first: the pool's free list */
	MASYNC__A(uint32_t) refs;      /* the future + each queue entry */
	MASYNC__A(uint32_t) phase;
	struct masync__signal sig;
	struct data_mover_threads *dmt;
	struct vdm_operation op;
	enum vdm_operation_result result;
	size_t nchunks, chunk;
	MASYNC__A(size_t) next_chunk;
	MASYNC__A(size_t) chunks_done;
	/* waiting for queue room; guarded by dmt->blocked_lock */
	struct masync__thr_op *bprev, *bnext;
	int blocked;
};

struct masync__ring_cell {
	MASYNC__A(size_t) seq;
	struct masync__thr_op *op;
};

struct data_mover_threads {
	struct masync__vdm_ext ext;
	enum future_notifier_type notifier;
	memcpy_fn op_memcpy;
	memmove_fn op_memmove;
	memset_fn op_memset;
	size_t nthreads;
	thrd_t *threads;
	struct masync__pool pool;
	/* bounded MPMC queue (D. Vyukov's algorithm), any capacity */
	size_t cap;
	struct masync__ring_cell *cells;
	MASYNC__ALIGNAS(64) MASYNC__A(size_t) enq_pos;
	MASYNC__ALIGNAS(64) MASYNC__A(size_t) deq_pos;
	MASYNC__ALIGNAS(64) MASYNC__A(uint64_t) room_gen; /* POLLER word */
	MASYNC__A(uint32_t) nblocked;
	MASYNC__A(uint32_t) idle;  /* workers asleep or about to be */
	MASYNC__A(int) stop;
	mtx_t lock;                /* worker sleep */
	cnd_t cond;
	mtx_t blocked_lock;
	struct masync__thr_op *bhead, *btail;
};

static size_t
masync__ring_index(const struct data_mover_threads *d, size_t pos)
{
	return (d->cap & (d->cap - 1)) == 0 ? pos & (d->cap - 1) :
		pos % d->cap;
}

static int
masync__ring_push(struct data_mover_threads *d, struct masync__thr_op *op)
{
	size_t pos = MASYNC__LOAD(&d->enq_pos, relaxed);

	for (;;) {
		struct masync__ring_cell *c =
			&d->cells[masync__ring_index(d, pos)];
		size_t seq = MASYNC__LOAD(&c->seq, acquire);
		intptr_t dif = (intptr_t)seq - (intptr_t)pos;

		if (dif == 0) {
			if (MASYNC__CAS(&d->enq_pos, &pos, pos + 1, relaxed)) {
				c->op = op;
				MASYNC__STORE(&c->seq, pos + 1, release);
				return 0;
			}
		} else if (dif < 0) {
			return -1; /* full */
		} else {
			pos = MASYNC__LOAD(&d->enq_pos, relaxed);
		}
	}
}

static struct masync__thr_op *
masync__ring_pop(struct data_mover_threads *d)
{
	size_t pos = MASYNC__LOAD(&d->deq_pos, relaxed);

	for (;;) {
		struct masync__ring_cell *c =
			&d->cells[masync__ring_index(d, pos)];
		size_t seq = MASYNC__LOAD(&c->seq, acquire);
		intptr_t dif = (intptr_t)seq - (intptr_t)(pos + 1);

		if (dif == 0) {
			if (MASYNC__CAS(&d->deq_pos, &pos, pos + 1, relaxed)) {
				struct masync__thr_op *op = c->op;

				MASYNC__STORE(&c->seq, pos + d->cap, release);
				return op;
			}
		} else if (dif < 0) {
			return NULL; /* empty */
		} else {
			pos = MASYNC__LOAD(&d->deq_pos, relaxed);
		}
	}
}

static int
masync__ring_nonempty(struct data_mover_threads *d)
{
	size_t pos = MASYNC__LOAD(&d->deq_pos, acquire);
	struct masync__ring_cell *c = &d->cells[masync__ring_index(d, pos)];

	return MASYNC__LOAD(&c->seq, acquire) == pos + 1;
}

static void
masync__thr_unref(struct masync__thr_op *op)
{
	if (MASYNC__FSUB(&op->refs, 1, acq_rel) == 1)
		masync__pool_put(&op->dmt->pool, op);
}

/* Pushes and, if a worker sleeps, wakes one. */
static int
masync__thr_enqueue(struct data_mover_threads *d, struct masync__thr_op *op)
{
	if (masync__ring_push(d, op) != 0)
		return -1;
	MASYNC__FENCE(seq_cst); /* pairs with the fence in the worker */
	if (MASYNC__LOAD(&d->idle, relaxed) != 0) {
		mtx_lock(&d->lock);
		cnd_signal(&d->cond);
		mtx_unlock(&d->lock);
	}
	return 0;
}

static void
masync__blocked_unlink(struct data_mover_threads *d, struct masync__thr_op *op)
{
	if (!op->blocked)
		return;
	if (op->bprev != NULL)
		op->bprev->bnext = op->bnext;
	else
		d->bhead = op->bnext;
	if (op->bnext != NULL)
		op->bnext->bprev = op->bprev;
	else
		d->btail = op->bprev;
	op->bprev = op->bnext = NULL;
	op->blocked = 0;
	MASYNC__FSUB(&d->nblocked, 1, relaxed);
}

/* A queue slot was freed: wake the longest-waiting blocked operation. */
static void
masync__thr_room(struct data_mover_threads *d)
{
	struct masync__thr_op *op;

	MASYNC__FADD(&d->room_gen, 1, release);
	MASYNC__FENCE(seq_cst);
	if (MASYNC__LOAD(&d->nblocked, relaxed) == 0)
		return;
	mtx_lock(&d->blocked_lock);
	op = d->bhead;
	if (op != NULL) {
		masync__blocked_unlink(d, op);
		/* kick under the list lock so op cannot be freed meanwhile */
		masync__signal_kick(&op->sig);
	}
	mtx_unlock(&d->blocked_lock);
}

static void
masync__thr_finish(struct masync__thr_op *op)
{
	MASYNC__STORE(&op->phase, MASYNC__PH_DONE, release);
	masync__signal_complete(&op->sig);
}

/* Runs chunks of `op` until none is left; the worker that completes the
 * last chunk completes the operation. */
static void
masync__thr_run(struct data_mover_threads *d, struct masync__thr_op *op)
{
	struct masync__op_args a = masync__args(&op->op);
	size_t mine = 0, i;

	while ((i = MASYNC__FADD(&op->next_chunk, 1, relaxed)) < op->nchunks) {
		size_t off = i * op->chunk;
		size_t len = a.n - off < op->chunk ? a.n - off : op->chunk;
		unsigned char *dst = (unsigned char *)a.dst + off;
		const unsigned char *src = (const unsigned char *)a.src + off;
		unsigned fl = (unsigned)a.flags;

		switch (op->op.type) {
		case VDM_OPERATION_MEMCPY:
			if (d->op_memcpy != NULL)
				d->op_memcpy(dst, src, len, fl);
			else
				masync__cpu_op(op->op.type, dst, src, 0, len,
					a.flags);
			break;
		case VDM_OPERATION_MEMMOVE:
			if (d->op_memmove != NULL)
				d->op_memmove(dst, src, len, fl);
			else
				masync__cpu_op(op->op.type, dst, src, 0, len,
					a.flags);
			break;
		case VDM_OPERATION_MEMSET:
			if (d->op_memset != NULL)
				d->op_memset(dst, a.c, len, fl);
			else
				masync__cpu_op(op->op.type, dst, NULL, a.c,
					len, a.flags);
			break;
		case VDM_OPERATION_FLUSH:
			masync__cpu_op(op->op.type, dst, NULL, 0, len,
				a.flags);
			break;
		}
		mine++;
	}
	if (mine != 0 && MASYNC__FADD(&op->chunks_done, mine, acq_rel) +
			mine == op->nchunks)
		masync__thr_finish(op);
}

static void
masync__thr_execute(struct data_mover_threads *d, struct masync__thr_op *op)
{
	uint32_t ph = MASYNC__PH_QUEUED;

	if (MASYNC__CAS(&op->phase, &ph, MASYNC__PH_RUNNING, acquire) ||
			ph == MASYNC__PH_RUNNING) {
		/* ask idle workers to help with the remaining chunks */
		size_t left = op->nchunks -
			MASYNC__LOAD(&op->next_chunk, relaxed);
		size_t help = d->nthreads - 1, k;

		if (left > 1 && ph == MASYNC__PH_QUEUED) {
			if (help > left - 1)
				help = left - 1;
			for (k = 0; k < help; k++) {
				MASYNC__FADD(&op->refs, 1, relaxed);
				if (masync__thr_enqueue(d, op) != 0) {
					MASYNC__FSUB(&op->refs, 1, relaxed);
					break;
				}
			}
		}
		masync__thr_run(d, op);
	}
	masync__thr_unref(op);
}

static int
masync__thr_worker(void *arg)
{
	struct data_mover_threads *d = (struct data_mover_threads *)arg;
	unsigned spins = 0;

	for (;;) {
		struct masync__thr_op *op = masync__ring_pop(d);

		if (op != NULL) {
			spins = 0;
			masync__thr_room(d);
			masync__thr_execute(d, op);
			continue;
		}
		if (MASYNC__LOAD(&d->stop, acquire))
			return 0; /* stop is set only once nothing is queued */
		if (++spins < MASYNC__THR_WORKER_SPINS) {
			MASYNC__PAUSE();
			continue;
		}
		spins = 0;
		MASYNC__FADD(&d->idle, 1, relaxed);
		MASYNC__FENCE(seq_cst); /* pairs with masync__thr_enqueue */
		mtx_lock(&d->lock);
		while (!masync__ring_nonempty(d) &&
				!MASYNC__LOAD(&d->stop, acquire))
			cnd_wait(&d->cond, &d->lock);
		mtx_unlock(&d->lock);
		MASYNC__FSUB(&d->idle, 1, relaxed);
	}
}

static void *
masync__thr_op_new(struct vdm *vdm, const enum vdm_operation_type type)
{
	struct data_mover_threads *d = (struct data_mover_threads *)vdm;
	struct masync__thr_op *op =
		(struct masync__thr_op *)masync__pool_get(&d->pool);

	(void)type;
	if (op == NULL)
		return NULL;
	MASYNC__STORE(&op->refs, 1, relaxed);
	MASYNC__STORE(&op->phase, MASYNC__PH_NEW, relaxed);
	masync__signal_reset(&op->sig);
	op->dmt = d;
	op->result = VDM_SUCCESS;
	op->bprev = op->bnext = NULL;
	op->blocked = 0;
	return op;
}

static void
masync__thr_plan(struct data_mover_threads *d, struct masync__thr_op *op)
{
	struct masync__op_args a = masync__args(&op->op);
	size_t per;

	op->nchunks = 1;
	op->chunk = a.n;
	MASYNC__STORE(&op->next_chunk, 0, relaxed);
	MASYNC__STORE(&op->chunks_done, 0, relaxed);
	if (d->nthreads < 2 || a.n < 2 * (size_t)MASYNC__THR_SPLIT_MIN)
		return;
	if (op->op.type == VDM_OPERATION_MEMMOVE &&
			masync__overlaps(a.dst, a.src, a.n))
		return; /* chunks of an overlapping move must run in order */
	/* a few chunks per worker balance uneven progress */
	per = a.n / (d->nthreads * 4);
	if (per < MASYNC__THR_SPLIT_MIN)
		per = MASYNC__THR_SPLIT_MIN;
	per = (per + 4095) & ~(size_t)4095;
	op->chunk = per;
	op->nchunks = (a.n + per - 1) / per;
}

static int
masync__thr_op_start(void *data, const struct vdm_operation *operation,
	struct future_notifier *n)
{
	struct masync__thr_op *op = (struct masync__thr_op *)data;
	struct data_mover_threads *d = op->dmt;
	int queued;

	op->op = *operation;
	masync__thr_plan(d, op);
	if (masync__args(operation).n == 0) {
		/* nothing to move: complete without a trip through the queue */
		MASYNC__STORE(&op->phase, MASYNC__PH_DONE, relaxed);
		MASYNC__STORE(&op->sig.word, MASYNC__S_DONE, release);
		return 0;
	}
	MASYNC__STORE(&op->phase, MASYNC__PH_QUEUED, relaxed);
	MASYNC__FADD(&op->refs, 1, relaxed);
	/* register before the push: the worker may finish at once */
	masync__signal_register(&op->sig, n, d->notifier,
		(uint64_t *)(void *)&op->sig.word);
	if (masync__thr_enqueue(d, op) == 0)
		return 0;

	/* queue full: wait for room as a blocked operation, then retry once
	 * so a slot freed in between is not missed */
	MASYNC__STORE(&op->phase, MASYNC__PH_NEW, relaxed);
	mtx_lock(&d->blocked_lock);
	if (!op->blocked) {
		op->blocked = 1;
		op->bprev = d->btail;
		op->bnext = NULL;
		if (d->btail != NULL)
			d->btail->bnext = op;
		else
			d->bhead = op;
		d->btail = op;
		MASYNC__FADD(&d->nblocked, 1, relaxed);
	}
	mtx_unlock(&d->blocked_lock);
	if (n != NULL && d->notifier == FUTURE_NOTIFIER_POLLER)
		n->poller.ptr_to_monitor =
			(uint64_t *)(void *)&d->room_gen;
	MASYNC__FENCE(seq_cst); /* pairs with masync__thr_room */
	MASYNC__STORE(&op->phase, MASYNC__PH_QUEUED, relaxed);
	queued = masync__thr_enqueue(d, op) == 0;
	if (queued) {
		mtx_lock(&d->blocked_lock);
		masync__blocked_unlink(d, op);
		mtx_unlock(&d->blocked_lock);
		if (n != NULL && d->notifier == FUTURE_NOTIFIER_POLLER)
			n->poller.ptr_to_monitor =
				(uint64_t *)(void *)&op->sig.word;
		return 0;
	}
	MASYNC__STORE(&op->phase, MASYNC__PH_NEW, relaxed);
	MASYNC__FSUB(&op->refs, 1, relaxed);
	return -1;
}

static enum future_state
masync__thr_op_check_ext(void *data, const struct vdm_operation *operation,
	struct future_notifier *n)
{
	struct masync__thr_op *op = (struct masync__thr_op *)data;

	(void)operation;
	if (masync__signal_done(&op->sig))
		return FUTURE_STATE_COMPLETE;
	if (masync__signal_register(&op->sig, n, op->dmt->notifier,
			(uint64_t *)(void *)&op->sig.word))
		return masync__signal_done(&op->sig) ?
			FUTURE_STATE_COMPLETE : FUTURE_STATE_RUNNING;
	return FUTURE_STATE_RUNNING;
}

static enum future_state
masync__thr_op_check(void *data, const struct vdm_operation *operation)
{
	struct masync__thr_op *op = (struct masync__thr_op *)data;

	(void)operation;
	return masync__signal_done(&op->sig) ? FUTURE_STATE_COMPLETE :
		FUTURE_STATE_RUNNING;
}

static void
masync__thr_release(struct masync__thr_op *op)
{
	struct data_mover_threads *d = op->dmt;

	if (op->blocked) {
		mtx_lock(&d->blocked_lock);
		masync__blocked_unlink(d, op);
		mtx_unlock(&d->blocked_lock);
	}
	masync__thr_unref(op);
}

static void
masync__thr_op_delete(void *data, const struct vdm_operation *operation,
	struct vdm_operation_output *output)
{
	struct masync__thr_op *op = (struct masync__thr_op *)data;

	masync__output(operation, op->result, output);
	masync__thr_release(op);
}

/* Cancels an operation that is not queued yet; non-zero once started. */
static int
masync__thr_op_cancel(void *data, const struct vdm_operation *operation)
{
	struct masync__thr_op *op = (struct masync__thr_op *)data;
	uint32_t ph = MASYNC__PH_NEW;

	(void)operation;
	if (!MASYNC__CAS(&op->phase, &ph, MASYNC__PH_DONE, acq_rel)) {
		ph = MASYNC__PH_QUEUED;
		/* still in the queue: the worker will skip it */
		if (!MASYNC__CAS(&op->phase, &ph, MASYNC__PH_DONE, acq_rel))
			return 1;
	}
	masync__thr_release(op);
	return 0;
}

static int
masync__thr_has_property(void *future, enum future_property property)
{
	(void)future;
	return property == FUTURE_PROPERTY_ASYNC;
}

MINIASYNC_API struct data_mover_threads *
data_mover_threads_new(size_t nthreads, size_t ringbuf_size,
	enum future_notifier_type desired_notifier)
{
	struct data_mover_threads *d;
	size_t i;

	if (nthreads == 0 || nthreads > MASYNC__THR_MAX_THREADS ||
			ringbuf_size == 0 ||
			ringbuf_size > MASYNC__THR_MAX_RING ||
			(desired_notifier != FUTURE_NOTIFIER_NONE &&
			desired_notifier != FUTURE_NOTIFIER_WAKER &&
			desired_notifier != FUTURE_NOTIFIER_POLLER)) {
		errno = EINVAL;
		return NULL;
	}
	d = (struct data_mover_threads *)masync__zalloc_aligned(sizeof(*d));
	if (d == NULL)
		return NULL;
	d->ext.base.op_new = masync__thr_op_new;
	d->ext.base.op_delete = masync__thr_op_delete;
	d->ext.base.op_start = masync__thr_op_start;
	d->ext.base.op_check = masync__thr_op_check;
	d->ext.base.capabilities = VDM_F_VALID_FLAGS | MASYNC__CAP_EXT;
	d->ext.base.has_property = masync__thr_has_property;
	d->ext.check = masync__thr_op_check_ext;
	d->ext.cancel = masync__thr_op_cancel;
	d->notifier = desired_notifier;
	d->nthreads = nthreads;
	d->cap = ringbuf_size;
	MASYNC__INIT(&d->enq_pos, 0);
	MASYNC__INIT(&d->deq_pos, 0);
	MASYNC__INIT(&d->room_gen, 0);
	MASYNC__INIT(&d->nblocked, 0);
	MASYNC__INIT(&d->idle, 0);
	MASYNC__INIT(&d->stop, 0);
	d->cells = (struct masync__ring_cell *)masync__zalloc_aligned(
		ringbuf_size * sizeof(*d->cells));
	d->threads = (thrd_t *)masync__zalloc(nthreads * sizeof(thrd_t));
	if (d->cells == NULL || d->threads == NULL)
		goto fail_mem;
	for (i = 0; i < ringbuf_size; i++)
		MASYNC__INIT(&d->cells[i].seq, i);
	if (masync__pool_init(&d->pool, sizeof(struct masync__thr_op), 0))
		goto fail_mem;
	if (mtx_init(&d->lock, mtx_plain) != thrd_success)
		goto fail_pool;
	if (mtx_init(&d->blocked_lock, mtx_plain) != thrd_success)
		goto fail_lock;
	if (cnd_init(&d->cond) != thrd_success)
		goto fail_blocked;
	for (i = 0; i < nthreads; i++) {
		if (thrd_create(&d->threads[i], masync__thr_worker, d) !=
				thrd_success) {
			d->nthreads = i;
			data_mover_threads_delete(d);
			errno = EAGAIN;
			return NULL;
		}
	}
	return d;
fail_blocked:
	mtx_destroy(&d->blocked_lock);
fail_lock:
	mtx_destroy(&d->lock);
fail_pool:
	masync__pool_fini(&d->pool);
fail_mem:
	MINIASYNC_FREE(d->threads);
	masync__free_aligned(d->cells);
	masync__free_aligned(d);
	errno = ENOMEM;
	return NULL;
}

MINIASYNC_API struct data_mover_threads *
data_mover_threads_default(void)
{
	size_t n = masync__ncpus();

	return data_mover_threads_new(n > 16 ? 16 : n,
		DATA_MOVER_THREADS_DEFAULT_RINGBUF_SIZE,
		FUTURE_NOTIFIER_WAKER);
}

MINIASYNC_API struct vdm *
data_mover_threads_get_vdm(struct data_mover_threads *dmt)
{
	return dmt == NULL ? NULL : &dmt->ext.base;
}

MINIASYNC_API void
data_mover_threads_delete(struct data_mover_threads *dmt)
{
	size_t i;
	struct masync__thr_op *op;

	if (dmt == NULL)
		return;
	/* workers drain what is queued, then see `stop` on an empty queue */
	while (masync__ring_nonempty(dmt))
		thrd_yield();
	mtx_lock(&dmt->lock);
	MASYNC__STORE(&dmt->stop, 1, release);
	cnd_broadcast(&dmt->cond);
	mtx_unlock(&dmt->lock);
	for (i = 0; i < dmt->nthreads; i++)
		thrd_join(dmt->threads[i], NULL);
	/* anything pushed meanwhile (helper entries of split operations) */
	while ((op = masync__ring_pop(dmt)) != NULL)
		masync__thr_execute(dmt, op);
	cnd_destroy(&dmt->cond);
	mtx_destroy(&dmt->blocked_lock);
	mtx_destroy(&dmt->lock);
	masync__pool_fini(&dmt->pool);
	MINIASYNC_FREE(dmt->threads);
	masync__free_aligned(dmt->cells);
	masync__free_aligned(dmt);
}

MINIASYNC_API void
data_mover_threads_set_memcpy_fn(struct data_mover_threads *dmt,
	memcpy_fn op_memcpy)
{
	if (dmt != NULL)
		dmt->op_memcpy = op_memcpy;
}

MINIASYNC_API void
data_mover_threads_set_memmove_fn(struct data_mover_threads *dmt,
	memmove_fn op_memmove)
{
	if (dmt != NULL)
		dmt->op_memmove = op_memmove;
}

MINIASYNC_API void
data_mover_threads_set_memset_fn(struct data_mover_threads *dmt,
	memset_fn op_memset)
{
	if (dmt != NULL)
		dmt->op_memset = op_memset;
}

#endif /* MINIASYNC_NO_THREADS */

/* ======================================================================== */
/* >>dsa — the Intel DSA mover                                              */
/* ======================================================================== */
#ifndef MINIASYNC_DSA

static MASYNC__THREAD_LOCAL enum data_mover_dsa_error masync__dsa_err;

MINIASYNC_API struct data_mover_dsa *
data_mover_dsa_new(const struct data_mover_dsa_config *config)
{
	(void)config;
	masync__dsa_err = DATA_MOVER_DSA_E_NOT_BUILT;
	errno = ENOTSUP;
	return NULL;
}

MINIASYNC_API struct data_mover_dsa *
data_mover_dsa_default(void)
{
	return data_mover_dsa_new(NULL);
}

MINIASYNC_API struct vdm *
data_mover_dsa_get_vdm(struct data_mover_dsa *dmd)
{
	(void)dmd;
	return NULL;
}

MINIASYNC_API void
data_mover_dsa_delete(struct data_mover_dsa *dmd)
{
	(void)dmd;
}

MINIASYNC_API enum data_mover_dsa_error
data_mover_dsa_last_error(void)
{
	return masync__dsa_err;
}

MINIASYNC_API const char *
data_mover_dsa_last_error_str(void)
{
	return masync__dsa_err == DATA_MOVER_DSA_OK ? "no error" :
		"DSA support not compiled in (build with MINIASYNC_DSA and "
		"link -laccel-config)";
}

#endif /* !MINIASYNC_DSA */

#ifdef __cplusplus
}
#endif
#endif /* MINIASYNC_IMPLEMENTATION_DONE */
#endif /* MINIASYNC_IMPLEMENTATION */

/*
------------------------------------------------------------------------------
MIT License

Copyright (c) 2026 the miniasync.h authors

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in
all copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
------------------------------------------------------------------------------
*/
