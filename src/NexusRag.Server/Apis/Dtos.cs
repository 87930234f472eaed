using System.Text.Json;
using NexusRag.Core.Model;

namespace NexusRag.Server.Apis;

public sealed class CreateCorpusRequest
{
    public string? Id { get; set; }
    public string? Name { get; set; }
    public JsonElement? ProviderConfigJson { get; set; }
}

public sealed class PatchCorpusRequest
{
    public string? Name { get; set; }
    public JsonElement? ProviderConfigJson { get; set; }
}

public sealed class IngestTextRequest
{
    public string? CorpusId { get; set; }
    public string? Text { get; set; }
    public string? DocumentId { get; set; }
    public string? Filename { get; set; }
    public bool? Overwrite { get; set; }
    public JsonElement? Metadata { get; set; }
    public int? ChunkSizeChars { get; set; }
    public int? ChunkOverlapChars { get; set; }
}

public sealed class ReindexRequest
{
    public int? ChunkSizeChars { get; set; }
    public int? ChunkOverlapChars { get; set; }
}

/// <summary><c>embedding</c> is the model that produced the corpus's vectors, recorded at its first ingest (null before).</summary>
public sealed record CorpusDto(string Id, string Name, JsonElement ProviderConfigJson, EmbeddingDto? Embedding, DateTime CreatedAt, DateTime UpdatedAt)
{
    public static CorpusDto From(CorpusInfo c)
    {
        using var doc = JsonDocument.Parse(c.ProviderConfigJson);
        return new(c.Id, c.Name, doc.RootElement.Clone(),
            c.Embedding is { } e ? new EmbeddingDto(e.Provider, e.Model, e.Dimensions) : null, c.CreatedAt, c.UpdatedAt);
    }
}

public sealed record EmbeddingDto(string Provider, string Model, int Dimensions);

public sealed class SearchRequestBody
{
    public string? CorpusId { get; set; }
    public string? Query { get; set; }
    public int? TopK { get; set; }
    public string? Mode { get; set; }
    public JsonElement? Filters { get; set; }
    public bool? Explain { get; set; }
}

public sealed record SearchResponseDto(string CorpusId, string Query, string Mode, int TopK, IReadOnlyList<SearchHitDto> Results);

public sealed record SearchHitDto(
    string ChunkId, string DocumentId, int ChunkIndex, double Score, string Source, string Text,
    int StartOffset, int EndOffset, JsonElement Metadata, SearchExplainDto? Explain);

/// <summary>Per-leg positions (1-based) and raw scores: BM25 for lexical, cosine for vector.</summary>
public sealed record SearchExplainDto(int? LexicalRank, double? LexicalScore, int? VectorRank, double? VectorScore);

public sealed record DeletedDto(string Id, bool Deleted);

public sealed record DocumentDto(
    string Id, string CorpusId, string? Filename, string ContentType, long SizeBytes, string ContentSha256, string Status,
    string? FailureReason, int NumChunks, int ChunkSizeChars, int ChunkOverlapChars, JsonElement? Metadata, string? LastJobId,
    DateTime CreatedAt, DateTime UpdatedAt, DateTime? QueuedAt, DateTime? ProcessingStartedAt, DateTime? CompletedAt,
    DateTime? FailedAt, DateTime? LastReindexedAt)
{
    public static DocumentDto From(DocumentInfo d)
    {
        JsonElement? meta = null;
        if (d.MetadataJson is not null)
        {
            using var doc = JsonDocument.Parse(d.MetadataJson);
            meta = doc.RootElement.Clone();
        }
        return new(d.Id, d.CorpusId, d.Filename, d.ContentType, d.SizeBytes, d.ContentSha256, d.Status, d.FailureReason,
            d.NumChunks, d.ChunkSizeChars, d.ChunkOverlapChars, meta, d.LastJobId, d.CreatedAt, d.UpdatedAt, d.QueuedAt,
            d.ProcessingStartedAt, d.CompletedAt, d.FailedAt, d.LastReindexedAt);
    }
}

public sealed record AcceptedDto(string DocumentId, string CorpusId, string JobId, string Status, string StatusUrl, bool Deduplicated);

public sealed record ChunkDto(string Id, string DocumentId, int ChunkIndex, string Text, int StartOffset, int EndOffset, JsonElement Metadata, long Seq)
{
    public static ChunkDto From(ChunkInfo c)
    {
        using var doc = JsonDocument.Parse(c.MetadataJson);
        return new(c.Id, c.DocumentId, c.ChunkIndex, c.Text, c.StartOffset, c.EndOffset, doc.RootElement.Clone(), c.Seq);
    }
}
