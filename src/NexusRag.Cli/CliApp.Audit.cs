using System.CommandLine;
using Microsoft.Extensions.DependencyInjection;
using NexusRag.Core.Audit;
using Spectre.Console;

namespace NexusRag.Cli;

public sealed partial class CliApp
{
    private Command AuditCommand()
    {
        var audit = new Command("audit", "The tamper-evident audit log");
        var tenant = new Option<string?>("--tenant") { Description = "Verify one tenant (default: every tenant with a chain)" };
        var verify = new Command("verify", "Walk each tenant's audit hash chain; exit 1 and name the first broken event if any") { tenant };
        verify.SetAction((pr, ct) => WithServices(ct, async (sp, ct2) =>
        {
            var log = sp.GetRequiredService<IAuditLog>();
            var tenants = pr.GetValue(tenant) is { } t ? [t] : await log.ChainedTenantsAsync(ct2);
            var broken = 0;
            foreach (var id in tenants)
            {
                var v = await log.VerifyAsync(id, ct2);
                if (v.Ok) _console.MarkupLine($"[green]ok[/]      {Markup.Escape(id)}: {v.Events} events");
                else
                {
                    broken++;
                    _console.MarkupLine($"[red]BROKEN[/]  {Markup.Escape(id)}: first bad event id {v.BrokenEventId} (chain position {v.BrokenChainSeq}): {Markup.Escape(v.Reason ?? "")}");
                }
            }
            if (tenants.Count == 0) _console.WriteLine("No audit chains yet.");
            return broken == 0 ? 0 : 1;
        }));
        audit.Subcommands.Add(verify);
        return audit;
    }
}
