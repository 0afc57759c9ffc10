/* SPDX-License-Identifier: Apache-2.0 */
/*
 * check_traffic.c: traffic control. The model schema's targets, retries,
 * fallback, breaker and limits; the records' priority tiers and smooth
 * weighted round robin sequences; target choice, circuit breakers and local
 * rate limits on a real shared-memory table, with forked processes standing
 * in for workers (each attaches the table with its own worker index).
 *
 * Breakers and target choice take the time as an argument, so those tests
 * pass fixed times and never sleep. The local limiter reads the clock: the
 * tests of per-minute counts first wait (at most ten seconds) until the
 * current UTC minute has at least ten seconds left.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "balance.h"
#include "breaker.h"
#include "limit.h"
#include "provider.h"
#include "aigw/conf.h"
#include "aigw/errors.h"
#include "aigw/resource.h"
#include "shm.h"
#include "aigw/util.h"
#include "tap.h"

#define NOW 1000000000LL /* an arbitrary time in ms for breakers and picks */
#define NSLOTS 4096
#define NWORKERS 4

/* ---- helpers ---- */

static struct json_object *
parse(const char *json)
{
    struct json_object *o = json_tokener_parse(json);
    ck_assert_msg(o != NULL, "bad test JSON: %s", json);
    return o;
}

/* Validate json as kind under prefix; e keeps the errors (caller frees). */
static int
validate(enum res_kind k, const char *json, const char *prefix, struct aigw_errors *e)
{
    struct json_object *doc = parse(json);
    errors_init(e, NULL);
    int rv = res_validate(k, doc, prefix, e);
    json_object_put(doc);
    return rv;
}

/* A compiled model and its view; the view points into rec. */
struct model {
    void *rec;
    size_t len;
    struct model_view v;
};

/* Validate (must pass), compile and decode a model. */
static void
model_make(struct model *m, const char *id, const char *json)
{
    struct aigw_errors e;
    struct json_object *doc = parse(json);
    errors_init(&e, NULL);
    int rv = res_validate(RES_MODEL, doc, "models[0]", &e);
    char all[4096];
    ck_assert_msg(rv == 0, "%s rejected: %s", json, errors_text(&e, all, sizeof(all)));
    errors_free(&e);
    ck_assert_int_eq(res_compile(RES_MODEL, id, doc, &m->rec, &m->len), 0);
    json_object_put(doc);
    memset(&m->v, 0, sizeof(m->v));
    ck_assert_int_eq(model_view_decode(m->rec, m->len, &m->v), 0);
}

static void
model_done(struct model *m)
{
    free(m->rec);
    m->rec = NULL;
}

/* A copy of len bytes in a block of exactly that size, so ASan sees any read past it. */
static void *
exact_copy(const void *p, size_t len)
{
    void *q = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(q);
    memcpy(q, p, len);
    return q;
}

/* The tier sequence as a string of target indexes ("0010200"). */
static const char *
seq_str(const struct tier_view *t, char *buf, size_t len)
{
    size_t i;
    for (i = 0; i < t->period && i + 1 < len; i++)
        buf[i] = (char)('0' + t->seq[i]);
    buf[i] = '\0';
    return buf;
}

/* A fresh table for NWORKERS workers; *fd is what the children attach. */
static struct shm *
table_new(int *fd)
{
    struct shm *s = shm_create(NSLOTS, NWORKERS, fd);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_ge(*fd, 0);
    return s;
}

static void
table_free(struct shm *s, int fd)
{
    shm_free(s);
    close(fd);
}

/*
 * What a child (a stand-in worker) does: out[0..6] are its results, out[7]
 * non-zero says it could not run. It must not use ck_assert.
 */
#define CHILD_OUT 8
typedef void (*child_fn)(int fd, int worker, void *arg, int64_t out[CHILD_OUT]);

struct child_rec {
    int64_t worker;
    int64_t out[CHILD_OUT];
};

/*
 * Fork n children (worker indexes 0..n-1) that start together (they wait
 * for a gate pipe to close) and run fn; each child's results land in
 * out[worker]. Every child must exit 0 and report.
 */
static void
run_children(int fd, int n, child_fn fn, void *arg, int64_t out[][CHILD_OUT])
{
    int res[2], gate[2];
    pid_t pid[NWORKERS];
    ck_assert_int_le(n, NWORKERS);
    ck_assert_int_eq(pipe(res), 0);
    ck_assert_int_eq(pipe(gate), 0);
    for (int w = 0; w < n; w++) {
        pid[w] = fork();
        ck_assert_msg(pid[w] >= 0, "fork: %s", strerror(errno));
        if (pid[w] == 0) {
            struct child_rec r;
            char c;
            close(gate[1]);
            close(res[0]);
            while (read(gate[0], &c, 1) < 0 && errno == EINTR)
                ;
            memset(&r, 0, sizeof(r));
            r.worker = w;
            fn(fd, w, arg, r.out);
            /* one write of less than PIPE_BUF bytes: never interleaved */
            _exit(write(res[1], &r, sizeof(r)) == (ssize_t)sizeof(r) ? 0 : 3);
        }
    }
    close(gate[0]);
    close(res[1]);
    close(gate[1]); /* go */
    for (int i = 0; i < n; i++) {
        struct child_rec r;
        ssize_t got;
        while ((got = read(res[0], &r, sizeof(r))) < 0 && errno == EINTR)
            ;
        ck_assert_msg(got == (ssize_t)sizeof(r), "a child did not report (%zd)", got);
        ck_assert_msg(r.worker >= 0 && r.worker < n, "bad worker index %lld", (long long)r.worker);
        memcpy(out[r.worker], r.out, sizeof(r.out));
    }
    close(res[0]);
    for (int w = 0; w < n; w++) {
        int st;
        ck_assert_int_eq(waitpid(pid[w], &st, 0), pid[w]);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d ended with status %d", w,
                      st);
        ck_assert_msg(out[w][CHILD_OUT - 1] == 0, "child %d could not run (%lld)", w,
                      (long long)out[w][CHILD_OUT - 1]);
    }
}

/* ---- schema: good documents ---- */

#define T_A                                                                                        \
    "{\"name\":\"a\",\"provider\":\"openai-compatible\",\"api_base\":\"http://127.0.0.1:1/v1\"}"
#define T_B                                                                                        \
    "{\"name\":\"b\",\"provider\":\"openai-compatible\",\"api_base\":\"http://127.0.0.1:2/v1\"}"

/* A model with targets and every traffic field validates. */
START_TEST(schema_targets_valid)
{
    struct aigw_errors e;
    int rv =
        validate(RES_MODEL,
                 "{\"name\":\"chat\",\"targets\":["
                 "{\"name\":\"a\",\"provider\":\"openai-compatible\",\"model\":\"mock-a\","
                 "\"api_base\":\"http://127.0.0.1:1/v1\",\"api_key\":\"sk-a\","
                 "\"weight\":1000,\"priority\":1000},"
                 "{\"provider\":\"openai\",\"weight\":0,\"priority\":-1000},"
                 "{\"provider\":\"openai\",\"model\":\"gpt-4o-mini\"}],"
                 "\"retries\":10,\"fallback_on\":[\"connect_error\",\"timeout\",429,\"503\",599],"
                 "\"breaker\":{\"failures\":1000,\"cooldown\":\"1s\",\"max_cooldown\":\"1s\"},"
                 "\"limits\":{\"requests_per_minute\":1,\"requests_per_day\":1000000000000,"
                 "\"tokens_per_minute\":5,\"tokens_per_day\":6,\"concurrency\":1000000},"
                 "\"timeouts\":{\"connect\":\"1s\"}}",
                 "models[0]", &e);
    ck_assert_nerrors(&e, 0);
    ck_assert_int_eq(rv, 0);
    errors_free(&e);
}
END_TEST

/* Sixteen targets is the most; an empty breaker mapping takes every default. */
START_TEST(schema_sixteen_targets_valid)
{
    char json[4096];
    size_t n = (size_t)snprintf(json, sizeof(json), "{\"name\":\"m\",\"breaker\":{},\"targets\":[");
    for (int i = 0; i < 16; i++)
        n += (size_t)snprintf(json + n, sizeof(json) - n,
                              "%s{\"name\":\"t%d\",\"provider\":\"openai\"}", i ? "," : "", i);
    snprintf(json + n, sizeof(json) - n, "]}");
    struct aigw_errors e;
    int rv = validate(RES_MODEL, json, "models[0]", &e);
    ck_assert_nerrors(&e, 0);
    ck_assert_int_eq(rv, 0);
    errors_free(&e);
}
END_TEST

/* Seventeen targets are refused, at the targets list's path. */
START_TEST(schema_seventeen_targets)
{
    char json[4096];
    size_t n = (size_t)snprintf(json, sizeof(json), "{\"name\":\"m\",\"targets\":[");
    for (int i = 0; i < 17; i++)
        n += (size_t)snprintf(json + n, sizeof(json) - n,
                              "%s{\"name\":\"t%d\",\"provider\":\"openai\"}", i ? "," : "", i);
    snprintf(json + n, sizeof(json) - n, "]}");
    struct aigw_errors e;
    ck_assert_int_eq(validate(RES_MODEL, json, "models[0]", &e), -1);
    ck_assert_error(&e, "models[0].targets: must be a list of 1 to 16 targets");
    ck_assert_nerrors(&e, 1);
    errors_free(&e);
}
END_TEST

/* API keys take the same limits mapping. */
START_TEST(schema_key_limits_valid)
{
    struct aigw_errors e;
    int rv = validate(RES_API_KEY,
                      "{\"name\":\"team\",\"key\":\"sk-test-0001\",\"limits\":{"
                      "\"requests_per_minute\":10,\"requests_per_day\":100,"
                      "\"tokens_per_minute\":1000,\"tokens_per_day\":10000,\"concurrency\":2}}",
                      "api_keys[0]", &e);
    ck_assert_nerrors(&e, 0);
    ck_assert_int_eq(rv, 0);
    errors_free(&e);
}
END_TEST

