/* test_seams.c — regressions for what users hit before the seams work, each
 * failing on the old code: a scope whose owner returns without joining, an
 * armed timer initialised again, a frame larger than the guard, a task that
 * spins without a scheduling point in simulation; and the mutex's lost
 * wake-up under contention on real threads. */
#define _GNU_SOURCE
#include "support.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- a scope left open ---------------------------------------------------- */

static int g_scope_errors;

static void count_errors(void *ctx, const weft_hook_info *info)
{
    (void)ctx;
    if (info->reason && strstr(info->reason, "open scope"))
        g_scope_errors++;
}

static int sleeps_an_hour(void *arg)
{
    int *result = arg;
    /* Its sleep touches the scope (the deadline of every scope around it):
     * on the old code that scope was in the owner's dead frame. */
    *result = weft_sleep(3600ull * 1000000000ull);
    return 0;
}

static void *returns_inside_a_scope(void *arg)
{
    weft_scope s;
    ck_assert_weft(weft_scope_init(&s, 0), 0);
    ck_assert_weft(weft_scope_spawn(&s, sleeps_an_hour, arg, NULL), 0);
    ck_assert_weft(weft_scope_spawn(&s, sleeps_an_hour, (int *)arg + 1, NULL), 0);
    weft_yield(); /* the children start and sleep */
    return NULL;  /* no join: the runtime must cancel and join them */
}

static void *owner_of_a_forgotten_scope(void *arg)
{
    weft_task *t;
    ck_assert_weft(weft_spawn(&t, returns_inside_a_scope, arg), 0);
    /* Stack frames of later tasks reuse the dead one. */
    char scribble[4096];
    memset(scribble, 0x5A, sizeof scribble);
    ck_assert_weft(weft_join(t, NULL), 0);
    return NULL;
}

START_TEST(a_task_returning_inside_an_open_scope_is_reported_and_its_children_joined)
{
    for (unsigned workers = 1; workers <= 2; workers++) {
        weft_config c = test_config(workers, 3);
        weft_rt *rt;
        ck_assert_weft(weft_rt_new(&rt, &c), 0);
        g_scope_errors = 0;
        ck_assert_weft(weft_hook_add(rt, WEFT_HOOK_MASK(WEFT_HOOK_ERROR), count_errors, NULL, NULL), 0);
        int results[2] = {99, 99};
        ck_assert_weft(weft_rt_block_on(rt, owner_of_a_forgotten_scope, results, NULL), 0);
        ck_assert_int_eq(g_scope_errors, 1);
        ck_assert_weft(results[0], WEFT_ECANCELED);
        ck_assert_weft(results[1], WEFT_ECANCELED);
        weft_rt_stats st;
        ck_assert_weft(weft_rt_stats_get(rt, &st), 0);
        ck_assert_uint_eq(st.live_tasks, 0);
        ck_assert_int_eq(weft_rt_shutdown(rt), 0); /* nothing left behind */
        weft_rt_free(rt);
    }
    /* The same on a real thread. */
    weft_config c = threaded_config();
    int results[2] = {99, 99};
    ck_assert_weft(run_in(&c, owner_of_a_forgotten_scope, results, NULL), 0);
    ck_assert_weft(results[0], WEFT_ECANCELED);
    ck_assert_weft(results[1], WEFT_ECANCELED);
}
END_TEST

/* ---- an armed timer initialised again --------------------------------------- */

static void fires(weft_timer *t, void *arg)
{
    (void)t;
    (*(int *)arg)++;
}

static void *reinit_armed(void *arg)
{
    (void)arg;
    weft_timer t;
    int n = 0;
    ck_assert_weft(weft_timer_init(&t), 0);
    ck_assert_weft(weft_timer_start(&t, weft_now() + 1000, fires, &n), 0);
    /* Used to return 0 and leave the wheel pointing at a zeroed timer: the
     * next sleep spun in the wheel forever. */
    ck_assert_weft(weft_timer_init(&t), WEFT_EBUSY);
    ck_assert_int_eq(weft_timer_pending(&t), 1);
    /* (A sleep whose deadline has passed by the time it starts returns at
     * once: on a slow build, sleep until the timer has had its turn.) */
    for (int i = 0; i < 1000 && n == 0; i++)
        ck_assert_weft(weft_sleep(100000), 0);
    ck_assert_int_eq(n, 1);
    ck_assert_weft(weft_timer_init(&t), 0); /* fired: free to reuse */
    return NULL;
}

START_TEST(an_armed_timer_cannot_be_initialised_again)
{
    weft_config c = test_config(1, 0);
    ck_assert_weft(run_in(&c, reinit_armed, NULL, NULL), 0);
    c = threaded_config();
    ck_assert_weft(run_in(&c, reinit_armed, NULL, NULL), 0);
}
END_TEST

