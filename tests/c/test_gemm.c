/*
 * test_gemm.c -- standalone checks and benchmark for ann_sgemm (csrc/gemm.c, its kernels in
 * csrc/gemm_*.c) against ann_sgemm_naive (csrc/gemm_naive.c), and its threads.
 *
 * Build and run (from the project root): `make c-test`, which compiles this file with every
 * .c file of csrc/ (gcc -std=c11 -O2 -pthread -Icsrc, -lm) into test_gemm, then:
 *   /tmp/test_gemm            correctness: every kernel this CPU has, thread bit-identity,
 *                             error codes, fork safety; ends with "N passed, N failed"
 *   /tmp/test_gemm --small    the same on small sizes only (for valgrind)
 *   /tmp/test_gemm --bench    GFLOP/s of the benchmark shapes, 1 and 2 threads, median
 * On Windows (tools/cross_windows.sh builds it with mingw-w64 and runs it under wine) the same,
 * except the fork check, which does not apply there.
 *
 * The kernel and the default thread count are chosen once per process, at the first call, so
 * each kernel is tested in a fresh child process: this program run again with
 * `--kernel ENV NAME`, which sets ANN_KERNEL=ENV before its first call and reports
 * "kernel NAME P passed, F failed" as its last line. (The other child modes, --kernel-name
 * and --default-threads, are probes for the checks of those choices.)
 * Shapes: C (M, N) = A' (M, K) B' (K, N), as in ann.h.
 */
#define _GNU_SOURCE 1
#include "../../csrc/ann.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(_WIN32)
#include <windows.h>
#include <tlhelp32.h>
#else
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

static int g_pass, g_fail, g_small;
static char g_self[4096];        /* this program's path, to run it again */
static int g_threads_at_start;   /* threads in this process before its first call, or -1 */

#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        if (cond) {                                                                        \
            g_pass++;                                                                      \
        } else {                                                                           \
            g_fail++;                                                                      \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                    \
            printf(__VA_ARGS__);                                                           \
            printf("\n");                                                                  \
        }                                                                                  \
    } while (0)

/* splitmix64, for reproducible test data */
static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static uint64_t next_u64(void)
{
    uint64_t z = (g_rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static float uniform_pm1(void) { return (float)((next_u64() >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f; }

/* A matrix stored (rows, cols) with row stride ld >= cols; the padding columns hold NaN, so a
 * kernel that used them would poison its result. */
static float *make_matrix(int rows, int cols, int ld)
{
    float *m = malloc(sizeof(float) * ((size_t)rows * ld + 1));
    if (!m) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < ld; j++) m[(size_t)i * ld + j] = j < cols ? uniform_pm1() : NAN;
    return m;
}

/* ---- what the tests need from the operating system ----------------------------------------- */

#if defined(_WIN32)
#define popen _popen   /* the C runtime's names (MSVC declares no plain popen in C11 mode) */
#define pclose _pclose

static double now_seconds(void)
{
    LARGE_INTEGER t, f;
    QueryPerformanceCounter(&t);
    QueryPerformanceFrequency(&f);
    return (double)t.QuadPart / (double)f.QuadPart;
}

/* Threads of this process, from a snapshot of the system's threads; -1 when unknown. */
static int threads_in_process(void)
{
    HANDLE snap = CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD, 0);
    if (snap == INVALID_HANDLE_VALUE) return -1;
    THREADENTRY32 te;
    te.dwSize = sizeof te;
    int n = 0;
    for (BOOL ok = Thread32First(snap, &te); ok; ok = Thread32Next(snap, &te))
        n += te.th32OwnerProcessID == GetCurrentProcessId();
    CloseHandle(snap);
    return n > 0 ? n : -1;
}

static long cpu_count(void)
{
    SYSTEM_INFO si;
    GetSystemInfo(&si);
    return (long)si.dwNumberOfProcessors;
}

/* value NULL removes the variable (as an empty value does on Windows) */
static void set_env(const char *name, const char *value) { _putenv_s(name, value ? value : ""); }

static void find_self(const char *argv0)
{
    (void)argv0;
    if (GetModuleFileNameA(NULL, g_self, sizeof g_self) == 0) g_self[0] = '\0';
}
#else
static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Threads of this process, from /proc (Linux); -1 when unknown. */
static int threads_in_process(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    int n = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &n) == 1) break;
    fclose(f);
    return n;
}

static long cpu_count(void) { return sysconf(_SC_NPROCESSORS_ONLN); }

static void set_env(const char *name, const char *value)
{
    if (value) setenv(name, value, 1);
    else unsetenv(name);
}

