/* test_rt.c — creating and running runtimes: configuration checks, the
 * WEFT_* environment overrides, and misuse of the runtime calls. */
#define _POSIX_C_SOURCE 200809L
#include "support.h"
#include "weft/io.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

START_TEST(a_zeroed_config_is_one_simulated_worker)
{
    weft_config c;
    memset(&c, 0, sizeof c);
    c.flags = WEFT_CFG_NO_ENV;
    weft_rt *rt;
    ck_assert_weft(weft_rt_new(&rt, &c), 0);
    void *r;
    ck_assert_weft(weft_rt_block_on(rt, returns_arg, (void *)3, &r), 0);
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
    ck_assert_weft(weft_rt_new(&rt, &c), 0); /* two real worker threads */
    weft_rt_free(rt);
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
    ck_assert_weft(weft_rt_block_on(rt, returns_arg, NULL, NULL), WEFT_EPERM);
    ck_assert_weft(weft_rt_shutdown(rt), WEFT_EPERM);
    weft_rt_free(rt); /* refused, not freed */
    return NULL;
}

START_TEST(runtime_misuse)
{
    weft_rt *rt;
    weft_config c = test_config(1, 0);
    ck_assert_weft(weft_rt_new(&rt, &c), 0);
    ck_assert_weft(weft_rt_block_on(NULL, returns_arg, NULL, NULL), WEFT_EINVAL);
    ck_assert_weft(weft_rt_block_on(rt, NULL, NULL, NULL), WEFT_EINVAL);
    ck_assert_weft(weft_rt_block_on(rt, inner_block_on, rt, NULL), 0);
    ck_assert_weft(weft_rt_stats_get(NULL, NULL), WEFT_EINVAL);
    ck_assert_weft(weft_rt_shutdown(NULL), WEFT_EINVAL);
    /* Several block_on calls on one runtime: tasks carry over. */
    ck_assert_weft(weft_rt_block_on(rt, returns_arg, NULL, NULL), 0);
    weft_rt_stats st;
    ck_assert_weft(weft_rt_stats_get(rt, &st), 0);
    ck_assert_uint_eq(st.spawned, 2);
    ck_assert_uint_eq(st.finished, 2);
    weft_rt_free(rt);
}
END_TEST

static void *rand_user(void *arg)
{
    (void)arg;
    return (void *)(uintptr_t)weft_rand();
}

static void *yields_where_pinned(void *arg)
{
    (void)arg;
    for (int i = 0; i < 5; i++)
        weft_yield();
    return (void *)(intptr_t)weft_worker_index();
}

/* A task pinned to each virtual worker, yielding: with two workers or more
 * the seed and the strategy decide the interleaving. Returns the number of
 * workers, found by pinning (a pin past the last worker is refused). */
static void *one_yielder_per_worker(void *arg)
{
    (void)arg;
    weft_task *t[WEFT_WORKERS_MAX];
    unsigned n = 0;
    for (; n < WEFT_WORKERS_MAX; n++) {
        weft_spawn_opts o = {.flags = WEFT_SPAWN_PINNED, .worker = n};
        int r = weft_spawn_ex(&t[n], yields_where_pinned, NULL, &o);
        if (r == WEFT_EINVAL)
            break;
        ck_assert_weft(r, 0);
    }
    for (unsigned i = 0; i < n; i++) {
        void *w;
        ck_assert_weft(weft_join(t[i], &w), 0);
        ck_assert_int_eq((int)(intptr_t)w, (int)i); /* it ran where it was pinned */
    }
    return (void *)(uintptr_t)n;
}

static uint64_t hash_of(const weft_config *c)
{
    return hash_in(c, one_yielder_per_worker, NULL, NULL);
}

