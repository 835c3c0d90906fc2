/* fiber.c — making and switching execution contexts, with the annotations
 * that let ASan, TSan and valgrind follow a fiber switch.
 *
 * The switch itself is fiber_<arch>.S; WEFT_UCONTEXT selects the portable
 * (and slower: it saves the signal mask with a syscall) ucontext fallback.
 */
#define _GNU_SOURCE
#include "core.h"

#include <pthread.h>
#include <stdlib.h>

#ifdef WEFT_ASAN
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef WEFT_TSAN
#include <sanitizer/tsan_interface.h>
#endif

#ifdef WEFT_UCONTEXT
/* makecontext passes ints; a pointer travels as two halves. */
static void uc_trampoline(unsigned hi, unsigned lo)
{
    weft__ctx *ctx = (weft__ctx *)(((uintptr_t)hi << 32) | (uintptr_t)lo);
    ctx->entry(ctx->transfer);
    abort(); /* entries never return */
}
#else
void *weft__ctx_switch_asm(void **from_sp, void *to_sp, void *transfer, void (*resumed)(void));
void weft__ctx_trampoline(void);
#endif

/* Where the switch calls weft__ctx_resumed itself (see fiber_x86_64.S); the
 * sanitizers must first be told that the switch ended, so there C does. */
#if defined(__x86_64__) && !defined(WEFT_UCONTEXT) && !defined(WEFT_ASAN) && !defined(WEFT_TSAN)
#define RESUMED_IN_SWITCH 1
#else
#define RESUMED_IN_SWITCH 0
#endif

void weft__ctx_init_host(weft__ctx *ctx)
{
    memset(ctx, 0, sizeof *ctx);
#ifdef WEFT_ASAN
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        void *addr;
        size_t size;
        pthread_attr_getstack(&attr, &addr, &size);
        ctx->stack_bottom = addr;
        ctx->stack_size = size;
        pthread_attr_destroy(&attr);
    }
#endif
#ifdef WEFT_TSAN
    ctx->tsan_fiber = __tsan_get_current_fiber();
#endif
}

#ifdef WEFT_TSAN
/* The instrumentation's own exit hook (no public header declares it). */
void __tsan_func_exit(void);

/* TSan counts fibers against its thread limit (~8k): one per pooled stack,
 * not one per task. A stack keeps its fiber from task to task: making one
 * costs 2–6 ms here (gcc 12's libtsan, mostly in the kernel), which was most
 * of the TSan suite's time. The last task's final frames never returned, so
 * a reused fiber's shadow call stack would grow by them, task after task,
 * until it overflows: they are popped here, on the fiber's behalf and
 * without synchronising with it. A stack whose last task left any other way
 * (abandoned at shutdown, parked at an unknown depth) gets a fresh fiber. */
static void tsan_fiber_for(weft__stack *stack)
{
    if (stack->tsan_fiber && stack->tsan_finished) {
        void *here = __tsan_get_current_fiber();
        __tsan_switch_to_fiber(stack->tsan_fiber, __tsan_switch_to_fiber_no_sync);
        for (int i = 0; i < WEFT__TSAN_FINAL_FRAMES; i++)
            __tsan_func_exit();
        __tsan_switch_to_fiber(here, __tsan_switch_to_fiber_no_sync);
    } else {
        if (stack->tsan_fiber)
            __tsan_destroy_fiber(stack->tsan_fiber);
        stack->tsan_fiber = __tsan_create_fiber(0);
    }
    stack->tsan_finished = false;
}
#endif

