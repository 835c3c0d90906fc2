/* weft.h — the public API of weft, a simulation-first runtime for concurrent C.
 *
 * One header for everything a program needs: the runtime, tasks, timers, run
 * queues, lifecycle hooks, coordination (weft/sync.h) and the simulator's
 * controls (weft/sim.h). Every function returns 0 (or a count) on success and a
 * negative WEFT_E… code on failure; errno is never used for reporting.
 *
 * Ownership, in one rule: objects whose size is public (weft_timer, weft_mutex,
 * …) are caller-allocated and must outlive their use; objects whose size is
 * private (weft_rt, weft_task, weft_chan) are created and freed by weft.
 */
#ifndef WEFT_H
#define WEFT_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(WEFT_BUILDING) && defined(__GNUC__)
#define WEFT_API __attribute__((visibility("default")))
#else
#define WEFT_API
#endif

#define WEFT_VERSION_MAJOR 0
#define WEFT_VERSION_MINOR 1

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

/* Values are -errno where one fits, so they print sensibly with strerror(-e). */
#define WEFT_OK 0
#define WEFT_EPERM (-EPERM)         /* not allowed here (e.g. blocking outside a task) */
#define WEFT_ESRCH (-ESRCH)         /* no such task (stale or already joined handle) */
#define WEFT_EIO (-EIO)             /* an I/O error (real or injected) */
#define WEFT_EAGAIN (-EAGAIN)       /* would block (try_ operations) */
#define WEFT_ENOMEM (-ENOMEM)       /* allocation failed; nothing was leaked */
#define WEFT_EBUSY (-EBUSY)         /* object in use (destroy with waiters, …) */
#define WEFT_EINVAL (-EINVAL)       /* bad argument */
#define WEFT_EPIPE (-EPIPE)         /* channel closed */
#define WEFT_EDEADLK (-EDEADLK)     /* deadlock: would wait forever */
#define WEFT_ENOTSUP (-ENOTSUP)     /* not supported in this configuration */
#define WEFT_ETIMEDOUT (-ETIMEDOUT) /* a deadline passed */
#define WEFT_EALREADY (-EALREADY)   /* already done (timer not pending, …) */
#define WEFT_ECANCELED (-ECANCELED) /* the task was cancelled */
#define WEFT_ESHUTDOWN (-ESHUTDOWN) /* the runtime is shutting down */
/* weft's own codes, outside the errno range. */
#define WEFT_EFAILED (-4001)   /* a simulated run failed (WEFT_ASSERT, weft_fail) */
#define WEFT_ELIVELOCK (-4002) /* a simulated run exceeded its step budget */
#define WEFT_ESCHEDULE (-4003) /* a replayed schedule does not fit this program */
#define WEFT_ECLOSED WEFT_EPIPE

/* A static string describing err (a WEFT_E… code); never NULL. */
WEFT_API const char *weft_strerror(int err);

/* ------------------------------------------------------------------------ */
/* Types                                                                     */
/* ------------------------------------------------------------------------ */

typedef struct weft_rt weft_rt;     /* a runtime (opaque) */
typedef struct weft_task weft_task; /* a task handle (opaque, never dereferenced) */

/* A task body. Its return value is the task's result, handed to weft_join. */
typedef void *(*weft_fn)(void *arg);

typedef enum weft_mode {
    WEFT_MODE_SIM = 0,     /* deterministic simulator: virtual time and workers */
    WEFT_MODE_THREADED = 1 /* real backend: monotonic clock, OS parking */
} weft_mode;

/* A replaceable allocator. alloc returns NULL on failure; free gets the size
 * that was asked for. ctx is passed back untouched. */
typedef struct weft_allocator {
    void *(*alloc)(void *ctx, size_t size);
    void (*free)(void *ctx, void *ptr, size_t size);
    void *ctx;
} weft_allocator;

/* ---- Intrusive lists ---------------------------------------------------- */

/* A link and a list, embedded in objects that sit on lists (tasks in run
 * queues, timers in the wheel, waiters on wait lists). Private to weft except
 * where a run queue implementation below says otherwise; a zero-filled list
 * is empty. */
