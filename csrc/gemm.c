/*
 * gemm.c -- the fast single-precision matrix multiply, ann_sgemm: C = A' B' + beta C, cut into
 * cache blocks, packed, split across threads, with the innermost tile left to a micro-kernel.
 *
 * Reading order: gemm_naive.c (what a GEMM computes: the triple loop, the shapes, the three
 * forms a dense layer uses), then this file (blocking, packing, threads, kernel choice), then
 * gemm_kernel.h (the micro-kernel contract) and one kernel family: gemm_portable.c (4 x 8,
 * plain C), gemm_avx2.c (6 x 16), gemm_avx512.c (8 x 32), gemm_neon.c (8 x 12). docs/gemm.md
 * explains the whole.
 *
 * Shape legend (as in ann.h and gemm_naive.c):
 *   C (M, N), A' (M, K), B' (K, N)   A' is A or A^T (trans_a), B' is B or B^T (trans_b)
 *   MR, NR      the micro-tile: the kernel holds an (MR, NR) block of C in vector registers
 *   MC, KC, NC  the cache blocks of A' (MC, KC) and B' (KC, NC) that the loops below reuse
 *
 * The scheme (Goto's, as in GotoBLAS and BLIS). For each chunk of C a thread works on:
 *
 *   for jc in 0..N step NC:
 *     for pc in 0..K step KC:
 *       pack B'[pc:pc+kc, jc:jc+nc] into NR-wide panels, each (kc, NR), k-major   -> L2/L3
 *       for ic in 0..M step MC:
 *         pack A'[ic:ic+mc, pc:pc+kc] into MR-tall panels, each (kc, MR), k-major -> L2
 *         for jr in 0..nc step NR:          one B panel (kc, NR) stays in L1 ...
 *           for ir in 0..mc step MR:        ... while the A panels stream past it from L2
 *             C[ic+ir.., jc+jr..] (MR, NR) (+)= A panel (MR, kc) . B panel (kc, NR)
 *
 * Why: a k-step of the micro-kernel loads NR floats of B and MR floats of A and does MR * NR
 * multiply-adds, so the kernel is bound by arithmetic, not memory, as long as the panels come
 * from L1/L2. Packing turns every transposition case and stride into one contiguous layout, so
 * one kernel serves A B, A B^T, A^T B and A^T B^T, and the kernel's loads never stride across
 * pages or fight over cache sets (row strides of 1024 floats are 4 KiB apart). The packers
 * read along memory: B (K, N) row by row, transposes 8 x 8 at a time in registers.
 * K is cut into equal blocks of at most KC (see k_block), not KC and a short rest.
 *
 * Small problems (the hot path of the seed network: (256, 784) x (784, 20) and smaller) would
 * spend as long packing as multiplying, so packing is decided per operand: the kernel also
 * reads A' in place through (row, column) strides, and B' in place when it is not transposed,
 * with masked loads at the right edge. See choose_packing().
 *
 * Summation order, the contract that makes results bit-identical for any thread count: every
 * output element is C(i,j) = beta C(i,j) + s_0, then C(i,j) += s_1, += s_2, ..., where s_p is
 * the sum of A'(i,k) B'(k,j) over the p-th K block, accumulated from 0 in increasing k with
 * one fused multiply-add per k (a multiply then an add in the portable kernel). The K blocks
 * depend only on K and the kernel, each element's arithmetic does not depend on which tile
 * variant computes it, and the threads split C only along the MR x NR tile grid anyway.
 * Results differ between kernels, and from ann_sgemm_naive by rounding (FMA, blocked order).
 *
 * Threads: a product cuts C into a few chunks per thread along the tile grid and runs them
 * through ann__parallel_for (pool.c), where the caller and the pool's workers take chunks
 * until none is left, so a late or preempted thread just takes fewer. Small products run on
 * the caller alone (see choose_threads()). OS services come from platform.h.
 *
 * Sizes: M, N, K must be >= 1 (0 is ANN_E_SIZE, as everywhere in ann.h); the thread count is
 * clamped to 1..64. Scratch memory: per thread, up to MC*KC + KC*NC floats (2.1 MiB for AVX2),
 * allocated on first need and kept; nothing is allocated per call after that.
 */
