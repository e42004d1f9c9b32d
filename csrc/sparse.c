/*
 * sparse.c -- layer 0 straight from uint8 pixels, visiting only the nonzero ones.
 *
 * A dense layer computes y_r = b + sum_i x_ri W[i, :]. A pixel that is 0 adds nothing, and
 * about 81 % of MNIST's pixels are 0. So the input rows are kept as compressed rows (the
 * index and uint8 value of each nonzero pixel), and both products of layer 0 visit only those:
 *   forward:  y[r, :]  = b + sum over nonzero i of (v_ri / 255) W[i, :]
 *   backward: dW[i, :] = sum over rows r with v_ri != 0 of (v_ri / 255) dy[r, :]
 * (dx of layer 0 is never needed.) Each sum runs in a fixed order -- increasing i, increasing
 * r -- on one thread, so results do not depend on the thread count.
 *
 * The compressed rows come from one of two places:
 *   - a data-set index (ann_sparse_index), built once for all N images and shared by every
 *     epoch and every network that trains on them: a batch then just looks its rows up;
 *   - otherwise, a scan of the batch's rows into per-batch buffers.
 *
 * Shapes: D pixels per image, n_out the width of layer 0. The AVX2 kernels hold up to 32 of
 * a row's outputs in four vector registers across all of its nonzeros; a width that is not a
 * multiple of 8 ends in a masked load (forward) or a few scalar stores (backward), so W, b and
 * dy are used in place, with no padded copies.
 */
#include "ann.h"
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define ANN_HAVE_AVX2_CLONE 1
#define ANN_AVX2 __attribute__((target("avx2,fma")))
#include <immintrin.h>
#else
#define ANN_HAVE_AVX2_CLONE 0
#define ANN_AVX2
#endif

#define SCALE (1.0f / 255.0f)
#define CHUNK 32           /* output columns per pass: four 8-float vectors of accumulators */

/* ---- choosing the AVX2 + FMA versions at run time ---------------------------------------- */

#if ANN_HAVE_AVX2_CLONE
static int use_avx2(void)
{
    static int cached = -1;     /* benign race: every thread computes the same answer */
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return cached;
}
#endif

/* ---- finding the nonzero pixels ---------------------------------------------------------- */

/* The nonzero pixels of one row src (D): their indices into col, values into val; returns how
 * many. Portable version: skip 8 zero pixels at a time, then write each slot and advance only
 * past a nonzero (branch-free; the buffers have room for D entries). */
static int64_t scan_row_base(const uint8_t *src, int D, uint16_t *col, uint8_t *val)
{
    int64_t count = 0;
    int i = 0;
    for (; i + 8 <= D; i += 8) {
        uint64_t word;
        memcpy(&word, src + i, sizeof word);
        if (!word) continue;
        for (int k = i; k < i + 8; k++) {
            col[count] = (uint16_t)k;
            val[count] = src[k];
            count += src[k] != 0;
        }
    }
    for (; i < D; i++) {
        col[count] = (uint16_t)i;
        val[count] = src[i];
        count += src[i] != 0;
    }
    return count;
}

#if ANN_HAVE_AVX2_CLONE
/* 32 pixels per compare: the bit mask of nonzero bytes, then one step per set bit. */
ANN_AVX2 static int64_t scan_row_avx2(const uint8_t *src, int D, uint16_t *col, uint8_t *val)
{
    int64_t count = 0;
    int i = 0;
    const __m256i zero = _mm256_setzero_si256();
    for (; i + 32 <= D; i += 32) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(src + i));
        uint32_t mask = ~(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, zero));
        while (mask) {
            int k = i + __builtin_ctz(mask);
            col[count] = (uint16_t)k;
            val[count++] = src[k];
            mask &= mask - 1;
        }
    }
    for (; i < D; i++)
        if (src[i]) { col[count] = (uint16_t)i; val[count++] = src[i]; }
    return count;
}
#endif

static int64_t scan_row(const uint8_t *src, int D, uint16_t *col, uint8_t *val)
{
#if ANN_HAVE_AVX2_CLONE
    if (use_avx2()) return scan_row_avx2(src, D, col, val);
#endif
    return scan_row_base(src, D, col, val);
}

