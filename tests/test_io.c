/* test_io.c — sockets and files on the real reactors, over loopback only
 * (127.0.0.1 and ::1): every test runs on epoll, poll and io_uring, on one
 * and two workers. A thousand concurrent echo connections with every byte
 * checked; partial reads and writes; a peer reset mid-stream; accept hitting
 * EMFILE under a lowered RLIMIT_NOFILE while the server keeps serving; a
 * read that times out or is cancelled never writes into the buffer
 * afterwards, and loses no data; accepts, connects, writes and datagram
 * receives that time out or are cancelled, and writes that count exactly
 * what went out; datagrams; files; name lookup; errors
 * injected through the weft_os table; epoll without epoll_pwait2. Every
 * wait has a deadline so that a bug fails the test instead of hanging it
 * (no test asserts on time, only that a sleep does not end early). */
#define _GNU_SOURCE
#include "support.h"

#include <weft/os.h>

#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <unistd.h>

#define SEC 1000000000ull
/* Hang protection for every wait (never an assertion on speed). */
#define LIMIT (120 * SEC)

static const weft_reactor reactors[] = {WEFT_REACTOR_EPOLL, WEFT_REACTOR_POLL, WEFT_REACTOR_URING};
static const char *const reactor_names[] = {"epoll", "poll", "io_uring"};

/* The reactors a test runs on. Valgrind (3.19) holds its one lock while a
 * thread sits in io_uring_enter, so no other thread can run to wake it: a
 * two-worker io_uring runtime stops dead there (the kernel's side shows
 * io_cqring_wait, every other thread waits for valgrind's lock). io_uring is
 * left to ASan, TSan and the debug build; epoll and poll run everywhere. */
static size_t reactor_count(void)
{
    return sizeof reactors / sizeof *reactors - (under_valgrind() ? 1 : 0);
}

static weft_config real(weft_reactor r, unsigned workers)
{
    weft_config c = threaded_config();
    c.reactor = r;
    c.workers = workers;
    return c;
}

static uint64_t until(void)
{
    return weft_now() + LIMIT;
}

/* Run body on every reactor and on 1 and 2 workers. */
static void each_reactor(weft_fn body, void *arg)
{
    for (size_t i = 0; i < reactor_count(); i++) {
        for (unsigned workers = 1; workers <= 2; workers++) {
            weft_config c = real(reactors[i], workers);
            void *res = (void *)1;
            int r = run_in(&c, body, arg, &res);
            ck_assert_msg(r == 0 && res == NULL, "%s, %u worker(s): run returned %d (%s), body %p", reactor_names[i],
                          workers, r, weft_strerror(r), res);
        }
    }
}

/* Fail the body (in the runtime) with a message the test shows. */
#define REQUIRE(cond, ...)                                                                                      \
    do {                                                                                                        \
        if (!(cond)) {                                                                                          \
            fprintf(stderr, "test_io:%d: ", __LINE__);                                                          \
            fprintf(stderr, __VA_ARGS__);                                                                       \
            fputc('\n', stderr);                                                                                \
            return (void *)(intptr_t)__LINE__;                                                                  \
        }                                                                                                       \
    } while (0)

/* A listener on 127.0.0.1 (its address in addr), a client socket s and the
 * server's end c of one connection; NULL, or the call that failed. */
static const char *connected_pair(weft_sock **l, weft_sock **s, weft_sock **c, char addr[WEFT_ADDR_MAX])
{
    if (weft_tcp_listen(l, "127.0.0.1:0", 1) != 0)
        return "listen";
    if (weft_sock_local_addr(*l, addr, WEFT_ADDR_MAX) <= 0)
        return "local_addr";
    if (weft_tcp_connect_until(s, addr, until()) != 0)
        return "connect";
    if (weft_tcp_accept_until(*l, c, until()) != 0)
        return "accept";
    return NULL;
}

/* ---- an echo server ------------------------------------------------------------ */

static void *echo_conn(void *arg)
{
    weft_sock *c = arg;
    char buf[4096];
    for (;;) {
        ssize_t n = weft_sock_read_until(c, buf, sizeof buf, until());
        if (n <= 0)
            break;
        if (weft_sock_write_all_until(c, buf, (size_t)n, NULL, until()) < 0)
            break;
    }
    weft_sock_close(c);
    return NULL;
}

/* Counters shared by the server's task and the test's, which may run on two
 * workers at once. */
typedef struct server {
    weft_sock *l;
    char addr[WEFT_ADDR_MAX];
    atomic_int accepted;
    atomic_int emfile; /* accepts that said WEFT_EMFILE */
    atomic_int stop;
} server;

static void *accept_loop(void *arg)
{
    server *sv = arg;
    while (!sv->stop) {
        weft_sock *c;
        int r = weft_tcp_accept_until(sv->l, &c, until());
        if (r == WEFT_EMFILE || r == WEFT_ENFILE) {
            /* Out of descriptors: say so and keep serving (give the
             * connections a moment to end and free some). */
            sv->emfile++;
            weft_sleep(1000000);
            continue;
        }
        if (r < 0)
            break;
        sv->accepted++;
        weft_spawn(NULL, echo_conn, c);
    }
    return NULL;
}

static int server_start(server *sv, const char *addr, weft_task **t)
{
    memset(sv, 0, sizeof *sv);
    int r = weft_tcp_listen(&sv->l, addr, 4096);
    if (r < 0)
        return r;
    r = weft_sock_local_addr(sv->l, sv->addr, sizeof sv->addr);
    if (r < 0)
        return r;
    return weft_spawn(t, accept_loop, sv);
}

static void server_stop(server *sv, weft_task *t)
{
    sv->stop = 1;
    weft_cancel(t);
    weft_join(t, NULL);
    weft_sock_close(sv->l);
}

/* ---- a thousand connections, every byte checked ----------------------------------- */

typedef struct echo_client {
    const char *addr;
    unsigned id;
    size_t bytes;
    int failed;
} echo_client;

static uint8_t pattern(unsigned id, size_t i)
{
    return (uint8_t)(id * 131u + i * 7u + (i >> 8));
}

static void *client(void *arg)
{
    echo_client *c = arg;
    weft_sock *s;
    int r = weft_tcp_connect_until(&s, c->addr, until());
    if (r < 0) {
        c->failed = r;
        return NULL;
    }
    uint8_t out[8192], in[8192];
    size_t total = c->bytes, sent = 0, got = 0;
    while (got < total) {
        if (sent < total && sent - got < sizeof out / 2) {
            size_t n = total - sent < 3000 ? total - sent : 1000 + (sent + c->id) % 2000;
            for (size_t i = 0; i < n; i++)
                out[i] = pattern(c->id, sent + i);
            if ((r = weft_sock_write_all_until(s, out, n, NULL, until())) < 0)
                break;
            sent += n;
        }
        ssize_t k = weft_sock_read_until(s, in, sizeof in, until());
        if (k <= 0) {
            r = k == 0 ? WEFT_ECONNRESET : (int)k;
            break;
        }
        for (ssize_t i = 0; i < k; i++) {
            if (in[i] != pattern(c->id, got + (size_t)i)) {
                r = WEFT_EIO;
                break;
            }
        }
        got += (size_t)k;
    }
    c->failed = got == total ? 0 : r ? r : WEFT_EIO;
    weft_sock_close(s);
    return NULL;
}

static unsigned scaled(unsigned n)
{
    return under_valgrind() ? n / 20 + 1 : under_tsan() ? n / 4 + 1 : n;
}

static void raise_nofile(void)
{
    struct rlimit rl;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    rl.rlim_cur = rl.rlim_max;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
}

typedef struct many_arg {
    const char *listen;
    unsigned conns;
    size_t bytes;
} many_arg;

static void *many_echo(void *arg)
{
    many_arg *m = arg;
    server sv;
    weft_task *st;
    int r = server_start(&sv, m->listen, &st);
    REQUIRE(r == 0, "server: %s", weft_strerror(r));
    unsigned n = m->conns;
    echo_client *cs = calloc(n, sizeof *cs);
    weft_task **ts = calloc(n, sizeof *ts);
    REQUIRE(cs && ts, "calloc");
    for (unsigned i = 0; i < n; i++) {
        cs[i] = (echo_client){.addr = sv.addr, .id = i, .bytes = m->bytes + i % 97};
        REQUIRE(weft_spawn(&ts[i], client, &cs[i]) == 0, "spawn");
    }
    unsigned failed = 0;
    int first = 0;
    for (unsigned i = 0; i < n; i++) {
        weft_join(ts[i], NULL);
        if (cs[i].failed && !failed++)
            first = cs[i].failed;
    }
    server_stop(&sv, st);
    int accepted = sv.accepted;
    free(cs);
    free(ts);
    REQUIRE(failed == 0, "%u of %u connections failed, the first with %s", failed, n, weft_strerror(first));
    REQUIRE(accepted == (int)n, "accepted %d of %u", accepted, n);
    return NULL;
}

START_TEST(a_thousand_concurrent_echo_connections_every_byte_checked)
{
    raise_nofile();
    many_arg m = {"127.0.0.1:0", scaled(1000), 5000};
    each_reactor(many_echo, &m);
}
END_TEST

START_TEST(echo_over_ipv6_loopback)
{
    many_arg m = {"[::1]:0", scaled(50), 20000};
    each_reactor(many_echo, &m);
}
END_TEST

/* ---- every engine of the threaded backend ------------------------------------------------ */

/* Three engines, one of each policy, the first with a dedicated worker too.
 * A server on the first engine is reached by clients on every engine (and
 * on the dedicated worker, pinned to it); each engine also runs a server
 * and clients of its own. Every byte checked. */
static const char *const engine_names[] = {"steal", "percore", "global"};

static void *engine_echo(void *arg)
{
    many_arg m = {"127.0.0.1:0", scaled(40), 3000};
    (void)arg;
    return many_echo(&m);
}

static void *on_every_engine(void *arg)
{
    (void)arg;
    server sv;
    weft_task *st;
    int r = server_start(&sv, "127.0.0.1:0", &st);
    REQUIRE(r == 0, "server: %s", weft_strerror(r));
    enum { PER = 8, N = 3 * PER + PER };
    echo_client cs[N];
    weft_task *ts[N], *own[3];
    for (unsigned i = 0; i < N; i++) {
        weft_spawn_opts o = {.name = "client", .engine = engine_names[i / PER % 3]};
        if (i >= 3 * PER)
            o = (weft_spawn_opts){.name = "pinned client", .engine = "steal", .flags = WEFT_SPAWN_DEDICATED};
        cs[i] = (echo_client){.addr = sv.addr, .id = i, .bytes = 5000 + i};
        REQUIRE(weft_spawn_ex(&ts[i], client, &cs[i], &o) == 0, "spawn client %u", i);
    }
    for (unsigned e = 0; e < 3; e++) {
        weft_spawn_opts o = {.name = "engine echo", .engine = engine_names[e]};
        REQUIRE(weft_spawn_ex(&own[e], engine_echo, NULL, &o) == 0, "spawn on %s", engine_names[e]);
    }
    for (unsigned i = 0; i < N; i++) {
        weft_join(ts[i], NULL);
        REQUIRE(cs[i].failed == 0, "client %u failed: %s", i, weft_strerror(cs[i].failed));
    }
    for (unsigned e = 0; e < 3; e++) {
        void *res = (void *)1;
        weft_join(own[e], &res);
        REQUIRE(res == NULL, "%s engine's own echo failed", engine_names[e]);
    }
    server_stop(&sv, st);
    REQUIRE(sv.accepted == N, "accepted %d of %d", (int)sv.accepted, N);
    return NULL;
}

