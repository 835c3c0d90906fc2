/* tls.c — task-local storage: per task, a small array of (key, value)
 * pairs, searched linearly (a task holds a handful of locals), grown from the
 * runtime's allocator, and handed to each key's destructor when the task
 * finishes. A key is a caller-allocated object: no global registry. */
#include "core.h"

#define KEY_MAGIC 0x746C736Bu

struct weft__local {
    const weft_tls_key *key;
    void *value;
};

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
    for (unsigned i = 0; i < t->nlocals; i++)
        if (t->locals[i].key == key)
            return &t->locals[i];
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
        size_t cap = t->locals_cap;
        if (weft__grow(&w->rt->alloc, (void **)&t->locals, &cap, t->nlocals, sizeof *t->locals, 4) < 0)
            return WEFT_ENOMEM;
        t->locals_cap = (unsigned)cap;
        l = &t->locals[t->nlocals++];
        l->key = key;
    }
    l->value = value;
    return 0;
}

void weft__locals_release(weft_rt *rt, weft__task *t)
{
    for (unsigned i = 0; i < t->nlocals; i++) {
        weft__local *l = &t->locals[i];
        if (l->value && l->key->dtor)
            l->key->dtor(l->value);
    }
    weft__free(rt, t->locals, t->locals_cap * sizeof *t->locals);
    t->locals = NULL;
    t->nlocals = t->locals_cap = 0;
}
