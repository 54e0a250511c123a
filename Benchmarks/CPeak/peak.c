// The multiply-add peak: ACC independent accumulators (more than the multiply-add latency times
// the units that issue them, 4 cycles x 2 units on Zen 3), each updated acc = acc * a + b per
// round, so the loop is bound by multiply-add throughput alone. The accumulators stay in
// registers; the result is summed and returned so the loop is not removed.
#include "cpeak.h"

enum { ACC = 12 };

#define PEAK_LOOP(NAME, WIDTH, TARGET, OP)                                                        \
TARGET static double NAME(long iterations) {                                                     \
    typedef float v __attribute__((ext_vector_type(WIDTH)));                                    \
    v acc[ACC];                                                                                  \
    for (int i = 0; i < ACC; i++) acc[i] = (v)(1.0f + 0.001f * i);                              \
    v a = (v)0.999999f, b = (v)1e-7f;                                                            \
    for (long r = 0; r < iterations; r++) {                                                      \
        for (int i = 0; i < ACC; i++) acc[i] = OP(acc[i], a, b);                              \
        __asm__ volatile("" : "+x"(acc[0]), "+x"(acc[1]), "+x"(acc[2]), "+x"(acc[3]));          \
    }                                                                                            \
    v sum = acc[0];                                                                              \
    for (int i = 1; i < ACC; i++) sum += acc[i];                                                 \
    volatile float sink = sum[0];                                                                \
    (void)sink;                                                                                  \
    return 2.0 * WIDTH * ACC * (double)iterations;                                               \
}

#if defined(__x86_64__)
PEAK_LOOP(peak_avx512, 16, __attribute__((target("avx512f,fma"))), __builtin_elementwise_fma)
PEAK_LOOP(peak_avx2, 8, __attribute__((target("avx2,fma"))), __builtin_elementwise_fma)
#endif
// Without fused multiply-adds: a multiply and an add (the same 2 operations a lane).
#define MULTIPLY_ADD(x, a, b) ((x) * (a) + (b))
PEAK_LOOP(peak_plain, 4, , MULTIPLY_ADD)

static int level(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
#endif
    return 0;
}

double synapse_peak_fma(long iterations) {
    switch (level()) {
#if defined(__x86_64__)
    case 2: return peak_avx512(iterations);
    case 1: return peak_avx2(iterations);
#endif
    default: return peak_plain(iterations);
    }
}

const char *synapse_peak_instructions(void) {
    static const char *names[] = {"plain (no fma)", "avx2+fma", "avx512"};
    return names[level()];
}
