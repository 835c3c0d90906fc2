#!/usr/bin/env python3
"""run_tests.py — what `scons test` runs: the Check suites, as many side by
side as the machine has cores (`--jobs`), each one's output and Check's
summary line shown as it ends, then the total in Check's form; the source checks (layering, threads layer) and the layering
program (the core and real backends alone run a threaded runtime); then the
determinism comparison across builds — the same seeds must give the same
trace hashes whether the library was built -O0 or -O2, by gcc or by clang, on
x86-64 or AArch64 — and against the committed golden hashes, which change only
with a bump of the schedule format version.

Then the bug-finding workflow as users meet it (tests/workflow.py): the
README's Check snippet, its replay lines, shards merged, the timeline in a
headless browser.

`python3 tests/run_tests.py --det-dir build/det --golden tests/det/golden.txt
--regenerate-golden` rewrites the golden file (after a deliberate version
bump)."""
import argparse
import concurrent.futures
import os
import re
import subprocess
import sys
import threading
import time

# One line per simulated run, as det_hashes.c prints it.
CASE = re.compile(r'strategy=\d+ workers=\d+ faults=[01] seed=\d+ status=-?\d+ events=\d+ hash=[0-9a-f]{16}')
VERSION = re.compile(r'version=(\d+)')
SUMMARY = re.compile(r'^(\d+)%: Checks: (\d+), Failures: (\d+), Errors: (\d+)$', re.M)

# Suites that take longest start first, so that the last to end is short
# (measured under TSan, the slowest stage; the rest follow in their order).
LONGEST_FIRST = ('threading', 'net', 'io', 'task', 'props', 'explore', 'sync', 'sim', 'chan', 'shrink')


