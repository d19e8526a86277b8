#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SystemPackage

/// The door to the kernel for everything SandboxCore decides on the caller's
/// side: cgroupfs, the launch of a box and its roll-back, the pool's slots,
/// box state. `Kernel` is the live door (the one place that calls libc and
/// retries EINTR); `RecordingSyscalls` is a fake that records each call and
/// fails on request, so the logic above it (drivers, launcher, pool,
/// lifecycle) is unit-tested without root. Descriptors are typed; errors
/// name the syscall and its object.
///
/// Two things stay outside: the C core's own syscalls between clone and
/// execve (`CSandbox`), and the supervisor's poll/read loop over a running
/// box's pipes, which only a real box can exercise.
package protocol Syscalls: Sendable {
    // MARK: files and directories

    /// open(2) with O_CLOEXEC.
    func open(_ path: String, _ flags: Int32, mode: mode_t) throws(SandboxError) -> FileDescriptor
    /// close(2); errors ignored (the descriptor is gone either way).
    func close(_ fd: FileDescriptor)
    /// pipe2(O_CLOEXEC): (read end, write end).
    func pipe(_ what: String) throws(SandboxError) -> (read: FileDescriptor, write: FileDescriptor)
    /// write(2) of every byte, short writes continued.
    func writeAll(_ fd: FileDescriptor, _ bytes: [UInt8], _ what: String) throws(SandboxError)
    /// pread(2) at offset 0 of a small file kept open (a cgroupfs counter): its whole text.
    func readAt(_ fd: FileDescriptor, _ what: String) throws(SandboxError) -> String
    /// pwrite(2) of the whole value at offset 0 into a file kept open (cgroupfs takes a value in a single write).
    func writeAt(_ fd: FileDescriptor, _ value: String, _ what: String) throws(SandboxError)
    /// open(2) + one write(2) of the whole value + close(2): cgroupfs takes a value in a single write.
    func write(_ path: String, _ value: String) throws(SandboxError)
    /// open(2) + read(2) to the end + close(2).
    func read(_ path: String) throws(SandboxError) -> String
    /// mkdir(2) (EEXIST is an error: callers decide).
    func mkdir(_ path: String, mode: mode_t) throws(SandboxError)
    /// mkfifo(3).
    func mkfifo(_ path: String, mode: mode_t) throws(SandboxError)
    /// rmdir(2).
    func rmdir(_ path: String) throws(SandboxError)
    /// unlink(2); a missing file is not an error.
    func unlink(_ path: String)
    /// rm -rf of a directory gradebox made (no symlink followed).
    func removeTree(_ path: String)
    /// access(2), F_OK.
    func exists(_ path: String) -> Bool
    /// Names of the subdirectories of `path` (child cgroups, say), sorted.
    func list(_ path: String) throws(SandboxError) -> [String]
    /// flock(LOCK_EX|LOCK_NB): true when this descriptor now holds the lock.
    func tryLock(_ fd: FileDescriptor) -> Bool
    /// flock(LOCK_EX): waits for the lock.
    func lock(_ fd: FileDescriptor, _ what: String) throws(SandboxError)
    /// open(2) + read(2) to the end + close(2), as bytes.
    func readBytes(_ path: String) throws(SandboxError) -> [UInt8]
    /// opendir(3)/readdir(3): the names in `path` (without . and ..), and whether each is a directory.
    func entries(_ path: String) throws(SandboxError) -> [(name: String, isDirectory: Bool)]
    /// stat(2); nil when there is nothing there.
    func status(_ path: String) -> FileStatus?
    /// rename(2).
    func rename(_ from: String, to: String) throws(SandboxError)

    // MARK: processes

    /// The C core's clone of a box's init (`cs_spawn`).
    func spawn(_ plan: LaunchPlan, _ fds: LaunchDescriptors) throws(SandboxError) -> LaunchedProcess
    /// The C core's fork of a program into a running box (`cs_enter`); nil
    /// when the program could not be forked (the FAILED event says why).
    func enter(initPidfd: FileDescriptor, _ plan: LaunchPlan, _ fds: LaunchDescriptors) throws(SandboxError) -> LaunchedProcess?
    /// pidfd_send_signal(2); a process already gone is not an error.
    func signal(_ pidfd: FileDescriptor, _ sig: Int32)
    /// kill(2).
    func kill(_ pid: Int32, signal: Int32) throws(SandboxError)
    /// wait4(2) for one child, blocking: its wait status and resource usage.
    func wait(_ pid: pid_t) throws(SandboxError) -> (status: Int32, usage: rusage)
    /// usleep(3), while waiting for a group to empty.
    func pause(microseconds: UInt32)
    /// pidfd_open(2) of `pid`, when it is still the process that started at
    /// `start` (field 22 of /proc/<pid>/stat) and not a zombie: a box's init,
    /// not a later process that got its pid.
    func openProcess(_ pid: Int32, startedAt start: UInt64) -> FileDescriptor?
    /// Field 22 of /proc/<pid>/stat: when the process started, in clock ticks since boot.
    func processStartTime(_ pid: Int32) -> UInt64?
    /// poll(2) for input on `fds`: the revents of each. EINTR counts as a timeout.
    func poll(_ fds: [FileDescriptor], timeoutMs: Int32) throws(SandboxError) -> [Int16]

    // MARK: network namespaces of the pool

    /// Makes an empty network namespace (loopback up) and binds it onto the existing file `path`.
    func makeNetworkNamespace(boundAt path: String) throws(SandboxError)
    /// Whether `path` is a bind of a namespace (nsfs), not the plain file under it.
    func isNamespaceFile(_ path: String) -> Bool
    /// umount2(MNT_DETACH); false when nothing was mounted there.
    @discardableResult func detach(_ path: String) -> Bool
    /// pwrite(2) at 0, then ftruncate(2) to length: rewrites a small file in place (see `SlotPool`).
    func rewrite(_ path: String, _ bytes: [UInt8]) throws(SandboxError)

    // MARK: mount templates

    /// The C core's making of a mount namespace from `ops` (`cs_mount_template`):
    /// its descriptor, or the index of the failed op (or step) and the errno.
    func makeMountTemplate(_ ops: [MountOp], mountPoint: String) -> Result<FileDescriptor, MountTemplateFailure>
    /// mount(MS_BIND) of `source` onto the existing file or directory `target`.
    func bind(_ source: String, onto target: String) throws(SandboxError)
    /// A detached, private copy of the mount tree at `path` (open_tree(OPEN_TREE_CLONE), then
    /// mount_setattr): read-only, nosuid and nodev when asked. What a templated box attaches.
    func openTree(_ path: String, recursive: Bool, readOnly: Bool) throws(SandboxError) -> FileDescriptor
    /// The CLONE_NEW* type of the namespace `fd` refers to (NS_GET_NSTYPE), 0 when it is none.
    func namespaceType(_ fd: FileDescriptor) -> UInt64
}

