#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization

/// Values made from files, each kept until its file changes: another file
/// at the path, or another size, modification or change time (stat(2)). A
/// grader grades the same tasks with the same images over and over; parsing
/// a task.yaml was a tenth of its CPU per job, reading every image.json
/// another. A file that cannot be stat'ed is read every time.
final class FileStampCache<Value: Sendable>: Sendable {
    private struct Entry {
        var stamp: [Int64]
        var value: Value
    }
    private let entries = Mutex<[String: Entry]>([:])
    /// Files kept at most; past that the table starts afresh.
    let capacity: Int

    init(capacity: Int = 4096) { self.capacity = capacity }

    /// What `make` gives for the file at `path`, made again only when the file changed.
    func value<E: Error>(at path: String, _ make: () throws(E) -> Value) throws(E) -> Value {
        guard let stamp = Self.stamp(path) else { return try make() }
        if let known = entries.withLock({ $0[path] }), known.stamp == stamp { return known.value }
        let value = try make()
        entries.withLock { table in
            if table.count >= capacity { table.removeAll() }
            table[path] = Entry(stamp: stamp, value: value)
        }
        return value
    }

    /// Device, inode, size, modification and change times; nil when `path` cannot be stat'ed.
    static func stamp(_ path: String) -> [Int64]? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return [Int64(st.st_dev), Int64(st.st_ino), Int64(st.st_size), Int64(st.st_mtim.tv_sec), Int64(st.st_mtim.tv_nsec),
                Int64(st.st_ctim.tv_sec), Int64(st.st_ctim.tv_nsec)]
    }
}
