/*
 * resource.h: the Model and API key schemas (one validator for the resources
 * file, the Admin API and etcd) and the compact binary records the data plane
 * reads from LMDB without parsing JSON.
 */
#ifndef AIGW_RESOURCE_H
#define AIGW_RESOURCE_H

#include <stddef.h>
#include <stdint.h>

struct json_object;
struct aigw_errors;

enum res_kind { RES_MODEL = 0, RES_API_KEY = 1, RES_NKINDS };

enum provider {
    PROVIDER_OPENAI = 0,
    PROVIDER_OPENAI_COMPATIBLE,
    PROVIDER_NPROVIDERS,
};

#define RES_ID_MAX 128
#define RES_NAME_MAX 256

/* "models" / "api_keys": the etcd and LMDB path element. */
const char *res_kind_name(enum res_kind k);
const char *provider_name(int p);
int provider_parse(const char *s);
/* 0 when id is a valid resource id ([A-Za-z0-9._-], 1..128 bytes). */
int res_id_valid(const char *id);

/*
 * Validate doc against its schema and normalize it in place: a plaintext "key"
 * becomes "key_sha256". Errors name the JSON path under prefix (e.g. "models[2]").
 * Returns 0, or -1 with errors added to e.
 */
int res_validate(enum res_kind k, struct json_object *doc, const char *prefix,
                 struct aigw_errors *e);

/* Compile a validated doc into its record (malloc'd). */
int res_compile(enum res_kind k, const char *id, struct json_object *doc, void **rec,
                size_t *len);
/* The index key of a validated doc: the model name, or the raw 32-byte key hash. */
int res_index_key(enum res_kind k, struct json_object *doc, void *out, size_t outlen,
                  size_t *len);

/* Views into a record; pointers live as long as the record (the LMDB read txn). */
struct model_view {
    const char *id;
    const char *name;
    const char *upstream_model;
    const char *api_base;
    const char *api_key; /* "" when none */
    int provider;
    int64_t connect_timeout_ms; /* 0: the global default */
    int64_t first_byte_timeout_ms;
    int64_t total_timeout_ms;
    int64_t stream_idle_timeout_ms;
};

struct key_view {
    const char *id;
    const char *name;
    int disabled;
    int64_t expires_at; /* Unix seconds; 0: never */
    int nallowed;
    const char *allowed; /* nallowed NUL-terminated patterns, back to back */
};

int model_view_decode(const void *rec, size_t len, struct model_view *v);
int key_view_decode(const void *rec, size_t len, struct key_view *v);

#endif
