import Foundation

/// One noise source `bench doctor` checks before a run, as isolate-check-environment does.
public struct DoctorFinding: Codable, Sendable, Equatable {
    public enum Level: String, Codable, Sendable { case ok, warning }
    public var check: String
    public var level: Level
    public var detail: String
}

/// What the checks read, so the verdicts are a pure function (tested without a host).
public struct NoiseFacts: Codable, Sendable, Equatable {
    public var loadAverage1: Double = 0
    public var cpus: Int = 1
    /// Other processes using CPU right now: "pid name %cpu".
    public var busyProcesses: [String] = []
    /// scaling_governor of each CPU ("performance", "powersave" ...), empty when cpufreq is absent.
    public var governors: [String] = []
    public var swapTotalKB: Int = 0
    public var swapUsedKB: Int = 0
    /// /sys/kernel/mm/transparent_hugepage/enabled, e.g. "always [madvise] never".
    public var transparentHugepages: String = ""
    public init() {}
}

public enum Doctor {
    public static func findings(_ f: NoiseFacts) -> [DoctorFinding] {
        var out: [DoctorFinding] = []
        let perCPU = f.loadAverage1 / Double(max(f.cpus, 1))
        out.append(DoctorFinding(check: "load", level: perCPU > 0.25 ? .warning : .ok,
                                 detail: String(format: "load average %.2f on %d CPUs", f.loadAverage1, f.cpus)
                                    + (perCPU > 0.25 ? ": other work will add noise; wait or stop it" : "")))
        out.append(DoctorFinding(check: "busy processes", level: f.busyProcesses.isEmpty ? .ok : .warning,
                                 detail: f.busyProcesses.isEmpty ? "none above 5% CPU" : f.busyProcesses.prefix(8).joined(separator: "; ")))
        if f.governors.isEmpty {
            out.append(DoctorFinding(check: "cpu frequency", level: .ok, detail: "no cpufreq (VM or fixed frequency)"))
        } else {
            let notPerf = Set(f.governors).subtracting(["performance"])
            out.append(DoctorFinding(check: "cpu frequency", level: notPerf.isEmpty ? .ok : .warning,
                                     detail: "governors: \(Set(f.governors).sorted().joined(separator: ", "))"
                                        + (notPerf.isEmpty ? "" : ": set `performance` (cpupower frequency-set -g performance)")))
        }
        out.append(DoctorFinding(check: "swap", level: f.swapUsedKB > 0 ? .warning : .ok,
                                 detail: f.swapTotalKB == 0 ? "no swap" : "\(f.swapUsedKB) of \(f.swapTotalKB) KiB used"))
        let thp = f.transparentHugepages.split(separator: " ").first { $0.hasPrefix("[") }.map { String($0.dropFirst().dropLast()) } ?? "unknown"
        out.append(DoctorFinding(check: "transparent huge pages", level: thp == "always" ? .warning : .ok,
                                 detail: "\(thp)" + (thp == "always" ? ": khugepaged compaction adds latency spikes; consider madvise" : "")))
        return out
    }

    /// Reads /proc/loadavg, /proc/meminfo, cpufreq governors, THP and a `ps` snapshot.
    public static func collect() async -> NoiseFacts {
        var f = NoiseFacts()
        f.cpus = ProcessInfo.processInfo.activeProcessorCount
        let loadavg = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? ""
        f.loadAverage1 = Double(loadavg.split(separator: " ").first ?? "") ?? 0
        let meminfo = (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8)) ?? ""
        func kb(_ key: String) -> Int {
            meminfo.split(separator: "\n").first { $0.hasPrefix(key + ":") }
                .flatMap { Int($0.split(whereSeparator: \.isWhitespace).dropFirst().first ?? "") } ?? 0
        }
        f.swapTotalKB = kb("SwapTotal")
        f.swapUsedKB = f.swapTotalKB - kb("SwapFree")
        for cpu in 0..<f.cpus {
            if let g = try? String(contentsOfFile: "/sys/devices/system/cpu/cpu\(cpu)/cpufreq/scaling_governor", encoding: .utf8) {
                f.governors.append(g.trimmingCharacters(in: .whitespacesAndNewlines))
            }
        }
        f.transparentHugepages = ((try? String(contentsOfFile: "/sys/kernel/mm/transparent_hugepage/enabled", encoding: .utf8)) ?? "")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        if let ps = try? await Tool.output("/bin/ps", ["-eo", "pid=,pcpu=,comm=", "--sort=-pcpu"]) {
            let me = getpid()
            f.busyProcesses = ps.split(separator: "\n").compactMap { line in
                let p = line.split(whereSeparator: \.isWhitespace)
                guard p.count >= 3, let pid = Int32(p[0]), pid != me, let cpu = Double(p[1]), cpu >= 5 else { return nil }
                return "\(p[2]) (pid \(pid), \(p[1])% CPU)"
            }
        }
        return f
    }
}
