/* bench_mt.c — the multi-threaded runtime on tokio's workloads, at 1 and 2
 * workers (impls weft-mt1, weft-mt2; -nostack for run-to-completion tasks):
 *
 *   mt_spawn_many     the root spawns 1,000,000 detached tasks; each bumps an
 *                     atomic counter, the last sets an event (tasks/s)
 *   mt_yield_many     1,000 tasks x 1,000 yields each (yields/s)
 *   mt_chained_spawn  each task spawns the next, 100,000 deep (tasks/s)
 *   mt_ping_pong      two tasks bounce a message over capacity-1 channels,
 *                     100,000 round trips (round trips/s): placed by the
 *                     scheduler, as the peers' are (weft-mt2), and pinned to
 *                     different workers (weft-mt2-apart: every message
 *                     crosses threads)
 *   mt_fanout         CPU-bound fan-out/fan-in: 64 tasks x 2M iterations of
 *                     integer work, joined (work items/s) — the scaling row
 *
 * Warm (default): in one runtime, an untimed pass, then the timed one. Cold
 * (BENCH_COLD=1 as for every bench, or `bench_mt --cold`; impl suffix -cold):
 * the timed pass alone on a fresh runtime, pool growth and page faults
 * included, which is what a user's first burst sees; with BENCH_VARIANT=k
 * (see bench.h; run.py sets it) only the k-th measurement runs, so that it is
 * the first pass of a fresh process. `bench_mt [--cold|--warm] [WORKLOAD]` runs
 * one workload alone.
 *
 * Peers (tests/bench/peers/): tokio's multi-thread runtime with 1 and 2 worker
 * threads (tokio-mt1, tokio-mt2) and Go with GOMAXPROCS 1 and 2 (go-mt1,
 * go-mt2), on the same workloads and sizes.
 * Output: "BENCH <workload> <impl> <value> <unit>".
 */
#define _GNU_SOURCE
#define BENCH_NAME "bench_mt"
#include "bench.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define SPAWN_TASKS 1000000u
#define YIELD_TASKS 1000u
#define YIELDS 1000u
#define CHAIN 100000u
#define ROUND_TRIPS 100000u
#define FAN_TASKS 64u
#define FAN_WORK 2000000u

static unsigned g_flags; /* spawn flags of the pass: 0 or WEFT_SPAWN_NOSTACK */
static bool g_apart;     /* ping_pong: the two tasks pinned to different workers */

/* ---- spawn_many ---- */

static atomic_uint_fast64_t g_count;
static weft_event g_done;

static void *bump(void *arg)
{
    (void)arg;
    if (atomic_fetch_add(&g_count, 1) + 1 == SPAWN_TASKS)
        bench_check(weft_event_set(&g_done), "weft_event_set");
    return NULL;
}

static double spawn_many(void)
{
    weft_spawn_opts o = {.flags = g_flags};
    atomic_store(&g_count, 0);
    bench_check(weft_event_init(&g_done, 0), "weft_event_init");
    double t0 = bench_now_sec();
    for (unsigned i = 0; i < SPAWN_TASKS; i++)
        bench_check(weft_spawn_ex(NULL, bump, NULL, &o), "weft_spawn_ex");
    bench_check(weft_event_wait(&g_done), "weft_event_wait");
    double dt = bench_now_sec() - t0;
    bench_check(weft_event_destroy(&g_done), "weft_event_destroy");
    return SPAWN_TASKS / dt;
}

/* ---- yield_many ---- */

static void *yielder(void *arg)
{
    (void)arg;
    for (unsigned i = 0; i < YIELDS; i++)
        weft_yield();
    return NULL;
}

static double yield_many(void)
{
    static weft_task *t[YIELD_TASKS];
    double t0 = bench_now_sec();
    for (unsigned i = 0; i < YIELD_TASKS; i++)
        bench_check(weft_spawn(&t[i], yielder, NULL), "weft_spawn");
    for (unsigned i = 0; i < YIELD_TASKS; i++)
        bench_check(weft_join(t[i], NULL), "weft_join");
    return (double)YIELD_TASKS * YIELDS / (bench_now_sec() - t0);
}

/* ---- chained_spawn ---- */

static void *chain_link(void *arg)
{
    uintptr_t left = (uintptr_t)arg;
    if (left == 0) {
        bench_check(weft_event_set(&g_done), "weft_event_set");
        return NULL;
    }
    weft_spawn_opts o = {.flags = g_flags};
    bench_check(weft_spawn_ex(NULL, chain_link, (void *)(left - 1), &o), "weft_spawn_ex");
    return NULL;
}

static double chained_spawn(void)
{
    bench_check(weft_event_init(&g_done, 0), "weft_event_init");
    weft_spawn_opts o = {.flags = g_flags};
    double t0 = bench_now_sec();
    bench_check(weft_spawn_ex(NULL, chain_link, (void *)(uintptr_t)CHAIN, &o), "weft_spawn_ex");
    bench_check(weft_event_wait(&g_done), "weft_event_wait");
    double dt = bench_now_sec() - t0;
    bench_check(weft_event_destroy(&g_done), "weft_event_destroy");
    return CHAIN / dt;
}

/* ---- ping_pong ---- */

typedef struct pair {
    weft_chan *to, *back;
} pair;

static void *ponger(void *arg)
{
    pair *p = arg;
    uint64_t v;
    for (unsigned i = 0; i < ROUND_TRIPS; i++) {
        bench_check(weft_chan_recv(p->to, &v), "weft_chan_recv");
        bench_check(weft_chan_send(p->back, &v), "weft_chan_send");
    }
    return NULL;
}

