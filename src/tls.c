/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tls.c: a listener's SSL_CTX (one per certificate, the first the default,
 * another chosen by SNI), TLS 1.2 and 1.3 only by default, ALPN http/1.1,
 * optional client certificates; and the checks aigw -t makes of a
 * certificate and its key. Everything is built from PEM text the master put
 * into the configuration tree (conftls.c), never from files here.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "log.h"
#include "tls.h"

struct tls_cert {
    char file[256]; /* cert_file, for metrics and logs */
    SSL_CTX *ctx;
    X509 *leaf; /* owned by ctx */
    int64_t not_after;
};

struct tls_server {
    int refs; /* its owner's, and one per connection accepted with it */
    struct tls_cert certs[TLS_MAX_CERTS];
    int ncerts;
    char listener[300];
};

/* Called on each SSL_CTX built (tls_ticket.c sets it: the shared ticket keys). */
static void (*tls_ctx_hook)(SSL_CTX *ctx);

void
tls_set_ctx_hook(void (*hook)(SSL_CTX *ctx))
{
    tls_ctx_hook = hook;
}

/* The first OpenSSL error's text (the queue is emptied). */
static const char *
tls_ossl_error(char *buf, size_t len)
{
    unsigned long code = ERR_get_error();
    if (code == 0)
        snprintf(buf, len, "not PEM");
    else
        ERR_error_string_n(code, buf, len);
    ERR_clear_error();
    return buf;
}

/* ASN1 time to seconds since the epoch (0 when it does not convert). */
static int64_t
tls_asn1_epoch(const ASN1_TIME *t)
{
    struct tm tm;
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return (int64_t)timegm(&tm);
}

/* Every certificate of a PEM text, in order: a stack the caller frees, or NULL. */
static STACK_OF(X509) *
tls_read_chain(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    STACK_OF(X509) *sk = sk_X509_new_null();
    X509 *x;
    if (b == NULL || sk == NULL)
        goto fail;
    while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
        if (!sk_X509_push(sk, x)) {
            X509_free(x);
            goto fail;
        }
    ERR_clear_error(); /* the end of the text reads as an error */
    BIO_free(b);
    if (sk_X509_num(sk) > 0)
        return sk;
    sk_X509_free(sk);
    return NULL;
fail:
    BIO_free(b);
    sk_X509_pop_free(sk, X509_free);
    return NULL;
}

/* The private key of a PEM text, or NULL. */
static EVP_PKEY *
tls_read_key(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    return k;
}

/* Expired or not yet valid: -1 with err naming the file. */
static int
tls_check_dates(X509 *leaf, const char *cert_name, char *err, size_t errlen)
{
    if (X509_cmp_current_time(X509_get0_notAfter(leaf)) <= 0) {
        snprintf(err, errlen, "%s: the certificate expired", cert_name);
        return -1;
    }
    if (X509_cmp_current_time(X509_get0_notBefore(leaf)) >= 0) {
        snprintf(err, errlen, "%s: the certificate is not valid yet", cert_name);
        return -1;
    }
    return 0;
}

int
tls_check_pair(const char *cert_pem, const char *key_pem, const char *cert_name,
               const char *key_name, int64_t *not_after, char *err, size_t errlen)
{
    char ebuf[256];
    int rv = -1;
    STACK_OF(X509) *chain = tls_read_chain(cert_pem);
    EVP_PKEY *key = NULL;
    if (chain == NULL) {
        snprintf(err, errlen, "%s: no PEM certificate in it (%s)", cert_name,
                 tls_ossl_error(ebuf, sizeof(ebuf)));
        goto done;
    }
    if ((key = tls_read_key(key_pem)) == NULL) {
        snprintf(err, errlen, "%s: no PEM private key in it, or an encrypted one (%s)", key_name,
                 tls_ossl_error(ebuf, sizeof(ebuf)));
        goto done;
    }
    X509 *leaf = sk_X509_value(chain, 0);
    if (X509_check_private_key(leaf, key) != 1) {
        ERR_clear_error();
        snprintf(err, errlen, "%s: the key does not match the certificate of %s", key_name,
                 cert_name);
        goto done;
    }
    if (tls_check_dates(leaf, cert_name, err, errlen) < 0)
        goto done;
    if (not_after != NULL)
        *not_after = tls_asn1_epoch(X509_get0_notAfter(leaf));
    rv = 0;
done:
    EVP_PKEY_free(key);
    sk_X509_pop_free(chain, X509_free);
    return rv;
}