#include "ann.h"
#include "gemm_kernel.h"
#include "internal.h"
#include "platform.h"

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int min_int(int a, int b) { return a < b ? a : b; }
static int max_int(int a, int b) { return a > b ? a : b; }
static int ceil_div(int a, int b) { return a / b + (a % b != 0); } /* a >= 0, b > 0, no overflow */

/* ---- kernel choice, once per process ------------------------------------------------------ */

static ann__once g_init_once = ANN__ONCE_INIT;
static const gemm_kernel *g_kernel = &ann__gemm_portable;
static int g_kernel_status = ANN_OK; /* ANN_E_ARG when $ANN_KERNEL names no kernel we can run */
static int g_initialized;       /* gemm_init made the caller-buffer key; atomic */

/* What ann_kernel_name() says when $ANN_KERNEL asked for a kernel that cannot run. */
#define BAD_REQUEST_NAME "invalid ANN_KERNEL"

/*
 * The kernel for this process. $ANN_KERNEL = portable | avx2 (avx2-fma) | avx512 (avx512f) |
 * neon forces one, so tests can run every path the CPU has; unset or empty, the CPU decides:
 * AVX-512F, else AVX2 + FMA, else portable on x86; NEON on aarch64. Any other value, or a
 * kernel this CPU or build lacks, is an error (*status = ANN_E_ARG): every ann_sgemm then
 * fails, rather than quietly running a kernel nobody asked for.
 */
static const gemm_kernel *choose_kernel(int *status)
{
    const char *want = getenv("ANN_KERNEL");
    int has_avx2 = 0, has_avx512 = 0, has_neon = 0;
#if ANN_GEMM_X86
    __builtin_cpu_init();
    has_avx512 = __builtin_cpu_supports("avx512f");
    has_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#elif ANN_GEMM_NEON
    has_neon = 1;
#endif
    *status = ANN_OK;
    if (want && *want) {
        const int is_portable = strcmp(want, "portable") == 0;
        const int is_avx2 = strcmp(want, "avx2") == 0 || strcmp(want, "avx2-fma") == 0;
        const int is_avx512 = strcmp(want, "avx512") == 0 || strcmp(want, "avx512f") == 0;
        const int is_neon = strcmp(want, "neon") == 0;
        if (is_portable) return &ann__gemm_portable;
#if ANN_GEMM_X86
        if (is_avx2 && has_avx2) return &ann__gemm_avx2;
        if (is_avx512 && has_avx512) return &ann__gemm_avx512;
#elif ANN_GEMM_NEON
        if (is_neon) return &ann__gemm_neon;
#endif
        (void)is_avx2, (void)is_avx512, (void)is_neon;
        *status = ANN_E_ARG; /* unknown, or not on this CPU / build */
        return &ann__gemm_portable;
    }
#if ANN_GEMM_X86
    if (has_avx512) return &ann__gemm_avx512;
    if (has_avx2) return &ann__gemm_avx2;
#elif ANN_GEMM_NEON
    if (has_neon) return &ann__gemm_neon;
#endif
    (void)has_avx2, (void)has_avx512, (void)has_neon;
    return &ann__gemm_portable;
}

static ann__tls_key g_caller_buffers_key;
static void ANN__CALLBACK free_caller_buffers(void *p);

static void gemm_init(void)
{
    g_kernel = choose_kernel(&g_kernel_status);
    if (ann__tls_create(&g_caller_buffers_key, free_caller_buffers) != 0) return;
    ann__atomic_store(&g_initialized, 1);
}

static void ensure_init(void) { ann__call_once(&g_init_once, gemm_init); }

const char *ann_kernel_name(void)
{
    ensure_init();
    return g_kernel_status == ANN_OK ? g_kernel->name : BAD_REQUEST_NAME;
}

/* The instruction set of the chosen kernel, for the passes of ops.c that have copies compiled
 * for AVX2 and AVX-512 (internal.h): so ANN_KERNEL=portable runs every pass as plain C, and
 * each kernel this CPU has can be tested with the passes it brings. */
int ann__vector_level(void)
{
    ensure_init();
#if ANN_GEMM_X86
    if (g_kernel_status == ANN_OK && g_kernel == &ann__gemm_avx512) return ANN__VEC_AVX512;
    if (g_kernel_status == ANN_OK && g_kernel == &ann__gemm_avx2) return ANN__VEC_AVX2;
#endif
    return ANN__VEC_PLAIN;
}

