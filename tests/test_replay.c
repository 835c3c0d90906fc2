/* test_replay.c — the replay line always replays: for every knob that shapes
 * a run, a failure found with the knob set (in the environment, as a user
 * sets it) replays from the printed line alone, by seed and by shrunk
 * schedule, with the knob no longer in the environment; and without the
 * knob's variable the same line means a different run, so the line is what
 * carries it. Also the new user's cases: 4 workers, pct:3:200, keep-going. */
#define _GNU_SOURCE
#include "../examples/bank.h"
#include "replay_lines.h"
#include "support.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int is_failure(int r)
{
    return r == WEFT_EFAILED || r == WEFT_EDEADLK || r == WEFT_ELIVELOCK;
}

/* ---- bodies that fail only because of a knob ---- */

/* 32 fault sites, each visited once: with WEFT_BUGGIFY_PERMILLE=1000 every
 * one is enabled (and fires one visit in four); at the default 250 most are
 * not, so the same seed runs differently. */
static void *many_fault_sites(void *arg)
{
    (void)arg;
    int n = 0;
    n += WEFT_BUGGIFY();
    n += WEFT_BUGGIFY();
    n += WEFT_BUGGIFY();
    n += WEFT_BUGGIFY();
    n += WEFT_BUGGIFY();
    n += WEFT_BUGGIFY();
    n += WEFT_BUGGIFY();
    n += WEFT_BUGGIFY();
    n += WEFT_BUGGIFY();
    n += WEFT_BUGGIFY();
    n += WEFT_BUGGIFY();
    n += WEFT_BUGGIFY();
    n += WEFT_BUGGIFY();
    n += WEFT_BUGGIFY();
    n += WEFT_BUGGIFY();
    n += WEFT_BUGGIFY();
    n += WEFT_BUGGIFY();
    n += WEFT_BUGGIFY();
    n += WEFT_BUGGIFY();
    n += WEFT_BUGGIFY();
    n += WEFT_BUGGIFY();
    n += WEFT_BUGGIFY();
    n += WEFT_BUGGIFY();
    n += WEFT_BUGGIFY();
    n += WEFT_BUGGIFY();
    n += WEFT_BUGGIFY();
    n += WEFT_BUGGIFY();
    n += WEFT_BUGGIFY();
    n += WEFT_BUGGIFY();
    n += WEFT_BUGGIFY();
    n += WEFT_BUGGIFY();
    n += WEFT_BUGGIFY();
    weft_yield();
    WEFT_ASSERT(n < 9);
    return NULL;
}

static void *noop(void *arg)
{
    return arg;
}

/* Makes channels: fails when an allocation fails (after freeing the ones
 * it made: a failed run abandons the task where it stands). */
static void *makes_channels(void *arg)
{
    (void)arg;
    weft_chan *ch[6];
    int made = 0;
    for (int i = 0; i < 6; i++)
        made += weft_chan_new(&ch[made], sizeof(int), 4) == 0;
    for (int i = 0; i < made; i++)
        weft_chan_free(ch[i]);
    WEFT_ASSERT(made == 6);
    return NULL;
}

/* Yields between two tasks and asserts that no virtual time passed: true
 * unless steps cost some. */
static void *yields_a_while(void *arg)
{
    (void)arg;
    weft_task *t;
    WEFT_ASSERT(weft_spawn(&t, noop, NULL) == 0);
    for (int i = 0; i < 50; i++)
        weft_yield();
    WEFT_ASSERT(weft_join(t, NULL) == 0);
    WEFT_ASSERT(weft_now() < 20000);
    return NULL;
}

/* 300 yields: a livelock under a step budget of 100. */
static void *yields_300(void *arg)
{
    (void)arg;
    return yields_times((void *)(uintptr_t)300);
}

/* The bank's lost update with plain tasks instead of a scope: a replay that
 * is refused part-way (a schedule of 4 workers on 2) abandons the tasks
 * where they stand, and a scope's books would be left behind. */
static void *racy_transfer_task(void *arg)
{
    return (void *)(intptr_t)transfer_racy(arg);
}

