import Foundation
import Testing
import SandboxCore
@testable import Agent
@testable import MessagePack
@testable import Grading

/// The real thing: INGInious 0.9.2's stock back-end (from PyPI, in a
/// virtualenv scripts/inginious/setup-venv.sh makes; scripts/test.sh runs it),
/// `gradebox agent` connected to it, jobs submitted with the stock Python
/// Client and the stock inginious-test-task (through scripts/inginious/harness.py).
private enum Stock {
    static let venv = ProcessInfo.processInfo.environment["GRADEBOX_INGINIOUS_VENV"] ?? "/opt/gradebox-inginious-venv"
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let harness = root + "/scripts/inginious/harness.py"
    static let course = root + "/scripts/inginious/example-course"
    /// gradebox-agent, built beside this test binary.
    static let agent = Kernel.besideExecutable("gradebox-agent")

    static let missing: String? = {
        if geteuid() != 0 { return "needs root" }
        if !FileManager.default.isExecutableFile(atPath: venv + "/bin/inginious-backend") {
            return "needs INGInious 0.9.2 in \(venv) (bash scripts/inginious/setup-venv.sh)"
        }
        if !FileManager.default.isExecutableFile(atPath: agent) { return "needs \(agent) (swift build --product gradebox-agent)" }
        if Environments(images: ImageStore()).image(for: "default") == nil {
            return "needs the inginious-default image (gradebox image build inginious-default)"
        }
        return nil
    }()
}

/// A child process with its output in a log file; stopped (SIGTERM, then SIGKILL) by `stop`.
private final class Child {
    let process = Process()
    let log: String

    init(_ executable: String, _ arguments: [String], log: String) throws {
        self.log = log
        FileManager.default.createFile(atPath: log, contents: nil)
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = out
        process.standardError = out
        try process.run()
    }

    var output: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

    /// The names of its threads that do not block `signal` (SigBlk in /proc/PID/task/TID/status).
    func threadsNotBlocking(_ signal: Int32) -> [String] {
        let tasks = "/proc/\(process.processIdentifier)/task"
        return ((try? FileManager.default.contentsOfDirectory(atPath: tasks)) ?? []).compactMap { tid in
            guard let status = try? String(contentsOfFile: "\(tasks)/\(tid)/status", encoding: .utf8),
                  let line = status.split(separator: "\n").first(where: { $0.hasPrefix("SigBlk:") }),
                  let mask = UInt64(line.dropFirst("SigBlk:".count).trimmingCharacters(in: .whitespaces), radix: 16) else { return nil }
            if mask & (1 << UInt64(signal - 1)) != 0 { return nil }
            let name = (try? String(contentsOfFile: "\(tasks)/\(tid)/comm", encoding: .utf8)) ?? "?"
            return "\(tid) \(name.trimmingCharacters(in: .whitespacesAndNewlines))"
        }
    }

    func kill9() {
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        for _ in 0..<100 where process.isRunning { usleep(50_000) }
        if process.isRunning { kill9() }
        process.waitUntilExit()
    }

    /// How much of the log there is now: a `waitFor` from here sees only what comes after.
    var mark: Int { output.utf8.count }

    /// Waits until the log holds `text` past `mark` (what was written before it does not count).
    func waitFor(_ text: String, after mark: Int = 0, seconds: Double = 30) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if String(decoding: output.utf8.dropFirst(mark), as: UTF8.self).contains(text) { return true }
            usleep(50_000)
        }
        return false
    }
}

/// One stock back-end on loopback and what it needs, for a test.
private final class Deployment {
    let dir = NSTemporaryDirectory() + "gradebox-agent-e2e-\(UUID().uuidString)"
    let agentPort = Int.random(in: 40000..<45000)
    var clientPort: Int { agentPort + 5000 }
    var backend: Child!
    var agents: [Child] = []
    let tasks: String

