/// One MessagePack value, as INGInious's back-end packs its messages
/// (msgpack-python with use_bin_type=True): text and bytes are kept apart
/// (str and bin families), and a map keeps its wire order, because a Python
/// dict does and a byte-for-byte comparison with it needs the same order.
///
/// Integers: decoding gives `.int` for every value that fits an Int64 and
/// `.uint` only above it; `.int(5) == .uint(5)`, so either may be built.
public enum MessagePackValue: Sendable {
    case `nil`
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    /// float32 and float64 alike; encoded as float64, as Python packs a float.
    case float(Double)
    case string(String)
    case binary([UInt8])
    case array([MessagePackValue])
    /// Key-value pairs in wire order; equal only in the same order.
    case map([(MessagePackValue, MessagePackValue)])
    /// An extension type (timestamps are ext -1): kept as bytes, never interpreted.
    case ext(type: Int8, data: [UInt8])
}

/// What is wrong with bytes that are not one MessagePack value. Offsets are
/// from the start of the input, at the first byte of the part that is wrong.
public enum MessagePackError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The input ends inside a fixed-size part (a type byte, a length, a number).
    case truncated(offset: Int, format: String, needed: Int, remaining: Int)
    /// A length or count says more than the bytes left could hold (an array or a
    /// map needs at least one byte per element).
    case lengthBeyondInput(offset: Int, format: String, declared: UInt64, remaining: Int)
    case invalidUTF8(offset: Int, length: Int)
    case tooDeep(offset: Int, limit: Int)
    /// 0xc1, the one type byte the format never uses.
    case reservedByte(offset: Int)
    /// The input holds more than one value.
    case trailingBytes(offset: Int, count: Int)

    public var description: String {
        switch self {
        case .truncated(let offset, let format, let needed, let remaining):
            "MessagePack: truncated at byte \(offset): \(format) needs \(needed) bytes, \(remaining) left"
        case .lengthBeyondInput(let offset, let format, let declared, let remaining):
            "MessagePack: \(format) at byte \(offset) declares \(declared), more than the \(remaining) bytes left"
        case .invalidUTF8(let offset, let length):
            "MessagePack: the str of \(length) bytes at byte \(offset) is not valid UTF-8"
        case .tooDeep(let offset, let limit):
            "MessagePack: arrays and maps nested deeper than \(limit) at byte \(offset)"
        case .reservedByte(let offset):
            "MessagePack: byte \(offset) is 0xc1, which the format never uses"
        case .trailingBytes(let offset, let count):
            "MessagePack: \(count) bytes after the value, from byte \(offset)"
        }
    }
}

extension MessagePackValue: Equatable {
    public static func == (a: MessagePackValue, b: MessagePackValue) -> Bool {
        switch (a, b) {
        case (.nil, .nil): true
        case let (.bool(x), .bool(y)): x == y
        case let (.int(x), .int(y)): x == y
        case let (.uint(x), .uint(y)): x == y
        case let (.int(x), .uint(y)), let (.uint(y), .int(x)): x >= 0 && UInt64(x) == y
        // Same bits too, so a NaN read twice compares equal.
        case let (.float(x), .float(y)): x == y || x.bitPattern == y.bitPattern
        // The same bytes: Swift's String == equates canonically equivalent
        // spellings ("é" composed and decomposed), which the wire does not.
        case let (.string(x), .string(y)): x.utf8.elementsEqual(y.utf8)
        case let (.binary(x), .binary(y)): x == y
        case let (.array(x), .array(y)): x == y
        case let (.map(x), .map(y)): x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        case let (.ext(t, x), .ext(u, y)): t == u && x == y
        default: false
        }
    }
}

// MARK: - Reading values

extension MessagePackValue {
    /// The value of the first pair whose key is the string `key`, in a map.
    public subscript(key: String) -> MessagePackValue? {
        guard case .map(let pairs) = self else { return nil }
        return pairs.first { $0.0 == .string(key) }?.1
    }

    public var stringValue: String? { if case .string(let s) = self { s } else { nil } }
    public var boolValue: Bool? { if case .bool(let b) = self { b } else { nil } }
    public var int64Value: Int64? {
        switch self {
        case .int(let i): i
        case .uint(let u): Int64(exactly: u)
        default: nil
        }
    }

