// ReLU, Adam and tanh: elementwise loops over n floats.
#include "kernels.h"

INLINE void relu_forward_body(const float *x, float *y, long n) {
    // As Swift's max(x, 0): NaN stays NaN, -0 becomes +0.
    for (long i = 0; i < n; i++) y[i] = (x[i] > 0 || x[i] != x[i]) ? x[i] : 0;
}

INLINE void relu_backward_body(const float *restrict y, const float *restrict dy, float *restrict dx, long n) {
    for (long i = 0; i < n; i++) dx[i] = y[i] > 0 ? dy[i] : 0;
}

INLINE void adam_body(float *restrict w, const float *restrict g, float *restrict m, float *restrict v, long n,
                      float b1, float b2, float eps, float wd, float step, float irc2) {
    // No fused multiply-adds: every variant rounds each operation as the Swift loop it replaces,
    // so the update is the same to the bit on every CPU.
#pragma clang fp contract(off)
    for (long i = 0; i < n; i++) {
        float gi = g[i] + wd * w[i];
        float mi = b1 * m[i] + (1 - b1) * gi;
        float vi = b2 * v[i] + (1 - b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        w[i] = w[i] - step * mi / (SQRT(vi) * irc2 + eps);
    }
}

// tanh as Synapse's `rationalTanh` (Activation.swift): the ratio of an odd degree-13 and an
// even degree-6 polynomial on [-9, 9] (Eigen's), within a few ulp of the true value. The same
// operations in the same order and no fused multiply-adds, so every variant gives the bits of the
// Swift function it replaces; the clamp is Swift's min(max(x, -9), 9), so NaN stays NaN.
INLINE void tanh_forward_body(const float *x, float *y, long n) {
#pragma clang fp contract(off)
    // x and y are the same buffer or do not overlap, so each element is read before it is
    // written; without the pragma the overlap check sends the in-place call down the scalar loop.
#pragma clang loop vectorize(assume_safety)
    for (long i = 0; i < n; i++) {
        float v = x[i];
        v = -9.0f >= v ? -9.0f : v;
        v = 9.0f < v ? 9.0f : v;
        float v2 = v * v;
        float p = v2 * -2.76076847742355e-16f + 2.00018790482477e-13f;
        p = v2 * p + -8.60467152213735e-11f;
        p = v2 * p + 5.12229709037114e-08f;
        p = v2 * p + 1.48572235717979e-05f;
        p = v2 * p + 6.37261928875436e-04f;
        p = v2 * p + 4.89352455891786e-03f;
        p = v * p;
        float q = v2 * 1.19825839466702e-06f + 1.18534705686654e-04f;
        q = v2 * q + 2.26843463243900e-03f;
        q = v2 * q + 4.89352518554385e-03f;
        y[i] = p / q;
    }
}

INLINE void tanh_backward_body(const float *restrict y, const float *restrict dy, float *restrict dx, long n) {
#pragma clang fp contract(off)
    for (long i = 0; i < n; i++) dx[i] = dy[i] * (1 - y[i] * y[i]);
}

#define ELEMENTWISE_VARIANT(S)                                                                        \
TARGET_##S void synapse_ck_relu_forward_##S(const float *x, float *y, long n) { relu_forward_body(x, y, n); } \
TARGET_##S void synapse_ck_relu_backward_##S(const float *y, const float *dy, float *dx, long n) {    \
    relu_backward_body(y, dy, dx, n);                                                                 \
}                                                                                                     \
TARGET_##S void synapse_ck_tanh_forward_##S(const float *x, float *y, long n) { tanh_forward_body(x, y, n); } \
TARGET_##S void synapse_ck_tanh_backward_##S(const float *y, const float *dy, float *dx, long n) {    \
    tanh_backward_body(y, dy, dx, n);                                                                 \
}                                                                                                     \
TARGET_##S void synapse_ck_adam_##S(float *w, const float *g, float *m, float *v, long n, float b1, float b2, \
                                    float eps, float wd, float step, float irc2) {                    \
    adam_body(w, g, m, v, n, b1, b2, eps, wd, step, irc2);                                            \
}

ELEMENTWISE_VARIANT(generic)
#if defined(__x86_64__)
ELEMENTWISE_VARIANT(avx2)
ELEMENTWISE_VARIANT(avx512)
#endif
