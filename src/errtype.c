/* SPDX-License-Identifier: Apache-2.0 */
/*
 * errtype.c: one table of HTTP statuses and the error types of both client
 * dialects. Providers type an upstream's error for OpenAI clients by it
 * (Azure's and Google's errors carry no OpenAI type, Anthropic's another),
 * messages.c types every error for Anthropic clients by it, and an
 * Anthropic stream's error event gets its status from it.
 */
#include "config.h"

#include <stddef.h>
#include <string.h>

#include "errtype.h"

static const struct {
    int status;
    const char *openai, *anthropic;
} types[] = {
    {400, "invalid_request_error", "invalid_request_error"},
    {401, "authentication_error", "authentication_error"},
    {402, "invalid_request_error", "billing_error"},
    {403, "permission_error", "permission_error"},
    {404, "not_found_error", "not_found_error"},
    {413, "invalid_request_error", "request_too_large"},
    {429, "rate_limit_error", "rate_limit_error"},
    {500, "server_error", "api_error"},
    /* before 503: overloaded_error is Anthropic's 529 (errtype_anthropic_status) */
    {529, "server_error", "overloaded_error"},
    {503, "server_error", "overloaded_error"},
    {504, "server_error", "timeout_error"},
};
#define NTYPES (sizeof(types) / sizeof(types[0]))

const char *
errtype_openai(long status)
{
    for (size_t i = 0; i < NTYPES; i++)
        if (types[i].status == status)
            return types[i].openai;
    return status >= 500 ? "server_error" : "invalid_request_error";
}

const char *
errtype_anthropic(long status)
{
    for (size_t i = 0; i < NTYPES; i++)
        if (types[i].status == status)
            return types[i].anthropic;
    /* Anthropic: invalid_request_error "may also be used for other 4XX status codes". */
    return status >= 400 && status < 500 ? "invalid_request_error" : "api_error";
}

int
errtype_anthropic_status(const char *type)
{
    for (size_t i = 0; type != NULL && i < NTYPES; i++)
        if (strcmp(type, types[i].anthropic) == 0)
            return types[i].status;
    return 500;
}
