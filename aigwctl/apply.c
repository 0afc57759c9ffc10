/* SPDX-License-Identifier: Apache-2.0 */
/*
 * apply.c: `aigwctl apply -f FILE [--dry-run] [--prune]` and `aigwctl
 * export [--reveal-secrets]`, over the Admin API (aigw-admin(7), APPLY).
 *
 * apply reads FILE here, with the loader aigw reads its resources file
 * with (resfile.c): ${VAR} substituted, every entry validated, and an error
 * named by file, line and field before anything is sent. A plaintext API
 * key is hashed here too: only its SHA-256 goes to aigw. The master makes
 * the plan against its table and writes it as one change; the plan comes
 * back and is printed.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "aigw/errors.h"
#include "aigwctl.h"
#include "aigw/resfile.h"

/* One line of the plan: "+ models/ID (name)", "~ ...: field, field", "- ...". */
static void
print_step(struct json_object *p)
{
    const char *action = output_str(p, "action"), *name = output_str(p, "name");
    struct json_object *fields = NULL;
    char sign = action[0] == 'c' ? '+' : action[0] == 'u' ? '~' : '-';
    printf("%c %s/%s", sign, output_str(p, "kind"), output_str(p, "id"));
    if (name[0] != '\0')
        printf(" (%s)", name);
    if (json_object_object_get_ex(p, "fields", &fields)) {
        printf(":");
        for (size_t i = 0; i < json_object_array_length(fields); i++) {
            struct json_object *f = json_object_array_get_idx(fields, i), *b, *a;
            b = json_object_object_get(f, "before");
            a = json_object_object_get(f, "after");
            printf("\n    %s: %s -> %s", output_str(f, "field"),
                   b ? json_object_to_json_string_ext(b, JSON_C_TO_STRING_PLAIN) : "(none)",
                   a ? json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN) : "(none)");
        }
    }
    printf("\n");
}

/* The answer of an apply, for people. */
static void
print_plan(struct json_object *o)
{
    struct json_object *plan = json_object_object_get(o, "plan");
    size_t n = plan ? json_object_array_length(plan) : 0;
    for (size_t i = 0; i < n; i++)
        print_step(json_object_array_get_idx(plan, i));
    if (n == 0)
        printf("no changes: the configuration is what the file says\n");
    else if (json_object_get_boolean(json_object_object_get(o, "applied")))
        printf("applied: %zu change%s as one, revision %s\n", n, n == 1 ? "" : "s",
               output_str(o, "revision"));
    else
        printf("dry run: %zu change%s, nothing applied\n", n, n == 1 ? "" : "s");
}

static int
do_apply(const struct ctl *ctl)
{
    struct aigw_errors e;
    const char *path = ctl->file == NULL || strcmp(ctl->file, "-") == 0 ? "/dev/stdin" : ctl->file;
    errors_init(&e, path);
    struct json_object *body = resfile_load(path, &e);
    if (body == NULL) {
        for (int i = 0; i < e.n; i++)
            fprintf(stderr, "%s\n", e.msgs[i]);
        ctl_err("%s is not a valid resources file (aigw-resources(5)); nothing was sent", path);
        errors_free(&e);
        return CTL_FAILED;
    }
    errors_free(&e);
    json_object_object_add(body, "dry_run", json_object_new_boolean(ctl->dry_run));
    json_object_object_add(body, "prune", json_object_new_boolean(ctl->prune));
    struct answer a;
    int rc = admin_request(ctl, "POST", "apply", body, -1, &a);
    json_object_put(body);
    if (rc != CTL_OK) {
        answer_free(&a);
        return rc;
    }
    if (a.status != 200 || a.json == NULL)
        rc = admin_print_error(ctl, &a);
    else if (ctl->json)
        output_json(stdout, a.json);
    else
        print_plan(a.json);
    answer_free(&a);
    return rc;
}

static int
do_export(const struct ctl *ctl)
{
    struct answer a;
    int rc = admin_request(
        ctl, "GET", ctl->reveal_secrets ? "export?reveal_secrets=true" : "export", NULL, -1, &a);
    if (rc != CTL_OK) {
        answer_free(&a);
        return rc;
    }
    if (a.status != 200 || a.json == NULL) {
        rc = admin_print_error(ctl, &a);
    } else if (ctl->json) {
        output_json(stdout, a.json);
    } else {
        printf("# aigw resources (aigw-resources(5)), from aigwctl export.\n");
        if (!ctl->reveal_secrets)
            printf("# Provider secrets are masked: aigwctl apply keeps the stored ones.\n");
        output_yaml(stdout, a.json);
    }
    answer_free(&a);
    return rc;
}

int
apply_main(const struct ctl *ctl, const char *cmd, int argc, char **argv)
{
    (void)argv;
    int apply = strcmp(cmd, "apply") == 0;
    if (argc > 0) {
        ctl_err("%s takes no argument%s", cmd, apply ? ": give the file with -f FILE" : "");
        return CTL_USAGE;
    }
    if (apply && ctl->file == NULL) {
        ctl_err("apply needs -f FILE (a resources file; - for standard input)");
        return CTL_USAGE;
    }
    if (!apply && ctl->file != NULL) {
        ctl_err("-f is for apply (export writes to standard output)");
        return CTL_USAGE;
    }
    if (ctl->revision >= 0 || ctl->page_size > 0) {
        ctl_err("--revision and --page-size are for model and key commands only");
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
    int rc = apply ? do_apply(ctl) : do_export(ctl);
    curl_global_cleanup();
    return rc;
}
