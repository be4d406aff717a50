namespace Valet.Storage;

internal static class StorageMarker;
