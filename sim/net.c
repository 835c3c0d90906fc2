/* net.c — the simulated network: TCP-like streams (reliable and ordered, with
 * a receive window, until a crash or a partition resets them) and datagrams
 * (lost, duplicated, reordered) between nodes, each packet delivered by a
 * timer after a latency drawn from the seed's timing stream (an exponential
 * over a minimum, plus a tail; the minimum and mean themselves drawn once per
 * seed when the config gives spreads, as TigerBeetle's packet simulator does);
 * partitions (symmetric or one-way), clogged paths, paused and crashed
 * nodes. Faults come from the fault stream. No address here ever reaches a
 * real socket: this file makes no system call.
 *
 * A stream's order does not rest on its timers: a packet's timer is on the
 * wheel of the worker that sent it, and two tasks on two workers writing one
 * socket make two packets due at the same instant on two wheels, which the
 * simulator may fire in either order. So, as TCP reassembles by sequence
 * number, every packet a stream socket sends takes the socket's next number,
 * and is taken (handled, dropped or held at a paused node) only in its turn;
 * one whose timer fires early waits on its sender until its predecessor has
 * been taken. A packet held at a paused node keeps its turn until the resume
 * re-sends it, so nothing of its sender overtakes it then either. */
#include "net.h"

#include <stdio.h>

/* A stream's receive window: a writer waits when this much is unread. */
#define WEFT__SIM_WINDOW (64u * 1024u)
/* Datagrams a socket queues before it drops (a receive buffer's worth). */
#define WEFT__SIM_DGRAM_QUEUE 256u
/* The largest datagram (IPv4's UDP payload limit). */
#define WEFT__SIM_DGRAM_MAX 65507u
/* A SYN that gets no answer fails the connect after this (virtual) time. */
#define WEFT__SIM_CONNECT_TIMEOUT (1000000000ull)
/* Latency draws are capped at this many means (the exponential's tail
 * beyond is 2 in a billion, and a cap keeps virtual time sane). */
#define WEFT__SIM_EXP_CAP 20u

enum { WAIT_NET = 2 };

/* ---- draws -------------------------------------------------------------------------- */

/* log2(x) for x in [2^63, 2^64) as 32 fractional bits, by repeated squaring:
 * integer arithmetic only, so every machine draws the same latency. */
static uint64_t log2_frac(uint64_t x)
{
    __extension__ typedef unsigned __int128 u128;
    uint64_t frac = 0;
    for (int i = 0; i < 32; i++) {
        u128 sq = (u128)x * x; /* x in [1,2) as Q1.63: x^2 in [1,4) as Q2.126 */
        frac <<= 1;
        if (sq >> 127) {
            frac |= 1;
            x = (uint64_t)(sq >> 64);
        } else {
            x = (uint64_t)(sq >> 63);
        }
    }
    return frac;
}

uint64_t weft__net_exp(weft__simnet *n, uint64_t min, uint64_t mean)
{
    if (mean == 0)
        return min;
    uint64_t u = weft__decide(n->sim, WEFT__S_TIMING, 0, false);
    if (u == 0)
        u = 1;
    /* -ln(u / 2^64) = (64 - log2 u) * ln 2, in Q32. */
    int msb = 63 - __builtin_clzll(u);
    uint64_t lg = ((uint64_t)(63 - msb) << 32) + ((1ull << 32) - log2_frac(u << (63 - msb)));
    __extension__ typedef unsigned __int128 u128;
    u128 e = ((u128)lg * 2977044472u) >> 32; /* ln 2 in Q32 */
    u128 d = ((u128)mean * e) >> 32;
    u128 cap = (u128)mean * WEFT__SIM_EXP_CAP;
    if (d > cap)
        d = cap;
    uint64_t r = (uint64_t)d;
    return min > UINT64_MAX - r ? UINT64_MAX : min + r;
}

uint64_t weft__net_uniform(weft__simnet *n, uint64_t lo, uint64_t spread)
{
    if (!spread)
        return lo;
    return lo + weft__decide(n->sim, WEFT__S_TIMING, 0, false) % (spread + 1);
}

static bool chance(weft__simnet *n, unsigned permille)
{
    return permille && weft__decide(n->sim, WEFT__S_FAULT, 1000, false) < permille;
}

static uint64_t latency(weft__simnet *n)
{
    const weft_net_config *c = &n->cfg;
    uint64_t l = weft__net_exp(n, c->latency_min_ns, c->latency_mean_ns);
    if (c->tail_permille && weft__decide(n->sim, WEFT__S_TIMING, 1000, false) < c->tail_permille)
        l += c->tail_ns;
    return l;
}

