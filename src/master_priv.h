/* SPDX-License-Identifier: Apache-2.0 */
/*
 * master_priv.h: the master's state, shared by its files: master.c (start,
 * workers, signals), master_reload.c (reload and aigwctl check),
 * master_status.c (status for the Admin API and aigwctl), master_upgrade.c
 * (binary upgrade on SIGUSR2).
 */
#ifndef AIGW_MASTER_PRIV_H
#define AIGW_MASTER_PRIV_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include "aigw/conf.h"

struct event;
struct event_base;
struct json_object;
struct control;
struct control_req;

#define MAX_WORKERS 256
/* Worker indexes in shared memory: old and new workers overlap during a reload. */
#define SHM_WORKER_CAP (2 * MAX_WORKERS)
#define RESPAWN_FAST_MS 1000 /* a worker that dies sooner than this is restarted after a pause */
#define RESPAWN_FIRST_MS 500 /* the first pause, doubled at each failed start in a row... */
#define RESPAWN_MAX_MS 30000 /* ... up to this */
#define RELOAD_TIMEOUT_MS 30000 /* new workers must serve within this */

/*
 * A generation: the workers started from one aigw.yaml, with its listeners
 * and the memfd holding it. A reload makes a new one; the old one drains.
 * Each client listener has one socket per worker position (SO_REUSEPORT,
 * master_sock.c): the kernel spreads connections over them, and the master
 * holds them, so a worker that dies leaves its queue to its successor.
 * Sockets the two generations share are dup()s of one socket, so
 * connections waiting in its queue go to whichever worker accepts first:
 * none is lost.
 */
struct gen {
    uint64_t id;
    struct conf *conf;       /* as parsed (the master's services use m->conf) */
    struct json_object *tree;
    int conf_fd;             /* memfd with the tree as JSON, inherited by workers */
    int lfds[CONF_MAX_LISTEN][MAX_WORKERS]; /* listener i's sockets, by worker position */
    int nsock[CONF_MAX_LISTEN];             /* how many listener i has */
    char ltext[CONF_MAX_LISTEN][300];       /* the listen entry each is for */
    int nlfds;                              /* listeners */
    int steered[CONF_MAX_LISTEN]; /* master_sock_steer: sockets served, when not all; else 0 */
    int nworkers;
};

/* A worker slot; its index is also the worker's index in shared memory. */
struct wslot {
    struct master *m;
    int idx;
    int used;       /* belongs to a generation */
    uint64_t gen;
    int pos;        /* its number within the generation, for logs */
    pid_t pid;      /* 0: not running */
    int draining;   /* told to drain: not restarted */
    int64_t started_ms;
    struct event *respawn;
    int fails;            /* starts in a row that died within RESPAWN_FAST_MS */
    int64_t retry_at_ms;  /* when a failed one is started again (monotonic); 0: none due */
    char why[PATH_MAX + 64]; /* the last failed start's cause, for logs and status */
};

struct master {
    struct conf *conf; /* the configuration the master's own services run with */
    int foreground;
    char exe[PATH_MAX];
    int shm_fd; /* the shared-memory table (limits, breakers, splits, stats), inherited */
    struct shm *shm;
    struct store *store;
    struct event_base *base;
    struct gen *cur;  /* the generation serving */
    struct gen *next; /* during a reload: the one starting */
    uint64_t ngen;
    struct wslot workers[SHM_WORKER_CAP];
    int stopping;
    struct event *sigs[7];
    struct event *kill_timer;
    struct admin *admin;
    struct http_server *admin_http;
    struct metrics_http *metrics; /* GET /metrics */
    int admin_fds[CONF_MAX_LISTEN], nadmin_fds;     /* kept for an upgrade to hand over */
    int metrics_fds[CONF_MAX_LISTEN], nmetrics_fds; /* (the http servers own them) */
    struct upstream *up;   /* libcurl on the master's loop: etcd, fetched JWT key sets */
    struct etcdsync *etcd; /* etcd mode: etcd -> LMDB */
    struct jwksfetch *jwks; /* JWT key sets fetched over HTTP(S) -> LMDB; NULL: none yet */
    struct control *control;
    int64_t started_real_ms;
    /* start: serving once every first-generation worker accepts */
    struct event *startup_tick;
    int64_t startup_deadline_ms;
    int startup_failed;
    int ready_fd; /* a daemon's parent waits on it */
    uint64_t worker_restarts;
    /* the reload in progress, and how the last one ended */
    struct control_req *reload_req;
    struct json_object *reload_kept; /* restart-only keys it found changed (kept as running) */
    struct json_object *reload_warnings; /* the warnings it logged, for its answer */
    struct event *reload_tick;
    int64_t reload_deadline_ms;
    int64_t last_reload_ms;
    int last_reload_ok;
    char last_reload_error[1024];
    /* binary upgrade (master_upgrade.c) */
    pid_t upgrade_pid;       /* the new master, while it starts */
    int upgrade_fd;          /* its readiness pipe */
    struct event *upgrade_ev;
    int handed_over;         /* the new master took over: leave the PID file and socket */
    /* data.mdb as opened, watched (master_table.c) */
    struct event *table_tick;
    int table_state;  /* enum store_file, as last seen */
    int table_failed; /* cut short: aigw stopped, exit status 1 */
    struct event *ticket_tick; /* a new TLS session ticket key (tls_ticket.c) */
};

