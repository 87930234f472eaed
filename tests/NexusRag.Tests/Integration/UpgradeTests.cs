using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Microsoft.Extensions.DependencyInjection;
using NexusRag.Core.Auth;
using NexusRag.Storage;
using NexusRag.Tests.Infrastructure;

namespace NexusRag.Tests.Integration;

/// <summary>A store created before the job runner (ingestion_jobs) upgrades in place and its queued work still runs.</summary>
public sealed class UpgradeTests
{
    [Fact]
    public async Task A_document_queued_before_the_jobs_table_existed_is_ingested_after_the_upgrade()
    {
        using var tmp = new TempDir("nexusrag-upgrade");
        string key;
        // 1. A store at the last migration before the job runner, with a document and its queued job written as that version did.
        using (var old = new NexusAppFactory(new() { ["NexusRag:Ingestion:WorkerConcurrency"] = "0" }, dataDir: tmp.Path))
        {
            key = await old.CreateKeyAsync("legacy", Role.Admin);
            _ = old.CreateClient();
            await using var db = await old.Service<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync();
            var migrator = db.GetService<IMigrator>();
            var before = db.Database.GetMigrations().Last(m => m.EndsWith("_Outbox", StringComparison.Ordinal));
            await migrator.MigrateAsync(before); // down: jobs → ingestion_jobs
            var now = DateTime.UtcNow;
            var config = """{"retrieval":{"provider":"local","top_k_default":5}}""";
            await db.Database.ExecuteSqlInterpolatedAsync($"""
                INSERT INTO corpora (tenant_id, id, name, provider_config_json, created_at, updated_at)
                VALUES ('legacy', 'c1', 'c1', {config}, {now}, {now})
                """);
            var content = System.Text.Encoding.UTF8.GetBytes("Queued before the upgrade and ingested after it.");
            await db.Database.ExecuteSqlInterpolatedAsync($"""
                INSERT INTO documents (tenant_id, id, corpus_id, filename, content_type, size_bytes, content_sha256, content, status,
                                       num_chunks, chunk_size_chars, chunk_overlap_chars, last_job_id, created_at, updated_at, queued_at)
                VALUES ('legacy', 'old-doc', 'c1', NULL, 'text/plain', {content.LongLength}, 'x', {content}, 'queued', 0, 1200, 150, 'job_legacy', {now}, {now}, {now})
                """);
            await db.Database.ExecuteSqlInterpolatedAsync($"""
                INSERT INTO ingestion_jobs (id, tenant_id, corpus_id, document_id, kind, status, attempts, max_attempts, available_at, created_at, updated_at)
                VALUES ('job_legacy', 'legacy', 'c1', 'old-doc', 'ingest', 'queued', 0, 3, {now}, {now}, {now})
                """);
        }

        // 2. The new version migrates on start and its job runner finishes the old job.
        using var upgraded = new NexusAppFactory(dataDir: tmp.Path);
        var client = upgraded.ClientWithKey(key);
        var doc = await client.WaitForDocumentAsync("old-doc");
        Assert.Equal(1, doc.GetProperty("num_chunks").GetInt32());
        await using var check = await upgraded.Service<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync();
        var job = await check.Jobs.SingleAsync(j => j.Id == "job_legacy");
        Assert.Equal(("ingest", "succeeded", "old-doc", (string?)null), (job.Kind, job.Status, job.DocumentId, job.PayloadJson));
    }
}
