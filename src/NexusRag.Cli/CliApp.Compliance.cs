using System.CommandLine;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using NexusRag.Core.Auth;
using NexusRag.Core.Compliance;
using NexusRag.Core.Errors;
using Spectre.Console;

namespace NexusRag.Cli;

public sealed partial class CliApp
{
    private Command ComplianceCommand()
    {
        var compliance = new Command("compliance", "SOC 2 control evaluation and signed evidence bundles");
        var start = new Option<string>("--period-start") { Description = "Start of the evidence period (ISO 8601, UTC)", Required = true };
        var end = new Option<string>("--period-end") { Description = "End of the evidence period (ISO 8601, UTC)", Required = true };
        var type = new Option<string>("--bundle-type") { Description = "soc2_on_demand | soc2_scheduled", DefaultValueFactory = _ => "soc2_on_demand" };
        var bundle = new Command("bundle", "Evaluate the controls and write a signed evidence bundle for the period") { start, end, type };
        bundle.SetAction((pr, ct) => WithServices(ct, async (sp, ct2) =>
        {
            if (!TryDate(pr.GetValue(start)!, out var from) || !TryDate(pr.GetValue(end)!, out var to))
            {
                _console.MarkupLine("[red]--period-start and --period-end must be ISO 8601 dates[/]");
                return 2;
            }
            try
            {
                var service = sp.GetRequiredService<ComplianceService>();
                var b = await service.CreateBundleAsync(new Principal(Principal.PlatformTenant, Role.Admin, null, "cli", IsOperator: true), pr.GetValue(type), from, to, null, ct2);
                var snapshot = await sp.GetRequiredService<IComplianceStore>().GetSnapshotAsync(b.SnapshotId, ct2);
                foreach (var r in snapshot!.Results)
                    _console.MarkupLine($"{(r.Status == ControlStatus.Pass ? "[green]pass[/]" : r.Status == ControlStatus.Fail ? "[red]FAIL[/]" : "[yellow]manual[/]"),-6} {r.ControlId,-6} {Markup.Escape(r.Summary)}");
                _console.WriteLine($"Bundle {b.Id} (snapshot {b.SnapshotId}, {snapshot.Status}): {service.BundlePath(b.Id)}");
                _console.WriteLine($"sha256 {b.Sha256}, signed with keyring key {b.SigningKeyId}");
                return 0;
            }
            catch (NexusException ex)
            {
                _console.MarkupLine($"[red]{Markup.Escape(ex.Code)}[/]: {Markup.Escape(ex.Message)}");
                return 1;
            }
        }));
        var id = new Option<string>("--bundle") { Description = "The bundle id", Required = true };
        var verify = new Command("verify", "Check a bundle's bytes, manifest signature and file sums; exit 1 if any fails") { id };
        verify.SetAction((pr, ct) => WithServices(ct, async (sp, ct2) =>
        {
            try
            {
                var checks = await sp.GetRequiredService<ComplianceService>().VerifyBundleAsync(pr.GetValue(id)!, ct2);
                _console.MarkupLine($"[green]ok[/] {Markup.Escape(pr.GetValue(id)!)}: {string.Join(", ", checks)}");
                return 0;
            }
            catch (NexusException ex)
            {
                _console.MarkupLine($"[red]{Markup.Escape(ex.Code)}[/]: {Markup.Escape(ex.Message)}");
                return 1;
            }
        }));
        compliance.Subcommands.Add(bundle);
        compliance.Subcommands.Add(verify);
        return compliance;
    }

    private static bool TryDate(string text, out DateTime value)
    {
        var ok = DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var d);
        value = d.UtcDateTime;
        return ok;
    }
}
