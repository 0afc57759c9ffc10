/* SPDX-License-Identifier: Apache-2.0 */
/*
 * check_metrics.c: the metrics area (metrics.c) on a real shared-memory
 * table, with forked processes standing in for workers: counters and
 * histograms exact across workers, one series when several workers create
 * it at once, label escaping, drops counted when the area is full, and the
 * rendered text checked line by line against the Prometheus text format
 * (families contiguous, HELP and TYPE once, histogram buckets cumulative
 * with +Inf equal to _count).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "metrics.h"
#include "shm.h"
#include "tap.h"

#define NSLOTS 1024
#define NWORKERS 4
#define PER_WORKER 5000

/* ---- helpers ---- */

/* A table with the metrics area laid out, as the master makes it. */
static struct shm *
table_new(int *fd)
{
    struct shm *s = shm_create(NSLOTS, NWORKERS, fd);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(metrics_init(s), 0);
    return s;
}

/* The whole rendering as a NUL-terminated string (caller frees). */
static char *
render(struct shm *s)
{
    struct evbuffer *b = evbuffer_new();
    metrics_render(s, b);
    size_t n = evbuffer_get_length(b);
    char *text = malloc(n + 1);
    ck_assert_ptr_nonnull(text);
    evbuffer_remove(b, text, n);
    text[n] = '\0';
    evbuffer_free(b);
    return text;
}

/* The value of the sample whose line starts with "series " (name and labels); NAN if none. */
static double
sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p != NULL && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return NAN;
}

static void
check_sample(const char *text, const char *series, double want)
{
    double got = sample(text, series);
    ck_assert_msg(!isnan(got), "no sample %s in:\n%s", series, text);
    ck_assert_msg(got == want, "%s is %.6f, want %.6f", series, got, want);
}

/* Lines that start with prefix. */
static int
count_lines(const char *text, const char *prefix)
{
    int n = 0;
    size_t len = strlen(prefix);
    for (const char *p = text; p != NULL && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        n += strncmp(p, prefix, len) == 0;
    return n;
}

/*
 * Fork n stand-in workers (worker indexes 0..n-1) that attach the table and
 * run fn(worker, arg) together (a gate pipe closes to start them); each must
 * exit 0.
 */
static void
run_workers(int fd, int n, void (*fn)(int worker, void *arg), void *arg)
{
    int gate[2];
    pid_t pid[NWORKERS];
    ck_assert_int_le(n, NWORKERS);
    ck_assert_int_eq(pipe(gate), 0);
    for (int w = 0; w < n; w++) {
        pid[w] = fork();
        ck_assert_msg(pid[w] >= 0, "fork: %s", strerror(errno));
        if (pid[w] == 0) {
            char c;
            close(gate[1]);
            struct shm *s = shm_attach(fd, w);
            if (s == NULL || metrics_attach(s) < 0)
                _exit(2);
            while (read(gate[0], &c, 1) < 0 && errno == EINTR)
                ;
            fn(w, arg);
            _exit(0);
        }
    }
    close(gate[0]);
    close(gate[1]); /* go */
    for (int w = 0; w < n; w++) {
        int st;
        ck_assert_int_eq(waitpid(pid[w], &st, 0), pid[w]);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "worker %d ended with status %d", w,
                      st);
    }
}

/* ---- a checker of the text format ---- */

/* ck_assert writes a checkpoint per call: thousands of lines would take seconds */
#define REQUIRE(cond, ...)                                                                         \
    do {                                                                                           \
        if (!(cond))                                                                               \
            ck_abort_msg(__VA_ARGS__);                                                             \
    } while (0)

static int
name_ok(const char *p, size_t n)
{
    if (n == 0 || !(isalpha((unsigned char)p[0]) || p[0] == '_' || p[0] == ':'))
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!(isalnum((unsigned char)p[i]) || p[i] == '_' || p[i] == ':'))
            return 0;
    return 1;
}

