using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Scalar.AspNetCore;
using Valet.Core;
using Valet.Core.Domain;
using Valet.Core.Flows;
using Valet.Core.OAuth;
using Valet.Core.Providers;
using OpenTelemetry.Metrics;
using Valet.Core.Stores;
using Valet.Core.Tokens;
using Valet.Core.Vault;
using Valet.Server.Audit;
using Valet.Server.Auth;
using Valet.Server.Http;
using Valet.Server.Connections;
using Valet.Server.Credentials;
using Valet.Server.Dashboard;
using Valet.Server.Demo;
using Valet.Server.Flows;
using Valet.Server.Internal;
using Valet.Server.Keys;
using Valet.Server.Logging;
using Valet.Server.Mcp;
using Valet.Server.Orgs;
using Valet.Server.Providers;
using Valet.Server.Proxy;
using Valet.Server.Targets;
using Valet.Server.Tokens;
using Valet.Storage;

namespace Valet.Server.Hosting;

/// <summary>
/// Builds the Valet server. Every boot check (settings, database target, key ring, catalog, options, migrations, key
/// check) runs here, before the server listens. Configuration problems fail with one <see cref="ValetConfigurationException"/>
/// naming each of them (<see cref="BootCheck"/>); a key that cannot open the data with <see cref="VaultKeyMismatchException"/>.
/// </summary>
public static class ValetHost
{
    public static async Task<WebApplication> BuildAsync(string[] args, IReadOnlyDictionary<string, string?>? overrides = null,
        Action<WebApplicationBuilder>? configure = null, CancellationToken cancellationToken = default)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        // Precedence, lowest first: valet.json in the data directory, VALET_* environment, explicit overrides.
        var dataDirectory = overrides?.GetValueOrDefault("DATA_DIR") is { Length: > 0 } dir ? Path.GetFullPath(dir) : ValetSettings.DefaultDataDirectory();
        builder.Configuration.AddJsonFile(Path.Combine(dataDirectory, "valet.json"), optional: true, reloadOnChange: false);
        builder.Configuration.AddEnvironmentVariables("VALET_");
        if (overrides is not null)
        {
            builder.Configuration.AddInMemoryCollection(overrides);
        }

        // Every independent check runs and their problems are reported together (one block, exit 2 in the CLI).
        var problems = new List<string>();
        var settings = BootCheck.Run(problems, () => ValetSettings.From(builder.Configuration));
        var database = settings is null ? null : BootCheck.Run(problems, () => DatabaseTarget.Parse(settings.Database, settings.DataDirectory));
        var hosted = database?.IsPostgres ?? false;
        if (hosted && settings!.AdminToken is null)
        {
            problems.Add("VALET_ADMIN_TOKEN is required with PostgreSQL (hosted mode).");
        }

        if (hosted && settings!.PublicUrl is null)
        {
            problems.Add("VALET_PUBLIC_URL is required with PostgreSQL (hosted mode): connect links and callbacks are built from it.");
        }

        // Only once the mode is known: in local mode loading the key ring may create the key file.
        var keyRing = database is null ? null
            : BootCheck.Run(problems, () => VaultKeyRing.Load(settings!.EncryptionKey, settings.EncryptionKeys, hosted, settings.DataDirectory));

        // Discovery runs before the container exists, over the same hardened handler as every OAuth call (OAuthHttp).
        var catalog = await BootCheck.RunAsync(problems, () => ProviderCatalogBuilder.BuildAsync(builder.Configuration, cancellationToken));

        var providerSignIn = catalog is null ? null : BootCheck.Run(problems, () => ProviderSignIn.From(builder.Configuration, catalog));

        if (problems.Count > 0 || settings is null || database is null || keyRing is null || catalog is null || providerSignIn is null)
        {
            throw new ValetConfigurationException(problems);
        }

