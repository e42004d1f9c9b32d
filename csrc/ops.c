/*
 * ops.c -- the single operations of an MLP, each forward beside its backward.
 *
 * Shapes (see ann.h for the legend): B batch rows, n_in / n_out a dense layer's fan-in and
 * fan-out, K classes, D input features, N rows of a data set. Row-major everywhere.
 *
 * Every function checks its arguments and returns a status; none allocates. Each one that does
 * float arithmetic runs it with denormals flushed to zero and then gives the caller back its
 * own mode (ann__flush_denormals ... ann__restore_fpmode, platform.h, docs/denormals.md).
 */
#include "ann.h"
#include "internal.h"
#include "platform.h"

#include <math.h>
#include <string.h>

/* ---- elementwise passes on the thread pool ------------------------------------------------ */

/* An optimizer step touches every parameter, millions of values for a wide network, and dropout
 * every unit of a batch: such passes run through ann__parallel_range (pool.c), which splits
 * them between threads only when they are long enough to gain, given each item's cost on one
 * thread (below: measured on an AMD EPYC, Zen 4; a slower CPU only makes the split pay sooner).
 * Every item is computed exactly as on one thread, so threads never change a result. */
#define NS_ADAM 2.0        /* 7 floats of memory traffic, 2 divisions and a square root */
#define NS_MOMENTUM 1.0
#define NS_SGD 0.7
#define NS_DROPOUT_FORWARD 0.5  /* one splitmix64 draw, vectorized (2.0 as a call per draw) */
#define NS_DROPOUT_BACKWARD 0.3
/* The per-row passes of a layer: their cost per float, in cache (the fastest case, so that a
 * pass split between threads is one that gains even then). At batch 128 and width 1024 they
 * stay on one thread; a batch of thousands of rows splits. */
#define NS_ROW_FLOAT 0.05       /* bias add, ReLU and its backward, a column sum: per float */
#define NS_GATHER_BYTE 0.1      /* a pixel read, converted and scaled */
#define NS_LIBM_FLOAT 1.0       /* an activation through expf, tanhf or erfcf */

const char *ann_strerror(int status)
{
    switch (status) {
    case ANN_OK: return "ok";
    case ANN_E_NULL: return "a required buffer is missing (NULL pointer)";
    case ANN_E_SIZE: return "a size or count is zero, negative or too large";
    case ANN_E_INDEX: return "a row index lies outside the data set";
    case ANN_E_LABEL: return "a label lies outside 0..K-1";
    case ANN_E_NOMEM: return "out of memory";
    case ANN_E_NONFINITE: return "a value became NaN or infinite";
    case ANN_E_ARG: return "an argument is out of range";
    default: return "unknown status code";
    }
}

/* ---- dense layer: y = x W + b -------------------------------------------------------- */

int ann_dense_forward(float *y, const float *x, const float *W, const float *b,
                      int B, int n_in, int n_out)
{
    if (!y || !x || !W || !b) return ANN_E_NULL;
    if (B < 1 || n_in < 1 || n_out < 1) return ANN_E_SIZE;
    const ann__fpmode fp = ann__flush_denormals();   /* platform.h */
    /* y (B, n_out) = x (B, n_in) . W (n_in, n_out) */
    int status = ann_sgemm(0, 0, B, n_out, n_in, x, n_in, W, n_out, 0.0f, y, n_out);
    if (status == ANN_OK) ann__add_bias(y, b, B, n_out);
    ann__restore_fpmode(fp);
    return status;
}

/*
 * Backward of y = x W + b, given dy = dL/dy (B, n_out). Each output y[r][j] depends on
 * W[i][j] through x[r][i], on b[j] with slope 1, and on x[r][i] through W[i][j], so
 *   dL/dW[i][j] = sum_r x[r][i] dy[r][j]   ->  dW = x^T dy      (n_in, n_out)
 *   dL/db[j]    = sum_r dy[r][j]           ->  db = 1^T dy      (n_out)
 *   dL/dx[r][i] = sum_j dy[r][j] W[i][j]   ->  dx = dy W^T      (B, n_in)
 */
int ann_dense_backward(float *dx, float *dW, float *db,
                       const float *dy, const float *x, const float *W,
                       int B, int n_in, int n_out)
{
    if (!dW || !db || !dy || !x || (dx && !W)) return ANN_E_NULL;
    if (B < 1 || n_in < 1 || n_out < 1) return ANN_E_SIZE;
    const ann__fpmode fp = ann__flush_denormals();   /* platform.h */
    int status = ann_sgemm(1, 0, n_in, n_out, B, x, n_in, dy, n_out, 0.0f, dW, n_out);
    if (status == ANN_OK) ann__sum_rows(db, dy, B, n_out);
    if (status == ANN_OK && dx)
        status = ann_sgemm(0, 1, B, n_in, n_out, dy, n_out, W, n_out, 0.0f, dx, n_in);
    ann__restore_fpmode(fp);
    return status;
}

/* The row passes of a dense layer, each a loop over rows [begin, end) (a range of
 * ann__parallel_range: rows are independent, so any cut gives the same bits) or, for the
 * column sum, over columns [begin, end) with every column's rows added in order 0..B-1. */
struct rows_args {
    float *y;
    const float *b;  /* (n) the bias; for sum_rows the input a (B, n) */
    int B, n;
    float *z;        /* bias_activation: the pre-activations z (B, n) (y is a = f(z)) */
    int kind;        /* bias_activation: the activation, and leaky ReLU's slope */
    float slope;
};

/* y (B, n) += b (n), broadcast over rows */
static void add_bias_rows(void *ctx, int64_t begin, int64_t end)
{
    const struct rows_args *a = ctx;
    const int n = a->n;
    const float *restrict b = a->b;
    for (int64_t r = begin; r < end; r++) {
        float *restrict row = a->y + (size_t)r * n;
        for (int j = 0; j < n; j++) row[j] += b[j];
    }
}

void ann__add_bias(float *y, const float *b, int B, int n)
{
    struct rows_args a = {y, b, B, n, NULL, 0, 0.0f};
    ann__parallel_range(B, n * NS_ROW_FLOAT, add_bias_rows, &a);
}

/* out (n) = sum over rows of a (B, n), rows added in order 0..B-1 (a fixed order), for the
 * columns [begin, end) */
