using System.Text;
using Valet.Server.Mcp;

namespace Valet.Tests.Mcp;

/// <summary>The spellings an upstream's echo can give a credential, each taken out of a call_api result (SPEC §11).</summary>
public sealed class EchoedSecretsTests
{
    private const string Secret = "Ab/Cd+Ef==";

    [Theory]
    [InlineData("raw " + Secret)]
    [InlineData("""{"key":"Ab\/Cd+Ef=="}""")] // PHP's json_encode escapes '/'
    [InlineData("next=https://api.example/items?key=Ab%2FCd%2BEf%3D%3D&page=2")] // a query secret, as it went on the wire
    [InlineData("next=https://api.example/items?key=Ab%2fCd%2bEf%3d%3d")] // the same, lower-case hex
    [InlineData("self=http://127.0.0.1/items?page=2&api_key=Ab/Cd%2BEf%3D%3D")] // partly escaped: Python's quote(safe='/')
    [InlineData("""{"self":"Ab\/Cd\u002bEf\u003d\u003d"}""")] // Go's encoding/json: lower-case \u escapes
    [InlineData("""{"self":"Ab\u002FCd\u002BEf=\u003D"}""")] // upper-case \u escapes, mixed with raw
    [InlineData("next=https%3A%2F%2Fx%2F%3Fkey%3DAb%252FCd%252BEf%253D%253D")] // a URL nested in another's query: encoded twice
    [InlineData("<a href=\"/items?key=Ab/Cd&#x2B;Ef==\">next</a>")] // Razor/HtmlEncoder: '+' as a hex character reference
    [InlineData("<td>Ab&#47;Cd&#43;Ef&#61;&#61;</td>")] // decimal character references
    [InlineData("<a href=\"/items?key=Ab&#x002F;Cd&#x002B;Ef&#x003D;&#x003D;\">")] // zero-padded hex references
    [InlineData("<td>Ab&#0047;Cd&#0043;Ef&#0061;&#0061;</td>")] // zero-padded decimal references
    [InlineData("""{"next":"/items?key=Ab\u00252FCd\u00252BEf\u00253D\u00253D"}""")] // %2B with its '%' JSON-escaped
    public void EverySpellingOfTheSecret_IsRedacted(string echoed)
    {
        var redacted = Encoding.UTF8.GetString(EchoedSecrets.Redact(Encoding.UTF8.GetBytes(echoed), [Secret], truncated: false).Span);

        Assert.Contains(EchoedSecrets.Mark, redacted, StringComparison.Ordinal);
        Assert.DoesNotContain("Cd", redacted, StringComparison.Ordinal);
        Assert.Equal(EchoedSecrets.Mark, EchoedSecrets.Redact("Bearer " + Secret, [Secret])["Bearer ".Length..]);
    }

    [Fact]
    public void ABodyWithoutTheSecret_IsReturnedAsItWas_AndACutTailIsTakenOff()
    {
        var body = Encoding.UTF8.GetBytes("nothing to see");
        Assert.True(EchoedSecrets.Redact(body, [Secret], truncated: false).Span.SequenceEqual(body));

        var cut = Encoding.UTF8.GetString(EchoedSecrets.Redact(Encoding.UTF8.GetBytes("token: Ab/Cd+E"), [Secret], truncated: true).Span);
        Assert.Equal("token: " + EchoedSecrets.Mark, cut);
    }

