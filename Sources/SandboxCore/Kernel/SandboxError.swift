#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The one error type of SandboxCore. Each case names what failed on what.
public enum SandboxError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A syscall failed: `mount(bind /a -> /b)`, errno.
    case syscall(String, errno: Int32)
    /// The request itself is wrong (bad limit, unknown image, name in use ...).
    case invalidRequest(String)
    /// An image that is not in the store.
    case imageNotFound(String)
    /// A box that does not exist / already exists.
    case containerNotFound(String)
    case containerExists(String)
    /// The host lacks something the request needs (user namespaces, a cgroup controller ...).
    case hostUnsupported(String)
    /// The program named in the command does not exist in the image.
    case commandNotFound(String, image: String)
    /// Setting the box up failed in a named step.
    case setupFailed(SandboxFailure)
    /// An external tool (tar, debootstrap, apt-get ...) failed.
    case toolFailed(String, status: Int32, output: String)

    /// A short name of the case, for machine-readable output (`--json`).
    public var kind: String {
        switch self {
        case .syscall: "syscall"
        case .invalidRequest: "invalid_request"
        case .imageNotFound: "image_not_found"
        case .containerNotFound: "box_not_found"
        case .containerExists: "box_exists"
        case .hostUnsupported: "host_unsupported"
        case .commandNotFound: "command_not_found"
        case .setupFailed: "setup_failed"
        case .toolFailed: "tool_failed"
        }
    }

    public var description: String {
        switch self {
        case .syscall(let what, let e): "\(what): \(errnoName(e))"
        case .invalidRequest(let m): m
        case .imageNotFound(let n): "no such image: \(n) (see `gradebox image ls`, `gradebox image build minimal`)"
        case .containerNotFound(let n): "no such box: \(n)"
        case .containerExists(let n): "a box named \(n) already exists"
        case .hostUnsupported(let m): "this host cannot do that: \(m)"
        case .commandNotFound(let c, let i): "\(c): command not found in image \(i)"
        case .setupFailed(let f): "sandbox setup failed: \(f)"
        case .toolFailed(let t, let s, let o): "\(t) failed with status \(s)" + (o.isEmpty ? "" : ": \(o)")
        }
    }
}

/// `EPERM (Operation not permitted)`: the symbolic name and strerror text.
public func errnoName(_ e: Int32) -> String {
    let names: [Int32: String] = [
        EPERM: "EPERM", ENOENT: "ENOENT", ESRCH: "ESRCH", EINTR: "EINTR", EIO: "EIO",
        ENXIO: "ENXIO", E2BIG: "E2BIG", ENOEXEC: "ENOEXEC", EBADF: "EBADF", ECHILD: "ECHILD",
        EAGAIN: "EAGAIN", ENOMEM: "ENOMEM", EACCES: "EACCES", EFAULT: "EFAULT", EBUSY: "EBUSY",
        EEXIST: "EEXIST", EXDEV: "EXDEV", ENODEV: "ENODEV", ENOTDIR: "ENOTDIR", EISDIR: "EISDIR",
        EINVAL: "EINVAL", ENFILE: "ENFILE", EMFILE: "EMFILE", ENOSPC: "ENOSPC", EROFS: "EROFS",
        EMLINK: "EMLINK", EPIPE: "EPIPE", ERANGE: "ERANGE", ENAMETOOLONG: "ENAMETOOLONG",
        ENOSYS: "ENOSYS", ENOTEMPTY: "ENOTEMPTY", ELOOP: "ELOOP", EUSERS: "EUSERS",
        EOPNOTSUPP: "EOPNOTSUPP", ETIMEDOUT: "ETIMEDOUT",
    ]
    let text = String(cString: strerror(e))
    return "\(names[e] ?? "errno \(e)") (\(text))"
}
