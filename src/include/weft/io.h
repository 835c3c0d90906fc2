/* weft/io.h — sockets (TCP, UDP), files and name lookup for tasks, the same
 * calls on the real reactors (epoll, io_uring, poll) and on the simulator's
 * virtual network and disk; and, in simulation, the nodes, network and disk
 * faults a distributed system is tested against.
 *
 * Included by weft.h. Every call is made from a task. A blocking call parks
 * only the calling task; each has an _until(deadline) form (an absolute
 * weft_now() time; WEFT_NO_DEADLINE: none) that returns WEFT_ETIMEDOUT when
 * the deadline passes first, and every blocking call returns WEFT_ECANCELED
 * once the task is cancelled. Buffers are the caller's: weft never keeps a
 * pointer to one after the call returned (also when it was cancelled or timed
 * out, also with io_uring).
 *
 * Addresses are numeric: "127.0.0.1:8080", "[::1]:8080" (port 0 picks a free
 * port; weft_sock_local_addr tells which). A name is looked up with
 * weft_resolve. In simulation the addresses are the nodes' virtual ones and
 * never reach a real socket.
 *
 * Handles (weft_sock, weft_file) are checked on every call: a closed handle, a
 * handle of another runtime, a made-up one, or (in simulation) one that a
 * node made before it crashed gets WEFT_EBADF, never a crash.
 * One task may read while another writes the same socket; two readers (or two
 * writers) at once get WEFT_EBUSY.
 */
#ifndef WEFT_IO_H
#define WEFT_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The errors of IO, each its own code (values of -errno). */
#define WEFT_ECONNRESET (-ECONNRESET)     /* the peer reset the connection */
#define WEFT_ECONNREFUSED (-ECONNREFUSED) /* nobody listens there */
#define WEFT_EHOSTUNREACH (-EHOSTUNREACH) /* no route to that host (or a partition) */
#define WEFT_ENETUNREACH (-ENETUNREACH)   /* no route to that network */
#define WEFT_EMFILE (-EMFILE)             /* too many open files (this process) */
#define WEFT_ENFILE (-ENFILE)             /* too many open files (the system) */
#define WEFT_EBADF (-EBADF)               /* closed, foreign or made-up handle */
#define WEFT_EADDRINUSE (-EADDRINUSE)     /* that address and port are taken */
#define WEFT_EADDRNOTAVAIL (-EADDRNOTAVAIL) /* not an address of this host/node */
#define WEFT_ENOTCONN (-ENOTCONN)         /* not connected */
#define WEFT_EMSGSIZE (-EMSGSIZE)         /* a datagram too large */
#define WEFT_ENOSPC (-ENOSPC)             /* the disk is full */
#define WEFT_EFBIG (-EFBIG)               /* past the largest file (WEFT_DISK_FILE_MAX in simulation) */
#define WEFT_ENOENT (-ENOENT)             /* no such file */
#define WEFT_EEXIST (-EEXIST)             /* the file exists (WEFT_FILE_EXCL) */
#define WEFT_EFAULT (-EFAULT)             /* a NULL buffer with a non-zero length */
#define WEFT_EAFNOSUPPORT (-EAFNOSUPPORT) /* an address family this socket cannot use */
/* WEFT_EPIPE (broken pipe: writing after the peer closed or after shutdown),
 * WEFT_ETIMEDOUT, WEFT_EIO, WEFT_EINVAL and WEFT_EBUSY are in weft.h. */

#ifndef WEFT_NO_DEADLINE
#define WEFT_NO_DEADLINE UINT64_MAX
#endif
/* The longest address text with its NUL ("[ffff:…:ffff]:65535"). */
#define WEFT_ADDR_MAX 48
/* The most one call moves: larger lengths are refused (WEFT_EINVAL), as a
 * read or write of more than SSIZE_MAX bytes could not report its count. */
#define WEFT_IO_MAX ((size_t)0x7ffff000)

typedef struct weft_sock weft_sock; /* a socket handle (opaque, checked) */
typedef struct weft_file weft_file; /* a file handle (opaque, checked) */

/* ---- TCP ------------------------------------------------------------------ */

