/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dsa_emu_run -- run a command against the test-only DSA emulator.
 *
 *	dsa_emu_run [options] [--] CMD [ARGS...]
 *
 * Enters a private mount namespace, starts the emulated device (dsa0 with
 * one enabled user WQ wq0.0, dedicated unless -s), and runs CMD in that
 * namespace; the emulator executes the descriptors CMD submits on CMD's
 * memory (process_vm_readv/writev on its PID), as a device does through
 * the process' PASID.  Exit status: CMD's (128 + signal if killed), 1 if the
 * emulator lost or rejected a descriptor (the run is not valid), 77 when
 * the emulator cannot run here (not root...), saying why.
 *
 * CMD runs under ptrace and the WQ's portal file is empty: every MOVDIR64B
 * or ENQCMD into its mapping stops CMD (SIGBUS; SIGILL for ENQCMD on CPUs
 * without it), the launcher decodes the instruction, hands the 64-byte
 * descriptor to the emulator, sets ZF for ENQCMD (retry when the shared WQ
 * is full) and resumes after the instruction: each portal write is seen
 * once, at any offset, as by the device.  write() on the WQ file is
 * trapped too (seccomp) and answered as the kernel's idxd driver does:
 * bytes submitted (whole descriptors: 0 for a length under 64), EINVAL
 * (a batch on DSA 1.0), EAGAIN (a shared WQ that stays full).
 *
 * Options:
 *	-s		shared WQ (ENQCMD, emulated as above)
 *	-q SIZE		WQ size (default 32)
 *	-b		WQ block_on_fault = 1
 *	-d US		every descriptor takes US microseconds
 *	-e N		engines (default 4, as a Sapphire Rapids DSA group)
 *	-W		a kernel without write() submission (before the
 *			INTEL-SA-01084 fix): every write() on the WQ file
 *			fails with EINVAL
 *	-p		start with the WQs paused (descriptors are queued, not
 *			executed) until the command raises SIGUSR1 (swallowed)
 *	-r		only fault on unmapped / read-only pages (default: also on
 *			pages not present, as a device without block-on-fault)
 *	-F r|w[:N]	inject N (default 1) page faults on reads / writes of
 *			MEMMOVE / MEMFILL descriptors, 4 KiB into the transfer
 *			(as if those pages were not present)
 *	-E nowork|hang	a broken device, to prove CMD notices: the first
 *			descriptor reports success without doing anything /
 *			never completes
 *	-N COUNT	fail unless the device received exactly COUNT descriptors
 *	-M MIN		fail unless it received at least MIN descriptors
 *	-X		expect CMD to fail (exit status other than 0, 127): 0 if it
 *			did, 1 if not (with -E: CMD noticed the broken device)
 *	-m		no tracing: the portal is a shared memory page the emulator
 *			polls (see dsa_emu.h for what that cannot see); a
 *			write() on the WQ file is not answered as the driver
 *			does (the file is a plain one: its offset grows, and
 *			descriptors past its first 4 KiB, the 65th on, are
 *			never seen), so a CPU without MOVDIR64B, where the
 *			mover writes, needs the traced mode
 *	-v		print the emulator's statistics at the end
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "dsa_emu.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <stdint.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

/* DSA opcodes (<linux/idxd.h>) */
#define DSA_EMU_OPCODE_MEMMOVE 3
#define DSA_EMU_OPCODE_MEMFILL 4

/* ---- the tracer: each MOVDIR64B / ENQCMD into a portal ---- */

/* user_regs_struct in ModRM register order */
static unsigned long long *
reg_ptr(struct user_regs_struct *r, unsigned n)
{
	switch (n) {
	case 0: return &r->rax;
	case 1: return &r->rcx;
	case 2: return &r->rdx;
	case 3: return &r->rbx;
	case 4: return &r->rsp;
	case 5: return &r->rbp;
	case 6: return &r->rsi;
	case 7: return &r->rdi;
	case 8: return &r->r8;
	case 9: return &r->r9;
	case 10: return &r->r10;
	case 11: return &r->r11;
	case 12: return &r->r12;
	case 13: return &r->r13;
	case 14: return &r->r14;
	default: return &r->r15;
	}
}

