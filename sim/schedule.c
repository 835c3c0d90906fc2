/* schedule.c — the printable encoding of a run's decisions, for
 * WEFT_SCHEDULE=<schedule> replay lines.
 *
 * "S1." then base64url (no padding) of a varint stream. The decoder tracks the
 * current bound b (starting at 2, the common two-way choice). For b > 0 a
 * varint v < b is a decision; v == b escapes, and the next varint is the new
 * bound. For b == 0 (a 64-bit draw) a varint 0 is followed by the value and 1
 * escapes to a new bound. Each decision carries its bound, so replaying a
 * schedule on a program that offers different choices is detected.
 */
#include "sim.h"

#include <stdio.h>
#include <stdlib.h>

#define PREFIX "S1."
#define FIRST_BOUND 2u

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

typedef struct bytes {
    uint8_t *v;
    size_t len, cap;
} bytes;

static int put(bytes *b, uint8_t x)
{
    if (b->len == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        uint8_t *v = realloc(b->v, cap);
        if (!v)
            return WEFT_ENOMEM;
        b->v = v;
        b->cap = cap;
    }
    b->v[b->len++] = x;
    return 0;
}

static int put_varint(bytes *b, uint64_t x)
{
    while (x >= 0x80) {
        if (put(b, (uint8_t)(x | 0x80)) < 0)
            return WEFT_ENOMEM;
        x >>= 7;
    }
    return put(b, (uint8_t)x);
}

static int encode_bytes(const weft__decision *d, size_t n, bytes *b)
{
    uint32_t bound = FIRST_BOUND;
    for (size_t i = 0; i < n; i++) {
        if (d[i].bound != bound) {
            if (put_varint(b, bound ? bound : 1) < 0 || put_varint(b, d[i].bound) < 0)
                return WEFT_ENOMEM;
            bound = d[i].bound;
        }
        if (bound == 0 && put_varint(b, 0) < 0)
            return WEFT_ENOMEM;
        if (put_varint(b, d[i].value) < 0)
            return WEFT_ENOMEM;
    }
    return 0;
}

static size_t b64_len(size_t n) { return (n * 4 + 2) / 3; }

static void b64_write(const uint8_t *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = b64[(v >> 6) & 63];
        if (i + 2 < n)
            out[o++] = b64[v & 63];
    }
    out[o] = 0;
}

int weft__schedule_encode(const weft__decision *d, size_t n, char **out)
{
    bytes b = {0};
    if (encode_bytes(d, n, &b) < 0) {
        free(b.v);
        return WEFT_ENOMEM;
    }
    char *s = malloc(sizeof PREFIX + b64_len(b.len) + 1);
    if (!s) {
        free(b.v);
        return WEFT_ENOMEM;
    }
    memcpy(s, PREFIX, sizeof PREFIX - 1);
    b64_write(b.v, b.len, s + sizeof PREFIX - 1);
    free(b.v);
    *out = s;
    return 0;
}

/* For the crash path, which must not allocate: encode into a fixed buffer,
 * returning the length written or 0 if it does not fit. */
size_t weft__schedule_encode_into(const weft__decision *d, size_t n, char *buf, size_t len)
{
    uint8_t raw[3072];
    size_t r = 0;
    uint32_t bound = FIRST_BOUND;
    for (size_t i = 0; i < n; i++) {
        uint64_t vals[3];
        int k = 0;
        if (d[i].bound != bound) {
            vals[k++] = bound ? bound : 1;
            vals[k++] = d[i].bound;
            bound = d[i].bound;
        }
        for (int j = 0; j < k + 1 + (bound == 0); j++) {
            uint64_t x = j < k ? vals[j] : (bound == 0 && j == k ? 0 : d[i].value);
            do {
                if (r == sizeof raw)
                    return 0;
                raw[r++] = (uint8_t)(x >= 0x80 ? (x | 0x80) : x);
                x >>= 7;
            } while (x);
        }
    }
    size_t need = sizeof PREFIX - 1 + b64_len(r) + 1;
    if (need > len)
        return 0;
    memcpy(buf, PREFIX, sizeof PREFIX - 1);
    b64_write(raw, r, buf + sizeof PREFIX - 1);
    return need - 1;
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

int weft__schedule_decode(weft_rt *rt, const char *text, weft__decisions *out, char *why, size_t whylen)
{
    memset(out, 0, sizeof *out);
    size_t plen = sizeof PREFIX - 1;
    if (strncmp(text, PREFIX, plen) != 0) {
        snprintf(why, whylen, "it must start with \"%s\" (a schedule printed by weft)", PREFIX);
        return WEFT_EINVAL;
    }
    text += plen;
    size_t n = strlen(text);
    if (n % 4 == 1) {
        snprintf(why, whylen, "its length is not a valid base64 length (truncated?)");
        return WEFT_EINVAL;
    }
    uint8_t *raw = malloc(n * 3 / 4 + 3);
    if (!raw)
        return WEFT_ENOMEM;
    size_t r = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value(text[i]);
        if (v < 0) {
            snprintf(why, whylen, "character %zu ('%c') is not base64url", i + plen, text[i]);
            free(raw);
            return WEFT_EINVAL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            raw[r++] = (uint8_t)(acc >> bits);
        }
    }
    size_t pos = 0;
    uint32_t bound = FIRST_BOUND;
    int err = 0;
    while (pos < r && !err) {
        uint64_t v = 0;
        int shift = 0;
        for (;;) {
            if (pos >= r || shift > 63) {
                err = 1;
                break;
            }
            uint8_t c = raw[pos++];
            v |= (uint64_t)(c & 0x7F) << shift;
            shift += 7;
            if (!(c & 0x80))
                break;
        }
        if (err)
            break;
        bool escape = bound ? v == bound : v == 1;
        if (!escape && (bound ? v > bound : v > 1)) {
            err = 2;
            break;
        }
        if (escape || (bound == 0 && v == 0)) {
            uint64_t x = 0;
            shift = 0;
            for (;;) {
                if (pos >= r || shift > 63) {
                    err = 1;
                    break;
                }
                uint8_t c = raw[pos++];
                x |= (uint64_t)(c & 0x7F) << shift;
                shift += 7;
                if (!(c & 0x80))
                    break;
            }
            if (err)
                break;
            if (escape) {
                if (x > UINT32_MAX || x == 1) {
                    err = 2;
                    break;
                }
                bound = (uint32_t)x;
                continue;
            }
            v = x;
        }
        weft__decision d = {v, bound, 0, 0};
        if (weft__decisions_push(rt, out, &d) < 0) {
            free(raw);
            weft__decisions_free(rt, out);
            return WEFT_ENOMEM;
        }
    }
    free(raw);
    if (err) {
        snprintf(why, whylen, "%s at byte %zu", err == 1 ? "it is truncated" : "it holds an impossible choice", pos);
        weft__decisions_free(rt, out);
        return WEFT_EINVAL;
    }
    return 0;
}

int weft_rt_schedule(const weft_rt *rt, char **out, size_t *len)
{
    if (!rt || !out)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_rt_schedule: NULL argument");
    *out = NULL;
    if (!rt->sim)
        return WEFT_MISUSE(WEFT_EINVAL, "weft_rt_schedule: not a simulated runtime");
    if (len)
        *len = rt->sim->rec.len;
    if (rt->sim->rec_truncated)
        return WEFT_ENOMEM;
    return weft__schedule_encode(rt->sim->rec.v, rt->sim->rec.len, out);
}