/* The key's limits reach its record. */
START_TEST(record_key_limits)
{
    struct aigw_errors e;
    struct json_object *doc = parse("{\"name\":\"team\",\"key\":\"sk-test-0001\",\"limits\":{"
                                    "\"requests_per_minute\":10,\"concurrency\":2}}");
    errors_init(&e, NULL);
    ck_assert_int_eq(res_validate(RES_API_KEY, doc, "", &e), 0);
    errors_free(&e);
    void *rec;
    size_t len;
    struct key_view kv;
    ck_assert_int_eq(res_compile(RES_API_KEY, "k1", doc, &rec, &len), 0);
    json_object_put(doc);
    ck_assert_int_eq(key_view_decode(rec, len, &kv), 0);
    ck_assert_int_eq(kv.limits[LIM_RPM], 10);
    ck_assert_int_eq(kv.limits[LIM_RPD], 0);
    ck_assert_int_eq(kv.limits[LIM_TPM], 0);
    ck_assert_int_eq(kv.limits[LIM_CONC], 2);
    free(rec);
}
END_TEST

/* ---- schema: bad documents, one error each at its JSON path ---- */

struct bad_case {
    enum res_kind kind;
    const char *json;
    const char *error;
};

#define LIMIT_MSG "must be an integer from 1 to 1000000000000"
#define FALLBACK_MSG "must be connect_error, timeout, 429 or a status from 500 to 599"

static const struct bad_case bad_cases[] = {
    {RES_MODEL,
     "{\"name\":\"m\",\"targets\":[" T_A
     ",{\"name\":\"b\",\"provider\":\"openai\",\"weight\":1001}]}",
     "models[0].targets[1].weight: must be an integer from 0 to 1000"},
    {RES_MODEL,
     "{\"name\":\"m\",\"targets\":[" T_A
     ",{\"name\":\"b\",\"provider\":\"openai\",\"weight\":-1}]}",
     "models[0].targets[1].weight: must be an integer from 0 to 1000"},
    {RES_MODEL,
     "{\"name\":\"m\",\"targets\":[" T_A
     ",{\"name\":\"b\",\"provider\":\"openai\",\"weight\":\"2\"}]}",
     "models[0].targets[1].weight: must be an integer from 0 to 1000"},
    {RES_MODEL, "{\"name\":\"m\",\"targets\":[{\"provider\":\"openai\",\"priority\":1001}]}",
     "models[0].targets[0].priority: must be an integer from -1000 to 1000"},
    {RES_MODEL,
     "{\"name\":\"m\",\"targets\":[" T_A "," T_B ",{\"name\":\"a\",\"provider\":\"openai\"}]}",
     "models[0].targets[2].name: two targets are named \"a\""},
    /* no names: both default to "openai/gpt-4o" */
    {RES_MODEL,
     "{\"name\":\"gpt-4o\",\"targets\":[{\"provider\":\"openai\"},"
     "{\"provider\":\"openai\",\"model\":\"gpt-4o\",\"weight\":2}]}",
     "models[0].targets[1].name: two targets are named \"openai/gpt-4o\""},
    {RES_MODEL, "{\"name\":\"m\",\"provider\":\"openai\",\"targets\":[" T_A "]}",
     "models[0].provider: give it in each of targets, not beside them"},
    {RES_MODEL, "{\"name\":\"m\",\"api_base\":\"http://x/v1\",\"targets\":[" T_A "]}",
     "models[0].api_base: give it in each of targets, not beside them"},
    {RES_MODEL, "{\"name\":\"m\",\"targets\":[]}",
     "models[0].targets: must be a list of 1 to 16 targets"},
    {RES_MODEL, "{\"name\":\"m\",\"targets\":{\"a\":1}}", "models[0].targets: must be a list"},
    {RES_MODEL, "{\"name\":\"m\",\"targets\":[" T_A ",7]}",
     "models[0].targets[1]: must be a mapping"},
    /* the targets after one that is not a mapping are still compared by name, and only with those
       that have one */
    {RES_MODEL, "{\"name\":\"m\",\"targets\":[7," T_A "," T_B "]}",
     "models[0].targets[0]: must be a mapping"},
    {RES_MODEL,
     "{\"name\":\"m\",\"targets\":[" T_A
     ",{\"name\":\"b\",\"provider\":\"openai\",\"color\":\"red\"}]}",
     "models[0].targets[1].color: unknown field"},
    {RES_MODEL, "{\"name\":\"m\",\"targets\":[{\"name\":\"a\"}]}",
     "models[0].targets[0].provider: is required"},
    {RES_MODEL,
     "{\"name\":\"m\",\"targets\":[{\"name\":\"a\",\"provider\":\"openai-compatible\"}]}",
     "models[0].targets[0].api_base: is required"},
    {RES_MODEL, "{\"name\":\"m\",\"targets\":[{\"name\":\"a b\",\"provider\":\"openai\"}]}",
     "models[0].targets[0].name: must be"},
    {RES_MODEL, "{\"name\":\"m\",\"provider\":\"openai\",\"retries\":11}",
     "models[0].retries: must be an integer from 0 to 10"},
    {RES_MODEL, "{\"name\":\"m\",\"provider\":\"openai\",\"fallback_on\":[500,404]}",
     "models[0].fallback_on[1]: " FALLBACK_MSG},
    {RES_MODEL, "{\"name\":\"m\",\"provider\":\"openai\",\"fallback_on\":[\"bogus\"]}",
     "models[0].fallback_on[0]: " FALLBACK_MSG},
    {RES_MODEL, "{\"name\":\"m\",\"provider\":\"openai\",\"fallback_on\":[600]}",
     "models[0].fallback_on[0]: " FALLBACK_MSG},
    {RES_MODEL, "{\"name\":\"m\",\"provider\":\"openai\",\"fallback_on\":\"500\"}",
     "models[0].fallback_on: must be a list"},
    {RES_MODEL,
     "{\"name\":\"m\",\"provider\":\"openai\",\"breaker\":{\"cooldown\":\"10s\",\"max_cooldown\":"
     "\"5s\"}}",
     "models[0].breaker.max_cooldown: must not be shorter than cooldown"},
    /* the default max_cooldown (5m) is shorter than this cooldown */
    {RES_MODEL, "{\"name\":\"m\",\"provider\":\"openai\",\"breaker\":{\"cooldown\":\"10m\"}}",
     "models[0].breaker.max_cooldown: must not be shorter than cooldown"},
    {RES_MODEL, "{\"name\":\"m\",\"provider\":\"openai\",\"breaker\":{\"failures\":0}}",
     "models[0].breaker.failures: must be an integer from 1 to 1000"},
    {RES_MODEL, "{\"name\":\"m\",\"provider\":\"openai\",\"breaker\":{\"cooldown\":5}}",
     "models[0].breaker.cooldown: must be a duration"},
    {RES_MODEL, "{\"name\":\"m\",\"provider\":\"openai\",\"breaker\":{\"threshold\":5}}",
     "models[0].breaker.threshold: unknown field"},
    {RES_MODEL, "{\"name\":\"m\",\"provider\":\"openai\",\"breaker\":true}",
     "models[0].breaker: must be a mapping"},
    {RES_MODEL, "{\"name\":\"m\",\"provider\":\"openai\",\"limits\":{\"rpm\":5}}",
     "models[0].limits.rpm: unknown field"},
    {RES_MODEL, "{\"name\":\"m\",\"provider\":\"openai\",\"limits\":{\"requests_per_minute\":0}}",
     "models[0].limits.requests_per_minute: " LIMIT_MSG},
    {RES_MODEL, "{\"name\":\"m\",\"provider\":\"openai\",\"limits\":{\"tokens_per_day\":-5}}",
     "models[0].limits.tokens_per_day: " LIMIT_MSG},
    {RES_MODEL,
     "{\"name\":\"m\",\"provider\":\"openai\",\"limits\":{\"tokens_per_minute\":1000000000001}}",
     "models[0].limits.tokens_per_minute: " LIMIT_MSG},
    {RES_MODEL, "{\"name\":\"m\",\"provider\":\"openai\",\"limits\":{\"concurrency\":-1}}",
     "models[0].limits.concurrency: must be an integer from 1 to 1000000"},
    {RES_MODEL, "{\"name\":\"m\",\"provider\":\"openai\",\"limits\":[1]}",
     "models[0].limits: must be a mapping"},
    {RES_API_KEY, "{\"name\":\"k\",\"key\":\"sk-test-0001\",\"limits\":{\"concurrency\":0}}",
     "api_keys[0].limits.concurrency: must be an integer from 1 to 1000000"},
    {RES_API_KEY, "{\"name\":\"k\",\"key\":\"sk-test-0001\",\"limits\":{\"token_estimate\":5}}",
     "api_keys[0].limits.token_estimate: unknown field"},
};

/* Each bad document is refused with exactly one error, naming its path. */
START_TEST(schema_bad)
{
    const struct bad_case *c = &bad_cases[_i];
    struct aigw_errors e;
    const char *prefix = c->kind == RES_MODEL ? "models[0]" : "api_keys[0]";
    ck_assert_msg(validate(c->kind, c->json, prefix, &e) == -1, "%s accepted", c->json);
    ck_assert_error(&e, c->error);
    ck_assert_nerrors(&e, 1);
    errors_free(&e);
}
END_TEST

/*
 * A target that is not a mapping has no name to compare: a later target must
 * not be compared with whatever the name buffer held (here "a", left on the
 * stack by the previous validation of the same shape).
 */
START_TEST(schema_non_mapping_target_has_no_name)
{
    struct json_object *first = parse("{\"name\":\"m\",\"targets\":[" T_A "," T_B "]}");
    struct json_object *second = parse("{\"name\":\"m\",\"targets\":[7," T_A "]}");
    struct aigw_errors e1, e2;
    errors_init(&e1, NULL);
    errors_init(&e2, NULL);
    ck_assert_int_eq(res_validate(RES_MODEL, first, "models[0]", &e1), 0);
    ck_assert_int_eq(res_validate(RES_MODEL, second, "models[1]", &e2), -1);
    ck_assert_error(&e2, "models[1].targets[0]: must be a mapping");
    ck_assert_nerrors(&e2, 1);
    errors_free(&e1);
    errors_free(&e2);
    json_object_put(first);
    json_object_put(second);
}
END_TEST

