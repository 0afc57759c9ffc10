/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics_proc.c: the process_* metrics of the master and of each of its
 * workers, and the configuration version each worker last read, for GET
 * /metrics (master).
 *
 * Read from /proc when /metrics is scraped, never per request: the master
 * knows its workers' pids from their shared-memory entries (shm_worker).
 * The names and types are those of the Prometheus client libraries'
 * process collector; as one endpoint describes several processes, each
 * sample says which: {process="master"} or {process="worker",worker="N"},
 * N the worker's index (the slot of aigwctl status). Not the pid: a pid
 * changes with every restart, so series would pile up; an index is reused
 * by the worker that replaces a dead one (its counters then start again
 * from 0, which rate() takes as a reset) and there are at most twice as
 * many as workers (a reload's old and new workers overlap).
 */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "shm.h"
#include "metrics.h"
#include "metrics_http.h"

/* What /proc says about one process; ok 0 when it could not be read. */
struct proc_info {
    int ok;
    int worker; /* its index; -1: the master */
    uint64_t config_version;
    double cpu_s, start_s;
    double rss, vsize;
    double open_fds, max_fds; /* max_fds < 0: unknown */
};

/* Read a small file whole, NUL-terminated; its length or -1. */
static ssize_t
read_small(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return n;
}

/* /proc/PID/name, as read_small. */
static ssize_t
read_proc_file(pid_t pid, const char *name, char *buf, size_t cap)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
    return read_small(path, buf, cap);
}

/* The boot time (btime of /proc/stat), in Unix seconds; read once. */
static double
boot_time(void)
{
    static double btime = -1;
    char buf[8192];
    if (btime >= 0)
        return btime;
    if (read_small("/proc/stat", buf, sizeof(buf)) < 0)
        return 0;
    const char *p = strstr(buf, "\nbtime ");
    if (p != NULL)
        btime = (double)strtoll(p + 7, NULL, 10);
    return btime < 0 ? 0 : btime;
}

/*
 * /proc/PID/stat: CPU time, start time, sizes. Fields are counted after the
 * last ')' (the command name may hold spaces and parentheses). want_ppid:
 * the process must be our child (a worker's pid read from shared memory may
 * have been reused since it exited, or belong to another master's worker
 * during a binary upgrade); 0 to skip the check.
 */
static int
read_stat(pid_t pid, pid_t want_ppid, struct proc_info *pi)
{
    char buf[2048];
    const char *p = read_proc_file(pid, "stat", buf, sizeof(buf)) < 0 ? NULL : strrchr(buf, ')');
    if (p == NULL)
        return -1;
    /* from field 3 (state): 4 ppid, 14 utime, 15 stime, 22 starttime, 23 vsize, 24 rss */
    unsigned long long f[25] = {0};
    char *end;
    p += 2; /* ") " */
    if (*p == '\0')
        return -1;
    p++; /* the state letter */
    for (int i = 4; i <= 24; i++) {
        f[i] = strtoull(p, &end, 10);
        if (end == p)
            return -1;
        p = end;
    }
    if (want_ppid != 0 && (pid_t)f[4] != want_ppid)
        return -1;
    double tck = (double)sysconf(_SC_CLK_TCK);
    if (tck <= 0)
        tck = 100;
    pi->cpu_s = (double)(f[14] + f[15]) / tck;
    pi->start_s = boot_time() + (double)f[22] / tck;
    pi->vsize = (double)f[23];
    pi->rss = (double)f[24] * (double)sysconf(_SC_PAGESIZE);
    return 0;
}

/* Entries of /proc/PID/fd, or -1 (our own listing's descriptor left out). */
static double
count_fds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    double n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return pid == getpid() ? n - 1 : n;
}

