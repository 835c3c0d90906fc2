/* test_sync.c — mutex, condition variable, semaphore, wait group, barrier,
 * event and once: their contracts one by one, under the simulator (virtual
 * time makes every timeout exact), plus a few runs on the real backend.
 *
 * Arrival order is made deterministic with virtual time: a task that sleeps
 * until t0 + k·1000 and then blocks is parked before the next one wakes,
 * whatever the number of virtual workers, because the clock only moves when
 * every worker is idle. */
#include "support.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* After a refused call, the runtime still works: a fresh mutex can be locked
 * and released, and a task can block and be woken. */
static void still_usable(void)
{
    weft_mutex m;
    ck_assert_weft(weft_mutex_init(&m), 0);
    ck_assert_weft(weft_mutex_lock(&m), 0);
    ck_assert_weft(weft_mutex_unlock(&m), 0);
    ck_assert_weft(weft_mutex_destroy(&m), 0);
    ck_assert_weft(weft_sleep(1), 0);
}

/* One task of a test: which test context, its index, what it saw. */
typedef struct actor {
    struct sync_ctx *ctx;
    int idx;
    int result;
    uint64_t returned_at;
} actor;

typedef struct sync_ctx {
    weft_mutex m;
    weft_cond c;
    weft_sem s;
    weft_wg wg;
    weft_barrier b;
    weft_event e;
    uint64_t t0;
    int order[16];
    int n;
    int counter;
    int inside;
    actor a[16];
} sync_ctx;

static void ctx_reset(void *p)
{
    memset(p, 0, sizeof(sync_ctx));
}

/* Start actor i of x running fn. Its result starts at 1, which none of the
 * calls the actors make returns, so a check after the join shows that the
 * actor got that far. */
static weft_task *spawn_actor(sync_ctx *x, int i, weft_fn fn)
{
    x->a[i].ctx = x;
    x->a[i].idx = i;
    x->a[i].result = 1;
    return spawn_ok(fn, &x->a[i]);
}

/* Run actor i of x to its end (not cancelled); returns what its call returned. */
static int run_actor(sync_ctx *x, int i, weft_fn fn)
{
    ck_assert_weft(weft_join(spawn_actor(x, i, fn), NULL), 0);
    return x->a[i].result;
}

/* ======================================================================== */
/* Mutex                                                                     */
/* ======================================================================== */

/* Try the mutex once; result: what trylock returned. */
static void *trylock_actor(void *arg)
{
    actor *a = arg;
    a->result = weft_mutex_trylock(&a->ctx->m);
    return NULL;
}

static void *mutex_basic_body(void *arg)
{
    sync_ctx *x = arg;
    ck_assert_weft(weft_mutex_init(&x->m), 0);
    ck_assert_weft(weft_mutex_lock(&x->m), 0);
    /* Held: another task's trylock fails, and so does the owner's. */
    ck_assert_weft(run_actor(x, 0, trylock_actor), WEFT_EBUSY);
    ck_assert_weft(weft_mutex_trylock(&x->m), WEFT_EBUSY);
    ck_assert_weft(weft_mutex_unlock(&x->m), 0);
    /* Free: trylock takes it; a second task then sees it busy. */
    ck_assert_weft(weft_mutex_trylock(&x->m), 0);
    ck_assert_weft(run_actor(x, 0, trylock_actor), WEFT_EBUSY);
    ck_assert_weft(weft_mutex_unlock(&x->m), 0);
    /* Now free again for another task. */
    ck_assert_weft(run_actor(x, 0, trylock_actor), 0); /* it took the mutex and finished holding it */
    ck_assert_weft(weft_mutex_destroy(&x->m), WEFT_EBUSY);
    return NULL;
}

START_TEST(mutex_lock_unlock_trylock)
{
    sync_ctx x;
    ctx_reset(&x);
    ck_assert_weft(run_sim(1, 0, mutex_basic_body, &x), 0);
}
END_TEST

static void *lock_until_actor(void *arg)
{
    actor *a = arg;
    sync_ctx *x = a->ctx;
    uint64_t start = NOW();
    /* The holder keeps it for 2000 ns: a 500 ns deadline expires exactly. */
    a->result = weft_mutex_lock_until(&x->m, start + 500);
    a->returned_at = NOW() - start;
    ck_assert_weft(a->result, WEFT_ETIMEDOUT);
    ck_assert_uint_eq(a->returned_at, 500);
    ck_assert_weft(weft_mutex_unlock(&x->m), WEFT_EPERM); /* not acquired */
    /* A deadline already in the past fails at once while it is held. */
    ck_assert_weft(weft_mutex_lock_until(&x->m, NOW() - 1), WEFT_ETIMEDOUT);
    ck_assert_uint_eq(NOW() - start, 500);
    /* A deadline after the unlock succeeds when the holder lets go. */
    ck_assert_weft(weft_mutex_lock_until(&x->m, start + 100000), 0);
    ck_assert_uint_eq(NOW() - start, 2000);
    ck_assert_weft(weft_mutex_unlock(&x->m), 0);
    return NULL;
}

static void *mutex_lock_until_body(void *arg)
{
    sync_ctx *x = arg;
    ck_assert_weft(weft_mutex_init(&x->m), 0);
    /* Free mutex, deadline in the past: a lock that can proceed does. */
    ck_assert_weft(weft_mutex_lock_until(&x->m, 0), 0);
    weft_task *t = spawn_actor(x, 0, lock_until_actor);
    ck_assert_weft(weft_sleep(2000), 0);
    ck_assert_weft(weft_mutex_unlock(&x->m), 0);
    ck_assert_weft(weft_join(t, NULL), 0);
    ck_assert_weft(weft_mutex_destroy(&x->m), 0);
    return NULL;
}

START_TEST(mutex_lock_until_times_out)
{
    sync_ctx x;
    run_matrix(mutex_lock_until_body, &x, ctx_reset, 5);
}
END_TEST

static void *fifo_locker(void *arg)
{
    actor *a = arg;
    sync_ctx *x = a->ctx;
    ck_assert_weft(weft_sleep_until(x->t0 + 1000 * (uint64_t)(a->idx + 1)), 0);
    ck_assert_weft(weft_mutex_lock(&x->m), 0);
    x->order[x->n++] = a->idx;
    weft_sched_point();
    weft_yield();
    ck_assert_weft(weft_mutex_unlock(&x->m), 0);
    return NULL;
}

static void *mutex_fifo_body(void *arg)
{
    sync_ctx *x = arg;
    enum { N = 6 };
    ck_assert_weft(weft_mutex_init(&x->m), 0);
    ck_assert_weft(weft_mutex_lock(&x->m), 0);
    x->t0 = NOW();
    weft_task *t[N];
    /* Spawned in reverse so that arrival order differs from spawn order. */
    for (int i = N - 1; i >= 0; i--)
        t[i] = spawn_actor(x, i, fifo_locker);
    ck_assert_weft(weft_sleep_until(x->t0 + 1000 * (N + 1)), 0); /* all queued */
    ck_assert_weft(weft_mutex_unlock(&x->m), 0);
    /* Handed straight to the first waiter: the releasing task cannot barge. */
    ck_assert_weft(weft_mutex_trylock(&x->m), WEFT_EBUSY);
    /* Queue behind the others: acquired after all of them. */
    ck_assert_weft(weft_mutex_lock(&x->m), 0);
    ck_assert_int_eq(x->n, N);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(x->order[i], i);
    ck_assert_weft(weft_mutex_unlock(&x->m), 0);
    for (int i = 0; i < N; i++)
        ck_assert_weft(weft_join(t[i], NULL), 0);
    ck_assert_weft(weft_mutex_destroy(&x->m), 0);
    return NULL;
}

START_TEST(mutex_fifo_handoff)
{
    sync_ctx x;
    run_matrix(mutex_fifo_body, &x, ctx_reset, 10);
}
END_TEST

static void *mutex_relock_body(void *arg)
{
    sync_ctx *x = arg;
    x->t0 = NOW();
    ck_assert_weft(weft_mutex_init(&x->m), 0);
    ck_assert_weft(weft_mutex_lock(&x->m), 0);
    ck_assert_weft(weft_mutex_lock(&x->m), WEFT_EDEADLK);
    ck_assert_weft(weft_mutex_lock_until(&x->m, NOW() + 1000), WEFT_EDEADLK);
    ck_assert_uint_eq(NOW(), x->t0); /* refused at once, no wait */
    ck_assert_weft(weft_mutex_unlock(&x->m), 0);
    ck_assert_weft(weft_mutex_unlock(&x->m), WEFT_EPERM); /* no longer held */
    ck_assert_weft(weft_mutex_lock(&x->m), 0);              /* still usable */
    ck_assert_weft(weft_mutex_unlock(&x->m), 0);
    ck_assert_weft(weft_mutex_destroy(&x->m), 0);
    return NULL;
}

START_TEST(mutex_relock_is_edeadlk)
{
    sync_ctx x;
    ctx_reset(&x);
    ck_assert_weft(run_sim(1, 0, mutex_relock_body, &x), 0);
}
END_TEST

static void *unlock_not_mine(void *arg)
{
    actor *a = arg;
    a->result = weft_mutex_unlock(&a->ctx->m);
    return NULL;
}

static void *mutex_non_owner_body(void *arg)
{
    sync_ctx *x = arg;
    ck_assert_weft(weft_mutex_init(&x->m), 0);
    ck_assert_weft(weft_mutex_lock(&x->m), 0);
    ck_assert_weft(run_actor(x, 0, unlock_not_mine), WEFT_EPERM);
    /* The owner still holds it: a third task cannot take it. */
    ck_assert_weft(run_actor(x, 1, trylock_actor), WEFT_EBUSY);
    ck_assert_weft(weft_mutex_unlock(&x->m), 0);
    /* Unlocking a free mutex is refused too. */
    ck_assert_weft(run_actor(x, 0, unlock_not_mine), WEFT_EPERM);
    ck_assert_weft(weft_mutex_destroy(&x->m), 0);
    return NULL;
}

START_TEST(mutex_unlock_by_non_owner_is_eperm)
{
    sync_ctx x;
    ctx_reset(&x);
    ck_assert_weft(run_sim(1, 0, mutex_non_owner_body, &x), 0);
    /* Outside any task nobody owns anything. */
    weft_mutex m;
    ck_assert_weft(weft_mutex_init(&m), 0);
    ck_assert_weft(weft_mutex_unlock(&m), WEFT_EPERM);
    ck_assert_weft(weft_mutex_destroy(&m), 0);
}
END_TEST

