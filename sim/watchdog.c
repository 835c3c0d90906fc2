/* watchdog.c — a wall-clock watchdog for simulated runs. A task that loops
 * without ever calling the runtime gives the simulator no scheduling point
 * to switch at, and the step budget never sees it: the run would hang
 * forever. Instead, a timer on the simulating thread checks that steps are
 * being taken; after sim.watchdog_ms without one it reports the running task
 * (id, name) and the replay line, and aborts the process.
 *
 * Wall-clock time is read only here, and decides nothing in a run: it can
 * only end a run that could never end by itself.
 */
#define _GNU_SOURCE
#include "sim.h"

#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define WEFT__WATCHDOG_MS_DEFAULT 10000u
/* How often the timer looks: a tenth of the bound, at most 250 ms. */
#define WEFT__WATCHDOG_TICKS 10u
#define WEFT__WATCHDOG_TICK_MAX_MS 250u

/* The simulating thread's watchdog: one timer per OS thread, armed only
 * while a simulated run is on it (so no signal reaches a thread otherwise). */
typedef struct watchdog {
    bool created;
    timer_t id;
    weft__sim *run; /* the run being watched, or NULL */
    uint64_t last_progress;
    unsigned quiet_ticks, limit_ticks;
    uint64_t bound_ms;
    uint64_t ticking_ms; /* the timer's period while it runs, else 0 */
    unsigned held;       /* campaigns holding the timer between their runs */
} watchdog;

static WEFT_TLS watchdog dog;
static weft__a32 handler_installed;

static int watchdog_signal(void)
{
    return SIGRTMAX - 5;
}

static void report(weft__sim *s)
{
    char buf[512];
    size_t n = 0;
    weft__worker *w = weft__tls_worker;
    weft__task *t = w ? w->current : NULL;
    weft__fmt_str(buf, sizeof buf, &n, "weft: watchdog: task ");
    weft__fmt_u64(buf, sizeof buf, &n, t ? t->node.task_id : 0);
    weft__fmt_str(buf, sizeof buf, &n, " (");
    weft__fmt_str(buf, sizeof buf, &n, t ? weft__task_label(t) : "a worker loop or timer callback");
    weft__fmt_str(buf, sizeof buf, &n, ") ran for ");
    weft__fmt_u64(buf, sizeof buf, &n, dog.bound_ms);
    weft__fmt_str(buf, sizeof buf, &n, " ms of real time without a scheduling point (a loop that never calls "
                                       "the runtime?): the simulator cannot switch away from it\n");
    weft__write_all(2, buf, n);
    weft__sim_crash_report(s->rt, 2);
}

static void on_tick(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)si;
    (void)uc;
    weft__sim *s = dog.run;
    if (!s)
        return;
    uint64_t p = s->progress.v;
    if (p != dog.last_progress) {
        dog.last_progress = p;
        dog.quiet_ticks = 0;
        return;
    }
    if (++dog.quiet_ticks < dog.limit_ticks)
        return;
    report(s);
    signal(SIGABRT, SIG_DFL);
    abort();
}

static int install_handler(void)
{
    uint32_t expected = 0;
    if (!weft__cas(&handler_installed, &expected, 1u, WEFT__ACQ_REL, WEFT__ACQUIRE))
        return 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_tick;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    return sigaction(watchdog_signal(), &sa, NULL) == 0 ? 0 : WEFT_EIO;
}

int weft__watchdog_arm(weft__sim *s)
{
    if (install_handler() < 0)
        return WEFT_EIO;
    if (!dog.created) {
        struct sigevent ev;
        memset(&ev, 0, sizeof ev);
        ev.sigev_notify = SIGEV_THREAD_ID;
        ev.sigev_signo = watchdog_signal();
        ev._sigev_un._tid = gettid();
        if (timer_create(CLOCK_MONOTONIC, &ev, &dog.id) != 0)
            return WEFT_EIO; /* runs unwatched: a spin hangs, as without a watchdog */
        dog.created = true;
    }
    uint64_t bound = s->rt->cfg.sim.watchdog_ms ? s->rt->cfg.sim.watchdog_ms : WEFT__WATCHDOG_MS_DEFAULT;
    uint64_t tick = bound / WEFT__WATCHDOG_TICKS;
    if (tick > WEFT__WATCHDOG_TICK_MAX_MS)
        tick = WEFT__WATCHDOG_TICK_MAX_MS;
    if (tick == 0)
        tick = 1;
    /* The handler may run between these stores while a held timer ticks:
     * it looks at nothing until `run` is set, last. */
    dog.bound_ms = bound;
    /* A held timer's next tick may come at once: one more keeps the bound. */
    dog.limit_ticks = (unsigned)((bound + tick - 1) / tick) + (dog.ticking_ms == tick);
    dog.quiet_ticks = 0;
    dog.last_progress = s->progress.v;
    weft__signal_fence();
    dog.run = s;
    if (dog.ticking_ms == tick)
        return 0; /* held from the last run, at this period */
    struct itimerspec its;
    its.it_interval.tv_sec = (time_t)(tick / 1000);
    its.it_interval.tv_nsec = (long)(tick % 1000) * 1000000;
    its.it_value = its.it_interval;
    if (timer_settime(dog.id, 0, &its, NULL) == 0)
        dog.ticking_ms = tick;
    return 0;
}

static void timer_off(void)
{
    struct itimerspec off;
    memset(&off, 0, sizeof off);
    timer_settime(dog.id, 0, &off, NULL);
    dog.ticking_ms = 0;
}

void weft__watchdog_disarm(weft__sim *s)
{
    (void)s;
    if (!dog.created || !dog.run)
        return;
    dog.run = NULL;
    weft__signal_fence();
    if (!dog.held && dog.ticking_ms)
        timer_off();
}

/* A campaign of runs on this thread keeps the timer ticking between them
 * (a tick between runs finds no run and returns): arming and disarming it
 * for each run were two timer_settime calls, 6% of a short seed. */
void weft__watchdog_hold(void)
{
    dog.held++;
}

void weft__watchdog_release(void)
{
    WEFT_INVARIANT(dog.held > 0, "a watchdog released that was not held");
    if (--dog.held == 0 && !dog.run && dog.created && dog.ticking_ms)
        timer_off();
}

void weft__watchdog_free(weft__sim *s)
{
    if (dog.run == s)
        weft__watchdog_disarm(s);
}
