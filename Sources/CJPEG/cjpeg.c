#include "cjpeg.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

typedef struct {
    struct jpeg_error_mgr manager;  // first: libjpeg hands back a pointer to it
    struct jpeg_progress_mgr progress;
    jmp_buf jump;
    char *message;
    char *warnings;
    int warning_count;
    int allow_truncated;
    int reading_scanlines;  // past jpeg_start_decompress (a single-scan file's data is read from here on)
    int out_of_data;        // the data ran out while scanlines were read
    unsigned char *out;  // jpeg_mem_dest's buffer, malloc'd by libjpeg-turbo, kept across a longjmp
} context;

// Ends the call with `text` as its message.
static void fail(j_common_ptr cinfo, const char *text) {
    context *c = (context *)cinfo->err;
    snprintf(c->message, CJPEG_MESSAGE_SIZE, "%s", text);
    longjmp(c->jump, 1);
}

static void on_error(j_common_ptr cinfo) {
    context *c = (context *)cinfo->err;
    if (cinfo->err->msg_code == JERR_NO_BACKING_STORE) {
        // What libjpeg-turbo says when the coefficient buffers exceed max_memory_to_use.
        snprintf(c->message, CJPEG_MESSAGE_SIZE,
                 "the image's coefficient buffers (progressive or multi-scan file) need more than the limit of %ld bytes",
                 cinfo->mem->max_memory_to_use);
        longjmp(c->jump, 1);
    }
    char text[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, text);
    snprintf(c->message, CJPEG_MESSAGE_SIZE, "%s", text);
    longjmp(c->jump, 1);
}

// libjpeg calls this for warnings (level -1) and trace messages (levels 0 and up). A warning
// means damaged data that libjpeg decoded around; running out of data is one too, and it is
// made an error unless the caller allows truncated files. While the scanlines of a single-scan
// file are read, running out is not yet an error: the entropy decoder reads ahead, so a file
// that lacks only its EOI marker runs out too. It is one when libjpeg then complains (it needed
// the missing data: "premature end of data segment", or a lost restart marker).
static void on_message(j_common_ptr cinfo, int level) {
    if (level >= 0) return;
    context *c = (context *)cinfo->err;
    if (!c->allow_truncated) {
        int eof = cinfo->err->msg_code == JWRN_JPEG_EOF;
        if ((eof && !c->reading_scanlines) || (!eof && c->out_of_data)) {
            snprintf(c->message, CJPEG_MESSAGE_SIZE, "file is truncated (premature end of JPEG data)");
            longjmp(c->jump, 1);
        }
        if (eof) { c->out_of_data = 1; return; }
    }
    c->warning_count++;
    if (c->warnings == NULL) return;
    char text[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, text);
    size_t used = strlen(c->warnings);
    if (used + 2 < CJPEG_MESSAGE_SIZE)
        snprintf(c->warnings + used, CJPEG_MESSAGE_SIZE - used, "%s%s", used ? "\n" : "", text);
}

static void on_progress(j_common_ptr cinfo) {
    if (!cinfo->is_decompressor) return;
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    if (d->input_scan_number > CJPEG_MAX_SCANS) {
        context *c = (context *)cinfo->err;
        snprintf(c->message, CJPEG_MESSAGE_SIZE, "more than %d scans", CJPEG_MAX_SCANS);
        longjmp(c->jump, 1);
    }
}

static void start_context(context *c, struct jpeg_decompress_struct *d, char *message, char *warnings,
                          int allow_truncated) {
    memset(c, 0, sizeof *c);
    c->message = message;
    c->warnings = warnings;
    c->allow_truncated = allow_truncated;
    message[0] = 0;
    if (warnings) warnings[0] = 0;
    if (d == NULL) return;
    d->err = jpeg_std_error(&c->manager);
    c->manager.error_exit = on_error;
    c->manager.emit_message = on_message;
    c->progress.progress_monitor = on_progress;
}

// ---- EXIF orientation -------------------------------------------------------------------------

static unsigned read16(const uint8_t *p, int little) {
    return little ? (unsigned)p[0] | (unsigned)p[1] << 8 : (unsigned)p[0] << 8 | (unsigned)p[1];
}

