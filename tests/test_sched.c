/* test_sched.c — the scheduler's promises that only show under load, each
 * measured in steps (never in time): the cooperative budget (a task that
 * never blocks still lets the rest of its queue run), the fairness tick and
 * the housekeeping poll (a task handed in from a foreign thread and a due
 * timer run under a hot local queue), and a bug that only stealing can
 * expose, found by seed in the simulator and replayed from its seed. */
#define _GNU_SOURCE
#include "support.h"
#include <weft/check.h>
#include <weft/sim.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the cooperative budget ------------------------------------------------ */

/* Runtime calls the hog makes, none of which ever suspends it. The budget is
 * 128 calls (WEFT__COOP_BUDGET, tokio's figure); the victim must get the CPU
 * well before the hog is done, and again and again while it goes on. */
#define HOG_CALLS 20000
/* The most calls the hog may make before the victim's first turn: several
 * budgets, far fewer than HOG_CALLS. */
#define HOG_FIRST_TURN_MAX 1000

typedef struct hog_ctx {
    int kind; /* 0: sends on a channel with room for all; 1: lock and unlock a free mutex */
    weft_chan *ch;
    weft_mutex m;
    int calls;      /* the hog's calls so far */
    int seen;       /* the hog's calls when the victim first ran, or -1 */
    int turns;      /* the victim's turns while the hog was still going */
} hog_ctx;

static void *hog(void *arg)
{
    hog_ctx *x = arg;
    for (int i = 0; i < HOG_CALLS; i++) {
        if (x->kind == 0) {
            ck_assert_weft(weft_chan_send(x->ch, &i), 0);
        } else {
            ck_assert_weft(weft_mutex_lock(&x->m), 0);
            ck_assert_weft(weft_mutex_unlock(&x->m), 0);
        }
        x->calls = i + 1;
    }
    return NULL;
}

static void *victim(void *arg)
{
    hog_ctx *x = arg;
    x->seen = x->calls;
    while (x->calls < HOG_CALLS) {
        x->turns++;
        weft_yield();
    }
    return NULL;
}

static void *hog_body(void *arg)
{
    hog_ctx *x = arg;
    x->calls = 0;
    x->seen = -1;
    x->turns = 0;
    ck_assert_weft(weft_chan_new(&x->ch, sizeof(int), HOG_CALLS), 0);
    ck_assert_weft(weft_mutex_init(&x->m), 0);
    /* One worker, FIFO: the hog starts first and the victim waits behind it. */
    weft_task *h = spawn_ok(hog, x);
    weft_task *v = spawn_ok(victim, x);
    ck_assert_weft(weft_join(h, NULL), 0);
    ck_assert_weft(weft_join(v, NULL), 0);
    ck_assert_weft(weft_mutex_destroy(&x->m), 0);
    ck_assert_weft(weft_chan_free(x->ch), 0);
    return NULL;
}

static void check_hog(const hog_ctx *x, const char *where)
{
    ck_assert_msg(x->seen >= 0 && x->seen <= HOG_FIRST_TURN_MAX,
                  "%s, %s hog: the other task first ran after %d of the hog's %d calls (at most %d allowed)", where,
                  x->kind ? "mutex" : "channel", x->seen, HOG_CALLS, HOG_FIRST_TURN_MAX);
    /* It kept getting turns while the hog went on: one per budget or so. */
    ck_assert_msg(x->turns >= HOG_CALLS / HOG_FIRST_TURN_MAX,
                  "%s, %s hog: the other task had %d turns during the hog's %d calls", where,
                  x->kind ? "mutex" : "channel", x->turns, HOG_CALLS);
}

START_TEST(a_task_that_never_blocks_lets_its_queue_run_on_one_real_worker)
{
    for (int kind = 0; kind < 2; kind++) {
        hog_ctx x;
        memset(&x, 0, sizeof x);
        x.kind = kind;
        weft_config c = threaded_config(); /* one worker */
        ck_assert_weft(run_in(&c, hog_body, &x, NULL), 0);
        check_hog(&x, "1 real worker");
    }
}
END_TEST

