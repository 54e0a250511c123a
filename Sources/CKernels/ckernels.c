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

// The forward kernel works on the padded image's grid: output pixel (i, j) sits at q = i wp + j,
// where wp is the padded width, so tap (ci, u, v) of every output pixel reads the padded input
// at q + (ci hp + u) wp + v, one contiguous run for a whole vector of pixels. The columns
// j >= ow of the grid are computed and thrown away (LeNet-5: 4 of 32, 4 of 14, 4 of 18), and
// within a vector of pixels each tap's weight is one broadcast: K output channels times P
// vectors of 16 pixels are K P independent accumulators, enough to hide the multiply-add latency.
typedef float vfloat __attribute__((ext_vector_type(16)));
typedef float vfloat_unaligned __attribute__((ext_vector_type(16), aligned(4)));
enum { VL = 16, MAX_P = 2, MAX_K = 8, MAX_G = 8 };

/// Output grid positions computed per image: oh wp rounded up to MAX_P vectors.
static long grid_span(const SynapseConvShape *s) {
    long span = s->oh * (s->w + 2 * s->pw);
    return (span + VL * MAX_P - 1) / (VL * MAX_P) * (VL * MAX_P);
}

/// Zeros read past the padded image by the last vectors of the grid (see grid_span).
static long grid_slack(const SynapseConvShape *s) { return s->kw + VL * MAX_P; }

// One block of K output channels from ob over one padded image `xp`, into the grid rows `gy`
// (K rows of grid_span floats). K and P are constants wherever this is inlined.
INLINE void conv_grid_block(const SynapseConvShape *s, const float *restrict xp, const float *restrict wt,
                            const float *restrict bias, float *restrict gy, long ob, long K, long P) {
    long lanes = synapse_conv_lanes(s->o), wp = s->w + 2 * s->pw, plane = (s->h + 2 * s->ph) * wp;
    long span = grid_span(s), rows = s->oh * wp;
    for (long q0 = 0; q0 < rows; q0 += VL * P) {
        // Kernel rows u whose input rows hold data for some output row of this run of pixels:
        // the others read only padding and add nothing.
        long r0 = q0 / wp, r1 = (q0 + VL * P - 1) / wp;
        if (r1 > s->oh - 1) r1 = s->oh - 1;
        long u0 = s->ph > r1 ? s->ph - r1 : 0;
        long u1 = s->ph + s->h - r0 < s->kh ? s->ph + s->h - r0 : s->kh;
        vfloat acc[MAX_K][MAX_P];
        for (long k = 0; k < K; k++)
            for (long p = 0; p < P; p++) acc[k][p] = (vfloat)(bias ? bias[ob + k] : 0);
        for (long ci = 0; ci < s->c; ci++) {
            for (long u = u0; u < u1; u++) {
                const float *xr = xp + ci * plane + u * wp + q0;
                const float *wr = wt + (ci * s->kh + u) * s->kw * lanes + ob;
                for (long v = 0; v < s->kw; v++) {
                    vfloat xv[MAX_P];
                    for (long p = 0; p < P; p++) xv[p] = *(const vfloat_unaligned *)(xr + v + VL * p);
                    for (long k = 0; k < K; k++) {
                        float wk = wr[v * lanes + k];
                        for (long p = 0; p < P; p++) acc[k][p] += xv[p] * wk;
                    }
                }
            }
        }
        for (long k = 0; k < K; k++)
            for (long p = 0; p < P; p++) *(vfloat_unaligned *)(gy + k * span + q0 + VL * p) = acc[k][p];
    }
}

// K fixed at compile time for each block width the layers use.
INLINE void conv_grid_block_any(const SynapseConvShape *s, const float *xp, const float *wt, const float *bias,
                                float *gy, long ob, long k, long P) {
    switch (k) {
    case 1: conv_grid_block(s, xp, wt, bias, gy, ob, 1, P); break;
    case 2: conv_grid_block(s, xp, wt, bias, gy, ob, 2, P); break;
    case 3: conv_grid_block(s, xp, wt, bias, gy, ob, 3, P); break;
    case 4: conv_grid_block(s, xp, wt, bias, gy, ob, 4, P); break;
    case 5: conv_grid_block(s, xp, wt, bias, gy, ob, 5, P); break;
    case 6: conv_grid_block(s, xp, wt, bias, gy, ob, 6, P); break;
    case 7: conv_grid_block(s, xp, wt, bias, gy, ob, 7, P); break;
    default: conv_grid_block(s, xp, wt, bias, gy, ob, 8, P); break;
    }
}

