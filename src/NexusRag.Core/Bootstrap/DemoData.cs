namespace NexusRag.Core.Bootstrap;

/// <summary>
/// The demo corpus: three documents about the testing strategy and release gates of "Agent 2.0",
/// written so that chunking at <see cref="ChunkSizeChars"/> with no overlap yields ten chunks (one per paragraph).
/// </summary>
public static class DemoData
{
    public const string TenantId = "t1";
    public const string CorpusId = "c1";
    public const string CorpusName = "Agent 2.0 demo corpus";
    public const int ChunkSizeChars = 600;
    public const int ChunkOverlapChars = 0;
    public const int ExpectedChunks = 10;

    public sealed record DemoDocument(string Id, string Filename, string Text);

    public static readonly DemoDocument[] Documents =
    [
        new("demo-testing-strategy", "agent-2.0-testing-strategy.md", string.Join("\n\n",
            "# Agent 2.0 testing strategy\nThe testing strategy of Agent 2.0 rests on four layers. Unit tests cover every tool adapter and prompt template in isolation and must run in under two minutes on a laptop. Contract tests pin the JSON shapes that the agent exchanges with the retrieval service, so a change on either side fails fast in continuous integration instead of in production.",
            "Integration tests run the full agent loop against recorded model responses. Each recorded conversation is replayed with the same retrieval results, and the test asserts on the tool calls the agent makes, the citations it returns and the final answer's structure. Recordings are refreshed weekly, and a diff of the refreshed answers is reviewed by the owning team before it is merged.",
            "Evaluation suites measure answer quality on a frozen set of four hundred questions with graded reference answers. The suite reports groundedness, citation precision and refusal accuracy. A drop of more than two points in groundedness against the previous release candidate blocks the build, whatever the other scores say, because ungrounded answers are the failure users notice first.",
            "Load and chaos testing complete the strategy. A soak test drives one thousand concurrent sessions for two hours against the staging cluster while faults are injected: the vector store is slowed, one model endpoint returns errors, and a worker is killed mid-ingestion. The agent must degrade gracefully, return clear errors instead of hanging, and recover without manual steps.")),
        new("demo-release-gates", "agent-2.0-release-gates.md", string.Join("\n\n",
            "# Agent 2.0 release gates\nA release candidate of Agent 2.0 is promoted only when every release gate is green. Gate one is quality: the evaluation suite must show groundedness of at least 0.92 and citation precision of at least 0.95, and no regression larger than two points against the current production release on any tracked metric.",
            "Gate two is performance: the p95 latency of a full answer must stay under 1.8 seconds and time to first token under 400 milliseconds at the expected peak load, measured in staging with production-sized corpora. Gate three is reliability: the soak test must finish with an error rate below 0.1 percent and no memory growth over the final hour of the run.",
            "Gate four is safety and compliance: the red-team prompt suite must pass with zero critical findings, audit events must be emitted for every run, and the security review must be signed off. When all four gates pass, the release manager promotes the candidate to a five percent canary for twenty-four hours before the full rollout begins.")),
        new("demo-rollout-operations", "agent-2.0-rollout-operations.md", string.Join("\n\n",
            "# Agent 2.0 rollout and operations\nThe rollout of Agent 2.0 is staged. After the canary period, traffic moves to twenty-five, fifty and then one hundred percent, with at least four hours between steps. Each step is gated on the same dashboards as the canary: error rate, p95 latency, groundedness sampled from live traffic by the online evaluator, and user feedback scores.",
            "Rollback is a single command that moves the active release pointer back to the previous version. Kill switches can disable answer generation or document ingestion for all tenants within seconds while retrieval keeps serving. On-call engineers rehearse a rollback every sprint, and a rollback that takes longer than ten minutes is treated as an incident of its own.",
            "After the full rollout, the team holds a release review within one week. It compares the measured figures with the release gates, records every incident and near miss, and files follow-up work. Lessons that change the testing strategy, such as a new chaos scenario or a stricter evaluation threshold, are added before the next release candidate is cut.")),
    ];
}
