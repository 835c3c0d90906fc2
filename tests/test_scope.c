/* test_scope.c — structured concurrency: join waits for every child,
 * first-failure reporting and fail-fast, deadlines that time out every
 * blocking call inside, nesting, cancellation of the owner, and bad input.
 * "No task outlives its scope" is checked with counters and with the
 * runtime's live-task count right after weft_scope_join. */
#define _GNU_SOURCE
#include "support.h"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <weft/os.h>

enum { KIDS = 8 };

/* What a child does; what it saw. */
typedef enum kind {
    K_SLEEP,     /* sleep `ns`, return `ret` */
    K_FAIL,      /* sleep `ns`, return `ret` (a failure code) */
    K_RECV,      /* block on the shared channel; return 0 whatever happened */
    K_RECV_RET,  /* block on the shared channel; return what recv returned */
    K_SEM,       /* block on the shared semaphore */
    K_COND,      /* wait on the shared condition */
    K_MUTEX,     /* lock the shared mutex (held by the owner) */
    K_SLOW_EXIT, /* block, then after waking do more non-blocking work */
    K_NESTED     /* open a nested scope with two blocked grandchildren */
} kind;

typedef struct scope_ctx scope_ctx;

typedef struct kid {
    scope_ctx *x;
    kind k;
    uint64_t ns;
    int ret;
    int result;       /* what its blocking call returned */
    int again;        /* a blocking call after the first one */
    int nested_join;  /* K_NESTED: what the nested join returned */
    uint64_t woke_at; /* relative to x->t0 */
    int finished;
} kid;

struct scope_ctx {
    weft_scope s;
    weft_chan *ch;
    weft_sem sem;
    weft_mutex m;
    weft_cond c;
    uint64_t t0;
    int running;       /* children started and not yet finished */
    int grandchildren; /* running grandchildren */
    int join_result;
    uint64_t join_at;
    int owner_result;
    kid kids[KIDS];
    kid grand[2];
};

static void ctx_reset(void *p)
{
    memset(p, 0, sizeof(scope_ctx));
}

static int blocked_call(kid *k)
{
    scope_ctx *x = k->x;
    int v;
    switch (k->k) {
    case K_SEM: return weft_sem_acquire(&x->sem);
    case K_COND: {
        ck_assert_weft(weft_mutex_lock(&x->m), 0);
        int r = weft_cond_wait(&x->c, &x->m);
        /* Held again whatever the outcome. */
        ck_assert_weft(weft_mutex_unlock(&x->m), 0);
        return r;
    }
    case K_MUTEX: {
        int r = weft_mutex_lock(&x->m);
        if (r == 0)
            ck_assert_weft(weft_mutex_unlock(&x->m), 0);
        return r;
    }
    default: return weft_chan_recv(x->ch, &v);
    }
}

static int grandchild(void *arg)
{
    kid *k = arg;
    k->x->grandchildren++;
    k->result = blocked_call(k);
    k->woke_at = NOW() - k->x->t0;
    weft_sched_point();
    k->finished = 1;
    k->x->grandchildren--;
    return 0;
}

static int child(void *arg)
{
    kid *k = arg;
    scope_ctx *x = k->x;
    x->running++;
    weft_sched_point();
    int r = 0;
    switch (k->k) {
    case K_SLEEP:
    case K_FAIL:
        k->result = weft_sleep(k->ns);
        r = k->ret;
        break;
    case K_NESTED: {
        weft_scope inner;
        ck_assert_weft(weft_scope_init(&inner, 0), 0);
        for (int i = 0; i < 2; i++) {
            x->grand[i] = (kid){.x = x, .k = K_RECV};
            ck_assert_weft(weft_scope_spawn(&inner, grandchild, &x->grand[i], NULL), 0);
        }
        k->nested_join = weft_scope_join(&inner);
        /* None of the grandchildren outlived the nested scope. */
        ck_assert_int_eq(x->grandchildren, 0);
        k->result = k->nested_join;
        break;
    }
    default:
        k->result = blocked_call(k);
        break;
    }
    k->woke_at = NOW() - x->t0;
    /* Blocking again after the first wake-up: a cancelled task stays
     * cancelled, a timed-out scope stays timed out. */
    if (k->k != K_SLEEP && k->k != K_FAIL)
        k->again = weft_sleep(1);
    if (k->k == K_SLOW_EXIT)
        for (int i = 0; i < 50; i++)
            weft_sched_point();
    if (k->k == K_RECV_RET)
        r = k->result;
    k->finished = 1;
    x->running--;
    return r;
}

