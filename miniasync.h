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
   It needs C11 or C++11: <stdatomic.h>, and <threads.h> for the
   implementation (glibc 2.28 or later); older modes stop at an #error.
   Any CPU: tested on x86-64, 32-bit x86, AArch64, 32-bit ARM, POWER
   (ppc64le), RISC-V (riscv64) and big-endian s390x (the DSA mover is
   x86-64 only), with glibc and musl. Durable operations and flushes use
   CLWB / CLFLUSHOPT / CLFLUSH on x86 (32-bit: with SSE2), DC CVAP /
   DC CVAC on AArch64 and dcbst / dcbf on 64-bit POWER; elsewhere they
   fail with VDM_ERROR_NOT_SUPPORTED (see vdm_memcpy).
   A program written for libminiasync 0.2.1 builds by replacing
   `#include <libminiasync.h>` with `#include "miniasync.h"` (layouts,
   names and inline helpers are the original's), or unchanged against the
   build's -Dlibminiasync_compat=true install (<libminiasync.h>,
   libminiasync.so, libminiasync.pc). README.md lists the differences.

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
   | MINIASYNC_VALGRIND        | annotate the lock-free parts for helgrind and drd         |
   |                           | (needs <valgrind/helgrind.h>; no-ops outside valgrind)    |
   | MINIASYNC_STREAM_MIN      | threads mover: a split operation bypasses the caches with |
   |                           | streaming stores when its share per worker is at least    |
   |                           | this many bytes (default: 4 x a core's L2 from CPUID,     |
   |                           | 4 MiB where it cannot be read)                            |

   None of the options changes the layout of a public struct, so translation
   units built with different options can be linked together.

   EXTENSIONS (beyond libminiasync: new names; the compatible API keeps its
   meaning). Every mover (sync, threads, DSA, and user-written ones through
   the generic paths) supports all of them.
   - Deadlines: runtime_wait_for(r, fut, timeout_ns) and
     runtime_wait_multiple_for(r, futs, n, timeout_ns) return 0 when all
     completed, ETIMEDOUT when the (relative, monotonic) time ran out; the
     futures keep their state and can be waited on again later.
   - Wait-any: runtime_wait_any(r, futs, n) returns the index of a complete
     future; runtime_wait_any_for(..., timeout_ns) also SIZE_MAX on timeout.
     The other futures keep their state.
   - Join-all: future_join_all(futs, n) is a future that completes when all
     n children have; run it on a runtime or make it a chain entry.
   - Cancellation: vdm_cancel(&fut) cancels an operation that has not
     started (returns 0: it completes with VDM_ERROR_CANCELLED and nothing
     is written), else says EINPROGRESS (it started: wait for it) or
     EALREADY. It is also how a future that will never be waited on is
     given up without leaking the mover's capacity.
   - Error-aware chains: FUTURE_CHAIN_INIT_STOP_ON_ERROR(&chain) instead of
     FUTURE_CHAIN_INIT makes the chain stop at the first entry whose vdm
     result is not VDM_SUCCESS; future_chain_result(&chain.base) gives it.
     The futures of vdm_memcpy & co. it will not run are cancelled
     (capacity back; see FUTURE_CHAIN_INIT_STOP_ON_ERROR for the limits).
   - vdm_result_str(result): a short description of every result.
   A wait that returns with futures pending (timeout, wait-any) polls them
   once more with a NULL notifier so that they drop the runtime's waker;
   futures of user-written movers that keep a waker past that need the
   runtime to outlive them.

   ERRORS. Bad input is an error, not a crash: a NULL runtime, mover,
   future or array gives NULL, 0, COMPLETE or EINVAL as each function says,
   with errno EINVAL; NULL buffers, wrapping ranges and unknown flags
   complete the future with VDM_ERROR_INVALID_ARGUMENT at its first poll,
   nothing written; no memory gives NULL with errno ENOMEM (constructors)
   or a future born complete with VDM_ERROR_OUT_OF_MEMORY, as does a
   mover at its capacity (threads: ringbuf_size operations in flight;
   DSA: config capacity). A future must
   have been made (FUTURE_INIT*, vdm_*): future_poll calls its task
   unchecked, though the runtime's waits refuse a zeroed one (EINVAL),
   and a chain that reaches a zeroed entry completes there (errno EINVAL).

   THE DSA MOVER (MINIASYNC_DSA)
   - data_mover_dsa_new() opens every enabled user work queue (WQ) of
     every DSA device that fits the config (device, wq, mode, wqs, and
     the environment variable MINIASYNC_DSA_WQS="wq0.0,wq2.1", which
     restricts further without recompiling; a name that matches no
     fitting WQ, or a malformed list, fails the constructor with E_NO_WQ
     / E_INVALID naming it). A WQ that cannot be opened (a dedicated WQ
     another mover holds, no permission) is passed over; it fails only
     when none opens. The kernel lets one file at a time open a
     dedicated WQ, in this process too: a second mover cannot use the
     dedicated WQs a first one holds; share one mover between threads
     (it is thread-safe), or give each its own WQs (wqs). At most 256
     WQs (8 sockets of 4 devices of 8): past that, those on the caller's
     node are kept. Each WQ has its own portal, room and queue; the
     mover submits descriptors itself: MOVDIR64B on a dedicated WQ;
     ENQCMD on a shared WQ when the CPU has it and the kernel allows it
     in user space (the `enqcmd` flag in /proc/cpuinfo) and the WQ's
     threshold is not 0 (then ENQCMD is always refused); else write(),
     which kernels before the 2024 INTEL-SA-01084 fix lack: a WQ with
     neither is passed over (the message of a failed construction says
     so).
   - Placement: an operation goes to the least-loaded WQ (our
     descriptors in flight per entry) with room, preferring the devices
     on the NUMA node of the destination's first page (get_mempolicy),
     then on the caller's node (getcpu; config numa_node overrides it),
     then any: work crosses nodes only when the local WQs are full, and
     never goes to a full WQ while another has room (nor waits in a full
     dedicated WQ's pending batch then). A descriptor counts until
     someone sees it complete: placement reaps a WQ whose oldest one
     completed. Both lookups are
     per-thread caches (the node per CPU, a page's node per page, asked
     again every 256 uses), made only when the WQs span nodes.
   - Batching: an operation of at most batch_threshold bytes (64 KiB)
     started while its WQ is busy, or by a runtime wait (inside a pass
     of runtime_wait_multiple & co., even on an idle WQ), waits in the
     WQ's pending batch; the batch goes as one batch descriptor (up to
     batch_max, default and at most 32 or the WQ's max_batch_size) when
     it is full, at the end of the runtime's pass (before it sleeps or
     returns: a round's starts, the first one too, share one batch and
     one wake-up), at the next poll of any running operation of the
     mover (futures polled by hand: the first start on an idle WQ goes
     at once), or after 1 ms from the monitor thread while an operation
     of the mover is armed with a waker (with none, e.g. all polled
     with no notifier, the monitor sleeps: waking it per batch costs
     the caller a system call). Each member has
     its own completion record: it completes, faults (resolved for it
     alone) or fails on its own, and one still pending can be
     cancelled. A lone one goes as a plain
     descriptor; write() submission takes no batches (DSA 1.0), nor do
     the operations of a POLLER mover (an executor may only watch their
     records).
     The doorbell and the completion handling, each dearer than a small
     copy from cache (see cpu_threshold below), are paid once per batch;
     so is the WAKER's wake-up (a member's waker is called when its
     batch's record is written), and the first member polled done takes
     the WQ's lock once for all the members already done.
   - Hybrid copies: a memcpy, memset or non-overlapping memmove of at
     least hybrid_threshold bytes (2 MiB; SIZE_MAX = never) is split:
     the device takes the bottom, the CPU the top (whole pages) right
     after the device part was submitted, on the polling thread or as an
     operation of cpu_vdm, with the operation's flags. The CPU's share
     is hybrid_cpu_permille, or measured: it starts at 300 (one SPR core
     copies ~12 GB/s, a device ~30 GB/s: 12 / 42) and moves 16 per split
     away from the side that finished last, within [50, 900].
   - Operations of fewer than cpu_threshold bytes run on the CPU during
     their first poll (default 4096: below that a CPU copy costs less CPU
     time than preparing, submitting and reaping a descriptor, and the
     device's microseconds of latency are never won back; cpu_threshold 1
     sends every non-empty operation to the device). So do empty ones,
     overlapping moves the device cannot do, and (see below) those of a
     forked child. A page fault of a part submitted alone is resolved by
     faulting in the rest of the part and resubmitting it; a part that
     faults 64 times is finished on the CPU. A part of a batch (an
     operation above the WQ's transfer size, sent as one batch
     descriptor) that faults is finished on the CPU at once, as Intel
     DTO does: so a large copy into pages never touched runs on the
     CPU. Their faults are the CPU's either way (faulting in costs
     about 3x the copy: 63 against 21 us per MiB measured); a resubmit
     would save the copy for another round trip. A page that cannot be
     faulted in (unmapped, a PROT_NONE guard page, a read-only
     destination, past a file's end) fails the operation with
     VDM_ERROR_DSA_PAGE_FAULT (Linux 5.14's MADV_POPULATE_*; on older
     kernels the touch gets SIGSEGV, as a CPU copy would). That is for
     pages the device faulted on: what runs on the CPU (below
     cpu_threshold, a split copy's CPU share, overlapping moves the
     device cannot do) touches memory as memcpy does, unchecked
     (checking every page first costs more than the copy).
   - Wake-ups (WAKER, the default): a monitor thread per mover watches
     the completion records of armed operations and calls their wakers.
     After each event it spins 256 pauses (~5-10 us), then takes naps
     of 2 us (which the kernel's default 50 us timer slack stretches to
     ~50-70 us), of 50 us after 768 of those: an operation done within
     the spin is seen at once, a later one up to one nap late
     (bench_dsa latency: a 20 us descriptor took ~90 us of wall time on
     a 2-vCPU VM). Where those microseconds matter, poll the future
     yourself (busy polling reads the record at every poll).
   - Room: a dedicated WQ never holds more of our descriptors than it has
     entries (a full one drops them silently). An operation that finds no
     room stays idle (or running, between parts) and tries again on its
     next poll; that wait has no deadline of its own, as the room is held
     by descriptors that complete or time out. Any poll that needs room
     reaps the completed descriptors of all futures, so futures nobody
     polls do not hold it. A shared WQ that refuses an operation (ENQCMD
     retry, write() EAGAIN) on every poll for timeout_ns fails it with
     VDM_ERROR_BUSY (on a mover with several WQs: while every dedicated
     WQ it may use, if any, is held by lost descriptors, so no room
     comes back there); so are the members of a coalesced batch that it
     refused for timeout_ns (a waker registered for them is called).
   - VDM_ERROR_TIMEOUT: the device did not complete a descriptor within
     timeout_ns (default 5 s), counted from its submission. A waker
     registered for it is called then (the next poll fails it), so an
     executor that polls only when told learns it too. A POLLER word is
     the record the device writes: a descriptor it never completes never
     changes it, so a POLLER executor also polls after timeout_ns (the
     runtime's waits poll again within 1 ms anyway). The device may
     still read the source and write the destination after that: keep
     both buffers allocated, and do not trust the destination, until
     data_mover_dsa_delete() returned.
     (A coalesced operation still waiting for room after timeout_ns gets
     one such call, which finds it still waiting: room has no deadline.)
     Such a descriptor keeps its WQ entry until it or a descriptor
     submitted after it completes (a dedicated WQ dispatches in order) and
     its memory until its own record is written or the mover is deleted.
     Once lost descriptors hold every entry, new operations fail with
     VDM_ERROR_TIMEOUT at once: delete the mover and make a new one.
   - data_mover_dsa_delete() waits at most timeout_ns in all for the
     descriptors in flight, then closes the WQ (the kernel drains what
     is left) before it frees the memory descriptors point at.
   - fork(): the child inherits neither the WQ's portal nor its room. In a
     child, a mover made by the parent runs new operations on the CPU,
     operations the parent had started complete with
     VDM_ERROR_NOT_SUPPORTED (nothing more is done in the child), and
     data_mover_dsa_delete() only frees memory. The child's operations
     have the whole capacity, counted from 0 (the parent's futures, e.g.
     other threads' the child never polls, do not use it up). Make a
     new mover in the child to use the device there. The child closes
     the parent's WQ files at the fork (a pthread_atfork handler), so it
     does not keep a dedicated WQ from being opened again, or the
     parent's close from draining the WQ. A fork waits while another
     thread runs the device discovery of data_mover_dsa_new() or opens
     or closes a WQ file.
     Should registering those handlers fail, data_mover_dsa_new() fails
     (ENOMEM) in this process from then on, as the threads mover does.
   - What a mover opened and did: data_mover_dsa_wq_count(dmd) and
     data_mover_dsa_get_wq_info(dmd, i, &info) give each WQ's device,
     name, node, mode, submission path and limits, and the descriptors,
     batch descriptors and their members it took, their bytes, refusals
     and page faults (tests/dsa_hw_check prints them on a machine's
     devices).

   WAKERS (the contract every built-in mover keeps; examples/coroutines.cpp
   is an executor built on nothing else)
   - A poll that returns "not complete" with notifier_used WAKER has
     registered its waker: it is called once, from any thread, when
     polling again would make progress (the built-in movers: on
     completion). Each registration is called at most once; a later poll
     replaces it, a poll with a NULL notifier drops it (when that poll
     returns, the dropped waker is not running and will not be called:
     so that poll waits for a call of it running in another thread, and
     must not be made holding a lock that waker takes; made inside a
     waker, it does not wait, and only "will not be called" holds: two
     wakers dropping each other's would wait for each other).
   - The call may come while the registering poll is still running, also
     when that poll then reports completion; after a poll has returned
     COMPLETE, no waker of that future is called any more, so the waker's
     data (which may live on the waiting thread's stack or in a coroutine
     frame) may be freed at once. A waker that polls its future itself
     must not do so before the registering poll has returned (one poller
     at a time, below).
   - A waker a program registered is called by a mover's own thread
     (worker, DSA monitor) or by data_mover_threads_delete, never inside
     a poll or an operation's creation: a thread that polls one future
     and so runs other operations (the threads mover's pollers help) has
     their completions' wake calls made by a worker.
   - A waker may take locks (also one its executor holds while polling),
     poll any future, its own included, and create operations: the
     library holds none of its locks across a wake call. A poll that
     meets a completion whose wake call is still running reports "not
     complete" (rather than wait for the call) and its waker is called
     again when that call returns.
   - The wake call should be short (queue a task, signal a condition
     variable): the mover's worker thread makes it.

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

/* Say what is missing before a C99 compiler trips over C11 keywords. The
 * declarations also build as C99 with GNU extensions (gcc, clang), as
 * libminiasync's did: programs built with -std=gnu99 (PMDK) include them;
 * the implementation needs C11. */
#if defined(__cplusplus)
#if __cplusplus < 201103L
#error "miniasync.h needs C++11 or later (e.g. -std=c++11)"
#endif
#elif !defined(__STDC_VERSION__) || __STDC_VERSION__ < 201112L
#if defined(MINIASYNC_IMPLEMENTATION)
#error "miniasync.h needs C11 or later: compile with -std=c11 or -std=gnu11 (or newer)"
#elif !defined(__GNUC__) || !defined(__STDC_VERSION__) ||                     \
	__STDC_VERSION__ < 199901L
#error "miniasync.h needs C11, or C99 with GNU extensions for its declarations: compile with -std=c11 or -std=gnu11 (or newer)"
#endif
#define MASYNC__C99 1
#elif defined(__STDC_NO_ATOMICS__)
#error "miniasync.h needs C11 atomics (<stdatomic.h>); this compiler defines __STDC_NO_ATOMICS__"
#endif

#define MINIASYNC_VERSION_MAJOR 0
#define MINIASYNC_VERSION_MINOR 1
#define MINIASYNC_VERSION_PATCH 0

#ifdef MINIASYNC_API
#define MASYNC__API_GIVEN 1 /* see the implementation's start */
#else
#ifdef MINIASYNC_STATIC
/* a private copy: the functions a program does not call are no warning */
#if defined(__GNUC__) || defined(__clang__)
#define MINIASYNC_API static __attribute__((unused))
#else
#define MINIASYNC_API static
#endif
#else
#define MINIASYNC_API extern
#endif
#endif

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
/* what libminiasync.h pulled in: programs call _mm_pause / sched_yield */
#if defined(__x86_64__) || defined(__amd64__) || defined(_M_X64) ||          \
	defined(_M_AMD64)
#include <emmintrin.h>
#else
#include <sched.h>
#endif

/* MASYNC__MEMBER_ASSERT(c, msg): a check inside a struct; it names a
 * member's type t by MASYNC__ALIGNOF_M(t, m), as
 * C++ may not name a type written out in place in alignof (it uses
 * decltype(m)). Before C11 only the file-scope checks stay (glibc's
 * stand-in for _Static_assert cannot be a member). */
#ifdef __cplusplus
#define MASYNC__ALIGNAS(n) alignas(n)
#define MASYNC__ALIGNOF(t) alignof(t)
#define MASYNC__ALIGNOF_M(t, m) alignof(decltype(m))
#define MASYNC__STATIC_ASSERT(c, msg) static_assert(c, msg)
#define MASYNC__MEMBER_ASSERT(c, msg) static_assert(c, msg);
#define MASYNC__EXT
extern "C" {
#elif defined(MASYNC__C99)
#define MASYNC__ALIGNAS(n) __attribute__((aligned(n)))
#define MASYNC__ALIGNOF(t) __alignof__(t)
#define MASYNC__ALIGNOF_M(t, m) __alignof__(t)
#define MASYNC__CAT2(a, b) a##b
#define MASYNC__CAT(a, b) MASYNC__CAT2(a, b)
#define MASYNC__STATIC_ASSERT(c, msg)                                         \
	typedef char MASYNC__CAT(masync__assert_, __LINE__)[(c) ? 1 : -1]
#define MASYNC__MEMBER_ASSERT(c, msg)
#define MASYNC__EXT __extension__ /* anonymous unions: -pedantic */
#else
#define MASYNC__ALIGNAS(n) _Alignas(n)
#define MASYNC__ALIGNOF(t) _Alignof(t)
#define MASYNC__ALIGNOF_M(t, m) _Alignof(t)
#define MASYNC__STATIC_ASSERT(c, msg) _Static_assert(c, msg)
#define MASYNC__MEMBER_ASSERT(c, msg) _Static_assert(c, msg);
#define MASYNC__EXT
#endif

/* private: for the few helpers the cheapest paths need folded into their
 * callers (or kept out of them) whatever the compiler's inlining budget
 * says */
#if defined(__GNUC__) || defined(__clang__)
#define MASYNC__FORCE_INLINE inline __attribute__((always_inline))
#define MASYNC__NOINLINE __attribute__((noinline))
#else
#define MASYNC__FORCE_INLINE inline
#define MASYNC__NOINLINE
#endif

/* private: branch hints for the cheapest paths */
#if defined(__GNUC__) || defined(__clang__)
#define MASYNC__LIKELY(x) __builtin_expect(!!(x), 1)
#define MASYNC__UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define MASYNC__LIKELY(x) (x)
#define MASYNC__UNLIKELY(x) (x)
#endif

/* private: the CPU movers can write cache lines back (VDM_F_MEM_DURABLE,
 * vdm_flush): x86 (32-bit with SSE2), AArch64, 64-bit POWER (dcbst is a
 * user instruction on every POWER CPU). Elsewhere (RISC-V's cbo.clean
 * runs in user mode only where the kernel allows it) they refuse
 * both with VDM_ERROR_NOT_SUPPORTED rather than claim a durability they
 * cannot give. (MASYNC__TEST_GENERIC: tests of such a target.) */
#if (defined(__x86_64__) || (defined(__i386__) && defined(__SSE2__)) ||      \
	defined(__aarch64__) || defined(__powerpc64__)) &&                  \
	!defined(MASYNC__TEST_GENERIC)
#define MASYNC__WB 1
#endif

#if defined(__x86_64__) || defined(__i386__)
#define MASYNC__PAUSE() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define MASYNC__PAUSE() __asm__ __volatile__("yield" ::: "memory")
#elif defined(__powerpc64__)
/* "or 27,27,27": the yield hint (lower this thread's priority a while) */
#define MASYNC__PAUSE() __asm__ __volatile__("or 27,27,27" ::: "memory")
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
 * output follow it with no gap (FUTURE() checks that at compile time), so
 * their places follow from data_size alone. padding is unused. */
struct future_context {
	size_t data_size;
	size_t output_size;
	enum future_state state;
	uint32_t padding;
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
 *          means "poll again" (a change from what it read before this
 *          poll or after it; each poll may set another word, e.g. for a
 *          DSA operation's next descriptor: watch the last one set);
 * NONE   - the poller has to poll again on its own.
 * A vdm future that completes in a poll leaves NONE, except a POLLER
 * mover's: POLLER, the word reading 1 (as in libminiasync; a user mover's
 * word is its own).
 * future_poll() and a chain do not touch it: a poller sets it to NONE
 * before each poll if it wants to tell "not consumed" apart. */
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
	return (char *)context + sizeof(struct future_context);
}

static inline void *
future_context_get_output(struct future_context *context)
{
	return (char *)future_context_get_data(context) + context->data_size;
}

/* Returns data_size + output_size. */
static inline size_t
future_context_get_size(struct future_context *context)
{
	return context->data_size + context->output_size;
}

/* private: a poll of no future: nothing to run, so COMPLETE (a busy poll
 * of it ends) with errno EINVAL */
static inline enum future_state
masync__poll_null(void)
{
	errno = EINVAL;
	return FUTURE_STATE_COMPLETE;
}

/* private: future_poll of a future known not to be NULL (a chain's entry:
 * there the NULL check cost a chain of two +0.5 ns, bench/sync_ab) */
static inline enum future_state
masync__poll(struct future *fut, struct future_notifier *notifier)
{
	if (fut->context.state != FUTURE_STATE_COMPLETE)
		fut->context.state = fut->task(&fut->context, notifier);
	return fut->context.state;
}

/* Polls once: calls the task unless the future is complete. The notifier
 * is handed to the task untouched. A NULL future is an error: COMPLETE,
 * errno EINVAL. The future must have been made (FUTURE_INIT*, a vdm_*
 * function, a mover): a task is not checked for here, where every check
 * costs every poll; the runtime's waits refuse a future with none (a
 * zeroed one) with EINVAL. Thread safety: one poller at a time per
 * future. */
static inline enum future_state
future_poll(struct future *fut, struct future_notifier *notifier)
{
	if (MASYNC__UNLIKELY(fut == NULL))
		return masync__poll_null();
	return masync__poll(fut, notifier);
}

/* Every property is false. */
static inline int
future_has_property_default(void *future, enum future_property property)
{
	(void)future;
	(void)property;
	return 0;
}

/* Non-zero when the future has the property; a future born complete may
 * have no has_property function: then it has none. A NULL future has
 * none (errno EINVAL). Thread safety: not while the future is polled (a
 * chain's lazy entry may be built by it). */
static inline int
future_has_property(struct future *fut, enum future_property property)
{
	if (MASYNC__UNLIKELY(fut == NULL)) {
		errno = EINVAL;
		return 0;
	}
	return fut->has_property != NULL && fut->has_property(fut, property);
}

/* private: the most alignment a future's data or output, or a chained
 * future, may need: a pointer's, or a uint64_t's where that is more
 * (32-bit ARM). struct future and a chain entry's header are multiples of
 * it, and the chain steps from entry to entry in it. */
struct masync__max_align {
	void *p;
	uint64_t u;
};
#define MASYNC__FUT_ALIGN MASYNC__ALIGNOF(struct masync__max_align)
MASYNC__STATIC_ASSERT(sizeof(struct future) % MASYNC__FUT_ALIGN == 0,
	"a future's data follows struct future without padding");

/* The data must follow struct future with no padding, as
 * future_context_get_data assumes: it may not need an alignment above a
 * pointer's (or a uint64_t's). The output may follow the data after
 * padding (an int of data, then a pointer): FUTURE_INIT* count that
 * padding in data_size, so future_context_get_output finds the output
 * (libminiasync's counted sizeof(data) and read the wrong bytes there). */
#define FUTURE(name, data_type, output_type)                                  \
	struct name {                                                          \
		struct future base;                                            \
		data_type data;                                                \
		output_type output;                                            \
		MASYNC__MEMBER_ASSERT(                                         \
			MASYNC__ALIGNOF_M(data_type, data) <=                  \
			MASYNC__FUT_ALIGN,                                     \
			"future data may not need more alignment than a "      \
			"pointer or a uint64_t")                               \
	}

/* private: the data's size with the padding before the output */
#define MASYNC__DATA_SIZE(futurep)                                             \
	((size_t)((const char *)&(futurep)->output -                           \
		(const char *)&(futurep)->data))

#define FUTURE_INIT_EXT(futurep, taskfn, propertyfn)                          \
	do {                                                                   \
		(futurep)->base.task = (taskfn);                               \
		(futurep)->base.has_property = (propertyfn);                   \
		(futurep)->base.context.state = FUTURE_STATE_IDLE;             \
		(futurep)->base.context.data_size =                            \
			MASYNC__DATA_SIZE(futurep);                            \
		(futurep)->base.context.output_size =                          \
			sizeof((futurep)->output);                             \
		(futurep)->base.context.padding = 0;                           \
	} while (0)

#define FUTURE_INIT(futurep, taskfn)                                          \
	FUTURE_INIT_EXT(futurep, taskfn, future_has_property_default)

/* A future that is complete from birth (e.g. creation failed). */
#define FUTURE_INIT_COMPLETE(futurep)                                         \
	do {                                                                   \
		(futurep)->base.task = NULL;                                   \
		(futurep)->base.has_property = NULL;                           \
		(futurep)->base.context.state = FUTURE_STATE_COMPLETE;         \
		(futurep)->base.context.data_size =                            \
			MASYNC__DATA_SIZE(futurep);                            \
		(futurep)->base.context.output_size =                          \
			sizeof((futurep)->output);                             \
		(futurep)->base.context.padding = 0;                           \
	} while (0)

#define FUTURE_AS_RUNNABLE(futurep) (&(futurep)->base)
#define FUTURE_OUTPUT(futurep) (&(futurep)->output)
#define FUTURE_DATA(futurep) (&(futurep)->data)
#define FUTURE_STATE(futurep) ((futurep)->base.context.state)

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
 * entry is a header (map, map_arg, init, init_arg, flags: 40 bytes on a
 * 64-bit target) followed by its future, so
 * (struct future_chain_entry *)&chain.data.x reaches the entry's future as
 * ->future. An entry takes sizeof(struct future_chain_entry) + data_size +
 * output_size bytes rounded up to the alignment of a pointer or a
 * uint64_t, whichever is more: the chain task walks the entries from
 * that. */
struct future_chain_entry {
	future_map_fn map;
	void *map_arg;
	future_init_fn init;  /* NULL once the future is built */
	void *init_arg;
	uint64_t flags;       /* FUTURE_CHAIN_FLAG_* */
	struct future future; /* the entry's future starts here */
};
MASYNC__STATIC_ASSERT(
	offsetof(struct future_chain_entry, future) % MASYNC__FUT_ALIGN == 0,
	"a chained future follows its entry's header without padding");

#define FUTURE_CHAIN_FLAG_ENTRY_LAST (((uint64_t)1) << 0)
#define FUTURE_CHAIN_FLAG_ENTRY_PROCESSED (((uint64_t)1) << 1)
#define FUTURE_CHAIN_VALID_FLAGS                                              \
	(FUTURE_CHAIN_FLAG_ENTRY_LAST | FUTURE_CHAIN_FLAG_ENTRY_PROCESSED)
/* private: an error-aware chain stopped at this entry */
#define MASYNC__CHAIN_FAILED (((uint64_t)1) << 32)

/* The size of *flags_kind tells the two entry macros apart. */
enum future_chain_entry_type {
	FUTURE_CHAIN_ENTRY_REGULAR = 1,
	FUTURE_CHAIN_ENTRY_LAST = 2,
};
/* libminiasync's names, reserved at file scope: clang's warning is off */
#if defined(__clang__) && defined(__has_warning)
#if __has_warning("-Wreserved-identifier")
#define MASYNC__RESERVED_OK 1
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wreserved-identifier"
#endif
#endif
typedef uint8_t _future_entry_type_regular[FUTURE_CHAIN_ENTRY_REGULAR];
typedef uint8_t _future_entry_type_last[FUTURE_CHAIN_ENTRY_LAST];
#ifdef MASYNC__RESERVED_OK
#pragma clang diagnostic pop
#undef MASYNC__RESERVED_OK
#endif

#define MASYNC__CHAIN_ENTRY(future_type, name, kind)                           \
	struct {                                                               \
		future_map_fn map;                                             \
		void *map_arg;                                                 \
		future_init_fn init;                                           \
		void *init_arg;                                                \
		MASYNC__EXT union {                                            \
			uint64_t flags;                                        \
			kind *masync__kind;                                    \
		};                                                             \
		future_type fut;                                               \
		MASYNC__MEMBER_ASSERT(MASYNC__ALIGNOF_M(future_type, fut) <=   \
			MASYNC__FUT_ALIGN,                                     \
			"a chained future may not need more alignment "        \
			"than a pointer or a uint64_t")                        \
	} name

#define FUTURE_CHAIN_ENTRY(future_type, name)                                 \
	MASYNC__CHAIN_ENTRY(future_type, name, _future_entry_type_regular)

/* The last entry; the chain's data struct may have members after it. */
#define FUTURE_CHAIN_ENTRY_LAST(future_type, name)                            \
	MASYNC__CHAIN_ENTRY(future_type, name, _future_entry_type_last)

#define MASYNC__CHAIN_KIND_FLAGS(entry_ptr)                                    \
	(sizeof(*(entry_ptr)->masync__kind) == FUTURE_CHAIN_ENTRY_LAST ?       \
		FUTURE_CHAIN_FLAG_ENTRY_LAST : (uint64_t)0)

#define FUTURE_CHAIN_ENTRY_INIT(entry_ptr, future_value, map_fn, map_arg_v)   \
	do {                                                                   \
		(entry_ptr)->fut = (future_value);                             \
		(entry_ptr)->map = (map_fn);                                   \
		(entry_ptr)->map_arg = (map_arg_v);                            \
		(entry_ptr)->init = NULL;                                      \
		(entry_ptr)->init_arg = NULL;                                  \
		(entry_ptr)->flags = MASYNC__CHAIN_KIND_FLAGS(entry_ptr);      \
	} while (0)

/* The future is built by init_fn(&entry->fut, chain context, init_arg)
 * right before the chain first needs it: before the previous entry's map
 * runs (so what that map writes into it is kept), when the chain reaches
 * it (first entry, or the previous one has no map), or when the chain is
 * asked for its property while this entry is the current one. The entry's
 * future is not touched here: it may be a union of future types. As in
 * libminiasync, the chain finds the next entry from the size of the
 * future init_fn built, so such a union must be the last entry, or all
 * its members must have one size (data + output). */
#define FUTURE_CHAIN_ENTRY_LAZY_INIT(entry_ptr, init_fn, init_arg_v, map_fn,  \
		map_arg_v)                                                     \
	do {                                                                   \
		(entry_ptr)->map = (map_fn);                                   \
		(entry_ptr)->map_arg = (map_arg_v);                            \
		(entry_ptr)->init = (init_fn);                                 \
		(entry_ptr)->init_arg = (init_arg_v);                          \
		(entry_ptr)->flags = MASYNC__CHAIN_KIND_FLAGS(entry_ptr);      \
	} while (0)

#define FUTURE_CHAIN_ENTRY_HAS_FLAG(entry_ptr, flag)                          \
	(((entry_ptr)->flags & (flag)) == (flag))
#define FUTURE_CHAIN_ENTRY_IS_LAST(entry_ptr)                                 \
	FUTURE_CHAIN_ENTRY_HAS_FLAG(entry_ptr, FUTURE_CHAIN_FLAG_ENTRY_LAST)
#define FUTURE_CHAIN_ENTRY_IS_PROCESSED(entry_ptr)                            \
	FUTURE_CHAIN_ENTRY_HAS_FLAG(entry_ptr,                                \
		FUTURE_CHAIN_FLAG_ENTRY_PROCESSED)
/* An entry member or a struct future_chain_entry pointer. */
#define FUTURE_CHAIN_ENTRY_IS_INITIALIZED(entry_ptr) ((entry_ptr)->init == NULL)

/* private: the entry after `entry` (whose future must be built), or NULL
 * when `entry` is the last one (flagged so, or the chain's data ends). */
static inline struct future_chain_entry *
masync__chain_after(struct future_context *ctx,
	struct future_chain_entry *entry, uint8_t *data, size_t *used_data)
{
	size_t step = sizeof(struct future_chain_entry) +
		future_context_get_size(&entry->future.context);

	step = (step + MASYNC__FUT_ALIGN - 1) & ~(MASYNC__FUT_ALIGN - 1);
	*used_data += step;
	if (FUTURE_CHAIN_ENTRY_IS_LAST(entry) ||
			*used_data + sizeof(struct future_chain_entry) >
			ctx->data_size)
		return NULL;
	return (struct future_chain_entry *)(void *)(data + *used_data);
}

/* private: builds a lazily initialised entry's future (marked built
 * after init_fn returned, as in libminiasync: init_fn itself sees its
 * entry as not yet initialised) */
static inline void
masync__chain_build(struct future_context *ctx,
	struct future_chain_entry *entry)
{
	if (entry->init != NULL) {
		entry->init(&entry->future, ctx, entry->init_arg);
		entry->init = NULL;
	}
}

/* Builds `entry`'s future if it is lazy, adds the entry's size to
 * *used_data and returns the next entry, NULL after the last one. `data`
 * is future_context_get_data(ctx), *used_data the offset of `entry` in it
 * (0 for the first entry). */
static inline struct future_chain_entry *
get_next_future_chain_entry(struct future_context *ctx,
	struct future_chain_entry *entry, uint8_t *data, size_t *used_data)
{
	masync__chain_build(ctx, entry);
	return masync__chain_after(ctx, entry, data, used_data);
}

/* private: result of a vdm future or error-aware chain owning ctx, else 0 */
static inline int masync__vdm_context_result(struct future_context *ctx);

/* private: an error-aware chain stopped: gives up the entries from `e` on
 * (see FUTURE_CHAIN_INIT_STOP_ON_ERROR) */
MINIASYNC_API void masync__chain_give_up(struct future_context *ctx,
	struct future_chain_entry *e);

/* private: the task of futures made by vdm_memcpy & co. (one definition,
 * so that chains can tell vdm futures by their task), and what a chain
 * does with one a program completed without polling it (a map that skips
 * the next entry; see its definition) */
MINIASYNC_API enum future_state masync__vdm_task(
	struct future_context *context, struct future_notifier *n);
MINIASYNC_API void masync__vdm_skipped(struct future *fut);

/* private: one poll of a chain; `stop` makes it error-aware (a constant:
 * each chain task gets its own copy). As in libminiasync, where the next
 * entry starts and whether this one is the last are read before this one
 * is polled (after its lazy init): the loads then overlap the poll instead
 * of delaying the map. */
static MASYNC__FORCE_INLINE enum future_state
masync__chain_poll(struct future_context *ctx, struct future_notifier *n,
	int stop)
{
	struct future_chain_entry *e = (struct future_chain_entry *)
		future_context_get_data(ctx);
	uint8_t *last;

	if (MASYNC__UNLIKELY(ctx->data_size < sizeof(*e)))
		return FUTURE_STATE_COMPLETE;
	last = (uint8_t *)e + (ctx->data_size - sizeof(*e));
	for (;;) {
		struct future_chain_entry *next;
		uint64_t flags;

		if (MASYNC__UNLIKELY(e->init != NULL))
			masync__chain_build(ctx, e);
		flags = e->flags; /* a map or init may have made it last */
		/* the sizes by name: through &e->future.context gcc keeps
		 * that address in one more saved register */
		next = (struct future_chain_entry *)(void *)((uint8_t *)e +
			((sizeof(*e) + e->future.context.data_size +
			e->future.context.output_size + MASYNC__FUT_ALIGN - 1) &
			~(MASYNC__FUT_ALIGN - 1)));
		if ((flags & FUTURE_CHAIN_FLAG_ENTRY_LAST) ||
				(uint8_t *)next > last)
			next = NULL;
		if (MASYNC__UNLIKELY(flags & FUTURE_CHAIN_FLAG_ENTRY_PROCESSED)) {
			if (next == NULL)
				return FUTURE_STATE_COMPLETE;
			e = next;
			continue;
		}
		/* n is the caller's and passed on untouched, as in
		 * libminiasync (its programs poll chains with made-up
		 * notifier pointers that their tasks only compare); this
		 * library's movers reset notifier_used when they complete
		 * (a POLLER mover's to POLLER on a word that reads "done"),
		 * so the next entry's poll starts from nothing to wait for */
		if (MASYNC__LIKELY(e->future.context.state !=
				FUTURE_STATE_COMPLETE)) {
			enum future_state st;

			if (MASYNC__UNLIKELY(e->future.task == NULL)) {
				/* an entry never made (zeroed): the chain
				 * ends, as the runtime refuses such a future
				 * (EINVAL) */
				e->flags |= FUTURE_CHAIN_FLAG_ENTRY_PROCESSED;
				errno = EINVAL;
				return FUTURE_STATE_COMPLETE;
			}
			st = e->future.task(&e->future.context, n);
			e->future.context.state = st;
			if (st != FUTURE_STATE_COMPLETE)
				return FUTURE_STATE_RUNNING;
		} else if (e->future.task == masync__vdm_task) {
			masync__vdm_skipped(&e->future); /* a map skipped it */
		}
		if (stop && masync__vdm_context_result(&e->future.context)) {
			e->flags |= FUTURE_CHAIN_FLAG_ENTRY_PROCESSED |
				MASYNC__CHAIN_FAILED;
			if (next != NULL)
				masync__chain_give_up(ctx, next);
			return FUTURE_STATE_COMPLETE;
		}
		/* (a chain run again: an entry that failed the last time
		 * and succeeds now is not the failed one any more) */
		if (stop)
			e->flags &= ~MASYNC__CHAIN_FAILED;
		if (next == NULL) {
			if (e->map != NULL)
				e->map(&e->future.context, ctx, e->map_arg);
			e->flags |= FUTURE_CHAIN_FLAG_ENTRY_PROCESSED;
			return FUTURE_STATE_COMPLETE;
		}
		/* a map writes into the next future: build it first (without
		 * a map, the top of the loop builds it, as in libminiasync) */
		if (e->map != NULL) {
			if (MASYNC__UNLIKELY(next->init != NULL))
				masync__chain_build(ctx, next);
			e->map(&e->future.context, &next->future.context,
				e->map_arg);
		}
		e->flags |= FUTURE_CHAIN_FLAG_ENTRY_PROCESSED;
		e = next;
	}
}

/* The chain task: polls the first entry not processed; each entry that
 * completes has its map called (the next one built first, if lazy), and
 * the next one polled in the same call. Entries run again when a program
 * clears their FUTURE_CHAIN_FLAG_ENTRY_PROCESSED (and resets their state),
 * and the chain ends early at an entry a program flagged
 * FUTURE_CHAIN_FLAG_ENTRY_LAST. */
static inline enum future_state
async_chain_impl(struct future_context *ctx, struct future_notifier *notifier)
{
	return masync__chain_poll(ctx, notifier, 0);
}

/* A chain has a property when its current entry has it; a lazy current
 * entry is built first. A complete chain has none. */
static inline int
future_chain_has_property(void *future, enum future_property property)
{
	struct future_context *ctx = &((struct future *)future)->context;
	uint8_t *data = (uint8_t *)future_context_get_data(ctx);
	struct future_chain_entry *e = (struct future_chain_entry *)(void *)data;
	size_t used = 0;

	/* (an error-aware chain that stopped is complete: the entries
	 * after the failed one are not built) */
	if (ctx->state == FUTURE_STATE_COMPLETE ||
			ctx->data_size < sizeof(struct future_chain_entry))
		return 0;
	while (e != NULL) {
		masync__chain_build(ctx, e);
		if (!FUTURE_CHAIN_ENTRY_IS_PROCESSED(e))
			return future_has_property(&e->future, property);
		if (e->flags & MASYNC__CHAIN_FAILED)
			return 0;
		e = masync__chain_after(ctx, e, data, &used);
	}
	return 0;
}

#define FUTURE_CHAIN_INIT(futurep)                                            \
	FUTURE_INIT_EXT(futurep, async_chain_impl, future_chain_has_property)

/* private: the error-aware chain task (one definition, so that a chain
 * can tell error-aware chain entries by their task) */
MINIASYNC_API enum future_state masync__chain_stop_task(
	struct future_context *ctx, struct future_notifier *notifier);

/* Extension: an error-aware chain. Like FUTURE_CHAIN_INIT, but the chain
 * stops at the first entry whose result is not VDM_SUCCESS and completes at
 * once: that entry's map is not called, later entries are neither
 * initialised nor run, and the chain's own output is left as the maps
 * before it wrote it. Later entries already made are given up so that they
 * hold no mover capacity: each future of vdm_memcpy & co. there that was
 * never polled is cancelled as by vdm_cancel (it completes with
 * VDM_ERROR_CANCELLED), also inside a nested error-aware chain; not past a
 * lazy entry not yet built, nor inside a nested plain chain or a user
 * future, nor one made with vdm_generic_operation (cancel those
 * yourself). A program that runs the chain again remakes those entries
 * too, not only the failed one. future_chain_result() returns that entry's result.
 * An entry has a result when it is a vdm future made by vdm_memcpy & co.
 * or itself an error-aware chain (which fails with the result of its
 * failed entry, so nested error-aware chains stop together); other
 * entries (user futures, join-all) count as successful. A plain
 * FUTURE_CHAIN_INIT chain runs every entry whatever their results, as in
 * libminiasync. */
#define FUTURE_CHAIN_INIT_STOP_ON_ERROR(futurep)                              \
	FUTURE_INIT_EXT(futurep, masync__chain_stop_task,                      \
		future_chain_has_property)

/* private: result of the entry an error-aware chain stopped at, else 0.
 * Builds no future: the entries after a lazy one not built yet are not
 * looked at (a failed entry is always before it). */
static inline int
masync__chain_failed_result(struct future_context *ctx)
{
	uint8_t *data = (uint8_t *)future_context_get_data(ctx);
	struct future_chain_entry *e = (struct future_chain_entry *)(void *)data;
	size_t used = 0;

	if (ctx->data_size < sizeof(struct future_chain_entry))
		return 0;
	while (e != NULL && e->init == NULL) {
		if (e->flags & MASYNC__CHAIN_FAILED)
			return masync__vdm_context_result(&e->future.context);
		e = masync__chain_after(ctx, e, data, &used);
	}
	return 0;
}

/* future_chain_result() is declared with the vdm results, below. */

/* ---- join-all (extension) -----------------------------------------------
 * future_join_all(futs, nfuts) makes a future that completes when all of
 * its child futures have completed. It is a future like any other: give it
 * to a runtime, poll it, or make it an entry of a chain. */
struct future_join_all_data {
	struct future **futs; /* the children; must stay put while in use */
	size_t nfuts;
	/* private: 1 while it polls or asks its children, 2 when that
	 * reached it again (it is its own descendant: an error) */
	int masync__busy;
};

struct future_join_all_output {
	size_t ncomplete; /* children complete after the last poll */
};

FUTURE(future_join_all_future, struct future_join_all_data,
	struct future_join_all_output);

/* private: non-zero when a join-all's children may be polled: an array
 * (unless there are none) of futures that are made (a task, or complete);
 * else errno EINVAL and out->ncomplete counts the complete ones */
static inline int
masync__join_all_ok(const struct future_join_all_data *d,
	struct future_join_all_output *out)
{
	size_t i, done = 0;
	int ok = d->nfuts == 0 || d->futs != NULL;

	for (i = 0; ok && i < d->nfuts; i++) {
		const struct future *f = d->futs[i];

		if (f == NULL || (f->context.state != FUTURE_STATE_COMPLETE &&
				f->task == NULL))
			ok = 0;
	}
	if (ok)
		return 1;
	for (i = 0; d->futs != NULL && i < d->nfuts; i++)
		done += d->futs[i] != NULL &&
			d->futs[i]->context.state == FUTURE_STATE_COMPLETE;
	out->ncomplete = done;
	errno = EINVAL;
	return 0;
}

/* Polls every pending child, those with FUTURE_PROPERTY_ASYNC first, each
 * with its own copy of the caller's notifier (NULL stays NULL). Reports
 * WAKER when every child left pending took the waker (so the caller's
 * waker may be called once per such child), POLLER when exactly one child
 * is left and it gave a poller word, else NONE. A NULL array (with nfuts
 * > 0), a NULL child or one never made (no task) is an error: the join-all
 * completes at once with errno EINVAL, no child polled. */
static inline enum future_state
masync__join_all_task(struct future_context *ctx, struct future_notifier *n)
{
	struct future_join_all_data *d = (struct future_join_all_data *)
		future_context_get_data(ctx);
	struct future_join_all_output *out = (struct future_join_all_output *)
		future_context_get_output(ctx);
	struct future_notifier last;
	size_t i, last_idx = SIZE_MAX, pend_idx = SIZE_MAX, pending = 0;
	int pass, all_wakers = 1;
	/* the first 256 children polled as asynchronous in the first half:
	 * the second polls exactly the others (a property a poll changed
	 * meanwhile skips no child); past 256 it polls every one still
	 * pending (a second poll of a started one only checks it) */
	uint64_t was_async[4] = {0, 0, 0, 0};
	const size_t nbits = 256;

	if (d->masync__busy != 0) { /* polled by its own descendant */
		d->masync__busy = 2;
		return FUTURE_STATE_RUNNING;
	}
	if (!masync__join_all_ok(d, out))
		return FUTURE_STATE_COMPLETE;
	d->masync__busy = 1;
	memset(&last, 0, sizeof(last));
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < d->nfuts; i++) {
			struct future *f = d->futs[i];
			struct future_notifier c;

			if (f->context.state == FUTURE_STATE_COMPLETE)
				continue;
			if (pass == 1 && i < nbits &&
					((was_async[i / 64] >> (i % 64)) & 1))
				continue;
			if (pass == 0 && !future_has_property(f,
					FUTURE_PROPERTY_ASYNC))
				continue;
			if (pass == 0 && i < nbits)
				was_async[i / 64] |= (uint64_t)1 << (i % 64);
			if (n == NULL) {
				future_poll(f, NULL);
				continue;
			}
			c = *n;
			c.notifier_used = FUTURE_NOTIFIER_NONE;
			if (future_poll(f, &c) == FUTURE_STATE_COMPLETE)
				continue;
			if (c.notifier_used != FUTURE_NOTIFIER_WAKER)
				all_wakers = 0;
			last = c;
			last_idx = i;
		}
	}
	for (i = 0; i < d->nfuts; i++)
		if (d->futs[i]->context.state != FUTURE_STATE_COMPLETE &&
				pending++ == 0)
			pend_idx = i;
	out->ncomplete = d->nfuts - pending;
	if (d->masync__busy == 2) { /* a cycle never completes: an error */
		d->masync__busy = 0;
		errno = EINVAL;
		return FUTURE_STATE_COMPLETE;
	}
	d->masync__busy = 0;
	if (pending == 0)
		return FUTURE_STATE_COMPLETE;
	if (n != NULL) {
		if (pending == 1 && last_idx == pend_idx &&
				last.notifier_used == FUTURE_NOTIFIER_POLLER) {
			n->poller = last.poller;
			n->notifier_used = FUTURE_NOTIFIER_POLLER;
		} else if (all_wakers) {
			n->notifier_used = FUTURE_NOTIFIER_WAKER;
		}
	}
	return FUTURE_STATE_RUNNING;
}

/* A join-all has a property when one of its pending children has it. */
static inline int
masync__join_all_has_property(void *future, enum future_property property)
{
	struct future_join_all_data *d = (struct future_join_all_data *)
		future_context_get_data(&((struct future *)future)->context);
	size_t i;
	int yes = 0;

	if (d->masync__busy != 0) /* asked by its own descendant */
		return 0;
	d->masync__busy = 1;
	for (i = 0; !yes && d->futs != NULL && i < d->nfuts; i++)
		yes = d->futs[i] != NULL &&
			d->futs[i]->context.state != FUTURE_STATE_COMPLETE &&
			future_has_property(d->futs[i], property);
	d->masync__busy = 0;
	return yes;
}

/* Returns an idle join-all future over futs[0 .. nfuts-1] (nfuts == 0:
 * it completes on its first poll). The array and the children are used by
 * pointer: they must stay valid and in place until it is complete, and
 * nobody else may poll the children meanwhile (after it completes they are
 * all complete; read their outputs as usual). output.ncomplete counts the
 * complete children. The children's results are not inspected: a failed
 * vdm child is complete like a successful one. A NULL `futs` with nfuts >
 * 0, a NULL child or a child never made (zeroed: no task) is an error:
 * the join-all's first poll completes it with errno EINVAL and polls no
 * child. So is a join-all that is its own descendant (its own child, a
 * child join-all's child, ...), which could never complete: the poll that
 * reaches it again completes it with errno EINVAL, children left pending.
 * Thread safety: one poller at a time, like every future; the children's
 * movers may complete them from any thread. */
static inline struct future_join_all_future
future_join_all(struct future **futs, size_t nfuts)
{
	struct future_join_all_future f;

	memset(&f, 0, sizeof(f));
	f.data.futs = futs;
	f.data.nfuts = nfuts;
	FUTURE_INIT_EXT(&f, masync__join_all_task,
		masync__join_all_has_property);
	return f;
}

/* ======================================================================== */
/* >>runtime — waits for futures in the calling thread                      */
/* ======================================================================== */

struct runtime;

/* Returns a new runtime, or NULL with errno set (ENOMEM).
 * Thread safety: any thread. */
MINIASYNC_API struct runtime *runtime_new(void);

/* Frees the runtime. Nobody may be waiting on it, and no pending future may
 * still hold its waker. Futures waited to completion never do; nor do
 * futures left pending by a wait that returned early (timeout, wait-any)
 * when they are vdm futures of the built-in movers, chains or join-alls of
 * such: see runtime_wait_for. A future of a user-written mover or task
 * that keeps a waker past a poll with a NULL notifier must be complete (or
 * never woken) before its runtime is deleted. A call of the runtime's
 * waker that a built-in mover had begun (e.g. on another worker, when the
 * wait ran inside a waker) is waited for: it never blocks.
 * Thread safety: not with any other call on the same runtime. */
MINIASYNC_API void runtime_delete(struct runtime *runtime);

/* Polls `fut` in the calling thread until it is complete. Between polls
 * that make no progress it sleeps until a waker fires (bounded by a 1 ms
 * safety timeout), waits on a poller word (UMWAIT where the CPU has
 * waitpkg, else short naps; the word is read before each poll, so a
 * change during the poll is not slept through), or backs off with
 * growing sleeps for futures that use no notifier; it never spins a core
 * for long. Naps and deadlines run on the monotonic clock (Linux: a
 * futex), so a stepped wall clock does not stretch them; elsewhere naps
 * use C11 cnd_timedwait on the wall clock. A NULL runtime or future is an
 * error: it returns at once with errno EINVAL (likewise a NULL array with
 * nfuts > 0, a NULL entry, or a future that is not complete and has no
 * task, e.g. one zeroed and never made, for every wait below).
 * Thread safety: many threads may wait on one runtime at once. */
MINIASYNC_API void runtime_wait(struct runtime *runtime, struct future *fut);

/* Like runtime_wait for all `nfuts` futures. Each pass polls the futures
 * that have FUTURE_PROPERTY_ASYNC first, then the rest, in array order;
 * `futs` is never reordered. Futures complete on entry count as done. */
MINIASYNC_API void runtime_wait_multiple(struct runtime *runtime,
	struct future *futs[], size_t nfuts);

/* ---- extensions: deadlines and wait-any ----
 * Timeouts are relative, in nanoseconds of the monotonic clock; 0 means
 * "poll once", UINT64_MAX means no limit. They are checked between polling
 * passes, so one poll that runs long (a big operation on the sync mover)
 * can overrun them. While waiting these calls sleep like runtime_wait.
 * When one of them returns with futures still pending, those futures keep
 * their state (they may be waited on, polled, or cancelled with vdm_cancel
 * later), and each of them that was polled during the wait is polled once
 * more with a NULL notifier, which makes the built-in movers (and chains
 * and join-alls of their futures) drop the runtime's waker. That last poll
 * may itself complete a future. A user-written mover or future that keeps
 * the waker past a NULL-notifier poll may call it later: such a runtime
 * must outlive those futures.
 * Thread safety: as runtime_wait; each future is used by one waiter. */

/* Waits for `fut` at most `timeout_ns`. Returns 0 when it is complete,
 * ETIMEDOUT when the time ran out first, EINVAL for NULL arguments. */
MINIASYNC_API int runtime_wait_for(struct runtime *runtime,
	struct future *fut, uint64_t timeout_ns);

/* Waits for all `nfuts` futures (as runtime_wait_multiple) at most
 * `timeout_ns`. Returns 0 when every one is complete (also nfuts == 0),
 * ETIMEDOUT when the time ran out first; the futures that completed stay
 * complete, the others keep their state. */
MINIASYNC_API int runtime_wait_multiple_for(struct runtime *runtime,
	struct future *futs[], size_t nfuts, uint64_t timeout_ns);

/* Waits until at least one of the `nfuts` futures is complete and returns
 * the index of a complete one (the lowest complete on entry, if any); the
 * others keep their state. A pass stops at the first future that
 * completes, so later futures in the array may not have been polled (and a
 * sync-mover future not run). Returns SIZE_MAX when nfuts == 0. */
MINIASYNC_API size_t runtime_wait_any(struct runtime *runtime,
	struct future *futs[], size_t nfuts);

/* runtime_wait_any for at most `timeout_ns`: returns the index of a
 * complete future, or SIZE_MAX when the time ran out (or nfuts == 0, or
 * NULL arguments: then errno is EINVAL). */
MINIASYNC_API size_t runtime_wait_any_for(struct runtime *runtime,
	struct future *futs[], size_t nfuts, uint64_t timeout_ns);

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

/* sized so that sizeof(struct vdm_operation_data) is 64 */
#define VDM_OPERATION_DATA_MAX_SIZE 40

struct vdm_operation {
	union {
		struct vdm_operation_data_memcpy memcpy;
		struct vdm_operation_data_memmove memmove;
		struct vdm_operation_data_memset memset;
		struct vdm_operation_data_flush flush;
		uint8_t data[VDM_OPERATION_DATA_MAX_SIZE];
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
 * state. `operation` lives in the future, which may move between calls.
 * capabilities: the VDM_F_* flags the mover supports; bit 31 is reserved
 * (it marks the built-in movers: a mover whose capabilities are bit 31 and
 * no other bits but VDM_F_VALID_FLAGS gets their checks of flags and
 * types too; one with more bits set, e.g. UINT_MAX, does not). */
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

/* private: set by the built-in movers: their operations refuse unknown
 * types and flags, and a completed one drops the caller's notifier. The
 * threads and DSA movers embed their struct vdm in a masync__vdm_ext,
 * whose callbacks let a poll hand over its notifier every time
 * (re-registering or dropping a waker) and let an operation be cancelled
 * (masync__ext_of). */
#define MASYNC__CAP_EXT (1U << 31)
/* private: the capabilities of a built-in mover (or of a program's copy of
 * its struct vdm): MASYNC__CAP_EXT and no other bit but the flags, so a
 * user-written mover that sets every bit is not taken for one */
#define MASYNC__BUILTIN(caps)                                                  \
	(((caps) & ~(unsigned)VDM_F_VALID_FLAGS) == MASYNC__CAP_EXT)
/* private: what the CPU movers report (the flags as hints only where
 * there is no cache write-back) */
#ifdef MASYNC__WB
#define MASYNC__CPU_CAPS VDM_F_VALID_FLAGS
#else
#define MASYNC__CPU_CAPS 0u
#endif
struct masync__vdm_ext {
	struct vdm base;
	enum future_state (*check)(void *data,
		const struct vdm_operation *operation,
		struct future_notifier *n);
	/* 0: released, the operation never ran; non-zero: it has started */
	int (*cancel)(void *data, const struct vdm_operation *operation);
	/* non-zero: operations of `type` go to a user function that takes
	 * every flag bit (NULL: flags outside VDM_F_VALID_FLAGS are refused) */
	int (*raw_flags)(const struct vdm *vdm, enum vdm_operation_type type);
	/* optional: a poll of a RUNNING future of this mover, whose common
	 * end it takes on a short path (vdm_operation_impl otherwise) */
	enum future_state (*poll)(struct vdm_operation_future *f,
		struct future_notifier *n);
};

/* private: the op_new of the threads and DSA movers (each build defines
 * both: one without a mover returns NULL) */
MINIASYNC_API void *masync__thr_op_new(struct vdm *vdm,
	const enum vdm_operation_type type);
MINIASYNC_API void *masync__dsa_op_new(struct vdm *vdm,
	const enum vdm_operation_type type);
/* private: the threads mover's op_delete and cancel, which vdm_cancel
 * calls for a program's copy of its vdm (see there) */
MINIASYNC_API void masync__thr_op_delete(void *data,
	const struct vdm_operation *operation,
	struct vdm_operation_output *output);
MINIASYNC_API int masync__thr_op_cancel(void *data,
	const struct vdm_operation *operation);

/* private: the ext part of a threads or DSA mover's own struct vdm, NULL
 * for any other. MASYNC__CAP_EXT alone is no proof: a program may copy a
 * built-in mover's struct vdm into its own to wrap a callback, bit and
 * all, and nothing of the mover follows its copy. Such a copy works only
 * with an op_new of its own that hands the mover's vdm on (the mover's
 * op_new finds the mover from the vdm pointer, as libminiasync's did), so
 * the mover's own op_new marks its own vdm. The sync mover needs no ext
 * part (its copies work with its op_new). */
static MASYNC__FORCE_INLINE const struct masync__vdm_ext *
masync__ext_of(const struct vdm *vdm)
{
	if (MASYNC__BUILTIN(vdm->capabilities) &&
			(vdm->op_new == masync__thr_op_new ||
			vdm->op_new == masync__dsa_op_new))
		return (const struct masync__vdm_ext *)(const void *)vdm;
	return NULL;
}

/* private: a threads mover's user function (memcpy_fn, ...) runs the
 * operations of `type`: it gets every flag bit */
static inline int
masync__user_fn(const struct vdm *vdm, enum vdm_operation_type type)
{
	const struct masync__vdm_ext *x = masync__ext_of(vdm);

	return x != NULL && x->raw_flags != NULL && x->raw_flags(vdm, type);
}

/* Non-zero only when the mover supports every bit of `capability`; 0 for
 * a NULL mover (errno EINVAL). Thread safety: any thread. */
static inline int
vdm_is_supported(struct vdm *vdm, unsigned capability)
{
	if (vdm == NULL) {
		errno = EINVAL;
		return 0;
	}
	if ((capability & MASYNC__CAP_EXT) &&
			MASYNC__BUILTIN(vdm->capabilities))
		return 0; /* a private bit of the built-in movers, no capability */
	return (vdm->capabilities & capability) == capability;
}

/* private: checks an operation's arguments when it starts. Every mover:
 * NULL buffers with n > 0 and ranges that wrap are refused. Built-in
 * movers also refuse unknown operation types and flags outside
 * VDM_F_VALID_FLAGS (except for operations a user function runs), and,
 * without cache write-back, durable operations and flushes; a
 * user-written mover gets every flag bit. */
static MASYNC__FORCE_INLINE enum vdm_operation_result
masync__vdm_check(const struct vdm *vdm, const struct vdm_operation *op)
{
	const void *dst = NULL, *src = NULL;
	size_t n = 0;
	uint64_t flags = 0;

	switch (op->type) {
	case VDM_OPERATION_MEMCPY:
		dst = op->data.memcpy.dest;
		src = op->data.memcpy.src;
		n = op->data.memcpy.n;
		flags = op->data.memcpy.flags;
		break;
	case VDM_OPERATION_MEMMOVE:
		dst = op->data.memmove.dest;
		src = op->data.memmove.src;
		n = op->data.memmove.n;
		flags = op->data.memmove.flags;
		break;
	case VDM_OPERATION_MEMSET:
		dst = op->data.memset.str;
		src = dst;
		n = op->data.memset.n;
		flags = op->data.memset.flags;
		break;
	case VDM_OPERATION_FLUSH:
		dst = op->data.flush.dest;
		src = dst;
		n = op->data.flush.n;
		flags = op->data.flush.flags;
		break;
	default:
		return MASYNC__BUILTIN(vdm->capabilities) ?
			VDM_ERROR_INVALID_ARGUMENT : VDM_SUCCESS;
	}
	/* (a user function's flags are an unsigned int) */
	if (MASYNC__BUILTIN(vdm->capabilities) &&
			(flags & ~(uint64_t)VDM_F_VALID_FLAGS) != 0 &&
			(!masync__user_fn(vdm, op->type) || flags > UINT_MAX))
		return VDM_ERROR_INVALID_ARGUMENT;
	if (n != 0 && (dst == NULL || src == NULL ||
			(uintptr_t)dst + n < (uintptr_t)dst ||
			(uintptr_t)src + n < (uintptr_t)src))
		return VDM_ERROR_INVALID_ARGUMENT;
#ifndef MASYNC__WB
	/* no cache write-back on this target (a user function may have one) */
	if (MASYNC__BUILTIN(vdm->capabilities) &&
			((flags & VDM_F_MEM_DURABLE) ||
			op->type == VDM_OPERATION_FLUSH) &&
			!masync__user_fn(vdm, op->type))
		return VDM_ERROR_NOT_SUPPORTED;
#endif
	return VDM_SUCCESS;
}

/* private: a built-in mover's future completed in this poll: nothing to
 * wait for, notifier_used NONE (a chain polls its next entry with the
 * same notifier). A POLLER mover's keeps POLLER, its word one that reads
 * 1 ("done") for good, as libminiasync's did: programs written for it
 * check notifier_used and the word after a first poll that completed. */
static inline void
masync__notifier_done(struct future_notifier *n)
{
	static uint64_t done_word = 1; /* never written */

	if (n == NULL)
		return;
	if (n->notifier_used == FUTURE_NOTIFIER_POLLER)
		n->poller.ptr_to_monitor = &done_word;
	else
		n->notifier_used = FUTURE_NOTIFIER_NONE;
}

/* private: the output of an operation that ended without running (bad
 * arguments, refused, cancelled): no destination */
static inline void
masync__output_failed(struct vdm_operation_output *out,
	enum vdm_operation_type type, enum vdm_operation_result result)
{
	out->type = type;
	out->result = result;
	memset(&out->output, 0, sizeof(out->output));
}

/* The task of a vdm future: IDLE --op_start--> RUNNING --op_check-->
 * COMPLETE, then op_delete fills the output and releases the mover's
 * per-operation state. The operation's arguments are read (and checked)
 * here, at the first poll, so a chain's map may fill them in after the
 * future was made; bad ones complete the future with
 * VDM_ERROR_INVALID_ARGUMENT (VDM_ERROR_NOT_SUPPORTED: see vdm_memcpy)
 * and nothing written (also for a NULL data.vdm or one without op_start
 * or op_check, errno EINVAL). Usable
 * for a future built by hand: FUTURE_INIT(&fut, vdm_operation_impl).
 * (private: the body; `hand` says the future may have been built by hand,
 * with a NULL data.vdm: vdm_memcpy & co. never make one that runs) */
static MASYNC__FORCE_INLINE enum future_state
masync__vdm_operation(struct future_context *context,
	struct future_notifier *n, int hand)
{
	struct vdm_operation_data *data =
		(struct vdm_operation_data *)future_context_get_data(context);
	struct vdm_operation_output *output = (struct vdm_operation_output *)
		future_context_get_output(context);
	struct vdm *vdm = data->vdm;
	const struct masync__vdm_ext *x;
	enum future_state state;
	enum vdm_operation_result bad;

	if (context->state == FUTURE_STATE_IDLE) {
		/* built by hand: maybe for no mover, or for one without
		 * callbacks (a zeroed struct vdm; vdm_memcpy & co. refuse
		 * to make a future of a mover without op_new) */
		int no_mover = hand && MASYNC__UNLIKELY(vdm == NULL ||
			vdm->op_start == NULL || vdm->op_check == NULL);

		bad = no_mover ? VDM_ERROR_INVALID_ARGUMENT :
			masync__vdm_check(vdm, &data->operation);
		if (bad == VDM_SUCCESS && MASYNC__UNLIKELY(data->data ==
				NULL) && MASYNC__BUILTIN(vdm->capabilities)) {
			/* run again after its state went back (it completed,
			 * or a chain skipped it, and a program set it IDLE):
			 * a new state, as vdm_memcpy & co. take */
			data->data = vdm->op_new(vdm, data->operation.type);
			if (data->data == NULL)
				bad = VDM_ERROR_OUT_OF_MEMORY;
		}
		if (bad != VDM_SUCCESS) {
			/* release the state of an operation that never ran */
			x = vdm == NULL ? NULL : masync__ext_of(vdm);
			if (data->data == NULL && x != NULL)
				; /* a built-in mover's: none held */
			else if (x != NULL && x->cancel != NULL)
				(void)x->cancel(data->data, &data->operation);
			else if (vdm != NULL && vdm->op_delete != NULL)
				vdm->op_delete(data->data, &data->operation,
					output);
			if (no_mover)
				errno = EINVAL;
			data->data = NULL;
			masync__output_failed(output, data->operation.type,
				bad);
			masync__notifier_done(n);
			return FUTURE_STATE_COMPLETE;
		}
		if (vdm->op_start(data->data, &data->operation, n) != 0)
			return FUTURE_STATE_IDLE;
		state = vdm->op_check(data->data, &data->operation);
	} else if ((x = masync__ext_of(vdm)) != NULL) {
		state = x->check(data->data, &data->operation, n);
	} else {
		state = vdm->op_check(data->data, &data->operation);
	}
	if (state == FUTURE_STATE_COMPLETE) {
		vdm->op_delete(data->data, &data->operation, output);
		data->data = NULL; /* the state is gone */
		/* a user mover's WAKER is not waited for either (its word,
		 * POLLER, is its own) */
		if (MASYNC__BUILTIN(vdm->capabilities))
			masync__notifier_done(n);
		else if (n != NULL &&
				n->notifier_used == FUTURE_NOTIFIER_WAKER)
			n->notifier_used = FUTURE_NOTIFIER_NONE;
	}
	return state;
}

static inline enum future_state
vdm_operation_impl(struct future_context *context, struct future_notifier *n)
{
	return masync__vdm_operation(context, n, 1);
}

/* Sets the future's has_property function; NULL keeps the current one. */
static inline void
vdm_set_has_property_fn(struct vdm_operation_future *future,
	future_has_property_fn has_property)
{
	if (has_property != NULL)
		future->base.has_property = has_property;
}

/* Makes `future` (whose data.operation the caller filled in) an operation
 * of `vdm`: takes the mover's per-operation state (none left: the future
 * is complete with VDM_ERROR_OUT_OF_MEMORY) and sets vdm_operation_impl
 * as its task and the mover's has_property (future_has_property_default
 * for a mover without one; a complete future gets the mover's only, as
 * in libminiasync). Arguments are checked at the first poll. A NULL
 * mover, or one with no op_new: complete, VDM_ERROR_INVALID_ARGUMENT,
 * errno EINVAL. */
static inline void
vdm_generic_operation(struct vdm *vdm, struct vdm_operation_future *future)
{
	future->data.vdm = vdm;
	if (vdm == NULL || vdm->op_new == NULL) {
		errno = EINVAL;
		future->data.data = NULL;
		future->output.result = VDM_ERROR_INVALID_ARGUMENT;
		FUTURE_INIT_COMPLETE(future);
		return;
	}
	future->data.data = vdm->op_new(vdm, future->data.operation.type);
	if (future->data.data == NULL) {
		future->output.result = VDM_ERROR_OUT_OF_MEMORY;
		FUTURE_INIT_COMPLETE(future);
		vdm_set_has_property_fn(future, vdm->has_property);
	} else {
		FUTURE_INIT(future, vdm_operation_impl);
		vdm_set_has_property_fn(future, vdm->has_property);
	}
}

/* private: result of the vdm future (or error-aware chain) owning ctx;
 * 0 for any other future */
static inline int
masync__vdm_context_result(struct future_context *ctx)
{
	struct future *f = (struct future *)(void *)((char *)ctx -
		offsetof(struct future, context));

	if (f->task == masync__chain_stop_task)
		return masync__chain_failed_result(ctx);
	if (f->task != masync__vdm_task)
		return 0;
	return (int)((struct vdm_operation_output *)
		future_context_get_output(ctx))->result;
}

/* Extension (chain section): the result an error-aware chain (made with
 * FUTURE_CHAIN_INIT_STOP_ON_ERROR) stopped with: the result of its first
 * entry that did not succeed (for a nested error-aware chain entry, the
 * result that stopped it). VDM_SUCCESS when no entry failed, when the
 * chain is still running towards its end, or for a plain chain.
 * VDM_ERROR_INVALID_ARGUMENT (errno EINVAL) for a NULL chain.
 * Thread safety: not while the chain is being polled. */
static inline enum vdm_operation_result
future_chain_result(struct future *chain)
{
	int r; /* (a cast of the call itself: -Wbad-function-cast) */

	if (chain == NULL) {
		errno = EINVAL;
		return VDM_ERROR_INVALID_ARGUMENT;
	}
	r = masync__chain_failed_result(&chain->context);
	return (enum vdm_operation_result)r;
}

/* private: the sync mover's op_new (no per-operation state: returns vdm);
 * vdm_memcpy & co. spare the call for it */
MINIASYNC_API void *masync__sync_new(struct vdm *vdm,
	const enum vdm_operation_type type);

/* private: zeroes p[0 .. n), byte by byte up to 16 bytes (n is a
 * constant, the branches fold away): the compiler then keeps a new future
 * in registers, while a memset over part of it makes gcc build the future
 * in a temporary and copy it. */
static inline void
masync__zero_bytes(uint8_t *p, size_t n)
{
	if (n > 16) {
		memset(p, 0, n);
		return;
	}
	/* no loop: gcc decides before unrolling loops */
	if (n > 0) p[0] = 0;
	if (n > 1) p[1] = 0;
	if (n > 2) p[2] = 0;
	if (n > 3) p[3] = 0;
	if (n > 4) p[4] = 0;
	if (n > 5) p[5] = 0;
	if (n > 6) p[6] = 0;
	if (n > 7) p[7] = 0;
	if (n > 8) p[8] = 0;
	if (n > 9) p[9] = 0;
	if (n > 10) p[10] = 0;
	if (n > 11) p[11] = 0;
	if (n > 12) p[12] = 0;
	if (n > 13) p[13] = 0;
	if (n > 14) p[14] = 0;
	if (n > 15) p[15] = 0;
}

/* private: zeroes the bytes of a future's operation data that follow
 * arguments of type args_type */
#define MASYNC__ZERO_AFTER(futurep, args_type)                                 \
	masync__zero_bytes((futurep)->data.operation.data.data +               \
		sizeof(args_type),                                             \
		VDM_OPERATION_DATA_MAX_SIZE - sizeof(args_type))

/* private: makes *f, whose operation arguments the caller wrote (and
 * zeroed the rest of data.operation.data), a future of `vdm` (NULL:
 * complete, invalid argument). Every member is written one by one, not
 * through a zeroed copy: this is the cheapest path of the library. */
static inline void
masync__vdm_make(struct vdm *vdm, struct vdm_operation_future *f,
	enum vdm_operation_type type)
{
	void *state = NULL;

	f->base.task = masync__vdm_task; /* marks it a vdm future */
	f->base.context.data_size = sizeof(f->data);
	f->base.context.output_size = sizeof(f->output);
	f->base.context.padding = 0;
	f->data.vdm = vdm;
	f->data.operation.type = type;
	f->data.operation.padding = 0;
	f->output.type = type;
	f->output.output.flush.unused = 0; /* the whole union */
	if (vdm != NULL)
		state = vdm->op_new == masync__sync_new ? (void *)vdm :
			vdm->op_new != NULL ? vdm->op_new(vdm, type) : NULL;
	f->data.data = state;
	if (state == NULL) {
		int no_mover = vdm == NULL || vdm->op_new == NULL;

		if (no_mover)
			errno = EINVAL;
		f->output.result = no_mover ? VDM_ERROR_INVALID_ARGUMENT :
			VDM_ERROR_OUT_OF_MEMORY;
		/* the mover's, as libminiasync set it on such a future too */
		f->base.has_property = vdm == NULL ? NULL : vdm->has_property;
		f->base.context.state = FUTURE_STATE_COMPLETE;
	} else {
		f->output.result = VDM_SUCCESS;
		f->base.has_property = vdm->has_property != NULL ?
			vdm->has_property : future_has_property_default;
		f->base.context.state = FUTURE_STATE_IDLE;
	}
}

/* The four operations. Each returns a future by value; it is idle and does
 * nothing until polled. The arguments are read when it is first polled
 * (a chain's map may fill them in meanwhile, e.g. a NULL dest); bad ones
 * then complete it with VDM_ERROR_INVALID_ARGUMENT, nothing written: NULL
 * buffers with n > 0, a range that wraps, or, on the built-in movers,
 * flags outside VDM_F_VALID_FLAGS (a threads mover's user memcpy_fn,
 * memmove_fn or memset_fn gets every flag bit). On a target without cache
 * write-back instructions (not x86, AArch64 or 64-bit POWER) the CPU
 * movers do not list
 * VDM_F_MEM_DURABLE or VDM_F_NO_CACHE_HINT in their capabilities, and
 * complete a durable operation or a flush with VDM_ERROR_NOT_SUPPORTED,
 * nothing written. The future is complete at
 * once for a NULL mover or one with no op_new (VDM_ERROR_INVALID_ARGUMENT,
 * errno EINVAL) and when the mover
 * has no room (VDM_ERROR_OUT_OF_MEMORY). On success
 * output.output.memcpy.dest (memmove.dest, memset.str) is the destination.
 * Overlapping ranges: vdm_memcpy gives memmove's result on every built-in
 * mover (sync, threads, also for operations big enough to be split between
 * workers, which are then not split; DSA, whose parts then run in order); a
 * user function set with data_mover_threads_set_memcpy_fn gets the ranges
 * as they are.
 * Thread safety: any thread. */
static inline struct vdm_operation_future
vdm_memcpy(struct vdm *vdm, void *dest, void *src, size_t n, uint64_t flags)
{
	struct vdm_operation_future f;

	MASYNC__ZERO_AFTER(&f, struct vdm_operation_data_memcpy);
	f.data.operation.data.memcpy.dest = dest;
	f.data.operation.data.memcpy.src = src;
	f.data.operation.data.memcpy.n = n;
	f.data.operation.data.memcpy.flags = flags;
	masync__vdm_make(vdm, &f, VDM_OPERATION_MEMCPY);
	return f;
}

static inline struct vdm_operation_future
vdm_memmove(struct vdm *vdm, void *dest, void *src, size_t n, uint64_t flags)
{
	struct vdm_operation_future f;

	MASYNC__ZERO_AFTER(&f, struct vdm_operation_data_memmove);
	f.data.operation.data.memmove.dest = dest;
	f.data.operation.data.memmove.src = src;
	f.data.operation.data.memmove.n = n;
	f.data.operation.data.memmove.flags = flags;
	masync__vdm_make(vdm, &f, VDM_OPERATION_MEMMOVE);
	return f;
}

static inline struct vdm_operation_future
vdm_memset(struct vdm *vdm, void *str, int c, size_t n, uint64_t flags)
{
	struct vdm_operation_future f;

	MASYNC__ZERO_AFTER(&f, struct vdm_operation_data_memset);
	masync__zero_bytes(f.data.operation.data.data + /* c's padding */
		offsetof(struct vdm_operation_data_memset, c) + sizeof(int),
		offsetof(struct vdm_operation_data_memset, n) -
		offsetof(struct vdm_operation_data_memset, c) - sizeof(int));
	f.data.operation.data.memset.str = str;
	f.data.operation.data.memset.c = c;
	f.data.operation.data.memset.n = n;
	f.data.operation.data.memset.flags = flags;
	masync__vdm_make(vdm, &f, VDM_OPERATION_MEMSET);
	return f;
}

/* Writes the range back from the CPU caches to memory (to the persistence
 * domain); with VDM_F_NO_CACHE_HINT the lines are also evicted. */
static inline struct vdm_operation_future
vdm_flush(struct vdm *vdm, void *dest, size_t n, uint64_t flags)
{
	struct vdm_operation_future f;

	MASYNC__ZERO_AFTER(&f, struct vdm_operation_data_flush);
	f.data.operation.data.flush.dest = dest;
	f.data.operation.data.flush.n = n;
	f.data.operation.data.flush.flags = flags;
	masync__vdm_make(vdm, &f, VDM_OPERATION_FLUSH);
	return f;
}

/* Extension: cancels an operation that has not started yet.
 * Returns
 *   0           cancelled: the future is now COMPLETE with output.result
 *               VDM_ERROR_CANCELLED (output.output zeroed); nothing was or
 *               will be written, and the mover's per-operation state and
 *               capacity are released;
 *   EINPROGRESS the operation has already started (or finished on the
 *               mover): it cannot be stopped; keep polling (waiting on) the
 *               future until it completes, as usual;
 *   EALREADY    the future is already complete (also one born complete by
 *               an error); nothing changes;
 *   EINVAL      fut is NULL, or has no mover (not made by a vdm_*
 *               function); nothing changes.
 * Cancelling is also how a future that will never be waited on is given
 * up: a created but never polled future holds mover capacity (one of
 * ringbuf_size, per-operation state) until it completes or is cancelled, and a
 * never-polled future is always cancelled (0).
 * Started, then dropped: an operation that started (EINPROGRESS) runs to
 * completion, but its per-operation state is released only by the poll
 * that sees it complete (the future may have moved, so the mover cannot
 * tell a dropped future from one polled later). A future dropped after it
 * started therefore keeps its state until the mover is deleted; once all
 * states are held (threads mover: ringbuf_size; DSA: its capacity)
 * creation reports VDM_ERROR_OUT_OF_MEMORY. Poll such a future once more after it
 * completed (runtime_wait, or a NULL-notifier poll) before dropping it.
 * Built-in movers (sync, threads, DSA; also a program's copy of a threads
 * mover's vdm that keeps its op_delete): an idle future, or a running one
 * still waiting in the mover's queue, is cancelled; the race with a worker
 * picking the operation up is resolved inside the mover, so exactly one of
 * "cancelled, nothing written" and EINPROGRESS holds; a waker an earlier
 * poll registered is dropped with it (the cancellation calls no waker:
 * the canceller knows; a call of it already running, e.g. a DSA kick, is
 * not waited for: the canceller may hold a lock that waker takes).
 * User-written movers
 * (struct vdm filled by the program): an idle future is cancelled by
 * releasing its state with op_delete (the operation never started; its
 * output is then overwritten); a running one gives EINPROGRESS.
 * Thread safety: any thread, but not at the same time as a poll of the
 * same future (one user of a future at a time); the mover's own threads may
 * run concurrently. */
/* private: hands a built-in mover's operation state back if the
 * operation did not start (also a program's copy of a threads mover's
 * vdm: the mover tells whether the operation is still queued, a running
 * future's or an idle one's that waited for room, started or ran). 0:
 * given back; 1: it started; -1: not a mover whose cancel is known. */
static inline int
masync__vdm_cancel_known(struct vdm_operation_data *data)
{
	const struct masync__vdm_ext *x = masync__ext_of(data->vdm);

	if (x != NULL && x->cancel != NULL)
		return x->cancel(data->data, &data->operation) != 0;
	if (data->vdm->op_delete == masync__thr_op_delete)
		return masync__thr_op_cancel(data->data, &data->operation) != 0;
	return -1;
}

static inline int
vdm_cancel(struct vdm_operation_future *fut)
{
	struct vdm_operation_data *data;
	struct vdm *vdm;
	int started;

	if (fut == NULL)
		return errno = EINVAL;
	if (fut->base.context.state == FUTURE_STATE_COMPLETE)
		return EALREADY;
	data = &fut->data;
	vdm = data->vdm;
	if (vdm == NULL) /* not made by vdm_memcpy & co. (zeroed) */
		return errno = EINVAL;
	if (data->data == NULL && MASYNC__BUILTIN(vdm->capabilities) &&
			fut->base.context.state == FUTURE_STATE_IDLE)
		started = 0; /* set IDLE again after its state went back */
	else
		started = masync__vdm_cancel_known(data);
	if (started < 0) { /* a program's mover: idle is not started */
		started = fut->base.context.state != FUTURE_STATE_IDLE;
		if (!started)
			vdm->op_delete(data->data, &data->operation,
				&fut->output);
	}
	if (started)
		return EINPROGRESS;
	data->data = NULL; /* the state is gone */
	masync__output_failed(&fut->output, data->operation.type,
		VDM_ERROR_CANCELLED);
	fut->base.context.state = FUTURE_STATE_COMPLETE;
	return 0;
}

/* A short description of a result ("success", "out of memory", ...);
 * never NULL, also for values this version does not know.
 * Thread safety: any thread (returns a string constant). */
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
/* The mover's vdm, valid until the mover is deleted; NULL with errno
 * EINVAL for a NULL mover. Thread safety: any thread. */
MINIASYNC_API struct vdm *data_mover_sync_get_vdm(struct data_mover_sync *dms);
/* Frees the mover (it holds no operations: its futures that completed
 * stay readable, unpolled ones must not be polled afterwards). NULL is
 * ignored. Thread safety: not concurrently with polls of its futures. */
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

/* Default worker count, 0: data_mover_threads_new(0, ...) starts one
 * worker per online CPU (at most 16). On the
 * 2-core guest it was tuned on, 2 workers copy 64 MiB faster than glibc's
 * memcpy in one thread (one worker is slower than memcpy), and run
 * 64 x 4 KiB batches as fast as an explicit 2-worker mover; the submitting
 * thread shares the cores with them. Figures: bench/RESULTS.md. */
#define DATA_MOVER_THREADS_DEFAULT_NTHREADS 0
/* Default capacity, in operations (the seed's 128: a batch of 64 never
 * waits for room, and more slots did not speed the batches up). */
#define DATA_MOVER_THREADS_DEFAULT_RINGBUF_SIZE 128

#ifndef MINIASYNC_NO_THREADS /* (a call is a compile error then) */
/* Starts `nthreads` workers (1..1024, or 0: see below) and a queue of
 * `ringbuf_size` operations (1..2^24; it need not be a power of two).
 * ringbuf_size bounds the operations in flight (at most 2^20): one is in
 * flight from its creation (vdm_memcpy & co.) until the poll that sees it
 * complete, its cancellation (vdm_cancel) or the mover's deletion; past
 * the bound, creating one gives a future born complete with
 * VDM_ERROR_OUT_OF_MEMORY, nothing done (it never blocks). Poll a future
 * to completion or cancel it before dropping it, or its slot stays taken.
 * Operations are queued when first polled. The queue can still be full
 * (the entry of an operation its poller ran itself stays there until a
 * worker pops it): one that finds it so waits, in order, on the mover's
 * wait list, and a worker that frees a slot moves it into the queue
 * itself, so no wake-up for room is needed (none can be lost). A poll
 * after the
 * first that finds the operation still queued runs it on the polling
 * thread (a split one: the chunks left), unless it uses a function given
 * with set_memcpy_fn & co., which only workers call. Where the caller and
 * the workers may use one and the same CPU only, no push wakes a worker
 * for such an operation: the first poll calls the runtime's waker
 * ("polling again makes progress"; for a program's waker, which only
 * workers call, it wakes a worker instead) and the next poll runs the
 * queued ones, in order.
 * The per-operation state comes from a pool of the mover (any thread may
 * poll a future, also after the thread that made it exited).
 * Operations of 2 MiB and more are split into chunks that the workers and
 * the polling thread run in parallel (together at most as many threads as
 * the CPUs the caller may run on; where caller and workers may use one
 * and the same CPU only, the caller's next poll runs such an operation
 * whole, without waking a worker, unless a program's waker waits for
 * it); once each one's share reaches
 * MINIASYNC_STREAM_MIN (4 x a core's L2) they are written with streaming
 * (cache-bypassing) stores, as libc's memcpy does for copies larger than
 * its caches. desired_notifier:
 * NONE, WAKER (called once, after the result is visible; its data may be on
 * the waiting thread's stack) or POLLER (a 64-bit word that changes on
 * completion). nthreads 0 (DATA_MOVER_THREADS_DEFAULT_NTHREADS) is one
 * per online CPU, at most 16. Returns NULL with errno EINVAL (nthreads
 * > 1024, ringbuf_size 0 or > 2^24, unknown notifier), ENOMEM, or EAGAIN
 * (a thread
 * could not be started). Thread safety: any thread.
 * fork(): a child has none of the workers of a mover made before the
 * fork. There it runs each operation not started yet in its first poll,
 * on the polling thread, as the sync mover does (a set_memcpy_fn function
 * too); one the parent had started completes at its next poll with
 * VDM_ERROR_NOT_SUPPORTED, its waker not called (a worker may have been
 * half way through it: its destination is undefined in the child);
 * data_mover_threads_delete() only frees memory. The child's operations
 * have the whole ringbuf_size, counted from 0 (the parent's futures, e.g.
 * other threads' the child never polls, do not use it up). A mover made in
 * the child has workers of its own. That takes a pthread_atfork() handler,
 * registered by the first threads or DSA mover: should that fail, this
 * and every later mover of either kind fails with ENOMEM. */
MINIASYNC_API struct data_mover_threads *data_mover_threads_new(
	size_t nthreads, size_t ringbuf_size,
	enum future_notifier_type desired_notifier);

/* One worker per online CPU (at most 16), 128 queue slots, WAKER. */
MINIASYNC_API struct data_mover_threads *data_mover_threads_default(void);

/* The mover's vdm, valid until the mover is deleted; NULL with errno
 * EINVAL for a NULL mover. Thread safety: any thread. */
MINIASYNC_API struct vdm *data_mover_threads_get_vdm(
	struct data_mover_threads *dmt);

/* Runs every operation a poll handed over to completion (queued ones and
 * ones still waiting for queue room; each waker is called), stops the
 * workers and frees the mover with every per-operation state (in a forked
 * child: only frees, see data_mover_threads_new). Futures of this mover
 * must not be polled afterwards. NULL is ignored. Called on one of dmt's
 * own workers (from a waker or a memcpy_fn it calls), where it would wait
 * for itself, or from a waker this delete calls, it does nothing but set
 * errno EDEADLK. Thread safety: not
 * concurrently with other calls on dmt or polls of its futures. */
MINIASYNC_API void data_mover_threads_delete(struct data_mover_threads *dmt);

/* Replace the functions the workers use. They receive the operation's
 * flags and are responsible for them. Set before submitting work: an
 * operation already started keeps the plan of its start, and where the
 * caller and the workers share one CPU it may be left queued for good
 * (not thread-safe with polls of the mover's futures either). Only
 * workers call them, so one that waits for another operation of the same
 * mover needs a free worker and queue room for it, or waits forever.
 * NULL restores the built-in kernel (with its checks of flags); a NULL
 * mover sets errno EINVAL. The same for memmove and memset below. */
MINIASYNC_API void data_mover_threads_set_memcpy_fn(
	struct data_mover_threads *dmt, memcpy_fn op_memcpy);
MINIASYNC_API void data_mover_threads_set_memmove_fn(
	struct data_mover_threads *dmt, memmove_fn op_memmove);
MINIASYNC_API void data_mover_threads_set_memset_fn(
	struct data_mover_threads *dmt, memset_fn op_memset);
#endif /* MINIASYNC_NO_THREADS */

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
	int numa_node;       /* node + 1 to prefer after the destination's;
	                      * 0 = the calling thread's node */
	size_t capacity;     /* operations that exist at once; 0 = 4096,
			      * at most 2^20 (more is taken as that) */
	enum future_notifier_type desired_notifier; /* NONE(0) = WAKER */
	size_t cpu_threshold; /* operations of fewer bytes run on the CPU;
	                       * 0 = 4096 (see THE DSA MOVER, top); 1 = every
	                       * non-empty operation goes to the device */
	uint64_t timeout_ns;  /* a descriptor unanswered this long fails the
	                       * operation with VDM_ERROR_TIMEOUT; 0 = 5 s */
	/* Node scale (device and wq NULL = every enabled user WQ the process
	 * may open, on every device; operations go to the least-loaded WQ on
	 * the destination's NUMA node, then the caller's, then any; see THE
	 * DSA MOVER at the top). */
	const char *wqs;      /* "wq0.0,wq2.1": only these WQs (each must
	                       * exist and fit); NULL = all. MINIASYNC_DSA_WQS
	                       * in the environment restricts further */
	unsigned batch_max;   /* operations coalesced into one batch
	                       * descriptor: 0 = 32 (SPDK's figure, a SPR
	                       * WQ's default max_batch_size), never more
	                       * than the WQ's max_batch_size; 1 = never */
	size_t batch_threshold; /* operations of at most this many bytes may
	                         * be coalesced; 0 = 64 KiB (above, the copy
	                         * costs more than the doorbell it saves) */
	size_t hybrid_threshold; /* operations of at least this many bytes are
	                          * split between the device and the CPU;
	                          * 0 = 2 MiB; SIZE_MAX = never */
	unsigned hybrid_cpu_permille; /* CPU share of a split operation
	                               * (1..999); 0 = measured, from 300 */
	struct vdm *cpu_vdm;  /* runs the CPU part of split operations (e.g. a
	                       * threads mover; must outlive this mover);
	                       * NULL = the polling thread */
	uint64_t reserved[2];
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
	DATA_MOVER_DSA_E_SYSTEM,      /* a system call failed (errno says
	                               * which error, the message where) */
};

/* Returns a mover on the enabled user WQs that fit, or NULL with errno
 * set and the reason in data_mover_dsa_last_error(). Thread safety: any
 * thread. */
MINIASYNC_API struct data_mover_dsa *data_mover_dsa_new(
	const struct data_mover_dsa_config *config);
/* data_mover_dsa_new(NULL): every enabled user WQ, the defaults above. */
MINIASYNC_API struct data_mover_dsa *data_mover_dsa_default(void);
/* The mover's vdm, valid until the mover is deleted; NULL with errno
 * EINVAL for a NULL mover. Thread safety: any thread. */
MINIASYNC_API struct vdm *data_mover_dsa_get_vdm(struct data_mover_dsa *dmd);
/* Finishes or fails what is in flight, waiting at most timeout_ns in all,
 * stops the monitor, closes the WQs and frees the mover (see THE DSA
 * MOVER, top; in a forked child it only frees memory). NULL is ignored.
 * Thread safety: not concurrently with other calls on dmd or polls of its
 * futures. */
MINIASYNC_API void data_mover_dsa_delete(struct data_mover_dsa *dmd);
/* Why the last data_mover_dsa_new() in this thread failed
 * (DATA_MOVER_DSA_OK after one that succeeded). Thread safety: any
 * thread (the value is the calling thread's). */
MINIASYNC_API enum data_mover_dsa_error data_mover_dsa_last_error(void);
/* A one-line explanation of the last failure in this thread. */
MINIASYNC_API const char *data_mover_dsa_last_error_str(void);

/* How a WQ takes descriptors (see THE DSA MOVER, top). */
enum data_mover_dsa_submit {
	DATA_MOVER_DSA_SUBMIT_MOVDIR64B, /* dedicated WQ, its portal */
	DATA_MOVER_DSA_SUBMIT_ENQCMD,    /* shared WQ, its portal */
	DATA_MOVER_DSA_SUBMIT_WRITE,     /* write() on the WQ's file */
};

/* data_mover_dsa_get_wq_info: one WQ a mover uses, and what the mover
 * did on it so far, so a program can tell which devices it opened and
 * whether operations reached them, coalesced or not. The counts are read
 * without stopping the mover (each is exact, the set may be mid-update). */
struct data_mover_dsa_wq_info {
	char device[32];        /* "dsa0" */
	char wq[32];            /* "wq0.0" */
	int numa_node;          /* the device's node, -1 unknown */
	int dedicated;          /* 1 dedicated WQ, 0 shared */
	enum data_mover_dsa_submit submit;
	unsigned size;          /* entries */
	unsigned max_batch;     /* batch descriptors of up to this many
	                         * members (< 2: none) */
	uint64_t max_transfer;  /* bytes per descriptor */
	uint64_t descriptors;   /* accepted by the WQ, batches included */
	uint64_t batches;       /* batch descriptors among them */
	uint64_t batch_members; /* descriptors in those batches */
	uint64_t refused;       /* submissions refused (ENQCMD retry, write()
	                         * EAGAIN): tried again later */
	uint64_t page_faults;   /* completion records reporting one */
	uint64_t bytes;         /* the transfer sizes of those descriptors
	                         * (batch members' included; a part
	                         * resubmitted after a fault counts again) */
	uint64_t reserved[3];
};

/* The number of WQs dmd uses (0 and errno EINVAL for NULL). */
MINIASYNC_API size_t data_mover_dsa_wq_count(struct data_mover_dsa *dmd);
/* Fills *info for WQ i (0 .. count - 1, best first); 0, or EINVAL (also
 * in errno) for a NULL mover or info, or i out of range. Thread safety:
 * any thread, while the mover is in use. */
MINIASYNC_API int data_mover_dsa_get_wq_info(struct data_mover_dsa *dmd,
	size_t i, struct data_mover_dsa_wq_info *info);

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
#if defined(MASYNC__API_GIVEN) && (defined(__GNUC__) || defined(__clang__))
/* MINIASYNC_API given as plain `static` (a private copy): the functions a
 * program does not call are no warning (MINIASYNC_STATIC says so itself) */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#endif

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

#if !defined(__cplusplus) && defined(__STDC_NO_THREADS__)
#error "miniasync.h's implementation needs C11 <threads.h>; this C library defines __STDC_NO_THREADS__ (glibc has it from 2.28)"
#endif
#include <errno.h>
#include <time.h>
#include <threads.h>
#include <unistd.h>
#if defined(__SANITIZE_THREAD__)
#define MASYNC__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MASYNC__TSAN 1
#endif
#endif
#include <pthread.h> /* pthread_atfork */
#if (defined(__x86_64__) || (defined(__i386__) && defined(__SSE2__))) && \
	!defined(MASYNC__TEST_GENERIC) /* tests: the portable paths */
#define MASYNC__X86 1
#include <cpuid.h>
#include <emmintrin.h>
#endif
#if (defined(__aarch64__) || defined(__powerpc64__)) && defined(MASYNC__WB) \
	&& defined(__linux__)
#include <sys/auxv.h> /* getauxval: HWCAP_DCPOP, AT_DCACHEBSIZE */
#endif
#ifdef MINIASYNC_DSA
#include <accel-config/libaccel_config.h>
#include <fcntl.h>
#include <linux/idxd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <dirent.h>
#include <pthread.h>
#include <sys/syscall.h>
#ifndef O_CLOEXEC
#define O_CLOEXEC 02000000
#endif
#ifndef MAP_POPULATE
#define MAP_POPULATE 0x8000
#endif
/* strict ISO C builds do not declare madvise() (a BSD name) */
extern int masync__madvise(void *addr, size_t len, int advice)
	__asm__("madvise");
#endif

#ifdef __cplusplus
extern "C++" { /* (also when a program includes this in extern "C") */
#include <atomic>
}
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
/* strong: callers read a failure as "someone else changed it" */
#define MASYNC__CAS(p, expp, v, mo)                                            \
	MASYNC__NS atomic_compare_exchange_strong_explicit(p, expp, v,         \
		MASYNC__MO(mo), MASYNC__MO(relaxed))
#define MASYNC__FENCE(mo) MASYNC__NS atomic_thread_fence(MASYNC__MO(mo))

#ifdef __cplusplus
#define MASYNC__THREAD_LOCAL thread_local
extern "C" {
#else
#define MASYNC__THREAD_LOCAL _Thread_local
#endif

/* helgrind and drd cannot see the ordering C11 atomics give. Defining
 * MINIASYNC_VALGRIND (needs the valgrind headers) annotates it:
 * MASYNC__HB(p) goes before a release that publishes data, MASYNC__HA(p)
 * after the acquire that saw it, and MASYNC__UNTRACKED(p, n) turns the
 * race checks off for words that are only ever accessed atomically. The
 * annotations cost a few instructions outside valgrind; without the
 * macro they are nothing. */
#ifdef MINIASYNC_VALGRIND
#include <valgrind/helgrind.h>
#define MASYNC__HB(p) ANNOTATE_HAPPENS_BEFORE(p)
#define MASYNC__HA(p) ANNOTATE_HAPPENS_AFTER(p)
#define MASYNC__UNTRACKED(p, n) VALGRIND_HG_DISABLE_CHECKING(p, n)
#else
#define MASYNC__HB(p) ((void)0)
#define MASYNC__HA(p) ((void)0)
#define MASYNC__UNTRACKED(p, n) ((void)0)
#endif

/* ======================================================================== */
/* >>cthreads — C11 threads, seen by ThreadSanitizer                         */
/* ======================================================================== */
/* glibc >= 2.34 implements <threads.h> with internal calls that bypass the
 * pthread interceptors of ThreadSanitizer: it then misses every lock and
 * crashes in threads it never saw start. Under TSan the same objects are
 * driven through pthreads (glibc's thrd_t, mtx_t and cnd_t are pthread's).
 * Threads are started through pthread_create also with MINIASYNC_VALGRIND:
 * valgrind 3.19's drd crashes in glibc's thrd_create (the sentinel
 * attribute pointer it passes to pthread_create). */
#if defined(MASYNC__TSAN) || defined(MINIASYNC_VALGRIND)
/* On the creator's stack, which waits until the thread has read it: no
 * allocation that the new thread frees, which a fork before it ran would
 * leave the child to hold for good. The flag is the thread's last touch
 * of it (a mutex there would be destroyed while the thread's unlock may
 * still read it: helgrind says so). The helgrind and drd annotation is on
 * a static tag, not on the flag: drd never forgets an annotated address,
 * and its own pthread_create puts a mutex on that stack later ("not a
 * mutex"). */
struct masync__tramp {
	thrd_start_t fn;
	void *arg;
	MASYNC__A(int) taken;
};

static inline void *
masync__tramp_tag(void)
{
	static char tag;

	return &tag;
}

static inline void *
masync__tramp_run(void *p)
{
	struct masync__tramp *tr = (struct masync__tramp *)p;
	thrd_start_t fn = tr->fn;
	void *arg = tr->arg;
	int r;

	MASYNC__HB(masync__tramp_tag());
	MASYNC__STORE(&tr->taken, 1, release); /* tr is not touched after */
	r = fn(arg);
	return (void *)(intptr_t)r;
}

/* (inline: no warning where nothing starts a thread, e.g. with
 * MINIASYNC_NO_THREADS and no DSA) */
static inline int
masync__thrd_create(thrd_t *t, thrd_start_t fn, void *arg)
{
	struct masync__tramp tr;
	int rc;

	tr.fn = fn;
	tr.arg = arg;
	MASYNC__INIT(&tr.taken, 0);
	MASYNC__UNTRACKED(&tr.taken, sizeof(tr.taken));
	rc = pthread_create((pthread_t *)(void *)t, NULL, masync__tramp_run,
		&tr);
	if (rc != 0)
		return rc == ENOMEM ? thrd_nomem : thrd_error;
	while (!MASYNC__LOAD(&tr.taken, acquire))
		thrd_yield();
	MASYNC__HA(masync__tramp_tag());
	return thrd_success;
}
#else
#define masync__thrd_create thrd_create
#endif
#ifdef MASYNC__TSAN
#define MASYNC__PT_RET(x) ((x) == 0 ? thrd_success : thrd_error)
#define MASYNC__PT_MTX(m) ((pthread_mutex_t *)(void *)(m))
#define MASYNC__PT_CND(c) ((pthread_cond_t *)(void *)(c))
static inline int masync__thrd_join(thrd_t t, int *res)
{ (void)res; return MASYNC__PT_RET(pthread_join((pthread_t)t, NULL)); }
static inline int masync__mtx_init(mtx_t *m, int type)
{ (void)type; return MASYNC__PT_RET(pthread_mutex_init(MASYNC__PT_MTX(m), NULL)); }
static inline int masync__mtx_lock(mtx_t *m)
{ return MASYNC__PT_RET(pthread_mutex_lock(MASYNC__PT_MTX(m))); }
static inline int masync__mtx_unlock(mtx_t *m)
{ return MASYNC__PT_RET(pthread_mutex_unlock(MASYNC__PT_MTX(m))); }
static inline int masync__mtx_trylock(mtx_t *m)
{ return pthread_mutex_trylock(MASYNC__PT_MTX(m)) == 0 ? thrd_success : thrd_busy; }
static inline void masync__mtx_destroy(mtx_t *m)
{ pthread_mutex_destroy(MASYNC__PT_MTX(m)); }
static inline int masync__cnd_init(cnd_t *c)
{ return MASYNC__PT_RET(pthread_cond_init(MASYNC__PT_CND(c), NULL)); }
static inline int masync__cnd_signal(cnd_t *c)
{ return MASYNC__PT_RET(pthread_cond_signal(MASYNC__PT_CND(c))); }
static inline int masync__cnd_broadcast(cnd_t *c)
{ return MASYNC__PT_RET(pthread_cond_broadcast(MASYNC__PT_CND(c))); }
static inline int masync__cnd_wait(cnd_t *c, mtx_t *m)
{ return MASYNC__PT_RET(pthread_cond_wait(MASYNC__PT_CND(c), MASYNC__PT_MTX(m))); }
static inline int masync__cnd_timedwait(cnd_t *c, mtx_t *m, const struct timespec *ts)
{ return MASYNC__PT_RET(pthread_cond_timedwait(MASYNC__PT_CND(c), MASYNC__PT_MTX(m), ts)); }
static inline void masync__cnd_destroy(cnd_t *c)
{ pthread_cond_destroy(MASYNC__PT_CND(c)); }
static inline void masync__call_once(once_flag *f, void (*fn)(void))
{ pthread_once((pthread_once_t *)(void *)f, fn); }
#else
#define masync__thrd_join thrd_join
#define masync__mtx_init mtx_init
#define masync__mtx_lock mtx_lock
#define masync__mtx_unlock mtx_unlock
#define masync__mtx_trylock mtx_trylock
#define masync__mtx_destroy mtx_destroy
#define masync__cnd_init cnd_init
#define masync__cnd_signal cnd_signal
#define masync__cnd_broadcast cnd_broadcast
#define masync__cnd_wait cnd_wait
#define masync__cnd_timedwait cnd_timedwait
#define masync__cnd_destroy cnd_destroy
#define masync__call_once call_once
#endif

/* errno for a thread masync__thrd_create did not start: no memory, or a
 * limit (EAGAIN, as pthread_create says) */
static inline int
masync__thrd_errno(int rc)
{
	return rc == thrd_nomem ? ENOMEM : EAGAIN;
}

/* Forks this process's line has seen, counted in each child by a
 * pthread_atfork handler (registered by the first threads or DSA mover).
 * A mover made before a fork has no workers, monitor or device in the
 * child, and its locks may be held there by threads that do not exist:
 * each mover keeps the count it was made at (in its pool) and compares. */
static MASYNC__A(unsigned) masync__forks;
static once_flag masync__fork_once = ONCE_FLAG_INIT;
/* 0, or the errno of a failed registration (ENOMEM): then no threads or
 * DSA mover can be made in this process, as a child could not tell the
 * parent's workers and portals from its own (written once, in the once) */
static int masync__fork_err;
#ifndef MASYNC__PTHREAD_ATFORK /* tests: a registration that fails */
#define MASYNC__PTHREAD_ATFORK pthread_atfork
#endif

#ifdef MINIASYNC_DSA
static int masync__dsa_atfork_init(void);
static void masync__dsa_atfork_child(void);
#endif

static inline void
masync__atfork_child(void)
{
	MASYNC__FADD(&masync__forks, 1, relaxed);
#ifdef MINIASYNC_DSA
	masync__dsa_atfork_child();
#endif
}

static inline void
masync__atfork_init(void)
{
#ifdef MINIASYNC_DSA
	masync__fork_err = masync__dsa_atfork_init(); /* + the DSA lock */
#else
	masync__fork_err = MASYNC__PTHREAD_ATFORK(NULL, NULL,
		masync__atfork_child);
#endif
}

/* the count a new mover keeps, in *gen; 0, or the errno of a failed
 * registration of the fork handlers (the mover must not be made) */
static inline int
masync__fork_gen(unsigned *gen)
{
	masync__call_once(&masync__fork_once, masync__atfork_init);
	*gen = MASYNC__LOAD(&masync__forks, relaxed);
	return masync__fork_err;
}

/* non-zero in a child forked after masync__fork_gen() returned gen */
static inline int
masync__forked_since(unsigned gen)
{
	return MASYNC__LOAD(&masync__forks, relaxed) != gen;
}

/* A mover's operations in flight in a process forked since it was made:
 * *w = generation << 32 | count. Counts one made in generation g (the
 * current one); -1 at cap. The first one of a generation starts the count
 * from 0: the parent's operations stay with the parent (the child may
 * never poll them, e.g. other threads'). */
static inline int
masync__fork_count(MASYNC__A(uint64_t) *w, size_t cap, unsigned g)
{
	uint64_t v = MASYNC__LOAD(w, relaxed), nv;

	do {
		uint64_t n = (unsigned)(v >> 32) == g ? (uint32_t)v : 0;

		if (n >= cap)
			return -1;
		nv = (uint64_t)g << 32 | (n + 1);
	} while (!MASYNC__CAS(w, &v, nv, relaxed));
	return 0;
}

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

/* Linux: the runtime naps on a futex, whose relative timeout runs on the
 * monotonic clock. Strict ISO C builds (-std=c11, no feature macros)
 * declare neither syscall() nor clock_gettime(); the symbols are there. */
#if defined(__linux__)
#include <sys/syscall.h>
/* libc's syscall() and sched_getcpu() (which reads the kernel's rseq area
 * or the vDSO, no system call): the futex, the threads mover's placement
 * and the DSA mover's NUMA lookups use them */
extern long masync__syscall(long nr, ...) __asm__("syscall");
extern int masync__sched_getcpu(void) __asm__("sched_getcpu");
#endif
#if defined(__linux__) && !defined(MASYNC__TEST_NO_FUTEX)
#if defined(SYS_futex)
#define MASYNC__FUTEX 1
/* the kernel's futex ABI, fixed since 2.6.22: spelled out here so the
 * header needs no kernel headers (musl toolchains often have none) */
#define MASYNC__FUTEX_WAIT_PRIVATE 128L
#define MASYNC__FUTEX_WAKE_PRIVATE 129L
/* SYS_futex takes the kernel's old timespec, two longs (x32: 64-bit
 * fields), not libc's: a 32-bit program built with _TIME_BITS=64 (Debian
 * 13's armhf default) has a wider struct timespec, which the kernel would
 * read as a zero timeout, and the runtime would spin */
struct masync__futex_ts {
#if defined(__x86_64__) && defined(__ILP32__)
	long long tv_sec, tv_nsec;
#else
	long tv_sec, tv_nsec;
#endif
};
#endif
#if !defined(CLOCK_MONOTONIC)
extern int masync__clock_gettime(int clk, struct timespec *ts)
	__asm__("clock_gettime");
#endif
#endif

static uint64_t
masync__now_ns(void)
{
	struct timespec ts;

#ifdef CLOCK_MONOTONIC
	clock_gettime(CLOCK_MONOTONIC, &ts);
#elif defined(__linux__) && !defined(MASYNC__TEST_NO_FUTEX)
	masync__clock_gettime(1 /* CLOCK_MONOTONIC */, &ts);
#else
	/* no POSIX clocks: the wall clock is the only one there is */
	timespec_get(&ts, TIME_UTC);
#endif
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#ifdef MASYNC__TEST_HOOKS
/* tests: a clock read instead of the coarse one (NULL: the real one) */
typedef uint64_t (*masync__clock_fn)(void);
static MASYNC__A(masync__clock_fn) masync__test_clock;
/* tests: the real coarse clock seen in steps of this many ns, plus _odd
 * (0 or 1); 0: as it is. Set before any thread starts. */
static uint64_t masync__test_clock_step, masync__test_clock_odd;
#endif

/* For timeouts of milliseconds and more: CLOCK_MONOTONIC_COARSE costs a
 * few ns where CLOCK_MONOTONIC costs ~90 ns on some VMs. Tests set
 * masync__test_clock_step (and _odd) to see it tick in such steps, always
 * even or always odd, whatever the machine's clock does. */
static inline uint64_t
masync__coarse_ns(void)
{
	uint64_t t;
#ifdef CLOCK_MONOTONIC_COARSE
	struct timespec ts;
#endif

#ifdef MASYNC__TEST_HOOKS
	masync__clock_fn fn = MASYNC__LOAD(&masync__test_clock, acquire);

	if (fn != NULL)
		return fn();
#endif
#ifdef CLOCK_MONOTONIC_COARSE
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	t = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
#else
	t = masync__now_ns();
#endif
#ifdef MASYNC__TEST_HOOKS
	if (masync__test_clock_step != 0)
		t = t / masync__test_clock_step * masync__test_clock_step +
			masync__test_clock_odd;
#endif
	return t;
}

#ifndef MASYNC__FUTEX
/* absolute TIME_UTC deadline `ns` from now, for cnd_timedwait (where
 * there is no futex: a wall clock stepped back stretches the nap) */
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
#endif

static inline size_t
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
#define MASYNC__CPU_AMD 0x80u /* AMD or Hygon */
#define MASYNC__CPU_ERMS 0x100u
#define MASYNC__CPU_FSRM 0x200u

#if defined(MASYNC__X86) || defined(MINIASYNC_DSA)
static MASYNC__A(unsigned) masync__cpu_bits;
#ifdef MASYNC__X86
static MASYNC__A(size_t) masync__cpu_l2_bytes; /* 0: unknown */
#endif

static unsigned
masync__cpu(void)
{
	unsigned bits = MASYNC__LOAD(&masync__cpu_bits, acquire);

	if (bits == 0) {
		bits = MASYNC__CPU_KNOWN;
#ifdef MASYNC__X86
		{
			unsigned a, b, c, d;

			if (__get_cpuid(1, &a, &b, &c, &d) && (d & (1u << 26)))
				bits |= MASYNC__CPU_SSE2;
			/* vendor: "AuthenticAMD" / "HygonGenuine" */
			__cpuid(0, a, b, c, d);
			if ((b == 0x68747541u && d == 0x69746e65u) ||
					(b == 0x6f677948u && d == 0x6e65476eu))
				bits |= MASYNC__CPU_AMD;
			/* L2 per core in KiB, on Intel and AMD alike */
			if ((unsigned)__get_cpuid_max(0x80000000u, NULL) >=
					0x80000006u) {
				__cpuid(0x80000006u, a, b, c, d);
				MASYNC__STORE(&masync__cpu_l2_bytes,
					(size_t)(c >> 16) << 10, relaxed);
			}
			if (__get_cpuid_max(0, NULL) >= 7) {
				__cpuid_count(7, 0, a, b, c, d);
				if (b & (1u << 9))
					bits |= MASYNC__CPU_ERMS;
				if (d & (1u << 4))
					bits |= MASYNC__CPU_FSRM;
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
		/* racing first calls compute the same value; release: the L2
		 * size is visible to whoever sees the bits */
		MASYNC__STORE(&masync__cpu_bits, bits, release);
	}
	return bits;
}

#ifdef MASYNC__X86
/* a core's L2 in bytes, 0 if CPUID does not say */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((unused)) /* by the threads mover only */
#endif
static size_t
masync__cpu_l2(void)
{
	(void)masync__cpu();
	return MASYNC__LOAD(&masync__cpu_l2_bytes, relaxed);
}
#endif
#endif

/* Write back [p, p+n) with the best instruction the CPU has; `evict`
 * prefers an instruction that also drops the lines. Ends with a fence.
 * Test hooks (tests/compat_durable.c defines them before the
 * implementation): each 64-byte line written back, each range written
 * with streaming stores, and each fence that makes them durable. */
#ifndef MASYNC__TEST_WRITEBACK
#define MASYNC__TEST_WRITEBACK(line) ((void)0)
#endif
#ifndef MASYNC__TEST_STREAMED
#define MASYNC__TEST_STREAMED(p, n) ((void)0)
#endif
#ifndef MASYNC__TEST_FENCE
#define MASYNC__TEST_FENCE() ((void)0)
#endif

#if defined(__aarch64__) && defined(MASYNC__WB)
static MASYNC__A(unsigned) masync__a64_bits; /* 0: not read yet */

/* Read once: 1 | DC CVAP exists (HWCAP_DCPOP) << 1 | the data cache's
 * smallest line, CTR_EL0.DminLine (log2 of its 4-byte words) << 4. */
static unsigned
masync__a64_read(void)
{
	unsigned bits = MASYNC__LOAD(&masync__a64_bits, relaxed);

	if (bits == 0) {
		uint64_t ctr;

		__asm__ __volatile__("mrs %0, ctr_el0" : "=r"(ctr));
		bits = 1u | (unsigned)((ctr >> 16) & 0xfu) << 4;
#if defined(__linux__)
		if (getauxval(AT_HWCAP) & (1ul << 16)) /* HWCAP_DCPOP */
			bits |= 2u;
#endif
		MASYNC__STORE(&masync__a64_bits, bits, relaxed);
	}
	return bits;
}
#endif

#if defined(__powerpc64__) && defined(MASYNC__WB)
static MASYNC__A(size_t) masync__ppc_block; /* 0: not read yet */

/* The data cache block, from the kernel (AT_DCACHEBSIZE: 128 on POWER7
 * to POWER10); 32, the smallest any PowerPC has, when it does not say:
 * a smaller step than the block only repeats a write-back. */
static size_t
masync__ppc_line(void)
{
	size_t b = MASYNC__LOAD(&masync__ppc_block, relaxed);

	if (b == 0) {
#if defined(__linux__)
		b = (size_t)getauxval(AT_DCACHEBSIZE);
#endif
		if (b < 32 || b > 4096 || (b & (b - 1)) != 0)
			b = 32;
		MASYNC__STORE(&masync__ppc_block, b, relaxed);
	}
	return b;
}
#endif

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
		for (; a < end; a += MASYNC__CACHELINE) {
			__asm__ __volatile__("clwb %0"
				: "+m"(*(volatile char *)a));
			MASYNC__TEST_WRITEBACK(a);
		}
	} else if (cpu & MASYNC__CPU_CLFLUSHOPT) {
		for (; a < end; a += MASYNC__CACHELINE) {
			__asm__ __volatile__("clflushopt %0"
				: "+m"(*(volatile char *)a));
			MASYNC__TEST_WRITEBACK(a);
		}
	} else {
		for (; a < end; a += MASYNC__CACHELINE) {
			__asm__ __volatile__("clflush %0"
				: "+m"(*(volatile char *)a));
			MASYNC__TEST_WRITEBACK(a);
		}
	}
	__asm__ __volatile__("sfence" ::: "memory");
	MASYNC__TEST_FENCE();
#elif defined(__aarch64__) && defined(MASYNC__WB)
	unsigned bits = masync__a64_read();
	uintptr_t line = (uintptr_t)4 << (bits >> 4), a, end = (uintptr_t)p + n;
	int pop = (bits & 2u) != 0;

	if (n == 0)
		return;
	for (a = (uintptr_t)p & ~(line - 1); a < end; a += line) {
		uintptr_t t;

		if (pop) /* DC CVAP: to the point of persistence (ARMv8.2) */
			__asm__ __volatile__("sys #3, c7, c12, #1, %0"
				: : "r"(a) : "memory");
		else if (evict)
			__asm__ __volatile__("dc civac, %0" : : "r"(a)
				: "memory");
		else
			__asm__ __volatile__("dc cvac, %0" : : "r"(a)
				: "memory");
		for (t = a; t < a + line; t += 64)
			MASYNC__TEST_WRITEBACK(t);
	}
	/* DSB, not DMB: the maintenance has completed when it returns */
	__asm__ __volatile__("dsb sy" ::: "memory");
	MASYNC__TEST_FENCE();
#elif defined(__powerpc64__) && defined(MASYNC__WB)
	uintptr_t line = masync__ppc_line(), a, end = (uintptr_t)p + n;

	if (n == 0)
		return;
	for (a = (uintptr_t)p & ~(line - 1); a < end; a += line) {
		uintptr_t t;

		/* dcbst: to memory, the line stays cached; dcbf drops it */
		if (evict)
			__asm__ __volatile__("dcbf 0,%0" : : "r"(a) : "memory");
		else
			__asm__ __volatile__("dcbst 0,%0" : : "r"(a)
				: "memory");
		for (t = a; t < a + line; t += 64)
			MASYNC__TEST_WRITEBACK(t);
	}
	/* sync (hwsync): the stores are done when it completes */
	__asm__ __volatile__("sync" ::: "memory");
	MASYNC__TEST_FENCE();
#else
	(void)p;
	(void)n;
	(void)evict;
	MASYNC__FENCE(seq_cst); /* unreachable for built-in movers: !WB */
#endif
}

#ifdef MASYNC__X86
#define MASYNC__NT_PAGE 4096u

/* One 64-byte line, d aligned, with streaming stores. */
static inline void
masync__nt_line(unsigned char *d, const unsigned char *s)
{
	__m128i x0 = _mm_loadu_si128((const __m128i *)(const void *)s);
	__m128i x1 = _mm_loadu_si128((const __m128i *)(const void *)(s + 16));
	__m128i x2 = _mm_loadu_si128((const __m128i *)(const void *)(s + 32));
	__m128i x3 = _mm_loadu_si128((const __m128i *)(const void *)(s + 48));

	_mm_stream_si128((__m128i *)(void *)d, x0);
	_mm_stream_si128((__m128i *)(void *)(d + 16), x1);
	_mm_stream_si128((__m128i *)(void *)(d + 32), x2);
	_mm_stream_si128((__m128i *)(void *)(d + 48), x3);
}

/* Four 4 KiB streams interleaved a line at a time, as glibc's
 * large_memcpy_4x does: one line per stream per step keeps more DRAM pages
 * open. Returns where it stopped. Measured on an Intel-hosted 2-core guest
 * (64 MiB, 2 MiB chunks): one thread 1.08x glibc memcpy instead of 0.81x
 * with the linear loop; two threads 2.0x instead of 1.5x. */
static size_t
masync__nt_copy_4x(unsigned char *d, const unsigned char *s, size_t i,
	size_t n)
{
	for (; i + 4 * MASYNC__NT_PAGE <= n; i += 4 * MASYNC__NT_PAGE) {
		size_t j;

		for (j = i; j < i + MASYNC__NT_PAGE; j += MASYNC__CACHELINE) {
			masync__nt_line(d + j, s + j);
			masync__nt_line(d + j + MASYNC__NT_PAGE,
				s + j + MASYNC__NT_PAGE);
			masync__nt_line(d + j + 2 * MASYNC__NT_PAGE,
				s + j + 2 * MASYNC__NT_PAGE);
			masync__nt_line(d + j + 3 * MASYNC__NT_PAGE,
				s + j + 3 * MASYNC__NT_PAGE);
		}
	}
	return i;
}

/* Streaming (non-temporal) stores for the 64-byte-aligned middle; the
 * unaligned head and tail go through the cache. Returns the middle's
 * bounds so a durable caller only has to flush head and tail. The middle
 * is copied linearly on AMD (Zen 5, two threads: 2.1x glibc memcpy of
 * 64 MiB linear, 1.8-1.9x interleaved) and interleaved elsewhere. */
static void
masync__nt_copy(unsigned char *d, const unsigned char *s, size_t n,
	size_t *mid_lo, size_t *mid_hi)
{
	size_t head = (size_t)(-(uintptr_t)d & (MASYNC__CACHELINE - 1));
	size_t i;

	if (head > n)
		head = n;
	memcpy(d, s, head);
	i = (masync__cpu() & MASYNC__CPU_AMD) ? head :
		masync__nt_copy_4x(d, s, head, n);
	for (; i + MASYNC__CACHELINE <= n; i += MASYNC__CACHELINE)
		masync__nt_line(d + i, s + i);
	*mid_lo = head;
	*mid_hi = i;
	memcpy(d + i, s + i, n - i);
	MASYNC__TEST_STREAMED(d + head, i - head);
	_mm_sfence();
	MASYNC__TEST_FENCE();
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
	MASYNC__TEST_STREAMED(d + head, i - head);
	_mm_sfence();
	MASYNC__TEST_FENCE();
}

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
#endif

/* unused in a portable build without threads mover */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((unused))
#endif
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

			masync__nt_copy((unsigned char *)dst,
				(const unsigned char *)src, n, &lo, &hi);
			if (durable)
				masync__durable_edges((unsigned char *)dst, n,
					lo, hi);
			return;
		}
#endif
		memmove(dst, src, n);
		break;
	case VDM_OPERATION_MEMSET:
#ifdef MASYNC__X86
		if (nt) {
			size_t lo, hi;

			masync__nt_set((unsigned char *)dst, c, n, &lo, &hi);
			if (durable)
				masync__durable_edges((unsigned char *)dst, n,
					lo, hi);
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

/* the sync mover runs its operations on a shorter path (>>sync) */
static MASYNC__FORCE_INLINE int masync__sync_intact(const struct vdm *vdm);
static MASYNC__FORCE_INLINE enum future_state masync__sync_run(
	struct vdm_operation_future *f, struct future_notifier *n);

/* the poll of a future vdm_memcpy & co. made (never a NULL mover), in
 * one place: a mover's ext poll falls back on it too */
static MASYNC__NOINLINE enum future_state
masync__vdm_operation_made(struct future_context *context,
	struct future_notifier *n)
{
	return masync__vdm_operation(context, n, 0);
}

/* kept out of masync__vdm_task, whose sync path then needs no registers
 * saved */
static MASYNC__NOINLINE enum future_state
masync__vdm_task_generic(struct future_context *context,
	struct future_notifier *n)
{
	struct vdm_operation_future *f = (struct vdm_operation_future *)
		(void *)((char *)context - offsetof(struct future, context));
	const struct masync__vdm_ext *x;

	if (context->state == FUTURE_STATE_RUNNING &&
			(x = masync__ext_of(f->data.vdm)) != NULL &&
			x->poll != NULL)
		return x->poll(f, n);
	return masync__vdm_operation_made(context, n);
}

MINIASYNC_API enum future_state
masync__vdm_task(struct future_context *context, struct future_notifier *n)
{
	/* only vdm_memcpy & co. set this task: the future is a whole
	 * struct vdm_operation_future */
	struct vdm_operation_future *f = (struct vdm_operation_future *)
		(void *)((char *)context - offsetof(struct future, context));

	if (MASYNC__LIKELY(context->state == FUTURE_STATE_IDLE &&
			masync__sync_intact(f->data.vdm)))
		return masync__sync_run(f, n);
	return masync__vdm_task_generic(context, n);
}

/* The entries an error-aware chain will not run hold their movers'
 * capacity until given up: each vdm future made and never polled is
 * cancelled (VDM_ERROR_CANCELLED), also in a nested error-aware chain
 * never polled. Both are told by their tasks, which have one definition;
 * a plain chain's task (static inline, as in libminiasync) has one per
 * translation unit, so a nested plain chain is not looked into. A lazy
 * entry not built yet ends the walk (the size of its future, and so where
 * the next entry is, is not known). */
MINIASYNC_API void
masync__chain_give_up(struct future_context *ctx, struct future_chain_entry *e)
{
	uint8_t *data = (uint8_t *)future_context_get_data(ctx);
	size_t used = (size_t)((uint8_t *)e - data);

	for (; e != NULL && e->init == NULL;
			e = masync__chain_after(ctx, e, data, &used)) {
		struct future *f = &e->future;

		if (f->context.state != FUTURE_STATE_IDLE)
			continue;
		if (f->task == masync__vdm_task)
			(void)vdm_cancel((struct vdm_operation_future *)
				(void *)f);
		else if (f->task == masync__chain_stop_task &&
				f->context.data_size >=
				sizeof(struct future_chain_entry))
			masync__chain_give_up(&f->context,
				(struct future_chain_entry *)
				future_context_get_data(&f->context));
	}
}

/* A map that skips the next entry sets its state COMPLETE, as
 * libminiasync's hashmap example does for a vdm memcpy it does not need.
 * Such a future is never polled: a built-in mover's operation state goes
 * back to it here (the output stays as the program left it), else each
 * skipped one held a slot of the mover's bound for good (the threads
 * mover's 128 by default: then every copy is born out of memory). A
 * program's mover is left alone: whether its operation started is its
 * own to know. */
MINIASYNC_API void
masync__vdm_skipped(struct future *fut)
{
	struct vdm_operation_data *data =
		&((struct vdm_operation_future *)(void *)fut)->data;

	if (data->data == NULL || data->vdm == NULL)
		return; /* ran (its state is gone), or made for no mover */
	if (masync__vdm_cancel_known(data) == 0)
		data->data = NULL;
}

MINIASYNC_API enum future_state
masync__chain_stop_task(struct future_context *ctx,
	struct future_notifier *notifier)
{
	return masync__chain_poll(ctx, notifier, 1);
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
/* `word` is 0 while pending and has MASYNC__S_DONE once complete; it is
 * the word a POLLER watches (which then only ever sees 0 and DONE). The
 * waker is guarded by the LOCK bit, held only for a few instructions and
 * never across a call: wakers may take locks, poll any future (their own
 * too) and create operations. The WAKER bit says a waker is registered
 * and not called yet; each call takes it (clears the bit) and counts
 * itself in the CALL bits while it runs. A poller sees completion only
 * once DONE is set and no call is running (or when the only call running
 * is the poller's own thread's, i.e. a waker polling its future), so a
 * waker's data, which may be on the waiting thread's stack, is never
 * touched after the waiter went on. A waker registered while a completion
 * call runs is called when that call returns. Dropping the waker (a NULL
 * notifier) waits for a call of it that is running in another thread,
 * unless the drop is made inside a waker call.
 * `waker` itself is written only by registration (the owner of the
 * future), so a poll that finds the very same waker still registered, or
 * nothing to drop, needs no lock. */
#define MASYNC__S_DONE 1u /* 1 as libminiasync's POLLER word read when done */
#define MASYNC__S_LOCK 2u
#define MASYNC__S_WAKER 4u
#define MASYNC__S_CALL 8u /* one call running; the bits above count them */
#define MASYNC__S_CALLS (~(uint64_t)7)
#define MASYNC__S_WAIT_SPINS 128u /* a poll waits this long for a call */

/* tests: a point where losing the CPU matters (a hand-off between threads
 * is half made); a test build makes it yield or sleep at random
 * (tests/test_chaos.h): load preempts a thread there only now and then */
#ifndef MASYNC__TEST_PREEMPT
#define MASYNC__TEST_PREEMPT() ((void)0)
#endif
/* tests: a signal's waker (a const struct future_waker *) is about to be
 * called, no lock held */
#ifndef MASYNC__TEST_BEFORE_WAKE
#define MASYNC__TEST_BEFORE_WAKE(k) ((void)0)
#endif

struct masync__signal {
	MASYNC__A(uint64_t) word;
	struct future_waker waker;
};

static inline void
masync__signal_reset(struct masync__signal *s)
{
	MASYNC__STORE(&s->word, 0, relaxed);
	s->waker.wake = NULL;
	s->waker.data = NULL;
}

static inline void
masync__spin_pause(unsigned *spins)
{
	if (++*spins < 64)
		MASYNC__PAUSE();
	else
		thrd_yield();
}

static inline uint64_t
masync__signal_lock(struct masync__signal *s)
{
	unsigned spins = 0;
	uint64_t w = MASYNC__LOAD(&s->word, relaxed);

	for (;;) {
		if (!(w & MASYNC__S_LOCK)) {
			if (MASYNC__CAS(&s->word, &w, w | MASYNC__S_LOCK,
					acquire)) {
				MASYNC__HA(s);
				return w;
			}
		} else {
			masync__spin_pause(&spins);
			w = MASYNC__LOAD(&s->word, relaxed);
		}
	}
}

/* Releases the lock, leaving `w` (without the LOCK bit) in the word. */
static void
masync__signal_unlock(struct masync__signal *s, uint64_t w)
{
	MASYNC__HB(s);
	MASYNC__STORE(&s->word, w, release);
}

/* masync__signal_reset for a signal another thread may still hold locked
 * (the DSA monitor's kick from the state's last life): under the lock, or
 * that unlock would write back the word it read, over the new waker. */
static inline void
masync__signal_reset_shared(struct masync__signal *s)
{
	uint64_t w = masync__signal_lock(s);

	s->waker.wake = NULL;
	s->waker.data = NULL;
	masync__signal_unlock(s, w &
		~(uint64_t)(MASYNC__S_WAKER | MASYNC__S_DONE));
}

/* Counts a call of k begun under a signal's lock (delta 1) and its end
 * (delta -1) when k is a runtime's waker: see struct runtime. */
static inline void masync__waker_pin(const struct future_waker *k,
	int delta);

/* The signals whose wakers this thread is calling (innermost first). */
struct masync__calling {
	const struct masync__signal *s;
	struct masync__calling *up;
};

static MASYNC__THREAD_LOCAL struct masync__calling *masync__calling_top;

/* Non-zero when the calls counted in `w` are all this thread's. */
static inline int
masync__signal_own_calls(const struct masync__signal *s, uint64_t w)
{
	const struct masync__calling *c;
	uint64_t mine = 0;

	for (c = masync__calling_top; c != NULL; c = c->up)
		if (c->s == s)
			mine += MASYNC__S_CALL;
	return (w & MASYNC__S_CALLS) == mine;
}

/* Non-zero once complete with no call running (see above). Waits only for
 * the LOCK bit, which is never held across a call. */
static inline int
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
	if ((w & MASYNC__S_CALLS) != 0 && !masync__signal_own_calls(s, w)) {
		/* a completion call runs (the waiter it woke may be us): it
		 * usually returns in a moment; if not (its waker waits for
		 * something this thread holds), report "not yet": the end of
		 * that call calls the waker registered now */
		for (spins = 0; spins < MASYNC__S_WAIT_SPINS &&
				(w & (MASYNC__S_CALLS | MASYNC__S_LOCK)) != 0;
				w = MASYNC__LOAD(&s->word, acquire))
			masync__spin_pause(&spins);
		if ((w & (MASYNC__S_CALLS | MASYNC__S_LOCK)) != 0)
			return 0;
	}
	MASYNC__HA(s);
	return 1;
}

/* Waits until no call of the signal's waker runs in another thread. */
static void
masync__signal_wait_calls(struct masync__signal *s)
{
	unsigned spins = 0;
	uint64_t w = MASYNC__LOAD(&s->word, acquire);

	while ((w & (MASYNC__S_CALLS | MASYNC__S_LOCK)) != 0 &&
			!((w & MASYNC__S_LOCK) == 0 &&
			masync__signal_own_calls(s, w))) {
		masync__spin_pause(&spins);
		w = MASYNC__LOAD(&s->word, acquire);
	}
	MASYNC__HA(s);
}

/* Hands the poller's notifier to the operation. Returns non-zero when the
 * operation is complete (as masync__signal_done; nothing registered). A
 * NULL notifier (or one with no wake function) drops an earlier waker:
 * when this returns, that waker is neither running nor will be called. */
static inline int
masync__signal_register(struct masync__signal *s, struct future_notifier *n,
	enum future_notifier_type mode, uint64_t *poll_word)
{
	uint64_t w;
	int done, drop = n == NULL || n->waker.wake == NULL;

	if (n != NULL && mode == FUTURE_NOTIFIER_POLLER) {
		n->poller.ptr_to_monitor = poll_word;
		n->notifier_used = FUTURE_NOTIFIER_POLLER;
		return masync__signal_done(s);
	}
	if (n != NULL && (drop || mode == FUTURE_NOTIFIER_NONE))
		n->notifier_used = FUTURE_NOTIFIER_NONE; /* nothing kept */
	if (n != NULL && mode == FUTURE_NOTIFIER_NONE)
		return masync__signal_done(s);
	w = MASYNC__LOAD(&s->word, acquire);
	if (drop && !(w & (MASYNC__S_WAKER | MASYNC__S_CALLS | MASYNC__S_LOCK)))
		return masync__signal_done(s); /* nothing to drop */
	if (!drop && (w & (MASYNC__S_WAKER | MASYNC__S_DONE |
			MASYNC__S_LOCK)) == MASYNC__S_WAKER &&
			s->waker.wake == n->waker.wake &&
			s->waker.data == n->waker.data) {
		/* still registered: completion or a kick will call it */
		n->notifier_used = FUTURE_NOTIFIER_WAKER;
		return 0;
	}
	w = masync__signal_lock(s);
	done = (w & MASYNC__S_DONE) != 0 && ((w & MASYNC__S_CALLS) == 0 ||
		masync__signal_own_calls(s, w));
	if (drop || done) {
		w &= ~(uint64_t)MASYNC__S_WAKER;
	} else {
		/* also while a call runs: that call's end calls this one */
		s->waker = n->waker;
		w |= MASYNC__S_WAKER;
		n->notifier_used = FUTURE_NOTIFIER_WAKER;
	}
	masync__signal_unlock(s, w);
	if (drop && !done) {
		/* not inside a waker: two that drop each other's would wait
		 * for each other */
		if (masync__calling_top == NULL)
			masync__signal_wait_calls(s);
		done = masync__signal_done(s);
	}
	return done;
}

/* Calls the registered waker, if any, with no lock held; with `complete`,
 * sets DONE first (the result is visible before the waker runs). When the
 * last call returns and a waker was registered meanwhile on a completed
 * signal, that one is called too. The caller keeps the signal's memory
 * alive until this returns. */
static void
masync__signal_call_end(struct masync__signal *s);

/* masync__signal_fire with the LOCK bit taken (`w`: the word before) */
static void
masync__signal_fire_locked(struct masync__signal *s, uint64_t w,
	int complete)
{
	struct masync__calling me;
	struct future_waker k;

	if (complete)
		w |= MASYNC__S_DONE;
	if (!(w & MASYNC__S_WAKER)) {
		masync__signal_unlock(s, w);
		return;
	}
	k = s->waker;
	w = (w & ~(uint64_t)MASYNC__S_WAKER) + MASYNC__S_CALL;
	me.s = s;
	me.up = masync__calling_top;
	masync__calling_top = &me;
	masync__waker_pin(&k, 1);
	masync__signal_unlock(s, w);
	MASYNC__TEST_PREEMPT();
	MASYNC__TEST_BEFORE_WAKE(&k);
	k.wake(k.data);
	masync__waker_pin(&k, -1);
	masync__signal_call_end(s);
	masync__calling_top = me.up;
}

static void
masync__signal_fire(struct masync__signal *s, int complete)
{
	masync__signal_fire_locked(s, masync__signal_lock(s), complete);
}

/* The end of a call counted in s's CALL bits (this thread's calling list
 * still holds s): a waker registered during it on a completed signal is
 * called by the last caller out. */
static void
masync__signal_call_end(struct masync__signal *s)
{
	uint64_t w = masync__signal_lock(s);

	while ((w & (MASYNC__S_DONE | MASYNC__S_WAKER)) ==
			(MASYNC__S_DONE | MASYNC__S_WAKER) &&
			(w & MASYNC__S_CALLS) == MASYNC__S_CALL) {
		/* registered during the call (the poll saw a call running) */
		struct future_waker k = s->waker;

		masync__waker_pin(&k, 1);
		masync__signal_unlock(s, w & ~(uint64_t)MASYNC__S_WAKER);
		k.wake(k.data);
		masync__waker_pin(&k, -1);
		w = masync__signal_lock(s);
	}
	masync__signal_unlock(s, w - MASYNC__S_CALL);
}

/* Calls the registered waker, if any, without completing (e.g. "the
 * device wrote the completion record: poll again"). */
static inline void
masync__signal_kick(struct masync__signal *s)
{
	masync__signal_fire(s, 0);
}

static void masync__runtime_wake(void *data);
#ifdef MASYNC__TEST_HOOKS
/* tests: a waker function merged like the runtime's (NULL: none) */
static MASYNC__A(future_waker_wake_fn) masync__test_merge_wake;
#endif

/* May one call of this waker stand for several futures' calls? Only the
 * runtime's own: it just says "poll again" to one runtime. A user's waker
 * is called once per future that holds it, as the manual says (it may
 * count its calls). */
static inline int
masync__waker_merges(future_waker_wake_fn fn)
{
#ifdef MASYNC__TEST_HOOKS
	if (fn != NULL && fn == MASYNC__LOAD(&masync__test_merge_wake,
			acquire))
		return 1;
#endif
	return fn == masync__runtime_wake;
}

/* Kicks n signals (at most 64) at once. Each runtime waker (function and
 * data, see masync__waker_merges) is called once, and every signal that
 * has it counts that call as its own: its WAKER taken before the call and
 * a CALL held across it, so a registration before the call is served by
 * it, its owner does not go on while it runs, and one made after is left
 * for a later kick. E.g. one runtime wake-up for a batch's 32 members, not
 * 32. Other wakers are called once per signal. */
__attribute__((unused)) /* by the DSA mover only */
static void
masync__signal_kick_all(struct masync__signal **s, size_t n)
{
	struct masync__calling me[64];
	unsigned char idx[64];
	uint64_t left = n >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << n) - 1;
	size_t i, j, g;

	while (left != 0) {
		struct future_waker k;
		uint64_t w;
		int merge;

		i = (size_t)__builtin_ctzll(left);
		left &= left - 1;
		w = masync__signal_lock(s[i]);
		if (!(w & MASYNC__S_WAKER)) {
			masync__signal_unlock(s[i], w);
			continue;
		}
		k = s[i]->waker;
		masync__waker_pin(&k, 1); /* (before s[i]'s unlock) */
		merge = masync__waker_merges(k.wake);
		g = 0;
		for (j = i; j < n && j < 64 && (j == i || merge); j++) {
			if (j != i) {
				if (!((left >> j) & 1))
					continue;
				w = masync__signal_lock(s[j]);
				if (!(w & MASYNC__S_WAKER) ||
						s[j]->waker.wake != k.wake ||
						s[j]->waker.data != k.data) {
					masync__signal_unlock(s[j], w);
					continue;
				}
				left &= ~((uint64_t)1 << j);
			}
			idx[g] = (unsigned char)j;
			me[g].s = s[j];
			me[g].up = masync__calling_top;
			masync__calling_top = &me[g++];
			masync__signal_unlock(s[j], (w &
				~(uint64_t)MASYNC__S_WAKER) + MASYNC__S_CALL);
		}
		MASYNC__TEST_PREEMPT();
		k.wake(k.data);
		masync__waker_pin(&k, -1);
		while (g-- != 0) {
			masync__signal_call_end(s[idx[g]]);
			masync__calling_top = me[g].up;
		}
	}
}

/* Nobody to wake: one store, so a POLLER sees the word change exactly
 * once, to "done". 0 when a waker (or a call) is there. */
static inline int
masync__signal_done_alone(struct masync__signal *s)
{
	uint64_t w = 0;

	MASYNC__HB(s);
	return MASYNC__CAS(&s->word, &w, MASYNC__S_DONE, release);
}

static inline void
masync__signal_complete(struct masync__signal *s)
{
	MASYNC__TEST_PREEMPT();
	if (!masync__signal_done_alone(s))
		masync__signal_fire(s, 1);
}

/* Completes with no waker call: for the future's own poll, which reports
 * it complete itself (a waker called inside the poll that registered it
 * could poll the future again in the middle of it, or wait for a lock
 * the polling thread holds). */
static inline void
masync__signal_complete_quiet(struct masync__signal *s)
{
	uint64_t w;

	if (masync__signal_done_alone(s))
		return;
	w = masync__signal_lock(s);
	masync__signal_unlock(s, (w | MASYNC__S_DONE) &
		~(uint64_t)MASYNC__S_WAKER);
}

/* ======================================================================== */
/* >>pool — per-mover pool of per-operation states                           */
/* ======================================================================== */
/* Fixed-size elements in chunks that are never freed before the mover, so
 * a stale index read by a racing thread always points at valid memory.
 * The free list is a Treiber stack of indices with a tag against ABA. No
 * lock: a thread that grows the pool claims a chunk slot with a CAS (one
 * held across a fork would stay held in the child). */
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
	/* chunk slots claimed, and of those filled or given up (a slot
	 * whose allocation failed after a later one was claimed stays NULL) */
	MASYNC__A(uint32_t) nchunks;
	MASYNC__A(uint32_t) nsettled;
	/* masync__fork_gen() at init: also its mover's (threads, DSA) */
	unsigned fork_gen;
	uint32_t max_chunks;
	size_t max_elems; /* 0: max_chunks whole chunks */
	unsigned char *chunks[MASYNC__POOL_MAX_CHUNKS];
};

static inline int
masync__pool_init(struct masync__pool *p, size_t elem_size, size_t max_elems)
{
	p->elem_size = (elem_size + MASYNC__CACHELINE - 1) &
		~(size_t)(MASYNC__CACHELINE - 1);
	MASYNC__INIT(&p->head, 0);
	MASYNC__INIT(&p->nchunks, 0);
	MASYNC__INIT(&p->nsettled, 0);
	MASYNC__UNTRACKED(&p->nsettled, sizeof(p->nsettled));
	if (masync__fork_gen(&p->fork_gen) != 0)
		return -1; /* no fork handlers: see masync__fork_err */
	MASYNC__UNTRACKED(&p->head, sizeof(p->head));
	MASYNC__UNTRACKED(&p->nchunks, sizeof(p->nchunks));
	/* each entry is written once, before the head publishes it */
	MASYNC__UNTRACKED(p->chunks, sizeof(p->chunks));
	/* clamped before the cast: 2^32 + 1 chunks are not 1 */
	{
		size_t ch = max_elems / MASYNC__POOL_CHUNK +
			(max_elems % MASYNC__POOL_CHUNK != 0);

		p->max_chunks = ch == 0 || ch > MASYNC__POOL_MAX_CHUNKS ?
			MASYNC__POOL_MAX_CHUNKS : (uint32_t)ch;
	}
	p->max_elems = max_elems;
	memset(p->chunks, 0, sizeof(p->chunks));
	return 0;
}

static inline void
masync__pool_fini(struct masync__pool *p)
{
	uint32_t i, n = MASYNC__LOAD(&p->nchunks, acquire);

	for (i = 0; i < n; i++)
		masync__free_aligned(p->chunks[i]); /* NULL: nothing */
}

static inline struct masync__pool_link *
masync__pool_elem(struct masync__pool *p, uint32_t index)
{
	return (struct masync__pool_link *)(void *)(
		p->chunks[index >> MASYNC__POOL_CHUNK_SHIFT] +
		(size_t)(index & (MASYNC__POOL_CHUNK - 1)) * p->elem_size);
}

static inline void
masync__pool_put(struct masync__pool *p, void *elem)
{
	struct masync__pool_link *l = (struct masync__pool_link *)elem;
	uint64_t h = MASYNC__LOAD(&p->head, relaxed), nh;

	MASYNC__HB(l);
	do {
		MASYNC__STORE(&l->next, (uint32_t)h, relaxed);
		nh = ((h >> 32) + 1) << 32 | (uint64_t)(l->index + 1);
	} while (!MASYNC__CAS(&p->head, &h, nh, release));
}

/* Adds a chunk (two threads that find the pool empty at once may add
 * one each); -1 when at its limit or out of memory. */
static inline int
masync__pool_grow(struct masync__pool *p)
{
	uint32_t n, i;
	unsigned char *chunk;

	for (;;) {
		n = MASYNC__LOAD(&p->nchunks, relaxed);
		if ((uint32_t)MASYNC__LOAD(&p->head, acquire) != 0)
			return 0; /* another thread refilled it */
		if (n < p->max_chunks) {
			if (MASYNC__CAS(&p->nchunks, &n, n + 1, relaxed))
				break;
			continue;
		}
		/* at the limit: a slot another thread is filling refills
		 * it (in a forked child that thread may be the parent's);
		 * one settled since the test above may have */
		if (MASYNC__LOAD(&p->nsettled, acquire) == n ||
				masync__forked_since(p->fork_gen))
			return (uint32_t)MASYNC__LOAD(&p->head, acquire) !=
				0 ? 0 : -1;
		thrd_yield();
	}
	MASYNC__TEST_PREEMPT(); /* others find it claimed, not filled */
	chunk = (unsigned char *)masync__zalloc_aligned(
		p->elem_size * MASYNC__POOL_CHUNK);
	if (chunk == NULL) {
		uint32_t mine = n + 1;

		/* give the slot back unless a later one was claimed */
		if (!MASYNC__CAS(&p->nchunks, &mine, n, relaxed))
			MASYNC__FADD(&p->nsettled, 1, release);
		return -1;
	}
	/* read only through indices the pushes below publish */
	p->chunks[n] = chunk;
	for (i = MASYNC__POOL_CHUNK; i-- > 0;) {
		struct masync__pool_link *l = (struct masync__pool_link *)
			(void *)(chunk + (size_t)i * p->elem_size);
		MASYNC__INIT(&l->next, 0);
		MASYNC__UNTRACKED(&l->next, sizeof(l->next));
		l->index = (n << MASYNC__POOL_CHUNK_SHIFT) | i;
		/* the limit is exact: the pool is the only count of what
		 * is taken (no counter to bump per element) */
		if (p->max_elems == 0 || l->index < p->max_elems)
			masync__pool_put(p, l);
	}
	MASYNC__FADD(&p->nsettled, 1, release);
	return 0;
}

/* Returns an element (its contents are stale) or NULL when the pool is at
 * its limit or memory ran out. */
static inline void *
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
					MASYNC__MO(acquire))) {
				MASYNC__HA(l);
				return l;
			}
		}
	}
}

/* ======================================================================== */
/* >>runtime                                                                 */
/* ======================================================================== */

/* A poll round: the passes of a runtime wait in this thread. A mover may
 * hold back work started in a round (the DSA mover coalesces it into one
 * batch descriptor) and register a flush here; the runtime calls every
 * registered flush at the end of each pass, so before it sleeps or
 * returns. Nested waits share the thread's list: an inner wait flushes an
 * outer one's work early, which is always safe. Futures polled by hand
 * run outside any round and nothing is held back for them. */
#define MASYNC__ROUND_MAX 8u
struct masync__round {
	unsigned depth; /* runtime waits in progress in this thread */
	unsigned n;
	void (*fn[MASYNC__ROUND_MAX])(void *);
	void *arg[MASYNC__ROUND_MAX];
};
static MASYNC__THREAD_LOCAL struct masync__round masync__round;

/* 1: fn(arg) runs at the end of this thread's pass (registered now or
 * before); 0: not in a round, or the list is full: do the work now */
__attribute__((unused)) /* by the DSA mover only */
static int
masync__round_defer(void (*fn)(void *), void *arg)
{
	struct masync__round *r = &masync__round;
	unsigned i;

	if (r->depth == 0)
		return 0;
	for (i = 0; i < r->n; i++)
		if (r->arg[i] == arg && r->fn[i] == fn)
			return 1;
	if (r->n == MASYNC__ROUND_MAX)
		return 0;
	r->fn[r->n] = fn;
	r->arg[r->n++] = arg;
	return 1;
}

static void
masync__round_flush(void)
{
	struct masync__round *r = &masync__round;

	while (r->n != 0) {
		unsigned i = --r->n;

		r->fn[i](r->arg[i]);
	}
}

/* drops what was registered for `arg` (its owner goes away) */
__attribute__((unused)) /* by the DSA mover only */
static void
masync__round_forget(const void *arg)
{
	struct masync__round *r = &masync__round;
	unsigned i, k = 0;

	for (i = 0; i < r->n; i++) {
		if (r->arg[i] == arg)
			continue;
		r->fn[k] = r->fn[i];
		r->arg[k++] = r->arg[i];
	}
	r->n = k;
}

struct runtime {
	MASYNC__A(uint32_t) gen;     /* bumped by every wake; the futex word */
	MASYNC__A(uint32_t) waiters; /* threads napping */
	MASYNC__A(uint32_t) spin;    /* pause-polls before a sleep, adapted */
	MASYNC__A(uint32_t) misses;  /* spins in a row that ended in a sleep */
	/* Calls of its waker that a signal began and that have not ended.
	 * A wait inside a program's waker that returns early drops the
	 * runtime's waker without waiting for a call of it running in
	 * another thread (masync__signal_register: two wakers that drop
	 * each other's would wait for each other); runtime_delete waits
	 * for them instead (a call of this waker never blocks). Counted
	 * under the signal's lock, before the call may start, as fork
	 * generation << 32 | calls: a child does not wait for calls of the
	 * parent's threads, which it does not have. */
	MASYNC__A(uint64_t) calls;
#ifndef MASYNC__FUTEX
	mtx_t lock;
	cnd_t cond;
#endif
};

static inline void
masync__waker_pin(const struct future_waker *k, int delta)
{
	if (k->wake == masync__runtime_wake) {
		struct runtime *rt = (struct runtime *)k->data;
		uint64_t g = MASYNC__LOAD(&masync__forks, relaxed);
		uint64_t w = MASYNC__LOAD(&rt->calls, relaxed), v;

		if (delta < 0)
			MASYNC__HB(&rt->calls);
		do {
			if ((w >> 32) == g)
				v = delta > 0 ? w + 1 : w - 1;
			else if (delta > 0)
				v = g << 32 | 1; /* a parent's count: not ours */
			else
				return; /* pinned before a fork: nothing counted */
		} while (!MASYNC__CAS(&rt->calls, &w, v, release));
	}
}

/* tests: counts the runtime's naps */
#ifndef MASYNC__RT_ON_NAP
#define MASYNC__RT_ON_NAP(ns) ((void)0)
#endif

/* tests: counts the runtime's passes */
#ifndef MASYNC__RT_ON_PASS
#define MASYNC__RT_ON_PASS() ((void)0)
#endif

/* tests: replaces the pause of the spin before a sleep (counts it) */
#ifndef MASYNC__RT_SPIN_PAUSE
#define MASYNC__RT_SPIN_PAUSE() MASYNC__PAUSE()
#endif

#define MASYNC__RT_SAFETY_NS 1000000u /* re-poll at least every 1 ms */
#define MASYNC__RT_MAX_POLLERS 16u
/* The spin before a sleep adapts, as an adaptive mutex does: a wake-up
 * that comes while spinning costs far less than one that comes asleep
 * (futex: tens of us), but a spin that ends in a sleep anyway is lost
 * CPU (~9 us for 256 pauses on a Zen 5 VM). A spin that ends in a sleep
 * shrinks the next by 1/8, down to MASYNC__RT_SPIN_MIN (~0.5 us, a
 * worker's usual answer); an event caught after i pauses grows it at
 * once to 2 i + MIN; every MASYNC__RT_PROBE-th spin in a row that ended
 * in a sleep spins MASYNC__RT_SPINS, so that events that come sooner
 * again are caught again. Per runtime; racing updates are harmless. */
#define MASYNC__RT_SPINS 256u
#define MASYNC__RT_SPIN_MIN 16u
#define MASYNC__RT_PROBE 64u
/* A future that took no notifier can move on at any poll (libminiasync's
 * countup: RUNNING until polled n times) and nothing says when: passes
 * with no change poll it again at once, up to REPOLLS in a row (the
 * original spun 1000 passes) before the first nap, then up to NAPPED
 * between naps but for at most REPOLL_NS (0: no limit), 1/8 of the
 * longest nap: a pass costs ~5 times more under a sanitizer, and a future
 * that waits for something else must not cost a core. The original slept
 * 1 ms per 1000 passes: a countup of 10,000 polls took it ~10 ms. Such a
 * pass pauses the CPU every 8th time only: a pause costs several of its
 * polls, and the future's progress is the poll itself. */
#ifndef MASYNC__RT_REPOLLS
#define MASYNC__RT_REPOLLS 1024u
#endif
#ifndef MASYNC__RT_REPOLLS_NAPPED
#define MASYNC__RT_REPOLLS_NAPPED 1024u
#endif
#ifndef MASYNC__RT_REPOLL_NS
#define MASYNC__RT_REPOLL_NS 32000u
#endif
static const uint64_t masync__rt_repoll_ns = MASYNC__RT_REPOLL_NS;

/* pause-polls for the next spin */
static unsigned
masync__rt_spin_limit(struct runtime *rt)
{
	uint32_t m = MASYNC__LOAD(&rt->misses, relaxed);

	if (m != 0 && m % MASYNC__RT_PROBE == 0)
		return MASYNC__RT_SPINS;
	return MASYNC__LOAD(&rt->spin, relaxed);
}

/* the event came after `i` pauses of a spin */
static void
masync__rt_spin_caught(struct runtime *rt, unsigned i)
{
	uint32_t want = 2 * i + MASYNC__RT_SPIN_MIN;

	if (want > MASYNC__RT_SPINS)
		want = MASYNC__RT_SPINS;
	if (want > MASYNC__LOAD(&rt->spin, relaxed))
		MASYNC__STORE(&rt->spin, want, relaxed);
	if (MASYNC__LOAD(&rt->misses, relaxed) != 0)
		MASYNC__STORE(&rt->misses, 0, relaxed);
}

/* a spin ended with no event: a sleep follows */
static void
masync__rt_spin_missed(struct runtime *rt)
{
	uint32_t s = MASYNC__LOAD(&rt->spin, relaxed);

	s -= s / 8;
	MASYNC__STORE(&rt->spin, s < MASYNC__RT_SPIN_MIN ?
		MASYNC__RT_SPIN_MIN : s, relaxed);
	MASYNC__STORE(&rt->misses, MASYNC__LOAD(&rt->misses, relaxed) + 1,
		relaxed);
}

/* the notifier a runtime polls with: its waker */
static inline void
masync__runtime_notifier(struct runtime *rt, struct future_notifier *nt)
{
	nt->waker.data = rt;
	nt->waker.wake = masync__runtime_wake;
	nt->poller.ptr_to_monitor = NULL;
	nt->notifier_used = FUTURE_NOTIFIER_NONE;
}

static void
masync__runtime_wake(void *data)
{
	struct runtime *rt = (struct runtime *)data;

	MASYNC__FADD(&rt->gen, 1, seq_cst);
	MASYNC__TEST_PREEMPT();
	if (MASYNC__LOAD(&rt->waiters, seq_cst) != 0) {
#ifdef MASYNC__FUTEX
		masync__syscall(SYS_futex, (long)(void *)&rt->gen,
			MASYNC__FUTEX_WAKE_PRIVATE, 0x7fffffffL, 0L, 0L, 0L);
#else
		masync__mtx_lock(&rt->lock);
		masync__cnd_broadcast(&rt->cond);
		masync__mtx_unlock(&rt->lock);
#endif
	}
}

/* Sleeps until a wake (gen moves on from `gen`) or about `ns` pass, on the
 * monotonic clock where there is a futex. */
static void
masync__runtime_nap(struct runtime *rt, uint32_t gen, uint64_t ns)
{
#ifdef MASYNC__FUTEX
	struct masync__futex_ts ts;
#else
	struct timespec ts;
#endif

	MASYNC__RT_ON_NAP(ns);
	MASYNC__TEST_PREEMPT(); /* a wake-up may come before the sleep */
#ifdef MASYNC__FUTEX
	/* (a 32-bit long's seconds last 68 years: naps are capped far below) */
	ts.tv_sec = (long)(ns / 1000000000u);
	ts.tv_nsec = (long)(ns % 1000000000u);
	/* returns at once if gen moved on since it was read */
	masync__syscall(SYS_futex, (long)(void *)&rt->gen,
		MASYNC__FUTEX_WAIT_PRIVATE, (long)gen, (long)(void *)&ts, 0L, 0L);
#else
	ts = masync__utc_after(ns);
	masync__mtx_lock(&rt->lock);
	if (MASYNC__LOAD(&rt->gen, seq_cst) == gen)
		masync__cnd_timedwait(&rt->cond, &rt->lock, &ts);
	masync__mtx_unlock(&rt->lock);
#endif
}

MINIASYNC_API struct runtime *
runtime_new(void)
{
	struct runtime *rt = (struct runtime *)masync__zalloc(sizeof(*rt));

	if (rt == NULL)
		return NULL;
	MASYNC__INIT(&rt->gen, 0);
	MASYNC__INIT(&rt->waiters, 0);
	MASYNC__INIT(&rt->spin, MASYNC__RT_SPINS);
	MASYNC__INIT(&rt->misses, 0);
	MASYNC__INIT(&rt->calls, 0);
	/* threads sharing a runtime race on these (harmlessly), atomically */
	MASYNC__UNTRACKED(&rt->spin, sizeof(rt->spin));
	MASYNC__UNTRACKED(&rt->misses, sizeof(rt->misses));
	/* (atomics only; a program's thread may call the waker directly) */
	MASYNC__UNTRACKED(&rt->gen, sizeof(rt->gen));
	MASYNC__UNTRACKED(&rt->waiters, sizeof(rt->waiters));
	MASYNC__UNTRACKED(&rt->calls, sizeof(rt->calls));
#ifndef MASYNC__FUTEX
	if (masync__mtx_init(&rt->lock, mtx_plain) != thrd_success) {
		MINIASYNC_FREE(rt);
		errno = ENOMEM;
		return NULL;
	}
	if (masync__cnd_init(&rt->cond) != thrd_success) {
		masync__mtx_destroy(&rt->lock);
		MINIASYNC_FREE(rt);
		errno = ENOMEM;
		return NULL;
	}
#endif
	return rt;
}

MINIASYNC_API void
runtime_delete(struct runtime *runtime)
{
	unsigned spins = 0;

	if (runtime == NULL)
		return;
	for (;;) { /* see struct runtime */
		uint64_t w = MASYNC__LOAD(&runtime->calls, acquire);

		if ((uint32_t)w == 0 || (w >> 32) !=
				MASYNC__LOAD(&masync__forks, relaxed))
			break;
		masync__spin_pause(&spins);
	}
	MASYNC__HA(&runtime->calls);
#ifndef MASYNC__FUTEX
	masync__cnd_destroy(&runtime->cond);
	masync__mtx_destroy(&runtime->lock);
#endif
	MINIASYNC_FREE(runtime);
}

struct masync__watch {
	size_t npollers;
	int all_wakers;   /* every pending future will call our waker */
	int fresh;        /* a word first seen after its poll: no nap yet */
	size_t pending;   /* futures not complete after the pass */
	uint64_t *ptr[MASYNC__RT_MAX_POLLERS];
	uint64_t seen[MASYNC__RT_MAX_POLLERS]; /* read before the poll */
	size_t idx[MASYNC__RT_MAX_POLLERS];    /* of the future */
};

/* *dst = *src, but only the words it watches (a pass copies it: the
 * whole struct costs a notifier-less re-poll more than its poll) */
static inline void
masync__watch_keep(struct masync__watch *dst, const struct masync__watch *src)
{
	size_t i;

	dst->npollers = src->npollers;
	dst->all_wakers = src->all_wakers;
	dst->fresh = src->fresh;
	dst->pending = src->pending;
	for (i = 0; i < src->npollers; i++) {
		dst->ptr[i] = src->ptr[i];
		dst->seen[i] = src->seen[i];
		dst->idx[i] = src->idx[i];
	}
}

static uint64_t
masync__load_word(uint64_t *p)
{
	/* the monitored word is written by other threads or by a device */
	return MASYNC__LOAD((MASYNC__A(uint64_t) *)(void *)p, acquire);
}

static int
masync__watch_fired(struct runtime *rt, uint32_t gen,
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

#ifdef MASYNC__X86
/* UMONITOR/UMWAIT (waitpkg): sleep in a light C0 state until `word`
 * changes or about `cycles` TSC ticks pass (the OS caps it, 100 us by
 * default). Only called when CPUID reports waitpkg. */
static void
masync__umwait(uint64_t *word, uint64_t seen, uint64_t cycles)
{
	uint32_t lo, hi;
	uint64_t deadline;

	__asm__ __volatile__("umonitor %0" : : "r"(word) : "memory");
	if (masync__load_word(word) != seen)
		return; /* changed before the monitor was armed */
	__asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
	deadline = ((uint64_t)hi << 32 | lo) + cycles;
	/* ECX bit 0 set: C0.1, the light state that wakes faster (as
	 * Intel's DTO asks); clear would ask for C0.2 */
	__asm__ __volatile__("umwait %%ecx"
		: : "c"(1u), "a"((uint32_t)deadline),
		"d"((uint32_t)(deadline >> 32)) : "memory", "cc");
}
#endif

/* Waits until a waker fires, a watched word changes, `deadline` (monotonic
 * ns, 0 = none) passes, or a backoff step ends. */
static void
masync__runtime_idle(struct runtime *rt, uint32_t gen,
	const struct masync__watch *w, unsigned *backoff, uint64_t deadline)
{
	uint64_t ns, now;
	unsigned i, lim = masync__rt_spin_limit(rt);

	for (i = 0; i < lim; i++) {
		if (masync__watch_fired(rt, gen, w)) {
			masync__rt_spin_caught(rt, i);
			return;
		}
		MASYNC__RT_SPIN_PAUSE();
	}
	masync__rt_spin_missed(rt);
#ifdef MASYNC__X86
	/* one watched word, all that is pending, and the CPU can sleep on
	 * it: no timed nap needed (a waker's wake-up would not end it) */
	if (w->npollers == 1 && w->pending == 1 &&
			(masync__cpu() & MASYNC__CPU_WAITPKG) && deadline == 0) {
		masync__umwait(w->ptr[0], w->seen[0], 200000u);
		return;
	}
#endif
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
	if (!masync__watch_fired(rt, gen, w))
		masync__runtime_nap(rt, gen, ns);
	MASYNC__FSUB(&rt->waiters, 1, seq_cst);
}

/* Set while this thread's wait releases its futures: a threads mover's
 * poll then leaves a queued copy to the workers instead of running it
 * here (a wait past its deadline ran them all before it returned). */
static MASYNC__THREAD_LOCAL unsigned char masync__rt_releasing;

/* A wait returns early (timeout, wait-any) while futures are pending: poll
 * each once with no notifier, so that the built-in movers drop the waker
 * that points at the runtime. Returns how many are still pending; *first
 * gets the lowest index of a complete future (SIZE_MAX: none). */
static size_t
masync__runtime_release(struct future **futs, size_t n, size_t *first)
{
	size_t i, pending = 0;
	unsigned char was = masync__rt_releasing; /* (a task's own wait) */

	*first = SIZE_MAX;
	masync__rt_releasing = 1;
	for (i = 0; i < n; i++) {
		if (futs[i]->context.state != FUTURE_STATE_COMPLETE &&
				future_poll(futs[i], NULL) !=
				FUTURE_STATE_COMPLETE)
			pending++;
		else if (*first == SIZE_MAX)
			*first = i;
	}
	masync__rt_releasing = was;
	return pending;
}

/* Polls until all (or, with `any`, one) of the futures are complete, or the
 * monotonic `deadline` (0 = none) passes. Returns the index of a completed
 * future for `any`, else 0; SIZE_MAX on timeout. With `any`, the first
 * pass polls with no notifier: a future that completes in it ends the wait
 * before any waker was handed out, so futures later in the array are left
 * untouched. Any later early return drops the wakers again. */
static size_t masync__runtime_passes(struct runtime *rt,
	struct future **futs, size_t n, int any, uint64_t deadline,
	uint64_t *async, size_t nbits);

static size_t
masync__runtime_run(struct runtime *rt, struct future **futs, size_t n,
	int any, uint64_t deadline)
{
	size_t i, ret, nbits = n;
	/* which futures the first half of a pass polled as asynchronous */
	uint64_t stack_async[16], *async = stack_async;

	if (any)
		for (i = 0; i < n; i++)
			if (futs[i]->context.state == FUTURE_STATE_COMPLETE)
				return i;
	if (n > 64 * sizeof(stack_async) / sizeof(stack_async[0])) {
		async = (uint64_t *)MINIASYNC_MALLOC((n + 63) / 64 * 8);
		if (async == NULL) { /* the rest: see masync__runtime_passes */
			async = stack_async;
			nbits = 64 * sizeof(stack_async) /
				sizeof(stack_async[0]);
		}
	}
	/* (each bit is written before it is read; zeroed anyway, so that no
	 * word is read before its first write) */
	memset(async, 0, ((n < nbits ? n : nbits) + 63) / 64 * 8);
	masync__round.depth++;
	ret = masync__runtime_passes(rt, futs, n, any, deadline, async,
		nbits);
	masync__round_flush(); /* an early return (wait-any) ends a pass */
	masync__round.depth--;
	if (async != stack_async)
		MINIASYNC_FREE(async);
	return ret;
}

/* The loop of masync__runtime_run. Each pass polls the pending futures
 * that have FUTURE_PROPERTY_ASYNC, then the other pending ones, each in
 * array order and each once (a future whose property changed when it was
 * polled in the first half is not polled again in the second). As
 * libminiasync's sort did, a pass asks every pending future for its
 * property before it polls any (a chain's has_property may build its
 * current entry, lazily: the order of those calls shows), and a wait for
 * one future asks none. async records the properties of the first nbits
 * futures; past them (its allocation failed) the first half asks each as
 * it comes and the second half polls every pending one, an asynchronous
 * one a second time, as re-reading a property that may have changed
 * could skip a future in both halves. */
static size_t
masync__runtime_passes(struct runtime *rt, struct future **futs, size_t n,
	int any, uint64_t deadline, uint64_t *async, size_t nbits)
{
	unsigned backoff = 0, repolls = 0, budget = MASYNC__RT_REPOLLS;
	uint64_t napped_at = 0; /* the end of the last nap (REPOLL_NS) */
	int probe = any, reread = 0;
	size_t i, first;
	struct masync__watch prev; /* the poller words of the last pass */

	prev.npollers = 0;
	for (;;) {
		uint32_t gen = MASYNC__LOAD(&rt->gen, seq_cst);
		struct masync__watch w;
		size_t pending = 0;
		/* started: a future went IDLE -> RUNNING; progress: any other
		 * change (a completion included) */
		int progress = 0, started = 0, pass;

		MASYNC__RT_ON_PASS();
		w.npollers = 0;
		w.all_wakers = 1;
		w.fresh = 0;
		for (i = 0; i < n && i < nbits; i++) {
			uint64_t bit = (uint64_t)1 << (i % 64);

			if (n > 1 && futs[i]->context.state !=
					FUTURE_STATE_COMPLETE &&
					future_has_property(futs[i],
					FUTURE_PROPERTY_ASYNC) != 0)
				async[i / 64] |= bit;
			else
				async[i / 64] &= ~bit;
		}
		for (pass = 0; pass < 2; pass++) {
			for (i = 0; i < n; i++) {
				struct future *f = futs[i];
				struct future_notifier nt;
				enum future_state before, after;
				size_t j;
				uint64_t pre = 0;

				if (f->context.state == FUTURE_STATE_COMPLETE)
					continue;
				if (pass == 0) {
					if (i < nbits ? ((async[i / 64] >>
							(i % 64)) & 1) == 0 :
							future_has_property(f,
							FUTURE_PROPERTY_ASYNC)
							== 0)
						continue;
				} else if (i < nbits &&
						((async[i / 64] >> (i % 64)) &
						1) != 0) {
					continue;
				}
				/* the word it had last pass, read before this
				 * poll: a change during the poll is seen */
				for (j = 0; j < prev.npollers; j++)
					if (prev.idx[j] == i)
						break;
				if (j < prev.npollers)
					pre = masync__load_word(prev.ptr[j]);
				masync__runtime_notifier(rt, &nt);
				before = f->context.state;
				after = future_poll(f, probe ? NULL : &nt);
				if (after == FUTURE_STATE_COMPLETE) {
					if (any) {
						if (!probe)
							masync__runtime_release(
								futs, n, &first);
						return i;
					}
					progress = 1;
					continue;
				}
				if (after != before) {
					if (before == FUTURE_STATE_IDLE &&
							after ==
							FUTURE_STATE_RUNNING)
						started = 1;
					else
						progress = 1;
				}
				pending++;
				if (probe)
					continue;
				if (nt.notifier_used == FUTURE_NOTIFIER_POLLER &&
						nt.poller.ptr_to_monitor != NULL &&
						w.npollers <
						MASYNC__RT_MAX_POLLERS) {
					w.ptr[w.npollers] =
						nt.poller.ptr_to_monitor;
					w.idx[w.npollers] = i;
					if (j < prev.npollers && prev.ptr[j] ==
							nt.poller.ptr_to_monitor) {
						w.seen[w.npollers++] = pre;
					} else {
						/* read after the poll: poll
						 * once more before napping */
						w.seen[w.npollers++] =
							masync__load_word(
							nt.poller.ptr_to_monitor);
						w.fresh = 1;
					}
				} else if (nt.notifier_used !=
						FUTURE_NOTIFIER_WAKER) {
					w.all_wakers = 0;
				}
			}
		}
		/* what the pass's starts held back goes before any sleep */
		if (masync__round.n != 0)
			masync__round_flush();
		if (pending == 0)
			return 0;
		w.pending = pending;
		if (deadline != 0 && masync__now_ns() >= deadline) {
			if (probe)
				return SIZE_MAX; /* no waker handed out */
			pending = masync__runtime_release(futs, n, &first);
			if (any)
				return first;
			return pending == 0 ? 0 : SIZE_MAX;
		}
		masync__watch_keep(&prev, &w);
		/* A pass whose only change was starts, every pending future
		 * holding our waker: nothing can complete before a wake-up
		 * (gen was read before the pass, so one during it is seen),
		 * and the futures that did not change would not in a second
		 * pass either: no extra pass, straight to the spin. A poller
		 * or a notifier-less future is polled again as before. */
		if (started && !progress && !probe && w.all_wakers &&
				w.npollers == 0) {
			backoff = 0;
			reread = 0;
			masync__runtime_idle(rt, gen, &w, &backoff, deadline);
			continue;
		}
		if (progress || started || probe) {
			probe = 0;
			backoff = 0;
			reread = 0;
			repolls = 0;
			budget = MASYNC__RT_REPOLLS;
			napped_at = 0;
			continue;
		}
		if (w.fresh && !reread) {
			reread = 1; /* once: a word may be new at every poll */
			continue;
		}
		reread = 0;
		if (!w.all_wakers && ++repolls < budget &&
				(napped_at == 0 || (repolls & 7) != 0 ||
				masync__now_ns() - napped_at <
				masync__rt_repoll_ns)) {
			if ((repolls & 7) == 0) /* a notifier-less future: */
				MASYNC__PAUSE(); /* again */
			continue;
		}
		repolls = 0;
		budget = MASYNC__RT_REPOLLS_NAPPED;
		masync__runtime_idle(rt, gen, &w, &backoff, deadline);
		if (!w.all_wakers && masync__rt_repoll_ns != 0)
			napped_at = masync__now_ns();
	}
}

/* monotonic deadline `timeout_ns` from now; 0 (none) for "no limit" */
static uint64_t
masync__deadline(uint64_t timeout_ns)
{
	uint64_t now = masync__now_ns();

	if (timeout_ns >= UINT64_MAX - now)
		return 0;
	return now + timeout_ns == 0 ? 1 : now + timeout_ns;
}

/* a future no task can run: NULL, or not complete with no task (zeroed) */
static int
masync__future_bad(const struct future *f)
{
	return f == NULL ||
		(f->task == NULL && f->context.state != FUTURE_STATE_COMPLETE);
}

/* NULL runtime, NULL array (with nfuts > 0), or a future no task can run
 * (masync__future_bad): EINVAL */
static int
masync__runtime_bad(struct runtime *rt, struct future **futs, size_t n)
{
	size_t i;

	if (rt == NULL || (futs == NULL && n > 0))
		return errno = EINVAL;
	for (i = 0; i < n; i++)
		if (masync__future_bad(futs[i]))
			return errno = EINVAL;
	return 0;
}

MINIASYNC_API void
runtime_wait_multiple(struct runtime *runtime, struct future *futs[],
	size_t nfuts)
{
	if (masync__runtime_bad(runtime, futs, nfuts) == 0)
		masync__runtime_run(runtime, futs, nfuts, 0, 0);
}

MINIASYNC_API void
runtime_wait(struct runtime *runtime, struct future *fut)
{
	struct future_notifier nt;

	/* one poll before any setup: a future that completes on it (a sync
	 * mover's) costs no more than polling it by hand. It gets the
	 * runtime's waker all the same: a task (a user mover's op_start)
	 * may take a waker only in the poll that starts it. */
	if (runtime != NULL && fut != NULL) {
		if (fut->context.state == FUTURE_STATE_COMPLETE)
			return;
		masync__runtime_notifier(runtime, &nt);
		if (fut->task != NULL &&
				future_poll(fut, &nt) == FUTURE_STATE_COMPLETE)
			return;
	}
	if (masync__runtime_bad(runtime, &fut, 1) == 0)
		masync__runtime_run(runtime, &fut, 1, 0, 0);
}

MINIASYNC_API int
runtime_wait_multiple_for(struct runtime *runtime, struct future *futs[],
	size_t nfuts, uint64_t timeout_ns)
{
	if (masync__runtime_bad(runtime, futs, nfuts) != 0)
		return EINVAL;
	return masync__runtime_run(runtime, futs, nfuts, 0,
		masync__deadline(timeout_ns)) == SIZE_MAX ? ETIMEDOUT : 0;
}

MINIASYNC_API int
runtime_wait_for(struct runtime *runtime, struct future *fut,
	uint64_t timeout_ns)
{
	return runtime_wait_multiple_for(runtime, &fut, 1, timeout_ns);
}

MINIASYNC_API size_t
runtime_wait_any(struct runtime *runtime, struct future *futs[],
	size_t nfuts)
{
	/* a NULL runtime is an error (errno) also with no futures */
	if (masync__runtime_bad(runtime, futs, nfuts) != 0 || nfuts == 0)
		return SIZE_MAX;
	return masync__runtime_run(runtime, futs, nfuts, 1, 0);
}

MINIASYNC_API size_t
runtime_wait_any_for(struct runtime *runtime, struct future *futs[],
	size_t nfuts, uint64_t timeout_ns)
{
	/* a NULL runtime is an error (errno) also with no futures */
	if (masync__runtime_bad(runtime, futs, nfuts) != 0 || nfuts == 0)
		return SIZE_MAX;
	return masync__runtime_run(runtime, futs, nfuts, 1,
		masync__deadline(timeout_ns));
}

/* ======================================================================== */
/* >>sync — the synchronous mover                                           */
/* ======================================================================== */

struct data_mover_sync {
	struct vdm base; /* no ext part: see masync__ext_of */
};

MINIASYNC_API void *
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

static void
masync__sync_delete(void *data, const struct vdm_operation *op,
	struct vdm_operation_output *out)
{
	(void)data;
	masync__output(op, VDM_SUCCESS, out);
}

/* Non-zero for a sync mover's vdm whose start, check and delete a
 * program did not replace: then an idle future's first poll may do all
 * that they would do, without calling them. op_new is not looked at (it
 * ran, or was skipped, when the future was made, and the three ignore
 * its state), nor, on the common path, the capabilities: a vdm without
 * MASYNC__CAP_EXT (a program's copy of the callbacks) gets the same
 * result there, and the other paths hand it to the generic task. */
static MASYNC__FORCE_INLINE int
masync__sync_intact(const struct vdm *vdm)
{
	/* one branch for the three: the common path has no taken one */
	return (((uintptr_t)vdm->op_start ^ (uintptr_t)masync__sync_start) |
		((uintptr_t)vdm->op_delete ^ (uintptr_t)masync__sync_delete) |
		((uintptr_t)vdm->op_check ^ (uintptr_t)masync__sync_check)) == 0;
}

/* An idle sync-mover future whose first poll is not the common case
 * (flags, a flush, a NULL buffer, a range that may wrap, an unknown type):
 * what vdm_operation_impl would do with the sync mover's callbacks, in
 * one call. A vdm without MASYNC__CAP_EXT (a program's copy of the
 * callbacks) takes every flag bit and type to its start: the generic
 * task. */
static MASYNC__NOINLINE enum future_state
masync__sync_slow(struct vdm_operation_future *f, struct future_notifier *n)
{
	struct vdm_operation_data *data = &f->data;
	const struct vdm_operation *op = &data->operation;
	struct masync__op_args a;
	enum vdm_operation_result bad;

	if (!MASYNC__BUILTIN(data->vdm->capabilities))
		return masync__vdm_task_generic(&f->base.context, n);
	data->data = NULL; /* the state is gone */
	bad = masync__vdm_check(data->vdm, op);
	if (bad != VDM_SUCCESS) {
		masync__output_failed(&f->output, op->type, bad);
		masync__notifier_done(n);
		return FUTURE_STATE_COMPLETE;
	}
	masync__output(op, VDM_SUCCESS, &f->output);
	if (n != NULL)
		n->notifier_used = FUTURE_NOTIFIER_NONE;
	a = masync__args(op);
	masync__cpu_op(op->type, a.dst, a.src, a.c, a.n, a.flags);
	return FUTURE_STATE_COMPLETE;
}

/* private: memmove(dst, src, len), for 16 <= len <= 64 without a call:
 * every byte is loaded before the first store, so the ranges may overlap.
 * The call (through the PLT) and glibc's size dispatch are most of the
 * cost of a 64-byte copy's future. */
static MASYNC__FORCE_INLINE void
masync__move(void *dst, const void *src, size_t len)
{
#ifdef MASYNC__X86
	if (MASYNC__LIKELY(len - 16 <= 48)) {
		const char *s = (const char *)src;
		char *d = (char *)dst;
		__m128i a = _mm_loadu_si128((const __m128i *)(const void *)s);
		__m128i b = _mm_loadu_si128((const __m128i *)(const void *)
			(s + len - 16));

		if (MASYNC__LIKELY(len > 32)) {
			__m128i c = _mm_loadu_si128((const __m128i *)
				(const void *)(s + 16));
			__m128i e = _mm_loadu_si128((const __m128i *)
				(const void *)(s + len - 32));

			_mm_storeu_si128((__m128i *)(void *)(d + 16), c);
			_mm_storeu_si128((__m128i *)(void *)(d + len - 32), e);
		}
		_mm_storeu_si128((__m128i *)(void *)d, a);
		_mm_storeu_si128((__m128i *)(void *)(d + len - 16), b);
		return;
	}
#endif
	memmove(dst, src, len);
}

/* private: memset(dst, c, len), for 16 <= len <= 64 without a call */
static MASYNC__FORCE_INLINE void
masync__set(void *dst, int c, size_t len)
{
#ifdef MASYNC__X86
	if (MASYNC__LIKELY(len - 16 <= 48)) {
		char *d = (char *)dst;
		__m128i v = _mm_set1_epi8((char)c);

		if (MASYNC__LIKELY(len > 32)) {
			_mm_storeu_si128((__m128i *)(void *)(d + 16), v);
			_mm_storeu_si128((__m128i *)(void *)(d + len - 32), v);
		}
		_mm_storeu_si128((__m128i *)(void *)d, v);
		_mm_storeu_si128((__m128i *)(void *)(d + len - 16), v);
		return;
	}
#endif
	memset(dst, c, len);
}

/* The first poll of an idle sync-mover future: the checks of
 * masync__vdm_check, then the output of masync__sync_delete, then the
 * operation (nobody sees the output before this poll returns). memcpy,
 * memmove and memset keep dest (str), n and flags at the same offsets:
 * one path for the two copies, and the common case is one test (no flags;
 * both buffers non-NULL with ranges that do not wrap: p - 1 < ~len says
 * both for len > 0, and sends NULL buffers of len 0 to the slow path,
 * which accepts them) with no taken branch. The output's pointer is the
 * destination for all three. */
static MASYNC__FORCE_INLINE enum future_state
masync__sync_run(struct vdm_operation_future *f, struct future_notifier *n)
{
	const struct vdm_operation *op = &f->data.operation;
	enum vdm_operation_type type = op->type;
	void *dst = op->data.memcpy.dest;
	size_t len = op->data.memcpy.n;
	const void *src;

	MASYNC__STATIC_ASSERT(
		offsetof(struct vdm_operation_data_memcpy, n) ==
			offsetof(struct vdm_operation_data_memmove, n) &&
		offsetof(struct vdm_operation_data_memcpy, n) ==
			offsetof(struct vdm_operation_data_memset, n) &&
		offsetof(struct vdm_operation_data_memcpy, flags) ==
			offsetof(struct vdm_operation_data_memmove, flags) &&
		offsetof(struct vdm_operation_data_memcpy, flags) ==
			offsetof(struct vdm_operation_data_memset, flags) &&
		offsetof(struct vdm_operation_data_memcpy, src) ==
			offsetof(struct vdm_operation_data_memmove, src),
		"memcpy, memmove and memset arguments at the same offsets");
	/* flags first: one register fewer live, none saved */
	if (MASYNC__UNLIKELY(op->data.memcpy.flags != 0))
		return masync__sync_slow(f, n);
	if (MASYNC__LIKELY(type <= VDM_OPERATION_MEMMOVE)) {
		src = op->data.memcpy.src;
		if (MASYNC__UNLIKELY(
				((uintptr_t)dst - 1 >= ~(uintptr_t)len) |
				((uintptr_t)src - 1 >= ~(uintptr_t)len)))
			return masync__sync_slow(f, n);
	} else if (type == VDM_OPERATION_MEMSET) {
		src = NULL;
		if (MASYNC__UNLIKELY((uintptr_t)dst - 1 >= ~(uintptr_t)len))
			return masync__sync_slow(f, n);
	} else {
		return masync__sync_slow(f, n);
	}
	f->data.data = NULL; /* the state is gone */
	f->output.type = type;
	f->output.result = VDM_SUCCESS;
	f->output.output.memcpy.dest = dst;
	/* busy-polling callers pass none: their path falls through */
	if (MASYNC__UNLIKELY(n != NULL))
		n->notifier_used = FUTURE_NOTIFIER_NONE;
	if (src != NULL) /* never NULL for a copy here: the test above */
		masync__move(dst, src, len);
	else
		masync__set(dst, op->data.memset.c, len);
	return FUTURE_STATE_COMPLETE;
}

MINIASYNC_API struct data_mover_sync *
data_mover_sync_new(void)
{
	struct data_mover_sync *dms =
		(struct data_mover_sync *)masync__zalloc(sizeof(*dms));

	if (dms == NULL)
		return NULL;
	dms->base.op_new = masync__sync_new;
	dms->base.op_delete = masync__sync_delete;
	dms->base.op_start = masync__sync_start;
	dms->base.op_check = masync__sync_check;
	dms->base.capabilities = MASYNC__CPU_CAPS | MASYNC__CAP_EXT;
	dms->base.has_property = future_has_property_default;
	return dms;
}

MINIASYNC_API struct vdm *
data_mover_sync_get_vdm(struct data_mover_sync *dms)
{
	if (dms == NULL)
		errno = EINVAL;
	return dms == NULL ? NULL : &dms->base;
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
/* How it works
 * - op_new takes a per-operation state from the mover's pool (never from a
 *   thread-local cache): a future may be polled by any thread, also after
 *   the thread that made it exited.
 * - The first poll queues the state in a bounded MPMC ring (D. Vyukov's
 *   algorithm) of ringbuf_size slots. Workers pop, run, and complete the
 *   operation through its signal (>>signal): the waker is called / the
 *   poller word changes after the result is visible.
 * - d->inflight bounds the operations in flight by ringbuf_size; the ring
 *   can still fill, with the entries of operations their pollers ran
 *   (they stay until a worker pops them).
 * - Full ring: the poll leaves the future idle and puts the state, with
 *   the queue's reference, at the end of the mover's wait list. A worker
 *   that pops an entry (freeing a slot) moves waiting operations into the
 *   ring, in order, as long as there is room; so no wake-up is needed for
 *   room and none can be lost: the waker is called, or the poller word
 *   changes, when the operation completes, and the next poll of the idle
 *   future finds it running or done. New operations queue behind waiting
 *   ones. A waiting operation is cancelled like a queued one.
 * - Operations of at least MASYNC__THR_SPLIT_MIN bytes are cut into
 *   chunks; the worker that pops one (or the poll that claims it) queues
 *   helper entries for more workers, so that the poller and the workers
 *   are at most as many as the poller's CPUs (masync__thr_plan), and
 *   whoever finishes the last chunk completes it.
 * - A poll after the first that finds its operation still queued runs it
 *   itself, and one of a split operation runs chunks that are left
 *   (masync__thr_help), so a caller that busy-polls is never slower than
 *   one that waits, also where workers share its CPU. A poller that
 *   nobody was woken to help copies the chunks one by one, as it does
 *   beside a worker (masync__thr_run); one that runs out of chunks while
 *   a worker copies its last spins for it a while (masync__thr_tail)
 *   rather than sleep and be woken. Operations with a user function
 *   (set_memcpy_fn & co.) are left to the workers; a poll
 *   that finds one queued, or held by a worker, yields the CPU now and
 *   then instead, and naps once the operation is late
 *   (masync__thr_not_done), so a worker on its CPU can run.
 * - A push wakes the sleeping worker that went to sleep on a CPU other
 *   than the pusher's (masync__thr_pick: each worker sleeps on its own
 *   condition variable), so that Linux puts it back there rather than
 *   beside the pusher. One woken for a split operation that slept on the
 *   pusher's CPU (all did) moves off it (masync__thr_move_off).
 * - Idle workers spin MASYNC__THR_WORKER_SPINS polls (~170 us here),
 *   yielding the CPU at every 8th, then sleep on a condition variable; a
 *   push wakes one only when one sleeps. Measured on the 2-core KVM guest
 *   with bench/bench.c (64 x 4 KiB batches, 2 workers): pure PAUSE
 *   spinning was bimodal, 0.41 or 1.1 M ops/s depending on which threads
 *   shared a core with the submitter; yielding every 8th poll gives
 *   0.9-1.1 M ops/s every run, and the 64 B round trip stays ~1.5 us
 *   (p99 2 us instead of 10 us with busy polling). Waking a sleeping
 *   worker costs 60 us to 3 ms on that guest, hence the spin.
 * - But a spinning worker is runnable, so a push does not wake it: when
 *   it shares a CPU with a thread that never blocks (a caller busy-polling
 *   its futures) it only runs once that thread's time slice ends, one
 *   slice per batch (0.016 M ops/s pinned to one CPU). So a worker times
 *   its yields: one that returns after MASYNC__THR_STOLEN_NS means another
 *   thread wanted this CPU; if that was a thread busy-polling this
 *   mover there (masync__thr_mark_poll), the worker then sleeps at once
 *   and does not spin for a quiet period (4 ms, doubling on each repeat up
 *   to 1 s, back to 4 ms after a spin that was not interrupted). Another
 *   program's thread does not stop the spin: asleep, the worker would
 *   make every push pay a wake-up for as long as that load lasts. A
 *   sleeping worker is woken by the push, and the wake-up lets it preempt the poller. A
 *   worker that may use one CPU only does not spin for pushes made on
 *   that CPU, which can only come while it is off it (4 pollers and the
 *   workers pinned to one CPU, bench/polling: 1.3-1.5x the time of
 *   workers that never spin, 1.0x without that spin); it does spin while
 *   the pushes come from another CPU (a caller pinned elsewhere,
 *   d->push_cpu). */

#define MASYNC__THR_MAX_THREADS 1024u
#define MASYNC__THR_MAX_RING (1u << 24)
#define MASYNC__THR_SPLIT_MIN (2u << 20)   /* smallest op that is split */
/* Chunks: 1/16 of a participant's share, within these bounds. Small
 * enough that a participant that holds the last one (a worker on a slower
 * or busier CPU, one preempted) keeps the others waiting little: 64 KiB
 * is ~3 us, 512 KiB ~35 us at one core's streaming rate. */
#define MASYNC__THR_CHUNK_MIN (64u << 10)
#define MASYNC__THR_CHUNK_MAX (512u << 10)
/* Split operations whose share per worker is below masync__stream_min()
 * keep cached stores: while a share is within a few times a core's L2 the
 * data is often still hot and cached stores win (4 MiB on 2 workers, hot,
 * L2 1 MiB: 1.6x plain memcpy cached, 0.7x streaming); from 8 MiB on 2
 * workers streaming wins (cold: 2.1x against 1.4x). The L2 size comes
 * from CPUID, so the rule follows the CPU rather than one machine. */
static size_t
masync__stream_min(void)
{
#ifdef MINIASYNC_STREAM_MIN
	return (size_t)MINIASYNC_STREAM_MIN;
#else
#ifdef MASYNC__X86
	size_t l2 = masync__cpu_l2();

	if (l2 != 0)
		return 4 * l2;
#endif
	return (size_t)4 << 20;
#endif
}
#ifndef MASYNC__THR_WORKER_SPINS /* 0 (benchmarks): never spin */
#define MASYNC__THR_WORKER_SPINS 2000u   /* empty-queue polls before sleep */
#endif
#define MASYNC__THR_YIELD_EVERY 8u       /* of those, every 8th yields */
#define MASYNC__THR_STOLEN_NS 500000u    /* a yield this long: CPU contended */
#define MASYNC__THR_QUIET_MIN 4000000u   /* ns without spinning after that */
#define MASYNC__THR_QUIET_MAX 1000000000u
#define MASYNC__THR_SLOTS 16u /* CPUs told apart by d->polled */

enum masync__thr_phase {
	MASYNC__PH_NEW,     /* created, not queued */
	MASYNC__PH_QUEUED,
	MASYNC__PH_RUNNING,
	MASYNC__PH_DONE,
};

/* Laid out so that an unsplit operation that finds ring room touches two
 * lines, each written by the caller and then by the worker that runs it:
 * the third holds what only split operations and the wait list use (with
 * it touched too, 64 x 4 KiB batches on the 2-vCPU VM, waiting: 2 workers
 * 1.87 M ops/s against 2.00, 1 worker 2.57 against 2.79). */
struct masync__thr_op {
	/* line 0: the life of every operation */
	struct masync__pool_link link; /* first: the pool's free list */
	MASYNC__A(uint32_t) refs;      /* the future + each queue entry */
	MASYNC__A(uint32_t) phase;
	struct masync__signal sig;
	struct data_mover_threads *dmt;
	/* `use` numbers the state's uses (never 0). The operation's own queue
	 * entry carries it; `qref` holds it while that entry's reference is
	 * unclaimed: a poll that runs the operation itself claims it with a
	 * CAS and drops it at once, and a worker that pops the entry later
	 * (perhaps of a state reused since) fails its CAS and skips it. */
	uint32_t use;
	MASYNC__A(uint32_t) qref;
	MASYNC__A(int) cpu; /* unsplit, run by a worker: its CPU; else -1 */
	/* on the wait list for queue room (set under dmt->blocked_lock) */
	MASYNC__A(int) blocked;
	/* line 1: the operation, as its worker reads it */
	struct vdm_operation op;
	enum vdm_operation_result result;
	unsigned char stream;  /* chunks written with streaming stores */
	unsigned char started; /* op_start queued it (owner only) */
	/* in a forked child: MASYNC__THR_RAN_HERE or _ORPHAN, else 0 */
	unsigned char forked;
	unsigned char checked; /* op_check ran once (owner only) */
	size_t nchunks;
	/* line 2: a split operation's (set only when nchunks > 1) and the
	 * wait list's links (set only while blocked) */
	size_t chunk;
	size_t extra;  /* workers asked to help besides the entry's own */
	MASYNC__A(size_t) next_chunk;
	MASYNC__A(size_t) chunks_done;
	struct masync__thr_op *bprev, *bnext;
	/* on dmt->defer (under dmt->lock): its own link, as the wait list
	 * unlinks an operation after a push that may already have run it */
	struct masync__thr_op *dnext;
	/* made in a process forked since the mover was made: its fork
	 * generation (masync__fork_count), else 0 (written only there) */
	unsigned fgen;
};
MASYNC__STATIC_ASSERT(sizeof(void *) != 8 ||
	(offsetof(struct masync__thr_op, op) == MASYNC__CACHELINE &&
	offsetof(struct masync__thr_op, chunk) == 2 * MASYNC__CACHELINE),
	"masync__thr_op: the lines an unsplit operation touches");

/* A worker's sleep, under dmt->lock: each has its own condition variable
 * so that a push chooses whom to wake (masync__thr_wake_one). */
struct masync__thr_wk {
	struct data_mover_threads *d;
	cnd_t cond;
	int cpu;   /* the CPU it went to sleep on, -1: unknown */
	int woken; /* a push chose it */
	int off;   /* a CPU to move off once awake (masync__thr_move_off) */
};

/* op, tag and run are atomic: masync__thr_trim reads them before its pop */
struct masync__ring_cell {
	MASYNC__A(size_t) seq;
	MASYNC__A(struct masync__thr_op *) op;
	/* the op's `use` for its own entry, 0 for a helper's */
	MASYNC__A(uint32_t) tag;
	/* its own entry, unsplit, of the library's kernels: a trim may run
	 * it (set by the push: the op's fields may be rewritten by its next
	 * use before a trim's pop fails) */
	MASYNC__A(uint32_t) run;
};

struct data_mover_threads {
	struct masync__vdm_ext ext;
	enum future_notifier_type notifier;
	memcpy_fn op_memcpy;
	memmove_fn op_memmove;
	memset_fn op_memset;
	size_t nthreads;
	thrd_t *threads;
	uint64_t gen; /* unique among this process's movers */
	struct masync__pool pool; /* its fork_gen: the mover's */
	/* bounded MPMC queue (D. Vyukov's algorithm), any capacity */
	size_t cap;
	/* positions go by laps of lap_mask + 1 >= cap, a power of two (see
	 * masync__ring_index) */
	size_t lap_mask;
	unsigned lap_log;
	struct masync__ring_cell *cells;
	/* operations in flight, from op_new to the future's release (a
	 * worker may hold the state a moment longer: the pool is larger);
	 * RMWs by the threads that create and complete futures only. In a
	 * process forked since the mover was made, cinflight counts instead:
	 * (its fork generation << 32) | count, so that a child starts from 0
	 * and the parent's operations (which it may never poll) do not
	 * count there (masync__fork_count) */
	MASYNC__ALIGNAS(64) MASYNC__A(size_t) inflight;
	MASYNC__A(uint64_t) cinflight;
	MASYNC__ALIGNAS(64) MASYNC__A(size_t) enq_pos;
	MASYNC__ALIGNAS(64) MASYNC__A(size_t) deq_pos;
	/* each its own line: every push does an RMW on `idle`; `nblocked`
	 * is read at every push and pop, written only when the ring is full */
	MASYNC__ALIGNAS(64) MASYNC__A(uint32_t) nblocked; /* on the list */
	MASYNC__A(int) stop;
	MASYNC__A(int) ndefer; /* `defer` is not empty */
	MASYNC__ALIGNAS(64) MASYNC__A(uint32_t) idle; /* workers asleep or
						       * about to be */
	/* workers spinning on an empty ring: its own line, RMWs at every
	 * pop of a spinner and pushes RMW `idle` */
	MASYNC__ALIGNAS(64) MASYNC__A(uint32_t) spinning;
	MASYNC__ALIGNAS(64) mtx_t lock; /* worker sleep */
	struct masync__thr_wk *wk;    /* one per worker, `nwk` initialised */
	size_t nwk;
	struct masync__thr_wk **sleepers; /* asleep, latest last */
	size_t nsleep;
	/* operations a poller ran for another future whose waker is a
	 * user's: a worker completes them (linked by dnext; under `lock`) */
	struct masync__thr_op *defer;
	/* the wait list: operations waiting for a slot, oldest first */
	mtx_t blocked_lock;
	struct masync__thr_op *bhead, *btail;
	/* measured (masync__thr_wake_pays): when a sleeping worker was last
	 * signalled, how long until one ran (ns), how long the signal took
	 * its caller (ns: a system call, and on a VM an IPI), how fast the
	 * poller and a worker copy their chunks of a split operation (ps per
	 * byte), [0] with cached stores, [1] streaming; 0: not measured */
	MASYNC__ALIGNAS(64) MASYNC__A(uint64_t) signal_at;
	MASYNC__A(uint64_t) wake_ns;
	MASYNC__A(uint64_t) wake_call_ns;
	MASYNC__A(uint64_t) ps_per_byte[2];
	MASYNC__A(uint64_t) ps_worker[2];
	/* the one CPU the workers may use, seen when one went to sleep;
	 * -1: more than one (masync__thr_solo) */
	MASYNC__A(int) solo_cpu;
	/* the CPU of the last push seen while solo_cpu was set (-1: none
	 * yet): a worker confined to one CPU spins only when pushers run on
	 * another (masync__thr_spin) */
	MASYNC__A(int) push_cpu;
	/* busy polls of this mover's operations by CPU (masync__thr_slot),
	 * counted at every MASYNC__THR_POLL_MARK-th of a thread: a worker
	 * whose yield took long tells a busy poller of this mover from
	 * another program by it (masync__thr_spin) */
	MASYNC__ALIGNAS(64) MASYNC__A(uint32_t) polled[MASYNC__THR_SLOTS];
};

/* A position is a lap number above lap_log bits of cell index: the last
 * cell's successor starts the next lap. Positions and sequence numbers wrap
 * at SIZE_MAX, a multiple of the lap, so a cell is the same for p and for
 * p + lap across the wrap. (pos % cap, with cap not a power of two, jumped
 * there: after 2^32 operations on a 32-bit target a push waited for a cell
 * nobody would free, and the mover hung.) */
static size_t
masync__ring_index(const struct data_mover_threads *d, size_t pos)
{
	return pos & d->lap_mask;
}

static size_t
masync__ring_next(const struct data_mover_threads *d, size_t pos)
{
	/* (a power-of-two cap: pos + 1 either way) */
	return (pos & d->lap_mask) + 1 < d->cap ? pos + 1 :
		(pos | d->lap_mask) + 1;
}

/* Sequence numbers are doubled: a cell is free for position p at 2p and
 * holds p's entry at 2p + 1. (Vyukov's p / p + 1 / p + cap cannot tell
 * "full" from "free" when cap is 1.) */
static int masync__thr_helpable(const struct masync__thr_op *op);

static int
masync__ring_push(struct data_mover_threads *d, struct masync__thr_op *op,
	uint32_t tag)
{
	size_t pos = MASYNC__LOAD(&d->enq_pos, relaxed);

	for (;;) {
		struct masync__ring_cell *c =
			&d->cells[masync__ring_index(d, pos)];
		size_t seq = MASYNC__LOAD(&c->seq, acquire);
		intptr_t dif = (intptr_t)(seq - 2 * pos);

		if (dif == 0) {
			if (MASYNC__CAS(&d->enq_pos, &pos,
					masync__ring_next(d, pos), relaxed)) {
				MASYNC__HA(c);
				/* release: masync__thr_trim reads op before it
				 * knows the entry is the one it saw */
				MASYNC__STORE(&c->op, op, release);
				MASYNC__STORE(&c->tag, tag, relaxed);
				MASYNC__STORE(&c->run, tag != 0 &&
					op->nchunks == 1 &&
					masync__thr_helpable(op), relaxed);
				MASYNC__HB(c);
				MASYNC__STORE(&c->seq, 2 * pos + 1, release);
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
masync__ring_pop(struct data_mover_threads *d, uint32_t *tag)
{
	size_t pos = MASYNC__LOAD(&d->deq_pos, relaxed);

	for (;;) {
		struct masync__ring_cell *c =
			&d->cells[masync__ring_index(d, pos)];
		size_t seq = MASYNC__LOAD(&c->seq, acquire);
		intptr_t dif = (intptr_t)(seq - (2 * pos + 1));

		if (dif == 0) {
			if (MASYNC__CAS(&d->deq_pos, &pos,
					masync__ring_next(d, pos), relaxed)) {
				struct masync__thr_op *op;

				MASYNC__HA(c);
				op = MASYNC__LOAD(&c->op, relaxed);
				*tag = MASYNC__LOAD(&c->tag, relaxed);
				MASYNC__HB(c);
				MASYNC__STORE(&c->seq,
					2 * (pos + d->lap_mask + 1), release);
				return op;
			}
		} else if (dif < 0) {
			return NULL; /* empty */
		} else {
			pos = MASYNC__LOAD(&d->deq_pos, relaxed);
		}
	}
}

/* entries in the ring (a snapshot: both ends move; a head read past the
 * tail gives a huge count, as it did before laps) */
static size_t
masync__thr_fill(struct data_mover_threads *d)
{
	size_t e = MASYNC__LOAD(&d->enq_pos, relaxed);
	size_t q = MASYNC__LOAD(&d->deq_pos, relaxed);
	size_t n = e - q, m = d->lap_mask;

	/* each lap between them skips lap - cap positions */
	if (m + 1 != d->cap && (intptr_t)n > 0)
		n -= (((e | m) - (q | m)) >> d->lap_log) * (m + 1 - d->cap);
	return n;
}

/* From half full on, pushes wake a worker and busy pollers trim the ring
 * (masync__thr_wakes, masync__thr_trim): one threshold for both. */
static int
masync__thr_half_full(struct data_mover_threads *d)
{
	return masync__thr_fill(d) >= d->cap / 2;
}

/* Whether anything is queued, counting a push from its enq_pos CAS on
 * (before its entry is published): a worker sleeps only on an empty ring.
 * Reading the head cell instead missed entries: a head that a poller's
 * trim popped between the two loads, with entries left behind it, or a
 * head still being pushed ahead of a published entry whose pusher saw the
 * worker busy (and a spare push wakes nobody on its own CPU). The worker
 * slept with work queued for good (a hang in test_threads_fork's stress
 * under TSan, 1 run in 40 on a loaded machine). deq_pos is read first:
 * equal values then mean the ring was empty at the second load. */
static int
masync__ring_nonempty(struct data_mover_threads *d)
{
	size_t deq = MASYNC__LOAD(&d->deq_pos, acquire);

	MASYNC__TEST_PREEMPT();
	return MASYNC__LOAD(&d->enq_pos, acquire) != deq;
}

static void
masync__thr_unref(struct masync__thr_op *op)
{
	uint32_t refs;

	MASYNC__HB(&op->refs);
	refs = MASYNC__FSUB(&op->refs, 1, acq_rel);
	MINIASYNC_ASSERT(refs > 0); /* a reference dropped twice */
	if (refs == 1) {
		MASYNC__HA(&op->refs);
		masync__pool_put(&op->dmt->pool, op);
	}
}

#ifdef MASYNC__TEST_HOOKS
/* tests: the CPU the calling thread runs on (NULL: ask the system) */
typedef int (*masync__cpu_fn)(void);
static MASYNC__A(masync__cpu_fn) masync__test_thr_cpu;
static MASYNC__A(unsigned) masync__test_thr_wakes; /* tests: pushes' wakes */
#endif

/* The CPU the calling thread runs on now, or -1 */
static int
masync__thr_cpu_now(void)
{
#ifdef MASYNC__TEST_HOOKS
	masync__cpu_fn fn = MASYNC__LOAD(&masync__test_thr_cpu, acquire);

	if (fn != NULL)
		return fn();
#endif
#if defined(MASYNC__FUTEX)
	return masync__sched_getcpu();
#else
	return -1;
#endif
}

/* Which of the `n` sleepers (latest last) a thread on CPU `me` wakes: the
 * latest that went to sleep on another CPU, else the latest. Linux puts a
 * woken thread back on the CPU it slept on when that one is idle, but
 * where it cannot see a cache shared between the two (a VM without cache
 * topology) it leaves one that slept on the waker's CPU there, beside the
 * waker, though another CPU is idle: the two then share one CPU
 * (bench/placement.c; a split 64 MiB copy at one participant's speed).
 * Only the latest 16 are looked at: the lock is held. */
static size_t
masync__thr_pick(struct masync__thr_wk *const *sl, size_t n, int me)
{
	size_t k, low = n > 16 ? n - 16 : 0;

	for (k = n; me >= 0 && k-- > low;)
		if (sl[k]->cpu != me)
			return k;
	return n - 1;
}

/* Wakes one sleeping worker (see masync__thr_pick), if one sleeps. One
 * for a split operation that slept on the pusher's CPU (every sleeper
 * did: after batches both workers often sleep on one CPU) is told to move
 * off that CPU once awake, or it copies beside the pusher. With `spare`,
 * none that slept on the pusher's CPU (see masync__thr_op_start). */
static int
masync__thr_wake_one(struct data_mover_threads *d, int split, int spare)
{
	int me = masync__thr_cpu_now(), woke = 0;

	masync__mtx_lock(&d->lock);
	if (d->nsleep > 0) {
		size_t k = masync__thr_pick(d->sleepers, d->nsleep, me);
		struct masync__thr_wk *w = d->sleepers[k];

		if (spare && me >= 0 && w->cpu == me) {
			masync__mtx_unlock(&d->lock);
			return 0;
		}
		memmove(&d->sleepers[k], &d->sleepers[k + 1],
			(d->nsleep - k - 1) * sizeof(d->sleepers[0]));
		d->nsleep--;
		w->woken = 1;
#ifdef MASYNC__TEST_HOOKS
		MASYNC__FADD(&masync__test_thr_wakes, 1, relaxed);
#endif
		w->off = split && me >= 0 && w->cpu == me ? me : -1;
		masync__cnd_signal(&w->cond);
		woke = 1;
	}
	masync__mtx_unlock(&d->lock);
	return woke;
}

/* Moves the calling thread off CPU `cpu` if it runs there and its
 * affinity mask allows another: the mask without that CPU, then at once
 * the mask it had (Linux migrates the thread at the first call and does
 * not move it back at the second). Not with test CPU numbers. */
static void
masync__thr_move_off(int cpu)
{
#if defined(MASYNC__FUTEX) && defined(SYS_sched_getaffinity) && \
	defined(SYS_sched_setaffinity)
	enum { W = 8 * sizeof(unsigned long) };
	unsigned long mask[1024 / W], less[1024 / W];
	size_t i, other = 0;
	long r;

#ifdef MASYNC__TEST_HOOKS
	if (MASYNC__LOAD(&masync__test_thr_cpu, acquire) != NULL)
		return;
#endif
	if (cpu < 0 || cpu >= 1024 || masync__thr_cpu_now() != cpu)
		return;
	r = masync__syscall(SYS_sched_getaffinity, 0L, (long)sizeof(mask),
		(long)(void *)mask);
	if (r <= 0 || (size_t)r > sizeof(mask) || (size_t)cpu / W >=
			(size_t)r / sizeof(mask[0]))
		return;
	memcpy(less, mask, (size_t)r);
	less[(size_t)cpu / W] &= ~(1ul << ((size_t)cpu % W));
	for (i = 0; i < (size_t)r / sizeof(less[0]); i++)
		other |= less[i];
	if (other != 0 && masync__syscall(SYS_sched_setaffinity, 0L, r,
			(long)(void *)less) == 0)
		masync__syscall(SYS_sched_setaffinity, 0L, r,
			(long)(void *)mask);
#else
	(void)cpu;
#endif
}

static void
masync__thr_wake_all(struct data_mover_threads *d)
{
	masync__mtx_lock(&d->lock);
	while (d->nsleep > 0) {
		struct masync__thr_wk *w = d->sleepers[--d->nsleep];

		w->woken = 1;
		masync__cnd_signal(&w->cond);
	}
	masync__mtx_unlock(&d->lock);
}

/* 3/4 of the old value and 1/4 of the new one (the first as it is) */
static void
masync__thr_ewma(MASYNC__A(uint64_t) *v, uint64_t x)
{
	uint64_t o = MASYNC__LOAD(v, relaxed);

	MASYNC__STORE(v, o == 0 ? x : o - o / 4 + x / 4, relaxed);
}

/* Whether workers that spin on the ring are at least as many as the
 * entries in it, so that one takes each (see masync__thr_push). */
static int
masync__thr_spun(struct data_mover_threads *d)
{
	/* an RMW, not a fence: a spinner that stops after this read sees
	 * the pushed entry (masync__thr_worker) */
	uint32_t s = MASYNC__FADD(&d->spinning, 0, acq_rel);

	return s != 0 && masync__thr_fill(d) <= s;
}

/* Pushes and, if a worker sleeps and `wake`, wakes one; MASYNC__THR_SPARE:
 * not one that went to sleep on the pusher's CPU (masync__thr_op_start).
 * An entry of a split operation wakes nobody while a spinning worker is
 * there for it: the wake-up call costs the poller, who copies meanwhile,
 * 12-50 us on a VM (a 4 MiB copy takes ~75), and the spinner pops the
 * entry within a microsecond anyway (2-vCPU Zen 5 VM, 4 MiB: woke with a
 * spinner there 0.75-1.0x plain memcpy, a spinner alone 1.3-1.45x).
 * Unless MASYNC__THR_SURE: a spinner counted may have just popped another
 * entry (it leaves the count after its pop), and run that for long or for
 * good (a user function that waits); only a poller that polls again (and
 * runs the chunks itself) can rely on the count. */
#define MASYNC__THR_SPARE 2
#define MASYNC__THR_SURE 3
static int
masync__thr_push(struct data_mover_threads *d, struct masync__thr_op *op,
	uint32_t tag, int wake)
{
	if (masync__ring_push(d, op, tag) != 0)
		return -1;
	MASYNC__TEST_PREEMPT();
	/* an RMW, not a fence (sanitizers model RMWs): either this sees the
	 * worker's increment or the worker sees the pushed operation */
	if (wake && MASYNC__FADD(&d->idle, 0, acq_rel) != 0 &&
			!(op->nchunks > 1 && wake != MASYNC__THR_SURE &&
			masync__thr_spun(d))) {
		uint64_t t = masync__now_ns();

		MASYNC__STORE(&d->signal_at, t, relaxed);
		if (masync__thr_wake_one(d, op->nchunks > 1,
				wake == MASYNC__THR_SPARE))
			masync__thr_ewma(&d->wake_call_ns,
				masync__now_ns() - t);
		else /* nobody signalled: no wake-up to measure */
			MASYNC__CAS(&d->signal_at, &t, 0, relaxed);
	}
	return 0;
}

/* (for operations that waited for room: whether their pollers poll again
 * is not known here) */
static int
masync__thr_enqueue(struct data_mover_threads *d, struct masync__thr_op *op,
	uint32_t tag)
{
	return masync__thr_push(d, op, tag, MASYNC__THR_SURE);
}

/* Whether waking a sleeping worker for a split operation of n bytes in
 * chunks of `chunk` pays: the poller starts on it at once, the worker
 * only after the wake-up. With the poller's rate in chunks rc (alone or
 * beside a worker: it copies chunk by chunk either way) and the worker's
 * rw (ps a byte), the worker's arrival w and the poller's time in the
 * wake-up call c (ns), both finish, after c and w and half a worker's
 * chunk late on average, before the poller alone when
 *     n rc > (n rc rw + c rw + w rc) / (rc + rw) + chunk rw / 2   (ns)
 * On the 2-vCPU Zen 5 VM a 4 MiB copy that stays in
 * the caches takes the poller 73-88 us alone, c is 12-20 us (an IPI that
 * exits the VM), w 30-50 us, and the worker copies 4-5x slower than the
 * poller, whose caches hold the data: the wake-up costs more than it
 * brings (0.42-0.8x plain memcpy when it woke, 0.99x when not), while 16
 * / 64 MiB (streaming, equal rates) pay. Every figure is measured on this
 * mover, nothing is tuned to a machine; until they are, it wakes. The
 * poller's next poll runs the chunks (the first poll of a split operation
 * calls the runtime's waker for that; a program's waker is not called
 * there and a POLLER word does not change, so those wake a worker), and
 * data_mover_threads_delete wakes every worker, so no
 * operation waits for a worker nobody woke. The rates are kept apart for
 * cached and streaming stores (plain memcpy of 2 MiB ~45 GB/s, of 64 MiB
 * ~8, on that VM). Only a wake-up measures w, c and rw again, so each one
 * not made ages w and c by 1/8 and brings rw 1/8 closer to rc (which the
 * poller measures on every copy): figures measured under a passing load
 * (ms) must not keep the workers asleep for good (they did: after one
 * slow wake-up, every 64 MiB copy ran alone on the poller). */
static int
masync__thr_wake_pays(struct data_mover_threads *d, size_t n, size_t chunk,
	int stream)
{
	uint64_t w = MASYNC__LOAD(&d->wake_ns, relaxed);
	uint64_t c = MASYNC__LOAD(&d->wake_call_ns, relaxed);
	uint64_t rc = MASYNC__LOAD(&d->ps_per_byte[stream != 0], relaxed);
	uint64_t rw = MASYNC__LOAD(&d->ps_worker[stream != 0], relaxed);

	/* entries nobody woke for stay queued (their poller ran the
	 * chunks): from half full on, wake, so the ring does not fill up
	 * with them for good (until the woken workers run, it may: a
	 * first poll then waits for room) */
	if (w == 0 || rc == 0 || rw == 0 || masync__thr_half_full(d) ||
			(uint64_t)n / 1000 * rc > ((uint64_t)n / 1000 * rc *
			rw + c * rw + w * rc) / (rc + rw) +
			(uint64_t)chunk / 1000 * rw / 2)
		return 1;
	MASYNC__STORE(&d->wake_ns, w - w / 8, relaxed);
	MASYNC__STORE(&d->wake_call_ns, c - c / 8, relaxed);
	if (rw > rc)
		MASYNC__STORE(&d->ps_worker[stream != 0], rw - (rw - rc) / 8,
			relaxed);
	return 0;
}

/* The wait list; all under d->blocked_lock. */
static void
masync__blocked_append(struct data_mover_threads *d, struct masync__thr_op *op)
{
	op->bprev = d->btail;
	op->bnext = NULL;
	if (d->btail != NULL)
		d->btail->bnext = op;
	else
		d->bhead = op;
	d->btail = op;
	MASYNC__STORE(&op->blocked, 1, relaxed);
	/* pairs with the fence in masync__thr_room: the drain that follows
	 * sees a slot freed before that fence */
	MASYNC__FADD(&d->nblocked, 1, seq_cst);
	MASYNC__FENCE(seq_cst);
}

/* Takes op off the list; nblocked still counts it. */
static void
masync__blocked_remove(struct data_mover_threads *d, struct masync__thr_op *op)
{
	if (op->bprev != NULL)
		op->bprev->bnext = op->bnext;
	else
		d->bhead = op->bnext;
	if (op->bnext != NULL)
		op->bnext->bprev = op->bprev;
	else
		d->btail = op->bprev;
	op->bprev = op->bnext = NULL;
	/* a drain may do this after the push: whoever sees 0 here (release,
	 * help) sees these writes (helgrind and drd need it said) */
	MASYNC__HB(&op->blocked);
	MASYNC__STORE(&op->blocked, 0, release);
}

static void
masync__blocked_unlink(struct data_mover_threads *d, struct masync__thr_op *op)
{
	masync__blocked_remove(d, op);
	MASYNC__FSUB(&d->nblocked, 1, relaxed);
}

/* Moves waiting operations into the ring while it has room; the list's
 * reference becomes the ring's. An operation is pushed while still on the
 * list and leaves it after: until then a poll does not run it (see
 * masync__thr_help) and its owner cannot drop it (masync__thr_release
 * takes this lock), so a worker may run it meanwhile but nobody reuses
 * it. */
static void
masync__blocked_drain(struct data_mover_threads *d)
{
	while (d->bhead != NULL) {
		struct masync__thr_op *op = d->bhead;

		/* full: the next pop, which sees nblocked, calls this again */
		if (masync__thr_enqueue(d, op, op->use) != 0)
			return;
		masync__blocked_unlink(d, op);
	}
}

/* A queue slot was freed: move waiting operations in. No waker is called
 * (and no lock held while one is): the operations' wakers are called when
 * they complete. */
static void
masync__thr_room(struct data_mover_threads *d)
{
	/* Either this sees the waiter that was added, or the one who added
	 * it sees the slot this pop freed (masync__blocked_append). A fence
	 * and a load, not an RMW: an RMW at every pop took the line from
	 * the pushing thread, which reads it at every push, a miss on both
	 * sides per operation (64 x 4 KiB batches on 2 workers, waiting,
	 * 2-vCPU VM: 1.76 -> 2.11 M ops/s; 1 worker 1.88 -> 2.45). */
	MASYNC__FENCE(seq_cst);
	if (MASYNC__LOAD(&d->nblocked, relaxed) == 0)
		return;
	masync__mtx_lock(&d->blocked_lock);
	masync__blocked_drain(d);
	masync__mtx_unlock(&d->blocked_lock);
}

/* Who runs an operation: a thread polling another future, a worker, the
 * thread polling this one, or data_mover_threads_delete. */
#define MASYNC__THR_POLLER 0
#define MASYNC__THR_WORKER 1
#define MASYNC__THR_OWNER 2
#define MASYNC__THR_INLINE 3

static void masync__thr_defer(struct masync__thr_op *op);

/* Only workers (and delete) call a user's waker. A thread that polls
 * another future may hold a lock that waker takes (an executor that polls
 * under its queue's lock, and whose waker takes it to queue the task), so
 * an operation it ran for someone whose waker is a user's is completed by
 * a worker (masync__thr_defer). The future's own poll completes it with
 * no call at all: it reports COMPLETE itself. The runtime's waker takes
 * no lock and is called anywhere. */
static void
masync__thr_finish(struct masync__thr_op *op, int who)
{
	/* a poller looks at the waker first; in a forked child the workers
	 * that would take a deferred completion are gone */
	int locked = who == MASYNC__THR_POLLER &&
		!masync__forked_since(op->dmt->pool.fork_gen);
	uint64_t w = 0;

	MASYNC__TEST_PREEMPT();
	if (locked) {
		w = masync__signal_lock(&op->sig);
		if ((w & MASYNC__S_WAKER) &&
				!masync__waker_merges(op->sig.waker.wake)) {
			masync__signal_unlock(&op->sig, w);
			masync__thr_defer(op);
			return;
		}
	}
	MASYNC__STORE(&op->phase, MASYNC__PH_DONE, release);
	if (locked)
		masync__signal_fire_locked(&op->sig, w, 1);
	else if (who == MASYNC__THR_OWNER)
		masync__signal_complete_quiet(&op->sig);
	else
		masync__signal_complete(&op->sig);
}

/* Runs up to `max` chunks of `op` (fewer once none is left); the thread
 * that completes the last chunk completes the operation. */
static void
masync__thr_run(struct data_mover_threads *d, struct masync__thr_op *op,
	size_t max, int who)
{
	struct masync__op_args a = masync__args(&op->op);
	size_t mine = 0, i;
	/* (64 MiB on 2 threads: 2.0x plain memcpy streaming, 1.37x cached) */
	uint64_t cpu_flags = op->stream ? a.flags | VDM_F_NO_CACHE_HINT :
		a.flags;
	size_t bytes = 0;
	uint64_t t0 = op->nchunks > 1 ? masync__now_ns() : 0;

	/* One chunk a call, also for a poller nobody helps: glibc on AMD
	 * copies a chunk (64-512 KiB, within the L2) with rep movsb and a
	 * whole cached copy above the L2 with vector loops, which some runs
	 * of a process make slow (4 MiB hot on the Zen 5 VM: one call 74 or
	 * 94-100 us, 128 KiB calls 71-75 us either way; poller alone in
	 * bench.c 1.11-1.34x plain memcpy in chunks, 0.79-1.23x in one
	 * call). Where libc uses one kernel for all these sizes (rep movsb
	 * on Intel) chunks cost 32 calls more. */
	/* an unsplit one is run by the winner of its phase CAS only: no
	 * claim and no count (two RMWs fewer per small operation) */
	int whole = op->nchunks == 1;
	/* (an unsplit one's chunk is its whole length: op->chunk is unset) */
	size_t chunk = whole ? a.n : op->chunk;

	while (mine < max && (whole ? (i = mine) == 0 :
			(i = MASYNC__FADD(&op->next_chunk, 1, relaxed)) <
			op->nchunks)) {
		size_t off = i * chunk;
		size_t len = a.n - off < chunk ? a.n - off : chunk;
		/* (NULL only for 0 bytes, which a user function gets too) */
		unsigned char *dst = a.dst == NULL ? NULL :
			(unsigned char *)a.dst + off;
		const unsigned char *src = a.src == NULL ? NULL :
			(const unsigned char *)a.src + off;
		unsigned fl = (unsigned)a.flags;

		switch (op->op.type) {
		case VDM_OPERATION_MEMCPY:
			if (d->op_memcpy != NULL)
				d->op_memcpy(dst, src, len, fl);
			else
				masync__cpu_op(op->op.type, dst, src, 0, len,
					cpu_flags);
			break;
		case VDM_OPERATION_MEMMOVE:
			if (d->op_memmove != NULL)
				d->op_memmove(dst, src, len, fl);
			else
				masync__cpu_op(op->op.type, dst, src, 0, len,
					cpu_flags);
			break;
		case VDM_OPERATION_MEMSET:
			if (d->op_memset != NULL)
				d->op_memset(dst, a.c, len, fl);
			else
				masync__cpu_op(op->op.type, dst, NULL, a.c,
					len, cpu_flags);
			break;
		case VDM_OPERATION_FLUSH:
			masync__cpu_op(op->op.type, dst, NULL, 0, len,
				a.flags);
			break;
		}
		mine++;
		bytes += len;
#ifdef MASYNC__THR_TRACE_CHUNK /* bench/placement.c */
		MASYNC__THR_TRACE_CHUNK(i);
#endif
	}
	if (mine == 0)
		return;
	/* the poller's or a worker's copy rate (masync__thr_wake_pays) */
	if (bytes >= MASYNC__THR_CHUNK_MIN && t0 != 0)
		masync__thr_ewma(who == MASYNC__THR_WORKER ?
			&d->ps_worker[op->stream != 0] :
			&d->ps_per_byte[op->stream != 0],
			(masync__now_ns() - t0) * 1000 / bytes);
	if (whole) {
		masync__thr_finish(op, who);
		return;
	}
	MASYNC__HB(&op->chunks_done);
	if (MASYNC__FADD(&op->chunks_done, mine, acq_rel) + mine ==
			op->nchunks) {
		MASYNC__HA(&op->chunks_done);
		masync__thr_finish(op, who);
	}
}

/* Asks up to `help` idle workers to help with the remaining chunks. */
static void
masync__thr_recruit(struct data_mover_threads *d, struct masync__thr_op *op,
	size_t help)
{
	size_t left, k;

	if (op->nchunks < 2)
		return;
	left = op->nchunks - MASYNC__LOAD(&op->next_chunk, relaxed);
	if (left < 2 || left > op->nchunks)
		return;
	if (help > left - 1)
		help = left - 1;
	for (k = 0; k < help; k++) {
		MASYNC__FADD(&op->refs, 1, relaxed);
		if (masync__thr_enqueue(d, op, 0) != 0) {
			MASYNC__FSUB(&op->refs, 1, relaxed);
			break;
		}
	}
}

/* A popped entry: the operation's own one carries the reference only
 * while its poll has not claimed it (see `use`); else skip it. */
static void
masync__thr_execute(struct data_mover_threads *d, struct masync__thr_op *op,
	uint32_t tag, int who)
{
	uint32_t ph = MASYNC__PH_QUEUED;

	if (tag != 0 && !MASYNC__CAS(&op->qref, &tag, 0, acq_rel))
		return;

	/* (an unsplit one: the CAS's winner only, see masync__thr_run) */
	if (MASYNC__CAS(&op->phase, &ph, MASYNC__PH_RUNNING, acquire) ||
			(ph == MASYNC__PH_RUNNING && op->nchunks > 1)) {
		if (ph == MASYNC__PH_QUEUED && who == MASYNC__THR_WORKER &&
				op->nchunks == 1)
			MASYNC__STORE(&op->cpu, masync__thr_cpu_now(),
				relaxed); /* see masync__thr_not_done */
		if (ph == MASYNC__PH_QUEUED)
			masync__thr_recruit(d, op, op->extra);
		masync__thr_run(d, op, (size_t)-1, who);
	}
	masync__thr_unref(op);
}

/* A poller ran `op` for another future whose waker is a user's: a worker
 * completes it (its waker called there). The list's reference keeps the
 * state; until then op stays RUNNING and its owner's polls find it so. */
static void
masync__thr_defer(struct masync__thr_op *op)
{
	struct data_mover_threads *d = op->dmt;

	MASYNC__FADD(&op->refs, 1, relaxed);
	masync__mtx_lock(&d->lock);
	op->dnext = d->defer;
	d->defer = op;
	MASYNC__STORE(&d->ndefer, 1, release);
	masync__mtx_unlock(&d->lock);
	/* a worker not asleep sees ndefer at the top of its loop, or under
	 * the lock before it sleeps */
	masync__thr_wake_one(d, 0, 0);
}

/* Completes the deferred operations (a worker, or delete after the
 * workers stopped). */
static void
masync__thr_run_deferred(struct data_mover_threads *d)
{
	struct masync__thr_op *op, *next;

	masync__mtx_lock(&d->lock);
	op = d->defer;
	d->defer = NULL;
	MASYNC__STORE(&d->ndefer, 0, relaxed);
	masync__mtx_unlock(&d->lock);
	for (; op != NULL; op = next) {
		next = op->dnext;
		masync__thr_finish(op, MASYNC__THR_INLINE);
		masync__thr_unref(op);
	}
}

/* An empty-queue poll of an idle worker: pause, or now and then yield and
 * time it (see "How it works"). Returns 0 once it should sleep. */
struct masync__thr_idle {
	unsigned spins;
	uint64_t quiet_until, quiet;
};

static size_t masync__thr_cpus(void);
#ifdef MASYNC__TEST_HOOKS
static MASYNC__A(unsigned) masync__test_thr_spins; /* tests: spins taken */
/* tests: no quiet period (a slow yield, as under valgrind, would start
 * one and leave no spin to count) */
static MASYNC__A(int) masync__test_thr_no_quiet;
/* tests: called instead of a worker's timed yield, which then counts as
 * long (the function stands for whoever took the CPU meanwhile) */
typedef void (*masync__yield_fn)(void);
static MASYNC__A(masync__yield_fn) masync__test_thr_yield;
#endif

/* A busy poll (a poll after the first, no notifier) of an operation of
 * d's: every 32nd of this thread's marks d->polled for its CPU. A thread
 * in runtime_wait (a notifier) is not counted: it sleeps soon, and a
 * worker that took its spins for theirs would sleep after every operation
 * under any passing load (64 x 4 KiB batches, waiting, a compiler on the
 * 2-vCPU VM: 0.4-0.9 M ops/s against 1.3-2.5 M). */
#define MASYNC__THR_POLL_MARK 32u
static MASYNC__THREAD_LOCAL unsigned masync__thr_busy_polls;
/* the mover whose worker this thread is (delete refuses to join itself) */
static MASYNC__THREAD_LOCAL struct data_mover_threads *masync__thr_self;

/* this thread's CPU's entry of d->polled (-1, unknown: one for all) */
static unsigned
masync__thr_slot(void)
{
	return (unsigned)masync__thr_cpu_now() % MASYNC__THR_SLOTS;
}

static void
masync__thr_mark_poll(struct data_mover_threads *d)
{
	if (++masync__thr_busy_polls % MASYNC__THR_POLL_MARK == 0)
		MASYNC__FADD(&d->polled[masync__thr_slot()], 1, relaxed);
}

static int
masync__thr_spin(struct data_mover_threads *d, struct masync__thr_idle *w)
{
#if MASYNC__THR_WORKER_SPINS == 0
	(void)d;
	(void)w;
	return 0;
#else
	uint64_t t0, took;
	unsigned slot;
	uint32_t seen;
#ifdef MASYNC__TEST_HOOKS
	masync__yield_fn yf;
#endif

	if (w->spins == 0 && w->quiet_until != 0) {
		if (masync__coarse_ns() < w->quiet_until)
			return 0;
		w->quiet_until = 0;
	}
	/* alone on its CPU, a spin only delays the threads that push there
	 * (pushers on another CPU: caller pinned to CPU 0, workers to CPU 1,
	 * 64 x 4 KiB batches on the 2-vCPU VM, 0.8 M ops/s not spinning,
	 * 2.4 spinning) */
	if (w->spins == 0 && masync__thr_cpus() == 1) {
		int pc = MASYNC__LOAD(&d->push_cpu, relaxed);

		if (pc < 0 || pc == masync__thr_cpu_now())
			return 0;
	}
	if (++w->spins >= MASYNC__THR_WORKER_SPINS) {
		w->quiet = 0; /* spun undisturbed */
		return 0;
	}
#ifdef MASYNC__TEST_HOOKS
	MASYNC__FADD(&masync__test_thr_spins, 1, relaxed);
#endif
	if (w->spins % MASYNC__THR_YIELD_EVERY != 0) {
		MASYNC__PAUSE();
		return 1;
	}
	slot = masync__thr_slot();
	seen = MASYNC__LOAD(&d->polled[slot], relaxed);
	t0 = masync__now_ns();
#ifdef MASYNC__TEST_HOOKS
	yf = MASYNC__LOAD(&masync__test_thr_yield, acquire);
	if (yf != NULL) {
		yf();
		took = MASYNC__THR_STOLEN_NS;
	} else
#endif
	{
		thrd_yield();
		took = masync__now_ns() - t0;
	}
	/* only a thread that never blocks keeps the CPU this long; unless
	 * it busy-polled this mover here, it is another program's, which
	 * this worker's spin does not delay (and its sleep would make every
	 * push pay a wake-up) */
	if (took < MASYNC__THR_STOLEN_NS ||
			MASYNC__LOAD(&d->polled[slot], relaxed) == seen)
		return 1;
#ifdef MASYNC__TEST_HOOKS
	if (MASYNC__LOAD(&masync__test_thr_no_quiet, relaxed))
		return 1;
#endif
	w->quiet = w->quiet == 0 ? MASYNC__THR_QUIET_MIN :
		w->quiet >= MASYNC__THR_QUIET_MAX / 2 ? MASYNC__THR_QUIET_MAX :
		w->quiet * 2;
	w->quiet_until = masync__coarse_ns() + w->quiet;
	return 0;
#endif
}

static int
masync__thr_worker(void *arg)
{
	struct masync__thr_wk *me = (struct masync__thr_wk *)arg;
	struct data_mover_threads *d = me->d;
	struct masync__thr_idle w = {0, 0, 0};
	int off, spun = 0; /* counted in d->spinning */

	masync__thr_self = d;

	for (;;) {
		uint32_t tag;
		struct masync__thr_op *op;

		if (MASYNC__UNLIKELY(MASYNC__LOAD(&d->ndefer, acquire)))
			masync__thr_run_deferred(d);
		op = masync__ring_pop(d, &tag);
		if (op != NULL) {
			MASYNC__TEST_PREEMPT();
			w.spins = 0;
			if (spun)
				MASYNC__FSUB(&d->spinning, 1, relaxed);
			spun = 0;
			masync__thr_room(d);
			masync__thr_execute(d, op, tag, MASYNC__THR_WORKER);
			continue;
		}
		if (MASYNC__LOAD(&d->stop, acquire))
			return 0; /* stop is set only once nothing is queued */
		if (masync__thr_spin(d, &w)) {
			if (!spun)
				MASYNC__FADD(&d->spinning, 1, relaxed);
			spun = 1;
			continue;
		}
		/* before the ring is checked again under the lock: a push
		 * that saw this spinner (masync__thr_spun) is seen there */
		if (spun)
			MASYNC__FSUB(&d->spinning, 1, acq_rel);
		spun = 0;
		w.spins = 0;
		off = -1;
		MASYNC__FADD(&d->idle, 1, acq_rel); /* see thr_push */
		MASYNC__TEST_PREEMPT();
		masync__mtx_lock(&d->lock);
		if (!masync__ring_nonempty(d) && d->defer == NULL &&
				!MASYNC__LOAD(&d->stop, acquire)) {
			/* a push sees it in `sleepers` (and chooses it,
			 * masync__thr_pick), or it saw the push here */
			me->cpu = masync__thr_cpu_now();
			MASYNC__STORE(&d->solo_cpu, masync__thr_cpus() == 1 ?
				me->cpu : -1, relaxed);
			me->woken = 0;
			d->sleepers[d->nsleep++] = me;
			while (!me->woken)
				masync__cnd_wait(&me->cond, &d->lock);
			off = me->off;
		}
		masync__mtx_unlock(&d->lock);
		if (off >= 0)
			masync__thr_move_off(off);
		MASYNC__FSUB(&d->idle, 1, relaxed);
		{
			/* from the push's signal until a worker runs */
			uint64_t at = MASYNC__XCHG(&d->signal_at, 0, relaxed);

			if (at != 0)
				masync__thr_ewma(&d->wake_ns,
					masync__now_ns() - at);
		}
	}
}

/* Gives back a slot op_new took in generation g (0: the maker's). */
static void
masync__thr_uncount(struct data_mover_threads *d, unsigned g)
{
	if (g == 0)
		MASYNC__FSUB(&d->inflight, 1, relaxed);
	else
		MASYNC__FSUB(&d->cinflight, 1, relaxed);
}

MINIASYNC_API void *
masync__thr_op_new(struct vdm *vdm, const enum vdm_operation_type type)
{
	struct data_mover_threads *d = (struct data_mover_threads *)vdm;
	struct masync__thr_op *op;
	unsigned g = 0;

	(void)type;
	/* ringbuf_size bounds the operations in flight */
	if (MASYNC__UNLIKELY(masync__forked_since(d->pool.fork_gen))) {
		g = MASYNC__LOAD(&masync__forks, relaxed);
		if (masync__fork_count(&d->cinflight, d->cap, g) != 0)
			return NULL;
	} else {
		/* a CAS, not an add taken back: a refused creation must not
		 * make a concurrent one see the mover full for a moment */
		size_t n = MASYNC__LOAD(&d->inflight, relaxed);

		do {
			if (n >= d->cap)
				return NULL;
		} while (!MASYNC__CAS(&d->inflight, &n, n + 1, relaxed));
	}
	op = (struct masync__thr_op *)masync__pool_get(&d->pool);
	if (op == NULL) {
		masync__thr_uncount(d, g);
		return NULL;
	}
	if (MASYNC__UNLIKELY(g != 0))
		op->fgen = g;
	/* words that are only ever accessed atomically */
	MASYNC__UNTRACKED(&op->refs, sizeof(op->refs));
	MASYNC__UNTRACKED(&op->phase, sizeof(op->phase));
	MASYNC__UNTRACKED(&op->sig.word, sizeof(op->sig.word));
	MASYNC__UNTRACKED(&op->cpu, sizeof(op->cpu));
	MASYNC__STORE(&op->cpu, -1, relaxed);
	MASYNC__STORE(&op->refs, 1, relaxed);
	MASYNC__STORE(&op->phase, MASYNC__PH_NEW, relaxed);
	masync__signal_reset(&op->sig);
	op->dmt = d;
	op->result = VDM_SUCCESS;
	/* (bprev and bnext are set when it joins the wait list) */
	MASYNC__UNTRACKED(&op->blocked, sizeof(op->blocked));
	MASYNC__STORE(&op->blocked, 0, relaxed);
	op->started = 0;
	op->checked = 0;
	op->forked = 0;
	op->use = op->use == UINT32_MAX ? 1 : op->use + 1;
	MASYNC__UNTRACKED(&op->qref, sizeof(op->qref));
	MASYNC__STORE(&op->qref, 0, relaxed);
	return op;
}

/* the operations a user function (set_memcpy_fn & co.) runs */
static int
masync__thr_raw_flags(const struct vdm *vdm, enum vdm_operation_type type)
{
	const struct data_mover_threads *d =
		(const struct data_mover_threads *)(const void *)vdm;

	switch (type) {
	case VDM_OPERATION_MEMCPY:
		return d->op_memcpy != NULL;
	case VDM_OPERATION_MEMMOVE:
		return d->op_memmove != NULL;
	case VDM_OPERATION_MEMSET:
		return d->op_memset != NULL;
	case VDM_OPERATION_FLUSH:
		break;
	}
	return 0;
}

#ifdef MASYNC__TEST_HOOKS
/* tests: the CPUs the calling thread may use (0: ask the system) */
static MASYNC__A(unsigned) masync__test_thr_cpus;
#endif

/* The CPUs the calling thread may run on: its affinity mask (taskset,
 * cgroup cpusets), else the online CPUs. Read again every 64th call: a
 * split copy affords a system call now and then, not every time. */
static size_t
masync__thr_cpus(void)
{
	static MASYNC__THREAD_LOCAL size_t cached;
	static MASYNC__THREAD_LOCAL unsigned uses;
#ifdef MASYNC__TEST_HOOKS
	unsigned t = MASYNC__LOAD(&masync__test_thr_cpus, relaxed);

	if (t != 0)
		return t;
#endif
	if (cached == 0 || ++uses % 64 == 0) {
		size_t n = masync__ncpus();
#if defined(MASYNC__FUTEX) && defined(SYS_sched_getaffinity)
		unsigned long mask[1024 / (8 * sizeof(unsigned long))];
		long r = masync__syscall(SYS_sched_getaffinity, 0L,
			(long)sizeof(mask), (long)(void *)mask);

		if (r > 0) {
			size_t c = 0, i;

			for (i = 0; i < (size_t)r / sizeof(mask[0]); i++) {
				unsigned long w = mask[i];

				for (; w != 0; w &= w - 1)
					c++;
			}
			if (c > 0 && c < n)
				n = c;
		}
#endif
		cached = n;
	}
	return cached;
}

/* Split operations: the polling thread takes chunks too (its poll after
 * the first, masync__thr_help), so a copy is never much slower than the
 * caller copying alone, however late the workers come. Caller and
 * workers together are at most as many as the CPUs the caller may use:
 * one more thread would only share a CPU with another, and the one that
 * holds the last chunk when its time slice ends keeps the copy waiting
 * (4 MiB on 2 vCPUs: 0.7x plain memcpy with caller + 2 workers). One CPU:
 * not split (whoever claims it runs it whole). A participant's share
 * decides between cached and streaming stores (masync__stream_min). */
static void
masync__thr_plan(struct data_mover_threads *d, struct masync__thr_op *op)
{
	struct masync__op_args a = masync__args(&op->op);
	size_t per, parts;

	/* (chunk, extra and the counts only for a split one: line 2) */
	op->nchunks = 1;
	op->stream = 0;
	if (a.n < (size_t)MASYNC__THR_SPLIT_MIN)
		return;
	if (masync__thr_raw_flags(&d->ext.base, op->op.type))
		return; /* a user function gets the whole range at once */
	if ((op->op.type == VDM_OPERATION_MEMMOVE ||
			op->op.type == VDM_OPERATION_MEMCPY) &&
			masync__overlaps(a.dst, a.src, a.n))
		return; /* overlapping: one memmove (chunks would race) */
	parts = masync__thr_cpus();
	if (parts > d->nthreads + 1)
		parts = d->nthreads + 1;
	/* A large operation outgrows the caches: write around them, as
	 * glibc's memcpy does past its non-temporal threshold. A split one
	 * streams from that threshold per share, an unsplit one (one CPU)
	 * from twice it (4 MiB pinned to one Zen 5 vCPU: 0.56x plain memcpy
	 * streamed, 0.77x cached; 16 / 64 MiB: 1.02 / 1.09x streamed, 0.84 /
	 * 0.96x cached). A flush keeps its own meaning of the flag. */
	op->stream = op->op.type != VDM_OPERATION_FLUSH &&
		a.n / (parts < 2 ? 2 : parts) >= masync__stream_min();
	if (parts < 2)
		return;
	/* a few chunks per participant balance uneven progress */
	per = a.n / (parts * 16);
	if (per < MASYNC__THR_CHUNK_MIN)
		per = MASYNC__THR_CHUNK_MIN;
	if (per > MASYNC__THR_CHUNK_MAX)
		per = MASYNC__THR_CHUNK_MAX;
	per = (per + 4095) & ~(size_t)4095;
	op->chunk = per;
	op->nchunks = a.n / per + (a.n % per != 0); /* n may be near SIZE_MAX */
	op->extra = parts - 2; /* the entry brings one, the caller is one */
	MASYNC__UNTRACKED(&op->next_chunk, sizeof(op->next_chunk));
	MASYNC__UNTRACKED(&op->chunks_done, sizeof(op->chunks_done));
	MASYNC__STORE(&op->next_chunk, 0, relaxed);
	MASYNC__STORE(&op->chunks_done, 0, relaxed);
}

/* Whether the calling thread and the workers may all use one and the same
 * CPU only (a process under `taskset -c N`, a one-CPU cpuset). */
static int
masync__thr_solo(struct data_mover_threads *d)
{
	int c = MASYNC__LOAD(&d->solo_cpu, relaxed);

	return c >= 0 && masync__thr_cpus() == 1 && masync__thr_cpu_now() == c;
}

/* Most entries a trim runs for others (a first poll's bound). */
#define MASYNC__THR_TRIM_RUN 16u

/* Makes room at the ring's head without a worker, for a push that would
 * otherwise wait for one (ring full) or wake one (half full). An entry
 * whose poller claimed it (masync__thr_help took its reference) only
 * waits for a worker to pop and skip it: it is dropped here, as is one
 * of a done operation. With `run`,
 * a queued unsplit operation of the library's own kernels is run here as
 * a worker would, in order, at most MASYNC__THR_TRIM_RUN of them. A split
 * operation's entry, a helper's or a user function's stops the trim:
 * those are the workers'. Busy-polling callers claim most of their
 * operations, and their entries filled the ring while the workers slept:
 * 4 threads polling 16 x 4 KiB futures each in order on 2 CPUs
 * (bench/polling) waited for a worker's wake-up 10-60 times a run, 45-117
 * ms a run against 20-22 ms with the trim. Returns the entries taken. */
static unsigned
masync__thr_trim(struct data_mover_threads *d, int run)
{
	size_t pos = MASYNC__LOAD(&d->deq_pos, relaxed);
	unsigned taken = 0, ran = 0;

	for (;;) {
		struct masync__ring_cell *c =
			&d->cells[masync__ring_index(d, pos)];
		size_t seq = MASYNC__LOAD(&c->seq, acquire);
		intptr_t dif = (intptr_t)(seq - (2 * pos + 1));
		struct masync__thr_op *op;
		uint32_t tag;
		int live, done;

		if (dif < 0)
			break; /* empty */
		if (dif > 0) { /* popped meanwhile */
			pos = MASYNC__LOAD(&d->deq_pos, relaxed);
			continue;
		}
		/* read before the pop: the CAS below fails if the entry was
		 * popped (and the cell reused) since; nothing else of op is
		 * read before it (its owner may reuse it meanwhile) */
		MASYNC__HA(c);
		/* acquire: if the cell was reused since, op is a newer
		 * push's, whose state (maybe a just-made pool chunk) must be
		 * visible before op->qref is read (TSan saw that race) */
		op = MASYNC__LOAD(&c->op, acquire);
		tag = MASYNC__LOAD(&c->tag, relaxed);
		/* qref only leaves tag (a claim), so a stale read says live;
		 * a helper's entry (tag 0) always holds a reference */
		live = tag == 0 || MASYNC__LOAD(&op->qref, relaxed) == tag;
		/* A live entry of a done operation holds only a reference: a
		 * split one's poller ran it all and left its entry and its
		 * helpers' for the workers. Dropped here, or a waker on the
		 * only worker that made ringbuf_size of them waits for room
		 * for good. (DONE read of a reused state: the entry was
		 * popped, and the CAS below fails, or it is dead, and the
		 * claim in masync__thr_execute fails.) */
		done = live && MASYNC__LOAD(&op->phase, acquire) ==
			MASYNC__PH_DONE;
		if (live && !done && (!run || ran == MASYNC__THR_TRIM_RUN ||
				!MASYNC__LOAD(&c->run, relaxed)))
			break;
		if (!MASYNC__CAS(&d->deq_pos, &pos, masync__ring_next(d, pos),
				relaxed))
			continue;
		MASYNC__STORE(&c->seq, 2 * (pos + d->lap_mask + 1), release);
		taken++;
		if (live) {
			/* as a worker's pop: a claim since makes it a no-op */
			masync__thr_execute(d, op, tag, MASYNC__THR_POLLER);
			ran += !done;
			pos = MASYNC__LOAD(&d->deq_pos, relaxed);
		} else {
			pos = masync__ring_next(d, pos);
		}
	}
	if (taken != 0)
		masync__thr_room(d);
	return taken;
}

/* Whether pushing op (not yet run) wakes a sleeping worker. A split one:
 * when that pays (masync__thr_wake_pays). An unsplit one where caller and
 * workers share one CPU: no, the caller's next poll runs it
 * (masync__thr_help; the first poll calls the runtime's waker for that,
 * or wakes a worker for a program's waker): a worker
 * could only take that CPU from the caller, after a wake-up and with two
 * more context switches (4 MiB pinned to one CPU: 0.77x plain memcpy;
 * 64 x 4 KiB batches: a wake-up and a sleep per few operations, busy or
 * waiting caller alike, 0.4-0.7 M ops/s against 2-3 M). A user function,
 * a POLLER word (not changed by that first poll) and a half-full ring
 * always wake. */
static int
masync__thr_wakes(struct data_mover_threads *d, struct masync__thr_op *op)
{
	if (!masync__thr_helpable(op) ||
			d->notifier == FUTURE_NOTIFIER_POLLER)
		return 1;
	if (op->nchunks > 1)
		return masync__thr_wake_pays(d, masync__args(&op->op).n,
			op->chunk, op->stream);
	return !masync__thr_solo(d) || masync__thr_half_full(d);
}

/* How the poller of an operation comes back: on its own (no notifier, or
 * one with no waker on a WAKER mover: FUTURE_BUSY_POLL, a spinning loop),
 * told by the runtime's waker (merges: may be called inside the poll),
 * told by its POLLER word, or told by a program's waker (never called
 * inside the poll that registers it: it may poll this future, or wait for
 * a lock its poller holds). */
enum masync__thr_caller {
	MASYNC__THR_BY_ITSELF,
	MASYNC__THR_BY_RUNTIME,
	MASYNC__THR_BY_WORD,
	MASYNC__THR_BY_WAKER
};

static MASYNC__FORCE_INLINE enum masync__thr_caller
masync__thr_caller(const struct data_mover_threads *d,
	const struct future_notifier *n)
{
	if (n == NULL)
		return MASYNC__THR_BY_ITSELF;
	if (n->waker.wake != NULL)
		return masync__waker_merges(n->waker.wake) ?
			MASYNC__THR_BY_RUNTIME : MASYNC__THR_BY_WAKER;
	return d->notifier == FUTURE_NOTIFIER_POLLER ? MASYNC__THR_BY_WORD :
		MASYNC__THR_BY_ITSELF;
}

#define MASYNC__THR_RAN_HERE 1 /* run by the child's poll */
#define MASYNC__THR_ORPHAN 2   /* started by the parent */

/* non-zero for an operation the parent started, polled in a child forked
 * after the mover was made */
static inline int
masync__thr_orphaned(const struct masync__thr_op *op)
{
	return MASYNC__UNLIKELY(masync__forked_since(op->dmt->pool.fork_gen)) &&
		op->forked != MASYNC__THR_RAN_HERE;
}

/* Completes an operation the parent started, in a forked child: done if
 * a worker had finished it before the fork, else lost with the parent's
 * threads (one may have been half way through it): it fails with
 * VDM_ERROR_NOT_SUPPORTED. Its waker is not called (this is its poll);
 * its state goes back with the pool's memory at delete (other references
 * to it were the parent's). Nothing here takes a lock or waits for
 * another thread: they may be held by threads the child does not have
 * (also the signal's lock bit). */
static MASYNC__NOINLINE enum future_state
masync__thr_orphan(struct masync__thr_op *op)
{
	if (!(MASYNC__LOAD(&op->sig.word, acquire) & MASYNC__S_DONE))
		op->result = VDM_ERROR_NOT_SUPPORTED;
	op->forked = MASYNC__THR_ORPHAN;
	MASYNC__STORE(&op->phase, MASYNC__PH_DONE, relaxed);
	MASYNC__STORE(&op->sig.word, MASYNC__S_DONE, release);
	return FUTURE_STATE_COMPLETE;
}

/* The child's own operations run in their first poll, on the polling
 * thread, as the sync mover's do: there are no workers to queue them to. */
static MASYNC__NOINLINE int
masync__thr_start_forked(struct masync__thr_op *op,
	const struct vdm_operation *operation)
{
	if (op->started) {
		(void)masync__thr_orphan(op);
		return 0;
	}
	op->forked = MASYNC__THR_RAN_HERE;
	op->op = *operation;
	masync__thr_plan(op->dmt, op);
	if (masync__args(operation).n != 0) {
		/* completes it */
		masync__thr_run(op->dmt, op, (size_t)-1, MASYNC__THR_OWNER);
	} else {
		MASYNC__STORE(&op->phase, MASYNC__PH_DONE, relaxed);
		MASYNC__STORE(&op->sig.word, MASYNC__S_DONE, release);
	}
	return 0;
}

static int
masync__thr_op_start(void *data, const struct vdm_operation *operation,
	struct future_notifier *n)
{
	struct masync__thr_op *op = (struct masync__thr_op *)data;
	struct data_mover_threads *d = op->dmt;
	uint64_t *word = (uint64_t *)(void *)&op->sig.word;
	enum masync__thr_caller caller;
	int wake;

	if (MASYNC__UNLIKELY(masync__forked_since(d->pool.fork_gen)))
		return masync__thr_start_forked(op, operation);
	if (op->started) {
		/* polled again while waiting for room: it stays idle until a
		 * worker moved it into the ring (or it ran: a drain pushes it
		 * before it clears `blocked`, and it may be done by then) */
		if (masync__signal_register(&op->sig, n, d->notifier, word))
			return 0;
		/* Still waiting: make room as the first poll did, and drop
		 * entries claimed since (their pollers ran them; only a pop
		 * frees their slots). Else a waker that waits for this
		 * operation on the only worker waits for good behind an entry
		 * its poller completed (ring 1). The trim's masync__thr_room
		 * moves waiters in, oldest first. (A wait that gave up runs
		 * nothing here: masync__thr_help.) */
		if (MASYNC__LOAD(&op->blocked, acquire))
			(void)masync__thr_trim(d, !masync__rt_releasing);
		return MASYNC__LOAD(&op->blocked, acquire) ? -1 : 0;
	}
	op->op = *operation;
	masync__thr_plan(d, op);
	if (masync__args(operation).n == 0 && masync__thr_helpable(op)) {
		/* nothing to move: complete without a trip through the queue
		 * (a POLLER notifier says so, as for every operation); a user
		 * function is called once per operation, also for 0 bytes */
		MASYNC__STORE(&op->phase, MASYNC__PH_DONE, relaxed);
		MASYNC__STORE(&op->sig.word, MASYNC__S_DONE, release);
		if (d->notifier == FUTURE_NOTIFIER_POLLER)
			(void)masync__signal_register(&op->sig, n,
				d->notifier, word);
		return 0;
	}
	op->started = 1;
	MASYNC__FADD(&op->refs, 1, relaxed); /* the queue's reference */
	MASYNC__STORE(&op->qref, op->use, relaxed); /* published by the push */
	/* register before the push: the worker may finish at once */
	masync__signal_register(&op->sig, n, d->notifier, word);
	MASYNC__STORE(&op->phase, MASYNC__PH_QUEUED, relaxed);
	/* behind the operations that wait already (first come, first run) */
	wake = masync__thr_wakes(d, op);
	if (MASYNC__LOAD(&d->solo_cpu, relaxed) >= 0) {
		/* workers confined to one CPU: see masync__thr_spin */
		int me = masync__thr_cpu_now();

		if (MASYNC__LOAD(&d->push_cpu, relaxed) != me)
			MASYNC__STORE(&d->push_cpu, me, relaxed);
	}
	/* A caller that polls with no waker (FUTURE_BUSY_POLL, a spinning
	 * loop) runs its queued operation itself at its next poll
	 * (masync__thr_help): a worker woken where it went to sleep, on this
	 * caller's CPU (Linux puts it back there), could only preempt it. A
	 * worker whose yields a busy poller had delayed sleeps after each
	 * operation (its quiet period) and was woken beside the poller for
	 * each push: a system call and two context switches per 4 KiB copy
	 * (64 x 4 KiB batches of 20 us took 50 us to 1 ms). Entries the
	 * pollers ran stay queued until a worker pops them: from half full
	 * on, this caller drops them, and runs what is queued ahead of its
	 * own (masync__thr_trim), and wakes as before if that was not
	 * enough. */
	/* (a POLLER word handed out may be all its executor watches) */
	caller = masync__thr_caller(d, n);
	if (wake && op->nchunks == 1 && masync__thr_helpable(op) &&
			caller == MASYNC__THR_BY_ITSELF &&
			(!masync__thr_half_full(d) ||
			(masync__thr_trim(d, 1) != 0 &&
			!masync__thr_half_full(d))))
		wake = MASYNC__THR_SPARE;
	/* a split one whose poller waits for its waker or watches its word
	 * (polls again only when told) must not be left to a spinner */
	else if (wake && op->nchunks > 1 && (caller == MASYNC__THR_BY_WAKER ||
			caller == MASYNC__THR_BY_WORD))
		wake = MASYNC__THR_SURE;
	/* full: drop the claimed entries before waiting for a worker */
	if (MASYNC__LOAD(&d->nblocked, relaxed) == 0 &&
			(masync__thr_push(d, op, op->use, wake) == 0 ||
			(masync__thr_trim(d, 0) != 0 &&
			masync__thr_push(d, op, op->use, wake) == 0))) {
		if (masync__thr_helpable(op) && (op->nchunks > 1 || !wake)) {
			/* "poll again": a later poll helps (masync__thr_help);
			 * a program's waker is not called here: a worker runs
			 * what no push woke one for */
			if (caller != MASYNC__THR_BY_WAKER)
				masync__signal_kick(&op->sig);
			else if (!wake)
				(void)masync__thr_wake_one(d, 0, 0);
		}
		return 0;
	}
	/* Full: wait on the list. A worker that freed a slot before it
	 * could see the list grow is seen by the drain here instead. */
	masync__mtx_lock(&d->blocked_lock);
	masync__blocked_append(d, op);
	masync__blocked_drain(d);
	masync__mtx_unlock(&d->blocked_lock);
	if (MASYNC__LOAD(&op->blocked, acquire)) {
		/* a worker must pop to make room: one may sleep with the
		 * ring full of entries no push woke it for */
		if (MASYNC__FADD(&d->idle, 0, acq_rel) != 0)
			masync__thr_wake_one(d, 0, 0);
		return -1;
	}
	return 0;
}

/* An operation that runs the library's own kernels (not a user's
 * memcpy_fn, which may expect a worker thread) */
static int
masync__thr_helpable(const struct masync__thr_op *op)
{
	const struct data_mover_threads *d = op->dmt;

	switch (op->op.type) {
	case VDM_OPERATION_MEMCPY:
		return d->op_memcpy == NULL;
	case VDM_OPERATION_MEMMOVE:
		return d->op_memmove == NULL;
	case VDM_OPERATION_MEMSET:
		return d->op_memset == NULL;
	case VDM_OPERATION_FLUSH:
		break;
	}
	return 1;
}

/* Where caller and workers share one CPU (nobody was woken for the
 * operation, masync__thr_wakes) and no user function is set (only
 * workers call those), a poll takes the entries ahead of its own from the
 * queue as a worker would, in order, its own last: claimed out of order,
 * the entries stayed queued until the ring was half full and a worker
 * was woken to drop them (once per 64 x 4 KiB batch). */
static int
masync__thr_solo_pops(struct data_mover_threads *d)
{
	return d->op_memcpy == NULL && d->op_memmove == NULL &&
		d->op_memset == NULL && masync__thr_solo(d);
}

static void
masync__thr_pop_until(struct data_mover_threads *d,
	const struct masync__thr_op *op)
{
	uint32_t tag;
	struct masync__thr_op *e;

	/* bounded: the entries ahead of op's, then op's own */
	while (MASYNC__LOAD(&op->phase, acquire) == MASYNC__PH_QUEUED &&
			(e = masync__ring_pop(d, &tag)) != NULL) {
		masync__thr_room(d);
		masync__thr_execute(d, e, tag, e == op ? MASYNC__THR_OWNER :
			MASYNC__THR_POLLER);
	}
}

/* A poll after the first that finds its operation still queued, or a
 * split one with chunks left, runs it (or them) itself: the caller is
 * waiting for it, so a busy-polling caller is never slower than one that
 * waits, however late the workers wake (60 us to 3 ms on a loaded VM) or
 * however they share its CPUs (pinned to one CPU, a worker runs only when
 * the poller's time slice ends). The first poll returns at once, as an
 * asynchronous operation's must; a split operation's calls the runtime's
 * waker ("polling again makes progress"), so runtime_wait polls again.
 * Claiming
 * a queued operation races with the workers and cancel through the phase
 * CAS. The claimer of an unsplit operation takes its queue entry's
 * reference, so a worker that pops the entry later skips it; a split
 * one's entry stays and brings one worker, the claimer asks for the
 * others. */
#ifndef MASYNC__THR_STALL_NS /* see masync__thr_not_done */
#define MASYNC__THR_STALL_NS 100000u
#endif

/* The poller of a split operation ran out of chunks while a worker
 * still copies its last: asleep in runtime_wait it would wait for that
 * worker's wake-up when done (its system call, then the poller's arrival:
 * 20-40 us on the 2-vCPU VM, a fourth of a 4 MiB copy). It spins instead,
 * for at most a measured wake-up (wake_ns, capped at MASYNC__THR_STALL_NS):
 * a longer spin would cost more than the wake-up it saves. */
static void
masync__thr_tail(struct masync__thr_op *op)
{
	uint64_t lim, t0;
	unsigned i;

	if (op->nchunks < 2)
		return;
	lim = MASYNC__LOAD(&op->dmt->wake_ns, relaxed);
	if (lim == 0)
		return;
	if (lim > MASYNC__THR_STALL_NS)
		lim = MASYNC__THR_STALL_NS;
	t0 = masync__now_ns();
	for (i = 1; !masync__signal_done(&op->sig); i++) {
		MASYNC__PAUSE();
		if (i % 64 == 0 && masync__now_ns() - t0 > lim)
			return;
	}
}

static void
masync__thr_help(struct masync__thr_op *op)
{
	struct data_mover_threads *d = op->dmt;
	uint32_t ph = MASYNC__PH_QUEUED;

	if (MASYNC__UNLIKELY(masync__rt_releasing)) {
		/* a wait that gave up: a worker runs it (none may have been
		 * woken for it: this caller was to) */
		if (MASYNC__LOAD(&op->phase, relaxed) == MASYNC__PH_QUEUED)
			(void)masync__thr_wake_one(d, 0, 0);
		return;
	}
	if (!masync__thr_helpable(op) ||
			MASYNC__LOAD(&op->blocked, acquire) ||
			(op->nchunks > 1 && MASYNC__LOAD(&op->next_chunk,
			relaxed) >= op->nchunks))
		return; /* (one on the wait list waits for room like the rest) */
	MASYNC__HA(&op->blocked);
	if (op->nchunks == 1 && masync__thr_solo_pops(d))
		masync__thr_pop_until(d, op);
	if (MASYNC__CAS(&op->phase, &ph, MASYNC__PH_RUNNING, acquire)) {
		uint32_t use = op->use;
		/* unsplit: the queue entry's reference, unless a worker popped
		 * it (a split one's entry brings a worker) */
		int own = op->nchunks == 1 &&
			MASYNC__CAS(&op->qref, &use, 0, acq_rel);

		masync__thr_recruit(d, op, op->extra);
		masync__thr_run(d, op, (size_t)-1, MASYNC__THR_OWNER);
		if (own)
			masync__thr_unref(op);
		masync__thr_tail(op);
	} else if (ph == MASYNC__PH_RUNNING && op->nchunks > 1) {
		masync__thr_run(d, op, (size_t)-1, MASYNC__THR_OWNER);
		masync__thr_tail(op);
	}
}

/* Polls that found their operation not done yet, on this thread. A
 * caller that busy-polls never blocks, so a worker that shares its CPU
 * (woken, spinning, or preempted in the middle of this operation) runs
 * only when the poller's time slice ends: one slice (~1.5 ms) per batch.
 * Every MASYNC__THR_POLL_YIELD-th such poll gives the CPU away instead
 * (the operation, unless helped, takes far fewer polls on a worker that
 * runs); where the workers have CPUs of their own the yield returns at
 * once. */
#define MASYNC__THR_POLL_YIELD 64u
/* A yield is not enough when the worker that holds the operation is not
 * eligible to run yet (Linux EEVDF: it used up its slice), or runs on
 * another CPU taken by someone else: the poller then spins for a whole
 * slice (~3 ms), a 64 x 4 KiB batch 0.05 ms -> 3 ms. One operation still
 * not done this long after the poller first yielded for it (a worker that
 * runs moves >= 2 GB/s) makes its poller nap instead (1 us asked; 50 us
 * or so with the timer slack): off the run queue, it lets any worker run
 * (MASYNC__THR_STALL_NS, defined above masync__thr_tail). */
struct masync__thr_stall {
	const struct masync__thr_op *op;
	uint64_t gen; /* op's mover (a later mover may reuse op's address) */
	uint32_t use;
	uint64_t since;
};
static MASYNC__THREAD_LOCAL unsigned masync__thr_unready;
static MASYNC__A(uint64_t) masync__thr_gens; /* movers made */
#ifdef MASYNC__TEST_HOOKS
static MASYNC__A(unsigned) masync__test_thr_yields; /* tests: polls' yields */
#endif
static MASYNC__THREAD_LOCAL struct masync__thr_stall masync__thr_stalled;

static void
masync__thr_not_done(struct masync__thr_op *op)
{
	struct masync__thr_stall *st = &masync__thr_stalled;
	uint64_t now;
	int c;

	/* (a running split operation: the poll helped already) */
	if ((op->nchunks > 1 && MASYNC__LOAD(&op->phase, relaxed) !=
			MASYNC__PH_QUEUED) ||
			++masync__thr_unready % MASYNC__THR_POLL_YIELD != 0)
		return;
	now = masync__now_ns();
	if (st->op != op || st->use != op->use || st->gen != op->dmt->gen) {
		st->op = op;
		st->gen = op->dmt->gen;
		st->use = op->use;
		st->since = now;
	} else if (now - st->since > MASYNC__THR_STALL_NS +
			masync__args(&op->op).n / 2) {
		struct timespec ts = {0, 1000};

		thrd_sleep(&ts, NULL);
		return;
	}
	/* A yield runs only threads queued on this CPU: one given while the
	 * worker that runs op is on another CPU could only hand the poller's
	 * slice to another program (a compiler: 2-5 ms, a 20-60 us batch of
	 * 64 x 4 KiB). (Not skipped for a queued one: a spinning worker on
	 * this CPU whose yields the poller delays sleeps after each
	 * operation for its quiet period, and pushes of callers that wait
	 * wake it beside them at every one.) */
	c = MASYNC__LOAD(&op->cpu, relaxed);
	if (c < 0 || c == masync__thr_cpu_now()) {
#ifdef MASYNC__TEST_HOOKS
		MASYNC__FADD(&masync__test_thr_yields, 1, relaxed);
#endif
		thrd_yield();
	}
}

static enum future_state
masync__thr_op_check_ext(void *data, const struct vdm_operation *operation,
	struct future_notifier *n)
{
	struct masync__thr_op *op = (struct masync__thr_op *)data;

	(void)operation;
	if (masync__thr_orphaned(op))
		return masync__thr_orphan(op);
	if (n == NULL)
		masync__thr_mark_poll(op->dmt);
	if (masync__signal_done(&op->sig))
		return FUTURE_STATE_COMPLETE;
	masync__thr_help(op);
	if (masync__signal_done(&op->sig))
		return FUTURE_STATE_COMPLETE;
	masync__thr_not_done(op);
	return masync__signal_register(&op->sig, n, op->dmt->notifier,
		(uint64_t *)(void *)&op->sig.word) ? FUTURE_STATE_COMPLETE :
		FUTURE_STATE_RUNNING;
}

static enum future_state
masync__thr_op_check(void *data, const struct vdm_operation *operation)
{
	struct masync__thr_op *op = (struct masync__thr_op *)data;

	(void)operation;
	if (masync__thr_orphaned(op))
		return masync__thr_orphan(op);
	if (masync__signal_done(&op->sig))
		return FUTURE_STATE_COMPLETE;
	/* The first call ends the poll that started op. A later one is the
	 * poll of a program's copy of the vdm (a wrapper: no ext check), and
	 * helps as masync__thr_op_check_ext does: what no push woke a worker
	 * for (masync__thr_wakes, MASYNC__THR_SPARE) waited for good (a
	 * wrapped mover pinned to one CPU hung at its first operation). */
	if (op->checked) {
		masync__thr_help(op);
		if (masync__signal_done(&op->sig))
			return FUTURE_STATE_COMPLETE;
	}
	op->checked = 1;
	masync__thr_not_done(op);
	return FUTURE_STATE_RUNNING;
}

/* Drops the future's reference; a cancelled operation still on the wait
 * list leaves it and drops the list's reference too (a worker that moved
 * it into the ring meanwhile skips it there and drops that one). */
static void
masync__thr_release(struct masync__thr_op *op)
{
	struct data_mover_threads *d = op->dmt;

	if (MASYNC__LIKELY(!masync__forked_since(d->pool.fork_gen)))
		MASYNC__FSUB(&d->inflight, 1, relaxed);
	else if (op->fgen == MASYNC__LOAD(&masync__forks, relaxed))
		masync__thr_uncount(d, op->fgen); /* made here, not before */
	if (op->forked == MASYNC__THR_ORPHAN)
		return; /* its other references went with the parent's threads */
	if (!MASYNC__LOAD(&op->blocked, acquire)) {
		MASYNC__HA(&op->blocked);
	} else {
		int listed;

		masync__mtx_lock(&d->blocked_lock);
		listed = MASYNC__LOAD(&op->blocked, relaxed);
		if (listed)
			masync__blocked_unlink(d, op);
		masync__mtx_unlock(&d->blocked_lock);
		if (listed)
			masync__thr_unref(op);
	}
	masync__thr_unref(op);
}

/* Cancels an operation that is not queued yet; non-zero once started. */
MINIASYNC_API int
masync__thr_op_cancel(void *data, const struct vdm_operation *operation)
{
	struct masync__thr_op *op = (struct masync__thr_op *)data;
	uint32_t ph = MASYNC__PH_NEW;

	(void)operation;
	if (masync__thr_orphaned(op) && op->started) {
		(void)masync__thr_orphan(op); /* completes at its next poll */
		return 1;
	}
	/* strong CAS: a spurious failure must not read as "started" */
	if (!MASYNC__NS atomic_compare_exchange_strong_explicit(&op->phase,
			&ph, MASYNC__PH_DONE, MASYNC__MO(acq_rel),
			MASYNC__MO(acquire))) {
		/* in the queue or waiting for room: the worker skips it */
		if (ph != MASYNC__PH_QUEUED ||
				!MASYNC__NS atomic_compare_exchange_strong_explicit(
				&op->phase, &ph, MASYNC__PH_DONE,
				MASYNC__MO(acq_rel), MASYNC__MO(acquire)))
			return 1;
	}
	masync__thr_release(op);
	return 0;
}

/* Releases the state of an operation that ended. A program may also call
 * it on one that has not: vdm_cancel's generic path on an idle future of
 * a wrapper of the mover's vdm (an operation waiting for room, or moved
 * into the ring since, has an idle future), or a wrapper's own op_delete.
 * What is still queued is dropped then (a worker skips it) and reported
 * cancelled; what a worker runs is waited for: nothing may write after
 * the state is gone. */
MINIASYNC_API void
masync__thr_op_delete(void *data, const struct vdm_operation *operation,
	struct vdm_operation_output *output)
{
	struct masync__thr_op *op = (struct masync__thr_op *)data;

	if (MASYNC__UNLIKELY(!masync__signal_done(&op->sig))) {
		if (masync__thr_op_cancel(data, operation) == 0) {
			masync__output_failed(output, operation->type,
				VDM_ERROR_CANCELLED);
			return;
		}
		while (!masync__signal_done(&op->sig)) {
			masync__thr_help(op);
			thrd_yield();
		}
	}
	masync__output(operation, op->result, output);
	masync__thr_release(op);
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

	if (nthreads == 0) { /* DATA_MOVER_THREADS_DEFAULT_NTHREADS */
		nthreads = masync__ncpus();
		if (nthreads > 16)
			nthreads = 16;
	}
	if (nthreads > MASYNC__THR_MAX_THREADS || ringbuf_size == 0 ||
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
	d->ext.base.capabilities = MASYNC__CPU_CAPS | MASYNC__CAP_EXT;
	d->ext.base.has_property = masync__thr_has_property;
	d->ext.check = masync__thr_op_check_ext;
	d->ext.cancel = masync__thr_op_cancel;
	d->ext.raw_flags = masync__thr_raw_flags;
	d->notifier = desired_notifier;
	d->nthreads = nthreads;
	d->gen = MASYNC__FADD(&masync__thr_gens, 1, relaxed) + 1;
	d->cap = ringbuf_size;
	for (d->lap_log = 0; ((size_t)1 << d->lap_log) < ringbuf_size;
			d->lap_log++)
		;
	d->lap_mask = ((size_t)1 << d->lap_log) - 1;
	MASYNC__INIT(&d->inflight, 0);
	MASYNC__UNTRACKED(&d->inflight, sizeof(d->inflight));
	MASYNC__INIT(&d->cinflight, 0);
	MASYNC__UNTRACKED(&d->cinflight, sizeof(d->cinflight));
	MASYNC__INIT(&d->enq_pos, 0);
	MASYNC__INIT(&d->deq_pos, 0);
	MASYNC__INIT(&d->nblocked, 0);
	MASYNC__INIT(&d->idle, 0);
	MASYNC__INIT(&d->spinning, 0);
	MASYNC__INIT(&d->stop, 0);
	MASYNC__INIT(&d->ndefer, 0);
	MASYNC__UNTRACKED(&d->ndefer, sizeof(d->ndefer));
	MASYNC__UNTRACKED(&d->enq_pos, sizeof(d->enq_pos));
	MASYNC__UNTRACKED(&d->deq_pos, sizeof(d->deq_pos));
	MASYNC__UNTRACKED(&d->nblocked, sizeof(d->nblocked));
	MASYNC__UNTRACKED(&d->idle, sizeof(d->idle));
	MASYNC__UNTRACKED(&d->spinning, sizeof(d->spinning));
	MASYNC__UNTRACKED(&d->stop, sizeof(d->stop));
	MASYNC__INIT(&d->signal_at, 0);
	MASYNC__INIT(&d->wake_ns, 0);
	MASYNC__INIT(&d->wake_call_ns, 0);
	MASYNC__INIT(&d->ps_per_byte[0], 0);
	MASYNC__INIT(&d->ps_per_byte[1], 0);
	MASYNC__INIT(&d->ps_worker[0], 0);
	MASYNC__INIT(&d->ps_worker[1], 0);
	MASYNC__INIT(&d->solo_cpu, -1);
	MASYNC__UNTRACKED(&d->solo_cpu, sizeof(d->solo_cpu));
	MASYNC__INIT(&d->push_cpu, -1);
	MASYNC__UNTRACKED(&d->push_cpu, sizeof(d->push_cpu));
	for (i = 0; i < MASYNC__THR_SLOTS; i++)
		MASYNC__INIT(&d->polled[i], 0);
	MASYNC__UNTRACKED(d->polled, sizeof(d->polled));
#ifdef MASYNC__TEST_HOOKS
	/* atomics the workers read too (helgrind and drd see plain words) */
	MASYNC__UNTRACKED(&masync__test_thr_cpus,
		sizeof(masync__test_thr_cpus));
	MASYNC__UNTRACKED(&masync__test_thr_cpu, sizeof(masync__test_thr_cpu));
	MASYNC__UNTRACKED(&masync__test_thr_spins,
		sizeof(masync__test_thr_spins));
	MASYNC__UNTRACKED(&masync__test_thr_no_quiet,
		sizeof(masync__test_thr_no_quiet));
	MASYNC__UNTRACKED(&masync__test_thr_yield,
		sizeof(masync__test_thr_yield));
	MASYNC__UNTRACKED(&masync__test_thr_yields,
		sizeof(masync__test_thr_yields));
	MASYNC__UNTRACKED(&masync__test_thr_wakes,
		sizeof(masync__test_thr_wakes));
#endif
	MASYNC__UNTRACKED(&d->signal_at, sizeof(d->signal_at));
	MASYNC__UNTRACKED(&d->wake_ns, sizeof(d->wake_ns));
	MASYNC__UNTRACKED(&d->wake_call_ns, sizeof(d->wake_call_ns));
	MASYNC__UNTRACKED(&d->ps_per_byte, sizeof(d->ps_per_byte));
	MASYNC__UNTRACKED(&d->ps_worker, sizeof(d->ps_worker));
	d->cells = (struct masync__ring_cell *)masync__zalloc_aligned(
		ringbuf_size * sizeof(*d->cells));
	d->threads = (thrd_t *)masync__zalloc(nthreads * sizeof(thrd_t));
	d->wk = (struct masync__thr_wk *)masync__zalloc(
		nthreads * sizeof(*d->wk));
	d->sleepers = (struct masync__thr_wk **)masync__zalloc(
		nthreads * sizeof(*d->sleepers));
	if (d->cells == NULL || d->threads == NULL || d->wk == NULL ||
			d->sleepers == NULL)
		goto fail_mem;
	for (i = 0; i < ringbuf_size; i++) {
		MASYNC__INIT(&d->cells[i].seq, 2 * i);
		MASYNC__INIT(&d->cells[i].op, NULL);
		MASYNC__INIT(&d->cells[i].tag, 0);
		MASYNC__INIT(&d->cells[i].run, 0);
		MASYNC__UNTRACKED(&d->cells[i], sizeof(d->cells[i]));
	}
	if (masync__pool_init(&d->pool, sizeof(struct masync__thr_op), 0))
		goto fail_mem;
	if (masync__mtx_init(&d->lock, mtx_plain) != thrd_success)
		goto fail_pool;
	if (masync__mtx_init(&d->blocked_lock, mtx_plain) != thrd_success)
		goto fail_lock;
	for (; d->nwk < nthreads; d->nwk++) {
		d->wk[d->nwk].d = d;
		d->wk[d->nwk].cpu = -1;
		d->wk[d->nwk].off = -1;
		if (masync__cnd_init(&d->wk[d->nwk].cond) != thrd_success)
			goto fail_cond;
	}
#ifdef MASYNC__X86
	/* read CPUID before the workers exist, not in a race between them
	 * and a helping poller (helgrind and drd would see one) */
	(void)masync__cpu_l2();
#endif
	for (i = 0; i < nthreads; i++) {
		int rc = masync__thrd_create(&d->threads[i],
			masync__thr_worker, &d->wk[i]);

		if (rc != thrd_success) {
			d->nthreads = i;
			data_mover_threads_delete(d);
			errno = masync__thrd_errno(rc);
			return NULL;
		}
	}
	return d;
fail_cond:
	while (d->nwk > 0)
		masync__cnd_destroy(&d->wk[--d->nwk].cond);
	masync__mtx_destroy(&d->blocked_lock);
fail_lock:
	masync__mtx_destroy(&d->lock);
fail_pool:
	masync__pool_fini(&d->pool);
fail_mem:
	MINIASYNC_FREE(d->wk);
	MINIASYNC_FREE(d->sleepers);
	MINIASYNC_FREE(d->threads);
	masync__free_aligned(d->cells);
	masync__free_aligned(d);
	errno = ENOMEM;
	return NULL;
}

MINIASYNC_API struct data_mover_threads *
data_mover_threads_default(void)
{
	return data_mover_threads_new(DATA_MOVER_THREADS_DEFAULT_NTHREADS,
		DATA_MOVER_THREADS_DEFAULT_RINGBUF_SIZE,
		FUTURE_NOTIFIER_WAKER);
}

MINIASYNC_API struct vdm *
data_mover_threads_get_vdm(struct data_mover_threads *dmt)
{
	if (dmt == NULL)
		errno = EINVAL;
	return dmt == NULL ? NULL : &dmt->ext.base;
}

/* Frees what the mover holds. A child forked after it was made frees
 * only memory: its threads were the parent's, its locks may be held by
 * them (nothing of theirs is destroyed or joined). */
static void
masync__thr_free(struct data_mover_threads *dmt, int child)
{
	size_t i;

	if (!child) {
		for (i = 0; i < dmt->nwk; i++)
			masync__cnd_destroy(&dmt->wk[i].cond);
		masync__mtx_destroy(&dmt->blocked_lock);
		masync__mtx_destroy(&dmt->lock);
	}
	masync__pool_fini(&dmt->pool);
	MINIASYNC_FREE(dmt->wk);
	MINIASYNC_FREE(dmt->sleepers);
	MINIASYNC_FREE(dmt->threads);
	masync__free_aligned(dmt->cells);
	masync__free_aligned(dmt);
}

MINIASYNC_API void
data_mover_threads_delete(struct data_mover_threads *dmt)
{
	size_t i;
	struct masync__thr_op *op;
	struct data_mover_threads *self;
	uint32_t tag;

	if (dmt == NULL)
		return;
	if (masync__forked_since(dmt->pool.fork_gen)) {
		masync__thr_free(dmt, 1);
		return;
	}
	if (masync__thr_self == dmt) {
		errno = EDEADLK;
		return;
	}
	/* operations a poll left waiting for queue room were handed over
	 * too: the workers move them into the queue as it drains */
	for (;;) {
		int waiting;

		masync__mtx_lock(&dmt->blocked_lock);
		masync__blocked_drain(dmt);
		waiting = dmt->bhead != NULL;
		masync__mtx_unlock(&dmt->blocked_lock);
		if (!waiting)
			break;
		thrd_yield();
	}
	/* workers drain what is queued (also what no push woke them for),
	 * then see `stop` on an empty queue */
	masync__thr_wake_all(dmt);
	while (masync__ring_nonempty(dmt))
		thrd_yield();
	masync__mtx_lock(&dmt->lock);
	MASYNC__STORE(&dmt->stop, 1, release);
	masync__mtx_unlock(&dmt->lock);
	masync__thr_wake_all(dmt);
	for (i = 0; i < dmt->nthreads; i++)
		masync__thrd_join(dmt->threads[i], NULL);
	/* anything pushed meanwhile (helper entries of split operations),
	 * and completions handed to the workers: their wakers are called
	 * here, and a nested delete from one of them is refused as on a
	 * worker */
	self = masync__thr_self;
	masync__thr_self = dmt;
	while ((op = masync__ring_pop(dmt, &tag)) != NULL)
		masync__thr_execute(dmt, op, tag, MASYNC__THR_INLINE);
	masync__thr_run_deferred(dmt);
	masync__thr_self = self;
	masync__thr_free(dmt, 0);
}

MINIASYNC_API void
data_mover_threads_set_memcpy_fn(struct data_mover_threads *dmt,
	memcpy_fn op_memcpy)
{
	if (dmt == NULL)
		errno = EINVAL;
	else
		dmt->op_memcpy = op_memcpy;
}

MINIASYNC_API void
data_mover_threads_set_memmove_fn(struct data_mover_threads *dmt,
	memmove_fn op_memmove)
{
	if (dmt == NULL)
		errno = EINVAL;
	else
		dmt->op_memmove = op_memmove;
}

MINIASYNC_API void
data_mover_threads_set_memset_fn(struct data_mover_threads *dmt,
	memset_fn op_memset)
{
	if (dmt == NULL)
		errno = EINVAL;
	else
		dmt->op_memset = op_memset;
}

#else /* MINIASYNC_NO_THREADS */

/* never called: no vdm has them (masync__ext_of and vdm_cancel compare
 * with them) */
MINIASYNC_API void *
masync__thr_op_new(struct vdm *vdm, const enum vdm_operation_type type)
{
	(void)vdm;
	(void)type;
	return NULL;
}

MINIASYNC_API void
masync__thr_op_delete(void *data, const struct vdm_operation *operation,
	struct vdm_operation_output *output)
{
	(void)data;
	(void)operation;
	(void)output;
}

MINIASYNC_API int
masync__thr_op_cancel(void *data, const struct vdm_operation *operation)
{
	(void)data;
	(void)operation;
	return 1;
}

#endif /* MINIASYNC_NO_THREADS */

/* ======================================================================== */
/* >>dsa — the Intel DSA mover                                              */
/* ======================================================================== */

static MASYNC__THREAD_LOCAL enum data_mover_dsa_error masync__dsa_err;
static MASYNC__THREAD_LOCAL char masync__dsa_msg[200];

static struct data_mover_dsa *
masync__dsa_fail(enum data_mover_dsa_error e, int err, const char *detail)
{
	static const char *const what[] = {
		"no error",
		("DSA support not compiled in (build with MINIASYNC_DSA and "
			"link -laccel-config)"),
		"no enabled DSA device",
		"no enabled user work queue fits the request",
		"no permission to open the work queue",
		"the device has no PASID (shared virtual memory) enabled",
		"the dedicated work queue is already in use",
		"out of memory",
		"invalid configuration",
		"libaccel-config failed",
		"a system call failed",
	};
	const char *w = (unsigned)e < sizeof(what) / sizeof(what[0]) ?
		what[e] : "unknown error";

	masync__dsa_err = e;
	if (detail != NULL && detail[0] != '\0') {
		size_t lw = strlen(w), ld = strlen(detail);

		if (lw > sizeof(masync__dsa_msg) - 4)
			lw = sizeof(masync__dsa_msg) - 4;
		memcpy(masync__dsa_msg, w, lw);
		memcpy(masync__dsa_msg + lw, ": ", 2);
		if (ld > sizeof(masync__dsa_msg) - lw - 3)
			ld = sizeof(masync__dsa_msg) - lw - 3;
		memcpy(masync__dsa_msg + lw + 2, detail, ld);
		masync__dsa_msg[lw + 2 + ld] = '\0';
	} else {
		size_t lw = strlen(w);

		if (lw > sizeof(masync__dsa_msg) - 1)
			lw = sizeof(masync__dsa_msg) - 1;
		memcpy(masync__dsa_msg, w, lw);
		masync__dsa_msg[lw] = '\0';
	}
	errno = err;
	return NULL;
}

MINIASYNC_API enum data_mover_dsa_error
data_mover_dsa_last_error(void)
{
	return masync__dsa_err;
}

MINIASYNC_API const char *
data_mover_dsa_last_error_str(void)
{
	return masync__dsa_msg[0] != '\0' ? masync__dsa_msg : "no error";
}

#ifndef MINIASYNC_DSA

MINIASYNC_API struct data_mover_dsa *
data_mover_dsa_new(const struct data_mover_dsa_config *config)
{
	(void)config;
	return masync__dsa_fail(DATA_MOVER_DSA_E_NOT_BUILT, ENOTSUP, NULL);
}

MINIASYNC_API struct vdm *
data_mover_dsa_get_vdm(struct data_mover_dsa *dmd)
{
	(void)dmd; /* no mover exists without MINIASYNC_DSA */
	errno = EINVAL;
	return NULL;
}

MINIASYNC_API void
data_mover_dsa_delete(struct data_mover_dsa *dmd)
{
	(void)dmd;
}

MINIASYNC_API size_t
data_mover_dsa_wq_count(struct data_mover_dsa *dmd)
{
	(void)dmd;
	errno = EINVAL;
	return 0;
}

MINIASYNC_API int
data_mover_dsa_get_wq_info(struct data_mover_dsa *dmd, size_t i,
	struct data_mover_dsa_wq_info *info)
{
	(void)dmd;
	(void)i;
	(void)info;
	return errno = EINVAL;
}

/* never called: no vdm has it (masync__ext_of compares with it) */
MINIASYNC_API void *
masync__dsa_op_new(struct vdm *vdm, const enum vdm_operation_type type)
{
	(void)vdm;
	(void)type;
	return NULL;
}

#else /* MINIASYNC_DSA */

#define MASYNC__DSA_SYSFS "/sys/bus/dsa/devices/"
/* a sysfs name's longest (Linux's NAME_MAX, which <limits.h> gives only
 * with POSIX feature macros; strict C11 without -pthread has none) */
#define MASYNC__NAME_MAX 255
#define MASYNC__DSA_GENCAP_BOF (1ull << 0)
#define MASYNC__DSA_GENCAP_OVERLAP (1ull << 1)
#define MASYNC__DSA_GENCAP_CC_MEM (1ull << 2)
#define MASYNC__DSA_GENCAP_CC_FLUSH (1ull << 3)
#define MASYNC__DSA_GENCAP_DRDBK (1ull << 8)
#define MASYNC__DSA_DEFAULT_TIMEOUT_NS 5000000000ull
#define MASYNC__DSA_DEFAULT_CAPACITY 4096u
/* Below this many bytes a CPU copy (~100-300 ns from cache) costs less CPU
 * time than preparing, submitting and reaping one descriptor, and the
 * device's ~1-2 us latency is never won back. */
#define MASYNC__DSA_DEFAULT_CPU_THRESHOLD 4096u
#define MASYNC__DSA_MAX_FAULTS 64u /* faults of one part, then the CPU */
/* Coalescing: at most this many operations per batch descriptor (SPDK
 * batches 32; a SPR WQ's max_batch_size is 32 by default), of at most
 * MASYNC__DSA_DEFAULT_BATCH_THRESHOLD bytes each (above 64 KiB the copy
 * itself, ~2 us at 30 GB/s, dwarfs the ~0.1-0.3 us of doorbell and
 * completion handling a batch saves). A pending batch nobody polls is
 * submitted by the monitor thread after MASYNC__DSA_PEND_NS. */
#define MASYNC__DSA_BATCH 32u
#define MASYNC__DSA_DEFAULT_BATCH_THRESHOLD 65536u
#define MASYNC__DSA_PEND_NS 1000000u
#define MASYNC__DSA_MAX_BATCHES 64u /* batch descriptors per WQ */
/* Hybrid copies: operations of at least 2 MiB are split (at 30 GB/s the
 * device needs ~70 us for them, so a CPU share saves tens of us, far more
 * than the split costs; below ~256 KiB the device's own latency and the
 * polling thread's time are the larger part). The CPU share starts at
 * 300 permille: for both parts to end together it is cpu / (cpu + dsa)
 * bandwidth, ~12 / (12 + 30) GB/s for one SPR core and one device. It
 * then moves by 16 permille per split towards the side that finished
 * last, within [50, 900]. */
#define MASYNC__DSA_DEFAULT_HYBRID_THRESHOLD ((size_t)2 << 20)
#define MASYNC__DSA_HYBRID_START 300u
#define MASYNC__DSA_HYBRID_STEP 16u
#define MASYNC__DSA_HYBRID_MIN 50u
#define MASYNC__DSA_HYBRID_MAX 900u
#define MASYNC__DSA_PAGE 4096u

/* the formats the device reads and writes (<linux/idxd.h>) */
MASYNC__STATIC_ASSERT(sizeof(struct dsa_hw_desc) == 64,
	"a DSA descriptor is 64 bytes");
MASYNC__STATIC_ASSERT(sizeof(struct dsa_completion_record) == 32,
	"a DSA completion record is 32 bytes");

enum masync__dsa_phase {
	MASYNC__DSA_NEW,
	MASYNC__DSA_RUNNING,
	MASYNC__DSA_DONE,
};

struct masync__dsa_wq;
struct masync__dsa_batch;

/* An entry of a WQ's queue of submitted descriptors: an operation's own
 * descriptor or a batch of coalesced operations (see the queue below). */
struct masync__dsa_qent {
	struct masync__dsa_qent *qprev, *qnext;
	struct dsa_completion_record *rec; /* written when it completes */
	uint64_t seq;
	uint64_t submit_ns;
	int in_q;     /* its descriptor may be in the device's queue */
	int q_lost;   /* ... and it timed out: it holds its room until a
	               * later descriptor (or its own record) completes */
	int in_limbo; /* lost, left the queue, may still be executing: its
	               * memory waits for its record (or the close) */
	int is_batch;
};

/* The fields a coalesced member's life touches (the pool, the start, the
 * pend, the flush, the sweep, its reap) sit in its first lines, so that it
 * misses on few lines when other work evicted them; what only other paths
 * use (hybrid, armed list, faults, timeouts, its own descriptor) comes
 * after. Flags are bytes for the same reason. */
/* masync__dsa_op.heap */
#define MASYNC__DSA_POOL 0u
#define MASYNC__DSA_OWN_USED 1u
#define MASYNC__DSA_OWN_FREE 2u

struct masync__dsa_op {
	struct masync__pool_link link; /* first: the pool's free list */
	struct masync__signal sig;     /* waker hand-off with the monitor */
	struct data_mover_dsa *d;
	struct masync__dsa_wq *w;      /* the WQ of the descriptor in flight */
	/* coalescing: set when it started as a member of a pending batch on
	 * pend_w; the fields below are then under pend_w->qlock */
	struct masync__dsa_wq *pend_w;
	struct masync__dsa_batch *bat; /* the batch it went in */
	/* its record: the device writes it when it fails as a member */
	MASYNC__ALIGNAS(32) struct dsa_completion_record comp;
	/* the record the monitor waits for: its own, or that of the batch
	 * it is in (one wake-up per batch, not per member) */
	MASYNC__A(struct dsa_completion_record *) watch;
	struct masync__dsa_op *pprev, *pnext;
	unsigned bat_idx;              /* ... as member[bat_idx] */
	/* detached with its record written by another member's poll (one
	 * lock per batch's worth of completions, not one per member) */
	MASYNC__A(int) swept;
	struct masync__op_args args; /* of the operation, read at the start */
	size_t n, done;
	enum vdm_operation_type type;
	MASYNC__A(uint32_t) phase;
	enum vdm_operation_result result;
	/* bumped per operation: the monitor drops a kick it gathered for an
	 * earlier operation in this memory (a spurious wake-up for the
	 * waiter of the new one, often the same runtime) */
	MASYNC__A(uint32_t) life;
	MASYNC__A(int) armed; /* written under mlock; its owner reads it */
	/* cancelled while the monitor called its waker: the monitor recycles
	 * it once that call ended (masync__dsa_drop_waker); 0 in the pool */
	MASYNC__A(int) recycle_late;
	enum vdm_operation_result hy_result;
	unsigned faults;
	unsigned batch_parts; /* > 0: the descriptor in flight is a batch */
	int node_dst, node_cpu; /* NUMA nodes to prefer (-1: none) */
	unsigned char submitted;   /* a descriptor is in the device */
	unsigned char need_submit; /* the next descriptor could not be queued */
	unsigned char resume;      /* resubmit the rest of the current part */
	unsigned char descending;  /* overlapping move, dst > src: top first */
	unsigned char no_batch;
	unsigned char timed_out;   /* finished with TIMEOUT: may still be queued */
	unsigned char waiting;     /* a shared WQ refused it since wait_ns */
	unsigned char write_back;  /* a part ran without destination readback */
	unsigned char in_pend;     /* waits in pend_w's pending batch */
	unsigned char staged;      /* ... still on this thread's stage (owner) */
	unsigned char kicked;      /* left it unsubmitted (MASYNC__DSA_KICK_*) */
	unsigned char orphan;  /* the future is gone: to the pool when reaped */
	unsigned char ever_armed; /* its owner armed it in this life (owner) */
	unsigned char arm_later;  /* on this thread's masync__dsa_later (owner) */
	unsigned char hy_active;  /* hy_fut (on cpu_vdm) is still running */
	unsigned char hy_judged;  /* the split share was adjusted for it */
	/* made in a process forked since the mover was made (written only
	 * there): its fork generation; and whether it is an allocation of
	 * its own rather than a pool state (the parent's futures may hold
	 * them all): MASYNC__DSA_POOL, else _OWN_USED or _OWN_FREE on the
	 * mover's heap_all list by heap_next */
	unsigned fgen;
	MASYNC__A(unsigned) heap;
	struct masync__dsa_op *heap_next;
	/* hybrid: [n, n + hy_len) of the operation runs on the CPU */
	size_t hy_len;
	size_t part_max;
	struct masync__dsa_qent q; /* its own descriptor, on o->w's queue */
	size_t p_off, p_len;  /* the part in flight */
	size_t r_off, r_len;  /* what is left of it after page faults */
	/* NULL in the pool (masync__dsa_unlink, masync__dsa_recycle) */
	struct masync__dsa_op *aprev, *anext; /* armed list (monitor) */
	uint64_t arm_ns;      /* its timeout counts from then (mlock) */
	unsigned char *batch; /* bmax descriptors, then their records */
	uint64_t wait_ns;
	struct vdm_operation_future hy_fut;
	/* a POLLER mover's parts alternate between comp and comp_alt (alt
	 * says which the last one went with): the word a POLLER executor
	 * read before a poll that sent the next part would otherwise be
	 * written again with the same value (X, 0, X) and the change missed */
	MASYNC__ALIGNAS(32) struct dsa_completion_record comp_alt;
	unsigned char alt;
	/* op_start said 0: the op_check that follows in the same poll is
	 * that start's (wrapped movers' later polls call op_check too) and
	 * may answer the start's notifier */
	unsigned char fresh;
	struct future_notifier *start_n;
	MASYNC__ALIGNAS(64) struct dsa_hw_desc desc;
};

MASYNC__STATIC_ASSERT(offsetof(struct masync__dsa_op, desc) % 64 == 0 &&
	offsetof(struct masync__dsa_op, comp) % 32 == 0 &&
	offsetof(struct masync__dsa_op, comp_alt) % 32 == 0 &&
	MASYNC__CACHELINE % 64 == 0,
	"descriptors 64-byte and records 32-byte aligned in pool elements");

/* o's own record number `alt` (see comp_alt) */
static struct dsa_completion_record *
masync__dsa_rec(struct masync__dsa_op *o, unsigned char alt)
{
	return alt ? &o->comp_alt : &o->comp;
}

/* the record of o's own descriptor (not of a batch it is a member of) */
static struct dsa_completion_record *
masync__dsa_own(struct masync__dsa_op *o)
{
	return masync__dsa_rec(o, o->alt);
}

/* a write prefetch: takes a line for writing ahead of the stores (never
 * faults, so any address will do). x86: PREFETCHW itself, since
 * __builtin_prefetch(p, 1, ...) is a read prefetch (prefetcht0) unless the
 * build targets PRFCHW, and a line the device only read may still be
 * readable here: then only taking it for writing saves the stores a wait.
 * CPUs without PRFCHW run the opcode as a NOP. */
#if defined(MASYNC__X86) && (defined(__GNUC__) || defined(__clang__))
#define MASYNC__DSA_PREFETCHW(p)                                               \
	__asm__ volatile("prefetchw %0" : : "m"(*(const char *)(p)))
#elif defined(__GNUC__) || defined(__clang__)
#define MASYNC__DSA_PREFETCHW(p) __builtin_prefetch((p), 1, 3)
#else
#define MASYNC__DSA_PREFETCHW(p) ((void)(p))
#endif

/* A batch descriptor of coalesced operations: each member's descriptor
 * points at its own operation's record, so each completes or fails on its
 * own (no fence: a fault in one never fails the others). */
struct masync__dsa_batch {
	MASYNC__ALIGNAS(64) struct dsa_hw_desc list[MASYNC__DSA_BATCH];
	MASYNC__ALIGNAS(64) struct dsa_hw_desc desc;
	MASYNC__ALIGNAS(32) struct dsa_completion_record comp;
	struct masync__dsa_qent q;
	/* attached members (NULL once detached: its memory may be reused) */
	struct masync__dsa_op *member[MASYNC__DSA_BATCH];
	unsigned n;
	unsigned refs;     /* members still attached */
	int retired;       /* its record was written (or the WQ closed) */
	struct masync__dsa_batch *next, *all;
};

/* A WQ's lock. It is taken at every start that joins a batch and held for
 * a few hundred instructions, never across a wait or a wake call: one
 * exchange takes it and a store gives it back, where a mutex costs two
 * atomic operations and ~80 instructions a start (bench/RESULTS.md). A
 * long wait sleeps: under a real-time policy a yield lets no holder of
 * lower priority run. */
struct masync__qlock {
	MASYNC__A(unsigned) held;
};

#define MASYNC__QLOCK_SPINS 1024u
#ifdef MASYNC__TEST_HOOKS
static MASYNC__A(unsigned long) masync__test_qlock_naps; /* long waits' sleeps */
#endif

static inline void
masync__qlock_take(struct masync__qlock *l)
{
	unsigned spins = 0;

	while (MASYNC__XCHG(&l->held, 1u, acquire) != 0) {
		while (MASYNC__LOAD(&l->held, relaxed) != 0) {
			if (spins < MASYNC__QLOCK_SPINS) {
				masync__spin_pause(&spins);
			} else {
				struct timespec ts = {0, 20000};

#ifdef MASYNC__TEST_HOOKS
				MASYNC__FADD(&masync__test_qlock_naps, 1ul,
					relaxed);
#endif
				thrd_sleep(&ts, NULL);
			}
		}
	}
}

static inline void
masync__qlock_give(struct masync__qlock *l)
{
	MASYNC__STORE(&l->held, 0u, release);
}

/* One opened work queue: its portal, its room and its queue. */
struct masync__dsa_wq {
	MASYNC__ALIGNAS(64) int fd;
	int fd_slot;           /* in masync__dsa_fds, -1 none */
	unsigned char *portal; /* NULL: submit with write() */
	int dedicated;
	int use_enqcmd;
	int numa;              /* the device's node, -1 unknown */
	unsigned wq_size;
	uint32_t max_xfer;
	unsigned max_batch;    /* < 2: no batches */
	uint64_t gencap;
	uint32_t base_flags;
	int cc_mem, cc_flush, drdbk, overlap_ok;
	MASYNC__A(unsigned) load; /* = inflight, read without the lock */
	/* the queue head's record, read without the lock (placement) */
	MASYNC__A(struct dsa_completion_record *) head_rec;
	/* submitted descriptors: any poller reaps them (qlock) */
	struct masync__qlock qlock;
	uint32_t slot;         /* portal offset rotation */
	struct masync__dsa_qent *qhead, *qtail, *limbo;
	unsigned inflight, nlost;
	uint64_t seq;
	struct masync__dsa_op *phead, *ptail; /* the pending batch */
	unsigned npend;
	uint64_t pend_ns;      /* when its first member came */
	struct masync__dsa_batch *bfree, *ball;
	unsigned nbatches;
	/* data_mover_dsa_get_wq_info's counts: written under qlock (load +
	 * store), but page faults by any poller (add) */
	MASYNC__A(uint64_t) n_desc, n_batch, n_members, n_refused, n_faults;
	MASYNC__A(uint64_t) n_bytes;
	struct data_mover_dsa *d; /* its mover */
	char path[128];
	char dev[32];
	char wq[32];
};

struct data_mover_dsa {
	struct masync__vdm_ext ext;
	struct masync__dsa_wq *q; /* the opened WQs, best first */
	unsigned nq;
	int multi_node;        /* the WQs are on more than one node */
	int cfg_node;          /* config numa_node - 1, or -1 */
	unsigned bmax;         /* largest max_batch of the WQs */
	int overlap_ok;        /* every WQ does overlapping moves */
	unsigned batch_max;    /* < 2: no coalescing */
	size_t batch_threshold;
	/* WQs with a pending batch (counted when one starts or ends, not
	 * per member: one RMW per batch) */
	MASYNC__A(unsigned) npend;
	size_t hybrid_threshold;
	unsigned hybrid_permille; /* 0: hy_share */
	MASYNC__A(unsigned) hy_share; /* the CPU's share now, permille */
	struct vdm *cpu_vdm;
	enum future_notifier_type notifier;
	size_t cpu_threshold;
	uint64_t timeout_ns;
	struct masync__pool pool; /* its fork_gen: the mover's */
	/* the pool is the capacity's exact count; in a process forked since
	 * the mover was made, cinflight counts the operations made there (as
	 * the threads mover's, masync__fork_count) */
	size_t cap;
	MASYNC__A(uint64_t) cinflight;
	/* the states of its own a forked child made (masync__dsa_heap_get):
	 * never unlinked, reused once free, freed by the delete */
	MASYNC__A(struct masync__dsa_op *) heap_all;
	int have_monitor;
	thrd_t monitor;
	mtx_t mlock;
	cnd_t mcond;
	int mstop;
	struct masync__dsa_op *armed;
};

/* In a child forked after d was made: the portal is not inherited and the
 * WQ is the parent's, so d runs new operations on the CPU. */
static int
masync__dsa_forked(const struct data_mover_dsa *d)
{
	return masync__forked_since(d->pool.fork_gen);
}

/* where the kernel says whether user ENQCMD works (tests point it away) */
static const char *masync__dsa_cpuinfo = "/proc/cpuinfo";

#ifdef MASYNC__TEST_HOOKS
/* tests: replaces the ENQCMD instruction (NULL: the instruction) */
typedef int (*masync__enqcmd_fn)(void *portal, const void *desc);
static MASYNC__A(masync__enqcmd_fn) masync__test_enqcmd;
/* tests: replaces MOVDIR64B (NULL: the instruction), e.g. under valgrind,
 * which does not know it */
typedef void (*masync__movdir64b_fn)(void *portal, const void *desc);
static MASYNC__A(masync__movdir64b_fn) masync__test_movdir64b;
/* tests: the NUMA node of a page (addr) or of the calling thread (NULL) */
typedef int (*masync__node_fn)(const void *addr);
static MASYNC__A(masync__node_fn) masync__test_page_node;
static MASYNC__A(masync__node_fn) masync__test_cpu_node;
#endif

/* ---- discovery ---------------------------------------------------------- */

static void
masync__dsa_quiet_log(struct accfg_ctx *ctx, int priority, const char *file,
	int line, const char *fn, const char *format, va_list args)
{
	(void)ctx, (void)priority, (void)file, (void)line, (void)fn;
	(void)format, (void)args;
}

/* A sysfs attribute of the device or WQ `dir`: 0, or the errno of the
 * open or read (ENOENT: no such attribute) */
static int
masync__dsa_read_file(const char *dir, const char *name, char *buf,
	size_t len)
{
	char path[sizeof(MASYNC__DSA_SYSFS) + 2 * MASYNC__NAME_MAX + 64];
	ssize_t r;
	int fd, e;

	if (strlen(dir) + strlen(name) + sizeof(MASYNC__DSA_SYSFS) + 2 >
			sizeof(path))
		return ENAMETOOLONG;
	strcpy(path, MASYNC__DSA_SYSFS);
	strcat(path, dir);
	strcat(path, "/");
	strcat(path, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno > 0 ? errno : EIO;
	r = read(fd, buf, len - 1);
	e = errno;
	close(fd);
	if (r < 0)
		return e > 0 ? e : EIO;
	buf[r] = '\0';
	return 0;
}

/* A sysfs attribute as a number: 0, -1 when malformed, or the errno of a
 * failed read (ENOENT: missing). */
static int
masync__dsa_read_num(const char *dir, const char *name,
	unsigned long long *v, int base)
{
	char buf[64], *end;
	int e = masync__dsa_read_file(dir, name, buf, sizeof(buf));

	if (e != 0)
		return e;
	errno = 0;
	*v = strtoull(buf, &end, base);
	if (errno != 0 || end == buf || (*end != '\0' && *end != '\n'))
		return -1;
	return 0;
}

/* A read of a device's attributes that failed for a reason of this
 * process or system (out of file descriptors or memory, no permission),
 * not of the device: discovery stops and says so (data_mover_dsa_new:
 * DATA_MOVER_DSA_E_SYSTEM with that errno), rather than take it for a
 * device without PASID or a WQ without a type. */
static int
masync__dsa_sys_err(int e)
{
	return e == EMFILE || e == ENFILE || e == ENOMEM || e == ENOBUFS ||
		e == EACCES || e == EPERM || e == EINTR || e == EAGAIN;
}

/* the message for such a failure, *err its errno; returns -1 */
static int
masync__dsa_sys_fail(int e, const char *dir, const char *name, int *err,
	char *detail, size_t dlen)
{
	snprintf(detail, dlen, "cannot read %s%.64s%s%.32s: %s",
		MASYNC__DSA_SYSFS, dir, name[0] != '\0' ? "/" : "", name,
		strerror(e));
	*err = e;
	return -1;
}

/*
 * The two NUMA lookups are per-thread caches in front of system calls, so
 * that a host whose devices span nodes pays none per operation. A page's
 * node is asked again after MASYNC__DSA_NODE_REFRESH answers from the
 * cache: pages migrate, and a stale node only places work less well.
 */
#define MASYNC__DSA_NODE_REFRESH 256
struct masync__dsa_node_cache {
	uintptr_t key;   /* 0: empty */
	int node;
	unsigned uses;
};

/* the cached node for key (not 0), else lookup(arg)'s, cached: a failure
 * (-1) too, so that a refused system call is not made again each time */
static int
masync__dsa_node_cached(struct masync__dsa_node_cache *c, uintptr_t key,
	int (*lookup)(const void *), const void *arg)
{
	if (c->key == key && c->uses < MASYNC__DSA_NODE_REFRESH) {
		c->uses++;
		return c->node;
	}
	c->node = lookup(arg);
	c->key = key;
	c->uses = 0;
	return c->node;
}

/* The NUMA node of the CPU we run on, or -1 (getcpu: no libnuma), kept
 * per CPU: the system call only when the thread runs on another CPU. */
static int
masync__dsa_cpu_node(void)
{
	static MASYNC__THREAD_LOCAL int cached_cpu = -1, cached_node = -1;
	unsigned cpu = 0, node = 0;
	int now;

#ifdef MASYNC__TEST_HOOKS
	masync__node_fn fn = MASYNC__LOAD(&masync__test_cpu_node, acquire);

	if (fn != NULL)
		return fn(NULL);
#endif
	now = masync__sched_getcpu();
	if (now >= 0 && now == cached_cpu)
		return cached_node;
#ifdef SYS_getcpu
	if (masync__syscall(SYS_getcpu, &cpu, &node, NULL) == 0) {
		/* the CPU getcpu ran on: the pair is consistent */
		cached_cpu = (int)cpu;
		cached_node = (int)node;
		return (int)node;
	}
#endif
	(void)cpu, (void)node;
	return -1;
}

/* get_mempolicy(MPOL_F_NODE | MPOL_F_ADDR) for the page at p (a page not
 * yet mapped is mapped by the query, as the first touch would), or -1 */
static int
masync__dsa_page_node_raw(const void *p)
{
	int node = -1;

#ifdef SYS_get_mempolicy
	if (masync__syscall(SYS_get_mempolicy, &node, (void *)NULL, 0UL,
			p, 3UL /* MPOL_F_NODE | MPOL_F_ADDR */) == 0)
		return node;
#endif
	(void)p;
	return -1;
}

/* The node of the page at p as the kernel reports it, or -1. */
static int
masync__dsa_page_node(const void *p)
{
	static MASYNC__THREAD_LOCAL struct masync__dsa_node_cache cache;

#ifdef MASYNC__TEST_HOOKS
	masync__node_fn fn = MASYNC__LOAD(&masync__test_page_node, acquire);

	if (fn != NULL)
		return fn(p);
#endif
	if (p == NULL)
		return -1;
	return masync__dsa_node_cached(&cache, ((uintptr_t)p >> 12) + 1,
		masync__dsa_page_node_raw, p);
}

struct masync__dsa_cand {
	char path[128], dev[32], wq[32];
	int dedicated, numa, bof;
	int enq_zero; /* shared, threshold 0: write() only */
	unsigned size, max_batch;
	uint32_t max_xfer;
	uint64_t gencap;
};

/* WQs a mover uses at most: 8 sockets of 4 devices of 8 WQs. Past it,
 * discovery keeps the caller's node's (masync__dsa_cand_slot). At most
 * 256 (masync__dsa_order's keys); tests set less. */
#ifndef MASYNC__DSA_MAX_CANDS
#define MASYNC__DSA_MAX_CANDS 256
#elif MASYNC__DSA_MAX_CANDS > 256
#error "MASYNC__DSA_MAX_CANDS is at most 256"
#endif

/* Held while libaccel-config runs (it is not thread-safe) and while a WQ
 * file is opened and entered in masync__dsa_fds, and by a fork (the
 * pthread_atfork handlers): a child never starts with it held by a thread
 * it does not have, nor with a WQ file it does not know it must close.
 * Made once, with the fork handlers (masync__fork_gen). */
static mtx_t masync__dsa_lock;

/* (only after data_mover_dsa_new checked that the lock was made) */
static void
masync__dsa_lock_take(void)
{
	unsigned gen;

	(void)masync__fork_gen(&gen); /* makes the lock, once */
	masync__mtx_lock(&masync__dsa_lock);
}

static void
masync__dsa_atfork_prepare(void)
{
	masync__mtx_lock(&masync__dsa_lock);
}

static void
masync__dsa_atfork_parent(void)
{
	masync__mtx_unlock(&masync__dsa_lock);
}

static int
masync__dsa_atfork_init(void)
{
	int rc;

	if (masync__mtx_init(&masync__dsa_lock, mtx_plain) != thrd_success)
		return ENOMEM;
	rc = MASYNC__PTHREAD_ATFORK(masync__dsa_atfork_prepare,
		masync__dsa_atfork_parent, masync__atfork_child);
	if (rc != 0)
		masync__mtx_destroy(&masync__dsa_lock);
	return rc;
}

static int
masync__dsa_str_ok(const char *s, size_t max)
{
	return s != NULL && s[0] != '\0' && strlen(s) < max;
}

/* Non-zero when a field of cfg is out of range; detail names it. */
static int
masync__dsa_cfg_bad(const struct data_mover_dsa_config *cfg, char *detail,
	size_t dlen)
{
	if ((unsigned)cfg->mode > DATA_MOVER_DSA_WQ_SHARED)
		snprintf(detail, dlen, "mode %d is none of ANY, DEDICATED, "
			"SHARED", (int)cfg->mode);
	else if ((unsigned)cfg->desired_notifier > FUTURE_NOTIFIER_POLLER)
		snprintf(detail, dlen, "desired_notifier %d is none of NONE, "
			"WAKER, POLLER", (int)cfg->desired_notifier);
	else if (cfg->numa_node < 0)
		snprintf(detail, dlen, "numa_node %d is negative (node + 1, "
			"or 0)", cfg->numa_node);
	else if (cfg->hybrid_cpu_permille >= 1000)
		snprintf(detail, dlen, "hybrid_cpu_permille %u is not below "
			"1000", (unsigned)cfg->hybrid_cpu_permille);
	else if (cfg->device != NULL && !masync__dsa_str_ok(cfg->device, 32))
		snprintf(detail, dlen, "device \"%.40s%s\" is empty or 32 "
			"characters or more", cfg->device,
			strlen(cfg->device) > 40 ? "..." : "");
	else if (cfg->wq != NULL && !masync__dsa_str_ok(cfg->wq, 32))
		snprintf(detail, dlen, "wq \"%.40s%s\" is empty or 32 "
			"characters or more", cfg->wq,
			strlen(cfg->wq) > 40 ? "..." : "");
	else
		return 0;
	return 1;
}

/* libaccel-config 3.5.3 crashes (strdup(NULL)) while listing a device's
 * WQs when one of them has a missing or empty `type` or `mode` file: check
 * every wq* directory of the device before letting it list them.
 * 1 sane, 0 not (detail says why), -1 a system error (see
 * masync__dsa_sys_err: *err and detail say which). */
static int
masync__dsa_wqs_sane(const char *dname, int *err, char *detail, size_t dlen)
{
	char path[192], buf[32];
	DIR *dir;
	struct dirent *e;
	const char *f;
	int ok = 1, r;

	if (strlen(dname) + sizeof(MASYNC__DSA_SYSFS) > sizeof(path))
		return 0;
	strcpy(path, MASYNC__DSA_SYSFS);
	strcat(path, dname);
	dir = opendir(path);
	if (dir == NULL)
		return masync__dsa_sys_err(errno) ? masync__dsa_sys_fail(errno,
			dname, "", err, detail, dlen) : 0;
	while (ok > 0 && (e = readdir(dir)) != NULL) {
		char sub[2 * MASYNC__NAME_MAX + 2]; /* device and WQ directory names */

		if (strncmp(e->d_name, "wq", 2) != 0)
			continue;
		if (strlen(dname) + strlen(e->d_name) + 2 > sizeof(sub)) {
			/* unchecked, libaccel-config would list it too */
			snprintf(detail, dlen, "%s has a WQ directory whose name "
				"is too long (skipped)", dname);
			ok = 0;
			break;
		}
		strcpy(sub, dname);
		strcat(sub, "/");
		strcat(sub, e->d_name);
		r = masync__dsa_read_file(sub, f = "type", buf, sizeof(buf));
		if (r == 0 && buf[0] != '\0')
			r = masync__dsa_read_file(sub, f = "mode", buf,
				sizeof(buf));
		if (masync__dsa_sys_err(r)) {
			ok = masync__dsa_sys_fail(r, sub, f, err, detail, dlen);
		} else if (r != 0 || buf[0] == '\0') {
			/* (bounded: gcc -Os warns of a truncation) */
			snprintf(detail, dlen, "%.120s has no readable type "
				"or mode file (skipped)", sub);
			ok = 0;
		}
	}
	closedir(dir);
	return ok;
}

/* A list of WQ names, "wq0.0,wq2.1" (config `wqs`, MINIASYNC_DSA_WQS). */
#define MASYNC__DSA_MAX_NAMES 64
struct masync__dsa_names {
	const char *from;  /* where the list came from, for messages */
	unsigned n;        /* 0: no list, every WQ */
	uint64_t seen;     /* names that matched a WQ */
	char name[MASYNC__DSA_MAX_NAMES][32];
};

/* 0, or -1 with the reason in detail */
static int
masync__dsa_names_parse(struct masync__dsa_names *l, const char *list,
	const char *from, char *detail, size_t dlen)
{
	const char *p = list;

	l->from = from;
	l->n = 0;
	l->seen = 0;
	if (list == NULL)
		return 0;
	for (;;) {
		size_t k = 0;

		while (*p == ' ')
			p++;
		while (p[k] != '\0' && p[k] != ',' && p[k] != ' ') {
			char ch = p[k];

			if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' &&
					ch <= 'Z') || (ch >= '0' && ch <= '9') ||
					ch == '.' || ch == '_' || ch == '-')) {
				snprintf(detail, dlen, "%s: bad character "
					"'%c' in \"%s\"", from, ch, list);
				return -1;
			}
			k++;
		}
		if (k == 0 || k >= sizeof(l->name[0]) ||
				l->n >= MASYNC__DSA_MAX_NAMES) {
			snprintf(detail, dlen, "%s: %s in \"%s\"", from,
				k == 0 ? "empty WQ name" :
				k >= sizeof(l->name[0]) ? "WQ name too long" :
				"too many WQ names", list);
			return -1;
		}
		memcpy(l->name[l->n], p, k);
		l->name[l->n++][k] = '\0';
		p += k;
		while (*p == ' ')
			p++;
		if (*p == '\0')
			return 0;
		if (*p != ',') {
			snprintf(detail, dlen, "%s: bad character '%c' in "
				"\"%s\" (names are separated by commas)",
				from, *p, list);
			return -1;
		}
		p++;
	}
}

/* Is WQ `wq` (e.g. "wq0.0") on the list (or is there no list)? Marks
 * the name seen when `mark`. */
static int
masync__dsa_names_has(struct masync__dsa_names *l, const char *wq,
	int mark)
{
	unsigned i;
	int yes = l->n == 0;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->name[i], wq) == 0) {
			yes = 1;
			if (mark)
				l->seen |= 1ull << i;
		}
	return yes;
}

/* A name that matched no usable WQ: 0, or -1 with the detail. */
static int
masync__dsa_names_check(const struct masync__dsa_names *l, char *detail,
	size_t dlen)
{
	unsigned i;

	for (i = 0; i < l->n; i++)
		if (!(l->seen & (1ull << i))) {
			snprintf(detail, dlen, "%s names %s, which is no "
				"enabled user WQ that fits here", l->from,
				l->name[i]);
			return -1;
		}
	return 0;
}

/* Where discovery puts a WQ that fits: the next entry, or with all `max`
 * taken, for a WQ on the caller's node (pref), one on another node (the
 * caller's node keeps its WQs however many the others have); NULL: none. */
static struct masync__dsa_cand *
masync__dsa_cand_slot(struct masync__dsa_cand *c, int n, int max, int numa,
	int pref)
{
	int i;

	if (n < max)
		return &c[n];
	for (i = n - 1; numa == pref && i >= 0; i--)
		if (c[i].numa != pref)
			return &c[i];
	return NULL;
}

/* Lists the enabled user WQs that fit `cfg`, best first. libaccel-config
 * is not thread-safe and trusts sysfs: enumerate under a global lock and
 * check the files it would crash on before asking it. */
static int
masync__dsa_discover(const struct data_mover_dsa_config *cfg,
	struct masync__dsa_names *lists, struct masync__dsa_cand *c, int max,
	enum data_mover_dsa_error *why, int *err, char *detail, size_t dlen)
{
	struct accfg_ctx *ctx = NULL;
	struct accfg_device *dev;
	struct accfg_wq *wq;
	int n = 0, saw_dev = 0, saw_pasidless = 0, sys = 0, r;
	int pref = cfg->numa_node > 0 ? cfg->numa_node - 1 :
		masync__dsa_cpu_node();

	*why = DATA_MOVER_DSA_E_NO_DEVICE;
	masync__dsa_lock_take();
	if (accfg_new(&ctx) != 0 || ctx == NULL) {
		masync__mtx_unlock(&masync__dsa_lock);
		*why = DATA_MOVER_DSA_E_LIBRARY;
		return 0;
	}
	accfg_set_log_fn(ctx, masync__dsa_quiet_log);
	accfg_device_foreach(ctx, dev) {
		const char *dname = accfg_device_get_devname(dev);
		unsigned long long pasid = 0, v;
		uint64_t gencap;

		if (!masync__dsa_str_ok(dname, sizeof(c->dev)) ||
				strncmp(dname, "dsa", 3) != 0)
			continue;
		if (accfg_device_get_type(dev) != ACCFG_DEVICE_DSA)
			continue;
		if (cfg->device != NULL && strcmp(cfg->device, dname) != 0)
			continue;
		if (accfg_device_get_state(dev) != ACCFG_DEVICE_ENABLED) {
			snprintf(detail, dlen, "%s is not enabled", dname);
			continue;
		}
		saw_dev = 1;
		/* libaccel-config answers "enabled" even when the file says
		 * 0: read it ourselves */
		r = masync__dsa_read_num(dname, "pasid_enabled", &pasid, 0);
		if (masync__dsa_sys_err(r)) {
			sys = masync__dsa_sys_fail(r, dname, "pasid_enabled",
				err, detail, dlen);
			break;
		}
		if (r != 0 || pasid != 1) {
			saw_pasidless = 1;
			snprintf(detail, dlen, "%s has pasid_enabled != 1",
				dname);
			continue;
		}
		/* sysfs prints it in hex; unknown = no optional feature */
		r = masync__dsa_read_num(dname, "gen_cap", &v, 16);
		if (masync__dsa_sys_err(r)) {
			sys = masync__dsa_sys_fail(r, dname, "gen_cap", err,
				detail, dlen);
			break;
		}
		gencap = r == 0 ? v : 0;
		r = masync__dsa_wqs_sane(dname, err, detail, dlen);
		if (r < 0) {
			sys = -1;
			break;
		}
		if (r == 0)
			continue;
		accfg_wq_foreach(dev, wq) {
			const char *wname = accfg_wq_get_devname(wq);
			struct masync__dsa_cand *k, t;
			unsigned long long size, xfer, batch;
			int mode, bof;

			if (!masync__dsa_str_ok(wname, sizeof(c->wq)))
				continue;
			if (cfg->wq != NULL && strcmp(cfg->wq, wname) != 0)
				continue;
			/* (its type and mode files: masync__dsa_wqs_sane) */
			if (accfg_wq_get_state(wq) != ACCFG_WQ_ENABLED ||
					accfg_wq_get_type(wq) != ACCFG_WQT_USER)
				continue;
			/* (into an int: the library may return a value the
			 * enum lacks) */
			mode = accfg_wq_get_mode(wq);
			if (mode != ACCFG_WQ_SHARED && mode != ACCFG_WQ_DEDICATED)
				continue;
			if ((cfg->mode == DATA_MOVER_DSA_WQ_DEDICATED &&
					mode != ACCFG_WQ_DEDICATED) ||
					(cfg->mode == DATA_MOVER_DSA_WQ_SHARED &&
					mode != ACCFG_WQ_SHARED))
				continue;
			/* numeric getters return -errno as unsigned: check */
			size = accfg_wq_get_size(wq);
			xfer = accfg_wq_get_max_transfer_size(wq);
			batch = accfg_wq_get_max_batch_size(wq);
			bof = accfg_wq_get_block_on_fault(wq);
			if (size == 0 || size > 4096)
				continue;
			if (xfer == 0 || xfer > (1ull << 31)) {
				xfer = gencap ? 1ull << ((gencap >> 16) & 0x1f)
					: 0;
				if (xfer < 4096)
					continue;
			}
			if (batch > 4096)
				batch = 0;
			/* both lists must name it (each name is checked
			 * against the WQs that fit, after the loop) */
			{
				int in0 = masync__dsa_names_has(&lists[0],
					wname, 1);
				int in1 = masync__dsa_names_has(&lists[1],
					wname, 1);

				if (!in0 || !in1)
					continue;
			}
			memset(&t, 0, sizeof(t));
			if (accfg_wq_get_user_dev_path(wq, t.path,
					sizeof(t.path)) != 0 || t.path[0] != '/')
				continue;
			strcpy(t.dev, dname);
			strcpy(t.wq, wname);
			t.dedicated = mode == ACCFG_WQ_DEDICATED;
			/* a shared WQ's threshold bounds what ENQCMD may fill:
			 * with 0 it refuses every descriptor (the kernel's
			 * idxd driver). The
			 * driver enables no shared WQ with threshold 0; should
			 * sysfs say 0 anyway, the portal is not tried: write() */
			if (!t.dedicated) {
				r = masync__dsa_read_num(wname, "threshold",
					&v, 10);
				if (masync__dsa_sys_err(r)) {
					sys = masync__dsa_sys_fail(r, wname,
						"threshold", err, detail,
						dlen);
					break;
				}
				t.enq_zero = r == 0 && v == 0;
			}
			t.numa = accfg_device_get_numa_node(dev);
			t.bof = bof == 1 && (gencap & MASYNC__DSA_GENCAP_BOF);
			t.size = (unsigned)size;
			t.max_xfer = (uint32_t)(xfer > 0x80000000ull ?
				0x80000000ull : xfer);
			t.max_batch = (unsigned)batch;
			t.gencap = gencap;
			k = masync__dsa_cand_slot(c, n, max, t.numa, pref);
			if (k == NULL)
				continue; /* full of WQs on the caller's node */
			*k = t;
			if (k == &c[n])
				n++;
		}
		if (sys)
			break;
	}
	accfg_unref(ctx);
	masync__mtx_unlock(&masync__dsa_lock);
	if (sys) {
		*why = DATA_MOVER_DSA_E_SYSTEM;
		return 0;
	}
	if (masync__dsa_names_check(&lists[0], detail, dlen) != 0 ||
			masync__dsa_names_check(&lists[1], detail, dlen) != 0) {
		*why = DATA_MOVER_DSA_E_NO_WQ;
		return 0;
	}
	if (n == 0 && (lists[0].n != 0 || lists[1].n != 0) && saw_dev) {
		snprintf(detail, dlen, "no WQ is named by both %s and %s",
			lists[0].from, lists[1].from);
		*why = DATA_MOVER_DSA_E_NO_WQ;
		return 0;
	}
	if (n == 0) {
		*why = saw_pasidless ? DATA_MOVER_DSA_E_NO_PASID :
			saw_dev ? DATA_MOVER_DSA_E_NO_WQ :
			DATA_MOVER_DSA_E_NO_DEVICE;
		return 0;
	}
	/* the caller's NUMA node first, then dedicated WQs, then size */
	{
		int i, j;

		for (i = 1; i < n; i++) {
			struct masync__dsa_cand t = c[i];

			for (j = i; j > 0; j--) {
				struct masync__dsa_cand *p = &c[j - 1];
				int tp = t.numa == pref, pp = p->numa == pref;

				if (tp < pp || (tp == pp && (t.dedicated <
						p->dedicated || (t.dedicated ==
						p->dedicated &&
						t.size <= p->size))))
					break;
				c[j] = *p;
			}
			c[j] = t;
		}
	}
	return n;
}

/* ---- submission --------------------------------------------------------- */

static void
masync__movdir64b(void *portal, const void *desc)
{
#ifdef MASYNC__TEST_HOOKS
	masync__movdir64b_fn fn = MASYNC__LOAD(&masync__test_movdir64b,
		acquire);

	if (fn != NULL) {
		fn(portal, desc);
		return;
	}
#endif
#ifdef MASYNC__X86
	__asm__ __volatile__("movdir64b (%1), %0"
		: : "r"(portal), "r"(desc) : "memory");
#else
	(void)portal, (void)desc;
#endif
}

/* 0 when the shared WQ accepted the descriptor */
static int
masync__enqcmd(void *portal, const void *desc)
{
#ifdef MASYNC__TEST_HOOKS
	masync__enqcmd_fn fn = MASYNC__LOAD(&masync__test_enqcmd, acquire);

	if (fn != NULL)
		return fn(portal, desc);
#endif
#ifdef MASYNC__X86
	{
		unsigned char retry;

		__asm__ __volatile__("enqcmd (%2), %1\n\tsetz %0"
			: "=q"(retry) : "r"(portal), "r"(desc)
			: "cc", "memory");
		return retry;
	}
#else
	(void)portal, (void)desc;
	return 1;
#endif
}

/* Does the kernel let user space use ENQCMD? It says so with the `enqcmd`
 * flag in cpuinfo (5.18+); without that support the instruction faults
 * even where CPUID has it. */
static int
masync__dsa_kernel_enqcmd(void)
{
	enum { LEN = 65536 };
	char *buf = (char *)MINIASYNC_MALLOC(LEN), *p, *eol;
	ssize_t r, got = 0;
	int fd, yes = 0;

	if (buf == NULL)
		return 0;
	fd = open(masync__dsa_cpuinfo, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		MINIASYNC_FREE(buf);
		return 0;
	}
	while (got < LEN - 1 && (r = read(fd, buf + got,
			(size_t)(LEN - 1 - got))) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		got += r;
	}
	close(fd);
	buf[got] = '\0';
	/* the first CPU's "flags" line */
	for (p = buf; p != NULL && *p != '\0'; p = eol ? eol + 1 : NULL) {
		eol = strchr(p, '\n');
		if (eol != NULL)
			*eol = '\0';
		if (strncmp(p, "flags", 5) == 0) {
			char *q = p;

			while ((q = strstr(q, "enqcmd")) != NULL) {
				if (q[-1] == ' ' && (q[6] == ' ' || q[6] == '\0'))
					yes = 1;
				q += 6;
			}
			break;
		}
	}
	MINIASYNC_FREE(buf);
	return yes;
}

static uint8_t
masync__dsa_status(struct dsa_completion_record *c)
{
	return MASYNC__LOAD((MASYNC__A(uint8_t) *)(void *)&c->status,
		acquire);
}

/* A release store: the device (or the emulator's acquire load) then sees
 * the buffers and descriptors written before it. */
static void
masync__dsa_clear(struct dsa_completion_record *c)
{
	MASYNC__STORE((MASYNC__A(uint8_t) *)(void *)&c->status, 0, release);
}

/* ---- the queue of submitted descriptors ----------------------------------
 * Every submitted descriptor is on d's queue, in submission order, until
 * someone saw it complete: its owner or any other thread that needs room
 * (so a thread that stops polling does not hold the room of a dedicated WQ
 * for the others). A descriptor that timed out is "lost" but stays queued:
 * on a dedicated WQ it may still be in the device's queue, which dispatches
 * in order, so its room comes back only when it or a descriptor submitted
 * after it completes. An engine may still be executing it then: its
 * memory is reused only once its own record was written, else it stays
 * in limbo until data_mover_dsa_delete() closed the WQ. */

static void masync__dsa_recycle(struct masync__dsa_op *o);

#define MASYNC__DSA_OP_OF(e) ((struct masync__dsa_op *)(void *)               \
	((char *)(e) - offsetof(struct masync__dsa_op, q)))

/* e's descriptor is no longer in the WQ's queue and its record was
 * written (or the WQ was closed): what it points at may be reused */
static void
masync__dsa_batch_put(struct masync__dsa_wq *w, struct masync__dsa_batch *b)
{
	b->next = w->bfree;
	w->bfree = b;
}

/* o leaves its batch (it saw its record, or the batch ended without it) */
static void
masync__dsa_detach(struct masync__dsa_wq *w, struct masync__dsa_op *o)
{
	struct masync__dsa_batch *b = o->bat;

	b->member[o->bat_idx] = NULL;
	o->bat = NULL;
	if (--b->refs == 0 && b->retired)
		masync__dsa_batch_put(w, b);
}

static void
masync__dsa_retire(struct masync__dsa_wq *w, struct masync__dsa_qent *e)
{
	if (!e->is_batch) {
		struct masync__dsa_op *o = MASYNC__DSA_OP_OF(e);

		if (o->orphan)
			masync__dsa_recycle(o);
	} else {
		struct masync__dsa_batch *b = (struct masync__dsa_batch *)
			(void *)((char *)e - offsetof(struct masync__dsa_batch,
			q));
		unsigned i;

		/* a record reporting a fault on the list (once per batch:
		 * it retires once) */
		if ((masync__dsa_status(&b->comp) & DSA_COMP_STATUS_MASK) ==
				DSA_COMP_BATCH_PAGE_FAULT)
			MASYNC__FADD(&w->n_faults, 1, relaxed);
		b->retired = 1;
		for (i = 0; i < b->n; i++) {
			struct masync__dsa_op *m = b->member[i];

			if (m != NULL && m->orphan) {
				masync__dsa_detach(w, m);
				masync__dsa_recycle(m);
				if (b->retired && b->refs == 0)
					return; /* b is free now */
			}
		}
		if (b->refs == 0)
			masync__dsa_batch_put(w, b);
	}
}

/* w's queue changed: what placement reads of it without the lock */
static void
masync__dsa_q_publish(struct masync__dsa_wq *w)
{
	MASYNC__STORE(&w->load, w->inflight, relaxed);
	MASYNC__STORE(&w->head_rec, w->qhead != NULL ? w->qhead->rec :
		(struct dsa_completion_record *)NULL, relaxed);
}

static void
masync__dsa_unqueue(struct masync__dsa_wq *w, struct masync__dsa_qent *e)
{
	if (e->qprev != NULL)
		e->qprev->qnext = e->qnext;
	else
		w->qhead = e->qnext;
	if (e->qnext != NULL)
		e->qnext->qprev = e->qprev;
	else
		w->qtail = e->qprev;
	e->qprev = e->qnext = NULL;
	w->inflight--;
	masync__dsa_q_publish(w);
	e->in_q = 0;
	if (e->q_lost) {
		w->nlost--;
		e->q_lost = 0;
		if (masync__dsa_status(e->rec) == 0) {
			e->in_limbo = 1;
			e->qnext = w->limbo;
			if (w->limbo != NULL)
				w->limbo->qprev = e;
			w->limbo = e;
			return;
		}
	}
	masync__dsa_retire(w, e);
}

/* e completed: so did everything dispatched before it */
static void
masync__dsa_done_locked(struct masync__dsa_wq *w, struct masync__dsa_qent *e)
{
	uint64_t seq = e->seq;
	struct masync__dsa_qent *p, *next;

	masync__dsa_unqueue(w, e);
	for (p = w->qhead; p != NULL && p->seq < seq; p = next) {
		next = p->qnext;
		if (p->q_lost)
			masync__dsa_unqueue(w, p);
	}
}

/* e's record was written after it went to limbo: off the list (its memory
 * is free; the caller retires it, or is its owner) */
static void
masync__dsa_limbo_unlink(struct masync__dsa_wq *w, struct masync__dsa_qent *e)
{
	if (e->qprev != NULL)
		e->qprev->qnext = e->qnext;
	else
		w->limbo = e->qnext;
	if (e->qnext != NULL)
		e->qnext->qprev = e->qprev;
	e->qprev = e->qnext = NULL;
	e->in_limbo = 0;
}

/* Retires the entries in limbo whose records were written since. */
static void
masync__dsa_reap_limbo(struct masync__dsa_wq *w)
{
	struct masync__dsa_qent *e, *next;

	for (e = w->limbo; e != NULL; e = next) {
		next = e->qnext;
		if (masync__dsa_status(e->rec) != 0) {
			masync__dsa_limbo_unlink(w, e);
			masync__dsa_retire(w, e);
		}
	}
}

/* Reaps every completed descriptor; marks those past the timeout lost. */
static void
masync__dsa_reap_locked(struct data_mover_dsa *d, struct masync__dsa_wq *w,
	int mark)
{
	struct masync__dsa_qent *e, *next;
	uint64_t last = 0, now = mark ? masync__coarse_ns() : 0;

	masync__dsa_reap_limbo(w);
	for (e = w->qhead; e != NULL; e = e->qnext)
		if (masync__dsa_status(e->rec) != 0)
			last = e->seq;
	for (e = w->qhead; e != NULL; e = next) {
		next = e->qnext;
		if (masync__dsa_status(e->rec) != 0 ||
				(e->q_lost && e->seq < last)) {
			masync__dsa_unqueue(w, e);
		} else if (mark && !e->q_lost &&
				now - e->submit_ns > d->timeout_ns) {
			e->q_lost = 1; /* its owner sees the time too */
			w->nlost++;
		}
	}
}

/* Unqueues the completed descriptors at the head of the queue (batches
 * have no owner who would): cheap, it stops at the first one in flight.
 * And what finished in limbo (released states wait there for a reaper). */
static void
masync__dsa_reap_head(struct masync__dsa_wq *w)
{
	while (w->qhead != NULL && masync__dsa_status(w->qhead->rec) != 0)
		masync__dsa_done_locked(w, w->qhead);
	if (MASYNC__UNLIKELY(w->limbo != NULL))
		masync__dsa_reap_limbo(w);
}

/* adds to a count of data_mover_dsa_get_wq_info written under the WQ's
 * lock */
static void
masync__dsa_count(MASYNC__A(uint64_t) *c, uint64_t v)
{
	MASYNC__STORE(c, MASYNC__LOAD(c, relaxed) + v, relaxed);
}

/* Submits `desc` (whose record is e->rec) to w and queues e.
 * 0 submitted; 1 no room yet (poll again); 2 no room ever: every entry of
 * the dedicated WQ is held by a lost descriptor; -1 refused */
static int
masync__dsa_submit_locked(struct data_mover_dsa *d, struct masync__dsa_wq *w,
	struct masync__dsa_qent *e, const struct dsa_hw_desc *desc)
{
	int r = 0;

	masync__dsa_reap_head(w);
	if (w->dedicated && w->inflight >= w->wq_size) {
		/* MOVDIR64B into a full dedicated WQ is silently dropped:
		 * never have more descriptors in it than it has room */
		masync__dsa_reap_locked(d, w, 1);
		if (w->inflight >= w->wq_size) {
			r = w->nlost >= w->inflight ? 2 : 1;
			goto out;
		}
	}
#ifdef MASYNC__X86
	_mm_sfence(); /* records and buffers before the doorbell */
#endif
	/* under the lock: the queue's order is the device's order */
	if (w->portal != NULL && w->dedicated) {
		masync__movdir64b(w->portal + (w->slot++ & 63u) * 64u, desc);
	} else if (w->portal != NULL) {
		/* one try per poll: a refusal means the WQ is full now */
		r = masync__enqcmd(w->portal, desc) == 0 ? 0 : 1;
	} else {
		for (;;) {
			ssize_t n = write(w->fd, desc, sizeof(*desc));

			if (n == (ssize_t)sizeof(*desc))
				break;
			if (n < 0 && errno == EINTR)
				continue;
			r = n < 0 && (errno == EAGAIN || errno == EBUSY) ?
				1 : -1;
			break;
		}
	}
	if (r == 0) {
		uint64_t bytes = desc->xfer_size;

		if (desc->opcode == DSA_OPCODE_BATCH) {
			const struct dsa_hw_desc *m = (const struct dsa_hw_desc *)
				(uintptr_t)desc->desc_list_addr;
			uint32_t k;

			/* (the members this thread just wrote: in its cache) */
			for (bytes = 0, k = 0; k < desc->desc_count; k++)
				bytes += m[k].xfer_size;
			masync__dsa_count(&w->n_batch, 1);
			masync__dsa_count(&w->n_members, desc->desc_count);
		}
		masync__dsa_count(&w->n_desc, 1);
		masync__dsa_count(&w->n_bytes, bytes);
		e->seq = ++w->seq;
		e->submit_ns = masync__coarse_ns();
		e->in_q = 1;
		e->q_lost = 0;
		e->qnext = NULL;
		e->qprev = w->qtail;
		if (w->qtail != NULL)
			w->qtail->qnext = e;
		else
			w->qhead = e;
		w->qtail = e;
		w->inflight++;
		masync__dsa_q_publish(w);
	} else if (r == 1) {
		masync__dsa_count(&w->n_refused, 1);
	}
out:
	return r;
}

static int
masync__dsa_submit(struct data_mover_dsa *d, struct masync__dsa_wq *w,
	struct masync__dsa_qent *e, const struct dsa_hw_desc *desc)
{
	int r;

	masync__qlock_take(&w->qlock);
	r = masync__dsa_submit_locked(d, w, e, desc);
	masync__qlock_give(&w->qlock);
	return r;
}

static void
masync__dsa_fill(struct masync__dsa_wq *w, struct masync__dsa_op *o,
	struct dsa_hw_desc *desc, struct dsa_completion_record *comp,
	size_t off, size_t len)
{
	struct masync__op_args a = o->args;
	uint32_t flags = w->base_flags;
	int nt = (a.flags & VDM_F_NO_CACHE_HINT) != 0;
	int durable = (a.flags & VDM_F_MEM_DURABLE) != 0;

	memset(desc, 0, sizeof(*desc));
	desc->completion_addr = (uint64_t)(uintptr_t)comp;
	desc->xfer_size = (uint32_t)len;
	desc->dst_addr = (uint64_t)(uintptr_t)((unsigned char *)a.dst + off);
	switch (o->type) {
	case VDM_OPERATION_MEMCPY:
	case VDM_OPERATION_MEMMOVE:
		desc->opcode = DSA_OPCODE_MEMMOVE;
		desc->src_addr = (uint64_t)(uintptr_t)
			((const unsigned char *)a.src + off);
		break;
	case VDM_OPERATION_MEMSET:
		desc->opcode = DSA_OPCODE_MEMFILL;
		desc->pattern = 0x0101010101010101ull * (uint8_t)a.c;
		break;
	case VDM_OPERATION_FLUSH:
		desc->opcode = DSA_OPCODE_CFLUSH;
		if (w->cc_flush && !nt)
			flags |= IDXD_OP_FLAG_CC; /* write back, keep lines */
		desc->flags = flags & 0xffffffu;
		return;
	}
	if (durable && w->drdbk)
		flags |= IDXD_OP_FLAG_DRDBK;
	else if (durable)
		o->write_back = 1; /* written back when it completes */
	else if (w->cc_mem && !nt)
		flags |= IDXD_OP_FLAG_CC; /* leave the data in the LLC */
	desc->flags = flags & 0xffffffu; /* a 24-bit field */
}

/* ---- placement -----------------------------------------------------------
 * The WQs an operation may go to, best first: those of the device on the
 * destination's NUMA node, then on the caller's node (config numa_node
 * overrides it), then any; within each, the least loaded (our descriptors
 * in flight per entry). A full WQ is passed over (masync__dsa_submit says
 * so), so work crosses nodes only when the local WQs are full. */

/* w's load now: what completed since anyone reaped w (owners that did
 * not poll again) still counts in `load`, so a WQ with its head done is
 * reaped here when its lock is free; a look at one record otherwise. */
static unsigned
masync__dsa_load(struct masync__dsa_wq *w)
{
	unsigned ld = MASYNC__LOAD(&w->load, relaxed);
	struct dsa_completion_record *h;

	if (ld == 0)
		return 0;
	/* (a record in a pool or batch state: memory that stays mapped) */
	h = MASYNC__LOAD(&w->head_rec, relaxed);
	if (h != NULL && masync__dsa_status(h) != 0 &&
			MASYNC__XCHG(&w->qlock.held, 1u, acquire) == 0) {
		masync__dsa_reap_head(w);
		ld = w->inflight;
		masync__qlock_give(&w->qlock);
	}
	return ld;
}

static unsigned
masync__dsa_order(struct data_mover_dsa *d, const struct masync__dsa_op *o,
	size_t need, struct masync__dsa_wq **out)
{
	uint64_t key[MASYNC__DSA_MAX_CANDS];
	unsigned i, j, n = 0;

	if (d->nq == 1) { /* nothing to choose */
		out[0] = &d->q[0];
		return d->q[0].max_xfer >= need;
	}
	for (i = 0; i < d->nq; i++) {
		struct masync__dsa_wq *w = &d->q[i];
		uint64_t tier = 2, k;

		if (w->max_xfer < need)
			continue; /* the rest of a part that faulted */
		if (d->multi_node && w->numa >= 0) {
			if (w->numa == o->node_dst)
				tier = 0;
			else if (w->numa == o->node_cpu)
				tier = 1;
		}
		k = tier << 48 | (uint64_t)masync__dsa_load(w) * 65536u /
			w->wq_size << 8 | i;
		for (j = n; j > 0 && key[j - 1] > k; j--) {
			key[j] = key[j - 1];
			out[j] = out[j - 1];
		}
		key[j] = k;
		out[j] = w;
		n++;
	}
	return n;
}

/* Plans the next part of `o` for w: a descriptor, or a batch of parts */
static void
masync__dsa_plan(struct data_mover_dsa *d, struct masync__dsa_wq *w,
	struct masync__dsa_op *o)
{
	size_t left = o->n - o->done;
	size_t part = o->part_max < w->max_xfer ? o->part_max : w->max_xfer;

	o->batch_parts = 0;
	if (!o->descending && !o->no_batch && w->max_batch >= 2 &&
			w->portal != NULL && left > part) {
		size_t parts = left / part + (left % part != 0);
		unsigned i;

		if (parts > w->max_batch)
			parts = w->max_batch;
		if (o->batch == NULL)
			o->batch = (unsigned char *)masync__zalloc_aligned(
				(size_t)d->bmax * (64 + 32));
		if (o->batch != NULL) {
			struct dsa_hw_desc *list =
				(struct dsa_hw_desc *)(void *)o->batch;
			struct dsa_completion_record *recs =
				(struct dsa_completion_record *)(void *)
				(o->batch + (size_t)d->bmax * 64);
			size_t off = o->done;

			for (i = 0; i < parts; i++) {
				size_t len = o->n - off < part ?
					o->n - off : part;

				masync__dsa_clear(&recs[i]);
				masync__dsa_fill(w, o, &list[i], &recs[i], off,
					len);
				off += len;
			}
			o->batch_parts = (unsigned)parts;
			o->p_off = o->done;
			o->p_len = off - o->done;
			o->r_len = part; /* the batch's part size */
			memset(&o->desc, 0, sizeof(o->desc));
			o->desc.opcode = DSA_OPCODE_BATCH;
			o->desc.flags = IDXD_OP_FLAG_CRAV | IDXD_OP_FLAG_RCR;
			o->desc.desc_list_addr = (uint64_t)(uintptr_t)list;
			o->desc.desc_count = (uint32_t)parts;
			return; /* completion_addr: masync__dsa_submit_next */
		}
	}
	o->p_len = left < part ? left : part;
	o->p_off = o->descending ? left - o->p_len : o->done;
	o->r_off = o->p_off;
	o->r_len = o->p_len;
	o->faults = 0;
}

/* Plans (unless resuming) and submits the next descriptor of `o` to the
 * best WQ that has room. 0 submitted, -1 waiting for room, or the result
 * to fail it with. */
static int
masync__dsa_submit_next(struct masync__dsa_op *o)
{
	struct data_mover_dsa *d = o->d;
	struct masync__dsa_wq *order[MASYNC__DSA_MAX_CANDS];
	unsigned i, n = masync__dsa_order(d, o, o->resume ? o->r_len : 0,
		order);
	/* refused: by a shared WQ; held: a dedicated WQ's room is held by
	 * descriptors in flight (not all lost) */
	int r = 2, any_room = 0, refused = 0, held = 0;
	/* see masync__dsa_op.comp_alt */
	unsigned char alt = d->notifier == FUTURE_NOTIFIER_POLLER && !o->alt;
	struct dsa_completion_record *rec = masync__dsa_rec(o, alt);

	for (i = 0; i < n; i++) {
		struct masync__dsa_wq *w = order[i];
		int s;

		if (!o->resume)
			masync__dsa_plan(d, w, o);
		if (o->batch_parts == 0)
			masync__dsa_fill(w, o, &o->desc, rec, o->r_off,
				o->r_len);
		else
			o->desc.completion_addr = (uint64_t)(uintptr_t)rec;
		masync__dsa_clear(rec);
		o->q.rec = rec;
		o->q.is_batch = 0;
		s = masync__dsa_submit(d, w, &o->q, &o->desc);
		if (s == 0) {
			o->alt = alt;
			o->w = w;
			o->submitted = 1;
			o->need_submit = 0;
			o->resume = 0;
			o->waiting = 0;
			return 0;
		}
		if (s == 1) {
			any_room = 1;
			if (!w->dedicated)
				refused = 1;
			else
				held = 1;
		} else if (s < 0) {
			r = -1;
		}
	}
	o->need_submit = 1; /* keeps o->resume for the retry */
	if (!any_room)
		return r < 0 ? VDM_ERROR_DSA_INVALID :
			VDM_ERROR_TIMEOUT; /* the device lost every WQ */
	if (refused && !held) {
		/* a shared WQ's room is held by other clients too, with no
		 * deadline we know of: give up after refusals for timeout_ns
		 * (also when the dedicated WQs beside it are held by lost
		 * descriptors: they never have room again) */
		uint64_t now = masync__coarse_ns();

		if (!o->waiting) {
			o->waiting = 1;
			o->wait_ns = now;
		} else if (now - o->wait_ns > d->timeout_ns) {
			return VDM_ERROR_BUSY;
		}
	} else if (held) {
		/* a dedicated WQ: the room is held by descriptors that
		 * either complete or time out, so waiting for it needs no
		 * deadline; the shared WQs' refusals count from after it */
		o->waiting = 0;
	}
	return -1;
}

/* ---- coalescing ----------------------------------------------------------
 * A small operation started while its WQ is busy, or in a runtime's pass
 * (masync__round), waits in the WQ's pending batch (its descriptor filled,
 * its record cleared) instead of ringing the doorbell; the batch goes as
 * one batch descriptor when it is full, at the end of the runtime's pass,
 * at the next poll of any operation of the mover that is already running
 * (so a round of starts by hand fills it), or from the monitor thread once
 * it waited MASYNC__DSA_PEND_NS. A lone member goes as its own
 * descriptor. */

static unsigned
masync__dsa_batch_lim(const struct data_mover_dsa *d,
	const struct masync__dsa_wq *w)
{
	unsigned lim = d->batch_max < w->max_batch ? d->batch_max :
		w->max_batch;

	return lim < MASYNC__DSA_BATCH ? lim : MASYNC__DSA_BATCH;
}

/* A list of pending members (a WQ's pending batch, a thread's stage):
 * o goes on its end / comes off it. */
static void
masync__dsa_list_add(struct masync__dsa_op **head, struct masync__dsa_op **tail,
	struct masync__dsa_op *o)
{
	o->pprev = *tail;
	o->pnext = NULL;
	if (*tail != NULL)
		(*tail)->pnext = o;
	else
		*head = o;
	*tail = o;
}

static void
masync__dsa_list_del(struct masync__dsa_op **head, struct masync__dsa_op **tail,
	struct masync__dsa_op *o)
{
	if (o->pprev != NULL)
		o->pprev->pnext = o->pnext;
	else
		*head = o->pnext;
	if (o->pnext != NULL)
		o->pnext->pprev = o->pprev;
	else
		*tail = o->pprev;
	o->pprev = o->pnext = NULL;
}

static void
masync__dsa_unpend(struct data_mover_dsa *d, struct masync__dsa_wq *w,
	struct masync__dsa_op *o)
{
	masync__dsa_list_del(&w->phead, &w->ptail, o);
	o->in_pend = 0;
	if (--w->npend == 0)
		MASYNC__FSUB(&d->npend, 1, relaxed);
}

/* A new batch of w, on its list of all (freed when w is closed). */
static struct masync__dsa_batch *
masync__dsa_batch_new(struct masync__dsa_wq *w)
{
	struct masync__dsa_batch *b = (struct masync__dsa_batch *)
		masync__zalloc_aligned(sizeof(*b));

	if (b == NULL)
		return NULL;
	b->all = w->ball;
	w->ball = b;
	w->nbatches++;
	return b;
}

static struct masync__dsa_batch *
masync__dsa_batch_get(struct masync__dsa_wq *w)
{
	struct masync__dsa_batch *b = w->bfree;

	if (b != NULL)
		w->bfree = b->next;
	else if (w->nbatches < MASYNC__DSA_MAX_BATCHES)
		b = masync__dsa_batch_new(w);
	return b;
}

/* The first k pending members of w, up to `rest`, leave its pending list
 * at once (one update of the counts per batch, not per member); the caller
 * clears each one's links and in_pend in its own pass over them. */
static void
masync__dsa_unpend_head(struct data_mover_dsa *d, struct masync__dsa_wq *w,
	struct masync__dsa_op *rest, unsigned k)
{
	w->phead = rest;
	if (rest != NULL)
		rest->pprev = NULL;
	else
		w->ptail = NULL;
	w->npend -= k;
	if (w->npend == 0)
		MASYNC__FSUB(&d->npend, 1, relaxed);
}

/* A status no device writes: see masync__dsa_kick_member */
#define MASYNC__DSA_ST_KICKED 0x7f

/* Why a member was left unsubmitted (its `kicked`) */
#define MASYNC__DSA_KICK_ALONE 1 /* every entry of its WQ lost: go alone */
#define MASYNC__DSA_KICK_BUSY 2  /* a shared WQ refused it for timeout_ns */

/* m was left unsubmitted: at its next poll its owner sends it alone
 * (RESUBMIT) or fails it (BUSY). Its own record, which no device has, is
 * marked so the monitor calls an armed owner's waker (a waker-driven
 * executor polls only when told; it waited for good); a resubmission
 * clears it. */
static void
masync__dsa_kick_member(struct masync__dsa_op *m, unsigned char why)
{
	m->kicked = why;
	MASYNC__STORE((MASYNC__A(uint8_t) *)(void *)&m->comp.status,
		MASYNC__DSA_ST_KICKED, release);
}

/* w may take a descriptor now: a dedicated WQ with room, or a shared
 * one (which only ENQCMD / write() can tell). */
static int
masync__dsa_may_take(const struct masync__dsa_wq *w)
{
	return !w->dedicated || MASYNC__LOAD(&w->load, relaxed) < w->wq_size;
}

/* Another WQ than w that may take a descriptor now. */
static int
masync__dsa_room_elsewhere(const struct data_mover_dsa *d,
	const struct masync__dsa_wq *w)
{
	unsigned i;

	for (i = 0; i < d->nq; i++)
		if (&d->q[i] != w && masync__dsa_may_take(&d->q[i]))
			return 1;
	return 0;
}

/* w had no room for its pending members. A dedicated WQ's room is held by
 * our own descriptors: they wait for it with no deadline, unless another
 * WQ has room: then they go there one by one at once. A shared WQ that
 * refused them and sent none for timeout_ns: they fail with
 * VDM_ERROR_BUSY, as a lone operation does (masync__dsa_submit_next);
 * their owners learn it as from a kick. */
static void
masync__dsa_pend_refused(struct data_mover_dsa *d, struct masync__dsa_wq *w,
	int sent)
{
	int alone = d->nq > 1;

	if (w->dedicated) {
		if (!alone || !masync__dsa_room_elsewhere(d, w))
			return;
	} else {
		uint64_t now = masync__coarse_ns();

		if (sent) {
			w->pend_ns = now; /* the rest waits from here */
			return;
		}
		/* Refused with nothing sent. With other WQs, the members try
		 * them one by one at once (masync__dsa_submit_next, which
		 * fails them with BUSY only when none takes them in time):
		 * left here, they waited for this WQ alone while another was
		 * idle. */
		if (!alone && now - w->pend_ns <= d->timeout_ns)
			return;
	}
	while (w->phead != NULL) {
		struct masync__dsa_op *m = w->phead;

		masync__dsa_unpend(d, w, m);
		masync__dsa_kick_member(m, alone ? MASYNC__DSA_KICK_ALONE :
			MASYNC__DSA_KICK_BUSY);
	}
}

/* Submits w's pending batch, if there is room. */
static void
masync__dsa_flush_locked(struct data_mover_dsa *d, struct masync__dsa_wq *w)
{
	unsigned lim = masync__dsa_batch_lim(d, w);
	int sent = 0;

	while (w->npend != 0) {
		struct masync__dsa_batch *b = NULL;
		struct masync__dsa_op *m;
		unsigned k = 0, i;
		int r;

		if (w->npend >= 2)
			b = masync__dsa_batch_get(w);
		if (b == NULL) {
			/* one by one: a lone member, or no batch memory */
			m = w->phead;
			r = masync__dsa_submit_locked(d, w, &m->q, &m->desc);
			if (r == 1) { /* no room yet */
				masync__dsa_pend_refused(d, w, sent);
				return;
			}
			masync__dsa_unpend(d, w, m);
			if (r != 0)
				masync__dsa_kick_member(m,
					MASYNC__DSA_KICK_ALONE);
			else
				sent = 1;
			continue;
		}
		for (m = w->phead; m != NULL && k < lim; m = m->pnext) {
			b->list[k] = m->desc;
			/* its record only on failure: a successful batch's
			 * record says it for all (masync__dsa_member_ok) */
			b->list[k].flags &= ~(uint32_t)IDXD_OP_FLAG_RCR;
			b->member[k++] = m;
		}
		b->n = k;
		b->refs = 0;
		b->retired = 0;
		memset(&b->desc, 0, sizeof(b->desc));
		b->desc.opcode = DSA_OPCODE_BATCH;
		b->desc.flags = IDXD_OP_FLAG_CRAV | IDXD_OP_FLAG_RCR;
		b->desc.desc_list_addr = (uint64_t)(uintptr_t)b->list;
		b->desc.desc_count = k;
		b->desc.completion_addr = (uint64_t)(uintptr_t)&b->comp;
		memset(&b->q, 0, sizeof(b->q));
		b->q.rec = &b->comp;
		b->q.is_batch = 1;
		masync__dsa_clear(&b->comp);
		r = masync__dsa_submit_locked(d, w, &b->q, &b->desc);
		if (r == 1) {
			masync__dsa_batch_put(w, b);
			masync__dsa_pend_refused(d, w, sent);
			return;
		}
		sent |= r == 0;
		masync__dsa_unpend_head(d, w, m, k); /* m: the k+1-th */
		for (i = 0; i < k; i++) {
			m = b->member[i];
			m->pprev = m->pnext = NULL;
			m->in_pend = 0;
			if (r == 0) {
				m->bat = b;
				m->bat_idx = i;
				b->refs++;
				/* its own copy: its owner reads it unlocked */
				m->q.submit_ns = b->q.submit_ns;
				MASYNC__STORE(&m->watch, &b->comp, release);
			} else {
				masync__dsa_kick_member(m,
					MASYNC__DSA_KICK_ALONE);
			}
		}
		if (r != 0)
			masync__dsa_batch_put(w, b);
	}
}

/* Every pending batch (older than min_age ns) that has room goes now. */
static void
masync__dsa_flush_all(struct data_mover_dsa *d, uint64_t min_age)
{
	unsigned i;
	uint64_t now = min_age ? masync__coarse_ns() : 0;

	for (i = 0; i < d->nq; i++) {
		struct masync__dsa_wq *w = &d->q[i];

		masync__qlock_take(&w->qlock);
		if (w->npend != 0 && (min_age == 0 ||
				now - w->pend_ns >= min_age))
			masync__dsa_flush_locked(d, w);
		masync__qlock_give(&w->qlock);
	}
}

/* The starts of a runtime's pass that join a pending batch wait on this
 * thread's stage, without the WQ's lock: they go on the WQ's pending list,
 * and the batch goes, under one lock acquisition per batch (at the pass's
 * end, when the stage holds a batch's worth, or when a start picks another
 * WQ). Only this thread touches a staged member: a poll of it publishes
 * the stage first (masync__dsa_member), a cancel or release takes it off. */
struct masync__dsa_stage {
	struct masync__dsa_wq *w;
	struct masync__dsa_op *head, *tail;
	unsigned n;
};
static MASYNC__THREAD_LOCAL struct masync__dsa_stage masync__dsa_stage;

/* The stage goes on its WQ's pending list; the batch goes too with
 * `flush` (or once the list holds a batch's worth), else at the pass's
 * end as before (the next start picked another WQ: both batches fill).
 * Returns whether the flush kicked staged member `ask` (read under the
 * WQ's lock: once published, the monitor's flush may kick it too). */
static int
masync__dsa_stage_publish(int flush, const struct masync__dsa_op *ask)
{
	struct masync__dsa_stage *st = &masync__dsa_stage;
	struct masync__dsa_wq *w = st->w;
	struct data_mover_dsa *d;
	struct masync__dsa_op *m;
	int kicked;

	if (st->n == 0)
		return 0;
	d = w->d;
	for (m = st->head; m != NULL; m = m->pnext)
		m->staged = 0;
	masync__qlock_take(&w->qlock);
	st->head->pprev = w->ptail;
	if (w->ptail != NULL)
		w->ptail->pnext = st->head;
	else
		w->phead = st->head;
	w->ptail = st->tail;
	if (w->npend == 0) {
		w->pend_ns = masync__coarse_ns();
		MASYNC__FADD(&d->npend, 1, relaxed);
	}
	w->npend += st->n;
	st->head = st->tail = NULL;
	st->n = 0;
	if (flush || w->npend >= masync__dsa_batch_lim(d, w))
		masync__dsa_flush_locked(d, w);
	kicked = ask != NULL && ask->kicked;
	masync__qlock_give(&w->qlock);
	return kicked;
}

/* a staged member leaves the stage unsubmitted (cancelled or released) */
static void
masync__dsa_stage_drop(struct masync__dsa_op *o)
{
	struct masync__dsa_stage *st = &masync__dsa_stage;

	masync__dsa_list_del(&st->head, &st->tail, o);
	o->staged = 0;
	o->in_pend = 0;
	st->n--;
}

/* the end of a runtime's pass (masync__round): w's pending batch goes */
static void
masync__dsa_round_wq(void *arg)
{
	struct masync__dsa_wq *w = (struct masync__dsa_wq *)arg;

	if (masync__dsa_forked(w->d))
		return;
	if (masync__dsa_stage.w == w && masync__dsa_stage.n != 0) {
		(void)masync__dsa_stage_publish(1, NULL); /* flushes w */
		return;
	}
	masync__qlock_take(&w->qlock);
	if (w->npend != 0)
		masync__dsa_flush_locked(w->d, w);
	masync__qlock_give(&w->qlock);
}

/* ... and every pending batch of the mover (see masync__dsa_progress) */
static void
masync__dsa_round_all(void *arg)
{
	struct data_mover_dsa *d = (struct data_mover_dsa *)arg;

	if (MASYNC__LOAD(&d->npend, relaxed) != 0 && !masync__dsa_forked(d))
		masync__dsa_flush_all(d, 0);
}

/* o, filled for w, becomes a pending member (masync__dsa_list_add puts
 * it on a list) */
static void
masync__dsa_pend_init(struct masync__dsa_op *o, struct masync__dsa_wq *w)
{
	o->batch_parts = 0;
	o->p_off = o->r_off = 0;
	o->p_len = o->r_len = o->n;
	o->faults = 0;
	masync__dsa_fill(w, o, &o->desc, &o->comp, 0, o->n);
	masync__dsa_clear(&o->comp);
	o->q.rec = &o->comp;
	o->q.is_batch = 0;
	o->w = o->pend_w = w;
	o->submitted = 1;
	o->in_pend = 1;
	o->kicked = 0;
	o->bat = NULL;
}

/* o's batch was refused (masync__dsa_flush_locked kicked it): it goes
 * alone now, so the check right after the start needs no look at it */
static void
masync__dsa_unkick(struct masync__dsa_op *o)
{
	o->kicked = 0;
	o->pend_w = NULL;
	o->submitted = 0;
	o->no_batch = 1;
	MASYNC__STORE(&o->watch, &o->comp, relaxed);
}

/* At the start of a small operation: joins the pending batch of the best
 * WQ when that WQ is busy, or always in a runtime's poll round (the WQ's
 * batch then goes at the end of the pass: one doorbell and one wake-up
 * for all the round's starts, the first one too). 1 joined, 0 go the
 * usual way. */
static int
masync__dsa_pend(struct masync__dsa_op *o)
{
	struct data_mover_dsa *d = o->d;
	struct masync__dsa_wq *order[MASYNC__DSA_MAX_CANDS], *w;
	unsigned i, n, lim;
	int round;

	n = masync__dsa_order(d, o, 0, order);
	if (n == 0)
		return 0;
	/* the best WQ with room: a full dedicated WQ's batch would wait for
	 * it while another has room (with none, the best: it coalesces) */
	w = order[0];
	for (i = 0; i < n; i++)
		if (masync__dsa_may_take(order[i])) {
			w = order[i];
			break;
		}
	lim = masync__dsa_batch_lim(d, w);
	/* write() cannot take batches on DSA 1.0 */
	if (w->portal == NULL || lim < 2 || o->n > w->max_xfer)
		return 0;
	round = masync__round_defer(masync__dsa_round_wq, w);
	if (round) {
		struct masync__dsa_stage *st = &masync__dsa_stage;

		if (st->n != 0 && st->w != w)
			(void)masync__dsa_stage_publish(0, NULL);
		masync__dsa_pend_init(o, w);
		o->staged = 1;
		masync__dsa_list_add(&st->head, &st->tail, o);
		st->w = w;
		if (++st->n < lim)
			return 1;
		if (!masync__dsa_stage_publish(1, o))
			return 1;
		masync__dsa_unkick(o);
		return 0;
	}
	masync__qlock_take(&w->qlock);
	masync__dsa_reap_head(w);
	if ((!round && w->inflight == 0 && w->npend == 0) ||
			w->npend >= lim) {
		masync__qlock_give(&w->qlock); /* idle: no wait for company */
		return 0;
	}
	masync__dsa_pend_init(o, w);
	/* the flush writes o's descriptor into the next free batch's list,
	 * whose line the device read last time: ask for it back now, so the
	 * flush does not wait for it (a hint; that batch may be another one) */
	if (w->bfree != NULL)
		MASYNC__DSA_PREFETCHW(&w->bfree->list[w->npend]);
	masync__dsa_list_add(&w->phead, &w->ptail, o);
	if (w->npend++ == 0) {
		w->pend_ns = masync__coarse_ns();
		MASYNC__FADD(&d->npend, 1, relaxed);
	}
	if (w->npend >= lim)
		masync__dsa_flush_locked(d, w);
	if (o->kicked) {
		masync__dsa_unkick(o);
		masync__qlock_give(&w->qlock);
		return 0;
	}
	masync__qlock_give(&w->qlock);
	return 1;
}

enum masync__dsa_member_state {
	MASYNC__DSA_M_PENDING,  /* not submitted yet */
	MASYNC__DSA_M_WAIT,     /* in a batch in flight */
	MASYNC__DSA_M_DONE,     /* its record was written */
	MASYNC__DSA_M_ALONE,    /* submitted as its own descriptor */
	MASYNC__DSA_M_RESUBMIT, /* not executed: goes again alone */
	MASYNC__DSA_M_BUSY,     /* not executed: its shared WQ refused it */
	MASYNC__DSA_M_TIMEOUT,
};

/* Members go without RCR: the device writes a member's record only when
 * it fails. With b's record written (status bst), did member[idx], whose
 * record is still 0, run successfully? A successful batch: all did; a
 * failed one (no fence): every member ran; a page fault on the list: those
 * below the count of descriptors completed did (that count is never above
 * the ones processed); anything else: not known, it goes again. */
static int
masync__dsa_member_ok(const struct masync__dsa_batch *b, uint8_t bst,
	unsigned idx)
{
	uint8_t code = bst & DSA_COMP_STATUS_MASK;

	return code == DSA_COMP_SUCCESS || code == DSA_COMP_BATCH_FAIL ||
		(code == DSA_COMP_BATCH_PAGE_FAULT &&
		idx < b->comp.bytes_completed);
}

/* Whether member idx of b (record c) is done: its record written by the
 * device or, b's record being written (status bst, read before c's),
 * by the mover here for one that ran successfully. */
static int
masync__dsa_member_done(const struct masync__dsa_batch *b, uint8_t bst,
	unsigned idx, struct dsa_completion_record *c)
{
	if (masync__dsa_status(c) != 0)
		return 1;
	if (bst == 0 || !masync__dsa_member_ok(b, bst, idx))
		return 0;
	MASYNC__STORE((MASYNC__A(uint8_t) *)(void *)&c->status,
		DSA_COMP_SUCCESS, release);
	return 1;
}

/* Detaches the other members of b that are done, so that their owners
 * see them done without the lock; a successful one's record is written
 * here (see masync__dsa_member_ok). The owner of an orphan never polls
 * again: it stays for masync__dsa_retire. */
static void
masync__dsa_sweep(struct masync__dsa_wq *w, struct masync__dsa_batch *b)
{
	uint8_t bst = masync__dsa_status(&b->comp);
	unsigned i;

	for (i = 0; i < b->n && b->refs != 0; i++) {
		struct masync__dsa_op *m = b->member[i];

		if (m == NULL || m->orphan ||
				!masync__dsa_member_done(b, bst, i, &m->comp))
			continue;
		masync__dsa_detach(w, m); /* may free b: refs is read first */
		MASYNC__STORE(&m->watch, &m->comp, relaxed);
		MASYNC__STORE(&m->swept, 1, release);
	}
}

/* Where is member o (flushing its pending batch first)? */
static enum masync__dsa_member_state
masync__dsa_member(struct masync__dsa_op *o)
{
	struct data_mover_dsa *d = o->d;
	struct masync__dsa_wq *w = o->pend_w;
	enum masync__dsa_member_state m;
	struct dsa_completion_record *wr;

	if (MASYNC__LOAD(&o->swept, acquire))
		return MASYNC__DSA_M_DONE; /* see masync__dsa_sweep */
	if (o->staged)
		(void)masync__dsa_stage_publish(1, NULL); /* polled again */
	wr = MASYNC__LOAD(&o->watch, acquire);
	/* in a batch in flight, neither record written yet: no lock (the
	 * batch's submission time was copied into o->q before wr was set) */
	if (wr != &o->comp && masync__dsa_status(wr) == 0 &&
			masync__dsa_status(&o->comp) == 0 &&
			masync__coarse_ns() - o->q.submit_ns <= d->timeout_ns)
		return MASYNC__DSA_M_WAIT;
	masync__qlock_take(&w->qlock);
	if (o->in_pend)
		masync__dsa_flush_locked(d, w);
	if (o->in_pend) {
		m = MASYNC__DSA_M_PENDING;
	} else if (o->kicked) {
		m = o->kicked == MASYNC__DSA_KICK_BUSY ? MASYNC__DSA_M_BUSY :
			MASYNC__DSA_M_RESUBMIT;
		o->kicked = 0;
	} else if (o->bat != NULL) {
		struct masync__dsa_batch *b = o->bat;
		uint8_t bst = masync__dsa_status(&b->comp);

		if (masync__dsa_member_done(b, bst, o->bat_idx, &o->comp)) {
			masync__dsa_detach(w, o);
			MASYNC__STORE(&o->watch, &o->comp, relaxed);
			masync__dsa_sweep(w, b);
			masync__dsa_reap_head(w);
			m = MASYNC__DSA_M_DONE;
		} else if (bst != 0) {
			/* the batch ended without running it (e.g. its
			 * list could not be read) */
			masync__dsa_detach(w, o);
			MASYNC__STORE(&o->watch, &o->comp, relaxed);
			m = MASYNC__DSA_M_RESUBMIT;
		} else if (masync__coarse_ns() - b->q.submit_ns >
				d->timeout_ns) {
			if (b->q.in_q && !b->q.q_lost) {
				b->q.q_lost = 1;
				w->nlost++;
			}
			m = MASYNC__DSA_M_TIMEOUT; /* stays attached */
		} else {
			m = MASYNC__DSA_M_WAIT;
		}
	} else {
		m = MASYNC__DSA_M_ALONE;
	}
	masync__qlock_give(&w->qlock);
	return m;
}

/* ---- completion --------------------------------------------------------- */

/* mlock is held for moments (a link, an unlink, the monitor's scan): a
 * short spin before blocking saves both sides a system call (the waiter's
 * sleep and the holder's wake-up) on most contended takes */
static void
masync__dsa_mlock(struct data_mover_dsa *d)
{
	unsigned i;

	for (i = 0; i < 128; i++) {
		if (masync__mtx_trylock(&d->mlock) == thrd_success)
			return;
		MASYNC__PAUSE();
	}
	masync__mtx_lock(&d->mlock);
}

/* Operations armed in this thread's runtime pass: their wakers are
 * registered at once, but they go on their monitors' lists at the pass's
 * end, one mlock per mover and pass instead of one per operation (the
 * monitor holds mlock while it scans). Only the owner touches an entry:
 * a disarm (completion, release, cancel) takes it off the list first. */
#define MASYNC__DSA_LATER 64u
struct masync__dsa_later {
	unsigned n;
	struct masync__dsa_op *o[MASYNC__DSA_LATER];
};
static MASYNC__THREAD_LOCAL struct masync__dsa_later masync__dsa_later;

/* Under mlock. Returns non-zero when the list was empty: the monitor may
 * sleep on mcond (it sleeps only on an empty list), so the caller signals
 * it, after the unlock (a monitor woken under the lock would block on it
 * at once, and the unlock wake it again). */
static int
masync__dsa_link(struct data_mover_dsa *d, struct masync__dsa_op *o)
{
	int was_empty = d->armed == NULL;

	MASYNC__STORE(&o->armed, 1, relaxed);
	/* the timeout counts from the submission (a lone descriptor's, which
	 * this owner made), as the poll's does */
	o->arm_ns = o->submitted && o->pend_w == NULL ? o->q.submit_ns :
		masync__coarse_ns();
	o->aprev = NULL;
	o->anext = d->armed;
	if (!was_empty)
		d->armed->aprev = o;
	d->armed = o;
	return was_empty;
}

/* the end of a runtime's pass: links what its arms left, per mover */
static void
masync__dsa_link_later(void *arg)
{
	struct masync__dsa_later *l = (struct masync__dsa_later *)arg;

	while (l->n != 0) {
		struct data_mover_dsa *d = l->o[l->n - 1]->d;
		int forked = masync__dsa_forked(d); /* no monitor here */
		int wake = 0;
		unsigned i, k = 0;

		if (!forked)
			masync__dsa_mlock(d);
		for (i = 0; i < l->n; i++) {
			struct masync__dsa_op *o = l->o[i];

			if (o->d != d) {
				l->o[k++] = o;
				continue;
			}
			o->arm_later = 0;
			if (!forked)
				wake |= masync__dsa_link(d, o);
		}
		if (!forked) {
			masync__mtx_unlock(&d->mlock);
			if (wake) /* see masync__dsa_link */
				masync__cnd_signal(&d->mcond);
		}
		l->n = k;
	}
}

/* o leaves this thread's list (disarmed, or its mover is deleted) */
static void
masync__dsa_later_drop(struct masync__dsa_op *o)
{
	struct masync__dsa_later *l = &masync__dsa_later;
	unsigned i;

	for (i = l->n; i-- != 0;)
		if (l->o[i] == o) {
			l->o[i] = l->o[--l->n];
			break;
		}
	o->arm_later = 0;
}

static void
masync__dsa_arm(struct masync__dsa_op *o, struct future_notifier *n)
{
	struct data_mover_dsa *d = o->d;
	struct masync__dsa_later *l = &masync__dsa_later;
	int wake = 0;

	if (n == NULL)
		return;
	if (d->notifier == FUTURE_NOTIFIER_POLLER) {
		n->poller.ptr_to_monitor = o->alt ?
			(uint64_t *)(void *)&o->comp_alt :
			(uint64_t *)(void *)&o->comp;
		n->notifier_used = FUTURE_NOTIFIER_POLLER;
		return;
	}
	if (d->notifier != FUTURE_NOTIFIER_WAKER || !d->have_monitor ||
			masync__dsa_forked(d)) {
		n->notifier_used = FUTURE_NOTIFIER_NONE; /* poll again */
		return;
	}
	o->ever_armed = 1;
	masync__signal_register(&o->sig, n, FUTURE_NOTIFIER_WAKER, NULL);
	if (o->arm_later)
		return; /* linked at the pass's end */
	MASYNC__TEST_PREEMPT();
	/* still on the list: the monitor kicks whatever it unlinks, and
	 * either sees this registration or its unlink is seen here (both
	 * sides fence between their store and their load) */
	MASYNC__FENCE(seq_cst);
	if (MASYNC__LOAD(&o->armed, relaxed))
		return;
	/* in a runtime's pass: linked with the others at its end (the
	 * pass polls nothing else before; a later pass polls again) */
	if (l->n < MASYNC__DSA_LATER &&
			masync__round_defer(masync__dsa_link_later, l)) {
		o->arm_later = 1;
		l->o[l->n++] = o;
		return;
	}
	masync__dsa_mlock(d);
	if (!MASYNC__LOAD(&o->armed, relaxed))
		wake = masync__dsa_link(d, o);
	masync__mtx_unlock(&d->mlock);
	MASYNC__TEST_PREEMPT();
	if (wake) /* see masync__dsa_link */
		masync__cnd_signal(&d->mcond);
}

static void
masync__dsa_unlink(struct data_mover_dsa *d, struct masync__dsa_op *o)
{
	if (o->aprev != NULL)
		o->aprev->anext = o->anext;
	else
		d->armed = o->anext;
	if (o->anext != NULL)
		o->anext->aprev = o->aprev;
	o->aprev = o->anext = NULL;
	/* release: an owner that sees 0 without the lock reuses the state
	 * only after the writes above */
	MASYNC__STORE(&o->armed, 0, release);
}

/* o off the monitor's list (a kick it makes after this calls at most
 * o's waker); 0 where there is no monitor (or it is the parent's). */
static int
masync__dsa_unmonitor(struct masync__dsa_op *o)
{
	struct data_mover_dsa *d = o->d;

	if (o->arm_later)
		masync__dsa_later_drop(o); /* never linked */
	if (!d->have_monitor || masync__dsa_forked(d))
		return 0; /* a forked child has no monitor (and maybe a held lock) */
	/* 0: the monitor unlinked it (only the owner links it) and will at
	 * most kick it, which dropping the waker covers: no lock */
	if (MASYNC__LOAD(&o->armed, acquire)) {
		masync__dsa_mlock(d); /* the monitor unlinks under it */
		if (MASYNC__LOAD(&o->armed, relaxed))
			masync__dsa_unlink(d, o);
		masync__mtx_unlock(&d->mlock);
	}
	return 1;
}

/* After this, the monitor neither calls nor will call o's waker. */
static void
masync__dsa_disarm(struct masync__dsa_op *o)
{
	if (!o->ever_armed)
		return; /* the monitor never knew it: no lock it shares */
	if (!masync__dsa_unmonitor(o))
		return;
	masync__signal_register(&o->sig, NULL, FUTURE_NOTIFIER_WAKER, NULL);
	/* off the list with no waker: a kick the monitor still makes calls
	 * nothing, so the next disarm (e.g. at release) has nothing to do */
	o->ever_armed = 0;
}

/* As masync__dsa_disarm, for a poll that hands over a waker or for a
 * cancel: drops o's waker under the signal's lock and never waits for the
 * monitor's call of it, which may wait for a lock the caller holds (an
 * executor's: a waker may take it). Returns 0 while such a call runs: o
 * stays ever_armed then, so that no later release recycles it under the
 * call; with `cancel`, o is the monitor's to recycle when the call ends
 * (the caller must not touch it any more). */
static int
masync__dsa_drop_waker(struct masync__dsa_op *o, int cancel)
{
	uint64_t w;
	int calls;

	if (!o->ever_armed || !masync__dsa_unmonitor(o))
		return 1;
	w = masync__signal_lock(&o->sig);
	calls = (w & MASYNC__S_CALLS) != 0; /* only the monitor calls */
	if (calls && cancel) /* under the lock: the call's end sees it */
		MASYNC__STORE(&o->recycle_late, 1, relaxed);
	masync__signal_unlock(&o->sig, w & ~(uint64_t)MASYNC__S_WAKER);
	if (calls)
		return 0;
	o->ever_armed = 0;
	return 1;
}

/* masync__dsa_disarm for a poll with notifier n: where n brings a waker
 * (its poller may hold a lock that waker takes), a call of o's waker still
 * running is not waited for (masync__dsa_drop_waker) */
static void
masync__dsa_disarm_poll(struct masync__dsa_op *o, struct future_notifier *n)
{
	if (n != NULL && n->waker.wake != NULL)
		(void)masync__dsa_drop_waker(o, 0);
	else
		masync__dsa_disarm(o);
}

/* o is done; may this poll (notifier n) report it complete? As
 * masync__dsa_disarm, but where the monitor is calling o's waker (past a
 * short wait) and n brings a waker, the poll reports "not yet" (0), as a
 * threads mover's does: dropping the waker waits for that call, which may
 * wait for a lock the poller holds (an executor's, which a waker may
 * take). n's waker is registered then (the call's end calls it), except
 * in the check right after the start (fresh): that call is of the waker
 * this same poll registered, and wakes its poller, who polls again (a
 * second call of it would be one too many). */
static int
masync__dsa_disarm_done(struct masync__dsa_op *o, struct future_notifier *n,
	int fresh)
{
	uint64_t w;

	if (!o->ever_armed || n == NULL || n->waker.wake == NULL) {
		masync__dsa_disarm(o);
		return 1;
	}
	if (!masync__dsa_unmonitor(o))
		return 1;
	w = masync__signal_lock(&o->sig);
	if (fresh) {
		/* the start's waker dropped (a kick still on its way calls
		 * nothing): a call already running wakes the poller */
		masync__signal_unlock(&o->sig, (w | MASYNC__S_DONE) &
			~(uint64_t)MASYNC__S_WAKER);
		if (!masync__signal_done(&o->sig))
			return 0;
	} else {
		masync__signal_unlock(&o->sig, w | MASYNC__S_DONE);
		(void)masync__signal_done(&o->sig); /* (a call's moment) */
		/* done with no call running: the waker dropped; else n's
		 * kept, for the call's end */
		if (!masync__signal_register(&o->sig, n,
				FUTURE_NOTIFIER_WAKER, NULL))
			return 0;
	}
	o->ever_armed = 0;
	return 1;
}

/* Calls the waker of every armed operation whose record was written. */
#define MASYNC__DSA_KICKS 64 /* wakers called per round, with mlock dropped */
static int
masync__dsa_monitor(void *arg)
{
	struct data_mover_dsa *d = (struct data_mover_dsa *)arg;
	struct masync__dsa_op *kick[MASYNC__DSA_KICKS];
	uint32_t life[MASYNC__DSA_KICKS];
	unsigned idle = 0;

	masync__dsa_mlock(d);
	while (!d->mstop) {
		struct masync__dsa_op *o, *next;
		int fired = 0;
		uint64_t now;

		/* nothing armed: sleep. A pending batch whose members were
		 * polled with no notifier then waits for the next poll of
		 * an operation of the mover (waking this thread at each
		 * batch's start cost the caller a futex wake per batch:
		 * coalesced 4 KiB 90 -> 150 ns/op, bench_dsa cost) */
		if (d->armed == NULL) {
			masync__cnd_wait(&d->mcond, &d->mlock);
			idle = 0;
			continue;
		}
		now = masync__coarse_ns();
		for (o = d->armed; o != NULL && fired < MASYNC__DSA_KICKS;
				o = next) {
			next = o->anext;
			/* a batch's record is written after its members'
			 * (and never reused while one is attached). Armed
			 * for timeout_ns with no record: the next poll may
			 * fail it with VDM_ERROR_TIMEOUT, which a device that
			 * stopped answering never tells its waker (an
			 * executor polls only when told) */
			if (masync__dsa_status(MASYNC__LOAD(&o->watch,
					acquire)) != 0 ||
					now - o->arm_ns > d->timeout_ns) {
				masync__dsa_unlink(d, o);
				life[fired] = MASYNC__LOAD(&o->life, relaxed);
				kick[fired++] = o;
			}
		}
		if (fired) {
			struct masync__signal *sig[MASYNC__DSA_KICKS];
			int i;
			size_t k;

			MASYNC__FENCE(seq_cst); /* see masync__dsa_arm */
			/* No lock across a wake call: the waker may poll a
			 * future of this mover (which arms under mlock). An
			 * owner that disarms meanwhile drops its waker, so a
			 * kick after that calls nothing; the pool keeps the
			 * states' memory until the mover is deleted. */
			masync__mtx_unlock(&d->mlock);
			MASYNC__TEST_PREEMPT();
			for (i = 0, k = 0; i < fired; i++)
				if (MASYNC__LOAD(&kick[i]->life, relaxed) ==
						life[i]) {
					kick[k] = kick[i];
					sig[k++] = &kick[i]->sig;
				}
			masync__signal_kick_all(sig, k);
			/* cancelled during their calls, which have ended
			 * (only this thread calls their wakers) */
			while (k-- != 0)
				if (MASYNC__LOAD(&kick[k]->recycle_late,
						acquire)) {
					MASYNC__STORE(&kick[k]->recycle_late, 0,
						relaxed);
					masync__dsa_recycle(kick[k]);
				}
			masync__dsa_mlock(d);
			idle = 0;
			continue;
		}
		masync__mtx_unlock(&d->mlock);
		/* a pending batch nobody polls must not wait forever */
		if (MASYNC__LOAD(&d->npend, relaxed) != 0)
			masync__dsa_flush_all(d, MASYNC__DSA_PEND_NS);
		/* no UMWAIT wake-up without waitpkg: spin, then nap */
		if (++idle < 256) {
			MASYNC__PAUSE();
		} else {
			struct timespec ts = {0, 0};

			ts.tv_nsec = idle < 1024 ? 2000 : 50000;
			thrd_sleep(&ts, NULL);
		}
		masync__dsa_mlock(d);
	}
	masync__mtx_unlock(&d->mlock);
	return 0;
}

/* Reads one byte of a page, or adds zero to one, so the OS maps it. */
static void
masync__dsa_touch(uint64_t addr, int write)
{
	if (addr == 0)
		return;
	if (write) {
		/* A real write that changes nothing. Not an atomic add of 0:
		 * clang turns that into a plain load, and a copy-on-write or
		 * zero page then faults on the device again and again. */
#if defined(MASYNC__X86) && (defined(__GNUC__) || defined(__clang__))
		__asm__ __volatile__("lock; orb $0, %0"
			: "+m"(*(unsigned char *)(uintptr_t)addr) : : "memory");
#else
		MASYNC__A(unsigned char) *p =
			(MASYNC__A(unsigned char) *)(uintptr_t)addr;
		unsigned char v = MASYNC__LOAD(p, relaxed);

		while (!MASYNC__CAS(p, &v, v, relaxed))
			;
#endif
	} else
		(void)*(volatile const unsigned char *)(uintptr_t)addr;
}

/* Touches every page of [p, p+len): one device round trip per page fault
 * would make a cold 2 MiB part fall back to the CPU. */
static void
masync__dsa_touch_range(const void *p, size_t len, int write)
{
	uintptr_t a = (uintptr_t)p, end = a + len;

	if (p == NULL || len == 0)
		return;
	for (; a < end; a = (a | (MASYNC__DSA_PAGE - 1)) + 1)
		masync__dsa_touch((uint64_t)a, write);
}

/* Linux 5.14's MADV_POPULATE_READ / _WRITE: the faults a read / write of
 * each page would take, reported as errors instead of signals */
#define MASYNC__MADV_POPULATE_READ 22
#define MASYNC__MADV_POPULATE_WRITE 23
static MASYNC__A(int) masync__dsa_can_populate; /* 0 unknown, 1 yes, 2 no */

/* 0 when a page of [a, a+l) (whole pages) cannot be read: the kernel's
 * copy from it into a pipe says EFAULT where a touch would raise SIGSEGV
 * (a PROT_NONE guard page); 1 when all can, or when it cannot tell. */
static int
masync__dsa_readable(uintptr_t a, size_t l)
{
	int fd[2], ok = 1;
	uintptr_t end = a + l;
	unsigned char c;

	if (masync__syscall(SYS_pipe2, fd, (long)O_CLOEXEC) != 0)
		return 1;
	for (; a < end && ok; a += MASYNC__DSA_PAGE) {
		ssize_t w;

		do
			w = write(fd[1], (const void *)a, 1);
		while (w < 0 && errno == EINTR);
		if (w < 0 && errno == EFAULT)
			ok = 0;
		else if (w != 1 || read(fd[0], &c, 1) != 1)
			break; /* cannot tell */
	}
	close(fd[0]);
	close(fd[1]);
	return ok;
}

/* Faults in [p, p+len) as reads (or writes) would. 0: done; -1: a page
 * there is unmapped, not readable, not writable or unbacked, so a touch
 * would kill the process: the operation fails with
 * VDM_ERROR_DSA_PAGE_FAULT instead; 1: cannot tell (a kernel before 5.14,
 * an I/O mapping) and nothing done: the caller touches. */
static int
masync__dsa_populate(const void *p, size_t len, int write)
{
	static const unsigned char probe = 1;
	uintptr_t a = (uintptr_t)p & ~(uintptr_t)(MASYNC__DSA_PAGE - 1);
	size_t l = (uintptr_t)p + len - a;
	int can = MASYNC__LOAD(&masync__dsa_can_populate, relaxed);
	int saved = errno, r;

	if (len == 0)
		return 0;
	if (can == 0) { /* once: EINVAL below must mean the mapping */
		uintptr_t pr = (uintptr_t)&probe &
			~(uintptr_t)(MASYNC__DSA_PAGE - 1);

		can = masync__madvise((void *)pr, MASYNC__DSA_PAGE,
			MASYNC__MADV_POPULATE_READ) == 0 ? 1 : 2;
		MASYNC__STORE(&masync__dsa_can_populate, can, relaxed);
	}
	r = 1; /* cannot tell: the caller touches */
	if (can == 1 && masync__madvise((void *)a, l, write ?
			MASYNC__MADV_POPULATE_WRITE :
			MASYNC__MADV_POPULATE_READ) == 0) {
		r = 0;
	} else if (can == 1) {
		switch (errno) {
		case ENOMEM: /* unmapped */
		case EFAULT: /* SIGBUS: past a file's end, no memory for it */
#ifdef EHWPOISON
		case EHWPOISON:
#endif
			r = -1;
			break;
		case EINVAL: /* readable but not writable, PROT_NONE, or an
			      * I/O mapping (which a touch faults in) */
			if (write && masync__madvise((void *)a, l,
					MASYNC__MADV_POPULATE_READ) == 0)
				r = -1;
			else
				r = masync__dsa_readable(a, l) ? 1 : -1;
			break;
		default: /* EINTR, EAGAIN: touch instead */
			break;
		}
	}
	errno = saved; /* a poll leaves the program's errno alone */
	return r;
}

/* [p, p+len) faulted in, by a touch where masync__dsa_populate cannot
 * tell; -1: a page there never can be */
static int
masync__dsa_fault_range(const void *p, size_t len, int write)
{
	int r = masync__dsa_populate(p, len, write);

	if (r > 0)
		masync__dsa_touch_range(p, len, write);
	return r < 0 ? -1 : 0;
}

/* [off, off+len) of the operation faulted in, both sides */
static int
masync__dsa_fault_part(struct masync__dsa_op *o, size_t off, size_t len)
{
	struct masync__op_args a = o->args;

	if (a.src != NULL && masync__dsa_fault_range(
			(const unsigned char *)a.src + off, len, 0) < 0)
		return -1;
	return masync__dsa_fault_range((unsigned char *)a.dst + off, len,
		o->type != VDM_OPERATION_FLUSH);
}

/* The fault at `addr` is resolved, and the rest of the part is faulted in
 * too; -1: that address cannot be (see masync__dsa_populate). */
static int
masync__dsa_fault_in(struct masync__dsa_op *o, uint64_t addr, int write)
{
	if (addr != 0 && masync__dsa_fault_range((const void *)(uintptr_t)
			addr, 1, write) < 0)
		return -1;
	/* a page of the rest it cannot fault in fails later, when the
	 * device reports it */
	(void)masync__dsa_fault_part(o, o->r_off, o->r_len);
	return 0;
}

/* Finishes [off, off+len) of the operation on the CPU. */
static void
masync__dsa_cpu_part(struct masync__dsa_op *o, size_t off, size_t len)
{
	struct masync__op_args a = o->args;

	if (len == 0)
		return; /* the buffers may be NULL */

	masync__cpu_op(o->type == VDM_OPERATION_MEMCPY ?
		VDM_OPERATION_MEMMOVE : o->type,
		(unsigned char *)a.dst + off,
		a.src ? (const unsigned char *)a.src + off : NULL,
		a.c, len, a.flags);
}

/* [off, off+len) of the operation, which the device could not finish
 * after page faults, on the CPU; -1 (nothing done): a page there can
 * never be faulted in */
static int
masync__dsa_cpu_after_fault(struct masync__dsa_op *o, size_t off, size_t len)
{
	if (len == 0)
		return 0;
	if (masync__dsa_fault_part(o, off, len) < 0)
		return -1;
	masync__dsa_cpu_part(o, off, len);
	return 0;
}

static enum vdm_operation_result
masync__dsa_error(uint8_t st)
{
	switch (st) {
	case DSA_COMP_BAD_OPCODE:
	case DSA_COMP_INVALID_FLAGS:
	case DSA_COMP_NOZERO_RESERVE:
	case DSA_COMP_DESC_CNT_ERANGE:
	case DSA_COMP_DESCLIST_ALIGN:
	case DSA_COMP_CRA_ALIGN:
	case DSA_COMP_ADDR_ALIGN:
	case DSA_COMP_PRIV_BAD:
		return VDM_ERROR_DSA_INVALID;
	case DSA_COMP_PAGE_FAULT_IR:
	case DSA_COMP_CRA_XLAT:
	case DSA_COMP_TRANSLATION_FAIL:
		return VDM_ERROR_DSA_PAGE_FAULT;
	default:
		return VDM_ERROR_DSA_HARDWARE;
	}
}

static void
masync__dsa_finish(struct masync__dsa_op *o, enum vdm_operation_result r)
{
	struct masync__op_args a = o->args;

	/* durability without destination readback: write back ourselves */
	if (r == VDM_SUCCESS && o->write_back &&
			o->type != VDM_OPERATION_FLUSH)
		masync__flush(a.dst, o->n, 0);
	o->result = r;
	MASYNC__STORE(&o->phase, MASYNC__DSA_DONE, release);
}

/* data_mover_dsa_get_wq_info: a record of o's reported a page fault */
static void
masync__dsa_count_fault(struct masync__dsa_op *o)
{
	if (o->w != NULL)
		MASYNC__FADD(&o->w->n_faults, 1, relaxed);
}

/* The single descriptor in flight finished with status `st`. */
static void
masync__dsa_single_done(struct masync__dsa_op *o, uint8_t st)
{
	struct dsa_completion_record *c = masync__dsa_own(o);
	uint8_t code = st & DSA_COMP_STATUS_MASK;

	switch (code) {
	case DSA_COMP_SUCCESS:
	case DSA_COMP_SUCCESS_PRED:
		o->done += o->p_len;
		break;
	case DSA_COMP_PAGE_FAULT_NOBOF: {
		size_t k = c->bytes_completed;

		masync__dsa_count_fault(o);
		if (k > o->r_len)
			k = o->r_len;
		if (c->result == 1) { /* descending: the top is done */
			o->r_len -= k;
		} else {
			o->r_off += k;
			o->r_len -= k;
		}
		if (masync__dsa_fault_in(o, c->fault_addr,
				(st & DSA_COMP_STATUS_WRITE) != 0) < 0) {
			masync__dsa_finish(o, VDM_ERROR_DSA_PAGE_FAULT);
			return;
		}
		if (++o->faults >= MASYNC__DSA_MAX_FAULTS) {
			if (masync__dsa_cpu_after_fault(o, o->r_off,
					o->r_len) < 0) {
				masync__dsa_finish(o,
					VDM_ERROR_DSA_PAGE_FAULT);
				return;
			}
			o->done += o->p_len;
		} else {
			o->resume = 1; /* the rest of this part, same place */
		}
		break;
	}
	case DSA_COMP_XFER_ERANGE:
		if (o->r_len == o->p_len && o->p_len > 8192) {
			/* plan this part again, smaller */
			o->part_max = (o->p_len / 2) & ~(size_t)4095;
		} else {
			masync__dsa_cpu_part(o, o->r_off, o->r_len);
			o->done += o->p_len;
		}
		break;
	case DSA_COMP_OVERLAP_BUFFERS:
		masync__dsa_cpu_part(o, o->r_off, o->r_len);
		o->done += o->p_len;
		break;
	default:
		masync__dsa_finish(o, masync__dsa_error(code));
		return;
	}
	if (o->done >= o->n)
		masync__dsa_finish(o, VDM_SUCCESS);
	else
		o->need_submit = 1;
}

/* The batch in flight finished with status `st`: parts that did not
 * complete on the device are finished on the CPU (as Intel DTO does). */
static void
masync__dsa_batch_done(struct masync__dsa_op *o, uint8_t st)
{
	struct data_mover_dsa *d = o->d;
	struct dsa_completion_record *recs = (struct dsa_completion_record *)
		(void *)(o->batch + (size_t)d->bmax * 64);
	size_t part = o->r_len; /* the size of its parts */
	uint8_t code = st & DSA_COMP_STATUS_MASK;
	unsigned i;

	if (code != DSA_COMP_SUCCESS && code != DSA_COMP_BATCH_FAIL &&
			code != DSA_COMP_BATCH_PAGE_FAULT) {
		if (code == DSA_COMP_DESC_CNT_ERANGE ||
				code == DSA_COMP_DESCLIST_ALIGN ||
				code == DSA_COMP_INVALID_FLAGS ||
				code == DSA_COMP_BAD_OPCODE) {
			o->no_batch = 1; /* the WQ takes no batches like this */
			o->need_submit = 1;
			return;
		}
		masync__dsa_finish(o, masync__dsa_error(code));
		return;
	}
	if (code != DSA_COMP_SUCCESS) {
		size_t off = o->p_off;

		if (code == DSA_COMP_BATCH_PAGE_FAULT)
			masync__dsa_count_fault(o); /* on the list */
		for (i = 0; i < o->batch_parts; i++) {
			size_t len = o->n - off < part ? o->n - off : part;
			uint8_t s = masync__dsa_status(&recs[i]);
			uint8_t sc = s & DSA_COMP_STATUS_MASK;
			size_t k = 0;

			if (sc == DSA_COMP_SUCCESS || sc == DSA_COMP_SUCCESS_PRED) {
				off += len;
				continue;
			}
			if (sc == DSA_COMP_PAGE_FAULT_NOBOF) {
				masync__dsa_count_fault(o);
				k = recs[i].bytes_completed;
				if (k > len)
					k = len;
				if (masync__dsa_cpu_after_fault(o, off + k,
						len - k) < 0) {
					masync__dsa_finish(o,
						VDM_ERROR_DSA_PAGE_FAULT);
					return;
				}
				off += len;
				continue;
			} else if (sc != 0 && sc != DSA_COMP_XFER_ERANGE &&
					sc != DSA_COMP_OVERLAP_BUFFERS) {
				masync__dsa_finish(o, masync__dsa_error(sc));
				return;
			}
			masync__dsa_cpu_part(o, off + k, len - k);
			off += len;
		}
	}
	o->done += o->p_len;
	if (o->done >= o->n)
		masync__dsa_finish(o, VDM_SUCCESS);
	else
		o->need_submit = 1;
}

/* o's descriptor completed: take it off the queue (unless a reaper did) */
static void
masync__dsa_completed(struct masync__dsa_op *o)
{
	struct masync__dsa_wq *w = o->w;

	masync__qlock_take(&w->qlock);
	if (o->q.in_q)
		masync__dsa_done_locked(w, &o->q);
	else if (o->q.in_limbo) /* a reaper took it for lost, then this */
		masync__dsa_limbo_unlink(w, &o->q);
	masync__qlock_give(&w->qlock);
	o->submitted = 0;
}

/* ---- hybrid copies -------------------------------------------------------
 * A memcpy, memset or non-overlapping memmove of at least hybrid_threshold
 * bytes is split: the device takes [0, n), the CPU [n, n + hy_len) (the
 * top, page-aligned), on the polling thread right after the device part
 * was submitted, or as an operation of cpu_vdm. The future completes
 * when both parts did. */

static void
masync__dsa_hybrid_split(struct masync__dsa_op *o, int overlap)
{
	struct data_mover_dsa *d = o->d;
	size_t n = o->n, cpu;
	unsigned pm;

	o->hy_len = 0;
	if (n < d->hybrid_threshold || overlap ||
			o->type == VDM_OPERATION_FLUSH)
		return;
	pm = d->hybrid_permille ? d->hybrid_permille :
		MASYNC__LOAD(&d->hy_share, relaxed);
	cpu = ((n / 1000) * pm + (n % 1000) * pm / 1000) &
		~(size_t)(MASYNC__DSA_PAGE - 1);
	if (cpu == 0 || cpu >= n)
		return;
	o->n = n - cpu;
	o->hy_len = cpu;
}

/* Moves the measured share by a step towards the side that finished
 * last (once per operation; never with a configured share). */
static void
masync__dsa_hybrid_judge(struct masync__dsa_op *o, int cpu_first)
{
	struct data_mover_dsa *d = o->d;
	unsigned v, nv;

	if (o->hy_judged || d->hybrid_permille != 0)
		return;
	o->hy_judged = 1;
	v = MASYNC__LOAD(&d->hy_share, relaxed);
	do {
		if (cpu_first)
			nv = v + MASYNC__DSA_HYBRID_STEP > MASYNC__DSA_HYBRID_MAX ?
				MASYNC__DSA_HYBRID_MAX :
				v + MASYNC__DSA_HYBRID_STEP;
		else
			nv = v < MASYNC__DSA_HYBRID_MIN +
				MASYNC__DSA_HYBRID_STEP ?
				MASYNC__DSA_HYBRID_MIN :
				v - MASYNC__DSA_HYBRID_STEP;
	} while (!MASYNC__CAS(&d->hy_share, &v, nv, relaxed));
}

/* The device part was submitted: the CPU part now. */
static void
masync__dsa_hybrid_start(struct masync__dsa_op *o)
{
	struct data_mover_dsa *d = o->d;
	struct masync__op_args a = o->args;
	unsigned char *dst = (unsigned char *)a.dst + o->n;
	void *src = a.src ? (void *)((uintptr_t)a.src + o->n) : NULL;
	int dev_done;

	if (d->cpu_vdm != NULL) {
		enum future_state st;

		o->hy_fut = o->type == VDM_OPERATION_MEMSET ?
			vdm_memset(d->cpu_vdm, dst, a.c, o->hy_len, a.flags) :
			o->type == VDM_OPERATION_MEMMOVE ?
			vdm_memmove(d->cpu_vdm, dst, src, o->hy_len, a.flags) :
			vdm_memcpy(d->cpu_vdm, dst, src, o->hy_len, a.flags);
		st = future_poll(FUTURE_AS_RUNNABLE(&o->hy_fut), NULL);
		if (st != FUTURE_STATE_COMPLETE) {
			o->hy_active = 1;
			return;
		}
		o->hy_result = FUTURE_OUTPUT(&o->hy_fut)->result;
		if (o->hy_result != VDM_ERROR_OUT_OF_MEMORY)
			goto judge;
		o->hy_result = VDM_SUCCESS; /* cpu_vdm is full: here */
	}
	masync__dsa_cpu_part(o, o->n, o->hy_len);
judge:
	/* did the device finish its part while the CPU did its own? */
	dev_done = masync__dsa_status(masync__dsa_own(o)) != 0 &&
		o->done + o->p_len >= o->n;
	masync__dsa_hybrid_judge(o, !dev_done);
}

/* Polls the CPU part on cpu_vdm; its waker is registered when the device
 * part is done (else the device's wakes us first). */
static void
masync__dsa_hybrid_poll(struct masync__dsa_op *o, struct future_notifier *n,
	int notify, int dev_done)
{
	struct future_notifier *cn = dev_done && notify ? n : NULL;

	if (future_poll(FUTURE_AS_RUNNABLE(&o->hy_fut), cn) ==
			FUTURE_STATE_COMPLETE) {
		o->hy_active = 0;
		o->hy_result = FUTURE_OUTPUT(&o->hy_fut)->result;
		masync__dsa_hybrid_judge(o, !dev_done);
	} else if (dev_done) {
		masync__dsa_hybrid_judge(o, 0);
	}
}

/* Drives the operation as far as it goes without waiting. `notify`: this
 * poll handed over its notifier (register it / drop it when NULL). */
static enum future_state
masync__dsa_progress(struct masync__dsa_op *o, struct future_notifier *n,
	int notify, int fresh)
{
	struct data_mover_dsa *d = o->d;

	/* any later poll of a running operation sends the pending batches
	 * (not the check that follows its start in the same poll: a round
	 * of starts fills a batch; in a runtime's round, at its pass's end) */
	if (!fresh && MASYNC__LOAD(&d->npend, relaxed) != 0 &&
			MASYNC__LOAD(&o->phase, relaxed) != MASYNC__DSA_DONE &&
			!masync__dsa_forked(d) &&
			!masync__round_defer(masync__dsa_round_all, d))
		masync__dsa_flush_all(d, 0);
	for (;;) {
		uint8_t st;
		int done = MASYNC__LOAD(&o->phase, acquire) ==
			MASYNC__DSA_DONE;

		if (o->hy_active)
			masync__dsa_hybrid_poll(o, n, notify, done);
		if (done) {
			/* a hybrid's CPU part still runs, and this poll gave
			 * it no notifier (the check after the start): the
			 * start's waker stays, and the monitor calls it for
			 * the record already written, so that a poll with a
			 * notifier hands one to the CPU part */
			if (o->hy_active) {
				/* (a poll's waker went to the CPU part) */
				if (notify)
					masync__dsa_disarm_poll(o, n);
				return FUTURE_STATE_RUNNING;
			}
			return masync__dsa_disarm_done(o, n, fresh) ?
				FUTURE_STATE_COMPLETE : FUTURE_STATE_RUNNING;
		}
		if (masync__dsa_forked(d)) {
			/* started by the parent: its device does not serve
			 * this process, so nothing more will happen here */
			o->submitted = 0;
			masync__dsa_finish(o, VDM_ERROR_NOT_SUPPORTED);
			continue;
		}
		if (o->pend_w != NULL) {
			/* just started: pending, or in the batch it filled
			 * (masync__dsa_pend took back a refused one) */
			if (fresh)
				return FUTURE_STATE_RUNNING;
			switch (masync__dsa_member(o)) {
			case MASYNC__DSA_M_PENDING: /* no room for it yet */
			case MASYNC__DSA_M_WAIT:
				if (notify) {
					if (n != NULL)
						masync__dsa_arm(o, n);
					else
						masync__dsa_disarm(o);
				}
				return FUTURE_STATE_RUNNING;
			case MASYNC__DSA_M_DONE:
				o->pend_w = NULL;
				o->submitted = 0;
				masync__dsa_single_done(o,
					masync__dsa_status(&o->comp));
				continue;
			case MASYNC__DSA_M_BUSY: /* never sent */
				o->pend_w = NULL;
				o->submitted = 0;
				masync__dsa_finish(o, VDM_ERROR_BUSY);
				continue;
			case MASYNC__DSA_M_RESUBMIT:
				o->pend_w = NULL;
				o->submitted = 0;
				o->no_batch = 1;
				o->need_submit = 1;
				break;
			case MASYNC__DSA_M_TIMEOUT: /* keeps pend_w: memory */
				o->timed_out = 1;
				o->submitted = 0;
				masync__dsa_finish(o, VDM_ERROR_TIMEOUT);
				continue;
			case MASYNC__DSA_M_ALONE: /* as any descriptor */
				o->pend_w = NULL;
				break;
			}
		}
		if (o->need_submit) {
			int r = masync__dsa_submit_next(o);

			if (r < 0) {
				/* no room yet, and nothing wakes for room: the
				 * caller polls again (also the start's, whose
				 * waker waits on a record now cleared); a call
				 * of the waker still running is of an earlier
				 * registration, n's is not kept */
				if (n != NULL || notify)
					masync__dsa_disarm_poll(o, n);
				if (n != NULL)
					n->notifier_used =
						FUTURE_NOTIFIER_NONE;
				return FUTURE_STATE_RUNNING;
			}
			if (r > 0) {
				o->need_submit = 0;
				masync__dsa_finish(o,
					(enum vdm_operation_result)r);
				continue;
			}
		}
		st = masync__dsa_status(masync__dsa_own(o));
		if (st == 0) {
			if (masync__coarse_ns() - o->q.submit_ns >
					d->timeout_ns) {
				/* the device may still write: the descriptor
				 * keeps its queue entry and its memory */
				struct masync__dsa_wq *w = o->w;

				masync__qlock_take(&w->qlock);
				if (o->q.in_q && !o->q.q_lost) {
					o->q.q_lost = 1;
					w->nlost++;
				}
				masync__qlock_give(&w->qlock);
				o->timed_out = 1;
				o->submitted = 0;
				masync__dsa_finish(o, VDM_ERROR_TIMEOUT);
				continue;
			}
			/* (a POLLER's word also after a start: the
			 * record of the part in flight now) */
			if (n != NULL && (notify ||
					d->notifier == FUTURE_NOTIFIER_POLLER))
				masync__dsa_arm(o, n);
			else if (notify)
				masync__dsa_disarm(o);
			return FUTURE_STATE_RUNNING;
		}
		masync__dsa_completed(o);
		if (o->batch_parts != 0)
			masync__dsa_batch_done(o, st);
		else
			masync__dsa_single_done(o, st);
	}
}

/* ---- the vdm interface ---------------------------------------------------- */

/* a state from the pool (contents stale) made ready for an operation */
static MASYNC__FORCE_INLINE void *
masync__dsa_op_init(struct data_mover_dsa *d, struct masync__dsa_op *o)
{
	o->d = d;
	/* only the owner writes it (the monitor reads it): no RMW */
	MASYNC__STORE(&o->life, MASYNC__LOAD(&o->life, relaxed) + 1, relaxed);
	masync__signal_reset_shared(&o->sig); /* a stale kick may hold it */
	MASYNC__STORE(&o->phase, MASYNC__DSA_NEW, relaxed);
	o->result = VDM_SUCCESS;
	o->submitted = o->need_submit = o->resume = 0;
	o->timed_out = o->waiting = o->write_back = 0;
	MASYNC__STORE(&o->armed, 0, relaxed);
	o->ever_armed = 0;
	o->arm_later = 0;
	memset(&o->q, 0, sizeof(o->q));
	o->orphan = 0;
	o->w = o->pend_w = NULL;
	o->in_pend = o->kicked = o->staged = 0;
	o->bat = NULL;
	MASYNC__STORE(&o->watch, &o->comp, relaxed);
	o->alt = 0; /* a member's record is comp */
	MASYNC__STORE(&o->swept, 0, relaxed);
	o->pprev = o->pnext = NULL;
	o->hy_len = 0;
	o->hy_active = o->hy_judged = 0;
	o->hy_result = VDM_SUCCESS;
	o->batch_parts = 0;
	return o;
}

/* A state of a forked child's own: a free one of d's list, else a new
 * one put on it (a push-only list: no ABA, no lock a fork could leave
 * held). The delete frees them all, also those abandoned futures hold. */
static struct masync__dsa_op *
masync__dsa_heap_get(struct data_mover_dsa *d)
{
	struct masync__dsa_op *o, *head;

	for (o = MASYNC__LOAD(&d->heap_all, acquire); o != NULL;
			o = o->heap_next) {
		unsigned free_ = MASYNC__DSA_OWN_FREE;

		if (MASYNC__CAS(&o->heap, &free_, MASYNC__DSA_OWN_USED,
				acquire))
			return o;
	}
	o = (struct masync__dsa_op *)masync__zalloc_aligned(d->pool.elem_size);
	if (o == NULL)
		return NULL;
	MASYNC__STORE(&o->heap, MASYNC__DSA_OWN_USED, relaxed);
	head = MASYNC__LOAD(&d->heap_all, relaxed);
	do {
		o->heap_next = head;
	} while (!MASYNC__CAS(&d->heap_all, &head, o, release));
	return o;
}

/* op_new in a child forked since d was made: the parent's futures (other
 * threads' among them, which the child may never poll) may hold every
 * state of the pool, so the child counts its own operations from 0 and
 * allocates a state when the pool has none (a child's run on the CPU) */
static void *
masync__dsa_op_new_forked(struct data_mover_dsa *d)
{
	unsigned g = MASYNC__LOAD(&masync__forks, relaxed);
	struct masync__dsa_op *o;

	if (masync__fork_count(&d->cinflight, d->cap, g) != 0)
		return NULL;
	o = (struct masync__dsa_op *)masync__pool_get(&d->pool);
	if (o == NULL)
		o = masync__dsa_heap_get(d);
	if (o == NULL) {
		MASYNC__FSUB(&d->cinflight, 1, relaxed);
		return NULL;
	}
	o->fgen = g;
	return masync__dsa_op_init(d, o);
}

MINIASYNC_API void *
masync__dsa_op_new(struct vdm *vdm, const enum vdm_operation_type type)
{
	struct data_mover_dsa *d = (struct data_mover_dsa *)(void *)vdm;
	struct masync__dsa_op *o;

	(void)type;
	if (MASYNC__UNLIKELY(masync__dsa_forked(d)))
		return masync__dsa_op_new_forked(d);
	o = (struct masync__dsa_op *)masync__pool_get(&d->pool);
	if (MASYNC__UNLIKELY(o == NULL)) {
		/* released states of lost descriptors come back once a reaper
		 * sees their records: with none free, nothing else reaps */
		unsigned i;

		for (i = 0; i < d->nq; i++) {
			masync__qlock_take(&d->q[i].qlock);
			masync__dsa_reap_locked(d, &d->q[i], 0);
			masync__qlock_give(&d->q[i].qlock);
		}
		o = (struct masync__dsa_op *)masync__pool_get(&d->pool);
	}
	if (o == NULL) /* all `capacity` taken (the pool's exact limit) */
		return NULL;
	return masync__dsa_op_init(d, o);
}

/* back to the pool: nothing the device may write points into it */
static void
masync__dsa_recycle(struct masync__dsa_op *o)
{
	struct data_mover_dsa *d = o->d;

	if (o->batch != NULL) {
		masync__free_aligned(o->batch);
		o->batch = NULL;
	}
	/* made in a forked process (fgen != 0: a fork's count is never 0;
	 * the maker's process never writes it), maybe this one */
	if (MASYNC__UNLIKELY(o->fgen != 0)) {
		if (o->fgen == MASYNC__LOAD(&masync__forks, relaxed))
			MASYNC__FSUB(&d->cinflight, 1, relaxed); /* made here */
		if (MASYNC__LOAD(&o->heap, relaxed) != MASYNC__DSA_POOL) {
			MASYNC__STORE(&o->heap, MASYNC__DSA_OWN_FREE, release);
			return;
		}
	}
	masync__pool_put(&d->pool, o);
}

static void
masync__dsa_release(struct masync__dsa_op *o)
{
	struct data_mover_dsa *d = o->d;

	masync__dsa_disarm(o);
	if (o->staged) {
		masync__dsa_stage_drop(o); /* never left this thread */
		o->pend_w = NULL;
	}
	if (o->pend_w != NULL && !masync__dsa_forked(d)) {
		struct masync__dsa_wq *w = o->pend_w;

		masync__qlock_take(&w->qlock);
		if (o->in_pend) {
			masync__dsa_unpend(d, w, o); /* cancelled */
		} else if (o->bat != NULL) {
			if (o->bat->q.in_q || o->bat->q.in_limbo) {
				o->orphan = 1; /* recycled with the batch */
				masync__qlock_give(&w->qlock);
				return;
			}
			masync__dsa_detach(w, o);
		}
		masync__qlock_give(&w->qlock);
		o->pend_w = NULL;
	}
	if (o->timed_out && !masync__dsa_forked(d)) {
		struct masync__dsa_wq *w = o->w;
		int queued;

		masync__qlock_take(&w->qlock);
		queued = o->q.in_q || o->q.in_limbo;
		if (queued)
			o->orphan = 1; /* recycled by whoever reaps it */
		masync__qlock_give(&w->qlock);
		if (queued)
			return;
	}
	masync__dsa_recycle(o);
}

static int
masync__dsa_op_start(void *data, const struct vdm_operation *operation,
	struct future_notifier *n)
{
	struct masync__dsa_op *o = (struct masync__dsa_op *)data;
	struct data_mover_dsa *d = o->d;
	struct masync__op_args a = masync__args(operation);
	int overlap = operation->type != VDM_OPERATION_MEMSET &&
		operation->type != VDM_OPERATION_FLUSH &&
		masync__overlaps(a.dst, a.src, a.n);
	int r;

	o->fresh = 1;
	o->start_n = n;
	o->type = operation->type;
	o->args = a;
	o->n = a.n;
	o->done = 0;
	o->part_max = SIZE_MAX; /* then each WQ's maximum */
	o->descending = overlap && (uintptr_t)a.dst > (uintptr_t)a.src;
	/* the members of a batch may run in any order or at once: an
	 * overlapping move goes part by part */
	o->no_batch = overlap;
	o->resume = 0;
	o->faults = 0;
	o->hy_len = 0;
	if (a.n == 0 || a.n < d->cpu_threshold ||
			(overlap && !d->overlap_ok) || masync__dsa_forked(d)) {
		/* small, empty, an overlap the device cannot do, or a child
		 * of the process that opened the WQ: on the CPU */
		masync__dsa_cpu_part(o, 0, a.n);
		masync__dsa_finish(o, VDM_SUCCESS);
		return 0;
	}
	masync__dsa_hybrid_split(o, overlap);
	o->node_dst = o->node_cpu = -1;
	if (d->multi_node) {
		o->node_dst = masync__dsa_page_node(a.dst);
		o->node_cpu = d->cfg_node >= 0 ? d->cfg_node :
			masync__dsa_cpu_node();
	}
	/* a POLLER executor may only watch the record and never poll again,
	 * and no monitor flushes for it: a POLLER mover's operations go at
	 * once, also those first polled with no notifier (a later poll
	 * may hand out a record that a batch member's success never
	 * writes) */
	if (d->batch_max >= 2 && a.n <= d->batch_threshold && !overlap &&
			o->hy_len == 0 &&
			d->notifier != FUTURE_NOTIFIER_POLLER &&
			masync__dsa_pend(o)) {
		MASYNC__STORE(&o->phase, MASYNC__DSA_RUNNING, relaxed);
		if (n != NULL)
			masync__dsa_arm(o, n);
		return 0;
	}
	r = masync__dsa_submit_next(o);
	if (r < 0) {
		o->need_submit = 0;
		o->fresh = 0;
		o->start_n = NULL;
		/* no room: stay idle, poll again (nothing wakes for room) */
		if (n != NULL)
			n->notifier_used = FUTURE_NOTIFIER_NONE;
		return -1;
	}
	if (r > 0) {
		o->need_submit = 0;
		masync__dsa_finish(o, (enum vdm_operation_result)r);
		return 0;
	}
	MASYNC__STORE(&o->phase, MASYNC__DSA_RUNNING, relaxed);
	if (o->hy_len != 0)
		masync__dsa_hybrid_start(o);
	if (n != NULL)
		masync__dsa_arm(o, n);
	return 0;
}

static enum future_state
masync__dsa_op_check(void *data, const struct vdm_operation *operation)
{
	struct masync__dsa_op *o = (struct masync__dsa_op *)data;
	struct future_notifier *n = o->start_n;
	int fresh = o->fresh;

	(void)operation;
	o->fresh = 0;
	o->start_n = NULL;
	/* the generic poll calls it right after op_start: a member (pending,
	 * or in the batch it filled) has nothing to do yet, as in
	 * masync__dsa_progress, without entering that large function. A
	 * later poll of a wrapped mover (a copy of our struct vdm) comes
	 * here too, and must find its member's end. */
	if (fresh && o->pend_w != NULL)
		return FUTURE_STATE_RUNNING;
	return masync__dsa_progress(o, n, 0, fresh);
}

/* The common end of a coalesced operation: another member's poll found
 * it done and wrote SUCCESS (masync__dsa_sweep), and no batch is pending
 * (which masync__dsa_progress would send). */
static int
masync__dsa_swept_ok(struct masync__dsa_op *o)
{
	return o->pend_w != NULL && MASYNC__LOAD(&o->swept, acquire) &&
		MASYNC__LOAD(&o->phase, relaxed) != MASYNC__DSA_DONE &&
		(masync__dsa_status(&o->comp) & DSA_COMP_STATUS_MASK) ==
		DSA_COMP_SUCCESS &&
		MASYNC__LOAD(&o->d->npend, relaxed) == 0;
}

static enum future_state
masync__dsa_op_check_ext(void *data, const struct vdm_operation *operation,
	struct future_notifier *n)
{
	struct masync__dsa_op *o = (struct masync__dsa_op *)data;

	(void)operation;
	/* what masync__dsa_progress does then (M_DONE, single_done,
	 * finish, disarm), on a short path */
	if (masync__dsa_swept_ok(o)) {
		o->pend_w = NULL;
		o->submitted = 0;
		o->done = o->n; /* a member is one whole part */
		masync__dsa_finish(o, VDM_SUCCESS);
		return masync__dsa_disarm_done(o, n, 0) ?
			FUTURE_STATE_COMPLETE : FUTURE_STATE_RUNNING;
	}
	return masync__dsa_progress(o, n, 1, 0);
}

static void
masync__dsa_op_delete(void *data, const struct vdm_operation *operation,
	struct vdm_operation_output *output)
{
	struct masync__dsa_op *o = (struct masync__dsa_op *)data;

	masync__output(operation, o->result != VDM_SUCCESS ? o->result :
		o->hy_result, output);
	masync__dsa_release(o);
}

/* The ext poll of a RUNNING future: the common end of a coalesced
 * operation (op_check_ext's short path) goes on to what op_delete and
 * vdm_operation_impl do then, in one call: a member swept done is
 * detached (nothing the device writes points into it), has no part on
 * the CPU, nothing to write back and no timeout to wait out, so its state
 * goes straight back to the pool. Anything else: the generic poll. */
static enum future_state
masync__dsa_poll(struct vdm_operation_future *f, struct future_notifier *n)
{
	struct masync__dsa_op *o = (struct masync__dsa_op *)f->data.data;

	if (masync__dsa_swept_ok(o) && !o->write_back && !o->timed_out &&
			o->hy_len == 0) {
		if (!masync__dsa_disarm_done(o, n, 0))
			return FUTURE_STATE_RUNNING; /* its wake call runs */
		masync__output(&f->data.operation, VDM_SUCCESS, &f->output);
		masync__dsa_recycle(o);
		f->data.data = NULL; /* the state is gone */
		masync__notifier_done(n);
		return FUTURE_STATE_COMPLETE;
	}
	return masync__vdm_operation_made(&f->base.context, n);
}

static int
masync__dsa_op_cancel(void *data, const struct vdm_operation *operation)
{
	struct masync__dsa_op *o = (struct masync__dsa_op *)data;

	(void)operation;
	if (MASYNC__LOAD(&o->phase, acquire) != MASYNC__DSA_NEW) {
		/* a descriptor cannot be taken back, a pending one can */
		int pending = 0;

		if (o->staged) {
			masync__dsa_stage_drop(o);
			pending = 1;
		} else if (o->pend_w != NULL && !masync__dsa_forked(o->d)) {
			struct masync__dsa_wq *w = o->pend_w;

			masync__qlock_take(&w->qlock);
			/* in the pending batch, or left out of it unsent
			 * (kicked: its owner was to send it alone) */
			pending = o->in_pend || (o->kicked && o->bat == NULL);
			if (o->in_pend)
				masync__dsa_unpend(o->d, w, o);
			o->kicked = 0;
			masync__qlock_give(&w->qlock);
		} else if (o->pend_w == NULL && !o->submitted &&
				o->need_submit && !o->resume && o->done == 0 &&
				o->hy_len == 0 && MASYNC__LOAD(&o->phase,
				relaxed) == MASYNC__DSA_RUNNING) {
			/* a poll found no room for its first descriptor
			 * (e.g. a kicked member's, or after a batch that did
			 * not run it): nothing written, no part on the CPU */
			pending = 1;
		}
		if (!pending)
			return 1;
		o->pend_w = NULL;
	}
	/* never waits for the monitor's call of its waker (the canceller
	 * may hold a lock that waker takes): the call's end recycles it */
	if (masync__dsa_drop_waker(o, 1))
		masync__dsa_release(o);
	return 0;
}

static int
masync__dsa_has_property(void *future, enum future_property property)
{
	(void)future;
	return property == FUTURE_PROPERTY_ASYNC;
}

/* The WQ files this process has open (fd + 1; 0 a free slot). A child
 * forked without exec closes them at once (masync__atfork_child): it
 * cannot use them, and while it held them the parent's close would
 * neither drain the WQ (the idxd driver drains it in the file's release:
 * the memory lost descriptors point at would be freed under the device) nor free a dedicated WQ for a new
 * open (EBUSY). A full table leaves an fd to the child, as before. */
#define MASYNC__DSA_FD_SLOTS 256
static MASYNC__A(int) masync__dsa_fds[MASYNC__DSA_FD_SLOTS];

static int
masync__dsa_fd_register(int fd)
{
	int i;

	for (i = 0; i < MASYNC__DSA_FD_SLOTS; i++) {
		int free_slot = 0;

		if (MASYNC__CAS(&masync__dsa_fds[i], &free_slot, fd + 1,
				relaxed))
			return i;
	}
	return -1;
}

static void
masync__dsa_atfork_child(void)
{
	int i;

	masync__mtx_unlock(&masync__dsa_lock); /* the fork's, as in the parent */

	for (i = 0; i < MASYNC__DSA_FD_SLOTS; i++) {
		int fd1 = MASYNC__LOAD(&masync__dsa_fds[i], relaxed);

		if (fd1 != 0) {
			close(fd1 - 1);
			/* free: a number the child reuses is its own */
			MASYNC__STORE(&masync__dsa_fds[i], 0, relaxed);
		}
	}
}

static void masync__dsa_close(struct masync__dsa_wq *w, int child);

/* Opens the WQ of k into w. -1: not usable (*why, errno, and detail say
 * why; nothing is left open). */
static int
masync__dsa_open(struct masync__dsa_wq *w, const struct masync__dsa_cand *k,
	enum data_mover_dsa_error *why, char *detail, size_t dlen)
{
	unsigned cpu = masync__cpu();
	void *p;

	/* no fork between the open and the entry in the table */
	masync__dsa_lock_take();
	w->fd = open(k->path, O_RDWR | O_CLOEXEC);
	if (w->fd < 0) {
		int e = errno;

		masync__mtx_unlock(&masync__dsa_lock);
		*why = e == EBUSY ? DATA_MOVER_DSA_E_WQ_BUSY :
			(e == EACCES || e == EPERM) ?
			DATA_MOVER_DSA_E_PERMISSION : DATA_MOVER_DSA_E_NO_WQ;
		snprintf(detail, dlen, "%s: %s", k->path, strerror(e));
		errno = e;
		return -1;
	}
	w->fd_slot = masync__dsa_fd_register(w->fd);
	masync__mtx_unlock(&masync__dsa_lock);
	MASYNC__STORE(&w->qlock.held, 0, relaxed);
	w->portal = NULL;
	/* the portal needs the submission instruction (ENQCMD also the
	 * kernel's support and a threshold above 0); without it, or when
	 * the kernel refuses the mapping (EPERM), use write() */
	if ((k->dedicated && (cpu & MASYNC__CPU_MOVDIR64B)) ||
			(!k->dedicated && !k->enq_zero &&
			(cpu & MASYNC__CPU_ENQCMD) &&
			masync__dsa_kernel_enqcmd())) {
		p = mmap(NULL, 4096, PROT_WRITE, MAP_SHARED | MAP_POPULATE,
			w->fd, 0);
		if (p != MAP_FAILED)
			w->portal = (unsigned char *)p;
	}
	/* no portal: write(), which kernels before the INTEL-SA-01084 fix
	 * (2024) do not have. A write of 0 bytes submits nothing and tells:
	 * EINVAL without it, 0 with it. */
	if (w->portal == NULL && write(w->fd, "", 0) != 0) {
		int e = errno;

		snprintf(detail, dlen, "%s: no portal (%s) and the kernel "
			"takes no write() submission: %s", k->path,
			k->dedicated ? "no MOVDIR64B or mmap refused" :
			"no ENQCMD or mmap refused", strerror(e));
		masync__dsa_close(w, 0);
		*why = DATA_MOVER_DSA_E_NO_WQ;
		errno = e;
		return -1;
	}
	w->dedicated = k->dedicated;
	w->use_enqcmd = !k->dedicated && w->portal != NULL;
	w->numa = k->numa;
	w->wq_size = k->size;
	w->max_xfer = k->max_xfer;
	w->max_batch = k->max_batch;
	w->gencap = k->gencap;
	w->base_flags = IDXD_OP_FLAG_CRAV | IDXD_OP_FLAG_RCR |
		(k->bof ? IDXD_OP_FLAG_BOF : 0);
	w->cc_mem = (k->gencap & MASYNC__DSA_GENCAP_CC_MEM) != 0;
	w->cc_flush = (k->gencap & MASYNC__DSA_GENCAP_CC_FLUSH) != 0;
	w->drdbk = (k->gencap & MASYNC__DSA_GENCAP_DRDBK) != 0;
	w->overlap_ok = (k->gencap & MASYNC__DSA_GENCAP_OVERLAP) != 0;
	MASYNC__INIT(&w->load, 0u);
	MASYNC__INIT(&w->head_rec, (struct dsa_completion_record *)NULL);
	strcpy(w->path, k->path);
	strcpy(w->dev, k->dev);
	strcpy(w->wq, k->wq);
	return 0;
}

/* Closes w: the kernel drains what is left of our descriptors in it. In
 * a forked child the portal was not inherited (VM_DONTCOPY): its address
 * may hold a mapping of the child's own, which must stay; and its file
 * was closed at the fork, unless the table had no slot for it. */
static void
masync__dsa_close(struct masync__dsa_wq *w, int child)
{
	if (w->portal != NULL && !child)
		munmap(w->portal, 4096);
	if (!child || w->fd_slot < 0) {
		/* out of the table and closed with no fork between (the
		 * child would keep it open), never a number a new open has
		 * taken since */
		if (!child)
			masync__dsa_lock_take();
		if (w->fd_slot >= 0)
			MASYNC__STORE(&masync__dsa_fds[w->fd_slot], 0,
				relaxed);
		close(w->fd);
		if (!child)
			masync__mtx_unlock(&masync__dsa_lock);
	} /* else closed, and its slot freed, at the fork */
	while (w->ball != NULL) {
		struct masync__dsa_batch *b = w->ball;

		w->ball = b->all;
		masync__free_aligned(b);
	}
}

MINIASYNC_API struct data_mover_dsa *
data_mover_dsa_new(const struct data_mover_dsa_config *config)
{
	struct data_mover_dsa_config cfg;
	struct masync__dsa_cand *cands;
	struct masync__dsa_names *lists;
	struct data_mover_dsa *d;
	enum data_mover_dsa_error why = DATA_MOVER_DSA_E_NO_WQ;
	char detail[192] = "";
	int n, i, err = ENODEV, thread_err = 0;
	unsigned j;

	if (config != NULL)
		cfg = *config;
	else
		memset(&cfg, 0, sizeof(cfg));
	if (masync__dsa_cfg_bad(&cfg, detail, sizeof(detail)))
		return masync__dsa_fail(DATA_MOVER_DSA_E_INVALID, EINVAL,
			detail);
	{
		unsigned gen;
		int e = masync__fork_gen(&gen);

		if (e != 0) {
			snprintf(detail, sizeof(detail), "pthread_atfork() "
				"failed (%s): a forked child could not tell "
				"this process's work queues from its own",
				strerror(e));
			return masync__dsa_fail(DATA_MOVER_DSA_E_NO_MEMORY, e,
				detail);
		}
	}
	cands = (struct masync__dsa_cand *)masync__zalloc(
		MASYNC__DSA_MAX_CANDS * sizeof(*cands));
	lists = (struct masync__dsa_names *)masync__zalloc(2 * sizeof(*lists));
	d = (struct data_mover_dsa *)masync__zalloc_aligned(sizeof(*d));
	if (cands == NULL || lists == NULL || d == NULL) {
		MINIASYNC_FREE(cands);
		MINIASYNC_FREE(lists);
		masync__free_aligned(d);
		return masync__dsa_fail(DATA_MOVER_DSA_E_NO_MEMORY, ENOMEM,
			NULL);
	}
	if (masync__dsa_names_parse(&lists[0], cfg.wqs, "config wqs", detail,
			sizeof(detail)) != 0 ||
			masync__dsa_names_parse(&lists[1],
			getenv("MINIASYNC_DSA_WQS"), "MINIASYNC_DSA_WQS",
			detail, sizeof(detail)) != 0) {
		MINIASYNC_FREE(cands);
		MINIASYNC_FREE(lists);
		masync__free_aligned(d);
		return masync__dsa_fail(DATA_MOVER_DSA_E_INVALID, EINVAL,
			detail);
	}
	n = masync__dsa_discover(&cfg, lists, cands, MASYNC__DSA_MAX_CANDS,
		&why, &err, detail, sizeof(detail));
	MINIASYNC_FREE(lists);
	d->q = n > 0 ? (struct masync__dsa_wq *)masync__zalloc_aligned(
		(size_t)n * sizeof(*d->q)) : NULL;
	if (n > 0 && d->q == NULL) {
		MINIASYNC_FREE(cands);
		masync__free_aligned(d);
		return masync__dsa_fail(DATA_MOVER_DSA_E_NO_MEMORY, ENOMEM,
			NULL);
	}
	/* every WQ that opens; one that does not (a dedicated WQ someone
	 * else holds, no permission) is passed over */
	for (i = 0; i < n; i++) {
		if (masync__dsa_open(&d->q[d->nq], &cands[i], &why, detail,
				sizeof(detail)) == 0) {
			d->q[d->nq++].d = d;
			continue;
		}
		err = errno;
	}
	MINIASYNC_FREE(cands);
	if (d->nq == 0) {
		masync__free_aligned(d->q);
		masync__free_aligned(d);
		if (why == DATA_MOVER_DSA_E_LIBRARY)
			err = EIO;
		else if (why == DATA_MOVER_DSA_E_NO_PASID)
			err = ENOTSUP;
		return masync__dsa_fail(why, err, detail);
	}
	d->overlap_ok = 1;
	for (j = 0; j < d->nq; j++) {
		if (d->q[j].numa != d->q[0].numa)
			d->multi_node = 1;
		if (!d->q[j].overlap_ok)
			d->overlap_ok = 0;
		if (d->q[j].max_batch > d->bmax)
			d->bmax = d->q[j].max_batch;
	}
	d->cfg_node = cfg.numa_node > 0 ? cfg.numa_node - 1 : -1;
	d->batch_max = cfg.batch_max == 0 || cfg.batch_max > MASYNC__DSA_BATCH ?
		MASYNC__DSA_BATCH : cfg.batch_max;
	d->batch_threshold = cfg.batch_threshold ? cfg.batch_threshold :
		MASYNC__DSA_DEFAULT_BATCH_THRESHOLD;
	MASYNC__INIT(&d->npend, 0u);
	d->hybrid_threshold = cfg.hybrid_threshold ? cfg.hybrid_threshold :
		MASYNC__DSA_DEFAULT_HYBRID_THRESHOLD;
	d->hybrid_permille = cfg.hybrid_cpu_permille;
	MASYNC__INIT(&d->hy_share, MASYNC__DSA_HYBRID_START);
	d->cpu_vdm = cfg.cpu_vdm;
	d->notifier = cfg.desired_notifier == FUTURE_NOTIFIER_NONE ?
		FUTURE_NOTIFIER_WAKER : cfg.desired_notifier;
	d->cpu_threshold = cfg.cpu_threshold ? cfg.cpu_threshold :
		MASYNC__DSA_DEFAULT_CPU_THRESHOLD;
	d->timeout_ns = cfg.timeout_ns ? cfg.timeout_ns :
		MASYNC__DSA_DEFAULT_TIMEOUT_NS;
	d->ext.base.op_new = masync__dsa_op_new;
	d->ext.base.op_delete = masync__dsa_op_delete;
	d->ext.base.op_start = masync__dsa_op_start;
	d->ext.base.op_check = masync__dsa_op_check;
	d->ext.base.capabilities = VDM_F_VALID_FLAGS | MASYNC__CAP_EXT;
	d->ext.base.has_property = masync__dsa_has_property;
	d->ext.check = masync__dsa_op_check_ext;
	d->ext.cancel = masync__dsa_op_cancel;
	d->ext.poll = masync__dsa_poll;
	/* the pool holds the capacity: no more states than that, ever */
	d->cap = cfg.capacity ? cfg.capacity : MASYNC__DSA_DEFAULT_CAPACITY;
	if (d->cap > (size_t)MASYNC__POOL_MAX_CHUNKS * MASYNC__POOL_CHUNK)
		d->cap = (size_t)MASYNC__POOL_MAX_CHUNKS * MASYNC__POOL_CHUNK;
	MASYNC__INIT(&d->cinflight, 0);
	MASYNC__UNTRACKED(&d->cinflight, sizeof(d->cinflight));
	MASYNC__INIT(&d->heap_all, NULL);
	if (masync__pool_init(&d->pool, sizeof(struct masync__dsa_op),
			d->cap) != 0)
		goto fail;
	/* batch memory up front (one per WQ entry, at most 64: ~2.5 KiB
	 * each), so a busier moment later never allocates */
	for (j = 0; j < d->nq; j++) {
		struct masync__dsa_wq *w = &d->q[j];
		unsigned nb = w->wq_size < MASYNC__DSA_MAX_BATCHES ?
			w->wq_size : MASYNC__DSA_MAX_BATCHES;

		if (w->portal == NULL || w->max_batch < 2 || d->batch_max < 2)
			continue;
		while (w->nbatches < nb) {
			struct masync__dsa_batch *b = masync__dsa_batch_new(w);

			if (b == NULL)
				goto fail_pool;
			masync__dsa_batch_put(w, b);
		}
	}
	if (masync__mtx_init(&d->mlock, mtx_plain) != thrd_success)
		goto fail_pool;
	if (masync__cnd_init(&d->mcond) != thrd_success)
		goto fail_lock;
	if (d->notifier == FUTURE_NOTIFIER_WAKER) {
		int rc = masync__thrd_create(&d->monitor, masync__dsa_monitor,
			d);

		if (rc != thrd_success) {
			thread_err = masync__thrd_errno(rc);
			goto fail_cond;
		}
		d->have_monitor = 1;
	}
	masync__dsa_err = DATA_MOVER_DSA_OK;
	masync__dsa_msg[0] = '\0';
	return d;
fail_cond:
	masync__cnd_destroy(&d->mcond);
fail_lock:
	masync__mtx_destroy(&d->mlock);
fail_pool:
	masync__pool_fini(&d->pool);
fail:
	for (j = 0; j < d->nq; j++)
		masync__dsa_close(&d->q[j], 0);
	masync__free_aligned(d->q);
	masync__free_aligned(d);
	if (thread_err == EAGAIN) /* no thread: a limit, not memory */
		return masync__dsa_fail(DATA_MOVER_DSA_E_NO_MEMORY, EAGAIN,
			"cannot start the monitor thread");
	return masync__dsa_fail(DATA_MOVER_DSA_E_NO_MEMORY, ENOMEM, NULL);
}

MINIASYNC_API struct vdm *
data_mover_dsa_get_vdm(struct data_mover_dsa *dmd)
{
	if (dmd == NULL)
		errno = EINVAL;
	return dmd == NULL ? NULL : &dmd->ext.base;
}

MINIASYNC_API size_t
data_mover_dsa_wq_count(struct data_mover_dsa *dmd)
{
	if (dmd == NULL)
		errno = EINVAL;
	return dmd == NULL ? 0 : dmd->nq;
}

MINIASYNC_API int
data_mover_dsa_get_wq_info(struct data_mover_dsa *dmd, size_t i,
	struct data_mover_dsa_wq_info *info)
{
	const struct masync__dsa_wq *w;

	if (dmd == NULL || info == NULL || i >= dmd->nq)
		return errno = EINVAL;
	w = &dmd->q[i];
	memset(info, 0, sizeof(*info));
	snprintf(info->device, sizeof(info->device), "%s", w->dev);
	snprintf(info->wq, sizeof(info->wq), "%s", w->wq);
	info->numa_node = w->numa;
	info->dedicated = w->dedicated;
	info->submit = w->portal == NULL ? DATA_MOVER_DSA_SUBMIT_WRITE :
		w->dedicated ? DATA_MOVER_DSA_SUBMIT_MOVDIR64B :
		DATA_MOVER_DSA_SUBMIT_ENQCMD;
	info->size = w->wq_size;
	info->max_batch = w->max_batch;
	info->max_transfer = w->max_xfer;
	info->descriptors = MASYNC__LOAD(&w->n_desc, relaxed);
	info->batches = MASYNC__LOAD(&w->n_batch, relaxed);
	info->batch_members = MASYNC__LOAD(&w->n_members, relaxed);
	info->refused = MASYNC__LOAD(&w->n_refused, relaxed);
	info->page_faults = MASYNC__LOAD(&w->n_faults, relaxed);
	info->bytes = MASYNC__LOAD(&w->n_bytes, relaxed);
	return 0;
}

MINIASYNC_API void
data_mover_dsa_delete(struct data_mover_dsa *dmd)
{
	uint32_t c, i, nchunks;
	int child;

	if (dmd == NULL)
		return;
	/* no flush of this thread's runtime round may reach it any more
	 * (what it held back goes below) */
	masync__round_forget(dmd);
	for (i = 0; i < dmd->nq; i++)
		masync__round_forget(&dmd->q[i]);
	if (masync__dsa_stage.n != 0 && masync__dsa_stage.w->d == dmd)
		(void)masync__dsa_stage_publish(1, NULL); /* goes below */
	for (i = masync__dsa_later.n; i-- != 0;)
		if (masync__dsa_later.o[i]->d == dmd)
			masync__dsa_later_drop(masync__dsa_later.o[i]);
	/* in a forked child the device never served this copy: there is
	 * nothing to wait for, no monitor thread, and locks may be held */
	child = masync__dsa_forked(dmd);
	if (!child) {
		/* wait for the descriptors in flight that did not time out,
		 * all of them within one timeout */
		uint64_t t0 = masync__coarse_ns();

		masync__dsa_flush_all(dmd, 0);
		for (;;) {
			unsigned pending = 0, j;

			for (j = 0; j < dmd->nq; j++) {
				struct masync__dsa_wq *w = &dmd->q[j];

				masync__qlock_take(&w->qlock);
				masync__dsa_reap_locked(dmd, w, 0);
				pending += w->inflight - w->nlost;
				masync__qlock_give(&w->qlock);
			}
			if (pending == 0 ||
					masync__coarse_ns() - t0 > dmd->timeout_ns)
				break;
			thrd_yield();
		}
	}
	if (dmd->have_monitor && !child) {
		masync__mtx_lock(&dmd->mlock);
		dmd->mstop = 1;
		masync__cnd_signal(&dmd->mcond);
		masync__mtx_unlock(&dmd->mlock);
		masync__thrd_join(dmd->monitor, NULL);
	}
	/* the kernel drains what is left (lost descriptors) when the WQ is
	 * closed: only then may the memory they point at be freed */
	for (i = 0; i < dmd->nq; i++)
		masync__dsa_close(&dmd->q[i], child);
	nchunks = MASYNC__LOAD(&dmd->pool.nchunks, acquire);
	for (c = 0; c < nchunks; c++) {
		if (dmd->pool.chunks[c] == NULL)
			continue; /* its allocation failed */
		for (i = 0; i < MASYNC__POOL_CHUNK; i++) {
			struct masync__dsa_op *o = (struct masync__dsa_op *)
				(void *)masync__pool_elem(&dmd->pool,
				(c << MASYNC__POOL_CHUNK_SHIFT) | i);

			if (o->d != dmd)
				continue;
			/* the CPU part of a split copy still running on
			 * cpu_vdm writes the destination too (and holds a
			 * state of that mover): wait for it */
			while (o->hy_active && !child &&
					future_poll(FUTURE_AS_RUNNABLE(
					&o->hy_fut), NULL) !=
					FUTURE_STATE_COMPLETE)
				thrd_yield();
			o->hy_active = 0;
			masync__free_aligned(o->batch);
			o->batch = NULL;
		}
	}
	masync__free_aligned(dmd->q);
	if (!child) {
		masync__cnd_destroy(&dmd->mcond);
		masync__mtx_destroy(&dmd->mlock);
	}
	{
		struct masync__dsa_op *o = MASYNC__LOAD(&dmd->heap_all,
			acquire), *next;

		for (; o != NULL; o = next) {
			next = o->heap_next;
			masync__free_aligned(o->batch);
			masync__free_aligned(o);
		}
	}
	masync__pool_fini(&dmd->pool);
	masync__free_aligned(dmd);
}

#endif /* MINIASYNC_DSA */

MINIASYNC_API struct data_mover_dsa *
data_mover_dsa_default(void)
{
	return data_mover_dsa_new(NULL);
}

#ifdef __cplusplus
}
#endif
#if defined(MASYNC__API_GIVEN) && (defined(__GNUC__) || defined(__clang__))
#pragma GCC diagnostic pop
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
