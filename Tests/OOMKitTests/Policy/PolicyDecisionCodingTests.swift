import FoundationEssentials
import Testing

@testable import OOMKit

@Suite struct PolicyDecisionCodingTests {
    @Test func aDecisionRoundTripsThroughJSON() throws {
        let decision = try decide(.v1()) {
            $0.policy = .priority
            $0.kind = .process
            $0.prefer = ["nginx"]
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(decision)
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains(#""policy":"priority""#) && text.contains(#""kind":"process""#))
        #expect(text.contains(#""target":{"cgroup":"/web/front","kind":"process","name":"nginx","pid":200}"#))
        let decoded = try JSONDecoder().decode(Decision.self, from: data)
        #expect(decoded.policy == .priority && decoded.kind == .process && decoded.root == decision.root)
        #expect(decoded.victim?.target == decision.victim?.target)
        #expect(decoded.order == decision.order)
        #expect(decoded.ranked.map(\.reasons) == decision.ranked.map(\.reasons))
        #expect(decoded.ranked.map(\.memory) == decision.ranked.map(\.memory))
        #expect(decoded.ranked.map(\.rank) == decision.ranked.map(\.rank))
        #expect(decoded.excluded.map(\.reason) == decision.excluded.map(\.reason))
        #expect(decoded.excluded.map(\.target) == decision.excluded.map(\.target))
        #expect(decoded.summary == decision.summary)

        let cgroupDecision = try decide(.v2(), under: "/workload") { $0.policy = .oomScore }
        let cgroupData = try encoder.encode(cgroupDecision)
        #expect(
            String(decoding: cgroupData, as: UTF8.self).contains(
                #""target":{"cgroup":"/workload/jobs","kind":"cgroup"}"#))
        let cgroupDecoded = try JSONDecoder().decode(Decision.self, from: cgroupData)
        #expect(cgroupDecoded.victim?.score == 800 && cgroupDecoded.order == cgroupDecision.order)
    }

    @Test func policyNamesParseFromTheirCommandLineSpelling() {
        #expect(PolicyName(rawValue: "oom-score") == .oomScore)
        #expect(PolicyName.allCases.map(\.rawValue) == ["largest", "priority", "triggering", "oom-score"])
        #expect(VictimKind(rawValue: "process") == .process)
    }
}
