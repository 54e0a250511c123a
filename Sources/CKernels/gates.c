// The gated cells' elementwise step: the LSTM's and the GRU's gate activations and state update,
// and their derivatives, over the rows of one time step. The recurrent products around them are
// GEMMs in Swift (LSTMCell, GRUCell).
//
// The arithmetic is that of the Swift loops these replaced, op for op and without fused
// multiply-adds: every variant gives the same bits, and the same bits as before.
#include "kernels.h"

// Swift's `rationalTanh` (Activation.swift), as tanh_forward_body in elementwise.c: clamp to
// [-9, 9] (NaN stays NaN), then the ratio of the odd and even polynomials.
INLINE float rational_tanh(float v) {
#pragma clang fp contract(off)
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
    return p / q;
}

// The logistic function as 0.5 tanh(x / 2) + 0.5 (Swift's `gateSigmoid`).
INLINE float gate_sigmoid(float x) {
#pragma clang fp contract(off)
    return 0.5f * rational_tanh(0.5f * x) + 0.5f;
}

// z (n, 4h): the pre-activations of i, f, g, o (recurrent term added), replaced by the gates;
// previous and state (n, 2h), rows [h | c].
INLINE void lstm_forward_body(float *restrict z, const float *restrict previous, float *restrict state, long n,
                              long h) {
#pragma clang fp contract(off)
    for (long r = 0; r < n; r++) {
        float *zi = z + r * 4 * h, *zf = zi + h, *zg = zf + h, *zo = zg + h;
        const float *cp = previous + r * 2 * h + h;
        float *hs = state + r * 2 * h, *cs = hs + h;
        // The gate blocks of a row are disjoint: no run-time overlap checks (which sent the loop
        // down its scalar path).
#pragma clang loop vectorize(assume_safety)
        for (long j = 0; j < h; j++) {
            float i = gate_sigmoid(zi[j]), f = gate_sigmoid(zf[j]), g = rational_tanh(zg[j]), o = gate_sigmoid(zo[j]);
            float c = f * cp[j] + i * g;
            zi[j] = i;
            zf[j] = f;
            zg[j] = g;
            zo[j] = o;
            cs[j] = c;
            hs[j] = o * rational_tanh(c);
        }
    }
}

// gradient, state, previous, previous_gradient (n, 2h); z the gates and d their pre-activations'
// gradient (n, 4h). Writes d and the c half of previous_gradient (dc f).
INLINE void lstm_backward_body(const float *restrict gradient, const float *restrict state,
                               const float *restrict previous, const float *restrict z, float *restrict d,
                               float *restrict previous_gradient, long n, long h) {
#pragma clang fp contract(off)
    for (long r = 0; r < n; r++) {
        const float *zi = z + r * 4 * h, *zf = zi + h, *zg = zf + h, *zo = zg + h;
        float *di = d + r * 4 * h, *df = di + h, *dg = df + h, *dout = dg + h;
        const float *gh = gradient + r * 2 * h, *gc = gh + h;
        const float *c = state + r * 2 * h + h, *cp = previous + r * 2 * h + h;
        float *dcp = previous_gradient + r * 2 * h + h;
        // The gate blocks of a row are disjoint: no run-time overlap checks (which sent the loop
        // down its scalar path).
#pragma clang loop vectorize(assume_safety)
        for (long j = 0; j < h; j++) {
            float i = zi[j], f = zf[j], g = zg[j], o = zo[j];
            float dh = gh[j], tc = rational_tanh(c[j]);
            float dc = gc[j] + dh * o * (1 - tc * tc);
            di[j] = dc * g * i * (1 - i);
            df[j] = dc * cp[j] * f * (1 - f);
            dg[j] = dc * i * (1 - g * g);
            dout[j] = dh * tc * o * (1 - o);
            dcp[j] = dc * f;
        }
    }
}

