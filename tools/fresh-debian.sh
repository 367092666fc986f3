#!/usr/bin/env bash
# tools/fresh-debian.sh [DIR] - a new user's first minutes, automated.
#
# Builds a minimal Debian 12 root with debootstrap (from the mirror this
# machine's apt uses), puts a clone of this repository's HEAD in it, and runs
# the README's "Try it" and "Installed" blocks (between <!-- fresh-debian...
# --> markers) verbatim inside it as root (chroot), except that
# `git clone <repository-url>` clones that local copy. Exit 0 when every
# command passed. Each stage prints its name and how long it took.
#
# As root with the DSA mover built nothing may be skipped: a skipped test
# (or a test's DSA part left out) fails the run unless FRESH_ALLOW_SKIPS=1.
# Needs root, debootstrap, git and python3. DIR (default: a new directory
# under /tmp) is removed at the end unless KEEP=1. MIRROR=URL overrides the
# mirror. /proc, /sys and /dev are mounted in the root while it runs and
# unmounted on exit, whatever happened.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)

[ "$(id -u)" = 0 ] || { echo "fresh-debian: needs root (debootstrap, chroot)"; exit 1; }
for tool in debootstrap git python3 chroot; do
	command -v $tool >/dev/null || { echo "fresh-debian: needs $tool (apt-get install -y $tool)"; exit 1; }
done

t0=$(date +%s)
stage_t=$t0
stage() { # name: ends the previous stage, starts this one
	local now
	now=$(date +%s)
	[ -z "${stage_name:-}" ] || echo "=== $stage_name: $((now - stage_t)) s"
	stage_name=$1
	stage_t=$now
	[ -z "$1" ] || echo "=== $1"
}

# The mirror: the first http(s)/file URI of a plain "deb" source in this
# machine's apt sources (one-line or deb822 format) that is not a security
# or updates suite. The same archive serves bookworm whatever the host runs.
mirror=${MIRROR:-$(python3 - <<'EOF'
import glob, re
found = []
def consider(uris, suites):
    for u in uris:
        if not re.match(r'(https?|file):', u):
            continue
        if any(s.endswith(('-security', '-updates', '-backports'))
               or '/' in s for s in suites):
            continue
        found.append(u)
for path in ['/etc/apt/sources.list'] + sorted(glob.glob('/etc/apt/sources.list.d/*.list')):
    try:
        lines = open(path).read().splitlines()
    except OSError:
        continue
    for l in lines:
        w = l.split('#', 1)[0].split()
        if len(w) < 3 or w[0] != 'deb':
            continue
        w = w[1:]
        if w[0].startswith('['):  # options: [arch=... signed-by=...]
            while not w[0].endswith(']'):
                w = w[1:]
            w = w[1:]
        consider([w[0]], [w[1]])
for path in sorted(glob.glob('/etc/apt/sources.list.d/*.sources')):
    try:
        text = open(path).read()
    except OSError:
        continue
    for stanza in re.split(r'\n\s*\n', text):
        f = {}
        for l in stanza.splitlines():
            if l.startswith('#') or ':' not in l:
                continue
            k, v = l.split(':', 1)
            f[k.strip().lower()] = v.split()
        if 'deb' in f.get('types', []) and f.get('enabled', ['yes'])[0] != 'no':
            consider(f.get('uris', []), f.get('suites', []))
print(found[0] if found else 'http://deb.debian.org/debian')
EOF
)}

root=${1:-$(mktemp -d /tmp/miniasync-fresh.XXXXXX)}
root=$(mkdir -p "$root" && cd "$root" && pwd)
# DIR is removed at the end: only a new, empty one or an earlier root
if [ "$root" = / ] || { [ -n "$(ls -A "$root")" ] && [ ! -x "$root/usr/bin/apt-get" ]; }; then
	echo "fresh-debian: $root is neither empty nor a Debian root; give a new directory"
	exit 1
fi
echo "fresh-debian: root $root, mirror $mirror, repository $repo at $(git -C "$repo" rev-parse --short HEAD)"

