/* node.c — simulated nodes: named machines with virtual addresses, their own
 * tasks, sockets, files and clocks; crash (tasks cancelled, sockets gone,
 * handles dead, unsynced writes lost), restart, pause; the per-node clock (skew, drift);
 * the public controls of the network and disks; and the simulator's IO entry
 * points, which send each operation to the network (net.c) or the disk
 * (disk.c). */
#include "net.h"

#include <stdio.h>

/* Ephemeral ports start here on every node (Linux's default range). */
#define WEFT__EPHEMERAL_FIRST 32768u
/* Drift is at most 10% either way: a clock that runs backwards is not a
 * clock. */
#define WEFT__DRIFT_MAX_PPM 100000

enum { WAIT_PAUSED = 1 };

void *weft__simnet_alloc(weft__simnet *n, size_t size)
{
    /* The world's own books do not fail (the program's allocations do). */
    weft_allocator *a = &n->rt->base_alloc;
    void *p = a->alloc(a->ctx, size);
    if (p)
        memset(p, 0, size);
    return p;
}

void weft__simnet_free_mem(weft__simnet *n, void *p, size_t size)
{
    weft_allocator *a = &n->rt->base_alloc;
    if (p)
        a->free(a->ctx, p, size);
}

static char *copy_str(weft__simnet *n, const char *s)
{
    size_t len = strlen(s) + 1;
    char *d = weft__simnet_alloc(n, len);
    if (d)
        memcpy(d, s, len);
    return d;
}

static weft_node *node_make(weft__simnet *n, const char *name, const weft__addr *a)
{
    if (weft__grow(&n->rt->base_alloc, (void **)&n->nodes, &n->nodes_cap, n->nnodes, sizeof *n->nodes, 8) < 0)
        return NULL;
    weft_node *node = weft__simnet_alloc(n, sizeof *node);
    char *nm = copy_str(n, name);
    if (!node || !nm) {
        weft__simnet_free_mem(n, node, sizeof *node);
        weft__simnet_free_mem(n, nm, strlen(name) + 1);
        return NULL;
    }
    node->net = n;
    node->id = (uint32_t)n->nnodes;
    node->name = nm;
    node->addr = *a;
    node->addr.port = 0;
    node->next_port = WEFT__EPHEMERAL_FIRST;
    node->disk = n->nnodes ? n->nodes[0]->disk : node->disk;
    n->nodes[n->nnodes++] = node;
    return node;
}

weft__simnet *weft__simnet_get(weft_rt *rt)
{
    weft__sim *s = weft__sim_of(rt);
    if (!s)
        return NULL;
    if (s->net)
        return s->net;
    weft_allocator *a = &rt->base_alloc;
    weft__simnet *n = a->alloc(a->ctx, sizeof *n);
    if (!n)
        return NULL;
    memset(n, 0, sizeof *n);
    n->sim = s;
    n->rt = rt;
    n->next_sock_id = 1;
    weft__addr host;
    weft__addr_parse("127.0.0.1", &host, true);
    s->net = n;
    if (!node_make(n, "host", &host)) {
        weft__simnet_free(s);
        return NULL;
    }
    return n;
}

void weft__simnet_free(weft__sim *s)
{
    weft__simnet *n = s->net;
    if (!n)
        return;
    weft__net_free(n);
    for (size_t i = 0; i < n->nnodes; i++) {
        weft_node *node = n->nodes[i];
        weft__disk_free(n, node);
        weft__simnet_free_mem(n, node->name, strlen(node->name) + 1);
        weft__simnet_free_mem(n, node, sizeof *node);
    }
    if (n->nodes)
        weft__simnet_free_mem(n, n->nodes, n->nodes_cap * sizeof *n->nodes);
    if (n->parts)
        weft__simnet_free_mem(n, n->parts, n->parts_cap * sizeof *n->parts);
    if (n->clogs)
        weft__simnet_free_mem(n, n->clogs, n->clogs_cap * sizeof *n->clogs);
    s->net = NULL;
    weft__simnet_free_mem(n, n, sizeof *n);
}

weft_node *weft__node_of(weft__simnet *n, const weft__task *t)
{
    weft_node *node = t ? weft__task_node(t) : NULL;
    return node ? node : n->nodes[0];
}

static bool is_loopback(const weft__addr *a)
{
    static const uint8_t v6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    return a->family == 4 ? (a->ip[0] == 127 && a->ip[1] == 0 && a->ip[2] == 0 && a->ip[3] == 1)
                          : !memcmp(a->ip, v6, 16);
}