static void sum_rows_columns(void *ctx, int64_t begin, int64_t end)
{
    const struct rows_args *a = ctx;
    const int n = a->n;
    float *restrict out = a->y;
    for (int64_t j = begin; j < end; j++) out[j] = 0.0f;
    for (int r = 0; r < a->B; r++) {
        const float *restrict row = a->b + (size_t)r * n;
        for (int64_t j = begin; j < end; j++) out[j] += row[j];
    }
}

void ann__sum_rows(float *out, const float *a, int B, int n)
{
    struct rows_args args = {out, a, B, n, NULL, 0, 0.0f};
    ann__parallel_range(n, B * NS_ROW_FLOAT, sum_rows_columns, &args);
}

/* ---- activations ---------------------------------------------------------------------
 *
 * Each is elementwise, y_i = f(x_i), so the chain rule has one term per value:
 *   dx_i = dy_i f'(x_i).
 * Each backward computes f' from whatever the forward left that makes it cheapest: the output
 * y where f' is a function of y (ReLU, leaky ReLU, sigmoid, tanh), the input x where it is not
 * (GELU). The forward of each is a loop over the scalar function below it, which the fused
 * bias + activation sweep (ann__bias_activation) calls too, so the two give the same bits.
 */

#define ANN_SQRT1_2 0.70710678118654752440f       /* 1 / sqrt 2 */
#define ANN_INV_SQRT_2PI 0.39894228040143267794f  /* 1 / sqrt(2 pi) */

static inline float relu(float x) { return x > 0.0f ? x : 0.0f; }
static inline float leaky_relu(float x, float slope) { return x > 0.0f ? x : slope * x; }

/* 1 / (1 + e^-x) = e^x / (1 + e^x): the first form for x >= 0, the second below, so the
 * exponent is never positive: e^(..) lies in (0, 1], never overflows, and 1 + e^(..) in (1, 2]
 * loses nothing. */
static inline float sigmoid(float x)
{
    if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
    const float e = expf(x);
    return e / (1.0f + e);
}

/* The normal CDF Phi(x) = (1 + erf(x / sqrt 2)) / 2 = erfc(-x / sqrt 2) / 2. The erfc form
 * keeps its relative accuracy for x << 0, where 1 + erf(..) would cancel to 0 long before Phi
 * underflows (at x = -6, Phi = 1e-9 but 1 + erf rounds to 0 in float32 well before). */
static inline float normal_cdf(float x) { return 0.5f * erfcf(-x * ANN_SQRT1_2); }
static inline float gelu(float x) { return x * normal_cdf(x); }

/* y (n) = f(x) for activation `kind`: the loop of every forward below. y may alias x. */
static void activate(float *y, const float *x, int64_t n, int kind, float slope)
{
    switch (kind) {
    case ANN_RELU:
        for (int64_t i = 0; i < n; i++) y[i] = relu(x[i]);
        break;
    case ANN_LEAKY_RELU:
        for (int64_t i = 0; i < n; i++) y[i] = leaky_relu(x[i], slope);
        break;
    case ANN_SIGMOID:
        for (int64_t i = 0; i < n; i++) y[i] = sigmoid(x[i]);
        break;
    case ANN_TANH:
        for (int64_t i = 0; i < n; i++) y[i] = tanhf(x[i]);
        break;
    case ANN_GELU:
        for (int64_t i = 0; i < n; i++) y[i] = gelu(x[i]);
        break;
    default: /* ANN_IDENTITY */
        if (y != x) memmove(y, x, (size_t)n * sizeof(float));
        break;
    }
}

/* One value's cost of `kind` on one thread, for ann__parallel_range: a select, or a libm call
 * (expf, tanhf, erfcf: ~20x a select). */
static double activation_ns(int kind)
{
    return kind == ANN_RELU || kind == ANN_LEAKY_RELU || kind == ANN_IDENTITY ? NS_ROW_FLOAT
                                                                               : NS_LIBM_FLOAT;
}

static int activation_kind_ok(int kind) { return kind >= ANN_IDENTITY && kind <= ANN_GELU; }
static int slope_ok(float slope) { return slope >= 0.0f && isfinite(slope); }

/* activate() over the values [begin, end), for ann__parallel_range (values are independent) */
static void activate_range(void *ctx, int64_t begin, int64_t end)
{
    const struct rows_args *a = ctx;
    activate(a->y + begin, a->z + begin, end - begin, a->kind, a->slope);
}

/* The checked entry point of every forward: the arguments, then activate() with denormals
 * flushed, on the pool when the pass is long. */
static int forward_op(float *y, const float *x, int64_t n, int kind, float slope)
{
    if (!y || !x) return ANN_E_NULL;
    if (n < 0) return ANN_E_SIZE;
    if (!activation_kind_ok(kind) || !slope_ok(slope)) return ANN_E_ARG;
    struct rows_args a = {y, NULL, 0, 0, (float *)x, kind, slope};
    const ann__fpmode fp = ann__flush_denormals();   /* platform.h */
    ann__parallel_range(n, activation_ns(kind), activate_range, &a);
    ann__restore_fpmode(fp);
    return ANN_OK;
}

/* z (B, n) += b (n), then a (B, n) = f(z), for the rows [begin, end), a row at a time */
static void bias_activation_rows(void *ctx, int64_t begin, int64_t end)
{
    const struct rows_args *a = ctx;
    const int n = a->n;
    for (int64_t r = begin; r < end; r++) {
        float *zr = a->z + (size_t)r * n;
        for (int j = 0; j < n; j++) zr[j] += a->b[j];
        activate(a->y + (size_t)r * n, zr, n, a->kind, a->slope);
    }
}

/* z (B, n) += b (n), then a (B, n) = f(z), a row at a time: the bias add of a dense layer and its
 * activation while the row is in cache (one sweep of memory instead of two). a may be z. The
 * same scalar functions in the same order as ann__add_bias then the forward op: the same bits.
 * Rows are independent, so large batches go to the pool by rows. */
void ann__bias_activation(float *a, float *z, const float *b, int B, int n, int kind, float slope)
{
    struct rows_args args = {a, b, B, n, z, kind, slope};
    ann__parallel_range(B, n * (NS_ROW_FLOAT + activation_ns(kind)), bias_activation_rows,
                        &args);
}

/* ---- ReLU ------------------------------------------------------------------------------ */

struct relu_args {
    float *out;
    const float *in, *y;
    float scale;
};

