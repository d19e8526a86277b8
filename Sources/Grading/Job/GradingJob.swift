import Foundation
import SandboxCore
import Synchronization
import SystemPackage

/// One submission graded by one task: the grading box runs the task's run
/// script as INGInious's container would (uid 4242, in a writable copy of
/// the task at /task, the inputs in /.__input, the feedback in /.__output,
/// the archive in /archive, $common read-only at /course/common), and its
/// feedback becomes the job's result. The box is launched by the sandbox
/// (`Sandbox.run`, the launcher every box goes through).
///
/// `run_student` in the grading box asks the grader for a student box
/// (`RunStudentServer`): the same isolation, /task/student shared, limits
/// no looser than the task's. Not yet: one cgroup subtree for the whole job.
public struct GradingJob: Sendable {
    public var course: String
    public var task: String
    /// Problem id -> the student's answer: text, or a file (its name and bytes).
    public var inputs: [String: Input]
    public var debug = false
    /// The submission's previous state (`@state`).
    public var state = ""
    /// How the task is run, when the caller knows it already: INGInious's
    /// back-end sends the environment and its parameters with each job, and
    /// its agents do not read task.yaml. nil: read from task.yaml.
    public var settings: TaskSettings?

    public enum Input: Sendable, Equatable {
        case text(String)
        case file(name: String, bytes: [UInt8])
        /// Any other answer as INGInious stores it: a multiple choice's list, a number.
        case value(JSONValue)
    }

    public init(course: String, task: String, inputs: [String: Input]) {
        self.course = course
        self.task = task
        self.inputs = inputs
    }

    /// The task folder: `<course>/<task>`.
    public var taskDirectory: String { "\(course)/\(task)" }
}

/// What grading a task needs to know besides its files: its environment and the environment's parameters.
public struct TaskSettings: Sendable, Equatable {
    /// The environment's name (an image's `org.inginious.grading.name`).
    public var environmentID: String
    public var limits: TaskLimits
    /// Replaces the run file when set (split on spaces, as INGInious does).
    public var runCommand: String?
    public var networkGrading: Bool

    public init(environmentID: String, limits: TaskLimits, runCommand: String? = nil, networkGrading: Bool = false) {
        self.environmentID = environmentID
        self.limits = limits
        self.runCommand = runCommand
        self.networkGrading = networkGrading
    }
}

extension TaskDescriptor {
    public var settings: TaskSettings {
        TaskSettings(environmentID: environmentID, limits: limits, runCommand: runCommand, networkGrading: networkGrading)
    }
}

/// A running job, for who wants to end it early (INGInious's kill).
public final class JobControl: @unchecked Sendable {
    private let lock = NSLock()
    private var group: BoxGroup?
    private var sandbox: Sandbox?
    private var killedFlag = false

    public init() {}

    /// True once `kill` was called.
    public var killed: Bool { lock.withLock { killedFlag } }

    /// Ends every program of the job (its grading box's and student boxes');
    /// the job's result is then `killed`. Before the job's boxes exist, they never start.
    public func kill() {
        let target: (BoxGroup, Sandbox)? = lock.withLock {
            killedFlag = true
            return group.flatMap { g in sandbox.map { (g, $0) } }
        }
        if let (group, sandbox) = target { try? sandbox.killGroup(group) }
    }

    /// Called by the grader once the job's group exists; false when the job was killed already.
    func attach(_ group: BoxGroup, _ sandbox: Sandbox) -> Bool {
        lock.withLock {
            self.group = group
            self.sandbox = sandbox
            return !killedFlag
        }
    }

    /// Called by the grader before the job's group goes: a pooled group
    /// serves another job next, which a late kill of this one must not reach.
    func detach() {
        lock.withLock { group = nil }
    }
}

/// Where environments come from: images whose `org.inginious.grading.name` label names them.
public struct Environments: Sendable {
    public let images: ImageStore
    /// The store's images, read again only when its folder changed (an image
    /// added, replaced or removed renames an entry in it).
    private let listing = FileStampCache<Listing>(capacity: 1)

