#!/usr/bin/env python3
"""run.py — what `scons fuzz` runs: each fuzz_* binary for a bounded time on
its corpus (fuzz/corpus/<name>, seeds committed; new inputs go to a scratch
copy so the repository only grows by hand). A crash fails the run and leaves
its reproducer (crash-*) in build/fuzz/."""
import argparse
import os
import shutil
import subprocess
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--bin-dir', required=True)
    ap.add_argument('--corpus', required=True)
    ap.add_argument('--seconds', type=int, default=int(os.environ.get('WEFT_FUZZ_SECONDS', '60')))
    args = ap.parse_args()
    failed = []
    for name in sorted(os.listdir(args.bin_dir)):
        path = os.path.join(args.bin_dir, name)
        if not name.startswith('fuzz_') or not os.access(path, os.X_OK) or os.path.isdir(path):
            continue
        corpus = os.path.join(args.corpus, 'corpus', name[len('fuzz_'):])
        scratch = os.path.join(args.bin_dir, 'corpus-' + name)
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.copytree(corpus, scratch) if os.path.isdir(corpus) else os.makedirs(scratch)
        print('fuzz: %s for %d s' % (name, args.seconds), flush=True)
        rc = subprocess.call([path, '-max_total_time=%d' % args.seconds, '-print_final_stats=1',
                              '-artifact_prefix=%s/' % args.bin_dir, scratch])
        if rc != 0:
            failed.append(name)
    if failed:
        print('fuzz: FAILED: %s (reproducers in %s)' % (', '.join(failed), args.bin_dir), file=sys.stderr)
        return 1
    print('fuzz: no crashes')
    return 0


if __name__ == '__main__':
    sys.exit(main())
