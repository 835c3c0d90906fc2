/* test_net.c — the simulated network, nodes and disks, over a thousand seeds
 * each where it matters: latency is drawn per seed, with a tail when one is
 * set and only then; streams deliver every byte in order through latency,
 * short reads and writes, and from two writers on two workers (through pauses
 * and a crash of the reader's node); datagrams are lost, duplicated and
 * reordered (and nothing else happens to them); a peer's close gives the
 * codes Linux gives (checked on the real loopback too); partitions
 * (symmetric and one-way) reset streams, drop packets and heal; a clogged
 * path delays without losing; a crash kills the node's tasks, resets its
 * peers and loses exactly its unsynced writes (or tears them at the block
 * size); restart runs a fresh entry; disk errors (reads at their rate, and
 * failing changes nothing) and a full disk; per-node clock skew and drift,
 * drawn per seed; the same seed gives the same trace hash, with every fault
 * at once; bad input. */
#define _GNU_SOURCE
#include "support.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEC 1000000000ull

static weft_config sim(unsigned workers, uint64_t seed)
{
    weft_config c = test_config(workers, seed);
    return c;
}

/* Run body under seeds [0, n) on `workers` virtual workers; a failed run
 * fails the test with its seed and message. Returns the runs' hash sum. */
static uint64_t over_seeds(weft_fn body, void *arg, uint64_t n, unsigned workers)
{
    uint64_t sum = 0;
    for (uint64_t seed = 0; seed < n; seed++) {
        weft_config c = sim(workers, seed);
        weft_rt *rt;
        ck_assert_weft(weft_rt_new(&rt, &c), 0);
        void *res = NULL;
        int r = weft_rt_block_on(rt, body, arg, &res);
        sum += weft_rt_trace_hash(rt);
        weft_rt_free(rt);
        ck_assert_msg(r == 0 && res == NULL, "seed %llu, %u worker(s): run returned %d (%s), body failed at line %ld",
                      (unsigned long long)seed, workers, r, weft_strerror(r), (long)(intptr_t)res);
    }
    return sum;
}

#define CHECK(cond)                                                                                             \
    do {                                                                                                        \
        if (!(cond)) {                                                                                          \
            fprintf(stderr, "test_net:%d: %s\n", __LINE__, #cond);                                              \
            return (void *)(intptr_t)__LINE__;                                                                  \
        }                                                                                                       \
    } while (0)

/* Field by field: a struct's padding is not part of its value. */
static bool same_net_config(const weft_net_config *x, const weft_net_config *y)
{
    return x->latency_min_ns == y->latency_min_ns && x->latency_mean_ns == y->latency_mean_ns &&
           x->tail_permille == y->tail_permille && x->tail_ns == y->tail_ns && x->loss_permille == y->loss_permille &&
           x->dup_permille == y->dup_permille && x->reorder_permille == y->reorder_permille &&
           x->reorder_ns == y->reorder_ns && x->short_io_permille == y->short_io_permille &&
           x->connect_timeout_ns == y->connect_timeout_ns && x->latency_min_spread_ns == y->latency_min_spread_ns &&
           x->latency_mean_spread_ns == y->latency_mean_spread_ns;
}

static uint8_t pat(unsigned id, size_t i)
{
    return (uint8_t)(id * 31u + i * 13u + (i >> 7));
}

/* ---- streams ----------------------------------------------------------------------- */

typedef struct stream_case {
    weft_node *a, *b;
    size_t bytes;
    unsigned conns;
} stream_case;

static void *stream_server_conn(void *arg)
{
    weft_sock *c = arg;
    uint8_t buf[1500];
    size_t got = 0;
    unsigned id = 0;
    /* The first byte names the connection; the rest is its pattern. */
    for (;;) {
        ssize_t n = weft_sock_read(c, buf, sizeof buf);
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++, got++) {
            if (got == 0)
                id = buf[i];
            else if (buf[i] != pat(id, got - 1))
                return (void *)(uintptr_t)1;
        }
    }
    weft_sock_write_all(c, &got, sizeof got, NULL);
    weft_sock_close(c);
    return NULL;
}

static void *stream_server(void *arg)
{
    stream_case *sc = arg;
    weft_sock *l;
    if (weft_tcp_listen(&l, "0.0.0.0:7000", 64) < 0)
        return (void *)(uintptr_t)1;
    weft_task *ts[16];
    unsigned n = 0;
    for (; n < sc->conns; n++) {
        weft_sock *c;
        if (weft_tcp_accept(l, &c) < 0)
            break;
        weft_spawn(&ts[n], stream_server_conn, c);
    }
    void *bad = NULL;
    for (unsigned i = 0; i < n; i++) {
        void *r;
        weft_join(ts[i], &r);
        if (r)
            bad = r;
    }
    weft_sock_close(l);
    return n == sc->conns ? bad : (void *)(uintptr_t)2;
}

typedef struct stream_client_arg {
    unsigned id;
    size_t bytes;
    int result;
} stream_client_arg;

