/* SPDX-License-Identifier: Apache-2.0 */
/*
 * etcd.c: an etcd v3 client over the JSON gateway, asynchronous on the
 * master's event loop through upstream.c (one easy handle per request or
 * watch).
 *
 * Every request is a struct call. Unary calls (range, txn, authenticate)
 * buffer the answer and finish from upstream's done callback, which runs
 * outside libcurl. A watch's write callback only buffers the stream: its
 * newline-separated messages are parsed and delivered from a libevent
 * callback, also outside libcurl. User callbacks may call back into this
 * file, even etcd_free: ended calls (and the struct etcd after etcd_free)
 * are freed only when the outermost entry into this file returns
 * (enter/leave).
 *
 * Gateway facts this relies on (etcd 3.4): int64s are JSON strings; proto3
 * defaults are left out ("succeeded" when false, "kvs" and "count" when
 * empty, "value" when empty, "deleted" when 0, an event's "type" when PUT);
 * errors are a non-200 status with {"error","message","code"}; a watch that
 * is canceled (compaction, auth) stays open until we close it.
 */
#include "config.h"

#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <json-c/json.h>
#include <openssl/evp.h>

#include "log.h"
#include "etcd.h"
#include "upstream.h"

#define RESP_MAX (256u << 20)         /* a unary answer */
#define WATCH_PENDING_MAX (64u << 20) /* watch bytes not parsed yet */
#define ENDPOINT_MAX 1024
#define VALUE_MAX (1u << 30)
#define KEEPIDLE_S 5L
#define KEEPINTVL_S 2L
#define KEEPCNT 3 /* probes: a dead peer is found in about 5 + 3 * 2 s */
#define CONNECT_TIMEOUT_DEFAULT_MS 2000
#define REQUEST_TIMEOUT_DEFAULT_MS 5000

/* Internal outcome of an error answer: the token was refused, authenticate again. */
#define ETCD_REAUTH 1

enum call_kind { CALL_AUTH, CALL_RANGE, CALL_PUT, CALL_DELETE, CALL_TXN, CALL_WATCH };

/*
 * One request or watch. A watch is a struct call: struct etcd_watch stays
 * an incomplete type and its pointers are cast.
 */
struct call {
    struct etcd *e;
    struct call *next, *prev; /* e->calls while live, e->ended (next only) after */
    enum call_kind kind;
    const char *path;
    char *body;
    struct curl_slist *hdrs;
    struct upstream_xfer xfer;
    struct evbuffer *in; /* the answer, or the watch stream not parsed yet */
    long status;
    int ep;             /* endpoint of this attempt */
    int tries;          /* attempts since the last (re)start */
    int reauthed;       /* authenticated again once already */
    unsigned wait_auth; /* the authenticate round this call waits for; 0: none */
    unsigned gen;       /* token generation sent */
    unsigned attempt;   /* bumped on every send */
    int too_large;
    int ended;
    int unknown; /* a write's attempt was sent and not answered: it may be applied */
    int fed;     /* without an upstream: this attempt waits for etcd_feed */
    etcd_range_cb range_cb;
    etcd_write_cb write_cb;
    etcd_txn_cb txn_cb;
    etcd_watch_cb watch_cb;
    void *arg;
    struct event *deliver; /* watch: parse what the write callback buffered */
};

struct etcd {
    struct event_base *base;
    struct upstream *up;
    char **endpoints;
    int nendpoints;
    int cur;
    int connected;
    char *user, *password, *ca_file, *cert_file, *key_file;
    int64_t connect_timeout_ms, request_timeout_ms;
    char *token;        /* NULL while authed: the server needs none */
    int authed;         /* token is valid as far as we know */
    unsigned gen;       /* bumped with every new token */
    unsigned round;     /* bumped with every authenticate */
    struct call *auth;  /* the authenticate in flight */
    struct call *calls; /* live */
    struct call *ended; /* freed when the outermost entry returns */
    int depth;          /* entries into this file on the stack */
    int dead;           /* etcd_free was called */
    uint64_t cluster_id; /* of the answer being delivered */
};

static int call_send(struct call *c);
static int call_start(struct call *c);
static void call_fail(struct call *c, int err);

/* ---- small helpers ---- */

/* A formatted string on the heap, or NULL. */
static char *
fmt(const char *f, ...)
{
    char *s;
    va_list ap;
    va_start(ap, f);
    int n = vasprintf(&s, f, ap);
    va_end(ap);
    return n < 0 ? NULL : s;
}

/* Zero and free a string that may hold a secret. */
static void
free_secret(char *s)
{
    if (s == NULL)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}

/* Zero and free a header list (it may carry the token). */
static void
slist_free_secret(struct curl_slist *l)
{
    for (struct curl_slist *p = l; p != NULL; p = p->next)
        explicit_bzero(p->data, strlen(p->data));
    curl_slist_free_all(l);
}

/* A copy of s, NULL for NULL or ""; -1 when out of memory. */
static int
dup_opt(char **out, const char *s)
{
    *out = NULL;
    if (s == NULL || *s == '\0')
        return 0;
    return (*out = strdup(s)) == NULL ? -1 : 0;
}

/* Standard base64 of n bytes, NUL-terminated. */
static char *
b64_encode(const void *p, size_t n)
{
    if (n > VALUE_MAX)
        return NULL;
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    if (out == NULL)
        return NULL;
    EVP_EncodeBlock((unsigned char *)out, p, (int)n);
    return out;
}

/* Decode padded base64; the bytes are NUL-terminated for convenience. */
static char *
b64_decode(const char *s, size_t len, size_t *outlen)
{
    if (len % 4 != 0 || len > INT_MAX)
        return NULL;
    char *out = malloc(len / 4 * 3 + 1);
    if (out == NULL)
        return NULL;
    int n = len ? EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)s, (int)len) : 0;
    if (n < 0) {
        free(out);
        return NULL;
    }
    if (len >= 1 && s[len - 1] == '=')
        n--; /* EVP_DecodeBlock counts the padding as zero bytes */
    if (len >= 2 && s[len - 2] == '=')
        n--;
    out[n] = '\0';
    *outlen = (size_t)n;
    return out;
}

