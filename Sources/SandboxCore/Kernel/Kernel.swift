#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSandbox
import SystemPackage

/// The live door to the kernel (`Syscalls`): each call captures errno at
/// once, retries EINTR here and nowhere else, and names what it acted on in
/// its error. The static functions are the calls themselves, on raw
/// descriptors, for the code that only a real kernel can exercise (the
/// supervisor's loop, the image store's reads); the logic that has a fake
/// takes a `Syscalls` and reaches them through `Kernel.live`.
package struct Kernel: Syscalls {
    package static let live = Kernel()
    package init() {}

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

    /// poll(2) for input on the given descriptors; returns the revents of each. EINTR counts as a timeout.
    package static func poll(_ fds: [Int32], timeoutMs: Int32) throws(SandboxError) -> [Int16] {
        try poll(fds, events: [Int16](repeating: Int16(POLLIN), count: fds.count), timeoutMs: timeoutMs)
    }

    /// poll(2) for `events[i]` on `fds[i]`; returns the revents of each. EINTR counts as a timeout.
    package static func poll(_ fds: [Int32], events: [Int16], timeoutMs: Int32) throws(SandboxError) -> [Int16] {
        var pfds = zip(fds, events).map { pollfd(fd: $0, events: $1, revents: 0) }
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

    /// mkdir(2); EEXIST is not an error.
    package static func makeDirectory(_ path: String, mode: mode_t = 0o755) throws(SandboxError) {
        let rc = retrying { Int(Glibc.mkdir(path, mode)) }
        if rc.result < 0 && rc.errno != EEXIST { throw .syscall("mkdir(\(path))", errno: rc.errno) }
    }

    /// mount(MS_REMOUNT) of the file system at `path` with `options`.
    package static func remount(_ path: String, options: String) throws(SandboxError) {
        let rc = retrying { Int(mount(nil, path, nil, UInt(MS_REMOUNT), options)) }
        if rc.result != 0 { throw .syscall("mount(remount \(path) \(options))", errno: rc.errno) }
    }

    package enum FileKind { case regular, null, other }

    /// fstat(2): what `fd` is open on, as far as handing it to a box goes; nil when it is not open.
    package static func kind(of fd: Int32) -> FileKind? {
        var st = stat()
        guard retrying({ Int(fstat(fd, &st)) }).result == 0 else { return nil }
        if st.st_mode & S_IFMT == S_IFREG { return .regular }
        // /dev/null is character device 1:3 (glibc's dev_t encoding of small numbers: major << 8 | minor).
        if st.st_mode & S_IFMT == S_IFCHR && st.st_rdev == (1 << 8 | 3) { return .null }
        return .other
    }

    /// Whether a box may be given the caller's `fd` itself as a standard
    /// stream: a pipe, FIFO, socket, regular file or character device. Not a
    /// directory: from another mount namespace, its ".." leads out of the box's root.
    package static func isStream(_ fd: Int32) -> Bool {
        var st = stat()
        guard retrying({ Int(fstat(fd, &st)) }).result == 0 else { return false }
        switch st.st_mode & S_IFMT {
        case S_IFIFO, S_IFSOCK, S_IFREG, S_IFCHR: return true
        default: return false
        }
    }

    /// lseek(2) to nowhere: the descriptor's offset; nil where it has none (a pipe).
    package static func offset(of fd: Int32) -> Int64? {
        let at = lseek(fd, 0, SEEK_CUR)
        return at < 0 ? nil : Int64(at)
    }

    /// `name` in the folder of this process's executable (/proc/self/exe):
    /// gradebox's tools are installed side by side.
    package static func besideExecutable(_ name: String) -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        let me = n > 0 ? String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
        return me.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/") + "/" + name
    }

    /// True when `path` is on a tmpfs.
    package static func isTmpfs(_ path: String) -> Bool { cs_is_tmpfs(path) == 1 }

    /// rm -rf for a directory gradebox made (no symlinks followed).
    package static func removeTree(_ path: String) {
        for entry in (try? directoryEntries(path)) ?? [] {
            let child = path + "/" + entry.name
            if entry.isDirectory { removeTree(child) } else { _ = Glibc.unlink(child) }
        }
        _ = Glibc.rmdir(path)
    }

    // MARK: Syscalls

    package func open(_ path: String, _ flags: Int32, mode: mode_t) throws(SandboxError) -> FileDescriptor {
        FileDescriptor(rawValue: try Kernel.open(path, flags, mode: mode))
    }

    package func close(_ fd: FileDescriptor) { Kernel.close(fd.rawValue) }

    package func pipe(_ what: String) throws(SandboxError) -> (read: FileDescriptor, write: FileDescriptor) {
        let p = try Kernel.pipe(what)
        return (FileDescriptor(rawValue: p.read), FileDescriptor(rawValue: p.write))
    }

    package func writeAll(_ fd: FileDescriptor, _ bytes: [UInt8], _ what: String) throws(SandboxError) {
        try Kernel.writeAll(fd.rawValue, bytes, what)
    }

    package func write(_ path: String, _ value: String) throws(SandboxError) {
        let fd = try Kernel.open(path, O_WRONLY)
        defer { Kernel.close(fd) }
        try Kernel.writeAll(fd, Array(value.utf8), "\(path), \"\(value)\"")
    }

    package func readAt(_ fd: FileDescriptor, _ what: String) throws(SandboxError) -> String {
        var failure: Int32 = 0
        let bytes = [UInt8](unsafeUninitializedCapacity: 4096) { buffer, count in
            while true {
                let n = Glibc.pread(fd.rawValue, buffer.baseAddress, buffer.count, 0)
                if n < 0 && errno == EINTR { continue }
                if n < 0 { failure = errno }
                count = max(0, n)
                return
            }
        }
        if failure != 0 { throw .syscall("pread(\(what))", errno: failure) }
        return String(decoding: bytes, as: UTF8.self)
    }

    package func writeAt(_ fd: FileDescriptor, _ value: String, _ what: String) throws(SandboxError) {
        var value = value
        let failure: Int32 = value.withUTF8 { b in
            while true {
                let n = Glibc.pwrite(fd.rawValue, b.baseAddress, b.count, 0)
                if n >= 0 { return n == b.count ? 0 : EIO }
                if errno != EINTR { return errno }
            }
        }
        if failure != 0 { throw .syscall("pwrite(\(what), \"\(value)\")", errno: failure) }
    }

    package func read(_ path: String) throws(SandboxError) -> String {
        String(decoding: try Kernel.readFile(path), as: UTF8.self)
    }

    package func mkdir(_ path: String, mode: mode_t) throws(SandboxError) {
        let rc = Kernel.retrying { Int(Glibc.mkdir(path, mode)) }
        if rc.result < 0 { throw .syscall("mkdir(\(path))", errno: rc.errno) }
    }

    package func mkfifo(_ path: String, mode: mode_t) throws(SandboxError) {
        let rc = Kernel.retrying { Int(Glibc.mkfifo(path, mode)) }
        if rc.result < 0 { throw .syscall("mkfifo(\(path))", errno: rc.errno) }
    }

    package func rmdir(_ path: String) throws(SandboxError) {
        let rc = Kernel.retrying { Int(Glibc.rmdir(path)) }
        if rc.result < 0 { throw .syscall("rmdir(\(path))", errno: rc.errno) }
    }

    package func unlink(_ path: String) { _ = Glibc.unlink(path) }

    package func removeTree(_ path: String) { Kernel.removeTree(path) }

    package func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    package func list(_ path: String) throws(SandboxError) -> [String] {
        try Kernel.directoryEntries(path).filter(\.isDirectory).map(\.name).sorted()
    }

    package func tryLock(_ fd: FileDescriptor) -> Bool {
        Kernel.retrying { Int(flock(fd.rawValue, LOCK_EX | LOCK_NB)) }.result == 0
    }

    package func spawn(_ plan: LaunchPlan, _ fds: LaunchDescriptors) throws(SandboxError) -> LaunchedProcess {
        try CCore.spawn(plan, fds)
    }

    package func enter(initPidfd: FileDescriptor, _ plan: LaunchPlan, _ fds: LaunchDescriptors) throws(SandboxError) -> LaunchedProcess? {
        try CCore.enter(initPidfd: initPidfd, plan, fds)
    }

    package func signal(_ pidfd: FileDescriptor, _ sig: Int32) { Kernel.signal(pidfd: pidfd.rawValue, sig) }

    package func kill(_ pid: Int32, signal: Int32) throws(SandboxError) {
        let rc = Kernel.retrying { Int(Glibc.kill(pid, signal)) }
        if rc.result < 0 { throw .syscall("kill(\(pid), \(signal))", errno: rc.errno) }
    }

    package func wait(_ pid: pid_t) throws(SandboxError) -> (status: Int32, usage: rusage) { try Kernel.wait(pid) }

    package func pause(microseconds: UInt32) { usleep(microseconds) }

    package func makeNetworkNamespace(boundAt path: String) throws(SandboxError) {
        var step: Int32 = 0
        let rc = cs_unshare_netns_holder(path, &step)
        if rc < 0 {
            // CS_STEP_CLONE here: no thread could be started to make it.
            let what = step == CS_STEP_CLONE.rawValue ? "pthread_create(network namespace maker)" : StepNaming.name(step)
            throw .syscall("\(what) for \(path)", errno: -rc)
        }
    }

    package func isNamespaceFile(_ path: String) -> Bool { cs_is_nsfs(path) == 1 }

    @discardableResult
    package func detach(_ path: String) -> Bool { umount2(path, Int32(MNT_DETACH)) == 0 }

    package func rewrite(_ path: String, _ bytes: [UInt8]) throws(SandboxError) {
        let fd = try Kernel.open(path, O_WRONLY | O_CREAT, mode: 0o600)
        defer { Kernel.close(fd) }
        let written = Kernel.retrying { bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) } }
        guard written.result == bytes.count else { throw .syscall("pwrite(\(path))", errno: written.result < 0 ? written.errno : EIO) }
        if ftruncate(fd, off_t(bytes.count)) != 0 { throw .syscall("ftruncate(\(path))", errno: errno) }
    }
}

