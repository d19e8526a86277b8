import Foundation

/// One process as /proc shows it.
public struct ProcessEntry: Sendable, Equatable {
    public var pid: Int32
    /// The real user id (the first of /proc/PID/status's `Uid:` line).
    public var uid: UInt32
    public var argv: [String]

    public init(pid: Int32, uid: UInt32, argv: [String]) {
        self.pid = pid
        self.uid = uid
        self.argv = argv
    }

    /// The command's file name: "conmon" for /usr/bin/conmon.
    var command: String { argv.first.map { ($0 as NSString).lastPathComponent } ?? "" }

    /// The command line, shortened for a listing.
    public var summary: String {
        let line = argv.joined(separator: " ")
        return line.count > 120 ? String(line.prefix(119)) + "…" : line
    }
}

/// The host's processes, read from /proc (kernel threads, with no command line, left out).
public enum ProcessTable {
    public static func read(proc: String = "/proc") -> [ProcessEntry] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: proc)) ?? []
        return names.compactMap { name -> ProcessEntry? in
            guard let pid = Int32(name),
                  let cmdline = FileManager.default.contents(atPath: "\(proc)/\(name)/cmdline"), !cmdline.isEmpty,
                  let status = try? String(contentsOfFile: "\(proc)/\(name)/status", encoding: .utf8),
                  let uid = realUID(status: status) else { return nil }
            return ProcessEntry(pid: pid, uid: uid, argv: argv(cmdline: cmdline))
        }.sorted { $0.pid < $1.pid }
    }

    /// /proc/PID/cmdline: arguments each ended by a NUL.
    static func argv(cmdline: Data) -> [String] {
        cmdline.split(separator: 0, omittingEmptySubsequences: false).dropLast(cmdline.last == 0 ? 1 : 0)
            .map { String(decoding: $0, as: UTF8.self) }
    }

    /// The real uid from /proc/PID/status ("Uid:\t1001\t1001\t1001\t1001").
    static func realUID(status: String) -> UInt32? {
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Uid:") }) else { return nil }
        return line.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().first.flatMap { UInt32($0) }
    }

    /// Whether `pid` still runs `command` (its pid not yet reused).
    static func runs(_ pid: Int32, _ command: String, proc: String = "/proc") -> Bool {
        guard let data = FileManager.default.contents(atPath: "\(proc)/\(pid)/cmdline"), !data.isEmpty, !command.isEmpty else { return false }
        return argv(cmdline: data).joined(separator: " ").contains(command)
    }
}

/// Processes the benchmark's managers started that outlive what they served.
///
/// Podman runs each exec through a `conmon` that stays `exit_command_delay`
/// seconds (300 by default, "as Docker keeps an exec's status") after the
/// exec ended, container removed or not: a quick suite's last five minutes of
/// Podman trials left two conmon processes per exec behind it. The daemons'
/// own stop does not end them either (conmon is detached from the service by
/// design), nor rootless Podman's pause process, which holds its user
/// namespace for the next command.
public enum Leftovers {
    public struct Found: Sendable, Equatable {
        public var process: ProcessEntry
        public var why: String
    }

    /// The conmon processes of the containers one `gradebox bench` run made
    /// (named `gbx-<its pid>-<serial>`, so `prefix` "gbx-<pid>-"): the run
    /// removed their containers, so they only wait out Podman's exec delay.
    public static func conmons(_ table: [ProcessEntry], namedWith prefix: String) -> [Found] {
        table.compactMap { p -> Found? in
            guard p.command == "conmon", let name = zip(p.argv, p.argv.dropFirst()).first(where: { $0.0 == "-n" })?.1,
                  name.hasPrefix(prefix) else { return nil }
            return Found(process: p, why: "conmon of \(name), a removed container (Podman keeps it for its exec delay)")
        }
    }

    /// What teardown stops besides the daemons it recorded: every conmon whose
    /// arguments name one of `roots` (the Podman stores setup made), and every
    /// process of the rootless user setup made (its uid, or one of its
    /// subordinate ids: `uids`), which nothing but the benchmark runs as.
    public static func ofSetup(_ table: [ProcessEntry], roots: [String], uids: [ClosedRange<UInt32>], excluding: Set<Int32> = []) -> [Found] {
        table.compactMap { p -> Found? in
            if excluding.contains(p.pid) { return nil }
            if p.command == "conmon", let root = roots.first(where: { r in p.argv.contains { $0.hasPrefix(r) } }) {
                let name = zip(p.argv, p.argv.dropFirst()).first { $0.0 == "-n" }?.1 ?? "?"
                return Found(process: p, why: "conmon of container \(name) in the Podman store under \(root)")
            }
            if uids.contains(where: { $0.contains(p.uid) }) {
                return Found(process: p, why: "runs as the benchmark's rootless user (uid \(p.uid))")
            }
            return nil
        }
    }

    /// SIGTERM, then SIGKILL for those still there after `grace` seconds; each
    /// pid is checked to still run its command first, so a reused pid is spared.
    public static func stop(_ found: [Found], grace: Double = 5) async -> [String] {
        var log: [String] = []
        var signalled: [Found] = []
        for f in found where ProcessTable.runs(f.process.pid, f.process.argv.first ?? "") {
            if kill(f.process.pid, SIGTERM) == 0 { signalled.append(f) }
        }
        // A process that exited is a zombie until its parent (often pid 1) reaps
        // it: it has no command line any more, and counts as gone.
        func running(_ f: Found) -> Bool { ProcessTable.runs(f.process.pid, f.process.argv.first ?? "") }
        let deadline = Monotonic.now() + UInt64(grace * 1e9)
        while Monotonic.now() < deadline, signalled.contains(where: running) {
            try? await Task.sleep(nanoseconds: 50_000_000)
        }
        for f in signalled {
            let killed = running(f)
            if killed { kill(f.process.pid, SIGKILL) }
            log.append("stopped pid \(f.process.pid)\(killed ? " (SIGKILL)" : "") \(f.process.command): \(f.why)")
        }
        return log
    }
}
