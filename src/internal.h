/* internal.h — the core's private types (runtime, worker, task, waits) and the
 * backend interface that sim/ and backends/ implement. Never installed.
 *
 * Arrows point down: the core calls a backend only through weft__backend; it
 * never includes a file of sim/ or backends/.
 */
#ifndef WEFT_INTERNAL_H
#define WEFT_INTERNAL_H

#include "weft.h"
#include "weft/os.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#ifdef WEFT_UCONTEXT
#include <ucontext.h>
#endif

#define WEFT_LIKELY(x) __builtin_expect(!!(x), 1)
#define WEFT_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define WEFT_HIDDEN __attribute__((visibility("hidden")))
#define WEFT_NORETURN __attribute__((noreturn))
#define WEFT_TLS __thread __attribute__((tls_model("initial-exec")))
#define WEFT_CONTAINER_OF(p, type, member) ((type *)(void *)((char *)(p)-offsetof(type, member)))

#if defined(__SANITIZE_ADDRESS__)
#define WEFT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WEFT_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define WEFT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define WEFT_TSAN 1
#endif
#endif

/* Debug builds explain each refused call on stderr; release builds only
 * return the code. */
#ifdef NDEBUG
#define WEFT_DEBUG 0
#else
#define WEFT_DEBUG 1
#endif
/* quiet: 1 say nothing, 0 explain, -1 as the calling worker's runtime says
 * (WEFT_CFG_QUIET), explaining outside any runtime. */
