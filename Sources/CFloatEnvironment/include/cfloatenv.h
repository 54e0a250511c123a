#ifndef SYNAPSE_CFLOATENV_H
#define SYNAPSE_CFLOATENV_H

/// Sets (on != 0) or clears flush-to-zero and denormals-are-zero for the calling thread;
/// returns whether they were set before. A no-op returning 0 on CPUs it does not know.
int synapse_flush_denormals(int on);

/// Whether flush-to-zero and denormals-are-zero are set for the calling thread.
int synapse_denormals_flushed(void);

#endif
