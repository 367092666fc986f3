#!/bin/sh
# dsa_emu_chroot.sh PROGRAM [ARGS...] -- run an emulator test program in a
# chroot whose / is not a mount point (as .ci/run in a plain chroot is), with
# /sys and /dev mounted there as shared mounts that have a peer outside; then
# check that none of the emulator's mounts showed up at the peer (nothing
# leaked to the "host") and that without /sys and /dev mounts the program
# skips with a reason instead of mounting on the host's file system.
set -eu
if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null; then
  echo "SKIP: needs root and unshare(1)"; exit 77
fi
if [ "${DSA_EMU_CHROOT_INNER:-}" != 1 ]; then
  if unshare -m --propagation private true 2>/dev/null; then
    exec env DSA_EMU_CHROOT_INNER=1 unshare -m --propagation private sh "$0" "$@"
  fi
  # / cannot be made private: it is no mount point, so this already runs in
  # the kind of chroot the test builds (tools/fresh-debian.sh). Run the
  # program here and check that none of its mounts is left behind.
  rc=0
  "$@" || rc=$?
  if [ $rc != 0 ]; then echo "FAIL: in this chroot: exit $rc"; exit 1; fi
  if grep -qE ' dsa_emu_(sys|dev|overlay) ' /proc/self/mountinfo; then
    echo "FAIL: emulator mounts leaked out of its namespace:"
    grep -E ' dsa_emu_(sys|dev|overlay) ' /proc/self/mountinfo; exit 1
  fi
  echo "ok - in a chroot whose / is no mount point: passes, nothing leaked"
  exit 0
fi
prog=$(readlink -f "$1"); shift
T=$(mktemp -d /tmp/dsa_emu_chroot.XXXXXX)
# (the mounts die with this namespace; the directory is the host's /tmp's)
trap 'umount -R -l "$T" 2>/dev/null || true; rmdir "$T" 2>/dev/null || true' EXIT
mount -t tmpfs dsa_emu_chroot "$T"
mount --make-shared "$T"
mkdir "$T/peer" "$T/r"
# the chroot: a plain directory on the tmpfs, so its / is no mount point
R=$T/r/root
mkdir -p "$R"
for d in usr etc; do mkdir "$R/$d"; mount --rbind "/$d" "$R/$d"; done
for l in bin sbin lib lib32 lib64 libx32; do
  if [ -L "/$l" ]; then ln -s "$(readlink "/$l")" "$R/$l"
  elif [ -d "/$l" ]; then mkdir "$R/$l"; mount --rbind "/$l" "$R/$l"; fi
done
pdir=$(dirname "$prog")
mkdir -p "$R$pdir" "$R/proc" "$R/sys" "$R/dev" "$R/tmp"
mount --bind "$pdir" "$R$pdir"
# LeakSanitizer's suppressions file, if any, must be there too
supp=$(printf '%s' "${LSAN_OPTIONS:-}" | sed -n 's/.*suppressions=\([^:]*\).*/\1/p')
if [ -n "$supp" ] && [ -f "$supp" ]; then
  sdir=$(dirname "$supp"); mkdir -p "$R$sdir"; mount --bind "$sdir" "$R$sdir"
fi
mount -t proc proc "$R/proc"
# a peer of the tmpfs: anything mounted under $R propagates to $T/peer
mount --bind "$T/r" "$T/peer"
mount --make-shared "$T/peer"

# 1. no /sys, /dev mounts: the program must skip and say why
rc=0
out=$(chroot "$R" "$prog" "$@" 2>&1) || rc=$?
if [ $rc != 77 ] || ! printf '%s' "$out" | grep -q "no mount visible"; then
  echo "FAIL: without /sys and /dev mounts: exit $rc, output:"; printf '%s\n' "$out"; exit 1
fi
echo "ok - chroot without /sys, /dev mounts: skips ($(printf '%s' "$out" | head -1))"

# 2. with them (shared, as a bind into a chroot from a shared host / is)
mount --rbind /sys "$R/sys"; mount --make-rshared "$R/sys"
mount --rbind /dev "$R/dev"; mount --make-rshared "$R/dev"
rc=0
chroot "$R" "$prog" "$@" || rc=$?
if [ $rc != 0 ]; then echo "FAIL: in the chroot: exit $rc"; exit 1; fi
leak=$(grep -cE ' dsa_emu_(sys|dev|overlay) ' /proc/self/mountinfo || true)
if [ "$leak" != 0 ] || [ -e "$T/peer/root/sys/bus/dsa" ] || [ -e "$T/peer/root/dev/dsa" ]; then
  echo "FAIL: emulator mounts leaked out of its namespace:"; grep -E ' dsa_emu_(sys|dev|overlay) ' /proc/self/mountinfo
  exit 1
fi
echo "ok - chroot with shared /sys, /dev: passes, nothing leaked"
