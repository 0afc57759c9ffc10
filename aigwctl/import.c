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

#include "aigw/yamljson.h"
#include "aigwctl.h"
#include "import.h"

#define IMPORT_MAX_INPUT (256u << 20) /* an export or etcd's answer */

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

static char *
b64_encode(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc((n + 2) / 3 * 4 + 1);
    if (out != NULL)
        EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n);
    return out;
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
    struct imp im;
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
    import_init(&im);
    struct json_object *doc = json_object_new_object();
    char err[512];
    int rc = import_parse(&im, o.prefix, b.p, b.n, err, sizeof(err));
    free(b.p);
    if (rc < 0)
        ctl_err("import: %s: %s", from, err);
    else if (aisix_convert(&im, doc) < 0 || json_object_array_length(im.errors) > 0)
        rc = -1;
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
    import_free(&im);
    return rc == 0 ? CTL_OK : CTL_FAILED;
}
