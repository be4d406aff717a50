namespace Valet.Core;

/// <summary>
/// Misconfiguration that must stop the boot. The message is readable without any secret: the problem itself when
/// there is one, otherwise a block with one problem per line (<see cref="Problems"/>).
/// </summary>
public sealed class ValetConfigurationException : Exception
{
    public ValetConfigurationException(string message)
        : this([message])
    {
    }

    public ValetConfigurationException(IReadOnlyList<string> problems)
        : base(Format(problems)) => Problems = problems;

    public IReadOnlyList<string> Problems { get; }

    private static string Format(IReadOnlyList<string> problems)
    {
        ArgumentNullException.ThrowIfNull(problems);
        return problems.Count == 1
            ? problems[0]
            : $"{problems.Count} configuration problems:" + string.Concat(problems.Select(problem => "\n  - " + problem));
    }
}
