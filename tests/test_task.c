/* test_task.c — spawn, join, detach, cancel, no-stack tasks, allocation
 * failures, shutdown, and misuse, in simulation and on the real backend. */
#define _DEFAULT_SOURCE /* madvise */
#include "support.h"

#include "core.h" /* WEFT__TASK_CHUNK: records per chunk */

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static void *twice(void *arg)
{
    return (void *)((uintptr_t)arg * 2);
}

static void *spawn_and_join(void *arg)
{
    (void)arg;
    weft_task *t[64];
    for (uintptr_t i = 0; i < 64; i++)
        ck_assert_weft(weft_spawn(&t[i], twice, (void *)i), 0);
    for (uintptr_t i = 0; i < 64; i++) {
        void *r = NULL;
        ck_assert_weft(weft_join(t[i], &r), 0);
        ck_assert_ptr_eq(r, (void *)(i * 2));
    }
    ck_assert_uint_eq(weft_task_id(), 1);
    ck_assert_str_eq(weft_task_name(), "root");
    return (void *)0x5EED;
}

START_TEST(spawn_join_delivers_results)
{
    void *r = NULL;
    ck_assert_weft(run_in(NULL, spawn_and_join, NULL, &r), 0);
    ck_assert_ptr_eq(r, (void *)0x5EED);
    weft_config c = threaded_config();
    ck_assert_weft(run_in(&c, spawn_and_join, NULL, &r), 0);
    ck_assert_ptr_eq(r, (void *)0x5EED);
}
END_TEST

static void *sleepy(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)weft_sleep(1000);
}

static void *joiner_of(void *arg)
{
    return (void *)(intptr_t)weft_join((weft_task *)arg, NULL);
}

static void *misuse(void *arg)
{
    (void)arg;
    weft_task *t, *u;
    /* double join */
    ck_assert_weft(weft_spawn(&t, twice, NULL), 0);
    ck_assert_weft(weft_join(t, NULL), 0);
    ck_assert_weft(weft_join(t, NULL), WEFT_ESRCH);
    ck_assert_weft(weft_cancel(t), WEFT_ESRCH);
    ck_assert_weft(weft_detach(t), WEFT_ESRCH);
    /* join of a detached task */
    ck_assert_weft(weft_spawn(&t, sleepy, NULL), 0);
    ck_assert_weft(weft_detach(t), 0);
    ck_assert_weft(weft_join(t, NULL), WEFT_ESRCH);
    /* garbage handles */
    ck_assert_weft(weft_join(NULL, NULL), WEFT_ESRCH);
    ck_assert_weft(weft_join((weft_task *)(uintptr_t)0xFFFFFFFFFFull, NULL), WEFT_ESRCH);
    /* a second joiner while the first waits */
    ck_assert_weft(weft_spawn(&t, sleepy, NULL), 0);
    ck_assert_weft(weft_spawn(&u, joiner_of, t), 0);
    weft_yield(); /* u starts waiting on t */
    ck_assert_weft(weft_join(t, NULL), WEFT_EBUSY);
    void *r;
    ck_assert_weft(weft_join(u, &r), 0);
    ck_assert_int_eq((int)(intptr_t)r, 0);
    /* bad spawns */
    ck_assert_weft(weft_spawn(&t, NULL, NULL), WEFT_EINVAL);
    weft_spawn_opts o = {.flags = 0x100};
    ck_assert_weft(weft_spawn_ex(&t, twice, NULL, &o), WEFT_EINVAL);
    o = (weft_spawn_opts){.priority = WEFT_PRIO_MAX + 1};
    ck_assert_weft(weft_spawn_ex(&t, twice, NULL, &o), WEFT_EINVAL);
    o = (weft_spawn_opts){.priority = -1};
    ck_assert_weft(weft_spawn_ex(&t, twice, NULL, &o), WEFT_EINVAL);
    o = (weft_spawn_opts){.flags = WEFT_SPAWN_PINNED, .worker = 1};
    ck_assert_weft(weft_spawn_ex(&t, twice, NULL, &o), WEFT_EINVAL);
    /* still usable */
    ck_assert_weft(weft_spawn(&t, twice, (void *)21), 0);
    ck_assert_weft(weft_join(t, &r), 0);
    ck_assert_ptr_eq(r, (void *)42);
    return NULL;
}

START_TEST(misuse_returns_codes_and_leaves_the_runtime_usable)
{
    ck_assert_weft(run_in(NULL, misuse, NULL, NULL), 0);
}
END_TEST

static void *self_join(void *arg)
{
    (void)arg;
    weft_task *t;
    ck_assert_weft(weft_spawn(&t, twice, NULL), 0);
    ck_assert_weft(weft_join(t, NULL), 0);
    return NULL;
}

/* ---- what few tasks have lives beside the record ---- */

/* A name, a scope and a select's start are kept outside the record and are
 * valid only for the task that set them: the next task in the same record
 * must see none of them. */
static void *named_scoped_selecting(void *arg)
{
    (void)arg;
    ck_assert_str_eq(weft_task_name(), "first");
    weft_scope s;
    ck_assert_weft(weft_scope_init(&s, 0), 0);
    ck_assert_weft(weft_scope_set_deadline(&s, weft_now() + 1000000000), 0);
    weft_chan *ch;
    ck_assert_weft(weft_chan_new(&ch, sizeof(int), 1), 0);
    int v = 7, got = 0;
    weft_select_case c = {ch, WEFT_SELECT_SEND, &v, 0};
    ck_assert_int_eq(weft_select(&c, 1, WEFT_NO_DEADLINE), 0);
    c = (weft_select_case){ch, WEFT_SELECT_RECV, &got, 0};
    ck_assert_int_eq(weft_select(&c, 1, WEFT_NO_DEADLINE), 0);
    ck_assert_int_eq(got, 7);
    ck_assert_weft(weft_chan_free(ch), 0);
    ck_assert_weft(weft_scope_join(&s), 0);
    return NULL;
}

static void *plain_after(void *arg)
{
    ck_assert_ptr_null(weft_task_name());
    /* Past the first task's scope deadline (in simulation; a millisecond on
     * real threads): a scope it inherited would cut this sleep short, and
     * its wait would read a freed scope. */
    ck_assert_weft(weft_sleep(*(const uint64_t *)arg), 0);
    return (void *)0x600D;
}

static void *record_reuse_root(void *arg)
{
    weft_spawn_opts o;
    memset(&o, 0, sizeof o);
    o.name = "first";
    weft_task *a, *b;
    ck_assert_weft(weft_spawn_ex(&a, named_scoped_selecting, NULL, &o), 0);
    uint32_t slot_a = (uint32_t)(uintptr_t)a; /* a handle's low half is its record's slot (task.c) */
    ck_assert_weft(weft_join(a, NULL), 0);
    ck_assert_weft(weft_spawn(&b, plain_after, arg), 0);
    ck_assert_uint_eq((uint32_t)(uintptr_t)b, slot_a); /* the same record, freed by the join */
    void *r = NULL;
    ck_assert_weft(weft_join(b, &r), 0);
    ck_assert_ptr_eq(r, (void *)0x600D);
    ck_assert_str_eq(weft_task_name(), "root");
    return NULL;
}

