/* test_chan.c — channels (rendezvous, bounded, unbounded, oneshot), close,
 * timeouts, cancellation, select and its fairness, bad input, and a
 * model-based test: random operation sequences by several tasks compared
 * step by step against a reference model (a queue, FIFO lists of blocked
 * senders and receivers, and a closed flag). */
#include "support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* After a refused call, the runtime still works: a fresh channel carries an
 * element from one task to another, and the caller can block and wake. */
static void *still_usable_peer(void *arg)
{
    int v = 0;
    ck_assert_weft(weft_chan_recv(arg, &v), 0);
    ck_assert_int_eq(v, 77);
    return NULL;
}

static void still_usable(void)
{
    weft_chan *ch;
    ck_assert_weft(weft_chan_new(&ch, sizeof(int), 0), 0);
    weft_task *t;
    ck_assert_weft(weft_spawn(&t, still_usable_peer, ch), 0);
    int v = 77;
    ck_assert_weft(weft_chan_send(ch, &v), 0);
    ck_assert_weft(weft_join(t, NULL), 0);
    ck_assert_weft(weft_chan_free(ch), 0);
    ck_assert_weft(weft_sleep(1), 0);
}

/* A task doing one channel operation, with what it saw. */
typedef struct op_task {
    weft_chan *ch;
    int value;      /* sent, or received */
    uint64_t delay; /* sleep this long first */
    uint64_t deadline;
    int result;
    uint64_t returned_at;
} op_task;

static void *sender(void *arg)
{
    op_task *o = arg;
    if (o->delay)
        ck_assert_weft(weft_sleep(o->delay), 0);
    o->result = o->deadline ? weft_chan_send_until(o->ch, &o->value, o->deadline) : weft_chan_send(o->ch, &o->value);
    o->returned_at = NOW();
    return NULL;
}

static void *receiver(void *arg)
{
    op_task *o = arg;
    if (o->delay)
        ck_assert_weft(weft_sleep(o->delay), 0);
    o->value = -1;
    o->result = o->deadline ? weft_chan_recv_until(o->ch, &o->value, o->deadline) : weft_chan_recv(o->ch, &o->value);
    o->returned_at = NOW();
    return NULL;
}

typedef struct chan_ctx {
    weft_chan *ch, *ch2, *ch3;
    uint64_t t0;
    op_task o[16];
} chan_ctx;

static void ctx_reset(void *p)
{
    memset(p, 0, sizeof(chan_ctx));
}

/* ======================================================================== */
/* Capacities                                                                */
/* ======================================================================== */

static void *rendezvous_body(void *arg)
{
    chan_ctx *x = arg;
    ck_assert_weft(weft_chan_new(&x->ch, sizeof(int), 0), 0);
    x->t0 = NOW();
    /* A sender with nobody to take its element waits for a receiver. */
    x->o[0] = (op_task){.ch = x->ch, .value = 42, .result = 1};
    weft_task *s = spawn_ok(sender, &x->o[0]);
    ck_assert_weft(weft_sleep(1000), 0);
    ck_assert_int_eq(x->o[0].result, 1); /* still blocked */
    ck_assert_uint_eq(weft_chan_len(x->ch), 0);
    int v = 0;
    ck_assert_weft(weft_chan_recv(x->ch, &v), 0);
    ck_assert_int_eq(v, 42);
    ck_assert_weft(weft_join(s, NULL), 0);
    ck_assert_weft(x->o[0].result, 0);
    ck_assert_uint_eq(x->o[0].returned_at - x->t0, 1000); /* returned when taken */
    /* And the other way round: a receiver waits for a sender. */
    x->o[1] = (op_task){.ch = x->ch, .result = 1};
    weft_task *r = spawn_ok(receiver, &x->o[1]);
    ck_assert_weft(weft_sleep(500), 0);
    ck_assert_int_eq(x->o[1].result, 1);
    v = 7;
    ck_assert_weft(weft_chan_send(x->ch, &v), 0);
    ck_assert_weft(weft_join(r, NULL), 0);
    ck_assert_weft(x->o[1].result, 0);
    ck_assert_int_eq(x->o[1].value, 7);
    /* try_send needs a waiting receiver; try_recv a waiting sender. */
    ck_assert_weft(weft_chan_try_send(x->ch, &v), WEFT_EAGAIN);
    ck_assert_weft(weft_chan_try_recv(x->ch, &v), WEFT_EAGAIN);
    x->o[2] = (op_task){.ch = x->ch, .result = 1};
    r = spawn_ok(receiver, &x->o[2]);
    ck_assert_weft(weft_sleep(10), 0);
    v = 9;
    ck_assert_weft(weft_chan_try_send(x->ch, &v), 0);
    ck_assert_weft(weft_join(r, NULL), 0);
    ck_assert_int_eq(x->o[2].value, 9);
    x->o[3] = (op_task){.ch = x->ch, .value = 11, .result = 1};
    s = spawn_ok(sender, &x->o[3]);
    ck_assert_weft(weft_sleep(10), 0);
    ck_assert_weft(weft_chan_try_recv(x->ch, &v), 0);
    ck_assert_int_eq(v, 11);
    ck_assert_weft(weft_join(s, NULL), 0);
    ck_assert_weft(x->o[3].result, 0);
    ck_assert_weft(weft_chan_free(x->ch), 0);
    return NULL;
}

START_TEST(chan_rendezvous)
{
    chan_ctx x;
    run_matrix(rendezvous_body, &x, ctx_reset, 5);
}
END_TEST

static void *bounded_body(void *arg)
{
    chan_ctx *x = arg;
    enum { CAP = 4 };
    ck_assert_weft(weft_chan_new(&x->ch, sizeof(int), CAP), 0);
    x->t0 = NOW();
    for (int i = 0; i < CAP; i++) {
        ck_assert_weft(weft_chan_send(x->ch, &i), 0); /* room: no wait */
        ck_assert_uint_eq(weft_chan_len(x->ch), (size_t)i + 1);
    }
    ck_assert_uint_eq(NOW(), x->t0);
    int v = 99;
    ck_assert_weft(weft_chan_try_send(x->ch, &v), WEFT_EAGAIN);
    /* The next sender waits until a receiver makes room. */
    x->o[0] = (op_task){.ch = x->ch, .value = CAP, .result = 1};
    weft_task *s = spawn_ok(sender, &x->o[0]);
    ck_assert_weft(weft_sleep(300), 0);
    ck_assert_int_eq(x->o[0].result, 1);
    ck_assert_uint_eq(weft_chan_len(x->ch), CAP);
    for (int i = 0; i <= CAP; i++) {
        ck_assert_weft(weft_chan_recv(x->ch, &v), 0);
        ck_assert_int_eq(v, i); /* FIFO, the waiting sender's element last */
    }
    ck_assert_weft(weft_join(s, NULL), 0);
    ck_assert_weft(x->o[0].result, 0);
    ck_assert_uint_eq(x->o[0].returned_at - x->t0, 300);
    ck_assert_uint_eq(weft_chan_len(x->ch), 0);
    ck_assert_weft(weft_chan_try_recv(x->ch, &v), WEFT_EAGAIN);
    /* Wrap-around of the ring. */
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < 3; i++) {
            int e = round * 10 + i;
            ck_assert_weft(weft_chan_try_send(x->ch, &e), 0);
        }
        for (int i = 0; i < 3; i++) {
            ck_assert_weft(weft_chan_try_recv(x->ch, &v), 0);
            ck_assert_int_eq(v, round * 10 + i);
        }
    }
    ck_assert_weft(weft_chan_free(x->ch), 0);
    return NULL;
}

START_TEST(chan_bounded)
{
    chan_ctx x;
    run_matrix(bounded_body, &x, ctx_reset, 3);
}
END_TEST

static void *unbounded_body(void *arg)
{
    chan_ctx *x = arg;
    enum { N = 5000 };
    ck_assert_weft(weft_chan_new(&x->ch, sizeof(int), WEFT_CHAN_UNBOUNDED), 0);
    x->t0 = NOW();
    int received = 0; /* the next value due out */
    for (int i = 0; i < N; i++) {
        ck_assert_weft(weft_chan_try_send(x->ch, &i), 0);
        if (i % 7 == 3) { /* interleave some receives to move the head */
            int v;
            ck_assert_weft(weft_chan_recv(x->ch, &v), 0);
            ck_assert_int_eq(v, received);
            received++;
        }
    }
    ck_assert_uint_eq(NOW(), x->t0); /* never waited */
    ck_assert_uint_eq(weft_chan_len(x->ch), (size_t)(N - received));
    for (int v; received < N; received++) {
        ck_assert_weft(weft_chan_recv(x->ch, &v), 0);
        ck_assert_int_eq(v, received);
    }
    int v;
    ck_assert_weft(weft_chan_try_recv(x->ch, &v), WEFT_EAGAIN);
    ck_assert_weft(weft_chan_free(x->ch), 0);
    return NULL;
}

START_TEST(chan_unbounded)
{
    chan_ctx x;
    ctx_reset(&x);
    ck_assert_weft(run_sim(1, 0, unbounded_body, &x), 0);
}
END_TEST

typedef struct big {
    uint64_t a, b, c;
    char tag[13];
} big;

