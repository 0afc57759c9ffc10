/* SPDX-License-Identifier: Apache-2.0 */
/* conf.h: aigw.yaml, the daemon's own settings (not models or keys: see resource.h). */
#ifndef AIGW_CONF_H
#define AIGW_CONF_H

#include <limits.h>
#include <stdint.h>
#include <stdio.h>

struct json_object;
struct aigw_errors;

#define CONF_DEFAULT_PATH SYSCONFDIR "/aigw/aigw.yaml"
/* The admin key the Debian package makes (0640 root:aigw); aigwctl's last resort. */
#define CONF_DEFAULT_ADMIN_KEY SYSCONFDIR "/aigw/admin.key"
#define CONF_MAX_LISTEN 16

struct conf_listen {
    char host[256]; /* numeric IPv4 or IPv6 address, or a name */
    char port[8];
    char text[300]; /* as written, for logs */
    int tls;        /* 1: HTTPS; its tls block is in the tree (conftls.c, tls.c) */
};

#define CONF_MAX_LIST 16
#define CONF_STR_MAX 256

struct conf_cidr {
    int family; /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    int bits;
};

enum { ADMIN_ROLE_VIEWER = 1, ADMIN_ROLE_ADMIN = 2 };

struct conf_admin_key {
    char name[64];
    uint8_t hash[32]; /* SHA-256 of the key: the key itself is not kept */
    int role;
};

#define CONF_MAX_JWT 8 /* identity providers */
#define CONF_MAX_AUD 8

/* One identity provider of auth.jwt.providers (conf_jwt.c). */
struct conf_jwt_provider {
    char name[64];             /* also the key set's name in the LMDB table */
    char issuer[CONF_STR_MAX]; /* a token's iss must equal it */
    char audiences[CONF_MAX_AUD][CONF_STR_MAX];
    int naud;                    /* 0: aud is not checked */
    char jwks_file[PATH_MAX];    /* "" when none */
    char jwks_url[CONF_STR_MAX]; /* fetched by the master; "" when none */
    int discovery;               /* jwks_uri from <issuer>/.well-known/openid-configuration */
    int64_t refresh_ms;          /* a fetched set is fetched again this often */
    int64_t refetch_ms;          /* least time between fetches for an unknown kid */
    uint8_t hs256_secret[CONF_STR_MAX];
    size_t hs256_len; /* 0: HS256 is refused */
    int64_t leeway_ms;
    char models_claim[64]; /* "": allowed models come from the bound key only */
};

struct conf {
    char path[PATH_MAX]; /* the file it came from */

    struct conf_listen listen[CONF_MAX_LISTEN];
    int nlisten;

    struct conf_listen admin_listen[CONF_MAX_LISTEN]; /* none: no Admin API */
    int admin_nlisten;
    struct conf_admin_key admin_keys[CONF_MAX_LIST];
    int admin_nkeys;
    int admin_allow_keyless;       /* the explicit opt-in to a keyless Admin API on loopback */
    char admin_key_file[PATH_MAX]; /* key_file of the first admin-role key, for aigwctl */
    struct conf_cidr admin_allow[CONF_MAX_LIST];
    int admin_nallow;

    char etcd_endpoints[CONF_MAX_LIST][CONF_STR_MAX]; /* none: standalone mode */
    int etcd_nendpoints;
    char etcd_prefix[CONF_STR_MAX];
    char etcd_user[CONF_STR_MAX];
    char etcd_password[CONF_STR_MAX];
    char etcd_ca_file[PATH_MAX];
    char etcd_cert_file[PATH_MAX];
    char etcd_key_file[PATH_MAX];
    int64_t etcd_connect_timeout_ms;
    int64_t etcd_request_timeout_ms;
    int64_t etcd_resync_interval_ms;
    int workers; /* "auto" in the file is resolved to the core count */
    int log_level;

    char data_dir[PATH_MAX];
    uint64_t lmdb_map_size;
    int64_t lmdb_max_readers;
    int64_t history_max_versions;    /* configuration versions kept (aigwctl history) */
    uint64_t history_max_size;       /* bytes of history records kept */
    char resources[PATH_MAX];        /* standalone resources file; "" for none */
    char upstream_ca_file[PATH_MAX]; /* CA bundle for upstream TLS; "" = the system's */

    uint64_t max_body_size;
    uint64_t max_header_size;
    uint64_t max_response_size; /* non-stream upstream body */
    int64_t max_connections; /* open client connections per worker (and per master listener set) */

