/* SPDX-License-Identifier: Apache-2.0 */
/*
 * admin_fuzzer.c: the Admin API (src/admin.c) over the worker's HTTP server
 * (src/http.c), as a client on 127.0.0.1 reaches it, writing into a real
 * LMDB table (src/store.c).
 *
 * Each input is one client connection (its bytes in pieces of 1 to 64
 * bytes, or whole, as the first byte says): a bufferevent pair whose server
 * end the server takes as accepted from 127.0.0.1 (httpclient.c). The
 * table, in a private folder (on /dev/shm when there is one), is opened
 * once and set back before each input, by one write transaction of the
 * store's own sync (store_sync_kind), to one Model and one API key whose
 * secrets carry a marker: whatever the last input wrote is gone. Two admin keys are configured:
 * "adm-fuzz-key-0123456789" (role admin) and "view-fuzz-key-0123456789"
 * (viewer). Oracles: the answers are HTTP responses; no answer shows a
 * stored secret (the marker), unless the client sent it itself or asked
 * GET /admin/v1/export?reveal_secrets=true with the admin key; every
 * document the table holds afterwards validates, and every name and key
 * indexes one record.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <json-c/json.h>

#include "access.h"
#include "admin.h"
#include "aigw/conf.h"
#include "aigw/errors.h"
#include "log.h"
#include "aigw/resource.h"
#include "store.h"
#include "aigw/yamljson.h"
#include "fuzz.h"
#include "http.h"
#include "httpclient.h"

/* What no answer may show: it is inside every stored secret. */
#define AF_MARK "Zq9SECRETzq9"

static const char af_conf_yaml[] =
    "admin:\n"
    "  keys:\n"
    "    - {name: ops, key: adm-fuzz-key-0123456789, role: admin}\n"
    "    - {name: view, key: view-fuzz-key-0123456789, role: viewer}\n"
    "  allow: [127.0.0.0/8]\n";

static const char *const af_model =
    "{\"name\":\"chat\",\"targets\":["
    "{\"name\":\"a\",\"provider\":\"openai\",\"model\":\"gpt-4o-mini\",\"api_key\":\"sk-a-" AF_MARK
    "-0001\"},"
    "{\"name\":\"b\",\"provider\":\"anthropic\",\"model\":\"claude\",\"api_key\":\"sk-b-" AF_MARK
    "-0002\",\"weight\":3}]}";
static const char *const af_key =
    "{\"name\":\"team\",\"key\":\"sk-aigw-" AF_MARK "-0003\",\"allowed_models\":[\"chat\"]}";

static struct event_base *af_base;
static struct http_server *af_srv;
static struct admin *af_admin; /* of the current input */
static struct conf af_conf;
static struct store *af_s;
static struct json_object *af_items[RES_NKINDS]; /* what the table is set back to */
static char af_dir[64];

/* Close the table and remove its files (the folder stays). */
static void
af_drop(void)
{
    char p[128];
    if (af_s != NULL)
        store_close(af_s);
    af_s = NULL;
    snprintf(p, sizeof(p), "%s/data.mdb", af_dir);
    unlink(p);
    snprintf(p, sizeof(p), "%s/lock.mdb", af_dir);
    unlink(p);
}

/* Remove the table's files and its folder, at exit. */
static void
af_remove(void)
{
    af_drop();
    rmdir(af_dir);
}

/*
 * A new, empty table. The history is kept across inputs (a set-back is a
 * version like any other), bounded as aigw -t requires history.max_size:
 * at most half the 64 MiB map.
 */
static void
af_open(void)
{
    struct aigw_errors e;
    errors_init(&e, NULL);
    if ((af_s = store_open(af_dir, 64 << 20, 16, 0, &e)) == NULL) {
        errors_print(&e, stderr);
        abort();
    }
    store_history_bounds(af_s, 1000, 16 << 20);
    errors_free(&e);
}

/* The server's handler: the current input's Admin API. */
static void
af_handle(struct http_req *r, void *arg)
{
    admin_handle(r, af_admin);
}

/* {id: the validated document}: one kind's content after a reset. */
static struct json_object *
af_doc(enum res_kind k, const char *id, const char *json)
{
    struct aigw_errors e;
    struct json_object *doc = json_tokener_parse(json), *items = json_object_new_object();
    errors_init(&e, NULL);
    if (doc == NULL || res_validate(k, doc, "", &e) < 0) {
        errors_print(&e, stderr);
        abort();
    }
    json_object_object_add(items, id, doc);
    errors_free(&e);
    return items;
}

