import Foundation

/// The thesis's figure set (chapter 5), as selections over the records.
enum FigurePlan {
    static func figures(_ ix: RecordIndex) -> [ReportFigure] {
        let all = ix.candidates
        let dockerRunc = all.filter { $0.manager == "docker" && $0.runtime == "runc" && !$0.rootless }
        let (storageImage, storageSet) = storageComparison(dockerRunc)
        let runtimeSet = all.filter { $0.manager == "docker" && !$0.rootless && $0.image == "minimal" && $0.storage == "overlay2" }
        let managerSet = bestPerFamily(ix, all.filter { $0.manager != "gradebox" && $0.manager != "oci" && $0.manager != "bwrap" && $0.image == "minimal" })
        let versus = versusSet(ix)

        var figures: [ReportFigure] = []
        figures.append(ReportFigure(
            id: "5.1", title: "Storage drivers",
            caption: "Docker with runc and the \(storageImage == "full" ? "full image (the thesis's CentOS)" : "minimal image (the thesis's Alpine)"), one bar per storage driver: the image with the most drivers measured, so every bar differs from the others in its storage driver only. The thesis: vfs pays a full copy at every creation; overlay, aufs and btrfs create alike; block-based copy-on-write (btrfs) writes big files faster.",
            panels: [
                panel(ix, storageSet, "hello", .phase("create"), label: \.storage),
                ioPanels(ix, storageSet, "files-read", .phase("exec"), label: \.storage),
                ioPanels(ix, storageSet, "db-write", .phase("exec"), label: \.storage),
            ].flatMap { $0 }))
        figures.append(ReportFigure(
            id: "5.2", title: "Base images",
            caption: "Docker with runc, each storage driver with the minimal (Alpine's stand-in) and the full (CentOS's stand-in) image. The thesis: more files make creation costlier on btrfs; reads are a little faster on the minimal image; tar extraction is faster on the full one.",
            panels: [
                panel(ix, dockerRunc, "hello", .phase("create"), label: { "\($0.storage) · \($0.image)" }),
                ioPanels(ix, dockerRunc, "files-read", .phase("exec"), label: { "\($0.storage) · \($0.image)" }),
                ioPanels(ix, dockerRunc, "files-write", .phase("exec"), label: { "\($0.storage) · \($0.image)" }),
            ].flatMap { $0 }))
        figures.append(ReportFigure(
            id: "5.3", title: "Container runtimes",
            caption: "Docker, overlay2, minimal image, one bar per runtime (Kata cannot run on this host). The thesis: crun beats runc, most at start and exec.",
            panels: ["create", "start", "exec"].flatMap { panel(ix, runtimeSet, "hello", .phase($0), label: \.runtime) }))
        figures.append(ReportFigure(
            id: "5.4", title: "Container managers",
            caption: "Each manager in its fastest measured configuration (minimal image; lowest median t_create + t_start on hello). The thesis: Docker is still the best; rootless Podman creates more slowly and its fuse-overlayfs costs I/O, writes most.",
            panels: (["create", "start", "exec"].flatMap { panel(ix, managerSet, "hello", .phase($0), label: \.name) })
                + ioPanels(ix, managerSet, "files-write", .phase("exec"), label: \.name)))
        figures.append(ReportFigure(
            id: "5.5", title: "gradebox against existing solutions: hello world",
            caption: "gradebox (cold and warm pool), the runtimes driven directly, bwrap, INGInious's configuration and each manager's fastest configuration. Boxes that only run one-shot (bwrap) appear under the run experiment.",
            panels: panel(ix, versus, "hello", .ready, label: \.name) + panel(ix, versus, "hello", .phase("exec"), label: \.name)
                + panel(ix, versus, "run", .total, label: \.name)))
        figures.append(ReportFigure(
            id: "5.6", title: "gradebox against existing solutions: I/O",
            caption: "Read every file of a set, and extract the set's tar, inside the container: create + start + exec. Charts show the largest set measured; the tables list every set.",
            panels: ioPanels(ix, versus, "files-read", .total, label: \.name, allSizes: true)
                + ioPanels(ix, versus, "files-write", .total, label: \.name, allSizes: true)))
        figures.append(ReportFigure(
            id: "5.7", title: "gradebox against existing solutions: database",
            caption: "Select every row of every TPC-C table, and duplicate every table, with sqlite3 inside the container: create + start + exec. Charts show the largest database measured; the tables list every size.",
            panels: ioPanels(ix, versus, "db-read", .total, label: \.name, allSizes: true)
                + ioPanels(ix, versus, "db-write", .total, label: \.name, allSizes: true)))
        figures.append(ReportFigure(
            id: "N", title: "Network set-up and ping",
            caption: "No figure in the thesis (section 4.2.2 describes the tests). Network: lighttpd started detached with a mapped port, until the host gets its first HTTP 200 (create + start + exec + response). Ping: round-trip time from the container to a peer in a network namespace on this host.",
            panels: panel(ix, all, "network", .total, label: \.name) + panel(ix, all, "network", .phase("response"), label: \.name)
                + panel(ix, all, "ping", .phase("rtt"), label: \.name)))
        return figures.map { f in
            var f = f
            f.panels.removeAll { $0.bars.isEmpty }
            return f
        }
    }

