using NexusRag.Cli;

return await new CliApp().RunAsync(args);
