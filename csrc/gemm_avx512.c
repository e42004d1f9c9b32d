/*
 * gemm_avx512.c -- the AVX-512F micro-kernel (x86-64): an 8 x 32 tile of C.
 *
 * Sixteen 16-wide accumulators (8 rows, two zmm vectors each), two registers for the row of
 * B' and one for the broadcast A' value: 19 of the 32 zmm registers. Per k it issues 16 FMAs
 * (8 cycles on two 512-bit FMA pipes) against 2 + 8 loads. The shape was measured against
 * 6 x 32 (the AVX2 kernel's shape, which this kernel had before), 12 x 32 and 14 x 32 on a
 * 2-core AMD EPYC (Zen 5, two 512-bit FMA pipes, 48 KiB L1d, 1 MiB L2), minimum time per
 * call: at 128 x 1024 x 1024, 8 x 32 ran A B at 200-217 GFLOP/s against 6 x 32's 189-202 and
 * 12 / 14 x 32's 176-191, with a one-core FMA peak of 234 GFLOP/s. Eight rows also divide the
 * batch sizes an MLP uses (32, 128, 256), so no tile of C is a mostly empty edge. KC = 384
 * (a B' panel is 48 KiB, read from L1/L2; 256..512 were within noise) and MC = 192.
 *
 * It stays deliberately plain: the row loop is unrolled by the compiler, and the variants are
 * the packed / in-place, one / two vector and masked / unmasked splits. Packing uses the AVX2
 * 8 x 8 transpose from gemm_avx2.c (every AVX-512F CPU has AVX2).
 *
 * Every function carries its own target attribute, so this file builds without -mavx512f and
 * gemm.c runs it only on a CPU that reports AVX-512F. The contract it implements is in
 * gemm_kernel.h.
 */
#include "gemm_kernel.h"

#include <stddef.h>

#if ANN_GEMM_X86
#include <immintrin.h>

#ifndef AVX512_MR
#define AVX512_MR 8
#endif
#define AVX512_NR 32

/*
 * The compile-time flags (constants after inlining) pick a variant:
 *   packed: A' is a packed panel (rsa = 1, csa = MR), so the row pointers are a + r
 *   nv:     vectors of B' per row that matter, 1 (n <= 16) or 2
 *   masked: n < 32, so loads of B' and loads/stores of C are masked to columns < n
 * Every variant computes each element with the same FMAs in the same order, so which one runs
 * never changes a bit. The accumulators are arrays indexed by constants after unrolling, which
 * GCC and clang keep in zmm registers (2 MR of the 32).
 */
static inline __attribute__((always_inline, target("avx512f"))) void
avx512_tile(int m, int n, int kc, const float *a, ptrdiff_t rsa, ptrdiff_t csa, const float *b,
            ptrdiff_t rsb, float *c, ptrdiff_t ldc, float beta, int overwrite, const int packed,
            const int nv, const int masked)
{
    if (packed) {
        rsa = 1;
        csa = AVX512_MR;
    }
    /* lanes j < n of the first vector, j < n - 16 of the second (n is 1..32) */
    const __mmask16 mask0 = n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1u);
    const __mmask16 mask1 = n >= 32   ? (__mmask16)0xFFFF
                            : n <= 16 ? (__mmask16)0
                                      : (__mmask16)((1u << (n - 16)) - 1u);
    /* Row pointers of A'; in place, rows past m read row 0 again (their sums are dropped). */
    const float *ar[AVX512_MR];
#pragma GCC unroll 16
    for (int r = 0; r < AVX512_MR; r++) ar[r] = a + ((packed || r < m) ? r * rsa : 0);
    __m512 acc0[AVX512_MR], acc1[AVX512_MR]; /* row r, columns 0..15 and 16..31 */
#pragma GCC unroll 16
    for (int r = 0; r < AVX512_MR; r++) acc0[r] = acc1[r] = _mm512_setzero_ps();

    for (int r = 0; r < m; r++) { /* fetch the C tile while the k loop runs */
        _mm_prefetch((const char *)(c + r * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + r * ldc + n - 1), _MM_HINT_T0);
    }
    ptrdiff_t o = 0; /* k * csa */
    for (int k = 0; k < kc; k++) {
        const __m512 b0 = masked ? _mm512_maskz_loadu_ps(mask0, b) : _mm512_loadu_ps(b);
        const __m512 b1 = nv < 2   ? _mm512_setzero_ps()
                          : masked ? _mm512_maskz_loadu_ps(mask1, b + 16)
                                   : _mm512_loadu_ps(b + 16);
#pragma GCC unroll 16
        for (int r = 0; r < AVX512_MR; r++) {
            const __m512 x = _mm512_set1_ps(ar[r][o]);
            acc0[r] = _mm512_fmadd_ps(x, b0, acc0[r]);
            if (nv == 2) acc1[r] = _mm512_fmadd_ps(x, b1, acc1[r]);
        }
        o += csa;
        b += rsb;
    }

    /* C row r = s, or beta C + s with one rounding, for rows < m and columns < n */
    const __m512 vbeta = _mm512_set1_ps(beta);