typedef struct weft_link {
    struct weft_link *next, *prev;
} weft_link;
typedef struct weft_list {
    weft_link *head, *tail;
} weft_list;

/* ---- Pluggable run queues ---------------------------------------------- */

/* The node a run queue holds a task by. The runtime embeds one in every
 * task; while a task is queued, link and scratch belong to the queue (a list
 * of nodes, or any use the queue likes). task_id and priority are read-only
 * for the queue. */
typedef struct weft_runq_node {
    weft_link link;
    uintptr_t scratch;
    uint64_t task_id;
    int priority;
} weft_runq_node;

/* A run queue implementation, one instance per worker. The runtime allocates
 * state_size bytes per worker (zeroed, aligned for any type) and calls init
 * on them. push must not fail (the node carries its own link); pop returns
 * NULL when empty. steal is optional (NULL): move up to half of the queue's
 * nodes into out[], at most max, return how many.
 *
 * Threads: push, pop and len are called only by the worker that owns the
 * queue. steal is called by other workers; on a runtime whose tasks run on
 * several OS threads, the runtime holds a per-worker lock around every call
 * to a queue that has steal, so an implementation never needs its own
 * synchronization. The built-in FIFO and LIFO queues are the work-stealing
 * deque (lock-free); the priority queue takes the lock. */
typedef struct weft_runq_ops {
    const char *name;
    size_t state_size;
    int (*init)(void *state, void *arg);
    void (*destroy)(void *state);
    void (*push)(void *state, weft_runq_node *node);
    weft_runq_node *(*pop)(void *state);
    size_t (*len)(const void *state);
    size_t (*steal)(void *state, weft_runq_node **out, size_t max);
} weft_runq_ops;

/* The built-in queues. Priority levels: 0 (lowest) to WEFT_PRIO_MAX; higher
 * runs first, FIFO within a level. */
#define WEFT_PRIO_MAX 7
WEFT_API const weft_runq_ops *weft_runq_fifo(void);
WEFT_API const weft_runq_ops *weft_runq_lifo(void);
WEFT_API const weft_runq_ops *weft_runq_priority(void);

/* ---- Simulation settings ------------------------------------------------ */

typedef enum weft_strategy {
    WEFT_STRATEGY_RANDOM = 0,     /* uniform random walk over the choices */
    WEFT_STRATEGY_PCT = 1,        /* probabilistic concurrency testing, depth d */
    WEFT_STRATEGY_EXHAUSTIVE = 2, /* depth-first over the choice tree (weft_explore) */
    WEFT_STRATEGY_BYTES = 3       /* choices read from a byte buffer (fuzzing) */
} weft_strategy;

typedef struct weft_sim_config {
    weft_strategy strategy;  /* how interleavings are chosen */
    unsigned pct_depth;      /* PCT's d; 0 → 2 */
    unsigned pct_steps;      /* PCT's estimate of steps per run; 0 → 1000 */
    uint64_t step_budget;    /* steps before a livelock is reported; 0 → 10^7 */
    uint64_t step_cost_ns;   /* virtual ns each scheduling step costs; 0 → none */
    unsigned buggify_permille; /* chance a WEFT_BUGGIFY site is enabled; 0 → 250 */
    uint64_t fail_alloc_nth; /* fail the n-th allocation (1-based); 0 → never */
    unsigned fail_alloc_permille; /* fail each allocation with this chance */
    const uint8_t *bytes;    /* WEFT_STRATEGY_BYTES: the choices; not copied */
    size_t bytes_len;
    int record_trace;        /* keep every trace event in memory (for export) */
    /* Real milliseconds a task may run without a scheduling point before
     * the run is reported (task, replay line) and the process aborts: the
     * simulator cannot switch away from a loop that never calls the
     * runtime. 0 → 10,000 (also WEFT_WATCHDOG_MS). */
    unsigned watchdog_ms;
} weft_sim_config;

/* ---- Runtime configuration ----------------------------------------------- */

