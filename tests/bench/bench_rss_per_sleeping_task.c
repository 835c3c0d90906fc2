/* bench_rss.c — workload `rss_per_sleeping_task` (bytes, lower is better).
 *
 * 100,000 fiber tasks each call weft_sleep(3600 s). VmRSS (/proc/self/status)
 * is read in the spawning task before the first spawn and again once every
 * task has run and parked (the spawner sleeps in 10 ms steps until all have
 * started: spawns past the local queue's capacity go to the engine's queue,
 * which the worker polls less often than its own, so one fixed pause is not
 * enough). Reported: (after - before) /
 * 100,000, as the peers do. The handle array is allocated and touched before
 * the first reading, so it is not counted.
 *
 * Afterwards every task is cancelled (weft_cancel) and joined; each sleep must
 * return WEFT_ECANCELED. Threaded mode, one worker, default 64 KiB stacks.
 * Measured once, without warm-up (like the peers).
 * Output: "BENCH <workload> <impl> <value> <unit>".
 */
#define _GNU_SOURCE
#define BENCH_NAME "bench_rss"
/* No cold mode: memory is measured once, without warm-up, already;
 * BENCH_COLD is ignored (see bench.h). */
#define BENCH_NO_COLD
#include "bench.h"

#include <stdint.h>

#define NUM_TASKS 100000u
#define SLEEP_NS (3600ull * 1000000000ull)
#define SETTLE_NS (10ull * 1000000ull)

static unsigned started;

static void *sleeper(void *arg)
{
    (void)arg;
    started++;
    int r = weft_sleep(SLEEP_NS);
    return (void *)(intptr_t)r;
}

typedef struct state {
    weft_task **handles;
    double per_task;
} state;

static void *root(void *arg)
{
    state *s = arg;
    long before = bench_vm_rss_bytes();
    for (unsigned i = 0; i < NUM_TASKS; i++)
        bench_check(weft_spawn(&s->handles[i], sleeper, NULL), "weft_spawn");
    while (started < NUM_TASKS)
        bench_check(weft_sleep(SETTLE_NS), "weft_sleep");
    bench_check(weft_sleep(SETTLE_NS), "weft_sleep"); /* the last one parks */
    long after = bench_vm_rss_bytes();
    s->per_task = (double)(after - before) / NUM_TASKS;
    weft_rt_stats st;
    bench_check(weft_rt_stats_get(weft_rt_current(), &st), "weft_rt_stats_get");
    printf("# rss before %ld, after %ld; live tasks %llu, stacks mapped %llu\n", before, after,
           (unsigned long long)st.live_tasks, (unsigned long long)st.stacks_mapped);

    for (unsigned i = 0; i < NUM_TASKS; i++)
        bench_check(weft_cancel(s->handles[i]), "weft_cancel");
    unsigned cancelled = 0;
    for (unsigned i = 0; i < NUM_TASKS; i++) {
        void *res = NULL;
        int r = weft_join(s->handles[i], &res);
        if (r != 0 && r != WEFT_ECANCELED)
            bench_check(r, "weft_join");
        if ((intptr_t)res == WEFT_ECANCELED)
            cancelled++;
    }
    if (cancelled != NUM_TASKS)
        bench_fail("%u of %u sleeps returned WEFT_ECANCELED", cancelled, NUM_TASKS);
    return NULL;
}

int main(void)
{
    state s;
    s.handles = malloc(NUM_TASKS * sizeof *s.handles);
    if (!s.handles)
        abort();
    memset(s.handles, 0, NUM_TASKS * sizeof *s.handles);
    s.per_task = 0;
    bench_run_threaded(root, &s);
    bench_report("rss_per_sleeping_task", "weft", s.per_task, "bytes");
    free(s.handles);
    return 0;
}