/* A spawn spends the coop budget on a lone real worker: a burst of 300
 * spawns yields at the 128th and the 256th, and the children queued by
 * then run before the spawner goes on. A no-stack spawner cannot yield:
 * its burst stays queued. */
static int burst_ran;

static void *bump(void *arg)
{
    (void)arg;
    burst_ran++;
    return NULL;
}

static void *spawn_burst(void *arg)
{
    int *ran_during = arg;
    for (int i = 0; i < 300; i++)
        ck_assert_weft(weft_spawn(NULL, bump, NULL), 0);
    *ran_during = burst_ran;
    return NULL;
}

static void *burst_root(void *arg)
{
    int *ran_during = arg;
    weft_spawn_opts o = {.flags = (unsigned)ran_during[1]};
    weft_task *t;
    ck_assert_weft(weft_spawn_ex(&t, spawn_burst, ran_during, &o), 0);
    ck_assert_weft(weft_join(t, NULL), 0);
    return NULL;
}

START_TEST(a_spawn_burst_on_a_lone_real_worker_runs_as_it_goes)
{
    for (unsigned nostack = 0; nostack < 2; nostack++) {
        weft_config c = threaded_config(); /* one worker */
        int ran_during[2] = {-1, nostack ? (int)WEFT_SPAWN_NOSTACK : 0};
        burst_ran = 0;
        ck_assert_weft(run_in(&c, burst_root, ran_during, NULL), 0);
        ck_assert_int_eq(burst_ran, 300);
        if (nostack)
            ck_assert_int_eq(ran_during[0], 0);
        else
            ck_assert_msg(ran_during[0] >= 128 && ran_during[0] < 300, "%d ran during the burst", ran_during[0]);
    }
}
END_TEST

START_TEST(a_task_that_never_blocks_lets_its_queue_run_in_simulation)
{
    /* One virtual worker: no other worker can take the victim, so only the
     * budget can give it a turn. */
    uint64_t seeds = under_valgrind() || under_tsan() ? 3 : seeds_for(20); /* one worker: seeds change little */
    for (int kind = 0; kind < 2; kind++)
        for (uint64_t seed = 0; seed < seeds; seed++) {
            hog_ctx x;
            memset(&x, 0, sizeof x);
            x.kind = kind;
            ck_assert_weft(run_sim(1, seed, hog_body, &x), 0);
            char where[64];
            snprintf(where, sizeof where, "1 virtual worker, seed %llu", (unsigned long long)seed);
            check_hog(&x, where);
        }
}
END_TEST

/* ---- the fairness tick and the housekeeping poll under a hot local queue --- */

/* Tasks that yield to each other on one worker: the local queue is never
 * empty. Each counts its steps from the moment the work it competes with
 * is there (the foreign thread's spawn returned; the timer is due); they
 * stop after HOT_STEPS of each, which is the hang protection: a starved task
 * runs at the latest then, and the count it sees says it was starved. */
#define HOT_TASKS 3
#define HOT_STEPS 100000
/* The fairness tick comes every 61 loop steps (WEFT__FAIRNESS_TICK) and a
 * loop step runs up to 64 tasks by direct switches (the timer poll mask):
 * about 3,900 steps; twice that at most. */
#define HOT_WAIT_MAX 8000

typedef struct hot_ctx {
    weft_rt *rt;
    atomic_int hot_started; /* a hot task ran: the foreign thread may spawn */
    atomic_int spawned;     /* weft_rt_spawn returned */
    int after_spawn;        /* hot steps since then */
    uint64_t due;           /* the sleeper's deadline */
    int after_due;          /* hot steps taken at or after it */
    int injected_saw;       /* after_spawn when the injected task ran, or -1 */
    int sleeper_saw;        /* after_due when the sleeper woke, or -1 */
    atomic_int injected_ran;
} hot_ctx;

static void *injected(void *arg)
{
    hot_ctx *x = arg;
    x->injected_saw = x->after_spawn;
    atomic_store(&x->injected_ran, 1);
    return NULL;
}

static void *foreign_spawner(void *arg)
{
    hot_ctx *x = arg;
    while (!atomic_load(&x->hot_started))
        sched_yield();
    int r = weft_rt_spawn(x->rt, NULL, injected, x, NULL);
    atomic_store(&x->spawned, r == 0 ? 1 : r);
    return NULL;
}

