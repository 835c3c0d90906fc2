/* atomic.c — the out-of-line part of the threads layer (atomic.h): starting
 * and joining OS threads, and the model checker's per-thread hook. */
#include "atomic.h"

#include <sched.h>

#ifdef WEFT_MODEL
WEFT_TLS const weft__atomic_model *weft__model_active;
/* The mutation switches (atomic.h): set by the model's tests only. */
unsigned weft__mutations;
#endif
#ifdef WEFT_TSAN
uint64_t weft__tsan_fence_word;
#endif
#ifdef WEFT_HELGRIND
uint64_t weft__hg_fence_word;
#endif

int weft__thread_start(weft__thread *t, void *(*fn)(void *), void *arg)
{
#ifdef WEFT_MODEL
    if (WEFT__MODEL_ON)
        return WEFT__M->thread_start(WEFT__M->ctx, t, fn, arg);
#endif
    t->model = NULL;
    int r = pthread_create(&t->id, NULL, fn, arg);
    return r ? -r : 0;
}

int weft__thread_join(weft__thread *t, void **result)
{
#ifdef WEFT_MODEL
    if (t->model && WEFT__MODEL_ON)
        return WEFT__M->thread_join(WEFT__M->ctx, t, result);
#endif
    int r = pthread_join(t->id, result);
    return r ? -r : 0;
}

/* The contended path of weft__spin_lock: spin on a read, then yield. */
void weft__spin_wait(weft__a32 *l)
{
    unsigned spins = 0;
    do {
        while (weft__ld(l, WEFT__RELAXED)) {
            if (++spins < WEFT__SPIN_BEFORE_YIELD) {
                weft__spin_hint();
            } else {
                spins = 0;
#ifdef WEFT_MODEL
                if (WEFT__MODEL_ON) {
                    weft__spin_hint();
                    continue;
                }
#endif
                sched_yield();
            }
        }
    } while (weft__xchg(l, 1u, WEFT__ACQUIRE));
}
