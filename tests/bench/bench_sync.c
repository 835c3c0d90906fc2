/* bench_sync.c — costs of coordination primitives (no peers).
 *
 *   mutex_uncontended  ns     weft_mutex_lock + weft_mutex_unlock, 10,000,000
 *                             pairs in one task; ns per pair. Goal: <= 10 ns.
 *   select4_vs_recv    x      cost of one weft_select over 4 receive cases
 *                             with exactly one ready, against one
 *                             weft_chan_recv on a ready channel. Lower is
 *                             better; goal: <= 3.
 *                               weft            receive side alone: channel k
 *                                               (k rotating per batch) is
 *                                               filled with 1,024 elements
 *                                               untimed, then 1,024 selects are
 *                                               timed (each must take case k);
 *                                               likewise 1,024 recvs on one
 *                                               channel.
 *                               weft-with-send  per iteration try_send one
 *                                               element into ch[k] (k rotating)
 *                                               then select, against try_send +
 *                                               recv on one channel (capacity
 *                                               1); the send cost is in both.
 *
 * Threaded mode, one worker; one untimed warm-up pass, then the timed pass
 * (cold, BENCH_COLD=1: the timed pass alone; see bench.h). Three
 * measurements, in this order: mutex_uncontended, select4_vs_recv
 * weft-with-send, select4_vs_recv weft (BENCH_VARIANT 0, 1, 2).
 * Output: "BENCH <workload> <impl> <value> <unit>"; lines starting with '#'
 * are details for humans.
 */
#define _GNU_SOURCE
#define BENCH_NAME "bench_sync"
#include "bench.h"

#include <stdatomic.h>
#include <stdint.h>

#define MUTEX_PAIRS 10000000u
#define CHAN_ITERS 2048000u /* a multiple of BATCH, and so is a tenth of it */
#define NCHAN 4u
#define BATCH 1024u

/* ---- mutex ---- */

static double mutex_once(weft_mutex *m, unsigned pairs)
{
    double t0 = bench_now_sec();
    for (unsigned i = 0; i < pairs; i++) {
        if (weft_mutex_lock(m) != 0 || weft_mutex_unlock(m) != 0)
            bench_fail("mutex lock/unlock failed");
    }
    return bench_now_sec() - t0;
}

/* For scale: the same number of acquire-CAS + release-CAS pairs on a plain
 * word, the floor for any lock built on two atomic read-modify-writes. */
static double cas_pair_once(unsigned pairs)
{
    static _Atomic uintptr_t word;
    uintptr_t self = (uintptr_t)&word;
    double t0 = bench_now_sec();
    for (unsigned i = 0; i < pairs; i++) {
        uintptr_t expected = 0;
        if (!atomic_compare_exchange_strong_explicit(&word, &expected, self, memory_order_acquire,
                                                     memory_order_relaxed))
            abort();
        expected = self;
        if (!atomic_compare_exchange_strong_explicit(&word, &expected, 0, memory_order_release, memory_order_relaxed))
            abort();
    }
    return bench_now_sec() - t0;
}

/* ---- select vs receive ---- */

static double recv_once(weft_chan *ch, unsigned iters)
{
    double t0 = bench_now_sec();
    for (uint64_t i = 0; i < iters; i++) {
        uint64_t v = ~i;
        bench_check(weft_chan_try_send(ch, &i), "weft_chan_try_send");
        bench_check(weft_chan_recv(ch, &v), "weft_chan_recv");
        if (v != i)
            bench_fail("recv got %llu, expected %llu", (unsigned long long)v, (unsigned long long)i);
    }
    return bench_now_sec() - t0;
}

/* One receive case per channel, case k receiving into out[k]. */
static void recv_cases(weft_select_case *cases, weft_chan **ch, uint64_t *out)
{
    for (unsigned k = 0; k < NCHAN; k++) {
        cases[k].chan = ch[k];
        cases[k].op = WEFT_SELECT_RECV;
        cases[k].elem = &out[k];
        cases[k].result = 0;
    }
}

static double select_once(weft_chan **ch, unsigned iters)
{
    uint64_t out[NCHAN];
    weft_select_case cases[NCHAN];
    recv_cases(cases, ch, out);
    double t0 = bench_now_sec();
    for (uint64_t i = 0; i < iters; i++) {
        unsigned k = (unsigned)(i % NCHAN);
        bench_check(weft_chan_try_send(ch[k], &i), "weft_chan_try_send");
        int r = weft_select(cases, NCHAN, WEFT_NO_DEADLINE);
        if (r != (int)k || cases[k].result != 0 || out[k] != i)
            bench_fail("select returned %d (result %d, value %llu), expected case %u value %llu", r,
                       r >= 0 ? cases[r].result : 0, r >= 0 ? (unsigned long long)out[r] : 0ull, k,
                       (unsigned long long)i);
    }
    return bench_now_sec() - t0;
}

