/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tls_ticket.c: TLS session ticket keys shared by every worker of a node,
 * so that a client resumes its session whichever worker accepts its next
 * connection (each process's own OpenSSL keys would make that a full
 * handshake on every other worker).
 *
 * The master makes a key (RAND_bytes) at start and a new one every
 * TLS_TICKET_ROTATE_MS; tickets are issued with the newest and accepted
 * with it and the one before, so a ticket lives two periods at most, and a
 * key that leaks opens at most that much traffic. The keys live in two
 * entries of the shared-memory table (shm.c), beside the counters; the
 * master is the only writer and guards each rotation with a sequence
 * number (odd while writing), which readers check around their copy, as a
 * seqlock does. No lock is taken. The keys never leave the node's memory:
 * not in the tree, a log line, a metric or the Admin API.
 */
#include "config.h"

#include <stdatomic.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "shm.h"
#include "tls.h"
#include "tls_ticket.h"

/* One key: name (2 words), AES-256 key (4), HMAC-SHA256 key (4). */
#define TK_WORDS 10
struct tk_key {
    unsigned char name[16], aes[32], hmac[32];
};

/*
 * The entries (aigw/shm.h): "state" holds SHM_TICKET_SEQ, the sequence,
 * and SHM_TICKET_NKEYS, the number of keys made so far (the newest is index
 * n % 2); each key takes two entries (7 + 3 of its 10 words).
 */
static struct shm *tk_shm;
static struct shm_slot *tk_state, *tk_part[2][2];

/* The entries, found once (the master creates them; workers only look). */
static int
tk_slots(int create)
{
    static const char *const parts[2][2] = {{"k0a", "k0b"}, {"k1a", "k1b"}};
    if (tk_state != NULL)
        return 0;
    if (tk_shm == NULL)
        return -1;
    struct shm_slot *st = create ? shm_slot(tk_shm, SHM_KIND_TLS_TICKET, "state", NULL)
                                 : shm_find(tk_shm, SHM_KIND_TLS_TICKET, "state", NULL);
    for (int k = 0; k < 2; k++)
        for (int p = 0; p < 2; p++) {
            tk_part[k][p] = create ? shm_slot(tk_shm, SHM_KIND_TLS_TICKET, parts[k][p], NULL)
                                   : shm_find(tk_shm, SHM_KIND_TLS_TICKET, parts[k][p], NULL);
            if (tk_part[k][p] == NULL)
                return -1;
        }
    tk_state = st;
    return st != NULL ? 0 : -1;
}

/* Word w of key k, in its two entries. */
static _Atomic uint64_t *
tk_word(int k, int w)
{
    return w < SHM_NC ? &tk_part[k][0]->c[w] : &tk_part[k][1]->c[w - SHM_NC];
}

/*
 * A consistent copy of the newest key and the one before (*nkeys: 0, 1 or
 * 2 of them; [0] the newest). -1 when a rotation kept racing the copy.
 */
static int
tk_snapshot(struct tk_key keys[2], int *nkeys)
{
    uint64_t words[2][TK_WORDS];
    if (tk_slots(0) < 0)
        return -1;
    for (int tries = 0; tries < 16; tries++) {
        uint64_t s1 = atomic_load_explicit(&tk_state->c[SHM_TICKET_SEQ], memory_order_acquire);
        if (s1 & 1)
            continue;
        uint64_t n = atomic_load_explicit(&tk_state->c[SHM_TICKET_NKEYS], memory_order_relaxed);
        for (int k = 0; k < 2; k++)
            for (int w = 0; w < TK_WORDS; w++)
                words[k][w] = atomic_load_explicit(tk_word(k, w), memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&tk_state->c[SHM_TICKET_SEQ], memory_order_relaxed) != s1)
            continue;
        *nkeys = n >= 2 ? 2 : (int)n;
        for (int i = 0; i < *nkeys; i++)
            memcpy(&keys[i], words[(n - 1 - (uint64_t)i) % 2], sizeof(keys[i]));
        explicit_bzero(words, sizeof(words));
        return 0;
    }
    explicit_bzero(words, sizeof(words));
    return -1;
}

int
tls_ticket_rotate(void)
{
    struct tk_key k;
    uint64_t words[TK_WORDS];
    if (tk_slots(1) < 0 || RAND_bytes((unsigned char *)&k, sizeof(k)) != 1)
        return -1;
    memcpy(words, &k, sizeof(words));
    uint64_t n = atomic_load_explicit(&tk_state->c[SHM_TICKET_NKEYS], memory_order_relaxed);
    int slot = (int)(n % 2); /* the oldest of the two makes room */
    atomic_fetch_add_explicit(&tk_state->c[SHM_TICKET_SEQ], 1, memory_order_relaxed); /* odd: writing */
    atomic_thread_fence(memory_order_release);
    for (int w = 0; w < TK_WORDS; w++)
        atomic_store_explicit(tk_word(slot, w), words[w], memory_order_relaxed);
    atomic_store_explicit(&tk_state->c[SHM_TICKET_NKEYS], n + 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&tk_state->c[SHM_TICKET_SEQ], 1, memory_order_release); /* even: done */
    explicit_bzero(&k, sizeof(k));
    explicit_bzero(words, sizeof(words));
    return 0;
}

/* The HMAC of a ticket: SHA-256 with key. */
static int
tk_mac(EVP_MAC_CTX *hctx, unsigned char *key)
{
    OSSL_PARAM params[3];
    params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key, 32);
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    params[2] = OSSL_PARAM_construct_end();
    return EVP_MAC_CTX_set_params(hctx, params) == 1 ? 0 : -1;
}

/*
 * OpenSSL's ticket callback: enc, seal a new ticket with the newest key;
 * else open one sealed with either key (2: with the older, so the client
 * gets a new ticket), or 0 (unknown key: a full handshake).
 */
static int
tk_cb(SSL *s, unsigned char key_name[16], unsigned char iv[EVP_MAX_IV_LENGTH], EVP_CIPHER_CTX *ctx,
      EVP_MAC_CTX *hctx, int enc)
{
    struct tk_key keys[2];
    int n = 0, rv = 0;
    (void)s;
    if (tk_snapshot(keys, &n) < 0 || n == 0)
        return 0; /* no shared key: no ticket, or a full handshake */
    if (enc) {
        if (RAND_bytes(iv, 16) == 1 &&
            EVP_EncryptInit_ex(ctx, EVP_aes_256_cbc(), NULL, keys[0].aes, iv) == 1 &&
            tk_mac(hctx, keys[0].hmac) == 0) {
            memcpy(key_name, keys[0].name, 16);
            rv = 1;
        } else {
            rv = -1;
        }
    } else {
        for (int i = 0; i < n; i++)
            if (memcmp(key_name, keys[i].name, 16) == 0) {
                rv = tk_mac(hctx, keys[i].hmac) == 0 &&
                             EVP_DecryptInit_ex(ctx, EVP_aes_256_cbc(), NULL, keys[i].aes, iv) == 1
                         ? (i == 0 ? 1 : 2)
                         : -1;
                break;
            }
    }
    explicit_bzero(keys, sizeof(keys));
    return rv;
}

/* tls.c's hook: every SSL_CTX of this process uses the shared keys. */
static void
tk_ctx(SSL_CTX *ctx)
{
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, tk_cb);
}

void
tls_ticket_init(struct shm *shm)
{
    tk_shm = shm;
    tk_state = NULL;
    tls_set_ctx_hook(tk_ctx);
}
