// One body per kernel (static, always inlined), instantiated once per instruction set by
// VARIANT below; the compiler vectorises each copy for its target.
#include "ckernels.h"
#include <math.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))

// sqrtf sets errno for negative input, so the compiler keeps a scalar call beside every square
// root and does not vectorise the loop; the elementwise builtin is the bare instruction (exactly
// rounded all the same).
#if __has_builtin(__builtin_elementwise_sqrt)
#define SQRT(x) __builtin_elementwise_sqrt(x)
#else
#define SQRT(x) sqrtf(x)
#endif

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

// Rows of the table are far apart in memory (a 20,000 x 64 table is 5 MB), so each loop asks for
// the row it needs EMBEDDING_AHEAD ids later before it copies the current one.
#define EMBEDDING_AHEAD 8

INLINE void prefetch_row(const float *row, long d, int write) {
    for (long j = 0; j < d; j += 16) {
        if (write) __builtin_prefetch(row + j, 1);
        else __builtin_prefetch(row + j, 0);
    }
}

INLINE void embedding_gather_body(const float *restrict table, const int *restrict ids, long count, long d,
                                  float *restrict y) {
    for (long i = 0; i < count; i++) {
        if (i + EMBEDDING_AHEAD < count) prefetch_row(table + (long)ids[i + EMBEDDING_AHEAD] * d, d, 0);
        const float *row = table + (long)ids[i] * d;
        float *out = y + i * d;
        for (long j = 0; j < d; j++) out[j] = row[j];
    }
}

INLINE void embedding_scatter_add_body(const int *restrict ids, long count, long width, long stride,
                                       const float *restrict dy, float *restrict dw, long skip) {
    for (long i = 0; i < count; i++) {
        if (i + EMBEDDING_AHEAD < count) prefetch_row(dw + (long)ids[i + EMBEDDING_AHEAD] * stride, width, 1);
        long id = ids[i];
        if (id == skip) continue;
        float *row = dw + id * stride;
        const float *g = dy + i * stride;
        for (long j = 0; j < width; j++) row[j] += g[j];
    }
}

// Destination rows in order (contiguous writes; the reads jump), rows j0..<j1 of the B axis.
// (Tiles of the B axis measured no faster: at (64, 200, 64) both directions are bound by memory.)
INLINE void transpose_first_two_body(const float *restrict x, float *restrict y, long a, long b, long c, long j0,
                                     long j1) {
    for (long j = j0; j < j1; j++)
        for (long i = 0; i < a; i++) {
            const float *from = x + (i * b + j) * c;
            float *to = y + (j * a + i) * c;
            for (long k = 0; k < c; k++) to[k] = from[k];
        }
}

