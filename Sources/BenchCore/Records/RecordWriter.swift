import Foundation

/// Appends records to the raw .jsonl file: one `write(2)` per line, so a Ctrl-C or a
/// crash keeps every finished trial.
public final class RecordWriter: Sendable {
    let fd: Int32
    public let path: String
    public init(path: String) throws(BenchError) {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        if fd < 0 { throw .file(path, reason: "open: \(String(cString: strerror(errno)))") }
    }
    deinit { close(fd) }
    public func append(_ r: TrialRecord) throws(BenchError) {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        guard var data = try? enc.encode(r) else { throw .file(path, reason: "cannot encode record") }
        data.append(0x0A)
        let n = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if n != data.count { throw .file(path, reason: "write: \(String(cString: strerror(errno)))") }
    }
}
