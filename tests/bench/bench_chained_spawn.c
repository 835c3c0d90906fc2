/* bench_chained_spawn.c — workload `chained_spawn` (tasks/s).
 *
 * Each task spawns the next (detached), to a depth of 1,000,000; the last one
 * sets a weft_event the root waits on. Reported: depth / elapsed, like the
 * peers.
 *
 *   weft          fiber tasks
 *   weft-nostack  WEFT_SPAWN_NOSTACK tasks
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

#define CHAIN_DEPTH 1000000u

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
        fprintf(stderr, "bench_chained_spawn: %s: %s\n", what, weft_strerror(r));
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

static weft_spawn_opts chain_opts;
static weft_event done;

static void *chain(void *arg)
{
    uintptr_t n = (uintptr_t)arg;
    if (n == 0)
        check(weft_event_set(&done), "weft_event_set");
    else
        check(weft_spawn_ex(NULL, chain, (void *)(n - 1), &chain_opts), "weft_spawn_ex");
    return NULL;
}

static double chained_spawn_once(void)
{
    check(weft_event_init(&done, 0), "weft_event_init");
    double t0 = now_sec();
    check(weft_spawn_ex(NULL, chain, (void *)(uintptr_t)CHAIN_DEPTH, &chain_opts), "weft_spawn_ex");
    check(weft_event_wait(&done), "weft_event_wait");
    double dt = now_sec() - t0;
    check(weft_event_destroy(&done), "weft_event_destroy");
    return dt;
}

static void *root(void *arg)
{
    double *seconds = arg;
    chained_spawn_once(); /* warm-up */
    *seconds = chained_spawn_once();
    return NULL;
}

static void run(const char *impl, unsigned spawn_flags)
{
    memset(&chain_opts, 0, sizeof chain_opts);
    chain_opts.flags = spawn_flags;
    weft_rt *rt = rt_threaded();
    double s = 0;
    check(weft_rt_block_on(rt, root, &s, NULL), "weft_rt_block_on");
    weft_rt_free(rt);
    report("chained_spawn", impl, CHAIN_DEPTH / s, "tasks/s");
}

int main(void)
{
    run("weft", 0);
    run("weft-nostack", WEFT_SPAWN_NOSTACK);
    return 0;
}
