// The RNN's data movement: the embedding gather and scatter-add, and the batch-major <->
// time-major transpose.
#include "kernels.h"

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

#define SEQUENCE_VARIANT(S)                                                                           \
TARGET_##S void synapse_ck_embedding_gather_##S(const float *table, const int *ids, long count, long d, float *y) { \
    embedding_gather_body(table, ids, count, d, y);                                                   \
}                                                                                                     \
TARGET_##S void synapse_ck_embedding_scatter_add_##S(const int *ids, long count, long width, long stride, \
                                                     const float *dy, float *dw, long skip) {         \
    embedding_scatter_add_body(ids, count, width, stride, dy, dw, skip);                              \
}                                                                                                     \
TARGET_##S void synapse_ck_transpose_first_two_##S(const float *x, float *y, long a, long b, long c, long j0, \
                                                   long j1) {                                         \
    transpose_first_two_body(x, y, a, b, c, j0, j1);                                                  \
}

SEQUENCE_VARIANT(generic)
#if defined(__x86_64__)
SEQUENCE_VARIANT(avx2)
SEQUENCE_VARIANT(avx512)
#endif
