/*
 * ann.h -- the C core of ann: a multilayer perceptron over contiguous float32 buffers.
 *
 * This header is the reference documentation of the core, and it is also what the cffi build
 * reads (csrc/build_ffi.py strips the preprocessor lines and hands the rest to ffi.cdef), so
 * the declarations below must stay plain C: no macros, no inline code.
 *
 * Shape legend, used in every comment of the form "(B, n)":
 *   B      rows of a mini-batch (one example per row)
 *   N      rows of a whole data set
 *   D      input features (784 for MNIST)
 *   K      classes (10 for MNIST)
 *   n_in   fan-in of a dense layer,  n_out  its fan-out
 *   L      number of dense layers (sizes has L + 1 entries)
 *   P      number of trainable parameters of a network
 *   M,N,K  in ann_sgemm only: C is (M, N), the shared dimension is K
 * All matrices are row-major. A dense layer computes y = x W + b with W stored (n_in, n_out).
 *
 * Argument order, everywhere: outputs first, then inputs, then sizes.
 * Every entry point returns an int status: ANN_OK (0) or one of the codes below, which
 * ann_strerror() turns into text. Nothing here exits, aborts or asserts on what a caller passes.
 */
#ifndef ANN_H
#define ANN_H
#include <stddef.h>
#include <stdint.h>

enum {
    ANN_OK = 0,
    ANN_E_NULL = 1,       /* a required pointer was NULL */
    ANN_E_SIZE = 2,       /* a size or count is zero, negative or too large */
    ANN_E_INDEX = 3,      /* a row index is outside the data set */
    ANN_E_LABEL = 4,      /* a label is outside 0..K-1 */
    ANN_E_NOMEM = 5,      /* memory allocation failed */
    ANN_E_NONFINITE = 6,  /* the loss or an input became NaN or infinite */
    ANN_E_ARG = 7         /* another argument is out of range (e.g. a negative learning rate) */
};

/* A static, NUL-terminated description of a status code (never NULL). */
const char *ann_strerror(int status);

/* ---------------------------------------------------------------------------------------
 * Matrix multiply: C = A' B' + beta C, with A' = A or A transposed, B' = B or B transposed.
 *   A' is (M, K): A is stored (M, K) with row stride lda, or (K, M) when trans_a != 0.
 *   B' is (K, N): B is stored (K, N) with row stride ldb, or (N, K) when trans_b != 0.
 *   C is (M, N) with row stride ldc.  beta == 0 overwrites C (its old contents are ignored).
 * Backprop uses three forms: A B (forward), A B^T (input gradient), A^T B (weight gradient).
 * ann_sgemm is the fast kernel; ann_sgemm_naive is the textbook triple loop it is tested against.
 * Every output element is summed over k in the same order whatever the thread count.
 * ------------------------------------------------------------------------------------- */
int ann_sgemm(int trans_a, int trans_b, int M, int N, int K,
              const float *A, int lda, const float *B, int ldb,
              float beta, float *C, int ldc);
int ann_sgemm_naive(int trans_a, int trans_b, int M, int N, int K,
                    const float *A, int lda, const float *B, int ldb,
                    float beta, float *C, int ldc);

/* Threads used by the kernels (1 = none). n <= 0 means "one per core". Returns the new count. */
int ann_set_num_threads(int n);
int ann_get_num_threads(void);
/* Name of the sgemm kernel chosen at load time for this CPU, e.g. "avx2-fma" or "portable". */
const char *ann_kernel_name(void);

/* ---------------------------------------------------------------------------------------
 * Single ops. Each forward sits beside its backward, as in the .c file.
 * ------------------------------------------------------------------------------------- */

/* y (B, n_out) = x (B, n_in) W (n_in, n_out) + b (n_out) */
int ann_dense_forward(float *y, const float *x, const float *W, const float *b,
                      int B, int n_in, int n_out);
/* Given dy = dLoss/dy (B, n_out):
 *   dW (n_in, n_out) = x^T dy      db (n_out) = sum over rows of dy      dx (B, n_in) = dy W^T
 * dx may be NULL (first layer: nobody needs the gradient of the pixels). */
int ann_dense_backward(float *dx, float *dW, float *db,
                       const float *dy, const float *x, const float *W,
                       int B, int n_in, int n_out);

