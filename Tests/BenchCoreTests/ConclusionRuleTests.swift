import Foundation
import Testing

@testable import BenchCore

/// The rules the report's conclusions and best configurations follow
/// (issue 15, points 5, 6 and 8), each on synthetic records.
@Suite("Conclusion rules")
struct ConclusionRuleTests {
    typealias F = ReportFixtures

    func conclusion(_ records: [TrialRecord], _ prefix: String) throws -> ReportConclusion {
        try #require(Report(records: records).conclusions.first { $0.claim.hasPrefix(prefix) })
    }

    // MARK: like with like

    @Test("a pair differs in the dimension compared and in nothing else")
    func pairing() {
        func only(_ a: String, _ b: String) -> [CandidateDimension] {
            CandidateDimension.allCases.filter { ReportCandidate(a).differsOnly(in: $0, from: ReportCandidate(b)) }
        }
        #expect(only("docker/runc/vfs/minimal", "docker/runc/overlay2/minimal") == [.storage])
        #expect(only("docker/runc/vfs/minimal", "docker/runc/overlay2/full") == [], "storage and image at once")
        #expect(only("docker/crun/overlay2/minimal", "docker/runc/overlay2/minimal") == [.runtime])
        #expect(only("crun", "runc") == [.runtime])
        #expect(only("gradebox/full", "gradebox") == [.image])
        #expect(only("gradebox/full", "gradebox-pool") == [], "another variant of the tool")
        #expect(only("podman/crun/overlay/minimal/rootless", "podman/crun/overlay/minimal") == [.rootless])
        #expect(only("docker/runc/overlay2/minimal", "docker/runc/overlay2/minimal") == [], "a candidate is no pair with itself")
    }

    @Test("figure 5.1's conclusions never compare across images: no pair, not measured")
    func storageAcrossImages() throws {
        // The old quick suite: vfs on the minimal image, overlay2 only on the full one.
        let records = F.hello("docker/runc/vfs/minimal", 400, 300, 80) + F.hello("docker/runc/overlay2/full", 45, 350, 84)
            + F.hello("docker/runc/btrfs/minimal", 39, 380, 79)
        let vfs = try conclusion(records, "vfs makes")
        #expect(vfs.status == .notMeasured)
        #expect(vfs.evidence.contains("no two candidates in these records differ only in storage"))
        #expect(try conclusion(records, "overlay2 and btrfs").status == .notMeasured)
        #expect(try conclusion(records, "block-based").status == .notMeasured)
    }

    @Test("figure 5.1's conclusions compare the storage drivers on the same image only")
    func storageSameImage() throws {
        let records = F.hello("docker/runc/vfs/minimal", 400, 300, 80) + F.hello("docker/runc/overlay2/minimal", 36, 300, 80)
            + F.hello("docker/runc/overlay2/full", 45, 350, 84)
        let vfs = try conclusion(records, "vfs makes")
        #expect(vfs.status == .confirmed)
        #expect(vfs.evidence.contains("docker/runc/vfs/minimal") && vfs.evidence.contains("docker/runc/overlay2/minimal"))
        #expect(!vfs.evidence.contains("overlay2/full"))
        #expect(vfs.rule.contains("pairs differ only in storage"))
        // Its figure has the three drivers of one image, not one bar.
        let records51 = records + F.hello("docker/runc/btrfs/minimal", 39, 380, 79)
        let f51 = try #require(Report(records: records51).figures.first { $0.id == "5.1" })
        #expect(Set(f51.panels[0].bars.map(\.candidate)) == ["docker/runc/vfs/minimal", "docker/runc/overlay2/minimal", "docker/runc/btrfs/minimal"])
        #expect(f51.caption.contains("minimal image"))
    }

