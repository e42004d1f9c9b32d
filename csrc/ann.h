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
 *
 * Denormals: the core computes with denormal floats (magnitude below FLT_MIN = 2^-126) flushed
 * to zero, on x86 (SSE: MXCSR flush-to-zero and denormals-are-zero) and aarch64 (FPCR.FZ): a
 * result that small is 0, and so is such an operand. Its own threads always run that way; the
 * caller's thread does inside each entry point that computes, which then gives the caller its
 * own floating-point mode back, so the caller's arithmetic keeps IEEE gradual underflow. Other
 * targets keep gradual underflow. The float64 reference backend (ann/_reference.py) does not
 * flush. Why: a long Adam run fills its first moment with denormals, which many CPUs handle
 * on a slow path (docs/denormals.md).
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
/* Name of the sgemm kernel chosen at load time for this CPU: "avx2-fma", "avx512f", "neon"
 * (aarch64) or "portable". $ANN_KERNEL (portable, avx2, avx512, neon) forces one; a value
 * that names no kernel this CPU and build can run is an error: the name is then
 * "invalid ANN_KERNEL" and every ann_sgemm call returns ANN_E_ARG. */
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

/* ---- activations of a hidden layer, elementwise over n values (y may alias x) ----------
 * Each forward beside its backward; dy = dLoss/dy comes in, dx = dLoss/dx goes out (dx may
 * alias dy). The backward reads what its derivative is cheapest from: the output y for ReLU,
 * leaky ReLU, sigmoid and tanh, the input x for GELU. */
enum {
    ANN_IDENTITY = 0,     /* y = x                                    dy/dx = 1 */
    ANN_RELU = 1,         /* y = max(0, x)                            dy/dx = [x > 0] = [y > 0] */
    ANN_LEAKY_RELU = 2,   /* y = x (x > 0), a x (x <= 0), slope a >= 0   dy/dx = 1 or a */
    ANN_SIGMOID = 3,      /* y = 1 / (1 + e^-x)                       dy/dx = y (1 - y) */
    ANN_TANH = 4,         /* y = tanh x                               dy/dx = 1 - y^2 */
    ANN_GELU = 5          /* y = x Phi(x), Phi the normal CDF (the exact erf form, PyTorch's
                           * default approximate='none')        dy/dx = Phi(x) + x phi(x) */
};

int ann_relu_forward(float *y, const float *x, int64_t n);
/* dx = dy * [y > 0]  (the derivative of max(0, x) is 1 where x > 0, else 0); dx may alias dy. */
int ann_relu_backward(float *dx, const float *dy, const float *y, int64_t n);
/* y = x for x > 0, slope * x otherwise (slope finite, >= 0, else ANN_E_ARG). */
int ann_leaky_relu_forward(float *y, const float *x, int64_t n, float slope);
/* dx = dy for y > 0, slope * dy otherwise (y > 0 exactly when x > 0, for a slope >= 0). */
int ann_leaky_relu_backward(float *dx, const float *dy, const float *y, int64_t n, float slope);
/* y = 1 / (1 + e^-x), computed as e^x / (1 + e^x) for x < 0 so that e^(..) never overflows. */
int ann_sigmoid_forward(float *y, const float *x, int64_t n);
/* dx = dy * y (1 - y) */
int ann_sigmoid_backward(float *dx, const float *dy, const float *y, int64_t n);
/* y = tanh x */
int ann_tanh_forward(float *y, const float *x, int64_t n);
/* dx = dy * (1 - y^2) */
int ann_tanh_backward(float *dx, const float *dy, const float *y, int64_t n);
/* y = x Phi(x) with Phi(x) = erfc(-x / sqrt 2) / 2: the exact GELU (PyTorch's default); erfc
 * rather than 1 + erf keeps Phi accurate where it is tiny (x far below 0). */
int ann_gelu_forward(float *y, const float *x, int64_t n);
/* dx = dy * (Phi(x) + x phi(x)), phi(x) = e^(-x^2/2) / sqrt(2 pi): from the input x. */
int ann_gelu_backward(float *dx, const float *dy, const float *x, int64_t n);
/* The activation `kind` (ANN_IDENTITY ... ANN_GELU; slope is read by ANN_LEAKY_RELU only):
 * forward y = f(x), and backward dx = dy f'(.), where x is the forward's input (read by
 * ANN_GELU only) and y its output (read by the others); the one not read may be NULL. An
 * unknown kind gives ANN_E_ARG. */
