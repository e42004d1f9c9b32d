/* The int8 header on an ATmega328P (the Arduino Uno's microcontroller: 32 KB flash, 2 KB RAM,
 * 16 MHz), run in simavr by tools/deploy/targets.py.
 *
 * Each test digit is copied from flash into the one 784-byte image buffer in RAM, classified by
 * model_predict_u8, and one line goes out on the UART:
 *     digit <i> class <k> cycles <c> scores <8 hex digits per score: the float32 bits>
 * The cycles are those of the call alone, counted by Timer1 at the CPU clock (prescaler 1), its
 * overflows counted by an interrupt. Then "done", and the CPU sleeps with interrupts off, which
 * ends the simulation.
 *
 * Build (targets.py does): avr-gcc -std=c99 -Os -mmcu=atmega328p -I<folder of model.h and
 * digits.h> avr_main.c. model.h is `ann export-c MODEL --int8 --name model`; digits.h holds
 * N_DIGITS images as `static const uint8_t digits[N_DIGITS][MODEL_N_INPUTS] PROGMEM`. */
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/pgmspace.h>
#include <avr/sleep.h>
#include <stdint.h>
#include <string.h>

#include "model.h"
#include "digits.h"

static uint8_t image[MODEL_N_INPUTS];   /* the one image in RAM */
static volatile uint16_t overflows;     /* Timer1 overflows: 65536 cycles each */

ISR(TIMER1_OVF_vect)
{
    overflows++;
}

static void uart_init(void)
{
    UBRR0H = 0;
    UBRR0L = 8; /* 115200 baud at 16 MHz */
    UCSR0B = (uint8_t)(1 << TXEN0);
    UCSR0C = (uint8_t)((1 << UCSZ01) | (1 << UCSZ00)); /* 8 data bits, no parity, 1 stop */
}

static void put_char(char c)
{
    while (!(UCSR0A & (1 << UDRE0))) {
    }
    UDR0 = (uint8_t)c;
}

static void put_text(const char *s)
{
    while (*s) put_char(*s++);
}

static void put_uint(uint32_t v)
{
    char digits[11];
    int n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n) put_char(digits[--n]);
}

static void put_hex32(uint32_t v)
{
    for (int shift = 28; shift >= 0; shift -= 4) put_char("0123456789abcdef"[(v >> shift) & 15]);
}

/* cycles of one call of model_predict_u8 on the image */
static int classify(float *scores, uint32_t *cycles)
{
    TCCR1A = 0;
    TCCR1B = 0; /* stopped */
    TCNT1 = 0;
    overflows = 0;
    TIFR1 = (uint8_t)(1 << TOV1); /* clear a stale overflow */
    TIMSK1 = (uint8_t)(1 << TOIE1);
    sei();
    TCCR1B = (uint8_t)(1 << CS10); /* count every CPU cycle */
    int k = model_predict_u8(image, scores);
    cli();
    uint16_t low = TCNT1; /* read while it runs: simavr gives 0 once it is stopped */
    uint32_t high = overflows;
    if ((TIFR1 & (1 << TOV1)) && low < 0x8000u) high++; /* an overflow not yet served */
    TCCR1B = 0;
    *cycles = high * 65536u + low;
    return k;
}

int main(void)
{
    float scores[MODEL_N_OUTPUTS];
    uart_init();
    for (uint16_t i = 0; i < N_DIGITS; i++) {
        memcpy_P(image, digits[i], MODEL_N_INPUTS);
        uint32_t cycles;
        int k = classify(scores, &cycles);
        put_text("digit ");
        put_uint(i);
        put_text(" class ");
        put_uint((uint32_t)k);
        put_text(" cycles ");
        put_uint(cycles);
        put_text(" scores");
        for (int j = 0; j < MODEL_N_OUTPUTS; j++) {
            uint32_t bits;
            memcpy(&bits, &scores[j], sizeof bits);
            put_char(' ');
            put_hex32(bits);
        }
        put_char('\n');
    }
    put_text("done\n");
    cli();
    sleep_enable();
    sleep_cpu(); /* with interrupts off: simavr stops here */
    return 0;
}