static void *stream_client(void *arg)
{
    stream_client_arg *ca = arg;
    weft_sock *s;
    int r;
    /* The server may not be listening yet: a refused connect is retried. */
    for (int i = 0; (r = weft_tcp_connect(&s, "10.0.0.2:7000")) == WEFT_ECONNREFUSED && i < 100; i++)
        weft_sleep(10 * MS);
    if (r < 0) {
        ca->result = r;
        return NULL;
    }
    uint8_t id = (uint8_t)ca->id;
    weft_sock_write_all(s, &id, 1, NULL);
    uint8_t buf[3000];
    size_t sent = 0;
    while (sent < ca->bytes) {
        size_t k = 1 + (size_t)(weft_rand() % sizeof buf);
        if (k > ca->bytes - sent)
            k = ca->bytes - sent;
        for (size_t i = 0; i < k; i++)
            buf[i] = pat(id, sent + i);
        ssize_t n = weft_sock_write(s, buf, k);
        if (n <= 0) {
            ca->result = n ? (int)n : WEFT_EIO;
            return NULL;
        }
        sent += (size_t)n;
    }
    weft_sock_shutdown(s, WEFT_SHUT_WR);
    size_t echoed = 0, got = 0;
    while (got < sizeof echoed) {
        ssize_t n = weft_sock_read(s, (char *)&echoed + got, sizeof echoed - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    ca->result = got == sizeof echoed && echoed == ca->bytes + 1 ? 0 : WEFT_EIO;
    weft_sock_close(s);
    return NULL;
}

static void *streams(void *arg)
{
    size_t bytes = (size_t)(uintptr_t)arg;
    weft_node *a, *b;
    CHECK(weft_node_new(&a, "a", "10.0.0.1") == 0);
    CHECK(weft_node_new(&b, "b", "10.0.0.2") == 0);
    weft_net_config nc = {.latency_min_ns = MS, .latency_mean_ns = 5 * MS, .tail_permille = 50,
                          .tail_ns = 100 * MS, .short_io_permille = 300};
    CHECK(weft_net_config_set(&nc) == 0);
    stream_case sc = {a, b, bytes, 3};
    weft_spawn_opts ob = {.name = "server", .node = b};
    weft_task *srv;
    CHECK(weft_spawn_ex(&srv, stream_server, &sc, &ob) == 0);
    stream_client_arg ca[3];
    weft_task *cl[3];
    for (unsigned i = 0; i < 3; i++) {
        ca[i] = (stream_client_arg){i + 1, bytes + i * 1000, 0};
        weft_spawn_opts oa = {.name = "client", .node = a};
        CHECK(weft_spawn_ex(&cl[i], stream_client, &ca[i], &oa) == 0);
    }
    for (unsigned i = 0; i < 3; i++)
        weft_join(cl[i], NULL);
    void *sr;
    weft_join(srv, &sr);
    CHECK(sr == NULL);
    for (unsigned i = 0; i < 3; i++)
        CHECK(ca[i].result == 0);
    return NULL;
}

START_TEST(streams_deliver_every_byte_in_order_over_a_thousand_seeds)
{
    over_seeds(streams, (void *)(uintptr_t)20000, seeds_for(1000), 1);
    over_seeds(streams, (void *)(uintptr_t)5000, seeds_for(300), 2);
    over_seeds(streams, (void *)(uintptr_t)5000, seeds_for(100), 4);
}
END_TEST

/* ---- latency drawn per seed ---------------------------------------------------------------- */

/* With the spreads set, each seed draws its network's minimum and mean
 * latency once (TigerBeetle's packet simulator does so); every datagram's
 * latency then comes from the run's own distribution. A run sends PER_SEED_DGRAMS
 * datagrams from a to b, one at a time, each carrying its send time. */
enum { PER_SEED_DGRAMS = 16 };
#define LAT_MIN (1 * MS)
#define LAT_MIN_SPREAD (2 * MS)
#define LAT_MEAN (3 * MS)
#define LAT_MEAN_SPREAD (10 * MS)

typedef struct drawn_net {
    uint64_t min, mean;        /* what weft_net_config_get said the run drew */
    uint64_t lowest, sum;      /* of the datagrams' latencies */
    unsigned got;
} drawn_net;

static void *timed_receiver(void *arg)
{
    drawn_net *d = arg;
    weft_sock *s;
    if (weft_udp_bind(&s, "10.0.0.2:7") < 0)
        return (void *)(intptr_t)__LINE__;
    d->lowest = UINT64_MAX;
    while (d->got < PER_SEED_DGRAMS) {
        uint64_t sent;
        char from[WEFT_ADDR_MAX];
        if (weft_udp_recv_from(s, &sent, sizeof sent, from, sizeof from) != (ssize_t)sizeof sent)
            return (void *)(intptr_t)__LINE__;
        uint64_t lat = weft_now() - sent;
        d->lowest = lat < d->lowest ? lat : d->lowest;
        d->sum += lat;
        d->got++;
    }
    weft_sock_close(s);
    return NULL;
}

/* PER_SEED_DGRAMS datagrams from a to b, each carrying its send time, a
 * gap of arg nanoseconds (as (void *)(uintptr_t)) after each: 0 sends them
 * all at once. */
static void *timed_sender(void *arg)
{
    uint64_t gap = (uint64_t)(uintptr_t)arg;
    weft_sock *s;
    CHECK(weft_udp_bind(&s, "10.0.0.1:0") == 0);
    for (unsigned i = 0; i < PER_SEED_DGRAMS; i++) {
        uint64_t now = weft_now();
        CHECK(weft_udp_send_to(s, &now, sizeof now, "10.0.0.2:7") == (ssize_t)sizeof now);
        if (gap)
            weft_sleep(gap);
    }
    weft_sock_close(s);
    return NULL;
}

static void *per_seed_network(void *arg)
{
    drawn_net *d = arg;
    weft_node *a, *b;
    CHECK(weft_node_new(&a, "a", "10.0.0.1") == 0);
    CHECK(weft_node_new(&b, "b", "10.0.0.2") == 0);
    weft_net_config nc = {.latency_min_ns = LAT_MIN, .latency_min_spread_ns = LAT_MIN_SPREAD,
                          .latency_mean_ns = LAT_MEAN, .latency_mean_spread_ns = LAT_MEAN_SPREAD,
                          .connect_timeout_ns = 7 * SEC};
    CHECK(weft_net_config_set(&nc) == 0);
    weft_net_config got;
    CHECK(weft_net_config_get(&got) == 0);
    d->min = got.latency_min_ns;
    d->mean = got.latency_mean_ns;
    CHECK(d->min >= LAT_MIN && d->min <= LAT_MIN + LAT_MIN_SPREAD);
    CHECK(d->mean >= LAT_MEAN && d->mean <= LAT_MEAN + LAT_MEAN_SPREAD);
    /* The draw replaces the ranges; the rest is as set. */
    CHECK(got.latency_min_spread_ns == 0 && got.latency_mean_spread_ns == 0 && got.connect_timeout_ns == 7 * SEC);
    weft_spawn_opts ob = {.name = "receiver", .node = b}, oa = {.name = "sender", .node = a};
    weft_task *r, *sd;
    CHECK(weft_spawn_ex(&r, timed_receiver, d, &ob) == 0);
    weft_sleep(MS);
    CHECK(weft_spawn_ex(&sd, timed_sender, (void *)(uintptr_t)(100 * MS), &oa) == 0); /* one in flight at a time */
    void *rr, *sr;
    CHECK(weft_join(sd, &sr) == 0 && sr == NULL);
    CHECK(weft_join(r, &rr) == 0 && rr == NULL);
    /* Never below the run's own minimum. */
    CHECK(d->got == PER_SEED_DGRAMS && d->lowest >= d->min);
    return NULL;
}

static drawn_net run_per_seed(uint64_t seed)
{
    weft_config c = sim(1, seed);
    drawn_net d;
    memset(&d, 0, sizeof d);
    void *res = (void *)1;
    ck_assert_weft(run_in(&c, per_seed_network, &d, &res), 0);
    ck_assert_msg(res == NULL, "seed %llu: body failed at line %ld", (unsigned long long)seed, (long)(intptr_t)res);
    return d;
}

START_TEST(latency_minimum_and_mean_are_drawn_per_seed_and_replay)
{
    const uint64_t n = seeds_for(1000);
    uint64_t min_low = 0, mean_low = 0, distinct = 0, prev_min = UINT64_MAX;
    /* The datagrams' mean latency above the minimum, for the seeds that
     * drew a mean in the lowest and in the highest quarter of its range. */
    uint64_t slow_sum = 0, slow_runs = 0, fast_sum = 0, fast_runs = 0;
    for (uint64_t seed = 0; seed < n; seed++) {
        drawn_net d = run_per_seed(seed);
        min_low += d.min < LAT_MIN + LAT_MIN_SPREAD / 2;
        mean_low += d.mean < LAT_MEAN + LAT_MEAN_SPREAD / 2;
        distinct += d.min != prev_min;
        prev_min = d.min;
        uint64_t above = d.sum / PER_SEED_DGRAMS - d.min;
        if (d.mean < LAT_MEAN + LAT_MEAN_SPREAD / 4) {
            fast_sum += above;
            fast_runs++;
        } else if (d.mean > LAT_MEAN + 3 * LAT_MEAN_SPREAD / 4) {
            slow_sum += above;
            slow_runs++;
        }
    }
    /* Both ranges are covered: each half holds at least a third of the seeds. */
    ck_assert_uint_ge(min_low * 3, n);
    ck_assert_uint_ge((n - min_low) * 3, n);
    ck_assert_uint_ge(mean_low * 3, n);
    ck_assert_uint_ge((n - mean_low) * 3, n);
    ck_assert_uint_ge(distinct * 10, n * 9);
    /* The drawn mean is the one the datagrams see: the slow quarter's
     * datagrams take at least twice as long above the minimum as the fast
     * quarter's (their means are >= 10.5 ms and <= 5.5 ms). */
    ck_assert_uint_gt(fast_runs, 0);
    ck_assert_uint_gt(slow_runs, 0);
    ck_assert_uint_ge(slow_sum / slow_runs, 2 * (fast_sum / fast_runs));
    /* A seed replays its own network. */
    for (uint64_t seed = 0; seed < 20; seed++) {
        drawn_net x = run_per_seed(seed), y = run_per_seed(seed);
        ck_assert_uint_eq(x.min, y.min);
        ck_assert_uint_eq(x.mean, y.mean);
        ck_assert_uint_eq(x.sum, y.sum);
    }
}
END_TEST

/* Without spreads, every seed's network has the config's minimum and mean. */
static void *fixed_network(void *arg)
{
    (void)arg;
    weft_net_config nc = {.latency_min_ns = LAT_MIN, .latency_mean_ns = LAT_MEAN, .tail_permille = 5,
                          .tail_ns = 9 * MS};
    CHECK(weft_net_config_set(&nc) == 0);
    weft_net_config got;
    CHECK(weft_net_config_get(&got) == 0 && same_net_config(&got, &nc));
    return NULL;
}

START_TEST(without_spreads_the_latency_is_the_same_for_every_seed)
{
    over_seeds(fixed_network, NULL, seeds_for(100), 1);
}
END_TEST

/* ---- the latency's tail --------------------------------------------------------------------------- */

/* A run sends TAIL_DGRAMS datagrams from a to b at once, each carrying its
 * send time. The exponential part of a latency is at most the minimum plus
 * TAIL_EXP_MAX means (the draws are capped there, and past it lies 2 in a
 * billion anyway), so a latency beyond that is the tail's, which adds
 * TAIL_NS to one: none falls between the two. */
enum { TAIL_DGRAMS = PER_SEED_DGRAMS, TAIL_PERMILLE = 100, TAIL_EXP_MAX = 20 };
#define TAIL_NS SEC

typedef struct tail_run {
    unsigned tail_permille; /* the config's; tail_ns is TAIL_NS either way */
    uint64_t got, slow;     /* datagrams received, and of them the tail's */
    uint64_t odd;           /* a latency out of both ranges (0: none) */
} tail_run;

static void *tail_receiver(void *arg)
{
    tail_run *tr = arg;
    weft_sock *s;
    CHECK(weft_udp_bind(&s, "10.0.0.2:7") == 0);
    for (unsigned i = 0; i < TAIL_DGRAMS; i++) {
        uint64_t sent;
        CHECK(weft_udp_recv_from_until(s, &sent, sizeof sent, NULL, 0, weft_now() + 10 * SEC) == (ssize_t)sizeof sent);
        uint64_t lat = weft_now() - sent, fast_max = MS + TAIL_EXP_MAX * MS;
        tr->got++;
        if (lat >= MS + TAIL_NS && lat <= fast_max + TAIL_NS)
            tr->slow++;
        else if (lat < MS || lat > fast_max)
            tr->odd = lat;
    }
    weft_sock_close(s);
    return NULL;
}

static void *tailed_network(void *arg)
{
    tail_run *tr = arg;
    weft_node *a, *b;
    CHECK(weft_node_new(&a, "a", "10.0.0.1") == 0);
    CHECK(weft_node_new(&b, "b", "10.0.0.2") == 0);
    weft_net_config nc = {.latency_min_ns = MS, .latency_mean_ns = MS, .tail_permille = tr->tail_permille,
                          .tail_ns = TAIL_NS};
    CHECK(weft_net_config_set(&nc) == 0);
    uint64_t got_before = tr->got;
    weft_spawn_opts ob = {.name = "receiver", .node = b}, oa = {.name = "sender", .node = a};
    weft_task *r, *sd;
    CHECK(weft_spawn_ex(&r, tail_receiver, tr, &ob) == 0);
    weft_sleep(MS);
    CHECK(weft_spawn_ex(&sd, timed_sender, NULL, &oa) == 0); /* all at once */
    void *rr = (void *)1, *sr = (void *)1;
    CHECK(weft_join(sd, &sr) == 0 && sr == NULL);
    CHECK(weft_join(r, &rr) == 0 && rr == NULL);
    if (tr->odd)
        fprintf(stderr, "test_net: a datagram took %llu ns\n", (unsigned long long)tr->odd);
    CHECK(tr->odd == 0 && tr->got - got_before == TAIL_DGRAMS);
    return NULL;
}

START_TEST(the_latency_tail_delays_some_packets_far_past_the_exponential_and_only_when_set)
{
    const uint64_t n = seeds_for(1000);
    tail_run with = {.tail_permille = TAIL_PERMILLE}, without = {.tail_permille = 0};
    over_seeds(tailed_network, &with, n, 1);
    over_seeds(tailed_network, &without, n, 1);
    /* About TAIL_PERMILLE of them took the tail: within 40% of it. */
    ck_assert_uint_eq(with.got, n * TAIL_DGRAMS);
    ck_assert_msg(with.slow * 1000 >= with.got * TAIL_PERMILLE * 6 / 10 &&
                      with.slow * 1000 <= with.got * TAIL_PERMILLE * 14 / 10,
                  "%llu of %llu datagrams took the tail", (unsigned long long)with.slow,
                  (unsigned long long)with.got);
    /* The tail_ns of a config without its chance is never added. */
    ck_assert_uint_eq(without.got, n * TAIL_DGRAMS);
    ck_assert_uint_eq(without.slow, 0);
}
END_TEST

/* ---- two writers on one stream -------------------------------------------------------------- */

/* Two tasks pinned to different workers write one stream in turn, passing a
 * baton: chunk k is written by writer k % 2 once chunk k-1's write has
 * returned, and the writer that did not write the last chunk then shuts the
 * stream down. The latency is a fixed millisecond, so consecutive packets of
 * the stream fall due at the same instant on two workers' timer wheels. Before
 * stream packets carried sequence numbers, the simulator's pick between the
 * wheels decided their order: every one of the thousand seeds below read the
 * chunks out of order. The reader's node may also be paused for a while
 * mid-stream (what arrives meanwhile is held, and goes on in order at the
 * resume), paused and then crashed (what it held is lost, and what waited
 * behind it is dropped in turn), or paused to the end of the run (the reader
 * is cancelled, and the runtime frees what is still held). */
enum { DUO_CHUNKS = 12, DUO_CHUNK_MAX = 2000, DUO_STOP = DUO_CHUNKS + 1 };
enum duo_mode { DUO_PLAIN, DUO_PAUSE, DUO_CRASH, DUO_PAUSED_TO_THE_END };

typedef struct duo {
    weft_node *a, *b;
    enum duo_mode mode;
    weft_sock *s;         /* the writers' end */
    weft_chan *baton[2];  /* baton[w] carries the next chunk's number to writer w */
    weft_chan *connected; /* the client tells the root */
    size_t len[DUO_CHUNKS], total;
    size_t got;           /* bytes the reader got in order */
    ssize_t last;         /* the read that ended the reader's loop (-1000: a byte out of order) */
} duo;

typedef struct duo_writer_arg {
    duo *d;
    unsigned me;
} duo_writer_arg;

static void *duo_writer(void *arg)
{
    duo_writer_arg *wa = arg;
    duo *d = wa->d;
    weft_chan *next = d->baton[1 - wa->me];
    uint8_t buf[DUO_CHUNK_MAX];
    for (;;) {
        unsigned k;
        if (weft_chan_recv(d->baton[wa->me], &k) != 0)
            return (void *)1;
        if (k == DUO_STOP)
            return NULL;
        if (k == DUO_CHUNKS) { /* the other writer wrote the last chunk */
            int r = weft_sock_shutdown(d->s, WEFT_SHUT_WR);
            return r == 0 || d->mode == DUO_CRASH ? NULL : (void *)2;
        }
        size_t off = 0;
        for (unsigned i = 0; i < k; i++)
            off += d->len[i];
        for (size_t i = 0; i < d->len[k]; i++)
            buf[i] = pat(7, off + i);
        if (d->mode != DUO_PLAIN && weft_rand() % 2)
            weft_sleep((weft_rand() % 3) * MS / 2);
        if (weft_sock_write_all(d->s, buf, d->len[k], NULL) != 0) {
            if (d->mode != DUO_CRASH) /* (where the peer's reset may come first) */
                return (void *)3;
            k = DUO_STOP;
            weft_chan_send(next, &k);
            return NULL;
        }
        k++;
        if (weft_chan_send(next, &k) != 0)
            return (void *)4;
        if (k == DUO_CHUNKS)
            return NULL;
    }
}

static void *duo_client(void *arg)
{
    duo *d = arg;
    int r;
    for (int i = 0; (r = weft_tcp_connect(&d->s, "10.0.0.2:7000")) == WEFT_ECONNREFUSED && i < 100; i++)
        weft_sleep(10 * MS);
    if (r < 0)
        return (void *)1;
    unsigned one = 1;
    weft_chan_send(d->connected, &one);
    duo_writer_arg wa[2] = {{d, 0}, {d, 1}};
    weft_task *w[2];
    for (unsigned i = 0; i < 2; i++) {
        weft_spawn_opts o = {.name = "writer", .node = d->a, .flags = WEFT_SPAWN_PINNED, .worker = i};
        if (weft_spawn_ex(&w[i], duo_writer, &wa[i], &o) != 0)
            return (void *)2;
    }
    unsigned k = 0;
    weft_chan_send(d->baton[0], &k);
    void *bad = NULL;
    for (unsigned i = 0; i < 2; i++) {
        void *res;
        weft_join(w[i], &res);
        if (res)
            bad = res;
    }
    weft_sock_close(d->s);
    return bad;
}

static void *duo_reader(void *arg)
{
    duo *d = arg;
    weft_sock *l, *c;
    if (weft_tcp_listen(&l, "0.0.0.0:7000", 4) < 0 || weft_tcp_accept(l, &c) < 0)
        return (void *)1;
    uint8_t buf[1500];
    for (;;) {
        ssize_t n = weft_sock_read(c, buf, sizeof buf);
        if (n <= 0) {
            d->last = n;
            break;
        }
        for (ssize_t i = 0; i < n; i++, d->got++)
            if (buf[i] != pat(7, d->got)) {
                d->last = -1000;
                goto out;
            }
    }
out:
    weft_sock_close(c);
    weft_sock_close(l);
    return NULL;
}

static void *two_writers(void *arg)
{
    duo d = {.mode = (enum duo_mode)(uintptr_t)arg, .last = 1};
    CHECK(weft_node_new(&d.a, "a", "10.0.0.1") == 0);
    CHECK(weft_node_new(&d.b, "b", "10.0.0.2") == 0);
    weft_net_config nc = {.latency_min_ns = MS, .short_io_permille = 200};
    CHECK(weft_net_config_set(&nc) == 0);
    for (unsigned k = 0; k < DUO_CHUNKS; k++)
        d.total += d.len[k] = 1 + weft_rand() % DUO_CHUNK_MAX;
    CHECK(weft_chan_new(&d.baton[0], sizeof(unsigned), 1) == 0);
    CHECK(weft_chan_new(&d.baton[1], sizeof(unsigned), 1) == 0);
    CHECK(weft_chan_new(&d.connected, sizeof(unsigned), 1) == 0);
    weft_spawn_opts ob = {.name = "reader", .node = d.b}, oa = {.name = "client", .node = d.a};
    weft_task *rd, *cl;
    CHECK(weft_spawn_ex(&rd, duo_reader, &d, &ob) == 0);
    CHECK(weft_spawn_ex(&cl, duo_client, &d, &oa) == 0);
    unsigned one;
    CHECK(weft_chan_recv(d.connected, &one) == 0);
    if (d.mode != DUO_PLAIN) {
        /* In half milliseconds, so that the resume may fall on the instant
         * a packet is due. */
        weft_sleep((weft_rand() % 4) * MS / 2);
        CHECK(weft_node_pause(d.b, 1) == 0);
        weft_sleep((1 + weft_rand() % 6) * MS / 2);
        if (d.mode == DUO_PAUSE)
            CHECK(weft_node_pause(d.b, 0) == 0);
        else if (d.mode == DUO_CRASH)
            CHECK(weft_node_crash(d.b) == 0);
    }
    void *cr;
    weft_join(cl, &cr);
    CHECK(cr == NULL);
    weft_chan_free(d.baton[0]);
    weft_chan_free(d.baton[1]);
    weft_chan_free(d.connected);
    if (d.mode == DUO_PAUSED_TO_THE_END)
        weft_cancel(rd); /* its read waits for the resume; the packets stay held */
    void *rr = NULL;
    int jr = weft_join(rd, &rr);
    if (d.mode == DUO_PAUSED_TO_THE_END) {
        CHECK((jr == 0 || jr == WEFT_ECANCELED) && rr == NULL);
        CHECK(d.last != -1000);
        return NULL;
    }
    CHECK(rr == NULL);
    if (d.last == -1000 || (d.mode != DUO_CRASH && (d.last != 0 || d.got != d.total)))
        fprintf(stderr, "test_net: the reader got %zu of %zu bytes in order, then %zd\n", d.got, d.total, d.last);
    CHECK(d.last != -1000); /* what came, came in order */
    if (d.mode == DUO_CRASH) {
        CHECK(jr == WEFT_ECANCELED || jr == 0);
    } else {
        CHECK(jr == 0);
        CHECK(d.got == d.total); /* every byte */
        CHECK(d.last == 0);      /* and then the end of the stream, not before */
    }
    return NULL;
}

START_TEST(two_writers_on_different_workers_share_one_ordered_stream)
{
    over_seeds(two_writers, (void *)DUO_PLAIN, seeds_for(1000), 2);
    over_seeds(two_writers, (void *)DUO_PLAIN, seeds_for(300), 4);
    over_seeds(two_writers, (void *)DUO_PAUSE, seeds_for(1000), 2);
    over_seeds(two_writers, (void *)DUO_CRASH, seeds_for(300), 2);
    over_seeds(two_writers, (void *)DUO_PAUSED_TO_THE_END, seeds_for(300), 2);
}
END_TEST

/* ---- a peer's close: the codes a program sees, as on Linux ---------------------------------------- */

/* Each case is a script over a connected loopback pair, client a and
 * accepted b; what a's calls return is written down and compared with what
 * Linux's TCP gives (the results below were measured on a real loopback, and
 * the test runs the same scripts there too, on the epoll and poll reactors).
 * Steps: 'c' b closes, 'C' b shuts its writing down, 'B' b writes "hello",
 * 'h' a writes "hi", 'w' a writes "x", 'r' a reads, 's' a shuts its writing
 * down, '~' time passes (every packet in flight arrives). */
static const struct peer_close_case {
    const char *what, *script, *want;
} peer_close_cases[] = {
    /* A clean close: a's write goes out and b's node answers it with a
     * reset; then writes are a broken pipe, and reads the end of stream
     * (the FIN came first), never ECONNRESET. */
    {"peer closed cleanly", "crw~wrrw", "r0 w1 wEPIPE r0 r0 wEPIPE"},
    {"peer wrote and closed cleanly", "Bc~w~rrws", "w1 r5 r0 wEPIPE sENOTCONN"},
    {"write at once after the peer's close", "cw~wr", "w1 wEPIPE r0"},
    {"peer shut its writing down, then closed with bytes unread", "hC~c~rrww", "w2 r0 r0 wEPIPE wEPIPE"},
    /* A reset with no FIN before it (b closed with a's bytes unread): the
     * first call to look reports ECONNRESET, once. */
    {"peer closed with bytes unread, a reads", "h~c~rrww", "w2 rECONNRESET r0 wEPIPE wEPIPE"},
    {"peer closed with bytes unread, a writes", "h~c~wwrr", "w2 wECONNRESET wEPIPE r0 r0"},
    {"peer wrote, then closed with bytes unread", "h~Bc~rrrw", "w2 r5 rECONNRESET r0 wEPIPE"},
    {"a had shut its writing down, then the reset", "hs~c~wwrr", "w2 s0 wECONNRESET wEPIPE r0 r0"},
};

typedef struct peer_close_arg {
    bool sim;
    uint64_t settle; /* '~': long enough for any packet in flight */
} peer_close_arg;

static void note(char *log, size_t cap, char op, ssize_t r)
{
    size_t len = strlen(log);
    const char *name = r == WEFT_EPIPE        ? "EPIPE"
                       : r == WEFT_ECONNRESET ? "ECONNRESET"
                       : r == WEFT_ENOTCONN   ? "ENOTCONN"
                                              : NULL;
    if (name)
        snprintf(log + len, cap - len, "%s%c%s", len ? " " : "", op, name);
    else
        snprintf(log + len, cap - len, "%s%c%zd", len ? " " : "", op, r);
}

static void *peer_close_codes(void *arg)
{
    const peer_close_arg *pa = arg;
    if (pa->sim) {
        weft_net_config nc = {.latency_min_ns = MS, .latency_mean_ns = 2 * MS, .tail_permille = 50,
                              .tail_ns = 100 * MS};
        CHECK(weft_net_config_set(&nc) == 0);
    }
    void *bad = NULL; /* (every case runs, to show every difference) */
    for (size_t i = 0; i < sizeof peer_close_cases / sizeof *peer_close_cases; i++) {
        const struct peer_close_case *pc = &peer_close_cases[i];
        weft_sock *l, *a, *b;
        char addr[WEFT_ADDR_MAX], log[128] = "", buf[16];
        uint64_t limit = 10 * SEC;
        CHECK(weft_tcp_listen(&l, "127.0.0.1:0", 4) == 0);
        CHECK(weft_sock_local_addr(l, addr, sizeof addr) > 0);
        CHECK(weft_tcp_connect_until(&a, addr, weft_now() + limit) == 0);
        CHECK(weft_tcp_accept_until(l, &b, weft_now() + limit) == 0);
        for (const char *st = pc->script; *st; st++) {
            switch (*st) {
            case 'c': CHECK(weft_sock_close(b) == 0); break;
            case 'C': CHECK(weft_sock_shutdown(b, WEFT_SHUT_WR) == 0); break;
            case 'B': CHECK(weft_sock_write_all(b, "hello", 5, NULL) == 0); break;
            case 'h': note(log, sizeof log, 'w', weft_sock_write(a, "hi", 2)); break;
            case 'w': note(log, sizeof log, 'w', weft_sock_write(a, "x", 1)); break;
            case 'r': note(log, sizeof log, 'r', weft_sock_read_until(a, buf, sizeof buf, weft_now() + limit)); break;
            case 's': note(log, sizeof log, 's', weft_sock_shutdown(a, WEFT_SHUT_WR)); break;
            case '~': weft_sleep(pa->settle); break;
            }
        }
        weft_sock_close(a);
        weft_sock_close(l);
        if (strcmp(log, pc->want) != 0) {
            fprintf(stderr, "test_net: %s (%s), %s: got \"%s\", Linux gives \"%s\"\n", pc->what, pc->script,
                    pa->sim ? "simulated" : "real loopback", log, pc->want);
            if (!bad)
                bad = (void *)(intptr_t)(1000 + i);
        }
    }
    return bad;
}

START_TEST(a_peers_close_gives_the_codes_linux_gives_eof_then_epipe_after_a_fin)
{
    /* On the real loopback (where the results were measured) ... */
    const weft_reactor real[] = {WEFT_REACTOR_EPOLL, WEFT_REACTOR_POLL};
    for (size_t i = 0; i < sizeof real / sizeof *real; i++) {
        weft_config c = threaded_config();
        c.reactor = real[i];
        peer_close_arg pa = {false, 50 * MS};
        void *r = (void *)1;
        ck_assert_weft(run_in(&c, peer_close_codes, &pa, &r), 0);
        ck_assert_msg(r == NULL, "real loopback (reactor %d): case %ld differs", (int)real[i], (long)(intptr_t)r - 1000);
    }
    /* ... and simulated, with latency and its tail. */
    peer_close_arg pa = {true, SEC};
    over_seeds(peer_close_codes, &pa, seeds_for(1000), 1);
    over_seeds(peer_close_codes, &pa, seeds_for(300), 2);
}
END_TEST

/* ---- datagrams --------------------------------------------------------------------- */

typedef struct dgram_stats {
    uint64_t lost, dup, reordered, runs;
} dgram_stats;

#define DGRAMS 100

static void *dgram_sender(void *arg)
{
    (void)arg;
    weft_sock *s;
    if (weft_udp_bind(&s, "10.0.0.1:0") < 0)
        return (void *)1;
    for (uint32_t i = 0; i < DGRAMS; i++) {
        uint32_t msg[4] = {i, i * 7u, ~i, 0xC0FFEEu};
        if (weft_udp_send_to(s, msg, sizeof msg, "10.0.0.2:53") != (ssize_t)sizeof msg)
            return (void *)2;
        weft_sleep(MS / 10);
    }
    weft_sock_close(s);
    return NULL;
}

typedef struct recv_box {
    dgram_stats *st;
    int bad;
} recv_box;

static void *dgram_receiver(void *arg)
{
    recv_box *rb = arg;
    weft_sock *s;
    if (weft_udp_bind(&s, "10.0.0.2:53") < 0) {
        rb->bad = 1;
        return NULL;
    }
    uint32_t seen[DGRAMS] = {0};
    uint32_t last = 0;
    bool any = false, reordered = false;
    uint64_t count = 0;
    for (;;) {
        uint32_t msg[4];
        char from[WEFT_ADDR_MAX];
        ssize_t n = weft_udp_recv_from_until(s, msg, sizeof msg, from, sizeof from, weft_now() + 200 * MS);
        if (n == WEFT_ETIMEDOUT)
            break;
        if (n != (ssize_t)sizeof msg || msg[0] >= DGRAMS || msg[1] != msg[0] * 7u || msg[2] != ~msg[0] ||
            msg[3] != 0xC0FFEEu || strncmp(from, "10.0.0.1:", 9) != 0) {
            rb->bad = 2; /* corrupted, invented, or from the wrong sender */
            break;
        }
        if (any && msg[0] < last)
            reordered = true;
        any = true;
        last = msg[0];
        seen[msg[0]]++;
        count++;
    }
    for (int i = 0; i < DGRAMS; i++) {
        if (seen[i] == 0)
            rb->st->lost++;
        if (seen[i] > 1)
            rb->st->dup += seen[i] - 1;
        if (seen[i] > 2)
            rb->bad = 3; /* one duplicate at most per datagram */
    }
    rb->st->reordered += reordered;
    rb->st->runs++;
    weft_sock_close(s);
    return NULL;
}

static weft_node *node_a, *node_b;

static void *dgram_scenario(void *arg)
{
    dgram_stats *st = arg;
    CHECK(weft_node_new(&node_a, "a", "10.0.0.1") == 0);
    CHECK(weft_node_new(&node_b, "b", "10.0.0.2") == 0);
    weft_net_config nc = {.latency_min_ns = MS, .latency_mean_ns = MS, .loss_permille = 100, .dup_permille = 100,
                          .reorder_permille = 200, .reorder_ns = 20 * MS};
    CHECK(weft_net_config_set(&nc) == 0);
    recv_box rb = {st, 0};
    weft_spawn_opts ob = {.name = "receiver", .node = node_b}, oa = {.name = "sender", .node = node_a};
    weft_task *rt, *sd;
    CHECK(weft_spawn_ex(&rt, dgram_receiver, &rb, &ob) == 0);
    weft_yield();
    weft_sleep(MS);
    CHECK(weft_spawn_ex(&sd, dgram_sender, NULL, &oa) == 0);
    void *sr;
    weft_join(sd, &sr);
    weft_join(rt, NULL);
    CHECK(sr == NULL);
    CHECK(rb.bad == 0);
    return NULL;
}

START_TEST(datagrams_are_lost_duplicated_and_reordered_and_nothing_else)
{
    dgram_stats st = {0};
    uint64_t n = seeds_for(1000);
    over_seeds(dgram_scenario, &st, n, 1);
    ck_assert_uint_eq(st.runs, n);
    /* 10% loss over 100 datagrams a run: about 10 a run. */
    ck_assert_msg(st.lost > n * 3 && st.lost < n * 20, "lost %llu in %llu runs", (unsigned long long)st.lost,
                  (unsigned long long)n);
    ck_assert_msg(st.dup > n * 3, "duplicated %llu in %llu runs", (unsigned long long)st.dup, (unsigned long long)n);
    ck_assert_msg(st.reordered > n / 2, "reordered in %llu of %llu runs", (unsigned long long)st.reordered,
                  (unsigned long long)n);
}
END_TEST

/* A from buffer shorter than WEFT_ADDR_MAX is refused before anything is
 * received, whether a datagram is queued or not: the datagram stays for the
 * next good call. */
static void *small_from_receiver(void *arg)
{
    (void)arg;
    weft_sock *s;
    char from[WEFT_ADDR_MAX], tiny[8], in[16];
    CHECK(weft_udp_bind(&s, "10.0.0.2:53") == 0);
    /* Nothing queued yet: refused at once, not after the datagram comes. */
    CHECK(weft_udp_recv_from_until(s, in, sizeof in, tiny, sizeof tiny, weft_now() + SEC) == WEFT_EINVAL);
    weft_sleep(100 * MS); /* both datagrams are queued now */
    CHECK(weft_udp_recv_from_until(s, in, sizeof in, tiny, sizeof tiny, weft_now() + SEC) == WEFT_EINVAL);
    CHECK(weft_udp_recv_from_until(s, in, sizeof in, from, 0, weft_now() + SEC) == WEFT_EINVAL);
    CHECK(weft_udp_recv_from_until(s, in, sizeof in, from, WEFT_ADDR_MAX - 1, weft_now() + SEC) == WEFT_EINVAL);
    CHECK(weft_udp_recv_from_until(s, in, sizeof in, from, sizeof from, weft_now() + SEC) == 5);
    CHECK(memcmp(in, "first", 5) == 0 && strncmp(from, "10.0.0.1:", 9) == 0);
    CHECK(weft_udp_recv_from_until(s, in, sizeof in, NULL, 0, weft_now() + SEC) == 6);
    CHECK(memcmp(in, "second", 6) == 0);
    weft_sock_close(s);
    return NULL;
}

static void *small_from_sender(void *arg)
{
    (void)arg;
    weft_sock *s;
    CHECK(weft_udp_bind(&s, "0.0.0.0:0") == 0);
    CHECK(weft_udp_send_to(s, "first", 5, "10.0.0.2:53") == 5);
    CHECK(weft_udp_send_to(s, "second", 6, "10.0.0.2:53") == 6);
    weft_sock_close(s);
    return NULL;
}

static void *small_from(void *arg)
{
    (void)arg;
    weft_node *a, *b;
    CHECK(weft_node_new(&a, "a", "10.0.0.1") == 0);
    CHECK(weft_node_new(&b, "b", "10.0.0.2") == 0);
    /* Lossless, one fixed latency (a drawn one may reorder two datagrams):
     * what arrives is what was sent, in order. */
    weft_net_config nc = {.latency_min_ns = 5 * MS};
    CHECK(weft_net_config_set(&nc) == 0);
    weft_spawn_opts ob = {.name = "receiver", .node = b}, oa = {.name = "sender", .node = a};
    weft_task *rt, *sd;
    CHECK(weft_spawn_ex(&rt, small_from_receiver, NULL, &ob) == 0);
    weft_sleep(MS);
    CHECK(weft_spawn_ex(&sd, small_from_sender, NULL, &oa) == 0);
    void *rr = (void *)1, *sr = (void *)1;
    weft_join(sd, &sr);
    weft_join(rt, &rr);
    CHECK(sr == NULL && rr == NULL);
    return NULL;
}

START_TEST(a_too_small_from_buffer_is_refused_and_the_datagram_stays_queued_in_simulation)
{
    over_seeds(small_from, NULL, seeds_for(200), 1);
}
END_TEST

/* ---- partitions --------------------------------------------------------------------- */

static void *echo_client_left_open(void *arg)
{
    (void)arg;
    weft_sock *s;
    if (weft_tcp_connect(&s, "10.0.0.2:80") < 0)
        return (void *)1;
    return weft_sock_write(s, "x", 1) == 1 ? NULL : (void *)2; /* s stays open */
}

static void *echo_once_server(void *arg)
{
    (void)arg;
    weft_sock *l, *c;
    if (weft_tcp_listen(&l, "10.0.0.2:80", 16) < 0)
        return (void *)1;
    for (;;) {
        if (weft_tcp_accept(l, &c) < 0)
            break;
        char b[64];
        ssize_t n;
        while ((n = weft_sock_read(c, b, sizeof b)) > 0)
            weft_sock_write_all(c, b, (size_t)n, NULL);
        weft_sock_close(c);
    }
    weft_sock_close(l);
    return NULL;
}

typedef struct part_result {
    int read_across;     /* a read of a stream cut by the partition */
    int connect_across;  /* a connect during it */
    int connect_healed;  /* a connect after the heal */
    int oneway_ab, oneway_ba;
} part_result;

static void *part_client(void *arg)
{
    part_result *pr = arg;
    weft_sock *s;
    if (weft_tcp_connect(&s, "10.0.0.2:80") < 0)
        return (void *)1;
    if (weft_sock_write_all(s, "hi", 2, NULL) < 0)
        return (void *)2;
    char b[8];
    if (weft_sock_read(s, b, 2) != 2)
        return (void *)3;
    /* Now the partition comes (the root waits for this read to start). */
    pr->read_across = (int)weft_sock_read(s, b, sizeof b);
    weft_sock_close(s);
    pr->connect_across = weft_tcp_connect_until(&s, "10.0.0.2:80", weft_now() + 5 * SEC);
    if (pr->connect_across == 0)
        weft_sock_close(s);
    /* Wait for the heal. */
    weft_sleep(10 * SEC);
    pr->connect_healed = weft_tcp_connect(&s, "10.0.0.2:80");
    if (pr->connect_healed == 0) {
        weft_sock_write_all(s, "ok", 2, NULL);
        pr->connect_healed = weft_sock_read(s, b, 2) == 2 ? 0 : -1;
        weft_sock_close(s);
    }
    return NULL;
}

typedef struct udp_probe {
    const char *bind, *to;
    int got;
} udp_probe;

static void *udp_probe_recv(void *arg)
{
    udp_probe *p = arg;
    weft_sock *s;
    if (weft_udp_bind(&s, p->bind) < 0)
        return (void *)1;
    char b[8];
    p->got = weft_udp_recv_from_until(s, b, sizeof b, NULL, 0, weft_now() + SEC) > 0;
    weft_sock_close(s);
    return NULL;
}

static void *udp_probe_send(void *arg)
{
    udp_probe *p = arg;
    weft_sock *s;
    if (weft_udp_bind(&s, "0.0.0.0:0") < 0)
        return (void *)1;
    weft_sleep(MS);
    weft_udp_send_to(s, "x", 1, p->to);
    weft_sock_close(s);
    return NULL;
}

static void *partitions(void *arg)
{
    (void)arg;
    weft_node *a, *b;
    CHECK(weft_node_new(&a, "a", "10.0.0.1") == 0);
    CHECK(weft_node_new(&b, "b", "10.0.0.2") == 0);
    weft_net_config nc = {.latency_min_ns = MS, .latency_mean_ns = 2 * MS};
    CHECK(weft_net_config_set(&nc) == 0);
    weft_spawn_opts ob = {.name = "server", .node = b}, oa = {.name = "client", .node = a};
    weft_task *srv, *cl;
    part_result pr = {99, 99, 99, 0, 0};
    CHECK(weft_spawn_ex(&srv, echo_once_server, NULL, &ob) == 0);
    weft_sleep(MS);
    CHECK(weft_spawn_ex(&cl, part_client, &pr, &oa) == 0);
    weft_sleep(SEC);
    weft_node *sa[] = {a}, *sb[] = {b};
    CHECK(weft_net_partition(sa, 1, sb, 1, 0) == 0);
    weft_sleep(8 * SEC);
    CHECK(weft_net_heal() == 0);
    void *cr;
    weft_join(cl, &cr);
    CHECK(cr == NULL);
    CHECK(pr.read_across == WEFT_ECONNRESET);
    CHECK(pr.connect_across == WEFT_ETIMEDOUT);
    CHECK(pr.connect_healed == 0);
    /* One way: a's datagrams to b are dropped, b's to a arrive. */
    CHECK(weft_net_partition(sa, 1, sb, 1, 1) == 0);
    udp_probe ab = {"10.0.0.2:9", "10.0.0.2:9", 0}, ba = {"10.0.0.1:9", "10.0.0.1:9", 0};
    weft_task *t1, *t2, *t3, *t4;
    CHECK(weft_spawn_ex(&t1, udp_probe_recv, &ab, &ob) == 0);
    CHECK(weft_spawn_ex(&t2, udp_probe_recv, &ba, &oa) == 0);
    CHECK(weft_spawn_ex(&t3, udp_probe_send, &ab, &oa) == 0);
    CHECK(weft_spawn_ex(&t4, udp_probe_send, &ba, &ob) == 0);
    weft_join(t1, NULL);
    weft_join(t2, NULL);
    weft_join(t3, NULL);
    weft_join(t4, NULL);
    CHECK(ab.got == 0);
    CHECK(ba.got == 1);
    CHECK(weft_net_heal() == 0);
    weft_cancel(srv);
    weft_join(srv, NULL);
    return NULL;
}

START_TEST(partitions_reset_streams_drop_packets_one_way_or_both_and_heal)
{
    over_seeds(partitions, NULL, seeds_for(1000), 1);
    over_seeds(partitions, NULL, seeds_for(100), 2);
}
END_TEST

/* ---- clogging ------------------------------------------------------------------------------ */

static void *clog_recv(void *arg)
{
    uint64_t *when = arg;
    weft_sock *s;
    if (weft_udp_bind(&s, "10.0.0.2:9") < 0)
        return (void *)1;
    char b[8];
    for (int i = 0; i < 3; i++) {
        if (weft_udp_recv_from_until(s, b, sizeof b, NULL, 0, weft_now() + 10 * SEC) != 1 || b[0] != '0' + i)
            return (void *)2;
        when[i] = weft_now();
    }
    weft_sock_close(s);
    return NULL;
}

static void *digit_sender(void *arg)
{
    char d = (char)('0' + (intptr_t)arg);
    weft_sock *s;
    if (weft_udp_bind(&s, "0.0.0.0:0") < 0)
        return (void *)1;
    weft_udp_send_to(s, &d, 1, "10.0.0.2:9");
    weft_sock_close(s);
    return NULL;
}

static void *clogging(void *arg)
{
    (void)arg;
    weft_node *a, *b;
    CHECK(weft_node_new(&a, "a", "10.0.0.1") == 0);
    CHECK(weft_node_new(&b, "b", "10.0.0.2") == 0);
    uint64_t when[3] = {0}, start = weft_now();
    CHECK(weft_net_clog(a, b, start + 2 * SEC) == 0);
    weft_spawn_opts ob = {.node = b}, oa = {.node = a};
    weft_task *r;
    CHECK(weft_spawn_ex(&r, clog_recv, when, &ob) == 0);
    for (int i = 0; i < 3; i++) {
        weft_task *t;
        CHECK(weft_spawn_ex(&t, digit_sender, (void *)(intptr_t)i, &oa) == 0);
        weft_join(t, NULL);
    }
    void *rr;
    weft_join(r, &rr);
    CHECK(rr == NULL);
    /* Held until the path cleared, then delivered (in order here: they
     * were sent in order and wait for the same moment). */
    for (int i = 0; i < 3; i++)
        CHECK(when[i] >= start + 2 * SEC);
    return NULL;
}

START_TEST(a_clogged_path_delays_packets_without_losing_them)
{
    over_seeds(clogging, NULL, seeds_for(100), 1);
}
END_TEST

/* ---- crash and restart -------------------------------------------------------------------------- */

typedef struct crash_case {
    weft_node *n;
    char seen[64];     /* what the restarted node read back */
    int read_in_crash; /* a read blocked in a crashed task */
    int after_crash;   /* an IO call of the dead task */
    int peer_read;     /* the peer's read of a connection to the crashed node */
    int restarted;
} crash_case;

static crash_case *the_case;

static void *writer_node(void *arg)
{
    crash_case *cc = arg;
    weft_file *f;
    if (weft_file_open(&f, "/data/log", WEFT_FILE_WRITE | WEFT_FILE_CREATE, 0644) < 0)
        return (void *)1;
    weft_file_write(f, "durable;", 8);
    weft_file_fsync(f);
    weft_file_write(f, "lost", 4);
    /* Then wait for a peer that never writes: the crash comes here. */
    weft_sock *l, *c;
    if (weft_tcp_listen(&l, "0.0.0.0:80", 4) < 0 || weft_tcp_accept(l, &c) < 0)
        return (void *)2;
    char b[4];
    cc->read_in_crash = (int)weft_sock_read(c, b, sizeof b);
    cc->after_crash = (int)weft_file_write(f, "zombie", 6);
    return NULL;
}

static void *restarted_node(void *arg)
{
    (void)arg;
    crash_case *cc = the_case;
    cc->restarted = 1;
    weft_file *f;
    if (weft_file_open(&f, "/data/log", WEFT_FILE_READ, 0) < 0)
        return NULL;
    ssize_t n = weft_file_read(f, cc->seen, sizeof cc->seen - 1);
    if (n >= 0)
        cc->seen[n] = 0;
    weft_file_close(f);
    return NULL;
}

static void *peer_of_crashed(void *arg)
{
    crash_case *cc = arg;
    weft_sock *s;
    if (weft_tcp_connect(&s, "10.0.0.1:80") < 0)
        return (void *)1;
    char b[4];
    cc->peer_read = (int)weft_sock_read(s, b, sizeof b);
    weft_sock_close(s);
    return NULL;
}

static void *crash_restart(void *arg)
{
    (void)arg;
    crash_case cc;
    memset(&cc, 0, sizeof cc);
    the_case = &cc;
    weft_node *a, *b;
    CHECK(weft_node_new(&a, "a", "10.0.0.1") == 0);
    CHECK(weft_node_new(&b, "b", "10.0.0.2") == 0);
    weft_net_config nc = {.latency_min_ns = MS, .latency_mean_ns = MS};
    CHECK(weft_net_config_set(&nc) == 0);
    weft_disk_config dc = {.latency_min_ns = 100000, .latency_spread_ns = MS};
    CHECK(weft_disk_config_set(NULL, &dc) == 0);
    weft_spawn_opts oa = {.name = "writer", .node = a}, ob = {.name = "peer", .node = b};
    weft_task *w, *p;
    CHECK(weft_spawn_ex(&w, writer_node, &cc, &oa) == 0);
    weft_sleep(100 * MS);
    CHECK(weft_spawn_ex(&p, peer_of_crashed, &cc, &ob) == 0);
    weft_sleep(100 * MS);
    CHECK(weft_node_crash(a) == 0);
    CHECK(weft_node_crash(a) == WEFT_EALREADY);
    void *wr, *pr;
    CHECK(weft_join(w, &wr) == WEFT_ECANCELED);
    weft_join(p, &pr);
    CHECK(wr == NULL && pr == NULL);
    CHECK(cc.read_in_crash == WEFT_ECANCELED);
    CHECK(cc.after_crash == WEFT_ECANCELED);
    CHECK(cc.peer_read == WEFT_ECONNRESET);
    CHECK(weft_node_restart(a, restarted_node, NULL) == 0);
    CHECK(weft_node_restart(a, restarted_node, NULL) == WEFT_EBUSY);
    weft_sleep(SEC);
    CHECK(cc.restarted == 1);
    /* Exactly the unsynced write is gone. */
    CHECK(strcmp(cc.seen, "durable;") == 0);
    return NULL;
}

START_TEST(a_crash_kills_tasks_resets_peers_and_loses_exactly_the_unsynced_writes)
{
    over_seeds(crash_restart, NULL, seeds_for(1000), 1);
    over_seeds(crash_restart, NULL, seeds_for(100), 2);
}
END_TEST

/* A crash kills the handles of the node's first life with it: from a task
 * of its second life, or of another node, every call on one returns
 * WEFT_EBADF at once and changes nothing (an old file handle does not
 * write); a call another node's task had waiting on one at the crash
 * returns WEFT_EBADF then, not at its deadline. */
typedef struct old_handles {
    weft_file *f;
    weft_sock *l, *u;
    /* what the calls returned */
    int foreign_accept, foreign_recv;
    uint64_t foreign_accept_at, foreign_recv_at, crash_at;
    int f_write, f_pwrite, f_fsync, f_read, f_close;
    int l_accept, l_addr, l_close, u_send, u_recv;
    uint64_t l_accept_took;
    int host_write, relisten;
    ssize_t seen_len;
    char seen[16];
    int done;
} old_handles;

static old_handles *the_old;

static void *first_life(void *arg)
{
    old_handles *oh = arg;
    CHECK(weft_file_open(&oh->f, "data", WEFT_FILE_READ | WEFT_FILE_WRITE | WEFT_FILE_CREATE, 0644) == 0);
    CHECK(weft_file_write(oh->f, "hello", 5) == 5);
    CHECK(weft_file_fsync(oh->f) == 0);
    CHECK(weft_tcp_listen(&oh->l, "0.0.0.0:80", 4) == 0);
    CHECK(weft_udp_bind(&oh->u, "0.0.0.0:53") == 0);
    weft_sleep(3600 * SEC); /* crashed here */
    return NULL;
}

static void *foreign_acceptor(void *arg)
{
    old_handles *oh = arg;
    weft_sock *c;
    oh->foreign_accept = weft_tcp_accept_until(oh->l, &c, weft_now() + 3600 * SEC);
    oh->foreign_accept_at = weft_now();
    return NULL;
}

static void *foreign_receiver(void *arg)
{
    old_handles *oh = arg;
    char b[4];
    oh->foreign_recv = (int)weft_udp_recv_from_until(oh->u, b, sizeof b, NULL, 0, weft_now() + 3600 * SEC);
    oh->foreign_recv_at = weft_now();
    return NULL;
}

static void *second_life(void *arg)
{
    (void)arg;
    old_handles *oh = the_old;
    char b[16];
    oh->f_write = (int)weft_file_write(oh->f, "ZOMBIE", 6);
    oh->f_pwrite = (int)weft_file_pwrite(oh->f, "e", 1, 5);
    oh->f_fsync = weft_file_fsync(oh->f);
    oh->f_read = (int)weft_file_pread(oh->f, b, sizeof b, 0);
    uint64_t t0 = weft_now();
    weft_sock *c;
    oh->l_accept = weft_tcp_accept_until(oh->l, &c, t0 + 3600 * SEC);
    oh->l_accept_took = weft_now() - t0;
    oh->l_addr = weft_sock_local_addr(oh->l, b, sizeof b);
    oh->u_send = (int)weft_udp_send_to(oh->u, "x", 1, "10.0.0.2:9");
    oh->u_recv = (int)weft_udp_recv_from_until(oh->u, b, sizeof b, NULL, 0, weft_now() + 3600 * SEC);
    /* Closing a dead handle says so, and lets it go. */
    oh->f_close = weft_file_close(oh->f);
    oh->l_close = weft_sock_close(oh->l);
    /* The port is free for the new life. */
    weft_sock *l2;
    oh->relisten = weft_tcp_listen(&l2, "0.0.0.0:80", 4);
    if (oh->relisten == 0)
        weft_sock_close(l2);
    weft_file *f;
    if (weft_file_open(&f, "data", WEFT_FILE_READ, 0) == 0) {
        oh->seen_len = weft_file_read(f, oh->seen, sizeof oh->seen - 1);
        weft_file_close(f);
    }
    oh->done = 1;
    return NULL;
}

static void *old_handles_scenario(void *arg)
{
    (void)arg;
    old_handles oh;
    memset(&oh, 0, sizeof oh);
    oh.seen_len = -1;
    the_old = &oh;
    weft_node *a;
    CHECK(weft_node_new(&a, "a", "10.0.0.1") == 0);
    weft_disk_config dc = {.latency_min_ns = 100000, .latency_spread_ns = MS};
    CHECK(weft_disk_config_set(a, &dc) == 0);
    weft_spawn_opts oa = {.name = "first life", .node = a};
    weft_task *t, *fa, *fr;
    CHECK(weft_spawn_ex(&t, first_life, &oh, &oa) == 0);
    weft_sleep(SEC);
    CHECK(oh.u != NULL && oh.l != NULL && oh.f != NULL);
    /* The host's tasks wait on the node's sockets through the crash. */
    CHECK(weft_spawn(&fa, foreign_acceptor, &oh) == 0);
    CHECK(weft_spawn(&fr, foreign_receiver, &oh) == 0);
    weft_sleep(SEC);
    oh.crash_at = weft_now();
    CHECK(weft_node_crash(a) == 0);
    void *r = NULL;
    weft_join(t, &r);
    CHECK(r == NULL);
    weft_join(fa, NULL);
    weft_join(fr, NULL);
    CHECK(oh.foreign_accept == WEFT_EBADF && oh.foreign_accept_at == oh.crash_at);
    CHECK(oh.foreign_recv == WEFT_EBADF && oh.foreign_recv_at == oh.crash_at);
    CHECK(weft_node_restart(a, second_life, NULL) == 0);
    weft_sleep(10 * SEC);
    CHECK(oh.done == 1);
    CHECK(oh.f_write == WEFT_EBADF);
    CHECK(oh.f_pwrite == WEFT_EBADF);
    CHECK(oh.f_fsync == WEFT_EBADF);
    CHECK(oh.f_read == WEFT_EBADF);
    CHECK(oh.l_accept == WEFT_EBADF && oh.l_accept_took == 0);
    CHECK(oh.l_addr == WEFT_EBADF);
    CHECK(oh.u_send == WEFT_EBADF);
    CHECK(oh.u_recv == WEFT_EBADF);
    CHECK(oh.f_close == WEFT_EBADF && oh.l_close == WEFT_EBADF);
    CHECK(oh.relisten == 0);
    /* The file is as the first life left it. */
    CHECK(oh.seen_len == 5 && memcmp(oh.seen, "hello", 5) == 0);
    /* A task of another node gets nothing from the dead handles either;
     * the closed ones are gone. */
    char b[4];
    CHECK(weft_file_write(oh.f, "x", 1) == WEFT_EBADF);
    CHECK(weft_udp_recv_from_until(oh.u, b, sizeof b, NULL, 0, weft_now() + SEC) == WEFT_EBADF);
    CHECK(weft_sock_close(oh.u) == WEFT_EBADF);
    CHECK(weft_sock_close(oh.u) == WEFT_EBADF);
    return NULL;
}

START_TEST(handles_of_a_crashed_node_are_dead_in_its_next_life)
{
    over_seeds(old_handles_scenario, NULL, seeds_for(100), 1);
    over_seeds(old_handles_scenario, NULL, seeds_for(30), 2);
}
END_TEST

/* A connection left open when the run ends: closing it at shutdown sends a
 * FIN whose latency is a decision. */
static void *left_open_server(void *arg)
{
    (void)arg;
    weft_sock *l, *c;
    if (weft_tcp_listen(&l, "10.0.0.2:80", 4) < 0 || weft_tcp_accept(l, &c) < 0)
        return (void *)1;
    char b;
    return weft_sock_read(c, &b, 1) == 1 ? NULL : (void *)2; /* l and c stay open */
}

static void *left_open(void *arg)
{
    (void)arg;
    weft_node *a, *b;
    CHECK(weft_node_new(&a, "a", "10.0.0.1") == 0);
    CHECK(weft_node_new(&b, "b", "10.0.0.2") == 0);
    weft_net_config nc = {.latency_min_ns = MS, .latency_mean_ns = 3 * MS};
    CHECK(weft_net_config_set(&nc) == 0);
    weft_spawn_opts so = {.name = "server", .node = b}, co = {.name = "client", .node = a};
    weft_task *srv, *cl;
    CHECK(weft_spawn_ex(&srv, left_open_server, NULL, &so) == 0);
    CHECK(weft_spawn_ex(&cl, echo_client_left_open, NULL, &co) == 0);
    void *rs, *rc;
    weft_join(srv, &rs);
    weft_join(cl, &rc);
    CHECK(rs == NULL && rc == NULL);
    return NULL;
}

/* Exhaustive search drives decisions from a callback whose context lives in
 * the search's own frame for one run, and runs every schedule on one reset
 * runtime: what a run leaves open is closed without drawing a decision, and
 * the search walks a tree that stays put to its end. */
START_TEST(connections_left_open_are_closed_quietly_and_search_stays_deterministic)
{
    /* Freeing a runtime with a connection still open once crashed (the FIN
     * was sent with no worker to time it). */
    over_seeds(left_open, NULL, seeds_for(100), 2);
    weft_explore_opts o;
    memset(&o, 0, sizeof o);
    o.cfg = sim(2, 0);
    o.cfg.sim.strategy = WEFT_STRATEGY_EXHAUSTIVE;
    o.max_schedules = 300; /* the tree has a few dozen: it is walked whole */
    o.flags = WEFT_EXPLORE_QUIET;
    weft_explore_result res;
    ck_assert_weft(weft_explore(&o, left_open, NULL, &res), 0);
    ck_assert_msg(res.failures == 0, "%s", res.message);
    ck_assert_int_eq(res.exhausted, 1);
    ck_assert_uint_gt(res.runs, 1);
    weft_explore_result_free(&res);
}
END_TEST

/* The network, the nodes and their disks are made anew on a reset runtime:
 * each seed runs as on a new one. */
START_TEST(a_reset_runtime_runs_network_and_crash_seeds_as_new_ones_do)
{
    uint64_t n = seeds_for(300);
    ck_assert_uint_eq(assert_reset_matches_fresh(streams, (void *)(uintptr_t)5000, n, 2), n - 1);
    ck_assert_uint_eq(assert_reset_matches_fresh(crash_restart, NULL, n, 1), n - 1);
}
END_TEST

/* ---- torn writes, disk errors, a full disk -------------------------------------------------------- */

typedef struct torn_stats {
    uint64_t old_blocks, new_blocks, runs;
} torn_stats;

static torn_stats *torn_st;

static void *torn_writer(void *arg)
{
    (void)arg;
    weft_file *f;
    static uint8_t old[2048], neu[2048];
    memset(old, 'o', sizeof old);
    memset(neu, 'n', sizeof neu);
    if (weft_file_open(&f, "blob", WEFT_FILE_WRITE | WEFT_FILE_CREATE, 0644) < 0)
        return (void *)1;
    weft_file_write(f, old, sizeof old);
    weft_file_fsync(f);
    weft_file_pwrite(f, neu, sizeof neu, 0);
    weft_sleep(SEC); /* crashed here */
    return NULL;
}

static void *torn_reader(void *arg)
{
    (void)arg;
    weft_file *f;
    uint8_t buf[2048];
    if (weft_file_open(&f, "blob", WEFT_FILE_READ, 0) < 0 || weft_file_read(f, buf, sizeof buf) != sizeof buf) {
        torn_st->runs = UINT64_MAX / 2;
        return NULL;
    }
    for (int blk = 0; blk < 4; blk++) {
        uint8_t c = buf[blk * 512];
        for (int i = 0; i < 512; i++) {
            if (buf[blk * 512 + i] != c)
                torn_st->runs = UINT64_MAX / 2; /* torn inside a block */
        }
        if (c == 'o')
            torn_st->old_blocks++;
        else if (c == 'n')
            torn_st->new_blocks++;
        else
            torn_st->runs = UINT64_MAX / 2;
    }
    torn_st->runs++;
    weft_file_close(f);
    return NULL;
}

static void *torn(void *arg)
{
    torn_st = arg;
    weft_node *a;
    CHECK(weft_node_new(&a, "a", "10.0.0.1") == 0);
    weft_disk_config dc = {.block_size = 512, .torn_permille = 1000};
    CHECK(weft_disk_config_set(a, &dc) == 0);
    weft_spawn_opts oa = {.node = a};
    weft_task *t;
    CHECK(weft_spawn_ex(&t, torn_writer, NULL, &oa) == 0);
    weft_sleep(MS);
    CHECK(weft_node_crash(a) == 0);
    weft_join(t, NULL);
    CHECK(weft_node_restart(a, torn_reader, NULL) == 0);
    weft_sleep(MS);
    return NULL;
}

START_TEST(unsynced_writes_tear_at_the_block_size_in_a_crash)
{
    torn_stats st = {0};
    uint64_t n = seeds_for(300);
    over_seeds(torn, &st, n, 1);
    ck_assert_uint_eq(st.runs, n);
    ck_assert_uint_eq(st.old_blocks + st.new_blocks, 4 * n);
    /* Each block survives on its own: both kinds are common. */
    ck_assert_msg(st.old_blocks > n && st.new_blocks > n, "old %llu, new %llu blocks",
                  (unsigned long long)st.old_blocks, (unsigned long long)st.new_blocks);
}
END_TEST

static void *disk_faults_node(void *arg)
{
    (void)arg;
    weft_file *f;
    CHECK(weft_file_open(&f, "x", WEFT_FILE_READ | WEFT_FILE_WRITE | WEFT_FILE_CREATE, 0644) == 0);
    CHECK(weft_file_write(f, "abc", 3) == WEFT_EIO);
    return NULL;
}

static void *disk_full_node(void *arg)
{
    (void)arg;
    weft_file *f;
    char big[100] = {0};
    CHECK(weft_file_open(&f, "x", WEFT_FILE_READ | WEFT_FILE_WRITE | WEFT_FILE_CREATE, 0644) == 0);
    CHECK(weft_file_write(f, big, 60) == 60);
    CHECK(weft_file_write(f, big, 60) == WEFT_ENOSPC);
    CHECK(weft_file_write(f, big, 40) == 40);
    char b[4];
    CHECK(weft_file_pread(f, b, 4, 0) == 4);
    CHECK(weft_file_read(f, b, 4) == 0); /* the position is at the end */
    CHECK(weft_file_close(f) == 0);
    CHECK(weft_file_open(&f, "nope", WEFT_FILE_READ, 0) == WEFT_ENOENT);
    CHECK(weft_file_open(&f, "x", WEFT_FILE_WRITE | WEFT_FILE_CREATE | WEFT_FILE_EXCL, 0) == WEFT_EEXIST);
    CHECK(weft_file_unlink("x") == 0);
    CHECK(weft_file_unlink("x") == WEFT_ENOENT);
    return NULL;
}

static void *disk_errors(void *arg)
{
    (void)arg;
    weft_node *a, *b;
    CHECK(weft_node_new(&a, "a", "10.0.0.1") == 0);
    CHECK(weft_node_new(&b, "b", "10.0.0.2") == 0);
    weft_disk_config bad = {.write_error_permille = 1000};
    CHECK(weft_disk_config_set(a, &bad) == 0);
    weft_disk_config full = {.capacity_bytes = 100};
    CHECK(weft_disk_config_set(b, &full) == 0);
    weft_spawn_opts oa = {.node = a}, ob = {.node = b};
    weft_task *t1, *t2;
    void *r1, *r2;
    CHECK(weft_spawn_ex(&t1, disk_faults_node, NULL, &oa) == 0);
    CHECK(weft_spawn_ex(&t2, disk_full_node, NULL, &ob) == 0);
    weft_join(t1, &r1);
    weft_join(t2, &r2);
    CHECK(r1 == NULL && r2 == NULL);
    /* Each node has its own files: the host has no "x". */
    weft_file *f;
    CHECK(weft_file_open(&f, "x", WEFT_FILE_READ, 0) == WEFT_ENOENT);
    return NULL;
}

START_TEST(disks_fail_with_eio_and_fill_up_with_enospc)
{
    over_seeds(disk_errors, NULL, seeds_for(100), 1);
}
END_TEST

/* Reads fail with WEFT_EIO at the disk's read_error_permille: never at 0,
 * always at 1000, sometimes between. A read either fails or returns the
 * whole synced content, and a failed read changes nothing: not the file,
 * not the position of the next read, not what writes and fsyncs do. */
enum { EIO_READS = 20, EIO_FILE = 64 };
static const unsigned eio_permille[] = {0, 1000, 250};
#define EIO_RATES (sizeof eio_permille / sizeof *eio_permille)

typedef struct read_errors {
    uint64_t reads[EIO_RATES], failed[EIO_RATES];
    uint64_t mixed_runs; /* runs whose reads at 250 both failed and succeeded */
} read_errors;

static void *set_read_errors(unsigned permille)
{
    weft_disk_config dc = {.latency_min_ns = 10000, .latency_spread_ns = 100000, .read_error_permille = permille};
    CHECK(weft_disk_config_set(weft_node_current(), &dc) == 0);
    return NULL;
}

/* EIO_READS reads of the whole file at one rate; counts the failures. */
static void *reads_at(read_errors *re, unsigned k, const uint8_t *want, weft_file *f)
{
    CHECK(set_read_errors(eio_permille[k]) == NULL);
    for (unsigned i = 0; i < EIO_READS; i++) {
        uint8_t buf[2 * EIO_FILE];
        ssize_t n = weft_file_pread(f, buf, sizeof buf, 0);
        re->reads[k]++;
        if (n == WEFT_EIO)
            re->failed[k]++;
        else
            CHECK(n == EIO_FILE && memcmp(buf, want, EIO_FILE) == 0);
    }
    return NULL;
}

static void *read_error_node(void *arg)
{
    read_errors *re = arg;
    uint8_t want[EIO_FILE], buf[EIO_FILE];
    for (unsigned i = 0; i < EIO_FILE; i++)
        want[i] = pat(3, i);
    weft_file *f;
    CHECK(set_read_errors(0) == NULL);
    CHECK(weft_file_open(&f, "r", WEFT_FILE_READ | WEFT_FILE_WRITE | WEFT_FILE_CREATE, 0644) == 0);
    CHECK(weft_file_pwrite(f, want, EIO_FILE, 0) == EIO_FILE && weft_file_fsync(f) == 0);
    uint64_t failed_before = re->failed[2];
    for (unsigned k = 0; k < EIO_RATES; k++)
        CHECK(reads_at(re, k, want, f) == NULL);
    re->mixed_runs += re->failed[2] > failed_before && re->failed[2] - failed_before < EIO_READS;
    /* Reads that fail: writes and fsyncs still work, and a failed read at
     * the position leaves it where it was. */
    CHECK(set_read_errors(1000) == NULL);
    CHECK(weft_file_pwrite(f, want, 16, EIO_FILE) == 16 && weft_file_fsync(f) == 0);
    CHECK(weft_file_read(f, buf, 16) == WEFT_EIO);
    CHECK(set_read_errors(0) == NULL);
    CHECK(weft_file_read(f, buf, 16) == 16 && memcmp(buf, want, 16) == 0);
    /* The file is what was written, and no more. */
    CHECK(weft_file_pread(f, buf, sizeof buf, 0) == EIO_FILE && memcmp(buf, want, EIO_FILE) == 0);
    CHECK(weft_file_pread(f, buf, sizeof buf, EIO_FILE) == 16 && memcmp(buf, want, 16) == 0);
    CHECK(weft_file_close(f) == 0);
    return NULL;
}

static void *read_errors_scenario(void *arg)
{
    weft_node *a;
    CHECK(weft_node_new(&a, "a", "10.0.0.1") == 0);
    weft_spawn_opts oa = {.node = a};
    weft_task *t;
    void *r = (void *)1;
    CHECK(weft_spawn_ex(&t, read_error_node, arg, &oa) == 0);
    CHECK(weft_join(t, &r) == 0 && r == NULL);
    return NULL;
}

START_TEST(reads_fail_with_eio_at_the_configured_rate_and_leave_the_file_as_it_was)
{
    read_errors re;
    memset(&re, 0, sizeof re);
    const uint64_t n = seeds_for(1000);
    over_seeds(read_errors_scenario, &re, n, 1);
    ck_assert_uint_eq(re.reads[0], n * EIO_READS);
    ck_assert_uint_eq(re.failed[0], 0);
    ck_assert_uint_eq(re.failed[1], re.reads[1]);
    /* 250 per mille: within a fifth of it over all the reads, and a mix of
     * failures and successes in most runs. */
    ck_assert_msg(re.failed[2] * 1000 >= re.reads[2] * 200 && re.failed[2] * 1000 <= re.reads[2] * 300,
                  "%llu of %llu reads failed at 250 per mille", (unsigned long long)re.failed[2],
                  (unsigned long long)re.reads[2]);
    ck_assert_uint_ge(re.mixed_runs * 10, n * 9);
}
END_TEST

/* ---- a write that failed leaves no trace; the disk is sparse ----------------------------------- */

/* The runtime's allocator, which the simulated world's books use too: once
 * armed (skip >= 0), it lets `skip` allocations of at least BIG_ALLOC bytes
 * through and fails the next one, then disarms. */
#define BIG_ALLOC ((size_t)1 << 20)
typedef struct big_fail {
    weft_allocator a;
    int skip;
    unsigned failed;
} big_fail;

static void *big_fail_alloc(void *ctx, size_t size)
{
    big_fail *b = ctx;
    if (size >= BIG_ALLOC && b->skip >= 0 && b->skip-- == 0) {
        b->failed++;
        return NULL;
    }
    return malloc(size);
}

static void big_fail_free(void *ctx, void *p, size_t size)
{
    (void)ctx;
    (void)size;
    free(p);
}

/* How a write is made to fail: out of memory at its first or second large
 * allocation (at a far offset, or a large write), an injected EIO, a full
 * disk. */
enum { FW_FAR_NOMEM, FW_BIG_NOMEM1, FW_BIG_NOMEM2, FW_EIO, FW_FULL, FW_CASES };

typedef struct failed_write {
    int which;
    big_fail *bf;
    ssize_t result;   /* what the write returned */
    ssize_t at_once;  /* a read of the whole file right after it */
    ssize_t after;    /* the same after a crash and restart */
    char seen[16];
} failed_write;

static uint8_t fw_big[2u << 20];

static void *failing_writer(void *arg)
{
    failed_write *fw = arg;
    weft_file *f;
    CHECK(weft_file_open(&f, "log", WEFT_FILE_READ | WEFT_FILE_WRITE | WEFT_FILE_CREATE, 0644) == 0);
    CHECK(weft_file_write(f, "durable;", 8) == 8);
    CHECK(weft_file_fsync(f) == 0);
    memset(fw_big, 'w', sizeof fw_big);
    weft_disk_config dc = {.torn_permille = 1000};
    switch (fw->which) {
    case FW_FAR_NOMEM:
        fw->bf->skip = 0;
        fw->result = weft_file_pwrite(f, fw_big, 512, 2u << 20);
        break;
    case FW_BIG_NOMEM1:
    case FW_BIG_NOMEM2:
        fw->bf->skip = fw->which == FW_BIG_NOMEM1 ? 0 : 1;
        fw->result = weft_file_pwrite(f, fw_big, sizeof fw_big, 0);
        break;
    case FW_EIO:
    case FW_FULL:
        if (fw->which == FW_EIO)
            dc.write_error_permille = 1000;
        else
            dc.capacity_bytes = 1u << 20;
        CHECK(weft_disk_config_set(weft_node_current(), &dc) == 0);
        fw->result = weft_file_pwrite(f, fw_big, sizeof fw_big, 0);
        dc.write_error_permille = 0;
        dc.capacity_bytes = 0;
        CHECK(weft_disk_config_set(weft_node_current(), &dc) == 0);
        break;
    }
    fw->bf->skip = -1;
    char b[16];
    fw->at_once = weft_file_pread(f, b, sizeof b, 0);
    weft_sleep(3600 * SEC); /* crashed here */
    return NULL;
}

static failed_write *the_failed_write;

static void *failed_write_reader(void *arg)
{
    (void)arg;
    failed_write *fw = the_failed_write;
    weft_file *f;
    if (weft_file_open(&f, "log", WEFT_FILE_READ, 0) < 0)
        return NULL;
    fw->after = weft_file_pread(f, fw->seen, sizeof fw->seen, 0);
    weft_file_close(f);
    return NULL;
}

static void *failed_write_scenario(void *arg)
{
    failed_write *fw = arg;
    the_failed_write = fw;
    weft_node *a;
    CHECK(weft_node_new(&a, "a", "10.0.0.1") == 0);
    /* At the crash every block of an unsynced write survives or not by a
     * draw: a recorded write would show. */
    weft_disk_config dc = {.torn_permille = 1000};
    CHECK(weft_disk_config_set(a, &dc) == 0);
    weft_spawn_opts oa = {.node = a};
    weft_task *t;
    CHECK(weft_spawn_ex(&t, failing_writer, fw, &oa) == 0);
    weft_sleep(SEC);
    CHECK(weft_node_crash(a) == 0);
    void *r = NULL;
    weft_join(t, &r);
    CHECK(r == NULL);
    CHECK(weft_node_restart(a, failed_write_reader, NULL) == 0);
    weft_sleep(SEC);
    return NULL;
}

START_TEST(a_write_that_failed_is_not_replayed_by_a_crash)
{
    static const ssize_t want[FW_CASES] = {0, WEFT_ENOMEM, WEFT_ENOMEM, WEFT_EIO, WEFT_ENOSPC};
    for (int which = 0; which < FW_CASES; which++) {
        for (uint64_t seed = 0; seed < seeds_for(20); seed++) {
            big_fail bf = {{big_fail_alloc, big_fail_free, NULL}, -1, 0};
            bf.a.ctx = &bf;
            weft_config c = sim(1, seed);
            c.allocator = &bf.a;
            failed_write fw;
            memset(&fw, 0, sizeof fw);
            fw.which = which;
            fw.bf = &bf;
            fw.after = -1;
            void *res = (void *)1;
            ck_assert_weft(run_in(&c, failed_write_scenario, &fw, &res), 0);
            ck_assert_msg(res == NULL, "case %d seed %llu: body failed at line %ld", which, (unsigned long long)seed,
                          (long)(intptr_t)res);
            if (want[which])
                ck_assert_msg(fw.result == want[which], "case %d seed %llu: the write returned %zd (%s)", which,
                              (unsigned long long)seed, fw.result, weft_strerror((int)fw.result));
            if (fw.result >= 0)
                continue;
            /* Failed: the file is as it was, now and after the crash. */
            ck_assert_msg(fw.at_once == 8, "case %d seed %llu: %zd bytes read right after a failed write", which,
                          (unsigned long long)seed, fw.at_once);
            ck_assert_msg(fw.after == 8 && memcmp(fw.seen, "durable;", 8) == 0,
                          "case %d seed %llu: after the crash the file has %zd bytes (\"%.8s...\"): the write that "
                          "returned %zd (%s) came back",
                          which, (unsigned long long)seed, fw.after, fw.seen, fw.result,
                          weft_strerror((int)fw.result));
        }
    }
}
END_TEST

/* A file of the simulated disk is sparse, as on ext4: a write far out
 * stores its bytes, not the hole before them, which reads as zeros and
 * takes no room on the disk; past the largest file a write fails with
 * WEFT_EFBIG, and one that would cross it is cut short there, as Linux
 * does. A crash keeps what was synced, far out too. */
static void *sparse_node(void *arg)
{
    (void)arg;
    static uint8_t block[4096];
    memset(block, 'a', sizeof block);
    weft_file *f;
    CHECK(weft_file_open(&f, "sparse", WEFT_FILE_READ | WEFT_FILE_WRITE | WEFT_FILE_CREATE, 0644) == 0);
    const uint64_t far = (uint64_t)1 << 40;
    CHECK(weft_file_pwrite(f, "x", 1, far) == 1);
    char b[16];
    memset(b, 1, sizeof b);
    CHECK(weft_file_pread(f, b, sizeof b, far - 8) == 9);
    for (int i = 0; i < 8; i++)
        CHECK(b[i] == 0);
    CHECK(b[8] == 'x');
    memset(b, 1, sizeof b);
    CHECK(weft_file_pread(f, b, sizeof b, 4096) == 16);
    for (int i = 0; i < 16; i++)
        CHECK(b[i] == 0);
    CHECK(weft_file_pread(f, b, 1, far + 1) == 0);
    /* The disk holds 64 KiB (set below): holes do not count, and writing
     * the same bytes again takes no more room. */
    for (int i = 0; i < 15; i++)
        CHECK(weft_file_pwrite(f, block, sizeof block, ((uint64_t)i << 30) + 10) == (ssize_t)sizeof block);
    CHECK(weft_file_pwrite(f, block, sizeof block, 10) == (ssize_t)sizeof block);
    CHECK(weft_file_pwrite(f, block, sizeof block, 4096 + 10) == WEFT_ENOSPC);
    CHECK(weft_file_pwrite(f, block, 4096 - 2, 4096 + 10) == 4096 - 2);
    CHECK(weft_file_pwrite(f, block, 2, 8192 + 10) == WEFT_ENOSPC);
    /* The largest file. */
    CHECK(weft_file_pwrite(f, "y", 1, WEFT_DISK_FILE_MAX) == WEFT_EFBIG);
    CHECK(weft_file_pwrite(f, "y", 1, (uint64_t)INT64_MAX - 1) == WEFT_EFBIG);
    CHECK(weft_file_pwrite(f, "y", 0, WEFT_DISK_FILE_MAX) == 0);
    /* Cut short at the largest file: one byte of two (the disk's last). */
    CHECK(weft_file_pwrite(f, "yy", 2, WEFT_DISK_FILE_MAX - 1) == 1);
    CHECK(weft_file_pread(f, b, sizeof b, WEFT_DISK_FILE_MAX - 2) == 2 && b[0] == 0 && b[1] == 'y');
    CHECK(weft_file_fsync(f) == 0);
    /* Not synced (and taking no more room): lost in the crash. */
    CHECK(weft_file_pwrite(f, "z", 1, far) == 1);
    weft_sleep(3600 * SEC); /* crashed here */
    return NULL;
}

static void *sparse_read_back(void)
{
    weft_file *f;
    char b[16];
    CHECK(weft_file_open(&f, "sparse", WEFT_FILE_READ, 0) == 0);
    CHECK(weft_file_pread(f, b, 2, ((uint64_t)1 << 40) - 1) == 2 && b[0] == 0 && b[1] == 'x');
    CHECK(weft_file_pread(f, b, 1, (3ull << 30) + 10) == 1 && b[0] == 'a');
    CHECK(weft_file_pread(f, b, sizeof b, WEFT_DISK_FILE_MAX - 2) == 2 && b[0] == 0 && b[1] == 'y');
    CHECK(weft_file_close(f) == 0);
    return NULL;
}

static void *sparse_read_result;

static void *sparse_reader(void *arg)
{
    (void)arg;
    sparse_read_result = sparse_read_back();
    return NULL;
}

static void *sparse(void *arg)
{
    (void)arg;
    weft_node *a;
    CHECK(weft_node_new(&a, "a", "10.0.0.1") == 0);
    weft_disk_config dc = {.capacity_bytes = 64u << 10};
    CHECK(weft_disk_config_set(a, &dc) == 0);
    weft_spawn_opts oa = {.node = a};
    weft_task *t;
    CHECK(weft_spawn_ex(&t, sparse_node, NULL, &oa) == 0);
    weft_sleep(SEC);
    CHECK(weft_node_crash(a) == 0);
    void *r = NULL;
    weft_join(t, &r);
    CHECK(r == NULL);
    sparse_read_result = (void *)1;
    CHECK(weft_node_restart(a, sparse_reader, NULL) == 0);
    weft_sleep(SEC);
    return sparse_read_result;
}

START_TEST(a_file_is_sparse_and_has_a_largest_size)
{
    over_seeds(sparse, NULL, seeds_for(20), 1);
}
END_TEST

/* Deadlines of file calls on a disk with latency: one passed before the
 * call does nothing; one that passes while the disk has the call does not
 * cut it short (it happened: its result comes back). */
static void *file_deadlines_node(void *arg)
{
    (void)arg;
    weft_file *f;
    char buf[8] = {0};
    unsigned rw = WEFT_FILE_READ | WEFT_FILE_WRITE | WEFT_FILE_CREATE;
    CHECK(weft_file_open_until(&f, "d", rw, 0644, weft_now()) == WEFT_ETIMEDOUT);
    CHECK(weft_file_open(&f, "d", WEFT_FILE_READ, 0) == WEFT_ENOENT);
    CHECK(weft_file_open_until(&f, "d", rw, 0644, weft_now() + 1) == 0);
    uint64_t t0 = weft_now();
    CHECK(weft_file_write_until(f, "abc", 3, t0 + 1) == 3);
    CHECK(weft_now() - t0 >= MS); /* the disk took its time, past the deadline */
    CHECK(weft_file_write_until(f, "XYZ", 3, weft_now()) == WEFT_ETIMEDOUT);
    CHECK(weft_file_fsync_until(f, weft_now()) == WEFT_ETIMEDOUT);
    CHECK(weft_file_fsync_until(f, weft_now() + 1) == 0);
    CHECK(weft_file_pread_until(f, buf, sizeof buf, 0, weft_now()) == WEFT_ETIMEDOUT && buf[0] == 0);
    CHECK(weft_file_pread_until(f, buf, sizeof buf, 0, weft_now() + 1) == 3 && memcmp(buf, "abc", 3) == 0);
    CHECK(weft_file_close(f) == 0);
    CHECK(weft_file_unlink_until("d", weft_now()) == WEFT_ETIMEDOUT);
    CHECK(weft_file_unlink_until("d", weft_now() + 1) == 0);
    return NULL;
}

static void *file_deadlines(void *arg)
{
    (void)arg;
    weft_node *a;
    CHECK(weft_node_new(&a, "a", "10.0.0.1") == 0);
    weft_disk_config slow = {.latency_min_ns = MS, .latency_spread_ns = 4 * MS};
    CHECK(weft_disk_config_set(a, &slow) == 0);
    /* On a skewed clock too: deadlines are read on the node's own. */
    CHECK(weft_node_clock(a, 3 * (int64_t)SEC, 1000) == 0);
    weft_spawn_opts oa = {.node = a};
    weft_task *t;
    void *r = (void *)1;
    CHECK(weft_spawn_ex(&t, file_deadlines_node, NULL, &oa) == 0);
    weft_join(t, &r);
    CHECK(r == NULL);
    return NULL;
}

START_TEST(file_deadlines_act_before_the_disk_has_the_call)
{
    over_seeds(file_deadlines, NULL, seeds_for(1000), 1);
}
END_TEST

/* ---- clocks ------------------------------------------------------------------------------------- */

typedef struct clock_obs {
    uint64_t local, local_after_sleep, rt_before, rt_after;
} clock_obs;

static uint64_t host_now_ns;

static void *clock_reader(void *arg)
{
    clock_obs *o = arg;
    o->local = weft_now();
    o->rt_before = host_now_ns;
    weft_sleep(SEC);
    o->local_after_sleep = weft_now();
    return NULL;
}

static void *clocks(void *arg)
{
    (void)arg;
    weft_node *a, *b;
    CHECK(weft_node_new(&a, "a", "10.0.0.1") == 0);
    CHECK(weft_node_new(&b, "b", "10.0.0.2") == 0);
    CHECK(weft_node_clock(a, 5 * (int64_t)SEC, 0) == 0);
    CHECK(weft_node_clock(b, -(int64_t)MS, 50000) == 0); /* 5% fast */
    weft_sleep(10 * SEC);
    host_now_ns = weft_now();
    clock_obs oa = {0}, ob = {0};
    weft_spawn_opts sa = {.node = a}, sb = {.node = b};
    weft_task *ta, *tb;
    CHECK(weft_spawn_ex(&ta, clock_reader, &oa, &sa) == 0);
    CHECK(weft_spawn_ex(&tb, clock_reader, &ob, &sb) == 0);
    uint64_t t0 = weft_now();
    weft_join(ta, NULL);
    weft_join(tb, NULL);
    /* Read at the same runtime instant as the host's clock. */
    CHECK(oa.local == host_now_ns + 5 * SEC);
    CHECK(ob.local == host_now_ns + host_now_ns / 20 - MS);
    /* A second on a node's own clock. */
    CHECK(oa.local_after_sleep - oa.local >= SEC && oa.local_after_sleep - oa.local < SEC + 1000);
    CHECK(ob.local_after_sleep - ob.local >= SEC && ob.local_after_sleep - ob.local < SEC + 1000);
    /* b's second passes sooner in runtime time (its clock runs fast). */
    uint64_t elapsed = weft_now() - t0;
    CHECK(elapsed >= SEC);
    CHECK(weft_node_clock(a, 0, 100000) == WEFT_EINVAL);
    return NULL;
}

START_TEST(each_node_sees_its_own_clock_skewed_and_drifting)
{
    over_seeds(clocks, NULL, 10, 1);
}
END_TEST

/* Each seed draws every node's skew (within 5 s either way) and drift
 * (within 5% either way), so a thousand seeds meet a thousand settings.
 * At instants the host picks, a task on each node reads its own clock: the
 * runtime time g (the host's, which has neither) as g * (1 + drift / 10^6)
 * + skew, give or take the nanosecond of rounding. A second slept on a
 * node's clock is a second of that clock, so 1 / (1 + drift / 10^6)
 * seconds of runtime time. */
enum { CLOCK_NODES = 3, CLOCK_READS = 4, CLOCK_SLEEP = 1 };

typedef struct drawn_clock {
    weft_node *n;
    int64_t skew;
    int32_t drift;
    weft_chan *ask;    /* the host says: read now (0), or sleep a second between two reads (CLOCK_SLEEP) */
    weft_chan *answer; /* the node's reads: before and after */
} drawn_clock;

static void *clock_reporter(void *arg)
{
    drawn_clock *dc = arg;
    unsigned what;
    while (weft_chan_recv(dc->ask, &what) == 0) {
        uint64_t reads[2];
        reads[0] = reads[1] = weft_now();
        if (what == CLOCK_SLEEP) {
            weft_sleep(SEC);
            reads[1] = weft_now();
        }
        weft_chan_send(dc->answer, reads);
    }
    return NULL;
}

/* What the node's clock should read at runtime time g. */
static bool reads_as_drawn(const drawn_clock *dc, uint64_t g, uint64_t local)
{
    int64_t want = (int64_t)g + dc->skew + (int64_t)g * dc->drift / 1000000;
    int64_t off = (int64_t)local - want;
    return off >= -1 && off <= 1;
}

static void *drawn_clocks(void *arg)
{
    (void)arg;
    static const char *addrs[CLOCK_NODES] = {"10.0.0.1", "10.0.0.2", "10.0.0.3"};
    drawn_clock dc[CLOCK_NODES];
    weft_task *t[CLOCK_NODES];
    for (unsigned i = 0; i < CLOCK_NODES; i++) {
        char name[8];
        snprintf(name, sizeof name, "n%u", i);
        CHECK(weft_node_new(&dc[i].n, name, addrs[i]) == 0);
        dc[i].skew = (int64_t)(weft_rand() % (10 * SEC + 1)) - 5 * (int64_t)SEC;
        dc[i].drift = (int32_t)(weft_rand() % 99999) - 49999;
        CHECK(weft_node_clock(dc[i].n, dc[i].skew, dc[i].drift) == 0);
        CHECK(weft_chan_new(&dc[i].ask, sizeof(unsigned), 1) == 0);
        CHECK(weft_chan_new(&dc[i].answer, 2 * sizeof(uint64_t), 1) == 0);
        weft_spawn_opts o = {.name = "clock", .node = dc[i].n};
        CHECK(weft_spawn_ex(&t[i], clock_reporter, &dc[i], &o) == 0);
    }
    /* Past the largest negative skew: no clock is held at zero. */
    weft_sleep(10 * SEC);
    for (unsigned r = 0; r <= CLOCK_READS; r++) {
        weft_sleep(weft_rand() % (3 * SEC));
        unsigned what = r == CLOCK_READS ? CLOCK_SLEEP : 0;
        for (unsigned i = 0; i < CLOCK_NODES; i++) {
            uint64_t g0 = weft_now(), reads[2];
            CHECK(weft_chan_send(dc[i].ask, &what) == 0 && weft_chan_recv(dc[i].answer, reads) == 0);
            uint64_t g1 = weft_now();
            CHECK(reads_as_drawn(&dc[i], g0, reads[0]));
            CHECK(reads_as_drawn(&dc[i], g1, reads[1]));
            if (what != CLOCK_SLEEP)
                continue;
            /* The sleep ended at the first instant the node's clock read a
             * second later; the runtime time it took is the drift's. */
            CHECK(reads[1] - reads[0] >= SEC && reads[1] - reads[0] <= SEC + 2);
            int64_t took = (int64_t)(SEC * 1000000 / (uint64_t)(1000000 + dc[i].drift));
            CHECK((int64_t)(g1 - g0) - took >= -2 && (int64_t)(g1 - g0) - took <= 2);
        }
    }
    for (unsigned i = 0; i < CLOCK_NODES; i++) {
        weft_chan_close(dc[i].ask);
        void *r = (void *)1;
        CHECK(weft_join(t[i], &r) == 0 && r == NULL);
        weft_chan_free(dc[i].ask);
        weft_chan_free(dc[i].answer);
    }
    return NULL;
}

START_TEST(every_seed_draws_each_nodes_skew_and_drift_and_each_node_reads_its_own)
{
    over_seeds(drawn_clocks, NULL, seeds_for(1000), 1);
}
END_TEST

/* ---- pause --------------------------------------------------------------------------------------- */

static void *paused_sender(void *arg)
{
    uint64_t *sent_at = arg;
    weft_sock *s;
    if (weft_udp_bind(&s, "0.0.0.0:0") < 0)
        return (void *)1;
    weft_udp_send_to(s, "0", 1, "10.0.0.2:9");
    *sent_at = weft_now();
    weft_sock_close(s);
    return NULL;
}

static void *pausing(void *arg)
{
    (void)arg;
    weft_node *a, *b;
    CHECK(weft_node_new(&a, "a", "10.0.0.1") == 0);
    CHECK(weft_node_new(&b, "b", "10.0.0.2") == 0);
    uint64_t when[3] = {0}, sent_at = 0;
    weft_spawn_opts oa = {.node = a}, ob = {.node = b};
    weft_task *r, *s;
    CHECK(weft_spawn_ex(&r, clog_recv, when, &ob) == 0);
    weft_sleep(MS);
    uint64_t start = weft_now();
    CHECK(weft_node_pause(a, 1) == 0);
    CHECK(weft_spawn_ex(&s, paused_sender, &sent_at, &oa) == 0);
    weft_sleep(3 * SEC);
    CHECK(sent_at == 0); /* a paused node sends nothing */
    CHECK(weft_node_pause(a, 0) == 0);
    weft_join(s, NULL);
    CHECK(sent_at >= start + 3 * SEC);
    weft_cancel(r);
    weft_join(r, NULL);
    return NULL;
}

START_TEST(a_paused_node_neither_sends_nor_receives_until_it_resumes)
{
    over_seeds(pausing, NULL, seeds_for(100), 1);
}
END_TEST

/* ---- determinism -------------------------------------------------------------------------------- */

START_TEST(the_same_seed_gives_the_same_trace_hash)
{
    for (uint64_t seed = 0; seed < seeds_for(50); seed++) {
        uint64_t h[2];
        for (int k = 0; k < 2; k++) {
            weft_config c = sim(2, seed);
            h[k] = hash_in(&c, streams, (void *)(uintptr_t)3000, NULL);
        }
        ck_assert_msg(h[0] == h[1], "seed %llu: %016llx then %016llx", (unsigned long long)seed,
                      (unsigned long long)h[0], (unsigned long long)h[1]);
    }
    /* And different seeds give different runs. */
    weft_config c0 = sim(1, 1), c1 = sim(1, 2);
    ck_assert(hash_in(&c0, streams, (void *)(uintptr_t)3000, NULL) !=
              hash_in(&c1, streams, (void *)(uintptr_t)3000, NULL));
}
END_TEST

/* A world with every fault at once: a sends datagrams to b through loss,
 * duplication, reordering and a tail, c sends them too while it writes a
 * file on a disk that tears; a and b are cut apart and healed mid-stream;
 * c crashes and its next life reads the file back and says what it saw. */
enum { MIXED_DGRAMS = 30 };

typedef struct mixed {
    uint64_t got, digest;            /* b's datagrams, and a hash of them in arrival order */
    unsigned from_a[MIXED_DGRAMS];   /* how often b got each of a's */
    char seen[16];                   /* c's file in its next life */
} mixed;

static void *mixed_receiver(void *arg)
{
    mixed *m = arg;
    weft_sock *s;
    CHECK(weft_udp_bind(&s, "10.0.0.2:53") == 0);
    uint32_t msg;
    /* Until the senders have been quiet a while. */
    while (weft_udp_recv_from_until(s, &msg, sizeof msg, NULL, 0, weft_now() + 200 * MS) == (ssize_t)sizeof msg) {
        m->got++;
        m->digest = (m->digest ^ msg) * 0x100000001b3ull;
        if (msg >> 16 == 1 && (msg & 0xffff) < MIXED_DGRAMS)
            m->from_a[msg & 0xffff]++;
    }
    weft_sock_close(s);
    return NULL;
}

static void *mixed_sender(void *arg)
{
    uint32_t tag = (uint32_t)(uintptr_t)arg;
    weft_sock *s;
    if (weft_udp_bind(&s, "0.0.0.0:0") < 0) /* c's may be crashed here */
        return (void *)1;
    for (uint32_t i = 0; i < MIXED_DGRAMS; i++) {
        uint32_t msg = tag << 16 | i;
        weft_udp_send_to(s, &msg, sizeof msg, "10.0.0.2:53");
        weft_sleep(MS);
    }
    weft_sock_close(s);
    return NULL;
}

static void *mixed_first_life(void *arg)
{
    (void)arg;
    weft_file *f;
    CHECK(weft_file_open(&f, "log", WEFT_FILE_WRITE | WEFT_FILE_CREATE, 0644) == 0);
    CHECK(weft_file_write(f, "durable;", 8) == 8 && weft_file_fsync(f) == 0);
    CHECK(weft_file_write(f, "lost", 4) == 4);
    mixed_sender((void *)(uintptr_t)2);
    weft_sleep(3600 * SEC); /* crashed in here, or in the sender */
    return NULL;
}

static void *mixed_next_life(void *arg)
{
    mixed *m = arg;
    weft_file *f;
    CHECK(weft_file_open(&f, "log", WEFT_FILE_READ, 0) == 0);
    CHECK(weft_file_read(f, m->seen, sizeof m->seen - 1) >= 0);
    weft_file_close(f);
    weft_sock *s;
    CHECK(weft_udp_bind(&s, "0.0.0.0:0") == 0);
    uint32_t msg = 3u << 16;
    weft_udp_send_to(s, &msg, sizeof msg, "10.0.0.2:53");
    weft_sock_close(s);
    return NULL;
}

static void *mixed_world(void *arg)
{
    mixed *m = arg;
    memset(m, 0, sizeof *m);
    weft_node *a, *b, *c;
    CHECK(weft_node_new(&a, "a", "10.0.0.1") == 0);
    CHECK(weft_node_new(&b, "b", "10.0.0.2") == 0);
    CHECK(weft_node_new(&c, "c", "10.0.0.3") == 0);
    weft_net_config nc = {.latency_min_ns = MS, .latency_mean_ns = 2 * MS, .tail_permille = 20, .tail_ns = 30 * MS,
                          .loss_permille = 100, .dup_permille = 100, .reorder_permille = 200, .reorder_ns = 10 * MS};
    CHECK(weft_net_config_set(&nc) == 0);
    weft_disk_config dc = {.latency_min_ns = 100000, .latency_spread_ns = MS, .block_size = 512, .torn_permille = 500};
    CHECK(weft_disk_config_set(c, &dc) == 0);
    weft_spawn_opts ob = {.name = "receiver", .node = b}, oa = {.name = "sender", .node = a},
                    oc = {.name = "writer", .node = c};
    weft_task *rt, *sa, *wc;
    CHECK(weft_spawn_ex(&rt, mixed_receiver, m, &ob) == 0);
    CHECK(weft_spawn_ex(&sa, mixed_sender, (void *)(uintptr_t)1, &oa) == 0);
    CHECK(weft_spawn_ex(&wc, mixed_first_life, NULL, &oc) == 0);
    weft_sleep(weft_rand() % (10 * MS));
    weft_node *left[] = {a}, *right[] = {b};
    CHECK(weft_net_partition(left, 1, right, 1, 0) == 0);
    weft_sleep(weft_rand() % (10 * MS));
    CHECK(weft_net_heal() == 0);
    /* After c's fsync (its four disk calls take at most 4.4 ms). */
    weft_sleep(10 * MS + weft_rand() % (10 * MS));
    CHECK(weft_node_crash(c) == 0);
    CHECK(weft_join(wc, NULL) == WEFT_ECANCELED);
    CHECK(weft_node_restart(c, mixed_next_life, m) == 0);
    void *r = (void *)1;
    CHECK(weft_join(sa, &r) == 0 && r == NULL);
    CHECK(weft_join(rt, &r) == 0 && r == NULL);
    /* The unsynced write is lost, or torn (its one block kept). */
    CHECK(strcmp(m->seen, "durable;") == 0 || strcmp(m->seen, "durable;lost") == 0);
    return NULL;
}

/* Run mixed_world under cfg on *rt: a new runtime the first time, the same
 * one reset after (as exploration does); returns the run's trace hash. */
static uint64_t mixed_hash(weft_rt **rt, const weft_config *cfg, mixed *m)
{
    if (*rt)
        ck_assert_weft(weft_rt_reset(*rt, cfg), 0);
    else
        ck_assert_weft(weft_rt_new(rt, cfg), 0);
    void *res = (void *)1;
    int r = weft_rt_block_on(*rt, mixed_world, m, &res);
    ck_assert_msg(r == 0 && res == NULL, "seed %llu: run returned %d (%s), body failed at line %ld",
                  (unsigned long long)cfg->seed, r, weft_strerror(r), (long)(intptr_t)res);
    return weft_rt_trace_hash(*rt);
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

/* Each seed runs twice, on two runtimes (so at different addresses), on
 * one worker or two: the same trace hash and the same outcome each time.
 * Different seeds make different runs. */
START_TEST(the_same_seed_gives_the_same_trace_hash_through_loss_partitions_and_crashes)
{
    const uint64_t n = seeds_for(1000);
    uint64_t *hashes = calloc(n, sizeof *hashes);
    ck_assert_ptr_nonnull(hashes);
    weft_rt *rt[2] = {NULL, NULL};
    uint64_t lost_ones = 0, dup_ones = 0, torn_ones = 0; /* a's datagrams lost, duplicated; files torn */
    for (uint64_t seed = 0; seed < n; seed++) {
        weft_config c = sim(1 + seed % 2, seed);
        mixed m[2];
        uint64_t h[2];
        for (int k = 0; k < 2; k++)
            h[k] = mixed_hash(&rt[k], &c, &m[k]);
        ck_assert_msg(h[0] == h[1], "seed %llu: %016llx then %016llx", (unsigned long long)seed,
                      (unsigned long long)h[0], (unsigned long long)h[1]);
        ck_assert_msg(m[0].got == m[1].got && m[0].digest == m[1].digest &&
                          memcmp(m[0].from_a, m[1].from_a, sizeof m[0].from_a) == 0 &&
                          strcmp(m[0].seen, m[1].seen) == 0,
                      "seed %llu: b got %llu then %llu datagrams, c read \"%s\" then \"%s\"", (unsigned long long)seed,
                      (unsigned long long)m[0].got, (unsigned long long)m[1].got, m[0].seen, m[1].seen);
        for (unsigned i = 0; i < MIXED_DGRAMS; i++) {
            lost_ones += m[0].from_a[i] == 0;
            dup_ones += m[0].from_a[i] > 1;
        }
        torn_ones += strcmp(m[0].seen, "durable;lost") == 0;
        hashes[seed] = h[0];
    }
    weft_rt_free(rt[0]);
    weft_rt_free(rt[1]);
    /* Each seed made a run of its own, and the faults did happen. */
    qsort(hashes, n, sizeof *hashes, cmp_u64);
    uint64_t distinct = n > 0;
    for (uint64_t i = 1; i < n; i++)
        distinct += hashes[i] != hashes[i - 1];
    free(hashes);
    ck_assert_msg(distinct == n, "%llu distinct trace hashes in %llu seeds", (unsigned long long)distinct,
                  (unsigned long long)n);
    ck_assert_uint_gt(lost_ones, 0);
    ck_assert_uint_gt(dup_ones, 0);
    ck_assert_uint_gt(torn_ones, 0);
}
END_TEST

/* ---- echo on the simulated loopback (the examples' shape) ------------------------------------------ */

static void *loop_echo_conn(void *arg)
{
    weft_sock *c = arg;
    char b[512];
    ssize_t n;
    while ((n = weft_sock_read(c, b, sizeof b)) > 0)
        weft_sock_write_all(c, b, (size_t)n, NULL);
    weft_sock_close(c);
    return NULL;
}

static void *loop_echo_server(void *arg)
{
    weft_sock *l = arg;
    weft_sock *c;
    while (weft_tcp_accept(l, &c) == 0)
        weft_spawn(NULL, loop_echo_conn, c);
    return NULL;
}

static void *loop_echo_client(void *arg)
{
    const char *addr = arg;
    weft_sock *s;
    if (weft_tcp_connect(&s, addr) < 0)
        return (void *)1;
    char out[300], in[300];
    for (int round = 0; round < 5; round++) {
        for (size_t i = 0; i < sizeof out; i++)
            out[i] = (char)(round + i);
        if (weft_sock_write_all(s, out, sizeof out, NULL) < 0)
            return (void *)2;
        size_t got = 0;
        while (got < sizeof in) {
            ssize_t n = weft_sock_read(s, in + got, sizeof in - got);
            if (n <= 0)
                return (void *)3;
            got += (size_t)n;
        }
        if (memcmp(in, out, sizeof out))
            return (void *)4;
    }
    weft_sock_close(s);
    return NULL;
}

static void *loopback_echo(void *arg)
{
    (void)arg;
    weft_sock *l;
    char addr[WEFT_ADDR_MAX];
    CHECK(weft_tcp_listen(&l, "127.0.0.1:0", 64) == 0);
    CHECK(weft_sock_local_addr(l, addr, sizeof addr) > 0);
    CHECK(strncmp(addr, "127.0.0.1:", 10) == 0);
    weft_task *srv, *cl[20];
    CHECK(weft_spawn(&srv, loop_echo_server, l) == 0);
    for (int i = 0; i < 20; i++)
        CHECK(weft_spawn(&cl[i], loop_echo_client, addr) == 0);
    for (int i = 0; i < 20; i++) {
        void *r;
        weft_join(cl[i], &r);
        CHECK(r == NULL);
    }
    weft_sock_close(l);
    weft_cancel(srv);
    weft_join(srv, NULL);
    /* Unreachable and refused. */
    weft_sock *s;
    CHECK(weft_tcp_connect(&s, "10.9.9.9:80") == WEFT_EHOSTUNREACH);
    CHECK(weft_tcp_connect(&s, "127.0.0.1:1") == WEFT_ECONNREFUSED);
    return NULL;
}

static void no_reset(void *arg)
{
    (void)arg;
}

START_TEST(echo_over_the_simulated_loopback_on_one_to_four_workers)
{
    run_matrix(loopback_echo, NULL, no_reset, seeds_for(200));
}
END_TEST

/* ---- bad input ----------------------------------------------------------------------------------- */

static void *sim_bad_input(void *arg)
{
    (void)arg;
    weft_node *a, *x;
    CHECK(weft_node_new(&a, "a", "10.0.0.1") == 0);
    CHECK(weft_node_new(&x, "b", "10.0.0.1") == WEFT_EADDRINUSE);
    CHECK(weft_node_new(&x, "b", "127.0.0.1") == WEFT_EADDRINUSE);
    CHECK(weft_node_new(&x, "b", "10.0.0.3:80") == WEFT_EINVAL);
    CHECK(weft_node_new(&x, "b", "0.0.0.0") == WEFT_EINVAL);
    CHECK(weft_node_new(&x, "", "10.0.0.3") == WEFT_EINVAL);
    CHECK(weft_node_new(&x, "b", "ten") == WEFT_EINVAL);
    CHECK(weft_node_new(NULL, "b", "10.0.0.3") == WEFT_EINVAL);
    weft_node *forged = (weft_node *)(uintptr_t)0x1000;
    CHECK(weft_node_crash(forged) == WEFT_EINVAL);
    CHECK(weft_node_crash(NULL) == WEFT_EINVAL);
    CHECK(weft_node_restart(a, NULL, NULL) == WEFT_EINVAL);
    CHECK(weft_node_restart(a, returns_arg, NULL) == WEFT_EBUSY);
    CHECK(weft_node_pause(forged, 1) == WEFT_EINVAL);
    CHECK(weft_node_clock(NULL, 0, 0) == WEFT_EINVAL);
    weft_net_config nc = {.loss_permille = 1001};
    CHECK(weft_net_config_set(&nc) == WEFT_EINVAL);
    CHECK(weft_net_config_set(NULL) == WEFT_EINVAL);
    weft_node *set[] = {forged};
    CHECK(weft_net_partition(set, 1, &a, 1, 0) == WEFT_EINVAL);
    CHECK(weft_net_partition(NULL, 1, &a, 1, 0) == WEFT_EINVAL);
    weft_disk_config dc = {.block_size = 1000};
    CHECK(weft_disk_config_set(a, &dc) == WEFT_EINVAL);
    /* Times that could wrap virtual time: refused, and the config in force
     * is left as it was. */
    weft_net_config in_force;
    CHECK(weft_net_config_get(&in_force) == 0);
    const weft_net_config too_long[] = {
        {.latency_min_ns = WEFT_SIM_DELAY_MAX + 1},       {.latency_mean_ns = UINT64_MAX},
        {.tail_permille = 1, .tail_ns = UINT64_MAX},      {.reorder_ns = WEFT_SIM_DELAY_MAX + 1},
        {.connect_timeout_ns = UINT64_MAX},               {.latency_min_spread_ns = UINT64_MAX},
        {.latency_mean_spread_ns = WEFT_SIM_DELAY_MAX + 1},
    };
    for (size_t i = 0; i < sizeof too_long / sizeof *too_long; i++)
        CHECK(weft_net_config_set(&too_long[i]) == WEFT_EINVAL);
    weft_net_config after;
    CHECK(weft_net_config_get(&after) == 0 && same_net_config(&after, &in_force));
    CHECK(weft_net_config_get(NULL) == WEFT_EINVAL);
    /* What a seed may draw is bounded, not only each field. */
    weft_net_config too_wide = {.latency_min_ns = WEFT_SIM_DELAY_MAX, .latency_min_spread_ns = 1};
    CHECK(weft_net_config_set(&too_wide) == WEFT_EINVAL);
    weft_net_config longest = {.latency_min_ns = WEFT_SIM_DELAY_MAX / 2, .latency_min_spread_ns = WEFT_SIM_DELAY_MAX / 2,
                               .latency_mean_ns = WEFT_SIM_DELAY_MAX};
    CHECK(weft_net_config_set(&longest) == 0);
    weft_net_config drawn;
    CHECK(weft_net_config_get(&drawn) == 0 && weft_net_config_set(&drawn) == 0);
    CHECK(weft_net_config_set(&in_force) == 0);
    /* Before the bound, a spread of 2^64 - 1 divided by zero (SIGFPE). */
    weft_disk_config slow_disk[] = {{.latency_spread_ns = UINT64_MAX},
                                    {.latency_min_ns = WEFT_SIM_DELAY_MAX + 1},
                                    {.latency_min_ns = WEFT_SIM_DELAY_MAX, .latency_spread_ns = 1}};
    for (size_t i = 0; i < 3; i++)
        CHECK(weft_disk_config_set(a, &slow_disk[i]) == WEFT_EINVAL);
    /* The host's sockets cannot take another node's address. */
    weft_sock *s;
    CHECK(weft_tcp_listen(&s, "10.0.0.1:80", 1) == WEFT_EADDRNOTAVAIL);
    CHECK(weft_tcp_listen(&s, "127.0.0.1:80", 1) == 0);
    weft_sock *s2;
    CHECK(weft_tcp_listen(&s2, "127.0.0.1:80", 1) == WEFT_EADDRINUSE);
    char buf[8];
    CHECK(weft_sock_read(s, NULL, 4) == WEFT_EFAULT);
    CHECK(weft_sock_read(s, buf, 4) == WEFT_EINVAL);
    CHECK(weft_sock_close(s) == 0);
    CHECK(weft_sock_close(s) == WEFT_EBADF);
    CHECK(weft_sock_write((weft_sock *)(uintptr_t)77, buf, 1) == WEFT_EBADF);
    weft_sock *u;
    CHECK(weft_udp_bind(&u, "127.0.0.1:0") == 0);
    CHECK(weft_udp_send_to(u, buf, 70000, "127.0.0.1:9") == WEFT_EMSGSIZE);
    CHECK(weft_udp_send_to(u, buf, 1, "[::1]:9") == WEFT_EAFNOSUPPORT);
    CHECK(weft_sock_close(u) == 0);
    return NULL;
}

START_TEST(bad_input_in_simulation_gets_clear_codes)
{
    weft_config c = sim(1, 0);
    void *res = (void *)1;
    ck_assert_weft(run_in(&c, sim_bad_input, NULL, &res), 0);
    ck_assert_msg(res == NULL, "body failed at line %ld", (long)(intptr_t)res);
}
END_TEST

/* ---- numeric addresses, the same rules in both worlds -------------------------------- */

/* Text in, canonical text out (RFC 5952: lower case, the longest run of
 * zero groups — the first of equals — as "::", a single zero group kept,
 * an IPv4-mapped address dotted), through weft_resolve, which takes a
 * numeric address as it is (no lookup, no network). */
static const char *const addr_cases[][2] = {
    {"127.0.0.1", "127.0.0.1:80"},
    {"0.0.0.0", "0.0.0.0:80"},
    {"255.255.255.255", "255.255.255.255:80"},
    {"10.1.2.3:9", "10.1.2.3:80"},
    {"[::1]", "[::1]:80"},
    {"::1", "[::1]:80"},
    {"[0:0:0:0:0:0:0:1]", "[::1]:80"},
    {"[::]", "[::]:80"},
    {"[1::]", "[1::]:80"},
    {"[2001:DB8::A]", "[2001:db8::a]:80"},
    {"[2001:db8:0:0:1:0:0:1]", "[2001:db8::1:0:0:1]:80"},
    {"[2001:0db8:0000:0001:0000:0000:0000:0001]", "[2001:db8:0:1::1]:80"},
    {"[1:0:2:3:4:5:6:7]", "[1:0:2:3:4:5:6:7]:80"},
    {"[1:2:3:4:5:6:7:8]", "[1:2:3:4:5:6:7:8]:80"},
    {"[::ffff:127.0.0.1]", "[::ffff:127.0.0.1]:80"},
    {"[::ffff:7f00:1]", "[::ffff:127.0.0.1]:80"},
    {"[::FFFF:10.0.0.1]:443", "[::ffff:10.0.0.1]:80"},
    {"[64:ff9b::192.0.2.33]", "[64:ff9b::c000:221]:80"},
    {"[1:2:3:4:5:6:1.2.3.4]", "[1:2:3:4:5:6:102:304]:80"},
};

/* Refused by every call that takes an address, before any system call. */
static const char *const addr_bad[] = {
    "",         "1.2.3",          "1.2.3.4.5:80",       "1.2.3.4",         "256.1.1.1:80",   "1.2.3.4:65536",
    "1.2.3.4:", "1.2.3.4:080",    "01.2.3.4:80",        "0x7f.0.0.1:80",   "1.2.3.4:80 ",    "::1:80",
    "[::1]",    "[::1]:",         "[::1]:80x",          "[::1]]:80",       "[[::1]:80",      "[:1]:80",
    "[1:]:80",  "[1:::2]:80",     "[1::2::3]:80",       "[12345::1]:80",   "[g::1]:80",      "[1:2:3:4:5:6:7:8:9]:80",
    "[1:2:3:4:5:6:7::8]:80",      "[::1.2.3]:80",       "[::1.2.3.4:5]:80", "[::01.2.3.4]:80", "[1.2.3.4]:80",
    "[1:2:3:4:5:6:7:1.2.3.4]:80", "[::1.2.3.4.5]:80",   "[fe80::1%eth0]:80", "[::256.0.0.1]:80", "localhost:80",
};

static void *addresses(void *arg)
{
    (void)arg;
    char out[WEFT_ADDR_MAX];
    for (size_t i = 0; i < sizeof addr_cases / sizeof *addr_cases; i++) {
        int n = weft_resolve(addr_cases[i][0], 80, out, sizeof out);
        if (n != (int)strlen(addr_cases[i][1]) || strcmp(out, addr_cases[i][1]) != 0) {
            fprintf(stderr, "test_net: resolve \"%s\" gave %d \"%s\", expected \"%s\"\n", addr_cases[i][0], n, out,
                    addr_cases[i][1]);
            return (void *)(intptr_t)__LINE__;
        }
        /* The canonical text reads back as itself. */
        char again[WEFT_ADDR_MAX];
        CHECK(weft_resolve(out, 80, again, sizeof again) == n && strcmp(again, out) == 0);
        /* Exactly as long as it needs: one byte less is refused. */
        CHECK(weft_resolve(addr_cases[i][0], 80, out, (size_t)n) == WEFT_EINVAL);
    }
    CHECK(weft_resolve("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]", 65535, out, sizeof out) == WEFT_ADDR_MAX - 1);
    for (size_t i = 0; i < sizeof addr_bad / sizeof *addr_bad; i++) {
        weft_sock *s = (weft_sock *)(uintptr_t)1;
        if (weft_udp_bind(&s, addr_bad[i]) != WEFT_EINVAL || s != NULL) {
            fprintf(stderr, "test_net: bind \"%s\" was not refused\n", addr_bad[i]);
            return (void *)(intptr_t)__LINE__;
        }
        CHECK(weft_tcp_connect(&s, addr_bad[i]) == WEFT_EINVAL);
        CHECK(weft_tcp_listen(&s, addr_bad[i], 1) == WEFT_EINVAL);
        CHECK(weft_udp_send_to((weft_sock *)(uintptr_t)1, "x", 1, addr_bad[i]) == WEFT_EINVAL);
    }
    return NULL;
}

START_TEST(numeric_addresses_parse_strictly_and_print_canonically_in_both_worlds)
{
    void *res = (void *)1;
    weft_config c = sim(1, 0);
    ck_assert_weft(run_in(&c, addresses, NULL, &res), 0);
    ck_assert_msg(res == NULL, "body failed at line %ld", (long)(intptr_t)res);
    res = (void *)1;
    c = threaded_config();
    ck_assert_weft(run_in(&c, addresses, NULL, &res), 0);
    ck_assert_msg(res == NULL, "body failed at line %ld", (long)(intptr_t)res);
}
END_TEST

static void *v6_nodes(void *arg)
{
    (void)arg;
    weft_node *a, *x;
    /* A node's address is given without a port, bracketed or not. */
    CHECK(weft_node_new(&a, "a", "fd00::1") == 0);
    CHECK(weft_node_new(&x, "b", "[fd00:0::1]") == WEFT_EADDRINUSE);
    CHECK(weft_node_new(&x, "b", "fd00::1:80") == 0);
    CHECK(weft_node_new(&x, "c", "[fd00::2]:80") == WEFT_EINVAL);
    char out[WEFT_ADDR_MAX];
    CHECK(weft_resolve("a", 7, out, sizeof out) > 0 && strcmp(out, "[fd00::1]:7") == 0);
    CHECK(weft_resolve("b", 7, out, sizeof out) > 0 && strcmp(out, "[fd00::1:80]:7") == 0);
    return NULL;
}

START_TEST(nodes_take_ipv6_addresses_bracketed_or_not)
{
    weft_config c = sim(1, 0);
    void *res = (void *)1;
    ck_assert_weft(run_in(&c, v6_nodes, NULL, &res), 0);
    ck_assert_msg(res == NULL, "body failed at line %ld", (long)(intptr_t)res);
}
END_TEST

static void *node_in_threaded(void *arg)
{
    (void)arg;
    weft_node *n;
    weft_net_config nc;
    if (weft_net_config_get(&nc) != WEFT_ENOTSUP)
        return (void *)(intptr_t)WEFT_EIO;
    return (void *)(intptr_t)weft_node_new(&n, "a", "127.0.0.2");
}

START_TEST(nodes_exist_only_in_simulation)
{
    weft_config c = threaded_config();
    void *r;
    ck_assert_weft(run_in(&c, node_in_threaded, NULL, &r), 0);
    ck_assert_int_eq((int)(intptr_t)r, WEFT_ENOTSUP);
    weft_node *n;
    ck_assert_weft(weft_node_new(&n, "a", "10.0.0.1"), WEFT_EPERM);
}
END_TEST

Suite *suite_net(void)
{
    Suite *s = suite_create("net");
    TCase *tc = tcase_create("simulated");
    tcase_add_test(tc, streams_deliver_every_byte_in_order_over_a_thousand_seeds);
    tcase_add_test(tc, latency_minimum_and_mean_are_drawn_per_seed_and_replay);
    tcase_add_test(tc, without_spreads_the_latency_is_the_same_for_every_seed);
    tcase_add_test(tc, the_latency_tail_delays_some_packets_far_past_the_exponential_and_only_when_set);
    tcase_add_test(tc, two_writers_on_different_workers_share_one_ordered_stream);
    tcase_add_test(tc, a_peers_close_gives_the_codes_linux_gives_eof_then_epipe_after_a_fin);
    tcase_add_test(tc, datagrams_are_lost_duplicated_and_reordered_and_nothing_else);
    tcase_add_test(tc, a_too_small_from_buffer_is_refused_and_the_datagram_stays_queued_in_simulation);
    tcase_add_test(tc, partitions_reset_streams_drop_packets_one_way_or_both_and_heal);
    tcase_add_test(tc, a_clogged_path_delays_packets_without_losing_them);
    tcase_add_test(tc, a_crash_kills_tasks_resets_peers_and_loses_exactly_the_unsynced_writes);
    tcase_add_test(tc, handles_of_a_crashed_node_are_dead_in_its_next_life);
    tcase_add_test(tc, a_reset_runtime_runs_network_and_crash_seeds_as_new_ones_do);
    tcase_add_test(tc, connections_left_open_are_closed_quietly_and_search_stays_deterministic);
    tcase_add_test(tc, unsynced_writes_tear_at_the_block_size_in_a_crash);
    tcase_add_test(tc, disks_fail_with_eio_and_fill_up_with_enospc);
    tcase_add_test(tc, reads_fail_with_eio_at_the_configured_rate_and_leave_the_file_as_it_was);
    tcase_add_test(tc, a_write_that_failed_is_not_replayed_by_a_crash);
    tcase_add_test(tc, a_file_is_sparse_and_has_a_largest_size);
    tcase_add_test(tc, file_deadlines_act_before_the_disk_has_the_call);
    tcase_add_test(tc, each_node_sees_its_own_clock_skewed_and_drifting);
    tcase_add_test(tc, every_seed_draws_each_nodes_skew_and_drift_and_each_node_reads_its_own);
    tcase_add_test(tc, a_paused_node_neither_sends_nor_receives_until_it_resumes);
    tcase_add_test(tc, the_same_seed_gives_the_same_trace_hash);
    tcase_add_test(tc, the_same_seed_gives_the_same_trace_hash_through_loss_partitions_and_crashes);
    tcase_add_test(tc, echo_over_the_simulated_loopback_on_one_to_four_workers);
    tcase_add_test(tc, bad_input_in_simulation_gets_clear_codes);
    tcase_add_test(tc, nodes_exist_only_in_simulation);
    tcase_add_test(tc, numeric_addresses_parse_strictly_and_print_canonically_in_both_worlds);
    tcase_add_test(tc, nodes_take_ipv6_addresses_bracketed_or_not);
    suite_add_tcase(s, tc);
    return s;
}