static void spawn_kid(scope_ctx *x, weft_scope *s, int i, kind k, uint64_t ns, int ret)
{
    x->kids[i] = (kid){.x = x, .k = k, .ns = ns, .ret = ret, .result = 1, .again = 1};
    ck_assert_weft(weft_scope_spawn(s, child, &x->kids[i], NULL), 0);
}

static void shared_init(scope_ctx *x)
{
    ck_assert_weft(weft_chan_new(&x->ch, sizeof(int), 0), 0);
    ck_assert_weft(weft_sem_init(&x->sem, 0), 0);
    ck_assert_weft(weft_mutex_init(&x->m), 0);
    ck_assert_weft(weft_cond_init(&x->c), 0);
}

static void shared_destroy(scope_ctx *x)
{
    ck_assert_weft(weft_chan_free(x->ch), 0); /* no waiter left behind */
    ck_assert_weft(weft_sem_destroy(&x->sem), 0);
    ck_assert_weft(weft_mutex_destroy(&x->m), 0);
    ck_assert_weft(weft_cond_destroy(&x->c), 0);
}

/* ======================================================================== */
/* Join                                                                      */
/* ======================================================================== */

static void *join_all_body(void *arg)
{
    scope_ctx *x = arg;
    uint64_t before = current_stats().live_tasks;
    x->t0 = NOW();
    ck_assert_weft(weft_scope_init(&x->s, 0), 0);
    for (int i = 0; i < KIDS; i++)
        spawn_kid(x, &x->s, i, K_SLEEP, 100 * (uint64_t)((i * 5) % KIDS + 1), 0);
    ck_assert_weft(weft_scope_join(&x->s), 0);
    /* Join returned only when the last one (800 ns) finished. */
    ck_assert_uint_eq(NOW() - x->t0, 100 * KIDS);
    ck_assert_int_eq(x->running, 0);
    for (int i = 0; i < KIDS; i++) {
        ck_assert_int_eq(x->kids[i].finished, 1);
        ck_assert_weft(x->kids[i].result, 0);
    }
    ck_assert_uint_eq(current_stats().live_tasks, before);
    /* An empty scope joins at once. */
    ck_assert_weft(weft_scope_init(&x->s, 0), 0);
    ck_assert_weft(weft_scope_join(&x->s), 0);
    return NULL;
}

START_TEST(scope_join_waits_for_all_children)
{
    scope_ctx x;
    run_matrix(join_all_body, &x, ctx_reset, 5);
}
END_TEST

static void *first_failure_body(void *arg)
{
    scope_ctx *x = arg;
    x->t0 = NOW();
    ck_assert_weft(weft_scope_init(&x->s, 0), 0);
    spawn_kid(x, &x->s, 0, K_FAIL, 300, -1002);
    spawn_kid(x, &x->s, 1, K_FAIL, 100, -1001);
    spawn_kid(x, &x->s, 2, K_SLEEP, 500, 0);
    spawn_kid(x, &x->s, 3, K_FAIL, 200, WEFT_EIO);
    /* Without fail-fast the siblings run to their end. */
    ck_assert_weft(weft_scope_join(&x->s), -1001);
    ck_assert_uint_eq(NOW() - x->t0, 500);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(x->kids[i].finished, 1);
        ck_assert_weft(x->kids[i].result, 0);
    }
    ck_assert_int_eq(x->running, 0);
    return NULL;
}

START_TEST(scope_join_returns_first_failure)
{
    scope_ctx x;
    run_matrix(first_failure_body, &x, ctx_reset, 3);
}
END_TEST

