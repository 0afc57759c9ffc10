/* SPDX-License-Identifier: Apache-2.0 */
/*
 * admin.c: `aigwctl model ...` and `aigwctl key ...`, a client of the Admin
 * API (see aigw-admin(7)) over libcurl.
 *
 * The admin key goes in an Authorization header and nowhere else: never in
 * a message, never in the output. A generated API key is printed once, as
 * the Admin API returns it once.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "aigw/errors.h"
#include "aigw/yamljson.h"
#include "aigwctl.h"

/* The largest resource document aigwctl reads from -f or stdin (the API takes 1 MiB). */
#define DOC_MAX (4 * 1024 * 1024)
/* The largest answer kept: an aigw without pages answers a list of 100k keys whole. */
#define ANSWER_MAX (512u * 1024 * 1024)
/* Resources asked for at a time by list: the Admin API's largest page, fewest requests. */
#define LIST_PAGE 1000
/* The longest id (admin_valid_id). */
#define RES_ID_LEN 128

struct kind {
    const char *word;  /* on the command line */
    const char *path;  /* in the URL */
    const char *label; /* in messages */
};

static const struct kind kinds[] = {
    {"model", "models", "model"},
    {"key", "api_keys", "API key"},
    {"credential", "credentials", "credential"},
};

int
admin_valid_id(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > RES_ID_LEN)
        return 0;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-'))
            return 0;
    return 1;
}

/* libcurl hands the answer over piece by piece: keep it whole. */
static size_t
on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct answer *a = arg;
    size_t n = size * nmemb;
    if (a->len + n + 1 > ANSWER_MAX)
        return 0; /* curl reports a write error */
    if (a->len + n + 1 > a->cap) {
        size_t cap = a->cap ? a->cap : 16384;
        while (cap < a->len + n + 1)
            cap *= 2;
        char *nb = realloc(a->body, cap);
        if (nb == NULL)
            return 0;
        a->body = nb;
        a->cap = cap;
    }
    memcpy(a->body + a->len, ptr, n);
    a->len += n;
    a->body[a->len] = '\0';
    return n;
}

/* Free an answer and its parsed body. */
void
answer_free(struct answer *a)
{
    free(a->body);
    json_object_put(a->json);
    memset(a, 0, sizeof(*a));
}

/* Free a header list, wiping it first: one of them holds the admin key. */
static void
headers_free(struct curl_slist *h)
{
    for (struct curl_slist *p = h; p != NULL; p = p->next)
        explicit_bzero(p->data, strlen(p->data));
    curl_slist_free_all(h);
}

/*
 * One request. CTL_OK when aigw answered (whatever the status: see
 * a->status), CTL_UNREACHABLE when it could not be reached (printed).
 */
int
admin_request(const struct ctl *ctl, const char *method, const char *path, struct json_object *body,
              long long if_match, struct answer *a)
{
    char url[2048], hdr[1024], errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *h = NULL;
    int rc = CTL_FAILED;
    memset(a, 0, sizeof(*a));
    CURL *c = curl_easy_init();
    if (c == NULL) {
        ctl_err("cannot start libcurl");
        return CTL_FAILED;
    }
    snprintf(url, sizeof(url), "%s/admin/v1/%s", ctl->admin_url, path);
    if (ctl->admin_key != NULL) {
        snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", ctl->admin_key);
        h = curl_slist_append(h, hdr);
        explicit_bzero(hdr, sizeof(hdr));
    }
    if (if_match >= 0) {
        snprintf(hdr, sizeof(hdr), "If-Match: %lld", if_match);
        h = curl_slist_append(h, hdr);
    }
    h = curl_slist_append(h, "Accept: application/json");
    h = curl_slist_append(h, "Expect:");
    if (body != NULL) {
        h = curl_slist_append(h, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_COPYPOSTFIELDS,
                         json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN |
                                                                  JSON_C_TO_STRING_NOSLASHESCAPE));
    } else if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
        curl_easy_setopt(c, CURLOPT_COPYPOSTFIELDS, "");
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)ctl->timeout_s);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    /* HTTPS: the certificate and its name are checked (libcurl's defaults), against --ca-file */
    if (ctl->ca_file != NULL)
        curl_easy_setopt(c, CURLOPT_CAINFO, ctl->ca_file);
    if (ctl->cert_file != NULL)
        curl_easy_setopt(c, CURLOPT_SSLCERT, ctl->cert_file);
    if (ctl->key_file != NULL)
        curl_easy_setopt(c, CURLOPT_SSLKEY, ctl->key_file);
    CURLcode cr = curl_easy_perform(c);
    if (cr != CURLE_OK) {
        ctl_err("cannot reach the Admin API at %s: %s; is aigw running with admin.listen set? "
                "(systemctl status aigw) or pass --admin-url",
                ctl->admin_url, errbuf[0] ? errbuf : curl_easy_strerror(cr));
        rc = cr == CURLE_WRITE_ERROR || cr == CURLE_OUT_OF_MEMORY ? CTL_FAILED : CTL_UNREACHABLE;
        goto done;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->status);
    if (a->len > 0) {
        struct json_tokener *tok = json_tokener_new();
        a->json = json_tokener_parse_ex(tok, a->body, (int)a->len);
        if (json_tokener_get_error(tok) != json_tokener_success) {
            json_object_put(a->json);
            a->json = NULL;
        }
        json_tokener_free(tok);
    }
    rc = CTL_OK;
