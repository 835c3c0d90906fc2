/* bank.h — a small bank with two classic concurrency bugs, shared by the demo
 * (bank.c) and the simulator's tests:
 *
 *  - a lost update: a transfer reads a balance in one critical section and
 *    writes it back in another, so two transfers from the same account can
 *    both read the old balance when their steps interleave on two workers;
 *  - a lock-ordering deadlock: one transfer locks A then B, the other B then
 *    A.
 *
 * Both are invisible on one worker without preemption, and appear only under
 * some interleavings — exactly what the simulator is for.
 */
#ifndef WEFT_EXAMPLE_BANK_H
#define WEFT_EXAMPLE_BANK_H

#include <stdint.h>
#include <string.h>
#include <weft.h>

enum { BANK_ACCOUNTS = 2, BANK_OPENING = 100 };

typedef struct bank {
    weft_mutex lock[BANK_ACCOUNTS];
    int64_t balance[BANK_ACCOUNTS];
} bank;

typedef struct transfer {
    bank *b;
    int from, to;
    int64_t amount;
    const char *name; /* shows in deadlock reports and timelines */
} transfer;

/* Open every account with BANK_OPENING. Returns 0 or the first error. */
static inline int bank_open(bank *b)
{
    memset(b, 0, sizeof *b);
    for (int i = 0; i < BANK_ACCOUNTS; i++) {
        int r = weft_mutex_init(&b->lock[i]);
        if (r < 0)
            return r;
        b->balance[i] = BANK_OPENING;
    }
    return 0;
}

/* Close the bank: returns 0, or the first error (WEFT_EBUSY: a lock is
 * still held or waited on). */
static inline int bank_close(bank *b)
{
    int first = 0;
    for (int i = 0; i < BANK_ACCOUNTS; i++) {
        int r = weft_mutex_destroy(&b->lock[i]);
        if (r < 0 && first == 0)
            first = r;
    }
    return first;
}

static inline int64_t bank_total(const bank *b)
{
    int64_t t = 0;
    for (int i = 0; i < BANK_ACCOUNTS; i++)
        t += b->balance[i];
    return t;
}

/* The bug: the read and the write of `from` sit in separate critical
 * sections. Each critical section on its own is correct. (Scope children
 * return 0 or an error code, errgroup style.) */
static inline int transfer_racy(void *arg)
{
    transfer *t = arg;
    bank *b = t->b;
    int r;
    if ((r = weft_mutex_lock(&b->lock[t->from])) != 0)
        return r;
    int64_t seen = b->balance[t->from];
    weft_mutex_unlock(&b->lock[t->from]);

    if ((r = weft_mutex_lock(&b->lock[t->from])) != 0)
        return r;
    b->balance[t->from] = seen - t->amount;
    weft_mutex_unlock(&b->lock[t->from]);

    if ((r = weft_mutex_lock(&b->lock[t->to])) != 0)
        return r;
    b->balance[t->to] += t->amount;
    weft_mutex_unlock(&b->lock[t->to]);
    return 0;
}

/* The fix: one critical section per account update. */
static inline int transfer_fixed(void *arg)
{
    transfer *t = arg;
    bank *b = t->b;
    int r;
    if ((r = weft_mutex_lock(&b->lock[t->from])) != 0)
        return r;
    b->balance[t->from] -= t->amount;
    weft_mutex_unlock(&b->lock[t->from]);
    if ((r = weft_mutex_lock(&b->lock[t->to])) != 0)
        return r;
    b->balance[t->to] += t->amount;
    weft_mutex_unlock(&b->lock[t->to]);
    return 0;
}

/* The other bug: both locks held, taken in the order of the transfer.
 * Cancellation (the shutdown after a reported deadlock) makes a lock fail:
 * leave without touching the balances. */