static void *plain_locker(void *arg)
{
    actor *a = arg;
    a->result = weft_mutex_lock(&a->ctx->m);
    a->returned_at = NOW();
    if (a->result == 0) {
        a->ctx->order[a->ctx->n++] = a->idx;
        ck_assert_weft(weft_mutex_unlock(&a->ctx->m), 0);
    } else {
        /* Not acquired: unlocking must be refused. */
        ck_assert_weft(weft_mutex_unlock(&a->ctx->m), WEFT_EPERM);
    }
    return NULL;
}

static void *mutex_destroy_body(void *arg)
{
    sync_ctx *x = arg;
    ck_assert_weft(weft_mutex_init(&x->m), 0);
    ck_assert_weft(weft_mutex_lock(&x->m), 0);
    ck_assert_weft(weft_mutex_destroy(&x->m), WEFT_EBUSY); /* locked */
    weft_task *t = spawn_actor(x, 0, plain_locker);
    ck_assert_weft(weft_sleep(100), 0); /* it waits now */
    ck_assert_weft(weft_mutex_destroy(&x->m), WEFT_EBUSY); /* locked, with a waiter */
    ck_assert_weft(weft_mutex_unlock(&x->m), 0);
    ck_assert_weft(weft_join(t, NULL), 0);
    ck_assert_weft(x->a[0].result, 0);
    ck_assert_weft(weft_mutex_destroy(&x->m), 0);
    /* Use after destroy. */
    BAD(weft_mutex_lock(&x->m), WEFT_EINVAL);
    BAD(weft_mutex_lock_until(&x->m, NOW() + 10), WEFT_EINVAL);
    BAD(weft_mutex_trylock(&x->m), WEFT_EINVAL);
    BAD(weft_mutex_unlock(&x->m), WEFT_EINVAL);
    BAD(weft_mutex_destroy(&x->m), WEFT_EINVAL);
    /* Re-initialized it works again. */
    ck_assert_weft(weft_mutex_init(&x->m), 0);
    ck_assert_weft(weft_mutex_lock(&x->m), 0);
    ck_assert_weft(weft_mutex_unlock(&x->m), 0);
    ck_assert_weft(weft_mutex_destroy(&x->m), 0);
    return NULL;
}

START_TEST(mutex_destroy_busy_and_use_after_destroy)
{
    sync_ctx x;
    ctx_reset(&x);
    ck_assert_weft(run_sim(1, 0, mutex_destroy_body, &x), 0);
}
END_TEST

static void *mutex_cancel_body(void *arg)
{
    sync_ctx *x = arg;
    ck_assert_weft(weft_mutex_init(&x->m), 0);
    ck_assert_weft(weft_mutex_lock(&x->m), 0);
    weft_task *t[3];
    for (int i = 0; i < 3; i++) {
        t[i] = spawn_actor(x, i, plain_locker);
        ck_assert_weft(weft_sleep(100), 0); /* queued in order 0, 1, 2 */
    }
    /* Cancel the middle waiter: it leaves the queue without the mutex. */
    ck_assert_weft(weft_cancel(t[1]), 0);
    ck_assert_weft(weft_join(t[1], NULL), WEFT_ECANCELED);
    ck_assert_weft(x->a[1].result, WEFT_ECANCELED);
    ck_assert_uint_eq(x->a[1].returned_at, NOW());
    ck_assert_int_eq(x->n, 0);
    /* Cancel the first one in the same step as the unlock hands it the
     * mutex: it keeps what it was given (and passes it on). */
    ck_assert_weft(weft_mutex_unlock(&x->m), 0);
    ck_assert_weft(weft_cancel(t[0]), 0);
    /* With several workers it may have finished before the cancel came:
     * then its join reports 0; either way the lock succeeded. */
    int jr = weft_join(t[0], NULL);
    ck_assert_msg(jr == 0 || jr == WEFT_ECANCELED, "join returned %d (%s)", jr, weft_strerror(jr));
    ck_assert_weft(x->a[0].result, 0);
    ck_assert_weft(weft_join(t[2], NULL), 0);
    ck_assert_weft(x->a[2].result, 0);
    ck_assert_int_eq(x->n, 2);
    ck_assert_int_eq(x->order[0], 0);
    ck_assert_int_eq(x->order[1], 2);
    /* Nobody left behind on the wait list, nobody holds it. */
    ck_assert_weft(weft_mutex_trylock(&x->m), 0);
    ck_assert_weft(weft_mutex_unlock(&x->m), 0);
    ck_assert_weft(weft_mutex_destroy(&x->m), 0);
    return NULL;
}

START_TEST(mutex_cancel_waiter)
{
    sync_ctx x;
    run_matrix(mutex_cancel_body, &x, ctx_reset, 5);
}
END_TEST

static void *timed_locker(void *arg)
{
    actor *a = arg;
    a->result = weft_mutex_lock_until(&a->ctx->m, a->ctx->t0 + 1000);
    a->returned_at = NOW() - a->ctx->t0;
    if (a->result == 0)
        ck_assert_weft(weft_mutex_unlock(&a->ctx->m), 0);
    return NULL;
}

static void *mutex_timeout_handoff_body(void *arg)
{
    sync_ctx *x = arg;
    /* A waiter that times out leaves the queue: the next unlock goes to the
     * waiter behind it, and the mutex is not left owned by a departed task. */
    ck_assert_weft(weft_mutex_init(&x->m), 0);
    ck_assert_weft(weft_mutex_lock(&x->m), 0);
    x->t0 = NOW();
    weft_task *timed = spawn_actor(x, 0, timed_locker);
    ck_assert_weft(weft_sleep(10), 0);
    weft_task *plain = spawn_actor(x, 1, plain_locker);
    ck_assert_weft(weft_sleep(2000), 0);
    ck_assert_weft(weft_join(timed, NULL), 0);
    ck_assert_weft(x->a[0].result, WEFT_ETIMEDOUT);
    ck_assert_uint_eq(x->a[0].returned_at, 1000);
    ck_assert_weft(weft_mutex_unlock(&x->m), 0);
    ck_assert_weft(weft_join(plain, NULL), 0);
    ck_assert_weft(x->a[1].result, 0);
    ck_assert_int_eq(x->n, 1);
    ck_assert_weft(weft_mutex_destroy(&x->m), 0);
    return NULL;
}

START_TEST(mutex_timed_out_waiter_leaves_queue)
{
    sync_ctx x;
    run_matrix(mutex_timeout_handoff_body, &x, ctx_reset, 3);
}
END_TEST

/* ======================================================================== */
/* Condition variable                                                        */
/* ======================================================================== */

static void *cond_waiter(void *arg)
{
    actor *a = arg;
    sync_ctx *x = a->ctx;
    ck_assert_weft(weft_sleep_until(x->t0 + 1000 * (uint64_t)(a->idx + 1)), 0);
    ck_assert_weft(weft_mutex_lock(&x->m), 0);
    x->inside++;
    a->result = weft_cond_wait(&x->c, &x->m);
    x->order[x->n++] = a->idx;
    a->returned_at = NOW();
    /* Held again on return: unlocking succeeds. */
    ck_assert_weft(weft_mutex_unlock(&x->m), 0);
    return NULL;
}

static void *cond_fifo_body(void *arg)
{
    sync_ctx *x = arg;
    enum { N = 5 };
    ck_assert_weft(weft_mutex_init(&x->m), 0);
    ck_assert_weft(weft_cond_init(&x->c), 0);
    x->t0 = NOW();
    weft_task *t[N];
    for (int i = N - 1; i >= 0; i--)
        t[i] = spawn_actor(x, i, cond_waiter);
    ck_assert_weft(weft_sleep_until(x->t0 + 1000 * (N + 1)), 0);
    ck_assert_int_eq(x->inside, N);
    for (int k = 0; k < N; k++) {
        ck_assert_weft(weft_mutex_lock(&x->m), 0);
        ck_assert_weft(weft_cond_signal(&x->c), 0);
        /* The woken waiter needs the mutex: it cannot have returned yet. */
        ck_assert_int_eq(x->n, k);
        ck_assert_weft(weft_mutex_unlock(&x->m), 0);
        ck_assert_weft(weft_sleep(100), 0);
        ck_assert_int_eq(x->n, k + 1);
        ck_assert_int_eq(x->order[k], k);
    }
    /* No waiters left: a signal is a no-op. */
    ck_assert_weft(weft_cond_signal(&x->c), 0);
    for (int i = 0; i < N; i++) {
        ck_assert_weft(weft_join(t[i], NULL), 0);
        ck_assert_weft(x->a[i].result, 0);
    }
    ck_assert_weft(weft_cond_destroy(&x->c), 0);
    ck_assert_weft(weft_mutex_destroy(&x->m), 0);
    return NULL;
}

START_TEST(cond_signal_wakes_in_fifo_order)
{
    sync_ctx x;
    run_matrix(cond_fifo_body, &x, ctx_reset, 5);
}
END_TEST

static void *cond_broadcast_body(void *arg)
{
    sync_ctx *x = arg;
    enum { N = 6 };
    ck_assert_weft(weft_mutex_init(&x->m), 0);
    ck_assert_weft(weft_cond_init(&x->c), 0);
    x->t0 = NOW();
    weft_task *t[N];
    for (int i = 0; i < N; i++)
        t[i] = spawn_actor(x, i, cond_waiter);
    ck_assert_weft(weft_sleep_until(x->t0 + 1000 * (N + 1)), 0);
    ck_assert_int_eq(x->inside, N);
    ck_assert_int_eq(x->n, 0);
    ck_assert_weft(weft_cond_broadcast(&x->c), 0);
    ck_assert_weft(weft_sleep(100), 0);
    ck_assert_int_eq(x->n, N);
    for (int i = 0; i < N; i++) {
        ck_assert_weft(weft_join(t[i], NULL), 0);
        ck_assert_weft(x->a[i].result, 0);
        ck_assert_uint_eq(x->a[i].returned_at, x->t0 + 1000 * (N + 1));
    }
    ck_assert_weft(weft_cond_destroy(&x->c), 0);
    ck_assert_weft(weft_mutex_destroy(&x->m), 0);
    return NULL;
}