    public init(images: ImageStore) { self.images = images }

    /// The image serving the environment `name`; nil when none does.
    public func image(for name: String) -> ImageInfo? {
        all().first { $0.labels?["org.inginious.grading.name"] == name }
    }

    public func all() -> [ImageInfo] { current().images }

    /// Whether `path` (absolute in the image) is a directory in `image`'s
    /// root, or a file when `directory` is false. Asked of every job's images
    /// (their mount points, their run_student); an image's root does not
    /// change while it is in the store, so each answer is kept as long as the
    /// store's listing is.
    func has(_ path: String, in image: ImageInfo, directory: Bool) -> Bool {
        current().fact(image.rootfs + path + (directory ? "/" : "")) {
            directory ? ImageFS.isDirectory(image.rootfs + path) : FileManager.default.fileExists(atPath: image.rootfs + path)
        }
    }

    private func current() -> Listing {
        listing.value(at: images.directory) { Listing((try? images.list()) ?? []) }
    }

    /// One reading of the store, with what was asked of its images since.
    private final class Listing: Sendable {
        let images: [ImageInfo]
        private let facts = Mutex<[String: Bool]>([:])

        init(_ images: [ImageInfo]) { self.images = images }

        func fact(_ key: String, _ find: () -> Bool) -> Bool {
            if let known = facts.withLock({ $0[key] }) { return known }
            let found = find()
            facts.withLock { $0[key] = found }
            return found
        }
    }
}

/// Runs grading jobs in gradebox boxes.
public struct Grader: Sendable {
    public let sandbox: Sandbox
    public let environments: Environments
    /// Where each job's files are made (and removed after it).
    public var workDirectory = Grader.defaultWorkDirectory
    /// Keep each job's cgroups and network namespaces for the next job
    /// (`Sandbox.makeGroup(pooled:)`), and remove each job's files and give
    /// its group back after its result, off its path: for a long-lived grader
    /// (`gradebox agent`, the benchmark), which calls `finish()` before it
    /// exits. Off for a process that grades once: what it kept would outlive it.
    public var reusesGroups = false
    /// Job clean-ups left for after their results (`reusesGroups`).
    private let cleanups = LaterQueue(label: "gradebox.grader.cleanups")
    private let tasks = TaskCache()

    /// /dev/shm when it is a tmpfs, else /tmp. On this kind of machine /tmp
    /// is ext4 on a virtual disk, where making and removing a job's few
    /// folders and files took 2 ms of a 7 ms job; on tmpfs 0.3. What a box
    /// writes there (its /task, feedback, archive) is charged to its memory
    /// cgroup, so the job's memory limit bounds it too.
    public static let defaultWorkDirectory = Kernel.isTmpfs("/dev/shm") ? "/dev/shm" : "/tmp"

    /// INGInious sets no pids limit; a box is never weaker than the sandbox's
    /// defaults, and a fork bomb must not starve the host.
    static let pidsPerBox = 512
    /// Of the run script's stdout and of its stderr (a student box's go to the run script, uncapped).
    static let outputKeptPerStream = 1 << 20

    public init(sandbox: Sandbox) {
        self.sandbox = sandbox
        environments = Environments(images: sandbox.images)
    }

    /// Waits for the clean-ups of the jobs graded so far (their files removed,
    /// their groups given back), then removes the groups and boxes kept for
    /// the next jobs: a long-lived grader's last call.
    public func finish() {
        cleanups.settle()
        _ = try? sandbox.drainWarmBoxes()
    }

    /// Waits for the clean-ups of the jobs graded so far.
    public func settle() {
        cleanups.settle()
    }

    /// Removes what graders killed mid-job left: their job folders, and the
    /// sandbox's own leftovers (cgroups of processes that are gone, dead boxes).
    /// For a long-lived grader (`gradebox agent`) starting up. Returns what was removed.
    public func removeLeftovers() -> (jobFolders: Int, cgroups: Int) {
        let folders = JobFiles.removeLeftovers(under: workDirectory)
        let report = try? sandbox.gc()
        return (folders, report?.cgroups.count ?? 0)
    }

