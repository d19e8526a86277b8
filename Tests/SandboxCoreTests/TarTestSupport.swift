import Foundation
@testable import SandboxCore

/// Builds tar archives in memory, member by member, for the image tests.
struct TarWriter {
    private(set) var bytes: [UInt8] = []

    static func header(
        name: String, type: Character, size: Int = 0, link: String = "", mode: Int = 0o644,
        uid: Int = 0, gid: Int = 0, mtime: Int = 1_700_000_000, prefix: String = "", gnuMagic: Bool = false
    ) -> [UInt8] {
        var h = [UInt8](repeating: 0, count: 512)
        func put(_ s: String, _ at: Int, _ len: Int) {
            for (i, b) in s.utf8.prefix(len).enumerated() { h[at + i] = b }
        }
        func octal(_ v: Int, _ at: Int, _ len: Int) {
            put(String(repeating: "0", count: max(0, len - 1 - String(v, radix: 8).count)) + String(v, radix: 8), at, len - 1)
        }
        put(name, 0, 100)
        octal(mode, 100, 8)
        octal(uid, 108, 8)
        octal(gid, 116, 8)
        octal(size, 124, 12)
        octal(mtime, 136, 12)
        h[156] = type.asciiValue!
        put(link, 157, 100)
        if gnuMagic {
            put("ustar  ", 257, 8)
        } else {
            put("ustar", 257, 6)
            put("00", 263, 2)
            put(prefix, 345, 155)
        }
        for i in 148..<156 { h[i] = 32 }
        let sum = h.reduce(0) { $0 + Int($1) }
        let text = String(sum, radix: 8)
        put(String(repeating: "0", count: 6 - text.count) + text, 148, 6)
        h[154] = 0
        h[155] = 32
        return h
    }

    mutating func append(_ header: [UInt8], data: [UInt8] = []) {
        bytes += header
        bytes += data
        bytes += [UInt8](repeating: 0, count: (512 - data.count % 512) % 512)
    }

    mutating func file(_ name: String, _ contents: String, mode: Int = 0o644, uid: Int = 0, prefix: String = "") {
        let data = Array(contents.utf8)
        append(Self.header(name: name, type: "0", size: data.count, mode: mode, uid: uid, prefix: prefix), data: data)
    }

    mutating func dir(_ name: String, mode: Int = 0o755) {
        append(Self.header(name: name, type: "5", mode: mode))
    }

    mutating func symlink(_ name: String, to target: String) {
        append(Self.header(name: name, type: "2", link: target, mode: 0o777))
    }

    mutating func hardlink(_ name: String, to target: String) {
        append(Self.header(name: name, type: "1", link: target))
    }

    mutating func device(_ name: String, type: Character = "3") {
        append(Self.header(name: name, type: type, mode: 0o600))
    }

    /// A GNU 'L' member carrying the long name, then the member itself with a truncated name.
    mutating func gnuLongFile(_ name: String, _ contents: String) {
        let longName = Array(name.utf8) + [0]
        append(Self.header(name: "././@LongLink", type: "L", size: longName.count, gnuMagic: true), data: longName)
        let data = Array(contents.utf8)
        append(Self.header(name: String(name.prefix(100)), type: "0", size: data.count, gnuMagic: true), data: data)
    }

    /// A GNU 'K' member carrying a long symlink target.
    mutating func gnuLongSymlink(_ name: String, to target: String) {
        let long = Array(target.utf8) + [0]
        append(Self.header(name: "././@LongLink", type: "K", size: long.count, gnuMagic: true), data: long)
        append(Self.header(name: name, type: "2", link: String(target.prefix(100)), mode: 0o777, gnuMagic: true))
    }

    /// A pax 'x' member with these records, then the member (whose own name is a stand-in).
    mutating func paxFile(_ records: [String: String], headerName: String, _ contents: String) {
        var data: [UInt8] = []
        for (key, value) in records.sorted(by: { $0.key < $1.key }) {
            let body = " \(key)=\(value)\n"
            var length = body.utf8.count + 1
            while String(length).count + body.utf8.count != length { length += 1 }
            data += Array("\(length)\(body)".utf8)
        }
        append(Self.header(name: "PaxHeaders/x", type: "x", size: data.count), data: data)
        let payload = Array(contents.utf8)
        append(Self.header(name: headerName, type: "0", size: payload.count), data: payload)
    }

    /// Two zero blocks, then padding to a 10 KiB record as tar(1) writes.
    func finished() -> [UInt8] {
        var out = bytes + [UInt8](repeating: 0, count: 1024)
        out += [UInt8](repeating: 0, count: (10240 - out.count % 10240) % 10240)
        return out
    }
}

/// A temporary directory removed at the end of the test.
final class TemporaryDirectory {
    let path: String

    init() {
        var template = Array((NSTemporaryDirectory() + "/gradebox-images-XXXXXX").utf8CString)
        let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        path = String(cString: p!)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    func write(_ name: String, _ bytes: [UInt8]) -> String {
        let full = path + "/" + name
        _ = FileManager.default.createFile(atPath: full, contents: Data(bytes))
        return full
    }

    func mkdir(_ name: String) -> String {
        let full = path + "/" + name
        try! FileManager.default.createDirectory(atPath: full, withIntermediateDirectories: true)
        return full
    }
}

enum TestFiles {
    static func read(_ path: String) -> String? {
        FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
    }

    static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    static func symlinkTarget(_ path: String) -> String? {
        try? FileManager.default.destinationOfSymbolicLink(atPath: path)
    }

    static func mode(_ path: String) -> Int {
        var st = stat()
        lstat(path, &st)
        return Int(st.st_mode & 0o7777)
    }

    static func inode(_ path: String) -> UInt64 {
        var st = stat()
        lstat(path, &st)
        return UInt64(st.st_ino)
    }

    static func children(_ path: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
    }

    /// Runs a host tool on `input` and returns its stdout (gzip, sha256sum).
    static func run(_ tool: String, _ arguments: [String], input: [UInt8]) -> [UInt8] {
        let scratch = TemporaryDirectory()
        let inputPath = scratch.write("input", input)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        let stdout = Pipe()
        process.standardInput = FileHandle(forReadingAtPath: inputPath)
        process.standardOutput = stdout
        try! process.run()
        let out = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Array(out)
    }

    static func gzip(_ bytes: [UInt8]) -> [UInt8] {
        run("/usr/bin/gzip", ["-c"], input: bytes)
    }

    static func sha256(_ bytes: [UInt8]) -> String {
        String(decoding: run("/usr/bin/sha256sum", ["-b", "-"], input: bytes).prefix(64), as: UTF8.self)
    }
}