int ann_relu_forward(float *y, const float *x, int64_t n)
{
    return forward_op(y, x, n, ANN_RELU, 0.0f);
}

/* d max(0, x)/dx = 1 for x > 0 and 0 for x < 0 (we take 0 at the kink). Since y > 0 exactly
 * when x > 0, the mask can be read from the output, and the input need not be kept.
 * dy is loaded whatever y says, so the select compiles to vector blends instead of a branch
 * per element (half the outputs of a ReLU are zero: a branch mispredicts about as often as
 * not, and it cost 10 % of a wide-net epoch under perf). */
static void relu_backward_range(void *ctx, int64_t begin, int64_t end)
{
    const struct relu_args *a = ctx;
    float *dx = a->out;          /* may be dy itself */
    const float *dy = a->in, *restrict y = a->y;
    for (int64_t i = begin; i < end; i++) {
        const float g = dy[i];
        dx[i] = y[i] > 0.0f ? g : 0.0f;
    }
}

int ann_relu_backward(float *dx, const float *dy, const float *y, int64_t n)
{
    if (!dx || !dy || !y) return ANN_E_NULL;
    if (n < 0) return ANN_E_SIZE;
    struct relu_args a = {dx, dy, y, 1.0f};
    const ann__fpmode fp = ann__flush_denormals();   /* platform.h */
    ann__parallel_range(n, NS_ROW_FLOAT, relu_backward_range, &a);
    ann__restore_fpmode(fp);
    return ANN_OK;
}

/*
 * ReLU then inverted dropout, backward in one sweep (net_fused.c runs it in place of
 * ann_dropout_backward followed by ReLU's backward). With a = relu(z) and h = a keep / (1 - p),
 *   dL/dz = dL/dh scale  where the unit was kept and a > 0,  else 0     (scale = 1 / (1 - p))
 * which is what the two passes give, bit for bit (the dropout pass's product, then the ReLU's
 * select). g (n) is turned from dL/dh into dL/dz in place; a (n) is the ReLU's output, mask (n)
 * dropout's keep flags.
 */
struct relu_dropout_args {
    float *g;
    const float *a;
    const uint8_t *mask;
    float scale;
};

static void relu_dropout_backward_range(void *ctx, int64_t begin, int64_t end)
{
    const struct relu_dropout_args *r = ctx;
    float *restrict g = r->g;
    const float *restrict a = r->a;
    const uint8_t *restrict mask = r->mask;
    const float scale = r->scale;
    /* select, then multiply (0 * scale is +0, as the two passes give): a multiply inside the
     * select could trap, so GCC would keep a branch per element instead of vector blends */
    for (int64_t i = begin; i < end; i++) {
        const float gi = g[i];
        const int pass = (mask[i] != 0) & (a[i] > 0.0f);   /* & not &&: no branch */
        const float passed = pass ? gi : 0.0f;
        g[i] = passed * scale;
    }
}

void ann__relu_dropout_backward(float *g, const float *a, const uint8_t *mask, int64_t n, float p)
{
    struct relu_dropout_args r = {g, a, mask, 1.0f / (1.0f - p)};
    ann__parallel_range(n, NS_ROW_FLOAT, relu_dropout_backward_range, &r);
}

/* ---- leaky ReLU ------------------------------------------------------------------------
 * f(x) = x for x > 0, a x for x <= 0 (slope a >= 0):  f'(x) = 1 for x > 0, a for x < 0, and the
 * code takes a at the kink, as PyTorch. For a >= 0, y > 0 exactly when x > 0, so the derivative
 * is read from the output, as ReLU's (which is the case a = 0). */

int ann_leaky_relu_forward(float *y, const float *x, int64_t n, float slope)
{
    return forward_op(y, x, n, ANN_LEAKY_RELU, slope);
}

int ann_leaky_relu_backward(float *dx, const float *dy, const float *y, int64_t n, float slope)
{
    if (!dx || !dy || !y) return ANN_E_NULL;
    if (n < 0) return ANN_E_SIZE;
    if (!slope_ok(slope)) return ANN_E_ARG;
    const ann__fpmode fp = ann__flush_denormals();   /* platform.h */
    for (int64_t i = 0; i < n; i++) {
        const float g = dy[i];
        dx[i] = y[i] > 0.0f ? g : slope * g;
    }
    ann__restore_fpmode(fp);
    return ANN_OK;
}

/* ---- sigmoid (the logistic function) --------------------------------------------------------
 * s(x) = 1 / (1 + e^-x). Its derivative, by the quotient rule:
 *   s'(x) = e^-x / (1 + e^-x)^2 = s(x) (1 - s(x)) = y (1 - y),
 * a function of the output alone, at most 1/4 (at x = 0) and tending to 0 as |x| grows: a
 * saturated unit passes almost no gradient back (docs/activations.md). */

int ann_sigmoid_forward(float *y, const float *x, int64_t n)
{
    return forward_op(y, x, n, ANN_SIGMOID, 0.0f);
}

int ann_sigmoid_backward(float *dx, const float *dy, const float *y, int64_t n)
{
    if (!dx || !dy || !y) return ANN_E_NULL;
    if (n < 0) return ANN_E_SIZE;
    const ann__fpmode fp = ann__flush_denormals();   /* platform.h */
    for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * (y[i] * (1.0f - y[i]));
    ann__restore_fpmode(fp);
    return ANN_OK;
}

/* ---- tanh ------------------------------------------------------------------------------
 * tanh x = (e^x - e^-x) / (e^x + e^-x) = 2 s(2x) - 1, a sigmoid stretched to (-1, 1) and centred
 * on 0. Its derivative: d/dx tanh x = 1 - tanh^2 x = 1 - y^2, at most 1 (at x = 0). */

int ann_tanh_forward(float *y, const float *x, int64_t n)
{
    return forward_op(y, x, n, ANN_TANH, 0.0f);
}

int ann_tanh_backward(float *dx, const float *dy, const float *y, int64_t n)
{
    if (!dx || !dy || !y) return ANN_E_NULL;
    if (n < 0) return ANN_E_SIZE;
    const ann__fpmode fp = ann__flush_denormals();   /* platform.h */
    for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
    ann__restore_fpmode(fp);
    return ANN_OK;
}