struct insn {
	int enqcmd;		/* F2: ENQCMD, 66: MOVDIR64B */
	unsigned len;
	uint64_t dst, src;
};

/*
 * Decode MOVDIR64B (66 0F 38 F8 /r) or ENQCMD (F2 0F 38 F8 /r) at rip:
 * reg = register holding the 64-byte aligned portal address, r/m = the
 * 64-byte source in memory.  0, or -1 when it is neither.
 */
static int
decode(pid_t tid, struct user_regs_struct *r, struct insn *in)
{
	unsigned char b[16];
	struct iovec l = { b, sizeof(b) }, rm = { (void *)(uintptr_t)r->rip, sizeof(b) };
	if (process_vm_readv(tid, &l, 1, &rm, 1, 0) != (ssize_t)sizeof(b))
		return -1;
	unsigned i = 0, rex = 0;
	int p66 = 0, pf2 = 0, p67 = 0;
	for (; i < 4; i++) {
		if (b[i] == 0x66)
			p66 = 1;
		else if (b[i] == 0xf2)
			pf2 = 1;
		else if (b[i] == 0x67)
			p67 = 1;
		else
			break;
	}
	if ((b[i] & 0xf0) == 0x40)
		rex = b[i++];
	if (b[i] != 0x0f || b[i + 1] != 0x38 || b[i + 2] != 0xf8 || p66 == pf2)
		return -1;
	i += 3;
	unsigned modrm = b[i++], mod = modrm >> 6;
	unsigned reg = ((modrm >> 3) & 7) | ((rex & 4) << 1), rmn = modrm & 7;
	if (mod == 3)
		return -1;
	uint64_t ea = 0;
	int32_t disp = 0;
	if (rmn == 4) { /* SIB */
		unsigned sib = b[i++], scale = sib >> 6;
		unsigned idx = ((sib >> 3) & 7) | ((rex & 2) << 2), base = (sib & 7) | ((rex & 1) << 3);
		if (idx != 4)
			ea += *reg_ptr(r, idx) << scale;
		if ((base & 7) == 5 && mod == 0) {
			memcpy(&disp, b + i, 4);
			i += 4;
		} else {
			ea += *reg_ptr(r, base);
		}
	} else if (rmn == 5 && mod == 0) { /* RIP-relative */
		memcpy(&disp, b + i, 4);
		i += 4;
		ea = r->rip; /* + length, added below */
	} else {
		ea = *reg_ptr(r, rmn | ((rex & 1) << 3));
	}
	if (mod == 1)
		disp = (int8_t)b[i++];
	else if (mod == 2) {
		memcpy(&disp, b + i, 4);
		i += 4;
	}
	if (rmn == 5 && mod == 0)
		ea += i;
	ea += (uint64_t)(int64_t)disp;
	uint64_t dst = *reg_ptr(r, reg);
	if (p67) {
		ea &= 0xffffffffu;
		dst &= 0xffffffffu;
	}
	in->enqcmd = pf2;
	in->len = i;
	in->dst = dst;
	in->src = ea;
	return 0;
}

/* the WQ whose file is open as fd in tid, or -1 */
static int
fd_wq(struct dsa_emu *emu, pid_t tid, unsigned long long fd)
{
	char path[64], target[256];
	snprintf(path, sizeof(path), "/proc/%d/fd/%llu", (int)tid, fd);
	ssize_t n = readlink(path, target, sizeof(target) - 1);
	if (n <= 0)
		return -1;
	target[n] = '\0';
	for (unsigned i = 0; i < dsa_emu_nwqs(emu); i++)
		if (strcmp(target, dsa_emu_wq_path(emu, i)) == 0)
			return (int)i;
	return -1;
}

static int no_write; /* -W */

