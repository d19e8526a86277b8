import Foundation
import Testing
@testable import SandboxCore

/// A small rootfs tar: /bin/sh -> busybox, /etc/passwd, a device node in /dev to be dropped.
private func rootfsTar() -> [UInt8] {
    var tar = TarWriter()
    tar.dir("./")
    tar.file("./bin/busybox", "ELF", mode: 0o755)
    tar.symlink("./bin/sh", to: "busybox")
    tar.file("./etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")
    tar.dir("./dev/")
    tar.file("./dev/leftover", "x")
    tar.file("./proc/stale", "x")
    return tar.finished()
}

/// No staging directory may be left in the store after an import, failed or not.
private func leftovers(_ store: String) -> [String] {
    TestFiles.children(store).filter { $0.hasPrefix(".") }
}

private func expectRefused(_ members: (inout TarWriter) -> Void, naming entry: String, _ comment: Comment? = nil) async {
    let tmp = TemporaryDirectory()
    let storeDir = tmp.path + "/store"
    let store = ImageStore(directory: storeDir)
    var tar = TarWriter()
    tar.file("ok", "fine")
    members(&tar)
    let source = tmp.write("bad.tar", tar.finished())
    do {
        _ = try await store.importImage(name: "bad", from: source)
        Issue.record("malicious archive accepted: \(entry)")
    } catch {
        #expect(error.description.contains(entry), "error should name \(entry): \(error)")
    }
    #expect(leftovers(storeDir) == [])
    #expect(!TestFiles.exists(storeDir + "/bad"))
}

@Suite("Image store")
struct ImageStoreTests {
    @Test("image names: [a-z0-9][a-z0-9._-]*", arguments: ["minimal", "full", "debian-12.5", "a", "0_x"])
    func validNames(name: String) {
        #expect(ImageStore.validate(name) == nil)
    }

