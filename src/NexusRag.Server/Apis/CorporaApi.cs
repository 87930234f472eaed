using System.Text.Json;
using NexusRag.Core.Audit;
using NexusRag.Core.Auth;
using NexusRag.Core.Corpora;
using NexusRag.Core.Errors;
using NexusRag.Core.Governance;
using NexusRag.Core.Services;
using NexusRag.Core.Transactions;
using NexusRag.Server.Http;

namespace NexusRag.Server.Apis;

public sealed class CreateCorpusRequest
{
    public string? Id { get; set; }
    public string? Name { get; set; }
    public JsonElement? ProviderConfigJson { get; set; }
}

public sealed class PatchCorpusRequest
{
    public string? Name { get; set; }
    public JsonElement? ProviderConfigJson { get; set; }
}

/// <summary><c>embedding</c> is the model that produced the corpus's vectors, recorded at its first ingest (null before).</summary>
public sealed record CorpusDto(string Id, string Name, JsonElement ProviderConfigJson, EmbeddingDto? Embedding, DateTime CreatedAt, DateTime UpdatedAt)
{
    public static CorpusDto From(CorpusInfo c)
    {
        using var doc = JsonDocument.Parse(c.ProviderConfigJson);
        return new(c.Id, c.Name, doc.RootElement.Clone(),
            c.Embedding is { } e ? new EmbeddingDto(e.Provider, e.Model, e.Dimensions) : null, c.CreatedAt, c.UpdatedAt);
    }
}

public sealed record EmbeddingDto(string Provider, string Model, int Dimensions);

public static class CorporaApi
{
    public static RouteGroupBuilder MapCorporaApi(this IEndpointRouteBuilder app)
    {
        var g = app.MapGroup("/v1/corpora").WithTags("Corpora").WithAuditCategory("corpora");
        g.MapGet("/", List).RequireRole(Role.Reader).WithRateClass(RouteClasses.Read).Produces<Envelope<IReadOnlyList<CorpusDto>>>();
        g.MapGet("/{id}", Get).RequireRole(Role.Reader).WithRateClass(RouteClasses.Read).Produces<Envelope<CorpusDto>>();
        g.MapPost("/", Create).RequireRole(Role.Admin).WithRateClass(RouteClasses.Mutation).WithIdempotency().Accepts<CreateCorpusRequest>("application/json").Produces<Envelope<CorpusDto>>(201);
        g.MapPatch("/{id}", Patch).RequireRole(Role.Editor).WithRateClass(RouteClasses.Mutation).WithIdempotency().Accepts<PatchCorpusRequest>("application/json").Produces<Envelope<CorpusDto>>();
        g.MapDelete("/{id}", Delete).RequireRole(Role.Admin).WithRateClass(RouteClasses.Mutation).WithIdempotency().Produces<Envelope<DeletedDto>>();
        return g;
    }

    private static async Task<IResult> List(HttpContext ctx, ICorpusStore store)
    {
        var items = await store.ListAsync(ctx.GetPrincipal().TenantId, ctx.RequestAborted);
        return ApiResults.Ok(ctx, items.Select(CorpusDto.From).ToList());
    }

    private static async Task<IResult> Get(HttpContext ctx, string id, ICorpusStore store)
    {
        var corpus = await Find(ctx, id, store);
        return ApiResults.Ok(ctx, CorpusDto.From(corpus));
    }

    private static async Task<IResult> Create(HttpContext ctx, ICorpusStore store, IAuditLog audit, IUnitOfWork uow)
    {
        var body = await JsonBody.ReadAsync<CreateCorpusRequest>(ctx.Request);
        var errors = new Dictionary<string, string[]>();
        var id = body.Id ?? Identifiers.NewId("corpus");
        if (!Identifiers.IsValid(id)) errors["id"] = [Identifiers.Rule];
        var name = body.Name?.Trim() ?? id;
        if (name.Length is 0 or > 200) errors["name"] = ["must be 1-200 characters"];
        if (errors.Count > 0) throw NexusException.Validation(errors);
        var config = ProviderConfig.Normalize(body.ProviderConfigJson);

        var principal = ctx.GetPrincipal();
        // The corpus and its audit event commit together, or neither does.
        var created = await uow.RunAsync(async ct =>
        {
            var c = await store.CreateAsync(principal.TenantId, id, name, config, ct)
                    ?? throw NexusException.Conflict(ErrorCodes.CorpusExists, $"Corpus '{id}' already exists", new Dictionary<string, object?> { ["id"] = id });
            await ctx.AuditAsync(audit, "corpora.updated", "corpus", id, new() { ["action"] = "created" });
            return c;
        }, ctx.RequestAborted);
        return ApiResults.Ok(ctx, CorpusDto.From(created), StatusCodes.Status201Created);
    }

