/* SPDX-License-Identifier: Apache-2.0 */
/* master.h: the master process: listeners, the LMDB writer, worker supervision. */
#ifndef AIGW_MASTER_H
#define AIGW_MASTER_H

struct conf;
struct json_object;

/*
 * Run until SIGTERM/SIGINT; returns the exit status. conf_tree is aigw.yaml as
 * parsed. Once workers are started, a 0 byte is written to ready_fd (when >= 0)
 * and it is closed; on a failure before that, a 1.
 */
int master_main(struct conf *c, struct json_object *conf_tree, int foreground, int ready_fd);

#endif
