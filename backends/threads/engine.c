/* engine.c — the OS threads of a threaded runtime: one per worker, started
 * in weft_rt_new with their engine's settings (thread name, scheduling
 * policy and priority or nice value, CPU affinity) applied by each thread to
 * itself; a setting the OS refuses fails weft_rt_new with a message naming
 * the field. Between runs a worker thread sleeps on the run counter. */
#define _GNU_SOURCE
#include "threads.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

/* The signal stack of each worker thread (overflow reports run on it). */
#define WEFT__ALTSTACK_SIZE (64u * 1024u)

static int os_error(int err)
{
    return err == EPERM || err == EACCES ? WEFT_EPERM : err == ENOMEM ? WEFT_ENOMEM : WEFT_EINVAL;
}

static int refuse(weft__thr_worker *tw, int code, const char *fmt, const char *engine, const char *detail)
{
    tw->start_error = code;
    snprintf(tw->start_why, sizeof tw->start_why, fmt, engine, detail);
    return code;
}

static int apply_affinity(weft__worker *w, weft__thr_worker *tw)
{
    const weft_engine_config *c = &w->engine->cfg;
    if (!c->ncpus)
        return 0;
    long configured = sysconf(_SC_NPROCESSORS_CONF);
    cpu_set_t set;
    CPU_ZERO(&set);
    for (unsigned k = 0; k < c->ncpus; k++) {
        if (configured > 0 && c->cpus[k] >= configured) {
            char detail[64];
            snprintf(detail, sizeof detail, "%d (this machine has CPUs 0-%ld)", c->cpus[k], configured - 1);
            return refuse(tw, WEFT_EINVAL, "engine '%s': cpus: no CPU %s", w->engine->name, detail);
        }
        CPU_SET(c->cpus[k], &set);
    }
    if (sched_setaffinity(0, sizeof set, &set) != 0)
        return refuse(tw, os_error(errno), "engine '%s': cpus: the OS refused the affinity (%s)", w->engine->name,
                      strerror(errno));
    return 0;
}

static int apply_priority(weft__worker *w, weft__thr_worker *tw)
{
    const weft_engine_config *c = &w->engine->cfg;
    if (c->sched_policy != SCHED_OTHER) {
        struct sched_param sp = {.sched_priority = c->sched_priority};
        int e = pthread_setschedparam(pthread_self(), c->sched_policy, &sp);
        if (e)
            return refuse(tw, os_error(e), "engine '%s': sched_policy/sched_priority refused by the OS (%s; real-time "
                                           "scheduling needs CAP_SYS_NICE or an RLIMIT_RTPRIO)",
                          w->engine->name, strerror(e));
    } else if (c->nice) {
        if (setpriority(PRIO_PROCESS, (id_t)gettid(), c->nice) != 0)
            return refuse(tw, os_error(errno), "engine '%s': nice refused by the OS (%s; lowering it needs "
                                               "CAP_SYS_NICE or an RLIMIT_NICE)",
                          w->engine->name, strerror(errno));
    }
    return 0;
}

static void apply_name(weft__worker *w)
{
    const weft_engine_config *c = &w->engine->cfg;
    char name[16], suffix[16];
    unsigned k = w->dedicated ? w->index_in_engine - w->engine->nworkers : w->index_in_engine;
    snprintf(suffix, sizeof suffix, "-%s%u", w->dedicated ? "d" : "", k);
    /* The prefix gives way when the name is too long for Linux, never the
     * number: "-d10" and "-d11" must not both become "-d1". */
    const char *prefix = c->thread_name ? c->thread_name : "weft";
    size_t len = strlen(suffix), plen = strlen(prefix);
    if (plen > sizeof name - 1 - len)
        plen = sizeof name - 1 - len;
    memcpy(name, prefix, plen);
    memcpy(name + plen, suffix, len + 1);
    pthread_setname_np(pthread_self(), name);
}

void weft__thread_enter(weft__thr *thr, weft__worker *w)
{
    (void)thr;
    weft__tls_worker = w;
    weft__ctx_init_host(&w->loop_ctx);
}

void weft__thread_leave(weft__thr *thr, weft__worker *w)
{
    (void)thr;
    (void)w;
    weft__tls_worker = NULL;
}