START_TEST(cond_broadcast_wakes_all)
{
    sync_ctx x;
    run_matrix(cond_broadcast_body, &x, ctx_reset, 5);
}
END_TEST

static void *cond_timed_waiter(void *arg)
{
    actor *a = arg;
    sync_ctx *x = a->ctx;
    ck_assert_weft(weft_mutex_lock(&x->m), 0);
    a->result = weft_cond_wait_until(&x->c, &x->m, x->t0 + 1000);
    a->returned_at = NOW() - x->t0;
    /* The mutex is ours again: nobody else can hold it now. */
    x->inside++;
    ck_assert_int_eq(x->inside, 1);
    ck_assert_weft(weft_mutex_unlock(&x->m), 0);
    return NULL;
}

static void *cond_timeout_body(void *arg)
{
    sync_ctx *x = arg;
    ck_assert_weft(weft_mutex_init(&x->m), 0);
    ck_assert_weft(weft_cond_init(&x->c), 0);
    x->t0 = NOW();
    weft_task *t = spawn_actor(x, 0, cond_timed_waiter);
    /* Take the mutex while it waits and keep it past its deadline: the
     * timed-out wait returns only once it holds the mutex again. */
    ck_assert_weft(weft_sleep(500), 0);
    ck_assert_weft(weft_mutex_lock(&x->m), 0);
    ck_assert_weft(weft_sleep(2500), 0);
    ck_assert_int_eq(x->inside, 0);
    ck_assert_weft(weft_mutex_unlock(&x->m), 0);
    ck_assert_weft(weft_join(t, NULL), 0);
    ck_assert_weft(x->a[0].result, WEFT_ETIMEDOUT);
    ck_assert_uint_eq(x->a[0].returned_at, 3000);
    /* A plain timeout with the mutex free returns at the deadline. */
    x->inside = 0;
    x->t0 = NOW();
    ck_assert_weft(run_actor(x, 0, cond_timed_waiter), WEFT_ETIMEDOUT);
    ck_assert_uint_eq(x->a[0].returned_at, 1000);
    /* The timed-out waiter is off the list: destroy works. */
    ck_assert_weft(weft_cond_destroy(&x->c), 0);
    ck_assert_weft(weft_mutex_destroy(&x->m), 0);
    return NULL;
}

START_TEST(cond_wait_until_times_out_with_mutex_held)
{
    sync_ctx x;
    run_matrix(cond_timeout_body, &x, ctx_reset, 3);
}
END_TEST

static void *cond_cancel_body(void *arg)
{
    sync_ctx *x = arg;
    ck_assert_weft(weft_mutex_init(&x->m), 0);
    ck_assert_weft(weft_cond_init(&x->c), 0);
    x->t0 = NOW();
    weft_task *t[2];
    for (int i = 0; i < 2; i++)
        t[i] = spawn_actor(x, i, cond_waiter);
    ck_assert_weft(weft_sleep_until(x->t0 + 3000), 0);
    /* Cancel the first waiter while the canceller holds the mutex: it wakes
     * with ECANCELED but returns only with the mutex re-acquired. */
    ck_assert_weft(weft_mutex_lock(&x->m), 0);
    ck_assert_weft(weft_cancel(t[0]), 0);
    ck_assert_weft(weft_sleep(100), 0);
    ck_assert_int_eq(x->n, 0);
    ck_assert_weft(weft_mutex_unlock(&x->m), 0);
    ck_assert_weft(weft_join(t[0], NULL), WEFT_ECANCELED);
    ck_assert_weft(x->a[0].result, WEFT_ECANCELED);
    ck_assert_int_eq(x->n, 1);
    /* It left the wait list: the one signal goes to the remaining waiter. */
    ck_assert_weft(weft_cond_signal(&x->c), 0);
    ck_assert_weft(weft_join(t[1], NULL), 0);
    ck_assert_weft(x->a[1].result, 0);
    ck_assert_int_eq(x->n, 2);
    ck_assert_int_eq(x->order[1], 1);
    ck_assert_weft(weft_cond_destroy(&x->c), 0);
    ck_assert_weft(weft_mutex_destroy(&x->m), 0);
    return NULL;
}

START_TEST(cond_cancel_waiter)
{
    sync_ctx x;
    run_matrix(cond_cancel_body, &x, ctx_reset, 3);
}
END_TEST

static void *cond_errors_body(void *arg)
{
    sync_ctx *x = arg;
    ck_assert_weft(weft_mutex_init(&x->m), 0);
    ck_assert_weft(weft_cond_init(&x->c), 0);
    /* Waiting without holding the mutex. */
    BAD(weft_cond_wait(&x->c, &x->m), WEFT_EPERM);
    BAD(weft_cond_wait_until(&x->c, &x->m, NOW() + 5), WEFT_EPERM);
    BAD(weft_cond_wait(NULL, &x->m), WEFT_EINVAL);
    ck_assert_weft(weft_mutex_lock(&x->m), 0);
    ck_assert_weft(weft_cond_wait(&x->c, NULL), WEFT_EINVAL);
    ck_assert_weft(weft_cond_wait_until(&x->c, &x->m, NOW() + 5), WEFT_ETIMEDOUT); /* still works */
    ck_assert_weft(weft_mutex_unlock(&x->m), 0);
    /* Destroy with a waiter (it waits from t0 + 1000). */
    x->t0 = NOW();
    weft_task *t = spawn_actor(x, 0, cond_waiter);
    ck_assert_weft(weft_sleep(2000), 0);
    ck_assert_weft(weft_cond_destroy(&x->c), WEFT_EBUSY);
    ck_assert_weft(weft_cond_broadcast(&x->c), 0);
    ck_assert_weft(weft_join(t, NULL), 0);
    ck_assert_weft(x->a[0].result, 0); /* woken by the broadcast */
    ck_assert_uint_eq(x->a[0].returned_at, x->t0 + 2000);
    ck_assert_weft(weft_cond_destroy(&x->c), 0);
    /* Use after destroy. */
    ck_assert_weft(weft_mutex_lock(&x->m), 0);
    ck_assert_weft(weft_cond_wait(&x->c, &x->m), WEFT_EINVAL);
    BAD(weft_cond_signal(&x->c), WEFT_EINVAL);
    BAD(weft_cond_broadcast(&x->c), WEFT_EINVAL);
    BAD(weft_cond_destroy(&x->c), WEFT_EINVAL);
    ck_assert_weft(weft_mutex_unlock(&x->m), 0); /* the refused wait left it held */
    ck_assert_weft(weft_mutex_destroy(&x->m), 0);
    /* A destroyed mutex is refused by a valid condition. */
    ck_assert_weft(weft_cond_init(&x->c), 0);
    ck_assert_weft(weft_cond_wait(&x->c, &x->m), WEFT_EINVAL);
    ck_assert_weft(weft_cond_destroy(&x->c), 0);
    return NULL;
}

START_TEST(cond_bad_use)
{
    sync_ctx x;
    ctx_reset(&x);
    ck_assert_weft(run_sim(1, 0, cond_errors_body, &x), 0);
}
END_TEST

/* ======================================================================== */
/* Semaphore                                                                 */
/* ======================================================================== */

static void *sem_basic_body(void *arg)
{
    sync_ctx *x = arg;
    ck_assert_weft(weft_sem_init(&x->s, 2), 0);
    ck_assert_uint_eq(weft_sem_value(&x->s), 2);
    ck_assert_weft(weft_sem_acquire(&x->s), 0);
    ck_assert_weft(weft_sem_try_acquire(&x->s), 0);
    ck_assert_uint_eq(weft_sem_value(&x->s), 0);
    ck_assert_weft(weft_sem_try_acquire(&x->s), WEFT_EAGAIN);
    ck_assert_weft(weft_sem_release(&x->s, 3), 0);
    ck_assert_uint_eq(weft_sem_value(&x->s), 3);
    ck_assert_weft(weft_sem_acquire_until(&x->s, 0), 0); /* can proceed: deadline irrelevant */
    ck_assert_uint_eq(weft_sem_value(&x->s), 2);
    /* Overflow is refused and changes nothing. */
    ck_assert_weft(weft_sem_release(&x->s, UINT64_MAX), WEFT_EINVAL);
    ck_assert_uint_eq(weft_sem_value(&x->s), 2);
    ck_assert_weft(weft_sem_release(&x->s, UINT64_MAX - 2), 0);
    ck_assert_uint_eq(weft_sem_value(&x->s), UINT64_MAX);
    ck_assert_weft(weft_sem_release(&x->s, 1), WEFT_EINVAL);
    ck_assert_weft(weft_sem_release(&x->s, 0), 0);
    ck_assert_weft(weft_sem_destroy(&x->s), 0);
    return NULL;
}

START_TEST(sem_acquire_release_try)
{
    sync_ctx x;
    ctx_reset(&x);
    ck_assert_weft(run_sim(1, 0, sem_basic_body, &x), 0);
}
END_TEST

static void *sem_waiter(void *arg)
{
    actor *a = arg;
    sync_ctx *x = a->ctx;
    ck_assert_weft(weft_sleep_until(x->t0 + 1000 * (uint64_t)(a->idx + 1)), 0);
    a->result = weft_sem_acquire(&x->s);
    a->returned_at = NOW();
    if (a->result == 0)
        x->order[x->n++] = a->idx;
    return NULL;
}

static void *sem_fifo_body(void *arg)
{
    sync_ctx *x = arg;
    enum { N = 5 };
    ck_assert_weft(weft_sem_init(&x->s, 0), 0);
    x->t0 = NOW();
    weft_task *t[N];
    for (int i = N - 1; i >= 0; i--)
        t[i] = spawn_actor(x, i, sem_waiter);
    ck_assert_weft(weft_sleep_until(x->t0 + 1000 * (N + 1)), 0);
    /* A permit released while tasks wait goes to the longest waiter, never
     * to a caller that was not queued. */
    ck_assert_weft(weft_sem_release(&x->s, 1), 0);
    ck_assert_weft(weft_sem_try_acquire(&x->s), WEFT_EAGAIN);
    ck_assert_uint_eq(weft_sem_value(&x->s), 0);
    ck_assert_weft(weft_sleep(100), 0);
    ck_assert_int_eq(x->n, 1);
    ck_assert_int_eq(x->order[0], 0);
    /* One at a time: each goes to the next waiter in arrival order. */
    for (int k = 1; k < 3; k++) {
        ck_assert_weft(weft_sem_release(&x->s, 1), 0);
        ck_assert_uint_eq(weft_sem_value(&x->s), 0);
        ck_assert_weft(weft_sleep(100), 0);
        ck_assert_int_eq(x->n, k + 1);
        ck_assert_int_eq(x->order[k], k);
    }
    /* More permits than waiters: each remaining waiter gets one and the
     * rest stays. */
    enum { LEFT = N - 3, SPARE = 3 };
    ck_assert_weft(weft_sem_release(&x->s, LEFT + SPARE), 0);
    ck_assert_uint_eq(weft_sem_value(&x->s), SPARE);
    ck_assert_weft(weft_sleep(100), 0);
    ck_assert_int_eq(x->n, N);
    int seen = 0;
    for (int i = 0; i < N; i++) {
        seen |= 1 << x->order[i];
        ck_assert_weft(weft_join(t[i], NULL), 0);
        ck_assert_weft(x->a[i].result, 0);
    }
    ck_assert_int_eq(seen, (1 << N) - 1);
    ck_assert_uint_eq(weft_sem_value(&x->s), SPARE);
    ck_assert_weft(weft_sem_destroy(&x->s), 0);
    return NULL;
}

