import ArgumentParser
import Foundation
import Grading
import SandboxCore

/// `gradebox grade bench`: grades the two jobs INGInious was measured with,
/// t1 (a run script that only sets a result) and t2 (the student's code,
/// `print(6*7)`, saved and run with run_student, its output checked for 42),
/// one after another and with several in flight, and reports per-job latency
/// (median, p95), jobs/s, CPU-seconds per job and the phases. One JSON record
/// per job goes to --records.
struct GradeBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Grade INGInious's two measured jobs (t1: feedback only; t2: run_student) and report latency and throughput.")

    @Option(help: "Jobs per task and mode.") var jobs = 30
    @Option(name: .customLong("in-flight"), help: "Jobs graded at once in the second mode.") var inFlight = 2
    @Option(help: "Where each job's record goes (JSON lines).") var records = "out/grading/records.jsonl"
    @Option(name: .long, help: "State directory.") var root: String = Sandbox.defaultStateDirectory
    @Option(name: .long, help: "Image store directory.") var images: String = ImageStore.defaultDirectory

    struct Record: Encodable {
        var task: String
        var mode: String
        var job: Int
        var result: String
        var ms: Double
        /// The run script's and student's processes' CPU time; `ms` less this is the platform's share.
        var programsCpuMs: Double?
        var phases: [String: Double]
    }

    func run() async throws {
        guard jobs > 0, inFlight > 0 else { throw ValidationError("--jobs and --in-flight must be positive") }
        let course = NSTemporaryDirectory() + "gradebox-grade-bench-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: course) }
        try write(course, "t1", problems: "", run: "#!/bin/bash\nfeedback-result success\n")
        try write(course, "t2", problems: "problems:\n  q1: {type: code}\n", run: """
            #!/bin/bash
            getinput q1 > /task/student/student.py
            cd /task/student
            if [ "$(run_student python3 student.py)" = 42 ]; then feedback-result success; else feedback-result failed; fi

            """)
        // A grader that lives on, as `gradebox agent` is: each job's cgroups and namespaces kept for the next.
        let grader = {
            var grader = Grader(sandbox: Sandbox(stateDirectory: root, images: ImageStore(directory: images)))
            grader.reusesGroups = true
            return grader
        }()
        defer { grader.finish() }
        try FileManager.default.createDirectory(atPath: (records as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: records, contents: nil)
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: records))
        defer { try? out.close() }
        print("task  mode          jobs  median ms  p95 ms  jobs/s  CPU-s/job  grader CPU ms/job  platform ms  failures")
        for task in ["t1", "t2"] {
            let job = GradingJob(course: course, task: task, inputs: task == "t2" ? ["q1": .text("print(6*7)")] : [:])
            _ = grader.gradeBlocking(job)   // warm-up: the image's files in the page cache
            for (mode, width) in [("sequential", 1), ("in flight \(inFlight)", inFlight)] {
                let cpu0 = Self.cpuSeconds()
                let own0 = Self.ownCpuSeconds()
                let start = Date()
                let results = Self.grade(job, times: jobs, width: width, grader: grader)
                let wall = Date().timeIntervalSince(start)
                let cpu = Self.cpuSeconds() - cpu0
                let own = Self.ownCpuSeconds() - own0
                for (i, (r, ms)) in results.enumerated() {
                    let record = Record(task: task, mode: mode, job: i, result: r.result, ms: ms, programsCpuMs: r.programsCpuMs,
                                        phases: Dictionary(r.phases.map { ($0.name, $0.ms) }, uniquingKeysWith: { a, _ in a }))
                    out.write(try JSONEncoder().encode(record) + Data("\n".utf8))
                }
                let ms = results.map(\.1).sorted()
                let failures = results.filter { $0.0.result != "success" }.count
                // The platform's share: the job's time less its programs' CPU time (median over jobs).
                let platform = results.compactMap { r, ms in r.programsCpuMs.map { ms - $0 } }.sorted()
                print(String(format: "%@    %-12@ %5d  %9.1f  %6.1f  %6.1f  %9.3f  %17.2f  %11.1f  %d", task, mode, jobs, ms[ms.count / 2],
                             ms[min(ms.count - 1, Int(Double(ms.count) * 0.95))], Double(jobs) / wall, cpu / Double(jobs),
                             own * 1000 / Double(jobs),
                             platform.isEmpty ? .nan : platform[platform.count / 2], failures))
            }
        }
        print("records: \(records)")
    }

    /// Grades `job` `times` times, `width` at once, each on a thread that
    /// holds it from start to result and does its clean-up after (as
    /// `gradebox agent` grades); returns
    /// each result with its latency in ms, in the order they ended.
    static func grade(_ job: GradingJob, times: Int, width: Int, grader: Grader) -> [(JobResult, Double)] {
        final class Shared: @unchecked Sendable {
            let lock = NSLock()
            var next = 0
            var results: [(JobResult, Double)] = []
        }
        let shared = Shared()
        let group = DispatchGroup()
        let worker: @Sendable () -> Void = {
            while true {
                let mine = shared.lock.withLock { () -> Bool in
                    guard shared.next < times else { return false }
                    shared.next += 1
                    return true
                }
                guard mine else { break }
                let t = Date()
                grader.gradeBlocking(job) { result in
                    let ms = Date().timeIntervalSince(t) * 1000
                    shared.lock.withLock { shared.results.append((result, ms)) }
                }
            }
            group.leave()
        }
        for _ in 0..<min(width, times) {
            group.enter()
            if case .failure = startThread("bench job", worker) { worker() }
        }
        group.wait()
        return shared.results
    }

    private func write(_ course: String, _ task: String, problems: String, run: String) throws {
        let dir = "\(course)/\(task)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "name: \(task)\nenvironment_type: docker\nenvironment_id: default\n\(problems)".write(toFile: dir + "/task.yaml", atomically: true, encoding: .utf8)
        try run.write(toFile: dir + "/run", atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: dir + "/run")
    }

    /// CPU time of this process's own threads (not its boxes'): the grader's own cost.
    static func ownCpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.cpuMs / 1000
    }

    /// CPU time of the whole host (all CPUs, /proc/stat): the jobs' boxes, this process, and everything they caused.
    static func cpuSeconds() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("cpu ") }) else { return 0 }
        let fields = line.split(separator: " ").dropFirst().compactMap { Double($0) }
        // user nice system idle iowait irq softirq steal: busy is all but idle and iowait.
        guard fields.count >= 8 else { return 0 }
        let busy = fields[0] + fields[1] + fields[2] + fields[5] + fields[6] + fields[7]
        return busy / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}
