/* Semihosting calls of arm_startup.c: output to the host's stdout and exit under qemu. */
#ifndef ARM_SEMIHOST_H
#define ARM_SEMIHOST_H
int semihost_call(int op, const void *arg);
void semihost_print(const char *text);
void semihost_exit(int status);
#endif