START_TEST(sem_fifo_handoff)
{
    sync_ctx x;
    run_matrix(sem_fifo_body, &x, ctx_reset, 5);
}
END_TEST

static void *sem_timed(void *arg)
{
    actor *a = arg;
    sync_ctx *x = a->ctx;
    a->result = weft_sem_acquire_until(&x->s, x->t0 + 700);
    a->returned_at = NOW() - x->t0;
    return NULL;
}

static void *sem_timeout_cancel_body(void *arg)
{
    sync_ctx *x = arg;
    ck_assert_weft(weft_sem_init(&x->s, 0), 0);
    x->t0 = NOW();
    /* Timeout: nothing taken. */
    ck_assert_weft(run_actor(x, 0, sem_timed), WEFT_ETIMEDOUT);
    ck_assert_uint_eq(x->a[0].returned_at, 700);
    ck_assert_weft(weft_sem_acquire_until(&x->s, NOW()), WEFT_ETIMEDOUT);
    ck_assert_uint_eq(weft_sem_value(&x->s), 0);
    /* Cancel a queued waiter: it leaves the queue; the next permit goes to
     * the waiter behind it. */
    x->t0 = NOW();
    weft_task *w[3];
    for (int i = 0; i < 3; i++)
        w[i] = spawn_actor(x, i, sem_waiter);
    ck_assert_weft(weft_sleep_until(x->t0 + 4000), 0);
    ck_assert_weft(weft_cancel(w[0]), 0);
    ck_assert_weft(weft_join(w[0], NULL), WEFT_ECANCELED);
    ck_assert_weft(x->a[0].result, WEFT_ECANCELED);
    ck_assert_uint_eq(weft_sem_value(&x->s), 0);
    ck_assert_weft(weft_sem_release(&x->s, 1), 0);
    ck_assert_weft(weft_sleep(10), 0);
    ck_assert_int_eq(x->n, 1);
    ck_assert_int_eq(x->order[0], 1);
    ck_assert_weft(weft_join(w[1], NULL), 0);
    /* A permit handed to a waiter in the same step as its cancellation is
     * taken (not lost, not duplicated). */
    ck_assert_weft(weft_sem_release(&x->s, 1), 0);
    ck_assert_weft(weft_cancel(w[2]), 0);
    int jr = weft_join(w[2], NULL);
    ck_assert_msg(jr == 0 || jr == WEFT_ECANCELED, "join returned %d (%s)", jr, weft_strerror(jr));
    ck_assert_weft(x->a[2].result, 0);
    ck_assert_uint_eq(weft_sem_value(&x->s), 0);
    ck_assert_int_eq(x->n, 2);
    ck_assert_weft(weft_sem_destroy(&x->s), 0);
    return NULL;
}

START_TEST(sem_timeout_and_cancel_lose_nothing)
{
    sync_ctx x;
    run_matrix(sem_timeout_cancel_body, &x, ctx_reset, 3);
}
END_TEST

static void *sem_destroy_body(void *arg)
{
    sync_ctx *x = arg;
    ck_assert_weft(weft_sem_init(&x->s, 0), 0);
    x->t0 = NOW();
    weft_task *t = spawn_actor(x, 0, sem_waiter);
    ck_assert_weft(weft_sleep_until(x->t0 + 1000 + 10), 0); /* it waits from t0 + 1000 */
    ck_assert_weft(weft_sem_destroy(&x->s), WEFT_EBUSY);
    ck_assert_weft(weft_sem_release(&x->s, 1), 0);
    ck_assert_weft(weft_join(t, NULL), 0);
    ck_assert_weft(x->a[0].result, 0);
    ck_assert_weft(weft_sem_destroy(&x->s), 0);
    ck_assert_weft(weft_sem_acquire(&x->s), WEFT_EINVAL);
    ck_assert_weft(weft_sem_acquire_until(&x->s, 5), WEFT_EINVAL);
    ck_assert_weft(weft_sem_try_acquire(&x->s), WEFT_EINVAL);
    ck_assert_weft(weft_sem_release(&x->s, 1), WEFT_EINVAL);
    ck_assert_weft(weft_sem_destroy(&x->s), WEFT_EINVAL);
    ck_assert_uint_eq(weft_sem_value(&x->s), 0);
    ck_assert_weft(weft_sem_init(&x->s, 1), 0);
    ck_assert_weft(weft_sem_acquire(&x->s), 0);
    ck_assert_weft(weft_sem_destroy(&x->s), 0);
    return NULL;
}

START_TEST(sem_destroy_busy_and_use_after_destroy)
{
    sync_ctx x;
    ctx_reset(&x);
    ck_assert_weft(run_sim(1, 0, sem_destroy_body, &x), 0);
}
END_TEST

/* ======================================================================== */
/* Wait group                                                                */
/* ======================================================================== */

static void *wg_worker(void *arg)
{
    actor *a = arg;
    sync_ctx *x = a->ctx;
    ck_assert_weft(weft_sleep(1000 * (uint64_t)(a->idx + 1)), 0);
    x->counter++;
    ck_assert_weft(weft_wg_done(&x->wg), 0);
    return NULL;
}

static void *wg_waiter(void *arg)
{
    actor *a = arg;
    sync_ctx *x = a->ctx;
    a->result = weft_wg_wait(&x->wg);
    a->returned_at = NOW() - x->t0;
    return NULL;
}

static void *wg_body(void *arg)
{
    sync_ctx *x = arg;
    enum { N = 4 };
    ck_assert_weft(weft_wg_init(&x->wg), 0);
    ck_assert_weft(weft_wg_wait(&x->wg), 0); /* zero: no wait */
    x->t0 = NOW();
    ck_assert_weft(weft_wg_add(&x->wg, N), 0);
    weft_task *t[N], *w2;
    for (int i = 0; i < N; i++)
        t[i] = spawn_actor(x, i, wg_worker);
    w2 = spawn_actor(x, 8, wg_waiter);
    ck_assert_weft(weft_wg_wait_until(&x->wg, x->t0 + 2500), WEFT_ETIMEDOUT);
    ck_assert_uint_eq(NOW() - x->t0, 2500);
    ck_assert_int_eq(x->counter, 2);
    ck_assert_weft(weft_wg_wait(&x->wg), 0);
    ck_assert_uint_eq(NOW() - x->t0, 1000 * N);
    ck_assert_int_eq(x->counter, N);
    ck_assert_weft(weft_join(w2, NULL), 0);
    ck_assert_weft(x->a[8].result, 0);
    ck_assert_uint_eq(x->a[8].returned_at, 1000 * N);
    for (int i = 0; i < N; i++)
        ck_assert_weft(weft_join(t[i], NULL), 0);
    /* Going below zero is refused and changes nothing. */
    ck_assert_weft(weft_wg_done(&x->wg), WEFT_EINVAL);
    ck_assert_weft(weft_wg_add(&x->wg, 2), 0);
    ck_assert_weft(weft_wg_add(&x->wg, -3), WEFT_EINVAL);
    ck_assert_weft(weft_wg_add(&x->wg, INT64_MIN), WEFT_EINVAL);
    ck_assert_weft(weft_wg_add(&x->wg, INT64_MAX), WEFT_EINVAL);
    ck_assert_weft(weft_wg_wait_until(&x->wg, NOW() + 10), WEFT_ETIMEDOUT);
    ck_assert_weft(weft_wg_add(&x->wg, -2), 0);
    ck_assert_weft(weft_wg_wait(&x->wg), 0);
    /* A cancelled waiter leaves; destroy with a waiter is refused. */
    ck_assert_weft(weft_wg_add(&x->wg, 1), 0);
    x->t0 = NOW();
    w2 = spawn_actor(x, 8, wg_waiter);
    ck_assert_weft(weft_sleep(10), 0);
    ck_assert_weft(weft_wg_destroy(&x->wg), WEFT_EBUSY);
    ck_assert_weft(weft_cancel(w2), 0);
    ck_assert_weft(weft_join(w2, NULL), WEFT_ECANCELED);
    ck_assert_weft(x->a[8].result, WEFT_ECANCELED);
    ck_assert_weft(weft_wg_destroy(&x->wg), 0);
    ck_assert_weft(weft_wg_add(&x->wg, 1), WEFT_EINVAL);
    ck_assert_weft(weft_wg_done(&x->wg), WEFT_EINVAL);
    ck_assert_weft(weft_wg_wait(&x->wg), WEFT_EINVAL);
    ck_assert_weft(weft_wg_destroy(&x->wg), WEFT_EINVAL);
    return NULL;
}

START_TEST(wg_wait_timeout_cancel_and_range)
{
    sync_ctx x;
    run_matrix(wg_body, &x, ctx_reset, 3);
}
END_TEST

/* ======================================================================== */
/* Barrier                                                                   */
/* ======================================================================== */

enum { BARRIER_PARTIES = 3, BARRIER_ROUNDS = 6 };

typedef struct barrier_ctx {
    weft_barrier b;
    int arrived[BARRIER_ROUNDS];
    int serial[BARRIER_ROUNDS];
    int passed[BARRIER_ROUNDS];
} barrier_ctx;

