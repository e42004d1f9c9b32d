/*
 * gemm_portable.c -- the portable C micro-kernel: a 4 x 8 tile of C, plain C that any C11
 * compiler builds. Small enough for 16 SSE registers or NEON, which the compiler finds on its
 * own; the fallback on every CPU and the one ANN_KERNEL=portable forces. The contract it
 * implements is in gemm_kernel.h; gemm.c does the blocking and packing around it.
 * Summation: a multiply then an add per k (fused only if the compiler contracts them), so its
 * results differ from the FMA kernels' by rounding.
 */
#include "gemm_kernel.h"

#include <stddef.h>

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

const gemm_kernel ann__gemm_portable = {
    "portable", PORT_MR, PORT_NR, 128, 256, 2048, portable_kernel, NULL, NULL
};
