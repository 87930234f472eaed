using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using NexusRag.Core.Auth;
using NexusRag.Tests.Infrastructure;

namespace NexusRag.Tests.Integration;

/// <summary>A PostgreSQL server of the test's own (initdb in a temp dir, loopback, free port), stopped and started at will.</summary>
public sealed class OwnPostgres : IDisposable
{
    private static readonly string Bin = Environment.GetEnvironmentVariable("PG_BIN") ?? "/usr/lib/postgresql/15/bin";
    private readonly TempDir _dir = new("nexusrag-ownpg");
    private string Data => Path.Combine(_dir.Path, "data");
    public int Port { get; }
    public string ConnectionString => $"Host=127.0.0.1;Port={Port};Username=postgres;Database=postgres;Timeout=3;Command Timeout=10";

    public OwnPostgres()
    {
        using (var l = new TcpListener(IPAddress.Loopback, 0)) { l.Start(); Port = ((IPEndPoint)l.LocalEndpoint).Port; }
        if (!File.Exists(Path.Combine(Bin, "initdb")))
            throw new InvalidOperationException($"PostgreSQL server binaries not found in {Bin}: install Debian's postgresql (scripts/test.sh does it as root)");
        if (Environment.UserName == "root") Run("chown", "postgres", _dir.Path);
        Pg("initdb", "-D", Data, "-U", "postgres", "--auth=trust");
        Start();
    }

    public void Start() => Pg("pg_ctl", "-D", Data, "-l", Path.Combine(_dir.Path, "pg.log"), "-w", "-o",
        $"-c listen_addresses=127.0.0.1 -p {Port} -k {Data} -c fsync=off", "start");

    public void Stop() => Pg("pg_ctl", "-D", Data, "-m", "immediate", "-w", "stop");

    private static void Pg(string tool, params string[] args)
    {
        // initdb and postgres refuse to run as root: run them as the postgres system user then.
        if (Environment.UserName == "root") Run("runuser", ["-u", "postgres", "--", Path.Combine(Bin, tool), .. args]);
        else Run(Path.Combine(Bin, tool), args);
    }

    private static void Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        _ = p.StandardOutput.ReadToEndAsync();
        if (!p.WaitForExit(60_000)) { p.Kill(true); throw new TimeoutException($"{file} {string.Join(' ', args)} timed out"); }
        if (p.ExitCode != 0) throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed: {err.Result}");
    }

    public void Dispose()
    {
        try { Stop(); } catch (InvalidOperationException) { }
        _dir.Dispose();
    }
}

public class DatabaseOutageTests
{
    [Fact]
    public async Task Losing_postgres_degrades_health_answers_503_and_recovers_by_itself()
    {
        using var pg = new OwnPostgres();
        using var app = new NexusAppFactory(new() { ["DATABASE_URL"] = pg.ConnectionString });
        var client = await app.AdminForTenantAsync("t1");
        await client.IngestTextAsync("docs", "Before the outage.", "before");
        await client.WaitForDocumentAsync("before");

        pg.Stop();
        var health = await (await client.GetAsync("/v1/health")).DataAsync();
        Assert.Equal("degraded", health.GetProperty("status").GetString());
        Assert.Equal("down", health.GetProperty("checks").GetProperty("database").GetString());
        var probe = await client.GetAsync("/health");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, probe.StatusCode);
        var down = await client.GetAsync("/v1/corpora");
        await down.AssertErrorAsync(503, "DB_UNAVAILABLE");
        Assert.Equal("2", down.Headers.GetValues("Retry-After").Single());
        await (await client.PostAsJsonAsync("/v1/search", new { corpus_id = "docs", query = "outage" })).AssertErrorAsync(503, "DB_UNAVAILABLE");

        pg.Start();
        var sw = Stopwatch.StartNew();
        HttpStatusCode status = 0;
        while (sw.Elapsed < TimeSpan.FromSeconds(30))
        {
            status = (await client.GetAsync("/v1/corpora")).StatusCode;
            if (status == HttpStatusCode.OK) break;
            await Task.Delay(200);
        }
        Assert.Equal(HttpStatusCode.OK, status);
        // Health is computed at most once a second per replica: the recovery shows within that.
        Assert.Equal("ok", await Eventually.ReadAsync(async () => (await (await client.GetAsync("/v1/health")).DataAsync()).GetProperty("status").GetString(), s => s == "ok", timeoutSeconds: 5));
        // The worker kept running through the outage and ingests again.
        await client.IngestTextAsync("docs", "After the outage.", "after");
        await client.WaitForDocumentAsync("after", timeoutMs: 30_000);
        var hit = await (await client.PostAsJsonAsync("/v1/search", new { corpus_id = "docs", query = "after outage", mode = "lexical" })).DataAsync();
        Assert.Equal("after", hit.GetProperty("results")[0].GetProperty("document_id").GetString());
    }

    [Fact]
    public async Task A_server_started_before_its_database_waits_for_it()
    {
        using var pg = new OwnPostgres();
        pg.Stop();
        var startTask = Task.Run(() =>
        {
            var app = new NexusAppFactory(new() { ["DATABASE_URL"] = pg.ConnectionString });
            _ = app.Services; // builds and starts the host: migrations wait for the database
            return app;
        });
        await Task.Delay(1500);
        Assert.False(startTask.IsCompleted); // still waiting, not crashed
        pg.Start();
        using var app = await startTask.WaitAsync(TimeSpan.FromSeconds(60));
        var client = app.ClientWithKey(await app.CreateKeyAsync("t1", Role.Reader));
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/v1/corpora")).StatusCode);
    }
}
