/* model.h — the atomics model checker (VARIANT=model): simulated OS threads
 * that run the runtime's own lock-free code, with a scheduling point at every
 * operation of the threads layer (src/atomic.h) and a weak memory model that
 * lets a load read any store that happens-before does not hide. sim/model.c
 * implements it; tests/model and fuzz/fuzz_model.c use it.
 *
 * A model session lives inside one simulated run: the root task of a
 * simulated runtime (weft_explore's test function) opens it, starts
 * simulated threads, joins them and closes it. Each simulated thread is a
 * task of that runtime pinned to a virtual worker of its own, so every
 * strategy (seeds, PCT, exhaustive search, schedules, shrinking, bytes from
 * libFuzzer) drives the interleaving and the reads-from choices unchanged.
 */
#ifndef WEFT_SIM_MODEL_H
#define WEFT_SIM_MODEL_H

#include "../src/core.h"

#include <weft.h>

/* Simulated threads a session may have at once (a vector clock entry each). */
#define WEFT__MODEL_MAX_THREADS 6u
/* Stores kept per location: an older one can no longer be read (loom keeps
 * the same number). */
#define WEFT__MODEL_HISTORY 7u
/* The simulated runtime a session runs in needs this many virtual workers:
 * one for the root, one per simulated thread. */
#define WEFT__MODEL_WORKERS (WEFT__MODEL_MAX_THREADS + 1u)

typedef struct weft__model weft__model;
typedef struct weft__mthread weft__mthread;

/* Open a session in the calling task, which must be a task of a simulated
 * runtime of at least WEFT__MODEL_WORKERS workers (weft__model_config makes
 * one). Returns 0, WEFT_EINVAL (not there), WEFT_ENOMEM. *m is owned by the
 * caller until weft__model_close. */
WEFT_HIDDEN int weft__model_open(weft__model **m);
/* Start fn(arg) on a new simulated thread (what weft__thread_start does from
 * code under test). 0, WEFT_EAGAIN (too many threads), WEFT_ENOMEM. */
WEFT_HIDDEN int weft__model_spawn(weft__model *m, weft__mthread **t, void *(*fn)(void *), void *arg);
/* Wait for t to end; *result (may be NULL) receives fn's return value. */
WEFT_HIDDEN int weft__model_join(weft__model *m, weft__mthread *t, void **result);
/* End the session (every thread joined) and free it. */
WEFT_HIDDEN void weft__model_close(weft__model *m);

/* From a simulated thread's code: fail the run with message (and the
 * replay line) when cond is false. Never returns on failure. */
WEFT_HIDDEN void weft__model_check(bool cond, const char *what);

/* Operations the model executed in this session so far, and how many loads
 * read a store older than the newest (the weak-memory behaviours). */
WEFT_HIDDEN uint64_t weft__model_ops(const weft__model *m);
WEFT_HIDDEN uint64_t weft__model_stale_reads(const weft__model *m);

/* A base configuration for runs that host a session: simulated, enough
 * virtual workers, quiet, a step budget that makes a spinning livelock fail
 * quickly. */
WEFT_HIDDEN void weft__model_config(weft_config *cfg);

/* An OS table for a real-backend runtime run under the model: the real
 * mmap family, a clock that stands still and randomness that is zeros, so a
 * run depends on its decisions only. */
WEFT_HIDDEN void weft__model_os(weft_os *os);

/* The deque and injection queue alone (src/sched.c, model build only). */
WEFT_HIDDEN bool weft__model_deque_push(weft__deque *d, weft__task *t);
WEFT_HIDDEN weft__task *weft__model_deque_take_top(weft__deque *d);
WEFT_HIDDEN weft__task *weft__model_deque_take_bottom(weft__deque *d);
WEFT_HIDDEN size_t weft__model_deque_take_half(weft__deque *d, weft__task **out, size_t max);
WEFT_HIDDEN void weft__model_inject_push(weft__engine *e, weft__task *t);
WEFT_HIDDEN size_t weft__model_inject_take(weft__engine *e, weft__task **out, size_t max);

#endif /* WEFT_SIM_MODEL_H */
