/* SPDX-License-Identifier: Apache-2.0 */
/*
 * conftls.c: a listener written as a mapping, {address, tls: {...}}, in
 * aigw.yaml. Where the files of its tls block are read: the master reads
 * each (a key file that other users may read is refused), checks it with
 * tls.c (a key that is not the certificate's, an expired certificate: an
 * error naming the file), and puts its text into the tree beside the file's
 * name (cert_pem, key_pem, client_ca_pem). The workers get that tree, so
 * they never open a file, and a changed certificate changes the tree: a
 * reload starts new workers with it.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "aigw/conf.h"
#include "aigw/errors.h"
#include "keyfile.h"
#include "conftls.h"
#include "tls.h"

/* 0: the tls blocks' files are not read (aigwctl needs the addresses only). */
static int conftls_read_files = 1;

void
conftls_set_read_files(int on)
{
    conftls_read_files = on;
}

/* A string member, or NULL (present but not a string: *bad is set). */
static const char *
conftls_str(struct json_object *o, const char *key, int *bad)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, key, &v))
        return NULL;
    if (!json_object_is_type(v, json_type_string)) {
        *bad = 1;
        return NULL;
    }
    return json_object_get_string(v);
}

/*
 * The text of a file named by member fkey into member pkey, unless pkey is
 * there already (the worker's copy of the master's tree). 0 or -1.
 */
static int
conftls_slurp(const struct conf *c, struct json_object *o, const char *fkey, const char *pkey,
              int private, size_t max, const char *path, struct aigw_errors *e)
{
    char full[PATH_MAX], err[PATH_MAX + 128];
    int bad = 0;
    const char *file = conftls_str(o, fkey, &bad), *have = conftls_str(o, pkey, &bad);
    struct json_object *v = NULL;
    json_object_object_get_ex(o, fkey, &v);
    if (bad || (file == NULL && have == NULL) || (file != NULL && *file == '\0')) {
        errors_add(e, v ? v : o, path, "%s: give the path of a PEM file", fkey);
        return -1;
    }
    if (have != NULL)
        return 0;
    if (conf_path_resolve(c, full, file) < 0) {
        errors_add(e, v, path, "%s: path too long", fkey);
        return -1;
    }
    char *text = keyfile_read_all(full, private, max, err, sizeof(err));
    if (text == NULL) {
        errors_add(e, v, path, "%s: %s", fkey, err);
        return -1;
    }
    json_object_object_add(o, fkey, json_object_new_string(full));
    json_object_object_add(o, pkey, json_object_new_string(text));
    explicit_bzero(text, strlen(text));
    free(text);
    return 0;
}

/* One item of tls.certificates: {cert_file, key_file}, read and checked. */
static int
conftls_cert(const struct conf *c, struct json_object *item, const char *path,
             struct aigw_errors *e)
{
    char err[PATH_MAX + 256];
    if (!json_object_is_type(item, json_type_object)) {
        errors_add(e, item, path, "tls.certificates: each item is {cert_file, key_file}");
        return -1;
    }
    json_object_object_foreach(item, f, val)
    {
        if (strcmp(f, "cert_file") != 0 && strcmp(f, "key_file") != 0 &&
            strcmp(f, "cert_pem") != 0 && strcmp(f, "key_pem") != 0) {
            errors_add(e, val ? val : item, path, "tls.certificates: %s: unknown field", f);
            return -1;
        }
    }
    if (conftls_slurp(c, item, "cert_file", "cert_pem", 0, TLS_MAX_CERT_FILE, path, e) < 0 ||
        conftls_slurp(c, item, "key_file", "key_pem", 1, TLS_MAX_KEY_FILE, path, e) < 0)
        return -1;
    int bad = 0;
    const char *cf = conftls_str(item, "cert_file", &bad),
               *kf = conftls_str(item, "key_file", &bad);
    if (tls_check_pair(conftls_str(item, "cert_pem", &bad), conftls_str(item, "key_pem", &bad),
                       cf ? cf : "cert_file", kf ? kf : "key_file", NULL, err, sizeof(err)) < 0) {
        errors_add(e, item, path, "%s", err);
        return -1;
    }
    return 0;
}

