//! Hosts of their own on one machine, for cluster tests.
//!
//! * [`Network`]: network namespaces (`ip netns`), each joined by a veth pair to a bridge in the
//!   root namespace. The bridge has an address of the same /24 subnet, so the test process (in
//!   the root namespace) reaches every host, the hosts reach each other and the bridge address,
//!   and nothing else changes on the machine.
//! * [`NatsCluster`]: a NATS cluster with JetStream, one `nats-server` per host, routes between
//!   them; nodes can be SIGKILLed and restarted.
//! * [`Cluster`]: a throwaway PostgreSQL server on the bridge address, a 3-node NATS cluster and
//!   three supervisors (node ids `a`, `b`, `c`), each in its own namespace, listening on its
//!   host's address; scenarios share one and run one after the other.
//!
//! Every piece is removed when its guard drops, also when a test panics: processes stopped,
//! namespaces, veth pairs and the bridge deleted, temp dirs removed. Names carry the test
//! process's pid (`cvt<pid><letter>…`, at most 15 characters for interfaces), and leftovers of a
//! run that was killed before its guards ran (its pid gone) are removed by the next run.
//!
//! Needs root and iproute2's `ip`; without them [`Network::create`] panics saying which is
//! missing (a cluster test must not pass by skipping).

use std::ffi::OsString;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::postgres::PostgresServer;
use crate::{tail, ModuleEntry, StartOptions, Supervisor};

/// First octets of the subnets used: `10.213.<n>.0/24`, `n` chosen per run among the unused.
const SUBNET_PREFIX: [u8; 2] = [10, 213];
/// Host part of the first host's address (`.11`, `.12`, …); the bridge is `.1`.
const FIRST_HOST: u8 = 11;
/// Prefix of every name made here.
const NAME_PREFIX: &str = "cvt";

/// Serializes the choice of a subnet and the bridge's creation within this process.
static CREATING: Mutex<()> = Mutex::new(());
/// Distinguishes the networks of one process: `a`, `b`, ….
static NETWORKS: AtomicU8 = AtomicU8::new(0);

/// Runs `ip` with `args`; panics with its error output if it fails.
fn ip(args: &[&str]) {
    let output = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `ip` ({e}): install iproute2"));
    assert!(
        output.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr).trim()
    );
}

/// Runs `ip` with `args`, ignoring failures (removal of what may be gone already).
fn ip_quietly(args: &[&str]) {
    let _ = Command::new("ip")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The standard output of `ip` with `args` (empty if it fails).
fn ip_output(args: &[&str]) -> String {
    Command::new("ip")
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// Panics with a clear message unless this process can create network namespaces: root and
/// iproute2's `ip` with `netns` support.
pub fn require_ip_netns() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "network namespaces need root: run the cluster test as root (`ip netns add` is refused \
         otherwise)"
    );
    match Command::new("ip").args(["netns", "list"]).output() {
        Err(e) => panic!("cannot run `ip` ({e}): apt-get install iproute2"),
        Ok(output) if !output.status.success() => panic!(
            "`ip netns list` fails: {} (iproute2 with network namespace support is needed)",
            String::from_utf8_lossy(&output.stderr).trim()
        ),
        Ok(_) => {}
    }
}

/// The pid in a name made here (`cvt<pid>…`), if it is one.
fn owner_pid(name: &str) -> Option<i32> {
    let rest = name.strip_prefix(NAME_PREFIX)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Whether `name` was made by a process that no longer runs.
fn is_stale(name: &str) -> bool {
    owner_pid(name).is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists())
}

/// Removes the namespaces, bridges and veths left by runs killed before their guards ran.
fn remove_stale() {
    for line in ip_output(&["netns", "list"]).lines() {
        let name = line.split_whitespace().next().unwrap_or_default();
        if is_stale(name) {
            ip_quietly(&["netns", "del", name]);
        }
    }
    for line in ip_output(&["-o", "link", "show"]).lines() {
        // `7: cvt123ah0@if6: <BROADCAST,...`
        let name = line
            .split(": ")
            .nth(1)
            .and_then(|n| n.split('@').next())
            .unwrap_or_default();
        if is_stale(name) {
            ip_quietly(&["link", "del", name]);
        }
    }
}