static void *fail_fast_body(void *arg)
{
    scope_ctx *x = arg;
    shared_init(x);
    x->t0 = NOW();
    uint64_t before = current_stats().live_tasks;
    ck_assert_weft(weft_mutex_lock(&x->m), 0);
    ck_assert_weft(weft_scope_init(&x->s, WEFT_SCOPE_FAIL_FAST), 0);
    spawn_kid(x, &x->s, 0, K_RECV, 0, 0);
    spawn_kid(x, &x->s, 1, K_SLEEP, 10 * MS, 0);
    spawn_kid(x, &x->s, 2, K_SEM, 0, 0);
    spawn_kid(x, &x->s, 3, K_MUTEX, 0, 0);
    spawn_kid(x, &x->s, 4, K_NESTED, 0, 0);
    spawn_kid(x, &x->s, 5, K_FAIL, 100, -1001);
    spawn_kid(x, &x->s, 6, K_FAIL, 200, -1002);
    spawn_kid(x, &x->s, 7, K_RECV_RET, 0, 0);
    /* The owner keeps working outside the failure: it is not cancelled. */
    ck_assert_weft(weft_sleep(150), 0);
    ck_assert_int_eq(x->running, 0);
    /* A child spawned into the failed scope starts cancelled. */
    kid late = {.x = x, .k = K_SEM, .result = 1, .again = 1};
    ck_assert_weft(weft_scope_spawn(&x->s, child, &late, NULL), 0);
    ck_assert_weft(weft_scope_join(&x->s), -1001);
    ck_assert_uint_eq(NOW() - x->t0, 150);
    ck_assert_weft(late.result, WEFT_ECANCELED);
    static const int cancelled[] = {0, 1, 2, 3, 6, 7};
    for (size_t i = 0; i < sizeof cancelled / sizeof *cancelled; i++) {
        kid *k = &x->kids[cancelled[i]];
        ck_assert_msg(k->result == WEFT_ECANCELED, "child %d saw %d (%s)", cancelled[i], k->result,
                      weft_strerror(k->result));
        ck_assert_uint_eq(k->woke_at, 100);
        ck_assert_int_eq(k->finished, 1);
    }
    ck_assert_weft(x->kids[0].again, WEFT_ECANCELED);
    /* The nested scope's owner was cancelled while joining: its children
     * were cancelled and joined, its join says ECANCELED. */
    ck_assert_weft(x->kids[4].nested_join, WEFT_ECANCELED);
    for (int i = 0; i < 2; i++) {
        ck_assert_weft(x->grand[i].result, WEFT_ECANCELED);
        ck_assert_int_eq(x->grand[i].finished, 1);
    }
    ck_assert_int_eq(x->running, 0);
    ck_assert_int_eq(x->grandchildren, 0);
    ck_assert_uint_eq(current_stats().live_tasks, before);
    /* The semaphore and the mutex lost nothing to the cancelled waiters:
     * nobody is left on the semaphore's list to swallow a permit, nor on
     * the mutex's to be handed it. */
    ck_assert_weft(weft_sem_release(&x->sem, 1), 0);
    ck_assert_uint_eq(weft_sem_value(&x->sem), 1);
    ck_assert_weft(weft_sem_try_acquire(&x->sem), 0);
    ck_assert_weft(weft_mutex_unlock(&x->m), 0);
    ck_assert_weft(weft_mutex_trylock(&x->m), 0);
    ck_assert_weft(weft_mutex_unlock(&x->m), 0);
    shared_destroy(x);
    return NULL;
}

START_TEST(scope_fail_fast_cancels_siblings)
{
    scope_ctx x;
    run_matrix(fail_fast_body, &x, ctx_reset, 5);
}
END_TEST

/* ======================================================================== */
/* Deadlines                                                                 */
/* ======================================================================== */

