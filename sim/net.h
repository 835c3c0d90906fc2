/* net.h — the simulated world's private types, shared by node.c (nodes,
 * crashes, clocks, the public controls), net.c (sockets, packets, latency,
 * partitions) and disk.c (files and their faults).
 *
 * Everything here runs on the simulator's one OS thread. Objects are kept in
 * creation order and are never ordered or hashed by address; sockets and
 * nodes live until the runtime goes, so a packet in flight may point at the
 * socket it is for and find it closed, never freed.
 */
#ifndef WEFT_SIM_NET_H
#define WEFT_SIM_NET_H

#include "sim.h"

/* What a traced packet event was (the `extra` of WEFT__EV_NET). */
enum weft__pkt_ev { WEFT__PKT_SEND = 1, WEFT__PKT_DELIVER, WEFT__PKT_DROP, WEFT__PKT_DUP };

enum weft__pkt_kind {
    WEFT__PK_SYN = 1, /* a connection request */
    WEFT__PK_SYNACK,  /* accepted: the client is connected */
    WEFT__PK_DATA,    /* stream bytes */
    WEFT__PK_FIN,     /* the end of the stream */
    WEFT__PK_RST,     /* reset (or refused, or unreachable: see err) */
    WEFT__PK_DGRAM,   /* a datagram */
    WEFT__PK_LATER    /* not a packet: a disk call's completion after its latency */
};

typedef struct weft__simsock weft__simsock;
typedef struct weft__simfile weft__simfile;

/* A packet in flight; its timer delivers it. */
typedef struct weft__packet {
    weft_timer timer;
    weft_link link;          /* held at a paused node or for its turn, or queued at a socket */
    weft_link all;           /* net->packets: every packet alive */
    struct weft__simnet *net;
    uint8_t kind;
    int err;                 /* RST: the error the receiver sees */
    weft_node *from, *to;
    weft__simsock *dst;      /* stream packets: the endpoint it is for */
    weft__simsock *src;      /* SYN: the connecting socket */
    weft__simsock *sender;   /* stream packets: the socket whose sequence it is in */
    uint64_t seq;            /* its number in that sequence */
    weft__addr from_addr, to_addr;
    weft__io *op;            /* LATER: the call to complete */
    size_t len;
    uint8_t data[];
} weft__packet;

/* A wait on the simulated world: an op and where it waits. */
struct weft__simsock {
    weft_link link;          /* net->socks, creation order */
    weft_node *node;
    uint32_t life;           /* the node's life it belongs to */
    uint32_t id;
    uint8_t type;            /* enum weft__ioh_type */
    bool closed, released, connecting, connected;
    bool rd_shut, wr_shut, eof;
    bool reset;              /* the connection was reset: over both ways */
    int error;               /* pending error (ECONNRESET, EPIPE), reported
                                once; ECANCELED (the node crashed) for ever */
    weft__addr local, peer;
    weft__simsock *remote;   /* the other end of a stream */
    /* receive side: bytes or datagrams */
    uint8_t *rx;
    size_t rx_len, rx_cap, rx_head;
    size_t tx_pending;       /* bytes sent, not yet read by the peer */
    uint64_t last_at;        /* the latest delivery time towards the peer */
    /* The packets it sends are numbered and taken in that order, however
     * their timers fire (see deliver in net.c). */
    uint64_t seq_next;       /* the number its next packet takes */
    uint64_t seq_turn;       /* the number of its packet whose turn it is */
    weft_list seq_held;      /* its packets that came before their turn, by
                                number (weft__packet by link) */
    weft_list dgrams;        /* queued datagrams (weft__packet by link) */
    size_t ndgrams;
    /* listeners: connections waiting to be accepted */
    weft_list pending;       /* weft__simsock by accept_link */
    weft_link accept_link;
    size_t npending;
    int backlog;
    weft__io *reader, *writer; /* the op waiting to read (or accept) / write (or connect) */
    weft_timer connect_timer;
};

typedef struct weft__partition {
    weft_node *from, *to; /* packets from `from` to `to` are dropped */
} weft__partition;

typedef struct weft__clog {
    weft_node *from, *to;
    uint64_t until;
} weft__clog;

struct weft_node {
    weft__node_head head;    /* must stay first (the core reads life) */
    struct weft__simnet *net;
    uint32_t id;             /* 0: the host */
    char *name;
    weft__addr addr;         /* port 0 */
    bool down, paused;
    int64_t skew_ns;
    int32_t drift_ppm;
    uint16_t next_port;      /* ephemeral ports, in order */
    weft_disk_config disk;
    weft__simfile *files;    /* in creation order */
    weft_list held;          /* packets that arrived while paused */
    weft_list paused_ops;    /* ops of its tasks waiting for the resume */
};

