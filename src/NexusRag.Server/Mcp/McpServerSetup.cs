using System.Reflection;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;
using NexusRag.Core.Governance;
using NexusRag.Server.Http;

namespace NexusRag.Server.Mcp;

/// <summary>
/// The MCP server at <c>/v1/mcp</c>: Streamable HTTP from the official C# SDK, stateless (every POST stands alone, so any
/// replica serves any call and nothing is kept between them), behind the same API keys, rate limits, quotas and audit as
/// the rest of the API. Tools and resources are hand-described (<see cref="McpTools"/>) so their input schemas say exactly
/// what the HTTP API accepts, and a bad argument comes back as a tool error (<c>isError</c>) with the HTTP API's code.
/// </summary>
public static class McpServerSetup
{
    public const string Route = "/v1/mcp";

    public static IServiceCollection AddNexusRagMcp(this IServiceCollection services)
    {
        services.AddHttpContextAccessor();
        services.AddSingleton<McpTools>();
        services.AddMcpServer(o =>
            {
                o.ServerInfo = new Implementation { Name = "nexusrag", Title = "NexusRAG", Version = typeof(McpServerSetup).Assembly
                    .GetCustomAttribute<System.Reflection.AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0" };
                o.ServerInstructions = "Search and ask questions over the document corpora this API key may read. Start with list_corpora; " +
                                       "search returns ranked passages with their sources; ask returns a grounded answer with numbered citations.";
            })
            .WithHttpTransport(o => o.Stateless = true)
            .WithListToolsHandler((request, ct) => ValueTask.FromResult(new ListToolsResult { Tools = Tools(request).Definitions }))
            .WithCallToolHandler((request, ct) => Tools(request).CallAsync(request, ct))
            .WithListResourcesHandler((request, ct) => Tools(request).ListResourcesAsync(request, ct))
            .WithListResourceTemplatesHandler((request, ct) => ValueTask.FromResult(new ListResourceTemplatesResult { ResourceTemplates = McpTools.Templates }))
            .WithReadResourceHandler((request, ct) => Tools(request).ReadResourceAsync(request, ct));
        return services;
    }

    private static McpTools Tools(MessageContext request) =>
        (request.Services ?? throw new InvalidOperationException("MCP request without services")).GetRequiredService<McpTools>();

    /// <summary>
    /// Maps the transport. Every MCP HTTP request needs a reader key and counts once against the read class and the quota;
    /// <c>ask</c> additionally passes the run class's limit and costs the two more units a run costs (<see cref="McpTools"/>).
    /// </summary>
    public static IEndpointConventionBuilder MapNexusRagMcp(this IEndpointRouteBuilder app) =>
        app.MapMcp(Route).RequireRole(Core.Auth.Role.Reader).WithRateClass(RouteClasses.Read).WithAuditCategory("mcp").WithTags("MCP");
}