static void *deadline_body(void *arg)
{
    scope_ctx *x = arg;
    shared_init(x);
    x->t0 = NOW();
    uint64_t before = current_stats().live_tasks;
    ck_assert_weft(weft_scope_init(&x->s, 0), 0);
    ck_assert_weft(weft_scope_set_deadline(&x->s, x->t0 + 500), 0);
    spawn_kid(x, &x->s, 0, K_RECV, 0, 0);
    spawn_kid(x, &x->s, 1, K_SLEEP, 10 * MS, 0);
    spawn_kid(x, &x->s, 2, K_SEM, 0, 0);
    spawn_kid(x, &x->s, 3, K_COND, 0, 0);
    spawn_kid(x, &x->s, 4, K_NESTED, 0, 0);
    spawn_kid(x, &x->s, 5, K_SLEEP, 100, 0); /* done before the deadline */
    /* The owner's own blocking calls between init and join time out too. */
    int v;
    ck_assert_weft(weft_chan_recv(x->ch, &v), WEFT_ETIMEDOUT);
    ck_assert_uint_eq(NOW() - x->t0, 500);
    ck_assert_weft(weft_sleep(10), WEFT_ETIMEDOUT); /* past the deadline: at once */
    ck_assert_uint_eq(NOW() - x->t0, 500);
    ck_assert_weft(weft_scope_join(&x->s), WEFT_ETIMEDOUT);
    ck_assert_uint_eq(NOW() - x->t0, 500);
    for (int i = 0; i < 5; i++) {
        kid *k = &x->kids[i];
        ck_assert_msg(k->result == WEFT_ETIMEDOUT, "child %d saw %d (%s)", i, k->result, weft_strerror(k->result));
        ck_assert_uint_eq(k->woke_at, 500);
        ck_assert_int_eq(k->finished, 1);
    }
    ck_assert_weft(x->kids[0].again, WEFT_ETIMEDOUT);
    ck_assert_weft(x->kids[5].result, 0);
    ck_assert_weft(x->kids[4].nested_join, WEFT_ETIMEDOUT);
    for (int i = 0; i < 2; i++)
        ck_assert_weft(x->grand[i].result, WEFT_ETIMEDOUT);
    ck_assert_int_eq(x->running, 0);
    ck_assert_uint_eq(current_stats().live_tasks, before);
    /* Outside the scope again: blocking works normally. */
    ck_assert_weft(weft_sleep(10), 0);
    ck_assert_weft(weft_chan_recv_until(x->ch, &v, NOW() + 20), WEFT_ETIMEDOUT);
    ck_assert_uint_eq(NOW() - x->t0, 530);
    /* A deadline already past when set. */
    ck_assert_weft(weft_scope_init(&x->s, 0), 0);
    ck_assert_weft(weft_scope_set_deadline(&x->s, NOW() - 1), 0);
    spawn_kid(x, &x->s, 0, K_RECV, 0, 0);
    ck_assert_weft(weft_scope_join(&x->s), WEFT_ETIMEDOUT);
    ck_assert_weft(x->kids[0].result, WEFT_ETIMEDOUT);
    /* A deadline removed again does not fire. */
    ck_assert_weft(weft_scope_init(&x->s, 0), 0);
    ck_assert_weft(weft_scope_set_deadline(&x->s, NOW() + 100), 0);
    ck_assert_weft(weft_scope_set_deadline(&x->s, WEFT_NO_DEADLINE), 0);
    spawn_kid(x, &x->s, 0, K_SLEEP, 300, 0);
    ck_assert_weft(weft_scope_join(&x->s), 0);
    ck_assert_weft(x->kids[0].result, 0);
    shared_destroy(x);
    return NULL;
}

START_TEST(scope_deadline_times_out_everything_inside)
{
    scope_ctx x;
    run_matrix(deadline_body, &x, ctx_reset, 5);
}
END_TEST

/* ======================================================================== */
/* Nesting                                                                   */
/* ======================================================================== */

typedef struct nest_ctx {
    scope_ctx *x;
    uint64_t inner_deadline;
    int inner_join;
    uint64_t inner_join_at;
} nest_ctx;

static int nest_owner(void *arg)
{
    nest_ctx *n = arg;
    scope_ctx *x = n->x;
    weft_scope inner;
    ck_assert_weft(weft_scope_init(&inner, 0), 0);
    ck_assert_weft(weft_scope_set_deadline(&inner, n->inner_deadline), 0);
    for (int i = 0; i < 2; i++) {
        x->grand[i] = (kid){.x = x, .k = K_RECV, .result = 1};
        ck_assert_weft(weft_scope_spawn(&inner, grandchild, &x->grand[i], NULL), 0);
    }
    n->inner_join = weft_scope_join(&inner);
    n->inner_join_at = NOW() - x->t0;
    ck_assert_int_eq(x->grandchildren, 0);
    return 0;
}

