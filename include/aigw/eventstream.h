/* SPDX-License-Identifier: Apache-2.0 */
/*
 * eventstream.h: AWS's binary event-stream framing
 * (application/vnd.amazon.eventstream, Bedrock's ConverseStream): messages
 * reassembled from reads split anywhere, both CRC32s checked, typed headers.
 */
#ifndef AIGW_EVENTSTREAM_H
#define AIGW_EVENTSTREAM_H

#include <stddef.h>
#include <stdint.h>

/* Header value types, as on the wire. */
enum es_type {
    ES_BOOL_TRUE = 0,
    ES_BOOL_FALSE = 1,
    ES_BYTE = 2,
    ES_SHORT = 3,
    ES_INT = 4,
    ES_LONG = 5,
    ES_BYTES = 6,
    ES_STRING = 7,
    ES_TIMESTAMP = 8,
    ES_UUID = 9,
};

struct es_header {
    const char *name; /* not NUL-terminated */
    size_t name_len;
    enum es_type type;
    const char *value; /* bytes, string and uuid: the value (not NUL-terminated) */
    size_t value_len;
    int64_t ival; /* bool (0/1), byte, short, int, long, timestamp */
};

#define ES_MAX_HEADERS 32

struct es_message {
    struct es_header headers[ES_MAX_HEADERS];
    size_t nheaders;
    const char *payload;
    size_t payload_len;
};

/* Errors of es_feed (a callback's own non-zero result is passed on as it is). */
#define ES_ERR_LENGTH -1      /* a total or headers length that cannot be, or over the limit */
#define ES_ERR_PRELUDE_CRC -2 /* the prelude's CRC32 does not match */
#define ES_ERR_MESSAGE_CRC -3 /* the message's CRC32 does not match */
#define ES_ERR_HEADER -4      /* a header runs past its section, has an unknown type, or too many */

/* Called once per complete, checked message; non-zero stops decoding. */
typedef int (*es_message_cb)(const struct es_message *m, void *arg);

struct es_decoder {
    unsigned char *buf; /* the current, incomplete message */
    size_t len, cap;
    size_t max; /* most bytes one message may have */
    int failed; /* an error was returned: every later feed returns it */
};

void es_init(struct es_decoder *d, size_t max_message);
void es_free(struct es_decoder *d);
/* Returns 0, an ES_ERR_*, or the callback's non-zero result. */
int es_feed(struct es_decoder *d, const void *buf, size_t len, es_message_cb cb, void *arg);
/* Bytes of an incomplete message held (non-zero at the stream's end: it was cut). */
size_t es_pending(const struct es_decoder *d);
/* A short name of an ES_ERR_* for logs. */
const char *es_strerror(int err);

/* The value of string header name in m, its length in *len; NULL when absent or not a string. */
const char *es_header_string(const struct es_message *m, const char *name, size_t *len);

/*
 * What a message is, as a stream's consumer needs it: the :event-type of an
 * event message, the :exception-type of an exception, the :error-code of an
 * error message (*is_error set for the last two); NULL when the message
 * says none of these (its length in *len).
 */
const char *es_event_type(const struct es_message *m, size_t *len, int *is_error);

/* CRC32 (IEEE 802.3, as zlib's crc32) of n bytes, continuing from crc (0 to start). */
uint32_t es_crc32(uint32_t crc, const void *p, size_t n);

/*
 * One message with string headers (names[i] = values[i]) and payload, framed
 * with both CRCs; malloc'd, its length in *out_len; NULL on no memory or a
 * name or value too long. For tests, fuzz seeds and the mock.
 */
unsigned char *es_encode(const char *const *names, const char *const *values, size_t nheaders,
                         const void *payload, size_t payload_len, size_t *out_len);

#endif
