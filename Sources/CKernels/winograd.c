// Winograd F(2x2, 3x3): the transforms around the 16 matrix products of a 3x3, stride-1
// convolution (Conv2D's fast path for 8-256 channels), and the filter transforms, which are
// small and not dispatched.
//
// Forward, for each tile of 2 x 2 outputs (its 4 x 4 input patch d, from row 2 ty - ph and
// column 2 tx - pw, zero outside the image):
//     V = B^T d B   (input transform, per input channel)
//     U = G g G^T   (filter transform, per output and input channel)
//     M[xi] = U[xi] V[xi]   (for each of the 16 positions xi: an O x C by C x tiles product)
//     y = A^T M A   (output transform, per output channel)
// Backward is the adjoint of each step: dM = A dy A^T, dU[xi] += dM[xi] V[xi]^T,
// dg += G^T dU G, dV[xi] = U[xi]^T dM[xi], dx += B dV B^T (tiles overlap, so added).
//
// Layouts: V (and dV) as 16 x C rows of `ld` floats, row xi C + ci, one column per tile;
// M (and dM) as 16 x O rows; U as 16 x O x C. Tiles are numbered image by image, tile row by tile
// row (th = ceil(oh / 2) rows of tw = ceil(ow / 2) tiles); a kernel call covers the tile rows
// r0 ..< r1 of the whole batch and writes columns 0 ..< (r1 - r0) tw. Rows of tiles go in blocks
// of WB: the block's input rows are split into even and odd columns first, so each of the 16
// positions is one contiguous vector loop the compiler vectorises for the variant's width.
//
// The transforms only add and subtract (no multiplications to fuse), so every variant computes
// the same bits. Every output of the input gradient receives its sums in tile-row order,
// whatever the chunking, so the bits do not depend on how a caller splits the rows.
#include "kernels.h"

enum { WB = 64 };

static long tile_rows(const SynapseWinogradShape *s) { return (s->oh + 1) / 2; }
static long tile_columns(const SynapseWinogradShape *s) { return (s->ow + 1) / 2; }

/// e[j] = row[q0 + 2 j], o[j] = row[q0 + 2 j + 1] for j in 0 ... n, zero outside 0 ..< w.
INLINE void split_row(const float *restrict row, long w, long q0, long n, float *restrict e, float *restrict o) {
    if (q0 >= 0 && q0 + 2 * n + 1 < w) {
        for (long j = 0; j <= n; j++) {
            e[j] = row[q0 + 2 * j];
            o[j] = row[q0 + 2 * j + 1];
        }
    } else {
        for (long j = 0; j <= n; j++) {
            long q = q0 + 2 * j;
            e[j] = q >= 0 && q < w ? row[q] : 0;
            o[j] = q + 1 >= 0 && q + 1 < w ? row[q + 1] : 0;
        }
    }
}

INLINE void winograd_input_body(const SynapseWinogradShape *s, const float *restrict x, long r0, long r1,
                                float *restrict v, long ld) {
#pragma clang fp contract(off)
    long th = tile_rows(s), tw = tile_columns(s), plane = s->h * s->w, c = s->c;
    long position = c * ld;
    for (long row = r0; row < r1; row++) {
        long image = row / th, ty = row % th, column0 = (row - r0) * tw;
        for (long ci = 0; ci < c; ci++) {
            const float *xp = x + (image * c + ci) * plane;
            float *vp = v + ci * ld + column0;
            for (long b0 = 0; b0 < tw; b0 += WB) {
                long nb = tw - b0 < WB ? tw - b0 : WB;
                float e[4][WB + 1], o[4][WB + 1];
                for (int i = 0; i < 4; i++) {
                    long r = 2 * ty - s->ph + i;
                    if (r < 0 || r >= s->h) {
                        memset(e[i], 0, sizeof(float) * (nb + 1));
                        memset(o[i], 0, sizeof(float) * (nb + 1));
                    } else {
                        split_row(xp + r * s->w, s->w, 2 * b0 - s->pw, nb, e[i], o[i]);
                    }
                }
                float *vb = vp + b0;
                for (long j = 0; j < nb; j++) {
                    float t[4][4];
                    for (int k = 0; k < 4; k++) {
                        // Row k of d: e[k][j], o[k][j], e[k][j + 1], o[k][j + 1]; (d B) row k:
                        float d0 = e[k][j], d1 = o[k][j], d2 = e[k][j + 1], d3 = o[k][j + 1];
                        t[k][0] = d0 - d2;
                        t[k][1] = d1 + d2;
                        t[k][2] = d2 - d1;
                        t[k][3] = d1 - d3;
                    }
                    for (int k = 0; k < 4; k++) {
                        // B^T (d B), column k.
                        vb[(0 * 4 + k) * position + j] = t[0][k] - t[2][k];
                        vb[(1 * 4 + k) * position + j] = t[1][k] + t[2][k];
                        vb[(2 * 4 + k) * position + j] = t[2][k] - t[1][k];
                        vb[(3 * 4 + k) * position + j] = t[1][k] - t[3][k];
                    }
                }
            }
        }
    }
}

