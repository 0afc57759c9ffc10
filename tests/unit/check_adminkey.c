/* SPDX-License-Identifier: Apache-2.0 */
/*
 * check_adminkey.c: the Admin API's safe default: admin.keys' key_file (the
 * file's mode and content are checked, the tree keeps the hash only) and the
 * keyless Admin API, refused unless admin.allow_keyless opts in.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "auth.h"
#include "aigw/conf.h"
#include "aigw/errors.h"
#include "keyfile.h"
#include "aigw/util.h"
#include "aigw/yamljson.h"
#include "tap.h"

TMPDIR_FIXTURE

#define KEY "adm-unit-0123456789abcdef"

/* Write text to g_dir/name with mode; the path goes to path. */
static void
write_mode(const char *name, const char *text, mode_t mode, char *path)
{
    write_file(g_dir, name, text, path);
    ck_assert_int_eq(chmod(path, mode), 0);
}

/* keyfile_read of g_dir/name written with text and mode: its return; key and err filled. */
static int
read_as(const char *name, const char *text, mode_t mode, char *key, char *err, size_t errlen)
{
    char path[PATH_MAX];
    write_mode(name, text, mode, path);
    return keyfile_read(path, key, KEYFILE_MAX + 1, err, errlen);
}

/* The first line, without CR and trailing blanks, is the key; 0640 and 0600 are fine. */
START_TEST(keyfile_first_line)
{
    char key[KEYFILE_MAX + 1], err[PATH_MAX + 128];
    ck_assert_int_eq(read_as("a.key", KEY " \t\r\nsecond line\n", 0640, key, err, sizeof(err)), 0);
    ck_assert_str_eq(key, KEY);
    ck_assert_int_eq(read_as("b.key", KEY, 0600, key, err, sizeof(err)), 0);
    ck_assert_str_eq(key, KEY);
}
END_TEST

/* A file other users may read or write is refused, and so are wrong contents. */
START_TEST(keyfile_refused)
{
    char key[KEYFILE_MAX + 1], err[PATH_MAX + 128], path[PATH_MAX];
    ck_assert_int_eq(read_as("r.key", KEY "\n", 0644, key, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "r.key is readable or writable by every user (mode 0644)") != NULL,
                  "%s", err);
    ck_assert_int_eq(read_as("w.key", KEY "\n", 0602, key, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "(mode 0602)") != NULL, "%s", err);
    ck_assert_int_eq(read_as("e.key", "\n", 0600, key, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "e.key is empty") != NULL, "%s", err);
    ck_assert_int_eq(read_as("s.key", "0123456789abcde\n", 0600, key, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "16 to 1024 characters") != NULL, "%s", err);
    ck_assert_int_eq(read_as("c.key", "adm-unit-0123\t456789abcdef\n", 0600, key, err, sizeof(err)),
                     -1);
    ck_assert_msg(strstr(err, "control character") != NULL, "%s", err);
    path_join(path, g_dir, "missing.key");
    ck_assert_int_eq(keyfile_read(path, key, sizeof(key), err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "missing.key: No such file or directory") != NULL, "%s", err);
    ck_assert_int_eq(keyfile_read(g_dir, key, sizeof(key), err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "is not a regular file") != NULL, "%s", err);
}
END_TEST

/* Load aigw.yaml text; the tree stays in *tree (for the caller to inspect and put). */
static int
load_conf(const char *text, struct conf *c, struct aigw_errors *e, char *path,
          struct json_object **tree)
{
    write_file(g_dir, "aigw.yaml", text, path);
    memset(c, 0, sizeof(*c));
    snprintf(c->path, sizeof(c->path), "%s", path);
    errors_init(e, path);
    *tree = yaml_load_file(path, 0, e);
    ck_assert_ptr_nonnull(*tree);
    return conf_from_json(c, *tree, e);
}

#define KEY_FILE_CONF                                                                              \
    "admin:\n"                                                                                     \
    "  keys:\n"                                                                                    \
    "    - name: ops\n"                                                                            \
    "      key_file: admin.key\n"                                                                  \
    "      role: admin\n"

/*
 * key_file, relative to aigw.yaml's folder: the key's hash, the file's path
 * for aigwctl, and a tree that holds key_sha256 in place of key_file (what
 * workers get, and what a reload compares).
 */
START_TEST(conf_key_file)
{
    char path[PATH_MAX], kpath[PATH_MAX], hex[65];
    uint8_t want[AUTH_HASH_LEN];
    struct conf c;
    struct aigw_errors e;
    struct json_object *tree, *item, *v;
    write_mode("admin.key", KEY "\n", 0640, kpath);
    ck_assert_int_eq(load_conf(KEY_FILE_CONF, &c, &e, path, &tree), 0);
    ck_assert_nerrors(&e, 0);
    ck_assert_int_eq(c.admin_nkeys, 1);
    ck_assert_str_eq(c.admin_keys[0].name, "ops");
    ck_assert_int_eq(c.admin_keys[0].role, ADMIN_ROLE_ADMIN);
    auth_key_hash(KEY, strlen(KEY), want);
    ck_assert_mem_eq(c.admin_keys[0].hash, want, sizeof(want));
    ck_assert_str_eq(c.admin_key_file, kpath);
    ck_assert_int_eq(conf_check_admin(&c, &e), 0);

    json_object_object_get_ex(tree, "admin", &v);
    json_object_object_get_ex(v, "keys", &v);
    item = json_object_array_get_idx(v, 0);
    ck_assert(!json_object_object_get_ex(item, "key_file", NULL));
    ck_assert(json_object_object_get_ex(item, "key_sha256", &v));
    hex_encode(want, sizeof(want), hex);
    ck_assert_str_eq(json_object_get_string(v), hex);
    /* the rewritten tree parses as it is, without the file (a worker's case) */
    ck_assert_int_eq(unlink(kpath), 0);
    struct conf w;
    memset(&w, 0, sizeof(w));
    ck_assert_int_eq(conf_from_json(&w, tree, &e), 0);
    ck_assert_mem_eq(w.admin_keys[0].hash, want, sizeof(want));
    json_object_put(tree);
    errors_free(&e);
}
END_TEST

