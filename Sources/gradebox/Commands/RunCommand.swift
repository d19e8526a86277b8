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
    @Argument(parsing: .postTerminator, help: "The command, after --.") var command: [String] = []

    func run() throws {
        let spec = try isolation.spec(command: command, limits: try limitOptions.limits())
        let result = try global.sandbox.runBlocking(spec, pool: pool)
        report(result, json: json, quiet: quiet)
        throw ExitCode(result.processExitCode)
    }
}
