import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import SandboxCore

/// Output limits per stream, what happens at them, and output sent to a caller's descriptor.
@Suite("output limits per stream, for real (root)", .serialized, .enabled(if: Host.canRunBoxes, Host.skipReason))
struct OutputLimitTests {
    func sandbox() async throws -> Sandbox { try await Fixture.shared.sandbox(state: "output") }

    @Test func aStreamLimitKillsByDefault() async throws {
        let r = try shell(try await sandbox(), "yes") { $0.limits.stdoutBytes = 100 }
        #expect(r.verdict == .OLE && r.limit == .output)
        #expect(r.stdout.count == 100 && r.stdoutTally.keptBytes == 100)
        #expect(r.stdoutTally.truncated && r.stdoutTally.droppedBytes > 0 && r.outputDroppedBytes == r.stdoutTally.droppedBytes)
        #expect(!r.stderrTally.truncated)
    }

    @Test func truncateDropsTheRestAndTheProgramGoesOn() async throws {
        let r = try shell(try await sandbox(), "yes | head -c 100000; echo done >&2") {
            $0.limits.stdoutBytes = 1000
            $0.limits.onOutputLimit = .truncate
        }
        #expect(r.verdict == .OK && r.limit == nil)
        #expect(r.stdout.count == 1000 && r.stdoutTally.droppedBytes == 99_000 && r.stdoutTally.truncated)
        #expect(r.err == "done\n" && !r.stderrTally.truncated && r.stderrTally.keptBytes == 5)
        // The other stream alone.
        let e = try shell(try await sandbox(), "printf 'out'; head -c 100 /dev/zero >&2") {
            $0.limits.stderrBytes = 10
            $0.limits.onOutputLimit = .truncate
        }
        #expect(e.out == "out" && e.stderr.count == 10 && e.stderrTally.droppedBytes == 90 && e.verdict == .OK)
        // Both streams together still count against --output.
        let both = try shell(try await sandbox(), "yes") { $0.limits.outputBytes = 64; $0.limits.onOutputLimit = .truncate; $0.limits.wallTimeSeconds = 0.3 }
        #expect(both.stdout.count == 64 && both.verdict == .TO, "truncated, so it ran until the wall limit")
    }

    @Test func outputGoesToTheCallersDescriptorsAsItComes() async throws {
        let dir = try temporaryDirectory("output")
        defer { Kernel.removeTree(dir) }
        let out = try Kernel.open(dir + "/out", O_WRONLY | O_CREAT | O_TRUNC)
        let err = try Kernel.open(dir + "/err", O_WRONLY | O_CREAT | O_TRUNC)
        defer { Kernel.close(out); Kernel.close(err) }
        let s = try await sandbox()
        var spec = SandboxSpec(image: "minimal", command: ["/bin/sh", "-c", "head -c 300000 /dev/zero | tr '\\0' x; echo oops >&2"])
        spec.limits.stdoutBytes = 200_000
        spec.limits.onOutputLimit = .truncate
        let r = try s.runBlocking(spec, stdout: .descriptor(out), stderr: .descriptor(err))
        #expect(r.verdict == .OK && r.stdout.isEmpty && r.stderr.isEmpty)
        #expect(r.stdoutTally.keptBytes == 200_000 && r.stdoutTally.droppedBytes == 100_000)
        #expect(try Kernel.readFile(dir + "/out").count == 200_000)
        #expect(Kernel.readText(dir + "/err") == "oops\n")
    }
}