static void *hot(void *arg)
{
    hot_ctx *x = arg;
    atomic_store(&x->hot_started, 1);
    for (;;) {
        weft_yield();
        int sp = atomic_load(&x->spawned);
        ck_assert_int_ge(sp, 0); /* the spawn worked */
        if (sp)
            x->after_spawn++;
        if (weft_now() >= x->due)
            x->after_due++;
        bool injected_done = atomic_load(&x->injected_ran) || x->after_spawn >= HOT_STEPS;
        bool sleeper_done = x->sleeper_saw >= 0 || x->after_due >= HOT_STEPS;
        if (injected_done && sleeper_done)
            return NULL;
    }
}

static void *sleeper(void *arg)
{
    hot_ctx *x = arg;
    ck_assert_weft(weft_sleep_until(x->due), 0);
    x->sleeper_saw = x->after_due;
    return NULL;
}

static void *hot_body(void *arg)
{
    hot_ctx *x = arg;
    x->due = weft_now() + 2 * MS;
    weft_task *s = spawn_ok(sleeper, x);
    weft_yield(); /* the sleeper is waiting on its timer */
    weft_task *t[HOT_TASKS];
    for (int i = 0; i < HOT_TASKS; i++)
        t[i] = spawn_ok(hot, x);
    for (int i = 0; i < HOT_TASKS; i++)
        ck_assert_weft(weft_join(t[i], NULL), 0);
    ck_assert_weft(weft_join(s, NULL), 0);
    return NULL;
}

START_TEST(a_foreign_spawn_and_a_due_timer_run_under_a_hot_local_queue)
{
    hot_ctx x;
    memset(&x, 0, sizeof x);
    x.injected_saw = -1;
    x.sleeper_saw = -1;
    weft_config c = threaded_config(); /* one worker: no one else takes the injected task */
    ck_assert_weft(weft_rt_new(&x.rt, &c), 0);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, foreign_spawner, &x), 0);
    ck_assert_weft(weft_rt_block_on(x.rt, hot_body, &x, NULL), 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    /* The injected task is detached: it has run by the time block_on's root
     * returned only if it was not starved to the end; run it out anyway. */
    weft_rt_free(x.rt);
    ck_assert_int_eq(atomic_load(&x.injected_ran), 1);
    ck_assert_msg(x.injected_saw >= 0 && x.injected_saw <= HOT_WAIT_MAX,
                  "the task spawned from a foreign thread ran after %d hot steps (at most %d allowed)", x.injected_saw,
                  HOT_WAIT_MAX);
    ck_assert_msg(x.sleeper_saw >= 0 && x.sleeper_saw <= HOT_WAIT_MAX,
                  "the due timer woke its task after %d hot steps (at most %d allowed)", x.sleeper_saw, HOT_WAIT_MAX);
}
END_TEST

/* ---- a bug that only stealing shows, found by seed ------------------------ */

/* The bug: a child assumes it runs on the worker that spawned it (say, it
 * uses that worker's unlocked cache). True on one worker; false as soon as
 * another worker steals it. */
#define STEAL_CHILDREN 4
#define STEAL_SEEDS 300

static void *assumes_its_spawners_worker(void *arg)
{
    int spawner = (int)(intptr_t)arg;
    WEFT_ASSERT(weft_worker_index() == spawner);
    return NULL;
}

static void *steal_bug_test(void *arg)
{
    (void)arg;
    weft_task *t[STEAL_CHILDREN];
    for (int i = 0; i < STEAL_CHILDREN; i++)
        ck_assert_weft(weft_spawn(&t[i], assumes_its_spawners_worker, (void *)(intptr_t)weft_worker_index()), 0);
    for (int i = 0; i < STEAL_CHILDREN; i++)
        weft_join(t[i], NULL);
    return NULL;
}

static weft_explore_result explore_steal_bug(unsigned workers)
{
    weft_explore_opts o;
    memset(&o, 0, sizeof o);
    o.cfg = test_config(workers, 0);
    o.cfg.sim.strategy = WEFT_STRATEGY_RANDOM;
    o.seed_start = 0;
    o.seeds = STEAL_SEEDS;
    o.flags = WEFT_EXPLORE_QUIET;
    weft_explore_result r;
    ck_assert_weft(weft_explore(&o, steal_bug_test, NULL, &r), 0);
    return r;
}

