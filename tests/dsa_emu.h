/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dsa_emu.h -- test-only emulator of an Intel DSA device (see shared/docs/DSA.md §7).
 *
 * In a private mount namespace the emulator builds a fake sysfs tree under
 * /sys/bus/dsa (a tmpfs hides the real /sys/bus) that libaccel-config 3.5.3
 * lists as enabled DSA devices with user WQs, and creates /dev/dsa/wqD.W on an
 * overlay of /dev: a 4 KiB regular file (portal for MOVDIR64B into a MAP_SHARED
 * mapping) or a FIFO (the write() submission path).  One thread per WQ takes
 * descriptors from the portal / FIFO and executes them on the process' own
 * memory, writing completion records like the device does.
 *
 * Usage:
 *	char why[256];
 *	if (dsa_emu_enter_namespace(why, sizeof(why))) { printf("SKIP: %s\n", why); return 77; }
 *	struct dsa_emu_config cfg = {0};            // all zero = defaults
 *	struct dsa_emu *emu = dsa_emu_start(&cfg);
 *	... client discovers /dev/dsa/wq0.0 with libaccel-config and submits ...
 *	dsa_emu_stop(emu);
 *
 * A dedicated WQ admits one opener, as the driver's does: this process'
 * open() (the emulator defines it, over libc's) refuses a second open of
 * a running emulator's dedicated WQ with EBUSY while the first open file
 * lives (a child forked with it shares it).  Another process' open (the
 * command dsa_emu_run runs) is not checked.  open() also stands in for an
 * old kernel's WQ file (dsa_emu_wq_config.no_write).  This process' close()
 * of a WQ file (also defined here) drains the WQ before it returns, as the
 * kernel's release does (DSA.md section 8): what was written to it ran, or
 * a halted device aborted it, so the memory it points at may be freed. It
 * drains on every close, not only the last one of the open file; a forked
 * child's close drains nothing (the emulator's threads are not in it).
 *
 * Descriptors are executed on the memory of this process, or of another one
 * (dsa_emu_set_pid(), as tests/dsa_emu_run does for the command it runs)
 * through process_vm_readv/writev, where an unmapped or read-only page
 * becomes a page-fault completion as on the device.
 *
 * What the emulator cannot do like hardware:
 *  - a mmap portal is memory: a slot is "written" when any of its bytes is
 *    non-zero (the emulator zeroes it when taking the descriptor), so an
 *    all-zero descriptor is not seen, and a client writing the same 64-byte
 *    offset again before the emulator read the first descriptor loses that
 *    one (a real portal queues both).  The emulator polls busily; where it
 *    sees a slot change while taking it, it counts a lost descriptor
 *    (stats.lost, a message on stderr, and exit status 1 unless lost_ok).
 *    Clients that rotate the offset over at most 64 slots in flight (as
 *    SPDK and the miniasync mover do) or wait for each completion never
 *    lose one.  trap_portal (tests/dsa_emu_run) has none of this: there
 *    each MOVDIR64B / ENQCMD is seen once, as by the device.
 *  - batch members run one at a time, never at once, and in list order
 *    unless batch_order (or DSA_EMU_BATCH_ORDER) picks another order a
 *    device could take: a client relying on list order passes otherwise.
 *  - ThreadSanitizer: the MOVDIR64B store is invisible to TSan, so the
 *    emulator gets its happens-before edge by an acquire load of the
 *    completion record's status byte before executing a descriptor: the
 *    client must reset status with an atomic store of release (or seq_cst)
 *    order before submitting, and poll it with acquire loads.  The write()
 *    path is covered by TSan's file-descriptor synchronisation.
 *
 * All functions except dsa_emu_enter_namespace() are thread-safe.
 * Only one emulator may run at a time in a process.
 */
