/*
 * gemm_kernel.h -- what the GEMM driver (gemm.c) shares with its micro-kernels
 * (gemm_portable.c, gemm_avx2.c, gemm_avx512.c, gemm_neon.c); not part of the public API.
 *
 * A kernel family is one gemm_kernel descriptor: its micro-kernel (the innermost product of
 * one MR x NR tile of C, held in registers), its tile and cache-block sizes, and optional
 * packing helpers. gemm.c chooses one descriptor per process (ANN_KERNEL or the CPU) and runs
 * every product's blocking, packing and threads around it. Shapes as in ann.h and gemm.c.
 */
#ifndef ANN_GEMM_KERNEL_H
#define ANN_GEMM_KERNEL_H
#include <stddef.h>

/* Which kernel families this compiler and target can build. The x86 kernels carry per-function
 * target attributes (no -march flag), so they are compiled everywhere gcc or clang targets x86
 * and chosen at run time by the CPU; NEON is baseline on aarch64. */
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define ANN_GEMM_X86 1
#else
#define ANN_GEMM_X86 0
#endif
#if defined(__aarch64__) && defined(__ARM_NEON)
#define ANN_GEMM_NEON 1
#else
#define ANN_GEMM_NEON 0
#endif

/*
 * The micro-kernel contract. One micro-tile: C (m, n) at c, row stride ldc, with
 * 1 <= m <= MR and 1 <= n <= NR.
 *   A'(r, k) = a[r * rsa + k * csa]   packed panel: rsa = 1, csa = MR, a_packed = 1, rows
 *                                      m..MR-1 hold zeros and may be read
 *                                      in place: rows m..MR-1 must not be touched
 *   B'(k, j) = b[k * rsb + j]          packed panel: rsb = NR; in place: rsb = ldb; columns
 *                                      n..NR-1 are never read
 *   s(r, j)  = sum over k = 0..kc-1, increasing, of A'(r, k) B'(k, j), started from 0
 *   C(r, j)  = s(r, j) when overwrite (C is not read), else beta * C(r, j) + s(r, j)
 * Each element's arithmetic must not depend on m, n or a_packed (which variant of the tile
 * runs), so that any split of C between threads gives the same bits.
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

/* The kernel families (each in its own file). */
extern const gemm_kernel ann__gemm_portable; /* gemm_portable.c: 4 x 8, plain C, everywhere */
#if ANN_GEMM_X86
extern const gemm_kernel ann__gemm_avx2;   /* gemm_avx2.c: 6 x 16, AVX2 + FMA */
extern const gemm_kernel ann__gemm_avx512; /* gemm_avx512.c: 8 x 32, AVX-512F */
/* gemm_avx2.c's packing helpers, which the AVX-512 kernel shares (they need AVX2 only). */
void ann__avx2_transpose8(float *dst, ptrdiff_t ldd, const float *src, ptrdiff_t lds);
void ann__avx2_pack_a_rows6(float *dst, const float *src, ptrdiff_t lda, int kc);
#endif
#if ANN_GEMM_NEON
extern const gemm_kernel ann__gemm_neon; /* gemm_neon.c: 8 x 12, aarch64 */
#endif

/* gemm_naive.c: the argument checks ann_sgemm and ann_sgemm_naive share (ANN_OK or the
 * status code, see there). */
int ann__gemm_check_args(int trans_a, int trans_b, int M, int N, int K, const float *A,
                         int lda, const float *B, int ldb, const float *C, int ldc);

#endif
