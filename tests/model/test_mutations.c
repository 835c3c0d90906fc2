/* test_mutations.c — the model catches each classic bug: every mutation
 * switch of src/atomic.h, turned on alone, makes a model test fail within
 * 10,000 seeds. Five are caught by the random strategy; the narrow index
 * needs a thread stalled for a hundred operations of another, which a
 * random walk never does and PCT (depth 3) does by design. Each test prints
 * the seeds it took under each strategy it asserts. */
#include "cases.h"
#include "harness.h"

#include <inttypes.h>
#include <stdio.h>

#define LIMIT 10000u

static void expect_caught(const char *mutation, unsigned flag, const char *test, weft_fn body, int strategy,
                          unsigned depth)
{
    char why[4096];
    weft__mutations = flag;
    uint64_t n = model_runs_to_fail(body, NULL, strategy, depth, LIMIT, why, sizeof why);
    weft__mutations = 0;
    char name[32];
    if (strategy == WEFT_STRATEGY_PCT)
        snprintf(name, sizeof name, "pct d=%u", depth ? depth : 2);
    else
        snprintf(name, sizeof name, "random");
    printf("mutation %-18s test %-15s %-9s caught after %5" PRIu64 " seeds", mutation, test, name, n);
    if (n) {
        const char *first = strchr(why, '\n');
        printf(": %.*s", first ? (int)(first - why) : (int)strlen(why), why);
    }
    printf("\n");
    fflush(stdout);
    ck_assert_msg(n > 0, "mutation %s was not caught by %s within %u seeds", mutation, name, LIMIT);
}

START_TEST(pop_no_fence)
{
    expect_caught("pop_no_fence", WEFT__MUT_POP_NO_FENCE, "deque_2", case_deque_2, WEFT_STRATEGY_RANDOM, 0);
    expect_caught("pop_no_fence", WEFT__MUT_POP_NO_FENCE, "deque_2", case_deque_2, WEFT_STRATEGY_PCT, 0);
}
END_TEST

START_TEST(push_relaxed)
{
    expect_caught("push_relaxed", WEFT__MUT_PUSH_RELAXED, "deque_2", case_deque_2, WEFT_STRATEGY_RANDOM, 0);
    expect_caught("push_relaxed", WEFT__MUT_PUSH_RELAXED, "deque_2", case_deque_2, WEFT_STRATEGY_PCT, 0);
}
END_TEST

START_TEST(steal_cas_relaxed)
{
    expect_caught("steal_cas_relaxed", WEFT__MUT_STEAL_CAS_RELAXED, "deque_overflow", case_deque_overflow,
                  WEFT_STRATEGY_RANDOM, 0);
    expect_caught("steal_cas_relaxed", WEFT__MUT_STEAL_CAS_RELAXED, "deque_overflow", case_deque_overflow,
                  WEFT_STRATEGY_PCT, 0);
}
END_TEST

START_TEST(mutex_fetch_or)
{
    expect_caught("mutex_fetch_or", WEFT__MUT_MUTEX_FETCH_OR, "mutex", case_mutex, WEFT_STRATEGY_RANDOM, 0);
    expect_caught("mutex_fetch_or", WEFT__MUT_MUTEX_FETCH_OR, "mutex", case_mutex, WEFT_STRATEGY_PCT, 0);
}
END_TEST

START_TEST(no_woken_check)
{
    expect_caught("no_woken_check", WEFT__MUT_NO_WOKEN_CHECK, "event", case_event, WEFT_STRATEGY_RANDOM, 0);
    expect_caught("no_woken_check", WEFT__MUT_NO_WOKEN_CHECK, "event", case_event, WEFT_STRATEGY_PCT, 0);
}
END_TEST

START_TEST(narrow_index)
{
    expect_caught("narrow_index", WEFT__MUT_NARROW_INDEX, "deque_wrap", case_deque_wrap, WEFT_STRATEGY_PCT, 3);
}
END_TEST

START_TEST(unpark_by_futex)
{
    expect_caught("unpark_by_futex", WEFT__MUT_UNPARK_BY_FUTEX, "parker_shared", case_parker_shared,
                  WEFT_STRATEGY_RANDOM, 0);
    expect_caught("unpark_by_futex", WEFT__MUT_UNPARK_BY_FUTEX, "parker_shared", case_parker_shared,
                  WEFT_STRATEGY_PCT, 0);
}
END_TEST

START_TEST(poll_unheld)
{
    expect_caught("poll_unheld", WEFT__MUT_POLL_UNHELD, "parker_shared", case_parker_shared, WEFT_STRATEGY_RANDOM, 0);
    expect_caught("poll_unheld", WEFT__MUT_POLL_UNHELD, "parker_shared", case_parker_shared, WEFT_STRATEGY_PCT, 0);
}
END_TEST

Suite *suite_model_mutations(void)
{
    Suite *s = suite_create("model: mutations");
    TCase *tc = tcase_create("caught");
    tcase_set_timeout(tc, 0);
    tcase_add_test(tc, pop_no_fence);
    tcase_add_test(tc, push_relaxed);
    tcase_add_test(tc, steal_cas_relaxed);
    tcase_add_test(tc, mutex_fetch_or);
    tcase_add_test(tc, no_woken_check);
    tcase_add_test(tc, narrow_index);
    tcase_add_test(tc, unpark_by_futex);
    tcase_add_test(tc, poll_unheld);
    suite_add_tcase(s, tc);
    return s;
}