/* A readable-by-all key file: file:line: admin.keys: key_file: the path and the mode. */
START_TEST(conf_key_file_world_readable)
{
    char path[PATH_MAX], kpath[PATH_MAX], want[2 * PATH_MAX + 200];
    struct conf c;
    struct aigw_errors e;
    struct json_object *tree;
    write_mode("admin.key", KEY "\n", 0644, kpath);
    ck_assert_int_eq(load_conf(KEY_FILE_CONF, &c, &e, path, &tree), -1);
    ck_assert_nerrors(&e, 1);
    snprintf(want, sizeof(want),
             "%s:4: admin.keys: key_file: %s is readable or writable by every user (mode 0644)",
             path, kpath);
    ck_assert_error(&e, want);
    json_object_put(tree);
    errors_free(&e);
}
END_TEST

/* key and key_file together: exactly one is asked for. */
START_TEST(conf_key_and_key_file)
{
    char path[PATH_MAX], kpath[PATH_MAX];
    struct conf c;
    struct aigw_errors e;
    struct json_object *tree;
    write_mode("admin.key", KEY "\n", 0600, kpath);
    ck_assert_int_eq(load_conf(KEY_FILE_CONF "      key: " KEY "\n", &c, &e, path, &tree), -1);
    ck_assert_error(&e, "admin.keys: give key, key_sha256 or key_file (exactly one)");
    json_object_put(tree);
    errors_free(&e);
}
END_TEST

/*
 * The built-in defaults (Admin API on 127.0.0.1:9180, no key) are refused;
 * admin.allow_keyless: true is accepted with a warning, but not on an
 * address other than loopback; a key or no Admin API needs neither.
 */
START_TEST(keyless_needs_opt_in)
{
    char path[PATH_MAX], warn[512];
    struct conf c;
    struct aigw_errors e;
    struct json_object *tree;

    ck_assert_int_eq(load_conf("workers: 1\n", &c, &e, path, &tree), 0);
    ck_assert_int_eq(c.admin_allow_keyless, 0);
    ck_assert_int_eq(conf_check_admin(&c, &e), -1);
    ck_assert_error(&e, "admin.keys: empty, and the Admin API listens on 127.0.0.1:9180: every "
                        "local user could change the configuration");
    ck_assert_error(&e, "admin.allow_keyless: true");
    ck_assert_int_eq(conf_admin_warning(&c, warn, sizeof(warn)), 0);
    json_object_put(tree);
    errors_free(&e);

    ck_assert_int_eq(load_conf("admin:\n  allow_keyless: true\n", &c, &e, path, &tree), 0);
    ck_assert_int_eq(conf_check_admin(&c, &e), 0);
    ck_assert_nerrors(&e, 0);
    ck_assert_int_eq(conf_admin_warning(&c, warn, sizeof(warn)), 1);
    ck_assert_msg(strstr(warn, "admin.allow_keyless is true: the Admin API on 127.0.0.1:9180 "
                               "answers every local user without a key") != NULL,
                  "%s", warn);
    json_object_put(tree);
    errors_free(&e);

    ck_assert_int_eq(
        load_conf("admin:\n  allow_keyless: true\n  listen: [0.0.0.0:9180]\n", &c, &e, path, &tree),
        0);
    ck_assert_int_eq(conf_check_admin(&c, &e), -1);
    ck_assert_error(&e, "0.0.0.0:9180 is not a loopback address");
    json_object_put(tree);
    errors_free(&e);

    ck_assert_int_eq(load_conf("admin:\n  listen: []\n", &c, &e, path, &tree), 0);
    ck_assert_int_eq(conf_check_admin(&c, &e), 0);
    ck_assert_int_eq(conf_admin_warning(&c, warn, sizeof(warn)), 0);
    json_object_put(tree);
    errors_free(&e);

    ck_assert_int_eq(load_conf("admin:\n  allow_keyless: true\n  keys:\n    - {name: a, key: " KEY
                               ", role: admin}\n",
                               &c, &e, path, &tree),
                     0);
    ck_assert_int_eq(conf_check_admin(&c, &e), 0);
    ck_assert_int_eq(conf_admin_warning(&c, warn, sizeof(warn)), 0); /* a key: not keyless */
    json_object_put(tree);
    errors_free(&e);

    ck_assert_int_eq(load_conf("admin:\n  allow_keyless: yes please\n", &c, &e, path, &tree), -1);
    ck_assert_error(&e, "admin.allow_keyless: \"yes please\" must be true or false");
    json_object_put(tree);
    errors_free(&e);
}
END_TEST

static Suite *
adminkey_suite(void)
{
    Suite *s = suite_create("adminkey");
    TCase *tc = tcase_create("keyfile");
    tcase_add_unchecked_fixture(tc, dir_setup, dir_teardown);
    tcase_add_test(tc, keyfile_first_line);
    tcase_add_test(tc, keyfile_refused);
    suite_add_tcase(s, tc);

    tc = tcase_create("conf");
    tcase_add_unchecked_fixture(tc, dir_setup, dir_teardown);
    tcase_add_test(tc, conf_key_file);
    tcase_add_test(tc, conf_key_file_world_readable);
    tcase_add_test(tc, conf_key_and_key_file);
    tcase_add_test(tc, keyless_needs_opt_in);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return run_suite(adminkey_suite());
}
