/* SPDX-License-Identifier: Apache-2.0 */
/*
 * aigwctl.c: the command line of aigwctl, the control tool of aigw.
 *
 * status, reload, stop, reopen and check go to the master over its control
 * socket (control.c); model and key commands go to the Admin API
 * (admin.c). Both addresses come from the aigw.yaml that aigw runs with,
 * read by the daemon's own parser, unless -s or --admin-url say otherwise.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "aigw/conf.h"
#include "aigw/errors.h"
#include "aigw/resource.h"
#include "aigw/yamljson.h"
#include "aigwctl.h"
#include "import.h"

void
ctl_err(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fputs("aigwctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* The commands and options, for -h and usage errors. */
static void
usage(FILE *fp)
{
    fprintf(fp,
            "usage: aigwctl [options] command [argument ...]\n"
            "\n"
            "commands (over the control socket):\n"
            "  status                   the master, its workers, the configuration, etcd\n"
            "  reload                   reload aigw.yaml and resources; wait for the outcome\n"
            "  stop [--graceful]        stop aigw (--graceful: drain requests first)\n"
            "  reopen                   reopen the log files\n"
            "  check                    check aigw.yaml and the resources file on disk\n"
            "  etcd accept              take etcd's state after an identity mismatch\n"
            "commands (over the Admin API):\n"
            "  model list | get ID | create [ID] | update ID | delete ID\n"
            "  key   list | get ID | create [ID] | update ID | delete ID | rotate ID\n"
            "  credential list | get ID | create [ID] | update ID | delete ID\n"
            "  history [--limit N]      the configuration versions, newest first\n"
            "  diff V1 [V2]             what differs from version V1 to V2 (default: current)\n"
            "  rollback V               the configuration as it was at version V, as a new one\n"
            "  apply -f FILE [--dry-run] [--prune]\n"
            "                           make the resources of FILE (aigw-resources(5)) the\n"
            "                           configuration, as one change; the plan first\n"
            "  export [--reveal-secrets] the configuration as a resources file\n"
            "commands (offline):\n"
            "  import --from aisix ...  another gateway's resources as a resources file\n"
            "                           (aigwctl import -h)\n"
            "\n"
            "options:\n"
            "  -c FILE                  aigw.yaml (default %s)\n"
            "  -s SOCKET                the control socket (default: control.socket)\n"
            "  -f FILE                  the resource for create and update, YAML or JSON\n"
            "                           (default: standard input)\n"
            "  --json                   print JSON for scripts\n"
            "  --timeout SECONDS        how long to wait for an answer (default 120)\n"
            "  --revision N             update and delete only if the revision is N\n"
            "  --limit N                history: versions shown (default 20)\n"
            "  --page-size N            list: resources asked for at a time, 1 to 1000\n"
            "                           (default 1000); list prints them all\n"
            "  --admin-url URL          the Admin API (default: first admin.listen, https://\n"
            "                           when it has tls)\n"
            "  --admin-key-file FILE    the admin key, read from FILE\n"
            "  --ca-file FILE           HTTPS Admin API: the CAs its certificate is checked\n"
            "                           against (default: the system's); its name is checked\n"
            "  --cert FILE, --key FILE  HTTPS Admin API with client certificates: ours\n"
            "  --admin-key KEY          the admin key (visible in ps: prefer the file or\n"
            "                           AIGW_ADMIN_KEY)\n"
            "  -h, --help               print this help\n"
            "  -v, --version            print the version\n"
            "\n"
            "exit status: 0 done, 1 failed, 2 usage error, 3 aigw cannot be reached.\n"
            "See aigwctl(8).\n",
            CONF_DEFAULT_PATH);
}

/* After a usage error: where to look; exit status 2. */
static int
usage_error(void)
{
    fprintf(stderr, "aigwctl: run aigwctl -h for the commands and options\n");
    return CTL_USAGE;
}

