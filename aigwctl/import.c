/* SPDX-License-Identifier: Apache-2.0 */
/*
 * import.c: `aigwctl import --from aisix`: another gateway's resources,
 * read from its etcd (the v3 JSON API) or from a JSON export, written as an
 * aigw resources file (aigw-resources(5)) on stdout or -o FILE, with a
 * report of what has no equivalent on stderr (and in --json). Nothing is
 * written when a value cannot be imported: every such error is listed,
 * naming the resource and the field. The mapping is import_aisix.c's.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <openssl/evp.h>

#include "aigw/util.h"
#include "aigw/yamljson.h"
#include "aigwctl.h"
#include "import.h"
#include "aigw/utf8.h"

#define IMPORT_MAX_INPUT (256u << 20) /* an export or etcd's answer */
#define IMPORT_MAX_VALUE (1u << 20)   /* one resource */

struct opts {
    const char *from, *etcd, *prefix, *file, *out;
    int json;
    long timeout_s;
};

static void
import_usage(FILE *fp)
{
    fputs("usage: aigwctl import --from aisix (--etcd URL [--prefix P] | -f FILE)\n"
          "                      [--prefix P] [-o FILE] [--json] [--timeout SECONDS]\n"
          "  --from aisix     the gateway the resources come from (AISIX 0.x)\n"
          "  --etcd URL       its etcd (http:// or https://), read with the v3 JSON API\n"
          "  --prefix P       its etcd key prefix (default /aisix)\n"
          "  -f FILE          a JSON export instead: `etcdctl get --prefix P -w json`,\n"
          "                   or an object {etcd key: value}\n"
          "  -o FILE          write the resources file there (mode 0600; default stdout)\n"
          "  --json           print the result and the report as JSON\n"
          "See aigwctl(8).\n",
          fp);
}

/* A growing buffer, at most IMPORT_MAX_INPUT bytes. */
struct buf {
    char *p;
    size_t n, cap;
    int over;
};

static int
buf_add(struct buf *b, const void *p, size_t n)
{
    if (b->n + n + 1 > IMPORT_MAX_INPUT) {
        b->over = 1;
        return -1;
    }
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *q = realloc(b->p, cap);
        if (q == NULL)
            return -1;
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
    b->p[b->n] = '\0';
    return 0;
}

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
    return buf_add(arg, p, size * n) < 0 ? 0 : size * n;
}

/* Base64 (as etcd's JSON API writes keys and values) into a malloc'd buffer; NULL when bad. */
static unsigned char *
b64_decode(const char *s, size_t *len)
{
    size_t n = strlen(s);
    if (n % 4 != 0)
        return NULL;
    unsigned char *out = malloc(n / 4 * 3 + 1);
    if (out == NULL)
        return NULL;
    int w = n ? EVP_DecodeBlock(out, (const unsigned char *)s, (int)n) : 0;
    if (w < 0) {
        free(out);
        return NULL;
    }
    for (size_t i = n; i > 0 && s[i - 1] == '='; i--)
        w--;
    out[w] = '\0';
    *len = (size_t)w;
    return out;
}

static char *
b64_encode(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc((n + 2) / 3 * 4 + 1);
    if (out != NULL)
        EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n);
    return out;
}

static void report(struct json_object *list, const char *res, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
report(struct json_object *list, const char *res, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "resource", res ? json_object_new_string(res) : NULL);
    json_object_object_add(o, "field", NULL);
    json_object_object_add(o, "message", json_object_new_string(msg));
    json_object_array_add(list, o);
}