static void *nested_body(void *arg)
{
    scope_ctx *x = arg;
    shared_init(x);
    /* Inner deadline shorter than the outer one: the inner one applies to
     * the grandchildren. */
    nest_ctx n = {.x = x};
    x->t0 = NOW();
    n.inner_deadline = x->t0 + 300;
    ck_assert_weft(weft_scope_init(&x->s, 0), 0);
    ck_assert_weft(weft_scope_set_deadline(&x->s, x->t0 + 1000), 0);
    ck_assert_weft(weft_scope_spawn(&x->s, nest_owner, &n, NULL), 0);
    spawn_kid(x, &x->s, 0, K_RECV, 0, 0);
    ck_assert_weft(weft_scope_join(&x->s), WEFT_ETIMEDOUT);
    ck_assert_weft(n.inner_join, WEFT_ETIMEDOUT);
    ck_assert_uint_eq(n.inner_join_at, 300);
    ck_assert_uint_eq(x->grand[0].woke_at, 300);
    ck_assert_uint_eq(x->kids[0].woke_at, 1000);
    /* Inner deadline longer: the outer deadline reaches the grandchildren. */
    x->t0 = NOW();
    n.inner_deadline = x->t0 + 5000;
    ck_assert_weft(weft_scope_init(&x->s, 0), 0);
    ck_assert_weft(weft_scope_set_deadline(&x->s, x->t0 + 700), 0);
    ck_assert_weft(weft_scope_spawn(&x->s, nest_owner, &n, NULL), 0);
    ck_assert_weft(weft_scope_join(&x->s), WEFT_ETIMEDOUT);
    ck_assert_weft(n.inner_join, WEFT_ETIMEDOUT);
    ck_assert_uint_eq(n.inner_join_at, 700);
    ck_assert_uint_eq(x->grand[1].woke_at, 700);
    /* Two scopes of one task: the inner one must be joined first. */
    weft_scope a, b;
    ck_assert_weft(weft_scope_init(&a, 0), 0);
    ck_assert_weft(weft_scope_init(&b, 0), 0);
    spawn_kid(x, &a, 0, K_SLEEP, 100, 0);
    spawn_kid(x, &b, 1, K_SLEEP, 200, 0);
    ck_assert_weft(weft_scope_join(&a), WEFT_EINVAL);
    ck_assert_weft(weft_scope_join(&b), 0);
    ck_assert_int_eq(x->kids[1].finished, 1);
    ck_assert_weft(weft_scope_join(&a), 0);
    ck_assert_int_eq(x->kids[0].finished, 1);
    ck_assert_int_eq(x->running, 0);
    shared_destroy(x);
    return NULL;
}

START_TEST(scope_nested)
{
    scope_ctx x;
    run_matrix(nested_body, &x, ctx_reset, 3);
}
END_TEST

/* ======================================================================== */
/* Cancellation of the owner                                                 */
/* ======================================================================== */

static void *owner_task(void *arg)
{
    scope_ctx *x = arg;
    uint64_t before = current_stats().live_tasks;
    ck_assert_weft(weft_scope_init(&x->s, 0), 0);
    spawn_kid(x, &x->s, 0, K_RECV, 0, 0);
    spawn_kid(x, &x->s, 1, K_SEM, 0, 0);
    spawn_kid(x, &x->s, 2, K_SLOW_EXIT, 0, 0);
    spawn_kid(x, &x->s, 3, K_NESTED, 0, 0);
    spawn_kid(x, &x->s, 4, K_COND, 0, 0);
    if (x->owner_result == 1) {
        /* Cancelled before join, while blocked in the scope. */
        ck_assert_weft(weft_sleep(10 * MS), WEFT_ECANCELED);
        ck_assert_int_eq(x->running, 5); /* the children are not cancelled yet */
    }
    x->join_result = weft_scope_join(&x->s);
    x->join_at = NOW() - x->t0;
    /* Every child finished before join returned. */
    ck_assert_int_eq(x->running, 0);
    ck_assert_int_eq(x->grandchildren, 0);
    ck_assert_uint_eq(current_stats().live_tasks, before);
    return NULL;
}

static void *owner_cancel_body(void *arg)
{
    scope_ctx *x = arg;
    for (int when = 0; when < 2; when++) {
        ctx_reset(x);
        shared_init(x);
        x->owner_result = when; /* 0: cancelled in join; 1: before join */
        x->t0 = NOW();
        weft_task *o = spawn_ok(owner_task, x);
        ck_assert_weft(weft_sleep(100), 0);
        ck_assert_int_eq(x->running, 5);
        ck_assert_weft(weft_cancel(o), 0);
        ck_assert_weft(weft_join(o, NULL), WEFT_ECANCELED);
        ck_assert_weft(x->join_result, WEFT_ECANCELED);
        ck_assert_uint_eq(x->join_at, 100);
        for (int i = 0; i < 5; i++) {
            kid *k = &x->kids[i];
            ck_assert_msg(k->result == WEFT_ECANCELED, "child %d saw %d (%s)", i, k->result,
                          weft_strerror(k->result));
            ck_assert_int_eq(k->finished, 1);
        }
        ck_assert_weft(x->kids[3].nested_join, WEFT_ECANCELED);
        ck_assert_weft(x->kids[2].again, WEFT_ECANCELED);
        shared_destroy(x);
    }
    return NULL;
}

