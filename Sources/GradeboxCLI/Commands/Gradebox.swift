import ArgumentParser
import SandboxCore

struct Gradebox: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gradebox",
        abstract: "Run untrusted code for automatic grading: a sandbox ready in milliseconds, and the benchmark that proves it.",
        discussion: """
        Exit codes of `run` and `exec`: the program's own for OK and RE; \
        201 TO (time limit), 202 MLE (memory limit), 203 OLE (output limit), \
        204 SG (killed by a signal), 205 XX (the sandbox failed), 206 bad request.
        """,
        subcommands: [
            RunCommand.self, CreateCommand.self, StartCommand.self, ExecCommand.self,
            StopCommand.self, DeleteCommand.self, PsCommand.self, LogsCommand.self,
            GcCommand.self, ImageCommand.self, PoolCommand.self, BenchPassthrough.self, GradePassthrough.self, AgentPassthrough.self,
        ]
    )
}

/// Where state and images live.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "State directory (boxes, warm pool).")
    var root: String = Sandbox.defaultStateDirectory

    @Option(name: .long, help: "Image store directory.")
    var images: String = ImageStore.defaultDirectory

    var sandbox: Sandbox { Sandbox(stateDirectory: root, images: ImageStore(directory: images)) }
}
