/* SPDX-License-Identifier: Apache-2.0 */
/* prov_gemini_fuzzer.c: one provider's translation and parsers under the fuzzer (provfuzz.h). */
#include "config.h"

#include "aigw/resource.h"
#include "fuzz.h"
#include "provfuzz.h"
#include "provider.h"

/* One input: see provfuzz.h for its layout. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    provfuzz_one(&prov_gemini, PROVIDER_GEMINI, data, size);
    return 0;
}