START_TEST(each_reactor_serves_every_engine_and_a_dedicated_worker)
{
    for (size_t i = 0; i < reactor_count(); i++) {
        weft_engine_config engines[] = {
            {.name = "steal", .workers = 2, .policy = WEFT_POLICY_STEAL, .dedicated = 1},
            {.name = "percore", .workers = 2, .policy = WEFT_POLICY_PER_CORE},
            {.name = "global", .workers = 2, .policy = WEFT_POLICY_GLOBAL},
        };
        weft_config c = real(reactors[i], 0);
        c.engines = engines;
        c.nengines = 3;
        void *res = (void *)1;
        int r = run_in(&c, on_every_engine, NULL, &res);
        ck_assert_msg(r == 0 && res == NULL, "%s: run returned %d (%s), body failed at line %ld", reactor_names[i], r,
                      weft_strerror(r), (long)(intptr_t)res);
    }
}
END_TEST

/* ---- partial reads and writes ------------------------------------------------------ */

typedef struct bulk {
    weft_sock *c;
    weft_event first_write_done;
} bulk;

static void *bulk_reader(void *arg)
{
    bulk *bk = arg;
    weft_sock *c = bk->c;
    /* Nothing is read until the first write is over, so it cannot all fit
     * (loopback buffers hold a few MiB); then small reads. */
    weft_event_wait(&bk->first_write_done);
    uint8_t buf[777];
    size_t got = 0;
    intptr_t bad = 0;
    for (;;) {
        ssize_t n = weft_sock_read_until(c, buf, sizeof buf, until());
        if (n <= 0) {
            bad = n < 0;
            if (n < 0)
                fprintf(stderr, "bulk_reader: %zd (%s) after %zu bytes\n", n, weft_strerror((int)n), got);
            break;
        }
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != pattern(9, got + (size_t)i))
                bad = 1;
        got += (size_t)n;
        if (got % 65536 < 777)
            weft_yield();
    }
    weft_sock_close(c);
    return bad ? NULL : (void *)(uintptr_t)(got + 1);
}

static void *partial(void *arg)
{
    (void)arg;
    weft_sock *l, *s, *c;
    char addr[WEFT_ADDR_MAX];
    const char *failed = connected_pair(&l, &s, &c, addr);
    REQUIRE(!failed, "%s failed", failed);
    weft_task *rt;
    bulk bk = {.c = c};
    weft_event_init(&bk.first_write_done, 0);
    REQUIRE(weft_spawn(&rt, bulk_reader, &bk) == 0, "spawn");
    size_t chunk = 32u << 20, total = 64u << 20, sent = 0, partial_writes = 0;
    uint8_t *big = malloc(chunk);
    REQUIRE(big, "malloc");
    while (sent < total) {
        size_t n = chunk;
        for (size_t i = 0; i < n; i++)
            big[i] = pattern(9, sent + i);
        size_t off = 0;
        while (off < n) {
            ssize_t k = weft_sock_write_until(s, big + off, n - off, until());
            REQUIRE(k > 0, "write: %zd (%s)", k, weft_strerror((int)k));
            if ((size_t)k < n - off)
                partial_writes++;
            off += (size_t)k;
            weft_event_set(&bk.first_write_done);
        }
        sent += n;
    }
    free(big);
    REQUIRE(weft_sock_shutdown(s, WEFT_SHUT_WR) == 0, "shutdown");
    void *got;
    weft_join(rt, &got);
    REQUIRE((uintptr_t)got == total + 1, "the reader got %zu bytes (or bad ones), %zu were sent",
            (size_t)((uintptr_t)got - 1), total);
    /* 32 MiB into a loopback socket nobody reads cannot go in one write. */
    REQUIRE(partial_writes > 0, "no write was partial");
    /* After shutdown(WR), writing is a broken pipe. */
    ssize_t k = weft_sock_write(s, "x", 1);
    REQUIRE(k == WEFT_EPIPE, "write after shutdown: %zd", k);
    weft_sock_close(s);
    weft_sock_close(l);
    return NULL;
}

START_TEST(partial_reads_and_writes_move_every_byte)
{
    each_reactor(partial, NULL);
}
END_TEST

/* ---- peer reset ------------------------------------------------------------------ */

static void *reset(void *arg)
{
    (void)arg;
    weft_sock *l, *s, *c;
    char addr[WEFT_ADDR_MAX];
    const char *failed = connected_pair(&l, &s, &c, addr);
    REQUIRE(!failed, "%s failed", failed);
    /* Mid-stream: data flows one way, then the client goes away with data
     * it never read: its kernel answers with a reset. */
    REQUIRE(weft_sock_write_all(c, "hello", 5, NULL) == 0, "write");
    char b[16];
    REQUIRE(weft_sock_read_until(s, b, 2, until()) == 2, "read");
    weft_sleep(20 * MS); /* the rest of "hello" arrives, unread */
    REQUIRE(weft_sock_close(s) == 0, "close");
    ssize_t n = 0;
    for (int i = 0; i < 1000 && n >= 0; i++) {
        n = weft_sock_write_until(c, "more", 4, until());
        if (n >= 0)
            weft_sleep(MS);
    }
    REQUIRE(n == WEFT_ECONNRESET || n == WEFT_EPIPE, "write to a reset peer: %zd (%s)", n, weft_strerror((int)n));
    weft_sock_close(c);
    /* A read of a reset connection says so too. */
    REQUIRE(weft_tcp_connect_until(&s, addr, until()) == 0, "connect");
    REQUIRE(weft_tcp_accept_until(l, &c, until()) == 0, "accept");
    REQUIRE(weft_sock_write_all(c, "hello", 5, NULL) == 0, "write");
    weft_sleep(20 * MS);
    weft_sock_close(s);
    n = weft_sock_read_until(c, b, sizeof b, until());
    REQUIRE(n == WEFT_ECONNRESET, "read of a reset connection: %zd (%s)", n, weft_strerror((int)n));
    weft_sock_close(c);
    weft_sock_close(l);
    /* Nobody listens: refused. */
    n = weft_tcp_connect_until(&s, addr, until());
    REQUIRE(n == WEFT_ECONNREFUSED, "connect to a closed port: %zd", n);
    return NULL;
}

START_TEST(peer_reset_mid_stream_and_refused_connections_have_their_codes)
{
    each_reactor(reset, NULL);
}
END_TEST

/* ---- EMFILE: the server reports it and keeps serving ---------------------------------- */

static void *emfile(void *arg)
{
    (void)arg;
    server sv;
    memset(&sv, 0, sizeof sv);
    REQUIRE(weft_tcp_listen(&sv.l, "127.0.0.1:0", 64) == 0, "listen");
    REQUIRE(weft_sock_local_addr(sv.l, sv.addr, sizeof sv.addr) > 0, "addr");
    enum { N = 12 };
    weft_sock *cs[N];
    /* The connections are made (the kernel's handshake needs no accept)
     * before the limit is lowered and before the server accepts. */
    for (int i = 0; i < N; i++)
        REQUIRE(weft_tcp_connect_until(&cs[i], sv.addr, until()) == 0, "connect %d", i);
    for (int i = 0; i < N; i++)
        REQUIRE(weft_sock_write_all(cs[i], "ping", 4, NULL) == 0, "write %d", i);
    struct rlimit old, rl;
    getrlimit(RLIMIT_NOFILE, &old);
    int next = dup(0);
    close(next);
    rl = old;
    rl.rlim_cur = (rlim_t)next + 2; /* room for two accepts */
    REQUIRE(setrlimit(RLIMIT_NOFILE, &rl) == 0, "setrlimit");
    weft_task *st;
    REQUIRE(weft_spawn(&st, accept_loop, &sv) == 0, "spawn");
    /* The first two are served under the limit; the accept of the third
     * says EMFILE and the server goes on. */
    char b[8];
    int served = 0;
    for (int i = 0; i < 2; i++)
        served += weft_sock_read_until(cs[i], b, 4, until()) == 4;
    for (int i = 0; i < 100 && sv.emfile == 0; i++)
        weft_sleep(MS);
    int emfiles = sv.emfile, accepted_under_limit = sv.accepted;
    setrlimit(RLIMIT_NOFILE, &old);
    /* With the limit back, the rest is accepted and served. */
    for (int i = 2; i < N; i++)
        served += weft_sock_read_until(cs[i], b, 4, until()) == 4;
    for (int i = 0; i < N; i++)
        weft_sock_close(cs[i]);
    server_stop(&sv, st);
    REQUIRE(emfiles > 0, "accept never said EMFILE (accepted %d under the limit)", accepted_under_limit);
    REQUIRE(accepted_under_limit == 2, "accepted %d under a limit with room for 2", accepted_under_limit);
    REQUIRE(sv.accepted == N, "accepted %d of %d once descriptors were back", sv.accepted, N);
    REQUIRE(served == N, "served %d of %d", served, N);
    return NULL;
}

START_TEST(accept_reports_emfile_and_the_server_keeps_serving)
{
    if (under_valgrind())
        return; /* valgrind keeps descriptors of its own below the limit */
    each_reactor(emfile, NULL);
}
END_TEST

/* ---- a read that ends early never touches the buffer again ---------------------------- */

typedef struct reader_arg {
    weft_sock *s;
    uint8_t *buf;
    ssize_t got;
} reader_arg;

static void *blocked_reader(void *arg)
{
    reader_arg *ra = arg;
    ra->got = weft_sock_read_until(ra->s, ra->buf, 64, until());
    return NULL;
}

static void *cancelled_read(void *arg)
{
    (void)arg;
    weft_sock *l, *s, *c;
    char addr[WEFT_ADDR_MAX];
    const char *failed = connected_pair(&l, &s, &c, addr);
    REQUIRE(!failed, "%s failed", failed);
    uint8_t buf[64];
    for (int round = 0; round < 20; round++) {
        /* Cancelled while waiting. */
        memset(buf, 0xAA, sizeof buf);
        reader_arg ra = {s, buf, 0};
        weft_task *t;
        REQUIRE(weft_spawn(&t, blocked_reader, &ra) == 0, "spawn");
        weft_sleep((uint64_t)(round % 3) * 100000);
        weft_cancel(t);
        weft_join(t, NULL);
        REQUIRE(ra.got == WEFT_ECANCELED, "cancelled read returned %zd", ra.got);
        /* Timed out. */
        ssize_t n = weft_sock_read_until(s, buf, sizeof buf, weft_now() + 100000);
        REQUIRE(n == WEFT_ETIMEDOUT, "timed-out read returned %zd", n);
        /* Data comes now: it must not land in the buffer of the calls that
         * ended, and none of it is lost. */
        uint8_t msg[10];
        for (int i = 0; i < 10; i++)
            msg[i] = (uint8_t)(round * 10 + i);
        REQUIRE(weft_sock_write_all(c, msg, sizeof msg, NULL) == 0, "write");
        weft_sleep(2 * MS);
        for (size_t i = 0; i < sizeof buf; i++)
            REQUIRE(buf[i] == 0xAA, "byte %zu of a finished read's buffer changed to %u", i, buf[i]);
        size_t got = 0;
        uint8_t in[10];
        while (got < sizeof in) {
            n = weft_sock_read_until(s, in + got, sizeof in - got, until());
            REQUIRE(n > 0, "read: %zd", n);
            got += (size_t)n;
        }
        REQUIRE(memcmp(in, msg, sizeof msg) == 0, "data lost or changed in round %d", round);
    }
    weft_sock_close(s);
    weft_sock_close(c);
    weft_sock_close(l);
    return NULL;
}

