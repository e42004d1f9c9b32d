/*
 * platform.c -- the two implementations of platform.h: Win32, then POSIX threads.
 * Each wrapper is a line or two around the system call named in its comment.
 * At the end, the floating-point mode (denormals flushed to zero), per CPU.
 */
#if !defined(_WIN32)
#define _GNU_SOURCE 1 /* pthread_atfork, sysconf, posix_memalign under -std=c11 (glibc) */
#endif
#include "platform.h"

#include <stdlib.h>
#include <string.h>

#if defined(_WIN32)
/* ======================================== Win32 ======================================== */
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
#include <malloc.h>  /* _aligned_malloc */
#include <process.h> /* _beginthreadex */

_Static_assert(sizeof(ann__mutex) == sizeof(SRWLOCK), "ann__mutex holds an SRWLOCK");
_Static_assert(sizeof(ann__cond) == sizeof(CONDITION_VARIABLE), "ann__cond holds a CV");
_Static_assert(sizeof(ann__once) == sizeof(INIT_ONCE), "ann__once holds an INIT_ONCE");
_Static_assert(sizeof(ann__tls_key) == sizeof(DWORD), "ann__tls_key holds an FLS index");

/* _beginthreadex (not CreateThread) so the C runtime sets up its per-thread state */
static unsigned __stdcall thread_main(void *p)
{
    ann__thread *t = p;
    t->fn(t->arg);
    return 0;
}

int ann__thread_start(ann__thread *t, void (*fn)(void *), void *arg)
{
    t->fn = fn;
    t->arg = arg;
    t->handle = (void *)_beginthreadex(NULL, 0, thread_main, t, 0, NULL);
    return t->handle == NULL;
}

/* WaitForSingleObject on the thread handle, then CloseHandle */
void ann__thread_join(ann__thread *t)
{
    WaitForSingleObject(t->handle, INFINITE);
    CloseHandle(t->handle);
    t->handle = NULL;
}

/* SRW locks, in exclusive mode: no destruction needed, statically initializable */
void ann__mutex_lock(ann__mutex *m) { AcquireSRWLockExclusive((SRWLOCK *)m); }
void ann__mutex_unlock(ann__mutex *m) { ReleaseSRWLockExclusive((SRWLOCK *)m); }
int ann__mutex_trylock(ann__mutex *m) { return TryAcquireSRWLockExclusive((SRWLOCK *)m) != 0; }
void ann__mutex_reinit(ann__mutex *m) { InitializeSRWLock((SRWLOCK *)m); }

/* condition variables that sleep on an SRW lock */
void ann__cond_wait(ann__cond *c, ann__mutex *m)
{
    SleepConditionVariableSRW((CONDITION_VARIABLE *)c, (SRWLOCK *)m, INFINITE, 0);
}
void ann__cond_signal(ann__cond *c) { WakeConditionVariable((CONDITION_VARIABLE *)c); }
void ann__cond_broadcast(ann__cond *c) { WakeAllConditionVariable((CONDITION_VARIABLE *)c); }
void ann__cond_reinit(ann__cond *c) { InitializeConditionVariable((CONDITION_VARIABLE *)c); }

/* InitOnceExecuteOnce; its callback takes a parameter, through which fn is passed */
typedef struct {
    void (*fn)(void);
} once_call;

static BOOL CALLBACK once_main(PINIT_ONCE once, PVOID param, PVOID *context)
{
    (void)once;
    (void)context;
    ((once_call *)param)->fn();
    return TRUE;
}

void ann__call_once(ann__once *once, void (*fn)(void))
{
    once_call call = {fn};
    InitOnceExecuteOnce((INIT_ONCE *)once, once_main, &call, NULL);
}

/* Fiber-local storage rather than TlsAlloc: only FlsAlloc takes a destructor, which Windows
 * calls when a thread ends (for threads that never use fibers FLS is per thread). */
