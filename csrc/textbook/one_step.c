/*
 * one_step.c -- one SGD training step of an MLP in plain loops: the step `ann trace --seed 1`
 * shows, written the way a textbook would, as study material. No GEMM, no threads, no fused
 * kernels: csrc/net.c computes the same step with all three. This file is not part of the
 * library (csrc/build_ffi.py compiles the .c files of csrc/ itself, not of this folder).
 *
 *   gcc -std=c11 -O2 csrc/textbook/one_step.c -lm -o one_step && ./one_step
 *
 * Without an argument it runs the network and batch of `ann trace --seed 1` (4-3-2, two rows,
 * lr 0.1) and prints its matrices under the trace's names, to read beside it. With a file
 * argument (or - for standard input) it reads another network and batch,
 *   L  n_0 n_1 ... n_L  B  lr     then B*n_0 pixels 0..255, B labels, the P parameters,
 * and prints the loss and the P new parameters, one per line (tests/test_loop_step.py
 * compares them with the C core's ann_net_train_step).
 *
 * Shapes: B rows in the batch; layer l maps n_in = n[l] features to n_out = n[l+1]; K = n[L]
 * classes. Row-major: element (r, j) of a (rows, cols) matrix m is m[r * cols + j].
 * Parameters, as in ann: one buffer, layer by layer W (n_in, n_out) then b (n_out); the
 * gradients in one buffer of the same layout, so the update is one loop.
 * The math of every function: docs/dense.md, docs/relu.md, docs/softmax_cross_entropy.md.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_LAYERS 16

/* z (B, n_out) = x (B, n_in) W (n_in, n_out) + b (n_out), b added to every row */
void dense_forward(float *z, const float *x, const float *W, const float *b,
                   int B, int n_in, int n_out)
{
    for (int r = 0; r < B; r++)
        for (int j = 0; j < n_out; j++) {
            float s = b[j];
            for (int i = 0; i < n_in; i++) s += x[r * n_in + i] * W[i * n_out + j];
            z[r * n_out + j] = s;
        }
}

/* given dz = dL/dz (B, n_out): dW (n_in, n_out), db (n_out) and, unless NULL, dx (B, n_in) */
void dense_backward(float *dx, float *dW, float *db, const float *dz, const float *x,
                    const float *W, int B, int n_in, int n_out)
{
    /* forward: z[r][j] += x[r][i] W[i][j], so W[i][j] collects x[r][i] dz[r][j] over the rows */
    for (int i = 0; i < n_in; i++)
        for (int j = 0; j < n_out; j++) {
            float s = 0.0f;
            for (int r = 0; r < B; r++) s += x[r * n_in + i] * dz[r * n_out + j];
            dW[i * n_out + j] = s;
        }
    /* forward: z[r][j] += b[j] in every row, slope 1, so db[j] is the column sum of dz */
    for (int j = 0; j < n_out; j++) {
        float s = 0.0f;
        for (int r = 0; r < B; r++) s += dz[r * n_out + j];
        db[j] = s;
    }
    if (!dx) return;  /* layer 0: the input is the data, nobody needs its gradient */
    /* forward: x[r][i] feeds z[r][j] through W[i][j] for every j, so dx = dz W^T */
    for (int r = 0; r < B; r++)
        for (int i = 0; i < n_in; i++) {
            float s = 0.0f;
            for (int j = 0; j < n_out; j++) s += dz[r * n_out + j] * W[i * n_out + j];
            dx[r * n_in + i] = s;
        }
}

/* a = max(0, z), value by value (n = B * n_out) */
void relu_forward(float *a, const float *z, int n)
{
    for (int i = 0; i < n; i++) a[i] = z[i] > 0.0f ? z[i] : 0.0f;
}

/* forward: a = z where z > 0 (slope 1), else 0 (slope 0); a > 0 exactly where z > 0 */
void relu_backward(float *dz, const float *da, const float *a, int n)
{
    for (int i = 0; i < n; i++) dz[i] = a[i] > 0.0f ? da[i] : 0.0f;
}