void weft__net_trace(weft__simnet *n, int ev, const weft_node *from, const weft_node *to, uint64_t b)
{
    weft__worker *w = weft__tls_worker;
    weft__trace(n->sim, WEFT__EV_NET, w ? (int)w->index : -1, (unsigned)ev,
                (int32_t)((from ? from->id : 0xFFFFu) << 16 | (to ? to->id : 0xFFFFu)), b, NULL);
}

/* ---- paths ----------------------------------------------------------------------------- */

bool weft__net_blocked(const weft__simnet *n, const weft_node *from, const weft_node *to)
{
    for (size_t i = 0; i < n->nparts; i++)
        if (n->parts[i].from == from && n->parts[i].to == to)
            return true;
    return false;
}

static uint64_t clogged_until(const weft__simnet *n, const weft_node *from, const weft_node *to)
{
    uint64_t until = 0;
    for (size_t i = 0; i < n->nclogs; i++)
        if (n->clogs[i].from == from && n->clogs[i].to == to && n->clogs[i].until > until)
            until = n->clogs[i].until;
    return until;
}

/* ---- packets ---------------------------------------------------------------------------- */

static void deliver(weft_timer *tm, void *arg);

static weft__packet *pkt_new(weft__simnet *n, int kind, weft_node *from, weft_node *to, size_t len)
{
    weft__packet *p = weft__simnet_alloc(n, sizeof *p + len);
    if (!p)
        return NULL;
    p->net = n;
    p->kind = (uint8_t)kind;
    p->from = from;
    p->to = to;
    p->len = len;
    weft__list_push_tail(&n->packets, &p->all);
    return p;
}

static void pkt_free(weft__simnet *n, weft__packet *p)
{
    weft__list_remove(&n->packets, &p->all);
    weft__simnet_free_mem(n, p, sizeof *p + p->len);
}

/* Deliver p at `at` (runtime time), on the calling worker's timers. */
static void pkt_send_at(weft__simnet *n, weft__packet *p, uint64_t at)
{
    weft__net_trace(n, WEFT__PKT_SEND, p->from, p->to, p->len);
    weft_timer_init(&p->timer);
    p->timer.deadline = at;
    p->timer.cb = deliver;
    p->timer.arg = p;
    weft__wheel_insert(&weft__tls_worker->wheel, &p->timer);
}

static uint64_t now(weft__simnet *n)
{
    return n->sim->now;
}

/* A stream packet from endpoint s to its peer, after every earlier one: due
 * no sooner, and taken no sooner (its number). */
static void stream_send(weft__simnet *n, weft__simsock *s, weft__packet *p)
{
    p->sender = s;
    p->seq = s->seq_next++;
    uint64_t at = now(n) + latency(n);
    uint64_t clog = clogged_until(n, p->from, p->to);
    if (at < clog)
        at = clog;
    if (at < s->last_at)
        at = s->last_at;
    s->last_at = at;
    pkt_send_at(n, p, at);
}

static void reset_to(weft__simnet *n, weft__simsock *from, weft__simsock *to, int err)
{
    if (!to)
        return;
    weft__packet *p = pkt_new(n, WEFT__PK_RST, from ? from->node : to->node, to->node, 0);
    if (!p)
        return;
    p->dst = to;
    p->err = err;
    if (from)
        stream_send(n, from, p);
    else
        pkt_send_at(n, p, now(n) + latency(n));
}

/* ---- sockets ------------------------------------------------------------------------------ */

static weft__simsock *sock_new(weft__simnet *n, weft_node *node, int type)
{
    weft__simsock *s = weft__simnet_alloc(n, sizeof *s);
    if (!s)
        return NULL;
    s->node = node;
    s->life = node->head.life;
    s->id = n->next_sock_id++;
    s->type = (uint8_t)type;
    weft_timer_init(&s->connect_timer);
    weft__list_push_tail(&n->socks, &s->link);
    return s;
}

static bool live(const weft__simsock *s)
{
    return s && !s->closed && !s->released && s->life == s->node->head.life && !s->node->down;
}

static weft__simsock *bound(weft__simnet *n, weft_node *node, int type, uint16_t port, const weft__addr *a)
{
    for (weft_link *l = n->socks.head; l; l = l->next) {
        weft__simsock *s = WEFT_LIST_ENTRY(l, weft__simsock, link);
        if (live(s) && s->node == node && s->type == type && s->local.port == port &&
            s->local.family == a->family)
            return s;
    }
    return NULL;
}