/* ---- records ---- */

/* Three targets in two priorities, listed lowest priority first. */
#define MODEL_3T                                                                                   \
    "{\"name\":\"chat\",\"targets\":["                                                             \
    "{\"name\":\"low\",\"provider\":\"openai-compatible\",\"model\":\"mock-c\","                   \
    "\"api_base\":\"http://127.0.0.1:9/v1//\",\"weight\":1,\"priority\":-5},"                      \
    "{\"name\":\"a\",\"provider\":\"openai-compatible\",\"model\":\"mock-a\","                     \
    "\"api_base\":\"http://127.0.0.1:8/v1\",\"api_key\":\"sk-a\",\"weight\":3,\"priority\":10},"   \
    "{\"provider\":\"openai\",\"priority\":10}]}"

/* Targets, tiers (highest first) and their sequences. */
START_TEST(record_targets_and_tiers)
{
    struct model m;
    model_make(&m, "m1", MODEL_3T);
    const struct model_view *v = &m.v;
    ck_assert_str_eq(v->id, "m1");
    ck_assert_str_eq(v->name, "chat");
    ck_assert_int_eq(v->ntargets, 3);
    ck_assert_str_eq(v->t[0].name, "low");
    ck_assert_str_eq(v->t[0].upstream_model, "mock-c");
    ck_assert_str_eq(v->t[0].api_base, "http://127.0.0.1:9/v1");
    ck_assert_str_eq(v->t[0].api_key, "");
    ck_assert_int_eq(v->t[0].priority, -5);
    ck_assert_str_eq(v->t[1].name, "a");
    ck_assert_str_eq(v->t[1].api_key, "sk-a");
    ck_assert_int_eq(v->t[1].weight, 3);
    ck_assert_int_eq(v->t[1].provider, PROVIDER_OPENAI_COMPATIBLE);
    /* no name: "<provider>/<model>", the model being the model's name */
    ck_assert_str_eq(v->t[2].name, "openai/chat");
    ck_assert_str_eq(v->t[2].upstream_model, "chat");
    ck_assert_str_eq(v->t[2].api_base, "https://api.openai.com/v1");
    ck_assert_int_eq(v->t[2].weight, 1);
    ck_assert_int_eq(v->t[2].provider, PROVIDER_OPENAI);

    ck_assert_int_eq(v->ntiers, 2);
    ck_assert_int_eq(v->tiers[0].priority, 10);
    ck_assert_int_eq(v->tiers[1].priority, -5);
    ck_assert_uint_eq(v->tiers[0].period, 4);
    int n1 = 0, n2 = 0;
    for (uint32_t j = 0; j < v->tiers[0].period; j++) {
        n1 += v->tiers[0].seq[j] == 1;
        n2 += v->tiers[0].seq[j] == 2;
    }
    ck_assert_int_eq(n1, 3);
    ck_assert_int_eq(n2, 1);
    ck_assert_uint_eq(v->tiers[1].period, 1);
    ck_assert_int_eq(v->tiers[1].seq[0], 0);
    /* defaults: retries = ntargets - 1, no breaker, no limits */
    ck_assert_int_eq(v->retries, 2);
    ck_assert_int_eq(v->breaker_failures, 0);
    for (int i = 0; i < LIM_N; i++)
        ck_assert_int_eq(v->limits[i], 0);
    model_done(&m);
}
END_TEST

/* The one-target shorthand is one target named "<provider>/<model>" in one tier. */
START_TEST(record_shorthand_default_model)
{
    struct model m;
    model_make(&m, "m1", "{\"name\":\"gpt-4o\",\"provider\":\"openai\"}");
    ck_assert_int_eq(m.v.ntargets, 1);
    ck_assert_str_eq(m.v.t[0].upstream_model, "gpt-4o");
    ck_assert_str_eq(m.v.t[0].api_base, "https://api.openai.com/v1");
    ck_assert_int_eq(m.v.t[0].weight, 1);
    ck_assert_int_eq(m.v.ntiers, 1);
    ck_assert_uint_eq(m.v.tiers[0].period, 1);
    ck_assert_int_eq(m.v.tiers[0].seq[0], 0);
    ck_assert_int_eq(m.v.retries, 0);
    ck_assert_str_eq(m.v.t[0].name, "openai/gpt-4o");
    model_done(&m);
}
END_TEST

/* The same with an upstream model id: "<provider>/<that id>". */
START_TEST(record_shorthand_upstream_model)
{
    struct model m;
    model_make(&m, "m1",
               "{\"name\":\"chat\",\"provider\":\"openai-compatible\",\"model\":\"mock-a\","
               "\"api_base\":\"http://127.0.0.1:1/v1/\"}");
    ck_assert_int_eq(m.v.ntargets, 1);
    ck_assert_str_eq(m.v.t[0].upstream_model, "mock-a");
    ck_assert_str_eq(m.v.t[0].api_base, "http://127.0.0.1:1/v1");
    ck_assert_str_eq(m.v.t[0].name, "openai-compatible/mock-a");
    model_done(&m);
}
END_TEST

/* Default fallback: connect errors, timeouts, 429, 500, 502, 503, 504. */
START_TEST(record_fallback_default)
{
    struct model m;
    model_make(&m, "m1", MODEL_3T);
    ck_assert_uint_eq(m.v.fallback, FALLBACK_CONNECT | FALLBACK_TIMEOUT | FALLBACK_429);
    static const long yes[] = {429, 500, 502, 503, 504};
    static const long no[] = {200, 400, 401, 404, 408, 501, 505, 599, 600, 499};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        ck_assert_msg(model_falls_back_on(&m.v, yes[i]), "no fallback on %ld", yes[i]);
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        ck_assert_msg(!model_falls_back_on(&m.v, no[i]), "fallback on %ld", no[i]);
    model_done(&m);
}
END_TEST

/* A custom fallback_on (numbers or strings), retries, breaker and limits reach the record. */
START_TEST(record_custom_fields)
{
    struct model m;
    model_make(&m, "m1",
               "{\"name\":\"chat\",\"provider\":\"openai\",\"retries\":4,"
               "\"fallback_on\":[\"connect_error\",503,\"599\"],"
               "\"breaker\":{\"failures\":3,\"cooldown\":\"2s\",\"max_cooldown\":\"1m\"},"
               "\"limits\":{\"requests_per_minute\":7,\"concurrency\":2}}");
    ck_assert_int_eq(m.v.retries, 4);
    ck_assert_uint_eq(m.v.fallback, FALLBACK_CONNECT);
    ck_assert(model_falls_back_on(&m.v, 503));
    ck_assert(model_falls_back_on(&m.v, 599));
    ck_assert(!model_falls_back_on(&m.v, 429));
    ck_assert(!model_falls_back_on(&m.v, 500));
    ck_assert(!model_falls_back_on(&m.v, 502));
    ck_assert_int_eq(m.v.breaker_failures, 3);
    ck_assert_int_eq(m.v.breaker_cooldown_ms, 2000);
    ck_assert_int_eq(m.v.breaker_max_cooldown_ms, 60000);
    ck_assert_int_eq(m.v.limits[LIM_RPM], 7);
    ck_assert_int_eq(m.v.limits[LIM_RPD], 0);
    ck_assert_int_eq(m.v.limits[LIM_CONC], 2);
    model_done(&m);

    /* "429" as a string, timeout alone; an empty list: no fallback at all */
    model_make(&m, "m1",
               "{\"name\":\"chat\",\"provider\":\"openai\",\"fallback_on\":[\"timeout\",\"429\"]}");
    ck_assert_uint_eq(m.v.fallback, FALLBACK_TIMEOUT | FALLBACK_429);
    ck_assert(model_falls_back_on(&m.v, 429));
    ck_assert(!model_falls_back_on(&m.v, 503));
    model_done(&m);
    model_make(&m, "m1", "{\"name\":\"chat\",\"provider\":\"openai\",\"fallback_on\":[]}");
    ck_assert_uint_eq(m.v.fallback, 0);
    ck_assert(!model_falls_back_on(&m.v, 429));
    ck_assert(!model_falls_back_on(&m.v, 500));
    model_done(&m);
}
END_TEST

/* A breaker with only failures set takes the default cooldowns (5s, 5m). */
START_TEST(record_breaker_defaults)
{
    struct model m;
    model_make(&m, "m1", "{\"name\":\"chat\",\"provider\":\"openai\",\"breaker\":{}}");
    ck_assert_int_eq(m.v.breaker_failures, 5);
    ck_assert_int_eq(m.v.breaker_cooldown_ms, 5000);
    ck_assert_int_eq(m.v.breaker_max_cooldown_ms, 300000);
    model_done(&m);
}
END_TEST

/* Weights 5,1,1: exactly a a b a c a a (nginx's smooth weighted round robin). */
START_TEST(record_swrr_5_1_1)
{
    struct model m;
    char buf[64];
    model_make(&m, "m1",
               "{\"name\":\"chat\",\"targets\":["
               "{\"name\":\"a\",\"provider\":\"openai\",\"weight\":5},"
               "{\"name\":\"b\",\"provider\":\"openai\",\"weight\":1},"
               "{\"name\":\"c\",\"provider\":\"openai\",\"weight\":1}]}");
    ck_assert_int_eq(m.v.ntiers, 1);
    ck_assert_uint_eq(m.v.tiers[0].period, 7);
    ck_assert_str_eq(seq_str(&m.v.tiers[0], buf, sizeof(buf)), "0010200");
    model_done(&m);
}
END_TEST