/* s as a JSON string literal (for user and password; nothing is logged). */
static char *
json_quote(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(6 * n + 3), *o = out;
    if (out == NULL)
        return NULL;
    *o++ = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            *o++ = '\\';
            *o++ = (char)*p;
        } else if (*p < 0x20) {
            o += sprintf(o, "\\u%04x", *p);
        } else {
            *o++ = (char)*p;
        }
    }
    *o++ = '"';
    *o = '\0';
    return out;
}

/* The member key of object o, or NULL. */
static struct json_object *
jget(struct json_object *o, const char *key)
{
    struct json_object *v;
    if (o == NULL || !json_object_is_type(o, json_type_object) ||
        !json_object_object_get_ex(o, key, &v))
        return NULL;
    return v;
}

/* An int64 member (etcd sends them as strings); 0 when absent. */
static int64_t
jint(struct json_object *o, const char *key)
{
    struct json_object *v = jget(o, key);
    if (v == NULL)
        return 0;
    if (json_object_is_type(v, json_type_string))
        return strtoll(json_object_get_string(v), NULL, 10);
    return json_object_get_int64(v);
}

/* A string member, or NULL. */
static const char *
jstr(struct json_object *o, const char *key)
{
    struct json_object *v = jget(o, key);
    return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* A boolean member; 0 when absent (proto3 leaves false out). */
static int
jbool(struct json_object *o, const char *key)
{
    struct json_object *v = jget(o, key);
    return v != NULL && json_object_get_boolean(v);
}

/*
 * The header's cluster_id: a uint64 as a string of decimal digits (too big
 * for jint). 0 for anything else, which never equals a stored identity.
 */
static uint64_t
jcluster(struct json_object *hdr)
{
    const char *s = jstr(hdr, "cluster_id");
    uint64_t v = 0;
    if (s == NULL || *s == '\0' || strlen(s) > 20)
        return 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
            return 0;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    return v;
}

/* Parse exactly len bytes as one JSON value (white space may follow); NULL otherwise. */
static struct json_object *
json_parse(const char *p, size_t len)
{
    if (len == 0 || len > INT_MAX)
        return NULL;
    struct json_tokener *tok = json_tokener_new();
    if (tok == NULL)
        return NULL;
    struct json_object *o = json_tokener_parse_ex(tok, p, (int)len);
    for (size_t i = json_tokener_get_parse_end(tok); o != NULL && i < len; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n') {
            json_object_put(o);
            o = NULL;
        }
    json_tokener_free(tok);
    return o;
}

/* The end of the range of every key under prefix: its last byte below 0xff, plus one. */
static char *
prefix_end(const char *p, size_t n, size_t *outlen)
{
    char *end = malloc(n + 1);
    if (end == NULL)
        return NULL;
    memcpy(end, p, n);
    for (size_t i = n; i-- > 0;)
        if ((unsigned char)end[i] < 0xff) {
            end[i]++;
            *outlen = i + 1;
            return end;
        }
    end[0] = '\0'; /* every key from the start key on */
    *outlen = 1;
    return end;
}

/* {"key":..,"range_end":..} of a prefix; the empty prefix is every key. */
static char *
prefix_members(const char *prefix)
{
    size_t n = strlen(prefix), endlen = 0;
    char *end = prefix_end(prefix, n, &endlen);
    char *k = n ? b64_encode(prefix, n) : b64_encode("", 1);
    char *r = end ? b64_encode(end, endlen) : NULL;
    char *s = k && r ? fmt("\"key\":\"%s\",\"range_end\":\"%s\"", k, r) : NULL;
    free(end);
    free(k);
    free(r);
    return s;
}

/* ---- lifetime: frees wait until no code of this file is on the stack ---- */

/* Code of this file is on the stack: frees wait. */
static void
enter(struct etcd *e)
{
    e->depth++;
}

/* Free a call that is not linked (ended, or never started). */
static void
call_free(struct call *c)
{
    if (c->xfer.easy != NULL) {
        upstream_cancel(c->e->up, &c->xfer);
        upstream_easy_put(c->e->up, c->xfer.easy);
    }
    if (c->kind == CALL_AUTH) {
        size_t n = c->in ? evbuffer_get_length(c->in) : 0;
        if (n > 0) /* the answer holds the token */
            explicit_bzero(evbuffer_pullup(c->in, -1), n);
        free_secret(c->body);
    } else {
        free(c->body);
    }
    slist_free_secret(c->hdrs);
    if (c->in != NULL)
        evbuffer_free(c->in);
    if (c->deliver != NULL)
        event_free(c->deliver);
    free(c);
}

/* Free e itself; every call is gone already. */
static void
destroy(struct etcd *e)
{
    for (int i = 0; i < e->nendpoints; i++)
        free(e->endpoints[i]);
    free(e->endpoints);
    free(e->user);
    free_secret(e->password);
    free_secret(e->token);
    free(e->ca_file);
    free(e->cert_file);
    free(e->key_file);
    free(e);
}

/* The outermost entry returns: free ended calls, and e after etcd_free. */
static void
leave(struct etcd *e)
{
    if (--e->depth > 0)
        return;
    while (e->ended != NULL) {
        struct call *c = e->ended;
        e->ended = c->next;
        call_free(c);
    }
    if (e->dead)
        destroy(e);
}

/* Add c to the live calls. */
static void
link_call(struct call *c)
{
    struct etcd *e = c->e;
    c->prev = NULL;
    c->next = e->calls;
    if (e->calls != NULL)
        e->calls->prev = c;
    e->calls = c;
}

/* Take c off the live calls. */
static void
unlink_call(struct call *c)
{
    struct etcd *e = c->e;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        e->calls = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    c->next = c->prev = NULL;
}

/* End a call: stop its transfer and keep it for leave() to free. */
static void
call_retire(struct call *c)
{
    struct etcd *e = c->e;
    c->ended = 1;
    c->wait_auth = 0;
    unlink_call(c);
    c->next = e->ended;
    e->ended = c;
    if (e->auth == c)
        e->auth = NULL;
    if (c->xfer.easy != NULL) {
        upstream_cancel(e->up, &c->xfer);
        upstream_easy_put(e->up, c->xfer.easy);
        c->xfer.easy = NULL;
    }
    if (c->deliver != NULL)
        event_del(c->deliver);
}

/* The call that owns a transfer. */
static struct call *
call_of(struct upstream_xfer *x)
{
    return (struct call *)((char *)x - offsetof(struct call, xfer));
}

/* ---- the transfer ---- */

/* Keepalive probes: curl 7.88 sets idle and interval but not the count. */
static int
sockopt_cb(void *arg, curl_socket_t fd, curlsocktype purpose)
{
    int cnt = KEEPCNT;
    if (purpose == CURLSOCKTYPE_IPCXN)
        (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
    return CURL_SOCKOPT_OK;
}

/* Collect len bytes of a unary answer, up to RESP_MAX: 0, or -1 (too_large). */
static int
unary_collect(struct call *c, const char *buf, size_t len)
{
    if (evbuffer_get_length(c->in) + len > RESP_MAX || evbuffer_add(c->in, buf, len) < 0) {
        c->too_large = 1;
        return -1;
    }
    return 0;
}

/* libcurl's write callback of a unary call. */
static size_t
unary_write(char *buf, size_t size, size_t n, void *arg)
{
    return unary_collect(arg, buf, size * n) == 0 ? size * n : 0;
}

/*
 * Buffer len bytes of the watch stream (status: the answer's): 1 when
 * complete lines wait to be delivered, 0 when not, -1 when too much waits
 * (too_large).
 */
static int
watch_collect(struct call *c, const char *buf, size_t len, long status)
{
    if (evbuffer_get_length(c->in) + len > WATCH_PENDING_MAX || evbuffer_add(c->in, buf, len) < 0) {
        c->too_large = 1;
        return -1;
    }
    return status == 200 && memchr(buf, '\n', len) != NULL;
}

/* Buffer only; complete lines are parsed by deliver_cb, outside libcurl. */
static size_t
watch_write(char *buf, size_t size, size_t n, void *arg)
{
    struct call *c = arg;
    long status = 0;
    curl_easy_getinfo(c->xfer.easy, CURLINFO_RESPONSE_CODE, &status);
    int rc = watch_collect(c, buf, size * n, status);
    if (rc > 0)
        event_active(c->deliver, EV_TIMEOUT, 0);
    return rc < 0 ? 0 : size * n;
}

/* Content-Type, no Expect, and the token when we have one (a partial list is freed later). */
static int
set_headers(struct call *c)
{
    struct etcd *e = c->e;
    char *auth = NULL;
    if (e->token != NULL && c->kind != CALL_AUTH &&
        (auth = fmt("Authorization: %s", e->token)) == NULL)
        return -1;
    const char *h[] = {"Content-Type: application/json", "Expect:", auth};
    int rc = 0;
    for (int i = 0; i < 3 && h[i] != NULL && rc == 0; i++) {
        struct curl_slist *l = curl_slist_append(c->hdrs, h[i]);
        if (l == NULL)
            rc = -1;
        else
            c->hdrs = l;
    }
    free_secret(auth);
    return rc;
}

static void unary_done(struct upstream_xfer *x, CURLcode rc);
static void watch_done(struct upstream_xfer *x, CURLcode rc);

/* Options of every etcd transfer: timeouts, keepalive, TLS with verification. */
static void
set_options(struct call *c, const char *url)
{
    struct etcd *e = c->e;
    CURL *h = c->xfer.easy;
    int watch = c->kind == CALL_WATCH;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, c->body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(c->body));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, watch ? watch_write : unary_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(h, CURLOPT_PROXY, ""); /* never http(s)_proxy from the environment */
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    /* on every transfer: a watch may get a connection a request opened */
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, KEEPIDLE_S);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, KEEPINTVL_S);
    curl_easy_setopt(h, CURLOPT_SOCKOPTFUNCTION, sockopt_cb);
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)e->connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, watch ? 0L : (long)e->request_timeout_ms);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (e->ca_file != NULL)
        curl_easy_setopt(h, CURLOPT_CAINFO, e->ca_file);
    if (e->cert_file != NULL)
        curl_easy_setopt(h, CURLOPT_SSLCERT, e->cert_file);
    if (e->key_file != NULL)
        curl_easy_setopt(h, CURLOPT_SSLKEY, e->key_file);
}

