/* bench_yield_many.c — workload `yield_many` (yields/s).
 *
 * 1,000 fiber tasks each call weft_yield() 1,000 times; the last one to
 * finish sets a weft_event the spawner waits on. Timed from before the first
 * spawn to the spawner's wake-up (as the tokio peer does).
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

#define NUM_TASKS 1000u
#define YIELDS_PER_TASK 1000u

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
        fprintf(stderr, "bench_yield_many: %s: %s\n", what, weft_strerror(r));
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

static unsigned left;
static uint64_t yields;
static weft_event done;

static void *yielder(void *arg)
{
    (void)arg;
    for (unsigned i = 0; i < YIELDS_PER_TASK; i++) {
        weft_yield();
        yields++;
    }
    if (--left == 0)
        check(weft_event_set(&done), "weft_event_set");
    return NULL;
}

static double yield_many_once(void)
{
    left = NUM_TASKS;
    yields = 0;
    check(weft_event_init(&done, 0), "weft_event_init");
    double t0 = now_sec();
    for (unsigned i = 0; i < NUM_TASKS; i++)
        check(weft_spawn(NULL, yielder, NULL), "weft_spawn");
    check(weft_event_wait(&done), "weft_event_wait");
    double dt = now_sec() - t0;
    if (yields != (uint64_t)NUM_TASKS * YIELDS_PER_TASK) {
        fprintf(stderr, "bench_yield_many: %llu yields, expected %u\n", (unsigned long long)yields,
                NUM_TASKS * YIELDS_PER_TASK);
        exit(1);
    }
    check(weft_event_destroy(&done), "weft_event_destroy");
    return dt;
}

static void *root(void *arg)
{
    double *seconds = arg;
    yield_many_once(); /* warm-up */
    *seconds = yield_many_once();
    return NULL;
}

int main(void)
{
    weft_rt *rt = rt_threaded();
    double s = 0;
    check(weft_rt_block_on(rt, root, &s, NULL), "weft_rt_block_on");
    weft_rt_free(rt);
    report("yield_many", "weft", (double)NUM_TASKS * YIELDS_PER_TASK / s, "yields/s");
    return 0;
}
