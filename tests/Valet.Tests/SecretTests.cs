using Valet.Core.Domain;

namespace Valet.Tests;

public sealed class SecretTests
{
    [Fact]
    public void Secret_NeverPrintsItself_InsideARecord()
    {
        var credential = new Credential { Id = "cred_1", OrgId = "default", Provider = "github", ClientId = "abc", ClientSecret = new Secret("s3cr3t-value") };

        var printed = credential.ToString();

        Assert.DoesNotContain("s3cr3t-value", printed, StringComparison.Ordinal);
        Assert.Equal("s3cr3t-value", credential.ClientSecret!.Value.Reveal());
    }
}