extension rusage {
    package var cpuMs: Double { userMs + systemMs }
    var userMs: Double { Double(ru_utime.tv_sec) * 1000 + Double(ru_utime.tv_usec) / 1000 }
    var systemMs: Double { Double(ru_stime.tv_sec) * 1000 + Double(ru_stime.tv_usec) / 1000 }
}

extension Kernel {

    package func lock(_ fd: FileDescriptor, _ what: String) throws(SandboxError) {
        let rc = Kernel.retrying { Int(flock(fd.rawValue, LOCK_EX)) }
        if rc.result != 0 { throw .syscall("flock(\(what))", errno: rc.errno) }
    }

    package func readBytes(_ path: String) throws(SandboxError) -> [UInt8] { try Kernel.readFile(path) }

    package func entries(_ path: String) throws(SandboxError) -> [(name: String, isDirectory: Bool)] {
        try Kernel.directoryEntries(path)
    }

    package func status(_ path: String) -> FileStatus? {
        var st = stat()
        guard Kernel.retrying({ Int(stat(path, &st)) }).result == 0 else { return nil }
        return FileStatus(device: UInt64(st.st_dev), inode: UInt64(st.st_ino), owner: st.st_uid, mode: st.st_mode,
                          size: Int64(st.st_size), modifiedSeconds: Int64(st.st_mtim.tv_sec), modifiedNanoseconds: Int64(st.st_mtim.tv_nsec))
    }

