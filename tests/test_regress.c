/* test_regress.c — regression tests for bugs found by review, one per
 * finding, each built from the reproducer that showed it. */
#define _GNU_SOURCE
#include "../sim/sim.h"
#include "support.h"

#include <weft/os.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


/* The simulator's state of a runtime the test made simulated. */
static weft__sim *sim_state(const weft_rt *rt)
{
    weft__sim *s = weft__sim_of(rt);
    ck_assert_ptr_nonnull(s);
    return s;
}

/* ---- select saw a case become ready during its scheduling point too late
 * and parked for good (a lost wake-up). ---- */

static weft_chan *g_ch0, *g_ch1;

static void *send_on(void *arg)
{
    int x = 1;
    weft_chan_send(arg, &x);
    return NULL;
}

static void *try_take(void *arg)
{
    (void)arg;
    int v;
    for (int i = 0; i < 4; i++) {
        if (weft_chan_try_recv(g_ch0, &v) == 0)
            break;
        weft_yield();
    }
    return NULL;
}

static void *selector(void *arg)
{
    (void)arg;
    int v0, v1;
    weft_select_case cs[2] = {{g_ch0, WEFT_SELECT_RECV, &v0, 0}, {g_ch1, WEFT_SELECT_RECV, &v1, 0}};
    return (void *)(intptr_t)weft_select(cs, 2, WEFT_NO_DEADLINE);
}

static void *select_race(void *arg)
{
    (void)arg;
    weft_chan_new(&g_ch0, sizeof(int), 0);
    weft_chan_new(&g_ch1, sizeof(int), 0);
    weft_task *a, *b, *c, *s;
    weft_spawn(&a, send_on, g_ch0);
    weft_spawn(&s, selector, NULL);
    weft_spawn(&b, try_take, NULL);
    weft_spawn(&c, send_on, g_ch1);
    /* Only the selector receives on ch1, so it always completes. */
    WEFT_ASSERT(weft_join(s, NULL) == 0);
    weft_join(b, NULL);
    weft_chan_close(g_ch0);
    weft_chan_close(g_ch1);
    weft_join(a, NULL);
    weft_join(c, NULL);
    weft_chan_free(g_ch0);
    weft_chan_free(g_ch1);
    return NULL;
}

START_TEST(select_never_misses_a_case_that_became_ready)
{
    weft_explore_opts o;
    memset(&o, 0, sizeof o);
    o.cfg.workers = 2;
    o.seeds = seeds_for(3000);
    o.flags = WEFT_EXPLORE_QUIET;
    weft_explore_result r;
    ck_assert_weft(weft_explore(&o, select_race, NULL, &r), 0);
    ck_assert_msg(r.failures == 0, "%s", r.message);
    weft_explore_result_free(&r);
}
END_TEST

/* ---- a failed task's stack went back to the pool while a scope in it was
 * still referenced by its child. ---- */

static int napping_child(void *arg)
{
    (void)arg;
    weft_sleep(1000000);
    return 0;
}

static void *scribbler(void *arg)
{
    (void)arg;
    weft_cancel_shield(1);
    volatile unsigned char buf[8192];
    memset((void *)buf, 0xAB, sizeof buf);
    weft_sleep(10); /* the child finishes meanwhile and updates its scope */
    size_t bad = 0;
    for (size_t i = 0; i < sizeof buf; i++)
        bad += buf[i] != 0xAB;
    return (void *)bad;
}

static weft_task *g_scribbler;

static void *fails_owning_a_scope(void *arg)
{
    (void)arg;
    weft_scope s;
    weft_scope_init(&s, 0);
    weft_scope_spawn(&s, napping_child, NULL, NULL);
    weft_yield();
    weft_spawn(&g_scribbler, scribbler, NULL);
    WEFT_ASSERT(0); /* abandoned, with the scope in its frame */
    return NULL;
}

static void *join_scribbler(void *arg)
{
    void **out = arg;
    weft_join(g_scribbler, out);
    return NULL;
}

START_TEST(an_abandoned_stack_is_not_reused)
{
    weft_config c = test_config(1, 0);
    weft_rt *rt;
    ck_assert_weft(weft_rt_new(&rt, &c), 0);
    ck_assert_weft(weft_rt_block_on(rt, fails_owning_a_scope, NULL, NULL), WEFT_EFAILED);
    void *bad = (void *)1;
    ck_assert_weft(weft_rt_block_on(rt, join_scribbler, &bad, NULL), 0);
    ck_assert_ptr_eq(bad, NULL); /* no byte of the scribbler's frame was written by anyone else */
    weft_rt_free(rt);
}
END_TEST

/* ---- a scheduling point reached inside a hook saved the wrong stack. ---- */

static weft_chan *g_metrics;
static int g_hook_calls, g_hook_blocked;

