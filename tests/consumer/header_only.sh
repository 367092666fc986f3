#!/bin/sh
# header_only.sh REPO CC [CC-ARGS...] - copies only miniasync.h into an
# empty directory and builds programs with "CC -std=c11 -pthread" alone: no
# meson, no -I, no -laccel-config (the DSA mover is then compiled out and
# reports "not available"). Also checks that tests/quickstart.c is the
# quick start of the header's top comment, verbatim, and runs it; that C17
# and two translation units work; and that defining only one of
# MINIASYNC_MALLOC / MINIASYNC_FREE is a compile error.
# MASYNC_RUN, if set, runs the programs built (qemu-user in a cross build).
# Exit 0 pass, 1 fail.
set -u
run=${MASYNC_RUN:-}
repo=$(cd "$1" && pwd) || exit 1
shift
tmp=$(mktemp -d "${TMPDIR:-/tmp}/miniasync-header-only.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM
unset CPATH C_INCLUDE_PATH LIBRARY_PATH

fail() { echo "FAIL $*"; exit 1; }

cp "$repo/miniasync.h" "$tmp/" || exit 1
cd "$tmp" || exit 1

# 1. the quick start in the header is tests/quickstart.c
awk '/QUICK START/ { on = 1; next } /COMPILE-TIME OPTIONS/ { on = 0 } on' \
	miniasync.h | sed -e 's/^       //' >qs.raw
# drop the blank lines around it
awk 'NF { for (; blank > 0; blank--) print ""; print; started = 1; next }
	started { blank++ }' qs.raw >quickstart.c
if ! cmp -s quickstart.c "$repo/tests/quickstart.c"; then
	diff -u "$repo/tests/quickstart.c" quickstart.c
	fail "the header's quick start and tests/quickstart.c differ"
fi
echo "ok   tests/quickstart.c is the header's quick start"

# 2. build and run it with the compiler alone
if ! "$@" -std=c11 -pthread quickstart.c -o quickstart; then
	fail "cc -std=c11 -pthread quickstart.c"
fi
out=$($run ./quickstart) || fail "quickstart exited with $?"
[ "$out" = "hello, mover (success)" ] || fail "quickstart printed '$out'"
echo "ok   quick start built with cc -std=c11 -pthread and ran: $out"

# 3. two translation units, strict warnings, C11 and C17, DSA stubs
cat >impl.c <<'EOC'
#define MINIASYNC_IMPLEMENTATION
#include "miniasync.h"
EOC
cat >main.c <<'EOC'
#include "miniasync.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>

int
main(void)
{
	char src[] = "header only", dst[sizeof(src)];
	struct runtime *rt = runtime_new();
	struct data_mover_threads *dmt = data_mover_threads_new(2, 8,
		FUTURE_NOTIFIER_POLLER);
	struct data_mover_sync *dms = data_mover_sync_new();
	int bad = 0;

	if (rt == NULL || dmt == NULL || dms == NULL)
		return 1;
	memset(dst, 0, sizeof(dst));
	/* durable where the CPU can write cache lines back (x86, AArch64);
	 * elsewhere a flush is refused */
	int wb = vdm_is_supported(data_mover_sync_get_vdm(dms),
		VDM_F_MEM_DURABLE);
	struct vdm_operation_future f = vdm_memcpy(
		data_mover_threads_get_vdm(dmt), dst, src, sizeof(src),
		wb ? VDM_F_MEM_DURABLE : 0);
	struct vdm_operation_future g = vdm_flush(
		data_mover_sync_get_vdm(dms), dst, sizeof(dst),
		VDM_F_MEM_DURABLE);
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&f));
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&g));
	bad |= strcmp(dst, src) != 0 || f.output.result != VDM_SUCCESS;
	bad |= g.output.result !=
		(wb ? VDM_SUCCESS : VDM_ERROR_NOT_SUPPORTED);
	/* compiled without MINIASYNC_DSA: clean "not available" */
	errno = 0;
	bad |= data_mover_dsa_default() != NULL;
	bad |= errno == 0;
	bad |= data_mover_dsa_last_error() != DATA_MOVER_DSA_E_NOT_BUILT;
	bad |= strstr(data_mover_dsa_last_error_str(), "DSA") == NULL;
	printf("%s\n", data_mover_dsa_last_error_str());
	data_mover_sync_delete(dms);
	data_mover_threads_delete(dmt);
	runtime_delete(rt);
	return bad;
}
EOC
for std in c11 c17; do
	if ! "$@" -std=$std -pthread -Wall -Wextra -Wpedantic -Werror \
			main.c impl.c -o two_tu; then
		fail "two translation units, -std=$std -Werror"
	fi
	$run ./two_tu >two_tu.out || fail "two translation units (-std=$std) exited with $?"
	echo "ok   two translation units, -std=$std -Werror, DSA stub: $(cat two_tu.out)"
done

# 4. half an allocator override does not compile
printf '%s\n' '#include <stdlib.h>' '#define MINIASYNC_MALLOC(sz) malloc(sz)' \
	'#define MINIASYNC_IMPLEMENTATION' '#include "miniasync.h"' >half.c
if "$@" -std=c11 -pthread -c half.c -o half.o 2>half.err; then
	fail "MINIASYNC_MALLOC without MINIASYNC_FREE compiled"
fi
grep -q 'MINIASYNC_FREE' half.err || { cat half.err; fail "no #error message"; }
echo "ok   MINIASYNC_MALLOC without MINIASYNC_FREE is an #error"
exit 0