static int pick_port(weft__simnet *n, weft_node *node, int type, weft__addr *a)
{
    if (a->port)
        return bound(n, node, type, a->port, a) ? WEFT_EADDRINUSE : 0;
    for (unsigned tries = 0; tries < 65536u; tries++) {
        uint16_t p = node->next_port++;
        if (node->next_port == 0)
            node->next_port = 32768;
        if (p >= 1024 && !bound(n, node, type, p, a)) {
            a->port = p;
            return 0;
        }
    }
    return WEFT_EADDRINUSE;
}

/* The node's own address of the family of a (for a socket's local name). */
static weft__addr own_addr(const weft_node *node, const weft__addr *a)
{
    weft__addr r = node->addr;
    if (node->id == 0 || r.family != a->family)
        weft__addr_parse(a->family == 4 ? "127.0.0.1" : "[::1]", &r, true);
    return r;
}

static void wake(weft__io **slot, int64_t result)
{
    weft__io *op = *slot;
    *slot = NULL;
    if (op) {
        op->bk[3] = 0;
        weft__io_complete(op, result);
    }
}

static void wait_on(weft__io **slot, weft__io *op)
{
    op->bk[3] = WAIT_NET;
    *slot = op;
}

static void rx_append(weft__simnet *n, weft__simsock *s, const uint8_t *data, size_t len)
{
    if (s->rx_head && s->rx_head == s->rx_len) {
        s->rx_head = s->rx_len = 0;
    }
    if (s->rx_len + len > s->rx_cap) {
        /* Compact, then grow: the window bounds it. */
        size_t live_len = s->rx_len - s->rx_head;
        size_t cap = s->rx_cap ? s->rx_cap : 4096;
        while (cap < live_len + len)
            cap *= 2;
        uint8_t *b = weft__simnet_alloc(n, cap);
        if (!b)
            return; /* (the world's books do not fail in practice) */
        if (live_len)
            memcpy(b, s->rx + s->rx_head, live_len);
        weft__simnet_free_mem(n, s->rx, s->rx_cap);
        s->rx = b;
        s->rx_cap = cap;
        s->rx_head = 0;
        s->rx_len = live_len;
    }
    memcpy(s->rx + s->rx_len, data, len);
    s->rx_len += len;
}

static size_t rx_avail(const weft__simsock *s)
{
    return s->rx_len - s->rx_head;
}

/* A stream after a reset, as Linux has it (measured on loopback, and what
 * weft's real reactors pass on from recv and send):
 *  - a reset (an RST, or here a partition) ends the connection both ways and
 *    leaves one pending error: EPIPE if the peer's FIN had come and s had not
 *    sent its own (CLOSE_WAIT: tcp_reset), else ECONNRESET;
 *  - a read returns the bytes still unread first; then 0 if the peer's FIN
 *    had come, reset or not (SOCK_DONE is tested before the error); else the
 *    pending error, once; then 0;
 *  - a write returns the pending error, once; then EPIPE (as after
 *    shutdown(WR));
 *  - shutdown returns ENOTCONN, and close sends nothing.
 * So a program that writes to a peer that has closed cleanly sees its first
 * write succeed (the peer's node answers it with a reset, a latency later),
 * then EPIPE, and reads 0 throughout; one whose peer closed with bytes unread
 * (a reset, no FIN) reads ECONNRESET once, then 0. */
static void conn_reset(weft__simsock *s, int err)
{
    s->reset = true;
    s->error = err == WEFT_ECONNRESET && s->eof && !s->wr_shut ? WEFT_EPIPE : err;
    wake(&s->reader, WEFT__IO_AGAIN);
    wake(&s->writer, WEFT__IO_AGAIN);
}

/* s's pending error, reported once (a dead node's socket keeps its own). */
static int take_error(weft__simsock *s)
{
    int e = s->error;
    if (e != WEFT_ECANCELED)
        s->error = 0;
    return e;
}

/* ---- delivery ------------------------------------------------------------------------------ */

