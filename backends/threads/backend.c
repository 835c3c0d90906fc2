/* backend.c — the real threads backend: the monotonic clock, parking in the
 * kernel (spin, then a futex parker with the next timer as its deadline),
 * runs that start and stop every worker thread together, and the choices
 * the scheduler leaves to timing made from a per-worker generator.
 *
 * A runtime of one worker with no OS settings runs it on the thread that
 * calls weft_rt_block_on (no thread of its own: "inline"); any other runtime
 * has a thread per worker, started in weft_rt_new.
 */
#include "threads.h"
#include "../reactor/reactor.h"

#include <limits.h>
#include <stdio.h>

static bool needs_threads(const weft_rt *rt)
{
    if (rt->nworkers != 1)
        return true;
    const weft_engine_config *c = &rt->engines[0].cfg;
    return c->thread_name || c->ncpus || c->nice || c->sched_policy != SCHED_OTHER;
}

/* ---- reactors ---------------------------------------------------------------- */

static const weft__reactor_ops *reactor_ops(weft_reactor which)
{
    switch (which) {
    case WEFT_REACTOR_URING: return &weft__reactor_uring;
    case WEFT_REACTOR_POLL: return &weft__reactor_poll;
    default: return &weft__reactor_epoll;
    }
}

static void reactor_sleep(void *arg, uint64_t deadline)
{
    weft__reactor *r = arg;
    r->ops->wait(r, deadline);
}

static void reactor_kick(void *arg)
{
    weft__reactor *r = arg;
    r->ops->kick(r);
}

static bool reactor_try_hold(void *arg)
{
    weft__reactor *r = arg;
    return !r->ops->try_hold || r->ops->try_hold(r);
}

static void reactor_let_go(void *arg)
{
    weft__reactor *r = arg;
    if (r->ops->let_go)
        r->ops->let_go(r);
}

/* A reactor per worker (its wait is the worker's park). io_uring that
 * cannot be set up falls back to epoll, saying why once. */
static int reactors_create(weft_rt *rt, weft__thr *thr)
{
    const weft__reactor_ops *ops = reactor_ops(rt->cfg.reactor);
    for (unsigned i = 0; i < rt->nworkers; i++) {
        weft__thr_worker *tw = &thr->tw[i];
        char why[200] = "";
        int r = ops->create(rt, &rt->workers[i], &tw->reactor, why, sizeof why);
        if (r < 0 && ops != &weft__reactor_epoll && r != WEFT_ENOMEM) {
            if (!rt->quiet)
                fprintf(stderr, "weft: the %s reactor is not available (%s): using epoll\n", ops->name, why);
            ops = &weft__reactor_epoll;
            for (unsigned k = 0; k < i; k++) {
                thr->tw[k].reactor->ops->destroy(thr->tw[k].reactor);
                thr->tw[k].reactor = NULL;
            }
            i = (unsigned)-1;
            continue;
        }
        if (r < 0)
            return WEFT_MISUSE_RT(rt, r, "weft_rt_new: %s", why);
        tw->reactor->ops = ops;
#ifdef WEFT_MODEL
        /* Under the atomics model, whose simulated threads share one OS
         * thread, a park must be the modelled futex, never a real
         * epoll_wait that would block them all (the model's own tests do no
         * IO; the ordinary suite in the model build runs real threads and
         * keeps the reactor). */
        if (WEFT__MODEL_ON)
            continue;
#endif
        tw->parker.sleep = reactor_sleep;
        tw->parker.kick = reactor_kick;
        tw->parker.try_hold = reactor_try_hold;
        tw->parker.let_go = reactor_let_go;
        tw->parker.arg = tw->reactor;
    }
    thr->reactor = ops;
    return 0;
}

static void reactors_destroy(weft_rt *rt, weft__thr *thr)
{
    for (unsigned i = 0; i < rt->nworkers; i++) {
        weft__thr_worker *tw = &thr->tw[i];
        if (tw->reactor)
            tw->reactor->ops->destroy(tw->reactor);
        tw->reactor = NULL;
    }
    weft__fdstates_free(rt);
}