    package func rename(_ from: String, to: String) throws(SandboxError) {
        let rc = Kernel.retrying { Int(Glibc.rename(from, to)) }
        if rc.result != 0 { throw .syscall("rename(\(from) -> \(to))", errno: rc.errno) }
    }

    package func makeMountTemplate(_ ops: [MountOp], mountPoint: String) -> Result<FileDescriptor, MountTemplateFailure> {
        let (fd, step) = CCore.makeMountTemplate(ops, mountPoint: mountPoint)
        return fd >= 0 ? .success(FileDescriptor(rawValue: fd)) : .failure(MountTemplateFailure(step: step, errno: -fd))
    }

    package func bind(_ source: String, onto target: String) throws(SandboxError) {
        let rc = Kernel.retrying { Int(mount(source, target, nil, UInt(MS_BIND), nil)) }
        if rc.result != 0 { throw .syscall("mount(bind \(source) -> \(target))", errno: rc.errno) }
    }

    package func namespaceType(_ fd: FileDescriptor) -> UInt64 {
        UInt64(truncatingIfNeeded: cs_namespace_type(fd.rawValue))
    }

    package func openTree(_ path: String, recursive: Bool, readOnly: Bool) throws(SandboxError) -> FileDescriptor {
        // MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, as a read-only bind's remount sets them.
        var failed: Int32 = 0
        let fd = cs_open_tree(path, recursive ? 1 : 0, readOnly ? 0x7 : 0, &failed)
        if fd < 0 { throw .syscall(failed == 0 ? "open_tree(\(path))" : "mount_setattr(\(path))", errno: -fd) }
        return FileDescriptor(rawValue: fd)
    }