int ann_activation_forward(float *y, const float *x, int64_t n, int kind, float slope);
int ann_activation_backward(float *dx, const float *dy, const float *x, const float *y,
                            int64_t n, int kind, float slope);

/* ---- heads: the output layer's function and the loss, fused ------------------------------
 * Each takes the logits z (B, K) and writes the loss, the outputs (B, K) and dLoss/dz (B, K);
 * outputs and dlogits may be NULL, and dlogits may alias logits. */
enum {
    ANN_SOFTMAX_CE = 0,   /* softmax + cross-entropy against class labels (the default) */
    ANN_SIGMOID_BCE = 1,  /* sigmoid + binary cross-entropy: binary (K = 1), multi-label */
    ANN_IDENTITY_MSE = 2, /* identity + mean squared error: regression */
    ANN_SIGMOID_MSE = 3   /* sigmoid + mean squared error: the quadratic cost of Nielsen's book */
};

/* Fused, numerically stable softmax + cross-entropy over logits (B, K) and labels (B):
 *   p = softmax(logits) row by row (shifted by the row max, so exp never overflows)
 *   *loss = mean over rows of -log p[label]
 *   dlogits (B, K) = (p - onehot(label)) / B      (may be NULL, and may alias logits)
 *   probs (B, K) = p                               (may be NULL)
 * One pass per row; labels outside 0..K-1 give ANN_E_LABEL. */
int ann_softmax_cross_entropy(float *dlogits, float *probs, double *loss,
                              const float *logits, const int32_t *labels, int B, int K);
/* Sigmoid + binary cross-entropy against targets t (B, K), each in [0, 1]:
 *   p = 1 / (1 + e^-z)
 *   *loss = mean over the B K entries of -(t log p + (1 - t) log(1 - p))
 *         = mean of max(z, 0) - t z + log(1 + e^-|z|)      (no log of 0, no overflow)
 *   dlogits = (p - t) / (B K)          probs = p */
int ann_sigmoid_bce(float *dlogits, float *probs, double *loss, const float *logits,
                    const float *targets, int B, int K);
/* Identity + mean squared error against targets t (B, K):
 *   y = z;   *loss = mean over the B K entries of (y - t)^2;   dlogits = 2 (y - t) / (B K)
 *   outputs = y */
int ann_identity_mse(float *dlogits, float *outputs, double *loss, const float *logits,
                     const float *targets, int B, int K);
/* Sigmoid + mean squared error against targets t (B, K):
 *   p = 1 / (1 + e^-z);   *loss = mean over the B K entries of (p - t)^2
 *   dlogits = 2 (p - t) p (1 - p) / (B K)          probs = p
 * p (1 - p) is computed as sigmoid(z) sigmoid(-z), exact where p rounds to 1. */
int ann_sigmoid_mse(float *dlogits, float *probs, double *loss, const float *logits,
                    const float *targets, int B, int K);

/* params (n) -= lr * grads (n) */
int ann_sgd_update(float *params, const float *grads, int64_t n, float lr);

/* Batch normalization over the rows of z (B, n), per feature j, in training:
 *   mean_j = (1/B) sum_r z_rj          var_j = (1/B) sum_r (z_rj - mean_j)^2
 *   xhat (B, n) = (z - mean) / sqrt(var + eps)          y (B, n) = gamma * xhat + beta
 * mean (n), var (n) and xhat are outputs kept for the backward pass; y may alias z. */
int ann_batchnorm_forward(float *y, float *xhat, float *mean, float *var,
                          const float *z, const float *gamma, const float *beta,
                          int B, int n, float eps);
/* Given dy (B, n) and the forward's xhat and var, with s_j = 1 / sqrt(var_j + eps):
 *   dgamma_j = sum_r dy_rj xhat_rj       dbeta_j = sum_r dy_rj
 *   dz_rj = gamma_j s_j / B * (B dy_rj - dbeta_j - xhat_rj dgamma_j)       (dz may alias dy)
 * The last line is the chain rule through mean and var, which both depend on every row. */
