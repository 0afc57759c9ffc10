/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gsa_fuzzer.c: what the master reads from a Google token endpoint
 * (gsa_token_parse, src/gsa.c) and what a worker reads from the table's
 * Vertex token blob (vtoken_decode, src/vtoken.c).
 *
 * Oracles: a token the parser accepts is the one json-c reads as the
 * answer's access_token, printable without spaces (it becomes a header:
 * no CR, LF or NUL), shorter than its buffer, with an expires_in from 1
 * to 86400; encoded as a blob it decodes to itself and its expiry, and is
 * expired at that expiry. A blob of any bytes decodes to a token without
 * NUL whose length is what is left after "<digits> ", or is refused.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "fuzz.h"
#include "gsa.h"
#include "vtoken.h"

/* The answer as the master reads it. */
static void
answer(const char *text, size_t len)
{
    char tok[GSA_TOKEN_MAX], why[128], blob[GSA_TOKEN_MAX + 32], back[GSA_TOKEN_MAX];
    int64_t life = 0, exp = 0;
    if (gsa_token_parse(text, len, tok, sizeof(tok), &life, why, sizeof(why)) < 0) {
        FUZZ_ASSERT(why[0] != '\0', "refused without a reason");
        return;
    }
    size_t n = strlen(tok);
    FUZZ_ASSERT(n > 0 && n < sizeof(tok), "token length %zu", n);
    for (size_t i = 0; i < n; i++)
        FUZZ_ASSERT((unsigned char)tok[i] > 0x20 && tok[i] != 0x7f, "byte %02x in the token",
                    (unsigned char)tok[i]);
    FUZZ_ASSERT(life >= 1 && life <= 86400, "expires_in %lld", (long long)life);
    struct json_object *o = json_tokener_parse(text), *v;
    FUZZ_ASSERT(o != NULL && json_object_object_get_ex(o, "access_token", &v) &&
                    (size_t)json_object_get_string_len(v) == n &&
                    memcmp(json_object_get_string(v), tok, n) == 0,
                "json-c reads another access_token than %s", tok);
    json_object_put(o);
    int bl = vtoken_encode(1000 + life, tok, blob, sizeof(blob));
    FUZZ_ASSERT(bl > 0, "cannot encode");
    FUZZ_ASSERT(vtoken_decode(blob, (size_t)bl, 1000, back, sizeof(back), &exp) == 0 &&
                    strcmp(back, tok) == 0 && exp == 1000 + life,
                "the blob does not decode to its token");
    FUZZ_ASSERT(vtoken_decode(blob, (size_t)bl, 1000 + life, back, sizeof(back), &exp) == 1,
                "not expired at its expiry");
}

/* Any bytes as a blob. */
static void
blob(const char *p, size_t len)
{
    char tok[GSA_TOKEN_MAX];
    int64_t exp = -1;
    int rc = vtoken_decode(p, len, 0, tok, sizeof(tok), &exp);
    FUZZ_ASSERT(rc >= -1 && rc <= 1, "rc %d", rc);
    if (rc != 0)
        return;
    const char *sp = memchr(p, ' ', len);
    FUZZ_ASSERT(sp != NULL, "no space, yet decoded");
    size_t want = len - (size_t)(sp + 1 - p);
    FUZZ_ASSERT(strlen(tok) == want && memcmp(tok, sp + 1, want) == 0, "token differs");
    FUZZ_ASSERT(exp > 0, "expiry %lld", (long long)exp);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text == NULL)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    answer(text, size);
    blob(text, size);
    free(text);
    return 0;
}
