/* test_model.c — the model's Check suites: each test body of cases.h under
 * 10,000 seeds of the random and PCT strategies and, where the space fits,
 * the exhaustive search with a preemption bound of 2, each strategy
 * printing how many executions ran (and whether the space was exhausted). */
#include "cases.h"
#include "harness.h"

/* Exhaustive budgets: enough for the small spaces to be exhausted, a cap
 * for the large ones (the line printed says which). */
#define SMALL 200000u
#define CAPPED 20000u

START_TEST(deque_2)
{
    model_explore("deque_2", case_deque_2, NULL, (model_budget){.max_schedules = SMALL});
}
END_TEST

START_TEST(deque_3)
{
    model_explore("deque_3", case_deque_3, NULL, (model_budget){.max_schedules = CAPPED});
}
END_TEST

START_TEST(deque_overflow)
{
    model_explore("deque_overflow", case_deque_overflow, NULL, (model_budget){.max_schedules = CAPPED});
}
END_TEST

START_TEST(deque_fifo_3)
{
    model_explore("deque_fifo_3", case_deque_fifo_3, NULL, (model_budget){.max_schedules = CAPPED});
}
END_TEST

START_TEST(deque_wrap)
{
    model_explore("deque_wrap", case_deque_wrap, NULL, (model_budget){.max_schedules = CAPPED});
}
END_TEST

START_TEST(inject)
{
    model_explore("inject", case_inject, NULL, (model_budget){.max_schedules = SMALL});
}
END_TEST

START_TEST(parker)
{
    model_explore("parker", case_parker, NULL, (model_budget){.max_schedules = SMALL});
}
END_TEST

START_TEST(parker_shared)
{
    model_explore("parker_shared", case_parker_shared, NULL, (model_budget){.max_schedules = SMALL});
}
END_TEST

START_TEST(pool)
{
    model_explore("pool", case_pool, NULL, (model_budget){.max_schedules = CAPPED});
}
END_TEST

START_TEST(watch)
{
    model_explore("watch", case_watch, NULL, (model_budget){.max_schedules = CAPPED});
}
END_TEST

START_TEST(mutex)
{
    model_explore("mutex", case_mutex, NULL, (model_budget){.max_schedules = CAPPED});
}
END_TEST

START_TEST(sem)
{
    model_explore("sem", case_sem, NULL, (model_budget){.max_schedules = CAPPED});
}
END_TEST

START_TEST(event)
{
    model_explore("event", case_event, NULL, (model_budget){.max_schedules = CAPPED});
}
END_TEST

START_TEST(chan)
{
    model_explore("chan", case_chan, NULL, (model_budget){.max_schedules = CAPPED});
}
END_TEST

START_TEST(notify)
{
    model_explore("notify", case_notify, NULL, (model_budget){.max_schedules = CAPPED});
}
END_TEST

static TCase *tcase(const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, 0); /* no wall-clock limit: the budgets are counts */
    return tc;
}

Suite *suite_model_structures(void)
{
    Suite *s = suite_create("model: structures");
    TCase *tc = tcase("deque");
    tcase_add_test(tc, deque_2);
    tcase_add_test(tc, deque_3);
    tcase_add_test(tc, deque_overflow);
    tcase_add_test(tc, deque_fifo_3);
    tcase_add_test(tc, deque_wrap);
    suite_add_tcase(s, tc);
    tc = tcase("queues and parker");
    tcase_add_test(tc, inject);
    tcase_add_test(tc, parker);
    tcase_add_test(tc, parker_shared);
    suite_add_tcase(s, tc);
    return s;
}

Suite *suite_model_runtime(void)
{
    Suite *s = suite_create("model: runtime");
    TCase *tc = tcase("pool");
    tcase_add_test(tc, pool);
    tcase_add_test(tc, watch);
    tcase_add_test(tc, mutex);
    tcase_add_test(tc, sem);
    tcase_add_test(tc, event);
    tcase_add_test(tc, chan);
    tcase_add_test(tc, notify);
    suite_add_tcase(s, tc);
    return s;
}