/* ---- packing buffers: one pair per thread, grown on demand, never shrunk ------------------- */

typedef struct {
    float *a;       /* (MC, KC) packed A' block: ceil(mc/MR) panels of (kc, MR) */
    size_t a_cap;   /* floats */
    float *b;       /* (KC, NC) packed B' block: ceil(nc/NR) panels of (kc, NR) */
    size_t b_cap;
} pack_buffers;

/* Make *buf hold at least need floats, 64-byte aligned. Old contents are not kept. */
static int reserve(float **buf, size_t *cap, size_t need)
{
    if (*cap >= need) return ANN_OK;
    float *p = ann__aligned_alloc(need * sizeof(float), 64);
    if (!p) return ANN_E_NOMEM;
    ann__aligned_free(*buf);
    *buf = p;
    *cap = need;
    return ANN_OK;
}

static void release_buffers(pack_buffers *buf)
{
    ann__aligned_free(buf->a);
    ann__aligned_free(buf->b);
    memset(buf, 0, sizeof *buf);
}

static void ANN__CALLBACK free_caller_buffers(void *p)
{
    if (!p) return;
    release_buffers(p);
    free(p);
}

/* The calling thread's buffers, kept in thread-local storage so that concurrent callers (cffi
 * releases the GIL) never share one; freed when the thread ends. NULL when out of memory. */
static pack_buffers *caller_buffers(void)
{
    if (!ann__atomic_load(&g_initialized)) return NULL; /* no key: gemm_init failed */
    pack_buffers *buf = ann__tls_get(g_caller_buffers_key);
    if (!buf) {
        buf = calloc(1, sizeof *buf);
        if (!buf) return NULL;
        if (ann__tls_set(g_caller_buffers_key, buf) != 0) {
            free(buf);
            return NULL;
        }
    }
    return buf;
}

/* The pool's worker w (1..) packs into g_worker_buffers[w]: it runs one chunk at a time, and a
 * worker started after fork() reuses the buffers of the one it replaces (internal.h). They
 * live as long as the process; at exit they are still reachable from here, not leaked. */
static pack_buffers g_worker_buffers[ANN__MAX_THREADS];

static pack_buffers *chunk_buffers(int worker)
{
    return worker > 0 ? &g_worker_buffers[worker] : caller_buffers();
}

/* ---- the problem, and packing ------------------------------------------------------------- */

typedef struct {
    int trans_a, trans_b, M, N, K;
    const float *A;
    ptrdiff_t lda;
    const float *B;
    ptrdiff_t ldb;
    float beta;
    float *C;
    ptrdiff_t ldc;
    const gemm_kernel *kern;
    int pack_a, pack_b; /* decided once per call from the whole shape, see choose_packing() */
} gemm_problem;

/*
 * dst (ceil(mc/MR) panels, each (kc, MR)) = A'[i0:i0+mc, p0:p0+kc]; panel p holds rows
 * i0 + p*MR .. +MR-1 with element (r, k) at [k*MR + r], rows past mc zero.
 */
