using System.CommandLine;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NexusRag.Core;
using NexusRag.Core.Backups;
using NexusRag.Storage;
using NexusRag.Storage.Backups;
using Spectre.Console;

namespace NexusRag.Cli;

/// <summary>One preflight finding.</summary>
public sealed record PreflightCheck(string Category, string Name, bool Ok, string Detail);

public sealed partial class CliApp
{
    /// <summary>Values that are placeholders, never secrets.</summary>
    private static readonly string[] Placeholders = ["changeme", "change-me", "change_me", "secret", "password", "default", "test", "dev-only-cursor-secret-change-me"];

    private Command PreflightCommand()
    {
        var output = new Option<string?>("--output-json") { Description = "Where to write the report (default: {data dir}/ops/preflight.json)" };
        var minFree = new Option<double>("--min-free-gb") { Description = "Free disk space required on the data and backup volumes", DefaultValueFactory = _ => 1.0 };
        var cmd = new Command("preflight", "Check a production deployment before it serves: secrets, connectivity, migrations, files, disk, backups; exit 1 with one line per problem") { output, minFree };
        cmd.SetAction(async (pr, ct) =>
        {
            var checks = await PreflightAsync(pr.GetValue(minFree), ct);
            var builder = new ConfigurationBuilder().AddEnvironmentVariables().AddInMemoryCollection(configOverrides ?? new Dictionary<string, string?>()).Build();
            var dataDir = Path.GetFullPath(builder["NEXUSRAG_DATA_DIR"] is { Length: > 0 } d ? d : "var");
            var path = Path.GetFullPath(pr.GetValue(output) ?? Path.Combine(dataDir, "ops", "preflight.json"));
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            var ok = checks.All(c => c.Ok);
            await File.WriteAllTextAsync(path, JsonSerializer.Serialize(new
            {
                ok, checked_at = DateTime.UtcNow, failures = checks.Count(c => !c.Ok),
                checks = checks.Select(c => new { category = c.Category, name = c.Name, ok = c.Ok, detail = c.Detail }),
            }, new JsonSerializerOptions { WriteIndented = true }), ct);
            foreach (var c in checks.Where(c => !c.Ok)) _console.WriteLine($"FAIL {c.Name}: {c.Detail}");
            _console.WriteLine($"{(ok ? "preflight ok" : "preflight failed")}: {checks.Count(c => c.Ok)} of {checks.Count} checks passed; report in {path}");
            return ok ? 0 : 1;
        });
        return cmd;
    }