int ann__tls_create(ann__tls_key *key, ann__tls_destructor destructor)
{
    const DWORD index = FlsAlloc(destructor);
    if (index == FLS_OUT_OF_INDEXES) return 1;
    *key = index;
    return 0;
}
void *ann__tls_get(ann__tls_key key) { return FlsGetValue(key); }
int ann__tls_set(ann__tls_key key, void *value) { return FlsSetValue(key, value) == 0; }

/* _aligned_malloc / _aligned_free from the C runtime */
void *ann__aligned_alloc(size_t size, size_t align) { return _aligned_malloc(size, align); }
void ann__aligned_free(void *p) { _aligned_free(p); }

/* GetActiveProcessorCount over all processor groups (machines with more than 64 CPUs have
 * several groups; the core uses at most 64 threads anyway) */
int ann__cpu_count(void)
{
    const DWORD n = GetActiveProcessorCount(ALL_PROCESSOR_GROUPS);
    return n < 1 ? 1 : n > 4096 ? 4096 : (int)n;
}

/* no fork() on Windows, so nothing to prepare for */
int ann__atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void))
{
    (void)prepare;
    (void)parent;
    (void)child;
    return 0;
}

#else
/* ==================================== POSIX threads ==================================== */
#include <signal.h>
#include <unistd.h>

/* pthread_create, with every signal blocked while the thread is created (it inherits the
 * mask), then the caller's mask restored */
static void *thread_main(void *p)
{
    ann__thread *t = p;
    t->fn(t->arg);
    return NULL;
}

int ann__thread_start(ann__thread *t, void (*fn)(void *), void *arg)
{
    t->fn = fn;
    t->arg = arg;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    const int rc = pthread_create(&t->id, NULL, thread_main, t);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

/* pthread_join */
void ann__thread_join(ann__thread *t) { (void)pthread_join(t->id, NULL); }

/* pthread mutexes (default kind) */
void ann__mutex_lock(ann__mutex *m) { (void)pthread_mutex_lock(m); }
void ann__mutex_unlock(ann__mutex *m) { (void)pthread_mutex_unlock(m); }
int ann__mutex_trylock(ann__mutex *m) { return pthread_mutex_trylock(m) == 0; }
void ann__mutex_reinit(ann__mutex *m) { (void)pthread_mutex_init(m, NULL); }

/* pthread condition variables */
void ann__cond_wait(ann__cond *c, ann__mutex *m) { (void)pthread_cond_wait(c, m); }
void ann__cond_signal(ann__cond *c) { (void)pthread_cond_signal(c); }
void ann__cond_broadcast(ann__cond *c) { (void)pthread_cond_broadcast(c); }
void ann__cond_reinit(ann__cond *c) { (void)pthread_cond_init(c, NULL); }

/* pthread_once */
void ann__call_once(ann__once *once, void (*fn)(void)) { (void)pthread_once(once, fn); }

/* pthread keys: the destructor runs at pthread_exit or return from the thread's function */
int ann__tls_create(ann__tls_key *key, ann__tls_destructor destructor)
{
    return pthread_key_create(key, destructor);
}
void *ann__tls_get(ann__tls_key key) { return pthread_getspecific(key); }
int ann__tls_set(ann__tls_key key, void *value) { return pthread_setspecific(key, value); }

/* posix_memalign / free */
void *ann__aligned_alloc(size_t size, size_t align)
{
    void *p = NULL;
    return posix_memalign(&p, align, size) == 0 ? p : NULL;
}
void ann__aligned_free(void *p) { free(p); }

/* sysconf(_SC_NPROCESSORS_ONLN) */
int ann__cpu_count(void)
{
    const long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 4096 ? 4096 : (int)n;
}

/* pthread_atfork */
int ann__atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void))
{
    return pthread_atfork(prepare, parent, child);
}

#endif

/* ============================ floating point, per CPU ============================ */