INLINE void winograd_output_body(const SynapseWinogradShape *s, const float *restrict m, long ld, long r0, long r1,
                                 const float *restrict bias, float *restrict y) {
#pragma clang fp contract(off)
    long th = tile_rows(s), tw = tile_columns(s), o = s->o, oh = s->oh, ow = s->ow;
    long position = o * ld;
    for (long row = r0; row < r1; row++) {
        long image = row / th, ty = row % th, column0 = (row - r0) * tw;
        for (long k = 0; k < o; k++) {
            const float *mp = m + k * ld + column0;
            float *yp = y + (image * o + k) * oh * ow + 2 * ty * ow;
            float b = bias ? bias[k] : 0;
            int second = 2 * ty + 1 < oh;
            for (long b0 = 0; b0 < tw; b0 += WB) {
                long nb = tw - b0 < WB ? tw - b0 : WB;
                float top[2 * WB], bottom[2 * WB];
                const float *mb = mp + b0;
                for (long j = 0; j < nb; j++) {
                    float u0[4], u1[4];
                    for (int q = 0; q < 4; q++) {
                        // A^T M, column q.
                        float m0 = mb[(0 * 4 + q) * position + j], m1 = mb[(1 * 4 + q) * position + j];
                        float m2 = mb[(2 * 4 + q) * position + j], m3 = mb[(3 * 4 + q) * position + j];
                        u0[q] = m0 + m1 + m2;
                        u1[q] = m1 - m2 - m3;
                    }
                    top[2 * j] = u0[0] + u0[1] + u0[2] + b;
                    top[2 * j + 1] = u0[1] - u0[2] - u0[3] + b;
                    bottom[2 * j] = u1[0] + u1[1] + u1[2] + b;
                    bottom[2 * j + 1] = u1[1] - u1[2] - u1[3] + b;
                }
                long q0 = 2 * b0, q1 = 2 * (b0 + nb) < ow ? 2 * (b0 + nb) : ow;
                for (long q = q0; q < q1; q++) yp[q] = top[q - q0];
                if (second)
                    for (long q = q0; q < q1; q++) yp[ow + q] = bottom[q - q0];
            }
        }
    }
}

INLINE void winograd_output_gradient_body(const SynapseWinogradShape *s, const float *restrict dy, long r0, long r1,
                                          float *restrict dm, long ld) {
#pragma clang fp contract(off)
    long th = tile_rows(s), tw = tile_columns(s), o = s->o, oh = s->oh, ow = s->ow;
    long position = o * ld;
    for (long row = r0; row < r1; row++) {
        long image = row / th, ty = row % th, column0 = (row - r0) * tw;
        for (long k = 0; k < o; k++) {
            const float *dyp = dy + (image * o + k) * oh * ow;
            float *dmp = dm + k * ld + column0;
            for (long b0 = 0; b0 < tw; b0 += WB) {
                long nb = tw - b0 < WB ? tw - b0 : WB;
                // The tile's 2 x 2 gradient, zero beyond the output (odd sizes): rows 0 and 1,
                // even and odd columns.
                float e[2][WB + 1], od[2][WB + 1];
                for (int i = 0; i < 2; i++) {
                    long r = 2 * ty + i;
                    if (r >= oh) {
                        memset(e[i], 0, sizeof(float) * (nb + 1));
                        memset(od[i], 0, sizeof(float) * (nb + 1));
                    } else {
                        split_row(dyp + r * ow, ow, 2 * b0, nb, e[i], od[i]);
                    }
                }
                float *db = dmp + b0;
                for (long j = 0; j < nb; j++) {
                    // A dY: rows (a, b), (a + c, b + d), (a - c, b - d), (-c, -d) for dY = [a b; c d].
                    float a = e[0][j], b = od[0][j], c = e[1][j], d = od[1][j];
                    float p[4] = {a, a + c, a - c, -c}, q[4] = {b, b + d, b - d, -d};
                    for (int i = 0; i < 4; i++) {
                        // (A dY) A^T, row i: (p, p + q, p - q, -q).
                        db[(i * 4 + 0) * position + j] = p[i];
                        db[(i * 4 + 1) * position + j] = p[i] + q[i];
                        db[(i * 4 + 2) * position + j] = p[i] - q[i];
                        db[(i * 4 + 3) * position + j] = -q[i];
                    }
                }
            }
        }
    }
}

