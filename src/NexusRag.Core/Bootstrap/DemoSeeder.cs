using System.Text;
using NexusRag.Core.Auth;
using NexusRag.Core.Corpora;
using NexusRag.Core.Documents;
using NexusRag.Core.Services;

namespace NexusRag.Core.Bootstrap;

public sealed record SeedResult(bool AlreadySeeded, int DocumentsQueued);

public sealed record BootstrapResult(bool Created, string? AdminKeyPlaintext, string? OperatorKeyPlaintext, SeedResult Seed);

/// <summary>Creates the demo tenant, corpus and documents. Idempotent: a second run changes nothing.</summary>
public sealed class DemoSeeder(IIdentityStore identity, ICorpusStore corpora, IDocumentStore documents, DocumentService documentService, ApiKeyService keys,
    Governance.IPlanStore plans)
{
    public async Task<SeedResult> SeedAsync(CancellationToken ct)
    {
        await identity.EnsureTenantAsync(DemoData.TenantId, ct).ConfigureAwait(false);
        if (await corpora.GetAsync(DemoData.TenantId, DemoData.CorpusId, ct).ConfigureAwait(false) is null)
        {
            await corpora.CreateAsync(DemoData.TenantId, DemoData.CorpusId, DemoData.CorpusName, ProviderConfig.Default(), ct).ConfigureAwait(false);
        }
        var principal = new Principal(DemoData.TenantId, Role.Admin, null, "seed");
        var queued = 0;
        foreach (var doc in DemoData.Documents)
        {
            if (await documents.GetAsync(DemoData.TenantId, doc.Id, ct).ConfigureAwait(false) is not null) continue;
            await documentService.IngestBytesAsync(principal, DemoData.CorpusId, doc.Id, doc.Filename, "text/markdown",
                Encoding.UTF8.GetBytes(doc.Text), overwrite: false, DemoData.ChunkSizeChars, DemoData.ChunkOverlapChars, null, null, ct).ConfigureAwait(false);
            queued++;
        }
        return new SeedResult(queued == 0, queued);
    }

    /// <summary>
    /// First start in the local profile, once: demo data, tenant <c>t1</c> on the <c>enterprise</c> plan (so a newcomer's
    /// admin key reads the audit log and ops endpoints), an admin key for it and a platform-operator key. Later starts
    /// create nothing.
    /// </summary>
    public async Task<BootstrapResult> BootstrapAsync(CancellationToken ct)
    {
        var tenantIsNew = !await identity.TenantExistsAsync(DemoData.TenantId, ct).ConfigureAwait(false);
        if (!tenantIsNew) return new BootstrapResult(false, null, null, new SeedResult(true, 0));
        var seed = await SeedAsync(ct).ConfigureAwait(false);
        await plans.SetPlanAsync(DemoData.TenantId, Governance.Plans.Enterprise, ct).ConfigureAwait(false);
        var key = await keys.CreateAsync(DemoData.TenantId, Role.Admin, "bootstrap-admin", null, "bootstrap", ct).ConfigureAwait(false);
        var op = await keys.CreateOperatorAsync("bootstrap-operator", null, "bootstrap", ct).ConfigureAwait(false);
        return new BootstrapResult(true, key.Plaintext, op.Plaintext, seed);
    }
}