START_TEST(a_reused_record_forgets_the_name_and_scope_of_its_last_task)
{
    uint64_t sleep_ns = 2000000000;
    ck_assert_weft(run_in(NULL, record_reuse_root, &sleep_ns, NULL), 0);
    weft_config c = threaded_config();
    sleep_ns = 1000000;
    ck_assert_weft(run_in(&c, record_reuse_root, &sleep_ns, NULL), 0);
}
END_TEST

/* A chunk of task records gets its array of cold parts (names, nodes,
 * scopes, select starts) when one of its tasks first needs one. Each way to
 * need it survives that allocation failing: a named spawn fails with
 * WEFT_ENOMEM and leaves nothing behind, a scope cannot be opened (ENOMEM),
 * a select still works (from its first case). */
typedef struct cold_fail {
    counting_alloc *ca;
    weft_event go;
    int named, scope_init, scope_child, selected;
} cold_fail;

static void *parked(void *arg)
{
    ck_assert_weft(weft_event_wait(arg), 0);
    return NULL;
}

static int scope_child_ok(void *arg)
{
    (void)arg;
    return 0;
}

static void *in_a_fresh_chunk(void *arg)
{
    cold_fail *x = arg;
    counting_alloc *ca = x->ca;
    /* Its chunk has no cold array: the next allocation is the array's. */
    ca->fail_nth = ca->calls + 1;
    weft_scope s;
    x->scope_init = weft_scope_init(&s, 0);
    ca->fail_nth = 0;
    weft_chan *ch = NULL;
    ck_assert_weft(weft_chan_new(&ch, sizeof(int), 1), 0);
    int v = 5, got = 0;
    weft_select_case c = {ch, WEFT_SELECT_SEND, &v, 0};
    ca->fail_nth = ca->calls + 1;
    x->selected = weft_select(&c, 1, WEFT_NO_DEADLINE);
    ca->fail_nth = 0;
    ck_assert_weft(weft_chan_recv(ch, &got), 0);
    ck_assert_int_eq(got, 5);
    ck_assert_weft(weft_chan_free(ch), 0);
    /* With memory, the same scope opens, runs a child and joins. */
    ck_assert_weft(weft_scope_init(&s, 0), 0);
    ck_assert_weft(weft_scope_spawn(&s, scope_child_ok, NULL, NULL), 0);
    x->scope_child = weft_scope_join(&s);
    return NULL;
}

static void *cold_fail_root(void *arg)
{
    cold_fail *x = arg;
    counting_alloc *ca = x->ca;
    /* Fill the first chunk (the root is named, so it has a cold array). */
    weft_task *t[WEFT__TASK_CHUNK];
    for (unsigned i = 0; i < WEFT__TASK_CHUNK; i++)
        ck_assert_weft(weft_spawn(&t[i], parked, &x->go), 0);
    /* A plain spawn makes the second chunk: its record, no cold array. */
    weft_task *fresh;
    ck_assert_weft(weft_spawn(&fresh, in_a_fresh_chunk, x), 0);
    ck_assert_weft(weft_join(fresh, NULL), 0);
    /* The next record is in the second chunk, which now has its array (the
     * second scope_init made it): to see a named spawn fail, a third chunk. */
    weft_task *u[WEFT__TASK_CHUNK];
    for (unsigned i = 0; i < WEFT__TASK_CHUNK; i++)
        ck_assert_weft(weft_spawn(&u[i], parked, &x->go), 0);
    weft_spawn_opts o;
    memset(&o, 0, sizeof o);
    o.name = "named";
    weft_task *n = NULL;
    uint64_t before = ca->calls;
    ca->fail_from = before + 1; /* every allocation from here: the chunk's and the array's */
    x->named = weft_spawn_ex(&n, twice, NULL, &o);
    ca->fail_from = 0;
    ck_assert_ptr_null(n);
    ck_assert_weft(weft_event_set(&x->go), 0);
    for (unsigned i = 0; i < WEFT__TASK_CHUNK; i++) {
        ck_assert_weft(weft_join(t[i], NULL), 0);
        ck_assert_weft(weft_join(u[i], NULL), 0);
    }
    /* The record the failed spawn took went back: a named spawn now works. */
    ck_assert_weft(weft_spawn_ex(&n, twice, (void *)21, &o), 0);
    void *r = NULL;
    ck_assert_weft(weft_join(n, &r), 0);
    ck_assert_ptr_eq(r, (void *)42);
    return NULL;
}

START_TEST(a_chunk_without_memory_for_its_cold_parts_fails_cleanly)
{
    counting_alloc ca;
    counting_alloc_init(&ca);
    cold_fail x;
    memset(&x, 0, sizeof x);
    x.ca = &ca;
    ck_assert_weft(weft_event_init(&x.go, 0), 0);
    ck_assert_weft(run_counted(&ca, cold_fail_root, &x), 0);
    ck_assert_weft(x.scope_init, WEFT_ENOMEM);
    ck_assert_int_eq(x.selected, 0); /* the case it took: its first */
    ck_assert_weft(x.scope_child, 0);
    ck_assert_weft(x.named, WEFT_ENOMEM);
    ck_assert_uint_eq(ca.live_blocks, 0);
}
END_TEST

/* A scope's child whose record is in a chunk without its cold array, which
 * cannot be made: the child does not run, and the scope's join reports
 * WEFT_ENOMEM (its first error) instead of the child's result. */
typedef struct child_fail {
    counting_alloc *ca;
    weft_event go;
    int ran, joined;
} child_fail;

static int scope_child_counts(void *arg)
{
    child_fail *x = arg;
    x->ran++;
    return 0;
}

static void *child_fail_root(void *arg)
{
    child_fail *x = arg;
    weft_scope s;
    /* The root's chunk gets its array here: the scope opens. */
    ck_assert_weft(weft_scope_init(&s, 0), 0);
    /* Plain tasks fill the rest of the chunk and start a second one,
     * which has no array: the child's record is the next one in it. */
    weft_task *t[WEFT__TASK_CHUNK];
    for (unsigned i = 0; i < WEFT__TASK_CHUNK; i++)
        ck_assert_weft(weft_spawn(&t[i], parked, &x->go), 0);
    weft_yield(); /* they run (their stacks made) and park */
    /* A task run to its end leaves a stack in the pool for the child. */
    weft_task *done;
    ck_assert_weft(weft_spawn(&done, twice, NULL), 0);
    ck_assert_weft(weft_join(done, NULL), 0);
    ck_assert_weft(weft_scope_spawn(&s, scope_child_counts, x, NULL), 0);
    /* The child's first allocation, when it runs, is its chunk's array. */
    x->ca->fail_nth = x->ca->calls + 1;
    x->joined = weft_scope_join(&s);
    x->ca->fail_nth = 0;
    ck_assert_weft(weft_event_set(&x->go), 0);
    for (unsigned i = 0; i < WEFT__TASK_CHUNK; i++)
        ck_assert_weft(weft_join(t[i], NULL), 0);
    return NULL;
}

START_TEST(a_scope_child_without_memory_for_its_scope_is_reported_to_the_scope)
{
    counting_alloc ca;
    counting_alloc_init(&ca);
    child_fail x;
    memset(&x, 0, sizeof x);
    x.ca = &ca;
    ck_assert_weft(weft_event_init(&x.go, 0), 0);
    ck_assert_weft(run_counted(&ca, child_fail_root, &x), 0);
    ck_assert_weft(x.joined, WEFT_ENOMEM);
    ck_assert_int_eq(x.ran, 0);
    ck_assert_uint_eq(ca.live_blocks, 0);
}
END_TEST

