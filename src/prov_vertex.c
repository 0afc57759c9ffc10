/* SPDX-License-Identifier: Apache-2.0 */
/*
 * prov_vertex.c: Google Vertex AI, for Gemini models (publisher google)
 * and Anthropic's models (publisher anthropic), with a service account.
 *
 *   {base}/v1/projects/{project}/locations/{location}/publishers/google/
 *       models/{model}:generateContent, :streamGenerateContent?alt=sse
 *   {base}/v1/projects/{project}/locations/{location}/publishers/anthropic/
 *       models/{model}:rawPredict, :streamRawPredict
 *
 * base is https://{location}-aiplatform.googleapis.com, or
 * https://aiplatform.googleapis.com for the location "global"; a target's
 * api_base replaces it (a private endpoint, or the mock). The Gemini
 * bodies, answers and stream events are those of the Gemini API
 * (prov_gemini.c's code); the Anthropic ones are the Messages API's
 * (prov_anthropic.c's) with two differences Vertex makes: the body names
 * no model (the URL does) and carries "anthropic_version":
 * "vertex-2023-10-16" instead of the header.
 *
 * Authentication is an OAuth 2.0 access token in Authorization: Bearer.
 * The worker never gets one itself: the master signs the service
 * account's JWT and fetches and refreshes the token (vtokenfetch.c), the
 * worker reads the current one from the table into call.bearer (relay.c),
 * and a target without a valid token is answered 503 before build is
 * called. Model ids go into the path as given: Claude's on Vertex have an
 * '@' ("claude-sonnet-4@20250514"), which resource.c allows here.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "aigw/resource.h"
#include "gsa.h"
#include "prov_anthropic.h"
#include "prov_gemini.h"
#include "provider.h"

#define VERTEX_ANTHROPIC_VERSION "vertex-2023-10-16"

/* Write a 400's message into err; returns -1. */
static int
fail(char *err, size_t errlen, const char *msg)
{
    snprintf(err, errlen, "%s", msg);
    return -1;
}

/* The request's URL into out->url for method (":generateContent", ...); -1 when too long. */
static int
vertex_url(const struct target_view *t, const char *method, const char *query,
           struct prov_http *out)
{
    char base[512], url[PROV_URL_MAX];
    const struct vertex_view *v = &t->vertex;
    int n;
    if (t->api_base[0] != '\0')
        n = snprintf(base, sizeof(base), "%s", t->api_base);
    else if (strcmp(v->location, "global") == 0)
        n = snprintf(base, sizeof(base), "https://aiplatform.googleapis.com");
    else
        n = snprintf(base, sizeof(base), "https://%s-aiplatform.googleapis.com", v->location);
    if (n < 0 || (size_t)n >= sizeof(base))
        return -1;
    n = snprintf(url, sizeof(url), "%s/v1/projects/%s/locations/%s/publishers/%s/models/%s:%s%s%s",
                 base, v->project, v->location, v->publisher, t->upstream_model, method,
                 query ? "?" : "", query ? query : "");
    char *dup = n < 0 || (size_t)n >= sizeof(url) ? NULL : strdup(url);
    if (dup == NULL)
        return -1;
    free(out->url); /* malloc'd, as prov_url's (provider.h) */
    out->url = dup;
    return 0;
}

/* Authorization: Bearer <the current access token>; our copy is wiped. */
static int
bearer(const struct prov_call *c, struct prov_http *out, char *err, size_t errlen)
{
    char v[GSA_TOKEN_MAX + 8];
    if (c->bearer == NULL || *c->bearer == '\0')
        return fail(err, errlen, "no access token for the target's service account yet");
    if ((size_t)snprintf(v, sizeof(v), "Bearer %s", c->bearer) >= sizeof(v))
        return fail(err, errlen, "the access token is too long");
    prov_header(out, "Authorization", v);
    explicit_bzero(v, sizeof(v));
    return 0;
}

/* Gemini on Vertex: the Gemini API's body at the publisher google URL. */
static int
build_google(const struct prov_call *c, struct json_object *body, struct prov_http *out, char *err,
             size_t errlen)
{
    struct json_object *g = NULL;
    if (c->op != OP_CHAT)
        return fail(err, errlen, "this operation is not supported by provider vertex");
    if (gemini_translate(c, body, &g, err, errlen) < 0)
        return -1;
    if (vertex_url(c->t, c->stream ? "streamGenerateContent" : "generateContent",
                   c->stream ? "alt=sse" : NULL, out) < 0) {
        json_object_put(g);
        return fail(err, errlen, "the target's api_base, project, location or model is too long");
    }
    prov_body(out, g);
    return bearer(c, out, err, errlen);
}

