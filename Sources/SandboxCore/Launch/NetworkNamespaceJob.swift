#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSandbox
import SystemPackage

/// A cold box's own empty network namespace (loopback up), made on a thread
/// of its own (`cs_netns_begin`) while the box is planned, cloned and
/// mounted. Making a network namespace is ~0.5 ms of kernel work on this kind
/// of host, about as long as everything before the clone; made by the clone
/// itself, it came on top. The thread sends the namespace's descriptor number
/// down a pipe; the box's init reads it once its mounts are done and takes
/// the descriptor from this process with pidfd_getfd, then joins it by setns,
/// as it joins a pool slot's. The namespace is still made for this box alone.
///
/// Root only: a rootless box's network namespace must belong to the box's own
/// user namespace, so it is made by the clone.
final class NetworkNamespaceJob: @unchecked Sendable {
    private var job: OpaquePointer?
    /// Read end of the pipe the descriptor number arrives on, until a launch takes it.
    private var pipe: Int32

    /// Starts making one; nil when it cannot be (the clone then makes it).
    static func begin() -> NetworkNamespaceJob? {
        guard selfPidfd != nil, let p = try? Kernel.pipe("box network") else { return nil }
        guard let job = cs_netns_begin(p.write) else {
            Kernel.close(p.read)
            Kernel.close(p.write)
            return nil
        }
        return NetworkNamespaceJob(job, pipe: p.read)
    }

    /// This process as a pidfd, for the box's init to take descriptors from.
    static let selfPidfd: FileDescriptor? = {
        let fd = cs_pidfd_open(getpid())
        return fd >= 0 ? FileDescriptor(rawValue: fd) : nil
    }()

    private init(_ job: OpaquePointer, pipe: Int32) {
        self.job = job
        self.pipe = pipe
    }

    /// The pipe's read end, for the box's init; the launch owns it from here on.
    func takePipe() -> FileDescriptor {
        defer { pipe = -1 }
        return FileDescriptor(rawValue: pipe)
    }

    /// Waits for the thread and closes this process's descriptor of the
    /// namespace. Only once the box is done with it: the init takes the
    /// descriptor by its number, which must not be reused before.
    deinit {
        Kernel.close(pipe)
        if let job { Kernel.close(cs_netns_finish(job)) }
    }
}
