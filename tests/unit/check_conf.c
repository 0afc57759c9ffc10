/* SPDX-License-Identifier: Apache-2.0 */
/* check_conf.c: aigw.yaml: defaults, every key, paths, listeners, errors as file:line: key. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "aigw/conf.h"
#include "aigw/errors.h"
#include "log.h"
#include "aigw/util.h"
#include "aigw/yamljson.h"
#include "tap.h"

/* One temporary folder per test case (made in the parent, removed even after a failure). */
TMPDIR_FIXTURE

/* Write text to g_dir/name and load it into c; path gets the file's path, e its errors. */
static int
load_text(const char *name, const char *text, struct conf *c, struct aigw_errors *e, char *path)
{
    write_file(g_dir, name, text, path);
    memset(c, 0, sizeof(*c));
    errors_init(e, path);
    return conf_load_file(c, path, e);
}

/* Assert that e holds "path:line: key: msg..." (msg is the start of the message). */
static void
expect_error(const struct aigw_errors *e, const char *path, int line, const char *key,
             const char *msg)
{
    char want[PATH_MAX + 512];
    snprintf(want, sizeof(want), "%s:%d: %s: %s", path, line, key, msg);
    ck_assert_error(e, want);
}

/* What workers: auto resolves to: the online cores, 1 to 256. */
static int
auto_workers(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 256 ? 256 : (int)n;
}

/*
 * A path default depends on configure's prefix; etc/aigw.yaml documents the
 * Debian layout (sysconfdir /etc, localstatedir /var). Assert that dflt is
 * build_prefix + rest and doc is doc_prefix + the same rest.
 */
static void
assert_same_path(const char *doc, const char *dflt, const char *build_prefix,
                 const char *doc_prefix)
{
    size_t bl = strlen(build_prefix), dl = strlen(doc_prefix);
    ck_assert_msg(strncmp(dflt, build_prefix, bl) == 0, "default %s is not under %s", dflt,
                  build_prefix);
    ck_assert_msg(strncmp(doc, doc_prefix, dl) == 0 && strcmp(doc + dl, dflt + bl) == 0,
                  "etc/aigw.yaml documents %s, the built-in default is %s", doc, dflt);
}

/* conf_defaults gives exactly the documented values. */
START_TEST(defaults_values)
{
    struct conf c;
    memset(&c, 0x5a, sizeof(c));
    c.path[0] = '\0';
    conf_defaults(&c);
    ck_assert_int_eq(c.nlisten, 1);
    ck_assert_str_eq(c.listen[0].host, "127.0.0.1");
    ck_assert_str_eq(c.listen[0].port, "8080");
    ck_assert_str_eq(c.listen[0].text, "127.0.0.1:8080");
    ck_assert_int_eq(c.workers, auto_workers());
    ck_assert_int_eq(c.log_level, LOG_LVL_INFO);
    ck_assert_str_eq(c.data_dir, LOCALSTATEDIR "/lib/aigw");
    ck_assert_uint_eq(c.lmdb_map_size, 1ULL << 30);
    ck_assert_int_eq(c.lmdb_max_readers, 1024);
    ck_assert_str_eq(c.resources, SYSCONFDIR "/aigw/resources.yaml");
    ck_assert_uint_eq(c.max_body_size, 8ULL << 20);
    ck_assert_uint_eq(c.max_header_size, 32ULL << 10);
    ck_assert_uint_eq(c.max_response_size, 64ULL << 20);
    ck_assert_int_eq(c.client_header_timeout_ms, 10000);
    ck_assert_int_eq(c.client_body_timeout_ms, 60000);
    ck_assert_int_eq(c.keepalive_timeout_ms, 75000);
    ck_assert_int_eq(c.send_timeout_ms, 60000);
    ck_assert_int_eq(c.upstream_connect_timeout_ms, 5000);
    ck_assert_int_eq(c.upstream_first_byte_timeout_ms, 120000);
    ck_assert_int_eq(c.upstream_total_timeout_ms, 600000);
    ck_assert_int_eq(c.stream_idle_timeout_ms, 120000);
    ck_assert_int_eq(c.drain_timeout_ms, 30000);
}
END_TEST

/* conf_defaults keeps the file path it is given (relative paths are resolved against it). */
START_TEST(defaults_keep_path)
{
    struct conf c;
    memset(&c, 0, sizeof(c));
    snprintf(c.path, sizeof(c.path), "/srv/aigw/aigw.yaml");
    conf_defaults(&c);
    ck_assert_str_eq(c.path, "/srv/aigw/aigw.yaml");
    ck_assert_str_eq(c.data_dir, LOCALSTATEDIR "/lib/aigw");
}
END_TEST

/* Loading the shipped etc/aigw.yaml gives the same settings as conf_defaults. */
START_TEST(etc_aigw_yaml_equals_defaults)
{
    char path[PATH_MAX];
    struct conf f, d;
    struct aigw_errors e;
    srcdir_file("etc/aigw.yaml", path);
    memset(&f, 0, sizeof(f));
    memset(&d, 0, sizeof(d));
    errors_init(&e, path);
    ck_assert_int_eq(conf_load_file(&f, path, &e), 0);
    ck_assert_nerrors(&e, 0);
    errors_free(&e);
    conf_defaults(&d);

    ck_assert_str_eq(f.path, path);
    ck_assert_int_eq(f.nlisten, d.nlisten);
    for (int i = 0; i < d.nlisten; i++) {
        ck_assert_str_eq(f.listen[i].host, d.listen[i].host);
        ck_assert_str_eq(f.listen[i].port, d.listen[i].port);
        ck_assert_str_eq(f.listen[i].text, d.listen[i].text);
    }
    ck_assert_int_eq(f.workers, d.workers);
    ck_assert_int_eq(f.log_level, d.log_level);
    assert_same_path(f.data_dir, d.data_dir, LOCALSTATEDIR, "/var");
    assert_same_path(f.resources, d.resources, SYSCONFDIR, "/etc");
    ck_assert_uint_eq(f.lmdb_map_size, d.lmdb_map_size);
    ck_assert_int_eq(f.lmdb_max_readers, d.lmdb_max_readers);
    ck_assert_uint_eq(f.max_body_size, d.max_body_size);
    ck_assert_uint_eq(f.max_header_size, d.max_header_size);
    ck_assert_uint_eq(f.max_response_size, d.max_response_size);
    ck_assert_int_eq(f.client_header_timeout_ms, d.client_header_timeout_ms);
    ck_assert_int_eq(f.client_body_timeout_ms, d.client_body_timeout_ms);
    ck_assert_int_eq(f.keepalive_timeout_ms, d.keepalive_timeout_ms);
    ck_assert_int_eq(f.send_timeout_ms, d.send_timeout_ms);
    ck_assert_int_eq(f.upstream_connect_timeout_ms, d.upstream_connect_timeout_ms);
    ck_assert_int_eq(f.upstream_first_byte_timeout_ms, d.upstream_first_byte_timeout_ms);
    ck_assert_int_eq(f.upstream_total_timeout_ms, d.upstream_total_timeout_ms);
    ck_assert_int_eq(f.stream_idle_timeout_ms, d.stream_idle_timeout_ms);
    ck_assert_int_eq(f.drain_timeout_ms, d.drain_timeout_ms);
}
END_TEST

