#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization
import SystemPackage

/// The cgroupfs files a driver reads and zeroes for every box (CPU usage,
/// memory peak, OOM kills, refused forks), kept open from their first use
/// until their group is removed: each is then one pread or pwrite instead of
/// an open, a read and a close. A job took ~20 such opens of six-component
/// kernfs paths, a twentieth of what grading it cost the grader.
///
/// Who removes a group says so (`forget(under:)`), and that closes its files.
/// A group removed behind the driver's back (by another process) fails its
/// next read (ENODEV): the file is then opened afresh, which says what is wrong.
final class CounterFiles: Sendable {
    private struct Key: Hashable {
        var path: String
        var writing: Bool
    }
    /// Reads and writes go under the lock: a forget closing a file while
    /// another thread reads it could hand its number to a new file.
    private let open = Mutex<[Key: FileDescriptor]>([:])
    let fs: any Syscalls

    init(fs: any Syscalls) { self.fs = fs }

    func read(_ path: String) throws(SandboxError) -> String {
        try open.withLock { files throws(SandboxError) -> String in
            let key = Key(path: path, writing: false)
            if let fd = files[key] {
                do throws(SandboxError) { return try fs.readAt(fd, path) } catch {
                    fs.close(fd)
                    files[key] = nil
                }
            }
            let fd = try fs.open(path, O_RDONLY)
            do throws(SandboxError) {
                let text = try fs.readAt(fd, path)
                files[key] = fd
                return text
            } catch {
                fs.close(fd)
                throw error
            }
        }
    }

    func write(_ path: String, _ value: String) throws(SandboxError) {
        try open.withLock { files throws(SandboxError) in
            let key = Key(path: path, writing: true)
            if let fd = files[key] {
                do throws(SandboxError) { return try fs.writeAt(fd, value, path) } catch where cgroupErrno(error) == ENODEV {
                    fs.close(fd)
                    files[key] = nil
                }
            }
            let fd = try fs.open(path, O_WRONLY)
            do throws(SandboxError) {
                try fs.writeAt(fd, value, path)
                files[key] = fd
            } catch {
                fs.close(fd)
                throw error
            }
        }
    }

    /// Closes the files of the group at `directory` and of the groups below it.
    func forget(under directory: String) {
        let prefix = directory + "/"
        let closing = open.withLock { files -> [FileDescriptor] in
            let gone = files.filter { $0.key.path.hasPrefix(prefix) }
            for key in gone.keys { files[key] = nil }
            return Array(gone.values)
        }
        closing.forEach(fs.close)
    }

    /// How many files are open (for tests).
    var count: Int { open.withLock { $0.count } }
}
