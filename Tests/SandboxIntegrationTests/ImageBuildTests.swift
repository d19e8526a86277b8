import Foundation
import Testing
@testable import SandboxCore

private enum ImageHost {
    static let isRoot = Host.isRoot
    /// busybox-static installed, or root (who may install it).
    static let canBuildMinimal = isRoot || ((try? ELF.isStatic("/bin/busybox")) == true)
    static let canBuildFull = isRoot && (ImageTools.which("debootstrap") != nil || ImageTools.which("apt-get") != nil)
    static let slowTestsEnabled = ProcessInfo.processInfo.environment["GRADEBOX_SLOW_TESTS"] == "1"
}

/// Runs `argv` with `chroot ROOTFS` and returns its standard output (the busybox in the image, not the host's).
private func runInChroot(_ rootfs: String, _ argv: [String]) throws -> (Int32, String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/sbin/chroot")
    process.arguments = [rootfs] + argv
    let out = Pipe()
    process.standardOutput = out
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

@Suite("Builtin images (real tools)", .serialized)
struct ImageBuildTests {
    @Test(
        "build(.minimal): static busybox with applet links, below 5 MB, runs in a chroot",
        .enabled(if: ImageHost.canBuildMinimal, "needs busybox-static installed (apt-get install -y busybox-static) or root to install it"))
    func minimal() async throws {
        let dir = try temporaryDirectory("imgstore")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = ImageStore(directory: dir)
        let info = try await store.build(.minimal)
        #expect(info.name == "minimal")
        #expect(info.format == .busybox)
        #expect(info.sizeBytes < 5 << 20, "minimal image is \(info.sizeBytes) bytes")
        #expect(info.sizeBytes > 500 << 10)
        let rootfs = try store.rootfsPath("minimal")
        for applet in ["sh", "echo", "cat", "sleep", "yes"] {
            #expect(FileManager.default.fileExists(atPath: rootfs + "/bin/" + applet), "bin/\(applet) missing")
        }
        #expect(try ELF.isStatic(rootfs + "/bin/busybox"))
        #expect(FileManager.default.contents(atPath: rootfs + "/etc/passwd").map { String(decoding: $0, as: UTF8.self) }?.contains("nobody") == true)
        #expect(try store.list().map(\.name) == ["minimal"])
        if ImageHost.isRoot {
            let (status, output) = try runInChroot(rootfs, ["/bin/sh", "-c", "echo hello from $(cat /etc/hostname 2>/dev/null || echo minimal)"])
            #expect(status == 0)
            #expect(output == "hello from minimal\n")
        }
        // Building again under the same name is refused; with another name it is a second image.
        await #expect(throws: SandboxError.self) { _ = try await store.build(.minimal) }
        _ = try await store.build(.minimal, name: "minimal-2")
        #expect(try store.list().map(\.name) == ["minimal", "minimal-2"])
    }

    @Test(
        "build(.minimal) then exportTar and re-import: the same tree",
        .enabled(if: ImageHost.canBuildMinimal, "needs busybox-static installed (apt-get install -y busybox-static) or root to install it"))
    func exportRoundTrip() async throws {
        let dir = try temporaryDirectory("imgstore")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = ImageStore(directory: dir)
        let built = try await store.build(.minimal)
        let tarPath = dir + "/export.tar"
        try await store.exportTar("minimal", to: tarPath)
        let again = try await store.importImage(name: "reimported", from: tarPath)
        #expect(again.format == .tar)
        #expect(again.fileCount == built.fileCount)
        let link = try FileManager.default.destinationOfSymbolicLink(atPath: again.rootfs + "/bin/sh")
        #expect(link == "busybox")
    }

    @Test(
        "build(.full): debootstrap minbase bookworm (about 30 s, 200 MB)",
        .enabled(if: ImageHost.canBuildFull, "needs root and debootstrap (or apt-get to install it)"),
        .enabled(if: ImageHost.slowTestsEnabled, "slow (about 30 s and 200 MB of downloads); run with GRADEBOX_SLOW_TESTS=1"))
    func full() async throws {
        let dir = try temporaryDirectory("imgstore")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = ImageStore(directory: dir)
        let lines = ProgressLines()
        let info = try await store.build(.full, progress: { lines.add($0) })
        #expect(info.format == .debootstrap)
        #expect(info.sizeBytes > 100 << 20 && info.sizeBytes < 400 << 20, "full image is \(info.sizeBytes) bytes")
        #expect(lines.count > 10, "debootstrap's lines are streamed")
        let rootfs = info.rootfs
        #expect(FileManager.default.fileExists(atPath: rootfs + "/usr/bin/apt-get"))
        let debs = (try? FileManager.default.contentsOfDirectory(atPath: rootfs + "/var/cache/apt/archives")) ?? []
        #expect(!debs.contains { $0.hasSuffix(".deb") })
        #expect((try? FileManager.default.contentsOfDirectory(atPath: rootfs + "/dev")) == [])
        let (status, output) = try runInChroot(rootfs, ["/bin/sh", "-c", ". /etc/os-release; echo $VERSION_CODENAME"])
        #expect(status == 0)
        #expect(output == "bookworm\n")
    }
}

extension ImageBuildTests {
    @Test(
        "build(.inginiousDefault): INGInious's default environment, its stock in-box API working as uid 4242",
        .enabled(if: ImageHost.canBuildFull, "needs root and debootstrap (or apt-get to install it)"),
        .enabled(if: ImageHost.slowTestsEnabled, "slow (about 80 s and 150 MB of downloads from Debian and PyPI); run with GRADEBOX_SLOW_TESTS=1"))
    func inginiousDefault() async throws {
        let dir = try temporaryDirectory("imgstore")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = ImageStore(directory: dir)
        let info = try await store.build(.inginiousDefault)
        #expect(info.name == "inginious-default")
        #expect(info.labels?["org.inginious.grading.name"] == "default")
        for path in ["/usr/bin/feedback-result", "/usr/bin/run_student", "/usr/lib/python3/dist-packages/inginious_container_api/feedback.py",
                     "/usr/lib/python3/dist-packages/inginious/feedback.py", "/task", "/.__output", "/.__input", "/archive", "/sockets"] {
            #expect(FileManager.default.fileExists(atPath: info.rootfs + path), "\(path)")
        }
        // The stock commands write the feedback file as a run script's worker.
        let out = try temporaryDirectory("feedback")
        defer { try? FileManager.default.removeItem(atPath: out) }
        chmod(out, 0o777)
        let state = try temporaryDirectory("state")
        defer { try? FileManager.default.removeItem(atPath: state) }
        let sandbox = Sandbox(stateDirectory: state, images: store)
        var spec = SandboxSpec(image: "inginious-default", command: ["/bin/bash", "-c", "feedback-result success; feedback-msg -m hi; id -u"])
        spec.user = UserID(uid: 4242, gid: 4242)
        spec.workingDirectory = "/task"
        spec.mounts = [BindMount(source: out, target: "/.__output", writable: true)]
        let r = try sandbox.runBlocking(spec)
        #expect(r.verdict == .OK && String(decoding: r.stdout, as: UTF8.self) == "4242\n")
        #expect((try? String(contentsOfFile: out + "/__feedback.json", encoding: .utf8)) == #"{"result": "success", "text": "hi"}"#)
        _ = try sandbox.gc(pool: true)
    }
}

final class ProgressLines: @unchecked Sendable {
    private var lines: [String] = []
    private let lock = NSLock()
    func add(_ line: String) { lock.withLock { lines.append(line) } }
    var count: Int { lock.withLock { lines.count } }
}
