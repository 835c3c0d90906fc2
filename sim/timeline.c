/* timeline.c — a recorded trace as timelines a person can read: Chrome
 * trace-event JSON (Perfetto, chrome://tracing) and a self-contained HTML
 * page (no script, no network), one lane per virtual worker and one per
 * task, in virtual time.
 *
 * Both leave out the decisions that kept the running worker (most of a
 * trace, and nothing happened at them) and say how many they left out; both
 * show the failure (the failed assertion with its file and line, or the
 * deadlock report) at the step where it happened, and the user's notes on
 * the lane of the task that made them.
 */
#include "sim.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- the model both exports draw: the events worth showing, in order ---- */

typedef struct shown {
    weft__event e; /* a copy: the cursor's is overwritten by the next */
    uint64_t time; /* virtual ns */
} shown;

/* A stretch of consecutive steps one worker took for one task (task 0: its
 * scheduler loop), ended by another worker's step or another task. */
typedef struct run {
    unsigned worker;
    uint64_t task;
    size_t a, b;
} run;

typedef struct model {
    const weft__sim *s;
    unsigned nworkers;
    shown *v;
    size_t n, folded;
    size_t fail;              /* index in v of the first failure, or SIZE_MAX */
    const char **names;       /* task names by id (ids are dense from 1) */
    uint64_t ntasks;          /* ids 1..ntasks-1 */
    run *runs;
    size_t nruns;
} model;

static bool is_hook(const weft__event *e, weft_hook_event ev)
{
    return e->kind == WEFT__EV_HOOK && e->extra == (uint16_t)ev;
}

static bool ends_slice(const weft__event *e)
{
    return is_hook(e, WEFT_HOOK_YIELD) || is_hook(e, WEFT_HOOK_PARK) || is_hook(e, WEFT_HOOK_FINISH);
}

static bool starts_slice(const weft__event *e)
{
    return is_hook(e, WEFT_HOOK_START) || is_hook(e, WEFT_HOOK_RESUME);
}

/* Who took each step: the worker that emitted it, for the task on that
 * worker (the one it starts or resumes, or the one already there). Steps of
 * no worker (a clock jump, a deadlock found) end no run. Up to the failure. */
static int runs_build(model *m)
{
    m->runs = malloc((m->n + 1) * sizeof *m->runs);
    if (!m->runs)
        return WEFT_ENOMEM;
    uint64_t cur[WEFT_WORKERS_MAX] = {0};
    for (size_t i = 0; i < m->n; i++) {
        const weft__event *e = &m->v[i].e;
        if (e->worker >= 0 && e->worker < WEFT_WORKERS_MAX) {
            unsigned w = (unsigned)e->worker;
            uint64_t task = starts_slice(e) ? e->b : cur[w];
            run *last = m->nruns ? &m->runs[m->nruns - 1] : NULL;
            if (last && last->worker == w && last->task == task)
                last->b = i;
            else
                m->runs[m->nruns++] = (run){w, task, i, i};
            if (starts_slice(e))
                cur[w] = e->b;
            else if (ends_slice(e))
                cur[w] = 0;
        }
        if (i == m->fail)
            break;
    }
    return 0;
}

static int model_build(const weft_rt *rt, model *m)
{
    memset(m, 0, sizeof *m);
    m->s = weft__sim_of(rt);
    m->nworkers = rt->nworkers;
    m->fail = SIZE_MAX;
    m->v = malloc((m->s->ev_len + 1) * sizeof *m->v);
    if (!m->v)
        return WEFT_ENOMEM;
    uint64_t max = 0;
    weft__cursor c = {.s = m->s};
    for (const weft__event *e; (e = weft__trace_next(&c)) != NULL;) {
        if (e->kind == WEFT__EV_DECIDE && e->text) {
            m->folded++;
            continue;
        }
        if (e->kind == WEFT__EV_FAIL && m->fail == SIZE_MAX)
            m->fail = m->n;
        if (e->kind == WEFT__EV_HOOK && e->extra == WEFT_HOOK_SPAWN && e->b > max)
            max = e->b;
        m->v[m->n++] = (shown){*e, c.time};
    }
    m->ntasks = max + 1;
    m->names = calloc(m->ntasks, sizeof *m->names);
    if (!m->names)
        return WEFT_ENOMEM;
    for (size_t i = 0; i < m->n; i++) {
        const weft__event *e = &m->v[i].e;
        if (e->kind == WEFT__EV_HOOK && e->extra == WEFT_HOOK_SPAWN)
            m->names[e->b] = e->text;
    }
    return runs_build(m);
}

