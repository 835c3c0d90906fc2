/* test_timeline.c — timelines a person can read: virtual time, the failed
 * assertion and the deadlock report in the trace and both timelines, the
 * decisions that kept the running worker folded away, notes on the task's
 * lane (never moving the interleaving), and the HTML page's lanes, steps and
 * failure marker, self-contained. */
#define _GNU_SOURCE
#include "../examples/bank.h"
#include "support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct recorded {
    weft_rt *rt;
    int status;
} recorded;

/* fn under cfg with the trace recorded; the runtime stays for exporting. */
static recorded record(weft_config c, weft_fn fn, void *arg)
{
    c.sim.record_trace = 1;
    recorded r;
    ck_assert_weft(weft_rt_new(&r.rt, &c), 0);
    r.status = weft_rt_block_on(r.rt, fn, arg, NULL);
    return r;
}

typedef enum { TEXT, JSON, HTML } format;

/* The export as a string (malloc'ed). */
static char *export(const recorded *r, format f)
{
    char path[512];
    static const char *const ext[] = {".txt", ".json", ".html"};
    temp_file(path, sizeof path, "timeline", ext[f]);
    int e = f == TEXT ? weft_rt_trace_write_text(r->rt, path)
            : f == JSON ? weft_rt_trace_write_json(r->rt, path)
                        : weft_rt_trace_write_html(r->rt, path);
    ck_assert_weft(e, 0);
    char *s = slurp(path, NULL);
    unlink(path);
    return s;
}

static size_t count(const char *s, const char *what)
{
    size_t n = 0;
    for (const char *p = s; (p = strstr(p, what)) != NULL; p += strlen(what))
        n++;
    return n;
}

/* ---- virtual time ---- */

static void *sleeps_between_steps(void *arg)
{
    (void)arg;
    weft_yield();
    weft_sleep(1500 * 1000); /* 1.5 ms */
    weft_yield();
    return NULL;
}

START_TEST(timestamps_are_virtual_time)
{
    recorded r = record(test_config(1, 3), sleeps_between_steps, NULL);
    ck_assert_weft(r.status, 0);
    char *json = export(&r, JSON);
    ck_assert_msg(strstr(json, "\"time\":\"virtual\""), "%.300s", json);
    /* Before the sleep, the clock reads 0 (events 1 ns apart, in order);
     * after it, 1.5 ms: ts is in µs. */
    ck_assert_msg(strstr(json, "\"ts\":0.001"), "%.1500s", json);
    ck_assert_msg(strstr(json, "\"ts\":1500.000"), "no event at 1.5 ms: %.1500s", json);
    char *html = export(&r, HTML);
    ck_assert_msg(strstr(html, ">1.5 ms</div>"), "no 1.5 ms tick: %.1500s", html);
    free(json);
    free(html);
    weft_rt_free(r.rt);
}
END_TEST

/* ---- the failure, in the trace and both timelines ---- */

START_TEST(the_failed_assertion_is_in_trace_and_timelines)
{
    weft_explore_opts o;
    memset(&o, 0, sizeof o);
    o.cfg = test_config(2, 0);
    o.flags = WEFT_EXPLORE_QUIET;
    weft_explore_result e;
    ck_assert_weft(weft_explore(&o, bank_lost_update_test, NULL, &e), 0);
    ck_assert_uint_eq(e.failures, 1);
    const char *expr = "assertion failed: bank_total(&amp;b) == BANK_OPENING * BANK_ACCOUNTS ("; /* as HTML */
    recorded r = record(test_config(2, e.failing_seed), bank_lost_update_test, NULL);
    ck_assert_weft(r.status, WEFT_EFAILED);
    char *text = export(&r, TEXT), *json = export(&r, JSON), *html = export(&r, HTML);
    ck_assert_msg(strstr(text, "run failed: simulated run failed: assertion failed: bank_total"), "%.1500s", text);
    ck_assert_msg(strstr(text, "bank.h:"), "no file and line: %.1500s", text);
    ck_assert_msg(strstr(json, "\"message\":\"assertion failed: bank_total(&b) == BANK_OPENING * BANK_ACCOUNTS ("),
                  "%.1500s", json);
    ck_assert_msg(strstr(html, "<b>The run failed at step") && strstr(html, expr) && strstr(html, "bank.h:"),
                  "%.1500s", html);
    /* The failing step is marked on every lane, and its row in the table. */
    ck_assert_uint_eq(count(html, "<div class=\"fail\""), 2 + 7); /* 2 workers, 7 tasks */
    ck_assert_uint_eq(count(html, "class=\"fail-row\""), 1);
    free(text);
    free(json);
    free(html);
    weft_rt_free(r.rt);
    weft_explore_result_free(&e);
}
END_TEST

