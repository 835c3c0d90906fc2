/* io_addr.c — numeric socket addresses as text and back: "a.b.c.d:port" and
 * "[v6]:port" (RFC 4291 text in, RFC 5952's canonical text out). Written out
 * by hand rather than with inet_pton so the rules are exact (no octal "010",
 * no trailing junk, no port above 65535, no zone "%eth0") and the same for
 * the simulator, which must never hand a virtual address to the OS. */
#include "core.h"

#include <stdio.h>

static int parse_u(const char **p, unsigned max, int base, unsigned maxdigits, unsigned *out)
{
    const char *s = *p;
    unsigned v = 0, n = 0;
    for (;; s++, n++) {
        int d;
        if (*s >= '0' && *s <= '9')
            d = *s - '0';
        else if (base == 16 && *s >= 'a' && *s <= 'f')
            d = *s - 'a' + 10;
        else if (base == 16 && *s >= 'A' && *s <= 'F')
            d = *s - 'A' + 10;
        else
            break;
        if (n >= maxdigits)
            return -1;
        v = v * (unsigned)base + (unsigned)d;
        if (v > max)
            return -1;
    }
    if (n == 0)
        return -1;
    /* A leading zero in a decimal number of several digits reads as octal
     * to inet_aton: refuse it rather than guess. */
    if (base == 10 && n > 1 && **p == '0')
        return -1;
    *p = s;
    *out = v;
    return 0;
}

static int parse_v4(const char **p, uint8_t ip[4])
{
    for (int i = 0; i < 4; i++) {
        unsigned v;
        if (i && *(*p)++ != '.')
            return -1;
        if (parse_u(p, 255, 10, 3, &v) < 0)
            return -1;
        ip[i] = (uint8_t)v;
    }
    return 0;
}

/* RFC 4291 text: groups of hex, one "::" for a run of zero groups. */
static int parse_v6(const char *s, const char *end, uint8_t ip[16])
{
    uint16_t g[8];
    int n = 0, gap = -1;
    const char *p = s;
    if (p + 1 < end && p[0] == ':' && p[1] == ':') {
        gap = 0;
        p += 2;
    }
    while (p < end) {
        if (n == 8)
            return -1;
        /* The last 32 bits may be written as an IPv4 address
         * ("::ffff:1.2.3.4"): digits that run into a '.' start one. */
        const char *q = p;
        while (q < end && ((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f') || (*q >= 'A' && *q <= 'F')))
            q++;
        if (q < end && *q == '.') {
            uint8_t v4[4];
            if (n > 6 || parse_v4(&p, v4) < 0 || p != end)
                return -1;
            g[n++] = (uint16_t)(v4[0] << 8 | v4[1]);
            g[n++] = (uint16_t)(v4[2] << 8 | v4[3]);
            break;
        }
        unsigned v;
        if (parse_u(&p, 0xFFFF, 16, 4, &v) < 0)
            return -1;
        g[n++] = (uint16_t)v;
        if (p == end)
            break;
        if (*p != ':')
            return -1;
        p++;
        if (p < end && *p == ':') {
            if (gap >= 0)
                return -1;
            gap = n;
            p++;
        } else if (p == end) {
            return -1; /* a trailing single ':' */
        }
    }
    if ((gap < 0 && n != 8) || (gap >= 0 && n > 7))
        return -1;
    memset(ip, 0, 16);
    int tail = gap < 0 ? 0 : n - gap;
    for (int i = 0; i < n - tail; i++) {
        ip[2 * i] = (uint8_t)(g[i] >> 8);
        ip[2 * i + 1] = (uint8_t)g[i];
    }
    for (int i = 0; i < tail; i++) {
        int k = 8 - tail + i;
        ip[2 * k] = (uint8_t)(g[n - tail + i] >> 8);
        ip[2 * k + 1] = (uint8_t)g[n - tail + i];
    }
    return 0;
}

int weft__addr_parse(const char *text, weft__addr *a, bool port_optional)
{
    if (!text || !a)
        return WEFT_EINVAL;
    memset(a, 0, sizeof *a);
    const char *p = text;
    if (*p == '[') {
        const char *close = strchr(p, ']');
        if (!close || parse_v6(p + 1, close, a->ip) < 0)
            return WEFT_EINVAL;
        a->family = 6;
        p = close + 1;
    } else if (parse_v4(&p, a->ip) == 0) {
        a->family = 4;
    } else if (port_optional && strchr(text, ':') && parse_v6(text, text + strlen(text), a->ip) == 0) {
        /* With no port, a bare "::1" is not ambiguous (a name lookup or a
         * node's address is given without one). */
        a->family = 6;
        return 0;
    } else {
        return WEFT_EINVAL;
    }
    if (*p == '\0' && port_optional)
        return 0;
    unsigned port;
    if (*p++ != ':' || parse_u(&p, 65535, 10, 5, &port) < 0 || *p != '\0')
        return WEFT_EINVAL;
    a->port = (uint16_t)port;
    return 0;
}

int weft__addr_format(const weft__addr *a, char *buf, size_t len)
{
    char tmp[WEFT_ADDR_MAX];
    int n;
    if (a->family == 4) {
        n = snprintf(tmp, sizeof tmp, "%u.%u.%u.%u:%u", a->ip[0], a->ip[1], a->ip[2], a->ip[3], a->port);
    } else if (a->family == 6) {
        /* The longest run of two or more zero groups becomes "::". */
        uint16_t g[8];
        for (int i = 0; i < 8; i++)
            g[i] = (uint16_t)(a->ip[2 * i] << 8 | a->ip[2 * i + 1]);
        int best = -1, best_len = 1;
        for (int i = 0; i < 8;) {
            int j = i;
            while (j < 8 && g[j] == 0)
                j++;
            if (j - i > best_len)
                best = i, best_len = j - i;
            i = j > i ? j : i + 1;
        }
        size_t k = 0;
        tmp[k++] = '[';
        /* An IPv4-mapped address shows its IPv4 part dotted (RFC 5952 §5):
         * what a dual-stack socket reports for an IPv4 peer. */
        bool mapped = best == 0 && best_len == 5 && g[5] == 0xFFFF;
        int last = mapped ? 6 : 8;
        for (int i = 0; i < last; i++) {
            if (i == best) {
                tmp[k++] = ':';
                if (i == 0)
                    tmp[k++] = ':';
                i += best_len - 1;
                continue;
            }
            k += (size_t)snprintf(tmp + k, sizeof tmp - k, "%x%s", g[i], i < last - 1 ? ":" : "");
        }
        if (mapped)
            k += (size_t)snprintf(tmp + k, sizeof tmp - k, ":%u.%u.%u.%u", a->ip[12], a->ip[13], a->ip[14],
                                  a->ip[15]);
        n = (int)k + snprintf(tmp + k, sizeof tmp - k, "]:%u", a->port);
    } else {
        return WEFT_EINVAL;
    }
    if (!buf || (size_t)n >= len)
        return WEFT_EINVAL;
    memcpy(buf, tmp, (size_t)n + 1);
    return n;
}