done:
    headers_free(h);
    curl_easy_cleanup(c);
    return rc;
}

/* What to do about an error code of the Admin API. */
static const char *
error_hint(const struct kind *k, const char *code, char *buf, size_t len, const char *id)
{
    if (strcmp(code, "missing_admin_key") == 0)
        return "the Admin API asks for an admin key: give it with --admin-key-file FILE or "
               "AIGW_ADMIN_KEY";
    if (strcmp(code, "invalid_admin_key") == 0)
        return "the admin key is not one of admin.keys in aigw.yaml; check --admin-key-file, "
               "AIGW_ADMIN_KEY or --admin-key";
    if (strcmp(code, "read_only_key") == 0)
        return "the admin key has the viewer role: use one with the admin role";
    if (strcmp(code, "address_not_allowed") == 0)
        return "this host's address is not in admin.allow of aigw.yaml: run aigwctl where it "
               "is, or add it";
    if (strcmp(code, "unknown_url") == 0)
        return "is --admin-url the Admin API of aigw, of the same release?";
    if (strcmp(code, "version_not_in_history") == 0)
        return "aigwctl history shows the versions the history holds (history.max_versions, "
               "history.max_size in aigw.yaml)";
    if (k != NULL && k->path[0] == '\0' &&
        (strcmp(code, "conflict") == 0 || strcmp(code, "revision_mismatch") == 0)) /* an apply */
        return "nothing was changed: see the plan with aigwctl apply --dry-run, then apply again";
    if (k == NULL && strcmp(code, "revision_mismatch") == 0)
        return "nothing was changed: the configuration changed meanwhile; look again "
               "(aigwctl history) and retry";
    if (k == NULL && strcmp(code, "conflict") == 0)
        return "nothing was changed: aigwctl diff shows what the rollback would restore";
    if (k == NULL || k->path[0] == '\0')
        goto generic;
    if (strcmp(code, "not_found") == 0) {
        snprintf(buf, len, "there is no %s with id %s: aigwctl %s list shows the ids", k->label,
                 id ? id : "(none)", k->word);
        return buf;
    }
    if (strcmp(code, "revision_mismatch") == 0) {
        snprintf(buf, len,
                 "the %s %s changed, or exists already: read it again (aigwctl %s get %s) and "
                 "retry",
                 k->label, id ? id : "", k->word, id ? id : "ID");
        return buf;
    }
    if (strcmp(code, "conflict") == 0) {
        snprintf(buf, len, "another %s has it: aigwctl %s list shows them", k->label, k->word);
        return buf;
    }
generic:
    if (strcmp(code, "file_owned") == 0)
        return "nothing was changed: edit the resources file that aigw.yaml names "
               "(resources), then aigwctl reload";
    if (strcmp(code, "invalid_resource") == 0 || strcmp(code, "invalid_json") == 0)
        return "fix the document (see aigw-resources(5)) and try again";
    if (strcmp(code, "masked_secret") == 0)
        return "give the provider's api_key in full, or, for an existing model or credential, the "
               "masked value that get shows";
    if (strcmp(code, "credential_in_use") == 0)
        return "change or delete the models the message names first (aigwctl model update ID)";
    if (strcmp(code, "credential_not_found") == 0)
        return "create the credential first (aigwctl credential create -f FILE)";
    if (strcmp(code, "store_unavailable") == 0)
        return "nothing was changed: try again when etcd answers (aigwctl status)";
    if (strcmp(code, "etcd_identity_mismatch") == 0)
        return "nothing was changed: etcd is not the cluster (or revision) this node's table "
               "came from; see aigwctl status, and aigw(8) on aigwctl etcd accept";
    if (strcmp(code, "write_outcome_unknown") == 0) {
        snprintf(buf, len,
                 "the change may or may not be applied: once etcd answers (aigwctl status), "
                 "read it back with aigwctl %s get %s",
                 k->word, id ? id : "ID");
        return buf;
    }
    return NULL;
}

