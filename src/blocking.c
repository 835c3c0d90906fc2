/* blocking.c — weft_spawn_blocking: a call that blocks its OS thread runs
 * on the backend's pool of threads (the simulator runs it as a task), as a
 * task record, so it joins, detaches and cancels like a task. The thread
 * that ran it hands the record back to the runtime, whose worker finishes
 * it: counters, hooks and the joiner's wake stay on the runtime's threads. */
#include "core.h"

int weft_spawn_blocking(weft_task **out, weft_fn fn, void *arg)
{
    if (out)
        *out = NULL;
    weft__worker *w;
    int r = weft__require_task(&w, "weft_spawn_blocking");
    if (r < 0)
        return r;
    if (!fn)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_spawn_blocking: NULL function");
    weft_rt *rt = w->rt;
    if (!rt->backend->blocking_submit)
        return WEFT_MISUSE(WEFT_ENOTSUP, "weft_spawn_blocking: this backend has no blocking pool");
    weft_spawn_opts o = {.name = "blocking call"};
    weft__task *t;
    if ((r = weft__spawn_prepare(rt, w, &t, fn, arg, &o, out == NULL)) < 0)
        return r;
    weft_task *h = weft__task_handle(t);
    rt->backend->blocking_submit(w, t);
    if (out)
        *out = h;
    return 0;
}

void weft__blocking_run(weft__task *t)
{
    weft_rt *rt = weft__task_rt(t);
    /* Cancelled before it started: it never runs (its join says so). Its
     * state stays the runtime's to change (THREADING.md rule 1: this thread
     * is foreign to a serial runtime). */
    if (!(weft__ld(&t->cancel, WEFT__ACQUIRE) & WEFT__CANCEL_REQUESTED))
        weft__task_call(t);
    weft__blocking_done(rt, t);
}

void weft__blocking_done(weft_rt *rt, weft__task *t)
{
    /* Back to the runtime: the worker that takes it in (adopt) finishes it.
     * On a worker's own thread (a submit that failed before any pool thread
     * had it) the local queues would run it as a task: it goes through the
     * worker's remote queue instead, which is drained through adopt too. */
    t->flags |= WEFT__F_BLOCKING_DONE;
    weft__worker *w = weft__tls_worker;
    if (w && w->rt == rt)
        weft__sched_remote(w, t);
    else
        weft__schedule(rt, t, false);
}
