/* test_rt.c — creating and running runtimes: configuration checks, the
 * WEFT_* environment overrides, and misuse of the runtime calls. */
#define _POSIX_C_SOURCE 200809L
#include "support.h"

#include <stdlib.h>
#include <string.h>

static void *nothing(void *arg)
{
    return arg;
}

START_TEST(a_zeroed_config_is_one_simulated_worker)
{
    weft_config c;
    memset(&c, 0, sizeof c);
    c.flags = WEFT_CFG_NO_ENV;
    weft_rt *rt;
    ck_assert_weft(weft_rt_new(&rt, &c), 0);
    void *r;
    ck_assert_weft(weft_rt_block_on(rt, nothing, (void *)3, &r), 0);
    ck_assert_ptr_eq(r, (void *)3);
    ck_assert_uint_ne(weft_rt_trace_events(rt), 0); /* it is a simulation */
    weft_rt_free(rt);
    ck_assert_weft(weft_rt_new(&rt, NULL), 0); /* NULL config: defaults */
    weft_rt_free(rt);
    weft_rt_free(NULL);
}
END_TEST

START_TEST(bad_configurations_are_refused)
{
    weft_rt *rt = (weft_rt *)1;
    weft_config c = test_config(1, 0);
    ck_assert_weft(weft_rt_new(NULL, &c), WEFT_EINVAL);
    c.mode = (weft_mode)7;
    ck_assert_weft(weft_rt_new(&rt, &c), WEFT_EINVAL);
    ck_assert_ptr_null(rt);
    c = test_config(WEFT_WORKERS_MAX + 1, 0);
    ck_assert_weft(weft_rt_new(&rt, &c), WEFT_EINVAL);
    c = test_config(2, 0);
    c.mode = WEFT_MODE_THREADED;
    ck_assert_weft(weft_rt_new(&rt, &c), WEFT_ENOTSUP);
    c = test_config(1, 0);
    c.flags |= 0x80;
    ck_assert_weft(weft_rt_new(&rt, &c), WEFT_EINVAL);
    c = test_config(1, 0);
    c.stack_size = WEFT_STACK_MIN - 4096;
    ck_assert_weft(weft_rt_new(&rt, &c), WEFT_EINVAL);
    c = test_config(1, 0);
    weft_allocator half = {NULL, NULL, NULL};
    c.allocator = &half;
    ck_assert_weft(weft_rt_new(&rt, &c), WEFT_EINVAL);
    c = test_config(1, 0);
    c.sim.strategy = (weft_strategy)9;
    ck_assert_weft(weft_rt_new(&rt, &c), WEFT_EINVAL);
    c = test_config(1, 0);
    c.schedule = "not a schedule";
    ck_assert_weft(weft_rt_new(&rt, &c), WEFT_EINVAL);
}
END_TEST

static void *inner_block_on(void *arg)
{
    weft_rt *rt = arg;
    ck_assert_weft(weft_rt_block_on(rt, nothing, NULL, NULL), WEFT_EPERM);
    ck_assert_weft(weft_rt_shutdown(rt), WEFT_EPERM);
    weft_rt_free(rt); /* refused, not freed */
    return NULL;
}

START_TEST(runtime_misuse)
{
    weft_rt *rt;
    weft_config c = test_config(1, 0);
    ck_assert_weft(weft_rt_new(&rt, &c), 0);
    ck_assert_weft(weft_rt_block_on(NULL, nothing, NULL, NULL), WEFT_EINVAL);
    ck_assert_weft(weft_rt_block_on(rt, NULL, NULL, NULL), WEFT_EINVAL);
    ck_assert_weft(weft_rt_block_on(rt, inner_block_on, rt, NULL), 0);
    ck_assert_weft(weft_rt_stats_get(NULL, NULL), WEFT_EINVAL);
    ck_assert_weft(weft_rt_shutdown(NULL), WEFT_EINVAL);
    /* Several block_on calls on one runtime: tasks carry over. */
    ck_assert_weft(weft_rt_block_on(rt, nothing, NULL, NULL), 0);
    weft_rt_stats st;
    ck_assert_weft(weft_rt_stats_get(rt, &st), 0);
    ck_assert_uint_eq(st.spawned, 2);
    ck_assert_uint_eq(st.finished, 2);
    weft_rt_free(rt);
}
END_TEST

