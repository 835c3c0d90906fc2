/* kv.c — a three-replica key-value store with a replication bug, and the hunt
 * for it: found by seed in simulation, replayed, shrunk.
 *
 * Replica 0 leads. A PUT goes to the leader, which appends it to its log,
 * sends it to both followers, and answers the client once one follower has
 * it: with the leader's own copy that is two of three, a majority. Followers
 * fsync every record before they acknowledge it. The leader does not: to go
 * faster it fsyncs its log in the background every few milliseconds ("group
 * commit"), and on restart it rebuilds its table from its own log alone.
 * That is the bug. A leader that crashes between acknowledging a PUT and its
 * next background fsync comes back without that PUT, which a client was told
 * is safe; the followers have it, but nobody asks them.
 *
 *   kv            one run in the mode WEFT_MODE picks: in simulation, with the
 *                 leader crashed and restarted at a seed-chosen moment (the
 *                 run fails on seeds that hit the bug); threaded, on real
 *                 sockets and files, no crash (the bug needs one)
 *   kv --hunt     explore seeds until one loses a write, replay it, shrink it
 *   kv --fixed    the same hunt against the fixed leader (fsync before
 *                 replicating): no seed loses a write
 */
#define _GNU_SOURCE
#include <weft.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REPLICAS 3
#define KEYS 24
#define MS 1000000ull
/* The leader's background fsync interval (the group commit). */
#define FLUSH_EVERY (10 * MS)

enum { PUT = 1, PUT_OK, GET, GET_OK, GET_MISSING, REP, REP_OK, STOP };

/* Every message is one frame of 64 bytes. */
typedef struct frame {
    uint8_t type;
    uint8_t pad[3];
    uint32_t seq;
    char key[24];
    char val[32];
} frame;

typedef struct store {
    char key[KEYS][24];
    char val[KEYS][32];
    int n;
} store;

static void store_put(store *s, const frame *f)
{
    for (int i = 0; i < s->n; i++) {
        if (!strcmp(s->key[i], f->key)) {
            memcpy(s->val[i], f->val, sizeof f->val);
            return;
        }
    }
    if (s->n < KEYS) {
        memcpy(s->key[s->n], f->key, sizeof f->key);
        memcpy(s->val[s->n++], f->val, sizeof f->val);
    }
}

static const char *store_get(const store *s, const char *key)
{
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->key[i], key))
            return s->val[i];
    return NULL;
}

typedef struct replica {
    int id;
    int fixed;              /* the leader fsyncs before it replicates */
    weft_node *node;        /* NULL on the real backend */
    char host[32];          /* its address without the port */
    char addr[WEFT_ADDR_MAX]; /* where it listens, once it does */
    weft_event listening;
    char log_path[96];
    struct cluster *cl;
} replica;

typedef struct cluster {
    replica r[REPLICAS];
} cluster;

static int send_frame(weft_sock *s, const frame *f)
{
    return weft_sock_write_all(s, f, sizeof *f, NULL);
}

static int recv_frame(weft_sock *s, frame *f)
{
    size_t got = 0;
    while (got < sizeof *f) {
        ssize_t n = weft_sock_read(s, (char *)f + got, sizeof *f - got);
        if (n <= 0)
            return n < 0 ? (int)n : WEFT_ECONNRESET;
        got += (size_t)n;
    }
    return 0;
}

/* Rebuild the table from the replica's own log: the records that made it to
 * its disk. */
static int recover(replica *rp, store *st, weft_file **log)
{
    memset(st, 0, sizeof *st);
    int r = weft_file_open(log, rp->log_path, WEFT_FILE_READ | WEFT_FILE_WRITE | WEFT_FILE_CREATE, 0644);
    if (r < 0)
        return r;
    frame f;
    uint64_t off = 0;
    while (weft_file_pread(*log, &f, sizeof f, off) == (ssize_t)sizeof f) {
        store_put(st, &f);
        off += sizeof f;
    }
    return 0;
}

static int listen_on(replica *rp, weft_sock **l)
{
    char where[64];
    snprintf(where, sizeof where, "%s:0", rp->host);
    int r = weft_tcp_listen(l, where, 16);
    if (r == 0)
        r = weft_sock_local_addr(*l, rp->addr, sizeof rp->addr);
    if (r >= 0)
        weft_event_set(&rp->listening);
    return r < 0 ? r : 0;
}

