#!/usr/bin/env python3
"""workflow.py — the bug-finding workflow as a user meets it, end to end,
with real processes (run by tests/run_tests.py, so by `scons test`):

1. The README's "Finding bugs" snippet, built exactly as written, fails its
   buggy test with the seed line, the shrunk schedule line and the timeline's
   paths, and passes its fixed one.
2. Each printed line, pasted in front of the binary, replays that failure,
   and the binary's other test still passes.
3. Eight shards of one campaign, run side by side with `xargs -P`, merged by
   tools/weft-merge, report exactly what one unsharded run reports; every
   shard's JUnit XML parses (Python's xml module) and agrees with its JSON.
4. The bank demo's HTML timeline, loaded by headless Chromium: the lanes,
   two transfers interleaved, the failing step; a screenshot is kept. Skipped,
   saying so, when chromium is not installed (CI installs it).

Artifacts (timelines, results, the screenshot) go to the --artifacts
directory under build/.
"""
import html
import html.parser
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
MERGE = os.path.join(HERE, '..', 'tools', 'weft-merge')
SHARDS = 8
SEEDS = 400


class Failed(Exception):
    pass


def check(cond, what, detail=''):
    if not cond:
        raise Failed('%s%s' % (what, ('\n' + detail) if detail else ''))


def clean_env(**extra):
    """The environment without any WEFT_* or engine variable, plus extra."""
    engine = ('TEST_SHARD_INDEX', 'TEST_TOTAL_SHARDS', 'TEST_SHARD_STATUS_FILE', 'GTEST_SHARD_INDEX',
              'GTEST_TOTAL_SHARDS', 'SLURM_ARRAY_TASK_ID', 'SLURM_ARRAY_TASK_COUNT', 'JOB_COMPLETION_INDEX',
              'XML_OUTPUT_FILE', 'CK_RUN_SUITE', 'CK_RUN_CASE')
    env = {k: v for k, v in os.environ.items() if not k.startswith('WEFT_') and k not in engine}
    # Sanitizer builds, eight shards on a small machine: Check's own 4 s
    # per test is about timing, which these tests are not.
    env['CK_DEFAULT_TIMEOUT'] = '600'
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run(cmd, env, timeout=600):
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout + p.stderr


def line_vars(out, marker):
    """The NAME=value words of the first line of out containing marker."""
    for line in out.splitlines():
        if marker in line:
            i = line.find('WEFT_', line.find(marker))
            check(i >= 0, 'no variables after %r' % marker, line)
            return dict(w.split('=', 1) for w in line[i:].split())
    raise Failed('no line with %r in:\n%s' % (marker, out))


# ---- 1 and 2: the README's Check snippet, and its replay lines ----

def readme_workflow(readme_bin, art):
    tl = os.path.join(art, 'timelines') + '/'
    rc, out = run([readme_bin], clean_env(WEFT_TRACE=tl, CK_FORK='yes'))
    check(rc != 0, 'the README snippet: the buggy test did not fail', out)
    check('Checks: 2, Failures: 1' in out, 'the README snippet: expected 1 of 2 tests to fail', out)
    check(re.search(r'transfers_conserve_money:0: assertion failed: bank_total\(&b\) == '
                    r'BANK_OPENING \* BANK_ACCOUNTS', out), 'no failed assertion in the output', out)
    seed = line_vars(out, 'weft: reproduce with ')
    check(seed.get('WEFT_TEST') == 'transfers_conserve_money' and 'WEFT_SEED' in seed and
          seed.get('WEFT_WORKERS') == '2', 'the seed line does not name test, workers and seed', out)
    shrunk = line_vars(out, 'weft: shrunk from ')
    check(shrunk.get('WEFT_SCHEDULE', '').startswith('S2.'), 'no shrunk schedule line', out)
    m = re.search(r'weft: timeline: (\S+\.html) \(open in a browser\), (\S+\.json) ', out)
    check(m and os.path.exists(m.group(1)) and os.path.exists(m.group(2)), 'no timeline written', out)
    # The Perfetto one is JSON, in virtual time, with the failure on it.
    import json
    trace = json.load(open(m.group(2)))
    fails = [e for e in trace['traceEvents'] if e.get('ph') == 'i' and e.get('s') == 'g']
    check(trace['otherData'].get('time') == 'virtual' and len(fails) == 1 and
          'assertion failed: bank_total' in fails[0]['args']['message'], 'the JSON timeline lacks the failure',
          str(trace['otherData']))
    first = re.search(r'assertion failed: [^\n]*', out).group(0)
    for name, line in (('seed', seed), ('shrunk', shrunk)):
        rc, again = run([readme_bin], clean_env(CK_FORK='yes', WEFT_SHRINK_SECONDS=0, **line))
        check(rc != 0 and first in again, 'the %s line does not replay the failure' % name, again)
        check('Checks: 2, Failures: 1' in again,
              'replaying the %s line disturbed the other test (it must still pass)' % name, again)
    print('workflow: the README snippet fails with seed, shrunk and timeline lines; both lines replay it '
          'and leave the other test alone')