int ann_batchnorm_backward(float *dz, float *dgamma, float *dbeta,
                           const float *dy, const float *xhat, const float *var,
                           const float *gamma, int B, int n, float eps);
/* Inference: y = gamma (z - running_mean) / sqrt(running_var + eps) + beta, row by row, so a
 * row's output never depends on the other rows of the batch. y may alias z. */
int ann_batchnorm_inference(float *y, const float *z, const float *gamma, const float *beta,
                            const float *running_mean, const float *running_var,
                            int B, int n, float eps);

/* Inverted dropout over n values with drop probability p in [0, 1):
 *   keep_i = [u_i >= p] with u_i uniform from *state (ann_random_uniform), written to mask (n)
 *   y_i = x_i keep_i / (1 - p)         (so the expected value of y is x; nothing at inference)
 * Backward: dx_i = dy_i keep_i / (1 - p). y may alias x, dx may alias dy. */
int ann_dropout_forward(float *y, uint8_t *mask, const float *x, int64_t n, float p,
                        uint64_t *state);
int ann_dropout_backward(float *dx, const float *dy, const uint8_t *mask, int64_t n, float p);

/* L2 penalty (l2 / 2) sum theta^2 over n weights: *penalty = its value, grads += l2 * theta. */
int ann_l2_penalty(double *penalty, float *grads, const float *params, int64_t n, float l2);

/* SGD with momentum mu (PyTorch's form):  v = mu v + g;  theta -= lr v.
 * Nesterov (nesterov != 0):                v = mu v + g;  theta -= lr (g + mu v). */
int ann_momentum_update(float *params, float *velocity, const float *grads, int64_t n,
                        float lr, float mu, int nesterov);
/* Adam (Kingma & Ba) at step t >= 1:  m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2;
 *   theta -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps) */
int ann_adam_update(float *params, float *m, float *v, const float *grads, int64_t n,
                    float lr, float beta1, float beta2, float eps, int64_t t);

/* x (B, D) = images[idx[r]] / 255 for each row r: uint8 pixels straight to a normalized batch.
 * images is (N, D); every idx must lie in [0, N), else ANN_E_INDEX. */
int ann_gather_u8(float *x, const uint8_t *images, int64_t N, const int32_t *idx, int B, int D);

/* x (B, D) = features[idx[r]] for each row r: float32 features copied as they are.
 * features is (N, D); every idx must lie in [0, N) (else ANN_E_INDEX) and every value gathered
 * must be finite (else ANN_E_NONFINITE). */
int ann_gather_f32(float *x, const float *features, int64_t N, const int32_t *idx, int B, int D);
/* x (B, D) = (x - mean (D)) / std (D), in place, column by column: the standardisation of
 * float inputs (see ann_net_set_standardization). */
int ann_standardize(float *x, const float *mean, const float *std, int B, int D);

/* Fisher-Yates shuffle of idx (n) driven by the splitmix64 generator whose state is *state. */
int ann_shuffle(int32_t *idx, int64_t n, uint64_t *state);
/* Next uniform float in [0, 1) from the splitmix64 stream *state: (next() >> 40) * 2^-24. */
float ann_random_uniform(uint64_t *state);

/* ---------------------------------------------------------------------------------------
 * Augmentation (augment.c, where the math is written out): random distortions of each
 * training mini-batch as it is gathered, never stored. Ranges are symmetric, each drawn per
 * image uniformly: rotation angle in [-rotate, rotate] degrees (rotate <= 180), scale factor
 * 1 + [-scale, scale] (scale < 1), horizontal shear [-shear, shear] (shear <= 10), shift
 * [-shift, shift] pixels in x and in y; then, when elastic_alpha > 0 or elastic_max > 0,
 * Simard's elastic distortion: a U(-1, 1) displacement field smoothed by a Gaussian of width
 * elastic_sigma pixels (in (0, 100]), then either scaled by elastic_alpha (the image's edge
 * padded with 0 for the smoothing) or, with elastic_max > 0, rescaled image by image so that
 * its largest displacement (in x or in y) is elastic_max pixels (the edge padded by
 * mirroring). At most one of the two may be > 0. Bilinear sampling, background 0.
 * ------------------------------------------------------------------------------------- */
