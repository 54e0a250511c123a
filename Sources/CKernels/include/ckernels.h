#ifndef SYNAPSE_CKERNELS_H
#define SYNAPSE_CKERNELS_H

// Synapse's hot loops, compiled once per instruction set (a plain build any x86-64 or arm64
// runs, AVX2+FMA, AVX-512) and chosen once at start. Not an API: Dense, Conv and Recurrent call it.
// Layouts: float32, row-major, contiguous; counts are element counts.

/// The shape of a stride-1 convolution computed directly: input (n, c, h, w), weight
/// (o, c, kh, kw), padding (ph, pw) with ph < kh and pw < kw, output (n, o, oh, ow) with
/// oh = h + 2 ph - kh + 1, ow = w + 2 pw - kw + 1.
typedef struct {
    long n, c, h, w, o, kh, kw, ph, pw, oh, ow;
} SynapseConvShape;

/// The shape of a 3x3, stride-1 convolution computed by Winograd F(2x2, 3x3): input (n, c, h, w),
/// weight (o, c, 3, 3), padding (ph, pw) >= 0, output (n, o, oh, ow) with oh = h + 2 ph - 2,
/// ow = w + 2 pw - 2; tiles of 2 x 2 outputs, ceil(oh / 2) rows of ceil(ow / 2) per image.
typedef struct {
    long n, c, h, w, o, ph, pw, oh, ow;
} SynapseWinogradShape;

typedef struct {
    /// "generic", "avx2" or "avx512".
    const char *name;
    /// y = max(x, 0); x and y may be the same buffer.
    void (*relu_forward)(const float *x, float *y, long n);
    /// dx = y > 0 ? dy : 0.
    void (*relu_backward)(const float *y, const float *dy, float *dx, long n);
    /// PyTorch's Adam over n values (see Adam in Optimizer.swift):
    ///   g' = g + wd w;  m = b1 m + (1 - b1) g';  v = b2 v + (1 - b2) g'^2;
    ///   w -= step * m / (sqrt(v) * inverse_root_correction2 + eps)
    void (*adam)(float *w, const float *g, float *m, float *v, long n, float b1, float b2, float eps,
                 float wd, float step, float inverse_root_correction2);
    /// Direct convolution forward: y = bias + w * x, from the transposed weight
    /// `wt` (c kh kw rows of `synapse_conv_lanes(o)` floats, see synapse_conv_transpose).
    /// `bias` may be NULL. `scratch` holds synapse_conv_forward_scratch(s) floats.
    void (*conv_forward)(const SynapseConvShape *s, const float *x, const float *wt, const float *bias,
                         float *y, float *scratch);
    /// Direct convolution parameter gradients: dw (o, c, kh, kw) += sum_n dy * x, and
    /// db (o, may be NULL) += sum of dy. `scratch` holds synapse_conv_weight_scratch(s) floats.
    void (*conv_weight_gradient)(const SynapseConvShape *s, const float *x, const float *dy, float *dw,
                                 float *db, float *scratch);
    /// 2x2, stride 2, unpadded max pooling of `planes` h x w planes into oh x ow: y the maximum,
    /// index its position in the plane; the first maximum wins ties, NaN wins (PyTorch's rule).
    void (*maxpool2x2)(const float *x, float *y, int *index, long planes, long h, long w, long oh, long ow);
    /// The gradient of maxpool2x2: dx (planes h x w, every value written) from dy and the index
    /// maxpool2x2 wrote. With `y` not NULL (the pooled output, for a layer that applies the ReLU
    /// before it), a window sends its gradient only where y > 0.
    void (*maxpool2x2_backward)(const float *dy, const float *y, const int *index, float *dx, long planes, long h,
                                long w, long oh, long ow);
    /// y = tanh(x), the arithmetic of Swift's `rationalTanh` op for op (same bits on every
    /// variant); x and y are the same buffer or do not overlap.
    void (*tanh_forward)(const float *x, float *y, long n);
    /// dx = dy * (1 - y * y), the gradient of tanh from its output.
    void (*tanh_backward)(const float *y, const float *dy, float *dx, long n);
    /// y[i] = table[ids[i]] for `count` rows of d floats; ids must be valid rows.
    void (*embedding_gather)(const float *table, const int *ids, long count, long d, float *y);
    /// dw[ids[i]] += dy[i] for `count` rows, in order, skipping rows whose id is `skip` (-1: none):
    /// the first `width` floats of rows `stride` floats apart in dy and dw (a share of the columns
    /// per thread; width = stride for whole rows).
    void (*embedding_scatter_add)(const int *ids, long count, long width, long stride, const float *dy, float *dw,
                                  long skip);
    /// (a, b, c) -> (b, a, c) for contiguous row-major x and y (batch-major <-> time-major), the
    /// rows j0..<j1 of y's first axis only (a share per thread).
    void (*transpose_first_two)(const float *x, float *y, long a, long b, long c, long j0, long j1);
    /// One LSTM step's gates for n rows (PyTorch's nn.LSTM, gates i, f, g, o; sigmoid as
    /// 0.5 tanh(x / 2) + 0.5 and tanh as tanh_forward): z (n, 4h) holds the pre-activations with
    /// the recurrent term and receives the gates; previous and state are (n, 2h) rows [h | c]:
    /// c' = f c + i g, h' = o tanh(c'). Same bits on every variant.
    void (*lstm_forward)(float *z, const float *previous, float *state, long n, long h);
    /// Its backward: from dLoss/d[h' | c'] `gradient` (n, 2h), the new and previous states and
    /// the gates z, writes the pre-activations' gradient d (n, 4h) and dc f into the c half of
    /// `previous_gradient` (n, 2h). Same bits on every variant.
    void (*lstm_backward)(const float *gradient, const float *state, const float *previous, const float *z, float *d,
                          float *previous_gradient, long n, long h);
    /// One GRU step (PyTorch's nn.GRU) for n rows: z (n, 6h) is [x-projections of r, u, n |
    /// h-projections of r, u, n] with their biases; r, u and the candidate n replace the first
    /// three; state (n, h) = (1 - u) n + u previous. Same bits on every variant.
    void (*gru_forward)(float *z, const float *previous, float *state, long n, long h);
    /// Its backward: d (n, 6h) = [dr, du, dn | dr, du, r dn] of the pre-activations from
    /// dLoss/dh' `gradient` (n, h), the previous state and the forward's z; u dh' into
    /// `previous_gradient` (n, h). Same bits on every variant.
    void (*gru_backward)(const float *gradient, const float *previous, const float *z, float *d,
                         float *previous_gradient, long n, long h);
    /// db[j] += dz[r][j], j < width, over `rows` rows `ldz` floats apart, in row order (a bias
    /// gradient). Same bits on every variant.
    void (*column_sums)(const float *dz, long rows, long width, long ldz, float *db);
    /// Batch normalisation's statistics of one channel, its n planes of `size` floats `stride`
    /// apart: the mean and the sum of squared distances from it (each plane summed in 16 float
    /// lanes, lanes and planes in Double). Same bits on every variant.
    void (*batchnorm_moments)(const float *x, long n, long stride, long size, double *mean, double *squares);
    /// h = (x - mean) inv_std and y = gamma h + beta over the channel's planes. Same bits on every variant.
    void (*batchnorm_normalize)(const float *x, float *y, float *h, long n, long stride, long size, float mean,
                                float inv_std, float gamma, float beta);
    /// sum(dy) and sum(dy h) over the channel's planes, summed as batchnorm_moments sums. Same bits
    /// on every variant.
    void (*batchnorm_gradient_sums)(const float *dy, const float *h, long n, long stride, long size, double *sum_dy,
                                    double *sum_dyh);
    /// dx = scale (count dy - sum_dy - h sum_dyh) over the channel's planes. Same bits on every variant.
    void (*batchnorm_input_gradient)(const float *dy, const float *h, float *dx, long n, long stride, long size,
                                     float scale, float count, float sum_dy, float sum_dyh);
    /// Winograd input transform of the tile rows r0 ..< r1 (numbered through the batch):
    /// v[(xi c + ci) ld + t] = (B^T d B)[xi] for the t-th tile of the range and its 4 x 4 input
    /// patch d in channel ci (see winograd.c).
    void (*winograd_input)(const SynapseWinogradShape *s, const float *x, long r0, long r1, float *v, long ld);
    /// Winograd output transform: the outputs of tile rows r0 ..< r1 from m[(xi o + k) ld + t],
    /// y = A^T M A + bias (bias may be NULL).
    void (*winograd_output)(const SynapseWinogradShape *s, const float *m, long ld, long r0, long r1,
                            const float *bias, float *y);
    /// The adjoint of winograd_output: dm[(xi o + k) ld + t] = (A dY A^T)[xi] for each tile's 2 x 2
    /// output gradient dY (zero beyond the output).
    void (*winograd_output_gradient)(const SynapseWinogradShape *s, const float *dy, long r0, long r1, float *dm,
                                     long ld);
    /// The adjoint of winograd_input: dx += B dV B^T of each tile, at its patch (padding dropped);
    /// every dx value gets its sums in tile-row order.
    void (*winograd_input_gradient)(const SynapseWinogradShape *s, const float *dv, long ld, long r0, long r1,
                                    float *dx);
} SynapseKernels;

