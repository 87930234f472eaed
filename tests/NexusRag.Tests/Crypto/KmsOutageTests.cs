using System.Net.Http.Json;
using Microsoft.EntityFrameworkCore;
using NexusRag.Core.Crypto;
using NexusRag.Storage;
using NexusRag.Tests.Infrastructure;

namespace NexusRag.Tests.Crypto;

/// <summary>
/// <c>CRYPTO_PROVIDER=aws_kms</c> through the official AWS SDK against a local server speaking the KMS JSON protocol,
/// and what a KMS outage does in each fail mode: closed refuses what needs a key (503 <c>KMS_UNAVAILABLE</c>) while search
/// past the key cache; open (outside prod) writes plaintext that the re-encryption job seals once the KMS is back, or,
/// with <c>CRYPTO_REQUIRE_ENCRYPTION_FOR_SENSITIVE</c>, refuses with <c>ENCRYPTION_REQUIRED</c>.
/// </summary>
public sealed class KmsOutageTests : IAsyncLifetime
{
    private readonly TempDir _dir = new("nexusrag-kms");
    private FakeAwsKmsServer _kms = null!;

    public async Task InitializeAsync() => _kms = await FakeAwsKmsServer.StartAsync();

    public async Task DisposeAsync()
    {
        await _kms.DisposeAsync();
        _dir.Dispose();
    }

    private Dictionary<string, string?> Settings(string failMode, bool? require = null)
    {
        var s = TestStore.SettingsFor(_dir.Path);
        s["CRYPTO_ENABLED"] = "true";
        s["CRYPTO_PROVIDER"] = "aws_kms";
        s["CRYPTO_AWS_KMS_ENDPOINT"] = _kms.Url;
        s["CRYPTO_AWS_ACCESS_KEY_ID"] = "AKIDEXAMPLE";
        s["CRYPTO_AWS_SECRET_ACCESS_KEY"] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        s["CRYPTO_KEY_CACHE_SECONDS"] = "1";
        s["CRYPTO_FAIL_MODE"] = failMode;
        if (require is { } r) s["CRYPTO_REQUIRE_ENCRYPTION_FOR_SENSITIVE"] = r ? "true" : "false";
        return s;
    }

    /// <summary>Past the unwrapped-key cache (1 s) and the active-version cache (2 s).</summary>
    private static Task PastCachesAsync() => Task.Delay(TimeSpan.FromSeconds(2.5));

    [Fact]
    public async Task Fail_closed_refuses_what_needs_a_key_during_an_outage_and_recovers_after()
    {
        using var app = new NexusAppFactory(Settings("closed"), dataDir: _dir.Path);
        var admin = await app.AdminForTenantAsync("t1");
        await admin.IngestTextAsync("docs", "Kelp forests shelter sea otters.", "kelp");
        await admin.WaitForDocumentAsync("kelp");
        Assert.Contains("TrentService.Encrypt", _kms.Calls);
        Assert.Contains("TrentService.Decrypt", _kms.Calls);
        await using (var db = await app.Service<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync())
        {
            var key = await db.TenantDataKeys.SingleAsync(k => k.TenantId == "t1");
            Assert.Equal("aws_kms", key.Provider);
            Assert.Equal(1, (await db.Chunks.SingleAsync(c => c.DocumentId == "kelp")).KeyVersion);
        }

        _kms.Down = true;
        await PastCachesAsync();
        await (await admin.GetAsync("/v1/documents/kelp/chunks")).AssertErrorAsync(503, CryptoErrorCodes.KmsUnavailable);
        await (await admin.PostAsJsonAsync("/v1/documents/text", new { corpus_id = "docs", document_id = "during", text = "Written during the outage." }))
            .AssertErrorAsync(503, CryptoErrorCodes.KmsUnavailable);
        // Search ranks in memory but shows stored (sealed) chunk text: past the key cache it needs the KMS too.
        await (await admin.PostAsJsonAsync("/v1/search", new { corpus_id = "docs", query = "sea otters", top_k = 3 })).AssertErrorAsync(503, CryptoErrorCodes.KmsUnavailable);
        // Nothing was written in plaintext meanwhile.
        await using (var db = await app.Service<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync())
        {
            Assert.False(await db.Documents.AnyAsync(d => d.Id == "during"));
            Assert.Equal(0, await db.Chunks.CountAsync(c => c.KeyVersion == null));
        }

        _kms.Down = false;
        await admin.IngestTextAsync("docs", "Written after the outage.", "after");
        await admin.WaitForDocumentAsync("after");
        (await admin.GetAsync("/v1/documents/kelp/chunks")).EnsureSuccessStatusCode();
        var hits = await (await admin.PostAsJsonAsync("/v1/search", new { corpus_id = "docs", query = "sea otters", top_k = 3 })).DataAsync();
        Assert.Equal("kelp", hits.GetProperty("results")[0].GetProperty("document_id").GetString());
    }

