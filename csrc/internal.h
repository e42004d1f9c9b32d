/* internal.h -- helpers shared between the core's .c files; not part of the public API. */
#ifndef ANN_INTERNAL_H
#define ANN_INTERNAL_H
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "ann.h"

/* Memory for the network and its passes (net.c, augment.c): ann__malloc and ann__calloc are
 * malloc and calloc, freed with free. A test build compiles csrc/ with -DANN_TEST_ALLOC and
 * links a driver that defines the two functions below (tests/c/test_net.c), so that it can
 * make any one allocation fail and check that every out-of-memory path returns ANN_E_NOMEM and
 * leaves the network as it was. The library itself never contains that hook. */
#if defined(ANN_TEST_ALLOC)
void *ann__test_malloc(size_t size);
void *ann__test_calloc(size_t count, size_t size);
#define ann__malloc ann__test_malloc
#define ann__calloc ann__test_calloc
#else
#define ann__malloc malloc
#define ann__calloc calloc
#endif

/* The row passes of a dense layer; like every pass below, on the thread pool when large. */
void ann__add_bias(float *y, const float *b, int B, int n);       /* y (B, n) += b (n) */
/* z (B, n) += b (n), then a (B, n) = f(z) for activation `kind` (ann.h), row by row; a may be z */
void ann__bias_activation(float *a, float *z, const float *b, int B, int n, int kind, float slope);
void ann__sum_rows(float *out, const float *a, int B, int n);     /* out (n) = 1^T a (B, n) */
/* g (n) = dLoss/dz from g = dLoss/dh in place, for h = dropout(a), a = relu(z), with keep
 * flags mask (n) and drop rate p: ann_dropout_backward then ReLU's backward in one sweep, the
 * same bits. */
void ann__relu_dropout_backward(float *g, const float *a, const uint8_t *mask, int64_t n,
                                float p);
uint64_t ann__splitmix64(uint64_t *state);                        /* next 64 random bits */
/* x (B, D) = rows images[idx[r]] / 255, or rows first .. first+B-1 when idx is NULL; the loop
 * of ann_gather_u8, without its NULL/size checks. ANN_E_INDEX for a row outside 0..N-1. */
int ann__gather_rows(float *x, const uint8_t *images, int64_t N, const int32_t *idx,
                     int64_t first, int B, int D);
/* The same for float32 features, copied as they are: x (B, D) = rows features[idx[r]] (or
 * first + r). ANN_E_INDEX for a row outside 0..N-1, ANN_E_NONFINITE for a NaN or infinity. */
int ann__gather_rows_f32(float *x, const float *features, int64_t N, const int32_t *idx,
                         int64_t first, int B, int D);

/* Which copies of the vectorized passes of ops.c (the Adam update, dropout) run: the plain C
 * loops, or their copies compiled for AVX2 or AVX-512, going by the matrix-multiply kernel
 * gemm.c chose (so $ANN_KERNEL picks them too). The copies give the same bits. */
enum { ANN__VEC_PLAIN = 0, ANN__VEC_AVX2 = 1, ANN__VEC_AVX512 = 2 };
int ann__vector_level(void);

/* The most threads the core uses, the caller included (ann_set_num_threads clamps to it). */
#define ANN__MAX_THREADS 64

/* Run task(ctx, c, worker) for c = 0 .. n_chunks-1 on the thread pool (pool.c) and the caller,
 * using at most min(ann_get_num_threads(), n_chunks) threads; returns when every chunk is done.
 * Each chunk must write outputs no other chunk writes, so results cannot depend on threads.
 * worker says who runs the chunk: 0 the calling thread, w in 1..ANN__MAX_THREADS-1 the pool's
 * worker w. A worker runs one chunk at a time, so scratch memory indexed by w needs no lock;
 * it outlives the worker's thread (after fork() the child's new worker w reuses it). */
void ann__parallel_for(int n_chunks, void (*task)(void *ctx, int chunk, int worker), void *ctx);

/* How many jobs ann__parallel_for has handed to more than one thread since the process began
 * (wrapping at INT_MAX): tests/c/test_passes.c checks with it that small calls stay on one. */
int ann__pool_split_jobs(void);

/* The least work worth a chunk of its own, in nanoseconds of one thread: handing a chunk to
 * another thread and waiting for it to finish costs several microseconds (more when the
 * worker has gone to sleep), so a job smaller than two of these runs faster on the caller
 * alone, and no call gets slower with more threads. pool.c says how it was measured. */
#define ANN__MIN_CHUNK_NS 40000.0

/* fn(ctx, begin, end) over consecutive ranges that cover [0, n) once, for n items of about
 * ns_per_item nanoseconds each on one thread: on the caller alone (one range) when the pass is
 * shorter than 2 ANN__MIN_CHUNK_NS, else in a few ranges per thread on the pool. Range ends
 * are multiples of 16 (whole vectors). fn must give each item a value that does not depend on
 * where the ranges are cut; then results do not depend on the threads. */
void ann__parallel_range(int64_t n, double ns_per_item,
                         void (*fn)(void *ctx, int64_t begin, int64_t end), void *ctx);

#endif
