/*
 * jsonraw.c: edits made on the bytes of a client's JSON body (worker).
 *
 * A body that goes upstream in the client's own dialect must arrive as the
 * client wrote it: re-serialized by json-c it would be reformatted, and
 * integers beyond 64 bits would be clamped (a tool schema's "maximum":
 * 1e30 written as digits would change). So a provider that only replaces
 * the model (and adds a member or two) finds the values in the text and
 * splices. The body was already parsed strictly by proxy.c, so the scanner
 * only has to follow the grammar, not check it; and jsonraw_check_names
 * refused there what the two readings could see differently.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonraw.h"

static size_t
ws(const char *p, size_t i, size_t n)
{
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
        i++;
    return i;
}

/* One past the string that starts at p[i] == '"'; 0 when it does not end. */
static size_t
string_end(const char *p, size_t i, size_t n)
{
    for (i++; i < n; i++) {
        if (p[i] == '\\')
            i++;
        else if (p[i] == '"')
            return i + 1;
    }
    return 0;
}

/* One past the value that starts at p[i]; 0 when it is cut short. */
static size_t
value_end(const char *p, size_t i, size_t n)
{
    if (i >= n)
        return 0;
    if (p[i] == '"')
        return string_end(p, i, n);
    if (p[i] == '{' || p[i] == '[') {
        int depth = 0;
        for (; i < n; i++) {
            if (p[i] == '"') {
                size_t e = string_end(p, i, n);
                if (e == 0)
                    return 0;
                i = e - 1;
            } else if (p[i] == '{' || p[i] == '[') {
                depth++;
            } else if ((p[i] == '}' || p[i] == ']') && --depth == 0) {
                return i + 1;
            }
        }
        return 0;
    }
    while (i < n && p[i] != ',' && p[i] != '}' && p[i] != ']' && p[i] != ' ' && p[i] != '\t' &&
           p[i] != '\n' && p[i] != '\r')
        i++;
    return i;
}

static int name_is(const char *p, size_t b, size_t e, const char *key, size_t klen);

int
jsonraw_member(const char *p, size_t n, size_t obj, const char *key, struct jsonraw_span *v,
               size_t *close)
{
    size_t klen = strlen(key), i;
    int found = 0;
    if (obj >= n || p[obj] != '{')
        return -1;
    i = ws(p, obj + 1, n);
    if (i < n && p[i] == '}') {
        *close = i;
        return 1;
    }
    while (i < n && p[i] == '"') {
        size_t ke = string_end(p, i, n);
        if (ke == 0)
            return -1;
        int match = name_is(p, i + 1, ke - 1, key, klen);
        i = ws(p, ke, n);
        if (i >= n || p[i] != ':')
            return -1;
        i = ws(p, i + 1, n);
        size_t ve = value_end(p, i, n);
        if (ve == 0)
            return -1;
        if (match) { /* json-c keeps the last of duplicate members: so do we */
            v->b = i;
            v->e = ve;
            found = 1;
        }
        i = ws(p, ve, n);
        if (i < n && p[i] == ',') {
            i = ws(p, i + 1, n);
            continue;
        }
        if (i < n && p[i] == '}') {
            *close = i;
            return found ? 0 : 1;
        }
        return -1;
    }
    return -1;
}

size_t
jsonraw_start(const char *p, size_t n)
{
    size_t i = ws(p, 0, n);
    return i < n && p[i] == '{' ? i : (size_t)-1;
}

/* Edits in the order of their offsets; equal offsets keep the order they were added in. */
static int
edit_cmp(const void *a, const void *b)
{
    const struct jsonraw_edit *x = a, *y = b;
    if (x->at != y->at)
        return x->at < y->at ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

char *
jsonraw_apply(const char *p, size_t n, struct jsonraw_edit *ed, int ned, size_t *outlen)
{
    size_t len = n, at = 0;
    for (int i = 0; i < ned; i++) {
        ed[i].seq = i;
        len += ed[i].inslen - ed[i].cut;
    }
    qsort(ed, (size_t)ned, sizeof(*ed), edit_cmp);
    char *out = malloc(len + 1), *o = out;
    if (out == NULL)
        return NULL;
    for (int i = 0; i < ned; i++) {
        if (ed[i].at < at || ed[i].at + ed[i].cut > n) { /* overlapping: a caller's bug */
            free(out);
            return NULL;
        }
        memcpy(o, p + at, ed[i].at - at);
        o += ed[i].at - at;
        memcpy(o, ed[i].ins, ed[i].inslen);
        o += ed[i].inslen;
        at = ed[i].at + ed[i].cut;
    }
    memcpy(o, p + at, n - at);
    o += n - at;
    *o = '\0';
    *outlen = (size_t)(o - out);
    return out;
}

/* ---- one reading of member names ---- */

/*
 * Why: aigw reads a body through json-c, which keeps the last of duplicate
 * members and cuts a name at an escaped NUL, while a pass-through upstream
 * reads the client's bytes with a parser of its own: the first of
 * duplicates, the whole name, or (Go's encoding/json, so Ollama) any ASCII
 * case variant. Where they can disagree the body is refused, so that what
 * the upstream reads is what aigw checked.
 */

#define NAMES_MAX_DEPTH 64

struct name {
    const char *s; /* decoded, in the arena */
    size_t len;
};

struct names {
    const char *p;
    size_t n;
    char *arena; /* decoded names; never longer than their text */
    size_t used;
    struct name *v;
    size_t nv, cap;
    char *why;
    size_t whylen;
};

/* The four hex digits at p as a number; -1 when they are not. */
static long
hex4(const char *p)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10;
        else
            return -1;
    }
    return v;
}

