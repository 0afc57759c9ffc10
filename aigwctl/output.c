/* SPDX-License-Identifier: Apache-2.0 */
/*
 * output.c: aigwctl's output. People get aligned tables and short lines;
 * scripts get --json, the answer of aigw as it came, pretty-printed. A
 * resource shown for people is YAML that -f reads back, so that
 * `aigwctl model get ID > f; $EDITOR f; aigwctl model update ID -f f` works.
 */
#include "config.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "aigw/util.h"
#include "aigw/yamljson.h"
#include "aigwctl.h"

struct table {
    int ncols;
    int nrows, cap;
    char **cells; /* nrows * ncols, row-major; until the first print, row 0 is the header */
    size_t *w;    /* the widths printed so far: a later page never narrows a column */
};

struct table *
table_new(int ncols, const char *const *headers)
{
    struct table *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->ncols = ncols;
    t->w = calloc((size_t)ncols, sizeof(*t->w));
    if (t->w == NULL) {
        free(t);
        return NULL;
    }
    table_add(t, headers);
    return t;
}

void
table_add(struct table *t, const char *const *cells)
{
    if (t == NULL)
        return;
    if (t->nrows == t->cap) {
        int cap = t->cap ? t->cap * 2 : 16;
        char **nc = realloc(t->cells, (size_t)cap * (size_t)t->ncols * sizeof(*nc));
        if (nc == NULL)
            return;
        t->cells = nc;
        t->cap = cap;
    }
    for (int i = 0; i < t->ncols; i++) {
        const char *s = cells[i] != NULL && cells[i][0] != '\0' ? cells[i] : "-";
        char *copy = strdup(s);
        /* one row per line: a newline or tab in a value would break the columns */
        for (char *p = copy; p != NULL && *p; p++)
            if (*p == '\n' || *p == '\t' || *p == '\r')
                *p = ' ';
        t->cells[t->nrows * t->ncols + i] = copy;
    }
    t->nrows++;
}

/*
 * Print the rows added since the last print, then drop them: a listing
 * prints each page as it comes instead of holding every row. Columns are
 * as wide as the widest cell printed so far.
 */
void
table_print(struct table *t, FILE *fp)
{
    if (t == NULL)
        return;
    size_t *w = t->w;
    for (int r = 0; r < t->nrows; r++)
        for (int c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * t->ncols + c];
            size_t len = s ? strlen(s) : 0;
            if (len > w[c])
                w[c] = len;
        }
    for (int r = 0; r < t->nrows; r++) {
        for (int c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * t->ncols + c];
            if (c == t->ncols - 1)
                fprintf(fp, "%s\n", s ? s : "");
            else
                fprintf(fp, "%-*s  ", (int)w[c], s ? s : "");
        }
    }
    for (int i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    t->nrows = 0;
}

void
table_free(struct table *t)
{
    if (t == NULL)
        return;
    for (int i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t->w);
    free(t);
}

void
output_json(FILE *fp, struct json_object *o)
{
    fprintf(fp, "%s\n",
            json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                  JSON_C_TO_STRING_NOSLASHESCAPE));
}

const char *
output_str(struct json_object *o, const char *key)
{
    struct json_object *v;
    if (o == NULL || !json_object_object_get_ex(o, key, &v) || v == NULL)
        return "";
    return json_object_get_string(v);
}

void
output_duration(char *buf, size_t len, long long s)
{
    if (s < 0)
        s = 0;
    if (s >= 86400)
        snprintf(buf, len, "%lldd %lldh", s / 86400, s % 86400 / 3600);
    else if (s >= 3600)
        snprintf(buf, len, "%lldh %lldm", s / 3600, s % 3600 / 60);
    else if (s >= 60)
        snprintf(buf, len, "%lldm %llds", s / 60, s % 60);
    else
        snprintf(buf, len, "%llds", s);
}

/* --- YAML ---------------------------------------------------------------- */

void
output_yaml(FILE *fp, struct json_object *o)
{
    yaml_write(fp, o);
}

/* --- status -------------------------------------------------------------- */

/* A line for each worker that keeps failing to start: how often, why, and the next try. */
static void
status_failed_starts(FILE *fp, struct json_object *workers, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct json_object *w = json_object_array_get_idx(workers, i), *why, *in;
        if (!json_object_object_get_ex(w, "last_failure", &why) ||
            !json_object_is_type(why, json_type_string))
            continue;
        fprintf(fp, "worker %s: %s failed start(s) in a row: %s", output_str(w, "slot"),
                output_str(w, "failed_starts"), output_str(w, "last_failure"));
        if (json_object_object_get_ex(w, "restart_in_ms", &in) &&
            json_object_is_type(in, json_type_int))
            fprintf(fp, "; next try in %lld ms", (long long)json_object_get_int64(in));
        fputc('\n', fp);
    }
}

