/* fiber.h — execution contexts (the saved state of a suspended fiber) and the
 * pooled, guarded stacks they run on. fiber.c makes and switches contexts;
 * stack.c owns the pools, the guards and the overflow report. */
#ifndef WEFT_FIBER_H
#define WEFT_FIBER_H

#include "atomic.h"
#include "list.h"

#ifdef WEFT_UCONTEXT
#include <ucontext.h>
#endif

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

/* The reader-writer locks a task may hold for reading at once. Each hold is
 * remembered (rwlock.c: only a reader of a lock may read-unlock it), in room
 * that is always there, so that a read lock allocates nothing; 8 is far more
 * than any sane lock order nests, and a ninth is refused with WEFT_EAGAIN, as
 * pthread_rwlock_rdlock refuses one past its own maximum. */
#define WEFT__READ_HOLDS_MAX 8u

typedef struct weft__stack {
    weft_link link;           /* on its pool's free list */
    char *base;               /* lowest usable byte; the guard is below */
    size_t size;              /* mapped bytes: its pool's size and the colour page */
    struct weft__stack_pool *pool;
    unsigned valgrind_id;
    uint16_t color;           /* bytes left unused at the top (stack.c) */
    /* [stacks_lock] */
    uint8_t touched : 1;      /* used since its pages were last handed back */
    uint8_t present : 1;      /* its top page made present since then */
    uint8_t slab_end : 1;     /* [init] the last of its slab */
#ifdef WEFT_TSAN
    void *tsan_fiber;   /* TSan's fiber for it (fiber.c: weft__ctx_make) */
    bool tsan_finished; /* its last task left by its final switch */
#endif
    /* [owner] of the task bound to it: the locks that task holds for
     * reading, the first t->read_holds of them (the rest is stale). Last:
     * only a task that takes a read lock touches it. */
    const void *read_held[WEFT__READ_HOLDS_MAX];
} weft__stack;

typedef struct weft__stack_slab weft__stack_slab;
typedef struct weft__stack_pool {
    size_t size;       /* usable size of each stack */
    weft_list free;    /* the warmest stack first */
    size_t nfree, nwarm, total;
    weft__stack_slab *slabs;
    size_t next_slab_count;
    uint32_t life; /* the runtime's life (weft_rt_reset) that last used it */
} weft__stack_pool;

/* Distinct stack sizes a runtime keeps pools for. */
#define WEFT__STACK_CLASSES 8

/* Free stacks a worker of a concurrent runtime keeps for its next spawns;
 * when full, it gives half back to the pool under one lock. */
#define WEFT__WORKER_STACKS 8u

typedef void (*weft__entry_fn)(void *transfer);

/* Prepare ctx to run entry(transfer) on stack when first switched to. */
WEFT_HIDDEN void weft__ctx_make(weft__ctx *ctx, weft__stack *stack, weft__entry_fn entry);
/* Save the running context into from and resume to; returns the transfer
 * value passed by whoever switches back. dying: from will never be resumed
 * (lets ASan release its fake stack). The leaving side has nothing for the
 * resumed one to commit: a plain switch, the one the raw switch benchmark
 * times against Boost.Context. */
WEFT_HIDDEN void *weft__ctx_jump(weft__ctx *from, weft__ctx *to, void *transfer, bool dying);
/* weft__ctx_jump where the leaving side left a move for the resumed side to
 * commit (its worker's switched_out): the resumed side calls
 * weft__ctx_resumed() before it goes on (its jump returns, or its entry
 * starts). On x86-64 the switch itself makes that call, so that a jump at the
 * end of a function is compiled as its tail jump; only the switches that need
 * it pay for it (a call and a TLS load: 1.4 ns of a 7 ns switch on AMD EPYC,
 * measured 2026-12-02). */
WEFT_HIDDEN void *weft__ctx_jump_commit(weft__ctx *from, weft__ctx *to, void *transfer, bool dying);
#ifdef WEFT_TSAN
/* The instrumented frames a task leaves on its TSan fiber when it finishes:
 * weft__task_entry, weft__switch_away and weft__ctx_jump_commit are live at
 * its final switch and never return. A test checks the count
 * (a_hundred_thousand_tasks_finish_one_after_another_on_one_stack:
 * one frame too few overflows TSan's shadow stack). */
#define WEFT__TSAN_FINAL_FRAMES 3
#endif
/* Called first thing in a fresh context's entry. */
WEFT_HIDDEN void weft__ctx_entered(weft__ctx *self);
/* What a resumed context does first (the loop's: commit what the context
 * that left did). Defined by the loop. */
WEFT_HIDDEN void weft__ctx_resumed(void);
/* The context of the OS thread that calls into the runtime. */
WEFT_HIDDEN void weft__ctx_init_host(weft__ctx *ctx);

#endif /* WEFT_FIBER_H */