static void *elem_size_body(void *arg)
{
    (void)arg;
    /* Elements are copied by value, whatever their size. */
    weft_chan *ch;
    ck_assert_weft(weft_chan_new(&ch, sizeof(big), 2), 0);
    big in = {1, 2, 3, "hello world!"}, out;
    ck_assert_weft(weft_chan_send(ch, &in), 0);
    memset(&in, 0, sizeof in);
    ck_assert_weft(weft_chan_recv(ch, &out), 0);
    ck_assert_uint_eq(out.c, 3);
    ck_assert_str_eq(out.tag, "hello world!");
    ck_assert_weft(weft_chan_free(ch), 0);
    ck_assert_weft(weft_chan_new(&ch, 1, 3), 0);
    char c = 'x', d = 0;
    ck_assert_weft(weft_chan_send(ch, &c), 0);
    ck_assert_weft(weft_chan_recv(ch, &d), 0);
    ck_assert_int_eq(d, 'x');
    ck_assert_weft(weft_chan_free(ch), 0);
    return NULL;
}

START_TEST(chan_copies_elements_by_value)
{
    ck_assert_weft(run_sim(1, 0, elem_size_body, NULL), 0);
}
END_TEST

/* ======================================================================== */
/* Timeouts                                                                  */
/* ======================================================================== */

static void *timeouts_body(void *arg)
{
    chan_ctx *x = arg;
    static const size_t caps[] = {0, 1, WEFT_CHAN_UNBOUNDED};
    for (size_t k = 0; k < 3; k++) {
        ck_assert_weft(weft_chan_new(&x->ch, sizeof(int), caps[k]), 0);
        int v = -1;
        uint64_t t0 = NOW();
        ck_assert_weft(weft_chan_recv_until(x->ch, &v, t0 + 250), WEFT_ETIMEDOUT);
        ck_assert_uint_eq(NOW() - t0, 250);
        ck_assert_int_eq(v, -1); /* untouched */
        ck_assert_weft(weft_chan_recv_until(x->ch, &v, t0), WEFT_ETIMEDOUT); /* already past */
        ck_assert_uint_eq(NOW() - t0, 250);
        if (caps[k] == 1) {
            v = 5;
            ck_assert_weft(weft_chan_send_until(x->ch, &v, 0), 0); /* room: deadline irrelevant */
        }
        if (caps[k] != WEFT_CHAN_UNBOUNDED) {
            /* Full (or rendezvous with nobody): the send times out and the
             * element was not accepted. */
            t0 = NOW();
            v = 6;
            ck_assert_weft(weft_chan_send_until(x->ch, &v, t0 + 400), WEFT_ETIMEDOUT);
            ck_assert_uint_eq(NOW() - t0, 400);
            ck_assert_uint_eq(weft_chan_len(x->ch), caps[k]);
            if (caps[k] == 1) {
                ck_assert_weft(weft_chan_recv_until(x->ch, &v, NOW() + 10), 0);
                ck_assert_int_eq(v, 5);
            }
            ck_assert_weft(weft_chan_try_recv(x->ch, &v), WEFT_EAGAIN);
        }
        /* A deadline that is met: the peer comes before it. */
        x->o[0] = (op_task){.ch = x->ch, .value = 77, .delay = 100, .result = 1};
        weft_task *s = spawn_ok(sender, &x->o[0]);
        t0 = NOW();
        ck_assert_weft(weft_chan_recv_until(x->ch, &v, t0 + 1000), 0);
        ck_assert_int_eq(v, 77);
        ck_assert_uint_eq(NOW() - t0, 100);
        ck_assert_weft(weft_join(s, NULL), 0);
        ck_assert_weft(x->o[0].result, 0);
        ck_assert_weft(weft_chan_free(x->ch), 0);
    }
    return NULL;
}

START_TEST(chan_send_until_recv_until)
{
    chan_ctx x;
    run_matrix(timeouts_body, &x, ctx_reset, 3);
}
END_TEST

/* ======================================================================== */
/* Close                                                                     */
/* ======================================================================== */