void weft__ctx_make(weft__ctx *ctx, weft__stack *stack, weft__entry_fn entry)
{
    char *top = stack->base + stack->size - stack->color;
#ifdef WEFT_ASAN
    ctx->stack_bottom = stack->base;
    ctx->stack_size = stack->size;
    ctx->fake_stack = NULL;
#endif
#ifdef WEFT_TSAN
    tsan_fiber_for(stack);
    ctx->tsan_fiber = stack->tsan_fiber;
#endif
#if defined(WEFT_UCONTEXT)
    (void)top;
    getcontext(&ctx->uc);
    ctx->uc.uc_stack.ss_sp = stack->base;
    ctx->uc.uc_stack.ss_size = stack->size - stack->color;
    ctx->uc.uc_link = NULL;
    ctx->entry = entry;
    uintptr_t self = (uintptr_t)ctx;
    makecontext(&ctx->uc, (void (*)(void))uc_trampoline, 2, (unsigned)(self >> 32), (unsigned)self);
#elif defined(__x86_64__)
    /* The ret slot sits at 8 mod 16, so after `ret` into the trampoline rsp
     * is 16-byte aligned and its call enters the entry with the ABI's
     * rsp+8 alignment. */
    uint64_t *sp = (uint64_t *)((uintptr_t)top & ~(uintptr_t)15);
    *--sp = (uint64_t)weft__ctx_trampoline; /* ret */
    *--sp = 0;                              /* rbp */
    *--sp = 0;                              /* rbx */
    *--sp = (uint64_t)entry;                /* r12 */
    *--sp = 0;                              /* r13 */
    *--sp = 0;                              /* r14 */
    *--sp = 0;                              /* r15 */
    /* The ABI's initial state: all exceptions masked, round to nearest,
     * x87 extended precision. */
    *--sp = (uint64_t)0x1F80u | ((uint64_t)0x037Fu << 32);
    ctx->sp = sp;
#elif defined(__aarch64__)
    uint64_t *frame = (uint64_t *)(((uintptr_t)top & ~(uintptr_t)15) - 176);
    memset(frame, 0, 176);
    frame[0] = (uint64_t)entry;                 /* x19 */
    frame[11] = (uint64_t)weft__ctx_trampoline; /* x30 */
    ctx->sp = frame;
#else
#error "no context switch for this architecture: build with FIBER=ucontext"
#endif
}

/* The one switch both jumps make; `resumed` is weft__ctx_resumed or NULL.
 * Always inlined: no frame of its own (WEFT__TSAN_FINAL_FRAMES counts on it). */
static inline __attribute__((always_inline)) void *jump(weft__ctx *from, weft__ctx *to, void *transfer, bool dying,
                                                        void (*resumed)(void))
{
#ifdef WEFT_ASAN
    __sanitizer_start_switch_fiber(dying ? NULL : &from->fake_stack, to->stack_bottom, to->stack_size);
#else
    (void)dying;
#endif
#ifdef WEFT_TSAN
    __tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
#ifdef WEFT_UCONTEXT
    to->transfer = transfer;
    swapcontext(&from->uc, &to->uc);
    void *r = from->transfer;
#elif RESUMED_IN_SWITCH
    return weft__ctx_switch_asm(&from->sp, to->sp, transfer, resumed);
#else
    void *r = weft__ctx_switch_asm(&from->sp, to->sp, transfer, NULL);
#endif
#if !RESUMED_IN_SWITCH
#ifdef WEFT_ASAN
    __sanitizer_finish_switch_fiber(from->fake_stack, NULL, NULL);
#endif
    /* Whichever jump left here, the resumed side cannot tell from its own
     * stack, so it always looks (these builds are not the fast ones). */
    (void)resumed;
    weft__ctx_resumed();
    return r;
#endif
}

void *weft__ctx_jump(weft__ctx *from, weft__ctx *to, void *transfer, bool dying)
{
    return jump(from, to, transfer, dying, NULL);
}

void *weft__ctx_jump_commit(weft__ctx *from, weft__ctx *to, void *transfer, bool dying)
{
    return jump(from, to, transfer, dying, weft__ctx_resumed);
}

void weft__ctx_entered(weft__ctx *self)
{
    (void)self;
#ifdef WEFT_ASAN
    __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
#if !RESUMED_IN_SWITCH
    weft__ctx_resumed();
#endif
}
