/* hooks.c — the chain of lifecycle hooks. Metrics, tracing and the
 * simulator's trace are built on this; an event nobody listens to costs the
 * one mask test in weft__hook(). */
#include "internal.h"

static const char *const event_names[WEFT_HOOK_EVENT_COUNT] = {
    "spawn", "start", "resume", "yield", "park", "wake", "finish", "cancel", "idle", "steal", "error"};

const char *weft_hook_event_name(weft_hook_event ev)
{
    return (unsigned)ev < WEFT_HOOK_EVENT_COUNT ? event_names[ev] : "unknown";
}

static void recompute_mask(weft_rt *rt)
{
    uint32_t m = 0;
    for (size_t i = 0; i < rt->hooks.n; i++)
        m |= rt->hooks.v[i].mask;
    rt->hook_mask = m;
}

int weft_hook_add(weft_rt *rt, uint32_t mask, weft_hook_fn fn, void *ctx, int *id)
{
    if (!rt || !fn || !mask || (mask & ~(uint32_t)WEFT_HOOK_ALL))
        return WEFT_MISUSE_RT(rt, WEFT_EINVAL, "weft_hook_add: need a runtime, a function and a non-empty event mask");
    weft__hooks *h = &rt->hooks;
    if (weft__grow(rt, true, (void **)&h->v, &h->cap, h->n, sizeof *h->v, 4) < 0)
        return WEFT_ENOMEM;
    weft__hook_entry *k = &h->v[h->n++];
    k->fn = fn;
    k->ctx = ctx;
    k->mask = mask;
    k->id = ++h->next_id;
    if (id)
        *id = k->id;
    recompute_mask(rt);
    return 0;
}

static void compact(weft_rt *rt)
{
    weft__hooks *h = &rt->hooks;
    size_t j = 0;
    for (size_t i = 0; i < h->n; i++)
        if (h->v[i].fn)
            h->v[j++] = h->v[i];
    h->n = j;
    h->dirty = false;
    recompute_mask(rt);
}

int weft_hook_remove(weft_rt *rt, int id)
{
    if (!rt)
        return WEFT_MISUSE_RT(rt, WEFT_EINVAL, "weft_hook_remove: NULL runtime");
    weft__hooks *h = &rt->hooks;
    for (size_t i = 0; i < h->n; i++) {
        if (h->v[i].id == id && h->v[i].fn) {
            /* During a dispatch the array is being walked: mark now, compact
             * when the outermost dispatch ends. */
            h->v[i].fn = NULL;
            h->v[i].mask = 0;
            if (h->dispatching)
                h->dirty = true;
            else
                compact(rt);
            return 0;
        }
    }
    return WEFT_MISUSE_RT(rt, WEFT_EINVAL, "weft_hook_remove: no hook with id %d", id);
}

void weft__hook_dispatch(weft_rt *rt, weft_hook_event ev, weft__worker *w, const weft__task *t, int status,
                         const char *reason)
{
    weft_hook_info info = {
        .event = ev,
        .task_id = t ? t->node.task_id : 0,
        .task_name = t ? t->name : NULL,
        .worker = w ? (int)w->index : -1,
        .now = rt->backend->now(rt),
        .status = status,
        .reason = reason,
    };
    weft__hooks *h = &rt->hooks;
    /* A hook runs on whatever stack raised the event, often not the stack of
     * the task the event is about: it must not block or be switched away, so
     * for its duration there is no current task (blocking calls refuse with
     * WEFT_EPERM) and no scheduling point (weft__sched_point checks this). */
    weft__task *cur = w ? w->current : NULL;
    if (w)
        w->current = NULL;
    h->dispatching++;
    /* Hooks added during the dispatch wait for the next event: n is read once. */
    size_t n = h->n;
    for (size_t i = 0; i < n; i++) {
        weft__hook_entry *k = &h->v[i];
        if (k->fn && (k->mask & (1u << ev)))
            k->fn(k->ctx, &info);
        h = &rt->hooks; /* a hook may have grown the array */
    }
    if (--h->dispatching == 0 && h->dirty)
        compact(rt);
    if (w)
        w->current = cur;
}

void weft__hooks_free(weft_rt *rt)
{
    weft__free(rt, rt->hooks.v, rt->hooks.cap * sizeof *rt->hooks.v);
    memset(&rt->hooks, 0, sizeof rt->hooks);
    rt->hook_mask = 0;
}
