import Foundation
import Subprocess
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// Runs external tools (crun, lxc-*, tar, apt-get ...): through `Spawn`
/// (posix_spawn), or swift-subprocess when run as another user.
/// A non-zero exit is thrown as `BenchError.toolFailed` naming the command line,
/// unless the caller asks for the status.
package enum Tool {
    package struct Output: Sendable {
        package var status: Int32
        package var stdout: String
        package var stderr: String
    }

    /// Runs `path args`, collecting stdout and stderr (up to 4 MiB each).
    package static func run(
        _ path: String, _ args: [String], environment: [String: String] = [:], uid: uid_t? = nil, gid: gid_t? = nil
    ) async throws(BenchError) -> Output {
        if uid == nil && gid == nil { return try await Spawn.run(path, args, environment: environment) }
        var options = PlatformOptions()
        if let uid { options.userID = uid }
        if let gid { options.groupID = gid; options.supplementaryGroups = [gid] }
        let env: Environment = environment.isEmpty ? .inherit
            : .inherit.updating(Dictionary(uniqueKeysWithValues: environment.map { (Environment.Key(stringLiteral: $0.key), Optional($0.value)) }))
        do {
            let r = try await Subprocess.run(
                .path(FilePath(path)), arguments: Arguments(args), environment: env, platformOptions: options,
                output: .string(limit: 4 << 20), error: .string(limit: 4 << 20))
            let status: Int32
            switch r.terminationStatus {
            case .exited(let c): status = c
            case .signaled(let s): status = 128 + s
            }
            return Output(status: status, stdout: r.standardOutput, stderr: r.standardError)
        } catch {
            throw .toolFailed(commandLine(path, args), status: -1, output: "\(error)")
        }
    }

    /// Runs and returns stdout; throws when the status is not 0 (unless `allowFailure`).
    @discardableResult
    package static func output(
        _ path: String, _ args: [String], allowFailure: Bool = false, environment: [String: String] = [:],
        uid: uid_t? = nil, gid: gid_t? = nil
    ) async throws(BenchError) -> String {
        let r = try await run(path, args, environment: environment, uid: uid, gid: gid)
        if r.status != 0 && !allowFailure {
            throw .toolFailed(commandLine(path, args), status: r.status, output: String((r.stderr.isEmpty ? r.stdout : r.stderr).suffix(2000)))
        }
        return r.stdout
    }

    /// Runs with stdio on /dev/null: for commands whose children outlive them and would
    /// otherwise hold our pipes open (`crun create`, `lxc-start -d`, daemons).
    package static func detached(_ path: String, _ args: [String]) async throws(BenchError) -> Int32 {
        // Subprocess here, not Spawn: Spawn reads its pipes to their end, which a
        // daemon's children would hold open.
        do {
            let r = try await Subprocess.run(.path(FilePath(path)), arguments: Arguments(args), output: .discarded, error: .discarded)
            switch r.terminationStatus {
            case .exited(let c): return c
            case .signaled(let s): return 128 + s
            }
        } catch {
            throw .toolFailed(commandLine(path, args), status: -1, output: "\(error)")
        }
    }

    /// A shell pipeline (`tar -C dir -c . | docker import - name`), for the rare steps
    /// that are a pipe; `set -o pipefail` so the first failure counts.
    @discardableResult
    package static func shell(_ script: String, uid: uid_t? = nil, gid: gid_t? = nil, environment: [String: String] = [:]) async throws(BenchError) -> String {
        let r = try await run("/bin/bash", ["-o", "pipefail", "-c", script], environment: environment, uid: uid, gid: gid)
        if r.status != 0 {
            throw .toolFailed(script, status: r.status, output: String((r.stderr.isEmpty ? r.stdout : r.stderr).suffix(2000)))
        }
        return r.stdout
    }

    package static func commandLine(_ path: String, _ args: [String]) -> String {
        ([path] + args).map { $0.contains(" ") ? "'\($0)'" : $0 }.joined(separator: " ")
    }
}
