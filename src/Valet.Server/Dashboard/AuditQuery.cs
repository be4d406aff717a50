using Valet.Core.Domain;
using Valet.Core.Stores;

namespace Valet.Server.Dashboard;

/// <summary>
/// A filtered page of the audit trail over <see cref="IAuditStore.ListAsync"/> (newest first, keyset paging): reads
/// batches and keeps the matching events. A page scans at most <see cref="ScanLimit"/> events, so a rare filter on a
/// long trail answers with fewer rows and a "next" cursor rather than reading everything.
/// </summary>
internal static class AuditQuery
{
    public const int ScanLimit = 5000;
    private const int Batch = 250;

    /// <summary>The matching events, and the <c>before</c> cursor of the next page (null at the end of the trail).</summary>
    public static async Task<(IReadOnlyList<AuditEvent> Events, long? Next)> PageAsync(IAuditStore audit, string orgId, long? before, int limit,
        Func<AuditEvent, bool> match, CancellationToken cancellationToken)
    {
        var found = new List<AuditEvent>();
        var scanned = 0;
        var cursor = before;
        while (scanned < ScanLimit)
        {
            var batch = await audit.ListAsync(orgId, cursor, Batch, cancellationToken);
            foreach (var auditEvent in batch)
            {
                scanned++;
                cursor = auditEvent.Id;
                if (!match(auditEvent))
                {
                    continue;
                }

                found.Add(auditEvent);
                if (found.Count == limit)
                {
                    // Whether anything older exists is learned on the next page; a cursor here costs one empty page at most.
                    return (found, auditEvent.Id);
                }
            }

            if (batch.Count < Batch)
            {
                return (found, null);
            }
        }

        return (found, cursor);
    }
}
