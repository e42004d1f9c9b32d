/*
 * gemm_naive.c -- what a GEMM computes: the textbook triple loop, the reference that every
 * fast kernel (gemm.c and the gemm_*.c kernel files) is tested against. Read this file first;
 * docs/gemm.md walks through the rest.
 *
 * GEMM ("general matrix multiply", the BLAS name) computes, in single precision,
 *
 *   C = A' B' + beta C,   C(i, j) = beta C(i, j) + sum over k of A'(i, k) B'(k, j)
 *
 * Shape legend (as in ann.h):
 *   C (M, N)    the output, row stride ldc
 *   A' (M, K)   A itself (stored (M, K), row stride lda) or A^T (A stored (K, M)) when trans_a
 *   B' (K, N)   B itself (stored (K, N), row stride ldb) or B^T (B stored (N, K)) when trans_b
 *
 * A dense layer needs three of the four forms (ops.c, net.c; x (B, n_in), W (n_in, n_out)):
 *   forward      y (B, n_out)     = x W            trans_a = 0, trans_b = 0
 *   input grad   dx (B, n_in)     = dy W^T         trans_a = 0, trans_b = 1
 *   weight grad  dW (n_in, n_out) = x^T dy         trans_a = 1, trans_b = 0
 * beta = 0 overwrites C (it is never read, so it may hold NaN); beta = 1 adds to it.
 *
 * Each C(i, j) is summed in a float, k increasing, a multiply and an add per k (which the
 * compiler may contract into one fused multiply-add where the target has one: the build uses
 * -ffp-contract=fast). The fast kernels sum in K blocks with fused multiply-adds, so they
 * differ from this one by rounding; tests/c/test_gemm.c and tests/test_gemm.py bound the
 * difference by ~K eps.
 */
#include "ann.h"
#include "gemm_kernel.h"
#include "platform.h"

#include <stddef.h>

/* M, N, K must be >= 1 (zero is ANN_E_SIZE, as everywhere in ann.h); each leading dimension
 * must cover the stored row: lda >= (trans_a ? M : K), ldb >= (trans_b ? K : N), ldc >= N. */
int ann__gemm_check_args(int trans_a, int trans_b, int M, int N, int K, const float *A,
                         int lda, const float *B, int ldb, const float *C, int ldc)
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
    const int status = ann__gemm_check_args(trans_a, trans_b, M, N, K, A, lda, B, ldb, C, ldc);
    if (status != ANN_OK) return status;
    const ann__fpmode fp = ann__flush_denormals(); /* as ann_sgemm: platform.h */
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
    ann__restore_fpmode(fp);
    return ANN_OK;
}
