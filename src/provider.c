/* SPDX-License-Identifier: Apache-2.0 */
/*
 * provider.c: the providers by id and by resources' provider value, and the small
 * helpers every prov_*.c file shares (worker).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "aigw/resource.h"
#include "jsonraw.h"
#include "provider.h"

/* The registry (provider_list.h) by id. */
#define PROVIDER_ENTRY(id, var) [id] = &var,
static const struct provider *const providers[PROVIDER_NPROVIDERS] = {
    PROVIDER_LIST(PROVIDER_ENTRY)};
#undef PROVIDER_ENTRY

const struct provider *
provider_get(int id)
{
    return id >= 0 && id < PROVIDER_NPROVIDERS ? providers[id] : NULL;
}

const char *
provider_name(int id)
{
    const struct provider *p = provider_get(id);
    return p != NULL ? p->name : "?";
}

int
provider_parse(const char *name)
{
    for (int i = 0; i < PROVIDER_NPROVIDERS; i++)
        if (strcmp(name, providers[i]->name) == 0)
            return i;
    return -1;
}

void
prov_stream_free(struct prov_stream *s)
{
    const struct provider *p = s->call ? provider_get(s->call->t->provider) : NULL;
    if (p != NULL && p->stream_end != NULL)
        p->stream_end(s);
    s->priv = NULL;
    json_object_put(s->error);
    s->error = NULL;
}

/* Append len bytes to the header lines (wiping the old copy as it grows); 0 or -1. */
static int
hdr_add(struct prov_http *h, const char *s, size_t len)
{
    if (h->hlen + len > h->hcap) {
        size_t cap = h->hcap ? h->hcap * 2 : 256;
        while (cap < h->hlen + len)
            cap *= 2;
        char *n = malloc(cap);
        if (n == NULL)
            return -1;
        if (h->hlen > 0)
            memcpy(n, h->hdrs, h->hlen);
        if (h->hdrs != NULL) {
            explicit_bzero(h->hdrs, h->hcap);
            free(h->hdrs);
        }
        h->hdrs = n;
        h->hcap = cap;
    }
    memcpy(h->hdrs + h->hlen, s, len);
    h->hlen += len;
    return 0;
}

void
prov_header_line(struct prov_http *h, const char *line, size_t len)
{
    size_t at = h->hlen;
    if (hdr_add(h, line, len) < 0 || hdr_add(h, "\r\n", 2) < 0)
        h->hlen = at;
}

void
prov_header(struct prov_http *h, const char *name, const char *value)
{
    size_t at = h->hlen;
    /*
     * A CR or LF would end this header and start others (resource.c refuses
     * them in api_key; this holds for a record an older aigw wrote). The
     * header is left out: the upstream then refuses the request itself.
     */
    if (strpbrk(value, "\r\n") != NULL)
        return;
    if (hdr_add(h, name, strlen(name)) < 0 || hdr_add(h, ": ", 2) < 0 ||
        hdr_add(h, value, strlen(value)) < 0 || hdr_add(h, "\r\n", 2) < 0)
        h->hlen = at;
}

void
prov_auth(struct prov_http *h, const struct prov_call *c, const struct provider *p)
{
    char v[4200]; /* api_key is at most 4096 bytes (resource.c) */
    if (c->t->api_key[0] == '\0')
        return;
    snprintf(v, sizeof(v), "%s%s%s", p->auth_scheme ? p->auth_scheme : "",
             p->auth_scheme ? " " : "", c->t->api_key);
    prov_header(h, p->auth_header, v);
    explicit_bzero(v, sizeof(v));
}

int
prov_url(struct prov_http *h, const struct target_view *t, const char *path, const char *query)
{
    int n = snprintf(NULL, 0, "%s%s%s%s", t->api_base, path, query ? "?" : "", query ? query : "");
    if (n < 0 || n >= PROV_URL_MAX)
        return -1;
    char *url = malloc((size_t)n + 1);
    if (url == NULL)
        return -1;
    snprintf(url, (size_t)n + 1, "%s%s%s%s", t->api_base, path, query ? "?" : "",
             query ? query : "");
    free(h->url);
    h->url = url;
    return 0;
}

void
prov_body(struct prov_http *h, struct json_object *body)
{
    json_object_put(h->keep);
    h->keep = body;
    h->body = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN |
                                                       JSON_C_TO_STRING_NOSLASHESCAPE);
    h->len = strlen(h->body);
}

void
prov_body_bytes(struct prov_http *h, char *buf, size_t len)
{
    free(h->buf);
    h->buf = buf;
    h->body = buf;
    h->len = len;
}

int
prov_raw_model(const struct prov_call *c, struct prov_http *h)
{
    struct jsonraw_span v;
    size_t close, outlen, obj = c->raw ? jsonraw_start(c->raw, c->rawlen) : (size_t)-1;
    if (obj == (size_t)-1 || jsonraw_member(c->raw, c->rawlen, obj, "model", &v, &close) != 0)
        return -1;
    struct json_object *m = json_object_new_string(c->t->upstream_model);
    const char *q =
        json_object_to_json_string_ext(m, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    struct jsonraw_edit e = {v.b, v.e - v.b, q, strlen(q), 0};
    char *out = jsonraw_apply(c->raw, c->rawlen, &e, 1, &outlen);
    json_object_put(m);
    if (out == NULL)
        return -1;
    prov_body_bytes(h, out, outlen);
    return 0;
}

void
prov_http_free(struct prov_http *h)
{
    if (h->hdrs != NULL) {
        explicit_bzero(h->hdrs, h->hcap);
        free(h->hdrs);
    }
    json_object_put(h->keep);
    free(h->buf);
    free(h->url);
    memset(h, 0, sizeof(*h));
}

struct json_object *
prov_error_json(const char *message, const char *type, const char *code)
{
    struct json_object *e = json_object_new_object(), *o = json_object_new_object();
    json_object_object_add(e, "message", json_object_new_string(message ? message : ""));
    json_object_object_add(e, "type", json_object_new_string(type ? type : "upstream_error"));
    json_object_object_add(e, "param", NULL);
    json_object_object_add(e, "code", code ? json_object_new_string(code) : NULL);
    json_object_object_add(o, "error", e);
    return o;
}

struct json_object *
prov_usage_json(const struct prov_usage *u)
{
    struct json_object *o = json_object_new_object(), *d;
    json_object_object_add(o, "prompt_tokens", json_object_new_int64(u->prompt));
    json_object_object_add(o, "completion_tokens", json_object_new_int64(u->completion));
    json_object_object_add(o, "total_tokens", json_object_new_int64(u->total));
    d = json_object_new_object();
    json_object_object_add(d, "cached_tokens", json_object_new_int64(u->cached));
    json_object_object_add(o, "prompt_tokens_details", d);
    d = json_object_new_object();
    json_object_object_add(d, "reasoning_tokens", json_object_new_int64(u->reasoning));
    json_object_object_add(o, "completion_tokens_details", d);
    return o;
}

void
prov_emit_json(struct prov_stream *s, struct json_object *chunk)
{
    if (s->emit == NULL)
        return;
    if (s->emit_obj != NULL) {
        s->emit_obj(s->arg, chunk);
        return;
    }
    const char *t = json_object_to_json_string_ext(chunk, JSON_C_TO_STRING_PLAIN |
                                                              JSON_C_TO_STRING_NOSLASHESCAPE);
    s->emit(s->arg, t, strlen(t));
}