static inline int transfer_both_locks(void *arg)
{
    transfer *t = arg;
    bank *b = t->b;
    int r;
    if ((r = weft_mutex_lock(&b->lock[t->from])) != 0)
        return r;
    if ((r = weft_mutex_lock(&b->lock[t->to])) != 0) {
        weft_mutex_unlock(&b->lock[t->from]);
        return r;
    }
    b->balance[t->from] -= t->amount;
    b->balance[t->to] += t->amount;
    weft_mutex_unlock(&b->lock[t->to]);
    weft_mutex_unlock(&b->lock[t->from]);
    return 0;
}

/* Run `n` transfers as children of one scope: the transfers point into this
 * frame, and a scope's join waits for every child even when the caller is
 * cancelled, so none can outlive it. Returns the join's result, or the error
 * of a transfer that could not be started: then no more are started, and
 * the ones already running are joined (not cancelled: a transfer cut off
 * between its two accounts would lose money). */
static inline int bank_run(bank *b, transfer *t, int n, weft_scope_fn fn)
{
    weft_scope s;
    int r = weft_scope_init(&s, 0);
    if (r < 0)
        return r;
    for (int i = 0; i < n; i++) {
        weft_spawn_opts o = {.name = t[i].name ? t[i].name : "transfer"};
        t[i].b = b;
        if ((r = weft_scope_spawn(&s, fn, &t[i], &o)) < 0) {
            weft_scope_join(&s);
            return r;
        }
    }
    return weft_scope_join(&s);
}

/* A day of business: six transfers, three of them out of account 0 at
 * once. Money must be conserved. */
static inline void *bank_lost_update_test(void *arg)
{
    (void)arg;
    bank b;
    WEFT_ASSERT(bank_open(&b) == 0);
    transfer t[6] = {{0, 0, 1, 10, "a->b 10"}, {0, 1, 0, 5, "b->a 5"}, {0, 0, 1, 20, "a->b 20"},
                     {0, 1, 0, 7, "b->a 7"},   {0, 0, 1, 30, "a->b 30"}, {0, 1, 0, 1, "b->a 1"}};
    WEFT_ASSERT(bank_run(&b, t, 6, transfer_racy) == 0);
    WEFT_ASSERT(bank_total(&b) == BANK_OPENING * BANK_ACCOUNTS);
    WEFT_ASSERT(bank_close(&b) == 0);
    return NULL;
}

/* The same day of business with the fix: money is conserved under every
 * interleaving. */
static inline void *bank_fixed_test(void *arg)
{
    (void)arg;
    bank b;
    WEFT_ASSERT(bank_open(&b) == 0);
    transfer t[6] = {{0, 0, 1, 10, "a->b 10"}, {0, 1, 0, 5, "b->a 5"}, {0, 0, 1, 20, "a->b 20"},
                     {0, 1, 0, 7, "b->a 7"},   {0, 0, 1, 30, "a->b 30"}, {0, 1, 0, 1, "b->a 1"}};
    WEFT_ASSERT(bank_run(&b, t, 6, transfer_fixed) == 0);
    WEFT_ASSERT(bank_total(&b) == BANK_OPENING * BANK_ACCOUNTS);
    WEFT_ASSERT(bank_close(&b) == 0);
    return NULL;
}

/* Transfers in both directions holding both locks: a deadlock waiting for
 * the wrong interleaving. */
static inline void *bank_deadlock_test(void *arg)
{
    (void)arg;
    bank b;
    WEFT_ASSERT(bank_open(&b) == 0);
    transfer t[2] = {{0, 0, 1, 10, "a->b"}, {0, 1, 0, 20, "b->a"}};
    /* Cancelled (by the shutdown that follows a reported deadlock), the
     * transfers leave the balances alone. */
    int r = bank_run(&b, t, 2, transfer_both_locks);
    WEFT_ASSERT(r == 0 || r == WEFT_ECANCELED);
    WEFT_ASSERT(bank_total(&b) == BANK_OPENING * BANK_ACCOUNTS);
    WEFT_ASSERT(bank_close(&b) == 0);
    return NULL;
}

#endif
