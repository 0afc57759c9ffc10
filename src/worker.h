/* SPDX-License-Identifier: Apache-2.0 */
/* worker.h: a worker process (aigw re-executed by the master with -W). */
#ifndef AIGW_WORKER_H
#define AIGW_WORKER_H

/*
 * spec is "slot:conf_fd:listen_fd,listen_fd,...": the master passes the parsed
 * aigw.yaml through conf_fd (so a worker never re-reads a file that may have
 * changed) and the listening sockets it opened.
 */
int worker_main(const char *spec, const char *conf_path, int foreground);

#endif
