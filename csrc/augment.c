/*
 * augment.c -- random distortions of a training mini-batch, drawn afresh for every batch, so
 * the network never sees the same digit twice and no augmented copy of the data set exists.
 *
 * Shapes: B images per batch, each H rows by W columns, stored row-major in x (B, H, W).
 * Pixel (i, j) (row i, column j) sits at the point (x, y) = (j, i); the image centre is
 * c = ((W - 1) / 2, (H - 1) / 2).
 *
 * The two distortions (Simard, Steinkraus & Platt 2003, section 2):
 *
 * 1. Random affine. Drawn per image, each uniform in its range:
 *      angle theta ~ U(-rotate, rotate) degrees     scale s ~ 1 + U(-scale, scale)
 *      shear k ~ U(-shear, shear)                    shift t = (tx, ty), each ~ U(-shift, shift)
 *    The forward map moves a point p of the original to   T (p - c) + c + t,   with
 *      T = s R(theta) Sh(k),   R(theta) = [[cos, -sin], [sin, cos]],   Sh(k) = [[1, k], [0, 1]].
 *
 * 2. Elastic distortion. Two fields ux, uy (H, W) of independent U(-1, 1) values are smoothed
 *    by a Gaussian of width sigma (pixels), G_sigma * u, and then scaled in one of two ways:
 *      by alpha (Simard's):     d = alpha (G_sigma * u), outside the image u counts as 0;
 *      to a largest size m:     d = m (G_sigma * u) / max |G_sigma * u|, the max over every
 *                               pixel of both fields, outside the image u mirrored.
 *    Neighbouring pixels then move nearly together, as a hand's stroke would wobble.
 *    The first strength grows with alpha and has no bound: alpha 34, sigma 4 moves pixels by
 *    about 2 px RMS and some by 4 or more. The second bounds every image's distortion (each
 *    image has a pixel that moves by exactly m in x or in y); with m = 2, sigma 4 its RMS is
 *    about 1 px. The mirror there keeps the field as strong at the edge as inside: with 0
 *    outside it would fade towards the edge, so its largest value, and with it the rescaling,
 *    would fall on the digit in the middle. Mirroring reflects about the edge pixel without
 *    repeating it: u[-1] = u[1], u[H] = u[H - 2], again and again for taps wider than the
 *    image (index period 2 (H - 1)).
 *    Smoothing: the 2-D Gaussian is the product g(di) g(dj) of two 1-D Gaussians, so the
 *    convolution is done as two 1-D passes (rows, then columns): (2r + 1) taps per pass
 *    instead of (2r + 1)^2 per pixel, the same sum. Taps: g(k) = exp(-k^2 / (2 sigma^2)) for
 *    |k| <= r = ceil(3 sigma), divided by their sum. (The ceiling ignores an excess of 3
 *    sigma over an integer below 1e-5 relative, so that the float32 sigma here and the
 *    float64 one of ann/_augment.py give the same radius.)
 *
 * Inverse mapping. Writing the output image pixel by pixel asks, for each output pixel p,
 * where in the original it came from (a forward map would leave holes and overlaps). The
 * elastic field displaces the output's sampling point, then the affine map is undone:
 *      q = T^-1 (p + d(p) - c - t) + c,     T^-1 = (1/s) Sh(-k) R(-theta),
 *      out(p) = in(q), bilinearly interpolated.
 *
 * Bilinear sampling. With q = (qx, qy), x0 = floor(qx), y0 = floor(qy), fx = qx - x0,
 * fy = qy - y0, the four neighbours are weighted by the areas of the opposite sub-rectangles:
 *      in(q) = (1-fx)(1-fy) in[y0][x0] + fx (1-fy) in[y0][x0+1]
 *            + (1-fx) fy in[y0+1][x0] + fx fy in[y0+1][x0+1],
 * the weights summing to 1. A neighbour outside the image is background, 0. When q is a
 * pixel centre (fx = fy = 0) the sample is that pixel exactly, so zero ranges give back the
 * image bit for bit.
 *
 * Random numbers: every image has its own splitmix64 stream, started from (seed, step, row):
 * which thread distorts which image changes no value, so the result is the same for any
 * thread count. Per image it draws, in this order: theta, s, k, tx, ty (always, even for a
 * zero range), then, when the elastic part is on, ux row by row and uy row by row. ann/_augment.py is the
 * float64 twin of this file, draw for draw.
 *
 * Plain and fast: ann_augment_batch_naive runs the loops as written above (convolve_1d, a
 * bounds check or a mirrored index for every tap, a bounds check on every bilinear
 * neighbour). ann_augment_batch runs the same sums in the same order, reorganised to
 * vectorize (smooth_fast, the unchecked interior sample), and gives the same bits; tests/test_augment.py holds them equal. Cost per 28 x 28 image with sigma 4,
 * one thread, measured on a shared and busy 2-core machine (so high): about 5 us for the
 * 2 H W draws, 17 us for the two smoothings, 13 us for the affine map and the bilinear pass;
 * the naive version takes about 4 times as long.
 */
