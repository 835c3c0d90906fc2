/* fmt.c — the library's one signal-safe formatter (crash reports and replay
 * lines are written from signal handlers: no allocation, no stdio) and its
 * one string hash (FNV-1a: stable on every machine, so it may name things in
 * traces and schedules). */
#include "core.h"

#include <unistd.h>

void weft__fmt_str(char *buf, size_t len, size_t *n, const char *s)
{
    if (!len)
        return;
    size_t i = *n;
    for (; s && *s && i + 1 < len; s++)
        buf[i++] = *s;
    buf[i] = 0;
    *n = i;
}

void weft__fmt_u64(char *buf, size_t len, size_t *n, uint64_t v)
{
    char tmp[24];
    size_t m = 0;
    do {
        tmp[m++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    char digits[24];
    for (size_t i = 0; i < m; i++)
        digits[i] = tmp[m - 1 - i];
    digits[m] = 0;
    weft__fmt_str(buf, len, n, digits);
}

void weft__write_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t w = write(fd, buf, len);
        if (w <= 0)
            return;
        buf += w;
        len -= (size_t)w;
    }
}

uint64_t weft__hash_str(uint64_t h, const char *s)
{
    for (; s && *s; s++)
        h = (h ^ (uint8_t)*s) * 0x100000001B3ull;
    return h;
}