static void thr_destroy(weft_rt *rt)
{
    weft__thr *thr = weft__thr_of(rt);
    if (!thr)
        return;
    if (!thr->inline_mode && thr->tw)
        weft__threads_stop(thr);
    weft__blocking_pool_free(thr);
    if (thr->tw)
        reactors_destroy(rt, thr);
    if (thr->tw)
        weft__free(rt, thr->tw, rt->nworkers * sizeof *thr->tw);
    rt->backend_state = NULL;
    weft__free(rt, thr, sizeof *thr);
}

static int thr_create(weft_rt *rt)
{
    weft__thr *thr = weft__calloc(rt, sizeof *thr);
    if (!thr)
        return WEFT_ENOMEM;
    thr->rt = rt;
    rt->backend_state = thr;
    thr->tw = weft__calloc(rt, rt->nworkers * sizeof *thr->tw);
    if (!thr->tw)
        return WEFT_ENOMEM;
    /* Real choices (steal victims, weft_rand) from OS randomness. */
    for (unsigned i = 0; i < rt->nworkers; i++) {
        uint64_t seed;
        if (rt->os.getrandom(rt->os.ctx, &seed, sizeof seed) < 0)
            seed = rt->os.monotonic_ns(rt->os.ctx) + i;
        weft__xoshiro_seed(rt->workers[i].rng, seed);
    }
    thr->inline_mode = !needs_threads(rt);
    int r = reactors_create(rt, thr);
    if (r < 0)
        return r;
    return thr->inline_mode ? 0 : weft__threads_start(thr);
}

static uint64_t thr_now(weft_rt *rt)
{
    return rt->os.monotonic_ns(rt->os.ctx);
}

static void stop_run(weft_rt *rt, int status)
{
    weft__st(&rt->status, (uint32_t)status, WEFT__RELEASE);
    weft__st(&rt->stop, 1u, WEFT__RELEASE);
    for (unsigned i = 0; i < rt->nworkers; i++)
        rt->backend->wake(&rt->workers[i]);
}

static int thr_run(weft_rt *rt)
{
    weft__thr *thr = weft__thr_of(rt);
    weft__st(&rt->status, 0u, WEFT__RELEASE);
    if (thr->inline_mode) {
        weft__worker *w = &rt->workers[0];
        weft__thread_enter(thr, w);
        weft__worker_loop(w);
        weft__thread_leave(thr, w);
    } else {
        /* Start every worker's loop and wait until the last has left it. */
        weft__st(&thr->in_loop, rt->nworkers, WEFT__RELEASE);
        uint32_t gen = weft__fetch_add(&thr->run_gen, 1u, WEFT__ACQ_REL) + 1;
        weft__futex_wake(&rt->os, &thr->run_gen, INT_MAX);
        uint32_t done;
        while ((done = weft__ld(&thr->done_gen, WEFT__ACQUIRE)) != gen)
            weft__futex_wait(&rt->os, &thr->done_gen, done, UINT64_MAX);
    }
    return (int)weft__ld(&rt->status, WEFT__ACQUIRE);
}

static bool stopping(weft_rt *rt)
{
    return weft__ld(&rt->stop, WEFT__ACQUIRE) != 0;
}

static void thr_wake(weft__worker *w);

/* Deadlock detection. A worker about to sleep with no deadline is counted
 * (`forever`); a wake uncounts it. The last one, already marked PARKED in
 * its parker, looks at every worker: all counted, all parkers PARKED, and
 * no wake during the look (the `wakes` counter did not move) means every
 * worker is asleep with nothing to wake it — unless a thread outside the
 * runtime holds a way in (external waits: a shared channel, the notifier). */
typedef struct park_ctx {
    weft_rt *rt;
    weft__thr *thr;
    bool deadlock;
} park_ctx;

/* Tasks in external waits. Exact here: every worker has parked forever, and
 * each released its own count before its parker said so. */
