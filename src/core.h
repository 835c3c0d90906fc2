/* core.h — the core's private types and the functions its files share:
 * tasks, workers, engines, the runtime, waits and the timer wheel.
 * THREADING.md says, for every field marked here, which threads may touch
 * it and what guards it; the marks are:
 *   [owner]  only the worker that owns it (or the task running on it)
 *   [atomic] any thread, through atomic.h (plain in a serial runtime)
 *   [lock X] any thread holding lock X
 *   [init]   written before the runtime runs, read-only after
 */
#ifndef WEFT_CORE_H
#define WEFT_CORE_H

#include "atomic.h"
#include "backend.h"
#include "fiber.h"
#include "list.h"

/* ------------------------------------------------------------------------ */
/* Tunables (the model build shrinks them so overflow and slow paths run)     */
/* ------------------------------------------------------------------------ */

#ifdef WEFT_MODEL
#define WEFT__DEQUE_CAP 4u
#define WEFT__INJECT_BATCH 2u
#define WEFT__PARK_SPINS 1u
#define WEFT__PARK_SPIN_NS 0u
#else
/* A worker's local deque: 256 tasks (tokio's and Go's size: a burst of
 * spawns stays local, and a steal of half moves a useful batch). */
#define WEFT__DEQUE_CAP 256u
/* Tasks a worker takes from its engine's injection queue at once (at most
 * half its deque, so a refill never overflows straight back). */
#define WEFT__INJECT_BATCH 64u
/* How long an idle worker of a runtime with others looks for work before it
 * sleeps in the kernel: a wake that comes within it (the other half of a
 * ping-pong across workers) costs neither side a futex round trip, as Go's
 * spinning threads and tokio's searching workers do. At most this many rounds
 * (a pause each), for a clock that does not move. */
#define WEFT__PARK_SPIN_NS 20000u
#define WEFT__PARK_SPINS 16384u
#endif
/* Consecutive runs from the LIFO slot before the queue gets a turn (tokio's
 * limit): two tasks waking each other must not starve the rest. */
#define WEFT__LIFO_STREAK_MAX 3u
/* Every this many steps a worker looks at its injection queue, remote queue
 * and timers before its local queue (tokio's event_interval is 61 for the
 * same reason: a hot local queue must not starve them). */
#define WEFT__FAIRNESS_TICK 61u
/* Runtime calls a task may make without blocking before it is made to
 * yield (tokio's coop budget is 128): a task that never waits cannot keep
 * its worker from everything else forever. */
#define WEFT__COOP_BUDGET 128u
/* Task records are allocated this many at a time. */
#define WEFT__TASK_CHUNK 256u
#define WEFT__CACHE_LINE 64u
/* Free task records and stacks a worker keeps for itself before giving
 * half back to the runtime's shared pool. */
#define WEFT__WORKER_CACHE 64u

/* ------------------------------------------------------------------------ */
/* Tasks                                                                     */
/* ------------------------------------------------------------------------ */

/* A task's life. Transitions are checked (WEFT_INVARIANT) where they happen;
 * weft__task_state_name names them in reports. */
enum weft__task_state {
    WEFT__T_FREE = 0,  /* a free record */
    WEFT__T_NEW,       /* spawned, never run, no stack yet (and queued) */
    WEFT__T_QUEUED,    /* in a run queue */
    WEFT__T_RUNNING,   /* on a worker */
    WEFT__T_PARKING,   /* running, but committed to park: its loop will make
                          it PARKED once its context is saved */
    WEFT__T_NOTIFIED,  /* woken while PARKING: its loop re-queues it */
    WEFT__T_PARKED,    /* blocked; a wake makes it QUEUED */
    WEFT__T_FINISHED,  /* returned; waits for join/detach */
    WEFT__T_ABANDONED, /* its run ended without it (simulated failure) */
    WEFT__T_STATE_COUNT
};
WEFT_HIDDEN const char *weft__task_state_name(unsigned state);

/* [owner] flags, changed only by the task itself or its worker. */
enum weft__task_flags {
    WEFT__F_NOSTACK = 1u << 0,
    WEFT__F_PINNED = 1u << 1,       /* runs only on worker `pin` */
    WEFT__F_SCOPE_CHILD = 1u << 2,  /* spawned by weft_scope_spawn: its end is
                                       told to the scope (weft__scope_child_finished) */
    WEFT__F_STARTED = 1u << 3,
    WEFT__F_STARTFAIL = 1u << 4,    /* it could not start (no stack, no blocking pool): finish_status says why */
    WEFT__F_UNCANCELLABLE = 1u << 5, /* in a wait cancellation must not break */
    WEFT__F_SHIELDED = 1u << 6,     /* weft_cancel_shield: cancellation deferred */
    WEFT__F_BLOCKING_DONE = 1u << 7, /* a blocking call that ended on the pool */
    WEFT__F_BLOCKING = 1u << 8,      /* a blocking call run as a task: not at
                                        all if cancelled before it starts */
    WEFT__F_CALLED = 1u << 9,        /* fn was called: `locals` and `result`
                                        replace `fn` and `arg` */
    WEFT__F_SCOPED = 1u << 10,       /* it runs in a scope: weft__task_cold's scope */
    WEFT__F_SELECTED = 1u << 11,     /* weft__task_cold's select_rr is set */
};

/* [atomic] t->cancel: set by any thread, read by the task. */
enum weft__cancel_bits {
    WEFT__CANCEL_REQUESTED = 1u << 0, /* sticky */
    WEFT__CANCEL_LIVE = 1u << 1,      /* it arrived before the task finished */
};

/* [atomic] t->join: who gets the task's end. */
#define WEFT__JOIN_NONE ((uintptr_t)0)
#define WEFT__JOIN_DETACHED ((uintptr_t)1) /* nobody will join: release at finish */
#define WEFT__JOIN_FINISHED ((uintptr_t)2) /* finished; the joiner reaps it */
/* any other value: the task (weft__task *) blocked joining it */

/* How a running task left for its loop (w->switched_out_how). */
enum weft__switch_how { WEFT__SW_YIELD = 1, WEFT__SW_PARK, WEFT__SW_FINISH };

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
    WEFT__W_RWLOCK,
    WEFT__W_NOTIFY,
    WEFT__W_IO,
    WEFT__W_BLOCKING,
    WEFT__W_COUNT
};
/* Or'ed into a wait kind passed to weft__block: a thread outside the
 * runtime may end this wait (a shared channel, the notifier, IO, the
 * blocking pool), so a real backend with every task parked and no timer is
 * not in a deadlock. */
#define WEFT__W_EXTERNAL 0x100
WEFT_HIDDEN const char *weft__wait_name(int kind);
#define WEFT__WAIT_NAME_WIDTH 32
WEFT_HIDDEN extern const char weft__wait_names[WEFT__W_COUNT + 1][WEFT__WAIT_NAME_WIDTH];
/* The row of weft__wait_names that names a wait kind (weft__wait_name's). */
static inline unsigned weft__wait_row(int kind)
{
    return (unsigned)kind < WEFT__W_COUNT ? (unsigned)kind : WEFT__W_COUNT;
}
/* The row of weft__wait_names that text is (0 .. WEFT__W_COUNT), or -1 when
 * it is some other string: the simulator's trace hashes each wait's name
 * once, not at every park. Compares addresses as integers (never a pointer
 * comparison across objects). */
static inline int weft__wait_name_index(const char *text)
{
    uintptr_t off = (uintptr_t)text - (uintptr_t)weft__wait_names[0];
    return off < sizeof weft__wait_names && off % WEFT__WAIT_NAME_WIDTH == 0 ? (int)(off / WEFT__WAIT_NAME_WIDTH)
                                                                             : -1;
}

/* What the core knows of a simulated node (weft_node, sim/node.c): it starts
 * with its life, the number of times it was (re)started, so a task knows
 * whether the node it was spawned on has crashed since. */
typedef struct weft__node_head {
    uint32_t life;
} weft__node_head;

typedef struct weft__engine weft__engine;
typedef struct weft__scope_state weft__scope_state;
typedef struct weft__locals weft__locals;

/* Remove t from what it waits on; true if it did (then the caller wakes t),
 * false if a waker got there first (its wake is on the way). Called with
 * t->wait_lock held. */
