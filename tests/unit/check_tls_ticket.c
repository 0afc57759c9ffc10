/* SPDX-License-Identifier: Apache-2.0 */
/*
 * check_tls_ticket.c: session tickets with the keys of tls_ticket.c. Two
 * tls_server objects stand for two workers (each its own SSL_CTX, as each
 * worker builds its own); a client shakes hands with them in memory (a BIO
 * pair). A ticket of one resumes on the other; after one rotation it still
 * resumes (the previous key), after two it does not (a full handshake).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "shm.h"
#include "tls.h"
#include "tls_ticket.h"
#include "tap.h"

/* A PEM text of what write() puts in a memory BIO; malloc'ed. */
static char *
pem_of(int (*write)(BIO *, void *), void *obj)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data, *out;
    ck_assert_int_eq(write(b, obj), 1);
    long n = BIO_get_mem_data(b, &data);
    out = strndup(data, (size_t)n);
    BIO_free(b);
    return out;
}

static int
write_cert(BIO *b, void *x)
{
    return PEM_write_bio_X509(b, x);
}

static int
write_key(BIO *b, void *k)
{
    return PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
}

/* A tls block {certificates: [{cert_pem, key_pem}]} of a new self-signed P-256 certificate. */
static struct json_object *
tls_block(void)
{
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    ck_assert_ptr_nonnull(pk);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, pk);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1,
                               0);
    X509_set_issuer_name(x, n);
    ck_assert_int_gt(X509_sign(x, pk, EVP_sha256()), 0);
    char *cert = pem_of(write_cert, x), *key = pem_of(write_key, pk);
    struct json_object *item = json_object_new_object(), *certs = json_object_new_array();
    struct json_object *tls = json_object_new_object();
    json_object_object_add(item, "cert_pem", json_object_new_string(cert));
    json_object_object_add(item, "key_pem", json_object_new_string(key));
    json_object_array_add(certs, item);
    json_object_object_add(tls, "certificates", certs);
    free(cert);
    free(key);
    X509_free(x);
    EVP_PKEY_free(pk);
    return tls;
}

/*
 * A connection of a client (offering sess, or none) to server t, in
 * memory: 1 when it resumed, 0 when it was a full handshake. *out gets the
 * client's session after the server's tickets were read.
 */
static int
connect_to(SSL_CTX *cctx, struct tls_server *t, SSL_SESSION *sess, SSL_SESSION **out)
{
    SSL *c = SSL_new(cctx), *s = tls_server_ssl(t);
    BIO *bc, *bs;
    unsigned char byte = 'x';
    ck_assert_int_eq(BIO_new_bio_pair(&bc, 0, &bs, 0), 1);
    SSL_set_bio(c, bc, bc);
    SSL_set_bio(s, bs, bs);
    SSL_set_connect_state(c);
    SSL_set_accept_state(s);
    if (sess != NULL)
        ck_assert_int_eq(SSL_set_session(c, sess), 1);
    int done_c = 0, done_s = 0;
    for (int i = 0; i < 20 && !(done_c && done_s); i++) {
        if (!done_c)
            done_c = SSL_do_handshake(c) == 1;
        if (!done_s)
            done_s = SSL_do_handshake(s) == 1;
    }
    ck_assert_msg(done_c && done_s, "the handshake did not finish");
    /* TLS 1.3 tickets come after the handshake: a byte makes the client read them */
    ck_assert_int_eq(SSL_write(s, &byte, 1), 1);
    ck_assert_int_eq(SSL_read(c, &byte, 1), 1);
    int reused = SSL_session_reused(c);
    if (out != NULL)
        *out = SSL_get1_session(c);
    /* a clean end: OpenSSL marks the session of an SSL freed without one not resumable */
    SSL_set_shutdown(c, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_set_shutdown(s, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_free(c);
    SSL_free(s);
    return reused;
}

START_TEST(tickets_resume_across_servers_and_one_rotation)
{
    int fd;
    struct shm *shm = shm_create(1024, 4, &fd);
    ck_assert_ptr_nonnull(shm);
    tls_ticket_init(shm);
    ck_assert_int_eq(tls_ticket_rotate(), 0);
    char err[512];
    struct json_object *tls = tls_block();
    struct tls_server *a = tls_server_new(tls, "a", err, sizeof(err));
    struct tls_server *b = tls_server_new(tls, "b", err, sizeof(err));
    ck_assert_msg(a != NULL && b != NULL, "%s", err);
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(cctx, SSL_VERIFY_NONE, NULL);
    SSL_SESSION *first = NULL, *renewed = NULL;

    ck_assert_int_eq(connect_to(cctx, a, NULL, &first), 0);
    ck_assert_int_eq(SSL_SESSION_has_ticket(first), 1);
    /* another "worker" opens the first one's ticket */
    ck_assert_int_eq(connect_to(cctx, b, first, NULL), 1);
    /* one rotation: sealed with the previous key, it still resumes (and is renewed) */
    ck_assert_int_eq(tls_ticket_rotate(), 0);
    ck_assert_int_eq(connect_to(cctx, b, first, &renewed), 1);
    /* two: that key is gone; a full handshake, but the renewed ticket resumes */
    ck_assert_int_eq(tls_ticket_rotate(), 0);
    ck_assert_int_eq(connect_to(cctx, a, first, NULL), 0);
    ck_assert_int_eq(connect_to(cctx, a, renewed, NULL), 1);

    SSL_SESSION_free(first);
    SSL_SESSION_free(renewed);
    SSL_CTX_free(cctx);
    tls_server_free(a);
    tls_server_free(b);
    json_object_put(tls);
    shm_free(shm);
    close(fd);
}
END_TEST

static Suite *
tls_ticket_suite(void)
{
    Suite *s = suite_create("tls_ticket");
    TCase *tc = tcase_create("rotation");
    tcase_add_test(tc, tickets_resume_across_servers_and_one_rotation);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return run_suite(tls_ticket_suite());
}
