// OpenBLAS's CBLAS interface (Debian: libopenblas-dev). Only Sources/Dense/BLAS.swift imports it.
#include <cblas.h>
