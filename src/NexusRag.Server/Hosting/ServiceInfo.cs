using System.Reflection;

namespace NexusRag.Server.Hosting;

public sealed class ServiceInfo(TimeProvider clock, Microsoft.Extensions.Options.IOptions<NexusRagOptions> options)
{
    public DateTimeOffset StartedAt { get; } = clock.GetUtcNow();
    public string Environment => options.Value.Env;
    public string Version { get; } =
        typeof(ServiceInfo).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";
}
