/* uring.c — the io_uring reactor (placeholder until written). */
#include "reactor.h"

#include <stdio.h>

static int ur_create(weft_rt *rt, weft__worker *w, weft__reactor **out, char *why, size_t whylen)
{
    (void)rt;
    (void)w;
    (void)out;
    snprintf(why, whylen, "not built");
    return WEFT_ENOTSUP;
}

const weft__reactor_ops weft__reactor_uring = {.name = "io_uring", .create = ur_create};
