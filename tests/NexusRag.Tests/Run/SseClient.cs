using System.Net.Http.Json;
using System.Text.Json;

namespace NexusRag.Tests.Run;

public sealed record SseFrame(string Event, long Id, JsonElement Data)
{
    public string Type => Data.GetProperty("type").GetString()!;
    public JsonElement Payload => Data.GetProperty("data");
}

public static class SseClient
{
    public static async Task<(HttpResponseMessage Response, List<SseFrame> Frames)> RunAsync(HttpClient client, object body, string? lastEventId = null)
    {
        using var req = new HttpRequestMessage(HttpMethod.Post, "/v1/run") { Content = JsonContent.Create(body) };
        if (lastEventId is not null) req.Headers.Add("Last-Event-ID", lastEventId);
        var resp = await client.SendAsync(req, HttpCompletionOption.ResponseHeadersRead);
        var text = await resp.Content.ReadAsStringAsync();
        if (resp.Content.Headers.ContentType?.MediaType != "text/event-stream") return (resp, []);
        return (resp, Parse(text));
    }

    public static List<SseFrame> Parse(string text) =>
        text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Select(ParseFrame).ToList();

    public static SseFrame ParseFrame(string block)
    {
        string? ev = null, id = null, data = null;
        foreach (var line in block.Split('\n'))
        {
            if (line.StartsWith("event: ", StringComparison.Ordinal)) ev = line[7..];
            else if (line.StartsWith("id: ", StringComparison.Ordinal)) id = line[4..];
            else if (line.StartsWith("data: ", StringComparison.Ordinal)) data = line[6..];
        }
        Assert.NotNull(ev); Assert.NotNull(id); Assert.NotNull(data);
        return new SseFrame(ev!, long.Parse(id!), JsonDocument.Parse(data!).RootElement.Clone());
    }
}