/* y = max(0, x), elementwise over n values; y may alias x. */
int ann_relu_forward(float *y, const float *x, int64_t n);
/* dx = dy * [y > 0]  (the derivative of max(0, x) is 1 where x > 0, else 0); dx may alias dy. */
int ann_relu_backward(float *dx, const float *dy, const float *y, int64_t n);

/* Fused, numerically stable softmax + cross-entropy over logits (B, K) and labels (B):
 *   p = softmax(logits) row by row (shifted by the row max, so exp never overflows)
 *   *loss = mean over rows of -log p[label]
 *   dlogits (B, K) = (p - onehot(label)) / B      (may be NULL, and may alias logits)
 *   probs (B, K) = p                               (may be NULL)
 * One pass per row; labels outside 0..K-1 give ANN_E_LABEL. */
int ann_softmax_cross_entropy(float *dlogits, float *probs, double *loss,
                              const float *logits, const int32_t *labels, int B, int K);

/* params (n) -= lr * grads (n) */
int ann_sgd_update(float *params, const float *grads, int64_t n, float lr);

/* x (B, D) = images[idx[r]] / 255 for each row r: uint8 pixels straight to a normalized batch.
 * images is (N, D); every idx must lie in [0, N), else ANN_E_INDEX. */
int ann_gather_u8(float *x, const uint8_t *images, int64_t N, const int32_t *idx, int B, int D);

/* Fisher-Yates shuffle of idx (n) driven by the splitmix64 generator whose state is *state. */
int ann_shuffle(int32_t *idx, int64_t n, uint64_t *state);
/* Next uniform float in [0, 1) from the splitmix64 stream *state: (next() >> 40) * 2^-24. */
float ann_random_uniform(uint64_t *state);

/* ---------------------------------------------------------------------------------------
 * A whole network: dense layers with ReLU between them, softmax + cross-entropy on top.
 * Parameters live in one buffer (P floats) laid out layer by layer as W then b; gradients use
 * the same layout in a second buffer, so an update is one loop and a snapshot one memcpy.
 * ------------------------------------------------------------------------------------- */
typedef struct ann_net ann_net;

/* sizes has L + 1 entries (input, hidden..., classes), each in 1..2^24, L >= 1. */
int ann_net_create(ann_net **out, const int32_t *sizes, int n_sizes);
void ann_net_destroy(ann_net *net);

int64_t ann_net_num_params(const ann_net *net);
float *ann_net_params(ann_net *net);     /* (P) */
float *ann_net_grads(ann_net *net);      /* (P), filled by ann_net_forward_backward */
/* Where layer l's weights (kind 0: W (n_in, n_out)) or biases (kind 1: b (n_out)) sit in params. */
int ann_net_tensor(int64_t *offset, int64_t *count, const ann_net *net, int layer, int kind);

/* W ~ U(-1/sqrt(n_in), 1/sqrt(n_in)) drawn layer by layer, row by row from splitmix64(seed);
 * biases zero. */
int ann_net_init(ann_net *net, uint64_t seed);

/* Forward and backward on the batch images[idx[0..B-1]], labels[idx[...]]:
 * *loss = mean cross-entropy of the batch, grads = its gradient. Parameters are untouched.
 * *correct (may be NULL) = rows whose argmax logit equals the label, before any update. */
int ann_net_forward_backward(ann_net *net, double *loss, int64_t *correct,
                             const uint8_t *images, const uint8_t *labels, int64_t N,
                             const int32_t *idx, int B);
/* forward_backward, then params -= lr * grads: one foreign call per mini-batch. */
int ann_net_train_step(ann_net *net, double *loss, int64_t *correct,
                       const uint8_t *images, const uint8_t *labels, int64_t N,
                       const int32_t *idx, int B, float lr);

/* Inference over n rows (images[idx[i]], or rows 0..n-1 when idx is NULL), in blocks.
 * Any output may be NULL:  probs (n, K), classes (n).  With labels given (else NULL):
 * *loss_sum = sum of -log p[label], *correct = number of rows whose argmax equals the label. */
int ann_net_predict_u8(ann_net *net, float *probs, int32_t *classes,
                       double *loss_sum, int64_t *correct,
                       const uint8_t *images, const uint8_t *labels, int64_t N,
                       const int32_t *idx, int64_t n);
/* The same from float inputs x (n, D), already normalized. */
int ann_net_predict_f32(ann_net *net, float *probs, int32_t *classes,
                        const float *x, int64_t n);

#endif
