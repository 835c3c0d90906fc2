/* trace.c — the simulator's trace: every decision and runtime event folded
 * into a rolling 64-bit hash (always) and kept in memory (when recording), with
 * text and Chrome trace-event JSON export and a diff of two traces.
 *
 * Runtime events arrive through an ordinary lifecycle hook: the trace is
 * built on hooks, not wired into the loop. The hash mixes only integers and
 * string contents — never a pointer — so it is the same on every build and
 * machine, and it never depends on whether the events are being recorded.
 */
#include "sim.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

static inline uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v * 0x9E3779B97F4A7C15ull;
    h = (h << 27) | (h >> 37);
    return h * 0xBF58476D1CE4E5B9ull + 0x94D049BB133111EBull;
}

static uint64_t hash_text(const char *s)
{
    return weft__hash_str(WEFT__HASH_INIT, s);
}

static weft__event *slot(weft__sim *s)
{
    size_t k = s->ev_len / WEFT__TRACE_CHUNK;
    if (k == s->nchunks) {
        weft_rt *rt = s->rt;
        if (weft__grow(&rt->base_alloc, (void **)&s->chunks, &s->chunk_cap, s->nchunks, sizeof *s->chunks, 16) < 0)
            return NULL;
        weft__event *c = rt->base_alloc.alloc(rt->base_alloc.ctx, WEFT__TRACE_CHUNK * sizeof *c);
        if (!c)
            return NULL;
        s->chunks[s->nchunks++] = c;
    }
    return &s->chunks[k][s->ev_len++ % WEFT__TRACE_CHUNK];
}

static void append(weft__sim *s, int kind, int worker, unsigned extra, int32_t a, uint64_t b, const char *text)
{
    weft__event *e = slot(s);
    if (!e) {
        s->record = false; /* the hash goes on; the export will say it is partial */
        return;
    }
    e->kind = (uint8_t)kind;
    e->worker = (int8_t)worker;
    e->extra = (uint16_t)extra;
    e->a = a;
    e->b = b;
    e->text = text;
}

void weft__trace(weft__sim *s, int kind, int worker, unsigned extra, int32_t a, uint64_t b, const char *text)
{
    uint64_t h = mix(s->hash, (uint64_t)kind | (uint64_t)(uint8_t)worker << 8 | (uint64_t)extra << 16 |
                                  (uint64_t)(uint32_t)a << 32);
    h = mix(h, b);
    /* Names and wait reasons are part of a run; a failure's message is not
     * hashed (it holds source paths, which differ between checkouts). */
    if (text && kind == WEFT__EV_HOOK)
        h = mix(h, hash_text(text));
    s->hash = h;
    s->events++;
    if (!s->record)
        return;
    /* Virtual time stands still while tasks run: note it only when it moved. */
    if (s->now != s->recorded_time || s->ev_len == 0) {
        s->recorded_time = s->now;
        append(s, WEFT__EV_TIME, -1, 0, 0, s->now, NULL);
    }
    append(s, kind, worker, extra, a, b, text);
}

const weft__event *weft__trace_at(const weft__sim *s, size_t i)
{
    return &s->chunks[i / WEFT__TRACE_CHUNK][i % WEFT__TRACE_CHUNK];
}

/* A task's name need only live until it is joined, but a trace is exported
 * later: recording keeps a copy. Copies go to chunks that never move. */
struct weft__name_chunk {
    struct weft__name_chunk *next;
    size_t size;
    char text[];
};

static const char *keep_name(weft__sim *s, const char *name)
{
    size_t n = strlen(name) + 1;
    if (s->names_used + n > s->names_cap) {
        size_t size = n > 4000 ? n : 4000;
        weft_rt *rt = s->rt;
        struct weft__name_chunk *c = rt->base_alloc.alloc(rt->base_alloc.ctx, sizeof *c + size);
        if (!c)
            return NULL;
        c->next = s->name_chunks;
        c->size = size;
        s->name_chunks = c;
        s->names = c->text;
        s->names_used = 0;
        s->names_cap = size;
    }
    char *copy = s->names + s->names_used;
    memcpy(copy, name, n);
    s->names_used += n;
    return copy;
}

/* Names travel with spawn events and reasons with park events; the other
 * events of a task are tied to it by its id. */
static void on_hook(void *ctx, const weft_hook_info *info)
{
    weft__sim *s = ctx;
    const char *text = info->event == WEFT_HOOK_PARK ? info->reason
                       : info->event == WEFT_HOOK_SPAWN ? info->task_name
                                                          : NULL;
    if (text && info->event == WEFT_HOOK_SPAWN && s->record)
        text = keep_name(s, text); /* hashed by content either way */
    weft__trace(s, WEFT__EV_HOOK, info->worker, (unsigned)info->event, info->status, info->task_id, text);
}

