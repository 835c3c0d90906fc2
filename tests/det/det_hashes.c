/* det_hashes.c — prints the trace hashes of a fixed set of simulated runs.
 * The test driver builds this four ways (-O0/-O2 x gcc/clang) and requires
 * identical output: a seed must mean the same run on every build. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <weft.h>

typedef struct shared {
    weft_mutex m;
    weft_chan *ch;
    uint64_t total;
} shared;

static void *producer(void *arg)
{
    shared *s = arg;
    for (uint64_t i = 0; i < 20; i++) {
        weft_mutex_lock(&s->m);
        s->total += i;
        weft_mutex_unlock(&s->m);
        weft_chan_send(s->ch, &i);
        if (weft_rand() % 3 == 0)
            weft_sleep(weft_rand() % 1000);
        weft_yield();
    }
    return NULL;
}

static void *consumer(void *arg)
{
    shared *s = arg;
    uint64_t v, sum = 0;
    for (int i = 0; i < 60; i++) {
        weft_chan_recv(s->ch, &v);
        sum += v;
    }
    return (void *)(uintptr_t)sum;
}

static void *root(void *arg)
{
    (void)arg;
    shared s;
    memset(&s, 0, sizeof s);
    weft_mutex_init(&s.m);
    weft_chan_new(&s.ch, sizeof(uint64_t), 4);
    weft_task *t[4];
    for (int i = 0; i < 3; i++)
        weft_spawn(&t[i], producer, &s);
    weft_spawn(&t[3], consumer, &s);
    for (int i = 0; i < 4; i++)
        weft_join(t[i], NULL);
    weft_chan_free(s.ch);
    weft_mutex_destroy(&s.m);
    return NULL;
}

int main(void)
{
    static const weft_strategy strategies[] = {WEFT_STRATEGY_RANDOM, WEFT_STRATEGY_PCT};
    for (unsigned si = 0; si < 2; si++)
        for (unsigned workers = 1; workers <= 4; workers *= 2)
            for (uint64_t seed = 0; seed < 25; seed++) {
                weft_config c;
                memset(&c, 0, sizeof c);
                c.workers = workers;
                c.seed = seed * 7919;
                c.flags = WEFT_CFG_NO_ENV | WEFT_CFG_QUIET;
                c.sim.strategy = strategies[si];
                weft_rt *rt;
                if (weft_rt_new(&rt, &c) != 0)
                    return 1;
                int r = weft_rt_block_on(rt, root, NULL, NULL);
                printf("strategy=%u workers=%u seed=%" PRIu64 " status=%d events=%" PRIu64 " hash=%016" PRIx64 "\n",
                       si, workers, c.seed, r, weft_rt_trace_events(rt), weft_rt_trace_hash(rt));
                weft_rt_free(rt);
            }
    return 0;
}
