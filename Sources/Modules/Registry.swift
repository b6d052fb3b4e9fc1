import LuaRuntime

/// Every native module, by the name scripts `require`.
public enum ModuleRegistry {
    public static let natives: [(String, LuaFunction)] = [
        (CoreModule.name, CoreModule.open),
        ("opsh.json", JSONModule.open),
        ("opsh.time", TimeModule.open),
        ("opsh.log", LogModule.open),
        ("opsh.config", ConfigModule.open),
        ("opsh.redis", RedisModule.open),
        ("opsh.crypto", CryptoModule.open),
        ("opsh.http", HTTPModule.open),
        ("opsh.fs", FilesModule.open),
        ("opsh.backup", BackupModule.open),
        ("opsh.yaml", YAMLModule.open),
        ("opsh.predict", PredictModule.open),
        ("opsh._pool", PoolModule.open),
        ("opsh.arq", ARQModule.open),
        ("opsh._docker", DockerModule.open),
        ("opsh.sys", SysModule.open),
        ("opsh.tls", TLSModule.open),
        ("opsh._history", HistoryModule.open),
        ("opsh.logs", LogsModule.open),
        ("opsh.qdrant.spec", QdrantSpecModule.open),
        ("opsh._bench", BenchModule.open),
        ("opsh.agent", AgentModule.open),
    ]
}
