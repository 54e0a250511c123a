// The run-time choice of variant: each variant's SynapseKernels table, built from the functions
// the family files instantiate, and the CPU check that hands it out.
#include "kernels.h"

#define KERNELS(S)                                                                                    \
static const SynapseKernels kernels_##S = {                                                           \
    #S, synapse_ck_relu_forward_##S, synapse_ck_relu_backward_##S, synapse_ck_adam_##S,               \
    synapse_ck_conv_forward_##S, synapse_ck_conv_weight_##S, synapse_ck_maxpool2x2_##S,               \
    synapse_ck_maxpool2x2_backward_##S, synapse_ck_tanh_forward_##S, synapse_ck_tanh_backward_##S,    \
    synapse_ck_embedding_gather_##S, synapse_ck_embedding_scatter_add_##S, synapse_ck_transpose_first_two_##S, \
    synapse_ck_lstm_forward_##S, synapse_ck_lstm_backward_##S, synapse_ck_gru_forward_##S,           \
    synapse_ck_gru_backward_##S, synapse_ck_column_sums_##S,                                          \
    synapse_ck_batchnorm_moments_##S, synapse_ck_batchnorm_normalize_##S,                             \
    synapse_ck_batchnorm_gradient_sums_##S, synapse_ck_batchnorm_input_gradient_##S,                  \
    synapse_ck_winograd_input_##S, synapse_ck_winograd_output_##S, synapse_ck_winograd_output_gradient_##S,  \
    synapse_ck_winograd_input_gradient_##S,                                                           \
};

KERNELS(generic)
#if defined(__x86_64__)
KERNELS(avx2)
KERNELS(avx512)
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

// The best variant the CPU supports, or the one SYNAPSE_KERNELS names (generic, avx2, avx512)
// when the CPU supports it: a way to run the whole program, or the test suite, on the kernels
// another machine would choose.
__attribute__((constructor)) static void choose(void) {
    const char *wanted = getenv("SYNAPSE_KERNELS");
    for (int i = 0; wanted && i < synapse_kernels_variant_count(); i++) {
        if (variant(i) && strcmp(variant(i)->name, wanted) == 0) { active = variant(i); return; }
    }
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