static void find_self(const char *argv0) { snprintf(g_self, sizeof g_self, "%s", argv0); }
#endif

/*
 * Run this program again as `self args` (a fresh process: it chooses its kernel and default
 * thread count anew), copy its output lines to ours when echo is set, and keep its last line
 * in last (size n). Returns the child's exit code, or -1 when it could not be run or did not
 * exit normally. popen runs the command through the shell (cmd.exe on Windows, whose /c
 * strips one outer pair of quotes, hence the extra pair there).
 */
static int run_self_once(const char *args, int echo, char *last, size_t n)
{
    char command[2 * sizeof g_self + 256];
#if defined(_WIN32)
    snprintf(command, sizeof command, "\"\"%s\" %s%s\"", g_self, args, g_small ? " --small" : "");
#else
    /* A cross-built copy runs under an emulator (tools/cross_arm64.sh sets ANN_TEST_EMULATOR
     * to "qemu-aarch64 -L SYSROOT"); its children must be started the same way. */
    const char *emulator = getenv("ANN_TEST_EMULATOR");
    if (!emulator || strlen(emulator) >= sizeof g_self) emulator = "";
    snprintf(command, sizeof command, "%s%s\"%s\" %s%s", emulator, emulator[0] ? " " : "",
             g_self, args, g_small ? " --small" : "");
#endif
    last[0] = '\0';
    fflush(stdout);
    FILE *child = popen(command, "r");
    if (!child) return -1;
    char line[1024];
    while (fgets(line, sizeof line, child)) {
        if (echo) fputs(line, stdout);
        snprintf(last, n, "%s", line);
        last[strcspn(last, "\r\n")] = '\0';
    }
    const int st = pclose(child);
#if defined(_WIN32)
    return st;
#else
    return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
#endif
}

/* run_self_once, tried once more when cmd.exe could not start the child at all (exit code
 * 9009, "not recognized as an internal or external command"): under wine that happens now
 * and then for a command that ran a moment before, and says nothing about the kernel. */
static int run_self(const char *args, int echo, char *last, size_t n)
{
    int st = run_self_once(args, echo, last, n);
#if defined(_WIN32)
    if (st == 9009) st = run_self_once(args, echo, last, n);
#endif
    return st;
}

/* ---- correctness against the naive kernel ------------------------------------------------ */

/*
 * C = A' B' + beta C by ann_sgemm and by ann_sgemm_naive, from the same start. The start of C
 * is NaN when beta == 0 (it must be overwritten without being read). Extra columns of C's
 * rows (ldc > N) must come back untouched. Tolerance: each sum has K products of size at
 * most max|a| max|b| = 1 and rounds at most ~K times in either kernel, so |fast - naive| <=
 * 1e-5 K covers both; beta C adds one rounding of |beta C|.
 */
static void check_against_naive(int ta, int tb, int M, int N, int K, int pad_a, int pad_b,
                                int pad_c, float beta)
{
    const int a_rows = ta ? K : M, a_cols = ta ? M : K;
    const int b_rows = tb ? N : K, b_cols = tb ? K : N;
    const int lda = a_cols + pad_a, ldb = b_cols + pad_b, ldc = N + pad_c;
    float *A = make_matrix(a_rows, a_cols, lda);
    float *B = make_matrix(b_rows, b_cols, ldb);
    float *C0 = make_matrix(M, N, ldc);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < ldc; j++) {
            float *c = &C0[(size_t)i * ldc + j];
            if (j >= N) *c = 12345.0f;        /* sentinel in C's padding */
            else if (beta == 0.0f) *c = NAN;  /* garbage that must not be read */
        }
    const size_t csize = sizeof(float) * (size_t)M * ldc;
    float *C_fast = malloc(csize), *C_ref = malloc(csize);
    memcpy(C_fast, C0, csize);
    memcpy(C_ref, C0, csize);

    const int s1 = ann_sgemm(ta, tb, M, N, K, A, lda, B, ldb, beta, C_fast, ldc);
    const int s2 = ann_sgemm_naive(ta, tb, M, N, K, A, lda, B, ldb, beta, C_ref, ldc);
    CHECK(s1 == ANN_OK && s2 == ANN_OK, "status %d %d", s1, s2);

    double worst = 0.0;
    int bad_pad = 0, nonfinite = 0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < ldc; j++) {
            const size_t at = (size_t)i * ldc + j;
            if (j >= N) {
                bad_pad += C_fast[at] != 12345.0f;
                continue;
            }
            if (!isfinite(C_fast[at])) nonfinite++;
            const double tol = 1e-5 * K + 1e-6 * fabs(beta * C0[at]);
            const double err = fabs((double)C_fast[at] - C_ref[at]) / tol;
            if (err > worst) worst = err;
        }
    CHECK(nonfinite == 0 && bad_pad == 0 && worst <= 1.0,
          "ta=%d tb=%d M=%d N=%d K=%d lda+%d ldb+%d ldc+%d beta=%g: %d non-finite, %d padding "
          "changed, worst error %.3g of tolerance",
          ta, tb, M, N, K, pad_a, pad_b, pad_c, beta, nonfinite, bad_pad, worst);
    free(A);
    free(B);
    free(C0);
    free(C_fast);
    free(C_ref);
}

