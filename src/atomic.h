/* atomic.h — the one thin layer for everything that crosses OS threads:
 * atomic loads, stores, exchanges, compare-and-swaps and fetch-ops with an
 * explicit memory order, fences, the spin hint, futex wait/wake and thread
 * start/join. No other file of the library touches __atomic builtins,
 * <stdatomic.h>, pthread_create or the futex system call (`scons test` greps
 * for strays).
 *
 * A shared word is declared with one of the wrapper types below (weft__a32,
 * …), so that a plain access to it does not compile by accident; code reads
 * it with weft__ld and writes it with weft__st. A production build compiles
 * each operation to the GCC/Clang __atomic builtin: no cost over C11.
 *
 * The model build (VARIANT=model, -DWEFT_MODEL) routes every operation
 * through weft__model_active when a model checker has installed one on the
 * calling OS thread: there each operation is a scheduling point between
 * simulated threads, a load may read any store the memory model allows, and
 * futex waits block the simulated thread (sim/model.c). With none installed
 * the operations are the real ones, so the rest of the test suite runs
 * unchanged in that build.
 */
#ifndef WEFT_ATOMIC_H
#define WEFT_ATOMIC_H

#include "base.h"
#include "weft/os.h"

#include <pthread.h>

/* Memory orders, as the builtins number them. */
#define WEFT__RELAXED __ATOMIC_RELAXED
#define WEFT__ACQUIRE __ATOMIC_ACQUIRE
#define WEFT__RELEASE __ATOMIC_RELEASE
#define WEFT__ACQ_REL __ATOMIC_ACQ_REL
#define WEFT__SEQ_CST __ATOMIC_SEQ_CST

/* Shared words. The member is `v`; touch it only through this layer (or,
 * for a structure owned by one OS thread, as the owner's plain access that
 * the threading model allows: see THREADING.md "serial runtimes"). */
typedef struct weft__a32 {
    uint32_t v;
} weft__a32;
typedef struct weft__a64 {
    uint64_t v;
} weft__a64;
typedef struct weft__aword {
    uintptr_t v;
} weft__aword;
typedef struct weft__aptr {
    void *v;
} weft__aptr;

/* An OS thread started through the layer. */
typedef struct weft__thread {
    pthread_t id;
    void *model; /* the model's simulated thread, in a model build */
} weft__thread;

#ifdef WEFT_MODEL
/* Read-modify-write operations the model implements. */
enum weft__rmw_op { WEFT__RMW_XCHG = 0, WEFT__RMW_ADD, WEFT__RMW_SUB, WEFT__RMW_OR, WEFT__RMW_AND };

typedef struct weft__atomic_model {
    uint64_t (*load)(void *ctx, void *addr, unsigned size, int order);
    void (*store)(void *ctx, void *addr, unsigned size, uint64_t value, int order);
    uint64_t (*rmw)(void *ctx, void *addr, unsigned size, int op, uint64_t value, int order);
    bool (*cas)(void *ctx, void *addr, unsigned size, uint64_t *expected, uint64_t desired, int success,
                int failure);
    void (*fence)(void *ctx, int order);
    void (*spin)(void *ctx);
    int (*futex_wait)(void *ctx, uint32_t *word, uint32_t expected, uint64_t deadline_ns);
    int (*futex_wake)(void *ctx, uint32_t *word, int count);
    int (*thread_start)(void *ctx, weft__thread *t, void *(*fn)(void *), void *arg);
    int (*thread_join)(void *ctx, weft__thread *t, void **result);
    /* The calling thread now owns what its last load of addr returned (a
     * deque slot read before the CAS that claimed it): a later store to addr
     * by another thread must happen after that load (sim/model.c). */
    void (*claimed)(void *ctx, void *addr);
    void *ctx;
} weft__atomic_model;

/* The model checking the code on this OS thread, or NULL. */
WEFT_HIDDEN extern WEFT_TLS const weft__atomic_model *weft__model_active;
#define WEFT__MODEL_ON WEFT_UNLIKELY(weft__model_active != NULL)
#define WEFT__M weft__model_active
#define WEFT__AS_U64(x) ((uint64_t)(uintptr_t)(x))
#define WEFT__FROM_U64(p, x) ((__typeof__((p)->v))(uintptr_t)(x))

