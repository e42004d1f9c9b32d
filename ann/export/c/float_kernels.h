/* The float32 operations of every header `ann export-c` writes.
 *
 * A template, not a header to include: ann/export/c_float.py copies everything after this
 * comment into each header it writes, with prefix_ replaced by the header's prefix and PREFIX_
 * by its capitals. PREFIX_F32(p) reads a float of the constant tables (from flash on AVR). The
 * functions are static inline, so every header holds all of them and a program compiles only
 * those its network calls. Before them the header defines prefix_input (input i as the first
 * layer sees it). Shapes: n_in and n_out of a dense layer, n of a vector. */

/* y = W x + b: one dot product per output unit. W (n_out, n_in) and b (n_out) in flash,
 * x (n_in), y (n_out) */
static inline void prefix_dense(float *y, const float *x, const float *W, const float *b,
                                size_t n_in, size_t n_out)
{
    for (size_t j = 0; j < n_out; j++) {
        const float *w = W + j * n_in; /* (n_in) */
        float acc = PREFIX_F32(&b[j]);
        for (size_t i = 0; i < n_in; i++) acc += PREFIX_F32(&w[i]) * x[i];
        y[j] = acc;
    }
}

/* the first layer, from the raw input (n_in floats) through prefix_input */
static inline void prefix_dense_in(float *y, const float *input, const float *W, const float *b,
                                   size_t n_in, size_t n_out)
{
    for (size_t j = 0; j < n_out; j++) {
        const float *w = W + j * n_in; /* (n_in) */
        float acc = PREFIX_F32(&b[j]);
        for (size_t i = 0; i < n_in; i++) acc += PREFIX_F32(&w[i]) * prefix_input(input[i], i);
        y[j] = acc;
    }
}

/* the same from the pixel bytes (n_in) of an image model */
static inline void prefix_dense_in_u8(float *y, const uint8_t *pixels, const float *W,
                                      const float *b, size_t n_in, size_t n_out)
{
    for (size_t j = 0; j < n_out; j++) {
        const float *w = W + j * n_in; /* (n_in) */
        float acc = PREFIX_F32(&b[j]);
        for (size_t i = 0; i < n_in; i++)
            acc += PREFIX_F32(&w[i]) * prefix_input((float)pixels[i], i);
        y[j] = acc;
    }
}

/* ---- hidden activations, in place on x (n) ---- */

/* ReLU: x = max(x, 0) */
static inline void prefix_relu(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

/* leaky ReLU: x = x if x > 0, else alpha x */
static inline void prefix_leaky_relu(float *x, size_t n, float alpha)
{
    for (size_t i = 0; i < n; i++) x[i] = x[i] > 0.0f ? x[i] : alpha * x[i];
}

/* sigmoid: x = 1 / (1 + e^-x) (below -88, expf(-x) is inf and the result 0, as it should) */
static inline void prefix_sigmoid(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = 1.0f / (1.0f + expf(-x[i]));
}

/* tanh */
static inline void prefix_tanh(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = tanhf(x[i]);
}

/* GELU, the exact form: x = x Phi(x) = x (1 + erf(x / sqrt 2)) / 2 */
static inline void prefix_gelu(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.707106781f));
}

/* ---- heads: the logits z (n) to the scores p (n) ---- */

/* the index of the first largest of z[0..n-1]: the class */
static inline int prefix_argmax(const float *z, size_t n)
{
    size_t best = 0;
    for (size_t k = 1; k < n; k++)
        if (z[k] > z[best]) best = k;
    return (int)best;
}

/* softmax: p_k = e^(z_k - m) / sum_j e^(z_j - m) with m = max z, so that expf never overflows
 * (the m cancels); the division as ann's C core does it, times 1 / sum */
static inline void prefix_softmax(float *p, const float *z, size_t n)
{
    float m = z[0], sum = 0.0f;
    for (size_t k = 1; k < n; k++)
        if (z[k] > m) m = z[k];
    for (size_t k = 0; k < n; k++) {
        p[k] = expf(z[k] - m);
        sum += p[k];
    }
    const float inv_sum = 1.0f / sum;
    for (size_t k = 0; k < n; k++) p[k] *= inv_sum;
}

/* sigmoid outputs: p_k = 1 / (1 + e^-z_k), each on its own */
static inline void prefix_sigmoid_out(float *p, const float *z, size_t n)
{
    for (size_t k = 0; k < n; k++) p[k] = 1.0f / (1.0f + expf(-z[k]));
}

/* identity outputs (regression): p = z */
static inline void prefix_identity_out(float *p, const float *z, size_t n)
{
    for (size_t k = 0; k < n; k++) p[k] = z[k];
}
