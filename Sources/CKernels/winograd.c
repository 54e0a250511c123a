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
// r0 ..< r1 of the whole batch and writes columns 0 ..< (r1 - r0) tw.
//
// The transforms only add and subtract (no multiplications to fuse), so every variant computes
// the same bits. Every value of the input gradient receives its tiles' sums in tile order,
// whatever the chunking, so the bits do not depend on how a caller splits the rows.
#include "kernels.h"

enum { WB = 64 };

static long tile_rows(const SynapseWinogradShape *s) { return (s->oh + 1) / 2; }
static long tile_columns(const SynapseWinogradShape *s) { return (s->ow + 1) / 2; }

// Tiles go WB at a time through each kernel, counted through the tile rows and the images of
// the range (rows of 4-16 tiles are too short for vectors): a plain loop gathers each tile's
// values into WB-long arrays, one per position, a vector loop transforms them, and a plain loop
// scatters them (or the transformed values are stored straight into V and M, whose columns are
// the tiles in order).

/// The block's tiles: for tile b of the block, its image, tile row and tile column.
typedef struct { long image[WB], ty[WB], tx[WB]; } TileBlock;

/// Fills `blk` with the tiles t0 ..< t0 + n (t counted from tile row 0 of image 0).
INLINE void tile_block(long t0, long n, long th, long tw, TileBlock *blk) {
    long row = t0 / tw, tx = t0 % tw;
    for (long b = 0; b < n; b++) {
        blk->image[b] = row / th;
        blk->ty[b] = row % th;
        blk->tx[b] = tx;
        if (++tx == tw) { tx = 0; row++; }
    }
}

INLINE void winograd_input_body(const SynapseWinogradShape *s, const float *restrict x, long r0, long r1,
                                float *restrict v, long ld) {
#pragma clang fp contract(off)
    long th = tile_rows(s), tw = tile_columns(s), h = s->h, w = s->w, plane = h * w, c = s->c;
    long position = c * ld, first = r0 * tw, count = (r1 - r0) * tw;
    for (long b0 = 0; b0 < count; b0 += WB) {
        long nb = count - b0 < WB ? count - b0 : WB;
        TileBlock blk;
        tile_block(first + b0, nb, th, tw, &blk);
        for (long ci = 0; ci < c; ci++) {
            // d[i][j][b]: the 4 x 4 patch of tile b, zero outside the image.
            float d[4][4][WB];
            for (long b = 0; b < nb; b++) {
                const float *xp = x + (blk.image[b] * c + ci) * plane;
                long y0 = 2 * blk.ty[b] - s->ph, x0 = 2 * blk.tx[b] - s->pw;
                int inside = y0 >= 0 && y0 + 3 < h && x0 >= 0 && x0 + 3 < w;
                for (int i = 0; i < 4; i++) {
                    const float *xr = xp + (y0 + i) * w + x0;
                    int row = y0 + i >= 0 && y0 + i < h;
                    for (int j = 0; j < 4; j++)
                        d[i][j][b] = inside || (row && x0 + j >= 0 && x0 + j < w) ? xr[j] : 0;
                }
            }
            float *vb = v + ci * ld + b0;
            for (long b = 0; b < nb; b++) {
                float t[4][4];
                for (int k = 0; k < 4; k++) {
                    // (d B), row k.
                    float d0 = d[k][0][b], d1 = d[k][1][b], d2 = d[k][2][b], d3 = d[k][3][b];
                    t[k][0] = d0 - d2;
                    t[k][1] = d1 + d2;
                    t[k][2] = d2 - d1;
                    t[k][3] = d1 - d3;
                }
                for (int k = 0; k < 4; k++) {
                    // B^T (d B), column k.
                    vb[(0 * 4 + k) * position + b] = t[0][k] - t[2][k];
                    vb[(1 * 4 + k) * position + b] = t[1][k] + t[2][k];
                    vb[(2 * 4 + k) * position + b] = t[2][k] - t[1][k];
                    vb[(3 * 4 + k) * position + b] = t[1][k] - t[3][k];
                }
            }
        }
    }
}

INLINE void winograd_output_body(const SynapseWinogradShape *s, const float *restrict m, long ld, long r0, long r1,
                                 const float *restrict bias, float *restrict y) {
#pragma clang fp contract(off)
    long th = tile_rows(s), tw = tile_columns(s), o = s->o, oh = s->oh, ow = s->ow;
    long position = o * ld, first = r0 * tw, count = (r1 - r0) * tw;
    for (long b0 = 0; b0 < count; b0 += WB) {
        long nb = count - b0 < WB ? count - b0 : WB;
        TileBlock blk;
        tile_block(first + b0, nb, th, tw, &blk);
        for (long k = 0; k < o; k++) {
            const float *mb = m + k * ld + b0;
            float bk = bias ? bias[k] : 0;
            float out[2][2][WB];
            for (long b = 0; b < nb; b++) {
                float u0[4], u1[4];
                for (int q = 0; q < 4; q++) {
                    // A^T M, column q.
                    float m0 = mb[(0 * 4 + q) * position + b], m1 = mb[(1 * 4 + q) * position + b];
                    float m2 = mb[(2 * 4 + q) * position + b], m3 = mb[(3 * 4 + q) * position + b];
                    u0[q] = m0 + m1 + m2;
                    u1[q] = m1 - m2 - m3;
                }
                out[0][0][b] = u0[0] + u0[1] + u0[2] + bk;
                out[0][1][b] = u0[1] - u0[2] - u0[3] + bk;
                out[1][0][b] = u1[0] + u1[1] + u1[2] + bk;
                out[1][1][b] = u1[1] - u1[2] - u1[3] + bk;
            }
            for (long b = 0; b < nb; b++) {
                long i0 = 2 * blk.ty[b], j0 = 2 * blk.tx[b];
                float *yp = y + (blk.image[b] * o + k) * oh * ow + i0 * ow + j0;
                int down = i0 + 1 < oh, right = j0 + 1 < ow;
                yp[0] = out[0][0][b];
                if (right) yp[1] = out[0][1][b];
                if (down) {
                    yp[ow] = out[1][0][b];
                    if (right) yp[ow + 1] = out[1][1][b];
                }
            }
        }
    }
}

