// @convotic/block-sdk: write Convotic Custom Modules in TypeScript. A module file exports a
// ConvoticModule ({ name, version, register(sdk) }) as its default export; the runner
// (`convotic-module run <file>`, started by the supervisor) serves it over the Convotic plugin
// protocol. This file is the package's public API.
export type * from "./types.js";
export { ack, discard, retry } from "./helpers.js";
export {
  BadInputError,
  DiscardError,
  HandlerError,
  HostError,
  isHostError,
  type HandlerErrorKind,
  type HandlerErrorOptions,
  type HostErrorCode,
} from "./errors.js";
export { SIGNATURE_HEADER, SIGNATURE_MIDDLEWARE_NAME, sign, signatureVerifier, verifyWebhookSignature, type SignatureOptions } from "./signature.js";
export { DEFAULT_MAX_IN_FLIGHT, FEATURES, PROTOCOL_VERSIONS, SDK_NAME, SDK_VERSION } from "./manifest.js";
export {
  DEFAULT_GRACE_MS,
  ENV,
  EXIT_DO_NOT_RESTART,
  ModuleDefinitionError,
  describeModule,
  optionsFromEnv,
  run,
  serve,
  startedBySupervisor,
  type RunningModule,
  type ServeOptions,
} from "./server.js";
export type { Manifest } from "./generated/convotic/plugin/v1/Manifest.js";
