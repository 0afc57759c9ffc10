/* SPDX-License-Identifier: Apache-2.0 */
/*
 * prov_bedrock.c: AWS Bedrock's Converse API (bedrock-runtime).
 *
 * POST {api_base}/model/{model}/converse, and /converse-stream for a
 * stream (answered in application/vnd.amazon.eventstream frames, which
 * relay.c decodes with eventstream.c and hands over as (event type,
 * payload)). api_base is by default https://bedrock-runtime.{region}
 * .amazonaws.com; a target gives its own for a VPC endpoint (or the mock).
 * The model id is one path segment, percent-encoded ("...-v1:0" has a
 * colon). The request is signed with SigV4 (sigv4.c) for the target's
 * region and keys, over the Host header the upstream client sends (port
 * included when not the default), the path as sent and the body.
 *
 * The translation of bodies, answers, stream events and errors is
 * converse.c's. No client speaks Converse, so nothing is passed through.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "aigw/resource.h"
#include "converse.h"
#include "jsonx.h"
#include "provider.h"
#include "aigw/sigv4.h"
#include "uhttp_url.h"

/* Write a 400's message into err; returns -1. */
static int
fail(char *err, size_t errlen, const char *msg)
{
    snprintf(err, errlen, "%s", msg);
    return -1;
}

/* Add the "Name: value\r\n" lines of hdrs to the request, then wipe them. */
static void
add_lines(struct prov_http *out, char *hdrs)
{
    for (char *p = hdrs, *e; *p != '\0'; p = e + 2) {
        if ((e = strstr(p, "\r\n")) == NULL)
            break;
        prov_header_line(out, p, (size_t)(e - p));
    }
    explicit_bzero(hdrs, strlen(hdrs));
    free(hdrs);
}

/*
 * The request's URL into out->url: the target's api_base, or the region's
 * endpoint, then /model/{model}/converse[-stream]. -1 when it is too long.
 */
static int
bedrock_url(const struct prov_call *c, struct prov_http *out)
{
    char seg[1024], region_base[512];
    const struct target_view *t = c->t;
    const char *base = t->api_base;
    if (sigv4_path_segment(t->upstream_model, seg, sizeof(seg)) < 0)
        return -1;
    if (base[0] == '\0') {
        if ((size_t)snprintf(region_base, sizeof(region_base),
                             "https://bedrock-runtime.%s.amazonaws.com",
                             t->aws.region) >= sizeof(region_base))
            return -1;
        base = region_base;
    }
    char url[PROV_URL_MAX];
    int n = snprintf(url, sizeof(url), "%s/model/%s/%s", base, seg,
                     c->stream ? "converse-stream" : "converse");
    char *dup = n < 0 || (size_t)n >= sizeof(url) ? NULL : strdup(url);
    if (dup == NULL)
        return -1;
    free(out->url); /* malloc'd, as prov_url's (provider.h) */
    out->url = dup;
    return 0;
}

/* The upstream request: the Converse body, its URL, and the SigV4 headers over them. */
static int
build(const struct prov_call *c, struct json_object *body, struct prov_http *out, char *err,
      size_t errlen)
{
    struct json_object *req = NULL;
    struct uhttp_url u;
    char host[300];
    if (c->op != OP_CHAT)
        return fail(err, errlen, "this operation is not supported by provider bedrock");
    if (converse_request(body, c->t->max_tokens, &req, err, errlen) < 0)
        return -1;
    if (bedrock_url(c, out) < 0 || uhttp_url_split(out->url, &u) < 0 ||
        uhttp_host_header(u.tls, u.host, u.hostlen, u.port, host, sizeof(host)) < 0) {
        json_object_put(req);
        return fail(err, errlen, "the target's api_base, region or model is too long");
    }
    prov_body(out, req);
    prov_header(out, "Content-Type", "application/json");
    prov_header(out, "Accept",
                c->stream ? "application/vnd.amazon.eventstream" : "application/json");
    const struct sigv4_cred cred = {
        c->t->aws.access_key_id,
        c->t->aws.secret_access_key,
        c->t->aws.session_token[0] != '\0' ? c->t->aws.session_token : NULL,
        c->t->aws.region,
        "bedrock",
    };
    char *sig = sigv4_sign_headers(&cred, "POST", host, u.path, out->body, out->len, time(NULL));
    if (sig == NULL)
        return fail(err, errlen, "out of memory");
    add_lines(out, sig);
    return 0;
}

/* A Converse answer as a chat.completion. */
static int
response(const struct prov_call *c, struct json_object *in, struct json_object **out,
         struct prov_usage *u)
{
    return converse_response(in, c->t->upstream_model, out, u);
}

static int
stream_begin(struct prov_stream *s)
{
    return converse_stream_begin(s, s->call->t->upstream_model);
}

/*
 * A non-2xx answer: {"message": ...}, its type in the x-amzn-ErrorType
 * header ("ThrottlingException:http://internal.amazon.com/coral/..."), or
 * else in the body's "__type" ("com.amazon.coral.validate#ValidationException"),
 * which AWS's JSON protocol allows. A known type sets the client's status
 * (converse.c's table) and names the code; an unknown one keeps the
 * upstream's status. A header without a JSON body is still Bedrock's error;
 * neither is not Bedrock's answer (a 502).
 */
static int
error(long status, const char *type, struct json_object *in, struct json_object **out)
{
    int json = json_object_is_type(in, json_type_object) &&
               (jx_str(in, "message") != NULL || jx_str(in, "Message") != NULL);
    int st;
    *out = NULL;
    if (type == NULL && json && (type = jx_str(in, "__type")) != NULL && strchr(type, '#') != NULL)
        type = strchr(type, '#') + 1;
    if (!json && type == NULL)
        return -1;
    st = type != NULL ? converse_error_status(type, strlen(type)) : 0;
    if (st == 0)
        st = (int)status;
    *out = converse_error(st, type, json ? in : NULL);
    return st;
}

const struct provider prov_bedrock = {
    .name = "bedrock",
    .id = PROVIDER_BEDROCK,
    .api_base = "",     /* https://bedrock-runtime.{region}.amazonaws.com */
    .model_in_path = 0, /* percent-encoded: ids have ':' ("...-v1:0"), ARNs '/' */
    .aws = 1,
    .error_header = "x-amzn-ErrorType",
    .ops = OP_BIT(OP_CHAT),
    .own = DIALECT_NONE,
    .build = build,
    .response = response,
    .stream_begin = stream_begin,
    .stream_event = converse_stream_event,
    .stream_end = converse_stream_end,
    .error = error,
};
