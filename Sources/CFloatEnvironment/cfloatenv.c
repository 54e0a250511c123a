#include "cfloatenv.h"

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>

/* MXCSR bit 15 is flush-to-zero (FTZ), bit 6 denormals-are-zero (DAZ). */
int synapse_flush_denormals(int on) {
    const unsigned int bits = 0x8040;
    unsigned int csr = _mm_getcsr();
    int was = (csr & bits) == bits;
    _mm_setcsr(on ? (csr | bits) : (csr & ~bits));
    return was;
}

int synapse_denormals_flushed(void) { return (_mm_getcsr() & 0x8040) == 0x8040; }

#elif defined(__aarch64__)

/* FPCR bit 24 is flush-to-zero (it covers inputs too). */
int synapse_flush_denormals(int on) {
    unsigned long fpcr;
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(fpcr));
    int was = (fpcr >> 24) & 1;
    fpcr = on ? (fpcr | (1UL << 24)) : (fpcr & ~(1UL << 24));
    __asm__ __volatile__("msr fpcr, %0" : : "r"(fpcr));
    return was;
}

int synapse_denormals_flushed(void) {
    unsigned long fpcr;
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(fpcr));
    return (fpcr >> 24) & 1;
}

#else

int synapse_flush_denormals(int on) { (void)on; return 0; }

int synapse_denormals_flushed(void) { return 0; }

#endif