    static func panel(
        _ ix: RecordIndex, _ set: [ReportCandidate], _ experiment: String, _ metric: ReportMetric,
        dataset: String? = nil, label: (ReportCandidate) -> String, chart: Bool = true
    ) -> [ReportPanel] {
        let bars = set.compactMap { ix.bar($0.name, experiment, dataset, metric, label: label($0)) }
        let title = "\(experimentLabel(experiment, dataset)): \(metric.label)"
        return [ReportPanel(title: title, experiment: experiment, dataset: dataset, metric: metric, bars: sortBars(bars), chart: chart)]
    }

    /// One panel per dataset measured: the largest is charted, the others
    /// only tabled unless `allSizes` asks for their tables too.
    static func ioPanels(
        _ ix: RecordIndex, _ set: [ReportCandidate], _ experiment: String, _ metric: ReportMetric,
        label: (ReportCandidate) -> String, allSizes: Bool = false
    ) -> [ReportPanel] {
        let sizes = ix.datasets(experiment, among: set)
        guard let largest = sizes.last else { return [] }
        let shown = allSizes ? sizes.reversed() : [largest]
        return shown.flatMap { panel(ix, set, experiment, metric, dataset: $0, label: label, chart: $0 == largest) }
    }

    /// Fastest first; candidates with no successful trial last.
    static func sortBars(_ bars: [ReportBar]) -> [ReportBar] {
        bars.sorted { a, b in
            switch (a.distribution, b.distribution) {
            case let (x?, y?): return (x.median, a.label) < (y.median, b.label)
            case (.some, nil): return true
            case (nil, .some): return false
            default: return a.label < b.label
            }
        }
    }

    /// Figure 5.1's bars: the candidates of one image (the one with the most
    /// storage drivers measured; the thesis's full image when two have as many),
    /// so that the bars differ in their storage driver and nothing else.
    static func storageComparison(_ set: [ReportCandidate]) -> (image: String, candidates: [ReportCandidate]) {
        let byImage = Dictionary(grouping: set, by: \.image)
        let image = byImage.keys.max { a, b in
            (byImage[a]!.count, a == "full" ? 1 : 0) < (byImage[b]!.count, b == "full" ? 1 : 0)
        } ?? "full"
        return (image, byImage[image] ?? [])
    }

    /// Per family (docker, podman, podman rootless, lxc, containerd), the
    /// candidate with the lowest median t_create + t_start on hello; without
    /// hello trials, over every experiment's create + start.
    static func bestPerFamily(_ ix: RecordIndex, _ set: [ReportCandidate]) -> [ReportCandidate] {
        let families = Dictionary(grouping: set, by: \.family)
        return families.keys.sorted().compactMap { fam in
            families[fam]!.compactMap { c in (ix.median(c.name, "hello", nil, .ready) ?? ix.readyAnywhere(c.name)).map { (c, $0.median) } }
                .min { $0.1 < $1.1 }?.0
        }
    }

    /// gradebox, the direct runtimes, bwrap, the baseline and every manager's fastest.
    static func versusSet(_ ix: RecordIndex) -> [ReportCandidate] {
        let all = ix.candidates
        var set = all.filter { ["gradebox", "oci", "bwrap"].contains($0.manager) || $0.isBaseline }
        set += bestPerFamily(ix, all.filter { !["gradebox", "oci", "bwrap"].contains($0.manager) && $0.image == "minimal" })
        var seen = Set<String>()
        return set.filter { seen.insert($0.name).inserted }
    }

    // MARK: best configuration per criterion

    static func best(_ ix: RecordIndex) -> [ReportBest] {
        [
            bestOf(ix, criterion: "Ready-to-run container", rule: "lowest median t_create + t_start on hello",
                   cells: [("hello", nil, .ready)]),
            bestOf(ix, criterion: "Read", rule: "lowest median create + start + exec on db-read and files-read, each on its largest dataset with \(Verdict.minimumRuns) runs of two candidates or more (else its largest)",
                   cells: ioCells(ix, ["db-read", "files-read"])),
            bestOf(ix, criterion: "Write", rule: "lowest median create + start + exec on db-write and files-write, each on its largest dataset with \(Verdict.minimumRuns) runs of two candidates or more (else its largest)",
                   cells: ioCells(ix, ["db-write", "files-write"])),
            bestOf(ix, criterion: "Network set-up", rule: "lowest median create + start + exec + response on network",
                   cells: [("network", nil, .total)]),
            bestOf(ix, criterion: "Network latency", rule: "lowest median ping round-trip time",
                   cells: [("ping", nil, .phase("rtt"))]),
        ]
    }

