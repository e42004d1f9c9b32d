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
 *    by a Gaussian of width sigma (pixels) and scaled by alpha:  d = alpha (G_sigma * u).
 *    Neighbouring pixels then move nearly together, as a hand's stroke would wobble.
 *    Smoothing: the 2-D Gaussian is the product g(di) g(dj) of two 1-D Gaussians, so the
 *    convolution is done as two 1-D passes (rows, then columns): (2r + 1) taps per pass
 *    instead of (2r + 1)^2 per pixel, the same sum. Taps: g(k) = exp(-k^2 / (2 sigma^2)) for
 *    |k| <= r = ceil(3 sigma), divided by their sum; outside the image u counts as 0.
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
 * zero range), then, when alpha > 0, ux row by row and uy row by row. ann/_augment.py is the
 * float64 twin of this file, draw for draw.
 */
#include "ann.h"
#include "internal.h"

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
    if (p->elastic_alpha > 0.0f && !(p->elastic_sigma > 0.0f && p->elastic_sigma <= AUG_MAX_SIGMA))
        return ANN_E_ARG;
    return ANN_OK;
}

uint64_t ann_augment_stream(uint64_t seed, int64_t step, int64_t row)
{
    uint64_t s = seed ^ 0xA06E7A06E7ULL;
    s = ann__splitmix64(&s) ^ (uint64_t)step;
    s = ann__splitmix64(&s) ^ (uint64_t)row;
    return ann__splitmix64(&s);
}

/* U(-range, range) from the stream, in double: (2u - 1) range with u in [0, 1). */
static double symmetric(uint64_t *state, float range)
{
    return (2.0 * (double)ann_random_uniform(state) - 1.0) * (double)range;
}

/* The 1-D Gaussian taps g(0..r), normalised so that g(0) + 2 (g(1) + ... + g(r)) = 1. */
static int gaussian_taps(float *g, int r, float sigma)
{
    double sum = 0.0;
    for (int k = 0; k <= r; k++) sum += (k == 0 ? 1.0 : 2.0) * exp(-(double)k * k / (2.0 * (double)sigma * sigma));
    for (int k = 0; k <= r; k++) g[k] = (float)(exp(-(double)k * k / (2.0 * (double)sigma * sigma)) / sum);
    return ANN_OK;
}

/* out (H, W) = u (H, W) convolved along rows (step 1) or columns (step W) with g(-r..r);
 * values outside the image count as 0. The sum runs from k = -r to r in order. */
static void convolve_1d(float *out, const float *u, const float *g, int r, int H, int W,
                        int along_rows)
{
    for (int i = 0; i < H; i++) {
        for (int j = 0; j < W; j++) {
            float acc = 0.0f;
            for (int k = -r; k <= r; k++) {
                int ii = along_rows ? i : i + k, jj = along_rows ? j + k : j;
                if (ii < 0 || ii >= H || jj < 0 || jj >= W) continue;
                acc += g[k < 0 ? -k : k] * u[(size_t)ii * W + jj];
            }
            out[(size_t)i * W + j] = acc;
        }
    }
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
    const float *g;           /* (r + 1) Gaussian taps */
    float *scratch;           /* (B, 5 H W): per image a copy and four field buffers */
} augment_job;

/* Distort image b of the batch (the whole story is in the comment at the top). */
static void augment_one(const augment_job *job, int b)
{
    const ann_augment *p = job->p;
    const int H = job->H, W = job->W;
    const size_t HW = (size_t)H * W;
    float *img = job->x + (size_t)b * HW;                    /* (H, W) */
    float *src = job->scratch + (size_t)b * 5 * HW;          /* (H, W) copy of the original */
    float *dx = src + HW, *dy = dx + HW, *tmp = dy + HW, *tmp2 = tmp + HW;
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

    const int elastic = p->elastic_alpha > 0.0f;
    if (elastic) {
        for (size_t i = 0; i < HW; i++) tmp[i] = 2.0f * ann_random_uniform(&state) - 1.0f;
        for (size_t i = 0; i < HW; i++) tmp2[i] = 2.0f * ann_random_uniform(&state) - 1.0f;
        /* separable smoothing: rows into dx, columns back into tmp; the same for uy */
        convolve_1d(dx, tmp, job->g, job->r, H, W, 1);
        convolve_1d(tmp, dx, job->g, job->r, H, W, 0);
        convolve_1d(dy, tmp2, job->g, job->r, H, W, 1);
        convolve_1d(tmp2, dy, job->g, job->r, H, W, 0);
        for (size_t i = 0; i < HW; i++) {
            dx[i] = p->elastic_alpha * tmp[i];
            dy[i] = p->elastic_alpha * tmp2[i];
        }
    }

    for (int i = 0; i < H; i++) {
        for (int j = 0; j < W; j++) {
            const size_t at = (size_t)i * W + j;
            const float px = (float)j + (elastic ? dx[at] : 0.0f) - ox;
            const float py = (float)i + (elastic ? dy[at] : 0.0f) - oy;
            const float qx = m00 * px + m01 * py + cx, qy = m10 * px + m11 * py + cy;
            const float x0f = floorf(qx), y0f = floorf(qy);
            const float fx = qx - x0f, fy = qy - y0f;
            /* a point far outside the image samples only background (and keeps the int
             * conversion below in range) */
            if (!(x0f > -2.0f && x0f < (float)W + 1.0f && y0f > -2.0f && y0f < (float)H + 1.0f)) {
                img[at] = 0.0f;
                continue;
            }
            const int x0 = (int)x0f, y0 = (int)y0f;
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
    int first = chunk * AUG_IMAGES_PER_CHUNK;
    int last = first + AUG_IMAGES_PER_CHUNK < job->B ? first + AUG_IMAGES_PER_CHUNK : job->B;
    for (int b = first; b < last; b++) augment_one(job, b);
}

int ann_augment_batch(float *x, const ann_augment *params, int64_t step, int B, int H, int W)
{
    if (!x || !params) return ANN_E_NULL;
    if (B < 1 || H < 1 || W < 1 || (int64_t)H * W > (1 << 24)) return ANN_E_SIZE;
    int status = ann_augment_check(params);
    if (status != ANN_OK) return status;
    int r = 0;
    if (params->elastic_alpha > 0.0f) {
        r = (int)ceilf(3.0f * params->elastic_sigma);
        if (r < 1) r = 1;
    }
    float *g = malloc((size_t)(r + 1) * sizeof(float));
    float *scratch = malloc((size_t)B * 5 * (size_t)H * W * sizeof(float));
    if (!g || !scratch) {
        free(g);
        free(scratch);
        return ANN_E_NOMEM;
    }
    if (r > 0) gaussian_taps(g, r, params->elastic_sigma);
    else g[0] = 1.0f;
    augment_job job = {x, params, step, B, H, W, r, g, scratch};
    ann__parallel_for((B + AUG_IMAGES_PER_CHUNK - 1) / AUG_IMAGES_PER_CHUNK, augment_chunk, &job);
    free(g);
    free(scratch);
    return ANN_OK;
}
