using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using NexusRag.Core.Auth;
using NexusRag.Core.Jobs;
using NexusRag.Storage;
using NexusRag.Storage.Entities;
using NexusRag.Tests.Infrastructure;

namespace NexusRag.Tests.Integration;

/// <summary>One job runner for every kind: claims by kind, leases, retries with backoff, permanent and poison failures, holds.</summary>
public sealed class JobRunnerTests
{
    /// <summary>A second job kind (a real handler of the port): records runs and fails as told by its payload.</summary>
    private sealed class EchoHandler : IJobHandler
    {
        public System.Collections.Concurrent.ConcurrentQueue<(string Id, int Attempt)> Runs { get; } = new();
        public IReadOnlyCollection<string> Kinds { get; } = ["echo"];
        public string? HeldBy => null;

        public Task<JobResult> HandleAsync(Job job, string workerId, CancellationToken ct)
        {
            Runs.Enqueue((job.Id, job.Attempts));
            return job.PayloadJson switch
            {
                """{"fail":"transient"}""" => throw new InvalidOperationException("flaky backend"),
                """{"fail":"permanent"}""" => throw new PermanentJobFailure("bad payload: cannot ever succeed"),
                _ => Task.FromResult(JobResult.Done),
            };
        }
    }

    private static async Task<JobRow> RowAsync(NexusAppFactory app, string id)
    {
        await using var db = await app.Service<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync();
        return await db.Jobs.AsNoTracking().SingleAsync(j => j.Id == id);
    }

    private static Task<JobRow> WaitForAsync(NexusAppFactory app, string id, string status) =>
        Eventually.ReadAsync(() => RowAsync(app, id), row => row.Status == status);

    [Fact]
    public async Task A_job_of_another_kind_runs_through_the_hosted_runner_with_retries_and_a_permanent_failure_is_final_at_once()
    {
        var echo = new EchoHandler();
        using var app = new NexusAppFactory(new() { ["NexusRag:Ingestion:RetryBackoffBaseMs"] = "20" },
            services => services.AddSingleton<IJobHandler>(echo));
        _ = app.CreateClient();
        var queue = app.Service<IJobQueue>();

        var ok = await queue.EnqueueAsync(new NewJob(Principal.PlatformTenant, "echo", 3, """{"n":1}"""), default);
        var transient = await queue.EnqueueAsync(new NewJob(Principal.PlatformTenant, "echo", 3, """{"fail":"transient"}"""), default);
        var permanent = await queue.EnqueueAsync(new NewJob(Principal.PlatformTenant, "echo", 3, """{"fail":"permanent"}"""), default);

        Assert.Equal(JobStatus.Succeeded, (await WaitForAsync(app, ok, JobStatus.Succeeded)).Status);
        var t = await WaitForAsync(app, transient, JobStatus.Failed);
        Assert.Equal((JobStatus.Failed, 3, "InvalidOperationException: flaky backend"), (t.Status, t.Attempts, t.LastError));
        Assert.Equal([1, 2, 3], echo.Runs.Where(r => r.Id == transient).Select(r => r.Attempt));
        var p = await WaitForAsync(app, permanent, JobStatus.Failed);
        Assert.Equal((JobStatus.Failed, 1, "bad payload: cannot ever succeed"), (p.Status, p.Attempts, p.LastError));
    }

    [Fact]
    public async Task Claims_are_by_kind_a_poison_job_is_failed_and_an_unknown_kind_fails_cleanly()
    {
        var echo = new EchoHandler();
        using var app = new NexusAppFactory(new() { ["NexusRag:Ingestion:WorkerConcurrency"] = "0" }, services => services.AddSingleton<IJobHandler>(echo));
        _ = app.CreateClient();
        var queue = app.Service<IJobQueue>();
        var executor = app.Service<JobExecutor>();
        var id = await queue.EnqueueAsync(new NewJob("t-jobs", "echo", 2), default);

        Assert.Null(await queue.TryClaimAsync("w", [JobKind.Ingest], TimeSpan.FromMinutes(1), default)); // not of the kinds asked for
        // Poison: each claim's worker "dies" (its lease expires) until the attempts exceed the maximum.
        for (var i = 0; i < 2; i++)
        {
            Assert.NotNull(await queue.TryClaimAsync($"dying-{i}", ["echo"], TimeSpan.FromMilliseconds(1), default));
            await Task.Delay(20); // the lease expires
        }
        var third = await queue.TryClaimAsync("survivor", ["echo"], TimeSpan.FromMinutes(1), default);
        Assert.Equal(3, third!.Attempts);
        Assert.Null(await executor.ExecuteAsync(third, "survivor", TimeSpan.FromMinutes(1), default));
        var row = await RowAsync(app, id);
        Assert.Equal(JobStatus.Failed, row.Status);
        Assert.Contains("lease expired", row.LastError, StringComparison.Ordinal);
        Assert.Empty(echo.Runs); // never handed to the handler again

        var orphan = await queue.EnqueueAsync(new NewJob("t-jobs", "no-such-kind", 3), default);
        var claimed = await queue.TryClaimAsync("w", ["no-such-kind"], TimeSpan.FromMinutes(1), default);
        await executor.ExecuteAsync(claimed!, "w", TimeSpan.FromMinutes(1), default);
        Assert.Equal((JobStatus.Failed, "no handler for job kind 'no-such-kind'"), ((await RowAsync(app, orphan)).Status, (await RowAsync(app, orphan)).LastError));
    }

    [Fact]
    public async Task Kill_ingest_holds_ingestion_jobs_but_not_other_kinds()
    {
        var echo = new EchoHandler();
        using var app = new NexusAppFactory(services: services => services.AddSingleton<IJobHandler>(echo));
        await app.AdminForTenantAsync("held"); // the tenant and its corpus
        var op = await app.OperatorAsync();
        (await op.PatchAsync("/v1/admin/rollouts/killswitches", System.Net.Http.Json.JsonContent.Create(new { kill_switches = new Dictionary<string, bool> { ["kill.ingest"] = true } })))
            .EnsureSuccessStatusCode();
        var queue = app.Service<IJobQueue>();
        var ingest = await queue.EnqueueAsync(new NewJob("held", JobKind.Ingest, 3, CorpusId: "docs", DocumentId: "nope"), default);
        var other = await queue.EnqueueAsync(new NewJob("held", "echo", 3), default);
        Assert.Equal(JobStatus.Succeeded, (await WaitForAsync(app, other, JobStatus.Succeeded)).Status);
        await Task.Delay(300); // several poll intervals
        Assert.Equal((JobStatus.Queued, 0), ((await RowAsync(app, ingest)).Status, (await RowAsync(app, ingest)).Attempts));
    }
}
