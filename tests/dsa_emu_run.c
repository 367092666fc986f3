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
 * Options:
 *	-s		shared WQ (write() path: ENQCMD cannot run here)
 *	-q SIZE		WQ size (default 32)
 *	-b		WQ block_on_fault = 1
 *	-r		only fault on unmapped / read-only pages (default: also on
 *			pages not present, as a device without block-on-fault)
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
#include <sys/wait.h>
#include <unistd.h>

static void
usage(void)
{
	fprintf(stderr, "usage: dsa_emu_run [-s] [-q SIZE] [-b] [-r] [-v] [--] CMD [ARGS...]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct dsa_emu_config cfg = { 0 };
	int verbose = 0, opt;
	cfg.fault_nonresident = 1;
	while ((opt = getopt(argc, argv, "+sq:brvh")) != -1) {
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
	if (dsa_emu_enter_namespace(why, sizeof(why))) {
		printf("SKIP: cannot emulate DSA: %s\n", why);
		return 77;
	}
	struct dsa_emu *emu = dsa_emu_start(&cfg);
	if (!emu) {
		fprintf(stderr, "dsa_emu_run: starting the emulator: %s\n", strerror(errno));
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
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
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
			"lost %llu\n",
			(unsigned long long)st.received, (unsigned long long)st.completed,
			(unsigned long long)st.errors, (unsigned long long)st.page_faults,
			(unsigned long long)st.batch_members, (unsigned long long)st.bytes,
			(unsigned long long)st.dropped, (unsigned long long)st.rejected,
			(unsigned long long)st.lost);
	if (rc)
		return rc;
	if (WIFSIGNALED(status)) {
		fprintf(stderr, "dsa_emu_run: %s killed by signal %d\n", argv[optind],
			WTERMSIG(status));
		return 128 + WTERMSIG(status);
	}
	rc = WEXITSTATUS(status);
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
