import CZlib
import Foundation
import SandboxCore
import SystemPackage

/// A job's /archive as INGInious sends it: a gzipped tar of its contents,
/// made in this process (a /bin/tar process was 3-4 ms of every job here,
/// most of a job whose run script only sets a result).
///
/// Entries are the folder's contents by relative name (`sub/file`), ustar
/// headers with GNU long names past 100 bytes; regular files, folders and
/// symlinks (a symlink is stored as one, never followed); anything else is
/// left out, as it cannot be sent. The run script wrote the folder as the
/// worker: it is read relative to each folder's descriptor with O_NOFOLLOW,
/// never through a link.
enum ArchiveTarball {
    /// The most a tarball may hold before compression, headers included. It
    /// is made in the grader's memory on the host, and a sparse file (or a
    /// million empty ones) costs the box next to nothing on tmpfs.
    static let limit = 64 << 20

    /// Folders nested deeper than this are refused: the walk recurses.
    static let depthLimit = 256

    struct TooLarge: Error, CustomStringConvertible {
        var description: String
        init(_ description: String = "the archive is larger than \(ArchiveTarball.limit >> 20) MiB") { self.description = description }
    }

    static func make(of directory: String, limit: Int = ArchiveTarball.limit) throws -> [UInt8] {
        let dir = try ImageFS.openDirectory(directory)
        defer { ImageFS.close(dir) }
        var tar: [UInt8] = []
        try add(dir, display: directory, relative: "", depth: 0, limit: limit, into: &tar)
        // Most run scripts leave /archive empty: its tarball is always the same.
        if tar.isEmpty, let empty = emptyTarball { return empty }
        tar.append(contentsOf: [UInt8](repeating: 0, count: 1024))
        return try gzip(tar)
    }

    private static let emptyTarball = try? gzip([UInt8](repeating: 0, count: 1024))

    /// The entries of `dir`, by name, each relative to the folder it is in
    /// (`ImageFS`: openat with O_NOFOLLOW, never a path looked up from the root again).
    private static func add(_ dir: FileDescriptor, display: String, relative: String, depth: Int, limit: Int, into tar: inout [UInt8]) throws {
        guard depth <= depthLimit else { throw TooLarge("the archive's folders are nested more than \(depthLimit) deep") }
        for name in try ImageFS.entries(of: dir, display: display).sorted() {
            guard tar.count <= limit else { throw TooLarge() }
            let shown = display + "/" + name
            let entry = relative.isEmpty ? name : relative + "/" + name
            // Gone, or a name that is not UTF-8 (it cannot be given by name here): left out.
            guard let st = try ImageFS.stat(name, in: dir, display: shown) else { continue }
            switch st.kind {
            case .directory:
                header(entry + "/", type: "5", size: 0, stat: st, into: &tar)
                let child = try ImageFS.openDirectory(name, in: dir, display: shown)
                defer { ImageFS.close(child) }
                try add(child, display: shown, relative: entry, depth: depth + 1, limit: limit, into: &tar)
            case .symlink:
                header(entry, type: "2", size: 0, stat: st, link: try ImageFS.readLink(name, in: dir, display: shown), into: &tar)
            case .regular:
                // O_NONBLOCK, and what was opened checked again: a process the
                // box left could have made it a FIFO since, whose open would wait for a writer.
                let raw = ImageFS.retrying { openat(dir.rawValue, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC) }
                guard raw >= 0 else { continue }
                let fd = FileDescriptor(rawValue: raw)
                defer { ImageFS.close(fd) }
                let opened = try ImageFS.stat(fd, display: shown)
                guard opened.kind == .regular else { continue }
                guard tar.count + 1024 + Int(opened.size) <= limit else { throw TooLarge() }
                // At most its size when opened: a file that grows since is cut there.
                var bytes: [UInt8] = []
                var chunk = [UInt8](repeating: 0, count: Int(min(max(opened.size, 1), 65536)))
                while bytes.count < Int(opened.size) {
                    let n = try ImageFS.read(fd, into: &chunk, display: shown)
                    if n == 0 { break }
                    bytes.append(contentsOf: chunk[0..<min(n, Int(opened.size) - bytes.count)])
                }
                header(entry, type: "0", size: bytes.count, stat: st, into: &tar)
                tar.append(contentsOf: bytes)
                tar.append(contentsOf: [UInt8](repeating: 0, count: (512 - bytes.count % 512) % 512))
            default:
                continue
            }
        }
    }