/// The kernels in use: the best variant the CPU supports, chosen at start, or the one the
/// environment variable SYNAPSE_KERNELS names (generic, avx2, avx512) if the CPU supports it.
const SynapseKernels *synapse_kernels(void);
/// Variant i (0 generic, 1 avx2, 2 avx512), or NULL when the CPU lacks it or i is out of range.
const SynapseKernels *synapse_kernels_variant(int i);
/// Makes variant i the one in use (for tests); returns 0 when it is unavailable.
int synapse_kernels_use(int i);
/// The number of variants (supported or not).
int synapse_kernels_variant_count(void);

/// Output channels padded to the kernels' block (8, or 16 above 8 channels).
long synapse_conv_lanes(long o);
/// wt[(ci kh + u) kw + v][oi] = w[oi][ci][u][v], zero in the padding lanes (lanes(o) columns).
void synapse_conv_transpose(const float *w, long o, long c, long kh, long kw, float *wt);
/// The input gradient as a forward convolution of dy (padded by k - 1 - p) with the flipped
/// weight: returns the shape of that convolution.
SynapseConvShape synapse_conv_input_gradient_shape(const SynapseConvShape *s);
/// wf[(oi kh + u) kw + v][ci] = w[oi][ci][kh-1-u][kw-1-v], zero in the padding lanes (lanes(c)).
void synapse_conv_flip(const float *w, long o, long c, long kh, long kw, float *wf);
/// Winograd filter transform: u[(xi o + k) c + ci] = (G g G^T)[xi] for each 3 x 3 filter
/// g = w[k][ci] of w (o, c, 3, 3).
void synapse_winograd_filter(const float *w, long o, long c, float *u);
/// The adjoint of synapse_winograd_filter: dw[k][ci] += G^T dU G from du (16 x o x c, as u).
void synapse_winograd_filter_gradient(const float *du, long o, long c, float *dw);
long synapse_conv_forward_scratch(const SynapseConvShape *s);
long synapse_conv_weight_scratch(const SynapseConvShape *s);

#endif
