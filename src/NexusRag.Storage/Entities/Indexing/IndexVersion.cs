using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace NexusRag.Storage.Entities;

/// <summary>
/// One index version of a corpus: the embedding model and chunking its chunks were made with, its build progress and
/// its last evaluation. The corpus's <c>active_index_version</c> points at the one that serves.
/// </summary>
public sealed class IndexVersionRow
{
    public string TenantId { get; set; } = "";
    public string CorpusId { get; set; } = "";
    public int Version { get; set; }
    public string Status { get; set; } = "";
    /// <summary>Null on an active version 1 whose model the corpus row records (and on a version of an empty corpus).</summary>
    public string? EmbeddingProvider { get; set; }
    public string? EmbeddingModel { get; set; }
    public int? EmbeddingDimensions { get; set; }
    /// <summary>Null: every document keeps its own chunk size and overlap.</summary>
    public int? ChunkSizeChars { get; set; }
    public int? ChunkOverlapChars { get; set; }
    public int DocumentsTotal { get; set; }
    public int DocumentsDone { get; set; }
    public int DocumentsSkipped { get; set; }
    /// <summary>The last document id the build committed (documents are built in id order).</summary>
    public string? BuildCursor { get; set; }
    public string? JobId { get; set; }
    public string? EvaluationJson { get; set; }
    public string? FailureReason { get; set; }
    public string CreatedBy { get; set; } = "";
    public DateTime CreatedAt { get; set; }
    public DateTime UpdatedAt { get; set; }
    public DateTime? BuiltAt { get; set; }
    public DateTime? ActivatedAt { get; set; }
    public DateTime? RetiredAt { get; set; }
    /// <summary>When a retired or failed version's chunks were deleted.</summary>
    public DateTime? DroppedAt { get; set; }
}

internal sealed class IndexVersionConfiguration : IEntityTypeConfiguration<IndexVersionRow>
{
    public void Configure(EntityTypeBuilder<IndexVersionRow> e)
    {
        e.ToTable("index_versions");
        e.HasKey(x => new { x.TenantId, x.CorpusId, x.Version });
        e.Property(x => x.Status).HasMaxLength(16);
        e.HasIndex(x => new { x.Status, x.DroppedAt });
    }
}

/// <summary>The append-only registry of index-version events: created, built, failed, evaluated, promoted, rolled back, dropped.</summary>
public sealed class IndexVersionEventRow
{
    public long Id { get; set; }
    public string TenantId { get; set; } = "";
    public string CorpusId { get; set; } = "";
    public int Version { get; set; }
    public string EventType { get; set; } = "";
    public string ActorType { get; set; } = "";
    public string ActorId { get; set; } = "";
    public string? Reason { get; set; }
    public string? DetailsJson { get; set; }
    public DateTime OccurredAt { get; set; }
}

internal sealed class IndexVersionEventConfiguration : IEntityTypeConfiguration<IndexVersionEventRow>
{
    public void Configure(EntityTypeBuilder<IndexVersionEventRow> e)
    {
        e.ToTable("index_version_events");
        e.HasKey(x => x.Id);
        e.Property(x => x.Id).ValueGeneratedOnAdd();
        e.Property(x => x.EventType).HasMaxLength(32);
        e.HasIndex(x => new { x.TenantId, x.CorpusId, x.Id });
    }
}

/// <summary>A BEIR-style query set of a corpus (queries and graded document judgments), for evaluating index versions.</summary>
public sealed class EvalSetRow
{
    public string TenantId { get; set; } = "";
    public string Id { get; set; } = "";
    public string CorpusId { get; set; } = "";
    public string Name { get; set; } = "";
    public string QueriesJson { get; set; } = "[]";
    public string QrelsJson { get; set; } = "[]";
    public int QueryCount { get; set; }
    public int JudgmentCount { get; set; }
    public string CreatedBy { get; set; } = "";
    public DateTime CreatedAt { get; set; }
}

internal sealed class EvalSetConfiguration : IEntityTypeConfiguration<EvalSetRow>
{
    public void Configure(EntityTypeBuilder<EvalSetRow> e)
    {
        e.ToTable("eval_sets");
        e.HasKey(x => new { x.TenantId, x.Id });
        e.HasIndex(x => new { x.TenantId, x.CorpusId, x.CreatedAt });
    }
}