/* ---- followers: fsync, then acknowledge ------------------------------------------ */

static void *follower(void *arg)
{
    replica *rp = arg;
    store st;
    weft_file *log;
    weft_sock *l, *c;
    if (recover(rp, &st, &log) < 0 || listen_on(rp, &l) < 0)
        return NULL;
    int stop = 0;
    while (!stop && weft_tcp_accept(l, &c) == 0) {
        frame f;
        while (recv_frame(c, &f) == 0 && !(stop = f.type == STOP) && f.type == REP) {
            if (weft_file_write(log, &f, sizeof f) != (ssize_t)sizeof f || weft_file_fsync(log) < 0)
                break;
            store_put(&st, &f);
            f.type = REP_OK;
            if (send_frame(c, &f) < 0)
                break;
        }
        weft_sock_close(c);
    }
    weft_sock_close(l);
    weft_file_close(log);
    return NULL;
}

/* ---- the leader ---------------------------------------------------------------------- */

typedef struct leader_state {
    replica *rp;
    store st;
    weft_file *log;
    weft_sock *follower[REPLICAS];
} leader_state;

/* The group commit: the log reaches the disk every FLUSH_EVERY. */
static void *flusher(void *arg)
{
    leader_state *ls = arg;
    while (weft_sleep(FLUSH_EVERY) == 0)
        if (weft_file_fsync(ls->log) < 0)
            break;
    return NULL;
}

static weft_sock *follower_link(leader_state *ls, int k)
{
    if (!ls->follower[k]) {
        replica *f = &ls->rp->cl->r[k];
        weft_event_wait(&f->listening);
        if (weft_tcp_connect(&ls->follower[k], f->addr) < 0)
            ls->follower[k] = NULL;
    }
    return ls->follower[k];
}

/* Replicate f: sent to every follower, then 0 as soon as one has it on its
 * disk (the other's answer is read before the next record). */
static int replicate(leader_state *ls, frame *f)
{
    int sent[REPLICAS] = {0}, acked = 0;
    for (int k = 1; k < REPLICAS; k++) {
        weft_sock *s = follower_link(ls, k);
        sent[k] = s && send_frame(s, f) == 0;
    }
    for (int k = 1; k < REPLICAS; k++) {
        frame ack;
        if (sent[k] && recv_frame(ls->follower[k], &ack) == 0 && ack.type == REP_OK) {
            acked++;
            continue;
        }
        if (ls->follower[k]) {
            weft_sock_close(ls->follower[k]);
            ls->follower[k] = NULL;
        }
    }
    return acked ? 0 : WEFT_EIO;
}

static void *leader(void *arg)
{
    replica *rp = arg;
    leader_state ls;
    memset(&ls, 0, sizeof ls);
    ls.rp = rp;
    weft_sock *l, *c;
    if (recover(rp, &ls.st, &ls.log) < 0 || listen_on(rp, &l) < 0)
        return NULL;
    weft_task *fl = NULL;
    if (!rp->fixed)
        weft_spawn(&fl, flusher, &ls);
    int stop = 0;
    while (!stop && weft_tcp_accept(l, &c) == 0) {
        frame f;
        while (recv_frame(c, &f) == 0) {
            if (f.type == STOP) {
                /* The end of the scenario: the followers stop too. */
                for (int k = 1; k < REPLICAS; k++)
                    if (follower_link(&ls, k))
                        send_frame(ls.follower[k], &f);
                stop = 1;
            } else if (f.type == PUT) {
                f.type = REP;
                if (weft_file_write(ls.log, &f, sizeof f) != (ssize_t)sizeof f)
                    break;
                /* The fixed leader makes its copy durable first. */
                if (rp->fixed && weft_file_fsync(ls.log) < 0)
                    break;
                if (replicate(&ls, &f) < 0)
                    break;
                store_put(&ls.st, &f);
                f.type = PUT_OK;
            } else if (f.type == GET) {
                const char *v = store_get(&ls.st, f.key);
                f.type = v ? GET_OK : GET_MISSING;
                if (v)
                    memcpy(f.val, v, sizeof f.val);
            }
            if (send_frame(c, &f) < 0)
                break;
        }
        weft_sock_close(c);
    }
    if (fl) {
        /* Cleanup waits even when the leader itself was cancelled (a crash). */
        int was = weft_cancel_shield(1);
        weft_cancel(fl);
        weft_join(fl, NULL);
        weft_cancel_shield(was);
    }
    for (int k = 1; k < REPLICAS; k++)
        if (ls.follower[k])
            weft_sock_close(ls.follower[k]);
    weft_sock_close(l);
    weft_file_close(ls.log);
    return NULL;
}

