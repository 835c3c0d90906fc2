/* bench_spawn_many.c — workload `spawn_many` (tasks/s).
 *
 * One task spawns 1,000,000 detached tasks; each bumps a counter and the last
 * one sets a weft_event the spawner waits on. Timed from before the first
 * spawn to the wake-up of the spawner, like the tokio/Go/Boost peers.
 *
 *   weft          fiber tasks (weft_spawn(NULL, ...))
 *   weft-nostack  WEFT_SPAWN_NOSTACK tasks (run to completion on the worker)
 *
 * Threaded mode, one worker; one untimed warm-up pass, then the timed pass.
 * Output: "BENCH <workload> <impl> <value> <unit>".
 */
#define _GNU_SOURCE
#include "weft.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NUM_TASKS 1000000u

static double now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void report(const char *workload, const char *impl, double value, const char *unit)
{
    printf("BENCH %s %s %.6g %s\n", workload, impl, value, unit);
    fflush(stdout);
}

static void check(int r, const char *what)
{
    if (r < 0) {
        fprintf(stderr, "bench_spawn_many: %s: %s\n", what, weft_strerror(r));
        exit(1);
    }
}

static weft_rt *rt_threaded(void)
{
    weft_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.mode = WEFT_MODE_THREADED;
    cfg.workers = 1;
    cfg.flags = WEFT_CFG_NO_ENV | WEFT_CFG_QUIET;
    weft_rt *rt;
    check(weft_rt_new(&rt, &cfg), "weft_rt_new");
    return rt;
}

/* One worker: the tasks never run concurrently, a plain counter is enough. */
static uint64_t counter;
static weft_event done;

static void *child(void *arg)
{
    (void)arg;
    if (++counter == NUM_TASKS)
        check(weft_event_set(&done), "weft_event_set");
    return NULL;
}

typedef struct pass {
    unsigned spawn_flags;
    double seconds[2]; /* warm-up, timed */
} pass;

static double spawn_many_once(unsigned spawn_flags)
{
    weft_spawn_opts opts;
    memset(&opts, 0, sizeof opts);
    opts.flags = spawn_flags;
    counter = 0;
    check(weft_event_init(&done, 0), "weft_event_init");
    double t0 = now_sec();
    for (uint32_t i = 0; i < NUM_TASKS; i++) {
        if (spawn_flags)
            check(weft_spawn_ex(NULL, child, NULL, &opts), "weft_spawn_ex");
        else
            check(weft_spawn(NULL, child, NULL), "weft_spawn");
    }
    check(weft_event_wait(&done), "weft_event_wait");
    double dt = now_sec() - t0;
    if (counter != NUM_TASKS) {
        fprintf(stderr, "bench_spawn_many: %llu tasks ran, expected %u\n", (unsigned long long)counter, NUM_TASKS);
        exit(1);
    }
    check(weft_event_destroy(&done), "weft_event_destroy");
    return dt;
}

static void *root(void *arg)
{
    pass *p = arg;
    p->seconds[0] = spawn_many_once(p->spawn_flags); /* warm-up */
    p->seconds[1] = spawn_many_once(p->spawn_flags);
    return NULL;
}

static void run(const char *impl, unsigned spawn_flags)
{
    weft_rt *rt = rt_threaded();
    pass p = {spawn_flags, {0, 0}};
    check(weft_rt_block_on(rt, root, &p, NULL), "weft_rt_block_on");
    weft_rt_free(rt);
    report("spawn_many", impl, NUM_TASKS / p.seconds[1], "tasks/s");
}

int main(void)
{
    run("weft", 0);
    run("weft-nostack", WEFT_SPAWN_NOSTACK);
    return 0;
}