static void on_resume(void *ctx, const weft_hook_info *i)
{
    (void)ctx;
    uint64_t id = i->task_id;
    weft_chan_try_send(g_metrics, &id); /* reaches a scheduling point */
    int v;
    g_hook_calls++;
    g_hook_blocked += weft_chan_recv(g_metrics, &v) == WEFT_EPERM; /* a hook must not block */
}

static void *yields5(void *arg)
{
    for (int i = 0; i < 5; i++)
        weft_yield();
    return arg;
}

static void *four_yielders(void *arg)
{
    weft_task *t[4];
    for (int i = 0; i < 4; i++)
        weft_spawn(&t[i], yields5, NULL);
    for (int i = 0; i < 4; i++)
        weft_join(t[i], NULL);
    return arg;
}

START_TEST(hooks_may_call_the_runtime_but_not_be_switched_or_block)
{
    g_hook_calls = g_hook_blocked = 0;
    for (uint64_t seed = 0; seed < seeds_for(100); seed++) {
        weft_config c = test_config(2, seed);
        weft_rt *rt;
        ck_assert_weft(weft_rt_new(&rt, &c), 0);
        ck_assert_weft(weft_chan_new(&g_metrics, sizeof(uint64_t), WEFT_CHAN_UNBOUNDED), 0);
        ck_assert_weft(weft_hook_add(rt, WEFT_HOOK_MASK(WEFT_HOOK_RESUME), on_resume, NULL, NULL), 0);
        ck_assert_weft(weft_rt_block_on(rt, four_yielders, NULL, NULL), 0);
        weft_rt_free(rt);
        ck_assert_weft(weft_chan_free(g_metrics), 0);
    }
    ck_assert_int_gt(g_hook_calls, 0);
    ck_assert_int_eq(g_hook_blocked, g_hook_calls); /* every blocking call refused */
}
END_TEST

/* ---- a root left by a failed run ended a later block_on early. ---- */

static weft_event g_ev;
static int g_second_done;

static void *waits_for_event(void *arg)
{
    weft_event_wait(&g_ev);
    return arg;
}

static void *sets_then_works(void *arg)
{
    (void)arg;
    weft_event_set(&g_ev);
    weft_yield();
    weft_sleep(10);
    g_second_done = 1;
    return (void *)"second";
}

static void old_root_case(weft_mode mode)
{
    weft_config c = test_config(1, 0);
    c.mode = mode;
    weft_rt *rt;
    ck_assert_weft(weft_rt_new(&rt, &c), 0);
    weft_event_init(&g_ev, 0);
    g_second_done = 0;
    ck_assert_weft(weft_rt_block_on(rt, waits_for_event, NULL, NULL), WEFT_EDEADLK);
    void *res = NULL;
    ck_assert_weft(weft_rt_block_on(rt, sets_then_works, NULL, &res), 0);
    ck_assert_int_eq(g_second_done, 1);
    ck_assert_str_eq((const char *)res, "second");
    weft_rt_free(rt);
}

START_TEST(an_old_root_does_not_end_a_later_run)
{
    old_root_case(WEFT_MODE_SIM);
    old_root_case(WEFT_MODE_THREADED);
}
END_TEST

/* ---- one failure coloured every later run of the runtime. ---- */

static void *asserts(void *arg)
{
    WEFT_ASSERT(arg != NULL);
    return arg;
}

static void *fine(void *arg)
{
    return arg;
}

static void *deadlocks(void *arg)
{
    weft_event e;
    weft_event_init(&e, 0);
    weft_event_wait(&e);
    return arg;
}

static void *spins(void *arg)
{
    for (;;)
        weft_yield();
    return arg;
}

START_TEST(each_run_has_its_own_failure_and_budget)
{
    weft_config c = test_config(1, 0);
    c.sim.step_budget = 1000;
    weft_rt *rt;
    ck_assert_weft(weft_rt_new(&rt, &c), 0);
    ck_assert_weft(weft_rt_block_on(rt, deadlocks, NULL, NULL), WEFT_EDEADLK);
    ck_assert_weft(weft_rt_block_on(rt, asserts, NULL, NULL), WEFT_EFAILED);
    ck_assert_msg(strstr(sim_state(rt)->message, "assertion failed"), "%s", sim_state(rt)->message);
    ck_assert_weft(weft_rt_block_on(rt, fine, NULL, NULL), 0);
    ck_assert_str_eq(sim_state(rt)->message, "");
    ck_assert_weft(weft_rt_block_on(rt, spins, NULL, NULL), WEFT_ELIVELOCK);
    weft_rt_free(rt);
}
END_TEST

/* ---- a no-stack task could open and join a scope. ---- */

static int yields_once(void *arg)
{
    (void)arg;
    weft_yield();
    return 0;
}

static void *nostack_scope(void *arg)
{
    (void)arg;
    weft_scope s;
    memset(&s, 0, sizeof s);
    ck_assert_weft(weft_scope_init(&s, 0), WEFT_EPERM);
    ck_assert_weft(weft_scope_join(&s), WEFT_EINVAL); /* never opened */
    return NULL;
}