static void model_free(model *m)
{
    free(m->v);
    free(m->names);
    free(m->runs);
}

static const char *name_of(const model *m, uint64_t id)
{
    return id < m->ntasks && m->names[id] ? m->names[id] : NULL;
}

static int need_record(const weft_rt *rt, const char *path, const char *what)
{
    if (!rt || !path || !weft__sim_of(rt) || !weft__sim_of(rt)->ev_len)
        return WEFT_MISUSE_RT(rt, WEFT_EINVAL, "%s: nothing recorded (set sim.record_trace or WEFT_TRACE)", what);
    return 0;
}

/* ---- Chrome trace-event JSON ---- */

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch == '\n')
            fputs("\\n", f);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

/* A timestamp in µs with ns precision: events at one virtual instant are
 * spread 1 ns apart, in order, so none hides another. */
static void json_ts(FILE *f, uint64_t ns)
{
    fprintf(f, "%" PRIu64 ".%03u", ns / 1000, (unsigned)(ns % 1000));
}

/* Each virtual worker is a thread lane; a task running on it is a complete
 * ("X") slice from its start/resume to the event that took it off the worker;
 * other events are instants. Timestamps are virtual time. */
int weft_rt_trace_write_json(const weft_rt *rt, const char *path)
{
    int r = need_record(rt, path, "weft_rt_trace_write_json");
    if (r < 0)
        return r;
    model m;
    if ((r = model_build(rt, &m)) < 0) {
        model_free(&m);
        return r;
    }
    FILE *f = fopen(path, "w");
    if (!f) {
        model_free(&m);
        return WEFT_EIO;
    }
    const weft__sim *s = m.s;
    fprintf(f,
            "{\"displayTimeUnit\":\"ns\",\"otherData\":{\"seed\":\"%" PRIu64 "\",\"hash\":\"%016" PRIx64
            "\",\"time\":\"virtual\",\"folded_decisions\":%zu,\"folded\":\"decisions that kept the running worker\"},"
            "\"traceEvents\":[\n",
            s->seed, s->th.hash, m.folded);
    fprintf(f, "{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":1,\"args\":{\"name\":\"weft simulation\"}}");
    for (unsigned w = 0; w < m.nworkers; w++)
        fprintf(f, ",\n{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":1,\"tid\":%u,\"args\":{\"name\":\"worker %u\"}}",
                w, w);
    enum { MAXW = WEFT_WORKERS_MAX };
    uint64_t open_ts[MAXW], open_task[MAXW];
    bool open[MAXW] = {false};
    char line[1024];
    uint64_t ts = 0;
    for (size_t i = 0; i < m.n; i++) {
        const weft__event *e = &m.v[i].e;
        uint64_t time = m.v[i].time;
        ts = i == 0 || time > ts ? time : ts + 1;
        int w = e->worker;
        if (e->kind == WEFT__EV_HOOK && w >= 0 && w < MAXW) {
            if (starts_slice(e)) {
                open[w] = true;
                open_ts[w] = ts;
                open_task[w] = e->b;
                continue;
            }
            if (ends_slice(e) && open[w] && open_task[w] == e->b) {
                char name[160];
                const char *n = name_of(&m, e->b);
                snprintf(name, sizeof name, "task %" PRIu64 "%s%s", e->b, n ? " " : "", n ? n : "");
                fprintf(f, ",\n{\"ph\":\"X\",\"pid\":1,\"tid\":%d,\"ts\":", w);
                json_ts(f, open_ts[w]);
                fprintf(f, ",\"dur\":");
                json_ts(f, ts - open_ts[w] + 1);
                fprintf(f, ",\"name\":");
                json_string(f, name);
                fprintf(f, ",\"args\":{\"ended_by\":\"%s\"", weft_hook_event_name((weft_hook_event)e->extra));
                if (e->text) {
                    fprintf(f, ",\"blocked_on\":");
                    json_string(f, e->text);
                }
                fprintf(f, ",\"virtual_ns\":%" PRIu64 "}}", time);
                open[w] = false;
            }
        }
        if (e->kind == WEFT__EV_FAIL || e->kind == WEFT__EV_NOTE) {
            /* The whole text, not the one-line form: a deadlock report lists
             * every blocked task. */
            fprintf(f, ",\n{\"ph\":\"i\",\"s\":\"%s\",\"pid\":1,\"tid\":%d,\"ts\":",
                    e->kind == WEFT__EV_FAIL ? "g" : "t", w < 0 ? 0 : w);
            json_ts(f, ts);
            fprintf(f, ",\"name\":");
            if (e->kind == WEFT__EV_FAIL) {
                snprintf(line, sizeof line, "run failed: %s", weft_strerror((int)e->a));
                json_string(f, line);
                fprintf(f, ",\"args\":{\"message\":");
                json_string(f, e->text ? e->text : "");
            } else {
                json_string(f, e->text ? e->text : "");
                fprintf(f, ",\"args\":{\"task\":%" PRIu64, e->b);
            }
            fprintf(f, ",\"virtual_ns\":%" PRIu64 "}}", time);
            continue;
        }
        weft__trace_format(e, time, line, sizeof line);
        fprintf(f, ",\n{\"ph\":\"i\",\"s\":\"t\",\"pid\":1,\"tid\":%d,\"ts\":", w < 0 ? 0 : w);
        json_ts(f, ts);
        fprintf(f, ",\"name\":");
        json_string(f, line);
        fprintf(f, ",\"args\":{\"virtual_ns\":%" PRIu64 "}}", time);
    }
    fprintf(f, "\n]}\n");
    model_free(&m);
    return fclose(f) == 0 ? 0 : WEFT_EIO;
}