#pragma GCC unroll 16
    for (int r = 0; r < AVX512_MR; r++) {
        if (r >= m) break;
        float *cr = c + r * ldc;
        __m512 v0 = acc0[r], v1 = acc1[r];
        if (masked) {
            if (!overwrite) v0 = _mm512_fmadd_ps(vbeta, _mm512_maskz_loadu_ps(mask0, cr), v0);
            _mm512_mask_storeu_ps(cr, mask0, v0);
            if (nv == 2) {
                if (!overwrite)
                    v1 = _mm512_fmadd_ps(vbeta, _mm512_maskz_loadu_ps(mask1, cr + 16), v1);
                _mm512_mask_storeu_ps(cr + 16, mask1, v1);
            }
        } else {
            if (!overwrite) {
                v0 = _mm512_fmadd_ps(vbeta, _mm512_loadu_ps(cr), v0);
                v1 = _mm512_fmadd_ps(vbeta, _mm512_loadu_ps(cr + 16), v1);
            }
            _mm512_storeu_ps(cr, v0);
            _mm512_storeu_ps(cr + 16, v1);
        }
    }
}

static __attribute__((target("avx512f"))) void
avx512_kernel(int m, int n, int kc, const float *a, ptrdiff_t rsa, ptrdiff_t csa, int a_packed,
              const float *b, ptrdiff_t rsb, float *c, ptrdiff_t ldc, float beta, int overwrite)
{
    if (a_packed) {
        if (n == AVX512_NR)
            avx512_tile(m, n, kc, a, rsa, csa, b, rsb, c, ldc, beta, overwrite, 1, 2, 0);
        else if (n > 16)
            avx512_tile(m, n, kc, a, rsa, csa, b, rsb, c, ldc, beta, overwrite, 1, 2, 1);
        else
            avx512_tile(m, n, kc, a, rsa, csa, b, rsb, c, ldc, beta, overwrite, 1, 1, 1);
    } else {
        if (n == AVX512_NR)
            avx512_tile(m, n, kc, a, rsa, csa, b, rsb, c, ldc, beta, overwrite, 0, 2, 0);
        else if (n > 16)
            avx512_tile(m, n, kc, a, rsa, csa, b, rsb, c, ldc, beta, overwrite, 0, 2, 1);
        else
            avx512_tile(m, n, kc, a, rsa, csa, b, rsb, c, ldc, beta, overwrite, 0, 1, 1);
    }
}

#if AVX512_MR == 8
/* One packed A' panel from 8 rows of A (M, K): dst (kc, 8)[k*8 + i] = src[i*lda + k], eight
 * k at a time by the AVX2 8 x 8 transpose. */
static __attribute__((target("avx2"))) void
avx512_pack_a_rows8(float *dst, const float *src, ptrdiff_t lda, int kc)
{
    int k = 0;
    for (; k + 8 <= kc; k += 8) ann__avx2_transpose8(dst + (ptrdiff_t)k * 8, 8, src + k, lda);
    for (; k < kc; k++)
        for (int i = 0; i < 8; i++) dst[(ptrdiff_t)k * 8 + i] = src[i * lda + k];
}
#define AVX512_PACK_A_ROWS avx512_pack_a_rows8
#elif AVX512_MR == 6
#define AVX512_PACK_A_ROWS ann__avx2_pack_a_rows6
#else
#define AVX512_PACK_A_ROWS NULL
#endif

#ifndef AVX512_KC
#define AVX512_KC 384
#endif
#ifndef AVX512_MC
#define AVX512_MC 192
#endif
_Static_assert(AVX512_MC % AVX512_MR == 0, "MC must be a multiple of MR (gemm_kernel.h)");
const gemm_kernel ann__gemm_avx512 = {
    "avx512f", AVX512_MR, AVX512_NR, AVX512_MC, AVX512_KC, 2048, avx512_kernel,
    ann__avx2_transpose8, AVX512_PACK_A_ROWS
};

#endif /* ANN_GEMM_X86 */
