/* disk.c — the simulated disk of each node, in memory (a file here never
 * touches a real one): what reads see, what the last fsync made durable, and
 * the writes in between. A crash throws the writes in between away, or —
 * torn writes, as FoundationDB's AsyncFileNonDurable and turmoil's unstable
 * file system model them — keeps a seed-chosen part of each, block by
 * block. Latency, EIO on reads and writes, and ENOSPC past a capacity come
 * from the disk's configuration and the seed. Creating and removing a file
 * count as durable at once (a simplification: a real directory needs its
 * own fsync). */
#include "net.h"

enum { WAIT_DISK = 3 };

typedef struct pending_write {
    uint64_t off;
    size_t len;
    bool trunc; /* a truncation to off */
    uint8_t *bytes;
} pending_write;

struct weft__simfile {
    weft__simfile *next;
    char *path;
    bool removed;
    uint8_t *data;       /* what reads see */
    size_t len, cap;
    uint8_t *durable;    /* as of the last fsync */
    size_t dlen, dcap;
    pending_write *pend; /* unsynced writes, in order */
    size_t npend, pcap;
};

/* An open file (the handle's backend state). */
typedef struct simfd {
    weft__simfile *f;
    uint64_t pos;
    unsigned flags;
} simfd;

static int bytes_grow(weft__simnet *n, uint8_t **p, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 256;
    while (c < need)
        c *= 2;
    uint8_t *b = weft__simnet_alloc(n, c);
    if (!b)
        return WEFT_ENOMEM;
    if (*cap)
        memcpy(b, *p, *cap);
    weft__simnet_free_mem(n, *p, *cap);
    *p = b;
    *cap = c;
    return 0;
}

static weft__simfile *find(weft_node *node, const char *path)
{
    for (weft__simfile *f = node->files; f; f = f->next)
        if (!f->removed && !strcmp(f->path, path))
            return f;
    return NULL;
}

static size_t used(const weft_node *node)
{
    size_t u = 0;
    for (const weft__simfile *f = node->files; f; f = f->next)
        if (!f->removed)
            u += f->len;
    return u;
}

static void pending_free(weft__simnet *n, weft__simfile *f)
{
    for (size_t i = 0; i < f->npend; i++)
        weft__simnet_free_mem(n, f->pend[i].bytes, f->pend[i].len);
    f->npend = 0;
}

static int record(weft__simnet *n, weft__simfile *f, uint64_t off, const void *buf, size_t len, bool trunc)
{
    if (weft__grow(&n->rt->base_alloc, (void **)&f->pend, &f->pcap, f->npend, sizeof *f->pend, 8) < 0)
        return WEFT_ENOMEM;
    uint8_t *copy = NULL;
    if (len && !(copy = weft__simnet_alloc(n, len)))
        return WEFT_ENOMEM;
    if (len)
        memcpy(copy, buf, len);
    f->pend[f->npend++] = (pending_write){off, len, trunc, copy};
    return 0;
}

/* Put len bytes at off of (data, *dlen), zero-filling a gap. */
static int put(weft__simnet *n, uint8_t **data, size_t *dlen, size_t *dcap, uint64_t off, const void *buf, size_t len)
{
    size_t end = (size_t)off + len;
    if (bytes_grow(n, data, dcap, end) < 0)
        return WEFT_ENOMEM;
    if (off > *dlen)
        memset(*data + *dlen, 0, (size_t)off - *dlen);
    if (len)
        memcpy(*data + off, buf, len);
    if (end > *dlen)
        *dlen = end;
    return 0;
}

static uint64_t disk_latency(weft__simnet *n, const weft_node *node)
{
    const weft_disk_config *c = &node->disk;
    if (!c->latency_spread_ns)
        return c->latency_min_ns;
    return c->latency_min_ns + weft__decide(n->sim, WEFT__S_TIMING, 0, false) % (c->latency_spread_ns + 1);
}

static bool fault(weft__simnet *n, unsigned permille)
{
    return permille && weft__decide(n->sim, WEFT__S_FAULT, 1000, false) < permille;
}

/* The op is done (its effect made now); its caller learns it after the
 * disk's latency. */
static int finish(weft__simnet *n, weft_node *node, weft__io *op, int64_t result)
{
    op->result = result;
    uint64_t d = disk_latency(n, node);
    if (d == 0)
        return result < 0 ? (int)result : 0;
    op->bk[3] = WAIT_DISK;
    int r = weft__net_later(n, node, n->sim->now + d, op);
    return r < 0 ? r : WEFT__IO_PENDING;
}

static int open_file(weft__simnet *n, weft_node *node, weft__io *op)
{
    unsigned fl = (unsigned)op->arg;
    weft__simfile *f = find(node, op->path);
    if (f && (fl & WEFT_FILE_CREATE) && (fl & WEFT_FILE_EXCL))
        return WEFT_EEXIST;
    if (!f && !(fl & WEFT_FILE_CREATE))
        return WEFT_ENOENT;
    if (!f) {
        f = weft__simnet_alloc(n, sizeof *f);
        size_t plen = strlen(op->path) + 1;
        char *path = weft__simnet_alloc(n, plen);
        if (!f || !path) {
            weft__simnet_free_mem(n, f, sizeof *f);
            weft__simnet_free_mem(n, path, plen);
            return WEFT_ENOMEM;
        }
        memcpy(path, op->path, plen);
        f->path = path;
        /* Appended, so files stay in creation order. */
        weft__simfile **tail = &node->files;
        while (*tail)
            tail = &(*tail)->next;
        *tail = f;
    }
    simfd *fd = weft__simnet_alloc(n, sizeof *fd);
    if (!fd)
        return WEFT_ENOMEM;
    fd->f = f;
    fd->flags = fl;
    if ((fl & WEFT_FILE_TRUNC) && f->len) {
        if (record(n, f, 0, NULL, 0, true) < 0) {
            weft__simnet_free_mem(n, fd, sizeof *fd);
            return WEFT_ENOMEM;
        }
        f->len = 0;
    }
    op->h->bk = fd;
    op->h->type = WEFT__H_FILE;
    return 0;
}

