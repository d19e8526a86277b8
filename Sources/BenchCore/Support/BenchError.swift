import Foundation

/// The one error type of BenchCore. Each case names what failed on what.
public enum BenchError: Error, Sendable, Equatable, CustomStringConvertible {
    /// An external tool failed: `crun create gbx-1`, exit status, its stderr.
    case toolFailed(String, status: Int32, output: String)
    /// An Engine API call answered with an error: `POST /containers/create`, HTTP status, body.
    case api(String, status: UInt, body: String)
    /// The manager could not be reached (socket missing, daemon not running).
    case unreachable(String)
    /// The candidate cannot run on this host, with the reason read from the host.
    case unavailable(candidate: String, reason: String)
    case unknownCandidate(String, valid: [String])
    case unknownExperiment(String, valid: [String])
    /// A provisioning step failed.
    case setupFailed(step: String, reason: String)
    /// The driver cannot do that (a network mode, a detached exec ...).
    case unsupported(String)
    /// A wait that did not end: what was waited for, and how long.
    case timeout(String, seconds: Double)
    /// Reading or writing one of our files.
    case file(String, reason: String)

    public var description: String {
        switch self {
        case .toolFailed(let t, let s, let o):
            "\(t) failed with status \(s)" + (o.isEmpty ? "" : ": \(o.trimmingCharacters(in: .whitespacesAndNewlines))")
        case .api(let call, let s, let b): "\(call): HTTP \(s): \(b.trimmingCharacters(in: .whitespacesAndNewlines))"
        case .unreachable(let m): "cannot reach \(m)"
        case .unavailable(let c, let r): "\(c) is unavailable here: \(r)"
        case .unknownCandidate(let n, let v): "unknown candidate \(n); valid names: \(v.joined(separator: ", "))"
        case .unknownExperiment(let n, let v): "unknown experiment \(n); valid names: \(v.joined(separator: ", "))"
        case .setupFailed(let s, let r): "setup step \(s) failed: \(r)"
        case .unsupported(let m): "unsupported: \(m)"
        case .timeout(let w, let s): "timed out after \(s) s waiting for \(w)"
        case .file(let p, let r): "\(p): \(r)"
        }
    }
}