/* Code point cp as UTF-8 at o; the bytes written. */
static size_t
utf8_put(char *o, unsigned long cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/*
 * Decode the string whose text is p[b, e) (between its quotes) into out,
 * which has room for e - b bytes: no escape decodes to more bytes than it
 * takes. The decoded length, or (size_t)-1 for a broken escape.
 */
static size_t
decode_string(const char *p, size_t b, size_t e, char *out)
{
    size_t o = 0;
    for (size_t i = b; i < e; i++) {
        if (p[i] != '\\') {
            out[o++] = p[i];
            continue;
        }
        if (++i >= e)
            return (size_t)-1;
        switch (p[i]) {
        case '"': case '\\': case '/': out[o++] = p[i]; break;
        case 'b': out[o++] = '\b'; break;
        case 'f': out[o++] = '\f'; break;
        case 'n': out[o++] = '\n'; break;
        case 'r': out[o++] = '\r'; break;
        case 't': out[o++] = '\t'; break;
        case 'u': {
            long cp = i + 4 < e ? hex4(p + i + 1) : -1;
            if (cp < 0)
                return (size_t)-1;
            i += 4;
            if (cp >= 0xd800 && cp < 0xdc00 && i + 6 < e && p[i + 1] == '\\' && p[i + 2] == 'u') {
                long lo = hex4(p + i + 3);
                if (lo >= 0xdc00 && lo < 0xe000) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    i += 6;
                }
            }
            if (cp >= 0xd800 && cp < 0xe000) /* a lone surrogate: U+FFFD, as json-c */
                cp = 0xfffd;
            o += utf8_put(out + o, (unsigned long)cp);
            break;
        }
        default:
            return (size_t)-1;
        }
    }
    return o;
}

/* Is the member name whose text is p[b, e) key, once its escapes are decoded? */
static int
name_is(const char *p, size_t b, size_t e, const char *key, size_t klen)
{
    char buf[64];
    if (e - b > sizeof(buf))
        return 0;
    size_t n = memchr(p + b, '\\', e - b) ? decode_string(p, b, e, buf) : (size_t)-1;
    if (n == (size_t)-1)
        return e - b == klen && memcmp(p + b, key, klen) == 0;
    return n == klen && memcmp(buf, key, klen) == 0;
}

/* ASCII lower case; other bytes as they are. */
static int
fold(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* a and b compared byte for byte (folded: under ASCII case folding). */
static int
name_cmp(const struct name *a, const struct name *b, int folded)
{
    size_t n = a->len < b->len ? a->len : b->len;
    for (size_t i = 0; i < n; i++) {
        int x = (unsigned char)a->s[i], y = (unsigned char)b->s[i];
        if (folded) {
            x = fold(x);
            y = fold(y);
        }
        if (x != y)
            return x - y;
    }
    return a->len < b->len ? -1 : a->len > b->len;
}

static int
cmp_exact(const void *a, const void *b)
{
    return name_cmp(a, b, 0);
}

static int
cmp_folded(const void *a, const void *b)
{
    return name_cmp(a, b, 1);
}

/* A name for a message: printable ASCII kept, other bytes as \xNN, at most 64 shown. */
static void
name_show(char *out, size_t outlen, const struct name *nm)
{
    size_t o = 0;
    for (size_t i = 0; i < nm->len && o + 5 < outlen && i < 64; i++) {
        unsigned char c = (unsigned char)nm->s[i];
        if (c >= ' ' && c < 0x7f && c != '`')
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
    }
    if (nm->len > 64 && o + 4 < outlen) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o < outlen ? o : outlen - 1] = '\0';
}

/* The members aigw reads or writes at the top level and in stream_options. */
static const char *const top_names[] = {"model", "stream", "stream_options", "max_tokens",
                                        "max_completion_tokens", NULL};
static const char *const so_names[] = {"include_usage", NULL};

/* A name that is one of aigw's in another case: json-c and Go would disagree. */
static const char *
case_variant(const struct name *nm, const char *const *known)
{
    for (int i = 0; known != NULL && known[i] != NULL; i++) {
        struct name k = {known[i], strlen(known[i])};
        if (name_cmp(nm, &k, 1) == 0 && name_cmp(nm, &k, 0) != 0)
            return known[i];
    }
    return NULL;
}

static size_t names_value(struct names *st, size_t i, int depth, const char *const *known);

/*
 * The object at p[i] == '{': its names checked (duplicates exact, or folded
 * where known names are given), its values walked. One past it; 0 refused.
 */