typedef struct {
    float rotate;          /* degrees, >= 0 */
    float scale;           /* relative, in [0, 1) */
    float shear;           /* shear factor, >= 0 */
    float shift;           /* pixels, >= 0 */
    float elastic_alpha;   /* pixels per unit of the smoothed field; 0: not this scaling */
    float elastic_sigma;   /* pixels; only read when the elastic part is on */
    float elastic_max;     /* pixels, each image's largest displacement; 0: not this scaling */
    uint64_t seed;         /* with the step and the row, picks each image's random stream */
} ann_augment;

/* ANN_OK when every range of *params is allowed (see above), else ANN_E_ARG. */
int ann_augment_check(const ann_augment *params);
/* Initial splitmix64 state of the random stream of image `row` of batch `step`: the same
 * for any thread count, since no thread state goes in. */
uint64_t ann_augment_stream(uint64_t seed, int64_t step, int64_t row);
/* x (B, H, W) is distorted in place: image b by the draws of ann_augment_stream(params->seed,
 * step, b). On the thread pool; bit-identical for any thread count. Zero ranges return x
 * unchanged, bit for bit. */
int ann_augment_batch(float *x, const ann_augment *params, int64_t step, int B, int H, int W);
/* The same, the plain way: every sum with bounds checks in the innermost loop. ann_augment_batch
 * differs only in loop order (taps outside, pixels inside) and an unchecked bilinear sample for
 * points whose four neighbours are inside; the tests hold the two equal. */
int ann_augment_batch_naive(float *x, const ann_augment *params, int64_t step, int B, int H,
                            int W);

/* ---------------------------------------------------------------------------------------
 * A whole network: dense layers, each hidden one followed by its activation (ReLU unless
 * ann_net_set_activation chooses another), and a head on top (softmax + cross-entropy unless
 * ann_net_set_head chooses another). Parameters live in one buffer (P floats) laid out layer by layer as W then b; gradients use
 * the same layout in a second buffer, so an update is one loop and a snapshot one memcpy.
 *
 * Threads. ann_net_predict only reads the network and brings its own buffers, so any number
 * of threads may run it on one network at the same time, and each gets the answer it would
 * get alone. Every other call that takes an ann_net * (not a const one) writes the network:
 * training (ann_net_train_step, ann_net_forward_backward), ann_net_init, every ann_net_set_*,
 * ann_net_destroy, and writing through the pointers of ann_net_params / _grads / _state /
 * _opt_m / _opt_v. While such a call runs, no other call on that network may run, predict
 * included: the caller serialises them (one thread, or a lock). Separate networks never share
 * anything. (The core's thread pool serves one call at a time; a call that finds it busy runs
 * on its own thread, with the same results.)
 * ------------------------------------------------------------------------------------- */
typedef struct ann_net ann_net;

/* How a data set holds its features (ann_data.type). */
enum { ANN_U8 = 0, ANN_F32 = 1 };

/* A data set the network reads its batches from, in place (nothing is copied but the rows of
 * one batch):
 *   features (N, D)  ANN_U8: uint8 pixels, each read as x / 255 (ann_gather_u8);
 *                    ANN_F32: float32 values, read as they are (ann_gather_f32);
 *                    then, if the network has input statistics, standardised (x - mean) / std
 *   labels (N)       class indices 0..K-1 (else ANN_E_LABEL), or NULL where none are needed;
 *                    for a head with one output (K = 1) other than softmax: 0 or 1
 *   N                rows; a row index outside 0..N-1 gives ANN_E_INDEX
 *   targets (N, T)   float32 targets of the heads other than softmax + cross-entropy, or NULL;
 *                    T must equal the network's K (else ANN_E_SIZE); a NaN or infinite target
 *                    makes the loss NaN (ANN_E_NONFINITE)
 * What a head reads: ANN_SOFTMAX_CE the labels; the others the targets, or when there are
 * none, targets made from the labels: one-hot(label) (K > 1), the label itself (K = 1). */
typedef struct {
    const void *features;
    int type;
    const int32_t *labels;
    int64_t N;
    const float *targets;
    int T;
} ann_data;

