/// gradebox's container manager: one-shot runs and the create / start /
/// exec / stop / delete lifecycle, with state under `stateDirectory`.
public struct Sandbox: Sendable {
    public static let defaultStateDirectory = "/run/gradebox"
    public let stateDirectory: String
    public let images: ImageStore
    /// A pooled run leaves a box made ahead of time for the next run of its
    /// shape, in this process. A process that runs one box and ends (the CLI)
    /// turns this off: the box would be made on its time, and die with it.
    /// Pooled runs still take their cgroup and network namespace from the pool.
    public var makesWarmBoxes = true

    public init(stateDirectory: String = Sandbox.defaultStateDirectory, images: ImageStore = ImageStore()) {
        self.stateDirectory = stateDirectory
        self.images = images
    }

    /// Creates a box, runs `spec.command` in it to the end, and deletes the box.
    /// A failing program is a result (RE, SG, TO, MLE, OLE), not an error; a
    /// failing sandbox is a result too (XX, naming the step). Errors are
    /// thrown for requests that cannot be run at all (bad spec, missing image,
    /// command not in the image).
    ///
    /// The set-up (a bounded burst of syscalls, a few milliseconds at most)
    /// and the first `inlineWaitNs` of the program run on the calling task's
    /// thread, where most grading programs end; a program still running then
    /// is watched from a thread of its own, so a long run never holds a
    /// cooperative thread. Handing every run to a thread and back cost a warm
    /// run 0.2-0.4 ms here, two wake-ups of an idle CPU.
    /// - Parameters:
    ///   - pool: take the cgroup and network namespace from the warm pool.
    ///   - stdin: what the program reads (a pooled run with input runs in a
    ///     slot, not in a warm box: a warm box's descriptors are made before its run).
    ///   - stdout, stderr: kept in the result, or written to a descriptor of the caller's as they come.
    ///   - control: signals for the program while it runs, from another thread.
    public func run(_ spec: SandboxSpec, pool: Bool = false, stdin: StandardInput = .none,
                    stdout: OutputTarget = .capture, stderr: OutputTarget = .capture,
                    control: RunControl? = nil) async throws(SandboxError) -> RunResult {
        var running = try launch(spec, pool: pool, stdin: stdin, stdout: stdout, stderr: stderr)
        control?.attach(initPid: running.supervisor.pid)
        defer { control?.detach() }
        if let result = try running.finish(until: Kernel.monotonicNs() + Sandbox.inlineWaitNs) { return result }
        let rest = running
        return try await onOwnThread { () throws(SandboxError) -> RunResult in
            var running = rest
            return try running.finish(until: nil)!
        }
    }

    /// How long `run` waits for a program on the caller's thread before it hands the watch to a thread of its own.
    static let inlineWaitNs: Int64 = 3_000_000

    /// The same as `run`, on the calling thread (the CLI's path: no thread hop).
    public func runBlocking(_ spec: SandboxSpec, pool usePool: Bool = false, stdin: StandardInput = .none,
                            stdout: OutputTarget = .capture, stderr: OutputTarget = .capture,
                            control: RunControl? = nil) throws(SandboxError) -> RunResult {
        var running = try launch(spec, pool: usePool, stdin: stdin, stdout: stdout, stderr: stderr)
        control?.attach(initPid: running.supervisor.pid)
        defer { control?.detach() }
        return try running.finish(until: nil)!
    }
}