/* The node at a dotted path of a parsed tree, or NULL. */
static struct json_object *
tree_get(struct json_object *root, const char *dotted)
{
    char buf[128];
    struct json_object *cur = root;
    snprintf(buf, sizeof(buf), "%s", dotted);
    for (char *save = NULL, *tok = strtok_r(buf, ".", &save); tok != NULL;
         tok = strtok_r(NULL, ".", &save))
        if (!json_object_object_get_ex(cur, tok, &cur))
            return NULL;
    return cur;
}

/* Every key of the table (conf_dump_keys, `aigw --keys`) is written in etc/aigw.yaml with its
 * default. */
START_TEST(etc_aigw_yaml_documents_every_key)
{
    char path[PATH_MAX], *dump = NULL, line[512];
    size_t dumplen = 0;
    struct aigw_errors e;
    srcdir_file("etc/aigw.yaml", path);
    errors_init(&e, path);
    struct json_object *root = yaml_load_file(path, 0, &e);
    ck_assert_nerrors(&e, 0);
    ck_assert_ptr_nonnull(root);
    errors_free(&e);

    FILE *fp = open_memstream(&dump, &dumplen);
    ck_assert_ptr_nonnull(fp);
    conf_dump_keys(fp);
    fclose(fp);

    int nkeys = 0;
    FILE *in = fmemopen(dump, dumplen, "r");
    ck_assert_ptr_nonnull(in);
    while (fgets(line, sizeof(line), in) != NULL) {
        /* "%-30s %-22s %-24s %s": key, type, default, description */
        char key[64], dflt[PATH_MAX];
        ck_assert_int_eq(sscanf(line, "%63s", key), 1);
        ck_assert_int_gt(strlen(line), 54);
        ck_assert_int_eq(sscanf(line + 54, "%4095s", dflt), 1);
        if (strcmp(dflt, "\"\"") == 0) /* an empty default is printed as "" */
            dflt[0] = '\0';
        struct json_object *node = tree_get(root, key);
        ck_assert_msg(node != NULL, "%s is not in etc/aigw.yaml", key);
        char joined[1024] = "";
        const char *doc;
        if (json_object_is_type(node, json_type_array)) {
            /* a list's default is written as its items joined by commas */
            for (size_t i = 0; i < json_object_array_length(node); i++)
                snprintf(joined + strlen(joined), sizeof(joined) - strlen(joined), "%s%s",
                         i ? "," : "", json_object_get_string(json_object_array_get_idx(node, i)));
            doc = joined;
        } else {
            doc = json_object_get_string(node);
        }
        if (strcmp(key, "data_dir") == 0)
            assert_same_path(doc, dflt, LOCALSTATEDIR, "/var");
        else if (strcmp(key, "resources") == 0)
            assert_same_path(doc, dflt, SYSCONFDIR, "/etc");
        else if (strcmp(key, "control.socket") == 0 || strcmp(key, "pid_file") == 0)
            assert_same_path(doc, dflt, RUNSTATEDIR, "/run");
        else
            ck_assert_msg(strcmp(doc, dflt) == 0, "%s: etc/aigw.yaml says %s, the default is %s",
                          key, doc, dflt);
        nkeys++;
    }
    fclose(in);
    free(dump);
    json_object_put(root);
    ck_assert_int_ge(nkeys, 19); /* the table had 19 keys when this was written */
}
END_TEST

/* An empty file is all defaults. */
START_TEST(empty_file_is_defaults)
{
    char path[PATH_MAX];
    struct conf c, d;
    struct aigw_errors e;
    ck_assert_int_eq(load_text("empty.yaml", "# nothing\n", &c, &e, path), 0);
    ck_assert_nerrors(&e, 0);
    errors_free(&e);
    memset(&d, 0, sizeof(d));
    conf_defaults(&d);
    ck_assert_int_eq(c.nlisten, 1);
    ck_assert_str_eq(c.listen[0].text, "127.0.0.1:8080");
    ck_assert_str_eq(c.data_dir, d.data_dir);
    ck_assert_uint_eq(c.max_body_size, d.max_body_size);
    ck_assert_int_eq(c.drain_timeout_ms, d.drain_timeout_ms);
}
END_TEST