INLINE void winograd_output_gradient_body(const SynapseWinogradShape *s, const float *restrict dy, long r0, long r1,
                                          float *restrict dm, long ld) {
#pragma clang fp contract(off)
    long th = tile_rows(s), tw = tile_columns(s), o = s->o, oh = s->oh, ow = s->ow;
    long position = o * ld, first = r0 * tw, count = (r1 - r0) * tw;
    for (long b0 = 0; b0 < count; b0 += WB) {
        long nb = count - b0 < WB ? count - b0 : WB;
        TileBlock blk;
        tile_block(first + b0, nb, th, tw, &blk);
        for (long k = 0; k < o; k++) {
            // The tile's 2 x 2 gradient [a b; c d], zero beyond the output (odd sizes).
            float g[2][2][WB];
            for (long b = 0; b < nb; b++) {
                long i0 = 2 * blk.ty[b], j0 = 2 * blk.tx[b];
                const float *dp = dy + (blk.image[b] * o + k) * oh * ow + i0 * ow + j0;
                int down = i0 + 1 < oh, right = j0 + 1 < ow;
                g[0][0][b] = dp[0];
                g[0][1][b] = right ? dp[1] : 0;
                g[1][0][b] = down ? dp[ow] : 0;
                g[1][1][b] = down && right ? dp[ow + 1] : 0;
            }
            float *db = dm + k * ld + b0;
            for (long b = 0; b < nb; b++) {
                // A dY: rows (a, b), (a + c, b + d), (a - c, b - d), (-c, -d).
                float a = g[0][0][b], bb = g[0][1][b], cc = g[1][0][b], dd = g[1][1][b];
                float p[4] = {a, a + cc, a - cc, -cc}, q[4] = {bb, bb + dd, bb - dd, -dd};
                for (int i = 0; i < 4; i++) {
                    // (A dY) A^T, row i: (p, p + q, p - q, -q).
                    db[(i * 4 + 0) * position + b] = p[i];
                    db[(i * 4 + 1) * position + b] = p[i] + q[i];
                    db[(i * 4 + 2) * position + b] = p[i] - q[i];
                    db[(i * 4 + 3) * position + b] = -q[i];
                }
            }
        }
    }
}

INLINE void winograd_input_gradient_body(const SynapseWinogradShape *s, const float *restrict dv, long ld, long r0,
                                         long r1, float *restrict dx) {
#pragma clang fp contract(off)
    long th = tile_rows(s), tw = tile_columns(s), h = s->h, w = s->w, plane = h * w, c = s->c;
    long position = c * ld, first = r0 * tw, count = (r1 - r0) * tw;
    for (long b0 = 0; b0 < count; b0 += WB) {
        long nb = count - b0 < WB ? count - b0 : WB;
        TileBlock blk;
        tile_block(first + b0, nb, th, tw, &blk);
        for (long ci = 0; ci < c; ci++) {
            const float *vb = dv + ci * ld + b0;
            float d[4][4][WB];
            for (long b = 0; b < nb; b++) {
                float t[4][4];
                for (int q = 0; q < 4; q++) {
                    // B dV, column q: rows v0, v1 - v2 + v3, v1 + v2 - v0, -v3.
                    float v0 = vb[(0 * 4 + q) * position + b], v1 = vb[(1 * 4 + q) * position + b];
                    float v2 = vb[(2 * 4 + q) * position + b], v3 = vb[(3 * 4 + q) * position + b];
                    t[0][q] = v0;
                    t[1][q] = v1 - v2 + v3;
                    t[2][q] = v1 + v2 - v0;
                    t[3][q] = -v3;
                }
                for (int i = 0; i < 4; i++) {
                    // (B dV) B^T, row i.
                    d[i][0][b] = t[i][0];
                    d[i][1][b] = t[i][1] - t[i][2] + t[i][3];
                    d[i][2][b] = t[i][1] + t[i][2] - t[i][0];
                    d[i][3][b] = -t[i][3];
                }
            }
            // Added tile by tile, in order, each at its patch (the padding dropped).
            for (long b = 0; b < nb; b++) {
                float *xp = dx + (blk.image[b] * c + ci) * plane;
                long y0 = 2 * blk.ty[b] - s->ph, x0 = 2 * blk.tx[b] - s->pw;
                int inside = y0 >= 0 && y0 + 3 < h && x0 >= 0 && x0 + 3 < w;
                for (int i = 0; i < 4; i++) {
                    if (!inside && (y0 + i < 0 || y0 + i >= h)) continue;
                    float *xr = xp + (y0 + i) * w + x0;
                    for (int j = 0; j < 4; j++)
                        if (inside || (x0 + j >= 0 && x0 + j < w)) xr[j] += d[i][j][b];
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