START_TEST(a_cancelled_or_timed_out_read_never_writes_the_buffer_and_loses_nothing)
{
    each_reactor(cancelled_read, NULL);
}
END_TEST

/* ---- reads that end just as their data arrives -------------------------------------- */

/* A writer on the other worker (the same one with one worker) sends a
 * numbered stream in small pieces at uneven moments, while the reader's
 * calls keep ending early: deadlines of 0-60 us, and reads in a task
 * cancelled 0-40 us after it starts. On io_uring the cancel then races the
 * kernel's completion: a read the kernel finished anyway must return its
 * bytes (not lose them), and one it cancelled must leave its buffer as it
 * was. Every byte arrives once, in order, on every reactor. */
enum { RACE_BYTES = 6000, RACE_MOD = 251, RACE_UNTOUCHED = 0xFF };

static void *race_writer(void *arg)
{
    weft_sock *c = arg;
    uint32_t x = 12345;
    uint8_t piece[16];
    for (size_t sent = 0; sent < RACE_BYTES;) {
        x = x * 1103515245u + 12345u;
        size_t len = 1 + (x >> 16) % 13;
        if (len > RACE_BYTES - sent)
            len = RACE_BYTES - sent;
        for (size_t i = 0; i < len; i++)
            piece[i] = (uint8_t)((sent + i) % RACE_MOD);
        if (weft_sock_write_all(c, piece, len, NULL) != 0)
            return (void *)(intptr_t)__LINE__;
        sent += len;
        if ((x >> 8) & 1)
            weft_yield();
        else
            weft_sleep((x >> 20) % 30 * 1000);
    }
    return NULL;
}

typedef struct race_state {
    size_t got;
    unsigned timed_out, cancelled, late;
} race_state;

/* Check what one read gave: bytes in sequence, or an untouched buffer. */
static const char *race_check(race_state *rs, const uint8_t *buf, size_t cap, ssize_t n)
{
    if (n > 0) {
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != (rs->got + (size_t)i) % RACE_MOD)
                return "a byte lost, doubled or out of order";
        rs->got += (size_t)n;
        return NULL;
    }
    if (n != WEFT_ETIMEDOUT && n != WEFT_ECANCELED)
        return "an unexpected result";
    for (size_t i = 0; i < cap; i++)
        if (buf[i] != RACE_UNTOUCHED)
            return "a read that ended with nothing wrote its buffer";
    return NULL;
}

static void *read_racing_data(void *arg)
{
    (void)arg;
    weft_sock *l, *s, *c;
    char addr[WEFT_ADDR_MAX];
    const char *failed = connected_pair(&l, &s, &c, addr);
    REQUIRE(!failed, "%s failed", failed);
    weft_rt_stats st;
    REQUIRE(weft_rt_stats_get(weft_rt_current(), &st) == 0, "stats");
    weft_spawn_opts o = {.flags = WEFT_SPAWN_PINNED, .worker = (unsigned)st.workers - 1};
    weft_task *w;
    REQUIRE(weft_spawn_ex(&w, race_writer, c, &o) == 0, "spawn writer");
    race_state rs = {0, 0, 0, 0};
    uint8_t buf[64];
    for (unsigned i = 0; rs.got < RACE_BYTES && i < 1000000; i++) {
        memset(buf, RACE_UNTOUCHED, sizeof buf);
        ssize_t n;
        if (i % 2) {
            uint64_t deadline = weft_now() + (uint64_t)(i % 7) * 10000;
            n = weft_sock_read_until(s, buf, sizeof buf, deadline);
            rs.timed_out += n == WEFT_ETIMEDOUT;
            rs.late += n > 0 && weft_now() > deadline;
        } else {
            reader_arg ra = {s, buf, 0};
            weft_task *t;
            REQUIRE(weft_spawn(&t, blocked_reader, &ra) == 0, "spawn reader");
            weft_sleep((uint64_t)(i % 5) * 10000);
            weft_cancel(t);
            weft_join(t, NULL);
            n = ra.got;
            rs.cancelled += n == WEFT_ECANCELED;
        }
        const char *bad = race_check(&rs, buf, sizeof buf, n);
        REQUIRE(!bad, "read %u returned %zd after %zu bytes: %s", i, n, rs.got, bad);
    }
    void *wr;
    REQUIRE(weft_join(w, &wr) == 0 && wr == NULL, "writer failed");
    REQUIRE(rs.got == RACE_BYTES, "%zu of %d bytes arrived", rs.got, RACE_BYTES);
    /* Nothing more is queued: the stream ends where the writer stopped. */
    weft_sock_close(c);
    ssize_t n = weft_sock_read_until(s, buf, sizeof buf, until());
    REQUIRE(n == 0, "after the last byte: %zd", n);
    printf("reads racing data on %s, %u worker(s): %u timed out, %u cancelled, %u finished past their deadline\n",
           weft_rt_reactor(weft_rt_current()), (unsigned)st.workers, rs.timed_out, rs.cancelled, rs.late);
    weft_sock_close(s);
    weft_sock_close(l);
    return NULL;
}

START_TEST(a_read_ended_as_its_data_arrives_returns_the_bytes_or_leaves_them_queued)
{
    each_reactor(read_racing_data, NULL);
}
END_TEST

/* ---- close while another task waits ------------------------------------------------- */

static void *close_wakes(void *arg)
{
    (void)arg;
    weft_sock *l, *s, *c;
    char addr[WEFT_ADDR_MAX];
    const char *failed = connected_pair(&l, &s, &c, addr);
    REQUIRE(!failed, "%s failed", failed);
    uint8_t buf[8];
    reader_arg ra = {s, buf, 0};
    weft_task *t;
    REQUIRE(weft_spawn(&t, blocked_reader, &ra) == 0, "spawn");
    weft_sleep(MS);
    REQUIRE(weft_sock_close(s) == 0, "close");
    weft_join(t, NULL);
    REQUIRE(ra.got == WEFT_EBADF, "a read waiting on a closed socket returned %zd", ra.got);
    /* The peer sees the end of the stream. */
    ssize_t n = weft_sock_read_until(c, buf, sizeof buf, until());
    REQUIRE(n == 0, "peer read after close: %zd", n);
    weft_sock_close(c);
    weft_sock_close(l);
    return NULL;
}

START_TEST(closing_a_socket_ends_the_waits_on_it)
{
    each_reactor(close_wakes, NULL);
}
END_TEST

/* ---- UDP ------------------------------------------------------------------------- */

static void *udp(void *arg)
{
    const char *host = arg;
    weft_sock *a, *b;
    char aaddr[WEFT_ADDR_MAX], baddr[WEFT_ADDR_MAX], from[WEFT_ADDR_MAX];
    REQUIRE(weft_udp_bind(&a, host) == 0, "bind a");
    REQUIRE(weft_udp_bind(&b, host) == 0, "bind b");
    REQUIRE(weft_sock_local_addr(a, aaddr, sizeof aaddr) > 0, "addr a");
    REQUIRE(weft_sock_local_addr(b, baddr, sizeof baddr) > 0, "addr b");
    for (int i = 0; i < 100; i++) {
        char msg[32], in[64];
        int len = snprintf(msg, sizeof msg, "datagram %d", i);
        REQUIRE(weft_udp_send_to(a, msg, (size_t)len, baddr) == len, "send");
        ssize_t n = weft_udp_recv_from_until(b, in, sizeof in, from, sizeof from, until());
        REQUIRE(n == len && memcmp(in, msg, (size_t)len) == 0, "recv %zd", n);
        REQUIRE(strcmp(from, aaddr) == 0, "from %s, sent from %s", from, aaddr);
    }
    /* A datagram longer than the buffer: the rest is dropped. */
    char big[100] = {0}, small[10];
    REQUIRE(weft_udp_send_to(a, big, sizeof big, baddr) == (ssize_t)sizeof big, "send big");
    REQUIRE(weft_udp_recv_from_until(b, small, sizeof small, NULL, 0, until()) == (ssize_t)sizeof small, "recv");
    weft_sock_close(a);
    weft_sock_close(b);
    return NULL;
}

START_TEST(datagrams_go_both_ways_with_their_sender)
{
    each_reactor(udp, "127.0.0.1:0");
    each_reactor(udp, "[::1]:0");
}
END_TEST

/* A from buffer shorter than WEFT_ADDR_MAX is refused before anything is
 * received: the datagram stays queued, and the next good call takes it. */
static void *udp_small_from(void *arg)
{
    (void)arg;
    weft_sock *a, *b;
    char aaddr[WEFT_ADDR_MAX], baddr[WEFT_ADDR_MAX], from[WEFT_ADDR_MAX], tiny[8], in[16];
    REQUIRE(weft_udp_bind(&a, "127.0.0.1:0") == 0, "bind a");
    REQUIRE(weft_udp_bind(&b, "127.0.0.1:0") == 0, "bind b");
    REQUIRE(weft_sock_local_addr(a, aaddr, sizeof aaddr) > 0, "addr a");
    REQUIRE(weft_sock_local_addr(b, baddr, sizeof baddr) > 0, "addr b");
    REQUIRE(weft_udp_send_to(a, "first", 5, baddr) == 5, "send first");
    REQUIRE(weft_udp_send_to(a, "second", 6, baddr) == 6, "send second");
    ssize_t n = weft_udp_recv_from_until(b, in, sizeof in, tiny, sizeof tiny, until());
    REQUIRE(n == WEFT_EINVAL, "recv into an 8-byte from: %zd (%s)", n, weft_strerror((int)n));
    n = weft_udp_recv_from_until(b, in, sizeof in, from, 0, until());
    REQUIRE(n == WEFT_EINVAL, "recv into a 0-byte from: %zd (%s)", n, weft_strerror((int)n));
    /* Long enough for this sender, not for every one: refused all the same. */
    n = weft_udp_recv_from_until(b, in, sizeof in, from, WEFT_ADDR_MAX - 1, until());
    REQUIRE(n == WEFT_EINVAL, "recv into a %d-byte from: %zd (%s)", WEFT_ADDR_MAX - 1, n, weft_strerror((int)n));
    n = weft_udp_recv_from_until(b, in, sizeof in, from, sizeof from, until());
    REQUIRE(n == 5 && memcmp(in, "first", 5) == 0, "the first datagram: %zd \"%.*s\"", n, n > 0 ? (int)n : 0, in);
    REQUIRE(strcmp(from, aaddr) == 0, "from %s, sent from %s", from, aaddr);
    n = weft_udp_recv_from_until(b, in, sizeof in, NULL, 0, until());
    REQUIRE(n == 6 && memcmp(in, "second", 6) == 0, "the second datagram: %zd \"%.*s\"", n, n > 0 ? (int)n : 0, in);
    weft_sock_close(a);
    weft_sock_close(b);
    return NULL;
}

START_TEST(a_too_small_from_buffer_is_refused_and_the_datagram_stays_queued)
{
    each_reactor(udp_small_from, NULL);
}
END_TEST

/* ---- deadlines and cancellation of the blocking socket calls ----------------------- */

/* One blocking socket call, run in a task of its own named "blocked", so that
 * the test can cancel it while it waits, or guard its deadline. */
