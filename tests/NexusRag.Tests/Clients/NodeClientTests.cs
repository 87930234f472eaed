using System.Diagnostics;
using System.Net.Http.Json;
using NexusRag.Tests.Infrastructure;

namespace NexusRag.Tests.Clients;

/// <summary>
/// The official clients from npm (<c>@modelcontextprotocol/sdk</c>, <c>openai</c>, installed by scripts/test.sh with
/// <c>npm ci</c> from tests/clients/package-lock.json) run their tests (tests/clients/*.test.mjs, <c>node --test</c>)
/// against the real server binary on a real port, on the store this suite runs on.
/// </summary>
public sealed class NodeClientTests
{
    [NodeClientsFact]
    public async Task The_official_mcp_and_openai_node_clients_pass_against_a_real_server()
    {
        using var dir = new TempDir("nexusrag-node");
        var settings = TestStore.SettingsFor(dir.Path);
        async Task<string> KeyAsync(string tenant, string role)
        {
            var (code, output) = await CliRunner.RunAsync(settings, "keys", "create", "--tenant", tenant, "--role", role, "--name", $"node-{role}");
            Assert.True(code == 0, output);
            return output.Split('\n').Select(l => l.Trim()).Single(l => l.StartsWith("nrgk_", StringComparison.Ordinal));
        }
        var adminA = await KeyAsync("node-a", "admin");
        var readerA = await KeyAsync("node-a", "reader");
        var adminB = await KeyAsync("node-b", "admin");

        using var server = ServerProcess.Start(dir.Path, new Dictionary<string, string> { ["Logging__LogLevel__Default"] = "Warning" });
        var a = await server.ClientAsync(adminA);
        (await a.PostAsJsonAsync("/v1/corpora", new { id = "handbook", name = "Handbook" })).EnsureSuccessStatusCode();
        await a.IngestTextAsync("handbook", McpServerTests.Gates, "gates");
        await a.IngestTextAsync("handbook", McpServerTests.Lunch, "lunch");
        await a.WaitForDocumentAsync("gates");
        await a.WaitForDocumentAsync("lunch");
        var b = await server.ClientAsync(adminB);
        (await b.PostAsJsonAsync("/v1/corpora", new { id = "elsewhere" })).EnsureSuccessStatusCode();

        var psi = new ProcessStartInfo("node", ["--test", "--test-reporter=tap", "mcp.test.mjs", "openai.test.mjs"])
        {
            WorkingDirectory = NodeClientsFactAttribute.Folder!, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        psi.Environment["NEXUSRAG_URL"] = $"http://127.0.0.1:{server.Port}";
        psi.Environment["NEXUSRAG_KEY"] = readerA;
        psi.Environment["NEXUSRAG_OTHER_KEY"] = adminB;
        psi.Environment["NEXUSRAG_CORPUS"] = "handbook";
        psi.Environment["NEXUSRAG_GATES_DOC"] = "gates";
        using var node = Process.Start(psi)!;
        var stdout = node.StandardOutput.ReadToEndAsync();
        var stderr = node.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await node.WaitForExitAsync(timeout.Token);
        var output = await stdout + await stderr;
        Assert.True(node.ExitCode == 0, $"node --test failed ({node.ExitCode}):\n{output}");
        // Every test of both files ran (node prints its totals): none was skipped or left out.
        Assert.Contains("# fail 0", output);
        Assert.Matches(@"# pass (1[0-9]|[2-9][0-9])", output);
    }
}

/// <summary>Runs when the npm clients are installed (scripts/test.sh runs <c>npm ci</c> in tests/clients first).</summary>
public sealed class NodeClientsFactAttribute : FactAttribute
{
    /// <summary>tests/clients of this checkout, found upwards from the test binary.</summary>
    public static readonly string? Folder = Find();

    private static string? Find()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            var candidate = Path.Combine(d.FullName, "tests", "clients");
            if (File.Exists(Path.Combine(candidate, "package.json"))) return candidate;
        }
        return null;
    }

    public NodeClientsFactAttribute()
    {
        if (Folder is null || !Directory.Exists(Path.Combine(Folder, "node_modules", "openai")) || !Directory.Exists(Path.Combine(Folder, "node_modules", "@modelcontextprotocol", "sdk")))
            Skip = "the npm clients are not installed: run scripts/test.sh (it runs npm ci in tests/clients)";
    }
}
