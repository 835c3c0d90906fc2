/* test_shard.c — exploring at scale: the shard from explicit options or an
 * engine's own variables (WEFT_SHARD_*, Bazel, GoogleTest, Slurm, Kubernetes),
 * shards that split seeds and exhaustive subtrees without overlap and
 * together find exactly what one run finds, the results files (JSON lines,
 * JUnit XML), the time budget and the per-seed timeout, and the progress
 * line (only on a terminal). tests/workflow.py runs real shards in parallel
 * and merges them with tools/weft-merge. */
#define _GNU_SOURCE
#include "../examples/bank.h"
#include "support.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const shard_vars[] = {
    "WEFT_SHARD_INDEX",    "WEFT_SHARD_COUNT",       "TEST_SHARD_INDEX",     "TEST_TOTAL_SHARDS",
    "TEST_SHARD_STATUS_FILE", "GTEST_SHARD_INDEX",   "GTEST_TOTAL_SHARDS",   "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_STEP", "JOB_COMPLETION_INDEX",
};

static void clear_shard_env(void)
{
    for (size_t i = 0; i < sizeof shard_vars / sizeof shard_vars[0]; i++)
        unsetenv(shard_vars[i]);
}

static size_t count_str(const char *s, const char *what)
{
    size_t n = 0;
    for (const char *p = s; (p = strstr(p, what)) != NULL; p += strlen(what))
        n++;
    return n;
}

static void *passes(void *arg)
{
    (void)arg;
    weft_yield();
    return NULL;
}

/* An exploration of 10 seeds that reads the environment. */
static int explore10(unsigned index, unsigned count, weft_explore_result *r)
{
    weft_explore_opts o;
    memset(&o, 0, sizeof o);
    o.cfg.workers = 2;
    o.cfg.flags = WEFT_CFG_QUIET;
    o.seeds = 10;
    o.shard_index = index;
    o.shard_count = count;
    o.flags = WEFT_EXPLORE_QUIET;
    return weft_explore(&o, passes, NULL, r);
}

static void expect_shard(unsigned index, unsigned count)
{
    weft_explore_result r;
    ck_assert_weft(explore10(0, 0, &r), 0);
    ck_assert_uint_eq(r.shard_index, index);
    ck_assert_uint_eq(r.shard_count, count);
    /* Seeds index, index + count, … below 10. */
    ck_assert_uint_eq(r.runs, (10 - index + count - 1) / count);
    weft_explore_result_free(&r);
}

static void expect_refused(const char *names)
{
    weft_explore_result r;
    ck_assert_weft(explore10(0, 0, &r), WEFT_EINVAL);
    ck_assert_msg(strstr(r.message, names), "the message does not name %s: %s", names, r.message);
}

