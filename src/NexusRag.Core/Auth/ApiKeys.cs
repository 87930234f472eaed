using System.Security.Cryptography;
using System.Text;

namespace NexusRag.Core.Auth;

/// <summary>
/// API key format: <c>nrgk_{prefix}_{secret}</c>. The prefix (10 base32 chars) is stored in clear for
/// lookup; the whole key is stored only as its SHA-256 hash. The plaintext is shown once, at creation.
/// </summary>
public static class ApiKeys
{
    public const string Scheme = "nrgk_";
    private const string Alphabet = "abcdefghijklmnopqrstuvwxyz234567";

    public sealed record Generated(string Plaintext, string Prefix, string Hash);

    public static Generated Generate()
    {
        var prefix = RandomChars(10);
        var secret = RandomChars(32);
        var plaintext = $"{Scheme}{prefix}_{secret}";
        return new Generated(plaintext, prefix, Hash(plaintext));
    }

    public static string Hash(string plaintext) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(plaintext)));

    /// <summary>Extracts the lookup prefix, or null when the string is not shaped like a key.</summary>
    public static string? TryGetPrefix(string candidate)
    {
        if (candidate.Length != Scheme.Length + 10 + 1 + 32 || !candidate.StartsWith(Scheme, StringComparison.Ordinal))
            return null;
        if (candidate[Scheme.Length + 10] != '_') return null;
        foreach (var c in candidate.AsSpan(Scheme.Length))
        {
            if (c != '_' && !Alphabet.Contains(c)) return null;
        }
        return candidate.Substring(Scheme.Length, 10);
    }

    public static bool HashEquals(string hashHexA, string hashHexB) =>
        CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(hashHexA), Encoding.ASCII.GetBytes(hashHexB));

    private static string RandomChars(int n)
    {
        Span<byte> bytes = stackalloc byte[n];
        RandomNumberGenerator.Fill(bytes);
        var chars = new char[n];
        for (var i = 0; i < n; i++) chars[i] = Alphabet[bytes[i] & 31];
        return new string(chars);
    }
}
