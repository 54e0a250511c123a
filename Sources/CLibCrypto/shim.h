// OpenSSL's libcrypto (Debian: libssl-dev), used for the MD5 and SHA-256 checksums of downloads.
#include <openssl/evp.h>
