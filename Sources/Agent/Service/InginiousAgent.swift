import MessagePack
import Foundation
import Grading
import SandboxCore

/// `gradebox agent`: an agent of INGInious 0.9.2's back-end, as its Docker
/// agent is one, grading every job in gradebox boxes.
///
/// One thread, the caller's, listens on the ZeroMQ socket: it says hello,
/// answers pings and starts jobs. Jobs are graded on threads of their own,
/// which send their results themselves, the socket's lock held (handing each
/// to the listening thread woke it once more a job); what cannot be sent then
/// waits in an outbox for that thread. Every job it is given gets one `AgentJobStarted` and then
/// exactly one `AgentJobDone`, whatever happens to it. When the back-end has
/// been silent for `silenceLimit`, the agent ends what it runs (the back-end
/// has crashed those jobs already when it dropped the agent), connects
/// again and says hello again, as INGInious's agents do.
public final class InginiousAgent: @unchecked Sendable {
    public struct Options: Sendable {
        /// The back-end's address for agents, e.g. tcp://127.0.0.1:2001.
        public var backend: String
        /// INGInious's tasks folder: COURSE/TASK/... as the back-end names them.
        public var tasks: String
        /// Jobs graded at once (`available_job_slots`).
        public var concurrency: Int
        public var name: String
        /// INGInious's agents reconnect after 10 s without any message from the back-end (it pings every second or so).
        public var silenceLimit: TimeInterval = 10

        public init(backend: String, tasks: String, concurrency: Int, name: String) {
            self.backend = backend
            self.tasks = tasks
            self.concurrency = concurrency
            self.name = name
        }
    }

    let options: Options
    let grader: Grader
    let log: @Sendable (String) -> Void

    private let lock = NSLock()
    /// Held around every call on `socket`. Recursive: the listening thread,
    /// holding it, may send a job's result itself (a job that cannot start).
    private let socketLock = NSRecursiveLock()
    /// The connection while `run` runs.
    private var socket: DealerSocket?
    private var outbox: [(generation: Int, message: AgentMessage)] = []
    private var running: [String: JobControl] = [:]
    private var stopping = false
    /// Bumped at each (re)connection: what a job of an older one sends is dropped.
    private var generation = 0
    private let wake: (read: Int32, write: Int32)

