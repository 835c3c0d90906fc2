/* test_shrink.c — shrinking by the structure of a run: the bank's two bugs,
 * three tasks in a lock cycle and a new user's check-then-act deadlock shrink
 * to a handful of decisions, keep failing the same way (same assertion, same
 * deadlock shape) and replay exactly; failure signatures; the time bound;
 * weft_shrink's bad input. tools/measure_shrink.c prints the figures. */
#define _GNU_SOURCE
#include "../examples/bank.h"
#include "shrink_cases.h"
#include "support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The first failing seed at or after *seed on 2 virtual workers (random
 * walk), shrunk; *seed moves past it. */
static weft_explore_result first_failure(weft_fn fn, uint64_t *seed, double shrink_time_s)
{
    for (; *seed < 5000; (*seed)++) {
        weft_explore_opts o;
        memset(&o, 0, sizeof o);
        o.cfg = test_config(2, 0);
        o.seed_start = *seed;
        o.seeds = 1;
        o.shrink_time_s = shrink_time_s;
        o.flags = WEFT_EXPLORE_QUIET | WEFT_EXPLORE_SHRINK;
        weft_explore_result r;
        ck_assert_weft(weft_explore(&o, fn, NULL, &r), 0);
        if (r.failures) {
            (*seed)++;
            return r;
        }
        weft_explore_result_free(&r);
    }
    ck_abort_msg("no failing seed below 5000");
    weft_explore_result none;
    memset(&none, 0, sizeof none);
    return none;
}

/* The choices (non-zero decisions) of a printed schedule: replay it and
 * count them in the record. */
static size_t replay_choices(weft_fn fn, const char *schedule, int *status)
{
    weft_config c = test_config(2, 12345); /* the seed must not matter */
    c.schedule = schedule;
    c.sim.record_trace = 1;
    weft_rt *rt;
    ck_assert_weft(weft_rt_new(&rt, &c), 0);
    *status = weft_rt_block_on(rt, fn, NULL, NULL);
    char *again;
    size_t n;
    ck_assert_weft(weft_rt_schedule(rt, &again, &n), 0);
    /* The run makes exactly the printed decisions, then defaults. */
    ck_assert_msg(!strncmp(again, schedule, strlen(schedule)), "replayed as %s, not %s", again, schedule);
    free(again);
    char path[512];
    temp_file(path, sizeof path, "shrunk", ".txt");
    ck_assert_weft(weft_rt_trace_write_text(rt, path), 0);
    char *text = slurp(path, NULL);
    unlink(path);
    size_t choices = 0;
    for (const char *p = text; (p = strstr(p, " decide ")) != NULL; p++) {
        const char *colon = strstr(p, ": ");
        choices += colon && colon[2] != '0';
    }
    free(text);
    weft_rt_free(rt);
    return choices;
}

typedef struct shrink_case {
    const char *name;
    weft_fn fn;
    int status;
    size_t max_decisions; /* a handful: what the bug needs, and no more */
    size_t max_choices;
} shrink_case;

static const shrink_case cases[] = {
    {"bank lost update", bank_lost_update_test, WEFT_EFAILED, 7, 2},
    {"bank deadlock", bank_deadlock_test, WEFT_EDEADLK, 3, 1},
    {"3-task deadlock", three_task_deadlock_test, WEFT_EDEADLK, 5, 2},
    /* One preemption, between the check and the act: shrinking by
     * position alone leaves 3 to 7 of them here (8 or 9 decisions). */
    {"check-then-act", check_then_act_test, WEFT_EDEADLK, 6, 1},
};

START_TEST(shrinks_to_the_decisions_that_matter)
{
    const shrink_case *k = &cases[_i];
    uint64_t seed = 0;
    for (int n = 0; n < (under_valgrind() ? 2 : 5); n++) {
        weft_explore_result r = first_failure(k->fn, &seed, 0);
        ck_assert_weft(r.status, k->status);
        ck_assert_ptr_nonnull(r.shrunk);
        ck_assert_msg(r.shrunk_len <= k->max_decisions && r.shrunk_len <= r.schedule_len,
                      "%s, seed %llu: %zu decisions shrunk to %zu", k->name, (unsigned long long)r.failing_seed,
                      r.schedule_len, r.shrunk_len);
        int status;
        size_t choices = replay_choices(k->fn, r.shrunk, &status);
        ck_assert_weft(status, k->status);
        ck_assert_msg(choices >= 1 && choices <= k->max_choices, "%s, seed %llu: %zu choices in %s", k->name,
                      (unsigned long long)r.failing_seed, choices, r.shrunk);
        /* The message says so: before, after, and the line that replays it. */
        char want[128];
        snprintf(want, sizeof want, "weft: shrunk from %zu to %zu decisions (%zu of them choices): reproduce with ",
                 r.schedule_len, r.shrunk_len, choices);
        ck_assert_msg(strstr(r.message, want), "%s", r.message);
        weft_explore_result_free(&r);
    }
}
END_TEST