#define WEFT_STACK_DEFAULT (64u * 1024u)
#define WEFT_STACK_MIN (16u * 1024u)
#define WEFT_STACK_MAX (256u * 1024u * 1024u)
#define WEFT_WORKERS_MAX 64

/* weft_config.flags */
#define WEFT_CFG_NO_ENV 0x1u /* ignore WEFT_* environment overrides */
#define WEFT_CFG_QUIET 0x2u  /* no diagnostics on stderr (tests of failures) */
/* Coordination objects use atomic instructions even though this runtime runs
 * its tasks on one OS thread (where plain loads and stores are exact and
 * faster). For testing the multi-thread paths. */
#define WEFT_CFG_ATOMIC_SYNC 0x4u

/* ---- Engines ------------------------------------------------------------- */

/* How an engine's workers share work. */
typedef enum weft_policy {
    WEFT_POLICY_STEAL = 0, /* work stealing (default): local deques, a LIFO
                              slot, an injection queue, idle workers steal */
    WEFT_POLICY_PER_CORE,  /* thread-per-core: a task stays on the worker it
                              was spawned on; no stealing */
    WEFT_POLICY_GLOBAL     /* one shared FIFO for every worker ("compute pool") */
} weft_policy;

/* One engine: a set of workers configured together. Tasks are spawned onto
 * an engine by name (weft_spawn_opts.engine). In simulation the workers are
 * virtual and the OS settings (thread names, priority, affinity) are checked
 * but not applied. */
typedef struct weft_engine_config {
    const char *name;        /* NULL: "default"; names must differ */
    unsigned workers;        /* 0: the CPUs this process may run on (1 in simulation) */
    weft_policy policy;
    unsigned dedicated;      /* extra dedicated workers: a task spawned or pinned
                                on one always resumes on that OS thread */
    const char *thread_name; /* OS thread name prefix (ps -L); NULL: "weft" */
    int nice;                /* with sched_policy SCHED_OTHER: -20..19 */
    int sched_policy;        /* SCHED_OTHER (0), SCHED_FIFO or SCHED_RR */
    int sched_priority;      /* the level for SCHED_FIFO/SCHED_RR */
    const int *cpus;         /* CPU affinity of every worker; NULL: any */
    unsigned ncpus;
    unsigned flags;          /* WEFT_ENGINE_… */
} weft_engine_config;

/* weft_engine_config.flags */
/* Idle workers of a work-stealing engine watch their busy peers' LIFO
 * slots (src/THREADING.md rule 11): a task woken into a worker's slot while
 * that worker's task runs on without returning to its loop (a long
 * computation, a blocking call) is stolen within 10-20 ms instead of waiting
 * for that task (tokio#4941). Opt-in, as tokio made its own (tokio#8092):
 * while any worker is busy, an idle one wakes every 10 ms, and an engine
 * that goes from all idle to busy wakes one more worker; on a 2-worker echo
 * server that cost about 4% of throughput and 25% of p99 here. Without it
 * the slot is still stealable, by a worker that is awake and searching. */
#define WEFT_ENGINE_WATCH_LIFO 0x1u

#define WEFT_ENGINES_MAX 16

/* Which OS reactor a threaded runtime waits in (weft/io.h). AUTO is epoll.
 * io_uring is used when asked for and the kernel allows it; when its set-up
 * fails the runtime falls back to epoll and says why, once, on stderr.
 * poll is the portable fallback. Also WEFT_REACTOR=epoll|uring|poll. */
typedef enum weft_reactor {
    WEFT_REACTOR_AUTO = 0,
    WEFT_REACTOR_EPOLL,
    WEFT_REACTOR_URING,
    WEFT_REACTOR_POLL
} weft_reactor;

/* A zeroed weft_config is valid: simulation, seed 0, one worker, 64 KiB
 * stacks, FIFO run queue, malloc. Environment overrides are read once in
 * weft_rt_new: WEFT_MODE (sim|threaded), WEFT_SEED, WEFT_SCHEDULE,
 * WEFT_WORKERS, WEFT_STRATEGY (random|pct|exhaustive), WEFT_TRACE (a path). */