    [Fact]
    public async Task Fail_open_writes_plaintext_during_an_outage_and_the_reencryption_job_seals_it_after()
    {
        using var app = new NexusAppFactory(Settings("open", require: false), dataDir: _dir.Path);
        var admin = await app.AdminForTenantAsync("t1");
        await admin.IngestTextAsync("docs", "Before the outage.", "before");
        await admin.WaitForDocumentAsync("before");

        _kms.Down = true;
        await PastCachesAsync();
        await admin.IngestTextAsync("docs", "Written in the open during the outage.", "during");
        await admin.WaitForDocumentAsync("during");
        await using (var db = await app.Service<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync())
            Assert.Null((await db.Chunks.SingleAsync(c => c.DocumentId == "during")).KeyVersion);
        // Reading what was sealed still needs the KMS.
        await (await admin.GetAsync("/v1/documents/before/chunks")).AssertErrorAsync(503, CryptoErrorCodes.KmsUnavailable);
        (await admin.GetAsync("/v1/documents/during/chunks")).EnsureSuccessStatusCode();

        _kms.Down = false;
        var rotation = await app.Service<KeyRotationService>().EncryptExistingAsync("t1", CancellationToken.None);
        Assert.NotNull(rotation);
        await using (var db = await app.Service<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync())
        {
            await Eventually.ReadAsync(async () => (await db.CryptoRotations.AsNoTracking().SingleAsync(r => r.Id == rotation.Id)).Status, s => s == "succeeded", timeoutSeconds: 30);
            Assert.Equal(0, await db.Chunks.CountAsync(c => c.KeyVersion == null));
        }
        Assert.Contains("in the open", (await (await admin.GetAsync("/v1/documents/during/chunks")).DataAsync())[0].GetProperty("text").GetString());
        Assert.All(Directory.EnumerateFiles(Path.Combine(_dir.Path, "originals", "t1"), "*", SearchOption.AllDirectories), f => Assert.EndsWith(".enc", f));
    }

    [Fact]
    public async Task Fail_open_with_encryption_required_refuses_sensitive_writes_with_ENCRYPTION_REQUIRED()
    {
        using var app = new NexusAppFactory(Settings("open", require: true), dataDir: _dir.Path);
        var admin = await app.AdminForTenantAsync("t1");
        _kms.Down = true;
        await (await admin.PostAsJsonAsync("/v1/documents/text", new { corpus_id = "docs", document_id = "x", text = "Must not be stored in plaintext." }))
            .AssertErrorAsync(503, CryptoErrorCodes.EncryptionRequired);
    }

    [Fact]
    public async Task Fail_open_is_refused_at_start_in_prod_with_one_line()
    {
        var env = Settings("open").ToDictionary(kv => kv.Key, kv => kv.Value!);
        env["NEXUSRAG_ENV"] = "prod";
        using var server = ServerProcess.Start(_dir.Path, env);
        Assert.True(await server.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Assert.Equal(2, server.ExitCode);
        Assert.Contains(server.Lines, l => l.Contains("refusing to start", StringComparison.Ordinal) && l.Contains("CRYPTO_FAIL_MODE=open", StringComparison.Ordinal));
    }
}
