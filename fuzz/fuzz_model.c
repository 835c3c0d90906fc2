/* fuzz_model.c — libFuzzer drives the atomics model: the first input byte
 * picks one of the model's test bodies (tests/model/cases.h: the deque, the
 * injection queue, the parker, a whole threaded runtime and its mutex,
 * semaphore, event, channel and notifier); the rest is the decision source
 * (WEFT_STRATEGY_BYTES): which simulated thread runs each atomic operation
 * and which store each load reads. A failed check, deadlock or livelock is a
 * crash; before aborting it prints the run's schedule, which replays it in
 * the model suite:
 *   WEFT_MODEL_CASE=<name> WEFT_SCHEDULE=<schedule> build/model/tests/model_tests */
#include "../tests/model/cases.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct fcase {
    const char *name;
    weft_fn body;
} fcase;

static const fcase cases[] = {
    {"deque_2", case_deque_2}, {"deque_3", case_deque_3}, {"deque_overflow", case_deque_overflow},
    {"inject", case_inject},   {"parker", case_parker},   {"pool", case_pool},
    {"mutex", case_mutex},     {"sem", case_sem},         {"event", case_event},
    {"chan", case_chan},       {"notify", case_notify},
};
#define NCASES (sizeof cases / sizeof cases[0])

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const fcase *fc = &cases[data[0] % NCASES];
    weft_config c;
    weft__model_config(&c);
    c.sim.strategy = WEFT_STRATEGY_BYTES;
    c.sim.bytes = data + 1;
    c.sim.bytes_len = size - 1;
    weft_rt *rt;
    if (weft_rt_new(&rt, &c) != 0)
        abort();
    int r = weft_rt_block_on(rt, fc->body, NULL, NULL);
    if (r != 0) {
        char *sched = NULL;
        weft_rt_schedule(rt, &sched, NULL);
        fprintf(stderr, "fuzz_model: %s failed (%s); replay with:\nWEFT_MODEL_CASE=%s WEFT_SCHEDULE=%s\n", fc->name,
                weft_strerror(r), fc->name, sched ? sched : "?");
        free(sched);
        abort(); /* the bytes are the reproduction too: libFuzzer saves them */
    }
    weft_rt_free(rt);
    return 0;
}
