/* internal.h -- helpers shared between the core's .c files; not part of the public API. */
#ifndef ANN_INTERNAL_H
#define ANN_INTERNAL_H
#include <stdint.h>

#include "ann.h"

void ann__add_bias(float *y, const float *b, int B, int n);       /* y (B, n) += b (n) */
void ann__bias_relu(float *y, const float *b, int B, int n);     /* y = max(0, y + b) */
void ann__sum_rows(float *out, const float *a, int B, int n);     /* out (n) = 1^T a (B, n) */
uint64_t ann__splitmix64(uint64_t *state);                        /* next 64 random bits */

/* The most threads the core uses, the caller included (ann_set_num_threads clamps to it). */
#define ANN__MAX_THREADS 64

/* Run task(ctx, c, worker) for c = 0 .. n_chunks-1 on the thread pool (pool.c) and the caller,
 * using at most min(ann_get_num_threads(), n_chunks) threads; returns when every chunk is done.
 * Each chunk must write outputs no other chunk writes, so results cannot depend on threads.
 * worker says who runs the chunk: 0 the calling thread, w in 1..ANN__MAX_THREADS-1 the pool's
 * worker w. A worker runs one chunk at a time, so scratch memory indexed by w needs no lock;
 * it outlives the worker's thread (after fork() the child's new worker w reuses it). */
void ann__parallel_for(int n_chunks, void (*task)(void *ctx, int chunk, int worker), void *ctx);

/* A batch's input rows as compressed sparse rows (see sparse.c). Row r's nonzero pixels are
 * col[k], val[k] for k in [start[r], end[r]); col/val point either into a data-set index or
 * into the batch's own buffers own_col/own_val (B * D + D entries). */
typedef struct {
    int64_t *start, *end;       /* (B) each */
    const uint16_t *col;
    const uint8_t *val;
    uint16_t *own_col;
    uint8_t *own_val;
} ann__sparse_batch;

/* Fill `batch` with rows images[idx[r]] (or first + r when idx is NULL), from `index` when
 * given, else by scanning. Returns 1 when the rows are in sparse form, 0 when they are too
 * dense to be worth it (then the caller uses the dense path). */
int ann__sparse_rows(ann__sparse_batch *batch, const ann_sparse_index *index,
                     const uint8_t *images, int64_t N, int D, const int32_t *idx, int64_t first,
                     int B);
/* y (B, n_out) = x W + b with x the sparse rows of `s` */
void ann__sparse_forward(const ann__sparse_batch *s, float *y, const float *W, const float *b,
                         int B, int D, int n_out);
/* dW (D, n_out) = x^T dy, db (n_out) = 1^T dy with x the sparse rows of `s` */
void ann__sparse_backward(const ann__sparse_batch *s, float *dW, float *db, const float *dy,
                          int B, int D, int n_out);

#endif
