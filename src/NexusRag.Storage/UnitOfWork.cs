using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using NexusRag.Core.Transactions;

namespace NexusRag.Storage;

/// <summary>The unit of work's context on the current async flow (an instance per container, not process-wide state).</summary>
public sealed class AmbientDbContext
{
    private readonly AsyncLocal<NexusDbContext?> _current = new();

    public NexusDbContext? Current
    {
        get => _current.Value;
        internal set => _current.Value = value;
    }
}

/// <summary>Creates a context of its own, bypassing any unit of work on the flow.</summary>
internal interface IRawDbContextFactory
{
    Task<NexusDbContext> CreateOwnedAsync(CancellationToken ct);
}

/// <summary>
/// EF Core unit of work: one context and one transaction, made ambient for the work's async flow, so every store call
/// inside it (each asks the factory for a context) shares the transaction. Commits when the work returns; any exception
/// rolls everything back.
/// </summary>
internal sealed class EfUnitOfWork(IRawDbContextFactory factory, AmbientDbContext ambient) : IUnitOfWork
{
    public async Task<T> RunAsync<T>(Func<CancellationToken, Task<T>> work, CancellationToken ct)
    {
        if (ambient.Current is not null) return await work(ct).ConfigureAwait(false);
        await using var db = await factory.CreateOwnedAsync(ct).ConfigureAwait(false);
        await using var tx = await db.Database.BeginTransactionAsync(ct).ConfigureAwait(false);
        db.HeldByUnitOfWork = true;
        ambient.Current = db;
        T result;
        try
        {
            result = await work(ct).ConfigureAwait(false);
            await tx.CommitAsync(ct).ConfigureAwait(false);
        }
        finally
        {
            ambient.Current = null;
            db.HeldByUnitOfWork = false;
        }
        var after = db.AfterCommitActions.ToArray();
        db.AfterCommitActions.Clear();
        foreach (var action in after) action();
        return result;
    }

    public void AfterCommit(Action action)
    {
        if (ambient.Current is { } db) db.AfterCommitActions.Add(action);
        else action();
    }
}

internal static class TransactionExtensions
{
    /// <summary>
    /// A store's own transaction, or none when the context already runs in one (a unit of work): the store's writes then
    /// commit with the unit of work. The returned handle's commit is a no-op in that case.
    /// </summary>
    public static async Task<StoreTransaction> BeginStoreTransactionAsync(this NexusDbContext db, CancellationToken ct) =>
        db.Database.CurrentTransaction is not null
            ? new StoreTransaction(null)
            : new StoreTransaction(await db.Database.BeginTransactionAsync(ct).ConfigureAwait(false));
}

internal sealed class StoreTransaction(IDbContextTransaction? own) : IAsyncDisposable
{
    public Task CommitAsync(CancellationToken ct) => own?.CommitAsync(ct) ?? Task.CompletedTask;

    public Task RollbackAsync(CancellationToken ct) =>
        own?.RollbackAsync(ct) ?? throw new InvalidOperationException("a store cannot roll back part of a unit of work");

    public ValueTask DisposeAsync() => own?.DisposeAsync() ?? ValueTask.CompletedTask;
}
