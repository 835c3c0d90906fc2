/* fuzz_schedule.c — libFuzzer drives the schedule: the input bytes are the
 * decision source (WEFT_STRATEGY_BYTES) of a small pipeline of producers,
 * a bounded channel, a mutex-protected ledger, a select with a deadline and a
 * cancellation. Every interleaving must conserve messages and money; a
 * failed invariant, deadlock or livelock is a crash libFuzzer keeps. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <weft.h>

typedef struct pipeline {
    weft_chan *ch, *done;
    weft_mutex m;
    int64_t ledger, sent, received;
} pipeline;

static void *producer(void *arg)
{
    pipeline *p = arg;
    for (int64_t i = 1; i <= 5; i++) {
        if (weft_chan_send(p->ch, &i) != 0)
            break;
        weft_mutex_lock(&p->m);
        p->sent += i;
        weft_mutex_unlock(&p->m);
    }
    return NULL;
}

static void *consumer(void *arg)
{
    pipeline *p = arg;
    int64_t v;
    for (;;) {
        weft_select_case c[2] = {{p->ch, WEFT_SELECT_RECV, &v, 0}, {p->done, WEFT_SELECT_RECV, &v, 0}};
        int k = weft_select(c, 2, weft_now() + 1000000);
        if (k == 0 && c[0].result == 0) {
            weft_mutex_lock(&p->m);
            p->received += v;
            weft_mutex_unlock(&p->m);
        } else if (k == 0 || k == 1 || k == WEFT_ECANCELED) {
            break; /* closed, told to stop, or cancelled */
        }
    }
    return NULL;
}

static void *root(void *arg)
{
    (void)arg;
    pipeline p;
    memset(&p, 0, sizeof p);
    weft_mutex_init(&p.m);
    weft_chan_new(&p.ch, sizeof(int64_t), 2);
    weft_chan_new(&p.done, sizeof(int64_t), 0);
    weft_task *prod[3], *cons[2];
    for (int i = 0; i < 3; i++)
        weft_spawn(&prod[i], producer, &p);
    for (int i = 0; i < 2; i++)
        weft_spawn(&cons[i], consumer, &p);
    for (int i = 0; i < 3; i++)
        weft_join(prod[i], NULL);
    weft_chan_close(p.ch);
    for (int i = 0; i < 2; i++)
        weft_join(cons[i], NULL);
    /* Everything accepted was received exactly once (a consumer that timed
     * out left the rest to the other, and close drains). */
    int64_t rest;
    while (weft_chan_try_recv(p.ch, &rest) == 0)
        p.received += rest;
    WEFT_ASSERT(p.received == p.sent);
    WEFT_ASSERT(p.sent == 3 * 15);
    weft_chan_free(p.ch);
    weft_chan_free(p.done);
    weft_mutex_destroy(&p.m);
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    weft_config c;
    memset(&c, 0, sizeof c);
    c.workers = 3;
    c.flags = WEFT_CFG_NO_ENV | WEFT_CFG_QUIET;
    c.sim.strategy = WEFT_STRATEGY_BYTES;
    c.sim.bytes = data;
    c.sim.bytes_len = size;
    c.sim.step_budget = 200000;
    weft_rt *rt;
    if (weft_rt_new(&rt, &c) != 0)
        abort();
    int r = weft_rt_block_on(rt, root, NULL, NULL);
    weft_rt_free(rt);
    if (r != 0)
        abort(); /* the bytes are the reproduction: libFuzzer saves them */
    return 0;
}
