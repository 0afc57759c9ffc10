/* SPDX-License-Identifier: Apache-2.0 */
/*
 * conf.c: aigw.yaml (master parses it; workers get the master's parsed tree).
 * One table describes every key: parsing, defaults, unknown-key detection and
 * the key list printed by `aigw --keys` and the effective configuration of
 * `aigw -T` (conf_dump.c) all come from it, so they cannot drift.
 */
#include "config.h"

#include <libgen.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "auth.h"
#include "aigw/conf.h"
#include "aigw/errors.h"
#include "keyfile.h"
#include "log.h"
#include "aigw/util.h"
#include "aigw/yamljson.h"
#include "conf_keys.h"
#include "conftls.h"

static const char *const rl_backends[] = {"local", "redis", NULL};
static const char *const rl_on_error[] = {"allow", "deny", NULL};
static const char *const error_log_words[] = {"syslog", "stderr", NULL};
static const char *const access_log_words[] = {"syslog", "stderr", "off", NULL};

/* A list type: items come from a YAML sequence, or from the comma-separated default. */
#define IS_LIST(t)                                                                                 \
    ((t) == CT_LISTEN || (t) == CT_URLS || (t) == CT_CIDRS || (t) == CT_ADMIN_KEYS || (t) == CT_JWT)

#define OFF(f) offsetof(struct conf, f)
#define GIB (1LL << 30)
static const struct conf_key conf_keys[] = {
    {"listen", CT_LISTEN, OFF(listen), "127.0.0.1:8080", 1, CONF_MAX_LISTEN,
     "client listeners: each address:port ([v6]:port for IPv6), or {address, tls} for HTTPS",
     OFF(nlisten), NULL, 0},
    {"workers", CT_WORKERS, OFF(workers), "auto", 1, 256, "worker processes; auto = one per core",
     0, NULL, 0},
    {"log_level", CT_LOGLEVEL, OFF(log_level), "info", 0, 0, "error, warn, info or debug", 0, NULL,
     0},
    {"data_dir", CT_PATH, OFF(data_dir), LOCALSTATEDIR "/lib/aigw", 0, 0,
     "folder of the LMDB configuration table", 0, NULL, 0},
    {"lmdb.map_size", CT_SIZE, OFF(lmdb_map_size), "1g", 1 << 20, 1024 * GIB,
     "largest size of the LMDB file", 0, NULL, 0},
    {"lmdb.max_readers", CT_INT, OFF(lmdb_max_readers), "1024", 16, 65536,
     "LMDB reader slots (one per process is used)", 0, NULL, 0},
    {"history.max_versions", CT_INT, OFF(history_max_versions), "1000", 1, 1000000,
     "configuration versions the history keeps (aigwctl history, diff, rollback); the "
     "oldest are dropped first", 0, NULL, 0},
    {"history.max_size", CT_SIZE, OFF(history_max_size), "64m", 64 * 1024, 64 * GIB,
     "bytes of history records kept in the LMDB file (beside lmdb.map_size); the oldest "
     "are dropped first, the newest always stays", 0, NULL, 0},
    {"resources", CT_PATH, OFF(resources), SYSCONFDIR "/aigw/resources.yaml", 0, 0,
     "standalone resources file (Models and API keys)", 0, NULL, 0},
    {"admin.listen", CT_LISTEN, OFF(admin_listen), "127.0.0.1:9180", 0, CONF_MAX_LISTEN,
     "Admin API listeners; an empty list turns the Admin API off", OFF(admin_nlisten), NULL, 0},
    {"admin.keys", CT_ADMIN_KEYS, OFF(admin_keys), "", 0, CONF_MAX_LIST,
     "Admin API keys: a list of {name, key, key_sha256 or key_file, role: admin or viewer}",
     OFF(admin_nkeys), NULL, 1},
    {"admin.allow_keyless", CT_BOOL, OFF(admin_allow_keyless), "false", 0, 0,
     "true: with no admin.keys, the Admin API answers anyone on its loopback listeners "
     "(every local user); aigw -t warns",
     0, NULL, 0},
    {"admin.allow", CT_CIDRS, OFF(admin_allow), "127.0.0.0/8,::1/128", 0, CONF_MAX_LIST,
     "client addresses (CIDR) allowed to use the Admin API", OFF(admin_nallow), NULL, 0},
    {"etcd.endpoints", CT_URLS, OFF(etcd_endpoints), "", 0, CONF_MAX_LIST,
     "etcd client URLs; none: standalone mode (the resources file)", OFF(etcd_nendpoints), NULL, 0},
    {"etcd.prefix", CT_STRING, OFF(etcd_prefix), "/aigw", 1, CONF_STR_MAX - 32,
     "key prefix of aigw's resources in etcd", 0, NULL, 0},
    {"etcd.user", CT_STRING, OFF(etcd_user), "", 0, CONF_STR_MAX - 1,
     "etcd user; empty: no authentication", 0, NULL, 0},
    {"etcd.password", CT_STRING, OFF(etcd_password), "", 0, CONF_STR_MAX - 1,
     "etcd password (use ${VAR})", 0, NULL, 1},
    {"etcd.tls.ca_file", CT_PATH, OFF(etcd_ca_file), "", 0, 0,
     "CA certificates etcd's certificate is verified against; empty: the system's", 0, NULL, 0},
    {"etcd.tls.cert_file", CT_PATH, OFF(etcd_cert_file), "", 0, 0,
     "client certificate for etcd (PEM)", 0, NULL, 0},
    {"etcd.tls.key_file", CT_PATH, OFF(etcd_key_file), "", 0, 0,
     "private key of the client certificate (PEM)", 0, NULL, 0},
    {"etcd.connect_timeout", CT_DURATION, OFF(etcd_connect_timeout_ms), "2s", 1, 600000,
     "connecting to an etcd endpoint", 0, NULL, 0},
    {"etcd.request_timeout", CT_DURATION, OFF(etcd_request_timeout_ms), "5s", 1, 600000,
     "one etcd request (not the watch)", 0, NULL, 0},
    {"etcd.resync_interval", CT_DURATION, OFF(etcd_resync_interval_ms), "5m", 1000, 86400000,
     "a full read of etcd this often, besides the watch (a safety net for lost events)", 0, NULL,
     0},
    {"upstream.ca_file", CT_PATH, OFF(upstream_ca_file), "", 0, 0,
     "CA certificates (PEM) that upstream TLS certificates are verified against; "
     "empty: the system's",
     0, NULL, 0},
    {"limits.max_body_size", CT_SIZE, OFF(max_body_size), "8m", 1024, 4 * GIB,
     "largest client request body", 0, NULL, 0},
    {"limits.max_header_size", CT_SIZE, OFF(max_header_size), "32k", 1024, 1 << 20,
     "largest client request line and headers", 0, NULL, 0},
    {"limits.max_connections", CT_INT, OFF(max_connections), "4096", 16, 1000000,
     "open client connections per worker (and each of the master's Admin API and metrics "
     "listener sets); at the limit, accepting pauses",
     0, NULL, 0},
    {"limits.max_response_size", CT_SIZE, OFF(max_response_size), "64m", 1024, 4 * GIB,
     "largest non-streamed upstream response body", 0, NULL, 0},
    {"timeouts.client_header", CT_DURATION, OFF(client_header_timeout_ms), "10s", 1, 3600000,
     "time to receive a request's headers", 0, NULL, 0},
    {"timeouts.client_body", CT_DURATION, OFF(client_body_timeout_ms), "60s", 1, 3600000,
     "time to receive a request's body", 0, NULL, 0},
    {"timeouts.keepalive", CT_DURATION, OFF(keepalive_timeout_ms), "75s", 1, 3600000,
     "idle time of a kept-alive client connection", 0, NULL, 0},
    {"timeouts.send", CT_DURATION, OFF(send_timeout_ms), "60s", 1, 3600000,
     "time a client may take to accept buffered response bytes", 0, NULL, 0},
    {"timeouts.upstream_connect", CT_DURATION, OFF(upstream_connect_timeout_ms), "5s", 1, 600000,
     "connecting to an upstream, TLS included", 0, NULL, 0},
    {"timeouts.upstream_first_byte", CT_DURATION, OFF(upstream_first_byte_timeout_ms), "120s", 1,
     3600000, "from sending the request to the upstream's first response byte", 0, NULL, 0},
    {"timeouts.upstream_total", CT_DURATION, OFF(upstream_total_timeout_ms), "10m", 1, 86400000,
     "a whole upstream exchange", 0, NULL, 0},
    {"timeouts.stream_idle", CT_DURATION, OFF(stream_idle_timeout_ms), "120s", 1, 3600000,
     "longest gap between two streamed chunks", 0, NULL, 0},
    {"timeouts.drain", CT_DURATION, OFF(drain_timeout_ms), "30s", 0, 3600000,
     "how long a stopping worker lets in-flight requests finish", 0, NULL, 0},
    {"ratelimit.backend", CT_CHOICE, OFF(rl_backend), "local", 0, 0,
     "where request and token counters live: local (shared memory of this node) or redis "
     "(shared by every node)",
     0, rl_backends, 0},
    {"ratelimit.on_error", CT_CHOICE, OFF(rl_on_error), "allow", 0, 0,
     "when Redis cannot answer: allow (fail open) or deny (fail closed, 503)", 0, rl_on_error, 0},
    {"ratelimit.token_estimate", CT_INT, OFF(rl_token_estimate), "1024", 0, 1000000,
     "completion tokens reserved at admission when a request gives no max_tokens", 0, NULL, 0},
    {"ratelimit.redis.address", CT_STRING, OFF(redis_address), "127.0.0.1:6379", 1,
     CONF_STR_MAX - 1, "Redis server: host:port, or unix:/path/to/socket", 0, NULL, 0},
    {"ratelimit.redis.password", CT_STRING, OFF(redis_password), "", 0, CONF_STR_MAX - 1,
     "Redis password (AUTH; use ${VAR}); empty: none", 0, NULL, 1},
    {"ratelimit.redis.db", CT_INT, OFF(redis_db), "0", 0, 1000, "Redis database number", 0, NULL,
     0},
    {"ratelimit.redis.prefix", CT_STRING, OFF(redis_prefix), "aigw:", 0, 64,
     "prefix of every Redis key aigw writes", 0, NULL, 0},
    {"ratelimit.redis.timeout", CT_DURATION, OFF(redis_timeout_ms), "100ms", 1, 60000,
     "longest wait for Redis before ratelimit.on_error applies", 0, NULL, 0},
    {"ratelimit.redis.lease_ttl", CT_DURATION, OFF(redis_lease_ttl_ms), "10s", 1000, 3600000,
     "how long a concurrency lease lives in Redis unless its worker renews it", 0, NULL, 0},
    {"control.socket", CT_PATH, OFF(control_socket), RUNSTATEDIR "/aigw/aigw.sock", 0, 0,
     "UNIX socket aigwctl talks to (mode 0660); empty: none", 0, NULL, 0},
    {"pid_file", CT_PATH, OFF(pid_file), RUNSTATEDIR "/aigw/aigw.pid", 0, 0,
     "the master's PID file; empty: none", 0, NULL, 0},
    {"error_log", CT_LOGDEST, OFF(error_log), "syslog", 1, 0,
     "syslog, stderr, or a file path (aigw -d always logs to stderr)", 0, error_log_words, 0},
    {"access_log", CT_LOGDEST, OFF(access_log), "", 0, 0,
     "JSON access lines: a file path, syslog, stderr, off; empty: where error_log goes", 0,
     access_log_words, 0},
    {"metrics.listen", CT_LISTEN, OFF(metrics_listen), "127.0.0.1:9190", 0, CONF_MAX_LISTEN,
     "listeners of GET /metrics (Prometheus); an empty list turns it off", OFF(metrics_nlisten),
     NULL, 0},
    {"auth.jwt.providers", CT_JWT, OFF(jwt), "", 0, CONF_MAX_JWT,
     "identity providers whose JWTs clients may send as bearer tokens: a list of {name, "
     "issuer, audiences, jwks_file | jwks_url | discovery, refresh, refetch_interval, "
     "hs256_secret, leeway, allowed_models_claim}; none: API keys only",
     OFF(jwt_nproviders), NULL, 1},
    {"shm_slots", CT_INT, OFF(shm_slots), "65536", 1024, 16777216,
     "entries in the shared-memory table of counters (limits, circuit breakers, splits)", 0, NULL,
     0},
};
#define NKEYS (sizeof(conf_keys) / sizeof(conf_keys[0]))