    [Theory]
    [InlineData("token: Ab/Cd+E", "token: ")] // raw
    [InlineData("self=/items?api_key=Ab/Cd%2BEf%3D", "self=/items?api_key=")] // mixed spelling: Python's quote(safe='/')
    [InlineData("self=/items?api_key=Ab/Cd%2BEf%3", "self=/items?api_key=")] // cut partway through an escape
    [InlineData("{\"self\":\"Ab\\/Cd\\u002bE", "{\"self\":\"")] // Go's JSON, mixed with PHP's \/
    [InlineData("<a href=\"Ab/Cd&#x2B;E", "<a href=\"")] // HTML character reference
    [InlineData("x=Ab%252FCd%252BEf%25", "x=")] // encoded twice, cut mid-escape
    [InlineData("{\"n\":\"Ab\\u00252FCd\\u00252BE", "{\"n\":\"")] // %2B with its '%' JSON-escaped
    [InlineData("<p>Ab&#x002F;Cd&#x002B;Ef&#x00", "<p>")] // zero-padded reference, cut mid-reference
    public void ACutBodyEndingInTheStartOfTheSecret_InAnySpelling_LosesThatTail(string echoed, string kept)
    {
        var cut = Encoding.UTF8.GetString(EchoedSecrets.Redact(Encoding.UTF8.GetBytes(echoed), [Secret], truncated: true).Span);
        Assert.Equal(kept + EchoedSecrets.Mark, cut);
    }

    [Theory]
    [InlineData("ends in Ab/Cd")] // five characters: too few to tell from ordinary text
    [InlineData("ends in Ab/Cd+Xy")] // diverges from the secret before the end
    public void ACutBodyNotEndingInTheSecret_KeepsItsTail(string echoed)
    {
        var body = Encoding.UTF8.GetBytes(echoed);
        Assert.True(EchoedSecrets.Redact(body, [Secret], truncated: true).Span.SequenceEqual(body));
    }

    [Theory]
    [InlineData("Xy12abc%", "k=Xy12abc%25x", "k=[redacted by Valet]x")] // the secret's own '%' escaped: no "25" left behind
    [InlineData("Xy12abc&", "<b>Xy12abc&amp;</b>", "<b>[redacted by Valet]</b>")]
    [InlineData("Xy12abc\\", "{\"k\":\"Xy12abc\\\\\"}", "{\"k\":\"[redacted by Valet]\"}")] // JSON stays a string
    public void ASecretWithAnEscapeCharacter_IsTakenWholeInItsLongestSpelling(string secret, string echoed, string expected) =>
        Assert.Equal(expected, Encoding.UTF8.GetString(EchoedSecrets.Redact(Encoding.UTF8.GetBytes(echoed), [secret], truncated: false).Span));

    [Fact]
    public void AVeryLongToken_CutNearItsEnd_LosesItsTail_WithoutExhaustingTheStack()
    {
        // No cap on an access token's length: a walk one frame per character overflowed the stack (which kills the process)
        // on some thousands of characters, and the agent can place the cut by padding its request.
        var token = string.Concat(Enumerable.Range(0, 60_000).Select(i => (char)('A' + (i * 7 % 26))));
        var body = "{\"echo\":\"" + token[..59_990];

        var result = RunOnSmallStack(() => Encoding.UTF8.GetString(EchoedSecrets.Redact(Encoding.UTF8.GetBytes(body), [token], truncated: true).Span));

        Assert.Equal("{\"echo\":\"" + EchoedSecrets.Mark, result);
    }

    [Fact]
    public void ASecretThatRepeatsItself_AgainstTextThatNearlyEndsInIt_IsBoundedInTime_AndTakesTheWindow()
    {
        // Every start in the run of 'a' walks to the 'b' before failing: about two million states, past the walk's budget.
        // The budget then takes the whole window as the tail: on a body already cut short, removing more is the safe side.
        var secret = new string('a', 2_000);
        var body = Encoding.UTF8.GetBytes("head " + new string('a', 1_990) + "b");
        var clock = System.Diagnostics.Stopwatch.StartNew();

        var result = Encoding.UTF8.GetString(EchoedSecrets.Redact(body, [secret], truncated: true).Span);

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed.TotalSeconds:F1} s");
        Assert.Equal(EchoedSecrets.Mark, result);
    }

    /// <summary>Runs <paramref name="work"/> on a thread with a 256 KB stack, where deep recursion fails fast.</summary>
    private static string RunOnSmallStack(Func<string> work)
    {
        string? result = null;
        var thread = new Thread(() => result = work(), 256 * 1024);
        thread.Start();
        thread.Join();
        return result!;
    }
}
