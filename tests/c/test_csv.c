/*
 * test_csv.c -- ann_csv_rows (csrc/csv.c), the fast path of ann.load_csv, through the C API
 * alone, for the sanitizers and valgrind: no Python in the process, so every report is about
 * the parser.
 *
 * Every call gets buffers of exactly the capacity it is told (text without a terminating NUL,
 * values / labels / hard numbers on the heap, each as long as its cap), so a read or a write
 * one byte past any of them is an ASan or valgrind report. The checks:
 *   - tables it converts: the values (as the compiler rounds the same decimal literal to a
 *     double, then to float, which is what Python's float() then float32 give), the label
 *     cells, the hard numbers' places and byte ranges, the row count;
 *   - blocks it must decline (ANN_E_ARG: a quote, a CR, a blank line, a short or long row,
 *     cells that are not numbers in its grammar), buffers too small (ANN_E_SIZE) and bad
 *     arguments (ANN_E_NULL / ANN_E_SIZE / ANN_E_ARG), never a crash;
 *   - 20,000 random blocks over the characters that matter, with exact-size buffers: any status
 *     is fine, a table it accepts must be consistent.
 *
 *   make c-test          builds and runs it (with test_gemm and test_net)
 */
#include "ann.h"
#include "check.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One call with heap buffers of exactly the given capacities; the results stay in *r. */
typedef struct {
    int status;
    float *values;
    char *labels;
    int64_t *hard;
    int64_t counts[3];
} result;

static result run(const char *table, char sep, int cols, int label,
                  int64_t values_cap, int64_t labels_cap, int64_t hard_cap)
{
    result r;
    int64_t len = (int64_t)strlen(table);
    char *text = malloc(len > 0 ? (size_t)len : 1);   /* no NUL after the last byte */
    memcpy(text, table, (size_t)len);
    r.values = malloc(values_cap > 0 ? (size_t)values_cap * sizeof(float) : 1);
    r.labels = malloc(labels_cap > 0 ? (size_t)labels_cap : 1);
    r.hard = malloc(hard_cap > 0 ? (size_t)hard_cap * 3 * sizeof(int64_t) : 1);
    r.counts[0] = r.counts[1] = r.counts[2] = -1;
    r.status = ann_csv_rows(r.values, r.labels, r.hard, r.counts, text, len, sep, cols, label,
                            values_cap, labels_cap, hard_cap);
    free(text);
    return r;
}

static void release(result *r)
{
    free(r->values);
    free(r->labels);
    free(r->hard);
}