    /// A ustar header (and a GNU long-name entry before it when a name is past 100 bytes).
    private static func header(_ name: String, type: Character, size: Int, stat st: ImageFS.Stat, link: String = "", into tar: inout [UInt8]) {
        let nameBytes = Array(name.utf8), linkBytes = Array(link.utf8)
        if nameBytes.count > 100 {
            longName(nameBytes, type: "L", into: &tar)
        }
        if linkBytes.count > 100 {
            longName(linkBytes, type: "K", into: &tar)
        }
        var block = [UInt8](repeating: 0, count: 512)
        func put(_ bytes: [UInt8], at offset: Int, width: Int) {
            for (i, b) in bytes.prefix(width).enumerated() { block[offset + i] = b }
        }
        func octal(_ value: Int, at offset: Int, width: Int) {
            let text = String(value, radix: 8)
            put(Array((String(repeating: "0", count: max(0, width - 1 - text.count)) + text).utf8), at: offset, width: width - 1)
        }
        put(nameBytes, at: 0, width: 100)
        octal(Int(st.mode), at: 100, width: 8)
        octal(Int(st.owner), at: 108, width: 8)
        octal(Int(st.group), at: 116, width: 8)
        octal(size, at: 124, width: 12)
        octal(max(0, Int(st.modifiedSeconds)), at: 136, width: 12)
        block[156] = type.asciiValue ?? 48
        put(linkBytes, at: 157, width: 100)
        put(Array("ustar\u{0}00".utf8), at: 257, width: 8)
        checksum(&block)
        tar.append(contentsOf: block)
    }

    private static func longName(_ bytes: [UInt8], type: Character, into tar: inout [UInt8]) {
        var block = [UInt8](repeating: 0, count: 512)
        for (i, b) in Array("././@LongLink".utf8).enumerated() { block[i] = b }
        for (i, b) in Array("0000644\u{0}0000000\u{0}0000000\u{0}".utf8).enumerated() { block[100 + i] = b }
        let size = String(bytes.count + 1, radix: 8)
        for (i, b) in Array((String(repeating: "0", count: 11 - size.count) + size).utf8).enumerated() { block[124 + i] = b }
        for (i, b) in Array("00000000000".utf8).enumerated() { block[136 + i] = b }
        block[156] = type.asciiValue ?? 76
        for (i, b) in Array("ustar  \u{0}".utf8).enumerated() { block[257 + i] = b }
        checksum(&block)
        tar.append(contentsOf: block)
        tar.append(contentsOf: bytes)
        tar.append(0)
        tar.append(contentsOf: [UInt8](repeating: 0, count: (512 - (bytes.count + 1) % 512) % 512))
    }

    private static func checksum(_ block: inout [UInt8]) {
        for i in 148..<156 { block[i] = 32 }
        let sum = block.reduce(0) { $0 + Int($1) }
        let text = String(sum, radix: 8)
        for (i, b) in Array((String(repeating: "0", count: 6 - text.count) + text).utf8).enumerated() { block[148 + i] = b }
        block[154] = 0
        block[155] = 32
    }

    /// gzip (RFC 1952) of `bytes`, by zlib's deflate with a gzip wrapper.
    static func gzip(_ bytes: [UInt8]) throws -> [UInt8] {
        var stream = z_stream()
        // windowBits 15 + 16: a gzip header and trailer instead of zlib's.
        guard deflateInit2_(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY,
                            ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw GradingError.sandbox("deflateInit2 for the archive failed")
        }
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(bytes.count))) + 64)
        var input = bytes
        let status = input.withUnsafeMutableBufferPointer { inBuffer in
            output.withUnsafeMutableBufferPointer { outBuffer in
                stream.next_in = inBuffer.baseAddress
                stream.avail_in = uInt(inBuffer.count)
                stream.next_out = outBuffer.baseAddress
                stream.avail_out = uInt(outBuffer.count)
                return deflate(&stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END else { throw GradingError.sandbox("deflate of the archive: zlib status \(status)") }
        return Array(output.prefix(Int(stream.total_out)))
    }
}
