using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace NexusRag.Search;

/// <summary>
/// Row-major float32 vectors addressed by slot, in one contiguous array so an exact scan streams memory.
/// Vectors are L2-normalized, so the dot product is the cosine similarity. Once <see cref="Quantize(int)"/> has run, each vector
/// also has an int8 code (symmetric, one scale per vector: code = round(127 · x / max|x|)), and the graph's similarities
/// (<see cref="Similarity(int, ReadOnlySpan{float})"/>, <see cref="Similarity(int, int)"/>) use the codes — a quarter of the
/// memory traffic of float32 — while <see cref="ExactSimilarity"/> and <see cref="ScanExact"/> stay on the floats.
/// </summary>
internal sealed class VectorStore
{
    // Both arrays pinned, their rows from _dataBase / _codeBase on, so each row starts on a 64-byte cache line when its
    // size is a multiple of 64 bytes (384-d: 24 lines of floats, 6 of codes; unaligned, every row would touch one more).
    private float[] _data;
    private int _dataBase;
    private bool[] _has = new bool[16];
    private sbyte[]? _codes;
    private int _codeBase;
    private float[]? _scales;

    public VectorStore(int dimensions)
    {
        Dimensions = dimensions;
        _data = Aligned<float>(dimensions * 16, out _dataBase);
    }

    public int Dimensions { get; }
    public int Capacity => _has.Length;
    public bool Quantized => _codes is not null;

    public void Set(int slot, ReadOnlySpan<float> vector)
    {
        if (vector.Length != Dimensions) throw new ArgumentException($"vector has {vector.Length} dimensions, the store {Dimensions}");
        if (slot >= _has.Length) Grow(Math.Max(slot + 1, _has.Length * 2));
        vector.CopyTo(_data.AsSpan(_dataBase + slot * Dimensions, Dimensions));
        if (_codes is not null) _scales![slot] = Quantize(vector, Code(slot));
        _has[slot] = true;
    }

    /// <summary>Reads a slot's float32 values straight from <paramref name="stream"/> into the store (a snapshot load: no array per vector).</summary>
    public void Read(int slot, Stream stream)
    {
        if (slot >= _has.Length) Grow(Math.Max(slot + 1, _has.Length * 2));
        var row = _data.AsSpan(_dataBase + slot * Dimensions, Dimensions);
        stream.ReadExactly(MemoryMarshal.AsBytes(row));
        if (_codes is not null) _scales![slot] = Quantize(row, Code(slot));
        _has[slot] = true;
    }

