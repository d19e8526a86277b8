extension Report {
    /// The same content as `html()` for terminals and CI logs: tables, no charts.
    public func markdown() -> String {
        var m = "# gradebox bench report\n\n"
        m += "\(source.isEmpty ? "" : "`\(source)` · ")\(trials) counted trials\(warmups > 0 ? " (+\(warmups) warm-up)" : "") · \(index.candidates.count) candidates · times in ms (median, p5–p95)\n\n"
        m += "## Host\n\n| fact | value |\n|---|---|\n"
        for (k, v) in host { m += "| \(cell(k)) | \(cell(v)) |\n" }
        if !hostConflicts.isEmpty { m += "\n**Mixed hosts or tool versions:** \(hostConflicts.joined(separator: ", "))\n" }

        m += "\n## Best configuration per criterion\n\n| criterion | best here | numbers |\n|---|---|---|\n"
        for b in best {
            let names = b.winners.isEmpty ? "**—**" : b.winners.map { "**\(cell($0))**" }.joined(separator: " = ") + (b.tied.isEmpty ? "" : " (tie)")
            m += "| \(cell(b.criterion)) | \(names) | \(cell(b.detail)) |\n"
        }

        m += "\n## The thesis's conclusions on this host\n\n| fig. | the thesis found | here | numbers |\n|---|---|---|---|\n"
        for c in conclusions {
            let mark: String
            switch c.status {
            case .confirmed: mark = "✅"
            case .refuted: mark = "❌"
            case .mixed: mark = "↔️"
            case .indistinct: mark = "≈"
            case .notMeasured: mark = "➖"
            }
            let rule = c.rule.isEmpty ? "" : " (\(c.rule))"
            m += "| \(c.figure) | \(cell(c.claim)) | \(mark) \(c.label) | \(cell(c.evidence + rule)) |\n"
        }

        for f in figures {
            m += "\n## Figure \(f.id): \(f.title)\n\n\(f.caption)\n"
            if f.panels.isEmpty { m += "\nNot measured: no records for this figure's candidates.\n" }
            for p in f.panels {
                m += "\n**\(p.title)**\n\n| candidate | n | median | p5 | p95 | min | max | failed |\n|---|--:|--:|--:|--:|--:|--:|--:|\n"
                for b in p.bars {
                    let name = b.label == b.candidate ? b.candidate : "\(b.label) (\(b.candidate))"
                    if let d = b.distribution {
                        m += "| \(cell(name)) | \(d.count) | **\(fmt(d.median))** | \(fmt(d.p5)) | \(fmt(d.p95)) | \(fmt(d.min)) | \(fmt(d.max)) | \(b.failed) |\n"
                    } else {
                        m += "| \(cell(name)) | 0 | failed: \(cell(b.failureReason ?? "")) | | | | | \(b.failed) |\n"
                    }
                }
            }
        }
        if !failures.isEmpty {
            m += "\n## Failures\n\n| | candidate | experiment | failed trials | reason (first) |\n|--:|---|---|--:|---|\n"
            for (i, f) in failures.enumerated() { m += "| \(i + 1) | \(cell(f.candidate)) | \(cell(f.experiment)) | \(f.count) | \(cell(f.reason)) |\n" }
        }
        return m
    }
}

/// A markdown table cell: no pipes, no line breaks.
private func cell(_ s: String) -> String {
    s.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ")
}
