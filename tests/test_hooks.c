/* test_hooks.c — lifecycle hooks: the exact event sequence of a small
 * program, adding and removing hooks at run time, and the events that
 * cancellation and shutdown report. */
#include "support.h"

#include <stdio.h>
#include <string.h>

typedef struct log {
    char text[4096];
    int n;
} log_t;

static void log_event(void *ctx, const weft_hook_info *i)
{
    log_t *l = ctx;
    char one[96];
    snprintf(one, sizeof one, "%s%s:%llu%s%s%s", l->n ? " " : "", weft_hook_event_name(i->event),
             (unsigned long long)i->task_id, i->reason ? "(" : "", i->reason ? i->reason : "", i->reason ? ")" : "");
    if (i->event == WEFT_HOOK_FINISH || i->event == WEFT_HOOK_CANCEL)
        snprintf(one + strlen(one), sizeof one - strlen(one), "=%d", i->status);
    strncat(l->text, one, sizeof l->text - strlen(l->text) - 1);
    l->n++;
}

static void *child(void *arg)
{
    (void)arg;
    weft_yield();
    weft_sleep(10);
    return NULL;
}

static void *parent(void *arg)
{
    (void)arg;
    weft_task *t;
    ck_assert_weft(weft_spawn(&t, child, NULL), 0);
    ck_assert_weft(weft_join(t, NULL), 0);
    return NULL;
}

START_TEST(exact_event_sequence_of_a_small_program)
{
    log_t l = {0};
    weft_config c = test_config(1, 0);
    weft_rt *rt;
    ck_assert_weft(weft_rt_new(&rt, &c), 0);
    int id;
    ck_assert_weft(weft_hook_add(rt, WEFT_HOOK_ALL, log_event, &l, &id), 0);
    ck_assert_weft(weft_rt_block_on(rt, parent, NULL, NULL), 0);
    weft_rt_free(rt);
    ck_assert_str_eq(l.text, "spawn:1 start:1 spawn:2 park:1(join) start:2 yield:2 resume:2 park:2(sleep) idle:0 "
                             "wake:2 resume:2 finish:2=0 wake:1 resume:1 finish:1=0");
}
END_TEST

typedef struct self_removing {
    weft_rt *rt;
    int id, calls;
} self_removing;

static void remove_after_three(void *ctx, const weft_hook_info *i)
{
    (void)i;
    self_removing *s = ctx;
    if (++s->calls == 3)
        ck_assert_weft(weft_hook_remove(s->rt, s->id), 0);
}

static log_t g_late;

static void *adds_a_hook(void *arg)
{
    weft_rt *rt = arg;
    ck_assert_ptr_eq(weft_rt_current(), rt);
    ck_assert_weft(weft_hook_add(rt, WEFT_HOOK_MASK(WEFT_HOOK_SPAWN) | WEFT_HOOK_MASK(WEFT_HOOK_FINISH), log_event,
                                 &g_late, NULL),
                   0);
    weft_task *t;
    ck_assert_weft(weft_spawn(&t, child, NULL), 0);
    ck_assert_weft(weft_join(t, NULL), 0);
    return NULL;
}

START_TEST(hooks_added_and_removed_at_run_time)
{
    weft_config c = test_config(1, 0);
    weft_rt *rt;
    ck_assert_weft(weft_rt_new(&rt, &c), 0);
    self_removing s = {.rt = rt};
    ck_assert_weft(weft_hook_add(rt, WEFT_HOOK_ALL, remove_after_three, &s, &s.id), 0);
    memset(&g_late, 0, sizeof g_late);
    ck_assert_weft(weft_rt_block_on(rt, adds_a_hook, rt, NULL), 0);
    ck_assert_int_eq(s.calls, 3);
    /* Added inside the root task: it sees the child's spawn and finish and
     * the root's finish, nothing earlier. */
    ck_assert_str_eq(g_late.text, "spawn:2 finish:2=0 finish:1=0");
    ck_assert_weft(weft_hook_remove(rt, s.id), WEFT_EINVAL);
    weft_rt_free(rt);
}
END_TEST