    init() throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        // The example course, and a task that waits (to kill it mid-job).
        tasks = dir + "/tasks"
        try FileManager.default.copyItem(atPath: Stock.course, toPath: tasks)
        let slow = tasks + "/gradebox-bench/slow"
        try FileManager.default.createDirectory(atPath: slow, withIntermediateDirectories: true)
        try "name: slow\nenvironment_type: docker\nenvironment_id: default\nenvironment_parameters:\n  limits: {time: 30, memory: 100}\nproblems: {}\n"
            .write(toFile: slow + "/task.yaml", atomically: true, encoding: .utf8)
        try "#!/bin/bash\necho \"import time; time.sleep($(cat /task/seconds))\" > /task/student/s.py\nrun_student python3 /task/student/s.py || exit 1\nfeedback-result success\n"
            .write(toFile: slow + "/run", atomically: true, encoding: .utf8)
        try "20".write(toFile: slow + "/seconds", atomically: true, encoding: .utf8)
        chmod(slow + "/run", 0o755)
        backend = try Child(Stock.venv + "/bin/inginious-backend", ["tcp://127.0.0.1:\(agentPort)", "tcp://127.0.0.1:\(clientPort)"],
                            log: dir + "/backend.log")
    }

    @discardableResult
    func startAgent(_ name: String, concurrency: Int = 2) throws -> Child {
        let mark = backend.mark   // an earlier agent of the same name said hello too
        // Started with no signal blocked, as from a shell or systemd: this
        // test process's threads block some, and a child inherits its mask.
        let unblocked = "import os, signal, sys; signal.pthread_sigmask(signal.SIG_SETMASK, []); os.execv(sys.argv[1], sys.argv[1:])"
        let agent = try Child(Stock.venv + "/bin/python3", ["-c", unblocked, Stock.agent, "--backend", "tcp://127.0.0.1:\(agentPort)",
                                                            "--tasks", tasks, "--concurrency", "\(concurrency)", "--name", name],
                              log: dir + "/agent-\(name)-\(agents.count).log")
        agents.append(agent)
        #expect(backend.waitFor("(\(name)) said hello", after: mark), "the back-end heard agent \(name): \(backend.output)")
        return agent
    }

    /// harness.py submit: one JSON line per job, then a summary line. `meanwhile` runs once it is started.
    func submit(_ task: String, _ arguments: [String] = [], meanwhile: () -> Void = {})
        throws -> (results: [[String: Any]], status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Stock.venv + "/bin/python3")
        p.arguments = [Stock.harness, "submit", "--client", "tcp://127.0.0.1:\(clientPort)", "--tasks", tasks,
                       "--course", "gradebox-bench", "--task", task] + arguments
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        meanwhile()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let output = String(decoding: data, as: UTF8.self)
        let results = output.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .filter { $0["job_id"] != nil }
        return (results, p.terminationStatus, output)
    }

    func stop() {
        for agent in agents { agent.stop() }
        backend.stop()
        try? FileManager.default.removeItem(atPath: dir)
    }
}

@Suite("gradebox agent behind a stock INGInious 0.9.2 back-end (root, real processes)", .serialized,
       .enabled(if: Stock.missing == nil, Comment(rawValue: Stock.missing ?? "")))
struct AgentEndToEndTests {
    @Test func theStockClientAndTaskTesterGradeThroughTheAgent() throws {
        let d = try Deployment()
        defer { d.stop() }
        let agent = try d.startAgent("a")
        let t1 = try d.submit("t1", ["--jobs", "3", "--expect", "success"])
        #expect(t1.status == 0 && t1.results.count == 3, "\(t1.results)")
        let t2 = try d.submit("t2", ["--input", "q1=print(6*7)", "--jobs", "2", "--in-flight", "2", "--expect", "success"])
        #expect(t2.status == 0 && t2.results.allSatisfy { $0["grade"] as? Double == 100 }, "\(t2.results)")
        // No thread of the agent's, ZeroMQ's included, is woken by the SIGCHLD of a box's end (blockChildSignals).
        let woken = agent.threadsNotBlocking(SIGCHLD)
        #expect(woken.isEmpty, "threads that take SIGCHLD: \(woken)")
        let wrong = try d.submit("t2", ["--input", "q1=print(6*6)", "--expect", "failed"])
        #expect(wrong.status == 0, "\(wrong.results)")
        // The stock task tester, its test/*.test files, through the same back-end.
        let tester = Process()
        tester.executableURL = URL(fileURLWithPath: Stock.venv + "/bin/python3")
        tester.arguments = [Stock.harness, "test-task", "--client", "tcp://127.0.0.1:\(d.clientPort)", "--tasks", d.tasks,
                            "--course", "gradebox-bench", "t1", "t2"]
        tester.standardOutput = FileHandle.nullDevice
        tester.standardError = FileHandle.nullDevice
        try tester.run()
        tester.waitUntilExit()
        #expect(tester.terminationStatus == 0, "inginious-test-task found a mismatch")
    }