static uint32_t read32(const uint8_t *p, int little) {
    return little ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
                  : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

// The orientation tag (0x0112) of IFD0 in an APP1 "Exif\0\0" segment, or 1. The segment is
// `size` bytes; the TIFF structure starts 6 bytes in and every offset in it is checked against
// what is left before it is followed. Only IFD0 is read, so there is no chain to loop on.
static int exif_orientation(const uint8_t *segment, size_t size) {
    if (size < 6 + 8 || memcmp(segment, "Exif\0\0", 6) != 0) return 1;
    const uint8_t *tiff = segment + 6;
    size_t length = size - 6;
    int little;
    if (tiff[0] == 'I' && tiff[1] == 'I') little = 1;
    else if (tiff[0] == 'M' && tiff[1] == 'M') little = 0;
    else return 1;
    if (read16(tiff + 2, little) != 42) return 1;
    uint32_t ifd = read32(tiff + 4, little);
    if (ifd > length || length - ifd < 2) return 1;
    unsigned entries = read16(tiff + ifd, little);
    for (unsigned k = 0; k < entries; k++) {
        size_t entry = (size_t)ifd + 2 + (size_t)k * 12;
        if (entry > length || length - entry < 12) return 1;
        const uint8_t *e = tiff + entry;
        if (read16(e, little) != 0x0112) continue;
        // SHORT (type 3), one value, held in the first two bytes of the value field.
        if (read16(e + 2, little) != 3 || read32(e + 4, little) != 1) return 1;
        unsigned value = read16(e + 8, little);
        return value >= 1 && value <= 8 ? (int)value : 1;
    }
    return 1;
}

static int find_orientation(j_decompress_ptr d) {
    for (jpeg_saved_marker_ptr m = d->marker_list; m != NULL; m = m->next)
        if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 && memcmp(m->data, "Exif\0\0", 6) == 0)
            return exif_orientation(m->data, m->data_length);
    return 1;
}

// ---- Decoding ---------------------------------------------------------------------------------