START_TEST(shrinking_keeps_the_failure_not_just_its_kind)
{
    /* The lost update fails at the total; a shrunk schedule that failed at
     * another assertion would be another bug. Every shrunk run fails at the
     * same assertion as the run it came from. */
    uint64_t seed = 0;
    for (int n = 0; n < 3; n++) {
        weft_explore_result r = first_failure(bank_lost_update_test, &seed, 0);
        const char *want = "assert: bank_total(&b) == BANK_OPENING * BANK_ACCOUNTS (";
        ck_assert_msg(!strncmp(r.signature, want, strlen(want)) && strstr(r.signature, "bank.h:"), "%s",
                      r.signature);
        weft_config c = test_config(2, 0);
        c.schedule = r.shrunk;
        c.sim.record_trace = 1;
        weft_rt *rt;
        ck_assert_weft(weft_rt_new(&rt, &c), 0);
        ck_assert_weft(weft_rt_block_on(rt, bank_lost_update_test, NULL, NULL), WEFT_EFAILED);
        char path[512];
        temp_file(path, sizeof path, "shrunk", ".txt");
        ck_assert_weft(weft_rt_trace_write_text(rt, path), 0);
        weft_rt_free(rt);
        char *text = slurp(path, NULL);
        unlink(path);
        char line[512];
        snprintf(line, sizeof line, "run failed: simulated run failed: assertion failed: %s\n",
                 r.signature + strlen("assert: "));
        ck_assert_msg(strstr(text, line), "the shrunk run did not fail with \"%s\":\n%s", line, text);
        free(text);
        weft_explore_result_free(&r);
    }
}
END_TEST

START_TEST(signatures_name_the_site_or_the_deadlock_shape)
{
    uint64_t seed = 0;
    weft_explore_result r = first_failure(bank_deadlock_test, &seed, 0);
    ck_assert_str_eq(r.signature, "deadlock: (a->b) waits on a mutex held by (b->a); (b->a) waits on a mutex held "
                                  "by (a->b); (root) waits on a scope");
    weft_explore_result_free(&r);
    /* The same shape whichever task was found first and whatever the ids:
     * every failing seed of the three philosophers has one signature. */
    weft_explore_opts o;
    memset(&o, 0, sizeof o);
    o.cfg = test_config(3, 0);
    o.seeds = seeds_for(400);
    o.flags = WEFT_EXPLORE_QUIET | WEFT_EXPLORE_KEEP_GOING;
    ck_assert_weft(weft_explore(&o, three_task_deadlock_test, NULL, &r), 0);
    ck_assert_uint_gt(r.failures, 1);
    ck_assert_uint_eq(r.distinct_failures, 1);
    ck_assert_msg(strstr(r.signature, "(philosopher 0) waits on a mutex held by (philosopher 1)"), "%s",
                  r.signature);
    weft_explore_result_free(&r);
}
END_TEST

START_TEST(shrinking_is_bounded_in_time)
{
    /* No time at all: the failing schedule comes back as it was (trailing
     * defaults trimmed), and still fails. */
    uint64_t seed = 0;
    weft_explore_result r = first_failure(bank_lost_update_test, &seed, 1e-9);
    ck_assert_ptr_nonnull(r.shrunk);
    ck_assert_uint_le(r.shrunk_len, r.schedule_len);
    ck_assert_uint_gt(r.shrunk_len, 7);
    weft_config c = test_config(2, 0);
    c.schedule = r.shrunk;
    ck_assert_weft(run_in(&c, bank_lost_update_test, NULL, NULL), WEFT_EFAILED);
    weft_explore_result_free(&r);
}
END_TEST

START_TEST(weft_shrink_takes_a_printed_schedule)
{
    weft_explore_opts o;
    memset(&o, 0, sizeof o);
    o.cfg = test_config(2, 0);
    o.seeds = 1000;
    o.flags = WEFT_EXPLORE_QUIET;
    weft_explore_result r;
    ck_assert_weft(weft_explore(&o, check_then_act_test, NULL, &r), 0);
    ck_assert_uint_eq(r.failures, 1);
    char *out = NULL;
    size_t len = 0;
    weft_config c = test_config(2, 0);
    ck_assert_weft(weft_shrink(&c, check_then_act_test, NULL, r.schedule, 0, &out, &len), 0);
    ck_assert_uint_le(len, 6);
    c.schedule = out;
    ck_assert_weft(run_in(&c, check_then_act_test, NULL, NULL), WEFT_EDEADLK);
    free(out);
    /* Bad input: a schedule that does not fail, one that is not a schedule. */
    c.schedule = NULL;
    ck_assert_weft(weft_shrink(&c, bank_lost_update_test, NULL, "S2.", 10, &out, NULL), WEFT_EINVAL);
    ck_assert_ptr_null(out);
    ck_assert_weft(weft_shrink(&c, bank_lost_update_test, NULL, "hello", 10, &out, NULL), WEFT_EINVAL);
    ck_assert_weft(weft_shrink(&c, bank_lost_update_test, NULL, NULL, 10, &out, NULL), WEFT_EINVAL);
    weft_explore_result_free(&r);
}
END_TEST

Suite *suite_shrink(void)
{
    Suite *s = suite_create("shrink");
    TCase *tc = tcase_create("shrink");
    tcase_add_loop_test(tc, shrinks_to_the_decisions_that_matter, 0, (int)(sizeof cases / sizeof cases[0]));
    tcase_add_test(tc, shrinking_keeps_the_failure_not_just_its_kind);
    tcase_add_test(tc, signatures_name_the_site_or_the_deadlock_shape);
    tcase_add_test(tc, shrinking_is_bounded_in_time);
    tcase_add_test(tc, weft_shrink_takes_a_printed_schedule);
    suite_add_tcase(s, tc);
    return s;
}
