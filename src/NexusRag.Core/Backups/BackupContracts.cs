using System.ComponentModel.DataAnnotations;

namespace NexusRag.Core.Backups;

/// <summary>
/// Backups (section <c>NexusRag:Backup</c>; the seed's flat names <c>BACKUP_ENABLED</c>, <c>BACKUP_LOCAL_DIR</c>,
/// <c>BACKUP_ENCRYPTION_ENABLED</c>, <c>BACKUP_ENCRYPTION_KEY</c>, <c>BACKUP_SIGNING_ENABLED</c>, <c>BACKUP_SIGNING_KEY</c>,
/// <c>BACKUP_RETENTION_DAYS</c>, <c>BACKUP_SCHEDULE_CRON</c>, <c>RESTORE_REQUIRE_SIGNATURE</c>, <c>PG_BIN</c>).
/// </summary>
public sealed class BackupOptions : IHasParseErrors
{
    public const string Section = "NexusRag:Backup";

    /// <summary>Scheduled backups and the backup API (the CLI works either way).</summary>
    [FlatName("BACKUP_ENABLED")] public bool Enabled { get; set; } = true;
    /// <summary>Where backup sets are written (default <c>{data dir}/backups</c>); shared by the replicas that run workers.</summary>
    [FlatName("BACKUP_LOCAL_DIR")] public string? LocalDir { get; set; }
    [FlatName("BACKUP_ENCRYPTION_ENABLED")] public bool EncryptionEnabled { get; set; }
    /// <summary>32 bytes, base64 or hex (<c>openssl rand -base64 32</c>).</summary>
    [FlatName("BACKUP_ENCRYPTION_KEY")] public string? EncryptionKey { get; set; }
    [FlatName("BACKUP_SIGNING_ENABLED")] public bool SigningEnabled { get; set; }
    /// <summary>The HMAC-SHA256 key of manifest signatures: at least 32 characters.</summary>
    [FlatName("BACKUP_SIGNING_KEY")] public string? SigningKey { get; set; }
    [Range(1, 3650)] [FlatName("BACKUP_RETENTION_DAYS")] public int RetentionDays { get; set; } = 30;
    /// <summary>A cron expression (UTC, five fields) for scheduled backups; empty: none.</summary>
    [FlatName("BACKUP_SCHEDULE_CRON")] public string? ScheduleCron { get; set; }
    /// <summary>Refuse to restore an unsigned backup (a signed one is always verified).</summary>
    [FlatName("RESTORE_REQUIRE_SIGNATURE")] public bool RequireSignature { get; set; }
    /// <summary>A cron expression for the restore drill; empty: none.</summary>
    [FlatName("RESTORE_DRILL_SCHEDULE_CRON")] public string? DrillScheduleCron { get; set; }
    /// <summary>Where <c>pg_dump</c>/<c>pg_restore</c> live when not on PATH.</summary>
    [FlatName("PG_BIN")] public string? PgBin { get; set; }

    public List<string> ParseErrors { get; } = [];
}

/// <summary>Which components a backup holds: <c>all</c> (database, schema, metadata, originals, index snapshot), <c>db</c>, <c>schema</c>, <c>metadata</c>.</summary>
public static class BackupTypes
{
    public static readonly string[] All = ["all", "db", "schema", "metadata"];

    public static IReadOnlyList<string> ComponentsOf(string type) => type switch
    {
        "all" => [BackupComponents.Db, BackupComponents.Schema, BackupComponents.Metadata, BackupComponents.Originals, BackupComponents.Index],
        "db" => [BackupComponents.Db, BackupComponents.Metadata],
        "schema" => [BackupComponents.Schema, BackupComponents.Metadata],
        "metadata" => [BackupComponents.Metadata],
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "unknown backup type"),
    };
}

public static class BackupComponents
{
    public const string Db = "db";
    public const string Schema = "schema";
    public const string Metadata = "metadata";
    public const string Originals = "originals";
    public const string Index = "index";
    /// <summary>What a restore can put back (metadata only describes the set).</summary>
    public static readonly string[] Restorable = [Db, Schema, Originals, Index];
}

/// <summary>One file of a backup set: its stored bytes' size and SHA-256 (after encryption, when encrypted).</summary>
public sealed record BackupComponent(string Name, string File, long Bytes, string Sha256, bool Encrypted);

/// <summary>How the set is protected: <c>encryption</c> <c>aes-256-gcm</c> | <c>none</c> (with the key's fingerprint), <c>signing</c> <c>hmac-sha256</c> | <c>none</c>.</summary>
public sealed record BackupPolicy(string Encryption, string? EncryptionKeyId, string Signing);

/// <summary><c>manifest.json</c> of a backup set.</summary>
public sealed record BackupManifest(
    string Id, DateTime CreatedAt, string Type, string Store, string SchemaVersion, string Release, IReadOnlyList<BackupComponent> Components,
    BackupPolicy Policy, StoreFacts Facts, double DurationMs);

/// <summary>What a store holds: its last migration, row counts per table and each tenant's audit chain head.</summary>
public sealed record StoreFacts(string SchemaVersion, IReadOnlyDictionary<string, long> Counts, IReadOnlyList<AuditHeadFact> AuditHeads)
{
    /// <summary>Anything a restore would overwrite: tenants, keys, documents or audit events.</summary>
    public bool HasData => Counts.Where(c => c.Key is "tenants" or "api_keys" or "documents" or "audit_events").Any(c => c.Value > 0);
}

public sealed record AuditHeadFact(string TenantId, long LastSeq, string? LastHash);

/// <summary>
/// The store side of backups: a consistent dump of the database (<c>db</c>) or its schema (<c>schema</c>) into a file, a
/// restore from one, and the facts a manifest records. SQLite uses its online backup API; PostgreSQL <c>pg_dump</c> and
/// <c>pg_restore</c>.
/// </summary>
public interface IStoreBackup
{
    string StoreKind { get; }
    /// <summary>
    /// Writes a consistent copy of the database (the whole of it, or the schema only) to <paramref name="path"/>; for the
    /// database, returns the facts of exactly what was written (read in the same snapshot).
    /// </summary>
    Task<StoreFacts?> DumpAsync(string component, string path, CancellationToken ct);
    /// <summary>Replaces the database's content with the dump at <paramref name="path"/> (creating the database if it does not exist).</summary>
    Task RestoreAsync(string component, string path, CancellationToken ct);
    /// <summary>The facts of the live store (zero counts and no schema when it does not exist yet).</summary>
    Task<StoreFacts> FactsAsync(CancellationToken ct);
    /// <summary>The facts of a database dump, read from the file (SQLite) — null when the store cannot read its dumps in place.</summary>
    Task<StoreFacts?> FactsOfDumpAsync(string path, CancellationToken ct);
    /// <summary>Every migration this release knows, oldest first.</summary>
    IReadOnlyList<string> KnownMigrations { get; }
}
