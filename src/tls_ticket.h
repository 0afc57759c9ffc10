/* SPDX-License-Identifier: Apache-2.0 */
/* tls_ticket.h: session ticket keys shared by the workers of a node (tls_ticket.c). */
#ifndef AIGW_TLS_TICKET_H
#define AIGW_TLS_TICKET_H

struct shm;

/* A new ticket key every 12 hours; the one before still opens tickets. */
#define TLS_TICKET_ROTATE_MS (12LL * 3600 * 1000)

/* Every SSL_CTX this process builds from now on uses the keys in shm. */
void tls_ticket_init(struct shm *shm);
/* Master: make a new key the one tickets are issued with. 0 or -1. */
int tls_ticket_rotate(void);

#endif