    /// The name errors use for what a value is.
    package var kind: String {
        switch self {
        case .nil: "nil"
        case .bool: "bool"
        case .int, .uint: "int"
        case .float: "float"
        case .string: "str"
        case .binary: "bin"
        case .array: "array"
        case .map: "map"
        case .ext(let type, _): "ext \(type)"
        }
    }
}

// MARK: - Encoding

extension MessagePackValue {
    /// The value in the smallest format that holds it, as msgpack-python packs
    /// it with use_bin_type=True: a non-negative integer in the unsigned family,
    /// a negative one in the signed family, every float as float64.
    public func encode() -> [UInt8] {
        var out: [UInt8] = []
        append(to: &out)
        return out
    }

    func append(to out: inout [UInt8]) {
        switch self {
        case .nil: out.append(0xc0)
        case .bool(let b): out.append(b ? 0xc3 : 0xc2)
        case .int(let i) where i >= 0: Self.appendUnsigned(UInt64(i), to: &out)
        case .int(let i): Self.appendNegative(i, to: &out)
        case .uint(let u): Self.appendUnsigned(u, to: &out)
        case .float(let d):
            out.append(0xcb)
            Self.appendBigEndian(d.bitPattern, bytes: 8, to: &out)
        case .string(let s):
            let utf8 = s.utf8
            Self.appendHeader(utf8.count, fix: 0xa0, fixLimit: 31, sized: (0xd9, 0xda, 0xdb), what: "a str", to: &out)
            out.append(contentsOf: utf8)
        case .binary(let bytes):
            Self.appendHeader(bytes.count, fix: nil, fixLimit: -1, sized: (0xc4, 0xc5, 0xc6), what: "a bin", to: &out)
            out.append(contentsOf: bytes)
        case .array(let items):
            Self.appendHeader(items.count, fix: 0x90, fixLimit: 15, sized: (nil, 0xdc, 0xdd), what: "an array", to: &out)
            for item in items { item.append(to: &out) }
        case .map(let pairs):
            Self.appendHeader(pairs.count, fix: 0x80, fixLimit: 15, sized: (nil, 0xde, 0xdf), what: "a map", to: &out)
            for (key, value) in pairs {
                key.append(to: &out)
                value.append(to: &out)
            }
        case .ext(let type, let data):
            switch data.count {
            case 1: out.append(0xd4)
            case 2: out.append(0xd5)
            case 4: out.append(0xd6)
            case 8: out.append(0xd7)
            case 16: out.append(0xd8)
            default: Self.appendHeader(data.count, fix: nil, fixLimit: -1, sized: (0xc7, 0xc8, 0xc9), what: "an ext", to: &out)
            }
            out.append(UInt8(bitPattern: type))
            out.append(contentsOf: data)
        }
    }

    private static func appendUnsigned(_ u: UInt64, to out: inout [UInt8]) {
        switch u {
        case 0...0x7f: out.append(UInt8(u))
        case 0...0xff: out.append(0xcc); out.append(UInt8(u))
        case 0...0xffff: out.append(0xcd); appendBigEndian(u, bytes: 2, to: &out)
        case 0...0xffff_ffff: out.append(0xce); appendBigEndian(u, bytes: 4, to: &out)
        default: out.append(0xcf); appendBigEndian(u, bytes: 8, to: &out)
        }
    }

    private static func appendNegative(_ i: Int64, to out: inout [UInt8]) {
        let bits = UInt64(bitPattern: i)
        switch i {
        case -32 ..< 0: out.append(UInt8(truncatingIfNeeded: bits))
        case -0x80 ..< 0: out.append(0xd0); appendBigEndian(bits, bytes: 1, to: &out)
        case -0x8000 ..< 0: out.append(0xd1); appendBigEndian(bits, bytes: 2, to: &out)
        case -0x8000_0000 ..< 0: out.append(0xd2); appendBigEndian(bits, bytes: 4, to: &out)
        default: out.append(0xd3); appendBigEndian(bits, bytes: 8, to: &out)
        }
    }