/* ---- the HTML page ---- */

static void html_text(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* A task's colour: hues spread by the golden angle, by id (never by
 * address), so a task keeps its colour between runs of the same seed. */
static unsigned hue(uint64_t id)
{
    return (unsigned)((id * 137508u / 1000u) % 360u);
}

static void task_label(const model *m, uint64_t id, char *buf, size_t len)
{
    const char *n = name_of(m, id);
    snprintf(buf, len, "task %" PRIu64 "%s%s", id, n ? " " : "", n ? n : "");
}

/* Virtual time for people: the largest unit that keeps it short. */
static void human_time(uint64_t ns, char *buf, size_t len)
{
    if (ns < 1000)
        snprintf(buf, len, "%" PRIu64 " ns", ns);
    else if (ns < 1000000)
        snprintf(buf, len, "%.3g us", (double)ns / 1e3);
    else if (ns < 1000000000)
        snprintf(buf, len, "%.3g ms", (double)ns / 1e6);
    else
        snprintf(buf, len, "%.4g s", (double)ns / 1e9);
}

/* Columns [a, b] of n as CSS: left and width in percent of the lane. */
static void place(FILE *f, size_t a, size_t b, size_t n)
{
    fprintf(f, "left:%.4f%%;width:%.4f%%", 100.0 * (double)a / (double)n, 100.0 * (double)(b - a + 1) / (double)n);
}

static const char *const css =
    "body{font:13px/1.4 system-ui,sans-serif;margin:16px;color:#222}"
    "h1{font-size:18px;margin:0 0 4px}h2{font-size:15px;margin:18px 0 6px}"
    ".meta{color:#555}.failure{border-left:4px solid #d00;background:#fff0f0;padding:6px 10px;margin:8px 0}"
    ".failure pre{margin:4px 0 0;white-space:pre-wrap}"
    ".legend span.key{display:inline-block;width:12px;height:12px;border-radius:2px;margin:0 4px 0 12px;"
    "vertical-align:middle}"
    ".chart{margin-top:10px;overflow-x:auto}.inner{min-width:600px}"
    ".row{display:flex;align-items:center;border-bottom:1px solid #eee}"
    ".label{flex:none;width:170px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;padding-right:6px}"
    ".lane{position:relative;flex:1;height:24px}.axis .lane{height:18px}"
    ".section{font-weight:600;margin:10px 0 2px}"
    ".slice,.run,.span{position:absolute;box-sizing:border-box;min-width:2px}"
    ".slice{top:3px;height:18px;opacity:.35;border-radius:2px}"
    ".run{top:3px;height:18px;border-radius:2px}"
    ".span{top:4px;height:16px}"
    ".span.ready{opacity:.25}.span.blocked{background:repeating-linear-gradient(45deg,#999 0 3px,#ddd 3px 6px)}"
    ".span.done{display:none}"
    ".decision{position:absolute;top:0;width:2px;height:6px;background:#333;margin-left:-1px}"
    ".note{position:absolute;top:5px;width:10px;height:10px;margin-left:-5px;background:#fc0;border:1px solid #960;"
    "transform:rotate(45deg)}"
    ".fail{position:absolute;top:0;bottom:0;width:3px;margin-left:-1px;background:#d00;z-index:5}"
    ".tick{position:absolute;top:0;height:18px;border-left:1px solid #bbb;padding-left:2px;font-size:11px;"
    "color:#666;white-space:nowrap}"
    "table.events{border-collapse:collapse;font:12px/1.3 ui-monospace,monospace}"
    "table.events td,table.events th{padding:1px 8px;text-align:left;border-bottom:1px solid #f0f0f0}"
    "table.events tr.fail-row td{background:#fdd;font-weight:600}"
    "table.events tr.note-row td{background:#fff6cc}";

