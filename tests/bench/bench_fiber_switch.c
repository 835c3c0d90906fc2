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
 * Each measurement has an untimed warm-up pass first, except cold
 * (BENCH_COLD=1; see bench.h).
 *
 * This is the one bench that uses weft's internals (src/core.h).
 * Output: "BENCH <workload> <impl> <value> <unit>".
 */
#define _GNU_SOURCE
#define BENCH_NAME "bench_fiber_switch"
#include "../../src/core.h"
#include "bench.h"

#include <fenv.h>
#include <stdint.h>
#include <sys/mman.h>

#define WARMUP_ROUNDS 1000000L
#define ROUNDS 10000000L
#define YIELDS_PER_TASK 5000000u
#define FIBER_STACK (64u * 1024u)

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
    double t0 = bench_now_sec();
    for (long i = 0; i < rounds; i++)
        weft__ctx_jump(&main_ctx, &fib_ctx, NULL, false);
    double dt = bench_now_sec() - t0;
    if (bounces != rounds + 1)
        bench_fail("expected %ld bounces, saw %ld", rounds + 1, bounces);
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
    if (!bench_variant("fiber_switch", "weft"))
        return;
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

    if (!bench_cold())
        raw_round_trips(WARMUP_ROUNDS);
    double s = raw_round_trips(ROUNDS);
    bench_report("fiber_switch", "weft", s * 1e9 / (2.0 * ROUNDS), "ns");
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
    double t0 = bench_now_sec();
    bench_check(weft_spawn(&a, yielder, (void *)(uintptr_t)per_task), "weft_spawn");
    bench_check(weft_spawn(&b, yielder, (void *)(uintptr_t)per_task), "weft_spawn");
    bench_check(weft_join(a, NULL), "weft_join");
    bench_check(weft_join(b, NULL), "weft_join");
    double dt = bench_now_sec() - t0;
    if (yields != 2ull * per_task)
        bench_fail("%llu yields, expected %llu", (unsigned long long)yields, 2ull * per_task);
    return dt;
}

static void *yield2_root(void *arg)
{
    double *seconds = arg;
    if (!bench_cold())
        yield2_once(YIELDS_PER_TASK / 10); /* warm-up */
    *seconds = yield2_once(YIELDS_PER_TASK);
    return NULL;
}

static void yield2(void)
{
    if (!bench_variant("fiber_switch", "weft-yield2"))
        return;
    double s = 0;
    bench_run_threaded(yield2_root, &s);
    bench_report("fiber_switch", "weft-yield2", s * 1e9 / (2.0 * YIELDS_PER_TASK), "ns");
}

int main(void)
{
    raw_switch();
    yield2();
    return 0;
}