static void pack_a(float *dst, const gemm_problem *p, int i0, int mc, int p0, int kc)
{
    const int mr = p->kern->mr;
    const ptrdiff_t lda = p->lda;
    for (int ir = 0; ir < mc; ir += mr) {
        const int m = min_int(mr, mc - ir);
        if (!p->trans_a) {
            /* A (M, K): A'(i, k) = A[i*lda + k]; m rows side by side, a transpose */
            const float *src = p->A + (ptrdiff_t)(i0 + ir) * lda + p0;
            if (m == mr && p->kern->pack_a_rows) {
                p->kern->pack_a_rows(dst, src, lda, kc);
            } else {
                for (int k = 0; k < kc; k++) {
                    float *d = dst + (ptrdiff_t)k * mr;
                    for (int r = 0; r < m; r++) d[r] = src[r * lda + k];
                    for (int r = m; r < mr; r++) d[r] = 0.0f;
                }
            }
        } else {
            /* A (K, M): A'(i, k) = A[k*lda + i]; each k is a contiguous run of m floats
             * (constant-size copies for the full panels, so no memcpy call per k) */
            const float *src = p->A + (ptrdiff_t)p0 * lda + i0 + ir;
            if (m == mr && mr == 6) {
                for (int k = 0; k < kc; k++) memcpy(dst + k * 6, src + k * lda, 6 * sizeof(float));
            } else if (m == mr && mr == 8) {
                for (int k = 0; k < kc; k++) memcpy(dst + k * 8, src + k * lda, 8 * sizeof(float));
            } else if (m == mr && mr == 4) {
                for (int k = 0; k < kc; k++) memcpy(dst + k * 4, src + k * lda, 4 * sizeof(float));
            } else {
                for (int k = 0; k < kc; k++) {
                    float *d = dst + (ptrdiff_t)k * mr;
                    const float *s = src + k * lda;
                    for (int r = 0; r < m; r++) d[r] = s[r];
                    for (int r = m; r < mr; r++) d[r] = 0.0f;
                }
            }
        }
        dst += (ptrdiff_t)mr * kc;
    }
}

/*
 * dst (ceil(nc/NR) panels, each (kc, NR)) = B'[p0:p0+kc, j0:j0+nc]; panel q holds columns
 * j0 + q*NR .. +NR-1 with element (k, j) at [k*NR + j], columns past nc zero.
 */
static void pack_b(float *dst, const gemm_problem *p, int p0, int kc, int j0, int nc)
{
    const int nr = p->kern->nr;
    const ptrdiff_t ldb = p->ldb;
    const ptrdiff_t panel = (ptrdiff_t)nr * kc; /* floats per packed panel */
    if (!p->trans_b) {
        /* B (K, N): B'(k, j) = B[k*ldb + j]. Row by row of B, so reads run along memory
         * (a panel at a time would stride by ldb, thrashing the TLB and cache sets). */
        const int full = nc / nr, rest = nc - full * nr;
        for (int k = 0; k < kc; k++) {
            const float *s = p->B + (ptrdiff_t)(p0 + k) * ldb + j0;
            float *d = dst + (ptrdiff_t)k * nr;
            if (nr == 16) {
                for (int q = 0; q < full; q++) memcpy(d + q * panel, s + q * 16, 16 * sizeof(float));
            } else if (nr == 32) {
                for (int q = 0; q < full; q++) memcpy(d + q * panel, s + q * 32, 32 * sizeof(float));
            } else if (nr == 8) {
                for (int q = 0; q < full; q++) memcpy(d + q * panel, s + q * 8, 8 * sizeof(float));
            } else {
                for (int q = 0; q < full; q++) memcpy(d + q * panel, s + q * nr, (size_t)nr * sizeof(float));
            }
            if (rest) {
                float *dr = d + full * panel;
                memcpy(dr, s + full * nr, (size_t)rest * sizeof(float));
                for (int j = rest; j < nr; j++) dr[j] = 0.0f;
            }
        }
        return;
    }
    for (int jr = 0; jr < nc; jr += nr) {
        const int n = min_int(nr, nc - jr);
        /* B (N, K): B'(k, j) = B[j*ldb + k], a transpose: 8 x 8 blocks in registers
         * where the kernel offers it, the rest element by element */
        const float *src = p->B + (ptrdiff_t)(j0 + jr) * ldb + p0;
        int j = 0;
        if (p->kern->transpose8) {
            for (; j + 8 <= n; j += 8) {
                int k = 0;
                for (; k + 8 <= kc; k += 8)
                    p->kern->transpose8(dst + (ptrdiff_t)k * nr + j, nr, src + j * ldb + k, ldb);
                for (; k < kc; k++)
                    for (int jj = j; jj < j + 8; jj++)
                        dst[(ptrdiff_t)k * nr + jj] = src[jj * ldb + k];
            }
        }
        for (; j < n; j++) {
            const float *s = src + j * ldb;
            for (int k = 0; k < kc; k++) dst[(ptrdiff_t)k * nr + j] = s[k];
        }
        for (int k = 0; k < kc; k++)
            for (int jj = n; jj < nr; jj++) dst[(ptrdiff_t)k * nr + jj] = 0.0f;
        dst += panel;
    }
}

