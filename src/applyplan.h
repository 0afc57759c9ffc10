/* SPDX-License-Identifier: Apache-2.0 */
/* applyplan.h: the plan of a declarative apply (master; see adminapply.c). */
#ifndef AIGW_APPLYPLAN_H
#define AIGW_APPLYPLAN_H

struct json_object;
struct aigw_errors;

/*
 * body: {"models": {id: doc}, "api_keys": {id: doc}} (a kind absent: none),
 * validated in place, a masked api_key put back from the stored model of the
 * same id. cur: the table, {"models": {id: {"doc": doc, "origin": n,
 * "json": stored text}}, "api_keys": ...}. Returns the plan, an array of
 * {action (create, update, delete), kind, id, name[, fields: [{field,
 * before, after}] masked]}, with *set = {kind: {id: doc, or null to delete}}
 * and *owned = ["kind/id", ...] the plan would change that the resources
 * file owns (file_owns: standalone with a resources file); both new, also
 * on failure. With prune, what body does not name is deleted. NULL with
 * every problem in e ("kind/id.field: message"): a bad resource, or a name
 * (or key) that two resources of the final state would hold.
 */
struct json_object *applyplan_make(struct json_object *body, struct json_object *cur, int prune,
                                   int file_owns, struct json_object **set,
                                   struct json_object **owned, struct aigw_errors *e);

/*
 * 1 when names (or keys) move in a cycle within set (two resources swap
 * their names): out gets "kind/id" of one of them. etcd mode refuses such a
 * set, since every node applies an etcd transaction's puts in order and no
 * order of a cycle frees each name before it is taken.
 */
int applyplan_cycle(struct json_object *cur, struct json_object *set, char *out, size_t len);

#endif
