#!/usr/bin/env python3
"""coverage.py — what `scons test VARIANT=cov` runs after the suite: line and
branch coverage of src/, sim/ and backends/ from the gcov data, written to
build/cov/coverage.txt, and a failure if src/ falls under its floor."""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

SRC_LINE_FLOOR = 85.0
PARTS = ('src', 'sim', 'backends')


def gcovr(root, objdir, workdir):
    """One gcovr run over every part: the per-file line table as text, and
    line and branch counts per file as a JSON summary."""
    txt = os.path.join(workdir, 'lines.txt')
    summary = os.path.join(workdir, 'summary.json')
    cmd = ['gcovr', '--root', root, '--object-directory', objdir]
    for part in PARTS:
        cmd += ['--filter', re.escape(os.path.join(root, part)) + '/']
    cmd += ['--txt', txt, '--json-summary', summary]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    with open(txt) as f, open(summary) as g:
        return f.read(), json.load(g)


def total(report):
    """The line counts of a gcovr text report's TOTAL row."""
    m = re.search(r'^TOTAL\s+(\d+)\s+(\d+)\s+(\d+)%', report, re.M)
    if not m:
        raise ValueError('no TOTAL line in the gcovr report:\n' + report)
    return int(m.group(1)), int(m.group(2))


def part_totals(summary, part):
    """(lines, covered, branches, covered) over the files of one part."""
    files = [f for f in summary['files'] if f['filename'].startswith(part + '/')]
    if not files:
        raise ValueError('no coverage data for %s/ (was the suite built with VARIANT=cov and run?)' % part)
    return tuple(sum(f[k] for f in files) for k in ('line_total', 'line_covered', 'branch_total', 'branch_covered'))


def pct(covered, total_):
    return 100.0 * covered / total_ if total_ else 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--root', required=True)
    ap.add_argument('--objdir', required=True)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as work:
        report, summary = gcovr(args.root, args.objdir, work)
    summary_lines = ['coverage of the library (gcov via gcovr)']
    src_pct = 0.0
    all_lines = all_covered = 0
    for part in PARTS:
        ln, lc, bn, bc = part_totals(summary, part)
        all_lines += ln
        all_covered += lc
        if part == 'src':
            src_pct = pct(lc, ln)
        summary_lines.append('%-9s lines %5.1f%% (%d/%d)   branches %5.1f%% (%d/%d)'
                             % (part + '/', pct(lc, ln), lc, ln, pct(bc, bn), bc, bn))
    # The text report and the summary come from the same run: they must agree.
    if total(report) != (all_lines, all_covered):
        raise ValueError('gcovr text TOTAL %s and JSON summary (%d, %d) disagree'
                         % (total(report), all_lines, all_covered))
    out = os.path.join(os.path.dirname(args.objdir), 'coverage.txt')
    with open(out, 'w') as f:
        f.write('\n'.join(summary_lines + ['', report]))
    for line in summary_lines:
        print(line)
    print('full report: %s' % out)
    if src_pct < SRC_LINE_FLOOR:
        print('coverage: src/ line coverage %.1f%% is under the %.0f%% floor' % (src_pct, SRC_LINE_FLOOR),
              file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
