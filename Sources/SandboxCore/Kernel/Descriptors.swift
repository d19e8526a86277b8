#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSandbox

/// The parent side's syscalls: each captures errno at once, retries EINTR
/// here and nowhere else, and names what it acted on in its error.
package enum Kernel {
    /// pipe2(O_CLOEXEC): (read end, write end).
    package static func pipe(_ what: String) throws(SandboxError) -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        let rc = fds.withUnsafeMutableBufferPointer { cs_pipe_cloexec($0.baseAddress!) }
        if rc < 0 { throw .syscall("pipe2(\(what))", errno: -rc) }
        return (fds[0], fds[1])
    }

    /// open(2) with O_CLOEXEC.
    package static func open(_ path: String, _ flags: Int32, mode: mode_t = 0o644) throws(SandboxError) -> Int32 {
        while true {
            let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
            if fd >= 0 { return fd }
            if errno != EINTR { throw .syscall("open(\(path))", errno: errno) }
        }
    }

    package static func close(_ fd: Int32) {
        if fd >= 0 { _ = Glibc.close(fd) }
    }

    /// read(2) into `buffer`; 0 at end of file, nil when it would block.
    package static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, _ what: String) throws(SandboxError) -> Int? {
        while true {
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n >= 0 { return n }
            if errno == EINTR { continue }
            if errno == EAGAIN { return nil }
            throw .syscall("read(\(what))", errno: errno)
        }
    }

    /// write(2) of every byte, EINTR and short writes retried.
    package static func writeAll(_ fd: Int32, _ bytes: [UInt8], _ what: String) throws(SandboxError) {
        let failure: SandboxError? = bytes.withUnsafeBytes { b in
            do throws(SandboxError) { try writeAll(fd, b, what); return nil } catch { return error }
        }
        if let failure { throw failure }
    }

    package static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, _ what: String) throws(SandboxError) {
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw .syscall("write(\(what))", errno: errno)
            }
            offset += n
        }
    }

    /// open(2), read(2) to the end, close(2): the whole file (small ones:
    /// /proc, cgroupfs, state files).
    package static func readFile(_ path: String) throws(SandboxError) -> [UInt8] {
        let fd = try open(path, O_RDONLY)
        defer { close(fd) }
        var bytes: [UInt8] = []
        while true {
            var failure: Int32 = 0
            let chunk = [UInt8](unsafeUninitializedCapacity: 4096) { buffer, count in
                while true {
                    let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
                    if n < 0 && errno == EINTR { continue }
                    if n < 0 { failure = errno }
                    count = max(0, n)
                    return
                }
            }
            if failure != 0 { throw .syscall("read(\(path))", errno: failure) }
            if chunk.isEmpty { return bytes }
            bytes += chunk
        }
    }

    /// The file as UTF-8 text, or nil when it cannot be read.
    package static func readText(_ path: String) -> String? {
        (try? readFile(path)).map { String(decoding: $0, as: UTF8.self) }
    }

    /// opendir(3)/readdir(3): the names in `path` (without . and ..), and
    /// whether each is a directory (d_type; no stat).
    package static func directoryEntries(_ path: String) throws(SandboxError) -> [(name: String, isDirectory: Bool)] {
        guard let dir = opendir(path) else { throw .syscall("opendir(\(path))", errno: errno) }
        defer { closedir(dir) }
        var entries: [(name: String, isDirectory: Bool)] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { entries.append((name, entry.pointee.d_type == UInt8(DT_DIR))) }
        }
        return entries
    }

    package static func setNonBlocking(_ fd: Int32) {
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
    }

    /// poll(2) on the given descriptors; returns the revents of each. EINTR counts as a timeout.
    package static func poll(_ fds: [Int32], timeoutMs: Int32) throws(SandboxError) -> [Int16] {
        var pfds = fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        let rc = Glibc.poll(&pfds, nfds_t(pfds.count), timeoutMs)
        if rc < 0 {
            if errno == EINTR { return Array(repeating: 0, count: fds.count) }
            throw .syscall("poll(box descriptors)", errno: errno)
        }
        return pfds.map(\.revents)
    }

    /// wait4(2) for one child, blocking; returns its wait status and resource usage.
    package static func wait(_ pid: pid_t) throws(SandboxError) -> (status: Int32, usage: rusage) {
        var status: Int32 = 0
        var usage = rusage()
        while true {
            let r = wait4(pid, &status, 0, &usage)
            if r == pid { return (status, usage) }
            if r < 0 && errno == EINTR { continue }
            throw .syscall("wait4(\(pid))", errno: errno)
        }
    }

    /// pidfd_send_signal(2); ESRCH (already gone) is not an error.
    package static func signal(pidfd: Int32, _ sig: Int32) {
        _ = cs_pidfd_send_signal(pidfd, sig)
    }

    /// Runs `call` again while it fails with EINTR; returns its result and the
    /// errno read right after it, before anything else can change it.
    package static func retrying(_ call: () -> Int) -> (result: Int, errno: Int32) {
        while true {
            let result = call()
            let e = result < 0 ? errno : 0
            if result < 0 && e == EINTR { continue }
            return (result, e)
        }
    }

    package static func monotonicNs() -> Int64 { cs_monotonic_ns() }
}

extension rusage {
    var cpuMs: Double {
        Double(ru_utime.tv_sec + ru_stime.tv_sec) * 1000 + Double(ru_utime.tv_usec + ru_stime.tv_usec) / 1000
    }
}