    @Test("bad image names are refused with a reason", arguments: ["", "Upper", ".hidden", "-dash", "a/b", "..", "sp ace", String(repeating: "a", count: 129)])
    func invalidNames(name: String) async {
        #expect(ImageStore.validate(name) != nil)
        let tmp = TemporaryDirectory()
        await #expect(throws: SandboxError.self) {
            _ = try await ImageStore(directory: tmp.path).importImage(name: name, from: tmp.path)
        }
        #expect(throws: SandboxError.self) { try ImageStore(directory: tmp.path).info(name) }
    }

    @Test("import a rootfs tar, then list, info, rootfsPath and remove it")
    func importTarLifecycle() async throws {
        let tmp = TemporaryDirectory()
        let store = ImageStore(directory: tmp.path + "/store")
        let source = tmp.write("rootfs.tar", rootfsTar())
        let lines = Lines()
        let info = try await store.importImage(name: "tiny", from: source, progress: { lines.add($0) })
        #expect(info.format == .tar)
        #expect(info.source == source)
        #expect(info.fileCount >= 7)
        #expect(info.sizeBytes > 0)
        #expect(!lines.all.isEmpty)
        let rootfs = try store.rootfsPath("tiny")
        #expect(rootfs == tmp.path + "/store/tiny/rootfs")
        #expect(TestFiles.symlinkTarget(rootfs + "/bin/sh") == "busybox")
        // Normalized: mount points exist and are empty, /tmp is 1777.
        #expect(TestFiles.children(rootfs + "/dev") == [])
        #expect(TestFiles.children(rootfs + "/proc") == [])
        #expect(TestFiles.children(rootfs + "/sys") == [])
        #expect(TestFiles.mode(rootfs + "/tmp") == 0o1777)
        #expect(TestFiles.mode(rootfs) == 0o755)

        #expect(try store.list().map(\.name) == ["tiny"])
        let again = try store.info("tiny")
        #expect(again.fileCount == info.fileCount && again.format == .tar && again.rootfs == rootfs)
        #expect(try store.rootfsPath(rootfs) == rootfs)

        try store.remove("tiny")
        #expect(try store.list().isEmpty)
        #expect(throws: SandboxError.imageNotFound("tiny")) { try store.info("tiny") }
        #expect(throws: SandboxError.imageNotFound("tiny")) { try store.rootfsPath("tiny") }
        #expect(throws: SandboxError.imageNotFound("tiny")) { try store.remove("tiny") }
        #expect(leftovers(tmp.path + "/store") == [])
    }

    @Test("an empty or missing store lists nothing; a missing path is not an image")
    func emptyStore() throws {
        let tmp = TemporaryDirectory()
        #expect(try ImageStore(directory: tmp.path + "/nothing").list().isEmpty)
        #expect(throws: SandboxError.imageNotFound(tmp.path + "/nope")) { try ImageStore(directory: tmp.path).rootfsPath(tmp.path + "/nope") }
    }

    @Test("importing over an existing name fails unless replace is set")
    func importOverExisting() async throws {
        let tmp = TemporaryDirectory()
        let store = ImageStore(directory: tmp.path + "/store")
        let first = tmp.write("a.tar", rootfsTar())
        var other = TarWriter()
        other.file("marker", "second")
        let second = tmp.write("b.tar", other.finished())
        _ = try await store.importImage(name: "img", from: first)
        do {
            _ = try await store.importImage(name: "img", from: second)
            Issue.record("import over an existing image accepted")
        } catch {
            #expect(error.description.contains("already exists"))
        }
        #expect(TestFiles.exists(try store.rootfsPath("img") + "/bin/busybox"))
        let replaced = try await store.importImage(name: "img", from: second, replace: true)
        #expect(replaced.source == second)
        #expect(TestFiles.read(try store.rootfsPath("img") + "/marker") == "second")
        #expect(!TestFiles.exists(try store.rootfsPath("img") + "/bin/busybox"))
        #expect(leftovers(tmp.path + "/store") == [])
    }

    @Test("a gzip-compressed rootfs tar is piped through gzip -dc")
    func gzipTar() async throws {
        let tmp = TemporaryDirectory()
        let store = ImageStore(directory: tmp.path + "/store")
        let source = tmp.write("rootfs.tar.gz", TestFiles.gzip(rootfsTar()))
        let info = try await store.importImage(name: "gz", from: source)
        #expect(info.format == .tar)
        #expect(TestFiles.read(info.rootfs + "/etc/passwd")?.hasPrefix("root:") == true)
    }

    @Test("a zstd-compressed rootfs tar is piped through zstd -dc", .enabled(if: ImageTools.which("zstd") != nil, "zstd is not installed (apt-get install -y zstd)"))
    func zstdTar() async throws {
        let tmp = TemporaryDirectory()
        let store = ImageStore(directory: tmp.path + "/store")
        let source = tmp.write("rootfs.tar.zst", TestFiles.run(ImageTools.which("zstd")!, ["-q", "-c"], input: rootfsTar()))
        let info = try await store.importImage(name: "zst", from: source)
        #expect(TestFiles.symlinkTarget(info.rootfs + "/bin/sh") == "busybox")
    }

    @Test("a rootfs directory is copied; setuid bits dropped, the source untouched")
    func directoryImport() async throws {
        let tmp = TemporaryDirectory()
        let src = tmp.mkdir("src")
        _ = tmp.mkdir("src/bin")
        _ = tmp.write("src/bin/tool", Array("t".utf8))
        chmod(src + "/bin/tool", 0o4755)
        let store = ImageStore(directory: tmp.path + "/store")
        let info = try await store.importImage(name: "dir", from: src)
        #expect(info.format == .directory)
        #expect(TestFiles.mode(info.rootfs + "/bin/tool") == 0o755)
        #expect(TestFiles.mode(src + "/bin/tool") == 0o4755)
        #expect(TestFiles.exists(info.rootfs + "/proc") && TestFiles.exists(info.rootfs + "/etc"))
    }

    @Test("a source that does not exist is refused and leaves nothing")
    func missingSource() async {
        let tmp = TemporaryDirectory()
        let store = ImageStore(directory: tmp.path + "/store")
        await #expect(throws: SandboxError.self) { _ = try await store.importImage(name: "x", from: tmp.path + "/absent") }
        #expect(leftovers(tmp.path + "/store") == [])
    }

    @Test("garbage that is not a tar fails cleanly")
    func notATar() async {
        let tmp = TemporaryDirectory()
        let store = ImageStore(directory: tmp.path + "/store")
        let source = tmp.write("junk", Array(repeating: 0x41, count: 3000))
        await #expect(throws: SandboxError.self) { _ = try await store.importImage(name: "junk", from: source) }
        #expect(leftovers(tmp.path + "/store") == [])
    }

    @Test("malicious: a name climbing out with ..")
    func dotDot() async {
        await expectRefused({ $0.file("../../etc/x", "pwned") }, naming: "../../etc/x")
    }

    @Test("malicious: an absolute name")
    func absolute() async {
        await expectRefused({ $0.file("/etc/x", "pwned") }, naming: "/etc/x")
    }

    @Test("malicious: symlink evil -> / then evil/etc/passwd")
    func symlinkThenWrite() async {
        await expectRefused({
            $0.symlink("evil", to: "/")
            $0.file("evil/etc/passwd", "pwned")
        }, naming: "evil/etc/passwd")
    }

    @Test("malicious: a hard link to a file outside the image")
    func hardlinkOutside() async {
        await expectRefused({ $0.hardlink("shadow", to: "../../../etc/shadow") }, naming: "shadow")
    }

    @Test("malicious: a character device")
    func charDevice() async {
        await expectRefused({ $0.device("dev/kmem", type: "3") }, naming: "dev/kmem")
    }

    @Test("malicious: a block device and a fifo", arguments: [Character("4"), Character("6")])
    func otherNodes(type: Character) async {
        await expectRefused({ $0.device("node", type: type) }, naming: "node")
    }
}

/// Collects progress lines from the @Sendable callback.
final class Lines: @unchecked Sendable {
    private var lines: [String] = []
    private let lock = NSLock()
    func add(_ line: String) { lock.withLock { lines.append(line) } }
    var all: [String] { lock.withLock { lines } }
}