#ifndef DSA_EMU_H
#define DSA_EMU_H 1

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Enter a private mount namespace: unshare(CLONE_NEWNS), make private (in
 * this namespace only) the mounts that hold /sys/bus and /dev, mount a tmpfs
 * over /sys/bus and an overlay (lower = /dev, upper and work on a private
 * tmpfs) over /dev; submounts of /dev (pts, shm, ... whatever their file
 * system) are bound again on top.  "/" need not be a mount point (a
 * chroot); where /sys/bus or /dev is on no mount visible in this root,
 * mounting would show outside, so it fails saying so.  Must be called
 * while the process is single-threaded
 * (unshare(CLONE_NEWNS) fails with EINVAL otherwise).  Idempotent.
 * Returns 0, or -1 with a human-readable reason in why (the caller should
 * then skip: exit 77).
 */
int dsa_emu_enter_namespace(char *why, size_t whylen);

/* gen_cap value meaning "really 0" (0 in the config means the default). */
#define DSA_EMU_GEN_CAP_NONE UINT64_MAX
/* default GENCAP of a Sapphire Rapids DSA 1.0 device */
#define DSA_EMU_GEN_CAP_SPR 0x40915f0107ULL

/* One sysfs file to replace (value != NULL) or delete (value == NULL). */
struct dsa_emu_sysfs_override {
	/* relative to /sys/bus/dsa/devices (e.g. "dsa0/wq0.0/mode") or absolute */
	const char *file;
	const char *value; /* written as is, no newline added; NULL = delete */
};

/*
 * Per-WQ settings; every zero field inherits the device-wide value.
 * Tri-state ints: 0 = inherit, > 0 = yes, < 0 = no.
 */
struct dsa_emu_wq_config {
	int shared;		/* mode shared (> 0) or dedicated (< 0) */
	int fifo;		/* FIFO (> 0) or regular mmap-able file (< 0) */
	unsigned wq_size;
	uint32_t max_transfer_size;
	unsigned max_batch_size;
	int block_on_fault;
	int disabled;		/* state "disabled" (> 0) or "enabled" (< 0) */
	const char *type;	/* "user", "kernel", "mdev", ... */
	const char *name;
	int trap;		/* trapped portal (> 0) or not (< 0); 0 = as
				 * the config's trap_portal */
	/*
	 * > 0: a kernel without the write() submission (before the
	 * INTEL-SA-01084 fix): this process' open() of the WQ gives a file
	 * on which write() fails with EINVAL, whatever its length, and mmap
	 * with ENODEV (an eventfd).  The command dsa_emu_run runs: -W.
	 */
	int no_write;
};