static void test_against_naive(void)
{
    /* M, N, K: unit, K = 1, not multiples of any tile (4x8, 6x16, 8x32, 8x12), straddling the
     * small-problem (N <= 2 NR) and packing thresholds (A packed with B read in place: wide
     * and short), the seed network's shapes, and some spanning several K and MC blocks. */
    static const int shapes[][3] = {
        {1, 1, 1},     {1, 1, 5},    {5, 1, 1},     {1, 7, 1},    {3, 5, 1},   {7, 9, 1},
        {17, 33, 65},  {6, 16, 8},   {12, 32, 3},   {13, 31, 2},  {4, 8, 9},   {5, 17, 33},
        {256, 10, 5},  {256, 20, 7}, {20, 7, 256},  {33, 47, 70}, {64, 49, 30}, {40, 100, 257},
        {300, 257, 129}, {145, 70, 513}, {7, 50, 300}, {1, 100, 3},
        {8, 12, 11},   {9, 25, 17},  {16, 24, 4}, /* the NEON tile, and its packing threshold */
    };
    const int n_shapes = (int)(sizeof shapes / sizeof shapes[0]);
    for (int s = 0; s < n_shapes; s++) {
        const int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        if (g_small && (double)M * N * K > 300000.0) continue;
        for (int ta = 0; ta <= 1; ta++)
            for (int tb = 0; tb <= 1; tb++) {
                check_against_naive(ta, tb, M, N, K, 0, 0, 0, 0.0f);
                check_against_naive(ta, tb, M, N, K, 3, 5, 7, 1.0f); /* ld > width */
                check_against_naive(ta, tb, M, N, K, 1, 0, 2, 0.5f);
            }
    }
}

/* ---- bit-identity across thread counts ---------------------------------------------------- */

static void check_threads_identical(int ta, int tb, int M, int N, int K, float beta)
{
    const int a_rows = ta ? K : M, a_cols = ta ? M : K;
    const int b_rows = tb ? N : K, b_cols = tb ? K : N;
    float *A = make_matrix(a_rows, a_cols, a_cols);
    float *B = make_matrix(b_rows, b_cols, b_cols);
    float *C0 = make_matrix(M, N, N);
    const size_t csize = sizeof(float) * (size_t)M * N;
    float *ref = malloc(csize), *C = malloc(csize);
    static const int counts[] = {1, 2, 3, 16};
    for (int t = 0; t < 4; t++) {
        ann_set_num_threads(counts[t]);
        memcpy(C, C0, csize);
        const int s = ann_sgemm(ta, tb, M, N, K, A, a_cols, B, b_cols, beta, C, N);
        CHECK(s == ANN_OK, "status %d", s);
        if (t == 0) memcpy(ref, C, csize);
        else
            CHECK(memcmp(ref, C, csize) == 0,
                  "ta=%d tb=%d M=%d N=%d K=%d beta=%g: %d threads differ from 1 thread", ta, tb,
                  M, N, K, beta, counts[t]);
    }
    free(A);
    free(B);
    free(C0);
    free(ref);
    free(C);
}

static void test_thread_identity(void)
{
    /* Large enough to be split (several MFLOP per thread) in both directions, with ragged
     * edges and more than one KC block. */
    static const int shapes[][3] = {
        {300, 257, 129}, {128, 1030, 300}, {1031, 40, 260}, {517, 300, 600}, {256, 20, 784},
        {784, 20, 256},
    };
    const int n_shapes = (int)(sizeof shapes / sizeof shapes[0]);
    for (int s = 0; s < n_shapes; s++) {
        if (g_small && s > 0) break;
        for (int ta = 0; ta <= 1; ta++)
            for (int tb = 0; tb <= 1; tb++) {
                check_threads_identical(ta, tb, shapes[s][0], shapes[s][1], shapes[s][2], 0.0f);
                if (s == 0) check_threads_identical(ta, tb, shapes[s][0], shapes[s][1],
                                                    shapes[s][2], 0.75f);
            }
    }
    /* The pool really started: with 16 threads asked for, a big product used workers (at
     * least two more threads than the process had before its first call). */
    const int threads = threads_in_process();
    if (threads >= 0 && g_threads_at_start >= 0)
        CHECK(threads >= g_threads_at_start + 2,
              "only %d threads in the process after 16-thread runs (%d at the start)", threads,
              g_threads_at_start);
    ann_set_num_threads(0);
}