    /// Each experiment's largest dataset on which two candidates or more have
    /// enough runs to be told apart: a budgeted suite runs its biggest datasets
    /// once, where every candidate would tie.
    static func ioCells(_ ix: RecordIndex, _ experiments: [String]) -> [(String, String?, ReportMetric)] {
        experiments.compactMap { e in
            let sizes = ix.datasets(e)
            let decidable = sizes.last { size in
                ix.candidates.filter { (ix.median($0.name, e, size, .total)?.count ?? 0) >= Verdict.minimumRuns }.count >= 2
            }
            return (decidable ?? sizes.last).map { (e, $0, .total) }
        }
    }

    /// The winner of each cell; over several cells, the candidate measured in
    /// all of them with the lowest mean ratio to each cell's fastest. A
    /// candidate the winner is not ahead of beyond the noise (`ahead`) ties
    /// with it, and the row says so instead of naming one best.
    static func bestOf(_ ix: RecordIndex, criterion: String, rule: String, cells: [(String, String?, ReportMetric)]) -> ReportBest {
        var perCell: [(cell: String, ranking: [(String, SampleStats)])] = []
        for (experiment, dataset, metric) in cells {
            let ranking = ix.candidates.compactMap { c in ix.median(c.name, experiment, dataset, metric).map { (c.name, $0) } }
                .sorted { ($0.1.median, $0.0) < ($1.1.median, $1.0) }
            if !ranking.isEmpty { perCell.append((experimentLabel(experiment, dataset), ranking)) }
        }
        let fullRule = rule + "; a tie when the winner is not ahead beyond the noise (p5–p95 ranges apart, at least \(Verdict.minimumRuns) runs a side) in any cell"
        guard !perCell.isEmpty else {
            return ReportBest(criterion: criterion, rule: fullRule, candidate: nil, detail: "not measured on this host")
        }
        let everywhere = perCell.map { Set($0.ranking.map(\.0)) }.reduce(Set(ix.candidates.map(\.name))) { $0.intersection($1) }
        func stats(_ name: String) -> [SampleStats] { perCell.map { cell in cell.ranking.first { $0.0 == name }!.1 } }
        let scored = everywhere.map { name -> (String, Double) in
            let ratios = zip(perCell, stats(name)).map { cell, s in s.median / max(cell.ranking[0].1.median, 1e-9) }
            return (name, ratios.reduce(0, +) / Double(ratios.count))
        }.sorted { ($0.1, $0.0) < ($1.1, $1.0) }
        let winner = scored.first?.0 ?? perCell[0].ranking[0].0
        // Only when `scored` is not empty, so the winner is its first, measured everywhere.
        let tied = scored.dropFirst().map(\.0).filter { !ahead(stats(winner), of: stats($0)) }
        var details = perCell.map { cell -> String in
            guard let mine = cell.ranking.first(where: { $0.0 == winner })?.1 else { return "\(cell.cell): not measured" }
            var text = "\(cell.cell) \(describe(mine)), n = \(mine.count)"
            if tied.isEmpty, let next = cell.ranking.first(where: { $0.0 != winner }) {
                text += ", next \(next.0) \(describe(next.1))"
            }
            if let base = cell.ranking.first(where: { ReportCandidate($0.0).isBaseline }), base.0 != winner {
                text += ", \(ratio(base.1.median, mine.median)) faster than INGInious's \(base.0)"
            }
            return text
        }
        if !tied.isEmpty {
            let shown = tied.prefix(3).map { name in
                "\(name) " + zip(perCell, stats(name)).map { cell, s in (perCell.count > 1 ? cell.cell + " " : "") + describe(s) + ", n = \(s.count)" }
                    .joined(separator: ", ")
            }
            let more = tied.count > 3 ? " and \(tied.count - 3) more" : ""
            details.append("tied within the noise: " + shown.joined(separator: "; ") + more)
        }
        return ReportBest(criterion: criterion, rule: fullRule, candidate: winner, tied: tied, detail: details.joined(separator: "; "))
    }

    /// Whether `w` is ahead of `x`: lower beyond the noise in at least one cell
    /// and higher beyond it in none. Cells pair up by index.
    static func ahead(_ w: [SampleStats], of x: [SampleStats]) -> Bool {
        let verdicts = zip(w, x).map { a, b in Relation.faster.verdict(RatioRange(a, b), runs: min(a.count, b.count)) }
        return verdicts.contains(.confirmed) && !verdicts.contains(.refuted)
    }
}

/// Milliseconds as the report prints them: 3 significant digits, no exponent.
func fmt(_ v: Double) -> String {
    let a = abs(v)
    if a == 0 { return "0" }
    if a >= 100 { return String(format: "%.0f", v) }
    if a >= 10 { return String(format: "%.1f", v) }
    if a >= 1 { return String(format: "%.2f", v) }
    return String(format: "%.3f", v)
}

/// "2.4x" for how many times `slow` is `fast`.
func ratio(_ slow: Double, _ fast: Double) -> String {
    guard fast > 0 else { return "∞x" }
    let x = slow / fast
    return String(format: x >= 100 ? "%.0fx" : "%.1fx", x)
}
