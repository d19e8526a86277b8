import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import SandboxCore

/// Writes `chunks` to `fd` on a thread of its own, pausing `gapMs` between
/// them, then closes it: a caller feeding a program while it runs.
private func feed(_ fd: Int32, _ chunks: [[UInt8]], gapMs: UInt32 = 0) {
    let thread = startThread("test feeder") {
        for (i, chunk) in chunks.enumerated() {
            if i > 0 && gapMs > 0 { usleep(gapMs * 1000) }
            try? Kernel.writeAll(fd, chunk, "feeder")
        }
        Kernel.close(fd)
    }
    if case .failure = thread { Kernel.close(fd) }
}

private func pattern(_ count: Int) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 9) }
}

@Suite("standard input, for real (root)", .serialized, .enabled(if: Host.canRunBoxes, Host.skipReason))
struct StdinTests {
    @Test func tenMegabytesInWhileTenMegabytesComeOut() async throws {
        let sandbox = try await Fixture.shared.sandbox(state: "stdin")
        let input = pattern(10 << 20)
        let r = try sandbox.runBlocking(SandboxSpec(image: "minimal", command: ["/bin/cat"]), stdin: .bytes(input))
        #expect(r.verdict == .OK)
        #expect(r.stdinBytes == input.count)
        #expect(r.stdout.count == input.count && r.stdout == input, "cat gave back \(r.stdout.count) bytes")
    }

    @Test func aPipeIsRelayedAsItComes() async throws {
        let sandbox = try await Fixture.shared.sandbox(state: "stdin")
        let p = try Kernel.pipe("test input")
        defer { Kernel.close(p.read) }
        let input = pattern(10 << 20)
        feed(p.write, stride(from: 0, to: input.count, by: 1 << 20).map { Array(input[$0..<min($0 + (1 << 20), input.count)]) })
        let r = try sandbox.runBlocking(SandboxSpec(image: "minimal", command: ["/bin/cat"]), stdin: .descriptor(p.read))
        #expect(r.verdict == .OK)
        #expect(r.stdinBytes == input.count)
        #expect(r.stdout == input)
    }

    /// The program reads a line, answers, and reads again: the second line
    /// comes only later, and the first must reach the program before it does.
    @Test func anInteractiveProgramGetsEachLineAsItIsWritten() async throws {
        let sandbox = try await Fixture.shared.sandbox(state: "stdin")
        let p = try Kernel.pipe("test input")
        defer { Kernel.close(p.read) }
        feed(p.write, [Array("1\n".utf8), Array("2\n".utf8)], gapMs: 300)
        let script = "read a; echo \"got $a $(cat /proc/uptime | cut -d' ' -f1)\"; read b; echo \"got $b $(cat /proc/uptime | cut -d' ' -f1)\""
        let r = try sandbox.runBlocking(SandboxSpec(image: "minimal", command: ["/bin/sh", "-c", script]), stdin: .descriptor(p.read))
        #expect(r.verdict == .OK)
        let lines = r.out.split(separator: "\n").map { $0.split(separator: " ") }
        try #require(lines.count == 2, "\(r.out)")
        #expect(lines[0][1] == "1" && lines[1][1] == "2")
        // The first answer came before the second line was written, 0.3 s later.
        let first = try #require(Double(lines[0][2])), second = try #require(Double(lines[1][2]))
        #expect(second - first >= 0.2, "answered at \(first) and \(second)")
        #expect(r.stdinBytes == 4)
    }

    @Test func aProgramThatStopsReadingEndsAndTheCallerLives() async throws {
        let sandbox = try await Fixture.shared.sandbox(state: "stdin")
        let r = try sandbox.runBlocking(SandboxSpec(image: "minimal", command: ["/bin/head", "-c", "10"]), stdin: .bytes(pattern(4 << 20)))
        #expect(r.verdict == .OK)
        #expect(r.stdout.count == 10)
        #expect(r.stdinBytes >= 10 && r.stdinBytes < 4 << 20)
        // A caller whose input never ends is not waited for either.
        let p = try Kernel.pipe("endless input")
        defer { Kernel.close(p.read); Kernel.close(p.write) }
        let q = try sandbox.runBlocking(SandboxSpec(image: "minimal", command: ["/bin/true"]), stdin: .descriptor(p.read))
        #expect(q.verdict == .OK)
    }

    @Test func aRegularFileIsHandedOverAndCounted() async throws {
        let sandbox = try await Fixture.shared.sandbox(state: "stdin")
        let dir = try temporaryDirectory("stdin")
        defer { Kernel.removeTree(dir) }
        let text = String(repeating: "line of input\n", count: 1000)
        try writeFile(dir + "/in", text)
        let fd = try Kernel.open(dir + "/in", O_RDONLY)
        defer { Kernel.close(fd) }
        let r = try sandbox.runBlocking(SandboxSpec(image: "minimal", command: ["/bin/wc", "-l"]), stdin: .descriptor(fd))
        #expect(r.out.trimmingCharacters(in: .whitespacesAndNewlines) == "1000")
        #expect(r.stdinBytes == text.utf8.count)
        let none = try sandbox.runBlocking(SandboxSpec(image: "minimal", command: ["/bin/wc", "-c"]))
        #expect(none.out.trimmingCharacters(in: .whitespacesAndNewlines) == "0" && none.stdinBytes == 0)
    }

    @Test func pooledRunsAndExecTakeInputToo() async throws {
        let sandbox = try await Fixture.shared.sandbox(state: "stdin")
        let pooled = try sandbox.runBlocking(SandboxSpec(image: "minimal", command: ["/bin/cat"]), pool: true, stdin: .bytes(Array("pooled\n".utf8)))
        #expect(pooled.out == "pooled\n")
        let name = "stdin-\(getpid())"
        try sandbox.createBlocking(name: name, spec: SandboxSpec(image: "minimal", command: ["/bin/sleep", "30"]))
        defer { try? sandbox.deleteBlocking(name: name) }
        try sandbox.startBlocking(name: name)
        let r = try sandbox.execBlocking(name: name, command: ["/bin/tr", "a-z", "A-Z"], stdin: .bytes(Array("exec\n".utf8)))
        #expect(r.verdict == .OK && r.out == "EXEC\n" && r.stdinBytes == 5)
    }
}
