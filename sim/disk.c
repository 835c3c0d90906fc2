/* disk.c — the simulated disk of each node, in memory (a file here never
 * touches a real one): what reads see, what the last fsync made durable, and
 * the writes in between. A crash throws the writes in between away, or —
 * torn writes, as FoundationDB's AsyncFileNonDurable and turmoil's unstable
 * file system model them — keeps a seed-chosen part of each, block by
 * block. Latency, EIO on reads and writes, and ENOSPC past a capacity come
 * from the disk's configuration and the seed. Creating and removing a file
 * count as durable at once (a simplification: a real directory needs its
 * own fsync).
 *
 * Files are sparse, as on ext4: a file's bytes are a sorted list of extents
 * (runs of written bytes that neither overlap nor touch), and a hole between
 * them reads as zeros, takes no memory and does not count against the
 * capacity. A write at or past WEFT_DISK_FILE_MAX (16 TiB) fails with EFBIG
 * and one that would cross it is cut short there, as Linux does past a file
 * system's largest file. A write takes everything it needs before it changes
 * anything: one that fails (EIO, ENOSPC, EFBIG, ENOMEM) leaves no trace,
 * neither in what reads see nor among the unsynced writes a crash replays. */
#include "net.h"

enum { WAIT_DISK = 3 };

typedef struct pending_write {
    uint64_t off;
    size_t len;
    bool trunc; /* a truncation to off */
    uint8_t *bytes;
} pending_write;

/* Written bytes [off, off + len); b holds cap bytes. */
typedef struct extent {
    uint64_t off;
    size_t len, cap;
    uint8_t *b;
} extent;

/* A file's contents: extents in offset order, none overlapping or touching
 * another. The file's length may lie past the last extent (a truncation
 * that cut a hole short leaves it there), never before its end. */
typedef struct image {
    extent *x;
    size_t n, cap;
    uint64_t size;   /* the file's length */
    uint64_t stored; /* bytes in extents: what the file takes on the disk */
} image;

struct weft__simfile {
    weft__simfile *next;
    char *path;
    bool removed;
    image data;          /* what reads see */
    image durable;       /* as of the last fsync */
    pending_write *pend; /* unsynced writes, in order */
    size_t npend, pcap;
};

/* An open file (the handle's backend state). */
typedef struct simfd {
    weft__simfile *f;
    uint64_t pos;
    unsigned flags;
    weft_node *node; /* whose disk the file is on */
    uint32_t life;   /* the node's life it was opened in */
} simfd;

/* ---- sparse images -------------------------------------------------------------------- */

static void img_free(weft__simnet *n, image *im)
{
    for (size_t i = 0; i < im->n; i++)
        weft__simnet_free_mem(n, im->x[i].b, im->x[i].cap);
    weft__simnet_free_mem(n, im->x, im->cap * sizeof *im->x);
    memset(im, 0, sizeof *im);
}