static void *lost_update_spawned(void *arg)
{
    (void)arg;
    bank b;
    WEFT_ASSERT(bank_open(&b) == 0);
    transfer t[4] = {{&b, 0, 1, 10, "a->b 10"}, {&b, 1, 0, 5, "b->a 5"}, {&b, 0, 1, 20, "a->b 20"},
                     {&b, 1, 0, 7, "b->a 7"}};
    weft_task *task[4];
    for (int i = 0; i < 4; i++) {
        weft_spawn_opts o = {.name = t[i].name};
        WEFT_ASSERT(weft_spawn_ex(&task[i], racy_transfer_task, &t[i], &o) == 0);
    }
    for (int i = 0; i < 4; i++)
        WEFT_ASSERT(weft_join(task[i], NULL) == 0);
    WEFT_ASSERT(bank_total(&b) == BANK_OPENING * BANK_ACCOUNTS);
    WEFT_ASSERT(bank_close(&b) == 0);
    return NULL;
}

typedef struct knob {
    const char *var, *value;
    weft_fn body;
    /* A schedule is exact, so the strategy that found it is no part of its
     * run: only a seed line carries it. */
    int in_schedule_line;
    /* Whether the shrunk schedule's run still depends on the knob. A
     * shrunk buggify schedule draws 0 for every site, which enables the
     * site at any chance: the line carries the knob, but cannot show it
     * matters. */
    int schedule_depends;
} knob;

static const knob knobs[] = {
    {"WEFT_WORKERS", "4", lost_update_spawned, 1, 1},
    {"WEFT_STRATEGY", "pct:3:200", bank_lost_update_test, 0, 0},
    {"WEFT_BUGGIFY_PERMILLE", "1000", many_fault_sites, 1, 0},
    {"WEFT_FAIL_ALLOC_NTH", "9", makes_channels, 1, 1},
    {"WEFT_FAIL_ALLOC_PERMILLE", "300", makes_channels, 1, 1},
    {"WEFT_STEP_COST_NS", "1000", yields_a_while, 1, 1},
    {"WEFT_STEP_BUDGET", "100", yields_300, 1, 1},
};

/* The program under test configures 2 virtual workers in code (as
 * WEFT_CK_EXPLORE does); everything else comes from the environment. */
static weft_config program_config(void)
{
    weft_config c;
    memset(&c, 0, sizeof c);
    c.workers = 2;
    c.flags = WEFT_CFG_QUIET; /* the environment applies */
    return c;
}

/* Run body as the program would with the environment as it is now:
 * returns its status, and its trace hash in *hash. */
static int run_from_env(weft_fn body, uint64_t *hash)
{
    weft_config c = program_config();
    weft_rt *rt;
    ck_assert_weft(weft_rt_new(&rt, &c), 0);
    int r = weft_rt_block_on(rt, body, NULL, NULL);
    *hash = weft_rt_trace_hash(rt);
    weft_rt_free(rt);
    return r;
}

static void check_line(const knob *k, const char *vars, int names_knob, int depends, const char *first_line)
{
    char value[128];
    /* The line names the knob, with its value as the run used it. */
    if (names_knob)
        ck_assert_msg(line_value(vars, k->var, value, sizeof value) && !strcmp(value, k->value),
                      "%s=%s is not in the line: %s", k->var, k->value, vars);
    /* The run the line describes, with the knob in the environment. */
    ck_assert_int_eq(setenv(k->var, k->value, 1), 0);
    line_env(vars, 1);
    uint64_t want;
    int status = run_from_env(k->body, &want);
    line_env(vars, 0);
    unsetenv(k->var);
    ck_assert_msg(status != 0, "%s: the line does not fail even with the knob set: %s", k->var, vars);
    /* The line alone, the knob no longer in the environment. */
    ck_assert_ptr_null(getenv(k->var));
    line_env(vars, 1);
    uint64_t got;
    ck_assert_weft(run_from_env(k->body, &got), status);
    ck_assert_msg(got == want, "%s: the line alone replays a different run: %s", k->var, vars);
    /* The Check helper replays it too, through its own test's name. */
    char msg[8192];
    weft_check_opts o;
    memset(&o, 0, sizeof o);
    o.name = "knobs";
    o.timeline = "/dev/null/none.json"; /* nowhere: a failure to write is reported, not fatal */
    ck_assert_weft(weft_check_run(&o, k->body, NULL, msg, sizeof msg), status);
    ck_assert_msg(!strncmp(msg, first_line, strlen(first_line)), "%s: replayed as\n%s\nnot\n%s", k->var, msg,
                  first_line);
    line_env(vars, 0);
    /* Without the knob's own variable the line is another run: the line is
     * what carries the knob. */
    if (depends) {
        line_env(vars, 1);
        unsetenv(k->var);
        uint64_t other;
        run_from_env(k->body, &other);
        line_env(vars, 0);
        ck_assert_msg(other != want, "%s: the run does not depend on the knob, so this proves nothing: %s", k->var,
                      vars);
    }
}

