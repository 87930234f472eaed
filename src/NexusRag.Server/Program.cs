using NexusRag.Documents;
using NexusRag.Embeddings;
using NexusRag.Generation;
using NexusRag.Server.Apis;
using NexusRag.Server.Auth;
using NexusRag.Server.Hosting;
using NexusRag.Server.Http;
using NexusRag.Server.Mcp;
using NexusRag.Server.Telemetry;
using NexusRag.Storage;
using NexusRag.Storage.Redis;
using Scalar.AspNetCore;

// Settings are read once, at start (they are validated then): no watcher on the content root, which is where the user
// stands and holds ./var — watching it recursively turned every database and original write into inotify traffic.
var builder = WebApplication.CreateBuilder([.. args, "--hostBuilder:reloadConfigOnChange=false"]);
// `dotnet run` keeps the caller's directory as the content root (so ./var is where the user stands); the shipped
// appsettings.json (log levels) lives next to the binary: read it first, so every other source still overrides it.
if (!File.Exists(Path.Combine(builder.Environment.ContentRootPath, "appsettings.json")) && File.Exists(Path.Combine(AppContext.BaseDirectory, "appsettings.json")))
{
    builder.Configuration.Sources.Insert(0, new Microsoft.Extensions.Configuration.Json.JsonConfigurationSource
    {
        Path = "appsettings.json", Optional = true, FileProvider = new Microsoft.Extensions.FileProviders.PhysicalFileProvider(AppContext.BaseDirectory),
    });
}
if (!ServerRoles.TryRead(builder.Configuration, out var role, out var roleError))
{
    Console.Error.WriteLine(roleError);
    return 2;
}
if (string.IsNullOrEmpty(builder.Configuration["urls"]) && string.IsNullOrEmpty(builder.Configuration["ASPNETCORE_URLS"]))
    builder.WebHost.UseUrls(role == ServerRole.Worker ? "http://127.0.0.1:0" : "http://127.0.0.1:8000");

builder.AddNexusRagTelemetry();
builder.Services
    .AddNexusRagCore(builder.Configuration, role)
    .AddNexusRagStore(builder.Configuration)
    .AddNexusRagSharedState(builder.Configuration)
    .AddNexusRagEmbeddings(builder.Configuration)
    .AddNexusRagReranking(builder.Configuration)
    .AddNexusRagDocuments()
    .AddSearchIndex(builder.Configuration, followChanges: role.ServesApi())
    .AddNexusRagGeneration(builder.Configuration)
    .AddNexusRagHttp()
    .AddNexusRagAuth()
    .AddNexusRagMcp();
if (role.RunsWorker()) builder.Services.AddWorkers();

var app = builder.Build();
if (Startup.ValidateConfiguration(app.Services) is { } refusal)
{
    Console.Error.WriteLine(refusal);
    return 2;
}

app.UseMiddleware<RequestIdMiddleware>();
app.UseNexusRagRequestTelemetry();
app.UseMiddleware<ErrorEnvelopeMiddleware>();
app.UseRouting();
app.UseMetricsToken();
app.UseMiddleware<BodySizeLimitMiddleware>();
app.UseAuthentication();
app.UseAuthorization();
app.UseTenantLogScope();
app.UseMiddleware<GovernancePolicyMiddleware>();
app.UseMiddleware<BulkheadMiddleware>();
app.UseMiddleware<RateLimitMiddleware>();
app.UseMiddleware<QuotaMiddleware>();
app.UseMiddleware<IdempotencyMiddleware>();

app.MapHealthApi();
app.MapMetricsEndpoint();
if (role.ServesApi())
{
    app.MapCorporaApi();
    app.MapIndexVersionsApi();
    app.MapDocumentsApi();
    app.MapSearchApi();
    app.MapRunApi();
    app.MapAuditApi();
    app.MapRolloutsApi();
    app.MapApiKeysApi();
    app.MapPlansApi();
    app.MapQuotasApi();
    app.MapOpsApi();
    app.MapAuthzApi();
    app.MapOpenAiApi();
    app.MapBackupsApi();
    app.MapCryptoApi();
    app.MapGovernanceApi();
    app.MapComplianceApi();
    app.MapNexusRagMcp();
    app.MapOpenApi("/openapi/{documentName}.json").AllowPublic();
    if (!app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<NexusRagOptions>>().Value.IsProd)
        app.MapScalarApiReference("/docs", o => o.WithOpenApiRoutePattern("/openapi/{documentName}.json")).AllowPublic();
}
// Fail closed: an endpoint that does not say who may call it (or how it is rate limited) must not be served.
if (EndpointPolicyCheck.Violations(((IEndpointRouteBuilder)app).DataSources.SelectMany(d => d.Endpoints)) is { Count: > 0 } undeclared)
{
    Console.Error.WriteLine("nexusrag: refusing to start: " + string.Join("; ", undeclared));
    return 2;
}

if (await Startup.PrepareAsync(app.Services, app.Lifetime.ApplicationStopping) is { } notReady) // migrations, key check, first-start bootstrap
{
    Console.Error.WriteLine(notReady);
    return 2;
}
await app.RunAsync();
return 0;

public partial class Program;