static void *spawn_nostack_scope(void *arg)
{
    (void)arg;
    weft_spawn_opts o = {.flags = WEFT_SPAWN_NOSTACK};
    weft_task *t;
    ck_assert_weft(weft_spawn_ex(&t, nostack_scope, NULL, &o), 0);
    ck_assert_weft(weft_join(t, NULL), 0);
    weft_scope s;
    ck_assert_weft(weft_scope_init(&s, 0), 0);
    ck_assert_weft(weft_scope_spawn(&s, yields_once, NULL, NULL), 0);
    ck_assert_weft(weft_scope_init(&s, 0), WEFT_EBUSY); /* open, and we are inside it */
    ck_assert_weft(weft_scope_join(&s), 0);
    return NULL;
}

START_TEST(a_nostack_task_cannot_own_a_scope)
{
    ck_assert_weft(run_sim(1, 0, spawn_nostack_scope, NULL), 0);
    weft_config c = test_config(1, 0);
    c.mode = WEFT_MODE_THREADED;
    ck_assert_weft(run_in(&c, spawn_nostack_scope, NULL, NULL), 0);
}
END_TEST

/* ---- two kinds of simulated livelock escaped the step budget. ---- */

static weft_event g_go;

static void *unpinned(void *arg)
{
    return arg;
}

static void *pinned_spawner(void *arg)
{
    weft_spawn(NULL, unpinned, NULL);
    weft_event_set(&g_go);
    return arg;
}

static void *lifo_scene(void *arg)
{
    (void)arg;
    weft_event_init(&g_go, 0);
    weft_spawn_opts o = {.flags = WEFT_SPAWN_PINNED, .worker = 1};
    weft_task *x;
    weft_spawn_ex(&x, pinned_spawner, NULL, &o);
    weft_event_wait(&g_go);
    weft_join(x, NULL);
    return NULL;
}

START_TEST(a_futile_steal_is_not_offered_forever)
{
    for (uint64_t seed = 0; seed < 40; seed++) {
        weft_config c = test_config(2, seed);
        c.runq = weft_runq_lifo();
        c.sim.strategy = WEFT_STRATEGY_PCT;
        c.sim.step_budget = 100000;
        ck_assert_msg(run_in(&c, lifo_scene, NULL, NULL) == 0, "seed %llu", (unsigned long long)seed);
    }
}
END_TEST

static weft_timer g_ticker;
static unsigned long g_ticks;

static void tick(weft_timer *t, void *arg)
{
    g_ticks++;
    weft_timer_start(t, weft_now() + (arg ? 1000000 : 0), tick, arg);
}

static void *ticks_while_blocked(void *arg)
{
    weft_timer_init(&g_ticker);
    weft_timer_start(&g_ticker, weft_now() + 1000000, tick, arg);
    weft_event e;
    weft_event_init(&e, 0);
    weft_event_wait(&e); /* forever */
    return NULL;
}

START_TEST(timer_livelocks_hit_the_step_budget)
{
    for (int periodic = 0; periodic < 2; periodic++) {
        weft_config c = test_config(1, 0);
        c.sim.step_budget = 1000;
        g_ticks = 0;
        ck_assert_weft(run_in(&c, ticks_while_blocked, periodic ? (void *)1 : NULL, NULL), WEFT_ELIVELOCK);
        ck_assert_uint_le(g_ticks, 1001);
        /* Still armed when its runtime was freed: disarmed, not dangling. */
        ck_assert_int_eq(weft_timer_pending(&g_ticker), 0);
        ck_assert_weft(weft_timer_stop(&g_ticker), WEFT_EALREADY);
    }
}
END_TEST

/* ---- shields were ignored by cond_wait and select. ---- */

static weft_mutex g_m;
static weft_cond g_cv;
static weft_chan *g_ch;
static int g_ready, g_r[4];

static void *shielded_cleanup(void *arg)
{
    (void)arg;
    weft_sleep(1000); /* cancelled here */
    int prev = weft_cancel_shield(1);
    weft_mutex_lock(&g_m);
    int r = 0;
    while (!g_ready && (r = weft_cond_wait(&g_cv, &g_m)) == 0)
        ;
    g_r[0] = r;
    weft_mutex_unlock(&g_m);
    int v;
    weft_select_case cs[1] = {{g_ch, WEFT_SELECT_RECV, &v, 0}};
    g_r[1] = weft_select(cs, 1, WEFT_NO_DEADLINE);
    g_r[2] = weft_chan_recv(g_ch, &v);
    weft_cancel_shield(prev);
    g_r[3] = weft_sleep(10);
    return NULL;
}

static void *helps(void *arg)
{
    (void)arg;
    weft_sleep(5000);
    weft_mutex_lock(&g_m);
    g_ready = 1;
    weft_cond_signal(&g_cv);
    weft_mutex_unlock(&g_m);
    int x = 7;
    weft_chan_send(g_ch, &x);
    weft_chan_send(g_ch, &x);
    return NULL;
}

