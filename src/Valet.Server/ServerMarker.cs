namespace Valet.Server;

internal static class ServerMarker;