static bool same_ip(const weft__addr *x, const weft__addr *y)
{
    return x->family == y->family && !memcmp(x->ip, y->ip, x->family == 4 ? 4 : 16);
}

weft_node *weft__node_by_addr(weft__simnet *n, const weft__addr *a)
{
    for (size_t i = 1; i < n->nnodes; i++)
        if (same_ip(&n->nodes[i]->addr, a))
            return n->nodes[i];
    return is_loopback(a) ? n->nodes[0] : NULL;
}

bool weft__node_owns(const weft_node *node, const weft__addr *a)
{
    static const uint8_t zero[16];
    if (!memcmp(a->ip, zero, a->family == 4 ? 4 : 16))
        return true; /* the wildcard */
    if (same_ip(&node->addr, a))
        return true;
    return node->id == 0 && is_loopback(a);
}

/* ---- the IO entry points (the simulator's backend table) ------------------------------ */

static bool is_file(int kind)
{
    return kind == WEFT__IO_FILE_OPEN || kind == WEFT__IO_FILE_READ || kind == WEFT__IO_FILE_WRITE ||
           kind == WEFT__IO_FSYNC || kind == WEFT__IO_FILE_UNLINK;
}

static int resolve(weft__simnet *n, weft__io *op)
{
    if (weft__addr_parse(op->path, &op->addr, true) == 0)
        return 0;
    if (!strcmp(op->path, "localhost"))
        return weft__addr_parse("127.0.0.1", &op->addr, true);
    for (size_t i = 1; i < n->nnodes; i++) {
        if (!strcmp(n->nodes[i]->name, op->path)) {
            op->addr = n->nodes[i]->addr;
            return 0;
        }
    }
    return WEFT_ENOENT;
}

/* The node of handle h if h was made in an earlier life of it (before a
 * crash): such a handle is dead, whoever calls. NULL: alive, or no handle. */
static weft_node *dead_owner(const weft__ioh *h)
{
    if (!h || !h->bk)
        return NULL;
    uint32_t life;
    weft_node *owner = h->type == WEFT__H_FILE ? weft__disk_owner(h, &life) : weft__net_owner(h, &life);
    return life != owner->head.life ? owner : NULL;
}

int weft__simio_submit(weft__worker *w, weft__io *op)
{
    weft__simnet *n = weft__simnet_get(w->rt);
    if (!n)
        return WEFT_ENOMEM;
    weft__task *t = w->current;
    weft_node *node = weft__node_of(n, t);
    op->bk[3] = 0;
    if (op->kind == WEFT__IO_CLOSE && dead_owner(op->h)) {
        /* Closed all the same (the record goes), and told that it was dead. */
        int r = op->h->type == WEFT__H_FILE ? weft__disk_submit(n, node, op) : weft__net_submit(n, node, op);
        return r < 0 ? r : WEFT_EBADF;
    }
    if (op->kind != WEFT__IO_CLOSE && op->kind != WEFT__IO_RELEASE) {
        /* A task of a node that crashed since it was spawned is dead: its IO
         * never reaches the world again. */
        if (node->down || (t && weft__task_node(t) && weft__task_cold_of(t)->io_node_life != node->head.life))
            return WEFT_ECANCELED;
        weft_node *dead = dead_owner(op->h);
        if (dead)
            return WEFT_MISUSE(WEFT_EBADF, "a handle of node %s from before its crash: dead since", dead->name);
        if (node->paused) {
            op->bk[3] = WAIT_PAUSED;
            weft__list_push_tail(&node->paused_ops, &op->link);
            return WEFT__IO_PENDING;
        }
    }
    if (is_file(op->kind) || (op->h && op->h->type == WEFT__H_FILE))
        return weft__disk_submit(n, node, op);
    if (op->kind == WEFT__IO_RESOLVE)
        return resolve(n, op);
    return weft__net_submit(n, node, op);
}

bool weft__simio_cancel(weft__io *op)
{
    if (op->bk[3] == WAIT_PAUSED) {
        weft_node *node = weft__node_of(weft__sim_of(weft__task_rt(op->task))->net, op->task);
        weft__list_remove(&node->paused_ops, &op->link);
        op->bk[3] = 0;
        return weft__io_claim(op);
    }
    if (op->h && op->h->type == WEFT__H_FILE)
        return weft__disk_cancel(op);
    return weft__net_cancel(op);
}