# ---- 3: shards, merged ----

def shard_workflow(readme_bin, art):
    d = os.path.join(art, 'shards')
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    # The shrink is bounded by its runs alone here: its 10 s wall-clock bound
    # ran out under TSan with eight shards on two cores, and one shard then
    # reported a longer schedule than the unsharded run.
    base = dict(WEFT_SEEDS=SEEDS, WEFT_KEEP_GOING=1, WEFT_COMMIT='workflow-test', CK_FORK='yes',
                WEFT_SHRINK_SECONDS=300)
    # One unsharded run…
    one = os.path.join(d, 'unsharded.jsonl')
    run([readme_bin], clean_env(WEFT_RESULTS=one, WEFT_TRACE=os.path.join(d, 'unsharded') + '/', **base))
    # …and eight shards side by side, as a CI matrix or GNU parallel would.
    script = ('exec env WEFT_SHARD_INDEX="$0" WEFT_SHARD_COUNT=%d WEFT_RESULTS="%s/shard-$0.jsonl" '
              'XML_OUTPUT_FILE="%s/shard-$0.xml" WEFT_TRACE="%s/shard-$0/" "%s" >"%s/shard-$0.log" 2>&1'
              % (SHARDS, d, d, d, readme_bin, d))
    p = subprocess.run(['xargs', '-P', str(SHARDS), '-n', '1', 'sh', '-c', script],
                       input='\n'.join(str(i) for i in range(SHARDS)) + '\n', text=True,
                       env=clean_env(**base), capture_output=True)
    # Each shard's binary fails (the buggy test does): xargs says 123.
    check(p.returncode in (0, 123), 'xargs could not run the shards', p.stdout + p.stderr)
    shards = [os.path.join(d, 'shard-%d.jsonl' % i) for i in range(SHARDS)]
    for s in shards:
        check(os.path.exists(s), 'a shard wrote no results: %s' % s)
    rc1, rep1 = run_merge([one])
    rc8, rep8 = run_merge(shards)
    check(rc1 == 1 and rc8 == 1, 'weft-merge: expected failures found (exit 1), got %d and %d' % (rc1, rc8),
          rep1 + rep8)
    check(rep1 == rep8, 'the merged shards report differently from one unsharded run',
          '--- unsharded\n%s--- 8 shards merged\n%s' % (rep1, rep8))
    check('seeds 0 to %d: %d run(s)' % (SEEDS - 1, SEEDS) in rep8 and 'transfers_conserve_money' in rep8 and
          'fixed_transfers_conserve_money' in rep8, 'the report does not cover both tests and all seeds', rep8)
    # A missing shard is noticed.
    rc7, _ = run_merge(shards[:-1], quiet=True)
    check(rc7 == 2, 'weft-merge did not notice a missing shard (exit %d)' % rc7)
    # JUnit: every shard's file parses and agrees with its JSON summaries.
    import json
    for i in range(SHARDS):
        root = ET.parse(os.path.join(d, 'shard-%d.xml' % i)).getroot()
        check(root.tag == 'testsuites', 'shard %d: the JUnit root is %s' % (i, root.tag))
        suites = {s.get('name'): s for s in root.findall('testsuite')}
        summaries = [json.loads(l) for l in open(shards[i]) if '"type":"summary"' in l]
        check(set(suites) == {s['name'] for s in summaries}, 'shard %d: JUnit and JSON name different tests' % i)
        for s in summaries:
            x = suites[s['name']]
            failures = x.findall('testcase/failure')
            check(int(x.get('failures')) == (1 if s['failures'] else 0) == len(failures),
                  'shard %d, %s: JUnit says %s failures, JSON %d' % (i, s['name'], x.get('failures'), s['failures']))
            props = {p.get('name'): p.get('value') for p in x.findall('properties/property')}
            check(props.get('weft.shard') == '%d/%d' % (i, SHARDS) and props.get('weft.runs') == str(s['runs']),
                  'shard %d: JUnit properties disagree with the JSON' % i)
    with open(os.path.join(d, 'merged.txt'), 'w') as f:
        f.write(rep8)
    print('workflow: %d shards (xargs -P %d) merged == one unsharded run over %d seeds; JUnit XML of every shard '
          'parses and agrees' % (SHARDS, SHARDS, SEEDS))


def run_merge(files, quiet=False):
    p = subprocess.run([sys.executable, MERGE] + files, capture_output=True, text=True)
    if not quiet and p.returncode == 2:
        print(p.stderr, file=sys.stderr)
    return p.returncode, p.stdout


