#include "cpng.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    jmp_buf jump;
    char *message;
    char *warnings;
    const uint8_t *data;
    size_t size;
    size_t offset;
    uint8_t *out;
    size_t out_size;
    size_t out_capacity;
    int out_failed;
} context;

static void on_error(png_structp png, png_const_charp text) {
    context *c = png_get_error_ptr(png);
    snprintf(c->message, CPNG_MESSAGE_SIZE, "%s", text);
    longjmp(c->jump, 1);
}

static void on_warning(png_structp png, png_const_charp text) {
    context *c = png_get_error_ptr(png);
    if (c->warnings == NULL) return;
    size_t used = strlen(c->warnings);
    if (used + 2 < CPNG_MESSAGE_SIZE)
        snprintf(c->warnings + used, CPNG_MESSAGE_SIZE - used, "%s%s", used ? "\n" : "", text);
}

static void read_bytes(png_structp png, png_bytep target, size_t length) {
    context *c = png_get_io_ptr(png);
    if (length > c->size - c->offset) png_error(png, "file is truncated");
    memcpy(target, c->data + c->offset, length);
    c->offset += length;
}

static void write_bytes(png_structp png, png_bytep source, size_t length) {
    context *c = png_get_io_ptr(png);
    if (c->out_size + length > c->out_capacity) {
        size_t capacity = c->out_capacity ? c->out_capacity : 65536;
        while (capacity < c->out_size + length) capacity *= 2;
        uint8_t *grown = realloc(c->out, capacity);
        if (grown == NULL) png_error(png, "out of memory while encoding");
        c->out = grown;
        c->out_capacity = capacity;
    }
    memcpy(c->out + c->out_size, source, length);
    c->out_size += length;
}

static void flush_bytes(png_structp png) { (void)png; }

// libpng allocates an ancillary chunk (iCCP, zTXt, eXIf, ...) from its length field before it
// reads the chunk, so a header that claims 1 GB asks for 1 GB. The whole file is in memory: every
// chunk up to IEND must fit in what is left of it (length, type, data and CRC), or the file is
// refused before libpng sees it.
static void check_chunk_lengths(png_structp png, const context *c) {
    size_t position = 8;
    while (position + 8 <= c->size) {
        const uint8_t *p = c->data + position;
        uint64_t length = ((uint64_t)p[0] << 24) | ((uint64_t)p[1] << 16) | ((uint64_t)p[2] << 8) | p[3];
        if (length > c->size - position - 8 || c->size - position - 8 - length < 4)
            png_error(png, "truncated or damaged: a chunk claims more bytes than the file has left");
        if (memcmp(p + 4, "IEND", 4) == 0) return;
        position += 12 + (size_t)length;
    }
}

// Sets up reading and the transformations; fills `info`. Called inside setjmp.
static void start_reading(png_structp png, png_infop header, context *c, cpng_info *info) {
    if (c->size < 8 || png_sig_cmp(c->data, 0, 8) != 0) png_error(png, "not a PNG file (wrong signature)");
    check_chunk_lengths(png, c);
    png_set_read_fn(png, c, read_bytes);
    png_read_info(png, header);
    png_uint_32 width, height;
    int depth, color, interlace;
    png_get_IHDR(png, header, &width, &height, &depth, &color, &interlace, NULL, NULL);
    info->width = width;
    info->height = height;
    info->color_type = color;
    info->stored_bit_depth = depth;
    info->interlaced = interlace != PNG_INTERLACE_NONE;
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, header, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
#if !defined(__BIG_ENDIAN__) && !(defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__)
    if (depth == 16) png_set_swap(png);
#endif
    png_set_interlace_handling(png);
    png_read_update_info(png, header);
    info->channels = png_get_channels(png, header);
    info->bit_depth = png_get_bit_depth(png, header);
}

int cpng_read_header(const uint8_t *data, size_t size, cpng_info *info, char *message) {
    context c = {.message = message, .data = data, .size = size};
    message[0] = 0;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &c, on_error, on_warning);
    if (png == NULL) { snprintf(message, CPNG_MESSAGE_SIZE, "libpng could not start"); return -1; }
    png_infop header = png_create_info_struct(png);
    if (header == NULL || setjmp(c.jump)) {
        png_destroy_read_struct(&png, &header, NULL);
        if (!message[0]) snprintf(message, CPNG_MESSAGE_SIZE, "libpng could not start");
        return -1;
    }
    start_reading(png, header, &c, info);
    png_destroy_read_struct(&png, &header, NULL);
    return 0;
}