/*
 * A seccomp stop at write(): on a WQ file, submit the descriptors as the
 * kernel's idxd driver does (bytes submitted, or -EINVAL / -EAGAIN) and
 * skip the system call; any other write() runs as it is.
 */
static void
emulate_write(struct dsa_emu *emu, pid_t tid, unsigned long *ntraps)
{
	struct user_regs_struct r;
	if (ptrace(PTRACE_GETREGS, tid, NULL, &r))
		return;
	int wq = fd_wq(emu, tid, r.rdi);
	if (wq < 0)
		return;
	long long ret = no_write ? -EINVAL : 0;
	unsigned long long len = r.rdx, i;
	/* as idxd_cdev_write: whole descriptors, the rest of len ignored */
	for (i = 0; ret == 0 && i < len / 64; i++) {
		unsigned char desc[64];
		struct iovec l = { desc, 64 }, rm = { (void *)(uintptr_t)(r.rsi + i * 64), 64 };
		int e = process_vm_readv(tid, &l, 1, &rm, 1, 0) == 64 ? 0 : EFAULT;
		if (!e)
			e = dsa_emu_write_desc(emu, (unsigned)wq, desc);
		if (e == 0 || e == EAGAIN)
			(*ntraps)++; /* the device saw it */
		if (e)
			ret = i ? (long long)(i * 64) : -e;
	}
	if (ret == 0)
		ret = (long long)(len / 64 * 64);
	r.orig_rax = (unsigned long long)-1; /* skip the system call ... */
	r.rax = (unsigned long long)ret;      /* ... which returns this */
	ptrace(PTRACE_SETREGS, tid, NULL, &r);
}

/* trace every write() of the command (installed in the child before exec) */
static int
trap_writes(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_write, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { (unsigned short)(sizeof(f) / sizeof(f[0])), f };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -1;
	/* prctl rather than seccomp(2): valgrind passes it on */
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
}

/* a SIGBUS / SIGSEGV / SIGILL stop of tid: a portal write to emulate? */
static int
emulate(struct dsa_emu *emu, pid_t tid)
{
	struct user_regs_struct r;
	struct insn in;
	if (ptrace(PTRACE_GETREGS, tid, NULL, &r) || decode(tid, &r, &in) || (in.dst & 63))
		return 0;
	int wq = dsa_emu_portal_wq(emu, (int)tid, (const void *)(uintptr_t)in.dst);
	if (wq < 0)
		return 0;
	unsigned char desc[64];
	struct iovec l = { desc, 64 }, rm = { (void *)(uintptr_t)in.src, 64 };
	if (process_vm_readv(tid, &l, 1, &rm, 1, 0) != 64)
		return 0; /* the source faults: the signal is the program's */
	int rc = dsa_emu_portal_write(emu, (unsigned)wq, desc, in.enqcmd);
	if (rc < 0) {
		fprintf(stderr, "dsa_emu_run: portal write: %s\n", strerror(errno));
		return 0;
	}
	if (in.enqcmd) { /* ZF = 1: retry */
		if (rc)
			r.eflags |= 0x40;
		else
			r.eflags &= ~0x40ULL;
	}
	r.rip += in.len;
	return ptrace(PTRACE_SETREGS, tid, NULL, &r) == 0;
}

/*
 * Run the traced child until it exits: portal writes are emulated, every
 * other signal is delivered.  Returns its wait status.
 */
/* -p: the WQs start paused, a SIGUSR1 of the command resumes them */
static int resume_on_usr1;