#define weft__ld(p, mo)                                                                                    \
    (WEFT__MODEL_ON ? WEFT__FROM_U64(p, WEFT__M->load(WEFT__M->ctx, (void *)&(p)->v, sizeof((p)->v), (mo))) \
                    : __atomic_load_n(&(p)->v, (mo)))
#define weft__st(p, x, mo)                                                                                 \
    do {                                                                                                   \
        if (WEFT__MODEL_ON)                                                                                \
            WEFT__M->store(WEFT__M->ctx, (void *)&(p)->v, sizeof((p)->v), WEFT__AS_U64(x), (mo));          \
        else                                                                                               \
            __atomic_store_n(&(p)->v, (x), (mo));                                                          \
    } while (0)
#define WEFT__RMW(p, op, builtin, x, mo)                                                                   \
    (WEFT__MODEL_ON                                                                                        \
         ? WEFT__FROM_U64(p, WEFT__M->rmw(WEFT__M->ctx, (void *)&(p)->v, sizeof((p)->v), (op), WEFT__AS_U64(x), (mo))) \
         : builtin(&(p)->v, (x), (mo)))
#define weft__xchg(p, x, mo) WEFT__RMW(p, WEFT__RMW_XCHG, __atomic_exchange_n, x, mo)
#define weft__fetch_add(p, x, mo) WEFT__RMW(p, WEFT__RMW_ADD, __atomic_fetch_add, x, mo)
#define weft__fetch_sub(p, x, mo) WEFT__RMW(p, WEFT__RMW_SUB, __atomic_fetch_sub, x, mo)
#define weft__fetch_or(p, x, mo) WEFT__RMW(p, WEFT__RMW_OR, __atomic_fetch_or, x, mo)
#define weft__fetch_and(p, x, mo) WEFT__RMW(p, WEFT__RMW_AND, __atomic_fetch_and, x, mo)
#define weft__cas(p, expp, x, mos, mof)                                                                    \
    __extension__({                                                                                        \
        __typeof__((p)->v) *weft_cas_e_ = (expp);                                                          \
        bool weft_cas_r_;                                                                                  \
        if (WEFT__MODEL_ON) {                                                                              \
            uint64_t weft_cas_x_ = WEFT__AS_U64(*weft_cas_e_);                                             \
            weft_cas_r_ = WEFT__M->cas(WEFT__M->ctx, (void *)&(p)->v, sizeof((p)->v), &weft_cas_x_,        \
                                       WEFT__AS_U64(x), (mos), (mof));                                     \
            *weft_cas_e_ = WEFT__FROM_U64(p, weft_cas_x_);                                                 \
        } else {                                                                                           \
            weft_cas_r_ = __atomic_compare_exchange_n(&(p)->v, weft_cas_e_, (x), false, (mos), (mof));     \
        }                                                                                                  \
        weft_cas_r_;                                                                                       \
    })
#define weft__fence(mo)                                                                                    \
    do {                                                                                                   \
        if (WEFT__MODEL_ON)                                                                                \
            WEFT__M->fence(WEFT__M->ctx, (mo));                                                            \
        else                                                                                               \
            __atomic_thread_fence(mo);                                                                     \
    } while (0)
#define weft__model_claimed(p)                                                                             \
    do {                                                                                                   \
        if (WEFT__MODEL_ON)                                                                                \
            WEFT__M->claimed(WEFT__M->ctx, (void *)&(p)->v);                                               \
    } while (0)

/* Mutation switches: test-only re-introductions of classic bugs, so the
 * model's tests can show that each one is caught (tests/model). They exist
 * only in the model build; everywhere else WEFT__MUTANT is the constant 0
 * and WEFT__MUT_ORDER the unmutated order, so production code is unchanged. */
