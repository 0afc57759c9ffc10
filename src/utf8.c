/* SPDX-License-Identifier: Apache-2.0 */
/* utf8.c: client bytes made valid UTF-8 before they go into JSON text. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "aigw/utf8.h"

/* The bytes of the UTF-8 character at s[0..len), or 0 when it is not one. */
static size_t
utf8_char_len(const unsigned char *s, size_t len)
{
    unsigned char lo = 0x80, hi = 0xbf; /* the range of the second byte */
    size_t n;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 2;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        n = 3;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        n = 4;
    else
        return 0; /* a continuation byte, C0/C1 (overlong), F5..FF */
    /* Overlong forms, UTF-16 surrogates and code points above U+10FFFF. */
    if (s[0] == 0xe0)
        lo = 0xa0;
    else if (s[0] == 0xed)
        hi = 0x9f;
    else if (s[0] == 0xf0)
        lo = 0x90;
    else if (s[0] == 0xf4)
        hi = 0x8f;
    if (len < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return n;
}

int
utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, n;
    while (i < len) {
        if ((n = utf8_char_len(p + i, len - i)) == 0)
            return 0;
        i += n;
    }
    return 1;
}

size_t
utf8_clean(const char *s, size_t len, char *out, size_t outlen)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, o = 0, n;
    while (i < len) {
        n = utf8_char_len(p + i, len - i);
        const char *c = n ? s + i : "\xef\xbf\xbd";
        size_t clen = n ? n : 3;
        if (o + clen >= outlen)
            break; /* whole characters only, and room for the NUL */
        memcpy(out + o, c, clen);
        o += clen;
        i += n ? n : 1;
    }
    out[o] = '\0';
    return o;
}

struct json_object *
utf8_json_string(const char *s)
{
    size_t len = strlen(s);
    struct json_object *o;
    char *buf;
    if (utf8_valid(s, len))
        return json_object_new_string(s);
    /* Each byte becomes at most 3. */
    if ((buf = malloc(len * 3 + 1)) == NULL)
        return NULL;
    utf8_clean(s, len, buf, len * 3 + 1);
    o = json_object_new_string(buf);
    free(buf);
    return o;
}
