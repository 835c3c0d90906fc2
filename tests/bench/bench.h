/* bench.h — the harness every bench_*.c shares: wall clock, the
 * "BENCH <workload> <impl> <value> <unit>" line that tests/bench/run.py
 * parses, failing loudly on an error code, a threaded runtime with one worker
 * (the configuration every peer is measured in), a warm-up pass followed by a
 * timed pass, medians and VmRSS.
 *
 * Two switches in the environment, understood by every bench program and
 * every peer (tests/bench/peers/) alike:
 *
 *   BENCH_COLD=1     cold: no warm-up pass, the first pass is the timed one,
 *                    and every impl reported gets the suffix "-cold"
 *                    ("weft-cold", "weft-nostack-cold"). Without it: warm, an
 *                    untimed pass first. A program whose workloads make no
 *                    sense cold (RSS, idle RSS, echo, the simulator's) defines
 *                    BENCH_NO_COLD before including this header and ignores
 *                    the switch; run.py never runs those cold.
 *   BENCH_VARIANT=k  run only the k-th measurement (0-based, in the order the
 *                    program makes them) and skip the others, so that with
 *                    BENCH_COLD=1 each measurement is the first pass of a
 *                    fresh process (run.py does this for every cold run).
 *                    BENCH_VARIANT=list measures nothing and prints one line
 *                    "VARIANT <workload> <impl>" per measurement instead.
 *                    A program asks with bench_variant() before each one.
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

/* BENCH_COLD=1 in the environment (or bench_set_cold, for bench_mt's
 * --cold): no warm-up, "-cold" on every impl. Always false in a program that
 * defined BENCH_NO_COLD. */
static int bench__cold = -1; /* -1: not read yet */

static inline void bench_set_cold(int cold)
{
    bench__cold = cold != 0;
}

static inline int bench_cold(void)
{
#ifdef BENCH_NO_COLD
    return 0;
#else
    if (bench__cold < 0) {
        const char *e = getenv("BENCH_COLD");
        bench__cold = e && !strcmp(e, "1");
    }
    return bench__cold;
#endif
}

/* The impl name as reported: "-cold" appended when cold. */
static inline const char *bench_impl_name(const char *impl, char *buf, size_t size)
{
    if (!bench_cold())
        return impl;
    snprintf(buf, size, "%s-cold", impl);
    return buf;
}

/* Whether to make the next measurement (workload, impl); see BENCH_VARIANT
 * above. Call it once before each measurement, in the program's order, also
 * for those that will be skipped. */
static inline int bench_variant(const char *workload, const char *impl)
{
    static long next = 0;
    static int mode = -2; /* -2: not read yet; -1: all; -3: list; else the index */
    if (mode == -2) {
        const char *e = getenv("BENCH_VARIANT");
        if (!e || !*e)
            mode = -1;
        else if (!strcmp(e, "list"))
            mode = -3;
        else {
            char *end;
            long k = strtol(e, &end, 10);
            if (*end || k < 0) {
                fprintf(stderr, "%s: BENCH_VARIANT=%s: want a number or \"list\"\n", BENCH_NAME, e);
                exit(2);
            }
            mode = (int)k;
        }
    }
    long k = next++;
    if (mode == -3) {
        char buf[128];
        printf("VARIANT %s %s\n", workload, bench_impl_name(impl, buf, sizeof buf));
        fflush(stdout);
        return 0;
    }
    return mode == -1 || mode == k;
}

/* One result line, flushed at once so that a later crash cannot lose it;
 * "-cold" is appended to impl when cold. */
static inline void bench_report(const char *workload, const char *impl, double value, const char *unit)
{
    char buf[128];
    printf("BENCH %s %s %.6g %s\n", workload, bench_impl_name(impl, buf, sizeof buf), value, unit);
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
    if (!bench_cold())
        p->pass(p->arg); /* warm-up: stacks, caches and the allocator settle */
    p->seconds = p->pass(p->arg);
    return NULL;
}

/* The usual shape of a measurement: in one root task on a fresh threaded
 * runtime, an untimed warm-up pass, then the timed pass whose seconds are
 * returned. Cold (BENCH_COLD=1): the timed pass alone, on the fresh runtime. */
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