typedef bool (*weft__unlink_fn)(weft__task *t);

/* The wait a task is in: a record in weft__block's frame, which lives from
 * the wait's setup to its teardown, both done under the task's wait_lock;
 * t->wait points to it meanwhile, so whoever interrupts the task (cancel, a
 * deadline) reads it under that lock (THREADING.md rule 5). A task that
 * waits for nothing spends one pointer on it. */
typedef struct weft__wait {
    weft__unlink_fn unlink;   /* NULL: a wait with no object, ended through claim */
    void *obj;
    weft__a32 claim;          /* [atomic] 0 open, 1 claimed: waits without an object */
    uint8_t kind;             /* enum weft__wait_kind */
    bool cancellable;         /* cancellation may end this wait */
    bool timeoutable;         /* a scope deadline may end it */
} weft__wait;

/* 128 bytes on LP64, two whole lines (asserted below where the context is a
 * bare stack pointer; sanitizer and ucontext builds keep more in it):
 * spawning a burst of tasks writes every queued record once, and a cold
 * burst pays a page fault for every 32 records, so the record stays small.
 * What is bound only once a task runs shares the room of what it no longer
 * needs: fn gives way to locals, arg to result and stack_size to read_holds
 * when fn is called (weft__task_call; WEFT__F_CALLED says which is there),
 * wait_result to finish_status when it ends; the wait state lives in the waiting frame, the
 * runtime pointer in the chunk's head, and what few tasks have (a name, a
 * simulated node, a scope, a select's round-robin start) in the chunk's
 * cold array (weft__task_cold). A spawn writes each field once (task_init
 * in task.c, which a new field must join). */
struct weft__task {
    weft_runq_node node; /* must stay first: queues hold tasks by it */
    uint32_t slot, gen;       /* gen: [atomic] read by handle checks */
    weft__ctx ctx;            /* [owner] saved while it is switched out */
    weft__stack *stack;       /* [owner] bound at first run */
    union {
        weft_fn fn;                 /* until it is called */
        struct weft__locals *locals; /* [owner] then: task-local storage, or NULL */
    };
    union {
        void *arg;                  /* until fn is called */
        void *result;               /* then (NULL if fn never ran, from finish on) */
    };
    weft__worker *worker;     /* [owner] where it runs or last ran */
    weft__aword join;         /* [atomic] WEFT__JOIN_… or the joiner */
    weft__wait *wait;         /* [lock wait_lock] the wait it is in, or NULL */
    weft__a32 state;          /* [atomic] enum weft__task_state */
    weft__a32 cancel;         /* [atomic] enum weft__cancel_bits */
    weft__a32 wait_lock;      /* guards `wait` and what it points to */
    union {
        int wait_result;      /* while it runs: written by the one waker, read by the task */
        int finish_status;    /* from its end (or a failed start): 0, WEFT_ECANCELED,
                                 WEFT_ENOMEM, WEFT_EFAILED */
    };
    union {
        uint32_t stack_size;  /* until its stack is bound (0: the runtime's) */
        uint32_t read_holds;  /* [owner] from fn's call: how many read locks it
                                 holds, named in its stack's read_held */
    };
    uint16_t flags;           /* [owner] enum weft__task_flags */
    union {
        struct {
            uint8_t engine : 4;   /* [init] index of its engine */
            uint8_t serial : 1;   /* [init] its runtime's `serial`: state words need no atomics */
            uint8_t has_cold : 1; /* [init] weft__task_cold's name and node are set */
        };
        /* The three at once. A fresh record's first touch must be a store:
         * a bitfield's read-modify-write maps the zero page, and the store
         * after it faults again and flushes every other CPU's TLB (a 2-worker
         * burst of spawns lost a third of its speed to those IPIs). */
        uint8_t init_bits;
    };
    uint8_t pin;              /* [init] worker index when PINNED (< WEFT_WORKERS_MAX) */
};

/* The fields few tasks use, one per record in an array of the chunk's, made
 * when one of its tasks first needs it (weft__task_cold_make). Each part
 * says what makes it valid, so nobody has to clear the array: name and node
 * are written at spawn ([init], t->has_cold), scope and select_rr by the
 * task itself ([owner], its flags WEFT__F_SCOPED and WEFT__F_SELECTED). */
typedef struct weft__task_cold {
    const char *name;
    void *io_node;             /* the simulated node it runs on, or NULL */
    weft__scope_state *scope;  /* innermost scope it runs in */
    uint32_t io_node_life;     /* that node's life when it was spawned */
    uint8_t select_rr;         /* round-robin start for weft_select (<= WEFT_SELECT_MAX) */
} weft__task_cold;

/* The saved context stays in the record: in the stack's descriptor it cost
 * a 2-worker yield a fifth of its speed, one more line to load on every
 * switch. Sanitizer and ucontext builds keep more in it. */
#if UINTPTR_MAX == UINT64_MAX && !defined(WEFT_ASAN) && !defined(WEFT_TSAN) && !defined(WEFT_UCONTEXT)
_Static_assert(sizeof(weft__task) == 128, "the task record grew: a cold burst faults in every byte of it");
#endif
_Static_assert(WEFT_ENGINES_MAX <= 16, "weft__task.engine has 4 bits");

/* Records are carved WEFT__TASK_CHUNK at a time, slot by slot, from the
 * first record on a line boundary, and the chunk's head is the line before
 * it (chunk_carve, task.c): a record finds its head from its slot. */
typedef struct weft__chunk_head {
    weft_rt *rt;
    void *mem;       /* what the allocator gave */
    weft__aptr cold; /* [atomic] the chunk's cold array: made when one of its
                        tasks first needs it, so a chunk of plain tasks is
                        its records alone, page after page */
} weft__chunk_head;

static inline const weft__task *weft__chunk_first(const weft__task *t)
{
    return t - t->slot % WEFT__TASK_CHUNK;
}

/* The runtime t belongs to: read-only, from a line every record of the chunk
 * shares. Keeping it in the record cost a cold burst 8 bytes a task. */
static inline weft_rt *weft__task_rt(const weft__task *t)
{
    return ((const weft__chunk_head *)(const void *)weft__chunk_first(t))[-1].rt;
}

/* t's cold part, which exists when t's flags or has_cold say a field of it
 * is valid (weft__task_cold_make made it). */
static inline weft__task_cold *weft__task_cold_of(const weft__task *t)
{
    const weft__chunk_head *h = (const weft__chunk_head *)(const void *)weft__chunk_first(t) - 1;
    weft__task_cold *cold = weft__ld((weft__aptr *)(uintptr_t)&h->cold, WEFT__ACQUIRE);
    return cold + t->slot % WEFT__TASK_CHUNK;
}

/* t's cold part, its chunk's array made if it has none; NULL when out of
 * memory. */
WEFT_HIDDEN weft__task_cold *weft__task_cold_make(weft__task *t);

static inline const char *weft__task_name(const weft__task *t)
{
    return t->has_cold ? weft__task_cold_of(t)->name : NULL;
}

/* For messages: never NULL. */
static inline const char *weft__task_label(const weft__task *t)
{
    const char *name = weft__task_name(t);
    return name ? name : "unnamed";
}

static inline void *weft__task_node(const weft__task *t)
{
    return t->has_cold ? weft__task_cold_of(t)->io_node : NULL;
}

/* The innermost scope t runs in, or NULL. The owner only. */
static inline weft__scope_state *weft__task_scope(const weft__task *t)
{
    return WEFT_UNLIKELY(t->flags & WEFT__F_SCOPED) ? weft__task_cold_of(t)->scope : NULL;
}

/* st NULL: no scope. Setting one fails only when the cold part cannot be
 * made (WEFT_ENOMEM); then nothing changed. */