typedef enum { CALL_ACCEPT, CALL_CONNECT, CALL_WRITE, CALL_WRITE_ALL, CALL_RECV } call_kind;

typedef struct call {
    call_kind kind;
    weft_sock *s;     /* the listener (accept) or the socket */
    const char *addr; /* connect */
    const void *buf;  /* write, recv */
    size_t len;
    uint64_t deadline;
    weft_sock *out;    /* accept, connect */
    size_t written;    /* write_all */
    char from[WEFT_ADDR_MAX];
    ssize_t r;
    atomic_int done;
} call;

static void *call_run(void *arg)
{
    call *c = arg;
    switch (c->kind) {
    case CALL_ACCEPT: c->r = weft_tcp_accept_until(c->s, &c->out, c->deadline); break;
    case CALL_CONNECT: c->r = weft_tcp_connect_until(&c->out, c->addr, c->deadline); break;
    case CALL_WRITE: c->r = weft_sock_write_until(c->s, c->buf, c->len, c->deadline); break;
    case CALL_WRITE_ALL: c->r = weft_sock_write_all_until(c->s, c->buf, c->len, &c->written, c->deadline); break;
    case CALL_RECV:
        c->r = weft_udp_recv_from_until(c->s, (void *)(uintptr_t)c->buf, c->len, c->from, sizeof c->from, c->deadline);
        break;
    }
    c->done = 1;
    return NULL;
}

/* The times the "blocked" task parked on IO (a hook counts them; static, as
 * a body that fails returns before it could remove the hook). */
static atomic_int io_parks;

static void count_io_parks(void *ctx, const weft_hook_info *info)
{
    (void)ctx;
    if (info->event == WEFT_HOOK_PARK && info->task_name && strcmp(info->task_name, "blocked") == 0 &&
        info->reason && strcmp(info->reason, "io") == 0)
        io_parks++;
}

static int count_io_parks_add(int *hook)
{
    return weft_hook_add(weft_rt_current(), WEFT_HOOK_MASK(WEFT_HOOK_PARK), count_io_parks, NULL, hook);
}

static int call_start(call *c, weft_task **t, uint64_t deadline)
{
    weft_spawn_opts o = {.name = "blocked"};
    c->deadline = deadline;
    c->out = NULL;
    c->written = 0;
    c->r = 1;
    c->done = 0;
    return weft_spawn_ex(t, call_run, c, &o);
}

/* Until the call waits in the reactor (or ended without waiting). */
static void call_parked(call *c, int parks_before)
{
    uint64_t give_up = until();
    while (io_parks == parks_before && !c->done && weft_now() < give_up)
        weft_sleep(100000);
}

static void *cancel_at_limit(void *arg)
{
    if (weft_sleep(LIMIT) == 0)
        weft_cancel(arg);
    return NULL;
}

/* c's call with this deadline. A guard cancels it at LIMIT: a deadline that is
 * not honoured fails the test (WEFT_ECANCELED where WEFT_ETIMEDOUT was due)
 * instead of hanging it. */
static ssize_t call_timed(call *c, uint64_t deadline)
{
    weft_task *t, *g;
    if (call_start(c, &t, deadline) != 0)
        return WEFT_ENOMEM;
    if (weft_spawn(&g, cancel_at_limit, t) != 0) {
        weft_cancel(t);
        weft_join(t, NULL);
        return WEFT_ENOMEM;
    }
    weft_join(t, NULL);
    weft_cancel(g);
    weft_join(g, NULL);
    return c->r;
}

/* c's call, cancelled once it waits in the reactor: a cancel that came
 * before would be seen on the call's entry, and the reactor's part would go
 * untested. Its own deadline is LIMIT away: a cancel that is not honoured
 * fails the test with WEFT_ETIMEDOUT. */
static ssize_t call_cancelled(call *c)
{
    weft_task *t;
    int before = io_parks;
    if (call_start(c, &t, until()) != 0)
        return WEFT_ENOMEM;
    call_parked(c, before);
    weft_cancel(t);
    weft_join(t, NULL);
    return c->r;
}

/* An accept with no client times out (its deadline passed before the call,
 * or while it waits) or is cancelled, and takes nothing with it: a
 * connection made afterwards is accepted, both when it waits in the queue
 * and when an accept waits for it. */
static void *accept_deadline(void *arg)
{
    (void)arg;
    int hook;
    REQUIRE(count_io_parks_add(&hook) == 0, "hook_add");
    weft_sock *l, *s, *s2, *c;
    char addr[WEFT_ADDR_MAX], b[2];
    REQUIRE(weft_tcp_listen(&l, "127.0.0.1:0", 4) == 0, "listen");
    REQUIRE(weft_sock_local_addr(l, addr, sizeof addr) > 0, "addr");
    call ac = {.kind = CALL_ACCEPT, .s = l};
    for (int round = 0; round < 3; round++) {
        ssize_t r = call_timed(&ac, weft_now() + (uint64_t)round * MS);
        REQUIRE(r == WEFT_ETIMEDOUT && ac.out == NULL, "round %d: an accept with no client and a deadline: %zd (%s)",
                round, r, weft_strerror((int)r));
        r = call_cancelled(&ac);
        REQUIRE(r == WEFT_ECANCELED && ac.out == NULL, "round %d: a cancelled accept: %zd (%s)", round, r,
                weft_strerror((int)r));
    }
    REQUIRE(weft_tcp_connect_until(&s, addr, until()) == 0, "connect");
    REQUIRE(weft_tcp_accept_until(l, &c, until()) == 0, "accept of a queued connection after the ended accepts");
    REQUIRE(weft_sock_write_all(s, "a", 1, NULL) == 0 && weft_sock_read_until(c, b, 1, until()) == 1 && b[0] == 'a',
            "the accepted connection carries a byte");
    weft_sock_close(c);
    weft_task *t;
    int before = io_parks;
    REQUIRE(call_start(&ac, &t, until()) == 0, "spawn");
    call_parked(&ac, before);
    REQUIRE(weft_tcp_connect_until(&s2, addr, until()) == 0, "connect");
    weft_join(t, NULL);
    REQUIRE(ac.r == 0 && ac.out, "an accept waiting for a connection: %zd (%s)", ac.r, weft_strerror((int)ac.r));
    REQUIRE(weft_sock_write_all(s2, "b", 1, NULL) == 0 && weft_sock_read_until(ac.out, b, 1, until()) == 1 &&
                b[0] == 'b',
            "the connection accepted while waiting carries a byte");
    weft_sock_close(ac.out);
    weft_sock_close(s2);
    weft_sock_close(s);
    weft_sock_close(l);
    weft_hook_remove(weft_rt_current(), hook);
    return NULL;
}

START_TEST(an_accept_times_out_or_is_cancelled_and_the_listener_still_accepts)
{
    each_reactor(accept_deadline, NULL);
}
END_TEST

/* A connect that cannot complete. The accept queue of a listener with a
 * backlog of 1 holds 2 connections (Linux counts it full when more than the
 * backlog wait); nobody accepts them, so the kernel drops the SYN of every
 * later connect, which waits (its SYN is sent again after 1 s, 3 s, ..., for
 * about 2 minutes with the default net.ipv4.tcp_syn_retries) - until its
 * deadline or its cancellation. Once the queue is emptied, connects go
 * through again. */
static void *connect_deadline(void *arg)
{
    (void)arg;
    int hook;
    REQUIRE(count_io_parks_add(&hook) == 0, "hook_add");
    weft_sock *l, *queued[2], *s, *c;
    char addr[WEFT_ADDR_MAX], b[2];
    REQUIRE(weft_tcp_listen(&l, "127.0.0.1:0", 1) == 0, "listen");
    REQUIRE(weft_sock_local_addr(l, addr, sizeof addr) > 0, "addr");
    for (int i = 0; i < 2; i++)
        REQUIRE(weft_tcp_connect_until(&queued[i], addr, until()) == 0, "connect %d (into the accept queue)", i);
    call cn = {.kind = CALL_CONNECT, .addr = addr};
    for (int round = 0; round < 3; round++) {
        ssize_t r = call_timed(&cn, weft_now() + (uint64_t)round * MS);
        REQUIRE(r == WEFT_ETIMEDOUT && cn.out == NULL,
                "round %d: a connect that cannot complete, with a deadline: %zd (%s)", round, r, weft_strerror((int)r));
        r = call_cancelled(&cn);
        REQUIRE(r == WEFT_ECANCELED && cn.out == NULL, "round %d: a cancelled connect: %zd (%s)", round, r,
                weft_strerror((int)r));
    }
    for (int i = 0; i < 2; i++) {
        REQUIRE(weft_tcp_accept_until(l, &c, until()) == 0, "accept %d", i);
        weft_sock_close(c);
        weft_sock_close(queued[i]);
    }
    REQUIRE(weft_tcp_connect_until(&s, addr, until()) == 0, "connect once the queue has room");
    REQUIRE(weft_tcp_accept_until(l, &c, until()) == 0, "accept");
    REQUIRE(weft_sock_write_all(s, "c", 1, NULL) == 0 && weft_sock_read_until(c, b, 1, until()) == 1 && b[0] == 'c',
            "the connection carries a byte");
    weft_sock_close(c);
    weft_sock_close(s);
    weft_sock_close(l);
    weft_hook_remove(weft_rt_current(), hook);
    return NULL;
}

START_TEST(a_connect_that_cannot_complete_times_out_or_is_cancelled)
{
    each_reactor(connect_deadline, NULL);
}
END_TEST

/* A peer that does not read: the writer fills the connection and its writes
 * time out or are cancelled. Byte i of the stream is i % WRITE_MOD, so the
 * peer's reads at the end show whether every count the writes reported is
 * what went out: a byte sent but not counted (or counted but not sent) moves
 * every later one. */
enum { WRITE_MOD = 251, WRITE_PIECE = 65536 };