/* ---- the scenario ------------------------------------------------------------------------- */

static int call(weft_sock **s, replica *lead, frame *f)
{
    for (int attempt = 0; attempt < 50; attempt++) {
        if (!*s) {
            weft_event_wait(&lead->listening);
            if (weft_tcp_connect(s, lead->addr) < 0) {
                *s = NULL;
                weft_sleep(MS);
                continue;
            }
        }
        frame req = *f;
        if (send_frame(*s, &req) == 0 && recv_frame(*s, f) == 0)
            return 0;
        weft_sock_close(*s);
        *s = NULL;
        *f = req;
        weft_sleep(MS);
    }
    return WEFT_ETIMEDOUT;
}

typedef struct scenario {
    int fixed;
    int lost;      /* acknowledged writes the leader lost */
    char lost_key[24];
} scenario;

static void *run_scenario(void *arg)
{
    scenario *sc = arg;
    static cluster cl; /* one scenario at a time per process */
    memset(&cl, 0, sizeof cl);
    for (int i = 0; i < REPLICAS; i++) {
        replica *rp = &cl.r[i];
        rp->id = i;
        rp->fixed = sc->fixed;
        rp->cl = &cl;
        weft_event_init(&rp->listening, 0);
        char name[8];
        snprintf(name, sizeof name, "r%d", i);
        snprintf(rp->host, sizeof rp->host, "127.0.0.%d", i + 2);
        /* Simulated nodes where there are nodes; on the real backend every
         * replica runs on this host, on its own loopback address. */
        if (!weft_in_simulation() || weft_node_new(&rp->node, name, rp->host) < 0)
            rp->node = NULL;
        snprintf(rp->log_path, sizeof rp->log_path, rp->node ? "/kv/log" : "/tmp/weft-kv-%d-%d.log", i, (int)getpid());
        if (!rp->node)
            weft_file_unlink(rp->log_path);
        weft_spawn_opts o = {.name = name, .node = rp->node};
        weft_spawn_ex(NULL, i == 0 ? leader : follower, rp, &o);
    }
    if (weft_in_simulation()) {
        weft_net_config nc = {.latency_min_ns = MS / 2, .latency_mean_ns = MS};
        weft_net_config_set(&nc);
        weft_disk_config dc = {.latency_min_ns = MS / 10, .latency_spread_ns = MS};
        weft_disk_config_set(NULL, &dc);
    }

    /* The client: KEYS puts; the leader crashes and restarts at a moment the
     * seed picks; then every acknowledged key is read back from it. */
    int acked[KEYS] = {0};
    int crash_at = (int)(weft_rand() % KEYS);
    uint64_t crash_delay = weft_rand() % (2 * MS);
    weft_sock *s = NULL;
    replica *lead = &cl.r[0];
    for (int i = 0; i < KEYS; i++) {
        frame f = {.type = PUT};
        snprintf(f.key, sizeof f.key, "key-%02d", i);
        snprintf(f.val, sizeof f.val, "value-%02d", i);
        if (call(&s, lead, &f) == 0 && f.type == PUT_OK)
            acked[i] = 1;
        if (i == crash_at && lead->node) {
            weft_sleep(crash_delay);
            weft_node_crash(lead->node);
            if (s) {
                weft_sock_close(s);
                s = NULL;
            }
            weft_event_init(&lead->listening, 0);
            weft_node_restart(lead->node, leader, lead);
        }
    }
    for (int i = 0; i < KEYS; i++) {
        if (!acked[i])
            continue;
        frame f = {.type = GET};
        snprintf(f.key, sizeof f.key, "key-%02d", i);
        if (call(&s, lead, &f) == 0 && f.type != GET_OK && !sc->lost++)
            snprintf(sc->lost_key, sizeof sc->lost_key, "%s", f.key);
    }
    frame stop = {.type = STOP};
    if (call(&s, lead, &stop) == 0 && s)
        weft_sock_close(s);
    /* Wait until the replicas have let go of their ports and files. */
    weft_sleep(20 * MS);
    for (int i = 0; i < REPLICAS; i++)
        if (!cl.r[i].node)
            weft_file_unlink(cl.r[i].log_path);
    /* The store's promise: an acknowledged write is never lost. */
    if (sc->lost && weft_in_simulation()) {
        char msg[160];
        snprintf(msg, sizeof msg, "the restarted leader lost %d acknowledged write(s), the first %s", sc->lost,
                 sc->lost_key);
        weft_fail(msg);
    }
    return NULL;
}

