/* SPDX-License-Identifier: Apache-2.0 */
/*
 * provider_list.h: the registry of providers, one line each:
 * X(enum value, the struct provider of its prov_*.c file). provider.h
 * makes enum provider_id and the declarations of it, provider.c the table
 * by id; names, defaults and the rest are in each provider's struct.
 *
 * A record (resource.c) stores a target's provider as its position here:
 * add new lines at the end, never reorder (or raise RES_RECORD_FORMAT).
 * Adding a provider: its prov_*.c, a line here, and Makefile.am.
 */
#ifndef AIGW_PROVIDER_LIST_H
#define AIGW_PROVIDER_LIST_H

#define PROVIDER_LIST(X)                                                                           \
    X(PROVIDER_OPENAI, prov_openai)                                                                \
    X(PROVIDER_OPENAI_COMPATIBLE, prov_openai_compatible)                                          \
    X(PROVIDER_AZURE_OPENAI, prov_azure_openai)                                                    \
    X(PROVIDER_ANTHROPIC, prov_anthropic)                                                          \
    X(PROVIDER_GEMINI, prov_gemini)                                                                \
    X(PROVIDER_BEDROCK, prov_bedrock)                                                              \
    X(PROVIDER_VERTEX, prov_vertex)

#endif