    @Test("each claim has its pairs: image with image, runtime with runtime, rootless with rootful")
    func otherDimensions() throws {
        var r = F.hello("docker/runc/overlay2/minimal", 36, 300, 80) + F.hello("docker/crun/overlay2/full", 36, 280, 40)
        // Runtime and image differ at once: no crun-against-runc pair.
        #expect(try conclusion(r, "crun is faster").status == .notMeasured)
        r += F.hello("docker/crun/overlay2/minimal", 36, 250, 40)
        let crun = try conclusion(r, "crun is faster")
        #expect(crun.status == .confirmed && !crun.evidence.contains("full"))
        // Rootless Docker is no pair for rootless Podman's claim.
        let rootless = F.hello("docker/runc/overlay2/minimal/rootless", 90, 300, 80) + F.hello("podman/crun/overlay/minimal", 40, 100, 90)
        #expect(try conclusion(rootless, "rootless Podman creates").status == .notMeasured)
    }

    @Test("the quick suite's candidates give every figure and every pairwise claim its pairs")
    func quickSuiteHasThePairs() throws {
        var r: [TrialRecord] = []
        for (i, name) in BenchSuite.quickCandidateNames.enumerated() {
            let k = 1 + Double(i) / 10
            if !["bwrap", "gradebox-pool", "gradebox-cli", "gradebox-cli-pool"].contains(name) { r += F.hello(name, 40 * k, 200 * k, 50 * k, runs: 5) }
            r += F.trials(name, "run", ["run": 100 * k], runs: 5)
            for e in ["files-read:1000", "files-write:1000", "db-read:2.6MB", "db-write:2.6MB"] {
                let parts = e.split(separator: ":").map(String.init)
                r += F.io(name, parts[0], parts[1], exec: 300 * k, runs: 5)
            }
        }
        let report = Report(records: r)
        for id in ["5.1", "5.2", "5.3", "5.4", "5.5", "5.6", "5.7"] {
            let f = try #require(report.figures.first { $0.id == id })
            #expect(f.panels.contains(where: \.chart) && f.panels.filter(\.chart).allSatisfy { $0.bars.count >= 2 }, "figure \(id) has no chart or a chart with one bar")
        }
        let unpaired = report.conclusions.filter { $0.status == .notMeasured }.map(\.claim)
        // The quick suite has no aufs, no Kata (not on Debian 12) and no btrfs with the full image (its 180 MB import on the loop).
        #expect(unpaired.count == 3, "\(unpaired)")
        #expect(unpaired.allSatisfy { $0.contains("aufs") || $0.contains("Kata") || $0.hasPrefix("on btrfs") })
    }

    // MARK: beyond the noise

    @Test("a ratio decides only outside both ranges", arguments: [
        (Relation.slower(atLeast: 2), RatioRange(median: 5, low: 3, high: 7), Verdict.confirmed),
        (.slower(atLeast: 2), RatioRange(median: 2.2, low: 1.8, high: 2.6), .indistinct),
        (.slower(atLeast: 2), RatioRange(median: 1.4, low: 1.2, high: 1.7), .refuted),
        (.faster, RatioRange(median: 0.8, low: 0.7, high: 0.95), .confirmed),
        (.faster, RatioRange(median: 0.95, low: 0.8, high: 1.1), .indistinct),
        (.faster, RatioRange(median: 1.3, low: 1.1, high: 1.5), .refuted),
        (.similar(within: 1.5), RatioRange(median: 1.1, low: 0.9, high: 1.3), .confirmed),
        (.similar(within: 1.5), RatioRange(median: 1.4, low: 1.2, high: 1.7), .indistinct),
        (.similar(within: 1.5), RatioRange(median: 3, low: 2, high: 4), .refuted),
    ])
    func relations(_ relation: Relation, _ range: RatioRange, _ expected: Verdict) {
        #expect(relation.verdict(range) == expected)
    }

    @Test("n = 3 with overlapping spreads decides nothing, and says so with the numbers")
    func overlappingSpreads() throws {
        // The case: crun 223 against runc 210 ms, spreads overlapping.
        let r = F.hello("docker/crun/overlay2/minimal", 40, 223, 80, runs: 3, spread: 0.15)
            + F.hello("docker/runc/overlay2/minimal", 40, 210, 80, runs: 3, spread: 0.15)
        let c = try conclusion(r, "crun is faster")
        #expect(c.status == .indistinct)
        #expect(c.label == "not distinguishable with n = 3")
        #expect(c.evidence.contains("223 ms") && c.evidence.contains("210 ms") && c.evidence.contains("p5–p95"))
        #expect(Report(records: r).html().contains("class=\"badge eq\">not distinguishable with n = 3"))
        #expect(Report(records: r).markdown().contains("not distinguishable with n = 3"))
    }