/* ---- GELU (Hendrycks & Gimpel 2016), the exact form ------------------------------------------
 * gelu(x) = x Phi(x), Phi the standard normal CDF, computed through erfc (see normal_cdf); this
 * is PyTorch's nn.GELU() with its default approximate='none', not the tanh approximation.
 * By the product rule, with phi(x) = Phi'(x) = e^(-x^2/2) / sqrt(2 pi) the normal density:
 *   gelu'(x) = Phi(x) + x phi(x).
 * That is not a function of the output (gelu is not one-to-one below 0), so the backward reads
 * the input x. */

int ann_gelu_forward(float *y, const float *x, int64_t n)
{
    return forward_op(y, x, n, ANN_GELU, 0.0f);
}

int ann_gelu_backward(float *dx, const float *dy, const float *x, int64_t n)
{
    if (!dx || !dy || !x) return ANN_E_NULL;
    if (n < 0) return ANN_E_SIZE;
    const ann__fpmode fp = ann__flush_denormals();   /* platform.h */
    for (int64_t i = 0; i < n; i++) {
        const float v = x[i];
        const float density = ANN_INV_SQRT_2PI * expf(-0.5f * v * v);
        dx[i] = dy[i] * (normal_cdf(v) + v * density);
    }
    ann__restore_fpmode(fp);
    return ANN_OK;
}

/* ---- any activation, by kind ---------------------------------------------------------------- */

int ann_activation_forward(float *y, const float *x, int64_t n, int kind, float slope)
{
    return forward_op(y, x, n, kind, slope);
}

/* The identity's derivative is 1: dx = dy. Every other kind is its backward above. */
int ann_activation_backward(float *dx, const float *dy, const float *x, const float *y,
                            int64_t n, int kind, float slope)
{
    switch (kind) {
    case ANN_IDENTITY:
        if (!dx || !dy) return ANN_E_NULL;
        if (n < 0) return ANN_E_SIZE;
        if (dx != dy) memmove(dx, dy, (size_t)n * sizeof(float));
        return ANN_OK;
    case ANN_RELU: return ann_relu_backward(dx, dy, y, n);
    case ANN_LEAKY_RELU: return ann_leaky_relu_backward(dx, dy, y, n, slope);
    case ANN_SIGMOID: return ann_sigmoid_backward(dx, dy, y, n);
    case ANN_TANH: return ann_tanh_backward(dx, dy, y, n);
    case ANN_GELU: return ann_gelu_backward(dx, dy, x, n);
    default: return ANN_E_ARG;
    }
}

/* ---- softmax + cross-entropy, fused ------------------------------------------------------ */

/*
 * For one row z (K) with label t:   p_k = exp(z_k - m) / sum_j exp(z_j - m),  m = max_j z_j
 *   loss = -log p_t = log(sum_j exp(z_j - m)) - (z_t - m)
 *   dloss/dz_k = p_k - [k == t]
 * The batch loss is the mean over rows, so each row's gradient is divided by B.
 * Subtracting m changes nothing mathematically; every exp() is then in [0, 1], the largest 1.
 */
int ann_softmax_cross_entropy(float *dlogits, float *probs, double *loss,
                              const float *logits, const int32_t *labels, int B, int K)
{
    if (!loss || !logits || !labels) return ANN_E_NULL;
    if (B < 1 || K < 1) return ANN_E_SIZE;
    for (int r = 0; r < B; r++)
        if (labels[r] < 0 || labels[r] >= K) return ANN_E_LABEL;
    const ann__fpmode fp = ann__flush_denormals();   /* platform.h */
    double total = 0.0;
    const float inv_B = 1.0f / (float)B;
    for (int r = 0; r < B; r++) {
        const float *z = logits + (size_t)r * K;        /* (K) */
        float *g = dlogits ? dlogits + (size_t)r * K : NULL;
        float *p = probs ? probs + (size_t)r * K : NULL;
        int t = labels[r];
        float m = z[0];
        for (int k = 1; k < K; k++) if (z[k] > m) m = z[k];
        const float zt = z[t];                 /* read before g, which may alias z, is written */
        /* First pass: e_k = exp(z_k - m), each in (0, 1], kept in the output row if there is
         * one (g first: it may alias z, and e_k is written only after z_k is read). */
        float *e = g ? g : p;
        float sum = 0.0f;
        for (int k = 0; k < K; k++) {
            float ek = expf(z[k] - m);
            if (e) e[k] = ek;
            sum += ek;
        }
        total += log((double)sum) - ((double)zt - m);
        if (!e) continue;
        /* Second pass: p_k = e_k / sum and g_k = (p_k - [k == t]) / B. */
        const float inv_sum = 1.0f / sum;
        for (int k = 0; k < K; k++) {
            float pk = e[k] * inv_sum;
            if (p) p[k] = pk;
            if (g) g[k] = (pk - (k == t ? 1.0f : 0.0f)) * inv_B;
        }
    }
    *loss = total / B;
    ann__restore_fpmode(fp);
    return isfinite(*loss) ? ANN_OK : ANN_E_NONFINITE;
}

/* ---- the heads with float targets ------------------------------------------------------------
 *
 * Each loss is the mean over all B K entries (as PyTorch's BCEWithLogitsLoss and MSELoss by
 * default), so one entry's gradient carries a factor 1 / (B K). Every loss is summed in double.
 */

/*
 * Sigmoid + binary cross-entropy, for one entry z with target t (docs/heads.md):
 *   p = s(z),   loss = -(t log p + (1 - t) log(1 - p)).
 * With log p = -log(1 + e^-z) and log(1 - p) = -z - log(1 + e^-z):
 *   loss = (1 - t) z + log(1 + e^-z) = max(z, 0) - t z + log(1 + e^-|z|)
 * (the last form: for z < 0 add and subtract z, log(1 + e^-z) = -z + log(1 + e^z)). It never
 * takes the log of 0 nor exponentiates a positive number, whatever z is.
 *   dloss/dz = (1 - t) - e^-z / (1 + e^-z) = (1 - t) - (1 - p) = p - t,
 * the same simple form as softmax + cross-entropy.
 */
