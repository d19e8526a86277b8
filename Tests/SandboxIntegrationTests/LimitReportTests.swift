import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import SandboxCore

/// Which limit fired and how the program ended, as a judge reads them.
@Suite("which limit fired, for real (root)", .serialized, .enabled(if: Host.canRunBoxes, Host.skipReason))
struct LimitReportTests {
    func sandbox() async throws -> Sandbox { try await Fixture.shared.sandbox(state: "limits") }

    @Test func cpuAndWallTimeAreToldApartAndNameTheirSignal() async throws {
        let s = try await sandbox()
        let cpu = try shell(s, "while :; do :; done") { $0.limits.cpuTimeSeconds = 0.5 }
        #expect(cpu.verdict == .TO && cpu.limit == .cpu && cpu.signal == SIGKILL)
        let wall = try shell(s, "sleep 10") { $0.limits.wallTimeSeconds = 0.3 }
        #expect(wall.verdict == .TO && wall.limit == .wall && wall.signal == SIGKILL)
    }

    @Test func memoryOutputAndPidsNameTheirLimit() async throws {
        let s = try await sandbox()
        let mem = try shell(s, "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo ${#x}") { $0.limits.memoryBytes = 32 << 20 }
        #expect(mem.verdict == .MLE && mem.limit == .memory)
        let out = try shell(s, "yes") { $0.limits.outputBytes = 4096 }
        #expect(out.verdict == .OLE && out.limit == .output)
        let forks = try shell(s, "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 1 & done; wait; echo done") { $0.limits.pids = 4 }
        #expect(forks.limit == .pids, "a fork was refused: \(forks.verdict) \(forks.err)")
        let fine = try shell(s, "sleep 0 & wait") { $0.limits.pids = 4 }
        #expect(fine.verdict == .OK && fine.limit == nil)
    }

    @Test func aSoftLimitGivesTOAndTheKillComesAtTheHardOne() async throws {
        let s = try await sandbox()
        // Ends by itself after ~0.6 s of CPU here: past the soft limit, well
        // within the hard one (under QEMU's TCG, in the cgroup v2 guest, the
        // same loop took more than the 5 s this hard limit once was).
        let slack = try shell(s, "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; echo finished") {
            $0.limits.cpuTimeSeconds = 0.1
            $0.limits.cpuTimeKillSeconds = 30
        }
        #expect(slack.out == "finished\n", "not killed in the slack: \(slack.cpuMs) ms")
        #expect(slack.verdict == .TO && slack.limit == .cpu && slack.exitCode == 0)
        let endless = try shell(s, "while :; do :; done") {
            $0.limits.cpuTimeSeconds = 0.2
            $0.limits.cpuTimeKillSeconds = 0.6
        }
        #expect(endless.verdict == .TO && endless.cpuMs >= 600 && endless.cpuMs < 800, "killed at \(endless.cpuMs) ms")
    }

    @Test func cpuTimeIsSplitIntoUserAndSystem() async throws {
        let s = try await sandbox()
        let r = try shell(s, "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done") { $0.limits.memoryBytes = 64 << 20 }
        let user = try #require(r.cpuUserMs), system = try #require(r.cpuSysMs)
        #expect(user > 0 && user + system <= r.cpuMs * 1.05 + 1, "user \(user) + system \(system) vs \(r.cpuMs)")
        let noGroup = try shell(s, "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done")
        #expect((noGroup.cpuUserMs ?? 0) > 0)
    }

    @Test func execHonoursItsCpuLimitAsRunDoes() async throws {
        let s = try await sandbox()
        let name = "limits-\(getpid())"
        var spec = SandboxSpec(image: "minimal", command: ["/bin/sleep", "30"])
        spec.limits.memoryBytes = 64 << 20
        try s.createBlocking(name: name, spec: spec)
        defer { try? s.deleteBlocking(name: name) }
        try s.startBlocking(name: name)
        let r = try s.execBlocking(name: name, command: ["/bin/sh", "-c", "while :; do :; done"], limits: Limits(cpuTimeSeconds: 0.5))
        #expect(r.verdict == .TO && r.limit == .cpu)
        #expect(r.cpuMs < 700, "exec ran \(r.cpuMs) ms of CPU for a 0.5 s limit")
    }
}
