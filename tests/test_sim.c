/* test_sim.c — the deterministic simulator: same seed same trace, different
 * seeds different interleavings, exact exhaustive counts, replay of
 * schedules (and refusal of foreign ones), failures, faults, time and traces. */
#define _GNU_SOURCE
#include "../sim/sim.h"
#include "support.h"
#include <weft/os.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


/* The simulator's state of a runtime the test made simulated. */
static weft__sim *sim_state(const weft_rt *rt)
{
    weft__sim *s = weft__sim_of(rt);
    ck_assert_ptr_nonnull(s);
    return s;
}

/* ---- three tasks, ten scheduling points each, on two workers ---- */

typedef struct race {
    uint64_t shared;
    uint64_t order; /* which task touched it, in order: a fingerprint */
} race;

static void *stepper(void *arg)
{
    race *r = arg;
    uint64_t me = weft_task_id();
    for (int i = 0; i < 10; i++) {
        weft_sched_point();
        r->order = r->order * 31 + me;
        r->shared += me;
    }
    return NULL;
}

static void *three_steppers(void *arg)
{
    race *r = arg;
    memset(r, 0, sizeof *r);
    weft_task *t[3];
    for (int i = 0; i < 3; i++)
        weft_spawn(&t[i], stepper, r);
    for (int i = 0; i < 3; i++)
        weft_join(t[i], NULL);
    return (void *)(uintptr_t)r->order;
}

START_TEST(same_seed_same_hash_100_times)
{
    race r;
    void *order0;
    uint64_t h = run_hash(2, 42, three_steppers, &r, &order0);
    for (int i = 0; i < 100; i++) {
        void *order;
        ck_assert_uint_eq(run_hash(2, 42, three_steppers, &r, &order), h);
        ck_assert_ptr_eq(order, order0);
    }
}
END_TEST

START_TEST(different_seeds_explore_different_interleavings)
{
    race r;
    weft_explore_opts o;
    memset(&o, 0, sizeof o);
    o.cfg.workers = 2;
    o.seeds = seeds_for(1000);
    o.flags = WEFT_EXPLORE_QUIET;
    weft_explore_result res;
    ck_assert_weft(weft_explore(&o, three_steppers, &r, &res), 0);
    ck_assert_uint_eq(res.runs, o.seeds);
    ck_assert_uint_eq(res.failures, 0);
    ck_assert_msg(res.distinct_traces >= res.runs * 9 / 10, "only %llu distinct traces in %llu seeds",
                  (unsigned long long)res.distinct_traces, (unsigned long long)res.runs);
    weft_explore_result_free(&res);
    /* And they really ran on both workers. */
    ck_assert_uint_ne(run_hash(2, 1, three_steppers, &r, NULL), run_hash(2, 2, three_steppers, &r, NULL));
}
END_TEST

/* ---- idle virtual workers steal ---- */

typedef struct spread {
    unsigned used; /* bit per worker that ran a step */
} spread;

static void *note_workers(void *arg)
{
    spread *sp = arg;
    for (int i = 0; i < 5; i++) {
        sp->used |= 1u << weft_worker_index();
        weft_sched_point();
    }
    return NULL;
}

static void *eight_tasks(void *arg)
{
    weft_task *t[8];
    for (int i = 0; i < 8; i++)
        weft_spawn(&t[i], note_workers, arg);
    for (int i = 0; i < 8; i++)
        weft_join(t[i], NULL);
    return NULL;
}

static int steals;
static void count_steals(void *ctx, const weft_hook_info *i)
{
    (void)ctx;
    ck_assert_int_ne(i->status, i->worker); /* taken from another worker */
    steals++;
}

START_TEST(idle_virtual_workers_steal_so_every_seed_interleaves)
{
    steals = 0;
    for (uint64_t seed = 0; seed < seeds_for(300); seed++) {
        spread sp = {0};
        weft_config c = test_config(2, seed);
        weft_rt *rt;
        ck_assert_weft(weft_rt_new(&rt, &c), 0);
        ck_assert_weft(weft_hook_add(rt, WEFT_HOOK_MASK(WEFT_HOOK_STEAL), count_steals, NULL, NULL), 0);
        ck_assert_weft(weft_rt_block_on(rt, eight_tasks, &sp, NULL), 0);
        weft_rt_free(rt);
        ck_assert_msg(sp.used == 3u, "seed %llu ran everything on one worker (mask %u)", (unsigned long long)seed,
                      sp.used);
    }
    ck_assert_int_gt(steals, 0);
}
END_TEST

/* ---- exhaustive search: two tasks of three atomic steps = C(6,3) = 20 ---- */

typedef struct steps {
    char log[8];
    int n;
} steps;

static steps *g_steps;
static char g_seen[64][8];
static int g_nseen;

static void step(char c)
{
    weft_sched_point();
    g_steps->log[g_steps->n++] = c;
}

static void *b_steps(void *arg)
{
    (void)arg;
    g_steps->log[g_steps->n++] = 'x'; /* its first step needs no point before it: it just started */
    step('y');
    step('z');
    return NULL;
}