static void *shield_scene(void *arg)
{
    (void)arg;
    weft_mutex_init(&g_m);
    weft_cond_init(&g_cv);
    weft_chan_new(&g_ch, sizeof(int), 0);
    g_ready = 0;
    weft_task *v, *h;
    weft_spawn(&v, shielded_cleanup, NULL);
    weft_spawn(&h, helps, NULL);
    weft_sleep(1);
    weft_cancel(v);
    weft_join(v, NULL);
    weft_join(h, NULL);
    weft_chan_free(g_ch);
    return NULL;
}

START_TEST(a_shield_covers_cond_wait_and_select)
{
    ck_assert_weft(run_sim(1, 0, shield_scene, NULL), 0);
    ck_assert_weft(g_r[0], 0);
    ck_assert_weft(g_r[1], 0);
    ck_assert_weft(g_r[2], 0);
    ck_assert_weft(g_r[3], WEFT_ECANCELED); /* the cancel still stands after the shield */
}
END_TEST

/* ---- a mutex held by a finished task passed to the next task in its slot;
 * two armed timers stop cleanly. ---- */

static void *locks_and_returns(void *arg)
{
    weft_mutex_lock(arg);
    return NULL;
}

static void *stranger(void *arg)
{
    return (void *)(intptr_t)weft_mutex_unlock(arg);
}

static void nop(weft_timer *t, void *arg)
{
    (void)t;
    (void)arg;
}

static void *slot_reuse(void *arg)
{
    (void)arg;
    weft_mutex m;
    weft_mutex_init(&m);
    weft_task *t;
    void *r;
    weft_spawn(&t, locks_and_returns, &m);
    weft_join(t, NULL);
    weft_spawn(&t, stranger, &m); /* same slot, new task */
    weft_join(t, &r);
    ck_assert_int_eq((int)(intptr_t)r, WEFT_EPERM);
    weft_timer a, b;
    weft_timer_init(&a);
    weft_timer_init(&b);
    weft_timer_start(&a, weft_now() + 100, nop, NULL);
    weft_timer_start(&b, weft_now() + 100, nop, NULL);
    ck_assert_weft(weft_timer_stop(&b), 0);
    ck_assert_weft(weft_timer_stop(&a), 0);
    ck_assert_weft(weft_timer_stop(&a), WEFT_EALREADY);
    ck_assert_weft(weft_sleep(1000), 0);
    return NULL;
}

START_TEST(mutex_owner_survives_slot_reuse)
{
    ck_assert_weft(run_sim(1, 0, slot_reuse, NULL), 0);
}
END_TEST

/* ---- a recorded trace kept pointers to names freed after join. ---- */

static void *named_child(void *arg)
{
    (void)arg;
    char *name = malloc(32);
    strcpy(name, "worker-alpha");
    weft_spawn_opts o = {.name = name};
    weft_task *t;
    weft_spawn_ex(&t, fine, NULL, &o);
    weft_join(t, NULL);
    memset(name, 'X', 31);
    free(name); /* allowed: a name lives until its task is joined */
    return NULL;
}

START_TEST(trace_names_outlive_their_tasks)
{
    char path[512];
    temp_file(path, sizeof path, "names", ".txt");
    weft_config c = test_config(1, 0);
    c.sim.record_trace = 1;
    weft_rt *rt;
    ck_assert_weft(weft_rt_new(&rt, &c), 0);
    ck_assert_weft(weft_rt_block_on(rt, named_child, NULL, NULL), 0);
    ck_assert_weft(weft_rt_trace_write_text(rt, path), 0);
    weft_rt_free(rt);
    FILE *f = fopen(path, "r");
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    unlink(path);
    ck_assert_msg(strstr(buf, "spawn task 2 (worker-alpha)"), "%s", buf);
}
END_TEST

/* ---- overdue timers fired in the order set, not by deadline; the live
 * count stayed up after shutdown abandoned a task; a leftover schedule was
 * not reported; WEFT_SEED=010 meant 8 in one place and 10 in another. ---- */

static int g_order[3], g_n;

static void note_fire(weft_timer *t, void *arg)
{
    (void)t;
    g_order[g_n++] = (int)(intptr_t)arg;
}

static void *overdue(void *arg)
{
    (void)arg;
    weft_sleep(1000);
    uint64_t now = weft_now();
    weft_timer t[3];
    for (int i = 0; i < 3; i++)
        weft_timer_init(&t[i]);
    weft_timer_start(&t[0], now - 10, note_fire, (void *)0);
    weft_timer_start(&t[1], now - 30, note_fire, (void *)1);
    weft_timer_start(&t[2], now - 20, note_fire, (void *)2);
    weft_sleep(1);
    return NULL;
}