static uint64_t external_waits(weft_rt *rt)
{
    uint64_t n = weft__ld(&rt->external_waits, WEFT__ACQUIRE);
    for (unsigned i = 0; i < rt->nworkers; i++)
        n += weft__ld(&rt->workers[i].external_waits, WEFT__RELAXED);
    return n;
}

static bool all_asleep(void *arg)
{
    park_ctx *c = arg;
    c->deadlock = false;
    weft_rt *rt = c->rt;
    weft__thr *thr = c->thr;
    if (weft__ld(&thr->parked_forever, WEFT__ACQUIRE) != rt->nworkers || external_waits(rt) != 0 ||
        stopping(rt))
        return false;
    uint64_t before = weft__ld(&thr->wakes, WEFT__ACQUIRE);
    for (unsigned i = 0; i < rt->nworkers; i++) {
        weft__thr_worker *tw = &thr->tw[i];
        uint32_t ps = weft__ld(&tw->parker.state, WEFT__ACQUIRE);
        if (!weft__ld(&tw->forever, WEFT__ACQUIRE) || (ps != WEFT__PARK_PARKED && ps != WEFT__PARK_IN_REACTOR))
            return false;
    }
    c->deadlock = weft__ld(&thr->wakes, WEFT__ACQUIRE) == before;
    return c->deadlock;
}

static void forever_begin(weft__thr *thr, weft__thr_worker *tw)
{
    weft__st(&tw->forever, 1u, WEFT__RELEASE);
    weft__fetch_add(&thr->parked_forever, 1u, WEFT__ACQ_REL);
}

/* Whoever clears the flag (the worker itself, or its waker) uncounts it. */
static void forever_end(weft__thr *thr, weft__thr_worker *tw)
{
    if (weft__ld(&tw->forever, WEFT__RELAXED) && weft__xchg(&tw->forever, 0u, WEFT__ACQ_REL))
        weft__fetch_sub(&thr->parked_forever, 1u, WEFT__ACQ_REL);
}

/* Spins in a row that find nothing before a worker stops spinning; then it
 * tries again every WEFT__SPIN_RETRY parks. Work that comes through the
 * reactor is not seen by a spin. A worker whose reactor is shared does not
 * spin once descriptors are in use (nor do tokio's): the worker that sleeps
 * in the reactor wakes another when it has work to share, and a spin would
 * only take the CPU from the threads (a load generator, say) that make the
 * work (echo at 2 workers: 12% more messages without it). A worker with a
 * reactor of its own spins: its idle sibling steals what the busy one's
 * reactor woke sooner that way (io_uring echo's p99 doubled without). */
#define WEFT__SPIN_GIVE_UP 4u
#define WEFT__SPIN_RETRY 16u

/* Look for work a little before sleeping (WEFT__PARK_SPIN_NS): true when
 * some came or the run is ending. A lone worker only looks once: nothing
 * but its own reactor or another thread could make it work. */
static bool spin_for_work(weft__worker *w, weft__thr_worker *tw)
{
    weft_rt *rt = w->rt;
    bool serves_io = tw->reactor && tw->reactor->shared && weft__ld(&weft__thr_of(rt)->reactor_used, WEFT__RELAXED);
    unsigned rounds = rt->nworkers > 1 && !serves_io ? WEFT__PARK_SPINS : 1u;
    if (tw->spin_misses >= WEFT__SPIN_GIVE_UP && ++tw->unspun_parks % WEFT__SPIN_RETRY != 0)
        rounds = 1;
    uint64_t until = 0;
    for (unsigned i = 0; i < rounds; i++) {
        if (weft__sched_has_incoming(w) || stopping(rt)) {
            tw->spin_misses = 0;
            return true;
        }
        if (i % 16u == 15u) {
            uint64_t now = thr_now(rt);
            if (!until)
                until = now + WEFT__PARK_SPIN_NS;
            else if (now >= until)
                break;
        }
        weft__spin_hint();
    }
    if (rounds > 1)
        tw->spin_misses++;
    return false;
}