START_TEST(the_shard_comes_from_options_or_the_engine)
{
    clear_shard_env();
    expect_shard(0, 1);
    setenv("WEFT_SHARD_INDEX", "1", 1);
    setenv("WEFT_SHARD_COUNT", "3", 1);
    expect_shard(1, 3);
    /* Explicit options come first. */
    weft_explore_result r;
    ck_assert_weft(explore10(2, 4, &r), 0);
    ck_assert_uint_eq(r.shard_index, 2);
    ck_assert_uint_eq(r.shard_count, 4);
    ck_assert_uint_eq(r.runs, 2); /* seeds 2 and 6 */
    weft_explore_result_free(&r);
    /* WEFT_SHARD_* before an engine's. */
    setenv("TEST_SHARD_INDEX", "0", 1);
    setenv("TEST_TOTAL_SHARDS", "5", 1);
    expect_shard(1, 3);
    clear_shard_env();
    /* Bazel: and the test says it shards by touching the status file. */
    char status[512];
    temp_file(status, sizeof status, "shardstatus", "");
    unlink(status);
    setenv("TEST_SHARD_INDEX", "2", 1);
    setenv("TEST_TOTAL_SHARDS", "5", 1);
    setenv("TEST_SHARD_STATUS_FILE", status, 1);
    expect_shard(2, 5);
    ck_assert_int_eq(access(status, F_OK), 0);
    unlink(status);
    clear_shard_env();
    setenv("GTEST_SHARD_INDEX", "1", 1);
    setenv("GTEST_TOTAL_SHARDS", "2", 1);
    expect_shard(1, 2);
    clear_shard_env();
    /* Slurm: an array 3-6 is indexed from its minimum… */
    setenv("SLURM_ARRAY_TASK_ID", "5", 1);
    setenv("SLURM_ARRAY_TASK_COUNT", "4", 1);
    setenv("SLURM_ARRAY_TASK_MIN", "3", 1);
    expect_shard(2, 4);
    /* …and 1-7:2 by its step. */
    setenv("SLURM_ARRAY_TASK_ID", "7", 1);
    setenv("SLURM_ARRAY_TASK_MIN", "1", 1);
    setenv("SLURM_ARRAY_TASK_STEP", "2", 1);
    expect_shard(3, 4);
    setenv("SLURM_ARRAY_TASK_ID", "4", 1);
    expect_refused("SLURM_ARRAY_TASK_ID");
    clear_shard_env();
    /* Kubernetes: the index from the Indexed Job, the count given. */
    setenv("JOB_COMPLETION_INDEX", "3", 1);
    expect_refused("WEFT_SHARD_COUNT");
    setenv("WEFT_SHARD_COUNT", "8", 1);
    expect_shard(3, 8);
    clear_shard_env();
    /* Bad values are refused, naming the variables. */
    setenv("WEFT_SHARD_INDEX", "3", 1);
    setenv("WEFT_SHARD_COUNT", "3", 1);
    expect_refused("WEFT_SHARD_INDEX");
    setenv("WEFT_SHARD_INDEX", "x", 1);
    expect_refused("WEFT_SHARD_INDEX");
    unsetenv("WEFT_SHARD_INDEX");
    expect_refused("WEFT_SHARD_COUNT");
    setenv("WEFT_SHARD_INDEX", "0", 1);
    setenv("WEFT_SHARD_COUNT", "0", 1);
    expect_refused("WEFT_SHARD_INDEX");
    ck_assert_weft(explore10(4, 4, &r), WEFT_EINVAL);
    /* WEFT_CFG_NO_ENV: the environment is not read. */
    setenv("WEFT_SHARD_INDEX", "1", 1);
    setenv("WEFT_SHARD_COUNT", "2", 1);
    weft_explore_opts o;
    memset(&o, 0, sizeof o);
    o.cfg = test_config(2, 0);
    o.seeds = 10;
    o.flags = WEFT_EXPLORE_QUIET;
    ck_assert_weft(weft_explore(&o, passes, NULL, &r), 0);
    ck_assert_uint_eq(r.shard_count, 1);
    ck_assert_uint_eq(r.runs, 10);
    weft_explore_result_free(&r);
    clear_shard_env();
}
END_TEST

/* ---- shards together run what one run does ---- */

/* The failing seeds or schedules listed in a results file, in file order,
 * as one string "a,b,c," (seeds) or the replay lines (schedules). */
static void listed(const char *results, const char *key, char *out, size_t len)
{
    out[0] = 0;
    size_t used = 0;
    for (const char *p = results; (p = strstr(p, "{\"type\":\"failure\"")) != NULL; p++) {
        const char *v = strstr(p, key);
        ck_assert_ptr_nonnull(v);
        v += strlen(key);
        size_t n = strcspn(v, ",}");
        ck_assert_uint_lt(used + n + 2, len);
        memcpy(out + used, v, n);
        used += n;
        out[used++] = '\n';
        out[used] = 0;
    }
}

