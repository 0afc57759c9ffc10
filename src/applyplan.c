/* SPDX-License-Identifier: Apache-2.0 */
/*
 * applyplan.c: the plan of a declarative apply (master): what the set of
 * resources creates, updates and deletes against the table, validated, with
 * names checked on the final state. No I/O: adminapply.c reads the table and
 * writes the set; tests/unit/check_applyplan.c runs it on JSON alone.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "aigw/errors.h"
#include "aigw/resource.h"
#include "aigw/util.h"
#include "store.h"
#include "admin_priv.h"
#include "applyplan.h"

/* The member name of doc (models and keys have one), or "". */
static const char *
doc_name(struct json_object *doc)
{
    struct json_object *n;
    return doc && json_object_object_get_ex(doc, "name", &n) ? json_object_get_string(n) : "";
}

/* The top-level fields that differ, each with its value before and after (secrets masked). */
static struct json_object *
changed_fields(enum res_kind k, struct json_object *old, const char *oldjson,
               struct json_object *doc)
{
    const char *nj = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN);
    struct json_object *mo = admin_shown_value(k, oldjson, strlen(oldjson));
    struct json_object *mn = admin_shown_value(k, nj, strlen(nj));
    struct json_object *fields = json_object_new_array(), *names = json_object_new_object();
    json_object_object_foreach(old, ok, ov)
    {
        (void)ov;
        json_object_object_add(names, ok, NULL);
    }
    json_object_object_foreach(doc, nk, nv)
    {
        (void)nv;
        json_object_object_add(names, nk, NULL);
    }
    json_object_object_foreach(names, f, unused)
    {
        (void)unused;
        struct json_object *a = json_object_object_get(old, f), *b = json_object_object_get(doc, f);
        if (json_object_equal(a, b))
            continue;
        struct json_object *fo = json_object_new_object();
        json_object_object_add(fo, "field", json_object_new_string(f));
        json_object_object_add(fo, "before", json_object_get(json_object_object_get(mo, f)));
        json_object_object_add(fo, "after", json_object_get(json_object_object_get(mn, f)));
        json_object_array_add(fields, fo);
    }
    json_object_put(names);
    json_object_put(mo);
    json_object_put(mn);
    return fields;
}

static void
plan_add(struct json_object *plan, const char *action, enum res_kind k, const char *id,
         struct json_object *doc, struct json_object *fields)
{
    struct json_object *p = json_object_new_object();
    json_object_object_add(p, "action", json_object_new_string(action));
    json_object_object_add(p, "kind", json_object_new_string(res_kind_name(k)));
    json_object_object_add(p, "id", json_object_new_string(id));
    json_object_object_add(p, "name", json_object_new_string(doc_name(doc)));
    if (fields != NULL)
        json_object_object_add(p, "fields", fields);
    json_object_array_add(plan, p);
}

/*
 * Validate the set of kind k (id -> doc) in place, masked secrets put back
 * from the stored resource of the same id; every problem into e, named
 * "<kind>/<id>: <field>: ...".
 */
static void
plan_validate(enum res_kind k, struct json_object *items, struct json_object *cur,
              struct aigw_errors *e)
{
    json_object_object_foreach(items, id, doc)
    {
        char path[RES_ID_MAX + 32];
        struct json_object *c = json_object_object_get(cur, id);
        snprintf(path, sizeof(path), "%s/%s", res_kind_name(k), id);
        if (res_id_valid(id) < 0) {
            errors_add(e, NULL, res_kind_name(k), "id %s: 1-128 of A-Z a-z 0-9 . _ -", id);
            continue;
        }
        if (doc == NULL || !json_object_is_type(doc, json_type_object)) {
            errors_add(e, NULL, path, "must be an object");
            continue;
        }
        if (k == RES_MODEL && admin_unmask(doc, json_object_object_get(c, "doc")) < 0) {
            errors_add(e, NULL, path,
                       "an api_key is a masked value that matches no stored secret of this "
                       "model: give the secret itself");
            continue;
        }
        res_validate(k, doc, path, e);
    }
}

/* "kind/id" into the list of resources the resources file owns. */
static void
owned_add(struct json_object *owned, enum res_kind k, const char *id)
{
    char s[RES_ID_MAX + 32];
    snprintf(s, sizeof(s), "%s/%s", res_kind_name(k), id);
    json_object_array_add(owned, json_object_new_string(s));
}

/*
 * The plan of kind k into plan and set (id -> doc, or null to delete);
 * owned gets every resource it would change that the resources file owns.
 */
static void
plan_kind(enum res_kind k, struct json_object *items, struct json_object *cur, int prune,
          int file_owns, struct json_object *plan, struct json_object *set,
          struct json_object *owned)
{
    json_object_object_foreach(items, id, doc)
    {
        struct json_object *c = json_object_object_get(cur, id);
        struct json_object *old = json_object_object_get(c, "doc");
        if (c != NULL && json_object_equal(old, doc))
            continue;
        if (c == NULL) {
            plan_add(plan, "create", k, id, doc, NULL);
        } else {
            plan_add(plan, "update", k, id, doc,
                     changed_fields(
                         k, old, json_object_get_string(json_object_object_get(c, "json")), doc));
            if (file_owns &&
                json_object_get_int(json_object_object_get(c, "origin")) == STORE_ORIGIN_FILE)
                owned_add(owned, k, id);
        }
        json_object_object_add(set, id, json_object_get(doc));
    }
    if (!prune)
        return;
    json_object_object_foreach(cur, cid, centry)
    {
        if (json_object_object_get_ex(items, cid, NULL))
            continue;
        plan_add(plan, "delete", k, cid, json_object_object_get(centry, "doc"), NULL);
        json_object_object_add(set, cid, NULL);
        if (file_owns &&
            json_object_get_int(json_object_object_get(centry, "origin")) == STORE_ORIGIN_FILE)
            owned_add(owned, k, cid);
    }
}