    public init(options: Options, grader: Grader, log: @escaping @Sendable (String) -> Void) throws {
        precondition(options.concurrency > 0)
        self.options = options
        self.grader = grader
        self.log = log
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw DealerSocket.Failure(description: "pipe for the agent's wake-ups: \(String(cString: strerror(errno)))") }
        for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        wake = (fds[0], fds[1])
    }

    deinit {
        close(wake.read)
        close(wake.write)
    }

    /// The environments this agent offers: images labelled org.inginious.grading.name
    /// for INGInious's Docker agent version 3 (the stock agent's check), as type `docker`.
    func environments() -> [String: EnvironmentInfo] {
        var found: [String: EnvironmentInfo] = [:]
        for image in grader.environments.all() {
            guard let name = image.labels?["org.inginious.grading.name"] else { continue }
            guard image.labels?["org.inginious.grading.agent_version"] == "3" else {
                log("image \(image.name) (environment \(name)) is not for INGInious's agent version 3: not offered")
                continue
            }
            // The same on every agent with the same image, another when it is rebuilt
            // or replaced: the back-end compares them between agents.
            let id = "gradebox:" + stableHash("\(image.name)\n\(image.source)\n\(image.createdAt.timeIntervalSince1970)")
            found[name] = EnvironmentInfo(id: id, created: Int64(image.createdAt.timeIntervalSince1970))
        }
        return found
    }

    /// The Docker agent's share of memory per job slot: the host's memory divided by the slots
    /// (read once: it was a sysinfo(2) a job).
    private(set) lazy var memoryPerSlotMB: Int = Int(ProcessInfo.processInfo.physicalMemory / UInt64(options.concurrency) / 1024 / 1024)

    /// Runs until `stop` (then ends the running jobs and returns).
    public func run() throws {
        let left = grader.removeLeftovers()
        if left.jobFolders + left.cgroups > 0 {
            log("removed what a grader killed mid-job left: \(left.jobFolders) job folder(s), \(left.cgroups) cgroup(s)")
        }
        let socket = try DealerSocket(connectingTo: options.backend)
        var offered = environments()
        var notices = try socketLock.withLock { () throws -> Int32 in
            self.socket = socket
            try hello(socket, offered)
            return socket.descriptor
        }
        defer {
            socketLock.withLock { self.socket = nil }
            socket.close()
        }
        var lastHeard = Date()
        while !isStopping {
            // ZeroMQ's notices and the wake-up pipe, polled outside the
            // socket's lock: a job's thread may send meanwhile.
            var fds = [pollfd(fd: notices, events: Int16(POLLIN), revents: 0), pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0)]
            _ = Glibc.poll(&fds, 2, 1000)
            if fds[1].revents != 0 { drainWake() }
            try socketLock.withLock { () throws in
                // Until nothing waits: each call, a send included, may take
                // the notice of a message that came meanwhile (see `descriptor`).
                repeat {
                    while let frames = try socket.receive() {
                        lastHeard = Date()
                        guard let frame = frames.first else { continue }
                        do {
                            try handle(try BackendMessage.decode(frame), socket: socket, offered: offered)
                        } catch {
                            log("a message from the back-end was not understood and is ignored: \(error)")
                        }
                    }
                    try flush(socket)
                } while socket.hasIncoming
            }
            if Date().timeIntervalSince(lastHeard) > options.silenceLimit {
                log("no word from the back-end for \(Int(options.silenceLimit)) s: ending running jobs, connecting again")
                endRunningJobs(reason: "reconnection")
                offered = environments()
                notices = try socketLock.withLock { () throws -> Int32 in
                    try socket.reconnect()
                    try hello(socket, offered)
                    return socket.descriptor
                }
                lastHeard = Date()
            }
        }
        endRunningJobs(reason: "the agent is stopping")
    }

    /// Asks `run` to return (from a signal handler's thread or any other).
    public func stop() {
        lock.withLock { stopping = true }
        notify()
    }

    private var isStopping: Bool { lock.withLock { stopping } }

    private func hello(_ socket: DealerSocket, _ offered: [String: EnvironmentInfo]) throws {
        lock.withLock {
            generation += 1
            outbox.removeAll()
        }
        log("saying hello to \(options.backend) as \"\(options.name)\": \(options.concurrency) slots, environments \(offered.keys.sorted().joined(separator: ", "))")
        try socket.send(AgentMessage.hello(AgentHello(friendlyName: options.name, availableJobSlots: options.concurrency,
                                                      availableEnvironments: ["docker": offered])).encode())
    }

    private func handle(_ message: BackendMessage, socket: DealerSocket, offered: [String: EnvironmentInfo]) throws {
        switch message {
        case .ping:
            try socket.send(AgentMessage.pong.encode())
        case .killJob(let jobID, let state):
            if let control = lock.withLock({ running[jobID] }) {
                log("job \(jobID): killed by the back-end")
                control.kill()
            } else {
                // As INGInious's agent: the back-end hears the job is done, whatever it thought.
                log("job \(jobID): asked to kill it, but it is not running here")
                try socket.send(AgentMessage.jobDone(AgentJobDone(jobID: jobID, result: ResultText("killed", ""), grade: 0,
                                                                  state: state)).encode())
            }
        case .newJob(let job):
            try socket.send(AgentMessage.jobStarted(jobID: job.jobID).encode())
            start(job, offered: offered)
        }
    }

    private func start(_ message: BackendNewJob, offered: [String: EnvironmentInfo]) {
        let job: GradingJob
        do {
            job = try JobRequest.make(message, tasks: options.tasks, environments: Set(offered.keys), memoryPerSlotMB: memoryPerSlotMB)
        } catch {
            log("job \(message.jobID) (\(message.courseID)/\(message.taskID)): not started: \(error.detail)")
            send(.jobDone(AgentJobDone(jobID: message.jobID, result: ResultText("crash", error.text), grade: 0,
                                              state: JobRequest.previousState(message))))
            return
        }
        if message.debug == .ssh { log("job \(message.jobID): SSH debugging is not offered by gradebox; graded in debug mode instead") }
        let control = JobControl()
        let generation = lock.withLock {
            running[message.jobID] = control
            return self.generation
        }
        log("job \(message.jobID) (\(message.courseID)/\(message.taskID)): started")
        let grader = self.grader
        // A thread of its own per job (a parked one, mostly), which holds it
        // from the start to the result: no hop between threads on its path.
        // The job's clean-up follows its result on the same thread.
        let started = startThread("job \(message.jobID)") { [self] in
            let start = Date()
            grader.gradeBlocking(job, control: control) { result in
                let ms = Date().timeIntervalSince(start) * 1000
                log("job \(message.jobID) (\(message.courseID)/\(message.taskID)): \(result.result) in \(Int((ms * 10).rounded()) / 10).\(Int((ms * 10).rounded()) % 10) ms"
                    + (result.result == "crash" ? ": \(result.text)" : ""))
                lock.withLock { _ = running.removeValue(forKey: message.jobID) }
                send(.jobDone(AgentJobDone(jobID: message.jobID, result)), generation: generation)
            }
        }
        if case .failure(let error) = started {
            log("job \(message.jobID) (\(message.courseID)/\(message.taskID)): not started: \(error)")
            lock.withLock { _ = running.removeValue(forKey: message.jobID) }
            send(.jobDone(AgentJobDone(jobID: message.jobID, result: ResultText("crash", "gradebox agent could not start the job: \(error)"),
                                       grade: 0, state: JobRequest.previousState(message))), generation: generation)
        }
    }

    /// Sends a message from any thread: at once, the socket's lock held; or,
    /// when it cannot be sent now, through the outbox and the listening thread.
    /// `generation`: the connection it is for (dropped if that one is gone).
    private func send(_ message: AgentMessage, generation: Int? = nil) {
        let sent = socketLock.withLock { () -> Bool in
            guard let socket else { return false }
            let current = lock.withLock { self.generation }
            if let generation, generation != current { return true }   // for a connection that is gone
            do { try socket.send(message.encode()) } catch { return false }
            // The send may have taken the notice of a message that came: the listening thread looks.
            if socket.hasIncoming { notify() }
            return true
        }
        if sent { return }
        lock.withLock {
            let current = self.generation
            if let generation, generation != current { return }   // for a connection that is gone
            outbox.append((current, message))
        }
        notify()
    }

    private func flush(_ socket: DealerSocket) throws {
        let pending = lock.withLock { () -> [AgentMessage] in
            let current = generation
            let messages = outbox.filter { $0.generation == current }.map(\.message)
            outbox.removeAll()
            return messages
        }
        for message in pending { try socket.send(message.encode()) }
    }

    private func notify() {
        var byte: UInt8 = 1
        _ = Glibc.write(wake.write, &byte, 1)
    }

    private func drainWake() {
        var buffer = [UInt8](repeating: 0, count: 256)
        while Glibc.read(wake.read, &buffer, buffer.count) > 0 {}
    }

    /// Kills every running job and waits (up to 5 s) for their boxes to be gone.
    private func endRunningJobs(reason: String) {
        let controls = lock.withLock { () -> [String: JobControl] in
            generation += 1   // their results are for a connection that is no more
            return running
        }
        guard !controls.isEmpty else { return }
        log("ending \(controls.count) running job(s): \(reason)")
        for control in controls.values { control.kill() }
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline, lock.withLock({ !running.isEmpty }) { usleep(10_000) }
    }
}