/* A file that sets every key to a non-default value. */
START_TEST(full_file_every_key)
{
    static const char text[] = "listen:\n"
                               "  - 0.0.0.0:80\n"
                               "  - \"[::1]:8080\"\n"
                               "workers: 3\n"
                               "log_level: debug\n"
                               "data_dir: /srv/aigw/data\n"
                               "lmdb:\n"
                               "  map_size: 2g\n"
                               "  max_readers: 126\n"
                               "resources: /srv/aigw/res.yaml\n"
                               "limits:\n"
                               "  max_body_size: 1m\n"
                               "  max_header_size: 16k\n"
                               "  max_response_size: 2048k\n"
                               "timeouts:\n"
                               "  client_header: 1s\n"
                               "  client_body: 2s\n"
                               "  keepalive: 3s\n"
                               "  send: 4s\n"
                               "  upstream_connect: 500ms\n"
                               "  upstream_first_byte: 6s\n"
                               "  upstream_total: 1h\n"
                               "  stream_idle: 8s\n"
                               "  drain: 0s\n";
    char path[PATH_MAX];
    struct conf c;
    struct aigw_errors e;
    ck_assert_int_eq(load_text("full.yaml", text, &c, &e, path), 0);
    ck_assert_nerrors(&e, 0);
    errors_free(&e);
    ck_assert_str_eq(c.path, path);
    ck_assert_int_eq(c.nlisten, 2);
    ck_assert_str_eq(c.listen[0].host, "0.0.0.0");
    ck_assert_str_eq(c.listen[0].port, "80");
    ck_assert_str_eq(c.listen[1].host, "::1");
    ck_assert_str_eq(c.listen[1].port, "8080");
    ck_assert_str_eq(c.listen[1].text, "[::1]:8080");
    ck_assert_int_eq(c.workers, 3);
    ck_assert_int_eq(c.log_level, LOG_LVL_DEBUG);
    ck_assert_str_eq(c.data_dir, "/srv/aigw/data");
    ck_assert_uint_eq(c.lmdb_map_size, 2ULL << 30);
    ck_assert_int_eq(c.lmdb_max_readers, 126);
    ck_assert_str_eq(c.resources, "/srv/aigw/res.yaml");
    ck_assert_uint_eq(c.max_body_size, 1048576);
    ck_assert_uint_eq(c.max_header_size, 16384);
    ck_assert_uint_eq(c.max_response_size, 2097152);
    ck_assert_int_eq(c.client_header_timeout_ms, 1000);
    ck_assert_int_eq(c.client_body_timeout_ms, 2000);
    ck_assert_int_eq(c.keepalive_timeout_ms, 3000);
    ck_assert_int_eq(c.send_timeout_ms, 4000);
    ck_assert_int_eq(c.upstream_connect_timeout_ms, 500);
    ck_assert_int_eq(c.upstream_first_byte_timeout_ms, 6000);
    ck_assert_int_eq(c.upstream_total_timeout_ms, 3600000);
    ck_assert_int_eq(c.stream_idle_timeout_ms, 8000);
    ck_assert_int_eq(c.drain_timeout_ms, 0);
}
END_TEST

/* Relative data_dir and resources are resolved against the folder of the file. */
START_TEST(relative_paths_resolved)
{
    char path[PATH_MAX], want[PATH_MAX + 64];
    struct conf c;
    struct aigw_errors e;
    ck_assert_int_eq(
        load_text("rel.yaml", "data_dir: data\nresources: conf.d/res.yaml\n", &c, &e, path), 0);
    ck_assert_nerrors(&e, 0);
    errors_free(&e);
    snprintf(want, sizeof(want), "%s/data", g_dir);
    ck_assert_str_eq(c.data_dir, want);
    snprintf(want, sizeof(want), "%s/conf.d/res.yaml", g_dir);
    ck_assert_str_eq(c.resources, want);
}
END_TEST

/* Absolute paths are kept as written. */
START_TEST(absolute_paths_kept)
{
    char path[PATH_MAX];
    struct conf c;
    struct aigw_errors e;
    ck_assert_int_eq(
        load_text("abs.yaml", "data_dir: /var/tmp/x\nresources: /etc/r.yaml\n", &c, &e, path), 0);
    errors_free(&e);
    ck_assert_str_eq(c.data_dir, "/var/tmp/x");
    ck_assert_str_eq(c.resources, "/etc/r.yaml");
}
END_TEST

/* workers: auto is the core count; a number is taken as is. */
START_TEST(workers_auto_and_number)
{
    char path[PATH_MAX];
    struct conf c;
    struct aigw_errors e;
    ck_assert_int_eq(load_text("wa.yaml", "workers: auto\n", &c, &e, path), 0);
    errors_free(&e);
    ck_assert_int_eq(c.workers, auto_workers());
    ck_assert_int_eq(load_text("w1.yaml", "workers: 1\n", &c, &e, path), 0);
    errors_free(&e);
    ck_assert_int_eq(c.workers, 1);
    ck_assert_int_eq(load_text("w256.yaml", "workers: 256\n", &c, &e, path), 0);
    errors_free(&e);
    ck_assert_int_eq(c.workers, 256);
    ck_assert_int_eq(load_text("wq.yaml", "workers: \"7\"\n", &c, &e, path), 0);
    errors_free(&e);
    ck_assert_int_eq(c.workers, 7);
}
END_TEST

/* IPv4, bracketed IPv6 and host names as listeners. */
START_TEST(listen_ipv6_and_names)
{
    char path[PATH_MAX];
    struct conf c;
    struct aigw_errors e;
    ck_assert_int_eq(load_text("l6.yaml",
                               "listen: [\"[::1]:8080\", \"[2001:db8::1]:443\", "
                               "127.0.0.1:65535, localhost:1]\n",
                               &c, &e, path),
                     0);
    ck_assert_nerrors(&e, 0);
    errors_free(&e);
    ck_assert_int_eq(c.nlisten, 4);
    ck_assert_str_eq(c.listen[0].host, "::1");
    ck_assert_str_eq(c.listen[0].port, "8080");
    ck_assert_str_eq(c.listen[0].text, "[::1]:8080");
    ck_assert_str_eq(c.listen[1].host, "2001:db8::1");
    ck_assert_str_eq(c.listen[1].port, "443");
    ck_assert_str_eq(c.listen[2].host, "127.0.0.1");
    ck_assert_str_eq(c.listen[2].port, "65535");
    ck_assert_str_eq(c.listen[3].host, "localhost");
    ck_assert_str_eq(c.listen[3].port, "1");
}
END_TEST

/* Malformed listeners are refused one by one (conf_from_json: no file, no line). */
START_TEST(listen_bad_forms)
{
    static const char *const bad[] = {
        "::1:8080",        "[::1]8080",     "[::1]:",        "[::1",
        ":8080",           "127.0.0.1",     "127.0.0.1:",    "127.0.0.1:0",
        "127.0.0.1:65536", "127.0.0.1:80x", "127.0.0.1:-80", "127.0.0.1:70000",
        "[]:80",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct conf c;
        struct aigw_errors e;
        char want[128];
        struct json_object *root = json_object_new_object();
        struct json_object *arr = json_object_new_array();
        json_object_array_add(arr, json_object_new_string(bad[i]));
        json_object_object_add(root, "listen", arr);
        memset(&c, 0, sizeof(c));
        errors_init(&e, NULL);
        ck_assert_msg(conf_from_json(&c, root, &e) == -1, "listener \"%s\" accepted", bad[i]);
        snprintf(want, sizeof(want), "listen: \"%s\" is not address:port (port 1-65535)", bad[i]);
        ck_assert_nerrors(&e, 1);
        ck_assert_str_eq(e.msgs[0], want);
        errors_free(&e);
        json_object_put(root);
    }
}
END_TEST

