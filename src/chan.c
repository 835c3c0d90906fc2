/* chan.c — MPMC channels (rendezvous, bounded, unbounded, oneshot) and
 * select over any mix of sends and receives.
 *
 * Elements are copied by value. A waiting sender parks with a pointer to its
 * element and a waiting receiver with a pointer to its destination, so a
 * transfer to a waiter is one copy and nothing is ever in two places: an
 * element is in the buffer, in a sender's hands, or delivered. Receivers wait
 * only while the buffer is empty; senders wait only while it is full (or, for a
 * rendezvous, while no receiver waits).
 *
 * A select parks one waiter on every case's channel; all of them point at one
 * claim word, and whoever claims it first (a channel completing the case,
 * close, cancellation or the deadline) decides the outcome.
 */
#include "internal.h"

#include <stdlib.h>

#define CHAN_MAGIC 0x6368616Eu
#define DEAD_MAGIC 0xDEADDEADu
#define UNCLAIMED (-1)
#define CLAIM_ABORTED (-2)

/* The shared state of one select's waiters. */
typedef struct weft__select {
    _Atomic int fired; /* case index that completed, CLAIM_ABORTED, or UNCLAIMED */
    int result;
    size_t n;
    weft__waiter *waiters;
    weft_select_case *cases;
} weft__select;

struct weft_chan {
    uint32_t lock, magic;
    size_t elem_size;
    size_t capacity; /* 0: rendezvous; WEFT_CHAN_UNBOUNDED: grows */
    unsigned char *buf;
    size_t ring, head, len; /* ring slots, first element, elements */
    bool closed, oneshot;
    weft_waitlist senders, receivers;
    weft_allocator alloc;
    weft_rt *rt; /* the runtime that made it (allocations it may fail), or NULL */
};

static bool valid(const weft_chan *ch)
{
    return ch && ch->magic == CHAN_MAGIC;
}

static int bad_chan(const char *what, const weft_chan *ch)
{
    return WEFT_MISUSE(WEFT_EINVAL, "%s: %s", what, ch ? "channel freed or not a channel" : "NULL channel");
}

/* Allocate through the creating runtime while it is the current one, so the
 * simulator's allocation failures reach channel growth too. */
static void *chan_alloc(weft_chan *ch, size_t size)
{
    weft__worker *w = weft__tls_worker;
    if (ch->rt && w && w->rt == ch->rt)
        return weft__alloc(ch->rt, size);
    return ch->alloc.alloc(ch->alloc.ctx, size);
}

static int chan_make(weft_chan **out, size_t elem_size, size_t capacity, bool oneshot)
{
    if (!out)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_chan_new: NULL output pointer");
    *out = NULL;
    if (!elem_size)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_chan_new: elem_size must not be 0");
    if (capacity != WEFT_CHAN_UNBOUNDED && elem_size && capacity > SIZE_MAX / 2 / elem_size)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_chan_new: capacity %zu of %zu-byte elements is too large", capacity,
                           elem_size);
    weft__worker *w = weft__tls_worker;
    weft_allocator a = weft__malloc_allocator;
    if (w)
        a = w->rt->alloc;
    weft_chan *ch = w ? weft__alloc(w->rt, sizeof *ch) : a.alloc(a.ctx, sizeof *ch);
    if (!ch)
        return WEFT_ENOMEM;
    memset(ch, 0, sizeof *ch);
    ch->magic = CHAN_MAGIC;
    ch->elem_size = elem_size;
    ch->capacity = capacity;
    ch->oneshot = oneshot;
    ch->alloc = a;
    ch->rt = w ? w->rt : NULL;
    /* Bounded channels get their whole ring now: a send that found room must
     * never fail for memory. Unbounded ones grow. */
    size_t ring = capacity == WEFT_CHAN_UNBOUNDED ? 0 : capacity;
    if (ring) {
        ch->buf = chan_alloc(ch, ring * elem_size);
        if (!ch->buf) {
            ch->magic = DEAD_MAGIC;
            a.free(a.ctx, ch, sizeof *ch);
            return WEFT_ENOMEM;
        }
        ch->ring = ring;
    }
    *out = ch;
    return 0;
}

int weft_chan_new(weft_chan **ch, size_t elem_size, size_t capacity)
{
    return chan_make(ch, elem_size, capacity, false);
}

