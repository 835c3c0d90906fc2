/* test_selfcheck.c — the determinism self-check catches what escapes the
 * simulator, under every strategy: a global's state one run leaves for the
 * next (caught in-process), rand() (the escape detector stops the first
 * run that calls it, before any comparison), the process id (the same within a process:
 * caught by running again in a fresh one) and a malloc address (caught in
 * one or the other, as the allocator and ASLR have it); exhaustive search
 * notices a choice tree that moves; a failed check names the runs it made;
 * WEFT_CHECK_DETERMINISM respects WEFT_CFG_NO_ENV. */
#define _GNU_SOURCE
#include "support.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Each bit of x becomes a sleep of 1 or 2 ns: any change of x changes the
 * trace (the clock's jumps), whatever the interleaving. Two workers, so the
 * strategies have choices to make. */
static void sleep_bits(uint64_t x, int bits)
{
    for (int i = 0; i < bits; i++)
        weft_sleep(1 + ((x >> i) & 1));
}

static void *pair(weft_fn fn)
{
    weft_task *t = spawn_ok(fn, NULL);
    weft_yield();
    weft_join(t, NULL);
    return NULL;
}

/* A generator kept in a global, as a program's own PRNG would be: each run
 * starts where the last one left it. */
static uint64_t leaked_state = 1;

static void *uses_leaked_state_child(void *arg)
{
    (void)arg;
    leaked_state = leaked_state * 6364136223846793005ull + 1442695040888963407ull;
    sleep_bits(leaked_state >> 33, 16);
    return NULL;
}

static void *uses_leaked_state(void *arg)
{
    (void)arg;
    return pair(uses_leaked_state_child);
}

static void *uses_pid_child(void *arg)
{
    (void)arg;
    sleep_bits((uint64_t)getpid(), 22);
    return NULL;
}

static void *uses_pid(void *arg)
{
    (void)arg;
    return pair(uses_pid_child);
}

static void *uses_address_child(void *arg)
{
    (void)arg;
    char *p = malloc(40);
    uintptr_t a = (uintptr_t)p;
    free(p);
    /* Fold the address so that a move of its page (ASLR) or of its slot
     * (a quarantine) shows. */
    sleep_bits(a ^ (a >> 12) ^ (a >> 24) ^ (a >> 36), 12);
    return NULL;
}

static void *uses_address(void *arg)
{
    (void)arg;
    return pair(uses_address_child);
}

static const weft_strategy strategies[] = {WEFT_STRATEGY_RANDOM, WEFT_STRATEGY_PCT, WEFT_STRATEGY_EXHAUSTIVE};
static const char *const strategy_names[] = {"random", "pct", "exhaustive"};

/* The re-executed test binary runs only this suite's case, up to the same
 * exploration: give each exploration its own name. */
static weft_explore_result check(weft_fn fn, int strategy, const char *what, unsigned flags)
{
    setenv("CK_RUN_SUITE", "selfcheck", 1);
    setenv("CK_RUN_CASE", "selfcheck", 1);
    char name[96];
    snprintf(name, sizeof name, "%s-%s", what, strategy_names[strategy]);
    weft_explore_opts o;
    memset(&o, 0, sizeof o);
    o.cfg = test_config(2, 0);
    o.cfg.sim.strategy = strategies[strategy];
    o.seeds = 20;
    o.name = name;
    o.flags = WEFT_EXPLORE_QUIET | flags;
    weft_explore_result r;
    ck_assert_weft(weft_explore(&o, fn, NULL, &r), 0);
    return r;
}

static int aslr_on(void)
{
    FILE *f = fopen("/proc/sys/kernel/randomize_va_space", "r");
    int v = 0;
    if (f) {
        if (fscanf(f, "%d", &v) != 1)
            v = 0;
        fclose(f);
    }
    return v != 0;
}

START_TEST(leaked_global_state_is_caught_in_process_under_every_strategy)
{
    weft_explore_result r = check(uses_leaked_state, _i, "leaked", WEFT_EXPLORE_CHECK_DETERMINISM);
    ck_assert_weft(r.status, WEFT_EFAILED);
    ck_assert_uint_eq(r.failures, 1);
    ck_assert_uint_eq(r.runs, 2); /* the two runs it compared, not 0 */
    ck_assert_msg(strstr(r.message, "nondeterminism: ") && strstr(r.message, "ran twice in this process") &&
                      strstr(r.message, "first run:") && strstr(r.message, "clock jumps"),
                  "%s", r.message);
    ck_assert_str_eq(r.signature, "nondeterminism");
    weft_explore_result_free(&r);
}
END_TEST

static void *uses_rand_child(void *arg)
{
    (void)arg;
    sleep_bits((uint64_t)rand(), 16);
    return NULL;
}

static void *uses_rand(void *arg)
{
    (void)arg;
    return pair(uses_rand_child);
}

/* rand() is caught before any comparison of runs: the escape detector fails
 * the first run that calls it, naming the call and what to use instead. */
START_TEST(rand_is_caught_under_every_strategy)
{
    weft_explore_result r = check(uses_rand, _i, "rand", WEFT_EXPLORE_CHECK_DETERMINISM);
    ck_assert_weft(r.status, WEFT_EFAILED);
    ck_assert_uint_eq(r.failures, 1);
    ck_assert_uint_eq(r.runs, 1);
    ck_assert_msg(strstr(r.message, "escape: ") && strstr(r.message, "called rand") && strstr(r.message, "weft_rand()"),
                  "%s", r.message);
    weft_explore_result_free(&r);
}
END_TEST

START_TEST(the_process_id_is_caught_across_processes_under_every_strategy)
{
    if (under_valgrind()) {
        fprintf(stderr, "skipped: a re-executed process runs valgrind itself, not the tests\n");
        return;
    }
    /* In one process the pid never changes: the in-process check passes. */
    weft_explore_result r = check(uses_pid, _i, "pid-here", WEFT_EXPLORE_CHECK_DETERMINISM);
    ck_assert_uint_eq(r.failures, 0);
    weft_explore_result_free(&r);
    r = check(uses_pid, _i, "pid", WEFT_EXPLORE_CHECK_PROCESS);
    ck_assert_weft(r.status, WEFT_EFAILED);
    ck_assert_uint_eq(r.runs, 4); /* twice new, the second reset, and the fresh process */
    ck_assert_msg(strstr(r.message, "ran in this process and in a fresh one") &&
                      strstr(r.message, "this process:") && strstr(r.message, "fresh process:"),
                  "%s", r.message);
    weft_explore_result_free(&r);
}
END_TEST

START_TEST(a_malloc_address_is_caught_under_every_strategy)
{
    if (under_valgrind()) {
        fprintf(stderr, "skipped: a re-executed process runs valgrind itself, not the tests\n");
        return;
    }
    if (!aslr_on() && !under_asan()) {
        /* Without ASLR the address is the same in every process, and the
         * run really is deterministic: nothing to catch. */
        fprintf(stderr, "skipped: address space randomisation is off here\n");
        return;
    }
    weft_explore_result r = check(uses_address, _i, "address", WEFT_EXPLORE_CHECK_PROCESS);
    ck_assert_weft(r.status, WEFT_EFAILED);
    ck_assert_msg(strstr(r.message, "nondeterminism: "), "%s", r.message);
    ck_assert_uint_ge(r.runs, 2);
    ck_assert_int_eq(r.exhausted, 0);
    weft_explore_result_free(&r);
}
END_TEST

/* A run that changes after the first, as one that depends on an address
 * or a global does: from the second run on, the root sleeps a nanosecond in
 * the middle of the run. The search replays the first run's decisions up to
 * its deepest open choice, through that point. */
static int g_runs;

static void *yields_5(void *arg)
{
    for (int i = 0; i < 5; i++)
        weft_yield();
    return arg;
}

static void *tree_moves(void *arg)
{
    (void)arg;
    weft_task *a = spawn_ok(yields_5, NULL), *b = spawn_ok(yields_5, NULL);
    for (int i = 0; i < 3; i++)
        weft_yield();
    if (g_runs++ >= 1)
        weft_sleep(1);
    for (int i = 0; i < 3; i++)
        weft_yield();
    weft_join(a, NULL);
    weft_join(b, NULL);
    return NULL;
}

START_TEST(exhaustive_search_notices_a_tree_that_moves)
{
    g_runs = 0;
    weft_explore_opts o;
    memset(&o, 0, sizeof o);
    o.cfg = test_config(2, 0);
    o.cfg.sim.strategy = WEFT_STRATEGY_EXHAUSTIVE;
    o.preemption_bound = 3;
    o.flags = WEFT_EXPLORE_QUIET; /* no self-check: the search itself must see it */
    weft_explore_result r;
    ck_assert_weft(weft_explore(&o, tree_moves, NULL, &r), 0);
    ck_assert_msg(r.exhausted == 0, "exhausted after %llu runs (%d calls)", (unsigned long long)r.runs, g_runs);
    ck_assert_weft(r.status, WEFT_EFAILED);
    ck_assert_msg(strstr(r.message, "nondeterminism: exhaustive search replayed") &&
                      strstr(r.message, "choice tree depends on something outside"),
                  "%s", r.message);
    weft_explore_result_free(&r);
}
END_TEST

START_TEST(the_environment_variable_respects_no_env)
{
    setenv("WEFT_CHECK_DETERMINISM", "1", 1);
    weft_explore_opts o;
    memset(&o, 0, sizeof o);
    o.cfg = test_config(2, 0); /* WEFT_CFG_NO_ENV */
    o.seeds = 5;
    o.flags = WEFT_EXPLORE_QUIET;
    weft_explore_result r;
    ck_assert_weft(weft_explore(&o, uses_leaked_state, NULL, &r), 0);
    ck_assert_uint_eq(r.failures, 0);
    ck_assert_uint_eq(r.runs, 5);
    weft_explore_result_free(&r);
    /* Read when the configuration lets the environment in. */
    o.cfg.flags = WEFT_CFG_QUIET;
    ck_assert_weft(weft_explore(&o, uses_leaked_state, NULL, &r), 0);
    ck_assert_uint_eq(r.failures, 1);
    ck_assert_msg(strstr(r.message, "nondeterminism"), "%s", r.message);
    weft_explore_result_free(&r);
    setenv("WEFT_CHECK_DETERMINISM", "maybe", 1);
    ck_assert_weft(weft_explore(&o, uses_leaked_state, NULL, &r), WEFT_EINVAL);
    ck_assert_msg(strstr(r.message, "WEFT_CHECK_DETERMINISM"), "%s", r.message);
    unsetenv("WEFT_CHECK_DETERMINISM");
}
END_TEST

Suite *suite_selfcheck(void)
{
    Suite *s = suite_create("selfcheck");
    TCase *tc = tcase_create("selfcheck");
    tcase_add_loop_test(tc, leaked_global_state_is_caught_in_process_under_every_strategy, 0, 3);
    tcase_add_loop_test(tc, rand_is_caught_under_every_strategy, 0, 3);
    tcase_add_loop_test(tc, the_process_id_is_caught_across_processes_under_every_strategy, 0, 3);
    tcase_add_loop_test(tc, a_malloc_address_is_caught_under_every_strategy, 0, 3);
    tcase_add_test(tc, exhaustive_search_notices_a_tree_that_moves);
    tcase_add_test(tc, the_environment_variable_respects_no_env);
    suite_add_tcase(s, tc);
    return s;
}
