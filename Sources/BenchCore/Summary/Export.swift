import Foundation

/// Summary formats chosen by the export file's extension. Pure functions of the rows.
public enum ExportFormat: String, Sendable, CaseIterable {
    case json, csv, md

    public static func forPath(_ path: String) throws(BenchError) -> ExportFormat {
        let ext = (path as NSString).pathExtension.lowercased()
        if ext == "markdown" { return .md }
        guard let f = ExportFormat(rawValue: ext) else {
            throw .file(path, reason: "unknown export format .\(ext); use .json, .csv or .md")
        }
        return f
    }

    /// The raw records' path beside a summary: out.json -> out.jsonl.
    public static func rawPath(for path: String) -> String {
        ((path as NSString).deletingPathExtension) + ".jsonl"
    }
}

public enum Export {
    static func fmt(_ v: Double?, _ digits: Int = 2) -> String {
        guard let v, v.isFinite else { return "" }
        return String(format: "%.\(digits)f", v)
    }

    public static func render(_ rows: [SummaryRow], host: [String: String], as format: ExportFormat) -> String {
        switch format {
        case .json: return json(rows, host: host)
        case .csv: return csv(rows)
        case .md: return markdown(rows, host: host)
        }
    }

    public static func json(_ rows: [SummaryRow], host: [String: String]) -> String {
        struct Doc: Encodable {
            var schema = "gradebox.bench.summary/1"
            var baseline = Candidate.baselineName
            var host: [String: String]
            var rows: [SummaryRow]
        }
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = (try? enc.encode(Doc(host: host, rows: rows))) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    static let columns = ["candidate", "experiment", "dataset", "phase", "n", "failures", "median_ms", "p5_ms", "p95_ms",
                          "min_ms", "max_ms", "mean_ms", "stddev_ms", "ratio_to_baseline", "ratio_to_fastest"]

    static func cells(_ r: SummaryRow) -> [String] {
        let s = r.stats
        return [r.candidate, r.experiment, r.dataset ?? "", r.phase, String(s?.count ?? 0), String(r.failures),
                fmt(s?.median, 3), fmt(s?.p5, 3), fmt(s?.p95, 3), fmt(s?.min, 3), fmt(s?.max, 3), fmt(s?.mean, 3),
                fmt(s?.stddev, 3), fmt(r.ratioToBaseline, 3), fmt(r.ratioToFastest, 3)]
    }

    /// RFC 4180: fields with a comma, quote or newline are quoted, quotes doubled.
    public static func csv(_ rows: [SummaryRow]) -> String {
        func q(_ s: String) -> String {
            s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
        }
        return ([columns.joined(separator: ",")] + rows.map { cells($0).map(q).joined(separator: ",") }).joined(separator: "\n") + "\n"
    }

    public static func markdown(_ rows: [SummaryRow], host: [String: String]) -> String {
        var out = "| candidate | experiment | phase | n | median ms | p95 ms | min…max ms | σ ms | × baseline | × fastest |\n"
        out += "|---|---|---|---:|---:|---:|---:|---:|---:|---:|\n"
        for r in rows {
            let s = r.stats
            let exp = experimentLabel(r.experiment, r.dataset)
            let n = String(s?.count ?? 0) + (r.failures > 0 ? " (\(r.failures) failed)" : "")
            out += "| \(r.candidate) | \(exp) | \(r.phase) | \(n) | \(fmt(s?.median)) | \(fmt(s?.p95)) | \(fmt(s?.min))…\(fmt(s?.max)) | \(fmt(s?.stddev)) | \(fmt(r.ratioToBaseline)) | \(fmt(r.ratioToFastest)) |\n"
        }
        if !host.isEmpty {
            out += "\nHost: " + ["kernel", "cpu", "cpus", "cgroup"].compactMap { k in host[k].map { "\(k) \($0)" } }.joined(separator: ", ") + "\n"
        }
        return out
    }

    /// The table printed at the end of a run: one line per candidate and experiment,
    /// phases side by side (median ± σ), like hyperfine's summary.
    public static func table(_ rows: [SummaryRow]) -> String {
        var groups: [(String, String, [SummaryRow])] = []
        for r in rows {
            let exp = experimentLabel(r.experiment, r.dataset)
            if let i = groups.firstIndex(where: { $0.0 == r.candidate && $0.1 == exp }) { groups[i].2.append(r) }
            else { groups.append((r.candidate, exp, [r])) }
        }
        let phases = Summary.phaseOrder.filter { p in rows.contains { $0.phase == p } }
            + Set(rows.map(\.phase)).subtracting(Summary.phaseOrder).sorted()
        let header = ["candidate", "experiment"] + phases.map { "\($0) ms" } + ["× baseline", "n"]
        var lines = [header]
        for (c, e, rs) in groups {
            var line = [c, e]
            for p in phases {
                if let s = rs.first(where: { $0.phase == p })?.stats { line.append("\(fmt(s.median)) ± \(fmt(s.stddev, 1))") } else { line.append("-") }
            }
            let key = TrialRecord.headlinePhases.lazy.compactMap { p in rs.first { $0.phase == p } }.first ?? rs[0]
            line.append(fmt(key.ratioToBaseline))
            let failed = rs.map(\.failures).max() ?? 0
            line.append(String(rs.compactMap { $0.stats?.count }.max() ?? 0) + (failed > 0 ? " (\(failed) failed)" : ""))
            lines.append(line)
        }
        let widths = header.indices.map { i in lines.map { $0[i].count }.max() ?? 0 }
        return lines.map { l in
            l.enumerated().map { i, s in i < 2 ? s.padding(toLength: widths[i], withPad: " ", startingAt: 0)
                : String(repeating: " ", count: widths[i] - s.count) + s }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }
}