static void *two_by_three(void *arg)
{
    steps s = {{0}, 0};
    g_steps = &s;
    weft_spawn_opts o = {.flags = WEFT_SPAWN_PINNED, .worker = 1};
    weft_task *b;
    weft_spawn_ex(&b, b_steps, NULL, &o);
    step('a');
    step('b');
    step('c');
    weft_join(b, NULL);
    int dup = 0;
    for (int i = 0; i < g_nseen; i++)
        dup |= !strcmp(g_seen[i], s.log);
    if (!dup && g_nseen < 64)
        strcpy(g_seen[g_nseen++], s.log);
    (void)arg;
    return NULL;
}

START_TEST(exhaustive_search_counts_the_20_interleavings)
{
    weft_explore_opts o;
    memset(&o, 0, sizeof o);
    o.cfg.workers = 2;
    o.cfg.sim.strategy = WEFT_STRATEGY_EXHAUSTIVE;
    o.preemption_bound = 10;
    o.flags = WEFT_EXPLORE_QUIET;
    g_nseen = 0;
    weft_explore_result res;
    ck_assert_weft(weft_explore(&o, two_by_three, NULL, &res), 0);
    ck_assert_int_eq(res.exhausted, 1);
    ck_assert_uint_eq(res.runs, 20);
    ck_assert_int_eq(g_nseen, 20); /* and they are 20 different step orders */
    ck_assert_uint_eq(res.failures, 0);
    weft_explore_result_free(&res);
    /* A preemption bound prunes: with at most one preemption, B's three
     * steps run as one block, slotted in before a, b or c, or after c (when
     * the root blocks in join, which is no preemption): 4 orders. */
    o.preemption_bound = 1;
    g_nseen = 0;
    ck_assert_weft(weft_explore(&o, two_by_three, NULL, &res), 0);
    ck_assert_int_eq(res.exhausted, 1);
    ck_assert_uint_eq(res.runs, 4);
    ck_assert_uint_eq(res.failures, 0);
    ck_assert_int_eq(g_nseen, 4);
    static const char *const one_preemption[] = {"xyzabc", "axyzbc", "abxyzc", "abcxyz"};
    for (int k = 0; k < 4; k++) {
        int seen = 0;
        for (int i = 0; i < g_nseen; i++)
            seen |= !strcmp(g_seen[i], one_preemption[k]);
        ck_assert_msg(seen, "order %s was not explored", one_preemption[k]);
    }
    weft_explore_result_free(&res);
}
END_TEST

/* ---- replay ---- */

static void *rand_and_race(void *arg)
{
    race *r = arg;
    three_steppers(r);
    return (void *)(uintptr_t)(r->order ^ weft_rand());
}

START_TEST(a_recorded_schedule_replays_the_run)
{
    race r;
    weft_config c = test_config(3, 99);
    weft_rt *rt;
    ck_assert_weft(weft_rt_new(&rt, &c), 0);
    void *res1, *res2;
    ck_assert_weft(weft_rt_block_on(rt, rand_and_race, &r, &res1), 0);
    uint64_t h = weft_rt_trace_hash(rt);
    char *sched;
    size_t n;
    ck_assert_weft(weft_rt_schedule(rt, &sched, &n), 0);
    ck_assert_uint_gt(n, 10);
    weft_rt_free(rt);
    weft_config rc = test_config(3, 12345); /* the seed no longer matters */
    rc.schedule = sched;
    ck_assert_weft(weft_rt_new(&rt, &rc), 0);
    ck_assert_weft(weft_rt_block_on(rt, rand_and_race, &r, &res2), 0);
    ck_assert_uint_eq(weft_rt_trace_hash(rt), h);
    ck_assert_ptr_eq(res1, res2);
    weft_rt_free(rt);
    /* The same schedule through the environment. */
    weft_config ec = test_config(3, 7);
    ec.flags = WEFT_CFG_QUIET;
    setenv("WEFT_SCHEDULE", sched, 1);
    ck_assert_weft(weft_rt_new(&rt, &ec), 0);
    ck_assert_weft(weft_rt_block_on(rt, rand_and_race, &r, &res2), 0);
    ck_assert_uint_eq(weft_rt_trace_hash(rt), h);
    weft_rt_free(rt);
    unsetenv("WEFT_SCHEDULE");
    free(sched);
}
END_TEST

/* What other_program's detached steppers write to: static, because they may
 * still be running when the root has returned (the failed run is shut down
 * after it). */
enum { OTHER_TASKS = 50 };
static race g_other[OTHER_TASKS];

static void *other_program(void *arg)
{
    (void)arg;
    memset(g_other, 0, sizeof g_other);
    /* Five workers' worth of choices where the recorded program had three. */
    for (int i = 0; i < OTHER_TASKS; i++) {
        weft_spawn(NULL, stepper, &g_other[i]);
        weft_sched_point();
    }
    weft_sleep(10);
    return NULL;
}

