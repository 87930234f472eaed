using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text.Json;

/// <summary>
/// `reads`: authenticated read throughput of two or more server builds side by side, in one run on the same machine.
/// Each build (`--dll name=path/NexusRag.Server.dll`) starts on its own port and throwaway data directory, bootstraps
/// (tenant t1, corpus c1, three demo documents), and is driven with `--concurrency` connections for `--seconds` per
/// round on GET /v1/corpora/c1 and GET /v1/documents?limit=25, rounds interleaved across builds (A B A B …) so drift
/// hits all alike. Rate limiting is on with limits out of reach (the cost of deciding, not refusals), as in production.
/// `--env name:KEY=VALUE` sets a variable for one build, so one binary can be compared with itself under two settings
/// (telemetry on vs `OTEL_SDK_DISABLED=true`). Ratios are against a bare Kestrel app (`bench bare`) driven by the same client in
/// the same rounds (`--no-bare` compares against the first build instead).
/// </summary>
static class ReadBench
{
    public static async Task RunAsync(string[] args)
    {
        var dlls = new List<(string Name, string Path)>();
        var envs = new List<(string Name, string Key, string Value)>();
        int seconds = 5, concurrency = 32, rounds = 3;
        var withBare = true;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--dll": var kv = args[++i].Split('=', 2); dlls.Add((kv[0], Path.GetFullPath(kv[1]))); break;
                case "--env": // name:KEY=VALUE, an environment variable of one build (e.g. off:OTEL_SDK_DISABLED=true)
                    var (target, setting) = (args[++i].Split(':', 2)[0], args[i].Split(':', 2)[1].Split('=', 2));
                    envs.Add((target, setting[0], setting[1]));
                    break;
                case "--seconds": seconds = int.Parse(args[++i]); break;
                case "--concurrency": concurrency = int.Parse(args[++i]); break;
                case "--rounds": rounds = int.Parse(args[++i]); break;
                case "--no-bare": withBare = false; break;
                default: throw new ArgumentException($"unknown argument {args[i]}");
            }
        }
        if (dlls.Count == 0) throw new ArgumentException("give at least one --dll name=path/NexusRag.Server.dll");
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores, .NET {Environment.Version}; {concurrency} connections, {seconds} s x {rounds} rounds per endpoint and build");

        var servers = new List<(string Name, Process P, HttpClient Http, string Dir)>();
        (Process P, HttpClient Http)? bare = null;
        try
        {
            // The baseline, measured in the same run with the same client: a bare Kestrel app serving one small JSON body.
            if (withBare)
            {
                var bareUrl = "http://127.0.0.1:8189";
                var self = typeof(ReadBench).Assembly.Location;
                var bp = Process.Start(new ProcessStartInfo("dotnet", [self, "bare", "--urls", bareUrl]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
                bp.OutputDataReceived += (_, _) => { };
                bp.ErrorDataReceived += (_, _) => { };
                bp.BeginOutputReadLine();
                bp.BeginErrorReadLine();
                var bh = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = concurrency }) { BaseAddress = new Uri(bareUrl) };
                for (var i = 0; i < 300; i++)
                {
                    try { using var r = await bh.GetAsync("/ok"); if (r.IsSuccessStatusCode) break; }
                    catch (HttpRequestException) { }
                    await Task.Delay(100);
                }
                bare = (bp, bh);
            }
            var port = 8190;
            foreach (var (name, dll) in dlls)
            {
                var dir = Path.Combine(Path.GetTempPath(), $"nexusrag-readbench-{name}-{Guid.NewGuid():N}");
                Directory.CreateDirectory(dir);
                var url = $"http://127.0.0.1:{port++}";
                var psi = new ProcessStartInfo("dotnet", [dll, "--urls", url]) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = dir };
                psi.Environment["NEXUSRAG_DATA_DIR"] = dir;
                psi.Environment["Logging__LogLevel__Default"] = "Warning";
                psi.Environment["RATE_LIMIT_ENABLED"] = "true";
                foreach (var cls in new[] { "Run", "Mutation", "Read", "Ops" })
                    foreach (var scope in new[] { "Key", "Tenant" })
                    {
                        psi.Environment[$"NexusRag__RateLimit__{cls}__{scope}__Rps"] = "1000000";
                        psi.Environment[$"NexusRag__RateLimit__{cls}__{scope}__Burst"] = "1000000";
                    }
                foreach (var e in envs.Where(e => e.Name == name)) psi.Environment[e.Key] = e.Value;
                var p = Process.Start(psi)!;
                p.OutputDataReceived += (_, _) => { };
                p.ErrorDataReceived += (_, _) => { };
                p.BeginOutputReadLine();
                p.BeginErrorReadLine();
                var key = await WaitForFile(Path.Combine(dir, "bootstrap-admin-key"));
                var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = concurrency }) { BaseAddress = new Uri(url) };
                http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
                await WaitReady(http);
                servers.Add((name, p, http, dir));
            }

            foreach (var path in new[] { "/v1/corpora/c1", "/v1/documents?limit=25" })
            {
                var results = servers.ToDictionary(s => s.Name, _ => new List<(double Rps, double P50, double P99)>());
                var bareResults = new List<(double Rps, double P50, double P99)>();
                foreach (var s in servers) await Drive(s.Http, path, concurrency, 1); // warm-up
                if (bare is { } b0) await Drive(b0.Http, "/ok", concurrency, 1);
                for (var r = 0; r < rounds; r++)
                {
                    if (bare is { } b) bareResults.Add(await Drive(b.Http, "/ok", concurrency, seconds));
                    foreach (var s in servers) results[s.Name].Add(await Drive(s.Http, path, concurrency, seconds));
                }
                var baseline = bareResults.Count > 0 ? bareResults.Max(x => x.Rps) : results[servers[0].Name].Max(x => x.Rps);
                if (bareResults.Count > 0)
                {
                    var bb = bareResults.MaxBy(x => x.Rps);
                    Console.WriteLine($"GET {"(bare Kestrel /ok)",-24} {"bare",-8} {bb.Rps,8:F0} req/s (best of {rounds}; all: {string.Join(", ", bareResults.Select(x => x.Rps.ToString("F0")))})  p50 {bb.P50:F2} ms  p99 {bb.P99:F2} ms  ratio 1.00");
                }
                foreach (var s in servers)
                {
                    var best = results[s.Name].MaxBy(x => x.Rps);
                    Console.WriteLine($"GET {path,-24} {s.Name,-8} {best.Rps,8:F0} req/s (best of {rounds}; all: {string.Join(", ", results[s.Name].Select(x => x.Rps.ToString("F0")))})  p50 {best.P50:F2} ms  p99 {best.P99:F2} ms  ratio {best.Rps / baseline:F2}");
                }
            }
        }
        finally
        {
            if (bare is { } bk) { try { bk.P.Kill(entireProcessTree: true); bk.P.WaitForExit(5000); } catch (InvalidOperationException) { } }
            foreach (var s in servers)
            {
                try { s.P.Kill(entireProcessTree: true); s.P.WaitForExit(5000); } catch (InvalidOperationException) { }
                try { Directory.Delete(s.Dir, true); } catch (IOException) { }
            }
        }
    }

    private static async Task<(double Rps, double P50, double P99)> Drive(HttpClient http, string path, int concurrency, int seconds)
    {
        var stop = Stopwatch.StartNew();
        var until = TimeSpan.FromSeconds(seconds);
        var latencies = new List<double>[concurrency];
        var failures = 0;
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async c =>
        {
            var mine = latencies[c] = new List<double>(4096);
            while (stop.Elapsed < until)
            {
                var t = Stopwatch.GetTimestamp();
                using var resp = await http.GetAsync(path, HttpCompletionOption.ResponseContentRead);
                mine.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
                if (!resp.IsSuccessStatusCode) Interlocked.Increment(ref failures);
            }
        }));
        if (failures > 0) throw new InvalidOperationException($"{failures} failed requests on {path}");
        var all = latencies.SelectMany(x => x).Order().ToArray();
        return (all.Length / stop.Elapsed.TotalSeconds, all[all.Length / 2], all[(int)(all.Length * 0.99)]);
    }

    internal static async Task<string> WaitForFile(string path)
    {
        for (var i = 0; i < 600; i++)
        {
            if (File.Exists(path) && (await File.ReadAllTextAsync(path)).Trim() is { Length: > 0 } k) return k;
            await Task.Delay(100);
        }
        throw new TimeoutException($"no {path}");
    }

    private static async Task WaitReady(HttpClient http)
    {
        for (var i = 0; i < 600; i++)
        {
            try
            {
                using var resp = await http.GetAsync("/v1/documents?corpus_id=c1");
                if (resp.IsSuccessStatusCode)
                {
                    using var doc = JsonDocument.Parse(await resp.Content.ReadAsStringAsync());
                    var items = doc.RootElement.GetProperty("data").GetProperty("items");
                    if (items.GetArrayLength() >= 3 && items.EnumerateArray().All(d => d.GetProperty("status").GetString() == "succeeded")) return;
                }
            }
            catch (HttpRequestException) { }
            await Task.Delay(100);
        }
        throw new TimeoutException("server did not become ready");
    }
}