/* ---- the data-set index ------------------------------------------------------------------ */

struct ann_sparse_index {
    int64_t N;
    int D;
    int64_t *ptr;       /* (N + 1) row n's nonzeros are col/val[ptr[n] .. ptr[n + 1]) */
    uint16_t *col;      /* (nnz) pixel index */
    uint8_t *val;       /* (nnz) pixel value, 1..255 */
};

int ann_sparse_index_create(ann_sparse_index **out, const uint8_t *images, int64_t N, int D)
{
    if (!out || !images) return ANN_E_NULL;
    *out = NULL;
    if (N < 1 || D < 1 || D > 65536) return ANN_E_SIZE;
    /* first pass: count, so the arrays are allocated exactly */
    uint16_t *row_col = malloc((size_t)D * sizeof *row_col);
    uint8_t *row_val = malloc((size_t)D);
    int64_t *ptr = malloc((size_t)(N + 1) * sizeof *ptr);
    if (!row_col || !row_val || !ptr) {
        free(row_col);
        free(row_val);
        free(ptr);
        return ANN_E_NOMEM;
    }
    ptr[0] = 0;
    for (int64_t n = 0; n < N; n++)
        ptr[n + 1] = ptr[n] + scan_row(images + (size_t)n * D, D, row_col, row_val);
    free(row_col);
    free(row_val);
    ann_sparse_index *index = calloc(1, sizeof *index);
    int64_t nnz = ptr[N];
    /* +D: the branch-free scan writes up to D slots past the last nonzero */
    uint16_t *col = malloc((size_t)(nnz + D) * sizeof *col);
    uint8_t *val = malloc((size_t)(nnz + D));
    if (!index || !col || !val) {
        free(index);
        free(col);
        free(val);
        free(ptr);
        return ANN_E_NOMEM;
    }
    for (int64_t n = 0; n < N; n++)
        scan_row(images + (size_t)n * D, D, col + ptr[n], val + ptr[n]);
    index->N = N;
    index->D = D;
    index->ptr = ptr;
    index->col = col;
    index->val = val;
    *out = index;
    return ANN_OK;
}

void ann_sparse_index_destroy(ann_sparse_index *index)
{
    if (!index) return;
    free(index->ptr);
    free(index->col);
    free(index->val);
    free(index);
}

double ann_sparse_index_density(const ann_sparse_index *index)
{
    if (!index) return 0.0;
    return (double)index->ptr[index->N] / ((double)index->N * index->D);
}

/* ---- a batch's rows ------------------------------------------------------------------------ */

int ann__sparse_rows(ann__sparse_batch *batch, const ann_sparse_index *index,
                     const uint8_t *images, int64_t N, int D, const int32_t *idx, int64_t first,
                     int B)
{
    if (index) {                        /* look the rows up: no pixel is read */
        for (int r = 0; r < B; r++) {
            int64_t row = idx ? idx[r] : first + r;
            batch->start[r] = index->ptr[row];
            batch->end[r] = index->ptr[row + 1];
        }
        batch->col = index->col;
        batch->val = index->val;
        return 1;
    }
    /* scan them; give up (return 0) as soon as more than half the pixels are nonzero, since
     * the dense GEMM is then faster */
    const int64_t limit = (int64_t)B * D / 2;
    int64_t count = 0;
    for (int r = 0; r < B; r++) {
        const uint8_t *src = images + (size_t)(idx ? idx[r] : first + r) * D;   /* (D) */
        batch->start[r] = count;
        count += scan_row(src, D, batch->own_col + count, batch->own_val + count);
        batch->end[r] = count;
        if (count > limit) return 0;
    }
    (void)N;
    batch->col = batch->own_col;
    batch->val = batch->own_val;
    return 1;
}

/* ---- the kernels --------------------------------------------------------------------------- */

/*
 * Work is split by CHUNK-column slices of the output: a task computes y[:, slice] for every
 * row (forward), or dW[:, slice] over every nonzero (backward). The slice of W (or dW) it
 * touches -- D x 32 floats, 100 KB for MNIST -- stays in the L2 cache while all the rows go
 * by, and tasks never write the same element, so they can run on any threads in any order.
 */
