import ArgumentParser
import Glibc
import OOMKit
import OOMTestSupport
import Testing

@testable import OomctlCommands

/// The committed completion scripts are the ones the parser generates, and they work in bash.
@Suite struct CompletionTests {
    static let completions: String = {
        let tests = #filePath.split(separator: "/", omittingEmptySubsequences: false).dropLast(3)
        return tests.joined(separator: "/") + "/completions"
    }()

    @Test(arguments: [(CompletionShell.bash, "oomctl.bash"), (.zsh, "_oomctl"), (.fish, "oomctl.fish")])
    func committedScriptsMatchTheParser(shell: CompletionShell, file: String) {
        let committed = ProcessRunner.readText(Self.completions + "/" + file)
        let generated = Oomctl.completionScript(for: shell)
        // --generate-completion-script prints the script with a final newline.
        #expect(
            committed == generated + (generated.hasSuffix("\n") ? "" : "\n"),
            "regenerate: .build/debug/oomctl --generate-completion-script \(shell) > completions/\(file)")
    }

    /// Sources the bash completion, with the built oomctl first on PATH, and completes a line.
    private func complete(_ line: String, environment: [String: String] = [:]) -> [String] {
        let directory = ProcessRunner.oomctlPath.split(separator: "/", omittingEmptySubsequences: false).dropLast()
            .joined(separator: "/")
        let script = """
            source "$COMPLETION"
            COMP_LINE="$LINE"; COMP_POINT=${#COMP_LINE}
            read -ra COMP_WORDS <<< "$COMP_LINE"
            [[ "$COMP_LINE" == *" " ]] && COMP_WORDS+=("")
            COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
            _oomctl oomctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
            printf '%s\\n' "${COMPREPLY[@]}"
            """
        var variables = environment
        variables["PATH"] = directory + ":/usr/bin:/bin"
        variables["COMPLETION"] = Self.completions + "/oomctl.bash"
        variables["LINE"] = line
        let result = ProcessRunner.run("/bin/bash", ["-c", script], environment: variables)
        return result.standardOutput.split(separator: "\n").map(String.init)
    }

    @Test func bashCompletesSubcommands() {
        let words = complete("oomctl ")
        for subcommand in ["watch", "snapshot", "kill", "simulate"] {
            #expect(words.contains(subcommand), "\(words)")
        }
        #expect(!words.contains("hog") && !words.contains("guardian"), "hidden helpers stay hidden")
    }

    @Test func bashCompletesCgroupPaths() {
        let tree = FixtureTree.hybridV1()
        tree.v1Cgroup("/system.slice", usage: 1, limit: nil)
        tree.v1Cgroup("/system.slice/sshd.service", usage: 1, limit: nil)
        tree.v1Cgroup("/user.slice", usage: 1, limit: nil)
        let top = complete("oomctl snapshot /s", environment: ["OOMCTL_ROOT": tree.root])
        #expect(top == ["/system.slice"], "\(top)")
        let deeper = complete("oomctl kill /system.slice/", environment: ["OOMCTL_ROOT": tree.root])
        #expect(deeper == ["/system.slice/sshd.service"], "\(deeper)")
    }

    @Test func bashCompletesPolicyNames() {
        let kill = complete("oomctl watch /x --kill ")
        #expect(Set(kill) == Set(PolicyName.allCases.map(\.rawValue) + ["none"]), "\(kill)")
        let replay = complete("oomctl simulate --from a.json --policy p")
        #expect(replay == ["priority"], "\(replay)")
        let under = complete("oomctl kill --under /x --policy l")
        #expect(under == ["largest"], "\(under)")
    }

    @Test func bashCompletesTheWordsOfTypedOptions() {
        let log = complete("oomctl watch /x --log j")
        #expect(Set(log) == ["journal", "json"], "\(log)")
        let events = complete("oomctl watch /x --on oom")
        #expect(Set(events) == ["oom", "oom-kill"], "\(events)")
        let signals = complete("oomctl kill --pid 5 --signal TE")
        #expect(signals == ["TERM"], "\(signals)")
    }
}
