#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SandboxCore
#if canImport(Glibc)
import Glibc
#endif

/// Writes to a descriptor with write(2): no Foundation FileHandle in Essentials.
struct FileHandleLite {
    let fd: Int32
    static let standardOutput = FileHandleLite(fd: 1)
    static let standardError = FileHandleLite(fd: 2)

    func write(_ text: String) { write(Array(text.utf8)) }

    func write(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, bytes.count - offset) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            offset += n
        }
    }
}

/// The one JSON object `gradebox run --json` prints: the CLI contract.
struct RunRecord: Encodable {
    var verdict: String
    var exit_code: Int32?
    var signal: Int32?
    var stdout: String
    var stderr: String
    var output_dropped_bytes: Int
    var stdin_bytes: Int
    var stdout_bytes: Int
    var stdout_dropped_bytes: Int
    var stdout_truncated: Bool
    var stderr_bytes: Int
    var stderr_dropped_bytes: Int
    var stderr_truncated: Bool
    var phases_ms: [String: Double]
    /// The box's setup steps, in ms since its clone (see `StepTime`).
    var steps_ms: [String: Double]?
    var cpu_ms: Double
    var cpu_user_ms: Double?
    var cpu_sys_ms: Double?
    var limit: String?
    var wall_ms: Double
    var memory_peak_bytes: UInt64?
    var failed_step: String?
    var errno: Int32?
    var errno_name: String?

    init(_ r: RunResult) {
        verdict = r.verdict.rawValue
        exit_code = r.exitCode
        signal = r.signal
        stdout = String(decoding: r.stdout, as: UTF8.self)
        stderr = String(decoding: r.stderr, as: UTF8.self)
        output_dropped_bytes = r.outputDroppedBytes
        stdin_bytes = r.stdinBytes
        stdout_bytes = r.stdoutTally.keptBytes
        stdout_dropped_bytes = r.stdoutTally.droppedBytes
        stdout_truncated = r.stdoutTally.truncated
        stderr_bytes = r.stderrTally.keptBytes
        stderr_dropped_bytes = r.stderrTally.droppedBytes
        stderr_truncated = r.stderrTally.truncated
        var phases: [String: Double] = [:]
        if let v = r.phases.create { phases["create"] = v }
        if let v = r.phases.start { phases["start"] = v }
        if let v = r.phases.exec { phases["exec"] = v }
        if let v = r.phases.stop { phases["stop"] = v }
        if let v = r.phases.delete { phases["delete"] = v }
        phases_ms = phases
        steps_ms = r.steps.map { Dictionary($0.map { ($0.step, $0.ms) }, uniquingKeysWith: { a, _ in a }) }
        cpu_ms = r.cpuMs
        cpu_user_ms = r.cpuUserMs
        cpu_sys_ms = r.cpuSysMs
        limit = r.limit?.rawValue
        wall_ms = r.wallMs
        memory_peak_bytes = r.memoryPeakBytes
        failed_step = r.failure?.step
        errno = r.failure?.errno
        errno_name = r.failure.map { errnoName($0.errno) }
    }
}

func printJSON<T: Encodable>(_ value: T) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    guard let data = try? encoder.encode(value) else { return }
    FileHandleLite.standardOutput.write([UInt8](data) + [10])
}

/// Prints a finished run: the program's output as it was, then a summary on stderr.
func report(_ result: RunResult, json: Bool, quiet: Bool) {
    if json {
        printJSON(RunRecord(result))
        return
    }
    FileHandleLite.standardOutput.write(result.stdout)
    FileHandleLite.standardError.write(result.stderr)
    if quiet { return }
    var line = "gradebox: \(result.verdict.rawValue)"
    if let c = result.exitCode { line += " exit=\(c)" }
    if let s = result.signal { line += " signal=\(s)" }
    if let l = result.limit { line += " limit=\(l.rawValue)" }
    line += " cpu=\(fixed(result.cpuMs))ms wall=\(fixed(result.wallMs))ms"
    if let m = result.memoryPeakBytes { line += " mem=\(m / 1024)K" }
    if result.outputDroppedBytes > 0 { line += " dropped=\(result.outputDroppedBytes)B" }
    if let f = result.failure { line += " failed: \(f.step): \(errnoName(f.errno))" }
    FileHandleLite.standardError.write(line + "\n")
}

/// `x` with `digits` decimals (String(format:) is not in FoundationEssentials).
func fixed(_ x: Double, _ digits: Int = 1) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let v = (x * scale).rounded() / scale
    var s = "\(v)"
    if let dot = s.firstIndex(of: ".") {
        let decimals = s.distance(from: dot, to: s.endIndex) - 1
        if decimals < digits { s += String(repeating: "0", count: digits - decimals) }
        if digits == 0 { s = String(s[..<dot]) }
    }
    return s
}