/* Weights are reduced by their gcd: 2,2 has period 2; 4,6 has period 5. */
START_TEST(record_swrr_gcd)
{
    struct model m;
    char buf[64];
    model_make(&m, "m1",
               "{\"name\":\"chat\",\"targets\":["
               "{\"name\":\"a\",\"provider\":\"openai\",\"weight\":2},"
               "{\"name\":\"b\",\"provider\":\"openai\",\"weight\":2}]}");
    ck_assert_uint_eq(m.v.tiers[0].period, 2);
    ck_assert_str_eq(seq_str(&m.v.tiers[0], buf, sizeof(buf)), "01");
    model_done(&m);
    model_make(&m, "m1",
               "{\"name\":\"chat\",\"targets\":["
               "{\"name\":\"a\",\"provider\":\"openai\",\"weight\":4},"
               "{\"name\":\"b\",\"provider\":\"openai\",\"weight\":6}]}");
    ck_assert_uint_eq(m.v.tiers[0].period, 5);
    seq_str(&m.v.tiers[0], buf, sizeof(buf));
    int zeros = 0;
    for (char *p = buf; *p; p++)
        zeros += *p == '0';
    ck_assert_int_eq(zeros, 2);
    model_done(&m);
}
END_TEST

/* A target of weight 0 is in no tier's sequence. */
START_TEST(record_weight_zero_in_no_tier)
{
    struct model m;
    char buf[64];
    model_make(&m, "m1",
               "{\"name\":\"chat\",\"targets\":["
               "{\"name\":\"a\",\"provider\":\"openai\",\"weight\":1},"
               "{\"name\":\"drained\",\"provider\":\"openai\",\"weight\":0},"
               "{\"name\":\"c\",\"provider\":\"openai\",\"weight\":2}]}");
    ck_assert_int_eq(m.v.ntargets, 3);
    ck_assert_int_eq(m.v.t[1].weight, 0);
    ck_assert_int_eq(m.v.ntiers, 1);
    ck_assert_uint_eq(m.v.tiers[0].period, 3);
    ck_assert_ptr_null(strchr(seq_str(&m.v.tiers[0], buf, sizeof(buf)), '1'));
    model_done(&m);
}
END_TEST

/* A priority whose targets all have weight 0 is no tier; all 0: no tier at all. */
START_TEST(record_all_zero_tier_absent)
{
    struct model m;
    model_make(&m, "m1",
               "{\"name\":\"chat\",\"targets\":["
               "{\"name\":\"a\",\"provider\":\"openai\",\"weight\":0,\"priority\":5},"
               "{\"name\":\"b\",\"provider\":\"openai\",\"weight\":0,\"priority\":5},"
               "{\"name\":\"c\",\"provider\":\"openai\",\"weight\":1,\"priority\":0}]}");
    ck_assert_int_eq(m.v.ntiers, 1);
    ck_assert_int_eq(m.v.tiers[0].priority, 0);
    ck_assert_uint_eq(m.v.tiers[0].period, 1);
    ck_assert_int_eq(m.v.tiers[0].seq[0], 2);
    model_done(&m);
    model_make(&m, "m1",
               "{\"name\":\"chat\",\"targets\":["
               "{\"name\":\"a\",\"provider\":\"openai\",\"weight\":0},"
               "{\"name\":\"b\",\"provider\":\"openai\",\"weight\":0,\"priority\":3}]}");
    ck_assert_int_eq(m.v.ntargets, 2);
    ck_assert_int_eq(m.v.ntiers, 0);
    model_done(&m);
}
END_TEST

/* Every truncation of a record fails to decode (in a block of exactly that size). */
START_TEST(record_truncated)
{
    static const char *const docs[] = {
        MODEL_3T,
        "{\"name\":\"gpt-4o\",\"provider\":\"openai\"}",
        "{\"name\":\"chat\",\"targets\":[{\"name\":\"a\",\"provider\":\"openai\",\"weight\":0}]}",
    };
    for (size_t d = 0; d < sizeof(docs) / sizeof(docs[0]); d++) {
        struct model m;
        model_make(&m, "m1", docs[d]);
        for (size_t cut = 0; cut < m.len; cut++) {
            struct model_view v;
            void *p = exact_copy(m.rec, cut);
            int rv = model_view_decode(p, cut, &v);
            free(p);
            ck_assert_msg(rv == -1, "doc %zu cut to %zu of %zu bytes decoded", d, cut, m.len);
        }
        model_done(&m);
    }
}
END_TEST

/* ---- the shared table ---- */

/* Entries by identity: found again, from another mapping too; full: NULL and counted. */
START_TEST(shm_table_basics)
{
    int fd;
    struct shm *s = shm_create(8, 2, &fd);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(shm_nslots(s), 8);
    ck_assert_ptr_null(shm_find(s, "L", "key", "k1"));
    ck_assert_int_eq(shm_used(s), 0);
    struct shm_slot *a = shm_slot(s, "L", "key", "k1");
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_eq(shm_slot(s, "L", "key", "k1"), a);
    ck_assert_ptr_eq(shm_find(s, "L", "key", "k1"), a);
    ck_assert_ptr_ne(shm_slot(s, "L", "ke", "yk1"), a); /* the parts are kept apart */
    ck_assert_int_eq(shm_used(s), 2);
    atomic_store(&a->c[3], 42);
    /* a worker's mapping sees the same entry */
    struct shm *w = shm_attach(fd, 1);
    ck_assert_ptr_nonnull(w);
    struct shm_slot *wa = shm_find(w, "L", "key", "k1");
    ck_assert_ptr_nonnull(wa);
    ck_assert_uint_eq(atomic_load(&wa->c[3]), 42);
    ck_assert_ptr_null(shm_attach(fd, 2)); /* only workers 0 and 1 */
    ck_assert_ptr_null(shm_attach(fd, -1));
    shm_free(w);
    char id[16];
    for (int i = 0; i < 6; i++) {
        snprintf(id, sizeof(id), "x%d", i);
        ck_assert_ptr_nonnull(shm_slot(s, "L", "key", id));
    }
    ck_assert_int_eq(shm_used(s), 8);
    ck_assert_uint_eq(shm_stat(s, SHM_STAT_TABLE_FULL), 0);
    ck_assert_ptr_null(shm_slot(s, "L", "key", "one-too-many"));
    ck_assert_uint_eq(shm_stat(s, SHM_STAT_TABLE_FULL), 1);
    ck_assert_ptr_null(shm_find(s, "L", "key", "one-too-many"));
    ck_assert_uint_eq(shm_stat(s, SHM_STAT_TABLE_FULL), 1); /* a lookup does not count */
    ck_assert_ptr_eq(shm_slot(s, "L", "key", "k1"), a);
    table_free(s, fd);
}
END_TEST

/* ---- balance_pick on a shared table ---- */

#define MODEL_532                                                                                  \
    "{\"name\":\"chat\",\"breaker\":{\"failures\":1,\"cooldown\":\"10s\",\"max_cooldown\":\"1m\"}" \
    ","                                                                                            \
    "\"targets\":["                                                                                \
    "{\"name\":\"a\",\"provider\":\"openai\",\"weight\":5},"                                       \
    "{\"name\":\"b\",\"provider\":\"openai\",\"weight\":3},"                                       \
    "{\"name\":\"c\",\"provider\":\"openai\",\"weight\":2}]}"

/* Open target i's breaker (failures: 1) at time t. */
static void
trip(struct shm *s, const struct model_view *v, int i, int64_t t)
{
    struct shm_slot *slot = shm_slot(s, "B", v->id, v->t[i].name);
    ck_assert_ptr_nonnull(slot);
    ck_assert_int_eq(breaker_result(slot, v, 0, 0, t), 1);
}

/* One request's first pick. */
static int
pick1(struct shm *s, const struct model_view *v, int64_t t, int *probe)
{
    struct balance b;
    memset(&b, 0, sizeof(b));
    int i = balance_pick(s, v, &b, t);
    if (probe != NULL)
        *probe = b.probe;
    return i;
}

#define PICKS_PER_CHILD 2500

/* A worker: 2500 requests' first picks; out[i] counts target i, out[3] failures. */
static void
child_picks(int fd, int worker, void *arg, int64_t out[CHILD_OUT])
{
    const struct model_view *v = arg;
    struct shm *s = shm_attach(fd, worker);
    if (s == NULL) {
        out[CHILD_OUT - 1] = 1;
        return;
    }
    for (int k = 0; k < PICKS_PER_CHILD; k++) {
        int i = pick1(s, v, NOW, NULL);
        out[i >= 0 && i < 3 ? i : 3]++;
    }
    shm_free(s);
}

/* 4 workers x 2500 picks on weights 5,3,2: 5000/3000/2000 together. */
START_TEST(balance_split_across_workers)
{
    int fd;
    struct shm *s = table_new(&fd);
    struct model m;
    model_make(&m, "m1", MODEL_532);
    int64_t out[NWORKERS][CHILD_OUT];
    memset(out, 0, sizeof(out));
    run_children(fd, NWORKERS, child_picks, &m.v, out);
    int64_t tot[4] = {0};
    for (int w = 0; w < NWORKERS; w++)
        for (int i = 0; i < 4; i++)
            tot[i] += out[w][i];
    ck_assert_int_eq(tot[3], 0);
    ck_assert_int_eq(tot[0] + tot[1] + tot[2], NWORKERS * PICKS_PER_CHILD);
    /* the shared ticket makes it exact to within one period (10) */
    ck_assert_msg(llabs(tot[0] - 5000) <= 10 && llabs(tot[1] - 3000) <= 10 &&
                      llabs(tot[2] - 2000) <= 10,
                  "split %lld/%lld/%lld, want 5000/3000/2000", (long long)tot[0], (long long)tot[1],
                  (long long)tot[2]);
    model_done(&m);
    table_free(s, fd);
}
END_TEST

/* An open target gets nothing; its share goes to the others. */
START_TEST(balance_skips_open_breaker)
{
    int fd;
    struct shm *s = table_new(&fd);
    struct model m;
    model_make(&m, "m1", MODEL_532);
    trip(s, &m.v, 0, NOW);
    int n[4] = {0};
    for (int k = 0; k < 1000; k++) {
        int probe;
        int i = pick1(s, &m.v, NOW + 1000, &probe);
        ck_assert_int_eq(probe, 0);
        n[i >= 0 && i < 3 ? i : 3]++;
    }
    ck_assert_int_eq(n[0], 0);
    ck_assert_int_eq(n[3], 0);
    ck_assert_int_eq(n[1] + n[2], 1000);
    /* the open target's share goes to the others by their own weights: 3:2 */
    ck_assert_msg(abs(n[1] - 600) <= 5 && abs(n[2] - 400) <= 5, "b %d, c %d (want 600, 400)", n[1],
                  n[2]);
    model_done(&m);
    table_free(s, fd);
}
END_TEST