/* ---- children that die: overflow by a large frame, a spinning task ---------- */

/* 200 KB of locals on a 64 KiB stack: the frame jumps past the 16 KiB
 * guard. This file is built with -fstack-clash-protection (as the pkg-config
 * flags ask of every program), so the frame's probes fault in the guard. */
static __attribute__((noinline)) int big_frame(int seed)
{
    volatile char big[200 * 1024];
    for (size_t i = 0; i < sizeof big; i += 4096)
        big[i] = (char)seed;
    return big[seed & 1023];
}

static void *big_frame_task(void *arg)
{
    return (void *)(intptr_t)big_frame((int)(intptr_t)arg);
}

static void *calls_big_frame(void *arg)
{
    (void)arg;
    weft_spawn_opts o = {.name = "big-frame"};
    weft_task *t;
    weft_spawn_ex(&t, big_frame_task, NULL, &o);
    weft_join(t, NULL);
    return NULL;
}

START_TEST(a_frame_larger_than_the_guard_is_reported_as_an_overflow)
{
    if (under_asan() || under_tsan() || under_valgrind())
        return; /* their own SIGSEGV reports stand in for ours there */
    char err[4096], want[128];
    snprintf(want, sizeof want, "weft: task 2 (big-frame) overflowed its %u-byte stack", WEFT_STACK_DEFAULT);
    weft_config modes[2] = {threaded_config(), test_config(1, 0)};
    for (int i = 0; i < 2; i++) {
        int sig = run_in_child(&modes[i], calls_big_frame, NULL, err, sizeof err);
        ck_assert_int_eq(sig, SIGABRT);
        ck_assert_msg(strstr(err, want), "stderr was: %s", err);
    }
    ck_assert_msg(strstr(err, "weft: reproduce with WEFT_SEED=0"), "stderr was: %s", err);
}
END_TEST

static volatile unsigned long g_spins;

static void *spins_without_a_point(void *arg)
{
    (void)arg;
    for (;;)
        g_spins++;
    return NULL;
}

static void *spawns_a_spinner(void *arg)
{
    (void)arg;
    weft_spawn_opts o = {.name = "spinner"};
    weft_task *t;
    weft_spawn_ex(&t, spins_without_a_point, NULL, &o);
    weft_join(t, NULL);
    return NULL;
}

START_TEST(a_task_that_never_yields_is_reported_by_the_watchdog)
{
    /* TSan delivers signals only at its own safe points, which a bare loop
     * never reaches; valgrind does not deliver a thread-directed timer's
     * signal to a thread that spins in translated code either. */
    if (under_tsan() || under_valgrind())
        return;
    weft_config c = test_config(2, 5);
    c.sim.watchdog_ms = 300;
    char err[4096];
    int sig = run_in_child(&c, spawns_a_spinner, NULL, err, sizeof err);
    ck_assert_int_eq(sig, SIGABRT);
    ck_assert_msg(strstr(err, "weft: watchdog: task 2 (spinner) ran for 300 ms"), "stderr was: %s", err);
    ck_assert_msg(strstr(err, "weft: reproduce with WEFT_WORKERS=2 WEFT_SEED=5"), "stderr was: %s", err);
}
END_TEST

/* ---- the same deaths in a later seed of an exploration ----------------------
 * A campaign's runs hold the guard's signal stack and the watchdog's timer
 * between them (no system call per run): the fourth run must still have
 * both, and the thread must get its signal stack back as it was. */

enum { DIE_BY_OVERFLOW = 1, DIE_BY_SPINNING = 2 };
static unsigned explored_runs;

static void *dies_on_the_fourth_run(void *arg)
{
    if (++explored_runs < 4) {
        weft_yield();
        return NULL;
    }
    return (intptr_t)arg == DIE_BY_OVERFLOW ? calls_big_frame(NULL) : spawns_a_spinner(NULL);
}

static weft_explore_opts exploration(void)
{
    weft_explore_opts o;
    memset(&o, 0, sizeof o);
    o.cfg = test_config(2, 0);
    o.cfg.sim.watchdog_ms = 300;
    o.seeds = 10;
    return o;
}

static int explore_to_death(void *arg)
{
    explored_runs = 0;
    weft_explore_opts o = exploration();
    weft_explore_result res;
    weft_explore(&o, dies_on_the_fourth_run, arg, &res);
    return 4; /* not reached: the child dies first */
}