/* ---- argument checks --------------------------------------------------------------------- */

typedef int (*sgemm_fn)(int, int, int, int, int, const float *, int, const float *, int, float,
                        float *, int);

static void test_errors_of(sgemm_fn f, const char *name)
{
    float A[64], B[64], C[64];
    for (int i = 0; i < 64; i++) A[i] = B[i] = 1.0f, C[i] = -7.0f;
    /* a valid call for reference: M=4, N=3, K=2 */
    CHECK(f(0, 0, 4, 3, 2, A, 2, B, 3, 0.0f, C, 3) == ANN_OK, "%s: valid call", name);
    for (int i = 0; i < 64; i++) C[i] = -7.0f;
    CHECK(f(0, 0, 4, 3, 2, NULL, 2, B, 3, 0.0f, C, 3) == ANN_E_NULL, "%s: A NULL", name);
    CHECK(f(0, 0, 4, 3, 2, A, 2, NULL, 3, 0.0f, C, 3) == ANN_E_NULL, "%s: B NULL", name);
    CHECK(f(0, 0, 4, 3, 2, A, 2, B, 3, 0.0f, NULL, 3) == ANN_E_NULL, "%s: C NULL", name);
    CHECK(f(0, 0, 0, 3, 2, A, 2, B, 3, 0.0f, C, 3) == ANN_E_SIZE, "%s: M = 0", name);
    CHECK(f(0, 0, 4, 0, 2, A, 2, B, 3, 0.0f, C, 3) == ANN_E_SIZE, "%s: N = 0", name);
    CHECK(f(0, 0, 4, 3, 0, A, 2, B, 3, 0.0f, C, 3) == ANN_E_SIZE, "%s: K = 0", name);
    CHECK(f(0, 0, -4, 3, 2, A, 2, B, 3, 0.0f, C, 3) == ANN_E_SIZE, "%s: M < 0", name);
    CHECK(f(0, 0, 4, -3, 2, A, 2, B, 3, 0.0f, C, 3) == ANN_E_SIZE, "%s: N < 0", name);
    CHECK(f(0, 0, 4, 3, -2, A, 2, B, 3, 0.0f, C, 3) == ANN_E_SIZE, "%s: K < 0", name);
    /* leading dimensions: A (M, K) needs lda >= K, A (K, M) lda >= M; B (K, N) ldb >= N,
     * B (N, K) ldb >= K; C ldc >= N */
    CHECK(f(0, 0, 4, 3, 2, A, 1, B, 3, 0.0f, C, 3) == ANN_E_SIZE, "%s: lda < K", name);
    CHECK(f(1, 0, 4, 3, 2, A, 3, B, 3, 0.0f, C, 3) == ANN_E_SIZE, "%s: trans lda < M", name);
    CHECK(f(1, 0, 4, 3, 2, A, 4, B, 3, 0.0f, C, 3) == ANN_OK, "%s: trans lda = M", name);
    CHECK(f(0, 0, 4, 3, 2, A, 2, B, 2, 0.0f, C, 3) == ANN_E_SIZE, "%s: ldb < N", name);
    CHECK(f(0, 1, 4, 3, 2, A, 2, B, 1, 0.0f, C, 3) == ANN_E_SIZE, "%s: trans ldb < K", name);
    CHECK(f(0, 1, 4, 3, 2, A, 2, B, 2, 0.0f, C, 3) == ANN_OK, "%s: trans ldb = K", name);
    CHECK(f(0, 0, 4, 3, 2, A, 2, B, 3, 0.0f, C, 2) == ANN_E_SIZE, "%s: ldc < N", name);
    CHECK(f(0, 0, 4, 3, 2, A, 2, B, 3, 0.0f, C, -1) == ANN_E_SIZE, "%s: ldc < 0", name);
    /* any non-zero trans flag means "transposed" */
    float C1[12], C2[12];
    CHECK(f(7, -1, 4, 3, 2, A, 4, B, 2, 0.0f, C1, 3) == ANN_OK &&
              f(1, 1, 4, 3, 2, A, 4, B, 2, 0.0f, C2, 3) == ANN_OK &&
              memcmp(C1, C2, sizeof C1) == 0,
          "%s: trans flags 7, -1 act as 1, 1", name);
}

