import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import SandboxCore

/// What a caller got wrong is a bad request (206) naming what is missing, never XX.
@Suite("caller mistakes, for real (root)", .serialized, .enabled(if: Host.canRunBoxes, Host.skipReason))
struct CallerMistakeIntegrationTests {
    func sandbox() async throws -> Sandbox { try await Fixture.shared.sandbox(state: "mistakes") }

    func isBadRequest(_ body: () throws -> RunResult, mentioning text: String) {
        do {
            let r = try body()
            Issue.record("ran: \(r.verdict) \(r.failure?.description ?? "")")
        } catch let error as SandboxError {
            guard case .invalidRequest(let message) = error else { Issue.record("not a bad request: \(error)"); return }
            #expect(message.contains(text), "\(message)")
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test func aMissingWorkdirOrMountTargetIsABadRequest() async throws {
        let s = try await sandbox()
        isBadRequest({ try run(s, ["/bin/true"]) { $0.workingDirectory = "/doesnotexist" } }, mentioning: "--workdir /doesnotexist")
        let dir = try temporaryDirectory("mistakes")
        defer { Kernel.removeTree(dir) }
        try writeFile(dir + "/case.txt", "42\n")
        isBadRequest({ try run(s, ["/bin/cat", "/judge/case.txt"]) { $0.mounts = [BindMount(source: dir, target: "/judge")] } },
                     mentioning: "/judge is not a directory in image minimal")
        isBadRequest({ try run(s, ["/bin/true"]) { $0.mounts = [BindMount(source: dir + "/nope", target: "/tmp/x")] } },
                     mentioning: "does not exist on this host")
        // With an overlay root the mount point is made in the upper layer, and the bind works.
        let r = try run(s, ["/bin/cat", "/judge/case.txt"]) { $0.mounts = [BindMount(source: dir, target: "/judge")]; $0.rootfs = .overlay }
        #expect(r.verdict == .OK && r.out == "42\n")
        let w = try shell(s, "pwd; echo x > f && cat f") { $0.workingDirectory = "/work/here"; $0.rootfs = .overlay }
        #expect(w.verdict == .OK && w.out == "/work/here\nx\n")
    }

    @Test func aDirectoryImageWithoutDevIsABadRequestAndWorksAsAnOverlay() async throws {
        let s = try await sandbox()
        let image = try temporaryDirectory("image")
        defer { Kernel.removeTree(image) }
        let minimal = try s.images.rootfsPath("minimal")
        let copy = try spawnProcess(["/bin/cp", "-a", minimal + "/.", image])
        #expect(waitStatus(copy) == 0)
        _ = rmdir(image + "/dev")
        #expect(access(image + "/dev", F_OK) != 0)
        isBadRequest({ try run(s, ["/bin/true"]) { $0.image = image } }, mentioning: "has no /dev directory")
        let r = try run(s, ["/bin/sh", "-c", "ls /dev/null"]) { $0.image = image; $0.rootfs = .overlay }
        #expect(r.verdict == .OK && r.out == "/dev/null\n")
        #expect(access(image + "/dev", F_OK) != 0, "the image itself was not written")
    }

    @Test func aProgramRunsFromAnImageDirectory() async throws {
        let s = try await sandbox()
        let r = try run(s, ["./echo", "from the image"]) { $0.workingDirectory = "/bin"; $0.workingDirectoryMode = .image }
        #expect(r.verdict == .OK && r.out == "from the image\n")
        // By default the working directory is scratch space: the image's files are not there.
        #expect(throws: SandboxError.commandNotFound("./echo", image: "minimal")) {
            try run(s, ["./echo", "x"]) { $0.workingDirectory = "/bin" }
        }
        isBadRequest({ try run(s, ["/bin/true"]) { $0.workingDirectory = "/nowhere"; $0.workingDirectoryMode = .image } },
                     mentioning: "--workdir /nowhere: no such directory in image minimal")
    }

    @Test func aCreateWithAMistakeLeavesNoBox() async throws {
        let s = try await sandbox()
        let name = "mistake-\(getpid())"
        #expect(throws: SandboxError.self) {
            try s.createBlocking(name: name, spec: SandboxSpec(image: "minimal", command: ["/bin/sleep", "1"], workingDirectory: "/doesnotexist"))
        }
        #expect(throws: SandboxError.containerNotFound(name)) { try s.info(name: name) }
    }
}