typedef struct weft_config {
    weft_mode mode;
    uint64_t seed;            /* simulation seed */
    unsigned workers;         /* the default engine's workers when engines is
                                 NULL: 0 → 1 in simulation, the CPUs this
                                 process may run on when threaded; at most
                                 WEFT_WORKERS_MAX in all */
    size_t stack_size;        /* 0 → WEFT_STACK_DEFAULT; rounded up to pages */
    const weft_runq_ops *runq; /* NULL → weft_runq_fifo() */
    void *runq_arg;           /* passed to runq->init */
    const weft_allocator *allocator; /* NULL → malloc/free; must outlive rt */
    unsigned flags;           /* WEFT_CFG_… */
    const char *schedule;     /* simulation: replay this schedule (copied) */
    const char *trace_path;   /* simulation: write the trace here at exit (copied) */
    weft_sim_config sim;
    const struct weft_os *os; /* NULL → the real OS calls (see weft/os.h) */
    /* Engines (NULL: one "default" engine of `workers` workers, work
     * stealing). The array and its strings are copied. */
    const weft_engine_config *engines;
    unsigned nengines;
    weft_reactor reactor;     /* threaded: the OS reactor (see above) */
} weft_config;

/* ---- Spawning ------------------------------------------------------------ */

/* weft_spawn_opts.flags */
#define WEFT_SPAWN_NOSTACK 0x1u  /* run to completion on the worker's stack */
#define WEFT_SPAWN_PINNED 0x2u   /* run only on worker `worker` (of `engine`):
                                    it resumes on that worker after every wait */
#define WEFT_SPAWN_DEDICATED 0x4u /* run on dedicated worker `worker` of
                                    `engine` (see weft_engine_config.dedicated) */

/* A zeroed weft_spawn_opts means: no name, the runtime's stack size,
 * priority 0, the spawning task's engine (or the first engine), any worker.
 * name is not copied: it must stay valid until the task is joined (a string
 * literal is the usual choice). */
typedef struct weft_spawn_opts {
    const char *name;
    size_t stack_size;
    int priority; /* 0..WEFT_PRIO_MAX, for the priority queue */
    unsigned worker;
    unsigned flags;
    const char *engine; /* an engine's name; NULL: see above */
    struct weft_node *node; /* simulated node to run on (weft/io.h); NULL:
                               the spawning task's node */
} weft_spawn_opts;

/* ------------------------------------------------------------------------ */
/* Runtime                                                                   */
/* ------------------------------------------------------------------------ */

/* Create a runtime. cfg may be NULL (all defaults). On success *rt owns every
 * resource and must be released with weft_rt_free. Returns WEFT_EINVAL for a
 * bad configuration (the reason is printed in debug builds), WEFT_ENOTSUP for
 * a mode this build cannot run, WEFT_ENOMEM. */
WEFT_API int weft_rt_new(weft_rt **rt, const weft_config *cfg);

/* Run fn(arg) as a task on rt and drive the runtime until it returns; *result
 * (may be NULL) receives its return value. Other tasks keep their state and
 * continue at the next block_on. Returns 0, or WEFT_EDEADLK (every task
 * blocked forever), WEFT_EFAILED (a simulated run failed; the reproduction line
 * has been printed), WEFT_ELIVELOCK, WEFT_ESCHEDULE, WEFT_ENOMEM, WEFT_EPERM
 * (called from inside a task), WEFT_EINVAL. */
WEFT_API int weft_rt_block_on(weft_rt *rt, weft_fn fn, void *arg, void **result);

/* Cancel every task still alive, let each reach its cancellation point and
 * finish, and report each one it had to cancel: a WEFT_HOOK_CANCEL event with
 * status WEFT_ESHUTDOWN per task, a line per task on stderr in debug builds,
 * a one-line summary in every build (unless WEFT_CFG_QUIET), and the counts in
 * weft_rt_stats. Returns the number of tasks cancelled. Idempotent; weft_rt_free calls it. Tasks that ignore
 * cancellation past the budget (a million steps, and five seconds on a real
 * backend) are reported as abandoned; their stacks are freed with the runtime. */
