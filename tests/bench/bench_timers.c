/* bench_timers.c — workload `timers` (ops/s).
 *
 * 1,000,000 caller-allocated weft_timer in one array, weft_timer_init'ed
 * untimed (like the libuv peer's uv_timer_init), then, timed:
 * weft_timer_start with an absolute deadline weft_now() + d, d drawn uniformly
 * from 0..1000 ms by the same fixed-seed xorshift64* as the peers, followed
 * by weft_timer_stop on every other timer. Reported: (1,000,000 starts +
 * 500,000 stops) / elapsed. The other half is stopped untimed before the task
 * returns, so nothing ever fires (the task never yields while timers are
 * armed, so the worker loop never gets to poll the wheel either).
 *
 * weft_now() is read once per pass (the loop time, as libuv's uv_now and the
 * tokio peer's base Instant are); the deadlines are computed inside the timed
 * section.
 *
 * Threaded mode, one worker, inside a task; one untimed warm-up pass, then
 * the timed pass (cold, BENCH_COLD=1: the timed pass alone; see bench.h).
 * Output: "BENCH <workload> <impl> <value> <unit>".
 */
#define _GNU_SOURCE
#define BENCH_NAME "bench_timers"
#include "bench.h"

#include <stdint.h>

#define NUM_TIMERS 1000000u
#define TIMER_MAX_MS 1000u

/* xorshift64*, same generator and seed as the peers. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng_next(void)
{
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static void never_cb(weft_timer *t, void *arg)
{
    (void)t;
    (void)arg;
    fprintf(stderr, "bench_timers: a timer fired\n");
    abort();
}

typedef struct state {
    weft_timer *timers;
    uint64_t *offsets_ns;
    double seconds;
} state;

static double timers_once(state *s)
{
    weft_timer *t = s->timers;
    const uint64_t *off = s->offsets_ns;
    double t0 = bench_now_sec();
    uint64_t base = weft_now();
    for (uint32_t i = 0; i < NUM_TIMERS; i++)
        bench_check(weft_timer_start(&t[i], base + off[i], never_cb, NULL), "weft_timer_start");
    for (uint32_t i = 0; i < NUM_TIMERS; i += 2)
        bench_check(weft_timer_stop(&t[i]), "weft_timer_stop");
    double dt = bench_now_sec() - t0;
    for (uint32_t i = 1; i < NUM_TIMERS; i += 2) /* untimed */
        bench_check(weft_timer_stop(&t[i]), "weft_timer_stop");
    return dt;
}

static void *root(void *arg)
{
    state *s = arg;
    if (!bench_cold())
        timers_once(s); /* warm-up */
    s->seconds = timers_once(s);
    for (uint32_t i = 0; i < NUM_TIMERS; i++) {
        if (weft_timer_pending(&s->timers[i]))
            bench_fail("timer %u still pending", i);
    }
    return NULL;
}

int main(void)
{
    if (!bench_variant("timers", "weft"))
        return 0;
    state s;
    s.timers = calloc(NUM_TIMERS, sizeof *s.timers);
    s.offsets_ns = malloc(NUM_TIMERS * sizeof *s.offsets_ns);
    if (!s.timers || !s.offsets_ns)
        bench_fail("out of memory");
    for (uint32_t i = 0; i < NUM_TIMERS; i++) {
        bench_check(weft_timer_init(&s.timers[i]), "weft_timer_init");
        s.offsets_ns[i] = (rng_next() % (TIMER_MAX_MS + 1)) * 1000000u;
    }
    s.seconds = 0;
    bench_run_threaded(root, &s);
    bench_report("timers", "weft", (NUM_TIMERS + NUM_TIMERS / 2) / s.seconds, "ops/s");
    free(s.timers);
    free(s.offsets_ns);
    return 0;
}
