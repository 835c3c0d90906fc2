/* bulk.c — task records in bulk: once a runtime holds more than a few chunks
 * of records, further chunks are carved from 2 MiB-aligned regions that the
 * kernel may back with huge pages (MADV_HUGEPAGE), so a burst of a million
 * queued tasks costs a few hundred page faults instead of forty thousand (a
 * user's first burst is mostly page faults otherwise). A small runtime never
 * maps a region: its idle memory stays a few pages.
 *
 * Regions are mapped through rt->os like stacks (a 4 MiB mapping trimmed to
 * its aligned 2 MiB: rt->os.munmap sees both ends). A simulated runtime, or one
 * with an allocator of its own, allocates every chunk through rt->alloc (the
 * simulator counts and fails those; a user allocator sees them all).
 */
#define _GNU_SOURCE
#include "core.h"

#include <sys/mman.h>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define WEFT_HAVE_VALGRIND 1
#endif

#ifndef MADV_HUGEPAGE
#define MADV_HUGEPAGE 14
#endif

#define WEFT__REGION_SIZE (2u * 1024u * 1024u)

/* A region's first bytes link it to the previous one. */
typedef struct weft__region {
    struct weft__region *next;
    size_t len;
} weft__region;

/* Room for the header, keeping chunks 64-byte aligned. */
#define WEFT__REGION_HEAD 64u

/* Under ASan and valgrind records stay on the heap, where the checkers see
 * them: LeakSanitizer does not scan mapped regions (a pointer held only by a
 * queued task would be reported lost), and valgrind takes fresh mappings as
 * initialized (a field a spawn forgot to set would go unreported). */
static bool checked_build(void)
{
#ifdef WEFT_ASAN
    return true;
#elif defined(WEFT_HAVE_VALGRIND)
    return RUNNING_ON_VALGRIND != 0;
#else
    return false;
#endif
}

bool weft__bulk_wanted(const weft_rt *rt, uint32_t chunk_index)
{
    return chunk_index >= WEFT__BULK_AFTER_CHUNKS && !(rt->caps & WEFT__CAP_DETERMINISTIC) &&
           rt->base_alloc.alloc == weft__malloc_allocator.alloc && rt->bulk.enabled && !checked_build();
}

/* Map a region aligned to its size: huge pages need the alignment. */
static weft__region *region_new(weft_rt *rt)
{
    int err = 0;
    size_t len = 2 * (size_t)WEFT__REGION_SIZE;
    char *raw = rt->os.mmap(rt->os.ctx, len, PROT_READ | PROT_WRITE, &err);
    if (!raw)
        return NULL;
    uintptr_t start = ((uintptr_t)raw + WEFT__REGION_SIZE - 1) & ~(uintptr_t)(WEFT__REGION_SIZE - 1);
    size_t head = start - (uintptr_t)raw, tail = len - head - WEFT__REGION_SIZE;
    if (head)
        rt->os.munmap(rt->os.ctx, raw, head);
    if (tail)
        rt->os.munmap(rt->os.ctx, (char *)start + WEFT__REGION_SIZE, tail);
    /* Advice only: without transparent huge pages the region is ordinary
     * memory, faulted in page by page. */
    rt->os.madvise(rt->os.ctx, (void *)start, WEFT__REGION_SIZE, MADV_HUGEPAGE);
    weft__region *r = (weft__region *)start;
    r->next = rt->bulk.regions;
    r->len = WEFT__REGION_SIZE;
    rt->bulk.regions = r;
    rt->bulk.used = WEFT__REGION_HEAD;
    return r;
}

void *weft__bulk_alloc(weft_rt *rt, size_t size)
{
    size = (size + 63u) & ~(size_t)63u;
    if (size > WEFT__REGION_SIZE - WEFT__REGION_HEAD)
        return NULL;
    weft__region *r = rt->bulk.regions;
    if (!r || rt->bulk.used + size > r->len) {
        if (!(r = region_new(rt))) {
            rt->bulk.enabled = false; /* chunks come from rt->alloc from here on */
            return NULL;
        }
    }
    void *p = (char *)r + rt->bulk.used;
    rt->bulk.used += size;
    return p;
}

void weft__bulk_free_all(weft_rt *rt)
{
    weft__region *r = rt->bulk.regions;
    while (r) {
        weft__region *next = r->next;
        rt->os.munmap(rt->os.ctx, r, r->len);
        r = next;
    }
    rt->bulk.regions = NULL;
    rt->bulk.used = 0;
}
