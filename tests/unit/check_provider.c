/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The provider registry (provider_list.h) against resource validation,
 * records and aigw-resources(5), and the status -> error type table
 * (errtype.c) against aigw-resources(5), aigw(8) and every provider.
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "errtype.h"
#include "provider.h"
#include "aigw/errors.h"
#include "aigw/resource.h"
#include "manpage.h"
#include "tap.h"

/* A model of provider p in the one-target form, validated and compiled; its record view. */
static void *
model_of(const struct provider *p, struct model_view *v)
{
    struct aigw_errors e;
    void *rec = NULL;
    size_t len;
    struct json_object *doc = json_object_new_object();
    json_object_object_add(doc, "name", json_object_new_string("m"));
    json_object_object_add(doc, "provider", json_object_new_string(p->name));
    if (p->api_base == NULL)
        json_object_object_add(doc, "api_base", json_object_new_string("http://127.0.0.1:9/v1/"));
    if (p->aws) { /* bedrock signs with these instead of an api_key */
        json_object_object_add(doc, "region", json_object_new_string("us-east-1"));
        json_object_object_add(doc, "aws_access_key_id", json_object_new_string("AKIDEXAMPLE"));
        json_object_object_add(doc, "aws_secret_access_key", json_object_new_string("s"));
    }
    errors_init(&e, NULL);
    ck_assert_msg(res_validate(RES_MODEL, doc, "", &e) == 0, "%s: %s", p->name,
                  e.n ? e.msgs[0] : "");
    errors_free(&e);
    ck_assert_int_eq(res_compile(RES_MODEL, "id", doc, &rec, &len), 0);
    ck_assert_int_eq(model_view_decode(rec, len, v), 0);
    json_object_put(doc);
    return rec;
}

/* The first error of validating a model of provider name with extra fields (JSON members). */
static char *
model_error(const char *name, const char *extra)
{
    char json[512];
    struct aigw_errors e;
    const struct provider *p = provider_get(provider_parse(name));
    snprintf(json, sizeof(json),
             "{\"name\":\"m\",\"provider\":\"%s\",\"api_base\":\"http://127.0.0.1:9\"%s%s}", name,
             p != NULL && p->aws ? ",\"region\":\"us-east-1\",\"aws_access_key_id\":\"AKID\","
                                   "\"aws_secret_access_key\":\"s\""
                                 : "",
             extra);
    struct json_object *doc = json_tokener_parse(json);
    ck_assert_ptr_nonnull(doc);
    errors_init(&e, NULL);
    char *msg = res_validate(RES_MODEL, doc, "", &e) < 0 && e.n > 0 ? strdup(e.msgs[0]) : NULL;
    errors_free(&e);
    json_object_put(doc);
    return msg;
}