/// A third octet `n` such that `10.213.<n>.0/24` appears on no interface and in no route.
fn free_subnet() -> u8 {
    let used = format!(
        "{}\n{}",
        ip_output(&["-o", "-4", "addr", "show"]),
        ip_output(&["-4", "route", "show", "table", "all"])
    );
    let start = (std::process::id() % 200) as u8;
    (0..=255u8)
        .map(|i| start.wrapping_add(i))
        .find(|n| {
            let prefix = format!("{}.{}.{n}.", SUBNET_PREFIX[0], SUBNET_PREFIX[1]);
            !used.contains(&prefix)
        })
        .expect("every 10.213.x.0/24 subnet is in use on this machine")
}

/// A host: a network namespace joined to the bridge, with one address.
pub struct Host {
    /// The namespace's name (`ip netns exec <name>`).
    pub name: String,
    /// Its address on the bridge's subnet.
    pub address: Ipv4Addr,
    /// The root-namespace end of its veth pair.
    veth: String,
}

impl Host {
    /// `ip netns exec <namespace> <program>`: a command run inside this host. `ip` execs the
    /// program, so the child's pid is the program's.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name]).arg(program);
        command
    }

    /// The prefix running a program inside this host (`ip netns exec <namespace>`), as
    /// [`StartOptions::prefix`] takes it.
    pub fn prefix(&self) -> Vec<OsString> {
        ["ip", "netns", "exec", self.name.as_str()]
            .iter()
            .map(OsString::from)
            .collect()
    }

    /// Runs `f` on a thread that entered this host's network namespace (sockets it opens
    /// belong to the namespace, and keep to it when handed back).
    pub fn run_in<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let namespace =
                std::fs::File::open(&path).unwrap_or_else(|e| panic!("cannot open {path}: {e}"));
            nix::sched::setns(&namespace, nix::sched::CloneFlags::CLONE_NEWNET)
                .unwrap_or_else(|e| panic!("cannot enter {path}: {e}"));
            f()
        })
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        // Deleting the namespace deletes the veth end inside it, hence the pair; the other end
        // is deleted as well in case the namespace went first.
        ip_quietly(&["netns", "del", &self.name]);
        ip_quietly(&["link", "del", &self.veth]);
    }
}

/// The bridge in the root namespace.
struct Bridge {
    name: String,
}

impl Drop for Bridge {
    fn drop(&mut self) {
        ip_quietly(&["link", "del", &self.name]);
    }
}

/// A bridge with an address in the root namespace and hosts (network namespaces) joined to
/// it. Dropping it removes the hosts, then the bridge.
pub struct Network {
    /// Dropped before the bridge.
    hosts: Vec<Host>,
    bridge: Bridge,
    subnet: [u8; 3],
}

impl Network {
    /// Creates a bridge `10.213.<n>.1/24` (an unused `n`) and `count` hosts `.11`, `.12`, …,
    /// each with `lo` up; checks that every address reaches every other over TCP.
    pub fn create(count: usize) -> Network {
        require_ip_netns();
        assert!(count <= 200, "at most 200 hosts");
        remove_stale();
        let letter = char::from(b'a' + NETWORKS.fetch_add(1, Ordering::Relaxed) % 26);
        let stem = format!("{NAME_PREFIX}{}{letter}", std::process::id());
        let mut network = {
            let _creating = CREATING.lock().unwrap_or_else(|e| e.into_inner());
            let subnet = [SUBNET_PREFIX[0], SUBNET_PREFIX[1], free_subnet()];
            let bridge = Bridge {
                name: format!("{stem}b"),
            };
            ip(&["link", "add", &bridge.name, "type", "bridge"]);
            let network = Network {
                hosts: Vec::new(),
                bridge,
                subnet,
            };
            let address = format!("{}/24", network.bridge_address());
            ip(&["addr", "add", &address, "dev", &network.bridge.name]);
            ip(&["link", "set", &network.bridge.name, "up"]);
            network
        };
        for i in 0..count {
            network.add_host(&stem, i);
        }
        network.check_connectivity();
        network
    }