const struct conf_key *
conf_keys_table(size_t *n)
{
    *n = NKEYS;
    return conf_keys;
}

static const char *const type_names[] = {"a list of address:port",
                                         "an integer or auto",
                                         "a level",
                                         "a path",
                                         "a size",
                                         "a duration",
                                         "an integer",
                                         "a string",
                                         "a list of URLs",
                                         "a list of CIDRs",
                                         "a list of keys",
                                         "a word",
                                         "a path or a word",
                                         "true or false",
                                         "a list of providers"};

/* Find a dotted path in the tree; *parent is set to the deepest object reached. */
static int
lookup(struct json_object *root, const char *path, struct json_object **out,
       struct json_object **parent)
{
    char buf[128];
    struct json_object *cur = root;
    snprintf(buf, sizeof(buf), "%s", path);
    *parent = root;
    for (char *save = NULL, *tok = strtok_r(buf, ".", &save); tok != NULL;
         tok = strtok_r(NULL, ".", &save)) {
        if (!json_object_is_type(cur, json_type_object))
            return 0;
        *parent = cur;
        if (!json_object_object_get_ex(cur, tok, &cur))
            return 0;
    }
    *out = cur;
    return 1;
}

/* Parse "host:port" or "[v6]:port". */
int
conf_parse_listen(const char *s, struct conf_listen *l)
{
    const char *colon;
    size_t hlen;
    const char *host = s;
    if (*s == '[') {
        const char *end = strchr(s, ']');
        if (end == NULL || end[1] != ':')
            return -1;
        host = s + 1;
        hlen = (size_t)(end - host);
        colon = end + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL || memchr(s, ':', (size_t)(colon - s)) != NULL)
            return -1;
        hlen = (size_t)(colon - s);
    }
    if (hlen == 0 || hlen >= sizeof(l->host))
        return -1;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || port < 1 || port > 65535)
        return -1;
    memset(l, 0, sizeof(*l));
    memcpy(l->host, host, hlen);
    l->host[hlen] = '\0';
    snprintf(l->port, sizeof(l->port), "%ld", port);
    snprintf(l->text, sizeof(l->text), "%s", s);
    return 0;
}

