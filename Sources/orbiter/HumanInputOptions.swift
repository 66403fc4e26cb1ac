import ArgumentParser
import OrbiterCore

/// `--approve-all` and the human input of a local run: the terminal, unless every call is
/// approved up front (questions still go to the terminal, when there is one).
struct HumanInputOptions: ParsableArguments {
    @Flag(name: .customLong("approve-all"),
          help: "Approve every call of tools that need approval, without asking (needed without a terminal). orbiter.ask questions still need a terminal.")
    var approveAll = false

    /// Where this run's approvals and questions go; `terminal` asks the person.
    func input(terminal: TerminalInput = TerminalInput()) -> any HumanInput {
        approveAll ? ApproveAll(questions: terminal) : terminal
    }
}
