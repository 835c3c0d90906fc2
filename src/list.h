/* list.h — the one intrusive list of the library (libuv's queue.h plays this
 * part there): a doubly linked, NULL-terminated list of weft_link nodes
 * embedded in their owners. A zero-filled weft_list is an empty list, so
 * objects that are valid when zero-filled (weft_once) need no init. Wait
 * lists, timer slots, run queues, scope children, stack and task free lists
 * all use it. Not thread-safe: whoever owns the list serializes access. */
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

#endif /* WEFT_LIST_H */
