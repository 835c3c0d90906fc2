/* report.c — human-readable reports of what every blocked task waits on (for
 * deadlocks), and the fatal path for failures outside the simulator. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>

/* For a mutex wait, name the holder: most deadlocks are lock cycles. */
static void describe_wait(const weft__task *t, char *buf, size_t len)
{
    const char *what = weft__wait_name(t->wait_kind);
    if (t->wait_kind == WEFT__W_MUTEX && t->wait_obj) {
        const weft__waiter *wt = t->wait_obj;
        const weft_mutex *m = WEFT_CONTAINER_OF(wt->list, weft_mutex, waiters);
        const weft__task *owner = (const weft__task *)(m->state & ~(uintptr_t)1);
        if (owner && owner->node.task_id == m->owner_id && owner->state != WEFT__T_FINISHED &&
            owner->state != WEFT__T_FREE) {
            snprintf(buf, len, "a mutex held by task %llu (%s)", (unsigned long long)owner->node.task_id,
                     owner->name ? owner->name : "unnamed");
            return;
        }
        if (owner) {
            snprintf(buf, len, "a mutex still held by task %llu, which has ended", (unsigned long long)m->owner_id);
            return;
        }
    }
    if (t->wait_kind == WEFT__W_JOIN && t->wait_obj) {
        const weft__task *target = t->wait_obj;
        snprintf(buf, len, "joining task %llu (%s)", (unsigned long long)target->node.task_id,
                 target->name ? target->name : "unnamed");
        return;
    }
    snprintf(buf, len, "a %s", what);
}

size_t weft__blocked_tasks(weft_rt *rt, char *out, size_t len)
{
    size_t n = 0, used = 0;
    if (len)
        out[0] = 0;
    for (uint32_t i = 0; i < rt->fresh_slot; i++) {
        const weft__task *t = weft__task_at(rt, i);
        if (t->state != WEFT__T_PARKED)
            continue;
        char what[160];
        describe_wait(t, what, sizeof what);
        if (used < len) {
            int w = snprintf(out + used, len - used, "  task %llu (%s) waits on %s\n",
                             (unsigned long long)t->node.task_id, t->name ? t->name : "unnamed", what);
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

void weft__die(const char *msg)
{
    fprintf(stderr, "weft: %s\n", msg);
    abort();
}