static void *barrier_party(void *arg)
{
    barrier_ctx *x = arg;
    for (int r = 0; r < BARRIER_ROUNDS; r++) {
        x->arrived[r]++;
        weft_sched_point();
        int got = weft_barrier_wait(&x->b);
        ck_assert_msg(got == 0 || got == 1, "barrier_wait returned %d (%s)", got, weft_strerror(got));
        if (got == 1) {
            /* The serial task is the last of its generation to arrive. */
            ck_assert_int_eq(x->arrived[r], BARRIER_PARTIES);
            x->serial[r]++;
        }
        x->passed[r]++;
        weft_sched_point();
    }
    return NULL;
}

static void *barrier_body(void *arg)
{
    barrier_ctx *x = arg;
    ck_assert_weft(weft_barrier_init(&x->b, BARRIER_PARTIES), 0);
    weft_task *t[BARRIER_PARTIES];
    for (int i = 0; i < BARRIER_PARTIES; i++)
        t[i] = spawn_ok(barrier_party, x);
    for (int i = 0; i < BARRIER_PARTIES; i++)
        ck_assert_weft(weft_join(t[i], NULL), 0);
    for (int r = 0; r < BARRIER_ROUNDS; r++) {
        ck_assert_int_eq(x->serial[r], 1);
        ck_assert_int_eq(x->passed[r], BARRIER_PARTIES);
    }
    ck_assert_weft(weft_barrier_destroy(&x->b), 0);
    return NULL;
}

static void barrier_reset(void *p)
{
    memset(p, 0, sizeof(barrier_ctx));
}

START_TEST(barrier_one_serial_per_generation)
{
    barrier_ctx x;
    run_matrix(barrier_body, &x, barrier_reset, 20);
}
END_TEST

static void *barrier_waiter(void *arg)
{
    actor *a = arg;
    a->result = weft_barrier_wait(&a->ctx->b);
    a->returned_at = NOW();
    return NULL;
}

static void *barrier_cancel_body(void *arg)
{
    sync_ctx *x = arg;
    ck_assert_weft(weft_barrier_init(&x->b, 3), 0);
    weft_task *t[4];
    for (int i = 0; i < 2; i++) {
        x->a[i].ctx = x;
        x->a[i].result = 7;
        t[i] = spawn_ok(barrier_waiter, &x->a[i]);
    }
    ck_assert_weft(weft_sleep(100), 0);
    /* Two of three arrived; cancel one: its arrival is withdrawn. */
    ck_assert_weft(weft_cancel(t[0]), 0);
    ck_assert_weft(weft_join(t[0], NULL), WEFT_ECANCELED);
    ck_assert_weft(x->a[0].result, WEFT_ECANCELED);
    x->a[2].ctx = x;
    x->a[2].result = 7;
    t[2] = spawn_ok(barrier_waiter, &x->a[2]);
    ck_assert_weft(weft_sleep(100), 0);
    /* Two arrivals count now, not three: nobody passed. */
    ck_assert_int_eq(x->a[1].result, 7);
    ck_assert_int_eq(x->a[2].result, 7);
    ck_assert_weft(weft_barrier_destroy(&x->b), WEFT_EBUSY);
    x->a[3].ctx = x;
    x->a[3].result = 7;
    t[3] = spawn_ok(barrier_waiter, &x->a[3]);
    for (int i = 1; i < 4; i++)
        ck_assert_weft(weft_join(t[i], NULL), 0);
    ck_assert_int_eq(x->a[1].result + x->a[2].result + x->a[3].result, 1);
    ck_assert_int_eq(x->a[3].result, 1); /* the last to arrive */
    ck_assert_weft(weft_barrier_destroy(&x->b), 0);
    ck_assert_weft(weft_barrier_wait(&x->b), WEFT_EINVAL);
    ck_assert_weft(weft_barrier_destroy(&x->b), WEFT_EINVAL);
    /* One party: every wait is its own generation. */
    ck_assert_weft(weft_barrier_init(&x->b, 1), 0);
    ck_assert_weft(weft_barrier_wait(&x->b), 1);
    ck_assert_weft(weft_barrier_wait(&x->b), 1);
    ck_assert_weft(weft_barrier_destroy(&x->b), 0);
    ck_assert_weft(weft_barrier_init(&x->b, 0), WEFT_EINVAL);
    ck_assert_weft(weft_barrier_init(NULL, 2), WEFT_EINVAL);
    return NULL;
}

START_TEST(barrier_cancelled_waiter_withdraws)
{
    sync_ctx x;
    run_matrix(barrier_cancel_body, &x, ctx_reset, 3);
}
END_TEST

/* ======================================================================== */
/* Event                                                                     */
/* ======================================================================== */

static void *event_waiter(void *arg)
{
    actor *a = arg;
    a->result = weft_event_wait(&a->ctx->e);
    a->returned_at = NOW() - a->ctx->t0;
    return NULL;
}

static void *event_timed_waiter(void *arg)
{
    actor *a = arg;
    a->result = weft_event_wait_until(&a->ctx->e, a->ctx->t0 + 500);
    a->returned_at = NOW() - a->ctx->t0;
    return NULL;
}

static void *event_body(void *arg)
{
    sync_ctx *x = arg;
    ck_assert_weft(weft_event_init(&x->e, 0), 0);
    ck_assert_int_eq(weft_event_is_set(&x->e), 0);
    x->t0 = NOW();
    weft_task *t[5];
    for (int i = 0; i < 5; i++)
        t[i] = spawn_actor(x, i, i < 3 ? event_waiter : event_timed_waiter);
    ck_assert_weft(weft_sleep(1000), 0);
    /* The timed waiters gave up at their deadline. */
    for (int i = 3; i < 5; i++) {
        ck_assert_weft(weft_join(t[i], NULL), 0);
        ck_assert_weft(x->a[i].result, WEFT_ETIMEDOUT);
        ck_assert_uint_eq(x->a[i].returned_at, 500);
    }
    ck_assert_weft(weft_event_destroy(&x->e), WEFT_EBUSY);
    ck_assert_weft(weft_cancel(t[2]), 0);
    ck_assert_weft(weft_join(t[2], NULL), WEFT_ECANCELED);
    ck_assert_weft(x->a[2].result, WEFT_ECANCELED);
    ck_assert_weft(weft_event_set(&x->e), 0);
    for (int i = 0; i < 2; i++) {
        ck_assert_weft(weft_join(t[i], NULL), 0);
        ck_assert_weft(x->a[i].result, 0);
        ck_assert_uint_eq(x->a[i].returned_at, 1000);
    }
    /* Manual reset: stays set until reset. */
    ck_assert_int_eq(weft_event_is_set(&x->e), 1);
    ck_assert_weft(weft_event_wait(&x->e), 0);
    ck_assert_weft(weft_event_wait_until(&x->e, 0), 0);
    ck_assert_weft(weft_event_set(&x->e), 0); /* idempotent */
    ck_assert_weft(weft_event_reset(&x->e), 0);
    ck_assert_int_eq(weft_event_is_set(&x->e), 0);
    ck_assert_weft(weft_event_wait_until(&x->e, NOW() + 50), WEFT_ETIMEDOUT);
    ck_assert_weft(weft_event_destroy(&x->e), 0);
    ck_assert_weft(weft_event_set(&x->e), WEFT_EINVAL);
    ck_assert_weft(weft_event_reset(&x->e), WEFT_EINVAL);
    ck_assert_weft(weft_event_wait(&x->e), WEFT_EINVAL);
    ck_assert_weft(weft_event_is_set(&x->e), WEFT_EINVAL);
    ck_assert_weft(weft_event_destroy(&x->e), WEFT_EINVAL);
    ck_assert_weft(weft_event_init(&x->e, 1), 0);
    ck_assert_int_eq(weft_event_is_set(&x->e), 1);
    ck_assert_weft(weft_event_wait(&x->e), 0);
    ck_assert_weft(weft_event_destroy(&x->e), 0);
    return NULL;
}

START_TEST(event_set_reset_wait)
{
    sync_ctx x;
    run_matrix(event_body, &x, ctx_reset, 3);
}
END_TEST

/* ======================================================================== */
/* Once                                                                      */
/* ======================================================================== */

typedef struct once_ctx {
    weft_once o;
    int runs, done;
    int callers_after_done;
    int results[8];
} once_ctx;

static void once_fn(void *arg)
{
    once_ctx *x = arg;
    x->runs++;
    /* Long enough for every other caller to arrive while it runs. */
    weft_sched_point();
    ck_assert_weft(weft_sleep(1000), 0);
    weft_sched_point();
    x->done = 1;
}

typedef struct once_caller {
    once_ctx *x;
    int idx;
} once_caller;

static void *once_call_task(void *arg)
{
    once_caller *c = arg;
    weft_sleep((uint64_t)c->idx * 10);
    c->x->results[c->idx] = weft_once_call(&c->x->o, once_fn, c->x);
    /* Nobody returns before fn has finished. */
    if (c->x->done)
        c->x->callers_after_done++;
    return NULL;
}

static void *once_body(void *arg)
{
    once_ctx *x = arg;
    enum { N = 6 };
    once_caller c[N];
    weft_task *t[N];
    for (int i = 0; i < N; i++) {
        c[i].x = x;
        c[i].idx = i;
        x->results[i] = 1;
        t[i] = spawn_ok(once_call_task, &c[i]);
    }
    for (int i = 0; i < N; i++)
        ck_assert_weft(weft_join(t[i], NULL), 0);
    ck_assert_int_eq(x->runs, 1);
    ck_assert_int_eq(x->callers_after_done, N);
    for (int i = 0; i < N; i++)
        ck_assert_weft(x->results[i], 0);
    ck_assert_weft(weft_once_call(&x->o, once_fn, x), 0);
    ck_assert_int_eq(x->runs, 1);
    return NULL;
}

static void once_reset(void *p)
{
    once_ctx *x = p;
    memset(x, 0, sizeof *x);
    weft_once init = WEFT_ONCE_INIT;
    x->o = init;
}

START_TEST(once_runs_exactly_once)
{
    once_ctx x;
    run_matrix(once_body, &x, once_reset, 10);
}
END_TEST

static void count_run(void *arg)
{
    (*(int *)arg)++;
}

