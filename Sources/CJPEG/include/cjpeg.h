// A thin C layer over libjpeg-turbo whose main job is error handling: libjpeg's default error
// exit calls exit(), and a longjmp must never cross Swift frames. Every function here catches
// libjpeg's errors and returns a status with libjpeg's message instead. Not an API:
// Sources/Augment/JPEG.swift is.
#ifndef CJPEG_H
#define CJPEG_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t width;          // as stored
    uint32_t height;
    int components;          // as stored: 1 gray, 3 YCbCr or RGB, 4 CMYK or YCCK
    int color_space;         // as stored (J_COLOR_SPACE)
    int progressive;
    int arithmetic;
    int orientation;         // EXIF orientation 1-8; 1 without EXIF or with an unusable tag
    int channels;            // samples per pixel after decoding: 1 gray, 3 RGB
    uint32_t output_width;   // after scaling and orientation (5-8 swap the sides)
    uint32_t output_height;
    int warnings;            // libjpeg's warnings during decoding (corrupt data)
} cjpeg_info;

enum { CJPEG_MESSAGE_SIZE = 512 };

// Most scans a progressive file may have: each one is a pass over the whole coefficient buffer,
// so a few kilobytes of scan headers could otherwise keep the decoder busy for minutes.
enum { CJPEG_MAX_SCANS = 500 };

// Reads the header and the EXIF orientation. `scale_denom` (1, 2, 4 or 8) is the reduced-scale
// DCT decoding cjpeg_decode would use: output_width and output_height are filled for it.
// Returns 0, or -1 with a message.
int cjpeg_read_header(const uint8_t *data, size_t size, int scale_denom, cjpeg_info *info, char *message);

// Decodes the whole image into `pixels` (output_width * output_height * channels bytes, rows top
// to bottom), at 1/scale_denom of the stored size, in the DCT domain (libjpeg-turbo's scaled
// IDCT), the EXIF orientation applied. Gray stays gray; YCbCr and RGB become RGB; CMYK and YCCK
// become RGB (inverted, as Adobe's applications write them, when the file has an Adobe marker).
// Images of more than `max_pixels` pixels are refused before decoding starts, and libjpeg may
// keep at most `max_memory` bytes of coefficients (progressive and multi-scan files).
// Warnings are counted in info->warnings and the first ones appended to `warnings` (may be NULL),
// separated by '\n'. A file that ends before its image data does is an error, unless
// `allow_truncated` is set (the rest of the image is then gray, and a warning says so).
int cjpeg_decode(const uint8_t *data, size_t size, int scale_denom, uint64_t max_pixels, uint64_t max_memory,
                 int allow_truncated, cjpeg_info *info, uint8_t *pixels, size_t pixels_size,
                 char *message, char *warnings);

// Encodes 8-bit gray (channels 1) or RGB (channels 3) pixels at `quality` 1-100, baseline,
// optimised Huffman tables, RGB as YCbCr 4:2:0 (libjpeg's and Pillow's default). On success
// *out holds a malloc'd buffer for cjpeg_free.
int cjpeg_encode(const uint8_t *pixels, uint32_t width, uint32_t height, int channels, int quality,
                 uint8_t **out, size_t *out_size, char *message);

void cjpeg_free(void *buffer);

#endif