    package func openProcess(_ pid: Int32, startedAt start: UInt64) -> FileDescriptor? {
        let fd = cs_pidfd_open(pid)
        if fd < 0 { return nil }
        guard let fields = Kernel.statFields(pid), fields.count > 19, UInt64(fields[19]) == start,
              let state = fields.first, state != "Z", state != "X" else {
            Kernel.close(fd)
            return nil
        }
        return FileDescriptor(rawValue: fd)
    }

    package func processStartTime(_ pid: Int32) -> UInt64? {
        // Field 22 overall; after "pid (comm)" it is the 20th.
        guard let f = Kernel.statFields(pid), f.count > 19 else { return nil }
        return UInt64(f[19])
    }

    /// Sends `sig` to the process `parent` has as its first child (a box's
    /// program, its init's child), through a pidfd taken before the parent
    /// is checked: a pid reused meanwhile is never signalled. False when
    /// there is no such child any more.
    package static func signalFirstChild(of parent: Int32, _ sig: Int32) -> Bool {
        guard let text = readText("/proc/\(parent)/task/\(parent)/children"),
              let child = text.split(separator: " ").first.flatMap({ Int32($0) }) else { return false }
        let fd = cs_pidfd_open(child)
        if fd < 0 { return false }
        defer { close(fd) }
        guard let fields = statFields(child), fields.count > 1, Int32(fields[1]) == parent else { return false }
        return cs_pidfd_send_signal(fd, sig) == 0
    }

    /// Field 3 of /proc/<pid>/stat: R, S, D, Z (zombie), X (dead)...
    package static func processState(_ pid: Int32) -> String? {
        statFields(pid)?.first.map(String.init)
    }

    /// Fields of /proc/<pid>/stat after the command name (which may hold spaces).
    private static func statFields(_ pid: Int32) -> [Substring]? {
        guard let text = readText("/proc/\(pid)/stat"), let close = text.lastIndex(of: ")") else { return nil }
        return text[text.index(after: close)...].split(separator: " ")
    }

    package func poll(_ fds: [FileDescriptor], timeoutMs: Int32) throws(SandboxError) -> [Int16] {
        try Kernel.poll(fds.map(\.rawValue), timeoutMs: timeoutMs)
    }
}
