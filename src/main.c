/* SPDX-License-Identifier: Apache-2.0 */
/* main.c: aigw's command line: the master, a worker (-W), or a configuration check (-t). */
#include "config.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "aigw/conf.h"
#include "aigw/errors.h"
#include "log.h"
#include "aigw/yamljson.h"
#include "conf_paths.h"
#include "master.h"
#include "aigw/resfile.h"
#include "worker.h"

/* The usage: asked for (-h, --help) on stdout with status 0, else on stderr with status 1. */
static void
usage(int asked)
{
    fprintf(asked ? stdout : stderr,
            "usage: aigw [-dhtTv] [-c file]\n"
            "       aigw --keys\n"
            "  -c file  configuration file (default %s)\n"
            "  -d       stay in the foreground and log to stderr\n"
            "  -h       print this help (also --help), then exit\n"
            "  -t       check the configuration, the resources file and the paths a start\n"
            "           opens (logs, data_dir, pid_file and control.socket folders), then exit\n"
            "  -T       check aigw.yaml, then print it with every default filled in\n"
            "           (secrets masked), then exit\n"
            "  -v       print the version, then exit\n"
            "  --keys   print every aigw.yaml key with its type, default and description\n"
            "See aigw(8) and aigw.yaml(5).\n",
            CONF_DEFAULT_PATH);
    exit(asked ? 0 : 1);
}

/*
 * The daemon did not start: print its last error (the master sends it after
 * the status byte; at most a line, made printable: it may quote a file) and
 * where its error log went, which is where the rest is.
 */
