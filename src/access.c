/* SPDX-License-Identifier: Apache-2.0 */
/*
 * access.c: the request-end hooks of aigw's listeners: the access line (one
 * JSON object, aigw(8) lists the fields) and the request metrics.
 */
#include "config.h"

#include <stddef.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "access.h"
#include "log.h"
#include "http.h"
#include "metrics.h"
#include "aigw/utf8.h"

struct access_info *
access_of(struct http_req *r)
{
    return http_req_udata(r);
}

/* Where the extra bytes begin: past the access info, aligned for any type. */
#define EXTRA_OFF                                                                                  \
    ((sizeof(struct access_info) + _Alignof(max_align_t) - 1) / _Alignof(max_align_t) *            \
     _Alignof(max_align_t))

void *
access_extra(struct http_req *r)
{
    return (char *)http_req_udata(r) + EXTRA_OFF;
}

static const char *
method_name(int m)
{
    static const char *const names[] = {"OTHER", "GET", "POST", "HEAD", "PUT", "DELETE"};
    return m >= 0 && m <= HTTP_M_DELETE ? names[m] : "OTHER";
}

/* Add a member whose name is a string constant (json-c then neither copies nor searches it). */
static void
jadd(struct json_object *o, const char *k, struct json_object *v)
{
    json_object_object_add_ex(o, k, v,
                              JSON_C_OBJECT_ADD_KEY_IS_NEW | JSON_C_OBJECT_KEY_IS_CONSTANT);
}

static struct json_object *
jstr_or_null(const char *s)
{
    return s != NULL && s[0] ? utf8_json_string(s) : NULL; /* a client's bytes: made UTF-8 */
}

/* Milliseconds with three decimals, written as such (not as %.17g). */
static struct json_object *
jms(int64_t us)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld.%03lld", (long long)(us / 1000), (long long)(us % 1000));
    return json_object_new_double_s((double)us / 1000.0, buf);
}

/* The access line. The key is the key's name; a provider secret never reaches struct access_info.
 */
static void
access_line(struct http_req *r, const struct http_end *e, const struct access_info *a,
            const char *error)
{
    char ts[48];
    struct tm tm;
    time_t secs = (time_t)(e->start_real_ms / 1000);
    int64_t start_us = http_req_start_us(r);
    gmtime_r(&secs, &tm);
    size_t n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof(ts) - n, ".%03dZ", (int)(e->start_real_ms % 1000));

    struct json_object *o = json_object_new_object();
    if (o == NULL)
        return;
    jadd(o, "time", json_object_new_string(ts));
    jadd(o, "request_id", jstr_or_null(http_req_id(r)));
    jadd(o, "client", json_object_new_string(http_req_peer(r)));
    jadd(o, "method", json_object_new_string(method_name(http_req_method(r))));
    jadd(o, "path", jstr_or_null(e->path));
    jadd(o, "key", jstr_or_null(a->key));
    struct json_object *id = NULL; /* who a JWT proved to be; the token itself never */
    if (a->jwt_sub[0] != '\0') {
        id = json_object_new_object();
        jadd(id, "iss", json_object_new_string(a->jwt_iss));
        jadd(id, "sub", json_object_new_string(a->jwt_sub));
    }
    jadd(o, "identity", id);
    jadd(o, "model", jstr_or_null(a->model));
    jadd(o, "target", jstr_or_null(a->target));
    jadd(o, "stream", json_object_new_boolean(e->stream));
    jadd(o, "status", json_object_new_int(e->status));
    jadd(o, "upstream_status",
         a->upstream_status ? json_object_new_int64(a->upstream_status) : NULL);
    jadd(o, "attempts", json_object_new_int(a->attempts));
    jadd(o, "prompt_tokens", json_object_new_int64(a->prompt_tokens));
    jadd(o, "completion_tokens", json_object_new_int64(a->completion_tokens));
    jadd(o, "total_tokens", json_object_new_int64(a->total_tokens));
    jadd(o, "ttft_ms", a->ttft_us ? jms(a->ttft_us - start_us) : NULL);
    jadd(o, "duration_ms", jms(e->end_us - start_us));
    jadd(o, "bytes_received", json_object_new_int64((int64_t)e->bytes_received));
    jadd(o, "bytes_sent", json_object_new_int64((int64_t)e->bytes_sent));
    jadd(o, "error", jstr_or_null(error));
    jadd(o, "pid", json_object_new_int((int)getpid()));
    size_t len;
    const char *line = json_object_to_json_string_length(
        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    if (line != NULL)
        log_access(line, len);
    json_object_put(o);
}

/* Who set the error first names it: a refused JWT's reason is more than its 401's code. */
static const char *
access_error(const struct access_info *a, const struct http_end *e)
{
    return a->error ? a->error : e->error;
}

/* The Admin API's: its access line (with the admin key's name as key). */
static void
end_admin(struct http_req *r, const struct http_end *e, void *arg)
{
    const struct access_info *a = access_of(r);
    if (log_access_enabled())
        access_line(r, e, a, access_error(a, e));
}

/* The client listeners': the request metrics and the access line. */
static void
end_client(struct http_req *r, const struct http_end *e, void *arg)
{
    const struct access_info *a = access_of(r);
    int64_t start_us = http_req_start_us(r);
    /* a client's name for a model that does not exist never becomes a label */
    struct metrics_request m = {
        .model = a->model_known ? a->model : NULL,
        .provider = a->provider,
        .target = a->target,
        .status = e->status,
        .duration_us = e->end_us - start_us,
        .ttft_us = a->ttft_us ? a->ttft_us - start_us : 0,
        .prompt_tokens = a->prompt_tokens,
        .completion_tokens = a->completion_tokens,
    };
    metrics_request(&m);
    if (log_access_enabled())
        access_line(r, e, a, access_error(a, e));
}

void
access_attach(struct http_server *s, enum access_kind kind, size_t extra)
{
    http_server_set_end_hook(s, kind == ACCESS_CLIENT ? end_client : end_admin,
                             extra > 0 ? EXTRA_OFF + extra : sizeof(struct access_info), NULL);
}
