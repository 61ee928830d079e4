/* The contention profile: a program with one hot lock (waited on many times) and
 * a cold one (waited on once) must get the hot lock's site first in the report,
 * blamed on the holder that released it, and in the collapsed stacks; off, it
 * records nothing. The waits are forced (the main thread holds the lock long
 * enough that the waiter must sleep), so the test is deterministic. Built with
 * -rdynamic so that dladdr names this file's functions. */
#include "check.h"

static weft_lock hot = WEFT_LOCK_INIT, cold = WEFT_LOCK_INIT;
/* Sequencing of the test itself, kept out of weft so that the profile holds only
 * the waits under test (a weft_event wait here would be profiled too). */
static atomic_bool started;

__attribute__((noinline)) void wait_on_hot(void)
{
    CHECK_EQ(weft_lock_acquire(&hot), 0);
    CHECK_EQ(weft_lock_release(&hot), 0);
}

__attribute__((noinline)) void wait_on_cold(void)
{
    CHECK_EQ(weft_lock_acquire(&cold), 0);
    CHECK_EQ(weft_lock_release(&cold), 0);
}

__attribute__((noinline)) void release_hot(void)
{
    CHECK_EQ(weft_lock_release(&hot), 0);
}

/* A holder whose last statement is the release: an optimising compiler would make
 * the slow path a tail call, and the blame would name this function's caller. */
__attribute__((noinline)) void tail_release_hot(void)
{
    (void)weft_lock_release(&hot);
}

static void (*hot_release)(void) = release_hot;

static void *waiter(void *arg)
{
    atomic_store_explicit(&started, true, memory_order_release);
    if (arg)
        wait_on_hot();
    else
        wait_on_cold();
    return NULL;
}

/* One forced contended wait on `l`: it is held while a thread tries to take it,
 * long enough for that thread to spin out and sleep; then released. */
static void contend(weft_lock *l, bool on_hot)
{
    CHECK_EQ(weft_lock_acquire(l), 0);
    atomic_store_explicit(&started, false, memory_order_relaxed);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, waiter, on_hot ? (void *)1 : NULL), 0);
    EVENTUALLY(atomic_load_explicit(&started, memory_order_acquire));
    /* Sequencing only: the waiter has asked for the lock and gone to sleep once
     * PARKED shows in the word. */
    EVENTUALLY((atomic_load_explicit(&l->word, memory_order_relaxed) & WEFT_LOCK_PARKED) != 0);
    usleep(2000);
    if (on_hot)
        hot_release();
    else
        CHECK_EQ(weft_lock_release(l), 0);
    CHECK_EQ(pthread_join(th, NULL), 0);
}

static char *report_text(bool folded)
{
    FILE *f = tmpfile();
    CHECK(f != NULL);
    CHECK_EQ(folded ? weft_profile_write_file(NULL, f) : weft_profile_write_file(f, NULL), 0);
    char *text = wf_test_read_back(f);
    fclose(f);
    return text;
}

static void test_off_records_nothing(void)
{
    contend(&hot, true);
    char *text = report_text(false);
    CHECK(strstr(text, " 0 sampled waits") != NULL);
    CHECK(strstr(text, "wait_on_hot") == NULL);
    free(text);
}

static void test_hot_lock_site_first(void)
{
    CHECK_EQ(weft_name_set(&hot, "the hot lock"), 0);
    CHECK_EQ(weft_profile_start(1), 0); /* every wait: the counts are exact */
    contend(&cold, false);
    for (int i = 0; i < 8; i++)
        contend(&hot, true);
    CHECK_EQ(weft_profile_stop(), 0);
    contend(&cold, false); /* stopped: not sampled */
    char *text = report_text(false);
    fputs(text, stdout);
    /* The first site line (after the title and the column heads) is the hot one. */
    const char *line = strchr(text, '\n');
    CHECK(line != NULL);
    line = strchr(line + 1, '\n');
    CHECK(line != NULL);
    const char *end = strchr(line + 1, '\n');
    CHECK(end != NULL);
    char first[1024];
    snprintf(first, sizeof first, "%.*s", (int)(end - line - 1), line + 1);
    CHECK(strstr(first, "wait_on_hot") != NULL);
    CHECK(strstr(first, "\"the hot lock\"") != NULL);
    /* Blamed on the release that woke it. */
    CHECK(strstr(end, "held by release_hot") != NULL);
    CHECK(strstr(text, "wait_on_cold") != NULL);
    free(text);
    char *folded = report_text(true);
    fputs(folded, stdout);
    CHECK(strstr(folded, "wait_on_hot+0x") == folded); /* sorted: the hot site first */
    CHECK(strstr(folded, ";held_by_release_hot+0x") != NULL);
    free(folded);
    weft_name_set(&hot, NULL);
}

/* Not in the checking build: its release is the checker's out-of-line function,
 * which a tail release calls with a jump (weft/profile.h says so). */
static void test_tail_release_blamed_on_its_function(void)
{
#ifndef WEFT_CHECKS
    CHECK_EQ(weft_profile_start(1), 0);
    hot_release = tail_release_hot;
    for (int i = 0; i < 4; i++)
        contend(&hot, true);
    hot_release = release_hot;
    CHECK_EQ(weft_profile_stop(), 0);
    char *text = report_text(false);
    CHECK(strstr(text, "held by tail_release_hot") != NULL);
    free(text);
#endif
}

static void test_write_to_path(void)
{
    char path[] = "/tmp/weft-profile-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    CHECK_EQ(weft_profile_write(path), 0);
    char folded[sizeof path + 8];
    snprintf(folded, sizeof folded, "%s.folded", path);
    CHECK_EQ(access(folded, R_OK), 0);
    CHECK_EQ(unlink(folded), 0);
    CHECK_EQ(unlink(path), 0);
    CHECK_EQ(weft_profile_write(NULL), EINVAL);
}

TEST_MAIN(TEST(test_off_records_nothing), TEST(test_hot_lock_site_first),
          TEST(test_tail_release_blamed_on_its_function), TEST(test_write_to_path))
