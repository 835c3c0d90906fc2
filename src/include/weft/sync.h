/* weft/sync.h — coordination between tasks: mutex, condition, semaphore, wait
 * group, barrier, event, once, channels, select and scopes.
 *
 * Included by weft.h. Every blocking call here is a cancellation point and a
 * scheduling point in simulation; a task cancelled while blocked wakes with
 * WEFT_ECANCELED, leaves the wait list and loses nothing (a message is either
 * delivered or still queued, a permit either taken or still there). Calls
 * with a deadline take an absolute weft_now() time; WEFT_NO_DEADLINE waits
 * forever. Blocking calls inside a scope with a deadline return WEFT_ETIMEDOUT
 * once it passes. All caller-allocated objects must be _init'ed before use;
 * using one after _destroy returns WEFT_EINVAL.
 *
 * Threads: an object is used by the tasks of one runtime, and by code on the
 * OS thread that runs it. The runtimes of this build run all their tasks on
 * one OS thread, and their objects take a path without atomic instructions;
 * calling into an object from another OS thread while its runtime runs is not
 * supported (a thread-pool backend will lift this).
 */
#ifndef WEFT_SYNC_H
#define WEFT_SYNC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WEFT_NO_DEADLINE UINT64_MAX


/* ---- Mutex ---------------------------------------------------------------
 * Fairness: FIFO hand-off. An uncontended lock is one compare-and-swap; when
 * tasks wait, unlock passes ownership straight to the longest waiter, so no
 * waiter starves and a releasing task cannot barge back in ahead of it. */
typedef struct weft_mutex { /* private fields */
    uintptr_t state;   /* owner task | waiters bit */
    uint64_t owner_id; /* the owner's task id: task slots are reused, ids never */
    uint32_t lock, magic;
    weft_list waiters;
} weft_mutex;

WEFT_API int weft_mutex_init(weft_mutex *m);
/* WEFT_EBUSY if locked or waited on. */
WEFT_API int weft_mutex_destroy(weft_mutex *m);
/* 0, WEFT_ECANCELED, WEFT_ETIMEDOUT, WEFT_EDEADLK (the caller holds it),
 * WEFT_EINVAL, WEFT_EPERM (outside a task). */
WEFT_API int weft_mutex_lock(weft_mutex *m);
WEFT_API int weft_mutex_lock_until(weft_mutex *m, uint64_t deadline);
/* 0 or WEFT_EBUSY; never blocks. WEFT_EPERM outside a task (a mutex is
 * owned by a task), WEFT_EINVAL for a bad object. */
WEFT_API int weft_mutex_trylock(weft_mutex *m);
/* 0, or WEFT_EPERM if the caller does not hold m. */
WEFT_API int weft_mutex_unlock(weft_mutex *m);

/* ---- Condition variable --------------------------------------------------
 * Waiters are woken in FIFO order. The mutex is held again whenever a wait
 * returns, also with WEFT_ECANCELED or WEFT_ETIMEDOUT. */
typedef struct weft_cond {
    uint32_t lock, magic;
    weft_list waiters;
} weft_cond;

WEFT_API int weft_cond_init(weft_cond *c);
WEFT_API int weft_cond_destroy(weft_cond *c);
WEFT_API int weft_cond_wait(weft_cond *c, weft_mutex *m);
WEFT_API int weft_cond_wait_until(weft_cond *c, weft_mutex *m, uint64_t deadline);
WEFT_API int weft_cond_signal(weft_cond *c);
WEFT_API int weft_cond_broadcast(weft_cond *c);

/* ---- Counting semaphore (FIFO: permits go to waiters in arrival order) ---- */
typedef struct weft_sem {
    uint64_t permits;
    uint32_t lock, magic;
    weft_list waiters;
} weft_sem;

WEFT_API int weft_sem_init(weft_sem *s, uint64_t permits);
WEFT_API int weft_sem_destroy(weft_sem *s);
WEFT_API int weft_sem_acquire(weft_sem *s);
WEFT_API int weft_sem_acquire_until(weft_sem *s, uint64_t deadline);
/* 0 or WEFT_EAGAIN. */
WEFT_API int weft_sem_try_acquire(weft_sem *s);
/* Add n permits (waking waiters). WEFT_EOVERFLOW-free: WEFT_EINVAL if the
 * count would overflow. */