    /// Grades `job`. A task that cannot be read, a missing run file or an
    /// unknown environment is a `crash` result naming the file and field.
    /// The job runs on a thread of its own (it blocks while its boxes run).
    public func grade(_ job: GradingJob, control: JobControl? = nil) async -> JobResult {
        await onOwnThread("grading job") { gradeBlocking(job, control: control) }
    }

    /// `grade` on the calling thread, which it holds until the result: for
    /// a caller with threads of its own per job (`gradebox agent`, the
    /// benchmark). A job graded this way has no thread hop at all; through
    /// Swift's tasks it had two (a box still running after 3 ms was handed
    /// to a new thread, its result back to the task), a few percent of a
    /// long-lived grader's CPU and up to two wake-ups of its latency.
    public func gradeBlocking(_ job: GradingJob, control: JobControl? = nil) -> JobResult {
        let t0 = Date()
        var phases: [JobPhase] = []
        func phase(_ name: String) { phases.append(JobPhase(name, ms: Date().timeIntervalSince(t0) * 1000)) }
        phase("accepted")
        var result: JobResult
        var programsCpuMs: Double?
        do {
            result = try run(job, control: control, phase: phase, origin: t0, programsCpuMs: &programsCpuMs)
        } catch {
            result = JobResult(result: "crash", text: "\(error)")
        }
        if control?.killed == true {
            // As INGInious's agent reports a job killed from its back-end: the previous state kept.
            result = JobResult(result: "killed", state: job.state)
        }
        result.programsCpuMs = programsCpuMs
        phase("done")
        result.phases = (phases + result.phases).sorted { $0.ms < $1.ms }
        return result
    }

    /// `gradeBlocking` that gives its result to `answer` as soon as it has
    /// it, then does the job's clean-up itself on this thread (its boxes
    /// released, its files removed, its group given back: for a grader
    /// that `reusesGroups`, else before the answer as always) before it
    /// returns. `finish` and `settle` wait for that clean-up too.
    public func gradeBlocking(_ job: GradingJob, control: JobControl? = nil, answer: (JobResult) -> Void) {
        cleanups.counting {
            let later = LaterWork()
            answer(later.collecting { gradeBlocking(job, control: control) })
            later.run()
        }
    }

