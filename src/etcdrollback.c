/* SPDX-License-Identifier: Apache-2.0 */
/*
 * etcdrollback.c: a rollback in etcd mode (master).
 *
 * This node's history says what every resource changed since version V was
 * at V (store_history_state). That state goes to etcd as ONE transaction,
 * so every node's watch brings all of it in one batch, hence one LMDB
 * transaction per node: no node serves half a rollback.
 *
 * The transaction is guarded by compares, so it is applied only to the
 * etcd state this node's table was made from:
 * - each resource it writes has the mod_revision this node's table holds
 *   (or does not exist, when the table does not hold it);
 * - each name (index entry, etcdindex.c) it takes is free, or held by the
 *   resource itself, or by a resource this rollback moves off that name;
 * - each name it releases still names its resource.
 * A name held in etcd by a resource the rollback does not touch is refused
 * before anything is sent, with a message naming both; a compare that fails
 * (etcd changed since this node read it) changes nothing and says so.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "aigw/errors.h"
#include "log.h"
#include "aigw/resource.h"
#include "store.h"
#include "admin.h"
#include "etcd.h"
#include "etcdindex.h"
#include "etcdowner.h"
#include "etcdrollback.h"
#include "etcdtxn.h"
#include "jsonx.h"

struct rb_write {
    admin_rollback_cb done;
    void *arg;
    uint64_t v;
    int changes;
};

/* One resource of the state at v: its compare, its write, the names it takes and leaves. */
static void
plan_resource(struct store *s, const char *prefix, struct etcdtxn *p, struct json_object *item)
{
    const char *kind = jx_str(item, "kind"), *id = jx_str(item, "id");
    int k = res_kind_of(kind);
    struct json_object *val = jx_get(item, "value");
    if (k < 0)
        return;
    etcdtxn_resource(s, prefix, p, (enum res_kind)k, id, val ? jx_str(val, "doc") : NULL);
}

/* etcd's answer: done, or refused by a compare (etcd changed since this node read it). */
static void
rb_answer(int err, int64_t revision, struct json_object *answer, void *arg)
{
    struct rb_write *w = arg;
    if (answer != NULL && json_object_get_boolean(jx_get(answer, "succeeded"))) {
        log_info("etcd: rollback to version %llu written at revision %lld (%d resources)",
                 (unsigned long long)w->v, (long long)revision, w->changes);
        w->done(w->arg, ADMIN_OK, revision, w->changes, NULL);
    } else if (err == ETCD_EUNKNOWN) {
        w->done(w->arg, ADMIN_EUNKNOWN, 0, 0, NULL);
    } else if (answer != NULL) {
        w->done(w->arg, ADMIN_ECONFLICT, 0, 0,
                "etcd changed since this node read it (a resource or a name the rollback "
                "touches); nothing was changed: look at aigwctl history again and retry");
    } else {
        w->done(w->arg, ADMIN_EIO, 0, 0,
                "etcd did not take the transaction (unreachable, or more operations than its "
                "--max-txn-ops)");
    }
    free(w);
}

void
etcdrollback_send(struct etcd *etcd, struct store *s, struct etcdowner *own, const char *prefix,
                  uint64_t v, const char *source, admin_rollback_cb done, void *arg)
{
    struct aigw_errors e;
    struct etcdtxn p;
    etcdtxn_init(&p);
    struct json_object *st = NULL;
    int err = ADMIN_EIO;
    errors_init(&e, NULL);
    if (store_read_begin(s) < 0) {
        errors_add(&e, NULL, NULL, "the configuration table cannot be read");
        goto fail;
    }
    st = store_history_state(s, v, &e);
    if (st == NULL) {
        store_read_end(s);
        err = ADMIN_ENOTFOUND;
        goto fail;
    }
    json_object_object_foreach(st, sk, item)
    {
        (void)sk;
        plan_resource(s, prefix, &p, item);
    }
    store_read_end(s);
    if (etcdtxn_names(own, prefix, &p, "rollback", "it was created or renamed since",
                      ", or roll back to a later version", &e) < 0) {
        err = ADMIN_ENAMECONFLICT;
        goto fail;
    }
    if (p.changes == 0) { /* as it was at v already: nothing to send */
        done(arg, ADMIN_OK, 0, 0, NULL);
        goto out;
    }
    /* who asked, for which version: every node's history records it with the batch */
    etcdtxn_note(&p, prefix, source, (int64_t)v);
    struct rb_write *w = calloc(1, sizeof(*w));
    char *body = etcdtxn_body(&p);
    if (w == NULL || body == NULL) {
        free(w);
        free(body);
        goto fail;
    }
    w->done = done;
    w->arg = arg;
    w->v = v;
    w->changes = p.changes;
    if (etcd_txn(etcd, body, rb_answer, w) < 0)
        rb_answer(ETCD_EIO, 0, NULL, w);
    free(body);
    goto out;
fail:
    log_warnx("etcd: rollback to version %llu refused: %s", (unsigned long long)v,
              e.n ? e.msgs[0] : "out of memory");
    done(arg, err, 0, 0, e.n ? e.msgs[0] : NULL);
out:
    json_object_put(st);
    etcdtxn_free(&p);
    errors_free(&e);
}