/* What a tensor of the network is (the `kind` argument of ann_net_tensor). */
enum {
    ANN_WEIGHTS = 0,       /* W (n_in, n_out), in params */
    ANN_BIASES = 1,        /* b (n_out), in params */
    ANN_BN_GAMMA = 2,      /* batch-norm scale (n_out), in params; hidden layers with batchnorm */
    ANN_BN_BETA = 3,       /* batch-norm shift (n_out), in params */
    ANN_BN_MEAN = 4,       /* running mean (n_out), in the state buffer */
    ANN_BN_VAR = 5         /* running variance (n_out), in the state buffer */
};
enum { ANN_SGD = 0, ANN_MOMENTUM = 1, ANN_NESTEROV = 2, ANN_ADAM = 3 };

/* sizes has L + 1 entries (input, hidden..., outputs K), each in 1..2^24, L >= 1.
 * batchnorm != 0 puts batch normalization between each hidden dense layer and its activation
 * (Linear -> BN -> activation; running statistics with momentum 0.1, eps 1e-5).
 * dropout in [0, 1) is the drop probability applied after each hidden activation in training.
 * A new network has ReLU hidden layers and the softmax + cross-entropy head. */
int ann_net_create(ann_net **out, const int32_t *sizes, int n_sizes, int batchnorm,
                   float dropout);
void ann_net_destroy(ann_net *net);

int64_t ann_net_num_params(const ann_net *net);
int64_t ann_net_num_state(const ann_net *net);
float *ann_net_params(ann_net *net);     /* (P) everything the optimizer trains */
float *ann_net_grads(ann_net *net);      /* (P) the last batch's gradient: see train_step */
float *ann_net_state(ann_net *net);      /* (S) batch-norm running statistics (S may be 0) */
/* Where a tensor of layer `layer` sits in params (kinds 0-3) or state (kinds 4-5).
 * ANN_E_ARG if the layer has no such tensor. */
int ann_net_tensor(int64_t *offset, int64_t *count, const ann_net *net, int layer, int kind);

/* Weight initialisation schemes (ann_net_init), each W ~ U(-a, a) with, for a layer of fan-in
 * n_in and fan-out n_out:
 *   ANN_INIT_UNIFORM   a = 1 / sqrt(n_in)                   (PyTorch's nn.Linear default)
 *   ANN_INIT_HE        a = sqrt(6 / ((1 + s^2) n_in))       Var W = 2 / ((1 + s^2) n_in), s the
 *                                                           leaky ReLU slope (else 0)
 *   ANN_INIT_GLOROT    a = sqrt(6 / (n_in + n_out))         Var W = 2 / (n_in + n_out)
 *   ANN_INIT_AUTO      He for a hidden layer followed by ReLU, leaky ReLU or GELU; Glorot for
 *                      the others (sigmoid, tanh, identity) and for the output layer
 * (docs/initialisation.md derives them). */
enum { ANN_INIT_UNIFORM = 0, ANN_INIT_HE = 1, ANN_INIT_GLOROT = 2, ANN_INIT_AUTO = 3 };

/* W ~ U(-a, a) by `scheme` (above), drawn layer by layer, row by row from splitmix64(seed) as
 * (2u - 1) a, the same u for every scheme; biases and beta 0, gamma 1, running mean 0 and
 * variance 1. Also seeds the dropout stream (with seed ^ 0xD80F0D80F) and clears the
 * optimizer state. Reads the activations (ANN_INIT_AUTO, ANN_INIT_HE): set them first.
 * ANN_E_ARG for an unknown scheme. */
int ann_net_init(ann_net *net, uint64_t seed, int scheme);

/* The activation of hidden layer `layer` (0 .. L-2): kind ANN_IDENTITY ... ANN_GELU, and the
 * negative slope of ANN_LEAKY_RELU (finite, >= 0; kept whatever the kind). ANN_E_ARG for the
 * output layer, an unknown kind or a bad slope. */
int ann_net_set_activation(ann_net *net, int layer, int kind, float negative_slope);
/* The head: ANN_SOFTMAX_CE (the default), ANN_SIGMOID_BCE, ANN_IDENTITY_MSE, ANN_SIGMOID_MSE
 * (ANN_E_ARG otherwise). It decides the outputs of ann_net_predict, the loss, and what of an
 * ann_data the network reads (see ann_data). */
