#!/bin/sh
# compat_install.sh REPO MESON CC... - configures the repository with
# -Dlibminiasync_compat=true into a temporary prefix, installs it, and
# builds tests/consumer/compat/consumer.c the way a libminiasync project
# builds: only `pkg-config libminiasync`, <libminiasync.h> and
# -lminiasync. Then runs it. Exit 0 pass, 1 fail, 77 skip.
set -u
repo=$(cd "$1" && pwd) || exit 1
meson=$2
shift 2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/miniasync-compat.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM

fail() { echo "FAIL $*"; exit 1; }

if ! command -v pkg-config >/dev/null 2>&1; then
	echo "SKIP: pkg-config is not installed"
	exit 77
fi
# a clean environment: the outer build's sanitizer settings do not apply
unset CFLAGS LDFLAGS CPPFLAGS
if ! "$meson" setup "$tmp/build" "$repo" -Dlibminiasync_compat=true \
		-Dtests=false -Ddsa=disabled --prefix="$tmp/prefix" \
		--libdir=lib >"$tmp/setup.log" 2>&1; then
	cat "$tmp/setup.log"
	fail "meson setup -Dlibminiasync_compat=true"
fi
if ! "$meson" install -C "$tmp/build" >"$tmp/install.log" 2>&1; then
	cat "$tmp/install.log"
	fail "meson install"
fi
echo "ok   installed into a temporary prefix"
for h in libminiasync.h libminiasync/future.h libminiasync/vdm.h \
		libminiasync/runtime.h libminiasync/data_mover_sync.h \
		libminiasync/data_mover_threads.h miniasync.h; do
	[ -f "$tmp/prefix/include/$h" ] || fail "$h not installed"
done
echo "ok   headers installed"
PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig"
export PKG_CONFIG_PATH
flags=$(pkg-config --cflags --libs libminiasync) ||
	fail "pkg-config libminiasync"
ver=$(pkg-config --modversion libminiasync)
echo "ok   pkg-config libminiasync $ver: $flags"
# shellcheck disable=SC2086 # flags are words
if ! "$@" -std=c11 -Wall -Wextra -Werror -o "$tmp/consumer" \
		"$repo/tests/consumer/compat/consumer.c" $flags \
		>"$tmp/cc.log" 2>&1; then
	cat "$tmp/cc.log"
	fail "building the consumer with pkg-config's flags"
fi
echo "ok   consumer built with -lminiasync"
if nm "$tmp/consumer" | grep -q ' T runtime_new$'; then
	fail "the consumer carries its own implementation"
fi
if ! LD_LIBRARY_PATH="$tmp/prefix/lib" "$tmp/consumer"; then
	fail "the consumer program"
fi
echo "ok   consumer program ran against libminiasync.so"
