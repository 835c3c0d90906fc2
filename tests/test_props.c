/* test_props.c — properties of the coordination primitives under the
 * simulator: each one over seeds_for(1000) seeds, with 1, 2 and 4 virtual
 * workers and with each built-in run queue (FIFO, LIFO, priority; tasks get
 * random priorities so the priority queue matters). Everything random comes
 * from weft_rand(), so the seed decides it; a failing property ends the run
 * with weft_fail/WEFT_ASSERT and the message carries the replay line.
 *
 *   conservation   every element sent is received exactly once, in order per
 *                  sender, with several senders and receivers, timeouts,
 *                  select, close and cancellation
 *   exclusion      a mutex-protected critical section with scheduling points
 *                  inside is never entered by two tasks at once
 *   wakeups        waiters on sem/cond/event/channel with random deadlines and
 *                  cancels: nobody stays blocked while what it waits for is
 *                  there, every task finishes, every permit/item is accounted
 *   barrier        each generation's serial task sees exactly `parties`
 *                  arrivals of its own round, also when waiters are cancelled
 *   scopes         after weft_scope_join every child (and grandchild) has
 *                  finished, under random trees, failures, fail-fast,
 *                  deadlines and cancellation of owners
 */
#include "support.h"

#include <stdio.h>
#include <string.h>

static unsigned rnd(unsigned n)
{
    return (unsigned)(weft_rand() % n);
}

#define PROP(cond, ...)                                                                                   \
    do {                                                                                                  \
        if (!(cond)) {                                                                                    \
            char prop_msg_[512];                                                                          \
            int prop_n_ = snprintf(prop_msg_, sizeof prop_msg_, "property violated (%s:%d): ", __FILE__,  \
                                   __LINE__);                                                             \
            snprintf(prop_msg_ + prop_n_, sizeof prop_msg_ - (size_t)prop_n_, __VA_ARGS__);               \
            weft_fail(prop_msg_);                                                                         \
        }                                                                                                 \
    } while (0)