enum weft__mutation {
    WEFT__MUT_POP_NO_FENCE = 1u << 0,     /* deque_take_bottom without its seq_cst fence */
    WEFT__MUT_PUSH_RELAXED = 1u << 1,     /* deque_push's bottom store relaxed, not release */
    WEFT__MUT_STEAL_CAS_RELAXED = 1u << 2, /* the taker's CAS on top relaxed */
    WEFT__MUT_MUTEX_FETCH_OR = 1u << 3,   /* the mutex waiters bit set with an unconditioned fetch_or */
    WEFT__MUT_NO_WOKEN_CHECK = 1u << 4,   /* the park committed without the "woken while running" check */
    WEFT__MUT_NARROW_INDEX = 1u << 5,     /* deque indices narrowed to WEFT__MUT_INDEX_BITS: they wrap */
    WEFT__MUT_UNPARK_BY_FUTEX = 1u << 6,  /* unpark wakes the futex even when the parker sleeps in the reactor */
    WEFT__MUT_POLL_UNHELD = 1u << 7,      /* (model test only) a busy look at a shared reactor without holding it */
};
#define WEFT__MUT_INDEX_BITS 4u
WEFT_HIDDEN extern unsigned weft__mutations;
#define WEFT__MUTANT(m) WEFT_UNLIKELY((weft__mutations & (m)) != 0)
#define WEFT__MUT_ORDER(m, mutated, normal) (WEFT__MUTANT(m) ? (mutated) : (normal))
#elif defined(WEFT_HELGRIND)
/* The helgrind build (VARIANT=helgrind): helgrind does not know atomic
 * instructions as synchronization, so each operation of the layer tells it
 * (a store or read-modify-write "sends" on its address, a load or
 * read-modify-write "receives"); every plain access is still checked. Fences
 * send and receive on one word, ordering them all. */
#include <valgrind/helgrind.h>
WEFT_HIDDEN extern uint64_t weft__hg_fence_word;
/* The atomic word itself is not checked (its accesses are atomic); what it
 * orders is: a store or read-modify-write "sends" on its address (release),
 * a load or read-modify-write "receives" (acquire). */
#define WEFT__HG_WORD(p) VALGRIND_HG_DISABLE_CHECKING(&(p)->v, sizeof((p)->v))
#define WEFT__HG_SEND(p) ANNOTATE_HAPPENS_BEFORE(&(p)->v)
#define WEFT__HG_RECV(p) ANNOTATE_HAPPENS_AFTER(&(p)->v)
#define weft__ld(p, mo) __extension__({ WEFT__HG_WORD(p); __typeof__((p)->v) weft_hg_v_ = __atomic_load_n(&(p)->v, (mo)); WEFT__HG_RECV(p); weft_hg_v_; })
#define weft__st(p, x, mo) do { WEFT__HG_WORD(p); WEFT__HG_SEND(p); __atomic_store_n(&(p)->v, (x), (mo)); } while (0)
#define WEFT__HG_RMW(p, call) __extension__({ WEFT__HG_WORD(p); WEFT__HG_SEND(p); __typeof__((p)->v) weft_hg_v_ = call; WEFT__HG_RECV(p); weft_hg_v_; })
#define weft__xchg(p, x, mo) WEFT__HG_RMW(p, __atomic_exchange_n(&(p)->v, (x), (mo)))
#define weft__fetch_add(p, x, mo) WEFT__HG_RMW(p, __atomic_fetch_add(&(p)->v, (x), (mo)))
#define weft__fetch_sub(p, x, mo) WEFT__HG_RMW(p, __atomic_fetch_sub(&(p)->v, (x), (mo)))
#define weft__fetch_or(p, x, mo) WEFT__HG_RMW(p, __atomic_fetch_or(&(p)->v, (x), (mo)))
#define weft__fetch_and(p, x, mo) WEFT__HG_RMW(p, __atomic_fetch_and(&(p)->v, (x), (mo)))
#define weft__cas(p, expp, x, mos, mof) __extension__({ WEFT__HG_WORD(p); WEFT__HG_SEND(p); bool weft_hg_r_ = __atomic_compare_exchange_n(&(p)->v, (expp), (x), false, (mos), (mof)); WEFT__HG_RECV(p); weft_hg_r_; })
#define weft__model_claimed(p) ((void)(p))
#define WEFT__MUTANT(m) 0
#define WEFT__MUT_ORDER(m, mutated, normal) (normal)
#define weft__fence(mo) do { ANNOTATE_HAPPENS_BEFORE(&weft__hg_fence_word); __atomic_thread_fence(mo); ANNOTATE_HAPPENS_AFTER(&weft__hg_fence_word); } while (0)
#else /* production */
#define weft__model_claimed(p) ((void)(p))
#define WEFT__MUTANT(m) 0
#define WEFT__MUT_ORDER(m, mutated, normal) (normal)
#define weft__ld(p, mo) __atomic_load_n(&(p)->v, (mo))
#define weft__st(p, x, mo) __atomic_store_n(&(p)->v, (x), (mo))
#define weft__xchg(p, x, mo) __atomic_exchange_n(&(p)->v, (x), (mo))
#define weft__fetch_add(p, x, mo) __atomic_fetch_add(&(p)->v, (x), (mo))
#define weft__fetch_sub(p, x, mo) __atomic_fetch_sub(&(p)->v, (x), (mo))
#define weft__fetch_or(p, x, mo) __atomic_fetch_or(&(p)->v, (x), (mo))
#define weft__fetch_and(p, x, mo) __atomic_fetch_and(&(p)->v, (x), (mo))
#define weft__cas(p, expp, x, mos, mof) __atomic_compare_exchange_n(&(p)->v, (expp), (x), false, (mos), (mof))
#ifdef WEFT_TSAN
/* ThreadSanitizer does not model fences: there each one is a read-modify-
 * write of one shared word, which it does model, and which orders every
 * fence of the program in one total order, as seq_cst fences are. */
