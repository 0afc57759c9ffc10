/* SPDX-License-Identifier: Apache-2.0 */
/*
 * check_http.c: the HTTP server's request-end hook (http.h), on a real
 * server and loopback connections: called once for each request however it
 * ends (answered, an error answer, refused as malformed before any handler
 * saw it, abandoned by the client), with its status and error code, and
 * with user data zeroed for each request and shared with the handler. The
 * server's counters say the same; without a hook there are no user data.
 */
#include "config.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "aigw/conf.h"
#include "http.h"
#include "tap.h"

#define MAX_ENDS 8

/* The user data of each request: what the handler saw. */
struct udata {
    char path[32];
    int zeroed; /* it was all zero when the handler got the request */
};

/* One call of the hook. */
struct end {
    int status;
    char error[32], path[32];
    int has_path;
    int handled;
    uint64_t bytes_sent;
};

struct cap {
    struct event_base *base;
    struct end ends[MAX_ENDS];
    int nends, want;
    int client; /* the connection /hold closes */
};

static void
on_abort(void *arg)
{
    http_req_release(arg);
}

static void
handler(struct http_req *r, void *arg)
{
    struct cap *cap = arg;
    struct udata *u = http_req_udata(r), zero;
    memset(&zero, 0, sizeof(zero));
    ck_assert_ptr_nonnull(u);
    u->zeroed = memcmp(u, &zero, sizeof(zero)) == 0;
    snprintf(u->path, sizeof(u->path), "%s", http_req_path(r));
    if (strcmp(http_req_path(r), "/ok") == 0) {
        http_reply(r, 200, "text/plain", "ok", 2);
    } else if (strcmp(http_req_path(r), "/hold") == 0) {
        /* the client hangs up before any answer */
        http_req_set_callbacks(r, on_abort, NULL, r);
        close(cap->client);
    } else {
        http_reply_error(r, 404, "invalid_request_error", "unknown_url", NULL, "no %s",
                         http_req_path(r));
    }
}

static void
hook(struct http_req *r, const struct http_end *e, void *arg)
{
    struct cap *cap = arg;
    const struct udata *u = http_req_udata(r);
    ck_assert_int_lt(cap->nends, MAX_ENDS);
    struct end *x = &cap->ends[cap->nends++];
    x->status = e->status;
    snprintf(x->error, sizeof(x->error), "%s", e->error ? e->error : "-");
    x->has_path = e->path != NULL;
    snprintf(x->path, sizeof(x->path), "%s", e->path ? e->path : "-");
    x->handled = u->path[0] != '\0' && u->zeroed && strcmp(u->path, x->path) == 0;
    x->bytes_sent = e->bytes_sent;
    if (cap->nends == cap->want)
        event_base_loopbreak(cap->base);
}

/* A listening loopback socket; its address into a. */
static int
listen_loopback(struct sockaddr_in *a)
{
    socklen_t alen = sizeof(*a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(a, 0, sizeof(*a));
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)a, sizeof(*a)), 0);
    ck_assert_int_eq(listen(fd, 4), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)a, &alen), 0);
    return fd;
}

static int
connect_send(const struct sockaddr_in *a, const char *req)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(connect(fd, (const struct sockaddr *)a, sizeof(*a)), 0);
    ck_assert_int_eq(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    return fd;
}

/* What an end must say: error and path "-" for none; handled: the handler had its data. */
static void
assert_end(const struct end *e, int status, const char *error, const char *path, int handled)
{
    ck_assert_int_eq(e->status, status);
    ck_assert_str_eq(e->error, error);
    ck_assert_str_eq(e->path, path);
    ck_assert_int_eq(e->handled, handled);
}

/*
 * One connection: an answer, an error answer, then bytes that are no
 * request (refused before any handler); another: a request its client
 * abandons. Four ends, in order, each with its own zeroed user data.
 */
START_TEST(hook_once_per_request)
{
    struct conf *cf = calloc(1, sizeof(*cf));
    struct cap cap;
    struct sockaddr_in a;
    struct timeval tv = {10, 0};
    _Atomic uint64_t requests = 0;
    _Atomic int64_t in_flight = 0;
    memset(&cap, 0, sizeof(cap));
    ck_assert_ptr_nonnull(cf);
    conf_defaults(cf);
    cap.base = event_base_new();
    struct http_server *srv = http_server_new(cap.base, cf, handler, &cap);
    ck_assert_ptr_nonnull(srv);
    http_server_set_end_hook(srv, hook, sizeof(struct udata), &cap);
    http_server_set_counters(srv, &requests, &in_flight);
    ck_assert_int_eq(http_server_listen_fd(srv, listen_loopback(&a)), 0);

    int c1 = connect_send(&a, "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n"
                              "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
                              "\x01\x02 not http\r\n\r\n");
    cap.want = 3;
    event_base_loopexit(cap.base, &tv); /* a bound, should an end never come */
    event_base_dispatch(cap.base);
    ck_assert_int_eq(cap.nends, 3);
    cap.client = connect_send(&a, "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n");
    cap.want = 4;
    event_base_loopexit(cap.base, &tv);
    event_base_dispatch(cap.base);
    ck_assert_int_eq(cap.nends, 4);

    const struct end *e = cap.ends;
    assert_end(&e[0], 200, "-", "/ok", 1);
    ck_assert_uint_gt(e[0].bytes_sent, 2);
    assert_end(&e[1], 404, "unknown_url", "/nope", 1);
    assert_end(&e[2], 400, "bad_request", "-", 0); /* no handler saw it: its data are fresh zeros */
    ck_assert_int_eq(e[2].has_path, 0);
    assert_end(&e[3], 499, "client_closed", "/hold", 1);
    ck_assert_uint_eq(atomic_load(&requests), 4);
    ck_assert_int_eq(atomic_load(&in_flight), 0);

    close(c1);
    http_server_free(srv);
    event_base_free(cap.base);
    free(cf);
}
END_TEST

/* Without a hook (the /metrics listener's case) a request has no user data. */
struct plain {
    struct event_base *base;
    int seen; /* 1: no user data; 2: some */
};

static void
handler_no_hook(struct http_req *r, void *arg)
{
    struct plain *p = arg;
    p->seen = http_req_udata(r) == NULL ? 1 : 2;
    http_reply(r, 200, "text/plain", "ok", 2);
    event_base_loopbreak(p->base);
}

START_TEST(no_hook_no_udata)
{
    struct conf *cf = calloc(1, sizeof(*cf));
    struct plain p = {0};
    struct sockaddr_in a;
    struct timeval tv = {10, 0};
    ck_assert_ptr_nonnull(cf);
    conf_defaults(cf);
    p.base = event_base_new();
    struct http_server *srv = http_server_new(p.base, cf, handler_no_hook, &p);
    ck_assert_ptr_nonnull(srv);
    ck_assert_int_eq(http_server_listen_fd(srv, listen_loopback(&a)), 0);
    int c = connect_send(&a, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    event_base_loopexit(p.base, &tv);
    event_base_dispatch(p.base);
    ck_assert_int_eq(p.seen, 1);
    close(c);
    http_server_free(srv);
    event_base_free(p.base);
    free(cf);
}
END_TEST

static Suite *
http_suite(void)
{
    Suite *s = suite_create("http");
    TCase *hook = tcase_create("hook"), *none = tcase_create("no hook");
    tcase_add_test(hook, hook_once_per_request);
    tcase_add_test(none, no_hook_no_udata);
    suite_add_tcase(s, hook);
    suite_add_tcase(s, none);
    return s;
}

int
main(void)
{
    return run_suite(http_suite());
}