static void *once_cancel_body(void *arg)
{
    once_ctx *x = arg;
    /* A caller cancelled while it waits for fn leaves with ECANCELED; fn
     * still runs once and completes. */
    once_caller c[2] = {{x, 0}, {x, 1}};
    weft_task *t0 = spawn_ok(once_call_task, &c[0]);
    weft_task *t1 = spawn_ok(once_call_task, &c[1]);
    ck_assert_weft(weft_sleep(100), 0);
    ck_assert_weft(weft_cancel(t1), 0);
    ck_assert_weft(weft_join(t1, NULL), WEFT_ECANCELED);
    ck_assert_weft(x->results[1], WEFT_ECANCELED);
    ck_assert_int_eq(x->done, 0);
    ck_assert_weft(weft_join(t0, NULL), 0);
    ck_assert_weft(x->results[0], 0);
    ck_assert_int_eq(x->runs, 1);
    ck_assert_int_eq(x->done, 1);
    /* Bad input, then a good call. */
    ck_assert_weft(weft_once_call(NULL, once_fn, x), WEFT_EINVAL);
    weft_once o2 = WEFT_ONCE_INIT;
    ck_assert_weft(weft_once_call(&o2, NULL, x), WEFT_EINVAL);
    int n = 0;
    ck_assert_weft(weft_once_call(&o2, count_run, &n), 0);
    ck_assert_weft(weft_once_call(&o2, count_run, &n), 0);
    ck_assert_int_eq(n, 1);
    return NULL;
}

START_TEST(once_waiter_cancelled)
{
    once_ctx x;
    run_matrix(once_cancel_body, &x, once_reset, 3);
}
END_TEST

/* ======================================================================== */
/* A cancel that lands while a task is entering a wait                       */
/* ======================================================================== */

/* The blocking calls take a scheduling point between their cancellation
 * check and the park (always for a condition wait; for the others when a
 * racy "can proceed" peek turns out wrong because a competitor got there
 * first). With several workers a cancel can land exactly there; it must not
 * be lost: the victim returns ECANCELED (or completes) instead of parking
 * for good. Run over many seeds so the interleaving is hit. */
typedef struct race_ctx {
    sync_ctx *x;
    int which;
    int result, thief;
} race_ctx;

static void *race_victim(void *arg)
{
    race_ctx *rc = arg;
    sync_ctx *x = rc->x;
    switch (rc->which) {
    case 0: /* condition: never signalled */
        rc->result = weft_mutex_lock(&x->m);
        if (rc->result == 0) {
            rc->result = weft_cond_wait(&x->c, &x->m);
            ck_assert_weft(weft_mutex_unlock(&x->m), 0); /* held again, cancelled or not */
        }
        break;
    case 1: /* semaphore: one permit, raced for by the thief */
        rc->result = weft_sem_acquire(&x->s);
        break;
    case 2: /* mutex: free, raced for by the thief */
        rc->result = weft_mutex_lock(&x->m);
        if (rc->result == 0)
            ck_assert_weft(weft_mutex_unlock(&x->m), 0);
        break;
    default: /* event: set, then reset by the thief */
        rc->result = weft_event_wait(&x->e);
        break;
    }
    return NULL;
}

static void *race_thief(void *arg)
{
    race_ctx *rc = arg;
    sync_ctx *x = rc->x;
    switch (rc->which) {
    case 1: rc->thief = weft_sem_try_acquire(&x->s); break;
    case 2:
        if (weft_mutex_trylock(&x->m) == 0) {
            weft_sched_point();
            ck_assert_weft(weft_mutex_unlock(&x->m), 0);
        }
        break;
    case 3: ck_assert_weft(weft_event_reset(&x->e), 0); break;
    default: break;
    }
    return NULL;
}

static void *race_body(void *arg)
{
    race_ctx *rc = arg;
    sync_ctx *x = rc->x;
    ctx_reset(x);
    ck_assert_weft(weft_mutex_init(&x->m), 0);
    ck_assert_weft(weft_cond_init(&x->c), 0);
    ck_assert_weft(weft_sem_init(&x->s, 1), 0);
    ck_assert_weft(weft_event_init(&x->e, 1), 0);
    rc->result = 1;
    cancel_race(race_victim, race_thief, rc, &rc->result);
    /* Whatever happened, nothing was lost: the permit is taken by exactly
     * one of them or still there; the mutex is free. */
    if (rc->which == 1)
        ck_assert_uint_eq(weft_sem_value(&x->s) + (rc->result == 0) + (rc->thief == 0), 1);
    ck_assert_weft(weft_mutex_trylock(&x->m), 0);
    ck_assert_weft(weft_mutex_unlock(&x->m), 0);
    ck_assert_weft(weft_cond_destroy(&x->c), 0);
    ck_assert_weft(weft_sem_destroy(&x->s), 0);
    ck_assert_weft(weft_event_destroy(&x->e), 0);
    ck_assert_weft(weft_mutex_destroy(&x->m), 0);
    return NULL;
}

static void race_reset(void *p)
{
    race_ctx *rc = p;
    rc->result = 1;
    rc->thief = 1;
}

START_TEST(cancel_while_entering_a_wait_is_not_lost)
{
    static const char *const names[] = {"cond_wait", "sem_acquire", "mutex_lock", "event_wait"};
    sync_ctx x;
    for (int which = 0; which < 4; which++) {
        race_ctx rc = {&x, which, 1, 1};
        run_race(race_body, &rc, race_reset, names[which]);
    }
}
END_TEST

/* The same window in weft_sleep (loop.c): its scheduling point comes after
 * the cancellation check. A cancel landing there must still stop the sleep:
 * it returns WEFT_ECANCELED at once instead of running its whole length. */
typedef struct sleep_race {
    int result;
    uint64_t slept;
} sleep_race;

static void *sleep_victim(void *arg)
{
    sleep_race *sr = arg;
    uint64_t t0 = NOW();
    sr->result = weft_sleep(1000000000ull);
    sr->slept = NOW() - t0;
    return NULL;
}

static void *sleep_race_body(void *arg)
{
    sleep_race *sr = arg;
    cancel_race(sleep_victim, NULL, sr, &sr->result);
    /* Cancelled at t=0, long before the second was over. */
    ck_assert_weft(sr->result, WEFT_ECANCELED);
    ck_assert_uint_eq(sr->slept, 0);
    return NULL;
}

static void sleep_race_reset(void *p)
{
    sleep_race *sr = p;
    sr->result = 1;
    sr->slept = 0;
}

START_TEST(cancel_while_entering_sleep_is_not_lost)
{
    sleep_race sr;
    run_race(sleep_race_body, &sr, sleep_race_reset, NULL);
}
END_TEST

/* ======================================================================== */
/* Bad input, and blocking outside a task                                    */
/* ======================================================================== */

static void *good_ops_body(void *arg)
{
    sync_ctx *x = arg;
    ck_assert_weft(weft_mutex_lock(&x->m), 0);
    ck_assert_weft(weft_cond_wait_until(&x->c, &x->m, NOW() + 10), WEFT_ETIMEDOUT);
    ck_assert_weft(weft_mutex_unlock(&x->m), 0);
    ck_assert_weft(weft_sem_acquire(&x->s), 0);
    ck_assert_weft(weft_wg_wait(&x->wg), 0);
    ck_assert_weft(weft_barrier_wait(&x->b), 1);
    ck_assert_weft(weft_event_wait(&x->e), 0);
    x->counter++;
    return NULL;
}

START_TEST(sync_blocking_outside_task_is_eperm)
{
    sync_ctx x;
    ctx_reset(&x);
    ck_assert_weft(weft_mutex_init(&x.m), 0);
    ck_assert_weft(weft_cond_init(&x.c), 0);
    ck_assert_weft(weft_sem_init(&x.s, 1), 0);
    ck_assert_weft(weft_wg_init(&x.wg), 0);
    ck_assert_weft(weft_barrier_init(&x.b, 1), 0);
    ck_assert_weft(weft_event_init(&x.e, 1), 0);
    /* Every blocking call refuses outside a task, even when it could
     * proceed at once. */
    ck_assert_weft(weft_mutex_lock(&x.m), WEFT_EPERM);
    ck_assert_weft(weft_mutex_lock_until(&x.m, 5), WEFT_EPERM);
    ck_assert_weft(weft_mutex_trylock(&x.m), WEFT_EPERM);
    ck_assert_weft(weft_cond_wait(&x.c, &x.m), WEFT_EPERM);
    ck_assert_weft(weft_cond_wait_until(&x.c, &x.m, 5), WEFT_EPERM);
    ck_assert_weft(weft_sem_acquire(&x.s), WEFT_EPERM);
    ck_assert_weft(weft_sem_acquire_until(&x.s, 5), WEFT_EPERM);
    ck_assert_weft(weft_wg_wait(&x.wg), WEFT_EPERM);
    ck_assert_weft(weft_wg_wait_until(&x.wg, 5), WEFT_EPERM);
    ck_assert_weft(weft_barrier_wait(&x.b), WEFT_EPERM);
    ck_assert_weft(weft_event_wait(&x.e), WEFT_EPERM);
    ck_assert_weft(weft_event_wait_until(&x.e, 5), WEFT_EPERM);
    /* The calls that do not block are refused too: outside a task, the
     * threading model has no way to know the object's runtime is not
     * running on another thread (THREADING.md rule 9). */
    ck_assert_weft(weft_sem_try_acquire(&x.s), WEFT_EPERM);
    ck_assert_weft(weft_sem_release(&x.s, 1), WEFT_EPERM);
    ck_assert_weft(weft_wg_add(&x.wg, 1), WEFT_EPERM);
    ck_assert_weft(weft_wg_done(&x.wg), WEFT_EPERM);
    ck_assert_weft(weft_event_set(&x.e), WEFT_EPERM);
    ck_assert_weft(weft_event_reset(&x.e), WEFT_EPERM);
    ck_assert_weft(weft_cond_signal(&x.c), WEFT_EPERM);
    ck_assert_weft(weft_cond_broadcast(&x.c), WEFT_EPERM);
    /* Nothing was changed by the refusals. */
    ck_assert_uint_eq(weft_sem_value(&x.s), 1);
    ck_assert_int_eq(weft_event_is_set(&x.e), 1);
    ck_assert_int_eq(x.wg.count, 0);
    /* The same objects work in a task afterwards. */
    ck_assert_weft(run_sim(1, 0, good_ops_body, &x), 0);
    ck_assert_int_eq(x.counter, 1);
    ck_assert_weft(weft_mutex_destroy(&x.m), 0);
    ck_assert_weft(weft_cond_destroy(&x.c), 0);
    ck_assert_weft(weft_sem_destroy(&x.s), 0);
    ck_assert_weft(weft_wg_destroy(&x.wg), 0);
    ck_assert_weft(weft_barrier_destroy(&x.b), 0);
    ck_assert_weft(weft_event_destroy(&x.e), 0);
}
END_TEST

