import Testing
import ArgumentParser
@testable import GradeboxCLI
import SandboxCore

/// FastRun must read every argv it accepts exactly as ArgumentParser does,
/// and hand everything else to ArgumentParser.
@Suite struct FastRunTests {
    static let accepted: [[String]] = [
        ["--image", "minimal", "--", "/bin/echo", "hello"],
        ["--image=minimal", "--", "/bin/true"],
        ["--image", "minimal", "--json", "--", "sh", "-c", "exit 3"],
        ["-q", "--pool", "--image", "full", "--", "python3", "--version"],
        ["--root", "/tmp/state", "--images", "/tmp/img", "--image", "minimal", "--network", "host", "--", "id"],
        ["--image", "m", "--memory", "64M", "--memory-swap", "128M", "--cpus", "0.5", "--pids", "64",
         "--time", "2", "--wall-time", "5", "--output", "1M", "--tmpfs-size", "16M", "--nofile", "64",
         "--fsize", "1M", "--stack", "8M", "--", "x"],
        ["--image", "m", "--userns", "always", "--rootfs", "overlay", "--hostname", "h", "--workdir", "/w", "--", "x"],
        ["--image", "m", "--env", "A=1", "--env=B=2", "--mount", "/a:/b", "--mount", "/c:/d:rw",
         "--cap-add", "NET_RAW", "--user", "1000:1000", "--no-seccomp", "--", "x"],
        ["--image", "m", "--stdin", "none", "--", "x"],
        ["--image", "m", "--env-file", "/tmp/e1", "--env-file=/tmp/e2", "--keep-env", "HOME", "--workdir", "/bin",
         "--workdir-mode", "image", "--", "./x"],
        ["--image", "m", "--stdout-limit", "1K", "--stderr-limit=2K", "--on-output-limit", "truncate",
         "--stdout", "/tmp/o", "--stderr", "/tmp/e", "--time", "1:1.5", "--", "x"],
        ["--image", "m", "--stdin=/tmp/input.txt", "--json", "--", "x"],
        ["--image", "m", "--quiet", "--", "--image", "not-an-option-here"],
        ["--image", "m", "--"],
    ]

    static let declined: [[String]] = [
        ["--help"],
        ["-h", "--image", "m", "--", "x"],
        ["--image", "m", "/bin/echo"],                 // no --
        ["--", "/bin/echo"],                           // no image
        ["--image", "m", "--bogus", "--", "x"],
        ["--image", "m", "--network", "bridge", "--", "x"],
        ["--image", "m", "--workdir-mode", "elsewhere", "--", "x"],
        ["--image", "m", "--memory", "--", "x"],        // value missing
        ["--image", "m", "--image", "n", "--", "x"],   // repeated single option
        ["--image"],
    ]

    @Test(arguments: accepted)
    func agreesWithArgumentParser(_ argv: [String]) throws {
        let fast = try #require(FastRun.parse(argv[...]), "FastRun declined \(argv)")
        let full = try RunCommand.parse(argv).invocation
        #expect(fast == full)
    }

    @Test(arguments: declined)
    func leavesTheRestToArgumentParser(_ argv: [String]) {
        #expect(FastRun.parse(argv[...]) == nil)
    }

    @Test func readsTheValues() throws {
        let inv = try #require(FastRun.parse(["--image", "minimal", "--memory=64M", "--pool", "--", "/bin/echo", "hi"][...]))
        #expect(inv.isolation.image == "minimal")
        #expect(inv.limits.memory == "64M")
        #expect(inv.pool)
        #expect(inv.command == ["/bin/echo", "hi"])
        #expect(try inv.limits.limits().memoryBytes == 64 << 20)
    }
}