// 2x2, stride 2, unpadded max pooling over `planes` planes of h x w: y = the window's maximum,
// index = its position in the plane (r w + q). Scan order (0,0), (0,1), (1,0), (1,1); a later
// element wins when greater or NaN, so the first maximum wins ties and NaN propagates, as
// PyTorch's MaxPool2d.
INLINE void maxpool2x2_body(const float *restrict x, float *restrict y, int *restrict index, long planes,
                            long h, long w, long oh, long ow) {
    for (long p = 0; p < planes; p++) {
        const float *xp = x + p * h * w;
        float *yp = y + p * oh * ow;
        int *ip = index + p * oh * ow;
        for (long i = 0; i < oh; i++) {
            const float *top = xp + 2 * i * w, *bottom = top + w;
            int base = (int)(2 * i * w);
            for (long j = 0; j < ow; j++) {
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

long synapse_conv_lanes(long o) {
    long block = o > 8 ? 16 : 8;
    return (o + block - 1) / block * block;
}

/// Copies image (c, h, w) into (c, h + 2 ph, w + 2 pw) with a zero border.
INLINE void pad_image(const float *restrict x, long c, long h, long w, long ph, long pw, float *restrict xp) {
    long hp = h + 2 * ph, wp = w + 2 * pw;
    if (ph == 0 && pw == 0) { memcpy(xp, x, sizeof(float) * c * h * w); return; }
    memset(xp, 0, sizeof(float) * c * hp * wp);
    for (long ci = 0; ci < c; ci++)
        for (long i = 0; i < h; i++)
            memcpy(xp + (ci * hp + i + ph) * wp + pw, x + (ci * h + i) * w, sizeof(float) * w);
}

// Forward over one padded image and one block of OB output channels starting at ob, for KW-wide
// kernels (KW 0: kw at run time): for each output pixel, acc[OB] = bias + sum over taps (ci, u, v)
// of x * wt[tap][ob...]. Four pixels of a row at a time, so each weight vector loaded serves four.
#define CONV_FORWARD_BLOCK(OB, KW)                                                                     \
INLINE void conv_forward_block##OB##_##KW(const SynapseConvShape *s, const float *restrict xp,      \
                                          const float *restrict wt, const float *restrict bias,     \
                                          float *restrict y, long ob) {                             \
    const long kw = KW ? KW : s->kw;                                                                  \
    long lanes = synapse_conv_lanes(s->o), hp = s->h + 2 * s->ph, wp = s->w + 2 * s->pw;              \
    long area = s->oh * s->ow, live = s->o - ob < OB ? s->o - ob : OB;                                \
    float b[OB];                                                                                      \
    for (long k = 0; k < OB; k++) b[k] = (bias && k < live) ? bias[ob + k] : 0;                       \
    for (long i = 0; i < s->oh; i++) {                                                                \
        /* Rows i + u of the padded image that hold data: the padding rows add nothing. */            \
        long u0 = s->ph > i ? s->ph - i : 0;                                                          \
        long u1 = s->ph + s->h - i < s->kh ? s->ph + s->h - i : s->kh;                                \
        long j = 0;                                                                                   \
        for (; j + 4 <= s->ow; j += 4) {                                                              \
            float acc[4][OB];                                                                         \
            for (long p = 0; p < 4; p++) for (long k = 0; k < OB; k++) acc[p][k] = b[k];              \
            for (long ci = 0; ci < s->c; ci++) {                                                      \
                for (long u = u0; u < u1; u++) {                                                      \
                    const float *row = xp + (ci * hp + i + u) * wp + j;                               \
                    const float *wr = wt + ((ci * s->kh + u) * kw) * lanes + ob;                      \
                    for (long v = 0; v < kw; v++) {                                                   \
                        const float *wv = wr + v * lanes;                                             \
                        for (long p = 0; p < 4; p++) {                                                \
                            float xv = row[v + p];                                                    \
                            for (long k = 0; k < OB; k++) acc[p][k] += xv * wv[k];                    \
                        }                                                                             \
                    }                                                                                 \
                }                                                                                     \
            }                                                                                         \
            for (long k = 0; k < live; k++)                                                           \
                for (long p = 0; p < 4; p++) y[(ob + k) * area + i * s->ow + j + p] = acc[p][k];     \
        }                                                                                             \
        for (; j < s->ow; j++) {                                                                      \
            float acc[OB];                                                                            \
            for (long k = 0; k < OB; k++) acc[k] = b[k];                                              \
            for (long ci = 0; ci < s->c; ci++) {                                                      \
                for (long u = u0; u < u1; u++) {                                                      \
                    const float *row = xp + (ci * hp + i + u) * wp + j;                               \
                    const float *wr = wt + ((ci * s->kh + u) * kw) * lanes + ob;                      \
                    for (long v = 0; v < kw; v++) {                                                   \
                        float xv = row[v];                                                            \
                        const float *wv = wr + v * lanes;                                             \
                        for (long k = 0; k < OB; k++) acc[k] += xv * wv[k];                           \
                    }                                                                                 \
                }                                                                                     \
            }                                                                                         \
            for (long k = 0; k < live; k++) y[(ob + k) * area + i * s->ow + j] = acc[k];             \
        }                                                                                             \
    }                                                                                                 \
}
CONV_FORWARD_BLOCK(8, 0)
CONV_FORWARD_BLOCK(16, 0)
CONV_FORWARD_BLOCK(8, 5)
CONV_FORWARD_BLOCK(16, 5)

INLINE void conv_forward_body(const SynapseConvShape *s, const float *x, const float *wt, const float *bias,
                              float *y, float *scratch) {
    long lanes = synapse_conv_lanes(s->o);
    for (long n = 0; n < s->n; n++) {
        pad_image(x + n * s->c * s->h * s->w, s->c, s->h, s->w, s->ph, s->pw, scratch);
        float *yn = y + n * s->o * s->oh * s->ow;
        for (long ob = 0; ob < lanes; ob += s->o > 8 ? 16 : 8) {
            // 5-wide kernels (LeNet's) get a copy whose tap loop the compiler unrolls.
            if (s->o > 8) {
                if (s->kw == 5) conv_forward_block16_5(s, scratch, wt, bias, yn, ob);
                else conv_forward_block16_0(s, scratch, wt, bias, yn, ob);
            } else {
                if (s->kw == 5) conv_forward_block8_5(s, scratch, wt, bias, yn, ob);
                else conv_forward_block8_0(s, scratch, wt, bias, yn, ob);
            }
        }
    }
}

// Parameter gradients over one image: dwt[tap][ob...] += sum over pixels of x * dyt[pixel][ob...],
// with dy transposed to pixel-major (dyt, lanes floats per pixel).
#define CONV_WEIGHT_BLOCK(OB)                                                                          \
INLINE void conv_weight_block##OB(const SynapseConvShape *s, const float *restrict xp,              \
                                  const float *restrict dyt, float *restrict dwt, long ob) {        \
    long lanes = synapse_conv_lanes(s->o), hp = s->h + 2 * s->ph, wp = s->w + 2 * s->pw;              \
    for (long ci = 0; ci < s->c; ci++) {                                                              \
        for (long u = 0; u < s->kh; u++) {                                                            \
            for (long v = 0; v < s->kw; v++) {                                                        \
                float acc[OB];                                                                        \
                for (long k = 0; k < OB; k++) acc[k] = 0;                                             \
                for (long i = 0; i < s->oh; i++) {                                                    \
                    const float *row = xp + (ci * hp + i + u) * wp + v;                               \
                    const float *g = dyt + i * s->ow * lanes + ob;                                    \
                    for (long j = 0; j < s->ow; j++) {                                                \
                        float xv = row[j];                                                            \
                        const float *gj = g + j * lanes;                                              \
                        for (long k = 0; k < OB; k++) acc[k] += xv * gj[k];                           \
                    }                                                                                 \
                }                                                                                     \
                float *d = dwt + ((ci * s->kh + u) * s->kw + v) * lanes + ob;                         \
                for (long k = 0; k < OB; k++) d[k] += acc[k];                                         \
            }                                                                                         \
        }                                                                                             \
    }                                                                                                 \
}
CONV_WEIGHT_BLOCK(8)
CONV_WEIGHT_BLOCK(16)

// The same for KW-wide kernels with KW fixed: one row of taps (ci, u, 0..KW) at a time, so each
// gradient vector loaded serves KW taps.
#define CONV_WEIGHT_ROW_BLOCK(OB, KW)                                                                  \
INLINE void conv_weight_block##OB##_##KW(const SynapseConvShape *s, const float *restrict xp,       \
                                         const float *restrict dyt, float *restrict dwt, long ob) { \
    long lanes = synapse_conv_lanes(s->o), hp = s->h + 2 * s->ph, wp = s->w + 2 * s->pw;              \
    for (long ci = 0; ci < s->c; ci++) {                                                              \
        for (long u = 0; u < s->kh; u++) {                                                            \
            float acc[KW][OB];                                                                        \
            for (long v = 0; v < KW; v++) for (long k = 0; k < OB; k++) acc[v][k] = 0;                \
            for (long i = 0; i < s->oh; i++) {                                                        \
                const float *row = xp + (ci * hp + i + u) * wp;                                       \
                const float *g = dyt + i * s->ow * lanes + ob;                                        \
                for (long j = 0; j < s->ow; j++) {                                                    \
                    const float *gj = g + j * lanes;                                                  \
                    for (long v = 0; v < KW; v++) {                                                   \
                        float xv = row[j + v];                                                        \
                        for (long k = 0; k < OB; k++) acc[v][k] += xv * gj[k];                        \
                    }                                                                                 \
                }                                                                                     \
            }                                                                                         \
            float *d = dwt + ((ci * s->kh + u) * KW) * lanes + ob;                                    \
            for (long v = 0; v < KW; v++) for (long k = 0; k < OB; k++) d[v * lanes + k] += acc[v][k]; \
        }                                                                                             \
    }                                                                                                 \
}
CONV_WEIGHT_ROW_BLOCK(8, 5)
CONV_WEIGHT_ROW_BLOCK(16, 5)

INLINE void conv_weight_body(const SynapseConvShape *s, const float *x, const float *dy, float *dw, float *db,
                             float *scratch) {
    long lanes = synapse_conv_lanes(s->o), area = s->oh * s->ow, patch = s->c * s->kh * s->kw;
    float *xp = scratch;
    float *dyt = xp + s->c * (s->h + 2 * s->ph) * (s->w + 2 * s->pw);
    float *dwt = dyt + area * lanes;
    memset(dwt, 0, sizeof(float) * patch * lanes);
    memset(dyt, 0, sizeof(float) * area * lanes);
    for (long n = 0; n < s->n; n++) {
        pad_image(x + n * s->c * s->h * s->w, s->c, s->h, s->w, s->ph, s->pw, xp);
        const float *dyn = dy + n * s->o * area;
        for (long oi = 0; oi < s->o; oi++) {
            float sum = 0;
            for (long p = 0; p < area; p++) { float g = dyn[oi * area + p]; dyt[p * lanes + oi] = g; sum += g; }
            if (db) db[oi] += sum;
        }
        for (long ob = 0; ob < lanes; ob += s->o > 8 ? 16 : 8) {
            if (s->o > 8) {
                if (s->kw == 5) conv_weight_block16_5(s, xp, dyt, dwt, ob);
                else conv_weight_block16(s, xp, dyt, dwt, ob);
            } else {
                if (s->kw == 5) conv_weight_block8_5(s, xp, dyt, dwt, ob);
                else conv_weight_block8(s, xp, dyt, dwt, ob);
            }
        }
    }
    for (long oi = 0; oi < s->o; oi++)
        for (long t = 0; t < patch; t++) dw[oi * patch + t] += dwt[t * lanes + oi];
}

#define VARIANT(SUFFIX, TARGET)                                                                        \
TARGET static void maxpool2x2_##SUFFIX(const float *x, float *y, int *index, long planes, long h, long w, \
                                       long oh, long ow) {                                            \
    maxpool2x2_body(x, y, index, planes, h, w, oh, ow);                                               \
}                                                                                                     \
TARGET static void relu_forward_##SUFFIX(const float *x, float *y, long n) { relu_forward_body(x, y, n); } \
TARGET static void relu_backward_##SUFFIX(const float *y, const float *dy, float *dx, long n) {       \
    relu_backward_body(y, dy, dx, n);                                                                 \
}                                                                                                     \
TARGET static void tanh_forward_##SUFFIX(const float *x, float *y, long n) { tanh_forward_body(x, y, n); } \
TARGET static void tanh_backward_##SUFFIX(const float *y, const float *dy, float *dx, long n) {       \
    tanh_backward_body(y, dy, dx, n);                                                                 \
}                                                                                                     \
TARGET static void embedding_gather_##SUFFIX(const float *table, const int *ids, long count, long d, float *y) { \
    embedding_gather_body(table, ids, count, d, y);                                                   \
}                                                                                                     \
TARGET static void embedding_scatter_add_##SUFFIX(const int *ids, long count, long width, long stride, \
                                                  const float *dy, float *dw, long skip) {            \
    embedding_scatter_add_body(ids, count, width, stride, dy, dw, skip);                              \
}                                                                                                     \
TARGET static void transpose_first_two_##SUFFIX(const float *x, float *y, long a, long b, long c, long j0, \
                                                long j1) {                                            \
    transpose_first_two_body(x, y, a, b, c, j0, j1);                                                  \
}                                                                                                     \
TARGET static void adam_##SUFFIX(float *w, const float *g, float *m, float *v, long n, float b1, float b2, \
                                 float eps, float wd, float step, float irc2) {                       \
    adam_body(w, g, m, v, n, b1, b2, eps, wd, step, irc2);                                            \
}                                                                                                     \
TARGET static void conv_forward_##SUFFIX(const SynapseConvShape *s, const float *x, const float *wt,  \
                                         const float *bias, float *y, float *scratch) {               \
    conv_forward_body(s, x, wt, bias, y, scratch);                                                    \
}                                                                                                     \
TARGET static void conv_weight_##SUFFIX(const SynapseConvShape *s, const float *x, const float *dy,   \
                                        float *dw, float *db, float *scratch) {                       \
    conv_weight_body(s, x, dy, dw, db, scratch);                                                      \
}                                                                                                     \
static const SynapseKernels kernels_##SUFFIX = {                                                      \
    #SUFFIX, relu_forward_##SUFFIX, relu_backward_##SUFFIX, adam_##SUFFIX, conv_forward_##SUFFIX,     \
    conv_weight_##SUFFIX, maxpool2x2_##SUFFIX, tanh_forward_##SUFFIX, tanh_backward_##SUFFIX,         \
    embedding_gather_##SUFFIX, embedding_scatter_add_##SUFFIX, transpose_first_two_##SUFFIX,          \
};