/* The first extent that ends at or after off (im->n: none). */
static size_t img_find(const image *im, uint64_t off)
{
    size_t lo = 0, hi = im->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (im->x[mid].off + im->x[mid].len < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The bytes of [off, off + len) that are stored (not a hole). */
static uint64_t img_covered(const image *im, uint64_t off, size_t len)
{
    uint64_t end = off + len, c = 0;
    for (size_t i = img_find(im, off); i < im->n && im->x[i].off < end; i++) {
        uint64_t a = im->x[i].off > off ? im->x[i].off : off;
        uint64_t b = im->x[i].off + im->x[i].len < end ? im->x[i].off + im->x[i].len : end;
        if (b > a)
            c += b - a;
    }
    return c;
}

/* Read [off, off + len), which lies within the file: holes read as zeros. */
static void img_read(const image *im, uint64_t off, uint8_t *buf, size_t len)
{
    memset(buf, 0, len);
    uint64_t end = off + len;
    for (size_t i = img_find(im, off); i < im->n && im->x[i].off < end; i++) {
        const extent *e = &im->x[i];
        uint64_t a = e->off > off ? e->off : off;
        uint64_t b = e->off + e->len < end ? e->off + e->len : end;
        if (b > a)
            memcpy(buf + (a - off), e->b + (a - e->off), (size_t)(b - a));
    }
}

/* Put len (> 0) bytes at off: they and the extents they overlap or touch
 * become one extent. Returns 0, or WEFT_ENOMEM with the image unchanged. */
static int img_write(weft__simnet *n, image *im, uint64_t off, const void *buf, size_t len)
{
    uint64_t end = off + len;
    size_t i = img_find(im, off), j = i;
    while (j < im->n && im->x[j].off <= end)
        j++;
    uint64_t lo = off, hi = end;
    if (j > i) {
        lo = im->x[i].off < lo ? im->x[i].off : lo;
        hi = im->x[j - 1].off + im->x[j - 1].len > hi ? im->x[j - 1].off + im->x[j - 1].len : hi;
    }
    if (hi - lo > SIZE_MAX / 2)
        return WEFT_ENOMEM;
    size_t span = (size_t)(hi - lo);
    /* Taken first: a new slot, or a larger buffer (doubling, so that a
     * file written from start to end is copied O(1) times a byte). */
    if (j == i && weft__grow(&n->rt->base_alloc, (void **)&im->x, &im->cap, im->n, sizeof *im->x, 4) < 0)
        return WEFT_ENOMEM;
    uint8_t *b = NULL;
    size_t cap = 0;
    bool in_place = j > i && im->x[i].off == lo && im->x[i].cap >= span;
    if (in_place) {
        b = im->x[i].b;
        cap = im->x[i].cap;
    } else {
        cap = 256;
        while (cap < span)
            cap *= 2;
        if (!(b = weft__simnet_alloc(n, cap)))
            return WEFT_ENOMEM;
    }
    /* Nothing can fail from here. */
    uint64_t old = 0;
    for (size_t k = i; k < j; k++) {
        extent *e = &im->x[k];
        old += e->len;
        if (k == i && in_place)
            continue;
        memcpy(b + (e->off - lo), e->b, e->len);
        weft__simnet_free_mem(n, e->b, e->cap);
    }
    memcpy(b + (off - lo), buf, len);
    if (j == i) {
        memmove(&im->x[i + 1], &im->x[i], (im->n - i) * sizeof *im->x);
        im->n++;
    } else if (j > i + 1) {
        memmove(&im->x[i + 1], &im->x[j], (im->n - j) * sizeof *im->x);
        im->n -= j - i - 1;
    }
    im->x[i] = (extent){lo, span, cap, b};
    im->stored += span - old;
    if (end > im->size)
        im->size = end;
    return 0;
}

/* The file's length becomes size: what lies past it is gone. */
static void img_truncate(weft__simnet *n, image *im, uint64_t size)
{
    while (im->n && im->x[im->n - 1].off >= size) {
        extent *e = &im->x[--im->n];
        im->stored -= e->len;
        weft__simnet_free_mem(n, e->b, e->cap);
    }
    if (im->n) {
        extent *e = &im->x[im->n - 1];
        if (e->off + e->len > size) {
            im->stored -= e->off + e->len - size;
            e->len = (size_t)(size - e->off);
        }
    }
    im->size = size;
}

/* *dst becomes a copy of *src. Returns 0, or WEFT_ENOMEM with *dst as it
 * was. */
static int img_copy(weft__simnet *n, image *dst, const image *src)
{
    image c = {NULL, 0, 0, src->size, src->stored};
    if (src->n) {
        if (!(c.x = weft__simnet_alloc(n, src->n * sizeof *c.x)))
            return WEFT_ENOMEM;
        c.cap = src->n;
    }
    for (; c.n < src->n; c.n++) {
        const extent *e = &src->x[c.n];
        uint8_t *b = weft__simnet_alloc(n, e->len);
        if (!b) {
            img_free(n, &c);
            return WEFT_ENOMEM;
        }
        memcpy(b, e->b, e->len);
        c.x[c.n] = (extent){e->off, e->len, e->len, b};
    }
    img_free(n, dst);
    *dst = c;
    return 0;
}

/* ---- files ------------------------------------------------------------------------------ */

static weft__simfile *find(weft_node *node, const char *path)
{
    for (weft__simfile *f = node->files; f; f = f->next)
        if (!f->removed && !strcmp(f->path, path))
            return f;
    return NULL;
}

/* What the node's files take on its disk (holes do not count). */
static uint64_t used(const weft_node *node)
{
    uint64_t u = 0;
    for (const weft__simfile *f = node->files; f; f = f->next)
        if (!f->removed)
            u += f->data.stored;
    return u;
}

static void pending_free(weft__simnet *n, weft__simfile *f)
{
    for (size_t i = 0; i < f->npend; i++)
        weft__simnet_free_mem(n, f->pend[i].bytes, f->pend[i].len);
    f->npend = 0;
}

/* Room for one more unsynced write (taken before the write changes
 * anything). */
static int pending_reserve(weft__simnet *n, weft__simfile *f)
{
    int r = weft__grow(&n->rt->base_alloc, (void **)&f->pend, &f->pcap, f->npend, sizeof *f->pend, 8);
    return r < 0 ? WEFT_ENOMEM : 0;
}

static uint64_t disk_latency(weft__simnet *n, const weft_node *node)
{
    return weft__net_uniform(n, node->disk.latency_min_ns, node->disk.latency_spread_ns);
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
    fd->node = node;
    fd->life = node->head.life;
    if ((fl & WEFT_FILE_TRUNC) && f->data.size) {
        if (pending_reserve(n, f) < 0) {
            weft__simnet_free_mem(n, fd, sizeof *fd);
            return WEFT_ENOMEM;
        }
        f->pend[f->npend++] = (pending_write){0, 0, true, NULL};
        img_truncate(n, &f->data, 0);
    }
    op->h->bk = fd;
    op->h->type = WEFT__H_FILE;
    return 0;
}

weft_node *weft__disk_owner(const weft__ioh *h, uint32_t *life)
{
    const simfd *fd = h->bk;
    *life = fd->life;
    return fd->node;
}

int weft__disk_submit(weft__simnet *n, weft_node *node, weft__io *op)
{
    simfd *fd = op->h ? op->h->bk : NULL;
    if (fd)
        node = fd->node; /* an open file is on its own node's disk, whoever calls */
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
        uint64_t size = f->data.size;
        size_t k = off >= size ? 0 : size - off < op->len ? (size_t)(size - off) : op->len;
        if (k)
            img_read(&f->data, off, op->buf, k);
        if (op->offset == WEFT__IO_AT_POS)
            fd->pos += k;
        return finish(n, node, op, (int64_t)k);
    }
    case WEFT__IO_FILE_WRITE: {
        if (!(fd->flags & WEFT_FILE_WRITE))
            return WEFT_EBADF;
        weft__simfile *f = fd->f;
        bool at_pos = op->offset == WEFT__IO_AT_POS || (fd->flags & WEFT_FILE_APPEND);
        uint64_t off = (fd->flags & WEFT_FILE_APPEND)     ? f->data.size
                       : op->offset == WEFT__IO_AT_POS ? fd->pos
                                                       : op->offset;
        size_t len = op->len;
        /* Linux's checks, before any IO: past the largest file, EFBIG;
         * across it, cut short. */
        if (len && off >= WEFT_DISK_FILE_MAX)
            return WEFT_MISUSE(WEFT_EFBIG,
                               "a file write at offset %llu: past the simulated disk's largest file "
                               "(WEFT_DISK_FILE_MAX, %llu bytes)",
                               (unsigned long long)off, (unsigned long long)WEFT_DISK_FILE_MAX);
        if (len > WEFT_DISK_FILE_MAX - off)
            len = (size_t)(WEFT_DISK_FILE_MAX - off);
        if (fault(n, c->write_error_permille))
            return finish(n, node, op, WEFT_EIO);
        /* Nothing to write changes nothing (and is no unsynced write). */
        if (len == 0)
            return finish(n, node, op, 0);
        uint64_t grow = len - img_covered(&f->data, off, len);
        if (c->capacity_bytes && used(node) + grow > c->capacity_bytes)
            return finish(n, node, op, WEFT_ENOSPC);
        /* Taken in turn, the write (last) changing nothing if it fails. */
        uint8_t *copy = NULL;
        if (pending_reserve(n, f) < 0 || !(copy = weft__simnet_alloc(n, len)))
            return WEFT_ENOMEM;
        if (img_write(n, &f->data, off, op->buf, len) < 0) {
            weft__simnet_free_mem(n, copy, len);
            return WEFT_ENOMEM;
        }
        memcpy(copy, op->buf, len);
        f->pend[f->npend++] = (pending_write){off, len, false, copy};
        if (at_pos)
            fd->pos = off + len;
        return finish(n, node, op, (int64_t)len);
    }
    case WEFT__IO_FSYNC: {
        weft__simfile *f = fd->f;
        if (img_copy(n, &f->durable, &f->data) < 0)
            return WEFT_ENOMEM;
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
        image img = {0};
        if (img_copy(n, &img, &f->durable) < 0)
            continue;
        for (size_t i = 0; i < f->npend; i++) {
            pending_write *w = &f->pend[i];
            if (!fault(n, c->torn_permille))
                continue;
            if (w->trunc) {
                if (w->off < img.size)
                    img_truncate(n, &img, w->off);
                continue;
            }
            for (size_t k = 0; k < w->len;) {
                size_t piece = bs - (size_t)((w->off + k) % bs);
                if (piece > w->len - k)
                    piece = w->len - k;
                if (weft__decide(n->sim, WEFT__S_FAULT, 2, false))
                    img_write(n, &img, w->off + k, w->bytes + k, piece); /* (the world's books do not fail) */
                k += piece;
            }
        }
        pending_free(n, f);
        img_free(n, &f->data);
        f->data = img;
        /* What survived is on the disk now. */
        img_copy(n, &f->durable, &f->data);
    }
}

void weft__disk_free(weft__simnet *n, weft_node *node)
{
    weft__simfile *f = node->files;
    while (f) {
        weft__simfile *next = f->next;
        pending_free(n, f);
        weft__simnet_free_mem(n, f->pend, f->pcap * sizeof *f->pend);
        img_free(n, &f->data);
        img_free(n, &f->durable);
        weft__simnet_free_mem(n, f->path, strlen(f->path) + 1);
        weft__simnet_free_mem(n, f, sizeof *f);
        f = next;
    }
    node->files = NULL;
}
