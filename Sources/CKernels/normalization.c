// Batch normalisation over one channel: its n planes of `size` floats, `stride` floats apart
// (N x C x H x W: stride C H W, size H W; N x F: size 1). Each plane is summed in 16 float lanes
// (a fixed order the compiler vectorises), the lanes and planes in Double, in order. No fused
// multiply-adds: every variant gives the same bits.
#include "kernels.h"

#define LANES 16

// The sum of a plane's values, of their squared distances from `centre`, and of dy and dy h.
INLINE double plane_sum(const float *restrict p, long size) {
#pragma clang fp contract(off)
    float lane[LANES] = {0};
    long i = 0;
    for (; i + LANES <= size; i += LANES)
        for (int j = 0; j < LANES; j++) lane[j] += p[i + j];
    double sum = 0;
    for (int j = 0; j < LANES; j++) sum += lane[j];
    for (; i < size; i++) sum += p[i];
    return sum;
}

INLINE double plane_squares(const float *restrict p, long size, float centre) {
#pragma clang fp contract(off)
    float lane[LANES] = {0};
    long i = 0;
    for (; i + LANES <= size; i += LANES)
        for (int j = 0; j < LANES; j++) { float d = p[i + j] - centre; lane[j] += d * d; }
    double sum = 0;
    for (int j = 0; j < LANES; j++) sum += lane[j];
    for (; i < size; i++) { double d = (double)p[i] - centre; sum += d * d; }
    return sum;
}

INLINE void plane_gradient_sums(const float *restrict dy, const float *restrict h, long size, double *sum_dy,
                                double *sum_dyh) {
#pragma clang fp contract(off)
    float a[LANES] = {0}, b[LANES] = {0};
    long i = 0;
    for (; i + LANES <= size; i += LANES)
        for (int j = 0; j < LANES; j++) { a[j] += dy[i + j]; b[j] += dy[i + j] * h[i + j]; }
    double s = 0, t = 0;
    for (int j = 0; j < LANES; j++) { s += a[j]; t += b[j]; }
    for (; i < size; i++) { s += dy[i]; t += (double)dy[i] * h[i]; }
    *sum_dy += s;
    *sum_dyh += t;
}

INLINE void batchnorm_moments_body(const float *x, long n, long stride, long size, double *mean, double *squares) {
    double sum = 0;
    for (long s = 0; s < n; s++) sum += plane_sum(x + s * stride, size);
    double m = sum / (double)(n * size);
    double q = 0;
    for (long s = 0; s < n; s++) q += plane_squares(x + s * stride, size, (float)m);
    *mean = m;
    *squares = q;
}

INLINE void batchnorm_normalize_body(const float *x, float *y, float *h, long n, long stride, long size, float mean,
                                     float inv_std, float gamma, float beta) {
#pragma clang fp contract(off)
    for (long s = 0; s < n; s++) {
        const float *restrict xs = x + s * stride;
        float *restrict ys = y + s * stride, *restrict hs = h + s * stride;
        for (long i = 0; i < size; i++) {
            float v = (xs[i] - mean) * inv_std;
            hs[i] = v;
            ys[i] = gamma * v + beta;
        }
    }
}

INLINE void batchnorm_gradient_sums_body(const float *dy, const float *h, long n, long stride, long size,
                                         double *sum_dy, double *sum_dyh) {
    double s = 0, t = 0;
    for (long p = 0; p < n; p++) plane_gradient_sums(dy + p * stride, h + p * stride, size, &s, &t);
    *sum_dy = s;
    *sum_dyh = t;
}

INLINE void batchnorm_input_gradient_body(const float *dy, const float *h, float *dx, long n, long stride, long size,
                                          float scale, float count, float sum_dy, float sum_dyh) {
#pragma clang fp contract(off)
    for (long s = 0; s < n; s++) {
        const float *restrict dys = dy + s * stride, *restrict hs = h + s * stride;
        float *restrict dxs = dx + s * stride;
        for (long i = 0; i < size; i++) dxs[i] = scale * (count * dys[i] - sum_dy - hs[i] * sum_dyh);
    }
}

#define NORMALIZATION_VARIANT(S)                                                                      \
TARGET_##S void synapse_ck_batchnorm_moments_##S(const float *x, long n, long stride, long size, double *mean, \
                                                 double *squares) {                                   \
    batchnorm_moments_body(x, n, stride, size, mean, squares);                                        \
}                                                                                                     \
TARGET_##S void synapse_ck_batchnorm_normalize_##S(const float *x, float *y, float *h, long n, long stride, \
                                                   long size, float mean, float inv_std, float gamma, float beta) { \
    batchnorm_normalize_body(x, y, h, n, stride, size, mean, inv_std, gamma, beta);                   \
}                                                                                                     \
TARGET_##S void synapse_ck_batchnorm_gradient_sums_##S(const float *dy, const float *h, long n, long stride, \
                                                       long size, double *sum_dy, double *sum_dyh) {  \
    batchnorm_gradient_sums_body(dy, h, n, stride, size, sum_dy, sum_dyh);                            \
}                                                                                                     \
TARGET_##S void synapse_ck_batchnorm_input_gradient_##S(const float *dy, const float *h, float *dx, long n, \
                                                        long stride, long size, float scale, float count, \
                                                        float sum_dy, float sum_dyh) {                \
    batchnorm_input_gradient_body(dy, h, dx, n, stride, size, scale, count, sum_dy, sum_dyh);         \
}

NORMALIZATION_VARIANT(generic)
#if defined(__x86_64__)
NORMALIZATION_VARIANT(avx2)
NORMALIZATION_VARIANT(avx512)
#endif