static int
trace(struct dsa_emu *emu, pid_t child, unsigned long *ntraps)
{
	int status, first = 1;
	static pid_t known[4096];
	unsigned nknown = 0;
	known[nknown++] = child;
	for (;;) {
		pid_t tid = waitpid(-1, &status, __WALL);
		if (tid < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (WIFEXITED(status) || WIFSIGNALED(status)) {
			if (tid == child)
				return status;
			for (unsigned i = 0; i < nknown; i++)
				if (known[i] == tid)
					known[i] = known[--nknown];
			continue;
		}
		if (!WIFSTOPPED(status))
			continue;
		int sig = WSTOPSIG(status), seen = 0;
		for (unsigned i = 0; i < nknown && !seen; i++)
			seen = known[i] == tid;
		if (!seen && nknown < sizeof(known) / sizeof(known[0]))
			known[nknown++] = tid;
		if (tid == child && first && sig == SIGSTOP) {
			/* the child's own stop before it installs the seccomp filter */
			first = 0;
			sig = 0;
			if (ptrace(PTRACE_SETOPTIONS, child, NULL,
				   (void *)(uintptr_t)(PTRACE_O_EXITKILL | PTRACE_O_TRACECLONE |
						       PTRACE_O_TRACESECCOMP | PTRACE_O_TRACEEXEC)))
				perror("dsa_emu_run: PTRACE_SETOPTIONS");
		} else if (sig == SIGTRAP && (status >> 16) == PTRACE_EVENT_SECCOMP) {
			sig = 0;
			emulate_write(emu, tid, ntraps);
		} else if (sig == SIGTRAP && (status >> 16)) {
			sig = 0; /* clone / exec event */
		} else if (sig == SIGSTOP && !seen) {
			sig = 0; /* a new thread's first stop */
		} else if (sig == SIGUSR1 && resume_on_usr1) {
			sig = 0;
			dsa_emu_pause(emu, -1, 0);
		} else if ((sig == SIGBUS || sig == SIGSEGV || sig == SIGILL) && emulate(emu, tid)) {
			sig = 0;
			(*ntraps)++;
		}
		ptrace(PTRACE_CONT, tid, NULL, (void *)(uintptr_t)sig);
	}
}

static void
usage(void)
{
	fprintf(stderr, "usage: dsa_emu_run [-s] [-q SIZE] [-b] [-d US] [-e N] [-r] [-W] [-F r|w[:N]] [-E nowork|hang] "
		"[-p] [-N COUNT] [-M MIN] [-X] [-m] [-v] [--] CMD [ARGS...]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct dsa_emu_config cfg = { 0 };
	struct dsa_emu_fault inj = { 0 };
	long expect = -1, expect_min = 0;
	int expect_fail = 0;
	int verbose = 0, opt;
	cfg.fault_nonresident = 1;
	cfg.trap_portal = 1;
	cfg.engines = 4;
	while ((opt = getopt(argc, argv, "+sq:bd:e:prmvWF:E:N:M:Xh")) != -1) {
		switch (opt) {
		case 's':
			cfg.shared = 1;
			break;
		case 'q': {
			char *end;
			unsigned long v = strtoul(optarg, &end, 0);
			if (*end || v == 0 || v > 128) {
				fprintf(stderr, "dsa_emu_run: bad WQ size '%s' (1..128)\n", optarg);
				return 2;
			}
			cfg.wq_size = (unsigned)v;
			break;
		}
		case 'b':
			cfg.block_on_fault = 1;
			break;
		case 'r':
			cfg.fault_nonresident = 0;
			break;
		case 'm':
			cfg.trap_portal = 0;
			break;
		case 'd':
			cfg.delay_us = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'e':
			cfg.engines = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'p':
			resume_on_usr1 = 1;
			break;
		case 'W':
			no_write = 1;
			break;
		case 'X':
			expect_fail = 1;
			break;
		case 'N':
			expect = strtol(optarg, NULL, 0);
			break;
		case 'M':
			expect_min = strtol(optarg, NULL, 0);
			break;
		case 'E':
			if (strcmp(optarg, "nowork") == 0) {
				inj.kind = DSA_EMU_FAULT_STATUS;
				inj.status = 1; /* success */
			} else if (strcmp(optarg, "hang") == 0) {
				inj.kind = DSA_EMU_FAULT_NO_COMPLETION;
			} else {
				fprintf(stderr, "dsa_emu_run: bad -E '%s' (nowork|hang)\n", optarg);
				return 2;
			}
			break;
		case 'F': {
			char *end = NULL;
			if ((optarg[0] != 'r' && optarg[0] != 'w') ||
			    (optarg[1] && (optarg[1] != ':' ||
					   (inj.count = (int)strtol(optarg + 2, &end, 0)) <= 0 || *end))) {
				fprintf(stderr, "dsa_emu_run: bad -F '%s' (r|w[:N])\n", optarg);
				return 2;
			}
			inj.kind = optarg[0] == 'r' ? DSA_EMU_FAULT_PAGE_READ : DSA_EMU_FAULT_PAGE_WRITE;
			inj.op_mask = DSA_EMU_OP(DSA_EMU_OPCODE_MEMMOVE) | DSA_EMU_OP(DSA_EMU_OPCODE_MEMFILL);
			inj.bytes_done = 4096;
			break;
		}
		case 'v':
			verbose = 1;
			break;
		default:
			usage();
		}
	}
	if (optind >= argc)
		usage();

	char why[512];
	if (cfg.trap_portal) {
		FILE *y = fopen("/proc/sys/kernel/yama/ptrace_scope", "re");
		int scope = 0;
		if (y) {
			if (fscanf(y, "%d", &scope) != 1)
				scope = 0;
			fclose(y);
		}
		if (scope >= 3) {
			printf("SKIP: ptrace is disabled (kernel.yama.ptrace_scope = 3): the "
			       "portal writes of the command cannot be traced (-m does without)\n");
			return 77;
		}
	}
	if (cfg.trap_portal) {
		/* LeakSanitizer cannot stop a traced process: off for the command
		 * (our own options were read at start-up) */
		static const char *const vars[] = { "ASAN_OPTIONS", "LSAN_OPTIONS" };
		for (int i = 0; i < 2; i++) {
			const char *old = getenv(vars[i]);
			char buf[4096];
			snprintf(buf, sizeof(buf), "%s%sdetect_leaks=0", old ? old : "",
				 old && *old ? ":" : "");
			setenv(vars[i], buf, 1);
		}
	}
	if (dsa_emu_enter_namespace(why, sizeof(why))) {
		printf("SKIP: cannot emulate DSA: %s\n", why);
		return 77;
	}
	struct dsa_emu *emu = dsa_emu_start(&cfg);
	if (!emu) {
		fprintf(stderr, "dsa_emu_run: starting the emulator: %s\n", strerror(errno));
		return 1;
	}
	if (resume_on_usr1) {
		if (!cfg.trap_portal) {
			fprintf(stderr, "dsa_emu_run: -p needs tracing (not -m)\n");
			dsa_emu_stop(emu);
			return 2;
		}
		dsa_emu_pause(emu, -1, 1);
	}
	if (inj.kind && dsa_emu_inject(emu, &inj)) {
		fprintf(stderr, "dsa_emu_run: injecting a fault: %s\n", strerror(errno));
		dsa_emu_stop(emu);
		return 1;
	}
	/* the child waits until the emulator serves its address space */
	int go[2];
	if (pipe2(go, O_CLOEXEC)) {
		perror("dsa_emu_run: pipe");
		dsa_emu_stop(emu);
		return 1;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		perror("dsa_emu_run: fork");
		dsa_emu_stop(emu);
		return 1;
	}
	if (pid == 0) {
		char c;
		close(go[1]);
		if (cfg.trap_portal && ptrace(PTRACE_TRACEME, 0, NULL, NULL)) {
			perror("dsa_emu_run: PTRACE_TRACEME");
			_exit(127);
		}
		/* stop: the tracer sets its options before the filter traces anything */
		if (cfg.trap_portal && raise(SIGSTOP))
			_exit(127);
		if (cfg.trap_portal && trap_writes()) {
			perror("dsa_emu_run: seccomp");
			_exit(127);
		}
		if (read(go[0], &c, 1) != 1)
			_exit(127);
		execvp(argv[optind], argv + optind);
		fprintf(stderr, "dsa_emu_run: %s: %s\n", argv[optind], strerror(errno));
		_exit(127);
	}
	close(go[0]);
	int rc = 1;
	if (dsa_emu_set_pid(emu, pid)) {
		fprintf(stderr, "dsa_emu_run: serving pid %d: %s\n", (int)pid, strerror(errno));
		close(go[1]);
	} else if (write(go[1], "g", 1) != 1) {
		perror("dsa_emu_run: starting the command");
		close(go[1]);
	} else {
		close(go[1]);
		rc = 0;
	}
	int status;
	unsigned long ntraps = 0;
	if (cfg.trap_portal) {
		status = trace(emu, pid, &ntraps);
	} else {
		while (waitpid(pid, &status, 0) < 0)
			if (errno != EINTR) {
				status = -1;
				break;
			}
	}
	if (status == -1) {
		perror("dsa_emu_run: waitpid");
		dsa_emu_stop(emu);
		return 1;
	}
	struct dsa_emu_stats st;
	dsa_emu_get_stats(emu, -1, &st);
	dsa_emu_stop(emu);
	if (verbose)
		fprintf(stderr,
			"dsa_emu_run: received %llu, completed %llu (errors %llu, page faults "
			"%llu), batch members %llu, bytes %llu, dropped %llu, rejected %llu, "
			"lost %llu, ENQCMD retries %llu; portal writes trapped %lu\n",
			(unsigned long long)st.received, (unsigned long long)st.completed,
			(unsigned long long)st.errors, (unsigned long long)st.page_faults,
			(unsigned long long)st.batch_members, (unsigned long long)st.bytes,
			(unsigned long long)st.dropped, (unsigned long long)st.rejected,
			(unsigned long long)st.lost, (unsigned long long)st.enqcmd_retries, ntraps);
	if (rc)
		return rc;
	if (WIFSIGNALED(status)) {
		fprintf(stderr, "dsa_emu_run: %s killed by signal %d\n", argv[optind],
			WTERMSIG(status));
		return 128 + WTERMSIG(status);
	}
	rc = WEXITSTATUS(status);
	/* the run is valid only if the device saw what was asked of it */
	int bad = 0;
	if (expect >= 0 && st.received != (uint64_t)expect) {
		fprintf(stderr, "dsa_emu_run: the device received %llu descriptors, not %ld\n",
			(unsigned long long)st.received, expect);
		bad = 1;
	}
	if (st.received < (uint64_t)expect_min) {
		fprintf(stderr, "dsa_emu_run: the device received %llu descriptors, fewer than %ld\n",
			(unsigned long long)st.received, expect_min);
		bad = 1;
	}
	if (cfg.trap_portal && ntraps != st.received + st.enqcmd_retries) {
		fprintf(stderr, "dsa_emu_run: %lu portal writes, but %llu descriptors received\n",
			ntraps, (unsigned long long)st.received);
		bad = 1;
	}
	if ((inj.kind == DSA_EMU_FAULT_PAGE_READ || inj.kind == DSA_EMU_FAULT_PAGE_WRITE) &&
	    st.page_faults < (uint64_t)(inj.count ? inj.count : 1)) {
		fprintf(stderr, "dsa_emu_run: only %llu of the page faults asked for happened\n",
			(unsigned long long)st.page_faults);
		bad = 1;
	}
	if (bad)
		return rc ? rc : 1;
	if (expect_fail) {
		if (rc == 0 || rc == 127) {
			fprintf(stderr, "dsa_emu_run: %s exited with %d, expected a failure\n",
				argv[optind], rc);
			return 1;
		}
		fprintf(stderr, "dsa_emu_run: %s failed (%d) as expected\n", argv[optind], rc);
		return 0;
	}
	if (st.lost || st.dropped || st.rejected) {
		fprintf(stderr,
			"dsa_emu_run: the emulator lost %llu, dropped %llu, rejected %llu "
			"descriptor(s): failing the run\n",
			(unsigned long long)st.lost, (unsigned long long)st.dropped,
			(unsigned long long)st.rejected);
		return rc ? rc : 1;
	}
	return rc;
}
