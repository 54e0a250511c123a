// Private to CKernels (include/ckernels.h is the module's public header): what the kernel files
// and dispatch.c share. One body per kernel (static, always inlined) in its family's file,
// instantiated there once per instruction set by that file's variant macro (ELEMENTWISE_VARIANT,
// SEQUENCE_VARIANT, GATES_VARIANT, POOLING_VARIANT, CONVOLUTION_VARIANT, NORMALIZATION_VARIANT); the compiler vectorises each copy for
// its target. dispatch.c builds each variant's SynapseKernels table from the functions declared
// below.
#ifndef SYNAPSE_CKERNELS_PRIVATE_H
#define SYNAPSE_CKERNELS_PRIVATE_H

#include "ckernels.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))

// Vectors pass between always-inlined functions only, never across a call boundary, so the ABI
// that a variant without AVX would use for them never comes into play.
#pragma clang diagnostic ignored "-Wpsabi"

// sqrtf sets errno for negative input, so the compiler keeps a scalar call beside every square
// root and does not vectorise the loop; the elementwise builtin is the bare instruction (exactly
// rounded all the same).
#if __has_builtin(__builtin_elementwise_sqrt)
#define SQRT(x) __builtin_elementwise_sqrt(x)
#else
#define SQRT(x) sqrtf(x)
#endif

// The instruction sets, by variant suffix: a variant's functions are compiled for TARGET_<suffix>.
// dispatch.c hands out a variant only when __builtin_cpu_supports reports these features.
#define TARGET_generic
#if defined(__x86_64__)
#define TARGET_avx2 __attribute__((target("avx2,fma")))
#define TARGET_avx512 __attribute__((target("avx512f,avx512vl,avx2,fma")))
#endif

// Every variant's functions, synapse_ck_<kernel>_<suffix>: one per SynapseKernels entry, with the
// signature of its pointer. Hidden: they are internal to whatever links CKernels.
#define KERNEL(S) __attribute__((visibility("hidden"))) TARGET_##S void
#define DECLARE_VARIANT(S)                                                                                     \
    KERNEL(S) synapse_ck_relu_forward_##S(const float *x, float *y, long n);                                   \
    KERNEL(S) synapse_ck_relu_backward_##S(const float *y, const float *dy, float *dx, long n);                \
    KERNEL(S) synapse_ck_adam_##S(float *w, const float *g, float *m, float *v, long n, float b1, float b2,    \
                                  float eps, float wd, float step, float irc2);                                \
    KERNEL(S) synapse_ck_tanh_forward_##S(const float *x, float *y, long n);                                   \
    KERNEL(S) synapse_ck_tanh_backward_##S(const float *y, const float *dy, float *dx, long n);                \
    KERNEL(S) synapse_ck_embedding_gather_##S(const float *table, const int *ids, long count, long d,          \
                                              float *y);                                                       \
    KERNEL(S) synapse_ck_embedding_scatter_add_##S(const int *ids, long count, long width, long stride,        \
                                                   const float *dy, float *dw, long skip);                     \
    KERNEL(S) synapse_ck_transpose_first_two_##S(const float *x, float *y, long a, long b, long c, long j0,    \
                                                 long j1);                                                     \
    KERNEL(S) synapse_ck_lstm_forward_##S(float *z, const float *previous, float *state, long n, long h);       \
    KERNEL(S) synapse_ck_lstm_backward_##S(const float *gradient, const float *state, const float *previous,   \
                                           const float *z, float *d, float *previous_gradient, long n, long h); \
    KERNEL(S) synapse_ck_gru_forward_##S(float *z, const float *previous, float *state, long n, long h);        \
    KERNEL(S) synapse_ck_gru_backward_##S(const float *gradient, const float *previous, const float *z,        \
                                          float *d, float *previous_gradient, long n, long h);                 \
    KERNEL(S) synapse_ck_column_sums_##S(const float *dz, long rows, long width, long ldz, float *db);         \
    KERNEL(S) synapse_ck_batchnorm_moments_##S(const float *x, long n, long stride, long size, double *mean,   \
                                               double *squares);                                               \
    KERNEL(S) synapse_ck_batchnorm_normalize_##S(const float *x, float *y, float *h, long n, long stride,      \
                                                 long size, float mean, float inv_std, float gamma, float beta); \
    KERNEL(S) synapse_ck_batchnorm_gradient_sums_##S(const float *dy, const float *h, long n, long stride,     \
                                                     long size, double *sum_dy, double *sum_dyh);              \
    KERNEL(S) synapse_ck_batchnorm_input_gradient_##S(const float *dy, const float *h, float *dx, long n,      \
                                                      long stride, long size, float scale, float count,       \
                                                      float sum_dy, float sum_dyh);                           \
    KERNEL(S) synapse_ck_maxpool2x2_##S(const float *x, float *y, int *index, long planes, long h, long w,     \
                                        long oh, long ow);                                                     \
    KERNEL(S) synapse_ck_maxpool2x2_backward_##S(const float *dy, const float *y, const int *index, float *dx, \
                                                 long planes, long h, long w, long oh, long ow);               \
    KERNEL(S) synapse_ck_conv_forward_##S(const SynapseConvShape *s, const float *x, const float *wt,          \
                                          const float *bias, float *y, float *scratch);                        \
    KERNEL(S) synapse_ck_conv_weight_##S(const SynapseConvShape *s, const float *x, const float *dy,           \
                                         float *dw, float *db, float *scratch);                                \
    KERNEL(S) synapse_ck_winograd_input_##S(const SynapseWinogradShape *s, const float *x, long r0, long r1,   \
                                            float *v, long ld);                                                \
    KERNEL(S) synapse_ck_winograd_output_##S(const SynapseWinogradShape *s, const float *m, long ld, long r0,  \
                                             long r1, const float *bias, float *y);                            \
    KERNEL(S) synapse_ck_winograd_output_gradient_##S(const SynapseWinogradShape *s, const float *dy, long r0, \
                                                      long r1, float *dm, long ld);                            \
    KERNEL(S) synapse_ck_winograd_input_gradient_##S(const SynapseWinogradShape *s, const float *dv, long ld,  \
                                                     long r0, long r1, float *dx);
DECLARE_VARIANT(generic)
#if defined(__x86_64__)
DECLARE_VARIANT(avx2)
DECLARE_VARIANT(avx512)
#endif

#endif