/* ---- clocks ----------------------------------------------------------------------- */

static uint64_t to_local(const weft_node *node, uint64_t g)
{
    __extension__ typedef __int128 i128;
    i128 l = (i128)g + node->skew_ns + (i128)g * node->drift_ppm / 1000000;
    return l < 0 ? 0 : l > (i128)(UINT64_MAX - 1) ? UINT64_MAX - 1 : (uint64_t)l;
}

uint64_t weft__simio_node_time(const weft__task *t, uint64_t time, bool local)
{
    const weft_node *node = t ? weft__task_node(t) : NULL;
    if (!node || (node->skew_ns == 0 && node->drift_ppm == 0) || time == UINT64_MAX)
        return time;
    if (local)
        return to_local(node, time);
    /* The first runtime time at which the node's clock reads `time`. */
    __extension__ typedef __int128 i128;
    i128 g = ((i128)time - node->skew_ns) * 1000000 / (1000000 + node->drift_ppm);
    if (g < 0)
        g = 0;
    if (g > (i128)(UINT64_MAX - 2))
        return UINT64_MAX - 1;
    uint64_t r = (uint64_t)g;
    while (r < UINT64_MAX - 2 && to_local(node, r) < time)
        r++;
    while (r > 0 && to_local(node, r - 1) >= time)
        r--;
    return r;
}

/* ---- the public controls --------------------------------------------------------------- */

/* The simulated world of the calling task's runtime, or the code saying why
 * not. */
static int world(weft__simnet **out, const char *what)
{
    weft__worker *w;
    int r = weft__require_task(&w, what);
    if (r < 0)
        return r;
    if (!weft__sim_of(w->rt))
        return WEFT_MISUSE(WEFT_ENOTSUP, "%s: nodes and network faults exist only in simulation", what);
    *out = weft__simnet_get(w->rt);
    return *out ? 0 : WEFT_ENOMEM;
}

/* Every time of a config is at most WEFT_SIM_DELAY_MAX. */
static int check_times(const uint64_t *t, size_t count, const char *what)
{
    for (size_t i = 0; i < count; i++)
        if (t[i] > WEFT_SIM_DELAY_MAX)
            return WEFT_MISUSE(WEFT_EINVAL, "%s: a time of %llu ns is above WEFT_SIM_DELAY_MAX (2^48 ns)", what,
                               (unsigned long long)t[i]);
    return 0;
}

static int check_node(weft__simnet *n, const weft_node *node, const char *what)
{
    for (size_t i = 1; i < n->nnodes; i++)
        if (n->nodes[i] == node)
            return 0;
    return WEFT_MISUSE(WEFT_EINVAL, "%s: not a node of this runtime", what);
}

int weft_node_new(weft_node **out, const char *name, const char *addr)
{
    if (out)
        *out = NULL;
    weft__simnet *n;
    int r = world(&n, "weft_node_new");
    if (r < 0)
        return r;
    if (!out || !name || !*name || !addr)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_node_new: NULL output, name or address");
    weft__addr a;
    if (weft__addr_parse(addr, &a, true) < 0 || a.port)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_node_new: \"%.64s\" is not a numeric address without a port", addr);
    static const uint8_t zero[16];
    if (!memcmp(a.ip, zero, 16))
        return WEFT_MISUSE(WEFT_EINVAL, "weft_node_new: the wildcard address is no node's");
    if (weft__node_by_addr(n, &a))
        return WEFT_MISUSE(WEFT_EADDRINUSE, "weft_node_new: another node has %s", addr);
    weft_node *node = node_make(n, name, &a);
    if (!node)
        return WEFT_ENOMEM;
    *out = node;
    return 0;
}

weft_node *weft_node_current(void)
{
    weft__task *t = weft__current();
    return t ? weft__task_node(t) : NULL;
}

const char *weft_node_name(const weft_node *n)
{
    return n ? n->name : "host";
}

/* Every live task of node: cancelled (a crash kills them). */
static void kill_tasks(weft_rt *rt, weft_node *node)
{
    uint32_t slots = weft__task_slots(rt);
    for (uint32_t i = 0; i < slots; i++) {
        weft__task *t = weft__task_at(rt, i);
        unsigned st = weft__task_get_state(t);
        if (st == WEFT__T_FREE || st == WEFT__T_FINISHED || st == WEFT__T_ABANDONED || weft__task_node(t) != node)
            continue;
        weft__cancel_task(rt, t, WEFT_ECANCELED);
    }
}