/* Receive side alone: fill untimed, time BATCH receives. */
static double recv_batched(weft_chan *ch, unsigned iters)
{
    double total = 0;
    uint64_t next = 0;
    for (unsigned done = 0; done < iters; done += BATCH) {
        for (unsigned j = 0; j < BATCH; j++) {
            uint64_t v = next + j;
            bench_check(weft_chan_try_send(ch, &v), "weft_chan_try_send");
        }
        double t0 = bench_now_sec();
        for (unsigned j = 0; j < BATCH; j++, next++) {
            uint64_t v = ~next;
            if (weft_chan_recv(ch, &v) != 0 || v != next)
                bench_fail("recv got %llu, expected %llu", (unsigned long long)v, (unsigned long long)next);
        }
        total += bench_now_sec() - t0;
    }
    return total;
}

static double select_batched(weft_chan **ch, unsigned iters)
{
    uint64_t out[NCHAN];
    weft_select_case cases[NCHAN];
    recv_cases(cases, ch, out);
    double total = 0;
    uint64_t next = 0;
    for (unsigned done = 0, k = 0; done < iters; done += BATCH, k = (k + 1) % NCHAN) {
        for (unsigned j = 0; j < BATCH; j++) {
            uint64_t v = next + j;
            bench_check(weft_chan_try_send(ch[k], &v), "weft_chan_try_send");
        }
        double t0 = bench_now_sec();
        for (unsigned j = 0; j < BATCH; j++, next++) {
            int r = weft_select(cases, NCHAN, WEFT_NO_DEADLINE);
            if (r != (int)k || cases[k].result != 0 || out[k] != next)
                bench_fail("select returned %d, expected case %u value %llu", r, k, (unsigned long long)next);
        }
        total += bench_now_sec() - t0;
    }
    return total;
}

/* Both select4_vs_recv variants: NCHAN fresh channels of `capacity`, a
 * warm-up of both passes at a tenth of the iterations, then both timed. */
static void recv_and_select(size_t capacity, double (*recv_pass)(weft_chan *, unsigned),
                            double (*select_pass)(weft_chan **, unsigned), double *recv_s, double *select_s)
{
    weft_chan *ch[NCHAN];
    for (unsigned k = 0; k < NCHAN; k++)
        bench_check(weft_chan_new(&ch[k], sizeof(uint64_t), capacity), "weft_chan_new");
    if (!bench_cold()) {
        recv_pass(ch[0], CHAN_ITERS / 10); /* warm-up */
        select_pass(ch, CHAN_ITERS / 10);
    }
    *recv_s = recv_pass(ch[0], CHAN_ITERS);
    *select_s = select_pass(ch, CHAN_ITERS);
    for (unsigned k = 0; k < NCHAN; k++)
        bench_check(weft_chan_free(ch[k]), "weft_chan_free");
}

typedef struct results {
    int mutex, alone, with_send; /* which measurements to make */
    double mutex_s, cas_s, recv_s, select_s, recv_alone_s, select_alone_s;
} results;

static void *root(void *arg)
{
    results *res = arg;

    if (res->mutex) {
        weft_mutex m;
        bench_check(weft_mutex_init(&m), "weft_mutex_init");
        if (!bench_cold())
            mutex_once(&m, MUTEX_PAIRS / 10); /* warm-up */
        res->mutex_s = mutex_once(&m, MUTEX_PAIRS);
        bench_check(weft_mutex_destroy(&m), "weft_mutex_destroy");
        if (!bench_cold())
            cas_pair_once(MUTEX_PAIRS / 10);
        res->cas_s = cas_pair_once(MUTEX_PAIRS);
    }
    if (res->with_send)
        recv_and_select(1, recv_once, select_once, &res->recv_s, &res->select_s);
    if (res->alone)
        recv_and_select(BATCH, recv_batched, select_batched, &res->recv_alone_s, &res->select_alone_s);
    return NULL;
}

int main(void)
{
    results res = {0, 0, 0, 0, 0, 0, 0, 0, 0};
    res.mutex = bench_variant("mutex_uncontended", "weft");
    /* In the order they run (BENCH_VARIANT counts calls). */
    res.with_send = bench_variant("select4_vs_recv", "weft-with-send");
    res.alone = bench_variant("select4_vs_recv", "weft");
    if (!res.mutex && !res.alone && !res.with_send)
        return 0;
    bench_run_threaded(root, &res);

    if (res.mutex) {
        bench_report("mutex_uncontended", "weft", res.mutex_s * 1e9 / MUTEX_PAIRS, "ns");
        printf("# mutex_uncontended: a bare CAS + CAS pair on this machine takes %.1f ns\n",
               res.cas_s * 1e9 / MUTEX_PAIRS);
    }
    if (res.alone) {
        double recv1_ns = res.recv_alone_s * 1e9 / CHAN_ITERS, select1_ns = res.select_alone_s * 1e9 / CHAN_ITERS;
        bench_report("select4_vs_recv", "weft", select1_ns / recv1_ns, "x");
        printf("# select4_vs_recv: select(4 cases, 1 ready) %.1f ns, recv %.1f ns\n", select1_ns, recv1_ns);
    }
    if (res.with_send) {
        double recv_ns = res.recv_s * 1e9 / CHAN_ITERS, select_ns = res.select_s * 1e9 / CHAN_ITERS;
        bench_report("select4_vs_recv", "weft-with-send", select_ns / recv_ns, "x");
        printf("# select4_vs_recv: with a try_send in each iteration: select %.1f ns vs recv %.1f ns\n", select_ns,
               recv_ns);
    }
    return 0;
}
