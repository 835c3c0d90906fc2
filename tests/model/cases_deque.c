/* cases_deque.c — model test bodies for the work-stealing deque and the
 * injection queue of src/sched.c, run on simulated threads: every task put
 * in is taken out exactly once, whatever the interleaving and whatever
 * stores the loads read. */
#include "cases.h"
#include "harness.h"

#define TOKENS 20u

typedef struct dq {
    weft__deque d;
    weft__engine e;
    uint64_t tok[TOKENS];
    unsigned taken[TOKENS]; /* plain: threads switch only inside the layer's operations */
    unsigned pushes;        /* tasks the owner puts in */
    unsigned steals[2];     /* attempts of thief 0 and thief 1 */
    bool half[2];           /* thief i takes half, not one */
    bool fifo;              /* the owner takes at top */
    bool cycle;             /* the owner takes one after each push */
} dq;

static weft__task *token(dq *q, unsigned i)
{
    return (weft__task *)(void *)&q->tok[i];
}

static void took(dq *q, weft__task *x)
{
    uintptr_t p = (uintptr_t)x, base = (uintptr_t)&q->tok[0];
    MODEL_CHECK(x != NULL);
    MODEL_CHECK(p >= base && p < base + sizeof q->tok && (p - base) % sizeof q->tok[0] == 0);
    unsigned i = (unsigned)((p - base) / sizeof q->tok[0]);
    MODEL_CHECK(i < q->pushes);
    q->taken[i]++;
    MODEL_CHECK(q->taken[i] == 1); /* taken twice: two takers got the same slot */
}

static weft__task *owner_take(dq *q)
{
    return q->fifo ? weft__model_deque_take_top(&q->d) : weft__model_deque_take_bottom(&q->d);
}

static void *owner(void *arg)
{
    dq *q = arg;
    for (unsigned i = 0; i < q->pushes; i++) {
        /* A full deque: the task goes elsewhere (the injection queue), as
         * the scheduler's overflow does; it counts as taken. */
        if (!weft__model_deque_push(&q->d, token(q, i)))
            took(q, token(q, i));
        if (q->cycle) {
            weft__task *x = owner_take(q);
            if (x)
                took(q, x);
        }
    }
    weft__task *x;
    while ((x = owner_take(q)) != NULL)
        took(q, x);
    return NULL;
}

static void *thief(void *arg, unsigned k)
{
    dq *q = arg;
    for (unsigned i = 0; i < q->steals[k]; i++) {
        if (q->half[k]) {
            weft__task *got[WEFT__DEQUE_CAP / 2];
            size_t n = weft__model_deque_take_half(&q->d, got, WEFT__DEQUE_CAP / 2);
            for (size_t j = 0; j < n; j++)
                took(q, got[j]);
        } else {
            weft__task *x = weft__model_deque_take_top(&q->d);
            if (x)
                took(q, x);
        }
    }
    return NULL;
}

static void *thief0(void *arg)
{
    return thief(arg, 0);
}

static void *thief1(void *arg)
{
    return thief(arg, 1);
}

static void run_deque(dq *q, unsigned thieves)
{
    q->d.lifo = !q->fifo;
    weft__model *m;
    MODEL_CHECK(weft__model_open(&m) == 0);
    weft__mthread *t[3];
    MODEL_CHECK(weft__model_spawn(m, &t[0], owner, q) == 0);
    MODEL_CHECK(weft__model_spawn(m, &t[1], thief0, q) == 0);
    if (thieves > 1)
        MODEL_CHECK(weft__model_spawn(m, &t[2], thief1, q) == 0);
    for (unsigned i = 0; i <= thieves; i++)
        MODEL_CHECK(weft__model_join(m, t[i], NULL) == 0);
    weft__model_close(m);
    for (unsigned i = 0; i < q->pushes; i++)
        MODEL_CHECK(q->taken[i] == 1); /* none lost */
}

