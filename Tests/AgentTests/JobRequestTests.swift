import Foundation
import Testing
@testable import Agent
@testable import MessagePack
@testable import Grading

private func newJob(course: String = "c", task: String = "t", environment: String = "default",
                    parameters: MessagePackValue = .map([]), inputdata: MessagePackValue = .map([])) -> BackendNewJob {
    BackendNewJob(jobID: "j1", courseID: course, taskID: task, taskProblems: .map([]), inputdata: inputdata,
                  environmentType: "docker", environment: environment, environmentParameters: parameters, debug: .off)
}

private func map(_ pairs: [(String, MessagePackValue)]) -> MessagePackValue { .map(pairs.map { (.string($0.0), $0.1) }) }

@Suite("a back-end's new job, made a grading job with the Docker agent's checks")
final class JobRequestTests {
    let tasks: String = {
        let dir = NSTemporaryDirectory() + "gradebox-agent-tasks-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: dir + "/c/t", withIntermediateDirectories: true)
        return dir
    }()

    deinit { try? FileManager.default.removeItem(atPath: tasks) }

    @Test func parametersAreReadAsINGIniousReadsThem() throws {
        let defaults = try JobRequest.parameters(.map([]), environment: "default")
        #expect(defaults.limits == TaskLimits(cpuSeconds: 30, wallSeconds: 90, memoryMegabytes: 200))
        #expect(defaults.runCommand == nil && !defaults.networkGrading)
        let set = try JobRequest.parameters(map([
            ("limits", map([("time", .string("5")), ("hard_time", .int(0)), ("memory", .float(10.7))])),
            ("run_cmd", .string("python3 /task/x.py")), ("network_grading", .bool(true)),
        ]), environment: "e")
        #expect(set.limits == TaskLimits(cpuSeconds: 5, wallSeconds: 15, memoryMegabytes: 20), "hard_time 0 is 3 x time; memory at least 20")
        #expect(set.runCommand == "python3 /task/x.py" && set.networkGrading && set.environmentID == "e")
        for bad in [map([("limits", .string("x"))]), map([("limits", map([("time", .string("fast"))]))]),
                    map([("run_cmd", .int(3))]), .string("nope")] {
            #expect(throws: JobRequest.BadParameter.self) { try JobRequest.parameters(bad, environment: "e") }
        }
    }

    @Test func inputsKeepTextFilesAnswersAndThePlatformsEntries() {
        let inputs = JobRequest.inputs(map([
            ("q1", .string("print(42)")),
            ("f", map([("filename", .string("a.c")), ("value", .binary([1, 2, 3]))])),
            ("mcq", .array([.int(1), .int(3)])),
            ("@username", .string("alice")),
            ("@random", .array([.float(0.5)])),
        ]))
        #expect(inputs["q1"] == .text("print(42)"))
        #expect(inputs["f"] == .file(name: "a.c", bytes: [1, 2, 3]))
        #expect(inputs["mcq"] == .value(.array([.number(1), .number(3)])))
        #expect(inputs["@username"] == .text("alice") && inputs["@random"] == .value(.array([.number(0.5)])))
    }

    @Test func refusalsAreTheDockerAgentsTexts() {
        func refusal(_ job: BackendNewJob, memory: Int = 1000) -> String? {
            do {
                _ = try JobRequest.make(job, tasks: tasks, environments: ["default"], memoryPerSlotMB: memory)
                return nil
            } catch { return error.text }
        }
        #expect(refusal(newJob(environment: "other")) == JobRequest.unknownEnvironment)
        #expect(refusal(newJob(task: "missing")) == JobRequest.taskUnavailable)
        #expect(refusal(newJob(course: "..", task: "t")) == JobRequest.taskUnavailable, "no way out of the tasks folder")
        #expect(refusal(newJob(parameters: .string("x"))) == JobRequest.unreadableParameters)
        #expect(refusal(newJob(parameters: map([("limits", map([("memory", .int(500))]))])), memory: 400)
                == "Not enough memory on agent (available: 400MB). Please contact your course administrator.")
        #expect(refusal(newJob()) == nil)
    }

    @Test func theJobCarriesTheStateAndDebugAndTheBackEndsSettings() throws {
        var message = newJob(parameters: map([("limits", map([("time", .int(7))]))]),
                             inputdata: map([("@state", .string("s1")), ("q", .string("x"))]))
        message.debug = .ssh
        let job = try JobRequest.make(message, tasks: tasks, environments: ["default"], memoryPerSlotMB: 1000)
        #expect(job.state == "s1" && job.debug && job.settings?.limits.cpuSeconds == 7)
        #expect(job.taskDirectory == tasks + "/c/t")
    }
}