typedef struct {
    const ann__sparse_batch *s;
    float *out;                 /* forward: y (B, n_out)   backward: dW (D, n_out) */
    const float *W, *b;         /* forward: W (D, n_out), b (n_out) */
    const float *g;             /* backward: dy (B, n_out) */
    int B, D, n_out;
} sparse_job;

static void forward_slice_base(const sparse_job *job, int j0, int cw)
{
    const ann__sparse_batch *s = job->s;
    const int n = job->n_out;
    float acc[CHUNK];
    for (int r = 0; r < job->B; r++) {
        memcpy(acc, job->b + j0, (size_t)cw * sizeof(float));
        for (int64_t k = s->start[r]; k < s->end[r]; k++) {
            const float x = s->val[k] * SCALE, *w = job->W + (size_t)s->col[k] * n + j0;
            for (int j = 0; j < cw; j++) acc[j] += x * w[j];
        }
        memcpy(job->out + (size_t)r * n + j0, acc, (size_t)cw * sizeof(float));
    }
}

static void backward_slice_base(const sparse_job *job, int j0, int cw)
{
    const ann__sparse_batch *s = job->s;
    const int n = job->n_out;
    for (int i = 0; i < job->D; i++)
        memset(job->out + (size_t)i * n + j0, 0, (size_t)cw * sizeof(float));
    for (int r = 0; r < job->B; r++) {
        const float *g = job->g + (size_t)r * n + j0;
        for (int64_t k = s->start[r]; k < s->end[r]; k++) {
            const float x = s->val[k] * SCALE;
            float *row = job->out + (size_t)s->col[k] * n + j0;
            for (int j = 0; j < cw; j++) row[j] += x * g[j];
        }
    }
}

#if ANN_HAVE_AVX2_CLONE
/* Lanes 0..count-1 on: the mask of a partial vector. */
ANN_AVX2 static __m256i lanes(int count)
{
    static const int32_t ones_then_zeros[16] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                                0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_loadu_si256((const __m256i *)(const void *)(ones_then_zeros + 8 - count));
}

/* forward_slice_base with the accumulators spelled out as up to four AVX registers; the last
 * vector of a slice whose width is not a multiple of 8 is read with a masked load (no reads
 * past the row). */
ANN_AVX2 static void forward_slice_avx2(const sparse_job *job, int j0, int cw)
{
    const ann__sparse_batch *s = job->s;
    const int n = job->n_out, nv = (cw + 7) / 8, tail = cw % 8;
    const __m256i last = lanes(tail ? tail : 8);
    float out[CHUNK];
#define ANN_LOAD(p, v) ((v) == nv - 1 ? _mm256_maskload_ps((p) + 8 * (v), last) \
                                      : _mm256_loadu_ps((p) + 8 * (v)))
    for (int r = 0; r < job->B; r++) {
        const float *b = job->b + j0;
        __m256 a0 = ANN_LOAD(b, 0), a1 = _mm256_setzero_ps();
        __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
        if (nv > 1) a1 = ANN_LOAD(b, 1);
        if (nv > 2) a2 = ANN_LOAD(b, 2);
        if (nv > 3) a3 = ANN_LOAD(b, 3);
        for (int64_t k = s->start[r]; k < s->end[r]; k++) {
            const __m256 x = _mm256_set1_ps(s->val[k] * SCALE);
            const float *w = job->W + (size_t)s->col[k] * n + j0;
            a0 = _mm256_fmadd_ps(x, ANN_LOAD(w, 0), a0);
            if (nv > 1) a1 = _mm256_fmadd_ps(x, ANN_LOAD(w, 1), a1);
            if (nv > 2) a2 = _mm256_fmadd_ps(x, ANN_LOAD(w, 2), a2);
            if (nv > 3) a3 = _mm256_fmadd_ps(x, ANN_LOAD(w, 3), a3);
        }
        _mm256_storeu_ps(out, a0);
        _mm256_storeu_ps(out + 8, a1);
        _mm256_storeu_ps(out + 16, a2);
        _mm256_storeu_ps(out + 24, a3);
        memcpy(job->out + (size_t)r * n + j0, out, (size_t)cw * sizeof(float));
    }