/* A request's later picks avoid the targets it tried; when all were tried, tried ones again. */
START_TEST(balance_avoids_tried)
{
    int fd;
    struct shm *s = table_new(&fd);
    struct model m;
    model_make(&m, "m1", MODEL_532);
    for (int round = 0; round < 10; round++) { /* from every ticket position */
        struct balance b;
        memset(&b, 0, sizeof(b));
        uint32_t seen = 0;
        for (int k = 0; k < 3; k++) {
            int i = balance_pick(s, &m.v, &b, NOW);
            ck_assert_msg(i >= 0 && i < 3, "pick %d: %d", k, i);
            ck_assert_msg(!((seen >> i) & 1), "round %d pick %d: %d again", round, k, i);
            seen |= 1u << i;
        }
        ck_assert_uint_eq(b.tried, 7);
        ck_assert_int_eq(b.picks, 3);
        int i = balance_pick(s, &m.v, &b, NOW);
        ck_assert_msg(i >= 0 && i < 3, "a fourth attempt gets no target (%d)", i);
    }
    /* with a open: b and c, then b or c again, never a */
    trip(s, &m.v, 0, NOW);
    struct balance b;
    memset(&b, 0, sizeof(b));
    int i1 = balance_pick(s, &m.v, &b, NOW + 1);
    int i2 = balance_pick(s, &m.v, &b, NOW + 1);
    int i3 = balance_pick(s, &m.v, &b, NOW + 1);
    ck_assert_int_eq(i1 + i2, 3);
    ck_assert_int_ne(i1, i2);
    ck_assert_msg(i3 == 1 || i3 == 2, "third attempt: %d", i3);
    model_done(&m);
    table_free(s, fd);
}
END_TEST

/* Every breaker open: -1, and wait_ms is the soonest a cooldown ends. */
START_TEST(balance_all_open)
{
    int fd;
    struct shm *s = table_new(&fd);
    struct model m;
    model_make(&m, "m1", MODEL_532);
    trip(s, &m.v, 1, NOW);
    trip(s, &m.v, 0, NOW + 2000);
    trip(s, &m.v, 2, NOW + 4000);
    struct balance b;
    memset(&b, 0, sizeof(b));
    ck_assert_int_eq(balance_pick(s, &m.v, &b, NOW + 5000), -1);
    ck_assert_int_gt(b.wait_ms, 0);
    ck_assert_int_eq(b.wait_ms, 5000); /* b's cooldown of 10s ends at NOW + 10000 */
    ck_assert_int_eq(b.picks, 0);
    /* once b's cooldown is over, b is the probe */
    int probe;
    ck_assert_int_eq(pick1(s, &m.v, NOW + 10000, &probe), 1);
    ck_assert_int_eq(probe, 1);
    model_done(&m);
    table_free(s, fd);
}
END_TEST

/* All weights 0: no target, never a crash. */
START_TEST(balance_all_drained)
{
    int fd;
    struct shm *s = table_new(&fd);
    struct model m;
    model_make(
        &m, "m1",
        "{\"name\":\"chat\",\"targets\":[{\"name\":\"a\",\"provider\":\"openai\",\"weight\":0}]}");
    ck_assert_int_eq(pick1(s, &m.v, NOW, NULL), -1);
    model_done(&m);
    table_free(s, fd);
}
END_TEST

#define MODEL_TIERS                                                                                \
    "{\"name\":\"chat\",\"breaker\":{\"failures\":1,\"cooldown\":\"10s\"},\"targets\":["           \
    "{\"name\":\"backup\",\"provider\":\"openai\",\"priority\":0},"                                \
    "{\"name\":\"p1\",\"provider\":\"openai\",\"priority\":1},"                                    \
    "{\"name\":\"p2\",\"provider\":\"openai\",\"priority\":1}]}"

/* The lower tier only when the higher one has nothing available. */
START_TEST(balance_lower_tier_only_when_needed)
{
    int fd;
    struct shm *s = table_new(&fd);
    struct model m;
    model_make(&m, "m1", MODEL_TIERS);
    int n[3] = {0};
    for (int k = 0; k < 100; k++) {
        int i = pick1(s, &m.v, NOW, NULL);
        ck_assert(i >= 0 && i < 3);
        n[i]++;
    }
    ck_assert_int_eq(n[0], 0);
    ck_assert_int_eq(n[1], 50);
    ck_assert_int_eq(n[2], 50);
    trip(s, &m.v, 1, NOW);
    for (int k = 0; k < 10; k++)
        ck_assert_int_eq(pick1(s, &m.v, NOW + 1, NULL), 2);
    trip(s, &m.v, 2, NOW + 1);
    for (int k = 0; k < 10; k++)
        ck_assert_int_eq(pick1(s, &m.v, NOW + 2, NULL), 0);
    /* a retry moves down a tier once the higher one's targets were tried */
    struct balance b;
    memset(&b, 0, sizeof(b));
    int i1 = balance_pick(s, &m.v, &b, NOW + 100000); /* p1 is the probe */
    ck_assert_int_eq(i1, 1);
    ck_assert_int_eq(b.probe, 1);
    int i2 = balance_pick(s, &m.v, &b, NOW + 100000);
    ck_assert_int_eq(i2, 2);
    ck_assert_int_eq(b.probe, 1);
    ck_assert_int_eq(balance_pick(s, &m.v, &b, NOW + 100000), 0);
    ck_assert_int_eq(b.probe, 0);
    model_done(&m);
    table_free(s, fd);
}
END_TEST

/* A resting target is passed over; alone, a first attempt still goes to it, a retry never. */
START_TEST(balance_rest)
{
    int fd;
    struct shm *s = table_new(&fd);
    struct model m;
    model_make(&m, "m1", MODEL_532);
    breaker_rest(shm_slot(s, "B", "m1", "a"), NOW + 30000);
    for (int k = 0; k < 50; k++)
        ck_assert_int_ne(pick1(s, &m.v, NOW, NULL), 0);
    trip(s, &m.v, 1, NOW);
    trip(s, &m.v, 2, NOW);
    struct balance b;
    memset(&b, 0, sizeof(b));
    ck_assert_int_eq(balance_pick(s, &m.v, &b, NOW + 1), 0);  /* first attempt: the resting one */
    ck_assert_int_eq(balance_pick(s, &m.v, &b, NOW + 1), -1); /* a retry: not again */
    ck_assert_int_gt(b.wait_ms, 0);
    model_done(&m);
    table_free(s, fd);
}
END_TEST

/* ---- breakers ---- */

/* failures 3, cooldown 1s doubling up to 3s. */
#define MODEL_BRK                                                                                  \
    "{\"name\":\"chat\",\"provider\":\"openai\","                                                  \
    "\"breaker\":{\"failures\":3,\"cooldown\":\"1s\",\"max_cooldown\":\"3s\"}}"

struct brk {
    int fd;
    struct shm *s;
    struct model m;
    struct shm_slot *slot;
};

static void
brk_setup(struct brk *b)
{
    b->s = table_new(&b->fd);
    model_make(&b->m, "m1", MODEL_BRK);
    b->slot = shm_slot(b->s, "B", b->m.v.id, b->m.v.t[0].name);
    ck_assert_ptr_nonnull(b->slot);
}

static void
brk_done(struct brk *b)
{
    model_done(&b->m);
    table_free(b->s, b->fd);
}

/* breaker_admit at t: 1/0; *probe and *wait as it says. */
static int
admit_at(struct brk *b, int64_t t, int *probe, int64_t *wait)
{
    int p;
    int64_t w;
    int rv = breaker_admit(b->slot, &b->m.v, t, 0, &p, &w);
    if (probe)
        *probe = p;
    if (wait)
        *wait = w;
    return rv;
}

static void
assert_state(struct brk *b, int64_t t, enum breaker_state st, int64_t trips, int64_t retry_in)
{
    struct breaker_info bi;
    breaker_peek(b->slot, t, &bi);
    ck_assert_msg(bi.state == st, "state %s, want %s", breaker_state_name(bi.state),
                  breaker_state_name(st));
    ck_assert_int_eq(bi.trips, trips);
    if (retry_in >= 0)
        ck_assert_int_eq(bi.retry_in_ms, retry_in);
}

/* Opens after `failures` failures in a row; a success in between starts over. */
START_TEST(breaker_trips_after_consecutive_failures)
{
    struct brk b;
    brk_setup(&b);
    int probe;
    ck_assert_int_eq(breaker_result(b.slot, &b.m.v, 0, 0, NOW), 0);
    ck_assert_int_eq(breaker_result(b.slot, &b.m.v, 0, 0, NOW), 0);
    ck_assert_int_eq(breaker_result(b.slot, &b.m.v, 1, 0, NOW), 0); /* resets */
    ck_assert_int_eq(breaker_result(b.slot, &b.m.v, 0, 0, NOW), 0);
    ck_assert_int_eq(breaker_result(b.slot, &b.m.v, 0, 0, NOW), 0);
    ck_assert_int_eq(admit_at(&b, NOW, &probe, NULL), 1);
    ck_assert_int_eq(probe, 0);
    struct breaker_info bi;
    breaker_peek(b.slot, NOW, &bi);
    ck_assert_int_eq(bi.state, BREAKER_CLOSED);
    ck_assert_int_eq(bi.failures, 2);
    ck_assert_int_eq(breaker_result(b.slot, &b.m.v, 0, 0, NOW), 1); /* the third in a row */
    assert_state(&b, NOW, BREAKER_OPEN, 1, 1000);
    brk_done(&b);
}
END_TEST