    @Test("the same medians with tight spreads are told apart: crun slower, refuted")
    func tightSpreads() throws {
        let r = F.hello("docker/crun/overlay2/minimal", 40, 223, 80, runs: 5, spread: 0.02)
            + F.hello("docker/runc/overlay2/minimal", 40, 210, 80, runs: 5, spread: 0.02)
        #expect(try conclusion(r, "crun is faster").status == .refuted)
    }

    @Test("two runs a side are too few, however far apart")
    func tooFewRuns() throws {
        let r = F.hello("docker/runc/vfs/minimal", 4000, 300, 80, runs: 2) + F.hello("docker/runc/overlay2/minimal", 36, 300, 80, runs: 2)
        let c = try conclusion(r, "vfs makes")
        #expect(c.status == .indistinct && c.label == "not distinguishable with n = 2")
        #expect(c.evidence.contains("needs 3 runs a side"))
    }

    @Test("pairs that disagree beyond their noise make a mixed finding")
    func mixed() throws {
        let r = F.hello("docker/crun/overlay2/minimal", 40, 200, 40) + F.hello("docker/runc/overlay2/minimal", 40, 300, 80)
            + F.hello("crun", 20, 9, 20) + F.hello("runc", 40, 7, 9)
        let c = try conclusion(r, "crun is faster")
        #expect(c.status == .mixed)
        #expect(c.evidence.contains("driven directly") && c.evidence.contains("docker"))
    }

    @Test("a claim of the fastest is undecided while one rival is within the noise")
    func fastestWithinNoise() throws {
        let r = F.hello("gradebox", 5, 3, 1, runs: 5, spread: 0.3) + F.hello("crun", 5.5, 3, 2, runs: 5, spread: 0.3)
            + F.hello("docker/runc/overlay2/minimal", 40, 300, 80, runs: 5)
        let c = try conclusion(r, "a manager tailor-made")
        #expect(c.status == .indistinct)
        #expect(c.evidence.hasPrefix("hello t_create + t_start: gradebox 8.00 ms"), "the closest rival first")
    }

    @Test("an I/O claim compares on the largest dataset with enough runs on both sides")
    func datasetWithRuns() throws {
        // 10 000 files once each (a budgeted default suite), 1 000 files five times.
        let r = F.io("docker/runc/overlay2/minimal", "files-read", "10000", exec: 800, runs: 1)
            + F.io("docker/runc/overlay2/full", "files-read", "10000", exec: 900, runs: 1)
            + F.io("docker/runc/overlay2/minimal", "files-read", "1000", exec: 80, runs: 5, spread: 0.02)
            + F.io("docker/runc/overlay2/full", "files-read", "1000", exec: 95, runs: 5, spread: 0.02)
        let c = try conclusion(r, "reads are a little faster")
        #expect(c.status == .confirmed && c.evidence.hasPrefix("files-read:1000 t_exec"))
    }

    // MARK: ties

    @Test("best per criterion: a winner within the noise of the next is a tie")
    func tie() throws {
        // The case: gradebox/full 8.05 ms "ahead of" gradebox 8.93 ms, n = 3, overlapping.
        let r = F.hello("gradebox/full", 4.05, 4, 1, runs: 3, spread: 0.2) + F.hello("gradebox", 4.93, 4, 1, runs: 3, spread: 0.2)
            + F.hello("docker/runc/overlay2/minimal", 40, 300, 80, runs: 3)
        let report = Report(records: r)
        let ready = try #require(report.best.first { $0.criterion == "Ready-to-run container" })
        #expect(ready.candidate == "gradebox/full" && ready.tied == ["gradebox"])
        #expect(ready.winners == ["gradebox/full", "gradebox"])
        #expect(ready.detail.hasPrefix("hello 8.05 ms") && ready.detail.contains("; tied within the noise: gradebox 8.93 ms"))
        #expect(!ready.detail.contains("next"))
        #expect(report.html().contains("<b>gradebox/full</b> = <b>gradebox</b> <span class=\"badge eq\">tie</span>"))
        #expect(report.markdown().contains("| **gradebox/full** = **gradebox** (tie) |"))
    }

