using System.Text;
using Microsoft.EntityFrameworkCore;
using NexusRag.Storage.Entities;

namespace NexusRag.Storage;

/// <summary>
/// The system of record. Provider-neutral model; each provider has a subclass that owns its migrations.
/// </summary>
public abstract class NexusDbContext(DbContextOptions options) : DbContext(options)
{
    public DbSet<TenantRow> Tenants => Set<TenantRow>();
    public DbSet<ApiKeyRow> ApiKeys => Set<ApiKeyRow>();
    public DbSet<CorpusRow> Corpora => Set<CorpusRow>();
    public DbSet<DocumentRow> Documents => Set<DocumentRow>();
    public DbSet<ChunkRow> Chunks => Set<ChunkRow>();
    public DbSet<SeqCounterRow> SeqCounters => Set<SeqCounterRow>();
    public DbSet<ChunkDeletionRow> ChunkDeletions => Set<ChunkDeletionRow>();
    public DbSet<IngestionJobRow> IngestionJobs => Set<IngestionJobRow>();
    public DbSet<SessionRow> Sessions => Set<SessionRow>();
    public DbSet<MessageRow> Messages => Set<MessageRow>();
    public DbSet<AuditEventRow> AuditEvents => Set<AuditEventRow>();
    public DbSet<AuditChainHeadRow> AuditChainHeads => Set<AuditChainHeadRow>();
    public DbSet<RolloutSettingRow> RolloutSettings => Set<RolloutSettingRow>();
    public DbSet<TenantPlanRow> TenantPlans => Set<TenantPlanRow>();
    public DbSet<TenantQuotaRow> TenantQuotas => Set<TenantQuotaRow>();
    public DbSet<UsageCounterRow> UsageCounters => Set<UsageCounterRow>();
    public DbSet<PlanOverrideRow> PlanOverrides => Set<PlanOverrideRow>();

    protected override void ConfigureConventions(ModelConfigurationBuilder b)
    {
        b.Properties<DateTime>().HaveConversion<UtcDateTimeConverter>();
    }