static size_t
names_object(struct names *st, size_t i, int depth, const char *const *known)
{
    const char *p = st->p;
    size_t n = st->n, mark = st->nv, amark = st->used;
    char shown[400], other[400];
    i = ws(p, i + 1, n);
    while (i < n && p[i] == '"') {
        size_t ke = string_end(p, i, n);
        if (ke == 0)
            return 0;
        size_t len = decode_string(p, i + 1, ke - 1, st->arena + st->used);
        if (len == (size_t)-1)
            return 0;
        struct name nm = {st->arena + st->used, len};
        if (memchr(nm.s, '\0', len) != NULL) {
            name_show(shown, sizeof(shown), &nm);
            snprintf(st->why, st->whylen, "The member name `%s` contains a NUL character.", shown);
            return 0;
        }
        const char *k = case_variant(&nm, known);
        if (k != NULL) {
            name_show(shown, sizeof(shown), &nm);
            snprintf(st->why, st->whylen,
                     "The member `%s` differs from `%s` only in case; member names are "
                     "case-sensitive.", shown, k);
            return 0;
        }
        if (st->nv == st->cap) {
            size_t cap = st->cap ? st->cap * 2 : 64;
            struct name *nv = realloc(st->v, cap * sizeof(*nv));
            if (nv == NULL) {
                snprintf(st->why, st->whylen, "Out of memory");
                return 0;
            }
            st->v = nv;
            st->cap = cap;
        }
        st->v[st->nv++] = nm;
        st->used += len;
        i = ws(p, ke, n);
        if (i >= n || p[i] != ':')
            return 0;
        i = ws(p, i + 1, n);
        const char *const *sub = depth == 0 && nm.len == 14 &&
                                 memcmp(nm.s, "stream_options", 14) == 0 ? so_names : NULL;
        size_t ve = names_value(st, i, depth + 1, sub);
        if (ve == 0)
            return 0;
        i = ws(p, ve, n);
        if (i < n && p[i] == ',')
            i = ws(p, i + 1, n);
        else
            break;
    }
    if (i >= n || p[i] != '}')
        return 0;
    /* duplicates sit side by side once sorted: O(n log n) for an object of n members */
    int folded = known != NULL;
    struct name *v = st->v + mark;
    size_t nv = st->nv - mark;
    if (nv > 1)
        qsort(v, nv, sizeof(*v), folded ? cmp_folded : cmp_exact);
    for (size_t j = 1; j < nv; j++)
        if (name_cmp(&v[j - 1], &v[j], folded) == 0) {
            /* byte order, not qsort's, decides which is named first */
            int swap = name_cmp(&v[j - 1], &v[j], 0) > 0;
            name_show(shown, sizeof(shown), &v[j - 1 + swap]);
            name_show(other, sizeof(other), &v[j - swap]);
            if (strcmp(shown, other) == 0)
                snprintf(st->why, st->whylen,
                         "The member `%s` appears more than once in one object (after decoding "
                         "escapes).", shown);
            else
                snprintf(st->why, st->whylen,
                         "The members `%s` and `%s` differ only in case; write each member once.",
                         shown, other);
            return 0;
        }
    st->nv = mark;
    st->used = amark;
    return i + 1;
}

/* Walk the value at p[i]; one past it; 0 refused (why set) or broken. */
static size_t
names_value(struct names *st, size_t i, int depth, const char *const *known)
{
    const char *p = st->p;
    size_t n = st->n;
    if (i >= n)
        return 0;
    if (depth > NAMES_MAX_DEPTH) {
        snprintf(st->why, st->whylen, "The body is nested more than %d levels deep.",
                 NAMES_MAX_DEPTH);
        return 0;
    }
    if (p[i] == '{')
        return names_object(st, i, depth, known);
    if (p[i] != '[')
        return value_end(p, i, n);
    i = ws(p, i + 1, n);
    if (i < n && p[i] == ']')
        return i + 1;
    while (i < n) {
        size_t ve = names_value(st, i, depth + 1, NULL);
        if (ve == 0)
            return 0;
        i = ws(p, ve, n);
        if (i < n && p[i] == ',')
            i = ws(p, i + 1, n);
        else if (i < n && p[i] == ']')
            return i + 1;
        else
            return 0;
    }
    return 0;
}

int
jsonraw_check_names(const char *p, size_t n, char *why, size_t whylen)
{
    struct names st = {.p = p, .n = n, .why = why, .whylen = whylen};
    size_t i = ws(p, 0, n);
    why[0] = '\0';
    if (i >= n || p[i] != '{')
        return 0; /* not an object: the caller's own check says so */
    if ((st.arena = malloc(n + 1)) == NULL) {
        snprintf(why, whylen, "Out of memory");
        return -1;
    }
    size_t e = names_object(&st, i, 0, top_names);
    free(st.arena);
    free(st.v);
    if (e == 0 && why[0] == '\0')
        snprintf(why, whylen, "The body is not valid JSON.");
    return e == 0 ? -1 : 0;
}