START_TEST(calls_outside_a_runtime)
{
    weft_task *t = (weft_task *)1;
    ck_assert_weft(weft_spawn(&t, twice, NULL), WEFT_EPERM);
    ck_assert_ptr_null(t);
    ck_assert_weft(weft_join(t, NULL), WEFT_EPERM);
    ck_assert_weft(weft_cancel(t), WEFT_EPERM);
    ck_assert_weft(weft_detach(t), WEFT_EPERM);
    ck_assert_weft(weft_sleep(1), WEFT_EPERM);
    ck_assert_weft(weft_sleep_until(1), WEFT_EPERM);
    weft_yield();
    weft_sched_point();
    ck_assert_uint_eq(weft_now(), 0);
    ck_assert_uint_eq(weft_rand(), 0);
    ck_assert_uint_eq(weft_task_id(), 0);
    ck_assert_ptr_null(weft_task_name());
    ck_assert_int_eq(weft_worker_index(), -1);
    ck_assert_ptr_null(weft_rt_current());
    ck_assert_weft(run_in(NULL, self_join, NULL, NULL), 0);
}
END_TEST

/* ---- cancellation ---- */

static void *cancel_cases(void *arg)
{
    (void)arg;
    weft_task *t;
    void *r;
    /* Cancel while blocked: the sleep returns ECANCELED, the result still
     * arrives, the join says it was cancelled. */
    ck_assert_weft(weft_spawn(&t, sleepy, NULL), 0);
    weft_yield();
    ck_assert_weft(weft_cancel(t), 0);
    ck_assert_weft(weft_join(t, &r), WEFT_ECANCELED);
    ck_assert_int_eq((int)(intptr_t)r, WEFT_ECANCELED);
    /* Cancel after it finished: too late, its result stands. */
    ck_assert_weft(weft_spawn(&t, twice, (void *)4), 0);
    weft_yield();
    ck_assert_weft(weft_cancel(t), 0);
    ck_assert_weft(weft_join(t, &r), 0);
    ck_assert_ptr_eq(r, (void *)8);
    /* Cancel before it ever ran: its first blocking call fails. */
    ck_assert_weft(weft_spawn(&t, sleepy, NULL), 0);
    ck_assert_weft(weft_cancel(t), 0);
    ck_assert_weft(weft_cancel(t), 0); /* idempotent */
    ck_assert_weft(weft_join(t, &r), WEFT_ECANCELED);
    ck_assert_int_eq((int)(intptr_t)r, WEFT_ECANCELED);
    return NULL;
}

START_TEST(cancel_semantics)
{
    ck_assert_weft(run_in(NULL, cancel_cases, NULL, NULL), 0);
}
END_TEST

static void *sticky(void *arg)
{
    (void)arg;
    int first = weft_sleep(1000000);
    int second = weft_sleep(1);
    weft_yield();
    int third = weft_sleep(0);
    return (void *)(intptr_t)(first == WEFT_ECANCELED && second == WEFT_ECANCELED && third == WEFT_ECANCELED);
}

static void *cancelled_joiner(void *arg)
{
    weft_task *target = arg;
    int r = weft_join(target, NULL);
    return (void *)(intptr_t)r;
}

static void *cancel_sticky_and_join_wait(void *arg)
{
    (void)arg;
    weft_task *t, *target, *j;
    void *r;
    ck_assert_weft(weft_spawn(&t, sticky, NULL), 0);
    weft_yield();
    ck_assert_weft(weft_cancel(t), 0);
    ck_assert_weft(weft_join(t, &r), WEFT_ECANCELED);
    ck_assert_ptr_eq(r, (void *)1);
    /* A joiner cancelled while waiting gives up; the handle stays valid. */
    ck_assert_weft(weft_spawn(&target, sleepy, NULL), 0);
    ck_assert_weft(weft_spawn(&j, cancelled_joiner, target), 0);
    weft_yield();
    ck_assert_weft(weft_cancel(j), 0);
    ck_assert_weft(weft_join(j, &r), WEFT_ECANCELED);
    ck_assert_int_eq((int)(intptr_t)r, WEFT_ECANCELED);
    ck_assert_weft(weft_join(target, &r), 0);
    ck_assert_int_eq((int)(intptr_t)r, 0);
    return NULL;
}

START_TEST(cancellation_is_sticky_and_a_cancelled_joiner_lets_go)
{
    ck_assert_weft(run_in(NULL, cancel_sticky_and_join_wait, NULL, NULL), 0);
}
END_TEST

/* ---- the cancellation shield ---- */

typedef struct cleanup {
    weft_mutex m;
    int locked_in_cleanup, after_shield;
} cleanup;

static void *cleans_up(void *arg)
{
    cleanup *c = arg;
    int r = weft_sleep(1000000); /* cancelled here */
    ck_assert_weft(r, WEFT_ECANCELED);
    ck_assert_weft(weft_mutex_lock(&c->m), WEFT_ECANCELED); /* sticky: cleanup cannot wait */
    ck_assert_int_eq(weft_cancel_shield(1), 0);
    ck_assert_int_eq(weft_cancel_shield(1), 1); /* nesting: the previous setting */
    ck_assert_weft(weft_mutex_lock(&c->m), 0);   /* waits for the holder, uninterrupted */
    c->locked_in_cleanup = 1;
    ck_assert_weft(weft_mutex_unlock(&c->m), 0);
    ck_assert_weft(weft_sleep(10), 0);
    ck_assert_int_eq(weft_cancel_shield(0), 1);
    c->after_shield = weft_sleep(10);            /* the cancel still stands */
    return NULL;
}

static void *shield_root(void *arg)
{
    cleanup *c = arg;
    weft_mutex_init(&c->m);
    ck_assert_weft(weft_mutex_lock(&c->m), 0);
    weft_task *t;
    ck_assert_weft(weft_spawn(&t, cleans_up, c), 0);
    weft_yield();
    ck_assert_weft(weft_cancel(t), 0);
    weft_yield();
    weft_yield();
    ck_assert_weft(weft_cancel(t), 0); /* again, while it waits shielded: no effect */
    ck_assert_weft(weft_sleep(100), 0);
    ck_assert_int_eq(c->locked_in_cleanup, 0); /* still waiting for us */
    ck_assert_weft(weft_mutex_unlock(&c->m), 0);
    ck_assert_weft(weft_join(t, NULL), WEFT_ECANCELED);
    weft_mutex_destroy(&c->m);
    return NULL;
}

START_TEST(a_shield_lets_cancelled_cleanup_block)
{
    cleanup c = {0};
    ck_assert_weft(run_in(NULL, shield_root, &c, NULL), 0);
    ck_assert_int_eq(c.locked_in_cleanup, 1);
    ck_assert_int_eq(c.after_shield, WEFT_ECANCELED);
    ck_assert_weft(weft_cancel_shield(1), WEFT_EPERM);
}
END_TEST

/* ---- no-stack tasks ---- */

static int nostack_ran;

static void *nostack_body(void *arg)
{
    (void)arg;
    nostack_ran++;
    ck_assert_weft(weft_sleep(10), WEFT_EPERM);
    weft_yield(); /* refused: a no-op */
    ck_assert_uint_ne(weft_task_id(), 0);
    return (void *)7;
}