WEFT_HIDDEN extern uint64_t weft__tsan_fence_word;
#define weft__fence(mo) ((void)(mo), (void)__atomic_fetch_add(&weft__tsan_fence_word, 0, __ATOMIC_SEQ_CST))
#else
#define weft__fence(mo) __atomic_thread_fence(mo)
#endif
#endif

/* A seq_cst fence right after a seq_cst read-modify-write of the same
 * thread (Linux's smp_mb__after_atomic). On x86-64 the locked instruction
 * already is a full barrier, so production fences only the compiler; the
 * model, TSan and helgrind builds see the fence itself. */
#if defined(__x86_64__) && !defined(WEFT_MODEL) && !defined(WEFT_HELGRIND) && !defined(WEFT_TSAN)
#define weft__fence_after_rmw() __atomic_signal_fence(__ATOMIC_SEQ_CST)
#else
#define weft__fence_after_rmw() weft__fence(WEFT__SEQ_CST)
#endif

/* Orders this thread's plain stores against a signal handler that runs on
 * the same thread (a compiler barrier: no other thread is involved). */
#define weft__signal_fence() __atomic_signal_fence(__ATOMIC_SEQ_CST)

/* Serial forms: a structure of a serial runtime (all of its tasks on one OS
 * thread) is accessed with plain loads and stores; the same structure in a
 * concurrent runtime with the atomic operation. `serial` is a property of
 * the runtime, fixed at creation (THREADING.md). */
#if defined(__x86_64__) && !defined(WEFT_MODEL) && !defined(WEFT_HELGRIND) && !defined(WEFT_TSAN)
/* On x86-64 every load and every store short of seq_cst is one plain move
 * whatever its order: the test of `serial` would cost more than it saves. */
#define weft__ld_s(serial, p, mo) ((void)(serial), weft__ld(p, mo))
#define weft__st_s(serial, p, x, mo)                                                                       \
    do {                                                                                                   \
        if ((mo) != WEFT__SEQ_CST || !(serial))                                                            \
            weft__st(p, x, mo);                                                                            \
        else                                                                                               \
            (p)->v = (x);                                                                                  \
    } while (0)
#else
#define weft__ld_s(serial, p, mo) ((serial) ? (p)->v : weft__ld(p, mo))
#define weft__st_s(serial, p, x, mo)                                                                       \
    do {                                                                                                   \
        if (serial)                                                                                        \
            (p)->v = (x);                                                                                  \
        else                                                                                               \
            weft__st(p, x, mo);                                                                            \
    } while (0)
#endif

/* Serial read-modify-writes, for a word only a simulated serial runtime's
 * one thread touches (the idle mask there): plain operations, which the
 * model need not see: a simulation is one thread. */
#define weft__fetch_or_s(serial, p, x, mo)                                                                 \
    ((serial) ? __extension__({ __typeof__((p)->v) weft_s_old_ = (p)->v; (p)->v = weft_s_old_ | (x); weft_s_old_; }) \
              : weft__fetch_or(p, x, mo))
#define weft__fetch_and_s(serial, p, x, mo)                                                                \
    ((serial) ? __extension__({ __typeof__((p)->v) weft_s_old_ = (p)->v; (p)->v = weft_s_old_ & (x); weft_s_old_; }) \
              : weft__fetch_and(p, x, mo))