int weft_chan_new_oneshot(weft_chan **ch, size_t elem_size)
{
    return chan_make(ch, elem_size, 1, true);
}

int weft_chan_free(weft_chan *ch)
{
    if (!ch)
        return 0;
    if (!valid(ch))
        return bad_chan("weft_chan_free", ch);
    if (ch->senders.head || ch->receivers.head)
        return WEFT_MISUSE(WEFT_EBUSY, "weft_chan_free: tasks still wait on the channel");
    weft_allocator a = ch->alloc;
    if (ch->buf)
        a.free(a.ctx, ch->buf, ch->ring * ch->elem_size);
    ch->magic = DEAD_MAGIC;
    a.free(a.ctx, ch, sizeof *ch);
    return 0;
}

size_t weft_chan_len(const weft_chan *ch)
{
    return valid(ch) ? ch->len : 0;
}

/* ---- the buffer ---- */

/* Copy one element. Most elements are a word or two: a fixed-size copy is a
 * couple of moves, where a call to memcpy is a dozen instructions. */
static inline void copy_elem(void *dst, const void *src, size_t size)
{
    switch (size) {
    case 4: memcpy(dst, src, 4); break;
    case 8: memcpy(dst, src, 8); break;
    case 16: memcpy(dst, src, 16); break;
    default: memcpy(dst, src, size);
    }
}

static unsigned char *slot(weft_chan *ch, size_t i)
{
    return ch->buf + ((ch->head + i) % ch->ring) * ch->elem_size;
}

static bool has_room(const weft_chan *ch)
{
    return ch->capacity == WEFT_CHAN_UNBOUNDED || ch->len < ch->capacity;
}

static int grow(weft_chan *ch)
{
    size_t ring = ch->ring ? ch->ring * 2 : 8;
    if (ring > SIZE_MAX / 2 / ch->elem_size)
        return WEFT_ENOMEM;
    unsigned char *buf = chan_alloc(ch, ring * ch->elem_size);
    if (!buf)
        return WEFT_ENOMEM;
    for (size_t i = 0; i < ch->len; i++)
        memcpy(buf + i * ch->elem_size, slot(ch, i), ch->elem_size);
    if (ch->buf)
        ch->alloc.free(ch->alloc.ctx, ch->buf, ch->ring * ch->elem_size);
    ch->buf = buf;
    ch->ring = ring;
    ch->head = 0;
    return 0;
}

static int buf_push(weft_chan *ch, const void *elem)
{
    if (ch->len == ch->ring) {
        int r = grow(ch);
        if (r < 0)
            return r;
    }
    copy_elem(slot(ch, ch->len), elem, ch->elem_size);
    ch->len++;
    return 0;
}

static void buf_pop(weft_chan *ch, void *out)
{
    copy_elem(out, slot(ch, 0), ch->elem_size);
    ch->head = (ch->head + 1) % ch->ring;
    ch->len--;
}

/* ---- waiters ---- */

/* Take the first waiter of l that can still complete: plain waiters always
 * can; a select's waiter only if this claim wins its select. */
static weft__waiter *claim_first(weft_waitlist *l)
{
    weft__waiter *w;
    while ((w = weft__waitlist_pop(l)) != NULL) {
        weft__select *sel = (weft__select *)(uintptr_t)w->aux;
        if (!sel)
            return w;
        int expected = UNCLAIMED;
        int index = (int)(w - sel->waiters);
        if (atomic_compare_exchange_strong(&sel->fired, &expected, index))
            return w;
        /* Another case of that select already completed: drop this stale
         * registration and look further. */
    }
    return NULL;
}

static void complete(weft__waiter *w, int result)
{
    weft__select *sel = (weft__select *)(uintptr_t)w->aux;
    if (sel)
        sel->result = result;
    w->result = result;
    weft__wake(w->task, result);
}

/* Close the channel: every waiter that can still complete learns it, in
 * arrival order (receivers wait only on an empty buffer, so all of them; the
 * waiting senders' elements were never accepted). peer, if any, is the waiter
 * the current operation just served. Called with the lock held; releases it. */