static void test_errors(void)
{
    float A[64], B[64], C[64];
    for (int i = 0; i < 64; i++) A[i] = B[i] = 1.0f, C[i] = -7.0f;
    test_errors_of(ann_sgemm, "ann_sgemm");
    test_errors_of(ann_sgemm_naive, "ann_sgemm_naive");
    /* a rejected call leaves C alone */
    for (int i = 0; i < 64; i++) C[i] = -7.0f;
    (void)ann_sgemm(0, 0, 4, 3, 2, A, 1, B, 3, 0.0f, C, 3);
    int touched = 0;
    for (int i = 0; i < 64; i++) touched += C[i] != -7.0f;
    CHECK(touched == 0, "a rejected call wrote %d elements of C", touched);
}

/* ---- thread-count settings ----------------------------------------------------------------- */

static void test_thread_settings(void)
{
    const long cores = cpu_count();
    CHECK(ann_set_num_threads(3) == 3 && ann_get_num_threads() == 3, "set 3");
    CHECK(ann_set_num_threads(1) == 1 && ann_get_num_threads() == 1, "set 1");
    CHECK(ann_set_num_threads(0) == cores && ann_get_num_threads() == cores,
          "set 0 -> one per core (%ld), got %d", cores, ann_get_num_threads());
    CHECK(ann_set_num_threads(-5) == cores, "set -5 -> one per core");
    CHECK(ann_set_num_threads(100000) == 64, "set 100000 -> capped at 64");
    ann_set_num_threads(0);
}

/* In a fresh child, ANN_NUM_THREADS decides the default before any other call: the child
 * (--default-threads VALUE, "-" for unset) sets it, and reports "threads N". */
static int child_default_threads(const char *env_value)
{
    char args[64], last[256];
    snprintf(args, sizeof args, "--default-threads %s", env_value ? env_value : "-");
    int threads = -1;
    if (run_self(args, 0, last, sizeof last) != 0 || sscanf(last, "threads %d", &threads) != 1)
        return -1;
    return threads;
}

static void test_default_threads(void)
{
    const long cores = cpu_count();
    CHECK(child_default_threads("3") == 3, "ANN_NUM_THREADS=3");
    CHECK(child_default_threads(NULL) == cores, "no ANN_NUM_THREADS -> cores");
    CHECK(child_default_threads("abc") == cores, "ANN_NUM_THREADS=abc ignored");
    CHECK(child_default_threads("0") == cores, "ANN_NUM_THREADS=0 ignored");
    CHECK(child_default_threads("-2") == cores, "ANN_NUM_THREADS=-2 ignored");
}

#if !defined(_WIN32)
/* After the pool has run, a forked child (which has no workers) must still multiply, with
 * threads, and get the parent's bits. The parent's product and operands travel in this. */
typedef struct {
    int M, N, K;
    float *A, *B, *C; /* A (M, K), B (K, N), C (M, N) the parent's product */
    int status;       /* the child's wait status */
} fork_check;

/* Fork; the child multiplies again with the inherited 2 threads and exits 0 if it got the
 * parent's bits and really ran a second thread. alarm() turns a deadlock into a failure. */
static void fork_and_multiply(fork_check *fc)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(20);
        const int M = fc->M, N = fc->N, K = fc->K;
        /* counted before and after rather than expected to be 2: under qemu-user the count
         * includes qemu's own threads */
        const int before = threads_in_process();
        float *C2 = malloc(sizeof(float) * M * N);
        int ok = C2 && ann_sgemm(0, 0, M, N, K, fc->A, K, fc->B, N, 0.0f, C2, N) == ANN_OK &&
                 memcmp(fc->C, C2, sizeof(float) * M * N) == 0 &&
                 (before < 0 || threads_in_process() > before);
        free(fc->A);
        free(fc->B);
        free(fc->C);
        free(C2);
        exit(ok ? 0 : 1); /* exit(), not _exit(): the pool's destructor runs, as it would */
    }
    int st = 0;
    waitpid(pid, &st, 0);
    fc->status = st;
}

static void *fork_and_multiply_thread(void *fc)
{
    fork_and_multiply(fc);
    return NULL;
}

static void *return_arg(void *arg) { return arg; }

