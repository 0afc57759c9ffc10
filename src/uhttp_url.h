/* SPDX-License-Identifier: Apache-2.0 */
/*
 * uhttp_url.h: how the upstream client reads a target's URL. The resource
 * validation (resource.c) reads api_base with this same function, so what
 * is accepted is what the client can send to.
 */
#ifndef AIGW_UHTTP_URL_H
#define AIGW_UHTTP_URL_H

#include <stddef.h>

struct uhttp_url {
    int tls;          /* https */
    const char *host; /* into the URL; without [] for IPv6 */
    size_t hostlen;
    int port;         /* 80 or 443 unless given */
    const char *path; /* into the URL ("/" when it has none), the query included */
};

/* Split http[s]://host[:port][/path[?query]]; 0, or -1 for anything else
 * (user information, a fragment, a query without a path, a bad port). */
int uhttp_url_split(const char *url, struct uhttp_url *u);

/*
 * The Host header's value the client sends for host and port ([] around
 * an IPv6 address, the port when not the scheme's default) into out;
 * -1 when it does not fit. A SigV4 signature (prov_bedrock.c) signs it.
 */
int uhttp_host_header(int tls, const char *host, size_t hostlen, int port, char *out, size_t len);

#endif
