/// Why workload data could not be generated or found. Each case names the
/// tool or call that failed and the object it failed on.
public enum WorkloadError: Error, Equatable, CustomStringConvertible {
    case unknownDataset(String, valid: [String])
    case io(operation: String, underlying: String)
    case sqlite(path: String, message: String)
    case tool(command: String, status: String, stderr: String)
    case missing(dataset: String, path: String)

    public var description: String {
        switch self {
        case .unknownDataset(let name, let valid):
            return "unknown dataset \"\(name)\"; valid: \(valid.joined(separator: ", "))"
        case .io(let operation, let underlying):
            return "\(operation): \(underlying)"
        case .sqlite(let path, let message):
            return "sqlite (\(path)): \(message)"
        case .tool(let command, let status, let stderr):
            return "\(command): \(status)\(stderr.isEmpty ? "" : ": " + stderr)"
        case .missing(let dataset, let path):
            return "dataset \(dataset) is missing at \(path); run `gradebox bench data generate`"
        }
    }
}
