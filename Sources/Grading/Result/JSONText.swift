/// JSON text of a `JSONValue` as Python's `json.dumps(value, sort_keys=True)`
/// writes it (", " and ": " between items, non-ASCII as \u escapes, integral
/// numbers without a fraction): what INGInious's own processes write into a
/// container, made without Foundation's JSONSerialization, a tenth of the
/// grader's CPU for one small file per job.
extension JSONValue {
    var jsonText: String {
        var out = ""
        write(into: &out)
        return out
    }

    private func write(into out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let d):
            if d.isFinite, d == d.rounded(), abs(d) < 1e15 { out += String(Int64(d)) }
            else if d.isFinite { out += "\(d)" }
            else { out += d.isNaN ? "NaN" : (d < 0 ? "-Infinity" : "Infinity") }   // as Python writes them
        case .string(let s): Self.quote(s, into: &out)
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += ", " }
                item.write(into: &out)
            }
            out += "]"
        case .object(let fields):
            out += "{"
            for (i, key) in fields.keys.sorted().enumerated() {
                if i > 0 { out += ", " }
                Self.quote(key, into: &out)
                out += ": "
                fields[key]!.write(into: &out)
            }
            out += "}"
        }
    }

    private static func quote(_ s: String, into out: inout String) {
        out += "\""
        for unit in s.utf16 {
            switch unit {
            case 0x22: out += "\\\""
            case 0x5c: out += "\\\\"
            case 0x0a: out += "\\n"
            case 0x0d: out += "\\r"
            case 0x09: out += "\\t"
            case 0x08: out += "\\b"
            case 0x0c: out += "\\f"
            case 0x20..<0x7f: out.unicodeScalars.append(Unicode.Scalar(UInt8(unit)))
            default:
                let hex = String(unit, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            }
        }
        out += "\""
    }
}

/// JSON text read into a `JSONValue` (RFC 8259, strictly: no comments, no
/// trailing commas, no control characters in strings), by hand: a
/// run_student request is a line of a few fields, and JSONSerialization
/// took a tenth of a job's user time in the grader for it (its objects,
/// NSNumbers and bridging, cold every time). Any text it does not take
/// gives nil; a box writes it, so nothing it holds may crash the reader
/// (nesting is bounded, numbers too large are refused).
enum JSONReader {
    static let depthLimit = 64

    static func value(_ bytes: [UInt8]) -> JSONValue? {
        bytes.withUnsafeBufferPointer { buffer in
            var reader = Cursor(bytes: buffer)
            guard let value = reader.value(depth: 0) else { return nil }
            reader.skipSpace()
            return reader.at == buffer.count ? value : nil
        }
    }

    private struct Cursor {
        let bytes: UnsafeBufferPointer<UInt8>
        var at = 0

        var next: UInt8? { at < bytes.count ? bytes[at] : nil }

        mutating func skipSpace() {
            while let b = next, b == 0x20 || b == 0x0a || b == 0x0d || b == 0x09 { at += 1 }
        }

        mutating func literal(_ word: StaticString, _ value: JSONValue) -> JSONValue? {
            let count = word.utf8CodeUnitCount
            guard at + count <= bytes.count else { return nil }
            for i in 0..<count where bytes[at + i] != word.utf8Start[i] { return nil }
            at += count
            return value
        }

        mutating func value(depth: Int) -> JSONValue? {
            guard depth < JSONReader.depthLimit else { return nil }
            skipSpace()
            switch next {
            case 0x7b?: return object(depth: depth)
            case 0x5b?: return array(depth: depth)
            case 0x22?: return string().map(JSONValue.string)
            case 0x74?: return literal("true", .bool(true))
            case 0x66?: return literal("false", .bool(false))
            case 0x6e?: return literal("null", .null)
            case let b? where b == 0x2d || (b >= 0x30 && b <= 0x39): return number()
            default: return nil
            }
        }

