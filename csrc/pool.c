/*
 * pool.c -- the thread pool behind ann__parallel_for (internal.h), and the thread-count
 * setting ann_set_num_threads / ann_get_num_threads (ann.h). OS calls go through platform.h.
 *
 * A job is task(ctx, c) for c = 0 .. n_chunks-1. The pool's workers are started lazily, the
 * first time a job wants them, and sleep on a condition variable between jobs. The caller
 * and the workers take chunks from a shared counter until none is left, so a thread that
 * wakes late or shares its core with another process simply takes fewer. Each chunk owns its
 * outputs (the caller's contract), so results never depend on which thread ran which chunk,
 * or on how many threads there were.
 *
 * Locks: g_pool_use admits one job at a time; a concurrent second caller runs its whole job
 * alone (same results). g_pool_lock guards the pool's state; workers wait on g_pool_wake for
 * a new job generation, the caller waits on g_pool_done for the last chunk to finish.
 *
 * Waiting: a training step posts a dozen jobs a few microseconds apart (its products and
 * passes), and waking a thread that sleeps on a condition variable takes the operating system
 * 10-50 us, longer than many of those jobs. So a thread that has to wait first spins for a
 * short while (SPIN_PAUSES, tens of microseconds) on an atomic counter, outside the lock, and
 * only then sleeps: a worker between the jobs of one step, and the caller waiting for the
 * last chunk of a job. Between steps, and when the core is wanted elsewhere, they sleep.
 *
 * Threads: 1..ANN__MAX_THREADS (the caller counts as one). Default: $ANN_NUM_THREADS when it
 * is a positive integer, else one per online CPU.
 *
 * Floating point: every worker runs with denormals flushed to zero (platform.h), as the caller
 * does inside every entry point that computes, so a chunk gives the same bits on any thread.
 */
#include "ann.h"
#include "internal.h"
#include "platform.h"

#include <stdlib.h>

static int min_int(int a, int b) { return a < b ? a : b; }
static int clamp_threads(long n) { return n < 1 ? 1 : n > ANN__MAX_THREADS ? ANN__MAX_THREADS : (int)n; }

/* ---- the thread-count setting ------------------------------------------------------------ */

static ann__once g_init_once = ANN__ONCE_INIT;
static int g_num_threads = 1; /* what ann_set_num_threads last set; atomic (platform.h) */
static int g_num_cores = 1;   /* online CPUs at start-up */

static void pool_atfork_prepare(void);
static void pool_atfork_parent(void);
static void pool_atfork_child(void);

static void pool_init(void)
{
    g_num_cores = clamp_threads(ann__cpu_count());
    int threads = g_num_cores;
    const char *env = getenv("ANN_NUM_THREADS");
    if (env && *env) {
        char *end = NULL;
        long v = strtol(env, &end, 10);
        if (*end == '\0' && v >= 1) threads = clamp_threads(v); /* else: ignore a bad value */
    }
    ann__atomic_store(&g_num_threads, threads);
    (void)ann__atfork(pool_atfork_prepare, pool_atfork_parent, pool_atfork_child);
}

static void ensure_init(void) { ann__call_once(&g_init_once, pool_init); }

int ann_set_num_threads(int n)
{
    ensure_init();
    const int threads = n <= 0 ? g_num_cores : clamp_threads(n);
    ann__atomic_store(&g_num_threads, threads);
    return threads;
}

int ann_get_num_threads(void)
{
    ensure_init();
    return ann__atomic_load(&g_num_threads);
}

/* ---- the pool ------------------------------------------------------------------------------ */

typedef struct {
    void (*task)(void *ctx, int chunk, int worker);
    void *ctx;
    int n_chunks;
    int threads;     /* workers 1..threads-1 take part, with the caller */
    int next_chunk;  /* first chunk nobody has taken yet */
    int chunks_done;
    int finished;    /* 1 once chunks_done == n_chunks; atomic, read by the spinning caller */
} pool_job;

/* How long a waiting thread spins before it sleeps: PAUSE instructions, each 10-50 ns
 * depending on the CPU (ann__cpu_relax, platform.h), so 20-100 us in all. Long enough to
 * span the gap between two jobs of one training step, short enough to cost little CPU time
 * when no job follows. */
#define SPIN_PAUSES 2000

typedef struct {
    ann__thread thread;
    int index;          /* 1..: takes part in jobs with more than index threads */
    unsigned long seen; /* last job generation it has looked at */
} pool_worker;

