// Loads the protocol definitions at run time: the .proto files the build copied from the
// repository's `proto/` directory (see scripts/generate.mjs), read with @grpc/proto-loader
// using the same options the committed types in src/generated/ were generated with.
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { fileURLToPath } from "node:url";

import type { ProtoGrpcType as HostGrpc } from "./generated/host.js";
import type { ProtoGrpcType as PluginGrpc } from "./generated/plugin.js";

/** Directory holding the copies of `convotic/plugin/v1/*.proto` and `convotic/host/v1/*.proto`. */
export const PROTO_DIR = fileURLToPath(new URL("../proto/", import.meta.url));

/** Must match GEN_OPTIONS in scripts/generate.mjs. */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
};

/** The `convotic.plugin.v1` package. */
export type PluginPackage = PluginGrpc["convotic"]["plugin"]["v1"];
/** The `convotic.host.v1` package. */
export type HostPackage = HostGrpc["convotic"]["host"]["v1"];

/** Fully qualified name of the Plugin service, also reported by the health service. */
export const PLUGIN_SERVICE_NAME = "convotic.plugin.v1.Plugin";

let loaded: { plugin: PluginPackage; host: HostPackage } | undefined;

/** The protocol's packages (loaded once). */
export function protocol(): { plugin: PluginPackage; host: HostPackage } {
  if (!loaded) {
    const definition = protoLoader.loadSync(
      ["convotic/plugin/v1/plugin.proto", "convotic/host/v1/host.proto"],
      LOADER_OPTIONS,
    );
    const root = grpc.loadPackageDefinition(definition) as unknown as PluginGrpc & HostGrpc;
    loaded = { plugin: root.convotic.plugin.v1, host: root.convotic.host.v1 };
  }
  return loaded;
}
