/* SPDX-License-Identifier: Apache-2.0 */
/*
 * uhttp_fuzzer.c: the upstream client's response parser (src/uhttp_resp.c)
 * on an upstream's bytes.
 *
 * Oracle: the outcome does not depend on how the response was cut into
 * reads, nor on pausing after every body piece. The bytes are parsed once
 * whole and once in pieces whose sizes come from the input itself (each in
 * its own allocation, so a read past a piece is caught), pausing and
 * resuming when the first byte's low bit is set; both runs must give the
 * same result, status, headers, body and bytes consumed. Bit 1 of the
 * first byte ends the input with the end of the connection. Also: a
 * finished response's status is final (200..599), a header section bigger
 * than UHTTP_MAX_HEADER is never accepted.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "uhttp_resp.h"

/* What the callbacks saw, as "name\0value\0" records and the body. */
struct rec {
    char *hdrs, *body;
    size_t hlen, hcap, blen, bcap;
    int status, ndone, pause;
};

static void
grow(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return;
    *cap = need * 2;
    if ((*buf = realloc(*buf, *cap)) == NULL)
        abort();
}

static void
rec_header(void *arg, const char *name, size_t nlen, const char *v, size_t vlen)
{
    struct rec *r = arg;
    grow(&r->hdrs, &r->hcap, r->hlen + nlen + vlen + 2);
    memcpy(r->hdrs + r->hlen, name, nlen);
    r->hlen += nlen;
    r->hdrs[r->hlen++] = '\0';
    memcpy(r->hdrs + r->hlen, v, vlen);
    r->hlen += vlen;
    r->hdrs[r->hlen++] = '\0';
}

static int
rec_done(void *arg, int status)
{
    struct rec *r = arg;
    r->status = status;
    r->ndone++;
    return 0;
}

static int
rec_body(void *arg, const char *buf, size_t len)
{
    struct rec *r = arg;
    grow(&r->body, &r->bcap, r->blen + len);
    if (len > 0)
        memcpy(r->body + r->blen, buf, len);
    r->blen += len;
    return r->pause ? UHTTP_PAUSE : 0;
}

static const struct uhttp_resp_cb cb = {rec_header, rec_done, rec_body};

/* Parse p in pieces (sizes from cut[], cycled; ncut 0: whole); the result, *used. */
static enum uhttp_resp_rc
parse(const char *p, size_t n, const uint8_t *cut, size_t ncut, int eof, struct rec *r,
      size_t *used, size_t *hbytes)
{
    struct uhttp_resp resp;
    enum uhttp_resp_rc rc = UR_MORE;
    size_t off = 0, i = 0;
    uhttp_resp_init(&resp, &cb, r);
    while (off < n && rc == UR_MORE) {
        size_t k = ncut ? (size_t)(cut[i++ % ncut] % 13) + 1 : n - off, got;
        if (k > n - off)
            k = n - off;
        char *piece = malloc(k);
        if (piece == NULL)
            abort();
        memcpy(piece, p + off, k);
        rc = uhttp_resp_feed(&resp, piece, k, &got);
        free(piece);
        off += got;
        if (rc == UR_PAUSED) {
            uhttp_resp_resume(&resp);
            rc = UR_MORE;
        }
    }
    if (rc == UR_MORE && eof)
        rc = uhttp_resp_eof(&resp);
    *used = off;
    *hbytes = resp.hbytes;
    uhttp_resp_free(&resp);
    return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *p = (const char *)data + 1;
    size_t n = size - 1, uw, uc, hw, hc;
    int eof = (data[0] & 2) != 0;
    struct rec whole = {0}, cut = {0};
    cut.pause = data[0] & 1;
    enum uhttp_resp_rc rw = parse(p, n, NULL, 0, eof, &whole, &uw, &hw);
    enum uhttp_resp_rc rc = parse(p, n, data, size, eof, &cut, &uc, &hc);
    FUZZ_ASSERT(rw == rc, "whole %d, in pieces %d", rw, rc);
    if (rw == UR_DONE) {
        FUZZ_ASSERT(uw == uc, "consumed whole %zu, in pieces %zu", uw, uc);
        FUZZ_ASSERT(whole.ndone == 1 && cut.ndone == 1, "headers done %d, %d times", whole.ndone,
                    cut.ndone);
        FUZZ_ASSERT(whole.status >= 200 && whole.status <= 999, "final status %d", whole.status);
        FUZZ_ASSERT(whole.status == cut.status, "status %d, %d", whole.status, cut.status);
        FUZZ_ASSERT(whole.hlen == cut.hlen &&
                        (whole.hlen == 0 || memcmp(whole.hdrs, cut.hdrs, whole.hlen) == 0),
                    "the headers differ");
        FUZZ_ASSERT(whole.blen == cut.blen &&
                        (whole.blen == 0 || memcmp(whole.body, cut.body, whole.blen) == 0),
                    "the bodies differ");
        FUZZ_ASSERT(hw <= UHTTP_MAX_HEADER, "a header section of %zu bytes accepted", hw);
    }
    free(whole.hdrs);
    free(whole.body);
    free(cut.hdrs);
    free(cut.body);
    return 0;
}