/* A value read as bytes: UTF-8 and strict JSON, else NULL (error added, naming res). */
static struct json_object *
parse_value(struct imp *im, const char *res, const char *p, size_t len)
{
    if (len > IMPORT_MAX_VALUE) {
        report(im->errors, res, "the value is larger than %u bytes", IMPORT_MAX_VALUE);
        return NULL;
    }
    if (!utf8_valid(p, len)) {
        report(im->errors, res, "the value is not valid UTF-8");
        return NULL;
    }
    struct json_tokener *tok = json_tokener_new_ex(64);
    struct json_object *v = NULL;
    if (tok != NULL && json_lexically_strict(p, len) == 0) {
        v = json_tokener_parse_ex(tok, p, (int)len);
        if (json_tokener_get_error(tok) != json_tokener_success || tok->char_offset != (int)len) {
            json_object_put(v);
            v = NULL;
        }
    }
    json_tokener_free(tok);
    if (v == NULL)
        report(im->errors, res, "the value is not JSON (nested at most 64 deep)");
    return v;
}

/*
 * One etcd key and its value into im: {prefix}/{kind}/{id} with kind
 * models, api_keys or provider_keys; other kinds are counted in others.
 */
static void
take(struct imp *im, const struct opts *o, struct json_object *others, const char *key, size_t klen,
     struct json_object *value)
{
    size_t plen = strlen(o->prefix);
    while (plen > 0 && o->prefix[plen - 1] == '/')
        plen--;
    char res[320];
    if (!utf8_valid(key, klen) || strlen(key) != klen) {
        report(im->errors, NULL, "an etcd key is not valid UTF-8 (or holds NUL)");
        json_object_put(value);
        return;
    }
    const char *rest = key + plen, *slash;
    if (strncmp(key, o->prefix, plen) != 0 || rest[0] != '/' ||
        (slash = strchr(rest + 1, '/')) == NULL || slash == rest + 1 || slash[1] == '\0') {
        report(im->notes, NULL, "etcd key \"%.200s\" is not {prefix}/{kind}/{id}: skipped", key);
        json_object_put(value);
        return;
    }
    char kind[64];
    snprintf(kind, sizeof(kind), "%.*s", (int)(slash - rest - 1 < 63 ? slash - rest - 1 : 63),
             rest + 1);
    const char *id = slash + 1;
    snprintf(res, sizeof(res), "%s/%.200s", kind, id);
    struct json_object *into = strcmp(kind, "models") == 0          ? im->models
                               : strcmp(kind, "api_keys") == 0      ? im->keys
                               : strcmp(kind, "provider_keys") == 0 ? im->pkeys
                                                                    : NULL;
    if (into == NULL) {
        struct json_object *n = NULL;
        int c = json_object_object_get_ex(others, kind, &n) ? json_object_get_int(n) : 0;
        json_object_object_add(others, kind, json_object_new_int(c + 1));
        json_object_put(value);
        return;
    }
    if (value == NULL)
        return; /* its error is told */
    if (!json_object_is_type(value, json_type_object)) {
        report(im->errors, res, "must be a JSON object, not %s",
               json_type_to_name(json_object_get_type(value)));
        json_object_put(value);
        return;
    }
    json_object_object_add(into, id, value);
}

/* etcd's range answer ({"kvs": [{key, value}]}, base64): every pair into im. */
static int
take_kvs(struct imp *im, const struct opts *o, struct json_object *others, struct json_object *kvs)
{
    for (size_t i = 0; i < json_object_array_length(kvs); i++) {
        struct json_object *kv = json_object_array_get_idx(kvs, i), *k = NULL, *v = NULL;
        size_t klen = 0, vlen = 0;
        unsigned char *key = NULL, *val = NULL;
        json_object_object_get_ex(kv, "key", &k);
        json_object_object_get_ex(kv, "value", &v);
        if (!json_object_is_type(k, json_type_string) ||
            (key = b64_decode(json_object_get_string(k), &klen)) == NULL) {
            report(im->errors, NULL, "kvs[%zu].key: must be base64, as etcd writes it", i);
            continue;
        }
        struct json_object *value = NULL;
        char res[256];
        snprintf(res, sizeof(res), "%.200s", utf8_valid((char *)key, klen) ? (char *)key : "?");
        if (v == NULL) {
            val = (unsigned char *)strdup("");
            vlen = 0;
        } else if (!json_object_is_type(v, json_type_string) ||
                   (val = b64_decode(json_object_get_string(v), &vlen)) == NULL) {
            report(im->errors, res, "kvs[%zu].value: must be base64, as etcd writes it", i);
        }
        if (val != NULL)
            value = parse_value(im, res, (char *)val, vlen);
        take(im, o, others, (char *)key, klen, value);
        free(key);
        free(val);
    }
    return 0;
}

