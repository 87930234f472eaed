using System.Text;
using System.Text.Json;
using NexusRag.Core.Errors;

namespace NexusRag.Core.Ingestion;

/// <summary>Pipeline step 1: turns the raw bytes of one media type into plain text.</summary>
public interface IContentExtractor
{
    IReadOnlyCollection<string> MediaTypes { get; }
    string Extract(ReadOnlySpan<byte> content, string mediaType);
}

/// <summary>Thrown when content cannot be extracted; its message becomes the document's failure_reason.</summary>
public sealed class ExtractionException(string message) : Exception(message);

public sealed class PlainTextExtractor : IContentExtractor
{
    public IReadOnlyCollection<string> MediaTypes { get; } = ["text/plain", "text/markdown"];

    public string Extract(ReadOnlySpan<byte> content, string mediaType)
    {
        try
        {
            var text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(content);
            return text.TrimStart('\uFEFF').Replace("\r\n", "\n", StringComparison.Ordinal);
        }
        catch (DecoderFallbackException)
        {
            throw new ExtractionException("content is not valid UTF-8 text");
        }
    }
}

/// <summary>application/json uploads of the form <c>{"text": "..."}</c>.</summary>
public sealed class JsonTextExtractor : IContentExtractor
{
    public IReadOnlyCollection<string> MediaTypes { get; } = ["application/json"];

    public string Extract(ReadOnlySpan<byte> content, string mediaType)
    {
        try
        {
            using var doc = JsonDocument.Parse(content.ToArray());
            if (doc.RootElement.ValueKind != JsonValueKind.Object
                || !doc.RootElement.TryGetProperty("text", out var text)
                || text.ValueKind != JsonValueKind.String)
            {
                throw new ExtractionException("JSON documents must be an object with a string field \"text\"");
            }
            return (text.GetString() ?? "").Replace("\r\n", "\n", StringComparison.Ordinal);
        }
        catch (JsonException)
        {
            throw new ExtractionException("content is not valid JSON");
        }
    }
}

/// <summary>Chooses the extractor for a media type; the set of media types accepted at upload comes from here.</summary>
public sealed class ContentExtractorRegistry
{
    private readonly Dictionary<string, IContentExtractor> _byType = new(StringComparer.OrdinalIgnoreCase);

    public ContentExtractorRegistry(IEnumerable<IContentExtractor> extractors)
    {
        // Later registrations win, so a host can replace the extractor of a media type.
        foreach (var extractor in extractors)
            foreach (var type in extractor.MediaTypes)
                _byType[type] = extractor;
    }

    public IReadOnlyCollection<string> SupportedMediaTypes => _byType.Keys;

    public bool Supports(string mediaType) => _byType.ContainsKey(mediaType);

    public string Extract(ReadOnlySpan<byte> content, string mediaType) =>
        _byType.TryGetValue(mediaType, out var extractor)
            ? extractor.Extract(content, mediaType)
            : throw new NexusException(ErrorKind.UnsupportedMediaType, ErrorCodes.UnsupportedMediaType, $"Unsupported document type '{mediaType}'",
                new Dictionary<string, object?> { ["supported"] = SupportedMediaTypes.Order().ToArray() });
}