#include "ann.h"
#include "internal.h"
#include "platform.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define AUG_MAX_SIGMA 100.0f
#define AUG_MAX_ROTATE 180.0f
#define AUG_IMAGES_PER_CHUNK 4
#define AUG_PI 3.14159265358979323846

int ann_augment_check(const ann_augment *p)
{
    if (!p) return ANN_E_NULL;
    if (!(p->rotate >= 0.0f && p->rotate <= AUG_MAX_ROTATE)) return ANN_E_ARG;
    if (!(p->scale >= 0.0f && p->scale < 1.0f)) return ANN_E_ARG;
    if (!(p->shear >= 0.0f && p->shear <= 10.0f)) return ANN_E_ARG;
    if (!(p->shift >= 0.0f && isfinite(p->shift))) return ANN_E_ARG;
    if (!(p->elastic_alpha >= 0.0f && isfinite(p->elastic_alpha))) return ANN_E_ARG;
    if (!(p->elastic_max >= 0.0f && isfinite(p->elastic_max))) return ANN_E_ARG;
    if (p->elastic_alpha > 0.0f && p->elastic_max > 0.0f) return ANN_E_ARG;   /* one scaling */
    if ((p->elastic_alpha > 0.0f || p->elastic_max > 0.0f) &&
        !(p->elastic_sigma > 0.0f && p->elastic_sigma <= AUG_MAX_SIGMA))
        return ANN_E_ARG;
    return ANN_OK;
}

/* Is the elastic part on: a field scaled by alpha, or one rescaled to a largest size? */
static int elastic_on(const ann_augment *p)
{
    return p->elastic_alpha > 0.0f || p->elastic_max > 0.0f;
}

uint64_t ann_augment_stream(uint64_t seed, int64_t step, int64_t row)
{
    uint64_t s = seed ^ 0xA06E7A06E7ULL;
    s = ann__splitmix64(&s) ^ (uint64_t)step;
    s = ann__splitmix64(&s) ^ (uint64_t)row;
    return ann__splitmix64(&s);
}

/* ann_random_uniform (ops.c), here where the compiler can inline it: an elastic image draws
 * 2 H W numbers, and a call into another file for each cost more than the rest of the work.
 * The same numbers: splitmix64, then the top 24 bits times 2^-24. */
static inline float uniform(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return (float)((z ^ (z >> 31)) >> 40) * (1.0f / 16777216.0f);
}

/* U(-range, range) from the stream, in double: (2u - 1) range with u in [0, 1). */
static double symmetric(uint64_t *state, float range)
{
    return (2.0 * (double)uniform(state) - 1.0) * (double)range;
}

/* The 1-D Gaussian taps g(0..r), normalised so that g(0) + 2 (g(1) + ... + g(r)) = 1. */
static int gaussian_taps(float *g, int r, float sigma)
{
    double sum = 0.0;
    for (int k = 0; k <= r; k++) sum += (k == 0 ? 1.0 : 2.0) * exp(-(double)k * k / (2.0 * (double)sigma * sigma));
    for (int k = 0; k <= r; k++) g[k] = (float)(exp(-(double)k * k / (2.0 * (double)sigma * sigma)) / sum);
    return ANN_OK;
}

/* Index i of a row (or column) of n values mirrored about its two ends without repeating
 * them, ... 2 1 | 0 1 ... n-1 | n-2 n-3 ...: period 2 (n - 1), one value when n = 1. */
static int mirror_index(int i, int n)
{
    if (n == 1) return 0;
    const int period = 2 * (n - 1);
    i %= period;
    if (i < 0) i += period;
    return i < n ? i : period - i;
}

/* out (H, W) = u (H, W) convolved along rows (step 1) or columns (step W) with g(-r..r);
 * values outside the image count as 0, or with mirror != 0 are the mirrored ones. The sum
 * runs from k = -r to r in order. */
