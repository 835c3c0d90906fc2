/* trace.c — the simulator's trace: every decision and runtime event folded
 * into a rolling 64-bit hash (always) and kept in memory (when recording), with
 * text and Chrome trace-event JSON export and a diff of two traces.
 *
 * Runtime events arrive through an ordinary lifecycle hook: the trace is
 * built on hooks, not wired into the loop. The hash mixes only integers and
 * string contents — never a pointer — so it is the same on every build and
 * machine.
 */
#include "sim.h"

#include <inttypes.h>
#include <stdio.h>

static inline uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v * 0x9E3779B97F4A7C15ull;
    h = (h << 27) | (h >> 37);
    return h * 0xBF58476D1CE4E5B9ull + 0x94D049BB133111EBull;
}

static uint64_t hash_text(const char *s)
{
    uint64_t h = 0xCBF29CE484222325ull;
    while (s && *s)
        h = (h ^ (uint8_t)*s++) * 0x100000001B3ull;
    return h;
}

void weft__trace(weft__sim *s, int kind, int worker, uint64_t task, uint64_t a, uint64_t b, const char *text)
{
    uint64_t h = s->hash;
    h = mix(h, (uint64_t)kind | ((uint64_t)(uint8_t)worker << 8));
    h = mix(h, task);
    h = mix(h, a);
    h = mix(h, b);
    if (text)
        h = mix(h, hash_text(text));
    s->hash = h;
    s->events++;
    if (!s->record)
        return;
    if (s->ev_len == s->ev_cap) {
        size_t cap = s->ev_cap ? s->ev_cap * 2 : 1024;
        weft_rt *rt = s->rt;
        weft__event *v = rt->alloc.alloc(rt->alloc.ctx, cap * sizeof *v);
        if (!v) {
            s->record = false; /* the hash goes on; the export will say it is partial */
            return;
        }
        if (s->ev_len)
            memcpy(v, s->ev, s->ev_len * sizeof *v);
        if (s->ev)
            rt->alloc.free(rt->alloc.ctx, s->ev, s->ev_cap * sizeof *v);
        s->ev = v;
        s->ev_cap = cap;
    }
    weft__event *e = &s->ev[s->ev_len++];
    e->time = s->now;
    e->task = task;
    e->a = a;
    e->b = b;
    e->seq_lo = (uint32_t)s->events;
    e->kind = (uint8_t)kind;
    e->worker = (uint8_t)worker;
    e->text = text;
}

static void on_hook(void *ctx, const weft_hook_info *info)
{
    weft__sim *s = ctx;
    const char *text = info->event == WEFT_HOOK_PARK ? info->reason : info->task_name;
    weft__trace(s, WEFT__EV_HOOK, info->worker, info->task_id, (uint64_t)info->event, (uint64_t)(int64_t)info->status,
                text);
}

int weft__trace_attach(weft__sim *s)
{
    return weft_hook_add(s->rt, WEFT_HOOK_ALL, on_hook, s, &s->hook_id);
}

void weft__trace_free(weft__sim *s)
{
    weft_rt *rt = s->rt;
    if (s->ev)
        rt->alloc.free(rt->alloc.ctx, s->ev, s->ev_cap * sizeof *s->ev);
    s->ev = NULL;
    s->ev_len = s->ev_cap = 0;
}

static const char *stream_name(uint64_t stream)
{
    static const char *const names[WEFT__S_COUNT] = {"interleave", "place", "timing", "fault", "rand", "select"};
    return stream < WEFT__S_COUNT ? names[stream] : "?";
}

void weft__trace_format(const weft__event *e, char *buf, size_t len)
{
    switch (e->kind) {
    case WEFT__EV_HOOK:
        snprintf(buf, len, "t=%" PRIu64 " w%d %s task %" PRIu64 "%s%s%s status %" PRId64, e->time, (int8_t)e->worker,
                 weft_hook_event_name((weft_hook_event)e->a), e->task, e->text ? " (" : "", e->text ? e->text : "",
                 e->text ? ")" : "", (int64_t)e->b);
        break;
    case WEFT__EV_DECIDE:
        snprintf(buf, len, "t=%" PRIu64 " w%d decide %s: %" PRIu64 " of %" PRIu64, e->time, (int8_t)e->worker,
                 stream_name(e->a >> 32), e->b, e->a & 0xFFFFFFFFu);
        break;
    case WEFT__EV_CLOCK:
        snprintf(buf, len, "t=%" PRIu64 " clock jumps to %" PRIu64, e->time, e->b);
        break;
    case WEFT__EV_FAIL:
        snprintf(buf, len, "t=%" PRIu64 " w%d run failed: %s", e->time, (int8_t)e->worker, weft_strerror((int)e->a));
        break;
    case WEFT__EV_SWITCH:
        snprintf(buf, len, "t=%" PRIu64 " switch to w%d", e->time, (int8_t)e->worker);
        break;
    default:
        snprintf(buf, len, "t=%" PRIu64 " event %d", e->time, e->kind);
    }
}

uint64_t weft_rt_trace_hash(const weft_rt *rt)
{
    return rt && rt->sim ? rt->sim->hash : 0;
}

uint64_t weft_rt_trace_events(const weft_rt *rt)
{
    return rt && rt->sim ? rt->sim->events : 0;
}