static void close_locked(weft_chan *ch, weft__waiter *peer, int peer_code)
{
    ch->closed = true;
    weft__chain c = {NULL, NULL};
    weft__waiter *w;
    while (!ch->len && (w = claim_first(&ch->receivers)) != NULL)
        weft__chain_add(&c, w);
    while ((w = claim_first(&ch->senders)) != NULL)
        weft__chain_add(&c, w);
    weft__obj_unlock(&ch->lock);
    if (peer)
        complete(peer, peer_code);
    for (w = c.head; w;) {
        weft__waiter *next = w->next; /* w lives on a stack the wake may free */
        complete(w, WEFT_EPIPE);
        w = next;
    }
}

/* A channel op that finished a waiting peer; a oneshot closes once its one
 * element is accepted. Called with the lock held; releases it. */
static void finish_op(weft_chan *ch, weft__waiter *peer, int code)
{
    if (ch->oneshot && !ch->closed && code == 0) {
        close_locked(ch, peer, code);
        return;
    }
    weft__obj_unlock(&ch->lock);
    if (peer)
        complete(peer, code);
}

/* ---- the operations without blocking; lock held on entry and released ---- */

/* 0 sent, WEFT_EPIPE closed, WEFT_ENOMEM, WEFT_EAGAIN (would block: the lock
 * is still held in that case only). */
static int try_send_locked(weft_chan *ch, const void *elem)
{
    if (ch->closed) {
        weft__obj_unlock(&ch->lock);
        return WEFT_EPIPE;
    }
    weft__waiter *rx = claim_first(&ch->receivers);
    if (rx) {
        copy_elem(rx->data, elem, ch->elem_size);
        finish_op(ch, rx, 0);
        return 0;
    }
    if (ch->capacity && has_room(ch)) {
        int r = buf_push(ch, elem);
        if (r < 0) {
            weft__obj_unlock(&ch->lock);
            return r;
        }
        finish_op(ch, NULL, 0);
        return 0;
    }
    return WEFT_EAGAIN;
}

static int try_recv_locked(weft_chan *ch, void *out)
{
    if (ch->len) {
        buf_pop(ch, out);
        /* A slot opened: the first waiting sender's element moves in. */
        weft__waiter *tx = claim_first(&ch->senders);
        if (tx) {
            buf_push(ch, tx->data); /* cannot fail: one slot just freed */
            weft__obj_unlock(&ch->lock);
            complete(tx, 0);
            return 0;
        }
        weft__obj_unlock(&ch->lock);
        return 0;
    }
    weft__waiter *tx = claim_first(&ch->senders);
    if (tx) {
        copy_elem(out, tx->data, ch->elem_size);
        weft__obj_unlock(&ch->lock);
        complete(tx, 0);
        return 0;
    }
    if (ch->closed) {
        weft__obj_unlock(&ch->lock);
        return WEFT_EPIPE;
    }
    return WEFT_EAGAIN;
}

/* Could the op proceed now? A racy peek used only to decide whether a
 * scheduling point is worth taking; the locked path decides for real. */
static bool send_ready(const weft_chan *ch)
{
    return ch->closed || ch->receivers.head || (ch->capacity && has_room(ch));
}

static bool recv_ready(const weft_chan *ch)
{
    return ch->len || ch->senders.head || ch->closed;
}

int weft_chan_send_until(weft_chan *ch, const void *elem, uint64_t deadline)
{
    if (!valid(ch) || !elem)
        return elem ? bad_chan("weft_chan_send", ch) : WEFT_MISUSE(WEFT_EINVAL, "weft_chan_send: NULL element");
    weft__task *self;
    int r = weft__blocking_entry(&self, "weft_chan_send");
    if (r < 0)
        return r;
    if (send_ready(ch))
        weft__sched_point(self->worker);
    weft__obj_lock(&ch->lock);
    r = try_send_locked(ch, elem);
    if (r != WEFT_EAGAIN)
        return r;
    weft__waiter wt = {0};
    wt.data = (void *)(uintptr_t)elem;
    /* 0: a receiver (or the buffer) took the element; anything else: it was
     * not accepted and the caller still owns it. */
    return weft__block_on_list(self, &wt, &ch->senders, &ch->lock, WEFT__W_CHAN_SEND, deadline);
}

int weft_chan_send(weft_chan *ch, const void *elem)
{
    return weft_chan_send_until(ch, elem, WEFT_NO_DEADLINE);
}

