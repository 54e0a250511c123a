// Open MPI's C API for Swift. MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, ... are macros that take the
// address of a library global (`&ompi_mpi_comm_world`), which Swift cannot import: each is a
// static inline function here. Only Sources/Distributed imports this module.
#ifndef SYNAPSE_CMPI_SHIM_H
#define SYNAPSE_CMPI_SHIM_H

#include <mpi.h>

static inline MPI_Comm synapse_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype synapse_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype synapse_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype synapse_mpi_uint64(void) { return MPI_UINT64_T; }
static inline MPI_Op synapse_mpi_sum(void) { return MPI_SUM; }
static inline void *synapse_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline int synapse_mpi_success(void) { return MPI_SUCCESS; }
static inline int synapse_mpi_thread_funneled(void) { return MPI_THREAD_FUNNELED; }

#endif