/* An unknown top-level key: file:line: key: unknown key. */
START_TEST(error_unknown_key)
{
    char path[PATH_MAX];
    struct conf c;
    struct aigw_errors e;
    ck_assert_int_eq(load_text("uk.yaml", "workers: 2\n\ncolour: red\n", &c, &e, path), -1);
    ck_assert_nerrors(&e, 1);
    expect_error(&e, path, 3, "colour", "unknown key");
    errors_free(&e);
}
END_TEST

/* An unknown key inside a section is named by its dotted path. */
START_TEST(error_nested_unknown_key)
{
    char path[PATH_MAX];
    struct conf c;
    struct aigw_errors e;
    ck_assert_int_eq(load_text("nk.yaml",
                               "timeouts:\n  send: 5s\n  foo: 1s\nlmdb:\n  mapsize: 1g\n", &c, &e,
                               path),
                     -1);
    ck_assert_nerrors(&e, 2);
    expect_error(&e, path, 3, "timeouts.foo", "unknown key");
    expect_error(&e, path, 5, "lmdb.mapsize", "unknown key");
    errors_free(&e);
}
END_TEST

/* A section given as a scalar. */
START_TEST(error_section_not_mapping)
{
    char path[PATH_MAX];
    struct conf c;
    struct aigw_errors e;
    ck_assert_int_eq(load_text("sm.yaml", "workers: 2\ntimeouts: 5s\n", &c, &e, path), -1);
    ck_assert_nerrors(&e, 1);
    expect_error(&e, path, 2, "timeouts", "must be a mapping");
    errors_free(&e);
}
END_TEST

/* A duration without a unit ("5") is refused. */
START_TEST(error_duration_without_unit)
{
    char path[PATH_MAX];
    struct conf c;
    struct aigw_errors e;
    ck_assert_int_eq(load_text("du.yaml", "timeouts:\n  keepalive: 75s\n  send: 5\n", &c, &e, path),
                     -1);
    ck_assert_nerrors(&e, 1);
    expect_error(&e, path, 3, "timeouts.send",
                 "\"5\" must be a duration with a unit (ms, s, m, h), from 1ms to 1h");
    errors_free(&e);
}
END_TEST

/* Durations of several units, largest first ("1m30s"), are accepted. */
START_TEST(duration_combined)
{
    char path[PATH_MAX];
    struct conf c;
    struct aigw_errors e;
    ck_assert_int_eq(load_text("dc.yaml",
                               "timeouts:\n  send: 1m30s\n  upstream_total: 1h2m3s\n"
                               "  keepalive: 2s500ms\n",
                               &c, &e, path),
                     0);
    ck_assert_int_eq(c.send_timeout_ms, 90000);
    ck_assert_int_eq(c.upstream_total_timeout_ms, 3723000);
    ck_assert_int_eq(c.keepalive_timeout_ms, 2500);
    errors_free(&e);
}
END_TEST

/* Units out of order or twice are refused; the limits are printed as durations ("10m"). */
START_TEST(duration_combined_bad)
{
    static const char *const bad[] = {"30s1m", "1m1m", "1m 30s", "1m30", "1h-5m", "500ms1s"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char path[PATH_MAX], text[64], want[128];
        struct conf c;
        struct aigw_errors e;
        snprintf(text, sizeof(text), "timeouts:\n  upstream_connect: %s\n", bad[i]);
        ck_assert_msg(load_text("db.yaml", text, &c, &e, path) == -1, "%s accepted", bad[i]);
        snprintf(want, sizeof(want),
                 "\"%s\" must be a duration with a unit (ms, s, m, h), from 1ms to 10m", bad[i]);
        expect_error(&e, path, 2, "timeouts.upstream_connect", want);
        errors_free(&e);
    }
}
END_TEST

/* format_duration_ms writes what parse_duration_ms reads back. */
START_TEST(duration_format)
{
    static const int64_t ms[] = {1, 250, 1000, 90000, 3600000, 3723004, 86400000};
    static const char *const txt[] = {"1ms", "250ms", "1s", "1m30s", "1h", "1h2m3s4ms", "24h"};
    for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++) {
        char buf[32];
        int64_t back = -1;
        format_duration_ms(ms[i], buf, sizeof(buf));
        ck_assert_str_eq(buf, txt[i]);
        ck_assert_int_eq(parse_duration_ms(buf, &back), 0);
        ck_assert_int_eq(back, ms[i]);
    }
}
END_TEST

/* format_size writes what parse_size reads back, in the largest exact unit. */
START_TEST(size_format)
{
    static const uint64_t b[] = {1, 1000, 1024, 1536, 524288, 1048576, 4294967296ULL};
    static const char *const txt[] = {"1", "1000", "1k", "1536", "512k", "1m", "4g"};
    for (size_t i = 0; i < sizeof(b) / sizeof(b[0]); i++) {
        char buf[32];
        uint64_t back = 0;
        format_size(b[i], buf, sizeof(buf));
        ck_assert_str_eq(buf, txt[i]);
        ck_assert_int_eq(parse_size(buf, &back), 0);
        ck_assert_uint_eq(back, b[i]);
    }
}
END_TEST

/* A bad size ("8x") and a size below the key's minimum. */
START_TEST(error_bad_size)
{
    char path[PATH_MAX];
    struct conf c;
    struct aigw_errors e;
    ck_assert_int_eq(load_text("sz.yaml", "limits:\n  max_body_size: 8x\n  max_header_size: 512\n",
                               &c, &e, path),
                     -1);
    ck_assert_nerrors(&e, 2);
    expect_error(&e, path, 2, "limits.max_body_size",
                 "\"8x\" must be a size such as 512k or 8m, from 1k to 4g");
    expect_error(&e, path, 3, "limits.max_header_size", "\"512\" must be a size");
    errors_free(&e);
}
END_TEST

/* A listener without a port. */
START_TEST(error_listen_without_port)
{
    char path[PATH_MAX];
    struct conf c;
    struct aigw_errors e;
    ck_assert_int_eq(load_text("lp.yaml", "workers: 1\nlisten:\n  - 127.0.0.1\n", &c, &e, path),
                     -1);
    ck_assert_nerrors(&e, 1);
    expect_error(&e, path, 3, "listen", "\"127.0.0.1\" is not address:port (port 1-65535)");
    errors_free(&e);
}
END_TEST