    private func run(_ job: GradingJob, control: JobControl?, phase: (String) -> Void, origin: Date,
                     programsCpuMs: inout Double?) throws -> JobResult {
        let descriptor: TaskSettings
        if let settings = job.settings {
            descriptor = settings
            guard pathExists(job.taskDirectory) else {
                throw GradingError.input("no task folder \(job.taskDirectory)")
            }
        } else {
            let task = try tasks.load(job.taskDirectory + "/task.yaml")
            if let id = task.unknownInputs(job.inputs.keys).first {
                throw GradingError.input("\(job.taskDirectory)/task.yaml has no problem \(id)")
            }
            descriptor = task.settings
        }
        guard let image = environments.image(for: descriptor.environmentID) else {
            throw GradingError.taskFile(path: job.taskDirectory + "/task.yaml", field: "environment_id",
                                        problem: "no environment \(descriptor.environmentID) here (import its image, or build inginious-default)")
        }
        // One cgroup subtree for the job: the grading box and each student box
        // get their own groups below it, and whatever is left when the job
        // ends is killed with it. Together they hold at most what INGInious's
        // two containers may (the run script's and one student's at a time:
        // run_student requests are served one after another); each box's own
        // limits are its own, so they are what a program meets first.
        var together = Limits()
        together.memoryBytes = 2 * (UInt64(descriptor.limits.memoryMegabytes) << 20)
        together.pids = 2 * Self.pidsPerBox
        let group = try sandbox.makeGroup(limits: together, pooled: reusesGroups)
        if let control, !control.attach(group, sandbox) {
            try? sandbox.removeGroup(group)
            return JobResult(result: "killed", state: job.state)
        }
        // What the job leaves: its files (once made) and its group. A
        // long-lived grader removes them after the result; else before.
        var made: JobFiles?
        defer {
            control?.detach()
            let (sandbox, made) = (self.sandbox, made)
            if reusesGroups {
                cleanups.later {
                    made?.remove()
                    try? sandbox.removeGroup(group)
                }
            } else {
                made?.remove()
                phase("job files removed")
                try? sandbox.removeGroup(group)
                phase("job group removed")
            }
        }
        phase("job group made")
        let files = try JobFiles(job: job, under: workDirectory)
        made = files
        phase("task view made")

        let common = job.course + "/$common"
        let hasCommon = pathExists(common)
        let exists = { (path: String) -> Bool in
            if path.hasPrefix("/task/") { return pathExists(files.task + path.dropFirst(5)) }
            if path.hasPrefix("/course/common/") { return hasCommon && pathExists(common + path.dropFirst(14)) }
            return false
        }
        guard let argv = RunFile.command(runCommand: descriptor.runCommand, exists: exists) else {
            return Feedback.result(.noRunFile, feedback: [], archive: nil, previousState: job.state, debug: job.debug)
        }

        var spec = SandboxSpec(image: image.name, command: argv)
        spec.user = UserID(uid: JobFiles.worker.0, gid: JobFiles.worker.1)
        spec.workingDirectory = "/task"
        spec.workingDirectoryMode = .image
        spec.environment = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/task", "LANG=C.UTF-8"]
        spec.network = descriptor.networkGrading ? .host : .none
        spec.mounts = [
            BindMount(source: files.task, target: "/task", writable: true),
            BindMount(source: files.input, target: "/.__input"),
            BindMount(source: files.output, target: "/.__output", writable: true),
            BindMount(source: files.archive, target: "/archive", writable: true),
            BindMount(source: files.sockets, target: "/sockets", writable: true),
        ]
        if hasCommon { spec.mounts.append(BindMount(source: common, target: "/course/common")) }
        spec.rootfs = environments.rootfsMode(image, for: spec.mounts)
        spec.limits.cpuTimeSeconds = Double(descriptor.limits.cpuSeconds)
        spec.limits.wallTimeSeconds = Double(descriptor.limits.wallSeconds)
        spec.limits.memoryBytes = UInt64(descriptor.limits.memoryMegabytes) << 20
        spec.limits.pids = Self.pidsPerBox
        // What the run script prints is kept for debug mode only, as INGInious
        // does: up to a cap, the rest dropped while the script goes on.
        spec.limits.stdoutBytes = Self.outputKeptPerStream
        spec.limits.stderrBytes = Self.outputKeptPerStream
        spec.limits.onOutputLimit = .truncate
        spec.group = group
        let parent = spec
        let launchStudent: RunStudentServer.Launch = { [self] request, fds, control in
            studentBox(request, fds, control: control, parent: parent, image: image, limits: descriptor.limits, network: descriptor.networkGrading,
                       files: files, common: hasCommon ? common : nil)
        }
        let students = try RunStudentServer(path: files.sockets + "/" + InginiousEnvironment.runStudentSocketName, launch: launchStudent, origin: origin)
        // An image that brings INGInious's own run_student (not gradebox's) asks on /sockets/main.sock.
        let stockStudents = environments.bringsGradeboxRunStudent(image) ? nil
            : try StockRunStudentServer(sockets: files.sockets, launch: launchStudent, origin: origin)
        phase("run script started")
        let launchedAt = Date().timeIntervalSince(origin) * 1000
        let outcome = runBox(spec)   // stdin: /dev/null, as INGInious gives its run script
        students.stop()
        stockStudents?.stop()
        programsCpuMs = (try? sandbox.cpuUsage(of: group)).map { Double($0) / 1e6 }
        let run: RunResult
        switch outcome {
        case .success(let r): run = r
        case .failure(.commandNotFound):
            return Feedback.result(.notStarted, feedback: [], archive: nil, previousState: job.state, debug: job.debug)
        case .failure(let error): throw GradingError.sandbox(error.description)
        }
        phase("run script exited")
        let boxReady = run.steps?.first { $0.step == "started" }.map { JobPhase("grading box ready", ms: launchedAt + $0.ms) }
        switch run.verdict {
        case .TO: return Feedback.result(.stopped("timeout"), feedback: [], archive: nil, previousState: job.state)
        case .MLE: return Feedback.result(.stopped("overflow"), feedback: [], archive: nil, previousState: job.state)
        case .XX: throw GradingError.sandbox("the grading box failed: \(run.failure?.description ?? "unknown step")")
        default: break
        }
        let feedback: [UInt8]
        do {
            feedback = try files.feedback()
        } catch let unreadable as JobFiles.UnreadableFeedback {
            return JobResult(result: "crash", text: Feedback.Text.exception(unreadable.why))
        }
        let archive: [UInt8]?
        do {
            archive = try files.archiveTarball()
        } catch let tooLarge as ArchiveTarball.TooLarge {
            return JobResult(result: "crash", text: Feedback.Text.exception(tooLarge.description))
        } catch {
            archive = nil
        }
        phase("feedback read")
        var result = Feedback.result(.ran, feedback: feedback, archive: archive, previousState: job.state, debug: job.debug,
                                     stdout: run.stdout, stderr: run.stderr)
        result.phases = (boxReady.map { [$0] } ?? []) + students.phases + (stockStudents?.phases ?? [])
        return result
    }
}

