// zlib (Debian: zlib1g-dev), used to read gzip-compressed data files.
#include <zlib.h>
