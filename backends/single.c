/* single.c — the real single-thread backend: one worker on the calling
 * thread, the monotonic clock, and parking in the kernel (a futex wait with an
 * absolute deadline), so an idle runtime burns no CPU. */
#include "../src/internal.h"

static int single_init(weft_rt *rt)
{
    uint64_t seed;
    if (rt->os.getrandom(rt->os.ctx, &seed, sizeof seed) < 0)
        seed = rt->os.monotonic_ns(rt->os.ctx);
    weft__xoshiro_seed(rt->rand_state, seed);
    return 0;
}

static uint64_t single_now(weft_rt *rt)
{
    return rt->os.monotonic_ns(rt->os.ctx);
}

static int single_run(weft_rt *rt)
{
    weft__worker *w = &rt->workers[0];
    weft__ctx_init_host(&w->loop_ctx);
    weft__tls_worker = w;
    weft__worker_loop(w);
    weft__tls_worker = NULL;
    return rt->status;
}

static void single_park(weft__worker *w, uint64_t deadline)
{
    weft_rt *rt = w->rt;
    if (deadline == UINT64_MAX) {
        /* One worker, no reactor, no other thread: nothing can wake a task
         * any more. Waiting would hang the program; say why instead (at
         * shutdown, which names every task left, by the status alone). */
        if (rt->stop_when != WEFT__STOP_ALL_DONE)
            weft__report_deadlock(rt);
        rt->status = WEFT_EDEADLK;
        rt->stop = 1;
        return;
    }
    weft__stacks_trim(rt);
    if (deadline > rt->time_limit)
        deadline = rt->time_limit;
    uint32_t seen = atomic_load_explicit(&w->futex, memory_order_acquire);
    if (!w->rq_ops->len(w->rq) && single_now(rt) < deadline)
        rt->os.futex_wait(rt->os.ctx, (uint32_t *)&w->futex, seen, deadline);
    if (deadline == rt->time_limit && single_now(rt) >= deadline) {
        rt->status = WEFT_ETIMEDOUT; /* shutdown's time is up */
        rt->stop = 1;
    }
}

static void single_wake(weft__worker *w)
{
    /* Only another OS thread needs the kernel to wake this one. */
    if (weft__tls_worker == w)
        return;
    atomic_fetch_add_explicit(&w->futex, 1, memory_order_release);
    w->rt->os.futex_wake(w->rt->os.ctx, (uint32_t *)&w->futex, 1);
}

static bool single_on_stop(weft__worker *w)
{
    (void)w;
    return true;
}

static uint64_t single_rand(weft_rt *rt)
{
    return weft__xoshiro_next(rt->rand_state);
}

static void single_fail(weft_rt *rt, int status, const char *msg)
{
    (void)rt;
    (void)status;
    weft__die(msg);
}

const weft__backend weft__backend_single = {
    .name = "single",
    .init = single_init,
    .now = single_now,
    .run = single_run,
    .park = single_park,
    .wake = single_wake,
    .on_stop = single_on_stop,
    .sched_point = NULL,
    .place = NULL,
    .steal = NULL,
    .rand = single_rand,
    .fail = single_fail,
};
