import ArgumentParser
import SandboxCore

struct StartCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "start", abstract: "Start a created box's program.")
    @OptionGroup var global: GlobalOptions
    @Flag(help: "Print the phase time as JSON.") var json = false
    @Argument(help: "Name of the box.") var name: String

    func run() throws {
        let ms = try timed { () throws(SandboxError) in try global.sandbox.startBlocking(name: name) }
        printPhase(name: name, phase: "start", ms: ms, json: json)
    }
}

struct ExecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec", abstract: "Run a command inside a box and wait for it (exit codes as for `run`), or start it detached (-d).")
    @OptionGroup var global: GlobalOptions
    @Option(help: "CPU time limit in seconds; SOFT:HARD gives TO past SOFT and kills at HARD.") var time: String?
    @Option(name: .customLong("wall-time"), help: "Wall-clock limit in seconds.") var wallTime: String?
    @Option(help: "Bytes of stdout+stderr kept together; past that, --on-output-limit.") var output: String?
    @Flag(help: "Print one JSON record on stdout and nothing else.") var json = false
    @Flag(name: .shortAndLong, help: "No summary line on stderr.") var quiet = false
    @Option(help: ArgumentHelp(StdinOption.help, valueName: "FILE|-|none")) var stdin: String?
    @Option(name: .customLong("stdout-limit"), help: "Bytes of stdout kept; past that, --on-output-limit.") var stdoutLimit: String?
    @Option(name: .customLong("stderr-limit"), help: "Bytes of stderr kept; past that, --on-output-limit.") var stderrLimit: String?
    @Option(name: .customLong("on-output-limit"), help: "kill (OLE, the default) or truncate.") var onOutputLimit: String?
    @Option(help: ArgumentHelp("Write the program's stdout to FILE.", valueName: "FILE")) var stdout: String?
    @Option(help: ArgumentHelp("Write the program's stderr to FILE.", valueName: "FILE")) var stderr: String?
    @Flag(name: .shortAndLong, help: "Start the command and return once it runs; print its pid. Its output goes to the box's logs (`gradebox logs`); it ends with the box.")
    var detach = false
    @Argument(help: "Name of the box.") var name: String
    @Argument(parsing: .postTerminator, help: "The command, after --.") var command: [String] = []

    func validate() throws {
        if detach && (time != nil || wallTime != nil || output != nil || stdoutLimit != nil || stderrLimit != nil || onOutputLimit != nil) {
            throw ValidationError("--detach takes no --time, --wall-time or output limits: a detached command runs until it exits or the box stops")
        }
        if detach && (stdout != nil || stderr != nil) {
            throw ValidationError("--detach takes no --stdout or --stderr: a detached command's output goes to the box's logs")
        }
        if detach && stdin != nil {
            throw ValidationError("--detach takes no --stdin: a detached command reads /dev/null")
        }
    }

    func run() throws {
        guard !command.isEmpty else { throw SandboxError.invalidRequest("no command given: add `-- PROGRAM [ARGS...]`") }
        if detach {
            let pid = try global.sandbox.execDetachedBlocking(name: name, command: command)
            if json { printJSON(DetachedRecord(name: name, pid: pid)) } else { print(pid) }
            return
        }
        var limits = Limits()
        if let time { (limits.cpuTimeSeconds, limits.cpuTimeKillSeconds) = try LimitParsing.cpuTime(time, option: "--time") }
        if let wallTime { limits.wallTimeSeconds = try LimitParsing.seconds(wallTime, option: "--wall-time") }
        try LimitValues(output: output, stdoutLimit: stdoutLimit, stderrLimit: stderrLimit, onOutputLimit: onOutputLimit)
            .outputLimits(into: &limits)
        let (out, err) = try OutputFiles.targets(stdout: stdout, stderr: stderr)
        let result = try global.sandbox.execBlocking(name: name, command: command, limits: limits, stdin: try StdinOption.input(stdin),
                                                     stdout: out, stderr: err)
        report(result, json: json, quiet: quiet)
        throw ExitCode(result.processExitCode)
    }
}

struct DetachedRecord: Encodable {
    var name: String
    var pid: Int32
}

struct StopCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stop", abstract: "Stop a box: its whole pid namespace is killed.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "Seconds between SIGTERM to the program and SIGKILL.") var grace: Double = 0
    @Flag(help: "Print the phase time as JSON.") var json = false
    @Argument(help: "Name of the box.") var name: String

    func run() throws {
        let ms = try timed { () throws(SandboxError) in try global.sandbox.stopBlocking(name: name, grace: grace) }
        printPhase(name: name, phase: "stop", ms: ms, json: json)
    }
}

struct DeleteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Stop a box if needed, remove its cgroup and state.")
    @OptionGroup var global: GlobalOptions
    @Flag(help: "Print the phase time as JSON.") var json = false
    @Argument(help: "Names of the boxes.") var names: [String]

    func run() throws {
        for name in names {
            let ms = try timed { () throws(SandboxError) in try global.sandbox.deleteBlocking(name: name) }
            printPhase(name: name, phase: "delete", ms: ms, json: json)
        }
    }
}

struct PsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ps", abstract: "List boxes.")
    @OptionGroup var global: GlobalOptions
    @Flag(help: "JSON array instead of a table.") var json = false

    func run() throws {
        let boxes = try global.sandbox.list()
        if json { printJSON(boxes); return }
        var lines = ["NAME\tSTATUS\tPID\tIMAGE\tCOMMAND"]
        for b in boxes {
            var status = b.status.rawValue
            if let c = b.exitCode { status += "(\(c))" } else if let s = b.signal { status += "(signal \(s))" }
            lines.append("\(b.name)\t\(status)\t\(b.pid.map(String.init) ?? "-")\t\(b.image)\t\(b.command.joined(separator: " "))")
        }
        FileHandleLite.standardOutput.write(lines.joined(separator: "\n") + "\n")
    }
}

struct LogsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "logs", abstract: "Print what a box's own program wrote.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Name of the box.") var name: String

    func run() throws {
        let (out, err) = try global.sandbox.logs(name: name)
        FileHandleLite.standardOutput.write(out)
        FileHandleLite.standardError.write(err)
    }
}