/* The workers as a table, one line each. */
static void
status_workers(FILE *fp, struct json_object *workers)
{
    static const char *const h[] = {"SLOT",     "PID",       "STATE",  "GENERATION",
                                    "REQUESTS", "IN FLIGHT", "STARTED"};
    size_t n =
        json_object_is_type(workers, json_type_array) ? json_object_array_length(workers) : 0;
    if (n == 0) {
        fprintf(fp, "workers:       none\n");
        return;
    }
    struct table *t = table_new(7, h);
    for (size_t i = 0; i < n; i++) {
        struct json_object *w = json_object_array_get_idx(workers, i);
        const char *row[] = {output_str(w, "slot"),      output_str(w, "pid"),
                             output_str(w, "state"),     output_str(w, "generation"),
                             output_str(w, "requests"),  output_str(w, "in_flight"),
                             output_str(w, "started_at")};
        table_add(t, row);
    }
    fputc('\n', fp);
    table_print(t, fp);
    table_free(t);
    status_failed_starts(fp, workers, n);
}

/* The circuit breakers as a table, when there are any. */
static void
status_breakers(FILE *fp, struct json_object *breakers)
{
    static const char *const h[] = {"MODEL", "TARGET", "BREAKER", "FAILURES", "TRIPS", "RETRY IN"};
    size_t n =
        json_object_is_type(breakers, json_type_array) ? json_object_array_length(breakers) : 0;
    if (n == 0)
        return;
    struct table *t = table_new(6, h);
    for (size_t i = 0; i < n; i++) {
        struct json_object *b = json_object_array_get_idx(breakers, i);
        char retry[32];
        snprintf(retry, sizeof(retry), "%lld ms",
                 (long long)json_object_get_int64(json_object_object_get(b, "retry_in_ms")));
        const char *row[] = {output_str(b, "model"), output_str(b, "target"),
                             output_str(b, "state"), output_str(b, "failures"),
                             output_str(b, "trips"), retry};
        table_add(t, row);
    }
    fputc('\n', fp);
    table_print(t, fp);
    table_free(t);
}

/* On an identity mismatch: what the table came from, what etcd is, what to do. */
static void
status_etcd_identity(FILE *fp, struct json_object *etcd)
{
    struct json_object *id = NULL;
    json_object_object_get_ex(etcd, "identity", &id);
    if (id == NULL || strcmp(output_str(id, "state"), "ok") == 0)
        return;
    fprintf(fp,
            "etcd identity: %s: etcd is cluster %s at revision %s (%s); the table came from "
            "cluster %s at revision %s\n"
            "               serving the stored table; Admin API writes refused; "
            "`aigwctl etcd accept` takes etcd's state\n",
            strcmp(output_str(id, "state"), "accepting") == 0 ? "ACCEPTING" : "MISMATCH",
            output_str(id, "seen_cluster_id"), output_str(id, "seen_revision"),
            output_str(id, "reason"), output_str(id, "stored_cluster_id"),
            output_str(id, "stored_revision"));
}

/* One line on etcd, and one on its last error (etcd mode only). */
static void
status_etcd(FILE *fp, struct json_object *etcd)
{
    struct json_object *v;
    if (etcd == NULL || !json_object_is_type(etcd, json_type_object))
        return;
    int connected = json_object_object_get_ex(etcd, "connected", &v) && json_object_get_boolean(v);
    fprintf(fp, "etcd:          %s, revision %s, %s (%s)\n", output_str(etcd, "state"),
            output_str(etcd, "revision"), output_str(etcd, "endpoint"),
            connected ? "connected" : "not connected");
    if (json_object_object_get_ex(etcd, "last_error", &v) && v != NULL)
        fprintf(fp, "etcd error:    %s\n", json_object_get_string(v));
    status_etcd_identity(fp, etcd);
}