WEFT_API int weft_rt_shutdown(weft_rt *rt);

/* Shut down (see above) and release everything rt owns. rt may be NULL. */
WEFT_API void weft_rt_free(weft_rt *rt);

/* The runtime the calling task runs on, or NULL outside a task. */
WEFT_API weft_rt *weft_rt_current(void);

/* Counters kept by every runtime. While it runs on several threads, a read
 * is a snapshot of each counter, not a consistent cut across them. */
typedef struct weft_rt_stats {
    uint64_t spawned, finished, cancelled, steps, switches;
    uint64_t shutdown_cancelled; /* tasks weft_rt_shutdown had to cancel */
    uint64_t shutdown_unjoined;  /* finished tasks nobody joined, at shutdown */
    uint64_t shutdown_abandoned; /* tasks that ignored cancellation */
    uint64_t live_tasks, stacks_mapped, stacks_cached;
    uint64_t steals;             /* tasks taken from another worker's queue */
    uint64_t parks;              /* times a worker had nothing to run */
    uint64_t workers;            /* workers of all engines */
} weft_rt_stats;
WEFT_API int weft_rt_stats_get(const weft_rt *rt, weft_rt_stats *out);

/* ------------------------------------------------------------------------ */
/* Tasks                                                                     */
/* ------------------------------------------------------------------------ */

/* Spawn fn(arg) on the current runtime (must be called from a task). If t is
 * non-NULL, *t is a handle that must be passed to weft_join or weft_detach
 * exactly once; if t is NULL the task is detached. Returns WEFT_EPERM outside
 * a task, WEFT_ENOMEM (nothing leaked, nothing spawned), WEFT_EINVAL. */
WEFT_API int weft_spawn(weft_task **t, weft_fn fn, void *arg);
WEFT_API int weft_spawn_ex(weft_task **t, weft_fn fn, void *arg, const weft_spawn_opts *opts);

/* Spawn fn(arg) on rt from any thread: the way a thread that is not one of
 * rt's (a plain pthread, main before weft_rt_block_on) hands in work; from a
 * task of rt it is weft_spawn_ex. opts may be NULL. A task spawned while rt
 * is not running starts at the next weft_rt_block_on. *t (may be NULL:
 * detached) is joined or detached from a task of rt. Returns 0, WEFT_EINVAL,
 * WEFT_ENOMEM, WEFT_ESHUTDOWN. */
WEFT_API int weft_rt_spawn(weft_rt *rt, weft_task **t, weft_fn fn, void *arg, const weft_spawn_opts *opts);

/* Wait for t to finish; *result (may be NULL) receives its return value, which
 * is delivered even when the task was cancelled. Releases the handle.
 * Returns 0; WEFT_ECANCELED if t was cancelled before it finished (result still
 * delivered) or if the caller is cancelled while waiting (then the handle
 * stays valid); WEFT_ENOMEM if t never ran because no stack could be had;
 * WEFT_ESRCH for a stale handle (double join, detached task); WEFT_EDEADLK to
 * join oneself; WEFT_EBUSY if another task is joining t; WEFT_EPERM outside a
 * task. */
WEFT_API int weft_join(weft_task *t, void **result);

/* Run fn(arg), a call that blocks its OS thread (a blocking syscall, a
 * library without an async API), on the runtime's elastic pool of threads,
 * so no worker is held up. *t (may be NULL: detached) joins, detaches and
 * cancels like a task's: cancelled before it starts, fn never runs (join
 * returns WEFT_ECANCELED); once it runs it runs to its end. fn runs outside
 * the runtime: it may use what a foreign thread may (weft_rt_spawn, shared
 * channels, weft_notify_signal). Call from a task. Returns 0, WEFT_EPERM
 * (outside a task), WEFT_EINVAL, WEFT_ENOMEM, WEFT_ESHUTDOWN. In simulation
 * fn runs as an ordinary task (its real duration is not virtual time). */
WEFT_API int weft_spawn_blocking(weft_task **t, weft_fn fn, void *arg);

