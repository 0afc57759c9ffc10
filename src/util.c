/* SPDX-License-Identifier: Apache-2.0 */
/* util.c: duration, size and time parsing, clocks, hex. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aigw/util.h"

/* Parse an unsigned decimal prefix; returns a pointer past it or NULL. */
static const char *
parse_uint(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    const char *p = s;
    if (!isdigit((unsigned char)*p))
        return NULL;
    for (; isdigit((unsigned char)*p); p++) {
        if (v > (UINT64_MAX - 9) / 10)
            return NULL;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *out = v;
    return p;
}

/*
 * A duration: one or more <digits><unit> with units h, m, s, ms, each at
 * most once and largest first ("1m30s", "1h2m3s", "500ms"), as Go and
 * systemd write them; nothing else (no spaces, signs, fractions), and no
 * sum that overflows.
 */
int
parse_duration_ms(const char *s, int64_t *out)
{
    static const struct {
        const char *name;
        uint64_t mult;
    } units[] = {{"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1}};
    uint64_t total = 0;
    int next = 0; /* the first unit still allowed */
    const char *p = s;
    do {
        uint64_t v;
        int u;
        if ((p = parse_uint(p, &v)) == NULL)
            return -1;
        /* "ms" before "m": the longer name first */
        if (strncmp(p, "ms", 2) == 0)
            u = 3;
        else if (*p == 'h')
            u = 0;
        else if (*p == 'm')
            u = 1;
        else if (*p == 's')
            u = 2;
        else
            return -1;
        if (u < next || v > (uint64_t)INT64_MAX / units[u].mult ||
            v * units[u].mult > (uint64_t)INT64_MAX - total)
            return -1;
        total += v * units[u].mult;
        p += strlen(units[u].name);
        next = u + 1;
    } while (*p != '\0');
    *out = (int64_t)total;
    return 0;
}

/* A duration in ms written back as parse_duration_ms reads it, largest units first ("1m30s"). */
void
format_duration_ms(int64_t ms, char *buf, size_t len)
{
    static const struct {
        const char *name;
        int64_t mult;
    } units[] = {{"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1}};
    size_t n = 0;
    if (len == 0)
        return;
    buf[0] = '\0';
    if (ms <= 0) {
        snprintf(buf, len, "%s", ms == 0 ? "0s" : "?");
        return;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]) && ms > 0 && n < len; i++) {
        if (ms < units[i].mult)
            continue;
        int w =
            snprintf(buf + n, len - n, "%lld%s", (long long)(ms / units[i].mult), units[i].name);
        if (w < 0)
            return;
        n += (size_t)w;
        ms %= units[i].mult;
    }
}

int
parse_size(const char *s, uint64_t *out)
{
    uint64_t v, mult = 1;
    const char *p = parse_uint(s, &v);
    if (p == NULL)
        return -1;
    switch (tolower((unsigned char)*p)) {
    case '\0':
        break;
    case 'k':
        mult = 1ULL << 10;
        break;
    case 'm':
        mult = 1ULL << 20;
        break;
    case 'g':
        mult = 1ULL << 30;
        break;
    default:
        return -1;
    }
    if (*p != '\0') {
        p++;
        if ((*p == 'b' || *p == 'B') && p[1] == '\0')
            p++;
        if (*p != '\0')
            return -1;
    }
    if (v > UINT64_MAX / mult)
        return -1;
    *out = v * mult;
    return 0;
}

/* A size in bytes written back as parse_size reads it, in the largest exact unit ("512k", "4g"). */
void
format_size(uint64_t bytes, char *buf, size_t len)
{
    static const char units[] = {'g', 'm', 'k'};
    for (size_t i = 0; i < sizeof(units); i++) {
        uint64_t mult = 1ULL << (10 * (3 - i));
        if (bytes > 0 && bytes % mult == 0) {
            snprintf(buf, len, "%llu%c", (unsigned long long)(bytes / mult), units[i]);
            return;
        }
    }
    snprintf(buf, len, "%llu", (unsigned long long)bytes);
}

int
parse_rfc3339(const char *s, int64_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (p == NULL)
        return -1;
    if (*p == '.') { /* fractional seconds are accepted and dropped */
        p++;
        while (isdigit((unsigned char)*p))
            p++;
    }
    long off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1;
        if (!isdigit((unsigned char)p[1]) || !isdigit((unsigned char)p[2]) || p[3] != ':' ||
            !isdigit((unsigned char)p[4]) || !isdigit((unsigned char)p[5]))
            return -1;
        off = sign * (((p[1] - '0') * 10 + (p[2] - '0')) * 3600 +
                      ((p[4] - '0') * 10 + (p[5] - '0')) * 60);
        p += 6;
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;
    /* strptime takes February 30th; timegm would roll it into March. Refuse it. */
    struct tm want = tm;
    time_t t = timegm(&tm);
    if (tm.tm_mday != want.tm_mday || tm.tm_mon != want.tm_mon || tm.tm_year != want.tm_year)
        return -1;
    *out = (int64_t)t - off;
    return 0;
}

int64_t
now_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
now_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
now_real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
json_lexically_strict(const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = p[i];
        if (c == '"') { /* skip the string, escapes included */
            for (i++; i < len && p[i] != '"'; i++)
                if (p[i] == '\\')
                    i++;
            if (i >= len)
                return -1;
            continue;
        }
        if (strchr(" \t\r\n{}[],:-+.0123456789eE", c) != NULL)
            continue;
        /* the three literals, whole */
        if (len - i >= 4 && (memcmp(p + i, "true", 4) == 0 || memcmp(p + i, "null", 4) == 0)) {
            i += 3;
            continue;
        }
        if (len - i >= 5 && memcmp(p + i, "false", 5) == 0) {
            i += 4;
            continue;
        }
        return -1;
    }
    return 0;
}

struct timeval
tv_ms(int64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    return tv;
}

void
hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

/* The value of one hex digit, or -1. */
static int
hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') /* not tolower(): a call per digit, in every key's lookup */
        return c - 'A' + 10;
    return -1;
}

int
hex_decode(const char *hex, uint8_t *out, size_t n)
{
    if (strlen(hex) != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int hi = hexval((unsigned char)hex[2 * i]), lo = hexval((unsigned char)hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}