# ---- 4: the timeline in a browser ----

class Dom(html.parser.HTMLParser):
    """The lanes, runs and failure marks of a timeline page."""

    def __init__(self):
        super().__init__()
        self.workers, self.runs, self.fails, self.names = set(), [], [], {}
        self.failure_text = ''
        self._in_failure = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = a.get('class', '')
        if 'data-worker' in a and cls == 'lane':
            self.workers.add(int(a['data-worker']))
        if cls == 'run':
            self.runs.append((int(a['data-start']), int(a['data-end']), int(a['data-task']), a.get('title', '')))
        if cls == 'fail':
            self.fails.append(int(a['data-col']))
        if cls == 'failure':
            self._in_failure = True

    def handle_endtag(self, tag):
        if tag == 'div':
            self._in_failure = False

    def handle_data(self, data):
        if self._in_failure:
            self.failure_text += data


def interleaved(runs, names):
    """Two transfers out of one account whose steps interleave: one runs,
    the other runs, the first runs again."""
    order = [t for _, _, t, _ in sorted(runs) if t]
    for a in set(order):
        for b in set(order):
            if a == b or not names.get(a, '').startswith('a->b') or not names.get(b, '').startswith('a->b'):
                continue
            i = order.index(a)
            rest = order[i + 1:]
            if b in rest and a in rest[rest.index(b) + 1:]:
                return names[a], names[b]
    return None


def browser_workflow(bank_bin, art):
    chromium = shutil.which('chromium') or shutil.which('chromium-browser')
    if not chromium:
        print('workflow: headless-Chromium timeline test SKIPPED: chromium is not installed here '
              '(apt-get install chromium; CI installs it and runs this test)')
        return
    d = os.path.join(art, 'demo')
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    rc, out = run([bank_bin, '--demo', '--out', d], clean_env())
    check(rc == 0, 'the bank demo failed', out)
    page = os.path.join(d, 'bank-lost-update.html')
    check(os.path.exists(page), 'the demo wrote no HTML timeline', out)
    profile = os.path.join(d, 'chromium-profile')
    flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
             '--disable-background-networking', '--disable-component-update', '--disable-sync',
             '--user-data-dir=' + profile, '--window-size=1400,900']
    url = 'file://' + os.path.abspath(page)
    p = subprocess.run([chromium] + flags + ['--dump-dom', url], capture_output=True, text=True, timeout=300)
    check(p.returncode == 0 and '</html>' in p.stdout, 'chromium did not render the page', p.stderr[-2000:])
    dom = Dom()
    dom.feed(p.stdout)
    names = {}
    for m in re.finditer(r'<span class="key" style="[^"]*"></span>task (\d+) ([^<]*)', p.stdout):
        names[int(m.group(1))] = html.unescape(m.group(2))
    check(dom.workers == {0, 1}, 'the page shows worker lanes %s, not 0 and 1' % sorted(dom.workers))
    pair = interleaved(dom.runs, names)
    check(pair, 'the page does not show two transfers out of account a interleaving', str(dom.runs[:40]))
    check(dom.fails and len(set(dom.fails)) == 1, 'the failing step is not marked')
    last = max(b for _, b, _, _ in dom.runs)
    check(dom.fails[0] >= last, 'the failure is marked before the last step (%d < %d)' % (dom.fails[0], last))
    check('assertion failed: bank_total(&b) == BANK_OPENING * BANK_ACCOUNTS' in dom.failure_text,
          'the page does not say what failed', dom.failure_text)
    shot = os.path.join(art, 'bank-lost-update.png')
    p = subprocess.run([chromium] + flags + ['--screenshot=' + shot, url], capture_output=True, text=True,
                       timeout=300)
    check(p.returncode == 0 and os.path.getsize(shot) > 10000, 'no screenshot', p.stderr[-2000:])
    shutil.rmtree(profile, ignore_errors=True)
    print('workflow: headless Chromium renders the demo timeline: 2 worker lanes, %s and %s interleaved, the '
          'failing step marked (screenshot: %s)' % (pair[0], pair[1], shot))


def run_all(readme_bin, bank_bin, artifacts):
    os.makedirs(artifacts, exist_ok=True)
    try:
        readme_workflow(readme_bin, artifacts)
        shard_workflow(readme_bin, artifacts)
        browser_workflow(bank_bin, artifacts)
    except Failed as e:
        print('weft: workflow FAILED: %s' % e, file=sys.stderr)
        return 1
    return 0


def main():
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument('--readme-bin', required=True)
    ap.add_argument('--bank-bin', required=True)
    ap.add_argument('--artifacts', required=True)
    a = ap.parse_args()
    return run_all(a.readme_bin, a.bank_bin, a.artifacts)


if __name__ == '__main__':
    sys.exit(main())
