/* bench_idle_rss.c — workload `idle_rss` (bytes, lower is better).
 *
 * A process that creates a threaded runtime (one worker) and runs a root task
 * that sleeps 50 ms; VmRSS is read right after the sleep, inside the task
 * (where the libuv peer reads it: in its 50 ms timer's callback). Measured
 * once, like the peers. Output: "BENCH <workload> <impl> <value> <unit>".
 */
#define _GNU_SOURCE
#define BENCH_NAME "bench_idle_rss"
/* No cold mode: a process's idle RSS is measured once, in a fresh process
 * already; BENCH_COLD is ignored (see bench.h). */
#define BENCH_NO_COLD
#include "bench.h"

static void *root(void *arg)
{
    long *rss = arg;
    bench_check(weft_sleep(50ull * 1000000ull), "weft_sleep");
    *rss = bench_vm_rss_bytes();
    return NULL;
}

int main(void)
{
    long rss = -1;
    bench_run_threaded(root, &rss);
    bench_report("idle_rss", "weft", (double)rss, "bytes");
    return 0;
}