START_TEST(small_things)
{
    g_n = 0;
    ck_assert_weft(run_sim(1, 0, overdue, NULL), 0);
    ck_assert_int_eq(g_n, 3);
    ck_assert_int_eq(g_order[0], 1);
    ck_assert_int_eq(g_order[1], 2);
    ck_assert_int_eq(g_order[2], 0);

    weft_config c = test_config(1, 0);
    weft_rt *rt;
    ck_assert_weft(weft_rt_new(&rt, &c), 0);
    ck_assert_weft(weft_rt_block_on(rt, spins, NULL, NULL), WEFT_ELIVELOCK);
    weft_rt_shutdown(rt);
    weft_rt_stats st;
    weft_rt_stats_get(rt, &st);
    ck_assert_uint_eq(st.live_tasks, 0);
    weft_rt_free(rt);

    /* A schedule longer than the program: refused at the end of the run. */
    weft_config rc = test_config(2, 1);
    rc.flags = WEFT_CFG_QUIET;
    ck_assert_weft(weft_rt_new(&rt, &rc), 0);
    ck_assert_weft(weft_rt_block_on(rt, four_yielders, NULL, NULL), 0);
    char *sched;
    ck_assert_weft(weft_rt_schedule(rt, &sched, NULL), 0);
    weft_rt_free(rt);
    setenv("WEFT_SCHEDULE", sched, 1);
    char msg[4096];
    ck_assert_weft(weft_check_seeds(&rc, fine, NULL, 1, msg, sizeof msg), WEFT_ESCHEDULE);
    ck_assert_msg(strstr(msg, "unused"), "%s", msg);
    ck_assert_weft(weft_check_seeds(&rc, four_yielders, NULL, 1, msg, sizeof msg), 0);
    unsetenv("WEFT_SCHEDULE");
    free(sched);

    setenv("WEFT_SEED", "010", 1);
    weft_config e = test_config(1, 0);
    e.flags = WEFT_CFG_QUIET;
    ck_assert_weft(weft_rt_new(&rt, &e), 0);
    ck_assert_uint_eq(sim_state(rt)->seed, 10);
    weft_rt_free(rt);
    unsetenv("WEFT_SEED");
}
END_TEST

/* ---- second review: a real-backend shutdown spun forever on a task that
 * shielded itself (its budget in time never ended the drain); trace_diff
 * said "identical" for bad arguments; WEFT_SEED took leading blanks and
 * signs. ---- */

static weft_event g_never_set;

static void *shielded_waiter(void *arg)
{
    weft_cancel_shield(1);
    for (int i = 0; i < 3; i++)
        weft_event_wait(&g_never_set);
    return arg;
}

static void *shielded_sleeper(void *arg)
{
    weft_cancel_shield(1);
    weft_sleep(3600ull * 1000000000ull);
    return arg;
}

static weft_fn g_stubborn;

static void *leave_behind(void *arg)
{
    weft_event_init(&g_never_set, 0);
    ck_assert_weft(weft_spawn(NULL, g_stubborn, NULL), 0);
    weft_yield();
    return arg;
}

/* The runtime's clock, stopped: a drain that waited for its time budget
 * would never end (the suite's timeout would fail it), so one that ends
 * shows it gave up without waiting. */
static uint64_t g_stopped_at;

static uint64_t stopped_clock(void *ctx)
{
    (void)ctx;
    return g_stopped_at;
}

static uint64_t monotonic_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Shut down a runtime (its clock replaced when `os` says so) that left
 * `stubborn` behind: the one task is abandoned and nothing stays live.
 * *took_ns, when asked for: how long the shutdown took. */
static void shut_down_abandoning(weft_fn stubborn, const weft_os *os, uint64_t *took_ns)
{
    weft_config c = threaded_config();
    c.os = os;
    weft_rt *rt;
    ck_assert_weft(weft_rt_new(&rt, &c), 0);
    g_stubborn = stubborn;
    ck_assert_weft(weft_rt_block_on(rt, leave_behind, NULL, NULL), 0);
    uint64_t t0 = monotonic_ns();
    ck_assert_int_eq(weft_rt_shutdown(rt), 1);
    if (took_ns)
        *took_ns = monotonic_ns() - t0;
    weft_rt_stats st;
    ck_assert_weft(weft_rt_stats_get(rt, &st), 0);
    ck_assert_uint_eq(st.shutdown_abandoned, 1);
    ck_assert_uint_eq(st.live_tasks, 0);
    weft_rt_free(rt);
}

START_TEST(real_shutdown_is_bounded_in_time)
{
    /* Nothing can wake the waiter: given up at once, with the clock
     * stopped (waiting out the budget would never end). */
    g_stopped_at = monotonic_ns();
    weft_os stopped = {0};
    stopped.monotonic_ns = stopped_clock;
    shut_down_abandoning(shielded_waiter, &stopped, NULL);
    /* The sleeper would wake in an hour: it is given its 5 s budget, then
     * abandoned (a drain that waited for it would outlast the suite). */
    uint64_t took;
    shut_down_abandoning(shielded_sleeper, NULL, &took);
    ck_assert_uint_ge(took, 5000000000u);
}
END_TEST

