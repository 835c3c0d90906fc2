/* trace.c — the simulator's trace: every decision and runtime event folded
 * into a rolling 64-bit hash (always) and kept in memory (when recording), the
 * user's notes, the text export (one line per event) and a diff of two
 * traces. The readable timelines (JSON, HTML) are timeline.c's.
 *
 * Runtime events arrive through an ordinary lifecycle hook: the trace is
 * built on hooks, not wired into the loop. While that hook is the only one
 * and the trace is not recording, the core makes the hook's fold itself
 * where the event is raised (weft__hook_fold, on the same weft__trace_hash),
 * with no call. The hash mixes only integers and
 * string contents — never a pointer — so it is the same on every build and
 * machine, and it never depends on whether the events are being recorded.
 */
#include "sim.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static weft__event_rec *slot(weft__sim *s)
{
    size_t k = s->ev_len / WEFT__TRACE_CHUNK;
    if (k == s->nchunks) {
        weft_rt *rt = s->rt;
        if (weft__grow(&rt->base_alloc, (void **)&s->chunks, &s->chunk_cap, s->nchunks, sizeof *s->chunks, 16) < 0)
            return NULL;
        weft__event_rec *c = rt->base_alloc.alloc(rt->base_alloc.ctx, WEFT__TRACE_CHUNK * sizeof *c);
        if (!c)
            return NULL;
        /* It fills at once: made present by one call, not a fault a page
         * (weft__grow says why); never a program's own allocator's memory. */
        if (rt->base_alloc.alloc == weft__malloc_allocator.alloc)
            weft__os_prefault(NULL, c, WEFT__TRACE_CHUNK * sizeof *c);
        s->chunks[s->nchunks++] = c;
    }
    return &s->chunks[k][s->ev_len++ % WEFT__TRACE_CHUNK];
}

static bool keep_text(weft__sim *s, size_t at, const char *text)
{
    weft_rt *rt = s->rt;
    if (s->ntexts == s->texts_cap &&
        weft__grow(&rt->base_alloc, (void **)&s->texts, &s->texts_cap, s->ntexts, sizeof *s->texts, 64) < 0)
        return false;
    s->texts[s->ntexts++] = (weft__event_text){at, text};
    return true;
}

static void append(weft__sim *s, int kind, int worker, unsigned extra, int32_t a, uint64_t b, const char *text)
{
    /* Any text of a decision is "kept" (sim.h): a flag, not a text. */
    if (kind == WEFT__EV_DECIDE && text) {
        extra |= WEFT__EV_KEPT;
        text = NULL;
    }
    weft__event_rec *e = slot(s);
    if (!e || (text && !keep_text(s, s->ev_len - 1, text))) {
        s->record = false; /* the hash goes on; the export will say it is partial */
        if (e)
            s->ev_len--;
        return;
    }
    e->kind = (uint8_t)kind;
    e->worker = (int8_t)worker;
    e->extra = (uint16_t)extra;
    e->a = a;
    e->b = b;
}

/* A task's name need only live until it is joined, and a failure's message or
 * a note until the next one, but a trace is exported later: recording keeps a
 * copy. Copies go to chunks that never move. */
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

void weft__trace_record(weft__sim *s, int kind, int worker, unsigned extra, int32_t a, uint64_t b, const char *text)
{
    if (text && (kind == WEFT__EV_FAIL || kind == WEFT__EV_NOTE))
        text = keep_name(s, text);
    /* Virtual time stands still while tasks run: note it only when it moved. */
    if (s->now != s->recorded_time || s->ev_len == 0) {
        s->recorded_time = s->now;
        append(s, WEFT__EV_TIME, -1, 0, 0, s->now, NULL);
    }
    append(s, kind, worker, extra, a, b, text);
}

void weft__trace(weft__sim *s, int kind, int worker, unsigned extra, int32_t a, uint64_t b, const char *text)
{
    weft__trace_inline(s, kind, worker, extra, a, b, text);
}

static const weft__event_rec *trace_at(const weft__sim *s, size_t i)
{
    return &s->chunks[i / WEFT__TRACE_CHUNK][i % WEFT__TRACE_CHUNK];
}

/* Names travel with spawn events and reasons with park events; the other
 * events of a task are tied to it by its id. */
static uint64_t text_hash(weft__sim *s, const char *text)
{
    int k = weft__wait_name_index(text);
    if (k < 0)
        return weft__hash_str(WEFT__HASH_INIT, text);
    if (!(s->th.wait_hashed >> k & 1)) {
        s->th.wait_hash[k] = weft__hash_str(WEFT__HASH_INIT, text);
        s->th.wait_hashed |= 1u << k;
    }
    return s->th.wait_hash[k];
}