    @Test("best per criterion: a winner beyond the noise stands alone, with the next one's numbers")
    func noTie() throws {
        let r = F.hello("gradebox/full", 4.05, 4, 1, runs: 5, spread: 0.02) + F.hello("gradebox", 4.93, 4, 1, runs: 5, spread: 0.02)
        let ready = try #require(Report(records: r).best.first { $0.criterion == "Ready-to-run container" })
        #expect(ready.candidate == "gradebox/full" && ready.tied.isEmpty)
        #expect(ready.detail.contains("next gradebox 8.93 ms"))
    }

    @Test("the read and write criteria use the largest dataset that can tell candidates apart")
    func decidableDataset() throws {
        let r = F.io("gradebox", "files-read", "10000", exec: 700, create: 0.6, start: 0.5, runs: 1)
            + F.io("crun", "files-read", "10000", exec: 650, create: 9, start: 4, runs: 1)
            + F.io("gradebox", "files-read", "1000", exec: 70, create: 0.6, start: 0.5, runs: 5, spread: 0.02)
            + F.io("crun", "files-read", "1000", exec: 90, create: 9, start: 4, runs: 5, spread: 0.02)
        let read = try #require(Report(records: r).best.first { $0.criterion == "Read" })
        #expect(read.candidate == "gradebox" && read.tied.isEmpty && read.detail.hasPrefix("files-read:1000"))
    }

    @Test("over several cells, a trade-off (each ahead somewhere) is a tie too")
    func tradeOff() {
        func s(_ v: Double) -> SampleStats { SampleStats([v * 0.99, v, v * 1.01])! }
        #expect(FigurePlan.ahead([s(10), s(10)], of: [s(20), s(10)]))
        #expect(!FigurePlan.ahead([s(10), s(30)], of: [s(20), s(10)]))
        #expect(!FigurePlan.ahead([s(10)], of: [s(10.05)]))
    }

    // MARK: failure reasons

    @Test("a failed bar's reason is cut at a word, and whole in its tooltip and in the Failures row it links to")
    func failureReason() throws {
        let reason = "dockerd (vfs) did not start: timeout after 30 s waiting for /run/gradebox-bench/docker-vfs.sock to answer /_ping; see its log"
        let r = F.hello("docker/runc/overlay2/minimal", 36, 300, 80) + F.failures("docker/runc/vfs/minimal", "hello", reason: reason)
        let report = Report(records: r)
        let html = report.html()
        let note = try #require(report.failures.firstIndex { $0.candidate == "docker/runc/vfs/minimal" }) + 1
        // The label: whole words, then "…" and the note.
        let short = shorten(reason, to: 60)
        #expect(short.hasSuffix("…") && reason.hasPrefix(String(short.dropLast())))
        #expect(reason.dropFirst(short.count - 1).hasPrefix(" "), "cut before a space, not mid-word")
        #expect(html.contains("failed ×3: \(esc(short)) [\(note)]</text></a>"))
        #expect(html.contains("<a href=\"#failure-\(note)\">"))
        #expect(html.contains("<title>docker/runc/vfs/minimal: 3 failed: \(esc(reason))</title>"))
        #expect(html.contains("<tr id=\"failure-\(note)\"><td>[\(note)] docker/runc/vfs/minimal</td><td>hello</td><td>3</td><td class=\"fail\">\(esc(reason))</td>"))
    }

    @Test("labels are shortened at words or at a name's slashes", arguments: [
        ("short enough", 20, "short enough"),
        ("sqlite3: disk I/O error while writing the database file", 30, "sqlite3: disk I/O error while…"),
        ("podman/crun/fuse-overlayfs/minimal/rootless/extra", 40, "podman/crun/fuse-overlayfs/minimal/…"),
        ("averyveryverylongwordwithoutanybreakatall", 20, "averyveryverylongwo…"),
    ])
    func shortening(_ text: String, _ limit: Int, _ expected: String) {
        #expect(shorten(text, to: limit) == expected)
        #expect(shorten(text, to: limit).count <= limit)
    }
}