/* Parse {k="v",...} at *pp; le is set to the le label's value (or ""); -1 if malformed. */
static int
labels_ok(const char **pp, char *le, size_t lelen, char *rest, size_t restlen)
{
    const char *p = *pp;
    size_t rn = 0;
    le[0] = rest[0] = '\0';
    if (*p != '{')
        return 0;
    p++;
    while (*p != '}') {
        const char *k = p;
        while (isalnum((unsigned char)*p) || *p == '_')
            p++;
        if (p == k || p[0] != '=' || p[1] != '"')
            return -1;
        size_t klen = (size_t)(p - k);
        p += 2;
        char val[4096];
        size_t vn = 0;
        while (*p != '"') {
            if (*p == '\0' || *p == '\n')
                return -1;
            if (*p == '\\') {
                if (p[1] != '\\' && p[1] != '"' && p[1] != 'n')
                    return -1;
                p++;
            }
            if (vn + 1 < sizeof(val))
                val[vn++] = *p;
            p++;
        }
        val[vn] = '\0';
        p++;
        if (klen == 2 && strncmp(k, "le", 2) == 0)
            snprintf(le, lelen, "%.32s", val);
        else
            rn += (size_t)snprintf(rest + rn, rn < restlen ? restlen - rn : 0, "%.*s=%s;",
                                   (int)klen, k, val);
        if (*p == ',')
            p++;
        else if (*p != '}')
            return -1;
    }
    *pp = p + 1;
    return 0;
}

/*
 * Check every line of a rendering: comments, names, labels, values; every
 * sample in the family its TYPE announced, each family in one block; the
 * buckets of each histogram series ascending and cumulative, +Inf == _count.
 */
static void
check_format(const char *text)
{
    char family[128] = "", type[16] = "", seen[64][128];
    int nseen = 0, lineno = 0;
    char hist_key[4096] = "";
    double last_le = -1, last_bucket = -1, inf = -1;
    REQUIRE(text[0] && text[strlen(text) - 1] == '\n', "no final newline");
    for (const char *line = text; *line; line = strchr(line, '\n') + 1) {
        const char *eol = strchr(line, '\n'), *p = line;
        lineno++;
        REQUIRE(eol != NULL, "line %d has no newline", lineno);
        if (strncmp(line, "# HELP ", 7) == 0 || strncmp(line, "# TYPE ", 7) == 0) {
            const char *n = line + 7, *sp = memchr(n, ' ', (size_t)(eol - n));
            REQUIRE(sp != NULL && name_ok(n, (size_t)(sp - n)), "line %d: %.*s", lineno,
                    (int)(eol - line), line);
            if (line[2] == 'H') {
                for (int i = 0; i < nseen; i++)
                    REQUIRE(strncmp(seen[i], n, (size_t)(sp - n)) != 0 || seen[i][sp - n] != '\0',
                            "family %.*s twice (line %d)", (int)(sp - n), n, lineno);
                snprintf(family, sizeof(family), "%.*s", (int)(sp - n), n);
                REQUIRE(nseen < 64, "too many families");
                snprintf(seen[nseen++], sizeof(seen[0]), "%s", family);
                type[0] = '\0';
            } else {
                REQUIRE(strncmp(n, family, strlen(family)) == 0 && n[strlen(family)] == ' ',
                        "line %d: TYPE of another family than its HELP", lineno);
                snprintf(type, sizeof(type), "%.*s", (int)(eol - sp - 1), sp + 1);
                REQUIRE(strcmp(type, "counter") == 0 || strcmp(type, "gauge") == 0 ||
                            strcmp(type, "histogram") == 0,
                        "line %d: type %s", lineno, type);
            }
            continue;
        }
        REQUIRE(line[0] != '#', "line %d: unknown comment", lineno);
        REQUIRE(type[0] != '\0', "line %d: a sample before any TYPE", lineno);
        while (p < eol && *p != '{' && *p != ' ')
            p++;
        size_t nlen = (size_t)(p - line), flen = strlen(family);
        REQUIRE(name_ok(line, nlen), "line %d: bad name", lineno);
        const char *suffix = line + flen;
        int in_family = nlen >= flen && strncmp(line, family, flen) == 0;
        if (strcmp(type, "histogram") == 0)
            in_family = in_family && ((nlen == flen + 7 && strncmp(suffix, "_bucket", 7) == 0) ||
                                      (nlen == flen + 4 && strncmp(suffix, "_sum", 4) == 0) ||
                                      (nlen == flen + 6 && strncmp(suffix, "_count", 6) == 0));
        else
            in_family = in_family && nlen == flen;
        REQUIRE(in_family, "line %d: %.*s is not of family %s", lineno, (int)nlen, line, family);
        char le[64], rest[4096];
        REQUIRE(labels_ok(&p, le, sizeof(le), rest, sizeof(rest)) == 0, "line %d: bad labels: %.*s",
                lineno, (int)(eol - line), line);
        REQUIRE(*p == ' ', "line %d: no space before the value", lineno);
        char *end;
        double v = strtod(p + 1, &end);
        REQUIRE(end == eol && end > p + 1, "line %d: bad value", lineno);
        if (strcmp(type, "histogram") != 0)
            continue;
        if (strncmp(suffix, "_bucket", 7) == 0) {
            REQUIRE(le[0] != '\0', "line %d: a bucket without le", lineno);
            double lev = strcmp(le, "+Inf") == 0 ? INFINITY : strtod(le, NULL);
            if (strcmp(rest, hist_key) != 0) { /* a new series: its first bucket */
                snprintf(hist_key, sizeof(hist_key), "%s", rest);
                last_le = -1;
                last_bucket = -1;
            }
            REQUIRE(lev > last_le, "line %d: le not ascending", lineno);
            REQUIRE(v >= last_bucket, "line %d: buckets not cumulative", lineno);
            last_le = lev;
            last_bucket = v;
            if (isinf(lev))
                inf = v;
        } else if (strncmp(suffix, "_count", 6) == 0) {
            REQUIRE(strcmp(rest, hist_key) == 0 && isinf(last_le),
                    "line %d: _count of a series without +Inf", lineno);
            REQUIRE(v == inf, "line %d: _count %f != +Inf bucket %f", lineno, v, inf);
        }
    }
}

