/*
 * gemm.c -- single-precision matrix multiply, C = A' B' + beta C, split across threads.
 *
 * Shape legend (as in ann.h):
 *   C (M, N)    the output, row stride ldc
 *   A' (M, K)   A itself (stored (M, K), row stride lda) or A^T (A stored (K, M)) when trans_a
 *   B' (K, N)   B itself (stored (K, N), row stride ldb) or B^T (B stored (N, K)) when trans_b
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
 *
 * The AVX2 + FMA kernel is 6 x 16: twelve 8-wide accumulators, two registers for the B row and
 * one for the broadcast A value fill 15 of the 16 ymm registers. Per k it issues 12 FMAs (6
 * cycles on two FMA pipes) against 2 + 6 loads, so the FMA pipes set the pace. KC = 256 makes a
 * B panel 16 KiB (half of L1d); MC = 144 makes the packed A block 144 KiB (L2 is 512 KiB on
 * the Zen 3 this was tuned on); NC = 2048 bounds the packed B block (2 MiB) and each thread's
 * buffers. K is cut into equal blocks of at most KC (see k_block), not KC and a short rest.
 * The AVX-512 kernel is the same 6 x 32 shape on zmm registers (KC = 128 so its 32-wide B panel
 * is still 16 KiB), and the portable C kernel is 4 x 8, small enough for 16 SSE registers or
 * NEON, which the compiler finds on its own. Block sizes were measured, not guessed: on the
 * development machine KC 256..512, MC 72..288 and NC 1024..4096 are all within noise.
 * On aarch64 the default is an 8 x 12 NEON kernel (its section says why that shape).
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
#include "internal.h"
#include "platform.h"

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define ANN_GEMM_X86 1
#include <immintrin.h>
#else
#define ANN_GEMM_X86 0
#endif

static int min_int(int a, int b) { return a < b ? a : b; }
static int max_int(int a, int b) { return a > b ? a : b; }
static int ceil_div(int a, int b) { return a / b + (a % b != 0); } /* a >= 0, b > 0, no overflow */

/* ---- the micro-kernel contract -------------------------------------------------------- */

/*
 * One micro-tile: C (m, n) at c, row stride ldc, with 1 <= m <= MR and 1 <= n <= NR.
 *   A'(r, k) = a[r * rsa + k * csa]   packed panel: rsa = 1, csa = MR, a_packed = 1, rows
 *                                      m..MR-1 hold zeros and may be read
 *                                      in place: rows m..MR-1 must not be touched
 *   B'(k, j) = b[k * rsb + j]          packed panel: rsb = NR; in place: rsb = ldb; columns
 *                                      n..NR-1 are never read
 *   s(r, j)  = sum over k = 0..kc-1, increasing, of A'(r, k) B'(k, j), started from 0
 *   C(r, j)  = s(r, j) when overwrite (C is not read), else beta * C(r, j) + s(r, j)
 */
typedef void (*micro_kernel_fn)(int m, int n, int kc, const float *a, ptrdiff_t rsa,
                                ptrdiff_t csa, int a_packed, const float *b, ptrdiff_t rsb,
                                float *c, ptrdiff_t ldc, float beta, int overwrite);

typedef struct {
    const char *name;         /* what ann_kernel_name() reports */
    int mr, nr;               /* micro-tile */
    int mc, kc, nc;           /* cache blocks; mc a multiple of mr, nc a multiple of nr */
    micro_kernel_fn kernel;
    /* optional: dst (8, 8) row stride ldd = transpose of src (8, 8) row stride lds */
    void (*transpose8)(float *dst, ptrdiff_t ldd, const float *src, ptrdiff_t lds);
    /* optional: a full A' panel (kc, mr) from mr rows of a row-major A (stride lda) */
    void (*pack_a_rows)(float *dst, const float *src, ptrdiff_t lda, int kc);
} gemm_kernel;

/* ---- portable C kernel: 4 x 8 ----------------------------------------------------------- */

#define PORT_MR 4
#define PORT_NR 8

/* full_n: n == PORT_NR, so B rows are read whole (lets the compiler vectorize the loads). */
static inline void portable_tile(int m, int n, int kc, const float *a, ptrdiff_t rsa,
                                 ptrdiff_t csa, int a_packed, const float *b, ptrdiff_t rsb,
                                 float *c, ptrdiff_t ldc, float beta, int overwrite,
                                 const int full_n)
{
    float acc[PORT_MR][PORT_NR] = {{0.0f}}; /* (MR, NR) */
    const float *ar[PORT_MR];               /* row r of A'; rows past m alias row 0 */
    for (int r = 0; r < PORT_MR; r++) ar[r] = a + ((a_packed || r < m) ? r * rsa : 0);
    for (int k = 0; k < kc; k++) {
        const float *bk = b + k * rsb;
        float bv[PORT_NR]; /* (NR) row k of B', zero past n */
        for (int j = 0; j < PORT_NR; j++) bv[j] = (full_n || j < n) ? bk[j] : 0.0f;
        for (int r = 0; r < PORT_MR; r++) {
            const float x = ar[r][k * csa];
            for (int j = 0; j < PORT_NR; j++) acc[r][j] += x * bv[j];
        }
    }
    for (int r = 0; r < m; r++) {
        float *cr = c + r * ldc;
        for (int j = 0; j < n; j++) cr[j] = overwrite ? acc[r][j] : beta * cr[j] + acc[r][j];
    }
}