// Layers with 9-16 output channels fill a vector with them instead: G output pixels at a time
// (in row-major order, across rows), each tap one weight vector and G broadcasts of the input.
INLINE void conv_channels_group(const SynapseConvShape *s, const float *restrict xp, const float *restrict wt,
                                vfloat b, float *restrict y, long q, long G) {
    long wp = s->w + 2 * s->pw, hp = s->h + 2 * s->ph, area = s->oh * s->ow;
    const float *base[MAX_G];
    vfloat acc[MAX_G];
    for (long p = 0; p < G; p++) {
        base[p] = xp + (q + p) / s->ow * wp + (q + p) % s->ow;
        acc[p] = b;
    }
    const float *wr = wt;
    for (long ci = 0; ci < s->c; ci++)
        for (long u = 0; u < s->kh; u++) {
            long row = (ci * hp + u) * wp;
            for (long v = 0; v < s->kw; v++, wr += VL) {
                vfloat wv = *(const vfloat_unaligned *)wr;
                for (long p = 0; p < G; p++) acc[p] += base[p][row + v] * wv;
            }
        }
    for (long k = 0; k < s->o; k++)
        for (long p = 0; p < G; p++) y[k * area + q + p] = acc[p][k];
}

// G output pixels per group on the channel path, and P vectors of 16 pixels per run on the grid
// path: as many as the variant has registers for.
INLINE void conv_forward_body(const SynapseConvShape *s, const float *x, const float *wt, const float *bias,
                              float *y, float *scratch, long P, long G) {
    long wp = s->w + 2 * s->pw, plane = (s->h + 2 * s->ph) * wp, area = s->oh * s->ow;
    long span = grid_span(s);
    float *xp = scratch, *gy = scratch + s->c * plane + grid_slack(s);
    memset(xp + s->c * plane, 0, sizeof(float) * grid_slack(s));
    vfloat b = 0;
    for (long k = 0; k < s->o && k < VL; k++) b[k] = bias ? bias[k] : 0;
    for (long n = 0; n < s->n; n++) {
        pad_image(x + n * s->c * s->h * s->w, s->c, s->h, s->w, s->ph, s->pw, xp);
        float *yn = y + n * s->o * area;
        if (s->o > MAX_K) {
            long q = 0;
            for (; q + G <= area; q += G) conv_channels_group(s, xp, wt, b, yn, q, G);
            for (; q + 4 <= area; q += 4) conv_channels_group(s, xp, wt, b, yn, q, 4);
            for (; q < area; q++) conv_channels_group(s, xp, wt, b, yn, q, 1);
            continue;
        }
        conv_grid_block_any(s, xp, wt, bias, gy, 0, s->o, P);
        for (long k = 0; k < s->o; k++)
            for (long i = 0; i < s->oh; i++)
                for (long j = 0; j < s->ow; j++) yn[k * area + i * s->ow + j] = gy[k * span + i * wp + j];
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

#define VARIANT(SUFFIX, TARGET, P, G)                                                                   \
TARGET static void maxpool2x2_##SUFFIX(const float *x, float *y, int *index, long planes, long h, long w, \
                                       long oh, long ow) {                                            \
    maxpool2x2_body(x, y, index, planes, h, w, oh, ow);                                               \
}                                                                                                     \
TARGET static void relu_forward_##SUFFIX(const float *x, float *y, long n) { relu_forward_body(x, y, n); } \
TARGET static void relu_backward_##SUFFIX(const float *y, const float *dy, float *dx, long n) {       \
    relu_backward_body(y, dy, dx, n);                                                                 \
}                                                                                                     \
TARGET static void adam_##SUFFIX(float *w, const float *g, float *m, float *v, long n, float b1, float b2, \
                                 float eps, float wd, float step, float irc2) {                       \
    adam_body(w, g, m, v, n, b1, b2, eps, wd, step, irc2);                                            \
}                                                                                                     \
TARGET static void conv_forward_##SUFFIX(const SynapseConvShape *s, const float *x, const float *wt,  \
                                         const float *bias, float *y, float *scratch) {               \
    conv_forward_body(s, x, wt, bias, y, scratch, P, G);                                              \
}                                                                                                     \
TARGET static void conv_weight_##SUFFIX(const SynapseConvShape *s, const float *x, const float *dy,   \
                                        float *dw, float *db, float *scratch) {                       \
    conv_weight_body(s, x, dy, dw, db, scratch);                                                      \
}                                                                                                     \
static const SynapseKernels kernels_##SUFFIX = {                                                      \
    #SUFFIX, relu_forward_##SUFFIX, relu_backward_##SUFFIX, adam_##SUFFIX, conv_forward_##SUFFIX,     \
    conv_weight_##SUFFIX, maxpool2x2_##SUFFIX,                                                        \
};

VARIANT(generic, , 1, 4)
#if defined(__x86_64__)
VARIANT(avx2, __attribute__((target("avx2,fma"))), 1, 4)
VARIANT(avx512, __attribute__((target("avx512f,avx512vl,avx2,fma"))), 2, 8)
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
    return s->c * (s->h + 2 * s->ph) * (s->w + 2 * s->pw) + grid_slack(s) + MAX_K * grid_span(s);
}

long synapse_conv_weight_scratch(const SynapseConvShape *s) {
    long lanes = synapse_conv_lanes(s->o);
    return s->c * (s->h + 2 * s->ph) * (s->w + 2 * s->pw) + s->oh * s->ow * lanes + s->c * s->kh * s->kw * lanes;
}