/* Port 70000 is out of range. */
START_TEST(error_listen_port_range)
{
    char path[PATH_MAX];
    struct conf c;
    struct aigw_errors e;
    ck_assert_int_eq(load_text("lr.yaml", "# ports\nlisten: [\"0.0.0.0:70000\"]\n", &c, &e, path),
                     -1);
    ck_assert_nerrors(&e, 1);
    expect_error(&e, path, 2, "listen", "\"0.0.0.0:70000\" is not address:port (port 1-65535)");
    errors_free(&e);
}
END_TEST

/* A bad listener after a good one is reported at its own line. */
START_TEST(error_listen_second_item_line)
{
    char path[PATH_MAX], want[PATH_MAX + 64];
    struct conf c;
    struct aigw_errors e;
    ck_assert_int_eq(
        load_text("l2.yaml", "listen:\n  - 127.0.0.1:8080\n  - 10.0.0.1\n", &c, &e, path), -1);
    ck_assert_nerrors(&e, 1);
    ck_assert_error(&e, "listen: \"10.0.0.1\" is not address:port");
    snprintf(want, sizeof(want), "%s:3: listen: ", path);
    int at_item_line = errors_find(&e, want) >= 0;
    errors_free(&e);
    ck_assert_msg(at_item_line, "a bad listener is reported at the line of the list's first item");
}
END_TEST

/* A scalar where a list is expected (listen: 5) and a list where a scalar is. */
START_TEST(error_wrong_types)
{
    char path[PATH_MAX];
    struct conf c;
    struct aigw_errors e;
    ck_assert_int_eq(
        load_text("wt.yaml",
                  "listen: 5\nlog_level: info\nworkers: [2]\nlmdb:\n  map_size: {a: 1}\n", &c, &e,
                  path),
        -1);
    ck_assert_nerrors(&e, 3);
    expect_error(&e, path, 1, "listen", "must be a list of address:port");
    expect_error(&e, path, 3, "workers", "must be a");
    expect_error(&e, path, 5, "lmdb.map_size", "must be a size");
    errors_free(&e);
}
END_TEST

/* Values outside a key's range; log_level names. */
START_TEST(error_ranges)
{
    char path[PATH_MAX];
    struct conf c;
    struct aigw_errors e;
    ck_assert_int_eq(load_text("rg.yaml",
                               "workers: 257\n"
                               "log_level: verbose\n"
                               "lmdb:\n"
                               "  map_size: 512k\n"
                               "  max_readers: 15\n"
                               "timeouts:\n"
                               "  upstream_connect: 11m\n"
                               "  client_header: 0s\n"
                               "listen: []\n",
                               &c, &e, path),
                     -1);
    ck_assert_nerrors(&e, 7);
    expect_error(&e, path, 1, "workers", "\"257\" must be an integer from 1 to 256, or auto");
    expect_error(&e, path, 2, "log_level", "\"verbose\" must be error, warn, info or debug");
    expect_error(&e, path, 4, "lmdb.map_size", "\"512k\" must be a size");
    expect_error(&e, path, 5, "lmdb.max_readers", "\"15\" must be an integer from 16 to 65536");
    expect_error(&e, path, 7, "timeouts.upstream_connect", "\"11m\" must be a duration");
    expect_error(&e, path, 8, "timeouts.client_header", "\"0s\" must be a duration");
    expect_error(&e, path, 9, "listen", "needs at least one listener");
    errors_free(&e);
}
END_TEST

/*
 * ratelimit.redis.lease_ttl: 10s by default, 1s at least, and at least 3
 * renewal timeouts, so that a lease outlives one renewal that timed out.
 */
START_TEST(redis_lease_ttl)
{
    char path[PATH_MAX];
    struct conf c;
    struct aigw_errors e;
    conf_defaults(&c);
    ck_assert_int_eq(c.redis_lease_ttl_ms, 10000);
    ck_assert_int_eq(
        load_text("ok.yaml", "ratelimit:\n  redis:\n    lease_ttl: 1500ms\n", &c, &e, path), 0);
    ck_assert_int_eq(c.redis_lease_ttl_ms, 1500);
    errors_free(&e);
    ck_assert_int_eq(
        load_text("short.yaml", "ratelimit:\n  redis:\n    lease_ttl: 900ms\n", &c, &e, path), -1);
    expect_error(&e, path, 3, "ratelimit.redis.lease_ttl", "\"900ms\" must be a duration");
    errors_free(&e);
    ck_assert_int_eq(load_text("slow.yaml",
                               "ratelimit:\n  redis:\n    timeout: 1s\n    lease_ttl: 2s\n", &c, &e,
                               path),
                     -1);
    ck_assert_nerrors(&e, 1);
    expect_error(&e, path, 4, "ratelimit.redis.lease_ttl",
                 "must be at least 3 times ratelimit.redis.timeout");
    errors_free(&e);
}
END_TEST

/* history.max_size: at most half of lmdb.map_size, which it shares; the default shrinks to fit. */
START_TEST(history_within_map)
{
    char path[PATH_MAX];
    struct conf c;
    struct aigw_errors e;
    ck_assert_int_eq(load_text("ok.yaml", "lmdb:\n  map_size: 128m\nhistory:\n  max_size: 64m\n",
                               &c, &e, path),
                     0);
    errors_free(&e);
    ck_assert_int_eq(load_text("small.yaml", "lmdb:\n  map_size: 16m\n", &c, &e, path), 0);
    ck_assert_int_eq(c.history_max_size, 8 << 20); /* the default 64m shrinks to fit */
    errors_free(&e);
    ck_assert_int_eq(load_text("full.yaml", "lmdb:\n  map_size: 64m\nhistory:\n  max_size: 64m\n",
                               &c, &e, path),
                     -1);
    ck_assert_nerrors(&e, 1);
    expect_error(&e, path, 4, "history.max_size", "must be at most half of lmdb.map_size");
    errors_free(&e);
}
END_TEST

/* log_level accepts the four names and "warning". */
START_TEST(log_levels)
{
    static const struct {
        const char *name;
        int level;
    } cases[] = {{"error", LOG_LVL_ERROR},
                 {"warn", LOG_LVL_WARN},
                 {"warning", LOG_LVL_WARN},
                 {"info", LOG_LVL_INFO},
                 {"debug", LOG_LVL_DEBUG}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char path[PATH_MAX], text[64];
        struct conf c;
        struct aigw_errors e;
        snprintf(text, sizeof(text), "log_level: %s\n", cases[i].name);
        ck_assert_int_eq(load_text("lv.yaml", text, &c, &e, path), 0);
        errors_free(&e);
        ck_assert_int_eq(c.log_level, cases[i].level);
    }
}
END_TEST

