/* fuzz_schedule_decode.c — WEFT_SCHEDULE comes from users and CI logs: any
 * string must be either a schedule or a clean WEFT_EINVAL, never a crash,
 * and a decoded schedule must replay (strictly) without crashing either. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <weft.h>

static void *small(void *arg)
{
    (void)arg;
    for (int i = 0; i < 3; i++) {
        weft_spawn(NULL, (weft_fn)(uintptr_t)0, NULL); /* refused: EINVAL */
        weft_sched_point();
        (void)weft_rand();
    }
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 4);
    if (!text)
        abort();
    memcpy(text, "S2.", 3);
    memcpy(text + 3, data, size);
    text[size + 3] = 0;
    weft_config c;
    memset(&c, 0, sizeof c);
    c.workers = 2;
    c.flags = WEFT_CFG_NO_ENV | WEFT_CFG_QUIET;
    c.schedule = size && data[0] == '!' ? (const char *)text + 4 : text;
    weft_rt *rt;
    int r = weft_rt_new(&rt, &c);
    if (r == 0) {
        r = weft_rt_block_on(rt, small, NULL, NULL);
        if (r != 0 && r != WEFT_ESCHEDULE)
            abort();
        weft_rt_free(rt);
    } else if (r != WEFT_EINVAL) {
        abort();
    }
    free(text);
    return 0;
}
