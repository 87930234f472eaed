using System.Text.Json;
using NexusRag.Core.Backups;
using NexusRag.Search;
using NexusRag.Storage.Backups;

namespace NexusRag.Server.Ops;

/// <summary>
/// <c>restore_drill_scheduled</c>: the newest backup restored into a scratch store and checked (row counts, audit chains,
/// and searches: a lexical index is built over the restored chunks of the biggest corpus and each of up to
/// <see cref="Samples"/> chunks, spread over it, must come back in the top 10 for a query made of its own first words).
/// A drill with a failing check fails its run, so "last successful drill" means every check passed.
/// </summary>
public sealed class RestoreDrillTask(RestoreDrillRunner runner) : IMaintenanceTask
{
    public const int Samples = 5;
    public string Name => MaintenanceTasks.RestoreDrillScheduled;

    public async Task<object> RunAsync(JsonElement args, CancellationToken ct)
    {
        var result = await runner.RunAsync(SearchCheckAsync, ct);
        if (!result.Ok)
            throw new InvalidOperationException("restore drill failed: " + string.Join("; ", result.Checks.Where(c => !c.Ok).Select(c => $"{c.Name}: {c.Detail}")));
        return result;
    }

    internal static Task<DrillCheck> SearchCheckAsync(IReadOnlyList<DrillChunk> chunks, CancellationToken ct)
    {
        using var index = new StandaloneLexicalIndex(chunks.Select(c => (c.ChunkId, c.DocumentId, c.ChunkIndex, c.Text)));
        var step = Math.Max(1, chunks.Count / Samples);
        var missed = new List<string>();
        var tried = 0;
        for (var i = 0; i < chunks.Count && tried < Samples; i += step)
        {
            ct.ThrowIfCancellationRequested();
            var words = chunks[i].Text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Take(12).ToList();
            if (words.Count == 0) continue;
            tried++;
            if (!index.Search(string.Join(' ', words), 10).Contains(chunks[i].ChunkId)) missed.Add(chunks[i].ChunkId);
        }
        return Task.FromResult(new DrillCheck("searches", missed.Count == 0,
            missed.Count == 0 ? $"{tried} sampled chunk(s) of {index.Count} found by searches for their own words"
                : $"not found by their own words: {string.Join(", ", missed)}"));
    }
}