/* etcd's v3 JSON API: every key under prefix, into b. 0, or -1 (told). */
static int
etcd_read(const struct opts *o, struct buf *b)
{
    char url[2048], errbuf[CURL_ERROR_SIZE] = "", prefix[1024];
    size_t plen = strlen(o->prefix);
    while (plen > 1 && o->prefix[plen - 1] == '/')
        plen--; /* /aisix/ is /aisix, as AISIX takes it */
    snprintf(prefix, sizeof(prefix), "%.*s/", (int)plen, o->prefix);
    /* range_end: the prefix with its last byte + 1 ('/' + 1 is '0') */
    char end[1024];
    snprintf(end, sizeof(end), "%.*s0", (int)plen, o->prefix);
    char *k = b64_encode(prefix), *e = b64_encode(end);
    struct json_object *req = json_object_new_object();
    json_object_object_add(req, "key", json_object_new_string(k ? k : ""));
    json_object_object_add(req, "range_end", json_object_new_string(e ? e : ""));
    free(k);
    free(e);
    size_t ul = strlen(o->etcd);
    snprintf(url, sizeof(url), "%.*s/v3/kv/range",
             (int)(ul > 0 && o->etcd[ul - 1] == '/' ? ul - 1 : ul), o->etcd);
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    long status = 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_COPYPOSTFIELDS, json_object_to_json_string(req));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, o->timeout_s);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    json_object_put(req);
    if (b->over) {
        ctl_err("import: etcd's answer is larger than %u bytes", IMPORT_MAX_INPUT);
        return -1;
    }
    if (rc != CURLE_OK) {
        ctl_err("import: etcd %s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
        return -1;
    }
    if (status != 200) {
        ctl_err("import: etcd %s answered HTTP %ld", url, status);
        return -1;
    }
    return 0;
}

static int
file_read(const char *path, struct buf *b)
{
    FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    char chunk[65536];
    size_t n;
    if (fp == NULL) {
        ctl_err("import: %s: %s", path, strerror(errno));
        return -1;
    }
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
        if (buf_add(b, chunk, n) < 0)
            break;
    int err = ferror(fp);
    if (fp != stdin)
        fclose(fp);
    if (b->over) {
        ctl_err("import: %s is larger than %u bytes", path, IMPORT_MAX_INPUT);
        return -1;
    }
    if (err) {
        ctl_err("import: %s: read error", path);
        return -1;
    }
    return 0;
}

/* The export or etcd's answer into im. 0, or -1 (told: not JSON). */
static int
load(struct imp *im, const struct opts *o, const char *from, struct buf *b,
     struct json_object *others)
{
    struct json_object *kvs = NULL, *top = NULL;
    if (b->p != NULL && utf8_valid(b->p, b->n) && json_lexically_strict(b->p, b->n) == 0)
        top = json_tokener_parse(b->p);
    if (top == NULL || !json_object_is_type(top, json_type_object)) {
        ctl_err("import: %s: not a JSON object (valid UTF-8): give etcd's range answer "
                "(etcdctl get --prefix P -w json) or an object {etcd key: value}",
                from);
        json_object_put(top);
        return -1;
    }
    if (json_object_object_get_ex(top, "kvs", &kvs) ||
        json_object_object_get_ex(top, "header", NULL)) {
        if (kvs != NULL && !json_object_is_type(kvs, json_type_array)) {
            ctl_err("import: %s: kvs must be a list", from);
            json_object_put(top);
            return -1;
        }
        if (kvs != NULL)
            take_kvs(im, o, others, kvs);
    } else {
        json_object_object_foreach(top, key, val)
        {
            struct json_object *v = json_object_get(val);
            if (json_object_is_type(val, json_type_string)) {
                /* a value kept as the text etcd holds */
                char res[256];
                snprintf(res, sizeof(res), "%.200s", key);
                json_object_put(v);
                v = parse_value(im, res, json_object_get_string(val),
                                (size_t)json_object_get_string_len(val));
            }
            take(im, o, others, key, strlen(key), v);
        }
    }
    json_object_put(top);
    return 0;
}

