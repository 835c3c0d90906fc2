#!/usr/bin/env python3
"""coverage.py — what `scons test VARIANT=cov` runs after the suite: line and
branch coverage of src/, sim/ and backends/ from the gcov data, written to
build/cov/coverage.txt, and a failure if src/ falls under its floor."""
import argparse
import os
import re
import subprocess
import sys

SRC_LINE_FLOOR = 85.0


def gcovr(root, objdir, filt, branches):
    cmd = ['gcovr', '--root', root, '--object-directory', objdir, '--filter', filt + '/']
    if branches:
        cmd.append('--branches')
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def total(report):
    m = re.search(r'^TOTAL\s+(\d+)\s+(\d+)\s+(\d+)%', report, re.M)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--root', required=True)
    ap.add_argument('--objdir', required=True)
    args = ap.parse_args()
    lines = ['coverage of the library (gcov via gcovr)', '']
    src_pct = 0.0
    for part in ('src', 'sim', 'backends'):
        lr = gcovr(args.root, args.objdir, part, False)
        br = gcovr(args.root, args.objdir, part, True)
        ln, lc = total(lr)
        bn, bc = total(br)
        lp = 100.0 * lc / ln if ln else 0.0
        bp = 100.0 * bc / bn if bn else 0.0
        if part == 'src':
            src_pct = lp
        lines.append('%-9s lines %5.1f%% (%d/%d)   branches %5.1f%% (%d/%d)' % (part + '/', lp, lc, ln, bp, bc, bn))
        lines.append('')
        lines.append(lr)
    text = '\n'.join(lines)
    out = os.path.join(os.path.dirname(args.objdir), 'coverage.txt')
    with open(out, 'w') as f:
        f.write(text)
    for l in lines[:5]:
        print(l)
    print('full report: %s' % out)
    if src_pct < SRC_LINE_FLOOR:
        print('coverage: src/ line coverage %.1f%% is under the %.0f%% floor' % (src_pct, SRC_LINE_FLOOR),
              file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
