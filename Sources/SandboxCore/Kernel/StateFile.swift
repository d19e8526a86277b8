#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A cache kept in the state directory (the compiled seccomp filter, the
/// cgroup layout). Trusted only when this user owns it and no one else can
/// write it: what it holds goes into every box. Written to a private name,
/// then renamed over, so a reader sees the old file or the whole new one;
/// writing is best effort (without the cache, the next process learns again).
enum StateFile {
    static func readTrusted(_ path: String, sys: any Syscalls = Kernel.live) -> [UInt8]? {
        guard let st = sys.status(path), st.owner == geteuid(), st.mode & 0o022 == 0 else { return nil }
        return try? sys.readBytes(path)
    }

    static func replace(_ path: String, with bytes: [UInt8], sys: any Syscalls = Kernel.live) {
        let temporary = "\(path).\(getpid())"
        guard let fd = try? sys.open(temporary, O_WRONLY | O_CREAT | O_TRUNC, mode: 0o600) else { return }
        let written = (try? sys.writeAll(fd, bytes, temporary)) != nil
        sys.close(fd)
        if !written || (try? sys.rename(temporary, to: path)) == nil { sys.unlink(temporary) }
    }
}