/* A YAML syntax error names its line. */
START_TEST(error_yaml_syntax)
{
    char path[PATH_MAX];
    struct conf c;
    struct aigw_errors e;
    ck_assert_int_eq(
        load_text("syn.yaml", "workers: 2\nlog_level: info\nworkers: a: b\n", &c, &e, path), -1);
    ck_assert_nerrors(&e, 1);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof(want), "%s:3: YAML syntax error: mapping values are not allowed", path);
    ck_assert_error(&e, want);
    errors_free(&e);
}
END_TEST

/* A tab in the indentation is a syntax error at its line. */
START_TEST(error_yaml_tab)
{
    char path[PATH_MAX];
    struct conf c;
    struct aigw_errors e;
    ck_assert_int_eq(load_text("tab.yaml", "workers: 2\nlisten:\n\t- x\n", &c, &e, path), -1);
    ck_assert_nerrors(&e, 1);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof(want), "%s:3: YAML syntax error: ", path);
    ck_assert_error(&e, want);
    errors_free(&e);
}
END_TEST

/* A key given twice is an error at the second occurrence. */
START_TEST(error_duplicate_key)
{
    char path[PATH_MAX];
    struct conf c;
    struct aigw_errors e;
    ck_assert_int_eq(
        load_text("dup.yaml", "workers: 2\nlog_level: info\nworkers: 3\n", &c, &e, path), -1);
    ck_assert_nerrors(&e, 1);
    expect_error(&e, path, 3, "workers", "duplicate key");
    errors_free(&e);
}
END_TEST

/* A duplicate key inside a section is named by its dotted path. */
START_TEST(error_nested_duplicate_key)
{
    char path[PATH_MAX], want[PATH_MAX + 64];
    struct conf c;
    struct aigw_errors e;
    ck_assert_int_eq(
        load_text("dupn.yaml", "timeouts:\n  send: 5s\n  drain: 1s\n  send: 6s\n", &c, &e, path),
        -1);
    ck_assert_nerrors(&e, 1);
    snprintf(want, sizeof(want), "%s:4: ", path);
    ck_assert_error(&e, want);
    ck_assert_error(&e, "duplicate key");
    snprintf(want, sizeof(want), "%s:4: timeouts.send: duplicate key", path);
    int dotted = errors_find(&e, want) >= 0;
    errors_free(&e);
    ck_assert_msg(dotted,
                  "a nested duplicate key is reported as \"timeouts: send: duplicate key\"");
}
END_TEST

/* A missing file names the file. */
START_TEST(error_missing_file)
{
    char path[PATH_MAX], want[PATH_MAX + 64];
    struct conf c;
    struct aigw_errors e;
    path_join(path, g_dir, "no-such.yaml");
    memset(&c, 0, sizeof(c));
    errors_init(&e, path);
    ck_assert_int_eq(conf_load_file(&c, path, &e), -1);
    ck_assert_nerrors(&e, 1);
    snprintf(want, sizeof(want), "%s: cannot open: No such file or directory", path);
    ck_assert_str_eq(e.msgs[0], want);
    errors_free(&e);
}
END_TEST

/* The top level must be a mapping. */
START_TEST(error_top_level_list)
{
    char path[PATH_MAX], want[PATH_MAX + 64];
    struct conf c;
    struct aigw_errors e;
    ck_assert_int_eq(load_text("top.yaml", "- a\n- b\n", &c, &e, path), -1);
    ck_assert_nerrors(&e, 1);
    snprintf(want, sizeof(want), "%s:1: the top level must be a mapping", path);
    ck_assert_str_eq(e.msgs[0], want);
    errors_free(&e);
}
END_TEST

/* ${VAR} of an unset variable is an error at its line and key. */
START_TEST(env_unset_variable)
{
    char path[PATH_MAX];
    struct conf c;
    struct aigw_errors e;
    unsetenv("AIGW_UNIT_UNSET");
    ck_assert_int_eq(
        load_text("env1.yaml", "workers: 1\ndata_dir: ${AIGW_UNIT_UNSET}\n", &c, &e, path), -1);
    ck_assert_nerrors(&e, 1);
    expect_error(&e, path, 2, "data_dir", "environment variable AIGW_UNIT_UNSET is not set");
    errors_free(&e);
}
END_TEST

/* An unset ${VAR} is one error; its empty stand-in value must not cause another. */
START_TEST(env_unset_no_cascade)
{
    char path[PATH_MAX];
    struct conf c;
    struct aigw_errors e;
    unsetenv("AIGW_UNIT_UNSET");
    ck_assert_int_eq(
        load_text("env6.yaml", "timeouts:\n  send: ${AIGW_UNIT_UNSET}\nbogus: 1\n", &c, &e, path),
        -1);
    expect_error(&e, path, 2, "timeouts.send", "environment variable AIGW_UNIT_UNSET is not set");
    expect_error(&e, path, 3, "bogus", "unknown key");
    int nerrors = e.n;
    errors_free(&e);
    ck_assert_msg(nerrors == 2, "an unset ${VAR} also yields an error about its empty value "
                                "(timeouts.send: \"\" must be a duration ...)");
}
END_TEST

/* yaml_load_buffer: an unset ${VAR} is an error, and the tree still comes back with "". */
START_TEST(env_unset_tree_returned)
{
    struct aigw_errors e;
    static const char y[] = "a: ${AIGW_UNIT_UNSET}\nb: 2\n";
    unsetenv("AIGW_UNIT_UNSET");
    errors_init(&e, "buf");
    struct json_object *root = yaml_load_buffer(y, strlen(y), YAML_SUBST_ENV, &e);
    ck_assert_nerrors(&e, 1);
    ck_assert_str_eq(e.msgs[0], "buf:1: a: environment variable AIGW_UNIT_UNSET is not set");
    ck_assert_ptr_nonnull(root);
    ck_assert_str_eq(json_object_get_string(json_object_object_get(root, "a")), "");
    ck_assert_int_eq(json_object_get_int(json_object_object_get(root, "b")), 2);
    json_object_put(root);
    errors_free(&e);
}
END_TEST

