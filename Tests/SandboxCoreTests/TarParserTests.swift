import Testing
@testable import SandboxCore

/// Parses `bytes` fed in chunks of `chunk` bytes and returns the entries with their data.
private func parse(_ bytes: [UInt8], chunk: Int = 4096) throws(SandboxError) -> [(TarEntry, String)] {
    var parser = TarParser()
    var entries: [(TarEntry, String)] = []
    var current: TarEntry?
    var data: [UInt8] = []
    var offset = 0
    while offset < bytes.count {
        let end = min(offset + chunk, bytes.count)
        let slice = Array(bytes[offset..<end])
        let failure: SandboxError? = slice.withUnsafeBytes { buffer in
            do throws(SandboxError) {
                try parser.feed(buffer) { (event) throws(SandboxError) in
                    switch event {
                    case .begin(let e): current = e; data = []
                    case .data(let d): data += d
                    case .end: entries.append((current!, String(decoding: data, as: UTF8.self)))
                    }
                }
                return nil
            } catch { return error }
        }
        if let failure { throw failure }
        offset = end
    }
    try parser.finish()
    return entries
}

@Suite("Tar parser")
struct TarParserTests {
    @Test("ustar members: file, directory, symlink, hard link, prefix field", arguments: [1, 7, 512, 100_000])
    func ustar(chunk: Int) throws {
        var tar = TarWriter()
        tar.dir("etc/")
        tar.file("etc/hostname", "box\n", mode: 0o600, uid: 1000)
        tar.symlink("bin/sh", to: "busybox")
        tar.hardlink("etc/hostname2", to: "etc/hostname")
        tar.file("name.txt", "p", prefix: "very/deep/prefix")
        let entries = try parse(tar.finished(), chunk: chunk)
        #expect(entries.map(\.0.path) == ["etc/", "etc/hostname", "bin/sh", "etc/hostname2", "very/deep/prefix/name.txt"])
        #expect(entries[0].0.kind == .directory)
        #expect(entries[1].0.kind == .regular && entries[1].1 == "box\n")
        #expect(entries[1].0.mode == 0o600 && entries[1].0.uid == 1000 && entries[1].0.mtime == 1_700_000_000)
        #expect(entries[2].0.kind == .symlink && entries[2].0.linkTarget == "busybox")
        #expect(entries[3].0.kind == .hardlink && entries[3].0.linkTarget == "etc/hostname")
        #expect(entries[4].1 == "p")
    }

    @Test("GNU long names ('L') and long link targets ('K')")
    func gnuLongNames() throws {
        let longName = String(repeating: "d/", count: 80) + "file.txt"
        let longTarget = "/" + String(repeating: "t", count: 150)
        var tar = TarWriter()
        tar.gnuLongFile(longName, "long")
        tar.gnuLongSymlink("link", to: longTarget)
        tar.file("after", "short")
        let entries = try parse(tar.finished())
        #expect(entries.count == 3)
        #expect(entries[0].0.path == longName && entries[0].1 == "long")
        #expect(entries[1].0.linkTarget == longTarget)
        // The long name applies to one member only.
        #expect(entries[2].0.path == "after")
    }

    @Test("pax 'x' headers override path, uid and mtime of the next member only")
    func pax() throws {
        let long = String(repeating: "p", count: 200) + "/ünïcode.txt"
        var tar = TarWriter()
        tar.paxFile(["path": long, "uid": "424242", "mtime": "1600000000.123"], headerName: "stand-in", "pax")
        tar.file("plain", "x")
        let entries = try parse(tar.finished())
        #expect(entries[0].0.path == long)
        #expect(entries[0].0.uid == 424242)
        #expect(entries[0].0.mtime == 1_600_000_000)
        #expect(entries[0].1 == "pax")
        #expect(entries[1].0.path == "plain" && entries[1].0.uid == 0)
    }

    @Test("pax records are parsed by their length prefix, values may hold '=' and newlines")
    func paxRecords() throws {
        let body = Array("27 path=a=b\nc/with newline\n".utf8)
        let records = try TarParser.paxRecords(body)
        #expect(records["path"] == "a=b\nc/with newline")
    }

    @Test("base-256 size fields (GNU, files over 8 GiB) are read")
    func base256() throws {
        var field = [UInt8](repeating: 0, count: 12)
        field[0] = 0x80
        field[11] = 0x02
        field[10] = 0x01
        #expect(try TarParser.number(field, 0, 12, field: "size") == 0x0102)
    }

    @Test("a header with a wrong checksum is refused")
    func badChecksum() {
        var tar = TarWriter()
        tar.file("a", "x")
        var bytes = tar.finished()
        bytes[0] = UInt8(ascii: "b")
        #expect(throws: SandboxError.self) { try parse(bytes) }
        do { _ = try parse(bytes) } catch { #expect("\(error)".contains("checksum")) }
    }

    @Test("an archive cut inside a member is reported as truncated, naming the member")
    func truncated() {
        var tar = TarWriter()
        tar.file("big", String(repeating: "x", count: 2000))
        let bytes = Array(tar.finished().prefix(1024))
        do {
            _ = try parse(bytes)
            Issue.record("truncated archive accepted")
        } catch {
            #expect("\(error)".contains("truncated") && "\(error)".contains("big"))
        }
    }

    @Test("device nodes and fifos are reported with their kind (the extractor refuses them)")
    func devices() throws {
        var tar = TarWriter()
        tar.device("c", type: "3")
        tar.device("b", type: "4")
        tar.device("f", type: "6")
        let kinds = try parse(tar.finished()).map(\.0.kind)
        #expect(kinds == [.characterDevice, .blockDevice, .fifo])
    }
}

@Suite("Image paths")
struct ImagePathTests {
    @Test("names are normalized below the root")
    func normalized() throws {
        #expect(try ImagePath.components("./usr//bin/./env", entry: "e") == ["usr", "bin", "env"])
        #expect(try ImagePath.components("a/b/../c", entry: "e") == ["a", "c"])
        #expect(try ImagePath.components("./", entry: "e") == [])
    }

    @Test("absolute names and names climbing out are refused", arguments: ["/etc/passwd", "../x", "a/../../x", "./../../etc/x"])
    func escaping(name: String) {
        #expect(throws: SandboxError.self) { try ImagePath.components(name, entry: name) }
    }
}
