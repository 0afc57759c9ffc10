/* SPDX-License-Identifier: Apache-2.0 */
/* aigwctl.h: aigwctl's own declarations (the control client and the Admin API client). */
#ifndef AIGWCTL_H
#define AIGWCTL_H

#include <limits.h>
#include <stdio.h>

struct json_object;

/* Exit codes, as aigwctl(8) documents them. */
enum {
    CTL_OK = 0,          /* done as asked */
    CTL_FAILED = 1,      /* aigw answered, and the command failed */
    CTL_USAGE = 2,       /* the command line is wrong */
    CTL_UNREACHABLE = 3, /* aigw could not be reached */
};

#include "aigw/control_proto.h" /* CONTROL_PROTOCOL, CONTROL_MAX_MSG, error codes */

/* Everything the command line and aigw.yaml decided. */
struct ctl {
    char conf_path[PATH_MAX]; /* aigw.yaml read for the defaults below */
    char socket_path[PATH_MAX];
    char admin_url[1024];         /* "" when the Admin API is off */
    char *admin_key;              /* NULL: no key; wiped and freed at exit */
    char conf_key_file[PATH_MAX]; /* key_file of aigw.yaml's first admin key; "" none */
    int conf_unread;              /* aigw.yaml could not be read: built-in defaults */
    int json;
    int timeout_s;         /* how long to wait for an answer */
    int graceful;          /* stop --graceful */
    const char *file;      /* -f: the resource to send; NULL or "-": stdin */
    long long revision;    /* --revision (If-Match); -1: none */
    int page_size;         /* --page-size: resources a list asks for at a time; 0: default */
    long long limit;       /* history --limit: versions shown; 0: the default */
    const char *ca_file;   /* --ca-file: CAs the Admin API's certificate is checked against */
    const char *cert_file; /* --cert: a client certificate (an Admin API with mutual TLS) */
    const char *key_file;  /* --key: its private key */
    int dry_run;           /* apply --dry-run */
    int prune;             /* apply --prune */
    int reveal_secrets;    /* export --reveal-secrets */
};

/* aigwctl.c */
/* "aigwctl: " and the message on stderr. */
void ctl_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* control.c: the client of the control socket (one request, one reply). */
int control_call(const struct ctl *ctl, const char *command, struct json_object *args,
                 struct json_object **result);
int control_status(const struct ctl *ctl);
int control_reload(const struct ctl *ctl);
int control_stop(const struct ctl *ctl);
int control_reopen(const struct ctl *ctl);
int control_check(const struct ctl *ctl);
int control_etcd_accept(const struct ctl *ctl);

/* admin.c: model and key commands over the Admin API. argv[0] is the verb. */
struct answer {
    long status;
    char *body;
    size_t len, cap;
    struct json_object *json; /* the body parsed, when it is JSON */
};
/*
 * One request to ADMIN_URL/admin/v1/PATH. CTL_OK when aigw answered
 * (whatever the status: see a->status), CTL_UNREACHABLE when it could not
 * be reached (printed). if_match < 0: none.
 */
int admin_request(const struct ctl *ctl, const char *method, const char *path,
                  struct json_object *body, long long if_match, struct answer *a);
void answer_free(struct answer *a);
/* CTL_OK for a JSON object with a status in [lo, hi]; else the error and a hint printed. */
int admin_expect(const struct ctl *ctl, struct answer *a, long lo, long hi);
int admin_main(const struct ctl *ctl, const char *kind, int argc, char **argv);
/* Print an error answer of apply or export with what to do; returns CTL_FAILED. */
int admin_print_error(const struct ctl *ctl, struct answer *a);

/* apply.c: apply -f FILE and export, over the Admin API. */
int apply_main(const struct ctl *ctl, const char *cmd, int argc, char **argv);

/* 1 for an id the Admin API takes in a URL: 1 to 128 of A-Z a-z 0-9 . _ - */
int admin_valid_id(const char *id);

/* history.c: history, diff and rollback over the Admin API. */
int history_main(const struct ctl *ctl, const char *cmd, int argc, char **argv);

/* output.c: what people read, and what scripts read (--json). */
struct table;
struct table *table_new(int ncols, const char *const *headers);
/* Add a row of ncols strings (copied; NULL shows as "-"). */
void table_add(struct table *t, const char *const *cells);
void table_print(struct table *t, FILE *fp);
void table_free(struct table *t);
/* The object as pretty JSON, on one or more lines, then a newline. */
void output_json(FILE *fp, struct json_object *o);
/* The object as block-style YAML that aigwctl -f reads back. */
void output_yaml(FILE *fp, struct json_object *o);
/* The control socket's status result, for people. */
void output_status(FILE *fp, struct json_object *st);
/*
 * A list of models or API keys printed page by page as the Admin API
 * gives it: a table for people (one header, columns as wide as the widest
 * cell so far), or for scripts {"items": [...], "total": N} written as the
 * items come. complete: the last page came; else a JSON listing stays
 * unclosed, so that no script takes part of a list for all of it.
 */
struct listing;
enum list_kind { LIST_KEYS = 0, LIST_MODELS = 1, LIST_CREDENTIALS = 2 };
struct listing *output_list_begin(FILE *fp, int json, int models);
void output_list_page(struct listing *l, struct json_object *items);
void output_list_end(struct listing *l, int complete);
/* A member as text: "" when absent; numbers and booleans as JSON writes them. */
const char *output_str(struct json_object *o, const char *key);
/* "3d 4h", "2h 5m", "4m 10s", "12s". */
void output_duration(char *buf, size_t len, long long seconds);

#endif