/* ${VAR:-default} takes the default when VAR is unset, VAR's value when set. */
START_TEST(env_default_used)
{
    char path[PATH_MAX];
    struct conf c;
    struct aigw_errors e;
    unsetenv("AIGW_UNIT_UNSET");
    ck_assert_int_eq(load_text("env2.yaml",
                               "data_dir: ${AIGW_UNIT_UNSET:-/srv/dflt}\n"
                               "timeouts:\n  send: ${AIGW_UNIT_UNSET:-7s}\n",
                               &c, &e, path),
                     0);
    ck_assert_nerrors(&e, 0);
    errors_free(&e);
    ck_assert_str_eq(c.data_dir, "/srv/dflt");
    ck_assert_int_eq(c.send_timeout_ms, 7000);

    setenv("AIGW_UNIT_SET", "/srv/set", 1);
    ck_assert_int_eq(
        load_text("env3.yaml", "data_dir: ${AIGW_UNIT_SET:-/srv/dflt}\n", &c, &e, path), 0);
    errors_free(&e);
    unsetenv("AIGW_UNIT_SET");
    ck_assert_str_eq(c.data_dir, "/srv/set");
}
END_TEST

/* ${VAR} inside a longer scalar; a substituted number is a string that still parses. */
START_TEST(env_in_text_and_numbers)
{
    char path[PATH_MAX];
    struct conf c;
    struct aigw_errors e;
    setenv("AIGW_UNIT_PORT", "9090", 1);
    setenv("AIGW_UNIT_N", "4", 1);
    ck_assert_int_eq(load_text("env4.yaml",
                               "listen: [\"[::1]:${AIGW_UNIT_PORT}\"]\nworkers: ${AIGW_UNIT_N}\n"
                               "data_dir: /srv/${AIGW_UNIT_N}/x${AIGW_UNIT_N}\n",
                               &c, &e, path),
                     0);
    unsetenv("AIGW_UNIT_PORT");
    unsetenv("AIGW_UNIT_N");
    ck_assert_nerrors(&e, 0);
    errors_free(&e);
    ck_assert_str_eq(c.listen[0].port, "9090");
    ck_assert_str_eq(c.listen[0].text, "[::1]:9090");
    ck_assert_int_eq(c.workers, 4);
    ck_assert_str_eq(c.data_dir, "/srv/4/x4");
}
END_TEST

/* An unterminated ${ is an error; a substituted value is never typed (it stays a string). */
START_TEST(env_unterminated_and_typing)
{
    char path[PATH_MAX];
    struct conf c;
    struct aigw_errors e;
    ck_assert_int_eq(load_text("env5.yaml", "data_dir: /x/${AIGW_UNIT_N\n", &c, &e, path), -1);
    ck_assert_nerrors(&e, 1);
    expect_error(&e, path, 1, "data_dir", "unterminated ${");
    errors_free(&e);

    setenv("AIGW_UNIT_N", "0123", 1);
    errors_init(&e, NULL);
    static const char y[] = "a: ${AIGW_UNIT_N}\nb: 0123\nc: \"${AIGW_UNIT_N:-x}\"\n";
    struct json_object *root = yaml_load_buffer(y, strlen(y), YAML_SUBST_ENV, &e);
    unsetenv("AIGW_UNIT_N");
    ck_assert_ptr_nonnull(root);
    ck_assert_nerrors(&e, 0);
    errors_free(&e);
    struct json_object *a = json_object_object_get(root, "a");
    struct json_object *b = json_object_object_get(root, "b");
    ck_assert(json_object_is_type(a, json_type_string));
    ck_assert_str_eq(json_object_get_string(a), "0123");
    ck_assert(json_object_is_type(b, json_type_int));
    ck_assert_int_eq(json_object_get_int64(b), 123);
    ck_assert_str_eq(json_object_get_string(json_object_object_get(root, "c")), "0123");
    ck_assert_int_eq(yaml_node_line(b), 2);
    json_object_put(root);
}
END_TEST

/* Without YAML_SUBST_ENV, ${VAR} is left as written. */
START_TEST(env_not_substituted_without_flag)
{
    struct aigw_errors e;
    static const char y[] = "a: ${AIGW_UNIT_UNSET}\n";
    unsetenv("AIGW_UNIT_UNSET");
    errors_init(&e, NULL);
    struct json_object *root = yaml_load_buffer(y, strlen(y), 0, &e);
    ck_assert_ptr_nonnull(root);
    ck_assert_nerrors(&e, 0);
    ck_assert_str_eq(json_object_get_string(json_object_object_get(root, "a")),
                     "${AIGW_UNIT_UNSET}");
    json_object_put(root);
    errors_free(&e);
}
END_TEST

/* conf_load_buffer: the same as conf_load_file on the file's bytes (errors, values, path). */
START_TEST(buffer_same_as_file)
{
    static const char *const texts[] = {
        "listen: [\"127.0.0.1:8080\", \":9090\"]\nlogs:\n  level: debug\n",
        "listen: [\"127.0.0.1:99999\"]\nworkers: ${AIGW_UNIT_UNSET}\nnope: 1\n",
        "listen: [1\n",
    };
    unsetenv("AIGW_UNIT_UNSET");
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        char path[PATH_MAX];
        static struct conf a, b;
        struct aigw_errors ea, eb;
        int ra = load_text("same.yaml", texts[i], &a, &ea, path);
        memset(&b, 0, sizeof(b));
        errors_init(&eb, path);
        int rb = conf_load_buffer(&b, path, texts[i], strlen(texts[i]), &eb);
        ck_assert_int_eq(ra, rb);
        ck_assert_int_eq(ea.n, eb.n);
        for (int k = 0; k < ea.n; k++)
            ck_assert_str_eq(ea.msgs[k], eb.msgs[k]);
        ck_assert_str_eq(a.path, b.path);
        if (ra == 0) {
            ck_assert_int_eq(b.nlisten, 2);
            ck_assert_int_eq(a.nlisten, b.nlisten);
            ck_assert_str_eq(a.listen[1].port, b.listen[1].port);
        } else {
            ck_assert_int_gt(eb.n, 0);
        }
        errors_free(&ea);
        errors_free(&eb);
    }
}
END_TEST

