import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif

/// `gradebox bench ...` is carried out by the `gradebox-bench` executable
/// installed beside this one (git-style): the benchmark needs an HTTP client,
/// SQLite and Foundation, which would slow every `gradebox run` down.
struct BenchPassthrough: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "The thesis's benchmark: every candidate stack, phase by phase (`gradebox bench --help`).")

    @Argument(parsing: .captureForPassthrough, help: "Arguments of `gradebox-bench`.")
    var arguments: [String] = []

    func run() throws { execBench(arguments) }
}

/// Replaces this process with `gradebox-bench ARGS`, found beside /proc/self/exe.
func execBench(_ arguments: [String]) -> Never {
    var buffer = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    let me = n > 0 ? String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
    let dir = me.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
    let bench = dir + "/gradebox-bench"
    let argv = ([bench] + arguments).map { strdup($0) } + [nil]
    execv(bench, argv)
    fail("cannot run \(bench): \(String(cString: strerror(errno))) (build it: swift build --product gradebox-bench)", kind: "usage")
}