#if defined(ANN_KEEP_DENORMALS)
/* built to keep gradual underflow everywhere, to measure what flushing saves */
ann__fpmode ann__flush_denormals(void) { return 0; }
void ann__restore_fpmode(ann__fpmode saved) { (void)saved; }

#elif defined(__x86_64__) || defined(_M_X64) || defined(__SSE__) || \
    (defined(_M_IX86_FP) && _M_IX86_FP >= 1)
/* x86 with SSE: _mm_getcsr / _mm_setcsr read and write MXCSR (gcc, clang, mingw-w64, MSVC) */
#include <xmmintrin.h>
#if defined(_MSC_VER)
#include <immintrin.h> /* _fxsave */
#endif

#define MXCSR_DAZ 0x0040u /* denormals are zero: a denormal operand is read as 0 */
#define MXCSR_FTZ 0x8000u /* flush to zero: a result below FLT_MIN becomes 0 */

static unsigned g_flush_bits = MXCSR_FTZ; /* | MXCSR_DAZ once the CPU is known to take it */
static ann__once g_fp_once = ANN__ONCE_INIT;

/* Writing a bit that MXCSR_MASK lacks faults (#GP), and the first CPUs with SSE2 lack DAZ.
 * FXSAVE stores the mask at bytes 28..31 of its 512-byte area (0 there means the default mask,
 * 0xFFBF, which has no DAZ). */
static void fp_init(void)
{
    struct {
        _Alignas(16) unsigned char bytes[512];
    } area;
    memset(&area, 0, sizeof area);
#if defined(_MSC_VER)
    _fxsave(area.bytes);
#else
    __asm__ __volatile__("fxsave %0" : "=m"(area));
#endif
    uint32_t mask;
    memcpy(&mask, area.bytes + 28, sizeof mask);
    if (mask & MXCSR_DAZ) g_flush_bits |= MXCSR_DAZ;
}

ann__fpmode ann__flush_denormals(void)
{
    ann__call_once(&g_fp_once, fp_init);
    const unsigned csr = _mm_getcsr();
    if ((csr & g_flush_bits) != g_flush_bits) _mm_setcsr(csr | g_flush_bits);
    return csr;
}

void ann__restore_fpmode(ann__fpmode saved)
{
    const unsigned mode = MXCSR_FTZ | MXCSR_DAZ, csr = _mm_getcsr();
    const unsigned back = (csr & ~mode) | ((unsigned)saved & mode);
    if (back != csr) _mm_setcsr(back);
}

#elif defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__))
/* aarch64: FPCR, through the mrs / msr instructions */
#define FPCR_FZ ((uint64_t)1 << 24) /* flush to zero, for denormal operands and results */

static uint64_t read_fpcr(void)
{
    uint64_t fpcr;
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(fpcr));
    return fpcr;
}

static void write_fpcr(uint64_t fpcr) { __asm__ __volatile__("msr fpcr, %0" : : "r"(fpcr)); }

ann__fpmode ann__flush_denormals(void)
{
    const uint64_t fpcr = read_fpcr();
    if (!(fpcr & FPCR_FZ)) write_fpcr(fpcr | FPCR_FZ);
    return fpcr;
}

void ann__restore_fpmode(ann__fpmode saved)
{
    const uint64_t fpcr = read_fpcr();
    const uint64_t back = (fpcr & ~FPCR_FZ) | (saved & FPCR_FZ);
    if (back != fpcr) write_fpcr(back);
}

#else
/* Any other target keeps gradual underflow: 32-bit Arm (whose NEON unit flushes anyway; its
 * VFP unit has FPSCR.FZ), RISC-V (no flushing mode), and MSVC on arm64, where
 * _ReadStatusReg / _WriteStatusReg could set FPCR.FZ but no build here can test it. */
ann__fpmode ann__flush_denormals(void) { return 0; }
void ann__restore_fpmode(ann__fpmode saved) { (void)saved; }
#endif