START_TEST(every_knob_replays_from_the_printed_line_alone)
{
    const knob *k = &knobs[_i];
    char msg[8192];
    weft_check_opts o;
    memset(&o, 0, sizeof o);
    o.name = "knobs";
    o.seeds = 200;
    o.timeline = "/dev/null/none.json";
    o.shrink_budget = 300;
    ck_assert_int_eq(setenv(k->var, k->value, 1), 0);
    int r = weft_check_run(&o, k->body, NULL, msg, sizeof msg);
    unsetenv(k->var);
    ck_assert_msg(is_failure(r), "%s=%s: no failure found: %d (%s) %s", k->var, k->value, r,
                  weft_strerror(r), msg);
    char first[512];
    snprintf(first, sizeof first, "%.*s", (int)strcspn(msg, "\n"), msg);
    char seed_line[8192], schedule_line[8192];
    line_vars(msg, "weft: reproduce with ", seed_line, sizeof seed_line);
    ck_assert_msg(strstr(seed_line, "WEFT_TEST=knobs ") == seed_line, "%s", seed_line);
    ck_assert_msg(strstr(seed_line, "WEFT_SEED="), "%s", seed_line);
    check_line(k, seed_line, 1, 1, first);
    line_vars(msg, "weft: shrunk from", schedule_line, sizeof schedule_line);
    ck_assert_msg(strstr(schedule_line, "WEFT_SCHEDULE=S2."), "%s", schedule_line);
    check_line(k, schedule_line, k->in_schedule_line, k->schedule_depends, first);
}
END_TEST

/* ---- the new user's cases ---- */

START_TEST(keep_going_reports_and_draws_the_first_failure)
{
    /* The first failing seed, found without keep-going. */
    weft_explore_opts o;
    memset(&o, 0, sizeof o);
    o.cfg = test_config(2, 0);
    o.seeds = 2000;
    o.flags = WEFT_EXPLORE_QUIET;
    weft_explore_result first;
    ck_assert_weft(weft_explore(&o, bank_lost_update_test, NULL, &first), 0);
    ck_assert_uint_eq(first.failures, 1);
    weft_explore_result_free(&first);
    /* With keep-going over all 2000: the message, the line, the timeline
     * and stderr name that seed, not the last run. */
    char json[512];
    temp_file(json, sizeof json, "keepgoing", ".json");
    o.seeds = seeds_for(2000);
    o.flags = WEFT_EXPLORE_KEEP_GOING | WEFT_EXPLORE_SHRINK;
    o.timeline_path = json;
    int fds[2], saved = dup(2);
    ck_assert_int_eq(pipe(fds), 0);
    dup2(fds[1], 2);
    weft_explore_result all;
    int r = weft_explore(&o, bank_lost_update_test, NULL, &all);
    dup2(saved, 2);
    close(fds[1]);
    close(saved);
    char err[16384];
    ssize_t n = read(fds[0], err, sizeof err - 1);
    close(fds[0]);
    err[n > 0 ? n : 0] = 0;
    ck_assert_weft(r, 0);
    ck_assert_uint_eq(all.runs, o.seeds);
    ck_assert_uint_gt(all.failures, 1);
    ck_assert_uint_eq(all.failing_seed, first.failing_seed);
    char want[128];
    snprintf(want, sizeof want, "weft: seed %llu failed (the first of %llu failing runs in %llu)",
             (unsigned long long)first.failing_seed, (unsigned long long)all.failures, (unsigned long long)all.runs);
    ck_assert_msg(strstr(err, want), "stderr: %s", err);
    snprintf(want, sizeof want, "WEFT_WORKERS=2 WEFT_SEED=%llu\n", (unsigned long long)first.failing_seed);
    ck_assert_msg(strstr(all.message, want), "%s", all.message);
    char *timeline = slurp(json, NULL);
    snprintf(want, sizeof want, "\"seed\":\"%llu\"", (unsigned long long)first.failing_seed);
    ck_assert_msg(strstr(timeline, want), "the timeline names another seed: %.300s", timeline);
    free(timeline);
    char html[600];
    snprintf(html, sizeof html, "%.*s.html", (int)(strlen(json) - 5), json);
    unlink(json);
    unlink(html);
    weft_explore_result_free(&all);
}
END_TEST