/* ---- counters and histograms across workers ---- */

/* Each worker: PER_WORKER requests on two models, upstream attempts, refusals. */
static void
traffic(int worker, void *arg)
{
    (void)arg;
    for (int i = 0; i < PER_WORKER; i++) {
        struct metrics_request r = {
            .model = i % 2 ? "m1" : "m2",
            .provider = "openai",
            .target = i % 2 ? "t1" : "t2",
            .status = i % 5 == 0 ? 502 : 200,
            .duration_us = i % 3 == 0 ? 700 : 30000, /* le 0.001 or le 0.05 */
            .ttft_us = i % 4 == 0 ? 2000 : 0,
            .prompt_tokens = 3,
            .completion_tokens = i % 2 ? 7 : 0,
        };
        metrics_request(&r);
        metrics_upstream(r.model, "openai", r.target, 4000, r.status == 502 ? MX_UP_5XX : MX_UP_OK);
        if (i % 10 == 0)
            metrics_ratelimit((enum metrics_scope)(i / 10 % 3), r.model);
    }
    (void)worker;
}

START_TEST(counters_exact_across_workers)
{
    int fd;
    struct shm *s = table_new(&fd);
    run_workers(fd, NWORKERS, traffic, NULL);
    char *t = render(s);
    check_format(t);
    /* per worker, m1 is odd i: 2500; 502 when i % 5 == 0 (500 of them, half odd) */
    double all = NWORKERS * PER_WORKER;
    check_sample(
        t, "aigw_requests_total{model=\"m1\",provider=\"openai\",target=\"t1\",status=\"200\"}",
        NWORKERS * 2000.0);
    check_sample(
        t, "aigw_requests_total{model=\"m1\",provider=\"openai\",target=\"t1\",status=\"502\"}",
        NWORKERS * 500.0);
    check_sample(
        t, "aigw_requests_total{model=\"m2\",provider=\"openai\",target=\"t2\",status=\"200\"}",
        NWORKERS * 2000.0);
    check_sample(
        t, "aigw_requests_total{model=\"m2\",provider=\"openai\",target=\"t2\",status=\"502\"}",
        NWORKERS * 500.0);
    check_sample(t, "aigw_tokens_total{model=\"m1\",type=\"prompt\"}", all / 2 * 3);
    check_sample(t, "aigw_tokens_total{model=\"m2\",type=\"prompt\"}", all / 2 * 3);
    check_sample(t, "aigw_tokens_total{model=\"m1\",type=\"completion\"}", all / 2 * 7);
    ck_assert_msg(isnan(sample(t, "aigw_tokens_total{model=\"m2\",type=\"completion\"}")),
                  "a series for zero tokens");
    /* durations: i % 3 == 0 -> 0.0007s, else 0.03s */
    int fast1 = 0, fast2 = 0;
    for (int i = 0; i < PER_WORKER; i++)
        if (i % 3 == 0 && i % 2)
            fast1++;
        else if (i % 3 == 0)
            fast2++;
    check_sample(t, "aigw_request_duration_seconds_bucket{model=\"m1\",le=\"0.001\"}",
                 NWORKERS * fast1);
    check_sample(t, "aigw_request_duration_seconds_bucket{model=\"m1\",le=\"0.025\"}",
                 NWORKERS * fast1);
    check_sample(t, "aigw_request_duration_seconds_bucket{model=\"m1\",le=\"0.05\"}",
                 NWORKERS * 2500.0);
    check_sample(t, "aigw_request_duration_seconds_count{model=\"m1\"}", NWORKERS * 2500.0);
    check_sample(t, "aigw_request_duration_seconds_sum{model=\"m1\"}",
                 NWORKERS * (fast1 * 0.0007 + (2500 - fast1) * 0.03));
    check_sample(t, "aigw_time_to_first_token_seconds_count{model=\"m2\"}",
                 NWORKERS * PER_WORKER / 4.0);
    check_sample(t, "aigw_time_to_first_token_seconds_bucket{model=\"m2\",le=\"0.001\"}", 0);
    check_sample(t, "aigw_time_to_first_token_seconds_bucket{model=\"m2\",le=\"0.0025\"}",
                 NWORKERS * PER_WORKER / 4.0);
    check_sample(t,
                 "aigw_upstream_duration_seconds_count{model=\"m1\",provider=\"openai\","
                 "target=\"t1\"}",
                 NWORKERS * 2500.0);
    check_sample(t,
                 "aigw_upstream_duration_seconds_sum{model=\"m1\",provider=\"openai\","
                 "target=\"t1\"}",
                 NWORKERS * 2500 * 0.004);
    check_sample(t, "aigw_upstream_errors_total{model=\"m1\",target=\"t1\",reason=\"status_5xx\"}",
                 NWORKERS * 500.0);
    ck_assert_int_eq(count_lines(t, "aigw_upstream_errors_total{"), 2);
    /* i % 10 == 0: 500 per worker, scope (i / 10) % 3 */
    int scope[3] = {0, 0, 0};
    for (int i = 0; i < PER_WORKER; i += 10)
        scope[i / 10 % 3]++;
    /* i is even: the requests of m2 */
    check_sample(t, "aigw_ratelimit_rejections_total{model=\"m2\",scope=\"key\"}",
                 NWORKERS * scope[0]);
    check_sample(t, "aigw_ratelimit_rejections_total{model=\"m2\",scope=\"model\"}",
                 NWORKERS * scope[1]);
    check_sample(t, "aigw_ratelimit_rejections_total{model=\"m2\",scope=\"unavailable\"}",
                 NWORKERS * scope[2]);
    ck_assert_int_eq(count_lines(t, "aigw_ratelimit_rejections_total{"), 3);
    check_sample(t, "aigw_metrics_series_dropped_total", 0);
    free(t);
    shm_free(s);
    close(fd);
}
END_TEST