    @Test func killsFromTheClientAndAnAgentKilledMidJob() throws {
        let d = try Deployment()
        defer { d.stop() }
        let first = try d.startAgent("k")
        let killed = try d.submit("slow", ["--kill-after", "700"])
        #expect(killed.results.first?["result"] as? String == "killed", "\(killed.results)")
        #expect((killed.results.first?["latency_ms"] as? Double ?? 1e9) < 5000, "killed at once, not at the end of the job")
        // kill -9 of the agent while it grades: the back-end drops it and crashes its job.
        let mark = first.mark   // the killed job started too
        let crashed = try d.submit("slow") {
            #expect(first.waitFor("(gradebox-bench/slow): started", after: mark, seconds: 30))
            first.kill9()
        }
        #expect(crashed.output.contains("Agent restarted"), "the back-end answered the job as INGInious does")
        // A restarted agent serves the next jobs.
        try d.startAgent("k")
        let after = try d.submit("t1", ["--expect", "success"])
        #expect(after.status == 0, "\(after.results)")
        // Nothing of the killed agent's job is left: its boxes died with it, its files were removed by the next agent.
        #expect(!psContains("/task/student/s.py"), "a student box of the killed agent still runs")
        let folders = (try? FileManager.default.contentsOfDirectory(atPath: Grader.defaultWorkDirectory)) ?? []
        #expect(!folders.contains { $0.hasPrefix("gradebox-job-\(first.process.processIdentifier)-") }, "the killed agent's job folder is left")
    }

    /// A back-end restarted under the agent: ZeroMQ reconnects the socket
    /// silently, the new back-end knows nothing of the agent and never pings
    /// it; after 10 s without a word the agent says hello again.
    @Test func anAgentComesBackToARestartedBackEnd() throws {
        let d = try Deployment()
        defer { d.stop() }
        let agent = try d.startAgent("r")
        d.backend.stop()
        d.backend = try Child(Stock.venv + "/bin/inginious-backend", ["tcp://127.0.0.1:\(d.agentPort)", "tcp://127.0.0.1:\(d.clientPort)"],
                              log: d.dir + "/backend-2.log")
        #expect(d.backend.waitFor("(r) said hello", seconds: 25), "the agent said hello to the new back-end: \(agent.output)")
        let after = try d.submit("t1", ["--expect", "success"])
        #expect(after.status == 0, "\(after.results)")
    }

    @Test func aSecondAgentSharesTheLoad() throws {
        let d = try Deployment()
        defer { d.stop() }
        try "1".write(toFile: d.tasks + "/gradebox-bench/slow/seconds", atomically: true, encoding: .utf8)
        let a = try d.startAgent("one", concurrency: 1)
        let b = try d.startAgent("two", concurrency: 1)
        let r = try d.submit("slow", ["--jobs", "4", "--in-flight", "2", "--expect", "success"])
        #expect(r.status == 0 && r.results.count == 4, "\(r.results)")
        let byA = a.output.components(separatedBy: "): success").count - 1
        let byB = b.output.components(separatedBy: "): success").count - 1
        #expect(byA >= 1 && byB >= 1 && byA + byB == 4, "jobs graded: \(byA) by one, \(byB) by two")
    }
}

/// Whether a process whose command line holds `text` runs on the host.
private func psContains(_ text: String) -> Bool {
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] where Int(entry) != nil {
        if let cmd = try? String(contentsOfFile: "/proc/\(entry)/cmdline", encoding: .utf8), cmd.replacingOccurrences(of: "\0", with: " ").contains(text) {
            return true
        }
    }
    return false
}
