/*
 * csv.c -- the fast path of ann.load_csv: a block of plain CSV rows of numbers to float32.
 *
 * Python's float() costs more per cell than the whole of csv.reader's work, so a reader that
 * calls it for every cell of a large table cannot keep up with csv.reader. This file converts
 * the common case, row after row, in one call; ann/_csv.py keeps two slower paths that give
 * the same values (the tests compare all three): a bulk path in Python, and csv.reader record
 * by record, which is also what words every error. So nothing here reports what is wrong with
 * a file: it only says "not this block" and the caller parses the block another way.
 *
 * Numbers. A cell is [+-](digits[.digits] | .digits)([eE][+-]digits), ASCII, with spaces or
 * tabs around it. Its value must be exactly what Python gives, float(cell) (the correctly
 * rounded double) then rounded to float32. The cell is read as an integer significand m and
 * a power of ten e, value = m 10^e. When m <= 2^53 and |e| <= 22, both m and 10^|e| are
 * doubles exactly, so the one product m * 10^e (or quotient m / 10^-e) is correctly rounded
 * by IEEE arithmetic: that is float()'s double (Clinger's fast path). Such a value is at most
 * 2^53 10^22 < 3.4e38, so it never overflows float32. Any other number (more than 19
 * significant digits, or a larger m or |e|) is "hard": its place in the output is listed and
 * Python converts it with float().
 */
#include "ann.h"

#include <float.h>

#define MAX_DIGITS 19                 /* 10^19 < 2^64: the significand fits in uint64_t */
#define EXACT_SIGNIFICAND (1ULL << 53)
#define EXACT_POWER 22                /* 10^22 is the largest power of ten a double holds */
#define MAX_CELL 64                   /* a longer cell (leading zeros, spaces) is left to Python */

static const double powers_of_ten[EXACT_POWER + 1] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* Spaces or tabs that may surround a number (unless one of them is the delimiter). */
static int is_blank(char c, char sep) { return (c == ' ' || c == '\t') && c != sep; }

/* Parse the number starting at text[*pos], up to the delimiter, '\n' or end. On success
 * *pos is the index of that delimiter / '\n' / end, and either *value holds the float32 value
 * (*hard = 0) or the number is hard (*hard = 1). Returns 0 when the cell is not a number. */
static int parse_number(float *value, int *hard, int64_t *pos,
                        const char *text, int64_t len, char sep)
{
    int64_t i = *pos;
    while (i < len && is_blank(text[i], sep))
        i++;
    int negative = 0;
    if (i < len && (text[i] == '+' || text[i] == '-')) {
        negative = text[i] == '-';
        i++;
    }
    uint64_t m = 0;            /* significand: the first MAX_DIGITS significant digits */
    int significant = 0;       /* digits counted in m (leading zeros are not) */
    int64_t scale = 0;         /* value = m 10^(scale + exponent) */
    int digits = 0;            /* digits of the mantissa, significant or not */
    int inexact = 0;           /* a digit did not fit in m */
    for (; i < len && is_digit(text[i]); i++, digits++) {
        if (m == 0 && text[i] == '0')
            continue;
        if (significant < MAX_DIGITS) {
            m = 10 * m + (uint64_t)(text[i] - '0');
            significant++;
        } else {
            scale++;               /* a dropped integer digit still multiplies by 10 */
            inexact = 1;
        }
    }
    if (i < len && text[i] == '.') {
        for (i++; i < len && is_digit(text[i]); i++, digits++) {
            if (m == 0 && text[i] == '0') {
                scale--;
                continue;
            }
            if (significant < MAX_DIGITS) {
                m = 10 * m + (uint64_t)(text[i] - '0');
                significant++;
                scale--;
            } else {
                inexact = 1;
            }
        }
    }
    if (digits == 0)
        return 0;                  /* "", "+", ".", "-.": not a number */
    if (i < len && (text[i] == 'e' || text[i] == 'E')) {
        i++;
        int exponent_negative = 0;
        if (i < len && (text[i] == '+' || text[i] == '-')) {
            exponent_negative = text[i] == '-';
            i++;
        }
        if (i >= len || !is_digit(text[i]))
            return 0;              /* "1e", "1e+" */
        int64_t exponent = 0;
        for (; i < len && is_digit(text[i]); i++)
            if (exponent < 100000) /* saturates: such a number is hard anyway */
                exponent = 10 * exponent + (text[i] - '0');
        scale += exponent_negative ? -exponent : exponent;
    }
    while (i < len && is_blank(text[i], sep))
        i++;
    if (i < len && text[i] != sep && text[i] != '\n')
        return 0;                  /* anything else after the number */
    *hard = 0;
    if (i - *pos > MAX_CELL) {     /* long enough for Python to check against csv's limit */
        *pos = i;
        *hard = 1;
        return 1;
    }
    *pos = i;
    if (m == 0) {                  /* 0, 0.000, 0e999: a zero, signed as written */
        *value = negative ? -0.0f : 0.0f;
        return 1;
    }
    if (inexact || m > EXACT_SIGNIFICAND || scale > EXACT_POWER || scale < -EXACT_POWER) {
        *hard = 1;
        return 1;
    }
    double d = (double)m;          /* exact: m <= 2^53 */
    d = scale >= 0 ? d * powers_of_ten[scale] : d / powers_of_ten[-scale];
    *value = (float)(negative ? -d : d);
    return 1;
}

