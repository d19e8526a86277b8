import Foundation
import Testing

@testable import BenchCore

/// What a run and `bench teardown` stop besides the daemons (issue 15, point 3),
/// on synthetic process tables.
@Suite("Leftover processes")
struct LeftoversTests {
    /// Podman's exec conmon as `ps` showed it after a quick run (shortened).
    static func conmon(_ pid: Int32, name: String, root: String = "/var/lib/gradebox-bench/podman-overlay", uid: UInt32 = 0) -> ProcessEntry {
        ProcessEntry(pid: pid, uid: uid, argv: [
            "/usr/bin/conmon", "--api-version", "1", "-c", "e98e2015", "-u", "2cc71b45", "-r", "/usr/bin/crun",
            "-b", "\(root)/overlay-containers/e98e2015/userdata/2cc71b45", "-n", name, "--exec-attach",
            "--exit-command", "/usr/bin/podman", "--exit-command-arg", "--root", "--exit-command-arg", root, "--exit-delay", "300",
        ])
    }

    let table: [ProcessEntry] = [
        ProcessEntry(pid: 1, uid: 0, argv: ["/sbin/init"]),
        conmon(100, name: "gbx-9531-1"),
        conmon(101, name: "gbx-9531-12"),
        conmon(102, name: "gbx-777-3"),
        conmon(103, name: "someone-elses", root: "/var/lib/containers/storage"),
        conmon(104, name: "gbx-9531-40", root: "/home/gbxbench/.local/share/gbx-podman-overlay", uid: 1001),
        ProcessEntry(pid: 200, uid: 1001, argv: ["catatonit", "-P"]),
        ProcessEntry(pid: 201, uid: 200_123, argv: ["/bin/sh", "-c", "while :; do sleep 1; done"]),
        ProcessEntry(pid: 300, uid: 0, argv: ["/usr/bin/podman", "--root", "/var/lib/gradebox-bench/podman-overlay", "system", "service"]),
        ProcessEntry(pid: 301, uid: 1000, argv: ["vim", "/var/lib/gradebox-bench/podman-overlay/notes"]),
    ]

    @Test("a run stops the conmons of its own containers only")
    func ofRun() {
        let found = Leftovers.conmons(table, namedWith: "gbx-9531-")
        #expect(found.map(\.process.pid) == [100, 101, 104])
        #expect(found[0].why.contains("gbx-9531-1,"))
    }

    @Test("teardown finds Podman's conmons of our stores and the rootless user's processes, not the daemons nor others'")
    func ofSetup() {
        let state = Self.state
        let found = Leftovers.ofSetup(table, roots: Provisioner.podmanRoots(state, units: nil),
                                      uids: Provisioner.rootlessIDs(state, subuid: "gbxbench:200000:65536\nother:300000:65536\n"),
                                      excluding: [300])
        #expect(found.map(\.process.pid) == [100, 101, 102, 104, 200, 201])
        #expect(found.first { $0.process.pid == 200 }?.why.contains("rootless user") == true)
        // Only one store's conmons when teardown is asked for that unit alone.
        let one = Leftovers.ofSetup(table, roots: Provisioner.podmanRoots(state, units: ["podman-rootless:overlay"]), uids: [])
        #expect(one.map(\.process.pid) == [104])
    }

    static var state: ProvisionState {
        var s = ProvisionState()
        s.units["rootless-user"] = .init(detail: ["uid": "1001"])
        s.units["podman:overlay"] = .init(pid: 300, socket: "/run/gradebox-bench/podman-overlay.sock", detail: [
            "global": "--root /var/lib/gradebox-bench/podman-overlay --runroot /run/gradebox-bench/podman-overlay --storage-driver overlay"])
        s.units["podman-rootless:overlay"] = .init(pid: 400, detail: [
            "global": "--root /home/gbxbench/.local/share/gbx-podman-overlay --runroot /run/user/1001/gbx-podman-overlay --storage-driver overlay"])
        return s
    }

    @Test("the rootless user's ids are its uid and its subordinate range, and none without it")
    func rootlessIDs() {
        #expect(Provisioner.rootlessIDs(Self.state, subuid: "gbxbench:200000:65536\n") == [1001...1001, 200_000...265_535])
        #expect(Provisioner.rootlessIDs(ProvisionState(), subuid: "gbxbench:200000:65536\n") == [])
    }

    @Test("a recorded pid is stopped only while it still runs its daemon")
    func daemonCheck() {
        #expect(Provisioner.runsDaemon(of: "podman:overlay", 1, cmdline: ["/usr/bin/podman", "system", "service"]))
        #expect(Provisioner.runsDaemon(of: "docker:vfs", 1, cmdline: ["/usr/sbin/dockerd", "--config-file", "x"]))
        #expect(Provisioner.runsDaemon(of: "docker-rootless", 1, cmdline: ["rootlesskit", "--net=slirp4netns"]))
        #expect(!Provisioner.runsDaemon(of: "docker:overlay2", 1, cmdline: ["/usr/bin/python3", "server.py"]), "a reused pid")
        #expect(!Provisioner.runsDaemon(of: "containerd", 1, cmdline: []))
    }

    @Test("/proc's command lines and status lines are read as the kernel writes them")
    func procParsing() {
        #expect(ProcessTable.argv(cmdline: Data("/usr/bin/conmon\u{0}-n\u{0}gbx-1-2\u{0}".utf8)) == ["/usr/bin/conmon", "-n", "gbx-1-2"])
        #expect(ProcessTable.argv(cmdline: Data("a\u{0}\u{0}b\u{0}".utf8)) == ["a", "", "b"])
        #expect(ProcessTable.realUID(status: "Name:\tconmon\nUmask:\t0022\nUid:\t1001\t1002\t1003\t1004\nGid:\t0\t0\t0\t0\n") == 1001)
        #expect(ProcessTable.realUID(status: "Name:\tx\n") == nil)
        // This very process is in the table, with its command line.
        let me = ProcessTable.read().first { $0.pid == getpid() }
        #expect(me != nil && me?.uid == getuid())
    }

    @Test("containers.conf: ours is rewritten to its new version, another's is kept beside it, the current one is left")
    func podmanConf() throws {
        let dir = NSTemporaryDirectory() + "gradebox-conf-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/containers.conf"
        let p = Provisioner(statePath: dir + "/state.json")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "[engine]\nruntime = \"runc\"\n".write(toFile: path, atomically: true, encoding: .utf8)
        try p.podmanConf(path: path)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == Provisioner.podmanConfText)
        #expect(try String(contentsOfFile: path + ".gradebox-bench.orig", encoding: .utf8).contains("runtime = \"runc\""))
        #expect(Provisioner.podmanConfText.contains("exit_command_delay = 10"))
        // An older version of ours is replaced, and not kept as the original.
        try FileManager.default.removeItem(atPath: path + ".gradebox-bench.orig")
        try "# gradebox-bench: no systemd here\n[engine]\n".write(toFile: path, atomically: true, encoding: .utf8)
        try p.podmanConf(path: path)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == Provisioner.podmanConfText)
        #expect(!FileManager.default.fileExists(atPath: path + ".gradebox-bench.orig"))
    }
}