def run_check(binary, jobs):
    """Every suite of the Check binary, `jobs` at a time, one process each.
    Returns the exit status: non-zero when a suite failed or ran no test."""
    env_selects = any(os.environ.get(v) for v in ('CK_RUN_SUITE', 'CK_RUN_CASE', 'CK_INCLUDE_TAGS'))
    if jobs <= 1 or env_selects:
        return subprocess.call([binary])
    names = subprocess.run([binary, '--list'], capture_output=True, text=True, check=True).stdout.split()
    names.sort(key=lambda n: LONGEST_FIRST.index(n) if n in LONGEST_FIRST else len(LONGEST_FIRST))
    lock = threading.Lock()
    totals = [0, 0, 0]  # checks, failures, errors
    failed = []

    def one(name):
        t0 = time.monotonic()
        p = subprocess.run([binary], env=dict(os.environ, CK_RUN_SUITE=name),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        m = SUMMARY.search(p.stdout)
        with lock:
            print('-- suite %s (%.1f s) --' % (name, time.monotonic() - t0))
            print(p.stdout, end='', flush=True)
            if m is None or int(m.group(2)) == 0 or p.returncode != 0:
                failed.append('%s (exit %d%s)' % (name, p.returncode, '' if m else ', no summary line'))
            if m is not None:
                for i in range(3):
                    totals[i] += int(m.group(i + 2))

    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        for f in [pool.submit(one, n) for n in names]:
            f.result()
    checks, failures, errors = totals
    passed = checks - failures - errors
    print('weft: all %d suites, %d at a time; in Check\'s form:' % (len(names), jobs))
    print('%d%%: Checks: %d, Failures: %d, Errors: %d'
          % (100 * passed // checks if checks else 0, checks, failures, errors), flush=True)
    if failed:
        print('weft: suites that failed: %s' % ', '.join(failed), file=sys.stderr)
        return 1
    return 0


def check_golden(lines, path, regenerate):
    """The first build's cases against the committed golden file."""
    version = VERSION.fullmatch(lines[0]).group(1)
    if regenerate:
        with open(path, 'w') as f:
            f.write('# weft golden trace hashes (tests/det/det_hashes.c); schedule format version %s\n' % version)
            f.write('\n'.join(lines) + '\n')
        print('weft: wrote %s for schedule format version %s' % (path, version))
        return 0
    try:
        golden = [l for l in open(path).read().splitlines() if not l.startswith('#')]
    except OSError as e:
        print('weft: golden hashes: cannot read %s: %s' % (path, e), file=sys.stderr)
        return 1
    gversion = VERSION.fullmatch(golden[0]).group(1) if golden and VERSION.fullmatch(golden[0]) else '?'
    if gversion != version:
        print('weft: golden hashes FAILED: %s is for schedule format version %s, this build is version %s: '
              'regenerate it (tests/run_tests.py --regenerate-golden)' % (path, gversion, version), file=sys.stderr)
        return 1
    for i, (x, y) in enumerate(zip(golden[1:], lines[1:])):
        if x != y:
            print('weft: golden hashes FAILED: a seed now means a different run (case %d):\n  golden: %s\n  now:    %s\n'
                  'If the scheduler\'s choices changed on purpose, bump WEFT_SCHEDULE_VERSION '
                  '(src/include/weft/sim.h) so old schedules are refused, and regenerate %s.'
                  % (i + 1, x, y, path), file=sys.stderr)
            return 1
    if len(golden) != len(lines):
        print('weft: golden hashes FAILED: %d cases in %s, %d now' % (len(golden) - 1, path, len(lines) - 1),
              file=sys.stderr)
        return 1
    print('golden trace hashes: %d seeded runs match %s (schedule format version %s)' % (len(lines) - 1, path, version))
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--suite')
    ap.add_argument('--jobs', type=int, default=len(os.sched_getaffinity(0)),
                    help='Check suites run side by side (default: the cores this process may use)')
    ap.add_argument('--det-dir', required=True)
    ap.add_argument('--layering')
    ap.add_argument('--idle-probe')
    ap.add_argument('--golden', required=True)
    ap.add_argument('--regenerate-golden', action='store_true')
    ap.add_argument('--readme-bin')
    ap.add_argument('--bank-bin')
    ap.add_argument('--artifacts')
    args = ap.parse_args()

    if args.suite:
        rc = run_check(args.suite, args.jobs)
        if rc != 0:
            print('weft: the Check suite failed (exit %d)' % rc, file=sys.stderr)
            return rc
    here = os.path.dirname(os.path.abspath(__file__))
    if subprocess.call([sys.executable, os.path.join(here, 'check_sources.py')]) != 0:
        return 1
    if args.layering and subprocess.call([args.layering]) != 0:
        print('weft: the layering program failed', file=sys.stderr)
        return 1
    # Under a sanitizer or valgrind the probe's quiet second is not quiet
    # (their own threads): the idle check runs on the plain builds.
    if args.idle_probe and '/asan/' not in args.idle_probe and '/tsan/' not in args.idle_probe:
        if subprocess.call([sys.executable, os.path.join(here, 'idle_check.py'), args.idle_probe]) != 0:
            return 1

    builds = sorted(d for d in os.listdir(args.det_dir) if os.path.exists(os.path.join(args.det_dir, d, 'det_hashes')))
    if not builds:
        print('weft: determinism across builds: no builds found', file=sys.stderr)
        return 1
    outputs = {}
    for b in builds:
        cmd = [os.path.join(args.det_dir, b, 'det_hashes')]
        if b.startswith('aarch64'):
            cmd.insert(0, 'qemu-aarch64')  # another machine, emulated
        out = subprocess.run(cmd, capture_output=True, text=True,
                             env={k: v for k, v in os.environ.items() if not k.startswith('WEFT_')})
        if out.returncode != 0:
            print('weft: determinism: %s failed:\n%s' % (b, out.stderr), file=sys.stderr)
            return 1
        outputs[b] = out.stdout
    builds.sort(key=lambda b: b.startswith('aarch64'))  # report against a native build
    first = builds[0]
    lines = outputs[first].splitlines()
    # Identical empty outputs would compare equal: a build that ran no case
    # proves nothing.
    if not lines:
        print('weft: determinism across builds FAILED: %s printed no cases' % first, file=sys.stderr)
        return 1
    if not VERSION.fullmatch(lines[0]):
        print('weft: determinism across builds FAILED: %s does not start with its version' % first, file=sys.stderr)
        return 1
    for i, line in enumerate(lines[1:], 1):
        if not CASE.fullmatch(line):
            print('weft: determinism across builds FAILED: %s line %d is not a case: %s' % (first, i + 1, line),
                  file=sys.stderr)
            return 1
    for b in builds[1:]:
        if outputs[b] != outputs[first]:
            other = outputs[b].splitlines()
            for i, (x, y) in enumerate(zip(lines, other)):
                if x != y:
                    print('weft: determinism across builds FAILED: %s and %s differ at line %d:\n  %s\n  %s'
                          % (first, b, i + 1, x, y), file=sys.stderr)
                    return 1
            print('weft: determinism across builds FAILED: %s and %s differ in length' % (first, b), file=sys.stderr)
            return 1
    missing = [cc for cc in ('gcc', 'clang') if not any(b.startswith(cc) for b in builds)]
    note = ' (not built: %s, not installed)' % ', '.join(missing) if missing else ''
    print('determinism across builds: %d cases, identical trace hashes in %s%s'
          % (len(lines) - 1, ', '.join(builds), note))
    rc = check_golden(lines, args.golden, args.regenerate_golden)
    if rc == 0 and args.readme_bin:
        import workflow
        rc = workflow.run_all(args.readme_bin, args.bank_bin, args.artifacts)
    return rc


if __name__ == '__main__':
    sys.exit(main())
