/* Checks shared by the compat_*.c programs: each is written the way a
 * libminiasync user writes code, with "miniasync.h" in place of
 * <libminiasync.h>. Exit 0 pass, 1 fail. */
#ifndef COMPAT_UTIL_H
#define COMPAT_UTIL_H

static int compat_failures;

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: check failed: %s\n",           \
				__FILE__, __LINE__, #cond);                    \
			compat_failures++;                                     \
		}                                                              \
	} while (0)

static inline int
compat_all(const void *p, int c, size_t n)
{
	const unsigned char *b = (const unsigned char *)p;
	size_t i;

	for (i = 0; i < n; i++)
		if (b[i] != (unsigned char)c)
			return 0;
	return 1;
}

#endif
