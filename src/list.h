/* list.h — the one intrusive list of the library (libuv's queue.h plays this
 * part there): a doubly linked, NULL-terminated list of weft_link nodes
 * embedded in their owners. A zero-filled weft_list is an empty list, so
 * objects that are valid when zero-filled (weft_once) need no init. Wait
 * lists, timer slots, run queues, scope children and stack free lists all
 * use it; the task records' free lists use its one-way form, weft_freelist,
 * below (a spawn takes and a finish gives one on every task). Not
 * thread-safe: whoever owns the list serializes access. */
#ifndef WEFT_LIST_H
#define WEFT_LIST_H

#include "base.h"

#define WEFT_LIST_ENTRY(link, type, member) WEFT_CONTAINER_OF(link, type, member)
#define WEFT_LIST_FOREACH(l, it) for (weft_link *it = (l)->head; it; it = it->next)

static inline bool weft__list_empty(const weft_list *l)
{
    return l->head == NULL;
}

static inline void weft__list_push_tail(weft_list *l, weft_link *n)
{
    n->next = NULL;
    n->prev = l->tail;
    if (l->tail)
        l->tail->next = n;
    else
        l->head = n;
    l->tail = n;
}

static inline void weft__list_push_head(weft_list *l, weft_link *n)
{
    n->prev = NULL;
    n->next = l->head;
    if (l->head)
        l->head->prev = n;
    else
        l->tail = n;
    l->head = n;
}

/* Insert n right after `after` (NULL: at the head). */
static inline void weft__list_insert_after(weft_list *l, weft_link *after, weft_link *n)
{
    if (!after) {
        weft__list_push_head(l, n);
        return;
    }
    n->prev = after;
    n->next = after->next;
    if (after->next)
        after->next->prev = n;
    else
        l->tail = n;
    after->next = n;
}

static inline void weft__list_remove(weft_list *l, weft_link *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else
        l->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        l->tail = n->prev;
    n->next = n->prev = NULL;
}

static inline weft_link *weft__list_pop_head(weft_list *l)
{
    weft_link *n = l->head;
    if (n) {
        l->head = n->next;
        if (l->head)
            l->head->prev = NULL;
        else
            l->tail = NULL;
        n->next = n->prev = NULL;
    }
    return n;
}

/* Move every node of from to the tail of to; from ends empty. */
static inline void weft__list_splice_tail(weft_list *to, weft_list *from)
{
    if (!from->head)
        return;
    if (to->tail) {
        to->tail->next = from->head;
        from->head->prev = to->tail;
    } else {
        to->head = from->head;
    }
    to->tail = from->tail;
    from->head = from->tail = NULL;
}

/* A free list: a stack of weft_link nodes linked through `next` alone, with
 * its length. Zero-filled: empty. */
typedef struct weft_freelist {
    weft_link *top;
    size_t len;
} weft_freelist;

static inline void weft__freelist_push(weft_freelist *f, weft_link *n)
{
    n->next = f->top;
    f->top = n;
    f->len++;
}

static inline weft_link *weft__freelist_pop(weft_freelist *f)
{
    weft_link *n = f->top;
    if (n) {
        f->top = n->next;
        n->next = NULL;
        f->len--;
    }
    return n;
}

/* Move the top min(n, from->len) nodes of from onto to, in one splice. */
static inline void weft__freelist_move(weft_freelist *to, weft_freelist *from, size_t n)
{
    if (n > from->len)
        n = from->len;
    if (!n)
        return;
    weft_link *first = from->top, *last = first;
    for (size_t i = 1; i < n; i++)
        last = last->next;
    from->top = last->next;
    from->len -= n;
    last->next = to->top;
    to->top = first;
    to->len += n;
}

#endif /* WEFT_LIST_H */