/* Zero-initialised = 1 device dsa0 with 1 dedicated, enabled user WQ wq0.0. */
struct dsa_emu_config {
	unsigned ndevices;		/* 0 = 1: dsa0, dsa1, ... */
	unsigned nwqs;			/* WQs per device, 0 = 1: wqD.0, wqD.1, ... */
	int shared;			/* mode "shared" instead of "dedicated" */
	/*
	 * 0 = default: regular 4 KiB file (mmap portal) for a dedicated WQ,
	 * FIFO (write() path) for a shared WQ (ENQCMD cannot run here);
	 * > 0 = FIFO; < 0 = regular file even for a shared WQ (descriptors
	 * stored there are discarded and counted as rejected, as hardware
	 * discards MOVDIR64B to a shared WQ).
	 */
	int fifo;
	unsigned wq_size;		/* 0 = 32 */
	uint32_t max_transfer_size;	/* WQ max, 0 = 2 MiB */
	unsigned max_batch_size;	/* WQ max, 0 = 32 */
	uint64_t gen_cap;		/* 0 = DSA_EMU_GEN_CAP_SPR */
	unsigned version;		/* 0 = 0x100 (DSA 1.0) */
	int block_on_fault;		/* WQ block_on_fault attribute */
	int pasid_disabled;		/* device pasid_enabled = 0 */
	int device_disabled;		/* device state "disabled" */
	int wq_disabled;		/* WQ state "disabled" */
	const char *wq_type;		/* NULL = "user" */
	const char *wq_name;		/* NULL = "dsa_emu" */
	int numa_node;			/* for every device ... */
	const int *numa_nodes;		/* ... or per device ([ndevices]) */
	const struct dsa_emu_wq_config *wqs; /* optional, [ndevices * nwqs] */
	unsigned delay_us;		/* processing time per descriptor */
	/*
	 * Real hardware without block-on-fault faults on pages not present in
	 * the page tables (e.g. never touched): emulate that with mincore()
	 * (the default only faults on unmapped addresses, so memory bugs still
	 * show up as faults rather than crashes of the emulator).
	 */
	int fault_nonresident;
	const char *override_file;	/* single override, as in overrides[] */
	const char *override_value;
	const struct dsa_emu_sysfs_override *overrides;
	unsigned noverrides;
	/*
	 * /dev/dsa/wqD.W is an empty regular file: a store into a mapping of
	 * it raises SIGBUS (ENQCMD on CPUs without it SIGILL), so a tracer
	 * (tests/dsa_emu_run) sees every MOVDIR64B / ENQCMD, decodes it and
	 * hands the descriptor to dsa_emu_portal_write().  A portal then
	 * behaves like the device's: each write is one descriptor, at any
	 * offset.  write() on the file goes to the tracer as well, which
	 * answers it like the kernel (dsa_emu_write_desc()).
	 */
	int trap_portal;
	/*
	 * Engines per WQ (0 = 1, at most 16): a dedicated WQ dispatches in
	 * order to the engine free first, so with per-descriptor delays
	 * (DSA_EMU_FAULT_DELAY) completions come out of submission order; a
	 * DRAIN waits for all engines.  Batch members run one after another
	 * (in the order batch_order says).  A descriptor's slot of wq_size is
	 * free once one submitted after it completed (DSA.md §8: it is on an
	 * engine then), though it still runs: stats.inflight may exceed
	 * wq_size by up to engines - 1.
	 */
	unsigned engines;
	/*
	 * 0: a descriptor lost in the portal (stats.lost) makes the process
	 * exit with status 1 (dsa_emu_stop() arranges it), failing the test
	 * that lost it; != 0: only counted (a test that provokes it).
	 */
	int lost_ok;
	/*
	 * Speed: bytes per µs a device moves, fills or flushes (xfer_size of
	 * MEMMOVE / MEMFILL / CFLUSH, batch members included), on top of
	 * delay_us.  A device's WQs share it: their descriptors take turns on
	 * one pipe per device, so two WQs of a device together move no more
	 * than one, while two devices move twice as much.  A descriptor waits
	 * for its turn, counted from when it was ready (queued, delay_us over,
	 * its WQ not paused), runs, and completes when its transfer time is
	 * over (the emulator's own copy is part of it, so speeds above a few
	 * GB/s per core are not reached); a device halted while a descriptor
	 * waits for its turn never runs it, one that started completes.
	 * 0 = unlimited (the default: as fast as the emulator's memmove).
	 * dsa_emu_set_speed() changes it later.
	 */
	unsigned bytes_per_us;			/* every device ... */
	const unsigned *dev_bytes_per_us;	/* ... or per device ([ndevices]; 0 = bytes_per_us) */
	/*
	 * Record the destination ranges the device wrote (MEMMOVE / MEMFILL,
	 * top-level or batch member, only the bytes it did write before a
	 * fault) since start / dsa_emu_reset_stats(): a write over bytes
	 * written before counts in stats.rewrites / rewrite_bytes (a client
	 * that resubmits what was done already), and dsa_emu_written() says
	 * how much of a range the device wrote (a hybrid split's device share).
	 * Tests reusing a buffer for a second operation reset in between.
	 */
	int track_writes;
	/*
	 * 0: before it runs a descriptor the emulator reads its completion
	 * record's status and counts one not cleared (stats.cr_not_zero);
	 * != 0: it never reads a record, as hardware does not. The read
	 * pulls the record's cache line to the emulator's CPU, a miss the
	 * client then pays where hardware costs nothing (a batch member
	 * without RCR that succeeds: no record written at all), so
	 * benchmarks of the client's CPU cost set it.
	 */
	int no_record_check;
	/*
	 * 0: a MEMMOVE is copied with memmove(), which leaves source and
	 * destination in the caches of the CPU the emulator runs on; != 0
	 * (x86): a non-overlapping one is copied with non-temporal stores and
	 * the source lines it read are flushed after, so that the copy fills
	 * no CPU's private caches, as a device's reads and writes do not
	 * (they go to the LLC or to memory, DSA.md's cache control). Where
	 * the emulator shares a CPU with the client (taskset -c 0), copies of
	 * 16 KiB and more a descriptor otherwise evict the client's own state
	 * from that CPU's L1 / L2, a cost hardware does not impose; benchmarks
	 * of the client's CPU cost set it.
	 */
	int no_cache_fill;
	/*
	 * The order batch members run in.  A device may process a batch's
	 * descriptors in any order and at once, except that a fenced member
	 * (IDXD_OP_FLAG_FENCE) waits until every member before it completed
	 * (and is abandoned with the rest if one of them failed): a client
	 * relying on list order is only seen with another order.  The
	 * emulator still runs one member at a time; a fence splits the list
	 * into runs, each run (the fenced member first: the device dispatches
	 * in list order) after the one before it.  Records of members are
	 * written as they run, the batch's last.
	 *   0: list order, unless DSA_EMU_BATCH_ORDER (read by dsa_emu_start)
	 *      says "list", "reverse" or "shuffle[:SEED]", so that a whole
	 *      test suite runs once in another order without editing tests;
	 *   DSA_EMU_BATCH_LIST: list order whatever the environment says
	 *      (a test whose checks count members in list order);
	 *   DSA_EMU_BATCH_REVERSE: the members of each run in reverse order;
	 *   DSA_EMU_BATCH_SHUFFLE: each run in a pseudo-random order drawn
	 *      from batch_seed, never list order where it has two members to
	 *      swap (so that every such batch, even one a halt stops after a
	 *      run, shows it ran out of order).
	 * A fault injected with skip counts members in the order they run.
	 * dsa_emu_batch_order() tells the order the last batch ran in.
	 */
	int batch_order;
	/*
	 * SHUFFLE: the seed of each WQ's permutations (same seed, same
	 * sequence of batches on a WQ: same orders); 0 = one from the clock
	 * and pid, printed on stderr so that a failing run can be repeated
	 * (DSA_EMU_BATCH_ORDER=shuffle:SEED).
	 */
	unsigned batch_seed;
};