/* A call that must succeed inside a property run. */
#define OK(expr)                                                                                          \
    do {                                                                                                  \
        int ok_r_ = (expr);                                                                               \
        PROP(ok_r_ == 0, "%s returned %d (%s)", #expr, ok_r_, weft_strerror(ok_r_));                      \
    } while (0)

static weft_task *pspawn(weft_fn fn, void *arg)
{
    weft_spawn_opts o = {.priority = (int)rnd(WEFT_PRIO_MAX + 1)};
    weft_task *t = NULL;
    OK(weft_spawn_ex(&t, fn, arg, &o));
    return t;
}

static void pjoin(weft_task *t)
{
    int r = weft_join(t, NULL);
    PROP(r == 0 || r == WEFT_ECANCELED, "weft_join returned %d (%s)", r, weft_strerror(r));
}

static size_t random_capacity(void)
{
    static const size_t caps[] = {0, 1, 3, WEFT_CHAN_UNBOUNDED};
    return caps[rnd(4)];
}

/* Run body over the seeds under every worker count and queue policy. */
static void check_property(const char *name, weft_fn body)
{
    static const unsigned workers[] = {1, 2, 4};
    const weft_runq_ops *queues[] = {weft_runq_fifo(), weft_runq_lifo(), weft_runq_priority()};
    static const char *const qnames[] = {"fifo", "lifo", "priority"};
    static char msg[4096];
    for (size_t w = 0; w < 3; w++)
        for (size_t q = 0; q < 3; q++) {
            weft_config c = test_config(workers[w], 0);
            c.runq = queues[q];
            msg[0] = 0;
            int r = weft_check_seeds(&c, body, NULL, seeds_for(1000), msg, sizeof msg);
            ck_assert_msg(r == 0, "%s, %u virtual worker(s), %s run queue: %d (%s)\n%s", name, workers[w],
                          qnames[q], r, weft_strerror(r), msg);
        }
    /* The atomic paths the objects take when tasks run on several OS
     * threads, under the same interleavings. */
    weft_config c = test_config(4, 0);
    c.flags |= WEFT_CFG_ATOMIC_SYNC;
    msg[0] = 0;
    int r = weft_check_seeds(&c, body, NULL, seeds_for(1000), msg, sizeof msg);
    ck_assert_msg(r == 0, "%s, 4 virtual workers, atomic sync paths: %d (%s)\n%s", name, r, weft_strerror(r), msg);
}

/* ======================================================================== */
/* Message conservation                                                      */
/* ======================================================================== */

enum { CS = 3, CR = 3, CM = 24 };

typedef struct cons {
    weft_chan *ch;
    int nsend, nrecv;
    int receivers_cancelled;
    int sent[CS];                 /* accepted sends per sender: always a prefix 0..sent-1 */
    unsigned char got[CS][CM];    /* receptions per (sender, seq) */
    int last[CR + 1][CS];         /* last seq each receiver saw from each sender */
    weft_wg senders;
    weft_task *st[CS], *rt[CR];
} cons;

typedef struct cons_actor {
    cons *x;
    int id;
} cons_actor;

static void cons_record(cons *x, int rid, int msg)
{
    int s = msg / 256, seq = msg % 256;
    PROP(s >= 0 && s < x->nsend && seq < CM, "received a value that was never sent: %d", msg);
    PROP(seq > x->last[rid][s], "receiver %d got seq %d of sender %d after seq %d: out of order", rid, seq, s,
         x->last[rid][s]);
    x->last[rid][s] = seq;
    x->got[s][seq]++;
}

/* One send or receive (op: WEFT_SELECT_SEND or _RECV) of *msg on ch, made
 * one of four ways at random: blocking; try, then timed if that would block;
 * timed; a select of one case. */
static int cons_op(weft_chan *ch, int op, int *msg)
{
    int send = op == WEFT_SELECT_SEND;
    unsigned how = rnd(4);
    if (how == 0)
        return send ? weft_chan_send(ch, msg) : weft_chan_recv(ch, msg);
    if (how == 1) {
        int r = send ? weft_chan_try_send(ch, msg) : weft_chan_try_recv(ch, msg);
        if (r != WEFT_EAGAIN)
            return r;
    }
    if (how <= 2) {
        uint64_t deadline = weft_now() + rnd(40);
        return send ? weft_chan_send_until(ch, msg, deadline) : weft_chan_recv_until(ch, msg, deadline);
    }
    weft_select_case c = {ch, op, msg, 99};
    int r = weft_select(&c, 1, rnd(2) ? WEFT_NO_DEADLINE : weft_now() + rnd(40));
    return r == 0 ? c.result : r;
}

static void *cons_sender(void *arg)
{
    cons_actor *a = arg;
    cons *x = a->x;
    for (int seq = 0; seq < CM;) {
        int msg = a->id * 256 + seq;
        int r = cons_op(x->ch, WEFT_SELECT_SEND, &msg);
        if (r == 0) {
            /* Counted before anything else can run on this worker. */
            x->sent[a->id]++;
            seq++;
        } else if (r == WEFT_EPIPE || r == WEFT_ECANCELED)
            break;
        else
            PROP(r == WEFT_ETIMEDOUT || r == WEFT_EAGAIN, "send returned %d (%s)", r, weft_strerror(r));
        if (!rnd(4))
            weft_sched_point();
    }
    OK(weft_wg_done(&x->senders));
    return NULL;
}

static void *cons_receiver(void *arg)
{
    cons_actor *a = arg;
    cons *x = a->x;
    for (;;) {
        int msg = -1;
        int r = cons_op(x->ch, WEFT_SELECT_RECV, &msg);
        if (r == 0)
            cons_record(x, a->id, msg);
        else if (r == WEFT_EPIPE || r == WEFT_ECANCELED)
            break;
        else
            PROP(r == WEFT_ETIMEDOUT || r == WEFT_EAGAIN, "recv returned %d (%s)", r, weft_strerror(r));
        if (!rnd(4))
            weft_sched_point();
        if (!rnd(5))
            weft_sleep(rnd(15)); /* let the buffer fill and senders block */
    }
    return NULL;
}

static void *conservation_body(void *arg)
{
    (void)arg;
    cons x;
    memset(&x, 0, sizeof x);
    memset(x.last, -1, sizeof x.last);
    OK(weft_chan_new(&x.ch, sizeof(int), random_capacity()));
    OK(weft_wg_init(&x.senders));
    x.nsend = 1 + (int)rnd(CS);
    x.nrecv = 1 + (int)rnd(CR);
    cons_actor sa[CS], ra[CR];
    OK(weft_wg_add(&x.senders, x.nsend));
    for (int i = 0; i < x.nsend; i++) {
        sa[i] = (cons_actor){&x, i};
        x.st[i] = pspawn(cons_sender, &sa[i]);
    }
    for (int i = 0; i < x.nrecv; i++) {
        ra[i] = (cons_actor){&x, i};
        x.rt[i] = pspawn(cons_receiver, &ra[i]);
    }
    /* Chaos: cancel some of them at random moments; sometimes close early. */
    for (unsigned k = rnd(3); k > 0; k--) {
        OK(weft_sleep(rnd(30)));
        if (rnd(2))
            OK(weft_cancel(x.st[rnd((unsigned)x.nsend)]));
        else {
            OK(weft_cancel(x.rt[rnd((unsigned)x.nrecv)]));
            x.receivers_cancelled = 1;
        }
    }
    int closed_early = !rnd(4);
    if (closed_early) {
        OK(weft_sleep(rnd(40)));
        OK(weft_chan_close(x.ch));
    }
    /* With every receiver still there, the senders finish on their own (a
     * sender left blocked while there is room or a receiver is a lost
     * wake-up). Otherwise the close below releases them with EPIPE. */
    int r = weft_wg_wait_until(&x.senders, weft_now() + 100000);
    PROP(r == 0 || r == WEFT_ETIMEDOUT, "wg_wait returned %d", r);
    PROP(r == 0 || x.receivers_cancelled || closed_early,
         "senders still blocked long after the last send, with every receiver alive (%d accepted of %d)",
         x.sent[0] + x.sent[1] + x.sent[2], x.nsend * CM);
    r = weft_chan_close(x.ch);
    PROP(r == 0 || r == WEFT_EPIPE, "close returned %d", r);
    for (int i = 0; i < x.nsend; i++)
        pjoin(x.st[i]);
    for (int i = 0; i < x.nrecv; i++)
        pjoin(x.rt[i]);
    /* What cancelled receivers left behind is still in the channel. */
    int msg;
    while ((r = weft_chan_try_recv(x.ch, &msg)) == 0)
        cons_record(&x, CR, msg);
    PROP(r == WEFT_EPIPE, "drain ended with %d", r);
    for (int s = 0; s < x.nsend; s++)
        for (int seq = 0; seq < CM; seq++)
            PROP(x.got[s][seq] == (seq < x.sent[s]), "sender %d seq %d: sent %s, received %d time(s)", s, seq,
                 seq < x.sent[s] ? "yes" : "no", x.got[s][seq]);
    OK(weft_chan_free(x.ch));
    OK(weft_wg_destroy(&x.senders));
    return NULL;
}

START_TEST(prop_message_conservation)
{
    check_property("message conservation", conservation_body);
}
END_TEST

/* ======================================================================== */
/* Mutual exclusion                                                          */
/* ======================================================================== */

enum { XT = 6 };

typedef struct excl {
    weft_mutex m;
    int inside, counter, entries;
} excl;

static void *excl_worker(void *arg)
{
    excl *x = arg;
    for (unsigned it = 4 + rnd(8); it > 0; it--) {
        int r;
        switch (rnd(3)) {
        case 0: r = weft_mutex_lock(&x->m); break;
        case 1:
            r = weft_mutex_trylock(&x->m);
            if (r == WEFT_EBUSY)
                r = weft_mutex_lock_until(&x->m, weft_now() + rnd(30));
            break;
        default: r = weft_mutex_lock_until(&x->m, weft_now() + rnd(30)); break;
        }
        if (r == WEFT_ECANCELED)
            break;
        if (r == WEFT_ETIMEDOUT)
            continue;
        PROP(r == 0, "lock returned %d (%s)", r, weft_strerror(r));
        x->inside++;
        PROP(x->inside == 1, "%d tasks inside the critical section", x->inside);
        x->entries++;
        /* A read-modify-write spread over scheduling points: a second task
         * inside would lose an update. */
        int v = x->counter;
        weft_sched_point();
        if (!rnd(3))
            weft_yield();
        weft_sched_point();
        x->counter = v + 1;
        PROP(x->inside == 1, "%d tasks inside the critical section", x->inside);
        x->inside--;
        r = weft_mutex_unlock(&x->m);
        PROP(r == 0, "unlock by the owner returned %d (%s)", r, weft_strerror(r));
        weft_sched_point();
    }
    return NULL;
}

static void *exclusion_body(void *arg)
{
    (void)arg;
    excl x;
    memset(&x, 0, sizeof x);
    OK(weft_mutex_init(&x.m));
    weft_task *t[XT];
    unsigned n = 2 + rnd(XT - 1);
    for (unsigned i = 0; i < n; i++)
        t[i] = pspawn(excl_worker, &x);
    for (unsigned k = rnd(3); k > 0; k--) {
        OK(weft_sleep(rnd(20)));
        OK(weft_cancel(t[rnd(n)]));
    }
    for (unsigned i = 0; i < n; i++)
        pjoin(t[i]);
    PROP(x.counter == x.entries, "%d entries but the counter says %d: an update was lost", x.entries, x.counter);
    PROP(x.inside == 0, "%d still inside", x.inside);
    /* Free, and no stale waiter left on it. */
    OK(weft_mutex_trylock(&x.m));
    OK(weft_mutex_unlock(&x.m));
    OK(weft_mutex_destroy(&x.m));
    return NULL;
}

START_TEST(prop_mutual_exclusion)
{
    check_property("mutual exclusion", exclusion_body);
}
END_TEST

/* ======================================================================== */
/* No lost wake-up under cancellation and timeouts                           */
/* ======================================================================== */

enum { WW = 3, WITEMS = 12, WSEND = 8 };

typedef struct wake {
    /* semaphore */
    weft_sem sem;
    uint64_t released, acquired;
    int sem_waiting[WW];
    /* condition */
    weft_mutex m;
    weft_cond c;
    int items, produced, consumed;
    int cond_waiting[WW];
    /* event */
    weft_event ev;
    int ev_waiting[WW], ev_seen[WW], ev_cancelled[WW];
    /* channel */
    weft_chan *ch;
    size_t cap;
    int sent, received;
    int ch_waiting[WW], tx_waiting[WW];
} wake;

typedef struct wake_actor {
    wake *x;
    int id;
} wake_actor;

/* Every sleep and deadline in this property is an even number of ns, so
 * tasks only ever wake at even times (relative to the start); the root checks
 * at an odd time, when it is the only task that can run and every other one
 * is truly blocked, not in the middle of an operation. */
static uint64_t maybe_deadline(void)
{
    return rnd(3) ? weft_now() + 2 * (1 + rnd(30)) : WEFT_NO_DEADLINE;
}

static void *sem_waiter(void *arg)
{
    wake_actor *a = arg;
    wake *x = a->x;
    for (;;) {
        x->sem_waiting[a->id] = 1;
        int r = weft_sem_acquire_until(&x->sem, maybe_deadline());
        x->sem_waiting[a->id] = 0;
        if (r == 0)
            x->acquired++;
        else if (r == WEFT_ECANCELED)
            return NULL;
        else
            PROP(r == WEFT_ETIMEDOUT, "sem acquire returned %d (%s)", r, weft_strerror(r));
    }
}

static void *cond_waiter(void *arg)
{
    wake_actor *a = arg;
    wake *x = a->x;
    for (;;) {
        int lr = weft_mutex_lock(&x->m);
        if (lr == WEFT_ECANCELED)
            return NULL;
        PROP(lr == 0, "lock returned %d (%s)", lr, weft_strerror(lr));
        while (x->items == 0) {
            x->cond_waiting[a->id] = 1;
            int r = weft_cond_wait_until(&x->c, &x->m, maybe_deadline());
            x->cond_waiting[a->id] = 0;
            if (r == WEFT_ECANCELED) {
                OK(weft_mutex_unlock(&x->m)); /* held again after a cancelled wait */
                return NULL;
            }
            PROP(r == 0 || r == WEFT_ETIMEDOUT, "cond wait returned %d (%s)", r, weft_strerror(r));
        }
        x->items--;
        x->consumed++;
        OK(weft_mutex_unlock(&x->m));
    }
}

static void *event_waiter(void *arg)
{
    wake_actor *a = arg;
    wake *x = a->x;
    for (;;) {
        x->ev_waiting[a->id] = 1;
        int r = weft_event_wait_until(&x->ev, maybe_deadline());
        x->ev_waiting[a->id] = 0;
        if (r == 0) {
            x->ev_seen[a->id] = 1;
            return NULL;
        }
        if (r == WEFT_ECANCELED)
            return NULL;
        PROP(r == WEFT_ETIMEDOUT, "event wait returned %d (%s)", r, weft_strerror(r));
    }
}

static void *chan_waiter(void *arg)
{
    wake_actor *a = arg;
    wake *x = a->x;
    for (;;) {
        int v;
        x->ch_waiting[a->id] = 1;
        int r = weft_chan_recv_until(x->ch, &v, maybe_deadline());
        x->ch_waiting[a->id] = 0;
        if (r == 0)
            x->received++;
        else if (r == WEFT_ECANCELED || r == WEFT_EPIPE)
            return NULL;
        else
            PROP(r == WEFT_ETIMEDOUT, "recv returned %d (%s)", r, weft_strerror(r));
        if (!rnd(4))
            weft_sleep(2 * rnd(10)); /* let the buffer fill and senders block */
    }
}

static void *chan_sender(void *arg)
{
    wake_actor *a = arg;
    wake *x = a->x;
    for (int i = 0; i < WSEND;) {
        int v = i;
        x->tx_waiting[a->id] = 1;
        int r = weft_chan_send_until(x->ch, &v, maybe_deadline());
        x->tx_waiting[a->id] = 0;
        if (r == 0) {
            x->sent++;
            i++;
        } else if (r == WEFT_ECANCELED || r == WEFT_EPIPE)
            return NULL;
        else
            PROP(r == WEFT_ETIMEDOUT, "send returned %d (%s)", r, weft_strerror(r));
        if (!rnd(3))
            weft_sleep(2 * rnd(10));
    }
    return NULL;
}

static void *wake_producer(void *arg)
{
    wake *x = arg;
    for (int i = 0; i < WITEMS; i++) {
        OK(weft_sleep(2 * rnd(13)));
        switch (rnd(3)) {
        case 0: {
            uint64_t n = 1 + rnd(2);
            OK(weft_sem_release(&x->sem, n));
            x->released += n;
            break;
        }
        case 1:
            OK(weft_mutex_lock(&x->m));
            x->items++;
            x->produced++;
            OK(rnd(3) ? weft_cond_signal(&x->c) : weft_cond_broadcast(&x->c));
            OK(weft_mutex_unlock(&x->m));
            break;
        default:
            if (rnd(2))
                OK(weft_event_set(&x->ev));
            else
                OK(weft_event_reset(&x->ev));
        }
    }
    return NULL;
}

/* Called at an odd time: every other task is blocked (or sleeping). Nobody
 * may wait while what it waits for is there. */
static void check_quiescent(wake *x)
{
    int rx_blocked = 0, tx_blocked = 0;
    for (int i = 0; i < WW; i++) {
        rx_blocked += x->ch_waiting[i];
        tx_blocked += x->tx_waiting[i];
    }
    size_t len = weft_chan_len(x->ch);
    PROP(!(rx_blocked && tx_blocked), "%d receiver(s) and %d sender(s) blocked on one channel", rx_blocked,
         tx_blocked);
    PROP(!(tx_blocked && x->cap && len < x->cap), "%d sender(s) blocked with %zu of %zu slots used", tx_blocked,
         len, x->cap);
    PROP(!(rx_blocked && len), "%d receiver(s) blocked while %zu element(s) are queued", rx_blocked, len);
    for (int i = 0; i < WW; i++) {
        PROP(!(weft_sem_value(&x->sem) > 0 && x->sem_waiting[i]),
             "sem waiter %d blocked while %llu permit(s) are free", i, (unsigned long long)weft_sem_value(&x->sem));
        PROP(!(x->items > 0 && x->cond_waiting[i]), "cond waiter %d blocked while %d item(s) wait", i, x->items);
        PROP(!(weft_event_is_set(&x->ev) == 1 && x->ev_waiting[i]), "event waiter %d blocked on a set event", i);
    }
}

static void *wakeups_body(void *arg)
{
    (void)arg;
    wake x;
    memset(&x, 0, sizeof x);
    OK(weft_sem_init(&x.sem, 0));
    OK(weft_mutex_init(&x.m));
    OK(weft_cond_init(&x.c));
    OK(weft_event_init(&x.ev, 0));
    x.cap = random_capacity();
    OK(weft_chan_new(&x.ch, sizeof(int), x.cap));
    wake_actor act[WW];
    enum { KINDS = 5 };
    weft_task *w[KINDS][WW];
    static const weft_fn fns[KINDS] = {sem_waiter, cond_waiter, event_waiter, chan_waiter, chan_sender};
    for (int i = 0; i < WW; i++) {
        act[i] = (wake_actor){&x, i};
        for (int k = 0; k < KINDS; k++)
            w[k][i] = pspawn(fns[k], &act[i]);
    }
    weft_task *p = pspawn(wake_producer, &x);
    /* Check at odd times, act (cancel) at even ones. */
    for (int k = 0; k < 10; k++) {
        OK(weft_sleep(2 * rnd(10) + 1));
        check_quiescent(&x);
        OK(weft_sleep(1));
        if (!rnd(3)) {
            unsigned kind = rnd(KINDS), who = rnd(WW);
            OK(weft_cancel(w[kind][who]));
            if (fns[kind] == event_waiter)
                x.ev_cancelled[who] = 1;
        }
    }
    pjoin(p);
    OK(weft_event_set(&x.ev));
    /* Past every deadline, at an odd time: every other task is blocked. */
    OK(weft_sleep(201));
    check_quiescent(&x);
    /* Every event waiter that was not cancelled has seen the event set. */
    for (int i = 0; i < WW; i++) {
        PROP(!x.ev_waiting[i], "event waiter %d still blocked after the final set", i);
        PROP(x.ev_seen[i] || x.ev_cancelled[i], "event waiter %d ended without seeing the event or being cancelled", i);
    }
    /* End everything: every task finishes. */
    OK(weft_chan_close(x.ch));
    for (int k = 0; k < KINDS; k++)
        for (int i = 0; i < WW; i++) {
            OK(weft_cancel(w[k][i]));
            pjoin(w[k][i]);
        }
    /* Everything is accounted for. */
    PROP(x.acquired + weft_sem_value(&x.sem) == x.released, "%llu released, %llu acquired, %llu left",
         (unsigned long long)x.released, (unsigned long long)x.acquired,
         (unsigned long long)weft_sem_value(&x.sem));
    PROP(x.consumed + x.items == x.produced, "%d produced, %d consumed, %d left", x.produced, x.consumed, x.items);
    int v, left = 0;
    while (weft_chan_try_recv(x.ch, &v) == 0)
        left++;
    PROP(x.received + left == x.sent, "%d sent, %d received, %d left", x.sent, x.received, left);
    OK(weft_chan_free(x.ch));
    OK(weft_sem_destroy(&x.sem));
    OK(weft_cond_destroy(&x.c));
    OK(weft_mutex_destroy(&x.m));
    OK(weft_event_destroy(&x.ev));
    return NULL;
}

START_TEST(prop_no_lost_wakeup)
{
    check_property("no lost wake-up", wakeups_body);
}
END_TEST

/* ======================================================================== */
/* Barrier generations                                                       */
/* ======================================================================== */

enum { BP = 5, BG = 8 };

typedef struct bar {
    weft_barrier b;
    unsigned parties, rounds;
    int arrived[BG], serial[BG], passed[BG];
} bar;

typedef struct bar_slot {
    bar *x;
    unsigned start;  /* first round this task plays */
    unsigned resume; /* where a replacement must start (after a cancel) */
    weft_task *t;
} bar_slot;

static void *bar_party(void *arg)
{
    bar_slot *s = arg;
    bar *x = s->x;
    s->resume = x->rounds;
    for (unsigned r = s->start; r < x->rounds; r++) {
        x->arrived[r]++;
        if (!rnd(3))
            weft_sched_point();
        int got = weft_barrier_wait(&x->b);
        if (got == WEFT_ECANCELED) {
            /* Withdrawn: a replacement plays this round. */
            x->arrived[r]--;
            s->resume = r;
            return NULL;
        }
        PROP(got == 0 || got == 1, "barrier_wait returned %d (%s)", got, weft_strerror(got));
        if (got == 1) {
            PROP(x->arrived[r] == (int)x->parties, "round %u: serial task sees %d arrivals, parties %u", r,
                 x->arrived[r], x->parties);
            x->serial[r]++;
        }
        x->passed[r]++;
        if (!rnd(3))
            weft_sched_point();
    }
    return NULL;
}

static void *barrier_body(void *arg)
{
    (void)arg;
    bar x;
    memset(&x, 0, sizeof x);
    x.parties = 2 + rnd(BP - 1);
    x.rounds = 2 + rnd(BG - 1);
    OK(weft_barrier_init(&x.b, x.parties));
    bar_slot slot[BP];
    for (unsigned i = 0; i < x.parties; i++) {
        slot[i] = (bar_slot){.x = &x, .start = 0};
        slot[i].t = pspawn(bar_party, &slot[i]);
    }
    /* Cancel a few parties at random moments; each gets a replacement that
     * plays from the round it did not complete. */
    for (unsigned k = rnd(4); k > 0; k--) {
        for (unsigned j = rnd(4); j > 0; j--)
            weft_yield();
        bar_slot *s = &slot[rnd(x.parties)];
        OK(weft_cancel(s->t));
        pjoin(s->t);
        s->start = s->resume;
        s->t = pspawn(bar_party, s);
    }
    for (unsigned i = 0; i < x.parties; i++)
        pjoin(slot[i].t);
    for (unsigned r = 0; r < x.rounds; r++) {
        PROP(x.serial[r] == 1, "round %u had %d serial tasks", r, x.serial[r]);
        PROP(x.passed[r] == (int)x.parties, "round %u: %d passed, parties %u", r, x.passed[r], x.parties);
    }
    OK(weft_barrier_destroy(&x.b));
    return NULL;
}

START_TEST(prop_barrier_generations)
{
    check_property("barrier generations", barrier_body);
}
END_TEST

/* ======================================================================== */
/* Scopes never leave a task running                                         */
/* ======================================================================== */

enum { SN = 64, SS = 20 };

typedef struct sc_state {
    weft_chan *never; /* nothing is ever sent on it */
    int live[SS];     /* per scope: children spawned and not finished */
    int failed[SS];   /* per scope: a child returned a failure */
    int timed[SS];    /* per scope: a deadline was set */
    int nscopes, nnodes, running;
    struct sc_node {
        struct sc_state *st;
        weft_scope *scope;
        int sid, depth, finished;
    } nodes[SN];
    int owner_join;
    int owner_done;
} sc_state;

typedef struct sc_node sc_node;

static int sc_child(void *arg);

/* Open a scope with random flags and deadline, spawn children into it,
 * join it and check that none of them is left. Returns what the join
 * returned. */
static int sc_tree(sc_state *st, int depth, weft_scope *s)
{
    unsigned flags = rnd(2) ? WEFT_SCOPE_FAIL_FAST : 0;
    OK(weft_scope_init(s, flags));
    PROP(st->nscopes < SS, "too many scopes");
    int sid = st->nscopes++;
    if (!rnd(3)) {
        OK(weft_scope_set_deadline(s, weft_now() + rnd(120)));
        st->timed[sid] = 1;
    }
    for (unsigned k = 1 + rnd(depth ? 3 : 4); k > 0 && st->nnodes < SN; k--) {
        sc_node *n = &st->nodes[st->nnodes++];
        n->st = st;
        n->sid = sid;
        n->depth = depth + 1;
        n->scope = s;
        weft_spawn_opts o = {.priority = (int)rnd(WEFT_PRIO_MAX + 1)};
        st->live[sid]++;
        OK(weft_scope_spawn(s, sc_child, n, &o));
    }
    if (!rnd(4))
        weft_sleep(rnd(50)); /* the owner blocks inside its scope too */
    int jr = weft_scope_join(s);
    PROP(st->live[sid] == 0, "scope %d joined with %d child(ren) still running", sid, st->live[sid]);
    for (int i = 0; i < st->nnodes; i++)
        PROP(st->nodes[i].sid != sid || st->nodes[i].finished, "node %d of scope %d not finished after join", i,
             sid);
    return jr;
}

static int sc_child(void *arg)
{
    sc_node *n = arg;
    sc_state *st = n->st;
    st->running++;
    int ret = 0, v;
    switch (rnd(6)) {
    case 0: /* work, maybe fail */
        weft_sleep(rnd(80));
        ret = rnd(4) ? 0 : -1000 - (int)rnd(10);
        break;
    case 1: /* block until cancelled, timed out, or its own (late) deadline */
        ret = weft_chan_recv_until(st->never, &v, weft_now() + 1 + rnd(300));
        if (rnd(2) || ret == WEFT_ETIMEDOUT)
            ret = 0; /* takes it in its stride */
        break;
    case 5: /* cancel the scope it runs in (safe: it cannot be joined yet) */
        weft_sleep(rnd(60));
        if (!rnd(3)) {
            int r = weft_scope_cancel(n->scope);
            PROP(r == 0, "scope_cancel from a child returned %d (%s)", r, weft_strerror(r));
        }
        break;
    case 2: /* a nested scope */
        if (n->depth < 3) {
            weft_scope inner;
            int jr = sc_tree(st, n->depth, &inner);
            ret = rnd(2) ? jr : 0;
        }
        break;
    case 3: /* non-blocking work with scheduling points */
        for (unsigned i = rnd(20); i > 0; i--)
            weft_sched_point();
        break;
    default: /* blocks, then keeps going a little after waking */
        weft_sleep(rnd(200));
        for (unsigned i = rnd(10); i > 0; i--)
            weft_sched_point();
        break;
    }
    if (ret < 0)
        st->failed[n->sid] = 1;
    n->finished = 1;
    st->live[n->sid]--;
    st->running--;
    return ret;
}

static void *sc_owner(void *arg)
{
    sc_state *st = arg;
    weft_scope s;
    st->owner_join = sc_tree(st, 0, &s);
    st->owner_done = 1;
    return NULL;
}

static void *scopes_body(void *arg)
{
    (void)arg;
    sc_state st;
    memset(&st, 0, sizeof st);
    OK(weft_chan_new(&st.never, sizeof(int), 0));
    weft_task *owner = pspawn(sc_owner, &st);
    int cancelled = !rnd(3);
    if (cancelled) {
        OK(weft_sleep(rnd(150)));
        OK(weft_cancel(owner));
    }
    pjoin(owner);
    PROP(st.owner_done, "the owner did not finish");
    PROP(st.running == 0, "%d scope children still running after the owner joined", st.running);
    for (int i = 0; i < st.nnodes; i++)
        PROP(st.nodes[i].finished, "node %d never finished", i);
    int jr = st.owner_join;
    PROP(jr == 0 || jr == WEFT_ECANCELED || jr == WEFT_ETIMEDOUT || (jr <= -1000 && jr > -1010),
         "join returned %d (%s)", jr, weft_strerror(jr));
    if (!cancelled && !st.timed[0])
        PROP((jr < 0) == st.failed[0], /* and never positive: 0 when nothing failed */
             "join returned %d (%s) though %s child failed", jr, weft_strerror(jr), st.failed[0] ? "a" : "no");
    /* Only the root is left. */
    weft_rt_stats stats;
    OK(weft_rt_stats_get(weft_rt_current(), &stats));
    PROP(stats.live_tasks == 1, "%llu tasks alive after every scope was joined",
         (unsigned long long)stats.live_tasks);
    OK(weft_chan_free(st.never));
    return NULL;
}

START_TEST(prop_scope_leaves_no_task)
{
    check_property("scopes leave no task", scopes_body);
}
END_TEST

/* The property harness itself: a broken property fails, with the seed. */
static void *always_broken(void *arg)
{
    (void)arg;
    PROP(weft_rand() % 50 != 7, "the 1-in-50 case");
    return NULL;
}

START_TEST(prop_failure_reports_seed)
{
    weft_config c = test_config(2, 0);
    char msg[4096];
    int r = weft_check_seeds(&c, always_broken, NULL, 1000, msg, sizeof msg);
    ck_assert_weft(r, WEFT_EFAILED);
    ck_assert_ptr_nonnull(strstr(msg, "the 1-in-50 case"));
    ck_assert_ptr_nonnull(strstr(msg, "WEFT_SEED="));
}
END_TEST

Suite *suite_props(void)
{
    Suite *s = suite_create("props");
    TCase *tc = tcase_create("props");
    tcase_add_test(tc, prop_failure_reports_seed);
    tcase_add_test(tc, prop_message_conservation);
    tcase_add_test(tc, prop_mutual_exclusion);
    tcase_add_test(tc, prop_no_lost_wakeup);
    tcase_add_test(tc, prop_barrier_generations);
    tcase_add_test(tc, prop_scope_leaves_no_task);
    suite_add_tcase(s, tc);
    return s;
}