/* weft_rt_new(c), with what it writes on stderr captured in err. */
static int rt_new_capturing_stderr(const weft_config *c, char *err, size_t errlen)
{
    char path[512];
    temp_file(path, sizeof path, "stderr", ".txt");
    int fd = open(path, O_WRONLY | O_TRUNC);
    ck_assert_msg(fd >= 0, "cannot open %s", path);
    fflush(stderr);
    int saved = dup(2);
    ck_assert_int_ge(saved, 0);
    ck_assert_int_eq(dup2(fd, 2), 2);
    close(fd);
    weft_rt *rt = (weft_rt *)1;
    int r = weft_rt_new(&rt, c);
    fflush(stderr);
    ck_assert_int_eq(dup2(saved, 2), 2);
    close(saved);
    if (r == 0)
        weft_rt_free(rt);
    else
        ck_assert_ptr_null(rt);
    char *text = slurp(path, NULL);
    snprintf(err, errlen, "%s", text);
    free(text);
    unlink(path);
    return r;
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
    unsetenv("WEFT_SEED");
    /* A bad value is refused with a message that names the variable: on
     * stderr from weft_rt_new (nothing with WEFT_CFG_QUIET), in the message
     * buffer from weft_check_seeds. */
    const char *bad[][2] = {{"WEFT_SEED", "12abc"}, {"WEFT_SEED", "-1"}, {"WEFT_SEED", "99999999999999999999999"},
                            {"WEFT_MODE", "turbo"}, {"WEFT_WORKERS", "0"}, {"WEFT_WORKERS", "65"},
                            {"WEFT_STRATEGY", "greedy"}, {"WEFT_STRATEGY", "pct:0"},
                            {"WEFT_STRATEGY", "pct:2:0"}, {"WEFT_STRATEGY", "pctx"}, {"WEFT_SCHEDULE", "S2.%%"},
                            {"WEFT_SCHEDULE", "hello"}};
    weft_config loud = c;
    loud.flags = 0;
    weft_config base = test_config(1, 0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[1024], msg[4096];
        setenv(bad[i][0], bad[i][1], 1);
        ck_assert_msg(rt_new_capturing_stderr(&loud, err, sizeof err) == WEFT_EINVAL, "%s=%s was accepted", bad[i][0],
                      bad[i][1]);
        ck_assert_msg(strstr(err, bad[i][0]), "%s=%s: stderr does not name the variable: \"%s\"", bad[i][0], bad[i][1],
                      err);
        ck_assert_msg(rt_new_capturing_stderr(&c, err, sizeof err) == WEFT_EINVAL, "%s=%s was accepted (quiet)",
                      bad[i][0], bad[i][1]);
        ck_assert_msg(err[0] == 0, "%s=%s: WEFT_CFG_QUIET still printed \"%s\"", bad[i][0], bad[i][1], err);
        ck_assert_weft(weft_check_seeds(&base, returns_arg, NULL, 1, msg, sizeof msg), WEFT_EINVAL);
        ck_assert_msg(strstr(msg, bad[i][0]), "%s=%s: weft_check_seeds says \"%s\"", bad[i][0], bad[i][1], msg);
        unsetenv(bad[i][0]);
    }
    /* Good values take effect: three workers (a fourth cannot be pinned
     * to), and PCT of depth 3 with a 50-step estimate, which runs exactly as
     * that configuration spelled out and not as the default random walk. */
    setenv("WEFT_WORKERS", "3", 1);
    setenv("WEFT_MODE", "sim", 1);
    setenv("WEFT_STRATEGY", "pct:3:50", 1);
    void *workers;
    uint64_t h = hash_in(&c, one_yielder_per_worker, NULL, &workers);
    ck_assert_ptr_eq(workers, (void *)3);
    weft_config pct = test_config(3, 0);
    pct.sim.strategy = WEFT_STRATEGY_PCT;
    pct.sim.pct_depth = 3;
    pct.sim.pct_steps = 50;
    ck_assert_uint_eq(hash_of(&pct), h);
    weft_config random_walk = test_config(3, 0);
    ck_assert_uint_ne(hash_of(&random_walk), h);
    unsetenv("WEFT_STRATEGY");
    ck_assert_uint_eq(hash_of(&c), hash_of(&random_walk)); /* the rest of the environment is not the difference */
    pct.sim.pct_depth = 2;
    ck_assert_uint_ne(hash_of(&pct), h); /* the depth was taken */
    pct.sim.pct_depth = 3;
    pct.sim.pct_steps = 1000;
    ck_assert_uint_ne(hash_of(&pct), h); /* and the step estimate */
    /* The real backend: one worker, no trace. */
    setenv("WEFT_MODE", "threaded", 1);
    setenv("WEFT_WORKERS", "1", 1);
    ck_assert_weft(weft_rt_new(&rt, &c), 0);
    ck_assert_weft(weft_rt_block_on(rt, one_yielder_per_worker, NULL, &workers), 0);
    ck_assert_ptr_eq(workers, (void *)1);
    ck_assert_uint_eq(weft_rt_trace_events(rt), 0);
    weft_rt_free(rt);
    unsetenv("WEFT_MODE");
    unsetenv("WEFT_WORKERS");
}
END_TEST