/* p (B, K) = softmax of each row of z (B, K); returns the mean over rows of -log p[label] */
double softmax_cross_entropy_forward(float *p, const float *z, const int *labels, int B, int K)
{
    double loss = 0.0;
    for (int r = 0; r < B; r++) {
        const float *zr = z + r * K;
        float m = zr[0], sum = 0.0f;  /* subtract the row's max: no exp() overflows */
        for (int k = 1; k < K; k++) if (zr[k] > m) m = zr[k];
        for (int k = 0; k < K; k++) sum += expf(zr[k] - m);
        for (int k = 0; k < K; k++) p[r * K + k] = expf(zr[k] - m) / sum;
        loss += log(sum) - ((double)zr[labels[r]] - m);  /* -log p[label], without p */
    }
    return loss / B;
}

/* forward: L = (1/B) sum_r -log p[r][label_r]; through the softmax, dL/dz = (p - onehot) / B */
void softmax_cross_entropy_backward(float *dz, const float *p, const int *labels, int B, int K)
{
    for (int r = 0; r < B; r++)
        for (int k = 0; k < K; k++)
            dz[r * K + k] = (p[r * K + k] - (k == labels[r] ? 1.0f : 0.0f)) / B;
}

/* theta <- theta - lr g, over every parameter at once */
void sgd_update(float *theta, const float *g, int P, float lr)
{
    for (int i = 0; i < P; i++) theta[i] -= lr * g[i];
}

static void print_matrix(const char *name, int layer, const float *m, int rows, int cols)
{
    printf("layer %d  %s (%d, %d)\n", layer, name, rows, cols);
    for (int r = 0; r < rows; r++, printf("\n"))
        for (int c = 0; c < cols; c++) printf(" %10.6f", m[r * cols + c]);
}

/* the network and batch of `ann trace --seed 1`: the weights ann.Network([4, 3, 2], seed=1)
 * draws (float32, exact in 9 digits), its random pixels and labels */
static const char TRACE_SEED_1[] =
    "2  4 3 2  2  0.1\n"
    "51 204 0 102   0 153 153 153\n"
    "1 0\n"
    "0.0665615201 0.24578172 0.471002698 -0.0556408167 -0.0557353497 0.262894332\n"
    "0.377348661 0.0230671763 -0.214491367 0.293996572 -0.0958578587 0.105420351\n"
    "0 0 0\n"
    "-0.0520332605 0.0347321779 -0.0739408359 -0.384474874 0.167817935 0.364135414\n"
    "0 0\n";

static char text[1 << 24];  /* the input file, read whole */
static const char *cursor;  /* the next number in it */

static int next_number(double *v)  /* 0 at the end of the input or on a non-number */
{
    char *end;
    *v = strtod(cursor, &end);
    if (end == cursor) return 0;
    cursor = end;
    return 1;
}

static int next_int(int *v, int lo, int hi)
{
    double d;
    if (!next_number(&d) || d < lo || d > hi || d != (int)d) return 0;
    *v = (int)d;
    return 1;
}

static int fail(const char *what)
{
    fprintf(stderr, "one_step: %s\n", what);
    return 1;
}

