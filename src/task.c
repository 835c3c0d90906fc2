/* task.c — task control blocks and their handles: spawn, join, detach,
 * cancel.
 *
 * Tasks live in a chunked table and are recycled through a free list, so a
 * spawn in steady state allocates nothing. A handle is (generation, slot):
 * a second join, or a join after detach, finds a different generation and
 * gets WEFT_ESRCH instead of touching a recycled task.
 */
#include "internal.h"

#define NO_SLOT UINT32_MAX

weft__task *weft__task_at(weft_rt *rt, uint32_t slot)
{
    return &rt->chunks[slot / WEFT__TASK_CHUNK][slot % WEFT__TASK_CHUNK];
}

weft_task *weft__task_handle(const weft__task *t)
{
    return (weft_task *)(uintptr_t)(((uint64_t)t->gen << 32) | t->slot);
}

weft__task *weft__task_from_handle(weft_rt *rt, weft_task *h)
{
    uint64_t v = (uint64_t)(uintptr_t)h;
    uint32_t slot = (uint32_t)v, gen = (uint32_t)(v >> 32);
    if (!h || slot >= rt->fresh_slot)
        return NULL;
    weft__task *t = weft__task_at(rt, slot);
    return t->gen == gen && t->state != WEFT__T_FREE ? t : NULL;
}

static int grow_chunks(weft_rt *rt)
{
    if (rt->nchunks == rt->chunk_cap) {
        uint32_t cap = rt->chunk_cap ? rt->chunk_cap * 2 : 8;
        weft__task **v = weft__alloc(rt, cap * sizeof *v);
        if (!v)
            return WEFT_ENOMEM;
        if (rt->nchunks)
            memcpy(v, rt->chunks, rt->nchunks * sizeof *v);
        weft__free(rt, rt->chunks, rt->chunk_cap * sizeof *v);
        rt->chunks = v;
        rt->chunk_cap = cap;
    }
    /* Not zeroed: a slot is initialized when first handed out, so an idle
     * runtime touches one task's worth of the chunk, not all of it. */
    weft__task *c = weft__alloc(rt, WEFT__TASK_CHUNK * sizeof *c);
    if (!c)
        return WEFT_ENOMEM;
    rt->chunks[rt->nchunks++] = c;
    return 0;
}

static weft__task *slot_take(weft_rt *rt)
{
    uint32_t slot, gen;
    if (rt->free_slot != NO_SLOT) {
        slot = rt->free_slot;
        weft__task *t = weft__task_at(rt, slot);
        rt->free_slot = (uint32_t)t->node.qword;
        gen = t->gen;
    } else {
        if (rt->fresh_slot == NO_SLOT)
            return NULL;
        if (rt->fresh_slot == rt->nchunks * WEFT__TASK_CHUNK && grow_chunks(rt) < 0)
            return NULL;
        slot = rt->fresh_slot++;
        gen = 1;
    }
    weft__task *t = weft__task_at(rt, slot);
    memset(t, 0, sizeof *t);
    t->slot = slot;
    t->gen = gen;
    return t;
}

int weft__task_new(weft_rt *rt, weft_fn fn, void *arg, const weft_spawn_opts *o, weft__task **out)
{
    weft__task *t = slot_take(rt);
    if (!t)
        return WEFT_ENOMEM;
    t->fn = fn;
    t->arg = arg;
    t->state = WEFT__T_NEW;
    t->node.task_id = ++rt->next_task_id;
    if (o) {
        t->name = o->name;
        t->node.priority = o->priority;
        t->stack_size = (uint32_t)o->stack_size;
        if (o->flags & WEFT_SPAWN_NOSTACK)
            t->flags |= WEFT__F_NOSTACK;
        if (o->flags & WEFT_SPAWN_PINNED) {
            t->flags |= WEFT__F_PINNED;
            t->pin = o->worker;
        }
    }
    rt->unreleased++;
    *out = t;
    return 0;
}

void weft__task_release(weft_rt *rt, weft__task *t)
{
    t->state = WEFT__T_FREE;
    if (++t->gen == 0)
        t->gen = 1;
    t->node.qword = rt->free_slot;
    rt->free_slot = t->slot;
    rt->unreleased--;
}

void weft__tasks_free(weft_rt *rt)
{
    for (uint32_t i = 0; i < rt->nchunks; i++)
        weft__free(rt, rt->chunks[i], WEFT__TASK_CHUNK * sizeof(weft__task));
    weft__free(rt, rt->chunks, rt->chunk_cap * sizeof *rt->chunks);
    rt->chunks = NULL;
    rt->nchunks = rt->chunk_cap = 0;
}

/* ------------------------------------------------------------------------ */

static int check_opts(weft_rt *rt, const weft_spawn_opts *o)
{
    if (!o)
        return 0;
    if (o->flags & ~(unsigned)(WEFT_SPAWN_NOSTACK | WEFT_SPAWN_PINNED))
        return WEFT_MISUSE(WEFT_EINVAL, "weft_spawn_ex: unknown flags 0x%x", o->flags);
    if (o->stack_size && (o->stack_size < WEFT_STACK_MIN || o->stack_size > WEFT_STACK_MAX))
        return WEFT_MISUSE(WEFT_EINVAL, "weft_spawn_ex: stack_size %zu outside [%u, %u]", o->stack_size,
                           WEFT_STACK_MIN, WEFT_STACK_MAX);
    if (o->priority < 0 || o->priority > WEFT_PRIO_MAX)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_spawn_ex: priority %d outside [0, %d]", o->priority, WEFT_PRIO_MAX);
    if ((o->flags & WEFT_SPAWN_PINNED) && o->worker >= rt->nworkers)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_spawn_ex: pinned to worker %u but the runtime has %u", o->worker,
                           rt->nworkers);
    return 0;
}

