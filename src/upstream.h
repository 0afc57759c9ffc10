/* SPDX-License-Identifier: Apache-2.0 */
/*
 * upstream.h: libcurl's multi-socket API driven by an event base: the
 * master's requests to etcd and its fetches of JWT key sets. (The workers'
 * model requests use their own client, uhttp.h.)
 */
#ifndef AIGW_UPSTREAM_H
#define AIGW_UPSTREAM_H

#include <curl/curl.h>

struct event_base;
struct upstream;

/* A transfer: set easy's options, then upstream_start; done is called once. */
struct upstream_xfer {
    CURL *easy;
    void (*done)(struct upstream_xfer *x, CURLcode rc);
    int running;
};

struct upstream *upstream_new(struct event_base *base);
void upstream_free(struct upstream *u);
/* An easy handle from the worker's pool, reset to defaults. */
CURL *upstream_easy_get(struct upstream *u);
void upstream_easy_put(struct upstream *u, CURL *easy);
int upstream_start(struct upstream *u, struct upstream_xfer *x);
/* Stop a running transfer without calling done (client gone, our own timeout). */
void upstream_cancel(struct upstream *u, struct upstream_xfer *x);
/* Resume a transfer whose write callback returned CURL_WRITEFUNC_PAUSE. */
void upstream_resume(struct upstream *u, struct upstream_xfer *x);
int upstream_running(const struct upstream *u);

#endif