static ann__mutex g_pool_use = ANN__MUTEX_INIT;
static ann__mutex g_pool_lock = ANN__MUTEX_INIT; /* guards everything below */
static ann__cond g_pool_wake = ANN__COND_INIT;
static ann__cond g_pool_done = ANN__COND_INIT;
static pool_worker g_workers[ANN__MAX_THREADS]; /* [1..g_n_workers] are running */
static int g_n_workers;
static unsigned long g_generation;
static int g_quit, g_closed;
static pool_job *g_job; /* the running job, NULL between jobs */
static int g_posted;    /* bumped with every new job and at quit; atomic, read by spinning workers */
static int g_split_jobs; /* jobs run on more than one thread so far; atomic (ann__pool_split_jobs) */

int ann__pool_split_jobs(void) { return ann__atomic_load(&g_split_jobs); }

/* Take and run chunks of g_job until none is left, as `worker` (0: the caller). Called and
 * returns with g_pool_lock held. */
static void take_chunks(int worker)
{
    pool_job *job = g_job;
    while (job && job->next_chunk < job->n_chunks) {
        const int c = job->next_chunk++;
        ann__mutex_unlock(&g_pool_lock);
        job->task(job->ctx, c, worker);
        ann__mutex_lock(&g_pool_lock);
        if (++job->chunks_done == job->n_chunks) {
            ann__atomic_store(&job->finished, 1);
            ann__cond_signal(&g_pool_done);
        }
    }
}

/* Spin until *counter differs from `seen` (or SPIN_PAUSES have passed); called without locks. */
static void spin_while_equal(const int *counter, int seen)
{
    for (int i = 0; i < SPIN_PAUSES && ann__atomic_load(counter) == seen; i++) ann__cpu_relax();
}

static void worker_main(void *arg)
{
    pool_worker *w = arg;
    /* A worker computes only for the core, so it flushes denormals for its whole life (the
     * caller's thread does so around each entry point instead): platform.h. */
    (void)ann__flush_denormals();
    ann__mutex_lock(&g_pool_lock);
    for (;;) {
        if (!g_quit && g_generation == w->seen) {
            /* nothing new yet: spin a while before sleeping (see Waiting, above) */
            const int posted = ann__atomic_load(&g_posted);
            ann__mutex_unlock(&g_pool_lock);
            spin_while_equal(&g_posted, posted);
            ann__mutex_lock(&g_pool_lock);
        }
        while (!g_quit && g_generation == w->seen) ann__cond_wait(&g_pool_wake, &g_pool_lock);
        if (g_quit) break;
        w->seen = g_generation;
        if (g_job && w->index < g_job->threads) take_chunks(w->index);
    }
    ann__mutex_unlock(&g_pool_lock);
}

/* Start workers up to index want - 1 (caller holds g_pool_use). Returns the threads available
 * counting the caller; fewer than asked if a thread cannot be started. */
static int pool_grow(int want)
{
    while (g_n_workers + 1 < want) {
        pool_worker *w = &g_workers[g_n_workers + 1];
        w->index = g_n_workers + 1;
        ann__mutex_lock(&g_pool_lock);
        w->seen = g_generation; /* so it waits for the next job, not one already done */
        ann__mutex_unlock(&g_pool_lock);
        if (ann__thread_start(&w->thread, worker_main, w) != 0) break;
        g_n_workers++;
    }
    return g_n_workers + 1;
}

void ann__parallel_for(int n_chunks, void (*task)(void *ctx, int chunk, int worker), void *ctx)
{
    ensure_init();
    int threads = min_int(ann__atomic_load(&g_num_threads), n_chunks);
    if (threads > 1 && ann__mutex_trylock(&g_pool_use)) {
        threads = g_closed ? 1 : min_int(threads, pool_grow(threads));
        if (threads > 1) {
            pool_job job = {task, ctx, n_chunks, threads, 0, 0, 0};
            ann__mutex_lock(&g_pool_lock);
            g_job = &job;
            g_generation++;
            ann__atomic_store(&g_posted, ann__atomic_load(&g_posted) + 1);
            ann__atomic_store(&g_split_jobs, ann__atomic_load(&g_split_jobs) + 1);
            ann__cond_broadcast(&g_pool_wake);
            take_chunks(0);
            if (job.chunks_done < job.n_chunks) {
                /* the workers' last chunks are still running: spin, then sleep */
                ann__mutex_unlock(&g_pool_lock);
                spin_while_equal(&job.finished, 0);
                ann__mutex_lock(&g_pool_lock);
            }
            while (job.chunks_done < job.n_chunks) ann__cond_wait(&g_pool_done, &g_pool_lock);
            g_job = NULL;
            ann__mutex_unlock(&g_pool_lock);
            ann__mutex_unlock(&g_pool_use);
            return;
        }
        ann__mutex_unlock(&g_pool_use);
    }
    for (int c = 0; c < n_chunks; c++) task(ctx, c, 0);
}