/* batch_order values (0: list order or DSA_EMU_BATCH_ORDER) */
#define DSA_EMU_BATCH_LIST (-1)
#define DSA_EMU_BATCH_REVERSE 1
#define DSA_EMU_BATCH_SHUFFLE 2

struct dsa_emu;

/*
 * Build the sysfs tree and the /dev/dsa node(s), start one thread per WQ.
 * Needs dsa_emu_enter_namespace() first.  Returns NULL (errno set, reason on
 * stderr) on failure.
 */
struct dsa_emu *dsa_emu_start(const struct dsa_emu_config *cfg);

/* Stop the threads and remove /sys/bus/dsa and /dev/dsa.  NULL is ok. */
void dsa_emu_stop(struct dsa_emu *emu);

/*
 * Execute descriptors on the memory of process pid (0 or getpid() = this
 * process) from now on, through process_vm_readv/writev: root, or ptrace
 * rights on pid.  Pages the device would fault on become page-fault
 * completions: unmapped, read-only (write side), and with fault_nonresident
 * pages not present, plus private pages shared copy-on-write or the zero
 * page on the write side (from /proc/PID/pagemap).  0, or -1 (errno).
 */
int dsa_emu_set_pid(struct dsa_emu *emu, int pid);

/*
 * trap_portal: a 64-byte portal write to WQ wq, as MOVDIR64B (enqcmd = 0:
 * posted, dropped when the WQ is full, discarded on a shared WQ) or ENQCMD
 * (enqcmd != 0).  Returns 0 (posted / accepted), 1 (ENQCMD "retry": a
 * dedicated or disabled WQ, or a shared WQ holding as many descriptors as
 * its threshold, here its size), -1 (errno: EINVAL not trap_portal).
 */
