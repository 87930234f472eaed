using NexusRag.Core.Auth;
using NexusRag.Core.Corpora;
using NexusRag.Core.Errors;
using NexusRag.Core.Model;
using NexusRag.Core.Ports;
using NexusRag.Core.Services;
using NexusRag.Server.Http;

namespace NexusRag.Server.Apis;

public static class CorporaApi
{
    public static RouteGroupBuilder MapCorporaApi(this IEndpointRouteBuilder app)
    {
        var g = app.MapGroup("/v1/corpora").WithTags("Corpora");
        g.MapGet("/", List).RequireRole(Role.Reader).Produces<Envelope<IReadOnlyList<CorpusDto>>>();
        g.MapGet("/{id}", Get).RequireRole(Role.Reader).Produces<Envelope<CorpusDto>>();
        g.MapPost("/", Create).RequireRole(Role.Admin).Accepts<CreateCorpusRequest>("application/json").Produces<Envelope<CorpusDto>>(201);
        g.MapPatch("/{id}", Patch).RequireRole(Role.Editor).Accepts<PatchCorpusRequest>("application/json").Produces<Envelope<CorpusDto>>();
        g.MapDelete("/{id}", Delete).RequireRole(Role.Admin).Produces<Envelope<DeletedDto>>();
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

    private static async Task<IResult> Create(HttpContext ctx, ICorpusStore store, IAuditLog audit)
    {
        var body = await JsonBody.ReadAsync<CreateCorpusRequest>(ctx.Request);
        var errors = new Dictionary<string, string[]>();
        var id = body.Id ?? Identifiers.NewId("corpus");
        if (!Identifiers.IsValid(id)) errors["id"] = [Identifiers.Rule];
        var name = body.Name?.Trim() ?? id;
        if (name.Length is 0 or > 200) errors["name"] = ["must be 1-200 characters"];
        if (errors.Count > 0) throw ApiException.Validation(errors);
        var config = ProviderConfig.Normalize(body.ProviderConfigJson);

        var principal = ctx.GetPrincipal();
        var created = await store.CreateAsync(principal.TenantId, id, name, config, ctx.RequestAborted)
            ?? throw ApiException.Conflict(ErrorCodes.CorpusExists, $"Corpus '{id}' already exists", new Dictionary<string, object?> { ["id"] = id });
        await audit.AppendAsync(new AuditEntry(principal.TenantId, "corpora.updated", "success", "api_key", principal.ApiKeyId ?? principal.Actor,
            "corpus", id, RequestIdMiddleware.Get(ctx), new Dictionary<string, object?> { ["action"] = "created" }), ctx.RequestAborted);
        return ApiResults.Ok(ctx, CorpusDto.From(created), StatusCodes.Status201Created);
    }

    private static async Task<IResult> Patch(HttpContext ctx, string id, ICorpusStore store, IAuditLog audit, Core.Governance.Entitlements entitlements)
    {
        await Find(ctx, id, store);
        var body = await JsonBody.ReadAsync<PatchCorpusRequest>(ctx.Request);
        if (body.ProviderConfigJson is not null)
            await entitlements.EnsureAsync(ctx.GetPrincipal().TenantId, Core.Governance.Plans.CorporaPatchProviderConfig, ctx.RequestAborted);
        if (body.Name is null && body.ProviderConfigJson is null)
            throw ApiException.Validation("body", "send at least one of name, provider_config_json");
        var name = body.Name?.Trim();
        if (name is { Length: 0 or > 200 }) throw ApiException.Validation("name", "must be 1-200 characters");
        var config = body.ProviderConfigJson is null ? null : ProviderConfig.Normalize(body.ProviderConfigJson);

        var principal = ctx.GetPrincipal();
        var updated = await store.UpdateAsync(principal.TenantId, id, name, config, ctx.RequestAborted)
            ?? throw ApiException.NotFound("corpus", id);
        var fields = new List<string>();
        if (name is not null) fields.Add("name");
        if (config is not null) fields.Add("provider_config_json");
        await audit.AppendAsync(new AuditEntry(principal.TenantId, "corpora.updated", "success", "api_key", principal.ApiKeyId ?? principal.Actor,
            "corpus", id, RequestIdMiddleware.Get(ctx), new Dictionary<string, object?> { ["action"] = "updated", ["fields"] = fields }), ctx.RequestAborted);
        return ApiResults.Ok(ctx, CorpusDto.From(updated));
    }

    private static async Task<IResult> Delete(HttpContext ctx, string id, ICorpusStore store, IAuditLog audit)
    {
        var principal = ctx.GetPrincipal();
        if (!Identifiers.IsValid(id)) throw ApiException.NotFound("corpus");
        switch (await store.DeleteAsync(principal.TenantId, id, ctx.RequestAborted))
        {
            case CorpusDeleteResult.NotFound: throw ApiException.NotFound("corpus", id);
            case CorpusDeleteResult.InFlight:
                throw ApiException.Conflict(ErrorCodes.CorpusBusy, "The corpus has documents queued or processing; retry when ingestion has finished");
        }
        await audit.AppendAsync(new AuditEntry(principal.TenantId, "corpora.updated", "success", "api_key", principal.ApiKeyId ?? principal.Actor,
            "corpus", id, RequestIdMiddleware.Get(ctx), new Dictionary<string, object?> { ["action"] = "deleted" }), ctx.RequestAborted);
        return ApiResults.Ok(ctx, new DeletedDto(id, true));
    }

    private static async Task<CorpusInfo> Find(HttpContext ctx, string id, ICorpusStore store)
    {
        if (!Identifiers.IsValid(id)) throw ApiException.NotFound("corpus");
        return await store.GetAsync(ctx.GetPrincipal().TenantId, id, ctx.RequestAborted) ?? throw ApiException.NotFound("corpus", id);
    }
}
