using System.Numerics.Tensors;

namespace NexusRag.Search;

/// <summary>
/// Row-major float32 vectors addressed by slot, in one contiguous array so an exact scan streams memory.
/// Vectors are L2-normalized, so the dot product is the cosine similarity.
/// </summary>
internal sealed class VectorStore(int dimensions)
{
    private float[] _data = new float[dimensions * 16];
    private bool[] _has = new bool[16];

    public int Dimensions { get; } = dimensions;
    public int Capacity => _has.Length;

    public void Set(int slot, ReadOnlySpan<float> vector)
    {
        if (vector.Length != Dimensions) throw new ArgumentException($"vector has {vector.Length} dimensions, the store {Dimensions}");
        if (slot >= _has.Length)
        {
            var cap = Math.Max(slot + 1, _has.Length * 2);
            Array.Resize(ref _data, cap * Dimensions);
            Array.Resize(ref _has, cap);
        }
        vector.CopyTo(_data.AsSpan(slot * Dimensions, Dimensions));
        _has[slot] = true;
    }

    public bool Has(int slot) => slot < _has.Length && _has[slot];

    /// <summary>Room for <paramref name="slots"/> vectors at once (a snapshot load knows its size: no doubling copies).</summary>
    public void EnsureCapacity(int slots)
    {
        if (slots <= _has.Length) return;
        Array.Resize(ref _data, slots * Dimensions);
        Array.Resize(ref _has, slots);
    }

    public ReadOnlySpan<float> Get(int slot) => _data.AsSpan(slot * Dimensions, Dimensions);

    public float Similarity(int slot, ReadOnlySpan<float> query) => TensorPrimitives.Dot(Get(slot), query);

    public float Similarity(int a, int b) => TensorPrimitives.Dot(Get(a), Get(b));

    /// <summary>Exact top-k by a full SIMD scan over the accepted slots below <paramref name="slotCount"/>.</summary>
    public void ScanExact(ReadOnlySpan<float> query, int slotCount, Func<int, bool> accept, TopK top)
    {
        var d = Dimensions;
        var data = _data.AsSpan();
        for (var slot = 0; slot < slotCount; slot++)
        {
            if (!_has[slot] || !accept(slot)) continue;
            top.Add(TensorPrimitives.Dot(data.Slice(slot * d, d), query), slot);
        }
    }
}