int ann_net_set_head(ann_net *net, int head);

/* Biases b ~ U(-1/sqrt(n_in), 1/sqrt(n_in)), the bound of the weights, as PyTorch's
 * nn.Linear draws them, layer by layer from splitmix64(seed ^ 0xB1A5B1A5): a stream of their
 * own, so the weights ann_net_init drew from seed stay what they were. Call it after
 * ann_net_init (which sets the biases to 0); nothing else changes. */
int ann_net_init_biases_uniform(ann_net *net, uint64_t seed);

/* Choose the update rule (ANN_SGD, ANN_MOMENTUM, ANN_NESTEROV, ANN_ADAM) and L2 strength
 * (penalty (l2/2) sum W^2 over weights, not biases or batch-norm parameters). Clears the
 * optimizer state (velocity, Adam moments, step count). */
int ann_net_set_optimizer(ann_net *net, int kind, float momentum, float beta1, float beta2,
                          float eps, float l2);

/* The optimizer's state, for saving and resuming: opt_m (P) is the velocity (momentum,
 * Nesterov) or Adam's first moment, opt_v (P) Adam's second moment, in the params layout;
 * each is NULL until ann_net_set_optimizer has chosen a rule that needs it (a buffer stays
 * allocated, unused, when a later rule does not). opt_step is Adam's t, the updates done.
 * Restore a state after ann_net_set_optimizer, which clears it. */
float *ann_net_opt_m(ann_net *net);
float *ann_net_opt_v(ann_net *net);
int64_t ann_net_opt_step(const ann_net *net);
int ann_net_set_opt_step(ann_net *net, int64_t step);   /* ANN_E_ARG if step < 0 */

/* Input standardisation: every batch read from an ann_data is, after the gather, turned into
 * (x - mean) / std column by column (ann_standardize), in training and inference alike.
 * mean (D) and std (D) are copied; std must be > 0 and both finite (else ANN_E_ARG). Both NULL
 * turns it off (the default: pixels are only scaled by 1/255). */
int ann_net_set_standardization(ann_net *net, const float *mean, const float *std);

/* Forward and backward, in training mode, on the batch of rows idx[0..B-1] of data, which
 * must hold what the head reads (labels for ANN_SOFTMAX_CE, targets or labels for the others;
 * ANN_E_NULL otherwise):
 * *loss = the head's mean loss over the batch plus the L2 penalty, grads = its gradient.
 * With batch norm B must be at least 2 (ANN_E_SIZE otherwise): one row has no variance.
 * *correct (may be NULL) = rows classified right: with labels, rows whose predicted class is the
 * label; with targets only and a sigmoid head, rows whose every output lies on the same side
 * of 1/2 as its target; else 0. The predicted class: for K > 1 the argmax of the logits; for
 * K = 1, z > 0 (p > 1/2) with a sigmoid head, z > 1/2 with the identity head, 0 with softmax. Parameters are untouched
 * (batch-norm running statistics are updated, the dropout stream and the augmentation step
 * advance). A NaN or infinite loss returns ANN_E_NONFINITE, and leaves the network exactly as it
 * was, as for ann_net_train_step. */
int ann_net_forward_backward(ann_net *net, double *loss, int64_t *correct,
                             const ann_data *data, const int32_t *idx, int B);
/* forward_backward, then the optimizer's update with learning rate lr: one foreign call per
 * mini-batch. A NaN or infinite loss returns ANN_E_NONFINITE before anything is updated: that
 * error, and any found before the loss is known (a bad index or label, no memory), leave the
 * network exactly as it was -- parameters, grads, batch-norm running statistics, optimizer
 * state, the dropout stream and the augmentation step count -- so the caller may skip the batch
 * and go on, or stop, with nothing to undo.
 * What grads holds afterwards: the batch's whole gradient (L2 term included), as after
 * ann_net_forward_backward, in every case but one. The exception is the fused SGD step, taken
 * when all of these hold: the speed-ups are on (ann_net_set_fused, the default), the rule is
 * ANN_SGD, l2 == 0 and lr > 0. It folds each W's update into that layer's weight-gradient
 * product (net_fused.c, layer_backward_sgd), so dW is never formed: the bias and batch-norm entries
 * of grads hold this batch's gradient, and the weight entries are not written (they keep what
 * an earlier call left there, zeros on a new network). */