int
tls_check_ca(const char *pem, const char *name, char *err, size_t errlen)
{
    STACK_OF(X509) *sk = tls_read_chain(pem);
    if (sk == NULL) {
        snprintf(err, errlen, "%s: no PEM certificate in it", name);
        return -1;
    }
    sk_X509_pop_free(sk, X509_free);
    return 0;
}

/* ALPN: http/1.1 when the client offers it; otherwise no ALPN at all. */
static int
tls_alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
            unsigned int inlen, void *arg)
{
    (void)ssl;
    (void)arg;
    /* in: length-prefixed names; each is checked to lie inside in before use */
    for (unsigned int i = 0; i < inlen;) {
        unsigned int n = in[i];
        if (n == 0 || i + 1 + n > inlen)
            break;
        if (n == 8 && memcmp(in + i + 1, "http/1.1", 8) == 0) {
            *out = in + i + 1;
            *outlen = 8;
            return SSL_TLSEXT_ERR_OK;
        }
        i += 1 + n;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

/* SNI: the first certificate whose names cover the name asked; else the default. */
static int
tls_sni_cb(SSL *ssl, int *al, void *arg)
{
    struct tls_server *t = arg;
    (void)al;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (name == NULL || t->ncerts < 2)
        return SSL_TLSEXT_ERR_OK;
    for (int i = 0; i < t->ncerts; i++)
        if (X509_check_host(t->certs[i].leaf, name, strlen(name), 0, NULL) == 1) {
            if (i > 0)
                SSL_set_SSL_CTX(ssl, t->certs[i].ctx);
            return SSL_TLSEXT_ERR_OK;
        }
    return SSL_TLSEXT_ERR_OK;
}

/* A member of the tls block as a string, or NULL. */
static const char *
tls_str(struct json_object *o, const char *key)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

/* The client CA bundle: client certificates become required. */
static int
tls_ctx_client_ca(SSL_CTX *ctx, const char *pem, char *err, size_t errlen)
{
    STACK_OF(X509) *sk = tls_read_chain(pem);
    STACK_OF(X509_NAME) *names = sk_X509_NAME_new_null();
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    int rv = -1;
    if (sk == NULL || names == NULL) {
        snprintf(err, errlen, "client_ca_file: no PEM certificate in it");
        goto done;
    }
    for (int i = 0; i < sk_X509_num(sk); i++) {
        X509 *x = sk_X509_value(sk, i);
        X509_NAME *nm = X509_NAME_dup(X509_get_subject_name(x));
        if (X509_STORE_add_cert(store, x) != 1 || nm == NULL || !sk_X509_NAME_push(names, nm)) {
            X509_NAME_free(nm);
            snprintf(err, errlen, "client_ca_file: cannot use its certificates");
            goto done;
        }
    }
    SSL_CTX_set_client_CA_list(ctx, names); /* takes names */
    names = NULL;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    rv = 0;
done:
    sk_X509_NAME_pop_free(names, X509_NAME_free);
    sk_X509_pop_free(sk, X509_free);
    ERR_clear_error();
    return rv;
}

/* The settings every context of a listener shares (SNI may switch between them). */
static int
tls_ctx_common(SSL_CTX *ctx, struct json_object *tls, char *err, size_t errlen)
{
    const char *minv = tls_str(tls, "min_version"), *ciphers = tls_str(tls, "ciphers");
    const char *ca = tls_str(tls, "client_ca_pem");
    int min = minv != NULL && strcmp(minv, "TLSv1.3") == 0 ? TLS1_3_VERSION : TLS1_2_VERSION;
    static const unsigned char sid[] = "aigw";
    SSL_CTX_set_min_proto_version(ctx, min);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_COMPRESSION);
    /* idle keep-alive connections give their read and write buffers back */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_set_cipher_list(ctx, ciphers != NULL ? ciphers : TLS_DEFAULT_CIPHERS) != 1) {
        ERR_clear_error();
        snprintf(err, errlen, "ciphers: OpenSSL knows none of them");
        return -1;
    }
    SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1);
    SSL_CTX_set_alpn_select_cb(ctx, tls_alpn_cb, NULL);
    if (tls_ctx_hook != NULL)
        tls_ctx_hook(ctx);
    if (ca != NULL && tls_ctx_client_ca(ctx, ca, err, errlen) < 0)
        return -1;
    return 0;
}