    /// <summary>
    /// Gives every vector, stored and to come, its int8 code (on <paramref name="threads"/> threads); the graph's
    /// similarities use the codes from then on. Done when a graph is first built or restored, so a corpus searched by
    /// exact scan never carries codes.
    /// </summary>
    public void Quantize(int threads)
    {
        if (_codes is not null) return;
        _codes = Aligned<sbyte>(_has.Length * Dimensions, out _codeBase);
        _scales = new float[_has.Length];
        Parallel.For(0, _has.Length, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, threads) }, slot =>
        {
            if (_has[slot]) _scales[slot] = Quantize(Get(slot), Code(slot));
        });
    }

    private Span<sbyte> Code(int slot) => _codes.AsSpan(_codeBase + slot * Dimensions, Dimensions);

    /// <summary>A pinned array with room for <paramref name="length"/> items from <paramref name="start"/> on, a 64-byte boundary.</summary>
    private static unsafe T[] Aligned<T>(int length, out int start) where T : unmanaged
    {
        var array = GC.AllocateArray<T>(length + 64 / sizeof(T), pinned: true);
        var address = (long)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(array));
        start = (int)((64 - address % 64) % 64) / sizeof(T);
        return array;
    }

    public bool Has(int slot) => slot < _has.Length && _has[slot];

    /// <summary>Room for <paramref name="slots"/> vectors at once (a snapshot load knows its size: no doubling copies).</summary>
    public void EnsureCapacity(int slots)
    {
        if (slots > _has.Length) Grow(slots);
    }

    private void Grow(int slots)
    {
        var old = _has.Length;
        var data = Aligned<float>(slots * Dimensions, out var dataBase);
        _data.AsSpan(_dataBase, old * Dimensions).CopyTo(data.AsSpan(dataBase));
        (_data, _dataBase) = (data, dataBase);
        Array.Resize(ref _has, slots);
        if (_codes is not null)
        {
            var codes = Aligned<sbyte>(slots * Dimensions, out var codeBase);
            _codes.AsSpan(_codeBase, old * Dimensions).CopyTo(codes.AsSpan(codeBase));
            (_codes, _codeBase) = (codes, codeBase);
            Array.Resize(ref _scales, slots);
        }
    }

    public ReadOnlySpan<float> Get(int slot) => _data.AsSpan(_dataBase + slot * Dimensions, Dimensions);

    /// <summary>
    /// Asks the CPU to start loading a vector's cache lines (a hint, no effect on results): a graph walk names the
    /// neighbours it will score before it scores them, so their loads from memory overlap instead of following each other.
    /// </summary>
    public unsafe void Prefetch(int slot)
    {
        if (!Sse.IsSupported || (uint)slot >= (uint)_has.Length) return;
        if (_codes is not null)
        {
            fixed (sbyte* p = &_codes[_codeBase + slot * Dimensions])
                for (var o = 0; o < Dimensions; o += 64) Sse.Prefetch0(p + o); // one 64-byte line
        }
        else
        {
            fixed (float* p = &_data[_dataBase + slot * Dimensions])
                for (var o = 0; o < Dimensions; o += 16) Sse.Prefetch0(p + o);
        }
    }

    /// <summary>
    /// The graph's similarity of a stored vector to a float32 query: against the stored vector's int8 code when
    /// quantized (only the stored side carries quantization error), else the exact dot product.
    /// </summary>
    public float Similarity(int slot, ReadOnlySpan<float> query) =>
        _codes is null
            ? TensorPrimitives.Dot(Get(slot), query)
            : _scales![slot] * DotFloatInt8(query, Code(slot));

    /// <summary>The graph's similarity of two stored vectors (int8 codes when quantized).</summary>
    public float Similarity(int a, int b) =>
        _codes is null
            ? TensorPrimitives.Dot(Get(a), Get(b))
            : _scales![a] * _scales[b] * DotInt8(Code(a), Code(b));

    /// <summary>The float32 dot product: what results are ranked by, quantized or not.</summary>
    public float ExactSimilarity(int slot, ReadOnlySpan<float> query) => TensorPrimitives.Dot(Get(slot), query);

    /// <summary>Exact top-k by a full SIMD scan over the accepted slots below <paramref name="slotCount"/>.</summary>
    public void ScanExact(ReadOnlySpan<float> query, int slotCount, Func<int, bool> accept, TopK top)
    {
        var d = Dimensions;
        var data = _data.AsSpan(_dataBase);
        for (var slot = 0; slot < slotCount; slot++)
        {
            if (!_has[slot] || !accept(slot)) continue;
            top.Add(TensorPrimitives.Dot(data.Slice(slot * d, d), query), slot);
        }
    }

    /// <summary>Symmetric int8 quantization with one scale per vector; returns the scale (code · scale ≈ value).</summary>
    internal static float Quantize(ReadOnlySpan<float> values, Span<sbyte> codes)
    {
        var max = TensorPrimitives.MaxMagnitude(values);
        var m = MathF.Abs(max);
        if (!(m > 0) || !float.IsFinite(m)) { codes.Clear(); return 0; }
        var k = 127f / m;
        for (var i = 0; i < values.Length; i++) codes[i] = (sbyte)Math.Clamp((int)MathF.Round(values[i] * k), -127, 127);
        return m / 127f;
    }

    /// <summary>Σ q[i]·c[i] of float32 values and int8 codes (the codes widened to float32 on the way).</summary>
    internal static float DotFloatInt8(ReadOnlySpan<float> q, ReadOnlySpan<sbyte> c)
    {
        if (q.Length != c.Length) throw new ArgumentException("values and codes of different lengths");
        var i = 0;
        var sum = 0f;
        ref var rq = ref MemoryMarshal.GetReference(q);
        ref var rc = ref MemoryMarshal.GetReference(c);
        if (Vector256.IsHardwareAccelerated && q.Length >= 32)
        {
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (; i <= q.Length - 32; i += 32)
            {
                var (s0, s1) = Vector256.Widen(Vector256.LoadUnsafe(ref rc, (nuint)i));
                var (w0, w1) = Vector256.Widen(s0);
                var (w2, w3) = Vector256.Widen(s1);
                a0 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(w0), Vector256.LoadUnsafe(ref rq, (nuint)i), a0);
                a1 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(w1), Vector256.LoadUnsafe(ref rq, (nuint)(i + 8)), a1);
                a2 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(w2), Vector256.LoadUnsafe(ref rq, (nuint)(i + 16)), a2);
                a3 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(w3), Vector256.LoadUnsafe(ref rq, (nuint)(i + 24)), a3);
            }
            sum = Vector256.Sum((a0 + a1) + (a2 + a3));
        }
        for (; i < q.Length; i++) sum += Unsafe.Add(ref rq, i) * Unsafe.Add(ref rc, i);
        return sum;
    }

    /// <summary>Σ a[i]·b[i] over int8 codes, accumulated in int32 (AVX2 vpmaddwd where the CPU has it).</summary>
    internal static int DotInt8(ReadOnlySpan<sbyte> a, ReadOnlySpan<sbyte> b)
    {
        if (a.Length != b.Length) throw new ArgumentException("codes of different lengths");
        var i = 0;
        var sum = 0;
        ref var ra = ref MemoryMarshal.GetReference(a);
        ref var rb = ref MemoryMarshal.GetReference(b);
        if (Avx2.IsSupported && a.Length >= 32)
        {
            var acc = Vector256<int>.Zero;
            for (; i <= a.Length - 32; i += 32)
            {
                var (alo, ahi) = Vector256.Widen(Vector256.LoadUnsafe(ref ra, (nuint)i));
                var (blo, bhi) = Vector256.Widen(Vector256.LoadUnsafe(ref rb, (nuint)i));
                acc += Avx2.MultiplyAddAdjacent(alo, blo) + Avx2.MultiplyAddAdjacent(ahi, bhi);
            }
            sum = Vector256.Sum(acc);
        }
        else if (Vector128.IsHardwareAccelerated && a.Length >= 16)
        {
            var acc = Vector128<int>.Zero;
            for (; i <= a.Length - 16; i += 16)
            {
                var (alo, ahi) = Vector128.Widen(Vector128.LoadUnsafe(ref ra, (nuint)i));
                var (blo, bhi) = Vector128.Widen(Vector128.LoadUnsafe(ref rb, (nuint)i));
                var (p0, p1) = Vector128.Widen(alo * blo); // |a·b| ≤ 127² fits a short
                var (p2, p3) = Vector128.Widen(ahi * bhi);
                acc += (p0 + p1) + (p2 + p3);
            }
            sum = Vector128.Sum(acc);
        }
        for (; i < a.Length; i++) sum += Unsafe.Add(ref ra, i) * Unsafe.Add(ref rb, i);
        return sum;
    }
}
