/* SPDX-License-Identifier: Apache-2.0 */
/*
 * provfuzz.h: one provider's parsers and translations under the fuzzer
 * (prov_openai_fuzzer.c, prov_azure_fuzzer.c, prov_anthropic_fuzzer.c,
 * prov_gemini_fuzzer.c each hand their provider to provfuzz_one).
 *
 * The input's first byte picks what is fed the rest, the second how:
 *   0 build:    a client's body (checked as aigw checks it, translated from
 *               Anthropic's Messages API when the client speaks it) to the
 *               upstream request;
 *   1 response: an upstream's 2xx answer;
 *   2 stream:   an upstream's SSE stream, through the SSE parser, each event
 *               to stream_event, the translated chunks on to an Anthropic
 *               client's stream when the client speaks it;
 *   3 error:    an upstream's non-2xx answer.
 * Oracles besides the sanitizers: what aigw writes itself (a translated
 * request, answer, chunk, error) is JSON that json-c reads back, a
 * request header holds no CR, LF or NUL, and token counts are clamped to
 * 0..USAGE_MAX (usage.h).
 */
#ifndef AIGW_FUZZ_PROVFUZZ_H
#define AIGW_FUZZ_PROVFUZZ_H

#include <stddef.h>
#include <stdint.h>

struct provider;

void provfuzz_one(const struct provider *p, int id, const uint8_t *data, size_t size);

#endif