/* A handle of a freed runtime names nothing in the next one, which the
 * allocator may well place at the same address (the salt of IO handles was
 * made from that address). */
static void *binds_and_keeps(void *arg)
{
    ck_assert_weft(weft_udp_bind((weft_sock **)arg, "127.0.0.1:0"), 0);
    return NULL; /* left open: the runtime's shutdown closes it */
}

static void *refuses_the_old_handle(void *arg)
{
    weft_sock *stale = arg, *mine;
    ck_assert_weft(weft_udp_bind(&mine, "127.0.0.1:0"), 0);
    char addr[WEFT_ADDR_MAX];
    ck_assert_weft(weft_sock_local_addr(stale, addr, sizeof addr), WEFT_EBADF);
    ck_assert_weft(weft_sock_close(stale), WEFT_EBADF);
    ck_assert_int_gt(weft_sock_local_addr(mine, addr, sizeof addr), 0); /* its length */
    ck_assert_weft(weft_sock_close(mine), 0);
    return NULL;
}

START_TEST(an_io_handle_of_a_freed_runtime_names_nothing_in_the_next)
{
    weft_config c = threaded_config();
    for (unsigned i = 0; i < 8; i++) {
        weft_sock *stale = NULL;
        ck_assert_weft(run_in(&c, binds_and_keeps, &stale, NULL), 0);
        ck_assert_weft(run_in(&c, refuses_the_old_handle, stale, NULL), 0);
    }
}
END_TEST

START_TEST(the_same_seed_gives_the_same_hash)
{
    /* Two workers, a yielding task on each: every seed is an interleaving,
     * replayed bit for bit; and the seeds do not all give the same one. */
    uint64_t first = 0;
    int differ = 0;
    for (uint64_t seed = 0; seed < 10; seed++) {
        void *workers;
        uint64_t h = run_hash(2, seed, one_yielder_per_worker, NULL, &workers);
        ck_assert_ptr_eq(workers, (void *)2);
        for (int i = 0; i < 3; i++)
            ck_assert_uint_eq(run_hash(2, seed, one_yielder_per_worker, NULL, NULL), h);
        if (seed == 0)
            first = h;
        differ |= h != first;
    }
    ck_assert_msg(differ, "seeds 0 to 9 all gave the trace hash %016llx", (unsigned long long)first);
}
END_TEST

Suite *suite_rt(void)
{
    Suite *s = suite_create("rt");
    TCase *tc = tcase_create("rt");
    tcase_add_test(tc, a_zeroed_config_is_one_simulated_worker);
    tcase_add_test(tc, bad_configurations_are_refused);
    tcase_add_test(tc, runtime_misuse);
    tcase_add_test(tc, an_io_handle_of_a_freed_runtime_names_nothing_in_the_next);
    tcase_add_test(tc, environment_overrides_apply_and_bad_values_name_the_variable);
    tcase_add_test(tc, the_same_seed_gives_the_same_hash);
    suite_add_tcase(s, tc);
    return s;
}
