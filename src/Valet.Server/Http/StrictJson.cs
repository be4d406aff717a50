using System.Text.Json;

namespace Valet.Server.Http;

/// <summary>
/// For bodies read as a <see cref="JsonElement"/> rather than bound (the provider document, the token route's optional
/// body): a field given twice is refused, as on bound bodies (<c>AllowDuplicateProperties</c> in ValetHost), since
/// parsers disagree on which copy counts.
/// </summary>
internal static class StrictJson
{
    public static readonly JsonSerializerOptions Options = new() { AllowDuplicateProperties = false };
}