/* Every provider's name finds it, and a target of it gets its defaults in the record. */
START_TEST(registry_round_trip)
{
    ck_assert_int_ge(PROVIDER_NPROVIDERS, 5);
    for (int i = 0; i < PROVIDER_NPROVIDERS; i++) {
        const struct provider *p = provider_get(i);
        struct model_view v;
        ck_assert_ptr_nonnull(p);
        ck_assert_int_eq(p->id, i);
        ck_assert_str_eq(provider_name(i), p->name);
        ck_assert_int_eq(provider_parse(p->name), i);
        ck_assert_ptr_nonnull(p->error);
        ck_assert_ptr_nonnull(p->build);
        ck_assert(p->auth_header != NULL || p->aws); /* or it signs (SigV4) */
        ck_assert_int_eq(p->api_version_is == NULL, p->api_version == NULL);
        void *rec = model_of(p, &v);
        ck_assert_int_eq(v.t[0].provider, i);
        ck_assert_str_eq(v.t[0].api_base, p->api_base ? p->api_base : "http://127.0.0.1:9/v1");
        ck_assert_str_eq(v.t[0].aws.region, p->aws ? "us-east-1" : "");
        ck_assert_str_eq(v.t[0].api_version, p->api_version ? p->api_version : "");
        ck_assert_int_eq(v.t[0].max_tokens, p->max_tokens);
        free(rec);

        /* api_version: this provider's own, or an error naming those that have one */
        char *msg = model_error(p->name, ",\"api_version\":\"2024-01-01\"");
        if (p->api_version_is != NULL) {
            ck_assert_msg(msg == NULL, "%s: %s", p->name, msg);
        } else {
            ck_assert_ptr_nonnull(msg);
            for (int j = 0; j < PROVIDER_NPROVIDERS; j++) {
                const struct provider *q = provider_get(j);
                char want[128];
                snprintf(want, sizeof(want), "%s (%s)", q->name, q->api_version_is);
                ck_assert_msg((strstr(msg, want) != NULL) == (q->api_version_is != NULL), "%s: %s",
                              want, msg);
            }
        }
        free(msg);
        /* a model name that is no URL path segment: refused where the model is one */
        msg = model_error(p->name, ",\"model\":\"a/b\"");
        ck_assert_msg((msg != NULL) == p->model_in_path, "%s: %s", p->name, msg);
        free(msg);
    }
    /*
     * Records of RES_RECORD_FORMAT 6 hold these ids: a provider list that
     * moves them needs a new format (provider_list.h), so this test changes
     * with it.
     */
    static const char *const stored[] = {
        "openai", "openai-compatible", "azure-openai", "anthropic", "gemini", "bedrock"};
    ck_assert_int_eq(RES_RECORD_FORMAT, 6);
    for (int i = 0; i < (int)(sizeof(stored) / sizeof(stored[0])); i++)
        ck_assert_int_eq(provider_parse(stored[i]), i);
    ck_assert_ptr_null(provider_get(PROVIDER_NPROVIDERS));
    ck_assert_ptr_null(provider_get(-1));
    ck_assert_str_eq(provider_name(PROVIDER_NPROVIDERS), "?");
    ck_assert_int_eq(provider_parse("OpenAI"), -1);

    char *msg = model_error("nope", "");
    ck_assert_ptr_nonnull(msg);
    for (int i = 0; i < PROVIDER_NPROVIDERS; i++)
        ck_assert_msg(strstr(msg, provider_get(i)->name) != NULL, "%s", msg);
    free(msg);
}
END_TEST

/*
 * Every provider sends the target's api_key in its auth header, and none
 * without a key; a SigV4 provider (bedrock) never sends one.
 */