/* Open: refused for the cooldown, with wait_ms its remainder; late failures don't extend it. */
START_TEST(breaker_open_refuses)
{
    struct brk b;
    brk_setup(&b);
    for (int k = 0; k < 3; k++)
        breaker_result(b.slot, &b.m.v, 0, 0, NOW);
    int probe;
    int64_t wait;
    ck_assert_int_eq(admit_at(&b, NOW, &probe, &wait), 0);
    ck_assert_int_eq(wait, 1000);
    ck_assert_int_eq(admit_at(&b, NOW + 400, &probe, &wait), 0);
    ck_assert_int_eq(wait, 600);
    ck_assert_int_eq(breaker_result(b.slot, &b.m.v, 0, 0, NOW + 500), 0);
    ck_assert_int_eq(breaker_result(b.slot, &b.m.v, 1, 0, NOW + 500), 0); /* a late success */
    ck_assert_int_eq(admit_at(&b, NOW + 999, &probe, &wait), 0);
    ck_assert_int_eq(wait, 1);
    assert_state(&b, NOW + 999, BREAKER_OPEN, 1, 1);
    /* the cooldown is over: one probe, the others wait for it */
    ck_assert_int_eq(admit_at(&b, NOW + 1000, &probe, NULL), 1);
    ck_assert_int_eq(probe, 1);
    assert_state(&b, NOW + 1000, BREAKER_HALF_OPEN, 1, -1);
    for (int k = 0; k < 5; k++) {
        ck_assert_int_eq(admit_at(&b, NOW + 1000 + k, &probe, &wait), 0);
        ck_assert_int_eq(probe, 0);
        ck_assert_int_gt(wait, 0);
    }
    brk_done(&b);
}
END_TEST

/* A failed probe reopens it with the cooldown doubled, up to max_cooldown. */
START_TEST(breaker_probe_failure_doubles)
{
    struct brk b;
    brk_setup(&b);
    for (int k = 0; k < 3; k++)
        breaker_result(b.slot, &b.m.v, 0, 0, NOW);
    int64_t t = NOW + 1000;
    static const int64_t cds[] = {2000, 3000, 3000, 3000}; /* 2s, 4s capped to 3s, ... */
    for (int trips = 2; trips <= 5; trips++) {
        int probe;
        int64_t wait;
        ck_assert_int_eq(admit_at(&b, t, &probe, NULL), 1);
        ck_assert_int_eq(probe, 1);
        /* a failure that is not the probe's says nothing */
        ck_assert_int_eq(breaker_result(b.slot, &b.m.v, 0, 0, t), 0);
        assert_state(&b, t, BREAKER_HALF_OPEN, trips - 1, -1);
        ck_assert_int_eq(breaker_result(b.slot, &b.m.v, 0, 1, t), 1);
        int64_t cd = cds[trips - 2];
        assert_state(&b, t, BREAKER_OPEN, trips, cd);
        ck_assert_int_eq(admit_at(&b, t + cd - 1, &probe, &wait), 0);
        ck_assert_int_eq(wait, 1);
        t += cd;
    }
    brk_done(&b);
}
END_TEST

/* A successful probe closes it and forgets the trips: the next trip has the first cooldown. */
START_TEST(breaker_probe_success_closes)
{
    struct brk b;
    brk_setup(&b);
    int probe;
    for (int k = 0; k < 3; k++)
        breaker_result(b.slot, &b.m.v, 0, 0, NOW);
    ck_assert_int_eq(admit_at(&b, NOW + 1000, &probe, NULL), 1);
    ck_assert_int_eq(breaker_result(b.slot, &b.m.v, 0, 1, NOW + 1000), 1); /* trips 2 */
    ck_assert_int_eq(admit_at(&b, NOW + 3000, &probe, NULL), 1);
    ck_assert_int_eq(probe, 1);
    /* a success that is not the probe's does not close it */
    ck_assert_int_eq(breaker_result(b.slot, &b.m.v, 1, 0, NOW + 3000), 0);
    assert_state(&b, NOW + 3000, BREAKER_HALF_OPEN, 2, -1);
    ck_assert_int_eq(breaker_result(b.slot, &b.m.v, 1, 1, NOW + 3001), 0);
    assert_state(&b, NOW + 3001, BREAKER_CLOSED, 0, 0);
    for (int k = 0; k < 5; k++) {
        ck_assert_int_eq(admit_at(&b, NOW + 3001, &probe, NULL), 1);
        ck_assert_int_eq(probe, 0);
    }
    /* three failures again: open for the first cooldown, trips 1 */
    ck_assert_int_eq(breaker_result(b.slot, &b.m.v, 0, 0, NOW + 4000), 0);
    ck_assert_int_eq(breaker_result(b.slot, &b.m.v, 0, 0, NOW + 4000), 0);
    ck_assert_int_eq(breaker_result(b.slot, &b.m.v, 0, 0, NOW + 4000), 1);
    assert_state(&b, NOW + 4000, BREAKER_OPEN, 1, 1000);
    brk_done(&b);
}
END_TEST

/* An abandoned probe lets the next request probe at once. */
START_TEST(breaker_abandon_next_probes)
{
    struct brk b;
    brk_setup(&b);
    int probe;
    int64_t wait;
    for (int k = 0; k < 3; k++)
        breaker_result(b.slot, &b.m.v, 0, 0, NOW);
    ck_assert_int_eq(admit_at(&b, NOW + 1000, &probe, NULL), 1);
    ck_assert_int_eq(probe, 1);
    ck_assert_int_eq(admit_at(&b, NOW + 1001, &probe, &wait), 0);
    breaker_abandon(b.slot);
    ck_assert_int_eq(admit_at(&b, NOW + 1002, &probe, NULL), 1);
    ck_assert_int_eq(probe, 1);
    ck_assert_int_eq(admit_at(&b, NOW + 1002, &probe, NULL), 0);
    /* the trips are kept: a failure of this probe doubles the cooldown */
    ck_assert_int_eq(breaker_result(b.slot, &b.m.v, 0, 1, NOW + 1002), 1);
    assert_state(&b, NOW + 1002, BREAKER_OPEN, 2, 2000);
    /* abandon on a closed or open breaker changes nothing */
    breaker_abandon(b.slot);
    assert_state(&b, NOW + 1002, BREAKER_OPEN, 2, 2000);
    brk_done(&b);
}
END_TEST

/* A lost probe (its worker died) is given up after the first-byte + connect timeouts + 1s. */
START_TEST(breaker_lost_probe_expires)
{
    struct brk b;
    brk_setup(&b);
    int probe;
    for (int k = 0; k < 3; k++)
        breaker_result(b.slot, &b.m.v, 0, 0, NOW);
    ck_assert_int_eq(admit_at(&b, NOW + 1000, &probe, NULL), 1);
    int64_t lost = NOW + 1000 + 120000 + 5000 + 1000; /* the global defaults */
    ck_assert_int_eq(admit_at(&b, lost - 1, &probe, NULL), 0);
    ck_assert_int_eq(admit_at(&b, lost, &probe, NULL), 1);
    ck_assert_int_eq(probe, 1);
    brk_done(&b);
}
END_TEST

/* A Retry-After rest refuses until its end, unless ignore_rest; it never shortens. */
START_TEST(breaker_rest_until)
{
    struct brk b;
    brk_setup(&b);
    int probe;
    int64_t wait;
    breaker_rest(b.slot, NOW + 5000);
    breaker_rest(b.slot, NOW + 2000); /* an earlier end does not shorten it */
    ck_assert_int_eq(admit_at(&b, NOW, &probe, &wait), 0);
    ck_assert_int_eq(wait, 5000);
    ck_assert_int_eq(breaker_admit(b.slot, &b.m.v, NOW, 1, &probe, &wait), 1);
    ck_assert_int_eq(probe, 0);
    ck_assert_int_eq(admit_at(&b, NOW + 4999, &probe, &wait), 0);
    ck_assert_int_eq(wait, 1);
    ck_assert_int_eq(admit_at(&b, NOW + 5000, &probe, &wait), 1);
    struct breaker_info bi;
    breaker_peek(b.slot, NOW + 1000, &bi);
    ck_assert_int_eq(bi.state, BREAKER_CLOSED);
    ck_assert_int_eq(bi.retry_in_ms, 4000);
    brk_done(&b);

    /* a model without a breaker rests too */
    int fd;
    struct shm *s = table_new(&fd);
    struct model m;
    model_make(&m, "m2", "{\"name\":\"x\",\"provider\":\"openai\"}");
    struct shm_slot *slot = shm_slot(s, "B", "m2", m.v.t[0].name);
    breaker_rest(slot, NOW + 100);
    ck_assert_int_eq(breaker_admit(slot, &m.v, NOW, 0, &probe, &wait), 0);
    ck_assert_int_eq(wait, 100);
    ck_assert_int_eq(breaker_admit(slot, &m.v, NOW + 100, 0, &probe, &wait), 1);
    model_done(&m);
    table_free(s, fd);
}
END_TEST

struct race {
    const struct model_view *v;
    const char *target;
    int64_t t;
};

/* A worker racing for the probe: 200 admissions; out[0] probes, out[1] admitted. */
static void
child_probe_race(int fd, int worker, void *arg, int64_t out[CHILD_OUT])
{
    const struct race *r = arg;
    struct shm *s = shm_attach(fd, worker);
    struct shm_slot *slot = s ? shm_slot(s, "B", r->v->id, r->target) : NULL;
    if (slot == NULL) {
        out[CHILD_OUT - 1] = 1;
        return;
    }
    for (int k = 0; k < 200; k++) {
        int probe;
        int64_t wait;
        if (breaker_admit(slot, r->v, r->t, 0, &probe, &wait)) {
            out[1]++;
            out[0] += probe;
        }
    }
    shm_free(s);
}

/* After the cooldown, exactly one of 4 workers racing gets the probe (20 rounds). */
START_TEST(breaker_one_probe_across_workers)
{
    int fd;
    struct shm *s = table_new(&fd);
    struct model m;
    model_make(&m, "m1", MODEL_BRK);
    for (int round = 0; round < 20; round++) {
        char target[32];
        snprintf(target, sizeof(target), "t%d", round);
        struct shm_slot *slot = shm_slot(s, "B", m.v.id, target);
        for (int k = 0; k < 3; k++)
            breaker_result(slot, &m.v, 0, 0, NOW);
        struct race r = {&m.v, target, NOW + 1000};
        int64_t out[NWORKERS][CHILD_OUT];
        memset(out, 0, sizeof(out));
        run_children(fd, NWORKERS, child_probe_race, &r, out);
        int64_t probes = 0, admitted = 0;
        for (int w = 0; w < NWORKERS; w++) {
            probes += out[w][0];
            admitted += out[w][1];
        }
        ck_assert_msg(probes == 1, "round %d: %lld probes", round, (long long)probes);
        ck_assert_msg(admitted == 1, "round %d: %lld admitted", round, (long long)admitted);
    }
    model_done(&m);
    table_free(s, fd);
}
END_TEST

