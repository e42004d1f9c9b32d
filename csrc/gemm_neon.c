/*
 * gemm_neon.c -- the NEON micro-kernel (aarch64): an 8 x 12 tile of C.
 *
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
 * differently and builds the portable kernel alone. The contract it implements is in
 * gemm_kernel.h.
 */
#include "gemm_kernel.h"

#include <stddef.h>

#if ANN_GEMM_NEON
#include <arm_neon.h>

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

const gemm_kernel ann__gemm_neon = {
    "neon", NEON_MR, NEON_NR, 128, 256, 2040, neon_kernel, neon_transpose8, neon_pack_a_rows8
};

#endif /* ANN_GEMM_NEON */
