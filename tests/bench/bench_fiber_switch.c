/* bench_fiber_switch.c — workload `fiber_switch` (ns per one-way switch).
 *
 *   weft         the raw context switch (internal weft__ctx_make /
 *                weft__ctx_jump, what the worker loop uses): the main thread
 *                and one context on an mmap'ed stack ping-pong 10,000,000
 *                round trips; ns = elapsed / (2 x round trips), as the
 *                Boost.Context peers measure it.
 *   weft-yield2  two fiber tasks on one worker (threaded mode) alternate with
 *                weft_yield(); ns per task switch = elapsed / number of yields.
 *                Each yield is task -> worker loop -> other task (two context
 *                switches plus a run-queue pop and push).
 *
 * A side check, not timed, prints "# fp control preserved: yes|no": a context
 * that set FE_UPWARD keeps it across switches, and the other side keeps its
 * own rounding mode (x87 control word via fegetround, and on x86-64 the MXCSR
 * rounding bits as well).
 *
 * This is the one bench that uses weft's internals (src/internal.h).
 * Output: "BENCH <workload> <impl> <value> <unit>".
 */
#define _GNU_SOURCE
#include "../../src/internal.h"

#include <fenv.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define WARMUP_ROUNDS 1000000L
#define ROUNDS 10000000L
#define YIELDS_PER_TASK 5000000u
#define FIBER_STACK (64u * 1024u)

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
        fprintf(stderr, "bench_fiber_switch: %s: %s\n", what, weft_strerror(r));
        exit(1);
    }
}

/* ------------------------------------------------------------------------ */
/* Raw context switch                                                        */
/* ------------------------------------------------------------------------ */

static weft__ctx main_ctx, fib_ctx;
static weft__stack fib_stack;
static long bounces;

static void bounce_entry(void *transfer)
{
    (void)transfer;
    weft__ctx_entered(&fib_ctx);
    for (;;) {
        bounces++;
        weft__ctx_jump(&fib_ctx, &main_ctx, NULL, false);
    }
}

static double raw_round_trips(long rounds)
{
    /* A fresh context each pass; the previous one is parked in bounce_entry
     * and holds nothing, so it is simply overwritten. */
    memset(&fib_ctx, 0, sizeof fib_ctx);
    weft__ctx_make(&fib_ctx, &fib_stack, bounce_entry);
    bounces = 0;
    weft__ctx_jump(&main_ctx, &fib_ctx, NULL, false); /* enter once */
    double t0 = now_sec();
    for (long i = 0; i < rounds; i++)
        weft__ctx_jump(&main_ctx, &fib_ctx, NULL, false);
    double dt = now_sec() - t0;
    if (bounces != rounds + 1) {
        fprintf(stderr, "bench_fiber_switch: expected %ld bounces, saw %ld\n", rounds + 1, bounces);
        exit(1);
    }
    return dt;
}

/* ---- FP control state check ---- */

static unsigned mxcsr_rounding(void)
{
#if defined(__x86_64__)
    uint32_t csr;
    __asm__ __volatile__("stmxcsr %0" : "=m"(csr));
    return (csr >> 13) & 3u; /* 0 nearest, 1 down, 2 up, 3 toward zero */
#else
    return 0;
#endif
}

#if defined(__x86_64__)
#define RC_NEAREST 0u
#define RC_DOWN 1u
#define RC_UP 2u
#else
#define RC_NEAREST 0u
#define RC_DOWN 0u
#define RC_UP 0u
#endif

static int fp_failures;

static void fp_expect(int mode, unsigned rc, const char *where)
{
    if (fegetround() != mode || mxcsr_rounding() != rc) {
        fprintf(stderr, "bench_fiber_switch: fp control lost (%s): fegetround %#x, want %#x; MXCSR.RC %u, want %u\n",
                where, (unsigned)fegetround(), (unsigned)mode, mxcsr_rounding(), rc);
        fp_failures++;
    }
}