        mutating func object(depth: Int) -> JSONValue? {
            at += 1
            var fields: [String: JSONValue] = [:]
            skipSpace()
            if next == 0x7d { at += 1; return .object(fields) }
            while true {
                skipSpace()
                guard next == 0x22, let key = string() else { return nil }
                skipSpace()
                guard next == 0x3a else { return nil }
                at += 1
                guard let item = value(depth: depth + 1) else { return nil }
                fields[key] = item   // a key given twice: the last one, as Python's json keeps
                skipSpace()
                switch next {
                case 0x2c?: at += 1
                case 0x7d?: at += 1; return .object(fields)
                default: return nil
                }
            }
        }

        mutating func array(depth: Int) -> JSONValue? {
            at += 1
            var items: [JSONValue] = []
            skipSpace()
            if next == 0x5d { at += 1; return .array(items) }
            while true {
                guard let item = value(depth: depth + 1) else { return nil }
                items.append(item)
                skipSpace()
                switch next {
                case 0x2c?: at += 1
                case 0x5d?: at += 1; return .array(items)
                default: return nil
                }
            }
        }

        mutating func hex4() -> UInt32? {
            guard at + 4 <= bytes.count else { return nil }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let b = bytes[at]
                let d: UInt8
                switch b {
                case 0x30...0x39: d = b - 0x30
                case 0x41...0x46: d = b - 0x41 + 10
                case 0x61...0x66: d = b - 0x61 + 10
                default: return nil
                }
                v = v << 4 | UInt32(d)
                at += 1
            }
            return v
        }

        /// A string from its opening quote; its bytes as UTF-8 (invalid sequences as U+FFFD, a lone surrogate too).
        mutating func string() -> String? {
            at += 1
            var out: [UInt8] = []
            func scalar(_ v: UInt32) {
                UTF8.encode(Unicode.Scalar(v) ?? "\u{FFFD}") { out.append($0) }
            }
            while let b = next {
                at += 1
                switch b {
                case 0x22:
                    return String(decoding: out, as: UTF8.self)
                case 0x5c:
                    guard let e = next else { return nil }
                    at += 1
                    switch e {
                    case 0x22, 0x5c, 0x2f: out.append(e)
                    case 0x62: out.append(0x08)
                    case 0x66: out.append(0x0c)
                    case 0x6e: out.append(0x0a)
                    case 0x72: out.append(0x0d)
                    case 0x74: out.append(0x09)
                    case 0x75:
                        guard let unit = hex4() else { return nil }
                        if unit >= 0xD800 && unit < 0xDC00, at + 1 < bytes.count, bytes[at] == 0x5c, bytes[at + 1] == 0x75 {
                            let mark = at
                            at += 2
                            if let low = hex4(), low >= 0xDC00 && low < 0xE000 {
                                scalar(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))
                            } else {
                                at = mark   // not its pair: the next escape stands alone
                                scalar(0xFFFD)
                            }
                        } else {
                            scalar(unit)   // a lone surrogate is no scalar: U+FFFD
                        }
                    default: return nil
                    }
                case 0x00..<0x20:
                    return nil   // control characters are escaped in JSON text
                default:
                    out.append(b)
                }
            }
            return nil
        }

        mutating func number() -> JSONValue? {
            let start = at
            if next == 0x2d { at += 1 }
            func digits() -> Int {
                var n = 0
                while let b = next, b >= 0x30 && b <= 0x39 { at += 1; n += 1 }
                return n
            }
            if next == 0x30 { at += 1 } else if digits() == 0 { return nil }
            if next == 0x2e {
                at += 1
                guard digits() > 0 else { return nil }
            }
            if next == 0x65 || next == 0x45 {
                at += 1
                if next == 0x2b || next == 0x2d { at += 1 }
                guard digits() > 0 else { return nil }
            }
            // A number is a few bytes; one of thousands of digits is refused, not parsed.
            guard at - start <= 400, let d = Double(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<at]), as: UTF8.self)),
                  d.isFinite else { return nil }
            return .number(d)
        }
    }
}
