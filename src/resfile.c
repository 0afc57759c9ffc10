/* SPDX-License-Identifier: Apache-2.0 */
/* resfile.c: load the standalone resources file into validated documents (master). */
#include "config.h"

#include <ctype.h>
#include <string.h>

#include <json-c/json.h>

#include "aigw/errors.h"
#include "aigw/resource.h"
#include "aigw/util.h"
#include "aigw/yamljson.h"
#include "aigw/resfile.h"
#include "strset.h"

/* The id of an entry: its "id" field, else its name with unsafe characters replaced. */
static int
entry_id(struct json_object *ent, const char *path, char *id, size_t idlen, struct aigw_errors *e)
{
    struct json_object *o;
    if (json_object_object_get_ex(ent, "id", &o)) {
        const char *s = json_object_is_type(o, json_type_string) ? json_object_get_string(o) : "";
        /* strlen: an id with a NUL ("a\u0000b") must not pass as "a" */
        if (res_id_valid(s) < 0 || strlen(s) != (size_t)json_object_get_string_len(o)) {
            errors_add(e, o ? o : ent, path, "id must be 1-128 of A-Z a-z 0-9 . _ -, not . or ..");
            json_object_object_del(ent, "id"); /* not also an "unknown field" */
            return -1;
        }
        snprintf(id, idlen, "%s", s);
        json_object_object_del(ent, "id");
        return 0;
    }
    if (!json_object_object_get_ex(ent, "name", &o) || !json_object_is_type(o, json_type_string))
        return -1; /* the schema reports the missing name */
    if ((size_t)json_object_get_string_len(o) >= idlen || json_object_get_string_len(o) == 0) {
        errors_add(e, o, path,
                   "name too long to be an id: give an id (1-128 of A-Z a-z 0-9 . _ -)");
        return -1;
    }
    snprintf(id, idlen, "%s", json_object_get_string(o));
    for (char *p = id; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-')
            *p = '-';
    if (res_id_valid(id) < 0) { /* a name "." or "..": no path segment can name it */
        errors_add(e, o, path, "name %s cannot be an id: give an id (1-128 of A-Z a-z 0-9 . _ -)",
                   id);
        return -1;
    }
    return 0;
}

/*
 * Is the entry (its id taken out) the stored document? Normalized first as
 * the validator would, so that a key given as "key" compares with the hash
 * stored; a doc left normalized but not stored is validated as it is, which
 * res_validate accepts the same (a lowercase key_sha256 it keeps in place).
 */
static int
entry_unchanged(enum res_kind k, struct json_object *ent, const char *id,
                struct resfile_known *known)
{
    size_t len;
    res_normalize_key(k, ent);
    const char *json = json_object_to_json_string_length(
        ent, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    return json != NULL && known->same((int)k, id, json, len, known->arg) == 1;
}

/*
 * Validate one list; unique ids and unique index keys (names, key hashes),
 * checked in sets sized for the list (strset.c: json-c's tables cost a
 * fifth of a reload of 100,000 keys).
 */
static int
load_kind(struct json_object *root, enum res_kind k, struct json_object *out,
          struct resfile_known *known, struct aigw_errors *e)
{
    struct json_object *list;
    const char *kname = res_kind_name(k);
    int bad = 0;

    if (!json_object_object_get_ex(root, kname, &list) || list == NULL)
        return 0;
    if (!json_object_is_type(list, json_type_array)) {
        errors_add(e, list, kname, "must be a list");
        return -1;
    }
    size_t n = json_object_array_length(list);
    struct strset *ids = strset_new(n), *seen = strset_new(n);
    if (ids == NULL || seen == NULL) {
        errors_add(e, list, kname, "out of memory");
        bad = 1;
        n = 0;
    }
    for (size_t i = 0; i < n; i++) {
        struct json_object *ent = json_object_array_get_idx(list, i);
        char path[64], id[RES_ID_MAX + 1], idx[512];
        size_t idxlen = 0;
        snprintf(path, sizeof(path), "%s[%zu]", kname, i);
        int idok = ent != NULL && json_object_is_type(ent, json_type_object) &&
                   entry_id(ent, path, id, sizeof(id), e) == 0;
        int same = idok && known != NULL && entry_unchanged(k, ent, id, known);
        if (!same && known != NULL)
            known->checked++;
        if ((!same && res_validate(k, ent, path, e) < 0) || !idok) {
            bad = 1;
            continue;
        }
        size_t idlen = strlen(id);
        if (strset_has(ids, id, idlen)) {
            errors_add(e, ent, path, "duplicate id \"%s\"", id);
            bad = 1;
            continue;
        }
        /* the index entry itself: a name, a key's hash, or a JWT binding's */
        res_index_key(k, ent, idx, sizeof(idx) - 1, &idxlen);
        idx[idxlen] = '\0';
        int added = strset_add(seen, idx, idxlen);
        if (added == 0) {
            errors_add(e, ent, path,
                       k == RES_MODEL        ? "duplicate model name \"%s\""
                       : k == RES_CREDENTIAL ? "duplicate credential name \"%s\""
                                             : "duplicate key (same as another entry)%s",
                       k != RES_API_KEY ? idx : "");
            bad = 1;
            continue;
        }
        if (added < 0 || strset_add(ids, id, idlen) < 0) {
            errors_add(e, ent, path, "out of memory");
            bad = 1;
            break;
        }
        if (same) {
            /* kept as stored: only its id says it is there; the tree goes now */
            known->unchanged++;
            json_object_array_put_idx(list, i, NULL);
        } else { /* new: the sets said so, json-c need not look again */
            json_object_object_add_ex(out, id, json_object_get(ent), JSON_C_OBJECT_ADD_KEY_IS_NEW);
        }
    }
    if (known != NULL && !bad) {
        known->ids[k] = ids;
        ids = NULL;
    }
    strset_free(ids);
    strset_free(seen);
    return bad ? -1 : 0;
}

/* The file's tree (NULL: it did not parse), checked; errors after before are a failure. */
static struct json_object *
resfile_tree(struct json_object *root, int before, struct resfile_known *known,
             struct aigw_errors *e)
{
    if (root == NULL)
        return NULL;
    int bad = e->n > before; /* an unset ${VAR} */
    if (!json_object_is_type(root, json_type_object)) {
        errors_add(e, root, NULL,
                   "the top level must be a mapping with models, api_keys and credentials");
        json_object_put(root);
        return NULL;
    }
    json_object_object_foreach(root, key, val)
    {
        if (res_kind_of(key) < 0) {
            errors_add(e, val ? val : root, key,
                       "unknown key (expected models, api_keys or credentials)");
            bad = 1;
        }
    }
    struct json_object *out = json_object_new_object();
    for (int k = 0; k < RES_NKINDS; k++) {
        struct json_object *items = json_object_new_object();
        if (load_kind(root, (enum res_kind)k, items, known, e) < 0)
            bad = 1;
        json_object_object_add(out, res_kind_name((enum res_kind)k), items);
    }
    json_object_put(root);
    if (bad) {
        json_object_put(out);
        return NULL;
    }
    return out;
}

struct json_object *
resfile_load(const char *path, struct aigw_errors *e)
{
    return resfile_load_known(path, NULL, e);
}

struct json_object *
resfile_load_known(const char *path, struct resfile_known *known, struct aigw_errors *e)
{
    int before = e->n;
    return resfile_tree(yaml_load_file(path, YAML_SUBST_ENV, e), before, known, e);
}

struct json_object *
resfile_load_buffer(const char *buf, size_t len, struct aigw_errors *e)
{
    int before = e->n;
    return resfile_tree(yaml_load_buffer(buf, len, YAML_SUBST_ENV, e), before, NULL, e);
}