static void *nostack_root(void *arg)
{
    (void)arg;
    weft_rt_stats before = current_stats();
    weft_spawn_opts o = {.name = "plain", .flags = WEFT_SPAWN_NOSTACK};
    weft_task *t;
    void *r;
    ck_assert_weft(weft_spawn_ex(&t, nostack_body, NULL, &o), 0);
    ck_assert_weft(weft_join(t, &r), 0);
    ck_assert_ptr_eq(r, (void *)7);
    for (int i = 0; i < 1000; i++)
        ck_assert_weft(weft_spawn_ex(NULL, nostack_body, NULL, &o), 0);
    ck_assert_weft(weft_sleep(1), 0);
    weft_rt_stats after = current_stats();
    ck_assert_uint_eq(after.stacks_mapped, before.stacks_mapped); /* no-stack tasks took none */
    ck_assert_uint_eq(after.finished - before.finished, 1001);
    return NULL;
}

static int error_events;
static void count_errors(void *ctx, const weft_hook_info *i)
{
    (void)ctx;
    ck_assert_int_eq(i->status, WEFT_EPERM);
    error_events++;
}

START_TEST(nostack_tasks_run_to_completion_and_cannot_suspend)
{
    weft_config c = test_config(1, 0);
    weft_rt *rt;
    ck_assert_weft(weft_rt_new(&rt, &c), 0);
    ck_assert_weft(weft_hook_add(rt, WEFT_HOOK_MASK(WEFT_HOOK_ERROR), count_errors, NULL, NULL), 0);
    nostack_ran = error_events = 0;
    ck_assert_weft(weft_rt_block_on(rt, nostack_root, NULL, NULL), 0);
    weft_rt_free(rt);
    ck_assert_int_eq(nostack_ran, 1001);
    ck_assert_int_eq(error_events, 2 * 1001);
}
END_TEST

/* ---- the 10,000-task acceptance program ---- */

static void *sleep_and_yield(void *arg)
{
    (void)arg;
    for (int k = 0; k < 3; k++) {
        ck_assert_weft(weft_sleep(weft_rand() % 1000000000ull), 0);
        weft_yield();
    }
    return arg;
}

static void *ten_thousand(void *arg)
{
    (void)arg;
    const uintptr_t N = under_tsan() ? 4000 : 10000;
    weft_task **t = malloc(N * sizeof *t);
    ck_assert_ptr_nonnull(t);
    for (uintptr_t i = 0; i < N; i++)
        ck_assert_weft(weft_spawn(&t[i], sleep_and_yield, (void *)i), 0);
    for (uintptr_t i = 0; i < N; i++) {
        void *r;
        ck_assert_weft(weft_join(t[i], &r), 0);
        ck_assert_ptr_eq(r, (void *)i);
    }
    free(t);
    uint64_t before = weft_now();
    ck_assert_weft(weft_sleep(3600ull * 1000000000ull), 0);
    ck_assert_uint_eq(weft_now() - before, 3600ull * 1000000000ull);
    return NULL;
}

/* The hour passes in virtual time (checked above, exactly). How fast it
 * passes in wall time is the benchmarks' business (bench_sim's virtual-to-
 * wall ratio), not a limit a sanitizer build could miss. */
START_TEST(ten_thousand_fibers_and_an_hour_of_virtual_sleep)
{
    ck_assert_weft(run_sim(1, 7, ten_thousand, NULL), 0);
}
END_TEST

/* ---- allocation failures ---- */

static void *spawns_until_enomem(void *arg)
{
    counting_alloc *ca = arg;
    weft_task *t[300];
    int i;
    ca->fail_from = ca->calls + 1;
    for (i = 0; i < 300; i++) {
        int r = weft_spawn(&t[i], twice, (void *)(uintptr_t)i);
        if (r == WEFT_ENOMEM)
            break;
        ck_assert_weft(r, 0);
    }
    ck_assert_int_lt(i, 300); /* a new chunk of task slots was needed */
    ck_assert_int_ge(i, 200);
    ca->fail_from = 0;
    for (int k = 0; k < i; k++) {
        void *r;
        ck_assert_weft(weft_join(t[k], &r), 0);
        ck_assert_ptr_eq(r, (void *)(uintptr_t)(2 * k));
    }
    return NULL;
}

START_TEST(spawn_enomem_leaks_nothing)
{
    counting_alloc ca;
    counting_alloc_init(&ca);
    ck_assert_weft(run_counted(&ca, spawns_until_enomem, &ca), 0);
    ck_assert_uint_eq(ca.live_blocks, 0);
    ck_assert_uint_eq(ca.live_bytes, 0);
}
END_TEST

static void *stackless_world(void *arg)
{
    counting_alloc *ca = arg;
    weft_task *t;
    /* The next stack slab cannot be allocated: the task cannot run, and its
     * join says so instead of the task silently vanishing. */
    ck_assert_weft(weft_spawn(&t, twice, NULL), 0);
    ck_assert_weft(weft_spawn(NULL, sleepy, NULL), 0);
    ca->fail_from = ca->calls + 1;
    weft_spawn_opts o = {.stack_size = 128 * 1024};
    weft_task *big;
    ck_assert_weft(weft_spawn_ex(&big, twice, NULL, &o), 0);
    ck_assert_weft(weft_join(big, NULL), WEFT_ENOMEM);
    ca->fail_from = 0;
    ck_assert_weft(weft_join(t, NULL), 0);
    return NULL;
}

START_TEST(a_task_without_a_stack_is_reported_not_lost)
{
    counting_alloc ca;
    counting_alloc_init(&ca);
    ck_assert_weft(run_counted(&ca, stackless_world, &ca), 0);
    ck_assert_uint_eq(ca.live_blocks, 0);
}
END_TEST

static void *busy_program(void *arg)
{
    (void)arg;
    weft_chan *ch;
    int r = weft_chan_new(&ch, sizeof(int), WEFT_CHAN_UNBOUNDED);
    if (r < 0)
        return (void *)(intptr_t)r;
    weft_task *t[8];
    int spawned = 0;
    for (int i = 0; i < 8; i++) {
        if (weft_spawn(&t[i], sleep_and_yield, NULL) == 0)
            spawned++;
        else
            break;
    }
    for (int i = 0; i < 100; i++)
        weft_chan_try_send(ch, &i);
    for (int i = 0; i < spawned; i++)
        weft_join(t[i], NULL);
    weft_chan_free(ch);
    return NULL;
}