static inline int weft__task_set_scope(weft__task *t, weft__scope_state *st)
{
    if (!st) {
        t->flags &= (uint16_t)~WEFT__F_SCOPED;
        return 0;
    }
    weft__task_cold *c = weft__task_cold_make(t);
    if (!c)
        return WEFT_ENOMEM;
    c->scope = st;
    t->flags |= WEFT__F_SCOPED;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Timer wheel                                                               */
/* ------------------------------------------------------------------------ */

#define WEFT__WHEEL_BITS 6u
#define WEFT__WHEEL_SLOTS (1u << WEFT__WHEEL_BITS)
/* 11 levels of 6 bits cover all 64 bits of nanosecond deadlines, so any
 * deadline has a slot and the tick can be 1 ns: a level-0 slot holds one
 * exact time, which is what lets the simulator jump to it. */
#define WEFT__WHEEL_LEVELS 11u

/* One per worker. The owner inserts and fires; any worker may remove a
 * timer (a task woken elsewhere stops the deadline timer it set here), so
 * in a concurrent runtime every operation holds `lock`. */
typedef struct weft__wheel {
    weft__a32 lock;
    bool serial;
    uint64_t elapsed; /* every timer with deadline <= elapsed fired or is due */
    uint64_t seq;
    weft__a64 count;  /* [atomic] read without the lock to skip an empty wheel */
    uint64_t occupied[WEFT__WHEEL_LEVELS];
    weft_list slots[WEFT__WHEEL_LEVELS][WEFT__WHEEL_SLOTS];
    weft_list due; /* deadline already passed when set, in deadline order */
    weft__aptr firing; /* [atomic] the timer whose callback runs now */
} weft__wheel;

/* wh must be zeroed memory (it is not cleared again). */
WEFT_HIDDEN void weft__wheel_init(weft__wheel *wh, uint64_t now, bool serial);
WEFT_HIDDEN void weft__wheel_insert(weft__wheel *wh, weft_timer *t);
/* Remove t wherever it is armed; false if it was not armed (fired, firing
 * or never started). Any thread. */
WEFT_HIDDEN bool weft__timer_disarm(weft_timer *t);
/* weft__timer_disarm, and when t's callback is running on another thread,
 * wait for it to return: afterwards nothing of the wheel touches t. */
WEFT_HIDDEN bool weft__timer_disarm_sync(weft_timer *t);
/* The exact earliest deadline, or UINT64_MAX when empty. Owner only. */
WEFT_HIDDEN uint64_t weft__wheel_next_deadline(weft__wheel *wh);
/* Fire every timer with deadline <= now in deadline order (equal deadlines in
 * the order set); returns how many fired. Owner only. */
WEFT_HIDDEN size_t weft__wheel_advance(weft__wheel *wh, uint64_t now);
/* Disarm every timer left (the runtime is going). */
WEFT_HIDDEN void weft__wheel_clear(weft__wheel *wh);

/* ------------------------------------------------------------------------ */
/* Hooks                                                                     */
/* ------------------------------------------------------------------------ */

/* An internal listener (the simulator's trace) that needs no weft_hook_info
 * and never blocks, yields or spawns: it is called with the event as raised,
 * so an event costs it no clock read and no info to fill. */
typedef void (*weft__raw_hook_fn)(void *ctx, weft_hook_event ev, const weft__worker *w, const weft__task *t,
                                  int status, const char *reason);

/* The simulator's trace hash (sim/trace.c owns it, inside its weft__sim):
 * every event folds into it. The core folds a hook event in place, with no
 * call, when the trace is the only listener and is not recording
 * (rt->trace_fast); the fold and the event's words are defined here once,
 * for both paths. Values are part of recorded trace hashes: fixed forever. */
typedef struct weft__trace_hash {
    uint64_t hash, events;
    /* the hashes of the wait names (weft__wait_names), each made at its
     * first park: bit k of wait_hashed says wait_hash[k] is made */
    uint64_t wait_hash[WEFT__W_COUNT + 1];
    uint32_t wait_hashed;
} weft__trace_hash;

/* The trace event kind of a hook event (sim.h's WEFT__EV_HOOK). */
#define WEFT__TRACE_EV_HOOK 1

static inline uint64_t weft__trace_mix(uint64_t h, uint64_t v)
{
    h ^= v * 0x9E3779B97F4A7C15ull;
    h = (h << 27) | (h >> 37);
    return h * 0xBF58476D1CE4E5B9ull + 0x94D049BB133111EBull;
}

/* An event is two words (the second is b), and a third when its text is
 * hashed. */
static inline uint64_t weft__trace_head(int kind, int worker, unsigned extra, int32_t a)
{
    return (uint64_t)kind | (uint64_t)(uint8_t)worker << 8 | (uint64_t)extra << 16 | (uint64_t)(uint32_t)a << 32;
}

static inline void weft__trace_hash_fold(weft__trace_hash *th, uint64_t head, uint64_t b, uint64_t text_hash,
                                         bool hashed)
{
    uint64_t h = weft__trace_mix(th->hash, head);
    h = weft__trace_mix(h, b);
    if (hashed)
        h = weft__trace_mix(h, text_hash);
    th->hash = h;
    th->events++;
}

typedef struct weft__hook_entry {
    weft_hook_fn fn;
    weft__raw_hook_fn raw; /* set instead of fn for an internal listener */
    weft__trace_hash *trace; /* the raw listener is the simulator's trace, not recording */
    void *ctx;
    uint32_t mask;
    int id;
} weft__hook_entry;

/* An immutable array of hooks: changes build a new one and publish it, so
 * workers dispatch without a lock while another thread adds a hook. */
typedef struct weft__hook_set {
    struct weft__hook_set *retired; /* older sets, freed with the runtime */
    size_t n, cap;
    weft__hook_entry v[];
} weft__hook_set;

/* ------------------------------------------------------------------------ */
/* Run queues                                                                */
/* ------------------------------------------------------------------------ */

/* The work-stealing deque (Chase–Lev, Lê et al. PPoPP 2013): the owner
 * pushes at bottom; tasks are taken at top with a compare-and-swap by
 * thieves and, for FIFO order, by the owner; for LIFO order the owner takes
 * at bottom. Indices are 64-bit and never wrap. */
typedef struct weft__deque {
    weft__a64 top;    /* [atomic] */
    weft__a64 bottom; /* [atomic] written by the owner only */
    bool lifo;        /* [init] the owner takes at bottom */
    weft__aptr slot[WEFT__DEQUE_CAP];
} weft__deque;

/* A multi-producer stack drained by one consumer: how other threads hand
 * tasks to a worker (pinned tasks, wakes on per-core engines). Tasks are
 * linked through node.link.next; the drain reverses to arrival order. */
typedef struct weft__remote {
    weft__aptr head; /* [atomic] */
} weft__remote;

/* An engine's injection queue: tasks any of its workers may take (foreign
 * spawns, deque overflow, the GLOBAL policy's one queue). */
typedef struct weft__inject {
    weft__a32 lock;
    weft__a64 len; /* [atomic] read without the lock to skip an empty queue */
    weft_list tasks; /* [lock] */
} weft__inject;

/* Counters a worker keeps for itself; weft_rt_stats_get sums them. Every
 * step is a switch into a task but the few counted `unswitched` (a no-stack
 * task, one that got no stack, a blocking call cancelled before its start):
 * one counter fewer on every yield. */
typedef struct weft__worker_stats {
    uint64_t steps, unswitched, spawned, finished, cancelled, steals, timers_fired, parks;
} weft__worker_stats;

struct weft__worker {
    weft_rt *rt;             /* [init] */
    weft__engine *engine;    /* [init] */
    unsigned index;          /* [init] in rt->workers */
    unsigned index_in_engine; /* [init] */
    bool dedicated;          /* [init] never steals, never stolen from */
    bool serial;             /* [init] its runtime is serial (THREADING.md) */
    /* ---- run queues ---- */
    weft__deque deque;       /* unpinned tasks (STEAL and GLOBAL engines) */
    weft_list local;         /* [owner] pinned tasks, per-core and dedicated
                                workers' tasks, and every task when a plug-in
                                queue is used (then through rq_ops) */
    bool shares_work;        /* [init] takes from and gives to its engine's
                                other workers (not dedicated, not per-core, no
                                plug-in queue) */
    bool has_peers;          /* [init] shares work with at least one other */
    bool fifo;               /* [init] the built-in FIFO order */
    bool lifo_slot_on;       /* [init] a stealing engine's sharing worker */
    bool local_only;         /* [init] no other worker takes from this one
                                (alone in its engine, dedicated, per-core):
                                every task it queues goes on `local`, in the
                                engine's order, with no deque and no bound */
    const weft_runq_ops *rq_ops; /* [init] NULL: the built-in FIFO/LIFO */
    void *rq;                /* the plug-in's state */
    weft__a32 rq_lock;       /* held around a plug-in with steal, when concurrent */
    weft__aptr lifo_slot;    /* [atomic] the task woken last here */
    uint32_t lifo_streak;    /* [owner] */
    weft__remote remote;
    uint64_t push_seq;       /* [owner] orders `local` against the deque */
    /* ---- the loop ---- */
    weft__task *current;     /* [owner] */
    weft__task *switched_out; /* [owner] left the CPU; its move is committed
                                 after its context is saved */
    uint8_t switched_out_how; /* enum weft__switch_how */
    weft__task *run_next;    /* [owner] popped by a switch that could not hand
                                straight to it: the loop runs it first */
    weft__ctx loop_ctx;      /* the loop's own context */
    uint32_t until_housekeeping; /* steps left before timers and budgets */
    uint32_t until_fairness;  /* steps left before the fairness tick */
    uint32_t coop_budget;    /* calls left before a forced yield */
    bool in_hook;            /* dispatching a hook: no current task, no point */
    void (*sched_point)(weft__worker *w); /* the backend's, cached */
    weft__wheel wheel;
    weft__worker_stats stats; /* [owner] */
    /* ---- caches of records this worker recycles ---- */
    weft_freelist free_tasks; /* [owner] */
    void *backend_state;     /* the backend's per-worker state */
    uint64_t rng[4];         /* real backends' choices (victims, idle) */
    /* ---- a concurrent runtime's own per-worker books (after the fields
     * every worker's hot path reads, which keep their cache lines) ---- */
    /* Free fiber stacks kept by a worker of a concurrent runtime (a serial
     * one takes the pool without a lock anyway), newest last: a task that
     * ends here hands its stack to the next spawn here without the pool's
     * lock (rule 8). nstacks is read by weft_rt_stats_get from any thread. */
    weft__stack *stacks[WEFT__WORKER_STACKS]; /* [owner] */
    weft__a32 nstacks;                        /* [atomic] written by the owner only */
    /* External waits (WEFT__W_EXTERNAL) its tasks began here minus those
     * that ended here, modulo 2^64: a task may park on one worker and resume
     * on another, so only the sum over the workers (with the runtime's own
     * count, the blocking pool's) is the number of tasks in such waits. Kept
     * per worker so a wait costs no shared read-modify-write; summed only by
     * the deadlock check, once every worker is asleep. */
    weft__a64 external_waits; /* [atomic] written by the owner only */
    /* Task ids this worker hands out next, [next_id, end_id): a concurrent
     * runtime's workers take them from next_task_id in blocks. */
    uint64_t next_id, end_id; /* [owner] */
    /* A concurrent runtime's live tasks, counted where they are spawned (+1)
     * and where they end (-1), modulo 2^64, while a run goes until its root
     * ends: the live count is rt->live plus every worker's. Shutdown's drain,
     * which must see the count reach 0 exactly, folds them into rt->live
     * before its run (no worker runs then) and counts there from then on. */
    weft__a64 live; /* [atomic] written by the owner only */
    /* Workers sit side by side in rt->workers: without this gap the books
     * above, written on every spawn, would share a cache line with the next
     * worker's first fields, which its own hot path reads (mt_spawn_many at
     * 2 workers lost a third to that false sharing). */
    char gap_before_next_worker[64];
};

struct weft__engine {
    weft_rt *rt;
    unsigned index;
    char *name;
    weft_engine_config cfg;   /* [init] copied, with copies of its strings */
    unsigned first, nworkers; /* [init] its sharing workers in rt->workers */
    unsigned first_dedicated, ndedicated; /* [init] */
    weft__inject inject;
    weft__a32 searching;      /* [atomic] workers looking for work to steal */
    weft__a32 next_core;      /* [atomic] per-core: where the next foreign spawn goes */
    weft__a64 idle;           /* [atomic] bit i: worker first+i is parked */
    bool idle_plain;          /* [init] its simulation's own thread updates
                                 `idle` without atomics (rule 1) */
};

/* ------------------------------------------------------------------------ */
/* The runtime                                                               */
/* ------------------------------------------------------------------------ */

enum weft__stop_when { WEFT__STOP_ROOT = 0, WEFT__STOP_ALL_DONE };

struct weft_rt {
    weft_config cfg;          /* [init] */
    weft_allocator alloc;     /* [init] (the simulator wraps it) */
    weft_allocator base_alloc; /* [init] the one configured */
    weft_os os;               /* [init] */
    const weft__backend *backend; /* [init] */
    unsigned caps;            /* [init] backend->caps */
    uint32_t gen_base;        /* [init] the generation a fresh record starts
                                 at: another runtime's (a simulated one's
                                 follows from its seed), so a task handle of
                                 one runtime names nothing in another */
    void *backend_state;
    bool serial;              /* [init] every task runs on one OS thread */
    bool quiet;               /* [init] */
    unsigned nworkers;        /* [init] */
    weft__worker *workers;    /* [init] */
    weft__worker *kept_workers; /* the previous life's, until rt_build takes
                                   them (weft_rt_reset): their wheels' slots
                                   are empty lists */
    unsigned nkept_workers;
    unsigned nengines;        /* [init] */
    weft__engine *engines;    /* [init] */
    /* Tasks: a chunked table; slot = handle index. The index of chunks is
     * replaced when it grows; readers load it atomically and old indexes are
     * kept until the runtime goes. */
    weft__a32 tasks_lock;
    weft__aptr chunks;        /* [atomic] weft__task ** */
    uint32_t nchunks, chunk_cap; /* [lock tasks_lock] */
    weft__a32 fresh_slots;    /* [atomic] slots below this were handed out */
    weft_freelist free_tasks; /* [lock tasks_lock] records freed one by one */
    struct weft__task *free_batches; /* [lock tasks_lock] workers' spilled lists (task.c) */
    size_t free_batched;      /* [lock tasks_lock] records in free_batches */
    void **retired_chunks;    /* [lock tasks_lock] old indexes */
    weft__a64 next_task_id;   /* [atomic] */
    weft__a64 live;           /* [atomic] tasks not yet FINISHED/ABANDONED */
    weft__a64 external_waits; /* [atomic] blocking calls out on the pool (the workers
                                 count their tasks' external waits themselves) */
    weft__a64 foreign_wakes;  /* [atomic] wakes in progress on threads outside the
                                 runtime (weft_rt_free waits for them to leave) */
    /* Stacks. */
    weft__a32 stacks_lock;
    weft__stack_pool pools[WEFT__STACK_CLASSES]; /* [lock stacks_lock] */
    uint64_t stacks_mapped;   /* [lock stacks_lock] */
    weft__stack_pool *pool_hint; /* [lock stacks_lock] the class of the last take, */
    size_t pool_hint_size;    /* [lock stacks_lock] for this size as asked */
    uint32_t stack_life;      /* [init] bumped by weft_rt_reset: a class no
                                 stack of this life was taken from is free
                                 for another size, as in a new runtime */
    /* Hooks. */
    weft__a32 hooks_lock;
    weft__aptr hooks;         /* [atomic] weft__hook_set * (NULL: none) */
    weft__a32 hook_mask;      /* [atomic] */
    weft__aptr trace_fast;    /* [atomic] weft__trace_hash *: the hooks are the
                                 simulator's trace alone, not recording (it is
                                 folded in place: weft__hook) */
    int next_hook_id;         /* [lock hooks_lock] */
    /* The run. */
    uint32_t timer_poll_mask; /* [init] poll timers every (mask+1) steps */
    uint64_t step_limit;      /* shutdown's budget of steps */
    uint64_t time_limit;      /* shutdown's budget of real time */
    weft__task *root;
    void *root_result;
    weft__a32 stop;           /* [atomic] the loops must return */
    weft__a32 status;         /* [atomic] the run's result code */
    int stop_when;
    weft__a32 running;        /* [atomic] claimed (compare-and-swap) by the one
                                 thread inside block_on or shutdown */
    weft__a32 outsiders;      /* [atomic] a simulation's: hand-ins from other
                                 threads in flight (a claim waits for them) */
    weft__a32 shut_down;      /* [atomic] read by foreign spawns */
    weft__a32 said_spawn_refused; /* [atomic] a refused spawn's debug message is printed once */
    weft_rt_stats stats;      /* what is not kept per worker (written while
                                 no worker runs, or by foreign spawns: rare) */
    weft__ctx host_ctx;
    char *schedule;
    char *trace_path;
    void *altstack;
    size_t altstack_size;
    unsigned ntls_keys;       /* [atomic] task-local storage keys made */
    weft__a32 scopes_lock;
    weft_list scopes;         /* [lock scopes_lock] open scopes */
    weft__aptr io;            /* [atomic] sockets and files (io.c), made on first use */
};

/* The worker running on this OS thread (NULL outside a runtime). */
WEFT_HIDDEN extern WEFT_TLS weft__worker *weft__tls_worker;

/* Simulated runtimes running now, in this process (any thread). */
WEFT_HIDDEN extern weft__a32 weft__virtual_runs;

/* A simulated runtime: virtual time, one thread, replayed from its seed. */
static inline bool weft__virtual(const weft_rt *rt)
{
    return (rt->caps & WEFT__CAP_VIRTUAL_TIME) != 0;
}

/* Is rt a running simulation and the caller outside it? A simulation takes
 * nothing from another thread while it runs (THREADING.md rule 9): a
 * hand-in or a wake from there would race its plain structures and could
 * not be replayed. */
static inline bool weft__refuses_outsider(const weft_rt *rt)
{
    const weft__worker *cur = weft__tls_worker;
    return weft__virtual(rt) && (!cur || cur->rt != rt) && weft__ld(&rt->running, WEFT__ACQUIRE);
}

static inline weft__task *weft__current(void)
{
    weft__worker *w = weft__tls_worker;
    return w ? w->current : NULL;
}

/* Now on the clock of the node task t runs on (a simulated node's skew and
 * drift), which is the clock its deadlines are read on. */
static inline uint64_t weft__task_now(const weft__task *t)
{
    weft_rt *rt = weft__task_rt(t);
    uint64_t now = rt->backend->now(rt);
    return WEFT_UNLIKELY(t->has_cold) && rt->backend->node_time ? rt->backend->node_time(t, now, true) : now;
}

static inline unsigned weft__task_get_state(weft__task *t)
{
    return weft__ld_s(t->serial, &t->state, WEFT__ACQUIRE);
}

/* The state of a record that may be free or being re-made on another thread
 * (a stale handle, a walk over every record): reads the state word alone. */
static inline unsigned weft__record_state(const weft_rt *rt, weft__task *t)
{
    return weft__ld_s(rt->serial, &t->state, WEFT__ACQUIRE);
}

/* ---- allocation (alloc.c) ---- */
WEFT_HIDDEN extern const weft_allocator weft__malloc_allocator; /* the default */
WEFT_HIDDEN void *weft__alloc(weft_rt *rt, size_t size);
WEFT_HIDDEN void *weft__calloc(weft_rt *rt, size_t size);
WEFT_HIDDEN void weft__free(weft_rt *rt, void *p, size_t size);
/* Make room for element `len` of the array *v (capacity *cap, elements of
 * elem bytes) through allocator a, doubling from `first`. Returns 0, or
 * WEFT_ENOMEM with the array untouched. */
WEFT_HIDDEN int weft__grow(const weft_allocator *a, void **v, size_t *cap, size_t len, size_t elem, size_t first);

/* ---- os.c, atomic.c ---- */
WEFT_HIDDEN void weft__os_fill(weft_os *os, const weft_os *user);
/* Make the whole pages within [addr, addr + len) present in one call rather
 * than a fault each, for memory about to be written: through os's madvise,
 * or the real one when os is NULL (the default allocator's own memory).
 * Best effort: a kernel before Linux 5.14 (no MADV_POPULATE_WRITE) leaves
 * them to fault as before. */
WEFT_HIDDEN void weft__os_prefault(const weft_os *os, void *addr, size_t len);
/* The same for count ranges of len bytes, stride bytes apart from first (page
 * aligned): in a few vector calls where the kernel takes them, else one
 * call a range. */
WEFT_HIDDEN void weft__os_prefault_strided(const weft_os *os, char *first, size_t stride, size_t count,
                                           size_t len);
/* May weft__os_madvise_strided work with os (the real table, and the kernel
 * has not refused it)? */
WEFT_HIDDEN bool weft__os_strided_ok(const weft_os *os);
/* madvise(advice) of count ranges of len bytes, stride bytes apart from
 * first, in a few process_madvise calls: 0, or WEFT_ENOTSUP when the kernel
 * (or a table the program filled in) wants them one call each. */
WEFT_HIDDEN int weft__os_madvise_strided(const weft_os *os, char *first, size_t stride, size_t count, size_t len,
                                         int advice);

/* ---- stacks (stack.c) ---- */
WEFT_HIDDEN int weft__stack_get(weft_rt *rt, size_t size, weft__stack **out);
WEFT_HIDDEN void weft__stack_put(weft_rt *rt, weft__stack *s);
/* The same from worker w's own thread: through w's cache of free stacks in
 * a concurrent runtime. */
WEFT_HIDDEN int weft__stack_get_here(weft__worker *w, size_t size, weft__stack **out);
WEFT_HIDDEN void weft__stack_put_here(weft__worker *w, weft__stack *s);
/* Return w's cached stacks to the pool (w's thread, or any once w stopped). */
WEFT_HIDDEN void weft__stacks_flush(weft__worker *w);
WEFT_HIDDEN void weft__stacks_free(weft_rt *rt);
WEFT_HIDDEN void weft__stacks_trim(weft_rt *rt);
/* The OS page size (a constant of the process). */
WEFT_HIDDEN size_t weft__page_size(void);
WEFT_HIDDEN size_t weft__stack_round(size_t size);
WEFT_HIDDEN int weft__guard_install(weft_rt *rt);
WEFT_HIDDEN void weft__guard_enter(weft_rt *rt);
WEFT_HIDDEN void weft__guard_leave(weft_rt *rt);
WEFT_HIDDEN void weft__guard_hold(void);
WEFT_HIDDEN void weft__guard_release(void);
/* The stack of w's current task or loop that addr or sp falls in or just
 * below (an overflow), or NULL. */
WEFT_HIDDEN const weft__stack *weft__stack_overflowed(const weft__worker *w, const void *addr, const void *sp);

/* ---- hooks (hooks.c) ---- */
WEFT_HIDDEN void weft__hook_dispatch(weft_rt *rt, weft_hook_event ev, weft__worker *w, const weft__task *t,
                                     int status, const char *reason);
WEFT_HIDDEN void weft__hooks_free(weft_rt *rt);
/* weft_hook_add for a raw listener; it takes its place in the chain's order
 * like any hook. trace (not NULL: the simulator's trace, not recording, whose
 * fn folds every event into it as weft__hook_fold does) lets the core fold
 * the events in place while it is the only listener. */
WEFT_HIDDEN int weft__hook_add_raw(weft_rt *rt, uint32_t mask, weft__raw_hook_fn fn, void *ctx,
                                   weft__trace_hash *trace, int *id);
static inline bool weft__hook_on(weft_rt *rt, weft_hook_event ev)
{
    return WEFT_UNLIKELY(weft__ld_s(rt->serial, &rt->hook_mask, WEFT__RELAXED) & (1u << ev));
}

/* The simulator's trace alone, not recording: the event is folded here (the
 * fold the trace's own listener makes: sim/trace.c on_hook), else NULL. */
static inline weft__trace_hash *weft__hook_trace_fast(weft_rt *rt)
{
    return weft__ld_s(rt->serial, &rt->trace_fast, WEFT__RELAXED);
}

static inline void weft__hook_fold(weft__trace_hash *th, weft_hook_event ev, const weft__worker *w,
                                   const weft__task *t, int status, uint64_t text_hash, bool hashed)
{
    weft__trace_hash_fold(th, weft__trace_head(WEFT__TRACE_EV_HOOK, w ? (int)w->index : -1, (unsigned)ev, status),
                          t ? t->node.task_id : 0, text_hash, hashed);
}

/* A spawn's event hashes the task's name: it always goes to the listeners
 * (spawns are few). The other events but parks hash no text. */
static inline void weft__hook(weft_rt *rt, weft_hook_event ev, weft__worker *w, const weft__task *t, int status,
                              const char *reason)
{
    if (!weft__hook_on(rt, ev))
        return;
    weft__trace_hash *th = ev != WEFT_HOOK_SPAWN && ev != WEFT_HOOK_PARK ? weft__hook_trace_fast(rt) : NULL;
    if (th)
        weft__hook_fold(th, ev, w, t, status, 0, false);
    else
        weft__hook_dispatch(rt, ev, w, t, status, reason);
}

/* A park's event: it hashes the wait's name, folded in place once the
 * trace has hashed that name (at its first park). */
static inline void weft__hook_park(weft_rt *rt, weft__worker *w, const weft__task *t, int kind)
{
    if (!weft__hook_on(rt, WEFT_HOOK_PARK)) /* the name only when someone listens */
        return;
    unsigned k = weft__wait_row(kind);
    weft__trace_hash *th = weft__hook_trace_fast(rt);
    if (th && (th->wait_hashed >> k & 1))
        weft__hook_fold(th, WEFT_HOOK_PARK, w, t, 0, th->wait_hash[k], true);
    else
        weft__hook_dispatch(rt, WEFT_HOOK_PARK, w, t, 0, weft__wait_names[k]);
}

/* ---- tasks (task.c) ---- */
WEFT_HIDDEN int weft__task_new(weft_rt *rt, weft__worker *w, weft_fn fn, void *arg, const weft_spawn_opts *o,
                               weft__task **out);
/* Give t's record back (after its join, or at its end when detached). */
WEFT_HIDDEN void weft__task_release(weft_rt *rt, weft__task *t);
/* w's list of free records grew past twice its cache: half of it goes back
 * to the runtime's. */
WEFT_HIDDEN void weft__task_records_spill(weft__worker *w);
WEFT_HIDDEN weft__task *weft__task_from_handle(weft_rt *rt, weft_task *h);
WEFT_HIDDEN weft_task *weft__task_handle(const weft__task *t);
/* The record in slot (any thread). */
WEFT_HIDDEN weft__task *weft__task_at(weft_rt *rt, uint32_t slot);
WEFT_HIDDEN uint32_t weft__task_slots(weft_rt *rt);
/* Records handed out and not free again (tasks live, finished unjoined or
 * abandoned). Only while no worker runs. */
WEFT_HIDDEN uint32_t weft__task_records_in_use(weft_rt *rt);
WEFT_HIDDEN void weft__tasks_free(weft_rt *rt);
/* Move t from state `from` to `to`, checking (debug builds) that it was in
 * `from`: every transition of a task goes through here or weft__task_cas. */
WEFT_HIDDEN WEFT_NORETURN void weft__task_bad_transition(weft__task *t, unsigned from, unsigned to);
static inline void weft__task_set_state(weft__task *t, unsigned from, unsigned to)
{
    if (WEFT_DEBUG && WEFT_UNLIKELY(weft__task_get_state(t) != from))
        weft__task_bad_transition(t, from, to);
    weft__st_s(t->serial, &t->state, to, WEFT__RELEASE);
}
/* A task spawned (+1) or ended (UINT64_MAX: -1) in the live count, on w's
 * own thread (w NULL: a thread outside the runtime). Where it counts is
 * weft__worker.live's comment. */
static inline void weft__live_add(weft_rt *rt, weft__worker *w, uint64_t n)
{
    if (rt->serial)
        rt->live.v += n;
    else if (w && rt->stop_when == WEFT__STOP_ROOT)
        weft__add_owned(&w->live, n);
    else
        weft__fetch_add(&rt->live, n, WEFT__ACQ_REL);
}
/* Start bringing record t into the cache, for writing: a burst of queued
 * tasks is more records than the cache holds, so each one taken or run
 * would otherwise wait for memory. A hint only (t may be NULL). */
static inline void weft__task_prefetch(const void *t)
{
    if (t) {
        __builtin_prefetch(t, 1);
        __builtin_prefetch((const char *)t + 64, 1);
        __builtin_prefetch((const char *)t + 128, 1);
    }
}

/* weft__task_release on w, the calling thread's worker, of t's runtime
 * (the finishing worker): the record goes on w's own list. Inline for a
 * detached task's finish. */
static inline void weft__task_release_by(weft__worker *w, weft__task *t)
{
    weft__task_set_state(t, WEFT__T_FINISHED, WEFT__T_FREE);
    uint32_t gen = t->gen + 1;
    weft__st((weft__a32 *)&t->gen, gen ? gen : 1u, WEFT__RELEASE);
    weft__freelist_push(&w->free_tasks, &t->node.link);
    if (WEFT_UNLIKELY(w->free_tasks.len > 2 * WEFT__WORKER_CACHE))
        weft__task_records_spill(w);
}
WEFT_HIDDEN bool weft__task_cas(weft__task *t, unsigned from, unsigned to);
/* Ask t to stop (sticky): its wait, if any, ends with WEFT_ECANCELED. */
WEFT_HIDDEN int weft__cancel_task(weft_rt *rt, weft__task *t, int hook_status);
/* Is a cancellation pending that the task's next wait must honour? */
static inline bool weft__cancel_pending(const weft__task *t)
{
    return (weft__ld(&((weft__task *)t)->cancel, WEFT__ACQUIRE) & WEFT__CANCEL_REQUESTED) &&
           !(t->flags & (WEFT__F_UNCANCELLABLE | WEFT__F_SHIELDED));
}
/* A task spawned from outside the runtime's threads is counted (its id, the
 * live count, its spawn event) by the worker that takes it in. */
WEFT_HIDDEN void weft__spawn_adopted(weft_rt *rt, weft__worker *w, weft__task *t);
/* Spawn in two steps, for callers that must set a task up before it can
 * run (scopes): a counted, unscheduled task, then its scheduling. */
WEFT_HIDDEN int weft__spawn_prepare(weft_rt *rt, weft__worker *w, weft__task **out, weft_fn fn, void *arg,
                                    const weft_spawn_opts *o, bool detached);
WEFT_HIDDEN void weft__spawn_commit(weft_rt *rt, weft__task *t);
/* Spawn from a task of rt (w its worker) or, w NULL, from any thread. */
WEFT_HIDDEN int weft__spawn(weft_rt *rt, weft__worker *w, weft__task **out, weft_fn fn, void *arg,
                            const weft_spawn_opts *o, bool detached);

/* ---- the scheduler (sched.c) ---- */
WEFT_HIDDEN int weft__sched_init(weft__worker *w, const weft_runq_ops *ops, void *arg);
WEFT_HIDDEN void weft__sched_destroy(weft__worker *w);
/* Make t (QUEUED) runnable where its engine's policy puts it. woken: it was
 * woken rather than spawned (the LIFO slot's case). Any thread. */
WEFT_HIDDEN void weft__schedule(weft_rt *rt, weft__task *t, bool woken);
/* Hand t to worker w from any thread (its remote queue), and wake w. */
WEFT_HIDDEN void weft__sched_remote(weft__worker *w, weft__task *t);
/* t (RUNNING, its call ended off the runtime) is finished by w. */
WEFT_HIDDEN void weft__task_finish(weft__worker *w, weft__task *t);
/* The out-of-line halves of the two below: every queue but a lone
 * worker's. */
WEFT_HIDDEN void weft__sched_push_shared(weft__worker *w, weft__task *t);
WEFT_HIDDEN weft__task *weft__sched_next_shared(weft__worker *w);
WEFT_HIDDEN void weft__sched_push_yielded(weft__worker *w, weft__task *t);
/* Push t onto w's own queues (w is the calling thread's worker). A lone
 * worker's list is pushed inline: it is every yield's path. */
static inline void weft__sched_push_local(weft__worker *w, weft__task *t)
{
    if (!w->local_only)
        weft__sched_push_shared(w, t);
    else if (w->fifo)
        weft__list_push_tail(&w->local, &t->node.link);
    else
        weft__list_push_head(&w->local, &t->node.link);
}
/* Queue t, which yielded on w, behind w's other tasks. */
static inline void weft__sched_yield_local(weft__worker *w, weft__task *t)
{
    if (!w->local_only)
        weft__sched_push_yielded(w, t);
    else
        weft__sched_push_local(w, t);
}
/* The next task for w, from everything it may take (the loop's step). */
WEFT_HIDDEN weft__task *weft__sched_next(weft__worker *w);
/* The next task from w's own queues only (a direct switch's candidate). */
static inline weft__task *weft__sched_next_local(weft__worker *w)
{
    if (w->local_only && !w->run_next)
        return (weft__task *)weft__list_pop_head(&w->local);
    return weft__sched_next_shared(w);
}
/* w is about to park: true if it may (it registered as idle after finding
 * no work); false if work is there after all. weft__sched_unidle undoes it
 * when the worker wakes. */
WEFT_HIDDEN bool weft__sched_prepare_park(weft__worker *w);
WEFT_HIDDEN void weft__sched_unidle(weft__worker *w);
/* The LIFO-slot watch of a real backend's idle workers (THREADING.md rule
 * 11). What a watcher saw in a peer's slot at its last look: the task and
 * the peer's step count then (the same pointer with the steps moved on is
 * another occupancy: a chain of wakes puts the same task back again and
 * again). Indexed by the peer's index in the engine. */
typedef struct weft__slot_look {
    const void *task;
    uint64_t steps;
} weft__slot_look;
/* May w watch its peers' LIFO slots (a concurrent runtime's worker that
 * shares work in a stealing engine)? */
WEFT_HIDDEN bool weft__sched_watches(const weft__worker *w);
/* Is w still in its engine's idle mask (nobody took it for new work)? */
WEFT_HIDDEN bool weft__sched_is_idle(const weft__worker *w);
/* Is another sharing worker of w's engine busy (not in the idle mask)? The
 * caller orders the read with its own fence. */
WEFT_HIDDEN bool weft__sched_peer_busy(const weft__worker *w);
/* One look at the busy peers' LIFO slots: a slot that holds the task it held
 * at the last look, its owner having run no step since, is stolen onto w's
 * queue (true); otherwise what is there is recorded in looks. */
WEFT_HIDDEN bool weft__sched_watch_slots(weft__worker *w, weft__slot_look *looks);
/* Does w have tasks it could run without stealing? (for backends) */
/* Local work, or work pushed to w or to its engine by others (cheap loads). */
WEFT_HIDDEN bool weft__sched_has_incoming(weft__worker *w);
/* Tasks queued on w now (a racy count, for reports and the simulator). */
WEFT_HIDDEN size_t weft__sched_queued(weft__worker *w);

/* ---- the loop (loop.c) ---- */
WEFT_HIDDEN void weft__worker_loop(weft__worker *w);
WEFT_HIDDEN void weft__worker_loop_entry(void *transfer);
/* The current task leaves the CPU: yields (requeued), parks (committed
 * after its context is saved) or finishes. Straight to the next runnable
 * task when the loop would do only that, else via the loop. */
WEFT_HIDDEN void weft__switch_away(weft__task *t, int how);
WEFT_HIDDEN bool weft__poll_timers(weft__worker *w);
WEFT_HIDDEN void weft__task_entry(void *transfer);
/* Run t's function: from here its record holds locals and result where fn
 * and arg were. */
static inline void weft__task_call(weft__task *t)
{
    weft_fn fn = t->fn;
    void *arg = t->arg;
    t->locals = NULL;
    t->read_holds = 0;
    t->flags |= WEFT__F_CALLED;
    t->result = fn(arg);
}
static inline void weft__sched_point(weft__worker *w)
{
    if (WEFT_UNLIKELY(w->sched_point != NULL) && !w->in_hook)
        w->sched_point(w);
}

/* ---- waiting (wait.c) ---- */

/* A task blocked on a wait list; lives in the blocked call's frame. */
typedef struct weft__waiter {
    weft_link link;
    weft__task *task;
    weft_list *list;
    weft__a32 *lock;   /* the lock of the object owning list */
    bool serial;       /* the object is used without atomics */
    void *data;        /* operation data (element pointer, …) */
    void *select;      /* the select this waiter belongs to, or NULL */
    int result;
    bool linked;
} weft__waiter;

/* The calling task, or a negative code: WEFT_EPERM outside a task or in a
 * no-stack task (those cannot block), WEFT_ECANCELED if cancelled,
 * WEFT_ETIMEDOUT if a scope deadline passed. `what` names the call. */
WEFT_HIDDEN int weft__blocking_entry_slow(weft__task **out, const char *what);
/* Out of coop budget: the fiber task t of w lets the rest of its queue run
 * first (a runtime call's forced yield; its budget is new when it resumes). */
WEFT_HIDDEN void weft__budget_yield(weft__worker *w, weft__task *t);
static inline int weft__blocking_entry(weft__task **out, const char *what)
{
    weft__worker *w = weft__tls_worker;
    weft__task *t = w ? w->current : NULL;
    /* The common case in one test: a fiber task, not cancelled, in no scope,
     * with budget left. */
    if (WEFT_LIKELY(t && !(t->flags & (WEFT__F_NOSTACK | WEFT__F_SCOPED)) && w->coop_budget > 1 &&
                    !(weft__ld(&t->cancel, WEFT__RELAXED) & WEFT__CANCEL_REQUESTED))) {
        w->coop_budget--;
        *out = t;
        return 0;
    }
    return weft__blocking_entry_slow(out, what);
}
/* Block the current task until woken (the return value is the wake's code)
 * or until the deadline (min with scope deadlines), which unlinks it and
 * returns WEFT_ETIMEDOUT; cancellation unlinks it and returns
 * WEFT_ECANCELED. unlink may be NULL for waits nothing else refers to. */
WEFT_HIDDEN int weft__block_any(weft__task *t, int kind, void *obj, weft__unlink_fn unlink, uint64_t deadline);
static WEFT_ALWAYS_INLINE int weft__block(weft__task *t, int kind, void *obj, weft__unlink_fn unlink,
                                          uint64_t deadline)
{
    /* A serial runtime's untimed wait, outside any scope, with no
     * cancellation pending and no thread outside the runtime to end it:
     * the two-phase park of rule 3 has nothing to guard (no other thread
     * runs, so no wake can come before the switch), nor have the wait lock
     * and the claim word, and there is no deadline to arm. The same stores
     * and hooks as weft__block_any's serial path, in the same order. */
    if (!t->serial || deadline != WEFT_NO_DEADLINE || (t->flags & WEFT__F_SCOPED) || (kind & WEFT__W_EXTERNAL) ||
        (weft__ld(&t->cancel, WEFT__RELAXED) & WEFT__CANCEL_REQUESTED))
        return weft__block_any(t, kind, obj, unlink, deadline);
    weft_rt *rt = t->worker->rt; /* it runs there */
    uint16_t flags = t->flags;
    /* The wait lives in this frame, as weft__block_any's does. */
    weft__wait wa = {
        .unlink = unlink,
        .obj = obj,
        .kind = (uint8_t)kind,
        .cancellable = !(flags & (WEFT__F_UNCANCELLABLE | WEFT__F_SHIELDED)),
        .timeoutable = !(flags & WEFT__F_UNCANCELLABLE),
    };
    t->wait = &wa;
    weft__task_set_state(t, WEFT__T_RUNNING, WEFT__T_PARKED);
    weft__hook_park(rt, t->worker, t, kind);
    weft__switch_away(t, WEFT__SW_PARK);
    /* Nothing else runs here while it waits: no interrupter can be looking
     * at the wait once the task runs again. */
    t->wait = NULL;
    return t->wait_result;
}
/* Wake a blocked task with code result. The caller has claimed the wait
 * (took its waiter off the list, won its claim word): exactly one wake per
 * wait. Any thread. */
WEFT_HIDDEN void weft__wake_any(weft__task *t, int result);
static WEFT_ALWAYS_INLINE void weft__wake(weft__task *t, int result)
{
    weft__worker *cur = weft__tls_worker;
    /* A serial runtime's task woken by a task of its own worker, a lone one
     * that is the task's home (pinned there, or the only worker of its
     * engine): weft__schedule would push it onto that worker's local list;
     * so does this, with the same state change and hook, in the same order. */
    if (t->serial && cur && t->worker == cur && cur->local_only &&
        ((t->flags & WEFT__F_PINNED) ? t->pin == cur->index
                                     : !cur->dedicated && t->engine == cur->engine->index)) {
        t->wait_result = result;
        weft__task_set_state(t, WEFT__T_PARKED, WEFT__T_QUEUED);
        weft__hook(cur->rt, WEFT_HOOK_WAKE, cur, t, result, NULL);
        weft__sched_push_local(cur, t);
        return;
    }
    weft__wake_any(t, result);
}
/* End t's wait with code if it is in one that may be interrupted (cancel,
 * a scope deadline). Any thread of the runtime. */
WEFT_HIDDEN void weft__interrupt(weft__task *t, int code);
/* The earlier of deadline and those of s and the scopes around it. */
WEFT_HIDDEN uint64_t weft__scope_deadline(const weft__scope_state *s, uint64_t deadline);

static inline void weft__waitlist_push(weft_list *l, weft__waiter *w)
{
    weft__list_push_tail(l, &w->link);
    w->list = l;
    w->linked = true;
}

static inline void weft__waitlist_remove(weft_list *l, weft__waiter *w)
{
    weft__list_remove(l, &w->link);
    w->linked = false;
}

static inline weft__waiter *weft__waitlist_pop(weft_list *l)
{
    weft_link *n = weft__list_pop_head(l);
    if (!n)
        return NULL;
    weft__waiter *w = WEFT_LIST_ENTRY(n, weft__waiter, link);
    w->linked = false;
    return w;
}

/* The running simulation a waiter of l (a shared object's, under its lock)
 * belongs to when the caller is outside it, or NULL. Every waiter counts,
 * stale select registrations too: a close wakes them all, and refusing too
 * often is safe. One relaxed load while no simulation runs. */
static inline weft_rt *weft__waiters_refuse_outsider(const weft_list *l)
{
    if (WEFT_LIKELY(!weft__ld(&weft__virtual_runs, WEFT__RELAXED)))
        return NULL;
    for (const weft_link *n = l->head; n; n = n->next) {
        weft_rt *rt = weft__task_rt(WEFT_LIST_ENTRY(n, weft__waiter, link)->task);
        if (weft__refuses_outsider(rt))
            return rt;
    }
    return NULL;
}

/* Wake every waiter of chain (a list of waiters taken off their object
 * under its lock, the lock since released) with code, in order. */
WEFT_HIDDEN void weft__wake_chain(weft_list *chain, int code);
/* Queue wt on l and block; called with *lock held, which it releases
 * before parking. Cancellation and timeouts remove wt from l under *lock. */
WEFT_HIDDEN bool weft__unlink_from_list(weft__task *t);
static WEFT_ALWAYS_INLINE int weft__block_on_list(weft__task *t, weft__waiter *wt, weft_list *l, weft__a32 *lock,
                                                  bool serial, int kind, uint64_t deadline)
{
    wt->task = t;
    wt->lock = lock;
    wt->serial = serial;
    weft__waitlist_push(l, wt);
    weft__unlock_s(serial, lock);
    return weft__block(t, kind, wt, weft__unlink_from_list, deadline);
}

/* Coordination objects of a serial runtime are used without atomics; `w`
 * is the calling task's worker (objects are used only by tasks). */
#define WEFT__OBJ_LOCK(o) ((weft__a32 *)&(o)->lock)
static inline void weft__obj_lock(const weft__worker *w, weft__a32 *l)
{
    weft__lock_s(w->serial, l);
}
static inline void weft__obj_unlock(const weft__worker *w, weft__a32 *l)
{
    weft__unlock_s(w->serial, l);
}

/* The calling task's worker, or WEFT_EPERM (explained) when the caller is
 * not a task of a runtime: the threading model refuses that call from a
 * thread outside the runtime. */
WEFT_HIDDEN int weft__require_task(weft__worker **w, const char *what);

/* ---- scope.c ---- */
WEFT_HIDDEN void weft__scope_interrupt_children(weft__scope_state *s, int code);
/* The scope whose wait list holds the owner's join waiter. */
WEFT_HIDDEN weft__scope_state *weft__scope_of_waiter(const weft__waiter *wt);
/* t returns with scopes still open: report them, cancel and join their
 * children (t is still on its stack). */
WEFT_HIDDEN void weft__scopes_left_open(weft__task *t);
/* t, a child of a scope (WEFT__F_SCOPE_CHILD), ended: also when it never ran
 * (no stack could be bound for it). Called by finish. */
WEFT_HIDDEN void weft__scope_child_finished(weft__task *t);
/* The runtime is going: free the scopes abandoned owners left open. */
WEFT_HIDDEN void weft__scopes_free(weft_rt *rt);

/* ---- blocking.c ---- */
/* On a pool thread: run the call of t (unless cancelled first), then hand
 * it back to the runtime. */
WEFT_HIDDEN void weft__blocking_run(weft__task *t);
/* t's call is over (or will never run): a worker of its runtime finishes it. */
WEFT_HIDDEN void weft__blocking_done(weft_rt *rt, weft__task *t);

/* ---- io.c ---- */
/* The runtime is going: close every socket and file still open. */
WEFT_HIDDEN void weft__io_free(weft_rt *rt);

/* ---- tls.c ---- */
/* t finished: its locals go to their keys' destructors. */
WEFT_HIDDEN void weft__locals_release(weft_rt *rt, weft__task *t);

/* ---- report.c ---- */
WEFT_HIDDEN size_t weft__blocked_tasks(weft_rt *rt, char *out, size_t len);
WEFT_HIDDEN void weft__report_deadlock(weft_rt *rt);
/* A task failed (assertion, weft_fail, watchdog): through the backend. */
WEFT_HIDDEN WEFT_NORETURN void weft__fail(weft__worker *w, int status, const char *msg);

/* ---- fmt.c: signal-safe formatting and the one string hash ---- */
/* Append to buf[*n .. len-1] (always NUL-terminated); never allocates. */
WEFT_HIDDEN void weft__fmt_str(char *buf, size_t len, size_t *n, const char *s);
WEFT_HIDDEN void weft__fmt_u64(char *buf, size_t len, size_t *n, uint64_t v);
WEFT_HIDDEN void weft__write_all(int fd, const char *buf, size_t len);
/* FNV-1a of a string, then of a 64-bit value: stable on every machine. */
WEFT_HIDDEN uint64_t weft__hash_str(uint64_t h, const char *s);
#define WEFT__HASH_INIT 0xCBF29CE484222325ull

/* ---- misc ---- */
WEFT_HIDDEN int weft__env_apply(weft_config *cfg, int quiet, char *why, size_t whylen);
/* Decimal or 0x hexadecimal, nothing else (no octal surprise for "010"). */
WEFT_HIDDEN int weft__parse_u64(const char *s, uint64_t *out);
WEFT_HIDDEN uint64_t weft__splitmix64(uint64_t *state);
WEFT_HIDDEN uint64_t weft__xoshiro_next(uint64_t s[4]);
WEFT_HIDDEN void weft__xoshiro_seed(uint64_t s[4], uint64_t seed);
WEFT_HIDDEN uint64_t weft__bounded(uint64_t s[4], uint32_t bound);
/* The rare half of weft__bounded: m = the first draw times bound fell in
 * the low zone, so it may have to be drawn again. */
WEFT_HIDDEN uint64_t weft__bounded_reject(uint64_t s[4], uint32_t bound, uint64_t m);

/* The generators' one definition (random.c's functions are these), inline
 * for the simulator, which draws at every decision. Fixed forever. */
static inline uint64_t weft__xoshiro_step(uint64_t s[4])
{
    uint64_t result = s[1] * 5;
    result = ((result << 7) | (result >> 57)) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = (s[3] << 45) | (s[3] >> 19);
    return result;
}

/* Uniform in [0, bound) (Lemire 2019: multiply and reject), exact and the
 * same on every platform. */
static inline uint64_t weft__bounded_draw(uint64_t s[4], uint32_t bound)
{
    /* m: the value is m >> 32, unless (uint32_t)m < bound: then
     * weft__bounded_reject(s, bound, m) is. */
    return (weft__xoshiro_step(s) >> 32) * bound;
}

static inline uint64_t weft__bounded_inline(uint64_t s[4], uint32_t bound)
{
    uint64_t m = weft__bounded_draw(s, bound);
    if (WEFT_UNLIKELY((uint32_t)m < bound))
        return weft__bounded_reject(s, bound, m);
    return m >> 32;
}

#endif /* WEFT_CORE_H */
