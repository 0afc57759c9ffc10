/* SPDX-License-Identifier: Apache-2.0 */
/*
 * conf_dump.c: `aigw -T`, the effective aigw.yaml. Every key of conf.c's
 * table, from the parsed configuration or its default, written as YAML that
 * `aigw -c` reads back as the same configuration: relative paths resolved,
 * admin keys as their SHA-256, and secrets masked (a secret written as a
 * bare ${VAR} is shown as written, which is not a secret).
 */
#include "config.h"

#include <arpa/inet.h>
#include <string.h>

#include <json-c/json.h>

#include "aigw/conf.h"
#include "log.h"
#include "aigw/util.h"
#include "aigw/yamljson.h"
#include "conf_keys.h"

#define MASK "********"

struct dump {
    const struct conf *c;
    struct json_object *masked; /* the dotted paths of the masked values */
};

/* The node at a dotted path of a tree, or NULL. */
static struct json_object *
tree_get(struct json_object *root, const char *path)
{
    char buf[128];
    struct json_object *cur = root;
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *save = NULL, *t = strtok_r(buf, ".", &save); t != NULL && cur != NULL;
         t = strtok_r(NULL, ".", &save))
        if (!json_object_is_type(cur, json_type_object) || !json_object_object_get_ex(cur, t, &cur))
            return NULL;
    return cur;
}

/* Set val at a dotted path of out, making the mappings on the way. */
static void
tree_set(struct json_object *out, const char *path, struct json_object *val)
{
    char buf[128];
    struct json_object *cur = out, *next;
    snprintf(buf, sizeof(buf), "%s", path);
    char *last = strrchr(buf, '.');
    if (last != NULL) {
        *last++ = '\0';
        for (char *save = NULL, *t = strtok_r(buf, ".", &save); t != NULL;
             t = strtok_r(NULL, ".", &save)) {
            if (!json_object_object_get_ex(cur, t, &next)) {
                next = json_object_new_object();
                json_object_object_add(cur, t, next);
            }
            cur = next;
        }
    } else {
        last = buf;
    }
    json_object_object_add(cur, last, val);
}

/* 1 for a value that only names a variable: "${NAME}", no default that could hold a secret. */
static int
only_variables(struct json_object *raw)
{
    if (raw == NULL || !json_object_is_type(raw, json_type_string))
        return 0;
    const char *s = json_object_get_string(raw);
    if (strstr(s, "${") == NULL)
        return 0;
    for (const char *p = s; (p = strstr(p, "${")) != NULL; p++) {
        const char *end = strchr(p, '}');
        const char *def = strstr(p, ":-");
        if (end == NULL || (def != NULL && def < end))
            return 0;
    }
    return 1;
}

/* A secret: empty as it is, a bare ${VAR} as written, anything else masked (and noted). */
static struct json_object *
secret(struct dump *d, const char *path, size_t len, struct json_object *raw)
{
    if (len == 0)
        return json_object_new_string("");
    if (only_variables(raw))
        return json_object_new_string(json_object_get_string(raw));
    json_object_array_add(d->masked, json_object_new_string(path));
    return json_object_new_string(MASK);
}

static struct json_object *
duration(int64_t ms)
{
    char buf[64];
    format_duration_ms(ms, buf, sizeof(buf));
    return json_object_new_string(buf);
}

/* A path member of a tls block, resolved against aigw.yaml's folder. */
static void
tls_resolve(const struct conf *c, struct json_object *o, const char *key)
{
    struct json_object *v;
    char full[PATH_MAX];
    if (json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string) &&
        conf_path_resolve(c, full, json_object_get_string(v)) == 0)
        json_object_object_add(o, key, json_object_new_string(full));
}

