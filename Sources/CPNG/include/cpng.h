// A thin C layer over libpng whose only job is error handling: libpng reports errors with
// setjmp/longjmp, which must never cross Swift frames. Every function here catches them and
// returns a status with libpng's message instead. Not an API: Sources/Augment/PNG.swift is.
#ifndef CPNG_H
#define CPNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t width;
    uint32_t height;
    int channels;    // samples per pixel after decoding: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA
    int bit_depth;   // 8 or 16 after decoding
    int color_type;  // as stored (PNG_COLOR_TYPE_*)
    int stored_bit_depth;
    int interlaced;
} cpng_info;

enum { CPNG_MESSAGE_SIZE = 512 };

// Reads the header. Returns 0, or -1 with a message.
int cpng_read_header(const uint8_t *data, size_t size, cpng_info *info, char *message);

// Decodes the whole image into `pixels` (width * height * channels samples, rows top to
// bottom; 16-bit samples in host byte order). Palette images become RGB, or RGBA when they
// have tRNS transparency; gray images of 1, 2 or 4 bits become 8-bit; tRNS on gray or RGB
// becomes an alpha channel. Images of more than `max_pixels` pixels are refused before any
// pixel memory is used. Warnings are appended to `warnings` (may be NULL), separated by '\n'.
int cpng_decode(const uint8_t *data, size_t size, uint64_t max_pixels, cpng_info *info,
                void *pixels, size_t pixels_size, char *message, char *warnings);

// Encodes 8- or 16-bit gray, gray+alpha, RGB or RGBA pixels (16-bit in host byte order).
// `level` is the zlib level 0-9, `filters` a PNG_FILTER_* mask, `strategy` a zlib strategy
// (Z_FILTERED, Z_RLE, ...); -1 for libpng's default choice of each. On success *out holds a
// malloc'd buffer for cpng_free.
int cpng_encode(const void *pixels, uint32_t width, uint32_t height, int channels, int bit_depth,
                int level, int filters, int strategy, uint8_t **out, size_t *out_size, char *message);

void cpng_free(void *buffer);

#endif
