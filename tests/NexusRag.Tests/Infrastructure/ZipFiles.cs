using System.IO.Compression;

namespace NexusRag.Tests.Infrastructure;

/// <summary>ZIP archives as name → bytes (DSAR exports, evidence bundles).</summary>
public static class ZipFiles
{
    public static Dictionary<string, byte[]> Read(byte[] zip)
    {
        using var archive = new ZipArchive(new MemoryStream(zip));
        return archive.Entries.ToDictionary(e => e.FullName, e =>
        {
            using var s = e.Open();
            using var m = new MemoryStream();
            s.CopyTo(m);
            return m.ToArray();
        });
    }

    public static byte[] Write(Dictionary<string, byte[]> files)
    {
        using var m = new MemoryStream();
        using (var archive = new ZipArchive(m, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var (name, content) in files)
            {
                using var s = archive.CreateEntry(name).Open();
                s.Write(content);
            }
        }
        return m.ToArray();
    }
}
