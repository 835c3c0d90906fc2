/* test_runq.c — the built-in run queues and a user-written one installed in
 * a runtime. */
#include "support.h"

#include <stdlib.h>
#include <string.h>

static weft_runq_node nodes[16];

static void *make_queue(const weft_runq_ops *ops)
{
    void *q = calloc(1, ops->state_size);
    ck_assert_int_eq(ops->init(q, NULL), 0);
    for (int i = 0; i < 16; i++) {
        memset(&nodes[i], 0, sizeof nodes[i]);
        nodes[i].task_id = (uint64_t)i;
    }
    return q;
}

START_TEST(fifo_pops_in_push_order)
{
    const weft_runq_ops *ops = weft_runq_fifo();
    void *q = make_queue(ops);
    for (int i = 0; i < 5; i++)
        ops->push(q, &nodes[i]);
    ck_assert_uint_eq(ops->len(q), 5);
    for (int i = 0; i < 5; i++)
        ck_assert_uint_eq(ops->pop(q)->task_id, (uint64_t)i);
    ck_assert_ptr_null(ops->pop(q));
    ops->destroy(q);
    free(q);
}
END_TEST

START_TEST(lifo_pops_newest_first)
{
    const weft_runq_ops *ops = weft_runq_lifo();
    void *q = make_queue(ops);
    for (int i = 0; i < 5; i++)
        ops->push(q, &nodes[i]);
    for (int i = 4; i >= 0; i--)
        ck_assert_uint_eq(ops->pop(q)->task_id, (uint64_t)i);
    ck_assert_ptr_null(ops->pop(q));
    free(q);
}
END_TEST

START_TEST(priority_pops_highest_level_fifo_within)
{
    const weft_runq_ops *ops = weft_runq_priority();
    void *q = make_queue(ops);
    int prio[8] = {1, 5, 3, 5, 0, 7, 3, 1};
    for (int i = 0; i < 8; i++) {
        nodes[i].priority = prio[i];
        ops->push(q, &nodes[i]);
    }
    uint64_t want[8] = {5, 1, 3, 2, 6, 0, 7, 4};
    for (int i = 0; i < 8; i++)
        ck_assert_uint_eq(ops->pop(q)->task_id, want[i]);
    ck_assert_uint_eq(ops->len(q), 0);
    free(q);
}
END_TEST

START_TEST(steal_takes_half_of_the_oldest)
{
    const weft_runq_ops *ops = weft_runq_fifo();
    void *q = make_queue(ops);
    for (int i = 0; i < 7; i++)
        ops->push(q, &nodes[i]);
    weft_runq_node *out[16];
    size_t n = ops->steal(q, out, 16);
    ck_assert_uint_eq(n, 4);
    for (size_t i = 0; i < n; i++)
        ck_assert_uint_eq(out[i]->task_id, i);
    ck_assert_uint_eq(ops->len(q), 3);
    ck_assert_uint_eq(ops->steal(q, out, 1), 1);
    ck_assert_uint_eq(ops->len(q), 2);
    free(q);
}
END_TEST

/* ---- queues in a runtime ---- */

typedef struct order {
    char seen[32];
    int n;
} order;

static order g_order;

static void *note(void *arg)
{
    g_order.seen[g_order.n++] = (char)(uintptr_t)arg;
    return NULL;
}

static void *spawn_abc(void *arg)
{
    (void)arg;
    int prio[3] = {1, 5, 3};
    weft_task *t[3];
    for (int i = 0; i < 3; i++) {
        weft_spawn_opts o = {.name = "n", .priority = prio[i]};
        ck_assert_weft(weft_spawn_ex(&t[i], note, (void *)(uintptr_t)('A' + i), &o), 0);
    }
    for (int i = 0; i < 3; i++)
        ck_assert_weft(weft_join(t[i], NULL), 0);
    return NULL;
}

static const char *run_order(const weft_runq_ops *ops)
{
    memset(&g_order, 0, sizeof g_order);
    weft_config c = test_config(1, 0);
    c.runq = ops;
    ck_assert_weft(run_in(&c, spawn_abc, NULL, NULL), 0);
    return g_order.seen;
}

START_TEST(queue_policy_decides_run_order)
{
    ck_assert_str_eq(run_order(weft_runq_fifo()), "ABC");
    ck_assert_str_eq(run_order(weft_runq_lifo()), "CBA");
    ck_assert_str_eq(run_order(weft_runq_priority()), "BCA");
}
END_TEST

