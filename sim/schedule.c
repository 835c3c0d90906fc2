/* schedule.c — the printable encoding of a run's decisions, for
 * WEFT_SCHEDULE=<schedule> replay lines.
 *
 * The version: "S<n>." names the schedule format version n
 * (WEFT_SCHEDULE_VERSION). It is bumped whenever the same decisions would
 * mean a different run — a change to where the scheduler offers choices, to
 * the streams, or to what a trace hashes — which is exactly when the golden
 * hashes of tests/det/golden.txt change. A schedule of another version is
 * refused with a message naming both versions, never replayed into a
 * different run.
 *
 * Then base64url (no padding) of a varint stream. The decoder tracks the
 * current bound b (starting at 2, the common two-way choice). For b > 0 a
 * varint v < b is a decision; v == b escapes, and the next varint is the new
 * bound. For b == 0 (a 64-bit draw) a varint 0 is followed by the value and 1
 * escapes to a new bound. Each decision carries its bound, so replaying a
 * schedule on a program that offers different choices is detected.
 */
#include "sim.h"

#include <stdio.h>
#include <stdlib.h>

#define VERSION_STR2(v) #v
#define VERSION_STR(v) VERSION_STR2(v)
#define PREFIX "S" VERSION_STR(WEFT_SCHEDULE_VERSION) "."
#define FIRST_BOUND 2u

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* The varint stream of n decisions into raw[cap]: its length, or SIZE_MAX if
 * it does not fit. It allocates nothing, so the crash handler can use it. */
static size_t encode_raw(const weft__decision *d, size_t n, uint8_t *raw, size_t cap)
{
    size_t r = 0;
    uint32_t bound = FIRST_BOUND;
    for (size_t i = 0; i < n; i++) {
        /* Most decisions keep the bound and choose a small value: one byte. */
        if (d[i].bound == bound && bound && d[i].value < 0x80) {
            if (r == cap)
                return SIZE_MAX;
            raw[r++] = (uint8_t)d[i].value;
            continue;
        }
        uint64_t vals[4];
        int k = 0;
        if (d[i].bound != bound) {
            vals[k++] = bound ? bound : 1; /* the escape, then the new bound */
            vals[k++] = d[i].bound;
            bound = d[i].bound;
        }
        if (bound == 0)
            vals[k++] = 0; /* "a 64-bit value follows" */
        vals[k++] = d[i].value;
        for (int j = 0; j < k; j++) {
            uint64_t x = vals[j];
            do {
                if (r == cap)
                    return SIZE_MAX;
                raw[r++] = (uint8_t)(x >= 0x80 ? (x | 0x80) : x);
                x >>= 7;
            } while (x);
        }
    }
    return r;
}

/* Each decision is at most four varints of at most ten bytes. */
#define RAW_PER_DECISION 40u

static size_t b64_len(size_t n) { return (n * 4 + 2) / 3; }

/* "S1." and the base64url of raw into buf[len]; the length written (without
 * the terminating NUL), or 0 if it does not fit. */
static size_t write_text(const uint8_t *raw, size_t n, char *buf, size_t len)
{
    size_t need = sizeof PREFIX - 1 + b64_len(n) + 1;
    if (need > len)
        return 0;
    memcpy(buf, PREFIX, sizeof PREFIX - 1);
    char *out = buf + sizeof PREFIX - 1;
    size_t o = 0, i = 0;
    /* Whole groups of three bytes, then the tail with its checks. */
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = b64[(v >> 6) & 63];
        out[o++] = b64[v & 63];
    }
    for (; i < n; i += 3) {
        uint32_t v = (uint32_t)raw[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)raw[i + 1] << 8;
        if (i + 2 < n)
            v |= raw[i + 2];
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = b64[(v >> 6) & 63];
        if (i + 2 < n)
            out[o++] = b64[v & 63];
    }
    out[o] = 0;
    return need - 1;
}

int weft__schedule_encode(const weft__decision *d, size_t n, char **out)
{
    size_t cap = n * RAW_PER_DECISION + 1;
    uint8_t *raw = malloc(cap);
    if (!raw)
        return WEFT_ENOMEM;
    size_t r = encode_raw(d, n, raw, cap);
    size_t len = sizeof PREFIX + b64_len(r) + 1;
    char *s = malloc(len);
    if (s)
        write_text(raw, r, s, len);
    free(raw);
    if (!s)
        return WEFT_ENOMEM;
    *out = s;
    return 0;
}

size_t weft__schedule_encode_into(const weft__decision *d, size_t n, char *buf, size_t len)
{
    uint8_t raw[3072];
    size_t r = encode_raw(d, n, raw, sizeof raw);
    return r == SIZE_MAX ? 0 : write_text(raw, r, buf, len);
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
        unsigned long version = 0;
        int used = 0;
        if (text[0] == 'S' && sscanf(text + 1, "%lu.%n", &version, &used) == 1 && used > 0)
            snprintf(why, whylen,
                     "it was recorded in schedule format version %lu, and this weft replays version %d (the "
                     "scheduler's choices changed since: record it again)",
                     version, WEFT_SCHEDULE_VERSION);
        else
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
        return WEFT_MISUSE_RT(rt, WEFT_EINVAL, "weft_rt_schedule: NULL argument");
    *out = NULL;
    const weft__sim *s = weft__sim_of(rt);
    if (!s)
        return WEFT_MISUSE_RT(rt, WEFT_EINVAL, "weft_rt_schedule: not a simulated runtime");
    if (len)
        *len = s->rec.len;
    if (s->rec_truncated)
        return WEFT_ENOMEM;
    return weft__schedule_encode(s->rec.v, s->rec.len, out);
}