/* A listener with a tls block: as written, its files resolved, an inline private key masked. */
static struct json_object *
tls_listener(struct dump *d, const char *path, struct json_object *item, struct json_object *raw)
{
    struct json_object *tls, *certs, *rtls = NULL, *rcerts = NULL, *v;
    /* json_object_deep_copy refuses the loader's nodes (they carry their line) */
    struct json_object *copy = json_tokener_parse(json_object_to_json_string(item));
    if (copy == NULL)
        return json_object_new_string("?");
    if (!json_object_object_get_ex(copy, "tls", &tls) ||
        !json_object_is_type(tls, json_type_object))
        return copy;
    tls_resolve(d->c, tls, "client_ca_file");
    if (raw != NULL && json_object_object_get_ex(raw, "tls", &rtls))
        json_object_object_get_ex(rtls, "certificates", &rcerts);
    if (!json_object_object_get_ex(tls, "certificates", &certs) ||
        !json_object_is_type(certs, json_type_array))
        return copy;
    for (size_t i = 0; i < json_object_array_length(certs); i++) {
        struct json_object *cert = json_object_array_get_idx(certs, i), *rcert = NULL;
        if (!json_object_is_type(cert, json_type_object))
            continue;
        tls_resolve(d->c, cert, "cert_file");
        tls_resolve(d->c, cert, "key_file");
        if (json_object_is_type(rcerts, json_type_array))
            rcert = json_object_array_get_idx(rcerts, i);
        if (json_object_object_get_ex(cert, "key_pem", &v)) {
            struct json_object *rv = NULL;
            if (rcert != NULL)
                json_object_object_get_ex(rcert, "key_pem", &rv);
            json_object_object_add(cert, "key_pem",
                                   secret(d, path, (size_t)json_object_get_string_len(v), rv));
        }
    }
    return copy;
}

static struct json_object *
listeners(struct dump *d, const struct conf_key *k, struct json_object *node,
          struct json_object *raw)
{
    const struct conf_listen *l = (const struct conf_listen *)((const char *)d->c + k->off);
    int n = *(const int *)((const char *)d->c + k->off_n);
    struct json_object *a = json_object_new_array();
    for (int i = 0; i < n; i++) {
        struct json_object *item = node ? json_object_array_get_idx(node, (size_t)i) : NULL;
        if (l[i].tls && item != NULL)
            json_object_array_add(a, tls_listener(d, k->path, item,
                                                  raw && json_object_is_type(raw, json_type_array)
                                                      ? json_object_array_get_idx(raw, (size_t)i)
                                                      : NULL));
        else
            json_object_array_add(a, json_object_new_string(l[i].text));
    }
    return a;
}

/* admin.keys: a key as its SHA-256 (what aigw keeps), a key_file as its resolved path. */
static struct json_object *
admin_keys(struct dump *d, struct json_object *node)
{
    static const char *const roles[] = {
        [ADMIN_ROLE_VIEWER] = "viewer", [ADMIN_ROLE_ADMIN] = "admin"};
    struct json_object *a = json_object_new_array();
    for (int i = 0; i < d->c->admin_nkeys; i++) {
        const struct conf_admin_key *k = &d->c->admin_keys[i];
        struct json_object *o = json_object_new_object(), *item, *file = NULL;
        char hex[65], full[PATH_MAX];
        json_object_object_add(o, "name", json_object_new_string(k->name));
        item = node ? json_object_array_get_idx(node, (size_t)i) : NULL;
        if (item != NULL && json_object_object_get_ex(item, "key_file", &file) &&
            conf_path_resolve(d->c, full, json_object_get_string(file)) == 0) {
            /* aigwctl reads the key from it: keep the file, not its hash */
            json_object_object_add(o, "key_file", json_object_new_string(full));
        } else {
            hex_encode(k->hash, sizeof(k->hash), hex);
            json_object_object_add(o, "key_sha256", json_object_new_string(hex));
        }
        json_object_object_add(o, "role", json_object_new_string(roles[k->role]));
        json_object_array_add(a, o);
    }
    return a;
}

static struct json_object *
jwt_providers(struct dump *d, const char *path, struct json_object *raw)
{
    struct json_object *a = json_object_new_array();
    for (int i = 0; i < d->c->jwt_nproviders; i++) {
        const struct conf_jwt_provider *p = &d->c->jwt[i];
        struct json_object *o = json_object_new_object(), *aud, *rs = NULL;
        json_object_object_add(o, "name", json_object_new_string(p->name));
        json_object_object_add(o, "issuer", json_object_new_string(p->issuer));
        if (p->naud > 0) {
            aud = json_object_new_array();
            for (int j = 0; j < p->naud; j++)
                json_object_array_add(aud, json_object_new_string(p->audiences[j]));
            json_object_object_add(o, "audiences", aud);
        }
        if (p->jwks_file[0] != '\0')
            json_object_object_add(o, "jwks_file", json_object_new_string(p->jwks_file));
        if (p->jwks_url[0] != '\0')
            json_object_object_add(o, "jwks_url", json_object_new_string(p->jwks_url));
        if (p->discovery)
            json_object_object_add(o, "discovery", json_object_new_boolean(1));
        json_object_object_add(o, "refresh", duration(p->refresh_ms));
        json_object_object_add(o, "refetch_interval", duration(p->refetch_ms));
        if (p->hs256_len > 0) {
            struct json_object *item = json_object_is_type(raw, json_type_array)
                                           ? json_object_array_get_idx(raw, (size_t)i)
                                           : NULL;
            if (item != NULL)
                json_object_object_get_ex(item, "hs256_secret", &rs);
            json_object_object_add(o, "hs256_secret", secret(d, path, p->hs256_len, rs));
        }
        json_object_object_add(o, "leeway", duration(p->leeway_ms));
        if (p->models_claim[0] != '\0')
            json_object_object_add(o, "allowed_models_claim",
                                   json_object_new_string(p->models_claim));
        json_object_array_add(a, o);
    }
    return a;
}

