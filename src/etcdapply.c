/* SPDX-License-Identifier: Apache-2.0 */
/*
 * etcdapply.c: a declarative apply in etcd mode (master).
 *
 * The set of the apply (adminapply.c: every resource it creates, updates or
 * deletes) goes to etcd as ONE transaction, so every node's watch brings
 * all of it in one batch, hence one LMDB transaction per node: no node
 * serves half an apply.
 *
 * The transaction is guarded by compares, so it is applied only to the
 * etcd state this node's table was made from:
 * - each resource it writes has the mod_revision this node's table holds
 *   (or does not exist, when the table does not hold it);
 * - each name (index entry, etcdindex.c) it takes is free, or held by the
 *   resource itself, or by a resource this apply moves off that name;
 * - each name it releases still names its resource.
 * A compare that fails (etcd changed since this node read it) changes
 * nothing and says so. The transaction is built as a rollback's is
 * (etcdtxn.c), from the set instead of a past version.
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
#include "etcdapply.h"
#include "etcdrollback.h"
#include "etcdtxn.h"
#include "jsonx.h"

struct rb_write {
    admin_done_cb done;
    void *arg;
    int changes;
};

/* etcd's answer: done, or refused by a compare (etcd changed since this node read it). */
static void
rb_answer(int err, int64_t revision, struct json_object *answer, void *arg)
{
    struct rb_write *w = arg;
    if (answer != NULL && json_object_get_boolean(jx_get(answer, "succeeded"))) {
        log_info("etcd: apply written at revision %lld (%d resources)", (long long)revision,
                 w->changes);
        w->done(w->arg, ADMIN_OK, revision);
    } else if (err == ETCD_EUNKNOWN) {
        w->done(w->arg, ADMIN_EUNKNOWN, 0);
    } else if (answer != NULL) {
        w->done(w->arg, ADMIN_ECONFLICT, 0);
    } else {
        w->done(w->arg, ADMIN_EIO, 0);
    }
    free(w);
}

/*
 * The holder, in etcd's index, of the name (or key) doc takes, when it is
 * another resource that this set puts and that was not sent yet: doc must
 * wait for it to move away. NULL when doc can go now.
 */
static const char *
waits_for(struct etcdowner *own, const char *prefix, enum res_kind k, const char *id,
          struct json_object *doc, struct json_object *ks, struct json_object *sent)
{
    char ikey[1024];
    struct json_object *hd;
    if (etcdindex_key(prefix, k, doc, ikey, sizeof(ikey)) < 0)
        return NULL;
    const char *holder = owner_index_get(own, ikey);
    if (holder == NULL || strcmp(holder, id) == 0 || !json_object_object_get_ex(ks, holder, &hd) ||
        hd == NULL || json_object_object_get_ex(sent, holder, NULL))
        return NULL;
    return holder;
}

/*
 * The resources of kind k in the order every node can apply them one by
 * one (etcdsync.c applies a transaction's events in order, and a put whose
 * name another resource holds not at all): deletions first, then each put
 * after the put that moves its name's holder away. A cycle (names swapped)
 * has no such order; adminapply.c refuses it before, and what is left is
 * sent last all the same (the compares keep etcd consistent).
 */
static void
plan_kind_ordered(struct store *s, struct etcdowner *own, const char *prefix, struct etcdtxn *p,
                  enum res_kind k, struct json_object *ks)
{
    struct json_object *sent = json_object_new_object();
    json_object_object_foreach(ks, did, ddoc)
    {
        if (ddoc == NULL) {
            etcdtxn_resource(s, prefix, p, k, did, NULL);
            json_object_object_add(sent, did, NULL);
        }
    }
    for (int force = 0; force < 2; force++) {
        int progress = 1;
        while (progress) {
            progress = 0;
            json_object_object_foreach(ks, id, doc)
            {
                if (doc == NULL || json_object_object_get_ex(sent, id, NULL) ||
                    (!force && waits_for(own, prefix, k, id, doc, ks, sent) != NULL))
                    continue;
                etcdtxn_resource(s, prefix, p, k, id,
                                 json_object_to_json_string_ext(
                                     doc, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
                json_object_object_add(sent, id, NULL);
                progress = 1;
            }
        }
    }
    json_object_put(sent);
}

void
etcdapply_send(struct etcd *etcd, struct store *s, struct etcdowner *own, const char *prefix,
               struct json_object *set, const char *source, admin_done_cb done, void *arg)
{
    struct aigw_errors e;
    struct etcdtxn p;
    etcdtxn_init(&p);
    int err = ADMIN_EIO;
    errors_init(&e, NULL);
    if (store_read_begin(s) < 0) {
        errors_add(&e, NULL, NULL, "the configuration table cannot be read");
        goto fail;
    }
    for (int k = 0; k < RES_NKINDS; k++)
        plan_kind_ordered(s, own, prefix, &p, (enum res_kind)k,
                          json_object_object_get(set, res_kind_name((enum res_kind)k)));
    store_read_end(s);
    if (etcdtxn_names(own, prefix, &p, "apply", "etcd changed since this node read it",
                      ", or apply again", &e) < 0) {
        err = ADMIN_ENAMECONFLICT;
        goto fail;
    }
    if (p.changes == 0) { /* as the set says already: nothing to send */
        done(arg, ADMIN_OK, 0);
        goto out;
    }
    /* who asked: every node's history records it with the batch (etcdsync.c apply_note) */
    if (source != NULL && source[0] != '\0')
        etcdtxn_note(&p, prefix, source, 0);
    struct rb_write *w = calloc(1, sizeof(*w));
    char *body = etcdtxn_body(&p);
    if (w == NULL || body == NULL) {
        free(w);
        free(body);
        goto fail;
    }
    w->done = done;
    w->arg = arg;
    w->changes = p.changes;
    if (etcd_txn(etcd, body, rb_answer, w) < 0)
        rb_answer(ETCD_EIO, 0, NULL, w);
    free(body);
    goto out;
fail:
    log_warnx("etcd: apply refused: %s", e.n ? e.msgs[0] : "out of memory");
    done(arg, err, 0);
out:
    etcdtxn_free(&p);
    errors_free(&e);
}