WEFT_HIDDEN int weft__misuse(int quiet, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#define WEFT__MISUSE(quiet, code, ...) (WEFT_DEBUG ? weft__misuse((quiet), (code), __VA_ARGS__) : (code))
#define WEFT_MISUSE(code, ...) WEFT__MISUSE(-1, code, __VA_ARGS__)
/* A call given a runtime (possibly NULL) or a configuration honours its
 * WEFT_CFG_QUIET even when made from outside the runtime. */
#define WEFT_MISUSE_RT(rt, code, ...) WEFT__MISUSE((rt) ? (rt)->quiet : -1, code, __VA_ARGS__)
#define WEFT_MISUSE_CFG(cfg, code, ...) WEFT__MISUSE(((cfg)->flags & WEFT_CFG_QUIET) != 0, code, __VA_ARGS__)

/* ------------------------------------------------------------------------ */
/* Fibers and stacks                                                         */
/* ------------------------------------------------------------------------ */

/* A saved execution context: the stack pointer of a suspended fiber, plus
 * what the sanitizers need to follow a switch. */
typedef struct weft__ctx {
    void *sp;
#ifdef WEFT_ASAN
    const void *stack_bottom;
    size_t stack_size;
    void *fake_stack;
#endif
#ifdef WEFT_TSAN
    void *tsan_fiber;
#endif
#ifdef WEFT_UCONTEXT
    ucontext_t uc;
    void *transfer;
    void (*entry)(void *);
#endif
} weft__ctx;

typedef struct weft__stack {
    struct weft__stack *next; /* free-list link */
    char *base;               /* lowest usable byte; the guard page is below */
    size_t size;              /* usable bytes */
    struct weft__stack_pool *pool;
    unsigned valgrind_id;
    uint32_t touched; /* the stack has been used since it was last released */
#ifdef WEFT_TSAN
    void *tsan_fiber; /* one per stack, reused by every task that runs on it */
#endif
} weft__stack;

typedef struct weft__stack_slab weft__stack_slab;
typedef struct weft__stack_pool {
    size_t size;         /* usable size of each stack */
    weft__stack *free;   /* LIFO: the warmest stack first */
    size_t nfree, nwarm, total;
    weft__stack_slab *slabs;
    size_t next_slab_count;
} weft__stack_pool;

#define WEFT__STACK_CLASSES 8

typedef void (*weft__entry_fn)(void *transfer);

/* Prepare ctx to run entry(transfer) on stack when first switched to. */
WEFT_HIDDEN void weft__ctx_make(weft__ctx *ctx, weft__stack *stack, weft__entry_fn entry);
/* Save the running context into from and resume to; returns the transfer
 * value passed by whoever switches back. dying: from will never be resumed
 * (lets ASan release its fake stack). */
WEFT_HIDDEN void *weft__ctx_jump(weft__ctx *from, weft__ctx *to, void *transfer, bool dying);
/* Called first thing in a fresh context's entry. */
WEFT_HIDDEN void weft__ctx_entered(weft__ctx *self);
/* The context of the OS thread that calls into the runtime. */
WEFT_HIDDEN void weft__ctx_init_host(weft__ctx *ctx);

/* ------------------------------------------------------------------------ */
/* Tasks                                                                     */
/* ------------------------------------------------------------------------ */

enum weft__task_state {
    WEFT__T_FREE = 0,
    WEFT__T_NEW,       /* spawned, never run, no stack yet */
    WEFT__T_QUEUED,    /* in a run queue */
    WEFT__T_RUNNING,   /* on a worker */
    WEFT__T_YIELDED,   /* came back to the loop to be requeued */
    WEFT__T_PARKED,    /* blocked; a wake makes it QUEUED */
    WEFT__T_FINISHED,  /* returned; waits for join/detach */
    WEFT__T_ABANDONED  /* its run ended without it (simulated failure) */
};

enum weft__task_flags {
    WEFT__F_NOSTACK = 1u << 0,
    WEFT__F_DETACHED = 1u << 1,  /* nobody holds a handle */
    WEFT__F_CANCEL = 1u << 2,    /* cancellation requested (sticky) */
    WEFT__F_PINNED = 1u << 3,
    WEFT__F_ROOT = 1u << 4,
    WEFT__F_STARTED = 1u << 6,
    WEFT__F_CANCELLED_LIVE = 1u << 7, /* cancel arrived before it finished */
    WEFT__F_STACKFAIL = 1u << 9, /* no stack could be bound */
    WEFT__F_UNCANCELLABLE = 1u << 10, /* in a wait cancellation must not break */
    WEFT__F_SHIELDED = 1u << 11       /* weft_cancel_shield: cancellation deferred */
};

/* Why a task is blocked (for deadlock reports, hooks and traces). */
enum weft__wait_kind {
    WEFT__W_NONE = 0,
    WEFT__W_SLEEP,
    WEFT__W_JOIN,
    WEFT__W_MUTEX,
    WEFT__W_COND,
    WEFT__W_SEM,
    WEFT__W_WG,
    WEFT__W_BARRIER,
    WEFT__W_EVENT,
    WEFT__W_ONCE,
    WEFT__W_CHAN_SEND,
    WEFT__W_CHAN_RECV,
    WEFT__W_SELECT,
    WEFT__W_SCOPE,
    WEFT__W_COUNT
};
WEFT_HIDDEN const char *weft__wait_name(int kind);

typedef struct weft__task weft__task;
typedef struct weft__worker weft__worker;

/* Remove t from whatever it waits on; returns true if it did (then the caller
 * wakes t), false if a waker already claimed it (its wake is on the way). */
typedef bool (*weft__unlink_fn)(weft__task *t);

struct weft__task {
    weft_runq_node node; /* must stay first */
    weft__ctx ctx;
    weft__stack *stack;
    weft_fn fn;
    void *arg;
    void *result;
    const char *name;
    weft__worker *worker;     /* where it runs or last ran */
    weft__task *joiner;
    weft__unlink_fn unlink;   /* set while parked in a cancellable wait */
    void *wait_obj;           /* what it waits on (for unlink and reports) */
    weft_scope *scope;        /* innermost scope it runs in, or NULL */
    void (*on_finish)(weft__task *t); /* told of every end, also when fn never ran */
    uint32_t slot, gen;
    uint32_t stack_size;
    uint16_t flags;
    uint8_t state;
    uint8_t wait_kind;
    int wait_result;          /* the code its wake delivered */
    int finish_status;        /* 0, WEFT_ECANCELED, WEFT_ENOMEM, WEFT_EFAILED */
    unsigned pin;             /* worker index when PINNED */
    uint32_t select_rr;       /* round-robin start for weft_select */
};

#define WEFT__TASK_CHUNK 256u

/* ------------------------------------------------------------------------ */
/* Timer wheel                                                               */
/* ------------------------------------------------------------------------ */

#define WEFT__WHEEL_BITS 6u
#define WEFT__WHEEL_SLOTS (1u << WEFT__WHEEL_BITS)
/* 11 levels of 6 bits cover all 64 bits of nanosecond deadlines, so any
 * deadline has a slot and the tick can be 1 ns: a level-0 slot holds one
 * exact time, which is what lets the simulator jump to it. */
#define WEFT__WHEEL_LEVELS 11u

typedef struct weft__wheel {
    uint64_t elapsed; /* every timer with deadline <= elapsed fired or is due */
    uint64_t seq;
    uint64_t count;
    uint64_t occupied[WEFT__WHEEL_LEVELS];
    weft_timer *head[WEFT__WHEEL_LEVELS][WEFT__WHEEL_SLOTS];
    weft_timer *tail[WEFT__WHEEL_LEVELS][WEFT__WHEEL_SLOTS];
    weft_timer *due_head, *due_tail; /* deadline already passed when set */
    weft__worker *worker;
} weft__wheel;

WEFT_HIDDEN void weft__wheel_init(weft__wheel *wh, uint64_t now, weft__worker *w);
WEFT_HIDDEN void weft__wheel_insert(weft__wheel *wh, weft_timer *t);
WEFT_HIDDEN void weft__wheel_remove(weft__wheel *wh, weft_timer *t);
/* The exact earliest deadline, or UINT64_MAX when empty. */
WEFT_HIDDEN uint64_t weft__wheel_next_deadline(weft__wheel *wh);
/* Fire every timer with deadline <= now in deadline order (equal deadlines in
 * the order set); returns how many fired. */
WEFT_HIDDEN size_t weft__wheel_advance(weft__wheel *wh, uint64_t now);
WEFT_HIDDEN void weft__wheel_clear(weft__wheel *wh);

/* ------------------------------------------------------------------------ */
/* Hooks                                                                     */
/* ------------------------------------------------------------------------ */

typedef struct weft__hook {
    weft_hook_fn fn;
    void *ctx;
    uint32_t mask;
    int id;
} weft__hook_entry;

typedef struct weft__hooks {
    weft__hook_entry *v;
    size_t n, cap;
    int next_id;
    int dispatching;
    bool dirty; /* a hook was removed during dispatch */
} weft__hooks;

/* ------------------------------------------------------------------------ */
/* Workers, backends and the runtime                                         */
/* ------------------------------------------------------------------------ */

/* How a virtual worker stands in the simulator. */
enum weft__vstate { WEFT__V_RUNNING = 0, WEFT__V_READY, WEFT__V_PARKED };

struct weft__worker {
    weft_rt *rt;
    unsigned index;
    const weft_runq_ops *rq_ops;
    void *rq;
    bool rq_fifo;           /* the built-in FIFO: called directly, not through rq_ops */
    uint32_t queued_unpinned; /* queued tasks another worker may steal */
    uint64_t pushes;        /* tasks ever queued here (the simulator's steal guard) */
    uint64_t nosteal_at;    /* pushes when a steal from here last came back empty */
    bool concurrent;        /* its runtime may run tasks on several OS threads at once */
    void (*sched_point)(struct weft__worker *w); /* the backend's, cached; NULL if none */
    uint32_t countdown;     /* steps until the next housekeeping (timers, step limit) */
    weft__task *current;
    weft__ctx loop_ctx;     /* the worker loop's own context */
    weft__wheel wheel;
    /* Simulation: a virtual thread. */
    weft__ctx *resume;      /* what runs when this worker is scheduled */
    weft__stack *loop_stack;
    uint8_t vstate;
    uint8_t wakeup;         /* work arrived while it was parked */
    uint8_t started;
    uint64_t park_deadline;
    /* Real: the futex word a parked worker sleeps on. */
    _Atomic uint32_t futex;
};

typedef struct weft__backend {
    const char *name;
    int (*init)(weft_rt *rt);
    uint64_t (*now)(weft_rt *rt);
    /* Drive the workers until rt->stop; returns rt->status. */
    int (*run)(weft_rt *rt);
    /* The worker loop has nothing to run: wait for work or deadline. */
    void (*park)(weft__worker *w, uint64_t deadline);
    /* Work was queued on w (possibly from another worker). */
    void (*wake)(weft__worker *w);
    /* The loop saw rt->stop: return true to leave weft__worker_loop. */
    bool (*on_stop)(weft__worker *w);
    /* A scheduling point; NULL when nothing can interleave. */
    void (*sched_point)(weft__worker *w);
    /* Which worker a spawned or woken task goes to; NULL: `local`. */
    unsigned (*place)(weft_rt *rt, weft__task *t, unsigned local);
    /* w ran out of work: take some from another worker; NULL: no stealing. */
    weft_runq_node *(*steal)(weft__worker *w);
    uint64_t (*rand)(weft_rt *rt);
    /* A task failed the run (simulation) — never returns to the task. */
    void (*fail)(weft_rt *rt, int status, const char *msg);
} weft__backend;

WEFT_HIDDEN extern const weft__backend weft__backend_single;
WEFT_HIDDEN extern const weft__backend weft__backend_sim;

enum weft__stop_when { WEFT__STOP_ROOT = 0, WEFT__STOP_ALL_DONE };

typedef struct weft__sim weft__sim;

struct weft_rt {
    weft_config cfg;
    weft_allocator alloc;
    weft_os os;
    const weft__backend *backend;
    unsigned nworkers;
    weft__worker *workers;
    /* tasks: chunked table, slot = handle index */
    weft__task **chunks;
    uint32_t nchunks, chunk_cap;
    uint32_t free_slot;  /* head of the free-slot list, or UINT32_MAX */
    uint32_t fresh_slot; /* slots below this were handed out at least once */
    uint64_t next_task_id;
    uint64_t live;       /* tasks not yet FINISHED/ABANDONED */
    uint64_t unreleased; /* slots in use (live or waiting for join) */
    weft__stack_pool pools[WEFT__STACK_CLASSES];
    weft__hooks hooks;
    uint32_t hook_mask;
    uint32_t timer_poll_mask; /* poll timers every (mask+1) steps when busy */
    uint64_t step_limit;      /* stop the loops at this many steps (shutdown's budget) */
    uint64_t time_limit;      /* real backends: stop parking past this time (shutdown's budget) */
    weft__task *root;
    void *root_result;
    int stop;
    int stop_when;
    int status;
    int running; /* inside block_on */
    int shut_down;
    int quiet;
    weft_rt_stats stats;
    weft__ctx host_ctx;
    uint64_t rand_state[4];
    weft__sim *sim;
    char *schedule;
    char *trace_path;
    void *altstack;
    size_t altstack_size;
};

/* The worker running on this OS thread (NULL outside a runtime). */
WEFT_HIDDEN extern WEFT_TLS weft__worker *weft__tls_worker;

static inline weft__task *weft__current(void)
{
    weft__worker *w = weft__tls_worker;
    return w ? w->current : NULL;
}

/* ---- allocation (alloc.c) ---- */
WEFT_HIDDEN extern const weft_allocator weft__malloc_allocator; /* the default */
WEFT_HIDDEN void *weft__alloc(weft_rt *rt, size_t size);
WEFT_HIDDEN void *weft__calloc(weft_rt *rt, size_t size);
WEFT_HIDDEN void weft__free(weft_rt *rt, void *p, size_t size);
/* Make room for element `len` of the array *v (capacity *cap, elements of
 * elem bytes), doubling from `first`. inject: the allocation is one the
 * simulator may fail (the program's); the simulator's own books are not.
 * Returns 0, or WEFT_ENOMEM with the array untouched. */
WEFT_HIDDEN int weft__grow(weft_rt *rt, bool inject, void **v, size_t *cap, size_t len, size_t elem, size_t first);

/* ---- os.c ---- */
WEFT_HIDDEN void weft__os_fill(weft_os *os, const weft_os *user);

/* ---- stacks (stack.c) ---- */
WEFT_HIDDEN int weft__stack_get(weft_rt *rt, size_t size, weft__stack **out);
WEFT_HIDDEN void weft__stack_put(weft_rt *rt, weft__stack *s);
WEFT_HIDDEN void weft__stacks_free(weft_rt *rt);
WEFT_HIDDEN void weft__stacks_trim(weft_rt *rt);
WEFT_HIDDEN size_t weft__stack_round(size_t size);
WEFT_HIDDEN int weft__guard_install(weft_rt *rt);
WEFT_HIDDEN void weft__guard_enter(weft_rt *rt);
WEFT_HIDDEN void weft__guard_leave(weft_rt *rt);
WEFT_HIDDEN void weft__print_repro(weft_rt *rt, int fd);

/* ---- hooks (hooks.c) ---- */
WEFT_HIDDEN void weft__hook_dispatch(weft_rt *rt, weft_hook_event ev, weft__worker *w, const weft__task *t,
                                     int status, const char *reason);
WEFT_HIDDEN void weft__hooks_free(weft_rt *rt);
static inline void weft__hook(weft_rt *rt, weft_hook_event ev, weft__worker *w, const weft__task *t, int status,
                              const char *reason)
{
    if (WEFT_UNLIKELY(rt->hook_mask & (1u << ev)))
        weft__hook_dispatch(rt, ev, w, t, status, reason);
}

/* ---- tasks (task.c) ---- */
WEFT_HIDDEN int weft__task_new(weft_rt *rt, weft_fn fn, void *arg, const weft_spawn_opts *o, weft__task **out);
WEFT_HIDDEN void weft__task_release(weft_rt *rt, weft__task *t);
WEFT_HIDDEN weft__task *weft__task_from_handle(weft_rt *rt, weft_task *h);
WEFT_HIDDEN weft_task *weft__task_handle(const weft__task *t);
WEFT_HIDDEN weft__task *weft__task_at(weft_rt *rt, uint32_t slot);
WEFT_HIDDEN void weft__tasks_free(weft_rt *rt);
WEFT_HIDDEN int weft__cancel_task(weft_rt *rt, weft__task *t, int hook_status);

/* ---- the loop (loop.c) ---- */
WEFT_HIDDEN void weft__worker_loop(weft__worker *w);
WEFT_HIDDEN void weft__worker_loop_entry(void *transfer);
/* Make t runnable on a worker chosen by the backend's placement. */
WEFT_HIDDEN void weft__make_runnable(weft_rt *rt, weft__task *t);
/* The current task goes back to its worker's loop in state `state`. */
WEFT_HIDDEN void weft__switch_to_loop(weft__task *t, int state);
/* The current task yields (YIELDED) or parks (PARKED): straight to the next
 * runnable task when the loop has nothing else to do, else via the loop. */
WEFT_HIDDEN void weft__switch_away(weft__task *t, int state);
WEFT_HIDDEN bool weft__poll_timers(weft__worker *w);
WEFT_HIDDEN void weft__task_entry(void *transfer);
static inline void weft__sched_point(weft__worker *w)
{
    if (WEFT_UNLIKELY(w->sched_point != NULL) && !w->rt->hooks.dispatching)
        w->sched_point(w);
}

/* The calling thread's worker's point, if it runs one (calls that also work
 * outside a task: signal, release, close…). */
static inline void weft__sched_point_here(void)
{
    weft__worker *w = weft__tls_worker;
    if (w)
        weft__sched_point(w);
}

/* The built-in FIFO, inline: the common queue should not cost two indirect
 * calls per step. Other queues go through their ops table. */
typedef struct weft__fifo {
    weft_runq_node *head, *tail;
    size_t len;
} weft__fifo;

static inline void weft__fifo_push(weft__fifo *q, weft_runq_node *n)
{
    n->next = NULL;
    if (q->tail)
        q->tail->next = n;
    else
        q->head = n;
    q->tail = n;
    q->len++;
}

static inline weft_runq_node *weft__fifo_pop(weft__fifo *q)
{
    weft_runq_node *n = q->head;
    if (n) {
        q->head = n->next;
        if (!q->head)
            q->tail = NULL;
        q->len--;
        n->next = NULL;
    }
    return n;
}

static inline void weft__rq_push(weft__worker *w, weft_runq_node *n)
{
    w->pushes++;
    w->queued_unpinned += !(((weft__task *)n)->flags & WEFT__F_PINNED);
    if (WEFT_LIKELY(w->rq_fifo))
        weft__fifo_push((weft__fifo *)w->rq, n);
    else
        w->rq_ops->push(w->rq, n);
}

static inline weft_runq_node *weft__rq_pop(weft__worker *w)
{
    weft_runq_node *n = WEFT_LIKELY(w->rq_fifo) ? weft__fifo_pop((weft__fifo *)w->rq) : w->rq_ops->pop(w->rq);
    if (n)
        w->queued_unpinned -= !(((weft__task *)n)->flags & WEFT__F_PINNED);
    return n;
}

/* ---- waiting (wait.c) ---- */

/* A task blocked on a weft_waitlist; lives in the blocked call's frame. */
typedef struct weft__waiter {
    struct weft__waiter *next, *prev;
    weft__task *task;
    weft_waitlist *list;
    uint32_t *lock; /* the lock of the object owning list */
    void *data;     /* operation data (element pointer, …) */
    uint64_t aux;   /* operation data (permits, generation, …) */
    int result;
    bool linked;
} weft__waiter;

/* The calling task, or a negative code: WEFT_EPERM outside a task or in a
 * no-stack task (those cannot block), WEFT_ECANCELED if cancelled, WEFT_ETIMEDOUT
 * if a scope deadline passed. `what` names the call for the debug message. */
WEFT_HIDDEN int weft__blocking_entry_slow(weft__task **out, const char *what);
/* Must t's next wait end with WEFT_ECANCELED? Not while it is shielded, or
 * in a wait that cancellation must not break. */
static inline bool weft__cancel_pending(const weft__task *t)
{
    return (t->flags & WEFT__F_CANCEL) && !(t->flags & (WEFT__F_UNCANCELLABLE | WEFT__F_SHIELDED));
}

static inline int weft__blocking_entry(weft__task **out, const char *what)
{
    weft__worker *w = weft__tls_worker;
    weft__task *t = w ? w->current : NULL;
    /* The common case in one test: a fiber task, not cancelled, in no scope. */
    if (WEFT_LIKELY(t && !(t->flags & (WEFT__F_NOSTACK | WEFT__F_CANCEL)) && !t->scope)) {
        *out = t;
        return 0;
    }
    return weft__blocking_entry_slow(out, what);
}
/* Block the current task until woken (the return value is the wake's code) or
 * until the deadline (min with scope deadlines), which unlinks it and returns
 * WEFT_ETIMEDOUT; cancellation unlinks it and returns WEFT_ECANCELED. unlink
 * may be NULL for waits nothing else refers to. */
WEFT_HIDDEN int weft__block(weft__task *t, int kind, void *obj, weft__unlink_fn unlink, uint64_t deadline);
/* Wake a blocked task with code result. */
WEFT_HIDDEN void weft__wake(weft__task *t, int result);
/* The earlier of deadline and those of s and the scopes around it. */
WEFT_HIDDEN uint64_t weft__scope_deadline(const weft_scope *s, uint64_t deadline);
static inline uint64_t weft__effective_deadline(const weft__task *t, uint64_t deadline)
{
    return weft__scope_deadline(t->scope, deadline);
}

static inline void weft__waitlist_push(weft_waitlist *l, weft__waiter *w)
{
    weft__waiter *tail = l->tail;
    w->next = NULL;
    w->prev = tail;
    if (tail)
        tail->next = w;
    else
        l->head = w;
    l->tail = w;
    w->list = l;
    w->linked = true;
}

static inline void weft__waitlist_remove(weft_waitlist *l, weft__waiter *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        l->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        l->tail = w->prev;
    w->next = w->prev = NULL;
    w->linked = false;
}

/* Waiters taken off their lists under an object's lock, to be woken after it
 * is released, in the order they arrived. */
typedef struct weft__chain {
    weft__waiter *head, *tail;
} weft__chain;

static inline void weft__chain_add(weft__chain *c, weft__waiter *w)
{
    w->next = NULL;
    if (c->tail)
        c->tail->next = w;
    else
        c->head = w;
    c->tail = w;
}

/* Wake every waiter of c with code (the object's lock already released). */
WEFT_HIDDEN void weft__wake_chain(weft__chain *c, int code);

static inline weft__waiter *weft__waitlist_pop(weft_waitlist *l)
{
    weft__waiter *w = l->head;
    if (w)
        weft__waitlist_remove(l, w);
    return w;
}
static inline bool weft__waitlist_empty(const weft_waitlist *l) { return l->head == NULL; }
/* Queue wt on l and block; called with *lock held, which it releases before
 * parking. Cancellation and timeouts remove wt from l under *lock. */
WEFT_HIDDEN int weft__block_on_list(weft__task *t, weft__waiter *wt, weft_waitlist *l, uint32_t *lock, int kind,
                                    uint64_t deadline);
WEFT_HIDDEN bool weft__unlink_from_list(weft__task *t);

static inline void weft__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* A spin lock for the short critical sections of sync objects, so they stay
 * correct when tasks run on several OS threads. */
static inline void weft__spin_lock(uint32_t *l)
{
    _Atomic uint32_t *a = (_Atomic uint32_t *)l;
    while (atomic_exchange_explicit(a, 1, memory_order_acquire)) {
        while (atomic_load_explicit(a, memory_order_relaxed))
            weft__cpu_relax();
    }
}
static inline void weft__spin_unlock(uint32_t *l)
{
    atomic_store_explicit((_Atomic uint32_t *)l, 0, memory_order_release);
}

/* Coordination objects need atomic instructions only when their tasks can
 * run on several OS threads at once. The simulator and the single-thread
 * backend run every task of a runtime on one OS thread, switching only inside
 * the runtime's own calls, so plain loads and stores are exact there; a lock
 * prefix would cost 7-8 ns per operation for nothing. Outside any runtime the
 * safe path is taken. */
static inline bool weft__concurrent(void)
{
    weft__worker *w = weft__tls_worker;
    return !w || w->concurrent;
}

static inline void weft__obj_lock(uint32_t *l)
{
    if (weft__concurrent())
        weft__spin_lock(l);
}

static inline void weft__obj_unlock(uint32_t *l)
{
    if (weft__concurrent())
        weft__spin_unlock(l);
}

/* ---- simulation entry points the core calls (sim/) ---- */
WEFT_HIDDEN void weft__sim_free(weft_rt *rt);
WEFT_HIDDEN uint32_t weft__sim_choose(weft_rt *rt, int stream, uint32_t n);
WEFT_HIDDEN int weft__sim_buggify(weft_rt *rt, const char *file, int line);
WEFT_HIDDEN bool weft__sim_fail_alloc(weft_rt *rt);
WEFT_HIDDEN void weft__sim_after_run(weft_rt *rt);
/* Timers fired by a simulated worker count against the step budget. */
WEFT_HIDDEN void weft__sim_steps(weft_rt *rt, uint64_t n);

enum weft__stream {
    WEFT__S_INTERLEAVE = 0,
    WEFT__S_PLACE,
    WEFT__S_TIMING,
    WEFT__S_FAULT,
    WEFT__S_RAND,
    WEFT__S_SELECT,
    WEFT__S_COUNT
};

/* ---- scope.c ---- */
WEFT_HIDDEN void weft__scope_cancel_children(weft_scope *s);

/* ---- report.c ---- */
WEFT_HIDDEN size_t weft__blocked_tasks(weft_rt *rt, char *out, size_t len);
WEFT_HIDDEN void weft__report_deadlock(weft_rt *rt);
WEFT_HIDDEN WEFT_NORETURN void weft__die(const char *msg);

/* ---- misc ---- */
WEFT_HIDDEN int weft__env_apply(weft_config *cfg, int quiet, char *why, size_t whylen);
/* Decimal or 0x hexadecimal, nothing else (no octal surprise for "010"). */
WEFT_HIDDEN int weft__parse_u64(const char *s, uint64_t *out);
WEFT_HIDDEN uint64_t weft__splitmix64(uint64_t *state);
WEFT_HIDDEN uint64_t weft__xoshiro_next(uint64_t s[4]);
WEFT_HIDDEN void weft__xoshiro_seed(uint64_t s[4], uint64_t seed);

#endif /* WEFT_INTERNAL_H */
