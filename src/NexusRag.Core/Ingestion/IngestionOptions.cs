using System.ComponentModel.DataAnnotations;

namespace NexusRag.Core.Ingestion;

/// <summary>Configuration section <c>NexusRag:Ingestion</c>.</summary>
public sealed class IngestionOptions : IHasParseErrors
{
    public const string Section = "NexusRag:Ingestion";

    /// <summary>Concurrent job loops in this process (INGEST_MAX_CONCURRENCY overrides).</summary>
    [Range(0, 64)] [FlatName("INGEST_MAX_CONCURRENCY")] public int WorkerConcurrency { get; set; } = 2;
    /// <summary>
    /// Most ingestion jobs one loop claims and commits together (INGEST_JOB_BATCH overrides): each is extracted, chunked and
    /// embedded on its own, and the batch's chunks, documents and job completions commit in one transaction. 1 = one at a time.
    /// </summary>
    [Range(1, 256)] [FlatName("INGEST_JOB_BATCH")] public int JobBatchSize { get; set; } = 32;
    [Range(1, 100)] public int MaxAttempts { get; set; } = 3;
    [Range(1, 600_000)] public int LeaseMs { get; set; } = 30_000;
    [Range(1, 600_000)] public int PollIntervalMs { get; set; } = 500;
    [Range(1, 3_600_000)] public int RetryBackoffBaseMs { get; set; } = 2_000;
    [Range(1, 100_000)] public int DefaultChunkSizeChars { get; set; } = 1200;
    [Range(0, 99_999)] public int DefaultChunkOverlapChars { get; set; } = 150;
    [Range(1, 1_000_000)] public int MaxChunkSizeChars { get; set; } = 20_000;
    public List<string> ParseErrors { get; } = [];
}
