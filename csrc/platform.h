/*
 * platform.h -- every operating-system service the core uses, behind one small interface.
 *
 * Threads, a mutex and a condition variable, once-only initialization, a per-thread pointer
 * with a destructor, aligned memory, the number of CPUs, fork handlers, an atomic int and a
 * spin-wait pause.
 * platform.c implements them twice: for Win32 (MSVC and mingw-w64, chosen by _WIN32) and for
 * POSIX threads (Linux, macOS, the BSDs). No other file in csrc/ includes an OS header.
 * One more service depends on the CPU rather than the OS: the floating-point mode that flushes
 * denormal numbers to zero, at the end of platform.c.
 *
 * The Win32 types are declared here without <windows.h>: each is one pointer-sized word
 * (platform.c checks that), so the macros of <windows.h> (min, max, near, ...) stay out of the
 * rest of the core.
 *
 * Conventions: a function that can fail returns 0 on success and nonzero on failure; nothing
 * here exits or aborts. Locking, unlocking and waiting on a valid object cannot fail and
 * return nothing.
 */
#ifndef ANN_PLATFORM_H
#define ANN_PLATFORM_H
#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
typedef struct { void *opaque; } ann__mutex;  /* an SRWLOCK */
typedef struct { void *opaque; } ann__cond;   /* a CONDITION_VARIABLE */
typedef struct { void *opaque; } ann__once;   /* an INIT_ONCE */
typedef unsigned long ann__tls_key;           /* a fiber-local storage index (FlsAlloc) */
#define ANN__MUTEX_INIT {0}                   /* SRWLOCK_INIT, CONDITION_VARIABLE_INIT and */
#define ANN__COND_INIT {0}                    /* INIT_ONCE_STATIC_INIT are all zero */
#define ANN__ONCE_INIT {0}
#define ANN__CALLBACK __stdcall               /* how FlsAlloc calls a destructor (WINAPI) */
#else
#include <pthread.h>
typedef pthread_mutex_t ann__mutex;
typedef pthread_cond_t ann__cond;
typedef pthread_once_t ann__once;
typedef pthread_key_t ann__tls_key;
#define ANN__MUTEX_INIT PTHREAD_MUTEX_INITIALIZER
#define ANN__COND_INIT PTHREAD_COND_INITIALIZER
#define ANN__ONCE_INIT PTHREAD_ONCE_INIT
#define ANN__CALLBACK
#endif

/* ---- threads ---- */

/* A thread running fn(arg). The struct must stay in place until the thread has ended. */
typedef struct {
    void (*fn)(void *arg);
    void *arg;
#if defined(_WIN32)
    void *handle;     /* HANDLE from _beginthreadex */
#else
    pthread_t id;
#endif
} ann__thread;

/* Start fn(arg) in a new thread. On POSIX the thread starts with every signal blocked, so
 * signals go to the host's own threads (Python handles KeyboardInterrupt in its main thread). */
int ann__thread_start(ann__thread *t, void (*fn)(void *arg), void *arg);
/* Wait until the thread has ended, and release it. */
void ann__thread_join(ann__thread *t);

/* ---- mutex and condition variable (statically initialized with ANN__*_INIT) ---- */

void ann__mutex_lock(ann__mutex *m);
void ann__mutex_unlock(ann__mutex *m);
int ann__mutex_trylock(ann__mutex *m);         /* 1 when it took the lock, 0 when it is held */
void ann__mutex_reinit(ann__mutex *m);          /* back to unlocked, forgetting any owner */
/* Unlock m, sleep until signalled (or spuriously), lock m again. */
void ann__cond_wait(ann__cond *c, ann__mutex *m);
void ann__cond_signal(ann__cond *c);            /* wake one waiter */
void ann__cond_broadcast(ann__cond *c);         /* wake every waiter */
void ann__cond_reinit(ann__cond *c);            /* back to no waiters */

/* ---- once-only initialization ---- */

/* Run fn exactly once per process however many threads call this; every caller returns after
 * fn has finished. */
void ann__call_once(ann__once *once, void (*fn)(void));