/* Give up the handle: the task's resources are released when it finishes. */
WEFT_API int weft_detach(weft_task *t);

/* Ask t to stop: its current blocking call (or the next one) returns
 * WEFT_ECANCELED, and so does every blocking call after that. Returns 0, also
 * when t already finished (too late: its join then returns its result);
 * WEFT_ESRCH for a stale handle. */
WEFT_API int weft_cancel(weft_task *t);

/* Defer cancellation of the calling task while on is non-zero: its blocking
 * calls are not cut short by weft_cancel, so cleanup can still lock, wait and
 * join; a cancel that arrives meanwhile takes effect at the first blocking
 * call after the shield is lowered. Returns the previous setting (0 or 1), so
 * shields nest by restoring it; WEFT_EPERM outside a task. Scope deadlines
 * still apply. */
WEFT_API int weft_cancel_shield(int on);

/* Let other runnable tasks run; the caller goes to the back of its queue. */
WEFT_API void weft_yield(void);

/* Block for ns nanoseconds (virtual in simulation). Returns 0, WEFT_ECANCELED,
 * WEFT_ETIMEDOUT (a scope deadline came first), WEFT_EPERM (not in a fiber
 * task). weft_sleep_until takes an absolute weft_now() deadline. */
WEFT_API int weft_sleep(uint64_t ns);
WEFT_API int weft_sleep_until(uint64_t deadline);

/* Nanoseconds on the runtime's monotonic clock (virtual in simulation); 0
 * outside a runtime. */
WEFT_API uint64_t weft_now(void);

/* 64 random bits: from the decision source in simulation (so a seed replays
 * them), from a PRNG seeded by the OS otherwise; 0 outside a runtime. */
WEFT_API uint64_t weft_rand(void);

/* A point where the simulator may switch to another virtual worker, for user
 * code that touches shared memory without calling the runtime. Free in
 * threaded mode. */
WEFT_API void weft_sched_point(void);

/* The calling task's id, or 0 outside a task. Ids are unique within a
 * runtime and never reused; in a serial runtime (a simulation without
 * WEFT_CFG_ATOMIC_SYNC, or one worker) they count from 1 in spawn order; in
 * a concurrent one each worker hands out ids from blocks of its own (still
 * deterministic in a simulation). */
WEFT_API uint64_t weft_task_id(void);
/* The calling task's name or NULL. */
WEFT_API const char *weft_task_name(void);
/* The index of the worker running the caller, or -1 outside a runtime. */
WEFT_API int weft_worker_index(void);

/* Memory from the runtime's allocator (the one fault injection sees).
 * weft_free takes the size that was asked for. Outside a runtime: malloc. */
WEFT_API void *weft_alloc(size_t size);
WEFT_API void weft_free(void *ptr, size_t size);

/* ------------------------------------------------------------------------ */
/* Task-local storage                                                        */
/* ------------------------------------------------------------------------ */

/* A key names one value per task (tokio's task_local!, pthread keys for
 * tasks). Caller-allocated; its address identifies it. A task's value for a
 * key starts NULL; when the task finishes, dtor (may be NULL) is called with
 * each non-NULL value it holds. Values are not inherited by spawned tasks. */
typedef struct weft_tls_key {
    void (*dtor)(void *value);
    uint32_t magic;
} weft_tls_key;

WEFT_API int weft_tls_key_init(weft_tls_key *key, void (*dtor)(void *value));
/* The calling task's value for key; NULL outside a task or when unset. */
WEFT_API void *weft_tls_get(const weft_tls_key *key);
/* Set the calling task's value. Returns 0, WEFT_EPERM (outside a task),
 * WEFT_EINVAL, WEFT_ENOMEM. */
WEFT_API int weft_tls_set(const weft_tls_key *key, void *value);

/* ------------------------------------------------------------------------ */
/* Lifecycle hooks                                                           */
/* ------------------------------------------------------------------------ */

