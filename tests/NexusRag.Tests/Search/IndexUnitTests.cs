using NexusRag.Core.Evaluation;
using NexusRag.Core.Search;
using NexusRag.Search;

namespace NexusRag.Tests.Search;

public class Bm25Tests
{
    private static readonly Dictionary<string, string[]> NoFields = [];

    /// <summary>
    /// d1 = "apple banana apple" (|d| = 3), d2 = "banana cherry" (2), d3 = "cherry cherry cherry date" (4); N = 3, avgdl = 3.
    /// With k1 = 1.2, b = 0.75 and idf = ln(1 + (N − df + 0.5)/(df + 0.5)), worked by hand:
    /// idf(apple) = ln(1 + 2.5/1.5) = 0.980829; idf(banana) = idf(cherry) = ln(1 + 1.5/2.5) = 0.470004.
    /// apple·d1 = 0.980829 · 2·2.2 / (2 + 1.2·(0.25 + 0.75·3/3)) = 0.980829 · 4.4/3.2 = 1.348640
    /// banana·d1 = 0.470004 · 2.2/2.2 = 0.470004;  banana·d2 = 0.470004 · 2.2/(1 + 1.2·(0.25 + 0.5)) = 0.544215
    /// cherry·d2 = 0.544215;  cherry·d3 = 0.470004 · 6.6/(3 + 1.2·(0.25 + 1)) = 0.689339
    /// </summary>
    private static CorpusIndex TinyIndex(SearchOptions? options = null)
    {
        var index = new CorpusIndex(options ?? new SearchOptions { Bm25K1 = 1.2, Bm25B = 0.75, Bm25LuceneNorms = false });
        index.Apply([
            ("c1", new IndexedChunk("c1", "d1", 0, 1, NoFields, ["apple", "banana", "apple"], null)),
            ("c2", new IndexedChunk("c2", "d2", 0, 2, NoFields, ["banana", "cherry"], null)),
            ("c3", new IndexedChunk("c3", "d3", 0, 3, NoFields, ["cherry", "cherry", "cherry", "date"], null)),
        ]);
        return index;
    }

    private static List<IndexHit> Lexical(CorpusIndex index, params string[] tokens) =>
        index.Search(new IndexQuery("t", "c", string.Join(' ', tokens), null, 10, SearchMode.Lexical, null), tokens);

    [Fact]
    public void Single_term_score_equals_the_hand_computed_value()
    {
        var hit = Assert.Single(Lexical(TinyIndex(), "apple"));
        Assert.Equal("d1", hit.DocumentId);
        Assert.Equal(1.348640, hit.Score, 5);
    }

    [Fact]
    public void Multi_term_scores_sum_per_document_and_rank_by_score()
    {
        var hits = Lexical(TinyIndex(), "banana", "cherry");
        Assert.Equal(["d2", "d3", "d1"], hits.Select(h => h.DocumentId));
        Assert.Equal(0.544215 + 0.544215, hits[0].Score, 5);
        Assert.Equal(0.689339, hits[1].Score, 5);
        Assert.Equal(0.470004, hits[2].Score, 5);
    }

    [Fact]
    public void Per_query_bm25_parameters_apply_to_that_query_only()
    {
        var index = TinyIndex();
        // banana·d2 with b = 0 ignores length: 0.470004 · 2.2 / (1 + 1.2) = 0.470004 (0.544215 with the configured b 0.75).
        var tuned = index.Search(new IndexQuery("t", "c", "banana", null, 10, SearchMode.Lexical, null, Bm25: new Bm25Parameters(1.2, 0.0)), ["banana"]);
        Assert.Equal(0.470004, tuned.Single(h => h.DocumentId == "d2").Score, 4);
        Assert.Equal(0.544215, Lexical(index, "banana").Single(h => h.DocumentId == "d2").Score, 4);
    }

    [Fact]
    public void A_repeated_query_term_counts_twice_like_a_repeated_clause()
    {
        var hit = Assert.Single(Lexical(TinyIndex(), "apple", "apple"));
        Assert.Equal(2 * 1.348640, hit.Score, 5);
    }