    fn add_host(&mut self, stem: &str, index: usize) {
        let [a, b, c] = self.subnet;
        let host = Host {
            name: format!("{stem}n{index}"),
            address: Ipv4Addr::new(a, b, c, FIRST_HOST + index as u8),
            veth: format!("{stem}h{index}"),
        };
        let inner = format!("{stem}p{index}");
        ip(&["netns", "add", &host.name]);
        let name = host.name.clone();
        let (veth, address) = (host.veth.clone(), format!("{}/24", host.address));
        // In the list at once: removed on drop even if a later step fails.
        self.hosts.push(host);
        ip(&["link", "add", &veth, "type", "veth", "peer", "name", &inner]);
        ip(&["link", "set", &inner, "netns", &name]);
        ip(&["link", "set", &veth, "master", &self.bridge.name]);
        ip(&["link", "set", &veth, "up"]);
        ip(&["-n", &name, "link", "set", "lo", "up"]);
        ip(&["-n", &name, "addr", "add", &address, "dev", &inner]);
        ip(&["-n", &name, "link", "set", &inner, "up"]);
    }

    /// The hosts, in creation order.
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// The bridge's address (`.1`), in the root namespace: what the hosts reach the test
    /// process's servers at.
    pub fn bridge_address(&self) -> Ipv4Addr {
        let [a, b, c] = self.subnet;
        Ipv4Addr::new(a, b, c, 1)
    }

    /// The subnet, e.g. `10.213.7.0/24`.
    pub fn subnet(&self) -> String {
        let [a, b, c] = self.subnet;
        format!("{a}.{b}.{c}.0/24")
    }

    /// Checks that the root namespace and every host open TCP connections to the bridge
    /// address and to every host (a listener on each; the kernel completes the handshake).
    pub fn check_connectivity(&self) {
        let mut listeners = vec![(
            format!("the bridge ({})", self.bridge_address()),
            TcpListener::bind((self.bridge_address(), 0)).expect("listen on the bridge"),
        )];
        for host in &self.hosts {
            let address = host.address;
            let listener = host
                .run_in(move || TcpListener::bind((address, 0)))
                .unwrap_or_else(|e| panic!("cannot listen on {address} in {}: {e}", host.name));
            listeners.push((format!("host {} ({address})", host.name), listener));
        }
        let targets: Vec<(String, SocketAddr)> = listeners
            .iter()
            .map(|(name, l)| (name.clone(), l.local_addr().expect("local addr")))
            .collect();
        let connect = |target: SocketAddr| {
            TcpStream::connect_timeout(&target, Duration::from_secs(3)).map(drop)
        };
        for (name, target) in &targets {
            if let Err(e) = connect(*target) {
                panic!("no TCP connection from the root namespace to {name}: {e}");
            }
            for host in &self.hosts {
                let target = *target;
                if let Err(e) = host.run_in(move || {
                    TcpStream::connect_timeout(&target, Duration::from_secs(3)).map(drop)
                }) {
                    panic!(
                        "no TCP connection from host {} to {name}: {e} (is bridged traffic \
                         filtered? see sysctl net.bridge.bridge-nf-call-iptables and the \
                         FORWARD chain)",
                        host.name
                    );
                }
            }
        }
        drop(listeners);
    }
}

/// Client port of every NATS node (each in its own namespace).
pub const NATS_CLIENT_PORT: u16 = 4222;
/// Route port of every NATS node.
pub const NATS_CLUSTER_PORT: u16 = 6222;
/// Monitoring port of every NATS node.
pub const NATS_MONITOR_PORT: u16 = 8222;

