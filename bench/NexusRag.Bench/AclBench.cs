using System.Diagnostics;
using Microsoft.Extensions.Options;
using NexusRag.Core.Authorization;
using NexusRag.Core.Search;
using NexusRag.Search;

/// <summary>
/// `acl`: the cost of document-level access control in search. (1) Inside the index: a 100k-chunk corpus (25k documents ×
/// 4 chunks, 384-d clustered vectors, Zipf text) searched hybrid/lexical/vector with 0 %, 1 %, 50 % and 99 % of its
/// documents forbidden to the caller, p50/p95 against the unfiltered search of the same run. (2) Building the
/// per-request readable set: <see cref="DocumentAuthorizer.ReadableAsync"/> over a store of labelled documents under
/// the seed's deny policy plus an allow policy.
/// </summary>
static class AclBench
{
    public static void Run(string[] args)
    {
        string? Val(string name) => Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : null;
        var n = int.Parse(Val("--chunks") ?? "100000");
        var queries = int.Parse(Val("--queries") ?? "200");
        var hnsw = Val("--mode") == "hnsw";
        const int dims = 384;
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores, .NET {Environment.Version}; {n} chunks ({n / 4} documents), {queries} queries, vectors {(hnsw ? "HNSW" : "exact")}");

        var rng = new Random(7);
        var centroids = Enumerable.Range(0, 2048).Select(_ => SearchBench.Gaussian(rng, dims, 1f)).ToArray();
        var vocab = Enumerable.Range(0, 50_000).Select(i => $"t{i}").ToArray();
        var cdf = new double[vocab.Length];
        double acc = 0;
        for (var i = 0; i < vocab.Length; i++) { acc += 1.0 / (i + 1); cdf[i] = acc; }
        string Word(Random r) { var x = r.NextDouble() * acc; var i = Array.BinarySearch(cdf, x); return vocab[i < 0 ? ~i : i]; }
        float[] Vec(Random r) { var c = centroids[r.Next(centroids.Length)]; var v = SearchBench.Gaussian(r, dims, 1f); for (var d = 0; d < dims; d++) v[d] += c[d]; return SearchBench.Normalize(v); }

        var index = new CorpusIndex(new SearchOptions { HnswThreshold = hnsw ? 0 : int.MaxValue, HnswEfConstruction = 100, CandidatesPerLeg = 100 });
        var sw = Stopwatch.StartNew();
        var cr = new Random(11);
        Dictionary<string, string[]> noFields = [];
        foreach (var batch in Enumerable.Range(0, n).Chunk(10_000))
            index.Apply(batch.Select(i => ($"c{i}", (IndexedChunk?)new IndexedChunk($"c{i}", $"d{i / 4}", i % 4, i + 1, noFields,
                Enumerable.Range(0, 40).Select(_ => Word(cr)).ToList(), Vec(cr)))));
        Console.WriteLine($"index built in {sw.Elapsed.TotalSeconds:F1} s");

        var qr = new Random(99);
        var qs = Enumerable.Range(0, queries).Select(_ => (Text: string.Join(' ', Enumerable.Range(0, 3).Select(_ => Word(qr))), Vector: Vec(qr))).ToArray();
        foreach (var mode in new[] { SearchMode.Hybrid, SearchMode.Lexical, SearchMode.Vector })
        {
            double? baseP50 = null, baseP95 = null;
            foreach (var forbiddenPct in new[] { -1, 0, 1, 50, 99 })
            {
                // Forbidden documents spread evenly (by id hash), decided once per document per query as in the server;
                // "-1": no filter at all (the baseline), "0": a filter that forbids nothing (the cost of filtering itself).
                Func<string, bool>? readable = forbiddenPct < 0 ? null : doc => (uint)StringComparer.Ordinal.GetHashCode(doc) % 100 >= forbiddenPct;
                var times = new double[qs.Length];
                var filled = 0;
                for (var w = 0; w < 20; w++) Search(index, qs[w], mode, readable);
                for (var i = 0; i < qs.Length; i++)
                {
                    var t = Stopwatch.GetTimestamp();
                    var hits = Search(index, qs[i], mode, readable);
                    times[i] = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
                    if (hits.Count == 10) filled++;
                }
                Array.Sort(times);
                var (p50, p95) = (times[times.Length / 2], times[(int)(times.Length * 0.95)]);
                baseP50 ??= p50; baseP95 ??= p95;
                Console.WriteLine($"{mode,-7} {(forbiddenPct < 0 ? "unfiltered" : $"{forbiddenPct,3} % forbidden"),-15}: p50 {p50,7:F2} ms ({p50 / baseP50:F2}x)  p95 {p95,7:F2} ms ({p95 / baseP95:F2}x)  top-10 full in {filled}/{qs.Length}");
            }
        }

        // Building the readable set: one decision per labelled document (the rest share one), as a search request does.
        var policies = new List<AuthzPolicy>
        {
            new("p1", "t", "deny-high-sensitivity", AuthzPolicy.Deny, "document", "read", 200, """{"eq":[{"var":"resource.labels.sensitivity"},"high"]}""", true, DateTime.UtcNow, DateTime.UtcNow),
            new("p2", "t", "allow-team", AuthzPolicy.Allow, "document", "read", 100, """{"in":[{"var":"resource.labels.team"},["legal","ops"]]}""", true, DateTime.UtcNow, DateTime.UtcNow),
        };
        var principal = new NexusRag.Core.Auth.Principal("t", NexusRag.Core.Auth.Role.Reader, "key_1", "bench");
        foreach (var labelled in new[] { 1_000, 25_000 })
        {
            var store = new MemoryStore(policies, Enumerable.Range(0, labelled).ToDictionary(i => $"d{i}",
                i => $$"""{"sensitivity":"{{(i % 3 == 0 ? "high" : "low")}}","team":"{{(i % 2 == 0 ? "legal" : "sales")}}"}"""));
            var authorizer = new DocumentAuthorizer(store, Options.Create(new AuthzOptions { DefaultDeny = true }), TimeProvider.System);
            authorizer.ReadableAsync(principal, "c", CancellationToken.None).GetAwaiter().GetResult(); // warm-up
            var t = Stopwatch.StartNew();
            var readable = authorizer.ReadableAsync(principal, "c", CancellationToken.None).GetAwaiter().GetResult()!;
            var elapsed = t.Elapsed;
            var allowed = Enumerable.Range(0, labelled).Count(i => readable($"d{i}"));
            Console.WriteLine($"readable set over {labelled} labelled documents: {elapsed.TotalMilliseconds:F1} ms ({elapsed.TotalMicroseconds / labelled:F2} µs each; {allowed} readable)");
        }
    }

