/* stack.c — pooled fiber stacks with guard pages, and the report of a stack
 * overflow as "task <id> (<name>) overflowed its <N>-byte stack".
 *
 * Stacks are carved from slabs (one mmap each) and bound to a task when it
 * first runs, so a million queued tasks need no stacks. Each stack has a guard
 * region below it. Where the kernel has MADV_GUARD_INSTALL (Linux 6.13+) the
 * guards are page-table markers inside one mapping, so 100,000 guarded stacks
 * cost a handful of VMAs; otherwise each guard is an mprotect'ed range, two
 * VMAs per stack, which vm.max_map_count (65,530 by default) caps at about
 * 30,000 live stacks — past that a stack allocation fails with WEFT_ENOMEM.
 */
#define _GNU_SOURCE
#include "core.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define WEFT_HAVE_VALGRIND 1
#endif

#ifdef WEFT_ASAN
#include <sanitizer/asan_interface.h>
#endif
#ifdef WEFT_TSAN
#include <sanitizer/tsan_interface.h>
#endif

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

/* 16 KiB of guard catches a frame of up to 16 KiB that jumps past the bottom
 * (one page would miss a 5 KiB local array); guard markers cost no memory. */
#define WEFT__GUARD_SIZE (16u * 1024u)
/* Slabs grow geometrically so a burst of fibers costs few mmaps; the first is
 * small so an idle runtime maps little. */
#define WEFT__SLAB_FIRST 4u
#define WEFT__SLAB_MAX 1024u
/* Free stacks kept with their pages resident; beyond this, idle time hands
 * the pages back (MADV_DONTNEED). */
#define WEFT__STACK_WARM_MAX 64u
/* Stacks start at different offsets within their top page, so that the
 * frames fibers switch in and out of do not all fall in the same cache sets:
 * with every stack top at one page offset, 1,000 yielding fibers ran at
 * 35-60 M yields/s from run to run (the L2 sets a top lands in follow its
 * physical page); spread over 16 offsets, 36-59% faster by the medians of
 * interleaved runs. The offsets come out of one extra page per stack, so a
 * task has at least the stack it asked for (up to 4 KiB more, by its
 * stack's colour). */
#define WEFT__STACK_COLORS 16u
#define WEFT__STACK_COLOR_STEP 128u
_Static_assert(WEFT__STACK_COLORS * WEFT__STACK_COLOR_STEP <= 4096u, "the colours fit in the colour page");

/* A stack pointer this far below a stack's base still counts as that stack
 * overflowing (a large frame that jumped over the guard). */
#define WEFT__OVERFLOW_REACH (8u * 1024u * 1024u)

struct weft__stack_slab {
    weft__stack_slab *next;
    char *mem;
    size_t len;
    size_t count;
    weft__stack *stacks;
};

size_t weft__page_size(void)
{
    static weft__aword cached; /* a constant of the process, not state */
    size_t p = weft__ld(&cached, WEFT__RELAXED);
    if (!p) {
        long v = sysconf(_SC_PAGESIZE);
        p = v > 0 ? (size_t)v : 4096u;
        weft__st(&cached, p, WEFT__RELAXED);
    }
    return p;
}

size_t weft__stack_round(size_t size)
{
    size_t p = weft__page_size();
    return (size + p - 1) & ~(p - 1);
}

/* What a stack of a class of size (rounded) maps: the class's size and the
 * colour page on top. */
static inline size_t stack_span(size_t class_size)
{
    return class_size + weft__page_size();
}

static int install_guards(weft_rt *rt, weft__stack_slab *sl, size_t stride)
{
    /* A slab's guards in a few calls: each call is dear on a VM (here 3-11
     * us a guard one by one, about 1 us in a batch), and a cold burst of
     * 1,000 tasks makes a thousand guards. */
    if (weft__os_madvise_strided(&rt->os, sl->mem, stride, sl->count, WEFT__GUARD_SIZE, MADV_GUARD_INSTALL) == 0)
        return 0;
    for (size_t i = 0; i < sl->count; i++) {
        char *g = sl->mem + i * stride;
        int r = rt->os.madvise(rt->os.ctx, g, WEFT__GUARD_SIZE, MADV_GUARD_INSTALL);
        if (r == -EINVAL || r == -ENOSYS)
            r = rt->os.mprotect(rt->os.ctx, g, WEFT__GUARD_SIZE, PROT_NONE);
        if (r < 0)
            return r == -ENOMEM ? WEFT_MISUSE(WEFT_ENOMEM,
                                              "cannot guard another stack (vm.max_map_count reached; a "
                                              "kernel with MADV_GUARD_INSTALL lifts the limit)")
                                : WEFT_ENOMEM;
    }
    return 0;
}

