import ArgumentParser
import BenchCore
import Foundation

struct BenchReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write the report (the thesis's figures 5.1-5.7, conclusions, best configuration) from raw results.")

    @Argument(help: "Raw results: the .jsonl `gradebox bench` writes beside its export (one trial per line).")
    var results: String

    @Option(name: .long, help: "Where to write the self-contained HTML page.")
    var out: String = "report.html"

    @Flag(name: .long, help: "Also print a markdown summary of the same on stdout.")
    var markdown = false

    @Option(name: .customLong("markdown-out"), help: "Write the markdown summary to this file instead of stdout.")
    var markdownOut: String?

    func run() throws {
        let records: [TrialRecord]
        do {
            records = try ResultsFile.read(path: results)
        } catch {
            // ReportError's description names the file and the line.
            throw ValidationError(error.description)
        }
        let report = Report(records: records, source: results)
        do {
            try report.html().write(toFile: out, atomically: true, encoding: .utf8)
        } catch {
            throw ValidationError("write(\(out)): \(error.localizedDescription)")
        }
        if let markdownOut {
            try report.markdown().write(toFile: markdownOut, atomically: true, encoding: .utf8)
        } else if markdown {
            print(report.markdown())
        }
        let measured = report.conclusions.filter { $0.status != .notMeasured }
        let counts = [ReportConclusion.Status.confirmed, .refuted, .mixed, .indistinct].compactMap { status -> String? in
            let n = measured.filter { $0.status == status }.count
            return n > 0 ? "\(n) \(status.rawValue)" : nil
        }
        FileHandle.standardError.write(Data(
            "\(out): \(report.trials) trials, \(report.figures.filter { !$0.panels.isEmpty }.count) figures, \(measured.count) measured conclusions (\(counts.isEmpty ? "none" : counts.joined(separator: ", "))), \(report.failures.count) failing candidate/experiment pairs\n".utf8))
    }
}
