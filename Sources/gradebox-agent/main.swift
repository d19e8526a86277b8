import MessagePack
import Agent
import ArgumentParser
import Foundation
import Grading
import SandboxCore

/// `gradebox agent`: started in place of INGInious's Docker agent, against the same back-end.
struct AgentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Grade an INGInious back-end's jobs in gradebox boxes: a drop-in for INGInious 0.9.2's Docker agent.",
        discussion: """
            Connects to the back-end's agent address (inginious-backend AGENT_ADDR CLIENT_ADDR) and offers, as \
            environments of type docker, the images labelled org.inginious.grading.name (`gradebox image import` a \
            `docker save` of a school's environment images; `gradebox image build inginious-default` builds `default`). \
            SSH debugging is not offered: a job asking for it is graded in debug mode.
            """)

    @Option(help: "The back-end's address for agents, e.g. tcp://127.0.0.1:2001.") var backend: String
    @Option(help: "INGInious's tasks folder (COURSE/TASK/...).") var tasks: String
    @Option(help: "Jobs graded at once (default: the number of CPUs).") var concurrency: Int?
    @Option(help: "The name the back-end shows for this agent.") var name: String?
    @Option(name: .long, help: "State directory.") var root: String = Sandbox.defaultStateDirectory
    @Option(name: .long, help: "Image store directory.") var images: String = ImageStore.defaultDirectory

    func validate() throws {
        if let concurrency, concurrency < 1 { throw ValidationError("--concurrency must be at least 1") }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: tasks, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ValidationError("--tasks \(tasks): no such folder")
        }
        guard backend.hasPrefix("tcp://") || backend.hasPrefix("ipc://") else {
            throw ValidationError("--backend \(backend): expected tcp://HOST:PORT (or ipc://PATH)")
        }
    }

    func run() throws {
        let slots = concurrency ?? ProcessInfo.processInfo.activeProcessorCount
        let host = ProcessInfo.processInfo.hostName
        let options = InginiousAgent.Options(backend: backend, tasks: (tasks as NSString).standardizingPath,
                                             concurrency: slots, name: name ?? "gradebox on \(host)")
        var grader = Grader(sandbox: Sandbox(stateDirectory: root, images: ImageStore(directory: images)))
        grader.reusesGroups = true
        let agent = try InginiousAgent(options: options, grader: grader, log: { line in
            // write(2) as it is: FileHandle's locking and Data were a percent of the agent's CPU, two lines a job.
            var text = "\(Self.timestamp()) gradebox agent: \(line)\n"
            text.withUTF8 { bytes in
                var done = 0
                while done < bytes.count {
                    let n = write(2, bytes.baseAddress! + done, bytes.count - done)
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 { return }
                    done += n
                }
            }
        })
        // SIGTERM / SIGINT: end the running jobs (their boxes with them) and leave.
        for sig in [SIGTERM, SIGINT] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { agent.stop() }
            source.resume()
            Self.signalSources.append(source)
        }
        defer { grader.finish() }
        try agent.run()
    }

    nonisolated(unsafe) static var signalSources: [any DispatchSourceSignal] = []

    /// UTC, to the millisecond, without a DateFormatter (ICU's locale lookups were 5 % of the agent's CPU).
    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var t = time_t(now.tv_sec)
        var parts = tm()
        gmtime_r(&t, &parts)
        // Nor with String(format:): CFString's formatting was 2 % of it.
        func padded(_ n: Int, _ width: Int) -> String {
            let digits = String(n)
            return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
        }
        return padded(Int(parts.tm_year) + 1900, 4) + "-" + padded(Int(parts.tm_mon) + 1, 2) + "-" + padded(Int(parts.tm_mday), 2) + " "
            + padded(Int(parts.tm_hour), 2) + ":" + padded(Int(parts.tm_min), 2) + ":" + padded(Int(parts.tm_sec), 2) + "."
            + padded(Int(now.tv_nsec / 1_000_000), 3)
    }
}

// Before any thread is started, so that every thread has it (see blockChildSignals).
blockChildSignals()
AgentCommand.main()
