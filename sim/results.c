/* results.c — exploration as one shard of a campaign that runs on engines
 * users already operate: which shard this process is (from explicit options
 * or the engine's own variables), and what it leaves for the merge step — JSON
 * lines (one per failure, one per shrunk failure, one summary per shard) and
 * JUnit XML for engines that read it (Bazel's XML_OUTPUT_FILE).
 *
 * Nothing here decides anything in a run; the files are written with one
 * write per line, so shards appending to one file do not interleave lines.
 */
#define _GNU_SOURCE
#include "explore.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- which shard ---- */

static int env_u64(const char *name, uint64_t *out, bool *present, char *why, size_t whylen)
{
    const char *v = getenv(name);
    *present = v && *v;
    if (!*present)
        return 0;
    if (weft__parse_u64(v, out) < 0) {
        snprintf(why, whylen, "weft: %s=\"%s\" is not valid: expected an unsigned integer", name, v);
        return WEFT_EINVAL;
    }
    return 0;
}

static void touch(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0)
        close(fd);
}

int weft__shard_resolve(unsigned index, unsigned count, bool use_env, weft__shard *out, char *why, size_t whylen)
{
    *out = (weft__shard){0, 1, "unsharded"};
    if (why && whylen)
        why[0] = 0;
    if (count > 0) {
        if (index >= count) {
            snprintf(why, whylen, "weft: shard index %u is not below the shard count %u", index, count);
            return WEFT_EINVAL;
        }
        *out = (weft__shard){index, count, "options"};
        return 0;
    }
    if (!use_env)
        return 0;
    /* Each engine's pair, in order; Slurm's index is offset and strided by
     * the array's own range, Kubernetes gives no count (the Job's
     * completions are in the manifest): WEFT_SHARD_COUNT says it. */
    static const struct {
        const char *index, *count, *from;
    } pairs[] = {
        {"WEFT_SHARD_INDEX", "WEFT_SHARD_COUNT", "WEFT_SHARD_INDEX/WEFT_SHARD_COUNT"},
        {"TEST_SHARD_INDEX", "TEST_TOTAL_SHARDS", "Bazel (TEST_SHARD_INDEX/TEST_TOTAL_SHARDS)"},
        {"GTEST_SHARD_INDEX", "GTEST_TOTAL_SHARDS", "GTEST_SHARD_INDEX/GTEST_TOTAL_SHARDS"},
        {"SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT", "Slurm (SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT)"},
        {"JOB_COMPLETION_INDEX", "WEFT_SHARD_COUNT", "Kubernetes (JOB_COMPLETION_INDEX/WEFT_SHARD_COUNT)"},
    };
    for (size_t p = 0; p < sizeof pairs / sizeof pairs[0]; p++) {
        uint64_t i = 0, n = 0;
        bool hi, hn;
        int r;
        if ((r = env_u64(pairs[p].index, &i, &hi, why, whylen)) < 0)
            return r;
        if (!hi)
            continue;
        if ((r = env_u64(pairs[p].count, &n, &hn, why, whylen)) < 0)
            return r;
        if (!hn) {
            snprintf(why, whylen, "weft: %s is set but %s is not: set it to the number of shards", pairs[p].index,
                     pairs[p].count);
            return WEFT_EINVAL;
        }
        if (p == 3) {
            uint64_t min = 0, step = 1;
            bool hm, hs;
            if ((r = env_u64("SLURM_ARRAY_TASK_MIN", &min, &hm, why, whylen)) < 0 ||
                (r = env_u64("SLURM_ARRAY_TASK_STEP", &step, &hs, why, whylen)) < 0)
                return r;
            if (i < min || step == 0 || (i - min) % step) {
                snprintf(why, whylen, "weft: SLURM_ARRAY_TASK_ID=%" PRIu64 " is not in the array (min %" PRIu64
                                      ", step %" PRIu64 ")", i, min, step);
                return WEFT_EINVAL;
            }
            i = (i - min) / step;
        }
        if (n == 0 || n > UINT32_MAX || i >= n) {
            snprintf(why, whylen, "weft: %s: shard index %" PRIu64 " of %" PRIu64 " shards is not valid", pairs[p].from,
                     i, n);
            return WEFT_EINVAL;
        }
        *out = (weft__shard){(unsigned)i, (unsigned)n, pairs[p].from};
        /* Bazel runs a test sharded only if the test says it can. */
        const char *status = getenv("TEST_SHARD_STATUS_FILE");
        if (p == 1 && status && *status)
            touch(status);
        return 0;
    }
    const char *lone = getenv("WEFT_SHARD_COUNT");
    if (lone && *lone) {
        snprintf(why, whylen, "weft: WEFT_SHARD_COUNT is set but no shard index is (WEFT_SHARD_INDEX, or an engine's "
                              "own such as JOB_COMPLETION_INDEX)");
        return WEFT_EINVAL;
    }
    return 0;
}