/* Out of line: inlined, its frame made every weft__stack_get pay for it. */
static __attribute__((noinline)) int slab_new(weft_rt *rt, weft__stack_pool *pool)
{
    size_t count = pool->next_slab_count ? pool->next_slab_count : WEFT__SLAB_FIRST;
    size_t span = stack_span(pool->size);
    size_t stride = span + WEFT__GUARD_SIZE;
    weft__stack_slab *sl = weft__calloc(rt, sizeof *sl);
    weft__stack *st = sl ? weft__calloc(rt, count * sizeof *st) : NULL;
    if (!st) {
        weft__free(rt, sl, sizeof *sl);
        return WEFT_ENOMEM;
    }
    int err = 0;
    sl->len = count * stride;
    sl->count = count;
    sl->mem = rt->os.mmap(rt->os.ctx, sl->len, PROT_READ | PROT_WRITE, &err);
    if (!sl->mem || install_guards(rt, sl, stride) < 0) {
        if (sl->mem)
            rt->os.munmap(rt->os.ctx, sl->mem, sl->len);
        weft__free(rt, st, count * sizeof *st);
        weft__free(rt, sl, sizeof *sl);
        return WEFT_ENOMEM;
    }
    sl->stacks = st;
#ifdef WEFT_ASAN
    /* A fresh mapping may sit where an earlier slab was, whose frames left
     * their poison in ASan's shadow (munmap does not clear it). */
    __asan_unpoison_memory_region(sl->mem, sl->len);
#endif
    /* Push in reverse so the lowest-addressed stack is handed out first:
     * deterministic, and it keeps a small pool within few pages. */
    for (size_t i = count; i-- > 0;) {
        st[i].base = sl->mem + i * stride + WEFT__GUARD_SIZE;
        st[i].size = span;
        st[i].color = (uint16_t)((pool->total + i) % WEFT__STACK_COLORS * WEFT__STACK_COLOR_STEP);
        st[i].pool = pool;
        st[i].slab_end = i + 1 == count;
#ifdef WEFT_HAVE_VALGRIND
        st[i].valgrind_id = VALGRIND_STACK_REGISTER(st[i].base, st[i].base + st[i].size);
#endif
        weft__list_push_head(&pool->free, &st[i].link);
    }
    pool->nfree += count;
    pool->total += count;
    sl->next = pool->slabs;
    pool->slabs = sl;
    pool->next_slab_count = count * 2 > WEFT__SLAB_MAX ? WEFT__SLAB_MAX : count * 2;
    rt->stacks_mapped += count;
    return 0;
}

static void pool_release(weft_rt *rt, weft__stack_pool *pool);

/* The class for size: its own, else a free one, else the next larger. A
 * class left from an earlier life of a reset runtime counts as free (its
 * stacks are unmapped if another size takes it), so classes run out exactly
 * when they would in a new runtime. */
static weft__stack_pool *pool_for(weft_rt *rt, size_t size)
{
    weft__stack_pool *best = NULL, *unused = NULL;
    for (unsigned i = 0; i < WEFT__STACK_CLASSES; i++) {
        weft__stack_pool *p = &rt->pools[i];
        if (p->size == size) {
            p->life = rt->stack_life;
            return p;
        }
        if (p->size == 0 || p->life != rt->stack_life) {
            if (!unused)
                unused = p;
            continue;
        }
        if (p->size > size && (!best || p->size < best->size))
            best = p;
    }
    if (unused) {
        if (unused->size)
            pool_release(rt, unused);
        unused->size = size;
        unused->life = rt->stack_life;
        return unused;
    }
    /* Every class is taken: the next larger class still fits the request. */
    return best;
}