/* One attempt on the current endpoint with a fresh easy handle. */
static int
call_send(struct call *c)
{
    struct etcd *e = c->e;
    char url[ENDPOINT_MAX + 64];
    if (e->dead)
        return -1;
    if (c->xfer.easy != NULL) {
        upstream_cancel(e->up, &c->xfer);
        upstream_easy_put(e->up, c->xfer.easy);
        c->xfer.easy = NULL;
    }
    if (e->up != NULL && (c->xfer.easy = upstream_easy_get(e->up)) == NULL)
        return -1;
    c->ep = e->cur;
    c->gen = e->gen;
    c->status = 0;
    c->too_large = 0;
    c->attempt++;
    evbuffer_drain(c->in, evbuffer_get_length(c->in));
    slist_free_secret(c->hdrs);
    c->hdrs = NULL;
    if (set_headers(c) < 0)
        return -1;
    if (e->up == NULL) { /* the answer comes from etcd_feed */
        c->fed = 1;
        return 0;
    }
    snprintf(url, sizeof(url), "%s%s", e->endpoints[c->ep], c->path);
    set_options(c, url);
    c->xfer.done = c->kind == CALL_WATCH ? watch_done : unary_done;
    return upstream_start(e->up, &c->xfer);
}

/* The endpoint ep failed: the next one becomes current (unless another call moved on). */
static void
endpoint_failed(struct etcd *e, int ep, const char *path, const char *why)
{
    /* A warning when the connection is lost; the retries of an outage only at debug. */
    if (e->connected)
        log_warnx("etcd %s%s: %s", e->endpoints[ep], path, why);
    else
        log_debug("etcd %s%s: %s", e->endpoints[ep], path, why);
    e->connected = 0;
    if (e->cur == ep)
        e->cur = (ep + 1) % e->nendpoints;
}

/*
 * Did this attempt's request leave for etcd? A connection refused or a name
 * that does not resolve sent nothing; past the connect (bytes of the request
 * counted, or the transfer begun) etcd may have received it all.
 */
static int
attempt_sent(struct call *c, CURLcode rc)
{
    long reqsize = 0;
    curl_off_t pre = 0;
    if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
        rc == CURLE_COULDNT_RESOLVE_PROXY)
        return 0;
    curl_easy_getinfo(c->xfer.easy, CURLINFO_REQUEST_SIZE, &reqsize);
    curl_easy_getinfo(c->xfer.easy, CURLINFO_PRETRANSFER_TIME_T, &pre);
    return reqsize > 0 || pre > 0;
}