int weft__trace_attach(weft__sim *s)
{
    return weft_hook_add(s->rt, WEFT_HOOK_ALL, on_hook, s, &s->hook_id);
}

void weft__trace_free(weft__sim *s)
{
    weft_rt *rt = s->rt;
    for (size_t i = 0; i < s->nchunks; i++)
        rt->base_alloc.free(rt->base_alloc.ctx, s->chunks[i], WEFT__TRACE_CHUNK * sizeof(weft__event));
    if (s->chunks)
        rt->base_alloc.free(rt->base_alloc.ctx, s->chunks, s->chunk_cap * sizeof *s->chunks);
    s->chunks = NULL;
    s->nchunks = s->chunk_cap = s->ev_len = 0;
    while (s->name_chunks) {
        struct weft__name_chunk *next = s->name_chunks->next;
        rt->base_alloc.free(rt->base_alloc.ctx, s->name_chunks, sizeof *s->name_chunks + s->name_chunks->size);
        s->name_chunks = next;
    }
}

/* Walks the recorded events that were hashed (TIME markers are folded into
 * `time`, the virtual time of the event returned last). */
typedef struct cursor {
    const weft__sim *s;
    size_t i;
    uint64_t time;
} cursor;

static const weft__event *next_event(cursor *c)
{
    while (c->i < c->s->ev_len) {
        const weft__event *e = weft__trace_at(c->s, c->i++);
        if (e->kind != WEFT__EV_TIME)
            return e;
        c->time = e->b;
    }
    return NULL;
}

static const char *stream_name(unsigned stream)
{
    static const char *const names[WEFT__S_COUNT] = {"interleave", "place", "timing", "fault", "rand", "select", "memory"};
    return stream < WEFT__S_COUNT ? names[stream] : "?";
}

/* One event as text; time is the virtual time it happened at. */
static void format(const weft__event *e, uint64_t time, char *buf, size_t len)
{
    switch (e->kind) {
    case WEFT__EV_HOOK:
        snprintf(buf, len, "t=%" PRIu64 " w%d %s task %" PRIu64 "%s%s%s status %d", time, e->worker,
                 weft_hook_event_name((weft_hook_event)e->extra), e->b, e->text ? " (" : "", e->text ? e->text : "",
                 e->text ? ")" : "", (int)e->a);
        break;
    case WEFT__EV_DECIDE:
        snprintf(buf, len, "t=%" PRIu64 " w%d decide %s: %" PRIu64 " of %u", time, e->worker, stream_name(e->extra),
                 e->b, (unsigned)e->a);
        break;
    case WEFT__EV_CLOCK:
        snprintf(buf, len, "t=%" PRIu64 " clock jumps to %" PRIu64, time, e->b);
        break;
    case WEFT__EV_FAIL:
        snprintf(buf, len, "t=%" PRIu64 " w%d run failed: %s", time, e->worker, weft_strerror((int)e->a));
        break;
    default:
        snprintf(buf, len, "t=%" PRIu64 " event %d", time, e->kind);
    }
}

uint64_t weft_rt_trace_hash(const weft_rt *rt)
{
    return rt && weft__sim_of(rt) ? weft__sim_of(rt)->hash : 0;
}

uint64_t weft_rt_trace_events(const weft_rt *rt)
{
    return rt && weft__sim_of(rt) ? weft__sim_of(rt)->events : 0;
}

static int need_record(const weft_rt *rt, const char *path, const char *what)
{
    if (!rt || !path || !weft__sim_of(rt) || !weft__sim_of(rt)->ev_len)
        return WEFT_MISUSE_RT(rt, WEFT_EINVAL, "%s: nothing recorded (set sim.record_trace or WEFT_TRACE)", what);
    return 0;
}