/*
 * An unknown outcome may have put a generated key in force: print it, as a
 * success would, so that its holder is never locked out.
 */
static void
show_unknown_key(const struct ctl *ctl, struct answer *a)
{
    struct json_object *val = NULL, *key = NULL;
    json_object_object_get_ex(a->json, "value", &val);
    json_object_object_get_ex(val, "key", &key);
    if (ctl->json)
        output_json(stdout, a->json);
    else if (key != NULL)
        printf("key: %s\n", json_object_get_string(key));
    if (key != NULL)
        ctl_err("the key above is in force if the change was applied; if not, the old key "
                "still works");
}

/* Print an error answer (status >= 300) with what to do; returns CTL_FAILED. */
static int
admin_error(const struct ctl *ctl, const struct kind *k, const char *id, struct answer *a)
{
    struct json_object *err = NULL, *det = NULL;
    char buf[512];
    if (a->json == NULL || !json_object_object_get_ex(a->json, "error", &err) ||
        !json_object_is_type(err, json_type_object)) {
        ctl_err("the Admin API at %s answered HTTP %ld without an error in JSON; is it the "
                "Admin API of aigw? check admin.listen or --admin-url",
                ctl->admin_url, a->status);
        return CTL_FAILED;
    }
    const char *code = output_str(err, "code");
    if (strcmp(code, "write_outcome_unknown") == 0) {
        show_unknown_key(ctl, a);
        if (id == NULL)
            id = output_str(a->json, "id");
    }
    ctl_err("%s (HTTP %ld, %s)", output_str(err, "message"), a->status, code);
    /* every error of the document, unless the message already is the only one */
    if (json_object_object_get_ex(err, "details", &det) &&
        json_object_is_type(det, json_type_array))
        for (size_t i = 0; i < json_object_array_length(det); i++) {
            const char *d = json_object_get_string(json_object_array_get_idx(det, i));
            if (d != NULL && strcmp(d, output_str(err, "message")) != 0)
                fprintf(stderr, "  %s\n", d);
        }
    const char *hint = error_hint(k, code, buf, sizeof(buf), id);
    if (hint == NULL && a->status >= 500)
        hint = "nothing was changed: see the log of aigw, and try again";
    else if (hint == NULL)
        hint = "see aigw-admin(7) for what the Admin API takes";
    ctl_err("%s", hint);
    return CTL_FAILED;
}

/* CTL_OK when the answer has a status in [lo, hi] and is a JSON object; else print why. */
static int
expect(const struct ctl *ctl, const struct kind *k, const char *id, struct answer *a, long lo,
       long hi)
{
    if (a->status < lo || a->status > hi)
        return admin_error(ctl, k, id, a);
    if (a->json == NULL || !json_object_is_type(a->json, json_type_object)) {
        ctl_err("the Admin API at %s answered HTTP %ld without a JSON object; is it the Admin "
                "API of aigw? check admin.listen or --admin-url",
                ctl->admin_url, a->status);
        return CTL_FAILED;
    }
    return CTL_OK;
}