int weft_chan_try_send(weft_chan *ch, const void *elem)
{
    if (!valid(ch) || !elem)
        return elem ? bad_chan("weft_chan_try_send", ch) : WEFT_MISUSE(WEFT_EINVAL, "weft_chan_try_send: NULL element");
    weft__worker *w = weft__tls_worker;
    if (w)
        weft__sched_point(w);
    weft__obj_lock(&ch->lock);
    int r = try_send_locked(ch, elem);
    if (r == WEFT_EAGAIN)
        weft__obj_unlock(&ch->lock);
    return r;
}

int weft_chan_recv_until(weft_chan *ch, void *out, uint64_t deadline)
{
    if (!valid(ch) || !out)
        return out ? bad_chan("weft_chan_recv", ch) : WEFT_MISUSE(WEFT_EINVAL, "weft_chan_recv: NULL destination");
    weft__task *self;
    int r = weft__blocking_entry(&self, "weft_chan_recv");
    if (r < 0)
        return r;
    if (recv_ready(ch))
        weft__sched_point(self->worker);
    weft__obj_lock(&ch->lock);
    r = try_recv_locked(ch, out);
    if (r != WEFT_EAGAIN)
        return r;
    weft__waiter wt = {0};
    wt.data = out;
    return weft__block_on_list(self, &wt, &ch->receivers, &ch->lock, WEFT__W_CHAN_RECV, deadline);
}

int weft_chan_recv(weft_chan *ch, void *out)
{
    return weft_chan_recv_until(ch, out, WEFT_NO_DEADLINE);
}

int weft_chan_try_recv(weft_chan *ch, void *out)
{
    if (!valid(ch) || !out)
        return out ? bad_chan("weft_chan_try_recv", ch)
                   : WEFT_MISUSE(WEFT_EINVAL, "weft_chan_try_recv: NULL destination");
    weft__worker *w = weft__tls_worker;
    if (w)
        weft__sched_point(w);
    weft__obj_lock(&ch->lock);
    int r = try_recv_locked(ch, out);
    if (r == WEFT_EAGAIN)
        weft__obj_unlock(&ch->lock);
    return r;
}

