/* The integer operations of every int8 header `ann export-c --int8` writes.
 *
 * A template, not a header to include: ann/export/c_int8.py copies everything after this
 * comment into each header it writes, with prefix_ replaced by the header's prefix and PREFIX_
 * by its capitals. PREFIX_I8, PREFIX_U8, PREFIX_I32, PREFIX_U32 and PREFIX_F32 read the
 * constant tables (from flash on AVR), PREFIX_SCORE_SUM is the type of the softmax's sum. The
 * functions are static inline, so every header holds all of them and a program compiles only
 * those its network calls. ann/export/_int8.py is the same arithmetic in Python, and
 * docs/quantization.md derives it. Shapes: n_in and n_out of a dense layer, n of a vector. */

/* round(v / 2^shift), halves away from zero, 1 <= shift <= 62. Only non-negative values are
 * shifted (>> of a negative value is implementation-defined in C), so every compiler gives
 * the same result */
static inline int64_t prefix_shift_round(int64_t v, uint8_t shift)
{
    const int64_t half = (int64_t)1 << (shift - 1);
    return v >= 0 ? (v + half) >> shift : -((-v + half) >> shift);
}

/* acc M with M = m / 2^shift, rounded: the requantization multiply (|acc m| < 2^62) */
static inline int64_t prefix_scale(int32_t acc, int32_t m, uint8_t shift)
{
    return prefix_shift_round((int64_t)acc * m, shift);
}

/* v clamped into low..127 */
static inline int8_t prefix_clamp8(int64_t v, int32_t low)
{
    return (int8_t)(v < low ? low : v > 127 ? 127 : v);
}

/* acc (n_out) = B + W x: int8 weights W (n_out, n_in) and int32 B (n_out) in flash, the input
 * x (n_in) of uint8 pixels. Each product fits 16 bits (|x w| <= 255 x 127), the sum 32. The
 * product is formed from the 8-bit operands themselves, which an 8-bit CPU multiplies in one
 * instruction (AVR: mulsu), and the pointers walk (15 % fewer AVR cycles than x[i], w[i]) */
static inline void prefix_dense_u8(int32_t *acc, const uint8_t *x, const int8_t *W,
                                   const int32_t *B, size_t n_in, size_t n_out)
{
    for (size_t j = 0; j < n_out; j++) {
        const int8_t *w = W + j * n_in; /* (n_in) */
        const uint8_t *xi = x;
        int32_t sum = PREFIX_I32(&B[j]);
        for (size_t i = 0; i < n_in; i++, xi++, w++) {
            const int16_t product = (int16_t)(*xi * PREFIX_I8(w));
            sum += product;
        }
        acc[j] = sum;
    }
}

/* the same for an int8 input x (n_in): |x w| <= 128 x 127 */
static inline void prefix_dense_i8(int32_t *acc, const int8_t *x, const int8_t *W,
                                   const int32_t *B, size_t n_in, size_t n_out)
{
    for (size_t j = 0; j < n_out; j++) {
        const int8_t *w = W + j * n_in; /* (n_in) */
        const int8_t *xi = x;
        int32_t sum = PREFIX_I32(&B[j]);
        for (size_t i = 0; i < n_in; i++, xi++, w++) {
            const int16_t product = (int16_t)(*xi * PREFIX_I8(w));
            sum += product;
        }
        acc[j] = sum;
    }
}

/* ---- hidden activations: the accumulators acc (n) to the int8 outputs y (n) ---- */

/* y_j = clamp(zero + round(acc_j M_j), low..127) with M_j = m_j / 2^s_j (m, s in flash):
 * identity with low = -128, ReLU with low = zero (the code of 0: a negative accumulator
 * gives 0) */
static inline void prefix_requantize(int8_t *y, const int32_t *acc, const int32_t *m,
                                     const uint8_t *s, size_t n, int32_t zero, int32_t low)
{
    for (size_t j = 0; j < n; j++)
        y[j] = prefix_clamp8(zero + prefix_scale(acc[j], PREFIX_I32(&m[j]), PREFIX_U8(&s[j])), low);
}

/* leaky ReLU: as requantize with M_j, or with alpha M_j (mn, sn) where acc_j is negative */
static inline void prefix_leaky_relu(int8_t *y, const int32_t *acc, const int32_t *m,
                                     const uint8_t *s, const int32_t *mn, const uint8_t *sn,
                                     size_t n, int32_t zero)
{
    for (size_t j = 0; j < n; j++) {
        const int64_t v = acc[j] < 0 ? prefix_scale(acc[j], PREFIX_I32(&mn[j]), PREFIX_U8(&sn[j]))
                                     : prefix_scale(acc[j], PREFIX_I32(&m[j]), PREFIX_U8(&s[j]));
        y[j] = prefix_clamp8(zero + v, -128);
    }
}

/* a smooth activation f (sigmoid, tanh, GELU): acc_j requantized to the int8 pre-activation
 * q = clamp(zero + round(acc_j M_j)), then y_j = T[q + 128], the table T (256, in flash)
 * holding f's int8 output for every q */
static inline void prefix_lookup(int8_t *y, const int32_t *acc, const int32_t *m,
                                 const uint8_t *s, size_t n, int32_t zero, const int8_t *T)
{
    for (size_t j = 0; j < n; j++) {
        const int8_t q =
            prefix_clamp8(zero + prefix_scale(acc[j], PREFIX_I32(&m[j]), PREFIX_U8(&s[j])), -128);
        y[j] = PREFIX_I8(&T[q + 128]);
    }
}

