
namespace NexusRag.Core.Pagination;

/// <summary>One page of a keyset-paginated listing.</summary>
public sealed record Page<T>(IReadOnlyList<T> Items, string? NextCursor, bool HasMore);

/// <summary>A position in a keyset ordering: (created_at DESC, id DESC).</summary>
public sealed record KeysetPosition(DateTime CreatedAt, string Id);
