import Foundation

/// Why a results file could not be read. Every case names the file, and the
/// line where it applies (1-based).
public enum ReportError: Error, Equatable, CustomStringConvertible {
    case unreadable(file: String, reason: String)
    case empty(file: String)
    /// The last line stops mid-record (an interrupted run, a copy cut short).
    case truncated(file: String, line: Int)
    /// A gradebox results file, but written by another version of the format.
    case otherVersion(file: String, line: Int, found: String, expected: String)
    /// Not a gradebox results file at all, or a record missing what it needs.
    case notOurs(file: String, line: Int, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let file, let reason):
            return "\(file): cannot read: \(reason)"
        case .empty(let file):
            return "\(file): no trial records (empty file)"
        case .truncated(let file, let line):
            return "\(file):\(line): the record is cut short (truncated file?); remove the line or rerun"
        case .otherVersion(let file, let line, let found, let expected):
            return "\(file):\(line): record format \"\(found)\", this gradebox reads \"\(expected)\""
        case .notOurs(let file, let line, let reason):
            return "\(file):\(line): not a gradebox bench record: \(reason)"
        }
    }
}

/// Reads the raw `.jsonl` results `gradebox bench` writes (one TrialRecord per line).
public enum ResultsFile {
    public static func read(path: String) throws(ReportError) -> [TrialRecord] {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw .unreadable(file: path, reason: (error as NSError).localizedDescription)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw .notOurs(file: path, line: 1, reason: "not UTF-8 text")
        }
        return try parse(text, file: path)
    }

    /// Parses the text of a results file; `file` only names it in errors.
    public static func parse(_ text: String, file: String) throws(ReportError) -> [TrialRecord] {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let endsWithNewline = text.hasSuffix("\n")
        let decoder = JSONDecoder()
        var records: [TrialRecord] = []
        for (index, raw) in lines.enumerated() {
            let number = index + 1
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            let isLast = index == lines.count - 1
            let bytes = Data(line.utf8)
            guard let object = (try? JSONSerialization.jsonObject(with: bytes)) as? [String: Any] else {
                // A record cut short can only be the last line of a file that
                // lacks its final newline; anything else is not ours.
                if isLast && !endsWithNewline && line.hasPrefix("{") && records.count > 0 {
                    throw .truncated(file: file, line: number)
                }
                throw .notOurs(file: file, line: number, reason: "not a JSON object: \(line.prefix(60))")
            }
            guard let schema = object["schema"] as? String else {
                throw .notOurs(file: file, line: number, reason: "no \"schema\" field")
            }
            guard schema == TrialRecord.currentSchema else {
                if schema.hasPrefix("gradebox.bench/") {
                    throw .otherVersion(file: file, line: number, found: schema, expected: TrialRecord.currentSchema)
                }
                throw .notOurs(file: file, line: number, reason: "schema \"\(schema)\"")
            }
            do {
                records.append(try decoder.decode(TrialRecord.self, from: bytes))
            } catch let DecodingError.keyNotFound(key, _) {
                throw .notOurs(file: file, line: number, reason: "missing field \"\(key.stringValue)\"")
            } catch let DecodingError.typeMismatch(_, context) {
                let path = context.codingPath.map(\.stringValue).joined(separator: ".")
                throw .notOurs(file: file, line: number, reason: "field \"\(path)\" has the wrong type")
            } catch {
                throw .notOurs(file: file, line: number, reason: "\(error)")
            }
        }
        guard !records.isEmpty else { throw .empty(file: file) }
        return records
    }
}