void
output_status(FILE *fp, struct json_object *st)
{
    struct json_object *cfg = NULL, *lr = NULL, *etcd = NULL, *v, *workers = NULL;
    struct json_object *breakers = NULL, *rl = NULL, *shm = NULL;
    char up[64];
    json_object_object_get_ex(st, "config", &cfg);
    json_object_object_get_ex(st, "last_reload", &lr);
    json_object_object_get_ex(st, "etcd", &etcd);
    json_object_object_get_ex(st, "workers", &workers);
    json_object_object_get_ex(st, "breakers", &breakers);
    json_object_object_get_ex(st, "ratelimit", &rl);
    json_object_object_get_ex(st, "shared_memory", &shm);
    output_duration(up, sizeof(up),
                    (long long)json_object_get_int64(json_object_object_get(st, "uptime_seconds")));
    fprintf(fp, "aigw %s, pid %s, up %s (since %s)\n", output_str(st, "version"),
            output_str(st, "pid"), up, output_str(st, "started_at"));
    fprintf(fp, "mode:          %s\n", output_str(st, "mode"));
    if (cfg != NULL) {
        const char *src = output_str(cfg, "source");
        fprintf(fp, "config:        version %s, from %s, updated %s\n", output_str(cfg, "version"),
                src[0] ? src : "(nothing yet)", output_str(cfg, "updated_at"));
    }
    status_etcd(fp, etcd);
    fprintf(fp, "generation:    %s\n", output_str(st, "generation"));
    if (json_object_object_get_ex(st, "reloading", &v) && json_object_get_boolean(v))
        fprintf(fp, "reload:        in progress\n");
    if (lr == NULL || !json_object_is_type(lr, json_type_object))
        fprintf(fp, "last reload:   none\n");
    else if (json_object_object_get_ex(lr, "ok", &v) && json_object_get_boolean(v))
        fprintf(fp, "last reload:   %s, ok\n", output_str(lr, "at"));
    else
        fprintf(fp, "last reload:   %s, failed: %s\n", output_str(lr, "at"),
                output_str(lr, "error"));
    if (rl != NULL)
        fprintf(fp, "rate limits:   %s backend, %s refused, %s backend errors\n",
                output_str(rl, "backend"), output_str(rl, "denied"),
                output_str(rl, "backend_errors"));
    if (shm != NULL)
        fprintf(fp, "shared memory: %s of %s slots used, full %s times\n", output_str(shm, "used"),
                output_str(shm, "slots"), output_str(shm, "full_events"));
    status_workers(fp, workers);
    status_breakers(fp, breakers);
}

/* --- models and keys ----------------------------------------------------- */

/* Add s to a comma-separated list unless it is there already. */
static void
list_add_unique(char *buf, size_t len, const char *s)
{
    if (s == NULL || *s == '\0')
        return;
    size_t sl = strlen(s);
    for (const char *p = buf; (p = strstr(p, s)) != NULL; p += sl)
        if ((p == buf || p[-1] == ',') && (p[sl] == ',' || p[sl] == '\0'))
            return;
    size_t used = strlen(buf);
    snprintf(buf + used, len - used, "%s%s", used ? "," : "", s);
}

/* One page of models as rows of t. */
static void
list_models(struct table *t, struct json_object *items)
{
    size_t n = json_object_array_length(items);
    for (size_t i = 0; i < n; i++) {
        struct json_object *it = json_object_array_get_idx(items, i), *val = NULL, *tg = NULL;
        char prov[256] = "", model[512] = "", ntg[16] = "1";
        json_object_object_get_ex(it, "value", &val);
        if (json_object_object_get_ex(val, "targets", &tg) &&
            json_object_is_type(tg, json_type_array)) {
            size_t k = json_object_array_length(tg);
            for (size_t j = 0; j < k; j++) {
                struct json_object *x = json_object_array_get_idx(tg, j);
                list_add_unique(prov, sizeof(prov), output_str(x, "provider"));
                list_add_unique(model, sizeof(model), output_str(x, "model"));
            }
            snprintf(ntg, sizeof(ntg), "%zu", k);
        } else {
            snprintf(prov, sizeof(prov), "%s", output_str(val, "provider"));
            snprintf(model, sizeof(model), "%s", output_str(val, "model"));
        }
        const char *row[] = {output_str(it, "id"),      output_str(val, "name"), prov, model, ntg,
                             output_str(it, "revision")};
        table_add(t, row);
    }
}

/* One page of credentials as rows of t (api_key as the Admin API masks it). */
static void
list_creds(struct table *t, struct json_object *items)
{
    size_t n = json_object_array_length(items);
    for (size_t i = 0; i < n; i++) {
        struct json_object *it = json_object_array_get_idx(items, i), *val = NULL;
        json_object_object_get_ex(it, "value", &val);
        const char *row[] = {output_str(it, "id"),        output_str(val, "name"),
                             output_str(val, "provider"), output_str(val, "api_base"),
                             output_str(val, "api_key"),  output_str(it, "revision")};
        table_add(t, row);
    }
}

