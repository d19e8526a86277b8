import Foundation

/// Renders runner and setup events on stderr: step names with their time, and a
/// progress bar redrawn in place while trials run (plain lines when stderr is not a TTY).
public final class ConsoleReporter: Sendable {
    let tty = isatty(2) == 1
    public init() {}

    func write(_ s: String) { FileHandle.standardError.write(Data(s.utf8)) }

    public func setup(_ e: ProvisionEvent) {
        switch e {
        case .begin(let step): write("  … \(step)\n")
        case .end(let step, let s): write("  ✓ \(step) (\(String(format: "%.1f", s)) s)\n")
        case .failed(let step, let reason): write("  ✗ \(step): \(reason)\n")
        // debootstrap's per-package lines would drown the step list.
        case .note(let n): if !n.hasPrefix("I: ") { write("    \(n)\n") }
        }
    }

    public func runner(_ e: RunnerEvent) {
        switch e {
        case .setup(let p): setup(p)
        case .skipped(let c, let reason): write("\(tty ? "\r\u{1B}[K" : "")✗ \(c): \(reason)\n")
        case .trial(let done, let total, let r):
            let width = 30
            let filled = total > 0 ? width * done / total : width
            let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
            let key = TrialRecord.headlinePhases.lazy.compactMap { r.phasesMs[$0] }.first
            let last = r.outcome == .ok ? (key.map { String(format: "%.1f ms", $0) } ?? "ok") : "FAILED"
            let line = "\(bar) \(done)/\(total) \(r.warmup ? "warm-up " : "")\(r.candidate) \(r.experiment): \(last)"
            if tty { write("\r\u{1B}[K" + line + (done == total ? "\n" : "")) } else if r.outcome == .failed || done == total || done % 10 == 0 { write(line + "\n") }
            if r.outcome == .failed, let err = r.error { write("\(tty ? "\n" : "")  \(r.candidate): \(err.prefix(300))\n") }
        case .prepared(let c, let e, let seconds, let done, let total):
            // Images are built and imported here: minutes on a fresh host, so every step is shown.
            let line = "prepared \(done)/\(total): \(e) on \(c) (\(String(format: "%.1f", seconds)) s)"
            if tty { write("\r\u{1B}[K" + line + (done == total ? "\n" : "")) } else if seconds >= 1 || done == total || done % 20 == 0 { write(line + "\n") }
        case .interrupted: write("\ninterrupted: records so far are kept\n")
        case .budget(let seconds, let fewest, let most, let rationed, let comparisons, let comparisonsFewest):
            let share = rationed == 0 ? "every pair gets all its runs" : "\(rationed) dear pairs get fewer runs"
            let first = comparisons == 0 ? "" : "; the \(comparisons) comparison pairs at least \(comparisonsFewest)"
            write("\(tty ? "\r\u{1B}[K" : "")budget \(Int(seconds / 60)) min: \(fewest)-\(most) counted runs per pair (\(share)\(first))\n")
        case .budgetSpent(let skipped):
            write("\(tty ? "\r\u{1B}[K" : "")budget spent: \(skipped) planned trials not run (every pair kept at least one)\n")
        case .tornDown(let log): for l in log { write("  \(l)\n") }
        }
    }
}
