/* SPDX-License-Identifier: Apache-2.0 */
/*
 * import_fuzzer.c: `aigwctl import --from aisix -f FILE` without the file:
 * the input is the export's bytes (etcd's range answer with base64 keys and
 * values, or an object {etcd key: value}; prefix /aisix), read by
 * aigwctl/import_read.c's import_parse and converted by
 * aigwctl/import_aisix.c's aisix_convert, as import_main does.
 *
 * Oracles: an input accepted is one JSON text (nothing after the object:
 * a second one would be left out unsaid); a refused one says why in one
 * line; every note and error has a message, and its resource, field and
 * message are UTF-8 (--json prints them) without a line break or another
 * control byte (import prints each as one line of stderr); aisix_convert
 * returns 0 exactly when it added no error. When the import succeeds (what
 * aigwctl writes): every document has a valid id or none, validates and
 * compiles as its kind; every credential's api_key is one of the provider
 * keys' secrets and every key_sha256 one of the key_hash values
 * (lowercased); and the file import writes (yaml_write) loads as aigw's
 * resources file (resfile_load_buffer, ${VAR} and all) without an error,
 * with the same entries: names, key hashes, secrets.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "aigw/errors.h"
#include "aigw/resfile.h"
#include "aigw/resource.h"
#include "aigw/utf8.h"
#include "aigw/yamljson.h"
#include "fuzz.h"
#include "import.h"
#include "log.h"

/* Once: logs (resource.c's) out of the way; no ${VAR} the output could name is set. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_init(0, LOG_LVL_ERROR, "import_fuzzer");
    log_open("/dev/null", "/dev/null", 0);
    return 0;
}

/* s is one line of text: UTF-8 (it goes into --json), no CR, LF or other control byte. */
static int
if_one_line(const char *s)
{
    if (!utf8_valid(s, strlen(s)))
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
            return 0;
    return 1;
}

/* p[0..n) is one JSON text, json-c's whole parse: nothing after it but white space. */
static int
if_one_text(const char *p, size_t n)
{
    struct json_tokener *tok = json_tokener_new();
    struct json_object *o = json_tokener_parse_ex(tok, p, (int)n);
    size_t end = json_tokener_get_parse_end(tok);
    int ok = json_tokener_get_error(tok) == json_tokener_success && o != NULL;
    while (ok && end < n && strchr(" \t\r\n", p[end]) != NULL && p[end] != '\0')
        end++;
    json_tokener_free(tok);
    json_object_put(o);
    return ok && end == n;
}

/* Every note or error: {resource, field, message}, each one line, the message not empty. */
static void
if_reports(struct json_object *list, const char *what)
{
    for (size_t i = 0; i < json_object_array_length(list); i++) {
        struct json_object *r = json_object_array_get_idx(list, i), *res, *f, *m;
        FUZZ_ASSERT(json_object_object_get_ex(r, "resource", &res) &&
                        json_object_object_get_ex(r, "field", &f) &&
                        json_object_object_get_ex(r, "message", &m),
                    "%s without resource, field or message", what);
        FUZZ_ASSERT(json_object_is_type(m, json_type_string) && json_object_get_string_len(m) > 0,
                    "%s without a message", what);
        FUZZ_ASSERT(if_one_line(json_object_get_string(m)),
                    "%s's message of several lines or not UTF-8: %s", what,
                    json_object_get_string(m));
        FUZZ_ASSERT(res == NULL || if_one_line(json_object_get_string(res)),
                    "%s's resource of several lines or not UTF-8: %s", what,
                    json_object_get_string(res));
        FUZZ_ASSERT(f == NULL || if_one_line(json_object_get_string(f)),
                    "%s's field of several lines or not UTF-8: %s", what,
                    json_object_get_string(f));
    }
}

/* Is s the string member name of one of o's values (an object of objects), lowercased if lower? */
static int
if_member_of(struct json_object *o, const char *name, const char *name2, const char *s, int lower)
{
    json_object_object_foreach(o, id, v)
    {
        (void)id;
        struct json_object *m = NULL;
        if (!json_object_object_get_ex(v, name, &m) &&
            (name2 == NULL || !json_object_object_get_ex(v, name2, &m)))
            continue;
        if (!json_object_is_type(m, json_type_string))
            continue;
        const char *t = json_object_get_string(m);
        if (!lower && strcmp(s, t) == 0)
            return 1;
        if (lower && strlen(t) == strlen(s)) {
            size_t i = 0;
            while (t[i] && tolower((unsigned char)t[i]) == s[i])
                i++;
            if (t[i] == '\0')
                return 1;
        }
    }
    return 0;
}

/* Each document of one kind: a valid id or none; it validates and compiles. */
static void
if_docs(struct imp *im, enum res_kind k, struct json_object *list)
{
    for (size_t i = 0; i < json_object_array_length(list); i++) {
        struct json_object *doc = json_object_array_get_idx(list, i), *copy = NULL, *v;
        const char *id = "imported";
        if (json_object_object_get_ex(doc, "id", &v)) {
            id = json_object_get_string(v);
            FUZZ_ASSERT(res_id_valid(id) == 0, "an invalid id %s", id);
        }
        FUZZ_ASSERT(json_object_deep_copy(doc, &copy, NULL) == 0, "deep copy");
        json_object_object_del(copy, "id");
        struct aigw_errors e;
        errors_init(&e, NULL);
        int rc = res_validate(k, copy, "", &e);
        char *why = errors_join(&e);
        FUZZ_ASSERT(rc == 0, "a %s written does not validate: %s", res_kind_name(k),
                    why ? why : "?");
        free(why);
        errors_free(&e);
        void *rec = NULL;
        size_t len;
        FUZZ_ASSERT(res_compile(k, id, copy, &rec, &len) == 0, "a %s written does not compile",
                    res_kind_name(k));
        free(rec);
        json_object_put(copy);
        /* what it carries was in the input */
        if (k == RES_CREDENTIAL && json_object_object_get_ex(doc, "api_key", &v))
            FUZZ_ASSERT(if_member_of(im->pkeys, "api_key", "secret", json_object_get_string(v), 0),
                        "a credential's api_key that no provider key holds");
        if (k == RES_API_KEY) {
            FUZZ_ASSERT(json_object_object_get_ex(doc, "key_sha256", &v),
                        "an API key without hash");
            FUZZ_ASSERT(if_member_of(im->keys, "key_hash", NULL, json_object_get_string(v), 1),
                        "a key_sha256 that no key_hash gave");
        }
    }
}

