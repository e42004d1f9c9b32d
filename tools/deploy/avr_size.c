/* The smallest useful program around the int8 header on an ATmega328P, built to measure what
 * the header costs in flash and RAM (tools/deploy/targets.py reports its avr-size): one image
 * in RAM, read from the UART byte by byte; the class and its probability written back (one
 * byte, then the float's four bytes). simavr does not run it; avr_main.c is the one that runs.
 *
 * Build: avr-gcc -std=c99 -Os -mmcu=atmega328p -I<folder of model.h> avr_size.c */
#include <avr/io.h>
#include <stdint.h>
#include <string.h>

#include "model.h"

static uint8_t image[MODEL_N_INPUTS]; /* the one image in RAM */

static void uart_init(void)
{
    UBRR0H = 0;
    UBRR0L = 8; /* 115200 baud at 16 MHz */
    UCSR0B = (uint8_t)((1 << RXEN0) | (1 << TXEN0));
    UCSR0C = (uint8_t)((1 << UCSZ01) | (1 << UCSZ00));
}

static uint8_t get_byte(void)
{
    while (!(UCSR0A & (1 << RXC0))) {
    }
    return UDR0;
}

static void put_byte(uint8_t b)
{
    while (!(UCSR0A & (1 << UDRE0))) {
    }
    UDR0 = b;
}

int main(void)
{
    float scores[MODEL_N_OUTPUTS];
    uart_init();
    for (;;) {
        for (uint16_t i = 0; i < MODEL_N_INPUTS; i++) image[i] = get_byte();
        int k = model_predict_u8(image, scores);
        uint8_t bytes[sizeof(float)];
        memcpy(bytes, &scores[k], sizeof bytes);
        put_byte((uint8_t)k);
        for (uint8_t j = 0; j < sizeof bytes; j++) put_byte(bytes[j]);
    }
}
