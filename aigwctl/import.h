/* SPDX-License-Identifier: Apache-2.0 */
/* import.h: aigwctl import, resources of another gateway into an aigw resources file. */
#ifndef AIGWCTL_IMPORT_H
#define AIGWCTL_IMPORT_H

#include <stdarg.h>
#include <stddef.h>

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

/* import_read.c: im with empty lists (import_init), and everything in it freed (import_free). */
void import_init(struct imp *im);
void import_free(struct imp *im);

/*
 * import_read.c: an export's bytes p (n of them, p[n] == '\0'): etcd's range
 * answer or an object {etcd key: value}, the keys under prefix; models,
 * api_keys and provider_keys into im (a value that cannot be read is in
 * im->errors, other kinds are noted). 0, or -1 when the whole is unreadable
 * (not a JSON object; kvs not a list): why in err, one line.
 */
int import_parse(struct imp *im, const char *prefix, const char *p, size_t n, char *err,
                 size_t errlen);

/*
 * import_read.c: one {resource, field, message} into list (im->notes or
 * im->errors), res and field may be NULL; control bytes in any of the
 * three escaped (they quote keys and member names of the input), so each
 * prints as one line, and a byte that is not UTF-8 (a name cut inside a
 * character) as U+FFFD.
 */
void import_report(struct json_object *list, const char *res, const char *field, const char *fmt,
                   va_list ap) __attribute__((format(printf, 4, 0)));

/*
 * import_aisix.c: im's AISIX resources as aigw's, {credentials: [...],
 * models: [...], api_keys: [...]} into out; 0, or -1 when im->errors has any.
 */
int aisix_convert(struct imp *im, struct json_object *out);

#endif
