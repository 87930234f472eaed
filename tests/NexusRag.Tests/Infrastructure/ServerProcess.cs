using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;

namespace NexusRag.Tests.Infrastructure;

/// <summary>
/// The real server binary as a child process on a free loopback port, with its stdout and stderr lines kept, so tests
/// can read its logs and send it real signals (SIGTERM).
/// </summary>
public sealed class ServerProcess : IDisposable
{
    private readonly Process _process;
    public ConcurrentQueue<string> Lines { get; } = new();
    public int Port { get; }

    private ServerProcess(Process process, int port) => (_process, Port) = (process, port);

    public int Id => _process.Id;
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;

    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    /// <summary>Starts the server in <paramref name="dataDir"/> on the test store, bootstrap off, with <paramref name="env"/> on top.</summary>
    public static ServerProcess Start(string dataDir, Dictionary<string, string>? env = null, string role = "all")
    {
        var port = FreePort();
        var dll = Path.Combine(AppContext.BaseDirectory, "NexusRag.Server.dll");
        var psi = new ProcessStartInfo("dotnet", [dll, "--role", role, "--urls", $"http://127.0.0.1:{port}"])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = dataDir, UseShellExecute = false,
        };
        foreach (var (k, v) in TestStore.SettingsFor(dataDir)) psi.Environment[k] = v;
        psi.Environment["NexusRag__Bootstrap"] = "false";
        psi.Environment["RATE_LIMIT_ENABLED"] = "false";
        psi.Environment["NexusRag__Ingestion__PollIntervalMs"] = "100";
        foreach (var (k, v) in env ?? []) psi.Environment[k] = v;
        var process = Process.Start(psi)!;
        var self = new ServerProcess(process, port);
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) self.Lines.Enqueue(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) self.Lines.Enqueue(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return self;
    }

    /// <summary>A client of this server with <paramref name="key"/>, once <c>/v1/health</c> answers.</summary>
    public async Task<HttpClient> ClientAsync(string? key = null)
    {
        // An outside caller: no trace context from this test process (another test's listener may have sampled its
        // ambient activity, and a propagated "sampled" flag would override the server's own sampling decision).
        var client = new HttpClient(new SocketsHttpHandler { ActivityHeadersPropagator = null })
        {
            BaseAddress = new Uri($"http://127.0.0.1:{Port}"), Timeout = TimeSpan.FromSeconds(60),
        };
        if (key is not null) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        for (var i = 0; i < 300; i++)
        {
            if (_process.HasExited) throw new Xunit.Sdk.XunitException($"server exited with {_process.ExitCode}: {string.Join("\n", Lines)}");
            try { if ((await client.GetAsync("/v1/health")).IsSuccessStatusCode) return client; } catch (HttpRequestException) { }
            await Task.Delay(100);
        }
        throw new Xunit.Sdk.XunitException($"server on port {Port} did not become healthy: {string.Join("\n", Lines)}");
    }

    /// <summary>Sends SIGTERM (what an orchestrator sends before it stops a container).</summary>
    public void Terminate()
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]) { UseShellExecute = false })!;
        kill.WaitForExit();
    }

    /// <summary>SIGKILL: no graceful shutdown (leases and streams are left as a crash leaves them).</summary>
    public async Task KillAsync()
    {
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
    }

    public async Task<bool> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try { await _process.WaitForExitAsync(cts.Token); return true; }
        catch (OperationCanceledException) { return false; }
    }

    public void Dispose()
    {
        try { if (!_process.HasExited) _process.Kill(entireProcessTree: true); _process.WaitForExit(5000); } catch (InvalidOperationException) { }
        _process.Dispose();
    }
}
