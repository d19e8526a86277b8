#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization
import SystemPackage

/// A `Syscalls` door that records every call in order and serves canned
/// file contents, so the cgroup drivers, the launcher, the pool and the
/// lifecycle are unit-tested without root, a cgroup mount or a real box.
/// Directories are tracked (mkdir needs the parent, fails on an existing
/// one; rmdir forgets it); files are what the test sets, or what the code
/// wrote. A file given several contents serves them in turn and then keeps
/// serving the last, which models a `cgroup.procs` that empties after a kill.
/// Descriptors and processes are numbers it hands out; it tracks which are
/// still open or unreaped, so a test can ask what a failed launch left behind.
package final class RecordingSyscalls: Syscalls {
    private struct State {
        var operations: [KernelCall] = []
        var directories: Set<String> = []
        var files: [String: [[UInt8]]] = [:]
        /// Live processes by pid: their start time; gone once SIGKILLed.
        var alive: [Int32: UInt64] = [:]
        var pidfds: [Int32: Int32] = [:]
        var failures: [String: [Int32]] = [:]
        var nextDescriptor: Int32 = 100
        var nextPid: Int32 = 5000
        var openDescriptors: Set<Int32> = []
        var unreaped: Set<Int32> = []
        var locked: Set<String> = []
        var descriptorPaths: [Int32: String] = [:]
        var owners: [String: UInt32] = [:]
    }
    private let state = Mutex(State())

    package init(directories: [String] = [], files: [String: String] = [:]) {
        state.withLock {
            $0.directories = Set(directories)
            $0.files = files.mapValues { [Array($0.utf8)] }
        }
    }

    /// Every call so far, in order.
    package var operations: [KernelCall] { state.withLock { $0.operations } }
    /// Only the calls that change something (all but reads), in order.
    package var changes: [KernelCall] {
        operations.filter { if case .read = $0 { false } else { true } }
    }
    package func clearOperations() { state.withLock { $0.operations.removeAll() } }
    /// Descriptors opened (or made by pipe, spawn) and not closed yet.
    package var openDescriptors: Set<Int32> { state.withLock { $0.openDescriptors } }
    /// Processes spawned or entered and not waited for yet.
    package var unreapedProcesses: Set<Int32> { state.withLock { $0.unreaped } }

    package func setFile(_ path: String, _ contents: String...) {
        state.withLock { $0.files[path] = contents.map { Array($0.utf8) } }
    }
    /// Binary contents (the init's events, say).
    package func setBytes(_ path: String, _ bytes: [UInt8]) {
        state.withLock { $0.files[path] = [bytes] }
    }
    package func file(_ path: String) -> String? { state.withLock { $0.files[path]?.last.map { String(decoding: $0, as: UTF8.self) } } }
    package func addDirectory(_ path: String) { _ = state.withLock { $0.directories.insert(path) } }
    package func hasDirectory(_ path: String) -> Bool { state.withLock { $0.directories.contains(path) } }
    /// The owner `status` reports for `path` (a delegated cgroup's files, say); others look made by the caller.
    package func setOwner(_ path: String, _ uid: UInt32) { state.withLock { $0.owners[path] = uid } }

    /// Make the next call of `kind` (a `KernelCall.kind`: "mkdir", "write",
    /// "open", "spawn", ...) on `path` (a pid's decimal for kill, argv[0] for
    /// spawn and enter, the pipe's name for pipe) fail with `errno`, once per listed errno.
    package func fail(_ kind: String, _ path: String, errno: Int32...) {
        state.withLock { $0.failures["\(kind) \(path)", default: []] += errno }
    }

    private func takeFailure(_ kind: String, _ path: String, in s: inout State) -> Int32? {
        let key = "\(kind) \(path)"
        guard var queue = s.failures[key], !queue.isEmpty else { return nil }
        let e = queue.removeFirst()
        s.failures[key] = queue
        return e
    }

    private static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return "/" }
        return String(path[..<slash])
    }

    /// Records `call`; returns the errno of a failure asked for, if any.
    private func record(_ call: KernelCall, key: String, _ body: (inout State) -> Int32? = { _ in nil }) -> Int32? {
        state.withLock { s in
            s.operations.append(call)
            if let e = takeFailure(call.kind, key, in: &s) { return e }
            return body(&s)
        }
    }

    private func descriptor(for path: String, in s: inout State) -> Int32 {
        let fd = s.nextDescriptor
        s.nextDescriptor += 1
        s.openDescriptors.insert(fd)
        s.descriptorPaths[fd] = path
        return fd
    }

    // MARK: files and directories

    package func open(_ path: String, _ flags: Int32, mode: mode_t) throws(SandboxError) -> FileDescriptor {
        var fd: Int32 = -1
        if let e = record(.open(path), key: path, { s in
            if flags & O_CREAT == 0 && !Self.exists(path, in: s) { return ENOENT }
            if flags & O_CREAT != 0 && s.files[path] == nil { s.files[path] = [[]] }
            fd = descriptor(for: path, in: &s)
            return nil
        }) { throw .syscall("open(\(path))", errno: e) }
        return FileDescriptor(rawValue: fd)
    }

    package func close(_ fd: FileDescriptor) {
        _ = record(.close(fd.rawValue), key: String(fd.rawValue)) { s in
            s.openDescriptors.remove(fd.rawValue)
            if let path = s.descriptorPaths.removeValue(forKey: fd.rawValue) { s.locked.remove(path) }
            return nil
        }
    }

    package func pipe(_ what: String) throws(SandboxError) -> (read: FileDescriptor, write: FileDescriptor) {
        var ends: (Int32, Int32) = (-1, -1)
        if let e = record(.pipe(what), key: what, { s in
            ends = (descriptor(for: "pipe:\(what)", in: &s), descriptor(for: "pipe:\(what)", in: &s))
            return nil
        }) { throw .syscall("pipe2(\(what))", errno: e) }
        return (FileDescriptor(rawValue: ends.0), FileDescriptor(rawValue: ends.1))
    }

    /// Appends to the file the descriptor was opened on (a pipe's bytes go nowhere).
    package func writeAll(_ fd: FileDescriptor, _ bytes: [UInt8], _ what: String) throws(SandboxError) {
        if let e = record(.write(what, String(decoding: bytes, as: UTF8.self)), key: what, { s in
            if let path = s.descriptorPaths[fd.rawValue], s.files[path] != nil { s.files[path] = [(s.files[path]?.last ?? []) + bytes] }
            return nil
        }) { throw .syscall("write(\(what))", errno: e) }
    }

    package func write(_ path: String, _ value: String) throws(SandboxError) {
        if let e = record(.write(path, value), key: path) { throw .syscall("write(\(path), \"\(value)\")", errno: e) }
    }

    package func read(_ path: String) throws(SandboxError) -> String {
        let result: Result<String, SandboxError> = state.withLock { s in
            s.operations.append(.read(path))
            if let e = takeFailure("read", path, in: &s) { return .failure(.syscall("read(\(path))", errno: e)) }
            guard var contents = s.files[path], let first = contents.first else {
                return .failure(.syscall("open(\(path))", errno: ENOENT))
            }
            if contents.count > 1 {
                contents.removeFirst()
                s.files[path] = contents
            }
            return .success(String(decoding: first, as: UTF8.self))
        }
        return try result.get()
    }

    /// A read of the file the descriptor was opened on, recorded as one of its path.
    package func readAt(_ fd: FileDescriptor, _ what: String) throws(SandboxError) -> String {
        guard let path = state.withLock({ $0.descriptorPaths[fd.rawValue] }) else {
            throw .syscall("pread(\(what))", errno: EBADF)
        }
        return try read(path)
    }

    /// A write of the file the descriptor was opened on, recorded as one to its path.
    package func writeAt(_ fd: FileDescriptor, _ value: String, _ what: String) throws(SandboxError) {
        guard let path = state.withLock({ $0.descriptorPaths[fd.rawValue] }) else {
            throw .syscall("pwrite(\(what))", errno: EBADF)
        }
        try write(path, value)
    }

    package func mkdir(_ path: String, mode: mode_t) throws(SandboxError) {
        if let e = record(.mkdir(path), key: path, { s in
            if s.directories.contains(path) { return EEXIST }
            if !s.directories.contains(Self.parent(of: path)) { return ENOENT }
            s.directories.insert(path)
            return nil
        }) { throw .syscall("mkdir(\(path))", errno: e) }
    }

    package func mkfifo(_ path: String, mode: mode_t) throws(SandboxError) {
        if let e = record(.mkfifo(path), key: path, { s in
            if s.files[path] != nil { return EEXIST }
            s.files[path] = [[]]
            return nil
        }) { throw .syscall("mkfifo(\(path))", errno: e) }
    }

    package func rmdir(_ path: String) throws(SandboxError) {
        if let e = record(.rmdir(path), key: path, { s in
            guard s.directories.contains(path) else { return ENOENT }
            // As a cgroup with groups below it refuses (a plain directory would say ENOTEMPTY).
            if s.directories.contains(where: { Self.parent(of: $0) == path }) { return EBUSY }
            s.directories.remove(path)
            return nil
        }) { throw .syscall("rmdir(\(path))", errno: e) }
    }

    package func unlink(_ path: String) {
        _ = record(.unlink(path), key: path) { s in
            s.files[path] = nil
            return nil
        }
    }

    package func removeTree(_ path: String) {
        _ = record(.removeTree(path), key: path) { s in
            s.directories = s.directories.filter { $0 != path && !$0.hasPrefix(path + "/") }
            s.files = s.files.filter { !$0.key.hasPrefix(path + "/") }
            return nil
        }
    }

    package func exists(_ path: String) -> Bool {
        state.withLock { Self.exists(path, in: $0) }
    }

    /// A file the test or the code made, a directory, /dev/null, or a file the
    /// kernel makes with every cgroup (`cgroup.procs` in a known directory).
    private static func exists(_ path: String, in s: State) -> Bool {
        s.directories.contains(path) || s.files[path] != nil || path == "/dev/null"
            || (path.hasSuffix("/cgroup.procs") && s.directories.contains(parent(of: path)))
    }

    package func list(_ path: String) throws(SandboxError) -> [String] {
        let result: [String]? = state.withLock { s in
            guard s.directories.contains(path) else { return nil }
            return s.directories.filter { Self.parent(of: $0) == path }
                .map { String($0.dropFirst(path.count + 1)) }.sorted()
        }
        guard let result else { throw .syscall("opendir(\(path))", errno: ENOENT) }
        return result
    }

    /// A lock on a path is held by one open descriptor of it at a time, until that descriptor is closed.
    package func tryLock(_ fd: FileDescriptor) -> Bool {
        record(.lock(fd.rawValue), key: String(fd.rawValue)) { s in
            guard let path = s.descriptorPaths[fd.rawValue], !s.locked.contains(path) else { return EWOULDBLOCK }
            s.locked.insert(path)
            return nil
        } == nil
    }

    // MARK: processes

    /// A new process, or the errno its making failed with.
    private func process(_ call: KernelCall, key: String) -> (LaunchedProcess?, Int32) {
        var made: LaunchedProcess?
        let e = record(call, key: key) { s in
            let pid = s.nextPid
            s.nextPid += 1
            s.unreaped.insert(pid)
            s.alive[pid] = 1
            let fd = descriptor(for: "pidfd:\(pid)", in: &s)
            s.pidfds[fd] = pid
            made = LaunchedProcess(pid: pid, pidfd: FileDescriptor(rawValue: fd))
            return nil
        }
        return (made, e ?? 0)
    }

    package func spawn(_ plan: LaunchPlan, _ fds: LaunchDescriptors) throws(SandboxError) -> LaunchedProcess {
        let argv0 = plan.argv.first ?? ""
        let (made, e) = process(KernelCall.spawn(argv0: argv0), key: argv0)
        guard let made else { throw .syscall("clone3(\(CCore.namespaceNames(plan.cloneFlags)))", errno: e) }
        return made
    }

    package func enter(initPidfd: FileDescriptor, _ plan: LaunchPlan, _ fds: LaunchDescriptors) throws(SandboxError) -> LaunchedProcess? {
        let argv0 = plan.argv.first ?? ""
        let (made, e) = process(KernelCall.enter(argv0: argv0), key: argv0)
        guard let made else { throw .syscall("fork(exec into box)", errno: e) }
        return made
    }

    /// SIGKILL ends the process (its pidfd polls readable from then on).
    package func signal(_ pidfd: FileDescriptor, _ sig: Int32) {
        _ = record(.signal(pidfd: pidfd.rawValue, sig), key: String(pidfd.rawValue)) { s in
            if sig == SIGKILL, let pid = s.pidfds[pidfd.rawValue] { s.alive[pid] = nil }
            return nil
        }
    }

    package func kill(_ pid: Int32, signal: Int32) throws(SandboxError) {
        if let e = record(.kill(pid, signal: signal), key: String(pid)) { throw .syscall("kill(\(pid), \(signal))", errno: e) }
    }

    package func wait(_ pid: pid_t) throws(SandboxError) -> (status: Int32, usage: rusage) {
        if let e = record(.wait(pid), key: String(pid), { s in s.unreaped.remove(pid) == nil ? ECHILD : nil }) {
            throw .syscall("wait4(\(pid))", errno: e)
        }
        return (0, rusage())
    }

    package func pause(microseconds: UInt32) {}

    // MARK: network namespaces

    package func makeNetworkNamespace(boundAt path: String) throws(SandboxError) {
        if let e = record(.makeNetworkNamespace(path), key: path, { s in
            s.files[path] = [Array("netns".utf8)]
            return nil
        }) { throw .syscall("unshare(CLONE_NEWNET) for \(path)", errno: e) }
    }

    package func isNamespaceFile(_ path: String) -> Bool {
        state.withLock { $0.files[path]?.last == Array("netns".utf8) }
    }

    @discardableResult
    package func detach(_ path: String) -> Bool {
        record(.detach(path), key: path) { s in
            guard s.files[path]?.last == Array("netns".utf8) else { return EINVAL }
            s.files[path] = [[]]
            return nil
        } == nil
    }

    package func rewrite(_ path: String, _ bytes: [UInt8]) throws(SandboxError) {
        if let e = record(.rewrite(path), key: path, { s in
            s.files[path] = [bytes]
            return nil
        }) { throw .syscall("pwrite(\(path))", errno: e) }
    }

    // MARK: the rest

    package func lock(_ fd: FileDescriptor, _ what: String) throws(SandboxError) {
        if !tryLock(fd) { throw .syscall("flock(\(what))", errno: EDEADLK) }
    }

    package func readBytes(_ path: String) throws(SandboxError) -> [UInt8] {
        let bytes: [UInt8]? = state.withLock { s in
            s.operations.append(.read(path))
            return s.files[path]?.last
        }
        guard let bytes else { throw .syscall("open(\(path))", errno: ENOENT) }
        return bytes
    }

    package func entries(_ path: String) throws(SandboxError) -> [(name: String, isDirectory: Bool)] {
        let result: [(name: String, isDirectory: Bool)]? = state.withLock { s in
            guard s.directories.contains(path) else { return nil }
            let dirs = s.directories.filter { Self.parent(of: $0) == path }.map { (name: String($0.dropFirst(path.count + 1)), isDirectory: true) }
            let files = s.files.keys.filter { Self.parent(of: $0) == path }.map { (name: String($0.dropFirst(path.count + 1)), isDirectory: false) }
            return (dirs + files).sorted { $0.name < $1.name }
        }
        guard let result else { throw .syscall("opendir(\(path))", errno: ENOENT) }
        return result
    }

    /// Every file looks made by the caller (or by whom `setOwner` said), writable by it alone, with its path's hash as inode.
    package func status(_ path: String) -> FileStatus? {
        guard exists(path) else { return nil }
        let owner = state.withLock { $0.owners[path] } ?? geteuid()
        return FileStatus(device: 1, inode: UInt64(truncatingIfNeeded: path.hashValue), owner: owner, mode: 0o100600,
                          size: Int64(file(path)?.utf8.count ?? 0), modifiedSeconds: 0, modifiedNanoseconds: 0)
    }

    package func rename(_ from: String, to: String) throws(SandboxError) {
        if let e = record(.rename(from, to), key: from, { s in
            guard let contents = s.files.removeValue(forKey: from) else { return ENOENT }
            s.files[to] = contents
            return nil
        }) { throw .syscall("rename(\(from) -> \(to))", errno: e) }
    }

    package func makeMountTemplate(_ ops: [MountOp], mountPoint: String) -> Result<FileDescriptor, MountTemplateFailure> {
        var fd: Int32 = -1
        if let e = record(.mountTemplate(mountPoint), key: mountPoint, { s in
            fd = descriptor(for: "mnt-namespace", in: &s)
            return nil
        }) { return .failure(MountTemplateFailure(step: 0, errno: e)) }
        return .success(FileDescriptor(rawValue: fd))
    }

    package func bind(_ source: String, onto target: String) throws(SandboxError) {
        if let e = record(.bind(source, target), key: target, { s in
            guard s.files[target] != nil else { return ENOENT }
            s.files[target] = [Array("mnt-namespace".utf8)]
            return nil
        }) { throw .syscall("mount(bind \(source) -> \(target))", errno: e) }
    }

    package func openTree(_ path: String, recursive: Bool, readOnly: Bool) throws(SandboxError) -> FileDescriptor {
        var fd: Int32 = -1
        if let e = record(.openTree(path), key: path, { s in
            fd = descriptor(for: "tree:\(path)", in: &s)
            return nil
        }) { throw .syscall("open_tree(\(path))", errno: e) }
        return FileDescriptor(rawValue: fd)
    }

    package func namespaceType(_ fd: FileDescriptor) -> UInt64 {
        state.withLock { s in s.descriptorPaths[fd.rawValue].map { path in
            path == "mnt-namespace" || s.files[path]?.last == Array("mnt-namespace".utf8) ? CloneFlags.newNS : 0 } ?? 0 }
    }

    package func openProcess(_ pid: Int32, startedAt start: UInt64) -> FileDescriptor? {
        state.withLock { s in
            guard s.alive[pid] == start else { return nil }
            let fd = descriptor(for: "pidfd:\(pid)", in: &s)
            s.pidfds[fd] = pid
            return FileDescriptor(rawValue: fd)
        }
    }

    package func processStartTime(_ pid: Int32) -> UInt64? { state.withLock { $0.alive[pid] } }

    /// A pidfd is readable once its process has ended; other descriptors never are.
    package func poll(_ fds: [FileDescriptor], timeoutMs: Int32) throws(SandboxError) -> [Int16] {
        state.withLock { s in
            fds.map { fd in s.pidfds[fd.rawValue].map { s.alive[$0] == nil ? Int16(POLLIN) : 0 } ?? 0 }
        }
    }
}