static double ping_pong(void)
{
    pair p;
    bench_check(weft_chan_new(&p.to, sizeof(uint64_t), 1), "weft_chan_new");
    bench_check(weft_chan_new(&p.back, sizeof(uint64_t), 1), "weft_chan_new");
    /* The root runs on worker 0. */
    weft_spawn_opts o = {.flags = g_apart ? WEFT_SPAWN_PINNED : 0u, .worker = 1};
    weft_task *t;
    double t0 = bench_now_sec();
    bench_check(weft_spawn_ex(&t, ponger, &p, &o), "weft_spawn_ex");
    for (uint64_t i = 0; i < ROUND_TRIPS; i++) {
        uint64_t v = i;
        bench_check(weft_chan_send(p.to, &v), "weft_chan_send");
        bench_check(weft_chan_recv(p.back, &v), "weft_chan_recv");
        if (v != i)
            bench_fail("ping_pong: %llu came back for %llu", (unsigned long long)v, (unsigned long long)i);
    }
    bench_check(weft_join(t, NULL), "weft_join");
    double dt = bench_now_sec() - t0;
    weft_chan_free(p.to);
    weft_chan_free(p.back);
    return ROUND_TRIPS / dt;
}

/* ---- fanout ---- */

static void *work(void *arg)
{
    uint64_t x = (uintptr_t)arg | 1;
    for (unsigned i = 0; i < FAN_WORK; i++)
        x = x * 6364136223846793005ull + 1442695040888963407ull;
    return (void *)(uintptr_t)(x >> 40);
}

static double fanout(void)
{
    weft_task *t[FAN_TASKS];
    weft_spawn_opts o = {.flags = g_flags};
    double t0 = bench_now_sec();
    for (uintptr_t i = 0; i < FAN_TASKS; i++)
        bench_check(weft_spawn_ex(&t[i], work, (void *)i, &o), "weft_spawn_ex");
    uintptr_t sum = 0;
    for (unsigned i = 0; i < FAN_TASKS; i++) {
        void *r;
        bench_check(weft_join(t[i], &r), "weft_join");
        sum += (uintptr_t)r;
    }
    double dt = bench_now_sec() - t0;
    if (!sum)
        bench_fail("fanout: no work done");
    return (double)FAN_TASKS * FAN_WORK / dt;
}

/* ---- the runs ---- */

typedef struct run {
    const char *workload;
    const char *unit;
    unsigned workers;
    bool warm;
    double value;
} run;

static double once(run *r)
{
    const char *w = r->workload;
    if (!strcmp(w, "mt_spawn_many"))
        return spawn_many();
    if (!strcmp(w, "mt_yield_many"))
        return yield_many();
    if (!strcmp(w, "mt_chained_spawn"))
        return chained_spawn();
    if (!strcmp(w, "mt_ping_pong"))
        return ping_pong();
    return fanout();
}

static void *root(void *arg)
{
    run *r = arg;
    if (r->warm)
        once(r);
    r->value = once(r);
    return NULL;
}

static void measure(const char *workload, const char *unit, unsigned workers, unsigned flags, bool apart)
{
    char impl[64];
    snprintf(impl, sizeof impl, "weft-mt%u%s%s", workers, flags ? "-nostack" : "", apart ? "-apart" : "");
    if (!bench_variant(workload, impl))
        return;
    bool warm = !bench_cold();
    weft_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.mode = WEFT_MODE_THREADED;
    cfg.workers = workers;
    cfg.flags = WEFT_CFG_NO_ENV | WEFT_CFG_QUIET;
    weft_rt *rt;
    bench_check(weft_rt_new(&rt, &cfg), "weft_rt_new");
    g_flags = flags;
    g_apart = apart;
    run r = {workload, unit, workers, warm, 0};
    bench_check(weft_rt_block_on(rt, root, &r, NULL), "weft_rt_block_on");
    weft_rt_free(rt);
    bench_report(workload, impl, r.value, unit); /* adds -cold when cold */
}

int main(int argc, char **argv)
{
    /* --cold is BENCH_COLD=1 (kept for the command lines that use it);
     * --warm overrides the environment. */
    if (argc > 1 && !strcmp(argv[1], "--cold"))
        bench_set_cold(1);
    else if (argc > 1 && !strcmp(argv[1], "--warm"))
        bench_set_cold(0);
    else if (argc > 1) {
        fprintf(stderr, "usage: bench_mt [--cold|--warm [WORKLOAD]]\n");
        return 2;
    }
    const char *only = argc > 2 ? argv[2] : NULL;
    static const struct {
        const char *workload, *unit;
        bool nostack, apart;
    } ws[] = {
        {"mt_spawn_many", "tasks/s", true, false}, {"mt_yield_many", "yields/s", false, false},
        {"mt_chained_spawn", "tasks/s", true, false}, {"mt_ping_pong", "round-trips/s", false, true},
        {"mt_fanout", "items/s", true, false},
    };
    for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++) {
        if (only && strcmp(only, ws[i].workload))
            continue;
        for (unsigned workers = 1; workers <= 2; workers++) {
            measure(ws[i].workload, ws[i].unit, workers, 0, false);
            if (ws[i].nostack)
                measure(ws[i].workload, ws[i].unit, workers, WEFT_SPAWN_NOSTACK, false);
            if (ws[i].apart && workers > 1)
                measure(ws[i].workload, ws[i].unit, workers, 0, true);
        }
    }
    return 0;
}
