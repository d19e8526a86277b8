#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The kernel operations the cgroup drivers make: cgroupfs files and
/// directories, plus kill(2) and a short sleep for emptying a group. Behind a
/// protocol so the drivers run against `RecordingCgroupFS` in unit tests.
package protocol CgroupFS: Sendable {
    /// mkdir(2) with mode 0755.
    func mkdir(_ path: String) throws(SandboxError)
    /// rmdir(2).
    func rmdir(_ path: String) throws(SandboxError)
    /// open(2) + one write(2) of the whole value + close(2): cgroupfs takes a
    /// value in a single write.
    func write(_ path: String, _ value: String) throws(SandboxError)
    /// open(2) + read(2) to the end + close(2).
    func read(_ path: String) throws(SandboxError) -> String
    /// access(2), F_OK.
    func exists(_ path: String) -> Bool
    /// Names of the subdirectories of `path` (child cgroups), via opendir(3)/readdir(3).
    func list(_ path: String) throws(SandboxError) -> [String]
    /// kill(2).
    func kill(_ pid: Int32, signal: Int32) throws(SandboxError)
    /// usleep(3), while waiting for a group to empty.
    func pause(microseconds: UInt32)
}

/// The errno a cgroupfs operation failed with, nil for other errors.
func cgroupErrno(_ error: SandboxError) -> Int32? {
    if case .syscall(_, let e) = error { return e }
    return nil
}

/// `CgroupFS` on the real kernel. Every call captures errno at once and
/// retries EINTR in `retryingInterrupts`.
package struct LiveCgroupFS: CgroupFS {
    package init() {}

    package func mkdir(_ path: String) throws(SandboxError) {
        let rc = retryingInterrupts { Int(Glibc.mkdir(path, 0o755)) }
        if rc.result < 0 { throw .syscall("mkdir(\(path))", errno: rc.errno) }
    }

    package func rmdir(_ path: String) throws(SandboxError) {
        let rc = retryingInterrupts { Int(Glibc.rmdir(path)) }
        if rc.result < 0 { throw .syscall("rmdir(\(path))", errno: rc.errno) }
    }

    package func write(_ path: String, _ value: String) throws(SandboxError) {
        let fd = try open(path, O_WRONLY)
        defer { close(fd) }
        var value = value
        let rc = value.withUTF8 { bytes in
            retryingInterrupts { Glibc.write(fd, bytes.baseAddress, bytes.count) }
        }
        if rc.result < 0 { throw .syscall("write(\(path), \"\(value)\")", errno: rc.errno) }
    }

    package func read(_ path: String) throws(SandboxError) -> String {
        let fd = try open(path, O_RDONLY)
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = 4096
        while true {
            var failure: Int32 = 0
            let got = [UInt8](unsafeUninitializedCapacity: chunk) { buffer, count in
                let rc = retryingInterrupts { Glibc.read(fd, buffer.baseAddress!, chunk) }
                count = max(0, rc.result)
                if rc.result < 0 { failure = rc.errno }
            }
            if failure != 0 { throw .syscall("read(\(path))", errno: failure) }
            bytes += got
            // cgroupfs hands over everything that fits in one read, so a short
            // read is the end: the hot CPU-usage read costs no second read(2).
            if got.count < chunk { break }
            chunk *= 2
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    package func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    package func list(_ path: String) throws(SandboxError) -> [String] {
        guard let dir = opendir(path) else { throw .syscall("opendir(\(path))", errno: errno) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            guard entry.pointee.d_type == UInt8(DT_DIR) else { continue }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    package func kill(_ pid: Int32, signal: Int32) throws(SandboxError) {
        let rc = retryingInterrupts { Int(Glibc.kill(pid, signal)) }
        if rc.result < 0 { throw .syscall("kill(\(pid), \(signal))", errno: rc.errno) }
    }

    package func pause(microseconds: UInt32) {
        usleep(microseconds)
    }

    private func open(_ path: String, _ flags: Int32) throws(SandboxError) -> Int32 {
        let rc = retryingInterrupts { Int(Glibc.open(path, flags | O_CLOEXEC)) }
        if rc.result < 0 { throw .syscall("open(\(path))", errno: rc.errno) }
        return Int32(rc.result)
    }

    /// The one place EINTR is retried; errno is read before anything else can change it.
    private func retryingInterrupts(_ call: () -> Int) -> (result: Int, errno: Int32) {
        while true {
            let result = call()
            let e = result < 0 ? errno : 0
            if result < 0 && e == EINTR { continue }
            return (result, e)
        }
    }
}