/* A write's attempt ended without an answer after it was sent: its outcome is unknown. */
static void
mark_unknown(struct call *c)
{
    if ((c->kind == CALL_PUT || c->kind == CALL_DELETE || c->kind == CALL_TXN) && !c->unknown) {
        c->unknown = 1;
        log_warnx("etcd %s%s: a write was sent and not answered; its outcome is unknown",
                  c->e->endpoints[c->ep], c->path);
    }
}

/* No answer from this endpoint: try the next one, or give up with ETCD_EIO. */
static void
failover(struct call *c, const char *why)
{
    struct etcd *e = c->e;
    endpoint_failed(e, c->ep, c->path, why);
    if (++c->tries < e->nendpoints && call_send(c) == 0)
        return;
    call_fail(c, ETCD_EIO);
}

/* The token was refused: authenticate again (once per call) and resend. */
static void
reauth(struct call *c)
{
    struct etcd *e = c->e;
    log_debug("etcd %s: the token was refused; authenticating again", c->path);
    c->reauthed = 1;
    c->tries = 0;
    if (e->authed && e->gen == c->gen) {
        free_secret(e->token);
        e->token = NULL;
        e->authed = 0;
    }
    if (call_start(c) < 0)
        call_fail(c, ETCD_EIO);
}

/* The message of an error answer ({"error","message","code"}), or a placeholder. */
static const char *
error_message(struct json_object *o, char *buf, size_t len, long status)
{
    struct json_object *err = jget(o, "error");
    const char *m = jstr(o, "message");
    if (m == NULL)
        m = jstr(err, "message"); /* a stream error: {"error":{"message":..}} */
    if (m == NULL)
        m = jstr(o, "error");
    if (m != NULL)
        return m;
    snprintf(buf, len, "HTTP status %ld without an error message", status);
    return buf;
}

/* What an error means: ETCD_REAUTH, ETCD_EAUTH, ETCD_EIO (try elsewhere) or ETCD_EPROTO. */
static int
classify(const struct etcd *e, long status, const char *msg)
{
    if (strstr(msg, "invalid auth token") != NULL || strstr(msg, "auth store is old") != NULL ||
        (e->user != NULL && strstr(msg, "user name is empty") != NULL))
        return e->user != NULL ? ETCD_REAUTH : ETCD_EAUTH;
    if (strstr(msg, "permission denied") != NULL || strstr(msg, "user name is empty") != NULL ||
        strstr(msg, "authentication failed") != NULL || status == 401 || status == 403)
        return ETCD_EAUTH;
    if (status >= 500 || status == 429)
        return ETCD_EIO;
    return ETCD_EPROTO;
}

/* ---- authentication ---- */

/* The authenticate round ended: send (or fail) every call that waited for it. */
static void
auth_finished(struct etcd *e, int err)
{
    unsigned round = e->round;
    for (;;) {
        struct call *c = e->calls;
        while (c != NULL && c->wait_auth != round)
            c = c->next;
        if (c == NULL)
            break;
        c->wait_auth = 0;
        if (err != ETCD_OK)
            call_fail(c, err);
        else if (call_send(c) < 0)
            call_fail(c, ETCD_EIO);
    }
}

/* Start /v3/auth/authenticate; calls wait for it with wait_auth. */
static int
auth_begin(struct etcd *e)
{
    struct call *c = calloc(1, sizeof(*c));
    char *name = json_quote(e->user), *pw = json_quote(e->password ? e->password : "");
    if (c == NULL || name == NULL || pw == NULL || (c->in = evbuffer_new()) == NULL ||
        (c->body = fmt("{\"name\":%s,\"password\":%s}", name, pw)) == NULL)
        goto fail;
    free(name);
    free_secret(pw);
    c->e = e;
    c->kind = CALL_AUTH;
    c->path = "/v3/auth/authenticate";
    link_call(c);
    if (call_send(c) < 0) {
        unlink_call(c);
        call_free(c);
        return -1;
    }
    e->auth = c;
    e->round++;
    return 0;
fail:
    free(name);
    free_secret(pw);
    if (c != NULL && c->in != NULL)
        evbuffer_free(c->in);
    free(c);
    return -1;
}

/* {"token":..}: keep it and release the waiting calls. */
static void
auth_answer(struct call *c, struct json_object *o)
{
    struct etcd *e = c->e;
    const char *tok = jstr(o, "token");
    char *t = tok ? strdup(tok) : NULL;
    if (t == NULL) {
        log_warnx("etcd %s%s: no token in the answer", e->endpoints[c->ep], c->path);
        call_fail(c, ETCD_EPROTO);
        return;
    }
    free_secret(e->token);
    e->token = t;
    e->authed = 1;
    e->gen++;
    call_retire(c);
    auth_finished(e, ETCD_OK);
}

/* Authentication is disabled on the server: go on without a token. */
static void
auth_not_needed(struct call *c)
{
    struct etcd *e = c->e;
    log_debug("etcd: authentication is not enabled on %s; no token", e->endpoints[c->ep]);
    free_secret(e->token);
    e->token = NULL;
    e->authed = 1;
    e->gen++;
    call_retire(c);
    auth_finished(e, ETCD_OK);
}

/* Send now, or wait for a token first. */
static int
call_start(struct call *c)
{
    struct etcd *e = c->e;
    if (c->kind == CALL_AUTH || e->user == NULL || e->authed)
        return call_send(c);
    if (e->auth == NULL && auth_begin(e) < 0)
        return -1;
    c->wait_auth = e->round;
    return 0;
}

/* ---- unary answers ---- */

/* Free decoded kvs. */
static void
kvs_free(struct etcd_kv *kvs, size_t n)
{
    for (size_t i = 0; kvs != NULL && i < n; i++) {
        free((char *)kvs[i].key);
        free((char *)kvs[i].value);
    }
    free(kvs);
}

/* A kv object ({"key","value","create_revision","mod_revision","version"}). */
static int
kv_parse(struct json_object *o, struct etcd_kv *kv)
{
    const char *k = jstr(o, "key"), *v = jstr(o, "value");
    memset(kv, 0, sizeof(*kv));
    if (k == NULL || (kv->key = b64_decode(k, strlen(k), &kv->keylen)) == NULL)
        return -1;
    if (v == NULL)
        v = ""; /* an empty value is left out */
    if ((kv->value = b64_decode(v, strlen(v), &kv->valuelen)) == NULL)
        return -1;
    kv->create_revision = jint(o, "create_revision");
    kv->mod_revision = jint(o, "mod_revision");
    kv->version = jint(o, "version");
    return 0;
}