/*
 * Packing pays when the packed block is reused: a packed A' block is read once per B' panel
 * (N / NR times), a packed B' block once per A' panel (M / MR times). With N <= 2 NR (the
 * seed network's widths 20, 7, 5, 10) packing A' would cost as much as the multiply, so the
 * kernel reads A' in place. B' is read in place when it is not transposed and is either
 * narrow (its rows are then short and close together) or used by few rows of A'. A
 * transposed B' is always packed: the kernel needs its rows contiguous.
 */
static void choose_packing(gemm_problem *p)
{
    const int mr = p->kern->mr, nr = p->kern->nr;
    p->pack_a = p->N > 2 * nr;
    p->pack_b = p->trans_b || (p->N > 2 * nr && p->M > 2 * mr);
}

/*
 * The K block length: K cut into the fewest blocks of at most kc_max (a multiple of 8), all
 * of equal length rounded up to a multiple of 8, so no block is a short leftover (K = 784
 * with kc_max = 384 gives 264, 264, 256 rather than 384, 384, 16). It depends on K alone,
 * which is what keeps every thread count summing in the same blocks.
 */
static int k_block(int K, int kc_max)
{
    const int blocks = ceil_div(K, kc_max);
    return min_int(K, ceil_div(ceil_div(K, blocks), 8) * 8);
}

/*
 * C[m0:m1, n0:n1] of the problem, on one thread. m0 and n0 lie on the MR / NR grid and MC,
 * NC are multiples of MR, NR, so every micro-tile is the same one it would be with any other
 * split of C: that, with the fixed KC blocks, is what keeps threads bit-identical.
 */
static int gemm_rect(const gemm_problem *p, int m0, int m1, int n0, int n1, pack_buffers *buf)
{
    const gemm_kernel *kn = p->kern;
    const int MR = kn->mr, NR = kn->nr, MC = kn->mc, NC = kn->nc;
    const int KC = k_block(p->K, kn->kc);
    if (p->pack_a || p->pack_b) {
        if (!buf) return ANN_E_NOMEM;
        const int kmax = KC;
        if (p->pack_a) {
            const int mmax = min_int(MC, ceil_div(min_int(m1 - m0, MC), MR) * MR);
            if (reserve(&buf->a, &buf->a_cap, (size_t)mmax * kmax) != ANN_OK) return ANN_E_NOMEM;
        }
        if (p->pack_b) {
            const int nmax = min_int(NC, ceil_div(min_int(n1 - n0, NC), NR) * NR);
            if (reserve(&buf->b, &buf->b_cap, (size_t)nmax * kmax) != ANN_OK) return ANN_E_NOMEM;
        }
    }
    for (int jc = n0, nc; jc < n1; jc += nc) {
        nc = min_int(NC, n1 - jc);
        for (int pc = 0, kc; pc < p->K; pc += kc) {
            kc = min_int(KC, p->K - pc);
            /* the first K block applies beta; later ones add to what is there */
            const int overwrite = pc == 0 && p->beta == 0.0f;
            const float beta = pc == 0 ? p->beta : 1.0f;

            /* B' block (kc, nc) at (pc, jc): panel q starts at bp + q * b_step */
            const float *bp;
            ptrdiff_t rsb, b_step;
            if (p->pack_b) {
                pack_b(buf->b, p, pc, kc, jc, nc);
                bp = buf->b;
                rsb = NR;
                b_step = (ptrdiff_t)NR * kc;
            } else {
                bp = p->B + (ptrdiff_t)pc * p->ldb + jc;
                rsb = p->ldb;
                b_step = NR;
            }
            for (int ic = m0, mc; ic < m1; ic += mc) {
                mc = min_int(MC, m1 - ic);
                /* A' block (mc, kc) at (ic, pc): A'(r, k) of panel q at ap + q*a_step + r*rsa
                 * + k*csa */
                const float *ap;
                ptrdiff_t rsa, csa, a_step;
                if (p->pack_a) {
                    pack_a(buf->a, p, ic, mc, pc, kc);
                    ap = buf->a;
                    rsa = 1;
                    csa = MR;
                    a_step = (ptrdiff_t)MR * kc;
                } else if (!p->trans_a) {
                    ap = p->A + (ptrdiff_t)ic * p->lda + pc;
                    rsa = p->lda;
                    csa = 1;
                    a_step = (ptrdiff_t)MR * p->lda;
                } else {
                    ap = p->A + (ptrdiff_t)pc * p->lda + ic;
                    rsa = 1;
                    csa = p->lda;
                    a_step = MR;
                }
                for (int jr = 0; jr < nc; jr += NR) {
                    const int n = min_int(NR, nc - jr);
                    const float *bq = bp + (jr / NR) * b_step;
                    for (int ir = 0; ir < mc; ir += MR) {
                        const int m = min_int(MR, mc - ir);
                        float *c = p->C + (ptrdiff_t)(ic + ir) * p->ldc + jc + jr;
                        kn->kernel(m, n, kc, ap + (ir / MR) * a_step, rsa, csa, p->pack_a, bq,
                                   rsb, c, p->ldc, beta, overwrite);
                    }
                }
            }
        }
    }
    return ANN_OK;
}

