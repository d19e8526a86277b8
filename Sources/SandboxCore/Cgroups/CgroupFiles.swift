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
    UInt64(trimmed(text[...]))
}

/// The value of `key` in a flat-keyed file ("oom_kill 3\n", "usage_usec 42\n").
func parseKeyedValue(_ text: String, key: String) -> UInt64? {
    for line in text.split(separator: "\n") {
        let parts = line.split(separator: " ", maxSplits: 1)
        if parts.count == 2, parts[0] == key { return UInt64(trimmed(parts[1])) }
    }
    return nil
}

func parsePids(_ text: String) -> [Int32] {
    text.split(separator: "\n").compactMap { Int32(trimmed($0)) }
}

private func trimmed(_ s: Substring) -> Substring {
    let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\t" }
    guard let start = s.firstIndex(where: { !isSpace($0) }), let end = s.lastIndex(where: { !isSpace($0) }) else { return "" }
    return s[start...end]
}