/* Decode every kv of an array (NULL: none). */
static int
kvs_parse(struct json_object *arr, struct etcd_kv **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (arr == NULL)
        return 0;
    if (!json_object_is_type(arr, json_type_array))
        return -1;
    size_t len = json_object_array_length(arr);
    if (len == 0)
        return 0;
    if ((*out = calloc(len, sizeof(**out))) == NULL)
        return -1;
    for (*n = 0; *n < len; (*n)++)
        if (kv_parse(json_object_array_get_idx(arr, *n), &(*out)[*n]) < 0) {
            kvs_free(*out, *n + 1);
            *out = NULL;
            *n = 0;
            return -1;
        }
    return 0;
}

/* A range answer: the kvs to the callback. */
static void
range_answer(struct call *c, struct json_object *o)
{
    struct etcd_kv *kvs;
    size_t n;
    if (kvs_parse(jget(o, "kvs"), &kvs, &n) < 0) {
        log_warnx("etcd %s: a kv that is not base64", c->path);
        call_fail(c, ETCD_EPROTO);
        return;
    }
    call_retire(c);
    c->e->cluster_id = jcluster(jget(o, "header"));
    c->range_cb(ETCD_OK, jint(jget(o, "header"), "revision"), kvs, n, c->arg);
    kvs_free(kvs, n);
}

/* The first response of a txn (put, delete_range or range), or NULL. */
static struct json_object *
txn_response(struct json_object *o, const char *name)
{
    struct json_object *r = jget(o, "responses");
    if (r == NULL || !json_object_is_type(r, json_type_array) || json_object_array_length(r) == 0)
        return NULL;
    return jget(json_object_array_get_idx(r, 0), name);
}

/* A txn answer: "succeeded" is left out when false. */
static void
txn_answer(struct call *c, struct json_object *o)
{
    int err = ETCD_OK;
    if (!jbool(o, "succeeded")) {
        /* a delete's failure branch reads the key: gone means ENOTFOUND */
        struct json_object *rr = txn_response(o, "response_range");
        err = c->kind == CALL_DELETE && rr != NULL && jget(rr, "kvs") == NULL ? ETCD_ENOTFOUND
                                                                              : ETCD_ECONFLICT;
    } else if (c->kind == CALL_DELETE &&
               jint(txn_response(o, "response_delete_range"), "deleted") == 0) {
        err = ETCD_ENOTFOUND;
    }
    /* after an unanswered attempt, a failed compare may be that attempt's own doing */
    if (c->unknown && err != ETCD_OK)
        err = ETCD_EUNKNOWN;
    call_retire(c);
    c->write_cb(err, jint(jget(o, "header"), "revision"), c->arg);
}

/* A non-200 answer: authenticate again, try elsewhere, or fail. */
static void
unary_error(struct call *c, struct json_object *o)
{
    char buf[128];
    const char *msg = error_message(o, buf, sizeof(buf), c->status);
    int err = classify(c->e, c->status, msg);
    if (c->kind == CALL_AUTH && strstr(msg, "authentication is not enabled") != NULL) {
        auth_not_needed(c);
        return;
    }
    if (err == ETCD_REAUTH && c->kind != CALL_AUTH && !c->reauthed) {
        reauth(c);
        return;
    }
    if (err == ETCD_EIO) {
        if (c->status >= 500) /* etcd's own timeout: the proposal may still commit */
            mark_unknown(c);
        failover(c, msg);
        return;
    }
    log_warnx("etcd %s%s: %s", c->e->endpoints[c->ep], c->path, msg);
    call_fail(c, err == ETCD_REAUTH ? ETCD_EAUTH : err);
}

/*
 * The transfer ended (rc; status: the answer's, the body in c->in): retry
 * elsewhere, authenticate again, or finish.
 */
static void
unary_result(struct call *c, CURLcode rc, long status)
{
    struct etcd *e = c->e;
    if (c->too_large) {
        log_warnx("etcd %s%s: the answer exceeds %u bytes", e->endpoints[c->ep], c->path, RESP_MAX);
        call_fail(c, ETCD_EPROTO);
        return;
    }
    if (rc != CURLE_OK) {
        if (attempt_sent(c, rc))
            mark_unknown(c);
        failover(c, curl_easy_strerror(rc));
        return;
    }
    c->status = status;
    e->connected = 1;
    size_t len = evbuffer_get_length(c->in);
    struct json_object *o = json_parse((const char *)evbuffer_pullup(c->in, -1), len);
    if (c->status != 200)
        unary_error(c, o);
    else if (o == NULL || !json_object_is_type(o, json_type_object)) {
        log_warnx("etcd %s%s: an answer that is not a JSON object", e->endpoints[c->ep], c->path);
        call_fail(c, ETCD_EPROTO);
    } else if (c->kind == CALL_AUTH)
        auth_answer(c, o);
    else if (c->kind == CALL_RANGE)
        range_answer(c, o);
    else if (c->kind == CALL_TXN) {
        /* an answer after an unanswered attempt: what failed may be that attempt's doing */
        call_retire(c);
        c->txn_cb(c->unknown ? ETCD_EUNKNOWN : ETCD_OK, jint(jget(o, "header"), "revision"), o,
                  c->arg);
    } else
        txn_answer(c, o);
    json_object_put(o);
}

/* upstream's done callback of a unary call (outside libcurl). */
static void
unary_done(struct upstream_xfer *x, CURLcode rc)
{
    struct call *c = call_of(x);
    struct etcd *e = c->e;
    long status = 0;
    if (rc == CURLE_OK)
        curl_easy_getinfo(c->xfer.easy, CURLINFO_RESPONSE_CODE, &status);
    enter(e);
    unary_result(c, rc, status);
    leave(e);
}

/* ---- watch ---- */

/* Report the end of a watch, once; it is freed after the callback. */
static void
watch_end(struct call *c, int err, int64_t revision)
{
    if (c->ended)
        return;
    call_retire(c);
    c->watch_cb(err, revision, NULL, 0, c->arg);
}