static void
print_list(struct json_object *list, const char *what)
{
    for (size_t i = 0; i < json_object_array_length(list); i++) {
        struct json_object *r = json_object_array_get_idx(list, i), *res, *f, *m;
        json_object_object_get_ex(r, "resource", &res);
        json_object_object_get_ex(r, "field", &f);
        json_object_object_get_ex(r, "message", &m);
        fprintf(stderr, "aigwctl: import: %s%s%s%s%s%s\n", what,
                res ? json_object_get_string(res) : "", res ? ": " : "",
                f ? json_object_get_string(f) : "", f ? ": " : "", json_object_get_string(m));
    }
}

/* The resources file to path (0600, whole or not at all) or stdout. 0 or -1 (told). */
static int
write_out(const char *path, const char *header, struct json_object *doc)
{
    if (path == NULL) {
        fputs(header, stdout);
        yaml_write(stdout, doc);
        return fflush(stdout) == 0 ? 0 : -1;
    }
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FILE *fp = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (fp == NULL) {
        ctl_err("import: %s: %s", tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    fputs(header, fp);
    yaml_write(fp, doc);
    if (fflush(fp) != 0 || fsync(fileno(fp)) != 0 || fclose(fp) != 0 || rename(tmp, path) != 0) {
        ctl_err("import: %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

enum { OPT_FROM = 256, OPT_ETCD, OPT_PREFIX, OPT_JSON, OPT_TIMEOUT };

static int
parse_opts(int argc, char **argv, struct opts *o)
{
    static const struct option long_opts[] = {
        {"from", required_argument, NULL, OPT_FROM},
        {"etcd", required_argument, NULL, OPT_ETCD},
        {"prefix", required_argument, NULL, OPT_PREFIX},
        {"file", required_argument, NULL, 'f'},
        {"output", required_argument, NULL, 'o'},
        {"json", no_argument, NULL, OPT_JSON},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    char *end;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":f:o:h", long_opts, NULL)) != -1) {
        switch (ch) {
        case OPT_FROM:
            o->from = optarg;
            break;
        case OPT_ETCD:
            o->etcd = optarg;
            break;
        case OPT_PREFIX:
            o->prefix = optarg;
            break;
        case 'f':
            o->file = optarg;
            break;
        case 'o':
            o->out = optarg;
            break;
        case OPT_JSON:
            o->json = 1;
            break;
        case OPT_TIMEOUT:
            o->timeout_s = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || o->timeout_s < 1 || o->timeout_s > 86400) {
                ctl_err("import: --timeout %s: give a whole number of seconds from 1 to 86400",
                        optarg);
                return -1;
            }
            break;
        case 'h':
            import_usage(stdout);
            exit(CTL_OK);
        case ':':
            ctl_err("import: %s needs a value", argv[optind - 1]);
            return -1;
        default:
            ctl_err("import: unknown option %s", argv[optind - 1]);
            return -1;
        }
    }
    if (optind != argc) {
        ctl_err("import: unexpected argument \"%s\"", argv[optind]);
        return -1;
    }
    if (o->from == NULL || strcmp(o->from, "aisix") != 0) {
        ctl_err("import: give --from aisix (the one gateway aigwctl imports from)");
        return -1;
    }
    if ((o->etcd != NULL) == (o->file != NULL)) {
        ctl_err("import: give either --etcd URL or -f FILE");
        return -1;
    }
    if (o->etcd != NULL && strncmp(o->etcd, "http://", 7) != 0 &&
        strncmp(o->etcd, "https://", 8) != 0) {
        ctl_err("import: --etcd %s: give an http:// or https:// URL", o->etcd);
        return -1;
    }
    if (o->prefix[0] != '/' || strlen(o->prefix) > 512) {
        ctl_err("import: --prefix %s: give an etcd key prefix such as /aisix", o->prefix);
        return -1;
    }
    return 0;
}

int
import_main(int argc, char **argv)
{
    struct opts o = {.prefix = "/aisix", .timeout_s = 30};
    struct imp im = {0};
    struct buf b = {0};
    char from[1200];
    if (parse_opts(argc, argv, &o) < 0) {
        import_usage(stderr);
        return CTL_USAGE;
    }
    if (o.etcd != NULL)
        snprintf(from, sizeof(from), "etcd %s, prefix %s", o.etcd, o.prefix);
    else
        snprintf(from, sizeof(from), "%s", o.file);
    if ((o.etcd != NULL ? etcd_read(&o, &b) : file_read(o.file, &b)) < 0) {
        free(b.p);
        return o.etcd != NULL ? CTL_UNREACHABLE : CTL_FAILED;
    }
    im.models = json_object_new_object();
    im.keys = json_object_new_object();
    im.pkeys = json_object_new_object();
    im.pkeys_used = json_object_new_object();
    im.creds = json_object_new_object();
    im.cred_names = json_object_new_object();
    im.notes = json_object_new_array();
    im.errors = json_object_new_array();
    struct json_object *others = json_object_new_object(), *doc = json_object_new_object();
    int rc = load(&im, &o, from, &b, others);
    free(b.p);
    if (rc == 0) {
        json_object_object_foreach(others, kind, n)
        {
            char res[128];
            snprintf(res, sizeof(res), "%.100s", kind);
            report(im.notes, res, "%d resource(s) of a kind aigw does not import: skipped",
                   json_object_get_int(n));
        }
        if (aisix_convert(&im, doc) < 0 || json_object_array_length(im.errors) > 0)
            rc = -1;
    }
    print_list(im.notes, "");
    print_list(im.errors, "error: ");
    struct json_object *models = NULL, *keys = NULL, *creds = NULL;
    json_object_object_get_ex(doc, "credentials", &creds);
    json_object_object_get_ex(doc, "models", &models);
    json_object_object_get_ex(doc, "api_keys", &keys);
    if (rc == 0) {
        char header[1400];
        snprintf(header, sizeof(header),
                 "# aigw resources imported from AISIX (%s) by aigwctl import.\n"
                 "# It holds provider API keys: keep it private. See aigw-resources(5).\n",
                 from);
        if (!o.json || o.out != NULL)
            rc = write_out(o.out, header, doc);
    } else if (json_object_array_length(im.errors) > 0) {
        ctl_err("import: %zu error(s): nothing written", json_object_array_length(im.errors));
    }
    if (o.json) {
        struct json_object *r = json_object_new_object();
        json_object_object_add(r, "ok", json_object_new_boolean(rc == 0));
        json_object_object_add(
            r, "models", json_object_new_int(models ? (int)json_object_array_length(models) : 0));
        json_object_object_add(r, "api_keys",
                               json_object_new_int(keys ? (int)json_object_array_length(keys) : 0));
        json_object_object_add(
            r, "credentials",
            json_object_new_int(creds ? (int)json_object_array_length(creds) : 0));
        json_object_object_add(r, "output", o.out ? json_object_new_string(o.out) : NULL);
        if (rc == 0 && o.out == NULL)
            json_object_object_add(r, "resources", json_object_get(doc));
        json_object_object_add(r, "notes", json_object_get(im.notes));
        json_object_object_add(r, "errors", json_object_get(im.errors));
        output_json(stdout, r);
        json_object_put(r);
    }
    json_object_put(doc);
    json_object_put(others);
    json_object_put(im.models);
    json_object_put(im.keys);
    json_object_put(im.pkeys);
    json_object_put(im.pkeys_used);
    json_object_put(im.creds);
    json_object_put(im.cred_names);
    json_object_put(im.notes);
    json_object_put(im.errors);
    return rc == 0 ? CTL_OK : CTL_FAILED;
}
