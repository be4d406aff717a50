namespace Valet.Core;

/// <summary>Misconfiguration that must stop the boot. The message is one readable line, without any secret.</summary>
public sealed class ValetConfigurationException(string message) : Exception(message);