/* The soft RLIMIT_NOFILE of /proc/PID/limits ("Max open files  SOFT  HARD  files"); -1. */
static double
max_fds(pid_t pid)
{
    char buf[4096];
    const char *p =
        read_proc_file(pid, "limits", buf, sizeof(buf)) < 0 ? NULL : strstr(buf, "Max open files");
    if (p == NULL)
        return -1;
    p += strlen("Max open files");
    while (*p == ' ')
        p++;
    if (strncmp(p, "unlimited", 9) == 0)
        return -1;
    char *end;
    unsigned long long v = strtoull(p, &end, 10);
    return end == p ? -1 : (double)v;
}

/* Everything about one process; pi->ok 0 when it is gone or not ours. */
static void
read_proc(pid_t pid, pid_t want_ppid, struct proc_info *pi)
{
    pi->ok = 0;
    if (read_stat(pid, want_ppid, pi) < 0)
        return;
    pi->open_fds = count_fds(pid);
    pi->max_fds = max_fds(pid);
    pi->ok = pi->open_fds >= 0;
}

/* The labels of a process: process="master", or process="worker",worker="N". */
static void
proc_labels(struct evbuffer *out, const struct proc_info *pi)
{
    if (pi->worker < 0)
        evbuffer_add_printf(out, "{process=\"master\"}");
    else
        evbuffer_add_printf(out, "{process=\"worker\",worker=\"%d\"}", pi->worker);
}

/* One family over every process read; field picks the value (-1 values are left out). */
static void
proc_family(struct evbuffer *out, const struct proc_info *all, int n, const char *name,
            const char *type, const char *help, size_t field)
{
    metrics_family(out, name, type, help);
    for (int i = 0; i < n; i++) {
        double v = *(const double *)((const char *)&all[i] + field);
        if (!all[i].ok || v < 0)
            continue;
        evbuffer_add(out, name, strlen(name));
        proc_labels(out, &all[i]);
        if (v == (double)(long long)v)
            evbuffer_add_printf(out, " %lld\n", (long long)v);
        else
            evbuffer_add_printf(out, " %.3f\n", v);
    }
}

void
metrics_proc_render(struct shm *shm, struct evbuffer *out)
{
    int cap = shm_worker_cap(shm), n = 0;
    struct proc_info *all = calloc((size_t)cap + 1, sizeof(*all));
    if (all == NULL)
        return;
    pid_t self = getpid();
    all[n].worker = -1;
    read_proc(self, 0, &all[n++]);
    for (int i = 0; i < cap; i++) {
        struct shm_worker *w = shm_worker(shm, i);
        pid_t pid = atomic_load_explicit(&w->pid, memory_order_relaxed);
        if (pid <= 0)
            continue;
        all[n].worker = i;
        all[n].config_version = atomic_load_explicit(&w->config_version, memory_order_relaxed);
        read_proc(pid, self, &all[n]);
        if (all[n].ok)
            n++;
    }
#define FIELD(f) offsetof(struct proc_info, f)
    proc_family(out, all, n, "process_cpu_seconds_total", "counter",
                "Total user and system CPU time spent in seconds.", FIELD(cpu_s));
    proc_family(out, all, n, "process_resident_memory_bytes", "gauge",
                "Resident memory size in bytes.", FIELD(rss));
    proc_family(out, all, n, "process_virtual_memory_bytes", "gauge",
                "Virtual memory size in bytes.", FIELD(vsize));
    proc_family(out, all, n, "process_open_fds", "gauge", "Number of open file descriptors.",
                FIELD(open_fds));
    proc_family(out, all, n, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
                FIELD(max_fds));
    proc_family(out, all, n, "process_start_time_seconds", "gauge",
                "Start time of the process since unix epoch in seconds.", FIELD(start_s));
#undef FIELD
    metrics_family(out, "aigw_worker_config_version", "gauge",
                   "The configuration table's version each worker last read (at each request "
                   "and every second).");
    for (int i = 1; i < n; i++)
        evbuffer_add_printf(out, "aigw_worker_config_version{worker=\"%d\"} %llu\n", all[i].worker,
                            (unsigned long long)all[i].config_version);
    free(all);
}
