#!/bin/sh
# compile_std_error.sh REPO CC [ARGS...] - the implementation in C99 mode,
# or on a compiler without C11 atomics or <threads.h>, and the declarations
# in C89 mode, stop at miniasync.h's #error that says what is needed (not
# at some later C11 keyword). Exit 0 pass, 1 fail.
set -u
repo=$1
shift
tmp=$(mktemp -d "${TMPDIR:-/tmp}/miniasync-std.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
src=$repo/tests/quickstart.c
fails=0

# expect_error WANT ARGS...: compiling quickstart.c must fail, and the first
# error must be the one that contains WANT
expect_error() {
	want=$1
	shift
	if "$@" -fsyntax-only -I"$repo" "${file:-$src}" >"$tmp/out" 2>&1; then
		echo "FAIL compiled without an error: $*"
		fails=1
		return
	fi
	first=$(grep -m1 'error' "$tmp/out")
	case $first in
	*"$want"*) echo "ok   $* -> $first" ;;
	*) echo "FAIL $*: first error is not \"$want\":"; cat "$tmp/out"; fails=1 ;;
	esac
}

expect_error 'miniasync.h needs C11 or later' "$@" -std=c99
expect_error 'miniasync.h needs C11 or later' "$@" -std=gnu99
expect_error 'needs C11 atomics' "$@" -std=c11 -D__STDC_NO_ATOMICS__=1
expect_error "implementation needs C11 <threads.h>" "$@" -std=c11 \
	-D__STDC_NO_THREADS__=1
# the declarations alone build as C99 (tests/compile_c99.c), not as C89
printf '#include "miniasync.h"\nint main(void) { return 0; }\n' >"$tmp/decl.c"
file=$tmp/decl.c expect_error 'C99 with GNU extensions for its declarations' \
	"$@" -std=gnu89
# and the same compiler accepts the header in C11 mode
if ! "$@" -std=c11 -fsyntax-only -I"$repo" "$src" >"$tmp/out" 2>&1; then
	echo "FAIL -std=c11 does not compile:"
	cat "$tmp/out"
	fails=1
else
	echo "ok   $* -std=c11 compiles"
fi
exit $fails