/* "active", "disabled" or "expired". */
static const char *
key_state(struct json_object *val)
{
    struct json_object *v;
    int64_t exp;
    if (json_object_object_get_ex(val, "disabled", &v) && json_object_get_boolean(v))
        return "disabled";
    if (json_object_object_get_ex(val, "expires_at", &v) &&
        parse_rfc3339(json_object_get_string(v), &exp) == 0 && exp <= (int64_t)time(NULL))
        return "expired";
    return "active";
}

/* One page of API keys as rows of t. */
static void
list_keys(struct table *t, struct json_object *items)
{
    size_t n = json_object_array_length(items);
    for (size_t i = 0; i < n; i++) {
        struct json_object *it = json_object_array_get_idx(items, i), *val = NULL, *am = NULL;
        char models[512] = "";
        json_object_object_get_ex(it, "value", &val);
        if (json_object_object_get_ex(val, "allowed_models", &am) &&
            json_object_is_type(am, json_type_array)) {
            size_t k = json_object_array_length(am);
            for (size_t j = 0; j < k; j++)
                list_add_unique(models, sizeof(models),
                                json_object_get_string(json_object_array_get_idx(am, j)));
            if (k == 0)
                snprintf(models, sizeof(models), "(none)");
        } else {
            snprintf(models, sizeof(models), "*");
        }
        const char *row[] = {
            output_str(it, "id"),          output_str(val, "name"), models,
            output_str(val, "expires_at"), key_state(val),          output_str(it, "revision")};
        table_add(t, row);
    }
}

/* --- a listing, page by page --------------------------------------------- */

struct listing {
    FILE *fp;
    int json, models;
    size_t n;        /* resources printed */
    struct table *t; /* for people */
};

/* A listing of models, API keys or credentials (enum list_kind), JSON or a table. */
struct listing *
output_list_begin(FILE *fp, int json, int models)
{
    static const char *const mh[] = {"ID", "NAME", "PROVIDER", "MODEL", "TARGETS", "REVISION"};
    static const char *const kh[] = {"ID", "NAME", "MODELS", "EXPIRES", "STATE", "REVISION"};
    static const char *const ch[] = {"ID", "NAME", "PROVIDER", "API_BASE", "API_KEY", "REVISION"};
    struct listing *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return NULL;
    l->fp = fp;
    l->json = json;
    l->models = models;
    if (!json && (l->t = table_new(6, models == LIST_MODELS ? mh
                                      : models == LIST_KEYS ? kh
                                                            : ch)) == NULL) {
        free(l);
        return NULL;
    }
    return l;
}

/* One item of the JSON listing: pretty, four spaces in, as a member of "items". */
static void
list_json_item(struct listing *l, struct json_object *it)
{
    const char *s = json_object_to_json_string_ext(
        it, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
    fputs(l->n == 0 ? "{\n  \"items\": [\n    " : ",\n    ", l->fp);
    /* a newline in the text is one between members: JSON escapes those in strings */
    for (; *s; s++) {
        fputc(*s, l->fp);
        if (*s == '\n')
            fputs("    ", l->fp);
    }
}

/* Print one page's items at once (nothing is kept but the table's widths). */
void
output_list_page(struct listing *l, struct json_object *items)
{
    size_t n = json_object_array_length(items);
    if (l->json) {
        for (size_t i = 0; i < n; i++, l->n++)
            list_json_item(l, json_object_array_get_idx(items, i));
    } else if (n > 0) {
        if (l->models == LIST_MODELS)
            list_models(l->t, items);
        else if (l->models == LIST_KEYS)
            list_keys(l->t, items);
        else
            list_creds(l->t, items);
        table_print(l->t, l->fp);
        l->n += n;
    }
    fflush(l->fp);
}

/* After the last page (or a failure): close the listing and free it. */
void
output_list_end(struct listing *l, int complete)
{
    if (l == NULL)
        return;
    if (complete && l->json && l->n == 0)
        fprintf(l->fp, "{\n  \"items\": [],\n  \"total\": 0\n}\n");
    else if (complete && l->json)
        fprintf(l->fp, "\n  ],\n  \"total\": %zu\n}\n", l->n);
    else if (complete && l->n == 0)
        fprintf(l->fp, "%s\n",
                l->models == LIST_MODELS ? "no models"
                : l->models == LIST_KEYS ? "no API keys"
                                         : "no credentials");
    else if (!complete && l->json && l->n > 0)
        fputc('\n', l->fp); /* the JSON stays unclosed: it is not the whole list */
    fflush(l->fp);
    table_free(l->t);
    free(l);
}
