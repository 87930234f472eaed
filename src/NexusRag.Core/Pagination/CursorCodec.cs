using System.Buffers.Text;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using NexusRag.Core.Errors;

namespace NexusRag.Core.Pagination;

/// <summary>
/// Opaque, tamper-proof keyset cursors: base64url(payload "." HMAC-SHA256(secret, scope + payload)).
/// The scope binds a cursor to one listing and one tenant, so a cursor cannot be replayed elsewhere.
/// </summary>
public sealed class CursorCodec(string secret)
{
    private readonly byte[] _key = Encoding.UTF8.GetBytes(secret);

    public string Encode(string scope, KeysetPosition position)
    {
        var payload = $"{position.CreatedAt.Ticks.ToString(CultureInfo.InvariantCulture)}|{position.Id}";
        var sig = Sign(scope, payload);
        return Base64Url.EncodeToString(Encoding.UTF8.GetBytes(payload)) + "." + Base64Url.EncodeToString(sig);
    }

    public KeysetPosition Decode(string scope, string cursor)
    {
        if (cursor.Length is 0 or > 1024) throw Invalid();
        var dot = cursor.IndexOf('.', StringComparison.Ordinal);
        if (dot <= 0) throw Invalid();
        try
        {
            var payload = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(cursor.AsSpan(0, dot)));
            var sig = Base64Url.DecodeFromChars(cursor.AsSpan(dot + 1));
            if (!CryptographicOperations.FixedTimeEquals(sig, Sign(scope, payload))) throw Invalid();
            var bar = payload.IndexOf('|', StringComparison.Ordinal);
            var ticks = long.Parse(payload.AsSpan(0, bar), CultureInfo.InvariantCulture);
            return new KeysetPosition(new DateTime(ticks, DateTimeKind.Utc), payload[(bar + 1)..]);
        }
        catch (FormatException) { throw Invalid(); }
        catch (ArgumentException) { throw Invalid(); }
    }

    private byte[] Sign(string scope, string payload) =>
        HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes(scope + "\n" + payload));

    private static NexusException Invalid() => new(ErrorKind.BadRequest, ErrorCodes.InvalidCursor, "The cursor is invalid or was issued for another listing");
}