    [Fact]
    public void Removing_a_document_updates_N_df_and_avgdl()
    {
        var index = TinyIndex();
        index.Apply([("c3", null)]);
        // N = 2, avgdl = 2.5; cherry now in d2 only: idf = ln(1 + 1.5/1.5) = ln 2;
        // cherry·d2 = 0.693147 · 2.2 / (1 + 1.2·(0.25 + 0.75·2/2.5)) = 0.693147 · 2.2/2.02 = 0.754912
        var hit = Assert.Single(Lexical(index, "cherry"));
        Assert.Equal("d2", hit.DocumentId);
        Assert.Equal(0.754912, hit.Score, 5);
    }

    [Fact]
    public void Lucene_norms_round_the_length_like_lucene_and_change_only_the_length_term()
    {
        // Lucene.Net 4.8 stores 1/√|d| in one byte (SmallFloat 3.15); |d| = 3 decodes as 4, |d| = 1 as 1.
        Assert.Equal(1f, Bm25Index.LuceneLength(1));
        Assert.Equal(4f, Bm25Index.LuceneLength(3));
        for (var n = 1; n < 5000; n++) Assert.True(Bm25Index.LuceneLength(n + 1) >= Bm25Index.LuceneLength(n));
        var index = TinyIndex(new SearchOptions { Bm25K1 = 1.2, Bm25B = 0.75, Bm25LuceneNorms = true });
        // avgdl stays exact (3): apple·d1 = 0.980829 · 4.4 / (2 + 1.2·(0.25 + 0.75·4/3)) = 0.980829 · 4.4/3.5 = 1.233042
        Assert.Equal(1.233042, Assert.Single(Lexical(index, "apple")).Score, 5);
    }

    [Fact]
    public void Equal_scores_break_ties_by_document_then_chunk_index()
    {
        var index = new CorpusIndex(new SearchOptions());
        index.Apply([
            ("z", new IndexedChunk("z", "doc-b", 1, 1, NoFields, ["same"], null)),
            ("y", new IndexedChunk("y", "doc-b", 0, 2, NoFields, ["same"], null)),
            ("x", new IndexedChunk("x", "doc-a", 3, 3, NoFields, ["same"], null)),
        ]);
        Assert.Equal(["x", "y", "z"], Lexical(index, "same").Select(h => h.ChunkId));
    }
}

public class FusionTests
{
    [Fact]
    public void Rrf_sums_weighted_reciprocal_ranks()
    {
        var fused = Rrf.Fuse(60, (["a", "b", "c"], 1.0), (["c", "a"], 0.5));
        Assert.Equal(1.0 / 61 + 0.5 / 62, fused["a"], 12);
        Assert.Equal(1.0 / 62, fused["b"], 12);
        Assert.Equal(1.0 / 63 + 0.5 / 61, fused["c"], 12);
        Assert.Equal(["a", "c", "b"], fused.OrderByDescending(kv => kv.Value).Select(kv => kv.Key));
    }

    [Fact]
    public void A_zero_weight_list_contributes_nothing()
    {
        var fused = Rrf.Fuse(10, (["a"], 1.0), (["b"], 0.0));
        Assert.Equal(["a"], fused.Keys);
    }

    [Fact]
    public void Hybrid_search_reports_each_legs_rank_and_fuses_them()
    {
        var index = new CorpusIndex(new SearchOptions { RrfK = 60 });
        Dictionary<string, string[]> none = [];
        index.Apply([
            ("c1", new IndexedChunk("c1", "d1", 0, 1, none, ["alpha", "alpha"], [1f, 0f])),
            ("c2", new IndexedChunk("c2", "d2", 0, 2, none, ["alpha", "beta"], [0f, 1f])),
        ]);
        var hits = index.Search(new IndexQuery("t", "c", "alpha", [0f, 1f], 10, SearchMode.Hybrid, null, 1.0, 1.0), ["alpha"]);
        var c1 = hits.Single(h => h.ChunkId == "c1");
        var c2 = hits.Single(h => h.ChunkId == "c2");
        Assert.Equal((1, 2), (c1.LexicalRank!.Value, c1.VectorRank!.Value));
        Assert.Equal((2, 1), (c2.LexicalRank!.Value, c2.VectorRank!.Value));
        Assert.Equal(1.0 / 61 + 1.0 / 62, c1.Score, 12);
        Assert.Equal(c1.Score, c2.Score, 12);
        Assert.Equal(["c1", "c2"], hits.Select(h => h.ChunkId)); // tie → document id order
        Assert.Equal(1.0, c2.VectorScore!.Value, 6);
    }

