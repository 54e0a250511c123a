import Dense

extension Image {
    /// Resized to `width` x `height` by bilinear interpolation, pixel centres aligned (PyTorch's
    /// `align_corners=False`): output centre x + 0.5 reads input x' = (x + 0.5) W / w. Edges are
    /// extended, and there is no antialiasing, so large reductions alias.
    public func resized(width newWidth: Int, height newHeight: Int) throws -> Image {
        guard newWidth > 0, newHeight > 0 else {
            throw SynapseError.invalidArgument("resize to \(newWidth)x\(newHeight): sizes must be positive")
        }
        return resampled(width: newWidth, height: newHeight, interpolation: .bilinear, fill: .edge,
                         .resize(width: width, height: height, to: newWidth, newHeight))
    }
}
