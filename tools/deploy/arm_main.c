/* The float32 and the int8 headers of one network on a Cortex-M3 (no FPU: float arithmetic in
 * software), run in qemu-system-arm by tools/deploy/targets.py. For each test digit, one line:
 *     digit <i> float <k> <score bits...> int8 <k> <score bits...>
 * (the scores as the 8 hex digits of their float32 bits), then "done".
 *
 * Build (targets.py does): arm-none-eabi-gcc -mcpu=cortex-m3 -mthumb -std=c99 -O2
 * -I<folder of model_float.h, model_int8.h, digits.h> arm_main.c arm_startup.c -T arm.ld
 * -nostartfiles --specs=nano.specs -lm. model_float.h is `ann export-c MODEL --name mf`,
 * model_int8.h `ann export-c MODEL --int8 --name mq`. */
#include <stdint.h>
#include <string.h>

#include "arm_semihost.h"
#include "model_float.h"
#include "model_int8.h"
#include "digits.h"

static char line[64 + 2 * 9 * MF_N_OUTPUTS];

static char *put_text(char *at, const char *s)
{
    while (*s) *at++ = *s++;
    return at;
}

static char *put_uint(char *at, uint32_t v)
{
    char digits[11];
    int n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n) *at++ = digits[--n];
    return at;
}

static char *put_scores(char *at, const float *scores, int n)
{
    for (int j = 0; j < n; j++) {
        uint32_t bits;
        memcpy(&bits, &scores[j], sizeof bits);
        *at++ = ' ';
        for (int shift = 28; shift >= 0; shift -= 4) *at++ = "0123456789abcdef"[(bits >> shift) & 15];
    }
    return at;
}

int main(void)
{
    float scores[MF_N_OUTPUTS];
    for (uint32_t i = 0; i < N_DIGITS; i++) {
        char *at = put_uint(put_text(line, "digit "), i);
        int k = mf_predict_u8(digits[i], scores);
        at = put_scores(put_uint(put_text(at, " float "), (uint32_t)k), scores, MF_N_OUTPUTS);
        k = mq_predict_u8(digits[i], scores);
        at = put_scores(put_uint(put_text(at, " int8 "), (uint32_t)k), scores, MQ_N_OUTPUTS);
        *at++ = '\n';
        *at = '\0';
        semihost_print(line);
    }
    semihost_print("done\n");
    return 0;
}
