/* A phased computation with a barrier (Python's threading.Barrier): four
 * threads evolve a ring of cells by an elementary cellular automaton (rule 110),
 * each computing its own slice of the next generation from the current one. A
 * barrier separates the generations; its action, run once per cycle by the last
 * thread to arrive and before any is released, swaps the two buffers. The result
 * after 2000 generations must equal a single-threaded run exactly. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "weft.h"

enum { THREADS = 4, CELLS = 4096, GENERATIONS = 2000, RULE = 110 };

static unsigned char grid[2][CELLS], serial[2][CELLS];
static unsigned char *current = grid[0], *next = grid[1];
static weft_barrier barrier;
static long swaps;

static unsigned char step_cell(const unsigned char *g, int i)
{
    int left = g[(i + CELLS - 1) % CELLS], me = g[i], right = g[(i + 1) % CELLS];
    return (RULE >> (left << 2 | me << 1 | right)) & 1;
}

/* The barrier action: one generation is complete in `next`. */
static int swap_buffers(void *arg)
{
    (void)arg;
    unsigned char *t = current;
    current = next;
    next = t;
    swaps++;
    return 0;
}

static void *worker(void *arg)
{
    int me = (int)(intptr_t)arg;
    int from = me * CELLS / THREADS, to = (me + 1) * CELLS / THREADS;
    for (int gen = 0; gen < GENERATIONS; gen++) {
        for (int i = from; i < to; i++)
            next[i] = step_cell(current, i);
        /* Everyone's slice is written before the swap; the swap before anyone
         * reads the new generation. */
        if (weft_barrier_wait(&barrier, WEFT_FOREVER, NULL) != 0)
            return (void *)1;
    }
    return NULL;
}

int main(void)
{
    grid[0][CELLS / 2] = serial[0][CELLS / 2] = 1;
    weft_barrier_init(&barrier, THREADS, swap_buffers, NULL, WEFT_FOREVER);
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i);
    int failed = 0;
    for (int i = 0; i < THREADS; i++) {
        void *r;
        pthread_join(th[i], &r);
        failed |= r != NULL;
    }

    unsigned char *s = serial[0], *t = serial[1];
    for (int gen = 0; gen < GENERATIONS; gen++) {
        for (int i = 0; i < CELLS; i++)
            t[i] = step_cell(s, i);
        unsigned char *x = s;
        s = t;
        t = x;
    }
    int alive = 0;
    for (int i = 0; i < CELLS; i++)
        alive += current[i];
    bool same = memcmp(current, s, CELLS) == 0;
    printf("%d generations of rule %d on %d cells by %d threads: %d alive, %ld swaps, %s\n",
           GENERATIONS, RULE, CELLS, THREADS, alive, swaps,
           same ? "same as the serial run" : "DIFFERENT from the serial run");
    return !failed && same && swaps == GENERATIONS ? 0 : 1;
}