void *case_deque_2(void *arg)
{
    (void)arg;
    dq q = {.pushes = 3, .steals = {2, 0}};
    run_deque(&q, 1);
    return NULL;
}

void *case_deque_3(void *arg)
{
    (void)arg;
    dq q = {.pushes = 3, .steals = {1, 1}, .half = {false, true}};
    run_deque(&q, 2);
    return NULL;
}

void *case_deque_overflow(void *arg)
{
    (void)arg;
    /* Six pushes into four slots while a thief takes two: pushes fail when
     * full, and slots are reused after the thief frees them. */
    dq q = {.pushes = 6, .steals = {2, 0}, .fifo = true};
    run_deque(&q, 1);
    return NULL;
}

void *case_deque_wrap(void *arg)
{
    (void)arg;
    /* Sixteen tasks pass through while the thief may stall between reading
     * top and its CAS: with 2^WEFT__MUT_INDEX_BITS = 16 index values, top
     * comes back to what the thief read (the narrow-index mutation). */
    dq q = {.pushes = 16, .steals = {1, 0}, .fifo = true, .cycle = true};
    run_deque(&q, 1);
    return NULL;
}

void *case_deque_fifo_3(void *arg)
{
    (void)arg;
    /* A FIFO owner taking at top after each push, a thief taking one and a
     * thief taking half: three takers at top, none with a fence (only a LIFO
     * owner's deque needs one), and the CAS on top decides every race. */
    dq q = {.pushes = 3, .steals = {1, 1}, .half = {false, true}, .fifo = true, .cycle = true};
    run_deque(&q, 2);
    return NULL;
}

/* ---- the injection queue ---- */

typedef struct iq {
    weft__engine e;
    weft__task t[4];
    unsigned taken[4];
} iq;

static void inj_took(iq *q, weft__task *x)
{
    MODEL_CHECK(x >= &q->t[0] && x < &q->t[4]);
    unsigned i = (unsigned)(x - &q->t[0]);
    q->taken[i]++;
    MODEL_CHECK(q->taken[i] == 1);
}

static void *producer_a(void *arg)
{
    iq *q = arg;
    weft__model_inject_push(&q->e, &q->t[0]);
    weft__model_inject_push(&q->e, &q->t[1]);
    return NULL;
}

static void *producer_b(void *arg)
{
    iq *q = arg;
    weft__model_inject_push(&q->e, &q->t[2]);
    weft__model_inject_push(&q->e, &q->t[3]);
    return NULL;
}

static void *consumer(void *arg)
{
    iq *q = arg;
    for (unsigned round = 0; round < 2; round++) {
        weft__task *got[WEFT__INJECT_BATCH];
        size_t n = weft__model_inject_take(&q->e, got, WEFT__INJECT_BATCH);
        for (size_t i = 0; i < n; i++)
            inj_took(q, got[i]);
    }
    return NULL;
}

void *case_inject(void *arg)
{
    (void)arg;
    iq q;
    memset(&q, 0, sizeof q);
    weft__model *m;
    MODEL_CHECK(weft__model_open(&m) == 0);
    weft__mthread *t[3];
    MODEL_CHECK(weft__model_spawn(m, &t[0], producer_a, &q) == 0);
    MODEL_CHECK(weft__model_spawn(m, &t[1], producer_b, &q) == 0);
    MODEL_CHECK(weft__model_spawn(m, &t[2], consumer, &q) == 0);
    for (unsigned i = 0; i < 3; i++)
        MODEL_CHECK(weft__model_join(m, t[i], NULL) == 0);
    weft__model_close(m);
    /* What the consumer left is still queued, in order per producer. */
    weft__task *rest[4];
    size_t n = weft__model_inject_take(&q.e, rest, 4);
    for (size_t i = 0; i < n; i++)
        inj_took(&q, rest[i]);
    for (unsigned i = 0; i < 4; i++)
        MODEL_CHECK(q.taken[i] == 1);
    return NULL;
}