/* The watch interval of an idle worker while a peer of its engine is busy
 * (THREADING.md rule 11): a task left in a busy worker's LIFO slot (a wake
 * that woke nobody) is stolen after one to two intervals when its worker
 * runs no step meanwhile. 10 ms: Go's sysmon ends up polling at that
 * period, and a scheduler quantum of the kernel is of that order, so a
 * worker stuck in a long computation or a blocking call delays the slot's
 * task about as long as a preempted thread would wait. Ten times shorter
 * would cost each watcher a thousand wake-ups a second while any worker
 * runs; the watch costs nothing when every worker is idle (all sleep with
 * no deadline) nor while the watched worker keeps switching tasks (the
 * slot's content changes and is left alone). */
#ifdef WEFT_MODEL
/* Shrunk in the model build, as loom shrinks tokio's tunables: a few ticks
 * of the model's ticking clock (tests/model), so a watch takes few steps. */
#define WEFT__SLOT_WATCH_NS 3000ull
#else
#define WEFT__SLOT_WATCH_NS 10000000ull
#endif

/* w stops being idle and is about to run work: if the other workers of its
 * engine all sleep without watching (none is watching), wake one to watch,
 * or a task w leaves in its LIFO slot could wait as long as w's task runs,
 * or until that sleeper's own timer. A sleeper decides not to watch after
 * publishing `sleeping` and a fence, then reading the idle mask; w clears
 * its idle bit, fences, then reads `sleeping` and `watching`: one of the two
 * sees the other. A sleeper whose deadline is within one interval is not
 * flagged: it looks again by then anyway. */
static void watch_kick(weft__worker *w, weft__thr *thr)
{
    weft_rt *rt = w->rt;
    weft__engine *e = w->engine;
    weft__fence(WEFT__SEQ_CST); /* the idle bit cleared before, the peers' flags after */
    weft__worker *sleeper = NULL;
    for (unsigned i = 0; i < e->nworkers; i++) {
        weft__worker *v = &rt->workers[e->first + i];
        if (v == w)
            continue;
        weft__thr_worker *vw = &thr->tw[v->index];
        if (weft__ld(&vw->watching, WEFT__RELAXED))
            return; /* one watcher is enough */
        if (!sleeper && weft__ld(&vw->sleeping, WEFT__RELAXED))
            sleeper = v;
    }
    if (!sleeper)
        return;
    weft__st(&thr->tw[sleeper->index].kicked, 1u, WEFT__RELEASE);
    thr_wake(sleeper);
}