/* ---- splitting C between threads ---------------------------------------------------------- */

/* Chunks per thread, at most: a few, so that load evens out when a core is busy elsewhere. */
#define CHUNKS_PER_THREAD 2

/*
 * A parallel product cuts C into a tm x tn grid of chunks along the MR x NR tile grid and
 * hands them to ann__parallel_for. Chunk t is row band t / tn and column band t % tn; each
 * chunk writes only its own rectangle of C and its own status slot, packs into the buffers of
 * whichever thread runs it (chunk_buffers), and computes every element exactly as any other split would (see
 * gemm_rect), so the bits do not depend on the grid or on the threads.
 */
typedef struct {
    const gemm_problem *prob;
    int tm, tn;                                        /* chunk grid */
    int status[ANN__MAX_THREADS * CHUNKS_PER_THREAD];  /* (tm * tn) each chunk's result */
} gemm_job;

/* Where band b of `bands` starts when `tiles` tiles of `tile` elements (covering `size`) are
 * shared out as evenly as possible; band `bands` starts at size. */
static int band_start(int tiles, int bands, int b, int tile, int size)
{
    const long long start = (long long)tiles * b / bands * tile;
    return start < size ? (int)start : size;
}

/* Chunk t of the job, run by `worker` (a task for ann__parallel_for). */
static void run_chunk(void *ctx, int t, int worker)
{
    gemm_job *job = ctx;
    const gemm_problem *p = job->prob;
    const int MR = p->kern->mr, NR = p->kern->nr;
    const int row_tiles = ceil_div(p->M, MR), col_tiles = ceil_div(p->N, NR);
    const int bi = t / job->tn, bj = t % job->tn;
    const int m0 = band_start(row_tiles, job->tm, bi, MR, p->M);
    const int m1 = band_start(row_tiles, job->tm, bi + 1, MR, p->M);
    const int n0 = band_start(col_tiles, job->tn, bj, NR, p->N);
    const int n1 = band_start(col_tiles, job->tn, bj + 1, NR, p->N);
    job->status[t] = ANN_OK;
    if (m0 >= m1 || n0 >= n1) return;
    pack_buffers *buf = (p->pack_a || p->pack_b) ? chunk_buffers(worker) : NULL;
    job->status[t] = gemm_rect(p, m0, m1, n0, n1, buf);
}

/* Below this many flops per chunk, waking a sleeping thread or packing a chunk's operands
 * again costs more than the split saves: ANN__MIN_CHUNK_NS (internal.h) of one thread's work
 * at ~100 flops per ns (a micro-kernel near the peak of an AVX-512 or AVX2 core). */
#define MIN_FLOPS_PER_CHUNK (ANN__MIN_CHUNK_NS * 100.0)

/* Threads worth using for this problem, at most `limit`. */
static int choose_threads(const gemm_problem *p, int limit)
{
    const double flops = 2.0 * p->M * p->N * (double)p->K;
    const double by_work = flops / MIN_FLOPS_PER_CHUNK;
    const double tiles = (double)ceil_div(p->M, p->kern->mr) * ceil_div(p->N, p->kern->nr);
    double t = by_work < limit ? by_work : limit;
    if (t > tiles) t = tiles;
    return t < 1.0 ? 1 : (int)t;
}