/* Free decoded events. */
static void
events_free(struct etcd_event *evs, size_t n)
{
    for (size_t i = 0; evs != NULL && i < n; i++) {
        free((char *)evs[i].kv.key);
        free((char *)evs[i].kv.value);
    }
    free(evs);
}

/* Decode the events of one watch response. */
static int
events_parse(struct json_object *arr, struct etcd_event **out, size_t *n)
{
    size_t len = json_object_array_length(arr);
    *n = 0;
    if ((*out = calloc(len, sizeof(**out))) == NULL)
        return -1;
    for (; *n < len; (*n)++) {
        struct json_object *ev = json_object_array_get_idx(arr, *n);
        const char *type = jstr(ev, "type"); /* PUT is the default: left out */
        struct etcd_event *x = &(*out)[*n];
        if (type != NULL && strcmp(type, "DELETE") != 0 && strcmp(type, "PUT") != 0)
            goto fail;
        x->type = type != NULL && strcmp(type, "DELETE") == 0 ? ETCD_DELETE : ETCD_PUT;
        if (kv_parse(jget(ev, "kv"), &x->kv) < 0)
            goto fail;
    }
    return 0;
fail:
    events_free(*out, *n + 1);
    *out = NULL;
    *n = 0;
    return -1;
}

/* A watch response with events (or "created", or a progress notification). */
static void
watch_events(struct call *c, struct json_object *r)
{
    struct json_object *arr = jget(r, "events");
    struct etcd_event *evs;
    size_t n;
    if (jbool(r, "created")) {
        c->e->connected = 1;
        log_debug("etcd %s: watch created", c->e->endpoints[c->ep]);
    }
    if (arr == NULL || !json_object_is_type(arr, json_type_array) ||
        json_object_array_length(arr) == 0)
        return;
    if (events_parse(arr, &evs, &n) < 0) {
        log_warnx("etcd %s: a watch event that cannot be decoded", c->e->endpoints[c->ep]);
        watch_end(c, ETCD_EPROTO, 0);
        return;
    }
    c->e->cluster_id = jcluster(jget(r, "header"));
    c->watch_cb(ETCD_OK, jint(jget(r, "header"), "revision"), evs, n, c->arg);
    events_free(evs, n);
}

/* Close this attempt and create the watch again with a new token. */
static void
watch_reauth(struct call *c)
{
    upstream_cancel(c->e->up, &c->xfer);
    evbuffer_drain(c->in, evbuffer_get_length(c->in));
    c->attempt++; /* even while it waits for the token, the old transfer is over */
    reauth(c);
}

/* The server canceled the watch: compaction, auth, or something else. */
static void
watch_canceled(struct call *c, struct json_object *r)
{
    const char *reason = jstr(r, "cancel_reason");
    int64_t compact = jint(r, "compact_revision");
    if (compact > 0) {
        log_debug("etcd: watch start revision compacted (at %lld)", (long long)compact);
        watch_end(c, ETCD_ECOMPACTED, compact);
        return;
    }
    if (reason == NULL)
        reason = "no reason given";
    int err = classify(c->e, 200, reason);
    if (err == ETCD_REAUTH && !c->reauthed) {
        watch_reauth(c);
        return;
    }
    log_warnx("etcd %s: watch canceled: %s", c->e->endpoints[c->ep], reason);
    watch_end(c, err == ETCD_REAUTH || err == ETCD_EAUTH ? ETCD_EAUTH : ETCD_EIO, 0);
}

/* One newline-terminated message of the stream. */
static void
watch_message(struct call *c, const char *line, size_t len)
{
    struct json_object *o = json_parse(line, len), *r = jget(o, "result");
    char buf[128];
    if (o == NULL) {
        log_warnx("etcd %s: a watch message that is not JSON", c->e->endpoints[c->ep]);
        watch_end(c, ETCD_EPROTO, 0);
    } else if (r == NULL) {
        log_warnx("etcd %s: watch: %s", c->e->endpoints[c->ep],
                  error_message(o, buf, sizeof(buf), 200));
        watch_end(c, ETCD_EIO, 0);
    } else if (jbool(r, "canceled")) {
        watch_canceled(c, r);
    } else {
        watch_events(c, r);
    }
    json_object_put(o);
}

/* Handle every complete line buffered so far (stops when the watch ends or restarts). */
static void
watch_drain(struct call *c)
{
    unsigned attempt = c->attempt;
    size_t len;
    char *line;
    while (!c->ended && c->attempt == attempt &&
           (line = evbuffer_readln(c->in, &len, EVBUFFER_EOL_CRLF)) != NULL) {
        if (len > 0)
            watch_message(c, line, len);
        free(line);
    }
}

/* The write callback buffered complete lines: deliver them. */
static void
deliver_cb(evutil_socket_t fd, short what, void *arg)
{
    struct call *c = arg;
    struct etcd *e = c->e;
    enter(e);
    watch_drain(c);
    leave(e);
}

/* A non-200 answer to the watch request. */
static void
watch_http_error(struct call *c)
{
    char buf[128];
    size_t len = evbuffer_get_length(c->in);
    struct json_object *o = json_parse((const char *)evbuffer_pullup(c->in, -1), len);
    const char *msg = error_message(o, buf, sizeof(buf), c->status);
    int err = classify(c->e, c->status, msg);
    if (err == ETCD_REAUTH && !c->reauthed) {
        watch_reauth(c);
    } else {
        log_warnx("etcd %s/v3/watch: %s", c->e->endpoints[c->ep], msg);
        watch_end(c,
                  err == ETCD_REAUTH || err == ETCD_EAUTH ? ETCD_EAUTH
                  : err == ETCD_EIO                       ? ETCD_EIO
                                                          : ETCD_EPROTO,
                  0);
    }
    json_object_put(o);
}

/* The stream ended: whatever the cause, the watch is over. */
static void
watch_finished(struct call *c, CURLcode rc)
{
    if (c->too_large) {
        log_warnx("etcd %s: a watch message exceeds %u bytes", c->e->endpoints[c->ep],
                  WATCH_PENDING_MAX);
        watch_end(c, ETCD_EPROTO, 0);
    } else if (c->status != 0 && c->status != 200) {
        watch_http_error(c);
    } else {
        endpoint_failed(c->e, c->ep, c->path,
                        rc != CURLE_OK ? curl_easy_strerror(rc) : "the watch stream ended");
        watch_end(c, ETCD_EIO, 0);
    }
}

