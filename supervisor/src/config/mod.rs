//! The supervisor's configuration: one TOML file (`--config`), unknown keys rejected.
//!
//! Every field and its default is documented in `docs/configuration.md`. Relative paths
//! (`data_dir`, module `command` and `working_dir`) are resolved against the directory of the
//! config file, so a config file works from any current directory.

mod model;
mod resolve;

pub use model::{
    ClusterConfig, Config, Defaults, DeliveryConfig, DeploymentsConfig, ModuleConfig, NatsConfig,
    RestartPolicy, Runtimes, SecretsConfig, ServerConfig, StoreConfig, SupervisorConfig,
    WorkersConfig,
};
pub use resolve::{
    load, load_for_clients, parse, parse_memory, resolve_module_entry, ConfigError, ModuleSource,
    ModuleSpec, ResolvedConfig,
};