int dsa_emu_portal_write(struct dsa_emu *emu, unsigned wq, const void *desc, int enqcmd);

/*
 * Device errors.  dsa_emu_wq_enable(emu, wq, 0): the WQ's sysfs state
 * becomes "disabled"; descriptors already queued still complete (the
 * kernel drains a WQ it disables), new portal writes are dropped with a
 * software error (sysfs "errors", stats.swerrs), ENQCMD answers retry.
 * dsa_emu_device_halt(emu, dev, 1): device state "halted" (a hardware
 * error): descriptors queued or executing never complete (stats.swallowed),
 * new ones are dropped; (emu, dev, 0) resets it: "enabled", errors cleared.
 * A portal write is judged by the state when it was made: before a reset,
 * an enable or a disable returns, the WQ's thread has taken in what was
 * written before the call (dropped if the WQ dropped writes then), even if
 * it was busy until then; a halt takes effect at once.
 * 0, or -1 (errno).
 */
int dsa_emu_wq_enable(struct dsa_emu *emu, unsigned wq, int on);
int dsa_emu_device_halt(struct dsa_emu *emu, unsigned dev, int halt);

/*
 * trap_portal: write(fd, desc, 64) on the WQ's file, as the kernel's idxd
 * driver handles it: 0 (submitted), EINVAL (a batch on DSA 1.0), EAGAIN (a
 * shared WQ that stays full: the kernel's ENQCMDS retries ran out).
 */
int dsa_emu_write_desc(struct dsa_emu *emu, unsigned wq, const void *desc);

/*
 * This CPU's MOVDIR64B (CPUID.7.0:ECX[28]); 0 under valgrind, whose CPUID
 * hides it.  Without it a client falls back to write(), which a regular-file
 * portal cannot take: use a FIFO (fifo > 0) or trap_portal then.
 */
int dsa_emu_cpu_movdir64b(void);

/*
 * A stand-in for MOVDIR64B on CPUs without it, for benchmarks and tests in
 * this process: the 64 bytes as one AVX-512 store where the CPU has
 * AVX-512, else qword stores with the completion address (qword 1) last.
 * The emulator takes no slot while such qword stores are under way, so a
 * writer stopped between them (valgrind stops threads anywhere) is never
 * seen torn.  _begin writes the first nqwords of them and _end the rest:
 * tests use the pair to stop a writer half-way.
 */
void dsa_emu_portal_store(void *portal, const void *desc);
void dsa_emu_portal_store_begin(void *portal, const void *desc, unsigned nqwords);
void dsa_emu_portal_store_end(void *portal, const void *desc, unsigned nqwords);

/* WQs are indexed 0 .. n-1 in device order: index = dev * nwqs + wq. */
unsigned dsa_emu_nwqs(const struct dsa_emu *emu);
const char *dsa_emu_wq_path(const struct dsa_emu *emu, unsigned wq);  /* /dev/dsa/wqD.W */
const char *dsa_emu_wq_sysfs(const struct dsa_emu *emu, unsigned wq); /* /sys/bus/dsa/devices/dsaD/wqD.W */
/* The WQ whose /dev/dsa file process pid (0: this one) maps at addr (its
 * /proc/PID/maps), or -1: where a trapped portal write goes. */
int dsa_emu_portal_wq(const struct dsa_emu *emu, int pid, const void *addr);

/*
 * Replace (value != NULL, written as is) or delete (value == NULL) a sysfs
 * file, path relative to /sys/bus/dsa/devices or absolute.  0 or -1 (errno).
 * Deleting dsaD/wqD.W/type or .../mode (or leaving them empty) makes
 * libaccel-config 3.5.3 crash (SIGSEGV) while it lists the WQs, see DSA.md.
 */
int dsa_emu_sysfs_set(struct dsa_emu *emu, const char *file, const char *value);

/* ---- fault injection ---- */