int ann_sigmoid_bce(float *dlogits, float *probs, double *loss, const float *logits,
                    const float *targets, int B, int K)
{
    if (!loss || !logits || !targets) return ANN_E_NULL;
    if (B < 1 || K < 1) return ANN_E_SIZE;
    const ann__fpmode fp = ann__flush_denormals();   /* platform.h */
    const int64_t n = (int64_t)B * K;
    const float scale = 1.0f / (float)n;
    double total = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const float z = logits[i], t = targets[i];
        total += fmax((double)z, 0.0) - (double)t * z + log1p(exp(-fabs((double)z)));
        const float p = sigmoid(z);
        if (probs) probs[i] = p;
        if (dlogits) dlogits[i] = (p - t) * scale;
    }
    *loss = total / (double)n;
    ann__restore_fpmode(fp);
    return isfinite(*loss) ? ANN_OK : ANN_E_NONFINITE;
}

/*
 * Identity + mean squared error: y = z, loss = (y - t)^2 per entry, dloss/dz = 2 (y - t).
 */
int ann_identity_mse(float *dlogits, float *outputs, double *loss, const float *logits,
                     const float *targets, int B, int K)
{
    if (!loss || !logits || !targets) return ANN_E_NULL;
    if (B < 1 || K < 1) return ANN_E_SIZE;
    const ann__fpmode fp = ann__flush_denormals();   /* platform.h */
    const int64_t n = (int64_t)B * K;
    const float scale = 2.0f / (float)n;
    double total = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const float y = logits[i], t = targets[i];
        const double d = (double)y - t;
        total += d * d;
        if (outputs) outputs[i] = y;
        if (dlogits) dlogits[i] = (y - t) * scale;
    }
    *loss = total / (double)n;
    ann__restore_fpmode(fp);
    return isfinite(*loss) ? ANN_OK : ANN_E_NONFINITE;
}

/*
 * Sigmoid + mean squared error (the quadratic cost of Nielsen's book, chapter 1):
 *   p = s(z),  loss = (p - t)^2,  dloss/dz = 2 (p - t) s'(z) = 2 (p - t) p (1 - p).
 * Unlike cross-entropy, s'(z) stays in the gradient: a unit saturated at the wrong answer
 * (p near 1, t = 0) gets a gradient near 0 and learns slowly (docs/heads.md shows it with
 * numbers from ann trace). p (1 - p) = s(z) s(-z), each side computed from e^-|z| so that
 * neither is 1 - (a number that rounds to 1).
 */
int ann_sigmoid_mse(float *dlogits, float *probs, double *loss, const float *logits,
                    const float *targets, int B, int K)
{
    if (!loss || !logits || !targets) return ANN_E_NULL;
    if (B < 1 || K < 1) return ANN_E_SIZE;
    const ann__fpmode fp = ann__flush_denormals();   /* platform.h */
    const int64_t n = (int64_t)B * K;
    const float scale = 2.0f / (float)n;
    double total = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const float z = logits[i], t = targets[i];
        const float e = expf(-fabsf(z));            /* in (0, 1] */
        const float big = 1.0f / (1.0f + e);        /* s(|z|), in [1/2, 1] */
        const float small = e / (1.0f + e);         /* s(-|z|) = 1 - s(|z|), in (0, 1/2] */
        const float p = z >= 0.0f ? big : small;
        const double d = (double)p - t;
        total += d * d;
        if (probs) probs[i] = p;
        if (dlogits) dlogits[i] = (p - t) * (big * small) * scale;
    }
    *loss = total / (double)n;
    ann__restore_fpmode(fp);
    return isfinite(*loss) ? ANN_OK : ANN_E_NONFINITE;
}

/* ---- SGD --------------------------------------------------------------------------------- */

struct sgd_args { float *params; const float *grads; float lr; };

static void sgd_range(void *ctx, int64_t begin, int64_t end)
{
    const struct sgd_args *a = ctx;
    float *restrict params = a->params;         /* restrict locals: see adam_range */
    const float *restrict grads = a->grads;
    const float lr = a->lr;
    for (int64_t i = begin; i < end; i++) params[i] -= lr * grads[i];
}

/* Gradient descent step: theta <- theta - lr * dL/dtheta. */
int ann_sgd_update(float *params, const float *grads, int64_t n, float lr)
{
    if (!params || !grads) return ANN_E_NULL;
    if (n < 0) return ANN_E_SIZE;
    if (!(lr >= 0.0f) || !isfinite(lr)) return ANN_E_ARG;
    struct sgd_args a = {params, grads, lr};
    const ann__fpmode fp = ann__flush_denormals();   /* platform.h */
    ann__parallel_range(n, NS_SGD, sgd_range, &a);
    ann__restore_fpmode(fp);
    return ANN_OK;
}

/* ---- batch normalization ------------------------------------------------------------ */

int ann_batchnorm_forward(float *y, float *xhat, float *mean, float *var,
                          const float *z, const float *gamma, const float *beta,
                          int B, int n, float eps)
{
    if (!y || !xhat || !mean || !var || !z || !gamma || !beta) return ANN_E_NULL;
    if (B < 1 || n < 1) return ANN_E_SIZE;
    if (!(eps > 0.0f)) return ANN_E_ARG;
    const ann__fpmode fp = ann__flush_denormals();   /* platform.h */
    /* Two passes over the rows (mean, then variance around it) rather than sum and sum of
     * squares in one: E[z^2] - E[z]^2 cancels catastrophically when |mean| >> std. */
    ann__sum_rows(mean, z, B, n);
    for (int j = 0; j < n; j++) { mean[j] /= (float)B; var[j] = 0.0f; }
    for (int r = 0; r < B; r++) {
        const float *row = z + (size_t)r * n;
        for (int j = 0; j < n; j++) { float d = row[j] - mean[j]; var[j] += d * d; }
    }
    for (int j = 0; j < n; j++) var[j] /= (float)B;
    for (int r = 0; r < B; r++) {
        const float *zr = z + (size_t)r * n;
        float *xr = xhat + (size_t)r * n, *yr = y + (size_t)r * n;
        for (int j = 0; j < n; j++) {
            float xh = (zr[j] - mean[j]) / sqrtf(var[j] + eps);
            xr[j] = xh;
            yr[j] = gamma[j] * xh + beta[j];
        }
    }
    ann__restore_fpmode(fp);
    return ANN_OK;
}

/*
 * With s = 1/sqrt(var + eps) and xhat = (z - mean) s, y = gamma xhat + beta:
 *   dL/dgamma = sum_r dy xhat,   dL/dbeta = sum_r dy,   dL/dxhat = dy gamma
 * and, since mean and var depend on every row,
 *   dL/dz_r = s/B (B dxhat_r - sum_q dxhat_q - xhat_r sum_q dxhat_q xhat_q)
 *           = gamma s / B (B dy_r - dbeta - xhat_r dgamma).
 */
