/// The outcome of one run, in the vocabulary of isolate and DOMjudge.
/// A program's own failure is never `XX`; a sandbox failure is never `OK`.
public enum Verdict: String, Codable, Sendable, CaseIterable {
    case OK   // exit status 0
    case RE   // non-zero exit status
    case SG   // killed by a signal it did not get from a limit
    case TO   // CPU time or wall time limit
    case MLE  // memory limit (cgroup OOM kill)
    case OLE  // output limit
    case XX   // the sandbox failed; see `SandboxFailure`

    /// Exit code of `gradebox run` for verdicts that are not the program's own
    /// exit status. Chosen above 200 so they cannot be mistaken for a shell's
    /// 126/127/128+n conventions.
    public var fixedExitCode: Int32? {
        switch self {
        case .OK, .RE: nil
        case .TO: 201
        case .MLE: 202
        case .OLE: 203
        case .SG: 204
        case .XX: 205
        }
    }

    /// Exit code for errors in the request itself (bad option, missing image, name in use, ...).
    public static let usageExitCode: Int32 = 206
}

/// Which limit ended a run, or shaped its verdict.
public enum RunLimit: String, Codable, Sendable, CaseIterable {
    /// CPU time (`Limits.cpuTimeSeconds`), of the whole box.
    case cpu
    /// Wall-clock time (`Limits.wallTimeSeconds`).
    case wall
    /// The cgroup's memory limit: its OOM killer fired.
    case memory
    /// The output limit.
    case output
    /// The pids limit refused a fork (the program may have gone on: its verdict is its own).
    case pids
}

/// What became of one output stream.
public struct StreamTally: Codable, Sendable, Equatable {
    public var keptBytes = 0
    public var droppedBytes = 0
    /// A limit cut the stream (it may have been killed too: see the verdict).
    public var truncated = false
    public init() {}
}

/// Which step of setting a box up failed, and with what errno.
public struct SandboxFailure: Codable, Sendable, Equatable, Error, CustomStringConvertible {
    /// The step as named in the plan, e.g. `mount(bind /srv/img -> /newroot)`.
    public var step: String
    public var errno: Int32
    public init(step: String, errno: Int32) {
        self.step = step
        self.errno = errno
    }
    public var description: String { "\(step): \(errnoName(errno))" }
}

/// Times of each lifecycle phase, in milliseconds, from a monotonic clock.
public struct PhaseTimes: Codable, Sendable, Equatable {
    public var create: Double?
    public var start: Double?
    public var exec: Double?
    public var stop: Double?
    public var delete: Double?
    public init(create: Double? = nil, start: Double? = nil, exec: Double? = nil, stop: Double? = nil, delete: Double? = nil) {
        self.create = create
        self.start = start
        self.exec = exec
        self.stop = stop
        self.delete = delete
    }
}

/// One named part of a run and when it was done, in ms since the run began:
/// the caller's steps (runtime, planned, cgroup, descriptors), the box's
/// (init ... confined, timed in the box by the C core; see `cs_mark`), then
/// started, exited, deleted.
public struct StepTime: Codable, Sendable, Equatable {
    public var step: String
    public var ms: Double
    public init(step: String, ms: Double) {
        self.step = step
        self.ms = ms
    }

    /// Names of the C core's marks, by `cs_mark` value.
    static let names = ["init", "joined", "mounted", "rooted", "released", "forked", "confined"]
}

/// Everything known about one finished run: the record `gradebox run --json` prints.
public struct RunResult: Codable, Sendable, Equatable {
    public var verdict: Verdict
    public var exitCode: Int32?
    public var signal: Int32?
    public var stdout: [UInt8]
    public var stderr: [UInt8]
    /// Bytes dropped past the output limits, both streams.
    public var outputDroppedBytes: Int
    /// Each stream: bytes kept (in `stdout`/`stderr`, or written to the caller's descriptor), dropped, and whether a limit cut it.
    public var stdoutTally = StreamTally()
    public var stderrTally = StreamTally()
    /// Bytes of its standard input the program took.
    public var stdinBytes: Int = 0
    public var phases: PhaseTimes
    public var cpuMs: Double
    public var wallMs: Double
    public var memoryPeakBytes: UInt64?
    /// The limit that ended the run (TO, MLE, OLE), or a fork refused at the pids limit.
    public var limit: RunLimit?
    /// CPU time in user and kernel mode, when the kernel splits it.
    public var cpuUserMs: Double?
    public var cpuSysMs: Double?
    public var failure: SandboxFailure?
    /// The run's named parts, in order (see `StepTime`).
    public var steps: [StepTime]?

    public init(
        verdict: Verdict, exitCode: Int32? = nil, signal: Int32? = nil,
        stdout: [UInt8] = [], stderr: [UInt8] = [], outputDroppedBytes: Int = 0,
        phases: PhaseTimes = PhaseTimes(), cpuMs: Double = 0, wallMs: Double = 0,
        memoryPeakBytes: UInt64? = nil, failure: SandboxFailure? = nil
    ) {
        self.verdict = verdict
        self.exitCode = exitCode
        self.signal = signal
        self.stdout = stdout
        self.stderr = stderr
        self.outputDroppedBytes = outputDroppedBytes
        self.phases = phases
        self.cpuMs = cpuMs
        self.wallMs = wallMs
        self.memoryPeakBytes = memoryPeakBytes
        self.failure = failure
    }

    /// The exit code `gradebox run` exits with for this result.
    public var processExitCode: Int32 {
        verdict.fixedExitCode ?? exitCode ?? 0
    }
}