    /// A length or count: the fix form when it fits, else the 8-, 16- or 32-bit
    /// form (arrays and maps have no 8-bit one).
    private static func appendHeader(_ count: Int, fix: UInt8?, fixLimit: Int, sized: (UInt8?, UInt8, UInt8),
                                     what: String, to out: inout [UInt8]) {
        if let fix, count <= fixLimit {
            out.append(fix | UInt8(count))
        } else if let b8 = sized.0, count <= 0xff {
            out.append(b8); out.append(UInt8(count))
        } else if count <= 0xffff {
            out.append(sized.1); appendBigEndian(UInt64(count), bytes: 2, to: &out)
        } else {
            // A message is built by the agent itself, and a ZeroMQ frame never carries 4 GiB.
            precondition(count <= 0xffff_ffff, "MessagePack cannot hold \(what) of \(count) entries (4 GiB at most)")
            out.append(sized.2); appendBigEndian(UInt64(count), bytes: 4, to: &out)
        }
    }

    private static func appendBigEndian(_ value: UInt64, bytes: Int, to out: inout [UInt8]) {
        for shift in stride(from: (bytes - 1) * 8, through: 0, by: -8) {
            out.append(UInt8(truncatingIfNeeded: value >> UInt64(shift)))
        }
    }
}

// MARK: - Decoding

extension MessagePackValue {
    /// Arrays and maps nested deeper than this are refused: the reader recurses
    /// once per level, and no INGInious message goes past a handful.
    public static let maxDepth = 64

    /// The one value `bytes` holds, all of it. Hostile input gives an error,
    /// never a crash; nothing is allocated for a length before the bytes it
    /// declares are known to be there.
    public static func decode(_ bytes: [UInt8]) throws(MessagePackError) -> MessagePackValue {
        var reader = MessagePackReader(bytes: bytes)
        let value = try reader.value(depth: 0)
        if reader.offset < bytes.count {
            throw .trailingBytes(offset: reader.offset, count: bytes.count - reader.offset)
        }
        return value
    }
}

struct MessagePackReader {
    let bytes: [UInt8]
    var offset = 0

    var remaining: Int { bytes.count - offset }

    mutating func value(depth: Int) throws(MessagePackError) -> MessagePackValue {
        let start = offset
        let type = try uint(1, format: "a type byte")
        switch type {
        case 0x00...0x7f: return .int(Int64(type))
        case 0xe0...0xff: return .int(Int64(Int8(bitPattern: UInt8(type))))
        case 0x80...0x8f: return try map(count: Int(type & 0x0f), format: "fixmap", at: start, depth: depth)
        case 0x90...0x9f: return try array(count: Int(type & 0x0f), format: "fixarray", at: start, depth: depth)
        case 0xa0...0xbf: return try string(length: Int(type & 0x1f), format: "fixstr", at: start)
        case 0xc0: return .nil
        case 0xc1: throw .reservedByte(offset: start)
        case 0xc2: return .bool(false)
        case 0xc3: return .bool(true)
        case 0xc4: return .binary(try body(length: Int(try uint(1, format: "bin8")), format: "bin8", at: start))
        case 0xc5: return .binary(try body(length: Int(try uint(2, format: "bin16")), format: "bin16", at: start))
        case 0xc6: return .binary(try body(length: Int(try uint(4, format: "bin32")), format: "bin32", at: start))
        case 0xc7: return try ext(length: Int(try uint(1, format: "ext8")), format: "ext8", at: start)
        case 0xc8: return try ext(length: Int(try uint(2, format: "ext16")), format: "ext16", at: start)
        case 0xc9: return try ext(length: Int(try uint(4, format: "ext32")), format: "ext32", at: start)
        case 0xca: return .float(Double(Float(bitPattern: UInt32(try uint(4, format: "float32")))))
        case 0xcb: return .float(Double(bitPattern: try uint(8, format: "float64")))
        case 0xcc: return .int(Int64(try uint(1, format: "uint8")))
        case 0xcd: return .int(Int64(try uint(2, format: "uint16")))
        case 0xce: return .int(Int64(try uint(4, format: "uint32")))
        case 0xcf:
            let u = try uint(8, format: "uint64")
            return Int64(exactly: u).map { .int($0) } ?? .uint(u)
        case 0xd0: return .int(Int64(Int8(truncatingIfNeeded: try uint(1, format: "int8"))))
        case 0xd1: return .int(Int64(Int16(truncatingIfNeeded: try uint(2, format: "int16"))))
        case 0xd2: return .int(Int64(Int32(truncatingIfNeeded: try uint(4, format: "int32"))))
        case 0xd3: return .int(Int64(bitPattern: try uint(8, format: "int64")))
        case 0xd4: return try ext(length: 1, format: "fixext1", at: start)
        case 0xd5: return try ext(length: 2, format: "fixext2", at: start)
        case 0xd6: return try ext(length: 4, format: "fixext4", at: start)
        case 0xd7: return try ext(length: 8, format: "fixext8", at: start)
        case 0xd8: return try ext(length: 16, format: "fixext16", at: start)
        case 0xd9: return try string(length: Int(try uint(1, format: "str8")), format: "str8", at: start)
        case 0xda: return try string(length: Int(try uint(2, format: "str16")), format: "str16", at: start)
        case 0xdb: return try string(length: Int(try uint(4, format: "str32")), format: "str32", at: start)
        case 0xdc: return try array(count: Int(try uint(2, format: "array16")), format: "array16", at: start, depth: depth)
        case 0xdd: return try array(count: Int(try uint(4, format: "array32")), format: "array32", at: start, depth: depth)
        case 0xde: return try map(count: Int(try uint(2, format: "map16")), format: "map16", at: start, depth: depth)
        default: return try map(count: Int(try uint(4, format: "map32")), format: "map32", at: start, depth: depth)
        }
    }