    private async Task<List<PreflightCheck>> PreflightAsync(double minFreeGb, CancellationToken ct)
    {
        var checks = new List<PreflightCheck>();
        void Add(string category, string name, bool ok, string detail) => checks.Add(new PreflightCheck(category, name, ok, detail));

        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = [] });
        builder.Configuration.AddInMemoryCollection(configOverrides ?? new Dictionary<string, string?>());
        builder.Logging.SetMinimumLevel(LogLevel.Critical);
        var config = builder.Configuration;
        builder.Services.AddNexusRagApplication(config).AddNexusRagStore(config);

        // Secrets and settings a production deployment must have (seed "Production Deployment Checklist").
        string? Get(string name) => config[name] is { Length: > 0 } v ? v.Trim() : null;
        bool Weak(string v) => Placeholders.Contains(v.ToLowerInvariant()) || v.Distinct().Count() <= 2;
        void Secret(string name, int minLength, string why)
        {
            var v = Get(name);
            if (v is null) Add("secrets", name, false, $"is not set ({why})");
            else if (Weak(v)) Add("secrets", name, false, "is a placeholder or default value; set a real secret");
            else if (v.Length < minLength) Add("secrets", name, false, $"must be at least {minLength} characters");
            else Add("secrets", name, true, "set");
        }
        Add("configuration", "NEXUSRAG_ENV", Get("NEXUSRAG_ENV")?.ToLowerInvariant() == "prod", Get("NEXUSRAG_ENV") is { } env ? $"is '{env}' (preflight checks a prod deployment)" : "is not set to prod");
        Add("configuration", "AUTH_ENABLED", Get("AUTH_ENABLED")?.ToLowerInvariant() is null or "true" or "1" or "yes", "must not be false in production");
        Add("configuration", "AUTH_DEV_BYPASS", Get("AUTH_DEV_BYPASS")?.ToLowerInvariant() is null or "false" or "0" or "no", "must not be true in production");
        Secret("UI_CURSOR_SECRET", 32, "signs pagination cursors");
        var databaseUrl = Get("DATABASE_URL");
        var postgres = databaseUrl is not null && (databaseUrl.StartsWith("postgres", StringComparison.OrdinalIgnoreCase) || databaseUrl.Contains("Host=", StringComparison.OrdinalIgnoreCase));
        Add("secrets", "DATABASE_URL", postgres, postgres ? "PostgreSQL" : "must name the PostgreSQL store of a production deployment (replicas share it)");
        Add("secrets", "REDIS_URL", Get("REDIS_URL") is not null, Get("REDIS_URL") is not null ? "set" : "is not set (rate limits, idempotency and breakers are shared through Redis across replicas)");
        Secret("METRICS_TOKEN", 16, "protects GET /v1/metrics");
        // The backup settings as configured, unvalidated (a bad one is reported below, not thrown).
        var backupOptions = new BackupOptions();
        using (var sp = builder.Services.BuildServiceProvider())
            foreach (var configure in sp.GetServices<IConfigureOptions<BackupOptions>>()) configure.Configure(backupOptions);
        Add("backups", "BACKUP_ENCRYPTION_ENABLED", backupOptions.EncryptionEnabled, backupOptions.EncryptionEnabled ? "on" : "backups must be encrypted in production");
        void Key32(string name)
        {
            var key = BackupCipher.ParseKey(Get(name));
            Add("secrets", name, key is not null && key.Distinct().Count() > 2,
                key is null ? "must be 32 bytes in base64 or hex (openssl rand -base64 32)" : key.Distinct().Count() > 2 ? "set" : "is a placeholder key");
        }
        if (backupOptions.EncryptionEnabled || Get("BACKUP_ENCRYPTION_KEY") is not null) Key32("BACKUP_ENCRYPTION_KEY");
        if (Get("CRYPTO_ENABLED")?.ToLowerInvariant() is "true" or "1" or "yes" && (Get("CRYPTO_PROVIDER") ?? "local_kms").ToLowerInvariant() == "local_kms")
            Key32("CRYPTO_LOCAL_MASTER_KEY");
        if (Get("KEYRING_MASTER_KEY_REQUIRED")?.ToLowerInvariant() is "true" or "1" or "yes" || Get("KEYRING_MASTER_KEY") is not null) Key32("KEYRING_MASTER_KEY");
        Add("backups", "BACKUP_SIGNING_ENABLED", backupOptions.SigningEnabled, backupOptions.SigningEnabled ? "on" : "backup manifests must be signed in production");
        if (backupOptions.SigningEnabled || Get("BACKUP_SIGNING_KEY") is not null) Secret("BACKUP_SIGNING_KEY", 32, "signs backup manifests");
        if (Get("LLM_PROVIDER")?.ToLowerInvariant() == "openai") Secret("OPENAI_API_KEY", 8, "LLM_PROVIDER=openai");
        if (Get("EMBEDDINGS_PROVIDER")?.ToLowerInvariant() == "openai") Secret("EMBEDDINGS_API_KEY", 8, "EMBEDDINGS_PROVIDER=openai");
        Add("backups", "RESTORE_REQUIRE_SIGNATURE", backupOptions.RequireSignature, backupOptions.RequireSignature ? "on" : "restores must refuse unsigned backups in production");
        Add("backups", "BACKUP_SCHEDULE_CRON", !string.IsNullOrWhiteSpace(backupOptions.ScheduleCron), backupOptions.ScheduleCron ?? "no backup schedule");
        Add("backups", "RESTORE_DRILL_SCHEDULE_CRON", !string.IsNullOrWhiteSpace(backupOptions.DrillScheduleCron), backupOptions.DrillScheduleCron ?? "no restore drill schedule");

        IHost? host = null;
        try
        {
            host = builder.Build();
            try
            {
                host.Services.GetService<IStartupValidator>()?.Validate();
                Add("configuration", "settings", true, "every setting is valid");
            }
            catch (OptionsValidationException ex) { foreach (var f in ex.Failures) Add("configuration", "settings", false, f); }
            catch (AggregateException ex) when (ex.InnerExceptions.All(e => e is OptionsValidationException))
            {
                foreach (var f in ex.InnerExceptions.Cast<OptionsValidationException>().SelectMany(e => e.Failures).Distinct()) Add("configuration", "settings", false, f);
            }

            var storage = host.Services.GetRequiredService<IOptions<StorageOptions>>().Value;
            var reachable = false;
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                timeout.CancelAfter(TimeSpan.FromSeconds(10));
                await using var db = await host.Services.GetRequiredService<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync(timeout.Token);
                reachable = await db.Database.CanConnectAsync(timeout.Token);
                Add("connectivity", "database", reachable, reachable ? $"{storage.Kind} reachable" : $"{storage.Kind} does not answer");
                if (reachable)
                {
                    var pending = (await db.Database.GetPendingMigrationsAsync(timeout.Token)).ToList();
                    Add("migrations", "migrations", pending.Count == 0, pending.Count == 0 ? "all applied" : $"{pending.Count} pending: {string.Join(", ", pending)} (run nexusrag migrate)");
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                Add("connectivity", "database", false, Core.Errors.Text.Clip(ex.GetBaseException().Message, 200));
            }
            if (Get("REDIS_URL") is { } redisUrl)
            {
                try
                {
                    var options = Storage.Redis.RedisUrl.Parse(redisUrl);
                    options.ConnectTimeout = 3000;
                    options.AbortOnConnectFail = true;
                    await using var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(options);
                    var rtt = await redis.GetDatabase().PingAsync();
                    Add("connectivity", "redis", true, $"PING {rtt.TotalMilliseconds:F1} ms");
                }
                catch (Exception ex) when (ex is StackExchange.Redis.RedisException or ArgumentException or FormatException)
                {
                    Add("connectivity", "redis", false, Core.Errors.Text.Clip(ex.Message, 200));
                }
            }

            var backupRoot = BackupService.RootOf(backupOptions, storage);
            foreach (var (name, dir) in new[] { ("data directory", storage.ResolveDataDir()), ("originals directory", storage.ResolveOriginalsDir()), ("backup directory", backupRoot) })
            {
                try
                {
                    Directory.CreateDirectory(dir);
                    var probe = Path.Combine(dir, $".preflight-{Guid.NewGuid():N}");
                    await File.WriteAllTextAsync(probe, "ok", ct);
                    File.Delete(probe);
                    var free = new DriveInfo(Path.GetPathRoot(dir)!).AvailableFreeSpace / 1e9;
                    Add("files", name, true, $"{dir} writable");
                    Add("disk", name, free >= minFreeGb, $"{free:F1} GB free (need {minFreeGb:F1})");
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    Add("files", name, false, $"{dir}: {ex.Message}");
                }
            }
            if (Get("EMBEDDINGS_PROVIDER")?.ToLowerInvariant() == "onnx")
            {
                var modelPath = Get("EMBEDDINGS_MODEL_PATH");
                var readable = modelPath is not null && File.Exists(Path.Combine(modelPath, "model.onnx"));
                Add("files", "EMBEDDINGS_MODEL_PATH", readable, readable ? "model.onnx readable" : "model.onnx not found");
            }
            foreach (var p in BackupService.Problems(backupOptions)) Add("backups", "backup settings", false, p);
            var inside = (backupRoot + Path.DirectorySeparatorChar).StartsWith(storage.ResolveDataDir() + Path.DirectorySeparatorChar, StringComparison.Ordinal);
            Add("backups", "BACKUP_LOCAL_DIR", !inside, inside ? $"{backupRoot} is inside the data directory: a lost disk loses the backups too" : backupRoot);
        }
        catch (Exception ex) when (ex is OptionsValidationException or InvalidOperationException or ArgumentException)
        {
            Add("configuration", "settings", false, Core.Errors.Text.Clip(ex.Message, 300));
        }
        finally
        {
            host?.Dispose();
        }
        return checks;
    }
}