/* The watch's transfer ended (status: the answer's): deliver what is left, then report the end. */
static void
watch_result(struct call *c, CURLcode rc, long status)
{
    unsigned attempt = c->attempt;
    c->status = status;
    if (c->status == 200)
        watch_drain(c); /* the last messages may have come with the end */
    if (!c->ended && c->attempt == attempt)
        watch_finished(c, rc);
}

/* upstream's done callback of a watch. */
static void
watch_done(struct upstream_xfer *x, CURLcode rc)
{
    struct call *c = call_of(x);
    struct etcd *e = c->e;
    long status = 0;
    curl_easy_getinfo(c->xfer.easy, CURLINFO_RESPONSE_CODE, &status);
    enter(e);
    watch_result(c, rc, status);
    leave(e);
}

/* ---- public ---- */

/* A new call owning body; NULL when out of memory (body is freed). */
static struct call *
call_new(struct etcd *e, enum call_kind kind, const char *path, char *body)
{
    struct call *c = body ? calloc(1, sizeof(*c)) : NULL;
    if (c == NULL || (c->in = evbuffer_new()) == NULL) {
        free(c);
        free(body);
        return NULL;
    }
    c->e = e;
    c->kind = kind;
    c->path = path;
    c->body = body;
    return c;
}

/* Link and start (or queue behind authentication); -1 frees the call. */
static int
call_begin(struct call *c)
{
    link_call(c);
    if (call_start(c) < 0) {
        unlink_call(c);
        call_free(c);
        return -1;
    }
    return 0;
}

/* Call the callback with err from the event loop (every call kind). */
static void
call_fail(struct call *c, int err)
{
    if (c->ended)
        return;
    switch (c->kind) {
    case CALL_AUTH:
        call_retire(c);
        auth_finished(c->e, err);
        break;
    case CALL_RANGE:
        call_retire(c);
        c->range_cb(err, 0, NULL, 0, c->arg);
        break;
    case CALL_PUT:
    case CALL_DELETE:
        call_retire(c);
        if (c->unknown && err != ETCD_ECANCELED)
            err = ETCD_EUNKNOWN; /* an earlier attempt was sent: it may be applied */
        c->write_cb(err, 0, c->arg);
        break;
    case CALL_TXN:
        call_retire(c);
        if (c->unknown && err != ETCD_ECANCELED)
            err = ETCD_EUNKNOWN;
        c->txn_cb(err, 0, NULL, c->arg);
        break;
    case CALL_WATCH:
        watch_end(c, err, 0);
        break;
    }
}

/* http:// or https://, not too long; without a trailing slash. */
static char *
endpoint_dup(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n >= ENDPOINT_MAX ||
        (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0)) {
        log_warnx("etcd: bad endpoint \"%s\": want http://host:port or https://host:port",
                  s ? s : "");
        return NULL;
    }
    while (n > 0 && s[n - 1] == '/')
        n--;
    return strndup(s, n);
}

/* Copy the configuration; nothing is sent until the first request. */
struct etcd *
etcd_new(struct event_base *base, struct upstream *up, const struct etcd_conf *conf)
{
    struct etcd *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return NULL;
    e->base = base;
    e->up = up;
    if (conf->endpoints == NULL || conf->nendpoints < 1 ||
        (e->endpoints = calloc((size_t)conf->nendpoints, sizeof(char *))) == NULL)
        goto fail;
    for (; e->nendpoints < conf->nendpoints; e->nendpoints++)
        if ((e->endpoints[e->nendpoints] = endpoint_dup(conf->endpoints[e->nendpoints])) == NULL)
            goto fail;
    if (dup_opt(&e->user, conf->user) < 0 ||
        dup_opt(&e->password, e->user ? conf->password : NULL) < 0 ||
        dup_opt(&e->ca_file, conf->ca_file) < 0 || dup_opt(&e->cert_file, conf->cert_file) < 0 ||
        dup_opt(&e->key_file, conf->key_file) < 0)
        goto fail;
    e->connect_timeout_ms =
        conf->connect_timeout_ms > 0 ? conf->connect_timeout_ms : CONNECT_TIMEOUT_DEFAULT_MS;
    e->request_timeout_ms =
        conf->request_timeout_ms > 0 ? conf->request_timeout_ms : REQUEST_TIMEOUT_DEFAULT_MS;
    return e;
fail:
    destroy(e);
    return NULL;
}

/* Cancel every call; e is freed when the outermost entry returns. */
void
etcd_free(struct etcd *e)
{
    if (e == NULL || e->dead)
        return;
    enter(e);
    e->dead = 1;
    while (e->calls != NULL)
        call_fail(e->calls, ETCD_ECANCELED);
    leave(e);
}

/* A range request for body members; the callback gets the kvs. */
static int
range(struct etcd *e, char *members, etcd_range_cb cb, void *arg)
{
    char *body = members ? fmt("{%s}", members) : NULL;
    free(members);
    struct call *c = call_new(e, CALL_RANGE, "/v3/kv/range", body);
    if (c == NULL)
        return -1;
    c->range_cb = cb;
    c->arg = arg;
    return call_begin(c);
}

/* Range over every key under prefix. */
int
etcd_range_prefix(struct etcd *e, const char *prefix, etcd_range_cb cb, void *arg)
{
    if (e == NULL || e->dead || prefix == NULL || cb == NULL)
        return -1;
    return range(e, prefix_members(prefix), cb, arg);
}

/* Range over one key. */
int
etcd_get(struct etcd *e, const char *key, etcd_range_cb cb, void *arg)
{
    if (e == NULL || e->dead || key == NULL || *key == '\0' || cb == NULL)
        return -1;
    char *k = b64_encode(key, strlen(key));
    char *members = k ? fmt("\"key\":\"%s\"", k) : NULL;
    free(k);
    return range(e, members, cb, arg);
}

/* The compare of a conditional write on key k (base64), as JSON array members. */
static char *
compare_of(const char *k, int64_t expect)
{
    if (expect < 0)
        return strdup("");
    if (expect == 0)
        return fmt("{\"key\":\"%s\",\"target\":\"CREATE\",\"create_revision\":\"0\","
                   "\"result\":\"EQUAL\"}",
                   k);
    return fmt("{\"key\":\"%s\",\"target\":\"MOD\",\"mod_revision\":\"%lld\",\"result\":\"EQUAL\"}",
               k, (long long)expect);
}