// z (n, 6h): [x-projections of r, u, n | h-projections of r, u, n], the first three replaced by
// the gates r, u and the candidate; previous and state (n, h).
INLINE void gru_forward_body(float *restrict z, const float *restrict previous, float *restrict state, long n,
                             long h) {
#pragma clang fp contract(off)
    for (long row = 0; row < n; row++) {
        float *zr = z + row * 6 * h, *zu = zr + h, *zn = zu + h;
        const float *hr = zn + h, *hu = hr + h, *hn = hu + h;
        const float *hp = previous + row * h;
        float *hs = state + row * h;
        // The gate blocks of a row are disjoint: no run-time overlap checks (which sent the loop
        // down its scalar path).
#pragma clang loop vectorize(assume_safety)
        for (long j = 0; j < h; j++) {
            float r = gate_sigmoid(zr[j] + hr[j]);
            float u = gate_sigmoid(zu[j] + hu[j]);
            float candidate = rational_tanh(zn[j] + r * hn[j]);
            zr[j] = r;
            zu[j] = u;
            zn[j] = candidate;
            hs[j] = (1 - u) * candidate + u * hp[j];
        }
    }
}

// gradient, previous, previous_gradient (n, h); z the forward's row (n, 6h); d (n, 6h) the
// gradient [dr, du, dn | dr, du, r dn]; previous_gradient = u dh.
INLINE void gru_backward_body(const float *restrict gradient, const float *restrict previous,
                              const float *restrict z, float *restrict d, float *restrict previous_gradient, long n,
                              long h) {
#pragma clang fp contract(off)
    for (long row = 0; row < n; row++) {
        const float *zr = z + row * 6 * h, *zu = zr + h, *zn = zu + h, *hn = zn + 3 * h;
        float *dr = d + row * 6 * h, *du = dr + h, *dn = du + h, *dhr = dn + h, *dhu = dhr + h, *dhn = dhu + h;
        const float *g = gradient + row * h, *hp = previous + row * h;
        float *dp = previous_gradient + row * h;
        // The gate blocks of a row are disjoint: no run-time overlap checks (which sent the loop
        // down its scalar path).
#pragma clang loop vectorize(assume_safety)
        for (long j = 0; j < h; j++) {
            float r = zr[j], u = zu[j], candidate = zn[j], recurrent_n = hn[j];
            float dh = g[j];
            float dcandidate = dh * (1 - u) * (1 - candidate * candidate);
            float dupdate = dh * (hp[j] - candidate) * u * (1 - u);
            float dreset = dcandidate * recurrent_n * r * (1 - r);
            dr[j] = dreset;
            du[j] = dupdate;
            dn[j] = dcandidate;
            dhr[j] = dreset;
            dhu[j] = dupdate;
            dhn[j] = dcandidate * r;
            dp[j] = dh * u;
        }
    }
}

// db[j] += dz[r][j] for r in order (each column summed as the Swift loop did), rows ldz apart.
INLINE void column_sums_body(const float *restrict dz, long rows, long width, long ldz, float *restrict db) {
#pragma clang fp contract(off)
    for (long r = 0; r < rows; r++) {
        const float *row = dz + r * ldz;
        for (long j = 0; j < width; j++) db[j] += row[j];
    }
}

#define GATES_VARIANT(S)                                                                              \
TARGET_##S void synapse_ck_lstm_forward_##S(float *z, const float *previous, float *state, long n, long h) { \
    lstm_forward_body(z, previous, state, n, h);                                                      \
}                                                                                                     \
TARGET_##S void synapse_ck_lstm_backward_##S(const float *gradient, const float *state, const float *previous, \
                                             const float *z, float *d, float *previous_gradient, long n, long h) { \
    lstm_backward_body(gradient, state, previous, z, d, previous_gradient, n, h);                    \
}                                                                                                     \
TARGET_##S void synapse_ck_gru_forward_##S(float *z, const float *previous, float *state, long n, long h) { \
    gru_forward_body(z, previous, state, n, h);                                                       \
}                                                                                                     \
TARGET_##S void synapse_ck_gru_backward_##S(const float *gradient, const float *previous, const float *z, \
                                            float *d, float *previous_gradient, long n, long h) {    \
    gru_backward_body(gradient, previous, z, d, previous_gradient, n, h);                            \
}                                                                                                     \
TARGET_##S void synapse_ck_column_sums_##S(const float *dz, long rows, long width, long ldz, float *db) { \
    column_sums_body(dz, rows, width, ldz, db);                                                       \
}

GATES_VARIANT(generic)
#if defined(__x86_64__)
GATES_VARIANT(avx2)
GATES_VARIANT(avx512)
#endif
