#ifndef SYNAPSE_CPEAK_H
#define SYNAPSE_CPEAK_H

// The machine's multiply-add peak on one core, measured (for the benchmarks' share of peak):
// a loop of independent fused multiply-adds on the widest vectors the CPU supports.

/// Runs `iterations` rounds of the peak loop and returns the floating-point operations done
/// (2 a multiply-add per lane).
double synapse_peak_fma(long iterations);
/// "avx512", "avx2+fma" or "plain (no fma)": the instruction set the loop ran on.
const char *synapse_peak_instructions(void);

#endif
