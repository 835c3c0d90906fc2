/* runq.c — the built-in run queues behind the weft_runq_ops table that users
 * can also implement themselves. The runtime recognizes the FIFO and LIFO
 * tables and runs them as its work-stealing deque (sched.c); the tables here
 * still implement them over a list, so each is a complete queue on its own
 * (and a model for writing one). The priority queue is a plug-in. */
#include "core.h"

typedef struct listq {
    weft_list l;
    size_t len;
} listq;

static inline weft_runq_node *node_of(weft_link *l)
{
    return l ? WEFT_LIST_ENTRY(l, weft_runq_node, link) : NULL;
}

static int listq_init(void *state, void *arg)
{
    (void)arg;
    memset(state, 0, sizeof(listq));
    return 0;
}

static void listq_destroy(void *state) { (void)state; }

static void fifo_push(void *state, weft_runq_node *n)
{
    listq *q = state;
    weft__list_push_tail(&q->l, &n->link);
    q->len++;
}

static void lifo_push(void *state, weft_runq_node *n)
{
    listq *q = state;
    weft__list_push_head(&q->l, &n->link);
    q->len++;
}

static weft_runq_node *listq_pop(void *state)
{
    listq *q = state;
    weft_runq_node *n = node_of(weft__list_pop_head(&q->l));
    if (n)
        q->len--;
    return n;
}

static size_t listq_len(const void *state) { return ((const listq *)state)->len; }

/* Steal takes from the end the owner reaches last: the oldest half of a
 * FIFO (the tasks that waited longest), the oldest half of a LIFO. */
static size_t fifo_steal(void *state, weft_runq_node **out, size_t max)
{
    listq *q = state;
    size_t n = (q->len + 1) / 2;
    if (n > max)
        n = max;
    for (size_t i = 0; i < n; i++)
        out[i] = listq_pop(q);
    return n;
}

static size_t lifo_steal(void *state, weft_runq_node **out, size_t max)
{
    listq *q = state;
    size_t n = (q->len + 1) / 2;
    if (n > max)
        n = max;
    for (size_t i = 0; i < n; i++) {
        weft_link *l = q->l.tail;
        weft__list_remove(&q->l, l);
        q->len--;
        out[i] = node_of(l);
    }
    return n;
}

static const weft_runq_ops fifo_ops = {"fifo", sizeof(listq), listq_init, listq_destroy,
                                       fifo_push, listq_pop, listq_len, fifo_steal};
static const weft_runq_ops lifo_ops = {"lifo", sizeof(listq), listq_init, listq_destroy,
                                       lifo_push, listq_pop, listq_len, lifo_steal};

typedef struct prio {
    listq level[WEFT_PRIO_MAX + 1];
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
    fifo_push(&q->level[p], n);
    q->nonempty |= 1u << p;
    q->len++;
}

static weft_runq_node *prio_pop(void *state)
{
    prio *q = state;
    if (!q->nonempty)
        return NULL;
    int p = 31 - __builtin_clz(q->nonempty);
    weft_runq_node *n = listq_pop(&q->level[p]);
    if (!q->level[p].len)
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
    if (!q->level[p].len)
        q->nonempty &= ~(1u << p);
    q->len -= n;
    return n;
}

static const weft_runq_ops prio_ops = {"priority", sizeof(prio), prio_init, listq_destroy,
                                       prio_push, prio_pop, prio_len, prio_steal};

const weft_runq_ops *weft_runq_fifo(void) { return &fifo_ops; }
const weft_runq_ops *weft_runq_lifo(void) { return &lifo_ops; }
const weft_runq_ops *weft_runq_priority(void) { return &prio_ops; }
