/* parker.c — how an idle worker thread sleeps: a futex word with three
 * states. unpark stores NOTIFIED and wakes the futex only if the parker was
 * asleep; park consumes a NOTIFIED first, so a wake that comes between the
 * worker's last look at its queues and its sleep is never lost. */
#include "threads.h"

/* Under the model (VARIANT=model) the simulated threads take turns on one OS
 * thread: a worker must sleep in the model's futex, which switches to another
 * simulated thread, never in its reactor's real wait, which would block them
 * all (the runtime cases park a worker and hang otherwise). */
#ifdef WEFT_MODEL
#define REACTOR_PARK(p) ((p)->sleep && !WEFT__MODEL_ON)
#else
#define REACTOR_PARK(p) ((p)->sleep != NULL)
#endif

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
    if (REACTOR_PARK(p)) {
        /* The reactor's wait: IO events end it too, so the loop always
         * looks again afterwards. */
        p->sleep(p->arg, deadline);
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
    if (weft__xchg(&p->state, (uint32_t)WEFT__PARK_NOTIFIED, WEFT__RELEASE) != WEFT__PARK_PARKED)
        return false;
    if (REACTOR_PARK(p))
        p->kick(p->arg);
    else
        weft__futex_wake(os, &p->state, 1);
    return true;
}