static void on_syn(weft__simnet *n, weft__packet *p)
{
    weft__simsock *c = p->src;
    weft__simsock *l = bound(n, p->to, WEFT__H_LISTENER, p->to_addr.port, &p->to_addr);
    if (!l || l->npending >= (size_t)l->backlog) {
        reset_to(n, NULL, c, WEFT_ECONNREFUSED);
        return;
    }
    weft__simsock *s = sock_new(n, p->to, WEFT__H_STREAM);
    if (!s) {
        reset_to(n, NULL, c, WEFT_ECONNREFUSED);
        return;
    }
    s->local = p->to_addr;
    s->peer = p->from_addr;
    s->connected = true;
    s->remote = c;
    weft__list_push_tail(&l->pending, &s->accept_link);
    l->npending++;
    wake(&l->reader, WEFT__IO_AGAIN);
    weft__packet *ack = pkt_new(n, WEFT__PK_SYNACK, p->to, p->from, 0);
    if (ack) {
        ack->dst = c;
        ack->src = s;
        stream_send(n, s, ack);
    }
}

static void on_synack(weft__simnet *n, weft__packet *p)
{
    weft__simsock *c = p->dst;
    if (!live(c) || !c->connecting) {
        reset_to(n, p->src, p->src, WEFT_ECONNRESET); /* the client went away meanwhile */
        return;
    }
    c->connecting = false;
    c->connected = true;
    c->remote = p->src;
    weft__timer_disarm(&c->connect_timer);
    wake(&c->writer, 0);
}

static void on_data(weft__simnet *n, weft__packet *p)
{
    weft__simsock *d = p->dst;
    if (!live(d)) {
        /* Bytes for a closed socket are answered with a reset. It comes
         * from that socket while its node lives on (after its FIN, as a
         * kernel sends them), or from the node's next life. */
        if (d && d->remote == p->src)
            reset_to(n, d->life == d->node->head.life ? d : NULL, p->src, WEFT_ECONNRESET);
        return;
    }
    if (d->reset)
        return;
    if (d->rd_shut) {
        /* Read side shut: the bytes are dropped but still free the window. */
        if (p->src && p->src->tx_pending >= p->len)
            p->src->tx_pending -= p->len;
        return;
    }
    rx_append(n, d, p->data, p->len);
    wake(&d->reader, WEFT__IO_AGAIN);
}

static void on_dgram(weft__simnet *n, weft__packet *p)
{
    weft__simsock *d = bound(n, p->to, WEFT__H_DGRAM, p->to_addr.port, &p->to_addr);
    if (!d || d->ndgrams >= WEFT__SIM_DGRAM_QUEUE) {
        weft__net_trace(n, WEFT__PKT_DROP, p->from, p->to, p->len);
        pkt_free(n, p);
        return;
    }
    weft__list_push_tail(&d->dgrams, &p->link);
    d->ndgrams++;
    wake(&d->reader, WEFT__IO_AGAIN);
}

/* p has reached its node: dropped (the node is down or the path cut),
 * held (the node is paused: false, and a stream packet keeps its turn), or
 * handled (freed, or a datagram queued). */
static bool arrive(weft__simnet *n, weft__packet *p)
{
    if (p->to->down || weft__net_blocked(n, p->from, p->to)) {
        weft__net_trace(n, WEFT__PKT_DROP, p->from, p->to, p->len);
        pkt_free(n, p);
        return true;
    }
    if (p->to->paused) {
        weft__list_push_tail(&p->to->held, &p->link);
        return false;
    }
    weft__net_trace(n, WEFT__PKT_DELIVER, p->from, p->to, p->len);
    switch (p->kind) {
    case WEFT__PK_SYN: on_syn(n, p); break;
    case WEFT__PK_SYNACK: on_synack(n, p); break;
    case WEFT__PK_DATA: on_data(n, p); break;
    case WEFT__PK_FIN:
        if (live(p->dst) && !p->dst->reset) {
            p->dst->eof = true;
            wake(&p->dst->reader, WEFT__IO_AGAIN);
        }
        break;
    case WEFT__PK_RST: {
        weft__simsock *d = p->dst;
        if (!live(d))
            break;
        if (d->connecting) {
            d->connecting = false;
            weft__timer_disarm(&d->connect_timer);
            wake(&d->writer, p->err);
            break;
        }
        if (!d->reset)
            conn_reset(d, p->err);
        break;
    }
    case WEFT__PK_DGRAM: on_dgram(n, p); return true; /* kept in the queue */
    }
    pkt_free(n, p);
    return true;
}

/* s's packet whose turn it is, if it came early and waits; unlinked. */
static weft__packet *turn_come(weft__simsock *s)
{
    weft_link *l = s->seq_held.head;
    if (!l || WEFT_LIST_ENTRY(l, weft__packet, link)->seq != s->seq_turn)
        return NULL;
    weft__list_pop_head(&s->seq_held);
    return WEFT_LIST_ENTRY(l, weft__packet, link);
}