WEFT_API int weft_sem_release(weft_sem *s, uint64_t n);
/* Permits available now; 0 also for an invalid object. */
WEFT_API uint64_t weft_sem_value(const weft_sem *s);

/* ---- Wait group ----------------------------------------------------------- */
typedef struct weft_wg {
    int64_t count;
    uint32_t lock, magic;
    weft_list waiters;
} weft_wg;

WEFT_API int weft_wg_init(weft_wg *wg);
WEFT_API int weft_wg_destroy(weft_wg *wg);
/* Add delta (may be negative); WEFT_EINVAL if the count would go below 0. */
WEFT_API int weft_wg_add(weft_wg *wg, int64_t delta);
WEFT_API int weft_wg_done(weft_wg *wg);
WEFT_API int weft_wg_wait(weft_wg *wg);
WEFT_API int weft_wg_wait_until(weft_wg *wg, uint64_t deadline);

/* ---- Barrier (cyclic) ------------------------------------------------------
 * weft_barrier_wait returns 1 in exactly one task per generation (the last to
 * arrive) and 0 in the others. A waiter that is cancelled withdraws its
 * arrival, so a generation never mixes tasks of two rounds. */
typedef struct weft_barrier {
    uint32_t parties, arrived;
    uint32_t lock, magic;
    weft_list waiters;
} weft_barrier;

WEFT_API int weft_barrier_init(weft_barrier *b, uint32_t parties);
WEFT_API int weft_barrier_destroy(weft_barrier *b);
WEFT_API int weft_barrier_wait(weft_barrier *b);

/* ---- Event (manual reset) ------------------------------------------------- */
typedef struct weft_event {
    uint32_t set;
    uint32_t lock, magic;
    weft_list waiters;
} weft_event;

WEFT_API int weft_event_init(weft_event *e, int initially_set);
WEFT_API int weft_event_destroy(weft_event *e);
WEFT_API int weft_event_set(weft_event *e);
WEFT_API int weft_event_reset(weft_event *e);
/* 1 if set, 0 if not, WEFT_EINVAL. */
WEFT_API int weft_event_is_set(const weft_event *e);
WEFT_API int weft_event_wait(weft_event *e);
WEFT_API int weft_event_wait_until(weft_event *e, uint64_t deadline);

/* ---- Reader-writer lock -----------------------------------------------------
 * Many readers or one writer. FIFO: a reader that arrives while a writer
 * waits queues behind it (no writer starves), and readers queued together
 * are let in together. */
typedef struct weft_rwlock { /* private fields */
    uint32_t readers;    /* readers in */
    uint32_t writer_gen; /* the generation of the writer's task record */
    void *writer;        /* the writer's task record while one is in, else NULL */
    uint32_t lock, magic;
    weft_list waiters;
} weft_rwlock;

WEFT_API int weft_rwlock_init(weft_rwlock *l);
/* WEFT_EBUSY if held or waited on. */
WEFT_API int weft_rwlock_destroy(weft_rwlock *l);
/* 0, WEFT_ECANCELED, WEFT_ETIMEDOUT, WEFT_EDEADLK (a write lock by its
 * holder), WEFT_EAGAIN (a read lock by a task that holds 8 already, counting
 * each hold of one lock), WEFT_EPERM (outside a task), WEFT_EINVAL. */
WEFT_API int weft_rwlock_rdlock(weft_rwlock *l);
WEFT_API int weft_rwlock_rdlock_until(weft_rwlock *l, uint64_t deadline);
WEFT_API int weft_rwlock_wrlock(weft_rwlock *l);
WEFT_API int weft_rwlock_wrlock_until(weft_rwlock *l, uint64_t deadline);
/* Release the caller's hold (write, or one read). WEFT_EPERM, the lock
 * untouched, if the caller holds neither: not its writer (a task of another
 * runtime never is), and no read hold of its own on this lock. */
WEFT_API int weft_rwlock_unlock(weft_rwlock *l);

