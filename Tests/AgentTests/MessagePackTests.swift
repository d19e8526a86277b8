import Testing
@testable import Agent
@testable import MessagePack

/// Decodes, or records the error: `#expect(throws:)` cannot name a typed-throws case's payload.
private func decodeError(_ bytes: [UInt8]) -> MessagePackError? {
    do {
        _ = try MessagePackValue.decode(bytes)
        return nil
    } catch {
        return error
    }
}

/// A fixed, seeded generator: the fuzz cases are the same on every run.
private struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

@Suite("MessagePack, byte for byte as msgpack-python packs with use_bin_type=True")
struct MessagePackTests {
    // Each expected byte string is msgpack.packb(x, use_bin_type=True) of the Python value (msgpack 1.1).
    static let known: [(MessagePackValue, [UInt8])] = [
        (.int(0), [0x00]),
        (.int(1), [0x01]),
        (.int(127), [0x7f]),
        (.int(128), [0xcc, 0x80]),
        (.int(255), [0xcc, 0xff]),
        (.int(256), [0xcd, 0x01, 0x00]),
        (.int(65535), [0xcd, 0xff, 0xff]),
        (.int(65536), [0xce, 0x00, 0x01, 0x00, 0x00]),
        (.int(4_294_967_295), [0xce, 0xff, 0xff, 0xff, 0xff]),
        (.int(4_294_967_296), [0xcf, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00]),
        (.int(Int64.max), [0xcf, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
        (.uint(UInt64(Int64.max) + 1), [0xcf, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]),
        (.uint(UInt64.max), [0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
        (.int(-1), [0xff]),
        (.int(-32), [0xe0]),
        (.int(-33), [0xd0, 0xdf]),
        (.int(-128), [0xd0, 0x80]),
        (.int(-129), [0xd1, 0xff, 0x7f]),
        (.int(-32768), [0xd1, 0x80, 0x00]),
        (.int(-32769), [0xd2, 0xff, 0xff, 0x7f, 0xff]),
        (.int(-2_147_483_648), [0xd2, 0x80, 0x00, 0x00, 0x00]),
        (.int(-2_147_483_649), [0xd3, 0xff, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff]),
        (.int(Int64.min), [0xd3, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]),
        (.nil, [0xc0]),
        (.bool(true), [0xc3]),
        (.bool(false), [0xc2]),
        (.float(1.5), [0xcb, 0x3f, 0xf8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]),
        (.float(-0.0), [0xcb, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]),
        (.float(3.141592653589793), [0xcb, 0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18]),
        (.string(""), [0xa0]),
        (.string("a"), [0xa1, 0x61]),
        (.string("é"), [0xa2, 0xc3, 0xa9]),
        (.binary([]), [0xc4, 0x00]),
        (.binary([0x00, 0xff]), [0xc4, 0x02, 0x00, 0xff]),
        (.array([]), [0x90]),
        (.array([.int(1), .array([.int(2)])]), [0x92, 0x01, 0x91, 0x02]),
        (.map([]), [0x80]),
        (.map([(.string("a"), .int(1))]), [0x81, 0xa1, 0x61, 0x01]),
        // msgpack.ExtType(5, b"ab"), ExtType(1, b"abc")
        (.ext(type: 5, data: [0x61, 0x62]), [0xd5, 0x05, 0x61, 0x62]),
        (.ext(type: 1, data: [0x61, 0x62, 0x63]), [0xc7, 0x03, 0x01, 0x61, 0x62, 0x63]),
    ]

    @Test func knownEncodingsMatchPythonByteForByte() throws {
        for (value, bytes) in Self.known {
            #expect(value.encode() == bytes, "\(value)")
            #expect(try MessagePackValue.decode(bytes) == value, "\(bytes)")
        }
    }

    /// The header Python writes for each size on either side of a format's limit.
    @Test(arguments: [
        (31, [0xbf]), (32, [0xd9, 0x20]), (255, [0xd9, 0xff]), (256, [0xda, 0x01, 0x00]),
        (65535, [0xda, 0xff, 0xff]), (65536, [0xdb, 0x00, 0x01, 0x00, 0x00]),
    ] as [(Int, [UInt8])])
    func stringLengthBoundaries(_ length: Int, _ header: [UInt8]) throws {
        let value = MessagePackValue.string(String(repeating: "x", count: length))
        let bytes = value.encode()
        #expect(Array(bytes.prefix(header.count)) == header)
        #expect(bytes.count == header.count + length)
        #expect(try MessagePackValue.decode(bytes) == value)
    }

    @Test(arguments: [
        (0, [0xc4, 0x00]), (255, [0xc4, 0xff]), (256, [0xc5, 0x01, 0x00]),
        (65535, [0xc5, 0xff, 0xff]), (65536, [0xc6, 0x00, 0x01, 0x00, 0x00]),
    ] as [(Int, [UInt8])])
    func binaryLengthBoundaries(_ length: Int, _ header: [UInt8]) throws {
        let value = MessagePackValue.binary([UInt8](repeating: 0x78, count: length))
        let bytes = value.encode()
        #expect(Array(bytes.prefix(header.count)) == header)
        #expect(try MessagePackValue.decode(bytes) == value)
    }

    @Test(arguments: [
        (15, [0x9f], [0x8f]), (16, [0xdc, 0x00, 0x10], [0xde, 0x00, 0x10]),
        (65535, [0xdc, 0xff, 0xff], [0xde, 0xff, 0xff]),
        (65536, [0xdd, 0x00, 0x01, 0x00, 0x00], [0xdf, 0x00, 0x01, 0x00, 0x00]),
    ] as [(Int, [UInt8], [UInt8])])
    func arrayAndMapCountBoundaries(_ count: Int, _ arrayHeader: [UInt8], _ mapHeader: [UInt8]) throws {
        let array = MessagePackValue.array((0 ..< count).map { .int(Int64($0)) })
        let arrayBytes = array.encode()
        #expect(Array(arrayBytes.prefix(arrayHeader.count)) == arrayHeader)
        #expect(try MessagePackValue.decode(arrayBytes) == array)

        // As Python's {str(i): i for i in range(n)}.
        let map = MessagePackValue.map((0 ..< count).map { (.string(String($0)), .int(Int64($0))) })
        let mapBytes = map.encode()
        #expect(Array(mapBytes.prefix(mapHeader.count)) == mapHeader)
        #expect(try MessagePackValue.decode(mapBytes) == map)
    }

    /// Formats Python never writes for these values but other packers may: each is read.
    @Test func everyFormatFamilyIsRead() throws {
        let cases: [([UInt8], MessagePackValue)] = [
            ([0xca, 0x3f, 0xc0, 0x00, 0x00], .float(1.5)),  // float32
            ([0xd0, 0x05], .int(5)),  // int8, positive
            ([0xd1, 0x00, 0x05], .int(5)),
            ([0xd2, 0xff, 0xff, 0xff, 0xfe], .int(-2)),
            ([0xd3, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07], .int(7)),
            ([0xcf, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01], .int(1)),
            ([0xd9, 0x01, 0x61], .string("a")),
            ([0xda, 0x00, 0x01, 0x61], .string("a")),
            ([0xdb, 0x00, 0x00, 0x00, 0x01, 0x61], .string("a")),
            ([0xc5, 0x00, 0x01, 0x09], .binary([9])),
            ([0xc6, 0x00, 0x00, 0x00, 0x01, 0x09], .binary([9])),
            ([0xdc, 0x00, 0x01, 0xc0], .array([.nil])),
            ([0xdd, 0x00, 0x00, 0x00, 0x01, 0xc0], .array([.nil])),
            ([0xde, 0x00, 0x01, 0x01, 0x02], .map([(.int(1), .int(2))])),
            ([0xdf, 0x00, 0x00, 0x00, 0x01, 0x01, 0x02], .map([(.int(1), .int(2))])),
            ([0xd4, 0xff, 0x01], .ext(type: -1, data: [1])),
            ([0xd6, 0xff, 0x00, 0x00, 0x00, 0x01], .ext(type: -1, data: [0, 0, 0, 1])),  // a timestamp
            ([0xd7, 0x02] + [UInt8](repeating: 3, count: 8), .ext(type: 2, data: [UInt8](repeating: 3, count: 8))),
            ([0xd8, 0x02] + [UInt8](repeating: 3, count: 16), .ext(type: 2, data: [UInt8](repeating: 3, count: 16))),
            ([0xc8, 0x00, 0x01, 0x07, 0x09], .ext(type: 7, data: [9])),
            ([0xc9, 0x00, 0x00, 0x00, 0x01, 0x07, 0x09], .ext(type: 7, data: [9])),
        ]
        for (bytes, value) in cases {
            #expect(try MessagePackValue.decode(bytes) == value, "\(bytes)")
        }
    }

    @Test func extensionsRoundTripInTheSmallestFormat() throws {
        for (count, type) in [(1, 0xd4), (2, 0xd5), (4, 0xd6), (8, 0xd7), (16, 0xd8), (0, 0xc7), (3, 0xc7), (256, 0xc8), (65536, 0xc9)] {
            let value = MessagePackValue.ext(type: -1, data: [UInt8](repeating: 0x78, count: count))
            let bytes = value.encode()
            #expect(bytes.first == UInt8(type), "ext of \(count) bytes")
            #expect(try MessagePackValue.decode(bytes) == value)
        }
        // msgpack.packb(msgpack.ExtType(1, b"x" * 256)) starts c8 01 00 01 78.
        #expect(Array(MessagePackValue.ext(type: 1, data: [UInt8](repeating: 0x78, count: 256)).encode().prefix(5)) == [0xc8, 0x01, 0x00, 0x01, 0x78])
    }

    @Test func integersCompareByValueAndMapsByOrder() {
        #expect(MessagePackValue.int(5) == .uint(5))
        #expect(MessagePackValue.uint(5) == .int(5))
        #expect(MessagePackValue.int(-1) != .uint(UInt64.max))
        #expect(MessagePackValue.float(.nan) == .float(.nan))
        #expect(MessagePackValue.int(1) != .float(1))
        let ab: MessagePackValue = .map([(.string("a"), .int(1)), (.string("b"), .int(2))])
        let ba: MessagePackValue = .map([(.string("b"), .int(2)), (.string("a"), .int(1))])
        #expect(ab != ba, "a map is its pairs in wire order")
        #expect(ab["b"] == .int(2) && ab["c"] == nil && MessagePackValue.int(1)["a"] == nil)
        #expect(MessagePackValue.string("\u{e9}") != .string("e\u{301}"), "strings are equal when their bytes are")
    }

    @Test func hostileInputIsAnErrorThatSaysWhatAndWhere() {
        #expect(decodeError([]) == .truncated(offset: 0, format: "a type byte", needed: 1, remaining: 0))
        #expect(decodeError([0xcd, 0x01]) == .truncated(offset: 1, format: "uint16", needed: 2, remaining: 1))
        #expect(decodeError([0xcb, 0, 0, 0]) == .truncated(offset: 1, format: "float64", needed: 8, remaining: 3))
        #expect(decodeError([0xa3, 0x61]) == .lengthBeyondInput(offset: 0, format: "fixstr", declared: 3, remaining: 1))
        // A 4 GiB length in a few bytes: refused before anything is allocated.
        #expect(decodeError([0xdb, 0xff, 0xff, 0xff, 0xff, 0x61]) == .lengthBeyondInput(offset: 0, format: "str32", declared: 4_294_967_295, remaining: 1))
        #expect(decodeError([0xc6, 0xff, 0xff, 0xff, 0xff]) == .lengthBeyondInput(offset: 0, format: "bin32", declared: 4_294_967_295, remaining: 0))
        #expect(decodeError([0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0]) == .lengthBeyondInput(offset: 0, format: "array32", declared: 4_294_967_295, remaining: 1))
        #expect(decodeError([0xdf, 0xff, 0xff, 0xff, 0xff, 0xc0, 0xc0]) == .lengthBeyondInput(offset: 0, format: "map32", declared: 4_294_967_295, remaining: 2))
        #expect(decodeError([0x81, 0xc0]) == .lengthBeyondInput(offset: 0, format: "fixmap", declared: 1, remaining: 1))
        #expect(decodeError([0xc9, 0x00, 0x00, 0x01, 0x00, 0x05]) == .lengthBeyondInput(offset: 0, format: "ext32", declared: 256, remaining: 0))
        #expect(decodeError([0xd4]) == .truncated(offset: 1, format: "fixext1 type", needed: 1, remaining: 0))
        #expect(decodeError([0x91, 0xa2, 0xc3, 0x28]) == .invalidUTF8(offset: 2, length: 2))
        #expect(decodeError([0xa3, 0xed, 0xa0, 0x80]) == .invalidUTF8(offset: 1, length: 3), "a UTF-16 surrogate is not UTF-8")
        #expect(decodeError([0x92, 0xc1, 0x00]) == .reservedByte(offset: 1))
        #expect(decodeError([0x01, 0x02, 0x03]) == .trailingBytes(offset: 1, count: 2))
        #expect(decodeError([0x92, 0x01]) == .lengthBeyondInput(offset: 0, format: "fixarray", declared: 2, remaining: 1))
        #expect(decodeError([0x92, 0x01, 0xcd]) == .truncated(offset: 3, format: "uint16", needed: 2, remaining: 0))
    }

    @Test func nestingStopsAtTheLimit() throws {
        let limit = MessagePackValue.maxDepth
        let deepest = [UInt8](repeating: 0x91, count: limit) + [0xc0]
        var value = MessagePackValue.nil
        for _ in 0 ..< limit { value = .array([value]) }
        #expect(try MessagePackValue.decode(deepest) == value)
        #expect(decodeError([UInt8](repeating: 0x91, count: limit + 1) + [0xc0]) == .tooDeep(offset: limit, limit: limit))
        #expect(decodeError([UInt8](repeating: 0x81, count: 100_000)) == .tooDeep(offset: limit, limit: limit),
                "a map key nests too; a long run is stopped, not recursed into")
        #expect(decodeError([UInt8](repeating: 0x91, count: 1_000_000)) == .tooDeep(offset: limit, limit: limit))
    }

    @Test func errorsSayWhatWasWrongInWords() {
        #expect(MessagePackError.lengthBeyondInput(offset: 0, format: "str32", declared: 9, remaining: 1).description
            == "MessagePack: str32 at byte 0 declares 9, more than the 1 bytes left")
        #expect(MessagePackError.invalidUTF8(offset: 3, length: 2).description == "MessagePack: the str of 2 bytes at byte 3 is not valid UTF-8")
        #expect(MessagePackError.trailingBytes(offset: 1, count: 2).description == "MessagePack: 2 bytes after the value, from byte 1")
    }

    // MARK: - Fuzz

    private static func randomValue(_ rng: inout SplitMix64, depth: Int = 0) -> MessagePackValue {
        let kinds = depth >= 4 ? 8 : 10
        switch Int.random(in: 0 ..< kinds, using: &rng) {
        case 0: return .nil
        case 1: return .bool(Bool.random(using: &rng))
        case 2:
            // Near every boundary, not only uniformly spread (where almost all are 8 bytes).
            let bits = Int.random(in: 0 ... 63, using: &rng)
            let magnitude = Int64.random(in: 0 ... (bits == 63 ? Int64.max : Int64(1) << bits), using: &rng)
            return .int(Bool.random(using: &rng) ? magnitude : -magnitude)
        case 3: return .uint(UInt64.random(in: UInt64(Int64.max) + 1 ... UInt64.max, using: &rng))
        case 4: return .float(Double(bitPattern: rng.next()))
        case 5:
            let scalars = (0 ..< Int.random(in: 0 ... 40, using: &rng)).compactMap { _ in
                Unicode.Scalar(UInt32.random(in: 0 ... (Bool.random(using: &rng) ? 0x7f : 0x10ffff), using: &rng))
            }
            return .string(String(String.UnicodeScalarView(scalars)))
        case 6: return .binary((0 ..< Int.random(in: 0 ... 300, using: &rng)).map { _ in UInt8.random(in: 0 ... 255, using: &rng) })
        case 7: return .ext(type: Int8.random(in: -128 ... 127, using: &rng), data: (0 ..< Int.random(in: 0 ... 20, using: &rng)).map { _ in 7 })
        case 8: return .array((0 ..< Int.random(in: 0 ... 20, using: &rng)).map { _ in randomValue(&rng, depth: depth + 1) })
        default:
            return .map((0 ..< Int.random(in: 0 ... 20, using: &rng)).map { _ in
                (randomValue(&rng, depth: depth + 1), randomValue(&rng, depth: depth + 1))
            })
        }
    }

    @Test func randomValuesRoundTrip() throws {
        var rng = SplitMix64(state: 0x6772_6164_6562_6f78)
        for _ in 0 ..< 3_000 {
            let value = Self.randomValue(&rng)
            let bytes = value.encode()
            let decoded = try MessagePackValue.decode(bytes)
            #expect(decoded == value)
            #expect(decoded.encode() == bytes, "the smallest format is one format")
        }
    }

    /// Random, mutated and truncated inputs: each decodes to a value (which then
    /// round-trips) or to an error; a crash or a hang fails the whole run.
    @Test func randomAndDamagedInputsNeverCrash() {
        var rng = SplitMix64(state: 20_000)
        var decoded = 0, refused = 0
        for round in 0 ..< 20_000 {
            var bytes: [UInt8]
            switch round % 4 {
            case 0: bytes = (0 ..< Int.random(in: 0 ... 64, using: &rng)).map { _ in UInt8.random(in: 0 ... 255, using: &rng) }
            case 1:
                bytes = Self.randomValue(&rng, depth: 2).encode()
                for _ in 0 ... Int.random(in: 0 ... 3, using: &rng) where !bytes.isEmpty {
                    bytes[Int.random(in: 0 ..< bytes.count, using: &rng)] = UInt8.random(in: 0 ... 255, using: &rng)
                }
            case 2:
                bytes = Self.randomValue(&rng, depth: 2).encode()
                bytes = Array(bytes.prefix(Int.random(in: 0 ... bytes.count, using: &rng)))
            default:
                // Container and length headers with random counts, then a little of anything.
                let headers: [UInt8] = [0xdc, 0xdd, 0xde, 0xdf, 0xd9, 0xda, 0xdb, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0x9f, 0x8f, 0xbf]
                bytes = (0 ..< Int.random(in: 1 ... 8, using: &rng)).flatMap { _ in
                    [headers.randomElement(using: &rng) ?? 0xc0] + (0 ..< 4).map { _ in UInt8.random(in: 0 ... 255, using: &rng) }
                }
            }
            do {
                let value = try MessagePackValue.decode(bytes)
                decoded += 1
                let again = try? MessagePackValue.decode(value.encode())
                #expect(again == value)
            } catch {
                refused += 1
                #expect(!error.description.isEmpty)
            }
        }
        #expect(decoded > 1_000 && refused > 1_000, "both paths are exercised: \(decoded) decoded, \(refused) refused")
    }
}
