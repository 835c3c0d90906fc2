/* chan.c — MPMC channels (rendezvous, bounded, unbounded, oneshot) and
 * select over any mix of sends and receives.
 *
 * Threads (THREADING.md rule 9): a channel made by a task of a serial
 * runtime belongs to that runtime and is used without atomics; any other
 * call on it (another thread, another runtime's task) returns WEFT_EPERM. A
 * shared channel (made outside any runtime, with weft_chan_new_shared, or by
 * a task of a concurrent runtime) always takes its lock atomically, and its
 * try operations, close and len may be called from any thread.
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
#include "core.h"

#include <stdio.h>
#include <stdlib.h>

#define CHAN_MAGIC 0x6368616Eu
#define DEAD_MAGIC 0xDEADDEADu
#define UNCLAIMED (-1)
#define CLAIM_ABORTED (-2)

/* The shared state of one select's waiters. */
typedef struct weft__select {
    weft__a32 fired; /* case index that completed, CLAIM_ABORTED, or UNCLAIMED */
    size_t n;
    weft__waiter *waiters;
    weft_select_case *cases;
} weft__select;

struct weft_chan {
    weft__a32 lock;
    uint32_t magic;
    bool serial;          /* owned by `owner`, a serial runtime: no atomics */
    weft_rt *owner;       /* the serial runtime it belongs to, or NULL (shared) */
    size_t elem_size;
    size_t capacity; /* 0: rendezvous; WEFT_CHAN_UNBOUNDED: grows */
    unsigned char *buf;
    size_t ring, head, len; /* ring slots, first element, elements */
    bool closed, oneshot;
    weft_list senders, receivers;
    weft_allocator alloc; /* of the runtime that made it, or malloc */
};

static bool valid(const weft_chan *ch)
{
    return ch && ch->magic == CHAN_MAGIC;
}

static int bad_chan(const char *what, const weft_chan *ch)
{
    return WEFT_MISUSE(WEFT_EINVAL, "%s: %s", what, ch ? "channel freed or not a channel" : "NULL channel");
}

/* May the calling thread use ch? A runtime's own channel only from its
 * tasks' threads (rule 9). */
static int check_thread(const weft_chan *ch, const char *what)
{
    if (!ch->serial)
        return 0;
    weft__worker *w = weft__tls_worker;
    if (w && w->rt == ch->owner)
        return 0;
    return WEFT_MISUSE(WEFT_EPERM, "%s: this channel belongs to the single-threaded runtime whose task made it and "
                                   "is used without atomics there; from %s make it with weft_chan_new_shared",
                       what, w ? "another runtime" : "another thread");
}

static inline void chan_lock(weft_chan *ch)
{
    weft__lock_s(ch->serial, &ch->lock);
}

static inline void chan_unlock(weft_chan *ch)
{
    weft__unlock_s(ch->serial, &ch->lock);
}

/* With the lock held: would an operation from here complete a task of a
 * running simulation from outside it (rule 9)? Then WEFT_EPERM, the lock
 * released, nothing changed; else 0. */
static int refuse_outsider(weft_chan *ch, const char *what)
{
    if (ch->serial)
        return 0;
    weft_rt *sim = weft__waiters_refuse_outsider(&ch->receivers);
    if (!sim)
        sim = weft__waiters_refuse_outsider(&ch->senders);
    if (WEFT_LIKELY(!sim))
        return 0;
    chan_unlock(ch);
    return WEFT_MISUSE_RT(sim, WEFT_EPERM, "%s: a task of a running simulation waits on this channel; a simulation "
                                           "takes nothing from another thread while it runs", what);
}

/* Allocate through the current runtime when it uses the channel's allocator,
 * so the simulator's allocation failures reach channel growth too; otherwise
 * straight from the channel's allocator (it frees what it allocated). */
static void *chan_alloc(const weft_allocator *a, size_t size)
{
    weft__worker *w = weft__tls_worker;
    if (w && w->rt->base_alloc.alloc == a->alloc && w->rt->base_alloc.ctx == a->ctx)
        return weft__alloc(w->rt, size);
    return a->alloc(a->ctx, size);
}

