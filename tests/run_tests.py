#!/usr/bin/env python3
"""run_tests.py — what `scons test` runs: the Check suite (its summary line
stays visible), then the determinism comparison across builds: the same seeds
must give the same trace hashes whether the library was built -O0 or -O2, by
gcc or by clang."""
import argparse
import os
import re
import subprocess
import sys

# One line per simulated run, as det_hashes.c prints it.
CASE = re.compile(r'strategy=\d+ workers=\d+ seed=\d+ status=0 events=\d+ hash=[0-9a-f]{16}')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--suite', required=True)
    ap.add_argument('--det-dir', required=True)
    args = ap.parse_args()

    rc = subprocess.call([args.suite])
    if rc != 0:
        print('weft: the Check suite failed (exit %d)' % rc, file=sys.stderr)
        return rc

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
    for i, line in enumerate(lines):
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
          % (len(lines), ', '.join(builds), note))
    return 0


if __name__ == '__main__':
    sys.exit(main())
