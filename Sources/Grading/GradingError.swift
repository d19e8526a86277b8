/// The one error type of Grading. Each case names the file and the field
/// (or the input) that is wrong, so a teacher moving a course knows what to edit.
public enum GradingError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A course or task file that cannot be read or parsed: its path, the
    /// field (dotted, e.g. `environment_parameters.limits.time`; empty for
    /// the whole file) and what is wrong.
    case taskFile(path: String, field: String, problem: String)
    /// No run file where INGInious looks for one.
    case noRunFile(task: String)
    /// A submission's input that does not fit the task (unknown problem id, unreadable file ...).
    case input(String)
    /// The sandbox failed or refused.
    case sandbox(String)

    public var description: String {
        switch self {
        case .taskFile(let path, let field, let problem): field.isEmpty ? "\(path): \(problem)" : "\(path): \(field): \(problem)"
        case .noRunFile(let task): "\(task): no run file (run_cmd, or run, run.py, run.sh in the task, $common or the course)"
        case .input(let m): m
        case .sandbox(let m): m
        }
    }
}
