#!/usr/bin/env python3
"""check_sources.py — what `scons test` checks in the sources themselves:

- the layering: src/ includes nothing of sim/ or backends/ and names no
  simulator symbol (weft__sim_…, weft__backend_sim, weft__backend_threads);
- the threads layer: no file but src/atomic.h and src/atomic.c uses atomic
  builtins, <stdatomic.h>, pthread_create, or the futex system call (src/os.c,
  the OS table the layer calls, is where futex lives).

Prints each stray with its file and line, and exits 1 if there is one."""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIB_DIRS = ['src', 'sim', 'backends']
LAYER = {'src/atomic.h', 'src/atomic.c'}
OS_TABLE = {'src/os.c'}
# The escape detector defines libc's pthread_create to catch a simulated task
# that starts a real thread: it names the call, it does not make one itself.
INTERPOSER = {'sim/escape.c'}

ATOMIC = re.compile(r'\b(__atomic_\w+|atomic_\w+|_Atomic|stdatomic\.h|pthread_create|SYS_futex|futex\s*\()')
SIM_NAME = re.compile(r'\b(weft__sim_\w+|weft__backend_sim|weft__backend_threads)\b|#\s*include\s*"[^"]*(sim|backends)/')


def sources():
    for d in LIB_DIRS:
        for base, _, files in os.walk(os.path.join(ROOT, d)):
            for f in files:
                if f.endswith(('.c', '.h')):
                    path = os.path.join(base, f)
                    yield os.path.relpath(path, ROOT), path


def strip_comments(text):
    text = re.sub(r'/\*.*?\*/', lambda m: '\n' * m.group(0).count('\n'), text, flags=re.S)
    return re.sub(r'//[^\n]*', '', text)


def main():
    strays = []
    for rel, path in sources():
        lines = strip_comments(open(path).read()).split('\n')
        for n, line in enumerate(lines, 1):
            if rel not in LAYER:
                m = ATOMIC.search(line)
                if m and not (rel in OS_TABLE and m.group(1).startswith(('SYS_futex', 'futex'))) and \
                        not (rel in INTERPOSER and m.group(1) == 'pthread_create'):
                    strays.append('%s:%d: %s outside the threads layer (src/atomic.h)' % (rel, n, m.group(1)))
            if rel.startswith('src/'):
                m = SIM_NAME.search(line)
                if m:
                    strays.append('%s:%d: the core names a backend: %s' % (rel, n, m.group(0)))
    for s in strays:
        print('weft: check_sources: ' + s, file=sys.stderr)
    if strays:
        return 1
    print('source checks: the core names no backend; atomics, futexes and threads only in the threads layer')
    return 0


if __name__ == '__main__':
    sys.exit(main())
