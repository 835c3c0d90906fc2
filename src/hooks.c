/* hooks.c — the chain of lifecycle hooks. Metrics, tracing and the
 * simulator's trace are built on this; an event nobody listens to costs the
 * one mask test in weft__hook(). The hooks are an immutable set that a change
 * replaces (THREADING.md rule 8), so workers dispatch without a lock. */
#include "core.h"

static const char *const event_names[WEFT_HOOK_EVENT_COUNT] = {
    "spawn", "start", "resume", "yield", "park", "wake", "finish", "cancel", "idle", "steal", "error"};

const char *weft_hook_event_name(weft_hook_event ev)
{
    return (unsigned)ev < WEFT_HOOK_EVENT_COUNT ? event_names[ev] : "unknown";
}

static size_t set_size(size_t n)
{
    return sizeof(weft__hook_set) + n * sizeof(weft__hook_entry);
}

/* Publish a copy of the current set, less the hook `drop` (0: none) and
 * plus `add` (NULL: none). hooks_lock is held. */
static int publish(weft_rt *rt, int drop, const weft__hook_entry *add)
{
    weft__hook_set *old = weft__ld(&rt->hooks, WEFT__ACQUIRE);
    size_t n = old ? old->n : 0;
    weft__hook_set *set = weft__alloc(rt, set_size(n + 1));
    if (!set)
        return WEFT_ENOMEM;
    set->n = 0;
    set->cap = n + 1;
    uint32_t mask = 0;
    for (size_t i = 0; i < n; i++) {
        if (old->v[i].id == drop)
            continue;
        set->v[set->n++] = old->v[i];
        mask |= old->v[i].mask;
    }
    if (add) {
        set->v[set->n++] = *add;
        mask |= add->mask;
    }
    /* A worker may be walking the old set: it stays until the runtime goes. */
    set->retired = old;
    /* The simulator's trace alone (mask: every event) is folded in place. */
    weft__trace_hash *fast = set->n == 1 && set->v[0].trace ? set->v[0].trace : NULL;
    weft__st(&rt->hooks, (void *)set, WEFT__RELEASE);
    weft__st(&rt->trace_fast, (void *)fast, WEFT__RELEASE);
    weft__st(&rt->hook_mask, mask, WEFT__RELEASE);
    return 0;
}

static int add(weft_rt *rt, weft__hook_entry *e, int *id)
{
    weft__spin_lock(&rt->hooks_lock);
    e->id = rt->next_hook_id + 1;
    int r = publish(rt, 0, e);
    if (r == 0) {
        rt->next_hook_id++;
        if (id)
            *id = e->id;
    }
    weft__spin_unlock(&rt->hooks_lock);
    return r;
}

int weft_hook_add(weft_rt *rt, uint32_t mask, weft_hook_fn fn, void *ctx, int *id)
{
    if (!rt || !fn || !mask || (mask & ~(uint32_t)WEFT_HOOK_ALL))
        return WEFT_MISUSE_RT(rt, WEFT_EINVAL, "weft_hook_add: need a runtime, a function and a non-empty event mask");
    weft__hook_entry e = {.fn = fn, .ctx = ctx, .mask = mask};
    return add(rt, &e, id);
}

int weft__hook_add_raw(weft_rt *rt, uint32_t mask, weft__raw_hook_fn fn, void *ctx, weft__trace_hash *trace,
                       int *id)
{
    if (trace && mask != WEFT_HOOK_ALL)
        return WEFT_EINVAL; /* folded in place, it hears every event */
    weft__hook_entry e = {.raw = fn, .trace = trace, .ctx = ctx, .mask = mask};
    return add(rt, &e, id);
}

int weft_hook_remove(weft_rt *rt, int id)
{
    if (!rt)
        return WEFT_MISUSE_RT(rt, WEFT_EINVAL, "weft_hook_remove: NULL runtime");
    weft__spin_lock(&rt->hooks_lock);
    weft__hook_set *set = weft__ld(&rt->hooks, WEFT__ACQUIRE);
    bool found = false;
    for (size_t i = 0; set && i < set->n && !found; i++)
        found = set->v[i].id == id;
    int r = found ? publish(rt, id, NULL) : WEFT_EINVAL;
    weft__spin_unlock(&rt->hooks_lock);
    if (!found)
        return WEFT_MISUSE_RT(rt, WEFT_EINVAL, "weft_hook_remove: no hook with id %d", id);
    return r;
}

/* Every listener of set, with the weft_hook_info the public ones read (raw
 * ones get the event as raised). */
static WEFT_NOINLINE void dispatch_all(weft_rt *rt, const weft__hook_set *set, weft_hook_event ev, weft__worker *w,
                                       const weft__task *t, int status, const char *reason)
{
    weft_hook_info info = {
        .event = ev,
        .task_id = t ? t->node.task_id : 0,
        .task_name = t ? weft__task_name(t) : NULL,
        .worker = w ? (int)w->index : -1,
        .now = rt->backend->now(rt),
        .status = status,
        .reason = reason,
    };
    /* A hook runs on whatever stack raised the event, often not the stack of
     * the task the event is about: it must not block or be switched away, so
     * for its duration there is no current task (blocking calls refuse with
     * WEFT_EPERM) and no scheduling point (weft__sched_point checks this). */
    weft__task *cur = w ? w->current : NULL;
    bool nested = w && w->in_hook;
    if (w) {
        w->current = NULL;
        w->in_hook = true;
    }
    for (size_t i = 0; i < set->n; i++) {
        const weft__hook_entry *e = &set->v[i];
        if (!(e->mask & (1u << ev)))
            continue;
        if (e->raw)
            e->raw(e->ctx, ev, w, t, status, reason);
        else
            e->fn(e->ctx, &info);
    }
    if (w) {
        w->in_hook = nested;
        w->current = cur;
    }
}

void weft__hook_dispatch(weft_rt *rt, weft_hook_event ev, weft__worker *w, const weft__task *t, int status,
                         const char *reason)
{
    /* A snapshot: hooks added or removed meanwhile take effect next event. */
    const weft__hook_set *set = weft__ld(&rt->hooks, WEFT__ACQUIRE);
    if (!set)
        return;
    /* The simulator's trace alone (a raw listener, added when the runtime is
     * made, and the only one until a user adds a hook): one call. Not
     * recording, it is not called at all: weft__hook folds the event. */
    const weft__hook_entry *first = &set->v[0];
    if (WEFT_LIKELY(set->n == 1 && first->raw)) {
        if (first->mask & (1u << ev))
            first->raw(first->ctx, ev, w, t, status, reason);
        return;
    }
    dispatch_all(rt, set, ev, w, t, status, reason);
}

void weft__hooks_free(weft_rt *rt)
{
    weft__hook_set *set = rt->hooks.v;
    while (set) {
        weft__hook_set *older = set->retired;
        weft__free(rt, set, set_size(set->cap));
        set = older;
    }
    rt->hooks.v = NULL;
    rt->trace_fast.v = NULL;
    rt->hook_mask.v = 0;
}
