import Foundation
import Testing

@testable import BenchCore

@Suite("Results file")
struct ResultsFileTests {
    @Test("a results file round-trips and warm-up lines are kept apart")
    func roundTrip() throws {
        var records = ReportFixtures.hello("crun", 8, 4, 2)
        records[0].warmup = true
        let parsed = try ResultsFile.parse(try ReportFixtures.jsonl(records), file: "r.jsonl")
        #expect(parsed == records)
        #expect(Report(records: parsed).warmups == 1)
    }

    @Test("a record cut short on the last line is reported as truncated, with file and line")
    func truncated() throws {
        let text = try ReportFixtures.jsonl(ReportFixtures.hello("crun", 8, 4, 2))
        let cut = String(text.dropLast(40))
        #expect(throws: ReportError.truncated(file: "r.jsonl", line: 11)) { try ResultsFile.parse(cut, file: "r.jsonl") }
    }

    @Test("a record of another format version names it")
    func otherVersion() throws {
        let text = try ReportFixtures.jsonl(ReportFixtures.hello("crun", 8, 4, 2))
            .replacingOccurrences(of: "gradebox.bench/1", with: "gradebox.bench/0")
        #expect(throws: ReportError.otherVersion(file: "r.jsonl", line: 1, found: "gradebox.bench/0", expected: "gradebox.bench/1")) {
            try ResultsFile.parse(text, file: "r.jsonl")
        }
    }

    @Test("files that are not ours are refused at the first line that shows it")
    func notOurs() throws {
        #expect { try ResultsFile.parse("candidate,experiment\ncrun,hello\n", file: "x.csv") } throws: {
            guard case ReportError.notOurs(let file, let line, _) = $0 else { return false }
            return file == "x.csv" && line == 1
        }
        #expect { try ResultsFile.parse("{\"name\": \"hyperfine\"}\n", file: "h.json") } throws: {
            "\($0)".contains("h.json:1") && "\($0)".contains("schema")
        }
        let good = try ReportFixtures.jsonl(ReportFixtures.hello("crun", 8, 4, 2))
        let missing = good + "{\"schema\": \"gradebox.bench/1\", \"candidate\": \"crun\"}\n"
        #expect { try ResultsFile.parse(missing, file: "r.jsonl") } throws: {
            guard case ReportError.notOurs(_, let line, let reason) = $0 else { return false }
            return line == 12 && reason.contains("missing field")
        }
        #expect(throws: ReportError.empty(file: "e.jsonl")) { try ResultsFile.parse("\n", file: "e.jsonl") }
    }

    @Test("reading a missing file names it")
    func missingFile() {
        #expect { try ResultsFile.read(path: "/nonexistent/r.jsonl") } throws: { "\($0)".hasPrefix("/nonexistent/r.jsonl") }
    }
}

@Suite("Report")
struct ReportTests {
    @Test("the statistics the report uses (SampleStats) interpolate between closest ranks")
    func percentiles() throws {
        let d = try #require(SampleStats((1...100).map(Double.init).reversed()))
        #expect(d.median == 50.5)
        #expect(abs(d.p5 - 5.95) < 1e-9 && abs(d.p95 - 95.05) < 1e-9)
        #expect(d.min == 1 && d.max == 100 && d.count == 100)
        #expect(SampleStats([]) == nil)
    }

    @Test("candidate names split into the thesis's dimensions")
    func candidateNames() {
        let p = ReportCandidate("podman/crun/overlay/full/rootless")
        #expect(p.manager == "podman" && p.runtime == "crun" && p.storage == "overlay" && p.image == "full" && p.rootless)
        #expect(ReportCandidate("crun").manager == "oci")
        #expect(ReportCandidate("gradebox-pool").manager == "gradebox")
        #expect(ReportCandidate("docker/runc/overlay2/minimal").isBaseline)
    }