int ann_batchnorm_backward(float *dz, float *dgamma, float *dbeta,
                           const float *dy, const float *xhat, const float *var,
                           const float *gamma, int B, int n, float eps)
{
    if (!dz || !dgamma || !dbeta || !dy || !xhat || !var || !gamma) return ANN_E_NULL;
    if (B < 1 || n < 1) return ANN_E_SIZE;
    if (!(eps > 0.0f)) return ANN_E_ARG;
    const ann__fpmode fp = ann__flush_denormals();   /* platform.h */
    memset(dgamma, 0, (size_t)n * sizeof(float));
    ann__sum_rows(dbeta, dy, B, n);
    for (int r = 0; r < B; r++) {
        const float *g = dy + (size_t)r * n, *xh = xhat + (size_t)r * n;
        for (int j = 0; j < n; j++) dgamma[j] += g[j] * xh[j];
    }
    for (int r = 0; r < B; r++) {
        const float *g = dy + (size_t)r * n, *xh = xhat + (size_t)r * n;
        float *out = dz + (size_t)r * n;
        for (int j = 0; j < n; j++) {
            float scale = gamma[j] / sqrtf(var[j] + eps) / (float)B;
            out[j] = scale * ((float)B * g[j] - dbeta[j] - xh[j] * dgamma[j]);
        }
    }
    ann__restore_fpmode(fp);
    return ANN_OK;
}

int ann_batchnorm_inference(float *y, const float *z, const float *gamma, const float *beta,
                            const float *running_mean, const float *running_var,
                            int B, int n, float eps)
{
    if (!y || !z || !gamma || !beta || !running_mean || !running_var) return ANN_E_NULL;
    if (B < 1 || n < 1) return ANN_E_SIZE;
    if (!(eps > 0.0f)) return ANN_E_ARG;
    const ann__fpmode fp = ann__flush_denormals();   /* platform.h */
    for (int r = 0; r < B; r++) {
        const float *zr = z + (size_t)r * n;
        float *yr = y + (size_t)r * n;
        for (int j = 0; j < n; j++)
            yr[j] = gamma[j] * ((zr[j] - running_mean[j]) / sqrtf(running_var[j] + eps)) + beta[j];
    }
    ann__restore_fpmode(fp);
    return ANN_OK;
}

/* ---- dropout ------------------------------------------------------------------------- */

/*
 * Unit i of the pass is kept when its draw u_i >= p, u_i the (i + 1)-th number of the
 * splitmix64 stream from *state. splitmix64 only adds a constant to its state before mixing,
 * so the state before draw i is *state + i * SPLITMIX_GAMMA: any range of units can start its
 * draws on its own, and the pass runs on the pool with the very numbers of one serial loop.
 * *state ends past all n draws, as after the serial loop.
 */
#define SPLITMIX_GAMMA 0x9E3779B97F4A7C15ULL

struct dropout_args {
    float *y;
    uint8_t *mask;
    const float *x, *dy;
    uint64_t state;
    float p, scale;
};

/*
 * Draw i of the pass, written so that the compiler vectorizes it: the state before draw i is
 * base + i GAMMA, so draw i is splitmix64's mix of base + (i + 1) GAMMA, independent of every
 * other draw (no state carried from one unit to the next, and no call into
 * ann_random_uniform). The test u >= p, with u = (z >> 40) 2^-24, is done on the integer:
 * u >= p exactly when z >> 40 >= ceil(p 2^24) (p 2^24 is exact in float), so no conversion
 * either. Same draws, same masks, same bits as the serial loop of ann_random_uniform calls
 * (tests/c/test_passes.c holds them equal).
 */
#if defined(__GNUC__) || defined(__clang__)
#define DROPOUT_INLINE static inline __attribute__((always_inline))
#else
#define DROPOUT_INLINE static inline
#endif

DROPOUT_INLINE void dropout_forward_loop(const struct dropout_args *a, int64_t begin,
                                         int64_t end)
{
    float *y = a->y;            /* may be x itself (in place): neither is restrict */
    const float *x = a->x;
    uint8_t *restrict mask = a->mask;
    const float scale = a->scale;
    const uint64_t base = a->state, threshold = (uint64_t)ceilf(a->p * 16777216.0f);
    for (int64_t i = begin; i < end; i++) {
        uint64_t z = base + (uint64_t)(i + 1) * SPLITMIX_GAMMA;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        z ^= z >> 31;
        const uint8_t keep = (z >> 40) >= threshold;
        const float kept = x[i] * scale;   /* computed either way: a select, no branch */
        mask[i] = keep;
        y[i] = keep ? kept : 0.0f;
    }
}

static void dropout_forward_range(void *ctx, int64_t begin, int64_t end)
{
    dropout_forward_loop(ctx, begin, end);
}

/* The same loop for AVX2 (4 64-bit lanes; its multiplies are built from 32-bit ones) and for
 * AVX-512 with the DQ extension (8 lanes, a 64-bit multiply instruction), chosen at run time:
 * the three compile to different instructions for the same integer arithmetic, so the bits
 * are the same. */
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_DROPOUT_X86 1
__attribute__((target("avx2"))) static void dropout_forward_range_avx2(void *ctx,
                                                                        int64_t begin,
                                                                        int64_t end)
{
    dropout_forward_loop(ctx, begin, end);
}
__attribute__((target("avx512f,avx512dq,avx512bw,avx512vl"))) static void
dropout_forward_range_avx512(void *ctx, int64_t begin, int64_t end)
{
    dropout_forward_loop(ctx, begin, end);
}
#endif