static int chan_make(weft_chan **out, size_t elem_size, size_t capacity, bool oneshot, bool shared)
{
    if (!out)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_chan_new: NULL output pointer");
    *out = NULL;
    if (!elem_size)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_chan_new: elem_size must not be 0");
    if (capacity != WEFT_CHAN_UNBOUNDED && capacity > SIZE_MAX / 2 / elem_size)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_chan_new: capacity %zu of %zu-byte elements is too large", capacity,
                           elem_size);
    weft__worker *w = weft__tls_worker;
    weft_allocator a = w ? w->rt->base_alloc : weft__malloc_allocator;
    weft_chan *ch = chan_alloc(&a, sizeof *ch);
    if (!ch)
        return WEFT_ENOMEM;
    memset(ch, 0, sizeof *ch);
    ch->magic = CHAN_MAGIC;
    ch->elem_size = elem_size;
    ch->capacity = capacity;
    ch->oneshot = oneshot;
    ch->alloc = a;
    /* Shared unless a task of a serial runtime made it for its own use. */
    ch->serial = !shared && w && w->rt->serial;
    ch->owner = ch->serial ? w->rt : NULL;
    /* Bounded channels get their whole ring now: a send that found room must
     * never fail for memory. Unbounded ones grow. */
    size_t ring = capacity == WEFT_CHAN_UNBOUNDED ? 0 : capacity;
    if (ring) {
        ch->buf = chan_alloc(&a, ring * elem_size);
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
    return chan_make(ch, elem_size, capacity, false, false);
}

int weft_chan_new_shared(weft_chan **ch, size_t elem_size, size_t capacity)
{
    return chan_make(ch, elem_size, capacity, false, true);
}

int weft_chan_new_oneshot(weft_chan **ch, size_t elem_size)
{
    return chan_make(ch, elem_size, 1, true, false);
}

int weft_chan_free(weft_chan *ch)
{
    if (!ch)
        return 0;
    if (!valid(ch))
        return bad_chan("weft_chan_free", ch);
    int r = check_thread(ch, "weft_chan_free");
    if (r < 0)
        return r;
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
    weft_chan *m = (weft_chan *)ch;
    if (!valid(ch) || check_thread(ch, "weft_chan_len") < 0)
        return 0;
    chan_lock(m);
    size_t n = m->len;
    chan_unlock(m);
    return n;
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
    unsigned char *buf = chan_alloc(&ch->alloc, ring * ch->elem_size);
    if (!buf)
        return WEFT_ENOMEM;
    /* The elements are at most two runs of the old ring: head to its end,
     * then its start. */
    size_t first = ch->ring - ch->head < ch->len ? ch->ring - ch->head : ch->len;
    if (ch->len) {
        memcpy(buf, ch->buf + ch->head * ch->elem_size, first * ch->elem_size);
        memcpy(buf + first * ch->elem_size, ch->buf, (ch->len - first) * ch->elem_size);
    }
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
 * can; a select's waiter only if this claim wins its select. The claim word
 * is atomic whatever the channel: a select may span shared channels. */
static weft__waiter *claim_first(weft_list *l)
{
    weft__waiter *w;
    while ((w = weft__waitlist_pop(l)) != NULL) {
        weft__select *sel = w->select;
        if (!sel)
            return w;
        uint32_t expected = (uint32_t)UNCLAIMED;
        uint32_t index = (uint32_t)(w - sel->waiters);
        if (weft__cas(&sel->fired, &expected, index, WEFT__ACQ_REL, WEFT__ACQUIRE))
            return w;
        /* Another case of that select already completed: drop this stale
         * registration and look further. */
    }
    return NULL;
}

static void complete(weft__waiter *w, int result)
{
    weft__task *t = w->task; /* w lives on a stack the wake may let go */
    w->result = result;      /* a select reads its fired waiter's result */
    weft__wake(t, result);
}

/* Close the channel: every waiter that can still complete learns it, in
 * arrival order (receivers wait only on an empty buffer, so all of them; the
 * waiting senders' elements were never accepted). peer, if any, is the waiter
 * the current operation just served. Called with the lock held; releases it. */
static void close_locked(weft_chan *ch, weft__waiter *peer, int peer_code)
{
    ch->closed = true;
    weft_list c = {NULL, NULL};
    weft__waiter *w;
    while (!ch->len && (w = claim_first(&ch->receivers)) != NULL)
        weft__list_push_tail(&c, &w->link);
    while ((w = claim_first(&ch->senders)) != NULL)
        weft__list_push_tail(&c, &w->link);
    chan_unlock(ch);
    if (peer)
        complete(peer, peer_code);
    weft__wake_chain(&c, WEFT_EPIPE);
}

/* A channel op that finished a waiting peer; a oneshot closes once its one
 * element is accepted. Called with the lock held; releases it. */
static void finish_op(weft_chan *ch, weft__waiter *peer, int code)
{
    if (ch->oneshot && !ch->closed && code == 0) {
        close_locked(ch, peer, code);
        return;
    }
    chan_unlock(ch);
    if (peer)
        complete(peer, code);
}

/* ---- the operations without blocking; lock held on entry and released ---- */

/* 0 sent, WEFT_EPIPE closed, WEFT_ENOMEM, WEFT_EAGAIN (would block: the lock
 * is still held in that case only). */
static int try_send_locked(weft_chan *ch, const void *elem)
{
    if (ch->closed) {
        chan_unlock(ch);
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
            chan_unlock(ch);
            return r;
        }
        finish_op(ch, NULL, 0);
        return 0;
    }
    return WEFT_EAGAIN;
}