START_TEST(pct_parameters_given_are_the_parameters_printed)
{
    weft_explore_opts o;
    memset(&o, 0, sizeof o);
    o.cfg = test_config(2, 0);
    o.cfg.sim.strategy = WEFT_STRATEGY_PCT;
    o.cfg.sim.pct_depth = 3;
    o.cfg.sim.pct_steps = 200;
    o.seeds = 500;
    o.flags = WEFT_EXPLORE_QUIET;
    weft_explore_result r;
    ck_assert_weft(weft_explore(&o, bank_lost_update_test, NULL, &r), 0);
    ck_assert_uint_eq(r.failures, 1);
    char want[96];
    snprintf(want, sizeof want, "WEFT_WORKERS=2 WEFT_STRATEGY=pct:3:200 WEFT_SEED=%llu",
             (unsigned long long)r.failing_seed);
    ck_assert_msg(strstr(r.message, want), "%s", r.message);
    weft_explore_result_free(&r);
    /* Left to the explorer, the step estimate is measured once, from the
     * first 16 seeds of the range, and printed as used. */
    o.cfg.sim.pct_steps = 0;
    ck_assert_weft(weft_explore(&o, bank_lost_update_test, NULL, &r), 0);
    ck_assert_uint_eq(r.failures, 1);
    char vars[512], strategy[64];
    line_vars(r.message, "weft: reproduce with ", vars, sizeof vars);
    ck_assert_ptr_nonnull(line_value(vars, "WEFT_STRATEGY", strategy, sizeof strategy));
    ck_assert_msg(!strncmp(strategy, "pct:3:", 6) && strcmp(strategy, "pct:3:1000"), "%s", vars);
    line_env(vars, 1);
    uint64_t h;
    ck_assert_weft(run_from_env(bank_lost_update_test, &h), WEFT_EFAILED);
    line_env(vars, 0);
    weft_explore_result_free(&r);
}
END_TEST

/* A crash (here: the watchdog's report) prints the same line, knobs and
 * test name included. */
static void *spins_without_a_point(void *arg)
{
    (void)arg;
    for (volatile unsigned long i = 0;; i++) {
    }
    return NULL;
}

START_TEST(a_crash_report_carries_the_knobs)
{
    if (under_valgrind() || under_tsan())
        return; /* they hold the watchdog's signal back from a thread that spins */
    weft_config c = test_config(2, 7);
    c.sim.step_cost_ns = 5;
    c.sim.buggify_permille = 10;
    c.sim.watchdog_ms = 50;
    char err[4096];
    int sig = run_in_child(&c, spins_without_a_point, NULL, err, sizeof err);
    ck_assert_int_eq(sig, SIGABRT);
    ck_assert_msg(strstr(err, "weft: reproduce with WEFT_WORKERS=2 WEFT_BUGGIFY_PERMILLE=10 WEFT_STEP_COST_NS=5 "
                              "WEFT_SEED=7"),
                  "stderr: %s", err);
}
END_TEST

START_TEST(bad_knob_values_are_refused_by_name)
{
    static const char *const bad[][2] = {
        {"WEFT_BUGGIFY_PERMILLE", "0"},    {"WEFT_BUGGIFY_PERMILLE", "1001"}, {"WEFT_FAIL_ALLOC_NTH", "0"},
        {"WEFT_FAIL_ALLOC_PERMILLE", "x"}, {"WEFT_STEP_COST_NS", "-1"},       {"WEFT_STEP_BUDGET", "0"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv(bad[i][0], bad[i][1], 1);
        weft_config c = program_config();
        weft_rt *rt = NULL;
        ck_assert_msg(weft_rt_new(&rt, &c) == WEFT_EINVAL, "%s=%s was accepted", bad[i][0], bad[i][1]);
        char msg[1024];
        ck_assert_weft(weft_check_seeds(&c, noop, NULL, 1, msg, sizeof msg), WEFT_EINVAL);
        ck_assert_msg(strstr(msg, bad[i][0]), "%s", msg);
        unsetenv(bad[i][0]);
    }
}
END_TEST

Suite *suite_replay(void)
{
    Suite *s = suite_create("replay");
    TCase *tc = tcase_create("replay");
    tcase_add_loop_test(tc, every_knob_replays_from_the_printed_line_alone, 0, (int)(sizeof knobs / sizeof knobs[0]));
    tcase_add_test(tc, keep_going_reports_and_draws_the_first_failure);
    tcase_add_test(tc, pct_parameters_given_are_the_parameters_printed);
    tcase_add_test(tc, a_crash_report_carries_the_knobs);
    tcase_add_test(tc, bad_knob_values_are_refused_by_name);
    suite_add_tcase(s, tc);
    return s;
}