/* ---- a per-thread pointer with a destructor ---- */

typedef void(ANN__CALLBACK *ann__tls_destructor)(void *value);
/* A new key whose value is NULL in every thread. When a thread ends with a non-NULL value,
 * destructor(value) runs in that thread. (Not for the thread that calls exit(): free its
 * value yourself.) */
int ann__tls_create(ann__tls_key *key, ann__tls_destructor destructor);
void *ann__tls_get(ann__tls_key key);
int ann__tls_set(ann__tls_key key, void *value);

/* ---- memory ---- */

/* size bytes at an address that is a multiple of align (a power of two, >= sizeof(void *));
 * NULL when out of memory. Free with ann__aligned_free (on Windows free() would be wrong). */
void *ann__aligned_alloc(size_t size, size_t align);
void ann__aligned_free(void *p);                /* p from ann__aligned_alloc, or NULL */

/* ---- the machine ---- */

int ann__cpu_count(void);                       /* online logical CPUs, at least 1 */

/* Handlers around fork() (pthread_atfork): prepare runs in the parent before the fork, parent
 * and child in each process after it. Windows has no fork: nothing is registered. */
int ann__atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void));

/* ---- floating point: denormals flushed to zero (docs/denormals.md) ---- */

/* A float below 2^-126 in magnitude (FLT_MIN) is denormal: it keeps fewer significant bits, and
 * on many CPUs an operation that reads or makes one takes a slow microcode path (an "assist",
 * up to ~100 cycles on Intel). A long Adam run fills its moments with them. So every thread
 * that computes for the core runs in the mode that flushes them to zero: the pool's workers
 * from their start, the caller's thread around each entry point that computes, which saves the
 * caller's mode and puts it back on return (the caller, e.g. Python's own float arithmetic,
 * keeps IEEE gradual underflow).
 *
 * What the mode is: x86 (SSE) sets MXCSR's flush-to-zero bit 15 (a result below FLT_MIN
 * becomes 0) and denormals-are-zero bit 6 (a denormal operand is read as 0), the latter only
 * where the CPU has it; aarch64 sets FPCR.FZ, bit 24, which does both. Any other target keeps
 * its default (gradual underflow): nothing is changed there. A build with -DANN_KEEP_DENORMALS
 * changes nothing anywhere, to measure what flushing saves. */
typedef uint64_t ann__fpmode;                   /* a thread's MXCSR or FPCR, as it was */
/* Put the calling thread in the flushing mode; returns the mode it replaced. */
ann__fpmode ann__flush_denormals(void);
/* Put back the flushing bits of a mode ann__flush_denormals returned (the exception flags
 * raised meanwhile stay raised, as they would without the core in between). */
void ann__restore_fpmode(ann__fpmode saved);

/* ---- an atomic int: a setting written by one thread and read by others ---- */

#if defined(__GNUC__) || defined(__clang__)
static inline int ann__atomic_load(const int *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void ann__atomic_store(int *p, int v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
#elif defined(_MSC_VER)
#include <intrin.h>
/* int and long are both 32 bits on Windows; the Interlocked intrinsics are full barriers */
static inline int ann__atomic_load(const int *p) { return _InterlockedOr((volatile long *)p, 0); }
static inline void ann__atomic_store(int *p, int v) { _InterlockedExchange((volatile long *)p, v); }
#else
#error "platform.h: no atomic int for this compiler (add one above)"
#endif

/* ---- a pause inside a spin-wait loop ---- */

/* Tells the CPU that the thread is spinning on a memory location: it saves power and yields the
 * core's resources to its sibling hyperthread (x86 PAUSE, Arm YIELD); nothing elsewhere. */
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
static inline void ann__cpu_relax(void) { __builtin_ia32_pause(); }
#elif (defined(__GNUC__) || defined(__clang__)) && defined(__aarch64__)
static inline void ann__cpu_relax(void) { __asm__ __volatile__("yield" ::: "memory"); }
#elif defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
static inline void ann__cpu_relax(void) { _mm_pause(); } /* <intrin.h>, included above */
#else
static inline void ann__cpu_relax(void) {}
#endif

#endif
