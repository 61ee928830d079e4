/* check.h: the tests' tiny harness. CHECK fails the test (with file:line and the
 * expression) and exits non-zero; TEST_MAIN runs each listed test and prints one
 * line per test. Stress sizes scale down under sanitizers via wf_test_scale(). */
#ifndef WEFT_TEST_CHECK_H
#define WEFT_TEST_CHECK_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "weft.h"

#define CHECK(cond)                                                                \
    do {                                                                           \
        if (!(cond)) {                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                               \
        }                                                                          \
    } while (0)

#define CHECK_EQ(a, b)                                                             \
    do {                                                                           \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);            \
        if (check_a_ != check_b_) {                                                \
            fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %s (%lld != %lld)\n",   \
                    __FILE__, __LINE__, #a, #b, check_a_, check_b_);               \
            abort();                                                               \
        }                                                                          \
    } while (0)

/* Divides stress iteration counts: WEFT_TEST_SCALE (default 1; the sanitizer
 * runs set it) keeps the whole suite inside its time budget. */
static inline long wf_test_scale(long n)
{
    const char *s = getenv("WEFT_TEST_SCALE");
    long div = s ? atol(s) : 1;
    if (div < 1)
        div = 1;
    return n / div > 0 ? n / div : 1;
}

/* The text written to f so far (from its start to its position), as a malloc'd
 * NUL-terminated string; f stays open. */
static inline char *wf_test_read_back(FILE *f)
{
    long n = ftell(f);
    CHECK(n >= 0);
    char *text = malloc((size_t)n + 1);
    CHECK(text != NULL);
    rewind(f);
    CHECK(fread(text, 1, (size_t)n, f) == (size_t)n);
    text[n] = '\0';
    return text;
}

/* Whether task `tid` of this process sleeps in the kernel (state S: a futex or
 * condition-variable wait, whichever backend). A white-box premise for tests that
 * must act only once a thread sleeps inside a call. */
static inline bool wf_test_task_sleeps(pid_t tid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the name may hold spaces and parentheses */
    return p && p[1] == ' ' && p[2] == 'S';
}

/* Starts n threads running fn(arg_i) and joins them all. */
static inline void wf_test_run_threads(int n, void *(*fn)(void *), void *args, size_t arg_size)
{
    pthread_t th[64];
    CHECK(n <= 64);
    for (int i = 0; i < n; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, fn, (char *)args + (size_t)i * arg_size), 0);
    for (int i = 0; i < n; i++)
        CHECK_EQ(pthread_join(th[i], NULL), 0);
}

/* Polls `cond` (a C expression) every millisecond until true, failing after
 * `limit_ns` (EVENTUALLY: 10 s): for sequencing the test's threads, never for
 * timing. */
#define EVENTUALLY_WITHIN(cond, limit_ns)                                          \
    do {                                                                           \
        int64_t eventually_end_ = weft_now_ns() + (limit_ns);                      \
        while (!(cond)) {                                                          \
            CHECK(weft_now_ns() < eventually_end_);                                \
            usleep(1000);                                                          \
        }                                                                          \
    } while (0)
#define EVENTUALLY(cond) EVENTUALLY_WITHIN(cond, WEFT_SEC(10))

typedef struct {
    const char *name;
    void (*fn)(void);
} wf_test_case;

#define TEST(name) {#name, name}

static inline int wf_test_main(const wf_test_case *cases, size_t n, int argc, char **argv)
{
    for (size_t i = 0; i < n; i++) {
        if (argc > 1 && strstr(cases[i].name, argv[1]) == NULL)
            continue;
        int64_t t0 = weft_now_ns();
        cases[i].fn();
        printf("ok %s (%.1f ms)\n", cases[i].name, (double)(weft_now_ns() - t0) / 1e6);
        fflush(stdout);
    }
    return 0;
}

#define TEST_MAIN(...)                                                              \
    int main(int argc, char **argv)                                                 \
    {                                                                               \
        static const wf_test_case cases_[] = {__VA_ARGS__};                         \
        return wf_test_main(cases_, sizeof cases_ / sizeof cases_[0], argc, argv);  \
    }

#endif