static void *close_body(void *arg)
{
    chan_ctx *x = arg;
    ck_assert_weft(weft_chan_new(&x->ch, sizeof(int), 3), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_weft(weft_chan_send(x->ch, &i), 0);
    /* Two senders wait on the full buffer; their elements are not
     * accepted, so close gives them EPIPE and they stay theirs. */
    weft_task *s[2];
    for (int i = 0; i < 2; i++) {
        x->o[i] = (op_task){.ch = x->ch, .value = 100 + i, .result = 1};
        s[i] = spawn_ok(sender, &x->o[i]);
    }
    ck_assert_weft(weft_sleep(100), 0);
    ck_assert_weft(weft_chan_close(x->ch), 0);
    for (int i = 0; i < 2; i++) {
        ck_assert_weft(weft_join(s[i], NULL), 0);
        ck_assert_weft(x->o[i].result, WEFT_EPIPE);
    }
    int v = 0;
    ck_assert_weft(weft_chan_send(x->ch, &v), WEFT_EPIPE);
    ck_assert_weft(weft_chan_try_send(x->ch, &v), WEFT_EPIPE);
    ck_assert_weft(weft_chan_send_until(x->ch, &v, NOW() + 5), WEFT_EPIPE);
    ck_assert_weft(weft_chan_close(x->ch), WEFT_EPIPE);
    /* Receivers drain exactly what was accepted, then get EPIPE. */
    ck_assert_uint_eq(weft_chan_len(x->ch), 3);
    for (int i = 0; i < 3; i++) {
        ck_assert_weft(i == 1 ? weft_chan_try_recv(x->ch, &v) : weft_chan_recv(x->ch, &v), 0);
        ck_assert_int_eq(v, i);
    }
    ck_assert_weft(weft_chan_recv(x->ch, &v), WEFT_EPIPE);
    ck_assert_weft(weft_chan_try_recv(x->ch, &v), WEFT_EPIPE);
    ck_assert_weft(weft_chan_recv_until(x->ch, &v, NOW() + 5), WEFT_EPIPE);
    ck_assert_weft(weft_chan_free(x->ch), 0);

    /* Receivers blocked on an empty channel wake with EPIPE at close. */
    static const size_t caps[] = {0, 2, WEFT_CHAN_UNBOUNDED};
    for (size_t k = 0; k < 3; k++) {
        ck_assert_weft(weft_chan_new(&x->ch, sizeof(int), caps[k]), 0);
        weft_task *r[3];
        for (int i = 0; i < 3; i++) {
            x->o[i] = (op_task){.ch = x->ch, .result = 1, .deadline = i == 2 ? NOW() + 100000 : 0};
            r[i] = spawn_ok(receiver, &x->o[i]);
        }
        ck_assert_weft(weft_sleep(100), 0);
        ck_assert_weft(weft_chan_close(x->ch), 0);
        for (int i = 0; i < 3; i++) {
            ck_assert_weft(weft_join(r[i], NULL), 0);
            ck_assert_weft(x->o[i].result, WEFT_EPIPE);
            ck_assert_int_eq(x->o[i].value, -1);
        }
        ck_assert_weft(weft_chan_free(x->ch), 0);
    }
    return NULL;
}

START_TEST(chan_close_semantics)
{
    chan_ctx x;
    run_matrix(close_body, &x, ctx_reset, 3);
}
END_TEST

/* ======================================================================== */
/* Oneshot                                                                   */
/* ======================================================================== */

static void *oneshot_body(void *arg)
{
    chan_ctx *x = arg;
    int v = 5;
    /* Send first. */
    ck_assert_weft(weft_chan_new_oneshot(&x->ch, sizeof(int)), 0);
    ck_assert_weft(weft_chan_send(x->ch, &v), 0);
    v = 6;
    ck_assert_weft(weft_chan_send(x->ch, &v), WEFT_EPIPE);
    ck_assert_weft(weft_chan_try_send(x->ch, &v), WEFT_EPIPE);
    ck_assert_uint_eq(weft_chan_len(x->ch), 1);
    ck_assert_weft(weft_chan_recv(x->ch, &v), 0);
    ck_assert_int_eq(v, 5);
    ck_assert_weft(weft_chan_recv(x->ch, &v), WEFT_EPIPE);
    ck_assert_weft(weft_chan_free(x->ch), 0);
    /* Receivers first: one gets the element, the others learn it is closed. */
    ck_assert_weft(weft_chan_new_oneshot(&x->ch, sizeof(int)), 0);
    weft_task *r[3];
    for (int i = 0; i < 3; i++) {
        x->o[i] = (op_task){.ch = x->ch, .result = 1, .delay = 10 * (uint64_t)i};
        r[i] = spawn_ok(receiver, &x->o[i]);
    }
    ck_assert_weft(weft_sleep(100), 0);
    v = 31;
    ck_assert_weft(weft_chan_send(x->ch, &v), 0);
    int got = 0, closed = 0;
    for (int i = 0; i < 3; i++) {
        ck_assert_weft(weft_join(r[i], NULL), 0);
        if (x->o[i].result == 0) {
            ck_assert_int_eq(x->o[i].value, 31);
            got++;
        } else {
            ck_assert_weft(x->o[i].result, WEFT_EPIPE);
            closed++;
        }
    }
    ck_assert_int_eq(got, 1);
    ck_assert_int_eq(closed, 2);
    ck_assert_int_eq(x->o[0].result, 0); /* the first to wait */
    ck_assert_weft(weft_chan_send(x->ch, &v), WEFT_EPIPE);
    ck_assert_weft(weft_chan_free(x->ch), 0);
    /* Closed before anything was sent: nothing to receive. */
    ck_assert_weft(weft_chan_new_oneshot(&x->ch, sizeof(int)), 0);
    ck_assert_weft(weft_chan_close(x->ch), 0);
    ck_assert_weft(weft_chan_send(x->ch, &v), WEFT_EPIPE);
    ck_assert_weft(weft_chan_recv(x->ch, &v), WEFT_EPIPE);
    ck_assert_weft(weft_chan_free(x->ch), 0);
    return NULL;
}

START_TEST(chan_oneshot)
{
    chan_ctx x;
    run_matrix(oneshot_body, &x, ctx_reset, 3);
}
END_TEST

/* ======================================================================== */
/* Free with waiters; cancellation                                           */
/* ======================================================================== */

static void *free_busy_body(void *arg)
{
    chan_ctx *x = arg;
    ck_assert_weft(weft_chan_new(&x->ch, sizeof(int), 0), 0);
    x->o[0] = (op_task){.ch = x->ch, .result = 1};
    weft_task *r = spawn_ok(receiver, &x->o[0]);
    ck_assert_weft(weft_sleep(10), 0);
    ck_assert_weft(weft_chan_free(x->ch), WEFT_EBUSY); /* a receiver waits */
    int v = 3;
    ck_assert_weft(weft_chan_send(x->ch, &v), 0); /* nothing was freed */
    ck_assert_weft(weft_join(r, NULL), 0);
    ck_assert_int_eq(x->o[0].value, 3);
    x->o[1] = (op_task){.ch = x->ch, .value = 4, .result = 1};
    weft_task *s = spawn_ok(sender, &x->o[1]);
    ck_assert_weft(weft_sleep(10), 0);
    ck_assert_weft(weft_chan_free(x->ch), WEFT_EBUSY); /* a sender waits */
    ck_assert_weft(weft_chan_recv(x->ch, &v), 0);
    ck_assert_int_eq(v, 4);
    ck_assert_weft(weft_join(s, NULL), 0);
    ck_assert_weft(weft_chan_free(x->ch), 0);
    ck_assert_weft(weft_chan_free(NULL), 0);
    return NULL;
}

START_TEST(chan_free_with_waiters_is_ebusy)
{
    chan_ctx x;
    run_matrix(free_busy_body, &x, ctx_reset, 2);
}
END_TEST

static void *cancel_body(void *arg)
{
    chan_ctx *x = arg;
    static const size_t caps[] = {0, 1, 2, WEFT_CHAN_UNBOUNDED};
    for (size_t k = 0; k < 4; k++) {
        size_t cap = caps[k];
        ck_assert_weft(weft_chan_new(&x->ch, sizeof(int), cap), 0);
        /* Receivers: cancel one while blocked; it takes nothing, and the
         * next element goes to the receiver behind it. */
        weft_task *r[2];
        for (int i = 0; i < 2; i++) {
            x->o[i] = (op_task){.ch = x->ch, .result = 1};
            r[i] = spawn_ok(receiver, &x->o[i]);
            ck_assert_weft(weft_sleep(10), 0);
        }
        ck_assert_weft(weft_cancel(r[0]), 0);
        ck_assert_weft(weft_join(r[0], NULL), WEFT_ECANCELED);
        ck_assert_weft(x->o[0].result, WEFT_ECANCELED);
        ck_assert_int_eq(x->o[0].value, -1);
        int v = 10;
        ck_assert_weft(weft_chan_send(x->ch, &v), 0);
        ck_assert_weft(weft_join(r[1], NULL), 0);
        ck_assert_weft(x->o[1].result, 0);
        ck_assert_int_eq(x->o[1].value, 10);
        ck_assert_uint_eq(weft_chan_len(x->ch), 0);
        /* Cancelled in the same step as an element was handed to it: it
         * keeps the element (delivered, not lost, not duplicated). */
        x->o[2] = (op_task){.ch = x->ch, .result = 1};
        weft_task *r2 = spawn_ok(receiver, &x->o[2]);
        ck_assert_weft(weft_sleep(10), 0);
        v = 11;
        ck_assert_weft(weft_chan_send(x->ch, &v), 0);
        ck_assert_weft(weft_cancel(r2), 0);
        int jr = weft_join(r2, NULL);
        ck_assert_msg(jr == 0 || jr == WEFT_ECANCELED, "join returned %d", jr);
        ck_assert_weft(x->o[2].result, 0);
        ck_assert_int_eq(x->o[2].value, 11);
        ck_assert_uint_eq(weft_chan_len(x->ch), 0);
        ck_assert_weft(weft_chan_try_recv(x->ch, &v), WEFT_EAGAIN);
        if (cap != WEFT_CHAN_UNBOUNDED) {
            /* Senders: fill the buffer, block two senders, cancel the first.
             * Its element never enters the channel. */
            for (int i = 0; i < (int)cap; i++) {
                int e = 20 + i;
                ck_assert_weft(weft_chan_send(x->ch, &e), 0);
            }
            weft_task *s[2];
            for (int i = 0; i < 2; i++) {
                x->o[4 + i] = (op_task){.ch = x->ch, .value = 30 + i, .result = 1};
                s[i] = spawn_ok(sender, &x->o[4 + i]);
                ck_assert_weft(weft_sleep(10), 0);
            }
            ck_assert_weft(weft_cancel(s[0]), 0);
            ck_assert_weft(weft_join(s[0], NULL), WEFT_ECANCELED);
            ck_assert_weft(x->o[4].result, WEFT_ECANCELED);
            ck_assert_uint_eq(weft_chan_len(x->ch), cap);
            /* Exactly the buffered elements, then the surviving sender's. */
            for (int i = 0; i < (int)cap; i++) {
                ck_assert_weft(weft_chan_recv(x->ch, &v), 0);
                ck_assert_int_eq(v, 20 + i);
            }
            ck_assert_weft(weft_chan_recv(x->ch, &v), 0);
            ck_assert_int_eq(v, 31);
            ck_assert_weft(weft_join(s[1], NULL), 0);
            ck_assert_weft(x->o[5].result, 0);
            ck_assert_weft(weft_chan_try_recv(x->ch, &v), WEFT_EAGAIN);
            ck_assert_uint_eq(weft_chan_len(x->ch), 0);
            /* A sender cancelled in the same step its element was taken:
             * the send counts as done. */
            for (int i = 0; i < (int)cap; i++) {
                int e = 40 + i;
                ck_assert_weft(weft_chan_send(x->ch, &e), 0);
            }
            x->o[6] = (op_task){.ch = x->ch, .value = 50, .result = 1};
            weft_task *s2 = spawn_ok(sender, &x->o[6]);
            ck_assert_weft(weft_sleep(10), 0);
            ck_assert_weft(weft_chan_recv(x->ch, &v), 0);
            ck_assert_weft(weft_cancel(s2), 0);
            jr = weft_join(s2, NULL);
            ck_assert_msg(jr == 0 || jr == WEFT_ECANCELED, "join returned %d", jr);
            ck_assert_weft(x->o[6].result, 0);
            int total = 1;
            while (weft_chan_try_recv(x->ch, &v) == 0)
                total++;
            ck_assert_int_eq(total, (int)cap + 1);
            ck_assert_int_eq(v, 50);
        }
        ck_assert_weft(weft_chan_free(x->ch), 0); /* no waiter left behind */
    }
    return NULL;
}

START_TEST(chan_cancel_loses_nothing)
{
    chan_ctx x;
    run_matrix(cancel_body, &x, ctx_reset, 4);
}
END_TEST

/* A cancel that lands at the scheduling point a send/recv/select takes when
 * its racy "ready" peek is about to be proved wrong (a competitor takes the
 * element or the slot first) must not be lost. See test_sync.c. */
typedef struct chan_race {
    weft_chan *ch;
    int which;
    int result, thief;
} chan_race;

static void *chan_race_victim(void *arg)
{
    chan_race *cr = arg;
    int v = 1;
    if (cr->which == 0)
        cr->result = weft_chan_recv(cr->ch, &v);
    else if (cr->which == 1)
        cr->result = weft_chan_send(cr->ch, &v);
    else {
        weft_select_case c = {cr->ch, WEFT_SELECT_RECV, &v, 99};
        cr->result = weft_select(&c, 1, WEFT_NO_DEADLINE);
    }
    return NULL;
}

static void *chan_race_thief(void *arg)
{
    chan_race *cr = arg;
    int v = 2;
    cr->thief = cr->which == 1 ? weft_chan_try_send(cr->ch, &v) : weft_chan_try_recv(cr->ch, &v);
    return NULL;
}

static void *chan_race_body(void *arg)
{
    chan_race *cr = arg;
    /* One element buffered (receive races) or one free slot (send race). */
    ck_assert_weft(weft_chan_new(&cr->ch, sizeof(int), 1), 0);
    if (cr->which != 1) {
        int e = 5;
        ck_assert_weft(weft_chan_send(cr->ch, &e), 0);
    }
    cancel_race(chan_race_victim, chan_race_thief, cr, &cr->result);
    /* Receive races: one element, taken by one of them or still there.
     * Send race: one slot, filled by whoever succeeded (never both). */
    int moved = (cr->result == 0) + (cr->thief == 0);
    int len = (int)weft_chan_len(cr->ch);
    if (cr->which == 1) {
        ck_assert_int_le(moved, 1);
        ck_assert_int_eq(len, moved);
    } else {
        ck_assert_int_eq(len + moved, 1);
    }
    ck_assert_weft(weft_chan_free(cr->ch), 0);
    return NULL;
}

static void chan_race_reset(void *p)
{
    chan_race *cr = p;
    cr->ch = NULL;
    cr->result = 1;
    cr->thief = 1;
}

START_TEST(cancel_while_entering_a_chan_wait_is_not_lost)
{
    static const char *const names[] = {"recv", "send", "select"};
    for (int which = 0; which < 3; which++) {
        chan_race cr = {NULL, which, 1, 1};
        run_race(chan_race_body, &cr, chan_race_reset, names[which]);
    }
}
END_TEST

/* ======================================================================== */
/* Select                                                                    */
/* ======================================================================== */

static void *close_later(void *arg)
{
    op_task *o = arg;
    ck_assert_weft(weft_sleep(o->delay), 0);
    o->result = weft_chan_close(o->ch);
    return NULL;
}

static void *select_body(void *arg)
{
    chan_ctx *x = arg;
    ck_assert_weft(weft_chan_new(&x->ch, sizeof(int), 0), 0);  /* case 0: recv, rendezvous */
    ck_assert_weft(weft_chan_new(&x->ch2, sizeof(int), 1), 0); /* case 1: send, kept full */
    ck_assert_weft(weft_chan_new(&x->ch3, sizeof(int), 2), 0); /* case 2: recv, buffered */
    int one = 1, v;
    ck_assert_weft(weft_chan_send(x->ch2, &one), 0);
    int in1 = -1, out2 = 200, in3 = -1;
    weft_select_case cs[3] = {
        {x->ch, WEFT_SELECT_RECV, &in1, 99},
        {x->ch2, WEFT_SELECT_SEND, &out2, 99},
        {x->ch3, WEFT_SELECT_RECV, &in3, 99},
    };
    /* Nothing ready: the deadline ends it and nothing moved. */
    uint64_t t0 = NOW();
    ck_assert_weft(weft_select(cs, 3, t0 + 300), WEFT_ETIMEDOUT);
    ck_assert_uint_eq(NOW() - t0, 300);
    ck_assert_weft(weft_try_select(cs, 3), WEFT_EAGAIN);
    ck_assert_weft(weft_select(cs, 3, 0), WEFT_ETIMEDOUT); /* past deadline: at once */
    ck_assert_uint_eq(NOW() - t0, 300);
    ck_assert_uint_eq(weft_chan_len(x->ch2), 1);
    ck_assert_int_eq(in1, -1);
    ck_assert_int_eq(in3, -1);
    /* The registrations of the timed-out select are gone: a rendezvous send
     * finds no receiver. */
    ck_assert_weft(weft_chan_try_send(x->ch, &one), WEFT_EAGAIN);
    /* A sender arrives on ch: case 0 fires with its value, nothing else. */
    x->o[0] = (op_task){.ch = x->ch, .value = 5, .delay = 100, .result = 1};
    weft_task *s = spawn_ok(sender, &x->o[0]);
    t0 = NOW();
    ck_assert_weft(weft_select(cs, 3, WEFT_NO_DEADLINE), 0);
    ck_assert_weft(cs[0].result, 0);
    ck_assert_int_eq(in1, 5);
    ck_assert_uint_eq(NOW() - t0, 100);
    ck_assert_weft(weft_join(s, NULL), 0);
    ck_assert_weft(x->o[0].result, 0);
    ck_assert_uint_eq(weft_chan_len(x->ch2), 1);
    ck_assert_uint_eq(weft_chan_len(x->ch3), 0);
    /* A receiver drains ch2: the waiting send case moves its element in. */
    x->o[1] = (op_task){.ch = x->ch2, .delay = 100, .result = 1};
    weft_task *r = spawn_ok(receiver, &x->o[1]);
    ck_assert_weft(weft_select(cs, 3, NOW() + 1000), 1);
    ck_assert_weft(cs[1].result, 0);
    ck_assert_weft(weft_join(r, NULL), 0);
    ck_assert_int_eq(x->o[1].value, 1);
    ck_assert_uint_eq(weft_chan_len(x->ch2), 1);
    ck_assert_weft(weft_chan_recv(x->ch2, &v), 0);
    ck_assert_int_eq(v, 200);
    /* ch2 has room now: the send case is ready at once. */
    ck_assert_weft(weft_try_select(cs, 3), 1);
    ck_assert_weft(weft_chan_try_recv(x->ch2, &v), 0);
    ck_assert_int_eq(v, 200);
    ck_assert_weft(weft_chan_send(x->ch2, &one), 0); /* full again */
    /* Only ch3 ready. */
    int e = 33;
    ck_assert_weft(weft_chan_send(x->ch3, &e), 0);
    ck_assert_weft(weft_select(cs, 3, NOW()), 2);
    ck_assert_weft(cs[2].result, 0);
    ck_assert_int_eq(in3, 33);
    /* A closed channel's receive case is ready, with EPIPE. */
    ck_assert_weft(weft_chan_close(x->ch3), 0);
    ck_assert_weft(weft_select(cs, 3, WEFT_NO_DEADLINE), 2);
    ck_assert_weft(cs[2].result, WEFT_EPIPE);
    /* A close while a select waits wakes it with the closed case. */
    weft_select_case c2[2] = {{x->ch, WEFT_SELECT_RECV, &in1, 99}, {x->ch2, WEFT_SELECT_SEND, &out2, 99}};
    x->o[2] = (op_task){.ch = x->ch, .delay = 50, .result = 1};
    weft_task *closer = spawn_ok(close_later, &x->o[2]);
    t0 = NOW();
    ck_assert_weft(weft_select(c2, 2, WEFT_NO_DEADLINE), 0);
    ck_assert_weft(c2[0].result, WEFT_EPIPE);
    ck_assert_uint_eq(NOW() - t0, 50);
    ck_assert_weft(weft_join(closer, NULL), 0);
    ck_assert_weft(x->o[2].result, 0);
    ck_assert_uint_eq(weft_chan_len(x->ch2), 1); /* the send case did not happen */
    /* A send case on a closed channel: EPIPE too. */
    ck_assert_weft(weft_chan_close(x->ch2), 0);
    weft_select_case c3[1] = {{x->ch2, WEFT_SELECT_SEND, &out2, 99}};
    ck_assert_weft(weft_try_select(c3, 1), 0);
    ck_assert_weft(c3[0].result, WEFT_EPIPE);
    ck_assert_weft(weft_chan_free(x->ch), 0);
    ck_assert_weft(weft_chan_free(x->ch2), 0);
    ck_assert_weft(weft_chan_free(x->ch3), 0);
    return NULL;
}

START_TEST(select_mixed_cases_and_deadline)
{
    chan_ctx x;
    run_matrix(select_body, &x, ctx_reset, 4);
}
END_TEST

typedef struct select_task {
    weft_select_case cs[3];
    int in_a, in_b, out_c;
    int result;
} select_task;

static void *selector(void *arg)
{
    select_task *st = arg;
    st->result = weft_select(st->cs, 3, WEFT_NO_DEADLINE);
    return NULL;
}

static void *select_cancel_body(void *arg)
{
    chan_ctx *x = arg;
    ck_assert_weft(weft_chan_new(&x->ch, sizeof(int), 0), 0);
    ck_assert_weft(weft_chan_new(&x->ch2, sizeof(int), 0), 0);
    ck_assert_weft(weft_chan_new(&x->ch3, sizeof(int), 1), 0);
    int full = 9;
    ck_assert_weft(weft_chan_send(x->ch3, &full), 0);
    select_task st = {.in_a = -1, .in_b = -1, .out_c = 70, .result = 99};
    st.cs[0] = (weft_select_case){x->ch, WEFT_SELECT_RECV, &st.in_a, 99};
    st.cs[1] = (weft_select_case){x->ch2, WEFT_SELECT_RECV, &st.in_b, 99};
    st.cs[2] = (weft_select_case){x->ch3, WEFT_SELECT_SEND, &st.out_c, 99};
    /* Cancelled while waiting: ECANCELED, and no case happened. */
    weft_task *t = spawn_ok(selector, &st);
    ck_assert_weft(weft_sleep(100), 0);
    ck_assert_weft(weft_chan_free(x->ch), WEFT_EBUSY); /* registered */
    ck_assert_weft(weft_cancel(t), 0);
    ck_assert_weft(weft_join(t, NULL), WEFT_ECANCELED);
    ck_assert_weft(st.result, WEFT_ECANCELED);
    ck_assert_int_eq(st.in_a, -1);
    ck_assert_int_eq(st.in_b, -1);
    /* Its registrations left every channel: rendezvous sends find nobody,
     * the full channel still holds only its element. */
    int v = 1;
    ck_assert_weft(weft_chan_try_send(x->ch, &v), WEFT_EAGAIN);
    ck_assert_weft(weft_chan_try_send(x->ch2, &v), WEFT_EAGAIN);
    ck_assert_weft(weft_chan_try_recv(x->ch3, &v), 0);
    ck_assert_int_eq(v, 9);
    ck_assert_weft(weft_chan_try_recv(x->ch3, &v), WEFT_EAGAIN);
    ck_assert_weft(weft_chan_send(x->ch3, &full), 0);
    /* One case completes: the select's other registrations are stale. A
     * send on another of its channels in the same step must not be taken
     * by the stale registration (it is not a receiver any more). */
    st.result = 99;
    st.in_a = st.in_b = -1;
    t = spawn_ok(selector, &st);
    ck_assert_weft(weft_sleep(100), 0);
    v = 5;
    ck_assert_weft(weft_chan_try_send(x->ch, &v), 0);
    v = 6;
    ck_assert_weft(weft_chan_try_send(x->ch2, &v), WEFT_EAGAIN);
    ck_assert_weft(weft_join(t, NULL), 0);
    ck_assert_weft(st.result, 0);
    ck_assert_int_eq(st.in_a, 5);
    ck_assert_int_eq(st.in_b, -1);
    ck_assert_uint_eq(weft_chan_len(x->ch3), 1);
    ck_assert_weft(weft_chan_free(x->ch), 0);
    ck_assert_weft(weft_chan_free(x->ch2), 0);
    ck_assert_weft(weft_chan_free(x->ch3), 0);
    return NULL;
}

START_TEST(select_cancelled_leaves_no_registration)
{
    chan_ctx x;
    run_matrix(select_cancel_body, &x, ctx_reset, 4);
}
END_TEST

typedef struct select2 {
    weft_select_case cs[2];
    int result;
} select2;

static void *select2_task(void *arg)
{
    select2 *st = arg;
    st->result = weft_select(st->cs, 2, WEFT_NO_DEADLINE);
    return NULL;
}

static void *select_to_select_body(void *arg)
{
    chan_ctx *x = arg;
    /* Two selects meet on a rendezvous channel: one parks, the other finds
     * it and completes both. Each also has a case on a channel nobody uses,
     * which must be left untouched. */
    ck_assert_weft(weft_chan_new(&x->ch, sizeof(int), 0), 0);
    ck_assert_weft(weft_chan_new(&x->ch2, sizeof(int), 0), 0);
    ck_assert_weft(weft_chan_new(&x->ch3, sizeof(int), 0), 0);
    for (int sender_parks = 0; sender_parks < 2; sender_parks++) {
        int out = 60 + sender_parks, in = -1, idle_in = -1, idle_in2 = -1;
        select2 tx = {{{x->ch2, WEFT_SELECT_RECV, &idle_in, 99}, {x->ch, WEFT_SELECT_SEND, &out, 99}}, 99};
        select2 rx = {{{x->ch3, WEFT_SELECT_RECV, &idle_in2, 99}, {x->ch, WEFT_SELECT_RECV, &in, 99}}, 99};
        /* The one that parks runs in a task; the other selects here. */
        select2 *parks = sender_parks ? &tx : &rx, *finds = sender_parks ? &rx : &tx;
        weft_task *t = spawn_ok(select2_task, parks);
        ck_assert_weft(weft_sleep(10), 0);
        ck_assert_int_eq(parks->result, 99);
        finds->result = weft_select(finds->cs, 2, WEFT_NO_DEADLINE);
        ck_assert_weft(weft_join(t, NULL), 0);
        ck_assert_weft(tx.result, 1);
        ck_assert_weft(rx.result, 1);
        ck_assert_weft(tx.cs[1].result, 0);
        ck_assert_weft(rx.cs[1].result, 0);
        ck_assert_int_eq(in, 60 + sender_parks);
        ck_assert_int_eq(idle_in, -1);
        ck_assert_int_eq(idle_in2, -1);
        /* Nobody is left registered anywhere. */
        int v = 1;
        ck_assert_weft(weft_chan_try_send(x->ch, &v), WEFT_EAGAIN);
        ck_assert_weft(weft_chan_try_send(x->ch2, &v), WEFT_EAGAIN);
        ck_assert_weft(weft_chan_try_send(x->ch3, &v), WEFT_EAGAIN);
    }
    ck_assert_weft(weft_chan_free(x->ch), 0);
    ck_assert_weft(weft_chan_free(x->ch2), 0);
    ck_assert_weft(weft_chan_free(x->ch3), 0);
    return NULL;
}

START_TEST(select_meets_select)
{
    chan_ctx x;
    run_matrix(select_to_select_body, &x, ctx_reset, 4);
}
END_TEST

enum { FAIR_SELECTS = 3000 };

typedef struct fair_ctx {
    int count[3];
} fair_ctx;

/* Three cases that are always ready: two receives from well-stocked
 * unbounded channels, one send into an unbounded channel. */
static void *fairness_body(void *arg)
{
    fair_ctx *f = arg;
    weft_chan *a, *b, *c;
    ck_assert_weft(weft_chan_new(&a, sizeof(int), WEFT_CHAN_UNBOUNDED), 0);
    ck_assert_weft(weft_chan_new(&b, sizeof(int), WEFT_CHAN_UNBOUNDED), 0);
    ck_assert_weft(weft_chan_new(&c, sizeof(int), WEFT_CHAN_UNBOUNDED), 0);
    for (int i = 0; i < FAIR_SELECTS; i++) {
        ck_assert_weft(weft_chan_send(a, &i), 0);
        ck_assert_weft(weft_chan_send(b, &i), 0);
    }
    int ia, ib, oc = 7;
    weft_select_case cs[3] = {
        {a, WEFT_SELECT_RECV, &ia, 0}, {b, WEFT_SELECT_RECV, &ib, 0}, {c, WEFT_SELECT_SEND, &oc, 0}};
    int next_a = 0, next_b = 0;
    for (int i = 0; i < FAIR_SELECTS; i++) {
        int r = i % 2 ? weft_select(cs, 3, WEFT_NO_DEADLINE) : weft_try_select(cs, 3);
        ck_assert_msg(r >= 0 && r < 3, "select returned %d (%s)", r, weft_strerror(r));
        ck_assert_weft(cs[r].result, 0);
        if (r == 0)
            ck_assert_int_eq(ia, next_a++);
        if (r == 1)
            ck_assert_int_eq(ib, next_b++);
        f->count[r]++;
    }
    ck_assert_uint_eq(weft_chan_len(a), (size_t)(FAIR_SELECTS - next_a));
    ck_assert_uint_eq(weft_chan_len(b), (size_t)(FAIR_SELECTS - next_b));
    ck_assert_uint_eq(weft_chan_len(c), (size_t)f->count[2]);
    ck_assert_weft(weft_chan_free(a), 0);
    ck_assert_weft(weft_chan_free(b), 0);
    ck_assert_weft(weft_chan_free(c), 0);
    return NULL;
}

START_TEST(select_fairness_sim)
{
    /* Expected 1000 each, sd about 26: every case within ±150. */
    static const unsigned workers[] = {1, 2, 4};
    for (size_t w = 0; w < 3; w++)
        for (uint64_t seed = 0; seed < seeds_for(8); seed++) {
            fair_ctx f = {{0}};
            ck_assert_weft(run_sim(workers[w], seed, fairness_body, &f), 0);
            for (int k = 0; k < 3; k++)
                ck_assert_msg(f.count[k] >= 850 && f.count[k] <= 1150,
                              "workers=%u seed=%llu: case %d picked %d of %d times (counts %d %d %d)", workers[w],
                              (unsigned long long)seed, k, f.count[k], FAIR_SELECTS, f.count[0], f.count[1],
                              f.count[2]);
        }
}
END_TEST

START_TEST(select_fairness_threaded)
{
    /* Round-robin from a rotating start: with every case always ready, each
     * is picked exactly once in every three selects. */
    fair_ctx f = {{0}};
    weft_config c = threaded_config();
    ck_assert_weft(run_in(&c, fairness_body, &f, NULL), 0);
    for (int k = 0; k < 3; k++)
        ck_assert_msg(f.count[k] == FAIR_SELECTS / 3, "case %d picked %d of %d times (counts %d %d %d)", k, f.count[k],
                      FAIR_SELECTS, f.count[0], f.count[1], f.count[2]);
}
END_TEST

static void *select_bad_input_body(void *arg)
{
    (void)arg;
    weft_chan *ch;
    ck_assert_weft(weft_chan_new(&ch, sizeof(int), 1), 0);
    int v = 1, w = 0;
    weft_select_case ok[1] = {{ch, WEFT_SELECT_SEND, &v, 0}};
    weft_select_case many[WEFT_SELECT_MAX + 1];
    for (size_t i = 0; i <= WEFT_SELECT_MAX; i++)
        many[i] = (weft_select_case){ch, WEFT_SELECT_RECV, &w, 0};
    weft_select_case bad_op[1] = {{ch, 3, &v, 0}};
    weft_select_case null_elem[1] = {{ch, WEFT_SELECT_RECV, NULL, 0}};
    weft_select_case null_chan[2] = {{ch, WEFT_SELECT_RECV, &w, 0}, {NULL, WEFT_SELECT_RECV, &w, 0}};
    BAD(weft_select(NULL, 1, 0), WEFT_EINVAL);
    BAD(weft_select(ok, 0, 0), WEFT_EINVAL);
    BAD(weft_select(many, WEFT_SELECT_MAX + 1, 0), WEFT_EINVAL);
    BAD(weft_select(bad_op, 1, 0), WEFT_EINVAL);
    BAD(weft_select(null_elem, 1, 0), WEFT_EINVAL);
    BAD(weft_select(null_chan, 2, 0), WEFT_EINVAL);
    BAD(weft_try_select(NULL, 1), WEFT_EINVAL);
    BAD(weft_try_select(bad_op, 1), WEFT_EINVAL);
    BAD(weft_try_select(null_chan, 2), WEFT_EINVAL);
    /* Nothing happened; a good select works. WEFT_SELECT_MAX cases are fine. */
    ck_assert_uint_eq(weft_chan_len(ch), 0);
    ck_assert_weft(weft_select(ok, 1, 0), 0);
    ck_assert_weft(ok[0].result, 0);
    int r = weft_select(many, WEFT_SELECT_MAX, 0);
    ck_assert_msg(r >= 0 && r < WEFT_SELECT_MAX, "select over %d cases returned %d (%s)", WEFT_SELECT_MAX, r,
                  weft_strerror(r));
    ck_assert_weft(many[r].result, 0);
    ck_assert_int_eq(w, 1);
    ck_assert_uint_eq(weft_chan_len(ch), 0);
    ck_assert_weft(weft_chan_free(ch), 0);
    return NULL;
}

START_TEST(select_bad_input)
{
    ck_assert_weft(run_sim(1, 0, select_bad_input_body, NULL), 0);
}
END_TEST

/* ======================================================================== */
/* Allocation failure                                                        */
/* ======================================================================== */

typedef struct oom_ctx {
    counting_alloc *ca;
} oom_ctx;

static void *chan_oom_body(void *arg)
{
    oom_ctx *o = arg;
    counting_alloc *ca = o->ca;
    weft_chan *ch = (weft_chan *)(uintptr_t)1;
    /* Creation: the channel or its ring cannot be had; nothing leaks. */
    uint64_t live = ca->live_bytes;
    ca->fail_from = ca->calls + 1;
    ck_assert_weft(weft_chan_new(&ch, sizeof(int), 4), WEFT_ENOMEM);
    ck_assert_ptr_null(ch);
    ck_assert_weft(weft_chan_new(&ch, sizeof(int), WEFT_CHAN_UNBOUNDED), WEFT_ENOMEM);
    ca->fail_from = 0;
    ca->fail_nth = ca->calls + 2; /* the struct succeeds, the ring fails */
    ck_assert_weft(weft_chan_new(&ch, sizeof(int), 4), WEFT_ENOMEM);
    ca->fail_nth = 0;
    ck_assert_uint_eq(ca->live_bytes, live);
    /* Growth of an unbounded channel: the send that needs more room fails
     * with ENOMEM and the element is not in the channel; later sends work. */
    ck_assert_weft(weft_chan_new(&ch, sizeof(int), WEFT_CHAN_UNBOUNDED), 0);
    int i = 0;
    for (; i < 8; i++)
        ck_assert_weft(weft_chan_send(ch, &i), 0); /* the first ring: 8 slots */
    ca->fail_from = ca->calls + 1;
    ck_assert_weft(weft_chan_send(ch, &i), WEFT_ENOMEM);
    ck_assert_weft(weft_chan_try_send(ch, &i), WEFT_ENOMEM);
    ck_assert_uint_eq(weft_chan_len(ch), 8);
    ca->fail_from = 0;
    for (int k = 8; k < 20; k++)
        ck_assert_weft(weft_chan_send(ch, &k), 0);
    for (int k = 0; k < 20; k++) {
        int v;
        ck_assert_weft(weft_chan_recv(ch, &v), 0);
        ck_assert_int_eq(v, k);
    }
    ck_assert_weft(weft_chan_free(ch), 0);
    ck_assert_uint_eq(ca->live_bytes, live);
    return NULL;
}

START_TEST(chan_allocation_failure_loses_nothing)
{
    counting_alloc ca;
    counting_alloc_init(&ca);
    oom_ctx o = {&ca};
    ck_assert_weft(run_counted(&ca, chan_oom_body, &o), 0);
    ck_assert_uint_eq(ca.live_bytes, 0);
    ck_assert_uint_eq(ca.live_blocks, 0);
}
END_TEST

/* ======================================================================== */
/* Bad input                                                                 */
/* ======================================================================== */

static void *chan_bad_input_body(void *arg)
{
    (void)arg;
    weft_chan *ch = (weft_chan *)(uintptr_t)1;
    int v = 4;
    BAD(weft_chan_new(NULL, sizeof(int), 1), WEFT_EINVAL);
    BAD(weft_chan_new(&ch, 0, 1), WEFT_EINVAL);
    ck_assert_ptr_null(ch);
    BAD(weft_chan_new(&ch, 0, 0), WEFT_EINVAL);
    BAD(weft_chan_new(&ch, 0, WEFT_CHAN_UNBOUNDED), WEFT_EINVAL);
    BAD(weft_chan_new(&ch, SIZE_MAX / 4, 4), WEFT_EINVAL); /* size overflow */
    BAD(weft_chan_new_oneshot(&ch, 0), WEFT_EINVAL);
    BAD(weft_chan_new_oneshot(NULL, 4), WEFT_EINVAL);
    BAD(weft_chan_send(NULL, &v), WEFT_EINVAL);
    BAD(weft_chan_send_until(NULL, &v, 5), WEFT_EINVAL);
    BAD(weft_chan_try_send(NULL, &v), WEFT_EINVAL);
    BAD(weft_chan_recv(NULL, &v), WEFT_EINVAL);
    BAD(weft_chan_recv_until(NULL, &v, 5), WEFT_EINVAL);
    BAD(weft_chan_try_recv(NULL, &v), WEFT_EINVAL);
    BAD(weft_chan_close(NULL), WEFT_EINVAL);
    ck_assert_uint_eq(weft_chan_len(NULL), 0);
    ck_assert_weft(weft_chan_free(NULL), 0);
    ck_assert_weft(weft_chan_new(&ch, sizeof(int), 2), 0);
    BAD(weft_chan_send(ch, NULL), WEFT_EINVAL);
    BAD(weft_chan_send_until(ch, NULL, 5), WEFT_EINVAL);
    BAD(weft_chan_try_send(ch, NULL), WEFT_EINVAL);
    BAD(weft_chan_recv(ch, NULL), WEFT_EINVAL);
    BAD(weft_chan_recv_until(ch, NULL, 5), WEFT_EINVAL);
    BAD(weft_chan_try_recv(ch, NULL), WEFT_EINVAL);
    /* None of that touched the channel; it works. */
    ck_assert_uint_eq(weft_chan_len(ch), 0);
    ck_assert_weft(weft_chan_send(ch, &v), 0);
    int out = 0;
    ck_assert_weft(weft_chan_recv(ch, &out), 0);
    ck_assert_int_eq(out, 4);
    /* Operations on a closed channel. */
    ck_assert_weft(weft_chan_close(ch), 0);
    BAD(weft_chan_send(ch, &v), WEFT_EPIPE);
    BAD(weft_chan_recv(ch, &out), WEFT_EPIPE);
    BAD(weft_chan_close(ch), WEFT_EPIPE);
    ck_assert_weft(weft_chan_free(ch), 0);
    /* The runtime is still fine. */
    ck_assert_weft(weft_chan_new(&ch, sizeof(int), 0), 0);
    ck_assert_weft(weft_sleep(5), 0);
    ck_assert_weft(weft_chan_free(ch), 0);
    return NULL;
}

START_TEST(chan_bad_input)
{
    ck_assert_weft(run_sim(1, 0, chan_bad_input_body, NULL), 0);
}
END_TEST

static void *use_outside_chan(void *arg)
{
    weft_chan *ch = arg;
    int v = 0;
    ck_assert_weft(weft_chan_recv(ch, &v), 0);
    ck_assert_int_eq(v, 8);
    v = 9;
    ck_assert_weft(weft_chan_send(ch, &v), 0);
    return NULL;
}

START_TEST(chan_blocking_outside_task_is_eperm)
{
    weft_chan *ch;
    /* Made outside a runtime: allowed (malloc). */
    ck_assert_weft(weft_chan_new(&ch, sizeof(int), 1), 0);
    int v = 8;
    ck_assert_weft(weft_chan_send(ch, &v), WEFT_EPERM);
    ck_assert_weft(weft_chan_send_until(ch, &v, 5), WEFT_EPERM);
    ck_assert_weft(weft_chan_recv(ch, &v), WEFT_EPERM);
    ck_assert_weft(weft_chan_recv_until(ch, &v, 5), WEFT_EPERM);
    weft_select_case cs[1] = {{ch, WEFT_SELECT_SEND, &v, 0}};
    ck_assert_weft(weft_select(cs, 1, 5), WEFT_EPERM);
    ck_assert_uint_eq(weft_chan_len(ch), 0);
    /* Non-blocking calls work outside a task. */
    ck_assert_weft(weft_chan_try_send(ch, &v), 0);
    ck_assert_uint_eq(weft_chan_len(ch), 1);
    /* And the channel works in a task afterwards. */
    ck_assert_weft(run_sim(1, 0, use_outside_chan, ch), 0);
    ck_assert_weft(weft_chan_try_recv(ch, &v), 0);
    ck_assert_int_eq(v, 9);
    ck_assert_weft(weft_try_select(cs, 1), 0);
    ck_assert_weft(weft_chan_try_recv(ch, &v), 0);
    ck_assert_weft(weft_chan_free(ch), 0);
}
END_TEST

/* ======================================================================== */
/* Model-based: random operations against a reference model                 */
/* ======================================================================== */

enum { MSLOTS = 5, MSTEPS = 160, MQ = 1024, MQUIET = 4 };

typedef enum mop { M_SEND, M_TRY_SEND, M_SEND_UNTIL, M_RECV, M_TRY_RECV, M_RECV_UNTIL, M_EXIT } mop;
static const char *const mop_names[] = {"send", "try_send", "send_until", "recv", "try_recv", "recv_until", "exit"};

typedef struct mslot {
    struct mrun *run;
    int idx;
    weft_task *task;
    weft_sem go;
    /* the command */
    mop op;
    int val;
    uint64_t deadline;
    /* what the task reports */
    int busy, result, got;
    unsigned completions;
    /* what the model expects */
    int blocked; /* 0, 1 sender, 2 receiver */
    int exp_result, exp_got, exp_has_got;
    unsigned exp_completions;
    int m_val;
    uint64_t m_deadline;
    int dying;
} mslot;

typedef struct mrun {
    uint64_t seed;
    unsigned workers;
    weft_chan *ch;
    size_t cap;
    int nslots;
    mslot s[MSLOTS];
    int q[MQ];
    size_t qh, ql;
    int closed;
    int sq[MSLOTS], nsq; /* blocked senders, arrival order */
    int rq[MSLOTS], nrq; /* blocked receivers */
    int next_val, step;
    /* independent accounting */
    unsigned char sent_ok[MSTEPS + 8], received[MSTEPS + 8];
    int nsent, nreceived;
} mrun;

#define MCHECK(cond, ...)                                                                                      \
    ck_assert_msg(cond, "model: seed %llu workers %u cap %lld step %d: %s", (unsigned long long)m->seed,      \
                  m->workers, m->cap == WEFT_CHAN_UNBOUNDED ? -1LL : (long long)m->cap, m->step,               \
                  (snprintf(m_msg, sizeof m_msg, __VA_ARGS__), m_msg))
static char m_msg[512];

static void *m_actor(void *arg)
{
    mslot *s = arg;
    mrun *m = s->run;
    for (;;) {
        if (weft_sem_acquire(&s->go) != 0)
            break; /* cancelled while idle, or after a cancelled op */
        if (s->op == M_EXIT)
            break;
        int v = -1, r;
        switch (s->op) {
        case M_SEND: r = weft_chan_send(m->ch, &s->val); break;
        case M_TRY_SEND: r = weft_chan_try_send(m->ch, &s->val); break;
        case M_SEND_UNTIL: r = weft_chan_send_until(m->ch, &s->val, s->deadline); break;
        case M_RECV: r = weft_chan_recv(m->ch, &v); break;
        case M_TRY_RECV: r = weft_chan_try_recv(m->ch, &v); break;
        default: r = weft_chan_recv_until(m->ch, &v, s->deadline); break;
        }
        if (s->op <= M_SEND_UNTIL && r == 0) {
            m->sent_ok[s->val]++;
            m->nsent++;
        }
        if (s->op >= M_RECV && r == 0) {
            MCHECK(v > 0 && v <= MSTEPS, "received value %d out of range", v);
            m->received[v]++;
            m->nreceived++;
        }
        s->result = r;
        s->got = v;
        s->completions++;
        s->busy = 0;
    }
    return NULL;
}

static void m_complete(mslot *s, int result, int has_got, int got)
{
    s->blocked = 0;
    s->exp_completions++;
    s->exp_result = result;
    s->exp_has_got = has_got;
    s->exp_got = got;
}

static void q_push(mrun *m, int v)
{
    m->q[(m->qh + m->ql++) % MQ] = v;
}

static int q_pop(mrun *m)
{
    int v = m->q[m->qh];
    m->qh = (m->qh + 1) % MQ;
    m->ql--;
    return v;
}

static int list_pop(int *l, int *n)
{
    int x = l[0];
    memmove(l, l + 1, (size_t)(*n - 1) * sizeof *l);
    (*n)--;
    return x;
}

static void list_remove(int *l, int *n, int x)
{
    for (int i = 0; i < *n; i++)
        if (l[i] == x) {
            memmove(l + i, l + i + 1, (size_t)(*n - i - 1) * sizeof *l);
            (*n)--;
            return;
        }
}

/* The reference semantics of each operation. */
static void model_send(mrun *m, mslot *s, mop op, int v)
{
    if (m->closed)
        m_complete(s, WEFT_EPIPE, 0, 0);
    else if (m->nrq) {
        mslot *r = &m->s[list_pop(m->rq, &m->nrq)];
        m_complete(r, 0, 1, v);
        m_complete(s, 0, 0, 0);
    } else if (m->cap && (m->cap == WEFT_CHAN_UNBOUNDED || m->ql < m->cap)) {
        q_push(m, v);
        m_complete(s, 0, 0, 0);
    } else if (op == M_TRY_SEND)
        m_complete(s, WEFT_EAGAIN, 0, 0);
    else {
        s->blocked = 1;
        s->m_val = v;
        m->sq[m->nsq++] = s->idx;
    }
}

static void model_recv(mrun *m, mslot *s, mop op)
{
    if (m->ql) {
        int v = q_pop(m);
        if (m->nsq) {
            mslot *w = &m->s[list_pop(m->sq, &m->nsq)];
            q_push(m, w->m_val);
            m_complete(w, 0, 0, 0);
        }
        m_complete(s, 0, 1, v);
    } else if (m->nsq) {
        mslot *w = &m->s[list_pop(m->sq, &m->nsq)];
        m_complete(w, 0, 0, 0);
        m_complete(s, 0, 1, w->m_val);
    } else if (m->closed)
        m_complete(s, WEFT_EPIPE, 1, -1);
    else if (op == M_TRY_RECV)
        m_complete(s, WEFT_EAGAIN, 1, -1);
    else {
        s->blocked = 2;
        m->rq[m->nrq++] = s->idx;
    }
}

static int model_close(mrun *m)
{
    if (m->closed)
        return WEFT_EPIPE;
    m->closed = 1;
    while (m->nrq)
        m_complete(&m->s[list_pop(m->rq, &m->nrq)], WEFT_EPIPE, 1, -1);
    while (m->nsq)
        m_complete(&m->s[list_pop(m->sq, &m->nsq)], WEFT_EPIPE, 0, 0);
    return 0;
}

static void model_cancel(mrun *m, mslot *s)
{
    if (s->blocked == 1) {
        list_remove(m->sq, &m->nsq, s->idx);
        m_complete(s, WEFT_ECANCELED, 0, 0);
    } else if (s->blocked == 2) {
        list_remove(m->rq, &m->nrq, s->idx);
        m_complete(s, WEFT_ECANCELED, 1, -1);
    }
    s->dying = 1;
}

/* Time moves to `until`: blocked timed operations whose deadline passed
 * end with ETIMEDOUT. (A timeout only removes a waiter, which never lets
 * another operation proceed, so their order does not matter.) */
static void model_advance(mrun *m, uint64_t until)
{
    for (int i = 0; i < m->nslots; i++) {
        mslot *s = &m->s[i];
        if (s->blocked && s->m_deadline <= until) {
            if (s->blocked == 1)
                list_remove(m->sq, &m->nsq, i);
            else
                list_remove(m->rq, &m->nrq, i);
            m_complete(s, WEFT_ETIMEDOUT, s->blocked == 2, -1);
        }
    }
}

static void m_spawn(mrun *m, int i)
{
    mslot *s = &m->s[i];
    s->busy = s->blocked = s->dying = 0;
    s->completions = s->exp_completions = 0;
    ck_assert_weft(weft_spawn(&s->task, m_actor, s), 0);
}

static void m_verify(mrun *m)
{
    for (int i = 0; i < m->nslots; i++) {
        mslot *s = &m->s[i];
        MCHECK(s->busy == (s->blocked != 0), "slot %d (%s): task %s, model says %s", i, mop_names[s->op],
               s->busy ? "still blocked" : "returned", s->blocked ? "blocked" : "returned");
        MCHECK(s->completions == s->exp_completions, "slot %d (%s): %u operations returned, model expects %u", i,
               mop_names[s->op], s->completions, s->exp_completions);
        if (s->exp_completions) {
            MCHECK(s->result == s->exp_result, "slot %d (%s): returned %d (%s), model expects %d (%s)", i,
                   mop_names[s->op], s->result, weft_strerror(s->result), s->exp_result,
                   weft_strerror(s->exp_result));
            if (s->exp_has_got)
                MCHECK(s->got == s->exp_got, "slot %d (%s): received %d, model expects %d", i, mop_names[s->op],
                       s->got, s->exp_got);
        }
    }
    MCHECK(weft_chan_len(m->ch) == m->ql, "channel holds %zu, model %zu", weft_chan_len(m->ch), m->ql);
}

static void m_quiesce(mrun *m, uint64_t ns)
{
    /* Every task runs until it blocks before the clock moves. */
    uint64_t until = weft_now() + ns;
    ck_assert_weft(weft_sleep(ns), 0);
    model_advance(m, until);
    m_verify(m);
    for (int i = 0; i < m->nslots; i++)
        if (m->s[i].dying) {
            ck_assert_weft(weft_join(m->s[i].task, NULL), WEFT_ECANCELED);
            m_spawn(m, i);
        }
}

static void *model_body(void *arg)
{
    mrun *m = arg;
    static const size_t caps[] = {0, 1, 3, WEFT_CHAN_UNBOUNDED};
    m->cap = caps[weft_rand() % 4];
    m->nslots = 2 + (int)(weft_rand() % (MSLOTS - 1));
    ck_assert_weft(weft_chan_new(&m->ch, sizeof(int), m->cap), 0);
    for (int i = 0; i < m->nslots; i++) {
        m->s[i].run = m;
        m->s[i].idx = i;
        ck_assert_weft(weft_sem_init(&m->s[i].go, 0), 0);
        m_spawn(m, i);
    }
    m_quiesce(m, MQUIET);
    for (m->step = 0; m->step < MSTEPS; m->step++) {
        uint64_t r = weft_rand();
        unsigned action = (unsigned)(r % 100);
        int idle[MSLOTS], nidle = 0, blocked[MSLOTS], nblocked = 0;
        for (int i = 0; i < m->nslots; i++) {
            if (m->s[i].blocked)
                blocked[nblocked++] = i;
            else
                idle[nidle++] = i;
        }
        if (action < 75 && nidle) {
            mslot *s = &m->s[idle[(r >> 8) % (unsigned)nidle]];
            mop op = (mop)((r >> 16) % 6);
            s->op = op;
            s->val = ++m->next_val;
            s->deadline = s->m_deadline = weft_now() + MQUIET * (1 + (r >> 24) % 6) + MQUIET / 2;
            if (op == M_SEND || op == M_RECV)
                s->m_deadline = WEFT_NO_DEADLINE;
            s->busy = 1;
            if (op <= M_SEND_UNTIL)
                model_send(m, s, op, s->val);
            else
                model_recv(m, s, op);
            ck_assert_weft(weft_sem_release(&s->go, 1), 0);
        } else if (action < 85 && nblocked) {
            mslot *s = &m->s[blocked[(r >> 8) % (unsigned)nblocked]];
            model_cancel(m, s);
            ck_assert_weft(weft_cancel(s->task), 0);
        } else if (action < 87 && nidle) {
            /* Cancel a task that is not in a channel operation. */
            mslot *s = &m->s[idle[(r >> 8) % (unsigned)nidle]];
            model_cancel(m, s);
            ck_assert_weft(weft_cancel(s->task), 0);
        } else if (action < 90) {
            int want = model_close(m);
            int got = weft_chan_close(m->ch);
            MCHECK(got == want, "close returned %d (%s), model expects %d (%s)", got, weft_strerror(got), want,
                   weft_strerror(want));
        } else {
            m_quiesce(m, MQUIET * (1 + (r >> 8) % 8));
        }
        m_quiesce(m, MQUIET);
    }
    /* The end: close, let everything settle, drain what is left. */
    int want = model_close(m);
    MCHECK(weft_chan_close(m->ch) == want, "final close");
    m_quiesce(m, MQUIET);
    int v;
    while (m->ql) {
        int expect = q_pop(m);
        int got = weft_chan_try_recv(m->ch, &v);
        MCHECK(got == 0 && v == expect, "drain: try_recv returned %d with %d, model expects %d", got, v, expect);
        m->received[v]++;
        m->nreceived++;
    }
    MCHECK(weft_chan_try_recv(m->ch, &v) == WEFT_EPIPE, "drained channel not EPIPE");
    for (int i = 0; i < m->nslots; i++) {
        m->s[i].op = M_EXIT;
        ck_assert_weft(weft_sem_release(&m->s[i].go, 1), 0);
        ck_assert_weft(weft_join(m->s[i].task, NULL), 0);
        ck_assert_weft(weft_sem_destroy(&m->s[i].go), 0);
    }
    /* Independent of the model: every element accepted was received exactly
     * once, nothing else was received. */
    MCHECK(m->nsent == m->nreceived, "%d sends succeeded, %d elements received", m->nsent, m->nreceived);
    for (int val = 1; val <= m->next_val; val++)
        MCHECK(m->sent_ok[val] == m->received[val], "value %d: sent %d time(s), received %d time(s)", val,
               m->sent_ok[val], m->received[val]);
    ck_assert_weft(weft_chan_free(m->ch), 0);
    return NULL;
}

START_TEST(chan_matches_reference_model)
{
    static const unsigned workers[] = {1, 2, 4};
    static mrun run; /* large; static, so that a failed check leaks nothing */
    mrun *m = &run;
    uint64_t seeds = seeds_for(300);
    for (size_t w = 0; w < 3; w++)
        for (uint64_t seed = 0; seed < seeds; seed++) {
            memset(m, 0, sizeof *m);
            m->seed = seed;
            m->workers = workers[w];
            weft_config c = test_config(workers[w], seed);
            c.runq = seed % 3 == 0 ? weft_runq_fifo() : seed % 3 == 1 ? weft_runq_lifo() : weft_runq_priority();
            int r = run_in(&c, model_body, m, NULL);
            ck_assert_msg(r == 0, "model: seed %llu workers %u: run returned %d (%s)", (unsigned long long)seed,
                          workers[w], r, weft_strerror(r));
        }
}
END_TEST

/* ======================================================================== */
/* The real backend                                                          */
/* ======================================================================== */

static void *pong(void *arg)
{
    weft_chan **chs = arg;
    int v;
    while (weft_chan_recv(chs[0], &v) == 0) {
        v++;
        ck_assert_weft(weft_chan_send(chs[1], &v), 0);
    }
    return NULL;
}

static void *threaded_chan_body(void *arg)
{
    (void)arg;
    weft_chan *chs[2];
    ck_assert_weft(weft_chan_new(&chs[0], sizeof(int), 0), 0);
    ck_assert_weft(weft_chan_new(&chs[1], sizeof(int), 0), 0);
    weft_task *t = spawn_ok(pong, chs);
    int v = 0;
    for (int i = 0; i < 1000; i++) {
        ck_assert_weft(weft_chan_send(chs[0], &v), 0);
        ck_assert_weft(weft_chan_recv(chs[1], &v), 0);
    }
    ck_assert_int_eq(v, 1000);
    /* Real timeouts. */
    uint64_t t0 = NOW();
    ck_assert_weft(weft_chan_recv_until(chs[1], &v, t0 + 2 * MS), WEFT_ETIMEDOUT);
    ck_assert_uint_ge(NOW() - t0, 2 * MS);
    t0 = NOW();
    ck_assert_weft(weft_chan_send_until(chs[1], &v, t0 + 2 * MS), WEFT_ETIMEDOUT);
    ck_assert_uint_ge(NOW() - t0, 2 * MS);
    weft_select_case cs[1] = {{chs[1], WEFT_SELECT_RECV, &v, 0}};
    t0 = NOW();
    ck_assert_weft(weft_select(cs, 1, t0 + 2 * MS), WEFT_ETIMEDOUT);
    ck_assert_uint_ge(NOW() - t0, 2 * MS);
    ck_assert_weft(weft_chan_close(chs[0]), 0);
    ck_assert_weft(weft_join(t, NULL), 0);
    ck_assert_weft(weft_chan_free(chs[0]), 0);
    ck_assert_weft(weft_chan_free(chs[1]), 0);
    return NULL;
}

START_TEST(threaded_ping_pong_and_timeouts)
{
    weft_config c = threaded_config();
    ck_assert_weft(run_in(&c, threaded_chan_body, NULL, NULL), 0);
}
END_TEST

Suite *suite_chan(void)
{
    Suite *s = suite_create("chan");
    TCase *tc = tcase_create("basic");
    tcase_add_test(tc, chan_rendezvous);
    tcase_add_test(tc, chan_bounded);
    tcase_add_test(tc, chan_unbounded);
    tcase_add_test(tc, chan_copies_elements_by_value);
    tcase_add_test(tc, chan_send_until_recv_until);
    tcase_add_test(tc, chan_close_semantics);
    tcase_add_test(tc, chan_oneshot);
    tcase_add_test(tc, chan_free_with_waiters_is_ebusy);
    tcase_add_test(tc, chan_cancel_loses_nothing);
    tcase_add_test(tc, cancel_while_entering_a_chan_wait_is_not_lost);
    suite_add_tcase(s, tc);

    tc = tcase_create("select");
    tcase_add_test(tc, select_mixed_cases_and_deadline);
    tcase_add_test(tc, select_cancelled_leaves_no_registration);
    tcase_add_test(tc, select_fairness_sim);
    tcase_add_test(tc, select_fairness_threaded);
    tcase_add_test(tc, select_bad_input);
    tcase_add_test(tc, select_meets_select);
    suite_add_tcase(s, tc);

    tc = tcase_create("bad_input");
    tcase_add_test(tc, chan_bad_input);
    tcase_add_test(tc, chan_blocking_outside_task_is_eperm);
    tcase_add_test(tc, chan_allocation_failure_loses_nothing);
    suite_add_tcase(s, tc);

    tc = tcase_create("model");
    tcase_add_test(tc, chan_matches_reference_model);
    suite_add_tcase(s, tc);

    tc = tcase_create("threaded");
    tcase_add_test(tc, threaded_ping_pong_and_timeouts);
    suite_add_tcase(s, tc);
    return s;
}
