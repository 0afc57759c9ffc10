/* SPDX-License-Identifier: Apache-2.0 */
/*
 * yaml_fuzzer.c: the YAML files aigw reads (src/yamljson.c), as aigw.yaml
 * (src/conf.c) and as the standalone resources file (src/resfile.c).
 *
 * The input is loaded by both as the bytes of a file (conf_load_buffer,
 * resfile_load_buffer: what conf_load_file and resfile_load do after
 * libyaml read the file, without the file), as `aigw -t` and a reload do
 * (${VAR} substituted; AIGW_FUZZ_KEY is set, AIGW_FUZZ_UNSET is not).
 * Oracles: a load fails exactly when it reported an error, and every error
 * names where (a line, or a key); the resources it accepts compile into
 * records; the tree built from libyaml's events (the fast way) is the one
 * built from its document (YAML_DOCUMENT): values, types and lines.
 */
#include "config.h"

#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "aigw/conf.h"
#include "aigw/errors.h"
#include "log.h"
#include "aigw/resource.h"
#include "aigw/yamljson.h"
#include "fuzz.h"
#include "aigw/resfile.h"

/* The name errors give the file (no file is written). */
static const char yf_path[] = "/nonexistent/aigw-fuzz/in.yaml";

/* Once: the environment the ${VAR}s read. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    log_init(0, LOG_LVL_ERROR, "yaml_fuzzer");
    log_open("/dev/null", "/dev/null", 0);
    setenv("AIGW_FUZZ_KEY", "sk-fuzz-from-env", 1);
    unsetenv("AIGW_FUZZ_UNSET");
    return 0;
}

/* Every error is one line that says where. */
static void
yf_errors(const struct aigw_errors *e)
{
    for (int i = 0; i < e->n; i++) {
        FUZZ_ASSERT(e->msgs[i] != NULL && e->msgs[i][0] != '\0', "an empty error");
        FUZZ_ASSERT(strpbrk(e->msgs[i], "\n\r") == NULL, "an error of several lines: %s",
                    e->msgs[i]);
    }
}

/* The accepted resources compile, as the master puts them into LMDB. */
static void
yf_compile(struct json_object *res)
{
    for (int k = 0; k < RES_NKINDS; k++) {
        struct json_object *items = json_object_object_get(res, res_kind_name((enum res_kind)k));
        json_object_object_foreach(items, id, doc)
        {
            void *rec = NULL;
            size_t len;
            FUZZ_ASSERT(res_id_valid(id) == 0, "an accepted id %s is not valid", id);
            FUZZ_ASSERT(res_compile((enum res_kind)k, id, doc, &rec, &len) == 0,
                        "an accepted resource does not compile");
            free(rec);
        }
    }
}

/* a and b hold the same values, of the same types, on the same lines. */
static void
yf_same(struct json_object *a, struct json_object *b)
{
    if (a == NULL || b == NULL) {
        FUZZ_ASSERT(a == b, "a null against a value");
        return;
    }
    FUZZ_ASSERT(json_object_equal(a, b), "events %s, document %s", json_object_to_json_string(a),
                json_object_to_json_string(b));
    FUZZ_ASSERT(yaml_node_line(a) == yaml_node_line(b), "line %d against %d", yaml_node_line(a),
                yaml_node_line(b));
    if (json_object_is_type(a, json_type_object)) {
        json_object_object_foreach(a, k, v) yf_same(v, json_object_object_get(b, k));
    } else if (json_object_is_type(a, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(a); i++)
            yf_same(json_object_array_get_idx(a, i), json_object_array_get_idx(b, i));
    }
}

/* One input: one file's bytes, loaded two ways (three for one in four). */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct aigw_errors e;
    static struct conf c;
    if (size > 65536)
        return 0;
    errors_init(&e, yf_path);
    int rc = conf_load_buffer(&c, yf_path, (const char *)data, size, &e);
    FUZZ_ASSERT((rc < 0) == (e.n > 0), "aigw.yaml: %d with %d errors", rc, e.n);
    yf_errors(&e);
    errors_free(&e);

    errors_init(&e, yf_path);
    struct json_object *res = resfile_load_buffer((const char *)data, size, &e);
    FUZZ_ASSERT((res == NULL) == (e.n > 0), "resources: %s with %d errors",
                res ? "loaded" : "refused", e.n);
    yf_errors(&e);
    if (res != NULL)
        yf_compile(res);
    json_object_put(res);
    errors_free(&e);

    /*
     * the buffer form, without ${VAR}, as the worker gets the master's
     * tree: the same parser minus the substitution, so for one input in
     * four only (a third parse of every input would cost a third of the
     * executions)
     */
    if (size % 4 != 0)
        return 0;
    errors_init(&e, NULL);
    struct json_object *root = yaml_load_buffer((const char *)data, size, 0, &e);
    FUZZ_ASSERT((root == NULL) == (e.n > 0), "yaml_load_buffer: %d errors", e.n);
    errors_free(&e);
    /* the tree built from libyaml's events is the one built from its document */
    errors_init(&e, NULL);
    struct json_object *doc = yaml_load_buffer((const char *)data, size, YAML_DOCUMENT, &e);
    FUZZ_ASSERT((root == NULL) == (doc == NULL), "events: %s, document: %s",
                root ? "a tree" : "refused", doc ? "a tree" : "refused");
    yf_same(root, doc);
    json_object_put(doc);
    json_object_put(root);
    errors_free(&e);
    return 0;
}