/* Run the test once with cfg; returns its status, *hash the trace hash. */
static int run_steal_bug(const weft_config *cfg, uint64_t *hash)
{
    weft_rt *rt;
    ck_assert_weft(weft_rt_new(&rt, cfg), 0);
    int r = weft_rt_block_on(rt, steal_bug_test, NULL, NULL);
    *hash = weft_rt_trace_hash(rt);
    weft_rt_free(rt);
    return r;
}

START_TEST(a_bug_only_stealing_exposes_is_found_by_seed_and_replays)
{
    weft_explore_result r = explore_steal_bug(2);
    ck_assert_msg(r.failures == 1, "no failing seed in %llu runs on 2 virtual workers", (unsigned long long)r.runs);
    ck_assert_weft(r.status, WEFT_EFAILED);
    ck_assert_msg(strstr(r.message, "weft_worker_index() == spawner"), "%s", r.message);
    /* The replay line, as a user would use it: through the environment. */
    char want[96];
    snprintf(want, sizeof want, "reproduce with WEFT_WORKERS=2 WEFT_SEED=%llu", (unsigned long long)r.failing_seed);
    ck_assert_msg(strstr(r.message, want), "%s", r.message);
    const char *line = strstr(r.message, "WEFT_WORKERS=");
    char workers[16], seed[32];
    ck_assert_int_eq(sscanf(line, "WEFT_WORKERS=%15s WEFT_SEED=%31s", workers, seed), 2);
    uint64_t first = 0;
    for (int i = 0; i < 2; i++) {
        setenv("WEFT_WORKERS", workers, 1);
        setenv("WEFT_SEED", seed, 1);
        weft_config c = test_config(1, 0); /* the environment says 2 workers and the seed */
        c.flags = WEFT_CFG_QUIET;
        uint64_t h;
        ck_assert_weft(run_steal_bug(&c, &h), WEFT_EFAILED);
        unsetenv("WEFT_WORKERS");
        unsetenv("WEFT_SEED");
        ck_assert_uint_ne(h, 0);
        if (i == 0)
            first = h;
        else
            ck_assert_msg(h == first, "replay %d: trace hash %016llx, first replay %016llx", i,
                          (unsigned long long)h, (unsigned long long)first);
    }
    /* And from the seed in a config: the same run. */
    weft_config c = test_config(2, r.failing_seed);
    uint64_t h;
    ck_assert_weft(run_steal_bug(&c, &h), WEFT_EFAILED);
    ck_assert_msg(h == first, "config replay: trace hash %016llx, env replay %016llx", (unsigned long long)h,
                  (unsigned long long)first);
    weft_explore_result_free(&r);

    /* One virtual worker: nothing is ever stolen, and no seed fails. */
    r = explore_steal_bug(1);
    ck_assert_uint_eq(r.runs, STEAL_SEEDS);
    ck_assert_msg(r.failures == 0, "seed %llu failed on 1 worker: %s", (unsigned long long)r.failing_seed, r.message);
    weft_explore_result_free(&r);
}
END_TEST

Suite *suite_sched(void)
{
    Suite *s = suite_create("sched");
    TCase *tc = tcase_create("coop_budget");
    tcase_add_test(tc, a_task_that_never_blocks_lets_its_queue_run_on_one_real_worker);
    tcase_add_test(tc, a_spawn_burst_on_a_lone_real_worker_runs_as_it_goes);
    tcase_add_test(tc, a_task_that_never_blocks_lets_its_queue_run_in_simulation);
    suite_add_tcase(s, tc);
    tc = tcase_create("fairness");
    tcase_add_test(tc, a_foreign_spawn_and_a_due_timer_run_under_a_hot_local_queue);
    suite_add_tcase(s, tc);
    tc = tcase_create("stealing");
    tcase_add_test(tc, a_bug_only_stealing_exposes_is_found_by_seed_and_replays);
    suite_add_tcase(s, tc);
    return s;
}