/* Per worker: which task is on it (0: none) since which column. */
typedef struct onw {
    uint64_t task;
    size_t since;
    bool busy;
} onw;

static void fail_marker(FILE *f, const model *m)
{
    if (m->fail != SIZE_MAX)
        fprintf(f, "<div class=\"fail\" data-col=\"%zu\" style=\"left:%.4f%%\" title=\"the run failed here\"></div>",
                m->fail, 100.0 * ((double)m->fail + 0.5) / (double)m->n);
}

static void worker_lane(FILE *f, const model *m, unsigned w)
{
    fprintf(f, "<div class=\"row\"><div class=\"label\">worker %u</div><div class=\"lane\" data-worker=\"%u\">", w, w);
    char label[200], text[1024];
    /* Slices: a task on this worker from start/resume to yield/park/finish
     * (or the failure, or the end). */
    onw on = {0, 0, false};
    for (size_t i = 0; i < m->n; i++) {
        const weft__event *e = &m->v[i].e;
        bool fail = i == m->fail;
        if (e->worker == (int)w && starts_slice(e)) {
            on = (onw){e->b, i, true};
            continue;
        }
        bool end = (e->worker == (int)w && ends_slice(e) && on.busy && on.task == e->b) || (fail && on.busy);
        if (end || (on.busy && i + 1 == m->n)) {
            task_label(m, on.task, label, sizeof label);
            fprintf(f, "<div class=\"slice\" data-task=\"%" PRIu64 "\" style=\"background:hsl(%u,65%%,50%%);",
                    on.task, hue(on.task));
            place(f, on.since, i, m->n);
            fprintf(f, "\" title=\"");
            html_text(f, label);
            if (end && !fail && is_hook(e, WEFT_HOOK_PARK))
                fprintf(f, " on worker %u, until it blocked on a %s", w, e->text ? e->text : "wait");
            else if (end && !fail && is_hook(e, WEFT_HOOK_YIELD))
                fprintf(f, " on worker %u, until it yielded", w);
            else if (end && !fail)
                fprintf(f, " on worker %u, until it finished", w);
            else
                fprintf(f, " on worker %u, until the run ended", w);
            fprintf(f, "\"></div>");
            on.busy = false;
        }
        if (fail)
            break;
    }
    /* Runs: the steps this worker actually took, in the one order the
     * simulator ran them: the interleaving itself. */
    for (size_t k = 0; k < m->nruns; k++) {
        const run *u = &m->runs[k];
        if (u->worker != w)
            continue;
        fprintf(f, "<div class=\"run\" data-task=\"%" PRIu64 "\" data-start=\"%zu\" data-end=\"%zu\" style=\"",
                u->task, u->a, u->b);
        if (u->task)
            fprintf(f, "background:hsl(%u,65%%,45%%);", hue(u->task));
        else
            fprintf(f, "background:#bbb;");
        place(f, u->a, u->b, m->n);
        if (u->task)
            task_label(m, u->task, label, sizeof label);
        else
            snprintf(label, sizeof label, "the scheduler of worker %u", w);
        fprintf(f, "\" title=\"");
        html_text(f, label);
        fprintf(f, " runs on worker %u (steps %zu-%zu)\"></div>", w, u->a, u->b);
    }
    /* Decisions that chose something, and notes, as markers. */
    for (size_t i = 0; i < m->n; i++) {
        const weft__event *e = &m->v[i].e;
        if (e->worker != (int)w || (e->kind != WEFT__EV_DECIDE && e->kind != WEFT__EV_NOTE))
            continue;
        weft__trace_format(e, m->v[i].time, text, sizeof text);
        fprintf(f, "<div class=\"%s\" style=\"left:%.4f%%\" title=\"", e->kind == WEFT__EV_NOTE ? "note" : "decision",
                100.0 * ((double)i + 0.5) / (double)m->n);
        html_text(f, text);
        fprintf(f, "\"></div>");
    }
    fail_marker(f, m);
    fprintf(f, "</div></div>\n");
}