/// What stat(2) says of a file, as far as gradebox asks.
package struct FileStatus: Sendable, Equatable {
    package var device: UInt64
    package var inode: UInt64
    package var owner: UInt32
    package var mode: UInt32
    package var size: Int64
    package var modifiedSeconds: Int64
    package var modifiedNanoseconds: Int64
}

/// Where `cs_mount_template` failed: an op of its list by index, or a step of its own, and the errno.
package struct MountTemplateFailure: Error, Sendable {
    package var step: Int32
    package var errno: Int32
}

extension Syscalls {
    /// mkdir(2) with mode 0755.
    package func mkdir(_ path: String) throws(SandboxError) { try mkdir(path, mode: 0o755) }

    package func open(_ path: String, _ flags: Int32) throws(SandboxError) -> FileDescriptor {
        try open(path, flags, mode: 0o644)
    }

    /// SIGKILL, then wait for it and close its pidfd: a child ended on every path.
    package func end(_ process: LaunchedProcess) {
        signal(process.pidfd, SIGKILL)
        _ = try? wait(process.pid)
        close(process.pidfd)
    }
}

/// One call made through a `Syscalls` door, as `RecordingSyscalls` keeps it.
package enum KernelCall: Sendable, Equatable, CustomStringConvertible {
    case mkdir(String)
    case rmdir(String)
    case write(String, String)
    case read(String)
    case kill(Int32, signal: Int32)
    case open(String)
    case close(Int32)
    case pipe(String)
    case mkfifo(String)
    case unlink(String)
    case removeTree(String)
    case lock(Int32)
    case spawn(argv0: String)
    case enter(argv0: String)
    case signal(pidfd: Int32, Int32)
    case wait(Int32)
    case makeNetworkNamespace(String)
    case detach(String)
    case rewrite(String)
    case rename(String, String)
    case bind(String, String)
    case mountTemplate(String)
    case openTree(String)

    package var description: String {
        switch self {
        case .mkdir(let p): "mkdir \(p)"
        case .rmdir(let p): "rmdir \(p)"
        case .write(let p, let v): "write \(p) \(v)"
        case .read(let p): "read \(p)"
        case .kill(let pid, let s): "kill \(pid) \(s)"
        case .open(let p): "open \(p)"
        case .close(let fd): "close \(fd)"
        case .pipe(let w): "pipe \(w)"
        case .mkfifo(let p): "mkfifo \(p)"
        case .unlink(let p): "unlink \(p)"
        case .removeTree(let p): "removeTree \(p)"
        case .lock(let fd): "lock \(fd)"
        case .spawn(let a): "spawn \(a)"
        case .enter(let a): "enter \(a)"
        case .signal(let fd, let s): "signal \(fd) \(s)"
        case .wait(let pid): "wait \(pid)"
        case .makeNetworkNamespace(let p): "netns \(p)"
        case .detach(let p): "detach \(p)"
        case .rewrite(let p): "rewrite \(p)"
        case .rename(let a, let b): "rename \(a) \(b)"
        case .bind(let a, let b): "bind \(a) \(b)"
        case .mountTemplate(let p): "mountTemplate \(p)"
        case .openTree(let p): "openTree \(p)"
        }
    }

    /// The kind, as `RecordingSyscalls.fail` names it.
    package var kind: String { String(description.prefix { $0 != " " }) }
}