int ann_net_train_step(ann_net *net, double *loss, int64_t *correct,
                       const ann_data *data, const int32_t *idx, int B, float lr);

/* The max-norm constraint (Srivastava et al. 2014): with c > 0, after every update of
 * ann_net_train_step (fused or not), each hidden unit's incoming weight vector -- column j of
 * its layer's W (n_in, n_out) -- is rescaled to L2 norm min(||w_j||, c). The top layer is not
 * constrained. c == 0 turns it off (the default); ANN_E_ARG for c < 0 or not finite. */
int ann_net_set_max_norm(ann_net *net, float c);

/* Augment every training batch (ann_net_forward_backward, ann_net_train_step) right after it
 * is gathered: the input (D) is an (H, W) image, H W == D (else ANN_E_SIZE), and batch s since
 * this call (s = 0, 1, ...) is distorted by ann_augment_batch(x, params, s, B, H, W).
 * params NULL turns augmentation off. Inference never augments. The parameters are copied. */
int ann_net_set_augment(ann_net *net, const ann_augment *params, int H, int W);

/* fused != 0 (the default) runs the speed-ups of net_fused.c, each of which fuses textbook steps:
 * the bias add and the activation of a hidden layer without batch norm in one sweep, and for
 * plain SGD without L2 the weight update folded into the weight-gradient product. fused == 0
 * runs every step as its own function (dense, batch norm, activation, dropout; loss; the same
 * backward; the
 * update), the path to read and to test against. The two give the same bits except after a
 * fused SGD step, whose weights differ by float32 rounding (and whose grads lack dW, see
 * ann_net_train_step). ANN_E_NULL if net is NULL. */
int ann_net_set_fused(ann_net *net, int fused);

/* Inference (batch norm from running statistics, no dropout) over n rows of data (rows
 * idx[0..n-1], or rows 0..n-1 when idx is NULL), in blocks of 256 rows. Any output may be NULL:
 * outputs (n, K) what the head gives (softmax or sigmoid probabilities, or the identity's
 * values), classes (n) the predicted class of each row (see ann_net_forward_backward). When
 * data holds what the head reads (see ann_data; else both stay 0): *loss_sum = the sum over
 * rows of each row's loss (the head's loss of that row alone, no L2 term), *correct = rows
 * classified right, as ann_net_forward_backward counts them.
 * Each call allocates its own buffers, for min(n, 256) rows per thread it uses (ANN_E_NOMEM if
 * it cannot), and writes nothing in the network: calls may run concurrently on one network
 * (see above). With at least two blocks per thread, the threads share out whole blocks. */
int ann_net_predict(ann_net *net, float *outputs, int32_t *classes,
                    double *loss_sum, int64_t *correct,
                    const ann_data *data, const int32_t *idx, int64_t n);

/* ---------------------------------------------------------------------------------------
 * CSV, the fast path of ann.load_csv (csv.c). text (len bytes) holds rows of `cols` cells
 * separated by the byte `sep`, each row ending in '\n' except maybe the last; no '"', '\r' or
 * empty line. Every cell but column `label` (-1: none) is a number [+-](digits[.digits] |
 * .digits)([eE][+-]digits), with spaces or tabs around it. Fills, for the R rows:
 *   values (R, cols - (label >= 0))  each number as Python's float() then float32 give it,
 *                                    or 0 for a "hard" one (see csv.c) that Python converts
 *   labels                           each label cell's bytes followed by '\n'
 *   hard   (H, 3)                    per hard number: its index in values, its byte range
 *   counts (3)                       R, the bytes written to labels, H
 * with at most values_cap values, labels_cap bytes and hard_cap hard numbers (else
 * ANN_E_SIZE). ANN_E_ARG: the text is not such a table; the caller then reads it another
 * way, which also says what is wrong. */
int ann_csv_rows(float *values, char *labels, int64_t *hard, int64_t *counts,
                 const char *text, int64_t len, char sep, int cols, int label,
                 int64_t values_cap, int64_t labels_cap, int64_t hard_cap);

#endif