enum { ST_NONE, ST_READY, ST_RUNNING, ST_BLOCKED, ST_DONE };

static void span(FILE *f, const model *m, uint64_t task, int state, size_t a, size_t b, unsigned worker,
                 const char *reason, bool still)
{
    static const char *const cls[] = {"", "ready", "running", "blocked", "done"};
    char label[200];
    task_label(m, task, label, sizeof label);
    fprintf(f, "<div class=\"span %s\" style=\"", cls[state]);
    if (state == ST_RUNNING || state == ST_READY)
        fprintf(f, "background:hsl(%u,65%%,%s);", hue(task), state == ST_RUNNING ? "45%" : "60%");
    place(f, a, b, m->n);
    fprintf(f, "\" title=\"");
    html_text(f, label);
    if (state == ST_RUNNING)
        fprintf(f, " runs on worker %u", worker);
    else if (state == ST_READY)
        fprintf(f, " is ready to run");
    else if (state == ST_BLOCKED) {
        fprintf(f, " is blocked on a ");
        html_text(f, reason ? reason : "wait");
        if (still)
            fprintf(f, ", and still was when the run ended");
    }
    fprintf(f, "\"></div>");
}

static void task_lane(FILE *f, const model *m, uint64_t id)
{
    char label[200], text[1024];
    task_label(m, id, label, sizeof label);
    fprintf(f, "<div class=\"row\"><div class=\"label\" title=\"");
    html_text(f, label);
    fprintf(f, "\"><span class=\"key\" style=\"display:inline-block;width:10px;height:10px;margin-right:4px;"
               "background:hsl(%u,65%%,50%%)\"></span>",
            hue(id));
    html_text(f, label);
    fprintf(f, "</div><div class=\"lane\" data-task=\"%" PRIu64 "\">", id);
    int state = ST_NONE;
    size_t since = 0;
    unsigned worker = 0;
    const char *reason = NULL;
    size_t last = m->fail != SIZE_MAX ? m->fail : m->n - 1;
    for (size_t i = 0; i <= last; i++) {
        const weft__event *e = &m->v[i].e;
        int next = state;
        if (e->kind == WEFT__EV_HOOK && e->b == id) {
            switch ((weft_hook_event)e->extra) {
            case WEFT_HOOK_SPAWN: next = ST_READY; break;
            case WEFT_HOOK_START:
            case WEFT_HOOK_RESUME: next = ST_RUNNING; break;
            case WEFT_HOOK_YIELD:
            case WEFT_HOOK_WAKE: next = ST_READY; break;
            case WEFT_HOOK_PARK: next = ST_BLOCKED; break;
            case WEFT_HOOK_FINISH: next = ST_DONE; break;
            default: break;
            }
        }
        if (next != state) {
            if (state != ST_NONE && i > since)
                span(f, m, id, state, since, i - 1, worker, reason, false);
            state = next;
            since = i;
            if (next == ST_RUNNING)
                worker = (unsigned)(e->worker < 0 ? 0 : e->worker);
            if (next == ST_BLOCKED)
                reason = e->text;
        }
    }
    if (state != ST_NONE && state != ST_DONE)
        span(f, m, id, state, since, last, worker, reason, state == ST_BLOCKED);
    for (size_t i = 0; i <= last; i++) {
        const weft__event *e = &m->v[i].e;
        if (e->kind != WEFT__EV_NOTE || e->b != id)
            continue;
        weft__trace_format(e, m->v[i].time, text, sizeof text);
        fprintf(f, "<div class=\"note\" style=\"left:%.4f%%\" title=\"", 100.0 * ((double)i + 0.5) / (double)m->n);
        html_text(f, text);
        fprintf(f, "\"></div>");
    }
    fail_marker(f, m);
    fprintf(f, "</div></div>\n");
}

/* Ticks where virtual time moved, labelled when there is room. */
static void time_axis(FILE *f, const model *m)
{
    fprintf(f, "<div class=\"row axis\"><div class=\"label\">virtual time</div><div class=\"lane\">");
    double last_label = -100;
    char t[32];
    for (size_t i = 0; i < m->n; i++) {
        if (i > 0 && m->v[i].time == m->v[i - 1].time)
            continue;
        double at = 100.0 * (double)i / (double)m->n;
        bool room = at - last_label >= 8.0;
        human_time(m->v[i].time, t, sizeof t);
        fprintf(f, "<div class=\"tick\" style=\"left:%.4f%%\" title=\"t = %" PRIu64 " ns\">%s</div>", at,
                m->v[i].time, room ? t : "");
        if (room)
            last_label = at;
    }
    fprintf(f, "</div></div>\n");
}

