/* SPDX-License-Identifier: Apache-2.0 */
/*
 * etcdowner.c: which resource owns a name in etcd mode (master).
 *
 * Admin API writes cannot make two owners (etcdindex.c), but etcdctl can:
 * two resources with one model name, or one key. Every node, running or
 * fresh, must then serve the same one, and an update of the one served must
 * not hand the name to the other. The rule, on what etcd holds:
 *
 *   1. the resource that the name's index entry names, if it claims it;
 *   2. else the one created first (lowest create_revision, which an update
 *      does not change; mod_revision would);
 *   3. else (one transaction created both) the smaller id.
 *
 * The others are losers: not in the table, listed by the Admin API with
 * the name they want and who holds it, and deletable there. This file keeps
 * what the rule needs between full reads: the index entries, each
 * resource's create_revision, and the losers.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "aigw/resource.h"
#include "etcdowner.h"

struct etcdowner {
    struct json_object *index;  /* index key -> owner id */
    struct json_object *crev;   /* "<kind>/<id>" -> create_revision */
    struct json_object *losers; /* "<kind>/<id>" -> {kind, id, index_key, held_by, name} */
};

/* "<kind>/<id>" */
static void
kid(char *out, size_t len, enum res_kind k, const char *id)
{
    snprintf(out, len, "%s/%s", res_kind_name(k), id);
}

struct etcdowner *
owner_new(void)
{
    struct etcdowner *o = calloc(1, sizeof(*o));
    if (o == NULL)
        return NULL;
    o->index = json_object_new_object();
    o->crev = json_object_new_object();
    o->losers = json_object_new_object();
    if (o->index == NULL || o->crev == NULL || o->losers == NULL) {
        owner_free(o);
        return NULL;
    }
    return o;
}

void
owner_free(struct etcdowner *o)
{
    if (o == NULL)
        return;
    json_object_put(o->index);
    json_object_put(o->crev);
    json_object_put(o->losers);
    free(o);
}

void
owner_reset(struct etcdowner *o)
{
    json_object_put(o->index);
    json_object_put(o->crev);
    json_object_put(o->losers);
    o->index = json_object_new_object();
    o->crev = json_object_new_object();
    o->losers = json_object_new_object();
}

void
owner_index_set(struct etcdowner *o, const char *ikey, const char *id)
{
    if (id == NULL)
        json_object_object_del(o->index, ikey);
    else
        json_object_object_add(o->index, ikey, json_object_new_string(id));
}

const char *
owner_index_get(struct etcdowner *o, const char *ikey)
{
    struct json_object *v;
    return json_object_object_get_ex(o->index, ikey, &v) ? json_object_get_string(v) : NULL;
}

void
owner_crev_set(struct etcdowner *o, enum res_kind k, const char *id, int64_t crev)
{
    char key[RES_ID_MAX + 16];
    kid(key, sizeof(key), k, id);
    if (crev < 0)
        json_object_object_del(o->crev, key);
    else
        json_object_object_add(o->crev, key, json_object_new_int64(crev));
}

/* A resource's create_revision; INT64_MAX when unknown (it loses ties of rule 2). */
static int64_t
crev_of(struct etcdowner *o, enum res_kind k, const char *id)
{
    char key[RES_ID_MAX + 16];
    struct json_object *v;
    kid(key, sizeof(key), k, id);
    return json_object_object_get_ex(o->crev, key, &v) ? json_object_get_int64(v) : INT64_MAX;
}

int
owner_prefers(struct etcdowner *o, const char *ikey, enum res_kind k, const char *a, const char *b)
{
    const char *owner = owner_index_get(o, ikey);
    if (owner != NULL && strcmp(owner, a) == 0)
        return 1;
    if (owner != NULL && strcmp(owner, b) == 0)
        return 0;
    int64_t ca = crev_of(o, k, a), cb = crev_of(o, k, b);
    if (ca != cb)
        return ca < cb;
    return strcmp(a, b) < 0;
}

void
owner_loser_set(struct etcdowner *o, enum res_kind k, const char *id, const char *ikey,
                const char *holder, const char *name)
{
    char key[RES_ID_MAX + 16];
    struct json_object *l = json_object_new_object();
    kid(key, sizeof(key), k, id);
    json_object_object_add(l, "kind", json_object_new_string(res_kind_name(k)));
    json_object_object_add(l, "id", json_object_new_string(id));
    json_object_object_add(l, "index_key", json_object_new_string(ikey));
    json_object_object_add(l, "held_by", json_object_new_string(holder));
    if (name != NULL)
        json_object_object_add(l, "name", json_object_new_string(name));
    json_object_object_add(o->losers, key, l);
}

int
owner_loser_del(struct etcdowner *o, enum res_kind k, const char *id)
{
    char key[RES_ID_MAX + 16];
    kid(key, sizeof(key), k, id);
    if (!json_object_object_get_ex(o->losers, key, NULL))
        return 0;
    json_object_object_del(o->losers, key);
    return 1;
}

int
owner_waiting(struct etcdowner *o, const char *ikey)
{
    json_object_object_foreach(o->losers, key, l)
    {
        (void)key;
        struct json_object *v;
        if (json_object_object_get_ex(l, "index_key", &v) &&
            strcmp(json_object_get_string(v), ikey) == 0)
            return 1;
    }
    return 0;
}

int
owner_nlosers(struct etcdowner *o)
{
    return json_object_object_length(o->losers);
}

struct json_object *
owner_losers_json(struct etcdowner *o, enum res_kind k)
{
    struct json_object *a = json_object_new_array();
    const char *kn = res_kind_name(k);
    json_object_object_foreach(o->losers, key, l)
    {
        (void)key;
        struct json_object *v, *item;
        if (!json_object_object_get_ex(l, "kind", &v) || strcmp(json_object_get_string(v), kn))
            continue;
        /* the index key is the operator's business only for models: a key's is its hash */
        item = json_object_new_object();
        json_object_object_foreach(l, f, fv)
        {
            if (strcmp(f, "index_key") != 0 && strcmp(f, "kind") != 0)
                json_object_object_add(item, f, json_object_get(fv));
        }
        json_object_array_add(a, item);
    }
    return a;
}