        // Local mode: this process alone serves the SQLite file (refreshes are coordinated in process). Taken once every
        // other check has passed (the key ring has created the data directory); every later failure releases it.
        var processLock = database is { IsPostgres: false, SqlitePath: { } sqlitePath } ? SqliteProcessLock.Acquire(sqlitePath) : null;
        try
        {
            return await BuildLockedAsync(builder, settings, database, hosted, keyRing, catalog, providerSignIn, processLock, configure, cancellationToken);
        }
        catch
        {
            processLock?.Dispose(); // the boot failed after the lock was taken: a retry in this process may take it again
            throw;
        }
    }

    private static async Task<WebApplication> BuildLockedAsync(WebApplicationBuilder builder, ValetSettings settings, DatabaseTarget database, bool hosted,
        VaultKeyRing keyRing, ProviderCatalog catalog, ProviderSignIn providerSignIn, SqliteProcessLock? processLock, Action<WebApplicationBuilder>? configure,
        CancellationToken cancellationToken)
    {
        var serviceToken = settings.ServiceToken ?? (hosted ? null : ServiceTokenFile.LoadOrCreate(settings.DataDirectory));

        if (string.IsNullOrEmpty(builder.Configuration["urls"]) && string.IsNullOrEmpty(builder.Configuration["ASPNETCORE_URLS"]) &&
            string.IsNullOrEmpty(Environment.GetEnvironmentVariable("ASPNETCORE_URLS")))
        {
            builder.WebHost.UseUrls(ValetSettings.DefaultUrl);
        }

        // Kestrel keeps only the directive of "Connection: close, X-Name": keep the raw value for the proxy (RawConnectionHeader).
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.RequestHeaderEncodingSelector = RawConnectionHeader.Selector);

        // Logs are diagnostics: all of them go to stderr, so stdout stays for data. Framework chatter is kept down.
        builder.Logging.AddConsole(options => options.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.AspNetCore.DataProtection", LogLevel.Error);
        builder.Logging.AddFilter("System.Net.Http.HttpClient", LogLevel.Warning);

        // YARP's forwarder logs two Information lines for every proxied call ("Proxying to …", "Received HTTP/1.1 response
        // …"): formatting and writing them cost the proxy more CPU than any of its own work (docs/performance.md). The
        // proxy's own per-call line is event 5000 (Debug) and every call is in the audit trail; YARP's warnings stay. An
        // operator who sets Logging:LogLevel:Yarp gets that level instead.
        if (builder.Configuration["Logging:LogLevel:Yarp"] is null)
        {
            builder.Logging.AddFilter("Yarp", LogLevel.Warning);
        }

        // The MCP SDK logs every exception a tools/call handler throws at Error, with its stack trace: an agent naming a tool
        // that does not exist (answered -32602) is not a server error. Valet logs a tool's real failures itself (event 5200).
        if (builder.Configuration["Logging:LogLevel:ModelContextProtocol"] is null)
        {
            builder.Logging.AddFilter("ModelContextProtocol", LogLevel.Critical);
        }

        // Hosting starts an Activity and a logging scope for every request whenever this category is enabled at any level.
        // It logs only "request starting/finished" (Information); errors are logged by our exception handler and Kestrel.
        builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.None);

        var services = builder.Services;
        services.AddSingleton(settings);
        services.AddSingleton(keyRing);
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<IVault>(_ => new XChaChaVault(keyRing));
        // The boot catalog plus the providers registered at run time (stored in the database, SPEC §13). An instance, so
        // a host may still wrap or replace the catalog; its store is attached once the container exists.
        var providerChanges = new ProviderChanges();
        var providers = new ProviderRegistry(catalog, providerChanges);
        services.AddSingleton(providerChanges);
        services.AddSingleton(providers);
        services.AddSingleton<IProviderCatalog>(providers);
        services.AddSingleton(new OperatorTokens(settings.AdminToken, serviceToken, providerSignIn.Configuration,
            serviceTokenGenerated: settings.ServiceToken is null && serviceToken is not null));
        services.AddSingleton(providerSignIn);
        services.AddSingleton<ISignInGate>(providerSignIn);
        services.AddSingleton<BearerAuthenticator>();
        services.AddSingleton<KeyUsage>();
        services.AddSingleton<Microsoft.Extensions.Hosting.IHostedService>(sp => sp.GetRequiredService<KeyUsage>()); // drains its queue on stop
        services.AddValetStorage(database);
        services.AddValetOAuthClient();

        services.ConfigureHttpJsonOptions(options =>
        {
            options.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
            options.SerializerOptions.DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull;
            // {"name":"a","name":"b"}: refused (invalid_json), not read as "b" — parsers disagree on which wins, and a
            // check made on one copy and a use of the other is how such bodies get past a gateway.
            options.SerializerOptions.AllowDuplicateProperties = false;
            options.SerializerOptions.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower));
            options.SerializerOptions.TypeInfoResolver = (options.SerializerOptions.TypeInfoResolver ?? new DefaultJsonTypeInfoResolver())
                .WithAddedModifier(AuthEnvelope.Modify)
                .WithAddedModifier(Timestamps.Modify);
        });
        services.Configure<RouteHandlerOptions>(options => options.ThrowOnBadRequest = true);
        services.AddAuthentication(ValetClaims.Scheme)
            .AddScheme<AuthenticationSchemeOptions, ValetAuthenticationHandler>(ValetClaims.Scheme, null);
        services.AddAuthorizationBuilder()
            .AddPolicy(ValetClaims.OperatorPolicy, policy => policy.RequireRole(ValetClaims.RoleOperator))
            .AddPolicy(ValetClaims.ServicePolicy, policy => policy.RequireRole(ValetClaims.RoleService))
            .AddPolicy(ValetClaims.AgentPolicy, policy => policy.RequireRole(ValetClaims.RoleAgent))
            .AddPolicy(ValetClaims.FlowReaderPolicy, policy => policy.RequireRole(ValetClaims.RoleOperator, ValetClaims.RoleAgent));
        services.AddValetConnect();
        services.AddSingleton<LoopbackCallbacks>();
        services.AddSingleton<ConnectStarter>();
        services.AddSingleton<Envelopes>();
        services.AddSingleton<PublicBaseUrl>();
        services.AddValetSessions(settings);
        services.AddValetDashboard(settings);
        services.AddValetTokens();
        services.AddValetProxy();
        services.AddValetMcp();
        services.AddValetRateLimits();
        services.AddValetOpenApi();
        services.AddValetRuntimeStats(builder.Configuration);

        // Metrics (refreshes, failures by class, lag behind schedule) go out over OTLP when the standard
        // OTEL_EXPORTER_OTLP_ENDPOINT is set; the meter exists either way for in-process listeners.
        if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_ENDPOINT")))
        {
            services.AddOpenTelemetry().WithMetrics(metrics => metrics.AddMeter(ValetMetrics.MeterName).AddOtlpExporter());
        }

        builder.Services.AddSingleton<SqliteProcessLockOwner>();
        configure?.Invoke(builder);

        var app = builder.Build();

        // Options sections (Flows, Refresh, Proxy, Storage, …) are validated now, before the database is touched, rather
        // than escaping from StartAsync.
        BootCheck.Options(app.Services);

        await app.Services.GetRequiredService<StorageInitializer>().InitializeAsync(cancellationToken);
        try
        {
            await app.Services.GetRequiredService<IVaultMaintenance>().VerifyKeyAsync(cancellationToken);
        }
        catch (VaultKeyMismatchException mismatch) when (keyRing.GeneratedKeyFile is not null)
        {
            throw keyRing.DiscardGeneratedKey(mismatch) ?? mismatch;
        }

        await app.Services.GetRequiredService<IOrgStore>().EnsureAsync(
            new Org { Id = Org.DefaultId, Name = "Default", CreatedAt = app.Services.GetRequiredService<TimeProvider>().GetUtcNow() },
            cancellationToken);

        providers.Attach(app.Services.GetRequiredService<IRuntimeProviderStore>(), app.Services.GetService<ILogger<ProviderRegistry>>());
        await providers.ReloadAsync(cancellationToken);

        if (processLock is not null)
        {
            // Released when this server stops, when the host is disposed without having started, or when the process ends.
            app.Lifetime.ApplicationStopped.Register(processLock.Dispose);
            app.Services.GetRequiredService<SqliteProcessLockOwner>().Own(processLock);
        }

        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Valet.Server");
        if (keyRing.GeneratedKeyFile is not null)
        {
            Log.GeneratedKey(logger, keyRing.GeneratedKeyFile);
        }

        app.Use((context, next) =>
        {
            RawConnectionHeader.Take(context); // this request's own Connection lines, before anything else runs
            return next(context);
        });
        app.UseValetForwardedHeaders();
        app.UseValetExceptionHandler();
        app.UseAgentLane(); // applies the failed-authentication limit to its own requests
        app.UseValetRateLimits();
        // Routing explicitly after the lane (not implicitly first): the lane's requests never pay for the matcher.
        app.UseRouting();
        app.UseValetStatusPagesAndLimits();
        app.UseAuthentication();
        app.UseAgentRateLimits();
        app.UseInternalGuard();
        app.UseAuthorization();
        app.UseApiReferencePageHeaders();
        app.MapValetEndpoints();

        app.Lifetime.ApplicationStarted.Register(() =>
        {
            Log.Started(logger, typeof(ValetHost).Assembly.GetName().Version?.ToString(3) ?? "0.0.0", hosted ? "hosted" : "local",
                settings.DataDirectory);
            if (!hosted)
            {
                Log.ServiceTokenFile(logger, ServiceTokenFile.PathIn(settings.DataDirectory));
            }
        });

        return app;
    }

    private static void MapValetEndpoints(this WebApplication app)
    {
        app.MapGet("/healthz", () => TypedResults.Ok(new { status = "ok" })).AllowAnonymous().ExcludeFromDescription();
        app.MapOpenApi("/openapi/v1.json");
        // The API reference page talks to nothing but this server: no AI chat (Agent Scalar sends the document to Scalar's
        // service), no telemetry, no fonts from a CDN, no MCP hand-off, and no developer-tools bar (its Share, Generate SDK and
        // Deploy buttons lead to Scalar's cloud). Test requests go straight from the browser to Valet: no proxy is set.
        app.MapScalarApiReference(ApiReferencePage.Path, options => options.WithOpenApiRoutePattern("/openapi/v1.json").WithTitle("Valet API")
            .DisableAgent().DisableTelemetry().DisableDefaultFonts().DisableMcp().HideDeveloperTools()
            .HideClientButton() // "Open API Client" links to Scalar's hosted client, which sends requests through Scalar's proxy
            .WithNonce()); // a fresh nonce per page for its inline script, which the page's CSP allows (ApiReferencePage)

        app.MapOrgs();
        app.MapCredentials();
        app.MapKeys();
        app.MapProviders();
        app.MapConnections();
        app.MapFlows();
        app.MapOAuthCallback();
        app.MapInternal();
        app.MapDeviceConnect();
        app.MapTokens();
        app.MapBootstrap();
        app.MapSignIn();
        app.MapDashboard();
        app.MapProxy();
        app.MapValetMcp();
        app.MapTargets();
        app.MapAudit();
        if (app.Services.GetRequiredService<ValetSettings>().Demo)
        {
            app.MapDemoAuthorizationServer(app.Configuration["DEMO_CLIENT_SECRET"] ?? throw new ValetConfigurationException("VALET_DEMO needs DEMO_CLIENT_SECRET."));
        }
    }
}
