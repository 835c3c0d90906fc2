/* bench_sim.c — the simulator's own benchmarks (no peers).
 *
 *   sim_decisions   decisions/s  4 tasks x 250,000 weft_yield() on 2 virtual
 *                                workers (WEFT_MODE_SIM, seed 1), two tasks
 *                                pinned to each. Every yield is a scheduling
 *                                point; with both workers enabled the decision
 *                                source picks which continues.
 *                                decisions = the length of the run's recorded
 *                                schedule (weft_rt_schedule), i.e. every
 *                                decision actually drawn (interleavings and
 *                                placements), divided by the wall time of
 *                                weft_rt_block_on. Goal: >= 10M/s.
 *   sim_seeds       seeds/s      weft_explore over 20,000 seeds of a 3-task x
 *                                100-step test on 2 workers (each step: lock a
 *                                weft_mutex, read a shared counter, a
 *                                scheduling point, write it back, unlock; the
 *                                root joins and asserts the total). runs /
 *                                wall time of weft_explore. Goal: >= 10,000/s.
 *   sim_seeds_2jobs seeds/s      the same exploration with opts.jobs = 2: the
 *                                seeds on two OS threads (as many as this
 *                                machine's CPUs), each with its own runtime.
 *   sim_time_ratio  x            100 tasks each weft_sleep(1 s) 1,000 times, 2
 *                                workers: virtual ns elapsed (weft_now) / wall
 *                                ns. Goal: >= 1000.
 *   sim_trace_cost  x            wall time of the sim_decisions run with
 *                                sim.record_trace = 1 / without (median of 3
 *                                runs each, interleaved). Lower is better;
 *                                goal: <= 2.
 *
 * Each measurement is preceded by an untimed warm-up run.
 * Output: "BENCH <workload> <impl> <value> <unit>"; lines starting with '#'
 * are details for humans.
 */
#define _GNU_SOURCE
#define BENCH_NAME "bench_sim"
/* No cold mode: the simulator's rates are throughput figures of long runs
 * (exploration is many runtimes in a row), not a first burst; BENCH_COLD is
 * ignored (see bench.h). */
#define BENCH_NO_COLD
#include "bench.h"

#include <stdint.h>

#define YIELD_TASKS 4u
#define YIELDS_PER_TASK 250000u
/* 20,000 seeds (0.3-0.7 s): with 2,000 (30-60 ms) the two-job rate was
 * bimodal on this shared VM (37-61 k over 6 runs, both jobs slowed alike,
 * not one waiting for the other); at 20,000 it held at 58-59 k. */
#define SEEDS 20000u
#define SEED_TASKS 3u
#define SEED_STEPS 100u
#define SLEEP_TASKS 100u
#define SLEEPS_PER_TASK 1000u
#define SLEEP_NS 1000000000ull

static weft_config sim_config(int record_trace)
{
    weft_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.mode = WEFT_MODE_SIM;
    cfg.seed = 1;
    cfg.workers = 2;
    cfg.flags = WEFT_CFG_NO_ENV | WEFT_CFG_QUIET;
    cfg.sim.record_trace = record_trace;
    return cfg;
}

/* ------------------------------------------------------------------------ */
/* Yield-heavy run: sim_decisions and sim_trace_cost                         */
/* ------------------------------------------------------------------------ */

static void *yielder(void *arg)
{
    (void)arg;
    for (unsigned i = 0; i < YIELDS_PER_TASK; i++)
        weft_yield();
    return NULL;
}

static void *yield_root(void *arg)
{
    (void)arg;
    weft_task *t[YIELD_TASKS];
    /* Pinned two per worker: placement is otherwise a decision, and since
     * virtual workers do not steal, a seed that puts every task on one worker
     * would run with no interleaving decisions at all. */
    for (unsigned i = 0; i < YIELD_TASKS; i++) {
        weft_spawn_opts o;
        memset(&o, 0, sizeof o);
        o.flags = WEFT_SPAWN_PINNED;
        o.worker = i % 2;
        bench_check(weft_spawn_ex(&t[i], yielder, NULL, &o), "weft_spawn_ex");
    }
    for (unsigned i = 0; i < YIELD_TASKS; i++)
        bench_check(weft_join(t[i], NULL), "weft_join");
    return NULL;
}