START_TEST(deaths_in_a_later_seed_of_an_exploration_are_reported_too)
{
    if (under_asan() || under_tsan() || under_valgrind())
        return; /* as for the two tests above */
    char err[4096], want[128];
    snprintf(want, sizeof want, "weft: task 2 (big-frame) overflowed its %u-byte stack", WEFT_STACK_DEFAULT);
    int sig = run_child(explore_to_death, (void *)(intptr_t)DIE_BY_OVERFLOW, err, sizeof err);
    ck_assert_int_eq(sig, SIGABRT);
    ck_assert_msg(strstr(err, want), "stderr was: %s", err);
    ck_assert_msg(strstr(err, "WEFT_WORKERS=2 WEFT_SEED=3"), "stderr was: %s", err);
    sig = run_child(explore_to_death, (void *)(intptr_t)DIE_BY_SPINNING, err, sizeof err);
    ck_assert_int_eq(sig, SIGABRT);
    ck_assert_msg(strstr(err, "weft: watchdog: task 2 (spinner) ran for 300 ms"), "stderr was: %s", err);
    ck_assert_msg(strstr(err, "WEFT_WORKERS=2 WEFT_SEED=3"), "stderr was: %s", err);
}
END_TEST

static void assert_altstack_is(const stack_t *want)
{
    stack_t now;
    ck_assert_int_eq(sigaltstack(NULL, &now), 0);
    ck_assert_int_eq(now.ss_flags & SS_DISABLE, want->ss_flags & SS_DISABLE);
    if (!(want->ss_flags & SS_DISABLE)) {
        ck_assert_ptr_eq(now.ss_sp, want->ss_sp);
        ck_assert_uint_eq(now.ss_size, want->ss_size);
    }
}

START_TEST(an_exploration_leaves_the_threads_signal_stack_as_it_found_it)
{
    weft_explore_opts o = exploration();
    weft_explore_result res;
    stack_t before;
    ck_assert_int_eq(sigaltstack(NULL, &before), 0);
    ck_assert_weft(weft_explore(&o, yields_times, (void *)(uintptr_t)1, &res), 0);
    ck_assert_uint_eq(res.runs, 10);
    assert_altstack_is(&before); /* none, or a sanitizer's */
    /* The program's own is kept, neither replaced nor removed. */
    static char own[64 * 1024];
    stack_t mine = {.ss_sp = own, .ss_size = sizeof own, .ss_flags = 0};
    ck_assert_int_eq(sigaltstack(&mine, NULL), 0);
    ck_assert_weft(weft_explore(&o, yields_times, (void *)(uintptr_t)1, &res), 0);
    assert_altstack_is(&mine);
    ck_assert_int_eq(sigaltstack(&before, NULL), 0);
}
END_TEST

/* ---- the mutex under contention on real threads ---------------------------- */

typedef struct counter {
    weft_mutex m;
    long value;
    int per_task;
} counter;

static void *adds(void *arg)
{
    counter *c = arg;
    for (int i = 0; i < c->per_task; i++) {
        ck_assert_weft(weft_mutex_lock(&c->m), 0);
        long v = c->value;
        if (i % 7 == 0)
            weft_yield(); /* held across a switch: others queue up */
        c->value = v + 1;
        ck_assert_weft(weft_mutex_unlock(&c->m), 0);
    }
    return NULL;
}

static void *contend(void *arg)
{
    weft_task *t[8];
    for (int i = 0; i < 8; i++)
        ck_assert_weft(weft_spawn(&t[i], adds, arg), 0);
    for (int i = 0; i < 8; i++)
        ck_assert_weft(weft_join(t[i], NULL), 0);
    return NULL;
}

START_TEST(a_contended_mutex_never_loses_a_wake_up)
{
    counter c;
    ck_assert_weft(weft_mutex_init(&c.m), 0);
    c.value = 0;
    c.per_task = under_valgrind() ? 200 : under_tsan() ? 2000 : 20000;
    weft_config cfg = threaded_config();
    cfg.workers = 4;
    /* A lost wake-up leaves the run hanging: Check's timeout fails it. */
    ck_assert_weft(run_in(&cfg, contend, &c, NULL), 0);
    ck_assert_int_eq(c.value, 8L * c.per_task);
    ck_assert_weft(weft_mutex_destroy(&c.m), 0);
}
END_TEST

Suite *suite_seams(void)
{
    Suite *s = suite_create("seams");
    TCase *tc = tcase_create("user_found");
    tcase_add_test(tc, a_task_returning_inside_an_open_scope_is_reported_and_its_children_joined);
    tcase_add_test(tc, an_armed_timer_cannot_be_initialised_again);
    tcase_add_test(tc, a_frame_larger_than_the_guard_is_reported_as_an_overflow);
    tcase_add_test(tc, a_task_that_never_yields_is_reported_by_the_watchdog);
    tcase_add_test(tc, deaths_in_a_later_seed_of_an_exploration_are_reported_too);
    tcase_add_test(tc, an_exploration_leaves_the_threads_signal_stack_as_it_found_it);
    tcase_add_test(tc, a_contended_mutex_never_loses_a_wake_up);
    suite_add_tcase(s, tc);
    return s;
}
