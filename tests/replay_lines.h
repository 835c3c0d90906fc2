/* replay_lines.h — what the workflow suites do with a printed replay line:
 * find it in a message and put its variables into the environment exactly
 * as a user pasting it in front of a command would (and take them out
 * again). Shared by test_replay.c, test_explore.c and test_shrink.c. */
#ifndef WEFT_TEST_REPLAY_LINES_H
#define WEFT_TEST_REPLAY_LINES_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The variables of the first line of msg that contains `after` (e.g.
 * "weft: reproduce with ", or "shrunk from"), from the first "WEFT_" after
 * it to the end of the line. Fails the test when there is none. */
static inline void line_vars(const char *msg, const char *after, char *out, size_t len)
{
    const char *p = strstr(msg, after);
    ck_assert_msg(p != NULL, "no \"%s\" in: %s", after, msg);
    p = strstr(p, "WEFT_");
    ck_assert_msg(p != NULL, "no variables after \"%s\" in: %s", after, msg);
    size_t n = strcspn(p, "\n");
    ck_assert_msg(n < len, "replay line too long: %.*s", (int)n, p);
    memcpy(out, p, n);
    out[n] = 0;
}

/* setenv (set != 0) or unsetenv every NAME=value of a line. */
static inline void line_env(const char *vars, int set)
{
    char buf[8192];
    snprintf(buf, sizeof buf, "%s", vars);
    for (char *save = NULL, *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(tok, '=');
        ck_assert_msg(eq != NULL, "not NAME=value: %s", tok);
        *eq = 0;
        if (set)
            setenv(tok, eq + 1, 1);
        else
            unsetenv(tok);
    }
}

/* The value of NAME in a line of variables, or NULL. */
static inline const char *line_value(const char *vars, const char *name, char *out, size_t len)
{
    char key[64];
    snprintf(key, sizeof key, "%s=", name);
    const char *p = strstr(vars, key);
    if (!p || (p != vars && p[-1] != ' '))
        return NULL;
    p += strlen(key);
    size_t n = strcspn(p, " ");
    snprintf(out, len, "%.*s", (int)n, p);
    return out;
}

#endif
