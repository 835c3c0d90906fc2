/* main.c — the layering check's program: a threaded runtime built from the
 * core and the real backends only (no simulator linked in) spawns, joins and
 * passes messages. Exits 0 when everything arrived. */
#include <stdint.h>
#include <stdio.h>
#include <weft.h>

enum { ITEMS = 1000 };

static void *produce(void *arg)
{
    weft_chan *ch = arg;
    for (uint64_t i = 1; i <= ITEMS; i++)
        if (weft_chan_send(ch, &i) != 0)
            return (void *)1;
    return NULL;
}

static void *root(void *arg)
{
    (void)arg;
    weft_chan *ch;
    if (weft_chan_new(&ch, sizeof(uint64_t), 8) != 0)
        return (void *)1;
    weft_task *t;
    if (weft_spawn(&t, produce, ch) != 0)
        return (void *)1;
    uint64_t sum = 0, v;
    for (int i = 0; i < ITEMS; i++) {
        if (weft_chan_recv(ch, &v) != 0)
            return (void *)1;
        sum += v;
    }
    void *r;
    if (weft_join(t, &r) != 0 || r != NULL || weft_chan_free(ch) != 0)
        return (void *)1;
    return sum == (uint64_t)ITEMS * (ITEMS + 1) / 2 ? NULL : (void *)1;
}

int main(void)
{
    weft_config c = {0};
    c.mode = WEFT_MODE_THREADED;
    c.workers = 2;
    c.flags = WEFT_CFG_NO_ENV;
    weft_rt *rt;
    void *r = (void *)1;
    if (weft_rt_new(&rt, &c) != 0 || weft_rt_block_on(rt, root, NULL, &r) != 0 || r != NULL) {
        fprintf(stderr, "layering: the core and real backends alone did not run a threaded runtime\n");
        return 1;
    }
    weft_rt_free(rt);
    printf("layering: src/ and backends/ alone run a threaded runtime (no simulator linked)\n");
    return 0;
}