/* Listen on addr with a queue of backlog connections (<= 0: a default).
 * *s receives the listener. Returns 0, WEFT_EINVAL (malformed address),
 * WEFT_EADDRINUSE, WEFT_EADDRNOTAVAIL, WEFT_EMFILE, WEFT_ENOMEM. */
WEFT_API int weft_tcp_listen(weft_sock **s, const char *addr, int backlog);
/* Take the next connection of listener l; *conn receives it. Returns 0,
 * WEFT_EMFILE/WEFT_ENFILE (no descriptor for it: the connection waits in
 * the queue; close something and accept again), WEFT_EBADF, WEFT_EINVAL (not
 * a listener), WEFT_ECANCELED, WEFT_ETIMEDOUT. */
WEFT_API int weft_tcp_accept(weft_sock *l, weft_sock **conn);
WEFT_API int weft_tcp_accept_until(weft_sock *l, weft_sock **conn, uint64_t deadline);
/* Connect to addr. Returns 0, WEFT_ECONNREFUSED, WEFT_EHOSTUNREACH,
 * WEFT_ENETUNREACH, WEFT_ETIMEDOUT, WEFT_EINVAL, WEFT_EMFILE, WEFT_ECANCELED. */
WEFT_API int weft_tcp_connect(weft_sock **s, const char *addr);
WEFT_API int weft_tcp_connect_until(weft_sock **s, const char *addr, uint64_t deadline);

/* The socket's own address, or its peer's, as text into buf (at least
 * WEFT_ADDR_MAX bytes is always enough). Returns the text's length,
 * WEFT_EBADF, WEFT_ENOTCONN (no peer), WEFT_EINVAL (buf too small). */
WEFT_API int weft_sock_local_addr(weft_sock *s, char *buf, size_t len);
WEFT_API int weft_sock_peer_addr(weft_sock *s, char *buf, size_t len);

/* Read up to len bytes (at least one, unless len is 0): the count, 0 at the
 * end of the stream, or WEFT_ECONNRESET, WEFT_EBADF, WEFT_EFAULT (NULL buf),
 * WEFT_EINVAL (len > WEFT_IO_MAX), WEFT_EBUSY, WEFT_ECANCELED,
 * WEFT_ETIMEDOUT. */
WEFT_API ssize_t weft_sock_read(weft_sock *s, void *buf, size_t len);
WEFT_API ssize_t weft_sock_read_until(weft_sock *s, void *buf, size_t len, uint64_t deadline);
/* Write up to len bytes: the count written (maybe fewer than len), or
 * WEFT_EPIPE (the peer closed, or this side shut down writing),
 * WEFT_ECONNRESET and the codes of a read. As Linux has it, in simulation
 * too: after the peer's clean close a write still goes out, the peer answers
 * it with a reset, and once that is back writes are WEFT_EPIPE (reads give
 * 0 throughout); a reset that came with no FIN before it is WEFT_ECONNRESET
 * to the first read or write, then reads give 0 and writes WEFT_EPIPE. */
WEFT_API ssize_t weft_sock_write(weft_sock *s, const void *buf, size_t len);
WEFT_API ssize_t weft_sock_write_until(weft_sock *s, const void *buf, size_t len, uint64_t deadline);
/* Write all len bytes. Returns 0 or a code as weft_sock_write; *written (may
 * be NULL) receives the bytes that went out, also on failure. */
WEFT_API int weft_sock_write_all(weft_sock *s, const void *buf, size_t len, size_t *written);
WEFT_API int weft_sock_write_all_until(weft_sock *s, const void *buf, size_t len, size_t *written, uint64_t deadline);

#define WEFT_SHUT_RD 0
#define WEFT_SHUT_WR 1
#define WEFT_SHUT_RDWR 2
/* Stop reading, writing or both (the peer reads the end of the stream after
 * WEFT_SHUT_WR). Returns 0, WEFT_EBADF, WEFT_ENOTCONN, WEFT_EINVAL. */
WEFT_API int weft_sock_shutdown(weft_sock *s, int how);
/* Close s: a read or write of it waiting in another task returns WEFT_EBADF;
 * the handle is dead from here. Returns 0 or WEFT_EBADF. */
WEFT_API int weft_sock_close(weft_sock *s);

/* ---- UDP ------------------------------------------------------------------ */