START_TEST(scope_owner_cancelled_cancels_and_joins_children)
{
    scope_ctx x;
    run_matrix(owner_cancel_body, &x, ctx_reset, 5);
}
END_TEST

static void *scope_cancel_body(void *arg)
{
    scope_ctx *x = arg;
    shared_init(x);
    x->t0 = NOW();
    ck_assert_weft(weft_scope_init(&x->s, 0), 0);
    spawn_kid(x, &x->s, 0, K_RECV, 0, 0);
    spawn_kid(x, &x->s, 1, K_RECV_RET, 0, 0);
    ck_assert_weft(weft_sleep(100), 0);
    ck_assert_weft(weft_scope_cancel(&x->s), 0);
    /* The owner itself is not cancelled. */
    ck_assert_weft(weft_sleep(10), 0);
    ck_assert_int_eq(x->running, 0);
    /* Child 1 reported its cancellation as its failure. */
    ck_assert_weft(weft_scope_join(&x->s), WEFT_ECANCELED);
    ck_assert_weft(x->kids[0].result, WEFT_ECANCELED);
    ck_assert_weft(x->kids[1].result, WEFT_ECANCELED);
    ck_assert_uint_eq(x->kids[0].woke_at, 100);
    /* Children that take the cancellation in their stride: join says 0. */
    ck_assert_weft(weft_scope_init(&x->s, 0), 0);
    spawn_kid(x, &x->s, 0, K_RECV, 0, 0);
    spawn_kid(x, &x->s, 1, K_SEM, 0, 0);
    ck_assert_weft(weft_scope_cancel(&x->s), 0);
    ck_assert_weft(weft_scope_join(&x->s), 0);
    ck_assert_weft(x->kids[0].result, WEFT_ECANCELED);
    ck_assert_weft(x->kids[1].result, WEFT_ECANCELED);
    shared_destroy(x);
    return NULL;
}

START_TEST(scope_cancel_cancels_children)
{
    scope_ctx x;
    run_matrix(scope_cancel_body, &x, ctx_reset, 3);
}
END_TEST

/* ======================================================================== */
/* Bad input                                                                 */
/* ======================================================================== */

static int join_parent(void *arg)
{
    scope_ctx *x = arg;
    x->owner_result = weft_scope_join(&x->s);
    return 0;
}

static int reinit_parent(void *arg)
{
    scope_ctx *x = arg;
    x->join_result = weft_scope_init(&x->s, 0);
    return 0;
}

static int noop_child(void *arg)
{
    (void)arg;
    return 0;
}

/* After a refused call, the runtime still works: a fresh scope runs and
 * joins a child that blocks and wakes. */
static int sleepy_child(void *arg)
{
    (void)arg;
    return weft_sleep(1);
}

static void still_usable(void)
{
    weft_scope s;
    ck_assert_weft(weft_scope_init(&s, 0), 0);
    ck_assert_weft(weft_scope_spawn(&s, sleepy_child, NULL, NULL), 0);
    ck_assert_weft(weft_scope_join(&s), 0);
}