START_TEST(a_schedule_from_another_program_is_detected)
{
    race r;
    weft_config c = test_config(3, 5);
    weft_rt *rt;
    ck_assert_weft(weft_rt_new(&rt, &c), 0);
    ck_assert_weft(weft_rt_block_on(rt, three_steppers, &r, NULL), 0);
    char *sched;
    ck_assert_weft(weft_rt_schedule(rt, &sched, NULL), 0);
    weft_rt_free(rt);
    weft_config rc = test_config(5, 0);
    rc.schedule = sched;
    ck_assert_weft(weft_rt_new(&rt, &rc), 0);
    ck_assert_weft(weft_rt_block_on(rt, other_program, NULL, NULL), WEFT_ESCHEDULE);
    weft_rt_free(rt);
    free(sched);
}
END_TEST

START_TEST(schedule_encoding_round_trips)
{
    weft_rt *rt;
    weft_config c = test_config(1, 0);
    ck_assert_weft(weft_rt_new(&rt, &c), 0);
    weft__decision d[300];
    uint64_t s[4];
    weft__xoshiro_seed(s, 3);
    for (int i = 0; i < 300; i++) {
        uint64_t x = weft__xoshiro_next(s);
        uint32_t bounds[] = {2, 2, 3, 0, 7, 1000, 65537};
        d[i].bound = bounds[x % 7];
        d[i].value = d[i].bound ? (x >> 8) % d[i].bound : x;
        d[i].stream = 0;
        d[i].preempt = 0;
    }
    char *text;
    ck_assert_weft(weft__schedule_encode(d, 300, &text), 0);
    weft__decisions back;
    char why[128];
    ck_assert_weft(weft__schedule_decode(rt, text, &back, why, sizeof why), 0);
    ck_assert_uint_eq(back.len, 300);
    for (int i = 0; i < 300; i++) {
        ck_assert_uint_eq(back.v[i].bound, d[i].bound);
        ck_assert_uint_eq(back.v[i].value, d[i].value);
    }
    char buf[8192];
    size_t n = weft__schedule_encode_into(d, 300, buf, sizeof buf);
    ck_assert_uint_eq(n, strlen(text));
    ck_assert_str_eq(buf, text);
    weft__decisions_free(rt, &back);
    const char *bad[] = {"", "S2", "S3.AAA", "S2.A", "S2.@@@@", "S2.gA", "S2.Aw"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(weft__schedule_decode(rt, bad[i], &back, why, sizeof why) == WEFT_EINVAL, "accepted '%s'",
                      bad[i]);
    /* A schedule of another format version is refused, naming both. */
    ck_assert_weft(weft__schedule_decode(rt, "S1.AAA", &back, why, sizeof why), WEFT_EINVAL);
    ck_assert_msg(strstr(why, "version 1") && strstr(why, "version 2"), "%s", why);
    free(text);
    weft_rt_free(rt);
}
END_TEST

/* ---- failures: assertions, livelock ---- */

static void *asserts_in_a_child(void *arg)
{
    (void)arg;
    weft_task *t;
    weft_spawn(&t, (weft_fn)(void (*)(void))0, NULL); /* refused: NULL fn */
    WEFT_ASSERT(weft_task_id() == 1);
    WEFT_ASSERT(1 + 1 == 3);
    return NULL;
}

START_TEST(an_assertion_fails_the_run_with_its_text)
{
    weft_config c = test_config(2, 3);
    weft_rt *rt;
    ck_assert_weft(weft_rt_new(&rt, &c), 0);
    ck_assert_weft(weft_rt_block_on(rt, asserts_in_a_child, NULL, NULL), WEFT_EFAILED);
    ck_assert_msg(strstr(sim_state(rt)->message, "assertion failed: 1 + 1 == 3"), "message: %s", sim_state(rt)->message);
    weft_rt_free(rt);
}
END_TEST

START_TEST(a_livelock_hits_the_step_budget)
{
    weft_config c = test_config(2, 0);
    c.sim.step_budget = 5000;
    weft_rt *rt;
    ck_assert_weft(weft_rt_new(&rt, &c), 0);
    ck_assert_weft(weft_rt_block_on(rt, yields_forever, NULL, NULL), WEFT_ELIVELOCK);
    weft_rt_free(rt);
}
END_TEST

/* ---- faults ---- */

typedef struct bug_counts {
    int fired, visits;
} bug_counts;

static void *buggify_visits(void *arg)
{
    bug_counts *b = arg;
    for (int i = 0; i < 200; i++) {
        b->visits++;
        b->fired += WEFT_BUGGIFY() ? 1 : 0;
    }
    return NULL;
}

START_TEST(buggify_fires_sometimes_in_simulation_never_for_real)
{
    int enabled_runs = 0, max = 0;
    for (uint64_t seed = 0; seed < 40; seed++) {
        bug_counts b = {0, 0}, again = {0, 0};
        ck_assert_weft(run_sim(1, seed, buggify_visits, &b), 0);
        ck_assert_weft(run_sim(1, seed, buggify_visits, &again), 0);
        ck_assert_int_eq(b.fired, again.fired); /* decided by the seed */
        enabled_runs += b.fired > 0;
        if (b.fired > max)
            max = b.fired;
    }
    /* Enabled in about a quarter of runs, then firing on about a quarter of
     * visits (50 of 200). */
    ck_assert_int_ge(enabled_runs, 3);
    ck_assert_int_le(enabled_runs, 25);
    ck_assert_int_gt(max, 20);
    ck_assert_int_lt(max, 100);
    weft_config c = threaded_config();
    bug_counts b = {0, 0};
    ck_assert_weft(run_in(&c, buggify_visits, &b, NULL), 0);
    ck_assert_int_eq(b.fired, 0);
    ck_assert_int_eq(weft_buggify("x", 1), 0);
}
END_TEST

static void *race_and_buggify(void *arg)
{
    bug_counts b = {0, 0};
    buggify_visits(&b);
    return three_steppers(arg);
}

static size_t interleavings_of(uint64_t seed, unsigned permille, weft__decision *out, size_t max)
{
    race r;
    weft_config c = test_config(2, seed);
    c.sim.buggify_permille = permille;
    weft_rt *rt;
    ck_assert_weft(weft_rt_new(&rt, &c), 0);
    ck_assert_weft(weft_rt_block_on(rt, race_and_buggify, &r, NULL), 0);
    size_t n = 0;
    for (size_t i = 0; i < sim_state(rt)->rec.len && n < max; i++)
        if (sim_state(rt)->rec.v[i].stream == WEFT__S_INTERLEAVE)
            out[n++] = sim_state(rt)->rec.v[i];
    weft_rt_free(rt);
    return n;
}

START_TEST(a_fault_knob_does_not_reshuffle_interleavings)
{
    static weft__decision a[4096], b[4096];
    for (uint64_t seed = 0; seed < 20; seed++) {
        size_t na = interleavings_of(seed, 1, a, 4096), nb = interleavings_of(seed, 999, b, 4096);
        ck_assert_uint_eq(na, nb);
        for (size_t i = 0; i < na; i++)
            ck_assert_uint_eq(a[i].value, b[i].value);
    }
}
END_TEST

static void *allocates(void *arg)
{
    (void)arg;
    int ok = 0, failed = 0;
    for (int i = 0; i < 200; i++) {
        void *p = weft_alloc(64);
        if (p) {
            ok++;
            weft_free(p, 64);
        } else {
            failed++;
        }
        weft_chan *ch;
        if (weft_chan_new(&ch, 8, WEFT_CHAN_UNBOUNDED) == 0) {
            for (uint64_t k = 0; k < 20; k++)
                weft_chan_try_send(ch, &k);
            weft_chan_free(ch);
        }
    }
    return (void *)(intptr_t)(failed * 1000 + ok);
}

START_TEST(allocation_failures_are_injected_by_seed)
{
    int ran = 0;
    for (uint64_t seed = 0; seed < 20; seed++) {
        counting_alloc ca;
        counting_alloc_init(&ca);
        weft_config c = test_config(1, seed);
        c.allocator = &ca.a;
        c.sim.fail_alloc_permille = 100;
        void *r1 = NULL, *r2 = NULL;
        /* Even the root's stack may be refused: then block_on says ENOMEM.
         * Either way the same seed gives the same outcome and leaks nothing. */
        int s1 = run_in(&c, allocates, NULL, &r1);
        ck_assert_uint_eq(ca.live_blocks, 0);
        int s2 = run_in(&c, allocates, NULL, &r2);
        ck_assert_uint_eq(ca.live_blocks, 0);
        ck_assert_int_eq(s1, s2);
        ck_assert_ptr_eq(r1, r2);
        ck_assert_msg(s1 == 0 || s1 == WEFT_ENOMEM, "seed %llu: %s", (unsigned long long)seed, weft_strerror(s1));
        if (s1 == 0) {
            ran++;
            int failed = (int)((intptr_t)r1 / 1000);
            ck_assert_int_gt(failed, 5); /* about 10% of 200 */
            ck_assert_int_lt(failed, 50);
        }
    }
    ck_assert_int_ge(ran, 5);
}
END_TEST

/* ---- time ---- */

static weft_event g_done;

static void *computes(void *arg)
{
    (void)arg;
    for (int i = 0; i < 1000; i++)
        weft_sched_point(); /* a long computation, 1 ms of CPU per step */
    weft_event_set(&g_done);
    return NULL;
}

static void *waits_with_timeout(void *arg)
{
    (void)arg;
    weft_event_init(&g_done, 0);
    weft_task *t;
    /* The computation runs on the other worker, as on another core. */
    weft_spawn_opts o = {.flags = WEFT_SPAWN_PINNED, .worker = 1};
    weft_spawn_ex(&t, computes, NULL, &o);
    uint64_t t0 = weft_now();
    int r = weft_event_wait_until(&g_done, t0 + 100 * 1000000ull);
    weft_join(t, NULL);
    return (void *)(intptr_t)r;
}

START_TEST(step_cost_lets_timeouts_fire_during_computation)
{
    weft_config c = test_config(2, 0);
    c.sim.step_cost_ns = 1000000;
    void *r;
    ck_assert_weft(run_in(&c, waits_with_timeout, NULL, &r), 0);
    ck_assert_int_eq((int)(intptr_t)r, WEFT_ETIMEDOUT);
    c.sim.step_cost_ns = 0; /* time stands still while tasks compute */
    ck_assert_weft(run_in(&c, waits_with_timeout, NULL, &r), 0);
    ck_assert_int_eq((int)(intptr_t)r, 0);
}
END_TEST

static void *rand_pair(void *arg)
{
    uint64_t *out = arg;
    out[0] = weft_rand();
    out[1] = weft_rand();
    return NULL;
}

START_TEST(weft_rand_comes_from_the_seed)
{
    uint64_t a[2], b[2], c2[2];
    ck_assert_weft(run_sim(1, 11, rand_pair, a), 0);
    ck_assert_weft(run_sim(1, 11, rand_pair, b), 0);
    ck_assert_weft(run_sim(1, 12, rand_pair, c2), 0);
    ck_assert_uint_eq(a[0], b[0]);
    ck_assert_uint_eq(a[1], b[1]);
    ck_assert_uint_ne(a[0], c2[0]);
    ck_assert_uint_ne(a[0], a[1]);
}
END_TEST

/* ---- traces ---- */

START_TEST(traces_export_as_text_and_chrome_json)
{
    race r;
    char json[512], text[512];
    temp_file(json, sizeof json, "trace", ".json");
    temp_file(text, sizeof text, "trace", ".txt");
    weft_config c = test_config(2, 4);
    c.trace_path = json;
    weft_rt *rt;
    ck_assert_weft(weft_rt_new(&rt, &c), 0);
    ck_assert_weft(weft_rt_block_on(rt, three_steppers, &r, NULL), 0);
    ck_assert_weft(weft_rt_trace_write_text(rt, text), 0);
    uint64_t events = weft_rt_trace_events(rt);
    weft_rt_free(rt);
    size_t n;
    char *buf = slurp(json, &n);
    ck_assert_uint_gt(n, 100);
    ck_assert_msg(strstr(buf, "\"traceEvents\"") && strstr(buf, "\"worker 1\"") && strstr(buf, "\"ph\":\"X\""),
                  "not a Chrome trace: %.200s", buf);
    free(buf);
    buf = slurp(text, &n);
    size_t lines = 0;
    for (size_t i = 0; i < n; i++)
        lines += buf[i] == '\n';
    ck_assert_uint_eq(lines, events + 1); /* a header, then one line per event */
    ck_assert_ptr_nonnull(strstr(buf, "decide interleave"));
    free(buf);
    unlink(json);
    unlink(text);
    /* Nothing recorded: refused, and nothing written. */
    char never[512];
    temp_file(never, sizeof never, "trace", ".json");
    weft_config q = test_config(1, 0);
    ck_assert_weft(weft_rt_new(&rt, &q), 0);
    ck_assert_weft(weft_rt_trace_write_json(rt, never), WEFT_EINVAL);
    weft_rt_free(rt);
    free(slurp(never, &n));
    ck_assert_uint_eq(n, 0);
    unlink(never);
}
END_TEST

/* ---- a runtime reset between seeds runs each seed as a new one would ---- */

/* A little of everything a run leaves behind: named tasks, a mutex, channels
 * and a select, timers, buggify, weft_rand, a scope cut by its deadline, a
 * task finished and never joined, one still waiting when the root returns
 * (shutdown cancels it), and in some seeds a failed assertion or a task that
 * ignores cancellation (then a reset refuses and a new runtime is made). */
typedef struct mix {
    weft_mutex m;
    weft_chan *a, *b;
    weft_event never;
    uint64_t total;
} mix;

static void *mix_producer(void *arg)
{
    mix *x = arg;
    for (uint64_t i = 0; i < 8; i++) {
        weft_mutex_lock(&x->m);
        x->total += i;
        weft_mutex_unlock(&x->m);
        weft_chan *to = weft_rand() % 2 ? x->a : x->b;
        if (weft_chan_send(to, &i) < 0)
            return NULL;
        if (WEFT_BUGGIFY())
            weft_sleep(weft_rand() % 5000);
        weft_yield();
    }
    return NULL;
}

static void *mix_consumer(void *arg)
{
    mix *x = arg;
    uint64_t va, vb, got = 0;
    for (int n = 0; n < 16; n++) {
        weft_select_case cs[2] = {{x->a, WEFT_SELECT_RECV, &va, 0}, {x->b, WEFT_SELECT_RECV, &vb, 0}};
        int k = weft_select(cs, 2, WEFT_NO_DEADLINE);
        WEFT_ASSERT(k == 0 || k == 1);
        got += k == 0 ? va : vb;
    }
    return (void *)(uintptr_t)got;
}

static void *mix_waiter(void *arg)
{
    mix *x = arg;
    int shield = weft_rand() % 40 == 0; /* ignores cancellation: abandoned */
    if (shield)
        weft_cancel_shield(1);
    weft_event_wait(&x->never);
    return NULL;
}

static int mix_scoped(void *arg)
{
    (void)arg;
    return weft_sleep(10000000000ull); /* cut short by the scope's deadline */
}

static void *mix_quick(void *arg)
{
    return arg;
}

static void *mixed_run(void *arg)
{
    (void)arg;
    mix x;
    memset(&x, 0, sizeof x);
    WEFT_ASSERT(weft_mutex_init(&x.m) == 0 && weft_event_init(&x.never, 0) == 0);
    WEFT_ASSERT(weft_chan_new(&x.a, sizeof(uint64_t), 1) == 0 && weft_chan_new(&x.b, sizeof(uint64_t), 3) == 0);
    weft_task *p[2], *c, *unjoined;
    weft_spawn_opts po = {.name = "producer"}, co = {.name = "consumer"}, wo = {.name = "waiter"};
    for (int i = 0; i < 2; i++)
        WEFT_ASSERT(weft_spawn_ex(&p[i], mix_producer, &x, &po) == 0);
    WEFT_ASSERT(weft_spawn_ex(&c, mix_consumer, &x, &co) == 0);
    WEFT_ASSERT(weft_spawn_ex(NULL, mix_waiter, &x, &wo) == 0);
    WEFT_ASSERT(weft_spawn(&unjoined, mix_quick, NULL) == 0);
    weft_scope sc;
    WEFT_ASSERT(weft_scope_init(&sc, 0) == 0);
    weft_scope_set_deadline(&sc, weft_now() + weft_rand() % 20000);
    weft_scope_spawn(&sc, mix_scoped, NULL, NULL);
    WEFT_ASSERT(weft_scope_join(&sc) == WEFT_ETIMEDOUT);
    for (int i = 0; i < 2; i++)
        WEFT_ASSERT(weft_join(p[i], NULL) == 0);
    void *got;
    WEFT_ASSERT(weft_join(c, &got) == 0);
    WEFT_ASSERT((uint64_t)(uintptr_t)got == x.total);
    WEFT_ASSERT(weft_chan_free(x.a) == 0 && weft_chan_free(x.b) == 0);
    WEFT_ASSERT(weft_rand() % 50 != 0); /* some seeds fail, and must fail alike */
    /* The waiter and the unjoined task are the runtime's to reap. */
    return NULL;
}

START_TEST(a_reset_runtime_runs_10000_seeds_as_new_ones_do)
{
    uint64_t n = seeds_for(10000);
    uint64_t reused = assert_reset_matches_fresh(mixed_run, NULL, n, 2);
    /* About 1 seed in 40 leaves an abandoned task, and a failed run leaves
     * its failing task: the next seed gets a new runtime. */
    ck_assert_msg(reused >= n * 9 / 10, "only %llu of %llu runs were served by a reset", (unsigned long long)reused,
                  (unsigned long long)n);
    ck_assert_uint_gt(assert_reset_matches_fresh(mixed_run, NULL, seeds_for(1000), 1), 0);
    ck_assert_uint_gt(assert_reset_matches_fresh(mixed_run, NULL, seeds_for(300), 4), 0);
}
END_TEST

/* Each seed spawns tasks with five of twelve stack sizes: over many seeds a
 * reset runtime meets more sizes than it has stack classes, which a new
 * runtime never does. */
static void *sized_child(void *arg)
{
    volatile char frame[4096];
    frame[0] = (char)(uintptr_t)arg;
    weft_yield();
    return (void *)(uintptr_t)frame[0];
}

static void *many_stack_sizes(void *arg)
{
    (void)arg;
    weft_task *t[5];
    for (uintptr_t i = 0; i < 5; i++) {
        weft_spawn_opts o = {.stack_size = WEFT_STACK_MIN + (weft_rand() % 12) * 8192};
        WEFT_ASSERT(weft_spawn_ex(&t[i], sized_child, (void *)i, &o) == 0);
    }
    for (uintptr_t i = 0; i < 5; i++) {
        void *r;
        WEFT_ASSERT(weft_join(t[i], &r) == 0 && r == (void *)i);
    }
    return NULL;
}

START_TEST(a_reset_runtime_has_the_stack_classes_of_a_new_one)
{
    uint64_t n = seeds_for(500);
    ck_assert_uint_eq(assert_reset_matches_fresh(many_stack_sizes, NULL, n, 2), n - 1);
}
END_TEST

/* A reset keeps the runtime's workers when their count is unchanged and
 * makes new ones when it changes: both kinds of reset run as new runtimes do
 * (and, under valgrind and ASan, leave nothing behind). */
START_TEST(a_reset_that_changes_the_worker_count_runs_as_a_new_runtime)
{
    static const unsigned counts[] = {2, 2, 3, 1, 1, 4, 2};
    size_t k = sizeof counts / sizeof *counts;
    uint64_t n = seeds_for(70);
    ck_assert_uint_eq(assert_reset_matches_fresh_with(many_stack_sizes, NULL, n, counts, k), n - 1);
}
END_TEST

static void *reset_from_inside(void *arg)
{
    weft_config c = test_config(1, 1);
    return (void *)(intptr_t)weft_rt_reset(arg, &c);
}

START_TEST(a_reset_refuses_what_it_cannot_make_equal)
{
    weft_config c = test_config(1, 1);
    weft_rt *rt;
    ck_assert_weft(weft_rt_new(&rt, &c), 0);
    ck_assert_weft(weft_rt_reset(NULL, &c), WEFT_EINVAL);
    ck_assert_weft(weft_rt_reset(rt, NULL), WEFT_EINVAL);
    void *res;
    ck_assert_weft(weft_rt_block_on(rt, reset_from_inside, rt, &res), 0);
    ck_assert_int_eq((int)(intptr_t)res, WEFT_EPERM);
    /* Refusals before the shutdown leave the runtime usable. */
    weft_config other = c;
    counting_alloc ca;
    counting_alloc_init(&ca);
    other.allocator = &ca.a;
    ck_assert_weft(weft_rt_reset(rt, &other), WEFT_EINVAL);
    other = c;
    other.sim.fail_alloc_permille = 10;
    ck_assert_weft(weft_rt_reset(rt, &other), WEFT_ENOTSUP);
    other = threaded_config();
    ck_assert_weft(weft_rt_reset(rt, &other), WEFT_ENOTSUP);
    other = c;
    other.workers = 100000;
    ck_assert_weft(weft_rt_reset(rt, &other), WEFT_EINVAL);
    weft_os os;
    memset(&os, 0, sizeof os);
    other = c;
    other.os = &os; /* the kept stacks were mapped through another table */
    ck_assert_weft(weft_rt_reset(rt, &other), WEFT_EINVAL);
    ck_assert_weft(weft_rt_reset(rt, &c), 0);
    ck_assert_weft(weft_rt_block_on(rt, reset_from_inside, rt, &res), 0);
    /* A rebuild that fails (engines whose workers add up past the limit,
     * found only while building) leaves the runtime shut down, never half
     * usable; a good configuration rebuilds it. */
    weft_engine_config two[2] = {{.name = "a", .workers = WEFT_WORKERS_MAX / 2 + 1},
                                 {.name = "b", .workers = WEFT_WORKERS_MAX / 2 + 1}};
    other = c;
    other.engines = two;
    other.nengines = 2;
    other.workers = 0; /* else it sets the first engine's count */
    ck_assert_weft(weft_rt_reset(rt, &other), WEFT_EINVAL);
    ck_assert_weft(weft_rt_block_on(rt, reset_from_inside, rt, &res), WEFT_ESHUTDOWN);
    ck_assert_weft(weft_rt_spawn(rt, NULL, returns_arg, NULL, NULL), WEFT_ESHUTDOWN);
    ck_assert_weft(weft_rt_reset(rt, &c), 0);
    ck_assert_weft(weft_rt_block_on(rt, reset_from_inside, rt, &res), 0);
    weft_rt_free(rt);
    /* A real runtime is not reset. */
    weft_config t = threaded_config();
    ck_assert_weft(weft_rt_new(&rt, &t), 0);
    ck_assert_weft(weft_rt_reset(rt, &t), WEFT_ENOTSUP);
    weft_rt_free(rt);
}
END_TEST

/* ---- the trace hash is one whichever way the events reach it ---- */

/* Alone and not recording, the trace's hook events are folded in place by
 * the core (weft__hook_fold); recording, or with another listener, they go
 * through the trace's hook. The hash and the count must not tell, over
 * mixed_run's little of everything (failing seeds included). */
static void count_event(void *ctx, const weft_hook_info *i)
{
    (void)i;
    ++*(unsigned *)ctx;
}

typedef struct self_removing {
    weft_rt *rt;
    int id;
    unsigned left;
} self_removing;

static void remove_when_done(void *ctx, const weft_hook_info *i)
{
    (void)i;
    self_removing *r = ctx;
    if (r->left && --r->left == 0)
        ck_assert_weft(weft_hook_remove(r->rt, r->id), 0);
}

/* A recorded trace's chunk fills at once: the pages past its first events
 * are present before they are written. */
START_TEST(a_recorded_traces_chunk_is_present_before_it_fills)
{
    if (!kernel_populates())
        return; /* before Linux 5.14: the pages fault as before */
    weft_config c = test_config(2, 3);
    c.sim.record_trace = 1;
    weft_rt *rt;
    ck_assert_weft(weft_rt_new(&rt, &c), 0);
    ck_assert_weft(weft_rt_block_on(rt, yields_times, (void *)(uintptr_t)3, NULL), 0);
    const weft__sim *s = weft__sim_of(rt);
    ck_assert_uint_eq(s->nchunks, 1);
    size_t used = s->ev_len * sizeof(weft__event_rec), whole;
    ck_assert_uint_lt(used + 4096, WEFT__TRACE_CHUNK * sizeof(weft__event_rec) / 2);
    const char *tail = (const char *)s->chunks[0] + used + 4096;
    size_t present = resident_pages(tail, WEFT__TRACE_CHUNK * sizeof(weft__event_rec) - used - 4096, &whole);
    ck_assert_uint_gt(whole, 4);
    ck_assert_uint_eq(present, whole);
    weft_rt_free(rt);
}
END_TEST

enum { FOLD_PLAIN, FOLD_RECORDED, FOLD_LISTENED, FOLD_LISTENED_A_WHILE, FOLD_LISTENED_BEFORE, FOLD_WAYS };

static void folded_run(int how, uint64_t seed, uint64_t *hash, uint64_t *events, int *status)
{
    weft_config c = test_config(2, seed);
    if (how == FOLD_RECORDED)
        c.sim.record_trace = 1;
    weft_rt *rt;
    ck_assert_weft(weft_rt_new(&rt, &c), 0);
    unsigned heard = 0;
    self_removing r = {rt, 0, 40};
    if (how == FOLD_LISTENED)
        ck_assert_weft(weft_hook_add(rt, WEFT_HOOK_ALL, count_event, &heard, NULL), 0);
    if (how == FOLD_LISTENED_A_WHILE) /* removed mid-run: folded in place from there */
        ck_assert_weft(weft_hook_add(rt, WEFT_HOOK_ALL, remove_when_done, &r, &r.id), 0);
    if (how == FOLD_LISTENED_BEFORE) {
        int id;
        ck_assert_weft(weft_hook_add(rt, WEFT_HOOK_ALL, count_event, &heard, &id), 0);
        ck_assert_weft(weft_hook_remove(rt, id), 0);
    }
    *status = weft_rt_block_on(rt, mixed_run, NULL, NULL);
    *hash = weft_rt_trace_hash(rt);
    *events = weft_rt_trace_events(rt);
    if (how == FOLD_LISTENED) /* every hook event, and the decisions besides */
        ck_assert(heard > 40 && heard < *events);
    if (how == FOLD_LISTENED_BEFORE)
        ck_assert_uint_eq(heard, 0);
    if (how == FOLD_LISTENED_A_WHILE)
        ck_assert_uint_eq(r.left, 0);
    weft_rt_free(rt);
}

START_TEST(the_trace_hash_is_the_same_folded_in_place_or_by_the_hook)
{
    for (uint64_t seed = 0; seed < seeds_for(100); seed++) {
        uint64_t h0, e0;
        int r0;
        folded_run(FOLD_PLAIN, seed, &h0, &e0, &r0);
        ck_assert_uint_gt(e0, 100);
        for (int how = FOLD_RECORDED; how < FOLD_WAYS; how++) {
            uint64_t h, e;
            int r;
            folded_run(how, seed, &h, &e, &r);
            ck_assert_msg(h == h0 && e == e0 && r == r0,
                          "seed %llu, way %d: hash %016llx, %llu events, status %d; plain %016llx, %llu, %d",
                          (unsigned long long)seed, how, (unsigned long long)h, (unsigned long long)e, r,
                          (unsigned long long)h0, (unsigned long long)e0, r0);
        }
    }
}
END_TEST

Suite *suite_sim(void)
{
    Suite *s = suite_create("sim");
    TCase *tc = tcase_create("sim");
    tcase_add_test(tc, same_seed_same_hash_100_times);
    tcase_add_test(tc, the_trace_hash_is_the_same_folded_in_place_or_by_the_hook);
    tcase_add_test(tc, a_reset_runtime_runs_10000_seeds_as_new_ones_do);
    tcase_add_test(tc, a_reset_refuses_what_it_cannot_make_equal);
    tcase_add_test(tc, a_reset_runtime_has_the_stack_classes_of_a_new_one);
    tcase_add_test(tc, a_reset_that_changes_the_worker_count_runs_as_a_new_runtime);
    tcase_add_test(tc, different_seeds_explore_different_interleavings);
    tcase_add_test(tc, idle_virtual_workers_steal_so_every_seed_interleaves);
    tcase_add_test(tc, exhaustive_search_counts_the_20_interleavings);
    tcase_add_test(tc, a_recorded_schedule_replays_the_run);
    tcase_add_test(tc, a_schedule_from_another_program_is_detected);
    tcase_add_test(tc, schedule_encoding_round_trips);
    tcase_add_test(tc, an_assertion_fails_the_run_with_its_text);
    tcase_add_test(tc, a_livelock_hits_the_step_budget);
    tcase_add_test(tc, buggify_fires_sometimes_in_simulation_never_for_real);
    tcase_add_test(tc, a_fault_knob_does_not_reshuffle_interleavings);
    tcase_add_test(tc, allocation_failures_are_injected_by_seed);
    tcase_add_test(tc, step_cost_lets_timeouts_fire_during_computation);
    tcase_add_test(tc, weft_rand_comes_from_the_seed);
    tcase_add_test(tc, traces_export_as_text_and_chrome_json);
    tcase_add_test(tc, a_recorded_traces_chunk_is_present_before_it_fills);
    suite_add_tcase(s, tc);
    return s;
}
