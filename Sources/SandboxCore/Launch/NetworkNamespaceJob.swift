#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSandbox

/// A cold box's own empty network namespace (loopback up), made on a thread
/// of its own (`cs_netns_begin`) while the caller plans the box and makes its
/// cgroup. Making a network namespace is ~0.5 ms of kernel work on this kind
/// of host, about as long as the rest of a cold box's set-up before its clone;
/// made inside the clone, the two add up. The box joins the finished namespace
/// by setns, as it joins a pool slot's; it is still made for this box alone.
///
/// Root only: a rootless box's network namespace must belong to the box's own
/// user namespace, so it is made by the clone.
final class NetworkNamespaceJob {
    private var job: OpaquePointer?

    /// Starts making one; nil when no thread could be started (the clone then makes it).
    static func begin() -> NetworkNamespaceJob? {
        guard let job = cs_netns_begin() else { return nil }
        return NetworkNamespaceJob(job)
    }

    private init(_ job: OpaquePointer) { self.job = job }

    /// Waits for the namespace; the caller owns the returned descriptor.
    func finish() throws(SandboxError) -> Int32 {
        guard let job else { throw .syscall("unshare(CLONE_NEWNET): finished twice", errno: EINVAL) }
        self.job = nil
        var step: Int32 = 0
        let fd = cs_netns_finish(job, &step)
        if fd < 0 {
            let what = switch step {
            case CS_STEP_UNSHARE_NET.rawValue: "unshare(CLONE_NEWNET)"
            case CS_STEP_LOOPBACK.rawValue: "ioctl(SIOCSIFFLAGS lo up)"
            default: "open/setns(/proc/thread-self/ns/net)"
            }
            throw .syscall("\(what) for the box's network namespace", errno: -fd)
        }
        return fd
    }

    /// A run that failed before its clone still waits for the thread, and closes what it made.
    deinit {
        if job != nil, let fd = try? finish() { Kernel.close(fd) }
    }
}