/* The first line of path, without the line end: the admin key. what names its origin. */
static char *
read_key_file(const char *path, const char *what)
{
    char buf[1024];
    FILE *fp = fopen(path, "r");
    if (fp == NULL && (errno == EACCES || errno == EPERM)) {
        /* the packaged key is root:aigw 0640: say how to be let in */
        ctl_err("permission denied: %s (the admin key; add yourself to group aigw, or give "
                "--admin-key-file)",
                path);
        return NULL;
    }
    if (fp == NULL) {
        ctl_err("cannot read %s %s: %s; give a file that holds the admin key", what, path,
                strerror(errno));
        return NULL;
    }
    char *line = fgets(buf, sizeof(buf), fp);
    fclose(fp);
    size_t n = line ? strlen(buf) : 0;
    while (n > 0 &&
           (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        buf[--n] = '\0';
    char *key = n > 0 ? strdup(buf) : NULL;
    explicit_bzero(buf, sizeof(buf));
    if (n == 0)
        ctl_err("%s %s is empty; put the admin key on its first line", what, path);
    return key;
}

/* The Admin API's URL from its first listener; a wildcard address is reached on loopback. */
static void
admin_url_from(const struct conf *c, char *out, size_t len)
{
    if (c->admin_nlisten == 0) {
        out[0] = '\0';
        return;
    }
    const char *host = c->admin_listen[0].host;
    if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "*") == 0)
        host = "127.0.0.1";
    else if (strcmp(host, "::") == 0)
        host = "::1";
    const char *scheme = c->admin_listen[0].tls ? "https" : "http";
    if (strchr(host, ':') != NULL)
        snprintf(out, len, "%s://[%s]:%s", scheme, host, c->admin_listen[0].port);
    else
        snprintf(out, len, "%s://%s:%s", scheme, host, c->admin_listen[0].port);
}

/*
 * Read aigw.yaml for the control socket and the Admin API, with the parser
 * of aigw. A file with errors still gives every key it has right (the
 * parser sets key by key); one that cannot be parsed at all gives the
 * built-in defaults, with a warning. A missing default file is no error:
 * the defaults are those of aigw too.
 */
static int
load_conf(struct ctl *ctl, int explicit_conf)
{
    static struct conf conf;
    struct aigw_errors e;
    struct json_object *tree = NULL;
    conf_defaults(&conf);
    errors_init(&e, ctl->conf_path);
    snprintf(conf.path, sizeof(conf.path), "%s", ctl->conf_path);
    if (access(ctl->conf_path, R_OK) < 0) {
        if (explicit_conf) {
            ctl_err("cannot read -c %s: %s; give the aigw.yaml that aigw runs with", ctl->conf_path,
                    strerror(errno));
            return CTL_USAGE;
        }
        if (errno == ENOENT)
            goto done; /* no aigw.yaml: aigw runs with the defaults too */
    }
    conftls_set_read_files(0); /* where the Admin API is, not its certificates */
    tree = yaml_load_file(ctl->conf_path, YAML_SUBST_ENV, &e);
    if (tree != NULL) {
        conf_from_json(&conf, tree, &e); /* its errors are for aigw -t and aigwctl check */
    } else {
        ctl_err("warning: %s; using the built-in defaults", e.n > 0 ? e.msgs[0] : "cannot read");
        ctl->conf_unread = 1;
    }
    json_object_put(tree);
    errors_free(&e);
done:
    snprintf(ctl->socket_path, sizeof(ctl->socket_path), "%s", conf.control_socket);
    admin_url_from(&conf, ctl->admin_url, sizeof(ctl->admin_url));
    snprintf(ctl->conf_key_file, sizeof(ctl->conf_key_file), "%s", conf.admin_key_file);
    return CTL_OK;
}

/* A whole number in [lo, hi], or -1. */
static long long
parse_num(const char *s, long long lo, long long hi)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return -1;
    return v;
}

enum {
    OPT_JSON = 256,
    OPT_TIMEOUT,
    OPT_ADMIN_URL,
    OPT_ADMIN_KEY_FILE,
    OPT_ADMIN_KEY,
    OPT_GRACEFUL,
    OPT_REVISION,
    OPT_PAGE_SIZE,
    OPT_LIMIT,
    OPT_CA_FILE,
    OPT_CERT,
    OPT_KEY,
    OPT_DRY_RUN,
    OPT_PRUNE,
    OPT_REVEAL
};