/* Each worker creates the same 300 new series at the same time. */
static void
race(int worker, void *arg)
{
    (void)worker;
    (void)arg;
    char name[32];
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof(name), "race-%d", i);
        struct metrics_request r = {.model = name, .status = 200, .duration_us = 10};
        metrics_request(&r);
    }
}

START_TEST(one_series_when_created_at_once)
{
    int fd;
    struct shm *s = table_new(&fd);
    run_workers(fd, NWORKERS, race, NULL);
    char *t = render(s);
    check_format(t);
    ck_assert_int_eq(count_lines(t, "aigw_requests_total{model=\"race-"), 300);
    ck_assert_int_eq(count_lines(t, "aigw_request_duration_seconds_count{model=\"race-"), 300);
    char series[128];
    for (int i = 0; i < 300; i++) {
        snprintf(series, sizeof(series),
                 "aigw_requests_total{model=\"race-%d\",provider=\"\",target=\"\",status=\"200\"}",
                 i);
        check_sample(t, series, NWORKERS);
    }
    free(t);
    shm_free(s);
    close(fd);
}
END_TEST

/* ---- histograms ---- */

START_TEST(histogram_bucket_bounds)
{
    int fd;
    struct shm *s = table_new(&fd);
    ck_assert_int_eq(metrics_attach(s), 0);
    /* a bound is inclusive (le); beyond the last one only +Inf counts it */
    int64_t us[] = {0, 1000, 1001, 2500, 999999, 1000000, 300000000, 300000001, 900000000};
    for (size_t i = 0; i < sizeof(us) / sizeof(us[0]); i++)
        metrics_upstream("h", "openai", "t", us[i], MX_UP_OK);
    char *t = render(s);
    check_format(t);
#define B(le)                                                                                      \
    "aigw_upstream_duration_seconds_bucket{model=\"h\",provider=\"openai\",target=\"t\",le=\"" le  \
    "\"}"
    check_sample(t, B("0.001"), 2);
    check_sample(t, B("0.0025"), 4);
    check_sample(t, B("0.005"), 4);
    check_sample(t, B("1"), 6);
    check_sample(t, B("300"), 7);
    check_sample(t, B("+Inf"), 9);
#undef B
    check_sample(
        t, "aigw_upstream_duration_seconds_count{model=\"h\",provider=\"openai\",target=\"t\"}", 9);
    /* the sum is kept in microseconds: exact */
    ck_assert_msg(strstr(t, "aigw_upstream_duration_seconds_sum{model=\"h\",provider=\"openai\","
                            "target=\"t\"} 1502.004501\n") != NULL,
                  "sum not exact:\n%s", t);
    ck_assert_int_eq(count_lines(t, "aigw_upstream_errors_total{"), 0);
    free(t);
    shm_free(s);
    close(fd);
}
END_TEST