/* Resolve a relative path against the folder of aigw.yaml. */
int
conf_path_resolve(const struct conf *c, char *dst, const char *v)
{
    if (*v == '/' || *v == '\0' || c->path[0] == '\0')
        return snprintf(dst, PATH_MAX, "%s", v) >= PATH_MAX ? -1 : 0;
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s", c->path);
    return snprintf(dst, PATH_MAX, "%s/%s", dirname(tmp), v) >= PATH_MAX ? -1 : 0;
}

/* The text of a scalar (numbers as written), or NULL for objects and arrays. */
static const char *
scalar_text(struct json_object *v)
{
    if (v == NULL || json_object_is_type(v, json_type_object) ||
        json_object_is_type(v, json_type_array))
        return NULL;
    return json_object_get_string(v);
}

/* "10.0.0.0/8", "::1/128", or a bare address (a /32 or /128). */
static int
parse_cidr(const char *s, struct conf_cidr *out)
{
    char buf[64], *slash;
    snprintf(buf, sizeof(buf), "%s", s);
    slash = strchr(buf, '/');
    if (slash != NULL)
        *slash = '\0';
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, buf, out->addr) == 1) {
        out->family = AF_INET;
        out->bits = 32;
    } else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
        out->family = AF_INET6;
        out->bits = 128;
    } else {
        return -1;
    }
    if (slash != NULL) {
        char *end;
        long bits = strtol(slash + 1, &end, 10);
        if (slash[1] == '\0' || *end != '\0' || bits < 0 || bits > out->bits)
            return -1;
        out->bits = (int)bits;
    }
    return 0;
}