/* A stack's first task writes its first frame into the stack's top page at
 * once, and on a virtual machine a first touch of fresh memory is dear:
 * here (AMD EPYC VM) a page fault costs 11-14 us, making the page present
 * by a call 3 us, and about 1 us a page in a vector call. So that page is
 * made present by a call (cold yield_many, 1,000 fresh stacks: 1,115 page
 * faults -> 116), and once a pool has grown past its first slab (a burst)
 * the call takes the top pages of the next fresh stacks of the slab too, up
 * to WEFT__PREFAULT_AHEAD pages, which a burst takes next. Only top pages,
 * which a task touches anyway, so a sleeping fiber's memory is unchanged
 * and an idle runtime's first slab is left alone; not in a simulated
 * runtime, whose seeds make no system calls (chunk_prefault's rule). */
#define WEFT__PREFAULT_AHEAD 16u

/* Under stacks_lock: how many stacks from s on (fresh) to make present, each
 * marked so that no other take makes it present again. */
static unsigned claim_tops(weft_rt *rt, const weft__stack_pool *pool, weft__stack *s)
{
    if (s->present || (rt->caps & WEFT__CAP_DETERMINISTIC))
        return 0;
    s->present = true;
    bool ahead = pool->total > WEFT__SLAB_FIRST && weft__os_strided_ok(&rt->os);
    unsigned n = 1;
    for (weft__stack *p = s; ahead && n < WEFT__PREFAULT_AHEAD && !p->slab_end; n++) {
        p++; /* the next of the slab: its stacks are one array, in address order */
        if (p->touched || p->present)
            break;
        p->present = true;
    }
    return n;
}

/* The top pages of n stacks of one slab from s on (one stride apart),
 * outside any lock. */
static WEFT_NOINLINE void prefault_tops(weft_rt *rt, weft__stack *s, unsigned n)
{
    size_t page = weft__page_size();
    size_t stride = n > 1 ? (size_t)(s[1].base - s[0].base) : 0;
    weft__os_prefault_strided(&rt->os, s->base + s->size - page, stride, n, page);
}

/* pool_take's result: fresh stacks are prefaulted, outside any lock. */
static inline int taken(weft_rt *rt, int r, weft__stack **out)
{
    if (WEFT_UNLIKELY(r > 0)) {
        prefault_tops(rt, *out, (unsigned)r);
        return 0;
    }
    return r;
}

/* weft__stack_get's work, under stacks_lock: how many stacks from *out on
 * to make present (claim_tops), or an error. */
static inline int pool_take(weft_rt *rt, size_t size, weft__stack **out)
{
    /* Almost every take asks for the size the last one did. The hint holds
     * while its class is of this life: only a class of an earlier life (or
     * none) is given another size. */
    weft__stack_pool *pool = rt->pool_hint;
    if (WEFT_UNLIKELY(!pool || rt->pool_hint_size != size || pool->life != rt->stack_life)) {
        pool = pool_for(rt, weft__stack_round(size));
        if (WEFT_UNLIKELY(!pool))
            return WEFT_MISUSE(WEFT_ENOMEM, "more than %d distinct stack sizes, and none large enough",
                               WEFT__STACK_CLASSES);
        rt->pool_hint = pool;
        rt->pool_hint_size = size;
    }
    int r;
    if (WEFT_UNLIKELY(!pool->free.head) && (r = slab_new(rt, pool)) < 0)
        return r;
    weft__stack *s = WEFT_LIST_ENTRY(weft__list_pop_head(&pool->free), weft__stack, link);
    pool->nfree--;
    unsigned tops = 0;
    if (s->touched)
        pool->nwarm--;
    else
        tops = claim_tops(rt, pool, s);
    s->touched = true;
    *out = s;
    return (int)tops;
}

/* weft__stack_put's work, under stacks_lock. */
static inline void pool_give(weft__stack *s)
{
    weft__stack_pool *pool = s->pool;
    weft__list_push_head(&pool->free, &s->link);
    pool->nfree++;
    pool->nwarm++;
}

/* A serial runtime's stacks take no lock; the split lets that path (every
 * spawned task's) skip the frame the spin lock's slow path needs. */