/* ---- limits (the local backend) ---- */

/*
 * Start a per-minute test with at least ten seconds left in the UTC minute,
 * so that its counts all fall in one window. Waits at most ten seconds.
 */
static void
wait_minute_room(void)
{
    for (int k = 0; k < 1200 && now_real_ms() / 1000 % 60 >= 50; k++)
        usleep(10000);
    ck_assert_int_lt(now_real_ms() / 1000 % 60, 50);
}

struct lim {
    int fd;
    struct shm *s;
    struct conf conf;
    struct limiter *l;
};

static void
lim_setup(struct lim *x)
{
    x->s = table_new(&x->fd);
    conf_defaults(&x->conf);
    ck_assert_int_eq(x->conf.rl_backend, RL_BACKEND_LOCAL);
    x->l = limiter_new(NULL, &x->conf, x->s);
    ck_assert_ptr_nonnull(x->l);
}

static void
lim_done(struct lim *x)
{
    limiter_free(x->l);
    table_free(x->s, x->fd);
}

/* Admit one request of key k1 (klim) on model m1 (mlim); either may be NULL. Returns the verdict.
 */
static int
admit_req(struct limiter *l, struct limit_state *st, const int64_t *klim, const int64_t *mlim,
          int64_t reserve)
{
    memset(st, 0, sizeof(*st));
    if (klim != NULL)
        limit_owner(st, "key", "k1", "team", klim);
    if (mlim != NULL)
        limit_owner(st, "model", "m1", "chat", mlim);
    if (limit_admit(l, st, reserve, 60000, "req-1", NULL, NULL) != 0)
        return -1; /* the local backend always decides at once */
    return (int)st->verdict;
}

struct rpm_arg {
    int64_t limits[LIM_N];
    int attempts;
};

/* A worker: out[0] admitted, out[1] denied, out[2] denials with wrong fields. */
static void
child_rpm(int fd, int worker, void *arg, int64_t out[CHILD_OUT])
{
    const struct rpm_arg *a = arg;
    struct conf c;
    struct shm *s = shm_attach(fd, worker);
    if (s == NULL) {
        out[CHILD_OUT - 1] = 1;
        return;
    }
    conf_defaults(&c);
    struct limiter *l = limiter_new(NULL, &c, s);
    if (l == NULL) {
        out[CHILD_OUT - 1] = 2;
        return;
    }
    for (int k = 0; k < a->attempts; k++) {
        struct limit_state st;
        int v = admit_req(l, &st, a->limits, NULL, 0);
        if (v == LIMIT_OK) {
            out[0]++;
        } else if (v == LIMIT_DENIED) {
            out[1]++;
            if (st.deny_which != LIM_RPM || st.deny_limit != a->limits[LIM_RPM] ||
                st.deny_used != a->limits[LIM_RPM])
                out[2]++;
        } else {
            out[3]++;
        }
        limit_end(&st, 0);
    }
    limiter_free(l);
    shm_free(s);
}

/* requests_per_minute 100: exactly 100 of 4 workers x 60 attempts; the denial says why. */
START_TEST(limit_rpm_exact_across_workers)
{
    struct lim x;
    lim_setup(&x);
    struct rpm_arg a = {{100, 0, 0, 0, 0}, 60};
    wait_minute_room();
    int64_t out[NWORKERS][CHILD_OUT];
    memset(out, 0, sizeof(out));
    run_children(x.fd, NWORKERS, child_rpm, &a, out);
    int64_t ok = 0, denied = 0, wrong = 0, other = 0;
    for (int w = 0; w < NWORKERS; w++) {
        ok += out[w][0];
        denied += out[w][1];
        wrong += out[w][2];
        other += out[w][3];
    }
    ck_assert_int_eq(ok, 100);
    ck_assert_int_eq(denied, 140);
    ck_assert_int_eq(wrong, 0);
    ck_assert_int_eq(other, 0);
    ck_assert_uint_eq(shm_stat(x.s, SHM_STAT_RL_DENIED), 140);

    struct limit_state st;
    ck_assert_int_eq(admit_req(x.l, &st, a.limits, NULL, 0), LIMIT_DENIED);
    ck_assert_int_eq(st.deny_owner, 0);
    ck_assert_int_eq(st.deny_which, LIM_RPM);
    ck_assert_int_eq(st.deny_limit, 100);
    ck_assert_int_eq(st.deny_used, 100);
    ck_assert_int_gt(st.retry_ms, 0);
    ck_assert_int_le(st.retry_ms, 60000);
    ck_assert_int_eq(st.active, 0);
    ck_assert_int_eq(st.have_req, 1);
    ck_assert_int_eq(st.req_remaining, 0);
    ck_assert_int_eq(st.req_limit, 100);
    lim_done(&x);
}
END_TEST

/* Headers: the tightest request limit of key and model, and the time to the window's end. */
START_TEST(limit_headers)
{
    struct lim x;
    lim_setup(&x);
    int64_t klim[LIM_N] = {10, 0, 0, 0, 0}, mlim[LIM_N] = {5, 1000, 0, 0, 0};
    wait_minute_room();
    struct limit_state st;
    ck_assert_int_eq(admit_req(x.l, &st, klim, mlim, 0), LIMIT_OK);
    ck_assert_int_eq(st.have_req, 1);
    ck_assert_int_eq(st.have_tok, 0);
    ck_assert_int_eq(st.req_limit, 5);
    ck_assert_int_eq(st.req_remaining, 4);
    ck_assert_int_gt(st.req_reset_ms, 0);
    ck_assert_int_le(st.req_reset_ms, 60000);
    limit_end(&st, 0);
    for (int k = 0; k < 4; k++)
        ck_assert_int_eq(admit_req(x.l, &st, klim, mlim, 0), LIMIT_OK);
    ck_assert_int_eq(st.req_remaining, 0);
    ck_assert_int_eq(admit_req(x.l, &st, klim, mlim, 0), LIMIT_DENIED);
    ck_assert_int_eq(st.deny_owner, 1); /* the model */
    /* owners without any limit are left out */
    int64_t none[LIM_N] = {0};
    ck_assert_int_eq(admit_req(x.l, &st, none, NULL, 0), LIMIT_OK);
    ck_assert_int_eq(st.nown, 0);
    ck_assert_int_eq(st.have_req, 0);
    /* limit_fmt_reset as the headers write it */
    char buf[32];
    limit_fmt_reset(250, buf, sizeof(buf));
    ck_assert_str_eq(buf, "250ms");
    limit_fmt_reset(23000, buf, sizeof(buf));
    ck_assert_str_eq(buf, "23s");
    limit_fmt_reset(65000, buf, sizeof(buf));
    ck_assert_str_eq(buf, "1m5s");
    lim_done(&x);
}
END_TEST

/* A key under its limit, the model at its own: the key's counter is given back. */
START_TEST(limit_rollback_requests)
{
    struct lim x;
    lim_setup(&x);
    int64_t klim[LIM_N] = {10, 0, 0, 0, 0}, mlim[LIM_N] = {1, 0, 0, 0, 0};
    int64_t raised[LIM_N] = {1000, 0, 0, 0, 0};
    wait_minute_room();
    struct limit_state st;
    ck_assert_int_eq(admit_req(x.l, &st, klim, mlim, 0), LIMIT_OK);
    for (int k = 0; k < 5; k++) {
        ck_assert_int_eq(admit_req(x.l, &st, klim, mlim, 0), LIMIT_DENIED);
        ck_assert_int_eq(st.deny_owner, 1);
        ck_assert_int_eq(st.deny_which, LIM_RPM);
        ck_assert_int_eq(st.deny_limit, 1);
        ck_assert_int_eq(st.deny_used, 1);
    }
    /* the model's limit raised: the key has its 9 remaining, no fewer */
    for (int k = 0; k < 9; k++) {
        ck_assert_msg(admit_req(x.l, &st, klim, raised, 0) == LIMIT_OK, "admission %d refused", k);
        ck_assert_int_eq(st.req_remaining, 8 - k);
    }
    ck_assert_int_eq(admit_req(x.l, &st, klim, raised, 0), LIMIT_DENIED);
    ck_assert_int_eq(st.deny_owner, 0);
    ck_assert_int_eq(st.deny_used, 10);
    lim_done(&x);
}
END_TEST

/* The same for a key's tokens and concurrency. */
START_TEST(limit_rollback_tokens_concurrency)
{
    struct lim x;
    lim_setup(&x);
    int64_t klim[LIM_N] = {0, 0, 1000, 0, 1}, mlim[LIM_N] = {1, 0, 0, 0, 0};
    int64_t raised[LIM_N] = {1000, 0, 0, 0, 0};
    wait_minute_room();
    struct limit_state st;
    ck_assert_int_eq(admit_req(x.l, &st, klim, mlim, 400), LIMIT_OK);
    limit_end(&st, 400);
    ck_assert_int_eq(admit_req(x.l, &st, klim, mlim, 400), LIMIT_DENIED);
    ck_assert_int_eq(st.deny_owner, 1);
    limit_end(&st, 0); /* a refused request has nothing to give back */
    ck_assert_int_eq(admit_req(x.l, &st, klim, raised, 400), LIMIT_OK);
    ck_assert_int_eq(st.have_tok, 1);
    ck_assert_int_eq(st.tok_remaining, 200);
    struct limit_state st2;
    ck_assert_int_eq(admit_req(x.l, &st2, klim, raised, 1), LIMIT_DENIED);
    ck_assert_int_eq(st2.deny_owner, 0);
    ck_assert_int_eq(st2.deny_which, LIM_CONC);
    limit_end(&st, 400);
    lim_done(&x);
}
END_TEST