/*
 * Names (and keys) after the change must be unique: every resource kept
 * and every one written, each at most once per index key. The first clash
 * into e, naming both resources.
 */
static void
plan_names(enum res_kind k, struct json_object *cur, struct json_object *set, struct aigw_errors *e)
{
    struct json_object *seen = json_object_new_object();
    for (int pass = 0; pass < 2; pass++) {
        struct json_object *src = pass == 0 ? set : cur;
        json_object_object_foreach(src, id, v)
        {
            struct json_object *doc = pass == 0 ? v : json_object_object_get(v, "doc"), *held;
            char idx[512], hex[1025];
            size_t ilen;
            if (doc == NULL || (pass == 1 && json_object_object_get_ex(set, id, NULL)) ||
                res_index_key(k, doc, idx, sizeof(idx), &ilen) < 0)
                continue;
            hex_encode((const uint8_t *)idx, ilen, hex);
            if (!json_object_object_get_ex(seen, hex, &held)) {
                json_object_object_add(seen, hex, json_object_new_string(id));
                continue;
            }
            char path[RES_ID_MAX + 32];
            snprintf(path, sizeof(path), "%s/%s.%s", res_kind_name(k), id,
                     k == RES_MODEL ? "name" : "key");
            if (k == RES_MODEL)
                errors_add(e, NULL, path, "the model name \"%s\" is also that of %s/%s",
                           doc_name(doc), res_kind_name(k), json_object_get_string(held));
            else
                errors_add(e, NULL, path, "the same key as %s/%s", res_kind_name(k),
                           json_object_get_string(held));
        }
    }
    json_object_put(seen);
}

struct json_object *
applyplan_make(struct json_object *body, struct json_object *cur, int prune, int file_owns,
               struct json_object **set, struct json_object **owned, struct aigw_errors *e)
{
    int before = e->n;
    struct json_object *plan = json_object_new_array(), *empty = json_object_new_object();
    *set = json_object_new_object();
    *owned = json_object_new_array();
    for (int k = 0; k < RES_NKINDS; k++) {
        const char *kn = res_kind_name((enum res_kind)k);
        struct json_object *items = json_object_object_get(body, kn);
        struct json_object *kcur = json_object_object_get(cur, kn),
                           *kset = json_object_new_object();
        if (items == NULL)
            items = json_object_new_object(); /* absent: none (prune deletes them all) */
        else
            json_object_get(items);
        if (kcur == NULL)
            kcur = empty; /* no resource of this kind in the table */
        plan_validate((enum res_kind)k, items, kcur, e);
        if (e->n == before)
            plan_kind((enum res_kind)k, items, kcur, prune, file_owns, plan, kset, *owned);
        if (e->n == before)
            plan_names((enum res_kind)k, kcur, kset, e);
        json_object_object_add(*set, kn, kset);
        json_object_put(items);
    }
    json_object_put(empty);
    if (e->n == before)
        return plan;
    json_object_put(plan);
    return NULL;
}

/* The hex of doc's index key (its name, or its key) into out; -1 when it has none. */
static int
index_hex(enum res_kind k, struct json_object *doc, char *out)
{
    char idx[512];
    size_t ilen;
    if (doc == NULL || res_index_key(k, doc, idx, sizeof(idx), &ilen) < 0)
        return -1;
    hex_encode((const uint8_t *)idx, ilen, out);
    return 0;
}

int
applyplan_cycle(struct json_object *cur, struct json_object *set, char *out, size_t len)
{
    for (int k = 0; k < RES_NKINDS; k++) {
        const char *kn = res_kind_name((enum res_kind)k);
        struct json_object *kcur = json_object_object_get(cur, kn);
        struct json_object *ks = json_object_object_get(set, kn);
        struct json_object *holders, *next;
        char hex[1025];
        if (kcur == NULL || ks == NULL)
            continue;
        holders = json_object_new_object();
        next = json_object_new_object();
        /* who holds each name now, then: each put -> the put holding the name it takes */
        json_object_object_foreach(kcur, cid, centry)
        {
            if (index_hex((enum res_kind)k, json_object_object_get(centry, "doc"), hex) == 0)
                json_object_object_add(holders, hex, json_object_new_string(cid));
        }
        json_object_object_foreach(ks, id, doc)
        {
            struct json_object *h, *hd;
            if (index_hex((enum res_kind)k, doc, hex) < 0 ||
                !json_object_object_get_ex(holders, hex, &h) ||
                strcmp(json_object_get_string(h), id) == 0 ||
                !json_object_object_get_ex(ks, json_object_get_string(h), &hd) || hd == NULL)
                continue;
            json_object_object_add(next, id, json_object_get(h));
        }
        /* one edge out of each: a walk longer than the number of puts is a cycle */
        int found = 0;
        size_t n = (size_t)json_object_object_length(next);
        json_object_object_foreach(next, start, unused)
        {
            (void)unused;
            const char *at = start;
            for (size_t i = 0; i <= n && at != NULL && !found; i++) {
                struct json_object *nx;
                at = json_object_object_get_ex(next, at, &nx) ? json_object_get_string(nx) : NULL;
                if (at != NULL && strcmp(at, start) == 0) {
                    snprintf(out, len, "%s/%s", kn, start);
                    found = 1;
                }
            }
            if (found)
                break;
        }
        json_object_put(holders);
        json_object_put(next);
        if (found)
            return 1;
    }
    return 0;
}
