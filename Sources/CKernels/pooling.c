// 2x2 max pooling, forward and backward.
#include "kernels.h"

// 2x2, stride 2, unpadded max pooling over `planes` planes of h x w: y = the window's maximum,
// index = its position in the plane (r w + q). Scan order (0,0), (0,1), (1,0), (1,1); a later
// element wins when greater or NaN, so the first maximum wins ties and NaN propagates, as
// PyTorch's MaxPool2d. Rows of 8 outputs or more go 8 windows at a time: the two input rows'
// 16 values each are split into even and odd columns, and the same three selects run on vectors
// (a last group overlapping the one before it covers the rest of the row); shorter rows go one
// window at a time. Both ways compute each window alike, so the bits are the same.
typedef float vfloat8 __attribute__((ext_vector_type(8)));
typedef int vint8 __attribute__((ext_vector_type(8)));
typedef int vint8_unaligned __attribute__((ext_vector_type(8), aligned(4)));
typedef float vfloat8_unaligned __attribute__((ext_vector_type(8), aligned(4)));
typedef float vfloat16_unaligned __attribute__((ext_vector_type(16), aligned(4)));

/// value, best = c, at in the lanes where c > value or c is NaN.
INLINE void pool_select(vfloat8 *value, vint8 *best, vfloat8 c, vint8 at) {
    vint8 take = (c > *value) | (c != c);
    *value = __builtin_bit_cast(vfloat8, (__builtin_bit_cast(vint8, c) & take)
                                             | (__builtin_bit_cast(vint8, *value) & ~take));
    *best = (at & take) | (*best & ~take);
}

INLINE void maxpool2x2_body(const float *restrict x, float *restrict y, int *restrict index, long planes,
                            long h, long w, long oh, long ow) {
    const vint8 even = {0, 2, 4, 6, 8, 10, 12, 14};
    for (long p = 0; p < planes; p++) {
        const float *xp = x + p * h * w;
        float *yp = y + p * oh * ow;
        int *ip = index + p * oh * ow;
        for (long i = 0; i < oh; i++) {
            const float *top = xp + 2 * i * w, *bottom = top + w;
            int base = (int)(2 * i * w);
            for (long j0 = 0; ow >= 8 && j0 < ow; j0 += 8) {
                long j = j0 + 8 <= ow ? j0 : ow - 8;
                vfloat16_unaligned t = *(const vfloat16_unaligned *)(top + 2 * j);
                vfloat16_unaligned d = *(const vfloat16_unaligned *)(bottom + 2 * j);
                vint8 at = (vint8)(base + (int)(2 * j)) + even;
                vfloat8 value = __builtin_shufflevector(t, t, 0, 2, 4, 6, 8, 10, 12, 14);
                vint8 best = at;
                pool_select(&value, &best, __builtin_shufflevector(t, t, 1, 3, 5, 7, 9, 11, 13, 15), at + 1);
                pool_select(&value, &best, __builtin_shufflevector(d, d, 0, 2, 4, 6, 8, 10, 12, 14), at + (int)w);
                pool_select(&value, &best, __builtin_shufflevector(d, d, 1, 3, 5, 7, 9, 11, 13, 15), at + (int)w + 1);
                *(vfloat8_unaligned *)(yp + i * ow + j) = value;
                *(vint8_unaligned *)(ip + i * ow + j) = best;
            }
            for (long j = 0; ow < 8 && j < ow; j++) {
                float value = top[2 * j];
                int best = base + (int)(2 * j);
                float c1 = top[2 * j + 1], c2 = bottom[2 * j], c3 = bottom[2 * j + 1];
                int w1 = c1 > value || c1 != c1; value = w1 ? c1 : value; best = w1 ? base + (int)(2 * j + 1) : best;
                int w2 = c2 > value || c2 != c2; value = w2 ? c2 : value; best = w2 ? base + (int)(w + 2 * j) : best;
                int w3 = c3 > value || c3 != c3; value = w3 ? c3 : value; best = w3 ? base + (int)(w + 2 * j + 1) : best;
                yp[i * ow + j] = value;
                ip[i * ow + j] = best;
            }
        }
    }
}

// The gradient of maxpool2x2: each window's gradient goes to its maximum's position, every
// other position gets zero. With `y` (the layer's output when it applies the ReLU before it), only windows whose
// output is > 0 send their gradient, as relu_backward selects.
INLINE void maxpool2x2_backward_body(const float *restrict dy, const float *restrict y, const int *restrict index,
                                     float *restrict dx, long planes, long h, long w, long oh, long ow) {
    // Zeros first, then each window's gradient added at its maximum (as the general loop in
    // Pooling.swift does, so a -0 gradient arrives as +0 there too).
    memset(dx, 0, sizeof(float) * planes * h * w);
    for (long p = 0; p < planes; p++) {
        const float *dyp = dy + p * oh * ow, *yp = y ? y + p * oh * ow : 0;
        const int *ip = index + p * oh * ow;
        float *dxp = dx + p * h * w;
        if (yp) {
            for (long k = 0; k < oh * ow; k++) dxp[ip[k]] += yp[k] > 0 ? dyp[k] : 0;
        } else {
            for (long k = 0; k < oh * ow; k++) dxp[ip[k]] += dyp[k];
        }
    }
}

#define POOLING_VARIANT(S)                                                                            \
TARGET_##S void synapse_ck_maxpool2x2_##S(const float *x, float *y, int *index, long planes, long h, long w, \
                                          long oh, long ow) {                                         \
    maxpool2x2_body(x, y, index, planes, h, w, oh, ow);                                               \
}                                                                                                     \
TARGET_##S void synapse_ck_maxpool2x2_backward_##S(const float *dy, const float *y, const int *index, float *dx, \
                                                   long planes, long h, long w, long oh, long ow) {   \
    maxpool2x2_backward_body(dy, y, index, dx, planes, h, w, oh, ow);                                 \
}

POOLING_VARIANT(generic)
#if defined(__x86_64__)
POOLING_VARIANT(avx2)
POOLING_VARIANT(avx512)
#endif