int weft_rt_trace_write_text(const weft_rt *rt, const char *path)
{
    int r = need_record(rt, path, "weft_rt_trace_write_text");
    if (r < 0)
        return r;
    FILE *f = fopen(path, "w");
    if (!f)
        return WEFT_EIO;
    const weft__sim *s = weft__sim_of(rt);
    fprintf(f, "# weft trace: seed %" PRIu64 ", %" PRIu64 " events, hash %016" PRIx64 "%s\n", s->seed, s->events,
            s->hash, s->record ? "" : " (recording stopped early: out of memory)");
    char line[256];
    cursor c = {s, 0, 0};
    for (const weft__event *e; (e = next_event(&c)) != NULL;) {
        format(e, c.time, line, sizeof line);
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

/* Task names by id, from the spawn events (ids are dense from 1). */
typedef struct names {
    const char **v;
    size_t n;
} names;

static void names_build(const weft__sim *s, names *nm)
{
    nm->n = 0;
    nm->v = NULL;
    uint64_t max = 0;
    for (size_t i = 0; i < s->ev_len; i++) {
        const weft__event *e = weft__trace_at(s, i);
        if (e->kind == WEFT__EV_HOOK && e->extra == WEFT_HOOK_SPAWN && e->b > max)
            max = e->b;
    }
    nm->v = calloc(max + 1, sizeof *nm->v);
    if (!nm->v)
        return;
    nm->n = max + 1;
    for (size_t i = 0; i < s->ev_len; i++) {
        const weft__event *e = weft__trace_at(s, i);
        if (e->kind == WEFT__EV_HOOK && e->extra == WEFT_HOOK_SPAWN)
            nm->v[e->b] = e->text;
    }
}

static const char *name_of(const names *nm, uint64_t id)
{
    return id < nm->n && nm->v[id] ? nm->v[id] : NULL;
}

/* Chrome's trace-event format: each virtual worker is a thread lane; a task
 * running on it is a complete ("X") slice from its start/resume to the event
 * that took it off the worker; decisions, clock jumps and failures are
 * instants. Timestamps are the event's position in the trace (1 µs per
 * event), since virtual time stands still while tasks run; the virtual time
 * is in each event's args. */
int weft_rt_trace_write_json(const weft_rt *rt, const char *path)
{
    int r = need_record(rt, path, "weft_rt_trace_write_json");
    if (r < 0)
        return r;
    FILE *f = fopen(path, "w");
    if (!f)
        return WEFT_EIO;
    const weft__sim *s = weft__sim_of(rt);
    names nm;
    names_build(s, &nm);
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
    for (int i = 0; i < MAXW; i++)
        open_at[i] = -1;
    char line[256];
    int64_t ts = 0;
    cursor c = {s, 0, 0};
    for (const weft__event *e; (e = next_event(&c)) != NULL;) {
        uint64_t time = c.time;
        int w = e->worker;
        ts++;
        if (e->kind == WEFT__EV_HOOK && w >= 0 && w < MAXW) {
            weft_hook_event ev = (weft_hook_event)e->extra;
            if (ev == WEFT_HOOK_START || ev == WEFT_HOOK_RESUME) {
                open_at[w] = ts;
                open_task[w] = e->b;
                continue;
            }
            if ((ev == WEFT_HOOK_YIELD || ev == WEFT_HOOK_PARK || ev == WEFT_HOOK_FINISH) && open_at[w] >= 0 &&
                open_task[w] == e->b) {
                fprintf(f, ",\n{\"ph\":\"X\",\"pid\":1,\"tid\":%d,\"ts\":%" PRId64 ",\"dur\":%" PRId64 ",\"name\":", w,
                        open_at[w], ts - open_at[w] + 1);
                char name[96];
                const char *n = name_of(&nm, e->b);
                snprintf(name, sizeof name, "task %" PRIu64 "%s%s", e->b, n ? " " : "", n ? n : "");
                json_string(f, name);
                fprintf(f, ",\"args\":{\"ended_by\":\"%s\",\"virtual_ns\":%" PRIu64 "}}", weft_hook_event_name(ev), time);
                open_at[w] = -1;
            }
        }
        format(e, time, line, sizeof line);
        fprintf(f, ",\n{\"ph\":\"i\",\"s\":\"t\",\"pid\":1,\"tid\":%d,\"ts\":%" PRId64 ",\"name\":", w < 0 ? 0 : w, ts);
        json_string(f, line);
        fprintf(f, ",\"args\":{\"virtual_ns\":%" PRIu64 "}}", time);
    }
    fprintf(f, "\n]}\n");
    free(nm.v);
    return fclose(f) == 0 ? 0 : WEFT_EIO;
}

int64_t weft_trace_diff(const weft_rt *x, const weft_rt *y, char *a, size_t alen, char *b, size_t blen)
{
    if (!x || !y || !weft__sim_of(x) || !weft__sim_of(y))
        return WEFT_MISUSE_RT(x ? x : y, WEFT_EINVAL, "weft_trace_diff: need two simulated runtimes");
    cursor p = {weft__sim_of(x), 0, 0}, q = {weft__sim_of(y), 0, 0};
    for (int64_t n = 0;; n++) {
        const weft__event *e = next_event(&p), *f = next_event(&q);
        if (!e && !f)
            break;
        bool same = e && f && e->kind == f->kind && e->worker == f->worker && e->extra == f->extra &&
                    e->a == f->a && e->b == f->b && p.time == q.time;
        if (same)
            continue;
        if (a && alen) {
            if (e)
                format(e, p.time, a, alen);
            else
                snprintf(a, alen, "(end of trace)");
        }
        if (b && blen) {
            if (f)
                format(f, q.time, b, blen);
            else
                snprintf(b, blen, "(end of trace)");
        }
        return n;
    }
    return weft__sim_of(x)->hash == weft__sim_of(y)->hash ? -1 : (int64_t)weft__sim_of(x)->events;
}