static const struct option long_opts[] = {
    {"config", required_argument, NULL, 'c'},
    {"socket", required_argument, NULL, 's'},
    {"file", required_argument, NULL, 'f'},
    {"json", no_argument, NULL, OPT_JSON},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"revision", required_argument, NULL, OPT_REVISION},
    {"page-size", required_argument, NULL, OPT_PAGE_SIZE},
    {"limit", required_argument, NULL, OPT_LIMIT},
    {"admin-url", required_argument, NULL, OPT_ADMIN_URL},
    {"admin-key-file", required_argument, NULL, OPT_ADMIN_KEY_FILE},
    {"admin-key", required_argument, NULL, OPT_ADMIN_KEY},
    {"graceful", no_argument, NULL, OPT_GRACEFUL},
    {"ca-file", required_argument, NULL, OPT_CA_FILE},
    {"cert", required_argument, NULL, OPT_CERT},
    {"key", required_argument, NULL, OPT_KEY},
    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
    {"prune", no_argument, NULL, OPT_PRUNE},
    {"reveal-secrets", no_argument, NULL, OPT_REVEAL},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'v'},
    {NULL, 0, NULL, 0},
};

/* Wipe and free the admin key. */
static void
key_free(struct ctl *ctl)
{
    if (ctl->admin_key != NULL) {
        explicit_bzero(ctl->admin_key, strlen(ctl->admin_key));
        free(ctl->admin_key);
        ctl->admin_key = NULL;
    }
}

/*
 * The admin key: --admin-key-file, else AIGW_ADMIN_KEY, else --admin-key,
 * else the key_file of aigw.yaml's first admin key, else, when the default
 * aigw.yaml could not be read (a user outside group aigw), the packaged key
 * file if it exists, for its "permission denied" to say what to do. The key
 * goes only to the Admin API that the same aigw.yaml names (not --admin-url).
 */
static int
choose_key(struct ctl *ctl, const char *key_file, char *key_opt, int explicit_conf)
{
    const char *env = getenv("AIGW_ADMIN_KEY");
    if (key_opt != NULL)
        ctl_err("warning: --admin-key shows the key to other users (ps); use --admin-key-file "
                "or AIGW_ADMIN_KEY");
    if (key_file != NULL) {
        ctl->admin_key = read_key_file(key_file, "--admin-key-file");
        if (ctl->admin_key == NULL)
            return CTL_USAGE;
    } else if (env != NULL && env[0] != '\0') {
        ctl->admin_key = strdup(env);
    } else if (key_opt != NULL && key_opt[0] != '\0') {
        ctl->admin_key = strdup(key_opt);
    } else if (ctl->conf_key_file[0] != '\0') {
        ctl->admin_key = read_key_file(ctl->conf_key_file, "the key_file of admin.keys,");
        if (ctl->admin_key == NULL)
            return CTL_USAGE;
    } else if (!explicit_conf && ctl->conf_unread && access(CONF_DEFAULT_ADMIN_KEY, F_OK) == 0) {
        ctl->admin_key = read_key_file(CONF_DEFAULT_ADMIN_KEY, "the admin key file");
        if (ctl->admin_key == NULL)
            return CTL_USAGE;
    }
    /* Out of the argument list, so that ps shows it no longer. */
    if (key_opt != NULL)
        memset(key_opt, 'x', strlen(key_opt));
    return CTL_OK;
}