int weft_node_crash(weft_node *node)
{
    weft__simnet *n;
    int r = world(&n, "weft_node_crash");
    if (r < 0 || (r = check_node(n, node, "weft_node_crash")) < 0)
        return r;
    if (node->down)
        return WEFT_EALREADY;
    node->down = true;
    node->paused = false;
    node->head.life++;
    weft__net_node_down(n, node);
    weft__disk_crash(n, node);
    /* Ops parked by a pause belong to the dead: they end now. */
    weft_link *l;
    while ((l = weft__list_pop_head(&node->paused_ops)) != NULL) {
        weft__io *op = WEFT_LIST_ENTRY(l, weft__io, link);
        op->bk[3] = 0;
        weft__io_complete(op, WEFT_ECANCELED);
    }
    kill_tasks(n->rt, node);
    /* Its handles died with it: what other nodes' tasks still wait for on
     * them ends now (its own tasks' calls ended with the cancellation). */
    weft__net_node_dead_waits(n, node);
    return 0;
}

int weft_node_restart(weft_node *node, void *(*fn)(void *), void *arg)
{
    weft__simnet *n;
    int r = world(&n, "weft_node_restart");
    if (r < 0 || (r = check_node(n, node, "weft_node_restart")) < 0)
        return r;
    if (!fn)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_node_restart: NULL function");
    if (!node->down)
        return WEFT_MISUSE(WEFT_EBUSY, "weft_node_restart: node %s is not down", node->name);
    node->down = false;
    node->next_port = WEFT__EPHEMERAL_FIRST;
    weft_spawn_opts o = {.name = node->name, .node = node};
    r = weft_spawn_ex(NULL, fn, arg, &o);
    if (r < 0)
        node->down = true;
    return r;
}

int weft_node_pause(weft_node *node, int on)
{
    weft__simnet *n;
    int r = world(&n, "weft_node_pause");
    if (r < 0 || (r = check_node(n, node, "weft_node_pause")) < 0)
        return r;
    if (node->down)
        return WEFT_MISUSE(WEFT_EBUSY, "weft_node_pause: node %s is down", node->name);
    bool was = node->paused;
    node->paused = on != 0;
    if (was && !node->paused) {
        /* Resumed: its waiting calls go on, in the order they came. */
        weft_link *l;
        while ((l = weft__list_pop_head(&node->paused_ops)) != NULL) {
            weft__io *op = WEFT_LIST_ENTRY(l, weft__io, link);
            op->bk[3] = 0;
            weft__io_complete(op, WEFT__IO_AGAIN);
        }
        weft__net_node_resumed(n, node);
    }
    return 0;
}

int weft_node_clock(weft_node *node, int64_t skew_ns, int32_t drift_ppm)
{
    weft__simnet *n;
    int r = world(&n, "weft_node_clock");
    if (r < 0 || (r = check_node(n, node, "weft_node_clock")) < 0)
        return r;
    if (drift_ppm <= -WEFT__DRIFT_MAX_PPM || drift_ppm >= WEFT__DRIFT_MAX_PPM)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_node_clock: drift %d ppm is not within +-%d", (int)drift_ppm,
                           WEFT__DRIFT_MAX_PPM);
    node->skew_ns = skew_ns;
    node->drift_ppm = drift_ppm;
    return 0;
}

int weft_net_config_set(const weft_net_config *c)
{
    weft__simnet *n;
    int r = world(&n, "weft_net_config_set");
    if (r < 0)
        return r;
    if (!c)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_net_config_set: NULL config");
    if (c->tail_permille > 1000 || c->loss_permille > 1000 || c->dup_permille > 1000 ||
        c->reorder_permille > 1000 || c->short_io_permille > 1000)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_net_config_set: a permille above 1000");
    /* The drawn minimum and mean are bounded too: a config read back with
     * weft_net_config_get must be one weft_net_config_set takes. */
    const uint64_t times[] = {c->latency_min_ns + c->latency_min_spread_ns,
                              c->latency_mean_ns + c->latency_mean_spread_ns,
                              c->tail_ns,
                              c->reorder_ns,
                              c->connect_timeout_ns,
                              c->latency_min_ns,
                              c->latency_mean_ns,
                              c->latency_min_spread_ns, /* each alone too: a sum may wrap */
                              c->latency_mean_spread_ns};
    if ((r = check_times(times, sizeof times / sizeof *times, "weft_net_config_set")) < 0)
        return r;
    n->cfg = *c;
    /* Drawn here, once: the run's network is part of what its seed decides. */
    n->cfg.latency_min_ns = weft__net_uniform(n, c->latency_min_ns, c->latency_min_spread_ns);
    n->cfg.latency_mean_ns = weft__net_uniform(n, c->latency_mean_ns, c->latency_mean_spread_ns);
    n->cfg.latency_min_spread_ns = n->cfg.latency_mean_spread_ns = 0;
    return 0;
}