/* The tls block's scalar members. */
static int
conftls_options(const struct conf *c, struct json_object *tls, const char *path,
                struct aigw_errors *e)
{
    char err[PATH_MAX + 256];
    int bad = 0;
    json_object_object_foreach(tls, f, val)
    {
        if (strcmp(f, "certificates") != 0 && strcmp(f, "min_version") != 0 &&
            strcmp(f, "ciphers") != 0 && strcmp(f, "client_ca_file") != 0 &&
            strcmp(f, "client_ca_pem") != 0) {
            errors_add(e, val ? val : tls, path, "tls: %s: unknown field", f);
            return -1;
        }
    }
    const char *minv = conftls_str(tls, "min_version", &bad);
    if (bad || (minv != NULL && strcmp(minv, "TLSv1.2") != 0 && strcmp(minv, "TLSv1.3") != 0)) {
        errors_add(e, tls, path, "tls.min_version: must be TLSv1.2 or TLSv1.3");
        return -1;
    }
    const char *ciphers = conftls_str(tls, "ciphers", &bad);
    if (bad || (ciphers != NULL && (*ciphers == '\0' || strlen(ciphers) > 1024))) {
        errors_add(e, tls, path, "tls.ciphers: an OpenSSL cipher list");
        return -1;
    }
    if (json_object_object_get_ex(tls, "client_ca_file", NULL) ||
        json_object_object_get_ex(tls, "client_ca_pem", NULL)) {
        if (conftls_slurp(c, tls, "client_ca_file", "client_ca_pem", 0, TLS_MAX_CERT_FILE, path,
                          e) < 0)
            return -1;
        const char *cf = conftls_str(tls, "client_ca_file", &bad);
        if (tls_check_ca(conftls_str(tls, "client_ca_pem", &bad), cf ? cf : "client_ca_file", err,
                         sizeof(err)) < 0) {
            errors_add(e, tls, path, "tls.client_ca_file: %s", err);
            return -1;
        }
    }
    return 0;
}

int
conftls_listener(const struct conf *c, struct json_object *o, struct conf_listen *l,
                 const char *path, struct aigw_errors *e)
{
    struct json_object *addr = NULL, *tls = NULL, *certs = NULL;
    json_object_object_foreach(o, f, val)
    {
        if (strcmp(f, "address") != 0 && strcmp(f, "tls") != 0) {
            errors_add(e, val ? val : o, path, "%s: unknown field (a listener is address, tls)", f);
            return -1;
        }
    }
    if (!json_object_object_get_ex(o, "address", &addr) ||
        !json_object_is_type(addr, json_type_string) ||
        conf_parse_listen(json_object_get_string(addr), l) < 0) {
        errors_add(e, addr ? addr : o, path, "address: must be address:port (port 1-65535)");
        return -1;
    }
    if (!json_object_object_get_ex(o, "tls", &tls) || tls == NULL)
        return 0; /* a mapping without tls: plain HTTP */
    if (!json_object_is_type(tls, json_type_object)) {
        errors_add(e, tls, path, "tls: must be a mapping");
        return -1;
    }
    if (!conftls_read_files) {
        l->tls = 1;
        return 0;
    }
    if (conftls_options(c, tls, path, e) < 0)
        return -1;
    if (!json_object_object_get_ex(tls, "certificates", &certs) ||
        !json_object_is_type(certs, json_type_array) || json_object_array_length(certs) < 1 ||
        json_object_array_length(certs) > TLS_MAX_CERTS) {
        errors_add(e, certs ? certs : tls, path,
                   "tls.certificates: a list of 1 to %d {cert_file, key_file}", TLS_MAX_CERTS);
        return -1;
    }
    for (size_t i = 0; i < json_object_array_length(certs); i++)
        if (conftls_cert(c, json_object_array_get_idx(certs, i), path, e) < 0)
            return -1;
    l->tls = 1;
    return 0;
}

struct json_object *
conftls_node(struct json_object *tree, const char *key, int i)
{
    struct json_object *cur = tree, *tls;
    char buf[64];
    snprintf(buf, sizeof(buf), "%s", key);
    for (char *save = NULL, *tok = strtok_r(buf, ".", &save); tok != NULL;
         tok = strtok_r(NULL, ".", &save))
        if (!json_object_is_type(cur, json_type_object) ||
            !json_object_object_get_ex(cur, tok, &cur))
            return NULL;
    if (!json_object_is_type(cur, json_type_array) || i < 0 ||
        (size_t)i >= json_object_array_length(cur))
        return NULL;
    cur = json_object_array_get_idx(cur, (size_t)i);
    if (!json_object_is_type(cur, json_type_object) ||
        !json_object_object_get_ex(cur, "tls", &tls) || !json_object_is_type(tls, json_type_object))
        return NULL;
    return tls;
}
