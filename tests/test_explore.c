/* test_explore.c — exploration over seeds and strategies, shrinking,
 * timelines, the Check helper's whole workflow and its environment (the
 * test a replay line names, the real backend, where timelines go), and the
 * determinism self-check, on the bank of examples/bank.h. */
#define _GNU_SOURCE
#include "../examples/bank.h"
#include "replay_lines.h"
#include "support.h"
#include <weft/check.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Explore fn on 2 virtual workers (PCT: depth 2) under seeds [seed_start,
 * seed_start + seeds), quietly, on `jobs` OS threads (0: the caller's); the
 * timeline (or NULL) is written on failure. */
static weft_explore_result explore_on(weft_fn fn, weft_strategy strategy, uint64_t seed_start, uint64_t seeds,
                                      unsigned flags, const char *timeline, unsigned jobs)
{
    weft_explore_opts o;
    memset(&o, 0, sizeof o);
    o.jobs = jobs;
    o.cfg = test_config(2, 0);
    o.cfg.sim.strategy = strategy;
    o.cfg.sim.pct_depth = 2;
    o.seed_start = seed_start;
    o.seeds = seeds;
    o.flags = WEFT_EXPLORE_QUIET | flags;
    o.timeline_path = timeline;
    weft_explore_result r;
    ck_assert_weft(weft_explore(&o, fn, NULL, &r), 0);
    return r;
}

static weft_explore_result explore_from(weft_fn fn, weft_strategy strategy, uint64_t seed_start, uint64_t seeds,
                                        unsigned flags, const char *timeline)
{
    return explore_on(fn, strategy, seed_start, seeds, flags, timeline, 0);
}

static weft_explore_result explore(weft_fn fn, weft_strategy strategy, uint64_t seeds, unsigned flags)
{
    return explore_from(fn, strategy, 0, seeds, flags, NULL);
}

START_TEST(lost_update_found_by_random_walk_within_1000_seeds)
{
    weft_explore_result r = explore(bank_lost_update_test, WEFT_STRATEGY_RANDOM, 1000, 0);
    ck_assert_uint_eq(r.failures, 1);
    /* It stopped at the first failure: seeds 0 to failing_seed ran. */
    ck_assert_uint_lt(r.failing_seed, 1000);
    ck_assert_uint_eq(r.runs, r.failing_seed + 1);
    ck_assert_weft(r.status, WEFT_EFAILED);
    ck_assert_msg(strstr(r.message, "assertion failed: bank_total"), "%s", r.message);
    char want[64];
    /* The line carries the worker count: a seed alone replays a different run. */
    snprintf(want, sizeof want, "weft: reproduce with WEFT_WORKERS=2 WEFT_SEED=%llu",
             (unsigned long long)r.failing_seed);
    ck_assert_msg(strstr(r.message, want), "%s", r.message);
    /* The seed replays it. */
    weft_config c = test_config(2, r.failing_seed);
    ck_assert_weft(run_in(&c, bank_lost_update_test, NULL, NULL), WEFT_EFAILED);
    weft_explore_result_free(&r);
}
END_TEST

START_TEST(lost_update_found_by_pct_within_100_runs)
{
    weft_explore_result r = explore(bank_lost_update_test, WEFT_STRATEGY_PCT, 100, 0);
    ck_assert_uint_eq(r.failures, 1);
    ck_assert_msg(strstr(r.message, "WEFT_STRATEGY=pct:2:"), "%s", r.message);
    /* The printed line replays it: PCT with that depth, step estimate and
     * seed, through the environment as a user would. */
    const char *line = strstr(r.message, "WEFT_STRATEGY=");
    char strategy[64], seed[32];
    ck_assert_int_eq(sscanf(line, "WEFT_STRATEGY=%63s WEFT_SEED=%31s", strategy, seed), 2);
    setenv("WEFT_STRATEGY", strategy, 1);
    setenv("WEFT_SEED", seed, 1);
    weft_config c = test_config(2, 0);
    c.flags = WEFT_CFG_QUIET;
    ck_assert_weft(run_in(&c, bank_lost_update_test, NULL, NULL), WEFT_EFAILED);
    unsetenv("WEFT_STRATEGY");
    unsetenv("WEFT_SEED");
    weft_explore_result_free(&r);
    /* Over many independent PCT campaigns, the bug is found in most within
     * 100 runs (the paper's bound is a floor, not an average). */
    int found = 0;
    for (uint64_t start = 0; start < 2000; start += 100) {
        r = explore_from(bank_lost_update_test, WEFT_STRATEGY_PCT, start * 7, 100, 0, NULL);
        found += r.failures > 0;
        weft_explore_result_free(&r);
    }
    ck_assert_int_ge(found, 18);
}
END_TEST

START_TEST(deadlock_reported_as_deadlock_within_1000_seeds)
{
    weft_explore_result r = explore(bank_deadlock_test, WEFT_STRATEGY_RANDOM, 1000, 0);
    ck_assert_uint_eq(r.failures, 1);
    ck_assert_weft(r.status, WEFT_EDEADLK);
    ck_assert_msg(strstr(r.message, "waits on a mutex held by task") && strstr(r.message, "(a->b)") &&
                      strstr(r.message, "(b->a)"),
                  "%s", r.message);
    weft_explore_result_free(&r);
}
END_TEST

START_TEST(shrinking_cuts_the_bank_schedule_to_a_quarter)
{
    char path[512];
    temp_file(path, sizeof path, "timeline", ".json");
    int checked = 0;
    /* Over the first few failing seeds, each shrinks to a quarter or less and
     * the shrunk schedule still fails the same way. */
    for (uint64_t start = 0; checked < 5 && start < 5000; start++) {
        weft_explore_result r =
            explore_from(bank_lost_update_test, WEFT_STRATEGY_RANDOM, start, 1, WEFT_EXPLORE_SHRINK, path);
        if (!r.failures) {
            weft_explore_result_free(&r);
            continue;
        }
        checked++;
        ck_assert_ptr_nonnull(r.shrunk);
        ck_assert_msg(r.shrunk_len * 4 <= r.schedule_len, "seed %llu: shrunk %zu of %zu decisions",
                      (unsigned long long)r.failing_seed, r.shrunk_len, r.schedule_len);
        weft_config c = test_config(2, 999);
        c.schedule = r.shrunk;
        ck_assert_weft(run_in(&c, bank_lost_update_test, NULL, NULL), WEFT_EFAILED);
        char *timeline = slurp(path, NULL);
        timeline[strcspn(timeline, "\n")] = 0; /* its first line */
        ck_assert_msg(strstr(timeline, "displayTimeUnit"), "timeline starts: %.200s", timeline);
        free(timeline);
        weft_explore_result_free(&r);
    }
    ck_assert_int_eq(checked, 5);
    unlink(path);
    char *out;
    ck_assert_weft(weft_shrink(NULL, bank_lost_update_test, NULL, "S2.", 100, &out, NULL), WEFT_EINVAL);
    ck_assert_weft(weft_shrink(NULL, NULL, NULL, "S2.", 100, &out, NULL), WEFT_EINVAL);
}
END_TEST

START_TEST(keep_going_counts_every_failing_seed)
{
    weft_explore_result r = explore(bank_lost_update_test, WEFT_STRATEGY_RANDOM, 200, WEFT_EXPLORE_KEEP_GOING);
    ck_assert_uint_eq(r.runs, 200);
    ck_assert_uint_gt(r.failures, 1);
    ck_assert_uint_lt(r.failures, 200);
    weft_explore_result_free(&r);
}
END_TEST

/* ---- jobs: seeds on several OS threads ---- */

static void *transfers_fixed(void *arg);

/* What one job reports, jobs report: a and b agree on everything but time. */
static void assert_same_exploration(const weft_explore_result *a, const weft_explore_result *b)
{
    ck_assert_uint_eq(a->runs, b->runs);
    ck_assert_uint_eq(a->failures, b->failures);
    ck_assert_uint_eq(a->distinct_failures, b->distinct_failures);
    ck_assert_uint_eq(a->distinct_traces, b->distinct_traces);
    ck_assert_int_eq(a->status, b->status);
    ck_assert_uint_eq(a->failing_seed, b->failing_seed);
    ck_assert_str_eq(a->message, b->message);
    ck_assert_str_eq(a->signature, b->signature);
    ck_assert_uint_eq(a->schedule_len, b->schedule_len);
    if (a->schedule || b->schedule)
        ck_assert_str_eq(a->schedule ? a->schedule : "", b->schedule ? b->schedule : "");
}

START_TEST(jobs_stop_at_the_same_first_failure_as_one_job)
{
    /* Seeds past the first failure fail too, and a job that runs them
     * before it hears of the first must not count them. */
    for (uint64_t start = 0; start < 3; start++) {
        weft_explore_result one = explore_on(bank_lost_update_test, WEFT_STRATEGY_RANDOM, start * 50, 1000, 0, NULL, 1);
        ck_assert_uint_eq(one.failures, 1);
        ck_assert_uint_eq(one.runs, one.failing_seed - start * 50 + 1);
        for (unsigned jobs = 2; jobs <= 4; jobs++) {
            weft_explore_result many =
                explore_on(bank_lost_update_test, WEFT_STRATEGY_RANDOM, start * 50, 1000, 0, NULL, jobs);
            assert_same_exploration(&one, &many);
            weft_explore_result_free(&many);
        }
        weft_explore_result_free(&one);
    }
}
END_TEST

START_TEST(jobs_keeping_going_count_every_run_and_failure_as_one_job)
{
    weft_explore_result one = explore_on(bank_lost_update_test, WEFT_STRATEGY_PCT, 0, 300, WEFT_EXPLORE_KEEP_GOING,
                                         NULL, 0);
    ck_assert_uint_eq(one.runs, 300);
    ck_assert_uint_gt(one.failures, 1);
    ck_assert_uint_gt(one.distinct_traces, 1);
    weft_explore_result many = explore_on(bank_lost_update_test, WEFT_STRATEGY_PCT, 0, 300, WEFT_EXPLORE_KEEP_GOING,
                                          NULL, 3);
    assert_same_exploration(&one, &many);
    weft_explore_result_free(&one);
    weft_explore_result_free(&many);
    /* A passing test: every seed runs, the same traces are seen. */
    one = explore_on(transfers_fixed, WEFT_STRATEGY_RANDOM, 7, 400, 0, NULL, 1);
    many = explore_on(transfers_fixed, WEFT_STRATEGY_RANDOM, 7, 400, 0, NULL, 2);
    ck_assert_uint_eq(one.runs, 400);
    ck_assert_uint_eq(one.failures, 0);
    assert_same_exploration(&one, &many);
    weft_explore_result_free(&one);
    weft_explore_result_free(&many);
    /* More jobs than seeds: each seed still runs once. */
    one = explore_on(bank_lost_update_test, WEFT_STRATEGY_RANDOM, 0, 3, WEFT_EXPLORE_KEEP_GOING, NULL, 1);
    many = explore_on(bank_lost_update_test, WEFT_STRATEGY_RANDOM, 0, 3, WEFT_EXPLORE_KEEP_GOING, NULL, 8);
    ck_assert_uint_eq(one.runs, 3);
    assert_same_exploration(&one, &many);
    weft_explore_result_free(&one);
    weft_explore_result_free(&many);
}
END_TEST

START_TEST(the_helper_runs_a_test_that_opts_in_on_weft_jobs_threads)
{
    char one[8192], many[8192];
    weft_config c = test_config(2, 0);
    weft_check_opts o = {&c, "jobs", 1000, "/dev/null/x", 0, 0, 0};
    setenv("WEFT_SHRINK_SECONDS", "0", 1);
    ck_assert_weft(weft_check_run(&o, bank_lost_update_test, NULL, one, sizeof one), WEFT_EFAILED);
    o.jobs = 2;
    ck_assert_weft(weft_check_run(&o, bank_lost_update_test, NULL, many, sizeof many), WEFT_EFAILED);
    ck_assert_str_eq(one, many); /* the same seed, message and replay line */
    setenv("WEFT_JOBS", "3", 1);
    ck_assert_weft(weft_check_run(&o, bank_lost_update_test, NULL, many, sizeof many), WEFT_EFAILED);
    ck_assert_str_eq(one, many);
    unsetenv("WEFT_SHRINK_SECONDS");
    static const char *const bad[] = {"0", "lots", "257"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv("WEFT_JOBS", bad[i], 1);
        ck_assert_weft(weft_check_run(&o, transfers_fixed, NULL, many, sizeof many), WEFT_EINVAL);
        ck_assert_msg(strstr(many, "WEFT_JOBS"), "%s", many);
    }
    /* A test that did not opt in ignores it. */
    o.jobs = 0;
    ck_assert_weft(weft_check_run(&o, transfers_fixed, NULL, many, sizeof many), 0);
    unsetenv("WEFT_JOBS");
}
END_TEST

START_TEST(jobs_split_a_shards_seeds_not_the_range)
{
    weft_explore_opts o;
    memset(&o, 0, sizeof o);
    o.cfg = test_config(2, 0);
    o.seeds = 600;
    o.shard_index = 1;
    o.shard_count = 3;
    o.flags = WEFT_EXPLORE_QUIET | WEFT_EXPLORE_KEEP_GOING;
    weft_explore_result one, many;
    ck_assert_weft(weft_explore(&o, bank_lost_update_test, NULL, &one), 0);
    o.jobs = 2;
    ck_assert_weft(weft_explore(&o, bank_lost_update_test, NULL, &many), 0);
    ck_assert_uint_eq(one.runs, 200);
    ck_assert_uint_gt(one.failures, 0);
    assert_same_exploration(&one, &many);
    weft_explore_result_free(&one);
    weft_explore_result_free(&many);
    o.jobs = WEFT_EXPLORE_MAX_JOBS + 1;
    ck_assert_weft(weft_explore(&o, bank_lost_update_test, NULL, &many), WEFT_EINVAL);
    ck_assert_msg(strstr(many.message, "jobs"), "%s", many.message);
}
END_TEST

/* ---- the Check helper ---- */

static void *transfers_fixed(void *arg)
{
    (void)arg;
    bank b;
    WEFT_ASSERT(bank_open(&b) == 0);
    transfer t[4] = {{0, 0, 1, 10, NULL}, {0, 1, 0, 5, NULL}, {0, 0, 1, 20, NULL}, {0, 1, 0, 7, NULL}};
    WEFT_ASSERT(bank_run(&b, t, 4, transfer_fixed) == 0);
    WEFT_ASSERT(bank_total(&b) == BANK_OPENING * BANK_ACCOUNTS);
    WEFT_ASSERT(bank_close(&b) == 0);
    return NULL;
}

START_TEST(check_helper_passes_correct_code)
{
    WEFT_CK_EXPLORE(transfers_fixed, NULL, seeds_for(500), NULL);
}
END_TEST

START_TEST(check_helper_reports_the_replay_line_and_honours_the_environment)
{
    char msg[4096];
    weft_config c = test_config(2, 0);
    ck_assert_weft(weft_check_seeds(&c, bank_lost_update_test, NULL, 1000, msg, sizeof msg), WEFT_EFAILED);
    ck_assert_msg(strstr(msg, "weft: reproduce with WEFT_WORKERS=2 WEFT_SEED="), "%s", msg);
    unsigned long long seed = strtoull(strstr(msg, "WEFT_SEED=") + 10, NULL, 10);
    char v[32];
    snprintf(v, sizeof v, "%llu", seed);
    setenv("WEFT_SEED", v, 1);
    ck_assert_weft(weft_check_seeds(&c, bank_lost_update_test, NULL, 1000, msg, sizeof msg), WEFT_EFAILED);
    ck_assert_msg(strstr(msg, v), "%s", msg);
    /* A passing seed alone passes. */
    ck_assert_weft(weft_check_seeds(&c, transfers_fixed, NULL, 1000, msg, sizeof msg), 0);
    setenv("WEFT_SEED", "nope", 1);
    ck_assert_weft(weft_check_seeds(&c, transfers_fixed, NULL, 1000, msg, sizeof msg), WEFT_EINVAL);
    ck_assert_msg(strstr(msg, "WEFT_SEED"), "%s", msg);
    unsetenv("WEFT_SEED");
    setenv("WEFT_SEEDS", "3", 1);
    ck_assert_weft(weft_check_seeds(&c, transfers_fixed, NULL, 1000, msg, sizeof msg), 0);
    unsetenv("WEFT_SEEDS");
    /* A schedule from the environment is replayed as is. */
    weft_explore_result r = explore(bank_lost_update_test, WEFT_STRATEGY_RANDOM, 1000, WEFT_EXPLORE_SHRINK);
    setenv("WEFT_SCHEDULE", r.shrunk, 1);
    ck_assert_weft(weft_check_seeds(&c, bank_lost_update_test, NULL, 1000, msg, sizeof msg), WEFT_EFAILED);
    ck_assert_msg(strstr(msg, "WEFT_SCHEDULE=S2."), "%s", msg);
    setenv("WEFT_SCHEDULE", "S2.!!", 1);
    ck_assert_weft(weft_check_seeds(&c, bank_lost_update_test, NULL, 1000, msg, sizeof msg), WEFT_EINVAL);
    ck_assert_msg(strstr(msg, "WEFT_SCHEDULE"), "%s", msg);
    unsetenv("WEFT_SCHEDULE");
    weft_explore_result_free(&r);
    /* The exhaustive strategy through the environment. */
    setenv("WEFT_STRATEGY", "exhaustive", 1);
    ck_assert_weft(weft_check_seeds(&c, bank_lost_update_test, NULL, 1000, msg, sizeof msg), WEFT_EFAILED);
    ck_assert_msg(strstr(msg, "WEFT_SCHEDULE="), "%s", msg);
    unsetenv("WEFT_STRATEGY");
}
END_TEST

/* A test that depends on state outside the runtime: it behaves differently
 * the second time it runs, which the self-check must catch. */
static int g_calls;

static void *nondeterministic(void *arg)
{
    (void)arg;
    if (g_calls++ % 2)
        weft_yield();
    weft_sleep(5);
    return NULL;
}

START_TEST(the_determinism_self_check_names_the_first_difference)
{
    char msg[4096];
    weft_config c = test_config(1, 0);
    g_calls = 0;
    ck_assert_weft(weft_check_seeds(&c, nondeterministic, NULL, 10, msg, sizeof msg), WEFT_EFAILED);
    ck_assert_msg(strstr(msg, "nondeterminism") && strstr(msg, "first run:") && strstr(msg, "second run:"), "%s",
                  msg);
    ck_assert_msg(strstr(msg, "yield") || strstr(msg, "park"), "%s", msg);
}
END_TEST

/* ---- the Check helper's whole workflow ---- */

/* A temporary directory for timelines; the test removes what it wrote. */
static void temp_dir(char *buf, size_t len)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(buf, len, "%s/weft-timelines-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(buf));
}

static void remove_timelines(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.json", dir, name);
    unlink(path);
    snprintf(path, sizeof path, "%s/%s.html", dir, name);
    unlink(path);
    rmdir(dir);
}

START_TEST(a_failing_check_test_prints_seed_shrunk_schedule_and_timelines)
{
    char dir[512], msg[8192];
    temp_dir(dir, sizeof dir);
    weft_config c = test_config(2, 0);
    weft_check_opts o;
    memset(&o, 0, sizeof o);
    o.cfg = &c;
    o.name = "transfers_conserve_money";
    o.timeline = dir;
    ck_assert_weft(weft_check_run(&o, bank_lost_update_test, NULL, msg, sizeof msg), WEFT_EFAILED);
    /* What failed, the seed line, the shrunk line, where the timeline is. */
    ck_assert_msg(!strncmp(msg, "assertion failed: bank_total(&b) == BANK_OPENING * BANK_ACCOUNTS (", 66), "%s", msg);
    ck_assert_msg(strstr(msg, "\nweft: reproduce with WEFT_TEST=transfers_conserve_money WEFT_WORKERS=2 WEFT_SEED="),
                  "%s", msg);
    ck_assert_msg(strstr(msg, "\nweft: shrunk from ") &&
                      strstr(msg, "reproduce with WEFT_TEST=transfers_conserve_money WEFT_WORKERS=2 WEFT_SCHEDULE=S2."),
                  "%s", msg);
    char html[1024], json[1024], want[2200];
    snprintf(html, sizeof html, "%s/transfers_conserve_money.html", dir);
    snprintf(json, sizeof json, "%s/transfers_conserve_money.json", dir);
    snprintf(want, sizeof want, "\nweft: timeline: %s (open in a browser), %s (for https://ui.perfetto.dev)", html,
             json);
    ck_assert_msg(strstr(msg, want), "%s", msg);
    /* The timeline is the shrunk run's: it fails at its last step. */
    char *page = slurp(html, NULL);
    ck_assert_msg(strstr(page, "<b>The run failed at step"), "%.1000s", page);
    free(page);
    free(slurp(json, NULL));
    remove_timelines(dir, "transfers_conserve_money");
}
END_TEST

static int g_body_runs;

static void *counts_runs(void *arg)
{
    (void)arg;
    g_body_runs++;
    weft_yield();
    return NULL;
}

START_TEST(replaying_one_test_leaves_the_others_alone)
{
    char msg[8192];
    weft_config c = test_config(2, 0);
    weft_check_opts lost = {&c, "lost", 1000, "/dev/null/x", 0, 0, 0};
    weft_check_opts other = {&c, "other", 50, "/dev/null/x", 0, 0, 0};
    ck_assert_weft(weft_check_run(&lost, bank_lost_update_test, NULL, msg, sizeof msg), WEFT_EFAILED);
    char vars[4096];
    line_vars(msg, "weft: shrunk from", vars, sizeof vars);
    line_env(vars, 1); /* WEFT_TEST=lost WEFT_WORKERS=2 WEFT_SCHEDULE=… */
    /* The named test replays the schedule… */
    ck_assert_weft(weft_check_run(&lost, bank_lost_update_test, NULL, msg, sizeof msg), WEFT_EFAILED);
    ck_assert_msg(strstr(msg, vars), "%s", msg);
    /* …and another test of the binary runs as its code says: all its seeds,
     * not the other test's schedule (which would not fit it). */
    g_body_runs = 0;
    ck_assert_weft(weft_check_run(&other, counts_runs, NULL, msg, sizeof msg), 0);
    ck_assert_int_eq(g_body_runs, 3 + 50); /* the determinism check (twice new, the second reset), then 50 seeds */
    /* A helper with no name cannot be the one named. */
    ck_assert_weft(weft_check_seeds(&c, transfers_fixed, NULL, 20, msg, sizeof msg), 0);
    line_env(vars, 0);
    /* Without WEFT_TEST the variables steer every test, as before. */
    setenv("WEFT_SEED", "3", 1);
    g_body_runs = 0;
    ck_assert_weft(weft_check_run(&other, counts_runs, NULL, msg, sizeof msg), 0);
    ck_assert_int_eq(g_body_runs, 3 + 1); /* seed 3: checked three times, then run */
    unsetenv("WEFT_SEED");
}
END_TEST

static int g_simulated;

static void *notes_the_backend(void *arg)
{
    (void)arg;
    g_body_runs++;
    g_simulated = weft_in_simulation();
    return NULL;
}

START_TEST(weft_mode_threaded_runs_the_body_once_on_the_real_backend)
{
    char msg[4096];
    weft_check_opts o;
    memset(&o, 0, sizeof o);
    o.name = "threaded";
    setenv("WEFT_MODE", "threaded", 1);
    g_body_runs = 0;
    g_simulated = -1;
    ck_assert_weft(weft_check_run(&o, notes_the_backend, NULL, msg, sizeof msg), 0);
    ck_assert_int_eq(g_body_runs, 1);
    ck_assert_int_eq(g_simulated, 0);
    /* Named for another test, it leaves this one simulated. */
    setenv("WEFT_TEST", "another", 1);
    g_body_runs = 0;
    ck_assert_weft(weft_check_run(&o, notes_the_backend, NULL, msg, sizeof msg), 0);
    ck_assert_int_eq(g_simulated, 1);
    ck_assert_int_gt(g_body_runs, 1);
    unsetenv("WEFT_TEST");
    unsetenv("WEFT_MODE");
}
END_TEST

START_TEST(weft_trace_with_one_seed_draws_that_run)
{
    char dir[512], msg[4096], path[1024];
    temp_dir(dir, sizeof dir);
    char trace[600];
    snprintf(trace, sizeof trace, "%s/", dir);
    setenv("WEFT_TRACE", trace, 1);
    setenv("WEFT_SEED", "5", 1);
    weft_config c = test_config(2, 0);
    weft_check_opts o;
    memset(&o, 0, sizeof o);
    o.cfg = &c;
    o.name = "fixed";
    ck_assert_weft(weft_check_run(&o, transfers_fixed, NULL, msg, sizeof msg), 0);
    unsetenv("WEFT_TRACE");
    unsetenv("WEFT_SEED");
    snprintf(path, sizeof path, "weft: timeline: %s/fixed.html", dir);
    ck_assert_msg(strstr(msg, path), "%s", msg);
    snprintf(path, sizeof path, "%s/fixed.json", dir);
    char *json = slurp(path, NULL);
    ck_assert_msg(strstr(json, "\"seed\":\"5\""), "%.300s", json);
    free(json);
    remove_timelines(dir, "fixed");
}
END_TEST

START_TEST(the_helper_can_skip_shrinking_and_refuses_bad_values)
{
    char msg[8192];
    weft_config c = test_config(2, 0);
    weft_check_opts o = {&c, "noshrink", 1000, "/dev/null/x", 0, 0, 0};
    setenv("WEFT_SHRINK_SECONDS", "0", 1);
    ck_assert_weft(weft_check_run(&o, bank_lost_update_test, NULL, msg, sizeof msg), WEFT_EFAILED);
    ck_assert_ptr_null(strstr(msg, "shrunk"));
    static const char *const bad[][2] = {{"WEFT_SHRINK_SECONDS", "soon"},  {"WEFT_TIME_BUDGET", "-1"},
                                         {"WEFT_RUN_TIMEOUT", "1s"},       {"WEFT_CHECK_DETERMINISM", "2"},
                                         {"WEFT_SEEDS", "many"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv(bad[i][0], bad[i][1], 1);
        ck_assert_weft(weft_check_run(&o, transfers_fixed, NULL, msg, sizeof msg), WEFT_EINVAL);
        ck_assert_msg(strstr(msg, bad[i][0]), "%s", msg);
        unsetenv(bad[i][0]);
    }
    /* A schedule that does not fit the test (its first decision has 5
     * choices; the test's have 2) is refused once, without a second
     * (truncated) line to replay it. */
    setenv("WEFT_SCHEDULE", "S2.AgUD", 1);
    ck_assert_weft(weft_check_run(&o, counts_runs, NULL, msg, sizeof msg), WEFT_ESCHEDULE);
    unsetenv("WEFT_SCHEDULE");
    ck_assert_msg(strstr(msg, "does not fit") && !strstr(msg, "reproduce with"), "%s", msg);
}
END_TEST

START_TEST(explore_bad_input_and_time_budget)
{
    weft_explore_result r;
    weft_explore_opts o;
    memset(&o, 0, sizeof o);
    ck_assert_weft(weft_explore(NULL, transfers_fixed, NULL, &r), WEFT_EINVAL);
    ck_assert_weft(weft_explore(&o, NULL, NULL, &r), WEFT_EINVAL);
    ck_assert_weft(weft_explore(&o, transfers_fixed, NULL, NULL), WEFT_EINVAL);
    o.cfg.workers = 2;
    o.seeds = 100000000;
    o.time_budget_s = 0.2;
    o.flags = WEFT_EXPLORE_QUIET;
    ck_assert_weft(weft_explore(&o, transfers_fixed, NULL, &r), 0);
    ck_assert_uint_lt(r.runs, o.seeds);
    /* It stopped because the budget was spent (no wall-clock upper bound:
     * a sanitizer build may take any time per run). */
    ck_assert_msg(r.elapsed_s >= o.time_budget_s, "stopped after %.3f s of a %.1f s budget", r.elapsed_s,
                  o.time_budget_s);
    weft_explore_result_free(&r);
    weft_explore_result_free(NULL);
}
END_TEST

Suite *suite_explore(void)
{
    Suite *s = suite_create("explore");
    TCase *tc = tcase_create("explore");
    tcase_add_test(tc, lost_update_found_by_random_walk_within_1000_seeds);
    tcase_add_test(tc, lost_update_found_by_pct_within_100_runs);
    tcase_add_test(tc, deadlock_reported_as_deadlock_within_1000_seeds);
    tcase_add_test(tc, shrinking_cuts_the_bank_schedule_to_a_quarter);
    tcase_add_test(tc, keep_going_counts_every_failing_seed);
    tcase_add_test(tc, check_helper_passes_correct_code);
    tcase_add_test(tc, check_helper_reports_the_replay_line_and_honours_the_environment);
    tcase_add_test(tc, the_determinism_self_check_names_the_first_difference);
    tcase_add_test(tc, a_failing_check_test_prints_seed_shrunk_schedule_and_timelines);
    tcase_add_test(tc, replaying_one_test_leaves_the_others_alone);
    tcase_add_test(tc, weft_mode_threaded_runs_the_body_once_on_the_real_backend);
    tcase_add_test(tc, weft_trace_with_one_seed_draws_that_run);
    tcase_add_test(tc, the_helper_can_skip_shrinking_and_refuses_bad_values);
    tcase_add_test(tc, explore_bad_input_and_time_budget);
    suite_add_tcase(s, tc);
    /* Its own case: the one helgrind runs (scons helgrind), these runs being
     * on several OS threads. */
    TCase *jobs = tcase_create("jobs");
    tcase_add_test(jobs, jobs_stop_at_the_same_first_failure_as_one_job);
    tcase_add_test(jobs, jobs_keeping_going_count_every_run_and_failure_as_one_job);
    tcase_add_test(jobs, jobs_split_a_shards_seeds_not_the_range);
    tcase_add_test(jobs, the_helper_runs_a_test_that_opts_in_on_weft_jobs_threads);
    suite_add_tcase(s, jobs);
    return s;
}