static void *two_racers(void *arg)
{
    for (int i = 0; i < 2; i++)
        weft_spawn(NULL, yields5, NULL);
    return arg;
}

static weft_rt *recorded_run(uint64_t seed)
{
    weft_config c = test_config(2, seed);
    c.sim.record_trace = 1;
    weft_rt *rt;
    ck_assert_weft(weft_rt_new(&rt, &c), 0);
    ck_assert_weft(weft_rt_block_on(rt, two_racers, NULL, NULL), 0);
    return rt;
}

START_TEST(trace_diff_finds_the_first_difference_and_refuses_bad_input)
{
    weft_rt *a = recorded_run(1), *same = recorded_run(1);
    char ea[256], eb[256];
    ck_assert_int_eq(weft_trace_diff(a, same, ea, sizeof ea, eb, sizeof eb), -1);
    /* Some seed among the next few schedules the racers differently. */
    int64_t at = -1;
    for (uint64_t seed = 2; seed < 20 && at == -1; seed++) {
        weft_rt *other = recorded_run(seed);
        at = weft_trace_diff(a, other, ea, sizeof ea, eb, sizeof eb);
        weft_rt_free(other);
    }
    ck_assert_int_ge(at, 0);
    ck_assert_str_ne(ea, eb);
    weft_config tc = threaded_config();
    weft_rt *real;
    ck_assert_weft(weft_rt_new(&real, &tc), 0);
    ck_assert_int_eq(weft_trace_diff(a, NULL, NULL, 0, NULL, 0), WEFT_EINVAL);
    ck_assert_int_eq(weft_trace_diff(a, real, NULL, 0, NULL, 0), WEFT_EINVAL);
    weft_rt_free(real);
    weft_rt_free(same);
    weft_rt_free(a);
}
END_TEST

START_TEST(env_numbers_are_digits_only_and_pct_takes_depth_and_steps)
{
    static const char *const bad_seeds[] = {" 5", "+5", "-1", " -1", "5x", "0x", ""};
    for (size_t i = 0; i < sizeof bad_seeds / sizeof *bad_seeds; i++) {
        setenv("WEFT_SEED", bad_seeds[i], 1);
        weft_config c = test_config(1, 0);
        c.flags = WEFT_CFG_QUIET;
        weft_rt *rt = NULL;
        /* An empty value means "not set"; every other one is refused. */
        ck_assert_weft(weft_rt_new(&rt, &c), *bad_seeds[i] ? WEFT_EINVAL : 0);
        weft_rt_free(rt);
    }
    unsetenv("WEFT_SEED");
    static const struct {
        const char *v;
        int r;
        unsigned depth, steps;
    } strategies[] = {
        {"pct", 0, 2, 1000},       {"PCT:3", 0, 3, 1000},   {"pct:3:50", 0, 3, 50}, {"pct:", WEFT_EINVAL, 0, 0},
        {"pct:0", WEFT_EINVAL, 0, 0}, {"pct:65", WEFT_EINVAL, 0, 0}, {"pct:3:", WEFT_EINVAL, 0, 0},
        {"pct:3:0", WEFT_EINVAL, 0, 0}, {"pctx", WEFT_EINVAL, 0, 0}, {"pct:3:5:7", WEFT_EINVAL, 0, 0},
    };
    for (size_t i = 0; i < sizeof strategies / sizeof *strategies; i++) {
        setenv("WEFT_STRATEGY", strategies[i].v, 1);
        weft_config c = test_config(2, 0);
        c.flags = WEFT_CFG_QUIET;
        weft_rt *rt = NULL;
        ck_assert_msg(weft_rt_new(&rt, &c) == strategies[i].r, "WEFT_STRATEGY=%s", strategies[i].v);
        if (rt) {
            ck_assert_uint_eq(sim_state(rt)->pct_depth, strategies[i].depth);
            ck_assert_uint_eq(sim_state(rt)->pct_steps, strategies[i].steps);
        }
        weft_rt_free(rt);
    }
    unsetenv("WEFT_STRATEGY");
}
END_TEST

/* ---- the workers of an engine share one epoll instance, which one of them
 * at a time sleeps in while the other sleeps on its futex: a wake must reach
 * each where it sleeps (a futex wake for the one in epoll_wait, or a kick
 * taken by the other, would leave it asleep). Both workers are let go idle
 * before every round, and a thread outside the runtime wakes a task pinned
 * on each. ---- */

#include "../backends/reactor/reactor.h"
#include "../backends/threads/threads.h"

#include <pthread.h>
#include <sched.h>

#define WAKE_ROUNDS 100u

typedef struct two_sleepers {
    weft_rt *rt;
    weft_notify n[2];
    weft__a32 woken[2]; /* rounds each task has seen */
    int result[2];
    int run; /* weft_rt_block_on's code, checked on the test's thread */
} two_sleepers;

