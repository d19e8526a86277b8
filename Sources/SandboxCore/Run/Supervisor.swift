#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSandbox
import SystemPackage

/// Watches one started box (or one program exec'd into a box) until it is
/// done: collects its output under the output cap, reads the init's events,
/// enforces the CPU and wall-time limits, and reaps it. Parent side only.
package struct Supervisor {
    package var pid: pid_t
    var pidfd: Int32
    /// Read end of the events pipe (non-blocking).
    var events: Int32
    var stdout: Int32
    var stderr: Int32
    package var limits: Limits
    /// Reads the box's CPU usage in ns (its cgroup), when there is one.
    package var cpuUsage: (() -> UInt64?)?
    /// Kills everything the box runs (the pid namespace's init, or a process group).
    package var kill: () -> Void
    /// Monotonic ns when the box's clock starts (the clone).
    package var startNs: Int64
    /// The program's wait status comes from the init's EXITED event (a box),
    /// or from reaping `pid` itself (a program exec'd into a box).
    package var statusFromEvent: Bool
    /// Done once the init reported the program's end and the output is
    /// closed, without waiting for the init itself to exit: a warm box's
    /// retirement is the pool worker's job, off the run's path; a one-shot
    /// box's caller removes the cgroup while the init still tears down.
    package var doneAtExitEvent = false
    /// The group held nothing of the box's usage at `startNs` (a group of
    /// the program alone, made or zeroed before it): the CPU-limit watch
    /// starts from 0 then, where it first read the usage (a pread and a
    /// parse per box, for a limit seconds away).
    package var cpuUsageZeroAtStart = false
    /// The program's input, relayed into `stdin` (the write end of its stdin
    /// pipe, closed through `closeInput` once the input ends or the program
    /// stops taking it). Written as the pipe takes it, read from a caller's
    /// descriptor only while nothing is pending: input and output move at
    /// once, so neither side can fill a pipe and wait for the other.
    package enum Input {
        case none
        case bytes([UInt8])
        case descriptor(Int32)
    }
    package var input: Input = .none
    var stdin: Int32 = -1
    package var closeInput: () -> Void = {}
    /// Where kept output goes: nil keeps it in the outcome, else the caller's descriptor.
    package var stdoutSink: Int32?
    package var stderrSink: Int32?
    /// The program's stderr was the caller's descriptor itself: what it wrote there is not known.
    package private(set) var stderrUnseen = false

    /// Where the kept output goes.
    package mutating func send(stdout: OutputTarget, stderr: OutputTarget) {
        // A stream handed over has no pipe here (`LaunchIO`): its sink is
        // used only when the descriptor could not be handed over.
        switch stdout { case .descriptor(let fd), .handOver(let fd): stdoutSink = fd; case .capture: break }
        switch stderr { case .descriptor(let fd), .handOver(let fd): stderrSink = fd; case .capture: break }
        // Handed over (no pipe of ours for it): what the program wrote there went by unseen.
        if case .handOver = stderr, self.stderr < 0 { stderrUnseen = true }
    }

    /// Relays `input` into the program's stdin pipe `fd`; `close` closes that pipe's write end.
    package mutating func relay(_ input: Input, into fd: FileDescriptor, close: @escaping () -> Void) {
        self.input = input
        stdin = fd.rawValue
        closeInput = close
    }

    /// CPUs this host can run a box's processes on at once: how fast a group's CPU usage can grow.
    static let cpuCount = UInt64(max(1, sysconf(Int32(_SC_NPROCESSORS_CONF))))

    /// Descriptors the launch owns (`LaunchIO`); nil: that stream goes elsewhere (a file).
    package init(pid: pid_t, pidfd: FileDescriptor, events: FileDescriptor?, stdout: FileDescriptor?, stderr: FileDescriptor?,
                 limits: Limits, cpuUsage: (() -> UInt64?)?, kill: @escaping () -> Void, startNs: Int64, statusFromEvent: Bool) {
        self.pid = pid
        // Raw numbers below: this loop is the one place that polls and reads a box's pipes.
        self.pidfd = pidfd.rawValue
        self.events = events?.rawValue ?? -1
        self.stdout = stdout?.rawValue ?? -1
        self.stderr = stderr?.rawValue ?? -1
        self.limits = limits
        self.cpuUsage = cpuUsage
        self.kill = kill
        self.startNs = startNs
        self.statusFromEvent = statusFromEvent
    }

    package struct Outcome {
        package var waitStatus: Int32?
        package var usage: rusage
        package var startedNs: Int64?
        /// `cs_mark` value and when, as the box reported them.
        package var marks: [(mark: Int32, ns: Int64)] = []
        package var exitedNs: Int64
        package var failure: (step: Int32, errno: Int32)?
        package var killedFor: Verdict?
        /// The limit `killedFor` stands for.
        package var limit: RunLimit?
        package var stdout: [UInt8]
        package var stdoutTally = StreamTally()
        package var stderrTally = StreamTally()
        /// The program's own user and system CPU time (µs), from the init's EXITED event.
        package var programCPU: (user: Int64, system: Int64)?
        /// Bytes the program was given on stdin (relayed, or read from a file handed to it); nil when not known.
        package var stdinBytes: Int?
        package var stderr: [UInt8]
        package var droppedBytes: Int
        /// The supervisor reaped `pid` (it is gone, and its pid may be reused).
        package var reaped = false
        /// When it did (monotonic ns).
        package var reapedNs: Int64?
    }

    /// What the watch has seen so far: kept between calls of `run(until:)`.
    private struct Progress {
        var out = Outcome(waitStatus: nil, usage: rusage(), startedNs: nil, exitedNs: 0, failure: nil,
                          killedFor: nil, stdout: [], stderr: [], droppedBytes: 0)
        // Which of the three streams are still open (plain flags: a first
        // Dictionary<Int32, Bool> costs a CLI process its generic metadata).
        var eventsOpen: Bool
        var stdoutOpen: Bool
        var stderrOpen: Bool
        var exitReported = false
        /// The last read of the group's CPU usage and when: usage grows at
        /// most by the number of CPUs each wall nanosecond, so until that
        /// bound could pass the limit there is nothing to read.
        var cpuRead: (ns: Int64, used: UInt64)?
        /// Input not yet taken by the program, from `pendingOffset` on.
        var pending: [UInt8] = []
        var pendingOffset = 0
        var stdinOpen = false
        /// The caller's descriptor may give more.
        var sourceOpen = false
    }
    private var progress: Progress?

    /// Watches until the box is done.
    package mutating func run() throws(SandboxError) -> Outcome {
        try run(until: nil)!
    }

    /// Watches until the box is done, or until `deadline` (monotonic ns) if
    /// it comes first: then nil, and a later call carries on where this one stopped.
    package mutating func run(until deadline: Int64?) throws(SandboxError) -> Outcome? {
        if progress == nil {
            // The read ends stay blocking: each is read once a poll says it
            // has data or its end, and a pipe's only reader then never waits
            // (making them non-blocking was two fcntl each, a box).
            var fresh = Progress(eventsOpen: events >= 0, stdoutOpen: stdout >= 0, stderrOpen: stderr >= 0)
            if cpuUsageZeroAtStart { fresh.cpuRead = (startNs, 0) }
            if stdin >= 0 {
                Kernel.setNonBlocking(stdin)
                fresh.stdinOpen = true
                fresh.out.stdinBytes = 0
                switch input {
                case .none: break
                case .bytes(let b): fresh.pending = b
                case .descriptor: fresh.sourceOpen = true
                }
            }
            progress = fresh
        }
        var p = progress!
        defer { progress = p }
        let cap = limits.outputBytes ?? Int.max
        let streamCap = (out: limits.stdoutBytes ?? Int.max, err: limits.stderrBytes ?? Int.max)
        let wallDeadline = limits.wallTimeSeconds.map { startNs + Int64($0 * 1e9) }
        let cpuLimitNs = limits.cpuTimeKill.map { UInt64($0 * 1e9) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 8)
        defer { buffer.deallocate() }
        let eventSize = MemoryLayout<cs_event>.size
        let kill = self.kill

        func killOnce(_ why: Verdict, _ limit: RunLimit) {
            if p.out.killedFor == nil {
                p.out.killedFor = why
                p.out.limit = limit
                kill()
            }
        }

        while true {
            if p.out.reaped && !p.stdoutOpen && !p.stderrOpen && !p.eventsOpen { break }
            if doneAtExitEvent && p.exitReported && !p.stdoutOpen && !p.stderrOpen { break }
            // Output still open after the box is gone belongs to a
            // background process of an exec'd program: give it a moment, not forever.
            if let reaped = p.out.reapedNs, Kernel.monotonicNs() - reaped > 200_000_000 { break }

            var timeout: Int32 = -1
            let now = Kernel.monotonicNs()
            if let deadline {
                if now >= deadline { return nil }
                timeout = Int32(clamping: (deadline - now + 999_999) / 1_000_000)
            }
            func atMost(_ ms: Int32) { timeout = timeout < 0 ? ms : min(timeout, ms) }
            if let d = wallDeadline, p.out.killedFor == nil { atMost(Int32(clamping: max(0, (d - now) / 1_000_000 + 1))) }
            if let limit = cpuLimitNs, !p.out.reaped, p.out.killedFor == nil {
                // The group's usage grows at most by the number of CPUs each
                // wall nanosecond: it is read once that bound could pass the
                // limit, and the poll wakes no sooner (a poll of 10 ms woke the
                // grader ~4 times a student program's run for nothing).
                if let cpuUsage {
                    let bound = p.cpuRead.map { $0.used &+ UInt64(max(0, now - $0.ns)) &* Self.cpuCount } ?? .max
                    if bound > limit, let used = cpuUsage() {
                        p.cpuRead = (now, used)
                        if used > limit { killOnce(.TO, .cpu) }
                    }
                }
                if let read = p.cpuRead, p.out.killedFor == nil {
                    let reachable = Int64(clamping: (limit > read.used ? limit - read.used : 0) / Self.cpuCount)
                    atMost(Int32(clamping: max(0, read.ns + reachable - now) / 1_000_000 + 1))
                } else if p.out.killedFor == nil {
                    atMost(10)   // no usage to go by (no group, or it cannot be read): look again soon
                }
            }
            if p.out.reaped { atMost(20) }

            // The input ends once nothing is pending and nothing more can come.
            if p.stdinOpen && p.pendingOffset >= p.pending.count && !p.sourceOpen {
                p.stdinOpen = false
                closeInput()
            }
            var watched: [Int32] = []
            var interest: [Int16] = []
            func watch(_ fd: Int32, _ events: Int16 = Int16(POLLIN)) {
                watched.append(fd)
                interest.append(events)
            }
            if p.eventsOpen { watch(events) }
            if p.stdoutOpen { watch(stdout) }
            if p.stderrOpen { watch(stderr) }
            if !p.out.reaped { watch(pidfd) }
            var source: Int32 = -1
            if p.stdinOpen {
                if p.pendingOffset < p.pending.count {
                    watch(stdin, Int16(POLLOUT))
                } else if case .descriptor(let fd) = input {
                    source = fd
                    watch(fd)
                }
            }
            let revents = try Kernel.poll(watched, events: interest, timeoutMs: timeout)

            for (fd, re) in zip(watched, revents) where re != 0 {
                if fd == stdin {
                    // As much as the pipe takes now; EPIPE (the program closed it, or ended): the rest is not wanted.
                    let n = p.pending.withUnsafeBytes { b in
                        cs_write_nosigpipe(stdin, b.baseAddress! + p.pendingOffset, b.count - p.pendingOffset)
                    }
                    if n > 0 {
                        p.pendingOffset += n
                        p.out.stdinBytes! += n
                    } else if n != -Int(EAGAIN) {
                        p.stdinOpen = false
                        p.sourceOpen = false
                        closeInput()
                    }
                    continue
                }
                if fd == source {
                    // The caller's descriptor is left blocking (its open file may be shared): poll said it has data or ended.
                    var ended = re & Int16(POLLNVAL) != 0
                    do throws(SandboxError) {
                        // nil: nothing after all (a non-blocking descriptor); poll again.
                        if let n = try Kernel.read(fd, into: buffer, "standard input") {
                            if n > 0 {
                                p.pending = Array(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                                p.pendingOffset = 0
                            } else {
                                ended = true
                            }
                        }
                    } catch {
                        ended = true
                    }
                    if ended { p.sourceOpen = false }
                    continue
                }
                if fd == pidfd {
                    let (status, usage) = try Kernel.wait(pid)
                    p.out.reaped = true
                    p.out.reapedNs = Kernel.monotonicNs()
                    p.out.usage = usage
                    if !statusFromEvent { p.out.waitStatus = status }
                    continue
                }
                guard let n = try Kernel.read(fd, into: buffer, fd == events ? "box events" : "box output") else { continue }
                if n == 0 {
                    if fd == events { p.eventsOpen = false } else if fd == stdout { p.stdoutOpen = false } else { p.stderrOpen = false }
                    continue
                }
                if fd == events {
                    // Events are written whole (24 bytes, below PIPE_BUF), so reads never split one.
                    var offset = 0
                    while offset + eventSize <= n {
                        let ev = buffer.loadUnaligned(fromByteOffset: offset, as: cs_event.self)
                        offset += eventSize
                        switch ev.kind {
                        case Int32(CS_EV_STARTED.rawValue): p.out.startedNs = ev.mono_ns
                        case Int32(CS_EV_MARK.rawValue): p.out.marks.append((ev.step, ev.mono_ns))
                        case Int32(CS_EV_FAILED.rawValue): p.out.failure = (ev.step, ev.err)
                        case Int32(CS_EV_EXITED.rawValue):
                            p.out.waitStatus = ev.status
                            p.out.programCPU = (ev.user_us, ev.sys_us)
                            p.out.exitedNs = ev.mono_ns
                            p.exitReported = true
                        default: break
                        }
                    }
                    continue
                }
                let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
                let isOut = fd == stdout
                var tally = isOut ? p.out.stdoutTally : p.out.stderrTally
                let kept = p.out.stdoutTally.keptBytes + p.out.stderrTally.keptBytes
                let room = max(0, min(cap - kept, (isOut ? streamCap.out : streamCap.err) - tally.keptBytes))
                let take = min(room, n)
                if take > 0 {
                    if let sink = isOut ? stdoutSink : stderrSink {
                        Supervisor.write(chunk[0..<take], to: sink)
                    } else if isOut {
                        p.out.stdout.append(contentsOf: chunk[0..<take])
                    } else {
                        p.out.stderr.append(contentsOf: chunk[0..<take])
                    }
                }
                tally.keptBytes += take
                if take < n {
                    tally.droppedBytes += n - take
                    tally.truncated = true
                    p.out.droppedBytes += n - take
                    if limits.onOutputLimit != .truncate { killOnce(.OLE, .output) }
                }
                if isOut { p.out.stdoutTally = tally } else { p.out.stderrTally = tally }
            }

            if !p.out.reaped && p.out.killedFor == nil, let d = wallDeadline, Kernel.monotonicNs() >= d { killOnce(.TO, .wall) }
        }
        if p.out.exitedNs == 0 { p.out.exitedNs = p.out.reapedNs ?? 0 }
        if p.stdinOpen {
            p.stdinOpen = false
            closeInput()
        }
        return p.out
    }
}

extension Supervisor {
    /// Kept output to the caller's descriptor; a sink that is gone (EPIPE) or failing drops it.
    static func write(_ bytes: Slice<UnsafeRawBufferPointer>, to fd: Int32) {
        var offset = bytes.startIndex
        while offset < bytes.endIndex {
            let n = cs_write_nosigpipe(fd, bytes.base.baseAddress! + offset, bytes.endIndex - offset)
            if n <= 0 { return }
            offset += n
        }
    }
}

extension Supervisor.Outcome {
    /// The marks and `started` as step times since `originNs`.
    package func steps(since originNs: Int64) -> [StepTime] {
        var steps = marks.compactMap { m -> StepTime? in
            guard m.mark >= 0, Int(m.mark) < StepTime.names.count else { return nil }
            return StepTime(step: StepTime.names[Int(m.mark)], ms: Double(m.ns - originNs) / 1e6)
        }
        if let startedNs { steps.append(StepTime(step: "started", ms: Double(startedNs - originNs) / 1e6)) }
        return steps
    }
}