/* ---- the output layer ---- */

/* the logits in fixed point with 16 fractional bits, the same scale for every class:
 * l_k = round(acc_k M_k), in place */
static inline void prefix_logits(int32_t *acc, const int32_t *m, const uint8_t *s, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        const int64_t v = prefix_scale(acc[k], PREFIX_I32(&m[k]), PREFIX_U8(&s[k]));
        acc[k] = (int32_t)(v > INT32_MAX ? INT32_MAX : v < -INT32_MAX ? -INT32_MAX : v);
    }
}

/* the index of the first largest of l[0..n-1]: the class */
static inline int prefix_argmax(const int32_t *l, size_t n)
{
    size_t best = 0;
    for (size_t k = 1; k < n; k++)
        if (l[k] > l[best]) best = k;
    return (int)best;
}

/* 2^(-k/64) in Q24 (k = 0..64) */
static const uint32_t prefix_exp2[65] PREFIX_ROM = {
    16777216u, 16596492u, 16417715u, 16240863u, 16065917u, 15892855u, 15721658u, 15552304u,
    15384775u, 15219050u, 15055111u, 14892937u, 14732511u, 14573813u, 14416824u, 14261526u,
    14107901u, 13955931u, 13805598u, 13656884u, 13509772u, 13364245u, 13220286u, 13077877u,
    12937002u, 12797645u, 12659789u, 12523418u, 12388516u, 12255067u, 12123055u, 11992466u,
    11863283u, 11735492u, 11609078u, 11484025u, 11360319u, 11237946u, 11116891u, 10997140u,
    10878679u, 10761494u, 10645571u, 10530897u, 10417458u, 10305242u, 10194234u, 10084422u,
    9975792u, 9868333u, 9762032u, 9656875u, 9552851u, 9449948u, 9348154u, 9247455u,
    9147842u, 9049301u, 8951823u, 8855394u, 8760003u, 8665641u, 8572295u, 8479954u,
    8388608u,
};

/* 2^24 e^(-d / 2^16) for d >= 0 in integers: e^-x = 2^-y with y = x log2 e = n + f (n whole,
 * 0 <= f < 1 in Q16; 24204406 is log2 e in Q24); 2^-f interpolated between the table's steps
 * of 1/64 (relative error below 2e-5), then >> n */
static inline uint32_t prefix_exp_neg(uint32_t d)
{
    const uint64_t y = ((uint64_t)d * 24204406u + 8388608u) >> 24; /* Q16 */
    if ((y >> 16) > 24) return 0;
    const unsigned n = (unsigned)(y >> 16);
    const uint32_t f = (uint32_t)(y & 0xFFFFu), i = f >> 10, r = f & 0x3FFu;
    const uint32_t hi = PREFIX_U32(&prefix_exp2[i]), lo = PREFIX_U32(&prefix_exp2[i + 1]);
    const uint32_t v = hi - (((hi - lo) * r + 512u) >> 10);
    return (v + (((uint32_t)1 << n) >> 1)) >> n;
}

/* softmax of the Q16 logits l (n): p_k = e^(l_k - max l) / sum_j e^(l_j - max l), each
 * exponential an integer up to 2^24 (exact as a float), then one float division each;
 * returns the class */
static inline int prefix_softmax(const int32_t *l, float *scores, size_t n)
{
    const int best = prefix_argmax(l, n);
    if (scores) {
        PREFIX_SCORE_SUM sum = 0;
        for (size_t k = 0; k < n; k++) {
            const uint32_t e = prefix_exp_neg((uint32_t)((int64_t)l[best] - l[k]));
            sum += e;
            scores[k] = (float)e;
        }
        const float total = (float)sum;
        for (size_t k = 0; k < n; k++) scores[k] = scores[k] / total;
    }
    return best;
}

/* sigmoid outputs of the Q16 logits: p_k = 1 / (1 + e^-l_k), with e = e^-|l_k| (2^24 e in
 * integers) as 1 / (1 + e) for l_k >= 0 and e / (1 + e) below, so nothing overflows */
static inline void prefix_sigmoid_out(const int32_t *l, float *scores, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        const uint32_t e = prefix_exp_neg(l[k] >= 0 ? (uint32_t)l[k] : (uint32_t)(-(int64_t)l[k]));
        const float denominator = (float)(16777216u + e);
        scores[k] = (l[k] >= 0 ? 16777216.0f : (float)e) / denominator;
    }
}

/* regression outputs: y_k = acc_k s_x s_k, with d_k = s_x s_k (n, in flash) */
static inline int prefix_outputs(const int32_t *acc, float *scores, const float *d, size_t n)
{
    if (scores)
        for (size_t k = 0; k < n; k++) scores[k] = (float)acc[k] * PREFIX_F32(&d[k]);
    return 0; /* a regression has no class */
}

/* a pixel given as a float (0..255) to its byte: rounded, clamped (NaN to 0) */
static inline uint8_t prefix_pixel(float v)
{
    return v > 0.0f ? (v >= 255.0f ? 255 : (uint8_t)(v + 0.5f)) : 0;
}
