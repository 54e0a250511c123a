import Foundation

/// The one seeded source behind every random draw in Synapse: weight initialisation, shuffling,
/// dropout masks, validation splits and augmentation.
///
/// Algorithm: xoshiro256** (Blackman and Vigna, 2018), 256 bits of state, period 2^256 - 1,
/// seeded through SplitMix64 so that nearby seeds give unrelated streams. A class, so that the
/// trainer and its layers share one stream; its `state` can be saved and restored exactly, which
/// is what makes a resumed run identical to one that never stopped.
public final class RandomGenerator: RandomNumberGenerator {
    /// The four state words, for checkpoints. Restore a saved state with `restore(_:)`, which
    /// checks it.
    public internal(set) var state: [UInt64] {
        get { [s0, s1, s2, s3] }
        set {
            precondition(RandomGenerator.isValidState(newValue), "a xoshiro256** state is four words, not all zero")
            (s0, s1, s2, s3) = (newValue[0], newValue[1], newValue[2], newValue[3])
        }
    }

    /// Restores the stream exactly as it was when `words` (a saved `state`) was read.
    ///
    /// - Throws: `SynapseError.invalidArgument` unless `words` is a state `isValidState` accepts;
    ///   the generator is then unchanged.
    public func restore(_ words: [UInt64]) throws {
        guard RandomGenerator.isValidState(words) else {
            throw SynapseError.invalidArgument("a random generator's state is four words, not all zero; got \(words.count) word(s)"
                                               + (words.count == 4 ? ", all zero" : ""))
        }
        state = words
    }

    /// Takes the state of `other`, so that both draw the same stream from here on.
    public func restore(from other: RandomGenerator) { state = other.state }

    /// True for a state `state` accepts: four words, not all zero (xoshiro's one forbidden state,
    /// from which it would draw zeros forever). Check a saved state with this before applying it.
    public static func isValidState(_ words: [UInt64]) -> Bool {
        words.count == 4 && words.contains { $0 != 0 }
    }

    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    /// A generator whose stream is fixed by `seed`.
    public init(seed: UInt64) {
        var x = seed
        func splitMix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitMix(); s1 = splitMix(); s2 = splitMix(); s3 = splitMix()
    }

    /// The next 64 random bits.
    @inline(__always)
    public func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = s3 << 45 | s3 >> 19
        return result
    }

    /// Uniform in [0, 1), 24 random bits.
    @inline(__always)
    public func uniform() -> Float { Float(next() >> 40) * 0x1p-24 }

    /// Uniform in [low, high).
    @inline(__always)
    public func uniform(_ low: Float, _ high: Float) -> Float { low + (high - low) * uniform() }

    /// Standard normal draw (Box-Muller; one of the pair is used, so the stream stays simple).
    public func normal(mean: Float = 0, standardDeviation: Float = 1) -> Float {
        var u1 = Double(next() >> 11) * 0x1p-53
        if u1 < .leastNormalMagnitude { u1 = .leastNormalMagnitude }
        let u2 = Double(next() >> 11) * 0x1p-53
        let z = (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
        return mean + standardDeviation * Float(z)
    }

    /// Uniform in 0..<n (unbiased).
    public func below(_ n: Int) -> Int {
        precondition(n > 0, "below(\(n)): n must be positive")
        var generator = self
        return Int(generator.next(upperBound: UInt64(n)))
    }

    /// A uniformly random permutation of 0..<n (Fisher-Yates).
    public func permutation(_ n: Int) -> [Int] {
        var indices = Array(0..<n)
        shuffle(&indices)
        return indices
    }

    /// Shuffles `values` in place (Fisher-Yates), the same way for the same state.
    public func shuffle(_ values: inout [Int]) {
        guard values.count > 1 else { return }
        for i in stride(from: values.count - 1, to: 0, by: -1) {
            let j = below(i + 1)
            values.swapAt(i, j)
        }
    }
}