    protected override void OnModelCreating(ModelBuilder b)
    {
        b.Entity<TenantRow>(e =>
        {
            e.ToTable("tenants");
            e.HasKey(x => x.Id);
            e.Property(x => x.Id).HasMaxLength(128);
            e.Property(x => x.Name).HasMaxLength(200);
        });
        b.Entity<ApiKeyRow>(e =>
        {
            e.ToTable("api_keys");
            e.HasKey(x => x.Id);
            e.HasIndex(x => x.KeyPrefix).IsUnique();
            e.HasIndex(x => x.TenantId);
            e.Property(x => x.Role).HasMaxLength(16);
        });
        b.Entity<CorpusRow>(e =>
        {
            e.ToTable("corpora");
            e.HasKey(x => new { x.TenantId, x.Id });
        });
        b.Entity<DocumentRow>(e =>
        {
            e.ToTable("documents");
            e.HasKey(x => new { x.TenantId, x.Id });
            e.HasIndex(x => new { x.TenantId, x.CreatedAt, x.Id });
            e.HasIndex(x => new { x.TenantId, x.CorpusId, x.Status });
        });
        b.Entity<ChunkRow>(e =>
        {
            e.ToTable("chunks");
            e.HasKey(x => x.Id);
            e.HasIndex(x => new { x.TenantId, x.DocumentId, x.ChunkIndex }).IsUnique();
            e.HasIndex(x => x.Seq).IsUnique();
            e.HasIndex(x => new { x.TenantId, x.CorpusId });
        });
        b.Entity<ChunkDeletionRow>(e =>
        {
            e.ToTable("chunk_deletions");
            e.HasKey(x => x.Seq);
            e.Property(x => x.Seq).ValueGeneratedNever();
        });
        b.Entity<SeqCounterRow>(e =>
        {
            e.ToTable("seq_counters");
            e.HasKey(x => x.Name);
            e.HasData(new SeqCounterRow { Name = StoreConstants.ChunkSeq, Value = 0 });
        });
        b.Entity<IngestionJobRow>(e =>
        {
            e.ToTable("ingestion_jobs");
            e.HasKey(x => x.Id);
            e.HasIndex(x => new { x.Status, x.AvailableAt });
            e.HasIndex(x => new { x.TenantId, x.DocumentId });
        });
        b.Entity<SessionRow>(e =>
        {
            e.ToTable("sessions");
            e.HasKey(x => new { x.TenantId, x.Id });
            e.HasIndex(x => x.Id).IsUnique(); // a session id belongs to one tenant
        });
        b.Entity<MessageRow>(e =>
        {
            e.ToTable("messages");
            e.HasKey(x => x.Id);
            e.HasIndex(x => new { x.TenantId, x.SessionId, x.CreatedAt });
        });
        b.Entity<TenantQuotaRow>(e =>
        {
            e.ToTable("tenant_quotas");
            e.HasKey(x => x.TenantId);
        });
        b.Entity<UsageCounterRow>(e =>
        {
            e.ToTable("usage_counters");
            e.HasKey(x => new { x.TenantId, x.PeriodKey });
        });
        b.Entity<TenantPlanRow>(e =>
        {
            e.ToTable("tenant_plans");
            e.HasKey(x => x.TenantId);
        });
        b.Entity<PlanOverrideRow>(e =>
        {
            e.ToTable("plan_overrides");
            e.HasKey(x => new { x.TenantId, x.FeatureKey });
        });
        b.Entity<RolloutSettingRow>(e =>
        {
            e.ToTable("rollout_settings");
            e.HasKey(x => x.Name);
        });
        b.Entity<AuditChainHeadRow>(e =>
        {
            e.ToTable("audit_chain_heads");
            e.HasKey(x => x.TenantId);
        });
        b.Entity<AuditEventRow>(e =>
        {
            e.ToTable("audit_events");
            e.HasIndex(x => new { x.TenantId, x.ChainSeq }).IsUnique();
            e.HasKey(x => x.Id);
            e.Property(x => x.Id).ValueGeneratedOnAdd();
            e.HasIndex(x => new { x.TenantId, x.OccurredAt });
            e.HasIndex(x => new { x.TenantId, x.EventType });
        });

        ApplySnakeCase(b);
    }

    /// <summary>Columns, keys and indexes in snake_case, like the seed's schema (documents.status, chunks.document_id…).</summary>
    private static void ApplySnakeCase(ModelBuilder b)
    {
        foreach (var entity in b.Model.GetEntityTypes())
        {
            foreach (var property in entity.GetProperties())
                property.SetColumnName(ToSnake(property.Name));
            foreach (var key in entity.GetKeys())
                key.SetName("pk_" + entity.GetTableName());
            foreach (var index in entity.GetIndexes())
                index.SetDatabaseName($"ix_{entity.GetTableName()}_{string.Join("_", index.Properties.Select(p => ToSnake(p.Name)))}");
        }
    }

    public static string ToSnake(string name)
    {
        var sb = new StringBuilder(name.Length + 8);
        for (var i = 0; i < name.Length; i++)
        {
            var c = name[i];
            if (char.IsUpper(c))
            {
                if (i > 0 && (char.IsLower(name[i - 1]) || (i + 1 < name.Length && char.IsLower(name[i + 1])))) sb.Append('_');
                sb.Append(char.ToLowerInvariant(c));
            }
            else sb.Append(c);
        }
        return sb.ToString();
    }
}

public static class StoreConstants
{
    public const string ChunkSeq = "chunk_seq";
}

/// <summary>SQLite flavour (the embedded default). Owns the migrations under Migrations/Sqlite.</summary>
public sealed class SqliteNexusDbContext(DbContextOptions<SqliteNexusDbContext> options) : NexusDbContext(options);

public sealed class PostgresNexusDbContext(DbContextOptions<PostgresNexusDbContext> options) : NexusDbContext(options);
