namespace NexusRag.Search;

/// <summary>
/// Keeps the best <c>k</c> (score, slot) pairs seen: a min-heap on score whose root is the current k-th best.
/// Equal scores are ordered by <paramref name="tieBreak"/> (smaller wins), so results never depend on insertion order.
/// </summary>
internal sealed class TopK(int k, Comparison<int> tieBreak)
{
    private readonly (float Score, int Slot)[] _heap = new (float, int)[Math.Max(k, 1)];
    private int _count;

    public int Count => _count;

    /// <summary>True when a better-ranked a should come before b.</summary>
    private bool Better((float Score, int Slot) a, (float Score, int Slot) b) =>
        a.Score > b.Score || (a.Score == b.Score && tieBreak(a.Slot, b.Slot) < 0);

    public float Threshold => _count < k ? float.NegativeInfinity : _heap[0].Score;

    public void Add(float score, int slot)
    {
        if (k <= 0) return;
        var item = (score, slot);
        if (_count < k)
        {
            _heap[_count] = item;
            SiftUp(_count++);
        }
        else if (Better(item, _heap[0]))
        {
            _heap[0] = item;
            SiftDown(0);
        }
    }

    /// <summary>Best first.</summary>
    public List<(float Score, int Slot)> ToSortedList()
    {
        var list = _heap.AsSpan(0, _count).ToArray().ToList();
        list.Sort((a, b) => Better(a, b) ? -1 : Better(b, a) ? 1 : 0);
        return list;
    }

    private void SiftUp(int i)
    {
        while (i > 0)
        {
            var parent = (i - 1) / 2;
            if (!Better(_heap[parent], _heap[i])) break; // min-heap: parent must be the worse one
            (_heap[parent], _heap[i]) = (_heap[i], _heap[parent]);
            i = parent;
        }
    }

    private void SiftDown(int i)
    {
        while (true)
        {
            int l = 2 * i + 1, r = l + 1, worst = i;
            if (l < _count && Better(_heap[worst], _heap[l])) worst = l;
            if (r < _count && Better(_heap[worst], _heap[r])) worst = r;
            if (worst == i) return;
            (_heap[worst], _heap[i]) = (_heap[i], _heap[worst]);
            i = worst;
        }
    }
}
