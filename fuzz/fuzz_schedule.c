/* fuzz_schedule.c — libFuzzer drives the schedule: the input bytes are the
 * decision source (WEFT_STRATEGY_BYTES) of a small pipeline: producers, a
 * bounded channel, a mutex-protected ledger, consumers that select on the
 * channel and a stop channel with a deadline, one consumer cancelled and the
 * other told to stop at moments the bytes pick, and the root draining what
 * is left. Every interleaving must conserve messages and money; a failed
 * invariant, deadlock or livelock is a crash libFuzzer keeps. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <weft.h>

enum { PRODUCERS = 3, ITEMS = 5, CONSUMERS = 2, TOTAL = PRODUCERS * ITEMS };

typedef struct pipeline {
    weft_chan *ch, *stop;
    weft_mutex m;
    int64_t sent, received; /* sums of the values */
    int nreceived;          /* how many */
    int stopper;            /* the consumer that took the stop, or -1 */
    int closed, cancelled;  /* how many consumers ended so */
} pipeline;

typedef struct consumer_arg {
    pipeline *p;
    int id;
} consumer_arg;

static void ledger_add(pipeline *p, int64_t v)
{
    WEFT_ASSERT(weft_mutex_lock(&p->m) == 0);
    p->received += v;
    p->nreceived++;
    WEFT_ASSERT(weft_mutex_unlock(&p->m) == 0);
}

static void *producer(void *arg)
{
    pipeline *p = arg;
    for (int64_t i = 1; i <= ITEMS; i++) {
        /* Nobody cancels a producer or closes the channel before they are
         * all joined: every send goes through. */
        WEFT_ASSERT(weft_chan_send(p->ch, &i) == 0);
        WEFT_ASSERT(weft_mutex_lock(&p->m) == 0);
        p->sent += i;
        WEFT_ASSERT(weft_mutex_unlock(&p->m) == 0);
    }
    return NULL;
}

static void *consumer(void *arg)
{
    consumer_arg *a = arg;
    pipeline *p = a->p;
    int64_t v, token;
    for (;;) {
        weft_select_case c[2] = {{p->ch, WEFT_SELECT_RECV, &v, 0}, {p->stop, WEFT_SELECT_RECV, &token, 0}};
        int k = weft_select(c, 2, weft_now() + 1000000);
        if (k == WEFT_ETIMEDOUT)
            continue;
        if (k == WEFT_ECANCELED) {
            p->cancelled++;
            break;
        }
        WEFT_ASSERT(k == 0 || k == 1);
        if (k == 1) { /* told to stop (the stop channel is never closed) */
            WEFT_ASSERT(c[1].result == 0 && p->stopper == -1);
            p->stopper = a->id;
            break;
        }
        if (c[0].result == WEFT_EPIPE) { /* closed and drained */
            p->closed++;
            break;
        }
        WEFT_ASSERT(c[0].result == 0);
        /* Received: it must reach the ledger even if a cancel lands now. */
        int was = weft_cancel_shield(1);
        ledger_add(p, v);
        weft_cancel_shield(was);
    }
    return NULL;
}

/* Let the others run for a while the bytes pick: a number of scheduling
 * steps, or some virtual time (which passes only when every task waits, so
 * it reaches past the consumers' deadlines). */
static void let_run(void)
{
    uint64_t r = weft_rand();
    if (r % 2)
        WEFT_ASSERT(weft_sleep((r >> 1) % 3000000) == 0);
    else
        for (uint64_t n = (r >> 1) % 64; n > 0; n--)
            weft_yield();
}

static void *root(void *arg)
{
    (void)arg;
    pipeline p;
    memset(&p, 0, sizeof p);
    p.stopper = -1;
    WEFT_ASSERT(weft_mutex_init(&p.m) == 0);
    WEFT_ASSERT(weft_chan_new(&p.ch, sizeof(int64_t), 2) == 0);
    WEFT_ASSERT(weft_chan_new(&p.stop, sizeof(int64_t), 0) == 0);
    weft_task *prod[PRODUCERS], *cons[CONSUMERS];
    consumer_arg ca[CONSUMERS];
    for (int i = 0; i < PRODUCERS; i++)
        WEFT_ASSERT(weft_spawn(&prod[i], producer, &p) == 0);
    for (int i = 0; i < CONSUMERS; i++) {
        ca[i] = (consumer_arg){&p, i};
        WEFT_ASSERT(weft_spawn(&cons[i], consumer, &ca[i]) == 0);
    }
    /* The cancellation and the stop signal, at moments the bytes decide:
     * while the producers still send or once they are done, before or after
     * the consumers' deadlines. */
    let_run();
    WEFT_ASSERT(weft_cancel(cons[1]) == 0);
    let_run();
    int64_t token = 1;
    WEFT_ASSERT(weft_chan_send(p.stop, &token) == 0);
    /* Consumer 1 was cancelled before it could finish (it only ends on a
     * stop, a close or a cancel, and the cancel came first). Its select may
     * still have taken the stop in the window before the cancel is seen. */
    WEFT_ASSERT(weft_join(cons[1], NULL) == WEFT_ECANCELED);
    if (p.stopper != 1) {
        /* Consumer 0 took the stop (the send returned: it was taken), and
         * ends now. Nobody consumes any more: the root takes what is
         * buffered and what the producers have still to send. */
        WEFT_ASSERT(weft_join(cons[0], NULL) == 0);
        WEFT_ASSERT(p.stopper == 0);
        while (p.nreceived < TOTAL) {
            int64_t v;
            WEFT_ASSERT(weft_chan_recv(p.ch, &v) == 0);
            ledger_add(&p, v);
        }
    }
    for (int i = 0; i < PRODUCERS; i++)
        WEFT_ASSERT(weft_join(prod[i], NULL) == 0);
    WEFT_ASSERT(weft_chan_close(p.ch) == 0);
    if (p.stopper == 1) /* consumer 0 drains the channel and sees it closed */
        WEFT_ASSERT(weft_join(cons[0], NULL) == 0);
    WEFT_ASSERT(p.closed + p.cancelled + 1 == CONSUMERS);
    /* Everything accepted was received exactly once, and nothing is left. */
    int64_t rest;
    WEFT_ASSERT(weft_chan_try_recv(p.ch, &rest) == WEFT_EPIPE);
    WEFT_ASSERT(p.nreceived == TOTAL);
    WEFT_ASSERT(p.sent == PRODUCERS * ITEMS * (ITEMS + 1) / 2);
    WEFT_ASSERT(p.received == p.sent);
    WEFT_ASSERT(weft_chan_free(p.ch) == 0);
    WEFT_ASSERT(weft_chan_free(p.stop) == 0);
    WEFT_ASSERT(weft_mutex_destroy(&p.m) == 0);
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
