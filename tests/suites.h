/* suites.h — every Check suite of the test binary, one per area. */
#ifndef WEFT_TEST_SUITES_H
#define WEFT_TEST_SUITES_H
#include <check.h>

#define WEFT_SUITES(X) \
    X(timer)           \
    X(runq)            \
    X(hooks)           \
    X(fiber)           \
    X(task)            \
    X(rt)              \
    X(sim)             \
    X(explore)         \
    X(replay)          \
    X(shrink)          \
    X(shard)           \
    X(selfcheck)       \
    X(timeline)        \
    X(sync)            \
    X(chan)            \
    X(scope)           \
    X(props)           \
    X(regress)         \
    X(threading)       \
    X(threads)         \
    X(seams)           \
    X(io)              \
    X(net)             \
    X(escape)          \
    X(sched)

#define WEFT_DECLARE_SUITE(name) Suite *suite_##name(void);
WEFT_SUITES(WEFT_DECLARE_SUITE)
#undef WEFT_DECLARE_SUITE

#endif
