/* Version and backend: the macros, the run-time strings and the build agree. */
#include "check.h"

#define WF_STR_(x) #x
#define WF_STR(x) WF_STR_(x)

static void macros_match_the_string(void)
{
    CHECK(strcmp(WEFT_VERSION, WF_STR(WEFT_VERSION_MAJOR) "." WF_STR(WEFT_VERSION_MINOR) "."
                 WF_STR(WEFT_VERSION_PATCH)) == 0);
    /* The build's project version is the one the header was generated from. */
    CHECK(strcmp(WEFT_VERSION, WF_TEST_VERSION) == 0);
    CHECK(WEFT_VERSION_MAJOR >= 0 && WEFT_VERSION_MINOR >= 0 && WEFT_VERSION_PATCH >= 0);
}

static void library_reports_its_version(void)
{
    const char *v = weft_version();
    CHECK(v != NULL);
    CHECK(strcmp(v, WEFT_VERSION) == 0);
    CHECK(weft_version() == v); /* a static string, not a fresh copy */
}

static void library_reports_its_backend(void)
{
    const char *b = weft_backend();
    CHECK(b != NULL);
    CHECK(strcmp(b, "linux") == 0 || strcmp(b, "portable") == 0);
    CHECK(strcmp(b, WF_TEST_BACKEND) == 0);
}

TEST_MAIN(TEST(macros_match_the_string), TEST(library_reports_its_version),
          TEST(library_reports_its_backend))