/*
 * The chunk grid tm x tn = T: minimize the estimated cycles of one chunk, its multiply
 * (MR*NR multiply-adds per vector step, ~16 per cycle) plus the packing each chunk repeats
 * for its own rows of A' and columns of B' (~1 float per cycle). Returns T, lowered when C
 * has too few tiles in the needed direction.
 */
static int choose_grid(const gemm_problem *p, int T, int *tm_out, int *tn_out)
{
    const int MR = p->kern->mr, NR = p->kern->nr;
    const int row_tiles = ceil_div(p->M, MR), col_tiles = ceil_div(p->N, NR);
    *tm_out = *tn_out = 1;
    for (; T > 1; T--) {
        double best = -1.0;
        for (int tm = 1; tm <= T; tm++) {
            if (T % tm) continue;
            const int tn = T / tm;
            if (tm > row_tiles || tn > col_tiles) continue;
            const double rows = (double)ceil_div(row_tiles, tm) * MR;
            const double cols = (double)ceil_div(col_tiles, tn) * NR;
            const double cost = rows * cols * p->K / 16.0 + (p->pack_a ? rows * p->K : 0.0) +
                                (p->pack_b ? cols * p->K : 0.0);
            if (best < 0.0 || cost < best) {
                best = cost;
                *tm_out = tm;
                *tn_out = tn;
            }
        }
        if (best >= 0.0) return T;
    }
    return 1;
}

/* The product on `threads` threads (1: on the caller alone): up to CHUNKS_PER_THREAD chunks
 * each, none below MIN_FLOPS_PER_CHUNK. Returns the first failing chunk's status. */
static int run_job(const gemm_problem *p, int threads)
{
    gemm_job job;
    job.prob = p;
    job.tm = job.tn = 1;
    int chunks = 1;
    if (threads > 1) {
        const double flops = 2.0 * p->M * p->N * (double)p->K;
        const double by_work = flops / MIN_FLOPS_PER_CHUNK;
        const int most = threads * CHUNKS_PER_THREAD;
        chunks = choose_grid(p, max_int(threads, by_work < most ? (int)by_work : most), &job.tm,
                             &job.tn);
    }
    ann__parallel_for(chunks, run_chunk, &job);
    for (int t = 0; t < chunks; t++)
        if (job.status[t] != ANN_OK) return job.status[t];
    return ANN_OK;
}

/* At exit, free the exiting thread's buffers (thread-local values are destroyed when a thread
 * ends, which exit() does not count as), so leak checkers stay quiet. MSVC has no destructor
 * attribute: the process's end reclaims the memory there. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((destructor)) static void free_exiting_thread_buffers(void)
{
    if (!ann__atomic_load(&g_initialized)) return;
    pack_buffers *buf = ann__tls_get(g_caller_buffers_key);
    if (buf) {
        (void)ann__tls_set(g_caller_buffers_key, NULL);
        free_caller_buffers(buf);
    }
}
#endif

/* ---- entry points ------------------------------------------------------------------------ */

/* ---- the entry point ---------------------------------------------------------------------- */

/* ann_sgemm_naive, the reference, and the shared argument checks are in gemm_naive.c. */
int ann_sgemm(int trans_a, int trans_b, int M, int N, int K,
              const float *A, int lda, const float *B, int ldb,
              float beta, float *C, int ldc)
{
    const int status = ann__gemm_check_args(trans_a, trans_b, M, N, K, A, lda, B, ldb, C, ldc);
    if (status != ANN_OK) return status;
    ensure_init();
    if (g_kernel_status != ANN_OK) return g_kernel_status; /* a bad $ANN_KERNEL */
    gemm_problem p;
    p.trans_a = trans_a != 0;
    p.trans_b = trans_b != 0;
    p.M = M;
    p.N = N;
    p.K = K;
    p.A = A;
    p.lda = lda;
    p.B = B;
    p.ldb = ldb;
    p.beta = beta;
    p.C = C;
    p.ldc = ldc;
    p.kern = g_kernel;
    choose_packing(&p);
    const int threads = choose_threads(&p, ann_get_num_threads());
    const ann__fpmode fp = ann__flush_denormals(); /* as the pool's workers: platform.h */
    const int result = run_job(&p, threads);
    ann__restore_fpmode(fp);
    return result;
}