/* It is stream packet p's turn: p arrives, then each packet of its sender
 * that waits for the turn after, until one is held at a paused node. */
static void take_turns(weft__simnet *n, weft__packet *p)
{
    weft__simsock *s = p->sender;
    do {
        if (!arrive(n, p))
            return;
        s->seq_turn++;
    } while ((p = turn_come(s)) != NULL);
}

static void deliver(weft_timer *tm, void *arg)
{
    (void)tm;
    weft__packet *p = arg;
    weft__simnet *n = p->net;
    if (p->kind == WEFT__PK_LATER) {
        weft__io *op = p->op;
        pkt_free(n, p);
        op->bk[3] = 0;
        weft__io_complete(op, op->result);
        return;
    }
    weft__simsock *s = p->sender;
    if (!s) {
        arrive(n, p); /* a datagram, or a reset from no stream */
        return;
    }
    if (p->seq != s->seq_turn) {
        /* Early: it waits for its predecessors, in number order. */
        weft_link *after = s->seq_held.tail;
        while (after && WEFT_LIST_ENTRY(after, weft__packet, link)->seq > p->seq)
            after = after->prev;
        weft__list_insert_after(&s->seq_held, after, &p->link);
        return;
    }
    take_turns(n, p);
}

int weft__net_later(weft__simnet *n, weft_node *node, uint64_t at, weft__io *op)
{
    weft__packet *p = pkt_new(n, WEFT__PK_LATER, node, node, 0);
    if (!p)
        return WEFT_ENOMEM;
    p->op = op;
    weft_timer_init(&p->timer);
    p->timer.deadline = at;
    p->timer.cb = deliver;
    p->timer.arg = p;
    weft__wheel_insert(&weft__tls_worker->wheel, &p->timer);
    return 0;
}

static void connect_timeout(weft_timer *tm, void *arg)
{
    (void)tm;
    weft__simsock *c = arg;
    if (c->connecting) {
        c->connecting = false;
        wake(&c->writer, WEFT_ETIMEDOUT);
    }
}

/* ---- operations ---------------------------------------------------------------------------- */

static int bind_sock(weft__simnet *n, weft_node *node, weft__io *op, int type)
{
    weft__addr a = op->addr;
    if (!weft__node_owns(node, &a))
        return WEFT_EADDRNOTAVAIL;
    int r = pick_port(n, node, type, &a);
    if (r < 0)
        return r;
    weft__simsock *s = sock_new(n, node, type);
    if (!s)
        return WEFT_ENOMEM;
    s->local = a;
    s->backlog = op->arg > 0 ? op->arg : 128;
    op->h->bk = s;
    op->h->type = (uint8_t)type;
    return 0;
}

static int connect_start(weft__simnet *n, weft_node *node, weft__io *op)
{
    weft__simsock *c = sock_new(n, node, WEFT__H_STREAM);
    if (!c)
        return WEFT_ENOMEM;
    op->h->bk = c;
    op->h->type = WEFT__H_STREAM;
    c->local = own_addr(node, &op->addr);
    int r = pick_port(n, node, WEFT__H_STREAM, &c->local);
    if (r < 0)
        return r;
    c->peer = op->addr;
    c->connecting = true;
    weft_node *to = weft__node_by_addr(n, &op->addr);
    if (!to) {
        reset_to(n, NULL, c, WEFT_EHOSTUNREACH);
    } else if (!weft__net_blocked(n, node, to)) {
        weft__packet *p = pkt_new(n, WEFT__PK_SYN, node, to, 0);
        if (!p)
            return WEFT_ENOMEM;
        p->src = c;
        p->from_addr = c->local;
        p->to_addr = op->addr;
        stream_send(n, c, p);
    } else {
        weft__net_trace(n, WEFT__PKT_DROP, node, to, 0);
    }
    uint64_t t = n->cfg.connect_timeout_ns ? n->cfg.connect_timeout_ns : WEFT__SIM_CONNECT_TIMEOUT;
    c->connect_timer.deadline = now(n) + t;
    c->connect_timer.cb = connect_timeout;
    c->connect_timer.arg = c;
    weft__wheel_insert(&weft__tls_worker->wheel, &c->connect_timer);
    wait_on(&c->writer, op);
    return WEFT__IO_PENDING;
}