/* ---- elementwise passes ------------------------------------------------------------------ */

/* Ranges per thread, at most: a few, so that the load evens out when a core is busy. */
#define RANGES_PER_THREAD 4

typedef struct {
    void (*fn)(void *ctx, int64_t begin, int64_t end);
    void *ctx;
    int64_t n;
    int ranges;
} range_job;

/* Where range r of the job starts: r n / ranges, rounded down to a multiple of 16. */
static int64_t range_start(const range_job *job, int r)
{
    if (r >= job->ranges) return job->n;
    const int64_t at = (int64_t)((double)job->n * r / job->ranges);
    return at - at % 16;
}

static void range_task(void *ctx, int r, int worker)
{
    (void)worker;
    const range_job *job = ctx;
    const int64_t begin = range_start(job, r), end = range_start(job, r + 1);
    if (begin < end) job->fn(job->ctx, begin, end);
}

void ann__parallel_range(int64_t n, double ns_per_item,
                         void (*fn)(void *ctx, int64_t begin, int64_t end), void *ctx)
{
    if (n <= 0) return;
    ensure_init();
    const int threads = ann__atomic_load(&g_num_threads);
    const double by_work = (double)n * ns_per_item / ANN__MIN_CHUNK_NS;
    int ranges = threads * RANGES_PER_THREAD;
    if (by_work < ranges) ranges = (int)by_work;
    if (n / 16 < ranges) ranges = (int)(n / 16);
    if (threads < 2 || ranges < 2) {
        fn(ctx, 0, n);
        return;
    }
    range_job job = {fn, ctx, n, ranges};
    ann__parallel_for(ranges, range_task, &job);
}

/* ---- fork and exit -------------------------------------------------------------------------- */

/* fork() keeps only the calling thread: the child must not wait for workers it lacks.
 * prepare/parent hold the pool's locks across fork so the child gets them in a known state;
 * the child forgets its workers and starts new ones when a job wants them, with the same
 * indices, so they reuse the scratch memory of the workers they replace. */
static void pool_atfork_prepare(void)
{
    ann__mutex_lock(&g_pool_use);
    ann__mutex_lock(&g_pool_lock);
}

static void pool_atfork_parent(void)
{
    ann__mutex_unlock(&g_pool_lock);
    ann__mutex_unlock(&g_pool_use);
}

static void pool_atfork_child(void)
{
    g_n_workers = 0;
    g_job = NULL;
    ann__mutex_reinit(&g_pool_lock);
    ann__mutex_reinit(&g_pool_use);
    ann__cond_reinit(&g_pool_wake);
    ann__cond_reinit(&g_pool_done);
}

/*
 * At exit (or unload) the workers are told to quit, and later callers (daemon threads during
 * exit) run alone. If a job is running in another thread we leave everything alone.
 *
 * POSIX: we also wait for the idle workers to end, so that nothing runs while the process's
 * memory is torn down and thread checkers see every thread joined; exit() would end them anyway.
 * Windows: we never wait. In a DLL this runs in DLL_PROCESS_DETACH under the loader lock; an
 * ending thread needs that lock, so waiting for it would deadlock, and at process exit Windows
 * has already ended every other thread, possibly inside g_pool_lock, so we only try the locks.
 * The process's end reclaims the rest.
 *
 * GCC and clang (mingw-w64 included) run this through the destructor attribute. MSVC has no
 * portable equivalent; there nothing runs, which is what the process's end needs anyway.
 */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((destructor)) static void pool_shutdown(void)
{
    if (!ann__mutex_trylock(&g_pool_use)) return;
#if defined(_WIN32)
    if (!ann__mutex_trylock(&g_pool_lock)) return; /* g_pool_use stays taken: callers run alone */
#else
    ann__mutex_lock(&g_pool_lock);
#endif
    g_quit = 1;
    ann__atomic_store(&g_posted, ann__atomic_load(&g_posted) + 1); /* ends any spin at once */
    ann__cond_broadcast(&g_pool_wake);
    ann__mutex_unlock(&g_pool_lock);
#if !defined(_WIN32)
    for (int i = 1; i <= g_n_workers; i++) ann__thread_join(&g_workers[i].thread);
    g_n_workers = 0;
#endif
    g_closed = 1;
    ann__mutex_unlock(&g_pool_use);
}
#endif