/*
 * key_file: the key is read from the file (keyfile_read refuses one that
 * every user may read) and the item becomes {name, key_sha256, role} in the
 * tree itself. So workers, which get the master's tree, never open the file,
 * and a reload after the key was rotated sees a changed tree and applies it.
 */
static int
admin_key_from_file(struct conf *c, struct json_object *o, struct conf_admin_key *k,
                    const char *file, const char *path, struct aigw_errors *e)
{
    char full[PATH_MAX], key[KEYFILE_MAX + 1], err[PATH_MAX + 128], hex[65];
    struct json_object *v = NULL;
    json_object_object_get_ex(o, "key_file", &v);
    if (*file == '\0' || conf_path_resolve(c, full, file) < 0) {
        errors_add(e, v, path, "key_file: give the path of a file holding the key");
        return -1;
    }
    if (k->role == ADMIN_ROLE_ADMIN && c->admin_key_file[0] == '\0')
        snprintf(c->admin_key_file, sizeof(c->admin_key_file), "%s", full);
    if (keyfile_read(full, key, sizeof(key), err, sizeof(err)) < 0) {
        errors_add(e, v, path, "key_file: %s", err);
        return -1;
    }
    auth_key_hash(key, strlen(key), k->hash);
    explicit_bzero(key, sizeof(key));
    hex_encode(k->hash, sizeof(k->hash), hex);
    json_object_object_del(o, "key_file");
    json_object_object_add(o, "key_sha256", json_object_new_string(hex));
    return 0;
}

