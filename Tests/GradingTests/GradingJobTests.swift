import Testing
import Foundation
@testable import SandboxCore
@testable import Grading

/// An image store holding inginious-default: GRADEBOX_INGINIOUS_IMAGES, or the default store.
private let environmentStore: ImageStore? = {
    guard geteuid() == 0 else { return nil }
    let directory = ProcessInfo.processInfo.environment["GRADEBOX_INGINIOUS_IMAGES"] ?? ImageStore.defaultDirectory
    let store = ImageStore(directory: directory)
    return Environments(images: store).image(for: "default") == nil ? nil : store
}()

/// A course folder as INGInious has it, written in a temporary directory.
private struct Course {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "gradebox-course-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path + "/$common", withIntermediateDirectories: true)
        try "name: Test course\n".write(toFile: path + "/course.yaml", atomically: true, encoding: .utf8)
        try "helper from common\n".write(toFile: path + "/$common/helper.txt", atomically: true, encoding: .utf8)
    }

    func task(_ id: String, yaml: String = "", run: String? = nil, runName: String = "run") throws {
        let dir = "\(path)/\(id)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let text = "name: \(id)\nenvironment_type: docker\nenvironment_id: default\n" + yaml
        try text.write(toFile: dir + "/task.yaml", atomically: true, encoding: .utf8)
        if let run {
            try run.write(toFile: "\(dir)/\(runName)", atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: "\(dir)/\(runName)")
        }
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

@Suite("grading INGInious tasks in inginious-default, for real (root)", .serialized,
       .enabled(if: environmentStore != nil, "needs root and the inginious-default image (gradebox image build inginious-default; scripts/test.sh builds it)"))
struct GradingJobTests {
    func grader() throws -> Grader {
        let state = NSTemporaryDirectory() + "gradebox-grading-state"
        return Grader(sandbox: Sandbox(stateDirectory: state, images: environmentStore!))
    }

    /// A grader as `gradebox agent` has one (groups reused), with a folder
    /// of its own for job files: what is left there is this grader's.
    func longLivedGrader(_ label: String) throws -> Grader {
        var grader = try grader()
        grader.reusesGroups = true
        grader.workDirectory = Grader.defaultWorkDirectory + "/gbx-\(label)-\(getpid())"   // short: a socket path is made in it
        try FileManager.default.createDirectory(atPath: grader.workDirectory, withIntermediateDirectories: false)
        return grader
    }

    @Test func aShellRunScriptThatOnlySetsAResult() async throws {
        let course = try Course()
        defer { course.remove() }
        try course.task("t1", run: "#!/bin/bash\nfeedback-result success\n")
        let r = await try grader().grade(GradingJob(course: course.path, task: "t1", inputs: [:]))
        #expect(r.result == "success" && r.grade == 100, "\(r.text)")
        // Every job timed, in order: INGInious's steps and the grading box's start.
        let order = ["accepted", "job group made", "task view made", "run script started", "grading box ready",
                     "run script exited", "feedback read", "done"]
        #expect(r.phases.map(\.name).filter(order.contains) == order, "\(r.phases)")
        #expect(r.archive?.starts(with: [0x1f, 0x8b]) == true, "the archive is a gzipped tar")
    }

    @Test func aPythonRunScriptReadsTheInputsAndCommonFiles() async throws {
        let course = try Course()
        defer { course.remove() }
        try course.task("t2", yaml: "problems:\n  q1: {type: code}\n  f1: {type: file}\n", run: """
            from inginious import input, feedback
            code = input.get_input("q1")
            name = input.get_input("f1:filename")
            content = input.get_input("f1").decode()
            common = open("/course/common/helper.txt").read().strip()
            feedback.set_problem_result("success" if code == "print(42)" else "failed", "q1")
            feedback.set_global_result("success" if name == "a.txt" and content == "uploaded" else "failed")
            feedback.set_global_feedback(common + " / " + content)
            """, runName: "run.py")
        let job = GradingJob(course: course.path, task: "t2", inputs: [
            "q1": .text("print(42)"), "f1": .file(name: "a.txt", bytes: Array("uploaded".utf8)),
        ])
        let r = await try grader().grade(job)
        #expect(r.result == "success", "\(r.text)")
        #expect(r.problems["q1"]?.first == "success")
        #expect(r.text == "helper from common / uploaded", "\(r.text)")
    }

    /// INGInious's t2: the student's code saved in /task/student, run with run_student, its output checked.
    @Test func runStudentRunsTheStudentsCodeInABoxOfItsOwn() async throws {
        let course = try Course()
        defer { course.remove() }
        try course.task("t2", yaml: "problems:\n  q1: {type: code}\nenvironment_parameters:\n  limits: {time: 5, memory: 200}\n", run: """
            #!/bin/bash
            getinput q1 > /task/student/student.py
            cd /task/student
            # run_student joins its words with spaces, as INGInious's does: programs go in files.
            echo 'print(int(input()) * 2)' > double.py
            echo 'while True: pass' > loop.py
            echo 'x = bytearray(300 * 1024 * 1024)' > big.py
            echo 'exit 7' > seven.sh
            out=$(run_student python3 student.py)
            piped=$(echo 21 | run_student python3 double.py)
            run_student --time 1 python3 loop.py; slow2=$?
            run_student --memory 50 python3 big.py; big=$?
            run_student sh seven.sh; seven=$?
            if [ "$out" = 42 ] && [ "$piped" = 42 ]; then feedback-result success; else feedback-result failed; fi
            feedback-msg -m "out=$out piped=$piped slow2=$slow2 big=$big seven=$seven"
            """)
        var job = GradingJob(course: course.path, task: "t2", inputs: ["q1": .text("print(6*7)")])
        job.debug = true
        let r = await try grader().grade(job)
        #expect(r.result == "success", "\(r.text) \(r.stderr ?? "")")
        #expect(r.text.contains("slow2=253") && r.text.contains("big=252") && r.text.contains("seven=7"), "\(r.text)")
        // Each run_student: asked, its box ready, exited, in that order.
        let names = r.phases.map(\.name)
        #expect(names.count { $0 == "run_student box ready" } == names.count { $0 == "run_student asked" } && names.contains("run_student asked"))
        let student = names.filter { $0.hasPrefix("run_student") }
        #expect(student.count % 3 == 0 && stride(from: 0, to: student.count, by: 3).allSatisfy {
            Array(student[$0..<$0 + 3]) == ["run_student asked", "run_student box ready", "run_student exited"] }, "\(student)")
    }

    /// The student's program gets the run script's streams themselves, as
    /// INGInious's student container does on a shared kernel (its descriptors
    /// passed over a socket): 300 kB through a pipe whole, stdin from a pipe
    /// and from a file, and a reader that stops early is the program's to see.
    @Test func runStudentsStreamsAreTheCallersOwn() async throws {
        let course = try Course()
        defer { course.remove() }
        try course.task("streams", yaml: "environment_parameters:\n  limits: {time: 10, memory: 200}\n", run: """
            #!/bin/bash
            cd /task/student
            echo "print('x' * 300000)" > big.py
            echo 'import sys; print(sys.stdin.read().strip())' > echo.py
            printf 'import sys\nfor i in range(100000):\n    sys.stdout.write("y" * 1000)\n' > endless.py
            n=$(run_student python3 big.py | wc -c)
            m=$(echo hello | run_student python3 echo.py)
            k=$(run_student python3 echo.py < /task/task.yaml | wc -c)
            run_student python3 endless.py | head -c 10 > /dev/null; early=${PIPESTATUS[0]}
            feedback-msg -m "n=$n m=$m k=$k early=$early"
            feedback-result success
            """)
        let r = await try grader().grade(GradingJob(course: course.path, task: "streams", inputs: [:]))
        let size = try String(contentsOfFile: course.path + "/streams/task.yaml", encoding: .utf8).utf8.count
        #expect(r.text.contains("n=300001 m=hello k=\(size) "), "\(r.text)")
        // Its writes failed once head was gone (EPIPE: Python's BrokenPipeError, 1): it did not run to its limit.
        #expect(r.text.contains("early=1"), "\(r.text)")
    }

    /// gradebox's in-box commands against INGInious's own (kept in the image at
    /// /usr/lib/inginious/bin): the same calls leave the same feedback file,
    /// byte for byte, and getinput prints the same bytes.
    @Test func theNativeCommandsWriteWhatTheStockOnesWrite() async throws {
        let course = try Course()
        defer { course.remove() }
        try course.task("cmp", yaml: "problems:\n  q1: {type: code}\n  n: {type: code}\n  f: {type: code}\n  b: {type: code}\n"
                        + "  l: {type: code}\n  d: {type: code}\n  file: {type: file}\n", run: #"""
            #!/bin/bash
            calls() {
                P=$1
                rm -f /.__output/__feedback.json
                ${P}feedback-result success
                ${P}feedback-result -i q1 failed
                ${P}feedback-msg -i q1 -m "wrong"
                ${P}feedback-msg -a --id q1 -m " twice"
                ${P}feedback-msg -i q2 -m "text only"
                ${P}feedback-msg -ai q2 -m " more"
                ${P}feedback-result --id=q2 success
                ${P}feedback-grade 85
                ${P}feedback-msg -m "héllo "q"	tab ✓ 😀"
                echo "from stdin" | ${P}feedback-msg -a
                ${P}feedback-msg -a -e -m '\nline\x41\\ \t'
                ${P}feedback-custom n 12
                ${P}feedback-custom f 1.50
                ${P}feedback-custom s hello
                ${P}feedback-custom -j j '{"a": [1, 2.0, null, "é", 1e400]}'
                ${P}feedback-custom -j bad '{'
                ${P}feedback-state "st 1"
                ${P}tag-set t1 true
                ${P}tag-set t2 False
                ${P}tag-set '*auto-tag-1' true
                ${P}feedback -r failed -g 1e3 -f "via feedback" -c "c1:5:6"
                ${P}feedback -i q3 -r success -f "p3" -j 'cj:{"x": 1}'
                ${P}feedback-grade 0.1
                ${P}feedback-grade abc 2>/dev/null; echo "rc=$?"
                ${P}feedback-result 2>/dev/null; echo "rc=$?"
                for k in q1 n f b l d file file:filename; do echo "[$k]"; ${P}getinput $k; echo; done
                ${P}getinput missing >/dev/null 2>&1; echo "rc=$?"
            }
            calls /usr/lib/inginious/bin/ > /task/stock.out; cp /.__output/__feedback.json /task/stock.json
            calls "" > /task/native.out; cp /.__output/__feedback.json /task/native.json
            rm /.__output/__feedback.json
            if cmp -s /task/stock.json /task/native.json && cmp -s /task/stock.out /task/native.out; then
                feedback-result success
            else
                feedback-result failed
                feedback-msg -m "$(cat /task/stock.json; echo; cat /task/native.json; echo; diff /task/stock.out /task/native.out)"
            fi
            """#)
        let job = GradingJob(course: course.path, task: "cmp", inputs: [
            "q1": .text("print(6*7) é"), "n": .value(.number(3)), "f": .value(.number(2.5)), "b": .value(.bool(true)),
            "l": .value(.array([.string("a"), .string("é")])), "d": .value(.object(["k": .number(1)])),
            "file": .file(name: "s.py", bytes: Array("file bytes\n".utf8)),
        ])
        let r = await try grader().grade(job)
        #expect(r.result == "success", "\(r.text)")
    }

    /// run_student passes its caller's signals on to the student's program, the command's and the Python function's.
    @Test func runStudentPassesSignalsOn() async throws {
        let course = try Course()
        defer { course.remove() }
        try course.task("sig", run: #"""
            #!/bin/bash
            cd /task/student
            printf 'import signal, sys, time\ndef h(n, f):\n    print("got", n, flush=True)\n    sys.exit(3)\nsignal.signal(signal.SIGUSR1, h)\nprint("ready", flush=True)\ntime.sleep(20)\n' > h.py
            run_student python3 h.py > out.txt &
            for i in $(seq 100); do grep -q ready out.txt 2>/dev/null && break; sleep 0.05; done
            kill -USR1 $!
            wait $!; code=$?
            python3 -c '
            import os, signal, threading, time
            from inginious import run_student
            threading.Timer(0.8, lambda: os.kill(os.getpid(), signal.SIGUSR1)).start()
            out = open("out2.txt", "w")
            r = run_student.run_student("python3 h.py", stdout=out.fileno(), signal_handler_callback=run_student._hack_signals)
            open("code2.txt", "w").write(str(r))
            '
            feedback-result success
            feedback-msg -m "code=$code out=$(tr '\n' ' ' < out.txt) code2=$(cat code2.txt) out2=$(tr '\n' ' ' < out2.txt)"
            """#)
        let r = await try grader().grade(GradingJob(course: course.path, task: "sig", inputs: [:]))
        #expect(r.text == "code=3 out=ready got 10  code2=3 out2=ready got 10 ", "\(r.result): \(r.text)")
    }

    /// INGInious's kill: every program of the job ends, the result is `killed` with the previous state.
    @Test func aKilledJobEndsAtOnceAsKilled() async throws {
        let course = try Course()
        defer { course.remove() }
        try course.task("k", run: "#!/bin/bash\necho 'import time; time.sleep(30)' > /task/student/s.py\nrun_student python3 /task/student/s.py\nfeedback-result success\n")
        var job = GradingJob(course: course.path, task: "k", inputs: [:])
        job.state = "before"
        let control = JobControl()
        let grader = try grader()
        let start = Date()
        async let result = grader.grade(job, control: control)
        try await Task.sleep(for: .milliseconds(400))
        control.kill()
        let r = await result
        #expect(r.result == "killed" && r.state == "before", "\(r.result): \(r.text)")
        #expect(Date().timeIntervalSince(start) < 5, "the run script and its student box ended at the kill")
        let early = JobControl()
        early.kill()
        #expect(await grader.grade(job, control: early).result == "killed", "killed before it started: never started")
    }

    /// Settings from the caller (INGInious's back-end sends them): task.yaml is not read.
    @Test func settingsFromTheCallerReplaceTaskYaml() async throws {
        let course = try Course()
        defer { course.remove() }
        try course.task("s", yaml: "environment_parameters: {limits: {time: 30}}\n", run: "#!/bin/bash\nfeedback-result failed\n")
        try "#!/bin/bash\nfeedback-result success\nfeedback-msg -m \"$(getinput @username)\"\n".write(toFile: course.path + "/s/other", atomically: true, encoding: .utf8)
        chmod(course.path + "/s/other", 0o755)
        try "not: [valid".write(toFile: course.path + "/s/task.yaml", atomically: true, encoding: .utf8)
        var job = GradingJob(course: course.path, task: "s", inputs: ["@username": .text("alice")])
        job.settings = TaskSettings(environmentID: "default", limits: TaskLimits(cpuSeconds: 5, wallSeconds: 15, memoryMegabytes: 100),
                                    runCommand: "/task/other")
        let r = await try grader().grade(job)
        #expect(r.result == "success" && r.text == "alice", "\(r.result): \(r.text)")
    }

    /// The run script owns /task and /.__output; the grader works on both
    /// as root on the host after the script has had its way with them. A
    /// symlink it leaves is never followed there: not as the student box's
    /// /task/student (that bound a host folder into the box), not as
    /// __feedback.json (that put a host file in the result); a FIFO as
    /// feedback does not hold the job; a missing /task/student is made again.
    @Test func whatTheRunScriptLeftIsNeverFollowedOnTheHost() async throws {
        let course = try Course()
        defer { course.remove() }
        let secret = course.path + "/host-secret"
        try FileManager.default.createDirectory(atPath: secret, withIntermediateDirectories: false)
        try "{\"result\": \"success\", \"text\": \"HOST FILE\"}\n".write(toFile: secret + "/f.json", atomically: true, encoding: .utf8)
        // A folder the image has too (/etc), with a file only the host's has:
        // bound there, the student box would see it.
        let marker = "gradebox-test-marker-\(getpid())"
        FileManager.default.createFile(atPath: "/etc/" + marker, contents: Data())
        defer { unlink("/etc/" + marker) }
        try course.task("studentlink", run: """
            #!/bin/bash
            rm -rf /task/student; ln -s /etc /task/student
            run_student ls /task/student/ > /tmp/out 2>&1; rc=$?
            feedback-result success; feedback-msg -m "rc=$rc $(grep -c \(marker) /tmp/out)"
            """)
        try course.task("feedbacklink", run: "#!/bin/bash\nln -s \(secret)/f.json /.__output/__feedback.json\n")
        try course.task("feedbackfifo", run: "#!/bin/bash\nmkfifo /.__output/__feedback.json\n")
        try course.task("studentgone", run: """
            #!/bin/bash
            rm -rf /task/student
            run_student touch /task/student/made; rc=$?
            feedback-result success; feedback-msg -m "rc=$rc $(stat -c %U /task/student/made)"
            """)
        let g = try grader()
        let link = await g.grade(GradingJob(course: course.path, task: "studentlink", inputs: [:]))
        #expect(link.result == "success" && link.text == "rc=254 0", "a symlinked /task/student is refused: \(link.result): \(link.text)")
        let feedbackLink = await g.grade(GradingJob(course: course.path, task: "feedbacklink", inputs: [:]))
        #expect(feedbackLink.result == "crash" && !feedbackLink.text.contains("HOST FILE"), "\(feedbackLink.result): \(feedbackLink.text)")
        #expect(feedbackLink.text.contains("symbolic link"), "\(feedbackLink.text)")
        let fifo = await g.grade(GradingJob(course: course.path, task: "feedbackfifo", inputs: [:]))
        #expect(fifo.result == "crash" && fifo.text.contains("not a regular file"), "\(fifo.result): \(fifo.text)")
        let gone = await g.grade(GradingJob(course: course.path, task: "studentgone", inputs: [:]))
        #expect(gone.result == "success" && gone.text == "rc=0 worker", "\(gone.result): \(gone.text)")
    }

    /// A long-lived grader keeps each job's cgroups and namespaces for the
    /// next: hostile jobs (a fork bomb, an output flood, a memory hog) leave
    /// the next job nothing of theirs, and nothing is left once drained.
    @Test func reusedGroupsComeBackCleanAfterHostileJobs() async throws {
        let course = try Course()
        defer { course.remove() }
        let limits = "environment_parameters:\n  limits: {time: 3, hard_time: 10, memory: 200}\n"
        try course.task("bomb", yaml: limits, run: """
            #!/bin/bash
            echo 'import os' > /task/student/b.py; echo 'while True:' >> /task/student/b.py; echo '    try: os.fork()' >> /task/student/b.py
            echo '    except OSError: pass' >> /task/student/b.py
            run_student --time 1 python3 /task/student/b.py; feedback-result success; feedback-msg -m "bomb=$?"
            """)
        try course.task("flood", yaml: limits, run: "#!/bin/bash\nyes | head -c 30000000\nfeedback-result success\n")
        try course.task("hog", yaml: limits, run: """
            #!/bin/bash
            echo 'x = bytearray(150 * 1024 * 1024); print(len(x) > 0)' > /task/student/h.py
            a=$(run_student --memory 50 python3 /task/student/h.py); first=$?
            b=$(run_student python3 /task/student/h.py); second=$?
            feedback-result success; feedback-msg -m "$first $second $b"
            """)
        let grader = try longLivedGrader("reuse")
        defer { try? FileManager.default.removeItem(atPath: grader.workDirectory) }
        for round in 0..<2 {
            let bomb = await grader.grade(GradingJob(course: course.path, task: "bomb", inputs: [:]))
            #expect(bomb.result == "success", "round \(round): \(bomb.result) \(bomb.text)")
            var flood = GradingJob(course: course.path, task: "flood", inputs: [:])
            flood.debug = true
            let flooded = await grader.grade(flood)
            #expect(flooded.result == "success" && (flooded.stdout?.utf8.count ?? 0) <= 1 << 20,
                    "round \(round): \(flooded.result), \(flooded.stdout?.utf8.count ?? 0) bytes of stdout kept")
            let hog = await grader.grade(GradingJob(course: course.path, task: "hog", inputs: [:]))
            #expect(hog.text == "252 0 True", "round \(round): the 50 MB box is OOM-killed, the next one has the task's 200 MB: \(hog.text)")
        }
        // Each job's files and group went after its result: finish waits for that, then drains.
        grader.finish()
        // This process's groups, in whichever hierarchy the host has (v1 or v2).
        let runtime = try Runtime.shared(grader.sandbox.stateDirectory)
        let left = try #require(runtime.cgroups, "\(runtime.cgroupProblem ?? "")").leftovers().filter { $0.hasPrefix(runtime.groupPrefix + "-\(getpid())-") }
        #expect(left.isEmpty, "cgroups left after the drain: \(left)")
        let folders = (try? FileManager.default.contentsOfDirectory(atPath: grader.workDirectory)) ?? ["unreadable"]
        #expect(folders.isEmpty, "job folders left: \(folders)")
    }

    /// A long-lived grader's jobs reuse groups (the group's cgroups, members,
    /// open files and limits): every job's programs are still counted (their
    /// CPU is in the job's group, never in a warm-pool slot's), and each job
    /// sees only its own files, whether the last job's clean-up is done or not.
    @Test func reusedGroupsCountEveryJobsProgramsAndKeepJobsApart() async throws {
        let course = try Course()
        defer { course.remove() }
        try course.task("t", yaml: "problems:\n  q1:\n    type: code\n", run: "#!/bin/bash\nls /task /task/student /.__output | tr '\\n' ' ' > /task/student/seen\nfeedback-result success\nfeedback-msg -m \"$(cat /task/student/seen) $(getinput q1)\"\ntouch /task/student/left-by-$(getinput q1)\n")
        let grader = try longLivedGrader("cpu")
        defer { try? FileManager.default.removeItem(atPath: grader.workDirectory) }
        for i in 0..<12 {
            let r = await grader.grade(GradingJob(course: course.path, task: "t", inputs: ["q1": .text("job\(i)")]))
            #expect(r.result == "success", "job \(i): \(r.text)")
            #expect((r.programsCpuMs ?? 0) > 0, "job \(i): its programs' CPU is counted (\(r.programsCpuMs ?? -1) ms) \(r.text)")
            // Nothing of an earlier job: not its files, not its student folder's.
            #expect(!r.text.contains("left-by") && r.text.hasSuffix("job\(i)"), "job \(i): \(r.text)")
            // The last job's clean-up is done (the same group next), or not yet (another one).
            if i % 3 == 0 { grader.settle() }
        }
        grader.finish()
        let folders = (try? FileManager.default.contentsOfDirectory(atPath: grader.workDirectory)) ?? ["unreadable"]
        #expect(folders.isEmpty, "job folders left: \(folders)")
    }

    /// An environment image as INGInious builds them (FROM its base image):
    /// none of the grading box's mount points (Docker makes them in the
    /// container's layer: the grader uses a writable overlay), and INGInious's
    /// own in-box commands and run_student, which ask for a student container
    /// over ZeroMQ at /sockets/main.sock (the grader serves that too).
    @Test func anImageAsINGIniousBuildsThemIsGradedToo() async throws {
        let store = NSTemporaryDirectory() + "gradebox-stock-image-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: store) }
        let original = try #require(Environments(images: environmentStore!).image(for: "default"))
        let fm = FileManager.default
        try fm.createDirectory(atPath: store + "/stock", withIntermediateDirectories: true)
        let rootfs = store + "/stock/rootfs"
        let copy = Process()
        copy.executableURL = URL(fileURLWithPath: "/bin/cp")
        copy.arguments = ["-al", original.rootfs, rootfs]   // hard links: files are replaced, never written
        try copy.run()
        copy.waitUntilExit()
        for dir in ["task/student", "task", "course/common/student", "course/common", "course", ".__input", ".__output", "archive", "sockets"] {
            try fm.removeItem(atPath: rootfs + "/" + dir)
        }
        // INGInious's commands and module in place of gradebox's.
        try fm.removeItem(atPath: rootfs + "/usr/lib/gradebox")
        for name in try fm.contentsOfDirectory(atPath: rootfs + "/usr/lib/inginious/bin") {
            try? fm.removeItem(atPath: rootfs + "/usr/bin/" + name)
            try fm.copyItem(atPath: rootfs + "/usr/lib/inginious/bin/" + name, toPath: rootfs + "/usr/bin/" + name)
        }
        for package in ["inginious_container_api", "inginious"] {
            let dir = rootfs + "/usr/lib/python3/dist-packages/" + package
            try fm.removeItem(atPath: dir + "/run_student.py")
            try fm.copyItem(atPath: dir + "/_inginious_run_student.py", toPath: dir + "/run_student.py")
        }
        var json = try String(contentsOfFile: original.rootfs + "/../image.json", encoding: .utf8)
        json = json.replacingOccurrences(of: original.rootfs.replacingOccurrences(of: "/", with: "\\/"), with: rootfs.replacingOccurrences(of: "/", with: "\\/"))
            .replacingOccurrences(of: "\"name\" : \"\(original.name)\"", with: "\"name\" : \"stock\"")
        try json.write(toFile: store + "/stock/image.json", atomically: true, encoding: .utf8)
        let images = ImageStore(directory: store)
        let environments = Environments(images: images)
        let image = try #require(environments.image(for: "default"))
        #expect(image.name == "stock" && !environments.bringsGradeboxRunStudent(image))

        let course = try Course()
        defer { course.remove() }
        try course.task("t2", yaml: "problems:\n  q1: {type: code}\n", run: """
            #!/bin/bash
            getinput q1 > /task/student/student.py
            cd /task/student
            out=$(echo 4 | run_student python3 student.py)
            python3 -c 'from inginious import run_student; print(run_student.run_student_simple("python3 student.py", "5\\n"))' > simple.txt
            if [ "$out" = 8 ]; then feedback-result success; else feedback-result failed; fi
            feedback-msg -m "$out $(cat simple.txt)"
            """)
        let grader = Grader(sandbox: Sandbox(stateDirectory: NSTemporaryDirectory() + "gradebox-grading-state", images: images))
        let r = await grader.grade(GradingJob(course: course.path, task: "t2", inputs: ["q1": .text("print(int(input()) * 2)")]))
        #expect(r.result == "success" && r.text == "8 ('10\\n', '', 0)", "\(r.result): \(r.text)")
        #expect(r.phases.map(\.name).contains("run_student asked"))
        #expect(r.phases.map(\.name).contains("run_student box ready"))
    }

    /// INGInious's parsetemplate (its own, Python) fills a file from the inputs;
    /// a run script past its memory limit is an overflow.
    @Test func parsetemplateAndAnOverflowingRunScript() async throws {
        let course = try Course()
        defer { course.remove() }
        try course.task("tpl", yaml: "problems:\n  q1: {type: code}\n", run: """
            #!/bin/bash
            printf 'def f():\n@    @q1@@\nprint(f())\n' > /task/template.py
            parsetemplate --output /task/student/filled.py /task/template.py
            if [ "$(python3 /task/student/filled.py)" = 42 ]; then feedback-result success; else feedback-result failed; fi
            feedback-msg -m "$(cat /task/student/filled.py)"
            """)
        let r = await try grader().grade(GradingJob(course: course.path, task: "tpl", inputs: ["q1": .text("x = 6 * 7\nreturn x")]))
        #expect(r.result == "success", "\(r.result): \(r.text)")
        try course.task("big", yaml: "environment_parameters:\n  limits: {time: 5, memory: 50}\n",
                        run: "#!/usr/bin/python3\nx = bytearray(200 * 1024 * 1024)\nprint(len(x))\n", runName: "run")
        let big = await try grader().grade(GradingJob(course: course.path, task: "big", inputs: [:]))
        #expect(big.result == "overflow", "\(big.result): \(big.text)")
    }

    /// INGInious's task tester: recorded submissions graded again and compared.
    @Test func testFilesAreReplayedAndComparedAsTheTaskTesterDoes() async throws {
        let course = try Course()
        defer { course.remove() }
        try course.task("t", yaml: "problems:\n  q1: {type: code}\n  f1: {type: file}\n", run: """
            #!/bin/bash
            if [ "$(getinput q1)" = "42" ]; then feedback-result success; else feedback-result failed; fi
            feedback-msg -m "answer $(getinput q1)"
            feedback-result -i q1 "$(getinput q1 | sed 's/^42$/success/;t;s/.*/failed/')"
            tag-set mytag "$(getinput f1)"
            """)
        let tests = course.path + "/t/test"
        try FileManager.default.createDirectory(atPath: tests, withIntermediateDirectories: true)
        try """
            input:
              q1: "42"
              f1: {filename: a.txt, value: !!binary aGVsbG8=}
            result: success
            text: "answer 42"
            problems:
              q1: [success, ""]
            """.write(toFile: tests + "/good.test", atomically: true, encoding: .utf8)
        try "input:\n  q1: \"41\"\nresult: success\ntext: answer 41\n".write(toFile: tests + "/bad.test", atomically: true, encoding: .utf8)
        let g = try grader()
        let files = TaskTests.files(course: course.path, task: "t")
        #expect(files.map { ($0 as NSString).lastPathComponent } == ["bad.test", "good.test"])
        let bad = try await TaskTests.replay(files[0], course: course.path, task: "t", grader: g)
        #expect(bad.mismatches == ["result: expected success, got failed"], "\(bad.mismatches)")
        let good = try await TaskTests.replay(files[1], course: course.path, task: "t", grader: g)
        #expect(good.passed, "\(good.mismatches)")
    }

    @Test func crashesSayWhatINGIniousSays() async throws {
        let course = try Course()
        defer { course.remove() }
        try course.task("silent", run: "#!/bin/bash\ntrue\n")
        try course.task("norun")
        try course.task("slow", yaml: "environment_parameters:\n  limits: {time: 1, hard_time: 2, memory: 100}\n",
                        run: "#!/bin/bash\nwhile :; do :; done\n")
        let g = try grader()
        let silent = await g.grade(GradingJob(course: course.path, task: "silent", inputs: [:]))
        #expect(silent.result == "crash" && silent.text == "No feedback was given !")
        let norun = await g.grade(GradingJob(course: course.path, task: "norun", inputs: [:]))
        #expect(norun.result == "crash" && norun.text == "'/task/run' could not be found")
        let slow = await g.grade(GradingJob(course: course.path, task: "slow", inputs: [:]))
        #expect(slow.result == "timeout")
        let unknown = await g.grade(GradingJob(course: course.path, task: "silent", inputs: ["nope": .text("x")]))
        #expect(unknown.result == "crash" && unknown.text.contains("no problem nope"))
    }
}
