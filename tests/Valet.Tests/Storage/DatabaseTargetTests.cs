using Valet.Core;
using Valet.Storage;

namespace Valet.Tests.Storage;

public sealed class DatabaseTargetTests
{
    private const string DataDir = "/var/lib/valet";

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("sqlite:")]
    public void Default_IsSqliteInTheDataDirectory(string? value)
    {
        var target = DatabaseTarget.Parse(value, DataDir);

        Assert.False(target.IsPostgres);
        Assert.Equal("/var/lib/valet/valet.db", target.SqlitePath);
        Assert.Contains("Pooling=True", target.ConnectionString, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData("sqlite:/tmp/x/valet.db", "/tmp/x/valet.db")]
    [InlineData("sqlite:///tmp/y.db", "/tmp/y.db")]
    public void SqlitePath_IsTakenAsGiven(string value, string path) =>
        Assert.Equal(path, DatabaseTarget.Parse(value, DataDir).SqlitePath);

    [Theory]
    [InlineData("Host=db.internal;Database=valet", DatabaseTarget.DefaultMaxPoolSize)]
    [InlineData("Host=db.internal;Database=valet;Maximum Pool Size=60", 60)]
    [InlineData("Host=db.internal;Database=valet;MaxPoolSize=7", 7)]
    [InlineData("postgres://valet@db.internal/valet", DatabaseTarget.DefaultMaxPoolSize)]
    [InlineData("postgres://valet@db.internal/valet?Maximum%20Pool%20Size=40", 40)]
    public void PostgresPool_DefaultsToASizeForSeveralNodes_UnlessTheOperatorSetsOne(string value, int expected)
    {
        var target = DatabaseTarget.Parse(value, DataDir);

        Assert.Equal(expected, new Npgsql.NpgsqlConnectionStringBuilder(target.ConnectionString).MaxPoolSize);
    }

    [Fact]
    public void PostgresConnectionString_IsPostgresAndDescriptionHidesThePassword()
    {
        var target = DatabaseTarget.Parse("Host=db.internal;Port=5433;Database=valet;Username=valet;Password=hunter2-secret", DataDir);

        Assert.True(target.IsPostgres);
        Assert.Equal("PostgreSQL db.internal:5433/valet", target.ToString());
        Assert.Contains("hunter2-secret", target.ConnectionString, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("postgres://valet:p%40ss-secret@db.internal:6432/valetdb?sslmode=require")]
    [InlineData("postgresql://valet:p%40ss-secret@db.internal:6432/valetdb?sslmode=require")]
    public void PostgresUrl_IsTranslated(string url)
    {
        var target = DatabaseTarget.Parse(url, DataDir);
        var builder = new Npgsql.NpgsqlConnectionStringBuilder(target.ConnectionString);

        Assert.True(target.IsPostgres);
        Assert.Equal(("db.internal", 6432, "valetdb", "valet", "p@ss-secret"), (builder.Host, builder.Port, builder.Database, builder.Username, builder.Password));
        Assert.Equal(Npgsql.SslMode.Require, builder.SslMode);
        Assert.DoesNotContain("secret", target.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("mysql://root:topsecret@db/valet")]
    [InlineData("just-some-topsecret-words")]
    [InlineData("Host=;Password=topsecret")]
    [InlineData("Hots=db;Password=topsecret")]
    [InlineData("postgres://u:topsecret@db/valet?bogus_option=1")]
    public void UnknownForms_FailInOneLineWithoutEchoingThePassword(string value)
    {
        var error = Assert.Throws<ValetConfigurationException>(() => DatabaseTarget.Parse(value, DataDir));

        Assert.StartsWith("VALET_DATABASE", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("topsecret", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error.Message);
    }
}
