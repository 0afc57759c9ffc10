/* SPDX-License-Identifier: Apache-2.0 */
/*
 * admin_fuzzer.c: the Admin API (src/admin.c) over the worker's HTTP server
 * (src/http.c), as a client on 127.0.0.1 reaches it, writing into a real
 * LMDB table (src/store.c).
 *
 * Each input is one client connection (its bytes in pieces of 1 to 64
 * bytes, or whole, as the first byte says) to a fresh table in a private
 * folder (on /dev/shm when there is one) that holds one Model and one API
 * key whose secrets carry a marker. Two admin keys are configured:
 * "adm-fuzz-key-0123456789" (role admin) and "view-fuzz-key-0123456789"
 * (viewer). Oracles: the answers are HTTP responses; no answer shows a
 * stored secret (the marker), unless the client sent it itself; every
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
static struct sockaddr_in af_addr;

/* The server's handler: the current input's Admin API. */
static void
af_handle(struct http_req *r, void *arg)
{
    admin_handle(r, af_admin);
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
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    socklen_t sl = sizeof(af_addr);
    memset(&af_addr, 0, sizeof(af_addr));
    af_addr.sin_family = AF_INET;
    af_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || bind(fd, (struct sockaddr *)&af_addr, sizeof(af_addr)) < 0 ||
        listen(fd, 16) < 0 || getsockname(fd, (struct sockaddr *)&af_addr, &sl) < 0)
        abort();
    af_base = event_base_new();
    af_srv = af_base ? http_server_new(af_base, &af_conf, af_handle, NULL) : NULL;
    if (af_srv == NULL || http_server_listen_fd(af_srv, fd) < 0)
        abort();
    access_attach(af_srv, ACCESS_ADMIN, 0); /* as the master's: admin.c notes the key's name there */
    return 0;
}

/* Put one validated document into the table. */
static void
af_put(struct store_txn *t, enum res_kind k, const char *id, const char *json)
{
    struct aigw_errors e;
    struct json_object *doc = json_tokener_parse(json);
    errors_init(&e, NULL);
    if (doc == NULL || res_validate(k, doc, "", &e) < 0 || store_put(t, k, id, doc, &e) != 0) {
        errors_print(&e, stderr);
        abort();
    }
    json_object_put(doc);
    errors_free(&e);
}

/* A fresh table holding the marked Model and key. */
static struct store *
af_store(const char *dir)
{
    struct aigw_errors e;
    errors_init(&e, NULL);
    struct store *s = store_open(dir, 64 << 20, 16, 0, &e);
    struct store_txn *t = s ? store_write_begin(s) : NULL;
    if (t == NULL) {
        errors_print(&e, stderr);
        abort();
    }
    store_txn_origin(t, STORE_ORIGIN_ADMIN, 0);
    af_put(t, RES_MODEL, "m1", af_model);
    af_put(t, RES_API_KEY, "k1", af_key);
    if (store_commit(t, "admin", 0) != 0)
        abort();
    errors_free(&e);
    return s;
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

/* Remove the table's files and its folder. */
static void
af_remove(const char *dir)
{
    char p[128];
    snprintf(p, sizeof(p), "%s/data.mdb", dir);
    unlink(p);
    snprintf(p, sizeof(p), "%s/lock.mdb", dir);
    unlink(p);
    rmdir(dir);
}

/* One input: one client connection to the Admin API over a fresh table. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct admin_backend be;
    char dir[64];
    if (size < 1 || size > 65536)
        return 0;
    snprintf(dir, sizeof(dir), "%s/aigw-admin-fuzz-XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (mkdtemp(dir) == NULL)
        abort();
    struct store *s = af_store(dir);
    admin_backend_lmdb(&be, s);
    af_admin = admin_new(&af_conf, s, &be, NULL, NULL);
    size_t piece = data[0] & 0x40 ? size : (size_t)(data[0] & 0x3f) + 1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct evbuffer *out = evbuffer_new();
    FUZZ_ASSERT(af_admin != NULL && fd >= 0, "no admin or no socket: %s", strerror(errno));
    /*
     * Each connection from another loopback address (127.0.x.y, all in
     * admin.allow): the client closes first, so its side sits in TIME_WAIT
     * for a minute, and one address has only ~28k ports for that.
     */
    static unsigned next;
    struct sockaddr_in src = {.sin_family = AF_INET};
    next = next % 65000 + 1;
    src.sin_addr.s_addr = htonl(0x7f000000u | (next + 1));
    FUZZ_ASSERT(bind(fd, (struct sockaddr *)&src, sizeof(src)) == 0, "bind: %s", strerror(errno));
    FUZZ_ASSERT(connect(fd, (struct sockaddr *)&af_addr, sizeof(af_addr)) == 0,
                "the harness cannot connect: %s", strerror(errno));
    httpclient_session(af_base, af_srv, fd, data + 1, size - 1, piece, out);
    if (memmem(data, size, "HEAD", 4) == NULL)
        httpclient_check_responses(out);
    size_t outlen = evbuffer_get_length(out);
    if (outlen > 0 && memmem(data, size, "SECRET", 6) == NULL)
        FUZZ_ASSERT(memmem(evbuffer_pullup(out, -1), outlen, AF_MARK, strlen(AF_MARK)) == NULL,
                    "an answer shows a stored secret");
    FUZZ_ASSERT(store_read_begin(s) == 0, "the table cannot be read");
    for (int k = 0; k < RES_NKINDS; k++) {
        enum res_kind kind = (enum res_kind)k;
        store_docs_foreach(s, kind, af_doc_valid, &kind);
    }
    store_read_end(s);
    evbuffer_free(out);
    admin_free(af_admin);
    af_admin = NULL;
    store_close(s);
    af_remove(dir);
    return 0;
}