int cpng_decode(const uint8_t *data, size_t size, uint64_t max_pixels, cpng_info *info,
                void *pixels, size_t pixels_size, char *message, char *warnings) {
    context c = {.message = message, .warnings = warnings, .data = data, .size = size};
    message[0] = 0;
    if (warnings) warnings[0] = 0;
    png_bytep *volatile rows = NULL;  // volatile: read after a longjmp
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &c, on_error, on_warning);
    if (png == NULL) { snprintf(message, CPNG_MESSAGE_SIZE, "libpng could not start"); return -1; }
    png_infop header = png_create_info_struct(png);
    if (header == NULL || setjmp(c.jump)) {
        free(rows);
        png_destroy_read_struct(&png, &header, NULL);
        if (!message[0]) snprintf(message, CPNG_MESSAGE_SIZE, "libpng could not start");
        return -1;
    }
    start_reading(png, header, &c, info);
    if ((uint64_t)info->width * info->height > max_pixels) {
        snprintf(message, CPNG_MESSAGE_SIZE, "image of %ux%u pixels exceeds the limit of %llu pixels",
                 info->width, info->height, (unsigned long long)max_pixels);
        png_destroy_read_struct(&png, &header, NULL);
        return -1;
    }
    size_t row_bytes = png_get_rowbytes(png, header);
    if (row_bytes * info->height != pixels_size) {
        snprintf(message, CPNG_MESSAGE_SIZE, "pixel buffer of %zu bytes, the image needs %zu",
                 pixels_size, row_bytes * (size_t)info->height);
        png_destroy_read_struct(&png, &header, NULL);
        return -1;
    }
    rows = malloc(sizeof(png_bytep) * info->height);
    if (rows == NULL) png_error(png, "out of memory");
    for (uint32_t y = 0; y < info->height; y++) rows[y] = (png_bytep)pixels + row_bytes * y;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    free(rows);
    png_destroy_read_struct(&png, &header, NULL);
    return 0;
}

int cpng_encode(const void *pixels, uint32_t width, uint32_t height, int channels, int bit_depth,
                int level, int filters, int strategy, uint8_t **out, size_t *out_size, char *message) {
    static const int types[] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGB,
                                PNG_COLOR_TYPE_RGB_ALPHA};
    context c = {.message = message};
    message[0] = 0;
    *out = NULL;
    *out_size = 0;
    if (channels < 1 || channels > 4 || (bit_depth != 8 && bit_depth != 16) || width == 0 || height == 0) {
        snprintf(message, CPNG_MESSAGE_SIZE, "cannot encode %ux%u pixels of %d channels at %d bits",
                 width, height, channels, bit_depth);
        return -1;
    }
    png_bytep *volatile rows = NULL;  // volatile: read after a longjmp
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &c, on_error, on_warning);
    if (png == NULL) { snprintf(message, CPNG_MESSAGE_SIZE, "libpng could not start"); return -1; }
    png_infop header = png_create_info_struct(png);
    if (header == NULL || setjmp(c.jump)) {
        free(rows);
        free(c.out);
        png_destroy_write_struct(&png, &header);
        if (!message[0]) snprintf(message, CPNG_MESSAGE_SIZE, "libpng could not start");
        return -1;
    }
    png_set_write_fn(png, &c, write_bytes, flush_bytes);
    png_set_IHDR(png, header, width, height, bit_depth, types[channels], PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (level >= 0) png_set_compression_level(png, level);
    if (filters >= 0) png_set_filter(png, PNG_FILTER_TYPE_BASE, filters);
    if (strategy >= 0) png_set_compression_strategy(png, strategy);
    png_write_info(png, header);
#if !defined(__BIG_ENDIAN__) && !(defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__)
    if (bit_depth == 16) png_set_swap(png);
#endif
    size_t row_bytes = (size_t)width * channels * (bit_depth / 8);
    rows = malloc(sizeof(png_bytep) * height);
    if (rows == NULL) png_error(png, "out of memory");
    for (uint32_t y = 0; y < height; y++) rows[y] = (png_bytep)pixels + row_bytes * y;
    png_write_image(png, rows);
    png_write_end(png, NULL);
    free(rows);
    png_destroy_write_struct(&png, &header);
    *out = c.out;
    *out_size = c.out_size;
    return 0;
}

void cpng_free(void *buffer) { free(buffer); }
