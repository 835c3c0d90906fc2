/* bench_chained_spawn.c — workload `chained_spawn` (tasks/s).
 *
 * Each task spawns the next (detached), to a depth of 1,000,000; the last one
 * sets a weft_event the root waits on. Reported: depth / elapsed, like the
 * peers.
 *
 *   weft          fiber tasks
 *   weft-nostack  WEFT_SPAWN_NOSTACK tasks
 *
 * Threaded mode, one worker; one untimed warm-up pass, then the timed pass
 * (cold, BENCH_COLD=1: the timed pass alone; see bench.h).
 * Output: "BENCH <workload> <impl> <value> <unit>".
 */
#define _GNU_SOURCE
#define BENCH_NAME "bench_chained_spawn"
#include "bench.h"

#include <stdint.h>

#define CHAIN_DEPTH 1000000u

static weft_spawn_opts chain_opts;
static weft_event done;

static void *chain(void *arg)
{
    uintptr_t n = (uintptr_t)arg;
    if (n == 0)
        bench_check(weft_event_set(&done), "weft_event_set");
    else
        bench_check(weft_spawn_ex(NULL, chain, (void *)(n - 1), &chain_opts), "weft_spawn_ex");
    return NULL;
}

static double chained_spawn_once(void *arg)
{
    (void)arg;
    bench_check(weft_event_init(&done, 0), "weft_event_init");
    double t0 = bench_now_sec();
    bench_check(weft_spawn_ex(NULL, chain, (void *)(uintptr_t)CHAIN_DEPTH, &chain_opts), "weft_spawn_ex");
    bench_check(weft_event_wait(&done), "weft_event_wait");
    double dt = bench_now_sec() - t0;
    bench_check(weft_event_destroy(&done), "weft_event_destroy");
    return dt;
}

static void run(const char *impl, unsigned spawn_flags)
{
    if (!bench_variant("chained_spawn", impl))
        return;
    memset(&chain_opts, 0, sizeof chain_opts);
    chain_opts.flags = spawn_flags;
    double s = bench_warmup_then_timed(chained_spawn_once, NULL);
    bench_report("chained_spawn", impl, CHAIN_DEPTH / s, "tasks/s");
}

int main(void)
{
    run("weft", 0);
    run("weft-nostack", WEFT_SPAWN_NOSTACK);
    return 0;
}
