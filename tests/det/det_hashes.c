/* det_hashes.c — prints the trace hashes of a fixed set of simulated runs
 * (random and PCT, 1, 2 and 4 workers, faults off and on). The test driver
 * builds this five ways (-O0/-O2 x gcc/clang, and AArch64 under qemu) and
 * requires identical output, and the same output as tests/det/golden.txt: a
 * seed must mean the same run on every build, machine and commit, unless the
 * schedule format version (printed first) is bumped. Every run without faults
 * must succeed (the pipeline conserves what it carries); the program exits
 * with 1 if one does not. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <weft.h>

enum { PRODUCERS = 3, ITEMS = 20 };
/* Each producer sends 0..ITEMS-1. */
#define EXPECTED_SUM ((uint64_t)PRODUCERS * ITEMS * (ITEMS - 1) / 2)

typedef struct shared {
    weft_mutex m;
    weft_chan *ch;
    uint64_t total;
} shared;

static void *producer(void *arg)
{
    shared *s = arg;
    for (uint64_t i = 0; i < ITEMS; i++) {
        WEFT_ASSERT(weft_mutex_lock(&s->m) == 0);
        s->total += i;
        WEFT_ASSERT(weft_mutex_unlock(&s->m) == 0);
        WEFT_ASSERT(weft_chan_send(s->ch, &i) == 0);
        if (WEFT_BUGGIFY())
            weft_yield();
        if (weft_rand() % 3 == 0)
            WEFT_ASSERT(weft_sleep(weft_rand() % 1000) == 0);
        weft_yield();
    }
    return NULL;
}

static void *consumer(void *arg)
{
    shared *s = arg;
    uint64_t v, sum = 0;
    for (int i = 0; i < PRODUCERS * ITEMS; i++) {
        WEFT_ASSERT(weft_chan_recv(s->ch, &v) == 0);
        sum += v;
    }
    return (void *)(uintptr_t)sum;
}

static void *root(void *arg)
{
    (void)arg;
    shared s;
    memset(&s, 0, sizeof s);
    WEFT_ASSERT(weft_mutex_init(&s.m) == 0);
    WEFT_ASSERT(weft_chan_new(&s.ch, sizeof(uint64_t), 4) == 0);
    weft_task *t[PRODUCERS + 1];
    for (int i = 0; i < PRODUCERS; i++)
        WEFT_ASSERT(weft_spawn(&t[i], producer, &s) == 0);
    WEFT_ASSERT(weft_spawn(&t[PRODUCERS], consumer, &s) == 0);
    for (int i = 0; i < PRODUCERS; i++)
        WEFT_ASSERT(weft_join(t[i], NULL) == 0);
    void *sum = NULL;
    WEFT_ASSERT(weft_join(t[PRODUCERS], &sum) == 0);
    WEFT_ASSERT((uint64_t)(uintptr_t)sum == EXPECTED_SUM);
    WEFT_ASSERT(s.total == EXPECTED_SUM);
    WEFT_ASSERT(weft_chan_len(s.ch) == 0);
    WEFT_ASSERT(weft_chan_free(s.ch) == 0);
    WEFT_ASSERT(weft_mutex_destroy(&s.m) == 0);
    return NULL;
}

int main(void)
{
    static const weft_strategy strategies[] = {WEFT_STRATEGY_RANDOM, WEFT_STRATEGY_PCT};
    int failed = 0;
    printf("version=%d\n", WEFT_SCHEDULE_VERSION);
    for (unsigned faults = 0; faults < 2; faults++)
        for (unsigned si = 0; si < 2; si++)
            for (unsigned workers = 1; workers <= 4; workers *= 2)
                for (uint64_t seed = 0; seed < 25; seed++) {
                    weft_config c;
                    memset(&c, 0, sizeof c);
                    c.workers = workers;
                    c.seed = seed * 7919;
                    c.flags = WEFT_CFG_NO_ENV | WEFT_CFG_QUIET;
                    c.sim.strategy = strategies[si];
                    if (faults) {
                        /* Buggify sites fire, and allocations fail now and then: a
                         * failed run is a fine outcome here, as long as it is the
                         * same one everywhere. */
                        c.sim.buggify_permille = 500;
                        c.sim.fail_alloc_permille = 20;
                    }
                    weft_rt *rt;
                    int r = weft_rt_new(&rt, &c);
                    if (r != 0) {
                        fprintf(stderr, "det_hashes: weft_rt_new: %s\n", weft_strerror(r));
                        return 1;
                    }
                    r = weft_rt_block_on(rt, root, NULL, NULL);
                    printf("strategy=%u workers=%u faults=%u seed=%" PRIu64 " status=%d events=%" PRIu64
                           " hash=%016" PRIx64 "\n",
                           si, workers, faults, c.seed, r, weft_rt_trace_events(rt), weft_rt_trace_hash(rt));
                    weft_rt_free(rt);
                    if (r != 0 && !faults) {
                        fprintf(stderr, "det_hashes: strategy=%u workers=%u seed=%" PRIu64 " failed: %s\n", si,
                                workers, c.seed, weft_strerror(r));
                        failed = 1;
                    }
                }
    return failed;
}