/* {name, key | key_sha256 | key_file, role} */
static int
parse_admin_key(struct conf *c, struct json_object *o, struct conf_admin_key *k, const char *path,
                struct aigw_errors *e)
{
    struct json_object *v;
    const char *name = NULL, *key = NULL, *hash = NULL, *file = NULL, *role = NULL;
    if (o == NULL || !json_object_is_type(o, json_type_object)) {
        errors_add(e, o, path, "each admin key must be a mapping {name, key or key_file, role}");
        return -1;
    }
    json_object_object_foreach(o, f, val)
    {
        const char *sv =
            json_object_is_type(val, json_type_string) ? json_object_get_string(val) : NULL;
        if (strcmp(f, "name") == 0)
            name = sv;
        else if (strcmp(f, "key") == 0)
            key = sv;
        else if (strcmp(f, "key_sha256") == 0)
            hash = sv;
        else if (strcmp(f, "key_file") == 0)
            file = sv;
        else if (strcmp(f, "role") == 0)
            role = sv;
        else {
            errors_add(e, val ? val : o, path, "%s: unknown field", f);
            return -1;
        }
    }
    if (name == NULL || *name == '\0' || strlen(name) >= sizeof(k->name)) {
        errors_add(e, o, path, "name: required, up to 63 characters");
        return -1;
    }
    snprintf(k->name, sizeof(k->name), "%s", name);
    if (role != NULL && strcmp(role, "admin") == 0)
        k->role = ADMIN_ROLE_ADMIN;
    else if (role != NULL && strcmp(role, "viewer") == 0)
        k->role = ADMIN_ROLE_VIEWER;
    else {
        json_object_object_get_ex(o, "role", &v);
        errors_add(e, v ? v : o, path, "role: must be admin or viewer");
        return -1;
    }
    if ((key != NULL) + (hash != NULL) + (file != NULL) != 1) {
        errors_add(e, o, path, "give key, key_sha256 or key_file (exactly one)");
        return -1;
    }
    if (file != NULL)
        return admin_key_from_file(c, o, k, file, path, e);
    if (key != NULL && strlen(key) < 16) {
        json_object_object_get_ex(o, "key", &v);
        errors_add(e, v, path, "key: at least 16 characters");
        return -1;
    }
    if (key != NULL)
        auth_key_hash(key, strlen(key), k->hash);
    else if (hex_decode(hash, k->hash, sizeof(k->hash)) < 0) {
        json_object_object_get_ex(o, "key_sha256", &v);
        errors_add(e, v, path, "key_sha256: must be 64 hex digits");
        return -1;
    }
    return 0;
}

/* One item of a list key, from the file (node) or the default (text). */
static int
set_item(struct conf *c, const struct conf_key *k, int i, struct json_object *node,
         const char *text, struct aigw_errors *e)
{
    char *base = (char *)c + k->off;
    switch (k->type) {
    case CT_LISTEN:
        /* a mapping: {address, tls} (conftls.c) */
        if (text == NULL && node != NULL && json_object_is_type(node, json_type_object))
            return conftls_listener(c, node, (struct conf_listen *)base + i, k->path, e);
        if (text == NULL || conf_parse_listen(text, (struct conf_listen *)base + i) < 0) {
            errors_add(e, node, k->path, "\"%s\" is not address:port (port 1-65535)",
                       text ? text : "?");
            return -1;
        }
        return 0;
    case CT_URLS:
        if (text == NULL ||
            (strncmp(text, "http://", 7) != 0 && strncmp(text, "https://", 8) != 0) ||
            strlen(text) >= CONF_STR_MAX) {
            errors_add(e, node, k->path, "\"%s\" is not an http:// or https:// URL",
                       text ? text : "?");
            return -1;
        }
        snprintf(base + (size_t)i * CONF_STR_MAX, CONF_STR_MAX, "%s", text);
        return 0;
    case CT_CIDRS:
        if (text == NULL || parse_cidr(text, (struct conf_cidr *)base + i) < 0) {
            errors_add(e, node, k->path, "\"%s\" is not an address or CIDR (10.0.0.0/8, ::1/128)",
                       text ? text : "?");
            return -1;
        }
        return 0;
    case CT_ADMIN_KEYS:
        return parse_admin_key(c, node, (struct conf_admin_key *)base + i, k->path, e);
    case CT_JWT:
        return conf_jwt_parse(c, node, (struct conf_jwt_provider *)base + i, k->path, e);
    default:
        return -1;
    }
}

/* A list key: a YAML sequence from the file, or the comma-separated default. */
static int
set_list(struct conf *c, const struct conf_key *k, struct json_object *node, const char *text,
         struct aigw_errors *e)
{
    int *n = (int *)((char *)c + k->off_n);
    *n = 0;
    if (node != NULL && !json_object_is_type(node, json_type_array)) {
        errors_add(e, node, k->path, "must be %s", type_names[k->type]);
        return -1;
    }
    if (node != NULL) {
        for (size_t i = 0; i < json_object_array_length(node); i++) {
            struct json_object *item = json_object_array_get_idx(node, i);
            if (*n == k->max) {
                errors_add(e, item ? item : node, k->path, "at most %lld items", (long long)k->max);
                return -1;
            }
            if (set_item(c, k, *n, item ? item : node, scalar_text(item), e) < 0)
                return -1;
            (*n)++;
        }
    } else {
        char buf[512], *save = NULL;
        snprintf(buf, sizeof(buf), "%s", text);
        for (char *t = strtok_r(buf, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save))
            if (*n < k->max && set_item(c, k, (*n)++, NULL, t, e) < 0)
                return -1;
    }
    if (*n < k->min) {
        if (k->type == CT_LISTEN)
            errors_add(e, node, k->path, "needs at least one listener");
        else
            errors_add(e, node, k->path, "needs at least %lld item%s", (long long)k->min,
                       k->min == 1 ? "" : "s");
        return -1;
    }
    return 0;
}