static void portable_kernel(int m, int n, int kc, const float *a, ptrdiff_t rsa, ptrdiff_t csa,
                            int a_packed, const float *b, ptrdiff_t rsb, float *c, ptrdiff_t ldc,
                            float beta, int overwrite)
{
    if (n == PORT_NR)
        portable_tile(m, n, kc, a, rsa, csa, a_packed, b, rsb, c, ldc, beta, overwrite, 1);
    else
        portable_tile(m, n, kc, a, rsa, csa, a_packed, b, rsb, c, ldc, beta, overwrite, 0);
}

static const gemm_kernel portable_kernel_desc = {
    "portable", PORT_MR, PORT_NR, 128, 256, 2048, portable_kernel, NULL, NULL
};

#if ANN_GEMM_X86

/* ---- AVX2 + FMA kernel: 6 x 16 ---------------------------------------------------------- */

#define AVX2_MR 6
#define AVX2_NR 16

/*
 * The compile-time flags (constants after inlining) pick a variant:
 *   packed: A' is a packed panel (rsa = 1, csa = 6), so all six row pointers are a + r
 *   nv:     vectors of B' per row that matter, 1 (n <= 8) or 2
 *   masked: n < 16, so loads of B' and loads/stores of C are masked to columns < n
 */
static inline __attribute__((always_inline, target("avx2,fma"))) void
avx2_tile(int m, int n, int kc, const float *a, ptrdiff_t rsa, ptrdiff_t csa, const float *b,
          ptrdiff_t rsb, float *c, ptrdiff_t ldc, float beta, int overwrite, const int packed,
          const int nv, const int masked)
{
    if (packed) {
        rsa = 1;
        csa = AVX2_MR;
    }
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i mask0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(n), lane);     /* j < n */
    const __m256i mask1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(n - 8), lane); /* 8+j < n */
    /* Row pointers of A'; in place, rows past m read row 0 again (their sums are dropped). */
    const float *a0 = a;
    const float *a1 = a + ((packed || m > 1) ? 1 * rsa : 0);
    const float *a2 = a + ((packed || m > 2) ? 2 * rsa : 0);
    const float *a3 = a + ((packed || m > 3) ? 3 * rsa : 0);
    const float *a4 = a + ((packed || m > 4) ? 4 * rsa : 0);
    const float *a5 = a + ((packed || m > 5) ? 5 * rsa : 0);
    /* accumulators: row r, columns 0..7 (cr0) and 8..15 (cr1) */
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
    __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
    __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
    __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();

#define AVX2_ROW(r)                                                                        \
    do {                                                                                   \
        const __m256 x = _mm256_broadcast_ss(a##r + o);                                    \
        c##r##0 = _mm256_fmadd_ps(x, b0, c##r##0);                                         \
        if (nv == 2) c##r##1 = _mm256_fmadd_ps(x, b1, c##r##1);                            \
    } while (0)

    /* Fetch the C tile while the k loop runs: it is read (or written) only at the end. */
    for (int r = 0; r < m; r++) {
        _mm_prefetch((const char *)(c + r * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + r * ldc + n - 1), _MM_HINT_T0);
    }
    ptrdiff_t o = 0; /* k * csa */
#pragma GCC unroll 4
    for (int k = 0; k < kc; k++) {
        __m256 b0, b1 = _mm256_setzero_ps();
        if (masked) {
            b0 = _mm256_maskload_ps(b, mask0);
            if (nv == 2) b1 = _mm256_maskload_ps(b + 8, mask1);
        } else {
            b0 = _mm256_loadu_ps(b);
            b1 = _mm256_loadu_ps(b + 8);
        }
        AVX2_ROW(0);
        AVX2_ROW(1);
        AVX2_ROW(2);
        AVX2_ROW(3);
        AVX2_ROW(4);
        AVX2_ROW(5);
        o += csa;
        b += rsb;
    }
#undef AVX2_ROW

    if (!masked && m == AVX2_MR) {
        /* a whole tile: straight vector stores */
        const __m256 vbeta = _mm256_set1_ps(beta);
#define AVX2_STORE(r)                                                                      \
    do {                                                                                   \
        float *cr = c + (r) * ldc;                                                         \
        __m256 v0 = c##r##0, v1 = c##r##1;                                                 \
        if (!overwrite) {                                                                  \
            v0 = _mm256_fmadd_ps(vbeta, _mm256_loadu_ps(cr), v0);                          \
            v1 = _mm256_fmadd_ps(vbeta, _mm256_loadu_ps(cr + 8), v1);                      \
        }                                                                                  \
        _mm256_storeu_ps(cr, v0);                                                          \
        _mm256_storeu_ps(cr + 8, v1);                                                      \
    } while (0)
        AVX2_STORE(0);
        AVX2_STORE(1);
        AVX2_STORE(2);
        AVX2_STORE(3);
        AVX2_STORE(4);
        AVX2_STORE(5);
    } else {
        /* an edge tile: through a buffer, element by element (AMD's masked vector stores
         * are microcoded and slow). The scalar FMA rounds exactly as the vector one. */
        float t[AVX2_MR][AVX2_NR] __attribute__((aligned(32))); /* (MR, NR) */
        _mm256_store_ps(t[0], c00), _mm256_store_ps(t[0] + 8, c01);
        _mm256_store_ps(t[1], c10), _mm256_store_ps(t[1] + 8, c11);
        _mm256_store_ps(t[2], c20), _mm256_store_ps(t[2] + 8, c21);
        _mm256_store_ps(t[3], c30), _mm256_store_ps(t[3] + 8, c31);
        _mm256_store_ps(t[4], c40), _mm256_store_ps(t[4] + 8, c41);
        _mm256_store_ps(t[5], c50), _mm256_store_ps(t[5] + 8, c51);
        const __m128 sbeta = _mm_set_ss(beta);
        for (int r = 0; r < m; r++) {
            float *cr = c + r * ldc;
            if (overwrite) {
                for (int j = 0; j < n; j++) cr[j] = t[r][j];
            } else {
                for (int j = 0; j < n; j++)
                    cr[j] = _mm_cvtss_f32(
                        _mm_fmadd_ss(sbeta, _mm_set_ss(cr[j]), _mm_set_ss(t[r][j])));
            }
        }
    }
#undef AVX2_STORE
}

