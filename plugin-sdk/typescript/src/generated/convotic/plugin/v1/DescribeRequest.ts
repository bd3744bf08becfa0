// Original file: ../../proto/convotic/plugin/v1/plugin.proto


export interface DescribeRequest {
  /**
   * Protocol versions the supervisor speaks, e.g. [1]. Same list as
   * CONVOTIC_PLUGIN_PROTOCOL_VERSIONS.
   */
  'protocol_versions'?: (number)[];
  /**
   * Optional features the supervisor supports (see docs/PROTOCOL.md, "Features").
   * Unknown names must be ignored.
   */
  'features'?: (string)[];
  /**
   * Version of the supervisor, for logs only (e.g. "0.1.0").
   */
  'supervisor_version'?: (string);
}

export interface DescribeRequest__Output {
  /**
   * Protocol versions the supervisor speaks, e.g. [1]. Same list as
   * CONVOTIC_PLUGIN_PROTOCOL_VERSIONS.
   */
  'protocol_versions': (number)[];
  /**
   * Optional features the supervisor supports (see docs/PROTOCOL.md, "Features").
   * Unknown names must be ignored.
   */
  'features': (string)[];
  /**
   * Version of the supervisor, for logs only (e.g. "0.1.0").
   */
  'supervisor_version': (string);
}
