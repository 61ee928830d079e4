/* scenario.h: what the programs run under ThreadSanitizer by run.sh share: a CHECK
 * that exits (a TSan report must not be confused with a failed check: exit 2), and
 * the driver: `prog --list` prints the scenarios, `prog NAME` runs one. */
#ifndef WEFT_TSAN_SCENARIO_H
#define WEFT_TSAN_SCENARIO_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                   \
    do {                                                                           \
        if (!(c)) {                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
            exit(2);                                                               \
        }                                                                          \
    } while (0)

typedef struct scenario {
    const char *name;
    void (*fn)(void);
} scenario;

static inline int scenario_main(int argc, char **argv, const scenario *s, size_t n)
{
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (size_t i = 0; i < n; i++)
            puts(s[i].name);
        return 0;
    }
    for (size_t i = 0; argc == 2 && i < n; i++)
        if (strcmp(argv[1], s[i].name) == 0) {
            s[i].fn();
            return 0;
        }
    fprintf(stderr, "usage: %s --list | SCENARIO\n", argv[0]);
    return 2;
}

#endif