VARIANT(generic, )
#if defined(__x86_64__)
VARIANT(avx2, __attribute__((target("avx2,fma"))))
VARIANT(avx512, __attribute__((target("avx512f,avx512vl,avx2,fma"))))
#endif

static const SynapseKernels *variant(int i) {
    switch (i) {
    case 0: return &kernels_generic;
#if defined(__x86_64__)
    case 1:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? &kernels_avx2 : 0;
    case 2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") ? &kernels_avx512 : 0;
#endif
    default: return 0;
    }
}

static const SynapseKernels *active;

__attribute__((constructor)) static void choose(void) {
    for (int i = synapse_kernels_variant_count() - 1; i >= 0; i--) {
        if (variant(i)) { active = variant(i); return; }
    }
}

const SynapseKernels *synapse_kernels(void) { return active ? active : &kernels_generic; }
const SynapseKernels *synapse_kernels_variant(int i) { return variant(i); }
int synapse_kernels_variant_count(void) { return 3; }

int synapse_kernels_use(int i) {
    const SynapseKernels *k = variant(i);
    if (!k) return 0;
    active = k;
    return 1;
}

void synapse_conv_transpose(const float *w, long o, long c, long kh, long kw, float *wt) {
    long lanes = synapse_conv_lanes(o), patch = c * kh * kw;
    memset(wt, 0, sizeof(float) * patch * lanes);
    for (long oi = 0; oi < o; oi++)
        for (long t = 0; t < patch; t++) wt[t * lanes + oi] = w[oi * patch + t];
}