static void *null_objects_body(void *arg)
{
    sync_ctx *x = arg;
    BAD(weft_mutex_init(NULL), WEFT_EINVAL);
    BAD(weft_mutex_destroy(NULL), WEFT_EINVAL);
    BAD(weft_mutex_lock(NULL), WEFT_EINVAL);
    BAD(weft_mutex_lock_until(NULL, 5), WEFT_EINVAL);
    BAD(weft_mutex_trylock(NULL), WEFT_EINVAL);
    BAD(weft_mutex_unlock(NULL), WEFT_EINVAL);
    BAD(weft_cond_init(NULL), WEFT_EINVAL);
    BAD(weft_cond_destroy(NULL), WEFT_EINVAL);
    BAD(weft_cond_signal(NULL), WEFT_EINVAL);
    BAD(weft_cond_broadcast(NULL), WEFT_EINVAL);
    BAD(weft_sem_init(NULL, 1), WEFT_EINVAL);
    BAD(weft_sem_destroy(NULL), WEFT_EINVAL);
    BAD(weft_sem_acquire(NULL), WEFT_EINVAL);
    BAD(weft_sem_try_acquire(NULL), WEFT_EINVAL);
    BAD(weft_sem_release(NULL, 1), WEFT_EINVAL);
    ck_assert_uint_eq(weft_sem_value(NULL), 0);
    BAD(weft_wg_init(NULL), WEFT_EINVAL);
    BAD(weft_wg_destroy(NULL), WEFT_EINVAL);
    BAD(weft_wg_add(NULL, 1), WEFT_EINVAL);
    BAD(weft_wg_done(NULL), WEFT_EINVAL);
    BAD(weft_wg_wait(NULL), WEFT_EINVAL);
    BAD(weft_barrier_destroy(NULL), WEFT_EINVAL);
    BAD(weft_barrier_wait(NULL), WEFT_EINVAL);
    BAD(weft_event_init(NULL, 0), WEFT_EINVAL);
    BAD(weft_event_destroy(NULL), WEFT_EINVAL);
    BAD(weft_event_set(NULL), WEFT_EINVAL);
    BAD(weft_event_reset(NULL), WEFT_EINVAL);
    BAD(weft_event_is_set(NULL), WEFT_EINVAL);
    BAD(weft_event_wait(NULL), WEFT_EINVAL);
    /* Never initialized (garbage) objects are refused too. */
    weft_mutex gm;
    weft_sem gs;
    memset(&gm, 0x5A, sizeof gm);
    memset(&gs, 0x5A, sizeof gs);
    BAD(weft_mutex_lock(&gm), WEFT_EINVAL);
    BAD(weft_sem_acquire(&gs), WEFT_EINVAL);
    /* The runtime is fine afterwards. */
    ck_assert_weft(weft_mutex_init(&x->m), 0);
    ck_assert_weft(weft_mutex_lock(&x->m), 0);
    ck_assert_weft(weft_mutex_unlock(&x->m), 0);
    ck_assert_weft(weft_mutex_destroy(&x->m), 0);
    ck_assert_weft(weft_sleep(10), 0);
    x->counter = 1;
    return NULL;
}

START_TEST(sync_null_and_uninitialized_objects)
{
    sync_ctx x;
    ctx_reset(&x);
    ck_assert_weft(run_sim(1, 0, null_objects_body, &x), 0);
    ck_assert_int_eq(x.counter, 1);
}
END_TEST

/* ======================================================================== */
/* The real backend                                                          */
/* ======================================================================== */

static void *threaded_locker(void *arg)
{
    actor *a = arg;
    sync_ctx *x = a->ctx;
    for (int i = 0; i < 50; i++) {
        ck_assert_weft(weft_mutex_lock(&x->m), 0);
        x->inside++;
        ck_assert_int_eq(x->inside, 1);
        weft_yield();
        x->counter++;
        x->inside--;
        ck_assert_weft(weft_mutex_unlock(&x->m), 0);
        weft_yield();
    }
    return NULL;
}

static void *queue_locker(void *arg)
{
    actor *a = arg;
    ck_assert_weft(weft_mutex_lock(&a->ctx->m), 0);
    a->ctx->order[a->ctx->n++] = a->idx;
    ck_assert_weft(weft_mutex_unlock(&a->ctx->m), 0);
    return NULL;
}

static void *threaded_sync_body(void *arg)
{
    sync_ctx *x = arg;
    ck_assert_weft(weft_mutex_init(&x->m), 0);
    ck_assert_weft(weft_cond_init(&x->c), 0);
    ck_assert_weft(weft_sem_init(&x->s, 0), 0);
    weft_task *t[4];
    for (int i = 0; i < 4; i++)
        t[i] = spawn_actor(x, i, threaded_locker);
    for (int i = 0; i < 4; i++)
        ck_assert_weft(weft_join(t[i], NULL), 0);
    ck_assert_int_eq(x->counter, 200);
    /* Real timeouts: the wait lasts at least its timeout, with the mutex
     * held again on return. */
    ck_assert_weft(weft_mutex_lock(&x->m), 0);
    uint64_t t0 = NOW();
    ck_assert_weft(weft_cond_wait_until(&x->c, &x->m, t0 + 3 * MS), WEFT_ETIMEDOUT);
    ck_assert_uint_ge(NOW() - t0, 3 * MS);
    ck_assert_weft(weft_mutex_unlock(&x->m), 0);
    t0 = NOW();
    ck_assert_weft(weft_sem_acquire_until(&x->s, t0 + 2 * MS), WEFT_ETIMEDOUT);
    ck_assert_uint_ge(NOW() - t0, 2 * MS);
    /* A FIFO hand-off on the real backend too. */
    ck_assert_weft(weft_mutex_lock(&x->m), 0);
    x->n = 0;
    for (int i = 0; i < 3; i++) {
        t[i] = spawn_actor(x, i, queue_locker);
        weft_yield(); /* one worker, FIFO queue: it runs and queues on m */
    }
    ck_assert_weft(weft_mutex_unlock(&x->m), 0);
    ck_assert_weft(weft_mutex_trylock(&x->m), WEFT_EBUSY); /* handed off */
    for (int i = 0; i < 3; i++)
        ck_assert_weft(weft_join(t[i], NULL), 0);
    ck_assert_int_eq(x->n, 3);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(x->order[i], i);
    ck_assert_weft(weft_mutex_destroy(&x->m), 0);
    ck_assert_weft(weft_cond_destroy(&x->c), 0);
    ck_assert_weft(weft_sem_destroy(&x->s), 0);
    return NULL;
}

START_TEST(threaded_mutex_cond_sem)
{
    sync_ctx x;
    ctx_reset(&x);
    weft_config c = threaded_config();
    ck_assert_weft(run_in(&c, threaded_sync_body, &x, NULL), 0);
}
END_TEST

/* ---- condition and once across 2 and 4 real workers ---- */

/* Hang protection for the waits below: a wait that lasts this long lost its
 * wake-up (every wake comes within microseconds; a minute is far above any
 * sanitizer's or a loaded machine's delay). */
#define LOST_WAKEUP_NS (60ull * 1000 * MS)

static unsigned xw_rounds(unsigned n)
{
    return under_valgrind() || under_tsan() ? n / 10 + 1 : n;
}

static weft_config xw_config(unsigned workers)
{
    weft_config c = threaded_config();
    c.workers = workers;
    return c;
}

enum { XW_RING = 8, XW_PRODUCERS = 4, XW_CONSUMERS = 4, XW_CALLERS = 16 };

typedef struct xw_ctx {
    weft_mutex m;
    weft_cond c;
    unsigned rounds;
    /* the ring: the token goes round XW_RING tasks, each waiting its turn */
    int turn, passes;
    /* producers and consumers, woken one at a time */
    int avail, produced, consumed, total;
    int eaten[XW_CONSUMERS];
    /* what went wrong, counted where it happened (any worker) */
    atomic_int lost_wakeups, errors;
    /* once */
    weft_once o;
    weft_event go;
    atomic_int runs;
    int value, want;
    atomic_int saw_value;
    atomic_uint workers_seen; /* a bit per worker index that ran a task here */
    unsigned nworkers;
} xw_ctx;

typedef struct xw_arg {
    xw_ctx *x;
    int idx;
} xw_arg;

/* Spawn task i of a test: the even ones pinned round the workers (so the
 * wakes certainly cross workers: a pinned task is woken through its
 * worker's remote queue), the odd ones free to be stolen. */
static weft_task *xw_spawn(xw_ctx *x, int i, weft_fn fn, void *arg)
{
    weft_spawn_opts o;
    memset(&o, 0, sizeof o);
    if (i % 2 == 0) {
        o.flags = WEFT_SPAWN_PINNED;
        o.worker = (unsigned)(i / 2) % x->nworkers;
    }
    weft_task *t;
    ck_assert_weft(weft_spawn_ex(&t, fn, arg, &o), 0);
    return t;
}

/* Wait on x->c with x->m held; a timeout is a lost wake-up. */
static void xw_wait(xw_ctx *x)
{
    int r = weft_cond_wait_until(&x->c, &x->m, weft_now() + LOST_WAKEUP_NS);
    if (r == WEFT_ETIMEDOUT)
        atomic_fetch_add(&x->lost_wakeups, 1);
    else if (r != 0)
        atomic_fetch_add(&x->errors, 1);
}

static void *xw_ring_member(void *arg)
{
    xw_arg *a = arg;
    xw_ctx *x = a->x;
    for (unsigned r = 0; r < x->rounds; r++) {
        atomic_fetch_or(&x->workers_seen, 1u << weft_worker_index());
        ck_assert_weft(weft_mutex_lock(&x->m), 0);
        while (x->turn != a->idx && !atomic_load(&x->lost_wakeups))
            xw_wait(x);
        x->turn = (a->idx + 1) % XW_RING;
        x->passes++;
        ck_assert_weft(weft_cond_broadcast(&x->c), 0);
        ck_assert_weft(weft_mutex_unlock(&x->m), 0);
    }
    return NULL;
}