/* The control commands take no argument (etcd: accept) and no option of the Admin API. */
static int
control_main(struct ctl *ctl, const char *cmd, int nargs, char **args)
{
    int etcd = strcmp(cmd, "etcd") == 0;
    if (etcd && (nargs != 1 || strcmp(args[0], "accept") != 0)) {
        ctl_err("etcd takes one argument: accept");
        return usage_error();
    }
    if (!etcd && nargs > 0) {
        ctl_err("%s takes no argument", cmd);
        return usage_error();
    }
    if (ctl->graceful && strcmp(cmd, "stop") != 0) {
        ctl_err("--graceful is for stop only");
        return usage_error();
    }
    if (ctl->file != NULL || ctl->revision >= 0 || ctl->page_size > 0) {
        ctl_err("-f, --revision and --page-size are for model and key commands only");
        return usage_error();
    }
    if (ctl->limit > 0) {
        ctl_err("--limit is for history only");
        return usage_error();
    }
    if (strcmp(cmd, "status") == 0)
        return control_status(ctl);
    if (strcmp(cmd, "reload") == 0)
        return control_reload(ctl);
    if (strcmp(cmd, "stop") == 0)
        return control_stop(ctl);
    if (strcmp(cmd, "reopen") == 0)
        return control_reopen(ctl);
    if (etcd)
        return control_etcd_accept(ctl);
    return control_check(ctl);
}

