#!/bin/sh
# subproject.sh REPO MESON - builds tests/consumer/subproject as a separate
# meson project that gets miniasync as a subproject (the repository linked
# in as subprojects/miniasync) through dependency('miniasync'), checks that
# the subproject builds none of its tests, and runs the program.
# Exit 0 pass, 1 fail, 77 skip.
set -u
repo=$(cd "$1" && pwd) || exit 1
meson=$2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/miniasync-subproject.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM

fail() { echo "FAIL $*"; exit 1; }

cp -R "$repo/tests/consumer/subproject" "$tmp/src" || exit 1
mkdir "$tmp/src/subprojects" || exit 1
ln -s "$repo" "$tmp/src/subprojects/miniasync" || exit 1

# a clean environment: the outer build's sanitizer settings do not apply
unset CFLAGS LDFLAGS CPPFLAGS
if ! "$meson" setup "$tmp/build" "$tmp/src" --force-fallback-for=miniasync \
		>"$tmp/setup.log" 2>&1; then
	cat "$tmp/setup.log"
	fail "meson setup of the consumer project"
fi
echo "ok   meson setup with miniasync as a subproject"
if ! "$meson" compile -C "$tmp/build" >"$tmp/build.log" 2>&1; then
	cat "$tmp/build.log"
	fail "building the consumer (werror=true)"
fi
echo "ok   consumer built with -Werror"
if grep -q 'test_future\|test_vdm\|quickstart' "$tmp/build/build.ninja"; then
	fail "the subproject builds its tests"
fi
echo "ok   the subproject builds no tests, examples or benchmarks"
if ! "$tmp/build/consumer"; then
	fail "the consumer program"
fi
echo "ok   consumer program ran"
exit 0
