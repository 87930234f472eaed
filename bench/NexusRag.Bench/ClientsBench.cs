using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;

/// <summary>
/// `clients`: what the MCP and OpenAI-compatible surfaces cost over the native API, in one run against one Release server
/// (bootstrap corpus c1, rate limits out of reach): the MCP <c>search</c> tool (a stateless Streamable HTTP POST, answered
/// as one SSE event) against <c>POST /v1/search</c>, and a non-streaming <c>POST /v1/chat/completions</c> against
/// <c>POST /v1/run</c> read to its end, each with the same query. Requests alternate between the two sides of a pair,
/// `--requests` each per `--concurrency` level; p50/p95 latency and their ratios.
/// </summary>
static class ClientsBench
{
    public static async Task RunAsync(string[] args)
    {
        int requests = 400, port = 8290;
        var levels = new[] { 1, 8 };
        string? dll = null;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--requests": requests = int.Parse(args[++i]); break;
                case "--concurrency": levels = args[++i].Split(',').Select(int.Parse).ToArray(); break;
                case "--dll": dll = Path.GetFullPath(args[++i]); break;
                default: throw new ArgumentException($"unknown argument {args[i]}");
            }
        }
        dll ??= Path.Combine(FindRoot(), "src/NexusRag.Server/bin/Release/net10.0/NexusRag.Server.dll");
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores, .NET {Environment.Version}; {requests} requests per side and level");
        var dir = Path.Combine(Path.GetTempPath(), $"nexusrag-clientsbench-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        var url = $"http://127.0.0.1:{port}";
        var psi = new ProcessStartInfo("dotnet", [dll, "--urls", url]) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = dir };
        psi.Environment["NEXUSRAG_DATA_DIR"] = dir;
        psi.Environment["Logging__LogLevel__Default"] = "Warning";
        foreach (var cls in new[] { "Run", "Mutation", "Read", "Ops" })
            foreach (var scope in new[] { "Key", "Tenant" })
            {
                psi.Environment[$"NexusRag__RateLimit__{cls}__{scope}__Rps"] = "1000000";
                psi.Environment[$"NexusRag__RateLimit__{cls}__{scope}__Burst"] = "1000000";
            }
        psi.Environment["RUN_MAX_CONCURRENCY"] = "1000";
        using var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, _) => { };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        try
        {
            var key = await ReadBench.WaitForFile(Path.Combine(dir, "bootstrap-admin-key"));
            var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 64 }) { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(60) };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
            await WaitReady(http);
            const string query = "What are the release gates for Agent 2.0?";
            var n = 0;
            var pairs = new (string Name, Func<Task> Native, string NativeName, Func<Task> Other, string OtherName)[]
            {
                ("search", () => Post(http, "/v1/search", $$"""{"corpus_id":"c1","query":"{{query}}","top_k":5}"""), "POST /v1/search",
                    () => Post(http, "/v1/mcp", System.Text.Json.JsonSerializer.Serialize(new
                    {
                        jsonrpc = "2.0", id = Interlocked.Increment(ref n), method = "tools/call",
                        @params = new { name = "search", arguments = new { corpus_id = "c1", query, top_k = 5 } },
                    }), mcp: true),
                    "MCP tools/call search"),
                ("answer", () => Post(http, "/v1/run", $$"""{"session_id":"bench-{{Guid.NewGuid():N}}","corpus_id":"c1","message":"{{query}}"}"""), "POST /v1/run (SSE to done)",
                    () => Post(http, "/v1/chat/completions", $$"""{"model":"c1","messages":[{"role":"user","content":"{{query}}"}]}"""), "POST /v1/chat/completions"),
            };
            foreach (var (name, native, nativeName, other, otherName) in pairs)
            {
                for (var w = 0; w < 30; w++) { await native(); await other(); } // warm-up
                foreach (var c in levels)
                {
                    var (a, b) = await Alternate(native, other, requests, c);
                    Console.WriteLine($"{name} c={c}: {nativeName,-28} p50 {a.P50,7:F2} ms  p95 {a.P95,7:F2} ms | {otherName,-26} p50 {b.P50,7:F2} ms  p95 {b.P95,7:F2} ms | ratio p50 {b.P50 / a.P50:F2}  p95 {b.P95 / a.P95:F2}");
                }
            }
        }
        finally
        {
            try { p.Kill(entireProcessTree: true); p.WaitForExit(5000); } catch (InvalidOperationException) { }
            try { Directory.Delete(dir, true); } catch (IOException) { }
        }
    }

    private static async Task Post(HttpClient http, string path, string json, bool mcp = false)
    {
        using var req = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        if (mcp)
        {
            req.Headers.Accept.ParseAdd("application/json");
            req.Headers.Accept.ParseAdd("text/event-stream");
            req.Headers.Add("MCP-Protocol-Version", "2025-11-25");
        }
        using var resp = await http.SendAsync(req, HttpCompletionOption.ResponseContentRead);
        var body = await resp.Content.ReadAsStringAsync();
        if (!resp.IsSuccessStatusCode || body.Contains("\"isError\":true", StringComparison.Ordinal))
            throw new InvalidOperationException($"{path}: {(int)resp.StatusCode} {body[..Math.Min(300, body.Length)]}");
    }

    /// <summary>Each of <paramref name="concurrency"/> workers alternates A, B, A, B … until both have <paramref name="requests"/> samples.</summary>
    private static async Task<((double P50, double P95) A, (double P50, double P95) B)> Alternate(Func<Task> a, Func<Task> b, int requests, int concurrency)
    {
        var la = new List<double>();
        var lb = new List<double>();
        var left = requests;
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
        {
            while (Interlocked.Decrement(ref left) >= 0)
            {
                var t = Stopwatch.GetTimestamp();
                await a();
                var ta = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
                t = Stopwatch.GetTimestamp();
                await b();
                var tb = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
                lock (la) { la.Add(ta); lb.Add(tb); }
            }
        }));
        static (double, double) P(List<double> l)
        {
            var s = l.Order().ToArray();
            return (s[s.Length / 2], s[(int)(s.Length * 0.95)]);
        }
        return (P(la), P(lb));
    }

    private static string FindRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "NexusRag.slnx"))) return d.FullName;
        throw new InvalidOperationException("run from inside the repository");
    }

    private static async Task WaitReady(HttpClient http)
    {
        for (var i = 0; i < 600; i++)
        {
            try
            {
                using var resp = await http.GetAsync("/v1/documents?corpus_id=c1&status=succeeded");
                if (resp.IsSuccessStatusCode && (await resp.Content.ReadAsStringAsync()).Split("\"status\":\"succeeded\"").Length - 1 >= 3) return;
            }
            catch (HttpRequestException) { }
            await Task.Delay(100);
        }
        throw new TimeoutException("server did not become ready");
    }
}