/* ---- labels ---- */

START_TEST(label_values_escaped)
{
    int fd;
    struct shm *s = table_new(&fd);
    ck_assert_int_eq(metrics_attach(s), 0);
    struct metrics_request r = {.model = "a\"b\\c\nd",
                                .provider = "p",
                                .target = "x\xffy\xc3\xa9",
                                .status = 200,
                                .duration_us = 1};
    metrics_request(&r);
    metrics_upstream("q\"", "p", "t\n", 1, MX_UP_CONNECT);
    char *t = render(s);
    check_format(t);
    /* \, " and newline escaped; a byte that is not UTF-8 becomes U+FFFD, valid UTF-8 stays */
    check_sample(t,
                 "aigw_requests_total{model=\"a\\\"b\\\\c\\nd\",provider=\"p\","
                 "target=\"x\xef\xbf\xbdy\xc3\xa9\",status=\"200\"}",
                 1);
    check_sample(t,
                 "aigw_upstream_errors_total{model=\"q\\\"\",target=\"t\\n\","
                 "reason=\"connect_error\"}",
                 1);
    struct evbuffer *b = evbuffer_new();
    metrics_sample(b, "x_gauge", "target", "\xe0\x80\x80z", 2.5);
    metrics_sample(b, "y_gauge", NULL, NULL, 1700000000123.0);
    char out[128] = "";
    evbuffer_remove(b, out, sizeof(out) - 1);
    ck_assert_str_eq(out, "x_gauge{target=\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdz\"} 2.500\n"
                          "y_gauge 1700000000123\n");
    evbuffer_free(b);
    free(t);
    shm_free(s);
    close(fd);
}
END_TEST

