#!/usr/bin/env python3
"""idle_check.py — an idle threaded runtime makes no system calls: runs
tests/idle/idle_probe under strace and counts the system calls that threads
other than the probe's marking thread make between its IDLE-BEGIN and
IDLE-END marks (a second). Must be 0: for a runtime that never did IO, and
on each reactor (epoll, io_uring, poll) with a task blocked in accept and
one asleep until a timer a minute away. Skipped, saying so, where strace is
not installed (CI installs it)."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

LINE = re.compile(r'^(\d+)\s+(\d+\.\d+)\s+(\w+)\(')


def check(probe, reactor):
    """0 when the probe's quiet second had no system call, else 1."""
    what = 'on %s, a task in accept and one asleep on a timer' % reactor if reactor else 'that never did IO'
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, 'trace')
        r = subprocess.run(['strace', '-f', '-ttt', '-o', out, probe] + ([reactor] if reactor else []),
                           capture_output=True, text=True)
        if r.returncode != 0:
            print('weft: idle check FAILED (%s): the probe exited %d:\n%s' % (what, r.returncode, r.stderr),
                  file=sys.stderr)
            return 1
        lines = open(out).read().splitlines()
    used = r.stdout.strip()
    if reactor and used != {'uring': 'io_uring'}.get(reactor, reactor):
        # A kernel that refuses io_uring gets epoll (said on stderr): say so.
        what += ' (the runtime used %s)' % used
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
        print('weft: idle check FAILED (%s): no marks in the trace' % what, file=sys.stderr)
        return 1
    calls = []
    for l in lines:
        m = LINE.match(l)
        if m and m.group(1) != marker_tid and begin < float(m.group(2)) < end:
            calls.append(l)
    if calls:
        print('weft: idle check FAILED (%s): %d system call(s) in an idle second:\n  %s'
              % (what, len(calls), '\n  '.join(calls[:10])), file=sys.stderr)
        return 1
    print('idle check: a two-worker runtime %s made 0 system calls and used no CPU for %.2f s'
          % (what, end - begin))
    return 0


def main():
    probe = sys.argv[1]
    if not shutil.which('strace'):
        print('idle check: SKIPPED (strace is not installed here; CI installs it)')
        return 0
    failed = 0
    for reactor in (None, 'epoll', 'uring', 'poll'):
        failed |= check(probe, reactor)
    return failed


if __name__ == '__main__':
    sys.exit(main())