static WEFT_NOINLINE void on_hook_text_any(weft__sim *s, weft_hook_event ev, const weft__worker *w,
                                           const weft__task *t, int status, const char *reason)
{
    const char *text = ev == WEFT_HOOK_PARK ? reason : t ? weft__task_name(t) : NULL;
    if (text && ev == WEFT_HOOK_SPAWN && s->record)
        text = keep_name(s, text); /* hashed by content either way */
    weft__trace_text_hashed(s, WEFT__EV_HOOK, w ? (int)w->index : -1, (unsigned)ev, status, t ? t->node.task_id : 0,
                            text, text ? text_hash(s, text) : 0, text != NULL);
}

/* A park on a wait whose name was hashed before makes only tail calls. */
static WEFT_NOINLINE void on_hook_text(weft__sim *s, weft_hook_event ev, const weft__worker *w, const weft__task *t,
                                       int status, const char *reason)
{
    int k = ev == WEFT_HOOK_PARK && reason ? weft__wait_name_index(reason) : -1;
    if (k < 0 || !(s->th.wait_hashed >> k & 1)) {
        on_hook_text_any(s, ev, w, t, status, reason);
        return;
    }
    weft__trace_text_hashed(s, WEFT__EV_HOOK, w ? (int)w->index : -1, (unsigned)ev, status, t ? t->node.task_id : 0,
                            reason, s->th.wait_hash[k], true);
}

/* The events without text (most of them) hash two words and return: the
 * text's hashing and copying are out of line, so this saves few registers. */
static void on_hook(void *ctx, weft_hook_event ev, const weft__worker *w, const weft__task *t, int status,
                    const char *reason)
{
    weft__sim *s = ctx;
    if (ev == WEFT_HOOK_PARK || ev == WEFT_HOOK_SPAWN) {
        on_hook_text(s, ev, w, t, status, reason);
        return;
    }
    weft__trace_inline(s, WEFT__EV_HOOK, w ? (int)w->index : -1, (unsigned)ev, status, t ? t->node.task_id : 0, NULL);
}

int weft__trace_attach(weft__sim *s)
{
    /* Not recording, the hash is all it makes of an event: the core folds
     * the events in place (weft__hook_fold) while it listens alone. */
    return weft__hook_add_raw(s->rt, WEFT_HOOK_ALL, on_hook, s, s->record ? NULL : &s->th, &s->hook_id);
}

void weft__trace_free(weft__sim *s)
{
    weft_rt *rt = s->rt;
    for (size_t i = 0; i < s->nchunks; i++)
        rt->base_alloc.free(rt->base_alloc.ctx, s->chunks[i], WEFT__TRACE_CHUNK * sizeof(weft__event_rec));
    if (s->chunks)
        rt->base_alloc.free(rt->base_alloc.ctx, s->chunks, s->chunk_cap * sizeof *s->chunks);
    if (s->texts)
        rt->base_alloc.free(rt->base_alloc.ctx, s->texts, s->texts_cap * sizeof *s->texts);
    s->chunks = NULL;
    s->texts = NULL;
    s->nchunks = s->chunk_cap = s->ev_len = 0;
    s->ntexts = s->texts_cap = 0;
    while (s->name_chunks) {
        struct weft__name_chunk *next = s->name_chunks->next;
        rt->base_alloc.free(rt->base_alloc.ctx, s->name_chunks, sizeof *s->name_chunks + s->name_chunks->size);
        s->name_chunks = next;
    }
}