START_TEST(every_allocation_failure_is_survived)
{
    /* SQLite's loop: fail the 1st allocation, then the 2nd, … until a run
     * needs no failure; every run must end cleanly with nothing leaked. */
    int clean = 0;
    for (uint64_t k = 1; k < 400 && !clean; k++) {
        counting_alloc ca;
        counting_alloc_init(&ca);
        ca.fail_nth = k;
        weft_config c = test_config(2, 3);
        c.allocator = &ca.a;
        weft_rt *rt;
        int r = weft_rt_new(&rt, &c);
        if (r == 0) {
            /* The root's own stack may be the allocation that fails: then
             * block_on says ENOMEM. Else the program ran, and reports the
             * channel it could not make (ENOMEM) or nothing. */
            void *res = (void *)1;
            r = weft_rt_block_on(rt, busy_program, NULL, &res);
            weft_rt_free(rt);
            ck_assert_msg(r == 0 || r == WEFT_ENOMEM, "failing allocation #%llu: block_on returned %d (%s)",
                          (unsigned long long)k, r, weft_strerror(r));
            if (r == 0)
                ck_assert_msg(res == NULL || res == (void *)(intptr_t)WEFT_ENOMEM,
                              "failing allocation #%llu: the program returned %p", (unsigned long long)k, res);
            if (ca.calls < k)
                clean = 1;
        } else {
            ck_assert_weft(r, WEFT_ENOMEM);
        }
        ck_assert_msg(ca.live_blocks == 0, "failing allocation #%llu leaked %llu block(s)", (unsigned long long)k,
                      (unsigned long long)ca.live_blocks);
    }
    ck_assert_msg(clean, "the program never ran without hitting the injected failure");
}
END_TEST

/* ---- shutdown ---- */

static void *leave_tasks_behind(void *arg)
{
    int rude = (int)(intptr_t)arg;
    for (int i = 0; i < 5; i++)
        ck_assert_weft(weft_spawn(NULL, waits_forever, NULL), 0);
    if (rude)
        ck_assert_weft(weft_spawn(NULL, yields_forever, NULL), 0);
    weft_task *finished;
    ck_assert_weft(weft_spawn(&finished, twice, NULL), 0); /* never joined */
    weft_yield();
    return NULL;
}

START_TEST(shutdown_cancels_reports_and_reclaims)
{
    weft_config c = test_config(1, 0);
    weft_rt *rt;
    ck_assert_weft(weft_rt_new(&rt, &c), 0);
    ck_assert_weft(weft_rt_block_on(rt, leave_tasks_behind, (void *)0, NULL), 0);
    ck_assert_int_eq(weft_rt_shutdown(rt), 5);
    weft_rt_stats st;
    ck_assert_weft(weft_rt_stats_get(rt, &st), 0);
    ck_assert_uint_eq(st.shutdown_cancelled, 5);
    ck_assert_uint_eq(st.shutdown_unjoined, 1);
    ck_assert_uint_eq(st.shutdown_abandoned, 0);
    ck_assert_uint_eq(st.live_tasks, 0);
    ck_assert_weft(weft_rt_block_on(rt, twice, NULL, NULL), WEFT_ESHUTDOWN);
    weft_rt_free(rt);
}
END_TEST

/* A task cancelled by the shutdown tries to spawn, three times: refused
 * each time with WEFT_ESHUTDOWN, and a debug build says why on stderr, once. */
static int late_spawn_result;

static void *spawns_when_cancelled(void *arg)
{
    (void)arg;
    int slept = weft_sleep(1000000000ull);
    if (slept != WEFT_ECANCELED) {
        late_spawn_result = slept;
        return NULL;
    }
    for (int i = 0; i < 3; i++)
        if ((late_spawn_result = weft_spawn(NULL, twice, NULL)) != WEFT_ESHUTDOWN)
            break;
    return NULL;
}

static void *leaves_a_late_spawner(void *arg)
{
    (void)arg;
    ck_assert_weft(weft_spawn(NULL, spawns_when_cancelled, NULL), 0);
    weft_yield();
    return NULL;
}

static int shutdown_with_a_late_spawner(void *arg)
{
    (void)arg;
    weft_config c = test_config(1, 0);
    c.flags &= ~WEFT_CFG_QUIET;
    weft_rt *rt;
    if (weft_rt_new(&rt, &c) != 0 || weft_rt_block_on(rt, leaves_a_late_spawner, NULL, NULL) != 0)
        return 2;
    weft_rt_shutdown(rt);
    weft_rt_free(rt);
    return late_spawn_result == WEFT_ESHUTDOWN ? 0 : 1;
}

START_TEST(a_spawn_during_shutdown_is_refused_and_says_why)
{
    char err[4096];
    ck_assert_int_eq(run_child(shutdown_with_a_late_spawner, NULL, err, sizeof err), 0);
#ifndef NDEBUG
    const char *said = strstr(err, "weft_spawn: the runtime is shutting down");
    ck_assert_msg(said != NULL, "stderr: %s", err);
    ck_assert_msg(strstr(said + 1, "weft_spawn: the runtime is shutting down") == NULL, "said more than once: %s",
                  err);
#endif
}
END_TEST

START_TEST(a_task_that_ignores_cancellation_is_abandoned_and_reported)
{
    weft_config c = test_config(1, 0);
    weft_rt *rt;
    ck_assert_weft(weft_rt_new(&rt, &c), 0);
    ck_assert_weft(weft_rt_block_on(rt, leave_tasks_behind, (void *)1, NULL), 0);
    ck_assert_int_eq(weft_rt_shutdown(rt), 6);
    weft_rt_stats st;
    ck_assert_weft(weft_rt_stats_get(rt, &st), 0);
    ck_assert_uint_eq(st.shutdown_abandoned, 1);
    weft_rt_free(rt);
}
END_TEST

/* ---- deadlock instead of a hang ---- */

START_TEST(a_deadlock_is_reported_not_hung)
{
    ck_assert_weft(run_sim(1, 0, joins_a_stuck_child, NULL), WEFT_EDEADLK);
    ck_assert_weft(run_sim(3, 0, joins_a_stuck_child, NULL), WEFT_EDEADLK);
    weft_config c = threaded_config();
    ck_assert_weft(run_in(&c, joins_a_stuck_child, NULL, NULL), WEFT_EDEADLK);
}
END_TEST

static void *real_sleeps(void *arg)
{
    (void)arg;
    uint64_t t0 = weft_now();
    weft_task *t[10];
    for (int i = 0; i < 10; i++)
        ck_assert_weft(weft_spawn(&t[i], sleepy, NULL), 0);
    ck_assert_weft(weft_sleep(5000000), 0);
    for (int i = 0; i < 10; i++)
        ck_assert_weft(weft_join(t[i], NULL), 0);
    uint64_t dt = weft_now() - t0;
    ck_assert_uint_ge(dt, 5000000);
    return NULL;
}

