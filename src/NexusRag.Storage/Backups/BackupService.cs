using System.Diagnostics;
using System.Formats.Tar;
using System.Reflection;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NexusRag.Core.Backups;
using NexusRag.Core.Errors;

namespace NexusRag.Storage.Backups;

/// <summary>What a restore found and did (or, in a dry run, would do).</summary>
public sealed record RestoreReport(
    BackupManifest Manifest, bool Signed, bool DryRun, IReadOnlyList<string> Components, StoreFacts Before, StoreFacts? Backup, StoreFacts? After,
    IReadOnlyList<string> Actions, IReadOnlyList<string> MigrationsApplied, double DurationMs);

/// <summary>
/// Backup sets on disk (<c>BACKUP_LOCAL_DIR/{id}/</c>: <c>manifest.json</c>, <c>manifest.sig</c> when signed, one file per
/// component) and restores from them. Every component is written through a SHA-256 (and AES-256-GCM when
/// <c>BACKUP_ENCRYPTION_ENABLED</c>) without being held in memory; a restore checks the signature (required with
/// <c>RESTORE_REQUIRE_SIGNATURE</c>) and every checksum and authentication tag before it touches anything, refuses to
/// overwrite a store that holds data without <c>allowDestructive</c>, migrates an older schema forward and refuses a
/// newer one.
/// </summary>
public sealed class BackupService(
    IStoreBackup store, IOptions<BackupOptions> options, IOptions<StorageOptions> storage, DatabaseMigrator migrator, TimeProvider clock,
    ILogger<BackupService> logger)
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true, DictionaryKeyPolicy = null,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    public string Root => RootOf(options.Value, storage.Value);

    /// <summary><c>BACKUP_LOCAL_DIR</c>, by default <c>{data dir}/backups</c>.</summary>
    public static string RootOf(BackupOptions o, StorageOptions storage) =>
        Path.GetFullPath(string.IsNullOrWhiteSpace(o.LocalDir) ? Path.Combine(storage.ResolveDataDir(), "backups") : o.LocalDir);

    private static string Release =>
        typeof(BackupService).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";

    /// <summary>The configuration problems of backups (named settings), empty when fine; checked at start and by preflight.</summary>
    public static IReadOnlyList<string> Problems(BackupOptions o)
    {
        var problems = new List<string>();
        if (o.EncryptionEnabled && BackupCipher.ParseKey(o.EncryptionKey) is null)
            problems.Add("BACKUP_ENCRYPTION_KEY must be 32 bytes in base64 or hex (openssl rand -base64 32) when BACKUP_ENCRYPTION_ENABLED=true");
        if (o.SigningEnabled && (o.SigningKey?.Length ?? 0) < 32)
            problems.Add("BACKUP_SIGNING_KEY must be at least 32 characters when BACKUP_SIGNING_ENABLED=true");
        foreach (var (name, cron) in new[] { ("BACKUP_SCHEDULE_CRON", o.ScheduleCron), ("RESTORE_DRILL_SCHEDULE_CRON", o.DrillScheduleCron) })
        {
            if (string.IsNullOrWhiteSpace(cron)) continue;
            try { Cronos.CronExpression.Parse(cron.Trim()); }
            catch (Cronos.CronFormatException ex) { problems.Add($"{name} is not a valid cron expression ('{cron}'): {ex.Message}"); }
        }
        return problems;
    }

    public async Task<BackupManifest> CreateAsync(string type, CancellationToken ct)
    {
        if (!BackupTypes.All.Contains(type)) throw NexusException.Validation("type", $"must be one of {string.Join(", ", BackupTypes.All)}");
        var o = options.Value;
        if (Problems(o) is { Count: > 0 } problems) throw new NexusException(ErrorKind.Validation, ErrorCodes.ValidationError, string.Join("; ", problems));
        var key = o.EncryptionEnabled ? BackupCipher.ParseKey(o.EncryptionKey) : null;
        var started = Stopwatch.GetTimestamp();
        var now = clock.GetUtcNow().UtcDateTime;
        var id = $"bkp_{now:yyyyMMddTHHmmssfff}_{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3))}";
        var dir = Path.Combine(Root, id);
        Directory.CreateDirectory(dir);
        var scratch = Path.Combine(dir, ".scratch");
        Directory.CreateDirectory(scratch);
        var components = new List<BackupComponent>();
        StoreFacts facts;
        try
        {
            var wanted = BackupTypes.ComponentsOf(type);
            // The database first: originals written after it are a superset of what its documents need.
            StoreFacts? dumped = null;
            if (wanted.Contains(BackupComponents.Db))
            {
                var dbDump = Path.Combine(scratch, "db.dump");
                dumped = await store.DumpAsync(BackupComponents.Db, dbDump, ct).ConfigureAwait(false);
                components.Add(await StoreAsync(BackupComponents.Db, dbDump, dir, store.StoreKind == "sqlite" ? "db.sqlite" : "db.pgdump", key, ct).ConfigureAwait(false));
            }
            // The facts of exactly what was dumped (read in the dump's snapshot); without a database dump, of the store now.
            facts = dumped ?? await store.FactsAsync(ct).ConfigureAwait(false);
            if (wanted.Contains(BackupComponents.Schema))
            {
                var schema = Path.Combine(scratch, "schema.sql");
                await store.DumpAsync(BackupComponents.Schema, schema, ct).ConfigureAwait(false);
                components.Add(await StoreAsync(BackupComponents.Schema, schema, dir, "schema.sql", key, ct).ConfigureAwait(false));
            }
            if (wanted.Contains(BackupComponents.Originals))
            {
                var tar = Path.Combine(scratch, "originals.tar");
                var originals = storage.Value.ResolveOriginalsDir();
                await using (var file = File.Create(tar))
                await using (var writer = new TarWriter(file, TarEntryFormat.Pax, leaveOpen: false))
                {
                    if (Directory.Exists(originals))
                    {
                        foreach (var path in Directory.EnumerateFiles(originals, "*", SearchOption.AllDirectories))
                        {
                            var rel = Path.GetRelativePath(originals, path);
                            if (rel.StartsWith(".staging", StringComparison.Ordinal)) continue;
                            try { await writer.WriteEntryAsync(path, rel.Replace('\\', '/'), ct).ConfigureAwait(false); }
                            catch (FileNotFoundException) { } // deleted while the backup ran (its document is gone from the dump too)
                        }
                    }
                }
                components.Add(await StoreAsync(BackupComponents.Originals, tar, dir, "originals.tar", key, ct).ConfigureAwait(false));
            }
            if (wanted.Contains(BackupComponents.Index) && File.Exists(storage.Value.IndexSnapshotPath()))
            {
                var copy = Path.Combine(scratch, "index.snapshot");
                File.Copy(storage.Value.IndexSnapshotPath(), copy);
                components.Add(await StoreAsync(BackupComponents.Index, copy, dir, "index.snapshot", key, ct).ConfigureAwait(false));
            }
            var meta = Path.Combine(scratch, "metadata.json");
            await File.WriteAllBytesAsync(meta, JsonSerializer.SerializeToUtf8Bytes(new { created_at = now, store = store.StoreKind, facts }, Json), ct).ConfigureAwait(false);
            components.Add(await StoreAsync(BackupComponents.Metadata, meta, dir, "metadata.json", key: null, ct).ConfigureAwait(false));
        }
        catch
        {
            TryDelete(dir);
            throw;
        }
        finally
        {
            TryDelete(scratch);
        }

        var manifest = new BackupManifest(id, now, type, store.StoreKind, facts.SchemaVersion, Release, components,
            new BackupPolicy(key is null ? "none" : "aes-256-gcm", key is null ? null : BackupCipher.KeyId(key), o.SigningEnabled ? "hmac-sha256" : "none"),
            facts, Math.Round(Stopwatch.GetElapsedTime(started).TotalMilliseconds, 1));
        var bytes = JsonSerializer.SerializeToUtf8Bytes(manifest, Json);
        if (o.SigningEnabled) await File.WriteAllTextAsync(Path.Combine(dir, "manifest.sig"), BackupSignature.Sign(bytes, o.SigningKey!), ct).ConfigureAwait(false);
        await File.WriteAllBytesAsync(Path.Combine(dir, "manifest.json"), bytes, ct).ConfigureAwait(false); // last: a set without it is incomplete
        logger.LogInformation("Backup {Id} ({Type}) written to {Dir}: {Bytes} bytes", id, type, dir, components.Sum(c => c.Bytes));
        return manifest;
    }

    /// <summary>Copies (encrypting when <paramref name="key"/> is set) a component into the set, hashing what is stored.</summary>
    private static async Task<BackupComponent> StoreAsync(string name, string source, string dir, string file, byte[]? key, CancellationToken ct)
    {
        var target = key is null ? file : file + ".enc";
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await using (var output = new Core.IO.HashingWriteStream(File.Create(Path.Combine(dir, target)), sha))
        await using (var input = File.OpenRead(source))
        {
            if (key is null) await input.CopyToAsync(output, 1 << 20, ct).ConfigureAwait(false);
            else await BackupCipher.EncryptAsync(input, output, key, name, ct).ConfigureAwait(false);
        }
        return new BackupComponent(name, target, new FileInfo(Path.Combine(dir, target)).Length, Convert.ToHexStringLower(sha.GetHashAndReset()), key is not null);
    }

    /// <summary>Reads and checks a manifest: its signature (refused unsigned with RESTORE_REQUIRE_SIGNATURE), then every component's checksum.</summary>
    public async Task<(BackupManifest Manifest, bool Signed)> VerifyAsync(string manifestPath, IReadOnlyCollection<string>? components, CancellationToken ct)
    {
        var o = options.Value;
        if (!File.Exists(manifestPath)) throw new FileNotFoundException($"no manifest at {manifestPath}");
        var bytes = await File.ReadAllBytesAsync(manifestPath, ct).ConfigureAwait(false);
        var dir = Path.GetDirectoryName(Path.GetFullPath(manifestPath))!;
        var sigPath = Path.Combine(dir, "manifest.sig");
        var signed = File.Exists(sigPath);
        if (signed)
        {
            if (string.IsNullOrEmpty(o.SigningKey))
                throw new BackupIntegrityException("the backup is signed but BACKUP_SIGNING_KEY is not set: cannot verify its manifest");
            if (!BackupSignature.Verify(bytes, o.SigningKey, await File.ReadAllTextAsync(sigPath, ct).ConfigureAwait(false)))
                throw new BackupIntegrityException("the manifest signature does not verify: the manifest was altered, or BACKUP_SIGNING_KEY is not the key it was signed with");
        }
        else if (o.RequireSignature)
            throw new BackupIntegrityException("the backup is not signed and RESTORE_REQUIRE_SIGNATURE=true");
        BackupManifest manifest;
        try
        {
            manifest = JsonSerializer.Deserialize<BackupManifest>(bytes, Json) ?? throw new BackupIntegrityException("the manifest is empty");
        }
        catch (JsonException ex)
        {
            throw new BackupIntegrityException($"the manifest is not valid: {ex.Message}");
        }
        if (!signed && manifest.Policy.Signing != "none")
            throw new BackupIntegrityException("the manifest says the backup is signed but manifest.sig is missing");
        foreach (var c in manifest.Components.Where(c => components is null || components.Contains(c.Name) || c.Name == BackupComponents.Metadata))
        {
            var path = Path.Combine(dir, Path.GetFileName(c.File));
            if (!File.Exists(path)) throw new BackupIntegrityException($"component '{c.Name}' is missing ({c.File})");
            await using var file = File.OpenRead(path);
            var hash = Convert.ToHexStringLower(await SHA256.HashDataAsync(file, ct).ConfigureAwait(false));
            if (hash != c.Sha256 || file.Length != c.Bytes)
                throw new BackupIntegrityException($"component '{c.Name}' does not match its checksum in the manifest (altered or truncated)");
        }
        return (manifest, signed);
    }

    /// <summary>
    /// Restores <paramref name="components"/> (null: every restorable one in the set). A dry run verifies everything
    /// (signature, checksums, decryption) and reports what would change, touching nothing.
    /// </summary>
    public async Task<RestoreReport> RestoreAsync(string manifestPath, IReadOnlyCollection<string>? components, bool dryRun, bool allowDestructive, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        var (manifest, signed) = await VerifyAsync(manifestPath, components, ct).ConfigureAwait(false);
        var dir = Path.GetDirectoryName(Path.GetFullPath(manifestPath))!;
        var present = manifest.Components.Select(c => c.Name).ToHashSet();
        var selected = (components ?? BackupComponents.Restorable.Where(present.Contains).ToList()).ToList();
        foreach (var c in selected)
        {
            if (!BackupComponents.Restorable.Contains(c)) throw NexusException.Validation("components", $"'{c}' is not restorable (db, schema, originals, index)");
            if (!present.Contains(c)) throw NexusException.Validation("components", $"the backup has no '{c}' component");
        }
        if (selected.Contains(BackupComponents.Db)) selected.Remove(BackupComponents.Schema); // the database dump carries its schema
        if (manifest.Store != store.StoreKind)
            throw new NexusException(ErrorKind.Conflict, "BACKUP_STORE_MISMATCH", $"the backup is of a {manifest.Store} store; this server runs on {store.StoreKind}");
        var known = store.KnownMigrations;
        if (!string.IsNullOrEmpty(manifest.SchemaVersion) && !known.Contains(manifest.SchemaVersion))
            throw new NexusException(ErrorKind.Conflict, "BACKUP_SCHEMA_NEWER",
                $"the backup's schema ({manifest.SchemaVersion}) is newer than this release knows ({known.LastOrDefault()}); restore it with release {manifest.Release} or later");

        var key = KeyFor(manifest, selected);

        var before = await store.FactsAsync(ct).ConfigureAwait(false);
        var actions = new List<string>();
        var touchesData = selected.Contains(BackupComponents.Db) || selected.Contains(BackupComponents.Schema);
        if (touchesData)
        {
            actions.Add(before.HasData
                ? $"replace the {store.StoreKind} database ({Describe(before)}) with the backup's ({Describe(manifest.Facts)})"
                : $"restore the {store.StoreKind} database ({Describe(manifest.Facts)}) into the empty store");
            var pendingAfter = known.SkipWhile(m => m != manifest.SchemaVersion).Skip(1).ToList();
            if (string.IsNullOrEmpty(manifest.SchemaVersion)) pendingAfter = [.. known];
            if (pendingAfter.Count > 0) actions.Add($"then migrate the schema forward: {string.Join(", ", pendingAfter)}");
        }
        if (selected.Contains(BackupComponents.Originals)) actions.Add($"replace the originals in {storage.Value.ResolveOriginalsDir()}");
        if (selected.Contains(BackupComponents.Index)) actions.Add("replace the search-index snapshot (the index is rebuilt from the store when it does not match)");
        var destructive = (touchesData && before.HasData)
                          || (selected.Contains(BackupComponents.Originals) && Directory.Exists(storage.Value.ResolveOriginalsDir())
                              && Directory.EnumerateFiles(storage.Value.ResolveOriginalsDir(), "*", SearchOption.AllDirectories).Any());

        var scratch = Path.Combine(Path.GetTempPath(), $"nexusrag-restore-{Guid.NewGuid():N}");
        Directory.CreateDirectory(scratch);
        try
        {
            // Decrypt every selected component first (each authentication tag checked): nothing is touched unless all are sound.
            var plain = new Dictionary<string, string>();
            foreach (var c in manifest.Components.Where(c => selected.Contains(c.Name)))
            {
                var target = Path.Combine(scratch, c.Name);
                await ExtractAsync(c, dir, key, target, ct).ConfigureAwait(false);
                plain[c.Name] = target;
            }
            StoreFacts? backupFacts = plain.TryGetValue(BackupComponents.Db, out var dump) ? await store.FactsOfDumpAsync(dump, ct).ConfigureAwait(false) ?? manifest.Facts : manifest.Facts;
            if (dryRun)
                return new RestoreReport(manifest, signed, true, selected, before, backupFacts, null, actions, [], Math.Round(Stopwatch.GetElapsedTime(started).TotalMilliseconds, 1));
            if (destructive && !allowDestructive)
                throw new NexusException(ErrorKind.Conflict, "RESTORE_REQUIRES_ALLOW_DESTRUCTIVE",
                    $"the target holds data ({Describe(before)}); restoring over it needs --allow-destructive (try --dry-run to see what would change)");

            IReadOnlyList<string> migrated = [];
            if (plain.TryGetValue(BackupComponents.Db, out var db)) await store.RestoreAsync(BackupComponents.Db, db, ct).ConfigureAwait(false);
            else if (plain.TryGetValue(BackupComponents.Schema, out var schema)) await store.RestoreAsync(BackupComponents.Schema, schema, ct).ConfigureAwait(false);
            if (touchesData) migrated = await migrator.MigrateAsync(ct).ConfigureAwait(false);
            if (plain.TryGetValue(BackupComponents.Originals, out var tar))
            {
                var originals = storage.Value.ResolveOriginalsDir();
                if (Directory.Exists(originals)) Directory.Delete(originals, recursive: true);
                Directory.CreateDirectory(originals);
                await TarFile.ExtractToDirectoryAsync(tar, originals, overwriteFiles: true, ct).ConfigureAwait(false);
            }
            var snapshot = storage.Value.IndexSnapshotPath();
            if (plain.TryGetValue(BackupComponents.Index, out var index))
            {
                Directory.CreateDirectory(Path.GetDirectoryName(snapshot)!);
                File.Copy(index, snapshot, overwrite: true);
            }
            else if (touchesData && File.Exists(snapshot))
                File.Delete(snapshot); // derived from the old store: rebuilt from the restored one
            var after = await store.FactsAsync(ct).ConfigureAwait(false);
            logger.LogInformation("Restored backup {Id} ({Components})", manifest.Id, string.Join(",", selected));
            return new RestoreReport(manifest, signed, false, selected, before, backupFacts, after, actions, migrated, Math.Round(Stopwatch.GetElapsedTime(started).TotalMilliseconds, 1));
        }
        finally
        {
            TryDelete(scratch);
        }
    }

    /// <summary>Writes a (verified) set's component, decrypted, to <paramref name="target"/>.</summary>
    public Task ExtractAsync(BackupManifest manifest, string manifestPath, string component, string target, CancellationToken ct) =>
        ExtractAsync(manifest.Components.Single(x => x.Name == component), Path.GetDirectoryName(Path.GetFullPath(manifestPath))!,
            KeyFor(manifest, [component]), target, ct);

    private static async Task ExtractAsync(BackupComponent c, string dir, byte[]? key, string target, CancellationToken ct)
    {
        await using var input = File.OpenRead(Path.Combine(dir, Path.GetFileName(c.File)));
        await using var output = File.Create(target);
        if (c.Encrypted) await BackupCipher.DecryptAsync(input, output, key!, c.Name, ct).ConfigureAwait(false);
        else await input.CopyToAsync(output, 1 << 20, ct).ConfigureAwait(false);
    }

    /// <summary>The configured key when any of <paramref name="components"/> is encrypted; a missing or different key is refused by name.</summary>
    private byte[]? KeyFor(BackupManifest manifest, IReadOnlyCollection<string> components)
    {
        if (!manifest.Components.Any(c => c.Encrypted && components.Contains(c.Name))) return null;
        var key = BackupCipher.ParseKey(options.Value.EncryptionKey)
                  ?? throw new BackupIntegrityException("the backup is encrypted: set BACKUP_ENCRYPTION_KEY to the key it was made with");
        if (manifest.Policy.EncryptionKeyId is { } expected && BackupCipher.KeyId(key) != expected)
            throw new BackupIntegrityException($"BACKUP_ENCRYPTION_KEY is not the key this backup was encrypted with (key id {BackupCipher.KeyId(key)}, the backup needs {expected})");
        return key;
    }

    /// <summary>Every complete set (with a readable manifest), newest first.</summary>
    public IReadOnlyList<BackupManifest> List()
    {
        if (!Directory.Exists(Root)) return [];
        var sets = new List<BackupManifest>();
        foreach (var dir in Directory.EnumerateDirectories(Root, "bkp_*"))
        {
            var path = Path.Combine(dir, "manifest.json");
            if (!File.Exists(path)) continue;
            try { if (JsonSerializer.Deserialize<BackupManifest>(File.ReadAllBytes(path), Json) is { } m) sets.Add(m); }
            catch (JsonException) { } // a damaged set is listed by nothing and pruned like any other by age
        }
        return sets.OrderByDescending(s => s.CreatedAt).ToList();
    }

    public string ManifestPath(string id) => Path.Combine(Root, Path.GetFileName(id), "manifest.json");

    /// <summary>Deletes sets older than <c>BACKUP_RETENTION_DAYS</c>, always keeping the newest one; returns their ids.</summary>
    public IReadOnlyList<string> Prune(Func<string, bool>? held = null)
    {
        var cutoff = clock.GetUtcNow().UtcDateTime.AddDays(-options.Value.RetentionDays);
        var sets = List();
        var pruned = new List<string>();
        foreach (var s in sets.Skip(1).Where(s => s.CreatedAt < cutoff && held?.Invoke(s.Id) != true))
        {
            TryDelete(Path.Combine(Root, s.Id));
            pruned.Add(s.Id);
        }
        return pruned;
    }

    public static string Describe(StoreFacts f) =>
        string.Join(", ", new[] { "tenants", "documents", "chunks", "messages", "audit_events" }.Select(t => $"{f.Counts.GetValueOrDefault(t)} {t.Replace('_', ' ')}"));

    private static void TryDelete(string path)
    {
        try { if (Directory.Exists(path)) Directory.Delete(path, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