/*
 * Whether a child forked from this process, which has threads, can start a thread at all,
 * with no ann code involved. Under qemu-user (7.2, as in Debian 12) it cannot when the fork
 * comes from the main thread: qemu gives a new thread's virtual CPU the index one past the
 * highest live one, in the child that of the forking thread alone, but the child still holds
 * qemu's table of the parent's CPUs keyed by index; the new index is one of the parent's
 * threads', and qemu itself stops on an assertion (plugins/core.c,
 * qemu_plugin_vcpu_init_hook: "assertion failed: (success)"), as a plain C program shows.
 * The child's output is silenced (qemu prints the assertion to stderr and "Bail out! ..." to
 * stdout), since it would read like a failure of ours.
 */
static int forked_child_can_start_threads(void)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(20);
        if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr)) _exit(2);
        pthread_t t;
        const int ok =
            pthread_create(&t, NULL, return_arg, NULL) == 0 && pthread_join(t, NULL) == 0;
        _exit(ok ? 0 : 1); /* _exit: the answer is the exit status, not a leak check's */
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static void test_fork_after_threads(void)
{
#if defined(__SANITIZE_THREAD__)
    /* ThreadSanitizer cannot follow threads started in a child forked from a multithreaded
     * process ("dup thread with used id"), so this check only runs in the other builds. */
    printf("  (fork-after-threads check skipped under ThreadSanitizer)\n");
    return;
#endif
    const int M = 200, N = 300, K = 160;
    fork_check fc = {M, N, K, NULL, NULL, NULL, 0};
    fc.A = make_matrix(M, K, K); /* one after the other: the test data stay reproducible */
    fc.B = make_matrix(K, N, N);
    fc.C = malloc(sizeof(float) * M * N);
    ann_set_num_threads(2);
    CHECK(ann_sgemm(0, 0, M, N, K, fc.A, K, fc.B, N, 0.0f, fc.C, N) == ANN_OK, "parent product");
    if (forked_child_can_start_threads()) {
        fork_and_multiply(&fc); /* from the main thread, the usual case */
        CHECK(WIFEXITED(fc.status) && WEXITSTATUS(fc.status) == 0, "forked child: status 0x%x",
              fc.status);
    } else {
        /* The same check forked from a thread started after the pool's workers: its virtual
         * CPU has the highest index, so under qemu-user the child's new threads get fresh
         * ones. */
        printf("  (a child forked from the main thread cannot start threads here, even without "
               "ann, as under qemu-user: forking from a second thread instead)\n");
        pthread_t t;
        const int rc = pthread_create(&t, NULL, fork_and_multiply_thread, &fc);
        if (rc == 0) pthread_join(t, NULL);
        CHECK(rc == 0 && WIFEXITED(fc.status) && WEXITSTATUS(fc.status) == 0,
              "child forked from a second thread: pthread_create %d, status 0x%x", rc,
              fc.status);
    }
    ann_set_num_threads(0);
    free(fc.A);
    free(fc.B);
    free(fc.C);
}
#else
static void test_fork_after_threads(void)
{
    printf("  (fork-after-threads check: not applicable on Windows, which has no fork)\n");
}
#endif

/* ---- each kernel, in its own process --------------------------------------------------------- */

static void run_correctness(void)
{
    test_errors();
    test_against_naive();
    test_thread_identity();
}

/* The kernels this CPU can run, with the names ann_kernel_name reports for them. */
static int supported_kernels(const char *env[3], const char *names[3])
{
    int n = 0;
    env[n] = "portable", names[n++] = "portable";
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        env[n] = "avx2", names[n++] = "avx2-fma";
    if (__builtin_cpu_supports("avx512f")) env[n] = "avx512", names[n++] = "avx512f";
#elif defined(__aarch64__) && defined(__ARM_NEON)
    env[n] = "neon", names[n++] = "neon"; /* NEON is baseline on aarch64 */
#endif
    return n;
}

/* Child mode --kernel ENV NAME: ANN_KERNEL=ENV must give kernel NAME, which must pass every
 * correctness check. The last line carries the counts to the parent. */
static int child_kernel(const char *env, const char *name)
{
    set_env("ANN_KERNEL", env);
    CHECK(strcmp(ann_kernel_name(), name) == 0, "ANN_KERNEL=%s gave %s", env, ann_kernel_name());
    run_correctness();
    printf("  kernel %-9s %d passed, %d failed\n", name, g_pass, g_fail);
    return g_fail == 0 ? 0 : 1;
}

