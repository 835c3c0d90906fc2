/* cases.h — the model's test bodies, shared by the suites that explore them
 * (test_deque.c, test_runtime.c), the mutation suite and the fuzz target.
 * Each is the root of a simulated run: it opens a model session, starts
 * simulated threads that run the runtime's own code, joins them and checks
 * what must hold whatever the schedule. */
#ifndef WEFT_MODEL_CASES_H
#define WEFT_MODEL_CASES_H

#include "../../sim/model.h"

/* Work-stealing deque: a LIFO owner and one thief. */
void *case_deque_2(void *arg);
/* A LIFO owner, a thief taking one and a thief taking half. */
void *case_deque_3(void *arg);
/* A FIFO owner that overflows its deque and reuses its slots, and a thief. */
void *case_deque_overflow(void *arg);
/* A FIFO owner that moves 16 tasks through its deque while a thief takes one. */
void *case_deque_wrap(void *arg);
/* A FIFO owner and two thieves (one takes one, one takes half): no fence. */
void *case_deque_fifo_3(void *arg);
/* The injection queue: two producers, a consumer taking batches. */
void *case_inject(void *arg);
/* The futex parker: a sleeper and a waker, no lost wake-up. */
void *case_parker(void *arg);
void *case_parker_shared(void *arg);
/* A whole threaded runtime of two workers: spawn, steal, park, shutdown. */
void *case_pool(void *arg);
/* The slot watch: a task left in a busy worker's LIFO slot is taken by the
 * sleeping one, once. */
void *case_watch(void *arg);
/* Its coordination objects' atomic paths, two workers each. */
void *case_mutex(void *arg);
void *case_sem(void *arg);
void *case_event(void *arg);
void *case_chan(void *arg);
/* The thread-safe notifier: a plain thread signals a task. */
void *case_notify(void *arg);

#endif