    @Test("figures select the thesis's candidate sets")
    func figures() throws {
        let report = Report(records: ReportFixtures.thesisLike)
        let f51 = try #require(report.figures.first { $0.id == "5.1" })
        let create = try #require(f51.panels.first { $0.experiment == "hello" })
        // Docker + runc + full image only, fastest first.
        #expect(create.bars.map(\.label) == ["overlay2", "btrfs", "vfs"])
        #expect(create.bars[0].distribution?.median == 42)
        let f53 = try #require(report.figures.first { $0.id == "5.3" })
        #expect(f53.panels.count == 3 && f53.panels.allSatisfy { Set($0.bars.map(\.label)) == ["runc", "crun"] })
        // 5.4: each family at its fastest; docker's fastest is crun+overlay2 (the failed vfs one has no median).
        let f54 = try #require(report.figures.first { $0.id == "5.4" })
        #expect(Set(f54.panels[0].bars.map(\.candidate)) == [
            "docker/crun/overlay2/minimal", "lxc/lxc/dir/minimal", "podman/crun/overlay/minimal", "podman/crun/overlay/minimal/rootless",
        ])
        // 5.6: the largest set is charted, every set is tabled.
        let f56 = try #require(report.figures.first { $0.id == "5.6" })
        #expect(f56.panels.filter(\.chart).map { $0.dataset } == ["10000", "10000"])
        #expect(f56.panels.count == 4)
        // One-shot bwrap shows under run.
        let f55 = try #require(report.figures.first { $0.id == "5.5" })
        #expect(f55.panels.contains { $0.experiment == "run" && $0.bars.map(\.candidate) == ["bwrap"] })
    }

    @Test("the thesis's conclusions are marked from the numbers")
    func conclusions() throws {
        let report = Report(records: ReportFixtures.thesisLike)
        func status(_ prefix: String) -> ReportConclusion.Status? { report.conclusions.first { $0.claim.hasPrefix(prefix) }?.status }
        #expect(status("vfs makes") == .confirmed)
        #expect(status("overlay2 and btrfs") == .confirmed)
        #expect(status("overlay2 reads many small files faster than aufs") == .notMeasured)
        #expect(status("block-based") == .confirmed)
        #expect(status("on btrfs") == .confirmed)
        // 850 against 900 ms with spreads of ±10 % each: within the noise.
        let reads = try #require(report.conclusions.first { $0.claim.hasPrefix("reads are a little faster") })
        #expect(reads.status == .indistinct && reads.label == "not distinguishable with n = 11")
        #expect(reads.evidence.contains("docker/runc/overlay2/minimal 850 ms") && reads.evidence.contains("docker/runc/overlay2/full 900 ms"))
        #expect(status("tar extraction") == .confirmed)
        #expect(status("crun is faster") == .confirmed)
        #expect(status("Kata") == .notMeasured)
        // LXC's 38 ms beats Docker's 373 ms beyond the noise: refuted, with the numbers.
        let docker = try #require(report.conclusions.first { $0.claim.hasPrefix("among Docker") })
        #expect(docker.status == .refuted && docker.evidence.contains("lxc/lxc/dir/minimal 38.0 ms"))
        #expect(status("rootless Podman creates") == .confirmed)
        #expect(status("rootless Podman costs I/O") == .confirmed)
        #expect(status("a manager tailor-made") == .confirmed)

        // The same claim flips when the numbers do, on both of its pairs.
        var flipped = ReportFixtures.thesisLike.filter { !["docker/crun/overlay2/minimal", "crun"].contains($0.candidate) || $0.experiment != "hello" }
        flipped += ReportFixtures.hello("docker/crun/overlay2/minimal", 39, 500, 90)
        flipped += ReportFixtures.hello("crun", 8.8, 12, 20)
        #expect(Report(records: flipped).conclusions.first { $0.claim.hasPrefix("crun is faster") }?.status == .refuted)
    }

    @Test("a creation claim falls back on another experiment's create phase when there is no hello")
    func creationWithoutHello() {
        let records = ReportFixtures.io("docker/runc/vfs/full", "files-read", "1000", exec: 100, create: 5_000)
            + ReportFixtures.io("docker/runc/overlay2/full", "files-read", "1000", exec: 100, create: 40)
        let vfs = Report(records: records).conclusions.first { $0.claim.hasPrefix("vfs makes") }
        #expect(vfs?.status == .confirmed)
        #expect(vfs?.evidence.contains("files-read:1000 t_create (no hello trials)") == true)
    }

    @Test("the best configuration per criterion comes with its numbers")
    func best() throws {
        let report = Report(records: ReportFixtures.thesisLike)
        let ready = try #require(report.best.first { $0.criterion == "Ready-to-run container" })
        #expect(ready.candidate == "gradebox-pool")
        #expect(ready.detail.contains("0.100 ms"))
        let write = try #require(report.best.first { $0.criterion == "Write" })
        // gradebox failed db-write: the write winner must have been measured on both cells.
        #expect(write.candidate != nil && write.candidate != "gradebox")
        let net = try #require(report.best.first { $0.criterion == "Network set-up" })
        #expect(net.candidate == "gradebox" && net.detail.contains("9.70 ms"))
    }

    @Test("failed trials are shown as failed, with their reason")
    func failures() throws {
        let report = Report(records: ReportFixtures.thesisLike)
        #expect(report.failures.contains { $0.candidate == "docker/crun/vfs/minimal" && $0.count == 3 && $0.reason.contains("timeout") })
        let html = report.html()
        #expect(html.contains("failed ×3: sqlite3: disk I/O error"))
        #expect(html.contains("dockerd (vfs) did not start: timeout after 30 s"))
        #expect(report.markdown().contains("| gradebox | db-write:111.6MB | 3 | sqlite3: disk I/O error |"))
    }

    @Test("the page is self-contained and every chart carries its numbers")
    func html() throws {
        let report = Report(records: ReportFixtures.thesisLike, source: "results.jsonl")
        let html = report.html()
        let charted = report.figures.flatMap(\.panels).filter(\.chart).count
        #expect(html.components(separatedBy: "<svg ").count - 1 == charted)
        #expect(!html.contains("src=") && !html.contains("<script") && !html.contains("href=\"http"))
        // Median labels as drawn on the bars.
        #expect(html.contains(">5200 ms</text>"))
        #expect(html.contains(">42.0 ms</text>"))
        #expect(html.contains("data-median=\"0.1\""))
        #expect(html.contains("(log scale)"))
        #expect(html.contains("class=\"badge ok\">confirmed") && html.contains("class=\"badge na\">not measured"))
        #expect(html.contains("<th>kernel</th><td>6.18.0</td>"))
        // Names are escaped.
        let odd = Report(records: ReportFixtures.hello("x<y>&\"z", 1, 1, 1)).html()
        #expect(odd.contains("x&lt;y&gt;&amp;&quot;z") && !odd.contains("x<y>"))
    }

    @Test("the markdown summary has the same sections")
    func markdown() {
        let md = Report(records: ReportFixtures.thesisLike).markdown()
        for section in ["## Host", "## Best configuration per criterion", "## The thesis's conclusions on this host", "## Figure 5.1: Storage drivers", "## Figure 5.7", "## Failures"] {
            #expect(md.contains(section), "\(section)")
        }
        #expect(md.contains("| overlay2 (docker/runc/overlay2/full) | 11 | **42.0** |"))
    }
}