int weft__disk_submit(weft__simnet *n, weft_node *node, weft__io *op)
{
    simfd *fd = op->h ? op->h->bk : NULL;
    const weft_disk_config *c = &node->disk;
    switch (op->kind) {
    case WEFT__IO_FILE_OPEN: return open_file(n, node, op);
    case WEFT__IO_FILE_UNLINK: {
        weft__simfile *f = find(node, op->path);
        if (!f)
            return WEFT_ENOENT;
        f->removed = true;
        return 0;
    }
    case WEFT__IO_FILE_READ: {
        if (!(fd->flags & WEFT_FILE_READ))
            return WEFT_EBADF;
        if (fault(n, c->read_error_permille))
            return finish(n, node, op, WEFT_EIO);
        weft__simfile *f = fd->f;
        uint64_t off = op->offset == WEFT__IO_AT_POS ? fd->pos : op->offset;
        size_t k = off >= f->len ? 0 : f->len - (size_t)off < op->len ? f->len - (size_t)off : op->len;
        if (k)
            memcpy(op->buf, f->data + off, k);
        if (op->offset == WEFT__IO_AT_POS)
            fd->pos += k;
        return finish(n, node, op, (int64_t)k);
    }
    case WEFT__IO_FILE_WRITE: {
        if (!(fd->flags & WEFT_FILE_WRITE))
            return WEFT_EBADF;
        if (fault(n, c->write_error_permille))
            return finish(n, node, op, WEFT_EIO);
        weft__simfile *f = fd->f;
        uint64_t off = (fd->flags & WEFT_FILE_APPEND) ? f->len : op->offset == WEFT__IO_AT_POS ? fd->pos : op->offset;
        size_t end = (size_t)off + op->len;
        size_t grow = end > f->len ? end - f->len : 0;
        if (c->capacity_bytes && used(node) + grow > c->capacity_bytes)
            return finish(n, node, op, WEFT_ENOSPC);
        int r = record(n, f, off, op->buf, op->len, false);
        if (r == 0)
            r = put(n, &f->data, &f->len, &f->cap, off, op->buf, op->len);
        if (r < 0)
            return r;
        if (op->offset == WEFT__IO_AT_POS || (fd->flags & WEFT_FILE_APPEND))
            fd->pos = end;
        return finish(n, node, op, (int64_t)op->len);
    }
    case WEFT__IO_FSYNC: {
        weft__simfile *f = fd->f;
        if (bytes_grow(n, &f->durable, &f->dcap, f->len) < 0)
            return WEFT_ENOMEM;
        if (f->len)
            memcpy(f->durable, f->data, f->len);
        f->dlen = f->len;
        pending_free(n, f);
        return finish(n, node, op, 0);
    }
    case WEFT__IO_CLOSE: return 0;
    case WEFT__IO_RELEASE:
        if (fd)
            weft__simnet_free_mem(n, fd, sizeof *fd);
        op->h->bk = NULL;
        op->h->type = WEFT__H_NONE;
        return 0;
    default: return WEFT_EINVAL;
    }
}

bool weft__disk_cancel(weft__io *op)
{
    /* A disk call that started runs to its end: its wake comes with the
     * latency's timer. */
    (void)op;
    return false;
}

void weft__disk_crash(weft__simnet *n, weft_node *node)
{
    const weft_disk_config *c = &node->disk;
    size_t bs = c->block_size ? c->block_size : 4096;
    for (weft__simfile *f = node->files; f; f = f->next) {
        /* From the durable image, replay what survives of each unsynced
         * write: nothing, or (torn) a seed-chosen set of its blocks. */
        uint8_t *img = NULL;
        size_t len = 0, cap = 0;
        if (put(n, &img, &len, &cap, 0, f->durable, f->dlen) < 0)
            continue;
        len = f->dlen;
        for (size_t i = 0; i < f->npend; i++) {
            pending_write *w = &f->pend[i];
            if (!fault(n, c->torn_permille))
                continue;
            if (w->trunc) {
                len = (size_t)w->off < len ? (size_t)w->off : len;
                continue;
            }
            for (size_t k = 0; k < w->len;) {
                size_t piece = bs - (size_t)((w->off + k) % bs);
                if (piece > w->len - k)
                    piece = w->len - k;
                if (weft__decide(n->sim, WEFT__S_FAULT, 2, false))
                    put(n, &img, &len, &cap, w->off + k, w->bytes + k, piece);
                k += piece;
            }
        }
        pending_free(n, f);
        weft__simnet_free_mem(n, f->data, f->cap);
        f->data = img;
        f->len = len;
        f->cap = cap;
        /* What survived is on the disk now. */
        if (bytes_grow(n, &f->durable, &f->dcap, len) == 0) {
            if (len)
                memcpy(f->durable, img, len);
            f->dlen = len;
        }
    }
}

void weft__disk_free(weft__simnet *n, weft_node *node)
{
    weft__simfile *f = node->files;
    while (f) {
        weft__simfile *next = f->next;
        pending_free(n, f);
        weft__simnet_free_mem(n, f->pend, f->pcap * sizeof *f->pend);
        weft__simnet_free_mem(n, f->data, f->cap);
        weft__simnet_free_mem(n, f->durable, f->dcap);
        weft__simnet_free_mem(n, f->path, strlen(f->path) + 1);
        weft__simnet_free_mem(n, f, sizeof *f);
        f = next;
    }
    node->files = NULL;
}