static void convolve_1d(float *out, const float *u, const float *g, int r, int H, int W,
                        int along_rows, int mirror)
{
    for (int i = 0; i < H; i++) {
        for (int j = 0; j < W; j++) {
            float acc = 0.0f;
            for (int k = -r; k <= r; k++) {
                int ii = along_rows ? i : i + k, jj = along_rows ? j + k : j;
                if (mirror) {
                    ii = mirror_index(ii, H);
                    jj = mirror_index(jj, W);
                } else if (ii < 0 || ii >= H || jj < 0 || jj >= W) {
                    continue;
                }
                acc += g[k < 0 ? -k : k] * u[(size_t)ii * W + jj];
            }
            out[(size_t)i * W + j] = acc;
        }
    }
}

/* The column pass of convolve_1d, fast: the tap loop outside, and inside one flat loop over
 * every pixel whose tap i + k lands in the image. Those pixels are rows i0..i1-1, contiguous
 * in memory, so the inner loop is one long branch-free run that vectorizes. Each out[i][j]
 * still adds its taps in the order k = -r .. r and skips the same ones as convolve_1d, so it
 * gets the same value. */
static void convolve_columns_fast(float *out, const float *u, const float *g, int r, int H,
                                  int W)
{
    const size_t HW = (size_t)H * W;
    for (size_t i = 0; i < HW; i++) out[i] = 0.0f;
    for (int k = -r; k <= r; k++) {
        const float gk = g[k < 0 ? -k : k];
        const int i0 = k < 0 ? -k : 0, i1 = k > 0 ? H - k : H;      /* 0 <= i + k < H */
        if (i1 <= i0) continue;
        float *o = out + (size_t)i0 * W;
        const float *in = u + (size_t)(i0 + k) * W;
        const size_t n = (size_t)(i1 - i0) * W;
        for (size_t t = 0; t < n; t++) o[t] += gk * in[t];
    }
}

/* The column pass of convolve_1d with a mirrored edge, fast: u (H, W) is first copied into
 * pad (H + 2r, W) with r mirrored rows above and below it (pad row i + r = u row
 * mirror_index(i)), so that every tap of every pixel lands in pad; then, as above, the tap
 * loop outside and one flat branch-free loop over all H W pixels inside. Each out[i][j] adds
 * g(k) pad[i + r + k][j] for k = -r .. r in order, the sum convolve_1d makes. */
static void convolve_columns_mirror_fast(float *out, const float *u, float *pad, const float *g,
                                         int r, int H, int W)
{
    const size_t HW = (size_t)H * W;
    for (int i = -r; i < H + r; i++)
        memcpy(pad + (size_t)(i + r) * W, u + (size_t)mirror_index(i, H) * W,
               (size_t)W * sizeof(float));
    for (size_t i = 0; i < HW; i++) out[i] = 0.0f;
    for (int k = -r; k <= r; k++) {
        const float gk = g[k < 0 ? -k : k];
        const float *in = pad + (size_t)(r + k) * W;
        for (size_t t = 0; t < HW; t++) out[t] += gk * in[t];
    }
}

/* at (W, H) = a (H, W) transposed. */
static void transpose(float *at, const float *a, int H, int W)
{
    for (int i = 0; i < H; i++)
        for (int j = 0; j < W; j++) at[(size_t)j * H + i] = a[(size_t)i * W + j];
}

/* Both passes of the smoothing, fast: the row pass is the column pass of the transposed field
 * (transposed back afterwards), so both run as convolve_columns_fast (or, mirrored,
 * convolve_columns_mirror_fast). Same sums, same order, as convolve_1d along rows then along
 * columns; work (H, W) and pad (max(H, W) + 2r, max(H, W)) are scratch, u is overwritten. */
static void smooth_fast(float *out, float *u, float *work, float *pad, const float *g, int r,
                        int H, int W, int mirror)
{
    transpose(work, u, H, W);                            /* (W, H) */
    if (mirror) convolve_columns_mirror_fast(out, work, pad, g, r, W, H);
    else convolve_columns_fast(out, work, g, r, W, H);   /* rows of u, as (W, H) */
    transpose(u, out, W, H);                             /* (H, W) row-smoothed */
    if (mirror) convolve_columns_mirror_fast(out, u, pad, g, r, H, W);
    else convolve_columns_fast(out, u, g, r, H, W);
}

/* Pixel (i, j) of img (H, W), or 0 outside the image. */
static float pixel(const float *img, int H, int W, int i, int j)
{
    return i < 0 || i >= H || j < 0 || j >= W ? 0.0f : img[(size_t)i * W + j];
}