extension Environments {
    /// Whether the image's run_student is gradebox's (inginious-default's is):
    /// else the grader serves INGInious's own protocol too.
    func bringsGradeboxRunStudent(_ image: ImageInfo) -> Bool {
        has(InginiousEnvironment.inboxPath, in: image, directory: false)
    }

    /// The image's root read-only when it has every mount point the box
    /// needs (inginious-default does); else under a writable tmpfs layer,
    /// where the sandbox makes them: INGInious's own images have none of
    /// /task, /.__input ... (Docker makes them in the container's layer).
    func rootfsMode(_ image: ImageInfo, for mounts: [BindMount]) -> RootfsMode {
        mounts.allSatisfy { has($0.target, in: image, directory: true) } ? .bind : .overlay
    }
}

extension Grader {

    func runBox(_ spec: SandboxSpec) -> Result<RunResult, SandboxError> {
        do { return .success(try sandbox.runBlocking(spec)) } catch { return .failure(error) }
    }

    /// A student box for `request`, with `fds` as its stdin, stdout and stderr:
    /// the requested environment or the grading box's, each limit the
    /// smaller of the requested one and the task's, the network only when
    /// shared and the grading box has one, /task/student shared, and
    /// INGInious's return codes: the program's own, 252 memory, 253 time, 254 could not start;
    /// and when the program started, in ms after the call, if it did.
    func studentBox(_ request: RunStudentServer.Request, _ fds: [Int32], control: RunControl, parent: SandboxSpec, image: ImageInfo,
                    limits: TaskLimits, network: Bool, files: JobFiles, common: String?) -> (retval: Int32, readyMs: Double?) {
        var spec = parent
        let studentImage: ImageInfo
        if let environment = request.environment, !environment.isEmpty {
            guard let other = environments.image(for: environment) else { return (254, nil) }
            studentImage = other
        } else {
            studentImage = image
        }
        spec.image = studentImage.name
        let argv = ShellWords.split(request.cmd)
        guard !argv.isEmpty else { return (254, nil) }
        spec.command = argv
        spec.workingDirectory = request.working_dir.hasPrefix("/") ? request.working_dir : "/task"
        spec.workingDirectoryMode = .image
        spec.network = request.share_network && network ? .host : .none
        guard let student = files.studentFolder() else { return (254, nil) }
        defer { close(student) }
        spec.mounts = [BindMount(source: "/proc/self/fd/\(student)", target: "/task/student", writable: true)]
        if let common, pathExists(common + "/student") {
            spec.mounts.append(BindMount(source: common + "/student", target: "/course/common/student"))
        }
        spec.rootfs = environments.rootfsMode(studentImage, for: spec.mounts)
        let time = request.time_limit > 0 ? min(request.time_limit, limits.cpuSeconds) : limits.cpuSeconds
        let hard = request.hard_time_limit > 0 ? min(request.hard_time_limit, limits.wallSeconds) : limits.wallSeconds
        let memory = request.memory_limit > 0 ? min(request.memory_limit, limits.memoryMegabytes) : limits.memoryMegabytes
        spec.limits.cpuTimeSeconds = Double(time)
        spec.limits.wallTimeSeconds = Double(hard)
        spec.limits.memoryBytes = UInt64(memory) << 20
        spec.limits.stdoutBytes = nil
        spec.limits.stderrBytes = nil
        let result: RunResult
        do {
            // The caller's own streams, as INGInious's run_student gives them:
            // nothing relayed through the grader (a pipe, two wake-ups and
            // a copy of each write on its side).
            result = try sandbox.runBlocking(spec, stdin: .handOver(fds[0]), stdout: .handOver(fds[1]), stderr: .handOver(fds[2]),
                                          control: control)
        } catch {
            return (254, nil)
        }
        let ready = result.steps?.first { $0.step == "started" }?.ms
        switch result.verdict {
        case .OK, .RE: return (result.exitCode ?? 254, ready)
        case .TO: return (253, ready)
        case .MLE: return (252, ready)
        // Killed by a signal: as Python's exit() of a negative return code leaves it.
        case .SG: return ((256 - (result.signal ?? 0)) & 0xff, ready)
        case .OLE, .XX: return (254, ready)
        }
    }
}