/* How much of n bytes a stream call moves: all, or (a fault) fewer. */
static size_t cut(weft__simnet *n, size_t len)
{
    if (len > 1 && chance(n, n->cfg.short_io_permille))
        return 1 + (size_t)weft__decide(n->sim, WEFT__S_FAULT, (uint32_t)(len - 1 > UINT32_MAX ? UINT32_MAX : len - 1),
                                        false);
    return len;
}

static int stream_read(weft__simnet *n, weft__simsock *s, weft__io *op)
{
    size_t avail = rx_avail(s);
    if (avail && !s->rd_shut) {
        size_t k = cut(n, op->len < avail ? op->len : avail);
        memcpy(op->buf, s->rx + s->rx_head, k);
        s->rx_head += k;
        weft__simsock *peer = s->remote;
        if (peer && peer->tx_pending >= k) {
            peer->tx_pending -= k;
            wake(&peer->writer, WEFT__IO_AGAIN);
        }
        op->result = (int64_t)k;
        return 0;
    }
    /* (See conn_reset for the rule.) */
    if (s->error && (!s->eof || s->error == WEFT_ECANCELED))
        return take_error(s);
    if (s->eof || s->reset || s->rd_shut || op->len == 0)
        return 0;
    if (!s->connected)
        return WEFT_ENOTCONN;
    wait_on(&s->reader, op);
    return WEFT__IO_PENDING;
}

static int stream_write(weft__simnet *n, weft__simsock *s, weft__io *op)
{
    if (s->error)
        return take_error(s); /* (see conn_reset) */
    if (s->reset || s->wr_shut)
        return WEFT_EPIPE;
    if (!s->connected)
        return WEFT_ENOTCONN;
    if (op->len == 0)
        return 0;
    if (s->tx_pending >= WEFT__SIM_WINDOW) {
        wait_on(&s->writer, op);
        return WEFT__IO_PENDING;
    }
    size_t space = WEFT__SIM_WINDOW - s->tx_pending;
    size_t k = cut(n, op->len < space ? op->len : space);
    weft__simsock *peer = s->remote;
    weft__packet *p = pkt_new(n, WEFT__PK_DATA, s->node, peer->node, k);
    if (!p)
        return WEFT_ENOMEM;
    memcpy(p->data, op->buf, k);
    p->dst = peer;
    p->src = s;
    s->tx_pending += k;
    stream_send(n, s, p);
    op->result = (int64_t)k;
    return 0;
}

static void send_fin(weft__simnet *n, weft__simsock *s)
{
    if (!s->remote || s->wr_shut)
        return;
    s->wr_shut = true;
    weft__packet *p = pkt_new(n, WEFT__PK_FIN, s->node, s->remote->node, 0);
    if (p) {
        p->dst = s->remote;
        p->src = s;
        stream_send(n, s, p);
    }
}

static int sendto(weft__simnet *n, weft__simsock *s, weft__io *op)
{
    if (op->len > WEFT__SIM_DGRAM_MAX)
        return WEFT_EMSGSIZE;
    if (op->addr.family != s->local.family)
        return WEFT_EAFNOSUPPORT;
    weft_node *to = weft__node_by_addr(n, &op->addr);
    op->result = (int64_t)op->len;
    if (!to || chance(n, n->cfg.loss_permille) || weft__net_blocked(n, s->node, to)) {
        weft__net_trace(n, WEFT__PKT_DROP, s->node, to, op->len);
        return 0; /* a datagram may vanish: the sender never knows */
    }
    int copies = chance(n, n->cfg.dup_permille) ? 2 : 1;
    for (int i = 0; i < copies; i++) {
        weft__packet *p = pkt_new(n, WEFT__PK_DGRAM, s->node, to, op->len);
        if (!p)
            return WEFT_ENOMEM;
        if (op->len)
            memcpy(p->data, op->buf, op->len);
        static const uint8_t wildcard[16];
        p->from_addr = s->local;
        if (!memcmp(s->local.ip, wildcard, 16)) {
            /* Sent from the node's own address, as a kernel would. */
            p->from_addr = own_addr(s->node, &s->local);
            p->from_addr.port = s->local.port;
        }
        p->to_addr = op->addr;
        uint64_t at = now(n) + latency(n);
        if (chance(n, n->cfg.reorder_permille) && n->cfg.reorder_ns)
            at += weft__decide(n->sim, WEFT__S_TIMING, 0, false) % n->cfg.reorder_ns;
        uint64_t clog = clogged_until(n, s->node, to);
        if (at < clog)
            at = clog;
        if (i)
            weft__net_trace(n, WEFT__PKT_DUP, s->node, to, op->len);
        pkt_send_at(n, p, at);
    }
    return 0;
}