/* Read all of stdin; NULL with the error printed. */
static char *
read_stdin(size_t *len)
{
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        if (n + 1 >= cap) {
            char *nb = cap >= DOC_MAX ? NULL : realloc(buf, cap * 2);
            if (nb == NULL) {
                ctl_err("standard input is larger than %d MiB: give one resource (the Admin "
                        "API takes at most 1 MiB)",
                        DOC_MAX / 1024 / 1024);
                free(buf);
                return NULL;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(STDIN_FILENO, buf + n, cap - n - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            ctl_err("reading standard input: %s", strerror(errno));
            free(buf);
            return NULL;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if (buf != NULL)
        buf[n] = '\0';
    *len = n;
    return buf;
}

/*
 * The resource to send, from -f FILE or stdin, YAML or JSON, with ${VAR}
 * replaced. Takes three shapes: the value itself; the value with an "id"
 * (an entry of the resources file); or what `get --json` prints, {"id",
 * "value", "revision"}, whose revision then guards the write. *id and *rev
 * are set when the document has them.
 */
static struct json_object *
load_doc(const struct ctl *ctl, const struct kind *k, char **id, long long *rev, int *rc)
{
    struct aigw_errors e;
    struct json_object *doc = NULL, *v;
    int from_stdin = ctl->file == NULL || strcmp(ctl->file, "-") == 0;
    *rc = CTL_FAILED;
    if (from_stdin && isatty(STDIN_FILENO)) {
        ctl_err("give the %s with -f FILE (YAML or JSON), or on standard input", k->label);
        *rc = CTL_USAGE;
        return NULL;
    }
    errors_init(&e, from_stdin ? "stdin" : ctl->file);
    if (from_stdin) {
        size_t len;
        char *buf = read_stdin(&len);
        if (buf == NULL)
            return NULL;
        doc = yaml_load_buffer(buf, len, YAML_SUBST_ENV, &e);
        free(buf);
    } else {
        doc = yaml_load_file(ctl->file, YAML_SUBST_ENV, &e);
    }
    if (doc == NULL || e.n > 0 || !json_object_is_type(doc, json_type_object)) {
        for (int i = 0; i < e.n; i++)
            fprintf(stderr, "%s\n", e.msgs[i]);
        if (doc != NULL && e.n == 0)
            ctl_err("%s: the %s must be a mapping (YAML) or an object (JSON)",
                    from_stdin ? "stdin" : ctl->file, k->label);
        else
            ctl_err("fix %s and try again", from_stdin ? "the document" : ctl->file);
        errors_free(&e);
        json_object_put(doc);
        return NULL;
    }
    errors_free(&e);
    int wrapped =
        json_object_object_get_ex(doc, "value", &v) && json_object_is_type(v, json_type_object);
    json_object_object_foreach(doc, key, val)
    {
        (void)val;
        if (strcmp(key, "id") != 0 && strcmp(key, "value") != 0 && strcmp(key, "revision") != 0)
            wrapped = 0;
    }
    if (json_object_object_get_ex(doc, "id", &v) && json_object_is_type(v, json_type_string))
        *id = strdup(json_object_get_string(v));
    if (wrapped) {
        struct json_object *r;
        if (json_object_object_get_ex(doc, "revision", &r) && json_object_is_type(r, json_type_int))
            *rev = json_object_get_int64(r);
        struct json_object *inner = json_object_get(json_object_object_get(doc, "value"));
        json_object_put(doc);
        doc = inner;
    } else {
        json_object_object_del(doc, "id");
    }
    *rc = CTL_OK;
    return doc;
}

/* Show one resource: {"id", "value", "revision"}. */
static void
show_item(const struct ctl *ctl, const struct kind *k, struct json_object *it)
{
    if (ctl->json) {
        output_json(stdout, it);
        return;
    }
    printf("# %s %s, revision %s\n", k->label, output_str(it, "id"), output_str(it, "revision"));
    output_yaml(stdout, json_object_object_get(it, "value"));
}

/*
 * After a write: one line for people, or the answer for scripts. A key
 * generated by aigw is printed once, here, and never again.
 */
static void
show_written(const struct ctl *ctl, const struct kind *k, const char *verb, struct json_object *it)
{
    struct json_object *val = NULL, *key = NULL;
    json_object_object_get_ex(it, "value", &val);
    json_object_object_get_ex(val, "key", &key);
    if (ctl->json) {
        output_json(stdout, it);
    } else {
        printf("%s %s %s (name %s, revision %s)\n", verb, k->label, output_str(it, "id"),
               output_str(val, "name"), output_str(it, "revision"));
        if (key != NULL)
            printf("key: %s\n", json_object_get_string(key));
    }
    if (key != NULL && !ctl->json)
        fprintf(stderr, "aigwctl: the key is shown only now: aigw keeps its SHA-256 only\n");
}

/*
 * One page of a list: its items, and in *next the id the next page comes
 * after ("" on the last page). An aigw without pages answers everything
 * without has_more: that is the last page. Each next id must come after
 * the previous one, so a list always ends.
 */
static int
list_page(const struct ctl *ctl, const struct kind *k, const char *after, struct answer *a,
          struct json_object **items, char *next, size_t nextlen)
{
    char path[256];
    struct json_object *more = NULL, *last = NULL;
    snprintf(path, sizeof(path), "%s?limit=%d%s%s", k->path,
             ctl->page_size > 0 ? ctl->page_size : LIST_PAGE, after[0] ? "&after=" : "", after);
    int rc = admin_request(ctl, "GET", path, NULL, -1, a);
    if (rc == CTL_OK)
        rc = expect(ctl, k, NULL, a, 200, 200);
    if (rc != CTL_OK)
        return rc;
    if (!json_object_object_get_ex(a->json, "items", items) ||
        !json_object_is_type(*items, json_type_array)) {
        ctl_err("the Admin API answered without \"items\"; is it aigw of the same release?");
        return CTL_FAILED;
    }
    next[0] = '\0';
    if (!json_object_object_get_ex(a->json, "has_more", &more))
        return CTL_OK; /* an aigw without pages: everything came */
    if (!json_object_is_type(more, json_type_boolean)) {
        ctl_err("the Admin API answered a has_more that is not true or false; is it aigw of the "
                "same release?");
        return CTL_FAILED;
    }
    if (!json_object_get_boolean(more))
        return CTL_OK;
    const char *id = json_object_object_get_ex(a->json, "last_id", &last) &&
                             json_object_is_type(last, json_type_string)
                         ? json_object_get_string(last)
                         : "";
    if (!admin_valid_id(id) || strcmp(id, after) <= 0 || strlen(id) >= nextlen) {
        ctl_err("the Admin API answered has_more without a last_id after \"%s\": the list "
                "would not advance; is it aigw of the same release?",
                after);
        return CTL_FAILED;
    }
    snprintf(next, nextlen, "%s", id);
    return CTL_OK;
}

/*
 * list: every resource of the kind, asked for page by page (aigw-admin(7),
 * PAGINATION) and printed as each page comes, so that 100,000 keys never
 * sit in one answer, in aigw or here.
 */
static int
do_list(const struct ctl *ctl, const struct kind *k)
{
    char after[RES_ID_LEN + 1] = "", next[RES_ID_LEN + 1];
    struct listing *out = output_list_begin(stdout, ctl->json,
                                            k == &kinds[0]   ? LIST_MODELS
                                            : k == &kinds[1] ? LIST_KEYS
                                                             : LIST_CREDENTIALS);
    int rc = out != NULL ? CTL_OK : CTL_FAILED;
    while (rc == CTL_OK) {
        struct answer a;
        struct json_object *items = NULL;
        rc = list_page(ctl, k, after, &a, &items, next, sizeof(next));
        if (rc == CTL_OK)
            output_list_page(out, items);
        answer_free(&a);
        if (rc != CTL_OK || next[0] == '\0')
            break;
        memcpy(after, next, sizeof(after));
    }
    output_list_end(out, rc == CTL_OK);
    return rc;
}

/* GET one resource into a (which the caller frees). */
static int
fetch(const struct ctl *ctl, const struct kind *k, const char *id, struct answer *a)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", k->path, id);
    int rc = admin_request(ctl, "GET", path, NULL, -1, a);
    if (rc == CTL_OK)
        rc = expect(ctl, k, id, a, 200, 200);
    return rc;
}

/* get ID: one resource, as YAML for people or JSON for scripts. */
static int
do_get(const struct ctl *ctl, const struct kind *k, const char *id)
{
    struct answer a;
    int rc = fetch(ctl, k, id, &a);
    if (rc == CTL_OK)
        show_item(ctl, k, a.json);
    answer_free(&a);
    return rc;
}

/* create [ID]: POST (aigw picks the id), or PUT with If-Match: 0 (create only). */
static int
do_create(const struct ctl *ctl, const struct kind *k, const char *arg_id)
{
    char *doc_id = NULL, path[256];
    long long rev = -1;
    struct answer a = {0};
    int rc;
    struct json_object *doc = load_doc(ctl, k, &doc_id, &rev, &rc);
    if (doc == NULL)
        goto done;
    const char *id = arg_id ? arg_id : doc_id;
    if (arg_id && doc_id && strcmp(arg_id, doc_id) != 0) {
        ctl_err("the id on the command line (%s) is not the id in the document (%s): give one",
                arg_id, doc_id);
        rc = CTL_USAGE;
        goto done;
    }
    if (id != NULL && !admin_valid_id(id)) {
        ctl_err("\"%s\" is not a valid id: 1 to 128 of A-Z a-z 0-9 . _ -", id);
        rc = CTL_USAGE;
        goto done;
    }
    if (id != NULL) {
        snprintf(path, sizeof(path), "%s/%s", k->path, id);
        rc = admin_request(ctl, "PUT", path, doc, 0, &a);
    } else {
        rc = admin_request(ctl, "POST", k->path, doc, -1, &a);
    }
    if (rc == CTL_OK && id != NULL && a.status == 412) {
        ctl_err("a %s with id %s exists already: use aigwctl %s update %s", k->label, id, k->word,
                id);
        rc = CTL_FAILED;
        goto done;
    }
    if (rc == CTL_OK)
        rc = expect(ctl, k, id, &a, 200, 201);
    if (rc == CTL_OK)
        show_written(ctl, k, "created", a.json);
done:
    answer_free(&a);
    json_object_put(doc);
    free(doc_id);
    return rc;
}

/*
 * update ID: replace the resource, only if it exists and nobody changed it
 * since its revision was read: --revision, the document's own revision, or
 * the one read here. An API key sent without key or key_sha256 keeps its key
 * (the API would generate a new one: that is what rotate is for).
 */
static int
do_update(const struct ctl *ctl, const struct kind *k, const char *id)
{
    char *doc_id = NULL, path[256];
    long long rev = -1;
    struct answer cur = {0}, a = {0};
    int rc;
    struct json_object *doc = load_doc(ctl, k, &doc_id, &rev, &rc), *cv = NULL, *h;
    if (doc == NULL)
        goto done;
    if (doc_id && strcmp(id, doc_id) != 0) {
        ctl_err("the id on the command line (%s) is not the id in the document (%s)", id, doc_id);
        rc = CTL_USAGE;
        goto done;
    }
    if (ctl->revision >= 0)
        rev = ctl->revision;
    int need_hash = k == &kinds[1] && !json_object_object_get_ex(doc, "key", NULL) &&
                    !json_object_object_get_ex(doc, "key_sha256", NULL) &&
                    !json_object_object_get_ex(doc, "jwt", NULL); /* a JWT binding has none */
    if (rev < 0 || need_hash) {
        rc = fetch(ctl, k, id, &cur);
        if (rc != CTL_OK)
            goto done;
        if (rev < 0)
            rev = json_object_get_int64(json_object_object_get(cur.json, "revision"));
        json_object_object_get_ex(cur.json, "value", &cv);
        if (need_hash && json_object_object_get_ex(cv, "key_sha256", &h))
            json_object_object_add(doc, "key_sha256", json_object_get(h));
    }
    snprintf(path, sizeof(path), "%s/%s", k->path, id);
    rc = admin_request(ctl, "PUT", path, doc, rev, &a);
    if (rc == CTL_OK)
        rc = expect(ctl, k, id, &a, 200, 201);
    if (rc == CTL_OK)
        show_written(ctl, k, "updated", a.json);
done:
    answer_free(&cur);
    answer_free(&a);
    json_object_put(doc);
    free(doc_id);
    return rc;
}

/* delete ID, conditional with --revision. */
static int
do_delete(const struct ctl *ctl, const struct kind *k, const char *id)
{
    char path[256];
    struct answer a;
    snprintf(path, sizeof(path), "%s/%s", k->path, id);
    int rc = admin_request(ctl, "DELETE", path, NULL, ctl->revision, &a);
    if (rc == CTL_OK)
        rc = expect(ctl, k, id, &a, 200, 200);
    if (rc == CTL_OK && ctl->json)
        output_json(stdout, a.json);
    else if (rc == CTL_OK)
        printf("deleted %s %s (revision %s)\n", k->label, id, output_str(a.json, "revision"));
    answer_free(&a);
    return rc;
}

/* key rotate ID: a new generated key, printed once. */
static int
do_rotate(const struct ctl *ctl, const struct kind *k, const char *id)
{
    char path[256];
    struct answer a;
    snprintf(path, sizeof(path), "%s/%s/rotate", k->path, id);
    int rc = admin_request(ctl, "POST", path, NULL, -1, &a);
    if (rc == CTL_OK)
        rc = expect(ctl, k, id, &a, 200, 200);
    if (rc == CTL_OK)
        show_written(ctl, k, "rotated", a.json);
    answer_free(&a);
    return rc;
}

/* The verbs: name, arguments (min, max), whether -f and --revision apply. */
static const struct verb {
    const char *name;
    int min, max;
    int file, revision;
} verbs[] = {
    {"list", 0, 0, 0, 0},   {"get", 1, 1, 0, 0},    {"create", 0, 1, 1, 0},
    {"update", 1, 1, 1, 1}, {"delete", 1, 1, 0, 1}, {"rotate", 1, 1, 0, 0},
};

int
admin_main(const struct ctl *ctl, const char *word, int argc, char **argv)
{
    const struct kind *k = strcmp(word, "model") == 0 ? &kinds[0]
                           : strcmp(word, "key") == 0 ? &kinds[1]
                                                      : &kinds[2];
    const struct verb *v = NULL;
    if (argc < 1) {
        ctl_err("%s needs a command: list, get, create, update, delete%s", k->word,
                k == &kinds[1] ? ", rotate" : "");
        return CTL_USAGE;
    }
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
        if (strcmp(argv[0], verbs[i].name) == 0)
            v = &verbs[i];
    if (v == NULL || (k != &kinds[1] && strcmp(v->name, "rotate") == 0)) {
        ctl_err("unknown command \"%s %s\": %s takes list, get, create, update, delete%s", k->word,
                argv[0], k->word, k == &kinds[1] ? ", rotate" : " (rotate is for keys)");
        return CTL_USAGE;
    }
    if (argc - 1 < v->min || argc - 1 > v->max) {
        ctl_err("%s %s takes %s", k->word, v->name,
                v->max == 0   ? "no argument"
                : v->min == 0 ? "an optional ID"
                              : "one ID");
        return CTL_USAGE;
    }
    if (ctl->file != NULL && !v->file) {
        ctl_err("-f is for create and update only");
        return CTL_USAGE;
    }
    if (ctl->revision >= 0 && !v->revision) {
        ctl_err("--revision is for update and delete only");
        return CTL_USAGE;
    }
    if (ctl->page_size > 0 && strcmp(v->name, "list") != 0) {
        ctl_err("--page-size is for list only");
        return CTL_USAGE;
    }
    const char *id = argc > 1 ? argv[1] : NULL;
    if (id != NULL && !admin_valid_id(id)) {
        ctl_err("\"%s\" is not a valid id: 1 to 128 of A-Z a-z 0-9 . _ -", id);
        return CTL_USAGE;
    }
    if (ctl->admin_url[0] == '\0') {
        ctl_err("the Admin API is off: admin.listen is empty in %s; set it, or pass "
                "--admin-url URL",
                ctl->conf_path);
        return CTL_UNREACHABLE;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        ctl_err("cannot start libcurl");
        return CTL_FAILED;
    }
    int rc;
    if (strcmp(v->name, "list") == 0)
        rc = do_list(ctl, k);
    else if (strcmp(v->name, "get") == 0)
        rc = do_get(ctl, k, id);
    else if (strcmp(v->name, "create") == 0)
        rc = do_create(ctl, k, id);
    else if (strcmp(v->name, "update") == 0)
        rc = do_update(ctl, k, id);
    else if (strcmp(v->name, "delete") == 0)
        rc = do_delete(ctl, k, id);
    else
        rc = do_rotate(ctl, k, id);
    curl_global_cleanup();
    return rc;
}

/* expect() for the commands that are about no resource (history, diff, rollback). */
int
admin_expect(const struct ctl *ctl, struct answer *a, long lo, long hi)
{
    return expect(ctl, NULL, NULL, a, lo, hi);
}

int
admin_print_error(const struct ctl *ctl, struct answer *a)
{
    static const struct kind res = {"apply", "", "resource"};
    return admin_error(ctl, &res, NULL, a);
}