static void thr_park(weft__worker *w, uint64_t deadline)
{
    weft_rt *rt = w->rt;
    weft__thr *thr = weft__thr_of(rt);
    weft__thr_worker *tw = &thr->tw[w->index];
    if (spin_for_work(w, tw))
        return;
    if (!weft__sched_prepare_park(w))
        goto leave_idle;
    weft__stacks_flush(w); /* a sleeping worker keeps no stacks from the others */
    weft__stacks_trim(rt);
    bool forever = deadline == UINT64_MAX;
    if (deadline > rt->time_limit)
        deadline = rt->time_limit;
    bool watch = weft__sched_watches(w);
    park_ctx ctx = {rt, thr, false};
    for (;;) {
        /* Sleep past one interval only while every peer is idle too;
         * else watch their LIFO slots an interval at a time (rule 11).
         * `sleeping` published before the look at the idle mask: see
         * watch_kick. */
        bool watching = false;
        uint64_t until = deadline;
        if (forever)
            forever_begin(thr, tw);
        if (watch) {
            weft__st(&tw->watching, 0u, WEFT__RELAXED);
            weft__st(&tw->sleeping, 1u, WEFT__RELAXED);
            weft__fence(WEFT__SEQ_CST);
            uint64_t now = thr_now(rt);
            bool far = now + WEFT__SLOT_WATCH_NS < deadline;
            if (far && weft__sched_peer_busy(w)) {
                watching = true;
                until = now + WEFT__SLOT_WATCH_NS;
                weft__st(&tw->watching, 1u, WEFT__RELAXED);
                if (forever)
                    forever_end(thr, tw);
            }
            if (!far || watching)
                weft__st(&tw->sleeping, 0u, WEFT__RELAXED);
        }
        if (forever && !watching) {
            weft__parker_park(&tw->parker, &rt->os, deadline, all_asleep, &ctx);
            forever_end(thr, tw);
        } else if (!stopping(rt) && thr_now(rt) < until) {
            weft__parker_park(&tw->parker, &rt->os, until, NULL, NULL);
        }
        if (watch)
            weft__st(&tw->sleeping, 0u, WEFT__RELAXED);
        bool kicked = weft__ld(&tw->kicked, WEFT__RELAXED) && weft__xchg(&tw->kicked, 0u, WEFT__ACQ_REL);
        /* Back to the loop for anything but a watch's own wake-up: the
         * deadlock, the stop, new work (whoever offers it takes the idle
         * bit or leaves it in w's queues) and the deadline. */
        if (!watch || ctx.deadlock || stopping(rt) || !weft__sched_is_idle(w) || weft__sched_has_incoming(w))
            break;
        uint64_t now = thr_now(rt);
        if (now >= deadline)
            break;
        if (watching && now >= until) {
            if (weft__sched_watch_slots(w, tw->looks))
                break; /* a task waited a whole interval: it runs here */
            continue;
        }
        if (!kicked)
            break;
    }
    if (watch)
        weft__st(&tw->watching, 0u, WEFT__RELAXED);
    weft__sched_unidle(w);
    if (ctx.deadlock) {
        /* At shutdown the status alone says it; there every task left is
         * named anyway. */
        if (rt->stop_when != WEFT__STOP_ALL_DONE)
            weft__report_deadlock(rt);
        stop_run(rt, WEFT_EDEADLK);
        return;
    }
    if (deadline == rt->time_limit && thr_now(rt) >= deadline)
        stop_run(rt, WEFT_ETIMEDOUT); /* shutdown's time is up */
    if (watch && !stopping(rt))
        watch_kick(w, thr);
    return;
leave_idle:
    /* It was in the idle mask for a moment: a peer deciding then may have
     * gone to sleep forever. */
    if (weft__sched_watches(w) && !stopping(rt))
        watch_kick(w, thr);
}

/* New work goes first to a worker asleep on its futex: the one asleep in a
 * shared reactor keeps waiting there for the engine's IO (woken, it would
 * let go of the reactor to run the task, and nobody would wait in it while
 * the other slept on). tokio's sleeper list does the same by its order. A
 * shared reactor has one sleeper at most (its holder); the others' states
 * are not read past it. */
static uint64_t thr_idle_prefer(const weft__engine *e, uint64_t idle)
{
    weft__thr *thr = weft__thr_of(e->rt);
    const weft__reactor *r = thr->tw[e->first].reactor;
    if (!r || !r->shared)
        return idle; /* each sleeps in its own reactor or on its futex */
    for (uint64_t m = idle; m; m &= m - 1) {
        unsigned k = (unsigned)__builtin_ctzll(m);
        if (weft__ld(&thr->tw[e->first + k].parker.state, WEFT__RELAXED) == WEFT__PARK_IN_REACTOR) {
            uint64_t others = idle & ~(1ull << k);
            return others ? others : idle;
        }
    }
    return idle;
}

static void thr_wake(weft__worker *w)
{
    weft__thr *thr = weft__thr_of(w->rt);
    /* Only another thread needs the kernel to wake this one. */
    if (weft__tls_worker == w)
        return;
    weft__thr_worker *tw = &thr->tw[w->index];
    forever_end(thr, tw);
    if (weft__parker_unpark(&tw->parker, &w->rt->os))
        weft__fetch_add(&thr->wakes, 1u, WEFT__ACQ_REL);
}

/* ---- IO --------------------------------------------------------------------- */

static weft__reactor *reactor_of(const weft__worker *w)
{
    return w ? weft__thr_of(w->rt)->tw[w->index].reactor : NULL;
}

weft__reactor *weft__thr_reactor(const weft__worker *w)
{
    return reactor_of(w);
}

