/* bench_spawn_many.c — workload `spawn_many` (tasks/s).
 *
 * One task spawns 1,000,000 detached tasks; each bumps a counter and the last
 * one sets a weft_event the spawner waits on. Timed from before the first
 * spawn to the wake-up of the spawner, like the tokio/Go/Boost peers.
 *
 *   weft          fiber tasks (weft_spawn(NULL, ...))
 *   weft-nostack  WEFT_SPAWN_NOSTACK tasks (run to completion on the worker)
 *
 * Threaded mode, one worker; one untimed warm-up pass, then the timed pass
 * (cold, BENCH_COLD=1: the timed pass alone; see bench.h).
 * Output: "BENCH <workload> <impl> <value> <unit>".
 */
#define _GNU_SOURCE
#define BENCH_NAME "bench_spawn_many"
#include "bench.h"

#include <stdint.h>

#define NUM_TASKS 1000000u

/* One worker: the tasks never run concurrently, a plain counter is enough. */
static uint64_t counter;
static weft_event done;

static void *child(void *arg)
{
    (void)arg;
    if (++counter == NUM_TASKS)
        bench_check(weft_event_set(&done), "weft_event_set");
    return NULL;
}

static double spawn_many_once(void *arg)
{
    unsigned spawn_flags = *(const unsigned *)arg;
    weft_spawn_opts opts;
    memset(&opts, 0, sizeof opts);
    opts.flags = spawn_flags;
    counter = 0;
    bench_check(weft_event_init(&done, 0), "weft_event_init");
    double t0 = bench_now_sec();
    for (uint32_t i = 0; i < NUM_TASKS; i++) {
        if (spawn_flags)
            bench_check(weft_spawn_ex(NULL, child, NULL, &opts), "weft_spawn_ex");
        else
            bench_check(weft_spawn(NULL, child, NULL), "weft_spawn");
    }
    bench_check(weft_event_wait(&done), "weft_event_wait");
    double dt = bench_now_sec() - t0;
    if (counter != NUM_TASKS)
        bench_fail("%llu tasks ran, expected %u", (unsigned long long)counter, NUM_TASKS);
    bench_check(weft_event_destroy(&done), "weft_event_destroy");
    return dt;
}

static void run(const char *impl, unsigned spawn_flags)
{
    if (!bench_variant("spawn_many", impl))
        return;
    double s = bench_warmup_then_timed(spawn_many_once, &spawn_flags);
    bench_report("spawn_many", impl, NUM_TASKS / s, "tasks/s");
}

int main(void)
{
    run("weft", 0);
    run("weft-nostack", WEFT_SPAWN_NOSTACK);
    return 0;
}