START_TEST(unknown_model_has_empty_label)
{
    int fd;
    struct shm *s = table_new(&fd);
    ck_assert_int_eq(metrics_attach(s), 0);
    struct metrics_request r = {.model = NULL, .status = 404, .duration_us = 5};
    metrics_request(&r);
    char *t = render(s);
    check_sample(t, "aigw_requests_total{model=\"\",provider=\"\",target=\"\",status=\"404\"}", 1);
    check_sample(t, "aigw_request_duration_seconds_count{model=\"\"}", 1);
    free(t);
    shm_free(s);
    close(fd);
}
END_TEST

/* ---- the area's limits ---- */

START_TEST(full_area_counts_drops)
{
    int fd;
    struct shm *s = table_new(&fd);
    ck_assert_int_eq(metrics_attach(s), 0);
    struct metrics_request first = {.model = "first", .status = 200, .duration_us = 1};
    metrics_request(&first);
    char name[64];
    /* each call makes 2 series (a counter and a histogram): far more than 8 MiB holds */
    for (int i = 0; i < 60000; i++) {
        snprintf(name, sizeof(name), "model-with-a-longish-name-%06d", i);
        struct metrics_request r = {.model = name, .status = 200, .duration_us = 1};
        metrics_request(&r);
    }
    metrics_request(&first); /* an existing series still counts */
    char *t = render(s);
    check_format(t);
    double dropped = sample(t, "aigw_metrics_series_dropped_total");
    ck_assert_msg(dropped > 0, "nothing dropped");
    check_sample(t, "aigw_requests_total{model=\"first\",provider=\"\",target=\"\",status=\"200\"}",
                 2);
    check_sample(t, "aigw_request_duration_seconds_count{model=\"first\"}", 2);
    int kept = count_lines(t, "aigw_requests_total{") +
               count_lines(t, "aigw_request_duration_seconds_count{");
    ck_assert_msg(kept > 1000, "only %d series kept", kept);
    ck_assert_msg(kept + dropped == 2 * 60000 + 2, "kept %d + dropped %.0f", kept, dropped);
    free(t);
    shm_free(s);
    close(fd);
}
END_TEST

START_TEST(not_laid_out_does_nothing)
{
    int fd;
    struct shm *s = shm_create(NSLOTS, NWORKERS, &fd);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(metrics_attach(s), -1); /* the master did not call metrics_init */
    struct metrics_request r = {.model = "m", .status = 200};
    metrics_request(&r); /* no effect, no crash */
    metrics_ratelimit(MX_RL_KEY, "m");
    metrics_stream_error("m", MX_SE_TRUNCATED);
    metrics_upstream("m", "p", "t", 1, MX_UP_TIMEOUT);
    struct evbuffer *b = evbuffer_new();
    metrics_render(s, b);
    ck_assert_uint_eq(evbuffer_get_length(b), 0);
    evbuffer_free(b);
    /* laid out now; laying it out again (a new master adopting it) keeps the counts */
    ck_assert_int_eq(metrics_init(s), 0);
    ck_assert_int_eq(metrics_attach(s), 0);
    metrics_request(&r);
    metrics_worker_restart(s);
    metrics_worker_restart(s);
    ck_assert_int_eq(metrics_init(s), 0);
    char *t = render(s);
    check_format(t);
    check_sample(t, "aigw_requests_total{model=\"m\",provider=\"\",target=\"\",status=\"200\"}", 1);
    check_sample(t, "aigw_worker_restarts_total", 2);
    ck_assert_int_eq(count_lines(t, "aigw_ratelimit_rejections_total{"), 0); /* before the layout */
    ck_assert_int_eq(count_lines(t, "aigw_stream_errors_total{"), 0);
    free(t);
    shm_free(s);
    close(fd);
}
END_TEST

