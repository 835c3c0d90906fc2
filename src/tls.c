/* tls.c — task-local storage: per task, a small array of (key, value)
 * pairs, searched linearly (a task holds a handful of locals), grown from the
 * runtime's allocator, and handed to each key's destructor when the task
 * finishes. A key is a caller-allocated object: no global registry. The
 * array keeps its own length and capacity, so a task record spends one
 * pointer on it (most tasks have none). */
#include "core.h"

#define KEY_MAGIC 0x746C736Bu

typedef struct weft__local {
    const weft_tls_key *key;
    void *value;
} weft__local;

struct weft__locals {
    unsigned n, cap;
    weft__local v[];
};

static size_t block_size(unsigned cap)
{
    return sizeof(weft__locals) + (size_t)cap * sizeof(weft__local);
}

static bool valid(const weft_tls_key *k)
{
    return k && k->magic == KEY_MAGIC;
}

int weft_tls_key_init(weft_tls_key *key, void (*dtor)(void *value))
{
    if (!key)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_tls_key_init: NULL key");
    key->dtor = dtor;
    key->magic = KEY_MAGIC;
    return 0;
}

static weft__local *find(const weft__task *t, const weft_tls_key *key)
{
    weft__locals *ls = t->locals;
    for (unsigned i = 0; ls && i < ls->n; i++)
        if (ls->v[i].key == key)
            return &ls->v[i];
    return NULL;
}

void *weft_tls_get(const weft_tls_key *key)
{
    weft__task *t = weft__current();
    if (!t || !valid(key))
        return NULL;
    weft__local *l = find(t, key);
    return l ? l->value : NULL;
}

int weft_tls_set(const weft_tls_key *key, void *value)
{
    if (!valid(key))
        return WEFT_MISUSE(WEFT_EINVAL, "weft_tls_set: %s", key ? "key not initialized" : "NULL key");
    weft__worker *w;
    int r = weft__require_task(&w, "weft_tls_set");
    if (r < 0)
        return r;
    weft__task *t = w->current;
    weft__local *l = find(t, key);
    if (!l) {
        weft__locals *ls = t->locals;
        unsigned n = ls ? ls->n : 0, cap = ls ? ls->cap : 0;
        if (n == cap) {
            /* Full: twice as many (4 at first), as weft__grow would. */
            unsigned ncap = cap ? cap * 2 : 4;
            weft__locals *nls = weft__alloc(w->rt, block_size(ncap));
            if (!nls)
                return WEFT_ENOMEM;
            if (n)
                memcpy(nls->v, ls->v, n * sizeof *ls->v);
            if (ls)
                weft__free(w->rt, ls, block_size(cap));
            nls->n = n;
            nls->cap = ncap;
            t->locals = ls = nls;
        }
        l = &ls->v[ls->n++];
        l->key = key;
    }
    l->value = value;
    return 0;
}

void weft__locals_release(weft_rt *rt, weft__task *t)
{
    weft__locals *ls = t->locals;
    for (unsigned i = 0; i < ls->n; i++) {
        weft__local *l = &ls->v[i];
        if (l->value && l->key->dtor)
            l->key->dtor(l->value);
    }
    weft__free(rt, ls, block_size(ls->cap));
    t->locals = NULL;
}