static void *buggy(void *arg)
{
    (void)arg;
    scenario sc = {0, 0, ""};
    return run_scenario(&sc);
}

static void *fixed(void *arg)
{
    (void)arg;
    scenario sc = {1, 0, ""};
    return run_scenario(&sc);
}

static int hunt(weft_fn test, const char *title)
{
    weft_explore_opts o;
    memset(&o, 0, sizeof o);
    o.seeds = 1000;
    o.flags = WEFT_EXPLORE_QUIET | WEFT_EXPLORE_SHRINK;
    weft_explore_result r;
    int e = weft_explore(&o, test, NULL, &r);
    if (e != 0) {
        printf("%s: exploration could not run: %s\n", title, weft_strerror(e));
        return -1;
    }
    if (!r.failures) {
        printf("%s: no lost write in %" PRIu64 " seeds\n", title, r.runs);
        weft_explore_result_free(&r);
        return 0;
    }
    printf("%s: seed %" PRIu64 " (run %" PRIu64 " of the hunt) fails: %s\n", title, r.failing_seed, r.runs,
           weft_strerror(r.status));
    /* The run's own report, less its line on shrinking (said below). */
    char *line = strtok(r.message, "\n");
    while (line) {
        if (strncmp(line, "weft: shrunk", 12) != 0)
            printf("  %s\n", line);
        line = strtok(NULL, "\n");
    }
    if (r.shrunk)
        printf("  shrinking kept the failure and cut the schedule from %zu to %zu decisions:\n  WEFT_SCHEDULE=%s\n",
               r.schedule_len, r.shrunk_len, r.shrunk);
    /* The seed is a reproduction: the same run, twice; and the shrunk
     * schedule fails the same way on its own. */
    uint64_t h[3] = {0};
    int st[3] = {WEFT_EFAILED, WEFT_EFAILED, WEFT_EFAILED};
    for (int i = 0; i < (r.shrunk ? 3 : 2); i++) {
        weft_config c;
        memset(&c, 0, sizeof c);
        c.seed = r.failing_seed;
        c.schedule = i == 2 ? r.shrunk : NULL;
        c.flags = WEFT_CFG_NO_ENV | WEFT_CFG_QUIET;
        weft_rt *rt;
        if ((st[i] = weft_rt_new(&rt, &c)) < 0)
            continue;
        st[i] = weft_rt_block_on(rt, test, NULL, NULL);
        h[i] = weft_rt_trace_hash(rt);
        weft_rt_free(rt);
    }
    printf("  replayed seed %" PRIu64 " twice: %s both times, trace hash %016" PRIx64 " and %016" PRIx64 "\n",
           r.failing_seed, weft_strerror(st[0]), h[0], h[1]);
    if (r.shrunk)
        printf("  replayed the shrunk schedule: %s\n", weft_strerror(st[2]));
    int ok = st[0] == WEFT_EFAILED && st[1] == WEFT_EFAILED && h[0] == h[1] && st[2] == WEFT_EFAILED;
    weft_explore_result_free(&r);
    return ok ? 1 : -1;
}

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "--hunt"))
        return hunt(buggy, "kv (buggy leader)") == 1 ? 0 : 1;
    if (argc == 2 && !strcmp(argv[1], "--fixed"))
        return hunt(fixed, "kv (fixed leader)") == 0 ? 0 : 1;
    if (argc != 1) {
        fprintf(stderr, "usage: %s [--hunt | --fixed]\n", argv[0]);
        return 2;
    }
    weft_config c;
    memset(&c, 0, sizeof c);
    weft_rt *rt;
    int r = weft_rt_new(&rt, &c);
    if (r < 0) {
        fprintf(stderr, "kv: %s\n", weft_strerror(r));
        return 1;
    }
    r = weft_rt_block_on(rt, buggy, NULL, NULL);
    printf("kv: %s (%s)\n", r == 0 ? "every acknowledged write was read back" : weft_strerror(r),
           weft_rt_reactor(rt));
    weft_rt_free(rt);
    return r != 0;
}