static void test_each_kernel(void)
{
    const char *env[3], *names[3];
    const int n = supported_kernels(env, names);
    char args[128], last[1024];
    for (int i = 0; i < n; i++) {
        snprintf(args, sizeof args, "--kernel %s %s", env[i], names[i]);
        const int code = run_self(args, 1, last, sizeof last);
        int pass = 0, fail = 0;
        const int got = sscanf(last, " kernel %*s %d passed, %d failed", &pass, &fail) == 2;
        if (got) { /* the child's checks count in our totals */
            g_pass += pass;
            g_fail += fail;
        }
        CHECK(got && code == 0, "kernel %s: child exit code %d, last line \"%s\"", names[i],
              code, last);
    }
    /* A request no kernel of this CPU and build answers is an error, not a quiet fallback:
     * the name says so and every product fails with ANN_E_ARG. Empty means unset. */
#if defined(__aarch64__)
    const char *missing = "avx2"; /* a real kernel name this build does not have */
#else
    const char *missing = "neon";
#endif
    const char *bad[] = {"no-such-kernel", "AVX2", "avx512 ", missing};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(args, sizeof args, "--kernel-name \"%s\"", bad[i]);
        int status = -1;
        const int code = run_self(args, 0, last, sizeof last);
        CHECK(code == 0 && sscanf(last, "kernel invalid ANN_KERNEL status %d", &status) == 1 &&
                  status == ANN_E_ARG,
              "ANN_KERNEL=\"%s\" -> invalid ANN_KERNEL and ANN_E_ARG, got \"%s\"", bad[i], last);
    }
    char name[64] = "";
    int status = -1;
    const int code = run_self("--kernel-name \"\"", 0, last, sizeof last);
    CHECK(code == 0 && sscanf(last, "kernel %63s status %d", name, &status) == 2 &&
              strcmp(name, names[n - 1]) == 0 && status == ANN_OK,
          "ANN_KERNEL=\"\" -> the best kernel, got \"%s\"", last);
}

/* ---- benchmark ---------------------------------------------------------------------------- */

typedef struct {
    const char *what;
    int ta, tb, M, N, K;
} bench_shape;

static double bench_one(const bench_shape *s, int threads)
{
    const int a_rows = s->ta ? s->K : s->M, a_cols = s->ta ? s->M : s->K;
    const int b_rows = s->tb ? s->N : s->K, b_cols = s->tb ? s->K : s->N;
    float *A = make_matrix(a_rows, a_cols, a_cols), *B = make_matrix(b_rows, b_cols, b_cols);
    float *C = make_matrix(s->M, s->N, s->N);
    ann_set_num_threads(threads);
    const double flops = 2.0 * s->M * s->N * (double)s->K;
    int reps = (int)(2e7 / flops);
    if (reps < 1) reps = 1;
    double t[9];
    for (int w = 0; w < 2; w++) ann_sgemm(s->ta, s->tb, s->M, s->N, s->K, A, a_cols, B, b_cols,
                                          0.0f, C, s->N);
    for (int r = 0; r < 9; r++) {
        const double t0 = now_seconds();
        for (int i = 0; i < reps; i++)
            ann_sgemm(s->ta, s->tb, s->M, s->N, s->K, A, a_cols, B, b_cols, 0.0f, C, s->N);
        t[r] = (now_seconds() - t0) / reps;
    }
    for (int i = 1; i < 9; i++)  /* insertion sort for the median */
        for (int j = i; j > 0 && t[j] < t[j - 1]; j--) {
            double x = t[j];
            t[j] = t[j - 1];
            t[j - 1] = x;
        }
    free(A);
    free(B);
    free(C);
    return flops / t[4] / 1e9;
}

#if defined(__x86_64__) && defined(__GNUC__)
/* The arithmetic peak of one core right now: 12 independent 8-wide FMA chains (the shape of
 * the AVX2 kernel's accumulators) with nothing else in the loop. Written in asm so that the
 * compiler cannot merge the chains. Other processes on the machine lower it, so the tables
 * below are best read against it. */
