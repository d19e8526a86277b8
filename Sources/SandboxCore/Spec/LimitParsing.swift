/// Parses the CLI's limit syntax: sizes with K/M/G suffixes (powers of 1024),
/// times in seconds with fractions. Zero, negative and unparseable values are
/// errors that name the option.
public enum LimitParsing {
    public static func bytes(_ text: String, option: String) throws(SandboxError) -> UInt64 {
        let t = text.trimmingSpaces
        guard let last = t.last else { throw .invalidRequest("\(option): empty size") }
        var digits = t
        var multiplier: Double = 1
        switch last {
        case "k", "K": multiplier = 1024
        case "m", "M": multiplier = 1024 * 1024
        case "g", "G": multiplier = 1024 * 1024 * 1024
        case "b", "B": multiplier = 1
        default: break
        }
        if !(last.isASCII && last.asciiValue! >= 0x30 && last.asciiValue! <= 0x39) {
            guard multiplier != 1 || last == "b" || last == "B" else {
                throw .invalidRequest("\(option): unknown size suffix in '\(text)' (use K, M or G)")
            }
            digits = String(t.dropLast())
        }
        guard let value = Double(digits), value.isFinite else {
            throw .invalidRequest("\(option): cannot parse size '\(text)' (use a number with an optional K, M or G suffix, e.g. 64M)")
        }
        guard value > 0 else { throw .invalidRequest("\(option): size must be positive, got '\(text)'") }
        let bytes = value * multiplier
        guard bytes >= 1, bytes < Double(UInt64.max) else { throw .invalidRequest("\(option): size out of range: '\(text)'") }
        return UInt64(bytes)
    }

    public static func seconds(_ text: String, option: String) throws(SandboxError) -> Double {
        var t = text.trimmingSpaces
        if t.hasSuffix("ms"), let v = Double(t.dropLast(2)) { return try positive(v / 1000, text, option) }
        if t.hasSuffix("s") { t.removeLast() }
        guard let v = Double(t), v.isFinite else {
            throw .invalidRequest("\(option): cannot parse time '\(text)' (seconds, fractions allowed, e.g. 2 or 0.5)")
        }
        return try positive(v, text, option)
    }

    /// `SOFT` or `SOFT:HARD` seconds: past SOFT the verdict is TO, the kill comes at HARD (a judge's slack).
    public static func cpuTime(_ text: String, option: String) throws(SandboxError) -> (soft: Double, hard: Double?) {
        guard let colon = text.firstIndex(of: ":") else { return (try seconds(text, option: option), nil) }
        let soft = try seconds(String(text[..<colon]), option: option)
        let hard = try seconds(String(text[text.index(after: colon)...]), option: option)
        guard hard >= soft else { throw .invalidRequest("\(option): the hard limit must be at least the soft one, got '\(text)'") }
        return (soft, hard)
    }

    public static func count(_ text: String, option: String) throws(SandboxError) -> Int {
        guard let v = Int(text.trimmingSpaces) else { throw .invalidRequest("\(option): cannot parse number '\(text)'") }
        guard v > 0 else { throw .invalidRequest("\(option): must be positive, got \(v)") }
        return v
    }

    public static func cpus(_ text: String, option: String) throws(SandboxError) -> Double {
        guard let v = Double(text.trimmingSpaces), v.isFinite else { throw .invalidRequest("\(option): cannot parse CPU count '\(text)'") }
        return try positive(v, text, option)
    }

    private static func positive(_ v: Double, _ text: String, _ option: String) throws(SandboxError) -> Double {
        guard v > 0 else { throw .invalidRequest("\(option): must be positive, got '\(text)'") }
        return v
    }
}

extension String {
    var trimmingSpaces: String {
        // On bytes: Character comparisons would load Unicode tables on the CLI's hot path.
        let bytes = utf8
        guard let first = bytes.firstIndex(where: { $0 != 0x20 }) else { return "" }
        let last = bytes.lastIndex(where: { $0 != 0x20 })!
        return String(self[first...last])
    }
}