START_TEST(threaded_mode_sleeps_in_real_time)
{
    weft_config c = threaded_config();
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    ck_assert_weft(run_in(&c, real_sleeps, NULL, NULL), 0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
    ck_assert_msg(ms >= 5.0, "5 ms of real sleep took %.3f ms", ms);
}
END_TEST

/* ---- free records come back in batches ---- */

#define RECYCLED 10000u
#define FOREIGN 300u

static uint64_t recycled_ran;

static void *count_one(void *arg)
{
    (void)arg;
    recycled_ran++; /* one worker: never two at once */
    return NULL;
}

static void *burst_then_wait(void *arg)
{
    (void)arg;
    recycled_ran = 0;
    for (unsigned i = 0; i < RECYCLED; i++)
        ck_assert_weft(weft_spawn(NULL, count_one, NULL), 0);
    while (recycled_ran < RECYCLED)
        weft_yield();
    return NULL;
}

static void *join_foreign(void *arg)
{
    weft_task **h = arg;
    for (unsigned i = 0; i < FOREIGN; i++) {
        void *r = NULL;
        ck_assert_weft(weft_join(h[i], &r), 0);
        ck_assert_ptr_eq(r, (void *)(uintptr_t)(i + 1));
    }
    return NULL;
}

/* A burst's records go back to the runtime in whole batches; the next burst,
 * and spawns from a thread outside the runtime, take them from there. A
 * handle's low half is its record's slot (white box): every foreign spawn
 * got a record the burst had used, none a new one. */
START_TEST(records_freed_by_a_burst_serve_the_next_burst_and_foreign_spawns)
{
    weft_config c = threaded_config();
    weft_rt *rt;
    ck_assert_weft(weft_rt_new(&rt, &c), 0);
    ck_assert_weft(weft_rt_block_on(rt, burst_then_wait, NULL, NULL), 0);
    ck_assert_uint_eq(recycled_ran, RECYCLED);
    weft_task *h[FOREIGN];
    for (unsigned i = 0; i < FOREIGN; i++) {
        ck_assert_weft(weft_rt_spawn(rt, &h[i], returns_arg, (void *)(uintptr_t)(i + 1), NULL), 0);
        ck_assert_uint_le((uint32_t)(uintptr_t)h[i], RECYCLED + 1);
    }
    ck_assert_weft(weft_rt_block_on(rt, join_foreign, h, NULL), 0);
    ck_assert_weft(weft_rt_block_on(rt, burst_then_wait, NULL, NULL), 0);
    ck_assert_uint_eq(recycled_ran, RECYCLED);
    weft_rt_free(rt);
}
END_TEST

/* A spawn from a thread outside the runtime that cannot have its name kept
 * (its record's chunk has no cold array and none can be made) fails with
 * WEFT_ENOMEM and gives its record back to the runtime's own list, where the
 * next foreign spawn finds it (white box: a handle's low half is its slot). */
static void *joins_three(void *arg)
{
    weft_task **h = arg;
    for (unsigned i = 0; i < 3; i++) {
        void *r = NULL;
        ck_assert_weft(weft_join(h[i], &r), 0);
        ck_assert_ptr_eq(r, (void *)(uintptr_t)(i + 1));
    }
    return NULL;
}

static void *join_one(void *arg)
{
    void *r = NULL;
    ck_assert_weft(weft_join(arg, &r), 0);
    return r;
}

static void *returns_its_name_length(void *arg)
{
    (void)arg;
    return (void *)(uintptr_t)strlen(weft_task_name());
}

START_TEST(a_foreign_spawn_without_memory_for_its_name_gives_its_record_back)
{
    counting_alloc ca;
    counting_alloc_init(&ca);
    weft_config c = threaded_config();
    c.allocator = &ca.a;
    weft_rt *rt;
    ck_assert_weft(weft_rt_new(&rt, &c), 0);
    weft_task *h[3];
    /* The first chunk, made for a plain task: no cold array yet. */
    ck_assert_weft(weft_rt_spawn(rt, &h[0], returns_arg, (void *)1, NULL), 0);
    weft_spawn_opts o;
    memset(&o, 0, sizeof o);
    o.name = "abc";
    weft_task *n = (weft_task *)1;
    ca.fail_nth = ca.calls + 1; /* the chunk's cold array */
    ck_assert_weft(weft_rt_spawn(rt, &n, returns_arg, (void *)9, &o), WEFT_ENOMEM);
    ca.fail_nth = 0;
    ck_assert_ptr_null(n);
    ck_assert_weft(weft_rt_spawn(rt, &h[1], returns_arg, (void *)2, NULL), 0);
    ck_assert_uint_eq((uint32_t)(uintptr_t)h[1], (uint32_t)(uintptr_t)h[0] + 1);
    /* With memory, the named spawn works. */
    ck_assert_weft(weft_rt_spawn(rt, &n, returns_its_name_length, NULL, &o), 0);
    ck_assert_weft(weft_rt_spawn(rt, &h[2], returns_arg, (void *)3, NULL), 0);
    ck_assert_weft(weft_rt_block_on(rt, joins_three, h, NULL), 0);
    void *len = NULL;
    ck_assert_weft(weft_rt_block_on(rt, join_one, n, &len), 0);
    ck_assert_ptr_eq(len, (void *)3);
    weft_rt_free(rt);
    ck_assert_uint_eq(ca.live_blocks, 0);
}
END_TEST

/* ---- fresh memory is faulted in by one call (task.c chunk_prefault, stack.c prefault_top) ---- */

#define POPULATE_WRITE 23 /* MADV_POPULATE_WRITE (Linux 5.14) */
#define BURST_CHUNKS 8u
#define MAPPINGS_KEPT 64u

/* The runtime's madvise(MADV_POPULATE_WRITE) calls, told apart by where
 * they fall: inside a mapping made through the table (a slab of stacks) or
 * outside (task chunks, from the allocator). */
typedef struct populate_books {
    _Atomic unsigned calls;       /* outside the table's mappings: task chunks */
    _Atomic unsigned stack_calls; /* inside one: stacks */
    _Atomic unsigned misshapen;   /* not whole pages, or a stack call not one page */
    int answer;                   /* what the table answers (0: the real call) */
    _Atomic unsigned nmaps;
    struct {
        char *_Atomic at;
        size_t len;
    } maps[MAPPINGS_KEPT];
} populate_books;

static void *recording_mmap(void *ctx, size_t len, int prot, int *err)
{
    populate_books *b = ctx;
    void *p = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        *err = -errno;
        return NULL;
    }
    unsigned i = atomic_fetch_add(&b->nmaps, 1u);
    ck_assert_uint_lt(i, MAPPINGS_KEPT);
    b->maps[i].len = len;
    atomic_store(&b->maps[i].at, (char *)p);
    return p;
}

static bool in_a_mapping(populate_books *b, const char *addr, size_t len)
{
    unsigned n = atomic_load(&b->nmaps);
    for (unsigned i = 0; i < n && i < MAPPINGS_KEPT; i++) {
        const char *at = atomic_load(&b->maps[i].at);
        if (at && addr >= at && addr + len <= at + b->maps[i].len)
            return true;
    }
    return false;
}

static int counting_madvise(void *ctx, void *addr, size_t len, int advice)
{
    populate_books *b = ctx;
    if (advice == POPULATE_WRITE) {
        size_t page = (size_t)sysconf(_SC_PAGESIZE);
        bool stack = in_a_mapping(b, addr, len);
        atomic_fetch_add(stack ? &b->stack_calls : &b->calls, 1u);
        if (len == 0 || len % page || (uintptr_t)addr % page || (stack && len != page))
            atomic_fetch_add(&b->misshapen, 1u);
        if (b->answer)
            return b->answer;
    }
    return madvise(addr, len, advice) == 0 ? 0 : -errno;
}

static weft_config with_books(weft_config c, weft_os *os, populate_books *b, int answer)
{
    memset(os, 0, sizeof *os);
    memset(b, 0, sizeof *b);
    b->answer = answer;
    os->mmap = recording_mmap;
    os->madvise = counting_madvise;
    os->ctx = b;
    c.os = os;
    return c;
}

/* BURST_CHUNKS chunks' worth of tasks, all queued at once, then joined:
 * each returns its argument doubled, so a record the prefault spoiled would
 * show. */
