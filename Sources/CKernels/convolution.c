// The direct convolution of small layers (forward and weight gradient; the input gradient is the
// forward kernel on the flipped weight), and the helpers Conv calls around it: lanes, weight
// layouts, scratch sizes.
#include "kernels.h"

long synapse_conv_lanes(long o) {
    long block = o > 8 ? 16 : 8;
    return (o + block - 1) / block * block;
}

// The direct kernels read each image from a padded copy: every channel a plane of h + 2 ph rows
// of stride S = w + pw, each row's data preceded by pw zeros. A row's right padding is then the
// next row's left padding (zeros both), and a plane ends with the pw zeros of the last row's right
// padding, so padded column w + 2 pw - 1 of row r is row r + 1's column pw - 1.
//
// The kernels work on that layout's grid: output pixel (i, j) sits at q = i S + j, and tap
// (ci, u, v) of every output pixel reads the copy at ci plane + u S + v + q, one contiguous run
// for a whole vector of pixels. The columns ow <= j < S of the grid (kw - 1 - pw of them: LeNet-5
// 2 of 30 for conv1, none for conv2's input gradient) are computed and thrown away. Within a vector
// of pixels each tap's weight is one broadcast: K output channels times P vectors of 16 pixels
// are K P independent accumulators, enough to hide the multiply-add latency.
typedef float vfloat __attribute__((ext_vector_type(16)));
typedef float vfloat_unaligned __attribute__((ext_vector_type(16), aligned(4)));
enum { VL = 16, MAX_P = 2, MAX_K = 8, MAX_G = 8, MAX_WK = 4, MAX_KW = 5 };

static long padded_stride(const SynapseConvShape *s) { return s->w + s->pw; }
static long padded_plane(const SynapseConvShape *s) { return (s->h + 2 * s->ph) * padded_stride(s) + s->pw; }

/// Output grid positions computed per image: oh S rounded up to MAX_P vectors.
static long grid_span(const SynapseConvShape *s) {
    long span = s->oh * padded_stride(s);
    return (span + VL * MAX_P - 1) / (VL * MAX_P) * (VL * MAX_P);
}

/// Zeros after the last plane, read by the grid's last vectors (for columns thrown away).
static long grid_slack(const SynapseConvShape *s) { return s->kw + VL * MAX_P; }

/// Zeros the padded copy and its slack: the padding is never written after this.
INLINE void clear_padded(const SynapseConvShape *s, float *xp) {
    memset(xp, 0, sizeof(float) * (s->c * padded_plane(s) + grid_slack(s)));
}

/// Writes image (c, h, w) into the data positions of its padded copy.
INLINE void copy_padded(const SynapseConvShape *s, const float *restrict x, float *restrict xp) {
    long stride = padded_stride(s), plane = padded_plane(s);
    for (long ci = 0; ci < s->c; ci++)
        for (long i = 0; i < s->h; i++)
            // A loop rather than memcpy: the rows are short (5-28 floats) and a call each costs more.
            for (long j = 0; j < s->w; j++) xp[ci * plane + (i + s->ph) * stride + s->pw + j] = x[(ci * s->h + i) * s->w + j];
}

/// The sum of a vector's lanes, pairwise.
INLINE float horizontal_sum(vfloat x) {
    __attribute__((ext_vector_type(8))) float h = x.lo + x.hi;
    __attribute__((ext_vector_type(4))) float q = h.lo + h.hi;
    return (q[0] + q[2]) + (q[1] + q[3]);
}

