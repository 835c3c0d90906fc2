/* bench_idle_rss.c — workload `idle_rss` (bytes, lower is better).
 *
 * A process that creates a threaded runtime (one worker) and runs a root task
 * that sleeps 50 ms; VmRSS is read right after the sleep, inside the task
 * (where the libuv peer reads it: in its 50 ms timer's callback). Measured
 * once, like the peers. Output: "BENCH <workload> <impl> <value> <unit>".
 */
#define _GNU_SOURCE
#include "weft.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check(int r, const char *what)
{
    if (r < 0) {
        fprintf(stderr, "bench_idle_rss: %s: %s\n", what, weft_strerror(r));
        exit(1);
    }
}

static long vm_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    if (!f)
        abort();
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    if (kb < 0)
        abort();
    return kb * 1024;
}

static void *root(void *arg)
{
    long *rss = arg;
    check(weft_sleep(50ull * 1000000ull), "weft_sleep");
    *rss = vm_rss_bytes();
    return NULL;
}

int main(void)
{
    weft_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.mode = WEFT_MODE_THREADED;
    cfg.workers = 1;
    cfg.flags = WEFT_CFG_NO_ENV | WEFT_CFG_QUIET;
    weft_rt *rt;
    check(weft_rt_new(&rt, &cfg), "weft_rt_new");
    long rss = -1;
    check(weft_rt_block_on(rt, root, &rss, NULL), "weft_rt_block_on");
    weft_rt_free(rt);
    printf("BENCH idle_rss weft %.6g bytes\n", (double)rss);
    return 0;
}