static void *burst_of_queued_tasks(void *arg)
{
    (void)arg;
    unsigned n = BURST_CHUNKS * WEFT__TASK_CHUNK;
    weft_task **t = malloc(n * sizeof *t);
    ck_assert_ptr_nonnull(t);
    for (uintptr_t i = 0; i < n; i++)
        ck_assert_weft(weft_spawn(&t[i], twice, (void *)i), 0);
    for (uintptr_t i = 0; i < n; i++) {
        void *r = NULL;
        ck_assert_weft(weft_join(t[i], &r), 0);
        ck_assert_ptr_eq(r, (void *)(i * 2));
    }
    free(t);
    return NULL;
}

static unsigned populate_calls_of_burst(weft_config c, int answer, populate_books *b)
{
    weft_os os;
    c = with_books(c, &os, b, answer);
    ck_assert_weft(run_in(&c, burst_of_queued_tasks, NULL, NULL), 0);
    ck_assert_uint_eq(atomic_load(&b->misshapen), 0);
    return atomic_load(&b->calls);
}

START_TEST(a_burst_faults_in_each_new_chunk_whole_and_only_on_real_threads)
{
    populate_books b;
    /* Real threads, the default allocator: every chunk after the first. */
    weft_config c = threaded_config();
    ck_assert_uint_ge(populate_calls_of_burst(c, 0, &b), BURST_CHUNKS);
    /* A kernel without MADV_POPULATE_WRITE: the burst runs all the same. */
    ck_assert_uint_ge(populate_calls_of_burst(c, -EINVAL, &b), BURST_CHUNKS);
    /* A simulated runtime makes no such call (nor any it need not make). */
    ck_assert_uint_eq(populate_calls_of_burst(test_config(1, 7), 0, &b), 0);
    ck_assert_uint_eq(atomic_load(&b.stack_calls), 0);
    /* Nor is the memory of an allocator the program configured touched. */
    counting_alloc ca;
    counting_alloc_init(&ca);
    c.allocator = &ca.a;
    ck_assert_uint_eq(populate_calls_of_burst(c, 0, &b), 0);
    ck_assert_uint_eq(ca.live_blocks, 0);
}
END_TEST

#define WAVE 10u

typedef struct wave {
    weft_event go;
    unsigned arrived; /* tasks of the wave about to wait (one worker: plain) */
} wave;

static void *arrives_then_waits(void *arg)
{
    wave *w = arg;
    w->arrived++;
    ck_assert_weft(weft_event_wait(&w->go), 0);
    return NULL;
}

/* Two waves of WAVE tasks, each wave all waiting at once (so each task
 * holds a stack of its own), the second after the first has finished. */
static void *waves_of_parked_tasks(void *arg)
{
    (void)arg;
    for (unsigned k = 0; k < 2; k++) {
        wave w = {.arrived = 0};
        ck_assert_weft(weft_event_init(&w.go, 0), 0);
        weft_task *t[WAVE];
        for (unsigned i = 0; i < WAVE; i++)
            ck_assert_weft(weft_spawn(&t[i], arrives_then_waits, &w), 0);
        while (w.arrived < WAVE)
            weft_yield();
        ck_assert_weft(weft_event_set(&w.go), 0);
        for (unsigned i = 0; i < WAVE; i++)
            ck_assert_weft(weft_join(t[i], NULL), 0);
        ck_assert_weft(weft_event_destroy(&w.go), 0);
    }
    return NULL;
}

START_TEST(a_fresh_stacks_top_page_is_faulted_in_by_one_call_and_a_reused_one_by_none)
{
    populate_books b;
    weft_os os;
    /* The root's stack and one for each task of the first wave; the second
     * wave runs on the stacks the first gave back. */
    weft_config c = with_books(threaded_config(), &os, &b, 0);
    ck_assert_weft(run_in(&c, waves_of_parked_tasks, NULL, NULL), 0);
    ck_assert_uint_eq(atomic_load(&b.stack_calls), 1 + WAVE);
    ck_assert_uint_eq(atomic_load(&b.misshapen), 0);
    /* Refused (a kernel before 5.14): the tasks run all the same. */
    c = with_books(threaded_config(), &os, &b, -EINVAL);
    ck_assert_weft(run_in(&c, waves_of_parked_tasks, NULL, NULL), 0);
    ck_assert_uint_eq(atomic_load(&b.stack_calls), 1 + WAVE);
    /* A simulation's seeds make no system call: none there. */
    c = with_books(test_config(1, 7), &os, &b, 0);
    ck_assert_weft(run_in(&c, waves_of_parked_tasks, NULL, NULL), 0);
    ck_assert_uint_eq(atomic_load(&b.stack_calls), 0);
    ck_assert_uint_gt(atomic_load(&b.nmaps), 0); /* its stacks came through the table all the same */
}
END_TEST

typedef struct stack_seen {
    wave w;
    const weft__stack *last; /* the stack of the wave's last task */
} stack_seen;

static void *notes_its_stack_then_waits(void *arg)
{
    stack_seen *x = arg;
    x->last = weft__tls_worker->current->stack;
    return arrives_then_waits(&x->w);
}

/* The root and WAVE waiting tasks: 11 stacks of the first two slabs (4 and
 * 8), so one stack of the second slab is left unused. */
static void *wave_noting_stacks(void *arg)
{
    stack_seen *x = arg;
    ck_assert_weft(weft_event_init(&x->w.go, 0), 0);
    weft_task *t[WAVE];
    for (unsigned i = 0; i < WAVE; i++)
        ck_assert_weft(weft_spawn(&t[i], notes_its_stack_then_waits, x), 0);
    while (x->w.arrived < WAVE)
        weft_yield();
    /* The slab's stacks after the last task's, which no task has used: made
     * present when the slab's first was taken (a burst takes them next). */
    size_t page = (size_t)sysconf(_SC_PAGESIZE), unused = 0;
    for (const weft__stack *p = x->last; !p->slab_end;) {
        p++;
        ck_assert(!p->touched);
        unused++;
        if (weft__os_strided_ok(&weft__tls_worker->rt->os)) {
            size_t whole;
            ck_assert(p->present);
            ck_assert_uint_eq(resident_pages(p->base + p->size - page, page, &whole), 1);
        }
    }
    ck_assert_uint_ge(unused, 1);
    ck_assert_weft(weft_event_set(&x->w.go), 0);
    for (unsigned i = 0; i < WAVE; i++)
        ck_assert_weft(weft_join(t[i], NULL), 0);
    ck_assert_weft(weft_event_destroy(&x->w.go), 0);
    return NULL;
}

START_TEST(a_burst_makes_the_next_fresh_stacks_top_pages_present_ahead)
{
    if (!kernel_populates())
        return; /* before Linux 5.14: the pages fault as before */
    stack_seen x;
    memset(&x, 0, sizeof x);
    weft_config c = threaded_config();
    ck_assert_weft(run_in(&c, wave_noting_stacks, &x, NULL), 0);
}
END_TEST