    /// A big-endian unsigned integer of `size` bytes.
    private mutating func uint(_ size: Int, format: String) throws(MessagePackError) -> UInt64 {
        guard size <= remaining else { throw .truncated(offset: offset, format: format, needed: size, remaining: remaining) }
        var value: UInt64 = 0
        for byte in bytes[offset ..< offset + size] { value = value << 8 | UInt64(byte) }
        offset += size
        return value
    }

    private mutating func body(length: Int, format: String, at start: Int) throws(MessagePackError) -> [UInt8] {
        guard length <= remaining else {
            throw .lengthBeyondInput(offset: start, format: format, declared: UInt64(length), remaining: remaining)
        }
        defer { offset += length }
        return Array(bytes[offset ..< offset + length])
    }

    private mutating func string(length: Int, format: String, at start: Int) throws(MessagePackError) -> MessagePackValue {
        let bodyStart = offset
        let utf8 = try body(length: length, format: format, at: start)
        guard let text = String(validating: utf8, as: UTF8.self) else { throw .invalidUTF8(offset: bodyStart, length: length) }
        return .string(text)
    }

    private mutating func ext(length: Int, format: String, at start: Int) throws(MessagePackError) -> MessagePackValue {
        let type = Int8(truncatingIfNeeded: try uint(1, format: format + " type"))
        return .ext(type: type, data: try body(length: length, format: format, at: start))
    }

    private mutating func array(count: Int, format: String, at start: Int, depth: Int) throws(MessagePackError) -> MessagePackValue {
        guard depth < MessagePackValue.maxDepth else { throw .tooDeep(offset: start, limit: MessagePackValue.maxDepth) }
        // Each element takes at least a byte: a count beyond the bytes left is a lie.
        guard count <= remaining else {
            throw .lengthBeyondInput(offset: start, format: format, declared: UInt64(count), remaining: remaining)
        }
        var items: [MessagePackValue] = []
        items.reserveCapacity(count)
        for _ in 0 ..< count { items.append(try value(depth: depth + 1)) }
        return .array(items)
    }

    private mutating func map(count: Int, format: String, at start: Int, depth: Int) throws(MessagePackError) -> MessagePackValue {
        guard depth < MessagePackValue.maxDepth else { throw .tooDeep(offset: start, limit: MessagePackValue.maxDepth) }
        guard count <= remaining / 2 else {
            throw .lengthBeyondInput(offset: start, format: format, declared: UInt64(count), remaining: remaining)
        }
        var pairs: [(MessagePackValue, MessagePackValue)] = []
        pairs.reserveCapacity(count)
        for _ in 0 ..< count {
            let key = try value(depth: depth + 1)
            pairs.append((key, try value(depth: depth + 1)))
        }
        return .map(pairs)
    }
}
