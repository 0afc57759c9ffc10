/* SPDX-License-Identifier: Apache-2.0 */
/*
 * history.c: `aigwctl history`, `aigwctl diff` and `aigwctl rollback`, over
 * the Admin API (GET /admin/v1/history, GET /admin/v1/history/V/diff,
 * POST /admin/v1/rollback; see aigw-admin(7)). Documents come masked from
 * the Admin API: no secret is ever printed.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "aigwctl.h"

#define HISTORY_DEFAULT 20
#define HISTORY_PAGE 1000 /* the Admin API's largest page */

/* A version given on the command line; -1 when it is not one. */
static long long
parse_version(const char *s)
{
    long long v = 0;
    size_t i;
    for (i = 0; s[i] >= '0' && s[i] <= '9' && i < 18; i++)
        v = v * 10 + (s[i] - '0');
    return i > 0 && s[i] == '\0' ? v : -1;
}

/* "2026-12-07 21:40:01Z" from Unix milliseconds. */
static void
fmt_time(char *buf, size_t len, long long ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(buf, len, "%Y-%m-%d %H:%M:%SZ", &tm) == 0)
        snprintf(buf, len, "%lld", ms);
}

/* Who made a version: "file:PATH", "admin:KEY", "etcd@REV", with "rollback to V". */
static void
fmt_source(char *buf, size_t len, struct json_object *it)
{
    struct json_object *v;
    const char *src = output_str(it, "source");
    int n;
    if (json_object_object_get_ex(it, "admin_key", &v))
        n = snprintf(buf, len, "admin:%s", json_object_get_string(v));
    else if (json_object_object_get_ex(it, "file", &v))
        n = snprintf(buf, len, "file:%s", json_object_get_string(v));
    else if (json_object_object_get_ex(it, "etcd_revision", &v))
        n = snprintf(buf, len, "%s@%s", src, json_object_get_string(v));
    else
        n = snprintf(buf, len, "%s", src);
    if (n >= 0 && (size_t)n < len && json_object_object_get_ex(it, "rollback_of", &v))
        snprintf(buf + n, len - (size_t)n, " (rollback to %s)", json_object_get_string(v));
}

/* "update models/m1, delete api_keys/k2" (the first few, then how many more). */
static void
fmt_changes(char *buf, size_t len, struct json_object *it)
{
    struct json_object *ch = NULL;
    size_t at = 0, n;
    buf[0] = '\0';
    json_object_object_get_ex(it, "changes", &ch);
    n = json_object_array_length(ch);
    if (n == 0) {
        snprintf(buf, len, "-");
        return;
    }
    for (size_t i = 0; i < n && at < len; i++) {
        struct json_object *c = json_object_array_get_idx(ch, i);
        int w = i >= 3 ? snprintf(buf + at, len - at, ", %zu more", n - i)
                       : snprintf(buf + at, len - at, "%s%s %s/%s", i ? ", " : "",
                                  output_str(c, "op"), output_str(c, "kind"), output_str(c, "id"));
        if (w < 0)
            break;
        at += (size_t)w;
        if (i >= 3)
            break;
    }
}

/* aigwctl history [--limit N]: newest first, page by page as the Admin API gives it. */
static int
do_history(const struct ctl *ctl)
{
    static const char *const hdr[] = {"VERSION", "TIME", "SOURCE", "CHANGES"};
    long long want = ctl->limit > 0 ? ctl->limit : HISTORY_DEFAULT, got = 0;
    char path[128], after[32] = "";
    struct table *t = ctl->json ? NULL : table_new(4, hdr);
    struct json_object *all = json_object_new_array(), *first = NULL;
    int rc = CTL_OK;
    while (got < want) {
        struct answer a;
        long long page = want - got > HISTORY_PAGE ? HISTORY_PAGE : want - got;
        snprintf(path, sizeof(path), "history?limit=%lld%s%s", page, after[0] ? "&after=" : "",
                 after);
        if ((rc = admin_request(ctl, "GET", path, NULL, -1, &a)) != CTL_OK ||
            (rc = admin_expect(ctl, &a, 200, 200)) != CTL_OK) {
            answer_free(&a);
            break;
        }
        struct json_object *items = NULL, *more = NULL;
        json_object_object_get_ex(a.json, "items", &items);
        json_object_object_get_ex(a.json, "has_more", &more);
        if (first == NULL)
            first = json_object_get(a.json);
        for (size_t i = 0; i < json_object_array_length(items); i++) {
            struct json_object *it = json_object_array_get_idx(items, i);
            char tm[32], src[512], ch[512];
            fmt_time(tm, sizeof(tm), json_object_get_int64(json_object_object_get(it, "time_ms")));
            fmt_source(src, sizeof(src), it);
            fmt_changes(ch, sizeof(ch), it);
            const char *row[] = {output_str(it, "version"), tm, src, ch};
            if (t != NULL)
                table_add(t, row);
            json_object_array_add(all, json_object_get(it));
            got++;
        }
        snprintf(after, sizeof(after), "%s", output_str(a.json, "last_version"));
        int done = !json_object_get_boolean(more) || json_object_array_length(items) == 0;
        answer_free(&a);
        if (done)
            break;
    }
    if (rc == CTL_OK && ctl->json) {
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "current_version",
                               json_object_get(json_object_object_get(first, "current_version")));
        json_object_object_add(o, "oldest_version",
                               json_object_get(json_object_object_get(first, "oldest_version")));
        json_object_object_add(o, "items", json_object_get(all));
        output_json(stdout, o);
        json_object_put(o);
    } else if (rc == CTL_OK) {
        table_print(t, stdout);
        printf("current version %s; the history reaches back to version %s\n",
               output_str(first, "current_version"), output_str(first, "oldest_version"));
    }
    if (t != NULL)
        table_free(t);
    json_object_put(all);
    json_object_put(first);
    return rc;
}