int ann_dropout_forward(float *y, uint8_t *mask, const float *x, int64_t n, float p,
                        uint64_t *state)
{
    if (!y || !mask || !x || !state) return ANN_E_NULL;
    if (n < 0) return ANN_E_SIZE;
    if (!(p >= 0.0f && p < 1.0f)) return ANN_E_ARG;
    struct dropout_args a = {y, mask, x, NULL, *state, p, 1.0f / (1.0f - p)};
    void (*range)(void *, int64_t, int64_t) = dropout_forward_range;
#if defined(HAVE_DROPOUT_X86)
    const int level = ann__vector_level();
    if (level >= ANN__VEC_AVX512 && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
        range = dropout_forward_range_avx512;
    else if (level >= ANN__VEC_AVX2)
        range = dropout_forward_range_avx2;
#endif
    const ann__fpmode fp = ann__flush_denormals();   /* platform.h */
    ann__parallel_range(n, NS_DROPOUT_FORWARD, range, &a);
    *state += (uint64_t)n * SPLITMIX_GAMMA;
    ann__restore_fpmode(fp);
    return ANN_OK;
}

/* Two copies of one loop, so that both vectorize: in place (dx == dy, as the network calls it)
 * through a single pointer, and otherwise with dx and dy restrict. */
static void dropout_backward_range(void *ctx, int64_t begin, int64_t end)
{
    const struct dropout_args *a = ctx;
    const uint8_t *restrict mask = a->mask;
    const float scale = a->scale;
    /* select, then multiply (a dropped unit gives 0 * scale = +0): with the multiply inside
     * the select GCC keeps a branch per element, since a multiply could trap */
    if (a->y == a->dy) {
        float *restrict g = a->y;
        for (int64_t i = begin; i < end; i++) {
            const float kept = mask[i] ? g[i] : 0.0f;
            g[i] = kept * scale;
        }
    } else {
        float *restrict dx = a->y;
        const float *restrict dy = a->dy;
        for (int64_t i = begin; i < end; i++) {
            const float d = dy[i];   /* loaded whatever the mask says: a blend, no branch */
            const float kept = mask[i] ? d : 0.0f;
            dx[i] = kept * scale;
        }
    }
}

/* y = x keep / (1 - p) is linear in x with slope keep / (1 - p). */
int ann_dropout_backward(float *dx, const float *dy, const uint8_t *mask, int64_t n, float p)
{
    if (!dx || !dy || !mask) return ANN_E_NULL;
    if (n < 0) return ANN_E_SIZE;
    if (!(p >= 0.0f && p < 1.0f)) return ANN_E_ARG;
    struct dropout_args a = {dx, (uint8_t *)mask, NULL, dy, 0, p, 1.0f / (1.0f - p)};
    const ann__fpmode fp = ann__flush_denormals();   /* platform.h */
    ann__parallel_range(n, NS_DROPOUT_BACKWARD, dropout_backward_range, &a);
    ann__restore_fpmode(fp);
    return ANN_OK;
}

/* ---- L2 and the optimizers --------------------------------------------------------------- */

/* d/dtheta (l2/2) theta^2 = l2 theta */
int ann_l2_penalty(double *penalty, float *grads, const float *params, int64_t n, float l2)
{
    if (!penalty || !grads || !params) return ANN_E_NULL;
    if (n < 0) return ANN_E_SIZE;
    if (!(l2 >= 0.0f) || !isfinite(l2)) return ANN_E_ARG;
    const ann__fpmode fp = ann__flush_denormals();   /* platform.h */
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        sum += (double)params[i] * params[i];
        grads[i] += l2 * params[i];
    }
    *penalty = 0.5 * l2 * sum;
    ann__restore_fpmode(fp);
    return ANN_OK;
}

struct momentum_args { float *params, *velocity; const float *grads; float lr, mu; int nesterov; };

static void momentum_range(void *ctx, int64_t begin, int64_t end)
{
    const struct momentum_args *a = ctx;
    float *restrict params = a->params, *restrict velocity = a->velocity; /* see adam_range */
    const float *restrict grads = a->grads;
    const float lr = a->lr, mu = a->mu;
    if (a->nesterov) {
        for (int64_t i = begin; i < end; i++) {
            const float vel = mu * velocity[i] + grads[i];
            velocity[i] = vel;
            params[i] -= lr * (grads[i] + mu * vel);
        }
    } else {
        for (int64_t i = begin; i < end; i++) {
            const float vel = mu * velocity[i] + grads[i];
            velocity[i] = vel;
            params[i] -= lr * vel;
        }
    }
}

int ann_momentum_update(float *params, float *velocity, const float *grads, int64_t n,
                        float lr, float mu, int nesterov)
{
    if (!params || !velocity || !grads) return ANN_E_NULL;
    if (n < 0) return ANN_E_SIZE;
    if (!(lr >= 0.0f) || !isfinite(lr) || !(mu >= 0.0f && mu < 1.0f)) return ANN_E_ARG;
    struct momentum_args a = {params, velocity, grads, lr, mu, nesterov};
    const ann__fpmode fp = ann__flush_denormals();   /* platform.h */
    ann__parallel_range(n, NS_MOMENTUM, momentum_range, &a);
    ann__restore_fpmode(fp);
    return ANN_OK;
}

struct adam_args {
    float *params, *m, *v;
    const float *grads;
    float lr, beta1, beta2, eps, c1, c2;
};

/*
 * The update of params[begin..end). Written so that the compiler vectorizes it (scalar, it
 * took 10-35 ms for the 1.86M parameters of the best preset, a third of a training step):
 * the buffers are restrict locals, because stores through a->m could otherwise alias the
 * settings in *a, which would be reloaded for every element and block vectorizing; and the
 * core is built with -fno-math-errno (build_ffi.py), without which sqrtf keeps a branch to
 * set errno and stays scalar. The arithmetic is the same, operation for operation, so the
 * bits are too. ADAM_INLINE: so that adam_range_avx2 below gets its own copy of the loop.
 */
#if defined(__GNUC__) || defined(__clang__)
#define ADAM_INLINE static inline __attribute__((always_inline))
#else
#define ADAM_INLINE static inline
#endif

ADAM_INLINE void adam_loop(const struct adam_args *a, int64_t begin, int64_t end)
{
    float *restrict params = a->params, *restrict m = a->m, *restrict v = a->v;
    const float *restrict grads = a->grads;
    const float beta1 = a->beta1, beta2 = a->beta2, lr = a->lr, eps = a->eps;
    const float c1 = a->c1, c2 = a->c2;
    for (int64_t i = begin; i < end; i++) {
        const float g = grads[i];
        const float mi = beta1 * m[i] + (1.0f - beta1) * g;
        const float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        params[i] -= lr * (mi / c1) / (sqrtf(vi / c2) + eps);
    }
}

static void adam_range(void *ctx, int64_t begin, int64_t end) { adam_loop(ctx, begin, end); }