/* A datagram socket bound to addr (port 0 picks one). */
WEFT_API int weft_udp_bind(weft_sock **s, const char *addr);
/* Send one datagram of len bytes to `to`: len, or WEFT_EMSGSIZE, WEFT_EINVAL,
 * WEFT_EHOSTUNREACH, …. A datagram may be lost without an error. */
WEFT_API ssize_t weft_udp_send_to(weft_sock *s, const void *buf, size_t len, const char *to);
WEFT_API ssize_t weft_udp_send_to_until(weft_sock *s, const void *buf, size_t len, const char *to,
                                        uint64_t deadline);
/* Receive one datagram: its length (the rest of a longer one is dropped), its
 * sender's address into from (may be NULL). A from buffer must have
 * fromlen >= WEFT_ADDR_MAX, as the sender is not known before the datagram
 * is taken: a shorter one gets WEFT_EINVAL before anything is received (the
 * datagram stays queued for the next call). Also WEFT_EBADF, WEFT_EFAULT,
 * WEFT_ECANCELED, WEFT_ETIMEDOUT. */
WEFT_API ssize_t weft_udp_recv_from(weft_sock *s, void *buf, size_t len, char *from, size_t fromlen);
WEFT_API ssize_t weft_udp_recv_from_until(weft_sock *s, void *buf, size_t len, char *from, size_t fromlen,
                                          uint64_t deadline);

/* ---- Files ------------------------------------------------------------------
 * Native on io_uring; on epoll and poll they run on the blocking pool (a disk
 * read holds an OS thread there, not a worker). In simulation the file lives
 * on the node's virtual disk.
 *
 * The _until forms and cancellation: a call whose deadline has passed, or
 * whose task is cancelled, before the disk has it returns WEFT_ETIMEDOUT or
 * WEFT_ECANCELED and does nothing (on io_uring also when the kernel still
 * had it queued and took it back). A call the disk has started runs to its
 * end and returns what it did, whatever the deadline: a disk request cannot
 * be recalled halfway, and reporting "timed out" for a write that happened
 * anyway would lose it. A cancellation then is seen by the next call. */
#define WEFT_FILE_READ 0x1u
#define WEFT_FILE_WRITE 0x2u
#define WEFT_FILE_CREATE 0x4u
#define WEFT_FILE_TRUNC 0x8u
#define WEFT_FILE_APPEND 0x10u
#define WEFT_FILE_EXCL 0x20u
/* Open path with WEFT_FILE_… flags (mode: permissions of a created file, e.g.
 * 0644). Returns 0, WEFT_ENOENT, WEFT_EEXIST, WEFT_EMFILE, WEFT_EINVAL, … */
WEFT_API int weft_file_open(weft_file **f, const char *path, unsigned flags, unsigned mode);
WEFT_API int weft_file_open_until(weft_file **f, const char *path, unsigned flags, unsigned mode,
                                  uint64_t deadline);
/* At the file's position (which moves), or at offset (pread/pwrite: it
 * does not). The count, 0 at the end of the file, or a negative code
 * (WEFT_EIO, WEFT_ENOSPC, WEFT_EFBIG, WEFT_EBADF, WEFT_EFAULT, WEFT_EINVAL). */
WEFT_API ssize_t weft_file_read(weft_file *f, void *buf, size_t len);
WEFT_API ssize_t weft_file_read_until(weft_file *f, void *buf, size_t len, uint64_t deadline);
WEFT_API ssize_t weft_file_write(weft_file *f, const void *buf, size_t len);
WEFT_API ssize_t weft_file_write_until(weft_file *f, const void *buf, size_t len, uint64_t deadline);
WEFT_API ssize_t weft_file_pread(weft_file *f, void *buf, size_t len, uint64_t offset);
WEFT_API ssize_t weft_file_pread_until(weft_file *f, void *buf, size_t len, uint64_t offset, uint64_t deadline);
WEFT_API ssize_t weft_file_pwrite(weft_file *f, const void *buf, size_t len, uint64_t offset);
WEFT_API ssize_t weft_file_pwrite_until(weft_file *f, const void *buf, size_t len, uint64_t offset,
                                        uint64_t deadline);