/* A user-written queue: always runs the task with the largest id first, and
 * counts its calls, to show the runtime really goes through the table.
 * Destroys are counted outside the state, which goes with the runtime. */
typedef struct maxq {
    weft_runq_node *items[64];
    size_t n;
    int pushes, pops, inits;
} maxq;

static maxq *g_last_maxq;
static int g_maxq_destroys;

static int maxq_init(void *state, void *arg)
{
    maxq *q = state;
    q->inits++;
    g_last_maxq = q;
    ck_assert_ptr_eq(arg, (void *)&g_order);
    return 0;
}

static void maxq_destroy(void *state)
{
    (void)state;
    g_maxq_destroys++;
}

static void maxq_push(void *state, weft_runq_node *n)
{
    maxq *q = state;
    q->pushes++;
    q->items[q->n++] = n;
}

static weft_runq_node *maxq_pop(void *state)
{
    maxq *q = state;
    q->pops++;
    if (!q->n)
        return NULL;
    size_t best = 0;
    for (size_t i = 1; i < q->n; i++)
        if (q->items[i]->task_id > q->items[best]->task_id)
            best = i;
    weft_runq_node *n = q->items[best];
    q->items[best] = q->items[--q->n];
    return n;
}

static size_t maxq_len(const void *state)
{
    return ((const maxq *)state)->n;
}

static const weft_runq_ops maxq_ops = {"max-id", sizeof(maxq), maxq_init, maxq_destroy, maxq_push, maxq_pop,
                                       maxq_len, NULL};

static void *yielder(void *arg)
{
    note(arg);
    weft_yield();
    note(arg);
    return NULL;
}

static void *spawn_yielders(void *arg)
{
    (void)arg;
    weft_task *t[3];
    for (int i = 0; i < 3; i++)
        ck_assert_weft(weft_spawn(&t[i], yielder, (void *)(uintptr_t)('a' + i)), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_weft(weft_join(t[i], NULL), 0);
    return NULL;
}

START_TEST(user_written_queue_is_used)
{
    memset(&g_order, 0, sizeof g_order);
    weft_config c = test_config(1, 0);
    c.runq = &maxq_ops;
    c.runq_arg = &g_order;
    weft_rt *rt;
    g_maxq_destroys = 0;
    ck_assert_weft(weft_rt_new(&rt, &c), 0);
    ck_assert_weft(weft_rt_block_on(rt, spawn_yielders, NULL, NULL), 0);
    /* Highest id first, and a yielding task goes back in: c, c (it is still
     * the highest), then b, b, then a, a. */
    ck_assert_str_eq(g_order.seen, "ccbbaa");
    ck_assert_int_eq(g_last_maxq->inits, 1);
    ck_assert_int_gt(g_last_maxq->pushes, 6);
    ck_assert_int_gt(g_last_maxq->pops, 6);
    ck_assert_int_eq(g_maxq_destroys, 0); /* not while the runtime lives */
    weft_rt_free(rt);                     /* (the queue's state goes with it) */
    ck_assert_int_eq(g_maxq_destroys, 1);
}
END_TEST

START_TEST(user_queue_destroy_called_and_bad_tables_rejected)
{
    weft_config c = test_config(3, 0);
    c.runq = &maxq_ops;
    c.runq_arg = &g_order;
    weft_rt *rt;
    g_maxq_destroys = 0;
    ck_assert_weft(weft_rt_new(&rt, &c), 0);
    weft_rt_free(rt);
    ck_assert_int_eq(g_maxq_destroys, 3); /* one queue per worker */
    weft_runq_ops bad = maxq_ops;
    bad.pop = NULL;
    c.runq = &bad;
    ck_assert_weft(weft_rt_new(&rt, &c), WEFT_EINVAL);
    bad = maxq_ops;
    bad.state_size = 0;
    c.runq = &bad;
    ck_assert_weft(weft_rt_new(&rt, &c), WEFT_EINVAL);
}
END_TEST

Suite *suite_runq(void)
{
    Suite *s = suite_create("runq");
    TCase *tc = tcase_create("queues");
    tcase_add_test(tc, fifo_pops_in_push_order);
    tcase_add_test(tc, lifo_pops_newest_first);
    tcase_add_test(tc, priority_pops_highest_level_fifo_within);
    tcase_add_test(tc, steal_takes_half_of_the_oldest);
    tcase_add_test(tc, queue_policy_decides_run_order);
    tcase_add_test(tc, user_written_queue_is_used);
    tcase_add_test(tc, user_queue_destroy_called_and_bad_tables_rejected);
    suite_add_tcase(s, tc);
    return s;
}