typedef struct yield_run {
    double seconds;
    size_t decisions;
    uint64_t steps, events;
} yield_run;

static yield_run run_yields(int record_trace, int want_decisions)
{
    weft_config cfg = sim_config(record_trace);
    weft_rt *rt;
    bench_check(weft_rt_new(&rt, &cfg), "weft_rt_new");
    yield_run out = {0, 0, 0, 0};
    double t0 = bench_now_sec();
    bench_check(weft_rt_block_on(rt, yield_root, NULL, NULL), "weft_rt_block_on");
    out.seconds = bench_now_sec() - t0;
    if (want_decisions) {
        char *sched = NULL;
        bench_check(weft_rt_schedule(rt, &sched, &out.decisions), "weft_rt_schedule");
        free(sched);
    }
    weft_rt_stats st;
    bench_check(weft_rt_stats_get(rt, &st), "weft_rt_stats_get");
    out.steps = st.steps;
    out.events = weft_rt_trace_events(rt);
    weft_rt_free(rt);
    return out;
}

static void sim_decisions_and_trace_cost(void)
{
    run_yields(0, 0); /* warm-up */
    yield_run r = run_yields(0, 1);
    bench_report("sim_decisions", "weft", (double)r.decisions / r.seconds, "decisions/s");
    printf("# sim_decisions: %zu decisions, %u yields, %llu loop steps, %llu trace events in %.3f s "
           "(%.3g yields/s)\n",
           r.decisions, YIELD_TASKS * YIELDS_PER_TASK, (unsigned long long)r.steps, (unsigned long long)r.events,
           r.seconds, YIELD_TASKS * YIELDS_PER_TASK / r.seconds);

    run_yields(1, 0); /* warm-up of the recording path */
    double without[3], with[3];
    for (int i = 0; i < 3; i++) {
        without[i] = run_yields(0, 0).seconds;
        with[i] = run_yields(1, 0).seconds;
    }
    double with_s = bench_median(with, 3), without_s = bench_median(without, 3);
    bench_report("sim_trace_cost", "weft", with_s / without_s, "x");
    printf("# sim_trace_cost: %.3f s with record_trace, %.3f s without (medians of 3)\n", with_s, without_s);
}

/* ------------------------------------------------------------------------ */
/* Exploration: sim_seeds                                                    */
/* ------------------------------------------------------------------------ */

typedef struct shared {
    weft_mutex m;
    unsigned counter;
} shared;

static void *stepper(void *arg)
{
    shared *s = arg;
    for (unsigned i = 0; i < SEED_STEPS; i++) {
        bench_check(weft_mutex_lock(&s->m), "weft_mutex_lock");
        unsigned v = s->counter;
        weft_sched_point();
        s->counter = v + 1;
        bench_check(weft_mutex_unlock(&s->m), "weft_mutex_unlock");
    }
    return NULL;
}

static void *seed_test(void *arg)
{
    (void)arg;
    shared s;
    bench_check(weft_mutex_init(&s.m), "weft_mutex_init");
    s.counter = 0;
    weft_task *t[SEED_TASKS];
    for (unsigned i = 0; i < SEED_TASKS; i++)
        bench_check(weft_spawn(&t[i], stepper, &s), "weft_spawn");
    for (unsigned i = 0; i < SEED_TASKS; i++)
        bench_check(weft_join(t[i], NULL), "weft_join");
    WEFT_ASSERT(s.counter == SEED_TASKS * SEED_STEPS);
    bench_check(weft_mutex_destroy(&s.m), "weft_mutex_destroy");
    return NULL;
}

