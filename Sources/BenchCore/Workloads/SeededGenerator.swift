/// A seeded pseudo-random generator: xoshiro256** (Blackman & Vigna), seeded
/// through splitmix64.
///
/// Hand-written rather than `SystemRandomNumberGenerator` or Foundation's
/// generators because the workloads must come out byte for byte the same on
/// every platform and Swift version: the standard library documents no seeded
/// generator, and `Int.random(in:using:)`'s reduction is not promised to stay
/// the same. Every draw here is a fixed integer formula.
package struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    package init(seed: UInt64) {
        var sm = SplitMix64(state: seed)
        s0 = sm.next(); s1 = sm.next(); s2 = sm.next(); s3 = sm.next()
    }

    /// An independent stream for one named part (a table, a file set), so a
    /// dataset can be regenerated alone and still come out the same.
    package init(seed: UInt64, stream: String) {
        // FNV-1a of the name, mixed into the seed: stable across platforms,
        // unlike `String.hashValue`, which is randomised per process.
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in stream.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        self.init(seed: seed ^ h)
    }

    @inline(__always)
    package mutating func next() -> UInt64 {
        let result = rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = rotl(s3, 45)
        return result
    }

    /// Uniform integer in `lo...hi` by Lemire's multiply-shift (bias below 2^-40
    /// for the ranges used here), a fixed formula unlike `Int.random(in:)`.
    @inline(__always)
    package mutating func int(_ lo: Int, _ hi: Int) -> Int {
        let span = UInt64(hi - lo + 1)
        return lo + Int(span.multipliedFullWidth(by: next()).high)
    }

    /// True with probability `percent` / 100.
    @inline(__always)
    package mutating func percent(_ percent: Int) -> Bool { int(1, 100) <= percent }

    @inline(__always)
    private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
}

/// splitmix64: turns one 64-bit seed into well-spread generator state.
struct SplitMix64 {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

extension SeededGenerator {
    /// The 62 characters of TPC-C's a-strings and of the file sets' content.
    static let alphanumerics: [UInt8] = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)

    /// Fills `buffer` with uniformly drawn alphanumeric bytes. Each 64-bit draw
    /// yields 8 characters by repeated multiply-by-62 (taking the high word as
    /// the character, the low word as the remaining randomness): 8x fewer draws
    /// than one per byte, which matters for the 450 MB of file sets.
    package mutating func fillAlphanumeric(_ buffer: UnsafeMutableRawBufferPointer) {
        let table = Self.alphanumerics
        table.withUnsafeBufferPointer { t in
            guard let base = buffer.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
            let count = buffer.count
            var i = 0
            while i < count {
                var x = next()
                let end = min(i + 8, count)
                while i < end {
                    let m = x.multipliedFullWidth(by: 62)
                    base[i] = t[Int(m.high)]
                    x = m.low
                    i += 1
                }
            }
        }
    }

    /// Random digits (TPC-C's n-string).
    package mutating func fillDigits(_ buffer: UnsafeMutableRawBufferPointer) {
        guard let base = buffer.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
        for i in 0..<buffer.count { base[i] = 0x30 &+ UInt8(int(0, 9)) }
    }
}

extension SeededGenerator {
    /// First output for seed 42, pinned by the tests so that a change of the
    /// generator (which would change every dataset) cannot go unnoticed.
    static let referenceSeed42First: UInt64 = 1_546_998_764_402_558_742
}