static int same_float(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

static void test_a_table_with_a_label_column(void)
{
    /* rows of 3 cells, the label in the middle; spaces and tabs around numbers; no final \n */
    const char *t = "0.1, apple ,1.5\n-2.25e2,pear,\t007 \n.5,kiwi,+1E-3\n123456.789,,-0";
    result r = run(t, ',', 3, 1, 8, 64, 4);
    CHECK(r.status == ANN_OK, "status %d", r.status);
    CHECK(r.counts[0] == 4 && r.counts[2] == 0, "rows %d, hard %d", (int)r.counts[0],
          (int)r.counts[2]);
    const float want[8] = {(float)0.1, (float)1.5, (float)-2.25e2, (float)7.0,
                           (float)0.5, (float)1e-3, (float)123456.789, -0.0f};
    for (int i = 0; i < 8 && r.status == ANN_OK; i++)
        CHECK(same_float(r.values[i], want[i]), "value %d: %.9g, expected %.9g", i,
              r.values[i], want[i]);
    const char *labels = " apple \npear\nkiwi\n\n";  /* as written; Python trims and checks */
    CHECK(r.counts[1] == (int64_t)strlen(labels)
              && memcmp(r.labels, labels, strlen(labels)) == 0,
          "labels %.*s", (int)(r.counts[1] > 0 ? r.counts[1] : 0), r.labels);
    release(&r);

    /* a final '\n' ends the last row, it does not start an empty one */
    r = run("1;2\n3;4\n", ';', 2, -1, 4, 0, 1);
    CHECK(r.status == ANN_OK && r.counts[0] == 2 && r.counts[1] == 0, "status %d rows %d",
          r.status, (int)r.counts[0]);
    CHECK(r.status == ANN_OK && same_float(r.values[3], 4.0f), "last value");
    release(&r);

    r = run("", ',', 2, 1, 0, 0, 0);     /* nothing: no rows */
    CHECK(r.status == ANN_OK && r.counts[0] == 0, "empty text: %d", r.status);
    release(&r);
}

static void test_hard_numbers_are_left_to_python(void)
{
    /* more than 19 significant digits, a power of ten beyond 22, a significand beyond 2^53,
     * and a cell longer than 64 bytes: each is listed with its index and bytes, value 0 */
    const char *cells[] = {"0.12345678901234567890123", "1e30", "9007199254740993",
                           "0000000000000000000000000000000000000000000000000000000000000000001"};
    for (int k = 0; k < 4; k++) {
        char t[160];
        snprintf(t, sizeof t, "1|%s|x\n2|3|y", cells[k]);
        result r = run(t, '|', 3, 2, 4, 16, 1);
        CHECK(r.status == ANN_OK && r.counts[2] == 1, "%s: status %d, hard %d", cells[k],
              r.status, (int)r.counts[2]);
        if (r.status == ANN_OK && r.counts[2] == 1) {
            CHECK(r.hard[0] == 1 && r.hard[1] == 2
                      && r.hard[2] == 2 + (int64_t)strlen(cells[k]),
                  "%s: hard at %d, bytes %d..%d", cells[k], (int)r.hard[0], (int)r.hard[1],
                  (int)r.hard[2]);
            CHECK(same_float(r.values[1], 0.0f), "%s: value %g", cells[k], r.values[1]);
        }
        release(&r);
        r = run(t, '|', 3, 2, 4, 16, 0);  /* no room for it */
        CHECK(r.status == ANN_E_SIZE, "%s without room: %d", cells[k], r.status);
        release(&r);
    }
    /* zeros are never hard, whatever their exponent; exactly 2^53 is not hard */
    result r = run("0e999,-0.000e-999,9007199254740992", ',', 3, -1, 3, 0, 0);
    CHECK(r.status == ANN_OK && same_float(r.values[0], 0.0f)
              && same_float(r.values[1], -0.0f) && same_float(r.values[2], 9007199254740992.0f),
          "zeros: status %d", r.status);
    release(&r);
}

static void test_blocks_it_declines(void)
{
    /* the caller reads these with csv.reader, which also words the error */
    const char *declined[] = {
        "1,2\n\"3\",4",  /* a quote */
        "1,2\r\n3,4",    /* a CR */
        "1,2\n\n3,4",    /* a blank line */
        "1,2\n3",        /* a short row */
        "1,2\n3,4,5",    /* a long row */
        "1,",            /* an empty cell */
        "1,1_000",       /* what float() takes but the grammar does not */
        "1,nan",  "1,inf",   "1,1e",  "1,1e+", "1,+", "1,.", "1,-.", "1,1 2", "1,0x1",
        "1,1..2", "1,1e2.5", "1,--1", "1,\xd9\xa3",      /* ARABIC-INDIC DIGIT THREE */
    };
    for (size_t k = 0; k < sizeof declined / sizeof *declined; k++) {
        result r = run(declined[k], ',', 2, -1, 8, 0, 8);
        CHECK(r.status == ANN_E_ARG, "'%s': status %d, expected ANN_E_ARG", declined[k],
              r.status);
        release(&r);
    }
    result r = run("1,\"a\"", ',', 2, 1, 8, 8, 8);  /* a quote in the label cell too */
    CHECK(r.status == ANN_E_ARG, "quoted label: %d", r.status);
    release(&r);
}

static void test_buffers_too_small_and_bad_arguments(void)
{
    result r = run("1,2\n3,4", ',', 2, -1, 3, 0, 0);     /* 4 values, room for 3 */
    CHECK(r.status == ANN_E_SIZE, "values: %d", r.status);
    release(&r);
    r = run("1,ab\n3,cd", ',', 2, 1, 2, 5, 0);          /* 6 label bytes, room for 5 */
    CHECK(r.status == ANN_E_SIZE, "labels: %d", r.status);
    release(&r);
    r = run("1,ab\n3,cd", ',', 2, 1, 2, 6, 0);          /* exactly enough */
    CHECK(r.status == ANN_OK && r.counts[1] == 6, "labels exactly: %d", r.status);
    release(&r);

    float v[2];
    char l[2];
    int64_t h[3], c[3];
    const char *t = "1,2";
    CHECK(ann_csv_rows(NULL, l, h, c, t, 3, ',', 2, -1, 2, 2, 1) == ANN_E_NULL, "values NULL");
    CHECK(ann_csv_rows(v, NULL, h, c, t, 3, ',', 2, 1, 2, 2, 1) == ANN_E_NULL, "labels NULL");
    CHECK(ann_csv_rows(v, NULL, h, c, t, 3, ',', 2, -1, 2, 0, 1) == ANN_OK, "no label column");
    CHECK(ann_csv_rows(v, l, NULL, c, t, 3, ',', 2, -1, 2, 2, 1) == ANN_E_NULL, "hard NULL");
    CHECK(ann_csv_rows(v, l, h, NULL, t, 3, ',', 2, -1, 2, 2, 1) == ANN_E_NULL, "counts NULL");
    CHECK(ann_csv_rows(v, l, h, c, NULL, 3, ',', 2, -1, 2, 2, 1) == ANN_E_NULL, "text NULL");
    CHECK(ann_csv_rows(v, l, h, c, t, -1, ',', 2, -1, 2, 2, 1) == ANN_E_SIZE, "len < 0");
    CHECK(ann_csv_rows(v, l, h, c, t, 3, ',', 0, -1, 2, 2, 1) == ANN_E_SIZE, "cols 0");
    CHECK(ann_csv_rows(v, l, h, c, t, 3, ',', 2, 2, 2, 2, 1) == ANN_E_SIZE, "label = cols");
    CHECK(ann_csv_rows(v, l, h, c, t, 3, ',', 2, -2, 2, 2, 1) == ANN_E_SIZE, "label -2");
    CHECK(ann_csv_rows(v, l, h, c, t, 3, ',', 2, -1, -1, 2, 1) == ANN_E_SIZE, "cap < 0");
    const char bad_seps[] = "\n\"\r0.+-eE";
    for (const char *s = bad_seps; *s; s++)
        CHECK(ann_csv_rows(v, l, h, c, t, 3, *s, 2, -1, 2, 2, 1) == ANN_E_ARG,
              "delimiter 0x%02x", (unsigned char)*s);
}

static int pick(uint64_t *state, int n) { return (int)(ann_random_uniform(state) * n) % n; }

/* Rows of cells drawn from tokens that are numbers (easy or hard), near-numbers and labels,
 * so that many blocks are tables; then maybe one character replaced by any of the alphabet. */
static int table_like(char *t, int size, uint64_t *state, int cols, char sep,
                      const char *alphabet, int alphabet_len)
{
    static const char *tokens[] = {"1",   "-0.5", " 3 ", ".5",  "007", "1e30", "2.5E-3", "-0",
                                   "123456789012345678901", "9007199254740993", "x", "b c",
                                   "",    "1e",   "1_0", "nan"};
    int len = 0, rows = 1 + pick(state, 4);
    for (int r = 0; r < rows; r++) {
        for (int j = 0; j < cols; j++) {
            /* mostly the first 10 tokens (numbers), sometimes the rest */
            const char *cell = tokens[pick(state, 4) ? pick(state, 10) : pick(state, 16)];
            int n = (int)strlen(cell);
            if (len + n + 2 >= size) return len;
            memcpy(t + len, cell, (size_t)n);
            len += n;
            t[len++] = j < cols - 1 ? sep : '\n';
        }
    }
    if (pick(state, 2)) len--;                       /* with or without the final '\n' */
    if (len > 0 && pick(state, 3) == 0)
        t[pick(state, len)] = alphabet[pick(state, alphabet_len)];
    return len;
}

/* 20,000 random blocks, every buffer exact: half of them byte soup over the characters that
 * steer the parser, half table-like. */
static void test_random_blocks_stay_in_bounds(void)
{
    static const char alphabet[] = "0123456789012345.,,,;eE+- \t\n\n\"\rx_";
    uint64_t state = 7;
    int accepted = 0, with_hard = 0;
    for (int iter = 0; iter < 20000; iter++) {
        int cols = 1 + pick(&state, 4);
        int label = pick(&state, cols + 1) - 1;     /* -1 .. cols-1 */
        char sep = iter % 3 ? ',' : ';';
        char t[256];
        int len;
        if (iter % 2) {
            len = table_like(t, sizeof t, &state, cols, sep, alphabet, (int)sizeof alphabet - 1);
        } else {
            len = pick(&state, 48);
            for (int i = 0; i < len; i++)
                t[i] = alphabet[pick(&state, (int)sizeof alphabet - 1)];
        }
        t[len] = '\0';
        int64_t cap = pick(&state, 4) ? 256 : pick(&state, 40);  /* mostly enough room */
        result r = run(t, sep, cols, label, cap, cap, cap / 4);
        if (r.status == ANN_OK) {
            accepted++;
            with_hard += r.counts[2] > 0;
            int64_t per_row = cols - (label >= 0);
            CHECK(r.counts[0] * per_row <= cap, "%d rows of %d values in %d", (int)r.counts[0],
                  (int)per_row, (int)cap);
            CHECK(r.counts[1] >= 0 && r.counts[1] <= cap && r.counts[2] <= cap / 4,
                  "labels %d, hard %d", (int)r.counts[1], (int)r.counts[2]);
            for (int64_t k = 0; k < r.counts[2]; k++)
                CHECK(r.hard[3 * k] < r.counts[0] * per_row && r.hard[3 * k + 1] >= 0
                          && r.hard[3 * k + 1] < r.hard[3 * k + 2] && r.hard[3 * k + 2] <= len,
                      "hard number %d out of range", (int)k);
            for (int64_t i = 0; i < r.counts[0] * per_row; i++)
                CHECK(isfinite(r.values[i]), "value %d is not finite", (int)i);
        } else {
            CHECK(r.status == ANN_E_ARG || r.status == ANN_E_SIZE, "status %d", r.status);
        }
        release(&r);
    }
    /* the generator must reach the paths it exists for (seed 7: about 5,800 and 2,900) */
    CHECK(accepted > 2000 && with_hard > 300, "only %d random blocks were tables, %d with hard "
          "numbers", accepted, with_hard);
    printf("test_csv: %d of 20000 random blocks were tables, %d with hard numbers\n", accepted,
           with_hard);
}

#if !defined(FLT_EVAL_METHOD) || FLT_EVAL_METHOD != 0
#define DOUBLE_ROUNDING 1   /* x87 arithmetic: the parser declines every block (csv.c) */
#else
#define DOUBLE_ROUNDING 0
#endif

int main(void)
{
    if (DOUBLE_ROUNDING) {
        float v[1];
        int64_t h[3], c[3];
        CHECK(ann_csv_rows(v, NULL, h, c, "1", 1, ',', 1, -1, 1, 0, 1) == ANN_E_ARG,
              "x87: the parser must decline");
    } else {
        test_a_table_with_a_label_column();
        test_hard_numbers_are_left_to_python();
        test_blocks_it_declines();
        test_buffers_too_small_and_bad_arguments();
        test_random_blocks_stay_in_bounds();
    }
    printf("test_csv: %s (%d failures)\n", failures ? "FAILED" : "passed", failures);
    return failures != 0;
}
