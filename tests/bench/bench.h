/* bench.h — the harness every bench_*.c shares: wall clock, the
 * "BENCH <workload> <impl> <value> <unit>" line that tests/bench/run.py
 * parses, failing loudly on an error code, a threaded runtime with one worker
 * (the configuration every peer is measured in), a warm-up pass followed by a
 * timed pass, medians and VmRSS.
 *
 * Each bench program is its own executable built from one .c file, so this is
 * a header of static functions rather than a library. Before including it, a
 * program defines _GNU_SOURCE (CLOCK_MONOTONIC under -std=c11) ahead of any
 * system header, and BENCH_NAME, the prefix of its error messages. */
#ifndef WEFT_BENCH_H
#define WEFT_BENCH_H

#ifndef BENCH_NAME
#error "define BENCH_NAME (the prefix of the program's error messages) before including bench.h"
#endif

#include "weft.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Monotonic wall time in seconds: what every workload is timed with. */
static inline double bench_now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* One result line, flushed at once so that a later crash cannot lose it. */
static inline void bench_report(const char *workload, const char *impl, double value, const char *unit)
{
    printf("BENCH %s %s %.6g %s\n", workload, impl, value, unit);
    fflush(stdout);
}

/* A wrong result must not turn into a number: say why and exit(1). */
__attribute__((format(printf, 1, 2))) static inline _Noreturn void bench_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", BENCH_NAME);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* Fail on a negative weft code; `what` names the call. */
static inline void bench_check(int r, const char *what)
{
    if (r < 0)
        bench_fail("%s: %s", what, weft_strerror(r));
}

/* The real backend on one worker, ignoring WEFT_* in the environment so that a
 * stray WEFT_MODE cannot turn a benchmark into a simulation. */
static inline weft_rt *bench_rt_threaded(void)
{
    weft_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.mode = WEFT_MODE_THREADED;
    cfg.workers = 1;
    cfg.flags = WEFT_CFG_NO_ENV | WEFT_CFG_QUIET;
    weft_rt *rt;
    bench_check(weft_rt_new(&rt, &cfg), "weft_rt_new");
    return rt;
}

/* Run root(arg) as the root task of a fresh bench_rt_threaded() runtime. */
static inline void bench_run_threaded(weft_fn root, void *arg)
{
    weft_rt *rt = bench_rt_threaded();
    bench_check(weft_rt_block_on(rt, root, arg, NULL), "weft_rt_block_on");
    weft_rt_free(rt);
}

/* One pass of a workload; returns the seconds of its timed section. */
typedef double (*bench_pass_fn)(void *arg);

typedef struct bench_passes {
    bench_pass_fn pass;
    void *arg;
    double seconds;
} bench_passes;

static inline void *bench_passes_root(void *arg)
{
    bench_passes *p = arg;
    p->pass(p->arg); /* warm-up: stacks, caches and the allocator settle */
    p->seconds = p->pass(p->arg);
    return NULL;
}

/* The usual shape of a measurement: in one root task on a fresh threaded
 * runtime, an untimed warm-up pass, then the timed pass whose seconds are
 * returned. */
static inline double bench_warmup_then_timed(bench_pass_fn pass, void *arg)
{
    bench_passes p = {pass, arg, 0};
    bench_run_threaded(bench_passes_root, &p);
    return p.seconds;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The median of n (odd) samples; sorts them in place. Repeated runs damp the
 * noise of a shared machine better than a mean would. */
static inline double bench_median(double *v, size_t n)
{
    qsort(v, n, sizeof v[0], bench_cmp_double);
    return v[n / 2];
}

/* The process's resident set in bytes, from /proc/self/status as the peers
 * read it. */
static inline long bench_vm_rss_bytes(void)
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

#endif
