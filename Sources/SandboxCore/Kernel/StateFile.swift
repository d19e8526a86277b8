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
    static func readTrusted(_ path: String) -> [UInt8]? {
        var st = stat()
        guard stat(path, &st) == 0, st.st_uid == geteuid(), st.st_mode & 0o022 == 0 else { return nil }
        return try? Kernel.readFile(path)
    }

    static func replace(_ path: String, with bytes: [UInt8]) {
        let temporary = "\(path).\(getpid())"
        guard let fd = try? Kernel.open(temporary, O_WRONLY | O_CREAT | O_TRUNC, mode: 0o600) else { return }
        let written = (try? Kernel.writeAll(fd, bytes, temporary)) != nil
        Kernel.close(fd)
        if !written || rename(temporary, path) != 0 { unlink(temporary) }
    }
}
