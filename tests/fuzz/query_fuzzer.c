/* SPDX-License-Identifier: Apache-2.0 */
/*
 * query_fuzzer.c: the Admin API's URL parsing, on a request target as a
 * client sends it: the path's kind, id and action (admin.c,
 * admin_path_parse), a list's query string (admin_list_query: limit,
 * after), and the query string parser under them (src/query.c) with other
 * parameter sets, their buffers small enough to overflow.
 *
 * Input: byte 0 picks the parameter set of the direct query_parse (bits
 * 0-1: how many of "a", "limit", "after", "x y"; bits 2-5: their buffers'
 * size - 1); the rest is the target, cut at its first "?" (and at a NUL).
 * Oracles: a value query_parse accepts, encoded again, parses back to the
 * same; an error names the parameter it is about (one given, or an unknown
 * name shown only when short and printable); an accepted page has a limit
 * from 1 to ADMIN_LIST_MAX and an after that is a valid id; an accepted
 * path is exactly the one its parts write.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "admin.h"
#include "aigw/resource.h"
#include "fuzz.h"
#include "query.h"

#define QF_N 4
static const char *const qf_names[QF_N] = {"a", "limit", "after", "x y"};

/* An error's parameter: one of params, or a name shown only when short and printable. */
static void
qf_bad(int rc, const char *bad, const struct query_param *p, int n, const char *badbuf)
{
    int named = 0;
    for (int i = 0; i < n; i++)
        named |= bad == p[i].name;
    FUZZ_ASSERT(bad != NULL, "an error without its parameter");
    if (rc == QUERY_EREPEATED || rc == QUERY_EVALUE)
        FUZZ_ASSERT(named, "%d about %s, not a parameter", rc, bad);
    if (rc == QUERY_EUNKNOWN) {
        FUZZ_ASSERT(!named, "an unknown parameter named %s", bad);
        FUZZ_ASSERT(strcmp(bad, "?") == 0 || bad == badbuf, "an unknown name from nowhere");
        for (const char *s = bad; *s; s++)
            FUZZ_ASSERT(*s > ' ' && *s <= '~' && *s != '"' && *s != '\\',
                        "an unknown name shown with byte %d", *s);
    }
}

/* Write the values again, every byte escaped, and parse that: the same values. */
static void
qf_roundtrip(const struct query_param *p, int n)
{
    char q[QUERY_MAX + 1], v[QF_N][64];
    struct query_param p2[QF_N];
    const char *bad;
    char badbuf[32];
    size_t o = 0;
    q[0] = '\0';
    for (int i = 0; i < n; i++) {
        p2[i] = (struct query_param){p[i].name, v[i], p[i].size, 0};
        if (!p[i].seen)
            continue;
        o += (size_t)snprintf(q + o, sizeof(q) - o, "%s%s=", o ? "&" : "",
                              strcmp(p[i].name, "x y") == 0 ? "x+y" : p[i].name);
        for (const char *s = p[i].value; *s; s++)
            o += (size_t)snprintf(q + o, sizeof(q) - o, "%%%02X", (unsigned char)*s);
    }
    FUZZ_ASSERT(o < sizeof(q), "the query written again is too long");
    int rc = query_parse(q, p2, n, &bad, badbuf, sizeof(badbuf));
    FUZZ_ASSERT(rc == QUERY_OK, "%s: %d about %s", q, rc, bad);
    for (int i = 0; i < n; i++) {
        FUZZ_ASSERT(p2[i].seen == p[i].seen, "%s seen %d, then %d", p[i].name, p[i].seen,
                    p2[i].seen);
        FUZZ_ASSERT(!p[i].seen || strcmp(p2[i].value, p[i].value) == 0, "%s: other value",
                    p[i].name);
    }
}

/* query_parse with the input's parameter set. */
static void
qf_query(const char *q, uint8_t sel)
{
    char v[QF_N][64], badbuf[32];
    struct query_param p[QF_N];
    const char *bad = NULL;
    int n = (sel & 3) + 1;
    size_t size = (size_t)((sel >> 2) & 15) + 1;
    for (int i = 0; i < n; i++) {
        p[i] = (struct query_param){qf_names[i], v[i], size, 0};
        memset(v[i], 'Z', sizeof(v[i])); /* no NUL left over from before */
    }
    int rc = query_parse(q, p, n, &bad, badbuf, sizeof(badbuf));
    if (rc != QUERY_OK) {
        if (rc != QUERY_ETOOLONG)
            qf_bad(rc, bad, p, n, badbuf);
        return;
    }
    FUZZ_ASSERT(strlen(q) <= QUERY_MAX, "a query longer than QUERY_MAX accepted");
    for (int i = 0; i < n; i++)
        FUZZ_ASSERT(!p[i].seen || strlen(p[i].value) < size, "%s overflows", p[i].name);
    qf_roundtrip(p, n);
}

/* A list's page. */
static void
qf_page(const char *q)
{
    char after[RES_ID_MAX + 2], badbuf[64];
    const char *bad = NULL;
    size_t limit = 0;
    int rc = admin_list_query(q, &limit, after, sizeof(after), &bad, badbuf, sizeof(badbuf));
    if (rc != QUERY_OK) {
        FUZZ_ASSERT(bad != NULL, "an error without its parameter");
        if (rc == QUERY_EVALUE || rc == QUERY_EREPEATED)
            FUZZ_ASSERT(strcmp(bad, "limit") == 0 || strcmp(bad, "after") == 0, "a bad value of %s",
                        bad);
        return;
    }
    FUZZ_ASSERT(limit >= 1 && limit <= ADMIN_LIST_MAX, "limit %zu", limit);
    FUZZ_ASSERT(after[0] == '\0' || res_id_valid(after) == 0, "after %s is not an id", after);
}

/* A resource's path. */
static void
qf_path(const char *path)
{
    char id[RES_ID_MAX + 2], action[16], again[512];
    enum res_kind k;
    if (admin_path_parse(path, &k, id, sizeof(id), action, sizeof(action)) < 0)
        return;
    FUZZ_ASSERT((int)k >= 0 && k < RES_NKINDS, "kind %d", (int)k); /* credentials too */
    FUZZ_ASSERT(id[0] == '\0' || res_id_valid(id) == 0, "id %s is not valid", id);
    FUZZ_ASSERT(action[0] == '\0' || (k == RES_API_KEY && id[0] && strcmp(action, "rotate") == 0),
                "action %s", action);
    snprintf(again, sizeof(again), "/admin/v1/%s%s%s%s%s", res_kind_name(k), id[0] ? "/" : "", id,
             action[0] ? "/" : "", action);
    FUZZ_ASSERT(strcmp(again, path) == 0, "%s read as %s", path, again);
}

/* One input: one request target. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char target[4096];
    if (size < 1 || size > sizeof(target))
        return 0;
    memcpy(target, data + 1, size - 1);
    target[size - 1] = '\0';
    char *q = strchr(target, '?');
    if (q != NULL)
        *q++ = '\0';
    qf_path(target);
    qf_page(q != NULL ? q : "");
    qf_query(q != NULL ? q : "", data[0]);
    return 0;
}
