import ArgumentParser
import SandboxCore

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Create a box, run a command in it, delete the box: one shot.",
        discussion: "Exits with the program's code for OK/RE, or 201 TO, 202 MLE, 203 OLE, 204 SG, 205 XX, 206 bad request.")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var isolation: IsolationOptions
    @OptionGroup var limitOptions: LimitOptions
    @Flag(help: "Take the cgroup and network namespace from the warm pool.") var pool = false
    @Flag(help: "Print one JSON record on stdout and nothing else.") var json = false
    @Flag(name: .shortAndLong, help: "No summary line on stderr.") var quiet = false
    @Option(help: ArgumentHelp(StdinOption.help, valueName: "FILE|-|none")) var stdin: String?
    @Option(help: ArgumentHelp("Write the program's stdout to FILE, not to this process's.", valueName: "FILE")) var stdout: String?
    @Option(help: ArgumentHelp("Write the program's stderr to FILE, not to this process's.", valueName: "FILE")) var stderr: String?
    @Argument(parsing: .postTerminator, help: "The command, after --.") var command: [String] = []

    var invocation: RunInvocation {
        RunInvocation(root: global.root, images: global.images, isolation: isolation.values, limits: limitOptions.values,
                      pool: pool, json: json, quiet: quiet, stdin: stdin, stdoutFile: stdout, stderrFile: stderr, command: command)
    }

    func run() throws {
        throw ExitCode(try invocation.execute())
    }
}