static int recvfrom(weft__simnet *n, weft__simsock *s, weft__io *op)
{
    weft_link *l = weft__list_pop_head(&s->dgrams);
    if (!l) {
        wait_on(&s->reader, op);
        return WEFT__IO_PENDING;
    }
    s->ndgrams--;
    weft__packet *p = WEFT_LIST_ENTRY(l, weft__packet, link);
    size_t k = op->len < p->len ? op->len : p->len;
    if (k)
        memcpy(op->buf, p->data, k);
    op->addr = p->from_addr;
    op->result = (int64_t)k;
    pkt_free(n, p);
    return 0;
}

/* Close s: waits on it end; its peer sees the end of the stream, or a reset
 * when unread data is thrown away (as Linux does). */
static void sock_close(weft__simnet *n, weft__simsock *s, bool wake_waiters)
{
    if (s->closed)
        return;
    /* Outside a run (the runtime is being freed or reset with the socket
     * still open) no packet can ever arrive: the peer is not told. */
    bool running = weft__tls_worker != NULL;
    if (running && s->type == WEFT__H_STREAM && s->remote && s->connected && !s->reset) {
        if (rx_avail(s))
            reset_to(n, s, s->remote, WEFT_ECONNRESET);
        else
            send_fin(n, s);
    }
    if (s->type == WEFT__H_LISTENER) {
        weft_link *l;
        while ((l = weft__list_pop_head(&s->pending)) != NULL) {
            weft__simsock *c = WEFT_LIST_ENTRY(l, weft__simsock, accept_link);
            c->closed = true;
            if (running)
                reset_to(n, c, c->remote, WEFT_ECONNRESET);
        }
        s->npending = 0;
    }
    weft_link *l;
    while ((l = weft__list_pop_head(&s->dgrams)) != NULL)
        pkt_free(n, WEFT_LIST_ENTRY(l, weft__packet, link));
    s->ndgrams = 0;
    s->closed = true;
    s->connecting = false;
    weft__timer_disarm(&s->connect_timer);
    if (wake_waiters) {
        wake(&s->reader, WEFT_EBADF);
        wake(&s->writer, WEFT_EBADF);
    }
}

int weft__net_submit(weft__simnet *n, weft_node *node, weft__io *op)
{
    weft__simsock *s = op->h ? op->h->bk : NULL;
    switch (op->kind) {
    case WEFT__IO_TCP_LISTEN: return bind_sock(n, node, op, WEFT__H_LISTENER);
    case WEFT__IO_UDP_BIND: return bind_sock(n, node, op, WEFT__H_DGRAM);
    case WEFT__IO_TCP_CONNECT: return connect_start(n, node, op);
    case WEFT__IO_ACCEPT: {
        weft_link *l = weft__list_pop_head(&s->pending);
        if (!l) {
            wait_on(&s->reader, op);
            return WEFT__IO_PENDING;
        }
        s->npending--;
        weft__simsock *c = WEFT_LIST_ENTRY(l, weft__simsock, accept_link);
        op->out->bk = c;
        op->out->type = WEFT__H_STREAM;
        op->addr = c->peer;
        return 0;
    }
    case WEFT__IO_READ: return stream_read(n, s, op);
    case WEFT__IO_WRITE: return stream_write(n, s, op);
    case WEFT__IO_SENDTO: return sendto(n, s, op);
    case WEFT__IO_RECVFROM: return recvfrom(n, s, op);
    case WEFT__IO_SHUTDOWN:
        if (!s->connected || s->reset)
            return WEFT_ENOTCONN;
        if (op->arg != WEFT_SHUT_WR) {
            s->rd_shut = true;
            wake(&s->reader, WEFT__IO_AGAIN);
        }
        if (op->arg != WEFT_SHUT_RD)
            send_fin(n, s);
        return 0;
    case WEFT__IO_LOCAL_ADDR: op->addr = s->local; return 0;
    case WEFT__IO_PEER_ADDR:
        if (!s->connected && s->type != WEFT__H_STREAM)
            return WEFT_ENOTCONN;
        op->addr = s->peer;
        return s->connected ? 0 : WEFT_ENOTCONN;
    case WEFT__IO_CLOSE:
        if (s)
            sock_close(n, s, true);
        return 0;
    case WEFT__IO_RELEASE:
        if (s) {
            sock_close(n, s, false);
            s->released = true;
            weft__simnet_free_mem(n, s->rx, s->rx_cap);
            s->rx = NULL;
            s->rx_cap = s->rx_len = s->rx_head = 0;
        }
        op->h->bk = NULL;
        op->h->type = WEFT__H_NONE;
        return 0;
    default: return WEFT_ENOTSUP;
    }
}