enum dsa_emu_fault_kind {
	DSA_EMU_FAULT_NONE = 0,
	/*
	 * Partial completion with a page fault (status 3, DSA_COMP_PAGE_FAULT_NOBOF):
	 * READ faults on the source, WRITE on the destination (status | 0x80).
	 * MEMMOVE, MEMFILL (always a write fault), CFLUSH (destination).
	 * If the descriptor has BOF set, the fault is "resolved" and it succeeds.
	 */
	DSA_EMU_FAULT_PAGE_READ,
	DSA_EMU_FAULT_PAGE_WRITE,
	DSA_EMU_FAULT_XFER_SIZE,	/* status 0x13, nothing done */
	DSA_EMU_FAULT_INVALID_FLAGS,	/* status 0x11, invalid_flags reported */
	DSA_EMU_FAULT_STATUS,		/* any status / bytes_completed / fault_addr */
	DSA_EMU_FAULT_NO_COMPLETION,	/* consumed, never completed (device stops answering) */
	DSA_EMU_FAULT_DROP,		/* silently dropped at the portal (as if queue full) */
	DSA_EMU_FAULT_DELAY,		/* extra processing time for this descriptor */
	DSA_EMU_FAULT_BATCH_LIST,	/* BATCH: page fault reading the list (status 6) */
	/*
	 * The device halts (as dsa_emu_device_halt(emu, dev, 1)) when it is
	 * about to run this descriptor, top-level or batch member (op_mask,
	 * skip select which): batch members before it stay done with their
	 * records written, it and the members after it never run, and the
	 * batch, like everything queued on the device, gets no completion
	 * record.  A halt from another thread during a batch whose members
	 * take time (bytes_per_us) stops it the same way between members.
	 */
	DSA_EMU_FAULT_HALT,
};

#define DSA_EMU_OP(op) (1ULL << (op)) /* for op_mask; DSA opcodes are <= 0x20 */

struct dsa_emu_fault {
	enum dsa_emu_fault_kind kind;
	uint64_t op_mask;	/* 0 = any descriptor the kind applies to; else DSA_EMU_OP(x) | ... */
	unsigned wq_mask;	/* 0 = any WQ; bit i = WQ index i */
	int count;		/* descriptors to affect: 0 = 1, < 0 = until cleared */
	unsigned skip;		/* let this many matching descriptors pass first */
	/*
	 * PAGE_*: bytes done before the fault (ascending: from the start,
	 * descending memmove: from the top).  Unless exact, it is moved to the
	 * page boundary of the faulting side at or below (ascending) that
	 * point, as hardware does.  Clamped below the transfer size.
	 * STATUS: bytes_completed to report.  BATCH_LIST: descriptors
	 * executed before the fault.
	 */
	uint32_t bytes_done;
	int exact;
	uint8_t status;		/* STATUS: status byte to write */
	uint64_t fault_addr;	/* STATUS: fault_addr to write */
	uint32_t invalid_flags;	/* INVALID_FLAGS: bits to report, 0 = the descriptor's flags */
	unsigned delay_us;	/* DELAY */
};

/* Arm a fault; several may be armed (first match wins).  Returns 0 or -1 (full). */
int dsa_emu_inject(struct dsa_emu *emu, const struct dsa_emu_fault *f);
/* Disarm all faults. */
void dsa_emu_clear_faults(struct dsa_emu *emu);
/* Number of armed faults that still have descriptors to affect. */
unsigned dsa_emu_faults_pending(struct dsa_emu *emu);

/* Processing time per descriptor, wq = index or -1 for all. */
void dsa_emu_set_delay(struct dsa_emu *emu, int wq, unsigned delay_us);
/*
 * Pause (on != 0) / resume execution; a paused WQ still takes descriptors
 * from its portal until wq_size are in flight and drops the rest, so a test
 * can fill the queue deterministically.  wq = index or -1 for all.
 */
void dsa_emu_pause(struct dsa_emu *emu, int wq, int on);

/* ---- statistics ---- */

