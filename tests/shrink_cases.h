/* shrink_cases.h — deadlocks to shrink, beside the bank's two bugs
 * (examples/bank.h): three tasks in a lock cycle, and a new user's
 * check-then-act hand-off. Shared by test_shrink.c and tools/measure_shrink.c
 * (which reports how far each shrinks). */
#ifndef WEFT_TEST_SHRINK_CASES_H
#define WEFT_TEST_SHRINK_CASES_H

#include <string.h>
#include <weft.h>

/* Three philosophers, three forks: each takes its left fork, then its
 * right, for three meals. All three holding their left fork is a
 * deadlock. */
typedef struct table3 {
    weft_mutex fork[3];
    int meals;
} table3;

typedef struct seat {
    table3 *t;
    int left;
} seat;

static inline void *philosopher(void *arg)
{
    seat *s = arg;
    weft_mutex *left = &s->t->fork[s->left], *right = &s->t->fork[(s->left + 1) % 3];
    for (int meal = 0; meal < 3; meal++) {
        if (weft_mutex_lock(left) != 0)
            return NULL; /* cancelled: the shutdown after the deadlock */
        if (weft_mutex_lock(right) != 0) {
            weft_mutex_unlock(left);
            return NULL;
        }
        s->t->meals++;
        weft_mutex_unlock(right);
        weft_mutex_unlock(left);
    }
    return NULL;
}

static inline void *three_task_deadlock_test(void *arg)
{
    (void)arg;
    table3 t;
    memset(&t, 0, sizeof t);
    seat s[3];
    weft_task *p[3];
    static const char *const names[3] = {"philosopher 0", "philosopher 1", "philosopher 2"};
    for (int i = 0; i < 3; i++) {
        WEFT_ASSERT(weft_mutex_init(&t.fork[i]) == 0);
        s[i] = (seat){&t, i};
        weft_spawn_opts o = {.name = names[i]};
        WEFT_ASSERT(weft_spawn_ex(&p[i], philosopher, &s[i], &o) == 0);
    }
    for (int i = 0; i < 3; i++)
        weft_join(p[i], NULL);
    WEFT_ASSERT(t.meals == 9);
    return NULL;
}

/* A hand-off as a new user writes it: the consumer checks the flag, then
 * says it waits and waits; the producer sets the flag, then wakes the
 * consumer only if it said it waits. Between the consumer's check and its
 * "I wait", the producer can do both of its steps: nobody wakes the
 * consumer. Both do some unrelated work first. */
typedef struct handoff {
    weft_sem wake;
    int ready, waiting, work;
} handoff;

static inline void *consumer(void *arg)
{
    handoff *h = arg;
    for (int i = 0; i < 4; i++) {
        h->work++;
        weft_sched_point();
    }
    if (!h->ready) {
        weft_sched_point();
        h->waiting = 1;
        if (weft_sem_acquire(&h->wake) != 0)
            return NULL; /* cancelled */
    }
    return NULL;
}

static inline void *producer(void *arg)
{
    handoff *h = arg;
    for (int i = 0; i < 4; i++) {
        h->work++;
        weft_sched_point();
    }
    h->ready = 1;
    weft_sched_point();
    if (h->waiting)
        weft_sem_release(&h->wake, 1);
    return NULL;
}

static inline void *check_then_act_test(void *arg)
{
    (void)arg;
    handoff h;
    memset(&h, 0, sizeof h);
    WEFT_ASSERT(weft_sem_init(&h.wake, 0) == 0);
    weft_task *c, *p;
    weft_spawn_opts co = {.name = "consumer"}, po = {.name = "producer"};
    WEFT_ASSERT(weft_spawn_ex(&c, consumer, &h, &co) == 0);
    WEFT_ASSERT(weft_spawn_ex(&p, producer, &h, &po) == 0);
    weft_join(c, NULL);
    weft_join(p, NULL);
    weft_sem_destroy(&h.wake);
    return NULL;
}

#endif
