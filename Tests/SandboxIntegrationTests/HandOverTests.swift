import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import SandboxCore

/// "pipe:[inode]", as /proc/<pid>/fd/N reads for a pipe end.
private func pipeName(_ fd: Int32) -> String {
    var st = stat()
    _ = fstat(fd, &st)
    return "pipe:[\(st.st_ino)]"
}

/// Everything that can be read from `fd` until its end of file.
private func readAll(_ fd: Int32) -> String {
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = read(fd, &buffer, buffer.count)
        if n <= 0 { break }
        bytes += buffer[0..<n]
    }
    return String(decoding: bytes, as: UTF8.self)
}

@Suite("streams handed over to a box, for real (root)", .serialized, .enabled(if: Host.canRunBoxes, Host.skipReason))
struct HandOverTests {
    /// The program's stdin, stdout and stderr are the caller's very pipes
    /// (the same inodes, not pipes of gradebox's relaying them), and nothing
    /// of what it wrote passes through the result.
    @Test func theProgramGetsTheCallersDescriptorsThemselves() async throws {
        let sandbox = try await Fixture.shared.sandbox(state: "handover")
        let input = try Kernel.pipe("test stdin"), output = try Kernel.pipe("test stdout"), errors = try Kernel.pipe("test stderr")
        defer { [input.read, output.read, errors.read].forEach(Kernel.close) }
        try Kernel.writeAll(input.write, Array("hello\n".utf8), "test stdin")
        Kernel.close(input.write)
        // Not in $(...): that would be a pipe of the shell's.
        let script = "read a; echo $a; readlink /proc/self/fd/0; readlink /proc/self/fd/1; readlink /proc/self/fd/2 >&2"
        let r = try sandbox.runBlocking(SandboxSpec(image: "minimal", command: ["/bin/sh", "-c", script]),
                                        stdin: .handOver(input.read), stdout: .handOver(output.write), stderr: .handOver(errors.write))
        // The caller's write ends are its own to close: then the reads end.
        Kernel.close(output.write)
        Kernel.close(errors.write)
        #expect(r.verdict == .OK)
        #expect(r.stdout.isEmpty && r.stderr.isEmpty)
        #expect(readAll(output.read) == "hello\n\(pipeName(input.read))\n\(pipeName(output.read))\n")
        #expect(readAll(errors.read) == "\(pipeName(errors.read))\n")
    }

    /// A directory is no stream: it is never given to a box, whose ".."
    /// from it would lead out of its root; it is written to as `.descriptor` is.
    @Test func aDirectoryIsNotHandedOver() async throws {
        let sandbox = try await Fixture.shared.sandbox(state: "handover")
        let dir = try Kernel.open("/", O_RDONLY | O_DIRECTORY)
        defer { Kernel.close(dir) }
        let r = try sandbox.runBlocking(SandboxSpec(image: "minimal", command: ["/bin/sh", "-c", "readlink /proc/self/fd/0 >&2; readlink /proc/self/fd/1 >&2; echo out"]),
                                        stdin: .handOver(dir), stdout: .handOver(dir))
        #expect(r.verdict == .OK)
        // Both are gradebox's pipes in the box; what went to "stdout" was not written anywhere.
        let names = r.err.split(separator: "\n")
        #expect(names.count == 2 && names.allSatisfy { $0.hasPrefix("pipe:[") }, "\(r.err)")
        #expect(r.stdout.isEmpty)
    }
}