/// Whether `path` names anything (access(2), following links as
/// FileManager.fileExists does, without its NSString bridging on each job's path).
private func pathExists(_ path: String) -> Bool { access(path, F_OK) == 0 }

/// /.__input/__inputdata.json as INGInious's container writes it: {"input": {id: value}, "@state": ...};
/// a file input's bytes go to /.__input/__inputfile_N and its value becomes that path.
enum InputData {
    /// As the container's INGInious process writes it from its agent's start message: the
    /// inputs under "input" (with "@state"), the debug flag and what the container runs on.
    static func write(_ inputs: [String: GradingJob.Input], state: String, debug: Bool, into dir: FileDescriptor, display: String) throws {
        var values: [String: JSONValue] = [:]
        var n = 0
        for (id, input) in inputs.sorted(by: { $0.key < $1.key }) {
            switch input {
            case .text(let text): values[id] = .string(text)
            case .file(let name, let bytes):
                try create("__inputfile_\(n)", in: dir, bytes: bytes, display: "\(display)/__inputfile_\(n)")
                values[id] = .object(["filename": .string(name), "value": .string("/.__input/__inputfile_\(n)")])
                n += 1
            case .value(let value):
                values[id] = value
            }
        }
        if values["@state"] == nil { values["@state"] = .string(state) }
        let object = JSONValue.object(["type": .string("start"), "input": .object(values), "debug": .bool(debug),
                                       "envtypes": .object(["docker": .bool(true)]), "run_as_root": .bool(false), "shared_kernel": .bool(true)])
        try create("__inputdata.json", in: dir, bytes: Array(object.jsonText.utf8), display: display + "/__inputdata.json")
    }

    /// A new file `name` in `dir` holding `bytes` (0644: the run script reads it as the worker).
    static func create(_ name: String, in dir: FileDescriptor, bytes: [UInt8], display: String) throws {
        try ImageFS.writeNewFile(name, in: dir, bytes: bytes, mode: 0o644, display: display)
    }
}