int weft__stack_get(weft_rt *rt, size_t size, weft__stack **out)
{
    if (rt->serial)
        return taken(rt, pool_take(rt, size, out), out);
    weft__spin_lock(&rt->stacks_lock);
    int r = pool_take(rt, size, out);
    weft__spin_unlock(&rt->stacks_lock);
    return taken(rt, r, out);
}

static inline void unpoison(weft__stack *s)
{
#ifdef WEFT_ASAN
    /* The task's entry frame never returns (the fiber leaves it with a last
     * switch), so that frame's redzone poison is still on the stack and
     * would fault the next task's differently laid-out frames. */
    __asan_unpoison_memory_region(s->base, s->size);
#else
    (void)s;
#endif
}

void weft__stack_put(weft_rt *rt, weft__stack *s)
{
    unpoison(s);
    if (rt->serial) {
        pool_give(s);
        return;
    }
    weft__spin_lock(&rt->stacks_lock);
    pool_give(s);
    weft__spin_unlock(&rt->stacks_lock);
}

/* ---- a worker's own free stacks (concurrent runtimes) ---- */

/* Give the oldest `n` of w's cached stacks back to the pool, under one lock. */
static void cache_spill(weft__worker *w, unsigned n)
{
    weft_rt *rt = w->rt;
    unsigned have = w->nstacks.v;
    weft__spin_lock(&rt->stacks_lock);
    for (unsigned i = 0; i < n; i++)
        pool_give(w->stacks[i]);
    /* Under the lock with the pool's count, so weft_rt_stats_get (which
     * reads both under it) never counts these stacks in both places. */
    weft__st(&w->nstacks, have - n, WEFT__RELAXED);
    weft__spin_unlock(&rt->stacks_lock);
    memmove(w->stacks, w->stacks + n, (have - n) * sizeof *w->stacks);
}

int weft__stack_get_here(weft__worker *w, size_t size, weft__stack **out)
{
    weft_rt *rt = w->rt;
    if (rt->serial)
        return taken(rt, pool_take(rt, size, out), out);
    unsigned n = w->nstacks.v;
    /* The newest cached stack, when it is of the size asked for (pools
     * round sizes the same way for every stack of a class). */
    if (n && w->stacks[n - 1]->size == stack_span(weft__stack_round(size))) {
        *out = w->stacks[n - 1];
        weft__st(&w->nstacks, n - 1, WEFT__RELAXED);
        return 0;
    }
    return weft__stack_get(rt, size, out);
}

void weft__stack_put_here(weft__worker *w, weft__stack *s)
{
    unpoison(s);
    if (w->rt->serial) {
        pool_give(s);
        return;
    }
    if (w->nstacks.v == WEFT__WORKER_STACKS)
        cache_spill(w, WEFT__WORKER_STACKS / 2);
    unsigned n = w->nstacks.v;
    w->stacks[n] = s;
    weft__st(&w->nstacks, n + 1, WEFT__RELAXED);
}

void weft__stacks_flush(weft__worker *w)
{
    if (w->nstacks.v)
        cache_spill(w, w->nstacks.v);
}

/* Hand back the pages of free stacks beyond the warm budget (called when a
 * worker goes idle, where the syscalls cost nothing anyone waits for). */
void weft__stacks_trim(weft_rt *rt)
{
    weft__lock_s(rt->serial, &rt->stacks_lock);
    for (unsigned i = 0; i < WEFT__STACK_CLASSES; i++) {
        weft__stack_pool *pool = &rt->pools[i];
        size_t keep = WEFT__STACK_WARM_MAX;
        for (weft_link *l = pool->free.head; l && pool->nwarm > WEFT__STACK_WARM_MAX; l = l->next) {
            weft__stack *s = WEFT_LIST_ENTRY(l, weft__stack, link);
            if (keep) {
                keep -= s->touched ? 1 : 0;
                continue;
            }
            if (s->touched) {
                s->present = false;
                rt->os.madvise(rt->os.ctx, s->base, s->size, MADV_DONTNEED);
                s->touched = false;
                pool->nwarm--;
            }
        }
    }
    weft__unlock_s(rt->serial, &rt->stacks_lock);
}