// Reads the header and sets the output up. Called inside setjmp.
static void start_reading(j_decompress_ptr d, const uint8_t *data, size_t size, int scale_denom,
                          cjpeg_info *info) {
    if (size == 0) fail((j_common_ptr)d, "empty file");
    if (size < 3 || data[0] != 0xFF || data[1] != 0xD8) fail((j_common_ptr)d, "not a JPEG file (no SOI marker)");
    if (scale_denom != 1 && scale_denom != 2 && scale_denom != 4 && scale_denom != 8)
        fail((j_common_ptr)d, "scale must be 1/1, 1/2, 1/4 or 1/8");
    jpeg_mem_src(d, data, (unsigned long)size);
    jpeg_save_markers(d, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(d, TRUE);
    memset(info, 0, sizeof *info);
    info->width = d->image_width;
    info->height = d->image_height;
    info->components = d->num_components;
    info->color_space = d->jpeg_color_space;
    info->progressive = d->progressive_mode;
    info->arithmetic = d->arith_code;
    info->orientation = find_orientation(d);
    switch (d->jpeg_color_space) {
    case JCS_GRAYSCALE: d->out_color_space = JCS_GRAYSCALE; info->channels = 1; break;
    case JCS_YCbCr: case JCS_RGB: d->out_color_space = JCS_RGB; info->channels = 3; break;
    case JCS_CMYK: case JCS_YCCK: d->out_color_space = JCS_CMYK; info->channels = 3; break;
    default: fail((j_common_ptr)d, "unsupported colour space (not gray, YCbCr, RGB, CMYK or YCCK)");
    }
    d->scale_num = 1;
    d->scale_denom = (unsigned)scale_denom;
    jpeg_calc_output_dimensions(d);
    int swap = info->orientation >= 5;
    info->output_width = swap ? d->output_height : d->output_width;
    info->output_height = swap ? d->output_width : d->output_height;
}

int cjpeg_read_header(const uint8_t *data, size_t size, int scale_denom, cjpeg_info *info, char *message) {
    context c;
    struct jpeg_decompress_struct d;
    start_context(&c, &d, message, NULL, 0);
    if (setjmp(c.jump)) {
        jpeg_destroy_decompress(&d);
        return -1;
    }
    jpeg_create_decompress(&d);
    start_reading(&d, data, size, scale_denom, info);
    jpeg_destroy_decompress(&d);
    return 0;
}

// Pillow's CMYK -> RGB: R = (255 - K) - C (255 - K) / 255, rounded as x/255 = (x + 128 + (x + 128) / 256) / 256.
static inline uint8_t cmyk_channel(unsigned ink, unsigned nk) {
    unsigned t = ink * nk + 128;
    return (uint8_t)(nk - (((t >> 8) + t) >> 8));
}

int cjpeg_decode(const uint8_t *data, size_t size, int scale_denom, uint64_t max_pixels, uint64_t max_memory,
                 int allow_truncated, cjpeg_info *info, uint8_t *pixels, size_t pixels_size,
                 char *message, char *warnings) {
    context c;
    struct jpeg_decompress_struct d;
    uint8_t *volatile row = NULL;  // volatile: read after a longjmp
    start_context(&c, &d, message, warnings, allow_truncated);
    if (setjmp(c.jump)) {
        free(row);
        jpeg_destroy_decompress(&d);
        return -1;
    }
    jpeg_create_decompress(&d);
    d.progress = &c.progress;
    // Coefficient buffers (progressive and multi-scan files) larger than this are refused:
    // libjpeg-turbo has no backing store, so realising them fails with an error.
    d.mem->max_memory_to_use = max_memory > (uint64_t)0x7FFFFFFF ? 0x7FFFFFFF : (long)max_memory;
    start_reading(&d, data, size, scale_denom, info);
    if ((uint64_t)info->width * info->height > max_pixels) {
        snprintf(message, CJPEG_MESSAGE_SIZE, "image of %ux%u pixels exceeds the limit of %llu pixels",
                 info->width, info->height, (unsigned long long)max_pixels);
        jpeg_destroy_decompress(&d);
        return -1;
    }
    size_t needed = (size_t)info->output_width * info->output_height * (size_t)info->channels;
    if (needed != pixels_size) {
        snprintf(message, CJPEG_MESSAGE_SIZE, "pixel buffer of %zu bytes, the image needs %zu", pixels_size, needed);
        jpeg_destroy_decompress(&d);
        return -1;
    }
    jpeg_start_decompress(&d);
    c.reading_scanlines = 1;
    const int cmyk = d.out_color_space == JCS_CMYK;
    const int inverted = cmyk && d.saw_Adobe_marker;
    const size_t w = d.output_width, h = d.output_height;
    const size_t channels = (size_t)info->channels;
    const int orientation = info->orientation;
    const size_t out_width = info->output_width;
    const int direct = orientation == 1 && !cmyk;
    if (!direct) {
        row = malloc(w * (size_t)d.output_components);
        if (row == NULL) fail((j_common_ptr)&d, "out of memory");
    }
    while (d.output_scanline < h) {
        size_t y = d.output_scanline;
        JSAMPROW target = direct ? pixels + y * w * channels : row;
        jpeg_read_scanlines(&d, &target, 1);
        if (direct) continue;
        if (cmyk) {
            // In place, 4 samples -> 3, left to right.
            for (size_t x = 0; x < w; x++) {
                unsigned k[4];
                for (int i = 0; i < 4; i++) k[i] = inverted ? 255u - row[4 * x + i] : row[4 * x + i];
                unsigned nk = 255u - k[3];
                row[3 * x] = cmyk_channel(k[0], nk);
                row[3 * x + 1] = cmyk_channel(k[1], nk);
                row[3 * x + 2] = cmyk_channel(k[2], nk);
            }
        }
        // Stored pixel (x, y) of a w x h image goes to (X, Y) of the oriented one.
        for (size_t x = 0; x < w; x++) {
            size_t X, Y;
            switch (orientation) {
            case 2: X = w - 1 - x; Y = y; break;
            case 3: X = w - 1 - x; Y = h - 1 - y; break;
            case 4: X = x; Y = h - 1 - y; break;
            case 5: X = y; Y = x; break;
            case 6: X = h - 1 - y; Y = x; break;
            case 7: X = h - 1 - y; Y = w - 1 - x; break;
            case 8: X = y; Y = w - 1 - x; break;
            default: X = x; Y = y; break;
            }
            memcpy(pixels + (Y * out_width + X) * channels, row + x * channels, channels);
        }
    }
    jpeg_finish_decompress(&d);
    info->warnings = c.warning_count;
    free(row);
    jpeg_destroy_decompress(&d);
    return 0;
}

// ---- Encoding ---------------------------------------------------------------------------------

int cjpeg_encode(const uint8_t *pixels, uint32_t width, uint32_t height, int channels, int quality,
                 uint8_t **out, size_t *out_size, char *message) {
    context c;
    struct jpeg_compress_struct e;
    unsigned long buffer_size = 0;
    *out = NULL;
    *out_size = 0;
    start_context(&c, NULL, message, NULL, 0);
    if ((channels != 1 && channels != 3) || width == 0 || height == 0 || width > JPEG_MAX_DIMENSION
        || height > JPEG_MAX_DIMENSION || quality < 1 || quality > 100) {
        snprintf(message, CJPEG_MESSAGE_SIZE, "cannot encode %ux%u pixels of %d channels at quality %d",
                 width, height, channels, quality);
        return -1;
    }
    e.err = jpeg_std_error(&c.manager);
    c.manager.error_exit = on_error;
    c.manager.emit_message = on_message;
    if (setjmp(c.jump)) {
        jpeg_destroy_compress(&e);
        free(c.out);
        return -1;
    }
    jpeg_create_compress(&e);
    jpeg_mem_dest(&e, &c.out, &buffer_size);
    e.image_width = width;
    e.image_height = height;
    e.input_components = channels;
    e.in_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&e);
    jpeg_set_quality(&e, quality, TRUE);
    e.optimize_coding = TRUE;
    jpeg_start_compress(&e, TRUE);
    while (e.next_scanline < height) {
        JSAMPROW source = (JSAMPROW)(pixels + (size_t)e.next_scanline * width * (size_t)channels);
        jpeg_write_scanlines(&e, &source, 1);
    }
    jpeg_finish_compress(&e);
    jpeg_destroy_compress(&e);
    // jpeg_mem_dest's buffer outlives the compressor.
    *out = c.out;
    *out_size = buffer_size;
    return 0;
}

void cjpeg_free(void *buffer) { free(buffer); }