/* The same loop compiled for AVX2, 8 floats per instruction where the baseline x86-64 build
 * has SSE's 4: two divisions and a square root per value make the update arithmetic-bound
 * once it is vectorized (1.86M values: 1.95 ms with SSE, 1.45 ms with AVX2, one thread, Zen 4).
 * AVX2 without FMA, so no multiply-add is fused and the bits stay those of adam_range. */
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_ADAM_AVX2 1
__attribute__((target("avx2"))) static void adam_range_avx2(void *ctx, int64_t begin,
                                                             int64_t end)
{
    adam_loop(ctx, begin, end);
}
#endif

int ann_adam_update(float *params, float *m, float *v, const float *grads, int64_t n,
                    float lr, float beta1, float beta2, float eps, int64_t t)
{
    if (!params || !m || !v || !grads) return ANN_E_NULL;
    if (n < 0) return ANN_E_SIZE;
    if (!(lr >= 0.0f) || !isfinite(lr) || !(beta1 >= 0.0f && beta1 < 1.0f) ||
        !(beta2 >= 0.0f && beta2 < 1.0f) || !(eps > 0.0f) || t < 1)
        return ANN_E_ARG;
    /* bias corrections: m and v start at 0, so early averages are too small by 1 - beta^t */
    const float c1 = (float)(1.0 - pow(beta1, (double)t));
    const float c2 = (float)(1.0 - pow(beta2, (double)t));
    struct adam_args a = {params, m, v, grads, lr, beta1, beta2, eps, c1, c2};
    const ann__fpmode fp = ann__flush_denormals();   /* platform.h */
    void (*range)(void *, int64_t, int64_t) = adam_range;
#if defined(HAVE_ADAM_AVX2)
    if (ann__vector_level() >= ANN__VEC_AVX2) range = adam_range_avx2;
#endif
    ann__parallel_range(n, NS_ADAM, range, &a);
    ann__restore_fpmode(fp);
    return ANN_OK;
}

/* ---- data ---------------------------------------------------------------------------------- */

int ann_gather_u8(float *x, const uint8_t *images, int64_t N, const int32_t *idx, int B, int D)
{
    if (!x || !images || !idx) return ANN_E_NULL;
    if (B < 1 || D < 1 || N < 1) return ANN_E_SIZE;
    return ann__gather_rows(x, images, N, idx, 0, B, D);
}

struct gather_args {
    float *x;
    const uint8_t *images;
    const int32_t *idx;
    int64_t first;
    int D;
};

/* rows [begin, end) of the batch: x[r] = images[idx[r] or first + r] / 255 */
static void gather_rows_range(void *ctx, int64_t begin, int64_t end)
{
    const struct gather_args *a = ctx;
    const float scale = 1.0f / 255.0f;
    const int D = a->D;
    for (int64_t r = begin; r < end; r++) {
        const uint8_t *restrict src =
            a->images + (size_t)(a->idx ? a->idx[r] : a->first + r) * D;   /* (D) */
        float *restrict dst = a->x + (size_t)r * D;                          /* (D) */
        for (int i = 0; i < D; i++) dst[i] = (float)src[i] * scale;
    }
}

int ann__gather_rows(float *x, const uint8_t *images, int64_t N, const int32_t *idx,
                     int64_t first, int B, int D)
{
    for (int r = 0; r < B; r++) {
        const int64_t row = idx ? idx[r] : first + r;
        if (row < 0 || row >= N) return ANN_E_INDEX;
    }
    struct gather_args a = {x, images, idx, first, D};
    ann__parallel_range(B, D * NS_GATHER_BYTE, gather_rows_range, &a);
    return ANN_OK;
}

int ann_gather_f32(float *x, const float *features, int64_t N, const int32_t *idx, int B, int D)
{
    if (!x || !features || !idx) return ANN_E_NULL;
    if (B < 1 || D < 1 || N < 1) return ANN_E_SIZE;
    return ann__gather_rows_f32(x, features, N, idx, 0, B, D);
}

/* The float32 twin of ann__gather_rows: a copy of each row, checked for NaN and infinities
 * (the batch goes straight into the forward pass, where one NaN would poison every sum). */
int ann__gather_rows_f32(float *x, const float *features, int64_t N, const int32_t *idx,
                         int64_t first, int B, int D)
{
    for (int r = 0; r < B; r++) {
        const int64_t row = idx ? idx[r] : first + r;
        if (row < 0 || row >= N) return ANN_E_INDEX;
    }
    for (int r = 0; r < B; r++) {
        const float *src = features + (size_t)(idx ? idx[r] : first + r) * D; /* (D) */
        float *dst = x + (size_t)r * D;                                      /* (D) */
        memcpy(dst, src, (size_t)D * sizeof(float));
        for (int i = 0; i < D; i++)
            if (!isfinite(dst[i])) return ANN_E_NONFINITE;
    }
    return ANN_OK;
}

/* x (B, D) = (x - mean) / std, column by column: the input standardisation of a network
 * trained on float features (ann_net_set_standardization). */
int ann_standardize(float *x, const float *mean, const float *std, int B, int D)
{
    if (!x || !mean || !std) return ANN_E_NULL;
    if (B < 1 || D < 1) return ANN_E_SIZE;
    const ann__fpmode fp = ann__flush_denormals();   /* platform.h */
    for (int r = 0; r < B; r++) {
        float *row = x + (size_t)r * D;                                      /* (D) */
        for (int i = 0; i < D; i++) row[i] = (row[i] - mean[i]) / std[i];
    }
    ann__restore_fpmode(fp);
    return ANN_OK;
}

/* splitmix64 (Steele, Lea, Flood 2014): a 64-bit state advanced by a constant, then mixed.
 * Small, fast, and easy to reproduce in Python for the reference backend. */
uint64_t ann__splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

float ann_random_uniform(uint64_t *state)
{
    if (!state) return 0.0f;
    return (float)(ann__splitmix64(state) >> 40) * (1.0f / 16777216.0f);
}

/* Fisher-Yates: for i = n-1 down to 1 swap idx[i] with idx[j], j uniform in [0, i].
 * j = next % (i + 1): the modulo bias is below 2^-32 for any n < 2^31. */
int ann_shuffle(int32_t *idx, int64_t n, uint64_t *state)
{
    if (!idx || !state) return ANN_E_NULL;
    if (n < 0) return ANN_E_SIZE;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(ann__splitmix64(state) % (uint64_t)(i + 1));
        int32_t tmp = idx[i];
        idx[i] = idx[j];
        idx[j] = tmp;
    }
    return ANN_OK;
}