static void fp_entry(void *transfer)
{
    (void)transfer;
    weft__ctx_entered(&fib_ctx);
    /* A fresh context starts with the ABI's default state. */
    fp_expect(FE_TONEAREST, RC_NEAREST, "fresh context");
    fesetround(FE_UPWARD);
    weft__ctx_jump(&fib_ctx, &main_ctx, NULL, false);
    fp_expect(FE_UPWARD, RC_UP, "context after switching back");
    weft__ctx_jump(&fib_ctx, &main_ctx, NULL, false);
    /* Main now runs FE_DOWNWARD; ours must still be FE_UPWARD. */
    fp_expect(FE_UPWARD, RC_UP, "context while the other side rounds down");
    for (;;)
        weft__ctx_jump(&fib_ctx, &main_ctx, NULL, false);
}

static int fp_check(void)
{
    fp_failures = 0;
    fesetround(FE_TONEAREST);
    memset(&fib_ctx, 0, sizeof fib_ctx);
    weft__ctx_make(&fib_ctx, &fib_stack, fp_entry);
    weft__ctx_jump(&main_ctx, &fib_ctx, NULL, false); /* it sets FE_UPWARD */
    fp_expect(FE_TONEAREST, RC_NEAREST, "main after the context set FE_UPWARD");
    weft__ctx_jump(&main_ctx, &fib_ctx, NULL, false); /* it checks its FE_UPWARD */
    fp_expect(FE_TONEAREST, RC_NEAREST, "main, second return");
    fesetround(FE_DOWNWARD);
    weft__ctx_jump(&main_ctx, &fib_ctx, NULL, false);
    fp_expect(FE_DOWNWARD, RC_DOWN, "main kept FE_DOWNWARD");
    fesetround(FE_TONEAREST);
    return fp_failures == 0;
}

static void raw_switch(void)
{
    size_t size = FIBER_STACK;
    char *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    memset(&fib_stack, 0, sizeof fib_stack);
    fib_stack.base = mem;
    fib_stack.size = size;
    weft__ctx_init_host(&main_ctx);

    int fp_ok = fp_check();
    printf("# fp control preserved: %s\n", fp_ok ? "yes" : "no");
    fflush(stdout);

    raw_round_trips(WARMUP_ROUNDS);
    double s = raw_round_trips(ROUNDS);
    report("fiber_switch", "weft", s * 1e9 / (2.0 * ROUNDS), "ns");
    weft__ctx_release(&fib_ctx);
    munmap(mem, size);
}

/* ------------------------------------------------------------------------ */
/* Two tasks yielding to each other                                          */
/* ------------------------------------------------------------------------ */

static uint64_t yields;

static void *yielder(void *arg)
{
    unsigned n = (unsigned)(uintptr_t)arg;
    for (unsigned i = 0; i < n; i++) {
        weft_yield();
        yields++;
    }
    return NULL;
}

static double yield2_once(unsigned per_task)
{
    weft_task *a, *b;
    yields = 0;
    double t0 = now_sec();
    check(weft_spawn(&a, yielder, (void *)(uintptr_t)per_task), "weft_spawn");
    check(weft_spawn(&b, yielder, (void *)(uintptr_t)per_task), "weft_spawn");
    check(weft_join(a, NULL), "weft_join");
    check(weft_join(b, NULL), "weft_join");
    double dt = now_sec() - t0;
    if (yields != 2ull * per_task) {
        fprintf(stderr, "bench_fiber_switch: %llu yields, expected %llu\n", (unsigned long long)yields,
                2ull * per_task);
        exit(1);
    }
    return dt;
}

static void *yield2_root(void *arg)
{
    double *seconds = arg;
    yield2_once(YIELDS_PER_TASK / 10); /* warm-up */
    *seconds = yield2_once(YIELDS_PER_TASK);
    return NULL;
}

static void yield2(void)
{
    weft_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.mode = WEFT_MODE_THREADED;
    cfg.workers = 1;
    cfg.flags = WEFT_CFG_NO_ENV | WEFT_CFG_QUIET;
    weft_rt *rt;
    check(weft_rt_new(&rt, &cfg), "weft_rt_new");
    double s = 0;
    check(weft_rt_block_on(rt, yield2_root, &s, NULL), "weft_rt_block_on");
    weft_rt_free(rt);
    report("fiber_switch", "weft-yield2", s * 1e9 / (2.0 * YIELDS_PER_TASK), "ns");
}

int main(void)
{
    raw_switch();
    yield2();
    return 0;
}
