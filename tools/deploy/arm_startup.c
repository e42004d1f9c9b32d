/* Start-up code and semihosting for a bare Cortex-M3 (qemu-system-arm -M lm3s6965evb), so the
 * driver runs with nothing under it: the vector table, a reset handler that sets up RAM and
 * calls main, and the two semihosting calls the driver needs (print a string, exit).
 * Semihosting: `bkpt 0xab` with the operation in r0 and its argument in r1; qemu carries it
 * out on the host when run with -semihosting-config enable=on. */
#include <stdint.h>

#include "arm_semihost.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack; /* from arm.ld */
int main(void);

int semihost_call(int op, const void *arg)
{
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void semihost_exit(int status)
{
    /* SYS_EXIT takes ADP_Stopped_ApplicationExit (0x20026); the status is not passed on the
     * 32-bit ABI, so a failure is reported in the output instead (the driver prints it) */
    (void)status;
    semihost_call(0x18, (const void *)0x20026);
    for (;;) {
    }
}

void semihost_print(const char *text)
{
    semihost_call(0x04, text); /* SYS_WRITE0: a NUL-terminated string */
}

void reset_handler(void)
{
    uint32_t *src = &_sidata, *dst = &_sdata;
    while (dst < &_edata) *dst++ = *src++; /* .data: initial values from flash */
    for (dst = &_sbss; dst < &_ebss; dst++) *dst = 0;
    semihost_exit(main());
}

static void fault_handler(void)
{
    semihost_print("fault\n");
    semihost_exit(1);
}

/* the vector table: the initial stack pointer, then the handlers (reset, NMI, hard fault,
 * memory management, bus and usage faults) */
__attribute__((section(".isr_vector"), used)) static void (*const vectors[])(void) = {
    (void (*)(void))&_estack, reset_handler, fault_handler, fault_handler,
    fault_handler,            fault_handler, fault_handler,
};