/* One certificate's context: its chain, its key, the common settings. */
static int
tls_cert_ctx(struct tls_server *t, struct tls_cert *tc, struct json_object *tls,
             struct json_object *item, char *err, size_t errlen)
{
    const char *cert = tls_str(item, "cert_pem"), *key = tls_str(item, "key_pem");
    const char *cname = tls_str(item, "cert_file"), *kname = tls_str(item, "key_file");
    STACK_OF(X509) *chain = NULL;
    EVP_PKEY *pk = NULL;
    int rv = -1;
    if (cname == NULL)
        cname = "cert_file";
    if (kname == NULL)
        kname = "key_file";
    if (cert == NULL || key == NULL) {
        snprintf(err, errlen, "%s: not read (cert_pem, key_pem)", cname);
        return -1;
    }
    if (tls_check_pair(cert, key, cname, kname, &tc->not_after, err, errlen) < 0)
        return -1;
    snprintf(tc->file, sizeof(tc->file), "%s", cname);
    if ((tc->ctx = SSL_CTX_new(TLS_server_method())) == NULL ||
        (chain = tls_read_chain(cert)) == NULL || (pk = tls_read_key(key)) == NULL)
        goto oom;
    if (SSL_CTX_use_certificate(tc->ctx, sk_X509_value(chain, 0)) != 1 ||
        SSL_CTX_use_PrivateKey(tc->ctx, pk) != 1)
        goto oom;
    for (int i = 1; i < sk_X509_num(chain); i++)
        if (SSL_CTX_add1_chain_cert(tc->ctx, sk_X509_value(chain, i)) != 1)
            goto oom;
    tc->leaf = SSL_CTX_get0_certificate(tc->ctx);
    if (tls_ctx_common(tc->ctx, tls, err, errlen) < 0)
        goto done;
    SSL_CTX_set_tlsext_servername_callback(tc->ctx, tls_sni_cb);
    SSL_CTX_set_tlsext_servername_arg(tc->ctx, t);
    rv = 0;
    goto done;
oom:
    snprintf(err, errlen, "%s: cannot load it into OpenSSL", cname);
done:
    ERR_clear_error();
    EVP_PKEY_free(pk);
    sk_X509_pop_free(chain, X509_free);
    return rv;
}

struct tls_server *
tls_server_new(struct json_object *tls, const char *listener, char *err, size_t errlen)
{
    struct json_object *certs;
    struct tls_server *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    t->refs = 1;
    snprintf(t->listener, sizeof(t->listener), "%s", listener);
    if (!json_object_object_get_ex(tls, "certificates", &certs) ||
        !json_object_is_type(certs, json_type_array) || json_object_array_length(certs) == 0) {
        snprintf(err, errlen, "tls.certificates: none");
        goto fail;
    }
    for (size_t i = 0; i < json_object_array_length(certs) && i < TLS_MAX_CERTS; i++) {
        if (tls_cert_ctx(t, &t->certs[i], tls, json_object_array_get_idx(certs, i), err,
                         errlen) < 0) {
            SSL_CTX_free(t->certs[i].ctx);
            goto fail;
        }
        t->ncerts++;
    }
    return t;
fail:
    tls_server_free(t);
    return NULL;
}

SSL *
tls_server_ssl(struct tls_server *t)
{
    return SSL_new(t->certs[0].ctx);
}

const char *
tls_server_name(const struct tls_server *t)
{
    return t->listener;
}

int
tls_server_cert(const struct tls_server *t, int i, const char **file, int64_t *not_after)
{
    if (i < 0 || i >= t->ncerts)
        return -1;
    *file = t->certs[i].file;
    *not_after = t->certs[i].not_after;
    return 0;
}

void
tls_server_ref(struct tls_server *t)
{
    t->refs++;
}

void
tls_server_free(struct tls_server *t)
{
    if (t == NULL || --t->refs > 0)
        return;
    /* an SSL still open holds its own reference to its context */
    for (int i = 0; i < t->ncerts; i++)
        SSL_CTX_free(t->certs[i].ctx);
    free(t);
}