START_TEST(the_deadlock_report_is_in_trace_and_timelines)
{
    weft_explore_opts o;
    memset(&o, 0, sizeof o);
    o.cfg = test_config(2, 0);
    o.flags = WEFT_EXPLORE_QUIET;
    weft_explore_result e;
    ck_assert_weft(weft_explore(&o, bank_deadlock_test, NULL, &e), 0);
    ck_assert_weft(e.status, WEFT_EDEADLK);
    recorded r = record(test_config(2, e.failing_seed), bank_deadlock_test, NULL);
    ck_assert_weft(r.status, WEFT_EDEADLK);
    char *text = export(&r, TEXT), *json = export(&r, JSON), *html = export(&r, HTML);
    /* Text: one line per event, so the report's lines are joined. */
    ck_assert_msg(strstr(text, "run failed: deadlock: the wait could never end: deadlock: 3 task(s) blocked and "
                               "nothing can wake them:; task 1 (root) waits on a scope; task "),
                  "%.1500s", text);
    /* JSON: the whole report, its newlines escaped. */
    ck_assert_msg(strstr(json, "can wake them:\\n  task 1 (root) waits on a scope\\n  task "), "%.1500s", json);
    ck_assert_msg(strstr(html, "(a-&gt;b) waits on a mutex held by task") &&
                      strstr(html, "(b-&gt;a) waits on a mutex held by task"),
                  "%.1500s", html);
    /* The blocked tasks' lanes say, on hover, what they wait on and that
     * they never stopped waiting. */
    ck_assert_msg(strstr(html, "task 2 a-&gt;b is blocked on a mutex, and still was when the run ended"), "%.1500s", html);
    free(text);
    free(json);
    free(html);
    weft_rt_free(r.rt);
    weft_explore_result_free(&e);
}
END_TEST

/* ---- folding ---- */

static void *yielders(void *arg)
{
    (void)arg;
    weft_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = spawn_ok(returns_arg, NULL);
    for (int i = 0; i < 20; i++)
        weft_yield();
    for (int i = 0; i < 3; i++)
        weft_join(t[i], NULL);
    return NULL;
}

START_TEST(decisions_that_kept_the_worker_are_folded)
{
    recorded r = record(test_config(2, 9), yielders, NULL);
    ck_assert_weft(r.status, 0);
    char *text = export(&r, TEXT), *json = export(&r, JSON), *html = export(&r, HTML);
    size_t in_text = count(text, " decide "), in_json = count(json, " decide ");
    const char *f = strstr(json, "\"folded_decisions\":");
    ck_assert_ptr_nonnull(f);
    size_t folded = strtoul(f + strlen("\"folded_decisions\":"), NULL, 10);
    ck_assert_uint_gt(folded, 0);
    ck_assert_uint_eq(in_json + folded, in_text);
    /* What is left are choices that changed something or were not
     * "stay": none of them a kept preemption point. */
    char want[96];
    snprintf(want, sizeof want, "%zu decisions that kept the running worker folded away", folded);
    ck_assert_msg(strstr(html, want), "%.1500s", html);
    free(text);
    free(json);
    free(html);
    weft_rt_free(r.rt);
}
END_TEST

/* ---- notes ---- */

static int g_notes; /* whether the transfers make notes */

static int noting_transfer(void *arg)
{
    transfer *t = arg;
    if (g_notes)
        weft_sim_note("moving %lld from %d to %d", (long long)t->amount, t->from, t->to);
    int r = transfer_fixed(arg);
    if (g_notes)
        weft_sim_note("moved %lld", (long long)t->amount);
    return r;
}

static void *notes_body(void *arg)
{
    (void)arg;
    bank b;
    WEFT_ASSERT(bank_open(&b) == 0);
    transfer t[2] = {{0, 0, 1, 10, "a->b"}, {0, 1, 0, 20, "b->a"}};
    WEFT_ASSERT(bank_run(&b, t, 2, noting_transfer) == 0);
    WEFT_ASSERT(bank_close(&b) == 0);
    return NULL;
}

START_TEST(notes_show_on_the_task_lane_and_never_move_the_interleaving)
{
    g_notes = 0;
    recorded plain = record(test_config(2, 4), notes_body, NULL);
    g_notes = 1;
    recorded with = record(test_config(2, 4), notes_body, NULL);
    ck_assert_weft(plain.status, 0);
    ck_assert_weft(with.status, 0);
    char *a, *b;
    ck_assert_weft(weft_rt_schedule(plain.rt, &a, NULL), 0);
    ck_assert_weft(weft_rt_schedule(with.rt, &b, NULL), 0);
    ck_assert_str_eq(a, b); /* the same decisions */
    free(a);
    free(b);
    /* …but a note is part of the run: its hash says so. */
    ck_assert_uint_ne(weft_rt_trace_hash(plain.rt), weft_rt_trace_hash(with.rt));
    char *text = export(&with, TEXT), *json = export(&with, JSON), *html = export(&with, HTML);
    ck_assert_uint_eq(count(text, " note: "), 4);
    ck_assert_msg(strstr(text, "note: moving 10 from 0 to 1"), "%.1500s", text);
    ck_assert_msg(strstr(json, "\"name\":\"moving 20 from 1 to 0\""), "%.1500s", json);
    /* In the HTML, each note is on its task's lane (and the worker's). */
    const char *lane = strstr(html, "<div class=\"lane\" data-task=\"2\">");
    ck_assert_ptr_nonnull(lane);
    const char *end = strstr(lane, "</div></div>");
    const char *note = strstr(lane, "note: moving 10 from 0 to 1");
    ck_assert_msg(note && note < end, "the note of task 2 is not on its lane: %.1500s", html);
    free(text);
    free(json);
    free(html);
    weft_rt_free(plain.rt);
    weft_rt_free(with.rt);
    /* Outside a simulated task a note does nothing. */
    weft_sim_note("nobody hears this %d", 1);
    weft_config t = threaded_config();
    g_notes = 1;
    ck_assert_weft(run_in(&t, notes_body, NULL, NULL), 0);
    g_notes = 0;
}
END_TEST