static int
if_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The member field of each of list's entries (an array as written, or an
 * object id -> entry as loaded) as JSON text, sorted, one a line: a new string.
 */
static char *
if_column(struct json_object *list, const char *field)
{
    int loaded = json_object_is_type(list, json_type_object);
    size_t n = loaded ? (size_t)json_object_object_length(list) : json_object_array_length(list);
    size_t i = 0, total = 1;
    char **s = calloc(n + 1, sizeof(*s));
    FUZZ_ASSERT(s != NULL, "calloc");
    if (loaded) {
        json_object_object_foreach(list, id, doc)
        {
            (void)id;
            s[i++] = strdup(json_object_to_json_string_ext(json_object_object_get(doc, field),
                                                           JSON_C_TO_STRING_PLAIN));
        }
    } else {
        for (; i < n; i++)
            s[i] = strdup(json_object_to_json_string_ext(
                json_object_object_get(json_object_array_get_idx(list, i), field),
                JSON_C_TO_STRING_PLAIN));
    }
    qsort(s, n, sizeof(*s), if_cmp);
    for (i = 0; i < n; i++)
        total += strlen(s[i]) + 1;
    char *out = malloc(total), *o = out;
    FUZZ_ASSERT(out != NULL, "malloc");
    for (i = 0; i < n; i++) {
        size_t l = strlen(s[i]);
        memcpy(o, s[i], l);
        o[l] = '\n';
        o += l + 1;
        free(s[i]);
    }
    *o = '\0';
    free(s);
    return out;
}

/* The file import writes, loaded back as aigw loads its resources file: the same entries. */
static void
if_reload(struct json_object *doc)
{
    static const char *const cols[RES_NKINDS][3] = {
        [RES_MODEL] = {"name", "model", "credential"},
        [RES_API_KEY] = {"name", "key_sha256", "allowed_models"},
        [RES_CREDENTIAL] = {"name", "api_key", "provider"},
    };
    char *text = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);
    FUZZ_ASSERT(fp != NULL, "open_memstream");
    yaml_write(fp, doc);
    fclose(fp);
    struct aigw_errors e;
    errors_init(&e, "imported.yaml");
    struct json_object *res = resfile_load_buffer(text, len, &e);
    char *why = errors_join(&e);
    FUZZ_ASSERT(res != NULL && e.n == 0, "aigw refuses the file import wrote: %s\n%s",
                why ? why : "?", text);
    free(why);
    errors_free(&e);
    for (int k = 0; k < RES_NKINDS; k++) {
        const char *kn = res_kind_name((enum res_kind)k);
        struct json_object *written = json_object_object_get(doc, kn);
        struct json_object *loaded = json_object_object_get(res, kn);
        FUZZ_ASSERT(json_object_array_length(written) == (size_t)json_object_object_length(loaded),
                    "%s: %zu written, %d loaded", kn, json_object_array_length(written),
                    json_object_object_length(loaded));
        for (int c = 0; c < 3; c++) {
            char *a = if_column(written, cols[k][c]), *b = if_column(loaded, cols[k][c]);
            FUZZ_ASSERT(strcmp(a, b) == 0, "%s' %s written:\n%sloaded:\n%s", kn, cols[k][c], a, b);
            free(a);
            free(b);
        }
    }
    json_object_put(res);
    free(text);
}

/* One input: an export's bytes. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 20)
        return 0;
    char *p = malloc(size + 1), err[512] = "";
    memcpy(p, data, size);
    p[size] = '\0';
    struct imp im;
    import_init(&im);
    int rc = import_parse(&im, "/aisix", p, size, err, sizeof(err));
    FUZZ_ASSERT(rc < 0 || if_one_text(p, size), "an input that is not one JSON text accepted");
    free(p);
    if (rc < 0) {
        FUZZ_ASSERT(err[0] != '\0' && if_one_line(err),
                    "a refusal of several lines or not UTF-8: %s", err);
        import_free(&im);
        return 0;
    }
    FUZZ_ASSERT(rc == 0, "import_parse: %d", rc);
    size_t before = json_object_array_length(im.errors);
    struct json_object *doc = json_object_new_object();
    rc = aisix_convert(&im, doc);
    FUZZ_ASSERT((rc == 0) == (json_object_array_length(im.errors) == before),
                "aisix_convert: %d with %zu errors added", rc,
                json_object_array_length(im.errors) - before);
    if_reports(im.notes, "a note");
    if_reports(im.errors, "an error");
    if (json_object_array_length(im.errors) == 0) {
        if_docs(&im, RES_CREDENTIAL, json_object_object_get(doc, "credentials"));
        if_docs(&im, RES_MODEL, json_object_object_get(doc, "models"));
        if_docs(&im, RES_API_KEY, json_object_object_get(doc, "api_keys"));
        if_reload(doc);
    }
    json_object_put(doc);
    import_free(&im);
    return 0;
}