INLINE void winograd_input_gradient_body(const SynapseWinogradShape *s, const float *restrict dv, long ld, long r0,
                                         long r1, float *restrict dx) {
#pragma clang fp contract(off)
    long th = tile_rows(s), tw = tile_columns(s), plane = s->h * s->w, c = s->c, w = s->w;
    long position = c * ld;
    for (long row = r0; row < r1; row++) {
        long image = row / th, ty = row % th, column0 = (row - r0) * tw;
        for (long ci = 0; ci < c; ci++) {
            const float *dvp = dv + ci * ld + column0;
            float *dxp = dx + (image * c + ci) * plane;
            // Each tile's 4 x 4 gradient B dV B^T, columns 0 and 1 (`near`) and 2 and 3 (`far`, which
            // land on the next tile's columns 0 and 1), split by even and odd column.
            float carry[4][2] = {{0}};
            for (long b0 = 0; b0 < tw; b0 += WB) {
                long nb = tw - b0 < WB ? tw - b0 : WB;
                float near_e[4][WB], near_o[4][WB], far_e[4][WB + 1], far_o[4][WB + 1];
                const float *vb = dvp + b0;
                for (long j = 0; j < nb; j++) {
                    float t[4][4];
                    for (int q = 0; q < 4; q++) {
                        // B dV, column q: rows v0, v1 - v2 + v3, v1 + v2 - v0, -v3.
                        float v0 = vb[(0 * 4 + q) * position + j], v1 = vb[(1 * 4 + q) * position + j];
                        float v2 = vb[(2 * 4 + q) * position + j], v3 = vb[(3 * 4 + q) * position + j];
                        t[0][q] = v0;
                        t[1][q] = v1 - v2 + v3;
                        t[2][q] = v1 + v2 - v0;
                        t[3][q] = -v3;
                    }
                    for (int i = 0; i < 4; i++) {
                        // (B dV) B^T, row i.
                        near_e[i][j] = t[i][0];
                        near_o[i][j] = t[i][1] - t[i][2] + t[i][3];
                        far_e[i][j + 1] = t[i][1] + t[i][2] - t[i][0];
                        far_o[i][j + 1] = -t[i][3];
                    }
                }
                for (int i = 0; i < 4; i++) {
                    far_e[i][0] = carry[i][0];
                    far_o[i][0] = carry[i][1];
                    carry[i][0] = far_e[i][nb];
                    carry[i][1] = far_o[i][nb];
                }
                // The block's columns from q0: near + far of each tile (the far part of the
                // block's last tile waits in `carry` for the next block, or ends the row).
                long last = b0 + nb == tw, n = nb + last, q0 = 2 * b0 - s->pw;
                long c0 = q0 < 0 ? -q0 : 0, c1 = w - q0 < 2 * n ? w - q0 : 2 * n;
                for (int i = 0; i < 4; i++) {
                    long r = 2 * ty - s->ph + i;
                    if (r < 0 || r >= s->h) continue;
                    float line[2 * WB + 2];
                    for (long j = 0; j < nb; j++) {
                        line[2 * j] = near_e[i][j] + far_e[i][j];
                        line[2 * j + 1] = near_o[i][j] + far_o[i][j];
                    }
                    line[2 * nb] = far_e[i][nb];
                    line[2 * nb + 1] = far_o[i][nb];
                    float *xr = dxp + r * w + q0;
                    for (long q = c0; q < c1; q++) xr[q] += line[q];
                }
            }
        }
    }
}

