#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// What both drivers share: waiting for a group to empty, names, and the
// formats of cgroupfs files.


/// Poll `isEmpty` with growing pauses (0.5 ms up to 20 ms), about one second in all.
func waitForEmptyCgroup(fs: any Syscalls, what: String, _ isEmpty: () throws(SandboxError) -> Bool)
    throws(SandboxError)
{
    var slept: UInt32 = 0
    var pause: UInt32 = 500
    while true {
        if try isEmpty() { return }
        if slept >= 1_000_000 {
            throw .syscall("kill(SIGKILL) every process of \(what): still not empty after 1 s", errno: EBUSY)
        }
        fs.pause(microseconds: pause)
        slept += pause
        pause = min(pause * 2, 20_000)
    }
}

/// A box's group is one path component below gradebox's parent group, or
/// two for a box in a `BoxGroup` ("<group>/<box>").
func validateCgroupName(_ name: String) throws(SandboxError) {
    let parts = name.split(separator: "/", omittingEmptySubsequences: false)
    if parts.count > 2 || parts.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." || $0.contains("\0") }) {
        throw .invalidRequest("cgroup name \"\(name)\": must be one path component, or two for a box in a group")
    }
}

/// A file holding one number ("12345\n"); nil when it does not.
func parseCgroupNumber(_ text: String) -> UInt64? {
    var text = text
    return text.withUTF8 { parseNumber($0[...]) }
}

/// The value of `key` in a flat-keyed file ("oom_kill 3\n", "usage_usec 42\n").
/// On bytes, as parseCgroupNumber: these are read for every box, and
/// Character-wise splitting and trimming cost more than the pread.
func parseKeyedValue(_ text: String, key: String) -> UInt64? {
    var text = text, key = key
    return text.withUTF8 { bytes in
        key.withUTF8 { key -> UInt64? in
            var start = 0
            while start < bytes.count {
                let end = bytes[start...].firstIndex(of: 0x0a) ?? bytes.count
                let line = bytes[start..<end]
                if line.count > key.count, line[start + key.count] == 0x20, line.starts(with: key) {
                    return parseNumber(line[(start + key.count + 1)...])
                }
                start = end + 1
            }
            return nil
        }
    }
}

/// A decimal number with blanks around it; nil for anything else ("max", overflow).
private func parseNumber(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) -> UInt64? {
    func blank(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0a || b == 0x09 }
    var i = bytes.startIndex, end = bytes.endIndex
    while i < end, blank(bytes[i]) { i += 1 }
    while end > i, blank(bytes[end - 1]) { end -= 1 }
    guard i < end else { return nil }
    var value: UInt64 = 0
    while i < end {
        let d = bytes[i] &- 0x30
        guard d < 10 else { return nil }
        let (times10, o1) = value.multipliedReportingOverflow(by: 10)
        let (sum, o2) = times10.addingReportingOverflow(UInt64(d))
        guard !o1, !o2 else { return nil }
        value = sum
        i += 1
    }
    return value
}

func parsePids(_ text: String) -> [Int32] {
    text.split(separator: "\n").compactMap { Int32(trimmed($0)) }
}

private func trimmed(_ s: Substring) -> Substring {
    let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\t" }
    guard let start = s.firstIndex(where: { !isSpace($0) }), let end = s.lastIndex(where: { !isSpace($0) }) else { return "" }
    return s[start...end]
}