static double explore_seeds(uint64_t seeds, unsigned jobs, uint64_t *runs)
{
    weft_explore_opts opts;
    memset(&opts, 0, sizeof opts);
    opts.cfg = sim_config(0);
    opts.seed_start = 0;
    opts.seeds = seeds;
    opts.flags = WEFT_EXPLORE_QUIET;
    opts.jobs = jobs;
    weft_explore_result res;
    memset(&res, 0, sizeof res);
    double t0 = bench_now_sec();
    int r = weft_explore(&opts, seed_test, NULL, &res);
    double dt = bench_now_sec() - t0;
    if (r < 0 || res.failures)
        bench_fail("weft_explore: %s, %llu failure(s): %s", weft_strerror(r), (unsigned long long)res.failures,
                   res.message);
    *runs = res.runs;
    if (res.runs != seeds)
        bench_fail("weft_explore ran %llu of %llu seeds", (unsigned long long)res.runs, (unsigned long long)seeds);
    printf("# sim_seeds, %u job(s): %llu runs, %llu distinct traces, %.3f s (explore's own clock %.3f s)\n",
           jobs, (unsigned long long)res.runs, (unsigned long long)res.distinct_traces, dt, res.elapsed_s);
    weft_explore_result_free(&res);
    return dt;
}

static void sim_seeds(void)
{
    uint64_t runs;
    explore_seeds(SEEDS / 10, 1, &runs); /* warm-up */
    double s = explore_seeds(SEEDS, 1, &runs);
    bench_report("sim_seeds", "weft", (double)runs / s, "seeds/s");
    explore_seeds(SEEDS / 10, 2, &runs); /* warm-up */
    s = explore_seeds(SEEDS, 2, &runs);
    bench_report("sim_seeds_2jobs", "weft", (double)runs / s, "seeds/s");
}

/* ------------------------------------------------------------------------ */
/* Virtual vs wall time: sim_time_ratio                                      */
/* ------------------------------------------------------------------------ */

static void *sleeper(void *arg)
{
    (void)arg;
    for (unsigned i = 0; i < SLEEPS_PER_TASK; i++)
        bench_check(weft_sleep(SLEEP_NS), "weft_sleep");
    return NULL;
}

typedef struct ratio_run {
    uint64_t virtual_ns;
    double wall_s;
} ratio_run;

static void *sleep_root(void *arg)
{
    ratio_run *rr = arg;
    weft_task *t[SLEEP_TASKS];
    uint64_t v0 = weft_now();
    for (unsigned i = 0; i < SLEEP_TASKS; i++)
        bench_check(weft_spawn(&t[i], sleeper, NULL), "weft_spawn");
    for (unsigned i = 0; i < SLEEP_TASKS; i++)
        bench_check(weft_join(t[i], NULL), "weft_join");
    rr->virtual_ns = weft_now() - v0;
    return NULL;
}

static ratio_run run_sleeps(void)
{
    weft_config cfg = sim_config(0);
    weft_rt *rt;
    bench_check(weft_rt_new(&rt, &cfg), "weft_rt_new");
    ratio_run rr = {0, 0};
    /* The wall clock is read outside the run: a simulated task that read it
     * would be caught by the escape detector (and fail the run). */
    double w0 = bench_now_sec();
    bench_check(weft_rt_block_on(rt, sleep_root, &rr, NULL), "weft_rt_block_on");
    rr.wall_s = bench_now_sec() - w0;
    weft_rt_free(rt);
    return rr;
}

static void sim_time_ratio(void)
{
    run_sleeps(); /* warm-up */
    ratio_run rr = run_sleeps();
    bench_report("sim_time_ratio", "weft", (double)rr.virtual_ns / (rr.wall_s * 1e9), "x");
    printf("# sim_time_ratio: %.3f virtual s in %.4f wall s (%u sleeps)\n", rr.virtual_ns / 1e9, rr.wall_s,
           SLEEP_TASKS * SLEEPS_PER_TASK);
}

int main(void)
{
    sim_decisions_and_trace_cost();
    sim_seeds();
    sim_time_ratio();
    return 0;
}
