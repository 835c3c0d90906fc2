/* selfcheck.c — the determinism check across processes: the first run of an
 * exploration is run again in a fresh process (this program, executed anew
 * with the same arguments) and the two traces are compared event by event.
 *
 * Running a seed twice in one process catches state one run leaves for the
 * next; it cannot catch what is fixed within a process and differs between
 * processes — the process id, addresses under ASLR, rand() seeded from
 * either. The child runs the program up to the same exploration (found by its
 * name and how many explorations of the program came before it), runs that
 * one run, writes its trace to a pipe and stops; every other exploration in
 * the child does nothing. The parent then ends the child's process group.
 */
#define _GNU_SOURCE
#include "explore.h"

#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHILD_VAR "WEFT_SELFCHECK_CHILD"

extern char **environ;

/* Explorations started by this thread so far: what makes a key unique. */
static WEFT_TLS uint64_t explorations;

void weft__selfcheck_key(const char *name, char *buf, size_t len)
{
    snprintf(buf, len, "%s#%" PRIu64, name ? name : "explore", ++explorations);
}

bool weft__selfcheck_child_mode(void)
{
    const char *v = getenv(CHILD_VAR);
    return v && *v;
}

static int emit_trace(int fd, const weft_rt *rt)
{
    const weft__sim *s = weft__sim_of(rt);
    char line[1100];
    int n = snprintf(line, sizeof line, "hash %016" PRIx64 " events %" PRIu64 "\n", s->th.hash, s->th.events);
    weft__write_all(fd, line, (size_t)n);
    weft__cursor c = {.s = s};
    for (const weft__event *e; (e = weft__trace_next(&c)) != NULL;) {
        weft__trace_format(e, c.time, line, sizeof line - 1);
        size_t l = strlen(line);
        line[l++] = '\n';
        weft__write_all(fd, line, l);
    }
    weft__write_all(fd, "end\n", 4);
    return 0;
}

void weft__selfcheck_child_run(const char *key, const weft__run_spec *sp)
{
    const char *v = getenv(CHILD_VAR);
    char *colon = v ? strchr(v, ':') : NULL;
    if (!colon || strcmp(colon + 1, key))
        return;
    int fd = atoi(v);
    weft_rt *rt = NULL;
    weft__run_spec run = *sp;
    run.record_trace = true;
    run.keep_rt = &rt;
    weft__outcome o;
    if (weft__run_once(&run, &o) == 0 && rt)
        emit_trace(fd, rt);
    else
        weft__write_all(fd, "error\n", 6);
    _exit(0); /* the rest of the program is not this check's business */
}

/* argv of this process, from /proc/self/cmdline (NUL-separated). */
static char **own_argv(char **blob)
{
    FILE *f = fopen("/proc/self/cmdline", "r");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    while (b) {
        n += fread(b + n, 1, cap - n, f);
        if (n < cap)
            break;
        char *bigger = realloc(b, cap * 2);
        if (!bigger) {
            free(b);
            b = NULL;
            break;
        }
        b = bigger;
        cap *= 2;
    }
    fclose(f);
    if (!b || n == 0) {
        free(b);
        return NULL;
    }
    size_t argc = 0;
    for (size_t i = 0; i < n; i++)
        argc += b[i] == 0;
    char **argv = calloc(argc + 2, sizeof *argv);
    if (!argv) {
        free(b);
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i += strlen(b + i) + 1)
        argv[k++] = b + i;
    *blob = b;
    return argv;
}

/* Everything the child wrote, up to its "end" line or EOF. */
static char *read_child(int fd, size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    if (!b)
        return NULL;
    for (;;) {
        if (n + 1 == cap) {
            char *bigger = realloc(b, cap * 2);
            if (!bigger)
                break;
            b = bigger;
            cap *= 2;
        }
        ssize_t r = read(fd, b + n, cap - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        b[n] = 0;
        if (n >= 4 && !memcmp(b + n - 4, "end\n", 4) && (n == 4 || b[n - 5] == '\n'))
            break;
        if (n == 6 && !memcmp(b, "error\n", 6))
            break;
    }
    b[n] = 0;
    *len = n;
    return b;
}

int weft__selfcheck_process(const char *key, const weft_rt *rt, char *msg, size_t msglen)
{
    char *blob = NULL;
    char **argv = own_argv(&blob);
    if (!argv) {
        snprintf(msg, msglen, "cannot read this program's arguments (/proc/self/cmdline)");
        return WEFT_EIO;
    }
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) {
        free(argv);
        free(blob);
        snprintf(msg, msglen, "cannot make a pipe");
        return WEFT_EIO;
    }
    /* The child's environment, made before the fork: between fork and exec
     * only async-signal-safe calls (this process may have other threads). */
    char var[600];
    snprintf(var, sizeof var, CHILD_VAR "=%d:%s", fds[1], key);
    size_t n = 0;
    while (environ && environ[n])
        n++;
    char **envp = calloc(n + 2, sizeof *envp);
    if (!envp) {
        close(fds[0]);
        close(fds[1]);
        free(argv);
        free(blob);
        snprintf(msg, msglen, "out of memory");
        return WEFT_ENOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], CHILD_VAR "=", sizeof CHILD_VAR))
            envp[k++] = environ[i];
    envp[k] = var;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        close(fds[0]);
        fcntl(fds[1], F_SETFD, 0); /* the write end crosses exec */
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) { /* the child's own output is not the parent's */
            dup2(devnull, 1);
            dup2(devnull, 2);
        }
        execve("/proc/self/exe", argv, envp);
        _exit(127);
    }
    close(fds[1]);
    free(envp);
    free(argv);
    free(blob);
    if (pid < 0) {
        close(fds[0]);
        snprintf(msg, msglen, "cannot fork");
        return WEFT_EIO;
    }
    setpgid(pid, pid); /* also here: whichever runs first */
    size_t len = 0;
    char *got = read_child(fds[0], &len);
    close(fds[0]);
    kill(-pid, SIGKILL);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (!got) {
        snprintf(msg, msglen, "out of memory");
        return WEFT_ENOMEM;
    }
    if (len < 4 || memcmp(got + len - 4, "end\n", 4)) {
        snprintf(msg, msglen,
                 "the program, run again, never reached exploration %s (it must run the same explorations in the "
                 "same order from the same arguments)",
                 key);
        free(got);
        return WEFT_EINVAL;
    }
    /* Compare line by line: the header (hash, events), then each event. */
    const weft__sim *s = weft__sim_of(rt);
    char mine[1100];
    snprintf(mine, sizeof mine, "hash %016" PRIx64 " events %" PRIu64, s->th.hash, s->th.events);
    char *line = got, *nl = strchr(line, '\n');
    *nl = 0;
    if (!strcmp(line, mine)) {
        free(got);
        return 0;
    }
    weft__cursor c = {.s = s};
    int64_t at = 0;
    for (line = nl + 1;; at++) {
        nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        bool child_end = !nl || !strcmp(line, "end");
        const weft__event *e = weft__trace_next(&c);
        if (e)
            weft__trace_format(e, c.time, mine, sizeof mine);
        if (!e && child_end) {
            snprintf(msg, msglen, "in their hashes only (the events recorded are the same)");
            break;
        }
        if (!e || child_end || strcmp(mine, line)) {
            snprintf(msg, msglen, "at event %" PRId64 ":\n  this process:  %s\n  fresh process: %s", at,
                     e ? mine : "(end of trace)", child_end ? "(end of trace)" : line);
            break;
        }
        line = nl + 1;
    }
    free(got);
    return WEFT_EFAILED;
}