typedef struct {
    float *x;                 /* (B, H, W), distorted in place */
    const ann_augment *p;
    int64_t step;
    int B, H, W, r;           /* r: Gaussian radius (0 when there is no elastic part) */
    int mirror;               /* 1: the field rescaled to elastic_max, its edge mirrored */
    const float *g;           /* (r + 1) Gaussian taps */
    int fast;                 /* 1: ann_augment_batch, 0: ann_augment_batch_naive */
    int *status;              /* (n_chunks) each chunk's status: ANN_OK or ANN_E_NOMEM */
} augment_job;

/* Distort image b of the batch (the whole story is in the comment at the top). */
static void augment_one(const augment_job *job, int b, float *scratch)
{
    const ann_augment *p = job->p;
    const int H = job->H, W = job->W;
    const size_t HW = (size_t)H * W;
    float *img = job->x + (size_t)b * HW;                    /* (H, W) */
    float *src = scratch;                                    /* (H, W) copy of the original */
    float *dx = src + HW, *dy = dx + HW, *tmp = dy + HW, *tmp2 = tmp + HW, *work = tmp2 + HW;
    float *pad = work + HW;                                  /* (max(H, W) + 2r, max(H, W)) */
    memcpy(src, img, HW * sizeof(float));

    uint64_t state = ann_augment_stream(p->seed, job->step, b);
    const double theta = symmetric(&state, p->rotate) * (AUG_PI / 180.0);
    const double s = 1.0 + symmetric(&state, p->scale);
    const double k = symmetric(&state, p->shear);
    const double tx = symmetric(&state, p->shift), ty = symmetric(&state, p->shift);
    /* T^-1 = (1/s) Sh(-k) R(-theta) = (1/s) [[1, -k], [0, 1]] [[cos, sin], [-sin, cos]] */
    const double c = cos(theta), sn = sin(theta);
    const float m00 = (float)((c + k * sn) / s), m01 = (float)((sn - k * c) / s);
    const float m10 = (float)(-sn / s), m11 = (float)(c / s);
    const float cx = 0.5f * (float)(W - 1), cy = 0.5f * (float)(H - 1);
    const float ox = cx + (float)tx, oy = cy + (float)ty;   /* p - c - t = p - o */

    const int elastic = elastic_on(p), mirror = job->mirror;
    if (elastic) {
        for (size_t i = 0; i < HW; i++) tmp[i] = 2.0f * uniform(&state) - 1.0f;
        for (size_t i = 0; i < HW; i++) tmp2[i] = 2.0f * uniform(&state) - 1.0f;
        /* separable smoothing: rows into dx, columns back into tmp; the same for uy */
        if (job->fast) {
            smooth_fast(dx, tmp, work, pad, job->g, job->r, H, W, mirror);
            smooth_fast(dy, tmp2, work, pad, job->g, job->r, H, W, mirror);
        } else {   /* the plain way: along rows into dx, then along columns back into tmp */
            convolve_1d(dx, tmp, job->g, job->r, H, W, 1, mirror);
            convolve_1d(tmp, dx, job->g, job->r, H, W, 0, mirror);
            convolve_1d(dy, tmp2, job->g, job->r, H, W, 1, mirror);
            convolve_1d(tmp2, dy, job->g, job->r, H, W, 0, mirror);
            memcpy(dx, tmp, HW * sizeof(float));
            memcpy(dy, tmp2, HW * sizeof(float));
        }
        float a = p->elastic_alpha;
        if (p->elastic_max > 0.0f) {   /* the largest |d| over both fields becomes elastic_max */
            float largest = 0.0f;
            for (size_t i = 0; i < HW; i++) {
                largest = fabsf(dx[i]) > largest ? fabsf(dx[i]) : largest;
                largest = fabsf(dy[i]) > largest ? fabsf(dy[i]) : largest;
            }
            a = largest > 0.0f ? p->elastic_max / largest : 0.0f;
        }
        for (size_t i = 0; i < HW; i++) {
            dx[i] *= a;
            dy[i] *= a;
        }
    }

    for (int i = 0; i < H; i++) {
        for (int j = 0; j < W; j++) {
            const size_t at = (size_t)i * W + j;
            const float px = (float)j + (elastic ? dx[at] : 0.0f) - ox;
            const float py = (float)i + (elastic ? dy[at] : 0.0f) - oy;
            const float qx = m00 * px + m01 * py + cx, qy = m10 * px + m11 * py + cy;
            /* Outside -1 < q < W (or H) every neighbour with a nonzero weight is background
             * (this also catches NaN). Inside, q + 1 > 0, so truncating q + 1 is a floor
             * without a libm call (floorf is one on baseline x86-64): x0 = floor(q) except
             * when q + 1 rounds up to the next integer, where fx is then a tiny negative
             * number and the sample is still the bilinear value to float rounding. */
            if (!(qx > -1.0f && qx < (float)W && qy > -1.0f && qy < (float)H)) {
                img[at] = 0.0f;
                continue;
            }
            const int x0 = (int)(qx + 1.0f) - 1, y0 = (int)(qy + 1.0f) - 1;
            const float fx = qx - (float)x0, fy = qy - (float)y0;
            if (job->fast && x0 >= 0 && x0 < W - 1 && y0 >= 0 && y0 < H - 1) {
                /* all four neighbours inside: the same sum without the bounds checks */
                const float *n = src + (size_t)y0 * W + x0;
                img[at] = (1.0f - fx) * (1.0f - fy) * n[0] + fx * (1.0f - fy) * n[1]
                        + (1.0f - fx) * fy * n[W] + fx * fy * n[W + 1];
                continue;
            }
            img[at] = (1.0f - fx) * (1.0f - fy) * pixel(src, H, W, y0, x0)
                    + fx * (1.0f - fy) * pixel(src, H, W, y0, x0 + 1)
                    + (1.0f - fx) * fy * pixel(src, H, W, y0 + 1, x0)
                    + fx * fy * pixel(src, H, W, y0 + 1, x0 + 1);
        }
    }
}