int weft_net_config_get(weft_net_config *out)
{
    weft__simnet *n;
    int r = world(&n, "weft_net_config_get");
    if (r < 0)
        return r;
    if (!out)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_net_config_get: NULL out");
    *out = n->cfg;
    return 0;
}

static int add_part(weft__simnet *n, weft_node *from, weft_node *to)
{
    if (from == to)
        return 0;
    for (size_t i = 0; i < n->nparts; i++)
        if (n->parts[i].from == from && n->parts[i].to == to)
            return 0;
    if (weft__grow(&n->rt->base_alloc, (void **)&n->parts, &n->parts_cap, n->nparts, sizeof *n->parts, 8) < 0)
        return WEFT_ENOMEM;
    n->parts[n->nparts++] = (weft__partition){from, to};
    return 0;
}

int weft_net_partition(weft_node *const *a, size_t na, weft_node *const *b, size_t nb, int oneway)
{
    weft__simnet *n;
    int r = world(&n, "weft_net_partition");
    if (r < 0)
        return r;
    if ((!a && na) || (!b && nb))
        return WEFT_MISUSE(WEFT_EINVAL, "weft_net_partition: NULL node set");
    for (size_t i = 0; i < na + nb; i++) {
        weft_node *x = i < na ? a[i] : b[i - na];
        if (x && (r = check_node(n, x, "weft_net_partition")) < 0)
            return r;
    }
    for (size_t i = 0; i < na; i++) {
        for (size_t j = 0; j < nb; j++) {
            weft_node *x = a[i] ? a[i] : n->nodes[0], *y = b[j] ? b[j] : n->nodes[0];
            if ((r = add_part(n, x, y)) < 0 || (!oneway && (r = add_part(n, y, x)) < 0))
                return r;
        }
    }
    weft__net_partitioned(n);
    return 0;
}

int weft_net_heal(void)
{
    weft__simnet *n;
    int r = world(&n, "weft_net_heal");
    if (r < 0)
        return r;
    n->nparts = 0;
    return 0;
}

int weft_net_clog(weft_node *from, weft_node *to, uint64_t until_ns)
{
    weft__simnet *n;
    int r = world(&n, "weft_net_clog");
    if (r < 0)
        return r;
    if ((from && (r = check_node(n, from, "weft_net_clog")) < 0) || (to && (r = check_node(n, to, "weft_net_clog")) < 0))
        return r;
    if (weft__grow(&n->rt->base_alloc, (void **)&n->clogs, &n->clogs_cap, n->nclogs, sizeof *n->clogs, 8) < 0)
        return WEFT_ENOMEM;
    n->clogs[n->nclogs++] = (weft__clog){from ? from : n->nodes[0], to ? to : n->nodes[0], until_ns};
    return 0;
}

int weft_disk_config_set(weft_node *node, const weft_disk_config *c)
{
    weft__simnet *n;
    int r = world(&n, "weft_disk_config_set");
    if (r < 0)
        return r;
    if (!c || c->read_error_permille > 1000 || c->write_error_permille > 1000 || c->torn_permille > 1000)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_disk_config_set: NULL config or a permille above 1000");
    if (c->block_size && (c->block_size & (c->block_size - 1)))
        return WEFT_MISUSE(WEFT_EINVAL, "weft_disk_config_set: block_size %u is not a power of two", c->block_size);
    const uint64_t times[] = {c->latency_min_ns, c->latency_spread_ns, c->latency_min_ns + c->latency_spread_ns};
    if ((r = check_times(times, 3, "weft_disk_config_set")) < 0)
        return r;
    if (node) {
        if ((r = check_node(n, node, "weft_disk_config_set")) < 0)
            return r;
        node->disk = *c;
        return 0;
    }
    for (size_t i = 0; i < n->nnodes; i++)
        n->nodes[i]->disk = *c;
    return 0;
}