static uint64_t hash_of(const weft_config *c)
{
    weft_rt *rt;
    ck_assert_weft(weft_rt_new(&rt, c), 0);
    ck_assert_weft(weft_rt_block_on(rt, nothing, NULL, NULL), 0);
    uint64_t h = weft_rt_trace_hash(rt);
    weft_rt_free(rt);
    return h;
}

static void *rand_user(void *arg)
{
    (void)arg;
    return (void *)(uintptr_t)weft_rand();
}

START_TEST(environment_overrides_apply_and_bad_values_name_the_variable)
{
    weft_config c;
    memset(&c, 0, sizeof c);
    c.flags = WEFT_CFG_QUIET;
    weft_rt *rt;
    void *a, *b;
    /* WEFT_SEED replaces the configured seed. */
    weft_config explicit_seed = c;
    explicit_seed.seed = 77;
    explicit_seed.flags |= WEFT_CFG_NO_ENV;
    ck_assert_weft(run_in(&explicit_seed, rand_user, NULL, &a), 0);
    setenv("WEFT_SEED", "77", 1);
    ck_assert_weft(run_in(&c, rand_user, NULL, &b), 0);
    ck_assert_ptr_eq(a, b);
    setenv("WEFT_SEED", "0x4D", 1);
    ck_assert_weft(run_in(&c, rand_user, NULL, &b), 0);
    ck_assert_ptr_eq(a, b);
    /* WEFT_CFG_NO_ENV ignores it. */
    explicit_seed.seed = 1;
    ck_assert_weft(run_in(&explicit_seed, rand_user, NULL, &b), 0);
    ck_assert_ptr_ne(a, b);
    const char *bad[][2] = {{"WEFT_SEED", "12abc"}, {"WEFT_SEED", "-1"}, {"WEFT_SEED", "99999999999999999999999"},
                            {"WEFT_MODE", "turbo"}, {"WEFT_WORKERS", "0"}, {"WEFT_WORKERS", "65"},
                            {"WEFT_STRATEGY", "greedy"}, {"WEFT_STRATEGY", "pct:0"},
                            {"WEFT_STRATEGY", "pct:2:0"}, {"WEFT_STRATEGY", "pctx"}, {"WEFT_SCHEDULE", "S1.%%"},
                            {"WEFT_SCHEDULE", "hello"}};
    unsetenv("WEFT_SEED");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv(bad[i][0], bad[i][1], 1);
        ck_assert_msg(weft_rt_new(&rt, &c) == WEFT_EINVAL, "%s=%s was accepted", bad[i][0], bad[i][1]);
        unsetenv(bad[i][0]);
    }
    setenv("WEFT_WORKERS", "3", 1);
    setenv("WEFT_MODE", "sim", 1);
    setenv("WEFT_STRATEGY", "pct:3:50", 1);
    ck_assert_weft(weft_rt_new(&rt, &c), 0);
    ck_assert_weft(weft_rt_block_on(rt, nothing, NULL, NULL), 0);
    weft_rt_free(rt);
    setenv("WEFT_MODE", "threaded", 1);
    setenv("WEFT_WORKERS", "1", 1);
    unsetenv("WEFT_STRATEGY");
    ck_assert_weft(weft_rt_new(&rt, &c), 0);
    ck_assert_weft(weft_rt_block_on(rt, nothing, NULL, NULL), 0);
    ck_assert_uint_eq(weft_rt_trace_events(rt), 0); /* real backend: no trace */
    weft_rt_free(rt);
    unsetenv("WEFT_MODE");
    unsetenv("WEFT_WORKERS");
    (void)hash_of;
}
END_TEST

START_TEST(the_same_seed_gives_the_same_hash)
{
    weft_config c = test_config(2, 5);
    uint64_t h = hash_of(&c);
    for (int i = 0; i < 10; i++)
        ck_assert_uint_eq(hash_of(&c), h);
}
END_TEST

Suite *suite_rt(void)
{
    Suite *s = suite_create("rt");
    TCase *tc = tcase_create("rt");
    tcase_add_test(tc, a_zeroed_config_is_one_simulated_worker);
    tcase_add_test(tc, bad_configurations_are_refused);
    tcase_add_test(tc, runtime_misuse);
    tcase_add_test(tc, environment_overrides_apply_and_bad_values_name_the_variable);
    tcase_add_test(tc, the_same_seed_gives_the_same_hash);
    suite_add_tcase(s, tc);
    return s;
}
