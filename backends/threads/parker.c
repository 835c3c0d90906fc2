/* parker.c — how an idle worker thread sleeps: a futex word whose state
 * says whether it sleeps and where (on the futex, or in its reactor).
 * unpark stores NOTIFIED and wakes the sleeper only if it was asleep, where
 * it sleeps; park consumes a NOTIFIED first, so a wake that comes between
 * the worker's last look at its queues and its sleep is never lost. */
#include "threads.h"

/* The reactor's wait (p->sleep and p->kick), when the worker has one. */
static inline bool by_reactor(const weft__parker *p)
{
    return p->sleep != NULL;
}

void weft__parker_park(weft__parker *p, const weft_os *os, uint64_t deadline, bool (*give_up)(void *ctx), void *ctx)
{
    uint32_t s = WEFT__PARK_NOTIFIED;
    if (weft__cas(&p->state, &s, (uint32_t)WEFT__PARK_EMPTY, WEFT__ACQUIRE, WEFT__RELAXED))
        return;
    s = WEFT__PARK_EMPTY;
    if (!weft__cas(&p->state, &s, (uint32_t)WEFT__PARK_PARKED, WEFT__ACQUIRE, WEFT__RELAXED)) {
        /* Notified meanwhile. */
        weft__xchg(&p->state, (uint32_t)WEFT__PARK_EMPTY, WEFT__ACQUIRE);
        return;
    }
    if (give_up && give_up(ctx)) {
        if (weft__xchg(&p->state, (uint32_t)WEFT__PARK_EMPTY, WEFT__ACQUIRE) != WEFT__PARK_PARKED)
            return; /* (a wake came too: consumed) */
        return;
    }
    if (by_reactor(p) && p->try_hold(p->arg)) {
        /* The reactor's wait: IO events end it too, so the loop always
         * looks again afterwards. The state says where it sleeps, so that
         * unpark wakes it there. */
        s = WEFT__PARK_PARKED;
        if (weft__cas(&p->state, &s, (uint32_t)WEFT__PARK_IN_REACTOR, WEFT__ACQ_REL, WEFT__ACQUIRE))
            p->sleep(p->arg, deadline);
        p->let_go(p->arg);
        weft__xchg(&p->state, (uint32_t)WEFT__PARK_EMPTY, WEFT__ACQUIRE);
        return;
    }
    for (;;) {
        int r = weft__futex_wait(os, &p->state, WEFT__PARK_PARKED, deadline);
        s = WEFT__PARK_NOTIFIED;
        if (weft__cas(&p->state, &s, (uint32_t)WEFT__PARK_EMPTY, WEFT__ACQUIRE, WEFT__RELAXED))
            return;
        if (r == -ETIMEDOUT || deadline != UINT64_MAX) {
            /* Timed out (or woken early: the loop looks again either way). */
            s = WEFT__PARK_PARKED;
            if (!weft__cas(&p->state, &s, (uint32_t)WEFT__PARK_EMPTY, WEFT__ACQUIRE, WEFT__RELAXED))
                weft__xchg(&p->state, (uint32_t)WEFT__PARK_EMPTY, WEFT__ACQUIRE);
            return;
        }
        /* A spurious wake-up with no deadline: sleep again. */
    }
}

/* true if it was asleep (or about to be). */
bool weft__parker_unpark(weft__parker *p, const weft_os *os)
{
    uint32_t was = weft__xchg(&p->state, (uint32_t)WEFT__PARK_NOTIFIED, WEFT__RELEASE);
    if (was == WEFT__PARK_IN_REACTOR && !WEFT__MUTANT(WEFT__MUT_UNPARK_BY_FUTEX))
        p->kick(p->arg);
    else if (was == WEFT__PARK_IN_REACTOR)
        weft__futex_wake(os, &p->state, 1);
    else if (was == WEFT__PARK_PARKED)
        weft__futex_wake(os, &p->state, 1); /* (or it is on its way to the reactor, and will see the wake) */
    else
        return false;
    return true;
}