int ann_csv_rows(float *values, char *labels, int64_t *hard, int64_t *counts,
                 const char *text, int64_t len, char sep, int cols, int label,
                 int64_t values_cap, int64_t labels_cap, int64_t hard_cap)
{
    if (!values || !hard || !counts || !text || (label >= 0 && !labels))
        return ANN_E_NULL;
    if (len < 0 || cols < 1 || label >= cols || label < -1 || values_cap < 0 || labels_cap < 0
        || hard_cap < 0)
        return ANN_E_SIZE;
    if (sep == '\n' || sep == '"' || sep == '\r' || is_digit(sep) || sep == '.'
        || sep == '+' || sep == '-' || sep == 'e' || sep == 'E')
        return ANN_E_ARG;
#if !defined(FLT_EVAL_METHOD) || FLT_EVAL_METHOD != 0
    /* x87 arithmetic would round twice (to 80 bits, then to 64): leave every block to Python */
    return ANN_E_ARG;
#endif
    int64_t n_rows = 0, n_values = 0, n_labels = 0, n_hard = 0;
    int64_t pos = 0;
    while (pos < len) {
        for (int j = 0; j < cols; j++) {
            if (j == label) {      /* the label cell: any text up to the delimiter or '\n' */
                int64_t start = pos;
                while (pos < len && text[pos] != sep && text[pos] != '\n') {
                    if (text[pos] == '"' || text[pos] == '\r')
                        return ANN_E_ARG;
                    pos++;
                }
                if (n_labels + (pos - start) + 1 > labels_cap)
                    return ANN_E_SIZE;
                for (int64_t k = start; k < pos; k++)
                    labels[n_labels++] = text[k];
                labels[n_labels++] = '\n';
            } else {
                if (n_values >= values_cap)
                    return ANN_E_SIZE;
                int64_t start = pos;
                int is_hard;
                if (!parse_number(&values[n_values], &is_hard, &pos, text, len, sep))
                    return ANN_E_ARG;
                if (is_hard) {     /* Python converts it: where it goes and its bytes */
                    if (n_hard >= hard_cap)
                        return ANN_E_SIZE;
                    hard[3 * n_hard] = n_values;
                    hard[3 * n_hard + 1] = start;
                    hard[3 * n_hard + 2] = pos;
                    n_hard++;
                    values[n_values] = 0.0f;
                }
                n_values++;
            }
            /* after each cell: the delimiter, or the end of the row after the last one */
            if (j < cols - 1) {
                if (pos >= len || text[pos] != sep)
                    return ANN_E_ARG;  /* a short row */
                pos++;
            } else if (pos < len) {
                if (text[pos] != '\n')
                    return ANN_E_ARG;  /* a long row */
                pos++;
            }
        }
        n_rows++;
    }
    counts[0] = n_rows;
    counts[1] = n_labels;
    counts[2] = n_hard;
    return ANN_OK;
}