/* Make what was written durable (a simulated crash loses what was not). */
WEFT_API int weft_file_fsync(weft_file *f);
WEFT_API int weft_file_fsync_until(weft_file *f, uint64_t deadline);
/* Close f (does not wait: not a blocking call). Returns 0 or WEFT_EBADF. */
WEFT_API int weft_file_close(weft_file *f);
/* Remove a file. Returns 0, WEFT_ENOENT, … */
WEFT_API int weft_file_unlink(const char *path);
WEFT_API int weft_file_unlink_until(const char *path, uint64_t deadline);

/* What does rt's IO: "epoll", "io_uring", "poll" (a threaded runtime's
 * reactor, after any fallback) or "simulated". */
WEFT_API const char *weft_rt_reactor(const weft_rt *rt);

/* ---- Names ------------------------------------------------------------------ */

/* Look host up (a name or a numeric address) and write "<address>:<port>" of
 * its first address (IPv4 first) into out. On the real backend through the
 * blocking pool (getaddrinfo); in simulation from the nodes' names.
 * Returns the length, WEFT_ENOENT (no such name), WEFT_EINVAL. The _until
 * form and cancellation act as for files: before the lookup starts (a
 * getaddrinfo under way cannot be interrupted). */
WEFT_API int weft_resolve(const char *host, unsigned port, char *out, size_t outlen);
WEFT_API int weft_resolve_until(const char *host, unsigned port, char *out, size_t outlen, uint64_t deadline);

/* ---- Simulated nodes, network and disk ----------------------------------------
 * A node is a simulated machine: a name, a virtual address, its own tasks
 * (spawned with weft_spawn_opts.node, and their children), sockets, files
 * and clock. Tasks spawned with no node run on the runtime's "host" node,
 * whose addresses are 127.0.0.1 and ::1. Nodes and faults need a simulated
 * runtime: on the real backend these calls return WEFT_ENOTSUP (a program
 * that runs in both worlds runs its parts on the host there). */
typedef struct weft_node weft_node;

/* A node named name (copied) with the IPv4 or IPv6 address addr (no port).
 * Returns 0, WEFT_EINVAL, WEFT_EADDRINUSE (another node has it), WEFT_ENOMEM,
 * WEFT_ENOTSUP (not a simulated runtime), WEFT_EPERM (not in a task). Nodes
 * live as long as the runtime. */
WEFT_API int weft_node_new(weft_node **n, const char *name, const char *addr);
/* The node the calling task runs on (NULL: the host node or real backend). */
WEFT_API weft_node *weft_node_current(void);
WEFT_API const char *weft_node_name(const weft_node *n);

/* Crash n: its tasks are cancelled and every IO call of theirs fails with
 * WEFT_ECANCELED; its sockets vanish (peers' connections are reset, after
 * the network's latency); what it wrote to files and did not fsync is lost
 * (or torn at the disk's block size). The handles of its sockets and files
 * die with it: from then on every call on one, from a task of any node or
 * of n's next life, returns WEFT_EBADF and does nothing (closing one still
 * lets it go), and a socket call another node's task was waiting in returns
 * WEFT_EBADF at the crash (a disk call under way ends as it would have).
 * Returns 0, WEFT_EALREADY (down). */
WEFT_API int weft_node_crash(weft_node *n);
/* Bring a crashed node back: fn(arg) runs as its first task (its files as
 * they were at their last fsync). Returns 0, WEFT_EBUSY (not crashed). */
WEFT_API int weft_node_restart(weft_node *n, void *(*fn)(void *), void *arg);
/* Pause (on != 0) or resume n: while paused it neither sends nor receives
 * (its IO calls wait, packets to it wait), as a stopped process would. */
WEFT_API int weft_node_pause(weft_node *n, int on);
/* The node's clock: weft_now() on n reads (runtime time) * (1 + drift_ppm /
 * 10^6) + skew_ns. Deadlines a task of n passes (sleep, _until forms, scope
 * deadlines) are read on that clock. |drift_ppm| < 10^5. */
WEFT_API int weft_node_clock(weft_node *n, int64_t skew_ns, int32_t drift_ppm);

/* The largest time a simulated network or disk config may give (2^48 ns,
 * about 3.3 days): virtual time must not wrap however many delays add up. */
#define WEFT_SIM_DELAY_MAX ((uint64_t)1 << 48)

