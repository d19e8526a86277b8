import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import BenchCore

/// The spawner every timed trial of a process-based candidate goes through.
@Suite("Spawn (posix_spawn, pipes, wait)")
struct SpawnTests {
    @Test func collectsBothStreamsAndTheExitStatus() async throws {
        let r = try await Spawn.run("/bin/sh", ["-c", "echo out; echo err >&2; exit 3"], environment: [:])
        #expect(r.status == 3)
        #expect(r.stdout == "out\n")
        #expect(r.stderr == "err\n")
    }

    @Test func aTimedTrialSpawnsOnTheCallingThreadWithTheSameResult() async throws {
        let r = try await Spawn.timed { () async throws(BenchError) in
            #expect(Spawn.onCallingThread)
            return try await Spawn.run("/bin/sh", ["-c", "echo out; echo err >&2; exit 4"], environment: [:])
        }
        #expect(r.status == 4 && r.stdout == "out\n" && r.stderr == "err\n")
        #expect(!Spawn.onCallingThread)
    }

    @Test func aSignalIsReportedAs128PlusItsNumber() async throws {
        let r = try await Spawn.run("/bin/sh", ["-c", "kill -9 $$"], environment: [:])
        #expect(r.status == 128 + SIGKILL)
    }

    @Test func theEnvironmentIsInheritedWithOverrides() async throws {
        let r = try await Spawn.run("/bin/sh", ["-c", "echo \"$GB_SPAWN_TEST:${PATH:+path}\""], environment: ["GB_SPAWN_TEST": "set"])
        #expect(r.stdout == "set:path\n")
    }

    @Test func standardInputIsEmptyAndOutputBeyondTheCapIsDropped() async throws {
        let r = try await Spawn.run("/bin/sh", ["-c", "cat; head -c \(Spawn.keptBytes + 1000) /dev/zero"], environment: [:])
        #expect(r.status == 0)
        #expect(r.stdout.utf8.count == Spawn.keptBytes)
    }

    @Test func aMissingProgramIsAnErrorNamingIt() async throws {
        await #expect(throws: BenchError.self) { try await Spawn.run("/no/such/tool", [], environment: [:]) }
    }

    @Test func signalsTheBenchIgnoresAreDefaultAgainInTheTool() async throws {
        let old = signal(SIGINT, SIG_IGN)
        defer { signal(SIGINT, old) }
        let r = try await Spawn.run("/bin/sh", ["-c", "grep SigIgn /proc/self/status"], environment: [:])
        let mask = UInt64(r.stdout.split(separator: "\t").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "", radix: 16)
        #expect(mask.map { $0 & (1 << (UInt64(SIGINT) - 1)) == 0 } == true, "SigIgn: \(r.stdout)")
    }
}
