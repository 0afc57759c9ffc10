/* SPDX-License-Identifier: Apache-2.0 */
/* uhttp_url.c: the upstream client's reading of a URL (uhttp_url.h). */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "uhttp_url.h"

int
uhttp_url_split(const char *url, struct uhttp_url *u)
{
    const char *h, *e, *colon = NULL;
    if (strncasecmp(url, "http://", 7) == 0) {
        u->tls = 0;
        h = url + 7;
    } else if (strncasecmp(url, "https://", 8) == 0) {
        u->tls = 1;
        h = url + 8;
    } else {
        return -1;
    }
    e = h + strcspn(h, "/?#");
    if (memchr(h, '@', e - h) != NULL)
        return -1; /* user information: not sent as Basic authentication */
    if (*h == '[') {
        const char *rb = memchr(h, ']', e - h);
        if (rb == NULL || (rb + 1 < e && rb[1] != ':'))
            return -1;
        u->host = h + 1;
        u->hostlen = rb - h - 1;
        colon = rb + 1 < e ? rb + 1 : NULL;
    } else {
        colon = memchr(h, ':', e - h);
        u->host = h;
        u->hostlen = (colon ? colon : e) - h;
    }
    u->port = u->tls ? 443 : 80;
    if (colon != NULL && colon + 1 < e) {
        long v = 0;
        for (const char *s = colon + 1; s < e; s++) {
            if (*s < '0' || *s > '9' || (v = v * 10 + (*s - '0')) > 65535)
                return -1;
        }
        if (v == 0)
            return -1;
        u->port = (int)v;
    }
    if (u->hostlen == 0 || *e == '#')
        return -1;
    u->path = *e == '/' ? e : *e == '\0' ? "/" : NULL;
    if (u->path == NULL)
        return -1; /* a query without a path */
    return 0;
}

int
uhttp_host_header(int tls, const char *host, size_t hostlen, int port, char *out, size_t len)
{
    int v6 = memchr(host, ':', hostlen) != NULL;
    char portstr[8] = "";
    if (port != (tls ? 443 : 80))
        snprintf(portstr, sizeof(portstr), ":%d", port);
    int n =
        snprintf(out, len, "%s%.*s%s%s", v6 ? "[" : "", (int)hostlen, host, v6 ? "]" : "", portstr);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}
