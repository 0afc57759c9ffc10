/* master.h: the master process: listeners, the LMDB writer, worker supervision. */
#ifndef AIGW_MASTER_H
#define AIGW_MASTER_H

struct conf;
struct json_object;

/* Run until SIGTERM/SIGINT; returns the exit status. conf_tree is aigw.yaml as parsed. */
int master_main(struct conf *c, struct json_object *conf_tree, int foreground);

#endif
