/* Where does a program wait? Four workers count events: every step updates one
 * global counter under one lock (the hot one), and one step in 50 also updates the
 * total of one of three shards under that shard's lock. The contention profile,
 * started here in code (weft_profile_start; or WEFT_PROFILE=path in the environment
 * with no code at all), records each wait of a thread that had to sleep in a weft
 * primitive: where it waited, how long, and which release woke it. The report, by
 * total time waited, puts the hot lock's site first (take_hot, on "hot counter"),
 * far ahead of the shards'.
 *
 *     example_hot_lock_profile [path]
 *
 * writes the report to path (default: /tmp/weft-hot-lock-profile-<pid>.txt, removed
 * afterwards) and its collapsed stacks, for flame graph tools, to path.folded, then
 * prints the report's first lines. It is linked with -rdynamic (meson's
 * export_dynamic) so that the report can name this program's functions. Exits
 * non-zero if the hot lock's site does not come first. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "weft.h"

enum { WORKERS = 4, STEPS = 20000, SHARDS = 3, SHARD_EVERY = 50, WORK = 2000 };

static weft_lock hot = WEFT_LOCK_INIT;
static weft_lock shard_lock[SHARDS] = {WEFT_LOCK_INIT, WEFT_LOCK_INIT, WEFT_LOCK_INIT};
static long counter;             /* guarded by hot */
static long shard_total[SHARDS]; /* each guarded by its shard's lock */
static _Thread_local long my_steps;

/* A little work while holding a lock, so that others wait for it. */
static void work(void)
{
    for (volatile int i = 0; i < WORK; i++)
        ;
}

/* Each lock is taken at one site of its own: the profile reports by site. Not
 * inlined, and not static, so that dladdr finds their names. The holder a wait is
 * blamed on is the function that released the lock (here the same one). */
__attribute__((noinline)) void take_hot(void)
{
    weft_lock_acquire(&hot);
    counter++;
    work();
    my_steps++;
    weft_lock_release(&hot);
}

__attribute__((noinline)) void take_shard(int k)
{
    weft_lock_acquire(&shard_lock[k]);
    shard_total[k]++;
    work();
    my_steps++;
    weft_lock_release(&shard_lock[k]);
}

__attribute__((noinline)) void *worker(void *arg)
{
    int id = (int)(long)arg;
    for (int i = 0; i < STEPS; i++) {
        take_hot();
        if (i % SHARD_EVERY == 0)
            take_shard((id + i / SHARD_EVERY) % SHARDS);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    char path[256];
    if (argc > 1)
        snprintf(path, sizeof path, "%s", argv[1]);
    else
        snprintf(path, sizeof path, "/tmp/weft-hot-lock-profile-%ld.txt", (long)getpid());

    char name[32];
    weft_name_set(&hot, "hot counter");
    for (int k = 0; k < SHARDS; k++) {
        snprintf(name, sizeof name, "shard %d", k);
        weft_name_set(&shard_lock[k], name);
    }

    /* Every contended wait (rate 1), only while the workers run. The workers are
     * plain pthreads joined with pthread_join, so that the main thread's wait for
     * them is not itself a weft wait in the profile. */
    weft_profile_start(1);
    pthread_t th[WORKERS];
    for (long i = 0; i < WORKERS; i++)
        if (pthread_create(&th[i], NULL, worker, (void *)i) != 0)
            return 1;
    for (int i = 0; i < WORKERS; i++)
        pthread_join(th[i], NULL);
    weft_profile_stop();

    int r = weft_profile_write(path);
    if (r != 0) {
        fprintf(stderr, "cannot write %s: %s\n", path, strerror(r));
        return 1;
    }
    printf("%d workers, %ld hot steps, %ld shard steps; the profile is in %s (and %s.folded)\n\n",
           WORKERS, counter, shard_total[0] + shard_total[1] + shard_total[2], path, path);

    /* The title, the column heads, then the sites by total wait: the first of
     * them must be the hot lock's. */
    FILE *f = fopen(path, "r");
    if (!f)
        return 1;
    char line[1024];
    int first_is_hot = -1;
    for (int n = 0; n < 12 && fgets(line, sizeof line, f); n++) {
        fputs(line, stdout);
        if (first_is_hot < 0 && n >= 2 && strstr(line, "held by") == NULL)
            first_is_hot = strstr(line, "\"hot counter\"") != NULL;
    }
    fclose(f);
    if (argc <= 1) {
        char folded[sizeof path + 8];
        snprintf(folded, sizeof folded, "%s.folded", path);
        unlink(path);
        unlink(folded);
    }
    weft_name_set(&hot, NULL);
    for (int k = 0; k < SHARDS; k++)
        weft_name_set(&shard_lock[k], NULL);
    if (first_is_hot != 1) {
        fprintf(stderr, "the hot lock's site is not the first in the report\n");
        return 1;
    }
    printf("\nthe hot lock's site comes first\n");
    return counter == (long)WORKERS * STEPS ? 0 : 1;
}
