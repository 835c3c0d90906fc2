/* alloc.c — every runtime allocation goes through here, so that the
 * configured allocator is honoured and the simulator can fail any of them. */
#include "internal.h"

#include <stdlib.h>

void *weft__alloc(weft_rt *rt, size_t size)
{
    if (WEFT_UNLIKELY(rt->sim != NULL) && weft__sim_fail_alloc(rt))
        return NULL;
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
