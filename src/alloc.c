/* alloc.c — every runtime allocation goes through here, so that the
 * configured allocator is honoured and the simulator (which wraps rt->alloc)
 * can fail any of them. */
#include "core.h"

#include <stdlib.h>

void *weft__alloc(weft_rt *rt, size_t size)
{
    return rt->alloc.alloc(rt->alloc.ctx, size ? size : 1);
}

void *weft__calloc(weft_rt *rt, size_t size)
{
    void *p = weft__alloc(rt, size);
    if (p)
        memset(p, 0, size);
    return p;
}

void weft__free(weft_rt *rt, void *p, size_t size)
{
    if (p)
        rt->alloc.free(rt->alloc.ctx, p, size ? size : 1);
}

static void *malloc_alloc(void *ctx, size_t size)
{
    (void)ctx;
    return malloc(size);
}

static void malloc_free(void *ctx, void *p, size_t size)
{
    (void)ctx;
    (void)size;
    free(p);
}

const weft_allocator weft__malloc_allocator = {malloc_alloc, malloc_free, NULL};

/* A large array's new half is made present in one call: it is written from
 * end to end as the array fills (a long simulated run's record of decisions:
 * 16 bytes each), and on this VM a fault costs 11-14 us a page where one
 * call costs about 0.6 us a page. A small array is left to fault. */
#define WEFT__PREFAULT_MIN (64u * 1024u)

int weft__grow(const weft_allocator *a, void **v, size_t *cap, size_t len, size_t elem, size_t first)
{
    if (len < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : first;
    if (ncap > SIZE_MAX / elem)
        return WEFT_ENOMEM;
    /* With the default allocator the array is realloc'ed: a large one (a
     * long run's record of decisions) is then moved by remapping its pages,
     * not copied into fresh ones, which a long run pays in page faults
     * (sim_decisions ran a third slower with the copy). The allocator
     * interface has no realloc; this is the one place that would use it. On
     * failure *v is left as it was, as below. */
    if (a->alloc == malloc_alloc && a->free == malloc_free) {
        void *rv = realloc(*v, ncap * elem);
        if (!rv)
            return WEFT_ENOMEM;
        *v = rv;
        if (ncap * elem >= WEFT__PREFAULT_MIN)
            weft__os_prefault(NULL, (char *)rv + *cap * elem, (ncap - *cap) * elem);
        *cap = ncap;
        return 0;
    }
    void *nv = a->alloc(a->ctx, ncap * elem);
    if (!nv)
        return WEFT_ENOMEM;
    if (len)
        memcpy(nv, *v, len * elem);
    if (*v)
        a->free(a->ctx, *v, *cap * elem);
    *v = nv;
    *cap = ncap;
    return 0;
}

void *weft_alloc(size_t size)
{
    weft__worker *w = weft__tls_worker;
    return w ? weft__alloc(w->rt, size) : malloc(size ? size : 1);
}

void weft_free(void *ptr, size_t size)
{
    weft__worker *w = weft__tls_worker;
    if (w)
        weft__free(w->rt, ptr, size);
    else
        free(ptr);
}