int main(int argc, char **argv)
{
    const int verbose = argc < 2;
    cursor = TRACE_SEED_1;
    if (!verbose) {
        FILE *f = argv[1][0] == '-' && !argv[1][1] ? stdin : fopen(argv[1], "r");
        if (!f) return fail("cannot open the input file");
        const size_t size = fread(text, 1, sizeof text - 1, f);
        if (f != stdin) fclose(f);
        if (size == sizeof text - 1) return fail("input too long");
        cursor = text;
    }
    int L, n[MAX_LAYERS + 1], B;
    double lr;
    if (!next_int(&L, 1, MAX_LAYERS)) return fail("bad layer count");
    for (int l = 0; l <= L; l++)
        if (!next_int(&n[l], 1, 1 << 16)) return fail("bad layer size");
    if (!next_int(&B, 1, 1 << 16) || !next_number(&lr)) return fail("bad batch size or rate");
    const int K = n[L];

    /* one buffer for the parameters, one for their gradients: per layer, W then b; and one
     * for the activations: per layer x (B, n_in), z and dz (B, n_out), dx (B, n_in), then p */
    int off_W[MAX_LAYERS], off_b[MAX_LAYERS], P = 0, A = B * K;
    for (int l = 0; l < L; l++) {
        off_W[l] = P;
        off_b[l] = P + n[l] * n[l + 1];
        P = off_b[l] + n[l + 1];
        A += 2 * B * (n[l] + n[l + 1]);
    }
    float *params = malloc(sizeof(float) * P), *grads = malloc(sizeof(float) * P);
    float *acts = malloc(sizeof(float) * A), *x[MAX_LAYERS], *z[MAX_LAYERS], *dz[MAX_LAYERS],
          *dx[MAX_LAYERS], *p = acts;                      /* p (B, K) */
    int *labels = malloc(sizeof(int) * B);
    if (!params || !grads || !acts || !labels) return fail("out of memory");
    for (int l = 0, used = B * K; l < L; l++) {
        x[l] = acts + used, used += B * n[l];          /* layer 0: pixels / 255; then a */
        z[l] = acts + used, used += B * n[l + 1];
        dz[l] = acts + used, used += B * n[l + 1];
        dx[l] = acts + used, used += B * n[l];
    }
    for (int i = 0; i < B * n[0]; i++) {
        int pixel;
        if (!next_int(&pixel, 0, 255)) return fail("bad pixel");
        x[0][i] = pixel / 255.0f;
    }
    for (int r = 0; r < B; r++)
        if (!next_int(&labels[r], 0, K - 1)) return fail("bad label");
    for (int i = 0; i < P; i++) {
        double v;
        if (!next_number(&v)) return fail("too few parameters");
        params[i] = (float)v;
    }

    /* forward: z = x W + b, then ReLU, layer by layer; the top layer's z are the logits */
    for (int l = 0; l < L; l++) {
        dense_forward(z[l], x[l], params + off_W[l], params + off_b[l], B, n[l], n[l + 1]);
        if (l < L - 1) relu_forward(x[l + 1], z[l], B * n[l + 1]);
        if (verbose) print_matrix("z", l, z[l], B, n[l + 1]);
    }
    /* loss: softmax + cross-entropy of the logits, and its gradient (BP1) */
    const double loss = softmax_cross_entropy_forward(p, z[L - 1], labels, B, K);
    softmax_cross_entropy_backward(dz[L - 1], p, labels, B, K);
    /* backward, from the top: dW, db (BP4, BP3) and dx; then through layer l - 1's ReLU (BP2) */
    for (int l = L - 1; l >= 0; l--) {
        dense_backward(l > 0 ? dx[l] : NULL, grads + off_W[l], grads + off_b[l], dz[l], x[l],
                       params + off_W[l], B, n[l], n[l + 1]);
        if (l > 0) relu_backward(dz[l - 1], dx[l], x[l], B * n[l]);
        if (verbose) {
            print_matrix("dz", l, dz[l], B, n[l + 1]);
            print_matrix("dW", l, grads + off_W[l], n[l], n[l + 1]);
        }
    }
    /* update: every parameter against its gradient, in one loop */
    sgd_update(params, grads, P, (float)lr);

    printf(verbose ? "loss = %.8f\n" : "loss %.9g\n", loss);
    for (int l = 0; verbose && l < L; l++) {
        print_matrix("W_new", l, params + off_W[l], n[l], n[l + 1]);
        print_matrix("b_new", l, params + off_b[l], 1, n[l + 1]);
    }
    for (int i = 0; !verbose && i < P; i++) printf("%.9g\n", params[i]);

    free(params), free(grads), free(acts), free(labels);
    return 0;
}