int weft_spawn_ex(weft_task **out, weft_fn fn, void *arg, const weft_spawn_opts *o)
{
    if (out)
        *out = NULL;
    weft__worker *w = weft__tls_worker;
    if (!w)
        return WEFT_MISUSE(WEFT_EPERM, "weft_spawn: not inside a runtime (weft_rt_block_on runs the first task)");
    if (!fn)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_spawn: NULL function");
    weft_rt *rt = w->rt;
    int r = check_opts(rt, o);
    if (r < 0)
        return r;
    if (rt->shut_down)
        return WEFT_ESHUTDOWN;
    weft__sched_point(w);
    weft__task *t;
    r = weft__task_new(rt, fn, arg, o, &t);
    if (r < 0)
        return r;
    if (!out)
        t->flags |= WEFT__F_DETACHED;
    rt->live++;
    rt->stats.spawned++;
    weft__hook(rt, WEFT_HOOK_SPAWN, weft__tls_worker, t, 0, NULL);
    weft__make_runnable(rt, t);
    if (out)
        *out = weft__task_handle(t);
    return 0;
}

int weft_spawn(weft_task **t, weft_fn fn, void *arg)
{
    return weft_spawn_ex(t, fn, arg, NULL);
}

static weft__task *resolve(weft_task *h, const char *what, int *err)
{
    weft__worker *w = weft__tls_worker;
    if (!w) {
        *err = WEFT_MISUSE(WEFT_EPERM, "%s: not inside a runtime", what);
        return NULL;
    }
    weft__task *t = weft__task_from_handle(w->rt, h);
    if (!t || (t->flags & WEFT__F_DETACHED) || (t->flags & WEFT__F_ROOT)) {
        *err = WEFT_MISUSE(WEFT_ESRCH, "%s: stale handle (already joined or detached, or never valid)", what);
        return NULL;
    }
    return t;
}

static bool unlink_joiner(weft__task *self)
{
    weft__task *target = self->wait_obj;
    if (target->joiner != self)
        return false;
    target->joiner = NULL;
    return true;
}

int weft_join(weft_task *h, void **result)
{
    int r;
    weft__task *t = resolve(h, "weft_join", &r);
    if (!t)
        return r;
    weft__task *self = weft__current();
    if (t == self)
        return WEFT_MISUSE(WEFT_EDEADLK, "weft_join: a task cannot join itself");
    if (t->joiner)
        return WEFT_MISUSE(WEFT_EBUSY, "weft_join: task %llu is already being joined",
                           (unsigned long long)t->node.task_id);
    /* A finished task is reaped even by a cancelled caller: cleanup code
     * must be able to collect its children's results. */
    if (t->state != WEFT__T_FINISHED) {
        r = weft__blocking_entry(&self, "weft_join");
        if (r < 0)
            return r;
        t->joiner = self;
        r = weft__block(self, WEFT__W_JOIN, t, unlink_joiner, WEFT_NO_DEADLINE);
        if (r < 0)
            return r;
    }
    weft_rt *rt = weft__tls_worker->rt;
    if (result)
        *result = t->result;
    int status = t->finish_status;
    weft__task_release(rt, t);
    return status;
}

int weft_detach(weft_task *h)
{
    int r;
    weft__task *t = resolve(h, "weft_detach", &r);
    if (!t)
        return r;
    if (t->joiner)
        return WEFT_MISUSE(WEFT_EBUSY, "weft_detach: task %llu is being joined", (unsigned long long)t->node.task_id);
    if (t->state == WEFT__T_FINISHED)
        weft__task_release(weft__tls_worker->rt, t);
    else
        t->flags |= WEFT__F_DETACHED;
    return 0;
}

int weft__cancel_task(weft_rt *rt, weft__task *t, int hook_status)
{
    if (t->state == WEFT__T_FINISHED || t->state == WEFT__T_ABANDONED || t->state == WEFT__T_FREE)
        return 0;
    if (t->flags & WEFT__F_CANCEL)
        return 0;
    t->flags |= WEFT__F_CANCEL | WEFT__F_CANCELLED_LIVE;
    rt->stats.cancelled++;
    weft__hook(rt, WEFT_HOOK_CANCEL, weft__tls_worker, t, hook_status, NULL);
    /* An owner waiting for its scope cannot leave early (no task outlives
     * its scope): the cancellation goes on to the scope's children. */
    if (t->state == WEFT__T_PARKED && t->wait_kind == WEFT__W_SCOPE) {
        weft__waiter *wt = t->wait_obj;
        weft__scope_cancel_children(WEFT_CONTAINER_OF(wt->list, weft_scope, waiters));
        return 0;
    }
    if (t->state == WEFT__T_PARKED && weft__cancel_pending(t) && (!t->unlink || t->unlink(t)))
        weft__wake(t, WEFT_ECANCELED);
    return 0;
}

int weft_cancel(weft_task *h)
{
    int r;
    weft__task *t = resolve(h, "weft_cancel", &r);
    if (!t)
        return r;
    weft__sched_point(weft__tls_worker);
    return weft__cancel_task(weft__tls_worker->rt, t, WEFT_ECANCELED);
}

uint64_t weft_task_id(void)
{
    weft__task *t = weft__current();
    return t ? t->node.task_id : 0;
}

const char *weft_task_name(void)
{
    weft__task *t = weft__current();
    return t ? t->name : NULL;
}

int weft_worker_index(void)
{
    weft__worker *w = weft__tls_worker;
    return w ? (int)w->index : -1;
}