static void *bad_input_body(void *arg)
{
    scope_ctx *x = arg;
    BAD(weft_scope_init(NULL, 0), WEFT_EINVAL);
    BAD(weft_scope_init(&x->s, 0x80), WEFT_EINVAL);
    BAD(weft_scope_join(NULL), WEFT_EINVAL);
    BAD(weft_scope_cancel(NULL), WEFT_EINVAL);
    BAD(weft_scope_set_deadline(NULL, 5), WEFT_EINVAL);
    BAD(weft_scope_spawn(NULL, noop_child, NULL, NULL), WEFT_EINVAL);
    ck_assert_weft(weft_scope_init(&x->s, 0), 0);
    ck_assert_weft(weft_scope_spawn(&x->s, NULL, NULL, NULL), WEFT_EINVAL);
    weft_spawn_opts bad = {.priority = WEFT_PRIO_MAX + 1};
    ck_assert_weft(weft_scope_spawn(&x->s, noop_child, NULL, &bad), WEFT_EINVAL);
    /* A child may not join (or re-open) its parent's scope. */
    ck_assert_weft(weft_scope_spawn(&x->s, join_parent, x, NULL), 0);
    ck_assert_weft(weft_scope_spawn(&x->s, reinit_parent, x, NULL), 0);
    ck_assert_weft(weft_sleep(10), 0);
    ck_assert_weft(x->owner_result, WEFT_EPERM);
    ck_assert_weft(x->join_result, WEFT_EBUSY);
    /* Re-opening a scope that is open is refused, not a hang. */
    ck_assert_weft(weft_scope_init(&x->s, 0), WEFT_EBUSY);
    ck_assert_weft(weft_sleep(10), 0);
    ck_assert_weft(weft_scope_join(&x->s), 0); /* the refused calls spawned nothing */
    /* After join the scope is closed. */
    BAD(weft_scope_join(&x->s), WEFT_EINVAL);
    BAD(weft_scope_spawn(&x->s, noop_child, NULL, NULL), WEFT_EINVAL);
    BAD(weft_scope_cancel(&x->s), WEFT_EINVAL);
    BAD(weft_scope_set_deadline(&x->s, NOW() + 5), WEFT_EINVAL);
    /* Never initialized. */
    weft_scope junk;
    memset(&junk, 0x5A, sizeof junk);
    BAD(weft_scope_join(&junk), WEFT_EINVAL);
    BAD(weft_scope_spawn(&junk, noop_child, NULL, NULL), WEFT_EINVAL);
    /* The runtime is fine: a scope works. */
    ck_assert_weft(weft_scope_init(&x->s, WEFT_SCOPE_FAIL_FAST), 0);
    ck_assert_weft(weft_scope_spawn(&x->s, noop_child, NULL, NULL), 0);
    ck_assert_weft(weft_scope_join(&x->s), 0);
    ck_assert_weft(weft_sleep(10), 0);
    return NULL;
}

START_TEST(scope_bad_input)
{
    scope_ctx x;
    ctx_reset(&x);
    ck_assert_weft(run_sim(1, 0, bad_input_body, &x), 0);
    /* Outside a task. */
    weft_scope s;
    ck_assert_weft(weft_scope_init(&s, 0), WEFT_EPERM);
}
END_TEST

typedef struct scope_oom {
    counting_alloc *ca;
    int ran;
} scope_oom;

static int counting_child(void *arg)
{
    ((scope_oom *)arg)->ran++;
    return weft_sleep(1);
}

static void *scope_oom_body(void *arg)
{
    scope_oom *o = arg;
    counting_alloc *ca = o->ca;
    weft_scope s;
    ck_assert_weft(weft_scope_init(&s, 0), 0);
    ck_assert_weft(weft_scope_spawn(&s, counting_child, o, NULL), 0);
    ck_assert_weft(weft_sleep(5), 0); /* the task table and stacks exist now */
    uint64_t live = ca->live_bytes;
    /* Every allocation fails: nothing is spawned and nothing leaks. */
    ca->fail_from = ca->calls + 1;
    for (int i = 0; i < 3; i++)
        ck_assert_weft(weft_scope_spawn(&s, counting_child, o, NULL), WEFT_ENOMEM);
    ca->fail_from = 0;
    ck_assert_uint_eq(ca->live_bytes, live);
    ck_assert_weft(weft_scope_spawn(&s, counting_child, o, NULL), 0);
    ck_assert_weft(weft_scope_join(&s), 0);
    ck_assert_int_eq(o->ran, 2);
    return NULL;
}

START_TEST(scope_spawn_allocation_failure)
{
    counting_alloc ca;
    counting_alloc_init(&ca);
    scope_oom o = {&ca, 0};
    ck_assert_weft(run_counted(&ca, scope_oom_body, &o), 0);
    ck_assert_uint_eq(ca.live_bytes, 0);
}
END_TEST

/* A child whose stack cannot be mapped never runs: its scope must still
 * account for it (join reports the failure) instead of waiting forever. */
static int fail_mmap;

static void *failing_mmap(void *ctx, size_t len, int prot, int *err)
{
    (void)ctx;
    if (fail_mmap) {
        *err = -ENOMEM;
        return NULL;
    }
    void *p = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        *err = -errno;
        return NULL;
    }
    return p;
}

