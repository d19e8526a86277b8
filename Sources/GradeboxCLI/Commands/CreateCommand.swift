import ArgumentParser
import SandboxCore

struct CreateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Set a box up and leave it waiting for `start` (default command: a shell that waits).")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var isolation: IsolationOptions
    @OptionGroup var limitOptions: LimitOptions
    @Flag(help: "Print the phase time as JSON.") var json = false
    @Argument(help: "Name of the box.") var name: String
    @Argument(parsing: .postTerminator, help: "The box's first program, after --.") var command: [String] = []

    func run() throws {
        let argv = command.isEmpty ? ["/bin/sh", "-c", "while :; do sleep 3600; done"] : command
        let spec = try isolation.spec(command: argv, limits: try limitOptions.limits())
        let ms = try timed { () throws(SandboxError) in try global.sandbox.createBlocking(name: name, spec: spec) }
        printPhase(name: name, phase: "create", ms: ms, json: json)
    }
}

/// Runs `body` and returns its duration in ms (monotonic clock).
func timed(_ body: () throws(SandboxError) -> Void) throws(SandboxError) -> Double {
    let start = ContinuousClock.now
    try body()
    let d = ContinuousClock.now - start
    return Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
}

struct PhaseRecord: Encodable {
    var name: String
    var phase: String
    var ms: Double
}

func printPhase(name: String, phase: String, ms: Double, json: Bool) {
    if json { printJSON(PhaseRecord(name: name, phase: phase, ms: ms)) } else {
        FileHandleLite.standardError.write("gradebox: \(phase) \(name) in \(fixed(ms, 2)) ms\n")
    }
}
