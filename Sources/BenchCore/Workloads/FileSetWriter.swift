import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Writes one file set of the I/O workload: `count` files of exactly 4096
/// random alphanumeric bytes, no two alike, and an uncompressed tar of them.
///
/// The tar is written here rather than by tar(1) so that it is byte for byte
/// the same on every run (fixed mtime, owner and order), which lets the
/// manifest's checksum say whether a set is stale.
package struct FileSetWriter: Sendable {
    package static let fileSize = 4096
    package var count: Int
    package var seed: UInt64

    package init(count: Int, seed: UInt64) {
        self.count = count
        self.seed = seed
    }

    /// Names inside the set: zero-padded so that a sorted listing is the
    /// generation order.
    package func fileName(_ index: Int) -> String {
        let digits = String(count - 1).count
        let s = String(index)
        return String(repeating: "0", count: max(0, digits - s.count)) + s + ".txt"
    }

    /// Writes the files into `directory` (created, emptied first) and the tar
    /// of them, whose entries are `<basename of directory>/<file>`, to `tarPath`.
    package func write(directory: String, tarPath: String, progress: (@Sendable (Double) -> Void)? = nil) throws {
        let fm = FileManager.default
        try? fm.removeItem(atPath: directory)
        do {
            try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw WorkloadError.io(operation: "mkdir(\(directory))", underlying: "\(error)")
        }
        let prefix = (directory as NSString).lastPathComponent
        let tmpTar = tarPath + ".partial"
        let tar = try RawFile(creating: tmpTar)
        defer { tar.close() }
        var tarWriter = TarWriter(file: tar)
        try tarWriter.appendDirectory(prefix + "/")

        var rng = SeededGenerator(seed: seed, stream: "files/\(count)")
        var seen = Set<ContentKey>(minimumCapacity: count)
        var content = [UInt8](repeating: 0, count: Self.fileSize)
        let step = max(1, count / 100)
        for index in 0..<count {
            // Two 4096-byte random strings agreeing is astronomically unlikely;
            // checking the first 32 bytes makes "no two alike" a guarantee.
            repeat {
                content.withUnsafeMutableBytes { rng.fillAlphanumeric($0) }
            } while !seen.insert(ContentKey(content)).inserted
            let name = fileName(index)
            let file = try RawFile(creating: directory + "/" + name)
            try content.withUnsafeBytes { try file.write($0) }
            file.close()
            try content.withUnsafeBytes { try tarWriter.appendFile(prefix + "/" + name, contents: $0) }
            if index % step == 0 { progress?(Double(index) / Double(count)) }
        }
        try tarWriter.finish()
        tar.close()
        do {
            if fm.fileExists(atPath: tarPath) { try fm.removeItem(atPath: tarPath) }
            try fm.moveItem(atPath: tmpTar, toPath: tarPath)
        } catch {
            throw WorkloadError.io(operation: "rename(\(tmpTar) -> \(tarPath))", underlying: "\(error)")
        }
        progress?(1)
    }
}

/// The first 32 bytes of a file, as a set key.
private struct ContentKey: Hashable {
    var a: UInt64, b: UInt64, c: UInt64, d: UInt64
    init(_ bytes: [UInt8]) {
        (a, b, c, d) = bytes.withUnsafeBytes {
            ($0.loadUnaligned(fromByteOffset: 0, as: UInt64.self), $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self),
             $0.loadUnaligned(fromByteOffset: 16, as: UInt64.self), $0.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
        }
    }
}

/// A write-only file descriptor: open(2) / write(2) / close(2), the error
/// naming the call and the path. Foundation's FileHandle cannot create a file,
/// and `Data.write` would allocate per file for 100 000 files.
final class RawFile: @unchecked Sendable {
    private var fd: Int32
    let path: String

    init(creating path: String) throws {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw WorkloadError.io(operation: "open(\(path))", underlying: String(cString: strerror(errno))) }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw WorkloadError.io(operation: "write(\(path))", underlying: String(cString: strerror(errno)))
            }
            offset += n
        }
    }

    func close() {
        if fd >= 0 { _ = Glibc.close(fd); fd = -1 }
    }

    deinit { close() }
}

/// A POSIX ustar archive writer: regular files and directories only, owner
/// root, mode 0644/0755 and a fixed mtime so the archive is reproducible.
struct TarWriter {
    let file: RawFile
    /// 2020-06-01T00:00:00Z, the thesis's year.
    static let mtime = 1_590_969_600
    private var written = 0

    init(file: RawFile) { self.file = file }

    mutating func appendDirectory(_ name: String) throws {
        try writeHeader(name: name, size: 0, mode: 0o755, type: UInt8(ascii: "5"))
    }

    mutating func appendFile(_ name: String, contents: UnsafeRawBufferPointer) throws {
        try writeHeader(name: name, size: contents.count, mode: 0o644, type: UInt8(ascii: "0"))
        try file.write(contents)
        written += contents.count
        try pad()
    }

    /// Two zero blocks end the archive; GNU tar also pads to its 10 KiB record.
    mutating func finish() throws {
        try writeZeros(1024)
        let record = 10_240
        if written % record != 0 { try writeZeros(record - written % record) }
    }

    private mutating func pad() throws {
        if written % 512 != 0 { try writeZeros(512 - written % 512) }
    }

    private mutating func writeZeros(_ n: Int) throws {
        let zeros = [UInt8](repeating: 0, count: n)
        try zeros.withUnsafeBytes { try file.write($0) }
        written += n
    }

    private mutating func writeHeader(name: String, size: Int, mode: Int, type: UInt8) throws {
        var h = [UInt8](repeating: 0, count: 512)
        func put(_ s: String, at offset: Int, width: Int) {
            for (i, b) in s.utf8.prefix(width).enumerated() { h[offset + i] = b }
        }
        func octal(_ v: Int, at offset: Int, width: Int) {
            let digits = String(v, radix: 8)
            put(String(repeating: "0", count: width - 1 - digits.count) + digits, at: offset, width: width - 1)
        }
        precondition(name.utf8.count <= 100, "tar entry name longer than ustar's 100 bytes: \(name)")
        put(name, at: 0, width: 100)
        octal(mode, at: 100, width: 8)
        octal(0, at: 108, width: 8)
        octal(0, at: 116, width: 8)
        octal(size, at: 124, width: 12)
        octal(Self.mtime, at: 136, width: 12)
        h[156] = type
        put("ustar", at: 257, width: 6)
        put("00", at: 263, width: 2)
        put("root", at: 265, width: 32)
        put("root", at: 297, width: 32)
        // The checksum is computed with its own field read as eight spaces.
        for i in 148..<156 { h[i] = 0x20 }
        let sum = h.reduce(0) { $0 + Int($1) }
        let digits = String(sum, radix: 8)
        put(String(repeating: "0", count: 6 - digits.count) + digits, at: 148, width: 6)
        h[154] = 0
        h[155] = 0x20
        try h.withUnsafeBytes { try file.write($0) }
        written += 512
    }
}
