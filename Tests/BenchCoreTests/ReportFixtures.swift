import Foundation

@testable import BenchCore

/// Synthetic trial records with chosen medians, for report tests.
enum ReportFixtures {
    static let host = ["kernel": "6.18.0", "cpu": "Test CPU", "cpus": "2", "cgroup": "hybrid"]

    /// `runs` trials whose phases are `phases` times factors spread evenly over
    /// 1 - spread ... 1 + spread (so the median is exactly the given value when
    /// `runs` is odd).
    static func trials(
        _ candidate: String, _ experiment: String, dataset: String? = nil, _ phases: [String: Double], runs: Int = 11,
        spread: Double = 0.1
    ) -> [TrialRecord] {
        (0..<runs).map { i in
            let f = runs == 1 ? 1 : 1 - spread + 2 * spread * Double(i) / Double(runs - 1)
            return TrialRecord(
                candidate: candidate, experiment: experiment, dataset: dataset, run: i,
                phasesMs: phases.mapValues { $0 * f }, outcome: .ok, startedAt: 1_700_000_000 + Double(i), host: host)
        }
    }

    static func failures(_ candidate: String, _ experiment: String, dataset: String? = nil, reason: String, runs: Int = 3) -> [TrialRecord] {
        (0..<runs).map { i in
            TrialRecord(candidate: candidate, experiment: experiment, dataset: dataset, run: i, phasesMs: [:],
                        outcome: .failed, error: reason, startedAt: 1_700_000_000, host: host)
        }
    }

    static func hello(_ c: String, _ create: Double, _ start: Double, _ exec: Double, runs: Int = 11, spread: Double = 0.1) -> [TrialRecord] {
        trials(c, "hello", ["create": create, "start": start, "exec": exec], runs: runs, spread: spread)
    }

    static func io(_ c: String, _ experiment: String, _ dataset: String, exec: Double, create: Double = 40, start: Double = 300,
                   runs: Int = 11, spread: Double = 0.1) -> [TrialRecord] {
        trials(c, experiment, dataset: dataset, ["create": create, "start": start, "exec": exec], runs: runs, spread: spread)
    }

    /// A run resembling this host's (HOST.md): docker, podman, lxc, the direct
    /// runtimes, bwrap and gradebox, with I/O, network and ping.
    static var thesisLike: [TrialRecord] {
        var r: [TrialRecord] = []
        r += hello("docker/runc/overlay2/minimal", 40, 360, 60)
        r += hello("docker/crun/overlay2/minimal", 39, 334, 45)
        r += hello("docker/runc/overlay2/full", 42, 370, 62)
        r += hello("docker/runc/vfs/full", 5_200, 380, 60)
        r += hello("docker/runc/btrfs/full", 55, 365, 61)
        r += hello("docker/runc/btrfs/minimal", 45, 362, 60)
        r += hello("podman/crun/overlay/minimal", 60, 130, 70)
        r += hello("podman/crun/overlay/minimal/rootless", 75, 110, 80)
        r += hello("lxc/lxc/dir/minimal", 30, 8, 7)
        r += hello("crun", 8.8, 3.8, 2)
        r += hello("runc", 37, 8.5, 9)
        r += hello("gradebox", 0.6, 0.5, 0.4)
        r += hello("gradebox-pool", 0.05, 0.05, 0.4)
        r += trials("bwrap", "run", ["run": 5.5])
        r += failures("docker/crun/vfs/minimal", "hello", reason: "dockerd (vfs) did not start: timeout after 30 s")
        for d in ["10", "10000"] {
            let k = d == "10" ? 0.01 : 1.0
            r += io("docker/runc/overlay2/full", "files-read", d, exec: 900 * k)
            r += io("docker/runc/vfs/full", "files-read", d, exec: 880 * k, create: 5_200)
            r += io("docker/runc/btrfs/full", "files-read", d, exec: 950 * k)
            r += io("docker/runc/overlay2/minimal", "files-read", d, exec: 850 * k)
            r += io("docker/runc/overlay2/minimal", "files-write", d, exec: 2_400 * k)
            r += io("docker/runc/overlay2/full", "files-write", d, exec: 2_000 * k)
            r += io("gradebox", "files-read", d, exec: 700 * k, create: 0.6, start: 0.5)
            r += io("gradebox", "files-write", d, exec: 1_500 * k, create: 0.6, start: 0.5)
            r += io("podman/crun/overlay/minimal", "files-read", d, exec: 800 * k)
            r += io("podman/crun/overlay/minimal", "files-write", d, exec: 1_800 * k)
            r += io("podman/crun/overlay/minimal/rootless", "files-read", d, exec: 1_100 * k)
            r += io("podman/crun/overlay/minimal/rootless", "files-write", d, exec: 4_000 * k)
        }
        r += io("docker/runc/overlay2/full", "db-write", "111.6MB", exec: 3_000)
        r += io("docker/runc/btrfs/full", "db-write", "111.6MB", exec: 2_100)
        r += io("docker/runc/overlay2/minimal", "db-read", "111.6MB", exec: 1_900)
        r += io("gradebox", "db-read", "111.6MB", exec: 1_700, create: 0.6, start: 0.5)
        r += failures("gradebox", "db-write", dataset: "111.6MB", reason: "sqlite3: disk I/O error")
        r += trials("docker/crun/overlay2/minimal", "network", ["create": 40, "start": 450, "exec": 60, "response": 25])
        r += trials("gradebox", "network", ["create": 0.6, "start": 2.1, "exec": 3, "response": 4])
        r += trials("docker/crun/overlay2/minimal", "ping", ["rtt": 0.09])
        r += trials("gradebox", "ping", ["rtt": 0.05])
        return r
    }

    static func jsonl(_ records: [TrialRecord]) throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try records.map { String(decoding: try e.encode($0), as: UTF8.self) }.joined(separator: "\n") + "\n"
    }
}