    [Fact]
    public void Filters_restrict_every_leg_to_matching_documents()
    {
        var index = new CorpusIndex(new SearchOptions());
        index.Apply([
            ("c1", new IndexedChunk("c1", "d1", 0, 1, new Dictionary<string, string[]> { ["lang"] = ["en"], ["tags"] = ["a", "b"] }, ["word"], [1f, 0f])),
            ("c2", new IndexedChunk("c2", "d2", 0, 2, new Dictionary<string, string[]> { ["lang"] = ["de"] }, ["word"], [1f, 0f])),
        ]);
        var byMeta = new SearchFilters(null, new Dictionary<string, IReadOnlyList<string>> { ["lang"] = ["de"] });
        foreach (var mode in new[] { SearchMode.Lexical, SearchMode.Vector, SearchMode.Hybrid })
            Assert.Equal(["d2"], index.Search(new IndexQuery("t", "c", "word", [1f, 0f], 10, mode, byMeta), ["word"]).Select(h => h.DocumentId));
        var byTag = new SearchFilters(["d1", "d2"], new Dictionary<string, IReadOnlyList<string>> { ["tags"] = ["b", "z"] });
        Assert.Equal(["d1"], index.Search(new IndexQuery("t", "c", "word", null, 10, SearchMode.Lexical, byTag), ["word"]).Select(h => h.DocumentId));
        var byId = new SearchFilters(["d2"], null);
        Assert.Equal(["d2"], index.Search(new IndexQuery("t", "c", "word", null, 10, SearchMode.Lexical, byId), ["word"]).Select(h => h.DocumentId));
    }
}

