/* runq.c — the built-in run queues (FIFO, LIFO, priority levels) behind the
 * weft_runq_ops table that users can also implement themselves. */
#include "internal.h"

typedef weft__fifo fifo; /* the one FIFO, shared with the loop (internal.h) */

static int fifo_init(void *state, void *arg)
{
    (void)arg;
    memset(state, 0, sizeof(fifo));
    return 0;
}

static void fifo_destroy(void *state) { (void)state; }

static void fifo_push(void *state, weft_runq_node *n) { weft__fifo_push(state, n); }
static weft_runq_node *fifo_pop(void *state) { return weft__fifo_pop(state); }
static size_t fifo_len(const void *state) { return ((const fifo *)state)->len; }

/* Steal takes the oldest half: the tasks the owner would run last are the
 * ones that waited longest. */
static size_t fifo_steal(void *state, weft_runq_node **out, size_t max)
{
    fifo *q = state;
    size_t n = (q->len + 1) / 2;
    if (n > max)
        n = max;
    for (size_t i = 0; i < n; i++)
        out[i] = weft__fifo_pop(q);
    return n;
}

static const weft_runq_ops fifo_ops = {"fifo", sizeof(fifo), fifo_init, fifo_destroy,
                                       fifo_push, fifo_pop, fifo_len, fifo_steal};

static void lifo_push(void *state, weft_runq_node *n)
{
    fifo *q = state;
    n->next = q->head;
    q->head = n;
    q->len++;
}

static weft_runq_node *lifo_pop(void *state)
{
    fifo *q = state;
    weft_runq_node *n = q->head;
    if (n) {
        q->head = n->next;
        q->len--;
        n->next = NULL;
    }
    return n;
}

static size_t lifo_steal(void *state, weft_runq_node **out, size_t max)
{
    fifo *q = state;
    size_t n = (q->len + 1) / 2;
    if (n > max)
        n = max;
    for (size_t i = 0; i < n; i++)
        out[i] = lifo_pop(q);
    return n;
}

static const weft_runq_ops lifo_ops = {"lifo", sizeof(fifo), fifo_init, fifo_destroy,
                                       lifo_push, lifo_pop, fifo_len, lifo_steal};

typedef struct prio {
    fifo level[WEFT_PRIO_MAX + 1];
    uint32_t nonempty; /* bit p set when level p has tasks */
    size_t len;
} prio;

static int prio_init(void *state, void *arg)
{
    (void)arg;
    memset(state, 0, sizeof(prio));
    return 0;
}

static int prio_level(const weft_runq_node *n)
{
    int p = n->priority;
    return p < 0 ? 0 : (p > WEFT_PRIO_MAX ? WEFT_PRIO_MAX : p);
}

static void prio_push(void *state, weft_runq_node *n)
{
    prio *q = state;
    int p = prio_level(n);
    weft__fifo_push(&q->level[p], n);
    q->nonempty |= 1u << p;
    q->len++;
}

static weft_runq_node *prio_pop(void *state)
{
    prio *q = state;
    if (!q->nonempty)
        return NULL;
    int p = 31 - __builtin_clz(q->nonempty);
    weft_runq_node *n = weft__fifo_pop(&q->level[p]);
    if (!q->level[p].head)
        q->nonempty &= ~(1u << p);
    q->len--;
    return n;
}

static size_t prio_len(const void *state) { return ((const prio *)state)->len; }

/* Steal from the lowest non-empty level: a thief should not take the work
 * the owner considers most urgent. */
static size_t prio_steal(void *state, weft_runq_node **out, size_t max)
{
    prio *q = state;
    if (!q->nonempty)
        return 0;
    int p = __builtin_ctz(q->nonempty);
    size_t n = fifo_steal(&q->level[p], out, max);
    if (!q->level[p].head)
        q->nonempty &= ~(1u << p);
    q->len -= n;
    return n;
}

static const weft_runq_ops prio_ops = {"priority", sizeof(prio), prio_init, fifo_destroy,
                                       prio_push, prio_pop, prio_len, prio_steal};

const weft_runq_ops *weft_runq_fifo(void) { return &fifo_ops; }
const weft_runq_ops *weft_runq_lifo(void) { return &lifo_ops; }
const weft_runq_ops *weft_runq_priority(void) { return &prio_ops; }