/* The effective value of one key: node is the file's (NULL: the default), raw the same unreplaced.
 */
static struct json_object *
key_value(struct dump *d, const struct conf_key *k, struct json_object *node,
          struct json_object *raw)
{
    const char *base = (const char *)d->c + k->off;
    int n = k->off_n ? *(const int *)((const char *)d->c + k->off_n) : 0;
    char buf[PATH_MAX];
    struct json_object *a;
    switch (k->type) {
    case CT_LISTEN:
        return listeners(d, k, node, raw);
    case CT_WORKERS:
        /* auto stays auto: it is resolved on the machine that starts */
        if (node == NULL || strcmp(json_object_get_string(node), "auto") == 0)
            return json_object_new_string("auto");
        return json_object_new_int(*(const int *)base);
    case CT_LOGLEVEL:
        return json_object_new_string(log_level_name(*(const int *)base));
    case CT_PATH:
    case CT_LOGDEST:
        return json_object_new_string(base);
    case CT_SIZE:
        format_size(*(const uint64_t *)base, buf, sizeof(buf));
        return json_object_new_string(buf);
    case CT_DURATION:
        return duration(*(const int64_t *)base);
    case CT_INT:
        return json_object_new_int64(*(const int64_t *)base);
    case CT_STRING:
        if (k->secret)
            return secret(d, k->path, strlen(base), raw);
        return json_object_new_string(base);
    case CT_URLS:
        a = json_object_new_array();
        for (int i = 0; i < n; i++)
            json_object_array_add(a, json_object_new_string(base + (size_t)i * CONF_STR_MAX));
        return a;
    case CT_CIDRS:
        a = json_object_new_array();
        for (int i = 0; i < n; i++) {
            const struct conf_cidr *cidr = (const struct conf_cidr *)base + i;
            char addr[INET6_ADDRSTRLEN];
            inet_ntop(cidr->family, cidr->addr, addr, sizeof(addr));
            snprintf(buf, sizeof(buf), "%s/%d", addr, cidr->bits);
            json_object_array_add(a, json_object_new_string(buf));
        }
        return a;
    case CT_ADMIN_KEYS:
        return admin_keys(d, node);
    case CT_CHOICE:
        return json_object_new_string(k->choices[*(const int *)base]);
    case CT_BOOL:
        return json_object_new_boolean(*(const int *)base);
    case CT_JWT:
        return jwt_providers(d, k->path, raw);
    }
    return json_object_new_string("?");
}

int
conf_dump_effective(FILE *fp, const struct conf *c, struct json_object *tree,
                    struct json_object *raw, struct json_object **masked)
{
    struct dump d = {c, json_object_new_array()};
    struct json_object *out = json_object_new_object();
    size_t n;
    const struct conf_key *keys = conf_keys_table(&n);
    for (size_t i = 0; i < n; i++)
        tree_set(out, keys[i].path,
                 key_value(&d, &keys[i], tree ? tree_get(tree, keys[i].path) : NULL,
                           raw ? tree_get(raw, keys[i].path) : NULL));
    /* the same for the output read back: no path, no time */
    fputs("# aigw -T: the effective configuration, every default filled in, secrets masked\n", fp);
    yaml_write(fp, out);
    json_object_put(out);
    int nmasked = (int)json_object_array_length(d.masked);
    if (masked != NULL)
        *masked = d.masked;
    else
        json_object_put(d.masked);
    return nmasked;
}