static void *xw_producer(void *arg)
{
    xw_arg *a = arg;
    xw_ctx *x = a->x;
    for (unsigned i = 0; i < x->rounds; i++) {
        ck_assert_weft(weft_mutex_lock(&x->m), 0);
        x->avail++;
        x->produced++;
        ck_assert_weft(weft_cond_signal(&x->c), 0); /* one consumer, not all */
        ck_assert_weft(weft_mutex_unlock(&x->m), 0);
        if (i % 4 == 0)
            weft_yield();
    }
    return NULL;
}

static void *xw_consumer(void *arg)
{
    xw_arg *a = arg;
    xw_ctx *x = a->x;
    ck_assert_weft(weft_mutex_lock(&x->m), 0);
    for (;;) {
        while (!x->avail && x->consumed < x->total && !atomic_load(&x->lost_wakeups))
            xw_wait(x);
        if (!x->avail)
            break; /* all consumed (or a wake-up was lost: reported) */
        x->avail--;
        x->consumed++;
        x->eaten[a->idx]++;
        if (x->consumed == x->total)
            ck_assert_weft(weft_cond_broadcast(&x->c), 0); /* the others may leave */
        /* Let a producer or another consumer in between items. */
        ck_assert_weft(weft_mutex_unlock(&x->m), 0);
        weft_yield();
        ck_assert_weft(weft_mutex_lock(&x->m), 0);
    }
    ck_assert_weft(weft_mutex_unlock(&x->m), 0);
    return NULL;
}

static void *xw_cond_body(void *arg)
{
    xw_ctx *x = arg;
    ck_assert_weft(weft_mutex_init(&x->m), 0);
    ck_assert_weft(weft_cond_init(&x->c), 0);
    xw_arg args[XW_RING];
    weft_task *t[XW_RING];
    for (int i = 0; i < XW_RING; i++) {
        args[i] = (xw_arg){x, i};
        t[i] = xw_spawn(x, i, xw_ring_member, &args[i]);
    }
    for (int i = 0; i < XW_RING; i++)
        ck_assert_weft(weft_join(t[i], NULL), 0);
    ck_assert_msg(atomic_load(&x->lost_wakeups) == 0, "ring: %d waits lost their wake-up", atomic_load(&x->lost_wakeups));
    ck_assert_int_eq(x->passes, (int)(XW_RING * x->rounds));

    x->total = (int)(XW_PRODUCERS * x->rounds);
    xw_arg pa[XW_PRODUCERS + XW_CONSUMERS];
    weft_task *pt[XW_PRODUCERS + XW_CONSUMERS];
    for (int i = 0; i < XW_CONSUMERS; i++) {
        pa[i] = (xw_arg){x, i};
        pt[i] = xw_spawn(x, i, xw_consumer, &pa[i]);
    }
    for (int i = 0; i < XW_PRODUCERS; i++) {
        pa[XW_CONSUMERS + i] = (xw_arg){x, i};
        pt[XW_CONSUMERS + i] = xw_spawn(x, i + 1, xw_producer, &pa[XW_CONSUMERS + i]);
    }
    for (int i = 0; i < XW_PRODUCERS + XW_CONSUMERS; i++)
        ck_assert_weft(weft_join(pt[i], NULL), 0);
    ck_assert_msg(atomic_load(&x->lost_wakeups) == 0, "producers and consumers: %d waits lost their wake-up",
                  atomic_load(&x->lost_wakeups));
    ck_assert_int_eq(atomic_load(&x->errors), 0);
    ck_assert_int_eq(x->produced, x->total);
    ck_assert_int_eq(x->consumed, x->total);
    ck_assert_int_eq(x->avail, 0);
    int sum = 0;
    for (int i = 0; i < XW_CONSUMERS; i++)
        sum += x->eaten[i];
    ck_assert_int_eq(sum, x->total);
    ck_assert_weft(weft_cond_destroy(&x->c), 0);
    ck_assert_weft(weft_mutex_destroy(&x->m), 0);
    return NULL;
}

START_TEST(cond_across_2_and_4_real_workers_loses_no_wakeup)
{
    static const unsigned workers[] = {2, 4};
    for (size_t w = 0; w < 2; w++) {
        xw_ctx *x = calloc(1, sizeof *x);
        ck_assert_ptr_nonnull(x);
        x->rounds = xw_rounds(200);
        x->nworkers = workers[w];
        weft_config c = xw_config(workers[w]);
        ck_assert_weft(run_in(&c, xw_cond_body, x, NULL), 0);
        /* The tasks did spread over the workers (the pinned ones must). */
        ck_assert_msg(__builtin_popcount(atomic_load(&x->workers_seen)) >= 2,
                      "%u workers: tasks ran only on workers %#x", workers[w], atomic_load(&x->workers_seen));
        free(x);
    }
}
END_TEST

static void xw_once_fn(void *arg)
{
    xw_ctx *x = arg;
    atomic_fetch_add(&x->runs, 1);
    /* Take long enough that the other callers arrive and must wait. */
    for (int i = 0; i < 20; i++)
        weft_yield();
    x->value = x->want;
}

static void *xw_once_caller(void *arg)
{
    xw_ctx *x = arg;
    int r = weft_event_wait(&x->go);
    atomic_fetch_or(&x->workers_seen, 1u << weft_worker_index());
    if (r == 0)
        r = weft_once_call(&x->o, xw_once_fn, x);
    if (r != 0)
        atomic_fetch_add(&x->errors, 1);
    else if (x->value == x->want) /* its effect is seen by every caller */
        atomic_fetch_add(&x->saw_value, 1);
    return NULL;
}

static void *xw_once_body(void *arg)
{
    xw_ctx *x = arg;
    for (unsigned round = 0; round < x->rounds; round++) {
        weft_once fresh = WEFT_ONCE_INIT;
        x->o = fresh;
        x->want = (int)round + 1;
        atomic_store(&x->runs, 0);
        atomic_store(&x->saw_value, 0);
        ck_assert_weft(weft_event_init(&x->go, 0), 0);
        weft_task *t[XW_CALLERS];
        for (int i = 0; i < XW_CALLERS; i++)
            t[i] = xw_spawn(x, i, xw_once_caller, x);
        ck_assert_weft(weft_event_set(&x->go), 0); /* all at once, on every worker */
        for (int i = 0; i < XW_CALLERS; i++)
            ck_assert_weft(weft_join(t[i], NULL), 0);
        ck_assert_msg(atomic_load(&x->runs) == 1, "round %u: the function ran %d times", round,
                      atomic_load(&x->runs));
        ck_assert_int_eq(atomic_load(&x->errors), 0);
        ck_assert_msg(atomic_load(&x->saw_value) == XW_CALLERS, "round %u: %d of %d callers saw the effect",
                      round, atomic_load(&x->saw_value), XW_CALLERS);
        ck_assert_weft(weft_event_destroy(&x->go), 0);
    }
    return NULL;
}

START_TEST(once_across_2_and_4_real_workers_runs_once_and_every_caller_sees_it)
{
    static const unsigned workers[] = {2, 4};
    for (size_t w = 0; w < 2; w++) {
        xw_ctx *x = calloc(1, sizeof *x);
        ck_assert_ptr_nonnull(x);
        x->rounds = xw_rounds(100);
        x->nworkers = workers[w];
        weft_config c = xw_config(workers[w]);
        ck_assert_weft(run_in(&c, xw_once_body, x, NULL), 0);
        /* The tasks did spread over the workers (the pinned ones must). */
        ck_assert_msg(__builtin_popcount(atomic_load(&x->workers_seen)) >= 2,
                      "%u workers: tasks ran only on workers %#x", workers[w], atomic_load(&x->workers_seen));
        free(x);
    }
}
END_TEST

Suite *suite_sync(void)
{
    Suite *s = suite_create("sync");
    TCase *tc = tcase_create("mutex");
    tcase_add_test(tc, mutex_lock_unlock_trylock);
    tcase_add_test(tc, mutex_lock_until_times_out);
    tcase_add_test(tc, mutex_fifo_handoff);
    tcase_add_test(tc, mutex_relock_is_edeadlk);
    tcase_add_test(tc, mutex_unlock_by_non_owner_is_eperm);
    tcase_add_test(tc, mutex_destroy_busy_and_use_after_destroy);
    tcase_add_test(tc, mutex_cancel_waiter);
    tcase_add_test(tc, mutex_timed_out_waiter_leaves_queue);
    suite_add_tcase(s, tc);

    tc = tcase_create("cond");
    tcase_add_test(tc, cond_signal_wakes_in_fifo_order);
    tcase_add_test(tc, cond_broadcast_wakes_all);
    tcase_add_test(tc, cond_wait_until_times_out_with_mutex_held);
    tcase_add_test(tc, cond_cancel_waiter);
    tcase_add_test(tc, cond_bad_use);
    suite_add_tcase(s, tc);

    tc = tcase_create("sem_wg");
    tcase_add_test(tc, sem_acquire_release_try);
    tcase_add_test(tc, sem_fifo_handoff);
    tcase_add_test(tc, sem_timeout_and_cancel_lose_nothing);
    tcase_add_test(tc, sem_destroy_busy_and_use_after_destroy);
    tcase_add_test(tc, wg_wait_timeout_cancel_and_range);
    suite_add_tcase(s, tc);

    tc = tcase_create("barrier_event_once");
    tcase_add_test(tc, barrier_one_serial_per_generation);
    tcase_add_test(tc, barrier_cancelled_waiter_withdraws);
    tcase_add_test(tc, event_set_reset_wait);
    tcase_add_test(tc, once_runs_exactly_once);
    tcase_add_test(tc, once_waiter_cancelled);
    suite_add_tcase(s, tc);

    tc = tcase_create("cancel_race");
    tcase_add_test(tc, cancel_while_entering_a_wait_is_not_lost);
    tcase_add_test(tc, cancel_while_entering_sleep_is_not_lost);
    suite_add_tcase(s, tc);

    tc = tcase_create("bad_input");
    tcase_add_test(tc, sync_blocking_outside_task_is_eperm);
    tcase_add_test(tc, sync_null_and_uninitialized_objects);
    suite_add_tcase(s, tc);

    tc = tcase_create("threaded");
    tcase_add_test(tc, threaded_mutex_cond_sem);
    tcase_add_test(tc, cond_across_2_and_4_real_workers_loses_no_wakeup);
    tcase_add_test(tc, once_across_2_and_4_real_workers_runs_once_and_every_caller_sees_it);
    suite_add_tcase(s, tc);
    return s;
}