/* Unmap every stack of pool (none is in use) and empty the class. */
static void pool_release(weft_rt *rt, weft__stack_pool *pool)
{
    weft__stack_slab *sl = pool->slabs;
    while (sl) {
        weft__stack_slab *next = sl->next;
#ifdef WEFT_HAVE_VALGRIND
        for (size_t k = 0; k < sl->count; k++)
            VALGRIND_STACK_DEREGISTER(sl->stacks[k].valgrind_id);
#endif
#ifdef WEFT_TSAN
        for (size_t k = 0; k < sl->count; k++)
            if (sl->stacks[k].tsan_fiber)
                __tsan_destroy_fiber(sl->stacks[k].tsan_fiber);
#endif
#ifdef WEFT_ASAN
        __asan_unpoison_memory_region(sl->mem, sl->len);
#endif
        rt->os.munmap(rt->os.ctx, sl->mem, sl->len);
        rt->stacks_mapped -= sl->count;
        weft__free(rt, sl->stacks, sl->count * sizeof *sl->stacks);
        weft__free(rt, sl, sizeof *sl);
        sl = next;
    }
    memset(pool, 0, sizeof *pool);
}

void weft__stacks_free(weft_rt *rt)
{
    for (unsigned i = 0; i < WEFT__STACK_CLASSES; i++)
        pool_release(rt, &rt->pools[i]);
}

/* ------------------------------------------------------------------------ */
/* Fault reporting                                                           */
/* ------------------------------------------------------------------------ */

/* The dispositions that were in place before weft's, to chain to. Signal
 * dispositions are process-wide, so this is the one piece of process state
 * weft keeps; it is written once, before the handler is installed. */
static struct sigaction previous[NSIG];
static weft__a32 handlers_installed;

/* Did a fault at addr, with the stack pointer at sp, overflow s? Either the
 * address is in its guard, or the stack pointer has left it downwards (a
 * frame larger than the guard jumped past it). */
static bool overflowed(const weft__stack *s, const char *addr, const char *sp)
{
    if (!s)
        return false;
    if (addr >= s->base - WEFT__GUARD_SIZE && addr < s->base)
        return true;
    return sp < s->base && sp + WEFT__OVERFLOW_REACH >= s->base && addr < s->base &&
           addr + WEFT__OVERFLOW_REACH >= s->base;
}

const weft__stack *weft__stack_overflowed(const weft__worker *w, const void *addr, const void *sp)
{
    const weft__task *t = w->current;
    if (t && overflowed(t->stack, addr, sp))
        return t->stack;
    return NULL;
}

static void report_overflow(const weft__task *t, const weft__stack *s)
{
    char buf[256];
    size_t n = 0;
    weft__fmt_str(buf, sizeof buf, &n, "weft: task ");
    weft__fmt_u64(buf, sizeof buf, &n, t ? t->node.task_id : 0);
    weft__fmt_str(buf, sizeof buf, &n, " (");
    weft__fmt_str(buf, sizeof buf, &n, t ? weft__task_label(t) : "worker loop");
    weft__fmt_str(buf, sizeof buf, &n, ") overflowed its ");
    weft__fmt_u64(buf, sizeof buf, &n, s->pool->size);
    weft__fmt_str(buf, sizeof buf, &n, "-byte stack\n");
    weft__write_all(2, buf, n);
}

static const char *fault_sp(void *ucv)
{
    const ucontext_t *uc = ucv;
#if defined(__x86_64__)
    return uc ? (const char *)uc->uc_mcontext.gregs[REG_RSP] : NULL;
#elif defined(__aarch64__)
    return uc ? (const char *)uc->uc_mcontext.sp : NULL;
#else
    (void)uc;
    return NULL;
#endif
}