static void *sleeper(void *arg)
{
    (void)arg;
    int r = weft_sleep(1000000000ull);
    return (void *)(intptr_t)r;
}

static void *cancels_a_sleeper(void *arg)
{
    (void)arg;
    weft_task *t, *left;
    ck_assert_weft(weft_spawn(&t, sleeper, NULL), 0);
    ck_assert_weft(weft_spawn(&left, sleeper, NULL), 0); /* left running for shutdown */
    weft_yield();
    ck_assert_weft(weft_cancel(t), 0);
    void *r;
    ck_assert_weft(weft_join(t, &r), WEFT_ECANCELED);
    ck_assert_int_eq((int)(intptr_t)r, WEFT_ECANCELED);
    ck_assert_weft(weft_detach(left), 0);
    return NULL;
}

START_TEST(cancel_and_shutdown_are_reported)
{
    log_t l = {0};
    weft_config c = test_config(1, 0);
    weft_rt *rt;
    ck_assert_weft(weft_rt_new(&rt, &c), 0);
    ck_assert_weft(weft_hook_add(rt, WEFT_HOOK_MASK(WEFT_HOOK_CANCEL) | WEFT_HOOK_MASK(WEFT_HOOK_FINISH), log_event,
                                 &l, NULL),
                   0);
    ck_assert_weft(weft_rt_block_on(rt, cancels_a_sleeper, NULL, NULL), 0);
    ck_assert_int_eq(weft_rt_shutdown(rt), 1);
    ck_assert_int_eq(weft_rt_shutdown(rt), 1); /* idempotent */
    weft_rt_stats st;
    ck_assert_weft(weft_rt_stats_get(rt, &st), 0);
    ck_assert_uint_eq(st.shutdown_cancelled, 1);
    ck_assert_uint_eq(st.shutdown_abandoned, 0);
    ck_assert_uint_eq(st.live_tasks, 0);
    weft_rt_free(rt);
    char want[256];
    snprintf(want, sizeof want, "cancel:2=%d finish:2=%d finish:1=0 cancel:3=%d finish:3=%d", WEFT_ECANCELED,
             WEFT_ECANCELED, WEFT_ESHUTDOWN, WEFT_ECANCELED);
    ck_assert_str_eq(l.text, want);
}
END_TEST

START_TEST(hook_bad_input)
{
    weft_rt *rt;
    weft_config c = test_config(1, 0);
    ck_assert_weft(weft_rt_new(&rt, &c), 0);
    ck_assert_weft(weft_hook_add(NULL, WEFT_HOOK_ALL, log_event, NULL, NULL), WEFT_EINVAL);
    ck_assert_weft(weft_hook_add(rt, WEFT_HOOK_ALL, NULL, NULL, NULL), WEFT_EINVAL);
    ck_assert_weft(weft_hook_add(rt, 0, log_event, NULL, NULL), WEFT_EINVAL);
    ck_assert_weft(weft_hook_add(rt, 1u << 30, log_event, NULL, NULL), WEFT_EINVAL);
    ck_assert_weft(weft_hook_remove(rt, 12345), WEFT_EINVAL);
    ck_assert_weft(weft_hook_remove(NULL, 1), WEFT_EINVAL);
    ck_assert_str_eq(weft_hook_event_name(WEFT_HOOK_EVENT_COUNT), "unknown");
    ck_assert_weft(weft_rt_block_on(rt, parent, NULL, NULL), 0); /* still usable */
    weft_rt_free(rt);
}
END_TEST

Suite *suite_hooks(void)
{
    Suite *s = suite_create("hooks");
    TCase *tc = tcase_create("hooks");
    tcase_add_test(tc, exact_event_sequence_of_a_small_program);
    tcase_add_test(tc, hooks_added_and_removed_at_run_time);
    tcase_add_test(tc, cancel_and_shutdown_are_reported);
    tcase_add_test(tc, hook_bad_input);
    suite_add_tcase(s, tc);
    return s;
}
