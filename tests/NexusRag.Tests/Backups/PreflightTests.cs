using System.Text.Json;
using NexusRag.Tests.Infrastructure;

namespace NexusRag.Tests.Backups;

/// <summary><c>nexusrag preflight</c> on a production configuration: every required secret, connectivity, migrations, files, backups.</summary>
public sealed class PreflightTests : IDisposable
{
    private readonly TempDir _data = new("nexusrag-preflight");
    private readonly TempDir _backups = new("nexusrag-preflight-backups");

    public void Dispose()
    {
        _data.Dispose();
        _backups.Dispose();
    }

    /// <summary>A complete production configuration on the throwaway PostgreSQL and Redis that scripts/test.sh starts.</summary>
    private Dictionary<string, string?> Production()
    {
        var redis = Environment.GetEnvironmentVariable("NEXUSRAG_TEST_REDIS")
                    ?? throw new InvalidOperationException("NEXUSRAG_TEST_REDIS is not set: run scripts/test.sh, which starts a throwaway redis-server");
        _ = Environment.GetEnvironmentVariable("NEXUSRAG_TEST_POSTGRES")
            ?? throw new InvalidOperationException("NEXUSRAG_TEST_POSTGRES is not set: run scripts/test.sh, which starts a throwaway PostgreSQL");
        return new Dictionary<string, string?>
        {
            ["NEXUSRAG_DATA_DIR"] = _data.Path, ["EMBEDDINGS_PROVIDER"] = "hash",
            ["DATABASE_URL"] = TestStore.DatabaseFor(_data.Path + "-prod"), ["REDIS_URL"] = $"redis://{redis}/0",
            ["NEXUSRAG_ENV"] = "prod", ["UI_CURSOR_SECRET"] = "k3Jq9vX2mP7tR4wZ8yB1nC6fH0sL5dG3", ["METRICS_TOKEN"] = "metrics-9f8e7d6c5b4a",
            ["BACKUP_LOCAL_DIR"] = _backups.Path,
            ["BACKUP_ENCRYPTION_ENABLED"] = "true", ["BACKUP_ENCRYPTION_KEY"] = Convert.ToBase64String(Enumerable.Range(7, 32).Select(i => (byte)(i * 13)).ToArray()),
            ["BACKUP_SIGNING_ENABLED"] = "true", ["BACKUP_SIGNING_KEY"] = "Zt8vQm2Lx9Wc4Rb7Yk1Np6Hs3Dg5Fj0Ae",
            ["RESTORE_REQUIRE_SIGNATURE"] = "true", ["BACKUP_SCHEDULE_CRON"] = "0 2 * * *", ["RESTORE_DRILL_SCHEDULE_CRON"] = "0 4 * * 0",
        };
    }

    [Fact]
    public async Task A_complete_production_configuration_passes_and_writes_its_report()
    {
        var config = Production();
        var (pending, pendingOut) = await CliRunner.RunAsync(config, "preflight");
        Assert.Equal(1, pending);
        Assert.Contains("FAIL migrations:", pendingOut); // a fresh database: not migrated yet
        var (migrate, migrateOut) = await CliRunner.RunAsync(config, "migrate");
        Assert.True(migrate == 0, migrateOut);

        var (code, output) = await CliRunner.RunAsync(config, "preflight");
        Assert.True(code == 0, output);
        Assert.Contains("preflight ok", output);
        var report = Path.Combine(_data.Path, "ops", "preflight.json");
        using var json = JsonDocument.Parse(await File.ReadAllTextAsync(report));
        Assert.True(json.RootElement.GetProperty("ok").GetBoolean());
        var names = json.RootElement.GetProperty("checks").EnumerateArray().Select(c => c.GetProperty("name").GetString()).ToList();
        foreach (var expected in new[] { "database", "redis", "migrations", "UI_CURSOR_SECRET", "BACKUP_ENCRYPTION_KEY", "BACKUP_SIGNING_KEY", "data directory", "backup directory" })
            Assert.Contains(expected, names);
    }

    [Theory]
    [InlineData("UI_CURSOR_SECRET")]
    [InlineData("DATABASE_URL")]
    [InlineData("REDIS_URL")]
    [InlineData("METRICS_TOKEN")]
    [InlineData("BACKUP_ENCRYPTION_KEY")]
    [InlineData("BACKUP_SIGNING_KEY")]
    public async Task Each_missing_production_secret_fails_preflight_by_name(string secret)
    {
        var config = Production();
        config.Remove(secret);
        var (code, output) = await CliRunner.RunAsync(config, "preflight", "--output-json", Path.Combine(_data.Path, $"{secret}.json"));
        Assert.Equal(1, code);
        Assert.Contains($"FAIL {secret}:", output);
        using var json = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(_data.Path, $"{secret}.json")));
        Assert.False(json.RootElement.GetProperty("ok").GetBoolean());
        Assert.Contains(json.RootElement.GetProperty("checks").EnumerateArray(), c => c.GetProperty("name").GetString() == secret && !c.GetProperty("ok").GetBoolean());
    }

    [Fact]
    public async Task Placeholder_secrets_an_unreachable_store_and_backups_inside_the_data_directory_fail()
    {
        var config = Production();
        config["UI_CURSOR_SECRET"] = "dev-only-cursor-secret-change-me";
        config["METRICS_TOKEN"] = "changeme";
        config["REDIS_URL"] = "redis://127.0.0.1:1/0";
        config["BACKUP_LOCAL_DIR"] = Path.Combine(_data.Path, "backups");
        config["BACKUP_SCHEDULE_CRON"] = "every night";
        var (code, output) = await CliRunner.RunAsync(config, "preflight");
        Assert.Equal(1, code);
        Assert.Contains("FAIL UI_CURSOR_SECRET: is a placeholder", output);
        Assert.Contains("FAIL METRICS_TOKEN: is a placeholder", output);
        Assert.Contains("FAIL redis:", output);
        Assert.Contains("FAIL BACKUP_LOCAL_DIR:", output);
        Assert.Contains("BACKUP_SCHEDULE_CRON is not a valid cron expression", output);
    }
}