private let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }

@Suite("Report in a browser")
struct ReportBrowserTests {
    private func runChromium(_ arguments: [String]) throws -> (status: Int32, stdout: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: chromium!)
        p.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"] + arguments
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test("headless Chromium renders the charts with their numbers",
          .enabled(if: chromium != nil, "chromium is not installed (apt-get install chromium)"))
    func rendersInChromium() throws {
        let dir = NSTemporaryDirectory() + "gradebox-report-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let report = Report(records: ReportFixtures.thesisLike, source: "synthetic.jsonl")
        try report.html().write(toFile: dir + "/report.html", atomically: true, encoding: .utf8)

        // The DOM after parsing: the browser kept every chart and its labels.
        let dom = try runChromium(["--dump-dom", "file://\(dir)/report.html"])
        #expect(dom.status == 0)
        let charted = report.figures.flatMap(\.panels).filter(\.chart).count
        #expect(dom.stdout.components(separatedBy: "<svg").count - 1 == charted)
        #expect(dom.stdout.contains("data-candidate=\"gradebox-pool\""))
        #expect(dom.stdout.contains(">5200 ms</text>") && dom.stdout.contains(">0.100 ms</text>"))
        #expect(dom.stdout.contains("Figure 5.7: gradebox against existing solutions: database"))

        let shot = try runChromium(["--window-size=1150,3000", "--screenshot=\(dir)/report.png", "file://\(dir)/report.html"])
        #expect(shot.status == 0)
        let png = try Data(contentsOf: URL(fileURLWithPath: dir + "/report.png"))
        #expect(png.starts(with: [0x89, 0x50, 0x4e, 0x47]) && png.count > 50_000)
    }
}

/// `gradebox-bench` built beside this test binary (swift build --build-tests builds both).
private let benchBinary: String? = {
    guard let me = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else { return nil }
    var dir = URL(fileURLWithPath: me).deletingLastPathComponent()
    // The test binary sits inside its .xctest bundle on some layouts.
    for _ in 0..<4 {
        let candidate = dir.appendingPathComponent("gradebox-bench").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        dir = dir.deletingLastPathComponent()
    }
    return nil
}()

@Suite("gradebox bench report, the command")
struct ReportCommandTests {
    @Test func thePageIsWrittenWhereOutSays() throws {
        let binary = try #require(benchBinary, "gradebox-bench is not beside the test binary: build with `swift build --build-tests`")
        let dir = NSTemporaryDirectory() + "gradebox-report-cmd-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir + "/cwd", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let encoder = JSONEncoder()
        let lines = try ReportFixtures.hello("gradebox", 1, 2, 3).map { String(decoding: try encoder.encode($0), as: UTF8.self) }
        try (lines.joined(separator: "\n") + "\n").write(toFile: dir + "/results.jsonl", atomically: true, encoding: .utf8)

        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = ["report", dir + "/results.jsonl", "--out", dir + "/page/here.html"]
        p.currentDirectoryURL = URL(fileURLWithPath: dir + "/cwd")
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try FileManager.default.createDirectory(atPath: dir + "/page", withIntermediateDirectories: true)
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let page = try String(contentsOfFile: dir + "/page/here.html", encoding: .utf8)
        #expect(page.contains("<html"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/cwd").isEmpty, "nothing written where it was run")
    }
}