public class HnswTests
{
    private static float[][] RandomUnitVectors(int n, int dims, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ =>
        {
            var v = new float[dims];
            for (var i = 0; i < dims; i++) v[i] = (float)(rng.NextDouble() * 2 - 1);
            return Core.Embeddings.EmbeddingBatches.Normalize(v);
        }).ToArray();
    }

    [Theory]
    [InlineData(0)] // one insert at a time
    [InlineData(1)] // InsertMany on one thread
    [InlineData(4)] // InsertMany on four threads (more than the machine's cores: the locking, not the speed, is under test)
    public void Recall_at_10_against_exact_search_is_at_least_095(int threads)
    {
        const int n = 4000, dims = 32, k = 10;
        Assert.True(n >= Hnsw.ParallelMinimum); // so the threaded case really runs in parallel
        var data = RandomUnitVectors(n, dims, 1);
        var store = new VectorStore(dims);
        for (var i = 0; i < n; i++) store.Set(i, data[i]);
        var hnsw = new Hnsw(store, m: 16, efConstruction: 200);
        if (threads == 0) for (var i = 0; i < n; i++) hnsw.Insert(i);
        else hnsw.InsertMany(Enumerable.Range(0, n).ToList(), threads);
        Assert.Equal(n, hnsw.Count);
        // Every node is linked on layer 0, within its degree bound, to live nodes only (no torn or duplicate links).
        var graph = hnsw.Export(Enumerable.Range(0, n).ToArray(), n);
        for (var node = 0; node < n; node++)
        {
            var layer0 = graph.Links[node]![0]!;
            Assert.InRange(layer0.Length, 1, 32);
            Assert.Equal(layer0.Length, layer0.Distinct().Count());
            Assert.All(layer0, x => Assert.True(x != node && x is >= 0 and < n));
        }

        var queries = RandomUnitVectors(100, dims, 2);
        double found = 0;
        foreach (var q in queries)
        {
            var exact = new TopK(k, (a, b) => a.CompareTo(b));
            store.ScanExact(q, n, _ => true, exact);
            var approx = new TopK(k, (a, b) => a.CompareTo(b));
            hnsw.Search(q, 96, _ => true, approx, k);
            var truth = exact.ToSortedList().Select(x => x.Slot).ToHashSet();
            found += approx.ToSortedList().Count(x => truth.Contains(x.Slot));
        }
        var recall = found / (queries.Length * k);
        Assert.True(recall >= 0.95, $"HNSW recall@10 = {recall:F3}");
    }

    [Fact]
    public void The_int8_dot_product_equals_the_scalar_sum_at_every_length_and_at_the_extremes()
    {
        var rng = new Random(5);
        foreach (var length in new[] { 1, 7, 15, 16, 17, 31, 32, 33, 64, 100, 384, 1000 })
        {
            var a = new sbyte[length];
            var b = new sbyte[length];
            for (var i = 0; i < length; i++) { a[i] = (sbyte)rng.Next(-127, 128); b[i] = (sbyte)rng.Next(-127, 128); }
            long expected = 0;
            for (var i = 0; i < length; i++) expected += a[i] * b[i];
            Assert.Equal(expected, VectorStore.DotInt8(a, b));
            // All ±127: the largest products, where a narrower accumulator would overflow.
            Array.Fill(a, (sbyte)127);
            Array.Fill(b, (sbyte)-127);
            Assert.Equal(-16129L * length, VectorStore.DotInt8(a, b));
            Assert.Equal(16129L * length, VectorStore.DotInt8(b, b));
        }
    }

    [Fact]
    public void The_float_by_int8_dot_product_equals_the_scalar_sum_at_every_length()
    {
        var rng = new Random(4);
        foreach (var length in new[] { 1, 7, 31, 32, 33, 64, 100, 384, 1000 })
        {
            var q = new float[length];
            var c = new sbyte[length];
            for (var i = 0; i < length; i++) { q[i] = (float)(rng.NextDouble() * 2 - 1); c[i] = (sbyte)rng.Next(-127, 128); }
            double expected = 0;
            for (var i = 0; i < length; i++) expected += q[i] * c[i];
            Assert.Equal(expected, VectorStore.DotFloatInt8(q, c), 0.01 * Math.Sqrt(length)); // float32 summation order
        }
    }

    [Fact]
    public void Int8_codes_reconstruct_each_component_within_half_a_step()
    {
        foreach (var v in RandomUnitVectors(50, 384, 6))
        {
            var codes = new sbyte[v.Length];
            var scale = VectorStore.Quantize(v, codes);
            Assert.Equal(v.Max(Math.Abs) / 127f, scale, 6);
            Assert.Contains(codes, c => c is 127 or -127); // the largest component uses the full range
            for (var i = 0; i < v.Length; i++) Assert.True(Math.Abs(codes[i] * scale - v[i]) <= scale / 2 + 1e-7f, $"component {i}");
        }
        var zero = new sbyte[8];
        Assert.Equal(0f, VectorStore.Quantize(new float[8], zero));
        Assert.All(zero, c => Assert.Equal(0, c));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    public void An_int8_graph_keeps_recall_at_10_at_least_095_and_reports_exact_float_scores(int threads)
    {
        const int n = 4000, dims = 32, k = 10; // as the float32 recall test above
        var data = RandomUnitVectors(n, dims, 1);
        var floats = new VectorStore(dims);
        var store = new VectorStore(dims);
        for (var i = 0; i < n / 2; i++) { store.Set(i, data[i]); floats.Set(i, data[i]); }
        Assert.False(store.Quantized);
        store.Quantize(threads); // the codes of the vectors already stored …
        Assert.True(store.Quantized);
        for (var i = n / 2; i < n; i++) { store.Set(i, data[i]); floats.Set(i, data[i]); } // … and of those that come after
        var hnsw = new Hnsw(store, m: 16, efConstruction: 200);
        hnsw.InsertMany(Enumerable.Range(0, n).ToList(), threads);
        Assert.Equal(n, hnsw.Count);

        double found = 0;
        foreach (var q in RandomUnitVectors(100, dims, 2))
        {
            var exact = new TopK(k, (a, b) => a.CompareTo(b));
            floats.ScanExact(q, n, _ => true, exact);
            var approx = new TopK(k, (a, b) => a.CompareTo(b));
            hnsw.Search(q, 96, _ => true, approx, k);
            var truth = exact.ToSortedList().Select(x => x.Slot).ToHashSet();
            var hits = approx.ToSortedList();
            found += hits.Count(x => truth.Contains(x.Slot));
            // The beam walked int8 codes, but every score is the float32 dot product (the re-scoring), bit for bit.
            Assert.All(hits, h => Assert.Equal(System.Numerics.Tensors.TensorPrimitives.Dot(data[h.Slot], q), h.Score));
        }
        var recall = found / (100.0 * k);
        Assert.True(recall >= 0.95, $"int8 HNSW recall@10 = {recall:F3}");
    }

    [Fact]
    public void An_int8_index_restored_from_its_snapshot_answers_like_the_one_that_was_built()
    {
        var data = RandomUnitVectors(700, 24, 9);
        var options = new SearchOptions { HnswThreshold = 500, HnswQuantization = HnswQuantization.Int8 };
        var built = new CorpusIndex(options);
        Dictionary<string, string[]> none = [];
        built.Apply(data.Select((v, i) => ($"c{i}", (IndexedChunk?)new IndexedChunk($"c{i}", $"d{i}", 0, i + 1, none, ["w"], v))));
        built.Apply([("c3", null)]);
        Assert.True(built.UsesHnsw);
        Assert.True(built.VectorsQuantized);
        var small = new CorpusIndex(options); // below the threshold: an exact scan, no codes
        small.Apply(data.Take(100).Select((v, i) => ($"c{i}", (IndexedChunk?)new IndexedChunk($"c{i}", $"d{i}", 0, i + 1, none, ["w"], v))));
        Assert.False(small.UsesHnsw);
        Assert.False(small.VectorsQuantized);
        var restored = new CorpusIndex(options);
        restored.LoadSnapshot(built.ExportSnapshot());
        Assert.True(restored.GraphRestored);
        Assert.True(restored.VectorsQuantized);
        foreach (var q in RandomUnitVectors(30, 24, 10))
        {
            string Top(CorpusIndex index) => string.Join(",", index.Search(new IndexQuery("t", "c", "", q, 10, SearchMode.Vector, null), [])
                .Select(h => $"{h.ChunkId}:{h.Score:R}"));
            var expected = Top(built);
            Assert.DoesNotContain("c3:", expected);
            Assert.Equal(expected, Top(restored));
        }
    }

    [Theory]
    [InlineData(HnswQuantization.None, 500)]     // a graph, restored
    [InlineData(HnswQuantization.Int8, 500)]
    [InlineData(HnswQuantization.None, 10_000)]  // below the threshold: an exact scan
    public void A_snapshot_file_read_back_answers_every_mode_and_filter_like_the_index_it_was_written_from(HnswQuantization quantization, int threshold)
    {
        var data = RandomUnitVectors(720, 24, 21);
        var words = new[] { "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta" };
        Dictionary<string, string[]> none = [];
        IndexedChunk Chunk(int i, int salt = 0) => new(
            $"c{i}", $"d{i / 3}", i % 3, i + 1 + salt,
            i % 2 == 0 ? new Dictionary<string, string[]> { ["lang"] = [i % 4 == 0 ? "de" : "en"], ["tags"] = ["x", $"t{i % 5}"] } : none,
            Enumerable.Range(0, 3 + i % 7).Select(k => words[(i * 7 + k * (salt + 3)) % words.Length]).ToList(),
            i % 10 == 9 ? null : data[(i + salt) % data.Length]);
        var options = new SearchOptions { HnswThreshold = threshold, HnswQuantization = quantization };
        var built = new CorpusIndex(options);
        built.Apply(Enumerable.Range(0, 700).Select(i => ($"c{i}", (IndexedChunk?)Chunk(i))));
        built.Apply([("c3", null), ("c10", Chunk(10, salt: 1)), ("c4", null)]); // a removal, a replacement: slots the snapshot drops

        using var file = new MemoryStream();
        IndexSnapshot.Write(file, "analyzer", 42, [new IndexSnapshot.Corpus("t", "c", 1, built.ExportSnapshot())]);
        file.Position = 0;
        var content = IndexSnapshot.Read(file);
        Assert.Equal(("analyzer", 42L), (content.AnalyzerId, content.Seq));
        var restored = new CorpusIndex(options);
        restored.LoadSnapshot(Assert.Single(content.Corpora).Index);
        Assert.Equal(built.LiveChunks, restored.LiveChunks);
        Assert.Equal(threshold < 700, restored.GraphRestored);
        Assert.Equal(built.UsesHnsw, restored.UsesHnsw);

        var filters = new SearchFilters?[]
        {
            null,
            new(null, new Dictionary<string, IReadOnlyList<string>> { ["lang"] = ["de"] }),
            new(["d1", "d5", "d40", "d100"], null),
            new(null, new Dictionary<string, IReadOnlyList<string>> { ["tags"] = ["t3"] }),
        };
        var queries = RandomUnitVectors(12, 24, 22).Prepend(data[3]).Prepend(data[11]).ToArray(); // the removed c3's vector, the replaced c10's
        string Answers(CorpusIndex index, params SearchMode[] modes) => string.Join("\n",
            from q in queries.Select((v, i) => (Vector: v, Tokens: new[] { words[i % words.Length], words[(i + 3) % words.Length] }))
            from mode in modes
            from filter in filters
            select string.Join(",", index.Search(new IndexQuery("t", "c", string.Join(' ', q.Tokens), q.Vector, 10, mode, filter), q.Tokens)
                .Select(h => $"{h.ChunkId}:{h.Score:R}")));
        var expected = Answers(built, SearchMode.Lexical, SearchMode.Vector, SearchMode.Hybrid);
        Assert.Contains("c10:", expected);
        Assert.DoesNotContain("c3:", expected);
        Assert.Equal(expected, Answers(restored, SearchMode.Lexical, SearchMode.Vector, SearchMode.Hybrid));

        // Changes after the restore land alike: BM25 statistics (documents, lengths, term frequencies) and the documents'
        // ordinals carried on; a new chunk is found by its own vector.
        (string, IndexedChunk?)[] changes = [("c5", null), ("c700", Chunk(700)), ("c11", Chunk(11, salt: 2))];
        built.Apply(changes);
        restored.Apply(changes);
        Assert.Equal(Answers(built, SearchMode.Lexical), Answers(restored, SearchMode.Lexical));
        if (threshold > 700) Assert.Equal(Answers(built, SearchMode.Vector, SearchMode.Hybrid), Answers(restored, SearchMode.Vector, SearchMode.Hybrid));
        Assert.Equal("c700", restored.Search(new IndexQuery("t", "c", "", data[700], 1, SearchMode.Vector, null), [])[0].ChunkId);
    }

    [Fact]
    public void A_snapshot_whose_ids_do_not_fit_is_refused()
    {
        Dictionary<string, string[]> none = [];
        var built = new CorpusIndex(new SearchOptions());
        built.Apply(Enumerable.Range(0, 5).Select(i => ($"c{i}", (IndexedChunk?)new IndexedChunk($"c{i}", $"d{i % 2}", i, i + 1, none, ["w", $"v{i}"], null))));
        var good = built.ExportSnapshot();
        new CorpusIndex(new SearchOptions()).LoadSnapshot(good); // the unaltered one loads
        foreach (var bad in new[]
                 {
                     good with { Slots = [.. good.Slots, good.Slots[0]] },       // a chunk twice
                     good with { Terms = good.Terms[..2] },                     // term ids beyond the vocabulary
                     good with { Documents = good.Documents[..1] },             // a document ordinal beyond the documents
                     good with { Terms = [.. good.Terms[..^1], good.Terms[0]] }, // a vocabulary that repeats a term
                     good with { Documents = ["d0", "d0"] },                    // documents repeated
                 })
            Assert.Throws<InvalidDataException>(() => new CorpusIndex(new SearchOptions()).LoadSnapshot(bad));
    }

    [Theory]
    [InlineData(9_999, 0, 10_000, false)]
    [InlineData(10_000, 0, 10_000, true)]
    [InlineData(10_000, 99_999, 10_000, true)]      // up to 100,000 chunks: every 10,000 changes, as configured
    [InlineData(10_000, 1_000_000, 10_000, false)]  // a 1M-chunk index: not before a tenth of it has changed
    [InlineData(99_999, 1_000_000, 10_000, false)]
    [InlineData(100_000, 1_000_000, 10_000, true)]
    [InlineData(5_000_000, 1_000_000, 0, false)]    // 0: only at shutdown
    public void A_snapshot_is_due_after_the_configured_changes_or_a_tenth_of_the_index(long changes, long chunks, int every, bool due) =>
        Assert.Equal(due, HybridSearchIndex.IsSnapshotDue(changes, chunks, every));

    [Fact]
    public void A_corpus_above_the_threshold_switches_to_hnsw_and_never_returns_removed_chunks()
    {
        var data = RandomUnitVectors(600, 16, 3);
        var index = new CorpusIndex(new SearchOptions { HnswThreshold = 500 });
        Dictionary<string, string[]> none = [];
        index.Apply(data.Select((v, i) => ($"c{i}", (IndexedChunk?)new IndexedChunk($"c{i}", $"d{i}", 0, i + 1, none, ["w"], v))));
        Assert.True(index.UsesHnsw);
        // The nearest neighbour of a stored vector is itself — until it is removed.
        var top = index.Search(new IndexQuery("t", "c", "", data[42], 5, SearchMode.Vector, null), []);
        Assert.Equal("c42", top[0].ChunkId);
        index.Apply([("c42", null)]);
        top = index.Search(new IndexQuery("t", "c", "", data[42], 5, SearchMode.Vector, null), []);
        Assert.DoesNotContain(top, h => h.ChunkId == "c42");
        Assert.Equal(5, top.Count);
    }
}

