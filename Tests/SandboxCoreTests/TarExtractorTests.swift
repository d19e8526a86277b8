import Foundation
import SystemPackage
import Testing
@testable import SandboxCore

/// Extracts one in-memory tar into `root` (one layer).
private func extract(_ bytes: [UInt8], into root: String, layer: Bool = false) throws(SandboxError) {
    let fd = try ImageFS.openDirectory(root)
    defer { ImageFS.close(fd) }
    let extractor = TarExtractor(root: fd, options: .init(layer: layer))
    var parser = TarParser()
    let failure: SandboxError? = bytes.withUnsafeBytes { buffer in
        do throws(SandboxError) {
            try parser.feed(buffer) { (event) throws(SandboxError) in try extractor.handle(event) }
            return nil
        } catch { return error }
    }
    if let failure { throw failure }
    try parser.finish()
    try extractor.finish()
}

@Suite("Tar extractor")
struct TarExtractorTests {
    @Test("files, directories, symlinks and hard links land with their content and modes")
    func tree() throws {
        let tmp = TemporaryDirectory()
        var tar = TarWriter()
        tar.dir("./")
        tar.dir("./etc/", mode: 0o750)
        tar.file("./etc/passwd", "root:x:0:0\n", mode: 0o640)
        tar.file("./bin/busybox", "ELF", mode: 0o755)
        tar.symlink("./bin/sh", to: "busybox")
        tar.symlink("./abs", to: "/etc/passwd")
        tar.hardlink("./etc/passwd-", to: "./etc/passwd")
        tar.gnuLongFile("deep/" + String(repeating: "n", count: 120), "long")
        try extract(tar.finished(), into: tmp.path)
        #expect(TestFiles.read(tmp.path + "/etc/passwd") == "root:x:0:0\n")
        #expect(TestFiles.mode(tmp.path + "/etc/passwd") == 0o640)
        #expect(TestFiles.mode(tmp.path + "/etc") == 0o750)
        #expect(TestFiles.mode(tmp.path + "/bin/busybox") == 0o755)
        #expect(TestFiles.symlinkTarget(tmp.path + "/bin/sh") == "busybox")
        // Absolute link targets are stored verbatim: they resolve inside the box at run time.
        #expect(TestFiles.symlinkTarget(tmp.path + "/abs") == "/etc/passwd")
        #expect(TestFiles.inode(tmp.path + "/etc/passwd-") == TestFiles.inode(tmp.path + "/etc/passwd"))
        #expect(TestFiles.read(tmp.path + "/deep/" + String(repeating: "n", count: 120)) == "long")
    }

    @Test("setuid and setgid bits are dropped, the sticky bit kept")
    func privilegeBits() throws {
        let tmp = TemporaryDirectory()
        var tar = TarWriter()
        tar.file("su", "x", mode: 0o4755)
        tar.file("sg", "x", mode: 0o2755)
        tar.dir("tmp", mode: 0o1777)
        tar.dir("mail", mode: 0o2775)
        try extract(tar.finished(), into: tmp.path)
        #expect(TestFiles.mode(tmp.path + "/su") == 0o755)
        #expect(TestFiles.mode(tmp.path + "/sg") == 0o755)
        #expect(TestFiles.mode(tmp.path + "/tmp") == 0o1777)
        // setgid on a directory only picks the group of new files: kept.
        #expect(TestFiles.mode(tmp.path + "/mail") == 0o2775)
    }

    @Test("as root, ownership comes from the archive (lchown, links included)", .enabled(if: geteuid() == 0, "lchown to other uids needs root"))
    func ownership() throws {
        let tmp = TemporaryDirectory()
        var tar = TarWriter()
        tar.file("owned", "x", uid: 1234)
        tar.append(TarWriter.header(name: "link", type: "2", link: "owned", mode: 0o777, uid: 4321, gid: 99))
        try extract(tar.finished(), into: tmp.path)
        var st = stat()
        lstat(tmp.path + "/owned", &st)
        #expect(st.st_uid == 1234)
        lstat(tmp.path + "/link", &st)
        #expect(st.st_uid == 4321 && st.st_gid == 99)
    }

    @Test("a later member replaces an earlier one of the same name")
    func replace() throws {
        let tmp = TemporaryDirectory()
        var tar = TarWriter()
        tar.file("a", "first")
        tar.file("a", "second")
        tar.symlink("b", to: "x")
        tar.file("b", "file now")
        tar.dir("c/", mode: 0o700)
        tar.file("c/inside", "i")
        tar.symlink("c", to: "/")
        try extract(tar.finished(), into: tmp.path)
        // The directory's deferred mode must not land on what replaced it (or what that points to).
        #expect(TestFiles.symlinkTarget(tmp.path + "/c") == "/")
        #expect(TestFiles.mode("/") == 0o755)
        #expect(TestFiles.read(tmp.path + "/a") == "second")
        #expect(TestFiles.symlinkTarget(tmp.path + "/b") == nil)
        #expect(TestFiles.read(tmp.path + "/b") == "file now")
    }

    @Test("whiteouts remove lower entries, opaque markers empty a directory of lower content only")
    func whiteouts() throws {
        let tmp = TemporaryDirectory()
        var lower = TarWriter()
        lower.file("keep", "k")
        lower.file("gone", "g")
        lower.file("dir/gone-too", "g")
        lower.file("opq/old", "o")
        lower.file("opq/sub/old", "o")
        try extract(lower.finished(), into: tmp.path, layer: true)
        var upper = TarWriter()
        upper.file(".wh.gone", "")
        upper.file(".wh.dir", "")
        // Written before the marker in the same layer: must survive it.
        upper.file("opq/sub/new", "n")
        upper.file("opq/.wh..wh..opq", "")
        upper.file("opq/new", "n")
        try extract(upper.finished(), into: tmp.path, layer: true)
        #expect(TestFiles.children(tmp.path) == ["keep", "opq"])
        #expect(TestFiles.children(tmp.path + "/opq") == ["new", "sub"])
        #expect(TestFiles.children(tmp.path + "/opq/sub") == ["new"])
    }

    @Test("whiteout names are plain files outside layer mode")
    func whiteoutsOnlyInLayers() throws {
        let tmp = TemporaryDirectory()
        var tar = TarWriter()
        tar.file(".wh.x", "")
        try extract(tar.finished(), into: tmp.path)
        #expect(TestFiles.exists(tmp.path + "/.wh.x"))
    }

    @Test("a member below a symlink of the image is refused and nothing is written through it")
    func symlinkEscape() throws {
        let tmp = TemporaryDirectory()
        let root = tmp.mkdir("root")
        let outside = tmp.mkdir("outside")
        var tar = TarWriter()
        tar.symlink("evil", to: outside)
        tar.file("evil/pwned", "x")
        do {
            try extract(tar.finished(), into: root)
            Issue.record("write through a symlink accepted")
        } catch {
            #expect("\(error)".contains("evil/pwned"))
            #expect("\(error)".contains("symlink"))
        }
        #expect(TestFiles.children(outside) == [])
    }

    @Test("a hard link to a file behind a symlink is refused")
    func hardlinkThroughSymlink() throws {
        let tmp = TemporaryDirectory()
        let root = tmp.mkdir("root")
        let outside = tmp.mkdir("outside")
        _ = tmp.write("outside/secret", Array("s".utf8))
        var tar = TarWriter()
        tar.symlink("out", to: outside)
        tar.hardlink("stolen", to: "out/secret")
        #expect(throws: SandboxError.self) { try extract(tar.finished(), into: root) }
        #expect(!TestFiles.exists(root + "/stolen"))
    }
}