__attribute__((target("avx2,fma"))) static double fma_peak_gflops(void)
{
    __m256 x = _mm256_set1_ps(0.999f), y = _mm256_set1_ps(1e-4f);
    __m256 a0 = x, a1 = y, a2 = x, a3 = y, a4 = x, a5 = y, a6 = x, a7 = y, a8 = x, a9 = y,
           a10 = x, a11 = y;
    const long n = 20000000;
    const double t0 = now_seconds();
    for (long i = 0; i < n; i++) {
        __asm__ volatile("vfmadd231ps %[x], %[y], %[a0]\n\tvfmadd231ps %[x], %[y], %[a1]\n\t"
                         "vfmadd231ps %[x], %[y], %[a2]\n\tvfmadd231ps %[x], %[y], %[a3]\n\t"
                         "vfmadd231ps %[x], %[y], %[a4]\n\tvfmadd231ps %[x], %[y], %[a5]\n\t"
                         "vfmadd231ps %[x], %[y], %[a6]\n\tvfmadd231ps %[x], %[y], %[a7]\n\t"
                         "vfmadd231ps %[x], %[y], %[a8]\n\tvfmadd231ps %[x], %[y], %[a9]\n\t"
                         "vfmadd231ps %[x], %[y], %[a10]\n\tvfmadd231ps %[x], %[y], %[a11]"
                         : [a0] "+x"(a0), [a1] "+x"(a1), [a2] "+x"(a2), [a3] "+x"(a3),
                           [a4] "+x"(a4), [a5] "+x"(a5), [a6] "+x"(a6), [a7] "+x"(a7),
                           [a8] "+x"(a8), [a9] "+x"(a9), [a10] "+x"(a10), [a11] "+x"(a11)
                         : [x] "x"(x), [y] "x"(y));
    }
    return n * 12.0 * 16.0 / (now_seconds() - t0) / 1e9;
}
#endif

static void run_bench(void)
{
    static const bench_shape shapes[] = {
        {"headline", 0, 0, 128, 1024, 1024},
        {"seed fwd L1", 0, 0, 256, 20, 784},  {"seed fwd L2", 0, 0, 256, 7, 20},
        {"seed fwd L4", 0, 0, 256, 10, 5},    {"seed dW L1", 1, 0, 784, 20, 256},
        {"seed dW L2", 1, 0, 20, 7, 256},     {"seed dx L2", 0, 1, 256, 20, 7},
        {"seed dx L4", 0, 1, 256, 5, 10},
        {"wide fwd L1", 0, 0, 128, 1024, 784}, {"wide fwd L2", 0, 0, 128, 1024, 1024},
        {"wide fwd L3", 0, 0, 128, 10, 1024},  {"wide dW L1", 1, 0, 784, 1024, 128},
        {"wide dW L2", 1, 0, 1024, 1024, 128}, {"wide dW L3", 1, 0, 1024, 10, 128},
        {"wide dx L2", 0, 1, 128, 1024, 1024}, {"wide dx L3", 0, 1, 128, 1024, 10},
    };
    printf("kernel %s; GFLOP/s, median of 9 timings\n", ann_kernel_name());
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        double best = 0.0;
        for (int i = 0; i < 3; i++) {
            const double g = fma_peak_gflops();
            if (g > best) best = g;
        }
        printf("one core's AVX2 FMA peak just now: %.1f GFLOP/s\n", best);
    }
#endif
    printf("%-12s %-3s %5s %5s %5s %9s %9s\n", "shape", "op", "M", "N", "K", "1 thread",
           "2 threads");
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const bench_shape *s = &shapes[i];
        const double g1 = bench_one(s, 1), g2 = bench_one(s, 2);
        printf("%-12s %c%c  %5d %5d %5d %9.1f %9.1f\n", s->what, s->ta ? 'T' : 'N',
               s->tb ? 'T' : 'N', s->M, s->N, s->K, g1, g2);
        fflush(stdout);
    }
    ann_set_num_threads(0);
}

int main(int argc, char **argv)
{
    find_self(argv[0]);
    g_threads_at_start = threads_in_process();
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--small") == 0) g_small = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--bench") == 0) {
            run_bench();
            return 0;
        }
        /* the child modes (see the top) */
        if (strcmp(argv[i], "--kernel") == 0 && i + 2 < argc)
            return child_kernel(argv[i + 1], argv[i + 2]);
        if (strcmp(argv[i], "--kernel-name") == 0 && i + 1 < argc) {
            set_env("ANN_KERNEL", argv[i + 1]);
            const float one = 1.0f;
            float c = 0.0f;
            const int status = ann_sgemm(0, 0, 1, 1, 1, &one, 1, &one, 1, 0.0f, &c, 1);
            printf("kernel %s status %d\n", ann_kernel_name(), status);
            return 0;
        }
        if (strcmp(argv[i], "--default-threads") == 0 && i + 1 < argc) {
            set_env("ANN_NUM_THREADS", strcmp(argv[i + 1], "-") == 0 ? NULL : argv[i + 1]);
            printf("threads %d\n", ann_get_num_threads());
            return 0;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* process-wide checks first, while this process has made no call (defaults, kernels) */
    test_default_threads();
    test_each_kernel();
    test_thread_settings();
    test_fork_after_threads();
    printf("kernel %s (default), threads %d\n", ann_kernel_name(), ann_get_num_threads());
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail == 0 ? 0 : 1;
}