void weft_sim_note(const char *fmt, ...)
{
    weft__worker *w = weft__tls_worker;
    weft__sim *s = w ? weft__sim_of(w->rt) : NULL;
    if (!s || !fmt || w->in_hook)
        return;
    char text[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    weft__trace(s, WEFT__EV_NOTE, (int)w->index, 0, 0, w->current ? w->current->node.task_id : 0, text);
}

/* The texts are in event order, so the cursor walks them alongside. */
const weft__event *weft__trace_next(weft__cursor *c)
{
    const weft__sim *s = c->s;
    while (c->i < s->ev_len) {
        size_t at = c->i++;
        const weft__event_rec *e = trace_at(s, at);
        if (e->kind == WEFT__EV_TIME) {
            c->time = e->b;
            continue;
        }
        weft__event *v = &c->event;
        *v = (weft__event){e->kind, e->worker, e->extra, e->a, e->b, NULL};
        if (e->kind == WEFT__EV_DECIDE && (e->extra & WEFT__EV_KEPT)) {
            v->extra = (uint16_t)(e->extra & ~WEFT__EV_KEPT);
            v->text = "kept";
        }
        while (c->text < s->ntexts && s->texts[c->text].at < at)
            c->text++;
        if (c->text < s->ntexts && s->texts[c->text].at == at)
            v->text = s->texts[c->text].text;
        return v;
    }
    return NULL;
}

static const char *stream_name(unsigned stream)
{
    static const char *const names[WEFT__S_COUNT] = {"interleave", "place", "timing", "fault", "rand", "select", "memory"};
    return stream < WEFT__S_COUNT ? names[stream] : "?";
}

/* A failure's message on one line: a deadlock report has one per task. */
static void one_line(const char *in, char *out, size_t len)
{
    size_t n = 0;
    for (; in && *in && n + 3 < len; in++) {
        if (*in == '\n') {
            while (in[1] == ' ')
                in++;
            if (in[1]) {
                out[n++] = ';';
                out[n++] = ' ';
            }
        } else {
            out[n++] = *in;
        }
    }
    out[n] = 0;
}

void weft__trace_format(const weft__event *e, uint64_t time, char *buf, size_t len)
{
    char msg[768], who[16];
    /* Events of no worker (the host spawning the root, a clock jump, a
     * deadlock found) are the host's. */
    if (e->worker < 0)
        snprintf(who, sizeof who, "host");
    else
        snprintf(who, sizeof who, "w%d", e->worker);
    switch (e->kind) {
    case WEFT__EV_HOOK:
        snprintf(buf, len, "t=%" PRIu64 " %s %s task %" PRIu64 "%s%s%s status %d", time, who,
                 weft_hook_event_name((weft_hook_event)e->extra), e->b, e->text ? " (" : "", e->text ? e->text : "",
                 e->text ? ")" : "", (int)e->a);
        break;
    case WEFT__EV_DECIDE:
        snprintf(buf, len, "t=%" PRIu64 " %s decide %s: %" PRIu64 " of %u", time, who, stream_name(e->extra),
                 e->b, (unsigned)e->a);
        break;
    case WEFT__EV_CLOCK:
        snprintf(buf, len, "t=%" PRIu64 " clock jumps to %" PRIu64, time, e->b);
        break;
    case WEFT__EV_FAIL:
        one_line(e->text, msg, sizeof msg);
        snprintf(buf, len, "t=%" PRIu64 " %s run failed: %s%s%s", time, who, weft_strerror((int)e->a),
                 msg[0] ? ": " : "", msg);
        break;
    case WEFT__EV_NOTE:
        snprintf(buf, len, "t=%" PRIu64 " %s task %" PRIu64 " note: %s", time, who, e->b,
                 e->text ? e->text : "");
        break;
    default:
        snprintf(buf, len, "t=%" PRIu64 " event %d", time, e->kind);
    }
}

uint64_t weft_rt_trace_hash(const weft_rt *rt)
{
    return rt && weft__sim_of(rt) ? weft__sim_of(rt)->th.hash : 0;
}

uint64_t weft_rt_trace_events(const weft_rt *rt)
{
    return rt && weft__sim_of(rt) ? weft__sim_of(rt)->th.events : 0;
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
    fprintf(f, "# weft trace: seed %" PRIu64 ", %" PRIu64 " events, hash %016" PRIx64 "%s\n", s->seed, s->th.events,
            s->th.hash, s->record ? "" : " (recording stopped early: out of memory)");
    char line[1024];
    weft__cursor c = {.s = s};
    for (const weft__event *e; (e = weft__trace_next(&c)) != NULL;) {
        weft__trace_format(e, c.time, line, sizeof line);
        fprintf(f, "%s\n", line);
    }
    return fclose(f) == 0 ? 0 : WEFT_EIO;
}

int64_t weft_trace_diff(const weft_rt *x, const weft_rt *y, char *a, size_t alen, char *b, size_t blen)
{
    if (!x || !y || !weft__sim_of(x) || !weft__sim_of(y))
        return WEFT_MISUSE_RT(x ? x : y, WEFT_EINVAL, "weft_trace_diff: need two simulated runtimes");
    weft__cursor p = {.s = weft__sim_of(x)}, q = {.s = weft__sim_of(y)};
    for (int64_t n = 0;; n++) {
        const weft__event *e = weft__trace_next(&p), *f = weft__trace_next(&q);
        if (!e && !f)
            break;
        bool same = e && f && e->kind == f->kind && e->worker == f->worker && e->extra == f->extra &&
                    e->a == f->a && e->b == f->b && p.time == q.time;
        if (same)
            continue;
        if (a && alen) {
            if (e)
                weft__trace_format(e, p.time, a, alen);
            else
                snprintf(a, alen, "(end of trace)");
        }
        if (b && blen) {
            if (f)
                weft__trace_format(f, q.time, b, blen);
            else
                snprintf(b, blen, "(end of trace)");
        }
        return n;
    }
    return weft__sim_of(x)->th.hash == weft__sim_of(y)->th.hash ? -1 : (int64_t)weft__sim_of(x)->th.events;
}