static __attribute__((target("avx2,fma"))) void
avx2_kernel(int m, int n, int kc, const float *a, ptrdiff_t rsa, ptrdiff_t csa, int a_packed,
            const float *b, ptrdiff_t rsb, float *c, ptrdiff_t ldc, float beta, int overwrite)
{
    if (a_packed) {
        if (n == AVX2_NR)
            avx2_tile(m, n, kc, a, rsa, csa, b, rsb, c, ldc, beta, overwrite, 1, 2, 0);
        else if (n > 8)
            avx2_tile(m, n, kc, a, rsa, csa, b, rsb, c, ldc, beta, overwrite, 1, 2, 1);
        else
            avx2_tile(m, n, kc, a, rsa, csa, b, rsb, c, ldc, beta, overwrite, 1, 1, 1);
    } else {
        if (n == AVX2_NR)
            avx2_tile(m, n, kc, a, rsa, csa, b, rsb, c, ldc, beta, overwrite, 0, 2, 0);
        else if (n > 8)
            avx2_tile(m, n, kc, a, rsa, csa, b, rsb, c, ldc, beta, overwrite, 0, 2, 1);
        else
            avx2_tile(m, n, kc, a, rsa, csa, b, rsb, c, ldc, beta, overwrite, 0, 1, 1);
    }
}

/* Transpose the 8 x 8 block held in r[0..7] (row i in r[i]) in place: the usual three rounds
 * of shuffles, on pairs, quads, then 128-bit halves. */