static int cmp_lines(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The lines of s, sorted, back into s. */
static void sort_lines(char *s)
{
    char *lines[4096];
    size_t n = 0;
    for (char *save = NULL, *t = strtok_r(s, "\n", &save); t && n < 4096; t = strtok_r(NULL, "\n", &save))
        lines[n++] = strdup(t);
    qsort(lines, n, sizeof *lines, cmp_lines);
    s[0] = 0;
    for (size_t i = 0; i < n; i++) {
        strcat(s, lines[i]);
        strcat(s, "\n");
        free(lines[i]);
    }
}

typedef struct campaign_out {
    uint64_t runs, failures;
    unsigned busy_shards; /* shards that ran anything */
    int exhausted_all;
    char *results; /* the JSON lines of every shard, concatenated */
} campaign_out;

static campaign_out run_campaign(weft_fn fn, weft_strategy strategy, unsigned shards, uint64_t seeds)
{
    campaign_out c = {0, 0, 0, 1, NULL};
    char path[512];
    temp_file(path, sizeof path, "results", ".jsonl");
    for (unsigned i = 0; i < shards; i++) {
        weft_explore_opts o;
        memset(&o, 0, sizeof o);
        o.cfg = test_config(2, 0);
        o.cfg.sim.strategy = strategy;
        o.seeds = seeds;
        o.preemption_bound = 2;
        o.shard_index = i;
        o.shard_count = shards;
        o.flags = WEFT_EXPLORE_QUIET | WEFT_EXPLORE_KEEP_GOING;
        o.results_path = path;
        o.name = "campaign";
        weft_explore_result r;
        ck_assert_weft(weft_explore(&o, fn, NULL, &r), 0);
        c.runs += r.runs;
        c.busy_shards += r.runs > 0;
        c.failures += r.failures;
        c.exhausted_all &= r.exhausted;
        weft_explore_result_free(&r);
    }
    c.results = slurp(path, NULL);
    unlink(path);
    return c;
}

START_TEST(shards_split_the_seeds_and_find_what_one_run_finds)
{
    uint64_t seeds = seeds_for(400);
    campaign_out one = run_campaign(bank_lost_update_test, WEFT_STRATEGY_RANDOM, 1, seeds);
    campaign_out eight = run_campaign(bank_lost_update_test, WEFT_STRATEGY_RANDOM, 8, seeds);
    ck_assert_uint_eq(one.runs, seeds);
    ck_assert_uint_eq(eight.runs, seeds);
    ck_assert_uint_gt(one.failures, 1);
    ck_assert_uint_eq(eight.failures, one.failures);
    static char a[65536], b[65536];
    listed(one.results, "\"seed\":", a, sizeof a);
    listed(eight.results, "\"seed\":", b, sizeof b);
    sort_lines(a);
    sort_lines(b);
    ck_assert_str_eq(a, b);
    /* One summary per shard, all with one configuration. */
    ck_assert_uint_eq(count_str(eight.results, "{\"type\":\"summary\""), 8);
    free(one.results);
    free(eight.results);
}
END_TEST

START_TEST(shards_split_an_exhaustive_search_by_subtree)
{
    campaign_out one = run_campaign(bank_deadlock_test, WEFT_STRATEGY_EXHAUSTIVE, 1, 0);
    campaign_out three = run_campaign(bank_deadlock_test, WEFT_STRATEGY_EXHAUSTIVE, 3, 0);
    ck_assert_int_eq(one.exhausted_all, 1);
    ck_assert_int_eq(three.exhausted_all, 1);
    ck_assert_uint_eq(three.runs, one.runs);
    ck_assert_uint_eq(three.busy_shards, 3); /* the work was split, not left to one */
    /* Keep-going goes on past the first failing schedule (it once stopped
     * there and called the space exhausted). */
    ck_assert_uint_gt(one.failures, 1);
    ck_assert_uint_eq(three.failures, one.failures);
    static char a[65536], b[65536];
    listed(one.results, "\"replay\":", a, sizeof a);
    listed(three.results, "\"replay\":", b, sizeof b);
    sort_lines(a);
    sort_lines(b);
    ck_assert_str_eq(a, b);
    free(one.results);
    free(three.results);
}
END_TEST

/* ---- what a shard writes ---- */

START_TEST(results_lines_and_junit)
{
    char jsonl[512], xml[512];
    temp_file(jsonl, sizeof jsonl, "results", ".jsonl");
    temp_file(xml, sizeof xml, "junit", ".xml");
    unlink(xml);
    setenv("WEFT_COMMIT", "0123abc", 1);
    setenv("WEFT_RESULTS", jsonl, 1);
    setenv("XML_OUTPUT_FILE", xml, 1);
    weft_explore_opts o;
    memset(&o, 0, sizeof o);
    o.cfg.workers = 2;
    o.cfg.flags = WEFT_CFG_QUIET;
    o.seeds = 100;
    o.shard_index = 1;
    o.shard_count = 2;
    o.name = "lost_update";
    o.flags = WEFT_EXPLORE_QUIET | WEFT_EXPLORE_SHRINK;
    weft_explore_result r;
    ck_assert_weft(weft_explore(&o, bank_lost_update_test, NULL, &r), 0);
    ck_assert_uint_eq(r.failures, 1);
    o.name = "fixed";
    weft_explore_result ok;
    ck_assert_weft(weft_explore(&o, passes, NULL, &ok), 0);
    ck_assert_uint_eq(ok.failures, 0);
    unsetenv("WEFT_COMMIT");
    unsetenv("WEFT_RESULTS");
    unsetenv("XML_OUTPUT_FILE");
    char *lines = slurp(jsonl, NULL);
    char want[512];
    snprintf(want, sizeof want,
             "{\"type\":\"failure\",\"name\":\"lost_update\",\"shard\":1,\"shards\":2,\"config\":\"");
    ck_assert_msg(strstr(lines, want), "%.2000s", lines);
    snprintf(want, sizeof want, "\"seed\":%llu,\"status\":-4001,\"error\":\"simulated run failed\"",
             (unsigned long long)r.failing_seed);
    ck_assert_msg(strstr(lines, want), "%.2000s", lines);
    snprintf(want, sizeof want, "\"replay\":\"WEFT_TEST=lost_update WEFT_WORKERS=2 WEFT_SEED=%llu\"}\n",
             (unsigned long long)r.failing_seed);
    ck_assert_msg(strstr(lines, want), "%.2000s", lines);
    ck_assert_msg(strstr(lines, "\"commit\":\"0123abc\""), "%.2000s", lines);
    ck_assert_msg(strstr(lines, "{\"type\":\"shrunk\",\"name\":\"lost_update\""), "%.2000s", lines);
    ck_assert_msg(strstr(lines, "\"replay\":\"WEFT_TEST=lost_update WEFT_WORKERS=2 WEFT_SCHEDULE=S2."), "%.2000s",
                  lines);
    ck_assert_msg(strstr(lines, "{\"type\":\"summary\",\"name\":\"fixed\",\"shard\":1,\"shards\":2"), "%.2000s",
                  lines);
    ck_assert_msg(strstr(lines, "\"strategy\":\"random\""), "%.2000s", lines);
    ck_assert_msg(strstr(lines, "\"seed_start\":0,\"seeds\":100,\"runs\":50,\"failures\":0"), "%.2000s", lines);
    ck_assert_msg(strstr(lines, "\"duration_s\":"), "%.2000s", lines);
    free(lines);
    /* JUnit: one file, a suite per exploration, the failure with its
     * message and replay line. */
    char *x = slurp(xml, NULL);
    ck_assert_msg(!strncmp(x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"weft\">\n", 60),
                  "%.500s", x);
    ck_assert_uint_eq(count_str(x, "<testsuite "), 2);
    ck_assert_uint_eq(count_str(x, "</testsuites>"), 1);
    ck_assert_uint_eq(count_str(x, "<failure "), 1);
    ck_assert_msg(strstr(x, "bank_total(&amp;b) == BANK_OPENING") && strstr(x, "WEFT_TEST=lost_update"), "%.3000s",
                  x);
    free(x);
    /* A file that is not ours is replaced, not extended. */
    FILE *f = fopen(xml, "w");
    fputs("<something else/>\n", f);
    fclose(f);
    o.junit_path = xml;
    ck_assert_weft(weft_explore(&o, passes, NULL, &ok), 0);
    x = slurp(xml, NULL);
    ck_assert_uint_eq(count_str(x, "<testsuite "), 1);
    ck_assert_ptr_null(strstr(x, "something else"));
    free(x);
    unlink(xml);
    unlink(jsonl);
    weft_explore_result_free(&r);
}
END_TEST

/* ---- budgets ---- */

START_TEST(a_run_that_takes_too_long_is_a_timeout)
{
    /* A livelock with no step budget to catch it: only the per-seed
     * timeout can end the run. */
    weft_explore_opts o;
    memset(&o, 0, sizeof o);
    o.cfg = test_config(1, 0);
    o.cfg.sim.step_budget = UINT64_MAX / 2;
    o.seeds = 3;
    o.run_timeout_s = 0.05;
    o.flags = WEFT_EXPLORE_QUIET | WEFT_EXPLORE_KEEP_GOING;
    weft_explore_result r;
    ck_assert_weft(weft_explore(&o, yields_forever, NULL, &r), 0);
    ck_assert_uint_eq(r.runs, 3);
    ck_assert_uint_eq(r.failures, 3);
    ck_assert_uint_eq(r.timeouts, 3);
    ck_assert_weft(r.status, WEFT_ETIMEDOUT);
    ck_assert_str_eq(r.signature, "timeout");
    ck_assert_msg(strstr(r.message, "per-seed timeout") && strstr(r.message, "WEFT_SEED=0"), "%s", r.message);
    weft_explore_result_free(&r);
}
END_TEST

/* ---- the progress line ---- */

START_TEST(progress_is_drawn_on_a_terminal_only)
{
    weft_explore_opts o;
    memset(&o, 0, sizeof o);
    o.cfg = test_config(2, 0);
    o.seeds = 50;
    o.name = "fixed";
    o.flags = WEFT_EXPLORE_QUIET | WEFT_EXPLORE_PROGRESS;
    int saved = dup(2);
    /* A pipe: silent. */
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    dup2(p[1], 2);
    weft_explore_result r;
    int e = weft_explore(&o, passes, NULL, &r);
    dup2(saved, 2);
    close(p[1]);
    char buf[4096];
    ssize_t n = read(p[0], buf, sizeof buf - 1);
    close(p[0]);
    ck_assert_weft(e, 0);
    ck_assert_int_eq((int)n, 0);
    /* A terminal (a pseudo-terminal here): the line, redrawn in place. */
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    ck_assert_int_ge(m, 0);
    ck_assert_int_eq(grantpt(m), 0);
    ck_assert_int_eq(unlockpt(m), 0);
    int s = open(ptsname(m), O_RDWR | O_NOCTTY);
    ck_assert_int_ge(s, 0);
    dup2(s, 2);
    e = weft_explore(&o, passes, NULL, &r);
    dup2(saved, 2);
    close(s);
    close(saved);
    /* Everything the terminal holds: the draws arrive in pieces. */
    fcntl(m, F_SETFL, fcntl(m, F_GETFL) | O_NONBLOCK);
    size_t got = 0;
    while (got + 1 < sizeof buf && (n = read(m, buf + got, sizeof buf - 1 - got)) > 0)
        got += (size_t)n;
    close(m);
    ck_assert_weft(e, 0);
    ck_assert_uint_gt(got, 0);
    buf[got] = 0;
    ck_assert_msg(strstr(buf, "\rweft: explore fixed: ") && strstr(buf, "50 runs, ") && strstr(buf, " runs/s, 0 failure(s)"),
                  "%s", buf);
}
END_TEST

Suite *suite_shard(void)
{
    Suite *s = suite_create("shard");
    TCase *tc = tcase_create("shard");
    tcase_add_test(tc, the_shard_comes_from_options_or_the_engine);
    tcase_add_test(tc, shards_split_the_seeds_and_find_what_one_run_finds);
    tcase_add_test(tc, shards_split_an_exhaustive_search_by_subtree);
    tcase_add_test(tc, results_lines_and_junit);
    tcase_add_test(tc, a_run_that_takes_too_long_is_a_timeout);
    tcase_add_test(tc, progress_is_drawn_on_a_terminal_only);
    suite_add_tcase(s, tc);
    return s;
}