/// One node of a [`NatsCluster`].
struct NatsNode {
    name: String,
    address: Ipv4Addr,
    prefix: Vec<OsString>,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl NatsNode {
    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("nats log");
        let binary = crate::nats::nats_server_binary();
        let (program, args) = self.prefix.split_first().expect("prefix");
        let mut command = Command::new(program);
        crate::die_with_spawning_thread(&mut command);
        let child = command
            .args(args)
            .arg(&binary)
            .arg("-c")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        self.child = Some(child);
        let started = Instant::now();
        let address = SocketAddr::from((self.address, NATS_CLIENT_PORT));
        while TcpStream::connect_timeout(&address, Duration::from_millis(500)).is_err() {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!(
                    "nats-server {} exited ({status}):\n{}",
                    self.name,
                    tail(&std::fs::read_to_string(&self.log).unwrap_or_default(), 30)
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "nats-server {} does not accept connections on {address}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A NATS cluster with JetStream: one `nats-server` per host (ports [`NATS_CLIENT_PORT`],
/// [`NATS_CLUSTER_PORT`], [`NATS_MONITOR_PORT`] on the host's address), routes to every other
/// node, stores in a temp dir. Killed (SIGKILL) when dropped, or when the thread that started
/// (or restarted) a node ends: use it from the test's own thread.
pub struct NatsCluster {
    /// Dropped before the directory.
    nodes: Vec<NatsNode>,
    dir: tempfile::TempDir,
    http: reqwest::blocking::Client,
}

impl NatsCluster {
    /// Starts one node per host (`n1`, `n2`, …) and waits until the cluster has a JetStream
    /// meta leader known to every node.
    pub fn start(hosts: &[Host]) -> NatsCluster {
        let dir = tempfile::Builder::new()
            .prefix("cvt-nats")
            .tempdir()
            .expect("tempdir");
        let nodes = hosts
            .iter()
            .enumerate()
            .map(|(i, host)| {
                let name = format!("n{}", i + 1);
                let config = dir.path().join(format!("{name}.conf"));
                std::fs::write(&config, node_config(&name, host, hosts, dir.path()))
                    .expect("write nats config");
                NatsNode {
                    log: dir.path().join(format!("{name}.log")),
                    name,
                    address: host.address,
                    prefix: host.prefix(),
                    config,
                    child: None,
                }
            })
            .collect();
        let mut cluster = NatsCluster {
            nodes,
            dir,
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("http client"),
        };
        for node in &mut cluster.nodes {
            node.spawn();
        }
        cluster.wait_healthy(Duration::from_secs(60));
        cluster
    }

    /// Every node's client URL, comma-separated (as `[nats] url` takes them).
    pub fn url(&self) -> String {
        (0..self.nodes.len())
            .map(|i| self.node_url(i))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The client URL of node `index` (0-based).
    pub fn node_url(&self, index: usize) -> String {
        format!("nats://{}:{NATS_CLIENT_PORT}", self.nodes[index].address)
    }

    /// The pid of node `index`, while it runs.
    pub fn pid(&self, index: usize) -> Option<u32> {
        self.nodes[index].child.as_ref().map(Child::id)
    }

    /// SIGKILLs node `index` (an abrupt loss of the server).
    pub fn kill(&mut self, index: usize) {
        self.nodes[index].kill();
    }

    /// Starts node `index` again on its store, and waits until every node is healthy (the
    /// restarted one caught up with the streams).
    pub fn restart(&mut self, index: usize) {
        self.nodes[index].kill();
        self.nodes[index].spawn();
        self.wait_healthy(Duration::from_secs(60));
    }

    /// A monitoring endpoint of node `index` (e.g. `/jsz?streams=true`), as JSON.
    pub fn monitor(&self, index: usize, path: &str) -> Result<Value, String> {
        let url = format!(
            "http://{}:{NATS_MONITOR_PORT}{path}",
            self.nodes[index].address
        );
        let response = self.http.get(&url).send().map_err(|e| e.to_string())?;
        let status = response.status();
        let body: Value = response.json().map_err(|e| e.to_string())?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(format!("{status}: {body}"))
        }
    }

    /// Why the running nodes are not healthy yet, if they are not: every one must know the
    /// same JetStream meta leader and answer `/healthz` (JetStream current) with ok.
    fn unhealthy(&self) -> Option<String> {
        let mut leaders = Vec::new();
        for (i, node) in self.nodes.iter().enumerate() {
            if node.child.is_none() {
                continue;
            }
            let jsz = match self.monitor(i, "/jsz") {
                Ok(jsz) => jsz,
                Err(e) => return Some(format!("{}: /jsz: {e}", node.name)),
            };
            match jsz["meta_cluster"]["leader"].as_str() {
                Some(leader) if !leader.is_empty() => leaders.push(leader.to_string()),
                _ => return Some(format!("{}: no meta leader yet", node.name)),
            }
            if let Err(e) = self.monitor(i, "/healthz") {
                return Some(format!("{}: /healthz: {e}", node.name));
            }
        }
        leaders.dedup();
        (leaders.len() > 1).then(|| format!("nodes disagree on the meta leader: {leaders:?}"))
    }

    /// Waits until every running node is healthy (see [`NatsCluster::start`]).
    pub fn wait_healthy(&self, timeout: Duration) {
        let started = Instant::now();
        loop {
            let Some(problem) = self.unhealthy() else {
                return;
            };
            assert!(
                started.elapsed() < timeout,
                "the NATS cluster is not healthy after {timeout:?}: {problem}\n{}",
                self.logs(30)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The last `lines` lines of every node's log.
    pub fn logs(&self, lines: usize) -> String {
        self.nodes
            .iter()
            .map(|node| {
                let log = std::fs::read_to_string(&node.log).unwrap_or_default();
                format!("--- nats {} ---\n{}\n", node.name, tail(&log, lines))
            })
            .collect()
    }

    /// The directory holding the nodes' configs, logs and stores.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
    }
}

/// The configuration of node `name` on `host`, routing to every host.
fn node_config(name: &str, host: &Host, hosts: &[Host], dir: &Path) -> String {
    let routes: Vec<String> = hosts
        .iter()
        .filter(|h| h.address != host.address)
        .map(|h| format!("    \"nats-route://{}:{NATS_CLUSTER_PORT}\"", h.address))
        .collect();
    let address = host.address;
    format!(
        "server_name: \"{name}\"\n\
         listen: \"{address}:{NATS_CLIENT_PORT}\"\n\
         http: \"{address}:{NATS_MONITOR_PORT}\"\n\
         jetstream {{\n    store_dir: \"{store}\"\n}}\n\
         cluster {{\n    name: \"convotic-test\"\n    listen: \"{address}:{NATS_CLUSTER_PORT}\"\n    \
         routes: [\n{routes}\n    ]\n}}\n",
        store = dir.join(name).display(),
        routes = routes.join("\n"),
    )
}

/// Node ids of the [`Cluster`]'s supervisors, in host order.
pub const NODE_IDS: [&str; 3] = ["a", "b", "c"];

/// Three supervisors in network namespaces sharing a throwaway PostgreSQL server (on the
/// bridge address) and a 3-node NATS cluster (one node per namespace, `[nats] replicas = 3`):
/// node `a` on the first host with NATS node 1, `b` on the second with node 2, `c` on the third
/// with node 3. Every supervisor is given all three NATS URLs, so none depends on one NATS node.
///
/// Scenarios share one cluster and run one after the other (starting it takes seconds); a
/// scenario that kills a node restarts it, so the next finds three. When a test panics, the
/// tails of every supervisor's and NATS node's log are printed before everything is removed.
pub struct Cluster {
    /// The supervisors, in [`NODE_IDS`] order. Dropped first.
    pub nodes: Vec<Supervisor>,
    /// The NATS cluster.
    pub nats: NatsCluster,
    /// The PostgreSQL server.
    pub postgres: PostgresServer,
    /// `[store] url` of every node.
    pub store_url: String,
    /// The hosts and the bridge. Dropped last.
    pub network: Network,
}

impl Cluster {
    /// Starts everything; each supervisor runs `modules` with `tables` (extra TOML tables,
    /// e.g. `[workers]`) and waits until each module is ready.
    ///
    /// Supervisors run without cgroups (`# no cgroups`): `ip netns exec` gives the process a
    /// fresh sysfs on `/sys`, where the cgroup hierarchies are not mounted. Modules still die
    /// with their supervisor (parent-death signal, PID namespace).
    pub fn start(modules: &[ModuleEntry], tables: &str) -> Cluster {
        let network = Network::create(NODE_IDS.len());
        let postgres = PostgresServer::start(network.bridge_address(), &network.subnet());
        let store_url = postgres.create_database("convotic");
        let nats = NatsCluster::start(network.hosts());
        let mut cluster = Cluster {
            nodes: Vec::new(),
            nats,
            postgres,
            store_url,
            network,
        };
        cluster.nodes = cluster.start_supervisors(modules, tables);
        for node in &cluster.nodes {
            assert_is_the_supervisor(node);
            for module in modules {
                node.wait_state(&module.name, "ready", Duration::from_secs(60));
            }
        }
        cluster
    }

    /// Starts the three supervisors at once (they race to create the streams and apply the
    /// store's migrations, as a cluster's nodes do).
    fn start_supervisors(&self, modules: &[ModuleEntry], tables: &str) -> Vec<Supervisor> {
        std::thread::scope(|scope| {
            let starting: Vec<_> = NODE_IDS
                .iter()
                .zip(self.network.hosts())
                .map(|(id, host)| {
                    let tables = format!(
                        "# no cgroups\n{tables}\n[store]\nurl = \"{}\"\n[nats]\nurl = \"{}\"\n\
                         replicas = 3\n[cluster]\nnode_id = \"{id}\"\n",
                        self.store_url,
                        self.nats.url()
                    );
                    let options = StartOptions {
                        prefix: host.prefix(),
                        host: host.address.to_string(),
                    };
                    scope.spawn(move || {
                        // Deployed fixture packages may run the fixture's binary.
                        let defaults = crate::packages::fixture_defaults();
                        Supervisor::start_with_options(modules, &[&defaults], &[], &tables, options)
                    })
                })
                .collect();
            let started: Vec<_> = starting.into_iter().map(|t| t.join()).collect();
            started
                .into_iter()
                .map(|result| result.unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
                .collect()
        })
    }

    /// The supervisor with node id `id` (`a`, `b` or `c`).
    pub fn node(&self, id: &str) -> &Supervisor {
        &self.nodes[node_index(id)]
    }

    /// The supervisor with node id `id`, to kill or restart it.
    pub fn node_mut(&mut self, id: &str) -> &mut Supervisor {
        &mut self.nodes[node_index(id)]
    }

    /// The last `lines` lines of every supervisor's and NATS node's log, for failure messages.
    pub fn logs(&self, lines: usize) -> String {
        let mut text: String = self
            .nodes
            .iter()
            .zip(NODE_IDS)
            .map(|(node, id)| format!("--- supervisor {id} ---\n{}\n", node.log_tail(lines)))
            .collect();
        text.push_str(&self.nats.logs(lines));
        text
    }

    /// Polls `check` every `every` until it holds; panics after `timeout` with `what` and the
    /// last problem `check` reported (the logs' tails follow, printed on drop).
    pub fn wait_until(
        &self,
        timeout: Duration,
        every: Duration,
        what: &str,
        mut check: impl FnMut(&Self) -> Result<(), String>,
    ) {
        let started = Instant::now();
        loop {
            let problem = match check(self) {
                Ok(()) => return,
                Err(problem) => problem,
            };
            assert!(
                started.elapsed() < timeout,
                "timed out after {timeout:?} waiting for {what}: {problem}"
            );
            std::thread::sleep(every);
        }
    }
}

/// Checks that the child started through `ip netns exec` is the supervisor itself (`ip` execs
/// it): signals sent to [`Supervisor::pid`] reach the supervisor, and its descendants are its
/// modules.
pub fn assert_is_the_supervisor(node: &Supervisor) {
    let exe = std::fs::read_link(format!("/proc/{}/exe", node.pid()))
        .unwrap_or_else(|e| panic!("cannot read the exe of pid {}: {e}", node.pid()));
    let binary = crate::binary("convotic-supervisor");
    assert_eq!(
        exe,
        std::fs::canonicalize(&binary).unwrap_or(binary),
        "pid {} is not the supervisor: `ip netns exec` did not exec it",
        node.pid()
    );
}

fn node_index(id: &str) -> usize {
    NODE_IDS
        .iter()
        .position(|n| *n == id)
        .unwrap_or_else(|| panic!("no node {id:?} (nodes are {NODE_IDS:?})"))
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("=== cluster logs (tails) ===\n{}", self.logs(60));
        }
    }
}
