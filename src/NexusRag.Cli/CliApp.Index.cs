using System.CommandLine;
using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using NexusRag.Search;
using NexusRag.Storage;
using Spectre.Console;

namespace NexusRag.Cli;

public sealed partial class CliApp
{
    private Command IndexCommand()
    {
        var index = new Command("index", "The derived search index");
        var rebuild = new Command("rebuild", "Rebuild the search index snapshot from the chunks table (restart a running server afterwards to load it)");
        rebuild.SetAction((_, ct) => WithServices(ct, async (sp, ct2) =>
        {
            var path = sp.GetRequiredService<IOptions<StorageOptions>>().Value.IndexSnapshotPath();
            if (File.Exists(path)) File.Delete(path);
            var sw = Stopwatch.StartNew();
            var hybrid = sp.GetRequiredService<HybridSearchIndex>();
            await hybrid.CatchUpAsync(ct2);
            await hybrid.SaveSnapshotAsync(ct2);
            var stats = hybrid.Stats();
            _console.WriteLine($"Rebuilt the search index up to change-log seq {hybrid.AppliedSeq}: {stats.Keys.Select(k => (k.Tenant, k.Corpus)).Distinct().Count()} corpora ({stats.Count} index versions), {stats.Values.Sum(s => s.Chunks)} chunks in {sw.Elapsed.TotalSeconds:F1} s.");
            _console.WriteLine($"Snapshot: {path}");
            return 0;
        }));
        index.Subcommands.Add(rebuild);
        return index;
    }
}