    int64_t client_header_timeout_ms;
    int64_t client_body_timeout_ms;
    int64_t keepalive_timeout_ms;
    int64_t send_timeout_ms;
    int64_t upstream_connect_timeout_ms;
    int64_t upstream_first_byte_timeout_ms;
    int64_t upstream_total_timeout_ms;
    int64_t stream_idle_timeout_ms;
    int64_t drain_timeout_ms;

    int rl_backend;  /* RL_BACKEND_* */
    int rl_on_error; /* RL_ON_ERROR_* */
    int64_t rl_token_estimate;
    char redis_address[CONF_STR_MAX];
    char redis_password[CONF_STR_MAX];
    int64_t redis_db;
    char redis_prefix[CONF_STR_MAX];
    int64_t redis_timeout_ms;
    int64_t redis_lease_ttl_ms;
    int64_t shm_slots;

    char control_socket[PATH_MAX]; /* "" for none */
    char pid_file[PATH_MAX];       /* "" for none */
    char error_log[PATH_MAX];      /* syslog, stderr or a path */
    char access_log[PATH_MAX];     /* a path, syslog, stderr, off; "": with the error log */
    struct conf_listen metrics_listen[CONF_MAX_LISTEN];
    int metrics_nlisten;

    struct conf_jwt_provider jwt[CONF_MAX_JWT];
    int jwt_nproviders;
};

enum { RL_BACKEND_LOCAL = 0, RL_BACKEND_REDIS = 1 };
enum { RL_ON_ERROR_ALLOW = 0, RL_ON_ERROR_DENY = 1 };

/* Fill c with every default. */
void conf_defaults(struct conf *c);
/* Read and check a file; every problem is added to e (file:line: key: message). 0 or -1. */
int conf_load_file(struct conf *c, const char *path, struct aigw_errors *e);
/*
 * The same with the file's bytes already read (len bytes at buf, as read
 * from path: relative key files are found next to it).
 */
int conf_load_buffer(struct conf *c, const char *path, const char *buf, size_t len,
                     struct aigw_errors *e);
/* The same from an already parsed tree (the worker gets the master's tree this way). */
int conf_from_json(struct conf *c, struct json_object *root, struct aigw_errors *e);
/* Set (or remove) the key at a dotted path in dst as it is in src ("etcd.prefix"). */
int conf_tree_copy_key(struct json_object *dst, struct json_object *src, const char *path);
/*
 * -1 (error added) when the Admin API would listen without a key: always on a
 * non-loopback address, and on loopback unless admin.allow_keyless is true.
 */
int conf_check_admin(const struct conf *c, struct aigw_errors *e);
/* 1 and the warning in buf when the Admin API runs keyless by the opt-in (for -t and the log). */
int conf_admin_warning(const struct conf *c, char *buf, size_t len);
/*
 * 0: parse a listener's address and note its tls block, but read and check
 * none of its files (aigwctl, which only needs to know where to connect).
 * conftls.c; the default is 1.
 */
void conftls_set_read_files(int on);
/* Resolve a relative path against the folder of aigw.yaml into dst (PATH_MAX). 0 or -1. */
int conf_path_resolve(const struct conf *c, char *dst, const char *v);
/* One item of auth.jwt.providers into p (conf_jwt.c); errors under path. 0 or -1. */
int conf_jwt_parse(const struct conf *c, struct json_object *o, struct conf_jwt_provider *p,
                   const char *path, struct aigw_errors *e);
/* 1 when u is an http:// or https:// URL without spaces or control bytes. */
int conf_jwt_url_ok(const char *u);
/* The provider whose issuer is iss, or NULL. */
const struct conf_jwt_provider *conf_jwt_by_issuer(const struct conf *c, const char *iss);
/* Print every key with its type, default and description (for docs and `aigw --keys`). */
void conf_dump_keys(FILE *fp);
/*
 * `aigw -T`: the effective aigw.yaml as YAML that aigw reads back as the same
 * configuration (conf_dump.c). tree: the file's tree with ${VAR} replaced,
 * before conf_from_json (which rewrites parts of it); raw: the same file
 * loaded without replacing. Returns how many secrets were masked; *masked
 * (when not NULL) gets their keys, a JSON array to put.
 */
int conf_dump_effective(FILE *fp, const struct conf *c, struct json_object *tree,
                        struct json_object *raw, struct json_object **masked);

#endif
