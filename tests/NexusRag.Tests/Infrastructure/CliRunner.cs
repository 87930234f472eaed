using NexusRag.Cli;
using Spectre.Console;

namespace NexusRag.Tests.Infrastructure;

/// <summary>Runs the nexusrag CLI in-process with a plain, wide, captured console.</summary>
public static class CliRunner
{
    public static async Task<(int Code, string Output)> RunAsync(IReadOnlyDictionary<string, string?> config, params string[] args)
    {
        var writer = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors, Out = new AnsiConsoleOutput(writer), Interactive = InteractionSupport.No,
        });
        console.Profile.Width = 250;
        var code = await new CliApp(config, console).RunAsync(args);
        return (code, writer.ToString());
    }
}