/* The network's behaviour; a zeroed config is a perfect network with no
 * latency. Latency of each packet (and stream segment) is the run's minimum
 * plus an exponential draw of the run's mean, and with chance tail_permille
 * a further tail_ns; loss, duplication and reordering apply to datagrams
 * (streams stay reliable and ordered). The seed's timing and fault streams
 * draw every choice.
 *
 * The run's minimum and mean are latency_min_ns and latency_mean_ns, or, with
 * the spreads set, drawn per seed as TigerBeetle's packet simulator draws
 * them: the minimum uniformly from [latency_min_ns, latency_min_ns +
 * latency_min_spread_ns] and the mean from [latency_mean_ns, latency_mean_ns
 * + latency_mean_spread_ns], once, when the config is set — so one search
 * meets fast and slow networks, and a seed replays its own.
 * weft_net_config_get tells what the run drew. Each time, and the top of
 * each range (minimum + spread), is at most WEFT_SIM_DELAY_MAX. */
typedef struct weft_net_config {
    uint64_t latency_min_ns;
    uint64_t latency_mean_ns;
    unsigned tail_permille;
    uint64_t tail_ns;
    unsigned loss_permille;    /* datagrams dropped */
    unsigned dup_permille;     /* datagrams delivered twice */
    unsigned reorder_permille; /* datagrams held back by up to reorder_ns */
    uint64_t reorder_ns;
    unsigned short_io_permille; /* stream reads and writes cut short */
    uint64_t connect_timeout_ns; /* a SYN that never arrives; 0: 1 s */
    uint64_t latency_min_spread_ns;  /* 0: the minimum is the same for every seed */
    uint64_t latency_mean_spread_ns; /* 0: the mean is the same for every seed */
} weft_net_config;
/* Returns 0, WEFT_EINVAL (NULL, a permille above 1000, a time above
 * WEFT_SIM_DELAY_MAX), WEFT_ENOTSUP (not simulated). */
WEFT_API int weft_net_config_set(const weft_net_config *c);
/* The config in force, with the minimum and mean this run drew in
 * latency_min_ns and latency_mean_ns (and the spreads 0). */
WEFT_API int weft_net_config_get(weft_net_config *out);
/* Cut the network between the nodes of a[0..na) and b[0..nb) (NULL in a set
 * is the host node): no packet crosses from a to b (and from b to a unless
 * oneway); connections across are reset. Returns 0, WEFT_EINVAL. */
WEFT_API int weft_net_partition(weft_node *const *a, size_t na, weft_node *const *b, size_t nb, int oneway);
/* Every partition is healed. */
WEFT_API int weft_net_heal(void);
/* Hold every packet from `from` to `to` (NULL: the host) until until_ns of
 * runtime time: it arrives late, in order, but arrives. */
WEFT_API int weft_net_clog(weft_node *from, weft_node *to, uint64_t until_ns);

/* The largest file on a simulated disk, 16 TiB (about ext4's with 4 KiB
 * blocks). As on Linux, a write that starts at or past it fails with
 * WEFT_EFBIG and one that would cross it is cut short there. Files are
 * sparse: a hole (never written) reads as zeros and takes no room. */
#define WEFT_DISK_FILE_MAX ((uint64_t)1 << 44)

/* The simulated disk of node n (NULL: every node). Latency is drawn from
 * [latency_min_ns, latency_min_ns + latency_spread_ns] (each at most
 * WEFT_SIM_DELAY_MAX); reads and writes fail
 * with WEFT_EIO with the chances given; capacity_bytes (0: unlimited) makes
 * a write that would store more than that in the node's files (holes do not
 * count) fail with WEFT_ENOSPC; at a crash, each block of block_size (0:
 * 4096) of an unsynced write survives or not on its own (torn writes) when
 * torn_permille says so, else the write is lost whole. A write that failed
 * is never among them. */
typedef struct weft_disk_config {
    uint64_t latency_min_ns, latency_spread_ns;
    unsigned read_error_permille, write_error_permille;
    uint64_t capacity_bytes;
    unsigned block_size;
    unsigned torn_permille;
} weft_disk_config;
WEFT_API int weft_disk_config_set(weft_node *n, const weft_disk_config *c);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_IO_H */
