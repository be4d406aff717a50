using System.Text;

namespace Valet.Cli.Infrastructure;

/// <summary>
/// A secret from stdin: piped, the first line; at a terminal, a prompt on stderr and the keys read without echo (nothing
/// of the secret appears on the screen, in a scrollback or in a recorded session).
/// </summary>
internal static class SecretInput
{
    public static async Task<string?> ReadAsync(string prompt, CancellationToken cancellationToken)
    {
        if (Console.IsInputRedirected)
        {
            return (await Console.In.ReadLineAsync(cancellationToken))?.TrimEnd('\r', '\n');
        }

        await Console.Error.WriteAsync(prompt + " (not shown): ");
        var secret = new StringBuilder();
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var key = Console.ReadKey(intercept: true);
            if (key.Key == ConsoleKey.Enter)
            {
                break;
            }

            if (key.Key == ConsoleKey.Backspace)
            {
                secret.Length = Math.Max(0, secret.Length - 1);
            }
            else if (!char.IsControl(key.KeyChar))
            {
                secret.Append(key.KeyChar);
            }
        }

        await Console.Error.WriteLineAsync();
        return secret.ToString();
    }
}