/* Options anywhere (getopt_long permutes), then the command and its arguments. */
int
main(int argc, char **argv)
{
    static struct ctl ctl;
    const char *socket_opt = NULL, *url_opt = NULL, *key_file = NULL;
    char *key_opt = NULL;
    int ch, explicit_conf = 0, rc;

    signal(SIGPIPE, SIG_IGN);
    res_set_read_key_files(0); /* a vertex key file is on the gateway's node, not here */
    /* import reads no aigw.yaml and talks to no aigw: its own options (import.c) */
    if (argc > 1 && strcmp(argv[1], "import") == 0)
        return import_main(argc - 1, argv + 1);
    snprintf(ctl.conf_path, sizeof(ctl.conf_path), "%s", CONF_DEFAULT_PATH);
    ctl.timeout_s = 120;
    ctl.revision = -1;
    opterr = 0; /* our own messages, with what to do */
    while ((ch = getopt_long(argc, argv, ":c:s:f:hv", long_opts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            snprintf(ctl.conf_path, sizeof(ctl.conf_path), "%s", optarg);
            explicit_conf = 1;
            break;
        case 's':
            socket_opt = optarg;
            break;
        case 'f':
            ctl.file = optarg;
            break;
        case OPT_JSON:
            ctl.json = 1;
            break;
        case OPT_TIMEOUT: {
            long long t = parse_num(optarg, 1, 86400);
            if (t < 0) {
                ctl_err("--timeout %s: give a whole number of seconds from 1 to 86400", optarg);
                return usage_error();
            }
            ctl.timeout_s = (int)t;
            break;
        }
        case OPT_REVISION:
            ctl.revision = parse_num(optarg, 0, (long long)1 << 62);
            if (ctl.revision < 0) {
                ctl_err("--revision %s: give a revision as a whole number (0: only if it does "
                        "not exist)",
                        optarg);
                return usage_error();
            }
            break;
        case OPT_PAGE_SIZE: {
            long long n = parse_num(optarg, 1, 1000);
            if (n < 0) {
                ctl_err("--page-size %s: give a whole number from 1 to 1000 (the Admin API's "
                        "largest page)",
                        optarg);
                return usage_error();
            }
            ctl.page_size = (int)n;
            break;
        }
        case OPT_LIMIT:
            ctl.limit = parse_num(optarg, 1, 1000000);
            if (ctl.limit < 0) {
                ctl_err("--limit %s: give a whole number of versions from 1 to 1000000", optarg);
                return usage_error();
            }
            break;
        case OPT_ADMIN_URL:
            url_opt = optarg;
            break;
        case OPT_ADMIN_KEY_FILE:
            key_file = optarg;
            break;
        case OPT_ADMIN_KEY:
            key_opt = optarg;
            break;
        case OPT_GRACEFUL:
            ctl.graceful = 1;
            break;
        case OPT_CA_FILE:
            ctl.ca_file = optarg;
            break;
        case OPT_CERT:
            ctl.cert_file = optarg;
            break;
        case OPT_KEY:
            ctl.key_file = optarg;
            break;
        case OPT_DRY_RUN:
            ctl.dry_run = 1;
            break;
        case OPT_PRUNE:
            ctl.prune = 1;
            break;
        case OPT_REVEAL:
            ctl.reveal_secrets = 1;
            break;
        case 'h':
            usage(stdout);
            return CTL_OK;
        case 'v':
            printf("aigwctl %s (control protocol %d)\n", PACKAGE_VERSION, CONTROL_PROTOCOL);
            return CTL_OK;
        case ':':
            ctl_err("%s needs a value", argv[optind - 1]);
            return usage_error();
        default:
            if (optopt != 0)
                ctl_err("unknown option -%c", optopt);
            else
                ctl_err("unknown option %s", argv[optind - 1]);
            return usage_error();
        }
    }
    if (optind >= argc) {
        ctl_err("no command given");
        return usage_error();
    }
    const char *cmd = argv[optind];
    int nargs = argc - optind - 1;
    int is_control = strcmp(cmd, "status") == 0 || strcmp(cmd, "reload") == 0 ||
                     strcmp(cmd, "stop") == 0 || strcmp(cmd, "reopen") == 0 ||
                     strcmp(cmd, "check") == 0 || strcmp(cmd, "etcd") == 0;
    int is_hist =
        strcmp(cmd, "history") == 0 || strcmp(cmd, "diff") == 0 || strcmp(cmd, "rollback") == 0;
    int is_apply = strcmp(cmd, "apply") == 0 || strcmp(cmd, "export") == 0;
    int is_admin = strcmp(cmd, "model") == 0 || strcmp(cmd, "key") == 0 ||
                   strcmp(cmd, "credential") == 0 || is_hist || is_apply;
    if (strcmp(cmd, "help") == 0) {
        usage(stdout);
        return CTL_OK;
    }
    if (!is_control && !is_admin) {
        ctl_err("unknown command \"%s\"", cmd);
        return usage_error();
    }
    if ((ctl.dry_run || ctl.prune) && strcmp(cmd, "apply") != 0) {
        ctl_err("--dry-run and --prune are for apply only");
        return usage_error();
    }
    if (ctl.reveal_secrets && strcmp(cmd, "export") != 0) {
        ctl_err("--reveal-secrets is for export only");
        return usage_error();
    }
    if (is_admin && ctl.graceful) {
        ctl_err("--graceful is for stop only");
        return usage_error();
    }
    if (url_opt != NULL && strncmp(url_opt, "http://", 7) != 0 &&
        strncmp(url_opt, "https://", 8) != 0) {
        ctl_err("--admin-url %s: give an http:// or https:// URL, such as "
                "http://127.0.0.1:9180",
                url_opt);
        return usage_error();
    }
    if ((is_control && socket_opt == NULL) || (is_admin && url_opt == NULL)) {
        rc = load_conf(&ctl, explicit_conf);
        if (rc != CTL_OK)
            return rc;
    }
    if (socket_opt != NULL)
        snprintf(ctl.socket_path, sizeof(ctl.socket_path), "%s", socket_opt);
    if (url_opt != NULL) {
        snprintf(ctl.admin_url, sizeof(ctl.admin_url), "%s", url_opt);
        size_t n = strlen(ctl.admin_url);
        while (n > 0 && ctl.admin_url[n - 1] == '/')
            ctl.admin_url[--n] = '\0';
    }
    if (is_control) {
        if (key_opt != NULL)
            memset(key_opt, 'x', strlen(key_opt));
        return control_main(&ctl, cmd, nargs, argv + optind + 1);
    }
    rc = choose_key(&ctl, key_file, key_opt, explicit_conf);
    if (rc == CTL_OK) {
        if (ctl.limit > 0 && !is_hist) {
            ctl_err("--limit is for history only");
            rc = CTL_USAGE;
        } else if (is_hist) {
            rc = history_main(&ctl, cmd, nargs, argv + optind + 1);
        } else if (is_apply) {
            rc = apply_main(&ctl, cmd, nargs, argv + optind + 1);
        } else {
            rc = admin_main(&ctl, cmd, nargs, argv + optind + 1);
        }
        if (rc == CTL_USAGE)
            usage_error();
    }
    key_free(&ctl);
    return rc;
}
