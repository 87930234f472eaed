using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NexusRag.Core.Documents;
using NexusRag.Core.Search;

namespace NexusRag.Search;

/// <summary>A snapshot load: corpora, chunks, HNSW graphs put back as saved (not rebuilt) and the time it took.</summary>
public sealed record SnapshotLoad(int Corpora, int Chunks, int GraphsRestored, double Ms);

/// <summary>Where the index keeps its snapshot (null: no snapshot, rebuild from the store on every start).</summary>
public sealed record SearchIndexLocation(string? SnapshotPath);

/// <summary>
/// The in-process hybrid index for every corpus this process serves, derived from the store's chunk change log.
/// It applies the log in seq order (upserts and deletions), so it always converges on the chunks table; it starts
/// from its snapshot when one matches the store, else from seq 0. <see cref="CatchUpAsync"/> gives read-your-writes:
/// a search that starts after a commit sees it.
/// </summary>
public sealed class HybridSearchIndex(
    IChunkChangeFeed feed,
    ITextAnalyzer analyzer,
    IOptions<SearchOptions> options,
    SearchIndexLocation location,
    Core.Observability.NexusInstrumentation telemetry,
    Core.Crypto.IFileSealer sealer,
    ILogger<HybridSearchIndex> logger) : ISearchIndex
{
    private const int BatchSize = 2_000;
    private readonly ConcurrentDictionary<(string Tenant, string Corpus, int Version), CorpusIndex> _corpora = new();
    private readonly SemaphoreSlim _gate = new(1, 1);
    private long _applied;
    private long _lastCompletedCatchUpStart = long.MinValue;
    private bool _loaded;
    private long _changesSinceSnapshot;
    private long _chunksAtSnapshot;

    public long AppliedSeq => Interlocked.Read(ref _applied);

    public async Task CatchUpAsync(CancellationToken ct)
    {
        var requested = Stopwatch.GetTimestamp();
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            // A catch-up that began after this call did read everything committed before it: nothing more to do.
            if (Volatile.Read(ref _lastCompletedCatchUpStart) > requested) return;
            var started = Stopwatch.GetTimestamp();
            if (!_loaded) await LoadSnapshotAsync(ct).ConfigureAwait(false);
            // The common case, nothing new, costs one single-row read.
            if (await feed.MaxSeqAsync(ct).ConfigureAwait(false) <= _applied)
            {
                Volatile.Write(ref _lastCompletedCatchUpStart, started);
                return;
            }
            while (true)
            {
                var batch = await feed.ReadAsync(_applied, BatchSize, ct).ConfigureAwait(false);
                if (batch.Count == 0) break;
                Apply(batch);
                if (batch.Count < BatchSize) break;
            }
            Volatile.Write(ref _lastCompletedCatchUpStart, started);
        }
        finally { _gate.Release(); }
    }

    private void Apply(IReadOnlyList<ChunkChange> batch)
    {
        // Analyze outside the corpus locks; then apply per corpus in seq order under one write lock each.
        var prepared = batch.Select(c => (c.TenantId, c.CorpusId, c.IndexVersion, c.ChunkId, Chunk: c.Kind == ChunkChangeKind.Upsert && c.Chunk is { } ch
                ? new IndexedChunk(ch.Id, ch.DocumentId, ch.ChunkIndex, ch.Seq, CorpusIndex.FieldsOf(ch.MetadataJson), analyzer.Analyze(ch.Text), c.Embedding)
                : null))
            .ToList();
        foreach (var group in prepared.GroupBy(p => (p.TenantId, p.CorpusId, p.IndexVersion)))
            _corpora.GetOrAdd(group.Key, _ => new CorpusIndex(options.Value)).Apply(group.Select(p => (p.ChunkId, p.Chunk)));
        Interlocked.Exchange(ref _applied, batch[^1].Seq);
        _changesSinceSnapshot += batch.Count;
    }

    public IReadOnlyList<IndexHit> Search(IndexQuery query)
    {
        if (!_corpora.TryGetValue((query.TenantId, query.CorpusId, query.IndexVersion), out var index)) return [];
        var tokens = query.Mode == SearchMode.Vector ? [] : analyzer.Analyze(query.Text);
        return index.Search(query, tokens, telemetry.Source);
    }

    /// <summary>Live chunks and whether HNSW serves the vector leg, per corpus index version (for ops and tests).</summary>
    public IReadOnlyDictionary<(string Tenant, string Corpus, int Version), (int Chunks, bool Hnsw)> Stats() =>
        _corpora.ToDictionary(kv => kv.Key, kv => (kv.Value.LiveChunks, kv.Value.UsesHnsw));

    /// <summary>What the last start loaded from the snapshot (null: it started from the store).</summary>
    public SnapshotLoad? LastLoad { get; private set; }

    public bool SnapshotDue => IsSnapshotDue(Interlocked.Read(ref _changesSinceSnapshot), Interlocked.Read(ref _chunksAtSnapshot), options.Value.SnapshotEveryChanges);

    /// <summary>
    /// A snapshot is due after <paramref name="every"/> changes, or after a tenth of the chunks the last one held if that
    /// is more: writing a snapshot costs its whole size, so a fixed cadence made a bulk load write ever larger snapshots
    /// ever more often (a 1M-chunk load: ~100 snapshots, the last ones 16 s each); this way a growing index writes a
    /// bounded multiple of its size, and a restart replays at most a tenth of it from the change log. 0: only at shutdown.
    /// </summary>
    internal static bool IsSnapshotDue(long changes, long chunksAtSnapshot, int every) =>
        every > 0 && changes >= Math.Max(every, chunksAtSnapshot / 10);

    /// <summary>Writes the snapshot atomically (temp file + rename). No-op without a snapshot path.</summary>
    public async Task SaveSnapshotAsync(CancellationToken ct)
    {
        if (location.SnapshotPath is not { } path) return;
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (!_loaded) return; // never overwrite a snapshot this process has not read
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            var tmp = $"{path}.{Environment.ProcessId}.tmp"; // replicas sharing a data directory never write the same temp file
            var sw = Stopwatch.StartNew();
            var corpora = _corpora.Select(kv => new IndexSnapshot.Corpus(kv.Key.Tenant, kv.Key.Corpus, kv.Key.Version, kv.Value.ExportSnapshot())).ToList();
            await using (var file = await sealer.SealAsync(File.Create(tmp), "search-snapshot", ct).ConfigureAwait(false))
                IndexSnapshot.Write(file, analyzer.Id, _applied, corpora);
            File.Move(tmp, path, overwrite: true);
            _changesSinceSnapshot = 0;
            Interlocked.Exchange(ref _chunksAtSnapshot, corpora.Sum(c => (long)c.Index.Slots.Count));
            logger.LogInformation("Search index snapshot written at seq {Seq}: {Corpora} corpora, {Chunks} chunks, {Graphs} graph(s) in {Ms} ms",
                _applied, corpora.Count, corpora.Sum(c => c.Index.Slots.Count), corpora.Count(c => c.Index.Graph is not null), sw.ElapsedMilliseconds);
        }
        finally { _gate.Release(); }
    }

    private async Task LoadSnapshotAsync(CancellationToken ct)
    {
        _loaded = true;
        if (location.SnapshotPath is not { } path || !File.Exists(path)) return;
        var sw = Stopwatch.StartNew();
        try
        {
            IndexSnapshot.Content snapshot;
            await using (var file = await sealer.OpenAsync(File.OpenRead(path), "search-snapshot", ct).ConfigureAwait(false))
                snapshot = IndexSnapshot.Read(file);
            var storeSeq = await feed.MaxSeqAsync(ct).ConfigureAwait(false);
            if (snapshot.AnalyzerId != analyzer.Id || snapshot.Seq > storeSeq)
            {
                logger.LogWarning("Search index snapshot discarded (analyzer {A}, seq {S}; store at seq {Store}); rebuilding from the store",
                    snapshot.AnalyzerId, snapshot.Seq, storeSeq);
                return;
            }
            foreach (var c in snapshot.Corpora)
            {
                var index = new CorpusIndex(options.Value);
                index.LoadSnapshot(c.Index);
                _corpora[(c.Tenant, c.CorpusId, c.IndexVersion)] = index;
            }
            _applied = snapshot.Seq;
            Interlocked.Exchange(ref _chunksAtSnapshot, snapshot.Corpora.Sum(c => (long)c.Index.Slots.Count));
            LastLoad = new SnapshotLoad(snapshot.Corpora.Count, snapshot.Corpora.Sum(c => c.Index.Slots.Count), _corpora.Values.Count(c => c.GraphRestored), sw.Elapsed.TotalMilliseconds);
            logger.LogInformation("Search index loaded from snapshot at seq {Seq} in {Ms} ms ({Graphs} HNSW graph(s) restored)", snapshot.Seq, sw.ElapsedMilliseconds, LastLoad.GraphsRestored);
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or EndOfStreamException or System.Security.Cryptography.CryptographicException
                                       or Core.Errors.NexusException)
        {
            _corpora.Clear();
            _applied = 0;
            logger.LogWarning(ex, "Search index snapshot unreadable; rebuilding from the store");
        }
    }
}
