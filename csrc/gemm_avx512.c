/*
 * gemm_avx512.c -- the AVX-512F micro-kernel (x86-64): a 6 x 32 tile of C.
 *
 * Line for line the AVX2 kernel (gemm_avx2.c) with 16-wide zmm vectors and mask registers,
 * KC = 128 so its 32-wide B panel is still 16 KiB. It stays deliberately plain: no variants
 * beyond the masked / unmasked split, no unrolling hints. Packing uses the AVX2 transposes
 * from gemm_avx2.c (every AVX-512F CPU has AVX2).
 *
 * Every function carries its own target attribute, so this file builds without -mavx512f and
 * gemm.c runs it only on a CPU that reports AVX-512F. The contract it implements is in
 * gemm_kernel.h.
 */
#include "gemm_kernel.h"

#include <stddef.h>

#if ANN_GEMM_X86
#include <immintrin.h>

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

const gemm_kernel ann__gemm_avx512 = {
    "avx512f", AVX512_MR, AVX512_NR, 192, 128, 2048, avx512_kernel, ann__avx2_transpose8,
    ann__avx2_pack_a_rows6
};

#endif /* ANN_GEMM_X86 */