#undef ANN_LOAD
}

/* Backward: whole vectors read-modify-write dW's row; a partial last vector is computed from a
 * masked load and written back lane by lane (masked stores are slow on some AMD cores). */
ANN_AVX2 static void backward_slice_avx2(const sparse_job *job, int j0, int cw)
{
    const ann__sparse_batch *s = job->s;
    const int n = job->n_out, full = cw / 8 * 8, tail = cw - full;
    const __m256i last = lanes(tail ? tail : 8);
    float spill[8];
    for (int i = 0; i < job->D; i++)
        memset(job->out + (size_t)i * n + j0, 0, (size_t)cw * sizeof(float));
    for (int r = 0; r < job->B; r++) {
        const float *g = job->g + (size_t)r * n + j0;
        const __m256 g_tail = tail ? _mm256_maskload_ps(g + full, last) : _mm256_setzero_ps();
        for (int64_t k = s->start[r]; k < s->end[r]; k++) {
            const __m256 x = _mm256_set1_ps(s->val[k] * SCALE);
            float *row = job->out + (size_t)s->col[k] * n + j0;
            for (int j = 0; j < full; j += 8)
                _mm256_storeu_ps(row + j, _mm256_fmadd_ps(x, _mm256_loadu_ps(g + j),
                                                          _mm256_loadu_ps(row + j)));
            if (tail) {
                _mm256_storeu_ps(spill, _mm256_fmadd_ps(x, g_tail,
                                                        _mm256_maskload_ps(row + full, last)));
                for (int j = 0; j < tail; j++) row[full + j] = spill[j];
            }
        }
    }
}
#endif

static void forward_task(void *ctx, int chunk, int worker)
{
    (void)worker;
    const sparse_job *job = ctx;
    const int j0 = chunk * CHUNK, cw = job->n_out - j0 < CHUNK ? job->n_out - j0 : CHUNK;
#if ANN_HAVE_AVX2_CLONE
    if (use_avx2()) { forward_slice_avx2(job, j0, cw); return; }
#endif
    forward_slice_base(job, j0, cw);
}

static void backward_task(void *ctx, int chunk, int worker)
{
    (void)worker;
    const sparse_job *job = ctx;
    const int j0 = chunk * CHUNK, cw = job->n_out - j0 < CHUNK ? job->n_out - j0 : CHUNK;
#if ANN_HAVE_AVX2_CLONE
    if (use_avx2()) { backward_slice_avx2(job, j0, cw); return; }
#endif
    backward_slice_base(job, j0, cw);
}

/* Split into slices only when there is enough work for threads to pay. */
static void run_slices(void (*task)(void *, int, int), sparse_job *job, int64_t nnz)
{
    const int slices = (job->n_out + CHUNK - 1) / CHUNK;
    if (slices > 1 && nnz * job->n_out >= (int64_t)1 << 20)
        ann__parallel_for(slices, task, job);
    else
        for (int c = 0; c < slices; c++) task(job, c, 0);
}

static int64_t batch_nnz(const ann__sparse_batch *s, int B)
{
    int64_t nnz = 0;
    for (int r = 0; r < B; r++) nnz += s->end[r] - s->start[r];
    return nnz;
}

void ann__sparse_forward(const ann__sparse_batch *s, float *y, const float *W, const float *b,
                         int B, int D, int n_out)
{
    sparse_job job = {s, y, W, b, NULL, B, D, n_out};
    run_slices(forward_task, &job, batch_nnz(s, B));
}

void ann__sparse_backward(const ann__sparse_batch *s, float *dW, float *db, const float *dy,
                          int B, int D, int n_out)
{
    sparse_job job = {s, dW, NULL, NULL, dy, B, D, n_out};
    run_slices(backward_task, &job, batch_nnz(s, B));
    ann__sum_rows(db, dy, B, n_out);
}