/* Statistics counters: one writer (the owning worker), read by any thread
 * for a snapshot. Relaxed atomic accesses make the read race-free; they are
 * plain moves, and not synchronization, so the model leaves them alone. */
static inline void weft__count(uint64_t *c, uint64_t n)
{
#ifdef WEFT_HELGRIND
    VALGRIND_HG_DISABLE_CHECKING(c, sizeof *c); /* a counter: not synchronization */
#endif
    __atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

static inline uint64_t weft__count_read(const uint64_t *c)
{
#ifdef WEFT_HELGRIND
    VALGRIND_HG_DISABLE_CHECKING(c, sizeof *c);
#endif
    return __atomic_load_n(c, __ATOMIC_RELAXED);
}

/* A word one thread writes and others read: the writer adds n (modulo
 * 2^64; UINT64_MAX subtracts one) with a load and a store, no
 * read-modify-write. Unlike weft__count, the model sees both: readers
 * decide with these words (a worker's live tasks and external waits), and
 * their other synchronization must order the writes before the reads. */
#define weft__add_owned(p, n) weft__st(p, weft__ld(p, WEFT__RELAXED) + (n), WEFT__RELAXED)

/* A busy-wait iteration: lets the sibling hyperthread (or, in the model,
 * another simulated thread) run. */
static inline void weft__spin_hint(void)
{
#ifdef WEFT_MODEL
    if (WEFT__MODEL_ON) {
        WEFT__M->spin(WEFT__M->ctx);
        return;
    }
#endif
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Block while word == expected, until woken or the absolute CLOCK_MONOTONIC
 * deadline (UINT64_MAX: none); 0 or -EAGAIN/-ETIMEDOUT/-EINTR. Through the
 * OS table, so tests can inject failures. */
static inline int weft__futex_wait(const weft_os *os, weft__a32 *word, uint32_t expected, uint64_t deadline)
{

#ifdef WEFT_MODEL
    if (WEFT__MODEL_ON)
        return WEFT__M->futex_wait(WEFT__M->ctx, &word->v, expected, deadline);
#endif
    return os->futex_wait(os->ctx, &word->v, expected, deadline);
}

/* Wake up to count waiters of word; the number woken or a negative errno. */
static inline int weft__futex_wake(const weft_os *os, weft__a32 *word, int count)
{
#ifdef WEFT_MODEL
    if (WEFT__MODEL_ON)
        return WEFT__M->futex_wake(WEFT__M->ctx, &word->v, count);
#endif
    return os->futex_wake(os->ctx, &word->v, count);
}

/* Start fn(arg) on a new OS thread; 0 or a negative errno. */
WEFT_HIDDEN int weft__thread_start(weft__thread *t, void *(*fn)(void *), void *arg);
/* Wait for it to end; *result (may be NULL) receives fn's return value. */
WEFT_HIDDEN int weft__thread_join(weft__thread *t, void **result);

/* Spins before a contended spin lock gives up the CPU: the holder runs a
 * few dozen instructions, unless it was preempted (more workers than cores,
 * or valgrind running one thread at a time), when only yielding helps. */
#define WEFT__SPIN_BEFORE_YIELD 64u

WEFT_HIDDEN void weft__spin_wait(weft__a32 *l);

/* A test-and-test-and-set spin lock for critical sections of a few dozen
 * instructions that never block or switch while held. */
static inline void weft__spin_lock(weft__a32 *l)
{
    if (WEFT_UNLIKELY(weft__xchg(l, 1u, WEFT__ACQUIRE)))
        weft__spin_wait(l);
}

static inline bool weft__spin_trylock(weft__a32 *l)
{
    return weft__ld(l, WEFT__RELAXED) == 0 && weft__xchg(l, 1u, WEFT__ACQUIRE) == 0;
}

static inline void weft__spin_unlock(weft__a32 *l)
{
    weft__st(l, 0u, WEFT__RELEASE);
}

/* The serial forms: nothing to exclude when one OS thread runs everything. */
static inline void weft__lock_s(bool serial, weft__a32 *l)
{
    if (!serial)
        weft__spin_lock(l);
}

static inline void weft__unlock_s(bool serial, weft__a32 *l)
{
    if (!serial)
        weft__spin_unlock(l);
}

#endif /* WEFT_ATOMIC_H */
