#!/usr/bin/env python3
"""median_runs.py - runs benchmark programs several times, in turns, and
prints for every output line (`name value unit ratio x_memcpy`) the median
value over the runs and its range, one column per program.

    python3 bench/median_runs.py -n 7 -e BENCH_SYNC_ONLY=1 \\
        -- taskset -c 1 ./build/bench/bench

Several programs (e.g. the same bench.c built against two versions of the
header) are given separated by `--`; their runs alternate (A B B A A B ...)
so that a machine whose load changes affects both alike.
"""
import argparse
import collections
import os
import statistics
import subprocess
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('-n', type=int, default=7, help='runs of each program')
    ap.add_argument('-e', action='append', default=[], metavar='K=V',
                    help='environment variable for every run')
    ap.add_argument('cmds', nargs=argparse.REMAINDER,
                    help='-- CMD [ARGS] [-- CMD [ARGS] ...]')
    a = ap.parse_args()
    cmds, cur = [], None
    for w in a.cmds:
        if w == '--':
            cur = []
            cmds.append(cur)
        elif cur is None:
            ap.error('put -- before each command')
        else:
            cur.append(w)
    cmds = [c for c in cmds if c]
    if not cmds:
        ap.error('no command')
    env = dict(os.environ)
    for kv in a.e:
        k, _, v = kv.partition('=')
        env[k] = v
    vals = [collections.defaultdict(list) for _ in cmds]
    units, order = {}, []
    for r in range(a.n):
        idx = list(range(len(cmds)))
        if r % 2:
            idx.reverse()
        for i in idx:
            out = subprocess.run(cmds[i], env=env, capture_output=True,
                                 text=True)
            if out.returncode != 0:
                sys.exit('%s failed (%d): %s' % (' '.join(cmds[i]),
                         out.returncode, out.stderr.strip()))
            for line in out.stdout.splitlines():
                f = line.split()
                if len(f) < 3:
                    continue
                try:
                    v = float(f[1])
                except ValueError:
                    continue
                if f[0] not in units:
                    order.append(f[0])
                    units[f[0]] = f[2]
                vals[i][f[0]].append(v)
    w = max(len(n) for n in order)
    print('# %d runs each; median [min .. max]' % a.n)
    for i, c in enumerate(cmds):
        print('# %c: %s' % (chr(ord('A') + i), ' '.join(c)))
    print('%-*s %-6s' % (w, 'name', 'unit') + ''.join(
        '%32s' % chr(ord('A') + i) for i in range(len(cmds))))
    for n in order:
        cells = ''
        for i in range(len(cmds)):
            v = vals[i].get(n)
            cells += ('%32s' % '-') if not v else '%11.3f [%8.3f ..%8.3f]' % (
                statistics.median(v), min(v), max(v))
        print('%-*s %-6s%s' % (w, n, units[n], cells))


if __name__ == '__main__':
    main()