weft_node *weft__net_owner(const weft__ioh *h, uint32_t *life)
{
    const weft__simsock *s = h->bk;
    *life = s->life;
    return s->node;
}

bool weft__net_cancel(weft__io *op)
{
    weft__simsock *s = op->h ? op->h->bk : NULL;
    if (s && s->reader == op)
        s->reader = NULL;
    else if (s && s->writer == op) {
        s->writer = NULL;
        if (s->connecting) {
            s->connecting = false;
            weft__timer_disarm(&s->connect_timer);
        }
    }
    op->bk[3] = 0;
    return weft__io_claim(op);
}

/* ---- crashes, pauses, partitions ------------------------------------------------------------ */

void weft__net_node_down(weft__simnet *n, weft_node *node)
{
    for (weft_link *l = n->socks.head; l; l = l->next) {
        weft__simsock *s = WEFT_LIST_ENTRY(l, weft__simsock, link);
        if (s->node != node || s->closed)
            continue;
        /* Its peers learn of it by a reset, after the network's delay. */
        if (s->type == WEFT__H_STREAM && s->remote && (s->connected || s->remote->remote == s))
            reset_to(n, s, s->remote, WEFT_ECONNRESET);
        if (s->type == WEFT__H_LISTENER) {
            for (weft_link *k = s->pending.head; k; k = k->next) {
                weft__simsock *c = WEFT_LIST_ENTRY(k, weft__simsock, accept_link);
                reset_to(n, c, c->remote, WEFT_ECONNRESET);
            }
        }
        s->error = WEFT_ECANCELED;
        s->closed = true;
        s->connecting = false;
        weft__timer_disarm(&s->connect_timer);
    }
    /* What it held is lost; a stream packet's turn passes to the next of its
     * sender, which arrives now if it waited (to be dropped, if for here). */
    weft_link *l;
    while ((l = weft__list_pop_head(&node->held)) != NULL) {
        weft__packet *p = WEFT_LIST_ENTRY(l, weft__packet, link);
        weft__simsock *s = p->sender;
        pkt_free(n, p);
        if (s) {
            s->seq_turn++;
            if ((p = turn_come(s)) != NULL)
                take_turns(n, p);
        }
    }
}

void weft__net_node_dead_waits(weft__simnet *n, weft_node *node)
{
    for (weft_link *l = n->socks.head; l; l = l->next) {
        weft__simsock *s = WEFT_LIST_ENTRY(l, weft__simsock, link);
        if (s->node == node && s->life != node->head.life) {
            wake(&s->reader, WEFT_EBADF);
            wake(&s->writer, WEFT_EBADF);
        }
    }
}

/* A stream packet re-sent here still has its number and its turn: it is
 * taken when its timer fires, and not numbered again. */
void weft__net_node_resumed(weft__simnet *n, weft_node *node)
{
    weft_link *l;
    while ((l = weft__list_pop_head(&node->held)) != NULL) {
        weft__packet *p = WEFT_LIST_ENTRY(l, weft__packet, link);
        pkt_send_at(n, p, now(n));
    }
}

void weft__net_partitioned(weft__simnet *n)
{
    for (weft_link *l = n->socks.head; l; l = l->next) {
        weft__simsock *s = WEFT_LIST_ENTRY(l, weft__simsock, link);
        if (!live(s) || s->type != WEFT__H_STREAM || !s->connected || !s->remote || s->reset)
            continue;
        weft_node *a = s->node, *b = s->remote->node;
        if (weft__net_blocked(n, a, b) || weft__net_blocked(n, b, a))
            conn_reset(s, WEFT_ECONNRESET);
    }
}

void weft__net_free(weft__simnet *n)
{
    weft_link *l;
    while ((l = weft__list_pop_head(&n->socks)) != NULL) {
        weft__simsock *s = WEFT_LIST_ENTRY(l, weft__simsock, link);
        weft__timer_disarm(&s->connect_timer);
        weft__simnet_free_mem(n, s->rx, s->rx_cap);
        weft__simnet_free_mem(n, s, sizeof *s);
    }
    while ((l = n->packets.head) != NULL) {
        weft__packet *p = WEFT_LIST_ENTRY(l, weft__packet, all);
        weft__timer_disarm(&p->timer);
        pkt_free(n, p);
    }
}