static void *write_deadline(void *arg)
{
    (void)arg;
    int hook;
    REQUIRE(count_io_parks_add(&hook) == 0, "hook_add");
    weft_sock *l, *s, *c;
    char addr[WEFT_ADDR_MAX];
    const char *failed = connected_pair(&l, &s, &c, addr);
    REQUIRE(!failed, "%s failed", failed);
    /* More than loopback's buffers hold (a few MiB each way). */
    size_t big = 32u << 20, sent = 0;
    uint8_t *pat = malloc(big + WRITE_MOD);
    REQUIRE(pat, "malloc");
    for (size_t i = 0; i < big + WRITE_MOD; i++)
        pat[i] = (uint8_t)(i % WRITE_MOD);
    /* write_all: what went out before the deadline is in written (io.h). */
    call cw = {.kind = CALL_WRITE_ALL, .s = s, .buf = pat, .len = big};
    ssize_t r = call_timed(&cw, weft_now() + 2 * MS);
    REQUIRE(r == WEFT_ETIMEDOUT && cw.written > 0 && cw.written < big,
            "write_all into a peer that does not read: %zd (%s), %zu of %zu bytes written", r, weft_strerror((int)r),
            cw.written, big);
    sent += cw.written;
    /* Single writes into the full connection. One may find room after all
     * (the receiver can compact its queue and open its window a little): it
     * counts what it wrote, and the next one tries again. */
    cw.kind = CALL_WRITE;
    cw.len = WRITE_PIECE;
    for (int round = 0; round < 3; round++) {
        int tries = 0;
        do {
            cw.buf = pat + sent % WRITE_MOD;
            r = call_timed(&cw, weft_now() + (uint64_t)round * MS);
            sent += r > 0 ? (size_t)r : 0;
        } while (r > 0 && ++tries < 100);
        REQUIRE(r == WEFT_ETIMEDOUT, "round %d: a write into a full connection, with a deadline: %zd (%s)", round, r,
                weft_strerror((int)r));
        tries = 0;
        do {
            cw.buf = pat + sent % WRITE_MOD;
            r = call_cancelled(&cw);
            sent += r > 0 ? (size_t)r : 0;
        } while (r > 0 && ++tries < 100);
        REQUIRE(r == WEFT_ECANCELED, "round %d: a cancelled write into a full connection: %zd (%s)", round, r,
                weft_strerror((int)r));
    }
    free(pat);
    REQUIRE(weft_sock_shutdown(s, WEFT_SHUT_WR) == 0, "shutdown");
    uint8_t in[8192];
    size_t got = 0;
    for (;;) {
        ssize_t n = weft_sock_read_until(c, in, sizeof in, until());
        REQUIRE(n >= 0, "read after %zu bytes: %zd (%s)", got, n, weft_strerror((int)n));
        if (n == 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            REQUIRE(in[i] == (got + (size_t)i) % WRITE_MOD, "byte %zu of the stream is wrong: a write's count was not "
                    "what it wrote", got + (size_t)i);
        got += (size_t)n;
    }
    REQUIRE(got == sent, "the peer read %zu bytes, the writes reported %zu", got, sent);
    weft_sock_close(s);
    weft_sock_close(c);
    weft_sock_close(l);
    weft_hook_remove(weft_rt_current(), hook);
    return NULL;
}

START_TEST(a_write_to_a_peer_that_does_not_read_times_out_or_is_cancelled_and_counts_every_byte)
{
    each_reactor(write_deadline, NULL);
}
END_TEST

/* Writes that end just as the peer makes room: the peer (pinned to the last
 * worker) drains in small reads at uneven moments while the writer's calls
 * keep ending early, deadlines of 0-60 us and cancels 0-40 us after a write
 * starts. On io_uring the cancel then races the kernel's completion: a send
 * the kernel finished anyway must return its count, or the bytes it put on
 * the wire would be sent again by the next write. The peer checks that the
 * stream is exactly what the counts say, byte for byte. */
typedef struct drain {
    weft_sock *c;
    size_t got;
    int bad;
} drain;

static void *drainer(void *arg)
{
    drain *d = arg;
    uint8_t in[4096];
    uint32_t x = 777;
    for (;;) {
        x = x * 1103515245u + 12345u;
        ssize_t n = weft_sock_read_until(d->c, in, 1 + (x >> 16) % sizeof in, until());
        if (n <= 0) {
            d->bad |= n < 0;
            break;
        }
        for (ssize_t i = 0; i < n; i++)
            if (in[i] != (d->got + (size_t)i) % WRITE_MOD)
                d->bad = 1;
        d->got += (size_t)n;
        if ((x >> 8) & 1)
            weft_yield();
        else
            weft_sleep((x >> 20) % 30 * 1000);
    }
    return NULL;
}

static void *write_racing_room(void *arg)
{
    (void)arg;
    weft_sock *l, *s, *c;
    char addr[WEFT_ADDR_MAX];
    const char *failed = connected_pair(&l, &s, &c, addr);
    REQUIRE(!failed, "%s failed", failed);
    size_t total = scaled(64) << 20, sent = 0;
    uint8_t *pat = malloc(WRITE_PIECE + WRITE_MOD);
    REQUIRE(pat, "malloc");
    for (size_t i = 0; i < WRITE_PIECE + WRITE_MOD; i++)
        pat[i] = (uint8_t)(i % WRITE_MOD);
    weft_rt_stats st;
    REQUIRE(weft_rt_stats_get(weft_rt_current(), &st) == 0, "stats");
    weft_spawn_opts o = {.flags = WEFT_SPAWN_PINNED, .worker = (unsigned)st.workers - 1};
    drain d = {c, 0, 0};
    weft_task *dt;
    REQUIRE(weft_spawn_ex(&dt, drainer, &d, &o) == 0, "spawn drainer");
    unsigned timed_out = 0, cancelled = 0;
    call cw = {.kind = CALL_WRITE, .s = s, .len = WRITE_PIECE};
    for (unsigned i = 0; sent < total && i < 10000000; i++) {
        cw.buf = pat + sent % WRITE_MOD;
        ssize_t n;
        if (i % 2) {
            n = weft_sock_write_until(s, cw.buf, cw.len, weft_now() + (uint64_t)(i % 7) * 10000);
            timed_out += n == WEFT_ETIMEDOUT;
        } else {
            weft_task *t;
            REQUIRE(call_start(&cw, &t, until()) == 0, "spawn writer");
            weft_sleep((uint64_t)(i % 5) * 10000);
            weft_cancel(t);
            weft_join(t, NULL);
            n = cw.r;
            cancelled += n == WEFT_ECANCELED;
        }
        REQUIRE(n > 0 || n == WEFT_ETIMEDOUT || n == WEFT_ECANCELED, "write %u after %zu bytes: %zd (%s)", i, sent, n,
                weft_strerror((int)n));
        sent += n > 0 ? (size_t)n : 0;
    }
    free(pat);
    REQUIRE(weft_sock_shutdown(s, WEFT_SHUT_WR) == 0, "shutdown");
    REQUIRE(weft_join(dt, NULL) == 0, "join drainer");
    REQUIRE(!d.bad, "the peer read a wrong byte (or failed) at about %zu: a write's count was not what it wrote",
            d.got);
    REQUIRE(d.got == sent, "the peer read %zu bytes, the writes reported %zu", d.got, sent);
    printf("writes racing room on %s, %u worker(s): %u timed out, %u cancelled\n", weft_rt_reactor(weft_rt_current()),
           (unsigned)st.workers, timed_out, cancelled);
    weft_sock_close(s);
    weft_sock_close(c);
    weft_sock_close(l);
    return NULL;
}

START_TEST(a_write_ended_as_the_peer_makes_room_counts_exactly_what_it_wrote)
{
    each_reactor(write_racing_room, NULL);
}
END_TEST

/* A receive with nothing to receive times out or is cancelled, writes
 * nothing, and leaves no receive behind: the next datagram goes to the next
 * call. */
static void *recv_deadline(void *arg)
{
    (void)arg;
    int hook;
    REQUIRE(count_io_parks_add(&hook) == 0, "hook_add");
    weft_sock *a, *b;
    char aaddr[WEFT_ADDR_MAX], baddr[WEFT_ADDR_MAX], from[WEFT_ADDR_MAX];
    uint8_t buf[64], in[64];
    REQUIRE(weft_udp_bind(&a, "127.0.0.1:0") == 0, "bind a");
    REQUIRE(weft_udp_bind(&b, "127.0.0.1:0") == 0, "bind b");
    REQUIRE(weft_sock_local_addr(a, aaddr, sizeof aaddr) > 0, "addr a");
    REQUIRE(weft_sock_local_addr(b, baddr, sizeof baddr) > 0, "addr b");
    memset(buf, 0xAA, sizeof buf);
    call cr = {.kind = CALL_RECV, .s = b, .buf = buf, .len = sizeof buf};
    for (int round = 0; round < 3; round++) {
        ssize_t r = call_timed(&cr, weft_now() + (uint64_t)round * MS);
        REQUIRE(r == WEFT_ETIMEDOUT && cr.from[0] == 0, "round %d: a receive with nothing to receive: %zd (%s)", round,
                r, weft_strerror((int)r));
        r = call_cancelled(&cr);
        REQUIRE(r == WEFT_ECANCELED && cr.from[0] == 0, "round %d: a cancelled receive: %zd (%s)", round, r,
                weft_strerror((int)r));
    }
    REQUIRE(weft_udp_send_to_until(a, "after", 5, baddr, until()) == 5, "send");
    ssize_t n = weft_udp_recv_from_until(b, in, sizeof in, from, sizeof from, until());
    REQUIRE(n == 5 && memcmp(in, "after", 5) == 0 && strcmp(from, aaddr) == 0, "the datagram after: %zd from %s", n,
            from);
    for (size_t i = 0; i < sizeof buf; i++)
        REQUIRE(buf[i] == 0xAA, "byte %zu of an ended receive's buffer changed to %u", i, buf[i]);
    weft_sock_close(a);
    weft_sock_close(b);
    weft_hook_remove(weft_rt_current(), hook);
    return NULL;
}

START_TEST(a_datagram_receive_times_out_or_is_cancelled_and_leaves_the_next_datagram_queued)
{
    each_reactor(recv_deadline, NULL);
}
END_TEST

typedef struct sender {
    weft_sock *s;
    const char *to;
} sender;

static void *cancelled_sender(void *arg)
{
    sender *sd = arg;
    weft_sleep(LIMIT); /* cancelled here (or before it starts) */
    return (void *)(intptr_t)weft_udp_send_to_until(sd->s, "cancelled", 9, sd->to, until());
}

/* A datagram send never waits long on loopback (the kernel takes it at once
 * or drops it), so its deadline and cancellation matter before it starts. A
 * send with a deadline goes like one without. Past its deadline, io.h says
 * only that the call ends there: the datagram goes, as a read past its
 * deadline that finds data returns it, or the call returns WEFT_ETIMEDOUT
 * and nothing went; whichever, the result is the truth. A cancelled task's
 * send returns WEFT_ECANCELED and sends nothing. The datagram after them is
 * the next one received. */
static void *send_deadline(void *arg)
{
    const char *host = arg;
    weft_sock *a, *b;
    char aaddr[WEFT_ADDR_MAX], baddr[WEFT_ADDR_MAX], from[WEFT_ADDR_MAX], in[64];
    REQUIRE(weft_udp_bind(&a, host) == 0, "bind a");
    REQUIRE(weft_udp_bind(&b, host) == 0, "bind b");
    REQUIRE(weft_sock_local_addr(a, aaddr, sizeof aaddr) > 0, "addr a");
    REQUIRE(weft_sock_local_addr(b, baddr, sizeof baddr) > 0, "addr b");
    for (int i = 0; i < 10; i++) {
        char msg[32];
        int len = snprintf(msg, sizeof msg, "datagram %d", i);
        ssize_t r = weft_udp_send_to_until(a, msg, (size_t)len, baddr, weft_now() + (uint64_t)(i % 3) * MS + MS);
        REQUIRE(r == len, "a send with a deadline: %zd (%s)", r, weft_strerror((int)r));
        ssize_t n = weft_udp_recv_from_until(b, in, sizeof in, from, sizeof from, until());
        REQUIRE(n == len && memcmp(in, msg, (size_t)len) == 0, "recv %zd", n);
        REQUIRE(strcmp(from, aaddr) == 0, "from %s, sent from %s", from, aaddr);
    }
    ssize_t late = weft_udp_send_to_until(a, "late", 4, baddr, weft_now());
    REQUIRE(late == 4 || late == WEFT_ETIMEDOUT, "a send past its deadline: %zd (%s)", late,
            weft_strerror((int)late));
    sender sd = {a, baddr};
    weft_task *t;
    void *res = NULL;
    REQUIRE(weft_spawn(&t, cancelled_sender, &sd) == 0, "spawn");
    weft_cancel(t);
    weft_join(t, &res);
    REQUIRE((intptr_t)res == WEFT_ECANCELED, "a cancelled task's send: %ld", (long)(intptr_t)res);
    REQUIRE(weft_udp_send_to_until(a, "marker", 6, baddr, until()) == 6, "send marker");
    ssize_t n = weft_udp_recv_from_until(b, in, sizeof in, NULL, 0, until());
    if (late == 4) {
        REQUIRE(n == 4 && memcmp(in, "late", 4) == 0, "the send past its deadline said it went: %zd \"%.*s\"", n,
                n > 0 ? (int)n : 0, in);
        n = weft_udp_recv_from_until(b, in, sizeof in, NULL, 0, until());
    }
    REQUIRE(n == 6 && memcmp(in, "marker", 6) == 0, "after the ended sends: %zd \"%.*s\"", n, n > 0 ? (int)n : 0, in);
    weft_sock_close(a);
    weft_sock_close(b);
    return NULL;
}

START_TEST(a_datagram_send_with_a_deadline_goes_and_a_cancelled_one_does_not)
{
    each_reactor(send_deadline, "127.0.0.1:0");
    each_reactor(send_deadline, "[::1]:0");
}
END_TEST

/* ---- files ------------------------------------------------------------------------ */

static void *files(void *arg)
{
    const char *path = arg;
    weft_file *f;
    REQUIRE(weft_file_open(&f, path, WEFT_FILE_READ | WEFT_FILE_WRITE | WEFT_FILE_CREATE | WEFT_FILE_TRUNC, 0600) == 0,
            "open");
    REQUIRE(weft_file_write(f, "hello, ", 7) == 7, "write");
    REQUIRE(weft_file_write(f, "world", 5) == 5, "write");
    REQUIRE(weft_file_pwrite(f, "W", 1, 7) == 1, "pwrite");
    REQUIRE(weft_file_fsync(f) == 0, "fsync");
    char buf[32] = {0};
    REQUIRE(weft_file_pread(f, buf, sizeof buf, 0) == 12, "pread");
    REQUIRE(strcmp(buf, "hello, World") == 0, "content %s", buf);
    REQUIRE(weft_file_pread(f, buf, sizeof buf, 100) == 0, "pread past the end");
    REQUIRE(weft_file_close(f) == 0, "close");
    REQUIRE(weft_file_open(&f, path, WEFT_FILE_READ, 0) == 0, "reopen");
    memset(buf, 0, sizeof buf);
    REQUIRE(weft_file_read(f, buf, 5) == 5 && weft_file_read(f, buf + 5, 20) == 7, "reads");
    REQUIRE(strcmp(buf, "hello, World") == 0, "content %s", buf);
    REQUIRE(weft_file_write(f, "x", 1) == WEFT_EBADF, "write to a read-only file");
    weft_file_close(f);
    REQUIRE(weft_file_open(&f, path, WEFT_FILE_WRITE | WEFT_FILE_CREATE | WEFT_FILE_EXCL, 0600) == WEFT_EEXIST,
            "exclusive create of an existing file");
    REQUIRE(weft_file_unlink(path) == 0, "unlink");
    REQUIRE(weft_file_open(&f, path, WEFT_FILE_READ, 0) == WEFT_ENOENT, "open of a removed file");
    return NULL;
}

START_TEST(files_read_write_at_offsets_and_sync)
{
    char path[256];
    temp_file(path, sizeof path, "io", ".dat");
    each_reactor(files, path);
    unlink(path);
}
END_TEST

/* The file calls of files() (open, write, pwrite, fsync, pread, read,
 * close, unlink) on io_uring are the kernel's own operations: none goes to
 * the blocking pool, whose calls are tasks (counted in stats.spawned). On
 * epoll the same calls do go there, which shows the count sees them. */
typedef struct native_files {
    const char *path;
    bool native;
} native_files;

static void *files_counting_pool_calls(void *arg)
{
    native_files *nf = arg;
    weft_rt_stats before, after;
    REQUIRE(weft_rt_stats_get(weft_rt_current(), &before) == 0, "stats");
    void *r = files((void *)nf->path);
    if (r)
        return r;
    REQUIRE(weft_rt_stats_get(weft_rt_current(), &after) == 0, "stats");
    uint64_t pool_calls = after.spawned - before.spawned;
    REQUIRE(nf->native ? pool_calls == 0 : pool_calls >= 10, "%s: %llu calls went to the blocking pool",
            weft_rt_reactor(weft_rt_current()), (unsigned long long)pool_calls);
    return NULL;
}

START_TEST(file_calls_on_io_uring_are_the_kernels_own_operations)
{
    char path[256];
    temp_file(path, sizeof path, "io", ".dat");
    for (unsigned workers = 1; workers <= 2; workers++) {
        for (int uring = 0; uring <= (under_valgrind() ? 0 : 1); uring++) {
            weft_config c = real(uring ? WEFT_REACTOR_URING : WEFT_REACTOR_EPOLL, workers);
            native_files nf = {path, uring == 1};
            void *res = (void *)1;
            int r = run_in(&c, files_counting_pool_calls, &nf, &res);
            ck_assert_msg(r == 0 && res == NULL, "%s, %u worker(s): run returned %d, body %p",
                          uring ? "io_uring" : "epoll", workers, r, res);
        }
    }
    unlink(path);
}
END_TEST

/* A deadline or a cancellation that comes before the disk has a call: the
 * call returns WEFT_ETIMEDOUT / WEFT_ECANCELED and did nothing. */
static void *cancelled_file_writer(void *arg)
{
    weft_file *f = arg;
    weft_sleep(LIMIT); /* cancelled here (or before it starts) */
    return (void *)(intptr_t)weft_file_write(f, "late", 4);
}

static void *file_deadlines(void *arg)
{
    const char *path = arg;
    weft_file *f;
    char buf[8] = {0}, out[WEFT_ADDR_MAX];
    uint64_t past = weft_now();
    unsigned rw = WEFT_FILE_READ | WEFT_FILE_WRITE | WEFT_FILE_CREATE | WEFT_FILE_TRUNC;
    REQUIRE(weft_file_open_until(&f, path, rw, 0600, past) == WEFT_ETIMEDOUT && f == NULL, "open past its deadline");
    REQUIRE(weft_file_open(&f, path, WEFT_FILE_READ, 0) == WEFT_ENOENT, "the timed-out open created the file");
    REQUIRE(weft_file_open_until(&f, path, rw, 0600, until()) == 0, "open");
    REQUIRE(weft_file_write_until(f, "abc", 3, until()) == 3, "write");
    past = weft_now();
    REQUIRE(weft_file_write_until(f, "XYZ", 3, past) == WEFT_ETIMEDOUT, "write past its deadline");
    REQUIRE(weft_file_pwrite_until(f, "XYZ", 3, 0, past) == WEFT_ETIMEDOUT, "pwrite past its deadline");
    REQUIRE(weft_file_fsync_until(f, past) == WEFT_ETIMEDOUT, "fsync past its deadline");
    REQUIRE(weft_file_read_until(f, buf, sizeof buf, past) == WEFT_ETIMEDOUT, "read past its deadline");
    REQUIRE(weft_file_pread_until(f, buf, sizeof buf, 0, past) == WEFT_ETIMEDOUT && buf[0] == 0,
            "pread past its deadline");
    REQUIRE(weft_file_fsync_until(f, until()) == 0, "fsync");
    /* Nothing of the timed-out writes landed and the position did not move. */
    REQUIRE(weft_file_write_until(f, "d", 1, until()) == 1, "write");
    REQUIRE(weft_file_pread_until(f, buf, sizeof buf, 0, until()) == 4 && memcmp(buf, "abcd", 4) == 0,
            "content %.8s", buf);
    weft_task *t;
    void *res = (void *)1;
    REQUIRE(weft_spawn(&t, cancelled_file_writer, f) == 0, "spawn");
    weft_cancel(t);
    weft_join(t, &res);
    REQUIRE((intptr_t)res == WEFT_ECANCELED, "a cancelled task's write returned %ld", (long)(intptr_t)res);
    REQUIRE(weft_file_pread(f, buf, sizeof buf, 0) == 4, "the cancelled write landed");
    REQUIRE(weft_file_close(f) == 0, "close");
    REQUIRE(weft_file_unlink_until(path, weft_now()) == WEFT_ETIMEDOUT, "unlink past its deadline");
    REQUIRE(weft_file_open(&f, path, WEFT_FILE_READ, 0) == 0 && weft_file_close(f) == 0, "the file is still there");
    REQUIRE(weft_resolve_until("localhost", 80, out, sizeof out, weft_now()) == WEFT_ETIMEDOUT && out[0] == 0,
            "lookup past its deadline");
    REQUIRE(weft_resolve_until("10.1.2.3", 80, out, sizeof out, until()) > 0, "lookup");
    REQUIRE(weft_file_unlink_until(path, until()) == 0, "unlink");
    return NULL;
}

START_TEST(file_calls_past_their_deadline_or_cancelled_do_nothing)
{
    char path[256];
    temp_file(path, sizeof path, "io", ".dat");
    unlink(path);
    each_reactor(file_deadlines, path);
    unlink(path);
}
END_TEST

/* ---- names ---------------------------------------------------------------------------- */

static void *names(void *arg)
{
    (void)arg;
    char out[WEFT_ADDR_MAX];
    int r = weft_resolve("localhost", 80, out, sizeof out);
    REQUIRE(r > 0 && (strcmp(out, "127.0.0.1:80") == 0 || strcmp(out, "[::1]:80") == 0), "localhost: %d %s", r, out);
    REQUIRE(weft_resolve("10.1.2.3", 7, out, sizeof out) > 0 && strcmp(out, "10.1.2.3:7") == 0, "numeric");
    REQUIRE(weft_resolve("no-such-host.invalid", 80, out, sizeof out) == WEFT_ENOENT, "unknown name");
    REQUIRE(weft_resolve("localhost", 70000, out, sizeof out) == WEFT_EINVAL, "bad port");
    return NULL;
}

/* Every reactor hands a lookup to the pool the same way (io_uring has no
 * native form for it), but each has its own way of waking the worker whose
 * task waits for the pool thread to finish: each is run. */
START_TEST(names_are_looked_up_on_the_blocking_pool)
{
    each_reactor(names, NULL);
}
END_TEST

/* ---- errors injected through the weft_os table ------------------------------------------ */

typedef struct inject {
    int accept_emfile; /* accepts still to fail */
    int recv_eintr;
    int connect_unreach;
} inject;

static int inj_accept(void *ctx, int fd, void *addr, unsigned *len)
{
    inject *in = ctx;
    if (in->accept_emfile > 0) {
        in->accept_emfile--;
        return -EMFILE;
    }
    socklen_t l = *len;
    int r = accept4(fd, addr, &l, SOCK_NONBLOCK | SOCK_CLOEXEC);
    *len = l;
    return r < 0 ? -errno : r;
}

static ssize_t inj_recv(void *ctx, int fd, void *buf, size_t len)
{
    inject *in = ctx;
    if (in->recv_eintr > 0) {
        in->recv_eintr--;
        return -EINTR;
    }
    ssize_t r = recv(fd, buf, len, 0);
    return r < 0 ? -errno : r;
}

static int inj_connect(void *ctx, int fd, const void *addr, unsigned len)
{
    inject *in = ctx;
    if (in->connect_unreach > 0) {
        in->connect_unreach--;
        return -ENETUNREACH;
    }
    int r = connect(fd, addr, len);
    return r < 0 ? -errno : 0;
}

static void *injected(void *arg)
{
    inject *in = arg;
    weft_sock *l, *s, *c;
    char addr[WEFT_ADDR_MAX], b[4];
    REQUIRE(weft_tcp_listen(&l, "127.0.0.1:0", 1) == 0, "listen");
    REQUIRE(weft_sock_local_addr(l, addr, sizeof addr) > 0, "addr");
    REQUIRE(weft_tcp_connect_until(&s, addr, until()) == WEFT_ENETUNREACH, "injected unreachable");
    REQUIRE(weft_tcp_connect_until(&s, addr, until()) == 0, "connect");
    REQUIRE(weft_tcp_accept_until(l, &c, until()) == WEFT_EMFILE, "injected EMFILE");
    REQUIRE(weft_tcp_accept_until(l, &c, until()) == 0, "accept after EMFILE");
    REQUIRE(weft_sock_write_all(s, "abc", 3, NULL) == 0, "write");
    REQUIRE(weft_sock_read_until(c, b, 3, until()) == 3, "read through EINTRs");
    REQUIRE(in->recv_eintr == 0, "EINTR not injected");
    weft_sock_close(s);
    weft_sock_close(c);
    weft_sock_close(l);
    return NULL;
}

START_TEST(errors_injected_through_the_os_table_reach_the_caller_or_are_retried)
{
    for (size_t i = 0; i < reactor_count(); i++) {
        inject in = {1, 3, 1};
        weft_os os = {0};
        os.ctx = &in;
        os.accept = inj_accept;
        os.recv = inj_recv;
        os.connect = inj_connect;
        weft_config c = real(reactors[i], 1);
        c.os = &os;
        void *res = (void *)1;
        ck_assert_weft(run_in(&c, injected, &in, &res), 0);
        ck_assert_msg(res == NULL, "%s: body failed at line %ld", reactor_names[i], (long)(intptr_t)res);
    }
}
END_TEST

/* ---- bad input ---------------------------------------------------------------------------- */

typedef struct bad_arg {
    weft_sock *foreign; /* a handle of another runtime */
} bad_arg;

static void *make_foreign(void *arg)
{
    bad_arg *ba = arg;
    return (void *)(intptr_t)weft_udp_bind(&ba->foreign, "127.0.0.1:0");
}

#define EXPECT(expr, want)                                                                                      \
    do {                                                                                                        \
        long got_ = (long)(expr);                                                                               \
        REQUIRE(got_ == (long)(want), "%s returned %ld (%s), expected %s", #expr, got_,                          \
                weft_strerror((int)got_), #want);                                                               \
    } while (0)

static void *bad_input(void *arg)
{
    bad_arg *ba = arg;
    weft_sock *s = (weft_sock *)(uintptr_t)0xdead, *l, *c, *x;
    char buf[WEFT_ADDR_MAX];
    uint8_t rbuf[64];
    const char *bad_addrs[] = {"", "1.2.3", "1.2.3.4", "256.0.0.1:80", "1.2.3.4:65536", "1.2.3.4:-1",
                               "01.2.3.4:80", "1.2.3.4:80x", "[::1", "[::1]", "[:::1]:80", "[1:2:3:4:5:6:7:8:9]:80",
                               "localhost:80", " 1.2.3.4:80", "1.2.3.4: 80"};
    for (size_t i = 0; i < sizeof bad_addrs / sizeof *bad_addrs; i++) {
        REQUIRE(weft_tcp_listen(&l, bad_addrs[i], 1) == WEFT_EINVAL, "listen on \"%s\"", bad_addrs[i]);
        REQUIRE(l == NULL, "output set on failure");
        REQUIRE(weft_tcp_connect(&x, bad_addrs[i]) == WEFT_EINVAL, "connect to \"%s\"", bad_addrs[i]);
        REQUIRE(weft_udp_bind(&x, bad_addrs[i]) == WEFT_EINVAL, "bind \"%s\"", bad_addrs[i]);
    }
    EXPECT(weft_tcp_listen(&l, NULL, 1), WEFT_EINVAL);
    EXPECT(weft_tcp_listen(NULL, "127.0.0.1:0", 1), WEFT_EINVAL);
    EXPECT(weft_tcp_connect(&x, "127.0.0.1:0"), WEFT_EINVAL);
    /* Made-up, NULL, foreign and closed handles. */
    EXPECT(weft_sock_read(s, buf, 1), WEFT_EBADF);
    EXPECT(weft_sock_read(NULL, buf, 1), WEFT_EBADF);
    EXPECT(weft_sock_write(ba->foreign, "x", 1), WEFT_EBADF);
    EXPECT(weft_sock_close(ba->foreign), WEFT_EBADF);
    EXPECT(weft_tcp_listen(&l, "127.0.0.1:0", 0), 0);
    REQUIRE(weft_sock_local_addr(l, buf, sizeof buf) > 0, "addr");
    EXPECT(weft_tcp_connect(&s, buf), 0);
    EXPECT(weft_tcp_accept(l, &c), 0);
    /* Wrong kinds. */
    EXPECT(weft_tcp_accept(s, &x), WEFT_EINVAL);
    REQUIRE(x == NULL, "output set on failure");
    EXPECT(weft_sock_read(l, buf, 1), WEFT_EINVAL);
    EXPECT(weft_file_read((weft_file *)s, buf, 1), WEFT_EINVAL);
    EXPECT(weft_udp_send_to(s, "x", 1, "127.0.0.1:9"), WEFT_EINVAL);
    /* Lengths and buffers. */
    EXPECT(weft_sock_read(s, NULL, 10), WEFT_EFAULT);
    EXPECT(weft_sock_write(s, NULL, 10), WEFT_EFAULT);
    EXPECT(weft_sock_read(s, buf, (size_t)-1), WEFT_EINVAL);
    EXPECT(weft_sock_write(s, buf, WEFT_IO_MAX + 1), WEFT_EINVAL);
    EXPECT(weft_sock_write(s, buf, 0), 0);
    EXPECT(weft_sock_shutdown(s, 7), WEFT_EINVAL);
    EXPECT(weft_sock_local_addr(s, buf, 3), WEFT_EINVAL);
    EXPECT(weft_sock_local_addr(s, NULL, 0), WEFT_EINVAL);
    EXPECT(weft_file_open(NULL, "x", WEFT_FILE_READ, 0), WEFT_EINVAL);
    weft_file *f;
    EXPECT(weft_file_open(&f, "x", 0, 0), WEFT_EINVAL);
    EXPECT(weft_file_open(&f, "x", WEFT_FILE_READ | 0x1000u, 0), WEFT_EINVAL);
    EXPECT(weft_file_open(&f, "x", WEFT_FILE_READ | WEFT_FILE_TRUNC, 0), WEFT_EINVAL);
    EXPECT(weft_file_open(&f, "", WEFT_FILE_READ, 0), WEFT_EINVAL);
    EXPECT(weft_file_pread((weft_file *)s, buf, 1, UINT64_MAX), WEFT_EINVAL);
    /* Still working after all that. */
    EXPECT(weft_sock_write_all(s, "ok", 2, NULL), 0);
    EXPECT(weft_sock_read_until(c, buf, 2, until()), 2);
    /* Two readers at once: the second is refused. */
    reader_arg ra = {c, rbuf, 0};
    weft_task *t;
    EXPECT(weft_spawn(&t, blocked_reader, &ra), 0);
    weft_sleep(MS);
    EXPECT(weft_sock_read_until(c, buf, 1, weft_now() + MS), WEFT_EBUSY);
    weft_cancel(t);
    weft_join(t, NULL);
    /* Closed: dead for good, also a second close. */
    EXPECT(weft_sock_close(s), 0);
    EXPECT(weft_sock_close(s), WEFT_EBADF);
    EXPECT(weft_sock_write(s, "x", 1), WEFT_EBADF);
    EXPECT(weft_sock_read(s, buf, 1), WEFT_EBADF);
    EXPECT(weft_sock_local_addr(s, buf, sizeof buf), WEFT_EBADF);
    /* A new socket in the old one's slot does not revive the old handle. */
    weft_sock *s2;
    EXPECT(weft_tcp_connect(&s2, "127.0.0.1:9"), WEFT_ECONNREFUSED);
    EXPECT(weft_udp_bind(&s2, "127.0.0.1:0"), 0);
    EXPECT(weft_sock_local_addr(s, buf, sizeof buf), WEFT_EBADF);
    weft_sock_close(c);
    weft_sock_close(s2);
    weft_sock_close(l);
    return NULL;
}

START_TEST(bad_input_gets_clear_codes_and_nothing_crashes)
{
    for (size_t i = 0; i < reactor_count(); i++) {
        weft_config c = real(reactors[i], 1);
        bad_arg ba;
        weft_rt *other;
        /* A live runtime whose socket is foreign to the one below. */
        ck_assert_weft(weft_rt_new(&other, &c), 0);
        void *res;
        ck_assert_weft(weft_rt_block_on(other, make_foreign, &ba, &res), 0);
        ck_assert_ptr_null(res);
        res = (void *)1;
        ck_assert_weft(run_in(&c, bad_input, &ba, &res), 0);
        ck_assert_msg(res == NULL, "%s: body failed at line %ld", reactor_names[i], (long)(intptr_t)res);
        weft_rt_free(other);
    }
    /* Outside a task: refused. */
    weft_sock *s;
    ck_assert_weft(weft_tcp_listen(&s, "127.0.0.1:0", 1), WEFT_EPERM);
}
END_TEST

/* ---- the reactor is chosen by the configuration or the environment ------------------------- */

START_TEST(an_unknown_reactor_is_refused)
{
    weft_config c = real((weft_reactor)9, 1);
    weft_rt *rt;
    ck_assert_weft(weft_rt_new(&rt, &c), WEFT_EINVAL);
    c = real(WEFT_REACTOR_EPOLL, 1);
    c.flags &= ~WEFT_CFG_NO_ENV;
    setenv("WEFT_REACTOR", "kqueue", 1);
    ck_assert_weft(weft_rt_new(&rt, &c), WEFT_EINVAL);
    setenv("WEFT_REACTOR", "poll", 1);
    ck_assert_weft(weft_rt_new(&rt, &c), 0);
    weft_rt_free(rt);
    unsetenv("WEFT_REACTOR");
}
END_TEST

/* ---- io_uring, and the fallback when the kernel refuses it ---------------------------------- */

START_TEST(io_uring_is_used_when_asked_for_and_the_kernel_allows_it)
{
    weft_config c = real(WEFT_REACTOR_URING, 1);
    weft_rt *rt;
    ck_assert_weft(weft_rt_new(&rt, &c), 0);
    ck_assert_str_eq(weft_rt_reactor(rt), "io_uring");
    weft_rt_free(rt);
    c = real(WEFT_REACTOR_AUTO, 2);
    ck_assert_weft(weft_rt_new(&rt, &c), 0);
    ck_assert_str_eq(weft_rt_reactor(rt), "epoll");
    weft_rt_free(rt);
    c = real(WEFT_REACTOR_POLL, 1);
    ck_assert_weft(weft_rt_new(&rt, &c), 0);
    ck_assert_str_eq(weft_rt_reactor(rt), "poll");
    weft_rt_free(rt);
    c = test_config(1, 0);
    ck_assert_weft(weft_rt_new(&rt, &c), 0);
    ck_assert_str_eq(weft_rt_reactor(rt), "simulated");
    weft_rt_free(rt);
}
END_TEST

/* Make the kernel refuse one system call of this process with err, as a
 * container's seccomp policy (or an older kernel, for ENOSYS) would. */
static int refuse_syscall(long nr, int err)
{
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned)err & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {sizeof filter / sizeof *filter, filter};
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0 ? 0
                                                                                                                 : -1;
}

/* The runtime falls back to epoll, says why once, and its IO works. */
static int child_without_uring(void *arg)
{
    (void)arg;
    if (refuse_syscall(__NR_io_uring_setup, EPERM) != 0)
        return 3;
    weft_config c = real(WEFT_REACTOR_URING, 2);
    c.flags &= ~WEFT_CFG_QUIET;
    weft_rt *rt;
    if (weft_rt_new(&rt, &c) != 0)
        return 4;
    if (strcmp(weft_rt_reactor(rt), "epoll") != 0)
        return 5;
    many_arg m = {"127.0.0.1:0", 20, 3000};
    void *res = (void *)1;
    int r = weft_rt_block_on(rt, many_echo, &m, &res);
    weft_rt_free(rt);
    return r == 0 && res == NULL ? 0 : 6;
}

START_TEST(a_refused_io_uring_falls_back_to_epoll_and_says_why_once)
{
    char err[4096];
    int r = run_child(child_without_uring, NULL, err, sizeof err);
    ck_assert_msg(r == 0, "child ended with %d, stderr: %s", r, err);
    const char *say = "weft: the io_uring reactor is not available (io_uring_setup failed: Operation not permitted): "
                      "using epoll\n";
    ck_assert_msg(strstr(err, say) != NULL, "stderr: %s", err);
    ck_assert_msg(strstr(strstr(err, say) + strlen(say), "io_uring") == NULL, "said more than once: %s", err);
}
END_TEST

/* A timed wait in the runtime: sleeps of a few odd lengths, each ending no
 * earlier than asked (the reactor's timeout must round up, never down). */
static void *sleeps_end_on_time(void *arg)
{
    (void)arg;
    static const uint64_t lengths[] = {1, 999999, 1000001, 2500000, 20000000};
    for (size_t i = 0; i < sizeof lengths / sizeof *lengths; i++) {
        uint64_t t0 = weft_now();
        REQUIRE(weft_sleep(lengths[i]) == 0, "sleep %zu", i);
        REQUIRE(weft_now() - t0 >= lengths[i], "a %llu ns sleep ended after %llu ns", (unsigned long long)lengths[i],
                (unsigned long long)(weft_now() - t0));
    }
    return NULL;
}

/* ---- an idle worker takes the events of a busy worker's descriptors ---------- */

/* The descriptor's home is worker 0 (the first to wait on it); a task pinned
 * there then never yields until the reader has its byte. Only worker 1 can
 * deliver the byte's event: when it runs out of work, before it sleeps. */
typedef struct busy_home {
    weft_sock *l, *s, *c;
    atomic_int reader_parked, hogging, got;
    atomic_int woken_on;  /* the worker that woke the reader (-1: none yet) */
    int resumed_on;       /* the reader's worker after its read */
    ssize_t n;
    char byte;
} busy_home;

static void busy_home_hook(void *ctx, const weft_hook_info *info)
{
    busy_home *b = ctx;
    if (!info->task_name || strcmp(info->task_name, "reader") != 0)
        return;
    if (info->event == WEFT_HOOK_PARK)
        b->reader_parked = 1;
    else if (info->event == WEFT_HOOK_WAKE)
        b->woken_on = info->worker;
}

static void *home_maker(void *arg)
{
    busy_home *b = arg;
    char x;
    /* Waits (so the descriptor is registered here) and times out. */
    ssize_t n = weft_sock_read_until(b->c, &x, 1, weft_now() + 1000000);
    return n == WEFT_ETIMEDOUT ? NULL : (void *)1;
}

static void *home_reader(void *arg)
{
    busy_home *b = arg;
    b->n = weft_sock_read_until(b->c, &b->byte, 1, until());
    b->resumed_on = weft_worker_index();
    b->got = 1;
    return NULL;
}

static void *home_hog(void *arg)
{
    busy_home *b = arg;
    uint64_t give_up = weft_now() + LIMIT;
    b->hogging = 1;
    while (!b->got && weft_now() < give_up)
        ;
    return NULL;
}

static void *home_writer(void *arg)
{
    busy_home *b = arg;
    while (!b->hogging)
        weft_sleep(1000000);
    return (void *)(intptr_t)weft_sock_write_all_until(b->s, "x", 1, NULL, until());
}

static weft_task *spawn_on(int worker, const char *name, weft_fn fn, void *arg)
{
    weft_spawn_opts o = {.name = name, .flags = worker >= 0 ? WEFT_SPAWN_PINNED : 0,
                         .worker = worker >= 0 ? (unsigned)worker : 0};
    weft_task *t = NULL;
    return weft_spawn_ex(&t, fn, arg, &o) == 0 ? t : NULL;
}

static void *busy_home_body(void *arg)
{
    busy_home *b = arg;
    char addr[WEFT_ADDR_MAX];
    const char *failed = connected_pair(&b->l, &b->s, &b->c, addr);
    REQUIRE(!failed, "%s failed", failed);
    int hook;
    REQUIRE(weft_hook_add(weft_rt_current(), WEFT_HOOK_MASK(WEFT_HOOK_PARK) | WEFT_HOOK_MASK(WEFT_HOOK_WAKE),
                          busy_home_hook, b, &hook) == 0, "hook_add");
    void *res = (void *)1;
    weft_task *t = spawn_on(0, "home", home_maker, b);
    REQUIRE(t && weft_join(t, &res) == 0 && res == NULL, "the first wait did not time out on worker 0");
    weft_task *reader = spawn_on(-1, "reader", home_reader, b);
    REQUIRE(reader, "spawn reader");
    while (!b->reader_parked)
        weft_sleep(1000000);
    weft_task *hog = spawn_on(0, "hog", home_hog, b);
    weft_task *writer = spawn_on(1, "writer", home_writer, b);
    REQUIRE(hog && writer, "spawn");
    REQUIRE(weft_join(writer, &res) == 0 && res == NULL, "write: %d", (int)(intptr_t)res);
    REQUIRE(weft_join(reader, NULL) == 0 && weft_join(hog, NULL) == 0, "join");
    weft_hook_remove(weft_rt_current(), hook);
    REQUIRE(b->n == 1 && b->byte == 'x', "read %zd", b->n);
    REQUIRE(b->woken_on == 1 && b->resumed_on == 1,
            "the reader was woken on worker %d and resumed on %d while worker 0 was busy", (int)b->woken_on,
            b->resumed_on);
    weft_sock_close(b->s);
    weft_sock_close(b->c);
    weft_sock_close(b->l);
    return NULL;
}

START_TEST(an_idle_worker_takes_the_events_of_a_busy_workers_sockets)
{
    weft_config c = real(WEFT_REACTOR_EPOLL, 2);
    busy_home b;
    memset(&b, 0, sizeof b);
    b.woken_on = -1;
    void *res = (void *)1;
    ck_assert_weft(run_in(&c, busy_home_body, &b, &res), 0);
    ck_assert_msg(res == NULL, "failed at test_io.c:%d", (int)(intptr_t)res);
}
END_TEST

/* Without epoll_pwait2 (Linux before 5.11, and valgrind): the reactor waits
 * with epoll_wait's milliseconds, and sockets and timers still work on one
 * and two workers. */
static int child_without_epoll_pwait2(void *arg)
{
    (void)arg;
    if (refuse_syscall(__NR_epoll_pwait2, ENOSYS) != 0)
        return 3;
    for (unsigned workers = 1; workers <= 2; workers++) {
        weft_config c = real(WEFT_REACTOR_EPOLL, workers);
        many_arg m = {"127.0.0.1:0", 20, 3000};
        void *res = (void *)1;
        if (run_in(&c, many_echo, &m, &res) != 0 || res != NULL)
            return 4;
        res = (void *)1;
        if (run_in(&c, sleeps_end_on_time, NULL, &res) != 0 || res != NULL)
            return 5;
    }
    return 0;
}

START_TEST(epoll_without_epoll_pwait2_falls_back_to_epoll_wait)
{
    char err[4096];
    int r = run_child(child_without_epoll_pwait2, NULL, err, sizeof err);
    ck_assert_msg(r == 0, "child ended with %d, stderr: %s", r, err);
}
END_TEST

Suite *suite_io(void)
{
    Suite *s = suite_create("io");
    TCase *tc = tcase_create("loopback");
    tcase_add_test(tc, a_thousand_concurrent_echo_connections_every_byte_checked);
    tcase_add_test(tc, echo_over_ipv6_loopback);
    tcase_add_test(tc, each_reactor_serves_every_engine_and_a_dedicated_worker);
    tcase_add_test(tc, partial_reads_and_writes_move_every_byte);
    tcase_add_test(tc, peer_reset_mid_stream_and_refused_connections_have_their_codes);
    tcase_add_test(tc, accept_reports_emfile_and_the_server_keeps_serving);
    tcase_add_test(tc, a_cancelled_or_timed_out_read_never_writes_the_buffer_and_loses_nothing);
    tcase_add_test(tc, a_read_ended_as_its_data_arrives_returns_the_bytes_or_leaves_them_queued);
    tcase_add_test(tc, closing_a_socket_ends_the_waits_on_it);
    tcase_add_test(tc, datagrams_go_both_ways_with_their_sender);
    tcase_add_test(tc, a_too_small_from_buffer_is_refused_and_the_datagram_stays_queued);
    tcase_add_test(tc, an_accept_times_out_or_is_cancelled_and_the_listener_still_accepts);
    tcase_add_test(tc, a_connect_that_cannot_complete_times_out_or_is_cancelled);
    tcase_add_test(tc, a_write_to_a_peer_that_does_not_read_times_out_or_is_cancelled_and_counts_every_byte);
    tcase_add_test(tc, a_write_ended_as_the_peer_makes_room_counts_exactly_what_it_wrote);
    tcase_add_test(tc, a_datagram_receive_times_out_or_is_cancelled_and_leaves_the_next_datagram_queued);
    tcase_add_test(tc, a_datagram_send_with_a_deadline_goes_and_a_cancelled_one_does_not);
    tcase_add_test(tc, files_read_write_at_offsets_and_sync);
    tcase_add_test(tc, file_calls_past_their_deadline_or_cancelled_do_nothing);
    tcase_add_test(tc, names_are_looked_up_on_the_blocking_pool);
    tcase_add_test(tc, file_calls_on_io_uring_are_the_kernels_own_operations);
    tcase_add_test(tc, errors_injected_through_the_os_table_reach_the_caller_or_are_retried);
    tcase_add_test(tc, bad_input_gets_clear_codes_and_nothing_crashes);
    tcase_add_test(tc, an_unknown_reactor_is_refused);
    tcase_add_test(tc, io_uring_is_used_when_asked_for_and_the_kernel_allows_it);
    tcase_add_test(tc, a_refused_io_uring_falls_back_to_epoll_and_says_why_once);
    tcase_add_test(tc, epoll_without_epoll_pwait2_falls_back_to_epoll_wait);
    tcase_add_test(tc, an_idle_worker_takes_the_events_of_a_busy_workers_sockets);
    suite_add_tcase(s, tc);
    return s;
}
