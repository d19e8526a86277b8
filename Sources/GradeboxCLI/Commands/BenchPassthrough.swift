import ArgumentParser
import SandboxCore
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

/// `gradebox grade ...` is carried out by `gradebox-grade`, beside this one:
/// grading reads YAML (Yams, and so Foundation), which `gradebox run` must not load.
struct GradePassthrough: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grade",
        abstract: "Grade a submission of an INGInious task in gradebox boxes (`gradebox grade --help`).")

    @Argument(parsing: .captureForPassthrough, help: "Arguments of `gradebox-grade`.")
    var arguments: [String] = []

    func run() throws { execBeside("gradebox-grade", arguments) }
}

func execBench(_ arguments: [String]) -> Never { execBeside("gradebox-bench", arguments) }

/// Replaces this process with `TOOL ARGS`, found beside /proc/self/exe.
func execBeside(_ tool: String, _ arguments: [String]) -> Never {
    let path = Kernel.besideExecutable(tool)
    let argv = ([path] + arguments).map { strdup($0) } + [nil]
    execv(path, argv)
    fail("cannot run \(path): \(String(cString: strerror(errno))) (build it: swift build --product \(tool))", kind: "usage")
}

/// `gradebox agent ...` is carried out by `gradebox-agent`, beside this one:
/// it links ZeroMQ and the grading engine, which `gradebox run` must not load.
struct AgentPassthrough: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Grade an INGInious back-end's jobs: a drop-in for its Docker agent (`gradebox agent --help`).")

    @Argument(parsing: .captureForPassthrough, help: "Arguments of `gradebox-agent`.")
    var arguments: [String] = []

    func run() throws { execBeside("gradebox-agent", arguments) }
}