static void on_fatal_signal(int sig, siginfo_t *si, void *uc)
{
    weft__worker *w = weft__tls_worker;
    if (w && (sig == SIGSEGV || sig == SIGBUS)) {
        const weft__stack *s = weft__stack_overflowed(w, si->si_addr, fault_sp(uc));
        if (s) {
            report_overflow(w->current, s);
            if (w->rt->backend->crash_report)
                w->rt->backend->crash_report(w->rt, 2);
            signal(SIGABRT, SIG_DFL);
            abort();
        }
    }
    if (w && w->rt->backend->crash_report)
        w->rt->backend->crash_report(w->rt, 2);
    /* Chain: a previous handler runs as if weft were not there; the default
     * disposition is restored and the signal re-raised on return. */
    struct sigaction *prev = &previous[sig];
    if ((prev->sa_flags & SA_SIGINFO) && prev->sa_sigaction) {
        prev->sa_sigaction(sig, si, uc);
        return;
    }
    if (prev->sa_handler != SIG_DFL && prev->sa_handler != SIG_IGN && prev->sa_handler) {
        prev->sa_handler(sig);
        return;
    }
    signal(sig, SIG_DFL);
    if (sig == SIGABRT)
        raise(sig);
}

int weft__guard_install(weft_rt *rt)
{
    (void)rt;
    uint32_t expected = 0;
    if (!weft__cas(&handlers_installed, &expected, 1u, WEFT__ACQ_REL, WEFT__RELAXED))
        return 0;
    static const int sigs[] = {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_fatal_signal;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        sigaction(sigs[i], NULL, &previous[sigs[i]]);
        /* Under a sanitizer its own handler reports better; keep it. */
        if (previous[sigs[i]].sa_handler != SIG_DFL)
            continue;
        sigaction(sigs[i], &sa, NULL);
    }
    return 0;
}

/* The overflow handler needs a stack of its own: the faulting one is full.
 * Each worker thread gets one (weft__guard_enter on that thread).
 *
 * Runs nest on a thread: a campaign of simulated runs holds the guard for
 * all of them (weft__guard_hold), and only the outermost enter and leave
 * touch the signal stack. Four sigaltstack calls per run were 16% of a
 * short simulated seed on a paravirtualised AMD EPYC (perf, 2026-12-02). */
#define WEFT__GUARD_STACK (64u * 1024u)
static WEFT_TLS unsigned guard_depth;
static WEFT_TLS void *guard_held; /* the stack weft__guard_hold mapped */

/* Does the thread have a signal stack (its program's or ours) already? */
static bool has_altstack(void)
{
    stack_t cur;
    return sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_DISABLE);
}

void weft__guard_enter(weft_rt *rt)
{
    if (guard_depth++ || has_altstack())
        return;
    if (!rt->altstack) {
        int err = 0;
        rt->altstack = rt->os.mmap(rt->os.ctx, WEFT__GUARD_STACK, PROT_READ | PROT_WRITE, &err);
        if (!rt->altstack)
            return;
        rt->altstack_size = WEFT__GUARD_STACK;
    }
    stack_t ss = {.ss_sp = rt->altstack, .ss_size = rt->altstack_size, .ss_flags = 0};
    sigaltstack(&ss, NULL);
}

void weft__guard_leave(weft_rt *rt)
{
    WEFT_INVARIANT(guard_depth > 0, "a guard left that was not entered");
    if (--guard_depth)
        return;
    stack_t cur;
    if (!rt->altstack || sigaltstack(NULL, &cur) != 0 || cur.ss_sp != rt->altstack)
        return;
    stack_t off = {.ss_sp = NULL, .ss_size = 0, .ss_flags = SS_DISABLE};
    sigaltstack(&off, NULL);
}

/* Between a hold and its release, the runs on this thread enter and leave
 * the guard for free: the hold installs a stack of its own (not a
 * runtime's: the campaign frees runtimes while it holds) when the thread
 * has none. Without one (mmap failed), an overflow is still a crash, only
 * without the report. */
void weft__guard_hold(void)
{
    if (guard_depth++ || has_altstack())
        return;
    void *mem = mmap(NULL, WEFT__GUARD_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        return;
    stack_t ss = {.ss_sp = mem, .ss_size = WEFT__GUARD_STACK, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0) {
        munmap(mem, WEFT__GUARD_STACK);
        return;
    }
    guard_held = mem;
}

void weft__guard_release(void)
{
    WEFT_INVARIANT(guard_depth > 0, "a guard released that was not held");
    if (--guard_depth || !guard_held)
        return;
    stack_t off = {.ss_sp = NULL, .ss_size = 0, .ss_flags = SS_DISABLE};
    sigaltstack(&off, NULL);
    munmap(guard_held, WEFT__GUARD_STACK);
    guard_held = NULL;
}