static int try_recv_locked(weft_chan *ch, void *out)
{
    bool buffered = ch->len != 0;
    if (buffered)
        buf_pop(ch, out);
    /* A waiting sender's element moves into the slot just freed, or, with
     * nothing buffered (a rendezvous), straight to us. */
    weft__waiter *tx = claim_first(&ch->senders);
    if (tx) {
        if (buffered)
            buf_push(ch, tx->data); /* cannot fail: a slot was just freed */
        else
            copy_elem(out, tx->data, ch->elem_size);
    } else if (!buffered) {
        if (!ch->closed)
            return WEFT_EAGAIN;
        chan_unlock(ch);
        return WEFT_EPIPE;
    }
    chan_unlock(ch);
    if (tx)
        complete(tx, 0);
    return 0;
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

/* One operation, locked: 0 or WEFT_EPIPE done (lock released), WEFT_ENOMEM
 * (released), WEFT_EAGAIN not possible now (lock still held). */
static int op_locked(weft_chan *ch, bool send, void *elem)
{
    return send ? try_send_locked(ch, elem) : try_recv_locked(ch, elem);
}

/* Every send and receive: `block` waits (until deadline) where a try_ call
 * returns WEFT_EAGAIN. A waiting sender parks with a pointer to its element,
 * a receiver with its destination; 0 after the wait means the transfer
 * happened, anything else that it did not. Inlined into each entry point, so
 * `send` and `block` are constants there and every check is made once. */
static WEFT_ALWAYS_INLINE int chan_op(weft_chan *ch, bool send, void *elem, bool block, uint64_t deadline,
                                      const char *what)
{
    if (WEFT_UNLIKELY(!valid(ch) || !elem))
        return elem ? bad_chan(what, ch) : WEFT_MISUSE(WEFT_EINVAL, "%s: NULL element pointer", what);
    weft__worker *w = weft__tls_worker;
    int r;
    if (ch->serial && WEFT_UNLIKELY(!w || w->rt != ch->owner) && (r = check_thread(ch, what)) < 0)
        return r;
    weft__task *self = NULL;
    if (block) {
        /* weft__blocking_entry's common case, with the worker already in
         * hand; anything else (a spent budget may even move the task to
         * another worker) goes the long way. */
        self = w ? w->current : NULL;
        if (WEFT_LIKELY(self && !(self->flags & (WEFT__F_NOSTACK | WEFT__F_SCOPED)) && w->coop_budget > 1 &&
                        !(weft__ld(&self->cancel, WEFT__RELAXED) & WEFT__CANCEL_REQUESTED))) {
            w->coop_budget--;
        } else {
            if ((r = weft__blocking_entry_slow(&self, what)) < 0)
                return r;
            w = weft__tls_worker;
        }
    }
    /* A try always has an effect others can see (even "empty" is an
     * observation); a blocking call only when it will not wait. */
    if (w && WEFT_UNLIKELY(w->sched_point != NULL) && (!block || (send ? send_ready(ch) : recv_ready(ch))))
        weft__sched_point(w);
    chan_lock(ch);
    if ((r = refuse_outsider(ch, what)) < 0)
        return r;
    r = op_locked(ch, send, elem);
    if (r != WEFT_EAGAIN)
        return r;
    if (!block) {
        chan_unlock(ch);
        return r;
    }
    /* The rest of the waiter is set as it is queued (task, lock, list,
     * linked) and by whoever completes it (result). */
    weft__waiter wt;
    wt.data = elem;
    wt.select = NULL;
    int kind = (send ? WEFT__W_CHAN_SEND : WEFT__W_CHAN_RECV) | (ch->serial ? 0 : WEFT__W_EXTERNAL);
    return weft__block_on_list(self, &wt, send ? &ch->senders : &ch->receivers, &ch->lock, ch->serial, kind,
                               deadline);
}

int weft_chan_send_until(weft_chan *ch, const void *elem, uint64_t deadline)
{
    return chan_op(ch, true, (void *)(uintptr_t)elem, true, deadline, "weft_chan_send");
}

int weft_chan_send(weft_chan *ch, const void *elem)
{
    return chan_op(ch, true, (void *)(uintptr_t)elem, true, WEFT_NO_DEADLINE, "weft_chan_send");
}

int weft_chan_try_send(weft_chan *ch, const void *elem)
{
    return chan_op(ch, true, (void *)(uintptr_t)elem, false, 0, "weft_chan_try_send");
}

int weft_chan_recv_until(weft_chan *ch, void *out, uint64_t deadline)
{
    return chan_op(ch, false, out, true, deadline, "weft_chan_recv");
}

int weft_chan_recv(weft_chan *ch, void *out)
{
    return chan_op(ch, false, out, true, WEFT_NO_DEADLINE, "weft_chan_recv");
}

int weft_chan_try_recv(weft_chan *ch, void *out)
{
    return chan_op(ch, false, out, false, 0, "weft_chan_try_recv");
}

int weft_chan_close(weft_chan *ch)
{
    if (!valid(ch))
        return bad_chan("weft_chan_close", ch);
    int r = check_thread(ch, "weft_chan_close");
    if (r < 0)
        return r;
    weft__worker *w = weft__tls_worker;
    if (w)
        weft__sched_point(w);
    chan_lock(ch);
    if (ch->closed) {
        chan_unlock(ch);
        return WEFT_EPIPE;
    }
    if ((r = refuse_outsider(ch, "weft_chan_close")) < 0)
        return r;
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
    int r;
    for (size_t i = 0; i < n; i++) {
        if (!valid(cases[i].chan))
            return bad_chan(what, cases[i].chan);
        /* From outside a task: shared channels only (rule 9). */
        if ((r = check_thread(cases[i].chan, what)) < 0)
            return r;
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
 * WEFT_ENOMEM, WEFT_EPERM (refused: rule 9). */
static int try_case(weft_select_case *c)
{
    weft_chan *ch = c->chan;
    chan_lock(ch);
    int r = refuse_outsider(ch, "weft_select");
    if (r < 0)
        return r;
    r = op_locked(ch, c->op == WEFT_SELECT_SEND, c->elem);
    if (r == WEFT_EAGAIN)
        chan_unlock(ch);
    return r;
}

/* The cases that look ready, scanned from start round the ring. The peek
 * is exact only where one thread runs everything (a serial runtime's own
 * channels); elsewhere every case is a candidate, tried under its lock. */
static size_t collect_ready(const weft_select_case *cases, size_t n, size_t start, size_t *ready, bool exact)
{
    size_t nready = 0;
    for (size_t k = 0, i = start; k < n; k++, i = i + 1 == n ? 0 : i + 1)
        if (!exact || case_ready(&cases[i]))
            ready[nready++] = i;
    return nready;
}

static bool peek_exact(const weft__worker *w, const weft_select_case *cases, size_t n)
{
    if (!w || !w->serial)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!cases[i].chan->serial)
            return false;
    return true;
}

/* Among the ready cases pick one fairly: by the decision source in
 * simulation, round-robin from a per-task rotating start otherwise (no case
 * starves: a case that stays ready is reached within n selects). */
static int poll_cases(weft_select_case *cases, size_t n)
{
    weft__worker *w = weft__tls_worker;
    weft__task *self = w ? w->current : NULL;
    size_t start = 0;
    /* Without memory for the rotating start, every select starts at 0. */
    weft__task_cold *c = self ? weft__task_cold_make(self) : NULL;
    if (c) {
        if (self->flags & WEFT__F_SELECTED)
            start = c->select_rr < n ? c->select_rr : 0; /* no division on this path */
        self->flags |= WEFT__F_SELECTED;
        c->select_rr = (uint8_t)(start + 1);
    }
    size_t ready[WEFT_SELECT_MAX];
    bool exact = peek_exact(w, cases, n);
    size_t nready = collect_ready(cases, n, start, ready, exact);
    /* The point (taken only if something can proceed) goes before the cases
     * are read for real: other tasks may run during it, and a case that
     * became ready then must be seen, or a select that goes on to park would
     * wait for a wake-up already gone. */
    if (nready && w && w->sched_point) {
        weft__sched_point(w);
        nready = collect_ready(cases, n, start, ready, exact);
    }
    if (!nready)
        return WEFT_EAGAIN;
    size_t first = 0;
    if (exact && nready > 1)
        first = w->rt->backend->choose(w, WEFT__CHOOSE_SELECT, (uint32_t)nready);
    /* The peek was racy: try the chosen case, then the rest in order. */
    for (size_t k = 0, j = first; k < nready; k++, j = j + 1 == nready ? 0 : j + 1) {
        size_t i = ready[j];
        int r = try_case(&cases[i]);
        if (r == WEFT_EAGAIN)
            continue;
        if (r == WEFT_ENOMEM || r == WEFT_EPERM)
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
        chan_lock(ch);
        if (w->linked)
            weft__waitlist_remove(w->list, w);
        chan_unlock(ch);
    }
}

/* Cancellation and deadline claim the select first, so no case can complete
 * behind their back. */
static bool select_unlink(weft__task *t)
{
    weft__select *sel = t->wait->obj;
    uint32_t expected = (uint32_t)UNCLAIMED;
    if (!weft__cas(&sel->fired, &expected, (uint32_t)CLAIM_ABORTED, WEFT__ACQ_REL, WEFT__ACQUIRE))
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
    weft__waiter waiters[WEFT_SELECT_MAX];
    weft__select sel = {.n = n, .waiters = waiters, .cases = cases};
    sel.fired.v = (uint32_t)UNCLAIMED;
    bool external = false;
    memset(waiters, 0, n * sizeof *waiters);
    for (size_t i = 0; i < n; i++) {
        weft_chan *ch = cases[i].chan;
        weft__waiter *w = &waiters[i];
        w->task = self;
        w->lock = &ch->lock;
        w->data = cases[i].elem;
        w->select = &sel;
        w->serial = ch->serial;
        external |= !ch->serial;
        chan_lock(ch);
        weft__waitlist_push(cases[i].op == WEFT_SELECT_SEND ? &ch->senders : &ch->receivers, w);
        chan_unlock(ch);
    }
    r = weft__block(self, WEFT__W_SELECT | (external ? WEFT__W_EXTERNAL : 0), &sel, select_unlink, deadline);
    int fired = (int)weft__ld(&sel.fired, WEFT__ACQUIRE);
    if (fired >= 0) {
        unregister_all(&sel);
        cases[fired].result = waiters[fired].result;
        return fired;
    }
    return r;
}
