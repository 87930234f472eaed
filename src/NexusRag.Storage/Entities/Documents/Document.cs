using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace NexusRag.Storage.Entities;

public sealed class DocumentRow
{
    public string TenantId { get; set; } = "";
    public string Id { get; set; } = "";
    public string CorpusId { get; set; } = "";
    public string? Filename { get; set; }
    public string ContentType { get; set; } = "";
    public long SizeBytes { get; set; }
    public string ContentSha256 { get; set; } = "";
    /// <summary>Raw content of documents written before originals had their own store; empty for newer ones.</summary>
    public byte[] Content { get; set; } = [];
    /// <summary>What extraction recorded: format, pages, OCR pages, skipped pages, extracted metadata, child documents.</summary>
    public string? ExtractionJson { get; set; }
    public string Status { get; set; } = "";
    public string? FailureReason { get; set; }
    public int NumChunks { get; set; }
    public int ChunkSizeChars { get; set; }
    public int ChunkOverlapChars { get; set; }
    public string? MetadataJson { get; set; }
    /// <summary>ABAC labels (<c>{"sensitivity": "high"}</c>); null when the document has none.</summary>
    public string? LabelsJson { get; set; }
    public string? LastJobId { get; set; }
    public DateTime CreatedAt { get; set; }
    public DateTime UpdatedAt { get; set; }
    public DateTime? QueuedAt { get; set; }
    public DateTime? ProcessingStartedAt { get; set; }
    public DateTime? CompletedAt { get; set; }
    public DateTime? FailedAt { get; set; }
    public DateTime? LastReindexedAt { get; set; }
    /// <summary>When retention or a DSAR dropped this document's content (ids and counts kept); null otherwise.</summary>
    public DateTime? AnonymizedAt { get; set; }
}

internal sealed class DocumentConfiguration : IEntityTypeConfiguration<DocumentRow>
{
    public void Configure(EntityTypeBuilder<DocumentRow> e)
    {
        e.ToTable("documents");
        e.HasKey(x => new { x.TenantId, x.Id });
        e.HasIndex(x => new { x.TenantId, x.CreatedAt, x.Id });
        e.HasIndex(x => new { x.TenantId, x.CorpusId, x.Status });
        e.HasIndex(x => new { x.TenantId, x.ContentSha256 });
    }
}