int weft_rt_trace_write_html(const weft_rt *rt, const char *path)
{
    int r = need_record(rt, path, "weft_rt_trace_write_html");
    if (r < 0)
        return r;
    model m;
    if ((r = model_build(rt, &m)) < 0) {
        model_free(&m);
        return r;
    }
    if (m.n == 0) {
        model_free(&m);
        return WEFT_MISUSE_RT(rt, WEFT_EINVAL, "weft_rt_trace_write_html: nothing recorded");
    }
    FILE *f = fopen(path, "w");
    if (!f) {
        model_free(&m);
        return WEFT_EIO;
    }
    const weft__sim *s = m.s;
    char t0[32], t1[32];
    human_time(m.v[0].time, t0, sizeof t0);
    human_time(m.v[m.n - 1].time, t1, sizeof t1);
    fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
               "<title>weft timeline, seed %" PRIu64 "</title><style>%s</style></head><body>\n",
            s->seed, css);
    fprintf(f, "<h1>weft timeline</h1>\n<p class=\"meta\">%u virtual worker(s), %" PRIu64 " task(s); %zu events "
               "shown, %zu decisions that kept the running worker folded away; virtual time %s to %s; trace hash "
               "%016" PRIx64 "%s</p>\n",
            m.nworkers, m.ntasks ? m.ntasks - 1 : 0, m.n, m.folded, t0, t1, s->th.hash,
            s->record ? "" : " (recording stopped early: out of memory)");
    if (m.fail != SIZE_MAX) {
        const weft__event *e = &m.v[m.fail].e;
        fprintf(f, "<div class=\"failure\" id=\"failure\" data-col=\"%zu\"><b>The run failed at step %zu: %s</b><pre>",
                m.fail, m.fail, weft_strerror((int)e->a));
        html_text(f, e->text ? e->text : "");
        fprintf(f, "</pre></div>\n");
    }
    fprintf(f, "<div class=\"legend\">");
    char label[200];
    for (uint64_t id = 1; id < m.ntasks; id++) {
        task_label(&m, id, label, sizeof label);
        fprintf(f, "<span class=\"key\" style=\"background:hsl(%u,65%%,50%%)\"></span>", hue(id));
        html_text(f, label);
    }
    fprintf(f, "</div>\n<div class=\"chart\"><div class=\"inner\" style=\"min-width:%zupx\">\n",
            170 + (m.n < 2000 ? m.n : 2000) * 3);
    time_axis(f, &m);
    fprintf(f, "<div class=\"section\">Virtual workers: the task on each (pale) and the steps it took (solid), "
               "in the order the simulator ran them</div>\n");
    for (unsigned w = 0; w < m.nworkers; w++)
        worker_lane(f, &m, w);
    fprintf(f, "<div class=\"section\">Tasks: running (solid), ready (pale), blocked (hatched; hover for on "
               "what), notes (yellow)</div>\n");
    for (uint64_t id = 1; id < m.ntasks; id++)
        task_lane(f, &m, id);
    fprintf(f, "</div></div>\n<h2>Events</h2>\n<table class=\"events\"><tr><th>step</th><th>virtual time</th>"
               "<th>event</th></tr>\n");
    char text[1024], t[32];
    for (size_t i = 0; i < m.n; i++) {
        const weft__event *e = &m.v[i].e;
        weft__trace_format(e, m.v[i].time, text, sizeof text);
        human_time(m.v[i].time, t, sizeof t);
        const char *cls = i == m.fail ? " class=\"fail-row\"" : e->kind == WEFT__EV_NOTE ? " class=\"note-row\"" : "";
        fprintf(f, "<tr%s><td>%zu</td><td>%s</td><td>", cls, i, t);
        /* The line without its own "t=<ns> " prefix: the column says it. */
        const char *body = strchr(text, ' ');
        html_text(f, body ? body + 1 : text);
        fprintf(f, "</td></tr>\n");
    }
    fprintf(f, "</table>\n</body></html>\n");
    model_free(&m);
    return fclose(f) == 0 ? 0 : WEFT_EIO;
}