/* tokens_per_minute 1000, 500 reserved each: 2 admitted, the 3rd refused; real usage settles. */
START_TEST(limit_tokens)
{
    struct lim x;
    lim_setup(&x);
    int64_t mlim[LIM_N] = {0, 0, 1000, 0, 0};
    wait_minute_room();
    struct limit_state a, b, c;
    ck_assert_int_eq(admit_req(x.l, &a, NULL, mlim, 500), LIMIT_OK);
    ck_assert_int_eq(a.have_tok, 1);
    ck_assert_int_eq(a.have_req, 0);
    ck_assert_int_eq(a.tok_limit, 1000);
    ck_assert_int_eq(a.tok_remaining, 500);
    ck_assert_int_gt(a.tok_reset_ms, 0);
    ck_assert_int_le(a.tok_reset_ms, 60000);
    ck_assert_int_eq(admit_req(x.l, &b, NULL, mlim, 500), LIMIT_OK);
    ck_assert_int_eq(b.tok_remaining, 0);
    ck_assert_int_eq(admit_req(x.l, &c, NULL, mlim, 500), LIMIT_DENIED);
    ck_assert_int_eq(c.deny_which, LIM_TPM);
    ck_assert_int_eq(c.deny_limit, 1000);
    ck_assert_int_eq(c.deny_used, 1000);
    ck_assert_int_gt(c.retry_ms, 0);
    ck_assert_int_le(c.retry_ms, 60000);
    limit_end(&c, 0);
    /* both used 100: 800 given back, room for two more of 500 (used 200 -> 700 -> 1200) */
    limit_end(&a, 100);
    limit_end(&b, 100);
    limit_end(&b, 100); /* a second end changes nothing */
    ck_assert_int_eq(admit_req(x.l, &a, NULL, mlim, 500), LIMIT_OK);
    ck_assert_int_eq(a.tok_remaining, 300);
    ck_assert_int_eq(admit_req(x.l, &b, NULL, mlim, 500), LIMIT_OK);
    ck_assert_int_eq(b.tok_remaining, 0);
    ck_assert_int_eq(admit_req(x.l, &c, NULL, mlim, 500), LIMIT_DENIED);
    ck_assert_int_eq(c.deny_used, 1200);
    /* more than reserved: the excess is charged */
    limit_end(&a, 900);
    limit_end(&b, 500);
    ck_assert_int_eq(admit_req(x.l, &c, NULL, mlim, 1), LIMIT_DENIED);
    ck_assert_int_eq(c.deny_used, 1600);
    lim_done(&x);
}
END_TEST

/* concurrency 3: 3 in flight, the 4th refused; an end frees one. */
START_TEST(limit_concurrency)
{
    struct lim x;
    lim_setup(&x);
    int64_t klim[LIM_N] = {0, 0, 0, 0, 3};
    struct limit_state st[5];
    for (int k = 0; k < 3; k++)
        ck_assert_int_eq(admit_req(x.l, &st[k], klim, NULL, 0), LIMIT_OK);
    ck_assert_int_eq(admit_req(x.l, &st[3], klim, NULL, 0), LIMIT_DENIED);
    ck_assert_int_eq(st[3].deny_which, LIM_CONC);
    ck_assert_int_eq(st[3].deny_limit, 3);
    ck_assert_int_eq(st[3].deny_used, 3);
    ck_assert_int_gt(st[3].retry_ms, 0);
    ck_assert_int_eq(st[3].have_req, 0);
    ck_assert_int_eq(st[3].have_tok, 0);
    limit_end(&st[3], 0);
    limit_end(&st[1], 0);
    ck_assert_int_eq(admit_req(x.l, &st[4], klim, NULL, 0), LIMIT_OK);
    ck_assert_int_eq(admit_req(x.l, &st[3], klim, NULL, 0), LIMIT_DENIED);
    for (int k = 0; k < 5; k++)
        limit_end(&st[k], 0);
    for (int k = 0; k < 3; k++)
        ck_assert_int_eq(admit_req(x.l, &st[k], klim, NULL, 0), LIMIT_OK);
    ck_assert_int_eq(admit_req(x.l, &st[3], klim, NULL, 0), LIMIT_DENIED);
    lim_done(&x);
}
END_TEST

/*
 * Worker w takes w concurrency slots (0, 1, 2) and dies without giving
 * them back (no limit_end).
 */
static void
child_conc_die(int fd, int worker, void *arg, int64_t out[CHILD_OUT])
{
    const int64_t *klim = arg;
    struct conf c;
    struct shm *s = shm_attach(fd, worker);
    if (s == NULL) {
        out[CHILD_OUT - 1] = 1;
        return;
    }
    conf_defaults(&c);
    struct limiter *l = limiter_new(NULL, &c, s);
    struct limit_state st[2];
    for (int k = 0; k < worker; k++)
        out[0] += admit_req(l, &st[k], klim, NULL, 0) == LIMIT_OK;
}

/* shm_worker_gone gives back exactly what the dead worker held. */
START_TEST(limit_worker_gone_releases)
{
    struct lim x;
    lim_setup(&x);
    int64_t klim[LIM_N] = {0, 0, 0, 0, 3};
    int64_t out[NWORKERS][CHILD_OUT];
    memset(out, 0, sizeof(out));
    run_children(x.fd, 3, child_conc_die, klim, out);
    ck_assert_int_eq(out[1][0], 1);
    ck_assert_int_eq(out[2][0], 2);
    struct limit_state st[4];
    ck_assert_int_eq(admit_req(x.l, &st[0], klim, NULL, 0), LIMIT_DENIED);
    shm_worker_gone(x.s, 0, LIM_CONC); /* held nothing */
    ck_assert_int_eq(admit_req(x.l, &st[0], klim, NULL, 0), LIMIT_DENIED);
    shm_worker_gone(x.s, 2, LIM_CONC);
    shm_worker_gone(x.s, 2, LIM_CONC); /* twice: nothing more */
    ck_assert_int_eq(admit_req(x.l, &st[0], klim, NULL, 0), LIMIT_OK);
    ck_assert_int_eq(admit_req(x.l, &st[1], klim, NULL, 0), LIMIT_OK);
    ck_assert_int_eq(admit_req(x.l, &st[2], klim, NULL, 0), LIMIT_DENIED); /* worker 1's is held */
    ck_assert_int_eq(st[2].deny_used, 3);
    shm_worker_gone(x.s, 1, LIM_CONC);
    ck_assert_int_eq(admit_req(x.l, &st[2], klim, NULL, 0), LIMIT_OK);
    ck_assert_int_eq(admit_req(x.l, &st[3], klim, NULL, 0), LIMIT_DENIED);
    /* the survivors' own ends bring it to zero, not below */
    for (int k = 0; k < 3; k++)
        limit_end(&st[k], 0);
    for (int k = 0; k < 3; k++)
        ck_assert_msg(admit_req(x.l, &st[k], klim, NULL, 0) == LIMIT_OK, "admission %d refused", k);
    ck_assert_int_eq(admit_req(x.l, &st[3], klim, NULL, 0), LIMIT_DENIED);
    lim_done(&x);
}
END_TEST

static Suite *
traffic_suite(void)
{
    Suite *s = suite_create("traffic");
    TCase *tc = tcase_create("schema");
    tcase_add_test(tc, schema_targets_valid);
    tcase_add_test(tc, schema_sixteen_targets_valid);
    tcase_add_test(tc, schema_seventeen_targets);
    tcase_add_test(tc, schema_key_limits_valid);
    tcase_add_test(tc, schema_non_mapping_target_has_no_name);
    tcase_add_loop_test(tc, schema_bad, 0, (int)(sizeof(bad_cases) / sizeof(bad_cases[0])));
    suite_add_tcase(s, tc);

    tc = tcase_create("record");
    tcase_add_test(tc, record_key_limits);
    tcase_add_test(tc, record_targets_and_tiers);
    tcase_add_test(tc, record_shorthand_default_model);
    tcase_add_test(tc, record_shorthand_upstream_model);
    tcase_add_test(tc, record_fallback_default);
    tcase_add_test(tc, record_custom_fields);
    tcase_add_test(tc, record_breaker_defaults);
    tcase_add_test(tc, record_swrr_5_1_1);
    tcase_add_test(tc, record_swrr_gcd);
    tcase_add_test(tc, record_weight_zero_in_no_tier);
    tcase_add_test(tc, record_all_zero_tier_absent);
    tcase_add_test(tc, record_truncated);
    suite_add_tcase(s, tc);

    tc = tcase_create("shm");
    tcase_add_test(tc, shm_table_basics);
    suite_add_tcase(s, tc);

    tc = tcase_create("balance");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, balance_split_across_workers);
    tcase_add_test(tc, balance_skips_open_breaker);
    tcase_add_test(tc, balance_avoids_tried);
    tcase_add_test(tc, balance_all_open);
    tcase_add_test(tc, balance_all_drained);
    tcase_add_test(tc, balance_lower_tier_only_when_needed);
    tcase_add_test(tc, balance_rest);
    suite_add_tcase(s, tc);

    tc = tcase_create("breaker");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, breaker_trips_after_consecutive_failures);
    tcase_add_test(tc, breaker_open_refuses);
    tcase_add_test(tc, breaker_probe_failure_doubles);
    tcase_add_test(tc, breaker_probe_success_closes);
    tcase_add_test(tc, breaker_abandon_next_probes);
    tcase_add_test(tc, breaker_lost_probe_expires);
    tcase_add_test(tc, breaker_rest_until);
    tcase_add_test(tc, breaker_one_probe_across_workers);
    suite_add_tcase(s, tc);

    tc = tcase_create("limit");
    tcase_set_timeout(tc, 60); /* a per-minute test may wait up to 10s for a fresh minute */
    tcase_add_test(tc, limit_rpm_exact_across_workers);
    tcase_add_test(tc, limit_headers);
    tcase_add_test(tc, limit_rollback_requests);
    tcase_add_test(tc, limit_rollback_tokens_concurrency);
    tcase_add_test(tc, limit_tokens);
    tcase_add_test(tc, limit_concurrency);
    tcase_add_test(tc, limit_worker_gone_releases);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return run_suite(traffic_suite());
}