/* A txn: compare, then the success op; a delete's failure branch reads the key. */
static int
txn(struct etcd *e, enum call_kind kind, const char *key, const char *op, int64_t expect,
    etcd_write_cb cb, void *arg)
{
    char *k = b64_encode(key, strlen(key));
    char *cmp = k ? compare_of(k, expect) : NULL;
    char *fail = k == NULL             ? NULL
                 : kind == CALL_DELETE ? fmt("{\"request_range\":{\"key\":\"%s\"}}", k)
                                       : strdup("");
    char *body = cmp && fail
                     ? fmt("{\"compare\":[%s],\"success\":[%s],\"failure\":[%s]}", cmp, op, fail)
                     : NULL;
    free(k);
    free(cmp);
    free(fail);
    struct call *c = call_new(e, kind, "/v3/kv/txn", body);
    if (c == NULL)
        return -1;
    c->write_cb = cb;
    c->arg = arg;
    return call_begin(c);
}

/* A put inside a txn with the compare of expect_mod_revision. */
int
etcd_put(struct etcd *e, const char *key, const char *value, size_t len,
         int64_t expect_mod_revision, etcd_write_cb cb, void *arg)
{
    if (e == NULL || e->dead || key == NULL || *key == '\0' || (value == NULL && len > 0) ||
        len > VALUE_MAX || cb == NULL)
        return -1;
    char *k = b64_encode(key, strlen(key)), *v = b64_encode(value ? value : "", len);
    char *op = k && v ? fmt("{\"request_put\":{\"key\":\"%s\",\"value\":\"%s\"}}", k, v) : NULL;
    free(k);
    free(v);
    int rc = op ? txn(e, CALL_PUT, key, op, expect_mod_revision, cb, arg) : -1;
    free(op);
    return rc;
}

/* A delete_range of one key inside a txn with the compare. */
int
etcd_delete(struct etcd *e, const char *key, int64_t expect_mod_revision, etcd_write_cb cb,
            void *arg)
{
    if (e == NULL || e->dead || key == NULL || *key == '\0' || cb == NULL)
        return -1;
    char *k = b64_encode(key, strlen(key));
    char *op = k ? fmt("{\"request_delete_range\":{\"key\":\"%s\"}}", k) : NULL;
    free(k);
    int rc = op ? txn(e, CALL_DELETE, key, op, expect_mod_revision, cb, arg) : -1;
    free(op);
    return rc;
}

char *
etcd_b64(const void *p, size_t n)
{
    return b64_encode(p, n);
}

/* A transaction the caller wrote, its answer handed back whole. */
int
etcd_txn(struct etcd *e, const char *body, etcd_txn_cb cb, void *arg)
{
    if (e == NULL || e->dead || body == NULL || cb == NULL)
        return -1;
    char *copy = strdup(body);
    struct call *c = copy ? call_new(e, CALL_TXN, "/v3/kv/txn", copy) : NULL;
    if (c == NULL)
        return -1;
    c->txn_cb = cb;
    c->arg = arg;
    return call_begin(c);
}

/* Start a watch; events come from deliver_cb. */
struct etcd_watch *
etcd_watch_prefix(struct etcd *e, const char *prefix, int64_t start_revision, etcd_watch_cb cb,
                  void *arg)
{
    if (e == NULL || e->dead || prefix == NULL || start_revision <= 0 || cb == NULL)
        return NULL;
    char *members = prefix_members(prefix);
    char *body = members ? fmt("{\"create_request\":{%s,\"start_revision\":\"%lld\"}}", members,
                               (long long)start_revision)
                         : NULL;
    free(members);
    struct call *c = call_new(e, CALL_WATCH, "/v3/watch", body);
    if (c == NULL)
        return NULL;
    c->watch_cb = cb;
    c->arg = arg;
    if ((c->deliver = event_new(e->base, -1, 0, deliver_cb, c)) == NULL) {
        call_free(c);
        return NULL;
    }
    return call_begin(c) == 0 ? (struct etcd_watch *)c : NULL;
}

/* End a watch now with ETCD_ECANCELED (a no-op once it has ended). */
void
etcd_watch_cancel(struct etcd_watch *w)
{
    struct call *c = (struct call *)w;
    if (c == NULL || c->ended)
        return;
    struct etcd *e = c->e;
    enter(e);
    watch_end(c, ETCD_ECANCELED, 0);
    leave(e);
}

/* The last outcome: did an endpoint answer? */
int
etcd_connected(const struct etcd *e)
{
    return e->connected;
}

/* The endpoint the next request goes to. */
const char *
etcd_endpoint(const struct etcd *e)
{
    return e->endpoints[e->cur];
}

/* The cluster_id of the answer being delivered. */
uint64_t
etcd_cluster_id(const struct etcd *e)
{
    return e->cluster_id;
}

/*
 * Without an upstream: the answer of the attempt that waits, handed over as
 * the transfer's write callbacks and its end would (see etcd.h).
 */
int
etcd_feed(struct etcd *e, long status, const void *body, size_t len, size_t piece)
{
    struct call *c = e != NULL && e->up == NULL && !e->dead ? e->calls : NULL;
    while (c != NULL && !c->fed)
        c = c->next;
    if (c == NULL)
        return -1;
    const char *p = body;
    CURLcode rc = CURLE_OK;
    enter(e);
    c->fed = 0;
    if (piece == 0)
        piece = len > 0 ? len : 1;
    if (c->kind != CALL_WATCH) {
        for (size_t off = 0; off < len && rc == CURLE_OK; off += piece)
            if (unary_collect(c, p + off, len - off < piece ? len - off : piece) < 0)
                rc = CURLE_WRITE_ERROR;
        unary_result(c, rc, status);
    } else {
        unsigned attempt = c->attempt;
        for (size_t off = 0; off < len && rc == CURLE_OK && !c->ended && c->attempt == attempt;
             off += piece) {
            int more = watch_collect(c, p + off, len - off < piece ? len - off : piece, status);
            if (more < 0)
                rc = CURLE_WRITE_ERROR;
            else if (more > 0)
                watch_drain(c); /* as deliver_cb does, before the next bytes */
        }
        if (!c->ended && c->attempt == attempt)
            watch_result(c, rc, status);
    }
    leave(e);
    return 0;
}
