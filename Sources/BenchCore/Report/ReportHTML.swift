import Foundation

extension Report {
    /// One self-contained HTML page: inline CSS and SVG, no script, no
    /// external asset, so it can be mailed, archived or opened offline.
    public func html() -> String {
        var h = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>gradebox bench report</title>
        <style>\(Self.css)</style></head><body>
        <h1>gradebox bench report</h1>
        <p class="sub">\(esc(source.isEmpty ? "" : source + " · "))\(trials) counted trials\(warmups > 0 ? " (+\(warmups) warm-up)" : "") · \(index.candidates.count) candidates · bars: median, whiskers: p5–p95 · times in milliseconds · <span style="color:#1f8a5b">■</span> gradebox <span style="color:#c2410c">■</span> INGInious&#39;s configuration (docker/runc/overlay2/minimal)</p>
        <nav><a href="#host">Host</a> · <a href="#best">Best configuration</a> · <a href="#conclusions">Thesis conclusions</a>
        """
        for f in figures where !f.panels.isEmpty { h += " · <a href=\"#fig-\(f.id)\">Figure \(f.id)</a>" }
        if !failures.isEmpty { h += " · <a href=\"#failures\">Failures</a>" }
        h += "</nav>\n"

        h += "<h2 id=\"host\">Host</h2>\n<table class=\"kv\">"
        for (k, v) in host { h += "<tr><th>\(esc(k))</th><td>\(esc(v))</td></tr>" }
        h += "</table>\n"
        if !hostConflicts.isEmpty {
            h += "<p class=\"warn\">These records come from more than one host or tool version: \(esc(hostConflicts.joined(separator: ", "))).</p>\n"
        }

        h += "<h2 id=\"best\">Best configuration per criterion</h2>\n<table><tr><th>criterion</th><th>best here</th><th>numbers</th><th>rule</th></tr>"
        for b in best {
            let names = b.winners.isEmpty ? "<b>—</b>" : b.winners.map { "<b>\(esc($0))</b>" }.joined(separator: " = ")
            let tie = b.tied.isEmpty ? "" : " <span class=\"badge eq\">tie</span>"
            h += "<tr><td>\(esc(b.criterion))</td><td>\(names)\(tie)</td><td>\(esc(b.detail))</td><td class=\"rule\">\(esc(b.rule))</td></tr>"
        }
        h += "</table>\n"

        h += "<h2 id=\"conclusions\">The thesis's conclusions on this host</h2>\n<table><tr><th>fig.</th><th>the thesis found</th><th>here</th><th>numbers</th></tr>"
        for c in conclusions {
            let cls: String
            switch c.status {
            case .confirmed: cls = "ok"
            case .refuted: cls = "no"
            case .mixed: cls = "mix"
            case .indistinct: cls = "eq"
            case .notMeasured: cls = "na"
            }
            let rule = c.rule.isEmpty ? "" : "<br><span class=\"rule\">\(esc(c.rule))</span>"
            h += "<tr><td>\(esc(c.figure))</td><td>\(esc(c.claim))</td><td><span class=\"badge \(cls)\">\(esc(c.label))</span></td><td>\(esc(c.evidence))\(rule)</td></tr>"
        }
        h += "</table>\n"

        for f in figures {
            h += "<h2 id=\"fig-\(esc(f.id))\">Figure \(esc(f.id)): \(esc(f.title))</h2>\n<p class=\"cap\">\(esc(f.caption))</p>\n"
            if f.panels.isEmpty {
                h += "<p class=\"na\">Not measured: no records for this figure's candidates.</p>\n"
                continue
            }
            h += "<div class=\"charts\">"
            for p in f.panels where p.chart { h += "<figure>" + Self.svg(p, footnote: failureNote) + "</figure>" }
            h += "</div>\n"
            for p in f.panels { h += Self.table(p) }
        }

        if !failures.isEmpty {
            h += "<h2 id=\"failures\">Failures</h2>\n<table><tr><th>candidate</th><th>experiment</th><th>failed trials</th><th>reason (first)</th></tr>"
            for (i, f) in failures.enumerated() {
                h += "<tr id=\"failure-\(i + 1)\"><td>[\(i + 1)] \(esc(f.candidate))</td><td>\(esc(f.experiment))</td><td>\(f.count)</td><td class=\"fail\">\(esc(f.reason))</td></tr>"
            }
            h += "</table>\n"
        }
        h += "<footer>Made by <code>gradebox bench report</code> from raw trial records. Percentiles: linear interpolation between closest ranks.</footer>\n</body></html>\n"
        return h
    }

    /// The Failures table's row number (1-based) for a bar's failures, which
    /// its chart label refers to.
    func failureNote(_ p: ReportPanel, _ b: ReportBar) -> Int? {
        let experiment = experimentLabel(p.experiment, p.dataset)
        return failures.firstIndex { $0.candidate == b.candidate && $0.experiment == experiment }.map { $0 + 1 }
    }

    static let css = """
    body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1100px;padding:0 16px;color:#1d2330}
    h1{margin:0 0 4px}h2{margin-top:36px;border-bottom:1px solid #d7dbe3;padding-bottom:4px}
    .sub,.cap{color:#566074}.cap{max-width:900px}nav{margin:10px 0 0;font-size:13px}a{color:#2257c5}
    table{border-collapse:collapse;margin:10px 0 18px;font-size:13px}th,td{border:1px solid #dfe3ea;padding:4px 8px;text-align:left;vertical-align:top}
    th{background:#f3f5f9}td.num{text-align:right;font-variant-numeric:tabular-nums}table.kv th{width:180px}
    .rule{color:#566074;font-size:12px}.badge{padding:1px 7px;border-radius:9px;font-size:12px;white-space:nowrap}
    .badge.ok{background:#d9f2de;color:#17692c}.badge.no{background:#fbe0dd;color:#9a2418}.badge.na{background:#eceef2;color:#566074}
    .badge.eq{background:#fdf3d7;color:#7a5b00}.badge.mix{background:#e8e0f7;color:#4b2d8a}
    .fail{color:#b3261e}.warn{color:#9a5b00}.na{color:#566074}caption{text-align:left;font-weight:600;padding:4px 0}
    .charts{display:flex;flex-wrap:wrap;gap:8px}figure{margin:0}svg text{font-family:system-ui,sans-serif}
    footer{margin:40px 0 10px;color:#7a8396;font-size:12px}
    """

    static func table(_ p: ReportPanel) -> String {
        var t = "<table><caption>\(esc(p.title))</caption><tr><th>candidate</th><th>n</th><th>median</th><th>p5</th><th>p95</th><th>min</th><th>max</th><th>failed</th></tr>"
        for b in p.bars {
            let name = b.label == b.candidate ? esc(b.candidate) : "\(esc(b.label)) <span class=\"rule\">(\(esc(b.candidate)))</span>"
            if let d = b.distribution {
                t += "<tr><td>\(name)</td><td class=\"num\">\(d.count)</td><td class=\"num\"><b>\(fmt(d.median))</b></td><td class=\"num\">\(fmt(d.p5))</td><td class=\"num\">\(fmt(d.p95))</td><td class=\"num\">\(fmt(d.min))</td><td class=\"num\">\(fmt(d.max))</td>"
            } else {
                t += "<tr><td>\(name)</td><td class=\"num\">0</td><td colspan=\"5\" class=\"fail\">failed: \(esc(b.failureReason ?? ""))</td>"
            }
            t += "<td class=\"num\(b.failed > 0 ? " fail" : "")\">\(b.failed)</td></tr>"
        }
        return t + "</table>\n"
    }

    /// A horizontal bar chart: one row per candidate, the bar to the median,
    /// a whisker from p5 to p95, the median written at the end of the row.
    /// Rows span a log axis when the values span more than 50x (vfs next to
    /// gradebox would otherwise flatten every other bar), said on the axis.
    /// A bar whose every trial failed shows the reason shortened at a word,
    /// the whole of it in a tooltip, and `footnote`'s number linking to its
    /// row in the Failures table.
    static func svg(_ p: ReportPanel, footnote: (ReportPanel, ReportBar) -> Int? = { _, _ in nil }) -> String {
        let labelW = 280.0, plotW = 380.0, valueW = 130.0, rowH = 24.0, top = 28.0, bottom = 30.0
        let width = labelW + plotW + valueW
        let height = top + Double(p.bars.count) * rowH + bottom
        let ds = p.bars.compactMap(\.distribution)
        let hi = max(ds.map { max($0.p95, $0.median) }.max() ?? 1, 1e-6)
        let lo = max(ds.map { min($0.p5, $0.median) }.min() ?? hi, 1e-6)
        let log = hi / lo > 50
        let logLo = floor(log10(lo)), logHi = ceil(log10(hi))
        func x(_ v: Double) -> Double {
            if log {
                let t = (log10(max(v, pow(10, logLo))) - logLo) / max(logHi - logLo, 1)
                return labelW + t * plotW
            }
            return labelW + v / hi * plotW
        }
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" aria-label=\"\(esc(p.title))\" data-experiment=\"\(esc(p.experiment))\">"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>"
        s += "<text x=\"4\" y=\"18\" font-size=\"13\" font-weight=\"600\" fill=\"#1d2330\">\(esc(p.title))</text>"
        // Grid lines and axis ticks.
        let ticks: [Double] = log ? stride(from: logLo, through: logHi, by: 1).map { pow(10, $0) } : niceTicks(hi)
        let axisY = top + Double(p.bars.count) * rowH
        for t in ticks {
            let tx = x(t)
            s += "<line x1=\"\(r(tx))\" y1=\"\(r(top - 4))\" x2=\"\(r(tx))\" y2=\"\(r(axisY))\" stroke=\"#e6e9ef\"/>"
            s += "<text x=\"\(r(tx))\" y=\"\(r(axisY + 14))\" font-size=\"10\" text-anchor=\"middle\" fill=\"#7a8396\">\(fmt(t))</text>"
        }
        s += "<text x=\"\(r(labelW + plotW))\" y=\"\(r(axisY + 27))\" font-size=\"10\" text-anchor=\"end\" fill=\"#7a8396\">ms\(log ? " (log scale)" : "")</text>"
        for (i, b) in p.bars.enumerated() {
            let y = top + Double(i) * rowH
            let mid = y + rowH / 2
            let label = shorten(b.label, to: 44)
            let baseline = ReportCandidate(b.candidate).isBaseline
            let whole = label == b.label ? "" : "<title>\(esc(b.label))</title>"
            s += "<text x=\"\(r(labelW - 6))\" y=\"\(r(mid + 4))\" font-size=\"11.5\" text-anchor=\"end\" fill=\"#1d2330\"\(baseline ? " font-weight=\"600\"" : "")>\(whole)\(esc(label))</text>"
            guard let d = b.distribution else {
                let reason = b.failureReason ?? "no reason recorded"
                let note = footnote(p, b)
                var text = "<text class=\"failed\" x=\"\(r(labelW + 4))\" y=\"\(r(mid + 4))\" font-size=\"11\" fill=\"#b3261e\">"
                text += "<title>\(esc(b.candidate)): \(b.failed) failed: \(esc(reason))</title>"
                text += "failed ×\(b.failed): \(esc(shorten(reason, to: 60)))\(note.map { " [\($0)]" } ?? "")</text>"
                s += note.map { "<a href=\"#failure-\($0)\">\(text)</a>" } ?? text
                continue
            }
            let color = ReportCandidate(b.candidate).manager == "gradebox" ? "#1f8a5b" : baseline ? "#c2410c" : "#3b6fd8"
            s += "<g class=\"bar\" data-candidate=\"\(esc(b.candidate))\" data-median=\"\(d.median)\">"
            s += "<title>\(esc(b.candidate)): median \(fmt(d.median)) ms, p5 \(fmt(d.p5)), p95 \(fmt(d.p95)), min \(fmt(d.min)), max \(fmt(d.max)), n=\(d.count)</title>"
            s += "<rect x=\"\(r(labelW))\" y=\"\(r(y + 5))\" width=\"\(r(max(x(d.median) - labelW, 1)))\" height=\"\(r(rowH - 10))\" fill=\"\(color)\" rx=\"2\"/>"
            let x5 = x(d.p5), x95 = x(d.p95)
            s += "<line x1=\"\(r(x5))\" y1=\"\(r(mid))\" x2=\"\(r(x95))\" y2=\"\(r(mid))\" stroke=\"#1d2330\" stroke-width=\"1.2\"/>"
            s += "<line x1=\"\(r(x5))\" y1=\"\(r(mid - 5))\" x2=\"\(r(x5))\" y2=\"\(r(mid + 5))\" stroke=\"#1d2330\" stroke-width=\"1.2\"/>"
            s += "<line x1=\"\(r(x95))\" y1=\"\(r(mid - 5))\" x2=\"\(r(x95))\" y2=\"\(r(mid + 5))\" stroke=\"#1d2330\" stroke-width=\"1.2\"/>"
            let failedNote = b.failed > 0 ? " (\(b.failed) failed)" : ""
            s += "<text class=\"value\" x=\"\(r(labelW + plotW + 8))\" y=\"\(r(mid + 4))\" font-size=\"11.5\" fill=\"\(b.failed > 0 ? "#b3261e" : "#1d2330")\">\(fmt(d.median)) ms\(failedNote)</text>"
            s += "</g>"
        }
        return s + "</svg>"
    }

    /// Round axis ticks: 0 and 4 to 6 steps of 1, 2 or 5 times a power of ten.
    static func niceTicks(_ hi: Double) -> [Double] {
        let raw = hi / 5
        let mag = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? raw
        return stride(from: 0, through: hi + step * 0.001, by: step).map { $0 }
    }
}

private func r(_ v: Double) -> String { String(format: "%.1f", v) }

/// `s` in at most `limit` characters, cut after a word (or after a "/" of a
/// candidate name) with "…" marking the cut; a single word longer than half
/// the room is cut where the room ends.
func shorten(_ s: String, to limit: Int) -> String {
    guard s.count > limit, limit > 1 else { return s }
    let head = s.prefix(limit - 1)
    let floor = head.index(head.startIndex, offsetBy: limit / 2)
    var cut: Substring
    if s[head.endIndex] == " " {
        cut = head  // the room ends between two words
    } else if let slash = head.lastIndex(of: "/"), slash >= floor, !head[..<slash].contains(" ") {
        return String(head[...slash]) + "…"
    } else if let space = head.lastIndex(of: " "), space >= floor {
        cut = head[..<space]
    } else {
        return String(head) + "…"
    }
    while let last = cut.last, ",;:(-–".contains(last) { cut = cut.dropLast() }
    return String(cut) + "…"
}

/// Escapes text for HTML and SVG (XML) alike.
func esc(_ s: String) -> String {
    var o = ""
    o.reserveCapacity(s.count)
    for c in s {
        switch c {
        case "&": o += "&amp;"
        case "<": o += "&lt;"
        case ">": o += "&gt;"
        case "\"": o += "&quot;"
        case "'": o += "&#39;"
        default: o.append(c)
        }
    }
    return o
}