static void
daemonize_failed(int fd, const char *error_log)
{
    char msg[1024], where[PATH_MAX + 256];
    size_t n = 0;
    for (int tries = 0; tries < 64 && n < sizeof(msg) - 1; tries++) {
        ssize_t r = read(fd, msg + n, sizeof(msg) - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    msg[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f)
            msg[i] = ' ';
    log_describe_dest(error_log, where, sizeof(where));
    if (n > 0)
        fprintf(stderr, "aigw: failed to start: %s\n", msg);
    else
        fprintf(stderr, "aigw: failed to start\n");
    fprintf(stderr, "aigw: %s\n", where);
}

/*
 * Detach (fork, setsid, stdio to /dev/null). The parent waits until the
 * master says it serves (or failed), so `aigw` exits 0 only once it is up:
 * what a supervisor of Type=forking needs. Returns the write end of the
 * readiness pipe, in the child.
 */
static int
daemonize(const char *error_log)
{
    int p[2];
    char st = 1;
    if (pipe2(p, O_CLOEXEC) < 0) {
        perror("aigw: pipe");
        exit(1);
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("aigw: fork");
        exit(1);
    }
    if (pid > 0) {
        close(p[1]);
        /* _exit: the parent's copy of the configuration is the daemon's to free */
        if (read(p[0], &st, 1) == 1 && st == 0)
            _exit(0);
        daemonize_failed(p[0], error_log);
        _exit(1);
    }
    close(p[0]);
    setsid();
    if (chdir("/") < 0)
        exit(1);
    int fd = open("/dev/null", O_RDWR);
    if (fd >= 0) {
        dup2(fd, STDIN_FILENO);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        if (fd > STDERR_FILENO)
            close(fd);
    }
    return p[1];
}

/*
 * aigw -T: the effective configuration on stdout. The file is read twice
 * more: as loaded (conf_from_json rewrote the first tree, key_file to
 * key_sha256) and without ${VAR} replaced (a secret that names a variable is
 * shown as written).
 */
static int
dump_config(struct conf *c)
{
    struct aigw_errors re;
    struct json_object *masked = NULL;
    errors_init(&re, c->path);
    struct json_object *tree = yaml_load_file(c->path, YAML_SUBST_ENV, &re);
    struct json_object *raw = yaml_load_file(c->path, 0, &re);
    errors_free(&re);
    int n = conf_dump_effective(stdout, c, tree, raw, &masked);
    json_object_put(tree);
    json_object_put(raw);
    for (int i = 0; i < n; i++)
        fprintf(stderr,
                "aigw: warning: %s is masked: the output does not carry it (write it as "
                "${VAR} to keep it)\n",
                json_object_get_string(json_object_array_get_idx(masked, (size_t)i)));
    json_object_put(masked);
    return fflush(stdout) == 0 ? 0 : 1;
}

/* aigw -t: every error of aigw.yaml, then of the resources file; the keyless opt-in's warning. */
static int
check_config(struct conf *c, int conf_ok, struct aigw_errors *e)
{
    /* The resources file is checked even when aigw.yaml has errors: show them all. */
    /* etcd mode doesn't read it; "" means no resources file */
    if (c->etcd_nendpoints == 0 && c->resources[0] != '\0') {
        struct aigw_errors re;
        errors_init(&re, c->resources);
        struct json_object *res = resfile_load(c->resources, &re);
        errors_print(&re, stderr);
        if (res == NULL)
            conf_ok = -1;
        json_object_put(res);
        errors_free(&re);
    }
    if (conf_ok == 0 && conf_check_admin(c, e) < 0)
        conf_ok = -1;
    /* what a start would open: a log it cannot open is found now, not at start */
    if (conf_ok == 0 && conf_paths_check(c, e) < 0)
        conf_ok = -1;
    errors_print(e, stderr);
    char warn[512];
    if (conf_ok == 0 && conf_admin_warning(c, warn, sizeof(warn)))
        fprintf(stderr, "%s: warning: %s\n", c->path, warn);
    if (conf_ok < 0) {
        fprintf(stderr, "configuration check failed\n");
        return 1;
    }
    printf("configuration OK\n");
    return 0;
}

int
main(int argc, char **argv)
{
    const char *path = CONF_DEFAULT_PATH, *worker_spec = NULL;
    int ch, foreground = 0, test = 0, dump = 0;
    static struct conf conf;

    /* getopt knows no long options; --help is the one people type */
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--help") == 0)
            usage(1);
        else if (strcmp(argv[i], "--keys") == 0) {
            if (argc != 2)
                usage(0);
            conf_dump_keys(stdout);
            return 0;
        }
    while ((ch = getopt(argc, argv, "c:dhtTvW:")) != -1) {
        switch (ch) {
        case 'c':
            path = optarg;
            break;
        case 'd':
            foreground = 1;
            break;
        case 'h':
            usage(1);
            break;
        case 't':
            test = 1;
            break;
        case 'T':
            dump = 1;
            break;
        case 'v':
            printf("aigw %s\n", PACKAGE_VERSION);
            return 0;
        case 'W':
            worker_spec = optarg;
            break;
        default:
            usage(0);
        }
    }
    if (optind != argc)
        usage(0);
    if (worker_spec != NULL)
        return worker_main(worker_spec, path, foreground);

    /* Absolute, so relative paths in it still resolve after a daemon's chdir("/"). */
    char abspath[PATH_MAX];
    if (realpath(path, abspath) != NULL)
        path = abspath;
    log_init(1, LOG_LVL_INFO, "master");
    struct aigw_errors e;
    errors_init(&e, path);
    snprintf(conf.path, sizeof(conf.path), "%s", path);
    struct json_object *tree = yaml_load_file(path, YAML_SUBST_ENV, &e);
    int ok = tree != NULL ? conf_from_json(&conf, tree, &e) : -1;
    if (e.n > 0)
        ok = -1; /* an unset ${VAR} leaves the tree usable but the file wrong */
    if (dump) {
        int rv = 1;
        if (ok == 0 && conf_check_admin(&conf, &e) < 0)
            ok = -1;
        errors_print(&e, stderr);
        if (ok == 0)
            rv = dump_config(&conf);
        else
            fprintf(stderr, "configuration check failed\n");
        json_object_put(tree);
        errors_free(&e);
        return rv;
    }
    if (test) {
        int rv = check_config(&conf, ok, &e);
        json_object_put(tree);
        errors_free(&e);
        return rv;
    }
    /* Here too, not only in the master: a daemon's refusal would reach the log alone. */
    if (ok == 0 && conf_check_admin(&conf, &e) < 0)
        ok = -1;
    if (ok < 0) {
        errors_print(&e, stderr);
        fprintf(stderr, "aigw: configuration errors, not starting\n");
        errors_free(&e);
        json_object_put(tree);
        return 1;
    }
    errors_free(&e);
    /* Open the log files before detaching: a wrong path is told on the terminal. */
    if (log_open(conf.error_log, conf.access_log, foreground) < 0) {
        fprintf(stderr, "aigw: cannot open the logs, not starting\n");
        json_object_put(tree);
        return 1;
    }
    int ready_fd = -1;
    /* A binary upgrade's new master is already detached (its parent is the old master). */
    if (!foreground) {
        if (getenv("AIGW_INHERIT") == NULL)
            ready_fd = daemonize(conf.error_log);
        log_init(0, conf.log_level, "master");
    }
    log_set_level(conf.log_level);
    int rv = master_main(&conf, tree, foreground, ready_fd);
    json_object_put(tree);
    return rv;
}