    private static List<IndexHit> Search(CorpusIndex index, (string Text, float[] Vector) q, SearchMode mode, Func<string, bool>? readable) =>
        index.Search(new IndexQuery("t", "c", q.Text, q.Vector, 10, mode, null, 1.0, 1.0, Readable: readable), mode == SearchMode.Vector ? [] : q.Text.Split(' '));

    /// <summary>The grants and labels a request reads, from memory, so the figure is the decision work (the store's query is separate).</summary>
    private sealed class MemoryStore(IReadOnlyList<AuthzPolicy> policies, Dictionary<string, string> labels) : IAuthzStore
    {
        public Task<IReadOnlyList<AuthzPolicy>> PoliciesAsync(string tenantId, CancellationToken ct) => Task.FromResult(policies);
        public Task<IReadOnlyDictionary<string, string>> GrantedDocumentsAsync(AuthzSubject subject, string? corpusId, DateTime now, CancellationToken ct) =>
            Task.FromResult<IReadOnlyDictionary<string, string>>(new Dictionary<string, string>());
        public Task<IReadOnlyDictionary<string, string>> LabeledDocumentsAsync(string tenantId, string? corpusId, CancellationToken ct) =>
            Task.FromResult<IReadOnlyDictionary<string, string>>(labels);
        public Task<AuthzPolicy?> GetPolicyAsync(string tenantId, string policyId, CancellationToken ct) => throw new InvalidOperationException("not used");
        public Task AddPolicyAsync(AuthzPolicy policy, CancellationToken ct) => throw new InvalidOperationException("not used");
        public Task<bool> UpdatePolicyAsync(AuthzPolicy policy, CancellationToken ct) => throw new InvalidOperationException("not used");
        public Task<bool> DeletePolicyAsync(string tenantId, string policyId, CancellationToken ct) => throw new InvalidOperationException("not used");
        public Task<IReadOnlyList<DocumentGrant>> GrantsAsync(string tenantId, string documentId, CancellationToken ct) => throw new InvalidOperationException("not used");
        public Task AddGrantAsync(DocumentGrant grant, CancellationToken ct) => throw new InvalidOperationException("not used");
        public Task AddGrantsAsync(IReadOnlyList<DocumentGrant> grants, CancellationToken ct) => throw new InvalidOperationException("not used");
        public Task<bool> DeleteGrantAsync(string tenantId, string documentId, string grantId, CancellationToken ct) => throw new InvalidOperationException("not used");
    }
}