/* ---- the page ---- */

START_TEST(the_html_page_is_self_contained_with_a_lane_per_worker_and_task)
{
    recorded r = record(test_config(4, 11), yielders, NULL);
    ck_assert_weft(r.status, 0);
    char *html = export(&r, HTML);
    ck_assert_msg(!strncmp(html, "<!DOCTYPE html>", 15), "%.100s", html);
    ck_assert_msg(strstr(html, "</html>\n"), "truncated");
    for (int w = 0; w < 4; w++) {
        char lane[64];
        snprintf(lane, sizeof lane, "data-worker=\"%d\"", w);
        ck_assert_uint_eq(count(html, lane), 1);
    }
    ck_assert_uint_eq(count(html, "<div class=\"lane\" data-task="), 4); /* the root and its 3 children */
    ck_assert_uint_gt(count(html, "class=\"run\""), 4);
    ck_assert_uint_eq(count(html, "class=\"fail\""), 0);
    /* Nothing to fetch: no script, no links, no imports. */
    ck_assert_uint_eq(count(html, "<script"), 0);
    ck_assert_uint_eq(count(html, "src="), 0);
    ck_assert_uint_eq(count(html, "href="), 0);
    ck_assert_uint_eq(count(html, "url("), 0);
    ck_assert_uint_eq(count(html, "@import"), 0);
    free(html);
    /* Refusals: nothing recorded, no path, a path that cannot be written. */
    ck_assert_weft(weft_rt_trace_write_html(r.rt, "/nonexistent-dir/x.html"), WEFT_EIO);
    ck_assert_weft(weft_rt_trace_write_html(r.rt, NULL), WEFT_EINVAL);
    ck_assert_weft(weft_rt_trace_write_html(NULL, "/tmp/x.html"), WEFT_EINVAL);
    weft_rt_free(r.rt);
    weft_config q = test_config(1, 0);
    weft_rt *rt;
    ck_assert_weft(weft_rt_new(&rt, &q), 0);
    ck_assert_weft(weft_rt_trace_write_html(rt, "/tmp/never.html"), WEFT_EINVAL);
    weft_rt_free(rt);
}
END_TEST

START_TEST(weft_trace_names_the_format_by_its_extension)
{
    static const char *const ext[] = {".html", ".json", ".txt"};
    static const char *const starts[] = {"<!DOCTYPE html>", "{\"displayTimeUnit\"", "# weft trace: seed 6"};
    for (int i = 0; i < 3; i++) {
        char path[512];
        temp_file(path, sizeof path, "weft-trace", ext[i]);
        setenv("WEFT_TRACE", path, 1);
        weft_config c = test_config(2, 6);
        c.flags = WEFT_CFG_QUIET; /* the environment applies */
        ck_assert_weft(run_in(&c, yielders, NULL, NULL), 0);
        unsetenv("WEFT_TRACE");
        char *got = slurp(path, NULL);
        ck_assert_msg(!strncmp(got, starts[i], strlen(starts[i])), "%s: %.100s", ext[i], got);
        free(got);
        unlink(path);
    }
}
END_TEST

Suite *suite_timeline(void)
{
    Suite *s = suite_create("timeline");
    TCase *tc = tcase_create("timeline");
    tcase_add_test(tc, timestamps_are_virtual_time);
    tcase_add_test(tc, the_failed_assertion_is_in_trace_and_timelines);
    tcase_add_test(tc, the_deadlock_report_is_in_trace_and_timelines);
    tcase_add_test(tc, decisions_that_kept_the_worker_are_folded);
    tcase_add_test(tc, notes_show_on_the_task_lane_and_never_move_the_interleaving);
    tcase_add_test(tc, the_html_page_is_self_contained_with_a_lane_per_worker_and_task);
    tcase_add_test(tc, weft_trace_names_the_format_by_its_extension);
    suite_add_tcase(s, tc);
    return s;
}
