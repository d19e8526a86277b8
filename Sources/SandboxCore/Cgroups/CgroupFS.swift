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
        let rc = Kernel.retrying { Int(Glibc.mkdir(path, 0o755)) }
        if rc.result < 0 { throw .syscall("mkdir(\(path))", errno: rc.errno) }
    }

    package func rmdir(_ path: String) throws(SandboxError) {
        let rc = Kernel.retrying { Int(Glibc.rmdir(path)) }
        if rc.result < 0 { throw .syscall("rmdir(\(path))", errno: rc.errno) }
    }

    package func write(_ path: String, _ value: String) throws(SandboxError) {
        let fd = try Kernel.open(path, O_WRONLY)
        defer { Kernel.close(fd) }
        try Kernel.writeAll(fd, Array(value.utf8), "\(path), \"\(value)\"")
    }

    package func read(_ path: String) throws(SandboxError) -> String {
        String(decoding: try Kernel.readFile(path), as: UTF8.self)
    }

    package func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    package func list(_ path: String) throws(SandboxError) -> [String] {
        try Kernel.directoryEntries(path).filter(\.isDirectory).map(\.name).sorted()
    }

    package func kill(_ pid: Int32, signal: Int32) throws(SandboxError) {
        let rc = Kernel.retrying { Int(Glibc.kill(pid, signal)) }
        if rc.result < 0 { throw .syscall("kill(\(pid), \(signal))", errno: rc.errno) }
    }

    package func pause(microseconds: UInt32) {
        usleep(microseconds)
    }
}
