/* SPDX-License-Identifier: Apache-2.0 */
/*
 * resource.h: the Model, API key and credential schemas (one validator for the resources
 * file, the Admin API and etcd) and the compact binary records the data plane
 * reads from LMDB without parsing JSON.
 */
#ifndef AIGW_RESOURCE_H
#define AIGW_RESOURCE_H

#include <stddef.h>
#include <stdint.h>

struct json_object;
struct aigw_errors;

/*
 * Kinds in the order a table is built: a credential after the models that
 * name it is fine too (store.c recompiles them), but RES_NKINDS stays last.
 */
enum res_kind { RES_MODEL = 0, RES_API_KEY = 1, RES_CREDENTIAL = 2, RES_NKINDS };

/* The binary records' layout; a file written with another is rebuilt at start. */
#define RES_RECORD_FORMAT 6

#define RES_ID_MAX 128
#define RES_NAME_MAX 256

/* "models" / "api_keys" / "credentials": the etcd and LMDB path element. */
const char *res_kind_name(enum res_kind k);
/* The kind res_kind_name names; -1 for another string. */
int res_kind_of(const char *name);
/* 0 when id is a valid resource id ([A-Za-z0-9._-], 1..128 bytes). */
int res_id_valid(const char *id);

/*
 * Validate doc against its schema and normalize it in place: a plaintext "key"
 * becomes "key_sha256". Errors name the JSON path under prefix (e.g. "models[2]").
 * Returns 0, or -1 with errors added to e.
 */
int res_validate(enum res_kind k, struct json_object *doc, const char *prefix,
                 struct aigw_errors *e);
/*
 * The normalization res_validate would do, done alone where it surely
 * applies: an API key whose only secret field is a plain "key" (8-1024
 * bytes, no NUL) gets "key_sha256" in its place. 1 when done, else 0 (doc
 * untouched). A reload compares the result with the stored document: equal
 * bytes were validated when stored, and need not be again.
 */
int res_normalize_key(enum res_kind k, struct json_object *doc);

/*
 * The credential named name, as its compiled record (the bytes stored in
 * idx_credentials); -1 when there is none. A Model's record carries its
 * credentials' values, so the data plane never looks one up.
 */
typedef int (*res_cred_fn)(const char *name, const void **rec, size_t *len, void *arg);

/*
 * Compile a validated doc into its record (malloc'd). A Model's targets
 * that name a credential take it from cred (NULL: none is found, and such a
 * target is compiled as missing its credential).
 */
int res_compile(enum res_kind k, const char *id, struct json_object *doc, void **rec, size_t *len);
int res_compile_with(enum res_kind k, const char *id, struct json_object *doc, res_cred_fn cred,
                     void *arg, void **rec, size_t *len);
/* The credential names a validated Model refers to: calls cb once per target naming one. */
void res_model_credentials(struct json_object *doc, void (*cb)(const char *name, void *arg),
                           void *arg);
/* The index key of a validated doc: the model or credential name, or the raw 32-byte key hash. */
int res_index_key(enum res_kind k, struct json_object *doc, void *out, size_t outlen, size_t *len);

/* Limits of a key or a model; 0: none. */
enum { LIM_RPM, LIM_RPD, LIM_TPM, LIM_TPD, LIM_CONC, LIM_N };
const char *lim_name(int i); /* "requests_per_minute", ... */

#define MODEL_MAX_TARGETS 16
#define LIMIT_MAX 1000000000000LL /* counters keep 40 bits */
#define TARGET_WEIGHT_MAX 1000

/* fallback_on classes besides the 5xx statuses. */
#define FALLBACK_CONNECT 0x1u
#define FALLBACK_TIMEOUT 0x2u
#define FALLBACK_429 0x4u

/*
 * A target that cannot use its credential: none of that name exists, or
 * its model cannot be a URL path segment for the credential's provider.
 */
#define CRED_MISSING 1
#define CRED_UNFIT 2

/* Views into a record; pointers live as long as the record (the LMDB read txn). */
/* A SigV4 provider's (bedrock's) region and keys; "" each when none. */
struct aws_view {
    const char *region;
    const char *access_key_id;
    const char *secret_access_key;
    const char *session_token;
};

struct target_view {
    const char *name; /* what x-aigw-target says */
    const char *upstream_model;
    const char *api_base;
    const char *api_key;    /* "" when none */
    const char *credential; /* the credential it names; "" when its values are inline */
    int credential_missing; /* CRED_MISSING, CRED_UNFIT (a 500 credential_missing), or 0 */
    struct aws_view aws;    /* inline, or from the credential */
    const char
        *api_version; /* azure-openai: api-version; anthropic: anthropic-version; "" when none */
    int max_tokens;   /* for a client that gave none (anthropic requires one); 0: none */
    int provider;     /* enum provider_id (src/provider.h) */
    int weight;
    int priority;
};

/* One priority tier: its smooth weighted round robin sequence of target indexes. */
struct tier_view {
    int priority;
    uint32_t period;
    const uint8_t *seq;
};

struct model_view {
    const char *id;
    const char *name;
    int ntargets;
    struct target_view t[MODEL_MAX_TARGETS];
    int ntiers; /* highest priority first; targets of weight 0 are in none */
    struct tier_view tiers[MODEL_MAX_TARGETS];
    int retries;
    uint32_t fallback;        /* FALLBACK_* */
    uint64_t fallback_5xx[2]; /* bit (status - 500) */
    int breaker_failures;     /* 0: no breaker */
    int64_t breaker_cooldown_ms, breaker_max_cooldown_ms;
    int64_t limits[LIM_N];
    int64_t connect_timeout_ms; /* 0: the global default */
    int64_t first_byte_timeout_ms;
    int64_t total_timeout_ms;
    int64_t stream_idle_timeout_ms;
};

/* Does the model fall back (retry elsewhere) on this status? */
int model_falls_back_on(const struct model_view *v, long status);

struct key_view {
    const char *id;
    const char *name;
    int disabled;
    int jwt;            /* bound to a JWT identity: a token finds it, a static key never */
    int64_t expires_at; /* Unix seconds; 0: never */
    int64_t limits[LIM_N];
    int nallowed;
    const char *allowed; /* nallowed NUL-terminated patterns, back to back */
};

/* A credential's record: what a target that names it takes. */
struct cred_view {
    const char *id;
    const char *name;
    int provider;            /* enum provider_id */
    const char *api_base;    /* "" when the provider's default is used */
    const char *api_key;     /* "" when none */
    const char *api_version; /* "" when none (the provider's default is used) */
    struct aws_view aws;
};

int model_view_decode(const void *rec, size_t len, struct model_view *v);
int cred_view_decode(const void *rec, size_t len, struct cred_view *v);
int key_view_decode(const void *rec, size_t len, struct key_view *v);

#endif