/* got[0..n-1] are want's names, in order, and got[n] (one past the enum) is "other". */
static void
check_names(const char *const *want, int nwant, int n, const char *const *got)
{
    ck_assert_int_eq(n, nwant);
    for (int i = 0; i < n; i++)
        ck_assert_str_eq(got[i], want[i]);
    ck_assert_str_eq(got[n], "other");
}

/* The upstream failure reasons and stream error reasons aigw-metrics(7) documents. */
START_TEST(reason_names)
{
    const char *up[] = {"ok",        "connect_error", "timeout",    "tls_error",  "reset",
                        "truncated", "too_large",     "status_429", "status_5xx", "status_4xx"};
    const char *se[] = {"upstream_error", "upstream_disconnected", "idle_timeout",
                        "total_timeout",  "truncated",             "bad_event",
                        "client_closed",  "shutdown"};
    const char *got[MX_UP_NREASONS + MX_SE_N + 2];
    for (int i = 0; i <= MX_UP_NREASONS; i++)
        got[i] = metrics_reason_name((enum metrics_reason)i);
    check_names(up, (int)(sizeof(up) / sizeof(up[0])), MX_UP_NREASONS, got);
    for (int i = 0; i <= MX_SE_N; i++)
        got[i] = metrics_stream_error_name((enum metrics_stream_error)i);
    check_names(se, (int)(sizeof(se) / sizeof(se[0])), MX_SE_N, got);
}
END_TEST

/* The reload families of a rendering: the gauge, the success time, the two counts. */
static void
check_reloads(struct shm *s, double ok, double when, double successes, double failures)
{
    char *t = render(s);
    check_format(t);
    check_sample(t, "aigw_config_last_reload_successful", ok);
    check_sample(t, "aigw_config_last_reload_success_timestamp_seconds", when);
    check_sample(t, "aigw_config_reloads_total{result=\"success\"}", successes);
    check_sample(t, "aigw_config_reloads_total{result=\"failure\"}", failures);
    ck_assert_ptr_nonnull(strstr(t, "# TYPE aigw_config_last_reload_success_timestamp_seconds "
                                    "gauge\n"));
    free(t);
}

/* The start is a successful load; a failed reload keeps the success time; counts by result. */
START_TEST(reload_result_and_time)
{
    int fd;
    struct shm *s = table_new(&fd);
    metrics_config_loaded(s, 1700000000123);
    check_reloads(s, 1, 1700000000.123, 0, 0);
    metrics_reload(s, 0, 1700000005000);
    check_reloads(s, 0, 1700000000.123, 0, 1);
    metrics_reload(s, 1, 1700000009007);
    check_reloads(s, 1, 1700000009.007, 1, 1);
    char *t;
    /* stream errors: one series per model and reason */
    ck_assert_int_eq(metrics_attach(s), 0);
    metrics_stream_error("m", MX_SE_IDLE_TIMEOUT);
    metrics_stream_error("m", MX_SE_IDLE_TIMEOUT);
    metrics_stream_error("m", MX_SE_CLIENT_CLOSED);
    t = render(s);
    check_format(t);
    check_sample(t, "aigw_stream_errors_total{model=\"m\",reason=\"idle_timeout\"}", 2);
    check_sample(t, "aigw_stream_errors_total{model=\"m\",reason=\"client_closed\"}", 1);
    ck_assert_int_eq(count_lines(t, "aigw_stream_errors_total{"), 2);
    free(t);
    metrics_detach();
    shm_free(s);
    close(fd);
}
END_TEST

static Suite *
metrics_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("workers");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, counters_exact_across_workers);
    tcase_add_test(tc, one_series_when_created_at_once);
    suite_add_tcase(s, tc);

    tc = tcase_create("series");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, histogram_bucket_bounds);
    tcase_add_test(tc, label_values_escaped);
    tcase_add_test(tc, unknown_model_has_empty_label);
    tcase_add_test(tc, full_area_counts_drops);
    tcase_add_test(tc, not_laid_out_does_nothing);
    tcase_add_test(tc, reason_names);
    tcase_add_test(tc, reload_result_and_time);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return run_suite(metrics_suite());
}