/* Set one key from a value (a string default or a node from the file). */
static int
set_key(struct conf *c, const struct conf_key *k, struct json_object *node, const char *text,
        struct aigw_errors *e)
{
    char *base = (char *)c + k->off;
    int64_t i64;
    uint64_t u64;

    switch (k->type) {
    case CT_LISTEN:
    case CT_URLS:
    case CT_CIDRS:
    case CT_ADMIN_KEYS:
    case CT_JWT:
        return set_list(c, k, node, text, e);
    case CT_STRING:
        if ((int64_t)strlen(text) < k->min || (int64_t)strlen(text) > k->max) {
            errors_add(e, node, k->path, "must be a string of %lld to %lld bytes",
                       (long long)k->min, (long long)k->max);
            return -1;
        }
        snprintf(base, CONF_STR_MAX, "%s", text);
        return 0;
    case CT_WORKERS:
        if (strcmp(text, "auto") == 0) {
            long n = sysconf(_SC_NPROCESSORS_ONLN);
            *(int *)base = n < 1 ? 1 : (n > k->max ? (int)k->max : (int)n);
            return 0;
        }
        /* FALLTHROUGH */
    case CT_INT: {
        char *end;
        long long v = strtoll(text, &end, 10);
        if (*text == '\0' || *end != '\0' || v < k->min || v > k->max) {
            errors_add(e, node, k->path, "\"%s\" must be an integer from %lld to %lld%s", text,
                       (long long)k->min, (long long)k->max,
                       k->type == CT_WORKERS ? ", or auto" : "");
            return -1;
        }
        if (k->type == CT_WORKERS)
            *(int *)base = (int)v;
        else
            *(int64_t *)base = v;
        return 0;
    }
    case CT_LOGLEVEL: {
        int lvl = log_level_parse(text);
        if (lvl < 0) {
            errors_add(e, node, k->path, "\"%s\" must be error, warn, info or debug", text);
            return -1;
        }
        *(int *)base = lvl;
        return 0;
    }
    case CT_PATH:
        if (conf_path_resolve(c, base, text) < 0) {
            errors_add(e, node, k->path, "path too long");
            return -1;
        }
        return 0;
    case CT_SIZE:
        if (parse_size(text, &u64) < 0 || u64 < (uint64_t)k->min || u64 > (uint64_t)k->max) {
            /* the limits in the units one writes them in: "4g", not "4294967296 bytes" */
            char lo[32], hi[32];
            format_size((uint64_t)k->min, lo, sizeof(lo));
            format_size((uint64_t)k->max, hi, sizeof(hi));
            errors_add(e, node, k->path, "\"%s\" must be a size such as 512k or 8m, from %s to %s",
                       text, lo, hi);
            return -1;
        }
        *(uint64_t *)base = u64;
        return 0;
    case CT_DURATION:
        if (parse_duration_ms(text, &i64) < 0 || i64 < k->min || i64 > k->max) {
            /* the limits in the units one writes them in: "1h", not "3600000ms" */
            char lo[32], hi[32];
            format_duration_ms(k->min, lo, sizeof(lo));
            format_duration_ms(k->max, hi, sizeof(hi));
            errors_add(e, node, k->path,
                       "\"%s\" must be a duration with a unit (ms, s, m, h), from %s to %s", text,
                       lo, hi);
            return -1;
        }
        *(int64_t *)base = i64;
        return 0;
    case CT_BOOL:
        /* YAML's true and false (json-c writes a boolean as these words) */
        if (strcmp(text, "true") != 0 && strcmp(text, "false") != 0) {
            errors_add(e, node, k->path, "\"%s\" must be true or false", text);
            return -1;
        }
        *(int *)base = strcmp(text, "true") == 0;
        return 0;
    case CT_CHOICE:
        for (int i = 0; k->choices[i] != NULL; i++)
            if (strcmp(text, k->choices[i]) == 0) {
                *(int *)base = i;
                return 0;
            }
        errors_add(e, node, k->path, "\"%s\" must be %s or %s", text, k->choices[0], k->choices[1]);
        return -1;
    case CT_LOGDEST:
        /* a word as it is; anything else is a file, relative to aigw.yaml's folder */
        for (int i = 0; k->choices[i] != NULL; i++)
            if (strcmp(text, k->choices[i]) == 0) {
                snprintf(base, PATH_MAX, "%s", text);
                return 0;
            }
        if (text[0] == '\0' && k->min > 0) {
            errors_add(e, node, k->path, "must be syslog, stderr or a file path");
            return -1;
        }
        if (conf_path_resolve(c, base, text) < 0) {
            errors_add(e, node, k->path, "path too long");
            return -1;
        }
        return 0;
    }
    return -1;
}