public class RetrievalMetricsTests
{
    private static readonly Dictionary<string, int> Rel = new() { ["a"] = 1, ["b"] = 1 };

    [Fact]
    public void Ndcg_matches_the_textbook_formula()
    {
        // ranked x, a, y, b: DCG = 1/log2(3) + 1/log2(5); IDCG = 1 + 1/log2(3)
        var expected = (1 / Math.Log2(3) + 1 / Math.Log2(5)) / (1 + 1 / Math.Log2(3));
        Assert.Equal(expected, RetrievalMetrics.NdcgAt(10, ["x", "a", "y", "b"], Rel), 12);
        Assert.Equal(1.0, RetrievalMetrics.NdcgAt(10, ["a", "b"], Rel), 12);
        Assert.Equal(0.0, RetrievalMetrics.NdcgAt(10, ["x"], Rel), 12);
    }

    [Fact]
    public void Recall_and_mrr()
    {
        Assert.Equal(0.5, RetrievalMetrics.RecallAt(100, ["x", "b"], Rel), 12);
        Assert.Equal(0.5, RetrievalMetrics.MrrAt(10, ["x", "b"], Rel), 12);
        Assert.Equal(0.0, RetrievalMetrics.MrrAt(1, ["x", "b"], Rel), 12);
        Assert.Equal(3.0, RetrievalMetrics.Percentile([5, 1, 3, 2, 4], 50));
    }
}