// P vectors of grid pixels from q0 for K output channels from ob into the grid rows `gy` (K rows
// of grid_span floats). K and P are constants wherever this is inlined.
INLINE void conv_grid_run(const SynapseConvShape *s, const float *restrict xp, const float *restrict wt,
                          const float *restrict bias, float *restrict gy, long ob, long K, long P, long q0) {
    long lanes = synapse_conv_lanes(s->o), stride = padded_stride(s), plane = padded_plane(s);
    long span = grid_span(s);
    // Kernel rows u whose input rows hold data for some output row of this run of pixels: the
    // others read only padding and add nothing.
    long r0 = q0 / stride, r1 = (q0 + VL * P - 1) / stride;
    if (r1 > s->oh - 1) r1 = s->oh - 1;
    long u0 = s->ph > r1 ? s->ph - r1 : 0;
    long u1 = s->ph + s->h - r0 < s->kh ? s->ph + s->h - r0 : s->kh;
    vfloat acc[MAX_K][MAX_P];
    for (long k = 0; k < K; k++)
        for (long p = 0; p < P; p++) acc[k][p] = (vfloat)(bias ? bias[ob + k] : 0);
    for (long ci = 0; ci < s->c; ci++) {
        for (long u = u0; u < u1; u++) {
            const float *xr = xp + ci * plane + u * stride + q0;
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

// The whole grid of one image for K output channels from ob: runs of P vectors, the last vector
// alone when one is left over.
INLINE void conv_grid_block(const SynapseConvShape *s, const float *xp, const float *wt, const float *bias,
                            float *gy, long ob, long K, long P) {
    long rows = s->oh * padded_stride(s), q0 = 0;
    for (; q0 + VL * (P - 1) < rows; q0 += VL * P) conv_grid_run(s, xp, wt, bias, gy, ob, K, P, q0);
    if (q0 < rows) conv_grid_run(s, xp, wt, bias, gy, ob, K, 1, q0);
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
    long stride = padded_stride(s), plane = padded_plane(s), area = s->oh * s->ow;
    const float *base[MAX_G];
    vfloat acc[MAX_G];
    for (long p = 0; p < G; p++) {
        base[p] = xp + (q + p) / s->ow * stride + (q + p) % s->ow;
        acc[p] = b;
    }
    const float *wr = wt;
    for (long ci = 0; ci < s->c; ci++)
        for (long u = 0; u < s->kh; u++) {
            long row = ci * plane + u * stride;
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
    long stride = padded_stride(s), area = s->oh * s->ow, span = grid_span(s);
    float *xp = scratch, *gy = scratch + s->c * padded_plane(s) + grid_slack(s);
    clear_padded(s, xp);
    vfloat b = 0;
    for (long k = 0; k < s->o && k < VL; k++) b[k] = bias ? bias[k] : 0;
    for (long n = 0; n < s->n; n++) {
        copy_padded(s, x + n * s->c * s->h * s->w, xp);
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
                for (long j = 0; j < s->ow; j++) yn[k * area + i * s->ow + j] = gy[k * span + i * stride + j];
    }
}

// Parameter gradients over one image: dwt[tap][ob...] += sum over pixels of x * dyt[pixel][ob...],
// with dy transposed to pixel-major (dyt, lanes floats per pixel).
#define CONV_WEIGHT_BLOCK(OB)                                                                          \
INLINE void conv_weight_block##OB(const SynapseConvShape *s, const float *restrict xp,              \
                                  const float *restrict dyt, float *restrict dwt, long ob) {        \
    long lanes = synapse_conv_lanes(s->o), stride = padded_stride(s), plane = padded_plane(s);        \
    for (long ci = 0; ci < s->c; ci++) {                                                              \
        for (long u = 0; u < s->kh; u++) {                                                            \
            for (long v = 0; v < s->kw; v++) {                                                        \
                float acc[OB];                                                                        \
                for (long k = 0; k < OB; k++) acc[k] = 0;                                             \
                for (long i = 0; i < s->oh; i++) {                                                    \
                    const float *row = xp + ci * plane + (i + u) * stride + v;                        \
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
CONV_WEIGHT_BLOCK(16)

// The same for KW-wide kernels with KW fixed: one row of taps (ci, u, 0..KW) at a time, so each
// gradient vector loaded serves KW taps.
#define CONV_WEIGHT_ROW_BLOCK(OB, KW)                                                                  \
INLINE void conv_weight_block##OB##_##KW(const SynapseConvShape *s, const float *restrict xp,       \
                                         const float *restrict dyt, float *restrict dwt, long ob) { \
    long lanes = synapse_conv_lanes(s->o), stride = padded_stride(s), plane = padded_plane(s);        \
    for (long ci = 0; ci < s->c; ci++) {                                                              \
        for (long u = 0; u < s->kh; u++) {                                                            \
            float acc[KW][OB];                                                                        \
            for (long v = 0; v < KW; v++) for (long k = 0; k < OB; k++) acc[v][k] = 0;                \
            for (long i = 0; i < s->oh; i++) {                                                        \
                const float *row = xp + ci * plane + (i + u) * stride;                                \
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
CONV_WEIGHT_ROW_BLOCK(16, 5)

// The weight gradient of layers with up to 8 outputs, on the forward kernel's grid: with dy laid
// out on the grid (zero in the columns j >= ow), dw[k][ci][u][v] is the dot product of dy's row
// k with the padded input shifted by ci plane + u S + v. Taps (ci, u, v0 ... v0 + KW - 1) and K
// channels from k0 at a time: each vector of dy loaded serves KW taps, each of x serves K
// channels. The partial sums stay vectors in `vacc` (tap-major, then channel) across the batch.
INLINE void conv_weight_grid_taps(const SynapseConvShape *s, const float *restrict xp, const float *restrict gdy,
                                  vfloat *restrict vacc, long ci, long u, long v0, long k0, long K, long KW) {
    long stride = padded_stride(s), plane = padded_plane(s), span = grid_span(s), rows = s->oh * stride;
    long tap = (ci * s->kh + u) * s->kw + v0;
    vfloat acc[MAX_WK][MAX_KW];
    for (long k = 0; k < K; k++)
        for (long v = 0; v < KW; v++) acc[k][v] = vacc[(tap + v) * s->o + k0 + k];
    const float *xr = xp + ci * plane + u * stride + v0;
    for (long q0 = 0; q0 < rows; q0 += VL) {
        vfloat d[MAX_WK];
        for (long k = 0; k < K; k++) d[k] = *(const vfloat_unaligned *)(gdy + (k0 + k) * span + q0);
        for (long v = 0; v < KW; v++) {
            vfloat xv = *(const vfloat_unaligned *)(xr + q0 + v);
            for (long k = 0; k < K; k++) acc[k][v] += d[k] * xv;
        }
    }
    for (long k = 0; k < K; k++)
        for (long v = 0; v < KW; v++) vacc[(tap + v) * s->o + k0 + k] = acc[k][v];
}

// WK channels at a time (a constant per variant: its registers hold WK x 5 accumulators).
INLINE void conv_weight_grid_image(const SynapseConvShape *s, const float *xp, const float *gdy, vfloat *vacc,
                                   long WK) {
    for (long ci = 0; ci < s->c; ci++)
        for (long u = 0; u < s->kh; u++)
            for (long k0 = 0; k0 < s->o; k0 += WK) {
                long k = s->o - k0 < WK ? s->o - k0 : WK;
                // 5-wide kernels (LeNet's) a row of taps at a time; other widths one tap at a time.
                if (s->kw == MAX_KW) {
                    if (k == WK) conv_weight_grid_taps(s, xp, gdy, vacc, ci, u, 0, k0, WK, MAX_KW);
                    else for (long kk = 0; kk < k; kk++) conv_weight_grid_taps(s, xp, gdy, vacc, ci, u, 0, k0 + kk, 1, MAX_KW);
                } else {
                    for (long v = 0; v < s->kw; v++)
                        for (long kk = 0; kk < k; kk++) conv_weight_grid_taps(s, xp, gdy, vacc, ci, u, v, k0 + kk, 1, 1);
                }
            }
}

INLINE void conv_weight_body(const SynapseConvShape *s, const float *x, const float *dy, float *dw, float *db,
                             float *scratch, long WK) {
    long lanes = synapse_conv_lanes(s->o), area = s->oh * s->ow, patch = s->c * s->kh * s->kw;
    long stride = padded_stride(s), plane = padded_plane(s);
    float *xp = scratch;
    clear_padded(s, xp);
    if (s->o <= MAX_K) {
        long span = grid_span(s);
        float *gdy = xp + s->c * plane + grid_slack(s);
        vfloat *vacc = (vfloat *)(((unsigned long)(gdy + s->o * span) + 63) & ~63UL);
        memset(gdy, 0, sizeof(float) * s->o * span);
        memset(vacc, 0, sizeof(vfloat) * patch * s->o);
        for (long n = 0; n < s->n; n++) {
            copy_padded(s, x + n * s->c * s->h * s->w, xp);
            const float *dyn = dy + n * s->o * area;
            for (long k = 0; k < s->o; k++)
                for (long i = 0; i < s->oh; i++)
                    for (long j = 0; j < s->ow; j++) gdy[k * span + i * stride + j] = dyn[k * area + i * s->ow + j];
            // The bias gradient: each grid row summed in vectors (its other columns are zero).
            for (long k = 0; db && k < s->o; k++) {
                vfloat sum = 0;
                for (long q = 0; q < span; q += VL) sum += *(const vfloat_unaligned *)(gdy + k * span + q);
                db[k] += horizontal_sum(sum);
            }
            conv_weight_grid_image(s, xp, gdy, vacc, WK);
        }
        for (long k = 0; k < s->o; k++)
            for (long t = 0; t < patch; t++) dw[k * patch + t] += horizontal_sum(vacc[t * s->o + k]);
        return;
    }
    float *dyt = xp + s->c * plane + grid_slack(s);
    float *dwt = dyt + area * lanes;
    memset(dwt, 0, sizeof(float) * patch * lanes);
    memset(dyt, 0, sizeof(float) * area * lanes);
    for (long n = 0; n < s->n; n++) {
        copy_padded(s, x + n * s->c * s->h * s->w, xp);
        const float *dyn = dy + n * s->o * area;
        for (long oi = 0; oi < s->o; oi++)
            for (long p = 0; p < area; p++) dyt[p * lanes + oi] = dyn[oi * area + p];
        // The bias gradient: the pixels' channel vectors summed (lanes is 16 here).
        if (db) {
            vfloat sum = 0;
            for (long p = 0; p < area; p++) sum += *(const vfloat_unaligned *)(dyt + p * lanes);
            for (long oi = 0; oi < s->o; oi++) db[oi] += sum[oi];
        }
        for (long ob = 0; ob < lanes; ob += 16) {
            if (s->kw == 5) conv_weight_block16_5(s, xp, dyt, dwt, ob);
            else conv_weight_block16(s, xp, dyt, dwt, ob);
        }
    }
    for (long oi = 0; oi < s->o; oi++)
        for (long t = 0; t < patch; t++) dw[oi * patch + t] += dwt[t * lanes + oi];
}

// P, G and WK follow the variant's register count (see conv_forward_body and conv_weight_grid_image).
#define CONVOLUTION_VARIANT(S, P, G, WK)                                                              \
TARGET_##S void synapse_ck_conv_forward_##S(const SynapseConvShape *s, const float *x, const float *wt, \
                                           const float *bias, float *y, float *scratch) {             \
    conv_forward_body(s, x, wt, bias, y, scratch, P, G);                                              \
}                                                                                                     \
TARGET_##S void synapse_ck_conv_weight_##S(const SynapseConvShape *s, const float *x, const float *dy, \
                                          float *dw, float *db, float *scratch) {                     \
    conv_weight_body(s, x, dy, dw, db, scratch, WK);                                                  \
}

CONVOLUTION_VARIANT(generic, 1, 4, 1)
#if defined(__x86_64__)
CONVOLUTION_VARIANT(avx2, 1, 4, 1)
CONVOLUTION_VARIANT(avx512, 2, 8, 4)
#endif

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
    return s->c * padded_plane(s) + grid_slack(s) + MAX_K * grid_span(s);
}

long synapse_conv_weight_scratch(const SynapseConvShape *s) {
    long image = s->c * padded_plane(s) + grid_slack(s), patch = s->c * s->kh * s->kw;
    if (s->o <= MAX_K) return image + s->o * grid_span(s) + 16 + VL * patch * s->o;
    long lanes = synapse_conv_lanes(s->o);
    return image + s->oh * s->ow * lanes + patch * lanes;
}