static void *waits_on_its_worker(void *arg)
{
    two_sleepers *ts = arg;
    unsigned i = weft__tls_worker->index;
    for (unsigned r = 0; r < WAKE_ROUNDS; r++) {
        /* A minute: the wake comes at once unless it is lost. */
        int e = weft_notify_wait_until(&ts->n[i], weft_now() + 60ull * 1000000000u);
        if (e != 0) {
            ts->result[i] = e;
            return NULL;
        }
        weft__st(&ts->woken[i], r + 1, WEFT__RELEASE);
    }
    return NULL;
}

static void *one_on_each_worker(void *arg)
{
    weft_task *t[2];
    for (unsigned i = 0; i < 2; i++) {
        weft_spawn_opts o = {.flags = WEFT_SPAWN_PINNED, .worker = i};
        ck_assert_weft(weft_spawn_ex(&t[i], waits_on_its_worker, arg, &o), 0);
    }
    for (unsigned i = 0; i < 2; i++)
        ck_assert_weft(weft_join(t[i], NULL), 0);
    return NULL;
}

static void *root_of(void *arg)
{
    two_sleepers *ts = arg;
    void *res;
    ts->run = weft_rt_block_on(ts->rt, one_on_each_worker, ts, &res);
    return NULL;
}

static bool both_idle(weft_rt *rt)
{
    return (weft__ld(&rt->engines[0].idle, WEFT__ACQUIRE) & 3u) == 3u;
}

START_TEST(a_wake_reaches_each_worker_where_it_sleeps)
{
    weft_config c = threaded_config();
    c.workers = 2;
    c.reactor = WEFT_REACTOR_EPOLL;
    two_sleepers ts;
    memset(&ts, 0, sizeof ts);
    ck_assert_weft(weft_rt_new(&ts.rt, &c), 0);
    ck_assert_weft(weft_notify_init(&ts.n[0]), 0);
    ck_assert_weft(weft_notify_init(&ts.n[1]), 0);
    pthread_t root;
    ck_assert_int_eq(pthread_create(&root, NULL, root_of, &ts), 0);
    unsigned held = 0; /* rounds in which one of them slept in epoll_wait */
    for (unsigned r = 0; r < WAKE_ROUNDS && !ts.result[0] && !ts.result[1]; r++) {
        /* Both asleep (bounded: a round also counts if they never are). */
        for (unsigned spin = 0; spin < 100000 && !both_idle(ts.rt); spin++)
            sched_yield();
        usleep(200);
        held += weft__ld(&weft__thr_of(ts.rt)->tw[0].parker.state, WEFT__ACQUIRE) == WEFT__PARK_IN_REACTOR ||
                weft__ld(&weft__thr_of(ts.rt)->tw[1].parker.state, WEFT__ACQUIRE) == WEFT__PARK_IN_REACTOR;
        ck_assert_weft(weft_notify_signal(&ts.n[0]), 0);
        ck_assert_weft(weft_notify_signal(&ts.n[1]), 0);
        while ((weft__ld(&ts.woken[0], WEFT__ACQUIRE) <= r || weft__ld(&ts.woken[1], WEFT__ACQUIRE) <= r) &&
               !ts.result[0] && !ts.result[1])
            sched_yield();
    }
    ck_assert_int_eq(pthread_join(root, NULL), 0);
    ck_assert_weft(ts.run, 0);
    ck_assert_msg(ts.result[0] == 0 && ts.result[1] == 0, "a wake was lost: worker 0 %s, worker 1 %s",
                  weft_strerror(ts.result[0]), weft_strerror(ts.result[1]));
    ck_assert_uint_eq(weft__ld(&ts.woken[0], WEFT__ACQUIRE), WAKE_ROUNDS);
    ck_assert_uint_eq(weft__ld(&ts.woken[1], WEFT__ACQUIRE), WAKE_ROUNDS);
    /* The case this guards happened: a worker slept in the shared reactor. */
    ck_assert_uint_gt(held, 0);
    weft_notify_destroy(&ts.n[0]);
    weft_notify_destroy(&ts.n[1]);
    weft_rt_free(ts.rt);
}
END_TEST

/* ---- of two idle workers, new work wakes the one asleep on its futex, not
 * the one asleep in the shared epoll instance: that one keeps waiting there
 * for the engine's IO (woken, it would let go of the instance to run the
 * task while the other slept on, and nobody would wait for IO). Which worker
 * a wake chooses is checked where it is made, on a runtime between runs: its
 * threads then wait for the next run, so the test can set who sleeps where
 * and read which parker the wake reached. ---- */

typedef struct three_tasks {
    weft__a32 ran;
    weft_notify all_ran; /* signalled by the third */
} three_tasks;

static void *counts_itself(void *arg)
{
    three_tasks *tt = arg;
    if (weft__fetch_add(&tt->ran, 1u, WEFT__ACQ_REL) + 1 == 3)
        ck_assert_weft(weft_notify_signal(&tt->all_ran), 0);
    return NULL;
}

/* A minute: the tasks are queued before the run starts, so they run at once
 * unless one is lost. */