START_TEST(auth_header_sent)
{
    for (int i = 0; i < PROVIDER_NPROVIDERS; i++) {
        const struct provider *p = provider_get(i);
        for (int keyed = 0; keyed < 2; keyed++) {
            struct target_view t = {.name = "t",
                                    .upstream_model = "m",
                                    .api_base = "http://h",
                                    .api_key = keyed ? "sk-unit" : "",
                                    .api_version = p->api_version ? p->api_version : "",
                                    .max_tokens = 16,
                                    .aws = {"us-east-1", "AKIDEXAMPLE", "s", ""},
                                    .provider = i};
            struct prov_call c = {.t = &t, .op = OP_CHAT, .request_id = "r"};
            struct prov_http h;
            char err[256], want[128];
            int found = 0;
            memset(&h, 0, sizeof(h));
            struct json_object *body = json_tokener_parse(
                "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
            ck_assert_msg(p->build(&c, body, &h, err, sizeof(err)) == 0, "%s: %s", p->name, err);
            snprintf(want, sizeof(want), "%s: %s%ssk-unit", p->auth_header ? p->auth_header : "-",
                     p->auth_scheme ? p->auth_scheme : "", p->auth_scheme ? " " : "");
            /* the header lines, "Name: value\r\n" each */
            for (size_t at = 0; at < h.hlen;) {
                const char *line = h.hdrs + at, *end = memchr(line, '\r', h.hlen - at);
                ck_assert_ptr_nonnull(end);
                size_t n = (size_t)(end - line);
                int same = n == strlen(want) && memcmp(line, want, n) == 0;
                found |= same;
                ck_assert_msg(memmem(line, n, "sk-unit", 7) == NULL || same, "%s: %.*s", p->name,
                              (int)n, line);
                at += n + 2;
            }
            ck_assert_msg(found == (keyed && !p->aws), "%s: %s %s", p->name, want,
                          keyed ? "not sent" : "sent");
            prov_http_free(&h);
            json_object_put(body);
        }
    }
}
END_TEST

/* aigw-resources(5) names every provider and its defaults where the fields are described. */
START_TEST(man_page_describes_every_provider)
{
    char **l = man_lines("man/aigw-resources.5");
    int prov = man_find(l, 0, ".It Ic provider Ar"), model = man_find(l, 0, ".It Ic model Ar"),
        base = man_find(l, 0, ".It Ic api_base Ar"), key = man_find(l, 0, ".It Ic api_key Ar"),
        ver = man_find(l, 0, ".It Ic api_version Ar"), max = man_find(l, 0, ".It Ic max_tokens Ar"),
        weight = man_find(l, 0, ".It Ic weight Ar");
    ck_assert(prov > 0 && model > prov && base > model && key > base && ver > key && max > ver &&
              weight > max);
    for (int i = 0; i < PROVIDER_NPROVIDERS; i++) {
        const struct provider *p = provider_get(i);
        char want[256];
        ck_assert_msg(man_names(l, prov, model, p->name), "provider does not list %s", p->name);
        ck_assert_msg(man_names(l, base, key, p->name), "api_base does not name %s", p->name);
        if (p->api_base != NULL) {
            /* bedrock's is its region's endpoint */
            snprintf(want, sizeof(want), ".Ql %s",
                     p->aws ? "https://bedrock-runtime.{region}.amazonaws.com" : p->api_base);
            int at = man_find(l, base, want);
            ck_assert_msg(at > 0 && at < key && strcmp(l[at + 1], "for") == 0 &&
                              man_names(l, at + 2, at + 3, p->name),
                          "api_base: no default %s for %s", p->api_base, p->name);
        }
        if (p->api_version_is != NULL) {
            snprintf(want, sizeof(want), ".Ql %s", p->api_version_is);
            int at = man_find(l, ver, want);
            ck_assert_msg(at > 0 && at < max && man_names(l, at - 2, at - 1, p->name),
                          "api_version: %s not described for %s", p->api_version_is, p->name);
            snprintf(want, sizeof(want), ".Ql %s ", p->api_version);
            ck_assert_msg(strncmp(l[at + 2], want, strlen(want)) == 0,
                          "api_version: default of %s is not %s", p->name, p->api_version);
        }
        if (p->aws) { /* it signs: api_key says it takes none */
            ck_assert_msg(man_names(l, key, ver, p->name), "api_key: %s not named", p->name);
        } else {
            snprintf(want, sizeof(want), ".Ql %s%s%s", p->auth_header, p->auth_scheme ? ": " : "",
                     p->auth_scheme ? p->auth_scheme : "");
            int hdr = man_find(l, key, want), next = man_find(l, hdr + 1, ".Ql ");
            ck_assert_msg(hdr > 0 && hdr < ver &&
                              man_names(l, hdr, next < 0 || next > ver ? ver : next, p->name),
                          "api_key: %s is not said to be sent in %s", p->name, want + 4);
        }
        if (p->max_tokens > 0) {
            snprintf(want, sizeof(want), "the default is %d for", p->max_tokens);
            int at = man_find(l, max, want);
            ck_assert_msg(at > 0 && at < weight && man_names(l, at + 1, at + 2, p->name),
                          "max_tokens: no default %d for %s", p->max_tokens, p->name);
        }
        /* "For .Cm azure-openai and .Cm gemini the model is a part of the URL path" */
        int at = man_find(l, model, "the model is a part of the URL path"), for_ = at;
        while (for_ > model && strcmp(l[for_], "For") != 0)
            for_--;
        ck_assert_msg(at > 0 && at < base && man_names(l, for_, at, p->name) == p->model_in_path,
                      "model: aigw-resources(5) and model_in_path (%d) disagree for %s",
                      p->model_in_path, p->name);
    }
    man_free(l);
}
END_TEST

/*
 * The types a man page lists for the statuses between the line starting with
 * 'from' and the one starting with 'to': ".Cm TYPE" followed by "for 401,",
 * "for 503 and 529,", "for 5xx", "for the other 4xx" or "otherwise".
 */
static char **
documented_types(const char *page, const char *from, const char *to, const char *out[600])
{
    char **l = man_lines(page); /* the types point into its lines: the caller frees them */
    const char *cls[10] = {NULL}, *other = NULL, *exact[600] = {NULL};
    int b = man_find(l, 0, from), e = b < 0 ? -1 : man_find(l, b, to), n = 0;
    ck_assert_msg(b >= 0 && e > b, "%s: no %s ... %s", page, from, to);
    for (int i = b; i < e; i++) {
        if (strncmp(l[i], ".Cm ", 4) != 0 ||
            (strncmp(l[i + 1], "for ", 4) != 0 && strncmp(l[i + 1], "otherwise", 9) != 0))
            continue;
        char *t = l[i] + 4;
        t[strcspn(t, " ")] = '\0';
        if (strncmp(l[i + 1], "otherwise", 9) == 0)
            other = t;
        for (const char *p = l[i + 1]; *p; p++) {
            if (p[0] >= '1' && p[0] <= '5' && strncmp(p + 1, "xx", 2) == 0)
                cls[p[0] - '0'] = t;
            else if (p[0] >= '1' && p[0] <= '5' && p[1] >= '0' && p[1] <= '9' && p[2] >= '0' &&
                     p[2] <= '9')
                exact[atoi(p)] = t, p += 2;
        }
        n++;
    }
    ck_assert_int_ge(n, 5);
    for (int s = 400; s < 600; s++) {
        out[s] = exact[s] ? exact[s] : cls[s / 100] ? cls[s / 100] : other;
        ck_assert_msg(out[s] != NULL, "%s: no type for %d", page, s);
    }
    return l;
}

/* Every status from 400 to 599 has the type the man pages give it, in both dialects. */
START_TEST(error_types_as_documented)
{
    const char *openai[600], *anthropic[600];
    char **l5 = documented_types("man/aigw-resources.5", ".Ss Errors", ".Sh ROUTING", openai);
    char **l8 = documented_types(
        "man/aigw.8", "the type follows the status:", "A stream that is not complete", anthropic);
    for (int s = 400; s < 600; s++) {
        ck_assert_msg(strcmp(errtype_openai(s), openai[s]) == 0, "%d: %s, documented %s", s,
                      errtype_openai(s), openai[s]);
        ck_assert_msg(strcmp(errtype_anthropic(s), anthropic[s]) == 0, "%d: %s, documented %s", s,
                      errtype_anthropic(s), anthropic[s]);
        /* an Anthropic stream's error event: its type stands for a status of that type */
        ck_assert_str_eq(errtype_anthropic(errtype_anthropic_status(anthropic[s])), anthropic[s]);
    }
    ck_assert_int_eq(errtype_anthropic_status("overloaded_error"), 529);
    ck_assert_int_eq(errtype_anthropic_status("no_such_error"), 500);
    ck_assert_int_eq(errtype_anthropic_status(NULL), 500);
    man_free(l5);
    man_free(l8);
}
END_TEST

/* An upstream error without an OpenAI type gets the table's, from every provider that types one. */
START_TEST(providers_type_errors_by_the_table)
{
    for (int i = 0; i < PROVIDER_NPROVIDERS; i++) {
        const struct provider *p = provider_get(i);
        const char *body =
            p->own == DIALECT_ANTHROPIC
                ? "{\"type\":\"error\",\"error\":{\"type\":\"x_error\",\"message\":\"m\"}}"
            : p->aws ? "{\"message\":\"m\"}" /* Bedrock's */
                     : "{\"error\":{\"code\":\"c\",\"message\":\"m\",\"status\":\"S\"}}";
        for (long s = 400; s < 600; s++) {
            struct json_object *in = json_tokener_parse(body), *out = NULL, *e, *t;
            int client = p->error(s, NULL, in, &out);
            ck_assert_int_eq(client, s == 529 && p->own == DIALECT_ANTHROPIC ? 503 : s);
            ck_assert(json_object_object_get_ex(out, "error", &e));
            if (json_object_object_get_ex(e, "type", &t) && t != NULL)
                ck_assert_msg(strcmp(json_object_get_string(t), errtype_openai(client)) == 0,
                              "%s %ld: %s", p->name, s, json_object_get_string(t));
            else /* OpenAI's own API: its error is relayed as it is */
                ck_assert_int_eq(p->own, DIALECT_OPENAI);
            json_object_put(in);
            json_object_put(out);
        }
    }
}
END_TEST

static Suite *
provider_suite(void)
{
    Suite *s = suite_create("provider");
    TCase *tc = tcase_create("registry");
    tcase_add_test(tc, registry_round_trip);
    tcase_add_test(tc, man_page_describes_every_provider);
    tcase_add_test(tc, auth_header_sent);
    suite_add_tcase(s, tc);
    tc = tcase_create("errors");
    tcase_add_test(tc, error_types_as_documented);
    tcase_add_test(tc, providers_type_errors_by_the_table);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return run_suite(provider_suite());
}
