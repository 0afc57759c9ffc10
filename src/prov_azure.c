/* SPDX-License-Identifier: Apache-2.0 */
/*
 * prov_azure.c: Azure OpenAI. The API is OpenAI's (prov_openai.h) behind a
 * deployment URL: {api_base}/openai/deployments/{deployment}/chat/completions
 * ?api-version={api_version}, with the key in an api-key header. The
 * target's model is the deployment's name.
 *
 * The Responses API is served on Azure's "v1" API only:
 * {api_base}/openai/v1/responses, no api-version, the deployment's name as
 * the body's model (learn.microsoft.com, "Azure OpenAI Responses API").
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "aigw/resource.h"
#include "errtype.h"
#include "prov_openai.h"
#include "provider.h"

static int
build(const struct prov_call *c, struct json_object *body, struct prov_http *out, char *err,
      size_t errlen)
{
    char path[1024], query[256];
    char *dep = curl_easy_escape(NULL, c->t->upstream_model, 0);
    char *ver = curl_easy_escape(NULL, c->t->api_version, 0);
    int rc = -1;
    if (c->op == OP_RESPONSES) {
        if (prov_url(out, c->t, "/openai/v1/responses", NULL) < 0) {
            snprintf(err, errlen, "the target's api_base is too long");
            goto done;
        }
        prov_auth(out, c, &prov_azure_openai);
        prov_responses_body(c, body, out);
        rc = 0;
        goto done;
    }
    if (dep == NULL || ver == NULL) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    snprintf(path, sizeof(path), "/openai/deployments/%s%s", dep, prov_openai_path(c->op));
    snprintf(query, sizeof(query), "api-version=%s", ver);
    if (prov_url(out, c->t, path, query) < 0) {
        snprintf(err, errlen, "the target's api_base is too long");
        goto done;
    }
    prov_auth(out, c, &prov_azure_openai);
    if (prov_openai_raw(c, body, out, "max_tokens") < 0) {
        prov_openai_body(c, body, "max_tokens");
        prov_body(out, json_object_get(body));
    }
    rc = 0;
done:
    curl_free(dep);
    curl_free(ver);
    return rc;
}

/*
 * Azure's {"error":{"code","message"[,"innererror"...]}} in OpenAI's shape:
 * its code and message kept, its type (when it gives one) or one by status.
 */
static int
error(long status, const char *errtype, struct json_object *in, struct json_object **out)
{
    struct json_object *e, *v;
    const char *msg = NULL, *type = NULL, *code = NULL;
    (void)errtype; /* its errors carry their type in the body */
    *out = NULL;
    if (in == NULL || !json_object_is_type(in, json_type_object) ||
        !json_object_object_get_ex(in, "error", &e) || !json_object_is_type(e, json_type_object))
        return -1;
    if (json_object_object_get_ex(e, "message", &v) && json_object_is_type(v, json_type_string))
        msg = json_object_get_string(v);
    if (json_object_object_get_ex(e, "type", &v) && json_object_is_type(v, json_type_string))
        type = json_object_get_string(v);
    if (json_object_object_get_ex(e, "code", &v) && v != NULL)
        code = json_object_get_string(v);
    *out = prov_error_json(msg ? msg : "The upstream answered with an error",
                           type ? type : errtype_openai(status), code);
    return (int)status;
}

const struct provider prov_azure_openai = {
    .name = "azure-openai",
    .id = PROVIDER_AZURE_OPENAI,
    .api_base = NULL, /* the operator's Azure resource */
    .api_version_is = "api-version",
    .api_version = "2024-10-21",
    .auth_header = "api-key",
    .model_in_path = 1, /* the deployment */
    .ops = OP_BIT(OP_CHAT) | OP_BIT(OP_COMPLETIONS) | OP_BIT(OP_EMBEDDINGS) | OP_BIT(OP_RESPONSES),
    .own = DIALECT_OPENAI,
    .build = build,
    .response = prov_openai_response,
    .stream_event = prov_openai_stream_event,
    .error = error,
};
