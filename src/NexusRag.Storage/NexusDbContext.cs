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
    public DbSet<JobRow> Jobs => Set<JobRow>();
    public DbSet<SessionRow> Sessions => Set<SessionRow>();
    public DbSet<MessageRow> Messages => Set<MessageRow>();
    public DbSet<AuditEventRow> AuditEvents => Set<AuditEventRow>();
    public DbSet<AuditChainHeadRow> AuditChainHeads => Set<AuditChainHeadRow>();
    public DbSet<RolloutSettingRow> RolloutSettings => Set<RolloutSettingRow>();
    public DbSet<TenantPlanRow> TenantPlans => Set<TenantPlanRow>();
    public DbSet<TenantQuotaRow> TenantQuotas => Set<TenantQuotaRow>();
    public DbSet<UsageCounterRow> UsageCounters => Set<UsageCounterRow>();
    public DbSet<PlanOverrideRow> PlanOverrides => Set<PlanOverrideRow>();
    public DbSet<OutboxRow> Outbox => Set<OutboxRow>();
    public DbSet<IndexVersionRow> IndexVersions => Set<IndexVersionRow>();
    public DbSet<IndexVersionEventRow> IndexVersionEvents => Set<IndexVersionEventRow>();
    public DbSet<EvalSetRow> EvalSets => Set<EvalSetRow>();
    public DbSet<WorkerHeartbeatRow> WorkerHeartbeats => Set<WorkerHeartbeatRow>();
    public DbSet<DocumentPermissionRow> DocumentPermissions => Set<DocumentPermissionRow>();
    public DbSet<AuthzPolicyRow> AuthzPolicies => Set<AuthzPolicyRow>();
    public DbSet<MaintenanceRunRow> MaintenanceRuns => Set<MaintenanceRunRow>();
    public DbSet<MaintenanceScheduleRow> MaintenanceSchedules => Set<MaintenanceScheduleRow>();
    public DbSet<TenantDataKeyRow> TenantDataKeys => Set<TenantDataKeyRow>();
    public DbSet<CryptoKeyCheckRow> CryptoKeyChecks => Set<CryptoKeyCheckRow>();
    public DbSet<CryptoRotationRow> CryptoRotations => Set<CryptoRotationRow>();
    public DbSet<KeyringKeyRow> KeyringKeys => Set<KeyringKeyRow>();
    public DbSet<RetentionPolicyRow> RetentionPolicies => Set<RetentionPolicyRow>();
    public DbSet<LegalHoldRow> LegalHolds => Set<LegalHoldRow>();
    public DbSet<GovernanceRunRow> GovernanceRuns => Set<GovernanceRunRow>();
    public DbSet<DsarRequestRow> DsarRequests => Set<DsarRequestRow>();
    public DbSet<GovernancePolicyRow> GovernancePolicies => Set<GovernancePolicyRow>();
    public DbSet<ComplianceSnapshotRow> ComplianceSnapshots => Set<ComplianceSnapshotRow>();
    public DbSet<ComplianceBundleRow> ComplianceBundles => Set<ComplianceBundleRow>();
    public DbSet<ComplianceArtifactRow> ComplianceArtifacts => Set<ComplianceArtifactRow>();

    /// <summary>Set while a unit of work shares this context with the stores: their disposal must not close it.</summary>
    internal bool HeldByUnitOfWork { get; set; }

    /// <summary>What the unit of work holding this context runs once it has committed.</summary>
    internal List<Action> AfterCommitActions { get; } = [];

    public override void Dispose()
    {
        if (!HeldByUnitOfWork) base.Dispose();
    }

    public override ValueTask DisposeAsync() => HeldByUnitOfWork ? ValueTask.CompletedTask : base.DisposeAsync();

    protected override void ConfigureConventions(ModelConfigurationBuilder b)
    {
        b.Properties<DateTime>().HaveConversion<UtcDateTimeConverter>();
    }

    protected override void OnModelCreating(ModelBuilder b)
    {
        // One IEntityTypeConfiguration<T> per entity, next to the entity (Entities/<feature>/).
        b.ApplyConfigurationsFromAssembly(typeof(NexusDbContext).Assembly);
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
