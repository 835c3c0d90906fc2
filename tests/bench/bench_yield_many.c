/* bench_yield_many.c — workload `yield_many` (yields/s).
 *
 * 1,000 fiber tasks each call weft_yield() 1,000 times; the last one to
 * finish sets a weft_event the spawner waits on. Timed from before the first
 * spawn to the spawner's wake-up (as the tokio peer does).
 *
 * Threaded mode, one worker; one untimed warm-up pass, then the timed pass
 * (cold, BENCH_COLD=1: the timed pass alone; see bench.h).
 * Output: "BENCH <workload> <impl> <value> <unit>".
 */
#define _GNU_SOURCE
#define BENCH_NAME "bench_yield_many"
#include "bench.h"

#include <stdint.h>

#define NUM_TASKS 1000u
#define YIELDS_PER_TASK 1000u

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
        bench_check(weft_event_set(&done), "weft_event_set");
    return NULL;
}

static double yield_many_once(void *arg)
{
    (void)arg;
    left = NUM_TASKS;
    yields = 0;
    bench_check(weft_event_init(&done, 0), "weft_event_init");
    double t0 = bench_now_sec();
    for (unsigned i = 0; i < NUM_TASKS; i++)
        bench_check(weft_spawn(NULL, yielder, NULL), "weft_spawn");
    bench_check(weft_event_wait(&done), "weft_event_wait");
    double dt = bench_now_sec() - t0;
    if (yields != (uint64_t)NUM_TASKS * YIELDS_PER_TASK)
        bench_fail("%llu yields, expected %u", (unsigned long long)yields, NUM_TASKS * YIELDS_PER_TASK);
    bench_check(weft_event_destroy(&done), "weft_event_destroy");
    return dt;
}

int main(void)
{
    if (!bench_variant("yield_many", "weft"))
        return 0;
    double s = bench_warmup_then_timed(yield_many_once, NULL);
    bench_report("yield_many", "weft", (double)NUM_TASKS * YIELDS_PER_TASK / s, "yields/s");
    return 0;
}