    private static async Task<IResult> Patch(HttpContext ctx, string id, ICorpusStore store, IAuditLog audit, Core.Governance.Entitlements entitlements, IUnitOfWork uow)
    {
        await Find(ctx, id, store);
        var body = await JsonBody.ReadAsync<PatchCorpusRequest>(ctx.Request);
        if (body.ProviderConfigJson is not null)
            await entitlements.EnsureAsync(ctx.GetPrincipal().TenantId, Core.Governance.Plans.CorporaPatchProviderConfig, ctx.RequestAborted);
        if (body.Name is null && body.ProviderConfigJson is null)
            throw NexusException.Validation("body", "send at least one of name, provider_config_json");
        var name = body.Name?.Trim();
        if (name is { Length: 0 or > 200 }) throw NexusException.Validation("name", "must be 1-200 characters");
        var config = body.ProviderConfigJson is null ? null : ProviderConfig.Normalize(body.ProviderConfigJson);

        var principal = ctx.GetPrincipal();
        var fields = new List<string>();
        if (name is not null) fields.Add("name");
        if (config is not null) fields.Add("provider_config_json");
        var updated = await uow.RunAsync(async ct =>
        {
            var u = await store.UpdateAsync(principal.TenantId, id, name, config, ct) ?? throw NexusException.NotFound("corpus", id);
            await ctx.AuditAsync(audit, "corpora.updated", "corpus", id, new() { ["action"] = "updated", ["fields"] = fields });
            return u;
        }, ctx.RequestAborted);
        return ApiResults.Ok(ctx, CorpusDto.From(updated));
    }

    private static async Task<IResult> Delete(HttpContext ctx, string id, ICorpusStore store, IAuditLog audit, IUnitOfWork uow,
        Core.DataGovernance.LegalHolds holds, Core.Documents.IDocumentStore documents)
    {
        var principal = ctx.GetPrincipal();
        if (!Identifiers.IsValid(id)) throw NexusException.NotFound("corpus");
        // A legal hold on the tenant, on any document of this corpus or on the key that created one, keeps the corpus.
        var active = await holds.ActiveAsync(principal.TenantId, ctx.RequestAborted);
        if (active.Tenant is { } tenantHold) throw Core.DataGovernance.LegalHolds.Held(tenantHold);
        foreach (var (docId, hold) in active.HeldDocuments)
            if ((await documents.GetAsync(principal.TenantId, docId, ctx.RequestAborted))?.CorpusId == id) throw Core.DataGovernance.LegalHolds.Held(hold);
        await uow.RunAsync(async ct =>
        {
            switch (await store.DeleteAsync(principal.TenantId, id, ct))
            {
                case CorpusDeleteResult.NotFound: throw NexusException.NotFound("corpus", id);
                case CorpusDeleteResult.InFlight:
                    throw NexusException.Conflict(ErrorCodes.CorpusBusy, "The corpus has documents queued or processing; retry when ingestion has finished");
            }
            await ctx.AuditAsync(audit, "corpora.updated", "corpus", id, new() { ["action"] = "deleted" });
            return 0;
        }, ctx.RequestAborted);
        return ApiResults.Ok(ctx, new DeletedDto(id, true));
    }

    private static async Task<CorpusInfo> Find(HttpContext ctx, string id, ICorpusStore store)
    {
        if (!Identifiers.IsValid(id)) throw NexusException.NotFound("corpus");
        return await store.GetAsync(ctx.GetPrincipal().TenantId, id, ctx.RequestAborted) ?? throw NexusException.NotFound("corpus", id);
    }
}