/* ---- a growing string, for one line at a time ---- */

typedef struct str {
    char *v;
    size_t len, cap;
    bool oom;
} str;

static void put(str *s, const char *p, size_t n)
{
    if (s->oom)
        return;
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 512;
        while (s->len + n + 1 > cap)
            cap *= 2;
        char *v = realloc(s->v, cap);
        if (!v) {
            s->oom = true;
            return;
        }
        s->v = v;
        s->cap = cap;
    }
    memcpy(s->v + s->len, p, n);
    s->len += n;
    s->v[s->len] = 0;
}

static void putf(str *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(str *s, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof buf) {
        put(s, buf, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        s->oom = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    put(s, big, (size_t)n);
    free(big);
}

static void put_json(str *s, const char *t)
{
    put(s, "\"", 1);
    for (; t && *t; t++) {
        unsigned char c = (unsigned char)*t;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            put(s, e, 2);
        } else if (c == '\n') {
            put(s, "\\n", 2);
        } else if (c < 0x20) {
            putf(s, "\\u%04x", c);
        } else {
            put(s, (const char *)&c, 1);
        }
    }
    put(s, "\"", 1);
}

/* XML 1.0 text: the five entities, and no control characters but tab and
 * newline. */
static void put_xml(str *s, const char *t)
{
    for (; t && *t; t++) {
        unsigned char c = (unsigned char)*t;
        switch (c) {
        case '&': put(s, "&amp;", 5); break;
        case '<': put(s, "&lt;", 4); break;
        case '>': put(s, "&gt;", 4); break;
        case '"': put(s, "&quot;", 6); break;
        case '\'': put(s, "&apos;", 6); break;
        default:
            if (c < 0x20 && c != '\n' && c != '\t')
                put(s, " ", 1);
            else
                put(s, (const char *)&c, 1);
        }
    }
}

/* ---- the results of one exploration ---- */

#define MAX_LISTED 100

typedef struct listed {
    uint64_t seed;
    char *signature;
} listed;

struct weft__results {
    int fd;          /* JSON lines, or -1 */
    char *junit;     /* path, or NULL */
    char name[256];
    char commit[128];
    char config[17];
    char settings[1024];
    weft__shard shard;
    uint64_t seed_start, seeds;
    listed list[MAX_LISTED];
    size_t nlisted;
};

static void write_line(weft__results *r, str *s)
{
    if (r->fd < 0 || s->oom || !s->v)
        return;
    put(s, "\n", 1);
    if (!s->oom)
        weft__write_all(r->fd, s->v, s->len);
}

static void head(weft__results *r, str *s, const char *type)
{
    putf(s, "{\"type\":\"%s\",\"name\":", type);
    put_json(s, r->name);
    putf(s, ",\"shard\":%u,\"shards\":%u,\"config\":\"%s\",\"commit\":", r->shard.index, r->shard.count, r->config);
    put_json(s, r->commit);
}

weft__results *weft__results_open(const char *jsonl, const char *junit, const weft_explore_opts *o,
                                  const weft_config *cfg, const weft__shard *shard)
{
    weft__results *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->fd = -1;
    if (jsonl && *jsonl) {
        r->fd = strcmp(jsonl, "-") ? open(jsonl, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644) : dup(1);
        if (r->fd < 0 && !(cfg->flags & WEFT_CFG_QUIET))
            fprintf(stderr, "weft: cannot write results to %s\n", jsonl);
    }
    if (junit && *junit)
        r->junit = strdup(junit);
    snprintf(r->name, sizeof r->name, "%s", o->name ? o->name : "explore");
    static const char *const commits[] = {"WEFT_COMMIT", "GITHUB_SHA", "CI_COMMIT_SHA", "BUILDKITE_COMMIT",
                                          "GIT_COMMIT"};
    snprintf(r->commit, sizeof r->commit, "unknown");
    for (size_t i = 0; i < sizeof commits / sizeof commits[0]; i++) {
        const char *v = getenv(commits[i]);
        if (v && *v) {
            snprintf(r->commit, sizeof r->commit, "%s", v);
            break;
        }
    }
    r->shard = *shard;
    r->seed_start = o->seed_start;
    r->seeds = o->seeds ? o->seeds : 1000;
    /* Everything that shapes the campaign's runs, and not which shard ran
     * them: the shards of one campaign share it, and the merge checks so. */
    char strategy[64];
    if (cfg->sim.strategy == WEFT_STRATEGY_PCT)
        snprintf(strategy, sizeof strategy, "pct:%u:%u", cfg->sim.pct_depth ? cfg->sim.pct_depth : 2,
                 cfg->sim.pct_steps);
    else
        snprintf(strategy, sizeof strategy, "%s",
                 cfg->sim.strategy == WEFT_STRATEGY_EXHAUSTIVE ? "exhaustive" : "random");
    snprintf(r->settings, sizeof r->settings,
             "schedule_version=%d name=%s strategy=%s workers=%u seeds=%" PRIu64 "+%" PRIu64
             " preemption_bound=%u max_schedules=%" PRIu64 " buggify_permille=%u fail_alloc_nth=%" PRIu64
             " fail_alloc_permille=%u step_cost_ns=%" PRIu64 " step_budget=%" PRIu64 " keep_going=%d",
             WEFT_SCHEDULE_VERSION, r->name, strategy, cfg->workers ? cfg->workers : 1, r->seed_start, r->seeds,
             o->preemption_bound, o->max_schedules, cfg->sim.buggify_permille, cfg->sim.fail_alloc_nth,
             cfg->sim.fail_alloc_permille, cfg->sim.step_cost_ns, cfg->sim.step_budget,
             (o->flags & WEFT_EXPLORE_KEEP_GOING) != 0);
    snprintf(r->config, sizeof r->config, "%016" PRIx64, weft__hash_str(WEFT__HASH_INIT, r->settings));
    return r;
}

void weft__results_failure(weft__results *r, uint64_t seed, bool by_schedule, int status, const char *signature,
                           const char *message, const char *replay)
{
    if (!r)
        return;
    if (r->nlisted < MAX_LISTED) {
        r->list[r->nlisted].seed = seed;
        r->list[r->nlisted].signature = strdup(signature);
        r->nlisted++;
    }
    str s = {0};
    head(r, &s, "failure");
    if (by_schedule)
        put(&s, ",\"seed\":null", 12);
    else
        putf(&s, ",\"seed\":%" PRIu64, seed);
    putf(&s, ",\"status\":%d,\"error\":", status);
    put_json(&s, weft_strerror(status));
    put(&s, ",\"signature\":", 13);
    put_json(&s, signature);
    put(&s, ",\"message\":", 11);
    put_json(&s, message);
    put(&s, ",\"replay\":", 10);
    put_json(&s, replay);
    put(&s, "}", 1);
    write_line(r, &s);
    free(s.v);
}

void weft__results_shrunk(weft__results *r, uint64_t seed, const char *signature, size_t from, size_t to,
                          const char *replay)
{
    if (!r)
        return;
    str s = {0};
    head(r, &s, "shrunk");
    putf(&s, ",\"seed\":%" PRIu64 ",\"signature\":", seed);
    put_json(&s, signature);
    putf(&s, ",\"decisions_before\":%zu,\"decisions\":%zu,\"replay\":", from, to);
    put_json(&s, replay);
    put(&s, "}", 1);
    write_line(r, &s);
    free(s.v);
}

/* Add this exploration's <testsuite> to the file: created when missing,
 * extended when it holds earlier ones of ours (the tests of one Check binary
 * each write theirs), under a lock. */
static void write_junit(weft__results *r, const weft_explore_result *res, const char *strategy)
{
    str s = {0};
    putf(&s, "  <testsuite name=\"");
    put_xml(&s, r->name);
    putf(&s, "\" tests=\"1\" failures=\"%d\" errors=\"0\" skipped=\"0\" time=\"%.3f\">\n", res->failures ? 1 : 0,
         res->elapsed_s);
    putf(&s, "    <properties>\n");
    putf(&s, "      <property name=\"weft.shard\" value=\"%u/%u\"/>\n", r->shard.index, r->shard.count);
    putf(&s, "      <property name=\"weft.runs\" value=\"%" PRIu64 "\"/>\n", res->runs);
    putf(&s, "      <property name=\"weft.failures\" value=\"%" PRIu64 "\"/>\n", res->failures);
    putf(&s, "      <property name=\"weft.strategy\" value=\"");
    put_xml(&s, strategy);
    putf(&s, "\"/>\n      <property name=\"weft.config\" value=\"%s\"/>\n      <property name=\"weft.commit\" value=\"",
         r->config);
    put_xml(&s, r->commit);
    putf(&s, "\"/>\n    </properties>\n    <testcase classname=\"weft.explore\" name=\"");
    put_xml(&s, r->name);
    putf(&s, "\" time=\"%.3f\"", res->elapsed_s);
    if (!res->failures) {
        putf(&s, "/>\n");
    } else {
        putf(&s, ">\n      <failure type=\"");
        put_xml(&s, weft_strerror(res->status));
        putf(&s, "\" message=\"");
        put_xml(&s, res->signature);
        putf(&s, "\">");
        put_xml(&s, res->message);
        if (r->nlisted > 1) {
            putf(&s, "\n\nfailing runs of this shard (seed: signature):");
            for (size_t i = 0; i < r->nlisted; i++) {
                putf(&s, "\n  %" PRIu64 ": ", r->list[i].seed);
                put_xml(&s, r->list[i].signature);
            }
        }
        putf(&s, "</failure>\n    </testcase>\n");
    }
    putf(&s, "  </testsuite>\n");
    if (s.oom) {
        free(s.v);
        return;
    }
    int fd = open(r->junit, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        free(s.v);
        return;
    }
    flock(fd, LOCK_EX);
    static const char open_tag[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"weft\">\n";
    static const char close_tag[] = "</testsuites>\n";
    struct stat st;
    off_t keep = 0;
    if (fstat(fd, &st) == 0 && st.st_size > (off_t)(sizeof open_tag + sizeof close_tag)) {
        /* Ours, and whole? Then write over its closing tag. */
        char head_buf[sizeof open_tag], tail[sizeof close_tag];
        if (pread(fd, head_buf, sizeof open_tag - 1, 0) == (ssize_t)(sizeof open_tag - 1) &&
            !memcmp(head_buf, open_tag, sizeof open_tag - 1) &&
            pread(fd, tail, sizeof close_tag - 1, st.st_size - (off_t)(sizeof close_tag - 1)) ==
                (ssize_t)(sizeof close_tag - 1) &&
            !memcmp(tail, close_tag, sizeof close_tag - 1))
            keep = st.st_size - (off_t)(sizeof close_tag - 1);
    }
    if (ftruncate(fd, keep) == 0) {
        lseek(fd, keep, SEEK_SET);
        if (!keep)
            weft__write_all(fd, open_tag, sizeof open_tag - 1);
        weft__write_all(fd, s.v, s.len);
        weft__write_all(fd, close_tag, sizeof close_tag - 1);
    }
    flock(fd, LOCK_UN);
    close(fd);
    free(s.v);
}

void weft__results_close(weft__results *r, const weft_explore_result *res, const char *strategy, const char *stopped)
{
    if (!r)
        return;
    str s = {0};
    head(r, &s, "summary");
    put(&s, ",\"strategy\":", 12);
    put_json(&s, strategy);
    put(&s, ",\"settings\":", 12);
    put_json(&s, r->settings);
    putf(&s,
         ",\"seed_start\":%" PRIu64 ",\"seeds\":%" PRIu64 ",\"runs\":%" PRIu64 ",\"failures\":%" PRIu64
         ",\"distinct_failures\":%" PRIu64 ",\"timeouts\":%" PRIu64 ",\"distinct_traces\":%" PRIu64
         ",\"exhausted\":%s,\"stopped\":",
         r->seed_start, r->seeds, res->runs, res->failures, res->distinct_failures, res->timeouts,
         res->distinct_traces, res->exhausted ? "true" : "false");
    put_json(&s, stopped);
    putf(&s, ",\"duration_s\":%.3f}", res->elapsed_s);
    write_line(r, &s);
    free(s.v);
    if (r->junit)
        write_junit(r, res, strategy);
    if (r->fd >= 0)
        close(r->fd);
    for (size_t i = 0; i < r->nlisted; i++)
        free(r->list[i].signature);
    free(r->junit);
    free(r);
}