struct dsa_emu_stats {
	uint64_t received;	/* top-level descriptors taken from portal / FIFO */
	uint64_t processed;	/* received and disposed of in any way below */
	uint64_t completed;	/* top-level descriptors whose record was written (or RCR=0 success) */
	uint64_t errors;	/* ... of them with status != success */
	uint64_t dropped;	/* dropped: queue full or DROP fault */
	uint64_t swallowed;	/* NO_COMPLETION fault: consumed, no record */
	uint64_t rejected;	/* no CRAV / bad record address / batch via write() on
				 * DSA 1.0 / MOVDIR64B to a shared WQ: nothing written */
	uint64_t faults_injected; /* faults that hit a descriptor (incl. batch members) */
	uint64_t faults_blocked;  /* page faults resolved because of BOF */
	uint64_t page_faults;	/* completions with status 3 (injected or real) */
	uint64_t cr_not_zero;	/* completion status was not 0 when executed */
	uint64_t lost;		/* portal slot rewritten while it was being taken */
	uint64_t portal_waits;	/* intake rounds left for a dsa_emu_portal_store under way */
	uint64_t enqcmd_retries; /* dsa_emu_portal_write(enqcmd) answered "retry" */
	uint64_t swerrs;	/* software errors reported (sysfs "errors") */
	uint64_t ops[256];	/* executed descriptors per opcode, incl. batch members */
	uint64_t batch_members;	/* descriptors executed inside batches */
	uint64_t bytes;		/* bytes moved / filled / flushed */
	uint64_t flag_cc, flag_drdbk, flag_bof, flag_fence; /* descriptors seen with these flags */
	uint32_t flags_or;	/* OR of all descriptor flags seen */
	uint32_t last_flags;	/* flags of the last descriptor executed */
	uint8_t last_opcode;
	uint8_t last_status;	/* status of the last completion written */
	uint32_t last_xfer_size;
	unsigned inflight;	/* in flight now */
	unsigned max_inflight;	/* max in flight observed on one WQ */
	/* track_writes: writes over destination bytes already written since reset */
	uint64_t rewrites;	/* descriptors (top-level or member) that did so */
	uint64_t rewrite_bytes;	/* bytes written again */
	uint64_t halted_members; /* batch members never run because the device halted */
	uint64_t records;	/* completion records written (top-level and members) */
	uint64_t member_records; /* ... of them batch members' */
	/* batches whose members did not run in list order (batch_order) */
	uint64_t batch_reordered;
};

/* wq = index or -1 for the sum over all WQs (max_inflight: max; last_*: most recent). */
void dsa_emu_get_stats(struct dsa_emu *emu, int wq, struct dsa_emu_stats *out);
void dsa_emu_reset_stats(struct dsa_emu *emu);
/* The sum over the WQs of device dev (dsaD), as for wq = -1; zero if no such device. */
void dsa_emu_get_device_stats(struct dsa_emu *emu, unsigned dev, struct dsa_emu_stats *out);
unsigned dsa_emu_ndevices(const struct dsa_emu *emu);
/* Speed of device dev (-1: all) in bytes per µs, 0 = unlimited (see bytes_per_us). */
void dsa_emu_set_speed(struct dsa_emu *emu, int dev, unsigned bytes_per_us);
/*
 * track_writes: bytes of [addr, addr + len) the device wrote since start /
 * reset (each byte counted once however often it was written).
 */
uint64_t dsa_emu_written(struct dsa_emu *emu, const void *addr, size_t len);
/*
 * The list indices (0 = first descriptor of the list) of the members of
 * the last batch WQ wq ran (-1: of any WQ) since start / reset, in the
 * order they ran; members that never ran (abandoned after a fence, past a
 * list fault, after a halt) are not listed.  Returns how many ran (0: no
 * batch); at most max indices are stored in idx.
 */
unsigned dsa_emu_batch_order(struct dsa_emu *emu, int wq, unsigned *idx, unsigned max);
/*
 * Wait until at least n top-level descriptors were processed (sum over all
 * WQs, since start / reset) and their completion records, if any, written.
 * Statistics are updated before a completion record's status is stored, so a
 * client that saw a completion also sees it counted.  0, or -1 after timeout_ms.
 */
int dsa_emu_wait_processed(struct dsa_emu *emu, uint64_t n, unsigned timeout_ms);

#ifdef __cplusplus
}
#endif

#endif /* DSA_EMU_H */
