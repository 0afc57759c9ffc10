/* SPDX-License-Identifier: Apache-2.0 */
/* metrics_http.h: GET /metrics on the master's event loop (metrics.listen). */
#ifndef AIGW_METRICS_HTTP_H
#define AIGW_METRICS_HTTP_H

struct event_base;
struct conf;
struct shm;
struct store;
struct etcdsync;
struct metrics_http;
struct evbuffer;
struct http_server;

/*
 * Serve GET /metrics on fds (bound and listening) from the master's loop;
 * etcd is NULL in standalone mode. NULL on failure.
 */
struct metrics_http *metrics_http_start(struct event_base *base, const struct conf *c,
                                        struct shm *shm, struct store *store, struct etcdsync *etcd,
                                        const int *fds, int nfds);
/* Stop accepting (the master is stopping). */
void metrics_http_drain(struct metrics_http *mh);
void metrics_http_free(struct metrics_http *mh);

/*
 * metrics_proc.c: process_* of the master and its workers (from /proc) and
 * aigw_worker_config_version, read at scrape time.
 */
void metrics_proc_render(struct shm *shm, struct evbuffer *out);

/* Its HTTP server (the master adds its listeners, HTTPS ones among them). */
struct http_server *metrics_http_server(struct metrics_http *mh);

#endif