static inline __attribute__((always_inline, target("avx2"))) void avx2_transpose8_regs(__m256 r[8])
{
    /* t0 = r0[0] r1[0] r0[1] r1[1] | r0[4] r1[4] r0[5] r1[5], and so on */
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    /* u0 = column 0 of rows 0-3 | column 4 of rows 0-3, and so on */
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
    r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
    r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
    r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
    r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

/* dst (8, 8), row stride ldd = src (8, 8)^T, src row stride lds. */
static __attribute__((target("avx2"))) void
avx2_transpose8(float *dst, ptrdiff_t ldd, const float *src, ptrdiff_t lds)
{
    __m256 r[8];
    for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(src + i * lds);
    avx2_transpose8_regs(r);
    for (int i = 0; i < 8; i++) _mm256_storeu_ps(dst + i * ldd, r[i]);
}

/* One packed A' panel from 6 rows of A (M, K): dst (kc, 6)[k*6 + i] = src[i*lda + k].
 * Eight k at a time: load 6 rows (plus 2 zero rows), transpose, keep 6 lanes per k. */
static __attribute__((target("avx2"))) void
avx2_pack_a_rows6(float *dst, const float *src, ptrdiff_t lda, int kc)
{
    int k = 0;
    for (; k + 8 <= kc; k += 8) {
        __m256 r[8];
        for (int i = 0; i < 6; i++) r[i] = _mm256_loadu_ps(src + i * lda + k);
        r[6] = r[7] = _mm256_setzero_ps();
        avx2_transpose8_regs(r);
        for (int j = 0; j < 8; j++) {
            float *d = dst + (ptrdiff_t)(k + j) * 6;
            _mm_storeu_ps(d, _mm256_castps256_ps128(r[j]));                 /* rows 0-3 */
            _mm_storel_pi((__m64 *)(d + 4), _mm256_extractf128_ps(r[j], 1)); /* rows 4-5 */
        }
    }
    for (; k < kc; k++)
        for (int i = 0; i < 6; i++) dst[(ptrdiff_t)k * 6 + i] = src[i * lda + k];
}

static const gemm_kernel avx2_kernel_desc = {
    "avx2-fma", AVX2_MR, AVX2_NR, 144, 256, 2048, avx2_kernel, avx2_transpose8,
    avx2_pack_a_rows6
};

/* ---- AVX-512F kernel: 6 x 32 -------------------------------------------------------------
 * Line for line the AVX2 kernel with 16-wide zmm vectors and mask registers; it cannot run on
 * the development machine (no AVX-512), so it stays deliberately plain: no variants beyond
 * the masked / unmasked split, no unrolling hints. */

#define AVX512_MR 6
#define AVX512_NR 32

static inline __attribute__((always_inline, target("avx512f"))) void
avx512_tile(int m, int n, int kc, const float *a, ptrdiff_t rsa, ptrdiff_t csa, int a_packed,
            const float *b, ptrdiff_t rsb, float *c, ptrdiff_t ldc, float beta, int overwrite,
            const int masked)
{
    /* lanes j < n of the first vector, j < n - 16 of the second (n is 1..32) */
    const __mmask16 mask0 = n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1u);
    const __mmask16 mask1 = n >= 32   ? (__mmask16)0xFFFF
                            : n <= 16 ? (__mmask16)0
                                      : (__mmask16)((1u << (n - 16)) - 1u);
    const float *a0 = a;
    const float *a1 = a + ((a_packed || m > 1) ? 1 * rsa : 0);
    const float *a2 = a + ((a_packed || m > 2) ? 2 * rsa : 0);
    const float *a3 = a + ((a_packed || m > 3) ? 3 * rsa : 0);
    const float *a4 = a + ((a_packed || m > 4) ? 4 * rsa : 0);
    const float *a5 = a + ((a_packed || m > 5) ? 5 * rsa : 0);
    __m512 c00 = _mm512_setzero_ps(), c01 = _mm512_setzero_ps();
    __m512 c10 = _mm512_setzero_ps(), c11 = _mm512_setzero_ps();
    __m512 c20 = _mm512_setzero_ps(), c21 = _mm512_setzero_ps();
    __m512 c30 = _mm512_setzero_ps(), c31 = _mm512_setzero_ps();
    __m512 c40 = _mm512_setzero_ps(), c41 = _mm512_setzero_ps();
    __m512 c50 = _mm512_setzero_ps(), c51 = _mm512_setzero_ps();

#define AVX512_ROW(r)                                                                      \
    do {                                                                                   \
        const __m512 x = _mm512_set1_ps(a##r[o]);                                          \
        c##r##0 = _mm512_fmadd_ps(x, b0, c##r##0);                                         \
        c##r##1 = _mm512_fmadd_ps(x, b1, c##r##1);                                         \
    } while (0)

    for (int r = 0; r < m; r++) { /* fetch the C tile while the k loop runs */
        _mm_prefetch((const char *)(c + r * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + r * ldc + n - 1), _MM_HINT_T0);
    }
    ptrdiff_t o = 0; /* k * csa */
    for (int k = 0; k < kc; k++) {
        __m512 b0, b1;
        if (masked) {
            b0 = _mm512_maskz_loadu_ps(mask0, b);
            b1 = _mm512_maskz_loadu_ps(mask1, b + 16);
        } else {
            b0 = _mm512_loadu_ps(b);
            b1 = _mm512_loadu_ps(b + 16);
        }
        AVX512_ROW(0);
        AVX512_ROW(1);
        AVX512_ROW(2);
        AVX512_ROW(3);
        AVX512_ROW(4);
        AVX512_ROW(5);
        o += csa;
        b += rsb;
    }
#undef AVX512_ROW

    const __m512 vbeta = _mm512_set1_ps(beta);
#define AVX512_STORE(r)                                                                    \
    do {                                                                                   \
        if ((r) >= m) break;                                                               \
        float *cr = c + (r) * ldc;                                                         \
        __m512 v0 = c##r##0, v1 = c##r##1;                                                 \
        if (!overwrite) {                                                                  \
            v0 = _mm512_fmadd_ps(vbeta, _mm512_maskz_loadu_ps(mask0, cr), v0);             \
            v1 = _mm512_fmadd_ps(vbeta, _mm512_maskz_loadu_ps(mask1, cr + 16), v1);        \
        }                                                                                  \
        _mm512_mask_storeu_ps(cr, mask0, v0);                                              \
        _mm512_mask_storeu_ps(cr + 16, mask1, v1);                                         \
    } while (0)
    AVX512_STORE(0);
    AVX512_STORE(1);
    AVX512_STORE(2);
    AVX512_STORE(3);
    AVX512_STORE(4);
    AVX512_STORE(5);
#undef AVX512_STORE
}

static __attribute__((target("avx512f"))) void
avx512_kernel(int m, int n, int kc, const float *a, ptrdiff_t rsa, ptrdiff_t csa, int a_packed,
              const float *b, ptrdiff_t rsb, float *c, ptrdiff_t ldc, float beta, int overwrite)
{
    if (n == AVX512_NR)
        avx512_tile(m, n, kc, a, rsa, csa, a_packed, b, rsb, c, ldc, beta, overwrite, 0);
    else
        avx512_tile(m, n, kc, a, rsa, csa, a_packed, b, rsb, c, ldc, beta, overwrite, 1);
}

static const gemm_kernel avx512_kernel_desc = {
    "avx512f", AVX512_MR, AVX512_NR, 192, 128, 2048, avx512_kernel, avx2_transpose8,
    avx2_pack_a_rows6
};

#endif /* ANN_GEMM_X86 */

/* ---- NEON kernel (aarch64): 8 x 12 ----------------------------------------------------------
 * NEON (Advanced SIMD) is part of the aarch64 base ISA, so every aarch64 CPU runs this kernel
 * (Raspberry Pi 4/5, Apple Silicon, Graviton) and it needs no run-time check. The tile is
 * 8 x 12, the shape BLIS and OpenBLAS use on ARMv8: 24 accumulators (8 rows, three 4-wide
 * vectors each), two registers for column k of A' and three for row k of B' fill 29 of the 32
 * vector registers. Per k it issues 24 FMAs, each a B' vector times one lane of an A' vector
 * (fmla by element), against 5 vector loads when A' is packed.
 * The block sizes are not measured (this kernel was written and tested under emulation, where
 * time means nothing): KC = 256 makes a B panel 12 KiB and an A panel 8 KiB, within the 32 KiB
 * L1d of the Pi's Cortex-A72 / A76 cores; MC = 128 makes the packed A block 128 KiB; NC = 2040
 * is the largest multiple of 12 not above the other kernels' 2048.
 * Only GCC and clang define __aarch64__; MSVC for arm64 (_M_ARM64) spells the NEON types
 * differently and builds the portable kernel alone. */

#if defined(__aarch64__) && defined(__ARM_NEON)
#define ANN_GEMM_NEON 1
#include <arm_neon.h>
#else
#define ANN_GEMM_NEON 0
#endif

#if ANN_GEMM_NEON

#define NEON_MR 8
#define NEON_NR 12

/* Columns 4v .. 4v+3 of a row whose width is n > 4v: the whole vector when the row is that
 * wide, else its first n - 4v lanes and zeros (NEON has no masked load; nothing at or past
 * row[n] is read). */
static inline float32x4_t neon_load_cols(const float *row, int v, int n)
{
    const int w = n - 4 * v;
    if (w >= 4) return vld1q_f32(row + 4 * v);
    float t[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int j = 0; j < w; j++) t[j] = row[4 * v + j];
    return vld1q_f32(t);
}

/* The store matching neon_load_cols: lanes of x into columns 4v .. min(4v+3, n-1). */
static inline void neon_store_cols(float *row, int v, int n, float32x4_t x)
{
    const int w = n - 4 * v;
    if (w >= 4) {
        vst1q_f32(row + 4 * v, x);
        return;
    }
    float t[4];
    vst1q_f32(t, x);
    for (int j = 0; j < w; j++) row[4 * v + j] = t[j];
}

/*
 * The compile-time flags (constants after inlining) pick a variant:
 *   packed: A' is a packed panel (rsa = 1, csa = 8), so column k of A' is two vector loads;
 *           in place, its 8 elements are gathered lane by lane
 *   nv:     vectors of B' per row that matter, ceil(n / 4): 1, 2 or 3
 *   masked: n < 12, so B' and C are loaded and stored through neon_load/store_cols
 * Every variant computes each element with the same FMAs in the same order (lanes of A'
 * gathered or loaded hold the same values), so which one runs never changes a bit.
 */
static inline __attribute__((always_inline)) void
neon_tile(int m, int n, int kc, const float *a, ptrdiff_t rsa, ptrdiff_t csa, const float *b,
          ptrdiff_t rsb, float *c, ptrdiff_t ldc, float beta, int overwrite, const int packed,
          const int nv, const int masked)
{
    if (packed) {
        rsa = 1;
        csa = NEON_MR;
    }
    /* Row pointers of A'; in place, rows past m read row 0 again (their sums are dropped). */
    const float *a0 = a;
    const float *a1 = a + ((packed || m > 1) ? 1 * rsa : 0);
    const float *a2 = a + ((packed || m > 2) ? 2 * rsa : 0);
    const float *a3 = a + ((packed || m > 3) ? 3 * rsa : 0);
    const float *a4 = a + ((packed || m > 4) ? 4 * rsa : 0);
    const float *a5 = a + ((packed || m > 5) ? 5 * rsa : 0);
    const float *a6 = a + ((packed || m > 6) ? 6 * rsa : 0);
    const float *a7 = a + ((packed || m > 7) ? 7 * rsa : 0);
    /* accumulators: row r, columns 0..3 (cr0), 4..7 (cr1), 8..11 (cr2) */
    const float32x4_t zero = vdupq_n_f32(0.0f);
    float32x4_t c00 = zero, c01 = zero, c02 = zero;
    float32x4_t c10 = zero, c11 = zero, c12 = zero;
    float32x4_t c20 = zero, c21 = zero, c22 = zero;
    float32x4_t c30 = zero, c31 = zero, c32 = zero;
    float32x4_t c40 = zero, c41 = zero, c42 = zero;
    float32x4_t c50 = zero, c51 = zero, c52 = zero;
    float32x4_t c60 = zero, c61 = zero, c62 = zero;
    float32x4_t c70 = zero, c71 = zero, c72 = zero;

    /* row r of the tile += A'(r, k) B'(k, :), A'(r, k) being lane `lane` of av */
#define NEON_ROW(r, av, lane)                                                              \
    do {                                                                                   \
        c##r##0 = vfmaq_laneq_f32(c##r##0, b0, av, lane);                                  \
        if (nv > 1) c##r##1 = vfmaq_laneq_f32(c##r##1, b1, av, lane);                      \
        if (nv > 2) c##r##2 = vfmaq_laneq_f32(c##r##2, b2, av, lane);                      \
    } while (0)

    ptrdiff_t o = 0; /* k * csa */
    for (int k = 0; k < kc; k++) {
        /* column k of A': rows 0..3 in alo, rows 4..7 in ahi */
        float32x4_t alo, ahi;
        if (packed) {
            alo = vld1q_f32(a + o);
            ahi = vld1q_f32(a + o + 4);
        } else {
            alo = vld1q_lane_f32(a0 + o, zero, 0);
            alo = vld1q_lane_f32(a1 + o, alo, 1);
            alo = vld1q_lane_f32(a2 + o, alo, 2);
            alo = vld1q_lane_f32(a3 + o, alo, 3);
            ahi = vld1q_lane_f32(a4 + o, zero, 0);
            ahi = vld1q_lane_f32(a5 + o, ahi, 1);
            ahi = vld1q_lane_f32(a6 + o, ahi, 2);
            ahi = vld1q_lane_f32(a7 + o, ahi, 3);
        }
        /* row k of B', zero past n */
        const float32x4_t b0 = masked ? neon_load_cols(b, 0, n) : vld1q_f32(b);
        const float32x4_t b1 = nv < 2 ? zero : masked ? neon_load_cols(b, 1, n) : vld1q_f32(b + 4);
        const float32x4_t b2 = nv < 3 ? zero : masked ? neon_load_cols(b, 2, n) : vld1q_f32(b + 8);
        NEON_ROW(0, alo, 0);
        NEON_ROW(1, alo, 1);
        NEON_ROW(2, alo, 2);
        NEON_ROW(3, alo, 3);
        NEON_ROW(4, ahi, 0);
        NEON_ROW(5, ahi, 1);
        NEON_ROW(6, ahi, 2);
        NEON_ROW(7, ahi, 3);
        o += csa;
        b += rsb;
    }
#undef NEON_ROW

    /* C row r = s, or beta C + s with one rounding (vfmaq), for rows < m and columns < n */
    const float32x4_t vbeta = vdupq_n_f32(beta);
#define NEON_STORE_VEC(cr, s, v)                                                           \
    do {                                                                                   \
        float32x4_t x = (s);                                                               \
        if (masked) {                                                                      \
            if (!overwrite) x = vfmaq_f32(x, vbeta, neon_load_cols(cr, v, n));             \
            neon_store_cols(cr, v, n, x);                                                  \
        } else {                                                                           \
            if (!overwrite) x = vfmaq_f32(x, vbeta, vld1q_f32(cr + 4 * (v)));              \
            vst1q_f32(cr + 4 * (v), x);                                                    \
        }                                                                                  \
    } while (0)
#define NEON_STORE(r)                                                                      \
    do {                                                                                   \
        if ((r) >= m) break;                                                               \
        float *cr = c + (r) * ldc;                                                         \
        NEON_STORE_VEC(cr, c##r##0, 0);                                                    \
        if (nv > 1) NEON_STORE_VEC(cr, c##r##1, 1);                                        \
        if (nv > 2) NEON_STORE_VEC(cr, c##r##2, 2);                                        \
    } while (0)
    NEON_STORE(0);
    NEON_STORE(1);
    NEON_STORE(2);
    NEON_STORE(3);
    NEON_STORE(4);
    NEON_STORE(5);
    NEON_STORE(6);
    NEON_STORE(7);
#undef NEON_STORE
#undef NEON_STORE_VEC
}

static void neon_kernel(int m, int n, int kc, const float *a, ptrdiff_t rsa, ptrdiff_t csa,
                        int a_packed, const float *b, ptrdiff_t rsb, float *c, ptrdiff_t ldc,
                        float beta, int overwrite)
{
    if (a_packed) {
        if (n == NEON_NR)
            neon_tile(m, n, kc, a, rsa, csa, b, rsb, c, ldc, beta, overwrite, 1, 3, 0);
        else if (n > 8)
            neon_tile(m, n, kc, a, rsa, csa, b, rsb, c, ldc, beta, overwrite, 1, 3, 1);
        else if (n > 4)
            neon_tile(m, n, kc, a, rsa, csa, b, rsb, c, ldc, beta, overwrite, 1, 2, 1);
        else
            neon_tile(m, n, kc, a, rsa, csa, b, rsb, c, ldc, beta, overwrite, 1, 1, 1);
    } else {
        if (n == NEON_NR)
            neon_tile(m, n, kc, a, rsa, csa, b, rsb, c, ldc, beta, overwrite, 0, 3, 0);
        else if (n > 8)
            neon_tile(m, n, kc, a, rsa, csa, b, rsb, c, ldc, beta, overwrite, 0, 3, 1);
        else if (n > 4)
            neon_tile(m, n, kc, a, rsa, csa, b, rsb, c, ldc, beta, overwrite, 0, 2, 1);
        else
            neon_tile(m, n, kc, a, rsa, csa, b, rsb, c, ldc, beta, overwrite, 0, 1, 1);
    }
}

/* Transpose the 4 x 4 block held in r[0..3] (row i in r[i]) in place: trn1/trn2 on 32-bit
 * pairs, then on 64-bit halves. */
static inline void neon_transpose4_regs(float32x4_t r[4])
{
    /* t0 = r0[0] r1[0] r0[2] r1[2], t1 = r0[1] r1[1] r0[3] r1[3]; t2, t3 the same of r2, r3 */
    const float32x4_t t0 = vtrn1q_f32(r[0], r[1]), t1 = vtrn2q_f32(r[0], r[1]);
    const float32x4_t t2 = vtrn1q_f32(r[2], r[3]), t3 = vtrn2q_f32(r[2], r[3]);
    /* column j: the low halves (j = 0, 1) or high halves (j = 2, 3) of t_j and t_j+2 */
    r[0] = vreinterpretq_f32_f64(vtrn1q_f64(vreinterpretq_f64_f32(t0), vreinterpretq_f64_f32(t2)));
    r[1] = vreinterpretq_f32_f64(vtrn1q_f64(vreinterpretq_f64_f32(t1), vreinterpretq_f64_f32(t3)));
    r[2] = vreinterpretq_f32_f64(vtrn2q_f64(vreinterpretq_f64_f32(t0), vreinterpretq_f64_f32(t2)));
    r[3] = vreinterpretq_f32_f64(vtrn2q_f64(vreinterpretq_f64_f32(t1), vreinterpretq_f64_f32(t3)));
}

/* dst (8, 8), row stride ldd = src (8, 8)^T, src row stride lds: four 4 x 4 blocks, block
 * (i, j) of dst being block (j, i) of src transposed. */
static void neon_transpose8(float *dst, ptrdiff_t ldd, const float *src, ptrdiff_t lds)
{
    for (int bi = 0; bi < 8; bi += 4)
        for (int bj = 0; bj < 8; bj += 4) {
            float32x4_t r[4];
            for (int i = 0; i < 4; i++) r[i] = vld1q_f32(src + (bi + i) * lds + bj);
            neon_transpose4_regs(r);
            for (int i = 0; i < 4; i++) vst1q_f32(dst + (bj + i) * ldd + bi, r[i]);
        }
}

/* One packed A' panel from 8 rows of A (M, K): dst (kc, 8)[k*8 + i] = src[i*lda + k].
 * Four k at a time: rows 0..3 and rows 4..7 as two 4 x 4 blocks, each transposed. */
static void neon_pack_a_rows8(float *dst, const float *src, ptrdiff_t lda, int kc)
{
    int k = 0;
    for (; k + 4 <= kc; k += 4)
        for (int h = 0; h < 8; h += 4) {
            float32x4_t r[4];
            for (int i = 0; i < 4; i++) r[i] = vld1q_f32(src + (h + i) * lda + k);
            neon_transpose4_regs(r);
            for (int j = 0; j < 4; j++) vst1q_f32(dst + (ptrdiff_t)(k + j) * 8 + h, r[j]);
        }
    for (; k < kc; k++)
        for (int i = 0; i < 8; i++) dst[(ptrdiff_t)k * 8 + i] = src[i * lda + k];
}

static const gemm_kernel neon_kernel_desc = {
    "neon", NEON_MR, NEON_NR, 128, 256, 2040, neon_kernel, neon_transpose8, neon_pack_a_rows8
};

#endif /* ANN_GEMM_NEON */

/* ---- kernel choice, once per process ------------------------------------------------------ */

static ann__once g_init_once = ANN__ONCE_INIT;
static const gemm_kernel *g_kernel = &portable_kernel_desc;
static int g_initialized;       /* gemm_init made the caller-buffer key; atomic */

static const gemm_kernel *choose_kernel(void)
{
#if ANN_GEMM_X86
    __builtin_cpu_init();
    const int has_avx512 = __builtin_cpu_supports("avx512f");
    const int has_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    /* ANN_KERNEL=portable|avx2|avx512 forces a kernel, so tests can run every path the CPU
     * has; a kernel the CPU lacks is never forced (we fall through to the best one). */
    const char *want = getenv("ANN_KERNEL");
    if (want && strcmp(want, "portable") == 0) return &portable_kernel_desc;
    if (want && (strcmp(want, "avx2") == 0 || strcmp(want, "avx2-fma") == 0) && has_avx2)
        return &avx2_kernel_desc;
    if (want && (strcmp(want, "avx512") == 0 || strcmp(want, "avx512f") == 0) && has_avx512)
        return &avx512_kernel_desc;
    if (has_avx512) return &avx512_kernel_desc;
    if (has_avx2) return &avx2_kernel_desc;
#elif ANN_GEMM_NEON
    /* NEON is baseline on aarch64, so it is the default; ANN_KERNEL=portable forces the
     * portable kernel, and any other value (neon included) gives NEON. */
    const char *want = getenv("ANN_KERNEL");
    if (want && strcmp(want, "portable") == 0) return &portable_kernel_desc;
    return &neon_kernel_desc;
#endif
    return &portable_kernel_desc;
}

static ann__tls_key g_caller_buffers_key;
static void ANN__CALLBACK free_caller_buffers(void *p);

static void gemm_init(void)
{
    g_kernel = choose_kernel();
    if (ann__tls_create(&g_caller_buffers_key, free_caller_buffers) != 0) return;
    ann__atomic_store(&g_initialized, 1);
}

static void ensure_init(void) { ann__call_once(&g_init_once, gemm_init); }

const char *ann_kernel_name(void)
{
    ensure_init();
    return g_kernel->name;
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

/* Below this many flops per chunk, waking a sleeping thread (tens of microseconds) or
 * packing a chunk's operands again costs more than the split saves. */
#define MIN_FLOPS_PER_CHUNK (3.0 * 1024 * 1024)

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

/* Shared argument checks. M, N, K must be >= 1 (zero is ANN_E_SIZE, as everywhere in ann.h);
 * each leading dimension must cover the stored row: lda >= (trans_a ? M : K),
 * ldb >= (trans_b ? K : N), ldc >= N. */
static int check_args(int trans_a, int trans_b, int M, int N, int K, const float *A, int lda,
                      const float *B, int ldb, const float *C, int ldc)
{
    if (!A || !B || !C) return ANN_E_NULL;
    if (M < 1 || N < 1 || K < 1) return ANN_E_SIZE;
    if (lda < (trans_a ? M : K)) return ANN_E_SIZE;
    if (ldb < (trans_b ? K : N)) return ANN_E_SIZE;
    if (ldc < N) return ANN_E_SIZE;
    return ANN_OK;
}

/*
 * The textbook triple loop: C(i,j) = beta C(i,j) + sum_k A'(i,k) B'(k,j), k increasing, in a
 * float accumulator (the same precision the fast kernel keeps; its error bound is ~K eps).
 */
int ann_sgemm_naive(int trans_a, int trans_b, int M, int N, int K,
                    const float *A, int lda, const float *B, int ldb,
                    float beta, float *C, int ldc)
{
    const int status = check_args(trans_a, trans_b, M, N, K, A, lda, B, ldb, C, ldc);
    if (status != ANN_OK) return status;
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            float s = 0.0f;
            for (int k = 0; k < K; k++) {
                const float a = trans_a ? A[(ptrdiff_t)k * lda + i] : A[(ptrdiff_t)i * lda + k];
                const float b = trans_b ? B[(ptrdiff_t)j * ldb + k] : B[(ptrdiff_t)k * ldb + j];
                s += a * b;
            }
            float *c = &C[(ptrdiff_t)i * ldc + j];
            *c = beta == 0.0f ? s : beta * *c + s;
        }
    }
    return ANN_OK;
}

int ann_sgemm(int trans_a, int trans_b, int M, int N, int K,
              const float *A, int lda, const float *B, int ldb,
              float beta, float *C, int ldc)
{
    const int status = check_args(trans_a, trans_b, M, N, K, A, lda, B, ldb, C, ldc);
    if (status != ANN_OK) return status;
    ensure_init();
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
    return run_job(&p, threads);
}