void synapse_conv_flip(const float *w, long o, long c, long kh, long kw, float *wf) {
    long lanes = synapse_conv_lanes(c);
    memset(wf, 0, sizeof(float) * o * kh * kw * lanes);
    for (long oi = 0; oi < o; oi++)
        for (long ci = 0; ci < c; ci++)
            for (long u = 0; u < kh; u++)
                for (long v = 0; v < kw; v++)
                    wf[((oi * kh + u) * kw + v) * lanes + ci] =
                        w[((oi * c + ci) * kh + (kh - 1 - u)) * kw + (kw - 1 - v)];
}

SynapseConvShape synapse_conv_input_gradient_shape(const SynapseConvShape *s) {
    SynapseConvShape t = {s->n, s->o, s->oh, s->ow, s->c, s->kh, s->kw, s->kh - 1 - s->ph, s->kw - 1 - s->pw,
                          s->h, s->w};
    return t;
}

long synapse_conv_forward_scratch(const SynapseConvShape *s) {
    return s->c * (s->h + 2 * s->ph) * (s->w + 2 * s->pw);
}

long synapse_conv_weight_scratch(const SynapseConvShape *s) {
    long lanes = synapse_conv_lanes(s->o);
    return synapse_conv_forward_scratch(s) + s->oh * s->ow * lanes + s->c * s->kh * s->kw * lanes;
}