/* The simulated world of one simulated runtime. */
typedef struct weft__simnet {
    weft__sim *sim;
    weft_rt *rt;
    weft_node **nodes;       /* [0] is the host */
    size_t nnodes, nodes_cap;
    weft_net_config cfg;
    weft_list socks;         /* every socket ever made, in order */
    uint32_t next_sock_id;
    weft__partition *parts;
    size_t nparts, parts_cap;
    weft__clog *clogs;
    size_t nclogs, clogs_cap;
    weft_list packets;       /* every packet alive, in creation order */
} weft__simnet;

/* node.c */
WEFT_HIDDEN weft__simnet *weft__simnet_get(weft_rt *rt);
/* The node task t runs on (the host when none). */
WEFT_HIDDEN weft_node *weft__node_of(weft__simnet *n, const weft__task *t);
/* The node with address a (family and ip), or NULL. */
WEFT_HIDDEN weft_node *weft__node_by_addr(weft__simnet *n, const weft__addr *a);
/* Is a (ignoring the port) an address of node? (its own, the wildcard, or
 * loopback for the host) */
WEFT_HIDDEN bool weft__node_owns(const weft_node *node, const weft__addr *a);
WEFT_HIDDEN void *weft__simnet_alloc(weft__simnet *n, size_t size);
WEFT_HIDDEN void weft__simnet_free_mem(weft__simnet *n, void *p, size_t size);

/* net.c */
WEFT_HIDDEN int weft__net_submit(weft__simnet *n, weft_node *node, weft__io *op);
WEFT_HIDDEN bool weft__net_cancel(weft__io *op);
/* A crash: every socket of node vanishes, peers are reset. */
WEFT_HIDDEN void weft__net_node_down(weft__simnet *n, weft_node *node);
/* After a crash and the killing of its tasks: a call of another node's task
 * still waiting on one of node's sockets ends with WEFT_EBADF. */
WEFT_HIDDEN void weft__net_node_dead_waits(weft__simnet *n, weft_node *node);
/* The node a socket handle belongs to; *life: the node's life it was made
 * in (a crash starts a new one, and the old life's handles are dead). */
WEFT_HIDDEN weft_node *weft__net_owner(const weft__ioh *h, uint32_t *life);
/* Packets held while node was paused go on. */
WEFT_HIDDEN void weft__net_node_resumed(weft__simnet *n, weft_node *node);
/* Connections between blocked pairs are reset (a new partition). */
WEFT_HIDDEN void weft__net_partitioned(weft__simnet *n);
WEFT_HIDDEN bool weft__net_blocked(const weft__simnet *n, const weft_node *from, const weft_node *to);
WEFT_HIDDEN void weft__net_free(weft__simnet *n);
/* One latency draw (the timing stream) for the network or a disk. */
WEFT_HIDDEN uint64_t weft__net_exp(weft__simnet *n, uint64_t min, uint64_t mean);
/* A uniform draw (the timing stream) from [lo, lo + spread]; times are at
 * most WEFT_SIM_DELAY_MAX, so the sum cannot wrap. */
WEFT_HIDDEN uint64_t weft__net_uniform(weft__simnet *n, uint64_t lo, uint64_t spread);
/* Complete op with its result at `at` (the disk's latency). */
WEFT_HIDDEN int weft__net_later(weft__simnet *n, weft_node *node, uint64_t at, weft__io *op);
WEFT_HIDDEN void weft__net_trace(weft__simnet *n, int ev, const weft_node *from, const weft_node *to, uint64_t b);

/* disk.c */
WEFT_HIDDEN int weft__disk_submit(weft__simnet *n, weft_node *node, weft__io *op);
WEFT_HIDDEN bool weft__disk_cancel(weft__io *op);
/* The node a file handle belongs to, and its life then (as weft__net_owner). */
WEFT_HIDDEN weft_node *weft__disk_owner(const weft__ioh *h, uint32_t *life);
/* A crash: what was not fsynced is lost (or torn). */
WEFT_HIDDEN void weft__disk_crash(weft__simnet *n, weft_node *node);
WEFT_HIDDEN void weft__disk_free(weft__simnet *n, weft_node *node);

#endif /* WEFT_SIM_NET_H */
