/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dsa_emu_client.c -- a DSA client run by dsa_emu_run -s -q 2 -p (a shared
 * WQ of 2 entries, paused until SIGUSR1): write() and ENQCMD on the
 * WQ behave as with the kernel's idxd driver and the device: write()
 * returns 64, then EAGAIN when the WQ stays full, EINVAL for a batch (DSA
 * 1.0), 0 for a length under 64 (whole descriptors only, nothing
 * submitted); ENQCMD reports retry when
 * the WQ is full and succeeds when there is room; the completions arrive.
 * Exit 0 = as expected.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <linux/idxd.h>

#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* LeakSanitizer cannot stop the world in a process that is being traced */
const char *__lsan_default_options(void);
const char *
__lsan_default_options(void)
{
	return "detect_leaks=0";
}
const char *__asan_default_options(void);
const char *
__asan_default_options(void)
{
	return "detect_leaks=0";
}

static int failed;
#define CHECK(c)                                                                       \
	do {                                                                           \
		if (!(c)) {                                                            \
			fprintf(stderr, "dsa_emu_client:%d: check failed: %s\n", __LINE__, #c); \
			failed = 1;                                                    \
		}                                                                      \
	} while (0)

/* ENQCMD, encoded (CPUs without it trap: the tracer answers): 0 = accepted */
static int
enqcmd(void *portal, const void *desc)
{
	uint8_t retry;
	__asm__ volatile(".byte 0xf2, 0x0f, 0x38, 0xf8, 0x02\n\tsetz %0"
			 : "=r"(retry)
			 : "a"(portal), "d"(desc)
			 : "memory", "cc");
	return retry;
}

static uint8_t
wait_status(volatile struct dsa_completion_record *cr)
{
	for (int i = 0; i < 10000; i++) {
		uint8_t s = __atomic_load_n(&cr->status, __ATOMIC_ACQUIRE);
		if (s)
			return s;
		usleep(1000);
	}
	return 0;
}

int
main(void)
{
	static struct dsa_completion_record cr[8] __attribute__((aligned(32)));
	static struct dsa_hw_desc d[8] __attribute__((aligned(64)));
	int fd = open("/dev/dsa/wq0.0", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		perror("dsa_emu_client: open /dev/dsa/wq0.0");
		return 1;
	}
	void *portal = mmap(NULL, 4096, PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
	if (portal == MAP_FAILED) {
		perror("dsa_emu_client: mmap");
		return 1;
	}
	for (int i = 0; i < 8; i++) {
		d[i].opcode = DSA_OPCODE_NOOP;
		d[i].flags = IDXD_OP_FLAG_CRAV | IDXD_OP_FLAG_RCR;
		d[i].completion_addr = (uintptr_t)&cr[i];
	}
	/* lengths under one descriptor submit nothing (idxd_cdev_write
	 * takes whole descriptors: 0); a batch: EINVAL, nothing queued */
	CHECK(write(fd, &d[0], 32) == 0);
	CHECK(write(fd, &d[0], 0) == 0);
	struct dsa_hw_desc b = d[0];
	b.opcode = DSA_OPCODE_BATCH;
	errno = 0;
	CHECK(write(fd, &b, 64) == -1 && errno == EINVAL);
	/* two fill the WQ, the third: EAGAIN, then ENQCMD: retry */
	CHECK(write(fd, &d[0], 64) == 64);
	CHECK(enqcmd((char *)portal + 64, &d[1]) == 0);
	errno = 0;
	CHECK(write(fd, &d[2], 64) == -1 && errno == EAGAIN);
	CHECK(enqcmd((char *)portal + 128, &d[3]) == 1);
	raise(SIGUSR1); /* dsa_emu_run -p: the device starts working */
	CHECK(wait_status(&cr[0]) == DSA_COMP_SUCCESS);
	CHECK(wait_status(&cr[1]) == DSA_COMP_SUCCESS);
	CHECK(cr[2].status == 0 && cr[3].status == 0);
	/* room again */
	CHECK(enqcmd(portal, &d[4]) == 0);
	CHECK(write(fd, &d[5], 64) == 64);
	CHECK(wait_status(&cr[4]) == DSA_COMP_SUCCESS);
	CHECK(wait_status(&cr[5]) == DSA_COMP_SUCCESS);
	munmap(portal, 4096);
	close(fd);
	printf("dsa_emu_client: %s\n", failed ? "FAILED" : "ok");
	return failed;
}