static void altstack_on(weft_rt *rt, weft__thr_worker *tw)
{
    int err = 0;
    tw->altstack = rt->os.mmap(rt->os.ctx, WEFT__ALTSTACK_SIZE, PROT_READ | PROT_WRITE, &err);
    if (!tw->altstack)
        return;
    tw->altstack_size = WEFT__ALTSTACK_SIZE;
    stack_t ss = {.ss_sp = tw->altstack, .ss_size = tw->altstack_size, .ss_flags = 0};
    sigaltstack(&ss, NULL);
}

static void altstack_off(weft_rt *rt, weft__thr_worker *tw)
{
    if (!tw->altstack)
        return;
    stack_t off = {.ss_sp = NULL, .ss_size = 0, .ss_flags = SS_DISABLE};
    sigaltstack(&off, NULL);
    rt->os.munmap(rt->os.ctx, tw->altstack, tw->altstack_size);
    tw->altstack = NULL;
}

/* One run: the worker's loop, until the run stops. The last worker out
 * tells the thread waiting in weft_rt_block_on. */
static void run_once(weft__thr *thr, weft__worker *w, uint32_t gen)
{
    weft__thread_enter(thr, w);
    weft__worker_loop(w);
    weft__thread_leave(thr, w);
    if (weft__fetch_sub(&thr->in_loop, 1u, WEFT__ACQ_REL) == 1) {
        weft__st(&thr->done_gen, gen, WEFT__RELEASE);
        weft__futex_wake(&thr->rt->os, &thr->done_gen, INT_MAX);
    }
}

static void *worker_main(void *arg)
{
    weft__worker *w = arg;
    weft_rt *rt = w->rt;
    weft__thr *thr = weft__thr_of(rt);
    weft__thr_worker *tw = &thr->tw[w->index];
    apply_name(w);
    if (apply_affinity(w, tw) == 0)
        apply_priority(w, tw);
    weft__fetch_add(&thr->started, 1u, WEFT__ACQ_REL);
    weft__futex_wake(&rt->os, &thr->started, INT_MAX);
    if (tw->start_error)
        return NULL;
    altstack_on(rt, tw);
    uint32_t seen = 0;
    for (;;) {
        uint32_t gen;
        while ((gen = weft__ld(&thr->run_gen, WEFT__ACQUIRE)) == seen && !weft__ld(&thr->quit, WEFT__ACQUIRE))
            weft__futex_wait(&rt->os, &thr->run_gen, seen, UINT64_MAX);
        if (weft__ld(&thr->quit, WEFT__ACQUIRE))
            break;
        seen = gen;
        run_once(thr, w, gen);
    }
    altstack_off(rt, tw);
    return NULL;
}

int weft__threads_start(weft__thr *thr)
{
    weft_rt *rt = thr->rt;
    unsigned made = 0;
    int r = 0;
    for (; made < rt->nworkers; made++) {
        weft__thr_worker *tw = &thr->tw[made];
        if ((r = weft__thread_start(&tw->thread, worker_main, &rt->workers[made])) < 0)
            break;
        tw->has_thread = true;
    }
    /* Wait until each has applied its settings (or failed to). */
    uint32_t n;
    while ((n = weft__ld(&thr->started, WEFT__ACQUIRE)) < made)
        weft__futex_wait(&rt->os, &thr->started, n, UINT64_MAX);
    for (unsigned i = 0; i < made && r == 0; i++) {
        weft__thr_worker *tw = &thr->tw[i];
        if (tw->start_error)
            r = WEFT_MISUSE_RT(rt, tw->start_error, "weft_rt_new: %s", tw->start_why);
    }
    if (r < 0 && made < rt->nworkers && !thr->tw[made].start_error)
        r = WEFT_MISUSE_RT(rt, r, "weft_rt_new: could not start worker thread %u", made);
    return r;
}

void weft__threads_stop(weft__thr *thr)
{
    weft_rt *rt = thr->rt;
    weft__st(&thr->quit, 1u, WEFT__RELEASE);
    weft__fetch_add(&thr->run_gen, 1u, WEFT__ACQ_REL);
    weft__futex_wake(&rt->os, &thr->run_gen, INT_MAX);
    for (unsigned i = 0; i < rt->nworkers; i++) {
        weft__thr_worker *tw = &thr->tw[i];
        if (tw->has_thread) {
            weft__thread_join(&tw->thread, NULL);
            tw->has_thread = false;
        }
    }
}