/* Set the table back to the marked Model and key: one write transaction. */
static void
af_reset(void)
{
    struct aigw_errors e;
    errors_init(&e, NULL);
    struct store_txn *t = store_write_begin(af_s);
    if (t == NULL)
        abort();
    store_txn_origin(t, STORE_ORIGIN_ADMIN, 0);
    for (int k = 0; k < RES_NKINDS; k++)
        if (store_sync_kind(t, (enum res_kind)k, af_items[k], &e) < 0) {
            errors_print(&e, stderr);
            abort();
        }
    if (store_commit(t, "admin", 0) != 0)
        abort();
    errors_free(&e);
}

/* Once: the configuration (two admin keys) and the server on an ephemeral loopback port. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct aigw_errors e;
    signal(SIGPIPE, SIG_IGN); /* as the master: a peer gone is an error, not a signal */
    log_init(0, LOG_LVL_ERROR, "admin_fuzzer");
    log_open("/dev/null", "/dev/null", 0);
    errors_init(&e, NULL);
    struct json_object *root = yaml_load_buffer(af_conf_yaml, strlen(af_conf_yaml), 0, &e);
    if (root == NULL || conf_from_json(&af_conf, root, &e) < 0) {
        errors_print(&e, stderr);
        abort();
    }
    json_object_put(root);
    errors_free(&e);
    af_conf.max_body_size = 65536;
    af_base = event_base_new();
    af_srv = af_base ? http_server_new(af_base, &af_conf, af_handle, NULL) : NULL;
    if (af_srv == NULL)
        abort();
    access_attach(af_srv, ACCESS_ADMIN,
                  0); /* as the master's: admin.c notes the key's name there */
    snprintf(af_dir, sizeof(af_dir), "%s/aigw-admin-fuzz-XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (mkdtemp(af_dir) == NULL)
        abort();
    atexit(af_remove);
    af_items[RES_MODEL] = af_doc(RES_MODEL, "m1", af_model);
    af_items[RES_API_KEY] = af_doc(RES_API_KEY, "k1", af_key);
    af_items[RES_CREDENTIAL] = json_object_new_object(); /* none */
    af_open();
    return 0;
}

/* A stored document: it validates as it is (what every node would read). */
static int
af_doc_valid(const struct store_doc *d, void *arg)
{
    struct aigw_errors e;
    enum res_kind k = *(enum res_kind *)arg;
    char *s = strndup(d->json, d->len);
    struct json_object *doc = s ? json_tokener_parse(s) : NULL;
    errors_init(&e, NULL);
    FUZZ_ASSERT(doc != NULL && res_validate(k, doc, "", &e) == 0,
                "the table holds a document that does not validate: %s", s);
    errors_free(&e);
    json_object_put(doc);
    free(s);
    return 0;
}

/* One input: one client connection to the Admin API over the table set back. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct sockaddr_in peer = {.sin_family = AF_INET,
                                            .sin_addr.s_addr = 0x0100007f}; /* 127.0.0.1 */
    struct admin_backend be;
    static int tainted; /* the last input could write the marker into names or ids */
    if (size < 1 || size > 65536)
        return 0;
    if (tainted) {
        /*
         * the history outlives a set-back: what that input wrote (an id
         * holding the marker, say) would show in a later input's
         * /history answer, which is no secret; start from a new table
         */
        af_drop();
        af_open();
        tainted = 0;
    }
    af_reset();
    admin_backend_lmdb(&be, af_s);
    af_admin = admin_new(&af_conf, af_s, &be, NULL, NULL);
    size_t piece = data[0] & 0x40 ? size : (size_t)(data[0] & 0x3f) + 1;
    struct evbuffer *out = evbuffer_new();
    FUZZ_ASSERT(af_admin != NULL, "no admin");
    httpclient_session(af_base, af_srv, (const struct sockaddr *)&peer, data + 1, size - 1, piece,
                       out);
    if (memmem(data, size, "HEAD", 4) == NULL)
        httpclient_check_responses(out);
    size_t outlen = evbuffer_get_length(out);
    /*
     * export's reveal_secrets=true shows them to the admin role by design
     * (a viewer asking is still checked)
     */
    int revealed = memmem(data, size, "reveal_secrets", 14) != NULL &&
                   memmem(data, size, "adm-fuzz-key", 12) != NULL;
    if (outlen > 0 && !revealed && memmem(data, size, "SECRET", 6) == NULL)
        FUZZ_ASSERT(memmem(evbuffer_pullup(out, -1), outlen, AF_MARK, strlen(AF_MARK)) == NULL,
                    "an answer shows a stored secret");
    FUZZ_ASSERT(store_read_begin(af_s) == 0, "the table cannot be read");
    for (int k = 0; k < RES_NKINDS; k++) {
        enum res_kind kind = (enum res_kind)k;
        store_docs_foreach(af_s, kind, af_doc_valid, &kind);
    }
    store_read_end(af_s);
    tainted = memmem(data, size, "SECRET", 6) != NULL;
    evbuffer_free(out);
    admin_free(af_admin);
    af_admin = NULL;
    return 0;
}