#define WINOGRAD_VARIANT(S)                                                                                     \
TARGET_##S void synapse_ck_winograd_input_##S(const SynapseWinogradShape *s, const float *x, long r0, long r1,  \
                                              float *v, long ld) {                                              \
    winograd_input_body(s, x, r0, r1, v, ld);                                                                    \
}                                                                                                               \
TARGET_##S void synapse_ck_winograd_output_##S(const SynapseWinogradShape *s, const float *m, long ld, long r0,  \
                                               long r1, const float *bias, float *y) {                          \
    winograd_output_body(s, m, ld, r0, r1, bias, y);                                                             \
}                                                                                                               \
TARGET_##S void synapse_ck_winograd_output_gradient_##S(const SynapseWinogradShape *s, const float *dy, long r0, \
                                                        long r1, float *dm, long ld) {                          \
    winograd_output_gradient_body(s, dy, r0, r1, dm, ld);                                                        \
}                                                                                                               \
TARGET_##S void synapse_ck_winograd_input_gradient_##S(const SynapseWinogradShape *s, const float *dv, long ld,  \
                                                       long r0, long r1, float *dx) {                           \
    winograd_input_gradient_body(s, dv, ld, r0, r1, dx);                                                         \
}

WINOGRAD_VARIANT(generic)
#if defined(__x86_64__)
WINOGRAD_VARIANT(avx2)
WINOGRAD_VARIANT(avx512)
#endif

void synapse_winograd_filter(const float *w, long o, long c, float *u) {
#pragma clang fp contract(off)
    long position = o * c;
    for (long k = 0; k < o; k++)
        for (long ci = 0; ci < c; ci++) {
            const float *g = w + (k * c + ci) * 9;
            // G g: rows g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2 (g_i the rows of g).
            float t[4][3];
            for (int q = 0; q < 3; q++) {
                float g0 = g[q], g1 = g[3 + q], g2 = g[6 + q];
                t[0][q] = g0;
                t[1][q] = 0.5f * (g0 + g1 + g2);
                t[2][q] = 0.5f * (g0 - g1 + g2);
                t[3][q] = g2;
            }
            float *up = u + k * c + ci;
            for (int i = 0; i < 4; i++) {
                // (G g) G^T, row i.
                up[(i * 4 + 0) * position] = t[i][0];
                up[(i * 4 + 1) * position] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
                up[(i * 4 + 2) * position] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
                up[(i * 4 + 3) * position] = t[i][2];
            }
        }
}

void synapse_winograd_filter_gradient(const float *du, long o, long c, float *dw) {
#pragma clang fp contract(off)
    long position = o * c;
    for (long k = 0; k < o; k++)
        for (long ci = 0; ci < c; ci++) {
            const float *up = du + k * c + ci;
            // G^T dU: rows d0 + (d1 + d2) / 2, (d1 - d2) / 2, (d1 + d2) / 2 + d3 (d_i the rows of dU).
            float t[3][4];
            for (int q = 0; q < 4; q++) {
                float d0 = up[(0 * 4 + q) * position], d1 = up[(1 * 4 + q) * position];
                float d2 = up[(2 * 4 + q) * position], d3 = up[(3 * 4 + q) * position];
                t[0][q] = d0 + 0.5f * (d1 + d2);
                t[1][q] = 0.5f * (d1 - d2);
                t[2][q] = 0.5f * (d1 + d2) + d3;
            }
            float *g = dw + (k * c + ci) * 9;
            for (int i = 0; i < 3; i++) {
                // (G^T dU) G, row i.
                g[i * 3 + 0] += t[i][0] + 0.5f * (t[i][1] + t[i][2]);
                g[i * 3 + 1] += 0.5f * (t[i][1] - t[i][2]);
                g[i * 3 + 2] += 0.5f * (t[i][1] + t[i][2]) + t[i][3];
            }
        }
}