static void augment_chunk(void *ctx, int chunk, int worker)
{
    (void)worker;
    const augment_job *job = ctx;
    const size_t HW = (size_t)job->H * job->W;
    const size_t side = (size_t)(job->H > job->W ? job->H : job->W);
    const size_t pad = job->mirror ? (side + 2 * (size_t)job->r) * side : 0;
    float *scratch = ann__malloc((6 * HW + pad) * sizeof(float));   /* one image's copy and fields */
    job->status[chunk] = scratch ? ANN_OK : ANN_E_NOMEM;
    if (!scratch) return;
    int first = chunk * AUG_IMAGES_PER_CHUNK;
    int last = first + AUG_IMAGES_PER_CHUNK < job->B ? first + AUG_IMAGES_PER_CHUNK : job->B;
    for (int b = first; b < last; b++) augment_one(job, b, scratch);
    free(scratch);
}

static int augment_batch(float *x, const ann_augment *params, int64_t step, int B, int H, int W,
                         int fast)
{
    if (!x || !params) return ANN_E_NULL;
    if (B < 1 || H < 1 || W < 1 || (int64_t)H * W > (1 << 24)) return ANN_E_SIZE;
    int status = ann_augment_check(params);
    if (status != ANN_OK) return status;
    int r = 0;
    const int mirror = params->elastic_max > 0.0f;
    if (elastic_on(params)) {
        r = (int)ceil(3.0 * (double)params->elastic_sigma * (1.0 - 1e-5));
        if (r < 1) r = 1;
    }
    const int n_chunks = (B + AUG_IMAGES_PER_CHUNK - 1) / AUG_IMAGES_PER_CHUNK;
    float *g = ann__malloc((size_t)(r + 1) * sizeof(float));
    int *chunk_status = ann__malloc((size_t)n_chunks * sizeof(int));
    if (!g || !chunk_status) {
        free(g);
        free(chunk_status);
        return ANN_E_NOMEM;
    }
    if (r > 0) gaussian_taps(g, r, params->elastic_sigma);
    else g[0] = 1.0f;
    /* taps beyond the image's size only ever meet background: the sums skip them (a mirrored
     * edge has no background: there every tap counts) */
    int reach = (H > W ? H : W) - 1;
    if (!mirror && r > reach) r = reach;
    augment_job job = {x, params, step, B, H, W, r, mirror, g, fast, chunk_status};
    ann__parallel_for(n_chunks, augment_chunk, &job);
    for (int c = 0; c < n_chunks && status == ANN_OK; c++) status = chunk_status[c];
    free(g);
    free(chunk_status);
    return status;
}

/* Both run with denormals flushed to zero on every thread, as the pool's workers do, and give
 * the caller back its own floating-point mode (platform.h). */
int ann_augment_batch(float *x, const ann_augment *params, int64_t step, int B, int H, int W)
{
    const ann__fpmode fp = ann__flush_denormals();
    const int status = augment_batch(x, params, step, B, H, W, 1);
    ann__restore_fpmode(fp);
    return status;
}

int ann_augment_batch_naive(float *x, const ann_augment *params, int64_t step, int B, int H,
                            int W)
{
    const ann__fpmode fp = ann__flush_denormals();
    const int status = augment_batch(x, params, step, B, H, W, 0);
    ann__restore_fpmode(fp);
    return status;
}
