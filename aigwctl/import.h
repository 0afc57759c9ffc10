/* SPDX-License-Identifier: Apache-2.0 */
/* import.h: aigwctl import, resources of another gateway into an aigw resources file. */
#ifndef AIGWCTL_IMPORT_H
#define AIGWCTL_IMPORT_H

struct json_object;

/* What was read, and what the conversion found. */
struct imp {
    struct json_object *models, *keys, *pkeys; /* id -> the value as AISIX wrote it */
    struct json_object *pkeys_used;            /* id -> true: a Model took its credential */
    struct json_object *creds;      /* "pkid provider" -> the aigw credential made of it */
    struct json_object *cred_names; /* credential name -> the provider key id */
    struct json_object *notes;      /* [{resource, field, message}]: left out, not an error */
    struct json_object *errors;     /* the same: values that cannot be imported */
    char res[256];                  /* "models/ID": the resource being converted */
    int bad;                        /* an error in it */
};

/* import.c: `aigwctl import ...` (argv[0] is "import"); an exit status. */
int import_main(int argc, char **argv);

/*
 * import_aisix.c: im's AISIX resources as aigw's, {credentials: [...],
 * models: [...], api_keys: [...]} into out; 0, or -1 when im->errors has any.
 */
int aisix_convert(struct imp *im, struct json_object *out);

#endif
