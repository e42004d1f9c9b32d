/*
 * gemm_avx2.c -- the AVX2 + FMA micro-kernel (x86-64): a 6 x 16 tile of C, and the AVX2
 * transposes that packing uses (the AVX-512 kernel shares them).
 *
 * Twelve 8-wide accumulators, two registers for the B row and one for the broadcast A value
 * fill 15 of the 16 ymm registers. Per k it issues 12 FMAs (6 cycles on two FMA pipes) against
 * 2 + 6 loads, so the FMA pipes set the pace. KC = 256 makes a B panel 16 KiB (half of L1d);
 * MC = 144 makes the packed A block 144 KiB (L2 is 512 KiB on the Zen 3 this was tuned on);
 * NC = 2048 bounds the packed B block (2 MiB) and each thread's buffers. Block sizes were
 * measured, not guessed: on the development machine KC 256..512, MC 72..288 and NC
 * 1024..4096 are all within noise.
 *
 * Every function carries its own target attribute, so this file builds without -mavx2 and
 * gemm.c runs it only on a CPU that reports AVX2 and FMA. The contract it implements is in
 * gemm_kernel.h.
 */
#include "gemm_kernel.h"

#include <stddef.h>

#if ANN_GEMM_X86
#include <immintrin.h>

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
__attribute__((target("avx2"))) void
ann__avx2_transpose8(float *dst, ptrdiff_t ldd, const float *src, ptrdiff_t lds)
{
    __m256 r[8];
    for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(src + i * lds);
    avx2_transpose8_regs(r);
    for (int i = 0; i < 8; i++) _mm256_storeu_ps(dst + i * ldd, r[i]);
}

/* One packed A' panel from 6 rows of A (M, K): dst (kc, 6)[k*6 + i] = src[i*lda + k].
 * Eight k at a time: load 6 rows (plus 2 zero rows), transpose, keep 6 lanes per k. */
__attribute__((target("avx2"))) void
ann__avx2_pack_a_rows6(float *dst, const float *src, ptrdiff_t lda, int kc)
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

const gemm_kernel ann__gemm_avx2 = {
    "avx2-fma", AVX2_MR, AVX2_NR, 144, 256, 2048, avx2_kernel, ann__avx2_transpose8,
    ann__avx2_pack_a_rows6
};

#endif /* ANN_GEMM_X86 */
