import Foundation

/// What the daemon units share: starting one detached from us, waiting until its engine answers.
extension Provisioner {
    /// Starts a daemon in its own session with stdio on a log file, and returns its pid.
    /// `setsid` execs in place (a background job is not a group leader), so `$!` is the daemon.
    func startDaemon(_ argv: [String], log: String, asUser user: String? = nil, environment: [String: String] = [:]) async throws(BenchError) -> Int32 {
        var prefix = ""
        if let user {
            let uid = try await Self.uid(of: user), gid = try await Self.gid(of: user)
            prefix = "setpriv --reuid=\(uid) --regid=\(gid) --init-groups "
        }
        let env = environment.map { "\($0.key)='\($0.value)'" }.sorted().joined(separator: " ")
        let cmd = argv.map { "'\($0)'" }.joined(separator: " ")
        // From /: a daemon outlives the checkout it was started from, and one whose
        // working directory was deleted under it breaks (podman's conmon then
        // fails every start with "Failed to get working directory").
        let script = "cd /; \(env.isEmpty ? "" : "env \(env) ")setsid \(prefix)\(cmd) </dev/null >'\(log)' 2>&1 & echo $!"
        let out = try await Tool.shell(script)
        guard let pid = Int32(out.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw .setupFailed(step: argv[0], reason: "no pid from: \(script)")
        }
        return pid
    }

    /// Waits until the engine answers /_ping, or the daemon dies (its log's tail is the reason).
    func waitForEngine(_ driver: EngineDriver, pid: Int32, log: String, seconds: Double = 60) async throws(BenchError) {
        let deadline = Monotonic.now() + UInt64(seconds * 1e9)
        while Monotonic.now() < deadline {
            if (try? await driver.ping()) != nil { return }
            if kill(pid, 0) != 0 {
                let tail = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").suffix(5).joined(separator: "\n")
                throw .setupFailed(step: "start \(driver.candidate.manager.rawValue) daemon", reason: "it exited; \(log): \(tail)")
            }
            try? await Task.sleep(nanoseconds: 100_000_000)
        }
        throw .timeout("\(driver.socket) to answer /_ping", seconds: seconds)
    }
}