mounted=()
cleanup() {
	local rc=$? m i
	set +e
	for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
		m=${mounted[$i]}
		umount -R "$m" 2>/dev/null || umount -R -l "$m" || true
	done
	# and what an interrupted debootstrap left mounted
	findmnt -rn -o TARGET | { grep "^$root/" || true; } | sort -r |
		while read -r m; do umount -R "$m" 2>/dev/null; done
	if [ "${KEEP:-0}" = 1 ]; then
		echo "fresh-debian: kept $root"
	elif findmnt -rn -o TARGET | grep -q "^$root/"; then
		echo "fresh-debian: something is still mounted under $root; not removing it"
	else
		rm -rf --one-file-system "$root" "$root.debootstrap.log"
	fi
	echo "=== total: $(($(date +%s) - t0)) s"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stage "debootstrap (Debian 12, minbase)"
if [ ! -x "$root/usr/bin/apt-get" ]; then
	debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.debootstrap.log" 2>&1 ||
		{ tail -20 "$root.debootstrap.log"; exit 1; }
fi
rm -f "$root.debootstrap.log"
cp -L /etc/resolv.conf "$root/etc/resolv.conf"

stage "mount /proc, /sys, /dev"
mount -t proc proc "$root/proc" && mounted+=("$root/proc")
mount -t sysfs sysfs "$root/sys" && mounted+=("$root/sys")
mount --rbind /dev "$root/dev" && mounted+=("$root/dev")
mount --make-rslave "$root/dev"

stage "repository copy (HEAD of $repo)"
rm -rf "$root/srv/miniasync.git"
git init -q --bare "$root/srv/miniasync.git"
git -C "$repo" push -q "$root/srv/miniasync.git" HEAD:refs/heads/main
git --git-dir="$root/srv/miniasync.git" symbolic-ref HEAD refs/heads/main

# The README's block between "<!-- NAME: begin -->" and "<!-- NAME: end -->",
# with the clone URL replaced; comments and the ``` fences dropped.
readme_block() {
	awk -v b="<!-- $1: begin -->" -v e="<!-- $1: end -->" '
		index($0, b) {on = 1; next}
		index($0, e) {on = 0}
		on && !/^[[:space:]]*```/ && !/^[[:space:]]*#/ && NF' "$repo/README.md" |
		sed 's|^[[:space:]]*||; s|git clone [^ ]* |git clone /srv/miniasync.git |'
}
try=$(readme_block fresh-debian)
inst=$(readme_block fresh-debian-install)
[ -n "$try" ] && [ -n "$inst" ] ||
	{ echo "fresh-debian: README.md lacks the fresh-debian blocks"; exit 1; }

failed=()
n=0
while IFS= read -r line; do
	n=$((n + 1))
	printf '%s\n' "$line" >"$root/root/step$n.sh"
done <<<"$try
$inst"
rm -rf "$root/root/miniasync" "$root/root/.fresh-pwd"
for ((i = 1; i <= n; i++)); do
	stage "README step $i: $(cat "$root/root/step$i.sh")"
	# one login-like shell per step, stdin closed; the current directory a
	# step leaves (after `cd`) is where the next starts
	chroot "$root" /usr/bin/env -i HOME=/root TERM="${TERM:-dumb}" LANG=C.UTF-8 \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		DEBIAN_FRONTEND=noninteractive \
		/bin/bash -ec 'cd "$(cat /root/.fresh-pwd 2>/dev/null || echo /root)"
			. /root/step'"$i"'.sh
			pwd >/root/.fresh-pwd' </dev/null || failed+=("$i")
done
stage ""
# as root with the DSA mover built, nothing may have been skipped or left
# out (tests/run listed it); FRESH_ALLOW_SKIPS=1 accepts it
for log in "$root"/root/*/build/meson-logs/testlog.json; do
	[ -f "$log" ] || { echo "fresh-debian: no test log: the tests did not run"; failed+=(tests); continue; }
	if grep -q '"result": "SKIP"\|dsa emulator: not used' "$log"; then
		echo "fresh-debian: tests were skipped or left out on the fresh root (see the list above)"
		[ "${FRESH_ALLOW_SKIPS:-0}" = 1 ] || failed+=(skips)
	fi
done
if [ ${#failed[@]} -gt 0 ]; then
	echo "fresh-debian: failed: ${failed[*]} (numbers are README steps)"
	exit 1
fi
echo "fresh-debian: the README's commands passed on a fresh Debian 12 root"
