/* SPDX-License-Identifier: Apache-2.0 */
/*
 * yamlout.c: a json-c tree written as block-style YAML that yaml_load_file
 * reads back as the same tree (aigwctl's resources, `aigw -T`).
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "aigw/yamljson.h"

/*
 * A string that the YAML loader of aigw reads back as the same string when
 * written plain: no quoting needed. Anything that could be a number, a bool,
 * null, or YAML syntax is quoted.
 */
static int
yaml_plain_ok(const char *s)
{
    static const char *const words[] = {"true", "false", "yes", "no", "on",
                                        "off",  "null",  "y",   "n",  "~"};
    if (s[0] == '\0' || !(isalpha((unsigned char)s[0]) || s[0] == '/' || s[0] == '_'))
        return 0;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && strchr("_/.:@+-", *p) == NULL)
            return 0;
    if (s[strlen(s) - 1] == ':')
        return 0;
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strcasecmp(s, words[i]) == 0)
            return 0;
    return 1;
}

/* A string, plain or in double quotes (JSON's escapes are YAML's). */
static void
yaml_string(FILE *fp, const char *s)
{
    if (yaml_plain_ok(s)) {
        fputs(s, fp);
        return;
    }
    struct json_object *tmp = json_object_new_string(s);
    fputs(json_object_to_json_string_ext(tmp, JSON_C_TO_STRING_NOSLASHESCAPE), fp);
    json_object_put(tmp);
}

/* 1 for a mapping or list with members: those go on lines of their own. */
static int
yaml_container(struct json_object *o)
{
    return (json_object_is_type(o, json_type_object) && json_object_object_length(o) > 0) ||
           (json_object_is_type(o, json_type_array) && json_object_array_length(o) > 0);
}

/* A scalar, or an empty mapping or list, on the current line. */
static void
yaml_scalar(FILE *fp, struct json_object *o)
{
    if (o == NULL)
        fputs("null", fp);
    else if (json_object_is_type(o, json_type_string))
        yaml_string(fp, json_object_get_string(o));
    else if (json_object_is_type(o, json_type_object))
        fputs("{}", fp);
    else if (json_object_is_type(o, json_type_array))
        fputs("[]", fp);
    else
        fputs(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), fp);
}

/* A non-empty mapping or list in block style; the first line's indent is already out when
 * first_inline (after "- "). */
static void
yaml_block(FILE *fp, struct json_object *o, int indent, int first_inline)
{
    int first = 1;
    if (json_object_is_type(o, json_type_object)) {
        json_object_object_foreach(o, k, v)
        {
            if (!(first && first_inline))
                fprintf(fp, "%*s", indent, "");
            first = 0;
            yaml_string(fp, k);
            fputc(':', fp);
            if (yaml_container(v)) {
                fputc('\n', fp);
                yaml_block(fp, v, indent + 2, 0);
            } else {
                fputc(' ', fp);
                yaml_scalar(fp, v);
                fputc('\n', fp);
            }
        }
        return;
    }
    size_t n = json_object_array_length(o);
    for (size_t i = 0; i < n; i++) {
        struct json_object *v = json_object_array_get_idx(o, i);
        if (!(first && first_inline))
            fprintf(fp, "%*s", indent, "");
        first = 0;
        fputc('-', fp);
        if (json_object_is_type(v, json_type_object) && yaml_container(v)) {
            fputc(' ', fp);
            yaml_block(fp, v, indent + 2, 1);
        } else if (yaml_container(v)) {
            fputc('\n', fp);
            yaml_block(fp, v, indent + 2, 0);
        } else {
            fputc(' ', fp);
            yaml_scalar(fp, v);
            fputc('\n', fp);
        }
    }
}

void
yaml_write(FILE *fp, struct json_object *o)
{
    if (yaml_container(o)) {
        yaml_block(fp, o, 0, 0);
    } else {
        yaml_scalar(fp, o);
        fputc('\n', fp);
    }
}