/* host:port, [v6]:port or unix:/absolute/path, as the Redis limiter connects to it. */
static int
redis_address_valid(const char *a)
{
    if (strncmp(a, "unix:", 5) == 0)
        return a[5] == '/' ? 0 : -1;
    const char *colon = strrchr(a, ':');
    if (colon == NULL || colon == a || (a[0] == '[' && colon[-1] != ']'))
        return -1;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    return colon[1] != '\0' && *end == '\0' && port >= 1 && port <= 65535 ? 0 : -1;
}

void
conf_defaults(struct conf *c)
{
    struct aigw_errors e;
    char path[PATH_MAX];
    memcpy(path, c->path, sizeof(path));
    memset(c, 0, sizeof(*c));
    memcpy(c->path, path, sizeof(path));
    errors_init(&e, NULL);
    for (size_t i = 0; i < NKEYS; i++)
        if (set_key(c, &conf_keys[i], NULL, conf_keys[i].def, &e) < 0)
            fatalx("built-in default of %s is invalid", conf_keys[i].path);
    errors_free(&e);
}

/* 1 when path names a key or a section of the table. */
static int
known_path(const char *path, int *is_section)
{
    size_t len = strlen(path);
    for (size_t i = 0; i < NKEYS; i++) {
        if (strcmp(conf_keys[i].path, path) == 0) {
            *is_section = 0;
            return 1;
        }
        if (strncmp(conf_keys[i].path, path, len) == 0 && conf_keys[i].path[len] == '.') {
            *is_section = 1;
            return 1;
        }
    }
    return 0;
}

/* Report every key of the file that the table does not know. */
static int
check_unknown(struct json_object *obj, const char *prefix, struct aigw_errors *e)
{
    int bad = 0;
    json_object_object_foreach(obj, key, val)
    {
        char path[256];
        int section = 0;
        snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", key);
        if (!known_path(path, &section)) {
            errors_add(e, val ? val : obj, path, "unknown key");
            bad = 1;
        } else if (section) {
            if (!json_object_is_type(val, json_type_object)) {
                errors_add(e, val ? val : obj, path, "must be a mapping");
                bad = 1;
            } else if (check_unknown(val, path, e) < 0) {
                bad = 1;
            }
        }
    }
    return bad ? -1 : 0;
}

/*
 * Give the key at a dotted path in dst the value it has in src (absent in
 * src: absent in dst). A reload uses it so that the tree handed to new
 * workers holds the running value of a key that needs a restart.
 */
int
conf_tree_copy_key(struct json_object *dst, struct json_object *src, const char *path)
{
    struct json_object *sv = NULL, *sparent, *cur = dst, *next;
    char buf[128];
    int have = lookup(src, path, &sv, &sparent);
    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
        return -1;
    char *last = strrchr(buf, '.');
    if (last != NULL) {
        *last++ = '\0';
        for (char *save = NULL, *tok = strtok_r(buf, ".", &save); tok != NULL;
             tok = strtok_r(NULL, ".", &save)) {
            if (json_object_object_get_ex(cur, tok, &next) &&
                json_object_is_type(next, json_type_object)) {
                cur = next;
                continue;
            }
            if (!have)
                return 0; /* nothing there to remove */
            if ((next = json_object_new_object()) == NULL)
                return -1;
            json_object_object_add(cur, tok, next);
            cur = next;
        }
    } else {
        last = buf;
    }
    if (!json_object_is_type(cur, json_type_object))
        return -1;
    if (!have) {
        json_object_object_del(cur, last);
        return 0;
    }
    /* shared, not copied: both trees only read it */
    return json_object_object_add(cur, last, json_object_get(sv));
}

