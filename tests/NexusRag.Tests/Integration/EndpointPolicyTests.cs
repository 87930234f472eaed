using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using NexusRag.Core.Auth;
using NexusRag.Core.Governance;
using NexusRag.Server.Http;
using NexusRag.Tests.Infrastructure;

namespace NexusRag.Tests.Integration;

/// <summary>Endpoint policy is declared on every endpoint of the running app, and an undeclared one is refused.</summary>
public sealed class EndpointPolicyTests
{
    [Fact]
    public void Every_endpoint_of_the_running_server_declares_a_policy_and_every_authenticated_one_a_rate_class()
    {
        using var app = new NexusAppFactory();
        _ = app.CreateClient();
        var endpoints = app.Service<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>().ToList();
        Assert.True(endpoints.Count >= 37, $"only {endpoints.Count} endpoints found");
        Assert.Empty(EndpointPolicyCheck.Violations(endpoints));
        foreach (var e in endpoints)
        {
            var isPublic = e.Metadata.GetMetadata<Microsoft.AspNetCore.Authorization.IAllowAnonymous>() is not null;
            if (isPublic)
            {
                Assert.Contains(e.RoutePattern.RawText!, new[] { "/v1/health", "/health", "/v1/metrics", "/openapi/{documentName}.json", "/docs/{documentName?}" }.Concat(
                    e.RoutePattern.RawText!.StartsWith("/docs", StringComparison.Ordinal) ? [e.RoutePattern.RawText] : []));
                continue;
            }
            var rateClass = e.Metadata.GetMetadata<RateClass>()!.Name;
            Assert.Contains(rateClass, new[] { RouteClasses.Run, RouteClasses.Mutation, RouteClasses.Read, RouteClasses.Ops });
            var methods = e.Metadata.GetMetadata<IHttpMethodMetadata>()!.HttpMethods;
            // Reads are never idempotency participants; every write is, except what changes nothing a replay could repeat:
            // the streamed /v1/run, the search read, the stateless OpenAI-compatible answers and embeddings, and MCP calls.
            if (methods.All(m => m == "GET")) Assert.Null(e.Metadata.GetMetadata<IdempotentWrite>());
            else if (e.RoutePattern.RawText is not ("/v1/run" or "/v1/search/" or "/v1/chat/completions" or "/v1/embeddings" or "/v1/mcp/"))
                Assert.True(e.Metadata.GetMetadata<IdempotentWrite>() is not null, $"{e.RoutePattern.RawText} takes no Idempotency-Key");
        }
        var run = endpoints.Single(e => e.RoutePattern.RawText == "/v1/run");
        Assert.Equal(3, run.Metadata.GetMetadata<QuotaCost>()!.Units);
        Assert.Equal(RouteClasses.Run, run.Metadata.GetMetadata<RateClass>()!.Name);
        Assert.Equal(RouteClasses.Ops, endpoints.Single(e => e.RoutePattern.RawText == "/v1/audit/events").Metadata.GetMetadata<RateClass>()!.Name);
        var chat = endpoints.Single(e => e.RoutePattern.RawText == "/v1/chat/completions");
        Assert.Equal((3, RouteClasses.Run), (chat.Metadata.GetMetadata<QuotaCost>()!.Units, chat.Metadata.GetMetadata<RateClass>()!.Name));
        Assert.Equal(RouteClasses.Read, endpoints.Single(e => e.RoutePattern.RawText == "/v1/mcp/").Metadata.GetMetadata<RateClass>()!.Name);
    }

    [Fact]
    public async Task An_endpoint_without_a_policy_or_without_a_rate_class_is_a_violation()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Services.AddRouting();
        await using var web = builder.Build();
        web.MapGet("/undeclared", () => "open");
        web.MapGet("/no-rate-class", () => "x").RequireRole(Role.Reader);
        web.MapGet("/fine", () => "x").RequireRole(Role.Reader).WithRateClass(RouteClasses.Read);
        web.MapGet("/public", () => "x").AllowPublic();
        var violations = EndpointPolicyCheck.Violations(((IEndpointRouteBuilder)web).DataSources.SelectMany(d => d.Endpoints));
        Assert.Equal(2, violations.Count);
        Assert.Contains(violations, v => v.Contains("/undeclared", StringComparison.Ordinal) && v.Contains("no authorization policy", StringComparison.Ordinal));
        Assert.Contains(violations, v => v.Contains("/no-rate-class", StringComparison.Ordinal) && v.Contains("no rate class", StringComparison.Ordinal));
    }
}