/* ---- Notifier ----------------------------------------------------------------
 * How any thread wakes a task (libuv's uv_async_send): weft_notify_signal
 * may be called from any thread, also one outside the runtime; a task waits
 * with weft_notify_wait. Signals coalesce: signals sent while no task waits
 * leave one pending, which the next wait takes at once. */
typedef struct weft_notify { /* private fields */
    uint32_t pending;
    uint32_t lock, magic;
    weft_list waiters;
} weft_notify;

WEFT_API int weft_notify_init(weft_notify *n);
WEFT_API int weft_notify_destroy(weft_notify *n);
/* Any thread. Wakes the longest-waiting task, or leaves a signal pending.
 * 0; WEFT_EPERM (nothing done) when a task of a simulation running on
 * another thread waits on it: a simulation takes nothing from outside while
 * it runs. */
WEFT_API int weft_notify_signal(weft_notify *n);
/* 0 (a signal was taken), WEFT_ECANCELED, WEFT_ETIMEDOUT, WEFT_EPERM,
 * WEFT_EINVAL. */
WEFT_API int weft_notify_wait(weft_notify *n);
WEFT_API int weft_notify_wait_until(weft_notify *n, uint64_t deadline);

/* ---- Once ------------------------------------------------------------------
 * fn runs exactly once; callers that arrive while it runs wait for it. A
 * zero-filled weft_once (WEFT_ONCE_INIT) is ready to use. */
typedef struct weft_once {
    uint32_t state, lock;
    weft_list waiters;
} weft_once;
#define WEFT_ONCE_INIT {0, 0, {0, 0}}

WEFT_API int weft_once_call(weft_once *o, void (*fn)(void *arg), void *arg);

/* ---- Channels ----------------------------------------------------------------
 * Multi-producer, multi-consumer; elements are copied by value. capacity 0 is
 * a rendezvous (send returns when a receiver took the element), N bounds the
 * buffer, WEFT_CHAN_UNBOUNDED grows it. After close, receivers drain what was
 * accepted and then get WEFT_EPIPE; senders get WEFT_EPIPE at once. */
typedef struct weft_chan weft_chan;
#define WEFT_CHAN_UNBOUNDED SIZE_MAX

WEFT_API int weft_chan_new(weft_chan **ch, size_t elem_size, size_t capacity);
/* A channel whose try operations, close and len any thread may call (a
 * pthread feeding tasks, say), also when the runtime runs all its tasks on
 * one thread. weft_chan_new made outside any runtime, or by a task of a
 * runtime that runs on several threads, makes a shared channel too; made by
 * a task of a single-thread runtime (a simulation, one worker), it belongs
 * to that runtime and refuses other threads with WEFT_EPERM. */
WEFT_API int weft_chan_new_shared(weft_chan **ch, size_t elem_size, size_t capacity);
/* A channel that accepts exactly one element, then closes itself (so a later
 * weft_chan_close returns WEFT_EPIPE: it is closed already). */
WEFT_API int weft_chan_new_oneshot(weft_chan **ch, size_t elem_size);
/* WEFT_EBUSY if tasks still wait on it (nothing freed); NULL is allowed. */
WEFT_API int weft_chan_free(weft_chan *ch);
/* Blocking send and receive: 0, WEFT_EPIPE (closed; for a receive, closed
 * and drained), WEFT_ETIMEDOUT, WEFT_ECANCELED, WEFT_EPERM (outside a task or
 * in a no-stack task), WEFT_EINVAL; a send to an unbounded channel also
 * WEFT_ENOMEM when its buffer cannot grow (the element was not accepted). */
WEFT_API int weft_chan_send(weft_chan *ch, const void *elem);
WEFT_API int weft_chan_send_until(weft_chan *ch, const void *elem, uint64_t deadline);
/* 0, WEFT_EAGAIN (full / no receiver waiting), WEFT_EPIPE, WEFT_ENOMEM
 * (unbounded and cannot grow), WEFT_EINVAL. Works outside a task too. Every
 * operation of a shared channel is WEFT_EPERM (nothing done) from outside a
 * simulation running on another thread while one of its tasks waits on the
 * channel. */