/* master.c */
/*
 * After a reload: the Admin API's and the metrics' HTTPS listeners serve new
 * handshakes with the certificates of the new tree (files were checked when
 * it was read); open connections keep theirs.
 */
void master_tls_reload(struct master *m);
/* Raise RLIMIT_NOFILE (inherited by workers) to fit limits.max_connections. */
void master_fit_nofile(const struct conf *c);
int master_spawn(struct master *m, int idx);
int master_start_gen(struct master *m, struct gen *g);
/* Listeners of a list, taking a predecessor's sockets where they match (kind: admin, metrics). */
int master_listen(const char *kind, const struct conf_listen *list, int n, int *fds, int *nfds);
void master_stop(struct master *m, int graceful);
int master_open_listeners(const struct conf_listen *list, int n, int *fds, int *nfds,
                          const char *what);
int master_load_resources(struct master *m, const char *path, const char *why, char *err,
                          size_t errlen);
int master_make_conf_fd(struct json_object *tree);
void gen_free(struct gen *g);
int master_reopen(struct master *m, char *err, size_t errlen);

/* master_reload.c */
/* Reload; cr (may be NULL: SIGHUP) gets the answer when it is over. */
void master_reload(struct master *m, struct control_req *cr);
/* A worker of the starting generation died: the reload fails. */
void master_reload_worker_died(struct master *m, int idx);
void master_check(struct master *m, struct json_object *result);
/* Parse and check aigw.yaml: a new conf and tree, or NULL with errors in e. */
struct conf *master_read_conf(const char *path, struct json_object **tree, struct aigw_errors *e);

/* master_status.c */
void master_status(struct master *m, struct json_object *o);
void master_admin_status(struct json_object *o, void *arg);

/* master_table.c */
/* Is data.mdb still the file opened (enum store_file)? Logs a change once; cut short: stop. */
int master_table_check(struct master *m);
int master_table_start(struct master *m);
void master_table_free(struct master *m);

/* master_sock.c */
/*
 * Listener i of g (address l) gets sockets up to want (at most MAX_WORKERS),
 * bound with SO_REUSEPORT; the first one only after a probe shows nobody
 * else listens there. A socket without SO_REUSEPORT (handed over by an
 * older aigw) stays alone and is shared. 0, or -1 logged.
 */
int master_sock_fill(struct gen *g, int i, const struct conf_listen *l, int want);
/* Listener i of to takes (dup) every socket of listener j of from. 0 or -1. */
int master_sock_dup(struct gen *to, int i, const struct gen *from, int j);
/* The sockets of listener i the worker at position pos (of g's workers) accepts on. */
int master_sock_for(const struct gen *g, int i, int pos, int *fds);
/* Close every socket of g's listeners. */
void master_sock_close(struct gen *g);
/* After workers started, died or were told to drain: new connections only where one accepts. */
void master_sock_steer(struct master *m);

/* master_upgrade.c */
void master_upgrade(struct master *m);
/* At start: the listeners and shared memory a predecessor handed over (or none). */
int master_inherit(struct master *m, struct gen *g);
/* A listening socket the predecessor handed over for kind and address, or -1. */
int master_inherited_fd(const char *kind, const char *text);
/* Was this master started by an upgrade (it replaces a running one)? */
int master_upgrading(void);
/* Once serving: tell the old master it can go. */
void master_upgrade_done(struct master *m);
void master_upgrade_free(struct master *m);

/* Fetch the key sets c's identity providers publish (started when first needed). 0 or -1. */
int master_jwks(struct master *m, const struct conf *c);

#endif