/*
 * Claude on Vertex: the Messages body (the client's own when it speaks
 * Anthropic's dialect) without model and with Vertex's anthropic_version.
 */
static int
build_anthropic(const struct prov_call *c, struct json_object *body, struct prov_http *out,
                char *err, size_t errlen)
{
    struct json_object *req;
    if (c->op != OP_CHAT)
        return fail(err, errlen, "this operation is not supported by provider vertex");
    if (c->native)
        req = json_object_get(body);
    else if ((req = anthropic_request_xlat(c, body, err, errlen)) == NULL)
        return -1;
    json_object_object_del(req, "model");
    json_object_object_add(req, "anthropic_version",
                           json_object_new_string(VERTEX_ANTHROPIC_VERSION));
    if (vertex_url(c->t, c->stream ? "streamRawPredict" : "rawPredict", NULL, out) < 0) {
        json_object_put(req);
        return fail(err, errlen, "the target's api_base, project, location or model is too long");
    }
    prov_body(out, req);
    if (c->native && c->anthropic_beta != NULL && *c->anthropic_beta != '\0')
        prov_header(out, "anthropic-beta", c->anthropic_beta);
    return bearer(c, out, err, errlen);
}

/* The answers, streams and errors are the Gemini API's and the Messages API's. */
static int
g_response(const struct prov_call *c, struct json_object *in, struct json_object **out,
           struct prov_usage *u)
{
    return prov_gemini.response(c, in, out, u);
}

static int
g_stream_begin(struct prov_stream *s)
{
    return prov_gemini.stream_begin(s);
}

static int
g_stream_event(struct prov_stream *s, const char *ev, size_t evlen, const char *d, size_t len)
{
    return prov_gemini.stream_event(s, ev, evlen, d, len);
}

static void
g_stream_close(struct prov_stream *s)
{
    if (prov_gemini.stream_close != NULL)
        prov_gemini.stream_close(s);
}

static void
g_stream_end(struct prov_stream *s)
{
    prov_gemini.stream_end(s);
}

static int
g_error(long status, const char *type, struct json_object *in, struct json_object **out)
{
    return prov_gemini.error(status, type, in, out);
}

static int
a_response(const struct prov_call *c, struct json_object *in, struct json_object **out,
           struct prov_usage *u)
{
    return prov_anthropic.response(c, in, out, u);
}

static int
a_stream_begin(struct prov_stream *s)
{
    return prov_anthropic.stream_begin(s);
}

static int
a_stream_event(struct prov_stream *s, const char *ev, size_t evlen, const char *d, size_t len)
{
    return prov_anthropic.stream_event(s, ev, evlen, d, len);
}

static void
a_stream_end(struct prov_stream *s)
{
    prov_anthropic.stream_end(s);
}

static int
a_error(long status, const char *type, struct json_object *in, struct json_object **out)
{
    return prov_anthropic.error(status, type, in, out);
}

const struct provider prov_vertex = {
    .name = "vertex",
    .id = PROVIDER_VERTEX,
    .api_base = "", /* https://{location}-aiplatform.googleapis.com */
    .auth_header = "Authorization",
    .auth_scheme = "Bearer",
    .model_in_path = 0, /* checked by resource.c's own alphabet ('@' for Claude ids) */
    .gauth = 1,
    .ops = OP_BIT(OP_CHAT),
    .own = DIALECT_NONE,
    .build = build_google,
    .response = g_response,
    .stream_begin = g_stream_begin,
    .stream_event = g_stream_event,
    .stream_close = g_stream_close,
    .stream_end = g_stream_end,
    .error = g_error,
};

const struct provider prov_vertex_anthropic = {
    .name = "vertex",
    .id = PROVIDER_VERTEX,
    .api_base = "",
    .auth_header = "Authorization",
    .auth_scheme = "Bearer",
    .max_tokens = 4096, /* Anthropic requires one (as prov_anthropic's) */
    .gauth = 1,
    .ops = OP_BIT(OP_CHAT),
    .own = DIALECT_ANTHROPIC,
    .build = build_anthropic,
    .response = a_response,
    .stream_begin = a_stream_begin,
    .stream_event = a_stream_event,
    .stream_end = a_stream_end,
    .error = a_error,
};