/* Several problems in one file are all reported, each with its own line and key. */
START_TEST(error_several_at_once)
{
    char path[PATH_MAX];
    struct conf c;
    struct aigw_errors e;
    ck_assert_int_eq(load_text("many.yaml",
                               "workers: 2\n"            /* 1 */
                               "colour: red\n"           /* 2 */
                               "timeouts:\n"             /* 3 */
                               "  drain: 1s\n"           /* 4 */
                               "  send: 5\n"             /* 5 */
                               "  bogus: 1s\n"           /* 6 */
                               "limits:\n"               /* 7 */
                               "  max_body_size: huge\n" /* 8 */
                               "listen:\n"               /* 9 */
                               "  - 1.2.3.4:70000\n"     /* 10 */
                               "log_level: loud\n",      /* 11 */
                               &c, &e, path),
                     -1);
    ck_assert_nerrors(&e, 6);
    expect_error(&e, path, 2, "colour", "unknown key");
    expect_error(&e, path, 5, "timeouts.send", "\"5\" must be a duration");
    expect_error(&e, path, 6, "timeouts.bogus", "unknown key");
    expect_error(&e, path, 8, "limits.max_body_size", "\"huge\" must be a size");
    expect_error(&e, path, 10, "listen", "\"1.2.3.4:70000\" is not address:port");
    expect_error(&e, path, 11, "log_level", "\"loud\" must be error, warn, info or debug");
    errors_free(&e);
}
END_TEST

/* conf_from_json (the worker's path): a tree without lines gives "key: message" errors. */
START_TEST(from_json_tree)
{
    struct conf c;
    struct aigw_errors e;
    struct json_object *root = json_tokener_parse(
        "{\"listen\":[\"[::1]:9000\"],\"workers\":4,\"data_dir\":\"rel\","
        "\"timeouts\":{\"drain\":\"0s\",\"send\":\"250ms\"},\"limits\":{\"max_body_size\":2048}}");
    ck_assert_ptr_nonnull(root);
    memset(&c, 0, sizeof(c));
    errors_init(&e, NULL);
    ck_assert_int_eq(conf_from_json(&c, root, &e), 0);
    ck_assert_nerrors(&e, 0);
    json_object_put(root);
    ck_assert_str_eq(c.listen[0].host, "::1");
    ck_assert_str_eq(c.listen[0].port, "9000");
    ck_assert_int_eq(c.workers, 4);
    ck_assert_str_eq(c.data_dir, "rel"); /* no file: nothing to resolve against */
    ck_assert_int_eq(c.drain_timeout_ms, 0);
    ck_assert_int_eq(c.send_timeout_ms, 250);
    ck_assert_uint_eq(c.max_body_size, 2048);
    ck_assert_int_eq(c.keepalive_timeout_ms, 75000);

    root = json_tokener_parse("{\"timeouts\":{\"send\":5},\"nope\":true}");
    ck_assert_int_eq(conf_from_json(&c, root, &e), -1);
    ck_assert_nerrors(&e, 2);
    ck_assert_error(&e, "nope: unknown key");
    ck_assert_str_eq(e.msgs[errors_find(&e, "timeouts.send")],
                     "timeouts.send: \"5\" must be a duration with a unit (ms, s, m, h), from 1ms "
                     "to 1h");
    json_object_put(root);
    errors_free(&e);

    root = json_tokener_parse("[1,2]");
    errors_init(&e, NULL);
    ck_assert_int_eq(conf_from_json(&c, root, &e), -1);
    ck_assert_nerrors(&e, 1);
    ck_assert_str_eq(e.msgs[0], "the top level must be a mapping");
    json_object_put(root);
    errors_free(&e);
}
END_TEST

static Suite *
conf_suite(void)
{
    Suite *s = suite_create("conf");
    TCase *tc = tcase_create("defaults");
    tcase_add_unchecked_fixture(tc, dir_setup, dir_teardown);
    tcase_add_test(tc, defaults_values);
    tcase_add_test(tc, defaults_keep_path);
    tcase_add_test(tc, etc_aigw_yaml_equals_defaults);
    tcase_add_test(tc, etc_aigw_yaml_documents_every_key);
    tcase_add_test(tc, empty_file_is_defaults);
    suite_add_tcase(s, tc);

    tc = tcase_create("good");
    tcase_add_unchecked_fixture(tc, dir_setup, dir_teardown);
    tcase_add_test(tc, full_file_every_key);
    tcase_add_test(tc, relative_paths_resolved);
    tcase_add_test(tc, absolute_paths_kept);
    tcase_add_test(tc, workers_auto_and_number);
    tcase_add_test(tc, listen_ipv6_and_names);
    tcase_add_test(tc, log_levels);
    tcase_add_test(tc, from_json_tree);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_unchecked_fixture(tc, dir_setup, dir_teardown);
    tcase_add_test(tc, listen_bad_forms);
    tcase_add_test(tc, error_unknown_key);
    tcase_add_test(tc, error_nested_unknown_key);
    tcase_add_test(tc, error_section_not_mapping);
    tcase_add_test(tc, error_duration_without_unit);
    tcase_add_test(tc, duration_combined);
    tcase_add_test(tc, duration_combined_bad);
    tcase_add_test(tc, duration_format);
    tcase_add_test(tc, size_format);
    tcase_add_test(tc, error_bad_size);
    tcase_add_test(tc, error_listen_without_port);
    tcase_add_test(tc, error_listen_port_range);
    tcase_add_test(tc, error_listen_second_item_line);
    tcase_add_test(tc, error_wrong_types);
    tcase_add_test(tc, error_ranges);
    tcase_add_test(tc, redis_lease_ttl);
    tcase_add_test(tc, history_within_map);
    tcase_add_test(tc, error_yaml_syntax);
    tcase_add_test(tc, error_yaml_tab);
    tcase_add_test(tc, error_duplicate_key);
    tcase_add_test(tc, error_nested_duplicate_key);
    tcase_add_test(tc, error_missing_file);
    tcase_add_test(tc, error_top_level_list);
    tcase_add_test(tc, error_several_at_once);
    suite_add_tcase(s, tc);

    tc = tcase_create("env");
    tcase_add_unchecked_fixture(tc, dir_setup, dir_teardown);
    tcase_add_test(tc, env_unset_variable);
    tcase_add_test(tc, env_unset_no_cascade);
    tcase_add_test(tc, env_unset_tree_returned);
    tcase_add_test(tc, env_default_used);
    tcase_add_test(tc, env_in_text_and_numbers);
    tcase_add_test(tc, env_unterminated_and_typing);
    tcase_add_test(tc, env_not_substituted_without_flag);
    tcase_add_test(tc, buffer_same_as_file);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return run_suite(conf_suite());
}