WEFT_API int weft_chan_try_send(weft_chan *ch, const void *elem);
WEFT_API int weft_chan_recv(weft_chan *ch, void *out);
WEFT_API int weft_chan_recv_until(weft_chan *ch, void *out, uint64_t deadline);
/* 0, WEFT_EAGAIN (empty), WEFT_EPIPE (closed and drained). */
WEFT_API int weft_chan_try_recv(weft_chan *ch, void *out);
/* 0, or WEFT_EPIPE if already closed. Wakes every waiter. */
WEFT_API int weft_chan_close(weft_chan *ch);
/* Elements buffered now; 0 also for an invalid channel. */
WEFT_API size_t weft_chan_len(const weft_chan *ch);

/* ---- Select ------------------------------------------------------------------
 * Waits until one case can proceed, performs exactly that one and returns its
 * index; the case's result is 0 or WEFT_EPIPE (its channel is closed). When
 * several are ready, the choice is fair: drawn from the decision source in
 * simulation, round-robin otherwise. */
#define WEFT_SELECT_SEND 1
#define WEFT_SELECT_RECV 2
typedef struct weft_select_case {
    weft_chan *chan;
    int op;     /* WEFT_SELECT_SEND or WEFT_SELECT_RECV */
    void *elem; /* send: the element to copy; recv: where to copy it */
    int result; /* out */
} weft_select_case;

/* Returns the index of the case performed, or WEFT_ETIMEDOUT, WEFT_ECANCELED,
 * WEFT_ENOMEM (a send to an unbounded channel could not grow it), WEFT_EPERM
 * (outside a task or in a no-stack task; or a case would complete a task of
 * a simulation running on another thread), WEFT_EINVAL. n is at most
 * WEFT_SELECT_MAX. */
#define WEFT_SELECT_MAX 64
WEFT_API int weft_select(weft_select_case *cases, size_t n, uint64_t deadline);
/* Like weft_select but never blocks: WEFT_EAGAIN when nothing is ready. */
WEFT_API int weft_try_select(weft_select_case *cases, size_t n);

/* ---- Scopes (structured concurrency) -----------------------------------------
 * A scope owns the tasks spawned into it; weft_scope_join waits for all of
 * them, so none outlives it. A child reports failure by returning a negative
 * code (errgroup style). WEFT_SCOPE_FAIL_FAST cancels the siblings at the
 * first failure. A deadline makes every blocking call inside the scope (in its
 * children, and in the owner between init and join) return WEFT_ETIMEDOUT once
 * it passes. Scopes nest. */
#define WEFT_SCOPE_FAIL_FAST 0x1u
typedef int (*weft_scope_fn)(void *arg);

typedef struct weft_scope { /* private: a handle; the state lives in the runtime */
    uint32_t magic;
    void *state;
} weft_scope;

/* Open a scope in the calling task. Returns 0, WEFT_EPERM outside a task or
 * in a no-stack task, WEFT_EBUSY if the caller is inside s already,
 * WEFT_ENOMEM. A scope another task has open must not be initialised again.
 * A task that returns with a scope still open is reported (a
 * WEFT_HOOK_ERROR, and a message in debug builds) and the runtime cancels
 * and joins that scope's children for it: the scope's state is the
 * runtime's, not the returned frame's. */
WEFT_API int weft_scope_init(weft_scope *s, unsigned flags);
WEFT_API int weft_scope_set_deadline(weft_scope *s, uint64_t deadline);
/* Spawn fn(arg) into s. opts may be NULL. */
WEFT_API int weft_scope_spawn(weft_scope *s, weft_scope_fn fn, void *arg, const weft_spawn_opts *opts);
/* Cancel every child. Call it from the owner or from a task inside the
 * scope: only those are sure the scope has not been joined and gone. */
WEFT_API int weft_scope_cancel(weft_scope *s);
/* Wait for every child and close the scope. Returns 0, the first child's
 * failure code, WEFT_ETIMEDOUT (a child was still running when the deadline —
 * the scope's or an enclosing one's — passed), or WEFT_ECANCELED (the owner was
 * cancelled: the children were cancelled and still joined). */
WEFT_API int weft_scope_join(weft_scope *s);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_SYNC_H */