/* One member of a document as "    - name: value" (JSON value, masked as the API gave it). */
static void
print_member(char sign, const char *name, struct json_object *v)
{
    printf("    %c %s: %s\n", sign, name,
           v ? json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
                                                     JSON_C_TO_STRING_NOSLASHESCAPE)
             : "(absent)");
}

/* One changed resource, for people. */
static void
print_change(struct json_object *c)
{
    struct json_object *b = NULL, *a = NULL, *f = NULL, *v;
    const char *op = output_str(c, "op");
    json_object_object_get_ex(c, "before", &b);
    json_object_object_get_ex(c, "after", &a);
    json_object_object_get_ex(c, "fields", &f);
    char sign = strcmp(op, "added") == 0 ? '+' : strcmp(op, "removed") == 0 ? '-' : '~';
    printf("%c %s/%s (%s)\n", sign, output_str(c, "kind"), output_str(c, "id"), op);
    if (sign != '~') {
        json_object_object_foreach(sign == '+' ? a : b, k, val) print_member(sign, k, val);
        return;
    }
    for (size_t i = 0; i < json_object_array_length(f); i++) {
        const char *k = json_object_get_string(json_object_array_get_idx(f, i));
        print_member('-', k, json_object_object_get_ex(b, k, &v) ? v : NULL);
        print_member('+', k, json_object_object_get_ex(a, k, &v) ? v : NULL);
    }
}

/* aigwctl diff V1 [V2] */
static int
do_diff(const struct ctl *ctl, long long v1, long long v2)
{
    char path[128];
    struct answer a;
    struct json_object *ch = NULL;
    if (v2 >= 0)
        snprintf(path, sizeof(path), "history/%lld/diff?to=%lld", v1, v2);
    else
        snprintf(path, sizeof(path), "history/%lld/diff", v1);
    int rc = admin_request(ctl, "GET", path, NULL, -1, &a);
    if (rc == CTL_OK && (rc = admin_expect(ctl, &a, 200, 200)) == CTL_OK) {
        if (ctl->json) {
            output_json(stdout, a.json);
        } else {
            json_object_object_get_ex(a.json, "changes", &ch);
            printf("--- version %s\n+++ version %s%s\n", output_str(a.json, "from"),
                   output_str(a.json, "to"), v2 < 0 ? " (current)" : "");
            for (size_t i = 0; i < json_object_array_length(ch); i++)
                print_change(json_object_array_get_idx(ch, i));
            if (json_object_array_length(ch) == 0)
                printf("no differences\n");
        }
    }
    answer_free(&a);
    return rc;
}

/* aigwctl rollback V */
static int
do_rollback(const struct ctl *ctl, long long v)
{
    struct answer a;
    struct json_object *body = json_object_new_object(), *x;
    json_object_object_add(body, "version", json_object_new_int64(v));
    int rc = admin_request(ctl, "POST", "rollback", body, -1, &a);
    json_object_put(body);
    if (rc == CTL_OK && (rc = admin_expect(ctl, &a, 200, 200)) == CTL_OK) {
        if (ctl->json)
            output_json(stdout, a.json);
        else if (json_object_object_get_ex(a.json, "etcd_revision", &x))
            printf("rolled back to version %lld: %s resources written to etcd at revision %s; "
                   "every node takes it from its watch\n",
                   v, output_str(a.json, "changes"), json_object_get_string(x));
        else if (json_object_get_int(json_object_object_get(a.json, "changes")) == 0)
            printf("the configuration is as it was at version %lld already: nothing changed "
                   "(version %s)\n",
                   v, output_str(a.json, "version"));
        else
            printf("rolled back to version %lld: %s resources changed, now version %s\n", v,
                   output_str(a.json, "changes"), output_str(a.json, "version"));
    }
    answer_free(&a);
    return rc;
}

int
history_main(const struct ctl *ctl, const char *cmd, int argc, char **argv)
{
    long long v1 = -1, v2 = -1;
    int is_history = strcmp(cmd, "history") == 0, is_diff = strcmp(cmd, "diff") == 0;
    if (is_history && argc != 0) {
        ctl_err("history takes no argument (--limit N: how many versions)");
        return CTL_USAGE;
    }
    if (ctl->file != NULL || ctl->revision >= 0 || ctl->page_size > 0) {
        ctl_err("-f, --revision and --page-size are for model and key commands only");
        return CTL_USAGE;
    }
    if (!is_history && ctl->limit > 0) {
        ctl_err("--limit is for history only");
        return CTL_USAGE;
    }
    if (is_diff && (argc < 1 || argc > 2)) {
        ctl_err("diff takes one or two versions: diff V1 [V2] (V2: the current version)");
        return CTL_USAGE;
    }
    if (!is_history && !is_diff && argc != 1) {
        ctl_err("rollback takes one version: rollback V (aigwctl history lists them)");
        return CTL_USAGE;
    }
    if ((argc > 0 && (v1 = parse_version(argv[0])) < 0) ||
        (argc > 1 && (v2 = parse_version(argv[1])) < 0)) {
        ctl_err("\"%s\" is not a version: give a number that aigwctl history shows",
                argv[argc > 1 && v1 >= 0 ? 1 : 0]);
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
    int rc = is_history ? do_history(ctl) : is_diff ? do_diff(ctl, v1, v2) : do_rollback(ctl, v1);
    curl_global_cleanup();
    return rc;
}
