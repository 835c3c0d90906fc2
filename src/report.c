/* report.c — what every blocked task waits on (deadlock reports), and how a
 * task fails a run: WEFT_ASSERT, weft_fail and WEFT_BUGGIFY, all through the
 * backend (the simulator ends the run; a real backend aborts). */
#include "core.h"

#include <stdio.h>
#include <stdlib.h>

/* For a mutex wait, name the holder: most deadlocks are lock cycles. */
static void describe_wait(const weft__task *t, char *buf, size_t len)
{
    const weft__wait *wa = t->wait; /* parked: its frame holds the wait */
    int kind = wa ? wa->kind : WEFT__W_NONE;
    const void *obj = wa ? wa->obj : NULL;
    const char *what = weft__wait_name(kind);
    if (kind == WEFT__W_MUTEX && obj) {
        const weft__waiter *wt = obj;
        const weft_mutex *m = WEFT_CONTAINER_OF(wt->list, weft_mutex, waiters);
        weft__task *owner = (weft__task *)(m->state & ~(uintptr_t)1);
        unsigned os = owner ? weft__task_get_state(owner) : WEFT__T_FREE;
        if (owner && owner->node.task_id == m->owner_id && os != WEFT__T_FINISHED && os != WEFT__T_FREE) {
            snprintf(buf, len, "a mutex held by task %llu (%s)", (unsigned long long)owner->node.task_id,
                     weft__task_label(owner));
            return;
        }
        if (owner) {
            snprintf(buf, len, "a mutex still held by task %llu, which has ended", (unsigned long long)m->owner_id);
            return;
        }
    }
    if (kind == WEFT__W_JOIN && obj) {
        const weft__task *target = obj;
        snprintf(buf, len, "joining task %llu (%s)", (unsigned long long)target->node.task_id,
                 weft__task_label(target));
        return;
    }
    snprintf(buf, len, "a %s", what);
}

size_t weft__blocked_tasks(weft_rt *rt, char *out, size_t len)
{
    size_t n = 0, used = 0;
    if (len)
        out[0] = 0;
    uint32_t slots = weft__task_slots(rt);
    for (uint32_t i = 0; i < slots; i++) {
        weft__task *t = weft__task_at(rt, i);
        if (weft__record_state(rt, t) != WEFT__T_PARKED)
            continue;
        char what[160];
        describe_wait(t, what, sizeof what);
        if (used < len) {
            int w = snprintf(out + used, len - used, "  task %llu (%s) waits on %s\n",
                             (unsigned long long)t->node.task_id, weft__task_label(t), what);
            used += w > 0 ? (size_t)w : 0;
        }
        n++;
    }
    return n;
}

void weft__report_deadlock(weft_rt *rt)
{
    if (rt->quiet)
        return;
    char buf[4096];
    size_t n = weft__blocked_tasks(rt, buf, sizeof buf);
    fprintf(stderr, "weft: deadlock: %zu task(s) blocked and nothing can wake them:\n%s", n, buf);
}

void weft__fail(weft__worker *w, int status, const char *msg)
{
    w->rt->backend->fail(w, status, msg);
}

void weft_assert_fail(const char *expr, const char *file, int line)
{
    char msg[512];
    snprintf(msg, sizeof msg, "assertion failed: %s (%s:%d)", expr, file, line);
    weft__worker *w = weft__tls_worker;
    if (w)
        weft__fail(w, WEFT_EFAILED, msg);
    weft__die(msg);
}

void weft_fail(const char *message)
{
    const char *msg = message ? message : "weft_fail";
    weft__worker *w = weft__tls_worker;
    if (w)
        weft__fail(w, WEFT_EFAILED, msg);
    weft__die(msg);
}

int weft_buggify(const char *file, int line)
{
    weft__worker *w = weft__tls_worker;
    if (!w || !w->rt->backend->buggify || w->in_hook)
        return 0;
    return w->rt->backend->buggify(w, file, line);
}

int weft_in_simulation(void)
{
    weft__worker *w = weft__tls_worker;
    return w && (w->rt->caps & WEFT__CAP_DETERMINISTIC) ? 1 : 0;
}