static void *waits_for_three(void *arg)
{
    three_tasks *tt = arg;
    ck_assert_weft(weft_notify_wait_until(&tt->all_ran, weft_now() + 60ull * 1000000000u), 0);
    return NULL;
}

/* Poses worker 0 and 1 as idle with the given parker states, makes a foreign
 * spawn, and returns the state each parker was left in. */
static void wake_from_outside(weft_rt *rt, three_tasks *tt, uint64_t idle, const uint32_t posed[2], uint32_t left[2])
{
    weft__thr *thr = weft__thr_of(rt);
    weft__st(&rt->engines[0].idle, idle, WEFT__RELEASE);
    for (unsigned i = 0; i < 2; i++)
        weft__st(&thr->tw[i].parker.state, posed[i], WEFT__RELEASE);
    ck_assert_weft(weft_rt_spawn(rt, NULL, counts_itself, tt, NULL), 0);
    for (unsigned i = 0; i < 2; i++) {
        left[i] = weft__ld(&thr->tw[i].parker.state, WEFT__ACQUIRE);
        weft__st(&thr->tw[i].parker.state, (uint32_t)WEFT__PARK_EMPTY, WEFT__RELEASE);
    }
    weft__st(&rt->engines[0].idle, 0, WEFT__RELEASE);
}

START_TEST(new_work_from_outside_wakes_a_worker_not_sleeping_in_the_reactor)
{
    weft_config c = threaded_config();
    c.workers = 2;
    c.reactor = WEFT_REACTOR_EPOLL;
    weft_rt *rt;
    ck_assert_weft(weft_rt_new(&rt, &c), 0);
    ck_assert_msg(weft__thr_of(rt)->tw[0].reactor->shared, "the workers do not share an epoll instance");
    three_tasks tt;
    weft__st(&tt.ran, 0u, WEFT__RELAXED);
    ck_assert_weft(weft_notify_init(&tt.all_ran), 0);
    const uint32_t in_reactor = WEFT__PARK_IN_REACTOR, parked = WEFT__PARK_PARKED, notified = WEFT__PARK_NOTIFIED;
    uint32_t left[2];

    /* Worker 0, the one a wake without a preference picks (the lowest
     * index), sleeps in the instance: the wake goes to worker 1. */
    wake_from_outside(rt, &tt, 3, (uint32_t[2]){in_reactor, parked}, left);
    ck_assert_uint_eq(left[0], in_reactor);
    ck_assert_uint_eq(left[1], notified);
    /* The other way round, the same. */
    wake_from_outside(rt, &tt, 3, (uint32_t[2]){parked, in_reactor}, left);
    ck_assert_uint_eq(left[0], notified);
    ck_assert_uint_eq(left[1], in_reactor);
    /* The holder alone is idle: it is woken (in the instance), the work is
     * not left waiting. */
    wake_from_outside(rt, &tt, 1, (uint32_t[2]){in_reactor, parked}, left);
    ck_assert_uint_eq(left[0], notified);

    /* The three tasks run in the next run: nothing was lost. */
    void *res;
    ck_assert_weft(weft_rt_block_on(rt, waits_for_three, &tt, &res), 0);
    ck_assert_uint_eq(weft__ld(&tt.ran, WEFT__ACQUIRE), 3);
    weft_notify_destroy(&tt.all_ran);
    weft_rt_free(rt);
}
END_TEST

Suite *suite_regress(void)
{
    Suite *s = suite_create("regress");
    TCase *tc = tcase_create("review");
    tcase_add_test(tc, select_never_misses_a_case_that_became_ready);
    tcase_add_test(tc, an_abandoned_stack_is_not_reused);
    tcase_add_test(tc, hooks_may_call_the_runtime_but_not_be_switched_or_block);
    tcase_add_test(tc, an_old_root_does_not_end_a_later_run);
    tcase_add_test(tc, each_run_has_its_own_failure_and_budget);
    tcase_add_test(tc, a_nostack_task_cannot_own_a_scope);
    tcase_add_test(tc, a_futile_steal_is_not_offered_forever);
    tcase_add_test(tc, timer_livelocks_hit_the_step_budget);
    tcase_add_test(tc, a_shield_covers_cond_wait_and_select);
    tcase_add_test(tc, mutex_owner_survives_slot_reuse);
    tcase_add_test(tc, trace_names_outlive_their_tasks);
    tcase_add_test(tc, a_wake_reaches_each_worker_where_it_sleeps);
    tcase_add_test(tc, new_work_from_outside_wakes_a_worker_not_sleeping_in_the_reactor);
    tcase_add_test(tc, small_things);
    tcase_add_test(tc, real_shutdown_is_bounded_in_time);
    tcase_add_test(tc, trace_diff_finds_the_first_difference_and_refuses_bad_input);
    tcase_add_test(tc, env_numbers_are_digits_only_and_pct_takes_depth_and_steps);
    suite_add_tcase(s, tc);
    return s;
}