int weft_chan_close(weft_chan *ch)
{
    if (!valid(ch))
        return bad_chan("weft_chan_close", ch);
    weft__worker *w = weft__tls_worker;
    if (w)
        weft__sched_point(w);
    weft__obj_lock(&ch->lock);
    if (ch->closed) {
        weft__obj_unlock(&ch->lock);
        return WEFT_EPIPE;
    }
    close_locked(ch, NULL, 0);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Select                                                                    */
/* ------------------------------------------------------------------------ */

static int check_cases(weft_select_case *cases, size_t n, const char *what)
{
    if (!cases || n == 0 || n > WEFT_SELECT_MAX)
        return WEFT_MISUSE(WEFT_EINVAL, "%s: need 1 to %d cases", what, WEFT_SELECT_MAX);
    for (size_t i = 0; i < n; i++) {
        if (!valid(cases[i].chan))
            return bad_chan(what, cases[i].chan);
        if ((cases[i].op != WEFT_SELECT_SEND && cases[i].op != WEFT_SELECT_RECV) || !cases[i].elem)
            return WEFT_MISUSE(WEFT_EINVAL, "%s: case %zu needs op SEND or RECV and an element pointer", what, i);
    }
    return 0;
}

static bool case_ready(const weft_select_case *c)
{
    return c->op == WEFT_SELECT_SEND ? send_ready(c->chan) : recv_ready(c->chan);
}

/* Try case i without blocking: 0 or WEFT_EPIPE done, WEFT_EAGAIN not ready,
 * WEFT_ENOMEM. */
static int try_case(weft_select_case *c)
{
    weft_chan *ch = c->chan;
    weft__obj_lock(&ch->lock);
    int r = c->op == WEFT_SELECT_SEND ? try_send_locked(ch, c->elem) : try_recv_locked(ch, c->elem);
    if (r == WEFT_EAGAIN)
        weft__obj_unlock(&ch->lock);
    return r;
}

/* Among the ready cases pick one fairly: by the decision source in
 * simulation, round-robin from a per-task rotating start otherwise (no case
 * starves: a case that stays ready is reached within n selects). */
static int poll_cases(weft_select_case *cases, size_t n)
{
    weft__worker *w = weft__tls_worker;
    weft__task *self = w ? w->current : NULL;
    size_t start = 0;
    if (self) {
        start = self->select_rr < n ? self->select_rr : 0; /* no division on this path */
        self->select_rr = (uint32_t)(start + 1);
    }
    size_t ready[WEFT_SELECT_MAX], nready = 0;
    for (size_t k = 0, i = start; k < n; k++, i = i + 1 == n ? 0 : i + 1)
        if (case_ready(&cases[i]))
            ready[nready++] = i;
    if (!nready)
        return WEFT_EAGAIN;
    /* The point goes before the cases are read for real: other tasks may
     * run during it, and a case that became ready then must be seen, or a
     * select that goes on to park would wait for a wake-up already gone. */
    if (w && w->sched_point) {
        weft__sched_point(w);
        nready = 0;
        for (size_t k = 0, i = start; k < n; k++, i = i + 1 == n ? 0 : i + 1)
            if (case_ready(&cases[i]))
                ready[nready++] = i;
        if (!nready)
            return WEFT_EAGAIN;
    }
    size_t first = 0;
    if (w && w->rt->sim && nready > 1)
        first = weft__sim_choose(w->rt, WEFT__S_SELECT, (uint32_t)nready);
    /* The peek was racy: try the chosen case, then the rest in order. */
    for (size_t k = 0, j = first; k < nready; k++, j = j + 1 == nready ? 0 : j + 1) {
        size_t i = ready[j];
        int r = try_case(&cases[i]);
        if (r == WEFT_EAGAIN)
            continue;
        if (r == WEFT_ENOMEM)
            return r;
        cases[i].result = r;
        return (int)i;
    }
    return WEFT_EAGAIN;
}

int weft_try_select(weft_select_case *cases, size_t n)
{
    int r = check_cases(cases, n, "weft_try_select");
    if (r < 0)
        return r;
    return poll_cases(cases, n);
}

static void unregister_all(weft__select *sel)
{
    for (size_t i = 0; i < sel->n; i++) {
        weft__waiter *w = &sel->waiters[i];
        weft_chan *ch = sel->cases[i].chan;
        weft__obj_lock(&ch->lock);
        if (w->linked)
            weft__waitlist_remove(w->list, w);
        weft__obj_unlock(&ch->lock);
    }
}

/* Cancellation and deadline claim the select first, so no case can complete
 * behind their back. */
static bool select_unlink(weft__task *t)
{
    weft__select *sel = t->wait_obj;
    int expected = UNCLAIMED;
    if (!atomic_compare_exchange_strong(&sel->fired, &expected, CLAIM_ABORTED))
        return false;
    unregister_all(sel);
    return true;
}

int weft_select(weft_select_case *cases, size_t n, uint64_t deadline)
{
    int r = check_cases(cases, n, "weft_select");
    if (r < 0)
        return r;
    weft__task *self;
    r = weft__blocking_entry(&self, "weft_select");
    if (r < 0)
        return r;
    r = poll_cases(cases, n);
    if (r != WEFT_EAGAIN)
        return r;
    if ((self->flags & WEFT__F_CANCEL) && !(self->flags & WEFT__F_SHIELDED))
        return WEFT_ECANCELED; /* cancelled during poll_cases' scheduling point */
    weft__waiter waiters[WEFT_SELECT_MAX];
    weft__select sel = {.result = 0, .n = n, .waiters = waiters, .cases = cases};
    atomic_init(&sel.fired, UNCLAIMED);
    memset(waiters, 0, n * sizeof *waiters);
    for (size_t i = 0; i < n; i++) {
        weft_chan *ch = cases[i].chan;
        weft__waiter *w = &waiters[i];
        w->task = self;
        w->lock = &ch->lock;
        w->data = cases[i].elem;
        w->aux = (uint64_t)(uintptr_t)&sel;
        weft__obj_lock(&ch->lock);
        weft__waitlist_push(cases[i].op == WEFT_SELECT_SEND ? &ch->senders : &ch->receivers, w);
        weft__obj_unlock(&ch->lock);
    }
    r = weft__block(self, WEFT__W_SELECT, &sel, select_unlink, deadline);
    int fired = atomic_load(&sel.fired);
    if (fired >= 0) {
        unregister_all(&sel);
        cases[fired].result = sel.result;
        return fired;
    }
    return r;
}