int
conf_from_json(struct conf *c, struct json_object *root, struct aigw_errors *e)
{
    int bad = 0;
    conf_defaults(c);
    if (!json_object_is_type(root, json_type_object)) {
        errors_add(e, root, NULL, "the top level must be a mapping");
        return -1;
    }
    if (check_unknown(root, "", e) < 0)
        bad = 1;
    for (size_t i = 0; i < NKEYS; i++) {
        struct json_object *node = NULL, *parent = NULL;
        if (!lookup(root, conf_keys[i].path, &node, &parent))
            continue;
        const char *text = IS_LIST(conf_keys[i].type) ? "" : scalar_text(node);
        if (text == NULL || (node == NULL && !IS_LIST(conf_keys[i].type))) {
            errors_add(e, node ? node : parent, conf_keys[i].path, "must be %s",
                       type_names[conf_keys[i].type]);
            bad = 1;
            continue;
        }
        if (set_key(c, &conf_keys[i], node ? node : parent, text, e) < 0)
            bad = 1;
    }
    if (redis_address_valid(c->redis_address) < 0) {
        struct json_object *node = NULL, *parent = NULL;
        lookup(root, "ratelimit.redis.address", &node, &parent);
        errors_add(e, node ? node : parent, "ratelimit.redis.address",
                   "\"%s\" must be host:port, [IPv6]:port or unix:/path/to/socket",
                   c->redis_address);
        bad = 1;
    }
    /* renewed every third of its TTL, a lease must outlive a renewal that timed out */
    if (c->redis_lease_ttl_ms < 3 * c->redis_timeout_ms) {
        struct json_object *node = NULL, *parent = NULL;
        lookup(root, "ratelimit.redis.lease_ttl", &node, &parent);
        errors_add(e, node ? node : parent, "ratelimit.redis.lease_ttl",
                   "must be at least 3 times ratelimit.redis.timeout");
        bad = 1;
    }
    /*
     * the history shares the LMDB map with the table, and copy-on-write
     * needs room: at most half the map (the default shrinks to fit)
     */
    if (c->history_max_size > c->lmdb_map_size / 2) {
        struct json_object *node = NULL, *parent = NULL;
        lookup(root, "history.max_size", &node, &parent);
        if (node == NULL) {
            c->history_max_size = c->lmdb_map_size / 2;
        } else {
            errors_add(e, node, "history.max_size",
                       "must be at most half of lmdb.map_size (%llu bytes): the history is kept "
                       "in the same LMDB file, and a full one refuses every change",
                       (unsigned long long)c->lmdb_map_size);
            bad = 1;
        }
    }
    return bad ? -1 : 0;
}

/* The file's tree (NULL: it did not parse) into c; errors after before are a failure. */
static int
conf_load_tree(struct conf *c, struct json_object *root, int before, struct aigw_errors *e)
{
    if (root == NULL)
        return -1;
    int rv = conf_from_json(c, root, e);
    if (e->n > before)
        rv = -1;
    json_object_put(root);
    return rv;
}

int
conf_load_file(struct conf *c, const char *path, struct aigw_errors *e)
{
    snprintf(c->path, sizeof(c->path), "%s", path);
    int before = e->n;
    return conf_load_tree(c, yaml_load_file(path, YAML_SUBST_ENV, e), before, e);
}

int
conf_load_buffer(struct conf *c, const char *path, const char *buf, size_t len,
                 struct aigw_errors *e)
{
    snprintf(c->path, sizeof(c->path), "%s", path);
    int before = e->n;
    return conf_load_tree(c, yaml_load_buffer(buf, len, YAML_SUBST_ENV, e), before, e);
}

/* A loopback address, checked by parsing it (not by its text). */
static int
is_loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return 0; /* a name: not provably loopback */
}

/*
 * A keyless Admin API lets whoever reaches it create API keys for every
 * model. On loopback that is every local user (nobody included), so it
 * needs the explicit admin.allow_keyless; elsewhere it is never allowed.
 */
int
conf_check_admin(const struct conf *c, struct aigw_errors *e)
{
    if (c->admin_nkeys > 0 || c->admin_nlisten == 0)
        return 0;
    for (int i = 0; i < c->admin_nlisten; i++)
        if (!is_loopback(c->admin_listen[i].host)) {
            errors_add(e, NULL, "admin.listen",
                       "%s is not a loopback address and admin.keys is empty: add an admin key "
                       "or listen on 127.0.0.1",
                       c->admin_listen[i].text);
            return -1;
        }
    if (!c->admin_allow_keyless) {
        errors_add(e, NULL, "admin.keys",
                   "empty, and the Admin API listens on %s: every local user could change the "
                   "configuration; add an admin key (key_file: see aigw-admin(7)), or set "
                   "admin.allow_keyless: true to accept that risk",
                   c->admin_listen[0].text);
        return -1;
    }
    return 0;
}

int
conf_admin_warning(const struct conf *c, char *buf, size_t len)
{
    if (c->admin_nkeys > 0 || c->admin_nlisten == 0 || !c->admin_allow_keyless)
        return 0;
    snprintf(buf, len,
             "admin.allow_keyless is true: the Admin API on %s answers every local user "
             "without a key (any of them can create API keys and change models)",
             c->admin_listen[0].text);
    return 1;
}

void
conf_dump_keys(FILE *fp)
{
    for (size_t i = 0; i < NKEYS; i++)
        fprintf(fp, "%-30s %-22s %-24s %s\n", conf_keys[i].path, type_names[conf_keys[i].type],
                conf_keys[i].def[0] ? conf_keys[i].def : "\"\"", conf_keys[i].doc);
}