/* A blocking call of op on the pool (files and name lookups where the
 * reactor has no native form). */
static void *pool_job(void *arg)
{
    weft__io *op = arg;
    weft_rt *rt = op->w->rt;
    int r = op->kind == WEFT__IO_RESOLVE ? weft__sys_resolve(op) : weft__sys_file(rt, op);
    op->bk[2] = (uint64_t)(int64_t)r;
    op->bk[3] = 1;
    return NULL;
}

static int on_pool(weft__io *op)
{
    weft_task *h;
    op->bk[3] = 0;
    int r = weft_spawn_blocking(&h, pool_job, op);
    if (r < 0)
        return r;
    /* The pool thread writes into op and the caller's buffer: the call
     * waits for it, cancelled or not (a disk call ends soon). */
    int was = weft_cancel_shield(1);
    r = weft_join(h, NULL);
    weft_cancel_shield(was);
    if (!op->bk[3])
        return r < 0 ? r : WEFT_ECANCELED;
    return (int)(int64_t)op->bk[2];
}

static bool is_file(int kind)
{
    return kind == WEFT__IO_FILE_OPEN || kind == WEFT__IO_FILE_READ || kind == WEFT__IO_FILE_WRITE ||
           kind == WEFT__IO_FSYNC || kind == WEFT__IO_FILE_UNLINK;
}

static int thr_io_submit(weft__worker *w, weft__io *op)
{
    weft__reactor *r = reactor_of(w);
    weft_rt *rt = w->rt;
    if (r && r->ops->native) {
        int n = r->ops->native(r, op);
        if (n != WEFT__IO_NOT_NATIVE)
            return n;
    }
    if (is_file(op->kind) || (op->kind == WEFT__IO_RESOLVE && weft__addr_parse(op->path, &op->addr, true) < 0))
        return on_pool(op);
    weft__thr *thr = weft__thr_of(rt);
    if (!weft__ld(&thr->reactor_used, WEFT__RELAXED))
        weft__st(&thr->reactor_used, 1u, WEFT__RELAXED);
    return weft__sys_submit(r, rt, op);
}

static bool thr_io_cancel(weft__io *op)
{
    weft__reactor *r = reactor_of(op->w);
    return r->ops->cancel(op);
}

static void thr_io_poll(weft__worker *w)
{
    weft__reactor *r = reactor_of(w);
    if (r)
        r->ops->poll(r);
}

static const char *thr_io_name(const weft_rt *rt)
{
    return weft__thr_of(rt)->reactor->name;
}

static bool thr_on_stop(weft__worker *w)
{
    (void)w;
    return true;
}

static uint32_t thr_choose(weft__worker *w, int why, uint32_t n)
{
    /* A select's start already rotates per task (round-robin): the first
     * ready case from there is the fair one. */
    if (why == WEFT__CHOOSE_SELECT)
        return 0;
    return (uint32_t)weft__bounded(w->rng, n);
}

static uint64_t thr_rand(weft__worker *w)
{
    return weft__xoshiro_next(w->rng);
}

static WEFT_NORETURN void thr_fail(weft__worker *w, int status, const char *msg)
{
    (void)w;
    (void)status;
    weft__die(msg);
}

const weft__backend weft__backend_threads = {
    .caps = 0,
    .create = thr_create,
    .destroy = thr_destroy,
    .run = thr_run,
    .end_run = NULL,
    .now = thr_now,
    .park = thr_park,
    .wake = thr_wake,
    .on_stop = thr_on_stop,
    .sched_point = NULL,
    .timers_fired = NULL,
    .choose = thr_choose,
    .idle_prefer = thr_idle_prefer,
    .rand = thr_rand,
    .io_submit = thr_io_submit,
    .io_cancel = thr_io_cancel,
    .io_poll = thr_io_poll,
    .io_name = thr_io_name,
    .node_time = NULL,
    .blocking_submit = weft__threads_blocking_submit,
    .buggify = NULL,
    .fail = thr_fail,
    .crash_report = NULL,
};
