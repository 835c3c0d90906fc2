#!/usr/bin/env python3
"""idle_check.py — an idle threaded runtime makes no system calls: runs
tests/idle/idle_probe under strace and counts the system calls that threads
other than the probe's marking thread make between its IDLE-BEGIN and
IDLE-END marks (a second). Must be 0. Skipped, saying so, where strace is
not installed (CI installs it)."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

LINE = re.compile(r'^(\d+)\s+(\d+\.\d+)\s+(\w+)\(')


def main():
    probe = sys.argv[1]
    if not shutil.which('strace'):
        print('idle check: SKIPPED (strace is not installed here; CI installs it)')
        return 0
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, 'trace')
        r = subprocess.run(['strace', '-f', '-ttt', '-o', out, probe], capture_output=True, text=True)
        if r.returncode != 0:
            print('weft: idle check FAILED: the probe exited %d:\n%s' % (r.returncode, r.stderr), file=sys.stderr)
            return 1
        lines = open(out).read().splitlines()
    begin = end = marker_tid = None
    for l in lines:
        m = LINE.match(l)
        if not m:
            continue
        if 'IDLE-BEGIN' in l:
            marker_tid, begin = m.group(1), float(m.group(2))
        elif 'IDLE-END' in l:
            end = float(m.group(2))
    if begin is None or end is None:
        print('weft: idle check FAILED: no marks in the trace', file=sys.stderr)
        return 1
    calls = []
    for l in lines:
        m = LINE.match(l)
        if m and m.group(1) != marker_tid and begin < float(m.group(2)) < end:
            calls.append(l)
    if calls:
        print('weft: idle check FAILED: %d system call(s) in an idle second:\n  %s'
              % (len(calls), '\n  '.join(calls[:10])), file=sys.stderr)
        return 1
    print('idle check: a two-worker runtime with nothing to do made 0 system calls and used no CPU for %.2f s'
          % (end - begin))
    return 0


if __name__ == '__main__':
    sys.exit(main())