START_TEST(a_large_arrays_new_half_is_present_before_it_is_written)
{
    if (!kernel_populates())
        return; /* before Linux 5.14: the pages fault as before */
    /* Grown with the default allocator (a long run's record of decisions)
     * to 8 MiB: the half added last is resident before any write. */
    uint64_t *v = NULL;
    size_t cap = 0;
    for (size_t len = 0; len < (4u << 20) / sizeof *v + 1; len++) {
        ck_assert_weft(weft__grow(&weft__malloc_allocator, (void **)&v, &cap, len, sizeof *v, 256), 0);
        v[len] = len;
    }
    ck_assert_uint_eq(cap * sizeof *v, 8u << 20);
    size_t half = cap / 2 * sizeof *v, whole;
    size_t present = resident_pages((char *)v + half + 2 * sizeof *v, half - 2 * sizeof *v, &whole);
    ck_assert_uint_gt(whole, 1000);
    ck_assert_uint_eq(present, whole);
    for (size_t i = 0; i <= (4u << 20) / sizeof *v; i++)
        ck_assert_uint_eq(v[i], i); /* the move and the prefault kept every value */
    weft__malloc_allocator.free(NULL, v, cap * sizeof *v);
}
END_TEST

/* ---- a handle names a task of its own runtime only ----------------------------------------- */

typedef struct other_handle {
    weft_task *foreign; /* a handle of another runtime, same slot as `mine` */
    weft_event go;
} other_handle;

static void *waits_then_returns_5(void *arg)
{
    ck_assert_weft(weft_event_wait(arg), 0);
    return (void *)5;
}

static void *uses_another_runtimes_handle(void *arg)
{
    other_handle *x = arg;
    ck_assert_weft(weft_event_init(&x->go, 0), 0);
    weft_task *mine;
    ck_assert_weft(weft_spawn(&mine, waits_then_returns_5, &x->go), 0);
    ck_assert_uint_eq((uint32_t)(uintptr_t)mine, (uint32_t)(uintptr_t)x->foreign); /* the same slot */
    ck_assert_weft(weft_cancel(x->foreign), WEFT_ESRCH);
    ck_assert_weft(weft_detach(x->foreign), WEFT_ESRCH);
    ck_assert_weft(weft_join(x->foreign, NULL), WEFT_ESRCH);
    /* Its own task was touched by none of them. */
    ck_assert_weft(weft_event_set(&x->go), 0);
    void *r = NULL;
    ck_assert_weft(weft_join(mine, &r), 0);
    ck_assert_ptr_eq(r, (void *)5);
    return NULL;
}

static void handle_of_another_runtime_names_nothing(const weft_config *a_cfg, const weft_config *b_cfg)
{
    weft_rt *a;
    ck_assert_weft(weft_rt_new(&a, a_cfg), 0);
    other_handle x;
    weft_task *first;
    /* Slots 0 and 1 of runtime a; b's root takes slot 0, its child slot 1. */
    ck_assert_weft(weft_rt_spawn(a, &first, twice, (void *)1, NULL), 0);
    ck_assert_weft(weft_rt_spawn(a, &x.foreign, twice, (void *)2, NULL), 0);
    ck_assert_weft(run_in(b_cfg, uses_another_runtimes_handle, &x, NULL), 0);
    weft_rt_free(a);
}

START_TEST(a_handle_of_another_runtime_names_nothing_there)
{
    weft_config real = threaded_config();
    handle_of_another_runtime_names_nothing(&real, &real);
    weft_config sim_a = test_config(1, 11), sim_b = test_config(1, 12);
    handle_of_another_runtime_names_nothing(&sim_a, &sim_b);
    handle_of_another_runtime_names_nothing(&real, &sim_b);
}
END_TEST

/* ---- shutdown of tasks handed in that no worker ever took in ------------------------------ */

static void handed_in_tasks_are_cancelled_before_they_start(const weft_config *c)
{
    weft_rt *rt;
    ck_assert_weft(weft_rt_new(&rt, c), 0);
    weft_task *h;
    ck_assert_weft(weft_rt_spawn(rt, &h, twice, (void *)1, NULL), 0);
    ck_assert_weft(weft_rt_spawn(rt, NULL, twice, (void *)2, NULL), 0);
    ck_assert_int_eq(weft_rt_shutdown(rt), 2);
    weft_rt_stats st;
    ck_assert_weft(weft_rt_stats_get(rt, &st), 0);
    ck_assert_uint_eq(st.shutdown_cancelled, 2);
    ck_assert_uint_eq(st.shutdown_abandoned, 0); /* they never ran: nothing ignored a cancel */
    ck_assert_uint_eq(st.shutdown_unjoined, 1);  /* the one with a handle */
    ck_assert_uint_eq(st.live_tasks, 0);
    ck_assert_uint_eq(st.cancelled, 2);
    weft_rt_free(rt);
}

START_TEST(tasks_handed_in_that_never_ran_are_cancelled_at_shutdown_not_abandoned)
{
    weft_config c = threaded_config();
    handed_in_tasks_are_cancelled_before_they_start(&c);
    c.workers = 2;
    handed_in_tasks_are_cancelled_before_they_start(&c);
    c = test_config(2, 3);
    handed_in_tasks_are_cancelled_before_they_start(&c);
}
END_TEST

Suite *suite_task(void)
{
    Suite *s = suite_create("task");
    TCase *tc = tcase_create("task");
    tcase_add_test(tc, spawn_join_delivers_results);
    tcase_add_test(tc, records_freed_by_a_burst_serve_the_next_burst_and_foreign_spawns);
    tcase_add_test(tc, a_burst_faults_in_each_new_chunk_whole_and_only_on_real_threads);
    tcase_add_test(tc, a_fresh_stacks_top_page_is_faulted_in_by_one_call_and_a_reused_one_by_none);
    tcase_add_test(tc, a_large_arrays_new_half_is_present_before_it_is_written);
    tcase_add_test(tc, a_burst_makes_the_next_fresh_stacks_top_pages_present_ahead);
    tcase_add_test(tc, misuse_returns_codes_and_leaves_the_runtime_usable);
    tcase_add_test(tc, a_handle_of_another_runtime_names_nothing_there);
    tcase_add_test(tc, calls_outside_a_runtime);
    tcase_add_test(tc, a_reused_record_forgets_the_name_and_scope_of_its_last_task);
    tcase_add_test(tc, a_chunk_without_memory_for_its_cold_parts_fails_cleanly);
    tcase_add_test(tc, a_scope_child_without_memory_for_its_scope_is_reported_to_the_scope);
    tcase_add_test(tc, a_foreign_spawn_without_memory_for_its_name_gives_its_record_back);
    tcase_add_test(tc, cancel_semantics);
    tcase_add_test(tc, cancellation_is_sticky_and_a_cancelled_joiner_lets_go);
    tcase_add_test(tc, a_shield_lets_cancelled_cleanup_block);
    tcase_add_test(tc, nostack_tasks_run_to_completion_and_cannot_suspend);
    tcase_add_test(tc, ten_thousand_fibers_and_an_hour_of_virtual_sleep);
    tcase_add_test(tc, spawn_enomem_leaks_nothing);
    tcase_add_test(tc, a_task_without_a_stack_is_reported_not_lost);
    tcase_add_test(tc, every_allocation_failure_is_survived);
    tcase_add_test(tc, shutdown_cancels_reports_and_reclaims);
    tcase_add_test(tc, tasks_handed_in_that_never_ran_are_cancelled_at_shutdown_not_abandoned);
    tcase_add_test(tc, a_spawn_during_shutdown_is_refused_and_says_why);
    tcase_add_test(tc, a_task_that_ignores_cancellation_is_abandoned_and_reported);
    tcase_add_test(tc, a_deadlock_is_reported_not_hung);
    tcase_add_test(tc, threaded_mode_sleeps_in_real_time);
    suite_add_tcase(s, tc);
    return s;
}