static void *stackless_child_body(void *arg)
{
    scope_ctx *x = arg;
    ck_assert_weft(weft_scope_init(&x->s, 0), 0);
    /* A stack class nothing has mapped yet (not the default, not the
     * simulator's 256 KiB worker-loop stacks), so the child needs an mmap. */
    weft_spawn_opts big = {.stack_size = 2 * WEFT_STACK_DEFAULT};
    fail_mmap = 1;
    ck_assert_weft(weft_scope_spawn(&x->s, noop_child, NULL, &big), 0);
    x->join_result = weft_scope_join(&x->s);
    fail_mmap = 0;
    ck_assert_weft(x->join_result, WEFT_ENOMEM);
    return NULL;
}

START_TEST(scope_child_without_stack_is_reported)
{
    scope_ctx x;
    ctx_reset(&x);
    weft_os os;
    memset(&os, 0, sizeof os);
    os.mmap = failing_mmap;
    weft_config c = test_config(1, 0);
    c.os = &os;
    int r = run_in(&c, stackless_child_body, &x, NULL);
    fail_mmap = 0;
    ck_assert_weft(r, 0);
}
END_TEST

/* ======================================================================== */
/* The real backend                                                          */
/* ======================================================================== */

static void *threaded_scope_body(void *arg)
{
    scope_ctx *x = arg;
    shared_init(x);
    x->t0 = NOW();
    ck_assert_weft(weft_scope_init(&x->s, 0), 0);
    /* Real time: a margin wide enough for sanitizers and a loaded machine. */
    ck_assert_weft(weft_scope_set_deadline(&x->s, x->t0 + 150 * MS), 0);
    spawn_kid(x, &x->s, 0, K_RECV, 0, 0);
    spawn_kid(x, &x->s, 1, K_SEM, 0, 0);
    spawn_kid(x, &x->s, 2, K_SLEEP, 1 * MS, 0);
    ck_assert_weft(weft_scope_join(&x->s), WEFT_ETIMEDOUT);
    ck_assert_uint_ge(NOW() - x->t0, 150 * MS);
    ck_assert_weft(x->kids[0].result, WEFT_ETIMEDOUT);
    ck_assert_weft(x->kids[1].result, WEFT_ETIMEDOUT);
    ck_assert_weft(x->kids[2].result, 0);
    ck_assert_int_eq(x->running, 0);
    /* Fail-fast on the real backend. */
    x->t0 = NOW();
    ck_assert_weft(weft_scope_init(&x->s, WEFT_SCOPE_FAIL_FAST), 0);
    spawn_kid(x, &x->s, 0, K_RECV, 0, 0);
    spawn_kid(x, &x->s, 1, K_SLEEP, 10000 * MS, 0);
    spawn_kid(x, &x->s, 2, K_FAIL, 2 * MS, -1001);
    ck_assert_weft(weft_scope_join(&x->s), -1001);
    ck_assert_uint_lt(NOW() - x->t0, 5000 * MS);
    ck_assert_weft(x->kids[0].result, WEFT_ECANCELED);
    ck_assert_weft(x->kids[1].result, WEFT_ECANCELED);
    ck_assert_int_eq(x->running, 0);
    shared_destroy(x);
    return NULL;
}

START_TEST(threaded_scope_deadline_and_fail_fast)
{
    scope_ctx x;
    ctx_reset(&x);
    weft_config c = threaded_config();
    ck_assert_weft(run_in(&c, threaded_scope_body, &x, NULL), 0);
}
END_TEST

Suite *suite_scope(void)
{
    Suite *s = suite_create("scope");
    TCase *tc = tcase_create("scope");
    tcase_add_test(tc, scope_join_waits_for_all_children);
    tcase_add_test(tc, scope_join_returns_first_failure);
    tcase_add_test(tc, scope_fail_fast_cancels_siblings);
    tcase_add_test(tc, scope_deadline_times_out_everything_inside);
    tcase_add_test(tc, scope_nested);
    tcase_add_test(tc, scope_owner_cancelled_cancels_and_joins_children);
    tcase_add_test(tc, scope_cancel_cancels_children);
    tcase_add_test(tc, scope_bad_input);
    tcase_add_test(tc, scope_spawn_allocation_failure);
    tcase_add_test(tc, scope_child_without_stack_is_reported);
    suite_add_tcase(s, tc);

    tc = tcase_create("threaded");
    tcase_add_test(tc, threaded_scope_deadline_and_fail_fast);
    suite_add_tcase(s, tc);
    return s;
}
