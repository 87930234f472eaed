namespace NexusRag.Core;

public static class AiServices
{
    /// <summary>
    /// The <c>GetService</c> answer every in-house Microsoft.Extensions.AI client gives: its metadata, itself, or nothing
    /// (keyed requests are not served).
    /// </summary>
    public static object? Resolve(Type serviceType, object? serviceKey, object metadata, object self) =>
        serviceKey is not null ? null
        : serviceType.IsInstanceOfType(metadata) ? metadata
        : serviceType.IsInstanceOfType(self) ? self : null;
}