typedef enum weft_hook_event {
    WEFT_HOOK_SPAWN = 0, /* a task was created */
    WEFT_HOOK_START,     /* a task runs for the first time */
    WEFT_HOOK_RESUME,    /* a task runs again after yielding or blocking */
    WEFT_HOOK_YIELD,     /* a task yielded */
    WEFT_HOOK_PARK,      /* a task blocked (info.reason says on what) */
    WEFT_HOOK_WAKE,      /* a blocked task became runnable */
    WEFT_HOOK_FINISH,    /* a task returned (status: 0 or WEFT_ECANCELED) */
    WEFT_HOOK_CANCEL,    /* a task was cancelled (status WEFT_ESHUTDOWN at shutdown) */
    WEFT_HOOK_IDLE,      /* a worker has nothing to run and is about to park */
    WEFT_HOOK_STEAL,     /* a worker took a task queued on another */
    WEFT_HOOK_ERROR,     /* misuse or failure inside a task (status says which) */
    WEFT_HOOK_EVENT_COUNT
} weft_hook_event;

#define WEFT_HOOK_MASK(ev) (1u << (ev))
#define WEFT_HOOK_ALL ((1u << WEFT_HOOK_EVENT_COUNT) - 1u)

typedef struct weft_hook_info {
    weft_hook_event event;
    uint64_t task_id;      /* 0 for worker events (idle) */
    const char *task_name; /* may be NULL */
    int worker;            /* worker index */
    uint64_t now;          /* runtime clock */
    int status;            /* see the events above */
    const char *reason;    /* park: what the task waits on */
} weft_hook_info;

/* info is valid only during the call. A hook must not block. */
typedef void (*weft_hook_fn)(void *ctx, const weft_hook_info *info);

/* Add a hook for the events in mask; hooks run in the order they were added.
 * *id (may be NULL) identifies it for weft_hook_remove. Safe to call from a
 * hook or a task. Returns 0, WEFT_EINVAL, WEFT_ENOMEM. */
WEFT_API int weft_hook_add(weft_rt *rt, uint32_t mask, weft_hook_fn fn, void *ctx, int *id);
/* Remove a hook (also from inside a hook). Returns 0 or WEFT_EINVAL. */
WEFT_API int weft_hook_remove(weft_rt *rt, int id);
/* A short stable name for an event ("spawn", "start", …). */
WEFT_API const char *weft_hook_event_name(weft_hook_event ev);

/* ------------------------------------------------------------------------ */
/* Timers                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct weft_timer weft_timer;
/* Runs on the worker loop, not in a task: it must not block. */
typedef void (*weft_timer_cb)(weft_timer *timer, void *arg);

/* Caller-allocated; the fields are private. Set with weft_timer_init. */
struct weft_timer {
    weft_link link;
    uint64_t deadline, seq;
    weft_timer_cb cb;
    void *arg;
    void *wheel;
    uint32_t where;
    uint32_t state;
};

/* Prepare t (not pending). Returns 0 or WEFT_EINVAL. Not on an armed timer:
 * stop it first (telling an armed timer from fresh memory would mean reading
 * memory the caller never initialised). */
WEFT_API int weft_timer_init(weft_timer *t);
/* Arm t to call cb(t, arg) once weft_now() >= deadline, on the calling
 * worker's wheel; re-arming a pending timer moves it. Timers with equal
 * deadlines fire in the order they were started. Call from a task or a timer
 * callback. Returns 0, WEFT_EINVAL, WEFT_EPERM outside a runtime or while t
 * is armed on another runtime (t untouched). */
WEFT_API int weft_timer_start(weft_timer *t, uint64_t deadline, weft_timer_cb cb, void *arg);
/* Disarm t. Returns 0, or WEFT_EALREADY if it was not pending (fired or never
 * started), WEFT_EINVAL, WEFT_EPERM from outside the runtime it is armed on
 * (a plain thread, or a task of another runtime; t untouched). */
WEFT_API int weft_timer_stop(weft_timer *t);
/* 1 if t is armed, else 0. */
WEFT_API int weft_timer_pending(const weft_timer *t);

#ifdef __cplusplus
}
#endif

#include "weft/sync.h"
#include "weft/sim.h"
#include "weft/io.h"

#endif /* WEFT_H */