int weft_rt_trace_write_text(const weft_rt *rt, const char *path)
{
    if (!rt || !path || !rt->sim || !rt->sim->ev_len)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_rt_trace_write_text: nothing recorded (set sim.record_trace or WEFT_TRACE)");
    FILE *f = fopen(path, "w");
    if (!f)
        return WEFT_EIO;
    const weft__sim *s = rt->sim;
    fprintf(f, "# weft trace: seed %" PRIu64 ", %" PRIu64 " events, hash %016" PRIx64 "\n", s->seed, s->events,
            s->hash);
    char line[256];
    for (size_t i = 0; i < s->ev_len; i++) {
        weft__trace_format(&s->ev[i], line, sizeof line);
        fprintf(f, "%s\n", line);
    }
    return fclose(f) == 0 ? 0 : WEFT_EIO;
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        if ((unsigned char)*s >= 0x20)
            fputc(*s, f);
    }
    fputc('"', f);
}

/* Chrome's trace-event format: each virtual worker is a thread lane; a task
 * running on it is a complete ("X") slice from its start/resume to the event
 * that took it off the worker; decisions, clock jumps and failures are
 * instants. Timestamps are the event's position in the trace (1 µs per
 * event), since virtual time stands still while tasks run; the virtual time
 * is in each event's args. */
int weft_rt_trace_write_json(const weft_rt *rt, const char *path)
{
    if (!rt || !path || !rt->sim || !rt->sim->ev_len)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_rt_trace_write_json: nothing recorded (set sim.record_trace or WEFT_TRACE)");
    FILE *f = fopen(path, "w");
    if (!f)
        return WEFT_EIO;
    const weft__sim *s = rt->sim;
    fprintf(f, "{\"displayTimeUnit\":\"ns\",\"otherData\":{\"seed\":\"%" PRIu64 "\",\"hash\":\"%016" PRIx64 "\"},"
               "\"traceEvents\":[\n",
            s->seed, s->hash);
    fprintf(f, "{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":1,\"args\":{\"name\":\"weft simulation\"}}");
    for (unsigned w = 0; w < rt->nworkers; w++)
        fprintf(f, ",\n{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":1,\"tid\":%u,\"args\":{\"name\":\"worker %u\"}}",
                w, w);
    enum { MAXW = WEFT_WORKERS_MAX };
    int64_t open_at[MAXW];
    uint64_t open_task[MAXW];
    const char *open_name[MAXW];
    for (int i = 0; i < MAXW; i++)
        open_at[i] = -1;
    char line[256];
    for (size_t i = 0; i < s->ev_len; i++) {
        const weft__event *e = &s->ev[i];
        int w = (int8_t)e->worker;
        int64_t ts = (int64_t)i;
        if (e->kind == WEFT__EV_HOOK && w >= 0 && w < MAXW) {
            weft_hook_event ev = (weft_hook_event)e->a;
            if (ev == WEFT_HOOK_START || ev == WEFT_HOOK_RESUME) {
                open_at[w] = ts;
                open_task[w] = e->task;
                open_name[w] = e->text;
                continue;
            }
            if ((ev == WEFT_HOOK_YIELD || ev == WEFT_HOOK_PARK || ev == WEFT_HOOK_FINISH) && open_at[w] >= 0 &&
                open_task[w] == e->task) {
                fprintf(f, ",\n{\"ph\":\"X\",\"pid\":1,\"tid\":%d,\"ts\":%" PRId64 ",\"dur\":%" PRId64 ",\"name\":", w,
                        open_at[w], ts - open_at[w] + 1);
                char name[96];
                snprintf(name, sizeof name, "task %" PRIu64 "%s%s", e->task, open_name[w] ? " " : "",
                         open_name[w] ? open_name[w] : "");
                json_string(f, name);
                fprintf(f, ",\"args\":{\"ended_by\":\"%s\",\"virtual_ns\":%" PRIu64 "}}",
                        weft_hook_event_name(ev), e->time);
                open_at[w] = -1;
            }
        }
        weft__trace_format(e, line, sizeof line);
        fprintf(f, ",\n{\"ph\":\"i\",\"s\":\"t\",\"pid\":1,\"tid\":%d,\"ts\":%" PRId64 ",\"name\":", w < 0 ? 0 : w, ts);
        json_string(f, line);
        fprintf(f, ",\"args\":{\"virtual_ns\":%" PRIu64 "}}", e->time);
    }
    fprintf(f, "\n]}\n");
    return fclose(f) == 0 ? 0 : WEFT_EIO;
}

int64_t weft_trace_diff(const weft_rt *x, const weft_rt *y, char *a, size_t alen, char *b, size_t blen)
{
    if (!x || !y || !x->sim || !y->sim)
        return -1;
    const weft__sim *p = x->sim, *q = y->sim;
    size_t n = p->ev_len < q->ev_len ? p->ev_len : q->ev_len;
    for (size_t i = 0; i <= n; i++) {
        bool pe = i == p->ev_len, qe = i == q->ev_len;
        if (pe && qe)
            break;
        const weft__event *e = pe ? NULL : &p->ev[i], *f = qe ? NULL : &q->ev[i];
        bool same = e && f && e->kind == f->kind && e->worker == f->worker && e->task == f->task && e->a == f->a &&
                    e->b == f->b && e->time == f->time;
        if (same)
            continue;
        if (a && alen) {
            if (e)
                weft__trace_format(e, a, alen);
            else
                snprintf(a, alen, "(end of trace)");
        }
        if (b && blen) {
            if (f)
                weft__trace_format(f, b, blen);
            else
                snprintf(b, blen, "(end of trace)");
        }
        return (int64_t)i;
    }
    return p->hash == q->hash ? -1 : (int64_t)n;
}
