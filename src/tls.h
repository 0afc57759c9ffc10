/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tls.h: TLS termination of a listener (OpenSSL), and the checks of its
 * certificates and keys that aigw -t, a start and a reload make.
 *
 * A listener's tls block lives in the configuration tree. The master reads
 * its files (conftls.c) and puts their contents into the tree, so the
 * workers, which get the master's tree, never open them, use exactly what
 * the master checked, and a reload after a certificate file changed sees a
 * changed tree and starts new workers with it. Each process builds its own
 * SSL_CTX from the tree: no OpenSSL state crosses fork.
 */
#ifndef AIGW_TLS_H
#define AIGW_TLS_H

#include <stddef.h>
#include <stdint.h>

struct json_object;
struct ssl_st;

#define TLS_MAX_CERTS 8
#define TLS_MAX_CERT_FILE (1 << 20) /* a chain file */
#define TLS_MAX_KEY_FILE (64 << 10)
/* TLS 1.2's ciphers when the tls block names none (TLS 1.3's are OpenSSL's). */
#define TLS_DEFAULT_CIPHERS                                                                        \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                                   \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                                   \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

struct tls_server;
struct ssl_ctx_st;

/* Call hook on every SSL_CTX built from now on (the ticket keys: tls_ticket.c). */
void tls_set_ctx_hook(void (*hook)(struct ssl_ctx_st *ctx));

/*
 * Check one certificate chain (PEM) against its private key (PEM): both
 * parse, the key is the certificate's, and the certificate is valid now.
 * 0, or -1 with the reason in err, naming cert_name or key_name. *not_after
 * gets the certificate's expiry (seconds since the epoch).
 */
int tls_check_pair(const char *cert_pem, const char *key_pem, const char *cert_name,
                   const char *key_name, int64_t *not_after, char *err, size_t errlen);
/* Check a CA bundle (PEM) has at least one certificate; 0 or -1 with err. */
int tls_check_ca(const char *pem, const char *name, char *err, size_t errlen);

/*
 * The TLS side of one listener, from its tls block as the master completed
 * it (cert_pem, key_pem, client_ca_pem). listener names it in logs and
 * metrics. NULL with the reason in err.
 */
struct tls_server *tls_server_new(struct json_object *tls, const char *listener, char *err,
                                  size_t errlen);
/* A new server-side SSL for an accepted connection (NULL: out of memory). */
struct ssl_st *tls_server_ssl(struct tls_server *t);
/* The listener's name, as given. */
const char *tls_server_name(const struct tls_server *t);
/* Certificate i's file and expiry (seconds since the epoch); -1 past the last. */
int tls_server_cert(const struct tls_server *t, int i, const char **file, int64_t *not_after);
/*
 * One more reference: a connection holds its listener's tls_server (its SNI
 * callback's argument) until it closes, even when a reload replaced it.
 */
void tls_server_ref(struct tls_server *t);
/* Drop a reference; the last one frees it. */
void tls_server_free(struct tls_server *t);

#endif
